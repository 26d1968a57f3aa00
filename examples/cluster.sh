#!/usr/bin/env bash
# Three faasm-rs hosts as one Faasm on this machine, over one Redis server:
#
#   bash examples/cluster.sh            # from the repository's root; Ctrl-C stops everything
#
# Builds faasm-run and two example functions (`echo`, `pi`: needs Debian's clang, wasi-libc and
# libclang-rt-dev-wasm32), starts `redis-server` on 127.0.0.1:${REDIS_PORT:-16379} and three
# `faasm-run serve --cluster` hosts on 127.0.0.1:8081..8083, each with its own store under
# ${CLUSTER_DIR:-target/cluster-example}; then uploads on host 1, invokes on host 3 (the call
# runs where the function is warm), runs `pi` with 100 chained workers spread over the hosts,
# and prints the cluster's view. The hosts keep serving until Ctrl-C.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${CLUSTER_DIR:-$root/target/cluster-example}
redis_port=${REDIS_PORT:-16379}
redis="redis://127.0.0.1:$redis_port"
pids=()

stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop EXIT

need() {
    command -v "$1" >/dev/null || { echo "cluster.sh: needs $1 ($2)" >&2; exit 1; }
}
need redis-server "apt-get install -y redis-server"
need clang "apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32"
need curl "apt-get install -y curl"

rm -rf "$dir" && mkdir -p "$dir"
echo "== building faasm-run and the example functions"
cargo build --release --quiet --bin faasm-run --manifest-path "$root/Cargo.toml"
faasm_run=$root/target/release/faasm-run
for name in echo pi; do
    clang --target=wasm32-wasi -O2 -I "$root/sdk/c" "$root/functions/c/$name.c" -o "$dir/$name.wasm"
done

echo "== redis-server on 127.0.0.1:$redis_port"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$dir" >"$dir/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
done

for n in 1 2 3; do
    "$faasm_run" serve --listen "127.0.0.1:808$n" --store "$dir/store$n" --cluster "$redis" \
        >"$dir/host$n.out" 2>"$dir/host$n.log" &
    pids+=($!)
done
for n in 1 2 3; do
    for _ in $(seq 100); do
        curl -sf "localhost:808$n/ping" >/dev/null && break
        sleep 0.1
    done
done
echo "== three hosts: logs in $dir/host{1,2,3}.log"

host() { curl -s "localhost:808$1/cluster" | sed -n 's/.*"this_host":"\([^"]*\)".*/\1/p'; }
echo "host 1 is $(host 1), host 2 is $(host 2), host 3 is $(host 3)"

echo "== upload echo on host 1, invoke it on host 3"
curl -s -X PUT --data-binary @"$dir/echo.wasm" localhost:8081/f/demo/echo; echo
curl -s -D "$dir/headers" --data 'hello from host 3' localhost:8083/f/demo/echo; echo
grep -i '^x-faasm-host' "$dir/headers"

echo "== pi with 100 chained workers, called on host 2 (workers spread over the hosts)"
curl -s -X PUT --data-binary @"$dir/pi.wasm" localhost:8082/f/demo/pi; echo
curl -s --data '100' localhost:8082/f/demo/pi; echo "   (one host alone gives pi ~= 3.141314)"

echo "== the cluster as host 1 sees it"
curl -s localhost:8081/cluster; echo
echo "== serving; Ctrl-C stops the hosts and Redis"
wait
