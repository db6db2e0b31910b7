#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls this script).
#
# It installs the system packages the tests need, starts a throwaway PostgreSQL cluster on a
# free loopback port (so the same suite runs on SQLite and on PostgreSQL), runs every test,
# and stops and removes everything it started, also when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v sqlite3 >/dev/null || need_pkgs+=(sqlite3)
command -v ssh-keygen >/dev/null && command -v ssh >/dev/null || need_pkgs+=(openssh-client)
# The SSH gateway tests (tests/e2e/gateway.rs, target.rs): real sshd targets, the OpenSSH
# client with sshpass, expect for the interactive menu, asciinema to play recordings back.
[ -x /usr/sbin/sshd ] || need_pkgs+=(openssh-server)
command -v sshpass >/dev/null || need_pkgs+=(sshpass)
command -v expect >/dev/null || need_pkgs+=(expect)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v unshare >/dev/null || need_pkgs+=(util-linux)
# The JavaScript example connector (componentize-js from npm); the web UI, which the build
# compiles with npm (host/web/build.rs), and its browser tests (tests/web: playwright-core
# driving Debian's chromium).
command -v node >/dev/null && command -v npm >/dev/null || need_pkgs+=(nodejs npm)
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
# A CJK font, so the Simplified Chinese screens render as text in the browser screenshots.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_pkgs+=(fonts-wqy-microhei)
# The automation tests push accounts with sudo rules, which the Linux plugin checks with visudo;
# its local lifecycle test (plugins/linux/tests/local.rs) runs the sudo path for real.
command -v visudo >/dev/null || need_pkgs+=(sudo)
want_asciinema=0
command -v asciinema >/dev/null || want_asciinema=1
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] || need_pkgs+=(postgresql)
if [ ${#need_pkgs[@]} -gt 0 ] || [ "$want_asciinema" = 1 ]; then
  apt-get update -qq
  # Debian has asciinema; where the archive does not, it comes from PyPI into the venv below.
  if [ "$want_asciinema" = 1 ] && apt-cache policy asciinema 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    need_pkgs+=(asciinema)
  fi
  if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "installing: ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  fi
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
# sshd's privilege-separation directory (no systemd to make it).
mkdir -p /run/sshd

# --- throwaway PostgreSQL --------------------------------------------------------------
PG_DIR=$(mktemp -d /tmp/portcullis-pg.XXXXXX)
chmod 755 "$PG_DIR"
PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
as_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
[ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
stop_pg() {
  as_pg "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
trap stop_pg EXIT
as_pg "'$PG_BIN/initdb' -D '$PG_DIR/data' -A trust -U postgres" >/dev/null
as_pg "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -l '$PG_DIR/log' -o \"-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300\" -w start" >/dev/null
export PORTCULLIS_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
echo "PostgreSQL test cluster on port $PG_PORT"

# --- Python venv for the JumpServer-client compatibility test (tests/e2e/compat.rs) --------
# examples/jumpserver_script.py is a real JumpServer-style client (requests + httpsig); it runs
# from its own venv, made once and refreshed when examples/requirements.txt changes. The
# gateway tests take paramiko (a second SSH client) from the same venv.
PYENV="$PWD/target/pyenv"
if [ ! -x "$PYENV/bin/python" ] || ! cmp -s examples/requirements.txt "$PYENV/requirements.txt"; then
  python3 -m venv "$PYENV"
  "$PYENV/bin/python" -m pip install -q --disable-pip-version-check -r examples/requirements.txt
  cp examples/requirements.txt "$PYENV/requirements.txt"
fi
export PORTCULLIS_TEST_PYTHON="$PYENV/bin/python"
if command -v asciinema >/dev/null; then
  PORTCULLIS_TEST_ASCIINEMA=$(command -v asciinema)
else
  [ -x "$PYENV/bin/asciinema" ] || "$PYENV/bin/python" -m pip install -q --disable-pip-version-check asciinema
  PORTCULLIS_TEST_ASCIINEMA="$PYENV/bin/asciinema"
fi
export PORTCULLIS_TEST_ASCIINEMA

# --- plugin guests ------------------------------------------------------------------------
# WebAssembly components for the plugin tests: the Linux automation plugin and the misbehaving
# test guest (Rust, wasm32-wasip2), the example connectors in Rust, Python (componentize-py from
# PyPI) and JavaScript (componentize-js from npm). Built once here, so the tests that use them
# find them up to date instead of racing to build them.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
bash plugins/build.sh
# The Rust example's unit tests run with the workspace below; Python's and JavaScript's here.
bash examples/build.sh --no-tests rust
bash examples/build.sh python js

# --- build once, then test ---------------------------------------------------------------
cargo build --workspace --all-targets
LOG=$(mktemp /tmp/portcullis-tests.XXXXXX)
set +e
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
# The benchmark report generator's unit tests (tests/bench/report.py, fragment.py; under a
# second). The benchmarks themselves never run here: `tests/bench/run.sh` is run by hand.
python3 -m unittest discover -s tests/bench -p 'test_*.py' || status=1
# One closing line for the whole suite (cargo prints one per test binary, the last of which
# is often an empty doc-test run).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "suite: %d passed, %d failed\n", p, f }' "$LOG"
rm -f "$LOG"
exit "$status"
