// JSON: parse, stringify with indentation and replacers, revivers, unicode escapes, round trips
// of numbers, and the errors of malformed text.
const text = '{"name":"faasm","tags":["wasm","jit"],"n":3.5e2,"nested":{"ok":true,"none":null},"u":"\\u00e9\\ud83d\\ude00"}';
const value = JSON.parse(text);
print("parsed:", value.name, value.tags.length, value.n, value.nested.ok, value.nested.none, value.u.length);
print("stringify:", JSON.stringify(value));
print(JSON.stringify({ b: [1, { c: "d" }], a: 1 }, null, 2));
print("replacer:", JSON.stringify(value, ["name", "n"]));
print("reviver:", JSON.stringify(JSON.parse("[1,2,3]", (k, v) => (typeof v === "number" ? v * 10 : v))));
const numbers = [0, -0, 1e21, 1.5e-7, 0.1 + 0.2, 2 ** 53 + 2, -1.7976931348623157e308];
print("numbers:", JSON.stringify(numbers));
print("round trip:", JSON.stringify(JSON.parse(JSON.stringify(numbers))) === JSON.stringify(numbers));
print("special:", JSON.stringify({ u: undefined, f() {}, nan: NaN, inf: -Infinity, d: new Date(0) }));
for (const bad of ["{", "[1,]", "{'a':1}", "01", "\"\\x\""]) {
  try {
    JSON.parse(bad);
    print("parsed bad text:", bad);
  } catch (e) {
    print("bad", JSON.stringify(bad), "->", e.name);
  }
}
const big = Array.from({ length: 1000 }, (_, i) => ({ i, s: "x".repeat(i % 7) }));
print("big:", JSON.stringify(big).length, JSON.parse(JSON.stringify(big))[999].s);
