#!/usr/bin/env python3
"""Picks a small committed corpus: at most N inputs of a fuzz corpus that cover the most edges.

    fuzz/pick_corpus.py TARGET N FROM_DIR        # writes fuzz/corpus/TARGET/ (replaced)

`cargo fuzz cmin` keeps every input that adds a feature, thousands for these targets: too many to
commit and to replay in CI. This runs the target's libFuzzer binary once over FROM_DIR in merge
mode (edges only, `-use_counters=0`), reads the coverage of every input from the merge control
file, then greedily picks the input with the most uncovered edges per kilobyte until N are
picked or nothing new is covered. Needs `cargo +nightly fuzz build TARGET` first.
"""

import os
import shutil
import subprocess
import sys
import tempfile

FUZZ_DIR = os.path.dirname(os.path.abspath(__file__))


def binary(target):
    return os.path.join(
        FUZZ_DIR, "target", "x86_64-unknown-linux-gnu", "release", target
    )


def coverage(target, corpus):
    """Edges covered by each input of `corpus`, from a libFuzzer merge control file."""
    with tempfile.TemporaryDirectory() as tmp:
        control = os.path.join(tmp, "control")
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        subprocess.run(
            [binary(target), "-merge=1", "-use_counters=0", "-timeout=60",
             f"-merge_control_file={control}", out, corpus],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        with open(control) as f:
            lines = f.read().splitlines()
    count = int(lines[0])
    files = lines[2 : 2 + count]
    edges = {}
    for line in lines[2 + count :]:
        kind, _, rest = line.partition(" ")
        if kind == "COV":
            index, *covered = rest.split()
            edges[files[int(index)]] = set(covered)
    return edges


def pick(edges, limit):
    """Greedy maximum coverage, preferring small inputs."""
    covered, chosen = set(), []
    remaining = dict(edges)
    while remaining and len(chosen) < limit:
        def gain(path):
            return len(remaining[path] - covered) / (1 + os.path.getsize(path) / 1024)
        best = max(remaining, key=gain)
        if not remaining[best] - covered:
            break
        covered |= remaining.pop(best)
        chosen.append(best)
    return chosen, covered


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    target, limit, source = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    edges = coverage(target, source)
    chosen, covered = pick(edges, limit)
    all_edges = set().union(*edges.values()) if edges else set()
    dest = os.path.join(FUZZ_DIR, "corpus", target)
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    for path in chosen:
        shutil.copy(path, dest)
    size = sum(os.path.getsize(p) for p in chosen)
    print(f"{target}: {len(chosen)} of {len(edges)} inputs ({size // 1024} KiB) "
          f"cover {len(covered)} of {len(all_edges)} edges -> {dest}")


if __name__ == "__main__":
    main()
