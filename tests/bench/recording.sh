#!/usr/bin/env bash
# Recording overhead benchmark (issue 7: "recording overhead: CPU and bytes written per MiB of
# terminal output"). The gateway records every session (it cannot be turned off), so its cost is
# measured against what an OpenSSH jump host spends relaying the same output without recording:
#
#   An interactive shell session (`ssh -tt`, no command: a login shell on the target's
#   pseudo-terminal) into which `cat FILE; exit` is typed prints BENCH_REC_MIB MiB of text
#   (80-column lines of words, like a log or a build's output) through
#     - the jump host (`ssh -J`, two OpenSSH hops, no recording): CPU of the jump host's sshd —
#       its listener plus every per-connection process, counted through cutime/cstime once the
#       connection's processes are reaped — per MiB of terminal output;
#     - the gateway (recording on): utime + stime of the gateway process per MiB of output, and
#       the bytes its recording of the session adds under <data>/recordings per MiB of output.
#   Both paths decrypt and re-encrypt every byte once (client leg, target leg; aes256-gcm,
#   curve25519, ed25519, loopback), so "gateway − jump host" is what the gateway spends beyond a
#   plain two-hop relay: the recorder (record framing, copies, file writes), command capture
#   (the terminal emulator that reads the output) and the difference between russh's and
#   OpenSSH's packet paths. The recorder is not isolated further: the gateway has no switch to
#   turn it off, and a synthetic recorder run would miss the session's real path. What the
#   script can split off: the same file through the gateway as an exec session without a
#   terminal (`ssh HOST cat FILE`, "gwexec"), which is recorded the same way but skips the
#   terminal handling (command capture); its CPU per MiB is relay + recorder, and shell minus
#   exec is what the terminal handling adds.
#   "MiB of terminal output" is what the client received (counted; the target's terminal turns
#   each "\n" into "\r\n"). Direct to the target is run too, for the throughput row (its CPU
#   row is the target sshd with the shell and `cat`, not comparable). A shell, not
#   `ssh -tt HOST cat FILE`: through the gateway an exec request gets no terminal on the target
#   even when the client asked for one (found while writing this benchmark), so only a shell
#   session is a terminal session on all three paths.
#   Paths are interleaved per repeat; medians of BENCH_REC_REPEAT runs.
#
# Prints the machine and a Markdown table (stdout), progress on stderr; with BENCH_JSON=PATH also
# writes the suite's JSON fragment (section "recording").
#
# Start-up and clean-up as tests/bench/gateway.sh (shared in tests/bench/lib.sh): target and
# jump-host sshd as root on loopback ports with their own configuration, no OS user created,
# `portcullis serve` (release build) on a fresh SQLite data directory under a temporary
# directory, user/asset/account/permission through the REST API; every process stopped by PID,
# the directory removed, installed packages purged on exit. Needs root.
#
# Settings (environment):
#   BENCH_REC_MIB (128)      MiB of text printed per session (quick: 16)
#   BENCH_REC_REPEAT (3)     sessions per path (quick: 1)
#   BENCH_TIMEOUT (120)      seconds for any one client call (at least 1 MiB/s of output)
#   BENCH_QUICK=1            the quick defaults above; NO_BUILD=1 uses target/release/portcullis
#   SERVER_LOG (warn)        the gateway's PORTCULLIS_LOG
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init recording

if [[ "${BENCH_QUICK:-}" == 1 ]]; then
    : "${BENCH_REC_MIB:=16}" "${BENCH_REC_REPEAT:=1}"
fi
SIZE_MIB=${BENCH_REC_MIB:-128}
REPEAT=${BENCH_REC_REPEAT:-3}
TIMEOUT=${BENCH_TIMEOUT:-120}
ASSET=bench-target
bench_whole SIZE_MIB REPEAT TIMEOUT
((SIZE_MIB > 0 && REPEAT > 0)) || die "sizes and counts must be > 0"
bench_require_root "the target and jump-host sshd log in as root with a key"

bench_need_ssh_tools
bench_build
bench_tmp
bench_target_and_jump
bench_client_config
start_gateway
bench_setup_target_user

DIRECT=(-p "$TPORT" -l root 127.0.0.1)
JUMP=(-J "root@127.0.0.1:$JPORT" -p "$TPORT" -l root 127.0.0.1)
GATEWAY=(-p "$GPORT" -o "User=bench@root@$ASSET" 127.0.0.1)
PATHS=(direct jump gateway)
# gwexec: the same file through the gateway as an exec session without a terminal (`ssh HOST
# cat FILE`): recorded like every session, but no terminal handling (command capture) on the
# way, which splits the gateway's cost into relay + recorder and what a shell adds.
RUN_PATHS=(direct jump gateway gwexec)
# type.py LINE CMD…: runs CMD with a pipe as its input, types LINE once the session printed
# something (its prompt), keeps the input open, copies the output to stdout until the end.
cat >"$TMP/type.py" <<'EOF'
import os, select, subprocess, sys
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
fd, typed = p.stdout.fileno(), False
while True:
    r, _, _ = select.select([fd], [], [], 2)
    if not r:
        if not typed:  # no prompt within 2 s: type anyway
            p.stdin.write(sys.argv[1].encode() + b"\n"); p.stdin.flush(); typed = True
        continue
    data = os.read(fd, 1 << 16)
    if not data:
        break
    if not typed:
        p.stdin.write(sys.argv[1].encode() + b"\n"); p.stdin.flush(); typed = True
    sys.stdout.buffer.write(data)
sys.stdout.flush()
p.stdin.close()
sys.exit(p.wait())
EOF
ssh_args() {
    case $1 in direct) echo "DIRECT[@]" ;; jump) echo "JUMP[@]" ;; gateway | gwexec) echo "GATEWAY[@]" ;; esac
}
for path in "${PATHS[@]}"; do
    a=$(ssh_args "$path")
    out=$(timeout -k 5 "$TIMEOUT" python3 "$TMP/type.py" "tty | tr -d /; exit" ssh -tt "${SSH_OPTS[@]}" "${!a}" 2>"$TMP/err" |
        tr -d '\r') || true
    [[ "$out" == *devpts* ]] || die "cannot open a terminal session through $path: '$out' $(head -c 500 "$TMP/err")"
done
log "all three paths open terminal sessions"

# The text: 80-column lines of words (a 1 MiB block, repeated).
TEXT="$TMP/text"
log "writing $SIZE_MIB MiB of text to $TEXT"
python3 - "$TEXT" "$SIZE_MIB" <<'EOF'
import random, sys
rng = random.Random(7)
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10))) for _ in range(2000)]
lines, size = [], 0
while size < 1 << 20:
    line = ""
    while len(line) < 70:
        line += rng.choice(words) + " "
    line = line.rstrip()[:79] + "\n"
    lines.append(line)
    size += len(line)
block = "".join(lines).encode()[: 1 << 20]
block = block[: block.rindex(b"\n") + 1]
block += b"x" * ((1 << 20) - len(block) - 1) + b"\n"
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2])):
        f.write(block)
EOF
TIMEOUT_RUN=$((SIZE_MIB > TIMEOUT ? SIZE_MIB : TIMEOUT))

rec_bytes() { du -sb "$DATA/recordings" 2>/dev/null | cut -f1 || echo 0; }
rec_bytes_settled() { # the recording's size once it stops growing (its writer flushes at the end)
    local a b
    a=$(rec_bytes)
    for _ in $(seq 50); do
        sleep 0.2
        b=$(rec_bytes)
        [[ "$a" == "$b" ]] && break
        a=$b
    done
    echo "${b:-$a}"
}
# The jump host's and the gateway's CPU, in ticks.
server_ticks() {
    case $1 in
    jump) tree_cpu_ticks "$JUMP_PID" ;;
    gateway | gwexec) cpu_ticks "$GW_PID" ;;
    direct) tree_cpu_ticks "$TARGET_PID" ;;
    esac
}
# A session's processes are reaped (their CPU lands in the listener's cutime) shortly after it
# ends; wait until only the listener is left.
settle_sshd() {
    for _ in $(seq 50); do
        [[ -z "$(ps -o pid= --ppid "$1" 2>/dev/null)" ]] && return 0
        sleep 0.1
    done
}

declare -A MIBS CPU_MS REC_KIB SPREAD_CPU SPREAD_REC
declare -A runs_s runs_cpu runs_rec
for r in $(seq "$REPEAT"); do
    for path in "${RUN_PATHS[@]}"; do
        a=$(ssh_args "$path")
        settle_sshd "$JUMP_PID"
        settle_sshd "$TARGET_PID"
        b0=$(rec_bytes_settled)
        c0=$(server_ticks "$path")
        t0=$(now_ns)
        if [[ $path == gwexec ]]; then
            n=$(timeout -k 5 "$TIMEOUT_RUN" ssh "${SSH_OPTS[@]}" "${!a}" "cat $TEXT" </dev/null 2>"$TMP/err" | wc -c) || true
        else
            n=$(timeout -k 5 "$TIMEOUT_RUN" python3 "$TMP/type.py" "cat $TEXT; exit" ssh -tt "${SSH_OPTS[@]}" "${!a}" 2>"$TMP/err" | wc -c) || true
        fi
        t1=$(now_ns)
        [[ $path == jump ]] && settle_sshd "$JUMP_PID"
        [[ $path == direct ]] && settle_sshd "$TARGET_PID"
        c1=$(server_ticks "$path")
        b1=$(rec_bytes_settled)
        if ((n < SIZE_MIB * 1048576)); then
            [[ $path == gateway || $path == gwexec ]] || die "the $path baseline printed only $n bytes: $(head -c 500 "$TMP/err")"
            note "run $r through the gateway ($path) printed only $n of at least $((SIZE_MIB * 1048576)) bytes: $(head -c 300 "$TMP/err")"
            continue
        fi
        out_mib=$(awk -v n="$n" 'BEGIN {print n / 1048576}')
        runs_s[$path]+="$(awk -v d=$((t1 - t0)) -v m="$out_mib" 'BEGIN {print m / (d / 1e9)}') "
        runs_cpu[$path]+="$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v m="$out_mib" 'BEGIN {print t / hz * 1000 / m}') "
        [[ $path == gateway || $path == gwexec ]] && runs_rec[$path]+="$(awk -v b=$((b1 - b0)) -v m="$out_mib" 'BEGIN {print b / 1024 / m}') "
        log "$path run $r: $(fmt "$out_mib") MiB of terminal output, $(fmt "$(awk -v d=$((t1 - t0)) -v m="$out_mib" 'BEGIN {print m / (d / 1e9)}')") MiB/s, server CPU $(((c1 - c0) * 1000 / CLK_TCK)) ms, recordings +$((b1 - b0)) bytes"
    done
done
rm -f "$TEXT"
for path in "${RUN_PATHS[@]}"; do
    [[ -n "${runs_s[$path]:-}" ]] || continue
    # shellcheck disable=SC2086
    MIBS[$path]=$(median ${runs_s[$path]})
    # shellcheck disable=SC2086
    CPU_MS[$path]=$(median ${runs_cpu[$path]})
    # shellcheck disable=SC2086
    SPREAD_CPU[$path]=$(minmax ${runs_cpu[$path]})
done
for path in gateway gwexec; do
    [[ -n "${runs_rec[$path]:-}" ]] || continue
    # shellcheck disable=SC2086
    REC_KIB[$path]=$(median ${runs_rec[$path]})
    # shellcheck disable=SC2086
    SPREAD_REC[$path]=$(minmax ${runs_rec[$path]})
done
FILES=$(find "$DATA/recordings" -type f 2>/dev/null | wc -l)
EXAMPLE=$(find "$DATA/recordings" -type f -printf '%P\n' 2>/dev/null | head -n 1)
[[ -n "${REC_KIB[gateway]:-}" ]] && awk -v k="${REC_KIB[gateway]}" 'BEGIN {exit !(k <= 0)}' && note "the recordings directory did not grow: the recorder wrote nothing under $DATA/recordings"
bench_gateway_log_note

# --- report ----------------------------------------------------------------------------------
g=${CPU_MS[gateway]:-} j=${CPU_MS[jump]:-}
extra=$(diff_ "$g" "$j")
r=$(ratio "$g" "$j")
ROWS=()
ROWS+=("| server CPU per MiB of terminal output (user + system), ms | $(fmt "${CPU_MS[direct]:-}" %.1f) (target sshd, shell and cat) | $(fmt "$j" %.1f) | $(fmt "$g" %.1f) | $(fmt "$r" %.2f)× jump ($(fmt "$extra" %+.1f) ms/MiB) |")
ROWS+=("| recording written per MiB of terminal output, KiB | — | — (no recording) | $(fmt "${REC_KIB[gateway]:-}" %.1f) | |")
x=${CPU_MS[gwexec]:-}
ROWS+=("| the same through the gateway as exec \`cat\` without a terminal (recorded; no command capture): CPU per MiB, ms | — | — | $(fmt "$x" %.1f) | $(fmt "$(ratio "$x" "$j")" %.2f)× jump; the shell adds $(fmt "$(diff_ "$g" "$x")" %+.1f) ms/MiB |")
ROWS+=("| … recording written per MiB, KiB | — | — | $(fmt "${REC_KIB[gwexec]:-}" %.1f) | |")
ROWS+=("| terminal output throughput (shell on \`ssh -tt\`, \`cat\`), MiB/s | $(fmt "${MIBS[direct]:-}") | $(fmt "${MIBS[jump]:-}") | $(fmt "${MIBS[gateway]:-}") | $(fmt "$(ratio "${MIBS[gateway]:-}" "${MIBS[jump]:-}")" %.2f)× jump |")

read -r lo hi nn <<<"${SPREAD_CPU[gateway]:-}"
bench_figure id=recording.cpu_ms_per_mib label="CPU per MiB of terminal output, recording on (gateway process; jump host: its sshd processes), ms" \
    unit=ms value="$g" min="$lo" max="$hi" n="${nn:-0}" jump="$j" \
    ratio="$([[ -n "$r" ]] && echo "$(fmt "$r" %.2f)× jump, $(fmt "$extra" %+.1f) ms/MiB over jump")" target= met=null
read -r lo hi nn <<<"${SPREAD_REC[gateway]:-}"
bench_figure id=recording.bytes_per_mib label="recording written per MiB of terminal output, KiB" unit=KiB \
    value="${REC_KIB[gateway]:-}" min="$lo" max="$hi" n="${nn:-0}" \
    ratio="$([[ -n "${REC_KIB[gateway]:-}" ]] && echo "$(fmt "$(awk -v k="${REC_KIB[gateway]}" 'BEGIN {print k / 1024}')" %.3f)× the output")" target= met=null
read -r lo hi nn <<<"${SPREAD_CPU[gwexec]:-}"
bench_figure id=recording.cpu_ms_per_mib_exec \
    label="the same output through the gateway as exec \`cat\` without a terminal (recorded, no command capture): CPU per MiB, ms" \
    unit=ms value="$x" min="$lo" max="$hi" n="${nn:-0}" jump="$j" \
    ratio="$(r3=$(ratio "$x" "$j"); [[ -n "$r3" ]] && echo "$(fmt "$r3" %.2f)× jump; the shell session adds $(fmt "$(diff_ "$g" "$x")" %+.1f) ms/MiB")" \
    target= met=null
bench_figure id=recording.pty_mib_s label="terminal output throughput (shell on \`ssh -tt\`, \`cat\` of text), MiB/s" unit=MiB/s \
    value="${MIBS[gateway]:-}" direct="${MIBS[direct]:-}" jump="${MIBS[jump]:-}" \
    ratio="$(r2=$(ratio "${MIBS[gateway]:-}" "${MIBS[jump]:-}"); [[ -n "$r2" ]] && echo "$(fmt "$r2" %.2f)× jump")" target= met=null

echo
echo "Recording overhead: terminal output through the gateway (recording on) vs. an OpenSSH jump host — $(date -u +%Y-%m-%d), commit $(bench_commit)"
echo
echo "- machine: $(bench_machine)"
echo "- $(ssh -V 2>&1); every leg $BENCH_CIPHER, $BENCH_KEX, ed25519, loopback; release build of portcullis"
echo "- $SIZE_MIB MiB of 80-column text per session (a shell on \`ssh -tt\`, \`cat FILE; exit\` typed), median of $REPEAT runs per path; $FILES recording files after the run (e.g. recordings/$EXAMPLE)"
echo
echo "| figure | direct | jump host (\`ssh -J\`) | gateway | gateway vs. jump |"
echo "|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
if ((${#NOTES[@]})); then
    echo
    for n in "${NOTES[@]}"; do echo "- $n"; done
fi

bench_write_json recording "Recording overhead — CPU and bytes written per MiB of terminal output" \
    "$(bench_command "BENCH_REC_MIB=$SIZE_MIB" "BENCH_REC_REPEAT=$REPEAT")" \
    "$(printf '{"size_mib": %s, "repeat": %s, "quick": %s}' "$SIZE_MIB" "$REPEAT" "$([[ "${BENCH_QUICK:-}" == 1 ]] && echo true || echo false)")" \
    "An interactive shell session on a terminal (\`ssh -tt\`, \`cat FILE; exit\` typed) prints $SIZE_MIB MiB of 80-column text through an OpenSSH jump host (\`ssh -J\`, no recording) and through the gateway (recording on; it always records), paths interleaved, median of $REPEAT runs. CPU: utime+stime of the gateway process, and of the jump host's sshd (listener plus per-connection processes, via cutime/cstime once reaped), per MiB the client received. Both decrypt and re-encrypt every byte once, so gateway − jump host is the gateway's cost beyond a plain two-hop relay: the recorder, command capture (terminal emulator) and russh vs OpenSSH packet handling; the recorder is not isolated further (it cannot be turned off), but the same output through the gateway as an exec session without a terminal (recorded, no command capture) splits relay + recorder from what the shell session's terminal handling adds. Bytes: growth of <data>/recordings per MiB of output. Detail: tests/bench/recording.sh header."
