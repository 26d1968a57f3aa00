/* QuickJS-ng, the `execute` group's JavaScript workload: evaluates the script embedded below in
 * a fresh runtime and context (made before bench_start) and returns the uint32 the script
 * computes: FNV-1a over the text of its intermediate results (object building, JSON
 * round trips, sorting, Map and Set, string building, regular expressions, classes and closures,
 * typed arrays, generators, integer and floating-point arithmetic with only correctly rounded
 * operations, so native and Wasm builds agree). No file is read. Follows kernel.h's contract;
 * built with the C sources of crates.io's rquickjs-sys at bench time. An exception returns 0. */
#include "kernel.h"
#include "quickjs.h"

static const char SCRIPT[] =
    "(function () {\n"
    "  let h = 2166136261;\n"
    "  const mix = (value) => {\n"
    "    const s = String(value);\n"
    "    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;\n"
    "  };\n"
    "  let seed = 12345;\n"
    "  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8;\n"
    "  const items = [];\n"
    "  for (let i = 0; i < 700; i++)\n"
    "    items.push({ id: i, name: 'item-' + (rand() % 100000), tags: [rand() % 7, rand() % 11],\n"
    "                 value: (rand() % 100000) / 100, nested: { ok: i % 3 === 0 } });\n"
    "  const text = JSON.stringify(items);\n"
    "  mix(text.length);\n"
    "  const back = JSON.parse(text);\n"
    "  back.sort((a, b) => a.value - b.value || a.id - b.id);\n"
    "  mix(back[0].name + back[back.length - 1].value);\n"
    "  const counts = new Map();\n"
    "  for (const item of back) {\n"
    "    const key = item.name.slice(0, 7);\n"
    "    counts.set(key, (counts.get(key) || 0) + 1);\n"
    "  }\n"
    "  for (const [key, count] of [...counts].sort()) mix(key + count);\n"
    "  const tags = new Set(back.flatMap((item) => item.tags.map((t) => t * 100 + item.id % 10)));\n"
    "  mix([...tags].sort((a, b) => a - b).join(','));\n"
    "  const re = /item-(\\d+)7\"/g;\n"
    "  let match, total = 0;\n"
    "  while ((match = re.exec(text)) !== null) total += Number(match[1]);\n"
    "  mix(total);\n"
    "  mix(text.replace(/\"value\":(\\d+)\\.(\\d)/g, (_, a, b) => a + b).length);\n"
    "  class Vec {\n"
    "    constructor(x, y) { this.x = x; this.y = y; }\n"
    "    add(o) { return new Vec(this.x + o.x, this.y + o.y); }\n"
    "    scale(k) { return new Vec(this.x * k, this.y * k); }\n"
    "    get norm() { return Math.sqrt(this.x * this.x + this.y * this.y); }\n"
    "  }\n"
    "  let v = new Vec(0, 0);\n"
    "  for (let i = 0; i < 3500; i++) v = v.add(new Vec(i % 13 - 6, i % 7 - 3)).scale(0.999);\n"
    "  mix(v.norm.toFixed(9));\n"
    "  const adders = [];\n"
    "  for (let i = 0; i < 700; i++) adders.push((x) => x + i);\n"
    "  mix(adders.reduce((acc, f) => f(acc) % 1000003, 7));\n"
    "  const sieve = new Uint8Array(20000);\n"
    "  let primes = 0;\n"
    "  for (let i = 2; i < sieve.length; i++) {\n"
    "    if (sieve[i]) continue;\n"
    "    primes++;\n"
    "    for (let j = i * i; j < sieve.length; j += i) sieve[j] = 1;\n"
    "  }\n"
    "  mix(primes);\n"
    "  function* fib() { let [a, b] = [0n, 1n]; for (;;) { yield a; [a, b] = [b, a + b]; } }\n"
    "  let n = 0;\n"
    "  for (const f of fib()) { if (n++ === 300) { mix(f); break; } }\n"
    "  const words = [];\n"
    "  for (let i = 0; i < 1400; i++) words.push(`w${rand() % 5000}`.padStart(6, '_'));\n"
    "  mix(words.join(' ').split(' ').filter((w) => w.endsWith('7')).length);\n"
    "  mix(JSON.stringify(Object.entries({ a: 1.5, b: [1, 2, { c: 'd' }], e: null })));\n"
    "  let f = 0.1;\n"
    "  for (let i = 0; i < 2000; i++) f = (f * 3.7 + 0.3) % 1;\n"
    "  mix(f.toString());\n"
    "  return h;\n"
    "})()\n";

KERNEL {
    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = JS_NewContext(rt);
    uint32_t checksum = 0;
    bench_start();
    JSValue result = JS_Eval(ctx, SCRIPT, sizeof SCRIPT - 1, "<bench>", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(result) || JS_ToUint32(ctx, &checksum, result) != 0) checksum = 0;
    JS_FreeValue(ctx, result);
    bench_end();
    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
    return checksum;
}
