//! Labels (`/labels/…`) and organisations (`/orgs/orgs/`) driven over HTTP, on both databases,
//! plus the label helpers other handlers call (the `labels=` filter, setting a resource's
//! labels) checked against the same data through the store.

use crate::client::*;
use crate::fixture::Fixture;
use crate::support::{HttpResponse, Server, TestDb, http};
use portcullis_store::Store;
use portcullis_store::labels::{LabelFilter, LabelRef};
use serde_json::{Value, json};
use uuid::Uuid;

const DEFAULT: &str = "00000000-0000-0000-0000-000000000002";

/// A request in a given org (`X-JMS-ORG`).
fn in_org(
    server: &Server,
    token: &str,
    org: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> HttpResponse {
    let auth = format!("Bearer {token}");
    http(
        &server.base,
        method,
        path,
        &[("Authorization", &auth), ("X-JMS-ORG", org)],
        body,
    )
    .unwrap()
}

fn rows(v: &Value) -> Vec<Value> {
    v.get("results")
        .unwrap_or(v)
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .clone()
}

fn field(v: &Value, name: &str) -> Vec<String> {
    let mut out: Vec<String> = rows(v)
        .iter()
        .map(|r| r[name].as_str().unwrap_or_default().to_owned())
        .collect();
    out.sort();
    out
}

async fn filter(store: &Store, spec: &str) -> Vec<String> {
    let f = LabelFilter::parse(spec).unwrap();
    store
        .label_filter_ids(Some(Uuid::parse_str(DEFAULT).unwrap()), "assets.asset", &f)
        .await
        .unwrap()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn labels_are_org_scoped_unique_and_bind_to_resources_on_both_databases() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let labels = "/api/v1/labels/labels/";

        // CRUD and the uniqueness of (org, name, value).
        let r = send(
            &server,
            &admin,
            "POST",
            labels,
            &json!({"name": "env", "value": "prod", "color": "#f00", "comment": "c"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let prod = r.json();
        assert_eq!(prod["display_name"], "env:prod");
        assert_eq!(prod["res_count"], 0);
        assert_eq!(prod["color"], "#f00");
        assert_eq!(prod["org_id"], DEFAULT);
        assert_eq!(prod["org_name"], "Default");
        let prod_id = prod["id"].as_str().unwrap().to_owned();
        let dup = send(
            &server,
            &admin,
            "POST",
            labels,
            &json!({"name": "env", "value": "prod"}),
        );
        assert_eq!(dup.status, 400, "{}", dup.body);
        assert!(dup.json()["non_field_errors"].is_array(), "{}", dup.body);
        let bad = send(
            &server,
            &admin,
            "POST",
            labels,
            &json!({"name": "a:b", "value": "x"}),
        );
        assert_eq!(bad.status, 400);
        assert!(bad.json()["name"].is_array(), "{}", bad.body);
        let bulk = send(
            &server,
            &admin,
            "POST",
            labels,
            &json!([{"name": "env", "value": "dev"}, {"name": "team", "value": "ops"}]),
        );
        assert_eq!(bulk.status, 201, "{}", bulk.body);
        let dev_id = bulk.json()[0]["id"].as_str().unwrap().to_owned();
        let ops_id = bulk.json()[1]["id"].as_str().unwrap().to_owned();
        // The alias viewset lists the same labels; filters narrow them.
        let all = get(&server, &admin, "/api/v1/assets/labels/");
        assert_eq!(all.status, 200, "{}", all.body);
        assert_eq!(field(&all.json(), "value"), ["dev", "ops", "prod"]);
        assert_eq!(
            rows(&get(&server, &admin, "/api/v1/labels/labels/?name=env&limit=1").json()).len(),
            1
        );
        let taken = send(
            &server,
            &admin,
            "PATCH",
            &format!("{labels}{dev_id}/"),
            &json!({"value": "prod"}),
        );
        assert_eq!(taken.status, 400, "{}", taken.body);
        let ok = send(
            &server,
            &admin,
            "PATCH",
            &format!("{labels}{dev_id}/"),
            &json!({"comment": "development"}),
        );
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(ok.json()["comment"], "development");

        // Binding to assets made with the fixture.
        let mut f = Fixture::new(&db.url).await;
        let root = f.node_id("1").await;
        let web = f.asset("web1", &[root]).await.to_string();
        let dbs = f.asset("db1", &[root]).await.to_string();
        let bind = format!("{labels}{prod_id}/resource-types/1/resources/");
        let r = send(&server, &admin, "PUT", &bind, &json!({"res_ids": [web]}));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["total"], 1);
        let ghost = send(
            &server,
            &admin,
            "PUT",
            &bind,
            &json!({"res_ids": [Uuid::new_v4()]}),
        );
        assert_eq!(ghost.status, 400, "{}", ghost.body);
        assert!(ghost.json()["res_ids"].is_array());
        assert_eq!(
            get(&server, &admin, &format!("{labels}{prod_id}/")).json()["res_count"],
            1
        );
        let bound = get(&server, &admin, &bind).json();
        assert_eq!(bound, json!([{"id": web, "name": "web1(10.0.0.4)"}]));
        let unbound = get(&server, &admin, &format!("{bind}?bound=0")).json();
        assert_eq!(field(&unbound, "id"), [dbs.as_str()]);

        let lr = "/api/v1/labels/labeled-resources/";
        let r = send(
            &server,
            &admin,
            "POST",
            lr,
            &json!({"label": dev_id, "res_type": "assets.asset", "res_id": dbs}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let again = send(
            &server,
            &admin,
            "POST",
            lr,
            &json!({"label": {"id": dev_id}, "res_type": 1, "res_id": dbs}),
        );
        assert_eq!(again.status, 400, "{}", again.body);
        let r = send(
            &server,
            &admin,
            "POST",
            lr,
            &json!({"label": ops_id, "res_type": {"value": 1}, "res_id": web}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let on_web = get(&server, &admin, &format!("{lr}?res_id={web}&limit=10")).json();
        assert_eq!(on_web["count"], 2, "{on_web}");
        let row = rows(&on_web)
            .into_iter()
            .find(|r| r["label"]["id"] == prod_id.as_str())
            .unwrap();
        assert_eq!(row["label"]["display_name"], "env:prod");
        assert_eq!(row["res_type"], json!({"value": 1, "label": "Asset"}));
        assert_eq!(row["resource"], "web1(10.0.0.4)");
        let types = get(&server, &admin, "/api/v1/labels/resource-types/").json();
        assert!(
            rows(&types)
                .iter()
                .any(|t| t["id"] == 1 && t["app_label"] == "assets" && t["model"] == "asset"),
            "{types}"
        );

        // The helpers other handlers call, on the same data.
        let store = Store::connect(&db.url).await.unwrap();
        assert_eq!(filter(&store, "env:prod").await, [web.as_str()]);
        assert_eq!(
            filter(&store, "env:prod,env:dev").await,
            sorted(vec![web.clone(), dbs.clone()])
        );
        assert_eq!(filter(&store, "env:prod,team:ops").await, [web.as_str()]);
        assert!(filter(&store, "env:dev,team:ops").await.is_empty());
        assert_eq!(filter(&store, "team:*").await, [web.as_str()]);
        assert!(filter(&store, "env:nope").await.is_empty());
        assert_eq!(filter(&store, &prod_id).await, [web.as_str()]);
        let default = Uuid::parse_str(DEFAULT).unwrap();
        store
            .set_resource_labels(
                default,
                "assets.asset",
                &dbs,
                &[
                    LabelRef::Pair {
                        name: "env".into(),
                        value: "staging".into(),
                    },
                    LabelRef::Id(Uuid::parse_str(&ops_id).unwrap()),
                ],
                "test",
            )
            .await
            .unwrap();
        let shown = store
            .resource_labels(Some(default), "assets.asset", std::slice::from_ref(&dbs))
            .await
            .unwrap();
        let on_db: Vec<String> = shown[&dbs]
            .iter()
            .map(|l| format!("{}:{}", l.name, l.value))
            .collect();
        assert_eq!(on_db, ["env:staging", "team:ops"]);
        assert_eq!(
            filter(&store, "team:ops").await,
            sorted(vec![web.clone(), dbs.clone()])
        );
        let unknown = store
            .set_resource_labels(
                default,
                "assets.asset",
                &dbs,
                &[LabelRef::Id(Uuid::new_v4())],
                "test",
            )
            .await;
        assert!(unknown.is_err());
        store.close().await;

        // Unbinding: one row, a narrowed bulk delete, a bare bulk delete refused.
        let bare = http(
            &server.base,
            "DELETE",
            lr,
            &[("Authorization", &format!("Bearer {admin}"))],
            None,
        )
        .unwrap();
        assert_eq!(bare.status, 400, "{}", bare.body);
        let r = http(
            &server.base,
            "DELETE",
            &format!("{lr}?label={ops_id}"),
            &[("Authorization", &format!("Bearer {admin}"))],
            None,
        )
        .unwrap();
        assert_eq!(r.status, 204, "{}", r.body);
        assert!(rows(&get(&server, &admin, &format!("{lr}?label={ops_id}")).json()).is_empty());
        let r = send(&server, &admin, "DELETE", &bind, &json!({"res_ids": [web]}));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            get(&server, &admin, &format!("{labels}{prod_id}/")).json()["res_count"],
            0
        );
        let r = http(
            &server.base,
            "DELETE",
            &format!("{labels}{dev_id}/"),
            &[("Authorization", &format!("Bearer {admin}"))],
            None,
        )
        .unwrap();
        assert_eq!(r.status, 204);
        assert_eq!(
            get(&server, &admin, &format!("{labels}{dev_id}/")).status,
            404
        );

        // Writes are in the operation log.
        let logged: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM operate_logs WHERE resource_type = 'Label'")
                .fetch_one(&mut f.conn)
                .await
                .unwrap();
        assert!(logged >= 4, "{logged}");

        // A plain user may not write labels.
        let pw = create_user(dir.path(), &db, "plain", "user");
        let plain = token(&server, "plain", &pw);
        for (method, path) in [
            ("POST", labels.to_owned()),
            ("PATCH", format!("{labels}{prod_id}/")),
            ("PUT", bind.clone()),
        ] {
            let r = send(
                &server,
                &plain,
                method,
                &path,
                &json!({"name": "x", "value": "y", "res_ids": []}),
            );
            assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        }
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn orgs_are_listed_per_role_and_created_and_deleted_by_system_admins_on_both_databases() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let pw = create_user(dir.path(), &db, "plain", "user");
        let plain = token(&server, "plain", &pw);
        let orgs = "/api/v1/orgs/orgs/";

        // Listing: a member of Default sees Default; the admin sees every org but GLOBAL.
        let mine = get(&server, &plain, orgs);
        assert_eq!(mine.status, 200, "{}", mine.body);
        assert_eq!(field(&mine.json(), "name"), ["Default"]);
        let every = get(&server, &admin, orgs).json();
        assert_eq!(field(&every, "name"), ["Default", "SYSTEM"]);

        // RBAC: writes are for system administrators.
        let r = send(&server, &plain, "POST", orgs, &json!({"name": "Mine"}));
        assert_eq!(r.status, 403, "{}", r.body);
        let r = send(
            &server,
            &plain,
            "PATCH",
            &format!("{orgs}{DEFAULT}/"),
            &json!({"comment": "x"}),
        );
        assert_eq!(r.status, 403, "{}", r.body);

        // Create: a root node with the next root key comes with it.
        let r = send(
            &server,
            &admin,
            "POST",
            orgs,
            &json!({"name": "Team A", "comment": "first"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let a = r.json();
        let a_id = a["id"].as_str().unwrap().to_owned();
        assert_eq!(a["resource_statistics"]["nodes_amount"], 1, "{a}");
        assert_eq!(a["resource_statistics"]["assets_amount"], 0);
        assert_eq!(a["is_default"], false);
        let dup = send(&server, &admin, "POST", orgs, &json!({"name": "Team A"}));
        assert_eq!(dup.status, 400, "{}", dup.body);
        assert!(dup.json()["name"].is_array());
        let mut f = Fixture::new(&db.url).await;
        let root: (String, String) =
            sqlx::query_as("SELECT key, value FROM nodes WHERE org_id = $1 AND parent_key = ''")
                .bind(&a_id)
                .fetch_one(&mut f.conn)
                .await
                .unwrap();
        assert_eq!(root, ("2".to_owned(), "Team A".to_owned()));
        let nodes = in_org(&server, &admin, &a_id, "GET", "/api/v1/assets/nodes/", None);
        assert_eq!(nodes.status, 200, "{}", nodes.body);
        assert_eq!(field(&nodes.json(), "value"), ["Team A"]);
        // The plain user does not see it.
        assert_eq!(get(&server, &plain, &format!("{orgs}{a_id}/")).status, 404);
        assert_eq!(
            field(&get(&server, &plain, orgs).json(), "name"),
            ["Default"]
        );

        // X-JMS-ORG isolates: an asset of Default is not in Team A, a label of Team A not
        // in Default.
        let dflt_root = f.node_id("1").await;
        f.asset("web1", &[dflt_root]).await;
        let in_a = in_org(
            &server,
            &admin,
            &a_id,
            "GET",
            "/api/v1/assets/assets/",
            None,
        );
        assert_eq!(in_a.status, 200, "{}", in_a.body);
        assert!(rows(&in_a.json()).is_empty(), "{}", in_a.body);
        let in_default = in_org(
            &server,
            &admin,
            DEFAULT,
            "GET",
            "/api/v1/assets/assets/",
            None,
        );
        assert_eq!(field(&in_default.json(), "name"), ["web1"]);
        let r = in_org(
            &server,
            &admin,
            &a_id,
            "POST",
            "/api/v1/labels/labels/",
            Some(&json!({"name": "tenant", "value": "a"})),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["org_id"], a_id.as_str());
        let default_labels = in_org(
            &server,
            &admin,
            DEFAULT,
            "GET",
            "/api/v1/labels/labels/",
            None,
        );
        assert!(rows(&default_labels.json()).is_empty());
        let current = in_org(
            &server,
            &admin,
            &a_id,
            "GET",
            &format!("{orgs}current/"),
            None,
        );
        assert_eq!(current.json()["name"], "Team A");

        // Rename renames the root node; built-in orgs keep their names and cannot go.
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("{orgs}{a_id}/"),
            &json!({"name": "Team A2"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let value: String =
            sqlx::query_scalar("SELECT value FROM nodes WHERE org_id = $1 AND parent_key = ''")
                .bind(&a_id)
                .fetch_one(&mut f.conn)
                .await
                .unwrap();
        assert_eq!(value, "Team A2");
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("{orgs}{DEFAULT}/"),
            &json!({"name": "Renamed"}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("{orgs}{DEFAULT}/"),
            &json!({"comment": "the default"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let delete = |path: String, token: &str| {
            http(
                &server.base,
                "DELETE",
                &path,
                &[("Authorization", &format!("Bearer {token}"))],
                None,
            )
            .unwrap()
        };
        let r = delete(format!("{orgs}{DEFAULT}/"), &admin);
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["error"].is_string(), "{}", r.body);
        // Team A holds a label (and the log of its creation): refused.
        let r = delete(format!("{orgs}{a_id}/"), &admin);
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains("Label"),
            "{}",
            r.body
        );

        // An org holding an asset cannot be deleted; once empty it can, root node and all.
        let r = send(&server, &admin, "POST", orgs, &json!({"name": "Team B"}));
        assert_eq!(r.status, 201, "{}", r.body);
        let b_id = r.json()["id"].as_str().unwrap().to_owned();
        let b_root: String = sqlx::query_scalar("SELECT key FROM nodes WHERE org_id = $1")
            .bind(&b_id)
            .fetch_one(&mut f.conn)
            .await
            .unwrap();
        assert_eq!(b_root, "3");
        f.org = Uuid::parse_str(&b_id).unwrap();
        let asset = f.asset("b1", &[]).await;
        let stats = get(&server, &admin, &format!("{orgs}{b_id}/")).json();
        assert_eq!(stats["resource_statistics"]["assets_amount"], 1, "{stats}");
        assert_eq!(delete(format!("{orgs}{b_id}/"), &plain).status, 403);
        let r = delete(format!("{orgs}{b_id}/"), &admin);
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains("Asset"),
            "{}",
            r.body
        );
        for table in ["asset_protocols", "assets"] {
            let col = if table == "assets" { "id" } else { "asset_id" };
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE {col} = $1"
            )))
            .bind(asset.to_string())
            .execute(&mut f.conn)
            .await
            .unwrap();
        }
        let r = delete(format!("{orgs}{b_id}/"), &admin);
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(get(&server, &admin, &format!("{orgs}{b_id}/")).status, 404);
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM nodes WHERE org_id = $1")
            .bind(&b_id)
            .fetch_one(&mut f.conn)
            .await
            .unwrap();
        assert_eq!(left, 0);
        let logged: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM operate_logs WHERE resource_type = 'Organization'",
        )
        .fetch_one(&mut f.conn)
        .await
        .unwrap();
        assert_eq!(
            logged, 5,
            "create A, create B, rename A, comment Default, delete B"
        );
        drop(server);
        db.drop_db().await;
    }
}
