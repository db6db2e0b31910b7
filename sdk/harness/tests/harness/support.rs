//! Shared fixtures: guests built once per run (cargo skips what is up to date) into
//! `target/wasm`, one harness whose artifact cache lives in `target/wasm/plugin-cache`.

use portcullis_plugin::kind::Kind;
use portcullis_plugin_harness::runner::{Component, Harness};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn wasm_target() -> PathBuf {
    repo_root().join("target/wasm")
}

/// The harness shared by the tests.
pub fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| Harness::new(Some(wasm_target().join("plugin-cache"))).expect("harness"))
}

/// Builds `package` (with `features`, default features off when some are given) for
/// wasm32-wasip2 with the plugin profile and returns the component path.
pub fn build_guest(package: &str, features: &[&str]) -> PathBuf {
    // One build at a time: concurrent cargo runs on one target dir only wait on its lock.
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo_root())
        .env("CARGO_TARGET_DIR", wasm_target())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args([
            "build",
            "--quiet",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "plugin",
            "-p",
            package,
        ]);
    if !features.is_empty() {
        cmd.args(["--no-default-features", "--features", &features.join(",")]);
    }
    let status = cmd.status().expect("running cargo for a guest");
    assert!(status.success(), "building {package} {features:?} failed");
    let file = format!("{}.wasm", package.replace('-', "_"));
    let built = wasm_target().join("wasm32-wasip2/plugin").join(file);
    // Variants of one package overwrite each other: keep a copy per feature set.
    let copy = wasm_target().join("harness-guests").join(format!(
        "{package}{}{}.wasm",
        if features.is_empty() { "" } else { "-" },
        features.join("-")
    ));
    std::fs::create_dir_all(copy.parent().expect("parent")).expect("mkdir");
    std::fs::copy(&built, &copy).expect("copy guest");
    copy
}

/// The misbehave guest of one world.
pub fn misbehave(kind: Kind) -> Component {
    static LOADED: OnceLock<Mutex<Vec<(Kind, Component)>>> = OnceLock::new();
    let cell = LOADED.get_or_init(|| Mutex::new(Vec::new()));
    let mut loaded = cell.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, c)) = loaded.iter().find(|(k, _)| *k == kind) {
        return c.clone();
    }
    let feature = match kind {
        Kind::PlatformAutomation => "automation",
        Kind::CloudConnector => "connector",
        Kind::Autofill => "autofill",
        Kind::AuthProvider => panic!("the misbehave guest has no auth variant"),
    };
    let path = build_guest("test-plugin-misbehave", &[feature]);
    let c = harness().load_file(&path, kind).expect("loading misbehave");
    loaded.push((kind, c.clone()));
    c
}

/// A current-thread runtime for one test.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio")
        .block_on(f)
}

/// Copies a directory tree (cases into a temporary directory for blessing tests).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).expect("copy");
        }
    }
}
