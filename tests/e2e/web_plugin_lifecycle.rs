//! A plugin's lifecycle on the console's plugin page in a real browser (`tests/web/
//! plugin_lifecycle.spec.mjs`): version 0.1.0 is installed, granted, configured, given a
//! secret and enabled; 0.2.0 of the same component is uploaded with the Upgrade button and
//! enabled (grant, configuration and secret carried over); its configuration is changed;
//! Roll back enables 0.1.0 again, with its own configuration and secret; Disable and Enable
//! toggle it; the Invocations tab lists the `describe` call of each enable. The first upload
//! is throttled so its progress is seen counting up to 100 % before the server's checks.
//! Every step is checked here through the API as well, and the secret's value is never in an
//! answer.

use crate::client::{ADMIN_PASSWORD, get, start, token};
use crate::support::{TestDb, rows};
use crate::web_audit::plugin_bundle_version;
use crate::web_ui::{assert_screenshots, remove_screenshots, run_spec};
use serde_json::Value;
use std::time::Duration;

/// The value bound to the plugin's `token` secret: it must never come back.
const SECRET: &str = "s3cr3t-plugin-token-7d41";
/// The endpoint 0.1.0 is configured with, and the one 0.2.0 is changed to.
const ENDPOINT_1: &str = "https://inventory-one.example.com";
const ENDPOINT_2: &str = "https://inventory-two.example.com";

#[test]
fn plugins_are_upgraded_and_rolled_back_with_secrets_and_config_in_a_real_browser() {
    let db = TestDb::sqlite();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = start(&db, data.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let v1 = plugin_bundle_version(work.path(), data.path(), "0.1.0");
    let v2 = plugin_bundle_version(work.path(), data.path(), "0.2.0");
    let shots = [
        "plugin-upload-progress.png",
        "plugin-lifecycle-1-secret.png",
        "plugin-lifecycle-2-upgraded.png",
        "plugin-lifecycle-3-versions.png",
        "plugin-lifecycle-4-rolled-back.png",
        "plugin-lifecycle-5-invocations.png",
    ];
    remove_screenshots(&shots);

    run_spec(
        "plugin_lifecycle.spec.mjs",
        &server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("PC_PLUGIN_BUNDLE_1", v1.display().to_string()),
            ("PC_PLUGIN_BUNDLE_2", v2.display().to_string()),
            ("PC_PLUGIN_SECRET", SECRET.into()),
            ("PC_ENDPOINT_1", ENDPOINT_1.into()),
            ("PC_ENDPOINT_2", ENDPOINT_2.into()),
        ],
        Duration::from_secs(300),
    );
    assert_screenshots(&shots);

    // Both versions are installed; the rollback left 0.1.0 enabled and 0.2.0 disabled.
    let list = get(
        &server,
        &admin,
        "/api/v1/plugins/plugins/?plugin_id=misbehave&limit=50",
    );
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(!list.body.contains(SECRET), "a list leaks the secret");
    let versions = rows(&list);
    let by_version = |v: &str| -> Value {
        versions
            .iter()
            .find(|r| r["version"] == v)
            .unwrap_or_else(|| panic!("version {v} in {versions:?}"))
            .clone()
    };
    assert_eq!(versions.len(), 2, "{versions:?}");
    let (one, two) = (by_version("0.1.0"), by_version("0.2.0"));
    assert_eq!(one["status"], "enabled", "{one}");
    assert_eq!(two["status"], "disabled", "{two}");
    assert!(one["date_enabled"].is_string() && two["date_enabled"].is_string());

    // Each version keeps its own configuration; the grant and the secret binding carried over.
    for (v, endpoint) in [(&one, ENDPOINT_1), (&two, ENDPOINT_2)] {
        let id = v["id"].as_str().unwrap();
        let d = get(&server, &admin, &format!("/api/v1/plugins/plugins/{id}/"));
        assert_eq!(d.status, 200, "{}", d.body);
        assert!(!d.body.contains(SECRET), "the detail leaks the secret");
        let d: Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(d["config"]["endpoint"], endpoint, "{d}");
        assert_eq!(d["secrets"]["bound"], serde_json::json!(["token"]), "{d}");
        assert_eq!(d["grants"]["secrets"], serde_json::json!(["token"]), "{d}");
        assert_eq!(d["grants"]["remote"], true, "{d}");
    }

    // One `describe` per enable: 0.1.0, 0.2.0, 0.1.0 again (the rollback), 0.1.0 once more
    // (enabled after being disabled).
    let inv = get(
        &server,
        &admin,
        "/api/v1/plugins/misbehave/invocations/?limit=50",
    );
    assert_eq!(inv.status, 200, "{}", inv.body);
    assert!(!inv.body.contains(SECRET), "an invocation leaks the secret");
    let calls = rows(&inv);
    let describes: Vec<&str> = calls
        .iter()
        .filter(|c| c["export"] == "describe")
        .filter_map(|c| c["version"].as_str())
        .collect();
    let mut sorted = describes.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["0.1.0", "0.1.0", "0.1.0", "0.2.0"], "{calls:?}");
    assert!(calls.iter().all(|c| c["outcome"] == "ok"), "{calls:?}");

    // The operation log recorded the upgrade (0.2.0 created), the rollback and the disable.
    let log = get(
        &server,
        &admin,
        "/api/v1/audits/operate-logs/?resource_type=Plugin&limit=100",
    );
    assert!(
        !log.body.contains(SECRET),
        "the operation log leaks the secret"
    );
    let entries = rows(&log);
    assert!(
        entries
            .iter()
            .any(|e| e["resource"] == "misbehave@0.2.0" && e["action"]["value"] == "create"),
        "{entries:?}"
    );
    let actions: Vec<String> = entries
        .iter()
        .filter(|e| e["resource"] == "misbehave@0.1.0" && e["action"]["value"] == "update")
        .map(|e| {
            let id = e["id"].as_str().unwrap();
            let entry = get(
                &server,
                &admin,
                &format!("/api/v1/audits/operate-logs/{id}/"),
            );
            assert_eq!(entry.status, 200, "{}", entry.body);
            assert!(
                !entry.body.contains(SECRET),
                "the operation log leaks the secret"
            );
            entry.body
        })
        .collect();
    for what in ["\"rollback\"", "\"disable\"", "\"enable\""] {
        assert!(
            actions.iter().any(|a| a.contains(what)),
            "{what} in {actions:?}"
        );
    }
}
