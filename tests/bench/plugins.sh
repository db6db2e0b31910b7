#!/usr/bin/env bash
# Plugin runtime benchmark (see BENCHMARKS.md): fresh instance + one call per component (Rust,
# Python, JavaScript), host start with 20 enabled plugins from precompiled artifacts, and 1,000
# concurrent automation invocations with the process's peak memory.
#
# Builds the release binary and the guests (plugins/build.sh, examples/build.sh), then runs
# `portcullis bench-plugins` on target/plugins. Run it on a quiet machine: the figures are
# per-call latencies. Settings (environment): CALLS (2000), SLOW_CALLS (200), CONCURRENT (1000),
# REMOTE_DELAY_MS (200), JSON (a file for the figures), NO_BUILD=1 to use what is built.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --release -p portcullis
    bash plugins/build.sh
    bash examples/build.sh --no-tests
fi
args=(--plugins-dir target/plugins --calls "${CALLS:-2000}" --slow-calls "${SLOW_CALLS:-200}"
    --concurrent "${CONCURRENT:-1000}" --remote-delay-ms "${REMOTE_DELAY_MS:-200}")
[ -n "${JSON:-}" ] && args+=(--json "$JSON")
PORTCULLIS_LOG=warn ./target/release/portcullis bench-plugins "${args[@]}"
