#!/usr/bin/env bash
# REST API benchmark (see BENCHMARKS.md): requests/second and p99 latency of
#   GET /api/v1/assets/assets/?limit=100            as the administrator
#   GET /api/v1/perms/users/self/assets/?limit=100  as the user granted all assets
# on the 100,000-asset inventory of `portcullis bench`, in SQLite, with `wrk` driving the running
# server from a second process. Prints one Markdown table row per endpoint.
#
# Builds the release binary, prepares a temporary data directory (`portcullis bench
# --populate-only`), creates private tokens, starts `portcullis serve` on a free loopback port,
# warms up, measures, stops the server and removes the directory. Installs `wrk` with apt-get
# when missing and purges what it installed on exit, so the machine is left as it was found.
#
# Settings (environment): ASSETS (100000), THREADS (2), CONNECTIONS (32), DURATION (20s),
# WARMUP (5s), SERVER_LOG (warn: the server's PORTCULLIS_LOG during the run), NO_BUILD=1 to use
# the existing target/release/portcullis (BIN=<path>: that binary instead, without building),
# PAGE_CACHE_MIB (the server's list-page cache, `--page-cache-mib`; 0 measures every request
# building its page, as without the cache; default: the server's default). BENCH_QUICK=1 makes the defaults ASSETS=20000,
# DURATION=5s, WARMUP=2s (targets are then not judged); BENCH_JSON=FILE writes the section's
# report fragment (tests/bench/report.py). An endpoint that answers with errors under load is
# reported as not measured and the script exits 1 after the other endpoint.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ -n "${BIN:-}" ]]; then NO_BUILD=1; fi
BIN=${BIN:-$ROOT/target/release/portcullis}
if [[ "${BENCH_QUICK:-}" == 1 ]]; then
    ASSETS=${ASSETS:-20000} DURATION=${DURATION:-5s} WARMUP=${WARMUP:-2s}
fi
ASSETS=${ASSETS:-100000}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-5s}
SERVER_LOG=${SERVER_LOG:-warn}
PAGE_CACHE_MIB=${PAGE_CACHE_MIB:-}

# Nothing from the caller's environment may point the binary at another installation.
unset PORTCULLIS_CONFIG PORTCULLIS_DATA_DIR PORTCULLIS_DATABASE_URL PORTCULLIS_MASTER_KEY \
    PORTCULLIS_MASTER_KEY_FILE PORTCULLIS_HTTP_ADDR PORTCULLIS_SSH_ADDR PORTCULLIS_ADMIN_PASSWORD \
    PORTCULLIS_PAGE_CACHE_MIB

TMP=""
SERVER_PID=""
INSTALLED_PKGS=""
RESULTS=""   # endpoint results for the fragment, one tab-separated line each
FAILED=0

# The section's report fragment (BENCH_JSON); also written from the exit trap when the script
# stops early, so the figures not measured show as such.
FRAGMENT_DONE=""
write_fragment() {
    [[ -n "${BENCH_JSON:-}" && -z "$FRAGMENT_DONE" ]] || return 0
    FRAGMENT_DONE=1
    local args=(api --out "$BENCH_JSON" --assets "$ASSETS"
        --command "ASSETS=$ASSETS THREADS=$THREADS CONNECTIONS=$CONNECTIONS DURATION=$DURATION WARMUP=$WARMUP tests/bench/api.sh   # = wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -H 'Authorization: Token …' URL, per endpoint"
        --setting "assets=$ASSETS" --setting "threads=$THREADS" --setting "connections=$CONNECTIONS"
        --setting "duration=$DURATION" --setting "warmup=$WARMUP" --setting "server_log=$SERVER_LOG"
        --setting "page_cache_mib=${PAGE_CACHE_MIB:-default}"
        --setting "wrk=$(wrk -v 2>&1 | head -n 1 | awk '{print $1, $2}')")
    [[ -n "$RESULTS" && -f "$RESULTS" ]] && args+=(--results "$RESULTS")
    local n
    for n in "$@"; do args+=(--note "$n"); done
    python3 "$ROOT/tests/bench/fragment.py" "${args[@]}" || echo "could not write $BENCH_JSON" >&2
}

cleanup() {
    local rc=$?
    [[ $rc == 0 ]] || write_fragment "The script stopped early (exit status $rc); see its output."
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    [[ -n "$TMP" && -d "$TMP" ]] && rm -rf "$TMP"
    if [[ -n "$INSTALLED_PKGS" ]]; then
        echo "removing what this script installed: $INSTALLED_PKGS" >&2
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $INSTALLED_PKGS >/dev/null 2>&1 || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "== $*" >&2; }

# --- wrk -------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    log "installing wrk"
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    before=$(dpkg-query -W -f='${Package}\n' | sort)
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null ||
        { $sudo apt-get update -qq >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
    after=$(dpkg-query -W -f='${Package}\n' | sort)
    INSTALLED_PKGS=$(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')
fi

# --- build -----------------------------------------------------------------------------------
if [[ "${NO_BUILD:-}" != 1 ]]; then
    log "building the release binary"
    (cd "$ROOT" && cargo build --release -p portcullis >&2)
fi
[[ -x "$BIN" ]] || { echo "no binary at $BIN" >&2; exit 1; }

# --- data ------------------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-api-bench.XXXXXX")
DATA="$TMP/data"
RESULTS="$TMP/results.tsv"
: >"$RESULTS"
log "building the ${ASSETS}-asset inventory in $DATA"
"$BIN" bench --populate-only --assets "$ASSETS" --data-dir "$DATA" >"$TMP/populate.out" 2>"$TMP/populate.err" ||
    { cat "$TMP/populate.err" >&2; exit 1; }
grep -v '^admin_password=' "$TMP/populate.out" >&2
token_of() {
    local out
    out=$("$BIN" admin --data-dir "$DATA" create-token --username "$1" 2>>"$TMP/admin.err") ||
        { cat "$TMP/admin.err" >&2; return 1; }
    tail -n 1 <<<"$out"
}
ADMIN_TOKEN=$(token_of admin)
BENCH_TOKEN=$(token_of "$(sed -n 's/^bench_user=//p' "$TMP/populate.out")")

# --- server ----------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SSH_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
CACHE_ARGS=()
[[ -n "$PAGE_CACHE_MIB" ]] && CACHE_ARGS=(--page-cache-mib "$PAGE_CACHE_MIB")
log "starting portcullis serve on $BASE (PORTCULLIS_LOG=$SERVER_LOG${PAGE_CACHE_MIB:+, page cache $PAGE_CACHE_MIB MiB})"
PORTCULLIS_LOG=$SERVER_LOG "$BIN" serve --data-dir "$DATA" --http-addr "127.0.0.1:$PORT" \
    --ssh-addr "127.0.0.1:$SSH_PORT" "${CACHE_ARGS[@]}" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do
    curl -fsS -o /dev/null "$BASE/api/health/" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/server.log" >&2; exit 1; }
    sleep 0.1
done
curl -fsS -o /dev/null "$BASE/api/health/" || { cat "$TMP/server.log" >&2; exit 1; }

# name | path | token
ENDPOINTS=(
    "admin|/api/v1/assets/assets/?limit=100|$ADMIN_TOKEN"
    "bench|/api/v1/perms/users/self/assets/?limit=100|$BENCH_TOKEN"
)

# A correct answer first: 200, 100 rows, the whole inventory counted.
for e in "${ENDPOINTS[@]}"; do
    IFS='|' read -r who path token <<<"$e"
    body=$(curl -fsS -H "Authorization: Token $token" "$BASE$path") ||
        { echo "$who $path failed" >&2; cat "$TMP/server.log" >&2; exit 1; }
    count=$(jq -r '.count' <<<"$body")
    rows=$(jq -r '.results | length' <<<"$body")
    log "$who $path: count=$count, $rows rows, $(printf %s "$body" | wc -c) bytes"
    [[ "$count" == "$ASSETS" && "$rows" == 100 ]] || { echo "unexpected answer" >&2; exit 1; }
done

# wrk's duration to milliseconds: "812.00us", "12.34ms", "1.02s", "2.00m".
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.2f", n }'
}

ROWS=()
for e in "${ENDPOINTS[@]}"; do
    IFS='|' read -r who path token <<<"$e"
    log "warming up $path as $who ($WARMUP)"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -H "Authorization: Token $token" "$BASE$path" >/dev/null
    log "measuring $path as $who: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency"
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
        -H "Authorization: Token $token" "$BASE$path")
    echo "$out" >&2
    if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then
        echo "error answers during the run of $path" >&2
        printf '%s\t%s\t\t\t\t\t\t%s\n' "$who" "$path" \
            "error answers under load ($(awk '/Non-2xx/ {print $NF}' <<<"$out") of $(awk '/requests in/ {print $1}' <<<"$out"))" >>"$RESULTS"
        FAILED=1
        ROWS+=("| \`GET $path\` ($who) | error answers under load: not measured | | | | | |")
        continue
    fi
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    p50=$(to_ms "$(awk '/^ +50%/ {print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '/^ +99%/ {print $2}' <<<"$out")")
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    errors=$(awk '/Socket errors/ {print}' <<<"$out")
    verdict=$(awk -v r="$rps" -v p="$p99" 'BEGIN { print (r >= 2000 && p < 50) ? "met" : "missed" }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n' "$who" "$path" "$rps" "$p50" "$p99" "$total" "${errors:-none}" >>"$RESULTS"
    ROWS+=("| \`GET $path\` ($who) | $rps | $p50 | $p99 | $total | ${errors:-none} | ≥ 2,000 req/s, p99 < 50 ms: $verdict |")
done

echo
echo "REST API on SQLite, $ASSETS assets, page cache ${PAGE_CACHE_MIB:-default} MiB: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency; $(nproc) cores," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
    "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%d)"
echo
echo "| endpoint (caller) | req/s | p50 ms | p99 ms | requests | socket errors | target |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
write_fragment
[[ $FAILED == 0 ]]
