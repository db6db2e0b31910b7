#!/usr/bin/env bash
# Web UI benchmark (see BENCHMARKS.md; issue 6, Performance), two parts in headless chromium:
#
# 1. The console's asset page ("the asset page with 100,000 assets and 10,000 nodes opens and
#    searches in under one second") on the inventory of `portcullis bench` — time to open it
#    (navigation start → first page of rows and the node tree rendered), to search the list by a
#    name fragment (input → matching rows rendered, the list's 300 ms debounce included) and to
#    expand a node of the lazy tree (click → children loaded and shown), each with the API
#    request the page waited on. A temporary data directory (`portcullis bench --populate-only`,
#    which also creates the administrator), `portcullis serve` (release build, UI embedded) on
#    free loopback ports, tests/bench/web/asset_page.mjs.
# 2. The web terminal under bulk output ("the web terminal keeps up with `cat` of a large file
#    without freezing the tab"): tests/bench/web/terminal_cat.sh (its own target sshd, server
#    and data; needs root) — MiB/s to the end marker, longest frame gap, longest input delay,
#    longest main-thread task and the page's peak output backlog.
#
# Prints Markdown tables and, with BENCH_JSON=FILE, writes the section's report fragment
# (tests/bench/fragment.py web; format: tests/bench/report.py); a part that fails keeps its
# figures in the fragment as not measured, with a note. Uses tests/bench/lib.sh for the
# start-up and the clean-up (every process it started stopped by PID, its directory removed).
#
# Settings (environment): ASSETS (100000), NODES (10000), ROUNDS (10 timed rounds after one
# warm-up), CAT_MIB (32: size of the file the terminal prints), CAT_ROUNDS (3, after a warm-up),
# SERVER_LOG (warn), NO_BUILD=1 to use the existing target/release/portcullis (BENCH_BIN:
# another one), PC_CHROMIUM (/usr/bin/chromium). BENCH_QUICK=1 makes the defaults
# ASSETS=20000, ROUNDS=3, CAT_MIB=8, CAT_ROUNDS=2 (the asset page's targets are then not judged).
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init web
if [[ "${BENCH_QUICK:-}" == 1 ]]; then
    ASSETS=${ASSETS:-20000} ROUNDS=${ROUNDS:-3} CAT_MIB=${CAT_MIB:-8} CAT_ROUNDS=${CAT_ROUNDS:-2}
fi
ASSETS=${ASSETS:-100000}
NODES=${NODES:-10000}
ROUNDS=${ROUNDS:-10}
CAT_MIB=${CAT_MIB:-32}
CAT_ROUNDS=${CAT_ROUNDS:-3}
bench_whole ASSETS NODES ROUNDS CAT_MIB CAT_ROUNDS

RAW=""
CAT_RAW=""
FRAGMENT=""
FRAGMENT_DONE=""
# The section's fragment, from the raw figures of both parts (what exists of them); written at
# the end, or from the exit trap when the script stops early, so the gap shows in the report.
# Arguments: notes.
write_fragment() {
    [[ -z "$FRAGMENT_DONE" ]] || return 0
    FRAGMENT_DONE=1
    FRAGMENT=${BENCH_JSON:-${TMP:+$TMP/fragment.json}}
    [[ -n "$FRAGMENT" ]] || return 0
    local args=() n
    for n in "${NOTES[@]}" "$@"; do args+=(--note "$n"); done
    python3 "$ROOT/tests/bench/fragment.py" web --out "$FRAGMENT" \
        --command "$(bench_command ASSETS="$ASSETS" NODES="$NODES" ROUNDS="$ROUNDS" CAT_MIB="$CAT_MIB" CAT_ROUNDS="$CAT_ROUNDS")   # = node tests/bench/web/asset_page.mjs, then tests/bench/web/terminal_cat.sh (playwright-core, headless ${CHROMIUM:-chromium}) against portcullis serve" \
        --assets "$ASSETS" --nodes "$NODES" --rounds "$ROUNDS" --asset-raw "$RAW" \
        --cat-raw "$CAT_RAW" --cat-mib "$CAT_MIB" --cat-rounds "$CAT_ROUNDS" \
        --setting "server_log=$SERVER_LOG" --setting "database=SQLite" \
        --setting "browser=$("${CHROMIUM:-chromium}" --version 2>/dev/null | head -n 1 || echo unknown)" \
        "${args[@]}" || { echo "could not write $FRAGMENT" >&2; FRAGMENT=""; }
}
bench_cleanup_hook() { write_fragment "The script stopped early; see its output."; }

bench_need_browser
bench_build
bench_tmp
RAW="$TMP/asset_page.json"
CAT_RAW="$TMP/terminal_cat.json"
status=0

# --- 1. the asset page -----------------------------------------------------------------------
log "building the ${ASSETS}-asset, ${NODES}-node inventory in $DATA"
"$BIN" bench --populate-only --assets "$ASSETS" --nodes "$NODES" --data-dir "$DATA" \
    >"$TMP/populate.out" 2>"$TMP/populate.err" || { cat "$TMP/populate.err" >&2; die "populate failed"; }
grep -v '^admin_password=' "$TMP/populate.out" >&2
ADMIN_PASSWORD=$(sed -n 's/^admin_password=//p' "$TMP/populate.out")
[[ -n "$ADMIN_PASSWORD" ]] || die "populate printed no administrator password"
start_gateway
curl -fsS -o /dev/null "$BASE/ui/login" || die "the server does not serve the UI at /ui/"

log "timing the asset page in headless chromium: $ROUNDS rounds after a warm-up"
PC_BASE_URL=$BASE PC_ADMIN_USER=admin PC_ADMIN_PASSWORD=$ADMIN_PASSWORD PC_CHROMIUM=$CHROMIUM \
    PC_ARTIFACTS="$TMP/artifacts" BENCH_ASSETS=$ASSETS BENCH_NODES=$NODES BENCH_ROUNDS=$ROUNDS \
    BENCH_RAW=$RAW node "$ROOT/tests/bench/web/asset_page.mjs" || {
    status=$?
    note "The asset page's browser run failed (exit status $status); figures it did not reach are not measured."
    tail -n 20 "$TMP/gateway.log" >&2
}
bench_gateway_log_note
stop_gateway

# --- 2. the web terminal under `cat` ---------------------------------------------------------
log "web terminal: cat of $CAT_MIB MiB, $CAT_ROUNDS rounds after a warm-up (tests/bench/web/terminal_cat.sh)"
cat_status=0
NO_BUILD=1 BENCH_BIN=$BIN BENCH_SIZE_MIB=$CAT_MIB BENCH_ROUNDS=$CAT_ROUNDS SERVER_LOG=$SERVER_LOG \
    PC_CHROMIUM=$CHROMIUM bash "$ROOT/tests/bench/web/terminal_cat.sh" >"$CAT_RAW" || cat_status=$?
if [[ $cat_status != 0 ]]; then
    note "The web terminal run (tests/bench/web/terminal_cat.sh) failed (exit status $cat_status); figures it did not reach are not measured."
    status=$cat_status
fi

# --- report ----------------------------------------------------------------------------------
write_fragment
echo
echo "Web UI on SQLite: asset page with $ASSETS assets, $NODES nodes ($ROUNDS rounds); web terminal cat of" \
    "$CAT_MIB MiB ($CAT_ROUNDS rounds); headless chromium; $(bench_machine); commit $(bench_commit), $(date -u +%Y-%m-%d)"
echo
[[ -n "$FRAGMENT" ]] && python3 - "$FRAGMENT" <<'PY'
import json, sys

with open(sys.argv[1], encoding="utf-8") as fh:
    frag = json.load(fh)
print("| figure | median | spread | target |")
print("|---|---|---|---|")
for f in frag["figures"]:
    v = "not measured" if f["value"] is None else f"{f['value']:.4g} {f['unit']}"
    s = " · ".join(f"{k} {x:.4g}" if isinstance(x, float) else f"{k} {x}" for k, x in (f.get("spread") or {}).items())
    t = f.get("target") or "—"
    if f.get("met") is not None:
        t += ": " + ("met" if f["met"] else "**missed**")
    print(f"| {f['label']} | {v} | {s or '—'} | {t} |")
for n in frag["notes"]:
    print(f"\n- {n}")
PY
exit "$status"
