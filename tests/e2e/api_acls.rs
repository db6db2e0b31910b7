//! `/api/v1/acls/…` driven over HTTP, and the store's ACL loaders evaluating what the API
//! wrote: command groups, command-filter ACLs, login ACLs (enforced by the login endpoint),
//! login-asset ACLs and connect-method ACLs.

use crate::client::*;
use crate::fixture::{Fixture, now};
use crate::support::{Server, TestDb};
use chrono::NaiveDate;
use portcullis_core::acl::{
    AclSubject, AttrMap, CommandAction, ConnectAction, ConnectMethodAction, LoginAction,
    evaluate_command, evaluate_connect, evaluate_connect_method, evaluate_login,
};
use portcullis_core::builtin::DEFAULT_ORG_ID;
use portcullis_store::Store;
use serde_json::{Value, json};
use uuid::Uuid;

const GROUPS: &str = "/api/v1/acls/command-groups/";
const CMD_ACLS: &str = "/api/v1/acls/command-filter-acls/";
const LOGIN_ACLS: &str = "/api/v1/acls/login-acls/";
const ASSET_ACLS: &str = "/api/v1/acls/login-asset-acls/";
const METHOD_ACLS: &str = "/api/v1/acls/connect-method-acls/";

/// Operation-log rows of one resource type, as `(action, resource)`.
async fn op_logs(db: &TestDb, resource_type: &str) -> Vec<(String, String)> {
    let mut f = Fixture::new(&db.url).await;
    sqlx::query_as::<_, (String, String)>(
        "SELECT action, resource FROM operate_logs WHERE resource_type = $1 ORDER BY datetime",
    )
    .bind(resource_type)
    .fetch_all(&mut f.conn)
    .await
    .unwrap()
}

/// The admin's user id.
fn admin_id(server: &Server, admin: &str) -> String {
    get(server, admin, "/api/v1/users/profile/").json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Monday 2025-01-06 at 10:00, local time as the evaluators take it.
fn monday_ten() -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 1, 6)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap()
}

#[tokio::test]
async fn command_groups_are_created_validated_listed_updated_deleted_and_audited() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);

        let r = send(
            &server,
            &admin,
            "POST",
            GROUPS,
            &json!({"name": "danger", "content": "rm -rf /\nreboot", "comment": "c"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let g = r.json();
        assert_eq!(g["type"], json!({"value": "command", "label": "Command"}));
        assert_eq!(g["ignore_case"], true);
        assert_eq!(g["org_id"], DEFAULT_ORG_ID.to_string());
        assert_eq!(g["org_name"], "Default");
        assert_eq!(g["content"], "rm -rf /\nreboot");
        let id = g["id"].as_str().unwrap().to_owned();

        // A bad regex is refused on `content`, naming the line; nothing is written.
        let bad = send(
            &server,
            &admin,
            "POST",
            GROUPS,
            &json!({"name": "re", "type": "regex", "content": "^ls\n([a-z"}),
        );
        assert_eq!(bad.status, 400, "{}", bad.body);
        let msg = bad.json()["content"][0].as_str().unwrap().to_owned();
        assert!(msg.contains("Line 2"), "{msg}");
        let r = send(
            &server,
            &admin,
            "POST",
            GROUPS,
            &json!({"name": "re", "type": {"value": "regex"}, "content": "^shutdown\\b", "ignore_case": false}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["type"]["value"], "regex");

        // Duplicate names are a field error on `name`.
        let dup = send(
            &server,
            &admin,
            "POST",
            GROUPS,
            &json!({"name": "danger", "content": "ls"}),
        );
        assert_eq!(dup.status, 400, "{}", dup.body);
        assert!(dup.json()["name"].is_array(), "{}", dup.body);

        // List, search, filters, order, paging.
        assert_eq!(
            names(&get(&server, &admin, GROUPS).json()),
            ["danger", "re"]
        );
        assert_eq!(
            names(&get(&server, &admin, &format!("{GROUPS}?order=-name")).json()),
            ["re", "danger"]
        );
        assert_eq!(
            names(&get(&server, &admin, &format!("{GROUPS}?search=dang")).json()),
            ["danger"]
        );
        assert_eq!(
            names(&get(&server, &admin, &format!("{GROUPS}?type=regex")).json()),
            ["re"]
        );
        let page = get(&server, &admin, &format!("{GROUPS}?limit=1")).json();
        assert_eq!(page["count"], 2);
        assert!(page["next"].is_string());

        // Detail by id and by name; update; 404.
        assert_eq!(
            get(&server, &admin, &format!("{GROUPS}{id}/")).json()["name"],
            "danger"
        );
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("{GROUPS}danger/"),
            &json!({"content": "rm -rf /\nmkfs", "ignore_case": false}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["content"], "rm -rf /\nmkfs");
        assert_eq!(r.json()["ignore_case"], false);
        let bad = send(
            &server,
            &admin,
            "PATCH",
            &format!("{GROUPS}{id}/"),
            &json!({"type": "regex", "content": "(("}),
        );
        assert_eq!(bad.status, 400, "{}", bad.body);
        assert_eq!(
            get(&server, &admin, &format!("{GROUPS}{id}/")).json()["type"]["value"],
            "command",
            "a refused update changes nothing"
        );
        assert_eq!(
            get(&server, &admin, &format!("{GROUPS}nope/")).json()["code"],
            "object_does_not_exist"
        );
        assert_eq!(
            send(
                &server,
                &admin,
                "DELETE",
                &format!("{GROUPS}{id}/"),
                &json!({})
            )
            .status,
            204
        );
        assert_eq!(get(&server, &admin, &format!("{GROUPS}{id}/")).status, 404);

        let logs = op_logs(&db, "CommandGroup").await;
        let actions: Vec<&str> = logs.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            actions,
            ["create", "create", "update", "delete"],
            "{}",
            db.backend
        );
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn command_filter_acls_round_trip_and_the_loader_rejects_what_they_list() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let admin_uid = admin_id(&server, &admin);
        let group = send(
            &server,
            &admin,
            "POST",
            GROUPS,
            &json!({"name": "danger", "content": "rm -rf /"}),
        )
        .json();
        let gid = group["id"].as_str().unwrap().to_owned();

        let r = send(
            &server,
            &admin,
            "POST",
            CMD_ACLS,
            &json!({
                "name": "no-rm",
                "priority": 10,
                "action": "reject",
                "users": {"type": "all"},
                "assets": {"type": "attrs", "attrs": [{"name": "address", "match": "ip_in", "value": ["10.0.0.0/8"]}]},
                "accounts": ["root", "@ALL"],
                "command_groups": [gid],
                "reviewers": [{"id": admin_uid}],
            }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let acl = r.json();
        assert_eq!(acl["action"], json!({"value": "reject", "label": "Reject"}));
        assert_eq!(acl["priority"], 10);
        assert_eq!(acl["is_active"], true);
        assert_eq!(
            acl["command_groups"],
            json!([{"id": gid, "name": "danger"}])
        );
        assert_eq!(acl["command_groups_amount"], 1);
        assert_eq!(acl["reviewers"][0]["id"], admin_uid);
        assert_eq!(acl["org_name"], "Default");
        assert_eq!(acl["accounts"], json!(["root", "@ALL"]));
        let id = acl["id"].as_str().unwrap().to_owned();

        let r = send(
            &server,
            &admin,
            "POST",
            CMD_ACLS,
            &json!({"name": "warn-all", "action": {"value": "warning"}, "users": {"type": "all"},
                    "assets": {"type": "all"}, "command_groups": [gid]}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["priority"], 50);
        assert_eq!(r.json()["accounts"], json!(["@ALL"]));

        // Default order is priority; filters and search.
        assert_eq!(
            names(&get(&server, &admin, CMD_ACLS).json()),
            ["no-rm", "warn-all"]
        );
        assert_eq!(
            names(&get(&server, &admin, &format!("{CMD_ACLS}?order=-priority")).json()),
            ["warn-all", "no-rm"]
        );
        assert_eq!(
            names(&get(&server, &admin, &format!("{CMD_ACLS}?action=warning")).json()),
            ["warn-all"]
        );
        assert_eq!(
            names(&get(&server, &admin, &format!("{CMD_ACLS}?search=RM")).json()),
            ["no-rm"]
        );
        assert_eq!(
            names(&get(&server, &admin, &format!("{CMD_ACLS}?name=no-rm")).json()),
            ["no-rm"]
        );

        // The loader returns core types that decide as the ACL says.
        let store = Store::connect(&db.url).await.unwrap();
        let (acls, groups) = store
            .load_command_filter_acls(DEFAULT_ORG_ID)
            .await
            .unwrap();
        assert_eq!(acls.len(), 2, "{}", db.backend);
        let user = AttrMap::new(Uuid::new_v4(), [("username", "bob")]);
        let inside = AttrMap::new(Uuid::new_v4(), [("address", "10.1.2.3")]);
        let outside = AttrMap::new(Uuid::new_v4(), [("address", "192.168.1.1")]);
        let subject = |asset: &AttrMap| -> (CommandAction, Option<Uuid>) {
            let s = AclSubject {
                user: &user,
                asset,
                account: "root",
            };
            let d = evaluate_command(&acls, &groups, &s, "rm -rf /");
            (d.action, d.acl_id)
        };
        assert_eq!(
            subject(&inside),
            (CommandAction::Reject, Some(Uuid::parse_str(&id).unwrap()))
        );
        assert_eq!(subject(&outside).0, CommandAction::Warning);
        let s = AclSubject {
            user: &user,
            asset: &inside,
            account: "root",
        };
        assert_eq!(
            evaluate_command(&acls, &groups, &s, "ls -l /").action,
            CommandAction::Accept
        );
        let reject = acls.iter().find(|a| a.name == "no-rm").unwrap();
        assert_eq!(reject.reviewers, [Uuid::parse_str(&admin_uid).unwrap()]);

        // Update: deactivate; the loader no longer sees it.
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("{CMD_ACLS}no-rm/"),
            &json!({"is_active": false, "reviewers": [], "priority": "5"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["priority"], 5);
        assert_eq!(r.json()["reviewers"], json!([]));
        assert_eq!(
            r.json()["command_groups_amount"],
            1,
            "unchanged when not sent"
        );
        assert_eq!(
            names(&get(&server, &admin, &format!("{CMD_ACLS}?is_active=false")).json()),
            ["no-rm"]
        );
        let (acls, _) = store
            .load_command_filter_acls(DEFAULT_ORG_ID)
            .await
            .unwrap();
        assert_eq!(acls.len(), 1);

        // Deleting a group unlinks it; deleting the ACL removes it.
        assert_eq!(
            send(
                &server,
                &admin,
                "DELETE",
                &format!("{GROUPS}{gid}/"),
                &json!({})
            )
            .status,
            204
        );
        assert_eq!(
            get(&server, &admin, &format!("{CMD_ACLS}warn-all/")).json()["command_groups_amount"],
            0
        );
        assert_eq!(
            send(
                &server,
                &admin,
                "DELETE",
                &format!("{CMD_ACLS}{id}/"),
                &json!({})
            )
            .status,
            204
        );
        assert_eq!(names(&get(&server, &admin, CMD_ACLS).json()), ["warn-all"]);
        let logs = op_logs(&db, "CommandFilterACL").await;
        let actions: Vec<&str> = logs.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            actions,
            ["create", "create", "update", "delete"],
            "{}",
            db.backend
        );
        store.close().await;
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn a_reject_login_acl_made_over_the_api_stops_the_login_until_it_is_deleted() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let password = create_user(dir.path(), &db, "carol", "user");
        assert_eq!(login(&server, "carol", &password).status, 201);
        let carol = {
            let mut f = Fixture::new(&db.url).await;
            sqlx::query_scalar::<_, String>("SELECT id FROM users WHERE username = 'carol'")
                .fetch_one(&mut f.conn)
                .await
                .unwrap()
        };

        let r = send(
            &server,
            &admin,
            "POST",
            LOGIN_ACLS,
            &json!({
                "name": "block-carol",
                "priority": 1,
                "action": "reject",
                "users": {"type": "ids", "ids": [carol]},
                "rules": {"ip_group": ["127.0.0.1", "10.0.0.0/8"],
                          "time_period": (0..7).map(|d| json!({"id": d, "value": ""})).collect::<Vec<_>>()},
            }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let acl = r.json();
        assert_eq!(acl["action"]["value"], "reject");
        assert!(acl.get("org_id").is_none(), "login ACLs are system-wide");
        assert!(acl.get("assets").is_none());
        assert_eq!(acl["rules"]["ip_group"], json!(["127.0.0.1", "10.0.0.0/8"]));
        assert_eq!(acl["rules"]["time_period"].as_array().unwrap().len(), 7);
        let id = acl["id"].as_str().unwrap().to_owned();

        let refused = login(&server, "carol", &password);
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert_eq!(refused.json()["error"], "acl_not_allow", "{}", refused.body);
        assert_eq!(login(&server, "admin", ADMIN_PASSWORD).status, 201);

        // The loader agrees.
        let store = Store::connect(&db.url).await.unwrap();
        let acls = store.load_login_acls().await.unwrap();
        let who = AttrMap::new(Uuid::parse_str(&carol).unwrap(), [("username", "carol")]);
        let d = evaluate_login(&acls, &who, "10.2.3.4".parse().unwrap(), monday_ten());
        assert_eq!(d.action, LoginAction::Reject);
        let d = evaluate_login(&acls, &who, "192.0.2.1".parse().unwrap(), monday_ten());
        assert_eq!(d.action, LoginAction::Accept);

        // Narrowing the rule to other addresses lets carol in again.
        let r = send(
            &server,
            &admin,
            "PUT",
            &format!("{LOGIN_ACLS}block-carol/"),
            &json!({"rules": {"ip_group": ["192.0.2.0/24"]}}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(login(&server, "carol", &password).status, 201);
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("{LOGIN_ACLS}{id}/"),
            &json!({"rules": {"ip_group": "*"}}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            login(&server, "carol", &password).json()["error"],
            "acl_not_allow"
        );

        assert_eq!(
            send(
                &server,
                &admin,
                "DELETE",
                &format!("{LOGIN_ACLS}{id}/"),
                &json!({})
            )
            .status,
            204
        );
        assert_eq!(login(&server, "carol", &password).status, 201);
        assert!(store.load_login_acls().await.unwrap().is_empty());
        let logs = op_logs(&db, "LoginACL").await;
        assert_eq!(logs.len(), 4, "{logs:?}");
        assert!(logs.iter().all(|(_, r)| r == "block-carol"));
        store.close().await;
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn login_asset_and_connect_method_acls_round_trip_and_load() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let asset = Uuid::new_v4();

        let r = send(
            &server,
            &admin,
            "POST",
            ASSET_ACLS,
            &json!({
                "name": "office-hours-only",
                "action": "review",
                "users": {"type": "attrs", "attrs": [{"name": "username", "match": "startswith", "value": "ops"}]},
                "assets": {"type": "ids", "ids": [asset]},
                "accounts": ["root"],
                "rules": {"time_period": [{"id": 1, "value": "09:00~12:00、13:00~18:00"}]},
            }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let acl = r.json();
        assert_eq!(acl["action"], json!({"value": "review", "label": "Review"}));
        assert_eq!(acl["rules"]["ip_group"], json!(["*"]));
        assert_eq!(acl["org_id"], DEFAULT_ORG_ID.to_string());
        assert_eq!(
            get(&server, &admin, &format!("{ASSET_ACLS}office-hours-only/")).json()["id"],
            acl["id"]
        );

        let r = send(
            &server,
            &admin,
            "POST",
            METHOD_ACLS,
            &json!({"name": "no-web-cli", "action": "reject", "users": {"type": "all"},
                    "connect_methods": ["web_cli", {"value": "web_sftp"}, "web_cli"]}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["connect_methods"], json!(["web_cli", "web_sftp"]));
        assert!(r.json().get("org_id").is_none());
        let r = send(
            &server,
            &admin,
            "POST",
            METHOD_ACLS,
            &json!({"name": "review-it", "action": "review", "users": {"type": "all"},
                    "connect_methods": ["ssh_client"]}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["action"].is_array(), "{}", r.body);

        let store = Store::connect(&db.url).await.unwrap();
        let acls = store.load_connect_acls(DEFAULT_ORG_ID).await.unwrap();
        assert_eq!(acls.len(), 1, "{}", db.backend);
        let ops = AttrMap::new(Uuid::new_v4(), [("username", "ops-1")]);
        let dev = AttrMap::new(Uuid::new_v4(), [("username", "dev-1")]);
        let target = AttrMap::new(asset, [("address", "10.0.0.1")]);
        let ip = "203.0.113.9".parse().unwrap();
        let decide = |user: &AttrMap, account: &str, at| {
            let s = AclSubject {
                user,
                asset: &target,
                account,
            };
            evaluate_connect(&acls, &s, ip, at).action
        };
        assert_eq!(decide(&ops, "root", monday_ten()), ConnectAction::Review);
        assert_eq!(decide(&ops, "admin", monday_ten()), ConnectAction::Accept);
        assert_eq!(decide(&dev, "root", monday_ten()), ConnectAction::Accept);
        let monday_night = monday_ten() + chrono::Duration::hours(12);
        assert_eq!(decide(&ops, "root", monday_night), ConnectAction::Accept);
        assert!(
            store
                .load_connect_acls(Uuid::new_v4())
                .await
                .unwrap()
                .is_empty()
        );

        let methods = store.load_connect_method_acls().await.unwrap();
        assert_eq!(
            evaluate_connect_method(&methods, &dev, "WEB_SFTP").action,
            ConnectMethodAction::Reject
        );
        assert_eq!(
            evaluate_connect_method(&methods, &dev, "ssh_client").action,
            ConnectMethodAction::Accept
        );

        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("{METHOD_ACLS}no-web-cli/"),
            &json!({"connect_methods": ["ssh_client"], "name": "no-ssh"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["name"], "no-ssh");
        for path in [
            format!("{METHOD_ACLS}no-ssh/"),
            format!("{ASSET_ACLS}office-hours-only/"),
        ] {
            assert_eq!(
                send(&server, &admin, "DELETE", &path, &json!({})).status,
                204
            );
            assert_eq!(get(&server, &admin, &path).status, 404);
        }
        assert_eq!(op_logs(&db, "LoginAssetACL").await.len(), 2);
        assert_eq!(op_logs(&db, "ConnectMethodACL").await.len(), 3);
        store.close().await;
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn bad_acl_input_gets_field_errors_and_writes_nothing() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let all = json!({"type": "all"});
    let cmd = |extra: Value| {
        let mut base = json!({"name": "x", "users": all, "assets": all});
        if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
            b.extend(e);
        }
        base
    };
    let login_acl = |extra: Value| {
        let mut base = json!({"name": "x", "users": all});
        if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
            b.extend(e);
        }
        base
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            GROUPS,
            json!({"name": "g", "type": "regex", "content": "a(b"}),
            "content",
        ),
        (
            GROUPS,
            json!({"name": "g", "type": "glob", "content": "ls"}),
            "type",
        ),
        (GROUPS, json!({"name": "g"}), "content"),
        (CMD_ACLS, cmd(json!({"priority": 0})), "priority"),
        (CMD_ACLS, cmd(json!({"priority": 101})), "priority"),
        (CMD_ACLS, cmd(json!({"priority": "high"})), "priority"),
        (CMD_ACLS, cmd(json!({"action": "notice"})), "action"),
        (
            CMD_ACLS,
            cmd(json!({"users": {"type": "everyone"}})),
            "users",
        ),
        (
            CMD_ACLS,
            cmd(json!({"users": {"type": "ids", "ids": ["nope"]}})),
            "users",
        ),
        (
            CMD_ACLS,
            cmd(
                json!({"assets": {"type": "attrs", "attrs": [{"name": "address", "match": "ip_in", "value": "10.0.0.0/33"}]}}),
            ),
            "assets",
        ),
        (
            CMD_ACLS,
            cmd(
                json!({"assets": {"type": "attrs", "attrs": [{"name": "name", "match": "regex", "value": "(("}]}}),
            ),
            "assets",
        ),
        (CMD_ACLS, cmd(json!({"accounts": "root"})), "accounts"),
        (
            CMD_ACLS,
            cmd(json!({"command_groups": [Uuid::new_v4()]})),
            "command_groups",
        ),
        (
            CMD_ACLS,
            cmd(json!({"reviewers": [Uuid::new_v4()]})),
            "reviewers",
        ),
        (CMD_ACLS, cmd(json!({"rules": {}})), "rules"),
        (CMD_ACLS, json!({"name": "x", "users": all}), "assets"),
        (
            LOGIN_ACLS,
            login_acl(json!({"rules": {"ip_group": ["10.0.0.0/33"]}})),
            "rules",
        ),
        (
            LOGIN_ACLS,
            login_acl(json!({"rules": {"ip_group": ["not-an-ip"]}})),
            "rules",
        ),
        (
            LOGIN_ACLS,
            login_acl(json!({"rules": {"ip_group": []}})),
            "rules",
        ),
        (
            LOGIN_ACLS,
            login_acl(json!({"rules": {"time_period": [{"id": 1, "value": "18:00~09:00"}]}})),
            "rules",
        ),
        (
            LOGIN_ACLS,
            login_acl(json!({"rules": {"time_period": [{"id": 7, "value": ""}]}})),
            "rules",
        ),
        (
            LOGIN_ACLS,
            login_acl(json!({"rules": {"time_period": [{"id": 1, "value": "25:00~26:00"}]}})),
            "rules",
        ),
        (
            LOGIN_ACLS,
            login_acl(json!({"action": "warning"})),
            "action",
        ),
        (LOGIN_ACLS, login_acl(json!({"assets": all})), "assets"),
        (LOGIN_ACLS, json!({"name": "x"}), "users"),
        (LOGIN_ACLS, login_acl(json!({"name": ""})), "name"),
        (ASSET_ACLS, cmd(json!({"action": "face_verify"})), "action"),
        (
            ASSET_ACLS,
            cmd(json!({"rules": {"ip_group": ["1.2.3.4-1.2.3.1"]}})),
            "rules",
        ),
        (METHOD_ACLS, login_acl(json!({})), "connect_methods"),
        (
            METHOD_ACLS,
            login_acl(json!({"connect_methods": []})),
            "connect_methods",
        ),
        (
            METHOD_ACLS,
            login_acl(json!({"connect_methods": ["web cli"]})),
            "connect_methods",
        ),
        (
            METHOD_ACLS,
            login_acl(json!({"connect_methods": ["web_cli"], "priority": 0})),
            "priority",
        ),
    ];
    for (path, body, field) in &cases {
        let r = send(&server, &admin, "POST", path, body);
        assert_eq!(r.status, 400, "{path} {body}: {}", r.body);
        assert!(r.json()[*field].is_array(), "{path} {body}: {}", r.body);
    }
    // Several problems at once are all reported.
    let r = send(
        &server,
        &admin,
        "POST",
        CMD_ACLS,
        &cmd(json!({"priority": 0, "action": "nope"})),
    );
    assert!(
        r.json()["priority"].is_array() && r.json()["action"].is_array(),
        "{}",
        r.body
    );

    // Duplicate names, and a failed update leaves the row as it was.
    let ok = send(
        &server,
        &admin,
        "POST",
        LOGIN_ACLS,
        &login_acl(json!({"name": "one"})),
    );
    assert_eq!(ok.status, 201, "{}", ok.body);
    let dup = send(
        &server,
        &admin,
        "POST",
        LOGIN_ACLS,
        &login_acl(json!({"name": "one"})),
    );
    assert_eq!(dup.status, 400, "{}", dup.body);
    assert!(dup.json()["name"].is_array(), "{}", dup.body);
    let r = send(
        &server,
        &admin,
        "PATCH",
        &format!("{LOGIN_ACLS}one/"),
        &json!({"priority": 7, "rules": {"ip_group": ["x"]}}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        get(&server, &admin, &format!("{LOGIN_ACLS}one/")).json()["priority"],
        50
    );
    let r = send(
        &server,
        &admin,
        "PATCH",
        &format!("{LOGIN_ACLS}one/"),
        &json!({"color": "red"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["color"].is_array());
    assert_eq!(
        get(&server, &admin, &format!("{LOGIN_ACLS}?action=bogus")).status,
        400
    );
    assert_eq!(
        get(&server, &admin, &format!("{LOGIN_ACLS}?order=bogus")).status,
        400
    );

    for path in [GROUPS, CMD_ACLS, ASSET_ACLS, METHOD_ACLS] {
        let list = get(&server, &admin, path).json();
        assert_eq!(list, json!([]), "{path}: nothing was written");
    }
    assert_eq!(names(&get(&server, &admin, LOGIN_ACLS).json()), ["one"]);
    let mut f = Fixture::new(&db.url).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM acl_reviewers")
        .fetch_one(&mut f.conn)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn acls_follow_orgs_and_roles() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let user_pw = create_user(dir.path(), &db, "plain", "user");
        let orgadm_pw = create_user(dir.path(), &db, "orgadm", "user");
        let other = Uuid::new_v4();
        {
            let mut f = Fixture::new(&db.url).await;
            sqlx::query("INSERT INTO orgs (id, name, date_created, date_updated) VALUES ($1, 'Other', $2, $2)")
                .bind(other.to_string())
                .bind(now())
                .execute(&mut f.conn)
                .await
                .unwrap();
            // Make `orgadm` the admin of the Default org (an org role, not a system one).
            sqlx::query(
                "UPDATE role_bindings SET role_id = '00000000-0000-0000-0000-000000000005'
                 WHERE scope = 'org' AND user_id = (SELECT id FROM users WHERE username = 'orgadm')",
            )
            .execute(&mut f.conn)
            .await
            .unwrap();
        }
        let user = token(&server, "plain", &user_pw);
        let orgadm = token(&server, "orgadm", &orgadm_pw);
        let all = json!({"type": "all"});

        // A plain user may do nothing here.
        for path in [GROUPS, CMD_ACLS, LOGIN_ACLS, ASSET_ACLS, METHOD_ACLS] {
            assert_eq!(get(&server, &user, path).status, 403, "{path}");
            let r = send(&server, &user, "POST", path, &json!({"name": "x"}));
            assert_eq!(r.status, 403, "{path}: {}", r.body);
            assert_eq!(r.json()["code"], "permission_denied");
        }
        // An org admin manages their org's ACLs, but not the system-wide ones.
        let r = send(
            &server,
            &orgadm,
            "POST",
            GROUPS,
            &json!({"name": "default-group", "content": "rm"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let default_group = r.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(get(&server, &orgadm, ASSET_ACLS).status, 200);
        for path in [LOGIN_ACLS, METHOD_ACLS] {
            assert_eq!(get(&server, &orgadm, path).status, 403, "{path}");
            let r = send(
                &server,
                &orgadm,
                "POST",
                path,
                &json!({"name": "lockout", "users": all, "connect_methods": ["web_cli"]}),
            );
            assert_eq!(r.status, 403, "{path}: {}", r.body);
        }

        // Writes go to the current org; the org view sees only its own; root sees all.
        let in_other = |p: &str| format!("{p}?oid={other}");
        let r = send(
            &server,
            &admin,
            "POST",
            &in_other(GROUPS),
            &json!({"name": "other-group", "content": "halt"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["org_id"], other.to_string());
        assert_eq!(r.json()["org_name"], "Other");
        let other_group = r.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(
            names(&get(&server, &admin, GROUPS).json()),
            ["default-group"]
        );
        assert_eq!(
            names(&get(&server, &admin, &in_other(GROUPS)).json()),
            ["other-group"]
        );
        let root = format!("{GROUPS}?oid=root");
        assert_eq!(
            names(&get(&server, &admin, &root).json()),
            ["default-group", "other-group"]
        );
        assert_eq!(
            get(&server, &admin, &format!("{GROUPS}{other_group}/")).status,
            404,
            "another org's group is not visible"
        );
        assert_eq!(
            get(
                &server,
                &orgadm,
                &format!("{GROUPS}{other_group}/?oid={other}")
            )
            .status,
            404,
            "an org admin cannot step into an org they are not in"
        );

        // A command-filter ACL may only use groups of its own org.
        let body =
            json!({"name": "a", "users": all, "assets": all, "command_groups": [other_group]});
        let r = send(&server, &admin, "POST", CMD_ACLS, &body);
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["command_groups"].is_array(), "{}", r.body);
        let r = send(&server, &admin, "POST", &in_other(CMD_ACLS), &body);
        assert_eq!(r.status, 201, "{}", r.body);
        let body =
            json!({"name": "a", "users": all, "assets": all, "command_groups": [default_group]});
        let r = send(&server, &orgadm, "POST", CMD_ACLS, &body);
        assert_eq!(
            r.status, 201,
            "same name in another org is fine: {}",
            r.body
        );
        assert_eq!(
            get(&server, &admin, &format!("{CMD_ACLS}?oid=root"))
                .json()
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let store = Store::connect(&db.url).await.unwrap();
        let (acls, groups) = store.load_command_filter_acls(other).await.unwrap();
        assert_eq!(acls.len(), 1);
        let d = evaluate_command(
            &acls,
            &groups,
            &AclSubject {
                user: &AttrMap::new(Uuid::new_v4(), [("username", "u")]),
                asset: &AttrMap::new(Uuid::new_v4(), [("address", "10.0.0.1")]),
                account: "root",
            },
            "halt",
        );
        assert_eq!(
            d.action,
            CommandAction::Reject,
            "the default action is reject"
        );
        store.close().await;
        drop(server);
        db.drop_db().await;
    }
}
