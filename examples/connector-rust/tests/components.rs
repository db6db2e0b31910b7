//! The examples on the real runtime: the three manifests (Rust, Python, JavaScript) parse
//! with the host's parser, and the Rust component is a component of the `cloud-connector`
//! world (`Runtime::inspect`: compiled, exports checked, every import inside the world).
//!
//! The Python and JavaScript components take 8–10 minutes each to compile in a debug build,
//! so they are inspected by the release-built `examples/inspect.rs`
//! (`examples/build.sh --inspect`), not here.

use portcullis_plugin::engine::{Runtime, RuntimeOptions};
use portcullis_plugin::kind::Kind;
use portcullis_plugin::manifest::Manifest;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn source_manifests_parse_once_the_build_adds_the_digest() {
    for lang in ["rust", "python", "js"] {
        let path = repo_root().join(format!("examples/connector-{lang}/plugin.toml"));
        let text = std::fs::read_to_string(&path).expect("manifest");
        let with_digest = text.replace(
            "component = \"plugin.wasm\"\n",
            &format!(
                "component = \"plugin.wasm\"\nsha256 = \"{}\"\n",
                "0".repeat(64)
            ),
        );
        let manifest = Manifest::parse(with_digest.as_bytes())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(manifest.id, format!("example-inventory-{lang}"));
        assert_eq!(manifest.version, example_connector_rust::VERSION);
        assert_eq!(manifest.kind, Kind::CloudConnector);
        assert_eq!(manifest.capabilities.secrets, ["api_token"]);
        assert!(manifest.capabilities.reveal);
        assert!(manifest.config["endpoint"].required);
    }
}

/// Builds the Rust component as `examples/build.sh` does (cargo skips it when up to date).
fn rust_component() -> Vec<u8> {
    let wasm_dir = repo_root().join("target/wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(repo_root())
        .env("CARGO_TARGET_DIR", &wasm_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args([
            "build",
            "--quiet",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "plugin",
        ])
        .args(["-p", "example-connector-rust"])
        .status()
        .expect("running cargo for the component");
    assert!(status.success(), "building the component failed");
    std::fs::read(wasm_dir.join("wasm32-wasip2/plugin/example_connector_rust.wasm"))
        .expect("the component")
}

#[test]
fn the_rust_component_is_a_cloud_connector() {
    let runtime = Runtime::new(RuntimeOptions {
        pooling: false,
        ..RuntimeOptions::default()
    })
    .expect("runtime");
    let report = runtime
        .inspect(&rust_component(), Kind::CloudConnector)
        .expect("a cloud-connector component");
    assert_eq!(report.api_version, "0.1.0");
    assert!(
        report
            .exports
            .iter()
            .any(|e| e == "portcullis:plugin/connector@0.1.0"),
        "{:?}",
        report.exports
    );
    for import in [
        "portcullis:plugin/config@0.1.0",
        "portcullis:plugin/log@0.1.0",
        "portcullis:plugin/secrets@0.1.0",
        "wasi:http/outgoing-handler@0.2.12",
    ] {
        assert!(
            report.imports.iter().any(|i| i == import),
            "{import}: {:?}",
            report.imports
        );
    }
    // A plain Rust guest touches no files and no sockets.
    assert!(
        !report
            .wasi
            .iter()
            .any(|w| w == "wasi:filesystem" || w == "wasi:sockets"),
        "{:?}",
        report.wasi
    );
    // The runtime refuses it as any other kind.
    assert!(
        runtime
            .inspect(&rust_component(), Kind::PlatformAutomation)
            .is_err()
    );
}
