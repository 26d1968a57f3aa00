// Regular expressions: groups, named groups, global matching, sticky and unicode flags,
// lookbehind, replace with functions, split, and a backtracking-heavy pattern.
const date = /(?<year>\d{4})-(?<month>\d{2})-(?<day>\d{2})/;
const m = "released 2024-03-17, patched 2024-04-02".match(date);
print("named groups:", m.groups.year, m.groups.month, m.groups.day, "at", m.index);
print("all dates:", [..."2024-03-17 and 2024-04-02".matchAll(new RegExp(date, "g"))].map((x) => x[0]).join(" | "));
print("replace:", "a-b_c d".replace(/[-_ ](\w)/g, (_, c) => c.toUpperCase()));
print("split:", "one, two,three ,  four".split(/\s*,\s*/).join("|"));
print("lookbehind:", "price: $42, cost: $7".match(/(?<=\$)\d+/g).join(","));
print("lookahead:", "foobar foobaz".replace(/foo(?=baz)/, "X"));
print("unicode:", /^\p{Lu}\p{Ll}+$/u.test("Élan"), "😀".length, [..."😀x"].length, /^.$/u.test("😀"));
const sticky = /\d+/y;
sticky.lastIndex = 3;
print("sticky:", sticky.exec("abc123def")?.[0], sticky.lastIndex);
print("case-insensitive:", /straße/i.test("STRASSE"), /ABC/i.test("abc"));
print("backreference:", /(\w+) \1/.exec("hello hello world")[1]);
print("dotAll:", /a.b/s.test("a\nb"), /a.b/.test("a\nb"));
const email = /^[\w.+-]+@[\w-]+(\.[\w-]+)+$/;
print("emails:", ["a.b+c@ex.org", "bad@", "x@y.z.w"].map((s) => email.test(s)).join(","));
const t0 = "a".repeat(25);
print("backtracking:", /^(a|aa)+$/.test(t0), /^(a+)+b$/.test("a".repeat(18)));
print("source/flags:", /x\/y/gimsuy.source, /x/gimsuy.flags);
