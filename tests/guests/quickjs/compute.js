// Heavier work for the JIT under the interpreter: a prime sieve, sorting with a comparator,
// number formatting, floating-point maths, BigInt arithmetic, Map and Set churn, string
// building, dates in UTC, and a recursive-descent calculator.
function sieve(n) {
  const composite = new Uint8Array(n + 1);
  let count = 0, last = 0;
  for (let i = 2; i <= n; i++) {
    if (composite[i]) continue;
    count++; last = i;
    for (let j = i * i; j <= n; j += i) composite[j] = 1;
  }
  return [count, last];
}
print("primes up to 2,000,000:", sieve(2000000).join(" "));

let seed = 42;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const points = Array.from({ length: 50000 }, () => ({ x: rand() * 100 - 50, y: rand() * 100 - 50 }));
points.sort((a, b) => a.x * a.x + a.y * a.y - (b.x * b.x + b.y * b.y));
print("nearest:", points[0].x.toFixed(6), points[0].y.toFixed(6), "farthest:", Math.hypot(points[49999].x, points[49999].y).toFixed(6));

const formats = [Math.PI, 1 / 3, 123456789.125, 1e-7, 2 ** 70, -0.000123456, 5e-324, 1.7976931348623157e308];
print("toFixed(4):", formats.map((x) => x.toFixed(4)).join(" "));
print("toPrecision(6):", formats.map((x) => x.toPrecision(6)).join(" "));
print("toExponential(3):", formats.map((x) => x.toExponential(3)).join(" "));
print("String:", formats.map(String).join(" "));
print("radix:", (255).toString(2), (123456789).toString(36), (0.5).toString(16), parseInt("zz", 36), parseFloat("3.25e2x"));

let acc = 0;
for (let i = 1; i <= 200000; i++) acc += Math.sqrt(i) * Math.sin(i) / (1 + Math.abs(Math.cos(i)));
print("float sum:", acc.toFixed(6), Math.fround(0.1), Math.clz32(1), Math.imul(0x7fffffff, 3), Math.trunc(-4.7), Math.sign(-0));
print("ints:", 2 ** 31 | 0, -1 >>> 0, 7 >> 1, -7 >> 1, -7 >>> 28, 1 << 31, 0x7fffffff + 1, (2 ** 53 + 1) === 2 ** 53);

let factorial = 1n;
for (let i = 1n; i <= 100n; i++) factorial *= i;
const digits = factorial.toString();
print("100!:", digits.length, "digits, starts", digits.slice(0, 12), "mod 1e9+7:", factorial % 1000000007n);
print("bigint ops:", (2n ** 127n - 1n).toString(16), -(7n / 2n), -7n % 3n, BigInt.asUintN(64, -1n), BigInt.asIntN(8, 255n));

const map = new Map();
for (let i = 0; i < 100000; i++) map.set("k" + (i % 5003), (map.get("k" + (i % 5003)) || 0) + i);
const set = new Set();
for (let i = 0; i < 100000; i++) set.add((i * 7919) % 65536);
for (let i = 0; i < 65536; i += 3) set.delete(i);
let mapSum = 0;
for (const v of map.values()) mapSum += v;
print("map:", map.size, mapSum, "set:", set.size);

const parts = [];
for (let i = 0; i < 20000; i++) parts.push(String.fromCharCode(97 + (i % 26)));
const text = parts.join("");
print("string:", text.length, text.slice(0, 30), text.split("z").length, text.replaceAll("abc", "-").length, text.toUpperCase().charCodeAt(5));
print("unicode:", "ǅ".toLowerCase(), "ß".toUpperCase(), "İ".toLowerCase().length, "é".normalize("NFD").length, "a\u0301".normalize("NFC") === "á");

const d = new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 999));
print("date:", d.toISOString(), d.getTime(), d.getUTCDay(), new Date(d.getTime() + 1).toISOString(), Date.UTC(1970, 0, 1));

function calc(src) {
  let pos = 0;
  const peek = () => src[pos], next = () => src[pos++];
  const skip = () => { while (peek() === " ") pos++; };
  function primary() {
    skip();
    if (peek() === "(") { next(); const v = expr(); skip(); next(); return v; }
    if (peek() === "-") { next(); return -primary(); }
    let start = pos;
    while (/[0-9.]/.test(peek() ?? "")) pos++;
    return Number(src.slice(start, pos));
  }
  function power() { const b = primary(); skip(); if (peek() === "^") { next(); return b ** power(); } return b; }
  function term() { let v = power(); for (;;) { skip(); const op = peek(); if (op !== "*" && op !== "/") return v; next(); v = op === "*" ? v * power() : v / power(); } }
  function expr() { let v = term(); for (;;) { skip(); const op = peek(); if (op !== "+" && op !== "-") return v; next(); v = op === "+" ? v + term() : v - term(); } }
  return expr();
}
print("calc:", ["1 + 2 * 3", "(1 + 2) * 3", "2 ^ 3 ^ 2", "-(4 - 6) / 4", "((((1))))+0.5*4"].map(calc).join(" "));
