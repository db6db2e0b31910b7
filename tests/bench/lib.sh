# shellcheck shell=bash
# Shared parts of the benchmark scripts that start servers (tests/bench/gateway.sh,
# recording.sh, automation.sh, web.sh, web/terminal_cat.sh), sourced after `set -euo pipefail`:
#
#   bench_init NAME          ROOT, BIN, log/die/note, the EXIT/INT/TERM traps, a clean environment
#   bench_need CMD PKG …     installs the Debian packages of missing commands (purged on exit)
#   bench_tmp                TMP (mode 755, removed on exit) and DATA=$TMP/data
#   bench_build              cargo build --release -p portcullis unless NO_BUILD=1
#   bench_need_browser       node, chromium ($CHROMIUM, from PC_CHROMIUM) and playwright-core
#                            (`npm ci` in tests/web when missing or older than its lock)
#   bench_keys NAME …        ed25519 key pairs $TMP/NAME(.pub)
#   start_sshd NAME PORT FWD /usr/sbin/sshd as root with its own configuration -> LAST_PID
#   bench_client_config      $CFG and SSH_OPTS: one client configuration for every connection
#   start_gateway            `portcullis serve` on fresh loopback ports and $DATA -> GW_PID
#                            (administrator password: $ADMIN_PASSWORD if set, else a fresh one)
#   stop_gateway             stops it (by PID, with its descendants)
#   token_of, api, jget      the REST API (private tokens), JSON fields
#   bench_setup_target_user  user `bench` (the client's key), asset $ASSET on TPORT, account root
#                            (SSH key $TMP/account), a permission granting all of it
#   bench_keep_pid PID       stopped (with all its descendants, by PID) on exit
#   median, fmt, cpu_ticks, tree_cpu_ticks
#   bench_figure k=v …       one figure of the JSON fragment (tests/bench fragment format)
#   bench_write_json …       the fragment, when BENCH_JSON is set
#
# Everything a script starts runs on free loopback ports out of $TMP; on exit every process
# started here (and its descendants) is stopped by PID, $TMP is removed, /run/sshd is removed
# if it was made here, and packages installed here are purged. A script may define
# `bench_cleanup_hook` for its own clean-up (run first).

BENCH_CIPHER=aes256-gcm@openssh.com
BENCH_KEX=curve25519-sha256

bench_init() {
    BENCH_NAME=$1
    ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    # BENCH_BIN: another build to measure (e.g. a saved binary for a before/after comparison).
    BIN=${BENCH_BIN:-"$ROOT/target/release/portcullis"}
    SERVER_LOG=${SERVER_LOG:-warn}
    # Nothing from the caller's environment may point the binary at another installation.
    unset PORTCULLIS_CONFIG PORTCULLIS_DATA_DIR PORTCULLIS_DATABASE_URL PORTCULLIS_MASTER_KEY \
        PORTCULLIS_MASTER_KEY_FILE PORTCULLIS_HTTP_ADDR PORTCULLIS_SSH_ADDR PORTCULLIS_ADMIN_PASSWORD
    TMP=""
    GW_PID=""
    ADMIN_PASSWORD=""
    PROBE_PID=""
    INSTALLED_PKGS=""
    MADE_RUN_SSHD=0
    BENCH_PIDS=()
    NOTES=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

log() { echo "== $*" >&2; }
die() {
    echo "$BENCH_NAME: $*" >&2
    exit 1
}
note() {
    NOTES+=("$*")
    log "NOTE: $*"
}
bench_require_root() {
    [[ $(id -u) -eq 0 ]] || die "run as root: $*"
}
bench_whole() { # NAME… : each variable must hold a whole number
    local v
    for v in "$@"; do
        [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
    done
}

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
bench_keep_pid() { BENCH_PIDS+=("$1"); }

bench_cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    declare -F bench_cleanup_hook >/dev/null && { bench_cleanup_hook || true; }
    [[ -n "$PROBE_PID" ]] && stop_tree "$PROBE_PID"
    [[ -n "$GW_PID" ]] && stop_tree "$GW_PID"
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do stop_tree "${BENCH_PIDS[i]}"; done
    [[ -n "$TMP" && -d "$TMP" ]] && rm -rf "$TMP"
    ((MADE_RUN_SSHD)) && rmdir /run/sshd 2>/dev/null
    if [[ -n "$INSTALLED_PKGS" ]]; then
        echo "removing what this script installed: $INSTALLED_PKGS" >&2
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $INSTALLED_PKGS >/dev/null 2>&1 || true
    fi
    exit "$rc"
}

# bench_need CMD PKG [CMD PKG …]: installs PKG when CMD is missing (CMD may be a path), then
# makes sshd's privilege-separation directory (no systemd here to make it).
bench_need() {
    local need=() before after
    while (($#)); do
        if [[ $1 == /* ]]; then [[ -x $1 ]] || need+=("$2"); else command -v "$1" >/dev/null || need+=("$2"); fi
        shift 2
    done
    mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u | sed '/^$/d')
    if ((${#need[@]})); then
        log "installing ${need[*]}"
        before=$(dpkg-query -W -f='${Package}\n' | sort)
        { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }; } ||
            die "could not install ${need[*]}"
        after=$(dpkg-query -W -f='${Package}\n' | sort)
        INSTALLED_PKGS+=$(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')
    fi
    if [[ ! -d /run/sshd ]]; then
        mkdir -p /run/sshd
        MADE_RUN_SSHD=1
    fi
}
# The OpenSSH client and server, curl, ps and python3: what every SSH-side script uses.
bench_need_ssh_tools() {
    bench_need /usr/sbin/sshd openssh-server ssh openssh-client sftp openssh-client \
        ssh-keygen openssh-client curl curl ps procps python3 python3 "$@"
}

bench_build() {
    if [[ "${NO_BUILD:-}" != 1 ]]; then
        log "building the release binary"
        (cd "$ROOT" && cargo build --release -p portcullis >&2)
    fi
    [[ -x "$BIN" ]] || die "no binary at $BIN"
}

bench_need_browser() {
    CHROMIUM=${PC_CHROMIUM:-/usr/bin/chromium}
    command -v node >/dev/null || die "node is needed (tests/run.sh installs Node.js)"
    [[ -x "$CHROMIUM" ]] || die "no browser at $CHROMIUM: apt-get install chromium (or set PC_CHROMIUM)"
    local specs="$ROOT/tests/web"
    if [[ ! -f "$specs/node_modules/.package-lock.json" || "$specs/package-lock.json" -nt "$specs/node_modules/.package-lock.json" ]]; then
        log "npm ci in tests/web (playwright-core)"
        (cd "$specs" && npm ci --no-audit --no-fund >&2) || die "npm ci in tests/web failed"
    fi
}

bench_tmp() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-$BENCH_NAME-bench.XXXXXX")
    chmod 755 "$TMP"
    DATA="$TMP/data"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
now_ns() { date +%s%N; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port pid
    for _ in $(seq 300); do
        port_open "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

bench_keys() {
    local k
    for k in "$@"; do ssh-keygen -q -t ed25519 -N '' -C "bench-$k" -f "$TMP/$k"; done
}

# start_sshd NAME PORT FORWARDING(yes|no): /usr/sbin/sshd as root, key authentication with
# $TMP/ak, $TMP/NAME_host as host key, $BENCH_CIPHER and $BENCH_KEX only; sets LAST_PID and
# keeps the process for the clean-up. Needs $TMP/ak and $TMP/home.
start_sshd() {
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
Ciphers $BENCH_CIPHER
KexAlgorithms $BENCH_KEX
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
    bench_keep_pid "$LAST_PID"
    wait_port "$port" "$LAST_PID" || { cat "$TMP/$name.log" >&2; die "the $name sshd did not start"; }
}

# The usual pair: the target sshd (TPORT, TARGET_PID) and the jump host (JPORT, JUMP_PID),
# both accepting the client's and the account's keys as root.
bench_target_and_jump() {
    [[ -f "$TMP/client" ]] || bench_keys client account target_host jump_host
    cat "$TMP/client.pub" "$TMP/account.pub" >"$TMP/ak"
    chmod 600 "$TMP/ak"
    mkdir -p "$TMP/home"
    TPORT=$(free_port)
    start_sshd target "$TPORT" no
    TARGET_PID=$LAST_PID
    JPORT=$(free_port)
    start_sshd jump "$JPORT" yes
    JUMP_PID=$LAST_PID
    log "target sshd on 127.0.0.1:$TPORT (pid $TARGET_PID), jump host on 127.0.0.1:$JPORT (pid $JUMP_PID)"
}

# One client configuration for every connection, so that the jump host's own connection
# (`ssh -J` runs a second ssh with the same -F) uses the same cipher, key exchange and key.
bench_client_config() {
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
  Ciphers $BENCH_CIPHER
  KexAlgorithms $BENCH_KEX
  Compression no
  ControlMaster no
  ControlPath none
  ForwardAgent no
  ForwardX11 no
  EscapeChar none
  ConnectTimeout 60
EOF
    SSH_OPTS=(-F "$CFG" -c "$BENCH_CIPHER" -o "KexAlgorithms=$BENCH_KEX")
}

# --- portcullis ------------------------------------------------------------------------------
# start_gateway: `portcullis serve` (release build) on $DATA; the ports are picked on the first
# call and kept, so a restart serves the same addresses and data.
start_gateway() {
    if [[ -z "${HTTP_PORT:-}" ]]; then
        HTTP_PORT=$(free_port)
        GPORT=$(free_port)
        BASE="http://127.0.0.1:$HTTP_PORT"
        [[ -n "$ADMIN_PASSWORD" ]] || ADMIN_PASSWORD="Bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
        log "starting portcullis serve: http $BASE, ssh 127.0.0.1:$GPORT (PORTCULLIS_LOG=$SERVER_LOG)"
    fi
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
stop_gateway() {
    if [[ -n "$GW_PID" ]]; then stop_tree "$GW_PID"; fi
    GW_PID=""
}
restart_gateway() {
    stop_gateway
    start_gateway
}

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
jget() {
    python3 -c 'import json, sys; v = json.load(sys.stdin)
for k in sys.argv[1:]: v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$@"
}
linux_platform_id() {
    api "$ADMIN" GET '/api/v1/assets/platforms/?name=Linux' |
        python3 -c 'import json, sys; v = json.load(sys.stdin); v = v.get("results", v) if isinstance(v, dict) else v
print(next(p["id"] for p in v if p["name"] == "Linux"))' || die "no Linux platform"
}

# User `bench` with the client's public key, asset $ASSET (ssh + sftp on $TPORT), account root
# with the SSH key $TMP/account, one permission granting all of it. Sets ADMIN, BENCH,
# BENCH_USER_ID, PLATFORM, ASSET_ID.
bench_setup_target_user() {
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
    PLATFORM=$(linux_platform_id)
    ASSET_ID=$(api "$ADMIN" POST /api/v1/assets/hosts/ "{\"name\": \"$ASSET\", \"address\": \"127.0.0.1\",
    \"platform\": $PLATFORM, \"protocols\": [{\"name\": \"ssh\", \"port\": $TPORT}, {\"name\": \"sftp\", \"port\": $TPORT}]}" |
        jget id)
    api "$ADMIN" POST /api/v1/accounts/accounts/ "$(python3 -c 'import json, sys
print(json.dumps({"asset": sys.argv[1], "name": "root", "username": "root", "secret_type": "ssh_key",
                  "secret": open(sys.argv[2]).read()}))' "$ASSET_ID" "$TMP/account")" >/dev/null
    api "$ADMIN" POST /api/v1/perms/asset-permissions/ "{\"name\": \"bench\", \"users\": [\"$BENCH_USER_ID\"],
    \"assets\": [\"$ASSET_ID\"], \"accounts\": [\"@ALL\"], \"protocols\": [\"all\"], \"actions\": [\"all\"]}" >/dev/null
}

# The gateway's own complaints, as a note.
bench_gateway_log_note() {
    local n
    n=$(grep -aEc 'ERROR|WARN|panicked' "$TMP/gateway.log" || true)
    if ((n > 0)); then
        log "the gateway logged $n warnings/errors; the first ones:"
        grep -aE 'ERROR|WARN|panicked' "$TMP/gateway.log" | sed 's/\x1b\[[0-9;]*m//g' | head -n 20 >&2
        note "the gateway logged $n warning/error lines (first: $(grep -aE 'ERROR|WARN|panicked' "$TMP/gateway.log" | sed 's/\x1b\[[0-9;]*m//g' | head -n 1 | cut -c1-300))"
    fi
}

# --- numbers ---------------------------------------------------------------------------------
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
minmax() { printf '%s\n' "$@" | sed '/^$/d' | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {if (NR) print lo, hi, NR}'; }
fmt() { awk -v v="$1" -v f="${2:-%.1f}" 'BEGIN { if (v == "" || v == "nan") print "n/a"; else printf f, v }'; }
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/${1:-$GW_PID}/stat" | awk '{print $12 + $13}'; } # utime + stime
# utime + stime of a process and its live descendants, plus what its reaped children used
# (cutime + cstime): an OpenSSH server's per-connection processes, counted after they end too.
tree_cpu_ticks() {
    local p t=0 s
    for p in $(tree_of "$1"); do
        s=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}') || continue
        [[ -n "$s" ]] && t=$((t + s))
    done
    echo "$t"
}
# verdict VALUE ge|le LIMIT -> met / **missed** / not measured
verdict() {
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
        if (v == "" || v == "nan") { print "not measured"; exit }
        ok = (op == "ge") ? (v + 0 >= l + 0) : (v + 0 <= l + 0)
        print ok ? "met" : "**missed**" }'
}
met_of() { # a verdict -> true / false / null
    case $1 in met) echo true ;; "**missed**"*) echo false ;; *) echo null ;; esac
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print ""; else print a / b }'; }
diff_() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print ""; else print a - b }'; }

# --- the JSON fragment (see the format shared by every tests/bench script) -------------------
# bench_figure id=… label=… unit=… value=… [direct=… jump=… (any baseline: base_NAME=…)]
#              [ratio=…] [target=…] [met=true|false|null] [min=… max=… n=…] [p99=…]
# Empty or "nan" numbers become null. Appends to $TMP/figures.jsonl.
bench_figure() {
    python3 - "$@" >>"$TMP/figures.jsonl" <<'EOF'
import json, sys
kv = dict(a.split("=", 1) for a in sys.argv[1:])
def num(s):
    if s is None or s in ("", "nan", "n/a"):
        return None
    try:
        return round(float(s), 4)
    except ValueError:
        return None
f = {"id": kv["id"], "label": kv["label"], "unit": kv.get("unit", ""), "value": num(kv.get("value"))}
spread = {}
if "min" in kv or "max" in kv:
    spread = {"min": num(kv.get("min")), "max": num(kv.get("max")), "n": int(kv.get("n") or 0)}
if "p99" in kv:
    spread["p99"] = num(kv["p99"])
if spread:
    f["spread"] = spread
base = {}
for k, v in kv.items():
    if k in ("direct", "jump"):
        base[k] = num(v)
    elif k.startswith("base_"):
        base[k[5:]] = num(v)
if base:
    f["baselines"] = base
if kv.get("ratio"):
    f["ratio"] = kv["ratio"]
f["target"] = kv.get("target") or None
f["met"] = {"true": True, "false": False}.get(kv.get("met", ""), None)
if f["value"] is None:
    f["met"] = None
print(json.dumps(f, ensure_ascii=False))
EOF
}
# bench_command VAR=VALUE … -> "VAR=VALUE … tests/bench/NAME.sh", the fragment's "command"
# (the settings the run used, so that it can be repeated as it was)
bench_command() {
    local a out=""
    for a in "$@"; do out+="$a "; done
    echo "${out}tests/bench/$BENCH_NAME.sh"
}
# bench_write_json SECTION TITLE COMMAND SETTINGS_JSON METHOD: writes $BENCH_JSON (if set) from
# the figures so far and $NOTES.
bench_write_json() {
    [[ -n "${BENCH_JSON:-}" ]] || return 0
    touch "$TMP/figures.jsonl"
    printf '%s\n' "${NOTES[@]}" >"$TMP/notes.txt"
    python3 - "$@" "$TMP/figures.jsonl" "$TMP/notes.txt" "$BENCH_JSON" <<'EOF' || die "could not write $BENCH_JSON"
import json, sys
section, title, command, settings, method, figs, notes, out = sys.argv[1:9]
doc = {
    "section": section,
    "title": title,
    "command": command,
    "settings": json.loads(settings),
    "method": method,
    "figures": [json.loads(l) for l in open(figs, encoding="utf-8") if l.strip()],
    "notes": [l.rstrip("\n") for l in open(notes, encoding="utf-8") if l.strip()],
}
with open(out, "w", encoding="utf-8") as f:
    json.dump(doc, f, ensure_ascii=False, indent=2)
    f.write("\n")
EOF
    log "wrote $BENCH_JSON"
}

# The machine and the commit, for the Markdown a script prints.
bench_commit() {
    local c
    c=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] && c="$c (uncommitted changes in the tree)"
    echo "$c"
}
bench_machine() {
    echo "$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), load $(cut -d' ' -f1-3 /proc/loadavg)"
}
