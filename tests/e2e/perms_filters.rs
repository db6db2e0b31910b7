//! The filters of "my assets" (`/api/v1/perms/users/<user>/assets/`, §4.12): `search` over
//! name, address and comment; `node_id` (that node and its descendants); exact `id`, `name`
//! and `address`; all within the user's grant, paginated as before.

use crate::client::*;
use crate::fixture::Fixture;
use crate::support::{TestDb, ok};
use serde_json::Value;

fn names(page: &Value) -> Vec<String> {
    let mut v: Vec<String> = page["results"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn my_assets_honour_search_node_and_exact_filters_within_the_grant() {
    for db in TestDb::both().await {
        check_filters(db).await;
    }
}

async fn check_filters(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let pw = create_user(dir.path(), &db, "op", "user");
    let mut f = Fixture::new(&db.url).await;
    let web = f.node("1:1", "web").await;
    let eu = f.node("1:1:1", "eu").await;
    let dbs = f.node("1:2", "dbs").await;
    let closed = f.node("1:3", "closed").await;
    f.asset("web-1", &[web]).await;
    f.asset("eu-web-2", &[eu]).await;
    let main = f.asset("db-main", &[dbs]).await;
    f.asset("db-spare", &[dbs]).await;
    let hidden = f.asset("web-hidden", &[closed]).await;
    sqlx::query("UPDATE assets SET comment = 'Primary MySQL' WHERE name = 'db-main'")
        .execute(&mut f.conn)
        .await
        .unwrap();
    let op = f.user_id("op").await;
    // The web node (with its child) and one database, directly.
    f.permission(
        "p",
        &[op],
        &[],
        &[main],
        &[web],
        &["@ALL"],
        1,
        Fixture::always(),
    )
    .await;
    let t = token(&server, "op", &pw);
    let list = |query: &str| {
        ok(
            &get(
                &server,
                &t,
                &format!("/api/v1/perms/users/self/assets/?limit=10&{query}"),
            ),
            200,
        )
    };

    assert_eq!(names(&list("")), ["db-main", "eu-web-2", "web-1"]);
    // Search: case-insensitive words over name, address and comment; never beyond the grant.
    assert_eq!(names(&list("search=WEB")), ["eu-web-2", "web-1"]);
    assert_eq!(names(&list("search=mysql")), ["db-main"]);
    assert_eq!(names(&list("search=10.0.0.5")), ["web-1"]);
    assert_eq!(names(&list("search=primary%20sql")), ["db-main"]);
    assert_eq!(list("search=hidden")["count"], 0);
    assert_eq!(list("search=%25")["count"], 0, "a % is literal");
    // Pagination counts the matches.
    let page = ok(
        &get(
            &server,
            &t,
            "/api/v1/perms/users/self/assets/?limit=1&search=web",
        ),
        200,
    );
    assert_eq!(page["count"], 2);
    assert_eq!(page["results"].as_array().unwrap().len(), 1);
    assert!(page["next"].as_str().unwrap().contains("search=web"));
    // node_id: the node and its descendants.
    assert_eq!(
        names(&list(&format!("node_id={web}"))),
        ["eu-web-2", "web-1"]
    );
    assert_eq!(names(&list(&format!("node_id={eu}"))), ["eu-web-2"]);
    assert_eq!(names(&list(&format!("node_id={dbs}"))), ["db-main"]);
    assert_eq!(list(&format!("node_id={closed}"))["count"], 0);
    assert_eq!(
        names(&list(&format!("node_id={web}&search=eu"))),
        ["eu-web-2"]
    );
    // Exact fields.
    assert_eq!(names(&list(&format!("id={main}"))), ["db-main"]);
    assert_eq!(list(&format!("id={hidden}"))["count"], 0);
    assert_eq!(names(&list("name=web-1")), ["web-1"]);
    assert_eq!(list("name=web")["count"], 0, "name is exact");
    assert_eq!(names(&list("address=10.0.0.7")), ["db-main"]);
    // A malformed id is a 400 naming the parameter.
    for bad in ["id=nope", "node_id=nope"] {
        let r = get(
            &server,
            &t,
            &format!("/api/v1/perms/users/self/assets/?{bad}"),
        );
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(
            r.body.contains(bad.split('=').next().unwrap()),
            "{}",
            r.body
        );
    }
    // The same filters on another user's view (admin) and under a node.
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let r = ok(
        &get(
            &server,
            &admin,
            &format!("/api/v1/perms/users/{op}/assets/?limit=10&search=web-1"),
        ),
        200,
    );
    assert_eq!(names(&r), ["web-1"]);
    let r = ok(
        &get(
            &server,
            &t,
            &format!("/api/v1/perms/users/self/nodes/{web}/assets/?limit=10&name=eu-web-2"),
        ),
        200,
    );
    assert_eq!(names(&r), ["eu-web-2"]);
}
