//! Replay speed in a real browser (`tests/web/replay_speed.spec.mjs`): a web terminal session
//! to a real sshd target that prints a tick a second, replayed at 1× and 4× (the faster one
//! takes well under half the time) and sought by a search match.

use crate::client::{ADMIN_PASSWORD, start, token};
use crate::scene::{add_ssh_host, add_sshd_account, grant_self};
use crate::sshd::Sshd;
use crate::support::TestDb;
use crate::web_ui::{assert_screenshots, remove_screenshots, run_spec};
use std::time::Duration;
use uuid::Uuid;

#[test]
fn the_replay_speed_changes_the_playback_rate_in_a_real_browser() {
    let db = TestDb::sqlite();
    let data = tempfile::tempdir().unwrap();
    let sshd = Sshd::start("");
    let server = start(&db, data.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let target = format!("rs-target-{tag}");
    let target_id = add_ssh_host(&server, &admin, &target, &sshd);
    add_sshd_account(&server, &admin, &target_id, sshd.user(), &sshd);
    grant_self(&server, &admin, "admin-replay", &[&target_id]);
    let shots = [
        "replay-speed-1x.png",
        "replay-speed-4x.png",
        "replay-speed-seek.png",
    ];
    remove_screenshots(&shots);
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
    assert_screenshots(&shots);
    let _ = server.stop();
}
