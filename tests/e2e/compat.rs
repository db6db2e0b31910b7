//! A real JumpServer-style client against Portcullis: `examples/jumpserver_script.py`, written
//! the way JumpServer's API guide writes scripts (`requests` + `httpsig` HTTP signatures), runs
//! its whole daily loop against a fresh server and must find nothing incompatible.
//!
//! The script runs with the Python of the venv `tests/run.sh` prepares
//! (`PORTCULLIS_TEST_PYTHON`, holding `examples/requirements.txt`).

use crate::client::{ADMIN_PASSWORD, start};
use crate::support::TestDb;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn python() -> String {
    std::env::var("PORTCULLIS_TEST_PYTHON").expect(
        "PORTCULLIS_TEST_PYTHON is not set: run the suite with tests/run.sh, which makes the venv \
         target/pyenv with examples/requirements.txt",
    )
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("examples")
        .join("jumpserver_script.py")
}

#[tokio::test]
async fn a_jumpserver_script_runs_its_daily_loop_unchanged() {
    let python = python();
    let script = script();
    assert!(script.exists(), "{} is missing", script.display());
    // Both backends run before the verdict, so one failing run shows every difference.
    let mut failures = Vec::new();
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let out = Command::new(&python)
            .arg(&script)
            .env("JMS_URL", &server.base)
            .env("JMS_USERNAME", "admin")
            .env("JMS_PASSWORD", ADMIN_PASSWORD)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run the JumpServer script");
        if !out.status.success() {
            failures.push(format!(
                "=== {} ({}) ===\n{}{}\n--- server stderr ---\n{}",
                db.backend,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                server.stderr()
            ));
        }
        drop(server);
        db.drop_db().await;
    }
    assert!(
        failures.is_empty(),
        "the JumpServer script found Portcullis incompatible:\n{}",
        failures.join("\n")
    );
}
