//! The web file manager end to end: `portcullis serve`, a real OpenSSH server as the asset,
//! and the file-manager endpoints driven over plain HTTP the way the web UI calls them (raw
//! upload bodies, streamed downloads). Checked through the files on disk, the FTP log and
//! the session list.
//!
//! The Linux platform's `sftp_home` is `/tmp`, so the file manager's `/` is the machine's
//! `/tmp` (the fixture's sshd shares it); every name carries a fresh UUID.

use crate::client::{ADMIN_PASSWORD, create_user, get, login_with_cookies, send, token};
use crate::scene::{add_sshd_account, grant, user_id};
use crate::sshd::Sshd;
use crate::support::{Server, TestDb, eventually, free_port, id_of, ok, portcullis};
use portcullis_store::Store;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;
use uuid::Uuid;

const FM: &str = "/api/v1/terminal/file-manager/";
const TOKENS: &str = "/api/v1/authentication/connection-token/";

/// An HTTP answer with a binary body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        format!("{} {}", self.status, String::from_utf8_lossy(&self.body))
    }
}

/// One HTTP/1.1 request with a raw body. `length` is the `Content-Length` sent (it may
/// announce more than `body` holds, to see a refusal come before the body is read); `None`
/// sends none.
fn raw(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    length: Option<u64>,
) -> Raw {
    let addr = server.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(n) = length {
        head.push_str(&format!("Content-Length: {n}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write head");
    // The server may answer (and close) before taking the whole body: ignore write errors.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {}", String::from_utf8_lossy(&out)));
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let rest = &out[split + 4..];
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Raw {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&rest[..eol]);
        let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        rest = &rest[eol + 2..];
        if n == 0 || rest.len() < n {
            break;
        }
        out.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        if rest.starts_with(b"\r\n") {
            rest = &rest[2..];
        }
    }
    out
}

/// A request as a bearer-token caller.
fn call(server: &Server, tok: &str, method: &str, path: &str, body: Option<&Value>) -> Raw {
    let auth = format!("Bearer {tok}");
    match body {
        Some(b) => {
            let data = b.to_string();
            raw(
                server,
                method,
                path,
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                data.as_bytes(),
                Some(data.len() as u64),
            )
        }
        None => raw(server, method, path, &[("Authorization", &auth)], &[], None),
    }
}

/// Uploads `data` as `name` into `dir`.
fn upload(server: &Server, tok: &str, fm: &str, dir: &str, name: &str, data: &[u8]) -> Raw {
    upload_typed(server, tok, fm, dir, name, data, "application/octet-stream")
}

fn upload_typed(
    server: &Server,
    tok: &str,
    fm: &str,
    dir: &str,
    name: &str,
    data: &[u8],
    content_type: &str,
) -> Raw {
    let auth = format!("Bearer {tok}");
    raw(
        server,
        "POST",
        &format!("{FM}{fm}/upload/?path={}&name={}", enc(dir), enc(name)),
        &[("Authorization", &auth), ("Content-Type", content_type)],
        data,
        Some(data.len() as u64),
    )
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Bytes that are not a repeating pattern a short prefix would match.
fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

/// A fresh `web_sftp` connection token of the user for the account.
fn fm_token(server: &Server, tok: &str, asset: &str, account: &str) -> String {
    id_of(&ok(
        &send(
            server,
            tok,
            "POST",
            TOKENS,
            &json!({"asset": asset, "account": account, "protocol": "sftp",
                    "connect_method": "web_sftp"}),
        ),
        201,
    ))
}

/// Opens a file manager over a new token; returns its answer.
fn open_fm(server: &Server, tok: &str, asset: &str, account: &str) -> Value {
    let t = fm_token(server, tok, asset, account);
    let r = call(server, tok, "POST", FM, Some(&json!({"token": t})));
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn ftp_logs(server: &Server, admin: &str, session: &str) -> Vec<Value> {
    let v = ok(
        &get(
            server,
            admin,
            &format!("/api/v1/audits/ftp-logs/?session={session}&limit=200"),
        ),
        200,
    );
    v["results"].as_array().cloned().unwrap_or_default()
}

fn logged<'a>(logs: &'a [Value], operate: &str, filename: &str) -> Option<&'a Value> {
    logs.iter()
        .find(|l| l["operate"]["value"] == operate && l["filename"] == filename)
}

/// A row with that outcome (an operation may be logged once refused, once done).
fn logged_as<'a>(
    logs: &'a [Value],
    operate: &str,
    filename: &str,
    success: bool,
) -> Option<&'a Value> {
    logs.iter().find(|l| {
        l["operate"]["value"] == operate && l["filename"] == filename && l["is_success"] == success
    })
}

fn session(server: &Server, admin: &str, id: &str) -> Value {
    ok(
        &get(server, admin, &format!("/api/v1/terminal/sessions/{id}/")),
        200,
    )
}

/// Entries of `dir` in `/tmp` named like the upload's temporary files.
fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".portcullis-upload-"))
                .collect()
        })
        .unwrap_or_default()
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
async fn web_file_manager_over_sftp_with_permissions_ftp_logs_and_sessions() {
    let sshd = Sshd::start("");
    for db in databases().await {
        let data = tempfile::tempdir().unwrap();
        let mut cmd = portcullis(data.path());
        cmd.env("PORTCULLIS_DATABASE_URL", &db.url)
            .env("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD);
        let server = Server::start(cmd);
        let store = Store::connect(&db.url).await.unwrap();
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let mut users = Vec::new();
        for name in ["alice", "bob", "carol"] {
            let pw = create_user(data.path(), &db, name, "user");
            let id = user_id(&server, &admin, name);
            users.push((id, pw));
        }
        let asset = id_of(&ok(
            &send(
                &server,
                &admin,
                "POST",
                "/api/v1/assets/hosts/",
                &json!({"name": "files-1", "address": "127.0.0.1", "platform": 1,
                        "nodes_display": ["/Default/fm-ops"],
                        "protocols": [{"name": "ssh", "port": sshd.port()},
                                      {"name": "sftp", "port": sshd.port()}]}),
            ),
            201,
        ));
        let account = add_sshd_account(&server, &admin, &asset, "target-pw", &sshd);
        for (i, actions) in [
            &["connect", "upload", "download", "delete"][..],
            &["connect", "download"],
            &["connect", "upload"],
        ]
        .into_iter()
        .enumerate()
        {
            grant(
                &server,
                &admin,
                &format!("fm-{i}"),
                &[&users[i].0],
                &[&asset],
                actions,
            );
        }
        let alice = token(&server, "alice", &users[0].1);
        let bob = token(&server, "bob", &users[1].1);
        let carol = token(&server, "carol", &users[2].1);

        // --- open through a connection token ----------------------------------------------
        let t = fm_token(&server, &alice, &asset, &account);
        // Another user's token is refused, and stays usable by its owner.
        let r = call(&server, &bob, "POST", FM, Some(&json!({"token": t})));
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["code"], "token_invalid");
        let r = call(&server, &alice, "POST", FM, Some(&json!({"token": t})));
        assert_eq!(r.status, 201, "{}: {}", db.backend, r.text());
        let opened = r.json();
        let fm = opened["id"].as_str().unwrap().to_owned();
        let sid = opened["session_id"].as_str().unwrap().to_owned();
        assert_eq!(opened["home"], "/");
        assert_eq!(
            opened["max_upload_bytes"],
            json!(1u64 << 30),
            "1 GiB default"
        );
        for a in ["connect", "upload", "download", "delete"] {
            assert!(
                opened["actions"].as_array().unwrap().contains(&json!(a)),
                "{opened}"
            );
        }
        // One use.
        let r = call(&server, &alice, "POST", FM, Some(&json!({"token": t})));
        assert_eq!(
            r.status,
            400,
            "a token opens one file manager: {}",
            r.text()
        );
        // A token for the web terminal does not open a file manager.
        let cli = id_of(&ok(
            &send(
                &server,
                &alice,
                "POST",
                TOKENS,
                &json!({"asset": asset, "account": account, "protocol": "ssh",
                        "connect_method": "web_cli"}),
            ),
            201,
        ));
        let r = call(&server, &alice, "POST", FM, Some(&json!({"token": cli})));
        assert_eq!(r.status, 400, "{}", r.text());

        // The session row: sftp, from the web, online.
        let s = session(&server, &admin, &sid);
        assert_eq!(s["type"]["value"], "sftp", "{s}");
        assert_eq!(s["login_from"]["value"], "WT", "{s}");
        assert_eq!(s["protocol"], "sftp", "{s}");
        assert_eq!(s["user"], "alice(alice)", "{s}");
        assert_eq!(s["is_finished"], false, "{s}");

        // --- list, mkdir, upload, download, rename, delete ------------------------------------
        let tag = Uuid::new_v4().simple().to_string();
        let dir = format!("/pc-fm-{tag}");
        let on_disk = Path::new("/tmp").join(format!("pc-fm-{tag}"));
        let r = call(
            &server,
            &alice,
            "POST",
            &format!("{FM}{fm}/mkdir/"),
            Some(&json!({"path": dir})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        assert!(on_disk.is_dir(), "mkdir made /tmp/pc-fm-{tag}");
        let r = call(
            &server,
            &alice,
            "POST",
            &format!("{FM}{fm}/mkdir/"),
            Some(&json!({"path": dir})),
        );
        assert_eq!(r.status, 409, "an existing name: {}", r.text());
        let r = call(
            &server,
            &alice,
            "GET",
            &format!("{FM}{fm}/list/?path=/"),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let home = r.json();
        let entries = home.as_array().unwrap();
        let mine = entries
            .iter()
            .find(|e| e["name"] == format!("pc-fm-{tag}"))
            .unwrap_or_else(|| panic!("the new directory is listed: {home}"));
        assert_eq!(mine["is_dir"], true);
        assert_eq!(mine["path"], dir);
        assert!(mine["mtime"].as_str().unwrap().ends_with('Z'), "{mine}");
        let first_file = entries.iter().position(|e| e["is_dir"] == false);
        if let Some(i) = first_file {
            assert!(
                entries[i..].iter().all(|e| e["is_dir"] == false),
                "directories first: {home}"
            );
        }

        let body = content(5 * 1024 * 1024 + 12_345, 3);
        let r = upload(&server, &alice, &fm, &dir, "data.bin", &body);
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.json()["size"], json!(body.len()));
        assert_eq!(r.json()["path"], format!("{dir}/data.bin"));
        assert_eq!(fs::read(on_disk.join("data.bin")).unwrap(), body);
        // Any content type is the file's bytes (not a spreadsheet import).
        let csv = b"name,address\nweb,10.0.0.1\n";
        let r = upload_typed(&server, &alice, &fm, &dir, "hosts.csv", csv, "text/csv");
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(fs::read(on_disk.join("hosts.csv")).unwrap(), csv);
        // An empty file goes both ways.
        let r = upload(&server, &alice, &fm, &dir, "empty", b"");
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(fs::read(on_disk.join("empty")).unwrap(), b"");
        let r = call(
            &server,
            &alice,
            "GET",
            &format!("{FM}{fm}/download/?path={dir}/empty"),
            None,
        );
        assert_eq!((r.status, r.body.len()), (200, 0), "{}", r.text());
        fs::remove_file(on_disk.join("empty")).unwrap();
        // Uploading again replaces the file.
        let r = upload(&server, &alice, &fm, &dir, "hosts.csv", b"v2");
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(fs::read(on_disk.join("hosts.csv")).unwrap(), b"v2");
        assert!(temp_files(&on_disk).is_empty(), "no temporary file is left");

        let r = call(
            &server,
            &alice,
            "GET",
            &format!(
                "{FM}{fm}/download/?path={}",
                enc(&format!("{dir}/data.bin"))
            ),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.body.len(), body.len());
        assert!(r.body == body, "download returns the uploaded bytes");
        assert_eq!(
            r.header("content-disposition"),
            Some("attachment; filename=\"data.bin\"; filename*=UTF-8''data.bin")
        );
        let r = call(
            &server,
            &alice,
            "GET",
            &format!("{FM}{fm}/download/?path={}", enc(&format!("{dir}/nope"))),
            None,
        );
        assert_eq!(r.status, 404, "{}", r.text());
        let r = call(
            &server,
            &alice,
            "GET",
            &format!("{FM}{fm}/list/?path={}%00y", enc(&format!("{dir}/x"))),
            None,
        );
        assert_eq!(r.status, 400, "a NUL byte: {}", r.text());

        let r = call(
            &server,
            &alice,
            "POST",
            &format!("{FM}{fm}/rename/"),
            Some(&json!({"from": format!("{dir}/data.bin"), "to": format!("{dir}/renamed.bin")})),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(!on_disk.join("data.bin").exists());
        assert_eq!(
            fs::read(on_disk.join("renamed.bin")).unwrap().len(),
            body.len()
        );
        let r = call(
            &server,
            &alice,
            "GET",
            &format!("{FM}{fm}/list/?path={dir}"),
            None,
        );
        let names: Vec<Value> = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].clone())
            .collect();
        assert_eq!(names, [json!("hosts.csv"), json!("renamed.bin")]);

        // A body that breaks off: the partial file is removed, the failure logged.
        {
            let addr = server.base.trim_start_matches("http://").to_owned();
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            let head = format!(
                "POST {FM}{fm}/upload/?path={dir}&name=cut.bin HTTP/1.1\r\nHost: {addr}\r\n\
                 Authorization: Bearer {alice}\r\nContent-Length: {}\r\n\r\n",
                4 * 1024 * 1024
            );
            c.write_all(head.as_bytes()).unwrap();
            c.write_all(&content(1024 * 1024, 9)).unwrap();
            // Wait until the upload has begun on the asset, then go away mid-body.
            eventually(20, "the upload to start", || {
                (!temp_files(&on_disk).is_empty()).then_some(())
            });
            drop(c);
        }
        eventually(20, "the partial upload to be removed", || {
            temp_files(&on_disk).is_empty().then_some(())
        });
        assert!(!on_disk.join("cut.bin").exists());
        eventually(20, "the broken upload to be logged", || {
            logged_as(
                &ftp_logs(&server, &admin, &sid),
                "upload",
                &format!("{dir}/cut.bin"),
                false,
            )
            .map(|_| ())
        });

        // The asset's own file permissions: words, not a gateway error.
        let ro = format!("pc-fm-ro-{tag}");
        fs::create_dir(Path::new("/tmp").join(&ro)).unwrap();
        let r = upload(&server, &alice, &fm, &format!("/{ro}"), "x.bin", b"x");
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(r.json()["code"], "asset_denied", "{}", r.text());
        assert!(
            r.json()["detail"]
                .as_str()
                .unwrap()
                .contains("permission denied")
        );
        let _ = fs::remove_dir(Path::new("/tmp").join(&ro));

        // Delete is not recursive: a directory with files is refused.
        let del = |path: &str| {
            call(
                &server,
                &alice,
                "POST",
                &format!("{FM}{fm}/delete/"),
                Some(&json!({"path": path})),
            )
        };
        let r = del(&dir);
        assert_eq!(r.status, 409, "{}", r.text());
        assert!(on_disk.join("renamed.bin").exists());
        for name in ["renamed.bin", "hosts.csv"] {
            let r = del(&format!("{dir}/{name}"));
            assert_eq!(r.status, 200, "{}", r.text());
            assert!(!on_disk.join(name).exists());
        }
        let r = del(&dir);
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(!on_disk.exists(), "the empty directory is removed");

        // The FTP log, linked to the session.
        let logs = ftp_logs(&server, &admin, &sid);
        let file = format!("{dir}/data.bin");
        for (operate, filename, success) in [
            ("mkdir", dir.clone(), true),
            ("mkdir", dir.clone(), false),
            ("upload", file.clone(), true),
            ("download", file.clone(), true),
            ("download", format!("{dir}/nope"), false),
            ("rename", format!("{file}=>{dir}/renamed.bin"), true),
            ("delete", format!("{dir}/renamed.bin"), true),
            ("rmdir", dir.clone(), true),
        ] {
            let row = logged_as(&logs, operate, &filename, success).unwrap_or_else(|| {
                panic!("{operate} {filename} ({success}) not logged: {logs:#?}")
            });
            assert_eq!(row["user"], "alice(alice)", "{row}");
            assert!(
                row["account"].as_str().unwrap().contains("target-pw"),
                "{row}"
            );
        }
        let up = logged_as(&logs, "upload", &file, true).unwrap();
        assert_eq!(up["sha256"], Value::String(sha256(&body)), "{up}");
        assert_eq!(up["size"], json!(body.len()), "{up}");
        let down = logs
            .iter()
            .find(|l| l["operate"]["value"] == "download" && l["is_success"] == true)
            .unwrap();
        assert_eq!(down["sha256"], Value::String(sha256(&body)), "{down}");

        // --- sizes: the cap, before the body is read ---------------------------------------
        let r = raw(
            &server,
            "POST",
            &format!("{FM}{fm}/upload/?path=/&name=huge-{tag}.bin"),
            &[("Authorization", &format!("Bearer {alice}"))],
            b"",
            Some((1u64 << 30) + 1),
        );
        assert_eq!(r.status, 413, "{}", r.text());
        assert!(
            r.json()["detail"].as_str().unwrap().contains("too large"),
            "{}",
            r.text()
        );
        assert!(!Path::new(&format!("/tmp/huge-{tag}.bin")).exists());
        assert!(temp_files(Path::new("/tmp")).is_empty(), "nothing written");
        let r = raw(
            &server,
            "POST",
            &format!("{FM}{fm}/upload/?path=/&name=nolen-{tag}.bin"),
            &[("Authorization", &format!("Bearer {alice}"))],
            b"",
            None,
        );
        assert_eq!(r.status, 411, "{}", r.text());
        // The cap is a setting.
        store
            .set_setting(
                "FILE_MANAGER_MAX_UPLOAD_BYTES",
                "terminal",
                &json!(1024 * 1024),
            )
            .await
            .unwrap();
        let small = open_fm(&server, &alice, &asset, &account);
        assert_eq!(small["max_upload_bytes"], json!(1024 * 1024));
        let small_fm = small["id"].as_str().unwrap();
        let r = raw(
            &server,
            "POST",
            &format!("{FM}{small_fm}/upload/?path=/&name=over-{tag}.bin"),
            &[("Authorization", &format!("Bearer {alice}"))],
            b"",
            Some(1024 * 1024 + 1),
        );
        assert_eq!(r.status, 413, "{}", r.text());
        assert!(!Path::new(&format!("/tmp/over-{tag}.bin")).exists());
        let logs = ftp_logs(&server, &admin, small["session_id"].as_str().unwrap());
        let refused = logged(&logs, "upload", &format!("/over-{tag}.bin"))
            .unwrap_or_else(|| panic!("the refusal is logged: {logs:#?}"));
        assert_eq!(refused["is_success"], false);

        // --- an unreachable asset: 502 with the reason, and a failed session row ------------
        let dead = id_of(&ok(
            &send(
                &server,
                &admin,
                "POST",
                "/api/v1/assets/hosts/",
                &json!({"name": "files-dead", "address": "127.0.0.1", "platform": 1,
                        "nodes_display": ["/Default/fm-ops"],
                        "protocols": [{"name": "ssh", "port": free_port()},
                                      {"name": "sftp", "port": free_port()}]}),
            ),
            201,
        ));
        let dead_account = add_sshd_account(&server, &admin, &dead, "target-pw", &sshd);
        let perm = id_of(&grant(
            &server,
            &admin,
            "fm-dead",
            &[&users[0].0],
            &[&dead],
            &["connect", "upload"],
        ));
        let t = fm_token(&server, &alice, &dead, &dead_account);
        let r = call(&server, &alice, "POST", FM, Some(&json!({"token": t})));
        assert_eq!(r.status, 502, "{}", r.text());
        assert_eq!(r.json()["code"], "target_failed");
        assert!(
            r.json()["detail"]
                .as_str()
                .unwrap()
                .contains("Cannot connect to files-dead"),
            "{}",
            r.text()
        );
        // A user without a grant on the asset cannot open it, even with a token of theirs
        // (tokens are checked again at open: here the permission is gone).
        let t = fm_token(&server, &alice, &dead, &dead_account);
        let r = send(
            &server,
            &admin,
            "DELETE",
            &format!("/api/v1/perms/asset-permissions/{perm}/"),
            &json!({}),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        let r = call(&server, &alice, "POST", FM, Some(&json!({"token": t})));
        assert_eq!(r.status, 403, "{}", r.text());

        // --- cookie callers need the CSRF header on unsafe methods -------------------------
        let (_, cookies) = login_with_cookies(&server, "alice", &users[0].1);
        let csrf = cookies
            .split("; ")
            .find_map(|c| c.strip_prefix("jms_csrftoken="))
            .expect("CSRF cookie")
            .to_owned();
        let cdir = format!("/pc-fm-csrf-{tag}");
        let mkdir_body = json!({"path": cdir}).to_string();
        let mut hdrs = vec![
            ("Cookie", cookies.as_str()),
            ("Content-Type", "application/json"),
        ];
        let r = raw(
            &server,
            "POST",
            &format!("{FM}{small_fm}/mkdir/"),
            &hdrs,
            mkdir_body.as_bytes(),
            Some(mkdir_body.len() as u64),
        );
        assert_eq!(r.status, 401, "no CSRF header: {}", r.text());
        assert!(!Path::new(&format!("/tmp/pc-fm-csrf-{tag}")).exists());
        hdrs.push(("X-CSRFToken", &csrf));
        let r = raw(
            &server,
            "POST",
            &format!("{FM}{small_fm}/mkdir/"),
            &hdrs,
            mkdir_body.as_bytes(),
            Some(mkdir_body.len() as u64),
        );
        assert_eq!(r.status, 201, "with the CSRF header: {}", r.text());
        let _ = fs::remove_dir(format!("/tmp/pc-fm-csrf-{tag}"));

        // --- permissions: without upload, download or delete ------------------------------
        let keep_name = format!("pc-fm-keep-{tag}.txt");
        let keep = Path::new("/tmp").join(&keep_name);
        fs::write(&keep, b"keep me").unwrap();
        let b = open_fm(&server, &bob, &asset, &account);
        let bfm = b["id"].as_str().unwrap().to_owned();
        assert_eq!(b["actions"], json!(["connect", "download"]));
        let r = upload(&server, &bob, &bfm, "/", &format!("bob-{tag}.bin"), b"nope");
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(r.json()["code"], "action_denied");
        assert!(!Path::new(&format!("/tmp/bob-{tag}.bin")).exists());
        assert!(temp_files(Path::new("/tmp")).is_empty(), "nothing written");
        let r = call(
            &server,
            &bob,
            "POST",
            &format!("{FM}{bfm}/mkdir/"),
            Some(&json!({"path": format!("/bob-dir-{tag}")})),
        );
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(!Path::new(&format!("/tmp/bob-dir-{tag}")).exists());
        let r = call(
            &server,
            &bob,
            "POST",
            &format!("{FM}{bfm}/delete/"),
            Some(&json!({"path": format!("/{keep_name}")})),
        );
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(r.json()["code"], "action_denied");
        assert!(keep.exists(), "not deleted");
        let r = call(
            &server,
            &bob,
            "GET",
            &format!("{FM}{bfm}/download/?path=/{keep_name}"),
            None,
        );
        assert_eq!(r.status, 200, "bob may download: {}", r.text());
        assert_eq!(r.body, b"keep me");
        let logs = ftp_logs(&server, &admin, b["session_id"].as_str().unwrap());
        for (operate, filename) in [
            ("upload", format!("/bob-{tag}.bin")),
            ("mkdir", format!("/bob-dir-{tag}")),
            ("delete", format!("/{keep_name}")),
        ] {
            let row = logged(&logs, operate, &filename)
                .unwrap_or_else(|| panic!("refused {operate} logged: {logs:#?}"));
            assert_eq!(row["is_success"], false, "{row}");
            assert_eq!(row["user"], "bob(bob)", "{row}");
        }
        let c = open_fm(&server, &carol, &asset, &account);
        let cfm = c["id"].as_str().unwrap().to_owned();
        let r = call(
            &server,
            &carol,
            "GET",
            &format!("{FM}{cfm}/download/?path=/{keep_name}"),
            None,
        );
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(r.json()["code"], "action_denied");
        assert!(r.json()["detail"].as_str().unwrap().contains("download"));
        let logs = ftp_logs(&server, &admin, c["session_id"].as_str().unwrap());
        assert_eq!(
            logged(&logs, "download", &format!("/{keep_name}")).map(|r| r["is_success"].clone()),
            Some(json!(false)),
            "{logs:#?}"
        );
        let _ = fs::remove_file(&keep);

        // --- only the owner may use a file manager ----------------------------------------
        let r = call(
            &server,
            &bob,
            "GET",
            &format!("{FM}{fm}/list/?path=/"),
            None,
        );
        assert_eq!(r.status, 404, "{}", r.text());
        let r = call(&server, &bob, "DELETE", &format!("{FM}{fm}/"), None);
        assert_eq!(r.status, 404, "{}", r.text());

        // --- closing ends the session -------------------------------------------------------
        let r = call(&server, &alice, "DELETE", &format!("{FM}{fm}/"), None);
        assert_eq!(r.status, 204, "{}", r.text());
        let s = session(&server, &admin, &sid);
        assert_eq!(s["is_finished"], true, "{s}");
        assert_eq!(s["end_reason"], "normal", "{s}");
        let r = call(
            &server,
            &alice,
            "GET",
            &format!("{FM}{fm}/list/?path=/"),
            None,
        );
        assert_eq!(r.status, 404, "{}", r.text());
        assert!(
            r.json()["detail"]
                .as_str()
                .unwrap()
                .contains("File manager")
        );

        // An administrator's kill ends it too.
        let bsid = b["session_id"].as_str().unwrap().to_owned();
        ok(
            &send(
                &server,
                &admin,
                "POST",
                "/api/v1/terminal/tasks/kill-session/",
                &json!([bsid]),
            ),
            200,
        );
        eventually(20, "the killed file manager to close", || {
            let r = call(
                &server,
                &bob,
                "GET",
                &format!("{FM}{bfm}/list/?path=/"),
                None,
            );
            (r.status == 404).then_some(())
        });
        let s = session(&server, &admin, &bsid);
        assert_eq!(s["is_finished"], true, "{s}");
        assert_eq!(s["end_reason"], "admin_terminate", "{s}");

        // Idle file managers close (the limit is a setting, read when one opens).
        store
            .set_setting("FILE_MANAGER_IDLE_SECONDS", "terminal", &json!(2))
            .await
            .unwrap();
        let idle = open_fm(&server, &carol, &asset, &account);
        let isid = idle["session_id"].as_str().unwrap().to_owned();
        let ifm = idle["id"].as_str().unwrap().to_owned();
        eventually(30, "the idle file manager's session to end", || {
            let s = session(&server, &admin, &isid);
            (s["is_finished"] == true).then_some(())
        });
        assert_eq!(
            session(&server, &admin, &isid)["end_reason"],
            "idle_disconnect"
        );
        let r = call(
            &server,
            &carol,
            "GET",
            &format!("{FM}{ifm}/list/?path=/"),
            None,
        );
        assert_eq!(r.status, 404, "{}", r.text());

        drop(server);
        db.drop_db().await;
    }
}
