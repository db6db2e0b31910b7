#!/usr/bin/env bash
# Automation benchmark (issue 7: "automation: change-secret across 50 real sshd targets, assets
# per second"): the Linux platform plugin (portcullis-linux, plugins/linux) changing the password
# of one account on each of BENCH_AUTO_TARGETS real OpenSSH targets, through the REST API of a
# running `portcullis serve`.
#
#   Targets: BENCH_AUTO_TARGETS × /usr/sbin/sshd (one process each, as root, own configuration,
#   host key and loopback port), each in a private mount namespace (`unshare --mount`) whose
#   /etc is a copy of the machine's with the account `pcbench` added (password), and whose /home
#   and /var/log are empty directories of its own — the arrangement of the end-to-end tests
#   (tests/e2e/sshd.rs, private_etc): `passwd`, `useradd` and sudoers writes happen inside, the
#   machine's account files are never touched and no OS user is created. root logs in with an
#   SSH key (the privileged account the plugin changes secrets with).
#   Portcullis: the Linux plugin bundle (target/plugins/portcullis-linux, built by
#   plugins/build.sh) installed, granted `remote` and enabled through the plugin API; the Linux
#   platform's ping/verify/change/push methods set to it; one asset per target with accounts
#   root (SSH key, privileged) and pcbench (password).
#   Measured (wall time of the API calls, assets per second):
#     1. verify: `POST /api/v1/accounts/accounts/tasks/ {"action": "verify", "accounts": [all]}`
#        — one request, the server runs the accounts one after another;
#     2. change secret: `POST /api/v1/assets/assets/{id}/automations/change_secret/` for every
#        asset ({"account": id, "secret_strategy": "specific", "secret": <a new random password
#        per account>}), BENCH_AUTO_PARALLEL requests in flight at a time (the API runs one asset
#        per request; a scheduler would keep several going). Every execution must succeed with
#        output.verified = true (the plugin logged in with the new secret), and then the script
#        logs in to every target as pcbench with its new password itself (sshpass + ssh) and
#        checks the old one is refused; then the same again one request at a time;
#     3. push: a new account `pcpush` (password) on every asset, pushed with
#        `{"action": "push", "accounts": [all]}` (useradd, home, the password; verified).
#
# Prints the machine and a Markdown table (stdout), progress on stderr; with BENCH_JSON=PATH also
# writes the suite's JSON fragment (section "automation"). On exit every sshd and the server are
# stopped by PID, the temporary directory (targets' /etc copies, data) removed and packages this
# script installed purged (tests/bench/lib.sh). Needs root (sshd as root, mount namespaces).
#
# Settings (environment):
#   BENCH_AUTO_TARGETS (50)    targets (quick: 10)
#   BENCH_AUTO_PARALLEL (10)   change-secret requests in flight at a time
#   BENCH_TIMEOUT (120)        seconds for any one API request or client call
#   BENCH_QUICK=1              the quick default above; NO_BUILD=1 uses target/release/portcullis
#   SERVER_LOG (warn)          the server's PORTCULLIS_LOG
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init automation

if [[ "${BENCH_QUICK:-}" == 1 ]]; then
    : "${BENCH_AUTO_TARGETS:=10}"
fi
TARGETS=${BENCH_AUTO_TARGETS:-50}
PARALLEL=${BENCH_AUTO_PARALLEL:-10}
TIMEOUT=${BENCH_TIMEOUT:-120}
USER_NAME=pcbench
USER_UID=61150
bench_whole TARGETS PARALLEL TIMEOUT
((TARGETS > 0 && TARGETS <= 500 && PARALLEL > 0)) || die "BENCH_AUTO_TARGETS must be 1..500, BENCH_AUTO_PARALLEL > 0"
bench_require_root "the targets' sshd run as root in their own mount namespaces"

bench_need_ssh_tools sshpass sshpass unshare util-linux openssl openssl tar tar
PLUGIN_DIR=""
bench_build
PLUGIN_DIR="$ROOT/target/plugins/portcullis-linux"
[[ -f "$PLUGIN_DIR/plugin.wasm" && -f "$PLUGIN_DIR/plugin.toml" ]] ||
    die "no Linux plugin in $PLUGIN_DIR: build it with plugins/build.sh"
bench_tmp
bench_keys client root

# --- targets ---------------------------------------------------------------------------------
log "preparing $TARGETS targets (each: a copy of /etc with $USER_NAME added, own /home and /var/log)"
declare -a TPORTS PASSWORDS
rand_pw() { echo "Pw-$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')-x"; }
for i in $(seq "$TARGETS"); do
    d="$TMP/t$i"
    mkdir -p "$d/homes/$USER_NAME/.ssh" "$d/log"
    cp -a /etc "$d/etc"
    for f in wtmp btmp lastlog; do : >"$d/log/$f"; done
    pw=$(rand_pw)
    PASSWORDS[i]=$pw
    hash=$(openssl passwd -6 "$pw")
    echo "$USER_NAME:x:$USER_UID:$USER_UID::/home/$USER_NAME:/bin/bash" >>"$d/etc/passwd"
    echo "$USER_NAME:$hash:19000:0:99999:7:::" >>"$d/etc/shadow"
    echo "$USER_NAME:x:$USER_UID:" >>"$d/etc/group"
    grep -q "^$USER_NAME:" "$d/etc/gshadow" 2>/dev/null || echo "$USER_NAME:!::" >>"$d/etc/gshadow"
    chown -R "$USER_UID:$USER_UID" "$d/homes/$USER_NAME"
    ssh-keygen -q -t ed25519 -N '' -C "bench-t$i" -f "$d/hostkey"
    TPORTS[i]=$(free_port)
    cat >"$d/sshd_config" <<EOF
Port ${TPORTS[i]}
ListenAddress 127.0.0.1
HostKey $d/hostkey
PidFile $d/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
MaxStartups 1000
MaxAuthTries 20
LogLevel ERROR
Subsystem sftp internal-sftp
Match User root
    AuthorizedKeysFile $TMP/root.pub
EOF
    /usr/sbin/sshd -t -f "$d/sshd_config" || die "sshd rejects target $i's configuration"
    unshare --mount sh -c "mount --bind $d/etc /etc && mount --bind $d/homes /home && mount --bind $d/log /var/log && exec /usr/sbin/sshd -D -e -f $d/sshd_config" \
        </dev/null >/dev/null 2>>"$d/sshd.log" &
    bench_keep_pid $!
done
for i in $(seq "$TARGETS"); do
    wait_port "${TPORTS[i]}" "${BENCH_PIDS[i - 1]}" || { cat "$TMP/t$i/sshd.log" >&2; die "target $i did not start"; }
done
log "$TARGETS target sshd listening (ports ${TPORTS[1]}…${TPORTS[TARGETS]})"

# pw_login PORT USER PASSWORD -> succeeds when the password logs in (and `id -un` says USER)
pw_login() {
    local out
    out=$(SSHPASS=$3 timeout -k 5 "$TIMEOUT" sshpass -e ssh -F /dev/null -p "$1" \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o PubkeyAuthentication=no -o PreferredAuthentications=password -o NumberOfPasswordPrompts=1 \
        -o IdentityAgent=none "$2@127.0.0.1" 'id -un' </dev/null 2>/dev/null) && [[ "$out" == "$2" ]]
}
pw_login "${TPORTS[1]}" "$USER_NAME" "${PASSWORDS[1]}" || die "cannot log in to target 1 as $USER_NAME: $(tail -n 5 "$TMP/t1/sshd.log")"

# --- portcullis, plugin, platform ------------------------------------------------------------
start_gateway
ADMIN=$(token_of admin)
[[ -n "$ADMIN" ]] || die "empty admin token"
PLATFORM=$(linux_platform_id)
log "installing the Linux plugin"
api "$ADMIN" PATCH /api/v1/plugins/settings/ '{"allow_unsigned": true}' >/dev/null
tar -C "$PLUGIN_DIR" -czf "$TMP/linux.tar.gz" plugin.toml plugin.wasm
out=$(curl -sS -X POST -H "Authorization: Token $ADMIN" -H 'Content-Type: application/gzip' \
    -H 'Accept: application/json' --data-binary "@$TMP/linux.tar.gz" -w '\n%{http_code}' \
    "$BASE/api/v1/plugins/plugins/") || die "plugin upload: curl failed"
[[ "${out##*$'\n'}" == 201 ]] || die "plugin upload answered ${out##*$'\n'}: ${out%$'\n'*}"
PLUGIN_ID=$(jget id <<<"${out%$'\n'*}")
api "$ADMIN" PUT "/api/v1/plugins/plugins/$PLUGIN_ID/grant/" '{"remote": true}' >/dev/null
api "$ADMIN" POST "/api/v1/plugins/plugins/$PLUGIN_ID/enable/" '{}' >/dev/null
settings=$(python3 -c 'import json
s = {}
for m in ["ping", "verify_account", "change_secret", "push_account"]:
    s[m + "_enabled"] = True
    s[m + "_method"] = "portcullis-linux"
print(json.dumps(s))')
api "$ADMIN" PATCH "/api/v1/assets/platforms/$PLATFORM/automation/" "$settings" >/dev/null

log "registering $TARGETS assets with accounts root (SSH key, privileged) and $USER_NAME (password)"
# One process for all the requests (a shell loop spends more on starting curl and python).
for i in $(seq "$TARGETS"); do
    printf '%s\t%s\t%s\t%s\n' "$i" "${TPORTS[i]}" "${PASSWORDS[i]}" "$(rand_pw)"
done >"$TMP/targets.tsv"
BASE=$BASE ADMIN=$ADMIN PLATFORM=$PLATFORM USER_NAME=$USER_NAME python3 - "$TMP/targets.tsv" "$TMP/root" \
    >"$TMP/accounts.tsv" <<'EOF' || die "registering the assets failed"
import json, os, sys, urllib.request
base, token = os.environ["BASE"], os.environ["ADMIN"]
root_key = open(sys.argv[2]).read()
def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Token " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())["id"]
    except urllib.error.HTTPError as e:
        sys.exit("POST %s answered %s: %s" % (path, e.code, e.read()[:300]))
for line in open(sys.argv[1]):
    i, port, password, push_password = line.rstrip("\n").split("\t")
    asset = post("/api/v1/assets/hosts/", {"name": "bench-auto-" + i, "address": "127.0.0.1",
                 "platform": int(os.environ["PLATFORM"]), "protocols": [{"name": "ssh", "port": int(port)}]})
    post("/api/v1/accounts/accounts/", {"asset": asset, "name": "root", "username": "root",
         "secret_type": "ssh_key", "secret": root_key, "privileged": True})
    user = os.environ["USER_NAME"]
    acc = post("/api/v1/accounts/accounts/", {"asset": asset, "name": user, "username": user,
               "secret_type": "password", "secret": password})
    push = post("/api/v1/accounts/accounts/", {"asset": asset, "name": "pcpush", "username": "pcpush",
                "secret_type": "password", "secret": push_password})
    print("\t".join([i, asset, acc, push]))
EOF
[[ $(wc -l <"$TMP/accounts.tsv") == "$TARGETS" ]] || die "registered $(wc -l <"$TMP/accounts.tsv") of $TARGETS assets"

# --- the driver: timed API calls, checked --------------------------------------------------------
cat >"$TMP/drive.py" <<'EOF'
"""tasks ACTION COLUMN | change PARALLEL: runs the automation over every row of accounts.tsv,
prints JSON {wall_s, n, ok, failures: [...], latency p50/p99 (change)}."""
import concurrent.futures, json, os, sys, time, urllib.request

base, token, tsv, timeout = os.environ["BASE"], os.environ["ADMIN"], os.environ["TSV"], float(os.environ["TIMEOUT"])
rows = [l.rstrip("\n").split("\t") for l in open(tsv) if l.strip()]

def call(method, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Authorization": "Token " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")[:300]

def failed(ex, want_verified):
    if not isinstance(ex, dict) or ex.get("status") != "success":
        return "status %s error %s" % (ex.get("status") if isinstance(ex, dict) else "?", json.dumps(ex.get("error") if isinstance(ex, dict) else ex)[:300])
    if want_verified and (ex.get("output") or {}).get("verified") is not True:
        return "not verified: %s" % json.dumps(ex.get("output"))[:300]
    return None

mode = sys.argv[1]
out = {"n": len(rows), "failures": []}
if mode == "tasks":
    action, col = sys.argv[2], int(sys.argv[3])
    t0 = time.perf_counter()
    status, body = call("POST", "/api/v1/accounts/accounts/tasks/", {"action": action, "accounts": [r[col] for r in rows]})
    out["wall_s"] = time.perf_counter() - t0
    if status != 201:
        out["failures"].append("HTTP %s: %s" % (status, str(body)[:300]))
        execs = []
    else:
        execs = body.get("executions", [])
        if len(execs) != len(rows):
            out["failures"].append("%d executions for %d accounts" % (len(execs), len(rows)))
    for ex in execs:
        why = failed(ex, action == "push")
        if why:
            out["failures"].append(why)
else:
    parallel = int(sys.argv[2])
    secrets = dict(l.rstrip("\n").split("\t") for l in open(os.environ["NEW_SECRETS"]) if l.strip())
    def one(r):
        t = time.perf_counter()
        status, body = call("POST", "/api/v1/assets/assets/%s/automations/change_secret/" % r[1],
                            {"account": r[2], "secret_strategy": "specific", "secret": secrets[r[0]]})
        lat = time.perf_counter() - t
        if status != 200:
            return lat, "HTTP %s: %s" % (status, str(body)[:300])
        return lat, failed(body, True)
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(one, rows))
    out["wall_s"] = time.perf_counter() - t0
    lats = sorted(l for l, _ in results)
    pick = lambda p: lats[max(0, min(len(lats) - 1, -(-len(lats) * p // 100) - 1))]
    out["latency_p50_s"], out["latency_p99_s"] = pick(50), pick(99)
    out["failures"] = [w for _, w in results if w]
# A rate only when every asset succeeded (failures are reported instead).
out["assets_per_s"] = len(rows) / out["wall_s"] if out["wall_s"] > 0 and not out["failures"] else None
print(json.dumps(out))
EOF
drive() { # ARGS… -> JSON on stdout (and in $TMP/drive.last)
    BASE=$BASE ADMIN=$ADMIN TSV="$TMP/accounts.tsv" TIMEOUT=$((TIMEOUT * TARGETS)) NEW_SECRETS="$TMP/new.tsv" \
        python3 "$TMP/drive.py" "$@" | tee "$TMP/drive.last"
}
declare -A RATE WALL FAILS
record() { # name json
    RATE[$1]=$(jget assets_per_s <<<"$2")
    [[ "${RATE[$1]}" == None ]] && RATE[$1]=""
    WALL[$1]=$(jget wall_s <<<"$2")
    FAILS[$1]=$(python3 -c 'import json, sys; f = json.loads(sys.argv[1])["failures"]; print(len(f))' "$2")
    if [[ "${FAILS[$1]}" != 0 ]]; then
        note "$1: ${FAILS[$1]} of $TARGETS failed; first: $(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["failures"][0][:400])' "$2")"
    fi
    log "$1: $(fmt "${WALL[$1]}" %.2f) s, $(fmt "${RATE[$1]}" %.2f) assets/s, ${FAILS[$1]} failed"
}

log "verify: $TARGETS accounts in one tasks request"
record verify "$(drive tasks verify 2)"

# change_round NAME PARALLEL: a new random password for every account, changed with PARALLEL
# requests in flight; then every target is checked with the new and the previous password.
declare -a CUR NEWPW
declare -A LAT50 LAT99 CHECK
for i in $(seq "$TARGETS"); do CUR[i]=${PASSWORDS[i]}; done
change_round() {
    local name=$1 parallel=$2 i json bad_new=0 bad_old=0
    : >"$TMP/new.tsv"
    for i in $(seq "$TARGETS"); do
        NEWPW[i]=$(rand_pw)
        printf '%s\t%s\n' "$i" "${NEWPW[i]}" >>"$TMP/new.tsv"
    done
    log "change secret: $TARGETS assets, $parallel request(s) in flight"
    json=$(drive change "$parallel")
    record "$name" "$json"
    LAT50[$name]=$(jget latency_p50_s <<<"$json")
    LAT99[$name]=$(jget latency_p99_s <<<"$json")
    log "checking every target: the new password logs in, the previous one does not"
    for i in $(seq "$TARGETS"); do
        printf '%s\t%s\t%s\n' "${TPORTS[i]}" "${NEWPW[i]}" "$(sed -n "${i}p" "$TMP/prev.tsv")"
    done >"$TMP/check.tsv"
    # Ten logins at a time (sshd delays every refused password).
    USER_NAME=$USER_NAME TIMEOUT=$TIMEOUT python3 - "$TMP/check.tsv" >"$TMP/check.out" <<'EOF'
import concurrent.futures, os, subprocess, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
user = os.environ["USER_NAME"]
def login(port, password):
    argv = ["sshpass", "-e", "timeout", "-k", "5", os.environ["TIMEOUT"], "ssh", "-F", "/dev/null", "-p", port,
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
            "-o", "NumberOfPasswordPrompts=1", "-o", "IdentityAgent=none", user + "@127.0.0.1", "id -un"]
    r = subprocess.run(argv, env=dict(os.environ, SSHPASS=password), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return r.returncode == 0 and r.stdout.decode().strip() == user
def check(row):
    port, new, prev = row
    return "%d %d" % (login(port, new), login(port, prev))
with concurrent.futures.ThreadPoolExecutor(10) as pool:
    for line in pool.map(check, rows):
        print(line)
EOF
    i=0
    while read -r new_ok old_ok; do
        i=$((i + 1))
        if ((new_ok)); then CUR[i]=${NEWPW[i]}; else bad_new=$((bad_new + 1)); fi
        if ((old_ok)); then bad_old=$((bad_old + 1)); fi
    done <"$TMP/check.out"
    ((i == TARGETS)) || die "the login check covered $i of $TARGETS targets"
    ((bad_new == 0)) || note "$name: the new password does not log in on $bad_new of $TARGETS targets"
    ((bad_old == 0)) || note "$name: the previous password still logs in on $bad_old of $TARGETS targets"
    CHECK[$name]="$((TARGETS - bad_new)) of $TARGETS log in with the new password, $bad_old with the previous one"
    log "  ${CHECK[$name]}"
    if ((bad_new || bad_old)); then RATE[$name]=""; fi
    printf '%s\n' "${CUR[@]:1}" >"$TMP/prev.tsv"
}
printf '%s\n' "${PASSWORDS[@]:1}" >"$TMP/prev.tsv"
change_round change "$PARALLEL"
change_round change_seq 1

log "push: a new account on $TARGETS assets in one tasks request"
record push "$(drive tasks push 3)"

bench_gateway_log_note

# --- report ----------------------------------------------------------------------------------
ROWS=()
for c in change change_seq; do
    what="$PARALLEL requests in flight"
    [[ $c == change_seq ]] && what="one request at a time"
    ROWS+=("| change secret (password), $what | $TARGETS | $(fmt "${WALL[$c]}" %.2f) | $(fmt "${RATE[$c]}" %.2f) | p50 $(fmt "${LAT50[$c]}" %.2f) s, p99 $(fmt "${LAT99[$c]}" %.2f) s per asset; ${FAILS[$c]} failed; ${CHECK[$c]} |")
done
ROWS+=("| verify account (tasks request, one after another) | $TARGETS | $(fmt "${WALL[verify]}" %.2f) | $(fmt "${RATE[verify]}" %.2f) | ${FAILS[verify]} failed |")
ROWS+=("| push account (tasks request, one after another) | $TARGETS | $(fmt "${WALL[push]}" %.2f) | $(fmt "${RATE[push]}" %.2f) | ${FAILS[push]} failed |")

# With failures the rate is not reported as the figure (a failed change is not throughput);
# what was attempted is in the ratio text.
attempted() {
    [[ "${FAILS[$1]}" == 0 ]] && return 0
    echo " (${FAILS[$1]} failed: $(fmt "$(awk -v n="$TARGETS" -v w="${WALL[$1]}" 'BEGIN {if (w > 0) print n / w}')" %.2f) assets/s attempted, not a result)"
}
bench_figure id=automation.change_secret_assets_per_s \
    label="change secret across $TARGETS real sshd targets ($PARALLEL requests in flight), assets/s" unit=assets/s \
    value="${RATE[change]}" \
    ratio="$TARGETS assets in $(fmt "${WALL[change]}" %.2f) s$(attempted change); per asset p50 $(fmt "${LAT50[change]}" %.2f) s, p99 $(fmt "${LAT99[change]}" %.2f) s; ${FAILS[change]} failed; ${CHECK[change]}" \
    target= met=null
bench_figure id=automation.change_secret_sequential_assets_per_s \
    label="change secret across $TARGETS real sshd targets (one request at a time), assets/s" unit=assets/s \
    value="${RATE[change_seq]}" \
    ratio="$TARGETS assets in $(fmt "${WALL[change_seq]}" %.2f) s$(attempted change_seq); per asset p50 $(fmt "${LAT50[change_seq]}" %.2f) s; ${FAILS[change_seq]} failed; ${CHECK[change_seq]}" \
    target= met=null
bench_figure id=automation.change_secret_wall_s label="change secret across $TARGETS targets, wall time, s" unit=s \
    value="${WALL[change]}" target= met=null
bench_figure id=automation.verify_assets_per_s label="verify account across $TARGETS targets (one tasks request, sequential), assets/s" \
    unit=assets/s value="${RATE[verify]}" ratio="$TARGETS assets in $(fmt "${WALL[verify]}" %.2f) s$(attempted verify)" target= met=null
bench_figure id=automation.push_assets_per_s label="push account across $TARGETS targets (one tasks request, sequential), assets/s" \
    unit=assets/s value="${RATE[push]}" ratio="$TARGETS assets in $(fmt "${WALL[push]}" %.2f) s$(attempted push)" target= met=null

echo
echo "Automation through the Linux plugin against $TARGETS real sshd targets — $(date -u +%Y-%m-%d), commit $(bench_commit)"
echo
echo "- machine: $(bench_machine)"
echo "- $(ssh -V 2>&1); one /usr/sbin/sshd per target (own /etc, /home, /var/log in a mount namespace); release build of portcullis, SQLite; plugin portcullis-linux"
echo
echo "| run | assets | wall time, s | assets/s | |"
echo "|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
if ((${#NOTES[@]})); then
    echo
    for n in "${NOTES[@]}"; do echo "- $n"; done
fi

bench_write_json automation "Automation — change secret across real sshd targets" \
    "$(bench_command "BENCH_AUTO_TARGETS=$TARGETS" "BENCH_AUTO_PARALLEL=$PARALLEL")" \
    "$(printf '{"targets": %s, "parallel": %s, "quick": %s}' "$TARGETS" "$PARALLEL" "$([[ "${BENCH_QUICK:-}" == 1 ]] && echo true || echo false)")" \
    "$TARGETS real OpenSSH targets (one sshd each, own /etc copy in a mount namespace, loopback) registered as assets of a fresh Portcullis (SQLite) with the Linux plugin (portcullis-linux) as the Linux platform's automation. Change secret: one \`POST /api/v1/assets/assets/{id}/automations/change_secret/\` per asset (a new random password each; the API runs one asset per request and answers when done), once with $PARALLEL requests in flight and once one at a time; every execution must succeed with the plugin's own verification, and the script then logs in to every target with the new password and checks the old one is refused. Verify and push: one \`POST /api/v1/accounts/accounts/tasks/\` over all accounts (the server runs them one after another). Figures: assets / wall time of the calls. Detail: tests/bench/automation.sh header."
