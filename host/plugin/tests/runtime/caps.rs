//! The portcullis capabilities under their grants: remote sessions and secrets.

use crate::support::*;
use portcullis_plugin::caps::Event;
use portcullis_plugin::error::{InvokeError, PluginError};
use portcullis_plugin::kind::Kind;
use portcullis_plugin::types::{Account, Call, Output, SecretKind, Target};
use std::sync::Arc;

const AUTO: Kind = Kind::PlatformAutomation;

fn ping(params: &str) -> Call {
    Call::Ping {
        target: target(),
        params: params.into(),
    }
}

#[tokio::test]
async fn opening_a_target_not_passed_to_the_call_is_denied() {
    let remote = Arc::new(FakeRemote::default());
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec.clone());
    let other = Target {
        asset_id: "asset-2".into(),
        ..target()
    };
    inv.remote = Some(remote_grant(remote.clone(), vec![other]));
    let err = plugin(Variant::Automation)
        .call(inv, ping("open"))
        .await
        .expect_err("denied");
    assert!(
        matches!(&err, InvokeError::Plugin(PluginError::Denied(m)) if m.contains("asset-1")),
        "{err:?}"
    );
    assert!(remote.opened.lock().expect("lock").is_empty());
    assert!(rec.events().iter().any(
        |e| matches!(e, Event::RemoteOpen { target, error: Some(_) } if target.asset_id == "asset-1")
    ));

    // Without any remote grant, the same.
    let rec = Arc::new(Recorder::default());
    let err = plugin(Variant::Automation)
        .call(invocation(AUTO, rec), ping("open"))
        .await
        .expect_err("denied");
    assert!(
        matches!(err, InvokeError::Plugin(PluginError::Denied(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_session_quota_is_enforced() {
    let remote = Arc::new(FakeRemote::default());
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec.clone());
    inv.remote = Some(remote_grant(remote.clone(), vec![target()]));
    inv.limits.remote_sessions = 0;
    let err = plugin(Variant::Automation)
        .call(inv, ping("open"))
        .await
        .expect_err("quota");
    assert!(
        matches!(&err, InvokeError::Plugin(PluginError::Denied(m)) if m.contains("quota")),
        "{err:?}"
    );
    assert!(remote.opened.lock().expect("lock").is_empty());
    assert!(
        rec.events()
            .iter()
            .any(|e| matches!(e, Event::Capped { .. }))
    );
}

#[tokio::test]
async fn remote_output_is_cut_at_the_quota_and_commands_are_audited() {
    let remote = Arc::new(FakeRemote {
        output_len: 10_000,
        ..FakeRemote::default()
    });
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec.clone());
    inv.remote = Some(remote_grant(remote.clone(), vec![target()]));
    inv.limits.remote_output_bytes = 4_096;
    let out = plugin(Variant::Automation)
        .call(inv, ping("bigout"))
        .await
        .expect("bigout");
    assert_eq!(out, Output::Done);
    assert_eq!(*remote.opened.lock().expect("lock"), vec![target()]);
    let events = rec.events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::RemoteCommand { command, exit_code: Some(0), error: None } if command == "cat /dev/big"
    )));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Capped { what } if what.contains("remote output")))
    );
    assert!(
        rec.log_lines()
            .contains(&"stdout bytes: 4096, stderr bytes: 0".to_owned()),
        "{:?}",
        rec.log_lines()
    );
}

#[tokio::test]
async fn the_command_quota_is_enforced() {
    let remote = Arc::new(FakeRemote::default());
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec.clone());
    inv.remote = Some(remote_grant(remote, vec![target()]));
    inv.limits.remote_commands = 0;
    let err = plugin(Variant::Automation)
        .call(inv, ping("bigout"))
        .await
        .expect_err("quota");
    assert!(
        matches!(&err, InvokeError::Plugin(PluginError::Denied(m)) if m.contains("quota")),
        "{err:?}"
    );
}

#[tokio::test]
async fn reveal_is_denied_without_the_grant_and_audited_with_it() {
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec.clone());
    inv.secrets
        .insert("token".into(), secret("token", b"s3cret"));
    let err = plugin(Variant::Automation)
        .call(inv.clone(), ping("reveal"))
        .await
        .expect_err("no reveal grant");
    assert!(
        matches!(&err, InvokeError::Plugin(PluginError::Denied(m)) if m.contains("reveal")),
        "{err:?}"
    );
    assert!(
        !rec.events()
            .iter()
            .any(|e| matches!(e, Event::SecretRevealed { .. }))
    );

    let rec = Arc::new(Recorder::default());
    inv.events = rec.clone();
    inv.reveal_allowed = true;
    plugin(Variant::Automation)
        .call(inv, ping("reveal"))
        .await
        .expect("reveal granted");
    let events = rec.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SecretRevealed { name } if name == "token"))
    );
    assert!(
        rec.log_lines()
            .contains(&"revealed 6 bytes of token".to_owned())
    );
}

#[tokio::test]
async fn a_secret_that_is_not_granted_is_denied() {
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec);
    inv.reveal_allowed = true;
    let err = plugin(Variant::Automation)
        .call(inv, ping("reveal"))
        .await
        .expect_err("no such secret");
    assert!(
        matches!(&err, InvokeError::Plugin(PluginError::Denied(m)) if m.contains("token")),
        "{err:?}"
    );
}

#[tokio::test]
async fn send_secret_passes_the_bytes_and_audits_only_the_name() {
    let remote = Arc::new(FakeRemote::default());
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec.clone());
    inv.remote = Some(remote_grant(remote.clone(), vec![target()]));
    let call = Call::ChangeSecret {
        target: target(),
        account: Account {
            username: "bob".into(),
            secret_kind: SecretKind::Password,
        },
        new_secret: secret("new-secret", b"hunter2"),
        params: "send-secret".into(),
    };
    plugin(Variant::Automation)
        .call(inv, call)
        .await
        .expect("change-secret");
    assert_eq!(
        remote.sent.lock().expect("lock").as_slice(),
        b"passwd\nhunter2\n"
    );
    let sends: Vec<String> = rec
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::RemoteSend { data } => Some(data),
            _ => None,
        })
        .collect();
    assert_eq!(
        sends,
        vec!["passwd\n".to_owned(), "<secret:new-secret>\n".to_owned()]
    );
    let all = serde_json::to_string(&rec.events()).expect("json");
    assert!(
        !all.contains("hunter2"),
        "the secret leaked into the audit: {all}"
    );
}

#[tokio::test]
async fn a_bad_expect_pattern_is_invalid_input() {
    let remote = Arc::new(FakeRemote::default());
    for pattern in ["(unclosed", "a{1000}{1000}{1000}"] {
        let rec = Arc::new(Recorder::default());
        let mut inv = invocation(AUTO, rec);
        inv.remote = Some(remote_grant(remote.clone(), vec![target()]));
        let err = plugin(Variant::Automation)
            .call(inv, ping(&format!("expect:{pattern}")))
            .await
            .expect_err("bad pattern");
        assert!(
            matches!(&err, InvokeError::Plugin(PluginError::InvalidInput(m)) if m.contains("pattern")),
            "{pattern}: {err:?}"
        );
    }
}

#[tokio::test]
async fn waiting_on_host_io_past_the_deadline_is_stopped() {
    let remote = Arc::new(FakeRemote {
        delay: std::time::Duration::from_secs(30),
        ..FakeRemote::default()
    });
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec);
    inv.remote = Some(remote_grant(remote, vec![target()]));
    let deadline = std::time::Duration::from_millis(200);
    inv.limits = short(AUTO, deadline);
    let started = std::time::Instant::now();
    let err = plugin(Variant::Automation)
        .call(inv, ping("bigout"))
        .await
        .expect_err("stopped");
    let took = started.elapsed();
    assert!(
        matches!(err, InvokeError::Deadline(d) if d == deadline),
        "{err:?}"
    );
    assert!(took < deadline * 3, "stopped only after {took:?}");
}

#[tokio::test]
async fn determinism_fixes_clocks_and_randomness() {
    let run = |det: Option<portcullis_plugin::caps::Determinism>| async move {
        let rec = Arc::new(Recorder::default());
        let mut inv = invocation(AUTO, rec.clone());
        inv.determinism = det;
        plugin(Variant::Automation)
            .call(inv, ping("clock"))
            .await
            .expect("clock");
        rec.log_lines().remove(0)
    };
    let det = Some(portcullis_plugin::caps::Determinism {
        wall_clock_secs: 1_700_000_000,
        seed: 42,
    });
    let a = run(det).await;
    let b = run(det).await;
    assert_eq!(a, b);
    assert!(a.starts_with("wall 1700000000 "), "{a}");
    let other_seed = run(Some(portcullis_plugin::caps::Determinism {
        wall_clock_secs: 1_700_000_000,
        seed: 43,
    }))
    .await;
    assert_ne!(a, other_seed);
    let real = run(None).await;
    assert!(!real.starts_with("wall 1700000000 "), "{real}");
    assert_ne!(
        run(None).await.split(" random ").nth(1),
        real.split(" random ").nth(1)
    );
}
