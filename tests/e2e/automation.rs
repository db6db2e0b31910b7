//! Platform automations through plugins, against real OpenSSH targets.
//!
//! First the `remote` capability on its own ([`SshRemote`], the session engine's SSH client
//! under the plugin interface): commands with their output, exit status, signals and
//! timeouts; the interactive shell with `expect`; refused credentials, unreachable hosts,
//! changed host keys and the hop through a zone's gateway. Then the whole path through the
//! API with the Linux plugin: install, grant, enable, and every method on a target whose
//! account files are its own (`SshdOptions::private_etc`), checked from outside with real
//! logins.

use crate::sshd::{PASSWORD, Sshd};
use crate::store::ready;
use crate::support::{TestDb, free_port};
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
