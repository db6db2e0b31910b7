//! Install-time checks: what is not a component of the declared world, with only the
//! world's imports, is refused; artifacts load only on the engine that made them.

use crate::support::*;
use portcullis_plugin::error::LoadError;
use portcullis_plugin::kind::Kind;

#[test]
fn the_report_lists_imports_exports_and_wasi_surfaces() {
    let report = runtime()
        .inspect(wasm(Variant::Automation), Kind::PlatformAutomation)
        .expect("inspect");
    assert_eq!(report.kind, Kind::PlatformAutomation);
    assert_eq!(report.api_version, "0.1.0");
    assert!(
        report
            .exports
            .iter()
            .any(|e| e == "portcullis:plugin/automation@0.1.0")
    );
    assert!(
        report
            .imports
            .iter()
            .any(|i| i.starts_with("portcullis:plugin/remote@"))
    );
    assert!(report.wasi.iter().all(|w| w.starts_with("wasi:")));
    assert!(!report.wasi.iter().any(|w| w == "wasi:http"));

    let report = runtime()
        .inspect(wasm(Variant::Connector), Kind::CloudConnector)
        .expect("inspect connector");
    assert!(report.wasi.iter().any(|w| w == "wasi:http"), "{report:?}");
}

#[test]
fn a_core_module_is_not_a_component() {
    let err = runtime()
        .inspect(b"\0asm\x01\0\0\0", Kind::PlatformAutomation)
        .expect_err("core module");
    assert!(
        matches!(&err, LoadError::NotAComponent(m) if m.contains("core WebAssembly module")),
        "{err:?}"
    );
    let err = runtime()
        .inspect(b"#!/bin/sh\necho hi\n", Kind::PlatformAutomation)
        .expect_err("not wasm");
    assert!(matches!(err, LoadError::NotAComponent(_)), "{err:?}");
}

#[test]
fn a_component_of_another_world_is_refused() {
    let err = runtime()
        .inspect(wasm(Variant::Autofill), Kind::PlatformAutomation)
        .expect_err("wrong world");
    assert!(
        matches!(&err, LoadError::WrongWorld { kind: Kind::PlatformAutomation, detail } if detail.contains("autofill-planner")),
        "{err:?}"
    );
    let err = runtime()
        .inspect(wasm(Variant::Automation), Kind::Autofill)
        .expect_err("wrong world");
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{err:?}");
}

#[test]
fn imports_outside_the_world_are_refused() {
    // An automation plugin that imports wasi:http.
    let err = runtime()
        .inspect(wasm(Variant::AutomationHttp), Kind::PlatformAutomation)
        .expect_err("forbidden imports");
    let LoadError::ForbiddenImports { kind, imports } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*kind, Kind::PlatformAutomation);
    assert!(
        imports.iter().all(|i| i.starts_with("wasi:http/")),
        "{imports:?}"
    );
    assert!(!imports.is_empty());
    // Loading it anyway is refused the same way.
    let artifact = runtime()
        .precompile(wasm(Variant::AutomationHttp))
        .expect("precompile");
    assert!(matches!(
        runtime().load(Kind::PlatformAutomation, &artifact),
        Err(LoadError::ForbiddenImports { .. })
    ));
}

#[test]
fn artifacts_from_another_engine_are_stale() {
    let rt = runtime();
    let mut artifact = artifact(rt, Variant::Automation);
    assert!(rt.load(Kind::PlatformAutomation, &artifact).is_ok());
    // A byte of the engine key in the header.
    artifact[10] ^= 0xff;
    let err = rt
        .load(Kind::PlatformAutomation, &artifact)
        .err()
        .expect("stale");
    assert!(
        matches!(&err, LoadError::StaleArtifact(m) if m.contains(&rt.compatibility_key())),
        "{err:?}"
    );
    // Raw wasmtime output or anything else without our header.
    assert!(matches!(
        rt.load(Kind::PlatformAutomation, b"\x7fELF not ours"),
        Err(LoadError::StaleArtifact(_))
    ));
    assert!(matches!(
        rt.load(Kind::PlatformAutomation, wasm(Variant::Automation)),
        Err(LoadError::StaleArtifact(_))
    ));
}

#[test]
fn the_compatibility_key_is_stable_and_hex() {
    let key = runtime().compatibility_key();
    assert_eq!(key.len(), 64);
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(key, runtime().compatibility_key());
}

#[test]
fn load_file_reports_io_errors_with_the_path() {
    let err = runtime()
        .load_file(
            Kind::PlatformAutomation,
            std::path::Path::new("/nonexistent/x.cwasm"),
        )
        .err()
        .expect("missing file");
    assert!(
        matches!(&err, LoadError::Io { path, .. } if path.contains("nonexistent")),
        "{err:?}"
    );
}
