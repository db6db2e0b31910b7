//! The real plugins: the Linux automation plugin and the example connector in Rust, Python
//! and JavaScript, through their golden cases and the conformance suite.

use crate::support::{block_on, build_guest, harness, repo_root};
use portcullis_plugin::kind::Kind;
use portcullis_plugin_harness::conformance::{self, Options};
use portcullis_plugin_harness::golden;
use portcullis_plugin_harness::project::ProjectManifest;
use portcullis_plugin_harness::runner::Component;
use std::path::PathBuf;
use std::sync::OnceLock;

fn linux() -> &'static Component {
    static C: OnceLock<Component> = OnceLock::new();
    C.get_or_init(|| {
        let path = build_guest("portcullis-linux", &[]);
        harness()
            .load_file(&path, Kind::PlatformAutomation)
            .unwrap()
    })
}

fn connector() -> &'static Component {
    static C: OnceLock<Component> = OnceLock::new();
    C.get_or_init(|| {
        let path = build_guest("example-connector-rust", &[]);
        harness().load_file(&path, Kind::CloudConnector).unwrap()
    })
}

fn project(rel: &str) -> PathBuf {
    repo_root().join(rel)
}

fn run_golden(component: &Component, rel: &str, at_least: usize) {
    let dir = project(rel).join("tests/golden");
    let reports = block_on(golden::run_dir(component, &dir, golden::bless_from_env()));
    let text: String = reports.iter().map(|r| r.render()).collect();
    assert!(
        reports.len() >= at_least,
        "{} cases in {}:\n{text}",
        reports.len(),
        dir.display()
    );
    assert!(reports.iter().all(|r| r.passed), "{text}");
}

#[test]
fn the_linux_golden_cases_pass() {
    run_golden(linux(), "plugins/linux", 10);
}

#[test]
fn the_linux_plugin_conforms() {
    let manifest = ProjectManifest::load(&project("plugins/linux")).unwrap();
    let r = block_on(conformance::run(
        linux(),
        &Options::from_manifest(&manifest),
    ));
    assert!(r.passed(), "{}", r.render());
    assert!(
        r.rows.iter().all(|r| r.status == conformance::Status::Pass),
        "{}",
        r.render()
    );
    // The probe plays passwd's dialogue: both secret-handing calls really sent the secret,
    // and only through send-secret.
    let row = r.row("no-reveal-for-send").unwrap();
    assert_eq!(
        row.reason.matches("through send-secret only").count(),
        2,
        "{}",
        row.reason
    );
}

#[test]
fn the_rust_connector_golden_cases_pass() {
    run_golden(connector(), "examples/connector-rust", 10);
}

#[test]
fn the_rust_connector_conforms() {
    let manifest = ProjectManifest::load(&project("examples/connector-rust")).unwrap();
    let mut options = Options::from_manifest(&manifest);
    options
        .config
        .insert("endpoint".into(), "https://inventory.example.com".into());
    let r = block_on(conformance::run(connector(), &options));
    assert!(r.passed(), "{}", r.render());

    // Without its endpoint configured the connector never sends a request: the suite says so
    // instead of passing the I/O checks vacuously.
    let r = block_on(conformance::run(
        connector(),
        &Options::from_manifest(&manifest),
    ));
    let row = r.row("errors-are-plugin-errors").unwrap();
    assert_eq!(row.status, conformance::Status::Fail);
    assert!(row.reason.contains("configuration"), "{}", row.reason);
}

/// The Python or JavaScript example connector, built by `examples/build.sh` (which
/// `tests/run.sh` runs before the suite; built here when missing). Compiling a 12–18 MB
/// component takes about 20 s with the dev profile's optimized Cranelift; the artifact is
/// cached for later runs.
fn example(lang: &'static str) -> &'static Component {
    static PY: OnceLock<Component> = OnceLock::new();
    static JS: OnceLock<Component> = OnceLock::new();
    let cell = if lang == "python" { &PY } else { &JS };
    cell.get_or_init(|| {
        let dir = project(&format!("target/plugins/example-inventory-{lang}"));
        if !dir.join("plugin.wasm").is_file() {
            let status = std::process::Command::new("bash")
                .arg(project("examples/build.sh"))
                .args(["--no-tests", lang])
                .status()
                .expect("running examples/build.sh");
            assert!(status.success(), "examples/build.sh {lang} failed");
        }
        harness()
            .load_file(&dir.join("plugin.wasm"), Kind::CloudConnector)
            .unwrap()
    })
}

fn example_conforms(lang: &'static str) {
    let manifest = ProjectManifest::load(&project(&format!("examples/connector-{lang}"))).unwrap();
    let mut options = Options::from_manifest(&manifest);
    options
        .config
        .insert("endpoint".into(), "https://inventory.example.com".into());
    let r = block_on(conformance::run(example(lang), &options));
    assert!(r.passed(), "{}", r.render());
    // Every row applies to a connector except the automation-only one.
    assert!(
        r.rows.iter().all(|r| match r.name {
            "no-reveal-for-send" => r.status == conformance::Status::Skip,
            _ => r.status == conformance::Status::Pass,
        }),
        "{}",
        r.render()
    );
}

#[test]
fn the_python_connector_golden_cases_pass() {
    run_golden(example("python"), "examples/connector-python", 10);
}

#[test]
fn the_python_connector_conforms() {
    example_conforms("python");
}

#[test]
fn the_javascript_connector_golden_cases_pass() {
    run_golden(example("js"), "examples/connector-js", 10);
}

#[test]
fn the_javascript_connector_conforms() {
    example_conforms("js");
}
