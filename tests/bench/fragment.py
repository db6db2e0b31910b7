#!/usr/bin/env python3
"""Turns the raw output of a benchmark into a report fragment (see report.py for the format).

Used by the section scripts that measure through the `portcullis` binary or `wrk`:

    fragment.py permission --out F --command CMD [--quick] [--sqlite A.json] [--postgres B.json]
        [--setting k=v ...] [--note TEXT ...]
    fragment.py api --out F --command CMD --assets N --results R.tsv [--setting k=v ...] [--note ...]
    fragment.py plugins --out F --command CMD --raw R.json [--start-plugins 20] [--setting ...] [--note ...]
    fragment.py web --out F --command CMD --assets N --nodes N --rounds N [--asset-raw A.json]
        [--cat-raw C.json --cat-mib M --cat-rounds K] [--setting ...] [--note ...]

A measurement that is missing (its file absent, a failed run) becomes a figure with a null value
and a note, so the report shows the gap. Targets come from BENCHMARKS.md's owning issues; a run
on a smaller scenario than the target's (the quick mode) is not judged (`met` null).
Python standard library only.
"""

import argparse
import json
import os
import sys

# The permission engine's scenario the targets are set for (BENCHMARKS.md, foundation issue).
PERM_FULL = {"assets": 100_000, "nodes": 10_000}

# `portcullis bench` figure names → (id suffix, label, target text, target check on the median).
PERM_FIGURES = [
    (
        "first page of 100 permitted assets + total count",
        "page",
        "first page of 100 permitted assets + total count",
        "< 50 ms",
        lambda v: v < 50,
    ),
    (
        "permitted node tree with asset counts",
        "tree",
        "permitted node tree with asset counts",
        "< 50 ms",
        lambda v: v < 50,
    ),
    (
        "one asset's grant (accounts, protocols, actions)",
        "grant",
        "one asset's grant (accounts, protocols, actions)",
        None,
        None,
    ),
    (
        "rebuild of the user's grant (cold, after any change)",
        "rebuild",
        "rebuild of the user's materialized grant after a change",
        None,
        None,
    ),
]

BACKENDS = [("sqlite", "SQLite"), ("postgres", "PostgreSQL")]


def parse_settings(pairs):
    out = {}
    for p in pairs or []:
        k, _, v = p.partition("=")
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def load_json(path):
    """The file's JSON, or None with the reason."""
    if not path:
        return None, "not run"
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None, f"{os.path.basename(path)} was not written"
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh), None
    except ValueError as e:
        return None, f"{os.path.basename(path)} is not JSON: {e}"


def permission(a):
    """Fragment of `portcullis bench --json` on SQLite and PostgreSQL."""
    notes = list(a.note or [])
    figures = []
    settings = parse_settings(a.setting)
    for key, name in BACKENDS:
        raw, why = load_json(getattr(a, key))
        by_name = {}
        full = False
        if raw is not None:
            by_name = {f.get("name"): f for f in raw.get("figures", [])}
            full = all(raw.get(k) == v for k, v in PERM_FULL.items())
            settings.setdefault("assets", raw.get("assets"))
            for k in ("nodes", "groups", "permissions", "iterations"):
                settings.setdefault(k, raw.get(k))
        else:
            notes.append(f"{name}: not measured ({why}).")
        for bench_name, suffix, label, target, check in PERM_FIGURES:
            f = by_name.get(bench_name)
            value = round(f["median_ms"], 3) if f and f.get("median_ms") is not None else None
            met = None
            if value is not None and check is not None and full:
                met = bool(check(value))
            spread = None
            if f:
                spread = {k: round(f[k + "_ms"], 3) for k in ("p99", "min") if f.get(k + "_ms") is not None}
                n = raw.get("iterations")
                if n:
                    spread["n"] = min(n, 5) if suffix == "rebuild" else n
            if raw is not None and f is None:
                notes.append(f"{name}: `portcullis bench` printed no figure named “{bench_name}”.")
            figures.append(
                {
                    "id": f"permission.{key}.{suffix}_ms",
                    "label": f"{name}: {label}, median",
                    "unit": "ms",
                    "value": value,
                    "spread": spread,
                    "target": target,
                    "met": met,
                }
            )
    if any(settings.get(k) not in (None, v) for k, v in PERM_FULL.items()):
        notes.append(
            "Smaller inventory than the targets are set for (100,000 assets, 10,000 nodes): "
            "targets are not judged."
        )
    inv = settings.get("assets")
    return {
        "section": "permission",
        "title": "Permission engine — "
        + (f"{inv:,} assets" if isinstance(inv, int) else "synthetic inventory")
        + ", SQLite and PostgreSQL",
        "command": a.command,
        "settings": settings,
        "method": (
            f"`portcullis bench` builds one user in {settings.get('groups', '?')} groups and "
            f"{settings.get('permissions', '?')} permissions over {settings.get('nodes', '?')} nodes, "
            "each permission granting to one group a slice of the leaf nodes plus five assets directly (every tenth asset "
            "sits in two nodes), so the user is granted every asset; in a fresh temporary SQLite "
            "database, then in an empty PostgreSQL database on a throwaway loopback cluster. It "
            "times the first page of 100 permitted assets with the total count and the permitted "
            "node tree (what the user's \"my assets\" views cost once the grant is materialized), "
            "one asset's grant (what a connection decides with) and the rebuild of the "
            "materialized grant after a change (at most 5 repetitions; the slowest is the very "
            "first build). Value: median; targets are judged on the median."
        ),
        "figures": figures,
        "notes": notes,
    }


API_ENDPOINTS = {
    "admin": ("assets", "`GET /api/v1/assets/assets/?limit=100` (admin)"),
    "bench": ("perms_self", "`GET /api/v1/perms/users/self/assets/?limit=100` (bench)"),
}


def api(a):
    """Fragment of tests/bench/api.sh's wrk results.

    The results file has one tab-separated line per endpoint:
    who, path, req/s, p50 ms, p99 ms, requests, socket errors, failure (empty when measured).
    """
    notes = list(a.note or [])
    results = {}
    if a.results and os.path.exists(a.results):
        with open(a.results, encoding="utf-8") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 8:
                    continue
                who, path, rps, p50, p99, total, errors, failure = parts[:8]
                results[who] = {
                    "path": path,
                    "rps": int(round(float(rps))) if rps else None,
                    "p50": float(p50) if p50 else None,
                    "p99": float(p99) if p99 else None,
                    "total": int(total) if total else None,
                    "errors": errors,
                    "failure": failure,
                }
    full = a.assets == PERM_FULL["assets"]
    figures = []
    for who, (key, label) in API_ENDPOINTS.items():
        r = results.get(who)
        if r is None:
            notes.append(f"{label}: not measured (no result; see the script's output).")
            r = {}
        elif r.get("failure"):
            notes.append(f"{label}: not measured: {r['failure']}.")
            r = {}
        elif r.get("errors") not in (None, "", "none"):
            notes.append(f"{label}: wrk reported {r['errors']}.")
        rps, p99 = r.get("rps"), r.get("p99")
        figures.append(
            {
                "id": f"api.{key}.rps",
                "label": f"{label}, requests/s",
                "unit": "req/s",
                "value": rps,
                "spread": {"requests": r["total"]} if r.get("total") is not None else None,
                "target": "≥ 2,000 req/s",
                "met": (rps >= 2000) if rps is not None and full else None,
            }
        )
        figures.append(
            {
                "id": f"api.{key}.p99_ms",
                "label": f"{label}, p99 latency",
                "unit": "ms",
                "value": p99,
                "spread": {"p50": r["p50"]} if r.get("p50") is not None else None,
                "target": "< 50 ms",
                "met": (p99 < 50) if p99 is not None and full else None,
            }
        )
    if not full:
        notes.append(
            f"{a.assets:,} assets instead of the 100,000 the targets are set for: targets are not judged."
        )
    settings = parse_settings(a.setting)
    return {
        "section": "api",
        "title": f"REST API — {a.assets:,} assets, SQLite, load from a second process",
        "command": a.command,
        "settings": settings,
        "method": (
            "The permission engine's inventory (`portcullis bench --populate-only`: the user "
            "`bench` granted every asset, and `admin`) served by `portcullis serve` (release "
            "build, `PORTCULLIS_LOG=warn`) on a loopback port and driven by `wrk` with a private "
            "token from a second process on the same machine. The administrator lists the "
            "inventory; `bench` lists its own permitted assets. Every answer is checked first "
            "(200, the whole inventory counted, 100 rows); each endpoint is warmed up, then "
            "measured once; a run with error answers is not a figure."
        ),
        "figures": figures,
        "notes": notes,
    }


def plugin_language(pid):
    if "python" in pid:
        return "Python", "ms", 1e-3, "≤ 1.5 ms", lambda v: v <= 1.5
    if pid.endswith("-js") or "javascript" in pid:
        return "JavaScript", "ms", 1e-3, "≤ 1 ms", lambda v: v <= 1.0
    return "Rust", "µs", 1.0, "≤ 30 µs", lambda v: v <= 30


def plugins(a):
    """Fragment of `portcullis bench-plugins --json`."""
    notes = list(a.note or [])
    raw, why = load_json(a.raw)
    settings = parse_settings(a.setting)
    figures = []
    if raw is None:
        notes.append(f"not measured ({why}).")
        raw = {}
    expected = ["portcullis-linux", "example-inventory-rust", "example-inventory-python", "example-inventory-js"]
    components = sorted(
        (k for k, v in raw.items() if isinstance(v, dict) and "fresh_call_median_us" in v),
        key=lambda k: (expected.index(k) if k in expected else len(expected), k),
    )
    for pid in expected:
        if pid not in components:
            components.append(pid)
            if raw:
                notes.append(f"`{pid}` was not found in the plugins directory: not measured.")
    for pid in components:
        lang, unit, scale, target, check = plugin_language(pid)
        c = raw.get(pid) or {}
        med = c.get("fresh_call_median_us")
        value = round(med * scale, 4) if med is not None else None
        spread = None
        if med is not None:
            spread = {"p99": round(c["fresh_call_p99_us"] * scale, 4), "n": c.get("calls")}
        figures.append(
            {
                "id": f"plugins.fresh_call.{pid}",
                "label": f"`{pid}` ({lang}): fresh instance + `describe`, median",
                "unit": unit,
                "value": value,
                "spread": spread,
                "target": target,
                "met": bool(check(value)) if value is not None else None,
            }
        )
    n = a.start_plugins
    for key, label, target in [
        ("compiled_components", f"host start with {n} enabled plugins (compiled components)", "≤ 500 ms"),
        ("every_component", f"host start with {n} enabled plugins (every component, Python and JS too)", None),
    ]:
        s = raw.get(f"start_{n}_{key}") or {}
        v = round(s["ms"], 3) if s.get("ms") is not None else None
        figures.append(
            {
                "id": f"plugins.host_start.{key}",
                "label": label,
                "unit": "ms",
                "value": v,
                "target": target if n == 20 else None,
                "met": (v <= 500) if v is not None and target and n == 20 else None,
            }
        )
    c = raw.get("concurrent") or {}
    inv = c.get("invocations")
    ok = c.get("failed") == 0
    if c and not ok:
        notes.append(f"{c.get('failed')} of {inv} concurrent invocations failed.")
    figures.append(
        {
            "id": "plugins.concurrent.seconds",
            "label": f"{inv or a.concurrent} concurrent `ping` automations (remote answering after "
            f"{c.get('remote_delay_ms', a.remote_delay_ms)} ms), wall time",
            "unit": "s",
            "value": round(c["seconds"], 3) if ok and c.get("seconds") is not None else None,
            "target": None,
            "met": None,
        }
    )
    rss = c.get("peak_rss_kib_after")
    figures.append(
        {
            "id": "plugins.concurrent.peak_rss_mib",
            "label": "peak RSS of the process after the concurrent automations",
            "unit": "MiB",
            "value": round(rss / 1024, 1) if rss is not None and ok else None,
            "spread": {"before": round(c["peak_rss_kib_before"] / 1024, 1)} if c.get("peak_rss_kib_before") else None,
            "target": None,
            "met": None,
        }
    )
    for pid in components:
        cc = raw.get(pid) or {}
        if cc.get("compile_s") is not None:
            settings.setdefault("compile_at_install_s", {})[pid] = round(cc["compile_s"], 2)
    return {
        "section": "plugins",
        "title": "Plugin runtime — fresh instance per call, host start, concurrent automations",
        "command": a.command,
        "settings": settings,
        "method": (
            "`portcullis bench-plugins` on the built guests in `target/plugins/`. A call is what "
            "every invocation pays: a fresh store and instance from the cached `InstancePre`, one "
            "`describe`, the store dropped. Host start: a new engine loading the precompiled "
            "artifacts (cycling through the components, smallest first) and calling `describe` "
            "on each, as `serve` does per enabled plugin. Concurrency: `ping` invocations of the "
            "Linux plugin at once against a fake remote that answers every command after a "
            "delay; peak RSS of the process (it ran every component before)."
        ),
        "figures": figures,
        "notes": notes,
    }


# The web section's scenario the asset-page targets are set for (issue 6, Performance).
WEB_FULL = {"assets": 100_000, "nodes": 10_000}

# asset_page.mjs summary keys → (id, label, API request key, target).
WEB_ASSET_FIGURES = [
    ("web.asset_page_open_ms", "open", "open_api_list",
     "asset page open (navigation start → first page of rows and node tree shown), ms", "< 1000 ms"),
    ("web.asset_search_ms", "search", "search_api",
     "asset list search by name (input → matching rows shown; 300 ms debounce included), ms", "< 1000 ms"),
    ("web.node_expand_ms", "expand", "expand_api",
     "node tree expand (click → lazily loaded children shown), ms", None),
]


def _median(xs):
    s = sorted(xs)
    if not s:
        return None
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def web_asset_page(a, raw, notes):
    """The asset page's figures from tests/bench/web/asset_page.mjs's raw output."""
    full = a.assets >= WEB_FULL["assets"] and a.nodes >= WEB_FULL["nodes"]
    summary = (raw or {}).get("summary") or {}
    figures = []
    for fid, key, api_key, label, target in WEB_ASSET_FIGURES:
        s = summary.get(key)
        value = s["median"] if s else None
        spread = None
        if s:
            spread = {"min": s["min"], "max": s["max"], "n": s["n"]}
            api_s = summary.get(api_key)
            if api_s:
                spread["api"] = api_s["median"]
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
        notes.append(f"Quick or reduced scenario ({a.assets} assets, {a.nodes} nodes): the asset page's targets, "
                     "set for 100,000 assets and 10,000 nodes, are not judged.")
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
    return figures


def web_terminal_cat(a, raw, notes):
    """The web terminal's figures from tests/bench/web/terminal_cat.mjs's output (one entry per
    timed round): value the median of the rounds, spread min, max and n."""
    rounds = [r for r in (raw or {}).get("rounds") or [] if isinstance(r, dict)]
    mib = a.cat_mib
    specs = [
        ("web.terminal_cat_mib_s", f"web terminal `cat` of {mib} MiB: Enter → end marker shown, MiB/s (wall clock)",
         "MiB/s", lambda r: r.get("mib_s")),
        ("web.terminal_frame_gap_ms", "web terminal during the `cat`: longest gap between animation frames, ms",
         "ms", lambda r: r.get("max_frame_gap_ms")),
        ("web.terminal_input_delay_ms", "web terminal during the `cat`: longest input delay of mouse moves, ms",
         "ms", lambda r: (r.get("input_delay") or {}).get("max")),
        ("web.terminal_longtask_ms", "web terminal during the `cat`: longest main-thread task, ms",
         "ms", lambda r: (r.get("longtasks") or {}).get("max")),
        ("web.terminal_backlog_mib", "web terminal during the `cat`: peak output received, not yet parsed, MiB",
         "MiB", lambda r: None if r.get("max_backlog_kib") is None else r["max_backlog_kib"] / 1024),
    ]
    figures = []
    for fid, label, unit, get in specs:
        xs = [v for v in (get(r) for r in rounds) if isinstance(v, (int, float)) and not isinstance(v, bool)]
        value = _median(xs)
        spread = {"min": round(min(xs), 4), "max": round(max(xs), 4), "n": len(xs)} if xs else None
        figures.append({"id": fid, "label": label, "unit": unit,
                        "value": round(value, 4) if value is not None else None,
                        "spread": spread, "target": None, "met": None})
    if rounds and len(rounds) < a.cat_rounds:
        notes.append(f"The web terminal run timed {len(rounds)} of {a.cat_rounds} rounds.")
    if rounds:
        gaps = [r["max_frame_gap_ms"] for r in rounds if isinstance(r.get("max_frame_gap_ms"), (int, float))]
        if gaps and max(gaps) >= 1000:
            notes.append(f"The web terminal's tab froze: {max(gaps):.0f} ms without a frame during a `cat`.")
    return figures


def web(a):
    """Fragment of the web section: the asset page (asset_page.mjs) and the web terminal under
    bulk output (terminal_cat.sh)."""
    notes = list(a.note or [])
    settings = {"assets": a.assets, "nodes": a.nodes, "rounds": a.rounds}
    settings.update(parse_settings(a.setting))
    raw, why = load_json(a.asset_raw)
    if raw is None:
        notes.append(f"The asset page's browser run wrote no figures: not measured ({why}).")
    elif raw.get("error"):
        notes.append("The asset page's browser run failed: " + raw["error"].splitlines()[0])
    for p in (raw or {}).get("problems") or []:
        notes.append("Page problem during the asset page run: " + p)
    if (raw or {}).get("browser"):
        settings["browser"] = raw["browser"]
    figures = web_asset_page(a, raw, notes)
    cat, why = load_json(a.cat_raw)
    if cat is None:
        notes.append(f"The web terminal's browser run wrote no figures: not measured ({why}).")
    elif cat.get("error"):
        notes.append("The web terminal's browser run failed: " + cat["error"].splitlines()[0])
    for p in (cat or {}).get("problems") or []:
        notes.append("Page problem during the web terminal run: " + p)
    settings["terminal_cat_mib"] = a.cat_mib
    settings["terminal_cat_rounds"] = a.cat_rounds
    if (cat or {}).get("bytes"):
        settings["terminal_cat_bytes"] = cat["bytes"]
    figures += web_terminal_cat(a, cat, notes)
    return {
        "section": "web",
        "title": "Web UI — console asset page (open, search, lazy node tree) and web terminal under `cat` (headless chromium)",
        "command": a.command,
        "settings": settings,
        "method": (
            "**Asset page.** `portcullis bench --populate-only` builds the inventory (SQLite); `portcullis serve` "
            "(release build, UI embedded) serves it on loopback and headless chromium, driven by "
            "playwright-core, logs in as the administrator. After one warm-up round, each round "
            "navigates afresh to `/ui/console/assets` and times, on the page's own clock: the open "
            "(navigation start → the next animation frame after the first page of rows and the node "
            "tree's first level are in the DOM), a search (the search box's input event with a name "
            "fragment matching ten assets → exactly those rows shown; the list debounces input by "
            "300 ms) and the expansion of a top node (click → its children, fetched from the server, "
            "shown). Value: median of the rounds; spread: min, max and `api`, the median duration of "
            "the API request the page waited on (Resource Timing).\n\n"
            "**Web terminal.** `tests/bench/web/terminal_cat.sh`: a target sshd and `portcullis serve` "
            "(release build, fresh SQLite data, recording on) on loopback; headless chromium signs in "
            "as a permitted user, opens the workbench terminal to the target and types "
            "`clear; cat FILE; echo END-…` (FILE: `seq` output of the size shown). On the page's clock: "
            "Enter keydown → the end marker found in xterm's buffer on an animation frame (MiB/s = size "
            "/ that time); meanwhile a rAF loop records the longest gap between frames, a `longtask` "
            "observer the longest main-thread task, mouse moves sent every 100 ms their input delay "
            "(handler start − event timeStamp) and the page's output queue its peak backlog (large: "
            "the browser, not the server, sets the pace). One warm-up round, then the timed rounds; "
            "value: median of the rounds, spread min, max, n. Browser and server share the machine: "
            "the MiB/s is wall clock and moves with the machine's load."
        ),
        "figures": figures,
        "notes": notes,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="kind", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", required=True)
    common.add_argument("--command", required=True)
    common.add_argument("--setting", action="append")
    common.add_argument("--note", action="append")
    p = sub.add_parser("permission", parents=[common])
    p.add_argument("--sqlite")
    p.add_argument("--postgres")
    p = sub.add_parser("api", parents=[common])
    p.add_argument("--assets", type=int, required=True)
    p.add_argument("--results")
    p = sub.add_parser("plugins", parents=[common])
    p.add_argument("--raw")
    p.add_argument("--start-plugins", type=int, default=20)
    p.add_argument("--concurrent", type=int, default=1000)
    p.add_argument("--remote-delay-ms", type=int, default=200)
    p = sub.add_parser("web", parents=[common])
    p.add_argument("--assets", type=int, required=True)
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--rounds", type=int, required=True)
    p.add_argument("--asset-raw")
    p.add_argument("--cat-raw")
    p.add_argument("--cat-mib", type=int, default=32)
    p.add_argument("--cat-rounds", type=int, default=3)
    a = ap.parse_args(argv)
    frag = {"permission": permission, "api": api, "plugins": plugins, "web": web}[a.kind](a)
    with open(a.out, "w", encoding="utf-8") as fh:
        json.dump(frag, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
