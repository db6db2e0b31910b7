#!/usr/bin/env bash
# The benchmark suite in one command: builds the release binary once, runs every benchmark
# section, stops everything it started and writes BENCHMARKS.md (tables, with where each
# figure came from) and BENCHMARKS.json (the same, machine-readable).
#
#   tests/bench/run.sh [--quick] [--only SECTION,...] [--out DIR] [--no-build] [--logs DIR]
#
#   --quick      small sizes (BENCH_QUICK=1 to every section): a few minutes, proves the harness;
#                figures are indicative only and size-dependent targets are not judged
#   --only LIST  run only these sections (comma-separated) of: permission, api, gateway,
#                recording, automation, plugins, web (the order they always run in)
#   --out DIR    where BENCHMARKS.md and BENCHMARKS.json go (default: the project root)
#   --no-build   use the binaries already built (target/release/portcullis, target/plugins)
#   --logs DIR   keep each section's full output there as <section>.log
#
# Each section is a script tests/bench/<section>.sh run with NO_BUILD=1 and
# BENCH_JSON=<tmp>/<section>.json (plus BENCH_QUICK=1 with --quick); it starts what it needs
# (Portcullis on free loopback ports with a temporary data directory, sshd targets, a throwaway
# PostgreSQL cluster for `permission`, headless chromium for `web`), writes its report fragment (format: tests/bench/report.py)
# and stops and removes everything it started or installed. A section that fails is recorded in
# the report (its figures "not measured", with the end of its output) and the run goes on.
# tests/bench/report.py then merges the fragments, adds the provenance (date, commit, machine,
# OpenSSH, load average at start and end, this command line) and the hand-kept findings
# (tests/bench/findings.md).
#
# Needs root for the SSH sections (sshd targets; apt-get for missing tools). On two cores the quick
# run takes about 5 minutes and the full run about 20 (16 minutes of sections on 2026-11-23, the
# gateway 8 of them); the full run needs about 10 GiB of free memory for the 1,000-session round. Exit status: 0 when every section ran, 1 when one failed (the report is
# written either way), 2 on a usage error or a failed build.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ALL_SECTIONS=(permission api gateway recording automation plugins web)

usage() { sed -n '6,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

COMMAND_LINE="tests/bench/run.sh"
for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./,=:@+-]+$ ]]; then COMMAND_LINE+=" $a"; else COMMAND_LINE+=" $(printf '%q' "$a")"; fi
done

QUICK=0
ONLY=""
OUT=$ROOT
BUILD=1
LOGS=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) QUICK=1 ;;
        --only) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; ONLY=$2; shift ;;
        --only=*) ONLY=${1#--only=} ;;
        --out) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; OUT=$2; shift ;;
        --out=*) OUT=${1#--out=} ;;
        --no-build) BUILD=0 ;;
        --logs) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; LOGS=$2; shift ;;
        --logs=*) LOGS=${1#--logs=} ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

SECTIONS=()
SKIPPED=()
if [[ -n "$ONLY" ]]; then
    IFS=',' read -r -a wanted <<<"$ONLY"
    for w in "${wanted[@]}"; do
        [[ " ${ALL_SECTIONS[*]} " == *" $w "* ]] ||
            { echo "unknown section: $w (sections: ${ALL_SECTIONS[*]})" >&2; exit 2; }
    done
    for s in "${ALL_SECTIONS[@]}"; do
        if [[ ",$ONLY," == *",$s,"* ]]; then SECTIONS+=("$s"); else SKIPPED+=("$s"); fi
    done
else
    SECTIONS=("${ALL_SECTIONS[@]}")
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
[[ -z "$LOGS" ]] || { mkdir -p "$LOGS"; LOGS=$(cd "$LOGS" && pwd); }

TMP=""
CHILD=""
cleanup() {
    local rc=$?
    if [[ -n "$CHILD" ]] && kill -0 "$CHILD" 2>/dev/null; then
        # The section's own exit trap stops what it started.
        kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    [[ -n "$TMP" && -d "$TMP" ]] && rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TMP=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench-run.XXXXXX")
log() { echo "==== $(date -u +%H:%M:%S) $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(loadavg)
# The commit measured is the one checked out when the run starts (and is built).
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=0
[[ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] || DIRTY=1
log "benchmark suite: ${SECTIONS[*]}$([[ $QUICK == 1 ]] && echo ' (quick)'); load average $LOAD_START"

# --- build once --------------------------------------------------------------------------
BUILD_SECONDS=""
BUILD_NOTE=""
GUESTS_FAILED=""
if [[ $BUILD == 1 ]]; then
    t=$(now)
    log "cargo build --release -p portcullis"
    (cd "$ROOT" && cargo build --release -p portcullis) ||
        { echo "the release build failed: no benchmark can run" >&2; exit 2; }
    if [[ " ${SECTIONS[*]} " == *" plugins "* ]]; then
        log "building the plugin guests (plugins/build.sh, examples/build.sh --no-tests)"
        if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
            rustup target add wasm32-wasip2 || true
        fi
        (cd "$ROOT" && bash plugins/build.sh && bash examples/build.sh --no-tests) ||
            GUESTS_FAILED="building the plugin guests failed (plugins/build.sh, examples/build.sh --no-tests)"
    fi
    BUILD_SECONDS=$(elapsed "$t")
else
    BUILD_NOTE="not rebuilt (--no-build): target/release/portcullis of $(date -u -r "$ROOT/target/release/portcullis" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo '(missing)')"
fi

# --- sections ----------------------------------------------------------------------------
# One line per section for the run file: section, exit status, seconds, fragment, log.
: >"$TMP/sections.tsv"
FAILED=()
for s in "${SECTIONS[@]}"; do
    script="$ROOT/tests/bench/$s.sh"
    frag="$TMP/$s.json"
    slog="$TMP/$s.log"
    t=$(now)
    status=0
    if [[ ! -f "$script" ]]; then
        echo "tests/bench/$s.sh does not exist" >"$slog"
        status=127
    elif [[ $s == plugins && -n "$GUESTS_FAILED" ]]; then
        echo "$GUESTS_FAILED" >"$slog"
        status=1
    else
        log "section $s: tests/bench/$s.sh"
        env NO_BUILD=1 BENCH_JSON="$frag" BENCH_QUICK="$QUICK" \
            bash "$script" > >(tee "$slog" >&2) 2>&1 &
        CHILD=$!
        wait "$CHILD" || status=$?
        CHILD=""
        # Let tee finish writing the log.
        sleep 0.2
    fi
    secs=$(elapsed "$t")
    if [[ $status == 0 ]]; then
        log "section $s: done in $secs s"
    else
        FAILED+=("$s")
        log "section $s: FAILED (exit status $status) after $secs s; the run goes on"
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$s" "$status" "$secs" "$frag" "$slog" >>"$TMP/sections.tsv"
    [[ -z "$LOGS" ]] || cp "$slog" "$LOGS/$s.log"
done

# --- report ------------------------------------------------------------------------------
FINISHED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_END=$(loadavg)
COMMAND_LINE="$COMMAND_LINE" QUICK="$QUICK" STARTED="$STARTED" FINISHED="$FINISHED" \
    LOAD_START="$LOAD_START" LOAD_END="$LOAD_END" BUILD_SECONDS="$BUILD_SECONDS" \
    BUILD_NOTE="$BUILD_NOTE" SKIPPED="${SKIPPED[*]}" COMMIT="$COMMIT" DIRTY="$DIRTY" python3 - "$TMP/sections.tsv" >"$TMP/run.json" <<'PY'
import json, os, sys

def tail(path, n=15):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])

sections = []
with open(sys.argv[1], encoding="utf-8") as fh:
    for line in fh:
        name, status, secs, frag, log = line.rstrip("\n").split("\t")
        sections.append({
            "section": name, "status": int(status), "seconds": float(secs), "fragment": frag,
            "log_tail": tail(log) if int(status) != 0 else "",
        })
e = os.environ
json.dump({
    "command": e["COMMAND_LINE"], "quick": e["QUICK"] == "1",
    "started": e["STARTED"], "finished": e["FINISHED"],
    "commit": e["COMMIT"], "dirty": e["DIRTY"] == "1",
    "loadavg_start": e["LOAD_START"], "loadavg_end": e["LOAD_END"],
    "build_seconds": float(e["BUILD_SECONDS"]) if e["BUILD_SECONDS"] else None,
    "build_note": e["BUILD_NOTE"] or None,
    "skipped": e["SKIPPED"].split() if e["SKIPPED"] else [],
    "sections": sections,
}, sys.stdout, indent=2)
PY
python3 "$ROOT/tests/bench/report.py" --run "$TMP/run.json" --root "$ROOT" \
    --md "$OUT/BENCHMARKS.md" --json "$OUT/BENCHMARKS.json" --findings "$ROOT/tests/bench/findings.md"

log "wall time per section:"
while IFS=$'\t' read -r s status secs _ _; do
    printf '   %-11s %8s s  %s\n' "$s" "$secs" "$([[ $status == 0 ]] && echo ok || echo "FAILED ($status)")" >&2
done <"$TMP/sections.tsv"
[[ -z "$BUILD_SECONDS" ]] || printf '   %-11s %8s s\n' build "$BUILD_SECONDS" >&2
if [[ ${#FAILED[@]} -gt 0 ]]; then
    log "failed sections: ${FAILED[*]} (recorded in $OUT/BENCHMARKS.md)"
    exit 1
fi
log "wrote $OUT/BENCHMARKS.md and $OUT/BENCHMARKS.json"
