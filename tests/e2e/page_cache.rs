//! The whole-answer cache of the asset lists (`host/api/src/page_cache.rs`) never serves a
//! stale or foreign answer: every kind of write to what `GET /api/v1/assets/assets/` and
//! `GET /api/v1/perms/users/self/assets/` show is visible on the very next request — also when
//! the write comes from elsewhere than the server (SQL straight into the database, as another
//! server sharing it would), a permission expires with time, or the answer was cached by
//! another server on the same database — and the cache never answers a caller it should not.
//! (The `Host` part of the key is not exercised here: the test client always sends its own.)

use crate::client::*;
use crate::fixture::{Fixture, now};
use crate::support::{Server, TestDb};
use serde_json::{Value, json};

const INVENTORY: &str = "/api/v1/assets/assets/?limit=100";
const MINE: &str = "/api/v1/perms/users/self/assets/?limit=100";

/// The list at `path`, asked twice (the second answer is the cached one) and checked equal.
fn list(server: &Server, token: &str, path: &str) -> Value {
    let first = get(server, token, path);
    assert_eq!(first.status, 200, "{path}: {}", first.body);
    let second = get(server, token, path);
    assert_eq!(second.body, first.body, "{path}: a repeated answer differs");
    first.json()
}

/// The row of the asset `id` in a paginated list, if listed.
fn row(page: &Value, id: uuid::Uuid) -> Option<Value> {
    page["results"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .find(|r| r["id"] == id.to_string())
        .cloned()
}

/// Runs one SQL statement as another process would.
async fn sql(f: &mut Fixture, statement: &str, args: &[&str]) {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()));
    for a in args {
        q = q.bind(a.to_string());
    }
    q.execute(&mut f.conn)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

#[tokio::test]
async fn every_kind_of_change_shows_on_the_next_list() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let pw = create_user(dir.path(), &db, "op", "user");
        let mut f = Fixture::new(&db.url).await;
        let web = f.node("1:1", "web").await;
        let dbs = f.node("1:2", "dbs").await;
        let asset = f.asset("pc-a", &[web]).await;
        let op = f.user_id("op").await;
        f.permission(
            "p",
            &[op],
            &[],
            &[],
            &[web, dbs],
            &["@ALL"],
            1,
            Fixture::always(),
        )
        .await;
        let t = token(&server, "op", &pw);
        let a = asset.to_string();
        let inventory = |server: &Server| {
            row(&list(server, &admin, INVENTORY), asset).expect("the asset is in the inventory")
        };
        let mine =
            |server: &Server| row(&list(server, &t, MINE), asset).expect("the asset is permitted");
        // Primes both lists, applies `change`, and returns both rows as they are now.
        macro_rules! after {
            ($change:expr) => {{
                eprintln!("change: {}", stringify!($change));
                inventory(&server);
                mine(&server);
                $change;
                (inventory(&server), mine(&server))
            }};
        }

        // Renaming the asset (assets).
        let (i, m) = after!(
            sql(
                &mut f,
                "UPDATE assets SET name = 'pc-b' WHERE id = $1",
                &[&a]
            )
            .await
        );
        assert_eq!(
            (i["name"].clone(), m["name"].clone()),
            (json!("pc-b"), json!("pc-b"))
        );

        // Another platform for the asset, then renaming that platform (platforms).
        let (i, m) = after!(
            sql(
                &mut f,
                "INSERT INTO platforms (name, category, type, date_created, date_updated) \
                 SELECT 'Linux-pc', category, type, date_created, date_updated FROM platforms WHERE id = 1",
                &[],
            )
            .await
        );
        assert_eq!(i["platform"]["name"], "Linux", "{i}");
        assert_eq!(m["platform"]["name"], "Linux", "{m}");
        let (i, m) = after!(
            sql(
                &mut f,
                "UPDATE assets SET platform_id = (SELECT id FROM platforms WHERE name = 'Linux-pc') WHERE id = $1",
                &[&a],
            )
            .await
        );
        assert_eq!(i["platform"]["name"], "Linux-pc", "{i}");
        assert_eq!(m["platform"]["name"], "Linux-pc", "{m}");
        let (i, m) = after!(
            sql(
                &mut f,
                "UPDATE platforms SET name = 'Linux-pc2' WHERE name = 'Linux-pc'",
                &[]
            )
            .await
        );
        assert_eq!(i["platform"]["name"], "Linux-pc2", "{i}");
        assert_eq!(m["platform"]["name"], "Linux-pc2", "{m}");

        // Moving it to another node (asset_nodes), renaming that node (nodes).
        let (i, m) = after!(
            sql(
                &mut f,
                "UPDATE asset_nodes SET node_id = $1 WHERE asset_id = $2",
                &[&dbs.to_string(), &a]
            )
            .await
        );
        assert_eq!(i["nodes_display"], json!(["/Default/dbs"]), "{i}");
        assert_eq!(m["nodes"], json!([{"id": dbs, "name": "dbs"}]), "{m}");
        let (i, m) = after!(
            sql(
                &mut f,
                "UPDATE nodes SET value = 'db2' WHERE id = $1",
                &[&dbs.to_string()]
            )
            .await
        );
        assert_eq!(i["nodes_display"], json!(["/Default/db2"]), "{i}");
        assert_eq!(m["nodes"], json!([{"id": dbs, "name": "db2"}]), "{m}");

        // A zone for it (zones, assets), then renaming the zone.
        let zone = uuid::Uuid::new_v4().to_string();
        let org = f.org.to_string();
        let at = now().to_string();
        sql(
            &mut f,
            &format!("INSERT INTO zones (id, org_id, name, date_created, date_updated) VALUES ($1, $2, 'z1', {at}, {at})"),
            &[&zone, &org],
        )
        .await;
        let (i, m) = after!(
            sql(
                &mut f,
                "UPDATE assets SET zone_id = $1 WHERE id = $2",
                &[&zone, &a]
            )
            .await
        );
        assert_eq!(i["zone"]["name"], "z1", "{i}");
        assert_eq!(m["zone"]["name"], "z1", "{m}");
        let (i, m) = after!(
            sql(
                &mut f,
                "UPDATE zones SET name = 'z2' WHERE id = $1",
                &[&zone]
            )
            .await
        );
        assert_eq!(i["zone"]["name"], "z2", "{i}");
        assert_eq!(m["zone"]["name"], "z2", "{m}");

        // Renaming the org (orgs).
        let (i, m) = after!(
            sql(
                &mut f,
                "UPDATE orgs SET name = 'Default-pc' WHERE id = $1",
                &[&org]
            )
            .await
        );
        assert_eq!(
            (i["org_name"].clone(), m["org_name"].clone()),
            (json!("Default-pc"), json!("Default-pc"))
        );

        // A protocol's port (asset_protocols).
        let (i, _) = after!(
            sql(
                &mut f,
                "UPDATE asset_protocols SET port = 2222 WHERE asset_id = $1 AND name = 'ssh'",
                &[&a]
            )
            .await
        );
        assert!(
            i["protocols"]
                .as_array()
                .unwrap()
                .contains(&json!({"name": "ssh", "port": 2222})),
            "{i}"
        );

        // A label on it (labels, labeled_resources), then renaming the label's value.
        let label = uuid::Uuid::new_v4().to_string();
        sql(
            &mut f,
            &format!("INSERT INTO labels (id, org_id, name, value, date_created, date_updated) VALUES ($1, $2, 'env', 'prod', {at}, {at})"),
            &[&label, &org],
        )
        .await;
        let (i, _) = after!(
            sql(
                &mut f,
                &format!("INSERT INTO labeled_resources (id, org_id, label_id, res_type, res_id, date_created) VALUES ($1, $2, $3, 'assets.asset', $4, {at})"),
                &[&uuid::Uuid::new_v4().to_string(), &org, &label, &a],
            )
            .await
        );
        assert_eq!(i["labels"][0]["value"], "prod", "{i}");
        let (i, _) = after!(
            sql(
                &mut f,
                "UPDATE labels SET value = 'staging' WHERE id = $1",
                &[&label]
            )
            .await
        );
        assert_eq!(i["labels"][0]["value"], "staging", "{i}");

        // An account on it (accounts: the count).
        assert_eq!(inventory(&server)["accounts_amount"], 0);
        let key = std::fs::read_to_string(dir.path().join("master.key")).expect("the server's key");
        let vault = portcullis_core::vault::Vault::new(
            portcullis_core::vault::MasterKey::from_base64(key.trim()).expect("a key"),
            vec![],
        );
        let (i, _) = after!(f.account(&vault, asset, "root", "pw").await);
        assert_eq!(i["accounts_amount"], 1, "{i}");

        // Deactivating it (assets.is_active): shown inactive, no longer permitted; back again.
        inventory(&server);
        mine(&server);
        sql(
            &mut f,
            "UPDATE assets SET is_active = FALSE WHERE id = $1",
            &[&a],
        )
        .await;
        assert_eq!(inventory(&server)["is_active"], false);
        assert!(
            row(&list(&server, &t, MINE), asset).is_none(),
            "an inactive asset permitted"
        );
        sql(
            &mut f,
            "UPDATE assets SET is_active = TRUE WHERE id = $1",
            &[&a],
        )
        .await;
        assert_eq!(mine(&server)["is_active"], true);

        // Revoking the grant (perm_users): gone from the user's list, still in the inventory.
        mine(&server);
        sql(
            &mut f,
            "DELETE FROM perm_users WHERE user_id = $1",
            &[&op.to_string()],
        )
        .await;
        assert!(
            row(&list(&server, &t, MINE), asset).is_none(),
            "still permitted after revoking"
        );
        // Granting it back through a group (user_group_members), then leaving the group.
        let group = f.group("g", &[op]).await;
        f.permission(
            "pg",
            &[],
            &[group],
            &[asset],
            &[],
            &["@ALL"],
            1,
            Fixture::always(),
        )
        .await;
        assert!(
            row(&list(&server, &t, MINE), asset).is_some(),
            "not permitted through the group"
        );
        sql(
            &mut f,
            "DELETE FROM user_group_members WHERE user_id = $1",
            &[&op.to_string()],
        )
        .await;
        assert!(
            row(&list(&server, &t, MINE), asset).is_none(),
            "still permitted after leaving the group"
        );

        // Deleting the asset.
        inventory(&server);
        sql(
            &mut f,
            "DELETE FROM asset_protocols WHERE asset_id = $1",
            &[&a],
        )
        .await;
        sql(&mut f, "DELETE FROM asset_nodes WHERE asset_id = $1", &[&a]).await;
        sql(
            &mut f,
            "DELETE FROM labeled_resources WHERE res_id = $1",
            &[&a],
        )
        .await;
        sql(&mut f, "DELETE FROM accounts WHERE asset_id = $1", &[&a]).await;
        sql(&mut f, "DELETE FROM assets WHERE id = $1", &[&a]).await;
        assert!(
            row(&list(&server, &admin, INVENTORY), asset).is_none(),
            "a deleted asset listed"
        );
    }
}

#[tokio::test]
async fn a_permission_that_expires_drops_from_the_cached_list() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let pw = create_user(dir.path(), &db, "op", "user");
        let mut f = Fixture::new(&db.url).await;
        let asset = f.asset("pc-exp", &[]).await;
        let op = f.user_id("op").await;
        let t = token(&server, "op", &pw);
        // Long enough for the first list on a loaded machine, short enough to wait for.
        let ends = now() + 6_000_000;
        f.permission(
            "p",
            &[op],
            &[],
            &[asset],
            &[],
            &["@ALL"],
            1,
            (now() - 1_000_000, ends),
        )
        .await;
        assert!(
            row(&list(&server, &t, MINE), asset).is_some(),
            "not permitted yet"
        );
        while now() <= ends {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let after = list(&server, &t, MINE);
        assert!(
            row(&after, asset).is_none(),
            "an expired permission still listed: {after}"
        );
        assert_eq!(after["count"], 0, "{after}");
    }
}

#[tokio::test]
async fn a_write_through_another_server_shows_on_this_one() {
    for db in TestDb::both().await {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let a = start(&db, one.path());
        // The second server shares the database (and, for SQLite, its file) and the key.
        let mut cmd = crate::support::portcullis(two.path());
        cmd.env("PORTCULLIS_DATABASE_URL", &db.url)
            .env("PORTCULLIS_MASTER_KEY_FILE", one.path().join("master.key"));
        let b = Server::start(cmd);
        let admin_a = token(&a, "admin", ADMIN_PASSWORD);
        let admin_b = token(&b, "admin", ADMIN_PASSWORD);
        let mut f = Fixture::new(&db.url).await;
        let asset = f.asset("pc-two", &[]).await;
        assert_eq!(
            row(&list(&a, &admin_a, INVENTORY), asset).unwrap()["name"],
            "pc-two"
        );
        let r = send(
            &b,
            &admin_b,
            "PATCH",
            &format!("/api/v1/assets/hosts/{asset}/"),
            &json!({"name": "pc-renamed"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            row(&list(&a, &admin_a, INVENTORY), asset).unwrap()["name"],
            "pc-renamed"
        );
    }
}

#[tokio::test]
async fn a_cached_answer_is_never_given_to_another_caller() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let pw1 = create_user(dir.path(), &db, "op1", "user");
        let pw2 = create_user(dir.path(), &db, "op2", "user");
        let mut f = Fixture::new(&db.url).await;
        let asset = f.asset("pc-own", &[]).await;
        let op1 = f.user_id("op1").await;
        f.permission(
            "p",
            &[op1],
            &[],
            &[asset],
            &[],
            &["@ALL"],
            1,
            Fixture::always(),
        )
        .await;
        let t1 = token(&server, "op1", &pw1);
        let t2 = token(&server, "op2", &pw2);
        // The administrator's inventory is cached; a plain user is still refused it.
        assert!(row(&list(&server, &admin, INVENTORY), asset).is_some());
        assert_eq!(get(&server, &t2, INVENTORY).status, 403);
        // op1's `self` list is cached; op2's `self` (same URL) is op2's own, empty one.
        assert!(row(&list(&server, &t1, MINE), asset).is_some());
        let other = list(&server, &t2, MINE);
        assert_eq!(other["count"], 0, "{other}");
    }
}
