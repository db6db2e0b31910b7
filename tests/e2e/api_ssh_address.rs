//! The SSH gateway's address in the public settings (`/api/v1/settings/public/`): from the
//! gateway's listen address, overridden by the `terminal` settings `TERMINAL_SSH_HOST` and
//! `TERMINAL_SSH_PORT` for deployments behind NAT.

use crate::client::*;
use crate::support::{TestDb, ok};
use serde_json::json;

const PUBLIC: &str = "/api/v1/settings/public/";
const TERMINAL: &str = "/api/v1/settings/setting/?category=terminal";

#[tokio::test]
async fn public_settings_announce_the_ssh_gateway_and_an_override_replaces_it() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let pw = create_user(dir.path(), &db, "op", "user");
    let user = token(&server, "op", &pw);

    // The listen address, as any signed-in user reads it.
    let s = ok(&get(&server, &user, PUBLIC), 200);
    assert_eq!(s["TERMINAL_KOKO_SSH_ENABLED"], true, "{s}");
    assert_eq!(s["TERMINAL_SSH_HOST"], "127.0.0.1", "{s}");
    assert_eq!(s["TERMINAL_SSH_PORT"], server.ssh_port, "{s}");
    assert_eq!(
        ok(&get(&server, &admin, TERMINAL), 200),
        json!({"TERMINAL_SSH_HOST": "", "TERMINAL_SSH_PORT": 0})
    );
    // The security category does not carry them.
    let sec = ok(
        &get(
            &server,
            &admin,
            "/api/v1/settings/setting/?category=security",
        ),
        200,
    );
    assert!(sec.get("TERMINAL_SSH_HOST").is_none(), "{sec}");

    // Bad values are refused, each naming its field, and nothing is written.
    let r = send(
        &server,
        &admin,
        "PATCH",
        TERMINAL,
        &json!({"TERMINAL_SSH_HOST": "bad host/x", "TERMINAL_SSH_PORT": 70000}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["TERMINAL_SSH_HOST"].is_array(), "{}", r.body);
    assert!(r.json()["TERMINAL_SSH_PORT"].is_array(), "{}", r.body);
    // Only an administrator changes them.
    let r = send(
        &server,
        &user,
        "PATCH",
        TERMINAL,
        &json!({"TERMINAL_SSH_PORT": 2022}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        ok(&get(&server, &user, PUBLIC), 200)["TERMINAL_SSH_PORT"],
        server.ssh_port
    );

    // Behind NAT: the override is what clients are told.
    let set = ok(
        &send(
            &server,
            &admin,
            "PATCH",
            TERMINAL,
            &json!({"TERMINAL_SSH_HOST": " bastion.example.com ", "TERMINAL_SSH_PORT": "2022"}),
        ),
        200,
    );
    assert_eq!(
        set,
        json!({"TERMINAL_SSH_HOST": "bastion.example.com", "TERMINAL_SSH_PORT": 2022})
    );
    let s = ok(&get(&server, &user, PUBLIC), 200);
    assert_eq!(s["TERMINAL_SSH_HOST"], "bastion.example.com");
    assert_eq!(s["TERMINAL_SSH_PORT"], 2022);

    // Cleared, the listen address applies again.
    ok(
        &send(
            &server,
            &admin,
            "PATCH",
            TERMINAL,
            &json!({"TERMINAL_SSH_HOST": "", "TERMINAL_SSH_PORT": 0}),
        ),
        200,
    );
    let s = ok(&get(&server, &user, PUBLIC), 200);
    assert_eq!(s["TERMINAL_SSH_HOST"], "127.0.0.1");
    assert_eq!(s["TERMINAL_SSH_PORT"], server.ssh_port);
}
