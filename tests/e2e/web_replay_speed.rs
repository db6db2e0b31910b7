//! Replay speed in a real browser (`tests/web/replay_speed.spec.mjs`): a web terminal session
//! to a real sshd target that prints a tick a second, replayed at 1× and 4× (the faster one
//! takes well under half the time) and sought by a search match.

use crate::client::{ADMIN_PASSWORD, get, send, start, token};
use crate::scene::grant;
use crate::sshd::Sshd;
use crate::support::{TestDb, id_of, ok};
use crate::web_ui::{artifacts_dir, run_spec};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

#[test]
fn the_replay_speed_changes_the_playback_rate_in_a_real_browser() {
    let db = TestDb::sqlite();
    let data = tempfile::tempdir().unwrap();
    let sshd = Sshd::start("");
    let server = start(&db, data.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let me = ok(&get(&server, &admin, "/api/v1/users/profile/"), 200);
    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let target = format!("rs-target-{tag}");
    let target_id = id_of(&ok(
        &send(
            &server,
            &admin,
            "POST",
            "/api/v1/assets/hosts/",
            &json!({"name": target, "address": "127.0.0.1", "platform": 1,
                    "protocols": [{"name": "ssh", "port": sshd.port()}],
                    "accounts": [{"name": sshd.user(), "username": sshd.user(),
                                  "secret_type": "password", "secret": sshd.password()}]}),
        ),
        201,
    ));
    grant(
        &server,
        &admin,
        "admin-replay",
        &[me["id"].as_str().unwrap()],
        &[&target_id],
        &["all"],
    );
    let shots = [
        "replay-speed-1x.png",
        "replay-speed-4x.png",
        "replay-speed-seek.png",
    ];
    for shot in shots {
        let _ = std::fs::remove_file(artifacts_dir().join(shot));
    }
    run_spec(
        "replay_speed.spec.mjs",
        &server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("PC_REPLAY_TARGET", target),
        ],
        Duration::from_secs(180),
    );
    for shot in shots {
        let size = std::fs::metadata(artifacts_dir().join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 1000, "no screenshot {shot}");
    }
    let _ = server.stop();
}
