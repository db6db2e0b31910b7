//! Platform automations through plugins, against real OpenSSH targets.
//!
//! First the `remote` capability on its own ([`SshRemote`], the session engine's SSH client
//! under the plugin interface): commands with their output, exit status, signals and
//! timeouts; the interactive shell with `expect`; refused credentials, unreachable hosts,
//! changed host keys and the hop through a zone's gateway. Then the whole path through the
//! API with the Linux plugin: install, grant, enable, and every method on a target whose
//! account files are its own (`SshdOptions::private_etc`), checked from outside with real
//! logins.

use crate::client::{ADMIN_PASSWORD, get, send, start, token};
use crate::sshd::{PASSWORD, Sshd, SshdOptions};
use crate::store::ready;
use crate::support::{HttpResponse, Server, TestDb, free_port, id_of, ok, rows};
use portcullis_automation::remote::SshRemote;
use portcullis_core::builtin::DEFAULT_ORG_ID;
use portcullis_core::secret::SecretString;
use portcullis_core::vault::{MasterKey, Vault};
use portcullis_plugin::caps::RemoteProvider;
use portcullis_plugin::error::PluginError;
use portcullis_plugin::types::{Protocol, Target};
use portcullis_session::authorize::TargetTimeouts;
use portcullis_store::Store;
use portcullis_store::accounts::NewAccount;
use portcullis_store::assets::NewAsset;
use serde_json::{Value, json};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The remote capability on its own
// ---------------------------------------------------------------------------------------------

/// A store with assets and accounts for [`SshRemote`] tests.
struct Bench {
    _db: TestDb,
    store: Store,
    vault: Vault,
}

impl Bench {
    async fn new() -> Bench {
        let db = TestDb::sqlite();
        let store = ready(&db).await;
        Bench {
            _db: db,
            store,
            vault: Vault::new(MasterKey::generate(), vec![]),
        }
    }

    async fn asset(&self, name: &str, port: u16, zone: Option<Uuid>, gateway: bool) -> Uuid {
        self.store
            .create_asset(&NewAsset {
                org: DEFAULT_ORG_ID,
                name: format!("{name}-{}", Uuid::new_v4().simple()),
                address: "127.0.0.1".into(),
                platform_id: 1,
                zone,
                is_active: true,
                is_gateway: gateway,
                spec: serde_json::json!({}),
                custom_info: serde_json::json!({}),
                comment: String::new(),
                protocols: vec![("ssh".into(), i64::from(port))],
                node_ids: vec![],
                node_paths: vec![],
                created_by: "e2e".into(),
            })
            .await
            .expect("create asset")
    }

    async fn account(&self, asset: Uuid, username: &str, kind: &str, secret: &str) -> Uuid {
        self.store
            .create_accounts(
                &self.vault,
                &[NewAccount {
                    org_id: DEFAULT_ORG_ID,
                    asset_id: asset,
                    name: format!("{username}-{kind}"),
                    username: Some(username.into()),
                    secret_type: kind.into(),
                    secret: Some(SecretString::new(secret)),
                    passphrase: None,
                    privileged: true,
                    is_active: true,
                    source: "local".into(),
                    source_id: None,
                    template_id: None,
                    su_from: None,
                    params: serde_json::json!({}),
                    comment: String::new(),
                    created_by: "e2e".into(),
                }],
            )
            .await
            .expect("create account")[0]
    }

    fn remote(&self) -> SshRemote {
        SshRemote::new(
            self.store.clone(),
            self.vault.clone(),
            TargetTimeouts {
                connect: Duration::from_secs(10),
                keepalive: None,
            },
        )
    }
}

fn target(asset: Uuid, account: Option<Uuid>) -> Target {
    Target {
        asset_id: asset.to_string(),
        account_id: account.map(|a| a.to_string()),
        protocol: Protocol::Ssh,
    }
}

fn re(patterns: &[&str]) -> Vec<regex::Regex> {
    patterns
        .iter()
        .map(|p| regex::Regex::new(p).unwrap())
        .collect()
}

const SECS: Duration = Duration::from_secs(10);

#[tokio::test]
async fn ssh_remote_runs_commands_with_output_status_signals_and_timeouts() {
    let sshd = Sshd::start("");
    let b = Bench::new().await;
    let asset = b.asset("web", sshd.port(), None, false).await;
    let account = b.account(asset, sshd.user(), "password", PASSWORD).await;
    let remote = b.remote().with_output_cap(64);
    let mut s = remote
        .open("t", &target(asset, Some(account)), SECS)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));

    let out = s.run("echo out; echo err >&2; exit 3", SECS).await.unwrap();
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.exit_code, Some(3));
    let out = s.run("id -un", SECS).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), sshd.user());
    assert_eq!(out.exit_code, Some(0));

    // A signal leaves no exit code.
    let out = s.run("kill -TERM $$", SECS).await.unwrap();
    assert_eq!(out.exit_code, None, "{out:?}");

    // Output past the cap is read and dropped.
    let out = s.run("seq 1 10000", SECS).await.unwrap();
    assert_eq!(out.stdout.len(), 64);
    assert_eq!(out.exit_code, Some(0));

    // A command that outlives its timeout ends the call, not the session.
    let started = Instant::now();
    let err = s
        .run("sleep 30", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(err, PluginError::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.run("echo still", SECS).await.unwrap().stdout, b"still\n");
    s.close().await;
    assert!(matches!(
        s.run("true", SECS).await,
        Err(PluginError::Unavailable(_))
    ));
}

#[tokio::test]
async fn ssh_remote_shell_sends_and_expects_since_the_last_match() {
    let sshd = Sshd::start("");
    std::fs::write(sshd.home().join(".bash_profile"), "PS1='pct$ '\n").unwrap();
    let b = Bench::new().await;
    let asset = b.asset("shell", sshd.port(), None, false).await;
    let account = b.account(asset, sshd.user(), "password", PASSWORD).await;
    // A target without an account uses the host's choice for the asset.
    let remote = b.remote().with_default_account(asset, account);
    let mut s = remote.open("t", &target(asset, None), SECS).await.unwrap();

    let prompt = re(&[r"pct\$ $"]);
    s.expect(&prompt, SECS).await.unwrap();
    s.send(b"echo sum=$((40+2))\n").await.unwrap();
    let m = s
        .expect(&re(&["nomatch", r"sum=(\d+)\r?\n"]), SECS)
        .await
        .unwrap();
    assert_eq!(m.index, 1);
    // The echo of the typed line comes first, then the result.
    let text = String::from_utf8_lossy(&m.output).into_owned();
    assert!(text.ends_with("sum=42\r\n"), "{text:?}");
    assert!(text.contains("echo sum=$((40+2))"), "{text:?}");
    // Matching starts after the last match: the prompt printed after the output is next.
    s.expect(&prompt, SECS).await.unwrap();
    let started = Instant::now();
    assert_eq!(
        s.expect(&prompt, Duration::from_millis(300))
            .await
            .unwrap_err(),
        PluginError::Timeout
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    // An interactive program: read a line with echo off.
    s.send(b"read -s -p 'Secret: ' v; echo; echo len=${#v}\n")
        .await
        .unwrap();
    s.expect(&re(&["Secret: $"]), SECS).await.unwrap();
    s.send(b"hunter22\n").await.unwrap();
    let m = s.expect(&re(&[r"len=(\d+)"]), SECS).await.unwrap();
    let text = String::from_utf8_lossy(&m.output).into_owned();
    assert!(
        text.contains("len=8") && !text.contains("hunter22"),
        "{text:?}"
    );

    // Commands still run beside the shell.
    assert_eq!(s.run("echo side", SECS).await.unwrap().stdout, b"side\n");

    // The shell ends: expect says so instead of waiting out its timeout.
    s.send(b"exit\n").await.unwrap();
    let started = Instant::now();
    let err = s.expect(&re(&["never"]), SECS).await.unwrap_err();
    assert!(matches!(err, PluginError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    s.close().await;
}

#[tokio::test]
async fn ssh_remote_reports_refusals_unreachable_hosts_and_changed_keys() {
    let mut sshd = Sshd::start("");
    let b = Bench::new().await;
    let asset = b.asset("refuse", sshd.port(), None, false).await;
    let good = b.account(asset, sshd.user(), "password", PASSWORD).await;
    let remote = b.remote();
    let wrong = b.account(asset, sshd.user(), "api_key", "Wrong-pw-1").await;
    // (An account of another type on the same username: its secret is a wrong password.)
    match remote.open("t", &target(asset, Some(wrong)), SECS).await {
        Err(PluginError::Unauthorized(m)) => assert!(m.contains(sshd.user()), "{m}"),
        other => panic!("{:?}", other.err()),
    }
    // A key that is not authorized.
    let key = b.account(asset, sshd.user(), "ssh_key", &other_key()).await;
    assert!(matches!(
        remote
            .open("t", &target(asset, Some(key)), SECS)
            .await
            .err(),
        Some(PluginError::Unauthorized(_))
    ));
    // An override replaces the vaulted secret (how a new secret is verified).
    let overridden = b.remote().with_credential(
        wrong,
        portcullis_session::target::Credential::Password(SecretString::new(PASSWORD)),
    );
    overridden
        .open("t", &target(asset, Some(wrong)), SECS)
        .await
        .expect("the override logs in")
        .close()
        .await;

    // Ids that are not UUIDs, accounts of other assets, other protocols.
    let mut t = target(asset, Some(good));
    t.asset_id = "web-1".into();
    assert!(matches!(
        remote.open("t", &t, SECS).await.err(),
        Some(PluginError::InvalidInput(_))
    ));
    let elsewhere = b.asset("other", sshd.port(), None, false).await;
    assert!(matches!(
        remote
            .open("t", &target(elsewhere, Some(good)), SECS)
            .await
            .err(),
        Some(PluginError::NotFound(_))
    ));
    let mut telnet = target(asset, Some(good));
    telnet.protocol = Protocol::Telnet;
    assert!(matches!(
        remote.open("t", &telnet, SECS).await.err(),
        Some(PluginError::InvalidInput(_))
    ));

    // First use records the host key; a new key is refused before any credential is sent.
    remote
        .open("t", &target(asset, Some(good)), SECS)
        .await
        .unwrap()
        .close()
        .await;
    sshd.new_host_key();
    match remote.open("t", &target(asset, Some(good)), SECS).await {
        Err(PluginError::Unavailable(m)) => assert!(m.contains("host key"), "{m}"),
        other => panic!("{:?}", other.err()),
    }

    // Nothing listens: unavailable, quickly.
    let closed = b.asset("closed", free_port(), None, false).await;
    let acc = b.account(closed, "root", "password", "x-Password-1").await;
    let started = Instant::now();
    match remote.open("t", &target(closed, Some(acc)), SECS).await {
        Err(PluginError::Unavailable(m)) => assert!(m.contains("Cannot connect"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn ssh_remote_reaches_an_asset_through_its_zone_gateway() {
    let gateway = Sshd::start("");
    let behind = Sshd::start("");
    let b = Bench::new().await;
    let zone = b
        .store
        .create_zone(DEFAULT_ORG_ID, "dmz", "", None, "e2e")
        .await
        .unwrap();
    let gw = b.asset("gw", gateway.port(), Some(zone), true).await;
    b.account(gw, gateway.user(), "password", PASSWORD).await;
    let asset = b.asset("behind", behind.port(), Some(zone), false).await;
    let account = b.account(asset, behind.user(), "password", PASSWORD).await;
    let mut s = b
        .remote()
        .open("t", &target(asset, Some(account)), SECS)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", gateway.log()));
    assert_eq!(s.run("echo via", SECS).await.unwrap().stdout, b"via\n");
    s.close().await;
    assert!(
        gateway.log().contains("direct-tcpip")
            || gateway.log().contains(&behind.port().to_string()),
        "{}",
        gateway.log()
    );
}

/// A private key the fixture servers do not accept.
fn other_key() -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k");
    crate::sshd::keygen(&path, "ed25519", &[]);
    std::fs::read_to_string(path).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Through the API with the Linux plugin
// ---------------------------------------------------------------------------------------------

/// The built Linux plugin (`plugins/build.sh` puts it next to the binaries' target dir).
pub(crate) fn linux_plugin_dir() -> std::path::PathBuf {
    let dir = crate::support::binary()
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target dir")
        .join("plugins/portcullis-linux");
    assert!(
        dir.join("plugin.wasm").exists(),
        "{} has no plugin.wasm: build it with plugins/build.sh (tests/run.sh does)",
        dir.display()
    );
    dir
}

/// POSTs raw bytes (a plugin bundle) with a bearer token.
pub(crate) fn upload(server: &Server, token: &str, path: &str, bytes: &[u8]) -> HttpResponse {
    use std::io::{Read, Write};
    let addr = server.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\n\r\n",
        bytes.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(bytes).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // The answer may be chunked: keep the JSON between the first `{` and the last `}`.
    let body = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) if a <= b => body[a..=b].to_owned(),
        _ => body.to_owned(),
    };
    HttpResponse {
        status,
        headers: Vec::new(),
        body,
    }
}

/// `sshpass` + `ssh` straight to the target as `user` with `password`, running `command`
/// (`tty` forces a terminal, which makes the target record the login).
pub(crate) fn ssh_as(port: u16, user: &str, password: &str, command: &str, tty: bool) -> Output {
    let mut c = Command::new("sshpass");
    c.arg("-e")
        .args(["timeout", "-k", "5", "30", "ssh", "-F", "/dev/null"])
        .args(["-p", &port.to_string()])
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null"])
        .args(["-o", "LogLevel=ERROR"])
        .args(["-o", "PubkeyAuthentication=no"])
        .args(["-o", "PreferredAuthentications=password"])
        .args(["-o", "NumberOfPasswordPrompts=1"])
        .args(["-o", "IdentityAgent=none"]);
    if tty {
        c.arg("-tt");
    }
    c.arg(format!("{user}@127.0.0.1"))
        .arg(command)
        .env("SSHPASS", password)
        .stdin(Stdio::null())
        .output()
        .expect("sshpass")
}

fn out_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A running Portcullis with the Linux plugin enabled for the Linux platform, and a target
/// (own `/etc`, `/home`, `/var/log`) registered as an asset with `root` (privileged, SSH key)
/// and the fixture's password account. The browser test of the accounts list's automations
/// (`web_automation`) uses it too.
pub(crate) struct Scene {
    pub(crate) server: Server,
    pub(crate) sshd: Sshd,
    pub(crate) admin: String,
    pub(crate) data: tempfile::TempDir,
    _keys: tempfile::TempDir,
    plugin: String,
    pub(crate) asset: String,
    root: String,
    pub(crate) user: String,
    timings: Vec<(String, Duration)>,
}

impl Scene {
    pub(crate) fn new(db: &TestDb) -> Scene {
        let keys = tempfile::tempdir().unwrap();
        let root_key = keys.path().join("root");
        crate::sshd::keygen(&root_key, "ed25519", &[]);
        let root_authorized = keys.path().join("root.pub");
        let sshd = Sshd::with(SshdOptions {
            extra: format!(
                "PermitRootLogin prohibit-password\nDenyUsers pcdeny\n\
                 Match User root\n    AuthorizedKeysFile {}\n",
                root_authorized.display()
            ),
            private_etc: true,
            ..SshdOptions::default()
        });
        let data = tempfile::tempdir().unwrap();
        let server = start(db, data.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let mut scene = Scene {
            server,
            sshd,
            admin,
            data,
            plugin: String::new(),
            asset: String::new(),
            root: String::new(),
            user: String::new(),
            timings: Vec::new(),
            _keys: keys,
        };

        // Install the bundle through the lifecycle API, grant `remote`, enable.
        let started = Instant::now();
        ok(
            &scene.send(
                "PATCH",
                "/api/v1/plugins/settings/",
                &json!({"allow_unsigned": true}),
            ),
            200,
        );
        let bundle = scene.data.path().join("linux.tar.gz");
        crate::sshd::sh(
            Command::new("tar")
                .arg("-C")
                .arg(linux_plugin_dir())
                .arg("-czf")
                .arg(&bundle)
                .args(["plugin.toml", "plugin.wasm"]),
        );
        let installed = upload(
            &scene.server,
            &scene.admin,
            "/api/v1/plugins/plugins/",
            &std::fs::read(&bundle).unwrap(),
        );
        scene.plugin = id_of(&ok(&installed, 201));
        let p = format!("/api/v1/plugins/plugins/{}", scene.plugin);
        ok(
            &scene.send("PUT", &format!("{p}/grant/"), &json!({"remote": true})),
            200,
        );
        ok(
            &scene.send("POST", &format!("{p}/enable/"), &json!({})),
            200,
        );
        scene.time("install, grant and enable the plugin", started);

        // The Linux platform runs every method with it.
        let mut settings = serde_json::Map::new();
        for m in [
            "ping",
            "verify_account",
            "change_secret",
            "push_account",
            "gather_accounts",
            "remove_account",
        ] {
            settings.insert(format!("{m}_enabled"), json!(true));
            settings.insert(format!("{m}_method"), json!("portcullis-linux"));
        }
        let after = ok(
            &scene.send(
                "PATCH",
                "/api/v1/assets/platforms/1/automation/",
                &Value::Object(settings),
            ),
            200,
        );
        assert_eq!(after["remove_account_method"], "portcullis-linux");
        // The built-in push parameters stay (JumpServer's sudo/shell/home/groups).
        assert_eq!(
            after["push_account_params"]["shell"], "/bin/bash",
            "{after}"
        );

        scene.asset = id_of(&ok(
            &scene.send(
                "POST",
                "/api/v1/assets/hosts/",
                &json!({"name": "linux-1", "address": "127.0.0.1", "platform": 1,
                        "protocols": [{"name": "ssh", "port": scene.sshd.port()}]}),
            ),
            201,
        ));
        scene.root = scene.account(json!({
            "name": "root", "username": "root", "secret_type": "ssh_key",
            "secret": std::fs::read_to_string(&root_key).unwrap(), "privileged": true}));
        scene.user = scene.account(json!({
            "name": "target", "username": scene.sshd.user(), "secret_type": "password",
            "secret": scene.sshd.password()}));
        scene
    }

    fn send(&self, method: &str, path: &str, body: &Value) -> HttpResponse {
        send(&self.server, &self.admin, method, path, body)
    }

    fn get(&self, path: &str) -> HttpResponse {
        get(&self.server, &self.admin, path)
    }

    pub(crate) fn account(&self, mut body: Value) -> String {
        body["asset"] = json!(self.asset);
        id_of(&ok(
            &self.send("POST", "/api/v1/accounts/accounts/", &body),
            201,
        ))
    }

    fn time(&mut self, what: &str, started: Instant) {
        self.timings.push((what.to_owned(), started.elapsed()));
    }

    /// Runs `method` and returns the execution (the answer must be 200).
    fn run(&mut self, method: &str, body: Value) -> Value {
        let started = Instant::now();
        let r = self.send(
            "POST",
            &format!("/api/v1/assets/assets/{}/automations/{method}/", self.asset),
            &body,
        );
        self.time(method, started);
        let v = ok(&r, 200);
        assert_eq!(v["method"], method.replace('-', "_"), "{v}");
        v
    }

    /// Runs `method` and insists it succeeded.
    fn success(&mut self, method: &str, body: Value) -> Value {
        let v = self.run(method, body);
        assert_eq!(
            v["status"],
            "success",
            "{method}: {}\n{}",
            serde_json::to_string_pretty(&v).unwrap(),
            self.sshd
                .log()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(v["error"].is_null(), "{v}");
        v
    }

    fn passwd(&self) -> String {
        std::fs::read_to_string(self.sshd.path("etc/passwd")).unwrap()
    }
}

pub(crate) async fn stored_secret(
    db: &TestDb,
    data: &std::path::Path,
    account: &str,
) -> (String, usize) {
    let store = Store::connect(&db.url).await.unwrap();
    let key = std::fs::read_to_string(data.join("master.key")).unwrap();
    let vault = Vault::new(MasterKey::from_base64(&key).unwrap(), vec![]);
    let id = Uuid::parse_str(account).unwrap();
    let secret = store
        .account_secret(&vault, id)
        .await
        .unwrap()
        .expect("a stored secret");
    let history = store.account_secret_histories(&vault, id).await.unwrap();
    store.close().await;
    (secret.expose().to_owned(), history.len())
}

async fn operate_logs(db: &TestDb, resource_type: &str) -> Vec<String> {
    let store = Store::connect(&db.url).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT diff FROM operate_logs WHERE resource_type = $1 ORDER BY datetime",
    )
    .bind(resource_type)
    .fetch_all(store.pool())
    .await
    .unwrap();
    store.close().await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linux_plugin_runs_every_method_through_the_api_on_both_databases() {
    for db in TestDb::both().await {
        let mut s = Scene::new(&db);
        let port = s.sshd.port();
        let user = s.sshd.user().to_owned();

        // Ping: the asset answers and root logs in with its key.
        let v = s.success("ping", json!({}));
        assert_eq!(v["plugin"]["id"], "portcullis-linux");
        assert_eq!(v["account"]["username"], "root");
        assert!(v["duration"].as_f64().unwrap() > 0.0, "{v}");
        let log = v["log"].as_array().unwrap();
        assert!(
            log.iter().any(|e| e["event"] == "remote_open"),
            "{}",
            serde_json::to_string_pretty(&v).unwrap()
        );

        // Verify: the right password, then a wrong one (unauthorized, still a 200).
        s.success("verify_account", json!({"account": s.user}));
        let acc = format!("/api/v1/accounts/accounts/{}/", s.user);
        ok(
            &s.send("PATCH", &acc, &json!({"secret": "Not-the-pw-123"})),
            200,
        );
        let v = s.run("verify-account", json!({"account": s.user}));
        assert_eq!(v["status"], "failed", "{v}");
        assert_eq!(v["error"]["code"], "unauthorized", "{v}");
        ok(&s.send("PATCH", &acc, &json!({"secret": PASSWORD})), 200);

        // Change secret to a given password: the new one logs in, the old one no longer.
        let new_pw = "Changed-Pw-4711-x";
        let v = s.success(
            "change_secret",
            json!({"account": s.user, "secret_strategy": "specific", "secret": new_pw}),
        );
        assert_eq!(v["output"]["verified"], true, "{v}");
        let o = ssh_as(port, &user, new_pw, "id -un", false);
        assert!(o.status.success(), "{}", out_text(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), user);
        let o = ssh_as(port, &user, PASSWORD, "true", false);
        assert!(!o.status.success(), "the old password still logs in");
        let (stored, _) = stored_secret(&db, s.data.path(), &s.user).await;
        assert_eq!(stored, new_pw);
        // Nothing of the new secret in the execution, its log or the operation log.
        let detail = s.get(&format!(
            "/api/v1/assets/automation-executions/{}/",
            v["id"].as_str().unwrap()
        ));
        assert_eq!(detail.status, 200, "{}", detail.body);
        assert!(!detail.body.contains(new_pw), "{}", detail.body);
        // The plugin typed it at the passwd prompts through send-secret.
        assert!(
            detail.body.contains("<secret:new-secret>"),
            "{}",
            detail.body
        );

        // Change secret to a generated one; the store keeps the previous ones.
        let v = s.success("change_secret", json!({"account": s.user}));
        assert_eq!(v["output"]["secret_type"], "password");
        let (generated, history) = stored_secret(&db, s.data.path(), &s.user).await;
        assert_ne!(generated, new_pw);
        assert!(generated.len() >= 16, "{generated}");
        assert!(history >= 2, "{history}");
        let o = ssh_as(port, &user, &generated, "true", false);
        assert!(o.status.success(), "{}", out_text(&o));
        assert!(!ssh_as(port, &user, new_pw, "true", false).status.success());

        // Change the secret to a generated SSH key: the public half is authorized on the
        // target (as the user), the private half stored, and it logs in.
        let v = s.success(
            "change_secret",
            json!({"account": s.user, "secret_type": "ssh_key"}),
        );
        let public = v["output"]["public_key"].as_str().unwrap().to_owned();
        assert!(public.starts_with("ssh-ed25519 "), "{v}");
        let authorized =
            std::fs::read_to_string(s.sshd.home().join(".ssh/authorized_keys")).unwrap();
        let blob = public.split_whitespace().nth(1).unwrap();
        assert!(authorized.contains(blob), "{authorized}");
        let (private, _) = stored_secret(&db, s.data.path(), &s.user).await;
        assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        let key_file = s.data.path().join("user_key");
        std::fs::write(&key_file, &private).unwrap();
        std::fs::set_permissions(
            &key_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let o = Command::new("timeout")
            .args([
                "-k",
                "5",
                "30",
                "ssh",
                "-F",
                "/dev/null",
                "-p",
                &port.to_string(),
            ])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "LogLevel=ERROR",
            ])
            .arg("-i")
            .arg(&key_file)
            .arg(format!("{user}@127.0.0.1"))
            .arg("id -un")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            user,
            "{}",
            out_text(&o)
        );

        // Push a new account with home, shell, groups and a sudo rule; then log in as it.
        let push_pw = "Pushed-Pw-2024-y";
        let pushed = s.account(json!({
            "name": "pushed", "username": "pcpush", "secret_type": "password",
            "secret": push_pw}));
        let v = s.success(
            "push_account",
            json!({"account": pushed, "home": "/home/pcpush", "shell": "/bin/bash",
                   "groups": ["pcteam"], "sudo": "ALL=(ALL) NOPASSWD: ALL"}),
        );
        assert_eq!(v["output"]["verified"], true, "{v}");
        let line = s
            .passwd()
            .lines()
            .find(|l| l.starts_with("pcpush:"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("pcpush not in passwd:\n{}", s.passwd()));
        assert!(line.ends_with(":/home/pcpush:/bin/bash"), "{line}");
        assert!(s.sshd.path("homes/pcpush").is_dir());
        // A terminal login, which the target records for gather_accounts.
        let o = ssh_as(port, "pcpush", push_pw, "id -Gn; sudo -n whoami", true);
        let text = out_text(&o);
        assert!(o.status.success(), "{text}");
        assert!(text.contains("pcteam"), "{text}");
        assert!(text.contains("root"), "{text}");

        // A change the asset accepts but whose new secret cannot log in (sshd denies the
        // user): failed, and the stored secret stays the old one.
        let deny_pw = "Deny-Pw-2024-zz";
        let denied = s.account(json!({
            "name": "denied", "username": "pcdeny", "secret_type": "password",
            "secret": deny_pw}));
        let v = s.success(
            "push_account",
            json!({"account": denied, "check_conn_after_change": false}),
        );
        assert_eq!(v["output"]["verified"], false, "{v}");
        let v = s.run("change_secret", json!({"account": denied}));
        assert_eq!(v["status"], "failed", "{v}");
        assert_eq!(v["error"]["code"], "verify_failed", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not stored"),
            "{v}"
        );
        assert_eq!(stored_secret(&db, s.data.path(), &denied).await.0, deny_pw);

        // Gather: every login account, the pushed one with its last login.
        let v = s.success("gather_accounts", json!({}));
        let names: Vec<&str> = v["output"]["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["username"].as_str())
            .collect();
        for want in ["root", user.as_str(), "pcpush"] {
            assert!(names.contains(&want), "{want} not in {names:?}");
        }
        let gathered = rows(&s.get(&format!(
            "/api/v1/accounts/gathered-accounts/?asset={}&username=pcpush",
            s.asset
        )));
        assert_eq!(gathered.len(), 1, "{gathered:?}");
        let g = &gathered[0];
        assert_eq!(g["remote_present"], true);
        assert_eq!(g["present"], true, "{g}");
        assert!(g["date_last_login"].is_string(), "{g}");
        assert_eq!(g["address_last_login"], "127.0.0.1", "{g}");
        assert!(
            g["groups"].as_array().unwrap().contains(&json!("pcteam")),
            "{g}"
        );

        // Remove: gone from the asset (home too) and, as asked, from Portcullis.
        let v = s.success(
            "remove_account",
            json!({"account": pushed, "delete_account": true, "params": {"delete_home": true}}),
        );
        assert_eq!(v["output"]["account_deleted"], true, "{v}");
        assert!(!s.passwd().contains("\npcpush:"), "{}", s.passwd());
        assert!(!s.sshd.path("homes/pcpush").exists());
        assert_eq!(
            s.get(&format!("/api/v1/accounts/accounts/{pushed}/"))
                .status,
            404
        );
        s.success("gather_accounts", json!({}));
        let g = &rows(&s.get(&format!(
            "/api/v1/accounts/gathered-accounts/?asset={}&username=pcpush",
            s.asset
        )))[0];
        assert_eq!(g["remote_present"], false, "{g}");
        assert_eq!(g["present"], false, "{g}");

        // JumpServer's task shortcuts.
        let r = s.send(
            "POST",
            &format!("/api/v1/assets/assets/{}/tasks/", s.asset),
            &json!({"action": "test"}),
        );
        let t = ok(&r, 201);
        assert_eq!(t["executions"][0]["status"], "success", "{t}");
        assert_eq!(t["task"], t["executions"][0]["id"]);
        let t = ok(
            &s.send(
                "POST",
                "/api/v1/accounts/accounts/tasks/",
                &json!({"action": "verify", "accounts": [s.user]}),
            ),
            201,
        );
        assert_eq!(t["executions"][0]["status"], "success", "{t}");

        // The records: every run listed, filters, and the operation log.
        let all = rows(&s.get(&format!(
            "/api/v1/assets/automation-executions/?asset={}",
            s.asset
        )));
        assert_eq!(all.len(), 14, "{all:?}");
        assert!(all.iter().all(|e| e.get("log").is_none()));
        let changed = rows(
            &s.get("/api/v1/assets/automation-executions/?method=change_secret&status=success"),
        );
        assert_eq!(changed.len(), 3);
        let failed = rows(&s.get("/api/v1/assets/automation-executions/?status=failed"));
        let codes: Vec<&str> = failed
            .iter()
            .filter_map(|e| e["error"]["code"].as_str())
            .collect();
        // Newest first.
        assert_eq!(codes, ["verify_failed", "unauthorized"], "{failed:?}");
        let listing = s.get("/api/v1/assets/automation-executions/?limit=100");
        assert!(!listing.body.contains(new_pw) && !listing.body.contains(&generated));
        let logged = operate_logs(&db, "Automation execution").await;
        assert_eq!(logged.len(), 14, "{logged:?}");
        assert!(
            logged
                .iter()
                .all(|d| !d.contains(new_pw) && !d.contains(push_pw))
        );

        // Refusals: nothing runs, nothing is recorded.
        let base = format!("/api/v1/assets/assets/{}/automations", s.asset);
        assert_eq!(
            s.send("POST", &format!("{base}/gather_facts/"), &json!({}))
                .status,
            404
        );
        assert_eq!(
            s.send("POST", &format!("{base}/verify_account/"), &json!({}))
                .status,
            400
        );
        assert_eq!(
            s.send("POST", &format!("{base}/ping/"), &json!({"acount": s.user}))
                .status,
            400
        );
        let other = Uuid::new_v4();
        let r = s.send(
            "POST",
            &format!("{base}/verify_account/"),
            &json!({"account": other}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        ok(
            &s.send(
                "PATCH",
                "/api/v1/assets/platforms/1/automation/",
                &json!({"gather_accounts_enabled": false}),
            ),
            200,
        );
        let r = s.send("POST", &format!("{base}/gather_accounts/"), &json!({}));
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("not enabled"), "{}", r.body);
        ok(
            &s.send(
                "POST",
                &format!("/api/v1/plugins/plugins/{}/disable/", s.plugin),
                &json!({}),
            ),
            200,
        );
        let r = s.send("POST", &format!("{base}/ping/"), &json!({}));
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(
            r.body.contains("not installed or not enabled"),
            "{}",
            r.body
        );
        assert_eq!(
            rows(&s.get("/api/v1/assets/automation-executions/")).len(),
            14
        );

        eprintln!("automation timings ({}):", db.backend);
        for (what, d) in &s.timings {
            eprintln!("  {what:<40} {:>7.0} ms", d.as_secs_f64() * 1000.0);
        }
        drop(s);
        db.drop_db().await;
    }
}

/// Every call into a plugin is in its invocation log: the `describe` check at enable, each
/// automation method with its execution as trigger, outcome and error; the new secret of a
/// change never appears; the list filters by outcome and date and refuses bad values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_invocations_are_logged_with_outcome_and_trigger_on_both_databases() {
    for db in TestDb::both().await {
        let mut s = Scene::new(&db);
        let base = "/api/v1/plugins/portcullis-linux/invocations/";
        let list = |s: &Scene, query: &str| ok(&s.get(&format!("{base}?limit=100{query}")), 200);

        // Enabling called describe.
        // (A start-up or sync load would add `load` rows: count from what is there.)
        let all = list(&s, "");
        let n0 = all["count"].as_i64().unwrap();
        assert!(n0 >= 1, "{all}");
        let enable = all["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["trigger"]["kind"] == "enable")
            .expect("the enable's describe")
            .clone();
        assert_eq!(enable["export"], "describe", "{all}");
        assert_eq!(enable["world"], "platform-automation", "{all}");
        assert_eq!(enable["trigger"]["kind"], "enable", "{all}");
        assert_eq!(enable["trigger"]["ref"], s.plugin.as_str(), "{all}");
        assert_eq!(enable["outcome"], "ok", "{all}");
        assert!(enable["memory_peak"].as_i64().unwrap() > 0, "{all}");

        // A ping: ok, triggered by its execution.
        let ping = s.success("ping", json!({}));
        let all = list(&s, "");
        assert_eq!(all["count"], n0 + 1, "{all}");
        let row = &all["results"][0];
        assert_eq!(row["export"], "ping", "{all}");
        assert_eq!(row["trigger"]["kind"], "automation", "{all}");
        assert_eq!(row["trigger"]["ref"], ping["id"], "{all}");
        assert_eq!(row["outcome"], "ok", "{all}");
        assert_eq!(row["version"], ping["plugin"]["version"], "{all}");
        assert!(row["duration_ms"].as_f64().unwrap() > 0.0, "{all}");

        // A wrong password: the plugin's own error, typed, with its message.
        let acc = format!("/api/v1/accounts/accounts/{}/", s.user);
        ok(
            &s.send("PATCH", &acc, &json!({"secret": "Not-the-pw-123"})),
            200,
        );
        let v = s.run("verify-account", json!({"account": s.user}));
        assert_eq!(v["status"], "failed", "{v}");
        ok(&s.send("PATCH", &acc, &json!({"secret": PASSWORD})), 200);
        let failed = list(&s, "&outcome=guest_error");
        assert_eq!(failed["count"], 1, "{failed}");
        let row = &failed["results"][0];
        assert_eq!(row["export"], "verify-account", "{failed}");
        assert_eq!(row["trigger"]["ref"], v["id"], "{failed}");
        assert!(!row["error"].as_str().unwrap().is_empty(), "{failed}");
        assert_eq!(list(&s, "&outcome=ok")["count"], n0 + 1);

        // The detail has the log lines; a changed secret never appears in the log.
        let new_pw = "Changed-Pw-9132-y";
        let change = s.success(
            "change_secret",
            json!({"account": s.user, "secret_strategy": "specific", "secret": new_pw}),
        );
        let all = ok(&s.get(&format!("{base}?limit=1")), 200);
        assert_eq!(all["count"], n0 + 3, "{all}");
        assert_eq!(all["results"].as_array().unwrap().len(), 1, "{all}");
        let row = &all["results"][0];
        assert_eq!(row["export"], "change-secret", "{all}");
        assert_eq!(row["trigger"]["ref"], change["id"], "{all}");
        let detail = s.get(&format!("{base}{}/", row["id"].as_str().unwrap()));
        assert_eq!(detail.status, 200, "{}", detail.body);
        let d: Value = serde_json::from_str(&detail.body).unwrap();
        assert!(d["logs"].is_array(), "{d}");
        assert!(!detail.body.contains(new_pw), "{}", detail.body);

        // Date window, bad filters, unknown ids.
        assert_eq!(list(&s, "&date_from=2999-01-01")["count"], 0);
        assert_eq!(list(&s, "&date_to=2999-01-01")["count"], n0 + 3);
        assert_eq!(list(&s, "&date_to=2000-01-01")["count"], 0);
        let r = s.get(&format!("{base}?outcome=bogus"));
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("outcome"), "{}", r.body);
        let r = s.get(&format!("{base}?date_from=yesterday"));
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("date_from"), "{}", r.body);
        let r = s.get(&format!("{base}{}/", Uuid::new_v4()));
        assert_eq!(r.status, 404, "{}", r.body);
        let r = s.get(&format!(
            "/api/v1/plugins/other/invocations/{}/",
            row["id"].as_str().unwrap()
        ));
        assert_eq!(r.status, 404, "{}", r.body);
        assert_eq!(
            ok(&s.get("/api/v1/plugins/other/invocations/?limit=10"), 200)["count"],
            0
        );
        // Only for whoever may view plugins.
        let r = get(&s.server, "", base);
        assert!(r.status == 401 || r.status == 403, "{}", r.body);
    }
}

/// Retention: a plugin's log keeps its newest rows; other plugins' rows are untouched.
#[tokio::test]
async fn plugin_invocation_log_is_pruned_per_plugin_on_both_databases() {
    use portcullis_store::plugin_invocations::{InvocationQuery, PluginInvocation};
    for db in TestDb::both().await {
        let store = ready(&db).await;
        let at = chrono::Utc::now();
        for (plugin, n) in [("a", 5), ("b", 2)] {
            for i in 0..n {
                let row = PluginInvocation {
                    id: Uuid::new_v4(),
                    plugin_id: plugin.into(),
                    version: "1.0.0".into(),
                    world: "platform-automation".into(),
                    export: "ping".into(),
                    trigger_kind: "automation".into(),
                    trigger_ref: format!("{i}"),
                    date_start: at + chrono::Duration::seconds(i),
                    duration_us: 10,
                    outcome: "ok".into(),
                    error: String::new(),
                    fuel: 0,
                    memory_peak: 0,
                    logs: json!([{"level": "info", "message": format!("line {i}")}]),
                    logs_dropped: 0,
                };
                store.record_plugin_invocation(&row).await.unwrap();
            }
        }
        store.prune_plugin_invocations("a", 3).await.unwrap();
        let page = |plugin: &str| InvocationQuery {
            plugin_id: plugin.into(),
            limit: 100,
            ..InvocationQuery::default()
        };
        let (count, rows) = store.plugin_invocations(&page("a")).await.unwrap();
        assert_eq!(count, 3);
        let refs: Vec<_> = rows.iter().map(|r| r.trigger_ref.as_str()).collect();
        assert_eq!(refs, ["4", "3", "2"]);
        assert_eq!(rows[0].logs[0]["message"], "line 4");
        assert_eq!(store.plugin_invocations(&page("b")).await.unwrap().0, 2);
        store.close().await;
    }
}
