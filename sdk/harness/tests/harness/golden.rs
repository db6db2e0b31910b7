//! Golden cases on the misbehave guest: every recorded side effect, blessing, diffs, fuel
//! budgets, and the violations that fail a case whatever expected.json says.

use crate::support::{block_on, copy_dir, misbehave};
use portcullis_plugin::kind::Kind;
use portcullis_plugin_harness::golden::{self, EXPECTED_FILE};
use std::path::{Path, PathBuf};

fn golden_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

#[test]
fn the_misbehave_cases_pass() {
    let c = misbehave(Kind::PlatformAutomation);
    let reports = block_on(golden::run_dir(
        &c,
        &golden_dir("misbehave"),
        golden::bless_from_env(),
    ));
    assert_eq!(reports.len(), 7);
    let text: String = reports.iter().map(|r| r.render()).collect();
    assert!(reports.iter().all(|r| r.passed), "{text}");
    assert!(
        reports
            .iter()
            .all(|r| r.fuel_used > 0 && r.fuel_budget.is_some()),
        "{text}"
    );
}

#[test]
fn the_expected_files_hold_the_side_effects() {
    let read = |case: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(golden_dir("misbehave").join(case).join(EXPECTED_FILE))
            .unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let send = read("send-secret");
    let remote: Vec<String> = serde_json::from_value(send["remote"].clone()).unwrap();
    assert!(
        remote.contains(&"< <secret:new-secret>\n".to_owned()),
        "{remote:?}"
    );
    assert!(
        !send.to_string().contains("N3w-Pa55!"),
        "a secret leaked into {send}"
    );
    assert_eq!(read("reveal")["reveals"], serde_json::json!(["token"]));
    let capped = read("bigout-capped");
    assert!(
        capped["capped"][0]
            .as_str()
            .unwrap()
            .contains("cut at the quota of 16 bytes")
    );
    assert_eq!(
        read("flood-capped")["logs"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        "dropped 2 lines"
    );
    assert_eq!(
        read("panic")["outcome"],
        serde_json::json!({"error": {"code": "trap"}})
    );
    assert_eq!(
        read("refused-login")["outcome"]["error"]["code"],
        "unauthorized"
    );
}

/// Blesses a copy of a failing case, then runs it again: only the violation remains.
fn run_failing(case: &str) -> golden::CaseReport {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(case);
    copy_dir(&golden_dir("misbehave-failing").join(case), &dir);
    let c = misbehave(Kind::PlatformAutomation);
    let blessed = block_on(golden::run_case(&c, &dir, true));
    assert!(blessed.blessed && !blessed.passed, "{}", blessed.render());
    let report = block_on(golden::run_case(&c, &dir, false));
    assert!(
        !report.passed && report.diff.is_none(),
        "{}",
        report.render()
    );
    report
}

#[test]
fn an_unexpected_command_fails_with_both_sides() {
    let r = run_failing("unexpected-command");
    assert_eq!(r.problems.len(), 2, "{}", r.render());
    assert_eq!(
        r.problems[0],
        "unexpected command on asset asset-1\n  expected: $ uname -a   (line 2)\n  actual:   $ cat /dev/big"
    );
    assert!(
        r.problems[1].contains("never reached $ uname -a"),
        "{}",
        r.render()
    );
}

#[test]
fn a_step_never_reached_fails_a_strict_case() {
    let r = run_failing("unused-step");
    assert_eq!(
        r.problems,
        ["asset asset-1: never reached $ id -u   (line 2)"]
    );
}

#[test]
fn an_unexpected_send_fails_without_showing_the_secret() {
    let r = run_failing("unexpected-send");
    assert!(
        r.problems[0].starts_with("unexpected send on asset asset-1\n  expected: < passwd alice\\n\n  actual:   < passwd\\n"),
        "{}",
        r.render()
    );
    assert!(!r.render().contains("N3w-Pa55!"));
}

#[test]
fn blessing_writes_expected_and_later_changes_show_as_a_diff() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bigout");
    copy_dir(&golden_dir("misbehave").join("bigout-capped"), &dir);
    std::fs::remove_file(dir.join(EXPECTED_FILE)).unwrap();
    let c = misbehave(Kind::PlatformAutomation);

    let r = block_on(golden::run_case(&c, &dir, false));
    assert!(
        !r.passed && r.problems[0].contains("no expected.json"),
        "{}",
        r.render()
    );
    let r = block_on(golden::run_case(&c, &dir, true));
    assert!(r.passed && r.blessed, "{}", r.render());
    let budget = r.fuel_budget.unwrap();
    assert!(
        budget >= r.fuel_used + r.fuel_used / 5,
        "budget {budget} for {} used",
        r.fuel_used
    );
    let r = block_on(golden::run_case(&c, &dir, false));
    assert!(r.passed, "{}", r.render());

    let path = dir.join(EXPECTED_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("stdout bytes: 16", "stdout bytes: 17")).unwrap();
    let r = block_on(golden::run_case(&c, &dir, false));
    let diff = r.diff.clone().unwrap_or_default();
    assert!(!r.passed, "{}", r.render());
    assert!(
        diff.contains("- ") && diff.contains("stdout bytes: 17") && diff.contains("+ "),
        "{diff}"
    );

    std::fs::write(
        &path,
        text.replace(&format!("\"budget\": {budget}"), "\"budget\": 10"),
    )
    .unwrap();
    let r = block_on(golden::run_case(&c, &dir, false));
    assert!(r.diff.is_none(), "{}", r.render());
    assert!(
        r.problems[0].contains("over the budget of 10"),
        "{}",
        r.render()
    );
}
