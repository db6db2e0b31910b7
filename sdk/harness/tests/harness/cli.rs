//! The authoring commands end to end: a new Rust project of every world is scaffolded, built
//! with cargo, checked by the runtime, its golden case blessed and passed, and it conforms.

use crate::support::{block_on, wasm_target};
use portcullis_plugin::kind::Kind;
use portcullis_plugin_harness::cli::{self, DevCommand};
use portcullis_plugin_harness::scaffold::Lang;
use std::path::Path;

fn run(cmd: DevCommand) -> Result<(), String> {
    block_on(cli::run(cmd)).map_err(|e| e.to_string())
}

fn new_build_test(parent: &Path, kind: Kind) {
    let name = format!("demo-{}", kind.world());
    run(DevCommand::New {
        name: name.clone(),
        lang: Lang::Rust,
        kind,
        dir: parent.to_path_buf(),
        publisher: "acme".into(),
        sdk_path: None,
    })
    .unwrap();
    let dir = parent.join(&name);
    run(DevCommand::Build {
        dir: Some(dir.clone()),
        out: None,
        wit: None,
        // Shared with the other guests: dependencies compile once.
        target_dir: Some(wasm_target().join("harness-projects")),
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let built = dir.join("target/plugin");
    assert!(built.join("plugin.wasm").is_file());
    let manifest = std::fs::read_to_string(built.join("plugin.toml")).unwrap();
    portcullis_plugin::manifest::Manifest::parse(manifest.as_bytes()).unwrap();

    let test = |bless| DevCommand::Test {
        dir: Some(dir.clone()),
        bless,
        build: false,
        component: None,
        cases: Vec::new(),
    };
    let first = run(test(false)).unwrap_err();
    assert_eq!(first, "1 of 1 cases failed", "{name}: no expected.json yet");
    run(test(true)).unwrap();
    run(test(false)).unwrap_or_else(|e| panic!("{name}: {e}"));

    let component = built.join("plugin.wasm");
    let mut config = Vec::new();
    match kind {
        Kind::CloudConnector => config.push("endpoint=https://api.example.com".to_owned()),
        Kind::AuthProvider => config.extend([
            "authorize_url=https://login.example.com/authorize".to_owned(),
            "client_id=portcullis".to_owned(),
            "userinfo_url=https://login.example.com/userinfo".to_owned(),
        ]),
        _ => {}
    }
    run(DevCommand::Conformance {
        component,
        kind: None,
        manifest: Some(dir.join("plugin.toml")),
        config,
        secrets: Vec::new(),
        params: None,
        json: false,
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"));
}

#[test]
fn new_rust_projects_build_pass_their_golden_case_and_conform() {
    let tmp = tempfile::tempdir().unwrap();
    for kind in Kind::ALL {
        new_build_test(tmp.path(), kind);
    }
}

#[test]
fn test_and_conformance_say_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    run(DevCommand::New {
        name: "unbuilt".into(),
        lang: Lang::Python,
        kind: Kind::Autofill,
        dir: tmp.path().to_path_buf(),
        publisher: "acme".into(),
        sdk_path: None,
    })
    .unwrap();
    let e = run(DevCommand::Test {
        dir: Some(tmp.path().join("unbuilt")),
        bless: false,
        build: false,
        component: None,
        cases: Vec::new(),
    })
    .unwrap_err();
    assert!(e.contains("not built yet"), "{e}");
    let e = run(DevCommand::Conformance {
        component: tmp.path().join("nothing.wasm"),
        kind: None,
        manifest: None,
        config: Vec::new(),
        secrets: Vec::new(),
        params: None,
        json: false,
    })
    .unwrap_err();
    assert!(e.contains("--kind"), "{e}");
}
