//! The `labels` field, the `labels=` filter and the `suggestions/` mini lists on the resources
//! that carry labels (assets, users, accounts, asset permissions), driven over HTTP on both
//! databases, with the bindings checked in the database.

use crate::client::*;
use crate::support::{HttpResponse, Server, TestDb};
use serde_json::{Value, json};

fn ok(r: HttpResponse, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    r.json()
}

fn rows(v: &Value) -> Vec<Value> {
    v.get("results")
        .unwrap_or(v)
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .clone()
}

/// The `field` of every row of a list, sorted.
fn field(v: &Value, name: &str) -> Vec<String> {
    let mut out: Vec<String> = rows(v)
        .iter()
        .map(|r| r[name].as_str().unwrap_or_default().to_owned())
        .collect();
    out.sort();
    out
}

/// `name:value` of each label of a serialized resource, sorted.
fn pairs(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["labels"]
        .as_array()
        .unwrap_or_else(|| panic!("no labels: {v}"))
        .iter()
        .map(|l| {
            for k in ["id", "name", "value", "color"] {
                assert!(l.get(k).is_some(), "label without {k}: {l}");
            }
            format!(
                "{}:{}",
                l["name"].as_str().unwrap(),
                l["value"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

/// How many label bindings a resource has, read through the labeled-resource list.
fn bindings(server: &Server, admin: &str, res_id: &str) -> usize {
    let r = ok(
        get(
            server,
            admin,
            &format!("/api/v1/labels/labeled-resources/?res_id={res_id}"),
        ),
        200,
    );
    rows(&r).len()
}

fn host(name: &str, addr: &str, labels: Value) -> Value {
    json!({"name": name, "address": addr, "platform": 1,
        "protocols": [{"name": "ssh"}], "labels": labels})
}

#[tokio::test]
async fn assets_and_permissions_take_show_filter_and_drop_labels_on_both_databases() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);

        // Every input form of §1.3: `name:value`, `{name, value}`, and (below) ids.
        let web = ok(
            send(
                &server,
                &admin,
                "POST",
                "/api/v1/assets/hosts/",
                &host(
                    "web1",
                    "10.0.0.1",
                    json!(["env:prod", {"name": "team", "value": "ops"}]),
                ),
            ),
            201,
        );
        assert_eq!(pairs(&web), ["env:prod", "team:ops"]);
        let web_id = web["id"].as_str().unwrap().to_owned();
        let prod = web["labels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == "env")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let db1 = ok(
            send(
                &server,
                &admin,
                "POST",
                "/api/v1/assets/hosts/",
                &host("db1", "10.0.0.2", json!([prod, {"id": prod}, "env:dev"])),
            ),
            201,
        );
        assert_eq!(pairs(&db1), ["env:dev", "env:prod"], "ids, deduplicated");
        let db1_id = db1["id"].as_str().unwrap().to_owned();
        ok(
            send(
                &server,
                &admin,
                "POST",
                "/api/v1/assets/hosts/",
                &host("bare", "10.0.0.3", json!([])),
            ),
            201,
        );

        // Bad input is refused before anything is written.
        for bad in [
            json!(["nocolon"]),
            json!([{"name": "x"}]),
            json!(["00000000-0000-0000-0000-00000000dead"]),
            json!("env:prod"),
            json!([":v"]),
        ] {
            let r = send(
                &server,
                &admin,
                "POST",
                "/api/v1/assets/hosts/",
                &host("bad", "10.0.0.9", bad.clone()),
            );
            assert_eq!(r.status, 400, "{bad}: {}", r.body);
            assert!(r.json()["labels"].is_array(), "{}", r.body);
        }
        let all = ok(get(&server, &admin, "/api/v1/assets/assets/"), 200);
        assert_eq!(field(&all, "name"), ["bare", "db1", "web1"]);

        // Read back: the detail, every list (generic and per category) and the node list.
        let detail = ok(
            get(&server, &admin, &format!("/api/v1/assets/hosts/{web_id}/")),
            200,
        );
        assert_eq!(pairs(&detail), ["env:prod", "team:ops"]);
        for list in [
            "/api/v1/assets/assets/?name=web1",
            "/api/v1/assets/hosts/?name=web1&limit=5",
        ] {
            let l = ok(get(&server, &admin, list), 200);
            assert_eq!(pairs(&rows(&l)[0]), ["env:prod", "team:ops"], "{list}");
        }

        // The filter: ids, `name:value`, values of one name ORed, names ANDed, `name:*`.
        let f = |spec: &str| {
            field(
                &ok(
                    get(
                        &server,
                        &admin,
                        &format!("/api/v1/assets/assets/?labels={spec}"),
                    ),
                    200,
                ),
                "name",
            )
        };
        assert_eq!(f("env:prod"), ["db1", "web1"]);
        assert_eq!(f(&prod), ["db1", "web1"]);
        assert_eq!(f("env:prod,team:*"), ["web1"]);
        assert_eq!(f("env:dev,env:prod"), ["db1", "web1"]);
        assert_eq!(f("env:dev,team:ops"), Vec::<String>::new());
        assert_eq!(f("nope:x"), Vec::<String>::new());
        // Intersected with the other filters, in SQL (the count is the filtered one).
        let page = ok(
            get(
                &server,
                &admin,
                "/api/v1/assets/hosts/?labels=env:prod&name=db1&limit=1",
            ),
            200,
        );
        assert_eq!(page["count"], 1);
        assert_eq!(field(&page, "name"), ["db1"]);
        let page = ok(
            get(
                &server,
                &admin,
                &format!("/api/v1/assets/assets/?labels=env:prod&id={web_id},{db1_id}&limit=10"),
            ),
            200,
        );
        assert_eq!(page["count"], 2);
        let empty = ok(
            get(
                &server,
                &admin,
                "/api/v1/assets/hosts/?labels=team:none&limit=10",
            ),
            200,
        );
        assert_eq!(empty["count"], 0);
        assert_eq!(
            get(&server, &admin, "/api/v1/assets/assets/?labels=not-an-id").status,
            400
        );

        // Update: a body without labels keeps them; a list replaces them; `[]` clears them.
        let r = ok(
            send(
                &server,
                &admin,
                "PATCH",
                &format!("/api/v1/assets/hosts/{web_id}/"),
                &json!({"comment": "kept"}),
            ),
            200,
        );
        assert_eq!(pairs(&r), ["env:prod", "team:ops"]);
        let r = ok(
            send(
                &server,
                &admin,
                "PATCH",
                &format!("/api/v1/assets/hosts/{web_id}/"),
                &json!({"labels": ["env:stage"]}),
            ),
            200,
        );
        assert_eq!(pairs(&r), ["env:stage"]);
        assert_eq!(f("env:prod"), ["db1"]);
        assert_eq!(f("env:stage"), ["web1"]);
        let r = ok(
            send(
                &server,
                &admin,
                "PATCH",
                &format!("/api/v1/assets/hosts/{db1_id}/"),
                &json!({"labels": []}),
            ),
            200,
        );
        assert_eq!(pairs(&r), Vec::<String>::new());
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("/api/v1/assets/hosts/{web_id}/"),
            &json!({"labels": ["00000000-0000-0000-0000-00000000dead"], "comment": "no"}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let detail = ok(
            get(&server, &admin, &format!("/api/v1/assets/hosts/{web_id}/")),
            200,
        );
        assert_eq!(
            detail["comment"], "kept",
            "a refused update changes nothing"
        );

        // An account on the asset carries labels too, and they go with the asset.
        let acc = ok(
            send(
                &server,
                &admin,
                "POST",
                "/api/v1/accounts/accounts/",
                &json!({"asset": web_id, "username": "root", "secret": "pw-1",
                    "labels": ["env:prod"]}),
            ),
            201,
        );
        assert_eq!(pairs(&acc), ["env:prod"]);
        let acc_id = acc["id"].as_str().unwrap().to_owned();
        let l = ok(
            get(
                &server,
                &admin,
                "/api/v1/accounts/accounts/?labels=env:prod",
            ),
            200,
        );
        assert_eq!(field(&l, "id"), std::slice::from_ref(&acc_id));
        let r = ok(
            send(
                &server,
                &admin,
                "PATCH",
                &format!("/api/v1/accounts/accounts/{acc_id}/"),
                &json!({"labels": [{"name": "tier", "value": "1"}]}),
            ),
            200,
        );
        assert_eq!(pairs(&r), ["tier:1"]);
        assert_eq!(
            rows(&ok(
                get(
                    &server,
                    &admin,
                    "/api/v1/accounts/accounts/?labels=env:prod"
                ),
                200
            ))
            .len(),
            0
        );

        // Delete: the asset's bindings (and its account's) are gone, the labels stay.
        assert_eq!(bindings(&server, &admin, &web_id), 1);
        assert_eq!(bindings(&server, &admin, &acc_id), 1);
        let r = send(
            &server,
            &admin,
            "DELETE",
            &format!("/api/v1/assets/hosts/{web_id}/"),
            &json!({}),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(bindings(&server, &admin, &web_id), 0);
        assert_eq!(bindings(&server, &admin, &acc_id), 0);
        assert_eq!(f("env:stage"), Vec::<String>::new());
        let labels = ok(get(&server, &admin, "/api/v1/labels/labels/?name=env"), 200);
        assert_eq!(field(&labels, "value"), ["dev", "prod", "stage"]);

        // Asset permissions: input, output, filter, removal on delete.
        let perm = ok(
            send(
                &server,
                &admin,
                "POST",
                "/api/v1/perms/asset-permissions/",
                &json!({"name": "p1", "labels": ["env:prod", "team:ops"]}),
            ),
            201,
        );
        assert_eq!(pairs(&perm), ["env:prod", "team:ops"]);
        let perm_id = perm["id"].as_str().unwrap().to_owned();
        ok(
            send(
                &server,
                &admin,
                "POST",
                "/api/v1/perms/asset-permissions/",
                &json!({"name": "p2"}),
            ),
            201,
        );
        let l = ok(
            get(
                &server,
                &admin,
                "/api/v1/perms/asset-permissions/?labels=env:prod,team:*",
            ),
            200,
        );
        assert_eq!(field(&l, "name"), ["p1"]);
        let r = ok(
            send(
                &server,
                &admin,
                "PUT",
                &format!("/api/v1/perms/asset-permissions/{perm_id}/"),
                &json!({"name": "p1", "labels": ["env:dev"]}),
            ),
            200,
        );
        assert_eq!(pairs(&r), ["env:dev"]);
        let r = send(
            &server,
            &admin,
            "DELETE",
            &format!("/api/v1/perms/asset-permissions/{perm_id}/"),
            &json!({}),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(bindings(&server, &admin, &perm_id), 0);

        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn users_take_show_filter_and_drop_labels_on_both_databases() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let users = "/api/v1/users/users/";

        let alice = ok(
            send(
                &server,
                &admin,
                "POST",
                users,
                &json!({"name": "Alice", "username": "alice", "email": "alice@example.com",
                    "labels": ["env:prod", {"name": "team", "value": "ops"}]}),
            ),
            201,
        );
        assert_eq!(pairs(&alice), ["env:prod", "team:ops"]);
        let alice_id = alice["id"].as_str().unwrap().to_owned();
        // A bulk create: one bad item refuses the whole request.
        let r = send(
            &server,
            &admin,
            "POST",
            users,
            &json!([
                {"name": "Bob", "username": "bob", "email": "bob@example.com",
                    "labels": ["env:prod"]},
                {"name": "Carol", "username": "carol", "email": "carol@example.com",
                    "labels": ["broken"]},
            ]),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.json()[1]["labels"].as_array().map(Vec::len), Some(1));
        let r = ok(
            send(
                &server,
                &admin,
                "POST",
                users,
                &json!([{"name": "Bob", "username": "bob", "email": "bob@example.com",
                    "labels": ["env:prod"]}]),
            ),
            201,
        );
        assert_eq!(pairs(&r[0]), ["env:prod"]);
        let bob_id = r[0]["id"].as_str().unwrap().to_owned();

        let detail = ok(get(&server, &admin, &format!("{users}{alice_id}/")), 200);
        assert_eq!(pairs(&detail), ["env:prod", "team:ops"]);
        let l = ok(get(&server, &admin, &format!("{users}?username=bob")), 200);
        assert_eq!(pairs(&rows(&l)[0]), ["env:prod"]);

        let f = |spec: &str| {
            field(
                &ok(get(&server, &admin, &format!("{users}?labels={spec}")), 200),
                "username",
            )
        };
        assert_eq!(f("env:prod"), ["alice", "bob"]);
        assert_eq!(f("env:prod,team:*"), ["alice"]);
        assert_eq!(f("team:none"), Vec::<String>::new());
        let page = ok(
            get(&server, &admin, &format!("{users}?labels=env:prod&limit=1")),
            200,
        );
        assert_eq!(page["count"], 2);

        // Update replaces; a body without labels keeps them.
        let r = ok(
            send(
                &server,
                &admin,
                "PATCH",
                &format!("{users}{alice_id}/"),
                &json!({"labels": ["team:dev"]}),
            ),
            200,
        );
        assert_eq!(pairs(&r), ["team:dev"]);
        let r = ok(
            send(
                &server,
                &admin,
                "PATCH",
                &format!("{users}{alice_id}/"),
                &json!({"comment": "x"}),
            ),
            200,
        );
        assert_eq!(pairs(&r), ["team:dev"]);
        assert_eq!(f("env:prod"), ["bob"]);
        assert_eq!(f("team:*"), ["alice"]);

        // Delete: the bindings go with the user.
        assert_eq!(bindings(&server, &admin, &bob_id), 1);
        let r = send(
            &server,
            &admin,
            "DELETE",
            &format!("{users}{bob_id}/"),
            &json!({}),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(bindings(&server, &admin, &bob_id), 0);
        assert_eq!(f("env:prod"), Vec::<String>::new());

        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn suggestions_are_capped_filtered_and_need_the_match_permission() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);

        for i in 0..12 {
            let labels = if i % 2 == 0 {
                json!(["env:even"])
            } else {
                json!([])
            };
            ok(
                send(
                    &server,
                    &admin,
                    "POST",
                    "/api/v1/assets/hosts/",
                    &host(&format!("sugg{i:02}"), &format!("10.1.0.{i}"), labels),
                ),
                201,
            );
        }
        let r = ok(
            get(
                &server,
                &admin,
                "/api/v1/assets/assets/suggestions/?search=sugg",
            ),
            200,
        );
        let items = r.as_array().unwrap();
        assert_eq!(items.len(), 10, "capped");
        assert_eq!(items[0]["name"], "sugg00");
        let keys: Vec<&String> = items[0].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["address", "id", "name"]);
        // Paginated within the cap; the count is capped too.
        let page = ok(
            get(
                &server,
                &admin,
                "/api/v1/assets/assets/suggestions/?search=sugg&limit=4&offset=8",
            ),
            200,
        );
        assert_eq!(page["count"], 10);
        assert_eq!(field(&page, "name"), ["sugg08", "sugg09"]);
        // The list's filters apply, `labels=` included; per-category endpoints have it too.
        let r = ok(
            get(
                &server,
                &admin,
                "/api/v1/assets/hosts/suggestions/?labels=env:even",
            ),
            200,
        );
        assert_eq!(r.as_array().unwrap().len(), 6);
        let r = ok(
            get(&server, &admin, "/api/v1/assets/databases/suggestions/"),
            200,
        );
        assert_eq!(r.as_array().unwrap().len(), 0);
        // Details still resolve next to the suggestions route.
        let id = items[0]["id"].as_str().unwrap();
        let d = ok(
            get(&server, &admin, &format!("/api/v1/assets/assets/{id}/")),
            200,
        );
        assert_eq!(d["name"], "sugg00");

        // Nodes.
        for i in 0..12 {
            ok(
                send(
                    &server,
                    &admin,
                    "POST",
                    "/api/v1/assets/nodes/",
                    &json!({"value": format!("grp{i:02}")}),
                ),
                201,
            );
        }
        let r = ok(
            get(
                &server,
                &admin,
                "/api/v1/assets/nodes/suggestions/?search=grp",
            ),
            200,
        );
        assert_eq!(r.as_array().unwrap().len(), 10);
        let page = ok(
            get(
                &server,
                &admin,
                "/api/v1/assets/nodes/suggestions/?search=grp&limit=20",
            ),
            200,
        );
        assert_eq!(page["count"], 10);
        assert_eq!(rows(&page).len(), 10);

        // Users: the shared window and the list's filters.
        let page = ok(
            get(&server, &admin, "/api/v1/users/users/suggestions/?limit=1"),
            200,
        );
        assert_eq!(page["count"], 1);
        assert_eq!(field(&page, "username"), ["admin"]);

        // RBAC: a plain user matches assets and nodes (`assets.match_*`) without being able
        // to list them, and cannot match users; no token, no answer.
        let pw = create_user(dir.path(), &db, "plain", "user");
        let plain = token(&server, "plain", &pw);
        assert_eq!(get(&server, &plain, "/api/v1/assets/assets/").status, 403);
        assert_eq!(get(&server, &plain, "/api/v1/assets/nodes/").status, 403);
        let r = ok(
            get(
                &server,
                &plain,
                "/api/v1/assets/assets/suggestions/?search=sugg",
            ),
            200,
        );
        assert_eq!(r.as_array().unwrap().len(), 10);
        ok(
            get(&server, &plain, "/api/v1/assets/nodes/suggestions/"),
            200,
        );
        assert_eq!(
            get(&server, &plain, "/api/v1/users/users/suggestions/").status,
            403
        );
        let r = crate::support::http(
            &server.base,
            "GET",
            "/api/v1/assets/assets/suggestions/",
            &[],
            None,
        )
        .unwrap();
        assert_eq!(r.status, 401);

        drop(server);
        db.drop_db().await;
    }
}
