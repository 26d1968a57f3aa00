// Classes: inheritance, super calls, getters and setters, static members, private fields and
// methods, instanceof, Symbol.iterator, and toString overrides.
class Shape {
  static count = 0;
  #id;
  constructor(name) {
    this.name = name;
    this.#id = ++Shape.count;
  }
  get id() { return this.#id; }
  area() { return 0; }
  toString() { return `${this.name}#${this.#id}(area=${this.area().toFixed(2)})`; }
}
class Circle extends Shape {
  constructor(r) { super("circle"); this.r = r; }
  area() { return Math.PI * this.r ** 2; }
}
class Rect extends Shape {
  #w; #h;
  constructor(w, h) { super("rect"); this.#w = w; this.#h = h; }
  area() { return this.#w * this.#h; }
  set width(w) { this.#w = w; }
  static #secret() { return "private static"; }
  static reveal() { return Rect.#secret(); }
}
const shapes = [new Circle(1), new Rect(2, 3), new Circle(2.5)];
shapes[1].width = 4;
for (const s of shapes) print(String(s));
print("count:", Shape.count, "ids:", shapes.map((s) => s.id).join(","));
print("instanceof:", shapes[0] instanceof Shape, shapes[0] instanceof Rect);
print("static private:", Rect.reveal());
print("has #w:", (() => { try { return Object.keys(shapes[1]).join(","); } catch (e) { return e.name; } })());

class Range {
  constructor(from, to) { this.from = from; this.to = to; }
  *[Symbol.iterator]() { for (let i = this.from; i < this.to; i++) yield i; }
}
print("range:", [...new Range(3, 8)].join(" "));
print("sorted by area:", shapes.sort((x, y) => x.area() - y.area()).map((s) => s.name).join(","));
