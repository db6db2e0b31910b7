//! Assets, nodes, zones and platforms driven over HTTP the way a JumpServer script does.

use crate::client::*;
use crate::fixture::{Fixture, now};
use crate::support::{HttpResponse, Server, TestDb, http};
use serde_json::{Value, json};
use uuid::Uuid;

fn post(server: &Server, token: &str, path: &str, body: &Value) -> HttpResponse {
    send(server, token, "POST", path, body)
}

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

fn names(list: &Value) -> Vec<String> {
    let rows = list
        .get("results")
        .unwrap_or(list)
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"));
    let mut v: Vec<String> = rows
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn created(r: HttpResponse) -> Value {
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

async fn operate_actions(url: &str, resource_type: &str) -> Vec<String> {
    let mut f = Fixture::new(url).await;
    let mut v: Vec<String> =
        sqlx::query_scalar("SELECT action FROM operate_logs WHERE resource_type = $1")
            .bind(resource_type)
            .fetch_all(&mut f.conn)
            .await
            .unwrap();
    v.sort();
    v
}

#[tokio::test]
async fn hosts_and_databases_are_created_listed_filtered_updated_and_audited() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);

        let web1 = created(post(
            &server,
            &admin,
            "/api/v1/assets/hosts/",
            &json!({"name": "web1", "address": "10.0.0.1", "platform": 1,
                "protocols": [{"name": "ssh"}], "nodes_display": ["/Default/dev/web"],
                "comment": "front"}),
        ));
        assert_eq!(
            web1["platform"],
            json!({"id": 1, "name": "Linux", "type": "linux"})
        );
        assert_eq!(web1["category"], json!({"value": "host", "label": "Host"}));
        assert_eq!(web1["type"]["value"], "linux");
        assert_eq!(web1["protocols"], json!([{"name": "ssh", "port": 22}]));
        assert_eq!(web1["nodes_display"], json!(["/Default/dev/web"]));
        assert_eq!(web1["nodes"][0]["name"], "web");
        assert_eq!(web1["zone"], Value::Null);
        assert_eq!(web1["connectivity"]["value"], "-");
        assert_eq!(web1["org_name"], "Default");
        assert_eq!(web1["accounts_amount"], 0);
        assert_eq!(web1["is_active"], true);
        assert!(web1["created_by"].as_str().unwrap().contains("admin"));
        assert_eq!(web1["date_created"].as_str().unwrap().len(), 25);

        let web2 = created(post(
            &server,
            &admin,
            "/api/v1/assets/hosts/",
            &json!({"name": "web2", "address": "10.0.0.2", "platform": {"pk": 1},
                "protocols": [{"name": "ssh", "port": 2222}, "sftp/22"],
                "nodes_display": ["/Default/dev/web"], "is_active": false}),
        ));
        assert_eq!(web2["nodes"], web1["nodes"], "the path is reused");
        assert_eq!(
            web2["protocols"],
            json!([{"name": "sftp", "port": 22}, {"name": "ssh", "port": 2222}])
        );
        let win = created(post(
            &server,
            &admin,
            "/api/v1/assets/hosts/",
            &json!({"name": "win1", "address": "10.0.0.3", "platform": 5,
                "protocols": [{"name": "rdp"}]}),
        ));
        assert_eq!(
            win["nodes_display"],
            json!(["/Default"]),
            "no node: org root"
        );
        assert_eq!(win["type"], json!({"value": "windows", "label": "Windows"}));
        let db1 = created(post(
            &server,
            &admin,
            "/api/v1/assets/databases/",
            &json!({"name": "db1", "address": "10.0.0.4", "platform": 40,
                "protocols": [{"name": "mysql"}], "db_name": "app",
                "nodes_display": ["/Default/dev/db"]}),
        ));
        assert_eq!(db1["db_name"], "app");
        assert_eq!(db1["use_ssl"], false);
        assert_eq!(db1["pg_ssl_mode"]["value"], "prefer");
        assert_eq!(db1["protocols"], json!([{"name": "mysql", "port": 3306}]));
        assert_eq!(db1["category"]["value"], "database");

        // Per-category lists and the generic one.
        let l = |path: &str| {
            let r = get(&server, &admin, path);
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            r.json()
        };
        assert_eq!(names(&l("/api/v1/assets/databases/")), ["db1"]);
        assert_eq!(names(&l("/api/v1/assets/hosts/")), ["web1", "web2", "win1"]);
        let page = l("/api/v1/assets/assets/?limit=2");
        assert_eq!(page["count"], 4);
        assert_eq!(names(&page), ["db1", "web1"]);
        assert!(page["next"].as_str().unwrap().contains("offset=2"));
        assert_eq!(page["previous"], Value::Null);
        let page2 = l("/api/v1/assets/assets/?limit=2&offset=2");
        assert_eq!(names(&page2), ["web2", "win1"]);
        assert_eq!(page2["next"], Value::Null);

        // Every filter.
        let dev = l("/api/v1/assets/nodes/?value=dev");
        let dev_id = dev[0]["id"].as_str().unwrap().to_owned();
        let dev_key = dev[0]["key"].as_str().unwrap().to_owned();
        let subtree_by_id = format!("node_id={dev_id}&all=1");
        let subtree_by_key = format!("node={dev_key}&all=1");
        let node_only = format!("node_id={dev_id}");
        for (query, expected) in [
            ("name=web1", vec!["web1"]),
            ("address=10.0.0.2", vec!["web2"]),
            ("platform=Linux", vec!["web1", "web2"]),
            ("platform=1", vec!["web1", "web2"]),
            ("category=database", vec!["db1"]),
            ("type=windows", vec!["win1"]),
            ("is_active=false", vec!["web2"]),
            ("is_active=1", vec!["db1", "web1", "win1"]),
            ("protocols=rdp", vec!["win1"]),
            ("protocols=sftp,mysql", vec!["db1", "web2"]),
            ("search=web", vec!["web1", "web2"]),
            ("search=FRONT", vec!["web1"]),
            (subtree_by_id.as_str(), vec!["db1", "web1", "web2"]),
            (subtree_by_key.as_str(), vec!["db1", "web1", "web2"]),
            (node_only.as_str(), vec![]),
            ("category=host&type=mysql", vec![]),
        ] {
            let got = l(&format!("/api/v1/assets/assets/?{query}"));
            assert_eq!(names(&got), expected, "{query} on {}", db.backend);
        }
        let ordered = l("/api/v1/assets/assets/?order=-name");
        assert_eq!(ordered[0]["name"], "win1");
        assert_eq!(
            get(&server, &admin, "/api/v1/assets/assets/?order=secret").status,
            400
        );
        assert_eq!(
            get(&server, &admin, "/api/v1/assets/assets/?is_active=maybe").status,
            400
        );

        // Detail by id and by name; another category's endpoint does not serve it.
        let by_name = l("/api/v1/assets/assets/web1/");
        assert_eq!(by_name["id"], web1["id"]);
        let id1 = web1["id"].as_str().unwrap();
        assert_eq!(l(&format!("/api/v1/assets/hosts/{id1}/"))["name"], "web1");
        let wrong = get(&server, &admin, "/api/v1/assets/databases/web1/");
        assert_eq!(wrong.status, 404);
        assert_eq!(wrong.json()["code"], "object_does_not_exist");

        // Update: fields, nodes and protocols.
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("/api/v1/assets/hosts/{id1}/"),
            &json!({"comment": "moved", "nodes_display": ["/Default/ops"],
                "protocols": [{"name": "ssh", "port": 2022}]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["comment"], "moved");
        assert_eq!(r.json()["nodes_display"], json!(["/Default/ops"]));
        assert_eq!(
            r.json()["protocols"],
            json!([{"name": "ssh", "port": 2022}])
        );
        // A script may PUT back what it read.
        let mut back = r.json();
        back["name"] = json!("web1b");
        let r = send(
            &server,
            &admin,
            "PUT",
            &format!("/api/v1/assets/hosts/{id1}/"),
            &back,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["name"], "web1b");
        let db_id = db1["id"].as_str().unwrap();
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("/api/v1/assets/databases/{db_id}/"),
            &json!({"use_ssl": true, "pg_ssl_mode": {"value": "require"}}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["use_ssl"], true);
        assert_eq!(r.json()["db_name"], "app", "other spec fields are kept");
        assert_eq!(r.json()["pg_ssl_mode"]["value"], "require");

        // Delete, generic endpoint included.
        let id2 = web2["id"].as_str().unwrap();
        let r = send(
            &server,
            &admin,
            "DELETE",
            &format!("/api/v1/assets/assets/{id2}/"),
            &json!({}),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(
            get(&server, &admin, &format!("/api/v1/assets/assets/{id2}/")).status,
            404
        );

        // The generic endpoint does not create.
        let r = post(
            &server,
            &admin,
            "/api/v1/assets/assets/",
            &json!({"name": "x", "address": "y", "platform": 1, "protocols": [{"name": "ssh"}]}),
        );
        assert_eq!(r.status, 400);
        assert_eq!(
            r.json(),
            json!({"error": "Cannot create asset directly, you should create a host or other"})
        );

        assert_eq!(
            operate_actions(&db.url, "Asset").await,
            [
                "create", "create", "create", "create", "delete", "update", "update", "update"
            ],
            "{}",
            db.backend
        );
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn bad_asset_input_gets_field_errors_and_writes_nothing() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let ok = json!({"name": "h1", "address": "10.1.0.1", "platform": 1,
            "protocols": [{"name": "ssh"}]});
        created(post(&server, &admin, "/api/v1/assets/hosts/", &ok));
        let with = |extra: Value| {
            let mut b = ok.clone();
            b["name"] = json!("h2");
            b["nodes_display"] = json!(["/Default/never"]);
            for (k, v) in extra.as_object().unwrap() {
                if v.is_null() {
                    b.as_object_mut().unwrap().remove(k);
                } else {
                    b[k] = v.clone();
                }
            }
            b
        };
        let cases = [
            (
                "hosts",
                with(json!({"favourite_colour": "red"})),
                "favourite_colour",
            ),
            ("hosts", with(json!({"name": "h1"})), "name"),
            ("hosts", with(json!({"name": null})), "name"),
            ("hosts", with(json!({"platform": 9999})), "platform"),
            ("hosts", with(json!({"platform": "Nope"})), "platform"),
            ("hosts", with(json!({"platform": 40})), "platform"),
            ("hosts", with(json!({"protocols": null})), "protocols"),
            (
                "hosts",
                with(json!({"protocols": [{"name": "mysql"}]})),
                "protocols",
            ),
            (
                "hosts",
                with(json!({"protocols": [{"name": "ssh", "port": "abc"}]})),
                "protocols",
            ),
            (
                "hosts",
                with(json!({"protocols": [{"name": "ssh", "port": 70000}]})),
                "protocols",
            ),
            (
                "hosts",
                with(json!({"protocols": [{"name": "sftp"}]})),
                "protocols",
            ),
            ("hosts", with(json!({"is_active": "maybe"})), "is_active"),
            ("hosts", with(json!({"nodes": ["not-a-uuid"]})), "nodes"),
            ("hosts", with(json!({"nodes": [Uuid::new_v4()]})), "nodes"),
            (
                "hosts",
                with(json!({"nodes_display": "x"})),
                "nodes_display",
            ),
            ("hosts", with(json!({"zone": Uuid::new_v4()})), "zone"),
            ("hosts", with(json!({"zone": "nope"})), "zone"),
            (
                "hosts",
                with(json!({"accounts": [{"username": "root", "secret_type": "bogus"}]})),
                "accounts",
            ),
            (
                "databases",
                with(json!({"platform": 40, "protocols": [{"name": "mysql"}]})),
                "db_name",
            ),
            (
                "databases",
                with(json!({"platform": 40, "protocols": [{"name": "mysql"}],
                "db_name": "x", "pg_ssl_mode": "bogus"})),
                "pg_ssl_mode",
            ),
            (
                "databases",
                with(json!({"platform": 40, "protocols": [{"name": "mysql"}],
                "db_name": "x", "client_key": "-----BEGIN"})),
                "client_key",
            ),
            ("gateways", with(json!({"platform": null})), "zone"),
        ];
        for (kind, body, field) in cases {
            let r = post(&server, &admin, &format!("/api/v1/assets/{kind}/"), &body);
            assert_eq!(r.status, 400, "{kind} {body}: {}", r.body);
            assert!(r.json()[field].is_array(), "{kind} {body}: {}", r.body);
        }
        let broken = http(
            &server.base,
            "POST",
            "/api/v1/assets/hosts/",
            &[
                ("Authorization", &format!("Bearer {admin}")),
                ("Content-Type", "application/json"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(broken.status, 400, "{}", broken.body);
        assert_eq!(
            send(
                &server,
                &admin,
                "POST",
                "/api/v1/assets/hosts/",
                &json!([1, 2])
            )
            .status,
            400
        );

        // A bad update changes nothing either.
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/assets/hosts/h1/",
            &json!({"comment": "changed", "protocols": [{"name": "nope"}]}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(
            get(&server, &admin, "/api/v1/assets/hosts/h1/").json()["comment"],
            ""
        );

        // Nothing was written: one asset, no node created from a refused path, one log row.
        let all = get(&server, &admin, "/api/v1/assets/assets/").json();
        assert_eq!(names(&all), ["h1"], "{}", db.backend);
        let nodes = get(&server, &admin, "/api/v1/assets/nodes/").json();
        assert_eq!(nodes.as_array().unwrap().len(), 1, "only the root: {nodes}");
        assert_eq!(operate_actions(&db.url, "Asset").await, ["create"]);
        assert_eq!(
            get(&server, &admin, "/api/v1/assets/hosts/nobody/").json()["code"],
            "object_does_not_exist"
        );
        assert_eq!(get(&server, &admin, "/api/v1/assets/teapots/").status, 404);
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn the_node_tree_is_built_renamed_moved_and_protected() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let nodes = "/api/v1/assets/nodes/";

        let b = created(post(
            &server,
            &admin,
            nodes,
            &json!({"full_value": "/Default/a/b"}),
        ));
        assert_eq!(b["full_value"], "/Default/a/b");
        assert_eq!(b["value"], "b");
        assert_eq!(b["name"], "b");
        assert_eq!(b["org_name"], "Default");
        let b_key = b["key"].as_str().unwrap().to_owned();
        assert!(
            b_key.starts_with("1:") && b_key.matches(':').count() == 2,
            "{b_key}"
        );
        let c = created(post(&server, &admin, nodes, &json!({"value": "c"})));
        assert_eq!(c["full_value"], "/Default/c");
        let dup = post(&server, &admin, nodes, &json!({"value": "a"}));
        assert_eq!(dup.status, 400, "{}", dup.body);
        assert!(dup.json()["value"].is_array());
        let again = post(
            &server,
            &admin,
            nodes,
            &json!({"full_value": "/Default/a/b"}),
        );
        assert_eq!(again.status, 400, "{}", again.body);
        assert_eq!(
            post(&server, &admin, nodes, &json!({"value": "x/y"})).status,
            400
        );

        let root = &get(&server, &admin, "/api/v1/assets/nodes/?key=1").json()[0];
        assert_eq!(root["value"], "Default");
        assert_eq!(root["full_value"], "/Default");
        let root_id = root["id"].as_str().unwrap().to_owned();
        let kids = get(&server, &admin, &format!("{nodes}{root_id}/children/")).json();
        assert_eq!(names(&kids), ["a", "c"]);
        let all = get(
            &server,
            &admin,
            &format!("{nodes}{root_id}/children/?all=all"),
        )
        .json();
        assert_eq!(names(&all), ["a", "b", "c"]);
        let a_id = kids
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["value"] == "a")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            names(&get(&server, &admin, &format!("{nodes}children/?id={a_id}")).json()),
            ["b"]
        );
        assert_eq!(
            names(&get(&server, &admin, &format!("{nodes}?search=B")).json()),
            ["b"]
        );

        // Rename: the child's path follows; the root and bad names are refused.
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("{nodes}{a_id}/"),
            &json!({"value": "a2"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let b_id = b["id"].as_str().unwrap();
        assert_eq!(
            get(&server, &admin, &format!("{nodes}{b_id}/")).json()["full_value"],
            "/Default/a2/b"
        );
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("{nodes}{root_id}/"),
            &json!({"value": "R"}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["error"].is_string());
        let c_id = c["id"].as_str().unwrap().to_owned();
        let r = send(
            &server,
            &admin,
            "PUT",
            &format!("{nodes}{c_id}/"),
            &json!({"value": "a2"}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["value"].is_array());

        // An asset in b: its ancestors cannot be deleted, nor can the root.
        let h = created(post(
            &server,
            &admin,
            "/api/v1/assets/hosts/",
            &json!({"name": "h1", "address": "10.2.0.1", "platform": 1,
                "protocols": [{"name": "ssh"}, {"name": "sftp"}], "nodes": [b_id]}),
        ));
        let h_id = h["id"].as_str().unwrap().to_owned();
        assert_eq!(h["nodes_display"], json!(["/Default/a2/b"]));
        for id in [&a_id, &root_id] {
            let r = send(
                &server,
                &admin,
                "DELETE",
                &format!("{nodes}{id}/"),
                &json!({}),
            );
            assert_eq!(r.status, 403, "{}", r.body);
            assert!(r.json()["error"].is_string(), "{}", r.body);
        }
        let a = get(&server, &admin, &format!("{nodes}{a_id}/")).json();
        assert_eq!(a["assets_amount"], 1, "subtree count");

        // Move the asset: replace, list, remove (back to the root), add.
        let body = json!({"assets": [h_id]});
        let r = send(
            &server,
            &admin,
            "PUT",
            &format!("{nodes}{c_id}/assets/replace/"),
            &body,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let h_now = get(&server, &admin, &format!("/api/v1/assets/hosts/{h_id}/")).json();
        assert_eq!(h_now["nodes_display"], json!(["/Default/c"]));
        assert_eq!(
            names(&get(&server, &admin, &format!("{nodes}{c_id}/assets/")).json()),
            ["h1"]
        );
        assert_eq!(
            names(&get(&server, &admin, &format!("{nodes}{root_id}/assets/?all=1")).json()),
            ["h1"]
        );
        assert!(
            names(&get(&server, &admin, &format!("{nodes}{root_id}/assets/")).json()).is_empty()
        );
        let r = send(
            &server,
            &admin,
            "PUT",
            &format!("{nodes}{c_id}/assets/remove/"),
            &body,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let h_now = get(&server, &admin, &format!("/api/v1/assets/hosts/{h_id}/")).json();
        assert_eq!(
            h_now["nodes_display"],
            json!(["/Default"]),
            "orphans go to the root"
        );
        let r = send(
            &server,
            &admin,
            "PUT",
            &format!("{nodes}{b_id}/assets/add/"),
            &body,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let h_now = get(&server, &admin, &format!("/api/v1/assets/hosts/{h_id}/")).json();
        assert_eq!(h_now["nodes_display"], json!(["/Default", "/Default/a2/b"]));
        let r = send(
            &server,
            &admin,
            "PUT",
            &format!("{nodes}{b_id}/assets/add/"),
            &json!({"assets": [Uuid::new_v4()]}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["assets"].is_array());

        // The zTree view.
        let tree = get(
            &server,
            &admin,
            "/api/v1/assets/nodes/children/tree/?assets=1",
        )
        .json();
        let items = tree.as_array().unwrap();
        let root_item = items.iter().find(|i| i["id"] == "1").unwrap();
        assert_eq!(root_item["pId"], "");
        assert_eq!(root_item["meta"]["type"], "node");
        assert_eq!(root_item["meta"]["data"]["value"], "Default");
        assert_eq!(root_item["open"], true);
        assert!(items.iter().any(|i| i["title"] == "c" && i["pId"] == "1"));
        let asset_item = items.iter().find(|i| i["meta"]["type"] == "asset").unwrap();
        assert_eq!(asset_item["id"], json!(h_id));
        assert_eq!(asset_item["pId"], "1");
        assert_eq!(asset_item["meta"]["data"]["sftp"], true);
        assert_eq!(asset_item["meta"]["data"]["platform_type"], "linux");
        assert_eq!(asset_item["chkDisabled"], false);
        let a2_key = a["key"].as_str().unwrap();
        let sub = get(
            &server,
            &admin,
            &format!("/api/v1/assets/nodes/children/tree/?key={a2_key}&assets=1"),
        )
        .json();
        let sub = sub.as_array().unwrap();
        assert_eq!(sub.len(), 1, "{sub:?}");
        assert_eq!(sub[0]["id"], json!(b_key));
        assert_eq!(sub[0]["name"], "b (1)");

        // Once empty, a subtree is deleted whole.
        let r = send(
            &server,
            &admin,
            "PUT",
            &format!("{nodes}{b_id}/assets/remove/"),
            &body,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = send(
            &server,
            &admin,
            "DELETE",
            &format!("{nodes}{a_id}/"),
            &json!({}),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(get(&server, &admin, &format!("{nodes}{b_id}/")).status, 404);
        let left = get(&server, &admin, nodes).json();
        assert_eq!(names(&left), ["Default", "c"]);
        // The child numbering goes on from the parent's mark: no key is reused.
        let d = created(post(&server, &admin, nodes, &json!({"value": "d"})));
        assert_ne!(d["key"], a["key"]);

        let mut actions = operate_actions(&db.url, "Node").await;
        actions.dedup();
        assert_eq!(actions, ["create", "delete", "update"], "{}", db.backend);
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn zones_gateways_and_the_domains_alias() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);

        let z = created(post(
            &server,
            &admin,
            "/api/v1/assets/zones/",
            &json!({"name": "dmz", "comment": "edge"}),
        ));
        assert_eq!(z["assets_amount"], 0);
        assert_eq!(z["gateways"], json!([]));
        let z_id = z["id"].as_str().unwrap().to_owned();
        let dup = post(
            &server,
            &admin,
            "/api/v1/assets/domains/",
            &json!({"name": "dmz"}),
        );
        assert_eq!(dup.status, 400, "{}", dup.body);
        assert!(dup.json()["name"].is_array());
        assert_eq!(
            names(&get(&server, &admin, "/api/v1/assets/domains/").json()),
            ["dmz"]
        );

        let gw = created(post(
            &server,
            &admin,
            "/api/v1/assets/gateways/",
            &json!({"name": "gw1", "address": "10.3.0.1", "protocols": [{"name": "ssh"}],
                "zone": z_id}),
        ));
        assert_eq!(gw["is_gateway"], true);
        assert_eq!(gw["platform"]["name"], "Gateway");
        assert_eq!(gw["zone"], json!({"id": z_id, "name": "dmz"}));
        let refused = post(
            &server,
            &admin,
            "/api/v1/assets/gateways/",
            &json!({"name": "gw2", "address": "10.3.0.2", "platform": 1,
                "protocols": [{"name": "ssh"}], "zone": z_id}),
        );
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(refused.json()["platform"].is_array());
        let host = created(post(
            &server,
            &admin,
            "/api/v1/assets/hosts/",
            &json!({"name": "inner", "address": "10.3.0.9", "platform": 1,
                "protocols": [{"name": "ssh"}], "domain": {"pk": z_id}}),
        ));
        assert_eq!(host["zone"]["name"], "dmz");

        let z = get(&server, &admin, &format!("/api/v1/assets/zones/{z_id}/")).json();
        assert_eq!(z["gateways"], json!([{"id": gw["id"], "name": "gw1"}]));
        assert_eq!(z["gateways_amount"], 1);
        assert_eq!(z["assets_amount"], 2);
        assert_eq!(
            names(&get(&server, &admin, "/api/v1/assets/gateways/").json()),
            ["gw1"]
        );
        assert_eq!(
            names(
                &get(
                    &server,
                    &admin,
                    &format!("/api/v1/assets/assets/?zone={z_id}")
                )
                .json()
            ),
            ["gw1", "inner"]
        );
        assert_eq!(
            names(
                &get(
                    &server,
                    &admin,
                    "/api/v1/assets/assets/?zone=dmz&is_gateway=0"
                )
                .json()
            ),
            ["inner"]
        );

        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("/api/v1/assets/domains/{z_id}/"),
            &json!({"name": "edge", "comment": "renamed"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["name"], "edge");
        assert_eq!(
            get(&server, &admin, "/api/v1/assets/zones/edge/").json()["comment"],
            "renamed"
        );
        let r = send(
            &server,
            &admin,
            "DELETE",
            &format!("/api/v1/assets/zones/{z_id}/"),
            &json!({}),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        let host_id = host["id"].as_str().unwrap();
        assert_eq!(
            get(&server, &admin, &format!("/api/v1/assets/hosts/{host_id}/")).json()["zone"],
            Value::Null
        );
        assert_eq!(
            operate_actions(&db.url, "Zone").await,
            ["create", "delete", "update"]
        );
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn assets_nodes_and_zones_of_another_org_are_invisible() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);

        // Another org with its own tree, asset and zone, written straight into the schema.
        let other = Uuid::new_v4();
        let mut f = Fixture::new(&db.url).await;
        sqlx::query(
            "INSERT INTO orgs (id, name, date_created, date_updated) VALUES ($1, 'Other', $2, $2)",
        )
        .bind(other.to_string())
        .bind(now())
        .execute(&mut f.conn)
        .await
        .unwrap();
        f.org = other;
        f.node("2", "Other").await;
        let team = f.node("2:1", "team").await;
        let hidden = f.asset("hidden", &[team]).await;
        let zone = Uuid::new_v4();
        sqlx::query("INSERT INTO zones (id, org_id, name, date_created, date_updated) VALUES ($1, $2, 'far', $3, $3)")
            .bind(zone.to_string())
            .bind(other.to_string())
            .bind(now())
            .execute(&mut f.conn)
            .await
            .unwrap();

        // From Default: absent from lists, 404 on detail, refused as a reference.
        assert!(names(&get(&server, &admin, "/api/v1/assets/assets/").json()).is_empty());
        for path in [
            format!("/api/v1/assets/assets/{hidden}/"),
            "/api/v1/assets/hosts/hidden/".to_owned(),
            format!("/api/v1/assets/nodes/{team}/"),
            format!("/api/v1/assets/zones/{zone}/"),
        ] {
            assert_eq!(get(&server, &admin, &path).status, 404, "{path}");
        }
        assert_eq!(
            names(&get(&server, &admin, "/api/v1/assets/nodes/").json()),
            ["Default"]
        );
        let r = send(
            &server,
            &admin,
            "DELETE",
            &format!("/api/v1/assets/assets/{hidden}/"),
            &json!({}),
        );
        assert_eq!(r.status, 404);
        let base = json!({"name": "mine", "address": "10.4.0.1", "platform": 1,
            "protocols": [{"name": "ssh"}]});
        for (field, value) in [("nodes", json!([team])), ("zone", json!(zone))] {
            let mut body = base.clone();
            body[field] = value;
            let r = post(&server, &admin, "/api/v1/assets/hosts/", &body);
            assert_eq!(r.status, 400, "{field}: {}", r.body);
            assert!(r.json()[field].is_array(), "{}", r.body);
        }
        let root_node = get(&server, &admin, "/api/v1/assets/nodes/?key=1").json();
        let default_root = root_node[0]["id"].as_str().unwrap();
        let r = send(
            &server,
            &admin,
            "PUT",
            &format!("/api/v1/assets/nodes/{default_root}/assets/add/"),
            &json!({"assets": [hidden]}),
        );
        assert_eq!(r.status, 400, "{}", r.body);

        // In the other org it is there, and new assets land in that org's root.
        let o = other.to_string();
        let listed = in_org(&server, &admin, &o, "GET", "/api/v1/assets/assets/", None).json();
        assert_eq!(names(&listed), ["hidden"]);
        assert_eq!(listed[0]["nodes_display"], json!(["/Other/team"]));
        assert_eq!(listed[0]["org_name"], "Other");
        let mine = in_org(
            &server,
            &admin,
            &o,
            "POST",
            "/api/v1/assets/hosts/",
            Some(&base),
        );
        assert_eq!(mine.status, 201, "{}", mine.body);
        assert_eq!(mine.json()["nodes_display"], json!(["/Other"]));
        assert_eq!(mine.json()["org_id"], json!(o));
        let n = in_org(
            &server,
            &admin,
            &o,
            "POST",
            "/api/v1/assets/nodes/",
            Some(&json!({"value": "second"})),
        );
        assert_eq!(n.status, 201, "{}", n.body);
        assert_eq!(n.json()["full_value"], "/Other/second");
        assert!(n.json()["key"].as_str().unwrap().starts_with("2:"));

        // The root view sees both orgs.
        let everything = in_org(
            &server,
            &admin,
            "ROOT",
            "GET",
            "/api/v1/assets/assets/",
            None,
        )
        .json();
        assert_eq!(names(&everything), ["hidden", "mine"]);
        let roots = in_org(
            &server,
            &admin,
            "ROOT",
            "GET",
            "/api/v1/assets/nodes/children/",
            None,
        )
        .json();
        assert_eq!(names(&roots), ["Default", "Other"]);
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn plain_users_cannot_read_or_write_the_inventory() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let pw = create_user(dir.path(), &db, "plain", "user");
    let user = token(&server, "plain", &pw);
    let host = created(post(
        &server,
        &admin,
        "/api/v1/assets/hosts/",
        &json!({"name": "h", "address": "10.5.0.1", "platform": 1, "protocols": [{"name": "ssh"}]}),
    ));
    let id = host["id"].as_str().unwrap();
    let body =
        json!({"name": "u", "address": "10.5.0.2", "platform": 1, "protocols": [{"name": "ssh"}]});
    for (method, path, body) in [
        ("GET", "/api/v1/assets/assets/".to_owned(), Value::Null),
        ("POST", "/api/v1/assets/hosts/".to_owned(), body),
        (
            "PATCH",
            format!("/api/v1/assets/hosts/{id}/"),
            json!({"comment": "x"}),
        ),
        ("DELETE", format!("/api/v1/assets/assets/{id}/"), json!({})),
        (
            "POST",
            "/api/v1/assets/nodes/".to_owned(),
            json!({"value": "n"}),
        ),
        (
            "POST",
            "/api/v1/assets/zones/".to_owned(),
            json!({"name": "z"}),
        ),
        ("GET", "/api/v1/assets/platforms/".to_owned(), Value::Null),
    ] {
        let r = if body.is_null() {
            get(&server, &user, &path)
        } else {
            send(&server, &user, method, &path, &body)
        };
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert_eq!(r.json()["code"], "permission_denied");
    }
    assert_eq!(
        get(&server, &admin, &format!("/api/v1/assets/hosts/{id}/")).json()["comment"],
        ""
    );
}

#[tokio::test]
async fn platforms_are_listed_with_protocols_and_automation() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let all = get(&server, &admin, "/api/v1/assets/platforms/").json();
    assert!(all.as_array().unwrap().len() > 20);
    let dbs = get(
        &server,
        &admin,
        "/api/v1/assets/platforms/?category=database",
    )
    .json();
    assert!(
        dbs.as_array()
            .unwrap()
            .iter()
            .all(|p| p["category"]["value"] == "database")
    );
    assert!(names(&dbs).contains(&"MySQL".to_owned()));
    let page = get(
        &server,
        &admin,
        "/api/v1/assets/platforms/?type=linux&limit=1",
    )
    .json();
    assert_eq!(page["results"][0]["name"], "Linux");
    let linux = get(&server, &admin, "/api/v1/assets/platforms/1/").json();
    assert_eq!(linux["name"], "Linux");
    assert_eq!(linux["internal"], true);
    assert_eq!(linux["type"], json!({"value": "linux", "label": "Linux"}));
    let ssh = linux["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ssh")
        .unwrap();
    assert_eq!(ssh["port"], 22);
    assert_eq!(ssh["primary"], true);
    assert!(ssh["id"].is_i64());
    assert_eq!(linux["automation"]["id"], 1);
    assert_eq!(linux["automation"]["ping_enabled"], true);
    assert!(linux["automation"]["push_account_params"].is_object());
    assert_eq!(
        get(&server, &admin, "/api/v1/assets/platforms/Linux/").json()["id"],
        1
    );
    assert_eq!(
        get(&server, &admin, "/api/v1/assets/platforms/Nope/").status,
        404
    );
}
