#!/usr/bin/env bash
# Plugin runtime benchmark (see BENCHMARKS.md): fresh instance + one call per component (Rust,
# Python, JavaScript), host start with 20 enabled plugins from precompiled artifacts, and 1,000
# concurrent automation invocations with the process's peak memory.
#
# Builds the release binary and the guests (plugins/build.sh, examples/build.sh), then runs
# `portcullis bench-plugins` on target/plugins. Run it on a quiet machine: the figures are
# per-call latencies. Settings (environment): CALLS (2000), SLOW_CALLS (200), CONCURRENT (1000),
# REMOTE_DELAY_MS (200), JSON (a file for the raw figures), NO_BUILD=1 to use what is built.
# BENCH_QUICK=1 makes the defaults CALLS=300, SLOW_CALLS=30; BENCH_JSON=FILE writes the
# section's report fragment (tests/bench/report.py).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    CALLS=${CALLS:-300} SLOW_CALLS=${SLOW_CALLS:-30}
fi
CALLS=${CALLS:-2000} SLOW_CALLS=${SLOW_CALLS:-200} CONCURRENT=${CONCURRENT:-1000}
REMOTE_DELAY_MS=${REMOTE_DELAY_MS:-200}
if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --release -p portcullis
    bash plugins/build.sh
    bash examples/build.sh --no-tests
fi
RAW=${JSON:-}
TMP=""
if [ -n "${BENCH_JSON:-}" ] && [ -z "$RAW" ]; then
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-plugins-bench.XXXXXX")
    trap 'rm -rf "$TMP"' EXIT
    RAW=$TMP/raw.json
fi
args=(--plugins-dir target/plugins --calls "$CALLS" --slow-calls "$SLOW_CALLS"
    --concurrent "$CONCURRENT" --remote-delay-ms "$REMOTE_DELAY_MS")
[ -n "$RAW" ] && args+=(--json "$RAW")
status=0
PORTCULLIS_LOG=warn ./target/release/portcullis bench-plugins "${args[@]}" || status=$?
if [ -n "${BENCH_JSON:-}" ]; then
    notes=()
    [ "$status" = 0 ] || notes+=(--note "portcullis bench-plugins failed (exit status $status); see the script's output.")
    python3 tests/bench/fragment.py plugins --out "$BENCH_JSON" --raw "$RAW" \
        --command "CALLS=$CALLS SLOW_CALLS=$SLOW_CALLS CONCURRENT=$CONCURRENT REMOTE_DELAY_MS=$REMOTE_DELAY_MS tests/bench/plugins.sh   # = portcullis bench-plugins ${args[*]/#$RAW/FILE}" \
        --concurrent "$CONCURRENT" --remote-delay-ms "$REMOTE_DELAY_MS" \
        --setting "calls=$CALLS" --setting "slow_calls=$SLOW_CALLS" --setting "concurrent=$CONCURRENT" \
        --setting "remote_delay_ms=$REMOTE_DELAY_MS" "${notes[@]}"
fi
exit "$status"
