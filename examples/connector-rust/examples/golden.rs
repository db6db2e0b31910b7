//! Runs the Rust connector's golden cases (`tests/golden`) on every built example component,
//! on the real runtime with the harness's fakes, and checks that the three languages answer
//! alike: the same outcome, the same HTTP requests, reveals and log lines.
//!
//! ```sh
//! cargo run --release -p example-connector-rust --example golden -- target/plugins/example-inventory-*
//! ```
//!
//! Each case runs in a scratch copy blessed from the run (`expected.json` written by the
//! harness), which is then compared with the Rust case's `expected.json` after removing what
//! legitimately differs: the fuel budget, `describe`'s id and display name, the JSON parser's
//! message after "is not JSON: " and the spelling of the wasi:http error code after "failed: "
//! (see `examples/inventory/README.md`). `examples/build.sh --inspect` runs it. Release build:
//! the Python and JavaScript components take minutes to compile in a debug build.

use portcullis_plugin::kind::Kind;
use portcullis_plugin_harness::golden::{self, EXPECTED_FILE};
use portcullis_plugin_harness::project::{MANIFEST_FILE, ProjectManifest};
use portcullis_plugin_harness::runner::Harness;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The comparable part of an `expected.json`.
fn normalise(mut v: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        obj.remove("fuel");
    }
    if let Some(info) = v.pointer_mut("/outcome/ok/value")
        && v_is_info(info)
    {
        info["id"] = Value::from("example-inventory-LANG");
        info["display_name"] = Value::from("Example inventory (LANG)");
    }
    if let Some(Value::String(m)) = v.pointer_mut("/outcome/error/message") {
        for cut in [" is not JSON: ", " failed: "] {
            if let Some(i) = m.find(cut) {
                m.truncate(i + cut.len());
                m.push('…');
            }
        }
    }
    v
}

fn v_is_info(v: &Value) -> bool {
    v.get("features").is_some() && v.get("display_name").is_some()
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Copies a case's inputs (everything but `expected.json`) into `to`.
fn copy_case(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(from).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.file_name() != EXPECTED_FILE {
            std::fs::copy(entry.path(), to.join(entry.file_name())).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Runs every case on the plugin in `plugin_dir`; returns (passed, failed).
async fn run_plugin(harness: &Harness, plugin_dir: &Path) -> Result<(usize, usize), String> {
    let manifest = ProjectManifest::load(plugin_dir).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let component = harness
        .load_file(&plugin_dir.join(&manifest.component), Kind::CloudConnector)
        .map_err(|e| e.to_string())?;
    println!(
        "{}: loaded in {:.1?}{}",
        manifest.id,
        started.elapsed(),
        if component.cached {
            " (cached artifact)"
        } else {
            ""
        }
    );
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::copy(
        plugin_dir.join(MANIFEST_FILE),
        scratch.path().join(MANIFEST_FILE),
    )
    .map_err(|e| e.to_string())?;
    let cases = golden::case_dirs(&golden_dir()).map_err(|e| e.to_string())?;
    let (mut passed, mut failed) = (0, 0);
    for case in cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let copy = scratch.path().join(&name);
        copy_case(&case, &copy)?;
        let report = golden::run_case(&component, &copy, true).await;
        let mut problems = report.problems.clone();
        if problems.is_empty() {
            let want = normalise(read_json(&case.join(EXPECTED_FILE))?);
            let got = normalise(read_json(&copy.join(EXPECTED_FILE))?);
            if want != got {
                let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
                problems.push(golden::line_diff(&pretty(&want), &pretty(&got)));
            }
        }
        if problems.is_empty() {
            passed += 1;
            println!(
                "ok   {} {name} (fuel {}, {:.1?})",
                manifest.id,
                golden::human(report.fuel_used),
                report.duration
            );
        } else {
            failed += 1;
            println!("FAIL {} {name}:\n{}", manifest.id, problems.join("\n"));
        }
    }
    Ok((passed, failed))
}

fn main() -> ExitCode {
    let dirs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let Some(first) = dirs.first() else {
        eprintln!("usage: golden PLUGIN_DIR...");
        return ExitCode::from(2);
    };
    let cache = Harness::default_cache_dir(first);
    let harness = match Harness::new(Some(cache)) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for dir in &dirs {
        match rt.block_on(run_plugin(&harness, dir)) {
            Ok((p, f)) => {
                passed += p;
                failed += f;
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {}: {e}", dir.display());
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
