//! The session engine's SSH client (`portcullis_session::target`) against real OpenSSH servers:
//! password and key authentication, refusals, unreachable and silent hosts, host keys recorded
//! on first use and refused when they change, legacy algorithms, and the hop through a gateway.
//!
//! Each server is a real `sshd` on a free loopback port ([`crate::sshd::Sshd`]).

use crate::sshd::{PASSWORD, Sshd, USER, keygen, sh};
use crate::store::ready;
use crate::support::{TestDb, free_port};
use portcullis_core::builtin::DEFAULT_ORG_ID;
use portcullis_core::secret::SecretString;
use portcullis_session::target::{self, Credential, TargetError, TargetSpec};
use portcullis_store::Store;
use portcullis_store::assets::NewAsset;
use portcullis_store::host_keys::{HostKeyCheck, PresentedHostKey};
use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

/// What the session engine's client needs to reach a fixture server.
trait TargetOf {
    fn private_key(&self, name: &str) -> SecretString;
    fn spec(&self, asset_id: Uuid, credential: Credential) -> TargetSpec;
}

impl TargetOf for Sshd {
    fn private_key(&self, name: &str) -> SecretString {
        SecretString::new(self.private_key_text(name))
    }

    fn spec(&self, asset_id: Uuid, credential: Credential) -> TargetSpec {
        TargetSpec {
            asset_id,
            asset_name: format!("sshd-{}", self.port()),
            address: "127.0.0.1".into(),
            port: self.port(),
            username: self.user().into(),
            credential,
            legacy_algorithms: false,
            connect_timeout: Duration::from_secs(10),
            keepalive: Some(Duration::from_secs(30)),
            gateway: None,
        }
    }
}

fn password() -> Credential {
    Credential::Password(SecretString::new(PASSWORD))
}

async fn asset(store: &Store, name: &str, port: u16) -> Uuid {
    store
        .create_asset(&NewAsset {
            org: DEFAULT_ORG_ID,
            name: format!("{name}-{}", Uuid::new_v4().simple()),
            address: "127.0.0.1".into(),
            platform_id: 1,
            zone: None,
            is_active: true,
            is_gateway: false,
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

async fn exec(conn: &target::TargetConnection, command: &str) -> String {
    let channel = conn.open_session().await.expect("session channel");
    channel.exec(true, command).await.expect("exec");
    let mut out = String::new();
    channel
        .into_stream()
        .read_to_string(&mut out)
        .await
        .expect("read output");
    out
}

async fn sqlite_store() -> (TestDb, Store) {
    let db = TestDb::sqlite();
    let store = ready(&db).await;
    (db, store)
}

#[tokio::test]
async fn host_key_store_trusts_on_first_use_on_both_databases() {
    for db in TestDb::both().await {
        let store = ready(&db).await;
        let a = asset(&store, "hk", 22).await;
        let key = PresentedHostKey {
            asset_id: a,
            address: "10.0.0.1",
            port: 22,
            algorithm: "ssh-ed25519",
            public_key: "AAAAone",
            fingerprint: "SHA256:one",
        };
        assert!(
            store
                .known_host_key(a, "10.0.0.1", 22)
                .await
                .unwrap()
                .is_none()
        );
        let HostKeyCheck::New(first) = store.remember_host_key(&key).await.unwrap() else {
            panic!("{}: first use must record", db.backend);
        };
        assert_eq!(first.port, 22);
        assert_eq!(first.fingerprint, "SHA256:one");
        let HostKeyCheck::Known(again) = store.remember_host_key(&key).await.unwrap() else {
            panic!("{}: same key must be known", db.backend);
        };
        assert!(again.date_last_seen >= first.date_last_seen);
        assert_eq!(again.date_created, first.date_created);
        let other = PresentedHostKey {
            public_key: "AAAAtwo",
            fingerprint: "SHA256:two",
            ..key.clone()
        };
        let HostKeyCheck::Changed(stored) = store.remember_host_key(&other).await.unwrap() else {
            panic!("{}: a different key must be refused", db.backend);
        };
        assert_eq!(stored.fingerprint, "SHA256:one");
        // Another port of the same asset is another place, with its own key.
        let HostKeyCheck::New(_) = store
            .remember_host_key(&PresentedHostKey {
                port: 2222,
                ..other.clone()
            })
            .await
            .unwrap()
        else {
            panic!("{}: another port is recorded separately", db.backend);
        };
        let listed = store.list_host_keys(a).await.unwrap();
        assert_eq!(
            listed.iter().map(|k| k.port).collect::<Vec<_>>(),
            vec![22, 2222]
        );
        assert_eq!(store.forget_host_keys(a).await.unwrap(), 2);
        assert!(store.list_host_keys(a).await.unwrap().is_empty());
        let HostKeyCheck::New(_) = store.remember_host_key(&other).await.unwrap() else {
            panic!("{}: after forgetting, the new key is accepted", db.backend);
        };
        // Keys go with their asset.
        assert!(store.delete_asset(a).await.unwrap());
        assert!(store.list_host_keys(a).await.unwrap().is_empty());
        db.drop_db().await;
    }
}

#[tokio::test]
async fn password_login_runs_a_command_and_records_the_host_key() {
    let sshd = Sshd::start("");
    for db in TestDb::both().await {
        let store = ready(&db).await;
        let a = asset(&store, "pw", sshd.port()).await;
        let conn = target::connect(&store, &sshd.spec(a, password()))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", db.backend, sshd.log()));
        assert_eq!(exec(&conn, "echo hi").await, "hi\n");
        assert_eq!(exec(&conn, "id -un").await.trim(), USER);
        assert_eq!(conn.host_key_fingerprint(), sshd.host_fingerprint());
        conn.close().await;
        let keys = store.list_host_keys(a).await.unwrap();
        assert_eq!(keys.len(), 1, "{}", db.backend);
        assert_eq!(keys[0].fingerprint, sshd.host_fingerprint());
        assert_eq!(keys[0].algorithm, "ssh-ed25519");
        assert_eq!(keys[0].address, "127.0.0.1");
        assert_eq!(keys[0].port, sshd.port());
        assert_eq!(
            fs::read_to_string(sshd.path("hostkey.pub"))
                .unwrap()
                .split_whitespace()
                .nth(1),
            Some(keys[0].public_key.as_str())
        );
        db.drop_db().await;
    }
}

#[tokio::test]
async fn key_login_with_ed25519_and_rsa() {
    let sshd = Sshd::start("");
    let (_db, store) = sqlite_store().await;
    let a = asset(&store, "keys", sshd.port()).await;
    for key in ["id_ed25519", "id_rsa"] {
        let spec = sshd.spec(
            a,
            Credential::PrivateKey {
                pem: sshd.private_key(key),
                passphrase: None,
            },
        );
        let conn = target::connect(&store, &spec)
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}\n{}", sshd.log()));
        assert_eq!(exec(&conn, "echo hi").await, "hi\n", "{key}");
        conn.close().await;
    }
    // RSA signed with SHA-2, never with SHA-1 `ssh-rsa`.
    let log = sshd.log();
    assert!(
        log.contains("Accepted publickey") && log.contains("RSA SHA256:"),
        "{log}"
    );
    assert!(
        log.contains("pkalg rsa-sha2-512 ") || log.contains("pkalg rsa-sha2-256 "),
        "{log}"
    );
    assert!(!log.contains("pkalg ssh-rsa "), "{log}");
}

#[tokio::test]
async fn encrypted_private_key_needs_its_passphrase() {
    let sshd = Sshd::start("");
    let (_db, store) = sqlite_store().await;
    let a = asset(&store, "enc", sshd.port()).await;
    let path = sshd.path("id_enc");
    sh(Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-a",
            "2",
            "-N",
            "Key-pass-1",
            "-C",
            "",
            "-f",
        ])
        .arg(&path));
    sshd.authorize(&fs::read_to_string(sshd.path("id_enc.pub")).unwrap());

    let with = |pass: Option<&str>| {
        sshd.spec(
            a,
            Credential::PrivateKey {
                pem: sshd.private_key("id_enc"),
                passphrase: pass.map(SecretString::new),
            },
        )
    };
    let conn = target::connect(&store, &with(Some("Key-pass-1")))
        .await
        .expect("right passphrase");
    assert_eq!(exec(&conn, "echo hi").await, "hi\n");
    conn.close().await;
    let err = target::connect(&store, &with(Some("wrong")))
        .await
        .expect_err("wrong passphrase");
    assert!(matches!(err, TargetError::Credential { .. }), "{err:?}");
    assert_eq!(err.reason_code(), "credential_invalid");
    assert!(!err.to_string().contains("wrong"), "{err}");
}

#[tokio::test]
async fn wrong_password_is_auth_failed() {
    let sshd = Sshd::start("");
    let (_db, store) = sqlite_store().await;
    let a = asset(&store, "badpw", sshd.port()).await;
    let spec = sshd.spec(
        a,
        Credential::Password(SecretString::new("Not-the-password")),
    );
    let err = target::connect(&store, &spec).await.expect_err("refused");
    assert!(matches!(err, TargetError::AuthFailed { .. }), "{err:?}");
    assert_eq!(err.reason_code(), "auth_failed");
    let message = err.user_message();
    assert!(
        message.contains(USER) && !message.contains("Not-the-password"),
        "{message}"
    );
    assert!(sshd.log().contains("Failed password"), "{}", sshd.log());
}

#[tokio::test]
async fn closed_port_is_unreachable_quickly() {
    let (_db, store) = sqlite_store().await;
    let port = free_port();
    let a = asset(&store, "closed", port).await;
    let spec = TargetSpec {
        asset_id: a,
        asset_name: "closed".into(),
        address: "127.0.0.1".into(),
        port,
        username: USER.into(),
        credential: password(),
        legacy_algorithms: false,
        connect_timeout: Duration::from_secs(10),
        keepalive: None,
        gateway: None,
    };
    let started = Instant::now();
    let err = target::connect(&store, &spec).await.expect_err("closed");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(err, TargetError::Unreachable { .. }), "{err:?}");
    assert_eq!(err.reason_code(), "connect_failed");
    assert!(err.user_message().contains(&format!("127.0.0.1:{port}")));
}

#[tokio::test]
async fn a_silent_host_times_out_within_the_connect_timeout() {
    let (_db, store) = sqlite_store().await;
    // Accepts TCP (through the kernel backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let a = asset(&store, "silent", port).await;
    let spec = TargetSpec {
        asset_id: a,
        asset_name: "silent".into(),
        address: "127.0.0.1".into(),
        port,
        username: USER.into(),
        credential: password(),
        legacy_algorithms: false,
        connect_timeout: Duration::from_millis(800),
        keepalive: None,
        gateway: None,
    };
    let started = Instant::now();
    let err = target::connect(&store, &spec).await.expect_err("silent");
    let took = started.elapsed();
    assert!(matches!(err, TargetError::Timeout { .. }), "{err:?}");
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(err.reason_code(), "timeout");
    drop(silent);
}

#[tokio::test]
async fn a_changed_host_key_is_refused_before_authentication_until_forgotten() {
    let mut sshd = Sshd::start("");
    for db in TestDb::both().await {
        let store = ready(&db).await;
        let a = asset(&store, "tofu", sshd.port()).await;
        let spec = sshd.spec(a, password());
        let first_fp = sshd.host_fingerprint();
        target::connect(&store, &spec)
            .await
            .expect("first")
            .close()
            .await;
        let first = store.list_host_keys(a).await.unwrap();
        assert_eq!(first.len(), 1);
        target::connect(&store, &spec)
            .await
            .expect("second")
            .close()
            .await;
        let second = store.list_host_keys(a).await.unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].fingerprint, first_fp);
        assert!(second[0].date_last_seen >= first[0].date_last_seen);

        sshd.new_host_key();
        let new_fp = sshd.host_fingerprint();
        assert_ne!(new_fp, first_fp);
        let err = target::connect(&store, &spec).await.expect_err("changed");
        match &err {
            TargetError::HostKeyChanged {
                expected,
                presented,
                port,
                ..
            } => {
                assert_eq!(expected, &first_fp);
                assert_eq!(presented, &new_fp);
                assert_eq!(*port, sshd.port());
            }
            other => panic!("{}: {other:?}", db.backend),
        }
        assert_eq!(err.reason_code(), "host_key_changed");
        // The new server never saw an authentication request, and the recorded key stands.
        let log = sshd.log();
        assert!(!log.contains("userauth-request"), "{log}");
        assert!(
            !log.contains("Accepted") && !log.contains("Failed password"),
            "{log}"
        );
        let kept = store.list_host_keys(a).await.unwrap();
        assert_eq!(kept[0].fingerprint, first_fp);

        assert_eq!(store.forget_host_keys(a).await.unwrap(), 1);
        let conn = target::connect(&store, &spec)
            .await
            .expect("after forgetting");
        assert_eq!(conn.host_key_fingerprint(), new_fp);
        assert_eq!(exec(&conn, "echo hi").await, "hi\n");
        conn.close().await;
        assert_eq!(
            store.list_host_keys(a).await.unwrap()[0].fingerprint,
            new_fp
        );
        db.drop_db().await;
        // Next backend starts from the original key's situation: a fresh asset, first use.
    }
}

#[tokio::test]
async fn legacy_algorithms_reach_an_old_server_only_when_enabled() {
    // A server that speaks only SHA-1 key exchange, CBC, HMAC-SHA1 and `ssh-rsa` host keys.
    let mut sshd = Sshd::start(
        "KexAlgorithms diffie-hellman-group14-sha1\nCiphers aes128-cbc\nMACs hmac-sha1\n\
         HostKeyAlgorithms ssh-rsa",
    );
    sshd.stop();
    keygen(&sshd.path("hostkey"), "rsa", &["-b", "2048"]);
    sshd.restart();
    let (_db, store) = sqlite_store().await;
    let a = asset(&store, "old", sshd.port()).await;
    let mut spec = sshd.spec(a, password());
    let err = target::connect(&store, &spec)
        .await
        .expect_err("modern only");
    assert!(matches!(err, TargetError::Protocol { .. }), "{err:?}");
    assert!(
        err.user_message().contains("old SSH version"),
        "{}",
        err.user_message()
    );
    assert!(store.list_host_keys(a).await.unwrap().is_empty());

    spec.legacy_algorithms = true;
    let conn = target::connect(&store, &spec)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    assert_eq!(exec(&conn, "echo hi").await, "hi\n");
    conn.close().await;
    let keys = store.list_host_keys(a).await.unwrap();
    assert_eq!(keys[0].algorithm, "ssh-rsa");
    assert_eq!(keys[0].fingerprint, sshd.host_fingerprint());
}

#[tokio::test]
async fn a_target_behind_a_gateway_is_reached_through_direct_tcpip() {
    let gateway = Sshd::start("");
    let target_sshd = Sshd::start("");
    let (_db, store) = sqlite_store().await;
    let gw_asset = asset(&store, "gw", gateway.port()).await;
    let target_asset = asset(&store, "behind", target_sshd.port()).await;

    let mut spec = target_sshd.spec(
        target_asset,
        Credential::PrivateKey {
            pem: target_sshd.private_key("id_ed25519"),
            passphrase: None,
        },
    );
    spec.gateway = Some(Box::new(gateway.spec(gw_asset, password())));
    let conn = target::connect(&store, &spec)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", gateway.log(), target_sshd.log()));
    assert_eq!(exec(&conn, "echo hi").await, "hi\n");
    assert_eq!(conn.host_key_fingerprint(), target_sshd.host_fingerprint());
    conn.close().await;

    // The gateway forwarded the connection, and each hop's key is under its own asset.
    assert!(
        gateway
            .log()
            .contains(&format!("127.0.0.1:{}", target_sshd.port()))
            || gateway.log().contains("direct-tcpip"),
        "{}",
        gateway.log()
    );
    let gw_keys = store.list_host_keys(gw_asset).await.unwrap();
    assert_eq!(gw_keys.len(), 1);
    assert_eq!(gw_keys[0].fingerprint, gateway.host_fingerprint());
    assert_eq!(gw_keys[0].port, gateway.port());
    let t_keys = store.list_host_keys(target_asset).await.unwrap();
    assert_eq!(t_keys.len(), 1);
    assert_eq!(t_keys[0].fingerprint, target_sshd.host_fingerprint());

    // A refusal on the gateway hop says so.
    let mut bad = spec.clone();
    bad.gateway = Some(Box::new(gateway.spec(
        gw_asset,
        Credential::Password(SecretString::new("Wrong-gw-pw")),
    )));
    let err = target::connect(&store, &bad)
        .await
        .expect_err("gateway auth");
    match &err {
        TargetError::Gateway { source, .. } => {
            assert!(
                matches!(**source, TargetError::AuthFailed { .. }),
                "{source:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.reason_code(), "gateway_auth_failed");
    assert!(
        err.user_message().starts_with("Through gateway "),
        "{}",
        err.user_message()
    );

    // A target the gateway cannot reach is unreachable, said by the gateway.
    let mut closed = spec.clone();
    closed.port = free_port();
    let err = target::connect(&store, &closed)
        .await
        .expect_err("closed behind gateway");
    assert!(matches!(err, TargetError::Unreachable { .. }), "{err:?}");
    assert!(
        err.user_message().contains("gateway"),
        "{}",
        err.user_message()
    );
}

#[tokio::test]
async fn host_keys_are_listed_and_forgotten_over_the_api() {
    use crate::client::{ADMIN_PASSWORD, create_user, get, send, start, token};
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let pw = create_user(dir.path(), &db, "plainhk", "user");
    let plain = token(&server, "plainhk", &pw);
    let store = Store::connect(&db.url).await.unwrap();
    let a = asset(&store, "api", 22).await;
    store
        .remember_host_key(&PresentedHostKey {
            asset_id: a,
            address: "127.0.0.1",
            port: 22,
            algorithm: "ssh-ed25519",
            public_key: "AAAAapi",
            fingerprint: "SHA256:api",
        })
        .await
        .unwrap();
    let path = format!("/api/v1/assets/assets/{a}/host-keys/");

    let r = get(&server, &admin, &path);
    assert_eq!(r.status, 200, "{}", r.body);
    let keys = r.json();
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "{keys}");
    assert_eq!(keys[0]["fingerprint"], "SHA256:api");
    assert_eq!(keys[0]["port"], 22);
    assert_eq!(keys[0]["asset"], a.to_string());

    assert_eq!(get(&server, &plain, &path).status, 403);
    assert_eq!(
        send(&server, &plain, "DELETE", &path, &serde_json::json!({})).status,
        403
    );
    let missing = format!("/api/v1/assets/assets/{}/host-keys/", Uuid::new_v4());
    assert_eq!(get(&server, &admin, &missing).status, 404);

    let r = send(&server, &admin, "DELETE", &path, &serde_json::json!({}));
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(store.list_host_keys(a).await.unwrap().is_empty());
    assert_eq!(get(&server, &admin, &path).json(), serde_json::json!([]));
    let diff: String = sqlx::query_scalar(
        "SELECT diff FROM operate_logs WHERE resource_type = 'Asset host key' AND action = 'delete'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(diff.contains("SHA256:api"), "{diff}");
}

#[tokio::test]
async fn a_changed_gateway_host_key_stops_before_the_target_is_contacted() {
    let mut gateway = Sshd::start("");
    let target_sshd = Sshd::start("");
    let (_db, store) = sqlite_store().await;
    let gw_asset = asset(&store, "gw2", gateway.port()).await;
    let target_asset = asset(&store, "behind2", target_sshd.port()).await;
    let mut spec = target_sshd.spec(target_asset, password());
    spec.gateway = Some(Box::new(gateway.spec(gw_asset, password())));
    target::connect(&store, &spec)
        .await
        .expect("first use")
        .close()
        .await;
    let recorded = gateway.host_fingerprint();

    gateway.new_host_key();
    let connections = || target_sshd.log().matches("Connection from").count();
    let before = connections();
    let err = target::connect(&store, &spec)
        .await
        .expect_err("gateway key changed");
    assert_eq!(err.reason_code(), "gateway_host_key_changed", "{err:?}");
    match &err {
        TargetError::Gateway { source, .. } => match &**source {
            TargetError::HostKeyChanged {
                expected,
                presented,
                ..
            } => {
                assert_eq!(expected, &recorded);
                assert_eq!(presented, &gateway.host_fingerprint());
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert!(
        !gateway.log().contains("userauth-request"),
        "{}",
        gateway.log()
    );
    // The target was not even contacted.
    assert_eq!(connections(), before);
}
