//! The console's administration pages in a real browser (`tests/web/console_admin.spec.mjs`):
//! users (search and filter, bulk deactivate and delete, create, edit into a group, clone, the
//! quick actions), user groups, platforms (a copy of Linux made, edited, refused in words,
//! deleted), zones and gateways, account templates, the four kinds of ACL with a bad IP shown
//! under its field, and labels put on an asset and filtered by. The spec checks each step
//! through the UI and the API and writes a screenshot of each page (admin-*.png); afterwards the API must show what the quick actions did: the
//! locked user signs in again, the user whose MFA was reset signs in without a code, with the
//! password the browser set.

use crate::client::{ADMIN_PASSWORD, create_user, login, send, start, token};
use crate::scene::{add_user, locked_user};
use crate::support::{TestDb, ok};
use crate::web_ui::{bind_totp, run_spec};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

#[test]
fn the_console_administers_users_groups_platforms_zones_acls_and_labels_in_a_real_browser() {
    let db = TestDb::sqlite();
    let data = tempfile::tempdir().unwrap();
    let server = start(&db, data.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let tag = &Uuid::new_v4().simple().to_string()[..6];

    // Four users for the search, the filter and the bulk actions; `x` is inactive.
    for (suffix, active) in [("a", true), ("b", true), ("c", true), ("x", false)] {
        add_user(
            &server,
            &admin,
            &format!("User {suffix} {tag}"),
            &format!("u{tag}{suffix}"),
            "Seeded-Pw-42x",
            json!({"is_active": active}),
        );
    }
    // Locked by failed logins.
    let locked = format!("locked{tag}");
    let locked_pw = locked_user(&server, data.path(), &db, &locked);
    // With an authenticator bound: signing in asks for a code.
    let mfa_user = format!("mfa{tag}");
    let mfa_pw = create_user(data.path(), &db, &mfa_user, "user");
    bind_totp(&server, &token(&server, &mfa_user, &mfa_pw));
    assert_eq!(
        login(&server, &mfa_user, &mfa_pw).json()["error"],
        "mfa_required"
    );
    let new_password = format!("Set-by-admin-{tag}-9");
    // The asset the label goes on.
    let asset = format!("lbl-host-{tag}");
    ok(
        &send(
            &server,
            &admin,
            "POST",
            "/api/v1/assets/hosts/",
            &json!({"name": asset, "address": "10.67.0.1", "platform": 1,
                    "protocols": [{"name": "ssh", "port": 22}]}),
        ),
        201,
    );

    run_spec(
        "console_admin.spec.mjs",
        &server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("PC_ADM_TAG", tag.to_owned()),
            ("PC_ADM_LOCKED", locked.clone()),
            ("PC_ADM_MFA_USER", mfa_user.clone()),
            ("PC_ADM_NEW_PASSWORD", new_password.clone()),
            ("PC_ADM_ASSET", asset.clone()),
        ],
        Duration::from_secs(420),
    );
    // Unlocked: the right password works again.
    let unlocked = login(&server, &locked, &locked_pw);
    assert_eq!(unlocked.status, 201, "{}", unlocked.body);
    // MFA reset and the password set in the browser: signed in with it, no code asked.
    let reset = login(&server, &mfa_user, &new_password);
    assert_eq!(reset.status, 201, "{}", reset.body);
    assert_eq!(login(&server, &mfa_user, &mfa_pw).status, 400);
}
