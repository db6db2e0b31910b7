//! Account automations from the console in a real browser (`tests/web/automation.spec.mjs`):
//! "Test connectivity", "Verify" and "Change secret" on accounts of a real sshd target (the Linux plugin
//! enabled, as in `automation`), the dialog following the run to its end and showing each
//! account's result, a refused secret in words. Afterwards, through the API: the executions
//! the browser started are recorded with those outcomes, and the changed secret (now only in
//! the vault) still verifies.

use crate::automation::Scene;
use crate::client::{ADMIN_PASSWORD, get};
use crate::support::{TestDb, rows};
use crate::web_ui::run_spec;
use serde_json::json;
use std::time::Duration;

#[test]
fn test_connectivity_and_verify_run_from_the_accounts_list_in_a_real_browser() {
    let db = TestDb::sqlite();
    let scene = Scene::new(&db);
    let bad = "pcwrong";
    let bad_id = scene.account(json!({
        "name": bad, "username": bad, "secret_type": "password", "secret": "not-the-password"}));

    run_spec(
        "automation.spec.mjs",
        &scene.server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("PC_AUTO_GOOD", "target".into()),
            ("PC_AUTO_GOOD_USER", scene.sshd.user().to_owned()),
            ("PC_AUTO_BAD", bad.into()),
        ],
        Duration::from_secs(240),
    );

    let executions = |account: &str| {
        let r = get(
            &scene.server,
            &scene.admin,
            &format!("/api/v1/assets/automation-executions/?account={account}&limit=50"),
        );
        rows(&r)
            .iter()
            .map(|e| {
                (
                    e["method"].as_str().unwrap_or_default().to_owned(),
                    e["status"].as_str().unwrap_or_default().to_owned(),
                    e["error"]["code"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    let mut good = executions(&scene.user);
    good.sort();
    assert_eq!(
        good,
        [
            ("change_secret".into(), "success".into(), String::new()),
            ("ping".into(), "success".into(), String::new()),
            ("verify_account".into(), "success".into(), String::new()),
        ]
    );
    let again = crate::support::ok(
        &crate::client::send(
            &scene.server,
            &scene.admin,
            "POST",
            "/api/v1/accounts/accounts/tasks/",
            &json!({"action": "verify", "accounts": [scene.user]}),
        ),
        201,
    );
    assert_eq!(again["executions"][0]["status"], "success", "{again}");
    assert_eq!(
        executions(&bad_id),
        [(
            "verify_account".into(),
            "failed".into(),
            "unauthorized".into()
        )]
    );
}
