//! The web UI's remaining gaps in a real browser (`tests/web/gaps.spec.mjs`): an asset created
//! with its accounts inline (a bad account creates nothing, a template row works), the asset
//! list exported to CSV and XLSX and imported back, an expired session sending any page to the
//! login with a message and back after it, and the web terminal to a real sshd target: the
//! end-of-session message when an administrator terminates it, and an asset-connect ACL with
//! action `review` (waiting for approval, then connected; a rejection shown in words). And an
//! expired password replaced from the login page (`tests/web/expiry.spec.mjs`).

use crate::client::{ADMIN_PASSWORD, create_user, get, login, send, start, token};
use crate::fixture::Fixture;
use crate::scene::{add_admin_user, add_user, grant_self, locked_user, review_acl};
use crate::sshd::Sshd;
use crate::support::{TestDb, id_of, ok, rows};
use crate::web_ui::{assert_screenshots, remove_screenshots, run_spec};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

#[test]
fn assets_with_accounts_import_export_expired_sessions_and_terminal_ends_in_a_real_browser() {
    let db = TestDb::sqlite();
    let data = tempfile::tempdir().unwrap();
    let sshd = Sshd::start("");
    let server = start(&db, data.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let host = |name: &str| {
        id_of(&ok(
            &send(
                &server,
                &admin,
                "POST",
                "/api/v1/assets/hosts/",
                &json!({"name": name, "address": "127.0.0.1", "platform": 1,
                        "comment": format!("round trip {tag}"),
                        "protocols": [{"name": "ssh", "port": sshd.port()}],
                        "accounts": [{"name": sshd.user(), "username": sshd.user(),
                                      "secret_type": "password", "secret": sshd.password()}]}),
            ),
            201,
        ))
    };
    let target = format!("gap-target-{tag}");
    let reviewed = format!("gap-review-{tag}");
    let (target_id, reviewed_id) = (host(&target), host(&reviewed));
    let me = grant_self(&server, &admin, "admin-gaps", &[&target_id, &reviewed_id]);
    review_acl(
        &server,
        &admin,
        "login-asset-acls",
        &format!("review-{tag}"),
        &me["id"],
        json!({"users": {"type": "ids", "ids": [me["id"]]},
               "assets": {"type": "ids", "ids": [reviewed_id]}}),
    );
    let template = format!("gap-tpl-{tag}");
    ok(
        &send(
            &server,
            &admin,
            "POST",
            "/api/v1/accounts/account-templates/",
            &json!({"name": template, "username": format!("svc{tag}"), "secret": "Tpl-s3cret"}),
        ),
        201,
    );
    // Two more hosts for the export/import round trip.
    for i in 1..=2 {
        ok(
            &send(
                &server,
                &admin,
                "POST",
                "/api/v1/assets/hosts/",
                &json!({"name": format!("rt-{tag}-{i}"), "address": format!("10.77.0.{i}"),
                        "platform": 1, "comment": format!("round trip {tag}"),
                        "protocols": [{"name": "ssh", "port": 22}]}),
            ),
            201,
        );
    }

    run_spec(
        "gaps.spec.mjs",
        &server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("PC_GAP_TAG", tag.to_owned()),
            ("PC_GAP_TARGET", target.clone()),
            ("PC_GAP_REVIEWED", reviewed.clone()),
            ("PC_GAP_TEMPLATE", template.clone()),
        ],
        Duration::from_secs(300),
    );

    // What the browser made, as the API sees it: the form's asset with its two accounts (one
    // typed, one from the template), no trace of the refused one, the imported hosts back.
    let made = rows(&get(
        &server,
        &admin,
        &format!("/api/v1/assets/assets/?name=form-{tag}"),
    ));
    assert_eq!(made.len(), 1, "{made:?}");
    let accounts = rows(&get(
        &server,
        &admin,
        &format!(
            "/api/v1/accounts/accounts/?asset={}&order=username",
            id_of(&made[0])
        ),
    ));
    let names: Vec<&str> = accounts
        .iter()
        .map(|a| a["username"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        ["root", format!("svc{tag}").as_str()],
        "{accounts:?}"
    );
    let refused = rows(&get(
        &server,
        &admin,
        &format!("/api/v1/assets/assets/?name=bad-{tag}"),
    ));
    assert!(refused.is_empty(), "{refused:?}");
    let back = rows(&get(
        &server,
        &admin,
        &format!("/api/v1/assets/assets/?search=rt-{tag}&order=name"),
    ));
    let back: Vec<(&str, &str)> = back
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap_or_default(),
                a["address"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        back,
        [
            (format!("rt-{tag}-1").as_str(), "10.77.0.1"),
            (format!("rt-{tag}-2").as_str(), "10.77.0.2")
        ]
    );
    // The terminated web session ended with the administrator's reason.
    let sessions = rows(&get(
        &server,
        &admin,
        "/api/v1/terminal/sessions/?limit=50&is_finished=1",
    ));
    assert!(
        sessions.iter().any(
            |s| s["asset"].as_str().unwrap_or_default().contains(&target)
                && s["end_reason"] == "admin_terminate"
        ),
        "{sessions:?}"
    );
}

/// An expired password in a real browser (`tests/web/expiry.spec.mjs`): the login page turns
/// the API's 400 `passwd_has_expired` into a new-password step, sets the new password through
/// `authentication/password/expired/` and signs the user in with it. Afterwards, through the
/// API: the new password logs in, the old one does not, the change is in the password-change
/// log; the second user, who left the step, still has an expired password. A locked user's
/// login shows the lockout in words; a user who must change the password does so first.
#[tokio::test]
async fn an_expired_password_is_replaced_from_the_login_page_in_a_real_browser() {
    let db = TestDb::sqlite();
    let data = tempfile::tempdir().unwrap();
    let server = start(&db, data.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    ok(
        &send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/settings/setting/?category=security_password",
            &json!({"SECURITY_PASSWORD_EXPIRATION_TIME": 30}),
        ),
        200,
    );
    let tag = &Uuid::new_v4().simple().to_string()[..6];
    let (name, name2) = (format!("aging{tag}"), format!("aging2{tag}"));
    let pw = create_user(data.path(), &db, &name, "user");
    let pw2 = create_user(data.path(), &db, &name2, "user");
    let mut f = Fixture::new(&db.url).await;
    for who in [&name, &name2] {
        sqlx::query("UPDATE users SET date_password_last_updated = $1 WHERE username = $2")
            .bind(crate::fixture::now() - 31 * 86_400_000_000)
            .bind(who.as_str())
            .execute(&mut f.conn)
            .await
            .unwrap();
    }
    assert_eq!(
        login(&server, &name, &pw).json()["code"],
        "passwd_has_expired"
    );
    let fresh = format!("Renewed-{tag}-Pw9");
    // Must change the password at the next sign-in.
    let forced = format!("forced{tag}");
    let forced_pw = "Forced-first-Pw1";
    add_user(
        &server,
        &admin,
        "Forced",
        &forced,
        forced_pw,
        json!({"need_update_password": true}),
    );
    // Locked by failed logins before the browser comes.
    let locked = format!("locked{tag}");
    let locked_pw = locked_user(&server, data.path(), &db, &locked);

    run_spec(
        "expiry.spec.mjs",
        &server,
        &[
            ("PC_EXPIRED_USER", name.clone()),
            ("PC_EXPIRED_PASSWORD", pw.clone()),
            ("PC_EXPIRED_NEW_PASSWORD", fresh.clone()),
            ("PC_EXPIRED_USER2", name2.clone()),
            ("PC_EXPIRED_PASSWORD2", pw2.clone()),
            ("PC_LOCKED_USER", locked.clone()),
            ("PC_FORCED_USER", forced.clone()),
            ("PC_FORCED_PASSWORD", forced_pw.into()),
            ("PC_LOCKED_PASSWORD", locked_pw.clone()),
        ],
        Duration::from_secs(180),
    );

    assert_eq!(login(&server, &name, &fresh).status, 201);
    let old = login(&server, &name, &pw);
    assert_eq!(old.status, 400, "{}", old.body);
    assert_eq!(old.json()["error"], "password_failed", "{}", old.body);
    let changes = get(&server, &admin, "/api/v1/audits/password-change-logs/");
    assert!(
        rows(&changes)
            .iter()
            .any(|c| c["user"].as_str().is_some_and(|u| u.contains(&name))),
        "{}",
        changes.body
    );
    // The forced user's new password is the one that works now.
    assert_eq!(login(&server, &forced, &fresh).status, 201);
    assert_eq!(login(&server, &forced, forced_pw).status, 400);
    let left = login(&server, &name2, &pw2);
    assert_eq!(left.json()["code"], "passwd_has_expired", "{}", left.body);
}

/// Viewing an account's secret in a real browser (`tests/web/secrets.spec.mjs`): the MFA
/// step-up with a bound authenticator (wrong code refused, right code shows the secret), and
/// an administrator without one told to set it up in the profile.
#[test]
fn viewing_a_secret_asks_for_mfa_again_in_a_real_browser() {
    let db = TestDb::sqlite();
    let data = tempfile::tempdir().unwrap();
    let server = start(&db, data.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let account = format!("svc{tag}");
    let secret = format!("Shown-{tag}-Pw1");
    ok(
        &send(
            &server,
            &admin,
            "POST",
            "/api/v1/assets/hosts/",
            &json!({"name": format!("secret-host-{tag}"), "address": "10.78.1.1", "platform": 1,
                    "protocols": [{"name": "ssh", "port": 22}],
                    "accounts": [{"name": account, "username": account,
                                  "secret_type": "password", "secret": secret}]}),
        ),
        201,
    );
    let mfa_password = "Mfa-admin-Pass-42";
    // A system administrator (and admin of the Default org, whose accounts the list shows)
    // with an authenticator bound.
    add_admin_user(&server, &admin, "MFA Admin", "mfa.admin", mfa_password);
    let (otp, step) = crate::web_ui::bind_totp(&server, &token(&server, "mfa.admin", mfa_password));

    run_spec(
        "secrets.spec.mjs",
        &server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("PC_MFA_ADMIN", "mfa.admin".into()),
            ("PC_MFA_ADMIN_PASSWORD", mfa_password.into()),
            ("PC_MFA_SECRET", otp),
            ("PC_MFA_LAST_STEP", step.to_string()),
            ("PC_SECRET_ACCOUNT", account.clone()),
            ("PC_SECRET_VALUE", secret),
        ],
        Duration::from_secs(180),
    );
}

/// An import with bad rows in a real browser (`tests/web/import_report.spec.mjs`): the per-row
/// error report, nothing saved; then the fixed file imports exactly its one user. A file of
/// [`BULK_ROWS`] rows shows its upload progress and processing, then its one bad row's error
/// (nothing saved); fixed and cut to its first [`BULK_KEPT`] rows, those are imported.
#[test]
fn an_import_with_bad_rows_shows_the_per_row_report_in_a_real_browser() {
    let db = TestDb::sqlite();
    let data = tempfile::tempdir().unwrap();
    let server = start(&db, data.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let bulk = &Uuid::new_v4().simple().to_string()[..8];
    let shots = [
        "import-report.png",
        "import-progress.png",
        "import-large-report.png",
        "import-large-done.png",
    ];
    remove_screenshots(&shots);
    run_spec(
        "import_report.spec.mjs",
        &server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("PC_IMPORT_TAG", tag.to_owned()),
            ("PC_BULK_TAG", bulk.to_owned()),
            ("PC_BULK_ROWS", BULK_ROWS.to_string()),
            ("PC_BULK_KEPT", BULK_KEPT.to_string()),
        ],
        Duration::from_secs(300),
    );
    assert_screenshots(&shots);
    let usernames = |search: &str| -> Vec<String> {
        let users = get(
            &server,
            &admin,
            &format!("/api/v1/users/users/?search={search}"),
        );
        assert_eq!(users.status, 200, "{}", users.body);
        users
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(usernames(tag), [format!("good{tag}")]);
    // The refused large file saved nothing (its bad row's user is nowhere); the fixed file, cut
    // to its first rows, saved each of them.
    let mut imported = usernames(bulk);
    imported.sort_unstable();
    let mut expected: Vec<String> = (0..BULK_KEPT).map(|i| format!("bulk{i}x{bulk}")).collect();
    expected.sort_unstable();
    assert_eq!(imported, expected);
}

/// Rows of the large import: a file of a few hundred KiB, checked by the server in one go.
const BULK_ROWS: usize = 3000;
/// Rows of it imported once fixed: each new user costs a password hash, about a second on a
/// debug build.
const BULK_KEPT: usize = 20;
