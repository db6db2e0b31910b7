//! The permission engine through the store, on both databases: what a user's list views and
//! connect path will see.

use crate::fixture::{Fixture, now};
use crate::store::ready;
use crate::support::TestDb;
use portcullis_core::vault::{MasterKey, Vault};

const CONNECT: i64 = 1;
const UPLOAD: i64 = 2;
const DOWNLOAD: i64 = 4;

#[tokio::test]
async fn list_views_follow_grants_through_groups_nodes_and_descendants() {
    for db in TestDb::both().await {
        let store = ready(&db).await;
        let mut f = Fixture::new(&db.url).await;
        let vault = Vault::new(MasterKey::generate(), vec![]);
        // /Default, /Default/dev, /Default/dev/web, /Default/ops
        let root = f.node_id("1").await;
        let dev = f.node("1:1", "dev").await;
        let web = f.node("1:1:1", "web").await;
        let ops = f.node("1:2", "ops").await;
        let w1 = f.asset("web-1", &[web]).await;
        let w2 = f.asset("web-2", &[web]).await;
        let d1 = f.asset("dev-1", &[dev]).await;
        let o1 = f.asset("ops-1", &[ops]).await;
        let lone = f.asset("lone", &[root]).await;
        f.account(&vault, w1, "root", "pw").await;
        f.account(&vault, w1, "deploy", "pw").await;

        let alice = f.user("alice").await;
        let bob = f.user("bob").await;
        let devs = f.group("devs", &[alice]).await;
        // devs get the whole dev subtree; alice gets ops-1 directly with upload only.
        f.permission(
            "dev-tree",
            &[],
            &[devs],
            &[],
            &[dev],
            &["root"],
            CONNECT | DOWNLOAD,
            Fixture::always(),
        )
        .await;
        f.permission(
            "ops-one",
            &[alice],
            &[],
            &[o1],
            &[],
            &["@ALL"],
            CONNECT | UPLOAD,
            Fixture::always(),
        )
        .await;
        // Empty user side: grants nobody. Expired: grants nothing.
        f.permission(
            "nobody",
            &[],
            &[],
            &[lone],
            &[],
            &["@ALL"],
            CONNECT,
            Fixture::always(),
        )
        .await;
        f.permission(
            "expired",
            &[alice],
            &[],
            &[lone],
            &[],
            &["@ALL"],
            CONNECT,
            (now() - 7_200_000_000, now() - 3_600_000_000),
        )
        .await;

        let page = store
            .user_permitted_assets(alice, None, 0, 100)
            .await
            .unwrap();
        let names: Vec<&str> = page.assets.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            ["dev-1", "ops-1", "web-1", "web-2"],
            "{}",
            db.backend
        );
        assert_eq!(page.count, 4);
        let second = store
            .user_permitted_assets(alice, None, 2, 2)
            .await
            .unwrap();
        assert_eq!(
            second
                .assets
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>(),
            ["web-1", "web-2"]
        );
        assert_eq!(second.count, 4);

        let nodes = store
            .user_permitted_nodes(alice, Some(f.org))
            .await
            .unwrap();
        let tree: Vec<(&str, &str, i64)> = nodes
            .iter()
            .map(|n| (n.key.as_str(), n.value.as_str(), n.assets_amount))
            .collect();
        assert_eq!(
            tree,
            [
                ("1", "Default", 4),
                ("1:1", "dev", 3),
                ("1:1:1", "web", 2),
                ("1:2", "ops", 1)
            ],
            "{}",
            db.backend
        );

        assert_eq!(
            store
                .user_permitted_assets(bob, None, 0, 100)
                .await
                .unwrap()
                .count,
            0
        );

        // One asset's grant: only the `root` account through the node permission.
        let grant = store
            .user_asset_grant(alice, w1)
            .await
            .unwrap()
            .expect("web-1 is permitted");
        let accounts: Vec<&str> = grant.accounts.iter().map(|a| a.username.as_str()).collect();
        assert_eq!(accounts, ["root"], "{}", db.backend);
        assert!(grant.can_connect(&grant.accounts[0].alias, "ssh"));
        assert!(
            store.user_asset_grant(alice, lone).await.unwrap().is_none(),
            "{}",
            db.backend
        );
        assert!(store.user_asset_grant(bob, w1).await.unwrap().is_none());

        // A change is seen at once, without an explicit rebuild: bob joins devs.
        sqlx::query("INSERT INTO user_group_members (user_group_id, user_id) VALUES ($1, $2)")
            .bind(devs.to_string())
            .bind(bob.to_string())
            .execute(&mut f.conn)
            .await
            .unwrap();
        assert_eq!(
            store
                .user_permitted_assets(bob, None, 0, 100)
                .await
                .unwrap()
                .count,
            3,
            "{}",
            db.backend
        );
        // An asset leaves the subtree.
        sqlx::query("DELETE FROM asset_nodes WHERE asset_id = $1")
            .bind(w2.to_string())
            .execute(&mut f.conn)
            .await
            .unwrap();
        assert_eq!(
            store
                .user_permitted_assets(bob, None, 0, 100)
                .await
                .unwrap()
                .count,
            2
        );
        // A deactivated asset disappears.
        sqlx::query("UPDATE assets SET is_active = $1 WHERE id = $2")
            .bind(false)
            .bind(d1.to_string())
            .execute(&mut f.conn)
            .await
            .unwrap();
        assert_eq!(
            store
                .user_permitted_assets(bob, None, 0, 100)
                .await
                .unwrap()
                .count,
            1
        );
        let _ = (root, lone);
        store.close().await;
        db.drop_db().await;
    }
}

#[tokio::test]
async fn a_permission_that_starts_later_appears_when_its_time_comes() {
    for db in TestDb::both().await {
        let store = ready(&db).await;
        let mut f = Fixture::new(&db.url).await;
        let root = f.node_id("1").await;
        let a = f.asset("soon", &[root]).await;
        let u = f.user("carol").await;
        f.permission(
            "soon",
            &[u],
            &[],
            &[a],
            &[],
            &["@ALL"],
            CONNECT,
            (now() + 1_500_000, now() + 3_600_000_000),
        )
        .await;
        assert_eq!(
            store
                .user_permitted_assets(u, None, 0, 10)
                .await
                .unwrap()
                .count,
            0
        );
        tokio::time::sleep(std::time::Duration::from_millis(1_700)).await;
        assert_eq!(
            store
                .user_permitted_assets(u, None, 0, 10)
                .await
                .unwrap()
                .count,
            1,
            "{}",
            db.backend
        );
        store.close().await;
        db.drop_db().await;
    }
}
