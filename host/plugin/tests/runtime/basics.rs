//! Describe, calls, and a fresh instance per call.

use crate::support::*;
use portcullis_plugin::error::{InvokeError, PluginError};
use portcullis_plugin::kind::Kind;
use portcullis_plugin::types::{Call, Output};
use std::sync::Arc;

#[tokio::test]
async fn describe_answers_the_plugin_info() {
    let p = plugin(Variant::Automation);
    assert_eq!(p.kind(), Kind::PlatformAutomation);
    let rec = Arc::new(Recorder::default());
    let out = p
        .call(invocation(Kind::PlatformAutomation, rec), Call::Describe)
        .await
        .expect("describe");
    let Output::Info(info) = out else {
        panic!("describe answered {out:?}")
    };
    assert_eq!(info.id, "misbehave");
    assert_eq!(info.version, "0.1.0");
}

#[tokio::test]
async fn ping_ok_is_done() {
    let rec = Arc::new(Recorder::default());
    let out = plugin(Variant::Automation)
        .call(
            invocation(Kind::PlatformAutomation, rec),
            Call::Ping {
                target: target(),
                params: "ok".into(),
            },
        )
        .await
        .expect("ping");
    assert_eq!(out, Output::Done);
}

#[tokio::test]
async fn every_call_gets_a_fresh_instance() {
    let p = plugin(Variant::Automation);
    for round in 0..3 {
        if round > 0 {
            // Dirty far more memory than the pool keeps resident between calls (the
            // memory bomb stops at the limit): the next instance must still start clean.
            let mut inv = invocation(Kind::PlatformAutomation, Arc::new(Recorder::default()));
            inv.limits.memory_bytes = 8 * 1024 * 1024;
            let bomb = p
                .call(
                    inv,
                    Call::Ping {
                        target: target(),
                        params: "alloc".into(),
                    },
                )
                .await;
            assert!(
                matches!(bomb, Err(InvokeError::MemoryLimit { .. })),
                "{bomb:?}"
            );
        }
        let rec = Arc::new(Recorder::default());
        let err = p
            .call(
                invocation(Kind::PlatformAutomation, rec),
                Call::Ping {
                    target: target(),
                    params: "counter".into(),
                },
            )
            .await
            .expect_err("counter fails on purpose");
        // A counter in guest memory starts from zero every time.
        assert!(
            matches!(&err, InvokeError::Plugin(PluginError::Internal(m)) if m == "count=1"),
            "{err:?}"
        );
    }
}
