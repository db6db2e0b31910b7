//! The audit area, the dashboard and the plugins page in a real browser (`tests/web/
//! audit.spec.mjs`): a user's interactive SSH session through the gateway (the real OpenSSH
//! client driven by `expect`, to a real sshd target) is watched live by an auditor, locked,
//! terminated from a second browser context and replayed; a plugin bundle is installed,
//! granted, configured and enabled through the console.

use crate::client::{ADMIN_PASSWORD, create_user, start, token};
use crate::scene::{add_ssh_host, add_sshd_account, grant};
use crate::sshd::Sshd;
use crate::support::{TestDb, portcullis, run, text};
use crate::web_ui::run_spec;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What the user's session prints once a second, for the auditor to see live.
const MARK: &str = "live-tick-";

/// Builds the test guest (a platform-automation component, cached in target/wasm) and packs
/// it with a manifest that requests capabilities and has a configuration schema.
fn plugin_bundle(work: &Path, data: &Path) -> PathBuf {
    plugin_bundle_version(work, data, "0.1.0")
}

/// The same component packed as `version` of the `misbehave` plugin (into
/// `work/misbehave-<version>.tgz`), so one test can install an upgrade of it. `version` is
/// `x.y.z` with one digit each: the component's `describe` answer is patched to match.
pub(crate) fn plugin_bundle_version(work: &Path, data: &Path, version: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target/wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args([
            "build",
            "--quiet",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "plugin",
        ])
        .args([
            "-p",
            "test-plugin-misbehave",
            "--no-default-features",
            "--features",
            "automation",
        ])
        .status()
        .expect("cargo for the guest");
    assert!(status.success(), "building the test guest failed");
    let mut wasm =
        std::fs::read(target.join("wasm32-wasip2/plugin/test_plugin_misbehave.wasm")).unwrap();
    // The guest's `describe` answers "misbehave" "0.1.0" (adjacent in its data segment) and
    // enabling checks that against the manifest: another version of the same length is
    // patched in, which keeps the component valid (as tests/e2e/api_plugins.rs does).
    let (from, to) = (b"misbehave0.1.0".as_slice(), format!("misbehave{version}"));
    assert_eq!(
        from.len(),
        to.len(),
        "only x.y.z versions of one digit each"
    );
    let at = wasm
        .windows(from.len())
        .position(|w| w == from)
        .expect("the guest's describe strings");
    wasm[at..at + from.len()].copy_from_slice(to.as_bytes());
    let digest: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&wasm)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let dir = work.join(format!("misbehave-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plugin.wasm"), &wasm).unwrap();
    std::fs::write(
        dir.join("plugin.toml"),
        format!(
            r#"schema = 1
id = "misbehave"
name = "Misbehave"
version = "{version}"
publisher = "acme"
kind = "platform-automation"
api = "0.1"
component = "plugin.wasm"
sha256 = "{digest}"
license = "Apache-2.0"
description = "The test guest."

[capabilities]
remote = true
secrets = ["token"]
reveal = true

[config]
endpoint = {{ type = "string", required = true, label = {{ en = "Endpoint", zh = "地址" }} }}
region = {{ type = "enum", choices = ["eu", "us"], default = "eu" }}
retries = {{ type = "integer", default = 2 }}

[[automation]]
method = "ping"
name = "Ping"
types = ["linux", "unix"]
"#
        ),
    )
    .unwrap();
    let out = work.join(format!("misbehave-{version}.tgz"));
    let packed = run(portcullis(data)
        .args(["plugin", "pack"])
        .arg(&dir)
        .arg("-o")
        .arg(&out));
    assert!(packed.status.success(), "plugin pack: {}", text(&packed));
    out
}

/// An interactive session through the gateway that prints `MARK<n>` every second for up to
/// two minutes (the auditor terminates it long before).
fn live_session(work: &Path, gw: u16, login: &str, password: &str) -> Child {
    let script = work.join("live.exp");
    std::fs::write(
        &script,
        format!(
            r#"set timeout 30
spawn ssh -F /dev/null -tt -p {gw} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentityAgent=none -o PubkeyAuthentication=no -l {login} 127.0.0.1
expect "assword:"
send "{password}\r"
expect "$ "
send "echo first-command-output\r"
expect "$ "
send "for i in \$(seq 1 120); do echo {MARK}\$i; sleep 1; done\r"
set timeout 150
expect eof
"#
        ),
    )
    .unwrap();
    Command::new("timeout")
        .args(["180", "expect"])
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("expect")
}

#[test]
fn auditors_watch_terminate_and_replay_a_session_and_install_a_plugin_in_a_real_browser() {
    let db = TestDb::sqlite();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let sshd = Sshd::start("");
    let server = start(&db, data.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let alice_pw = create_user(data.path(), &db, "alice", "user");
    let alice = crate::support::rows(&crate::client::get(
        &server,
        &admin,
        "/api/v1/users/users/?username=alice&limit=1",
    ))[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let asset = add_ssh_host(&server, &admin, "web-1", &sshd);
    add_sshd_account(&server, &admin, &asset, "target", &sshd);
    grant(
        &server,
        &admin,
        "alice-web",
        &[&alice],
        &[&asset],
        &["connect"],
    );
    let bundle = plugin_bundle(work.path(), data.path());
    let login = format!("alice@{}@web-1", sshd.user());
    let mut user = live_session(work.path(), server.ssh_port, &login, &alice_pw);
    crate::support::eventually(30, "the live session", || {
        let r = crate::client::get(
            &server,
            &admin,
            "/api/v1/terminal/sessions/?is_finished=0&limit=1",
        );
        (!crate::support::rows(&r).is_empty()).then_some(())
    });

    run_spec(
        "audit.spec.mjs",
        &server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("PC_LIVE_MARK", MARK.into()),
            ("PC_PLUGIN_BUNDLE", bundle.display().to_string()),
        ],
        Duration::from_secs(300),
    );
    let _ = user.kill();
    let _ = user.wait();
}
