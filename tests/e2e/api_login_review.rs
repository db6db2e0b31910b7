//! Login reviews over HTTP (§2.2): a login ACL with `review` answers `login_confirm_wait` with
//! a ticket; the ticket is polled at `login-confirm-ticket/status/`; the reviewer's approval
//! lets the next login through, a withdrawal or a rejection does not; a pending ticket is
//! reused, not duplicated, by a second attempt.

use crate::client::*;
use crate::support::{Server, TestDb, http};
use serde_json::{Value, json};

const PASSWORD: &str = "Rev1ew-me-pass!";

fn status(server: &Server, ticket: &str) -> Value {
    let r = http(
        &server.base,
        "GET",
        &format!("/api/v1/authentication/login-confirm-ticket/status/?ticket_id={ticket}"),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn wait_ticket(server: &Server) -> String {
    let r = login(server, "carol", PASSWORD);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["error"], "login_confirm_wait", "{v}");
    assert!(v.get("token").is_none(), "{v}");
    v["data"]["ticket_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_reviewed_login_waits_for_its_reviewer() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/users/users/",
            &json!({"name": "Carol", "username": "carol", "email": "carol@example.com",
                    "password": PASSWORD, "need_update_password": false}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let admin_id = get(&server, &admin, "/api/v1/users/users/admin/").json()["id"].clone();
        let all_week: Vec<Value> = (0..7).map(|d| json!({"id": d, "value": ""})).collect();
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/acls/login-acls/",
            &json!({"name": "review carol", "priority": 10, "action": "review",
                    "users": {"type": "attrs", "attrs": [{"name": "username", "match": "exact", "value": "carol"}]},
                    "rules": {"ip_group": ["*"], "time_period": all_week},
                    "reviewers": [admin_id]}),
        );
        assert_eq!(r.status, 201, "{}", r.body);

        // Waiting; a second attempt waits on the same ticket.
        let ticket = wait_ticket(&server);
        assert_eq!(wait_ticket(&server), ticket);
        assert_eq!(status(&server, &ticket)["error"], "login_confirm_wait");

        // Withdrawn: the poll says so, and the next login opens a new ticket.
        let r = http(
            &server.base,
            "DELETE",
            &format!("/api/v1/authentication/login-confirm-ticket/status/?ticket_id={ticket}"),
            &[],
            None,
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(status(&server, &ticket)["error"], "login_confirm_error");
        let second = wait_ticket(&server);
        assert_ne!(second, ticket);

        // Rejected: still no token.
        let r = send(
            &server,
            &admin,
            "PUT",
            &format!("/api/v1/tickets/tickets/{second}/reject/"),
            &json!({}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(status(&server, &second)["error"], "login_confirm_error");
        let third = wait_ticket(&server);
        assert_ne!(third, second);

        // Approved: the poll says ok and the login completes.
        let r = send(
            &server,
            &admin,
            "PUT",
            &format!("/api/v1/tickets/tickets/{third}/approve/"),
            &json!({}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(status(&server, &third), json!({"msg": "ok"}));
        let r = login(&server, "carol", PASSWORD);
        assert_eq!(r.status, 201, "{}", r.body);
        assert!(r.json()["token"].as_str().is_some_and(|t| !t.is_empty()));

        // A wrong password is still a wrong password, review or not.
        let r = login(&server, "carol", "not-the-password");
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.json()["error"], "password_failed");

        // Unknown or malformed ticket ids are refused.
        let r = http(
            &server.base,
            "GET",
            "/api/v1/authentication/login-confirm-ticket/status/?ticket_id=nope",
            &[],
            None,
        )
        .unwrap();
        assert_eq!(r.status, 400, "{}", r.body);
        drop(server);
        db.drop_db().await;
    }
}
