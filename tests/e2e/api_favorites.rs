//! Favourite assets (`/api/v1/assets/favorite-assets/`, §4.5) and the favourite list of "my
//! assets" (`/api/v1/perms/users/self/nodes/favorite/assets/`, §4.12): per user, only for
//! granted assets, hidden again when the grant goes.

use crate::client::*;
use crate::fixture::Fixture;
use crate::support::{TestDb, http, ok};
use serde_json::{Value, json};

const FAV: &str = "/api/v1/assets/favorite-assets/";

fn assets_of(list: &Value) -> Vec<String> {
    let rows = list
        .get("results")
        .unwrap_or(list)
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"));
    let mut v: Vec<String> = rows
        .iter()
        .map(|r| r["asset"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

async fn user_id(f: &mut Fixture, username: &str) -> uuid::Uuid {
    let id: String = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(&mut f.conn)
        .await
        .unwrap();
    uuid::Uuid::parse_str(&id).unwrap()
}

#[tokio::test]
async fn favourites_are_per_user_and_only_for_granted_assets() {
    for db in TestDb::both().await {
        check_favourites(db).await;
    }
}

async fn check_favourites(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let pw_a = create_user(dir.path(), &db, "alice", "user");
    let pw_b = create_user(dir.path(), &db, "bob", "user");
    let mut f = Fixture::new(&db.url).await;
    let web = f.node("1:1", "web").await;
    let w1 = f.asset("web-1", &[web]).await;
    let w2 = f.asset("web-2", &[web]).await;
    let other = f.asset("other", &[]).await;
    let alice = user_id(&mut f, "alice").await;
    let bob = user_id(&mut f, "bob").await;
    f.permission(
        "web",
        &[alice, bob],
        &[],
        &[],
        &[web],
        &["@ALL"],
        1,
        Fixture::always(),
    )
    .await;
    let direct = f
        .permission(
            "other",
            &[alice],
            &[],
            &[other],
            &[],
            &["@ALL"],
            1,
            Fixture::always(),
        )
        .await;
    let a = token(&server, "alice", &pw_a);
    let b = token(&server, "bob", &pw_b);

    assert_eq!(ok(&get(&server, &a, FAV), 200), json!([]));
    let made = ok(&send(&server, &a, "POST", FAV, &json!({"asset": w1})), 201);
    assert_eq!(made["asset"], w1.to_string());
    assert!(made["id"].is_string() && made["folder"].is_null(), "{made}");
    ok(
        &send(
            &server,
            &a,
            "POST",
            FAV,
            &json!({"asset": other.to_string()}),
        ),
        201,
    );
    // Twice, not granted, unknown, malformed, missing: 400 naming the field.
    for body in [
        json!({"asset": w1}),
        json!({"asset": uuid::Uuid::new_v4()}),
        json!({"asset": "not-an-id"}),
        json!({}),
        json!({"asset": w2, "folder": "f1"}),
    ] {
        let r = send(&server, &a, "POST", FAV, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let key = if body.get("folder").is_some() {
            "folder"
        } else {
            "asset"
        };
        assert!(r.json()[key].is_array(), "{body}: {}", r.body);
    }
    // Bob is not granted `other`: he cannot bookmark it, and sees none of Alice's.
    let r = send(&server, &b, "POST", FAV, &json!({"asset": other}));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("granted"), "{}", r.body);
    assert_eq!(ok(&get(&server, &b, FAV), 200), json!([]));
    ok(&send(&server, &b, "POST", FAV, &json!({"asset": w2})), 201);

    let mut want = vec![w1.to_string(), other.to_string()];
    want.sort();
    assert_eq!(assets_of(&ok(&get(&server, &a, FAV), 200)), want);
    let page = ok(&get(&server, &a, &format!("{FAV}?limit=1")), 200);
    assert_eq!(page["count"], 2);
    assert_eq!(
        assets_of(&ok(&get(&server, &a, &format!("{FAV}?asset={w1}")), 200)),
        [w1.to_string()]
    );
    assert_eq!(
        assets_of(&ok(&get(&server, &b, FAV), 200)),
        [w2.to_string()]
    );

    // The favourite list of "my assets" is the permitted-asset serializer.
    let mine = ok(
        &get(
            &server,
            &a,
            "/api/v1/perms/users/self/nodes/favorite/assets/?limit=10",
        ),
        200,
    );
    assert_eq!(mine["count"], 2);
    let names: Vec<&str> = mine["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["other", "web-1"]);

    // Revoking the grant hides the favourite (the bookmark itself is kept).
    sqlx::query("DELETE FROM asset_permissions WHERE id = $1")
        .bind(direct.to_string())
        .execute(&mut f.conn)
        .await
        .unwrap();
    assert_eq!(
        assets_of(&ok(&get(&server, &a, FAV), 200)),
        [w1.to_string()]
    );
    let mine = ok(
        &get(
            &server,
            &a,
            "/api/v1/perms/users/self/nodes/favorite/assets/?limit=10",
        ),
        200,
    );
    assert_eq!(mine["count"], 1);

    // DELETE ?asset=: only the caller's own; 404 when there is none; 400 without the asset.
    assert_eq!(
        send(
            &server,
            &b,
            "DELETE",
            &format!("{FAV}?asset={w1}"),
            &json!({})
        )
        .status,
        404
    );
    assert_eq!(
        send(
            &server,
            &a,
            "DELETE",
            &format!("{FAV}?asset={w1}"),
            &json!({})
        )
        .status,
        204
    );
    assert_eq!(
        assets_of(&ok(&get(&server, &a, FAV), 200)),
        Vec::<String>::new()
    );
    assert_eq!(
        assets_of(&ok(&get(&server, &b, FAV), 200)),
        [w2.to_string()]
    );
    let r = send(&server, &a, "DELETE", FAV, &json!({}));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["asset"].is_array(), "{}", r.body);
    // Strangers get nothing.
    assert_eq!(
        http(&server.base, "GET", FAV, &[], None).unwrap().status,
        401
    );
}
