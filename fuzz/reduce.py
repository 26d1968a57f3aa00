#!/usr/bin/env python3
"""Line-based reducer for a finding's module, to make a small `.wat` reproducer.

    fuzz/reduce.py MODULE.wat|MODULE.wasm 'text the finding must still print' > small.wat

It prints the module as text (one instruction per line, with `triage --print`), then deletes
chunks of lines (halves, quarters, ... single lines) as long as `triage regression` on the
result still prints the given text. Invalid candidates simply fail the test. The result usually
needs a last manual pass (renaming, folding constants) before it goes to fuzz/regressions/.
"""

import os
import subprocess
import sys
import tempfile

FUZZ_DIR = os.path.dirname(os.path.abspath(__file__))


def triage_binary():
    """Builds the triage example once and returns its path."""
    subprocess.run(
        ["cargo", "build", "--quiet", "--release", "--example", "triage"],
        cwd=FUZZ_DIR,
        check=True,
    )
    return os.path.join(FUZZ_DIR, "target", "release", "examples", "triage")


def module_text(triage, path):
    """The module at `path` as text lines, as wasmprinter prints it."""
    out = subprocess.run(
        [triage, "regression", "--print", path], capture_output=True, text=True
    ).stdout
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("(module"))
    end = max(i for i, line in enumerate(lines) if line == ")")
    return lines[start : end + 1]


def still_fails(triage, lines, needle, scratch):
    """Whether the module made of `lines` still shows the finding."""
    with open(scratch, "w") as f:
        f.write("\n".join(lines) + "\n")
    try:
        out = subprocess.run(
            [triage, "regression", scratch], capture_output=True, text=True, timeout=60
        ).stdout
    except subprocess.TimeoutExpired:
        return False
    return needle in out


def reduce(triage, lines, needle, scratch):
    """Deletes ever smaller chunks of lines while the finding persists."""
    chunk = max(1, len(lines) // 2)
    while chunk >= 1:
        i, changed = 1, False  # never delete the `(module` line
        while i < len(lines) - 1:
            candidate = lines[:i] + lines[i + chunk :]
            if candidate and candidate[-1] == ")" and still_fails(
                triage, candidate, needle, scratch
            ):
                lines, changed = candidate, True
                print(f"{len(lines)} lines", file=sys.stderr)
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return lines


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    path, needle = sys.argv[1], sys.argv[2]
    triage = triage_binary()
    lines = module_text(triage, path)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = os.path.join(tmp, "candidate.wat")
        if not still_fails(triage, lines, needle, scratch):
            sys.exit("the module does not show the finding to begin with")
        print("\n".join(reduce(triage, lines, needle, scratch)))


if __name__ == "__main__":
    main()
