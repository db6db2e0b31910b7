//! The store on both databases: migrations, seeding, constraints, the secret-column registry.

use crate::fixture::{Fixture, now};
use crate::support::TestDb;
use portcullis_core::vault::{MasterKey, Vault};
use portcullis_store::Store;
use portcullis_store::secrets::SECRET_COLUMNS;
use sqlx::AnyConnection;
use uuid::Uuid;

/// Migrated and seeded.
pub async fn ready(db: &TestDb) -> Store {
    let store = Store::connect(&db.url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.seed_builtins().await.expect("seed");
    store
}

/// Used by the CLI tests: an asset in the Default org with one account sealed by `vault`.
pub async fn insert_asset_with_account(
    conn: &mut AnyConnection,
    vault: &Vault,
    secret: &str,
) -> (Uuid, Uuid) {
    let asset = Uuid::new_v4();
    let t = now();
    sqlx::query("INSERT INTO assets (id, org_id, name, address, platform_id, category, type, date_created, date_updated) VALUES ($1, '00000000-0000-0000-0000-000000000002', $2, '10.1.1.1', 1, 'host', 'linux', $3, $3)")
        .bind(asset.to_string())
        .bind(format!("host-{}", asset.simple()))
        .bind(t)
        .execute(&mut *conn)
        .await
        .expect("insert asset");
    let account = Uuid::new_v4();
    let sealed = vault.seal(
        &secret.into(),
        &portcullis_core::vault::SealContext::new("accounts", "secret", account),
    );
    sqlx::query("INSERT INTO accounts (id, org_id, asset_id, name, username, secret, date_created, date_updated) VALUES ($1, '00000000-0000-0000-0000-000000000002', $2, 'root', 'root', $3, $4, $4)")
        .bind(account.to_string())
        .bind(asset.to_string())
        .bind(sealed)
        .bind(t)
        .execute(&mut *conn)
        .await
        .expect("insert account");
    (asset, account)
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .expect(sql)
}

#[tokio::test]
async fn migrating_and_seeding_twice_changes_nothing_and_keeps_admin_edits() {
    for db in TestDb::both().await {
        let store = ready(&db).await;
        let platforms = count(&store, "SELECT COUNT(*) FROM platforms").await;
        let protocols = count(&store, "SELECT COUNT(*) FROM platform_protocols").await;
        sqlx::query(
            "UPDATE platform_protocols SET port = 2200 WHERE platform_id = 1 AND name = 'ssh'",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let status = store.migrate().await.unwrap();
        assert!(status.applied_now.is_empty(), "{}", db.backend);
        store.seed_builtins().await.unwrap();
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM platforms").await,
            platforms
        );
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM platform_protocols").await,
            protocols
        );
        assert_eq!(
            count(
                &store,
                "SELECT port FROM platform_protocols WHERE platform_id = 1 AND name = 'ssh'"
            )
            .await,
            2200
        );
        assert_eq!(count(&store, "SELECT COUNT(*) FROM nodes WHERE key = '1' AND org_id = '00000000-0000-0000-0000-000000000002'").await, 1);
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM platform_automations").await,
            platforms
        );
        store.close().await;
        db.drop_db().await;
    }
}

#[tokio::test]
async fn the_schema_refuses_bad_rows() {
    for db in TestDb::both().await {
        let store = ready(&db).await;
        let mut f = Fixture::new(&db.url).await;
        let root = f.node_id("1").await;
        let a = f.asset("web-1", &[root]).await;
        let t = now();
        let org = f.org.to_string();
        let cases: Vec<(&str, String)> = vec![
            (
                "duplicate asset name in one org",
                format!(
                    "INSERT INTO assets (id, org_id, name, address, platform_id, category, type, date_created, date_updated) VALUES ('{}', '{org}', 'web-1', 'x', 1, 'host', 'linux', {t}, {t})",
                    Uuid::new_v4()
                ),
            ),
            (
                "platform that does not exist",
                format!(
                    "INSERT INTO assets (id, org_id, name, address, platform_id, category, type, date_created, date_updated) VALUES ('{}', '{org}', 'web-2', 'x', 99999, 'host', 'linux', {t}, {t})",
                    Uuid::new_v4()
                ),
            ),
            (
                "category that contradicts the platform",
                format!(
                    "INSERT INTO assets (id, org_id, name, address, platform_id, category, type, date_created, date_updated) VALUES ('{}', '{org}', 'web-3', 'x', 1, 'database', 'mysql', {t}, {t})",
                    Uuid::new_v4()
                ),
            ),
            (
                "sibling nodes with the same name",
                format!(
                    "INSERT INTO nodes (id, org_id, key, value, parent_key, date_created, date_updated) VALUES ('{}', '{org}', '1:7', 'Default', '1', {t}, {t}), ('{}', '{org}', '1:8', 'Default', '1', {t}, {t})",
                    Uuid::new_v4(),
                    Uuid::new_v4()
                ),
            ),
            (
                "node key that does not extend its parent",
                format!(
                    "INSERT INTO nodes (id, org_id, key, value, parent_key, date_created, date_updated) VALUES ('{}', '{org}', '2:1', 'x', '1', {t}, {t})",
                    Uuid::new_v4()
                ),
            ),
            (
                "duplicate account username on an asset",
                format!(
                    "INSERT INTO accounts (id, org_id, asset_id, name, username, date_created, date_updated) VALUES ('{}', '{org}', '{a}', 'a1', 'root', {t}, {t}), ('{}', '{org}', '{a}', 'a2', 'root', {t}, {t})",
                    Uuid::new_v4(),
                    Uuid::new_v4()
                ),
            ),
            (
                "unknown secret type",
                format!(
                    "INSERT INTO accounts (id, org_id, asset_id, name, username, secret_type, date_created, date_updated) VALUES ('{}', '{org}', '{a}', 'a3', 'x', 'pgp', {t}, {t})",
                    Uuid::new_v4()
                ),
            ),
            (
                "ACL priority out of range",
                format!(
                    "INSERT INTO command_filter_acls (id, org_id, name, priority, action, date_created, date_updated) VALUES ('{}', '{org}', 'acl', 101, 'reject', {t}, {t})",
                    Uuid::new_v4()
                ),
            ),
            (
                "asset of an unknown org",
                format!(
                    "INSERT INTO assets (id, org_id, name, address, platform_id, category, type, date_created, date_updated) VALUES ('{}', '{}', 'web-4', 'x', 1, 'host', 'linux', {t}, {t})",
                    Uuid::new_v4(),
                    Uuid::new_v4()
                ),
            ),
            (
                "duplicate email",
                format!(
                    "INSERT INTO users (id, name, username, email, date_joined, date_created, date_updated) VALUES ('{}', 'a', 'a', 'same@x.org', {t}, {t}, {t}), ('{}', 'b', 'b', 'same@x.org', {t}, {t}, {t})",
                    Uuid::new_v4(),
                    Uuid::new_v4()
                ),
            ),
        ];
        for (what, sql) in cases {
            let res = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut f.conn)
                .await;
            assert!(res.is_err(), "{}: the schema accepted {what}", db.backend);
        }
        store.close().await;
        db.drop_db().await;
    }
}

#[tokio::test]
async fn every_secret_column_is_known_to_key_rotation() {
    let db = TestDb::sqlite();
    let store = ready(&db).await;
    let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let mut found = Vec::new();
    for t in &tables {
        let cols: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT name FROM pragma_table_info('{t}')"
        )))
        .fetch_all(store.pool())
        .await
        .unwrap();
        for c in cols {
            if matches!(
                c.as_str(),
                "secret" | "passphrase" | "mfa_secret" | "private_key" | "input_secret"
            ) {
                found.push((t.clone(), c));
            }
        }
    }
    for (t, c) in &found {
        assert!(
            SECRET_COLUMNS.iter().any(|s| s.table == t && s.column == c),
            "{t}.{c} holds a secret but is not in SECRET_COLUMNS"
        );
    }
    for s in SECRET_COLUMNS {
        assert!(
            found.iter().any(|(t, c)| t == s.table && c == s.column),
            "{}.{} is not in the schema",
            s.table,
            s.column
        );
    }
}

#[tokio::test]
async fn resealing_is_all_or_nothing() {
    for db in TestDb::both().await {
        let store = ready(&db).await;
        let mut f = Fixture::new(&db.url).await;
        let old = MasterKey::generate();
        let vault = Vault::new(old.clone(), vec![]);
        let root = f.node_id("1").await;
        let asset = f.asset("h1", &[root]).await;
        let good = f.account(&vault, asset, "root", "pw1").await;
        // A value sealed for another row: opening it fails, so the pass must change nothing.
        let bad = f.account(&vault, asset, "admin", "pw2").await;
        let stolen: String = sqlx::query_scalar("SELECT secret FROM accounts WHERE id = $1")
            .bind(good.to_string())
            .fetch_one(&mut f.conn)
            .await
            .unwrap();
        sqlx::query("UPDATE accounts SET secret = $1 WHERE id = $2")
            .bind(&stolen)
            .bind(bad.to_string())
            .execute(&mut f.conn)
            .await
            .unwrap();
        let rotated = Vault::new(MasterKey::generate(), vec![old]);
        let err = store.reseal_all(&rotated).await.unwrap_err().to_string();
        assert!(err.contains(&format!("accounts.secret:{bad}")), "{err}");
        let still: String = sqlx::query_scalar("SELECT secret FROM accounts WHERE id = $1")
            .bind(good.to_string())
            .fetch_one(&mut f.conn)
            .await
            .unwrap();
        assert_eq!(
            still, stolen,
            "{}: the good row was rolled back too",
            db.backend
        );
        store.close().await;
        db.drop_db().await;
    }
}

#[tokio::test]
async fn writes_the_engine_reads_bump_the_permission_generation() {
    for db in TestDb::both().await {
        let store = ready(&db).await;
        let mut f = Fixture::new(&db.url).await;
        let generation =
            || async { count(&store, "SELECT value FROM perm_generation WHERE id = 1").await };
        let g0 = generation().await;
        let u = f.user("bob").await;
        let g1 = generation().await;
        f.group("ops", &[u]).await;
        let g2 = generation().await;
        assert!(g2 > g1, "{}: group membership must bump", db.backend);
        let root = f.node_id("1").await;
        let a = f.asset("h", &[root]).await;
        let g3 = generation().await;
        assert!(g3 > g2, "{}: asset membership must bump", db.backend);
        f.permission(
            "p",
            &[u],
            &[],
            &[a],
            &[],
            &["@ALL"],
            1,
            crate::fixture::Fixture::always(),
        )
        .await;
        let g4 = generation().await;
        assert!(g4 > g3, "{}: permissions must bump", db.backend);
        sqlx::query("UPDATE users SET last_login = 5 WHERE id = $1")
            .bind(u.to_string())
            .execute(&mut f.conn)
            .await
            .unwrap();
        assert_eq!(
            generation().await,
            g4,
            "{}: a login must not invalidate every user's cache",
            db.backend
        );
        sqlx::query("UPDATE users SET is_active = $1 WHERE id = $2")
            .bind(false)
            .bind(u.to_string())
            .execute(&mut f.conn)
            .await
            .unwrap();
        assert!(
            generation().await > g4,
            "{}: deactivating a user must bump",
            db.backend
        );
        let _ = g0;
        store.close().await;
        db.drop_db().await;
    }
}

/// Many writers on one SQLite file at once (change-secret automations on 50 assets): every
/// write transaction takes the write lock first and waits its turn, so none fails with
/// "database is locked" (a deferred one that read first got SQLITE_BUSY_SNAPSHOT at once).
#[tokio::test]
async fn concurrent_account_updates_on_sqlite_all_succeed() {
    use portcullis_store::accounts::AccountUpdate;
    let db = TestDb::sqlite();
    let store = ready(&db).await;
    let vault = Vault::new(MasterKey::generate(), vec![]);
    let mut ids = Vec::new();
    {
        let mut conn = store.pool().acquire().await.unwrap();
        for _ in 0..20 {
            ids.push(insert_asset_with_account(&mut conn, &vault, "old").await.1);
        }
    }
    let mut tasks = Vec::new();
    for (n, id) in ids.iter().copied().enumerate() {
        let (store, vault) = (store.clone(), vault.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..10 {
                let account = store.account(id).await?.expect("the account");
                store
                    .update_account(
                        &vault,
                        id,
                        &AccountUpdate {
                            name: account.name.clone(),
                            username: account.username.clone(),
                            secret_type: "password".into(),
                            secret: Some(format!("secret-{n}-{round}").as_str().into()),
                            passphrase: None,
                            privileged: account.privileged,
                            is_active: account.is_active,
                            su_from: None,
                            params: account.params.clone(),
                            comment: account.comment.clone(),
                        },
                        "test",
                    )
                    .await?;
            }
            Ok::<_, portcullis_store::StoreError>(())
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("no writer fails");
    }
    for (n, id) in ids.iter().copied().enumerate() {
        let secret = store.account_secret(&vault, id).await.unwrap();
        assert_eq!(
            secret.map(|s| s.expose().to_owned()),
            Some(format!("secret-{n}-9"))
        );
    }
}
