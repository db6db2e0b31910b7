//! The console's overview endpoints: `/api/v1/assets/categories/` (the category/type tree,
//! §4.5) and `/api/v1/index/` (dashboard figures: totals, per-day series, top assets and
//! users, failed logins), each checked for who may read it.

use crate::client::*;
use crate::fixture::{Fixture, now};
use crate::support::{TestDb, http, ok};
use serde_json::{Value, json};

fn children(tree: &Value, category: &str) -> Vec<(String, String)> {
    tree.as_array()
        .unwrap()
        .iter()
        .find(|c| c["value"] == category)
        .unwrap_or_else(|| panic!("no {category} in {tree}"))["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["value"].as_str().unwrap().to_owned(),
                t["label"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_category_tree_lists_categories_types_and_custom_types() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let path = "/api/v1/assets/categories/";

    let tree = ok(&get(&server, &admin, path), 200);
    let cats: Vec<&str> = tree
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        cats,
        ["host", "device", "database", "cloud", "web", "ds", "custom"]
    );
    assert_eq!(tree[0]["label"], "Host");
    assert!(children(&tree, "host").contains(&("linux".into(), "Linux".into())));
    assert!(children(&tree, "database").contains(&("postgresql".into(), "PostgreSQL".into())));
    let custom_before = children(&tree, "custom");
    assert!(!custom_before.iter().any(|(v, _)| v == "zos"), "{tree}");

    ok(
        &send(
            &server,
            &admin,
            "POST",
            "/api/v1/assets/platforms/",
            &json!({"name": "Mainframe", "category": "custom", "type": "zos",
                    "protocols": [{"name": "telnet", "port": 23}]}),
        ),
        201,
    );
    let tree = ok(&get(&server, &admin, path), 200);
    let custom_after = children(&tree, "custom");
    assert!(
        custom_after.contains(&("zos".into(), "zos".into())),
        "{tree}"
    );
    assert_eq!(custom_after.len(), custom_before.len() + 1);

    // Catalogue data: any signed-in user reads it, strangers do not.
    let pw = create_user(dir.path(), &db, "reader", "user");
    let user = token(&server, "reader", &pw);
    assert_eq!(get(&server, &user, path).status, 200);
    assert_eq!(
        http(&server.base, "GET", path, &[], None).unwrap().status,
        401
    );
}

async fn add_session(f: &mut Fixture, user: &str, asset_id: &str, asset: &str, finished: bool) {
    sqlx::query(
        "INSERT INTO sessions (id, org_id, user_display, user_id, asset, asset_id, protocol,
            is_finished, date_start)
         VALUES ($1, $2, $3, $4, $5, $6, 'ssh', $7, $8)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(f.org.to_string())
    .bind(format!("Administrator({user})"))
    .bind(uuid::Uuid::from_u128(7).to_string())
    .bind(asset)
    .bind(asset_id)
    .bind(finished)
    .bind(now())
    .execute(&mut f.conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_dashboard_counts_users_assets_sessions_and_failed_logins() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let pw = create_user(dir.path(), &db, "plain", "user");
        let plain = token(&server, "plain", &pw);
        let pw = create_user(dir.path(), &db, "watcher", "auditor");
        let auditor = token(&server, "watcher", &pw);

        let mut ids = Vec::new();
        for (name, address) in [("db1", "10.8.0.1"), ("web1", "10.8.0.2")] {
            let a = ok(
                &send(
                    &server,
                    &admin,
                    "POST",
                    "/api/v1/assets/hosts/",
                    &json!({"name": name, "address": address, "platform": 1,
                            "protocols": [{"name": "ssh"}]}),
                ),
                201,
            );
            ids.push(a["id"].as_str().unwrap().to_owned());
        }
        let mut f = Fixture::new(&db.url).await;
        for _ in 0..3 {
            add_session(&mut f, "admin", &ids[0], "db1(10.8.0.1)", true).await;
        }
        add_session(&mut f, "admin", &ids[1], "web1(10.8.0.2)", false).await;
        // A failed login.
        assert_eq!(login(&server, "plain", "not-the-password").status, 400);

        let d = ok(&get(&server, &admin, "/api/v1/index/"), 200);
        assert_eq!(d["days"], 7);
        assert!(d["total_count_users"].as_i64().unwrap() >= 3, "{d}");
        assert_eq!(d["total_count_assets"], 2, "{d}");
        assert_eq!(d["total_count_assets_this_week"], 2, "{d}");
        assert_eq!(d["total_count_online_sessions"], 1, "{d}");
        assert_eq!(d["total_count_online_users"], 1, "{d}");
        assert_eq!(d["total_count_sessions"], 4, "{d}");
        let dates = d["dates_metrics_date"].as_array().unwrap();
        assert_eq!(dates.len(), 7);
        let today = chrono::Local::now().format("%m-%d").to_string();
        assert_eq!(dates[6], today.as_str(), "{d}");
        assert_eq!(d["dates_metrics_total_count_sessions"][6], 4, "{d}");
        assert_eq!(d["dates_metrics_total_count_active_assets"][6], 2, "{d}");
        assert!(
            d["dates_metrics_total_count_login"][6].as_i64().unwrap() >= 3,
            "{d}"
        );
        assert_eq!(d["dates_metrics_total_count_login_failed"][6], 1, "{d}");
        assert_eq!(d["total_count_login_failed"], 1, "{d}");
        let top = &d["dates_login_times_top10_assets"];
        assert_eq!(top[0]["asset"], "db1(10.8.0.1)", "{d}");
        assert_eq!(top[0]["total"], 3);
        assert_eq!(top[1]["total"], 1);
        assert_eq!(d["dates_login_times_top10_users"][0]["total"], 4, "{d}");

        let month = ok(&get(&server, &admin, "/api/v1/index/?days=30"), 200);
        assert_eq!(month["dates_metrics_date"].as_array().unwrap().len(), 30);
        for bad in ["0", "367", "week"] {
            let r = get(&server, &admin, &format!("/api/v1/index/?days={bad}"));
            assert_eq!(r.status, 400, "{bad}: {}", r.body);
            assert!(r.json()["days"].is_array(), "{}", r.body);
        }

        // The audit area may read it; a plain user may not.
        assert_eq!(get(&server, &auditor, "/api/v1/index/").status, 200);
        let r = get(&server, &plain, "/api/v1/index/");
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(r.json()["code"], "permission_denied");
        drop(server);
        db.drop_db().await;
    }
}
