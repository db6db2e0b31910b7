//! Bulk `PUT`/`PATCH` of assets (every kind route and the generic list) and accounts is one
//! store transaction (reference §1.2): a batch whose last item is bad, at validation or only
//! at write time (two items renamed to the same name), leaves every item as it was — names,
//! addresses, an account's secret and its history — and logs nothing; a good batch updates
//! all items, answers them in the serializer shape and logs one operation per item; a reader
//! polling during a large batch never sees part of it.

use crate::client::*;
use crate::fixture::{Fixture, now};
use crate::support::{Server, TestDb, id_of, ok, rows};
use serde_json::{Value, json};
use sqlx::Row;

/// The kind routes and the category each serves.
const KINDS: &[(&str, &str)] = &[
    ("hosts", "host"),
    ("devices", "device"),
    ("databases", "database"),
    ("webs", "web"),
    ("clouds", "cloud"),
    ("customs", "custom"),
    ("directories", "ds"),
];

#[tokio::test]
async fn bulk_updates_of_assets_and_accounts_are_all_or_nothing() {
    for db in TestDb::both().await {
        check(&db).await;
    }
}

async fn scalar(f: &mut Fixture, sql: &str, bind: &str) -> i64 {
    let row = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(bind.to_owned())
        .fetch_one(&mut f.conn)
        .await
        .unwrap();
    row.try_get(0).unwrap()
}

/// How many `update` entries the operation log holds for object `id`.
async fn update_logs(f: &mut Fixture, id: &str) -> i64 {
    scalar(
        f,
        "SELECT COUNT(*) FROM operate_logs WHERE action = 'update' AND resource_id = $1",
        id,
    )
    .await
}

/// Creates an asset of `category` named `name` through its kind route; returns its id.
fn add_asset(server: &Server, t: &str, route: &str, platform: &Value, name: &str) -> String {
    let protocols: Vec<Value> = platform["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"name": p["name"], "port": p["port"]}))
        .collect();
    let mut body = json!({"name": name, "address": format!("{name}.example"),
        "platform": platform["id"], "protocols": protocols});
    if route == "databases" {
        body["db_name"] = json!("app");
    }
    id_of(&ok(
        &send(
            server,
            t,
            "POST",
            &format!("/api/v1/assets/{route}/"),
            &body,
        ),
        201,
    ))
}

fn asset(server: &Server, t: &str, id: &str) -> Value {
    ok(
        &get(server, t, &format!("/api/v1/assets/assets/{id}/")),
        200,
    )
}

async fn check(db: &TestDb) {
    let be = db.backend;
    let dir = tempfile::tempdir().unwrap();
    let server = start(db, dir.path());
    let t = token(&server, "admin", ADMIN_PASSWORD);
    let mut f = Fixture::new(&db.url).await;
    let platforms = rows(&get(&server, &t, "/api/v1/assets/platforms/?limit=1000"));

    // Every kind route: three assets each.
    let mut all: Vec<(&str, Vec<String>)> = Vec::new();
    for (route, category) in KINDS {
        let platform = platforms
            .iter()
            .find(|p| {
                p["category"]["value"] == *category
                    && !p["protocols"].as_array().unwrap().is_empty()
            })
            .unwrap_or_else(|| panic!("{be}: a {category} platform"));
        let ids: Vec<String> = (1..=3)
            .map(|i| add_asset(&server, &t, route, platform, &format!("{route}-{i}")))
            .collect();
        all.push((route, ids));
    }

    for (route, ids) in &all {
        let path = format!("/api/v1/assets/{route}/");
        let logs_before = update_logs(&mut f, &ids[0]).await;
        // The last item is invalid: nothing of the batch is written.
        let r = send(
            &server,
            &t,
            "PATCH",
            &path,
            &json!([{"id": ids[0], "name": format!("{route}-renamed"), "address": "10.9.0.1"},
                    {"id": ids[1], "comment": "changed"},
                    {"id": ids[2], "nosuch": 1}]),
        );
        assert_eq!(r.status, 400, "{be} {route}: {}", r.body);
        let errs = r.json();
        assert_eq!(errs[0], json!({}), "{be} {route}: {errs}");
        assert_eq!(errs[1], json!({}), "{be} {route}: {errs}");
        assert!(errs[2].get("nosuch").is_some(), "{be} {route}: {errs}");
        // The last item fails only at write time: renamed to the name the first takes.
        let r = send(
            &server,
            &t,
            "PUT",
            &path,
            &json!([{"id": ids[0], "name": format!("{route}-dup"), "address": "10.9.0.2"},
                    {"id": ids[1], "comment": "changed"},
                    {"id": ids[2], "name": format!("{route}-dup")}]),
        );
        assert_eq!(r.status, 400, "{be} {route}: {}", r.body);
        let errs = r.json();
        assert_eq!(errs[0], json!({}), "{be} {route}: {errs}");
        assert_eq!(errs[1], json!({}), "{be} {route}: {errs}");
        assert_eq!(
            errs[2]["name"][0], "asset with this name already exists.",
            "{be} {route}: {errs}"
        );
        for (i, id) in ids.iter().enumerate() {
            let a = asset(&server, &t, id);
            assert_eq!(a["name"], format!("{route}-{}", i + 1), "{be} {route}: {a}");
            assert_eq!(
                a["address"],
                format!("{route}-{}.example", i + 1),
                "{be} {route}"
            );
            assert_eq!(a["comment"], "", "{be} {route}");
        }
        assert_eq!(
            update_logs(&mut f, &ids[0]).await,
            logs_before,
            "{be} {route}: a failed batch logs nothing"
        );
        // A good batch: all updated, answered in the serializer shape, one log entry each.
        let r = send(
            &server,
            &t,
            "PATCH",
            &path,
            &json!([{"id": ids[0], "name": format!("{route}-one"), "address": "10.9.1.1"},
                    {"id": ids[1], "comment": "second"}]),
        );
        let body = ok(&r, 200);
        assert_eq!(body.as_array().unwrap().len(), 2, "{be} {route}");
        assert_eq!(body[0]["name"], format!("{route}-one"), "{be} {route}");
        assert_eq!(body[0]["address"], "10.9.1.1");
        assert_eq!(body[1]["comment"], "second");
        assert_eq!(body[1]["id"], ids[1].as_str());
        assert!(body[0].get("protocols").is_some(), "{be} {route}: {body}");
        assert_eq!(asset(&server, &t, &ids[0])["name"], format!("{route}-one"));
        assert_eq!(asset(&server, &t, &ids[1])["comment"], "second");
        assert_eq!(update_logs(&mut f, &ids[0]).await, logs_before + 1, "{be}");
        assert_eq!(update_logs(&mut f, &ids[1]).await, 1, "{be} {route}");
        assert_eq!(update_logs(&mut f, &ids[2]).await, 0, "{be} {route}");
    }

    // The generic list takes assets of several categories in one batch; an item a kind route
    // does not serve is an unknown id there.
    let host = &all[0].1[2];
    let database = &all[2].1[2];
    let r = send(
        &server,
        &t,
        "PATCH",
        "/api/v1/assets/hosts/",
        &json!([{"id": host, "comment": "x"}, {"id": database, "comment": "x"}]),
    );
    assert_eq!(r.status, 400, "{be}: {}", r.body);
    assert_eq!(
        r.json()[1]["id"][0],
        format!("Invalid pk \"{database}\" - object does not exist."),
        "{be}"
    );
    assert_eq!(asset(&server, &t, host)["comment"], "", "{be}");
    let r = send(
        &server,
        &t,
        "PATCH",
        "/api/v1/assets/assets/",
        &json!([{"id": host, "comment": "generic"}, {"id": database, "db_name": "other"}]),
    );
    let body = ok(&r, 200);
    assert_eq!(body[0]["comment"], "generic", "{be}");
    assert_eq!(asset(&server, &t, database)["db_name"], "other", "{be}");
    // Missing and duplicate ids: 400 before anything is looked at.
    let r = send(
        &server,
        &t,
        "PATCH",
        "/api/v1/assets/assets/",
        &json!([{"id": host, "comment": "y"}, {"id": host, "comment": "z"}, {"comment": "w"}]),
    );
    assert_eq!(r.status, 400, "{be}: {}", r.body);
    assert_eq!(r.json()[1]["id"][0], "Duplicate id in the request.");
    assert_eq!(r.json()[2]["id"][0], "This field is required.");
    assert_eq!(asset(&server, &t, host)["comment"], "generic", "{be}");
    // One object instead of a list: DRF's list-serializer answer, nothing written.
    for path in ["/api/v1/assets/assets/", "/api/v1/accounts/accounts/"] {
        let r = send(
            &server,
            &t,
            "PUT",
            path,
            &json!({"id": host, "comment": "dict"}),
        );
        assert_eq!(r.status, 400, "{be} {path}: {}", r.body);
        assert_eq!(
            r.json()["non_field_errors"][0],
            "Expected a list of items but got type \"dict\".",
            "{be} {path}"
        );
    }
    assert_eq!(asset(&server, &t, host)["comment"], "generic", "{be}");

    accounts(db, &server, &t, &mut f, &all[0].1[0]).await;
    concurrent_reader(&server, &t, &platforms, be);
}

/// Accounts: a new secret in a failed batch is rolled back with the rest (the value, its
/// version and the history); in a good batch it is sealed at rest and readable as sent.
async fn accounts(db: &TestDb, server: &Server, t: &str, f: &mut Fixture, host: &str) {
    let be = db.backend;
    let path = "/api/v1/accounts/accounts/";
    let mut ids = Vec::new();
    for i in 1..=3 {
        let r = send(
            server,
            t,
            "POST",
            path,
            &json!({"asset": host, "name": format!("acc-{i}"), "username": format!("user{i}"),
                    "secret_type": "password", "secret": format!("old-secret-{i}")}),
        );
        ids.push(id_of(&ok(&r, 201)));
    }
    // Secrets are readable through the API once the step-up is off.
    sqlx::query(
        "INSERT INTO settings (name, category, value, date_updated) VALUES ('SECURITY_VIEW_AUTH_NEED_MFA', 'security', 'false', $1)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(now())
    .execute(&mut f.conn)
    .await
    .unwrap();
    let secret = |id: &str| {
        ok(
            &get(
                server,
                t,
                &format!("/api/v1/accounts/account-secrets/{id}/"),
            ),
            200,
        )["secret"]
            .clone()
    };
    let account = |id: &str| ok(&get(server, t, &format!("{path}{id}/")), 200);
    let histories = async |f: &mut Fixture, id: &str| {
        scalar(
            f,
            "SELECT COUNT(*) FROM account_secret_histories WHERE account_id = $1",
            id,
        )
        .await
    };

    // Invalid last item, then a name clash only the write finds: nothing changes.
    let r = send(
        server,
        t,
        "PATCH",
        path,
        &json!([{"id": ids[0], "secret": "new-secret-1", "comment": "c"},
                {"id": ids[1], "secret": "new-secret-2"},
                {"id": ids[2], "secret_type": "nosuch"}]),
    );
    assert_eq!(r.status, 400, "{be}: {}", r.body);
    assert_eq!(r.json()[0], json!({}));
    assert!(r.json()[2].get("secret_type").is_some(), "{be}: {}", r.body);
    let r = send(
        server,
        t,
        "PATCH",
        path,
        &json!([{"id": ids[0], "secret": "new-secret-1", "name": "clash"},
                {"id": ids[1], "secret": "new-secret-2", "comment": "c"},
                {"id": ids[2], "name": "clash"}]),
    );
    assert_eq!(r.status, 400, "{be}: {}", r.body);
    let errs = r.json();
    assert_eq!(errs[0], json!({}), "{be}: {errs}");
    assert_eq!(errs[1], json!({}), "{be}: {errs}");
    assert!(errs[2].get("name").is_some(), "{be}: {errs}");
    assert!(!r.body.contains("new-secret"), "{be}");
    for (i, id) in ids.iter().enumerate() {
        let a = account(id);
        assert_eq!(a["name"], format!("acc-{}", i + 1), "{be}: {a}");
        assert_eq!(a["comment"], "", "{be}");
        assert_eq!(a["version"], 1, "{be}: the secret version was rolled back");
        assert_eq!(secret(id), format!("old-secret-{}", i + 1), "{be}");
        assert_eq!(
            histories(f, id).await,
            0,
            "{be}: no history for a rolled-back secret"
        );
        assert_eq!(
            update_logs(f, id).await,
            0,
            "{be}: a failed batch logs nothing"
        );
    }

    // A good batch: the new secrets are sealed at rest, the old ones kept in the history.
    let r = send(
        server,
        t,
        "PUT",
        path,
        &json!([{"id": ids[0], "secret": "new-secret-1", "name": "first"},
                {"id": ids[1], "secret": "new-secret-2", "comment": "c"}]),
    );
    let body = ok(&r, 200);
    assert!(
        !r.body.contains("new-secret"),
        "{be}: secrets are write-only"
    );
    assert_eq!(body[0]["name"], "first", "{be}");
    assert_eq!(body[0]["version"], 2, "{be}");
    assert_eq!(body[1]["comment"], "c", "{be}");
    for (i, id) in ids.iter().take(2).enumerate() {
        assert_eq!(secret(id), format!("new-secret-{}", i + 1), "{be}");
        assert_eq!(histories(f, id).await, 1, "{be}");
        assert_eq!(update_logs(f, id).await, 1, "{be}: one log entry per item");
        let row = sqlx::query("SELECT secret FROM accounts WHERE id = $1")
            .bind(id.clone())
            .fetch_one(&mut f.conn)
            .await
            .unwrap();
        let stored: String = row.try_get(0).unwrap();
        assert!(stored.starts_with("pcv1:"), "{be}: {stored}");
        assert!(!stored.contains("new-secret"), "{be}");
    }
    let log = rows(&get(
        server,
        t,
        "/api/v1/audits/operate-logs/?resource_type=Account&action=update&search=first",
    ));
    assert_eq!(log.len(), 1, "{be}: {log:?}");
    let detail = ok(
        &get(
            server,
            t,
            &format!(
                "/api/v1/audits/operate-logs/{}/",
                log[0]["id"].as_str().unwrap()
            ),
        ),
        200,
    );
    let text = detail.to_string();
    assert!(
        text.contains("acc-1") && text.contains("first"),
        "{be}: {text}"
    );
    assert!(!text.contains("new-secret"), "{be}: secrets are not logged");
    assert_eq!(secret(&ids[2]), "old-secret-3", "{be}");
}

/// A large batch renames many hosts' comments while another thread reads the list: every
/// read sees all of them with the old comment or all with the new one.
fn concurrent_reader(server: &Server, t: &str, platforms: &[Value], be: &str) {
    let platform = platforms
        .iter()
        .find(|p| p["category"]["value"] == "host")
        .unwrap();
    let n = 80;
    let ids: Vec<String> = (0..n)
        .map(|i| add_asset(server, t, "hosts", platform, &format!("conc-{i:03}")))
        .collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    let seen = std::sync::Mutex::new(Vec::<Vec<String>>::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let rs = rows(&get(
                    server,
                    t,
                    "/api/v1/assets/hosts/?name__startswith=conc-&limit=200",
                ));
                let mut comments: Vec<String> = rs
                    .iter()
                    .map(|r| r["comment"].as_str().unwrap().to_owned())
                    .collect();
                comments.sort();
                comments.dedup();
                seen.lock().unwrap().push(comments);
            }
        });
        for round in 1..=4 {
            let batch: Vec<Value> = ids
                .iter()
                .map(|id| json!({"id": id, "comment": format!("round-{round}")}))
                .collect();
            let r = send(
                server,
                t,
                "PATCH",
                "/api/v1/assets/hosts/",
                &Value::Array(batch),
            );
            assert_eq!(r.status, 200, "{be}: {}", r.body);
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let seen = seen.into_inner().unwrap();
    assert!(!seen.is_empty(), "{be}");
    for comments in &seen {
        assert_eq!(
            comments.len(),
            1,
            "{be}: a reader saw part of a batch: {comments:?}"
        );
    }
}
