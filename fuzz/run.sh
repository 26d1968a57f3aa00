#!/usr/bin/env bash
# Runs one fuzz target for a bounded time, then prints how many inputs it executed and what it
# found (new files under fuzz/artifacts/TARGET/).
#
#   fuzz/run.sh TARGET SECONDS [libFuzzer options...]
#
# An empty corpus is seeded with a few random inputs of 1-8 KiB, so that generated modules are
# large from the start (libFuzzer otherwise begins with inputs of a few bytes).
#
# TARGET is one of: compile, differential, memory_strategies, interrupt, wasi_paths
# (`cargo fuzz list`).
# The corpus is fuzz/corpus/TARGET (new inputs are added there; minimise before committing
# with `cargo +nightly fuzz cmin TARGET`). Needs the nightly toolchain and cargo-fuzz (installed
# if missing). SANITIZER=address runs under ASan (default: none, for throughput); JOBS=N runs
# N fuzzing processes in parallel.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 TARGET SECONDS [libFuzzer options...]" >&2
    exit 2
fi
target="$1"
seconds="$2"
shift 2
cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

corpus="corpus/${target}"
artifacts="artifacts/${target}"
mkdir -p "${corpus}" "${artifacts}"
if [[ -z "$(ls -A "${corpus}")" ]]; then
    for i in $(seq 1 16); do
        head -c $((1024 * (1 + i % 8))) /dev/urandom >"${corpus}/seed-${i}"
    done
fi
log="${artifacts}/run-$(date +%Y%m%d-%H%M%S).log"
before="$(mktemp)"
trap 'rm -f "${before}"' EXIT
find "${artifacts}" -type f ! -name '*.log' | sort >"${before}"

start=${SECONDS}
status=0
cargo +nightly fuzz run --sanitizer "${SANITIZER:-none}" "${target}" "${corpus}" -- \
    -artifact_prefix="${artifacts}/" \
    -max_total_time="${seconds}" \
    -timeout=60 \
    -rss_limit_mb=8192 \
    -max_len=8192 \
    ${JOBS:+-jobs="${JOBS}" -workers="${JOBS}"} \
    -print_final_stats=1 \
    "$@" >"${log}" 2>&1 || status=$?

# With -jobs, each worker logs to fuzz-N.log in the current directory.
for worker_log in fuzz-*.log; do
    [[ -e "${worker_log}" ]] || continue
    cat "${worker_log}" >>"${log}"
    rm -f "${worker_log}"
done

executions="$(grep -h 'stat::number_of_executed_units' "${log}" | awk '{ sum += $2 } END { print sum + 0 }')"
echo "target:      ${target}"
echo "ran for:     $((SECONDS - start)) s (limit ${seconds} s), libFuzzer exit status ${status}"
echo "executions:  ${executions}"
echo "corpus:      $(find "${corpus}" -type f | wc -l) inputs in ${corpus}"
echo "log:         fuzz/${log}"
new_findings="$(find "${artifacts}" -type f ! -name '*.log' | sort | comm -13 "${before}" -)"
if [[ -z "${new_findings}" ]]; then
    echo "findings:    none"
else
    echo "findings:"
    echo "${new_findings}" | sed 's/^/    /'
    grep -h -m3 -E "panicked at|^\[(compile|differential|memory_strategies|interrupt|wasi_paths)\]|ERROR: libFuzzer" "${log}" | sed 's/^/    /' || true
    echo "triage with: (cd fuzz && cargo run --release --example triage -- ${target} --print FILE)"
    exit 1
fi
