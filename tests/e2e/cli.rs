//! The binary as an operator uses it: first start, restarts, admin commands, key rotation and
//! every kind of bad input named in the foundation issue.

use crate::support::{Server, TestDb, http_get, portcullis, run, text};
use portcullis_core::vault::{MasterKey, SealContext, Vault};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

async fn any_conn(url: &str) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .expect("connect")
}

async fn scalar_i64(url: &str, sql: &'static str) -> i64 {
    let mut c = any_conn(url).await;
    sqlx::query_scalar(sql).fetch_one(&mut c).await.expect(sql)
}

#[tokio::test]
async fn first_start_creates_everything_and_serves_health_on_both_databases() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut cmd = portcullis(&data);
        cmd.env("PORTCULLIS_DATABASE_URL", &db.url);
        let server = Server::start(cmd);

        let (status, body) = http_get(&server.base, "/api/health/").unwrap();
        assert_eq!(status, 200, "{body}");
        let health: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(health["status"], true);
        assert_eq!(health["db_status"], true);
        assert_eq!(health["db_backend"], db.backend);
        assert!(health["db_time"].as_f64().is_some());
        let (status, _) = http_get(&server.base, "/api/v1/health/").unwrap();
        assert_eq!(status, 200);

        // The generated administrator password is printed once, and it works.
        let out = server.stdout();
        let password = out
            .lines()
            .find_map(|l| {
                l.split_once("with the password: ")
                    .map(|(_, p)| p.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no admin password in: {out}"));
        let mut c = any_conn(&db.url).await;
        let hash: String =
            sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'admin'")
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert!(portcullis_core::password::verify_password(&password, &hash).unwrap());
        assert!(
            !server.stderr().contains(&password),
            "the password must not be logged"
        );

        // The key file exists with mode 0600 and the built-ins are seeded.
        let key = data.join("master.key");
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let orgs: i64 = scalar_i64(&db.url, "SELECT COUNT(*) FROM orgs WHERE id IN ('00000000-0000-0000-0000-000000000000','00000000-0000-0000-0000-000000000002','00000000-0000-0000-0000-000000000004')").await;
        assert_eq!(orgs, 3);
        assert_eq!(
            scalar_i64(&db.url, "SELECT COUNT(*) FROM roles WHERE builtin = TRUE").await,
            7
        );
        assert!(scalar_i64(&db.url, "SELECT COUNT(*) FROM platforms").await >= 20);
        let admin_roles = scalar_i64(&db.url, "SELECT COUNT(*) FROM role_bindings b JOIN users u ON u.id = b.user_id WHERE u.username = 'admin' AND b.role_id = '00000000-0000-0000-0000-000000000001'").await;
        assert_eq!(admin_roles, 1);
        assert!(server.stop().success(), "SIGTERM must stop serve cleanly");

        // A second start neither recreates the admin nor prints a password.
        let mut cmd = portcullis(&data);
        cmd.env("PORTCULLIS_DATABASE_URL", &db.url);
        let again = Server::start(cmd);
        assert!(!again.stdout().contains("password"), "{}", again.stdout());
        assert_eq!(scalar_i64(&db.url, "SELECT COUNT(*) FROM users").await, 1);
        assert!(again.stop().success());
        db.drop_db().await;
    }
}

#[tokio::test]
async fn admin_password_can_come_from_the_environment_and_sqlite_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let mut cmd = portcullis(&data);
    cmd.env("PORTCULLIS_ADMIN_PASSWORD", "Given-Pass-123");
    let server = Server::start(cmd);
    assert!(server.stdout().contains("PORTCULLIS_ADMIN_PASSWORD"));
    assert!(!server.stdout().contains("Given-Pass-123"));
    drop(server);
    let url = format!("sqlite://{}", data.join("portcullis.db").display());
    let mut c = any_conn(&url).await;
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'admin'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert!(portcullis_core::password::verify_password("Given-Pass-123", &hash).unwrap());
}

#[tokio::test]
async fn admin_commands_create_users_and_reset_passwords() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = portcullis(dir.path());
        cmd.env("PORTCULLIS_DATABASE_URL", &db.url).args([
            "admin",
            "create-user",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--role",
            "auditor",
        ]);
        let out = run(&mut cmd);
        assert!(out.status.success(), "{}", text(&out));
        let printed = text(&out);
        let password = printed
            .lines()
            .find_map(|l| l.strip_prefix("password: "))
            .expect("generated password printed")
            .to_owned();
        let mut c = any_conn(&db.url).await;
        let hash: String =
            sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'alice'")
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert!(portcullis_core::password::verify_password(&password, &hash).unwrap());
        let roles: Vec<String> = sqlx::query_scalar(
            "SELECT b.role_id FROM role_bindings b JOIN users u ON u.id = b.user_id WHERE u.username = 'alice' ORDER BY b.role_id",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        assert_eq!(
            roles,
            [
                "00000000-0000-0000-0000-000000000002",
                "00000000-0000-0000-0000-000000000006"
            ]
        );

        // Duplicate username: clear error, exit non-zero, nothing written.
        let mut dup = portcullis(dir.path());
        dup.env("PORTCULLIS_DATABASE_URL", &db.url).args([
            "admin",
            "create-user",
            "--username",
            "alice",
            "--email",
            "other@example.com",
        ]);
        let out = run(&mut dup);
        assert!(!out.status.success());
        assert!(text(&out).contains("already exists"), "{}", text(&out));
        assert_eq!(
            scalar_i64(
                &db.url,
                "SELECT COUNT(*) FROM users WHERE email = 'other@example.com'"
            )
            .await,
            0
        );

        // Reset from stdin, and the lockout state is cleared.
        sqlx::query("UPDATE users SET failed_login_count = 7 WHERE username = 'alice'")
            .execute(&mut c)
            .await
            .unwrap();
        let mut reset = portcullis(dir.path());
        reset
            .env("PORTCULLIS_DATABASE_URL", &db.url)
            .args([
                "admin",
                "reset-password",
                "--username",
                "alice",
                "--password-stdin",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = reset.spawn().unwrap();
        {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"N3w-Secret-pw\n")
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let hash: String =
            sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'alice'")
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert!(portcullis_core::password::verify_password("N3w-Secret-pw", &hash).unwrap());
        assert_eq!(
            scalar_i64(
                &db.url,
                "SELECT failed_login_count FROM users WHERE username = 'alice'"
            )
            .await,
            0
        );
        assert_eq!(
            scalar_i64(
                &db.url,
                "SELECT COUNT(*) FROM password_change_logs WHERE user_display = 'alice'"
            )
            .await,
            1
        );

        let mut missing = portcullis(dir.path());
        missing.env("PORTCULLIS_DATABASE_URL", &db.url).args([
            "admin",
            "reset-password",
            "--username",
            "nobody",
        ]);
        let out = run(&mut missing);
        assert!(!out.status.success());
        assert!(
            text(&out).contains("user `nobody` not found"),
            "{}",
            text(&out)
        );
        db.drop_db().await;
    }
}

fn fails_with(cmd: &mut std::process::Command, needles: &[&str]) {
    let out = run(cmd);
    let t = text(&out);
    assert!(!out.status.success(), "expected failure, got success: {t}");
    for n in needles {
        assert!(t.contains(n), "expected `{n}` in: {t}");
    }
    assert_eq!(t.matches("error:").count(), 1, "one clear message: {t}");
}

#[test]
fn malformed_config_is_named_with_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("p.toml");
    std::fs::write(&conf, "http_adr = \"1.2.3.4:5\"\n").unwrap();
    fails_with(
        portcullis(dir.path())
            .args(["migrate", "--config"])
            .arg(&conf),
        &["p.toml", "http_adr"],
    );
    std::fs::write(&conf, "data_dir = [1,2\n").unwrap();
    fails_with(
        portcullis(dir.path())
            .args(["migrate", "--config"])
            .arg(&conf),
        &["p.toml", "not valid"],
    );
    fails_with(
        portcullis(dir.path()).args(["serve", "--http-addr", "nonsense"]),
        &["--http-addr", "nonsense"],
    );
    assert!(
        !dir.path().join("portcullis.db").exists(),
        "nothing written"
    );
}

#[test]
fn unreachable_or_unsupported_database_urls_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    fails_with(
        portcullis(dir.path()).args([
            "migrate",
            "--database-url",
            &format!("postgres://u:topsecret@127.0.0.1:{port}/x"),
        ]),
        &["cannot connect to the database", "PORTCULLIS_DATABASE_URL"],
    );
    let out = run(portcullis(dir.path()).args([
        "migrate",
        "--database-url",
        &format!("postgres://u:topsecret@127.0.0.1:{port}/x"),
    ]));
    assert!(!text(&out).contains("topsecret"), "passwords are redacted");
    fails_with(
        portcullis(dir.path()).args(["migrate", "--database-url", "mysql://h/db"]),
        &["unsupported database URL", "sqlite://"],
    );
}

#[test]
fn key_file_problems_stop_the_start_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(portcullis(&data).arg("migrate"));
    assert!(out.status.success(), "{}", text(&out));
    let key = data.join("master.key");
    let good = std::fs::read(&key).unwrap();

    std::fs::write(&key, "garbage").unwrap();
    fails_with(
        portcullis(&data).arg("migrate"),
        &["master.key", "corrupt", "backup"],
    );

    std::fs::write(&key, &good).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    fails_with(portcullis(&data).arg("migrate"), &["chmod 600"]);

    std::fs::remove_file(&key).unwrap();
    fails_with(portcullis(&data).arg("migrate"), &["missing", "restore"]);
    assert!(
        !key.exists(),
        "a missing key is not silently regenerated for an existing database"
    );

    let other = MasterKey::generate();
    let mut cmd = portcullis(&data);
    cmd.env("PORTCULLIS_MASTER_KEY", other.to_base64().as_str())
        .arg("migrate");
    fails_with(&mut cmd, &["is not the key this database uses"]);

    std::fs::write(&key, &good).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(portcullis(&data).arg("migrate"));
    assert!(
        out.status.success(),
        "restoring the key fixes it: {}",
        text(&out)
    );
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused_and_left_untouched() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = portcullis(dir.path());
        cmd.env("PORTCULLIS_DATABASE_URL", &db.url).arg("migrate");
        assert!(run(&mut cmd).status.success());
        let mut c = any_conn(&db.url).await;
        let checksum = if db.backend == "sqlite" {
            "X'00'"
        } else {
            "'\\x00'::bytea"
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99990101000000, 'from the future', TRUE, {checksum}, 1)"
        )))
        .execute(&mut c)
        .await
        .unwrap();
        let before = scalar_i64(&db.url, "SELECT COUNT(*) FROM _sqlx_migrations").await;
        let mut cmd = portcullis(dir.path());
        cmd.env("PORTCULLIS_DATABASE_URL", &db.url).arg("migrate");
        fails_with(&mut cmd, &["newer than this Portcullis", "99990101000000"]);
        assert_eq!(
            scalar_i64(&db.url, "SELECT COUNT(*) FROM _sqlx_migrations").await,
            before
        );
        db.drop_db().await;
    }
}

#[tokio::test]
async fn key_rotation_reseals_every_secret_in_one_go_on_both_databases() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut cmd = portcullis(&data);
        cmd.env("PORTCULLIS_DATABASE_URL", &db.url).arg("migrate");
        assert!(run(&mut cmd).status.success());
        let key_text = std::fs::read_to_string(data.join("master.key")).unwrap();
        let old = MasterKey::from_base64(&key_text).unwrap();
        let vault = Vault::new(old.clone(), vec![]);

        // An account with a sealed secret, written the way the store seals it.
        let mut c = any_conn(&db.url).await;
        let (asset, account) =
            crate::store::insert_asset_with_account(&mut c, &vault, "pw-before").await;
        let _ = asset;
        let before: String = sqlx::query_scalar("SELECT secret FROM accounts WHERE id = $1")
            .bind(account.to_string())
            .fetch_one(&mut c)
            .await
            .unwrap();

        let mut rotate = portcullis(&data);
        rotate
            .env("PORTCULLIS_DATABASE_URL", &db.url)
            .args(["vault", "rotate-key"]);
        let out = run(&mut rotate);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("1 secrets re-sealed"), "{}", text(&out));
        let new =
            MasterKey::from_base64(&std::fs::read_to_string(data.join("master.key")).unwrap())
                .unwrap();
        assert_ne!(new.id(), old.id());
        assert_eq!(
            std::fs::metadata(data.join("master.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        let after: String = sqlx::query_scalar("SELECT secret FROM accounts WHERE id = $1")
            .bind(account.to_string())
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_ne!(before, after);
        let ctx = SealContext::new("accounts", "secret", account);
        assert_eq!(
            Vault::new(new, vec![]).open(&after, &ctx).unwrap().expose(),
            "pw-before"
        );
        assert!(
            vault.open(&after, &ctx).is_err(),
            "the old key no longer opens it"
        );

        // The server starts with the rotated key.
        let mut cmd = portcullis(&data);
        cmd.env("PORTCULLIS_DATABASE_URL", &db.url).arg("migrate");
        assert!(run(&mut cmd).status.success());
        db.drop_db().await;
    }
}

#[tokio::test]
async fn an_interrupted_rotation_is_finished_at_the_next_start() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cmd = portcullis(&data);
    cmd.env("PORTCULLIS_DATABASE_URL", &db.url).arg("migrate");
    assert!(run(&mut cmd).status.success());
    let old =
        MasterKey::from_base64(&std::fs::read_to_string(data.join("master.key")).unwrap()).unwrap();
    let mut c = any_conn(&db.url).await;
    let (_, account) =
        crate::store::insert_asset_with_account(&mut c, &Vault::new(old, vec![]), "pw").await;

    // Crash after writing the next key, before the database transaction.
    let next = MasterKey::generate();
    let next_path = data.join("master.key.next");
    std::fs::write(&next_path, next.to_base64().as_str()).unwrap();
    std::fs::set_permissions(&next_path, std::fs::Permissions::from_mode(0o600)).unwrap();

    let mut cmd = portcullis(&data);
    cmd.env("PORTCULLIS_DATABASE_URL", &db.url).arg("migrate");
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!next_path.exists());
    let now =
        MasterKey::from_base64(&std::fs::read_to_string(data.join("master.key")).unwrap()).unwrap();
    assert_eq!(now.id(), next.id());
    let sealed: String = sqlx::query_scalar("SELECT secret FROM accounts WHERE id = $1")
        .bind(account.to_string())
        .fetch_one(&mut c)
        .await
        .unwrap();
    let ctx = SealContext::new("accounts", "secret", account);
    assert_eq!(
        Vault::new(now, vec![])
            .open(&sealed, &ctx)
            .unwrap()
            .expose(),
        "pw"
    );
}

#[test]
fn version_prints_the_crate_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(portcullis(dir.path()).arg("version"));
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("portcullis {}", env!("CARGO_PKG_VERSION"))
    );
}
