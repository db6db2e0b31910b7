//! List conventions shared by every resource (reference §1.2, §3.4): field lookups with `!`
//! negation, `fields=`/`fields!=`/`fields_size=`, `OPTIONS` metadata, bulk `PUT`/`PATCH`
//! (all or nothing), filtered bulk `DELETE` (an unfiltered one refused), and `order` on the
//! user's own asset lists.

use crate::client::*;
use crate::fixture::Fixture;
use crate::support::{TestDb, id_of, ok, rows};
use serde_json::{Value, json};

fn names(v: &[Value]) -> Vec<String> {
    let mut n: Vec<String> = v
        .iter()
        .map(|r| {
            r["name"]
                .as_str()
                .unwrap_or_else(|| panic!("{r}"))
                .to_owned()
        })
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn lookups_fields_options_bulk_and_my_assets_order() {
    for db in TestDb::both().await {
        check(db).await;
    }
}

async fn check(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let t = token(&server, "admin", ADMIN_PASSWORD);
    let list = |path: &str| rows(&get(&server, &t, path));

    // Two resources: hosts and user groups.
    let mut hosts = Vec::new();
    for (name, addr) in [
        ("web-01", "10.1.0.1"),
        ("web-02", "10.1.0.2"),
        ("db-01", "10.2.0.1"),
    ] {
        let r = send(
            &server,
            &t,
            "POST",
            "/api/v1/assets/hosts/",
            &json!({"name": name, "address": addr, "platform": 1, "protocols": [{"name": "ssh"}]}),
        );
        hosts.push(id_of(&ok(&r, 201)));
    }
    let mut groups = Vec::new();
    for name in ["ops-eu", "ops-us", "dev"] {
        let r = send(
            &server,
            &t,
            "POST",
            "/api/v1/users/groups/",
            &json!({"name": name, "comment": format!("team {name}")}),
        );
        groups.push(id_of(&ok(&r, 201)));
    }

    // Lookups (§3.4) on both resources, with the `!` negation.
    let a = "/api/v1/assets/assets/";
    let g = "/api/v1/users/groups/";
    assert_eq!(
        names(&list(&format!("{a}?name__icontains=WEB"))),
        ["web-01", "web-02"]
    );
    assert_eq!(
        names(&list(&format!("{g}?name__icontains=OPS"))),
        ["ops-eu", "ops-us"]
    );
    assert_eq!(
        names(&list(&format!("{a}?name__icontains!=web"))),
        ["db-01"]
    );
    assert_eq!(names(&list(&format!("{g}?name__icontains!=ops"))), ["dev"]);
    assert_eq!(
        names(&list(&format!("{a}?address__startswith=10.1."))),
        ["web-01", "web-02"]
    );
    assert!(
        list(&format!("{a}?name__startswith=WEB")).is_empty(),
        "startswith is case-sensitive"
    );
    assert_eq!(
        names(&list(&format!("{g}?name__startswith=ops-"))),
        ["ops-eu", "ops-us"]
    );
    assert_eq!(names(&list(&format!("{a}?name__exact=db-01"))), ["db-01"]);
    assert_eq!(names(&list(&format!("{g}?name__exact=dev"))), ["dev"]);
    let two = format!("{},{}", hosts[0], hosts[2]);
    assert_eq!(
        names(&list(&format!("{a}?id__in={two}"))),
        ["db-01", "web-01"]
    );
    assert_eq!(names(&list(&format!("{a}?id__in!={two}"))), ["web-02"]);
    assert_eq!(names(&list(&format!("{a}?id!={two}"))), ["web-02"]);
    // An id that is not a UUID is bad input, not an empty list.
    for (path, param) in [
        (format!("{a}?id__in={},nope", hosts[0]), "id__in"),
        (format!("{a}?id=nope"), "id"),
        ("/api/v1/users/users/?id__in=x".to_owned(), "id__in"),
        ("/api/v1/accounts/accounts/?ids=1".to_owned(), "ids"),
    ] {
        let r = get(&server, &t, &path);
        let body = ok(&r, 400);
        assert!(
            body[param][0]
                .as_str()
                .is_some_and(|m| m.contains("not a valid UUID")),
            "{path}: {body}"
        );
    }
    let gtwo = format!("{},{}", groups[0], groups[2]);
    assert_eq!(
        names(&list(&format!("{g}?id__in={gtwo}"))),
        ["dev", "ops-eu"]
    );
    assert_eq!(
        names(&list(&format!("{g}?name!=dev"))),
        ["ops-eu", "ops-us"]
    );
    assert_eq!(
        names(&list(&format!("{a}?name__icontains_any=db,02"))),
        ["db-01", "web-02"]
    );
    assert_eq!(
        names(&list(&format!("{a}?name__icontains_all=web,02"))),
        ["web-02"]
    );
    assert_eq!(
        names(&list(&format!("{g}?comment__icontains_all=team,eu"))),
        ["ops-eu"]
    );
    // A related field matches by its id or name; a lookup on an unknown field is ignored.
    assert_eq!(list(&format!("{a}?platform__in=1,2")).len(), 3);
    assert_eq!(list(&format!("{a}?nosuch__icontains=x")).len(), 3);
    // Lookups combine with pagination: the count is of the matching rows.
    let page = ok(
        &get(&server, &t, &format!("{a}?name__icontains=web&limit=1")),
        200,
    );
    assert_eq!(page["count"], 2);
    assert_eq!(page["results"].as_array().unwrap().len(), 1);
    assert!(page["next"].as_str().unwrap().contains("offset=1"));

    // fields= / fields!= / fields_size= on lists and details.
    let r = list(&format!("{a}?fields=id,name&name__exact=db-01"));
    assert_eq!(r, vec![json!({"id": hosts[2], "name": "db-01"})]);
    let page = ok(&get(&server, &t, &format!("{g}?fields=name&limit=5")), 200);
    assert_eq!(page["results"][0].as_object().unwrap().len(), 1);
    let detail = ok(
        &get(
            &server,
            &t,
            &format!("{a}{}/?fields!=comment,address", hosts[0]),
        ),
        200,
    );
    assert!(detail.get("address").is_none() && detail.get("comment").is_none());
    assert_eq!(detail["name"], "web-01");
    let mini = list(&format!("{a}?fields_size=mini"));
    let keys: Vec<&String> = mini[0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{keys:?}");

    // OPTIONS: DRF metadata with field descriptions, on a list and a detail.
    let meta = ok(&send(&server, &t, "OPTIONS", a, &Value::Null), 200);
    assert_eq!(meta["actions"]["GET"]["name"]["type"], "string", "{meta}");
    assert_eq!(meta["actions"]["GET"]["id"]["read_only"], true);
    assert_eq!(meta["actions"]["GET"]["name"]["filter"], true);
    assert!(
        meta["filter_lookups"]
            .as_array()
            .unwrap()
            .contains(&json!("icontains"))
    );
    let meta = ok(
        &send(
            &server,
            &t,
            "OPTIONS",
            &format!("{g}{}/", groups[0]),
            &Value::Null,
        ),
        200,
    );
    assert!(meta["actions"]["PUT"].get("name").is_some(), "{meta}");
    assert!(meta["actions"]["PUT"].get("id").is_none());
    assert_eq!(
        send(&server, &t, "OPTIONS", "/api/v1/nosuch/", &Value::Null).status,
        404
    );

    // Bulk PATCH: every item applied; one bad item changes nothing.
    let h = "/api/v1/assets/hosts/";
    let r = send(
        &server,
        &t,
        "PATCH",
        h,
        &json!([{"id": hosts[0], "comment": "one"}, {"id": hosts[1], "comment": "two"}]),
    );
    let body = ok(&r, 200);
    assert_eq!(body.as_array().unwrap().len(), 2);
    assert_eq!(
        ok(&get(&server, &t, &format!("{a}{}/", hosts[1])), 200)["comment"],
        "two"
    );
    let r = send(
        &server,
        &t,
        "PATCH",
        h,
        &json!([{"id": hosts[0], "comment": "changed"}, {"id": hosts[1], "nosuch": 1}]),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let errs = r.json();
    assert_eq!(errs[0], json!({}), "{errs}");
    assert!(errs[1].get("nosuch").is_some(), "{errs}");
    assert_eq!(
        ok(&get(&server, &t, &format!("{a}{}/", hosts[0])), 200)["comment"],
        "one",
        "the first item was put back"
    );
    // An item without id, or with an unknown id: 400, nothing written.
    let r = send(
        &server,
        &t,
        "PATCH",
        h,
        &json!([{"id": hosts[0], "comment": "x"}, {"comment": "y"}]),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()[1]["id"][0], "This field is required.");
    let r = send(
        &server,
        &t,
        "PUT",
        g,
        &json!([{"id": groups[2], "name": "dev2"}, {"id": uuid::Uuid::new_v4(), "name": "z"}]),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(names(&list(&format!("{g}?name__exact=dev"))), ["dev"]);
    // Bulk PUT on a second resource.
    let r = send(
        &server,
        &t,
        "PUT",
        g,
        &json!([{"id": groups[2], "name": "dev2", "comment": "c"}]),
    );
    assert_eq!(ok(&r, 200)[0]["name"], "dev2");

    // Bulk DELETE: refused unfiltered or when the filter does not narrow; filtered works.
    let r = send(&server, &t, "DELETE", a, &Value::Null);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = send(
        &server,
        &t,
        "DELETE",
        &format!("{a}?limit=10"),
        &Value::Null,
    );
    assert_eq!(r.status, 400);
    let r = send(
        &server,
        &t,
        "DELETE",
        &format!("{a}?name__icontains=0"),
        &Value::Null,
    );
    assert_eq!(r.status, 400, "a filter matching every row does not narrow");
    assert_eq!(list(a).len(), 3);
    let r = send(
        &server,
        &t,
        "DELETE",
        &format!("{a}?id__in={two}"),
        &Value::Null,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(names(&list(a)), ["web-02"]);
    let r = send(
        &server,
        &t,
        "DELETE",
        &format!("{g}?name__startswith=ops"),
        &Value::Null,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(names(&list(g)), ["dev2"]);

    // order= on the user's own asset lists.
    let mut f = Fixture::new(&db.url).await;
    let node = f.node("1:7", "ordered").await;
    let mine = [
        f.asset("b-asset", &[node]).await,
        f.asset("a-asset", &[node]).await,
        f.asset("c-asset", &[node]).await,
    ];
    sqlx::query("UPDATE assets SET address = '10.9.0.5' WHERE name = 'b-asset'")
        .execute(&mut f.conn)
        .await
        .unwrap();
    sqlx::query("UPDATE assets SET address = '10.9.0.9' WHERE name = 'a-asset'")
        .execute(&mut f.conn)
        .await
        .unwrap();
    sqlx::query("UPDATE assets SET address = '10.9.0.1' WHERE name = 'c-asset'")
        .execute(&mut f.conn)
        .await
        .unwrap();
    let pw = create_user(dir.path(), &db, "viewer", "user");
    let uid: String = sqlx::query_scalar("SELECT id FROM users WHERE username = 'viewer'")
        .fetch_one(&mut f.conn)
        .await
        .unwrap();
    let uid = uuid::Uuid::parse_str(&uid).unwrap();
    f.permission(
        "p",
        &[uid],
        &[],
        &mine,
        &[],
        &["@ALL"],
        1,
        Fixture::always(),
    )
    .await;
    let vt = token(&server, "viewer", &pw);
    let order = |path: &str, tok: &str| -> Vec<String> {
        ok(&get(&server, tok, path), 200)["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let me = "/api/v1/perms/users/self/assets/?limit=10";
    assert_eq!(order(me, &vt), ["a-asset", "b-asset", "c-asset"]);
    assert_eq!(
        order(&format!("{me}&order=-name"), &vt),
        ["c-asset", "b-asset", "a-asset"]
    );
    assert_eq!(
        order(&format!("{me}&order=address"), &vt),
        ["c-asset", "b-asset", "a-asset"]
    );
    let admin_view = format!("/api/v1/perms/users/{uid}/assets/?limit=10&order=-name");
    assert_eq!(order(&admin_view, &t), ["c-asset", "b-asset", "a-asset"]);
    let in_node = format!("/api/v1/perms/users/self/nodes/{node}/assets/?limit=10&order=-name");
    assert_eq!(order(&in_node, &vt), ["c-asset", "b-asset", "a-asset"]);
    let r = get(&server, &vt, &format!("{me}&order=secret"));
    assert_eq!(r.status, 400);
    assert!(r.json().get("order").is_some(), "{}", r.body);

    drop(server);
    db.drop_db().await;
}

/// A filtered bulk `DELETE` of assets, accounts, users and platforms is one transaction: a
/// row that cannot go, in the middle of the selection, leaves every row in place, and the 400
/// names it (reference §3.5's `referenced_by_others` for a platform that assets use). The SQL
/// lookups of the large lists (assets, accounts, users) keep the generic path's meaning.
#[tokio::test]
async fn bulk_delete_is_all_or_nothing_and_sql_lookups() {
    for db in TestDb::both().await {
        atomic(db).await;
    }
}

async fn atomic(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let t = token(&server, "admin", ADMIN_PASSWORD);
    let be = db.backend;
    let exists = |path: &str| get(&server, &t, path).status == 200;

    // Platforms: the middle one of three is used by an asset.
    let pl = "/api/v1/assets/platforms/";
    let mut plats = Vec::new();
    for name in ["bulk-a", "bulk-b", "bulk-c"] {
        let r = send(
            &server,
            &t,
            "POST",
            pl,
            &json!({"name": name, "category": "host", "type": "linux",
                    "protocols": [{"name": "ssh", "port": 22}]}),
        );
        plats.push(ok(&r, 201)["id"].to_string());
    }
    let host = id_of(&ok(
        &send(
            &server,
            &t,
            "POST",
            "/api/v1/assets/hosts/",
            &json!({"name": "on-b", "address": "10.3.0.1", "platform": plats[1].parse::<i64>().unwrap(),
                    "protocols": [{"name": "ssh"}]}),
        ),
        201,
    ));
    let all = plats.join(",");
    let r = send(
        &server,
        &t,
        "DELETE",
        &format!("{pl}?id__in={all}"),
        &Value::Null,
    );
    assert_eq!(r.status, 400, "{be}: {}", r.body);
    let body = r.json();
    assert_eq!(body["code"], "referenced_by_others", "{be}: {body}");
    assert_eq!(
        body["detail"],
        "Is referenced by other objects and cannot be deleted"
    );
    assert_eq!(
        body["object"]["id"].to_string(),
        format!("\"{}\"", plats[1])
    );
    assert_eq!(body["object"]["name"], "bulk-b");
    for p in &plats {
        assert!(exists(&format!("{pl}{p}/")), "{be}: platform {p} kept");
    }
    // Once free, the three go together.
    let r = send(
        &server,
        &t,
        "DELETE",
        &format!("/api/v1/assets/hosts/{host}/"),
        &Value::Null,
    );
    assert_eq!(r.status, 204, "{be}: {}", r.body);
    let r = send(
        &server,
        &t,
        "DELETE",
        &format!("{pl}?id__in={all}"),
        &Value::Null,
    );
    assert_eq!(r.status, 204, "{be}: {}", r.body);
    for p in &plats {
        assert!(!exists(&format!("{pl}{p}/")), "{be}: platform {p} deleted");
    }

    // Users: the caller themself, between two others in the list's order.
    let u = "/api/v1/users/users/";
    let mut users = Vec::new();
    for name in ["aaa-bulk", "zzz-bulk"] {
        let r = send(
            &server,
            &t,
            "POST",
            u,
            &json!({"name": name, "username": name, "email": format!("{name}@example.com")}),
        );
        users.push(id_of(&ok(&r, 201)));
    }
    let admin_id = id_of(&ok(&get(&server, &t, "/api/v1/users/profile/"), 200));
    let sel = format!("{},{admin_id},{}", users[0], users[1]);
    let r = send(
        &server,
        &t,
        "DELETE",
        &format!("{u}?id__in={sel}"),
        &Value::Null,
    );
    assert_eq!(r.status, 400, "{be}: {}", r.body);
    assert_eq!(r.json()["object"]["name"], "admin", "{be}: {}", r.body);
    for id in &users {
        assert!(exists(&format!("{u}{id}/")), "{be}: user {id} kept");
    }

    // SQL lookups on users: groups by name, email, negation, booleans.
    let g = id_of(&ok(
        &send(
            &server,
            &t,
            "POST",
            "/api/v1/users/groups/",
            &json!({"name": "bulk-team", "users": [users[1]]}),
        ),
        201,
    ));
    let usernames = |q: &str| -> Vec<String> {
        let mut v: Vec<String> = rows(&get(&server, &t, &format!("{u}?{q}")))
            .iter()
            .map(|r| r["username"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(usernames("groups__in=bulk-team"), ["zzz-bulk"]);
    assert_eq!(usernames(&format!("groups__exact={g}")), ["zzz-bulk"]);
    assert_eq!(
        usernames("email__icontains=BULK@&groups__in!=bulk-team"),
        ["aaa-bulk"]
    );
    assert_eq!(
        usernames("username__startswith=aaa&is_active__exact=1"),
        ["aaa-bulk"]
    );
    assert!(usernames("username__startswith=AAA").is_empty());
    let r = get(
        &server,
        &t,
        &format!("{u}?username__icontains=bulk&limit=1"),
    );
    assert_eq!(ok(&r, 200)["count"], 2, "{be}: {}", r.body);

    // Assets and accounts: SQL lookups, then a bulk delete by lookup.
    let a = "/api/v1/assets/assets/";
    let mut hosts = Vec::new();
    for (name, active) in [("bk-1", true), ("bk-2", false), ("other", true)] {
        let r = send(
            &server,
            &t,
            "POST",
            "/api/v1/assets/hosts/",
            &json!({"name": name, "address": format!("10.4.0.{}", hosts.len() + 1),
                    "platform": 1, "is_active": active, "protocols": [{"name": "ssh"}],
                    "labels": ["env:bulk"]}),
        );
        hosts.push(id_of(&ok(&r, 201)));
    }
    for h in &hosts {
        let r = send(
            &server,
            &t,
            "POST",
            "/api/v1/accounts/accounts/",
            &json!({"asset": h, "username": "svc", "secret_type": "password", "secret": "x"}),
        );
        ok(&r, 201);
    }
    assert_eq!(
        names(&rows(&get(&server, &t, &format!("{a}?is_active__exact=0")))),
        ["bk-2"]
    );
    assert_eq!(
        names(&rows(&get(
            &server,
            &t,
            &format!("{a}?labels__in=bulk&name__startswith=bk-")
        ))),
        ["bk-1", "bk-2"]
    );
    assert_eq!(
        names(&rows(&get(
            &server,
            &t,
            &format!("{a}?platform__exact=Linux&name__icontains!=bk")
        ))),
        ["other"]
    );
    assert_eq!(
        names(&rows(&get(
            &server,
            &t,
            &format!("{a}?nodes__in=Default&id__in={}", hosts[0])
        ))),
        ["bk-1"]
    );
    let acc = "/api/v1/accounts/accounts/";
    let accounts_of = |q: &str| rows(&get(&server, &t, &format!("{acc}?{q}"))).len();
    assert_eq!(accounts_of("asset__in=bk-1,bk-2&username__exact=svc"), 2);
    assert_eq!(
        accounts_of("asset__in!=bk-1,bk-2&secret_type__in=password"),
        1
    );
    let r = send(
        &server,
        &t,
        "DELETE",
        &format!("{acc}?asset__exact=bk-1"),
        &Value::Null,
    );
    assert_eq!(r.status, 204, "{be}: {}", r.body);
    assert_eq!(accounts_of("username=svc"), 2);
    let r = send(
        &server,
        &t,
        "DELETE",
        &format!("{a}?name__startswith=bk-"),
        &Value::Null,
    );
    assert_eq!(r.status, 204, "{be}: {}", r.body);
    assert_eq!(names(&rows(&get(&server, &t, a))), ["other"]);
    assert_eq!(
        accounts_of("username=svc"),
        1,
        "{be}: their accounts went with them"
    );
    // Each deleted row is in the operation log.
    let logs = rows(&get(
        &server,
        &t,
        "/api/v1/audits/operate-logs/?action=delete&resource_type=Asset",
    ));
    let bk = logs
        .iter()
        .filter(|l| l["resource"].as_str().is_some_and(|r| r.starts_with("bk-")))
        .count();
    assert_eq!(bk, 2, "{be}: {logs:?}");

    drop(server);
    db.drop_db().await;
}
