#!/usr/bin/env python3
"""Interactive probes for tests/bench/gateway.sh (standard library only).

Both modes drive the real OpenSSH client on a pseudo-terminal, exactly as a person at a
terminal would, and expect the remote side to print MARKER once and then echo every byte it
reads straight back. With --type LINE the session is a login shell (ssh without a command) and
LINE is typed at its first prompt (the script types `stty raw -echo; printf 'PCB-%s\n' READY;
exec cat`, so that the echo of the typed line does not contain the marker); without it the
remote command given to ssh must do the same.

  probe.py echo [--keystrokes N] [--warmup N] [--pause-ms MIN,MAX] -- ssh ARGS...
      One session; after the marker, sends one byte at a time and waits for it to come back,
      with a random pause between keystrokes (light typing). Prints JSON: p50/p99/mean/max ms.

  probe.py hold --count N [--parallel P] [--type-secs T] [--type-interval S] [--settle S]
                [--rss-pid PID --rss-mode self|tree] -- ssh ARGS...
      Opens N sessions (at most P still connecting at any time), types lightly into all of
      them for T seconds (one byte per session every S seconds on average, each echo checked),
      lets them idle for a few seconds, and samples the memory of PID: its VmRSS (self) or the
      summed VmRSS and Pss of its descendants (tree: an OpenSSH server's per-connection
      processes), and its CPU (utime + stime, same scope) over the typing window, reported per
      session and minute of typing. Prints JSON (typing echo p50/p99 included). Every session
      is ended before it returns.

Exit status 0 when the measurement ran (failures are counted in the JSON), 1 when it could not
(no session at all came up), 2 on bad usage.
"""

import argparse
import fcntl
import heapq
import json
import os
import random
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

MARKER = b"PCB-READY"
PROMPT = re.compile(rb"[#$] $")  # the end of a shell's prompt
TYPE = None  # --type LINE: typed at the session's first prompt
TAIL = 400  # bytes of a session's output kept for error messages


class Session:
    """One `ssh -tt` on its own pseudo-terminal (the slave is its controlling terminal)."""

    def __init__(self, argv):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))

        def ctty():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=ctty,
            close_fds=True,
        )
        os.close(slave)
        os.set_blocking(master, False)
        self.fd = master
        self.buf = b""
        self.ready = False
        self.dead = False
        self.typed = TYPE is None

    def take(self, data):
        """Adds output before the marker; types the --type line at the first prompt."""
        self.buf += data
        if not self.typed and PROMPT.search(self.buf):
            os.write(self.fd, TYPE)
            self.typed = True
            self.buf = b""  # the prompt and the typed line's echo are not the marker

    def read(self):
        """Reads what is there; returns the bytes ('' at EOF/EIO, marking the session dead)."""
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return b""
        except OSError:
            data = b""
        if not data:
            self.dead = True
        return data

    def output_tail(self):
        return self.buf[-TAIL:].decode("utf-8", "replace").strip()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.terminate()
            except ProcessLookupError:
                pass
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1

    def reap(self, deadline):
        while self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_ready(s, timeout):
    """Reads until the marker arrives; raises with the session's output if it does not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([s.fd], [], [], 0.1)
        if r:
            data = s.read()
            s.take(data)
            if MARKER in s.buf:
                # Whatever followed the marker (its newline) is not an echo.
                s.ready = True
                return
            if s.dead:
                break
    raise RuntimeError(
        "the session did not become ready (exit %s): %r" % (s.proc.poll(), s.output_tail())
    )


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))
    return sorted_values[int(k)]


def summary_ms(samples_ns):
    v = sorted(x / 1e6 for x in samples_ns)
    return {
        "n": len(v),
        "p50_ms": round(percentile(v, 50), 4) if v else None,
        "p99_ms": round(percentile(v, 99), 4) if v else None,
        "mean_ms": round(sum(v) / len(v), 4) if v else None,
        "max_ms": round(v[-1], 4) if v else None,
    }


# ----------------------------------------------------------------------------------------------
# echo: keystroke round trips on one session
# ----------------------------------------------------------------------------------------------


def run_echo(args, argv):
    lo, hi = (float(x) / 1000 for x in args.pause_ms.split(","))
    s = Session(argv)
    try:
        wait_ready(s, args.timeout)
        time.sleep(0.2)
        while s.read():  # drain the marker's newline
            pass
        rng = random.Random(42)
        samples = []
        for i in range(args.warmup + args.keystrokes):
            b = bytes([rng.randrange(0x61, 0x7B)])
            t0 = time.perf_counter_ns()
            os.write(s.fd, b)
            got = b""
            deadline = time.monotonic() + 10
            while not got.endswith(b):
                r, _, _ = select.select([s.fd], [], [], 1)
                if r:
                    data = s.read()
                    got += data
                    if s.dead:
                        raise RuntimeError("the session ended during the test: %r" % got[-TAIL:])
                if time.monotonic() > deadline:
                    raise RuntimeError("no echo within 10 s for keystroke %d (got %r)" % (i, got))
            t1 = time.perf_counter_ns()
            if len(got) != 1:
                raise RuntimeError("unexpected echo %r for %r at keystroke %d" % (got, b, i))
            if i >= args.warmup:
                samples.append(t1 - t0)
            time.sleep(rng.uniform(lo, hi))
        print(json.dumps(summary_ms(samples)))
        return 0
    finally:
        s.close()
        s.reap(time.monotonic() + 5)


# ----------------------------------------------------------------------------------------------
# hold: many sessions, light typing, memory of the server
# ----------------------------------------------------------------------------------------------


def proc_children():
    """pid -> [child pids], from /proc."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def status_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(pid, mode):
    """(RSS KiB, PSS KiB, processes) of the process (self) or of all its descendants (tree)."""
    if mode == "self":
        return status_kib(pid, "VmRSS"), pss_kib(pid), 1
    kids = proc_children()
    todo, seen = list(kids.get(pid, [])), []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(kids.get(p, []))
    return sum(status_kib(p, "VmRSS") for p in seen), sum(pss_kib(p) for p in seen), len(seen)


def cpu_secs(pid, mode):
    """utime + stime in seconds of the process (self) or of all its descendants (tree)."""
    tick = os.sysconf("SC_CLK_TCK")

    def one(p):
        try:
            with open("/proc/%d/stat" % p, "rb") as f:
                stat = f.read()
        except OSError:
            return 0
        fields = stat[stat.rindex(b")") + 2 :].split()
        return int(fields[11]) + int(fields[12])

    if mode == "self":
        return one(pid) / tick
    kids = proc_children()
    todo, total = list(kids.get(pid, [])), 0
    while todo:
        p = todo.pop()
        total += one(p)
        todo.extend(kids.get(p, []))
    return total / tick


def run_hold(args, argv):
    sessions = []
    poller = select.poll()
    by_fd = {}
    failures = []
    report = {"requested": args.count}

    def sample():
        if not args.rss_pid:
            return {}
        rss, pss, procs = memory(args.rss_pid, args.rss_mode)
        return {"rss_kib": rss, "pss_kib": pss, "processes": procs}

    def drop(s, why):
        failures.append(why)
        try:
            poller.unregister(s.fd)
        except (KeyError, ValueError):
            pass
        by_fd.pop(s.fd, None)
        s.close()

    try:
        time.sleep(1)
        report["before"] = sample()

        # --- connect, at most `parallel` still connecting -------------------------------------
        t_start = time.monotonic()
        pending = {}  # fd -> (session, deadline)
        launched = 0
        while launched < args.count or pending:
            while launched < args.count and len(pending) < args.parallel:
                s = Session(argv)
                sessions.append(s)
                by_fd[s.fd] = s
                poller.register(s.fd, select.POLLIN)
                pending[s.fd] = (s, time.monotonic() + args.timeout)
                launched += 1
            for fd, ev in poller.poll(100):
                s = by_fd.get(fd)
                if s is None:
                    continue
                data = s.read()
                if not s.ready:
                    s.take(data)
                    if MARKER in s.buf:
                        s.ready = True
                        pending.pop(fd, None)
                    elif s.dead:
                        pending.pop(fd, None)
                        drop(s, "session ended before ready (exit %s): %r" % (s.proc.wait(), s.output_tail()))
                elif s.dead:
                    drop(s, "an established session ended while connecting others: %r" % s.output_tail())
            now = time.monotonic()
            for fd, (s, deadline) in list(pending.items()):
                if now > deadline:
                    pending.pop(fd)
                    drop(s, "not ready within %d s: %r" % (args.timeout, s.output_tail()))
        report["connect_secs"] = round(time.monotonic() - t_start, 2)
        live = [s for s in sessions if s.ready and s.fd >= 0]
        report["established"] = len(live)
        report["failed_to_connect"] = len(failures)
        if not live:
            report["errors"] = failures[:5]
            print(json.dumps(report))
            return 1
        time.sleep(1)
        for s in live:  # the markers' newlines
            s.read()
        report["established_idle"] = sample()

        # --- light typing -------------------------------------------------------------------
        # One byte per session every `type_interval` seconds on average (uniform pauses), the
        # sessions' next keystrokes kept in a heap; each echo is checked and timed.
        rng = random.Random(7)
        now = time.monotonic()
        due = [(now + rng.uniform(0, 2 * args.type_interval), s.fd) for s in live]
        heapq.heapify(due)
        outstanding = {}  # fd -> (byte, sent ns)
        lat = []
        cpu_start = cpu_secs(args.rss_pid, args.rss_mode) if args.rss_pid else None
        typing_start = time.monotonic()
        peak = dict(report["established_idle"])
        end = now + args.type_secs
        next_sample = now + 1
        while True:
            now = time.monotonic()
            typing = now < end
            if not typing and (not outstanding or now > end + 10):
                break
            while typing and due and due[0][0] <= now:
                _, fd = heapq.heappop(due)
                s = by_fd.get(fd)
                if s is None:
                    continue
                heapq.heappush(due, (now + rng.uniform(0, 2 * args.type_interval), fd))
                if fd in outstanding:
                    continue
                b = bytes([rng.randrange(0x61, 0x7B)])
                try:
                    os.write(fd, b)
                except OSError:
                    continue
                outstanding[fd] = (b, time.perf_counter_ns())
            wait_ms = 100
            if typing and due:
                wait_ms = max(0, min(100, int((due[0][0] - time.monotonic()) * 1000) + 1))
            for fd, ev in poller.poll(wait_ms):
                s = by_fd.get(fd)
                if s is None:
                    continue
                data = s.read()
                if s.dead:
                    outstanding.pop(fd, None)
                    drop(s, "session ended while typing: %r" % (s.buf + data)[-TAIL:])
                    continue
                if fd in outstanding and data:
                    b, t0 = outstanding.pop(fd)
                    if data == b:
                        lat.append(time.perf_counter_ns() - t0)
                    else:
                        failures.append("wrong echo %r for %r" % (data, b))
            if now >= next_sample:
                next_sample = now + 1
                m = sample()
                if m.get("rss_kib", 0) > peak.get("rss_kib", 0):
                    peak = m
        if cpu_start is not None:
            # Per session and per minute of light typing (the sessions outlive the window).
            cpu = cpu_secs(args.rss_pid, args.rss_mode) - cpu_start
            minutes = (time.monotonic() - typing_start) / 60
            report["typing_cpu_secs"] = round(cpu, 3)
            report["cpu_ms_per_session_minute"] = round(cpu * 1000 / len(live) / minutes, 3)
        lost = len(outstanding)
        report["keystrokes_echoed"] = len(lat)
        report["keystrokes_lost"] = lost
        report["typing_echo"] = summary_ms(lat)
        report["peak"] = peak

        # --- idle -----------------------------------------------------------------------------
        time.sleep(args.settle)
        samples = []
        for _ in range(3):
            samples.append(sample())
            time.sleep(0.5)
        # The median of three samples, field by field.
        idle = {k: sorted(x[k] for x in samples)[1] for k in samples[0]} if samples[0] else {}
        report["idle"] = idle
        alive = [s for s in live if s.fd >= 0 and s.proc.poll() is None]
        report["alive_at_idle"] = len(alive)
        if idle and report["before"] and alive:
            report["rss_kib_per_session"] = round(
                (idle["rss_kib"] - report["before"]["rss_kib"]) / len(alive), 1
            )
            report["pss_kib_per_session"] = round(
                (idle["pss_kib"] - report["before"]["pss_kib"]) / len(alive), 1
            )
        report["failures"] = len(failures)
        report["errors"] = failures[:5]
        print(json.dumps(report))
        return 0
    finally:
        for s in sessions:
            s.close()
        deadline = time.monotonic() + 15
        for s in sessions:
            s.reap(deadline)


def main():
    if "--" not in sys.argv:
        print(__doc__, file=sys.stderr)
        return 2
    i = sys.argv.index("--")
    own, argv = sys.argv[1:i], sys.argv[i + 1 :]
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["echo", "hold"])
    p.add_argument("--timeout", type=float, default=60, help="seconds for a session to be ready")
    p.add_argument("--keystrokes", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--pause-ms", default="20,80")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--parallel", type=int, default=16)
    p.add_argument("--type-secs", type=float, default=20)
    p.add_argument("--type-interval", type=float, default=2.0)
    p.add_argument("--settle", type=float, default=5)
    p.add_argument("--rss-pid", type=int, default=0)
    p.add_argument("--rss-mode", choices=["self", "tree"], default="self")
    p.add_argument("--type", default=None, help="a line typed at the first shell prompt")
    args = p.parse_args(own)
    if not argv:
        p.error("no command after --")
    global TYPE
    if args.type is not None:
        TYPE = args.type.encode() + b"\n"

    # A TERM or INT from the calling script ends every session through the `finally` blocks.
    def stop(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    try:
        return run_echo(args, argv) if args.mode == "echo" else run_hold(args, argv)
    except RuntimeError as e:
        print(json.dumps({"error": str(e)}))
        return 1


if __name__ == "__main__":
    sys.exit(main())
