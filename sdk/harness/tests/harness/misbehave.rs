//! The misbehave guest: the conformance suite must fail it exactly where it misbehaves, and
//! golden cases on it exercise every recorded side effect.

use crate::support::{block_on, misbehave};
use portcullis_plugin::kind::Kind;
use portcullis_plugin::types::{Call, ListRequest, Page};
use portcullis_plugin_harness::conformance::{self, Options, Report, Status, conformance_target};
use std::time::Duration;

fn ping(params: &str) -> Options {
    Options {
        call: Some(Call::Ping {
            target: conformance_target(),
            params: params.into(),
        }),
        call_deadline: Duration::from_secs(2),
        ..Options::default()
    }
}

/// The names of the failed rows.
fn failed(r: &Report) -> Vec<&'static str> {
    r.rows
        .iter()
        .filter(|r| r.status == Status::Fail)
        .map(|r| r.name)
        .collect()
}

#[test]
fn conformance_passes_the_automation_that_uses_its_target_properly() {
    let r = block_on(conformance::run(
        &misbehave(Kind::PlatformAutomation),
        &ping("bigout"),
    ));
    assert!(r.passed(), "{}", r.render());
    assert_eq!(r.rows.len(), conformance::CHECKS.len());
    let capped = r.row("output-capped").unwrap();
    assert!(
        capped.reason.contains("cut at the quota"),
        "{}",
        capped.reason
    );
}

#[test]
fn conformance_fails_a_plugin_that_succeeds_without_its_target() {
    let r = block_on(conformance::run(
        &misbehave(Kind::PlatformAutomation),
        &ping("ok"),
    ));
    assert_eq!(
        failed(&r),
        [
            "errors-are-plugin-errors",
            "host-denied",
            "deadline-enforced",
            "output-capped"
        ],
        "{}",
        r.render()
    );
}

/// Options whose secret-handing calls are a `change-secret` with `params`.
fn change_secret(params: &str) -> Options {
    let mut calls = conformance::default_secret_calls();
    calls.truncate(1);
    if let Some(Call::ChangeSecret { params: p, .. }) = calls.first_mut() {
        *p = params.into();
    }
    Options {
        secret_calls: Some(calls),
        ..ping("bigout")
    }
}

#[test]
fn conformance_fails_a_plugin_that_reveals_a_secret_to_send_it() {
    let c = misbehave(Kind::PlatformAutomation);
    let r = block_on(conformance::run(&c, &change_secret("reveal-send")));
    assert_eq!(failed(&r), ["no-reveal-for-send"], "{}", r.render());
    let reason = &r.row("no-reveal-for-send").unwrap().reason;
    for needle in [
        "change-secret revealed the secret `new_secret`",
        "through `send`",
        "use `send-secret`",
    ] {
        assert!(reason.contains(needle), "{needle}: {reason}");
    }

    let r = block_on(conformance::run(&c, &change_secret("send-secret")));
    assert!(r.passed(), "{}", r.render());
    let reason = &r.row("no-reveal-for-send").unwrap().reason;
    assert!(reason.contains("through send-secret only"), "{reason}");
}

#[test]
fn conformance_fails_a_plugin_that_ignores_its_output() {
    let r = block_on(conformance::run(
        &misbehave(Kind::PlatformAutomation),
        &ping("open"),
    ));
    assert_eq!(failed(&r), ["output-capped"], "{}", r.render());
}

#[test]
fn conformance_fails_panics_loops_and_memory_bombs_where_they_happen() {
    let c = misbehave(Kind::PlatformAutomation);
    let panic = block_on(conformance::run(&c, &ping("panic")));
    let row = panic.row("call-returns").unwrap();
    assert_eq!(row.status, Status::Fail);
    assert!(
        row.reason.contains("trap: ") && row.reason.contains("unreachable"),
        "{}",
        row.reason
    );
    assert_eq!(
        panic.row("errors-are-plugin-errors").unwrap().status,
        Status::Fail
    );

    let looping = block_on(conformance::run(&c, &ping("loop")));
    let row = looping.row("call-returns").unwrap();
    assert!(
        row.status == Status::Fail && row.reason.contains("deadline"),
        "{}",
        row.reason
    );
    // The host stops the loop within the short deadline too: that check is about the host.
    assert_eq!(
        looping.row("deadline-enforced").unwrap().status,
        Status::Pass
    );
    assert_eq!(looping.row("fuel-enforced").unwrap().status, Status::Pass);

    let bomb = block_on(conformance::run(&c, &ping("alloc")));
    let row = bomb.row("call-returns").unwrap();
    assert!(
        row.status == Status::Fail && row.reason.contains("memory_limit"),
        "{}",
        row.reason
    );
    assert_eq!(bomb.row("memory-contained").unwrap().status, Status::Pass);
}

#[test]
fn conformance_checks_describe_against_the_manifest() {
    let mut o = ping("bigout");
    o.expect_id = Some("other-id".into());
    o.expect_version = Some("0.1.0".into());
    let r = block_on(conformance::run(&misbehave(Kind::PlatformAutomation), &o));
    assert_eq!(failed(&r), ["describe-stable"]);
    assert!(
        r.row("describe-stable")
            .unwrap()
            .reason
            .contains("\"other-id\"")
    );
}

#[test]
fn conformance_of_a_connector_sees_requests_denials_and_caps() {
    let c = misbehave(Kind::CloudConnector);
    let call = |region: &str| {
        Call::ListInstances(ListRequest {
            region: region.into(),
            page_token: None,
            page_size: 10,
        })
    };
    let get = Options {
        call: Some(call("http:https://api.example.com/v1/instances")),
        http_allow: vec!["https://api.example.com".into()],
        call_deadline: Duration::from_secs(5),
        ..Options::default()
    };
    let r = block_on(conformance::run(&c, &get));
    // The guest turns any status into an instance: an HTTP 500 is not reported as an error.
    assert_eq!(failed(&r), ["errors-are-plugin-errors"], "{}", r.render());
    let row = r.row("errors-are-plugin-errors").unwrap();
    assert!(row.reason.contains("status 500"), "{}", row.reason);
    assert!(
        r.row("host-denied")
            .unwrap()
            .reason
            .contains("nothing reached the fake")
    );
    assert!(
        r.row("output-capped")
            .unwrap()
            .reason
            .contains("past the budget")
    );

    // A connector that answers without asking anything fails every I/O check.
    let lazy = Options {
        call: Some(call("ok")),
        ..get.clone()
    };
    let r = block_on(conformance::run(&c, &lazy));
    assert_eq!(
        failed(&r),
        [
            "errors-are-plugin-errors",
            "host-denied",
            "deadline-enforced",
            "output-capped"
        ],
        "{}",
        r.render()
    );
}

#[test]
fn conformance_of_autofill_skips_the_io_checks() {
    let c = misbehave(Kind::Autofill);
    let r = block_on(conformance::run(&c, &Options::default()));
    assert!(r.passed(), "{}", r.render());
    let skipped: Vec<_> = r
        .rows
        .iter()
        .filter(|r| r.status == Status::Skip)
        .map(|r| r.name)
        .collect();
    assert_eq!(
        skipped,
        [
            "host-denied",
            "deadline-enforced",
            "output-capped",
            "no-reveal-for-send"
        ]
    );

    let looping = Options {
        call: Some(Call::Plan(Page {
            url: "loop".into(),
            title: String::new(),
            fields: vec![],
        })),
        call_deadline: Duration::from_secs(1),
        ..Options::default()
    };
    let r = block_on(conformance::run(&c, &looping));
    assert_eq!(r.row("call-returns").unwrap().status, Status::Fail);
}
