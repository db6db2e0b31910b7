//! Web terminal copy/paste per the permission's actions and resizing in a real browser
//! (`tests/web/terminal_clipboard.spec.mjs`), on a real sshd target reached through two hosts:
//! one granted connect only, one granted connect, copy and paste; on the server's loopback
//! address and again under a plain-http name (an insecure context, no async clipboard).

use crate::client::{ADMIN_PASSWORD, send, start, token};
use crate::scene::grant;
use crate::sshd::Sshd;
use crate::support::{TestDb, id_of, ok};
use crate::web_ui::{assert_screenshots, remove_screenshots, run_spec};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

#[test]
fn terminal_copy_paste_follow_the_permission_and_resize_reaches_the_target_in_a_real_browser() {
    let db = TestDb::sqlite();
    let data = tempfile::tempdir().unwrap();
    let sshd = Sshd::start("");
    let server = start(&db, data.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let password = "Clip-user-Pass-42";
    let user = ok(
        &send(
            &server,
            &admin,
            "POST",
            "/api/v1/users/users/",
            &json!({"name": "Clip", "username": format!("clip{tag}"),
                    "email": format!("clip{tag}@example.com"), "password": password,
                    "need_update_password": false}),
        ),
        201,
    );
    let host = |name: &str| {
        id_of(&ok(
            &send(
                &server,
                &admin,
                "POST",
                "/api/v1/assets/hosts/",
                &json!({"name": name, "address": "127.0.0.1", "platform": 1,
                        "protocols": [{"name": "ssh", "port": sshd.port()}],
                        "accounts": [{"name": sshd.user(), "username": sshd.user(),
                                      "secret_type": "password", "secret": sshd.password()}]}),
            ),
            201,
        ))
    };
    let (ro, rw) = (format!("clip-ro-{tag}"), format!("clip-rw-{tag}"));
    let uid = id_of(&user);
    grant(
        &server,
        &admin,
        "clip-ro",
        &[&uid],
        &[&host(&ro)],
        &["connect"],
    );
    grant(
        &server,
        &admin,
        "clip-rw",
        &[&uid],
        &[&host(&rw)],
        &["connect", "copy", "paste"],
    );
    let shots = [
        "clip-paste-denied.png",
        "clip-copied.png",
        "clip-resized.png",
        "clip-insecure.png",
    ];
    remove_screenshots(&shots);
    run_spec(
        "terminal_clipboard.spec.mjs",
        &server,
        &[
            ("PC_CLIP_USER", format!("clip{tag}")),
            ("PC_CLIP_PASSWORD", password.into()),
            ("PC_CLIP_RO", ro),
            ("PC_CLIP_RW", rw),
        ],
        Duration::from_secs(180),
    );
    assert_screenshots(&shots);
    let _ = server.stop();
}
