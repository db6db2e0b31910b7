//! Command review in a real browser (`tests/web/command_review.spec.mjs`): a web terminal to a
//! real sshd target, a command-filter ACL with action `review` on `echo`, and a reviewer in a
//! second browser context approving one command and rejecting the next on the tickets page.
//! Afterwards the API shows both command tickets answered that way.

use crate::client::{ADMIN_PASSWORD, get, send, start, token};
use crate::scene::{add_admin_user, add_ssh_host, add_sshd_account, grant_self, review_acl};
use crate::sshd::Sshd;
use crate::support::{TestDb, id_of, ok, rows};
use crate::web_ui::{assert_screenshots, run_spec};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

#[test]
fn a_reviewed_command_is_approved_and_rejected_in_a_real_browser() {
    let db = TestDb::sqlite();
    let data = tempfile::tempdir().unwrap();
    let sshd = Sshd::start("");
    let server = start(&db, data.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let target = format!("cr-target-{tag}");
    let target_id = add_ssh_host(&server, &admin, &target, &sshd);
    add_sshd_account(&server, &admin, &target_id, sshd.user(), &sshd);
    grant_self(&server, &admin, "admin-review", &[&target_id]);
    let boss_password = "Reviewer-Pass-42";
    let boss = add_admin_user(&server, &admin, "Reviewer", "boss", boss_password);
    let group = id_of(&ok(
        &send(
            &server,
            &admin,
            "POST",
            "/api/v1/acls/command-groups/",
            &json!({"name": format!("echo-{tag}"), "content": "echo"}),
        ),
        201,
    ));
    review_acl(
        &server,
        &admin,
        "command-filter-acls",
        &format!("review-echo-{tag}"),
        &boss["id"],
        json!({"priority": 10, "users": {"type": "all"}, "assets": {"type": "all"},
               "command_groups": [group]}),
    );
    run_spec(
        "command_review.spec.mjs",
        &server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("PC_REVIEWER", "boss".into()),
            ("PC_REVIEWER_PASSWORD", boss_password.into()),
            ("PC_REVIEW_TARGET", target.clone()),
        ],
        Duration::from_secs(240),
    );
    assert_screenshots(&[
        "review-waiting.png",
        "review-ticket-approve.png",
        "review-ticket-reject.png",
        "review-rejected.png",
    ]);
    let tickets = rows(&get(
        &server,
        &admin,
        "/api/v1/tickets/tickets/?type=command_confirm&limit=10",
    ));
    let mut states: Vec<String> = tickets
        .iter()
        .map(|t| t["state"]["value"].as_str().unwrap_or_default().to_owned())
        .collect();
    states.sort();
    assert_eq!(states, ["approved", "rejected"], "{tickets:?}");
    let _ = server.stop();
}
