//! Measures one thing: a fresh instance plus `describe` of one component, as
//! `portcullis bench-plugins` does, without the rest of the server. For profiling the call
//! path: `cargo run --release -p portcullis-plugin --example fresh_call -- <plugin.wasm> [calls]`.

use portcullis_plugin::caps::{Event, EventSink, Invocation};
use portcullis_plugin::engine::{Runtime, RuntimeOptions};
use portcullis_plugin::kind::Kind;
use portcullis_plugin::types::Call;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Discard;

impl EventSink for Discard {
    fn record(&self, _invocation_id: &str, _event: Event) {}
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: fresh_call <plugin.wasm> [calls] [kind]")?;
    let calls: usize = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(20_000);
    let kind: Kind = args
        .next()
        .unwrap_or_else(|| "platform-automation".into())
        .parse()?;
    let wasm = std::fs::read(&path)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let runtime = Runtime::new(RuntimeOptions::default())?;
        let plugin = runtime.compile_and_load(kind, &wasm)?;
        let events: Arc<dyn EventSink> = Arc::new(Discard);
        let mut times = Vec::with_capacity(calls);
        for _ in 0..calls {
            let inv = Invocation {
                id: "bench".into(),
                plugin_id: "bench".into(),
                plugin_version: String::new(),
                limits: kind.default_limits(),
                config: BTreeMap::new(),
                secrets: BTreeMap::new(),
                reveal_allowed: false,
                http: None,
                remote: None,
                events: events.clone(),
                determinism: None,
                fuel: None,
            };
            let started = Instant::now();
            plugin.call(inv, Call::Describe).await?;
            times.push(started.elapsed());
        }
        times.sort();
        let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "{calls} calls: median {:.1} µs, p10 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs",
            us(at(0.5)),
            us(at(0.1)),
            us(at(0.9)),
            us(at(0.99))
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
