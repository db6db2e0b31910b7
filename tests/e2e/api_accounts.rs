//! Accounts, readable secrets, account templates and asset permissions, driven over HTTP the
//! way a JumpServer script drives them. Hosts and nodes come from the fixture because the
//! assets API is written separately.

use crate::client::*;
use crate::fixture::{Fixture, now};
use crate::support::{HttpResponse, Server, TestDb, http};
use portcullis_core::builtin::ORG_ADMIN_ROLE_ID;
use portcullis_core::vault::{MasterKey, SealContext, Vault};
use serde_json::{Value, json};
use uuid::Uuid;

/// A request with an optional `X-JMS-ORG` header and an optional JSON body.
fn call(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    org: Option<&str>,
    body: Option<&Value>,
) -> HttpResponse {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if let Some(org) = org {
        headers.push(("X-JMS-ORG", org));
    }
    http(&server.base, method, path, &headers, body).unwrap()
}

fn delete(server: &Server, token: &str, path: &str) -> HttpResponse {
    call(server, token, "DELETE", path, None, None)
}

fn vault_of(data: &std::path::Path) -> Vault {
    let key = std::fs::read_to_string(data.join("master.key")).unwrap();
    Vault::new(MasterKey::from_base64(&key).unwrap(), vec![])
}

async fn scalar_text(f: &mut Fixture, sql: &str, id: &str) -> Option<String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(id)
        .fetch_one(&mut f.conn)
        .await
        .unwrap()
}

async fn count(f: &mut Fixture, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut f.conn)
        .await
        .unwrap()
}

async fn user_id(f: &mut Fixture, username: &str) -> Uuid {
    let id: String = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(&mut f.conn)
        .await
        .unwrap();
    Uuid::parse_str(&id).unwrap()
}

async fn secret_view_needs_mfa(f: &mut Fixture, on: bool) {
    sqlx::query(
        "INSERT INTO settings (name, category, value, date_updated) VALUES ('SECURITY_VIEW_AUTH_NEED_MFA', 'security', $1, $2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(if on { "true" } else { "false" })
    .bind(now())
    .execute(&mut f.conn)
    .await
    .unwrap();
}

fn names(v: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn account_secrets_are_sealed_write_only_and_readable_only_after_the_step_up() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let user_pw = create_user(dir.path(), &db, "plain", "user");
        let plain = token(&server, "plain", &user_pw);
        let mut f = Fixture::new(&db.url).await;
        let root = f.node_id("1").await;
        let host = f.asset("web-1", &[root]).await;
        let plaintext = "Pl41n-old-secret";

        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/accounts/accounts/",
            &json!({"asset": host, "username": "root", "secret_type": "password",
                    "secret": plaintext, "privileged": true, "comment": "ops"}),
        );
        assert_eq!(r.status, 201, "{}: {}", db.backend, r.body);
        let acc = r.json();
        let id = acc["id"].as_str().unwrap().to_owned();
        assert_eq!(acc["name"], "root", "name defaults to the username");
        assert_eq!(acc["username"], "root");
        assert_eq!(
            acc["secret_type"],
            json!({"value": "password", "label": "Password"})
        );
        assert_eq!(acc["source"]["value"], "local");
        assert_eq!(acc["has_secret"], true);
        assert_eq!(acc["privileged"], true);
        assert_eq!(acc["version"], 1);
        assert_eq!(acc["asset"]["id"], host.to_string());
        assert_eq!(acc["asset"]["name"], "web-1");
        assert_eq!(acc["asset"]["category"]["value"], "host");
        assert!(acc.get("secret").is_none(), "{acc}");
        assert!(!r.body.contains(plaintext));

        // At rest: a vault envelope bound to this row, not the plaintext.
        let stored = scalar_text(&mut f, "SELECT secret FROM accounts WHERE id = $1", &id)
            .await
            .unwrap();
        assert!(stored.starts_with("pcv1:"), "{stored}");
        assert!(!stored.contains(plaintext));
        let vault = vault_of(dir.path());
        let opened = vault
            .open(&stored, &SealContext::new("accounts", "secret", &id))
            .unwrap();
        assert_eq!(opened.expose(), plaintext);

        // Lists and details never carry it; filters and search find the account.
        for path in [
            format!("/api/v1/accounts/accounts/?asset={host}"),
            "/api/v1/accounts/accounts/?search=web-1&privileged=true".to_owned(),
            format!("/api/v1/accounts/accounts/{id}/"),
        ] {
            let r = get(&server, &admin, &path);
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            assert!(!r.body.contains(plaintext), "{path}");
            assert!(r.body.contains(&id), "{path}: {}", r.body);
        }
        let none = get(
            &server,
            &admin,
            "/api/v1/accounts/accounts/?username=nobody&limit=5",
        );
        assert_eq!(none.json()["count"], 0);

        // The step-up is on by default: 412 for everyone allowed to ask, 403 for the others.
        let r = get(
            &server,
            &admin,
            &format!("/api/v1/accounts/account-secrets/{id}/"),
        );
        assert_eq!(r.status, 412, "{}", r.body);
        assert_eq!(r.json()["type"], "user_confirm_required");
        assert_eq!(r.json()["code"], "mfa");
        assert_eq!(
            get(&server, &admin, "/api/v1/accounts/account-secrets/").status,
            412
        );
        assert_eq!(
            get(&server, &plain, "/api/v1/accounts/account-secrets/").status,
            403
        );
        assert_eq!(
            get(&server, &plain, "/api/v1/accounts/accounts/").status,
            403
        );

        // An administrator turns the setting off: the secret is returned and the read logged.
        secret_view_needs_mfa(&mut f, false).await;
        let r = get(
            &server,
            &admin,
            &format!("/api/v1/accounts/account-secrets/{id}/"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["secret"], plaintext);
        let listed = get(
            &server,
            &admin,
            "/api/v1/accounts/account-secrets/?limit=10",
        )
        .json();
        assert_eq!(listed["count"], 1);
        assert_eq!(listed["results"][0]["secret"], plaintext);

        // A new secret bumps the version and keeps the old one, sealed, in the history.
        let newer = "N3w-secret-value";
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("/api/v1/accounts/accounts/{id}/"),
            &json!({"secret": newer}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["version"], 2);
        assert!(!r.body.contains(newer));
        // The same secret again changes nothing.
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("/api/v1/accounts/accounts/{id}/"),
            &json!({"secret": newer, "comment": "rotated"}),
        );
        assert_eq!(r.json()["version"], 2);
        assert_eq!(r.json()["comment"], "rotated");
        let h = get(
            &server,
            &admin,
            &format!("/api/v1/accounts/account-secrets/{id}/histories/"),
        );
        assert_eq!(h.status, 200, "{}", h.body);
        let h = h.json();
        assert_eq!(h.as_array().unwrap().len(), 1, "{h}");
        assert_eq!(h[0]["secret"], plaintext);
        assert_eq!(h[0]["version"], 1);
        let hid = h[0]["id"].as_str().unwrap();
        let sealed_history = scalar_text(
            &mut f,
            "SELECT secret FROM account_secret_histories WHERE id = $1",
            hid,
        )
        .await
        .unwrap();
        assert!(sealed_history.starts_with("pcv1:") && !sealed_history.contains(plaintext));
        let r = get(
            &server,
            &admin,
            &format!("/api/v1/accounts/account-secrets/{id}/"),
        );
        assert_eq!(r.json()["secret"], newer);
        secret_view_needs_mfa(&mut f, true).await;
        assert_eq!(
            get(
                &server,
                &admin,
                &format!("/api/v1/accounts/account-secrets/{id}/histories/")
            )
            .status,
            412
        );

        // The operation log has every write and every secret read, and no secret anywhere.
        let views = count(
            &mut f,
            "SELECT COUNT(*) FROM operate_logs WHERE resource_type = 'Account' AND action = 'view'",
        )
        .await;
        assert!(views >= 4, "{views}");
        let diffs: Vec<String> = sqlx::query_scalar("SELECT diff FROM operate_logs")
            .fetch_all(&mut f.conn)
            .await
            .unwrap();
        assert!(
            diffs
                .iter()
                .all(|d| !d.contains(plaintext) && !d.contains(newer))
        );
        for action in ["create", "update"] {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM operate_logs WHERE resource_type = 'Account' AND action = $1",
            )
            .bind(action)
            .fetch_one(&mut f.conn)
            .await
            .unwrap();
            assert!(n >= 1, "{action}");
        }

        // Bad input: field errors, nothing written.
        let before = count(&mut f, "SELECT COUNT(*) FROM accounts").await;
        for (body, field) in [
            (json!({"username": "x"}), "asset"),
            (json!({"asset": Uuid::new_v4(), "username": "x"}), "asset"),
            (
                json!({"asset": host, "username": "x", "secret_type": "magic"}),
                "secret_type",
            ),
            (
                json!({"asset": host, "username": "x", "privileged": "maybe"}),
                "privileged",
            ),
            (
                json!({"asset": host, "username": "x", "colour": "red"}),
                "colour",
            ),
            (json!({"asset": host}), "name"),
            (
                json!({"asset": host, "username": "x", "su_from": Uuid::new_v4()}),
                "su_from",
            ),
        ] {
            let r = send(&server, &admin, "POST", "/api/v1/accounts/accounts/", &body);
            assert_eq!(r.status, 400, "{body}: {}", r.body);
            assert!(r.json().get(field).is_some(), "{body}: {}", r.body);
        }
        // A duplicate on the same asset is refused by default (on_invalid = error).
        let dup = send(
            &server,
            &admin,
            "POST",
            "/api/v1/accounts/accounts/",
            &json!({"asset": host, "username": "root", "secret": "x"}),
        );
        assert_eq!(dup.status, 400, "{}", dup.body);
        assert_eq!(count(&mut f, "SELECT COUNT(*) FROM accounts").await, before);

        assert_eq!(
            delete(&server, &plain, &format!("/api/v1/accounts/accounts/{id}/")).status,
            403
        );
        assert_eq!(
            delete(&server, &admin, &format!("/api/v1/accounts/accounts/{id}/")).status,
            204
        );
        assert_eq!(
            get(&server, &admin, &format!("/api/v1/accounts/accounts/{id}/")).status,
            404
        );
        assert_eq!(
            count(&mut f, "SELECT COUNT(*) FROM account_secret_histories").await,
            0,
            "history goes with the account"
        );
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn bulk_adds_report_each_asset_and_templates_supply_accounts() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let mut f = Fixture::new(&db.url).await;
        let root = f.node_id("1").await;
        let a1 = f.asset("app-1", &[root]).await;
        let a2 = f.asset("app-22", &[root]).await;
        let a3 = f.asset("app-333", &[root]).await;

        // Bulk create with an array body: all or nothing, errors per item.
        let bad = send(
            &server,
            &admin,
            "POST",
            "/api/v1/accounts/accounts/",
            &json!([{"asset": a1, "username": "deploy"}, {"asset": Uuid::new_v4(), "username": "deploy"}]),
        );
        assert_eq!(bad.status, 400, "{}", bad.body);
        assert_eq!(bad.json()[0], json!({}));
        assert!(bad.json()[1].get("asset").is_some(), "{}", bad.body);
        assert_eq!(count(&mut f, "SELECT COUNT(*) FROM accounts").await, 0);
        let ok = send(
            &server,
            &admin,
            "POST",
            "/api/v1/accounts/accounts/",
            &json!([{"asset": a1, "username": "deploy", "secret": "d1"}]),
        );
        assert_eq!(ok.status, 201, "{}", ok.body);
        assert_eq!(ok.json().as_array().unwrap().len(), 1);

        // /bulk/: one account onto many assets; an existing one is skipped, updated or an error.
        let add = |on_invalid: &str, secret: &str| {
            send(
                &server,
                &admin,
                "POST",
                "/api/v1/accounts/accounts/bulk/",
                &json!({"assets": [a1, a2], "name": "deploy", "username": "deploy",
                        "secret_type": "password", "secret": secret, "privileged": false,
                        "on_invalid": on_invalid}),
            )
        };
        let r = add("skip", "d2");
        assert_eq!(r.status, 201, "{}", r.body);
        let states: Vec<(String, String)> = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["asset"].as_str().unwrap().to_owned(),
                    x["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            states.contains(&("app-1(10.0.0.5)".into(), "skipped".into())),
            "{states:?}"
        );
        assert!(
            states.contains(&("app-22(10.0.0.6)".into(), "created".into())),
            "{states:?}"
        );
        let r = add("update", "d3").json();
        assert!(
            r.as_array()
                .unwrap()
                .iter()
                .all(|x| x["state"] == "updated"),
            "{r}"
        );
        assert!(
            r.as_array().unwrap().iter().all(|x| x["changed"] == true),
            "{r}"
        );
        let r = add("error", "d4").json();
        assert!(
            r.as_array()
                .unwrap()
                .iter()
                .all(|x| x["state"] == "error" && x["error"] != ""),
            "{r}"
        );
        let versions: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM accounts WHERE username = 'deploy' ORDER BY version",
        )
        .fetch_all(&mut f.conn)
        .await
        .unwrap();
        assert_eq!(versions, [2, 2], "both secrets replaced once by the update");
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/accounts/accounts/bulk/",
            &json!({"assets": [Uuid::new_v4()], "username": "x"}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json().get("assets").is_some());

        // /bulk/ by node: every asset anywhere under the nodes, each once (also when listed
        // in assets too), su-from the account of su_from_username on each asset; a node that
        // does not exist, or an asset without that username, is a 400 and creates nothing.
        let team = f.node("1:7", "team").await;
        let sub = f.node("1:7:1", "sub").await;
        let b1 = f.asset("node-b1", &[team]).await;
        let b2 = f.asset("node-b2", &[sub]).await;
        let root_on = |asset: Uuid| {
            let r = send(
                &server,
                &admin,
                "POST",
                "/api/v1/accounts/accounts/",
                &json!({"asset": asset, "name": "root", "username": "root", "secret": "r"}),
            );
            assert_eq!(r.status, 201, "{}", r.body);
            r.json()["id"].as_str().unwrap().to_owned()
        };
        let root_b1 = root_on(b1);
        let by_node = || {
            send(
                &server,
                &admin,
                "POST",
                "/api/v1/accounts/accounts/bulk/",
                &json!({"assets": [b1], "nodes": [team], "name": "ops", "username": "ops",
                        "secret_type": "password", "secret": "o1", "su_from_username": "root"}),
            )
        };
        let r = by_node();
        assert_eq!(r.status, 400, "{}", r.body);
        let msg = r.json()["su_from_username"][0].as_str().unwrap().to_owned();
        assert!(msg.contains("node-b2") && !msg.contains("node-b1"), "{msg}");
        let ops = "SELECT COUNT(*) FROM accounts WHERE username = 'ops'";
        assert_eq!(count(&mut f, ops).await, 0, "nothing created");
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/accounts/accounts/bulk/",
            &json!({"nodes": [Uuid::new_v4()], "username": "ops"}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json().get("nodes").is_some(), "{}", r.body);
        let root_b2 = root_on(b2);
        let r = by_node();
        assert_eq!(r.status, 201, "{}", r.body);
        let results = r.json().as_array().unwrap().clone();
        assert_eq!(
            results.len(),
            2,
            "b1 once, b2 from the sub-node, not a3: {}",
            r.body
        );
        assert!(
            results.iter().all(|x| x["state"] == "created"),
            "{}",
            r.body
        );
        for (asset, root) in [(b1, &root_b1), (b2, &root_b2)] {
            let list = get(
                &server,
                &admin,
                &format!("/api/v1/accounts/accounts/?asset={asset}&username=ops"),
            );
            let acc = &crate::support::rows(&list)[0];
            assert_eq!(acc["su_from"]["id"], json!(root), "{}", list.body);
        }
        assert_eq!(count(&mut f, ops).await, 2);

        // Templates: CRUD, secret write-only and sealed, accounts made from them.
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/accounts/account-templates/",
            &json!({"name": "svc-tpl", "username": "svc", "secret": "Tpl-s3cret",
                    "secret_strategy": "specific", "password_rules": {"length": 24},
                    "platforms": [1], "privileged": true, "comment": "service"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let tpl = r.json();
        let tid = tpl["id"].as_str().unwrap().to_owned();
        assert!(tpl.get("secret").is_none() && !r.body.contains("Tpl-s3cret"));
        assert_eq!(tpl["has_secret"], true);
        assert_eq!(tpl["secret_strategy"]["value"], "specific");
        assert_eq!(tpl["platforms"][0]["id"], 1);
        assert_eq!(tpl["password_rules"]["length"], 24);
        let stored = scalar_text(
            &mut f,
            "SELECT secret FROM account_templates WHERE id = $1",
            &tid,
        )
        .await
        .unwrap();
        assert!(stored.starts_with("pcv1:") && !stored.contains("Tpl-s3cret"));
        for (body, field) in [
            (json!({"username": "x"}), "name"),
            (json!({"name": "svc-tpl"}), "name"),
            (
                json!({"name": "t2", "secret_strategy": "guess"}),
                "secret_strategy",
            ),
            (json!({"name": "t2", "platforms": [999_999]}), "platforms"),
            (
                json!({"name": "t2", "password_rules": {"length": 2}}),
                "password_rules",
            ),
        ] {
            let r = send(
                &server,
                &admin,
                "POST",
                "/api/v1/accounts/account-templates/",
                &body,
            );
            assert_eq!(r.status, 400, "{body}: {}", r.body);
            assert!(r.json().get(field).is_some(), "{body}: {}", r.body);
        }
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/accounts/accounts/",
            &json!({"asset": a3, "template": tid}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let from_tpl = r.json();
        assert_eq!(from_tpl["username"], "svc");
        assert_eq!(from_tpl["source"]["value"], "template");
        assert_eq!(from_tpl["source_id"], tid.as_str());
        assert_eq!(from_tpl["has_secret"], true);
        assert_eq!(from_tpl["privileged"], true);
        secret_view_needs_mfa(&mut f, false).await;
        let s = get(
            &server,
            &admin,
            &format!(
                "/api/v1/accounts/account-secrets/{}/",
                from_tpl["id"].as_str().unwrap()
            ),
        );
        assert_eq!(s.json()["secret"], "Tpl-s3cret", "{}", s.body);

        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/accounts/account-templates/svc-tpl/",
            &json!({"name": "svc-template", "auto_push": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["auto_push"], true);
        assert_eq!(
            r.json()["username"],
            "svc",
            "a PATCH keeps what it does not name"
        );
        let list = get(
            &server,
            &admin,
            "/api/v1/accounts/account-templates/?search=svc&limit=5",
        )
        .json();
        assert_eq!(list["count"], 1);
        assert_eq!(list["results"][0]["name"], "svc-template");
        assert_eq!(
            delete(
                &server,
                &admin,
                &format!("/api/v1/accounts/account-templates/{tid}/")
            )
            .status,
            204
        );
        assert_eq!(
            get(
                &server,
                &admin,
                &format!("/api/v1/accounts/account-templates/{tid}/")
            )
            .status,
            404
        );
        let logs = count(
            &mut f,
            "SELECT COUNT(*) FROM operate_logs WHERE resource_type = 'AccountTemplate'",
        )
        .await;
        assert_eq!(logs, 3, "create, update, delete");
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn asset_permissions_grant_exactly_the_assets_accounts_and_actions_they_name() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let op_pw = create_user(dir.path(), &db, "op", "user");
        create_user(dir.path(), &db, "op2", "user");
        let op_token = token(&server, "op", &op_pw);
        let mut f = Fixture::new(&db.url).await;
        let op = user_id(&mut f, "op").await;
        let op2 = user_id(&mut f, "op2").await;
        let root = f.node_id("1").await;
        let web = f.node("1:1", "web").await;
        let deep = f.node("1:1:1", "deep").await;
        let w1 = f.asset("web-1", &[web]).await;
        let w2 = f.asset("web-22", &[deep]).await;
        let direct = f.asset("db-1", &[root]).await;
        let other = f.asset("other", &[root]).await;
        let group = f.group("ops", &[op2]).await;
        for (asset, username) in [(w1, "root"), (w1, "app"), (direct, "root")] {
            let r = send(
                &server,
                &admin,
                "POST",
                "/api/v1/accounts/accounts/",
                &json!({"asset": asset, "username": username, "secret": "s"}),
            );
            assert_eq!(r.status, 201, "{}", r.body);
        }

        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/perms/asset-permissions/",
            &json!({"name": "web-ops", "users": [op], "nodes": [web], "assets": [{"id": direct}],
                    "accounts": ["root"], "actions": ["connect", {"value": "upload"}]}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let p = r.json();
        let pid = p["id"].as_str().unwrap().to_owned();
        assert_eq!(p["users"], json!([{"id": op, "name": "op"}]));
        assert_eq!(p["nodes"], json!([{"id": web, "name": "web"}]));
        assert_eq!(p["assets_amount"], 1);
        assert_eq!(p["protocols"], json!(["all"]));
        assert_eq!(
            p["actions"],
            json!([{"value": "connect", "label": "Connect"}, {"value": "upload", "label": "Upload"}])
        );
        assert_eq!(p["is_valid"], true);
        assert_eq!(p["is_expired"], false);
        let expires = p["date_expired"].as_str().unwrap();
        let year: i32 = expires[..4].parse().unwrap();
        assert!(
            year >= chrono::Utc::now()
                .format("%Y")
                .to_string()
                .parse::<i32>()
                .unwrap()
                + 69,
            "{expires}"
        );

        // The granted user sees exactly the granted assets, with the granted account and actions.
        let mine = get(
            &server,
            &op_token,
            "/api/v1/perms/users/self/assets/?limit=10",
        );
        assert_eq!(mine.status, 200, "{}", mine.body);
        assert_eq!(
            names(&mine.json()["results"], "name"),
            ["db-1", "web-1", "web-22"]
        );
        let detail = get(
            &server,
            &op_token,
            &format!("/api/v1/perms/users/self/assets/{w1}/"),
        )
        .json();
        let accounts = detail["permed_accounts"].as_array().unwrap();
        assert_eq!(accounts.len(), 1, "{detail}");
        assert_eq!(accounts[0]["username"], "root");
        assert_eq!(
            names(&accounts[0]["actions"], "value"),
            ["connect", "upload"]
        );
        assert_eq!(
            get(
                &server,
                &op_token,
                &format!("/api/v1/perms/users/self/assets/{other}/")
            )
            .status,
            404
        );

        // Sub-resources.
        let all_assets = get(
            &server,
            &admin,
            &format!("/api/v1/perms/asset-permissions/{pid}/assets/all/"),
        )
        .json();
        assert_eq!(names(&all_assets, "name"), ["db-1", "web-1", "web-22"]);
        let all_users = get(
            &server,
            &admin,
            &format!("/api/v1/perms/asset-permissions/{pid}/users/all/"),
        )
        .json();
        assert_eq!(names(&all_users, "username"), ["op"]);
        let accs = get(
            &server,
            &admin,
            &format!("/api/v1/perms/asset-permissions/{pid}/accounts/"),
        )
        .json();
        assert_eq!(names(&accs, "username"), ["root", "root"]);

        // Filters.
        for (query, expected) in [
            (format!("user_id={op}"), 1),
            (format!("user_id={op2}"), 0),
            ("username=op".to_owned(), 1),
            (format!("asset_id={w2}"), 1),
            (format!("asset_id={other}"), 0),
            (format!("node_id={deep}"), 1),
            ("is_valid=true".to_owned(), 1),
            ("is_expired=true".to_owned(), 0),
            ("search=web".to_owned(), 1),
            ("name=nope".to_owned(), 0),
        ] {
            let r = get(
                &server,
                &admin,
                &format!("/api/v1/perms/asset-permissions/?limit=5&{query}"),
            );
            assert_eq!(r.status, 200, "{query}: {}", r.body);
            assert_eq!(r.json()["count"], expected, "{query}");
        }

        // Relation rows: add a group and an asset, list, remove.
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/perms/asset-permissions-user-groups-relations/",
            &json!([{"assetpermission": pid, "usergroup": group}]),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()[0]["usergroup_display"], "ops");
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/perms/asset-permissions-assets-relations/",
            &json!({"assetpermission": pid, "asset": other}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let mine = get(
            &server,
            &op_token,
            "/api/v1/perms/users/self/assets/?limit=10",
        )
        .json();
        assert_eq!(mine["count"], 4);
        let all_users = get(
            &server,
            &admin,
            &format!("/api/v1/perms/asset-permissions/{pid}/users/all/"),
        )
        .json();
        assert_eq!(names(&all_users, "username"), ["op", "op2"]);
        let rows = get(
            &server,
            &admin,
            &format!("/api/v1/perms/asset-permissions-assets-relations/?assetpermission={pid}"),
        )
        .json();
        assert_eq!(
            names(&rows, "asset_display"),
            ["db-1(10.0.0.4)", "other(10.0.0.5)"]
        );
        let r = delete(
            &server,
            &admin,
            &format!(
                "/api/v1/perms/asset-permissions-assets-relations/?assetpermission={pid}&asset={other}"
            ),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(
            delete(
                &server,
                &admin,
                "/api/v1/perms/asset-permissions-assets-relations/"
            )
            .status,
            400
        );
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/perms/asset-permissions-users-relations/",
            &json!([{"assetpermission": pid, "user": op2}, {"assetpermission": pid, "user": Uuid::new_v4()}]),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.json()[0], json!({}));
        assert!(r.json()[1].get("user").is_some());
        let users = get(
            &server,
            &admin,
            &format!("/api/v1/perms/asset-permissions-users-relations/?assetpermission={pid}"),
        )
        .json();
        assert_eq!(
            names(&users, "user_display"),
            ["op(op)"],
            "the failed bulk wrote nothing"
        );
        let nodes = get(
            &server,
            &admin,
            "/api/v1/perms/asset-permissions-nodes-relations/",
        )
        .json();
        assert_eq!(names(&nodes, "node_display"), ["web"]);

        // Bad input: field errors and nothing written.
        let before = count(&mut f, "SELECT COUNT(*) FROM asset_permissions").await;
        for (body, field) in [
            (json!({"users": [op]}), "name"),
            (json!({"name": "web-ops"}), "name"),
            (json!({"name": "x", "accounts": ["@AL"]}), "accounts"),
            (
                json!({"name": "x", "accounts": [format!("%{}", Uuid::new_v4())]}),
                "accounts",
            ),
            (json!({"name": "x", "actions": ["fly"]}), "actions"),
            (json!({"name": "x", "users": [Uuid::new_v4()]}), "users"),
            (json!({"name": "x", "nodes": ["not-a-uuid"]}), "nodes"),
            (
                json!({"name": "x", "date_expired": "someday"}),
                "date_expired",
            ),
            (
                json!({"name": "x", "date_start": "2030-01-01", "date_expired": "2020-01-01"}),
                "date_expired",
            ),
            (json!({"name": "x", "protocols": ["SSH!"]}), "protocols"),
        ] {
            let r = send(
                &server,
                &admin,
                "POST",
                "/api/v1/perms/asset-permissions/",
                &body,
            );
            assert_eq!(r.status, 400, "{body}: {}", r.body);
            assert!(r.json().get(field).is_some(), "{body}: {}", r.body);
        }
        assert_eq!(
            count(&mut f, "SELECT COUNT(*) FROM asset_permissions").await,
            before
        );

        // Defaults: every action, all protocols, no account.
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/perms/asset-permissions/",
            &json!({"name": "defaults", "actions": ["all"]}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["actions"].as_array().unwrap().len(), 7);
        assert_eq!(r.json()["accounts"], json!([]));

        // Deactivating takes the grant away at once (the cache is invalidated by triggers).
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("/api/v1/perms/asset-permissions/{pid}/"),
            &json!({"is_active": false}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["is_valid"], false);
        assert_eq!(
            r.json()["users_amount"],
            1,
            "relations untouched by a PATCH that omits them"
        );
        let mine = get(
            &server,
            &op_token,
            "/api/v1/perms/users/self/assets/?limit=10",
        )
        .json();
        assert_eq!(mine["count"], 0);
        assert_eq!(
            get(&server, &op_token, "/api/v1/perms/asset-permissions/").status,
            403
        );
        assert_eq!(
            delete(&server, &admin, "/api/v1/perms/asset-permissions/web-ops/").status,
            204
        );
        assert_eq!(
            get(
                &server,
                &admin,
                &format!("/api/v1/perms/asset-permissions/{pid}/")
            )
            .status,
            404
        );
        let logged: Vec<String> = sqlx::query_scalar(
            "SELECT action FROM operate_logs WHERE resource_type = 'AssetPermission' AND resource_id = $1 ORDER BY datetime",
        )
        .bind(&pid)
        .fetch_all(&mut f.conn)
        .await
        .unwrap();
        assert_eq!(logged.first().map(String::as_str), Some("create"));
        assert_eq!(logged.last().map(String::as_str), Some("delete"));
        assert!(
            logged.iter().filter(|a| *a == "update").count() >= 4,
            "{logged:?}"
        );
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn orgs_see_only_their_own_accounts_and_permissions() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let boss_pw = create_user(dir.path(), &db, "boss", "user");
        let plain_pw = create_user(dir.path(), &db, "plain", "user");
        let mut f = Fixture::new(&db.url).await;
        let org_b = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO orgs (id, name, date_created, date_updated) VALUES ($1, 'Branch', $2, $2)",
        )
        .bind(org_b.to_string())
        .bind(now())
        .execute(&mut f.conn)
        .await
        .unwrap();
        let boss = user_id(&mut f, "boss").await;
        sqlx::query("INSERT INTO role_bindings (id, user_id, role_id, scope, org_id, date_created, date_updated) VALUES ($1, $2, $3, 'org', $4, $5, $5)")
            .bind(Uuid::new_v4().to_string())
            .bind(boss.to_string())
            .bind(ORG_ADMIN_ROLE_ID.to_string())
            .bind(org_b.to_string())
            .bind(now())
            .execute(&mut f.conn)
            .await
            .unwrap();
        let root = f.node_id("1").await;
        let in_default = f.asset("default-host", &[root]).await;
        f.org = org_b;
        let b_root = f.node("9", "Branch").await;
        let in_b = f.asset("branch-host", &[b_root]).await;
        let b = org_b.to_string();
        let boss_token = token(&server, "boss", &boss_pw);
        let plain = token(&server, "plain", &plain_pw);

        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/accounts/accounts/",
            &json!({"asset": in_default, "username": "root"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let default_account = r.json()["id"].as_str().unwrap().to_owned();

        // In org B, a Default asset is not a valid reference; B's own asset is.
        let acc = json!({"asset": in_default, "username": "bob"});
        let r = call(
            &server,
            &boss_token,
            "POST",
            "/api/v1/accounts/accounts/",
            Some(&b),
            Some(&acc),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json().get("asset").is_some());
        let acc = json!({"asset": in_b, "username": "bob", "secret": "b0b"});
        let r = call(
            &server,
            &boss_token,
            "POST",
            "/api/v1/accounts/accounts/",
            Some(&b),
            Some(&acc),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["org_id"], b.as_str());
        assert_eq!(r.json()["org_name"], "Branch");

        let seen = call(
            &server,
            &boss_token,
            "GET",
            "/api/v1/accounts/accounts/",
            Some(&b),
            None,
        )
        .json();
        assert_eq!(names(&seen, "username"), ["bob"]);
        let r = call(
            &server,
            &boss_token,
            "GET",
            &format!("/api/v1/accounts/accounts/{default_account}/"),
            Some(&b),
            None,
        );
        assert_eq!(r.status, 404);
        let r = call(
            &server,
            &boss_token,
            "DELETE",
            &format!("/api/v1/accounts/accounts/{default_account}/"),
            Some(&b),
            None,
        );
        assert_eq!(r.status, 404);
        // The root view of a system administrator sees both orgs.
        let all = call(
            &server,
            &admin,
            "GET",
            "/api/v1/accounts/accounts/",
            Some("ROOT"),
            None,
        )
        .json();
        assert_eq!(names(&all, "username"), ["bob", "root"]);
        let default_only = get(&server, &admin, "/api/v1/accounts/accounts/").json();
        assert_eq!(names(&default_only, "username"), ["root"]);

        // Permissions: cross-org users and assets are refused; same-org ones work.
        let perm = json!({"name": "p", "assets": [in_default]});
        let r = call(
            &server,
            &boss_token,
            "POST",
            "/api/v1/perms/asset-permissions/",
            Some(&b),
            Some(&perm),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let perm = json!({"name": "p", "users": [user_id(&mut f, "plain").await]});
        let r = call(
            &server,
            &boss_token,
            "POST",
            "/api/v1/perms/asset-permissions/",
            Some(&b),
            Some(&perm),
        );
        assert_eq!(r.status, 400, "plain is not a member of B: {}", r.body);
        let perm = json!({"name": "p", "users": [boss], "assets": [in_b], "accounts": ["@ALL"]});
        let r = call(
            &server,
            &boss_token,
            "POST",
            "/api/v1/perms/asset-permissions/",
            Some(&b),
            Some(&perm),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let pid = r.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(
            get(
                &server,
                &admin,
                &format!("/api/v1/perms/asset-permissions/{pid}/")
            )
            .status,
            404
        );
        assert_eq!(
            call(
                &server,
                &admin,
                "GET",
                &format!("/api/v1/perms/asset-permissions/{pid}/"),
                Some("ROOT"),
                None
            )
            .status,
            200
        );
        let rel = json!({"assetpermission": pid, "asset": in_default});
        let r = call(
            &server,
            &boss_token,
            "POST",
            "/api/v1/perms/asset-permissions-assets-relations/",
            Some(&b),
            Some(&rel),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let r = call(
            &server,
            &admin,
            "GET",
            &format!("/api/v1/perms/asset-permissions-assets-relations/?assetpermission={pid}"),
            None,
            None,
        );
        assert_eq!(
            r.json(),
            json!([]),
            "Default's view has no rows of B's permission"
        );

        // A plain user may do none of this.
        for (method, path) in [
            ("GET", "/api/v1/accounts/accounts/"),
            ("POST", "/api/v1/accounts/accounts/"),
            ("POST", "/api/v1/accounts/accounts/bulk/"),
            ("GET", "/api/v1/accounts/account-templates/"),
            ("POST", "/api/v1/accounts/account-templates/"),
            ("GET", "/api/v1/accounts/account-secrets/"),
            ("GET", "/api/v1/perms/asset-permissions/"),
            ("POST", "/api/v1/perms/asset-permissions/"),
            ("GET", "/api/v1/perms/asset-permissions-users-relations/"),
            ("POST", "/api/v1/perms/asset-permissions-users-relations/"),
        ] {
            let body = json!({});
            let r = call(
                &server,
                &plain,
                method,
                path,
                None,
                (method == "POST").then_some(&body),
            );
            assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        }
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn an_asset_is_created_with_its_accounts_or_not_at_all() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let mut f = Fixture::new(&db.url).await;
    let tpl = send(
        &server,
        &admin,
        "POST",
        "/api/v1/accounts/account-templates/",
        &json!({"name": "svc-tpl", "username": "svc", "secret": "Tpl-s3cret"}),
    );
    assert_eq!(tpl.status, 201, "{}", tpl.body);
    let tpl = tpl.json()["id"].as_str().unwrap().to_owned();
    let host = |name: &str, accounts: Value| {
        send(
            &server,
            &admin,
            "POST",
            "/api/v1/assets/hosts/",
            &json!({"name": name, "address": "10.9.0.1", "platform": 1,
                    "protocols": [{"name": "ssh", "port": 22}], "accounts": accounts}),
        )
    };
    let assets = "SELECT COUNT(*) FROM assets";
    let accounts = "SELECT COUNT(*) FROM accounts";
    let (assets0, accounts0) = (count(&mut f, assets).await, count(&mut f, accounts).await);

    // A bad account (an unknown secret type; a duplicate in the list; a missing template):
    // a 400 naming the item and field, and neither the asset nor any account exists.
    for (bad, index, field) in [
        (
            json!([{"username": "root", "secret": "x"}, {"username": "app", "secret_type": "bogus"}]),
            1,
            "secret_type",
        ),
        (
            json!([{"username": "root", "secret": "x"}, {"username": "root", "secret": "y"}]),
            1,
            "non_field_errors",
        ),
        (json!([{"template": Uuid::new_v4()}]), 0, "template"),
    ] {
        let r = host("inline-bad", bad);
        assert_eq!(r.status, 400, "{}", r.body);
        if index == 1 {
            assert_eq!(r.json()["accounts"][0], json!({}), "{}", r.body);
        }
        assert!(
            r.json()["accounts"][index].get(field).is_some(),
            "{}",
            r.body
        );
        assert_eq!(
            count(&mut f, assets).await,
            assets0,
            "no asset left: {}",
            r.body
        );
        assert_eq!(count(&mut f, accounts).await, accounts0);
    }
    let r = host("inline-bad", json!({"username": "root"}));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json().get("accounts").is_some(), "{}", r.body);

    // Good: the accounts exist on the new asset, a template's with its username and secret.
    let r = host(
        "inline-ok",
        json!([{"username": "root", "secret_type": "password", "secret": "R00t-pw", "privileged": true},
               {"template": tpl}]),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let list = get(
        &server,
        &admin,
        &format!("/api/v1/accounts/accounts/?asset={id}&order=username"),
    );
    let got: Vec<(String, bool, bool)> = crate::support::rows(&list)
        .iter()
        .map(|a| {
            (
                a["username"].as_str().unwrap().to_owned(),
                a["privileged"].as_bool().unwrap(),
                a["has_secret"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("root".into(), true, true), ("svc".into(), false, true)],
        "{}",
        list.body
    );
    assert_eq!(count(&mut f, accounts).await, accounts0 + 2);
    drop(server);
}
