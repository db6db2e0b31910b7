//! The plugin lifecycle over HTTP and the command line, on both databases, with a real
//! component (the misbehave test guest, `tests/plugins/misbehave`): signed install, refusals
//! that write nothing (unsigned, untrusted, tampered, bad digest, bad manifest, not a
//! component, wrong world), grants, configuration and secrets, enable with the `describe`
//! check, upgrade and rollback, disable, remove, the operation log, loading at start-up
//! (with a stale artifact recompiled), and the `portcullis plugin` commands.

use crate::client::*;
use crate::support::{HttpResponse, Server, TestDb, eventually, portcullis, run, text};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const PLUGINS: &str = "/api/v1/plugins/plugins/";
const KEYS: &str = "/api/v1/plugins/trusted-keys/";
const SETTINGS: &str = "/api/v1/plugins/settings/";

// ---------------------------------------------------------------------------------------------
// Fixtures: the guest, plugin directories, bundles
// ---------------------------------------------------------------------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds one variant of the misbehave guest (cargo feature) and returns its bytes.
fn build_guest(feature: &str) -> Vec<u8> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = repo_root().join("target/wasm");
    let status = Command::new(cargo)
        .current_dir(repo_root())
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
            "-p",
            "test-plugin-misbehave",
            "--no-default-features",
            "--features",
            feature,
        ])
        .status()
        .expect("running cargo for the guest");
    assert!(
        status.success(),
        "building the misbehave guest ({feature}) failed"
    );
    std::fs::read(target.join("wasm32-wasip2/plugin/test_plugin_misbehave.wasm"))
        .expect("reading the guest component")
}

/// The guest's components, built once per test run: the platform-automation variant, the
/// same with its `describe` version changed to 0.2.0 (a "new release"), and the autofill
/// variant (a component of another world).
struct Guests {
    v1: Vec<u8>,
    v2: Vec<u8>,
    autofill: Vec<u8>,
}

fn guests() -> &'static Guests {
    static G: OnceLock<Guests> = OnceLock::new();
    G.get_or_init(|| {
        let v1 = build_guest("automation");
        let autofill = build_guest("autofill");
        // `describe` answers id "misbehave", version "0.1.0": the two strings sit next to
        // each other in the data segment. Same length, so the component stays valid.
        let (from, to) = (b"misbehave0.1.0".as_slice(), b"misbehave0.2.0".as_slice());
        let at = v1
            .windows(from.len())
            .position(|w| w == from)
            .expect("the guest's describe strings");
        let mut v2 = v1.clone();
        v2[at..at + from.len()].copy_from_slice(to);
        Guests { v1, v2, autofill }
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A manifest for the guest. `extra` is appended (more keys or tables).
fn manifest(version: &str, publisher: &str, kind: &str, digest: &str, extra: &str) -> String {
    format!(
        r#"schema = 1
id = "misbehave"
name = "Misbehave"
version = "{version}"
publisher = "{publisher}"
kind = "{kind}"
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
endpoint = {{ type = "string", required = true }}
region = {{ type = "enum", choices = ["eu", "us"], default = "eu" }}
retries = {{ type = "integer", default = 2 }}

[[automation]]
method = "ping"
name = "Ping"
types = ["linux", "unix"]
{extra}"#
    )
}

/// Writes a plugin directory (`plugin.toml` + `plugin.wasm`) under `parent/name`.
fn plugin_dir(parent: &Path, name: &str, manifest: &str, wasm: &[u8]) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
    std::fs::write(dir.join("plugin.wasm"), wasm).unwrap();
    dir
}

/// `portcullis plugin …` without a database (keygen, pack, sign).
fn tool(data: &Path, args: &[&str]) -> String {
    let out = run(portcullis(data).arg("plugin").args(args));
    assert!(out.status.success(), "plugin {args:?}: {}", text(&out));
    text(&out)
}

/// Packs `dir` (and signs it with `key` when given) into `dir.tgz`; returns the bytes.
fn bundle(data: &Path, dir: &Path, key: Option<&Path>) -> Vec<u8> {
    let out = dir.with_extension("tgz");
    tool(
        data,
        &["pack", dir.to_str().unwrap(), "-o", out.to_str().unwrap()],
    );
    if let Some(key) = key {
        tool(
            data,
            &[
                "sign",
                out.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        );
    }
    std::fs::read(out).unwrap()
}

/// A bundle made with the system's tar, bypassing the packer's checks (for tampering).
fn raw_bundle(dir: &Path) -> Vec<u8> {
    let out = dir.with_extension("raw.tgz");
    let status = Command::new("tar")
        .arg("czf")
        .arg(&out)
        .arg("-C")
        .arg(dir)
        .args(
            std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name()),
        )
        .status()
        .expect("tar");
    assert!(status.success());
    std::fs::read(out).unwrap()
}

/// A signing key pair for `publisher`, trusted through the API. Returns the private key file.
fn trusted_key(
    server: &Server,
    token: &str,
    data: &Path,
    dir: &Path,
    name: &str,
    publisher: &str,
) -> PathBuf {
    let stem = dir.join(name);
    tool(data, &["keygen", "-o", stem.to_str().unwrap()]);
    let public = std::fs::read_to_string(stem.with_extension("pub")).unwrap();
    let r = send(
        server,
        token,
        "POST",
        KEYS,
        &json!({"publisher": publisher, "public_key": public.trim(), "comment": "test"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    stem.with_extension("key")
}

/// POSTs bundle bytes as the raw body (`application/gzip`) or as a multipart form.
fn upload(server: &Server, token: &str, bytes: &[u8], multipart: bool) -> HttpResponse {
    use std::io::{Read, Write};
    let addr = server.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    let (content_type, body) = if multipart {
        let boundary = "----portcullis-test-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.tgz\"\r\nContent-Type: application/gzip\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), body)
    } else {
        ("application/gzip".to_owned(), bytes.to_vec())
    };
    let head = format!(
        "POST {PLUGINS} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    HttpResponse {
        status,
        headers: Vec::new(),
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

fn ok(r: &HttpResponse, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    r.json()
}

fn refused(r: &HttpResponse, needle: &str) {
    assert_eq!(r.status, 400, "expected 400 ({needle}): {}", r.body);
    assert!(
        r.body.contains(needle),
        "expected `{needle}` in: {}",
        r.body
    );
}

fn path(id: &str, action: &str) -> String {
    if action.is_empty() {
        format!("{PLUGINS}{id}/")
    } else {
        format!("{PLUGINS}{id}/{action}/")
    }
}

fn version_dirs(data: &Path) -> Vec<String> {
    let root = data.join("plugins");
    let mut out = Vec::new();
    for p in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for v in std::fs::read_dir(p.path()).into_iter().flatten().flatten() {
            out.push(format!(
                "{}/{}",
                p.file_name().to_string_lossy(),
                v.file_name().to_string_lossy()
            ));
        }
    }
    out.sort();
    out
}

async fn plugin_oplogs(db: &TestDb) -> Vec<(String, String)> {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    sqlx::query_as::<_, (String, String)>(
        "SELECT action, resource FROM operate_logs WHERE resource_type = 'Plugin' ORDER BY datetime",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_signed_plugin_installs_is_configured_enabled_upgraded_rolled_back_and_removed() {
    let g = guests();
    for db in TestDb::both().await {
        let data = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let server = start(&db, data.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let key = trusted_key(&server, &admin, data.path(), work.path(), "acme", "acme");

        // ---- Install v1, signed by a trusted key (multipart upload).
        let m1 = manifest(
            "0.1.0",
            "acme",
            "platform-automation",
            &sha256_hex(&g.v1),
            "",
        );
        let dir1 = plugin_dir(work.path(), "v1", &m1, &g.v1);
        let v1 = ok(
            &upload(
                &server,
                &admin,
                &bundle(data.path(), &dir1, Some(&key)),
                true,
            ),
            201,
        );
        let id1 = v1["id"].as_str().unwrap().to_owned();
        assert_eq!(v1["status"], "installed", "{v1}");
        assert_eq!(v1["signed"], true);
        assert_eq!(v1["is_active"], false);
        assert_eq!(v1["kind"], "platform-automation");
        assert_eq!(v1["capabilities"]["secrets"], json!(["token"]));
        assert_eq!(
            v1["grants"],
            json!({"http": [], "remote": false, "secrets": [], "reveal": false})
        );
        assert_eq!(v1["manifest"], m1, "the manifest is kept byte for byte");
        let imports = v1["imports"]["imports"].as_array().unwrap();
        assert!(
            imports
                .iter()
                .any(|i| i.as_str().unwrap().contains("portcullis:plugin/remote")),
            "{v1}"
        );
        assert_eq!(version_dirs(data.path()), vec!["misbehave/0.1.0"]);
        let files = data.path().join("plugins/misbehave/0.1.0");
        for f in ["plugin.toml", "plugin.wasm", "plugin.sig", "plugin.cwasm"] {
            assert!(files.join(f).exists(), "{f}");
        }
        let list = ok(&get(&server, &admin, PLUGINS), 200);
        assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

        // ---- Grants: a subset of the request only.
        let r = send(
            &server,
            &admin,
            "PATCH",
            &path(&id1, "grant"),
            &json!({"http": ["https://x.example.com"]}),
        );
        refused(&r, "http");
        let r = send(
            &server,
            &admin,
            "PATCH",
            &path(&id1, "grant"),
            &json!({"secrets": ["other"]}),
        );
        refused(&r, "other");
        let r = send(
            &server,
            &admin,
            "PATCH",
            &path(&id1, "grant"),
            &json!({"colour": "red"}),
        );
        refused(&r, "colour");
        let p = ok(
            &send(
                &server,
                &admin,
                "PATCH",
                &path(&id1, "grant"),
                &json!({"remote": true, "secrets": ["token"]}),
            ),
            200,
        );
        assert_eq!(
            p["grants"],
            json!({"http": [], "remote": true, "secrets": ["token"], "reveal": false})
        );

        // ---- Configuration: validated against the schema as a whole.
        let r = send(&server, &admin, "POST", &path(&id1, "enable"), &json!({}));
        refused(&r, "endpoint");
        let r = send(
            &server,
            &admin,
            "PATCH",
            &path(&id1, "config"),
            &json!({"endpoint": "e", "region": "mars", "retries": "many", "bogus": 1}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let errors = r.json();
        for field in ["region", "retries", "bogus"] {
            assert!(errors.get(field).is_some(), "{field}: {errors}");
        }
        let p = ok(
            &send(
                &server,
                &admin,
                "PATCH",
                &path(&id1, "config"),
                &json!({"endpoint": "https://e", "retries": "5"}),
            ),
            200,
        );
        assert_eq!(
            p["config"],
            json!({"endpoint": "https://e", "region": "eu", "retries": "5"})
        );

        // ---- Secrets: declared names only; values never come back.
        let r = send(
            &server,
            &admin,
            "PUT",
            &path(&id1, "secrets"),
            &json!({"nope": "x"}),
        );
        refused(&r, "nope");
        let p = ok(
            &send(
                &server,
                &admin,
                "PUT",
                &path(&id1, "secrets"),
                &json!({"token": "Sup3r-s3cret-value"}),
            ),
            200,
        );
        assert_eq!(
            p["secrets"],
            json!({"declared": ["token"], "bound": ["token"]})
        );
        let detail = get(&server, &admin, &path(&id1, ""));
        assert!(!detail.body.contains("Sup3r-s3cret-value"));

        // ---- Enable: describe checked, loaded.
        let p = ok(
            &send(&server, &admin, "POST", &path(&id1, "enable"), &json!({})),
            200,
        );
        assert_eq!(
            (
                p["status"].as_str(),
                p["is_active"].as_bool(),
                p["loaded"].as_bool()
            ),
            (Some("enabled"), Some(true), Some(true)),
            "{p}"
        );
        let r = send(&server, &admin, "DELETE", &path(&id1, ""), &json!({}));
        refused(&r, "disable it first");

        // ---- The same version again is refused; a component whose describe disagrees with
        // its manifest installs but does not enable.
        let again = upload(
            &server,
            &admin,
            &bundle(data.path(), &dir1, Some(&key)),
            false,
        );
        refused(&again, "already installed");
        let m9 = manifest(
            "0.9.0",
            "acme",
            "platform-automation",
            &sha256_hex(&g.v1),
            "",
        );
        let dir9 = plugin_dir(work.path(), "v9", &m9, &g.v1);
        let v9 = ok(
            &upload(
                &server,
                &admin,
                &bundle(data.path(), &dir9, Some(&key)),
                false,
            ),
            201,
        );
        let id9 = v9["id"].as_str().unwrap().to_owned();
        let r = send(&server, &admin, "POST", &path(&id9, "enable"), &json!({}));
        refused(&r, "describes itself as misbehave@0.1.0");
        assert_eq!(
            ok(&get(&server, &admin, &path(&id1, "")), 200)["status"],
            "enabled"
        );
        assert_eq!(
            send(&server, &admin, "DELETE", &path(&id9, ""), &json!({})).status,
            204
        );

        // ---- Upgrade: v2 installs beside v1 and inherits the settings that still fit.
        let m2 = manifest(
            "0.2.0",
            "acme",
            "platform-automation",
            &sha256_hex(&g.v2),
            "",
        );
        let dir2 = plugin_dir(work.path(), "v2", &m2, &g.v2);
        let v2 = ok(
            &upload(
                &server,
                &admin,
                &bundle(data.path(), &dir2, Some(&key)),
                false,
            ),
            201,
        );
        let id2 = v2["id"].as_str().unwrap().to_owned();
        assert_eq!(v2["status"], "installed");
        assert_eq!(v2["grants"], p["grants"]);
        assert_eq!(v2["config"], p["config"]);
        assert_eq!(v2["secrets"]["bound"], json!(["token"]));
        let e2 = ok(
            &send(&server, &admin, "POST", &path(&id2, "enable"), &json!({})),
            200,
        );
        assert_eq!(e2["status"], "enabled");
        let old = ok(&get(&server, &admin, &path(&id1, "")), 200);
        assert_eq!(
            (
                old["status"].as_str(),
                old["is_active"].as_bool(),
                old["loaded"].as_bool()
            ),
            (Some("disabled"), Some(false), Some(false)),
            "{old}"
        );

        // ---- Rollback: v1 again.
        let back = ok(
            &send(&server, &admin, "POST", &path(&id2, "rollback"), &json!({})),
            200,
        );
        assert_eq!(
            (
                back["id"].as_str(),
                back["status"].as_str(),
                back["loaded"].as_bool()
            ),
            (Some(id1.as_str()), Some("enabled"), Some(true)),
            "{back}"
        );
        assert_eq!(
            ok(&get(&server, &admin, &path(&id2, "")), 200)["status"],
            "disabled"
        );
        let enabled = ok(
            &get(&server, &admin, &format!("{PLUGINS}?status=enabled")),
            200,
        );
        assert_eq!(enabled.as_array().unwrap().len(), 1, "{enabled}");

        // ---- Remove v2 (not enabled): row and files go.
        assert_eq!(
            send(&server, &admin, "DELETE", &path(&id2, ""), &json!({})).status,
            204
        );
        assert_eq!(get(&server, &admin, &path(&id2, "")).status, 404);
        assert_eq!(version_dirs(data.path()), vec!["misbehave/0.1.0"]);

        // ---- Disable, enable again.
        let d = ok(
            &send(&server, &admin, "POST", &path(&id1, "disable"), &json!({})),
            200,
        );
        assert_eq!(
            (d["status"].as_str(), d["loaded"].as_bool()),
            (Some("disabled"), Some(false))
        );
        refused(
            &send(&server, &admin, "POST", &path(&id1, "disable"), &json!({})),
            "not enabled",
        );
        ok(
            &send(&server, &admin, "POST", &path(&id1, "enable"), &json!({})),
            200,
        );

        // ---- Every change is in the operation log.
        let logs = plugin_oplogs(&db).await;
        let count =
            |action: &str, res: &str| logs.iter().filter(|(a, r)| a == action && r == res).count();
        assert_eq!(count("create", "misbehave@0.1.0"), 1, "{logs:?}");
        assert_eq!(count("create", "misbehave@0.2.0"), 1, "{logs:?}");
        assert_eq!(count("delete", "misbehave@0.2.0"), 1, "{logs:?}");
        assert_eq!(count("delete", "misbehave@0.9.0"), 1, "{logs:?}");
        // grant, config, secrets, enable, rollback (on v1's row), disable, enable.
        assert!(count("update", "misbehave@0.1.0") >= 7, "{logs:?}");
        assert!(
            !format!("{logs:?}").contains("Sup3r"),
            "no secret in the log"
        );

        // ---- A restart loads the enabled plugin, recompiling a stale artifact.
        drop(server);
        std::fs::write(files.join("plugin.cwasm"), b"stale").unwrap();
        let mut cmd = portcullis(data.path());
        cmd.env("PORTCULLIS_DATABASE_URL", &db.url)
            .env("PORTCULLIS_LOG", "info");
        let server = Server::start(cmd);
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let p = ok(&get(&server, &admin, &path(&id1, "")), 200);
        assert_eq!(
            (p["loaded"].as_bool(), p["load_error"].as_str()),
            (Some(true), Some("")),
            "{p}"
        );
        let log = crate::support::eventually(10, "the plugin load line", || {
            let e = server.stderr();
            e.contains("plugin loaded").then_some(e)
        });
        assert!(log.contains("misbehave@0.1.0"), "{log}");
        // The stale artifact was recompiled and rewritten.
        assert!(std::fs::read(files.join("plugin.cwasm")).unwrap().len() > 1000);

        // ---- A plugin that cannot load is marked and does not stop the server.
        drop(server);
        std::fs::write(files.join("plugin.cwasm"), b"stale").unwrap();
        std::fs::write(files.join("plugin.wasm"), b"changed on disk").unwrap();
        let mut cmd = portcullis(data.path());
        cmd.env("PORTCULLIS_DATABASE_URL", &db.url);
        let server = Server::start(cmd);
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let p = ok(&get(&server, &admin, &path(&id1, "")), 200);
        assert_eq!(p["loaded"], false, "{p}");
        assert!(p["load_error"].as_str().unwrap().contains("digest"), "{p}");
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn bad_bundles_are_refused_with_a_reason_and_nothing_is_written() {
    let g = guests();
    for db in TestDb::both().await {
        let data = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let server = start(&db, data.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let key = trusted_key(&server, &admin, data.path(), work.path(), "acme", "acme");
        let stranger = work.path().join("stranger");
        tool(data.path(), &["keygen", "-o", stranger.to_str().unwrap()]);
        let stranger = stranger.with_extension("key");
        let digest = sha256_hex(&g.v1);
        let good = manifest("0.1.0", "acme", "platform-automation", &digest, "");

        // Unsigned: refused while the setting is off (the default).
        let dir = plugin_dir(work.path(), "unsigned", &good, &g.v1);
        let unsigned = bundle(data.path(), &dir, None);
        refused(&upload(&server, &admin, &unsigned, false), "not signed");
        // Signed by a key nobody trusts.
        let dir = plugin_dir(work.path(), "stranger", &good, &g.v1);
        refused(
            &upload(
                &server,
                &admin,
                &bundle(data.path(), &dir, Some(&stranger)),
                false,
            ),
            "not a trusted key",
        );
        // A trusted key, but for another publisher than the manifest names.
        let evil = manifest("0.1.0", "evil", "platform-automation", &digest, "");
        let dir = plugin_dir(work.path(), "evil", &evil, &g.v1);
        refused(
            &upload(
                &server,
                &admin,
                &bundle(data.path(), &dir, Some(&key)),
                false,
            ),
            "publisher",
        );
        // Signed, then the manifest changed: the signature no longer matches.
        let dir = plugin_dir(work.path(), "tampered", &good, &g.v1);
        tool(
            data.path(),
            &[
                "sign",
                dir.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        );
        std::fs::write(
            dir.join("plugin.toml"),
            good.replace("The test guest.", "Trust me."),
        )
        .unwrap();
        refused(
            &upload(&server, &admin, &raw_bundle(&dir), false),
            "does not match plugin.toml",
        );
        // The component changed after packing: the digest is wrong.
        let dir = plugin_dir(work.path(), "digest", &good, &g.v1);
        std::fs::write(dir.join("plugin.wasm"), &g.v2).unwrap();
        refused(
            &upload(&server, &admin, &raw_bundle(&dir), false),
            "SHA-256",
        );
        // Not a bundle at all; a JSON body.
        refused(&upload(&server, &admin, b"hello", false), "not gzip");
        let r = send(
            &server,
            &admin,
            "POST",
            PLUGINS,
            &json!({"path": "/tmp/x.tgz"}),
        );
        refused(&r, "multipart");

        // With unsigned plugins allowed, manifest and component checks still apply.
        let s = ok(
            &send(
                &server,
                &admin,
                "PATCH",
                SETTINGS,
                &json!({"allow_unsigned": true}),
            ),
            200,
        );
        assert_eq!(s["allow_unsigned"], true);
        let bad_key = good.replace("reveal = true", "reveal = true\nhtp = []");
        let dir = plugin_dir(work.path(), "unknown-key", &bad_key, &g.v1);
        refused(
            &upload(&server, &admin, &raw_bundle(&dir), false),
            "capabilities.htp",
        );
        let bad_type = good.replace("remote = true", "remote = \"yes\"");
        let dir = plugin_dir(work.path(), "bad-type", &bad_type, &g.v1);
        refused(
            &upload(&server, &admin, &raw_bundle(&dir), false),
            "capabilities.remote",
        );
        let core_module = b"\0asm\x01\0\0\0".to_vec();
        let dir = plugin_dir(
            work.path(),
            "core-module",
            &manifest(
                "0.1.0",
                "acme",
                "platform-automation",
                &sha256_hex(&core_module),
                "",
            ),
            &core_module,
        );
        refused(
            &upload(&server, &admin, &raw_bundle(&dir), false),
            "not a WebAssembly component",
        );
        let dir = plugin_dir(
            work.path(),
            "wrong-world",
            &manifest(
                "0.1.0",
                "acme",
                "platform-automation",
                &sha256_hex(&g.autofill),
                "",
            ),
            &g.autofill,
        );
        refused(
            &upload(&server, &admin, &raw_bundle(&dir), false),
            "platform-automation",
        );

        assert_eq!(ok(&get(&server, &admin, PLUGINS), 200), json!([]));
        // Every refusal is in the operation log, with the plugin it claimed to be.
        let rejects: Vec<_> = plugin_oplogs(&db)
            .await
            .into_iter()
            .filter(|(action, _)| action == "reject")
            .collect();
        assert!(rejects.len() >= 8, "{rejects:?}");
        assert!(
            rejects.iter().any(|(_, what)| what.ends_with("@0.1.0")),
            "{rejects:?}"
        );
        assert!(
            version_dirs(data.path()).is_empty(),
            "{:?}",
            version_dirs(data.path())
        );

        // ... and an unsigned bundle installs, marked unsigned.
        let p = ok(&upload(&server, &admin, &unsigned, false), 201);
        assert_eq!(
            (p["signed"].as_bool(), p["signed_key_id"].is_null()),
            (Some(false), true)
        );

        // Trusted keys: listed, bad keys refused, removed.
        let keys = ok(&get(&server, &admin, KEYS), 200);
        assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
        let key_id = keys[0]["key_id"].as_str().unwrap().to_owned();
        assert_eq!(key_id.len(), 16);
        refused(
            &send(
                &server,
                &admin,
                "POST",
                KEYS,
                &json!({"publisher": "x", "public_key": "ed25519:AAAA"}),
            ),
            "public_key",
        );
        assert_eq!(
            send(
                &server,
                &admin,
                "DELETE",
                &format!("{KEYS}{key_id}/"),
                &json!({})
            )
            .status,
            204
        );
        assert_eq!(ok(&get(&server, &admin, KEYS), 200), json!([]));
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn the_command_line_installs_grants_enables_and_upgrades() {
    let g = guests();
    for db in TestDb::both().await {
        let data = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let cli = |args: &[&str]| {
            let out = run(portcullis(data.path())
                .env("PORTCULLIS_DATABASE_URL", &db.url)
                .arg("plugin")
                .args(args));
            (out.status.success(), text(&out))
        };
        let stem = work.path().join("acme");
        tool(data.path(), &["keygen", "-o", stem.to_str().unwrap()]);
        let key = stem.with_extension("key");
        let public = stem.with_extension("pub");
        let dir1 = plugin_dir(
            work.path(),
            "v1",
            &manifest(
                "0.1.0",
                "acme",
                "platform-automation",
                &sha256_hex(&g.v1),
                "",
            ),
            &g.v1,
        );
        tool(
            data.path(),
            &[
                "sign",
                dir1.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        );

        let (okay, out) = cli(&["install", dir1.to_str().unwrap()]);
        assert!(!okay && out.contains("not a trusted key"), "{out}");
        let (okay, out) = cli(&[
            "trust",
            "add",
            "--publisher",
            "acme",
            public.to_str().unwrap(),
        ]);
        assert!(okay, "{out}");
        let (okay, out) = cli(&["install", dir1.to_str().unwrap()]);
        assert!(okay && out.contains("installed misbehave@0.1.0"), "{out}");
        let (okay, out) = cli(&["grant", "misbehave", "--http", "https://x.example.com"]);
        assert!(!okay && out.contains("not requested"), "{out}");
        let (okay, out) = cli(&["grant", "misbehave", "--all"]);
        assert!(okay, "{out}");
        let (okay, out) = cli(&["enable", "misbehave"]);
        assert!(!okay && out.contains("endpoint"), "{out}");
        let (okay, out) = cli(&["config", "misbehave", "endpoint=https://e", "retries=x"]);
        assert!(!okay && out.contains("retries"), "{out}");
        let (okay, out) = cli(&["config", "misbehave", "endpoint=https://e"]);
        assert!(okay && out.contains("\"region\": \"eu\""), "{out}");
        let (okay, out) = cli(&["enable", "misbehave"]);
        assert!(okay && out.contains("enabled misbehave@0.1.0"), "{out}");

        let dir2 = plugin_dir(
            work.path(),
            "v2",
            &manifest(
                "0.2.0",
                "acme",
                "platform-automation",
                &sha256_hex(&g.v2),
                "",
            ),
            &g.v2,
        );
        let b2 = bundle(data.path(), &dir2, Some(&key));
        let file2 = work.path().join("v2-signed.tgz");
        std::fs::write(&file2, b2).unwrap();
        let (okay, out) = cli(&["upgrade", file2.to_str().unwrap()]);
        assert!(okay && out.contains("enabled misbehave@0.2.0"), "{out}");
        let (okay, out) = cli(&["list"]);
        assert!(okay, "{out}");
        assert!(
            out.contains("misbehave@0.2.0 (platform-automation, enabled, active"),
            "{out}"
        );
        assert!(
            out.contains("misbehave@0.1.0 (platform-automation, disabled"),
            "{out}"
        );
        let (okay, out) = cli(&["rollback", "misbehave"]);
        assert!(okay && out.contains("enabled misbehave@0.1.0"), "{out}");
        let (okay, out) = cli(&["remove", "misbehave@0.2.0"]);
        assert!(okay, "{out}");
        let (okay, out) = cli(&["show", "misbehave"]);
        assert!(okay && out.contains("\"status\": \"enabled\""), "{out}");
        let (okay, out) = cli(&["allow-unsigned"]);
        assert!(okay && out.contains("refused"), "{out}");
        db.drop_db().await;
    }
}

/// `(version, loaded)` of every version of the plugin, as the running server's API reports them.
fn loaded_versions(server: &Server, token: &str) -> Vec<(String, bool)> {
    let list = ok(&get(server, token, PLUGINS), 200);
    let mut out: Vec<(String, bool)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["version"].as_str().unwrap().to_owned(),
                p["loaded"].as_bool().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn command_line_changes_reach_a_running_server_without_a_restart() {
    let g = guests();
    for db in TestDb::both().await {
        let data = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let mut serve = portcullis(data.path());
        serve
            .env("PORTCULLIS_DATABASE_URL", &db.url)
            .env("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("PORTCULLIS_LOG", "info");
        let server = Server::start(serve);
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let key = trusted_key(&server, &admin, data.path(), work.path(), "acme", "acme");
        let cli = |args: &[&str]| {
            let out = run(portcullis(data.path())
                .env("PORTCULLIS_DATABASE_URL", &db.url)
                .arg("plugin")
                .args(args));
            assert!(out.status.success(), "plugin {args:?}: {}", text(&out));
        };
        let signed = |name: &str, version: &str, wasm: &[u8]| {
            let m = manifest(
                version,
                "acme",
                "platform-automation",
                &sha256_hex(wasm),
                "",
            );
            let dir = plugin_dir(work.path(), name, &m, wasm);
            let file = work.path().join(format!("{name}.tgz"));
            std::fs::write(&file, bundle(data.path(), &dir, Some(&key))).unwrap();
            file
        };
        let state = |want: &[(&str, bool)]| {
            let want: Vec<(String, bool)> = want.iter().map(|(v, l)| (v.to_string(), *l)).collect();
            let what = format!("the server to report {want:?}");
            eventually(10, &what, || {
                (loaded_versions(&server, &admin) == want).then_some(())
            });
        };

        // Installed, configured and enabled by the command line while the server runs.
        let v1 = signed("v1", "0.1.0", &g.v1);
        cli(&["install", v1.to_str().unwrap()]);
        cli(&["grant", "misbehave", "--all"]);
        cli(&["config", "misbehave", "endpoint=https://e"]);
        state(&[("0.1.0", false)]);
        cli(&["enable", "misbehave"]);
        state(&[("0.1.0", true)]);

        // Disabled, then enabled again.
        cli(&["disable", "misbehave"]);
        state(&[("0.1.0", false)]);
        cli(&["enable", "misbehave"]);
        state(&[("0.1.0", true)]);

        // Upgraded (the new version swapped in), then rolled back.
        let v2 = signed("v2", "0.2.0", &g.v2);
        cli(&["upgrade", v2.to_str().unwrap()]);
        state(&[("0.1.0", false), ("0.2.0", true)]);
        cli(&["rollback", "misbehave"]);
        state(&[("0.1.0", true), ("0.2.0", false)]);

        let logs = server.stderr();
        for (message, plugin) in [
            (
                "plugin enabled elsewhere: loaded and swapped in",
                "misbehave@0.1.0",
            ),
            ("plugin disabled elsewhere: unloaded", "misbehave@0.1.0"),
            (
                "plugin enabled elsewhere: loaded and swapped in",
                "misbehave@0.2.0",
            ),
        ] {
            assert!(
                logs.lines()
                    .any(|l| l.contains(message) && l.contains(plugin)),
                "the server logs each change ({message} {plugin}): {logs}"
            );
        }
        db.drop_db().await;
    }
}

/// A plugin that traps, spins forever or blows up its memory, installed through the API the way
/// an administrator would and invoked through an automation of the running server: each call
/// ends in its limit (trap, deadline, memory limit) and fails the execution with the reason,
/// the server keeps answering other requests while a call spins, a well-behaved call works
/// right after, and every call is in `GET /plugins/<name>/invocations/` with its outcome, which
/// the plugin page's Invocations tab shows in a real browser (`tests/web/plugin_calls.spec.mjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_plugin_is_contained_by_the_running_host_and_its_calls_recorded() {
    let g = guests();
    let mut in_browser = true;
    for db in TestDb::both().await {
        let data = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let server = start(&db, data.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        ok(
            &send(
                &server,
                &admin,
                "PATCH",
                SETTINGS,
                &json!({"allow_unsigned": true}),
            ),
            200,
        );
        // Tight limits so the runaway calls end quickly; `behaviour` is the guest's parameter.
        let m = manifest(
            "0.1.0",
            "acme",
            "platform-automation",
            &sha256_hex(&g.v1),
            "[automation.params]\nbehaviour = { type = \"string\" }\n\n[limits]\ntimeout_s = 2\nmemory_mb = 16\n",
        );
        let dir = plugin_dir(work.path(), "bad", &m, &g.v1);
        let installed = ok(
            &upload(&server, &admin, &bundle(data.path(), &dir, None), false),
            201,
        );
        let id = installed["id"].as_str().unwrap().to_owned();
        ok(
            &send(
                &server,
                &admin,
                "PATCH",
                &path(&id, "grant"),
                &json!({"remote": true}),
            ),
            200,
        );
        ok(
            &send(
                &server,
                &admin,
                "PATCH",
                &path(&id, "config"),
                &json!({"endpoint": "https://e"}),
            ),
            200,
        );
        ok(
            &send(&server, &admin, "POST", &path(&id, "enable"), &json!({})),
            200,
        );
        ok(
            &send(
                &server,
                &admin,
                "PATCH",
                "/api/v1/assets/platforms/1/automation/",
                &json!({"ping_enabled": true, "ping_method": "misbehave"}),
            ),
            200,
        );
        let asset = ok(
            &send(
                &server,
                &admin,
                "POST",
                "/api/v1/assets/hosts/",
                &json!({"name": "contained", "address": "127.0.0.1", "platform": 1,
                        "protocols": [{"name": "ssh", "port": 1}],
                        "accounts": [{"name": "op", "username": "op",
                                      "secret_type": "password", "secret": "Op-pw-12345"}]}),
            ),
            201,
        )["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let ping_path = format!("/api/v1/assets/assets/{asset}/automations/ping/");
        let ping = |behaviour: &str| {
            ok(
                &send(
                    &server,
                    &admin,
                    "POST",
                    &ping_path,
                    &json!({"params": {"behaviour": behaviour}}),
                ),
                200,
            )
        };

        // A call that spins forever: while it runs, the server answers other requests.
        let spinning = std::thread::scope(|s| {
            let call = s.spawn(|| ping("loop"));
            let mut answered = 0;
            while !call.is_finished() {
                let started = std::time::Instant::now();
                let r = get(&server, &admin, "/api/v1/users/profile/");
                assert_eq!(r.status, 200, "{}", r.body);
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(2),
                    "a request took {:?} while the plugin spun",
                    started.elapsed()
                );
                answered += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            assert!(
                answered >= 3,
                "only {answered} requests answered during the call"
            );
            call.join().unwrap()
        });
        let trapped = ping("panic");
        let blown = ping("alloc");
        for (e, what) in [(&spinning, "loop"), (&trapped, "panic"), (&blown, "alloc")] {
            assert_eq!(e["status"], "failed", "{what}: {e}");
            assert!(
                !e["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty(),
                "{what}: {e}"
            );
        }
        // The host is fine: a good call right after succeeds.
        let fine = ping("ok");
        assert_eq!(fine["status"], "success", "{fine}");

        // Every call recorded with its outcome and the execution that made it.
        let list = ok(
            &get(
                &server,
                &admin,
                "/api/v1/plugins/misbehave/invocations/?limit=50",
            ),
            200,
        );
        let rows = list["results"].as_array().unwrap();
        let outcome_of = |execution: &Value| -> String {
            let row = rows
                .iter()
                .find(|r| r["trigger"]["ref"] == execution["id"])
                .unwrap_or_else(|| panic!("no invocation for {execution} in {list}"));
            assert_eq!(row["export"], "ping", "{row}");
            assert_eq!(row["trigger"]["kind"], "automation", "{row}");
            row["outcome"].as_str().unwrap_or_default().to_owned()
        };
        assert_eq!(outcome_of(&spinning), "deadline", "{list}");
        assert_eq!(outcome_of(&trapped), "trap", "{list}");
        assert_eq!(outcome_of(&blown), "memory_limit", "{list}");
        assert_eq!(outcome_of(&fine), "ok", "{list}");
        let failed = ok(
            &get(
                &server,
                &admin,
                "/api/v1/plugins/misbehave/invocations/?outcome=deadline&limit=10",
            ),
            200,
        );
        assert_eq!(failed["count"], 1, "{failed}");
        // The plugin is still enabled and the server still up.
        let p = ok(&get(&server, &admin, &path(&id, "")), 200);
        assert_eq!(p["is_active"], true, "{p}");
        // The plugin page shows the same calls (once: the page does not depend on the database).
        if std::mem::take(&mut in_browser) {
            crate::web_ui::run_spec(
                "plugin_calls.spec.mjs",
                &server,
                &[
                    ("PC_ADMIN_USER", "admin".into()),
                    ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
                    ("PC_PLUGIN_ID", id.clone()),
                ],
                std::time::Duration::from_secs(120),
            );
        }
        db.drop_db().await;
    }
}
