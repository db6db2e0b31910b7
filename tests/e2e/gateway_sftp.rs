//! The SSH gateway's `sftp` subsystem end to end: `portcullis serve` with its SSH listener, a
//! real OpenSSH server as the asset, and the real OpenSSH `sftp` and `scp` clients (with
//! `sshpass`) as the user. Set up through the REST API; checked through the files on disk,
//! the FTP log and the session list.
//!
//! The Linux platform's `sftp_home` is `/tmp`, so the asset's remote root is the machine's
//! `/tmp` (the fixture's sshd shares it); every file name carries a fresh UUID.

use crate::client::{ADMIN_PASSWORD, create_user, get, send};
use crate::scene::{grant, user_id};
use crate::sshd::Sshd;
use crate::support::{Server, TestDb, id_of, ok, portcullis};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use uuid::Uuid;

/// Common options of the OpenSSH clients towards the gateway.
fn client_opts(c: &mut Command) {
    c.args(["-F", "/dev/null"])
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null"])
        .args(["-o", "LogLevel=ERROR"])
        .args(["-o", "BatchMode=no"])
        .args(["-o", "PubkeyAuthentication=no"])
        .args(["-o", "PreferredAuthentications=password"])
        .args(["-o", "NumberOfPasswordPrompts=1"])
        .args(["-o", "IdentityAgent=none"]);
}

/// `sftp -b` with a password, bounded in time.
fn sftp(port: u16, login: &str, password: &str, batch: &Path) -> Output {
    let mut c = Command::new("sshpass");
    c.arg("-e")
        .args(["timeout", "-k", "5", "90", "sftp", "-P", &port.to_string()]);
    client_opts(&mut c);
    c.arg("-b")
        .arg(batch)
        .arg(format!("{login}@127.0.0.1"))
        .env("SSHPASS", password)
        .stdin(Stdio::null());
    c.output().expect("sftp")
}

/// `scp` (SFTP mode, OpenSSH's default since 9.0) with a password, bounded in time.
fn scp(port: u16, login: &str, password: &str, from: &str, to: &str) -> Output {
    let mut c = Command::new("sshpass");
    c.arg("-e").args([
        "timeout",
        "-k",
        "5",
        "90",
        "scp",
        "-s",
        "-P",
        &port.to_string(),
    ]);
    client_opts(&mut c);
    c.args(["-o", &format!("User={login}")])
        .args([from, to])
        .env("SSHPASS", password)
        .stdin(Stdio::null());
    c.output().expect("scp")
}

fn out(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Some bytes that span many SFTP packets.
fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

fn ftp_logs(server: &Server, admin: &str) -> Vec<Value> {
    let v = ok(
        &get(server, admin, "/api/v1/audits/ftp-logs/?limit=200"),
        200,
    );
    v["results"].as_array().cloned().unwrap_or_default()
}

fn find<'a>(logs: &'a [Value], operate: &str, filename: &str) -> Option<&'a Value> {
    logs.iter()
        .find(|l| l["operate"]["value"] == operate && l["filename"] == filename)
}

/// SQLite always; PostgreSQL too when the suite's cluster runs (`tests/run.sh`).
async fn databases() -> Vec<TestDb> {
    if std::env::var("PORTCULLIS_TEST_POSTGRES_URL").is_ok() {
        TestDb::both().await
    } else {
        vec![TestDb::sqlite()]
    }
}

#[tokio::test]
async fn sftp_and_scp_through_the_gateway_with_permissions_and_ftp_logs() {
    let sshd = Sshd::start("");
    for db in databases().await {
        let data = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let mut cmd = portcullis(data.path());
        cmd.env("PORTCULLIS_DATABASE_URL", &db.url)
            .env("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("PORTCULLIS_LOG", "warn,portcullis_ssh::sftp=info");
        let server = Server::start(cmd);
        let gw = server.ssh_port;
        let admin = crate::client::token(&server, "admin", ADMIN_PASSWORD);
        let alice_pw = create_user(data.path(), &db, "alice", "user");
        let bob_pw = create_user(data.path(), &db, "bob", "user");
        let (alice, bob) = (
            user_id(&server, &admin, "alice"),
            user_id(&server, &admin, "bob"),
        );
        let host = |name: &str| {
            id_of(&ok(
                &send(
                    &server,
                    &admin,
                    "POST",
                    "/api/v1/assets/hosts/",
                    &json!({"name": name, "address": "127.0.0.1", "platform": 1,
                            "nodes_display": ["/Default/sftp-ops"],
                            "protocols": [{"name": "ssh", "port": sshd.port()},
                                          {"name": "sftp", "port": sshd.port()}]}),
                ),
                201,
            ))
        };
        let account = |asset: &str, name: &str, key: bool| {
            let (secret_type, secret) = if key {
                ("ssh_key", sshd.private_key_text("id_ed25519"))
            } else {
                ("password", sshd.password().to_owned())
            };
            ok(
                &send(
                    &server,
                    &admin,
                    "POST",
                    "/api/v1/accounts/accounts/",
                    &json!({"asset": asset, "name": name, "username": sshd.user(),
                            "secret_type": secret_type, "secret": secret}),
                ),
                201,
            );
        };
        // web-1 has one account (the asset is the remote root); web-2 has two (one level
        // more, by account name; the same user by password and by key).
        let web1 = host("web-1");
        let web2 = host("web-2");
        account(&web1, "target-pw", false);
        account(&web2, "acct-a", false);
        account(&web2, "acct/b", true);
        let permit = |name: &str, user: &str, actions: &[&str]| {
            grant(&server, &admin, name, &[user], &[&web1, &web2], actions);
        };
        permit(
            "alice-files",
            &alice,
            &["connect", "upload", "download", "delete"],
        );
        permit("bob-read", &bob, &["connect", "download"]);

        // --- alice: the tree, put, get, rm ---------------------------------------------------
        let tag = Uuid::new_v4().simple().to_string();
        let name = format!("pc-sftp-{tag}.bin");
        // Larger than the gateway's write-behind window (4 MiB per open file), so the upload
        // waits on the asset's answers mid-file and the log's digest covers every write.
        let body = content(6_000_000, 7);
        let local = work.path().join("up.bin");
        let back = work.path().join("back.bin");
        fs::write(&local, &body).unwrap();
        let batch = work.path().join("alice.batch");
        fs::write(
            &batch,
            format!(
                "ls -1 /\nls -1 /Default\nls -1 /Default/sftp-ops\nls -1 /Default/sftp-ops/web-2\n\
                 cd /Default/sftp-ops/web-1\nput {local} {name}\n!test -f /tmp/{name} && echo ONDISK\n\
                 get {name} {back}\nrm {name}\n-mkdir /forbidden\nbye\n",
                local = local.display(),
                back = back.display()
            ),
        )
        .unwrap();
        let o = sftp(gw, "alice", &alice_pw, &batch);
        let text = out(&o);
        assert!(o.status.success(), "{}: {text}", db.backend);
        let stdout = String::from_utf8_lossy(&o.stdout);
        let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
        for want in [
            "/Default",
            "/Default/sftp-ops",
            "/Default/sftp-ops/web-1",
            "/Default/sftp-ops/web-2",
            "/Default/sftp-ops/web-2/acct-a",
            "/Default/sftp-ops/web-2/acct_b",
            "ONDISK",
        ] {
            assert!(lines.contains(&want), "{}: no {want}: {text}", db.backend);
        }
        assert_eq!(
            fs::read(&back).unwrap(),
            body,
            "{}: get returns what put sent",
            db.backend
        );
        assert!(
            !Path::new(&format!("/tmp/{name}")).exists(),
            "{}: rm removed it",
            db.backend
        );
        assert!(
            text.contains("ermission denied"),
            "{}: mkdir at the virtual root is refused: {text}",
            db.backend
        );

        // The FTP log: upload, download and delete, successful, in an sftp session.
        let logs = ftp_logs(&server, &admin);
        let path = format!("/{name}");
        let up = find(&logs, "upload", &path).unwrap_or_else(|| panic!("no upload: {logs:?}"));
        assert_eq!(up["is_success"], true, "{up}");
        assert_eq!(up["user"], "alice(alice)");
        assert!(
            up["account"].as_str().unwrap().contains("target-pw"),
            "{up}"
        );
        let down = find(&logs, "download", &path).expect("download logged");
        assert_eq!(down["is_success"], true, "{down}");
        let del = find(&logs, "delete", &path).expect("delete logged");
        assert_eq!(del["is_success"], true, "{del}");
        let session = up["session"]
            .as_str()
            .expect("linked to a session")
            .to_owned();
        assert_eq!(down["session"], session);
        let s = ok(
            &get(
                &server,
                &admin,
                &format!("/api/v1/terminal/sessions/{session}/"),
            ),
            200,
        );
        assert_eq!(s["type"]["value"], "sftp", "{s}");
        assert_eq!(s["protocol"], "sftp", "{s}");
        assert_eq!(s["is_finished"], true, "ended when the channel closed: {s}");
        // The digest of what passed equals the file's, both ways.
        let digest = sha256(&body);
        for l in [up, down] {
            assert_eq!(l["sha256"], Value::String(digest.clone()), "{l}");
            assert_eq!(l["size"], json!(body.len()), "{l}");
        }

        // --- bob: no upload permission ---------------------------------------------------
        let bob_name = format!("pc-sftp-bob-{tag}.bin");
        let batch = work.path().join("bob.batch");
        fs::write(
            &batch,
            format!(
                "cd /Default/sftp-ops/web-1\n-put {local} {bob_name}\nls -1 /Default/sftp-ops\nbye\n",
                local = local.display()
            ),
        )
        .unwrap();
        let o = sftp(gw, "bob", &bob_pw, &batch);
        let text = out(&o);
        assert!(
            text.contains("ermission denied"),
            "{}: the put is refused: {text}",
            db.backend
        );
        assert!(!Path::new(&format!("/tmp/{bob_name}")).exists());
        let logs = ftp_logs(&server, &admin);
        let refused = find(&logs, "upload", &format!("/{bob_name}"))
            .unwrap_or_else(|| panic!("the refusal is logged: {logs:?}"));
        assert_eq!(refused["is_success"], false, "{refused}");
        assert_eq!(refused["user"], "bob(bob)");

        // --- scp (SFTP mode) with direct naming user@account@asset -------------------------
        let scp_name = format!("pc-scp-{tag}.bin");
        let scp_body = content(70_000, 42);
        let scp_local = work.path().join("scp-up.bin");
        let scp_back = work.path().join("scp-back.bin");
        fs::write(&scp_local, &scp_body).unwrap();
        let login = format!("alice@{}@web-1", sshd.user());
        let o = scp(
            gw,
            &login,
            &alice_pw,
            scp_local.to_str().unwrap(),
            &format!("127.0.0.1:{scp_name}"),
        );
        assert!(
            o.status.success(),
            "{}: scp upload: {}",
            db.backend,
            out(&o)
        );
        let on_disk = format!("/tmp/{scp_name}");
        assert_eq!(fs::read(&on_disk).unwrap(), scp_body, "lands in sftp_home");
        let o = scp(
            gw,
            &login,
            &alice_pw,
            &format!("127.0.0.1:/{scp_name}"),
            scp_back.to_str().unwrap(),
        );
        assert!(
            o.status.success(),
            "{}: scp download: {}",
            db.backend,
            out(&o)
        );
        assert_eq!(fs::read(&scp_back).unwrap(), scp_body);
        let _ = fs::remove_file(&on_disk);
        let logs = ftp_logs(&server, &admin);
        let scp_path = format!("/{scp_name}");
        let up = find(&logs, "upload", &scp_path).expect("scp upload logged");
        assert_eq!(up["is_success"], true, "{up}");
        assert!(find(&logs, "download", &scp_path).is_some(), "{logs:?}");
        assert_eq!(up["sha256"], Value::String(sha256(&scp_body)), "{up}");

        drop(server);
        db.drop_db().await;
    }
}
