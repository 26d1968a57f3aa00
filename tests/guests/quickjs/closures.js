// Closures: counters that keep private state, captured loop variables, currying, recursion
// through a closure, and a memoised Fibonacci.
function counter(start) {
  let n = start;
  return { next: () => ++n, reset: () => { n = start; } };
}
const a = counter(10), b = counter(100);
a.next(); a.next(); b.next();
print("counters:", a.next(), b.next());
a.reset();
print("after reset:", a.next());

const fns = [];
for (let i = 0; i < 5; i++) fns.push(() => i * i);
print("captured let:", fns.map((f) => f()).join(","));

const add = (x) => (y) => (z) => x + y + z;
print("curried:", add(1)(2)(3));

function memo(f) {
  const cache = new Map();
  return (n) => {
    if (!cache.has(n)) cache.set(n, f(n));
    return cache.get(n);
  };
}
const fib = memo((n) => (n < 2 ? n : fib(n - 1) + fib(n - 2)));
print("fib(90):", fib(90), "as BigInt:", (() => {
  let x = 0n, y = 1n;
  for (let i = 0; i < 90; i++) [x, y] = [y, x + y];
  return x;
})());

const compose = (...fs) => (v) => fs.reduceRight((acc, f) => f(acc), v);
print("compose:", compose((x) => x + 1, (x) => x * 2)(5));
