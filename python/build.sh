#!/usr/bin/env bash
# python/build.sh [OUT]: builds CPython 3.11 for wasm32-wasi from Debian's source package, with
# the built-in module `faasm` (python/faasmmodule.c) and the package `pyfaasm` (python/lib), into
# OUT (argument 1, else $FAASM_PYTHON_DIR, else target/python):
#   OUT/python.wasm           the interpreter, stripped
#   OUT/lib/python3.11/       the standard library with precompiled .pyc, and pyfaasm
#   OUT/VERSION               the Debian source version it was built from
#   OUT/code-cache/           (not written here) faasm-rs's compiled code of python.wasm, which
#                             the runtime caches there and a rebuild clears
# Idempotent: OUT/stamp holds a digest of every input (this script, the module, the SDK header,
# pyfaasm, the source version); a run whose digest matches does nothing, so tests and CI call
# it every time. Nothing it builds is ever committed.
#
# Needs root the first time on a machine without Debian's source index: it adds a `deb-src`
# entry for the machine's own archive and suite (/etc/apt/sources.list.d/faasm-rs-deb-src.sources)
# and installs what is missing (clang, lld, llvm, wasi-libc, dpkg-dev, python3.11 to run the
# build's Python steps).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-${FAASM_PYTHON_DIR:-$root/target/python}}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

package=python3.11
abi=3.11
deb_src_list=/etc/apt/sources.list.d/faasm-rs-deb-src.sources

log() { echo "python/build.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

# Installs the Debian packages among "$@" that are missing.
require_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" ||
            missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    ((EUID == 0)) || die "missing Debian packages: ${missing[*]} (install them as root)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

# The archive URI and suite of the machine's own Debian sources (deb822 or one-line format).
machine_archive() {
    local codename uri
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    [[ -n "$codename" ]] || die "cannot tell this machine's Debian suite from /etc/os-release"
    # `URIs:` fields of deb822 files and the URI of one-line `deb` entries; never comments.
    uri="$({
        grep -hE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
            awk '{ print $2 }'
        grep -hE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list 2>/dev/null |
            sed -E 's/\[[^]]*\]//' | awk '{ print $2 }'
    } | grep -E '^https?://.*/debian/?$' | head -n1 || true)"
    [[ -n "$uri" ]] || die "cannot find this machine's Debian archive in its apt sources"
    echo "$uri $codename"
}

# Makes `apt-get source` work: a deb-src entry for the machine's own archive and suite.
enable_source_index() {
    if apt-cache showsrc "$package" 2>/dev/null | grep -q '^Version:'; then
        return 0
    fi
    ((EUID == 0)) || die "no source index for $package: add a deb-src entry (as root) and retry"
    local uri suite
    read -r uri suite < <(machine_archive)
    log "adding the source index of $uri $suite ($deb_src_list)"
    cat >"$deb_src_list" <<EOF
Types: deb-src
URIs: $uri
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt-get update -qq
}

# The Python that runs the build's own Python steps: the same minor version as the sources.
build_python() {
    if command -v "python$abi" >/dev/null; then
        echo "python$abi"
        return
    fi
    require_packages "python$abi"
    echo "/usr/bin/python$abi"
}

# Digest of everything the result depends on.
inputs_digest() {
    local version="$1"
    {
        echo "$version"
        cat "$here/build.sh" "$here/faasmmodule.c" "$here/faasm_main.c" "$here/bootstrap.py" \
            "$root/sdk/c/faasm.h"
        find "$here/lib" -type f -name '*.py' | LC_ALL=C sort | xargs cat
    } | sha256sum | cut -d' ' -f1
}

require_packages clang lld llvm wasi-libc dpkg-dev
enable_source_index
version="$(apt-cache showsrc "$package" | sed -n 's/^Version: //p' | sort -V | tail -n1)"
[[ -n "$version" ]] || die "no source version of $package"
digest="$(inputs_digest "$version")"
if [[ -f "$out/stamp" && "$(cat "$out/stamp")" == "$digest" && -f "$out/python.wasm" ]]; then
    exit 0
fi
python_for_build="$(build_python)"
start=$SECONDS

# The source package, downloaded once per version, unpacked (with Debian's patches) each build.
download="$out/download/$version"
if ! ls "$download"/*.dsc >/dev/null 2>&1; then
    rm -rf "$download" && mkdir -p "$download"
    log "downloading the source package $package $version"
    (cd "$download" && apt-get source -qq --download-only "$package=$version" >&2)
fi
src="$out/src"
# The compiled code of an earlier interpreter (python.wasm's artifact cache) is of no use now.
rm -rf "$src" "$out/stamp" "$out/code-cache"
dpkg-source --no-check --no-copy -x "$download"/*.dsc "$src" >/dev/null

# The built-in module: one line in Modules/Setup.local, its header directory in the flags.
cp "$here/faasmmodule.c" "$src/Modules/faasmmodule.c"
printf '*static*\nfaasm faasmmodule.c -I%s\n' "$root/sdk/c" >"$src/Modules/Setup.local"
# Our entry points in place of Programs/python.c (which is only `main`), with the bootstrap
# module as a C string.
cp "$here/faasm_main.c" "$src/Programs/python.c"
"$python_for_build" - "$here/bootstrap.py" >"$src/Programs/faasm_bootstrap.h" <<'PY'
import json, sys
source = open(sys.argv[1], encoding="utf-8").read()
print("#define FAASM_BOOTSTRAP_SOURCE \\")
for line in source.splitlines(keepends=True):
    print("    " + json.dumps(line) + " \\")
print('    ""')
PY

# Debian's clang also searches the host's headers and pkg-config finds the host's libraries:
# only wasi-libc's headers, and no pkg-config at all.
wasi_cc="clang --target=wasm32-wasi -nostdlibinc -isystem /usr/include/wasm32-wasi"
log "configuring $package $version for wasm32-wasi"
(
    cd "$src"
    CONFIG_SITE=Tools/wasm/config.site-wasm32-wasi \
        PKG_CONFIG_LIBDIR=/nonexistent PKG_CONFIG_PATH= \
        CC="$wasi_cc" CPP="$wasi_cc -E" AR=llvm-ar RANLIB=llvm-ranlib CPPFLAGS="-I$root/sdk/c" \
        ./configure -q --host=wasm32-unknown-wasi --build=x86_64-pc-linux-gnu \
        --with-build-python="$python_for_build" --disable-ipv6 --disable-shared \
        --prefix=/usr/local >"$out/configure.log" 2>&1 ||
        die "configure failed; see $out/configure.log"
)
log "building (make -j$(nproc))"
make -C "$src" -j"$(nproc)" >"$out/make.log" 2>&1 || die "make failed; see $out/make.log"

# The standard library: the pure-Python modules without their tests, the build's
# sysconfigdata under every name sysconfig may look for (Debian's patched configure.ac and
# the unregenerated configure disagree on it), pyfaasm, and .pyc compiled now.
lib="$out/lib/python$abi"
rm -rf "$out/lib" && mkdir -p "$lib"
(cd "$src/Lib" && tar --exclude=test --exclude=tests --exclude=idlelib --exclude=tkinter \
    --exclude=turtledemo --exclude=ensurepip --exclude='__pycache__' -cf - .) |
    (cd "$lib" && tar -xf -)
sysconfigdata="$(find "$src/build" -name '_sysconfigdata_*.py' | head -n1)"
[[ -n "$sysconfigdata" ]] || die "the build wrote no _sysconfigdata_ module"
for name in _sysconfigdata__wasi_wasm32-wasi _sysconfigdata__wasi_ _sysconfigdata__wasi_wasm32-unknown-wasi; do
    cp "$sysconfigdata" "$lib/$name.py"
done
cp -r "$here/lib/pyfaasm" "$lib/pyfaasm"
"$python_for_build" -m compileall -q -j0 "$lib" >"$out/compileall.log" 2>&1 ||
    die "compiling the standard library failed; see $out/compileall.log"

llvm-strip -o "$out/python.wasm" "$src/python.wasm"
echo "$version" >"$out/VERSION"
rm -rf "$src"
echo "$digest" >"$out/stamp"
log "built $package $version in $((SECONDS - start))s: $out/python.wasm ($(du -h "$out/python.wasm" | cut -f1))"
