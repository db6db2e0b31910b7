#!/usr/bin/env bash
# Permission engine benchmark (see BENCHMARKS.md): `portcullis bench` on SQLite and on
# PostgreSQL, one after the other — the first page of 100 permitted assets with the total count,
# the permitted node tree, one asset's grant and the rebuild of the user's materialized grant,
# on the 100,000-asset / 10,000-node / 100-group / 1,000-permission inventory.
#
# SQLite runs in a fresh temporary database. For PostgreSQL the script starts a throwaway
# cluster (initdb as the `postgres` user in a temporary directory, a free loopback port,
# fsync off) and creates an empty database, unless BENCH_POSTGRES_URL names a server and an
# empty database to use; it stops the cluster and removes the directory on exit. Installs
# PostgreSQL with apt-get when missing and purges what it installed on exit.
#
# Settings (environment): ASSETS (100000), NODES (10000), GROUP_COUNT (100), PERMISSIONS (1000),
# ITERATIONS (20); BENCH_QUICK=1 makes the defaults 20000 / 2000 / 100 / 200 / 5 (targets are
# then not judged); BENCH_POSTGRES_URL; NO_BUILD=1 to use the existing target/release/portcullis;
# BENCH_JSON=FILE writes the section's report fragment (tests/bench/report.py).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN="$ROOT/target/release/portcullis"
if [[ "${BENCH_QUICK:-}" == 1 ]]; then
    ASSETS=${ASSETS:-20000} NODES=${NODES:-2000} GROUP_COUNT=${GROUP_COUNT:-100} PERMISSIONS=${PERMISSIONS:-200}
    ITERATIONS=${ITERATIONS:-5}
else
    ASSETS=${ASSETS:-100000} NODES=${NODES:-10000} GROUP_COUNT=${GROUP_COUNT:-100} PERMISSIONS=${PERMISSIONS:-1000}
    ITERATIONS=${ITERATIONS:-20}
fi

unset PORTCULLIS_CONFIG PORTCULLIS_DATA_DIR PORTCULLIS_DATABASE_URL PORTCULLIS_MASTER_KEY \
    PORTCULLIS_MASTER_KEY_FILE PORTCULLIS_HTTP_ADDR PORTCULLIS_SSH_ADDR PORTCULLIS_ADMIN_PASSWORD

SIZE=(--assets "$ASSETS" --nodes "$NODES" --groups "$GROUP_COUNT" --permissions "$PERMISSIONS" --iterations "$ITERATIONS")
NOTES=()
SQLITE_JSON="" PG_JSON="" PG_VERSION=""
TMP=""
PG_DIR=""
PG_BIN=""
INSTALLED_PKGS=""

as_pg() {
    if [[ $(id -u) == 0 ]]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

cleanup() {
    local rc=$?
    [[ $rc == 0 ]] || write_fragment "The script stopped early (exit status $rc); see its output."
    if [[ -n "$PG_DIR" && -d "$PG_DIR/data" ]]; then
        as_pg "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m fast stop" >/dev/null 2>&1 ||
            as_pg "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m immediate stop" >/dev/null 2>&1 || true
    fi
    [[ -n "$PG_DIR" && -d "$PG_DIR" ]] && rm -rf "$PG_DIR"
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

# The section's report fragment (BENCH_JSON): what was measured, null figures for the rest.
# Also written from the exit trap when the script stops early.
FRAGMENT_DONE=""
write_fragment() {
    [[ -n "${BENCH_JSON:-}" && -z "$FRAGMENT_DONE" ]] || return 0
    FRAGMENT_DONE=1
    local cmd="ASSETS=$ASSETS NODES=$NODES GROUP_COUNT=$GROUP_COUNT PERMISSIONS=$PERMISSIONS ITERATIONS=$ITERATIONS tests/bench/permission.sh"
    cmd+="   # = portcullis bench ${SIZE[*]} [--database-url postgres://…]"
    local args=(permission --out "$BENCH_JSON" --command "$cmd"
        --setting "assets=$ASSETS" --setting "nodes=$NODES" --setting "groups=$GROUP_COUNT"
        --setting "permissions=$PERMISSIONS" --setting "iterations=$ITERATIONS")
    if [[ -n "$PG_VERSION" ]]; then
        args+=(--setting "postgres=$PG_VERSION")
    elif [[ -n "${BENCH_POSTGRES_URL:-}" ]]; then
        args+=(--setting "postgres=the server of BENCH_POSTGRES_URL")
    fi
    [[ -n "$PG_DIR" ]] && args+=(--setting "postgres_cluster=throwaway, loopback, fsync=off")
    [[ -n "$SQLITE_JSON" ]] && args+=(--sqlite "$SQLITE_JSON")
    [[ -n "$PG_JSON" ]] && args+=(--postgres "$PG_JSON")
    local n
    for n in "$@" "${NOTES[@]}"; do args+=(--note "$n"); done
    python3 "$ROOT/tests/bench/fragment.py" "${args[@]}" || echo "could not write $BENCH_JSON" >&2
}

if [[ "${NO_BUILD:-}" != 1 ]]; then
    log "building the release binary"
    (cd "$ROOT" && cargo build --release -p portcullis >&2)
fi
[[ -x "$BIN" ]] || { echo "no binary at $BIN" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-perm-bench.XXXXXX")

# --- SQLite --------------------------------------------------------------------------------
log "SQLite: portcullis bench ${SIZE[*]}"
if PORTCULLIS_LOG=warn "$BIN" bench "${SIZE[@]}" --json "$TMP/sqlite.json" >&2; then
    SQLITE_JSON=$TMP/sqlite.json
else
    NOTES+=("SQLite: portcullis bench failed (exit status $?); see the script's output.")
fi

# --- PostgreSQL ----------------------------------------------------------------------------
PG_URL=${BENCH_POSTGRES_URL:-}
if [[ -z "$PG_URL" ]]; then
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -z "$PG_BIN" || ! -x "$PG_BIN/initdb" ]]; then
        log "installing postgresql"
        sudo=""
        [[ $(id -u) -ne 0 ]] && sudo="sudo"
        before=$(dpkg-query -W -f='${Package}\n' | sort)
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null ||
            { $sudo apt-get update -qq >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
        after=$(dpkg-query -W -f='${Package}\n' | sort)
        INSTALLED_PKGS=$(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')
        PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    PG_DIR=$(mktemp -d /tmp/portcullis-bench-pg.XXXXXX)
    chmod 755 "$PG_DIR"
    [[ $(id -u) == 0 ]] && chown postgres "$PG_DIR"
    PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    log "starting a throwaway PostgreSQL cluster on 127.0.0.1:$PG_PORT"
    as_pg "'$PG_BIN/initdb' -D '$PG_DIR/data' -A trust -U postgres" >/dev/null
    as_pg "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -l '$PG_DIR/log' -o \"-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off\" -w start" >/dev/null
    as_pg "'$PG_BIN/createdb' -h 127.0.0.1 -p $PG_PORT bench"
    PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/bench"
    PG_VERSION=$("$PG_BIN/postgres" --version)
fi
log "PostgreSQL: portcullis bench ${SIZE[*]} --database-url ${PG_URL%%\?*}"
if PORTCULLIS_LOG=warn "$BIN" bench "${SIZE[@]}" --database-url "$PG_URL" --json "$TMP/pg.json" >&2; then
    PG_JSON=$TMP/pg.json
else
    NOTES+=("PostgreSQL: portcullis bench failed (exit status $?); see the script's output.")
fi

# --- fragment ------------------------------------------------------------------------------
write_fragment
for n in "${NOTES[@]}"; do echo "note: $n" >&2; done
[[ -n "$SQLITE_JSON" && -n "$PG_JSON" ]]
