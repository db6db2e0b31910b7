//! Golden cases: run the call of a case directory and compare the answer *and* its side
//! effects with `expected.json`.
//!
//! A case directory holds `case.toml` ([`crate::case`]), optionally `session.txt`
//! ([`crate::transcript`]) and `http.jsonl` ([`crate::http`]), and `expected.json`:
//!
//! ```json
//! {
//!   "outcome": { "ok": { "type": "accounts", "value": [ ... ] } },
//!   "remote": [ "open asset-1 (ssh)", "$ getent passwd → exit 0", "close asset-1" ],
//!   "http": [ "GET https://api.example.com/v1/regions → 200" ],
//!   "reveals": [ "api_token" ],
//!   "logs": [ "info gathered 12 accounts" ],
//!   "capped": [],
//!   "fuel": { "budget": 2500000 }
//! }
//! ```
//!
//! `outcome` is `{"ok": <output>}` or `{"error": {"code": ..., "message": ...}}` (the message
//! only for the plugin's own errors: traps and stops carry engine diagnostics that change
//! between builds). `remote` is present for automations, `http` for worlds with HTTP. Fuel is
//! a budget, not a value: the case fails when the call burns more than `budget`, and blessing
//! sets the budget to the fuel used plus 25% (and keeps an existing budget the run stays
//! within and uses at least half of, so budgets do not churn).
//!
//! Anything the fakes refused (an unexpected command or request) fails the case whatever
//! `expected.json` says, and so do transcript steps the plugin never reached (unless the case
//! says `strict = false`). `BLESS=1` or `--bless` rewrites `expected.json` from the run.

use crate::case::{CaseFile, call_secrets, call_target};
use crate::http::FixtureHttp;
use crate::project::{ProjectManifest, find_project};
use crate::remote::ScriptedRemote;
use crate::runner::{CallSetup, Component, Fakes};
use crate::sink::RecordingSink;
use crate::transcript::Transcript;
use portcullis_plugin::error::InvokeError;
use portcullis_plugin::types::Output;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file names of a case directory.
pub const CASE_FILE: &str = "case.toml";
/// See [`CASE_FILE`].
pub const SESSION_FILE: &str = "session.txt";
/// See [`CASE_FILE`].
pub const HTTP_FILE: &str = "http.jsonl";
/// See [`CASE_FILE`].
pub const EXPECTED_FILE: &str = "expected.json";

/// How much fuel above the measured use a blessed budget allows.
pub const FUEL_TOLERANCE_PERCENT: u64 = 25;

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseReport {
    /// The case directory's name.
    pub name: String,
    /// The case directory.
    pub dir: PathBuf,
    /// Whether the case passed (after blessing, when blessing).
    pub passed: bool,
    /// Why it failed: setup errors, fake violations, unused steps, fuel over budget.
    pub problems: Vec<String>,
    /// The line diff between `expected.json` and the run (`-` expected, `+` actual).
    pub diff: Option<String>,
    /// Fuel the call burned.
    pub fuel_used: u64,
    /// The budget of `expected.json`.
    pub fuel_budget: Option<u64>,
    /// Wall time of the call.
    pub duration: Duration,
    /// Whether `expected.json` was written.
    pub blessed: bool,
    /// The full error text of a failed call (engine diagnostics included).
    pub error_detail: Option<String>,
}

impl CaseReport {
    fn setup_failure(dir: &Path, problem: String) -> Self {
        CaseReport {
            name: case_name(dir),
            dir: dir.to_path_buf(),
            passed: false,
            problems: vec![problem],
            diff: None,
            fuel_used: 0,
            fuel_budget: None,
            duration: Duration::ZERO,
            blessed: false,
            error_detail: None,
        }
    }

    /// A human summary: `ok name (fuel 1.2M of 1.5M, 3 ms)` or `FAIL name` and the reasons.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let fuel = match self.fuel_budget {
            Some(b) => format!("fuel {} of {}", human(self.fuel_used), human(b)),
            None => format!("fuel {}", human(self.fuel_used)),
        };
        let status = match (self.passed, self.blessed) {
            (true, true) => "blessed",
            (true, false) => "ok",
            (false, _) => "FAIL",
        };
        let _ = writeln!(
            out,
            "{status:7} {} ({fuel}, {} ms)",
            self.name,
            self.duration.as_millis()
        );
        for p in &self.problems {
            for (i, line) in p.lines().enumerate() {
                let lead = if i == 0 { "  - " } else { "    " };
                let _ = writeln!(out, "{lead}{line}");
            }
        }
        if let Some(d) = &self.diff {
            let _ = writeln!(out, "  expected.json differs (- expected, + actual):");
            for line in d.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        if !self.passed
            && let Some(e) = &self.error_detail
        {
            let _ = writeln!(out, "  the call failed: {}", first_lines(e, 12));
        }
        out
    }
}

fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= n {
        text.to_owned()
    } else {
        format!(
            "{}\n    ... ({} more lines)",
            lines[..n].join("\n    "),
            lines.len() - n
        )
    }
}

/// `1234567` → `1.23M`.
pub fn human(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2}M", n as f64 / 1e6),
        _ => format!("{:.2}G", n as f64 / 1e9),
    }
}

fn case_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// Whether blessing was asked for through the environment (`BLESS=1`).
pub fn bless_from_env() -> bool {
    std::env::var("BLESS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The case directories under `golden_dir` (those holding a `case.toml`), sorted by name.
pub fn case_dirs(golden_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(golden_dir)? {
        let path = entry?.path();
        if path.join(CASE_FILE).is_file() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Runs every case under `golden_dir`, in name order.
pub async fn run_dir(component: &Component, golden_dir: &Path, bless: bool) -> Vec<CaseReport> {
    match case_dirs(golden_dir) {
        Ok(dirs) => {
            let mut reports = Vec::new();
            for dir in dirs {
                reports.push(run_case(component, &dir, bless).await);
            }
            reports
        }
        Err(e) => vec![CaseReport::setup_failure(
            golden_dir,
            format!("{}: {e}", golden_dir.display()),
        )],
    }
}

/// Runs the case in `dir` on `component`, compares with `expected.json` (or writes it when
/// `bless`), and reports.
pub async fn run_case(component: &Component, dir: &Path, bless: bool) -> CaseReport {
    let case = match CaseFile::load(&dir.join(CASE_FILE)) {
        Ok(c) => c,
        Err(e) => return CaseReport::setup_failure(dir, e.to_string()),
    };
    let manifest = find_project(dir).and_then(|p| ProjectManifest::load(&p).ok());
    let call = match case.to_call() {
        Ok(c) => c,
        Err(e) => return CaseReport::setup_failure(dir, format!("{CASE_FILE}: {e}")),
    };
    let kind = component.kind;

    // Secrets the fakes hide in their records: the case's and the call's arguments.
    let mut secrets: Vec<(String, Vec<u8>)> = case
        .secret_values()
        .into_values()
        .map(|v| (v.name.clone(), v.bytes.to_vec()))
        .collect();
    secrets.extend(
        call_secrets(&call)
            .into_iter()
            .map(|v| (v.name.clone(), v.bytes.to_vec())),
    );

    let session_file = dir.join(SESSION_FILE);
    let transcript = if session_file.is_file() {
        match Transcript::load(&session_file) {
            Ok(t) => t,
            Err(e) => return CaseReport::setup_failure(dir, e.to_string()),
        }
    } else {
        Transcript::default()
    };
    let http_file = dir.join(HTTP_FILE);
    let fixtures = if http_file.is_file() {
        match FixtureHttp::load_fixtures(&http_file) {
            Ok(f) => f,
            Err(e) => return CaseReport::setup_failure(dir, e.to_string()),
        }
    } else {
        Vec::new()
    };
    let fakes = Fakes {
        sink: RecordingSink::new(),
        remote: ScriptedRemote::new(transcript, secrets.clone()),
        http: FixtureHttp::new(fixtures, secrets.clone()),
    };

    let mut setup = CallSetup::new(kind);
    if let Some(m) = &manifest {
        setup.plugin_id = m.id.clone();
        setup.plugin_version = m.version.clone();
    }
    setup.limits = case.limits(kind);
    setup.config = case.config_values();
    setup.secrets = case.secret_values();
    setup.reveal = case.reveal(manifest.as_ref());
    setup.determinism = case.determinism.to_determinism();
    setup.fuel = Some(case.limits.fuel.unwrap_or(crate::case::DEFAULT_FUEL));
    if kind.has_http() {
        setup.http_allow = Some(case.http_grant(manifest.as_ref()));
        let mut nets = Vec::new();
        for n in &case.grants.allow_networks {
            match n.parse() {
                Ok(net) => nets.push(net),
                Err(e) => {
                    return CaseReport::setup_failure(
                        dir,
                        format!("{CASE_FILE}: [grants] allow_networks: {n}: {e}"),
                    );
                }
            }
        }
        setup.allow_networks = nets;
    }
    if kind.has_remote() && case.remote(kind) {
        let mut allowed: Vec<_> = call_target(&call).into_iter().cloned().collect();
        allowed.extend(case.grants.remote_targets.iter().map(|t| t.to_target()));
        setup.remote_allowed = Some(allowed);
    }

    let name = case_name(dir);
    let outcome =
        crate::runner::call(component, &setup, &fakes, &format!("case-{name}"), call).await;

    let mut problems: Vec<String> = Vec::new();
    problems.extend(fakes.remote.violations());
    problems.extend(fakes.http.violations());
    if case.strict {
        problems.extend(fakes.remote.unused());
    }

    let mut observed = serde_json::Map::new();
    observed.insert("outcome".into(), outcome_json(&outcome.result));
    if kind.has_remote() {
        observed.insert("remote".into(), json!(fakes.remote.records()));
    }
    if kind.has_http() {
        observed.insert(
            "http".into(),
            json!(http_records(&fakes.sink, &fakes.http, &secrets)),
        );
    }
    observed.insert("reveals".into(), json!(fakes.sink.reveals()));
    observed.insert("logs".into(), json!(fakes.sink.log_lines()));
    observed.insert("capped".into(), json!(fakes.sink.capped()));
    let used = outcome.stats.fuel_consumed;
    let error_detail = outcome.result.as_ref().err().map(|e| match e {
        InvokeError::Trap(t) => format!("trap: {t}"),
        other => other.to_string(),
    });

    let expected_path = dir.join(EXPECTED_FILE);
    let expected: Option<Value> = match std::fs::read_to_string(&expected_path) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(format!("{EXPECTED_FILE}: not valid JSON: {e}"));
                None
            }
        },
        Err(_) => None,
    };
    let old_budget = expected
        .as_ref()
        .and_then(|v| v.pointer("/fuel/budget"))
        .and_then(Value::as_u64);

    let mut report = CaseReport {
        name,
        dir: dir.to_path_buf(),
        passed: false,
        problems,
        diff: None,
        fuel_used: used,
        fuel_budget: old_budget,
        duration: outcome.stats.duration,
        blessed: false,
        error_detail,
    };

    if bless {
        let budget = bless_budget(used, old_budget);
        observed.insert("fuel".into(), json!({ "budget": budget }));
        let text = pretty(&Value::Object(observed));
        if let Err(e) = std::fs::write(&expected_path, text) {
            report
                .problems
                .push(format!("{}: {e}", expected_path.display()));
        } else {
            report.blessed = true;
            report.fuel_budget = Some(budget);
        }
        report.passed = report.problems.is_empty();
        return report;
    }

    let Some(mut expected) = expected else {
        if !expected_path.exists() {
            report.problems.push(format!(
                "no {EXPECTED_FILE} yet: check the run and bless it (BLESS=1 or --bless)"
            ));
        }
        return report;
    };
    if let Some(obj) = expected.as_object_mut() {
        obj.remove("fuel");
        for key in &case.ignore {
            obj.remove(key);
        }
    }
    for key in &case.ignore {
        observed.remove(key);
    }
    let actual = Value::Object(observed);
    if actual != expected {
        report.diff = Some(line_diff(&pretty(&expected), &pretty(&actual)));
    }
    match old_budget {
        Some(b) if used > b => report.problems.push(format!(
            "used {used} fuel, over the budget of {b} in {EXPECTED_FILE} (bless to accept the new cost)"
        )),
        Some(_) => {}
        None => report
            .problems
            .push(format!("{EXPECTED_FILE} has no fuel budget (bless to set one)")),
    }
    report.passed = report.problems.is_empty() && report.diff.is_none();
    report
}

/// The HTTP side of a call in order: requests the policy refused (from the runtime's events,
/// `METHOD URL → denied: why`) among those the fixtures answered (the fake's records, with
/// their body lines).
fn http_records(
    sink: &RecordingSink,
    http: &FixtureHttp,
    secrets: &[(String, Vec<u8>)],
) -> Vec<String> {
    let mut answered: Vec<Vec<String>> = Vec::new();
    for line in http.records() {
        match answered.last_mut() {
            Some(group) if line.starts_with("  ") => group.push(line),
            _ => answered.push(vec![line]),
        }
    }
    let mut answered = answered.into_iter();
    let mut out = Vec::new();
    for event in sink.events() {
        if let portcullis_plugin::caps::Event::Http {
            method,
            url,
            denied: Some(why),
            ..
        } = event
        {
            let mut line = format!("{method} {url} → denied: {why}");
            for (name, value) in secrets {
                line = line.replace(
                    String::from_utf8_lossy(value).as_ref(),
                    &format!("<secret:{name}>"),
                );
            }
            out.push(line);
        } else if matches!(event, portcullis_plugin::caps::Event::Http { .. })
            && let Some(group) = answered.next()
        {
            out.extend(group);
        }
    }
    // Requests the runtime did not report (none today) still show.
    out.extend(answered.flatten());
    out
}

/// The budget blessing writes: the old one when the run uses between half of it and all of
/// it, else the use plus [`FUEL_TOLERANCE_PERCENT`] rounded up to three significant digits.
pub fn bless_budget(used: u64, old: Option<u64>) -> u64 {
    if let Some(b) = old
        && used <= b
        && used >= b / 2
    {
        return b;
    }
    let raw = used
        .saturating_add(used / 100 * FUEL_TOLERANCE_PERCENT)
        .max(1_000);
    let digits = raw.ilog10();
    let unit = 10u64.pow(digits.saturating_sub(2));
    raw.div_ceil(unit) * unit
}

/// The JSON of a call's answer.
pub fn outcome_json(result: &Result<Output, InvokeError>) -> Value {
    match result {
        Ok(out) => json!({ "ok": out }),
        Err(InvokeError::Plugin(e)) => {
            let message = match e {
                portcullis_plugin::error::PluginError::Timeout => None,
                other => serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.get("message").cloned()),
            };
            match message {
                Some(m) => json!({ "error": { "code": e.code(), "message": m } }),
                None => json!({ "error": { "code": e.code() } }),
            }
        }
        Err(e @ (InvokeError::BadAnswer(_) | InvokeError::WrongKind { .. })) => {
            json!({ "error": { "code": e.code(), "message": e.to_string() } })
        }
        Err(e) => json!({ "error": { "code": e.code() } }),
    }
}

/// The order of the top-level keys of `expected.json` (serde_json sorts maps otherwise).
const KEY_ORDER: [&str; 7] = [
    "outcome", "remote", "http", "reveals", "logs", "capped", "fuel",
];

/// Pretty JSON with the top-level keys in [`KEY_ORDER`] (others after them, sorted).
fn pretty(v: &Value) -> String {
    let Some(map) = v.as_object() else {
        return format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default());
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| {
        (
            KEY_ORDER
                .iter()
                .position(|o| o == k)
                .unwrap_or(KEY_ORDER.len()),
            (*k).clone(),
        )
    });
    let mut out = String::from("{\n");
    for (i, key) in keys.iter().enumerate() {
        let value = serde_json::to_string_pretty(&map[*key]).unwrap_or_default();
        let value = value.replace('\n', "\n  ");
        let comma = if i + 1 < keys.len() { "," } else { "" };
        let _ = writeln!(out, "  {}: {value}{comma}", Value::String((*key).clone()));
    }
    out.push_str("}\n");
    out
}

/// A unified-style line diff (`-` only in `a`, `+` only in `b`, two lines of context).
pub fn line_diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    // Longest common subsequence table; expected files are small.
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    const CONTEXT: usize = 2;
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, (c, _))| *c != ' ')
        .map(|(k, _)| k)
        .collect();
    let mut out = String::new();
    let mut last_printed: Option<usize> = None;
    for (k, (c, line)) in ops.iter().enumerate() {
        let near = changed.iter().any(|&x| x.abs_diff(k) <= CONTEXT);
        if !near {
            continue;
        }
        if let Some(p) = last_printed
            && k > p + 1
        {
            out.push_str("  ...\n");
        }
        let _ = writeln!(out, "{c} {line}");
        last_printed = Some(k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_keep_when_close_and_round_up_otherwise() {
        assert_eq!(bless_budget(900, Some(1000)), 1000);
        assert_eq!(
            bless_budget(400, Some(1000)),
            1000.max(bless_budget(400, None))
        );
        assert_eq!(bless_budget(1_234_567, None), 1_550_000);
        assert_eq!(bless_budget(1_234_567, Some(1_000_000)), 1_550_000);
        assert!(bless_budget(10, None) >= 1_000);
    }

    #[test]
    fn diffs_show_changed_lines_with_context() {
        let d = line_diff("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nD\ne\nf\ng\n");
        assert_eq!(d, "  b\n  c\n- d\n+ D\n  e\n  f\n");
    }

    #[test]
    fn plugin_errors_keep_their_message_and_stops_only_their_code() {
        use portcullis_plugin::error::PluginError;
        let v = outcome_json(&Err(InvokeError::Plugin(PluginError::NotFound("x".into()))));
        assert_eq!(v, json!({"error": {"code": "not_found", "message": "x"}}));
        let v = outcome_json(&Err(InvokeError::Trap("backtrace...".into())));
        assert_eq!(v, json!({"error": {"code": "trap"}}));
        let v = outcome_json(&Ok(Output::Done));
        assert_eq!(v, json!({"ok": {"type": "done"}}));
    }
}
