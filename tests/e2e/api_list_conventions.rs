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
