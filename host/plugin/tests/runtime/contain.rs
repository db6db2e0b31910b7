//! Containment: whatever the guest does ends as an `InvokeError`, and the runtime keeps
//! serving.

use crate::support::*;
use portcullis_plugin::caps::Event;
use portcullis_plugin::engine::{Runtime, RuntimeOptions};
use portcullis_plugin::error::InvokeError;
use portcullis_plugin::kind::{Kind, Limits};
use portcullis_plugin::types::{Call, LogLevel, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AUTO: Kind = Kind::PlatformAutomation;

fn ping(params: &str) -> Call {
    Call::Ping {
        target: target(),
        params: params.into(),
    }
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_the_deadline() {
    let deadline = Duration::from_millis(200);
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec);
    inv.limits = short(AUTO, deadline);
    let started = Instant::now();
    let (result, stats) = plugin(Variant::Automation)
        .call_with_stats(inv, ping("loop"))
        .await;
    let took = started.elapsed();
    assert!(
        matches!(result, Err(InvokeError::Deadline(d)) if d == deadline),
        "{result:?}"
    );
    assert!(
        took >= deadline,
        "stopped after {took:?}, before the deadline"
    );
    assert!(took < deadline * 3, "stopped only after {took:?}");
    assert_eq!(
        stats.fuel_consumed, 0,
        "production runtimes do not meter fuel"
    );
}

#[tokio::test]
async fn a_memory_bomb_hits_the_limit_and_the_runtime_serves_the_next_call() {
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec.clone());
    inv.limits = Limits {
        memory_bytes: 16 * 1024 * 1024,
        ..AUTO.default_limits()
    };
    let (result, stats) = plugin(Variant::Automation)
        .call_with_stats(inv, ping("alloc"))
        .await;
    assert!(
        matches!(result, Err(InvokeError::MemoryLimit { limit }) if limit == 16 * 1024 * 1024),
        "{result:?}"
    );
    assert!(stats.peak_memory <= 16 * 1024 * 1024, "{stats:?}");
    assert!(stats.peak_memory > 8 * 1024 * 1024, "{stats:?}");

    let out = plugin(Variant::Automation)
        .call(invocation(AUTO, rec), ping("ok"))
        .await;
    assert_eq!(out.expect("the next call"), Output::Done);
}

#[tokio::test]
async fn a_panic_is_a_trap_with_wasmtimes_message() {
    let rec = Arc::new(Recorder::default());
    let err = plugin(Variant::Automation)
        .call(invocation(AUTO, rec), ping("panic"))
        .await
        .expect_err("panics");
    let InvokeError::Trap(msg) = &err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("unreachable"), "{msg}");
    assert_eq!(err.code(), "trap");
}

#[tokio::test]
async fn a_log_flood_is_capped_and_the_drop_reported_once() {
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec.clone());
    inv.limits.log_lines = 100;
    let started = Instant::now();
    let out = plugin(Variant::Automation)
        .call(inv, ping("flood:1000000"))
        .await;
    eprintln!("1M log lines: {:?}", started.elapsed());
    assert_eq!(out.expect("flood completes"), Output::Done);
    let events = rec.events();
    let logs = events
        .iter()
        .filter(|e| matches!(e, Event::Log { .. }))
        .count();
    assert_eq!(logs, 100);
    let dropped: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::LogsDropped { lines } => Some(*lines),
            _ => None,
        })
        .collect();
    assert_eq!(dropped, vec![1_000_000 - 100]);
    assert!(matches!(events.last(), Some(Event::LogsDropped { .. })));
}

#[tokio::test]
async fn log_bytes_are_capped_too() {
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec.clone());
    // "flood line N" is 12-13 bytes: 10 lines fit in 130 bytes.
    inv.limits.log_bytes = 130;
    plugin(Variant::Automation)
        .call(inv, ping("flood:50"))
        .await
        .expect("flood");
    assert_eq!(rec.log_lines().len(), 10);
    assert!(
        rec.events()
            .iter()
            .any(|e| matches!(e, Event::LogsDropped { lines: 40 }))
    );
}

#[tokio::test]
async fn guest_stdout_and_stderr_land_in_the_log() {
    let rec = Arc::new(Recorder::default());
    plugin(Variant::Automation)
        .call(invocation(AUTO, rec.clone()), ping("stdout:3"))
        .await
        .expect("stdout");
    let lines: Vec<(LogLevel, String)> = rec
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Log { level, message, .. } => Some((level, message)),
            _ => None,
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            (LogLevel::Info, "stdout line 0".to_owned()),
            (LogLevel::Info, "stdout line 1".to_owned()),
            (LogLevel::Info, "stdout line 2".to_owned()),
            (LogLevel::Warn, "no newline at the end".to_owned()),
        ]
    );
}

#[tokio::test]
async fn fuel_budgets_stop_the_guest_and_report_use() {
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec.clone());
    inv.fuel = Some(1_000_000);
    let (result, stats) = metered_plugin(Variant::Automation)
        .call_with_stats(inv, ping("loop"))
        .await;
    assert!(
        matches!(result, Err(InvokeError::Fuel(1_000_000))),
        "{result:?}"
    );
    assert_eq!(stats.fuel_consumed, 1_000_000);

    // The same call twice burns the same fuel: budgets are deterministic.
    let mut used = Vec::new();
    for _ in 0..2 {
        let mut inv = invocation(AUTO, rec.clone());
        inv.fuel = Some(10_000_000);
        let (result, stats) = metered_plugin(Variant::Automation)
            .call_with_stats(inv, ping("flood:10"))
            .await;
        result.expect("flood:10 fits the budget");
        used.push(stats.fuel_consumed);
    }
    assert!(used[0] > 0);
    assert_eq!(used[0], used[1]);
}

#[tokio::test]
async fn a_fuel_budget_on_a_runtime_without_metering_is_refused() {
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec);
    inv.fuel = Some(1_000_000);
    let err = plugin(Variant::Automation)
        .call(inv, ping("ok"))
        .await
        .expect_err("no fuel on this runtime");
    assert!(
        matches!(&err, InvokeError::Instantiate(m) if m.contains("meters fuel")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_call_outside_the_world_is_wrong_kind() {
    let rec = Arc::new(Recorder::default());
    let err = plugin(Variant::Automation)
        .call(invocation(AUTO, rec), Call::ListRegions)
        .await
        .expect_err("not in the automation world");
    assert!(
        matches!(
            err,
            InvokeError::WrongKind {
                call: "list-regions",
                kind: Kind::PlatformAutomation
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn calls_past_the_concurrency_cap_are_busy() {
    let rt = Runtime::new(RuntimeOptions {
        max_instances: 4,
        max_concurrent: 1,
        busy_wait: Duration::from_millis(50),
        pooling: false,
        ..RuntimeOptions::default()
    })
    .expect("runtime");
    let p = rt
        .load(
            Kind::PlatformAutomation,
            &artifact(&rt, Variant::Automation),
        )
        .expect("load");
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(AUTO, rec.clone());
    inv.limits = short(AUTO, Duration::from_millis(500));
    let busy_one = {
        let p = p.clone();
        tokio::spawn(async move { p.call(inv, ping("loop")).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !busy_one.is_finished(),
        "a looping guest must not block the executor"
    );
    let err = p
        .call(invocation(AUTO, rec.clone()), ping("ok"))
        .await
        .expect_err("the only slot is taken");
    assert!(matches!(err, InvokeError::Busy), "{err:?}");
    let first = busy_one.await.expect("join");
    assert!(matches!(first, Err(InvokeError::Deadline(_))), "{first:?}");
    p.call(invocation(AUTO, rec), ping("ok"))
        .await
        .expect("the slot is free again");
}
