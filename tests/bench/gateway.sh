#!/usr/bin/env bash
# SSH gateway benchmark (see BENCHMARKS.md): every gateway figure next to two baselines measured
# in the same run — straight to the target sshd ("direct") and through an OpenSSH jump host
# (`ssh -J`, two SSH hops) — with aes256-gcm@openssh.com and curve25519-sha256 on every leg and
# session recording on (the gateway records every session; it cannot be turned off):
#   1. bulk transfer, exec: `cat` of a file of random bytes (BENCH_SIZE_MIB, 1 GiB) to the client
#   2. bulk transfer, SFTP: `get` of the same file with the sftp client's default settings
#   3. gateway CPU (utime + stime from /proc) per GiB moved in 1 and 2
#   4. echo latency per keystroke (tests/bench/gateway/probe.py echo: one byte out, wait for it
#      to come back, light-typing pauses in between), p50/p99 and the p99 added over direct
#   5. connection setup: median wall time of `ssh … true`
#   6. concurrency: BENCH_SESSIONS interactive sessions held open with light typing; gateway RSS
#      per idle session (and the jump host's per-session Pss for comparison)
# Prints the machine, the figures as a Markdown table with the targets and met/missed marks
# (stdout), progress on stderr.
#
# Everything runs on free loopback ports out of one temporary directory: the target sshd and the
# jump-host sshd (both /usr/sbin/sshd as root, key authentication only, their own configuration;
# no OS user is created), and `portcullis serve` (release build) with a fresh SQLite data
# directory set up through the REST API: user `bench` with the client's public key, asset
# `bench-target` (ssh + sftp on the target's port), account `root` with an SSH key, a permission
# granting all of it. On exit every process started here (and its descendants) is stopped by PID,
# the directory is removed, and packages this script installed are purged. Needs root.
#
# Settings (environment):
#   BENCH_SIZE_MIB (1024)      size of the transferred file
#   BENCH_REPEAT (3)           runs of each transfer (the median is reported)
#   BENCH_KEYSTROKES (1000)    measured keystrokes per echo probe (after 50 warm-up ones)
#   BENCH_SETUP_RUNS (20)      connections per path for the setup time
#   BENCH_SESSIONS (1000)      concurrent gateway sessions; 0 skips the concurrency test
#   BENCH_TYPE_SECS (30)       light typing into all held sessions (one key per session every
#                              BENCH_TYPE_INTERVAL (2) seconds on average), then 5 s idle
#   BENCH_JUMP_SESSIONS (1)    0 skips holding the same number of sessions through the jump host
#   BENCH_TIMEOUT (120)        seconds for any one client call (transfers: at least 4 MiB/s)
#   SERVER_LOG (warn)          the gateway's PORTCULLIS_LOG
#   NO_BUILD=1                 use the existing target/release/portcullis
# Resources: 1,000 held sessions cost about 10 GiB in OpenSSH processes (clients, the target's
# sshd and `cat`; the jump-host round starts after the gateway's sessions are closed), and the
# gateway's recordings of the exec transfers take about 2.4× the bytes moved on disk under
# TMPDIR (about 7.5 GiB for the full run). The file must lie below the Linux platform's SFTP
# root on the target (sftp_home, /tmp), which the default TMPDIR does.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN="$ROOT/target/release/portcullis"
PROBE="$ROOT/tests/bench/gateway/probe.py"
SIZE_MIB=${BENCH_SIZE_MIB:-1024}
REPEAT=${BENCH_REPEAT:-3}
KEYSTROKES=${BENCH_KEYSTROKES:-1000}
SETUP_RUNS=${BENCH_SETUP_RUNS:-20}
SESSIONS=${BENCH_SESSIONS:-1000}
TYPE_SECS=${BENCH_TYPE_SECS:-30}
TYPE_INTERVAL=${BENCH_TYPE_INTERVAL:-2}
JUMP_SESSIONS=${BENCH_JUMP_SESSIONS:-1}
TIMEOUT=${BENCH_TIMEOUT:-120}
SERVER_LOG=${SERVER_LOG:-warn}
CIPHER=aes256-gcm@openssh.com
KEX=curve25519-sha256
ASSET=bench-target
# The remote side of every interactive probe: raw terminal, a marker, then every byte echoed.
ECHO_CMD='stty raw -echo; echo PCB-READY; exec cat'

# Nothing from the caller's environment may point the binary at another installation.
unset PORTCULLIS_CONFIG PORTCULLIS_DATA_DIR PORTCULLIS_DATABASE_URL PORTCULLIS_MASTER_KEY \
    PORTCULLIS_MASTER_KEY_FILE PORTCULLIS_HTTP_ADDR PORTCULLIS_SSH_ADDR PORTCULLIS_ADMIN_PASSWORD

log() { echo "== $*" >&2; }
die() { echo "gateway.sh: $*" >&2; exit 1; }

for v in SIZE_MIB REPEAT KEYSTROKES SETUP_RUNS SESSIONS TIMEOUT; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
done
((SIZE_MIB > 0 && REPEAT > 0 && SETUP_RUNS > 0 && KEYSTROKES > 0)) || die "sizes and counts must be > 0"
[[ $(id -u) -eq 0 ]] || die "run as root: the target and jump-host sshd log in as root with a key"

TMP=""
GW_PID=""
TARGET_PID=""
JUMP_PID=""
PROBE_PID=""
INSTALLED_PKGS=""
MADE_RUN_SSHD=0

# A process and all its descendants, deepest first (an sshd keeps one process per connection).
tree_of() {
    local p
    for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do tree_of "$p"; done
    echo "$1"
}
stop_tree() {
    local root=$1 pids p
    kill -0 "$root" 2>/dev/null || return 0
    pids=$(tree_of "$root")
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    for _ in $(seq 50); do
        local alive=0
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    wait "$root" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n "$PROBE_PID" ]] && stop_tree "$PROBE_PID"
    [[ -n "$GW_PID" ]] && stop_tree "$GW_PID"
    [[ -n "$JUMP_PID" ]] && stop_tree "$JUMP_PID"
    [[ -n "$TARGET_PID" ]] && stop_tree "$TARGET_PID"
    [[ -n "$TMP" && -d "$TMP" ]] && rm -rf "$TMP"
    ((MADE_RUN_SSHD)) && rmdir /run/sshd 2>/dev/null
    if [[ -n "$INSTALLED_PKGS" ]]; then
        echo "removing what this script installed: $INSTALLED_PKGS" >&2
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $INSTALLED_PKGS >/dev/null 2>&1 || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools -----------------------------------------------------------------------------------
need=()
[[ -x /usr/sbin/sshd ]] || need+=(openssh-server)
command -v ssh >/dev/null && command -v sftp >/dev/null && command -v ssh-keygen >/dev/null ||
    need+=(openssh-client)
command -v curl >/dev/null || need+=(curl)
command -v ps >/dev/null || need+=(procps)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    before=$(dpkg-query -W -f='${Package}\n' | sort)
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }; } ||
        die "could not install ${need[*]}"
    after=$(dpkg-query -W -f='${Package}\n' | sort)
    INSTALLED_PKGS=$(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')
fi
if [[ ! -d /run/sshd ]]; then # sshd's privilege-separation directory (no systemd to make it)
    mkdir -p /run/sshd
    MADE_RUN_SSHD=1
fi

# Descriptors: the gateway holds two sockets per session (client, target) plus its recording,
# the probe one terminal per session.
hard=$(ulimit -Hn)
[[ "$hard" == unlimited ]] && hard=1048576
ulimit -n "$hard"
((SESSIONS * 4 + 256 <= hard)) || die "BENCH_SESSIONS=$SESSIONS needs more descriptors than the hard limit $hard"

# --- build -----------------------------------------------------------------------------------
if [[ "${NO_BUILD:-}" != 1 ]]; then
    log "building the release binary"
    (cd "$ROOT" && cargo build --release -p portcullis >&2)
fi
[[ -x "$BIN" ]] || die "no binary at $BIN"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-gw-bench.XXXXXX")
chmod 755 "$TMP"
DATA="$TMP/data"
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
now_ns() { date +%s%N; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port pid what
    for _ in $(seq 300); do
        port_open "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# --- keys, sshd: target and jump host --------------------------------------------------------
for k in client account target_host jump_host; do
    ssh-keygen -q -t ed25519 -N '' -C "bench-$k" -f "$TMP/$k"
done
cat "$TMP/client.pub" "$TMP/account.pub" >"$TMP/ak"
mkdir -p "$TMP/home"
chmod 600 "$TMP/ak"

start_sshd() { # name port forwarding(yes|no) -> sets LAST_PID
    local name=$1 port=$2
    cat >"$TMP/$name.conf" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $TMP/${name}_host
PidFile $TMP/$name.pid
PermitRootLogin prohibit-password
AuthorizedKeysFile $TMP/ak
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
Ciphers $CIPHER
KexAlgorithms $KEX
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding $3
PermitTTY yes
MaxSessions 100
# root's own ~/.bashrc (which bash reads for commands sshd runs) stays out of every figure.
SetEnv HOME=$TMP/home
MaxStartups 10000
LoginGraceTime 300
LogLevel ERROR
Subsystem sftp internal-sftp
EOF
    /usr/sbin/sshd -t -f "$TMP/$name.conf" || die "sshd rejects the $name configuration"
    /usr/sbin/sshd -D -e -f "$TMP/$name.conf" 2>>"$TMP/$name.log" &
    LAST_PID=$!
    wait_port "$port" "$LAST_PID" || { cat "$TMP/$name.log" >&2; die "the $name sshd did not start"; }
}
TPORT=$(free_port)
start_sshd target "$TPORT" no
TARGET_PID=$LAST_PID
JPORT=$(free_port)
start_sshd jump "$JPORT" yes
JUMP_PID=$LAST_PID
log "target sshd on 127.0.0.1:$TPORT (pid $TARGET_PID), jump host on 127.0.0.1:$JPORT (pid $JUMP_PID)"

# One client configuration for every connection, so that the jump host's own connection
# (`ssh -J` runs a second ssh with the same -F) uses the same cipher, key exchange and key.
CFG="$TMP/ssh_config"
cat >"$CFG" <<EOF
Host *
  IdentityFile $TMP/client
  IdentitiesOnly yes
  IdentityAgent none
  BatchMode yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  GlobalKnownHostsFile /dev/null
  UpdateHostKeys no
  LogLevel ERROR
  Ciphers $CIPHER
  KexAlgorithms $KEX
  Compression no
  ControlMaster no
  ControlPath none
  ForwardAgent no
  ForwardX11 no
  EscapeChar none
  ConnectTimeout 60
EOF
SSH_OPTS=(-F "$CFG" -c "$CIPHER" -o "KexAlgorithms=$KEX")

# --- portcullis ------------------------------------------------------------------------------
HTTP_PORT=$(free_port)
GPORT=$(free_port)
BASE="http://127.0.0.1:$HTTP_PORT"
ADMIN_PASSWORD="Bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
start_gateway() {
    PORTCULLIS_ADMIN_PASSWORD=$ADMIN_PASSWORD PORTCULLIS_LOG=$SERVER_LOG "$BIN" serve \
        --data-dir "$DATA" --http-addr "127.0.0.1:$HTTP_PORT" --ssh-addr "127.0.0.1:$GPORT" \
        >>"$TMP/gateway.log" 2>&1 &
    GW_PID=$!
    for _ in $(seq 600); do
        curl -fsS -o /dev/null "$BASE/api/health/" 2>/dev/null && port_open "$GPORT" && return 0
        kill -0 "$GW_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 30 "$TMP/gateway.log" >&2
    die "portcullis serve did not come up"
}
log "starting portcullis serve: http $BASE, ssh 127.0.0.1:$GPORT (PORTCULLIS_LOG=$SERVER_LOG)"
start_gateway

token_of() {
    "$BIN" admin --data-dir "$DATA" create-token --username "$1" 2>>"$TMP/admin.err" | tail -n 1 ||
        { cat "$TMP/admin.err" >&2; die "could not create a token for $1"; }
}
# api TOKEN METHOD PATH [JSON] -> body on stdout; dies on an answer other than 2xx.
api() {
    local out code
    out=$(curl -sS -X "$2" -H "Authorization: Token $1" -H 'Content-Type: application/json' \
        ${4:+--data-binary "$4"} -w '\n%{http_code}' "$BASE$3") || die "$2 $3: curl failed"
    code=${out##*$'\n'}
    [[ "$code" == 2* ]] || die "$2 $3 answered $code: ${out%$'\n'*}"
    printf '%s\n' "${out%$'\n'*}"
}
jget() { python3 -c 'import json, sys; v = json.load(sys.stdin)
for k in sys.argv[1:]: v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$@"; }

log "setting up user bench, asset $ASSET, account root (SSH key), permission"
ADMIN=$(token_of admin)
[[ -n "$ADMIN" ]] || die "empty admin token"
api "$ADMIN" POST /api/v1/users/users/ "$(python3 -c 'import json, sys
print(json.dumps({"username": "bench", "name": "bench", "email": "bench@bench.invalid",
                  "password": sys.argv[1], "need_update_password": False}))' "$ADMIN_PASSWORD-u")" \
    >"$TMP/user.json"
BENCH_USER_ID=$(jget id <"$TMP/user.json")
BENCH=$(token_of bench)
api "$BENCH" POST /api/v1/authentication/ssh-key/ \
    "$(python3 -c 'import json, sys; print(json.dumps({"public_key": open(sys.argv[1]).read().strip()}))' "$TMP/client.pub")" \
    >/dev/null
PLATFORM=$(api "$ADMIN" GET '/api/v1/assets/platforms/?name=Linux' |
    python3 -c 'import json, sys; v = json.load(sys.stdin); v = v.get("results", v) if isinstance(v, dict) else v
print(next(p["id"] for p in v if p["name"] == "Linux"))') || die "no Linux platform"
ASSET_ID=$(api "$ADMIN" POST /api/v1/assets/hosts/ "{\"name\": \"$ASSET\", \"address\": \"127.0.0.1\",
    \"platform\": $PLATFORM, \"protocols\": [{\"name\": \"ssh\", \"port\": $TPORT}, {\"name\": \"sftp\", \"port\": $TPORT}]}" |
    jget id)
api "$ADMIN" POST /api/v1/accounts/accounts/ "$(python3 -c 'import json, sys
print(json.dumps({"asset": sys.argv[1], "name": "root", "username": "root", "secret_type": "ssh_key",
                  "secret": open(sys.argv[2]).read()}))' "$ASSET_ID" "$TMP/account")" >/dev/null
api "$ADMIN" POST /api/v1/perms/asset-permissions/ "{\"name\": \"bench\", \"users\": [\"$BENCH_USER_ID\"],
    \"assets\": [\"$ASSET_ID\"], \"accounts\": [\"@ALL\"], \"protocols\": [\"all\"], \"actions\": [\"all\"]}" >/dev/null

# The three paths, as ssh arguments before the remote command.
DIRECT=(-p "$TPORT" -l root 127.0.0.1)
JUMP=(-J "root@127.0.0.1:$JPORT" -p "$TPORT" -l root 127.0.0.1)
GATEWAY=(-p "$GPORT" -o "User=bench@root@$ASSET" 127.0.0.1)
# sftp takes -P for the port and the user from -o.
SFTP_DIRECT=(-P "$TPORT" -o User=root 127.0.0.1)
SFTP_JUMP=(-J "root@127.0.0.1:$JPORT" -P "$TPORT" -o User=root 127.0.0.1)
SFTP_GATEWAY=(-P "$GPORT" -o "User=bench@root@$ASSET" 127.0.0.1)
PATHS=(direct jump gateway)
ssh_args() { # path -> the array's name
    case $1 in direct) echo "DIRECT[@]" ;; jump) echo "JUMP[@]" ;; gateway) echo "GATEWAY[@]" ;; esac
}

NOTES=()
note() { NOTES+=("$*"); log "NOTE: $*"; }
check_path() { # path
    local a out
    a=$(ssh_args "$1")
    out=$(timeout -k 5 "$TIMEOUT" ssh "${SSH_OPTS[@]}" "${!a}" 'echo ok' 2>"$TMP/err") && [[ "$out" == ok ]] ||
        { echo "login through $1: stdout '$out', stderr: $(head -c 500 "$TMP/err")" >&2; return 1; }
}
check_path direct || die "cannot log in to the target directly"
check_path jump || die "cannot log in to the target through the jump host"
check_path gateway || { tail -n 30 "$TMP/gateway.log" >&2; die "cannot log in through the gateway as bench@root@$ASSET"; }
log "all three paths log in"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
fmt() { awk -v v="$1" -v f="${2:-%.1f}" 'BEGIN { if (v == "" || v == "nan") print "n/a"; else printf f, v }'; }
cpu_ticks() { sed 's/.*) //' "/proc/$GW_PID/stat" | awk '{print $12 + $13}'; } # utime + stime
CLK_TCK=$(getconf CLK_TCK)

# --- 1, 2, 3: bulk transfers -----------------------------------------------------------------
BLOB="$TMP/blob"
SIZE_BYTES=$((SIZE_MIB * 1048576))
log "writing $SIZE_MIB MiB of random bytes to $BLOB"
head -c "$SIZE_BYTES" /dev/urandom >"$BLOB"
BULK_TIMEOUT=$((SIZE_MIB / 4 > TIMEOUT ? SIZE_MIB / 4 : TIMEOUT))

# transfer KIND PATH -> "seconds cpu_ticks" (cpu only meaningful through the gateway)
transfer() {
    local kind=$1 path=$2 a t0 t1 c0 c1 n
    c0=$(cpu_ticks)
    t0=$(now_ns)
    if [[ $kind == exec ]]; then
        a=$(ssh_args "$path")
        n=$(timeout -k 5 "$BULK_TIMEOUT" ssh "${SSH_OPTS[@]}" "${!a}" "cat $BLOB" 2>"$TMP/err" | wc -c) || true
        if [[ "$n" != "$SIZE_BYTES" ]]; then
            echo "exec cat through $path: $n of $SIZE_BYTES bytes: $(head -c 500 "$TMP/err")" >&2
            return 1
        fi
    else
        case $path in direct) a="SFTP_DIRECT[@]" ;; jump) a="SFTP_JUMP[@]" ;; gateway) a="SFTP_GATEWAY[@]" ;; esac
        local file=$BLOB
        [[ $path == gateway ]] && file=$GW_BLOB
        if ! printf 'get %s /dev/null\n' "$file" |
            timeout -k 5 "$BULK_TIMEOUT" sftp "${SSH_OPTS[@]}" -b - "${!a}" >"$TMP/err" 2>&1; then
            echo "sftp get through $path failed: $(head -c 500 "$TMP/err")" >&2
            return 1
        fi
    fi
    t1=$(now_ns)
    c1=$(cpu_ticks)
    echo "$(((t1 - t0) / 1000)) $((c1 - c0))"
}

declare -A MIBS CPU_GIB
# Through the gateway, `/` of a direct SFTP login is the platform's `sftp_home` on the target
# (Linux: /tmp); the file's path there is its path below that directory.
SFTP_HOME=$(api "$ADMIN" GET "/api/v1/assets/platforms/$PLATFORM/" | python3 -c 'import json, sys
v = json.load(sys.stdin)
print(next((p.get("setting") or {}).get("sftp_home", "") for p in v["protocols"] if p["name"] == "sftp"))' 2>/dev/null || true)
ROOT_HOME=$(getent passwd root | cut -d: -f6)
case $SFTP_HOME in
"" | home | "~") SFTP_ROOT=$(realpath -m "$ROOT_HOME") ;;
"~/"*) SFTP_ROOT=$(realpath -m "$ROOT_HOME/${SFTP_HOME#"~/"}") ;;
/*) SFTP_ROOT=$(realpath -m "$SFTP_HOME") ;;
*) SFTP_ROOT=$(realpath -m "$ROOT_HOME/$SFTP_HOME") ;;
esac
BLOB_REAL=$(realpath "$BLOB")
SFTP_GW_OK=1
GW_BLOB=""
if [[ "$SFTP_ROOT" == / ]]; then
    GW_BLOB=$BLOB_REAL
elif [[ "$BLOB_REAL" == "$SFTP_ROOT"/* ]]; then
    GW_BLOB=${BLOB_REAL#"$SFTP_ROOT"}
else
    SFTP_GW_OK=0
    note "sftp: not measured through the gateway: its SFTP root on the target is $SFTP_ROOT (the platform's sftp_home '$SFTP_HOME'), which does not contain $BLOB_REAL (set TMPDIR below it)"
fi
# Is the gateway's SFTP there at all?
if ((SFTP_GW_OK)) && ! printf 'ls -l %s\n' "$GW_BLOB" |
    timeout -k 5 "$TIMEOUT" sftp "${SSH_OPTS[@]}" -b - "${SFTP_GATEWAY[@]}" >"$TMP/err" 2>&1; then
    SFTP_GW_OK=0
    note "sftp: not available through the gateway ($(tr '\n' ' ' <"$TMP/err" | head -c 300))"
fi
((SFTP_GW_OK)) && log "through the gateway's SFTP the file is $GW_BLOB (root: $SFTP_ROOT)"
for kind in exec sftp; do
    declare -A secs=() cpus=()
    for r in $(seq "$REPEAT"); do
        # Interleaved, so that a burst of noise on the machine hits all three paths alike.
        for path in "${PATHS[@]}"; do
            [[ $kind == sftp && $path == gateway && $SFTP_GW_OK == 0 ]] && continue
            if out=$(transfer "$kind" "$path"); then
                read -r us ticks <<<"$out"
                secs[$path]+="$us "
                [[ $path == gateway ]] && cpus[$path]+="$ticks "
                log "$kind $path run $r: $(awk -v us="$us" -v m="$SIZE_MIB" 'BEGIN {printf "%.1f MiB/s", m / (us / 1e6)}')"
            else
                [[ $path == gateway ]] || die "the $path $kind baseline failed"
                note "$kind through the gateway failed in run $r (see above)"
                [[ $kind == sftp ]] && SFTP_GW_OK=0
            fi
        done
    done
    for path in "${PATHS[@]}"; do
        # shellcheck disable=SC2086
        [[ -n "${secs[$path]:-}" ]] && MIBS[$kind.$path]=$(awk -v us="$(median ${secs[$path]})" -v m="$SIZE_MIB" 'BEGIN {print m / (us / 1e6)}')
    done
    if [[ -n "${cpus[gateway]:-}" ]]; then
        # shellcheck disable=SC2086
        CPU_GIB[$kind]=$(awk -v t="$(median ${cpus[gateway]})" -v hz="$CLK_TCK" -v m="$SIZE_MIB" 'BEGIN {print t / hz / (m / 1024)}')
    fi
    unset secs cpus
done
rm -f "$BLOB"

# --- 4: echo latency -------------------------------------------------------------------------
# run_probe OUT ARGS... : the probe in the background (so that TERM/INT reach the cleanup), its
# JSON in OUT.
run_probe() {
    local out=$1
    shift
    python3 "$PROBE" "$@" >"$out" 2>"$out.err" &
    PROBE_PID=$!
    local rc=0
    wait "$PROBE_PID" || rc=$?
    PROBE_PID=""
    return "$rc"
}
declare -A P50 P99
for path in "${PATHS[@]}"; do
    a=$(ssh_args "$path")
    log "echo latency through $path: $KEYSTROKES keystrokes"
    if run_probe "$TMP/echo.$path.json" echo --keystrokes "$KEYSTROKES" -- \
        timeout -k 5 $((TIMEOUT + KEYSTROKES / 5)) ssh -tt "${SSH_OPTS[@]}" "${!a}" "$ECHO_CMD"; then
        P50[$path]=$(jget p50_ms <"$TMP/echo.$path.json")
        P99[$path]=$(jget p99_ms <"$TMP/echo.$path.json")
        log "  $(cat "$TMP/echo.$path.json")"
    else
        [[ $path == gateway ]] || die "echo probe through $path failed: $(cat "$TMP/echo.$path.json" "$TMP/echo.$path.json.err")"
        note "echo probe through the gateway failed: $(cat "$TMP/echo.$path.json" "$TMP/echo.$path.json.err" | head -c 500)"
    fi
done

# --- 5: connection setup ---------------------------------------------------------------------
declare -A SETUP_RUNS_MS SETUP
log "connection setup: $SETUP_RUNS × ssh … true per path"
for r in $(seq "$SETUP_RUNS"); do
    for path in "${PATHS[@]}"; do
        a=$(ssh_args "$path")
        t0=$(now_ns)
        if timeout -k 5 "$TIMEOUT" ssh "${SSH_OPTS[@]}" "${!a}" true 2>"$TMP/err"; then
            t1=$(now_ns)
            SETUP_RUNS_MS[$path]+="$(awk -v d=$((t1 - t0)) 'BEGIN {print d / 1e6}') "
        else
            [[ $path == gateway ]] || die "ssh … true through $path failed: $(cat "$TMP/err")"
            note "ssh … true through the gateway failed in run $r: $(head -c 300 "$TMP/err")"
        fi
    done
done
for path in "${PATHS[@]}"; do
    # shellcheck disable=SC2086
    [[ -n "${SETUP_RUNS_MS[$path]:-}" ]] && SETUP[$path]=$(median ${SETUP_RUNS_MS[$path]})
    log "  $path: median $(fmt "${SETUP[$path]:-}" %.2f) ms"
done

# --- 6: concurrency --------------------------------------------------------------------------
GW_KIB="" GW_HELD="" JUMP_KIB="" JUMP_HELD=""
if ((SESSIONS > 0)); then
    # A fresh gateway process, so that memory freed by the transfers above does not hide what
    # the sessions take; one session first, so that lazily built state is in the baseline.
    log "restarting the gateway for the concurrency test"
    stop_tree "$GW_PID"
    GW_PID=""
    start_gateway
    check_path gateway || die "the restarted gateway does not log in"
    hold() { # path pid mode -> JSON in $TMP/hold.$path.json
        local a
        a=$(ssh_args "$1")
        log "holding $SESSIONS sessions through $1 (typing for ${TYPE_SECS}s, then idle)"
        run_probe "$TMP/hold.$1.json" hold --count "$SESSIONS" --parallel 16 --timeout "$TIMEOUT" \
            --type-secs "$TYPE_SECS" --type-interval "$TYPE_INTERVAL" --settle 5 \
            --rss-pid "$2" --rss-mode "$3" -- \
            ssh -tt "${SSH_OPTS[@]}" -o ServerAliveInterval=0 "${!a}" "$ECHO_CMD" || true
        log "  $(cat "$TMP/hold.$1.json" "$TMP/hold.$1.json.err" 2>/dev/null | head -c 2000)"
    }
    hold gateway "$GW_PID" self
    if kill -0 "$GW_PID" 2>/dev/null; then
        GW_KIB=$(jget rss_kib_per_session <"$TMP/hold.gateway.json" 2>/dev/null || true)
        GW_HELD=$(jget alive_at_idle <"$TMP/hold.gateway.json" 2>/dev/null || echo 0)
        fails=$(jget failures <"$TMP/hold.gateway.json" 2>/dev/null || echo "?")
        [[ "$fails" == 0 ]] || note "concurrency through the gateway: $fails failures, first: $(jget errors <"$TMP/hold.gateway.json" 2>/dev/null | head -c 400)"
    else
        note "the gateway process died during the concurrency test: $(tail -n 5 "$TMP/gateway.log")"
    fi
    if [[ "$JUMP_SESSIONS" != 0 ]]; then
        hold jump "$JUMP_PID" tree
        JUMP_KIB=$(jget pss_kib_per_session <"$TMP/hold.jump.json" 2>/dev/null || true)
        JUMP_HELD=$(jget alive_at_idle <"$TMP/hold.jump.json" 2>/dev/null || echo 0)
    fi
fi

# --- the gateway's own complaints --------------------------------------------------------------
GW_LOG_ISSUES=$(grep -aEc 'ERROR|WARN|panicked' "$TMP/gateway.log" || true)
if ((GW_LOG_ISSUES > 0)); then
    log "the gateway logged $GW_LOG_ISSUES warnings/errors; the first ones:"
    grep -aE 'ERROR|WARN|panicked' "$TMP/gateway.log" | sed 's/\x1b\[[0-9;]*m//g' | head -n 20 >&2
    note "the gateway logged $GW_LOG_ISSUES warning/error lines (first: $(grep -aE 'ERROR|WARN|panicked' "$TMP/gateway.log" | sed 's/\x1b\[[0-9;]*m//g' | head -n 1 | cut -c1-300))"
fi
REC_SIZE=$(du -sh "$DATA/recordings" 2>/dev/null | cut -f1 || echo "?")

# --- report ----------------------------------------------------------------------------------
verdict() { # value op limit -> met / **missed** / not measured
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
        if (v == "" || v == "nan") { print "not measured"; exit }
        ok = (op == "ge") ? (v + 0 >= l + 0) : (v + 0 <= l + 0)
        print ok ? "met" : "**missed**" }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print ""; else print a / b }'; }
diff_() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print ""; else print a - b }'; }

ROWS=()
for kind in exec sftp; do
    d=${MIBS[$kind.direct]:-} j=${MIBS[$kind.jump]:-} g=${MIBS[$kind.gateway]:-}
    r=$(ratio "$g" "$j")
    label="exec \`cat\` of $SIZE_MIB MiB, MiB/s"
    [[ $kind == sftp ]] && label="SFTP \`get\` of $SIZE_MIB MiB (client defaults), MiB/s"
    ROWS+=("| $label | $(fmt "$d") | $(fmt "$j") | $(fmt "$g") | $(fmt "$r" %.2f)× jump | ≥ 1.0× jump | $(verdict "$r" ge 1.0) |")
done
for kind in exec sftp; do
    c=${CPU_GIB[$kind]:-}
    ROWS+=("| gateway CPU per GiB, $kind (user + system) | — | — | $(fmt "$c" %.2f) s | | ≤ 1.2 s | $(verdict "$c" le 1.2) |")
done
added=$(diff_ "${P99[gateway]:-}" "${P99[direct]:-}")
jadded=$(diff_ "${P99[jump]:-}" "${P99[direct]:-}")
ROWS+=("| echo latency per keystroke p50, ms | $(fmt "${P50[direct]:-}" %.3f) | $(fmt "${P50[jump]:-}" %.3f) | $(fmt "${P50[gateway]:-}" %.3f) | | | |")
ROWS+=("| echo latency per keystroke p99, ms | $(fmt "${P99[direct]:-}" %.3f) | $(fmt "${P99[jump]:-}" %.3f) | $(fmt "${P99[gateway]:-}" %.3f) | $(fmt "$added" %+.3f) ms over direct (jump $(fmt "$jadded" %+.3f)) | ≤ +0.3 ms over direct | $(verdict "$added" le 0.3) |")
sadded=$(diff_ "${SETUP[gateway]:-}" "${SETUP[direct]:-}")
ROWS+=("| connection setup (\`ssh … true\`, median of $SETUP_RUNS), ms | $(fmt "${SETUP[direct]:-}" %.1f) | $(fmt "${SETUP[jump]:-}" %.1f) | $(fmt "${SETUP[gateway]:-}" %.1f) | $(fmt "$sadded" %+.1f) ms over direct | ≤ +25 ms over direct | $(verdict "$sadded" le 25) |")
if ((SESSIONS > 0)); then
    v=$(verdict "$GW_KIB" le 100)
    [[ "${GW_HELD:-0}" == "$SESSIONS" ]] || v="**missed** (${GW_HELD:-0} of $SESSIONS sessions held)"
    jcell="—"
    [[ -n "$JUMP_KIB" ]] && jcell="$(fmt "$JUMP_KIB") (Pss, ${JUMP_HELD:-0} held)"
    ROWS+=("| memory per idle interactive session, $SESSIONS held, KiB | — | $jcell | $(fmt "$GW_KIB") (RSS, ${GW_HELD:-0} held) | | ≤ 100 KiB | $v |")
fi

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] && COMMIT="$COMMIT (uncommitted changes in the tree)"
echo
echo "SSH gateway vs. direct and an OpenSSH jump host — $(date -u +%Y-%m-%d), commit $COMMIT"
echo
echo "- machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), load before the report $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- client and servers: $(ssh -V 2>&1); target and jump host /usr/sbin/sshd; release build of portcullis"
echo "- every leg: $CIPHER, $KEX, ed25519 keys, loopback; recording on (the gateway records every session: $REC_SIZE of recordings after the run)"
echo "- transfers: median of $REPEAT runs; echo: $KEYSTROKES keystrokes after 50 warm-up ones, 20–80 ms pauses; concurrency: typing ${TYPE_SECS}s (a key per session every ${TYPE_INTERVAL}s on average), then 5 s idle"
echo
echo "| figure | direct | jump host (\`ssh -J\`) | gateway | gateway vs. baseline | target | |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
if ((${#NOTES[@]})); then
    echo
    for n in "${NOTES[@]}"; do echo "- $n"; done
fi
