#!/usr/bin/env bash
# Faasm's own client against `faasm-run serve`: faasmctl 0.51.0 from PyPI (in a virtual
# environment, kept in target/ between runs) uploads the C example `echo` and invokes it, and
# its output must come back; then the host is stopped with SIGTERM and must exit 0.
set -euo pipefail

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
venv="${FAASMCTL_VENV:-$target/faasmctl-venv}"
work="$(mktemp -d)"
server=""
cleanup() {
    if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

if ! python3 -m venv --help >/dev/null 2>&1 || ! dpkg-query -W python3-venv >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
fi
if [[ ! -x "$venv/bin/faasmctl" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet faasmctl==0.51.0
fi

cargo build --release --quiet --bin faasm-run
clang --target=wasm32-wasi -O2 -I sdk/c functions/c/echo.c -o "$work/echo.wasm"

"$target/release/faasm-run" serve --listen 127.0.0.1:0 --store "$work/store" \
    >"$work/address" 2>"$work/serve.log" &
server=$!
for _ in $(seq 200); do
    [[ -s "$work/address" ]] && break
    sleep 0.05
done
port="$(sed -n 's|^listening on http://127\.0\.0\.1:||p' "$work/address")"
[[ -n "$port" ]] || { echo "faasm-run serve did not start:"; cat "$work/serve.log"; exit 1; }

cat >"$work/faasm.ini" <<INI
[Faasm]
upload_host = 127.0.0.1
upload_port = $port
planner_host = 127.0.0.1
planner_port = $port
INI
export FAASM_INI_FILE="$work/faasm.ini"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY

"$venv/bin/faasmctl" upload.wasm demo echo "$work/echo.wasm"
output="$("$venv/bin/faasmctl" invoke demo echo --input-data "hello from faasmctl")"
echo "$output"
if ! grep -qx "hello from faasmctl" <<<"$output" || ! grep -q "Return value:.*0" <<<"$output"; then
    echo "faasmctl invoke did not return echo's output"
    cat "$work/serve.log"
    exit 1
fi

kill -TERM "$server"
status=0
wait "$server" || status=$?
server=""
if ((status != 0)); then
    echo "faasm-run serve exited with $status after SIGTERM"
    cat "$work/serve.log"
    exit 1
fi
echo "faasmctl upload and invoke through faasm-run serve: ok"
