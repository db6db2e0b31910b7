#!/usr/bin/env bash
# Web terminal under bulk output (issue 6, Performance: "the web terminal keeps up with `cat` of
# a large file without freezing the tab"). The second part of the suite's `web` section
# (tests/bench/web.sh runs it with NO_BUILD=1 and turns its JSON into figures with
# tests/bench/fragment.py web); also runs on its own.
#
# A target sshd (/usr/sbin/sshd as root on a free loopback port, key authentication, set up by
# tests/bench/lib.sh as the gateway bench does), `portcullis serve` (release build, UI embedded,
# fresh SQLite data directory) with user `bench`, asset `bench-target`, account root (SSH key)
# and a permission, and a text file of BENCH_SIZE_MIB MiB (`seq` output) on the target. Then
# tests/bench/web/terminal_cat.mjs in headless chromium signs in as `bench`, opens the web
# terminal to the asset and types `cat FILE; echo END-…`, measuring the time to the end
# marker, the throughput, the longest main-thread stall and how fast the page answers while the
# output streams (see that file). Prints the figures as JSON (stdout). Needs root.
#
# Settings (environment): BENCH_SIZE_MIB (32), BENCH_ROUNDS (3), NO_BUILD=1 to use the existing
# binary (BENCH_BIN: another one), SERVER_LOG (warn), PC_CHROMIUM (/usr/bin/chromium).
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_init web-terminal
SIZE_MIB=${BENCH_SIZE_MIB:-32}
ROUNDS=${BENCH_ROUNDS:-3}
ASSET=bench-target
bench_whole SIZE_MIB ROUNDS
bench_require_root "the target sshd logs in as root with a key"
bench_need_ssh_tools
bench_need_browser

bench_build
bench_tmp
bench_keys client account target_host
cat "$TMP/client.pub" "$TMP/account.pub" >"$TMP/ak"
chmod 600 "$TMP/ak"
mkdir -p "$TMP/home"
TPORT=$(free_port)
start_sshd target "$TPORT" no
start_gateway
bench_setup_target_user

FILE="$TMP/big.txt"
seq 1 1000000000 | head -c $((SIZE_MIB * 1048576)) >"$FILE" || true
echo >>"$FILE"
log "$(stat -c %s "$FILE") bytes of seq output in $FILE; $ROUNDS rounds in headless chromium"

PC_BASE_URL=$BASE PC_USER=bench PC_PASSWORD="$ADMIN_PASSWORD-u" PC_ASSET=$ASSET PC_CHROMIUM=$CHROMIUM \
    PC_ARTIFACTS="$TMP/artifacts" BENCH_FILE=$FILE BENCH_ROUNDS=$ROUNDS \
    node "$ROOT/tests/bench/web/terminal_cat.mjs"
bench_gateway_log_note
echo "machine: $(bench_machine); commit $(bench_commit), $(date -u +%FT%TZ), $("$BIN" --version 2>/dev/null | head -n1)" >&2
