// Exceptions: try/catch/finally ordering, custom error classes, error causes, rethrow, errors from
// the engine itself, async functions that reject, and an uncaught error at the end (the driver
// reports it and exits with status 1).
class AppError extends Error {
  constructor(message, code) { super(message); this.name = "AppError"; this.code = code; }
}
const log = [];
function f(n) {
  try {
    log.push("try " + n);
    if (n > 1) throw new AppError("too big: " + n, 400 + n);
    return "ok " + n;
  } catch (e) {
    log.push("catch " + e.code);
    throw new Error("wrapped", { cause: e });
  } finally {
    log.push("finally " + n);
  }
}
print(f(1));
try { f(2); } catch (e) { print(e.message, "<-", e.cause.name, e.cause.message, e.cause instanceof AppError); }
print("order:", log.join(", "));
for (const [what, thunk] of [
  ["null property", () => null.x],
  ["undefined call", () => undefined()],
  ["bad array length", () => new Array(-1)],
  ["bigint mix", () => 1n + 1],
  ["const assignment", () => { const c = 1; c = 2; }],
]) {
  try { thunk(); print(what, "did not throw"); }
  catch (e) { print(what, "->", e.name); }
}
async function fails() { await null; throw new AppError("async failure", 500); }
fails().catch((e) => print("rejected:", e.name, e.code));
Promise.allSettled([Promise.resolve(1), Promise.reject(new Error("no"))])
  .then((r) => print("allSettled:", r.map((x) => x.status).join(",")));
print("finally returns win:", (() => { try { return "try"; } finally { return "finally"; } })());
throw new AppError("uncaught at top level", 1);
