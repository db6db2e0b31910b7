//! Account automations from the console in a real browser (`tests/web/automation.spec.mjs`):
//! "Test connectivity", "Verify" and "Change secret" (random, then a specified password) on
//! accounts of a real sshd target (the Linux plugin enabled, as in `automation`), the dialog
//! following the run to its end and showing each account's result, a refused secret in words;
//! a Verify run of three accounts stopped after the first, and one closed during its first.
//! Afterwards, through the API, the vault and the target: the executions the browser started
//! are recorded with those outcomes (one per stopped run), the account's secret is the
//! specified password, the target takes it and no longer the original one, and it verifies.

use crate::automation::{Scene, ssh_as, stored_secret};
use crate::client::{ADMIN_PASSWORD, get};
use crate::support::{TestDb, rows};
use crate::web_ui::{assert_screenshots, remove_screenshots, run_spec};
use serde_json::json;
use std::time::Duration;

#[test]
fn test_connectivity_and_verify_run_from_the_accounts_list_in_a_real_browser() {
    let db = TestDb::sqlite();
    let scene = Scene::new(&db);
    let bad = "pcwrong";
    let bad_id = scene.account(json!({
        "name": bad, "username": bad, "secret_type": "password", "secret": "not-the-password"}));
    // Three accounts for the stopped runs (wrong secrets: each verify that runs fails, quickly).
    let stop_names = ["pcstop1", "pcstop2", "pcstop3"];
    let stop_ids: Vec<String> = stop_names
        .iter()
        .map(|n| {
            scene.account(json!({
                "name": n, "username": n, "secret_type": "password", "secret": "not-the-password"}))
        })
        .collect();
    let new_password = "Spec1fied-Pw.42";
    // An SSH-key account of the same user, to get a specified private key.
    let keys = tempfile::tempdir().unwrap();
    crate::sshd::keygen(&keys.path().join("first"), "ed25519", &[]);
    crate::sshd::keygen(&keys.path().join("new"), "ed25519", &[]);
    let read = |name: &str| std::fs::read_to_string(keys.path().join(name)).unwrap();
    let key_id = scene.account(json!({
        "name": "targetkey", "username": scene.sshd.user(), "secret_type": "ssh_key",
        "secret": read("first")}));
    let new_key = read("new");

    let shots = [
        "automation-test-connectivity.png",
        "automation-verify.png",
        "automation-change-secret-choice.png",
        "automation-change-secret.png",
        "automation-secret-mismatch.png",
        "automation-change-secret-specified.png",
        "automation-secret-key.png",
        "automation-stopping.png",
        "automation-stopped.png",
    ];
    remove_screenshots(&shots);
    run_spec(
        "automation.spec.mjs",
        &scene.server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("PC_AUTO_GOOD", "target".into()),
            ("PC_AUTO_GOOD_USER", scene.sshd.user().to_owned()),
            ("PC_AUTO_BAD", bad.into()),
            ("PC_AUTO_NEW_PASSWORD", new_password.into()),
            ("PC_AUTO_STOP", stop_names.join(",")),
            ("PC_AUTO_KEY_ACCOUNT", "targetkey".into()),
            ("PC_AUTO_NEW_KEY", new_key.clone()),
        ],
        Duration::from_secs(240),
    );
    assert_screenshots(&shots);

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
            ("change_secret".into(), "success".into(), String::new()),
            ("ping".into(), "success".into(), String::new()),
            ("verify_account".into(), "success".into(), String::new()),
        ]
    );
    // The specified password is the stored secret, and the target takes it (and no longer the
    // original one).
    let (stored, _) = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(stored_secret(&db, scene.data.path(), &scene.user));
    assert_eq!(stored, new_password);
    let user = scene.sshd.user().to_owned();
    let login = ssh_as(scene.sshd.port(), &user, new_password, "id -un", false);
    assert!(
        login.status.success() && String::from_utf8_lossy(&login.stdout).trim() == user,
        "{login:?}"
    );
    // The specified private key is stored and its public half authorized on the target.
    let (stored_key, _) = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(stored_secret(&db, scene.data.path(), &key_id));
    assert_eq!(stored_key.trim(), new_key.trim());
    let public = read("new.pub");
    let blob = public.split_whitespace().nth(1).unwrap();
    let authorized =
        std::fs::read_to_string(scene.sshd.home().join(".ssh/authorized_keys")).unwrap();
    assert!(authorized.contains(blob), "{authorized}");
    let old = ssh_as(
        scene.sshd.port(),
        &user,
        scene.sshd.password(),
        "true",
        false,
    );
    assert!(!old.status.success(), "the original password still logs in");
    // Two stopped runs over the three accounts: each started its first account only, so two
    // executions in all, both refused (wrong secrets), none for an account not started.
    let stopped: Vec<_> = stop_ids.iter().flat_map(|id| executions(id)).collect();
    assert_eq!(
        stopped,
        [
            (
                "verify_account".into(),
                "failed".into(),
                "unauthorized".into()
            ),
            (
                "verify_account".into(),
                "failed".into(),
                "unauthorized".into()
            )
        ],
        "{:?}",
        stop_ids.iter().map(|id| executions(id)).collect::<Vec<_>>()
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
