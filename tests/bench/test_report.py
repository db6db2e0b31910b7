"""Unit tests of the benchmark report (report.py) and the fragment converters (fragment.py).

Run with `python3 -m unittest discover -s tests/bench -p 'test_*.py'` (tests/run.sh does); they
take well under a second and run no benchmark.
"""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fragment  # noqa: E402
import report  # noqa: E402

PROVENANCE = {
    "date": "2026-11-23 04:00 UTC",
    "commit": "abc1234",
    "dirty": True,
    "nproc": 2,
    "memory_gib": 23.4,
    "cpu": "AMD EPYC 7B13",
    "kernel": "6.18.0",
    "os": "Debian GNU/Linux 12 (bookworm)",
    "openssh": "OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.19",
}

GATEWAY = {
    "section": "gateway",
    "title": "SSH gateway — throughput",
    "command": "BENCH_SIZE_MIB=64 tests/bench/gateway.sh",
    "settings": {"size_mib": 64, "repeat": 3},
    "method": "Exec `cat` through three paths.",
    "figures": [
        {
            "id": "gateway.exec_mib_s",
            "label": "exec `cat` of 64 MiB, MiB/s",
            "unit": "MiB/s",
            "value": 332.0,
            "spread": {"min": 310.1, "max": 340.2, "n": 3},
            "baselines": {"direct": 485.5, "jump": 303.1},
            "ratio": "1.10× jump",
            "target": "≥ 1.0× jump",
            "met": True,
        },
        {
            "id": "gateway.sftp_mib_s",
            "label": "SFTP get, MiB/s",
            "unit": "MiB/s",
            "value": 106.2,
            "baselines": {"direct": 423.1, "jump": 275.5},
            "ratio": "0.39× jump",
            "target": "≥ 1.0× jump",
            "met": False,
        },
        {
            "id": "gateway.rss_kib",
            "label": "memory per idle session | RSS",
            "unit": "KiB",
            "value": None,
            "target": "≤ 100 KiB",
            "met": None,
        },
    ],
    "notes": ["the 1,000-session round was skipped: not enough memory"],
}

PLUGINS = {
    "section": "plugins",
    "title": "Plugin runtime",
    "command": "tests/bench/plugins.sh",
    "settings": {},
    "method": "",
    "figures": [
        {
            "id": "plugins.start",
            "label": "host start",
            "unit": "ms",
            "value": 1234.5,
            "target": None,
            "met": None,
        }
    ],
    "notes": [],
}


def write(dirname, name, obj):
    path = os.path.join(dirname, name)
    with open(path, "w", encoding="utf-8") as fh:
        if isinstance(obj, str):
            fh.write(obj)
        else:
            json.dump(obj, fh)
    return path


class Formatting(unittest.TestCase):
    def test_numbers_by_magnitude(self):
        self.assertEqual(report.fmt_num(12345.6), "12,346")
        self.assertEqual(report.fmt_num(332.04), "332.0")
        self.assertEqual(report.fmt_num(1.9649), "1.96")
        self.assertEqual(report.fmt_num(0.5651), "0.565")
        self.assertEqual(report.fmt_num(100000), "100,000")
        self.assertEqual(report.fmt_num(None), "not measured")

    def test_met_marks(self):
        self.assertEqual(report.fmt_met(True), "met")
        self.assertEqual(report.fmt_met(False), "**missed**")
        self.assertEqual(report.fmt_met(None), "—")

    def test_spread_orders_percentiles_first(self):
        self.assertEqual(report.fmt_spread({"n": 3, "min": 1.0, "p99": 2.5}), "p99 2.50 · min 1.00 · n 3")


class Summary(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def sections(self, *frags):
        paths = [write(self.dir.name, f"{i}.json", f) for i, f in enumerate(frags)]
        return report.load_sections(None, paths)

    def test_rows_with_baselines_ratio_target_and_marks(self):
        md = report.render(self.sections(GATEWAY), PROVENANCE)
        self.assertIn(
            "| gateway | exec `cat` of 64 MiB, MiB/s | 332.0 MiB/s | 485.5 MiB/s | 303.1 MiB/s "
            "| 1.10× jump | ≥ 1.0× jump | met |",
            md,
        )
        self.assertIn(
            "| gateway | SFTP get, MiB/s | 106.2 MiB/s | 423.1 MiB/s | 275.5 MiB/s "
            "| 0.39× jump | ≥ 1.0× jump | **missed** |",
            md,
        )

    def test_null_value_is_not_measured_with_the_note_and_no_mark(self):
        md = report.render(self.sections(GATEWAY), PROVENANCE)
        # The pipe in the label is escaped so the table keeps its columns.
        self.assertIn(
            "| gateway | memory per idle session \\| RSS | not measured | — | — | — | ≤ 100 KiB | — |", md
        )
        self.assertIn("- the 1,000-session round was skipped: not enough memory", md)

    def test_a_figure_claiming_met_without_a_value_shows_no_mark(self):
        frag = json.loads(json.dumps(PLUGINS))
        frag["figures"][0].update(value=None, met=True, target="≤ 500 ms")
        md = report.render(self.sections(frag), PROVENANCE)
        self.assertIn("| plugins | host start | not measured | — | — | — | ≤ 500 ms | — |", md)

    def test_no_target_gives_a_dash(self):
        md = report.render(self.sections(PLUGINS), PROVENANCE)
        self.assertIn("| plugins | host start | 1,234 ms | — | — | — | — | — |", md)

    def test_sections_in_suite_order_whatever_the_argument_order(self):
        md = report.render(self.sections(PLUGINS, GATEWAY), PROVENANCE)
        self.assertLess(md.index("## SSH gateway"), md.index("## Plugin runtime"))

    def test_provenance_in_the_header(self):
        md = report.render(self.sections(PLUGINS), PROVENANCE)
        self.assertIn("`abc1234` with uncommitted changes", md)
        self.assertIn("2 CPUs (`nproc`), 23.4 GiB, AMD EPYC 7B13", md)
        self.assertIn("OpenSSH_9.2p1", md)
        self.assertIn("Debian GNU/Linux 12 (bookworm), kernel 6.18.0", md)

    def test_section_block_has_command_settings_method_and_figures(self):
        md = report.render(self.sections(GATEWAY), PROVENANCE)
        block = md[md.index("## SSH gateway") :]
        self.assertIn("```sh\nBENCH_SIZE_MIB=64 tests/bench/gateway.sh\n```", block)
        self.assertIn("`size_mib` = 64, `repeat` = 3", block)
        self.assertIn("Exec `cat` through three paths.", block)
        self.assertIn("| exec `cat` of 64 MiB, MiB/s | 332.0 MiB/s | min 310.1 · max 340.2 · n 3 |", block)

    def test_findings_copied_verbatim_without_their_title(self):
        findings = "# Title line of the hand-kept file\n\n### Gateway\n\n- SFTP was 0.39× (`60296dc`).\n"
        md = report.render(self.sections(PLUGINS), PROVENANCE, findings=findings)
        self.assertTrue(md.endswith("## Findings\n\n### Gateway\n\n- SFTP was 0.39× (`60296dc`).\n"))
        self.assertNotIn("Title line", md)


class RunStatus(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def test_failed_section_without_fragment_is_recorded_and_others_kept(self):
        ok = write(self.dir.name, "plugins.json", PLUGINS)
        run = {
            "command": "tests/bench/run.sh --quick",
            "quick": True,
            "loadavg_start": "0.10 0.20 0.30",
            "loadavg_end": "1.00 2.00 3.00",
            "sections": [
                {
                    "section": "api",
                    "status": 3,
                    "seconds": 12.5,
                    "fragment": os.path.join(self.dir.name, "api.json"),
                    "log_tail": "wrk: connection refused",
                },
                {"section": "plugins", "status": 0, "seconds": 40.0, "fragment": ok, "log_tail": ""},
            ],
        }
        sections = report.load_sections(run, [])
        self.assertEqual([s["section"] for s in sections], ["api", "plugins"])
        self.assertTrue(sections[0]["failed"])
        md = report.render(sections, PROVENANCE, run)
        self.assertIn("| api | (whole section) | not measured | — | — | — | — | — |", md)
        self.assertIn("The section failed (exit status 3): it wrote no fragment", md)
        self.assertIn("  wrk: connection refused", md)
        self.assertIn("| host start | 1,234 ms |", md)
        self.assertIn("at start 0.10 0.20 0.30; at end 1.00 2.00 3.00", md)
        self.assertIn("`tests/bench/run.sh --quick`", md)
        self.assertIn("quick (small sizes", md)
        self.assertIn("Section `plugins`: ok, 40.0 s wall time.", md)

    def test_nonzero_exit_with_a_fragment_keeps_its_figures_and_adds_a_note(self):
        path = write(self.dir.name, "gateway.json", GATEWAY)
        run = {"sections": [{"section": "gateway", "status": 1, "seconds": 5.0, "fragment": path, "log_tail": "x"}]}
        (frag,) = report.load_sections(run, [])
        self.assertEqual(len(frag["figures"]), 3)
        self.assertTrue(any("exited with status 1" in n for n in frag["notes"]))

    def test_invalid_fragment_is_a_failed_section(self):
        bad = json.loads(json.dumps(GATEWAY))
        bad["figures"][0]["value"] = "fast"
        path = write(self.dir.name, "gateway.json", bad)
        run = {"sections": [{"section": "gateway", "status": 0, "seconds": 1.0, "fragment": path}]}
        (frag,) = report.load_sections(run, [])
        self.assertTrue(frag["failed"])
        self.assertIn("`value` is not a number or null", frag["notes"][0])

    def test_json_document_keeps_every_fragment_and_the_provenance(self):
        path = write(self.dir.name, "gateway.json", GATEWAY)
        doc = report.document(report.load_sections(None, [path]), PROVENANCE, {"command": "c", "sections": []})
        self.assertEqual(doc["provenance"]["commit"], "abc1234")
        self.assertEqual(doc["run"], {"command": "c"})
        self.assertEqual(doc["sections"][0]["figures"][0]["value"], 332.0)
        json.dumps(doc)  # serializable

    def test_main_writes_both_files(self):
        path = write(self.dir.name, "plugins.json", PLUGINS)
        findings = write(self.dir.name, "findings.md", "# F\n\nlearned\n")
        md, js = os.path.join(self.dir.name, "B.md"), os.path.join(self.dir.name, "B.json")
        self.assertEqual(report.main(["--md", md, "--json", js, "--findings", findings, path]), 0)
        with open(md, encoding="utf-8") as fh:
            text = fh.read()
        self.assertIn("| plugins | host start |", text)
        self.assertIn("## Findings\n\nlearned", text)
        with open(js, encoding="utf-8") as fh:
            self.assertEqual(json.load(fh)["sections"][0]["section"], "plugins")


    def test_main_takes_the_commit_the_run_started_from(self):
        path = write(self.dir.name, "plugins.json", PLUGINS)
        run = write(self.dir.name, "run.json", {"command": "c", "commit": "feedbee", "dirty": False,
                                                "sections": [{"section": "plugins", "status": 0, "seconds": 1.0, "fragment": path}]})
        md, js = os.path.join(self.dir.name, "B.md"), os.path.join(self.dir.name, "B.json")
        self.assertEqual(report.main(["--run", run, "--md", md, "--json", js]), 0)
        with open(md, encoding="utf-8") as fh:
            self.assertIn("| commit | `feedbee` |", fh.read())


class Converters(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def convert(self, argv):
        out = os.path.join(self.dir.name, "frag.json")
        fragment.main(argv + ["--out", out, "--command", "cmd"])
        with open(out, encoding="utf-8") as fh:
            frag = json.load(fh)
        report.check_fragment(frag)
        return frag, {f["id"]: f for f in frag["figures"]}

    def bench(self, name, assets, page_ms):
        return write(
            self.dir.name,
            name,
            {
                "backend": "sqlite",
                "assets": assets,
                "nodes": assets // 10,
                "groups": 100,
                "permissions": 1000,
                "iterations": 20,
                "figures": [
                    {"name": "first page of 100 permitted assets + total count", "median_ms": page_ms, "p99_ms": 60.0, "min_ms": 5.0},
                    {"name": "permitted node tree with asset counts", "median_ms": 32.5, "p99_ms": 37.0, "min_ms": 30.0},
                    {"name": "one asset's grant (accounts, protocols, actions)", "median_ms": 7.9, "p99_ms": 13.0, "min_ms": 6.0},
                    {"name": "rebuild of the user's grant (cold, after any change)", "median_ms": 1960.0, "p99_ms": 4310.0, "min_ms": 1500.0},
                ],
            },
        )

    def test_permission_judges_the_median_at_full_size_and_nulls_a_missing_backend(self):
        frag, figs = self.convert(["permission", "--sqlite", self.bench("s.json", 100_000, 51.0)])
        self.assertEqual(figs["permission.sqlite.page_ms"]["value"], 51.0)
        self.assertIs(figs["permission.sqlite.page_ms"]["met"], False)
        self.assertIs(figs["permission.sqlite.tree_ms"]["met"], True)
        self.assertIsNone(figs["permission.sqlite.grant_ms"]["met"])
        self.assertEqual(figs["permission.sqlite.page_ms"]["spread"], {"p99": 60.0, "min": 5.0, "n": 20})
        self.assertEqual(figs["permission.sqlite.rebuild_ms"]["spread"]["n"], 5)
        self.assertIsNone(figs["permission.postgres.page_ms"]["value"])
        self.assertIn("PostgreSQL: not measured (not run).", frag["notes"])

    def test_permission_on_a_small_inventory_is_not_judged(self):
        frag, figs = self.convert(["permission", "--sqlite", self.bench("s.json", 20_000, 8.0)])
        self.assertIsNone(figs["permission.sqlite.page_ms"]["met"])
        self.assertTrue(any("targets are not judged" in n for n in frag["notes"]))

    def test_api_results_and_a_failed_endpoint(self):
        tsv = write(
            self.dir.name,
            "r.tsv",
            "admin\t/api/v1/assets/assets/?limit=100\t2100\t10.5\t49.9\t42000\tnone\t\n"
            "bench\t/api/v1/perms/users/self/assets/?limit=100\t\t\t\t\t\terror answers under load (12 of 900)\n",
        )
        frag, figs = self.convert(["api", "--assets", "100000", "--results", tsv])
        self.assertIs(figs["api.assets.rps"]["met"], True)
        self.assertIs(figs["api.assets.p99_ms"]["met"], True)
        self.assertEqual(figs["api.assets.p99_ms"]["spread"], {"p50": 10.5})
        self.assertIsNone(figs["api.perms_self.rps"]["value"])
        self.assertIsNone(figs["api.perms_self.p99_ms"]["met"])
        self.assertTrue(any("error answers under load (12 of 900)" in n for n in frag["notes"]))

    def test_api_below_target_is_missed(self):
        tsv = write(self.dir.name, "r.tsv", "admin\t/p\t234\t133\t199\t4000\tnone\t\n")
        _, figs = self.convert(["api", "--assets", "100000", "--results", tsv])
        self.assertIs(figs["api.assets.rps"]["met"], False)
        self.assertIs(figs["api.assets.p99_ms"]["met"], False)

    def test_plugins_targets_per_language_and_units(self):
        raw = {
            "portcullis-linux": {"fresh_call_median_us": 12.4, "fresh_call_p99_us": 48.0, "calls": 2000, "compile_s": 0.3},
            "example-inventory-python": {"fresh_call_median_us": 1600.0, "fresh_call_p99_us": 2000.0, "calls": 200},
            "example-inventory-js": {"fresh_call_median_us": 800.0, "fresh_call_p99_us": 1190.0, "calls": 200},
            "start_20_compiled_components": {"ms": 30.0},
            "start_20_every_component": {"ms": 684.0},
            "concurrent": {"invocations": 1000, "remote_delay_ms": 200, "seconds": 0.49, "failed": 0,
                           "peak_rss_kib_before": 37888, "peak_rss_kib_after": 116736},
        }
        frag, figs = self.convert(["plugins", "--raw", write(self.dir.name, "raw.json", raw)])
        linux = figs["plugins.fresh_call.portcullis-linux"]
        self.assertEqual((linux["value"], linux["unit"], linux["met"]), (12.4, "µs", True))
        py = figs["plugins.fresh_call.example-inventory-python"]
        self.assertEqual((py["value"], py["unit"], py["met"]), (1.6, "ms", False))
        self.assertIs(figs["plugins.fresh_call.example-inventory-js"]["met"], True)
        self.assertIsNone(figs["plugins.fresh_call.example-inventory-rust"]["value"])
        self.assertTrue(any("example-inventory-rust" in n for n in frag["notes"]))
        self.assertIs(figs["plugins.host_start.compiled_components"]["met"], True)
        self.assertIsNone(figs["plugins.host_start.every_component"]["met"])
        self.assertEqual(figs["plugins.concurrent.peak_rss_mib"]["value"], 114.0)

    def test_plugins_without_output_are_all_not_measured(self):
        frag, figs = self.convert(["plugins", "--raw", os.path.join(self.dir.name, "missing.json")])
        self.assertTrue(all(f["value"] is None for f in figs.values()))
        self.assertEqual(len(figs), 8)
        self.assertTrue(frag["notes"])


    # The web section: the asset page (asset_page.mjs) and the web terminal (terminal_cat.mjs).
    ASSET_RAW = {
        "browser": "148.0",
        "summary": {
            "open": {"median": 708.7, "min": 590.8, "max": 819.0, "n": 10},
            "open_api_list": {"median": 14.8},
            "search": {"median": 500.8, "min": 453.7, "max": 1200.0, "n": 10},
            "search_api": {"median": 136.5},
            "expand": {"median": 131.0, "min": 110.7, "max": 255.4, "n": 10},
        },
    }
    CAT_RAW = {
        "bytes": 8388609,
        "browser": "148.0",
        "rounds": [
            {"total_ms": 2000.0, "mib_s": 4.0, "max_frame_gap_ms": 100.0, "max_backlog_kib": 2048.0,
             "longtasks": {"n": 2, "max": 60.0, "sum": 110.0}, "input_delay": {"n": 20, "max": 30.0, "median": 9.0}},
            {"total_ms": 2666.7, "mib_s": 3.0, "max_frame_gap_ms": 167.0, "max_backlog_kib": 4096.0,
             "longtasks": {"n": 0, "max": 0, "sum": 0}, "input_delay": {"n": 25, "max": 86.0, "median": 12.0}},
            {"total_ms": 1600.0, "mib_s": 5.0, "max_frame_gap_ms": 83.0, "max_backlog_kib": 1024.0,
             "longtasks": {"n": 1, "max": 106.0, "sum": 106.0}, "input_delay": {"n": 15, "max": 40.0, "median": 10.0}},
        ],
        "problems": [],
    }

    def web(self, *extra, assets=100_000, cat=True):
        argv = ["web", "--assets", str(assets), "--nodes", "10000", "--rounds", "10",
                "--asset-raw", write(self.dir.name, "asset.json", self.ASSET_RAW),
                "--cat-mib", "8", "--cat-rounds", "3"]
        argv += ["--cat-raw", write(self.dir.name, "cat.json", self.CAT_RAW) if cat else os.path.join(self.dir.name, "none.json")]
        return self.convert(argv + list(extra))

    def test_web_asset_page_judged_at_full_size_and_terminal_figures_are_medians_of_the_rounds(self):
        frag, figs = self.web("--setting", "server_log=warn")
        self.assertEqual(frag["section"], "web")
        self.assertIs(figs["web.asset_page_open_ms"]["met"], True)
        self.assertEqual(figs["web.asset_page_open_ms"]["spread"], {"min": 590.8, "max": 819.0, "n": 10, "api": 14.8})
        self.assertTrue(any("slowest of 10 rounds took 1200 ms" in n for n in frag["notes"]))
        mib = figs["web.terminal_cat_mib_s"]
        self.assertEqual((mib["value"], mib["unit"], mib["spread"]), (4.0, "MiB/s", {"min": 3.0, "max": 5.0, "n": 3}))
        self.assertIn("8 MiB", mib["label"])
        self.assertEqual(figs["web.terminal_frame_gap_ms"]["value"], 100.0)
        self.assertEqual(figs["web.terminal_frame_gap_ms"]["spread"]["max"], 167.0)
        self.assertEqual(figs["web.terminal_input_delay_ms"]["value"], 40.0)
        self.assertEqual(figs["web.terminal_longtask_ms"]["value"], 60.0)
        self.assertEqual(figs["web.terminal_backlog_mib"]["value"], 2.0)
        self.assertTrue(all(figs[k]["met"] is None for k in figs if k.startswith("web.terminal_")))
        self.assertEqual(frag["settings"]["terminal_cat_mib"], 8)
        self.assertEqual(frag["settings"]["terminal_cat_bytes"], 8388609)
        self.assertEqual(frag["settings"]["server_log"], "warn")
        self.assertEqual(frag["settings"]["browser"], "148.0")

    def test_web_quick_is_not_judged_and_a_missing_terminal_run_is_not_measured(self):
        frag, figs = self.web(assets=20_000, cat=False)
        self.assertIsNone(figs["web.asset_page_open_ms"]["met"])
        self.assertEqual(figs["web.asset_page_open_ms"]["value"], 708.7)
        terminal = [f for k, f in figs.items() if k.startswith("web.terminal_")]
        self.assertEqual(len(terminal), 5)
        self.assertTrue(all(f["value"] is None and f["spread"] is None for f in terminal))
        self.assertTrue(any("web terminal's browser run wrote no figures" in n for n in frag["notes"]))

    def test_web_terminal_failure_and_freeze_are_noted(self):
        raw = dict(self.CAT_RAW, error="Error: round 1: no END-7007 after 600 s\n    at x")
        raw["rounds"] = [dict(raw["rounds"][0], max_frame_gap_ms=1500.0)]
        self.CAT_RAW = raw
        frag, figs = self.web()
        self.assertIn("The web terminal's browser run failed: Error: round 1: no END-7007 after 600 s", frag["notes"])
        self.assertTrue(any("timed 1 of 3 rounds" in n for n in frag["notes"]))
        self.assertTrue(any("froze: 1500 ms without a frame" in n for n in frag["notes"]))
        self.assertEqual(figs["web.terminal_cat_mib_s"]["spread"]["n"], 1)

    def test_web_terminal_figures_in_the_summary_and_the_section_table(self):
        frag, _ = self.web()
        md = report.render(report.load_sections(None, [write(self.dir.name, "web.json", frag), write(self.dir.name, "p.json", PLUGINS)]), PROVENANCE)
        self.assertIn("| web | web terminal `cat` of 8 MiB: Enter → end marker shown, MiB/s (wall clock) | 4.00 MiB/s | — | — | — | — | — |", md)
        self.assertIn("| web | web terminal during the `cat`: longest gap between animation frames, ms | 100.0 ms | — | — | — | — | — |", md)
        block = md[md.index("## Web UI") :]
        self.assertIn("| web terminal `cat` of 8 MiB: Enter → end marker shown, MiB/s (wall clock) | 4.00 MiB/s | min 3.00 · max 5.00 · n 3 |", block)
        self.assertIn("| web terminal during the `cat`: longest input delay of mouse moves, ms | 40.0 ms | min 30.0 · max 86.0 · n 3 |", block)
        self.assertIn("**Web terminal.**", block)
        self.assertLess(md.index("## Plugin runtime"), md.index("## Web UI"))

if __name__ == "__main__":
    unittest.main()
