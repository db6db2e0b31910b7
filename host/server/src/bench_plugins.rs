//! `portcullis bench-plugins`: the plugin runtime's figures for the benchmark report.
//!
//! Measures, on the real engine and the built components (`plugins/build.sh` and
//! `examples/build.sh` put them in `target/plugins/<id>/`):
//! - a fresh instance plus one call (`describe`) per component, median and p99, which is what
//!   every invocation pays before the plugin does any work;
//! - host start with N enabled plugins loaded from precompiled artifacts (engine creation,
//!   artifact reads, `InstancePre`s, one `describe` each, as `serve` does);
//! - 1,000 concurrent automation invocations (`ping` through the Linux plugin against a remote
//!   that answers after a delay, as a slow SSH target would), with the process's peak memory.
//!
//! Prints a Markdown table; `--json FILE` also writes the figures. Run it from a release build
//! (`tests/bench/plugins.sh`): a debug build measures Cranelift's debug build, not ours.

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use portcullis_plugin::caps::{
    Event, EventSink, Invocation, RemoteGrant, RemoteProvider, RemoteSession,
};
use portcullis_plugin::engine::{Runtime, RuntimeOptions};
use portcullis_plugin::error::PluginError;
use portcullis_plugin::kind::Kind;
use portcullis_plugin::plugin::LoadedPlugin;
use portcullis_plugin::types::{Call, CommandOutput, ExpectMatch, Output, Protocol, Target};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchPluginOptions {
    /// Directory of built plugins (`<id>/plugin.wasm` + `plugin.toml`).
    #[arg(long, default_value = "target/plugins")]
    plugins_dir: PathBuf,
    /// Fresh-instance calls per compiled (Rust) component.
    #[arg(long, default_value_t = 2_000)]
    calls: usize,
    /// Fresh-instance calls per interpreted (Python, JavaScript) component.
    #[arg(long, default_value_t = 200)]
    slow_calls: usize,
    /// Plugins enabled at the simulated host start.
    #[arg(long, default_value_t = 20)]
    start_plugins: usize,
    /// Concurrent automation invocations.
    #[arg(long, default_value_t = 1_000)]
    concurrent: usize,
    /// How long the fake SSH target takes to answer each command.
    #[arg(long, default_value_t = 200)]
    remote_delay_ms: u64,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One component found in the plugins directory.
struct Built {
    id: String,
    kind: Kind,
    wasm: Vec<u8>,
}

/// Runs every measurement and prints the table.
pub async fn run(opts: BenchPluginOptions) -> Result<()> {
    let built = discover(&opts.plugins_dir)?;
    if built.is_empty() {
        bail!(
            "no plugins in {} (run plugins/build.sh and examples/build.sh)",
            opts.plugins_dir.display()
        );
    }
    let runtime = Runtime::new(RuntimeOptions {
        max_instances: u32::try_from(opts.concurrent.max(64)).unwrap_or(u32::MAX),
        max_concurrent: opts.concurrent.max(64),
        busy_wait: Duration::from_secs(60),
        ..RuntimeOptions::default()
    })?;
    let scratch = tempfile_dir()?;
    let mut rows = Vec::new();
    let mut report = serde_json::Map::new();

    // 1. Fresh instance + describe, per component.
    let mut artifacts = Vec::new();
    for b in &built {
        let started = Instant::now();
        let (_, artifact) = runtime
            .prepare(&b.wasm, b.kind)
            .with_context(|| format!("compiling {}", b.id))?;
        let compile = started.elapsed();
        let path = scratch.join(format!("{}.cwasm", b.id));
        std::fs::write(&path, &artifact)?;
        let started = Instant::now();
        let plugin = runtime.load_file(b.kind, &path)?;
        let load = started.elapsed();
        let n = if is_interpreted(&b.wasm) {
            opts.slow_calls
        } else {
            opts.calls
        };
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            let out = plugin
                .call(invocation(&b.id, b.kind, None), Call::Describe)
                .await;
            times.push(started.elapsed());
            if !matches!(out, Ok(Output::Info(_))) {
                bail!("{}: describe failed: {out:?}", b.id);
            }
        }
        let (median, p99) = percentiles(&mut times);
        rows.push(format!(
            "| {} | {:.1} MB | {:.2} s | {:.1} ms | {} | {} |",
            b.id,
            b.wasm.len() as f64 / 1e6,
            compile.as_secs_f64(),
            load.as_secs_f64() * 1e3,
            micros(median),
            micros(p99),
        ));
        report.insert(
            b.id.clone(),
            json!({
                "component_bytes": b.wasm.len(),
                "artifact_bytes": artifact.len(),
                "compile_s": compile.as_secs_f64(),
                "load_ms": load.as_secs_f64() * 1e3,
                "fresh_call_median_us": median.as_secs_f64() * 1e6,
                "fresh_call_p99_us": p99.as_secs_f64() * 1e6,
                "calls": n,
            }),
        );
        artifacts.push((b.id.clone(), b.kind, path, plugin));
    }
    println!(
        "| component | size | compile | load artifact | fresh instance + describe, median | p99 |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!("{r}");
    }

    // 2. Host start: a new engine loading N artifacts (cycling through the compiled
    // components, Rust ones first as a real installation would mostly have) and describing each.
    let mut order: Vec<_> = artifacts.iter().collect();
    order.sort_by_key(|(_, _, path, _)| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0));
    let compiled_only: Vec<_> = order
        .iter()
        .filter(|(id, ..)| {
            built
                .iter()
                .any(|b| &b.id == id && !is_interpreted(&b.wasm))
        })
        .copied()
        .collect();
    for (label, set) in [
        ("compiled components", &compiled_only),
        ("every component", &order),
    ] {
        if set.is_empty() {
            continue;
        }
        let started = Instant::now();
        let rt = Runtime::new(RuntimeOptions::default())?;
        for i in 0..opts.start_plugins {
            let (id, kind, path, _) = set[i % set.len()];
            let p = rt.load_file(*kind, path)?;
            let out = p.call(invocation(id, *kind, None), Call::Describe).await;
            if !matches!(out, Ok(Output::Info(_))) {
                bail!("{id}: describe failed at start: {out:?}");
            }
        }
        let took = started.elapsed();
        println!(
            "\nhost start with {} enabled plugins ({label}, from precompiled artifacts): {:.0} ms",
            opts.start_plugins,
            took.as_secs_f64() * 1e3
        );
        report.insert(
            format!("start_{}_{}", opts.start_plugins, label.replace(' ', "_")),
            json!({ "ms": took.as_secs_f64() * 1e3 }),
        );
    }

    // 3. Concurrent automations.
    if let Some((id, _, _, plugin)) = artifacts
        .iter()
        .find(|(_, kind, ..)| *kind == Kind::PlatformAutomation)
    {
        let rss_before = peak_rss_kib();
        let delay = Duration::from_millis(opts.remote_delay_ms);
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(opts.concurrent);
        for _ in 0..opts.concurrent {
            let plugin: LoadedPlugin = plugin.clone();
            let inv = invocation(id, Kind::PlatformAutomation, Some(delay));
            tasks.push(tokio::spawn(async move {
                plugin
                    .call_with_stats(
                        inv,
                        Call::Ping {
                            target: bench_target(),
                            params: "{}".into(),
                        },
                    )
                    .await
            }));
        }
        let mut failures = 0;
        let mut peak_memory = 0;
        for t in tasks {
            let (out, stats) = t.await?;
            peak_memory = peak_memory.max(stats.peak_memory);
            if out.is_err() {
                failures += 1;
            }
        }
        let took = started.elapsed();
        let rss_after = peak_rss_kib();
        println!(
            "\n{} concurrent `ping` invocations of {id} (remote answering after {} ms): \
             {:.2} s, {failures} failed, process peak RSS {} MiB (was {} MiB before), \
             largest guest memory {:.1} MiB",
            opts.concurrent,
            opts.remote_delay_ms,
            took.as_secs_f64(),
            rss_after / 1024,
            rss_before / 1024,
            peak_memory as f64 / 1048576.0
        );
        report.insert(
            "concurrent".into(),
            json!({
                "invocations": opts.concurrent,
                "remote_delay_ms": opts.remote_delay_ms,
                "seconds": took.as_secs_f64(),
                "failed": failures,
                "peak_rss_kib_before": rss_before,
                "peak_rss_kib_after": rss_after,
                "largest_guest_memory_bytes": peak_memory,
            }),
        );
        if failures > 0 {
            bail!("{failures} concurrent invocations failed");
        }
    }

    if let Some(path) = &opts.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn discover(dir: &Path) -> Result<Vec<Built>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    for d in dirs {
        let (manifest, wasm) = (d.join("plugin.toml"), d.join("plugin.wasm"));
        if !manifest.is_file() || !wasm.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest)?;
        let doc: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing {}", manifest.display()))?;
        let field = |k: &str| doc.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let kind: Kind = field("kind")
            .parse()
            .with_context(|| format!("{}", manifest.display()))?;
        out.push(Built {
            id: field("id").to_owned(),
            kind,
            wasm: std::fs::read(&wasm)?,
        });
    }
    Ok(out)
}

/// Python and JavaScript components embed their interpreter: several MB.
fn is_interpreted(wasm: &[u8]) -> bool {
    wasm.len() > 4 * 1024 * 1024
}

fn invocation(id: &str, kind: Kind, remote_delay: Option<Duration>) -> Invocation {
    Invocation {
        id: "bench".into(),
        plugin_id: id.into(),
        plugin_version: String::new(),
        limits: kind.default_limits(),
        config: BTreeMap::new(),
        secrets: BTreeMap::new(),
        reveal_allowed: false,
        http: None,
        remote: remote_delay.map(|delay| RemoteGrant {
            allowed: vec![bench_target()],
            provider: Arc::new(SlowRemote { delay }),
        }),
        events: Arc::new(Discard),
        determinism: None,
        fuel: None,
    }
}

fn bench_target() -> Target {
    Target {
        asset_id: "00000000-0000-4000-8000-000000000001".into(),
        account_id: None,
        protocol: Protocol::Ssh,
    }
}

struct Discard;

impl EventSink for Discard {
    fn record(&self, _invocation_id: &str, _event: Event) {}
}

/// A target that answers every command successfully after `delay`, like a distant host.
struct SlowRemote {
    delay: Duration,
}

#[async_trait]
impl RemoteProvider for SlowRemote {
    async fn open(
        &self,
        _invocation_id: &str,
        _target: &Target,
        _timeout: Duration,
    ) -> Result<Box<dyn RemoteSession>, PluginError> {
        tokio::time::sleep(self.delay).await;
        Ok(Box::new(SlowSession { delay: self.delay }))
    }
}

struct SlowSession {
    delay: Duration,
}

#[async_trait]
impl RemoteSession for SlowSession {
    async fn run(
        &mut self,
        _command: &str,
        _timeout: Duration,
    ) -> Result<CommandOutput, PluginError> {
        tokio::time::sleep(self.delay).await;
        Ok(CommandOutput {
            exit_code: Some(0),
            stdout: b"ok\n".to_vec(),
            stderr: Vec::new(),
        })
    }

    async fn send(&mut self, _data: &[u8]) -> Result<(), PluginError> {
        Ok(())
    }

    async fn expect(
        &mut self,
        _patterns: &[regex::Regex],
        _timeout: Duration,
    ) -> Result<ExpectMatch, PluginError> {
        Err(PluginError::Unavailable(
            "the benchmark target has no shell".into(),
        ))
    }

    async fn close(&mut self) {}
}

fn percentiles(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// The process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("portcullis-bench-plugins-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
