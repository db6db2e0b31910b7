//! The caches behind the asset lists (node memberships and node paths, kept per permission
//! generation by the store) never show a stale answer: a write through the API is visible on
//! the very next list, for the administrator's inventory and for a user's permitted assets.

use crate::client::*;
use crate::fixture::Fixture;
use crate::support::{Server, TestDb};
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

/// The node tree's `name (N)` of each node the tree request lists (root level, or the children
/// of `key`), by node title.
fn tree_counts(server: &Server, t: &str, key: Option<&str>) -> Vec<(String, String)> {
    let path = match key {
        Some(k) => format!("/api/v1/assets/nodes/children/tree/?key={k}"),
        None => "/api/v1/assets/nodes/children/tree/".to_owned(),
    };
    let r = get(server, t, &path);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {}", r.body))
        .iter()
        .filter(|i| i["meta"]["type"] == "node")
        .map(|i| {
            (
                i["title"].as_str().unwrap_or_default().to_owned(),
                i["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The asset counts of the node tree (cached per permission generation) follow every change
/// of the inventory on the next request: an asset created into a node, moved to another,
/// taken out of one, deleted; a node deleted. Each step reads the tree before and after, so a
/// count cached without the generation's invalidation would show the old number.
#[tokio::test]
async fn node_tree_asset_counts_follow_adds_moves_removals_and_deletes() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let mut f = Fixture::new(&db.url).await;
        let web = f.node("1:1", "web").await;
        let eu = f.node("1:1:1", "eu").await;
        let dbs = f.node("1:2", "dbs").await;
        let empty = f.node("1:3", "spare").await;
        let a1 = f.asset("count-a1", &[eu]).await;
        let a2 = f.asset("count-a2", &[web, eu]).await;
        let counts = |key: Option<&str>| tree_counts(&server, &admin, key);
        let of = |list: &[(String, String)], title: &str| -> String {
            list.iter()
                .find(|(t, _)| t == title)
                .unwrap_or_else(|| panic!("{title} not in {list:?}"))
                .1
                .clone()
        };
        let expect = |web_n: i64, eu_n: i64, dbs_n: i64, root_n: i64, step: &str| {
            let top = counts(None);
            assert_eq!(of(&top, "web"), format!("web ({web_n})"), "{step}: {top:?}");
            assert_eq!(of(&top, "dbs"), format!("dbs ({dbs_n})"), "{step}: {top:?}");
            let root = &top[0];
            assert!(
                root.1.ends_with(&format!(" ({root_n})")),
                "{step}: root {root:?}"
            );
            let under = counts(Some("1:1"));
            assert_eq!(
                of(&under, "eu"),
                format!("eu ({eu_n})"),
                "{step}: {under:?}"
            );
            // The node list shows the same numbers.
            let r = get(&server, &admin, &format!("/api/v1/assets/nodes/{eu}/"));
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.json()["assets_amount"], eu_n, "{step}: {}", r.body);
        };
        let put = |node: uuid::Uuid, op: &str, ids: &[uuid::Uuid]| {
            let r = send(
                &server,
                &admin,
                "PUT",
                &format!("/api/v1/assets/nodes/{node}/assets/{op}/"),
                &json!({"assets": ids}),
            );
            assert_eq!(r.status, 200, "{op}: {}", r.body);
        };

        // a2 sits in web and eu: counted once in web.
        expect(2, 2, 0, 2, "start");
        expect(2, 2, 0, 2, "start, from the cache");

        // Created into dbs.
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/assets/hosts/",
            &json!({"name": "count-a3", "address": "10.9.0.3", "platform": 1,
                    "nodes": [dbs], "protocols": [{"name": "ssh", "port": 22}]}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let a3 = r.json()["id"].as_str().unwrap().to_owned();
        expect(2, 2, 1, 3, "created into dbs");

        // a1 moved from eu to dbs.
        put(dbs, "add", &[a1]);
        expect(2, 2, 2, 3, "a1 added to dbs");
        put(eu, "remove", &[a1]);
        expect(1, 1, 2, 3, "a1 taken out of eu (and so out of web)");

        // a2 moved out of web and eu into the spare node (replace).
        put(empty, "replace", &[a2]);
        expect(0, 0, 2, 3, "a2 moved to spare");
        let top = counts(None);
        assert_eq!(of(&top, "spare"), "spare (1)", "{top:?}");

        // Deleted assets leave every count.
        let r = send(
            &server,
            &admin,
            "DELETE",
            &format!("/api/v1/assets/assets/{a3}/"),
            &json!({}),
        );
        assert!(r.status == 204 || r.status == 200, "{}", r.body);
        expect(0, 0, 1, 2, "a3 deleted");

        // A node created under web starts at zero; an asset put there counts in web too.
        let r = send(
            &server,
            &admin,
            "POST",
            &format!("/api/v1/assets/nodes/{web}/children/"),
            &json!({"value": "new"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let new = uuid::Uuid::parse_str(r.json()["id"].as_str().unwrap()).unwrap();
        let under = counts(Some("1:1"));
        assert_eq!(of(&under, "new"), "new (0)", "{under:?}");
        put(new, "add", &[a1]);
        let under = counts(Some("1:1"));
        assert_eq!(of(&under, "new"), "new (1)", "{under:?}");
        expect(1, 0, 1, 2, "a1 also in web/new");
    }
}
