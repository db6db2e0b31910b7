#!/usr/bin/env bash
# Web UI benchmark (see BENCHMARKS.md; issue 6, Performance: "the asset page with 100,000 assets
# and 10,000 nodes opens and searches in under one second"): the console's asset page in headless
# chromium on the inventory of `portcullis bench` — time to open it (navigation start → first
# page of rows and the node tree rendered), to search the list by a name fragment (input →
# matching rows rendered, the list's 300 ms debounce included) and to expand a node of the lazy
# tree (click → children loaded and shown), each with the API request the page waited on.
#
# Prepares a temporary data directory (`portcullis bench --populate-only`, which also creates the
# administrator), starts `portcullis serve` (release build, UI embedded) on free loopback ports,
# runs tests/bench/web/asset_page.mjs (playwright-core from tests/web, `npm ci` there when
# missing; /usr/bin/chromium or PC_CHROMIUM), prints a Markdown table, stops the server and
# removes the directory.
#
# Settings (environment): ASSETS (100000), NODES (10000), ROUNDS (10 timed rounds after one
# warm-up), SERVER_LOG (warn), NO_BUILD=1 to use the existing target/release/portcullis.
# BENCH_QUICK=1 makes the defaults ASSETS=20000, ROUNDS=3 (targets are then not judged);
# BENCH_JSON=FILE writes the section's report fragment (tests/bench/report.py).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN="$ROOT/target/release/portcullis"
if [[ "${BENCH_QUICK:-}" == 1 ]]; then
    ASSETS=${ASSETS:-20000} ROUNDS=${ROUNDS:-3}
fi
ASSETS=${ASSETS:-100000}
NODES=${NODES:-10000}
ROUNDS=${ROUNDS:-10}
SERVER_LOG=${SERVER_LOG:-warn}
CHROMIUM=${PC_CHROMIUM:-/usr/bin/chromium}

# Nothing from the caller's environment may point the binary at another installation.
unset PORTCULLIS_CONFIG PORTCULLIS_DATA_DIR PORTCULLIS_DATABASE_URL PORTCULLIS_MASTER_KEY \
    PORTCULLIS_MASTER_KEY_FILE PORTCULLIS_HTTP_ADDR PORTCULLIS_SSH_ADDR PORTCULLIS_ADMIN_PASSWORD

TMP=""
SERVER_PID=""
RAW=""

# The section's report fragment (BENCH_JSON), from the browser's raw figures when there are any;
# also written from the exit trap when the script stops early, so the gap shows in the report.
FRAGMENT_DONE=""
write_fragment() {
    [[ -n "${BENCH_JSON:-}" && -z "$FRAGMENT_DONE" ]] || return 0
    FRAGMENT_DONE=1
    local notes
    notes=$(printf '%s\n' "$@")
    BENCH_COMMAND="ASSETS=$ASSETS NODES=$NODES ROUNDS=$ROUNDS tests/bench/web.sh   # = node tests/bench/web/asset_page.mjs (playwright-core, headless $CHROMIUM) against portcullis serve" \
        ASSETS="$ASSETS" NODES="$NODES" ROUNDS="$ROUNDS" SERVER_LOG="$SERVER_LOG" RAW="$RAW" NOTES="$notes" \
        CHROMIUM_VERSION="$("$CHROMIUM" --version 2>/dev/null | head -n 1 || echo unknown)" \
        python3 - "$BENCH_JSON" <<'PY' || echo "could not write $BENCH_JSON" >&2
import json, os, sys

e = os.environ
assets, nodes, rounds = int(e["ASSETS"]), int(e["NODES"]), int(e["ROUNDS"])
full = assets >= 100_000 and nodes >= 10_000
notes = [n for n in e.get("NOTES", "").split("\n") if n]
raw = None
if e.get("RAW") and os.path.exists(e["RAW"]) and os.path.getsize(e["RAW"]) > 0:
    with open(e["RAW"], encoding="utf-8") as fh:
        raw = json.load(fh)
summary = (raw or {}).get("summary") or {}
if raw is None:
    notes.append("The browser run wrote no figures: not measured (see the script's output).")
elif raw.get("error"):
    notes.append("The browser run failed: " + raw["error"].splitlines()[0])
for p in (raw or {}).get("problems") or []:
    notes.append("Page problem during the run: " + p)

FIGURES = [
    ("web.asset_page_open_ms", "open", "open_api_list",
     "asset page open (navigation start → first page of rows and node tree shown), ms",
     "< 1000 ms"),
    ("web.asset_search_ms", "search", "search_api",
     "asset list search by name (input → matching rows shown; 300 ms debounce included), ms",
     "< 1000 ms"),
    ("web.node_expand_ms", "expand", "expand_api",
     "node tree expand (click → lazily loaded children shown), ms",
     None),
]
figures = []
for fid, key, api_key, label, target in FIGURES:
    s = summary.get(key)
    value = s["median"] if s else None
    spread = None
    if s:
        spread = {"min": s["min"], "max": s["max"], "n": s["n"]}
        api = summary.get(api_key)
        if api:
            spread["api"] = api["median"]
    met = None
    if target and value is not None and full:
        met = value < 1000
        if met and s["max"] >= 1000:
            notes.append(f"{fid}: the median is under 1000 ms but the slowest of {s['n']} rounds took {s['max']:.0f} ms.")
    if value is None:
        notes.append(f"{fid}: not measured.")
    figures.append({"id": fid, "label": label, "unit": "ms", "value": value, "spread": spread,
                    "target": target, "met": met})
if not full:
    notes.append(f"Quick or reduced scenario ({assets} assets, {nodes} nodes): the targets, set for "
                 "100,000 assets and 10,000 nodes, are not judged.")
dcl, start = summary.get("open_dcl"), summary.get("open_list_start")
if dcl and start and summary.get("open") and summary.get("open_tree_start") and summary.get("open_api_tree"):
    notes.append(f"Where the open's time goes (medians): the document and its scripts loaded at {dcl['median']:.0f} ms "
                 f"(DOMContentLoaded), the page asked for the first page of assets at {start['median']:.0f} ms "
                 f"(answered in {summary['open_api_list']['median']:.0f} ms) and for the tree at "
                 f"{summary['open_tree_start']['median']:.0f} ms (answered in {summary['open_api_tree']['median']:.0f} ms); "
                 f"the rows were shown at {summary['open_rows']['median']:.0f} ms, the tree at "
                 f"{summary['open_tree']['median']:.0f} ms.")
ch = summary.get("expand_children")
if ch:
    notes.append(f"Each expanded top node held about {ch['median']:.0f} child nodes.")
frag = {
    "section": "web",
    "title": "Web UI — console asset page: open, search, lazy node tree (headless chromium)",
    "command": e["BENCH_COMMAND"],
    "settings": {"assets": assets, "nodes": nodes, "rounds": rounds, "server_log": e["SERVER_LOG"],
                 "browser": (raw or {}).get("browser") or e.get("CHROMIUM_VERSION"),
                 "database": "SQLite"},
    "method": (
        "`portcullis bench --populate-only` builds the inventory (SQLite); `portcullis serve` "
        "(release build, UI embedded) serves it on loopback and headless chromium, driven by "
        "playwright-core, logs in as the administrator. After one warm-up round, each round "
        "navigates afresh to `/ui/console/assets` and times, on the page's own clock: the open "
        "(navigation start → the next animation frame after the first page of rows and the node "
        "tree's first level are in the DOM), a search (the search box's input event with a name "
        "fragment matching ten assets → exactly those rows shown; the list debounces input by "
        "300 ms) and the expansion of a top node (click → its children, fetched from the server, "
        "shown). Value: median of the rounds; spread: min, max and `api`, the median duration of "
        "the API request the page waited on (Resource Timing). Browser and server share the machine."
    ),
    "figures": figures,
    "notes": notes,
}
with open(sys.argv[1], "w", encoding="utf-8") as fh:
    json.dump(frag, fh, indent=2, ensure_ascii=False)
PY
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
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "== $*" >&2; }

# --- tools -----------------------------------------------------------------------------------
command -v node >/dev/null || { echo "node is needed (tests/run.sh installs Node.js)" >&2; exit 1; }
[[ -x "$CHROMIUM" ]] || { echo "no browser at $CHROMIUM: apt-get install chromium (or set PC_CHROMIUM)" >&2; exit 1; }
SPECS="$ROOT/tests/web"
if [[ ! -f "$SPECS/node_modules/.package-lock.json" || "$SPECS/package-lock.json" -nt "$SPECS/node_modules/.package-lock.json" ]]; then
    log "npm ci in tests/web (playwright-core)"
    (cd "$SPECS" && npm ci --no-audit --no-fund >&2)
fi

# --- build -----------------------------------------------------------------------------------
if [[ "${NO_BUILD:-}" != 1 ]]; then
    log "building the release binary"
    (cd "$ROOT" && cargo build --release -p portcullis >&2)
fi
[[ -x "$BIN" ]] || { echo "no binary at $BIN" >&2; exit 1; }

# --- data ------------------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-web-bench.XXXXXX")
DATA="$TMP/data"
RAW="$TMP/raw.json"
log "building the ${ASSETS}-asset, ${NODES}-node inventory in $DATA"
"$BIN" bench --populate-only --assets "$ASSETS" --nodes "$NODES" --data-dir "$DATA" \
    >"$TMP/populate.out" 2>"$TMP/populate.err" || { cat "$TMP/populate.err" >&2; exit 1; }
grep -v '^admin_password=' "$TMP/populate.out" >&2
ADMIN_PASSWORD=$(sed -n 's/^admin_password=//p' "$TMP/populate.out")
[[ -n "$ADMIN_PASSWORD" ]] || { echo "populate printed no administrator password" >&2; exit 1; }

# --- server ----------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SSH_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
log "starting portcullis serve on $BASE (PORTCULLIS_LOG=$SERVER_LOG)"
PORTCULLIS_LOG=$SERVER_LOG "$BIN" serve --data-dir "$DATA" --http-addr "127.0.0.1:$PORT" \
    --ssh-addr "127.0.0.1:$SSH_PORT" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do
    curl -fsS -o /dev/null "$BASE/api/health/" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/server.log" >&2; exit 1; }
    sleep 0.1
done
curl -fsS -o /dev/null "$BASE/api/health/" || { cat "$TMP/server.log" >&2; exit 1; }
curl -fsS -o /dev/null "$BASE/ui/login" || { echo "the server does not serve the UI at /ui/" >&2; exit 1; }

# --- browser ---------------------------------------------------------------------------------
log "timing the asset page in headless chromium: $ROUNDS rounds after a warm-up"
status=0
PC_BASE_URL=$BASE PC_ADMIN_USER=admin PC_ADMIN_PASSWORD=$ADMIN_PASSWORD PC_CHROMIUM=$CHROMIUM \
    PC_ARTIFACTS="$TMP/artifacts" BENCH_ASSETS=$ASSETS BENCH_NODES=$NODES BENCH_ROUNDS=$ROUNDS \
    BENCH_RAW=$RAW node "$ROOT/tests/bench/web/asset_page.mjs" || status=$?
if [[ $status != 0 ]]; then
    echo "the browser run failed (exit status $status); server log:" >&2
    tail -n 20 "$TMP/server.log" >&2
fi

# --- report ----------------------------------------------------------------------------------
echo
echo "Web UI asset page on SQLite, $ASSETS assets, $NODES nodes: headless chromium, $ROUNDS rounds; $(nproc) cores," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
    "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%d)"
echo
ASSETS=$ASSETS NODES=$NODES python3 - "$RAW" <<'PY'
import json, os, sys

try:
    with open(sys.argv[1], encoding="utf-8") as fh:
        s = json.load(fh).get("summary") or {}
except (OSError, ValueError):
    s = {}
full = int(os.environ["ASSETS"]) >= 100_000 and int(os.environ["NODES"]) >= 10_000
rows = [
    ("open the asset page (rows + tree rendered)", "open", "open_api_list", "< 1000 ms"),
    ("search the list by name (input → rows)", "search", "search_api", "< 1000 ms"),
    ("expand a node (click → children shown)", "expand", "expand_api", None),
]
print("| figure | median ms | min ms | max ms | API request ms (median) | target |")
print("|---|---|---|---|---|---|")
for label, key, api, target in rows:
    f, a = s.get(key), s.get(api)
    if not f:
        print(f"| {label} | not measured | | | | {target or '—'} |")
        continue
    verdict = "—" if not target else (f"{target}: {'met' if f['median'] < 1000 else 'missed'}" if full else f"{target} (not judged: quick)")
    print(f"| {label} | {f['median']:.0f} | {f['min']:.0f} | {f['max']:.0f} | {a['median']:.1f} | {verdict} |" if a else
          f"| {label} | {f['median']:.0f} | {f['min']:.0f} | {f['max']:.0f} | — | {verdict} |")
PY
if [[ $status == 0 ]]; then
    write_fragment
else
    write_fragment "The browser run failed (exit status $status); figures it did not reach are not measured."
fi
exit "$status"
