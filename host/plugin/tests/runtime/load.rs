//! Many calls at once, reloads under load, and what a call costs.

use crate::support::*;
use portcullis_plugin::error::InvokeError;
use portcullis_plugin::kind::Kind;
use portcullis_plugin::registry::{RegisteredPlugin, Registry};
use portcullis_plugin::types::{Call, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AUTO: Kind = Kind::PlatformAutomation;

fn ping(params: &str) -> Call {
    Call::Ping {
        target: target(),
        params: params.into(),
    }
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("rss field");
    pages * 4096
}

async fn batch(n: usize) -> Vec<(Result<Output, InvokeError>, u64)> {
    let p = plugin(Variant::Automation);
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move {
                let rec = Arc::new(Recorder::default());
                let (r, stats) = p
                    .call_with_stats(invocation(AUTO, rec), ping("flood:20"))
                    .await;
                (r, stats.peak_memory)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("join"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_calls_complete_with_bounded_memory() {
    // Warm up (loads the plugin, touches the pool).
    batch(8).await;
    let before = rss();
    let started = Instant::now();
    let results = batch(200).await;
    let took = started.elapsed();
    let after_first = rss();
    for (r, peak) in &results {
        assert_eq!(r.as_ref().expect("call"), &Output::Done);
        assert!(*peak <= AUTO.default_limits().memory_bytes);
    }
    batch(200).await;
    let after_second = rss();
    eprintln!(
        "200 concurrent calls: {took:?}; RSS {} MiB -> {} MiB -> {} MiB",
        before >> 20,
        after_first >> 20,
        after_second >> 20
    );
    // At most 64 run at once (the shared runtime's cap), each with ~1 MiB of touched memory.
    assert!(
        after_first.saturating_sub(before) < 256 << 20,
        "RSS grew from {before} to {after_first}"
    );
    // A second batch reuses the pool: no leak per call.
    assert!(
        after_second.saturating_sub(after_first) < 64 << 20,
        "RSS grew from {after_first} to {after_second}"
    );
}

#[tokio::test]
async fn replacing_a_plugin_lets_running_calls_finish_on_the_old_version() {
    let registry = Registry::new();
    let v1 = RegisteredPlugin {
        id: "misbehave".into(),
        version: "1.0.0".into(),
        kind: AUTO,
        plugin: plugin(Variant::Automation),
    };
    assert!(registry.enable(v1).is_none());
    let running = registry.get("misbehave").expect("enabled");
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec.clone());
    inv.limits = short(AUTO, Duration::from_millis(300));
    let call = {
        let running = running.clone();
        tokio::spawn(async move { running.plugin.call(inv, ping("loop")).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;

    let old = registry
        .replace(RegisteredPlugin {
            id: "misbehave".into(),
            version: "2.0.0".into(),
            kind: AUTO,
            plugin: plugin(Variant::Automation),
        })
        .expect("replaced");
    assert_eq!(old.version, "1.0.0");
    assert_eq!(registry.get("misbehave").expect("enabled").version, "2.0.0");
    // The call that started on 1.0.0 runs to its own end.
    assert!(matches!(
        call.await.expect("join"),
        Err(InvokeError::Deadline(_))
    ));
    assert_eq!(running.version, "1.0.0");

    registry.enable(RegisteredPlugin {
        id: "another".into(),
        version: "0.1.0".into(),
        kind: AUTO,
        plugin: plugin(Variant::Automation),
    });
    let ids: Vec<String> = registry.list().iter().map(|p| p.id.clone()).collect();
    assert_eq!(ids, vec!["another".to_owned(), "misbehave".to_owned()]);
    assert!(registry.disable("misbehave").is_some());
    assert!(registry.get("misbehave").is_none());
    assert!(registry.disable("misbehave").is_none());
}

#[tokio::test]
async fn a_fresh_instance_per_call_is_cheap() {
    let p = plugin(Variant::Automation);
    let rec = Arc::new(Recorder::default());
    // Warm up.
    for _ in 0..20 {
        p.call(invocation(AUTO, rec.clone()), Call::Describe)
            .await
            .expect("describe");
    }
    let n = 500u32;
    let started = Instant::now();
    for _ in 0..n {
        p.call(invocation(AUTO, rec.clone()), ping("ok"))
            .await
            .expect("ping");
    }
    let per_call = started.elapsed() / n;
    eprintln!(
        "fresh instance + ping ({} build): {per_call:?} per call",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    // Generous: an unoptimized host measured ~1.2 ms here (wasmtime itself unoptimized).
    assert!(
        per_call < Duration::from_millis(20),
        "{per_call:?} per call"
    );
}
