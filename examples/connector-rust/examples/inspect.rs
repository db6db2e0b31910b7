//! Checks built plugin directories on the real runtime: the manifest parses with the host's
//! parser, its `sha256` matches the component, and `Runtime::inspect` accepts the component
//! as one of the manifest's world (compiled, exports checked, every import inside the world).
//!
//! ```sh
//! cargo run --release -p example-connector-rust --example inspect -- target/plugins/example-inventory-*
//! ```
//!
//! `examples/build.sh --inspect` runs it on what it built. Use a release build: compiling the
//! 13–18 MB Python and JavaScript components takes seconds there and 8–10 minutes in a debug
//! build (which is why the crate's `cargo test` inspects only the Rust component).

use portcullis_plugin::engine::{Runtime, RuntimeOptions};
use portcullis_plugin::manifest::Manifest;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

fn check(runtime: &Runtime, dir: &Path) -> Result<String, String> {
    let text = std::fs::read(dir.join("plugin.toml")).map_err(|e| format!("plugin.toml: {e}"))?;
    let manifest = Manifest::parse(&text).map_err(|e| e.to_string())?;
    let wasm = std::fs::read(dir.join(&manifest.component))
        .map_err(|e| format!("{}: {e}", manifest.component))?;
    let digest = hex::encode(Sha256::digest(&wasm));
    if digest != manifest.sha256 {
        return Err(format!(
            "sha256 is {digest}, the manifest says {}",
            manifest.sha256
        ));
    }
    let started = Instant::now();
    let report = runtime
        .inspect(&wasm, manifest.kind)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "{} {}: {} component, {} bytes, compiled and checked in {:.1?}; exports {}; WASI {}",
        manifest.id,
        manifest.version,
        report.kind,
        wasm.len(),
        started.elapsed(),
        report.exports.join(", "),
        report.wasi.join(", ")
    ))
}

fn main() -> ExitCode {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    if dirs.is_empty() {
        eprintln!("usage: inspect PLUGIN_DIR...");
        return ExitCode::from(2);
    }
    let runtime = match Runtime::new(RuntimeOptions {
        pooling: false,
        ..RuntimeOptions::default()
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = 0;
    for dir in &dirs {
        match check(&runtime, Path::new(dir)) {
            Ok(line) => println!("ok   {line}"),
            Err(e) => {
                failed += 1;
                println!("FAIL {dir}: {e}");
            }
        }
    }
    println!("{} passed, {failed} failed", dirs.len() - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
