//! The caches behind the asset lists (node memberships and node paths, kept per permission
//! generation by the store) never show a stale answer: a write through the API is visible on
//! the very next list, for the administrator's inventory and for a user's permitted assets.

use crate::client::*;
use crate::fixture::Fixture;
use crate::support::TestDb;
use serde_json::{Value, json};

/// The row of `name` in a paginated list.
fn row(list: &Value, name: &str) -> Value {
    list["results"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {list}"))
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {list}"))
        .clone()
}

#[tokio::test]
async fn node_renames_and_asset_moves_show_on_the_next_lists() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let pw = create_user(dir.path(), &db, "op", "user");
        let mut f = Fixture::new(&db.url).await;
        let web = f.node("1:1", "web").await;
        let eu = f.node("1:1:1", "eu").await;
        let dbs = f.node("1:2", "dbs").await;
        let asset = f.asset("cache-a", &[eu]).await;
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
        let inventory = || {
            let r = get(&server, &admin, "/api/v1/assets/assets/?limit=100");
            assert_eq!(r.status, 200, "{}", r.body);
            row(&r.json(), "cache-a")
        };
        let mine = || {
            let r = get(&server, &t, "/api/v1/perms/users/self/assets/?limit=100");
            assert_eq!(r.status, 200, "{}", r.body);
            row(&r.json(), "cache-a")
        };
        let patch = |path: String, body: Value| {
            let r = send(&server, &admin, "PATCH", &path, &body);
            assert_eq!(r.status, 200, "{path}: {}", r.body);
        };

        // Twice each: the second answer comes from the caches.
        for _ in 0..2 {
            let a = inventory();
            assert_eq!(a["nodes_display"], json!(["/Default/web/eu"]), "{a}");
            assert_eq!(a["nodes"], json!([{"id": eu, "name": "eu"}]), "{a}");
            assert_eq!(mine()["nodes"], json!([{"id": eu, "name": "eu"}]));
        }

        // Renaming an ancestor changes the path; renaming the node changes its name too.
        patch(
            format!("/api/v1/assets/nodes/{web}/"),
            json!({"value": "www"}),
        );
        assert_eq!(inventory()["nodes_display"], json!(["/Default/www/eu"]));
        patch(
            format!("/api/v1/assets/nodes/{eu}/"),
            json!({"value": "europe"}),
        );
        let a = inventory();
        assert_eq!(a["nodes_display"], json!(["/Default/www/europe"]), "{a}");
        assert_eq!(a["nodes"], json!([{"id": eu, "name": "europe"}]), "{a}");
        assert_eq!(mine()["nodes"], json!([{"id": eu, "name": "europe"}]));

        // Moving the asset to another node shows the new node at once.
        patch(
            format!("/api/v1/assets/hosts/{asset}/"),
            json!({"nodes": [dbs.to_string()]}),
        );
        let a = inventory();
        assert_eq!(a["nodes_display"], json!(["/Default/dbs"]), "{a}");
        assert_eq!(a["nodes"], json!([{"id": dbs, "name": "dbs"}]), "{a}");
        assert_eq!(mine()["nodes"], json!([{"id": dbs, "name": "dbs"}]));
    }
}
