//! The workbench in a real browser (`tests/web/workbench.spec.mjs`): the administrator's
//! permitted asset (a real sshd target) in My assets, the web terminal running a command and
//! resuming after a dropped socket, split panes (four at most) and tabs, and the file
//! manager's upload, download, mkdir, rename and delete, with an upload over the size limit
//! refused in the page.
//! Afterwards the server's records must show what the browser did: a web terminal session and
//! the file transfers in the FTP log, and nothing left in the target's `/tmp` (the Linux
//! platform's SFTP root).

use crate::client::{ADMIN_PASSWORD, get, send, start, token};
use crate::scene::{add_sshd_account, grant};
use crate::sshd::Sshd;
use crate::support::{TestDb, id_of, ok, rows};
use crate::web_ui::run_spec;
use portcullis_store::Store;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

/// The upload limit the test sets, so that a file just over it is small to make.
const MAX_UPLOAD: u64 = 2 * 1024 * 1024;

#[test]
fn the_workbench_connects_a_web_terminal_and_moves_files_in_a_real_browser() {
    let db = TestDb::sqlite();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let sshd = Sshd::start("");
    let server = start(&db, data.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let me = ok(&get(&server, &admin, "/api/v1/users/profile/"), 200);
    let asset = id_of(&ok(
        &send(
            &server,
            &admin,
            "POST",
            "/api/v1/assets/hosts/",
            &json!({"name": "wb-target", "address": "127.0.0.1", "platform": 1,
                    "protocols": [{"name": "ssh", "port": sshd.port()},
                                  {"name": "sftp", "port": sshd.port()}]}),
        ),
        201,
    ));
    add_sshd_account(&server, &admin, &asset, sshd.user(), &sshd);
    grant(
        &server,
        &admin,
        "admin-wb",
        &[me["id"].as_str().unwrap()],
        &[&asset],
        &["all"],
    );
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = Store::connect(&db.url).await.unwrap();
        store
            .set_setting(
                "FILE_MANAGER_MAX_UPLOAD_BYTES",
                "terminal",
                &json!(MAX_UPLOAD),
            )
            .await
            .unwrap();
    });

    let tag = Uuid::new_v4().simple().to_string();
    let upload = work.path().join(format!("wb-{tag}.txt"));
    let body: String = (0..20_000)
        .map(|i| format!("line {i} of {tag}\n"))
        .collect();
    std::fs::write(&upload, &body).unwrap();
    let too_big = work.path().join(format!("big-{tag}.bin"));
    std::fs::write(&too_big, vec![7u8; MAX_UPLOAD as usize + 1]).unwrap();

    run_spec(
        "workbench.spec.mjs",
        &server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("PC_WB_ASSET", "wb-target".into()),
            ("PC_WB_ACCOUNT", sshd.user().into()),
            ("PC_WB_TAG", tag.clone()),
            ("PC_WB_UPLOAD", upload.display().to_string()),
            ("PC_WB_TOO_BIG", too_big.display().to_string()),
        ],
        Duration::from_secs(300),
    );

    // The browser's terminal was a recorded web session on the target.
    let sessions = rows(&get(&server, &admin, "/api/v1/terminal/sessions/?limit=50"));
    assert!(
        sessions.iter().any(|s| s["asset"]
            .as_str()
            .unwrap_or_default()
            .contains("wb-target")
            && s["login_from"]["value"] == "WT"),
        "a web terminal session to wb-target: {sessions:?}"
    );
    // The transfers are in the FTP log, and the spec left nothing behind on the target.
    let ftp = rows(&get(&server, &admin, "/api/v1/audits/ftp-logs/?limit=100"));
    for operate in ["upload", "download", "rename", "delete", "mkdir"] {
        assert!(
            ftp.iter().any(|l| l["operate"]["value"]
                .as_str()
                .or(l["operate"].as_str())
                .is_some_and(|o| o.eq_ignore_ascii_case(operate))
                && l["filename"].as_str().unwrap_or_default().contains(&tag)
                && l["is_success"] == true),
            "a successful {operate} of the spec's files in the FTP log: {ftp:?}"
        );
    }
    assert!(
        !ftp.iter().any(|l| l["filename"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("big-{tag}"))),
        "the file over the limit never reached the server: {ftp:?}"
    );
    let leftovers: Vec<_> = std::fs::read_dir("/tmp")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains(&tag))
        .collect();
    for p in &leftovers {
        let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
    }
    assert!(
        leftovers.is_empty(),
        "the spec deleted what it made: {leftovers:?}"
    );
}
