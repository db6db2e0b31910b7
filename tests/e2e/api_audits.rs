//! User groups, RBAC roles and bindings, audit logs, sessions and commands, and settings,
//! driven over HTTP the way JumpServer scripts drive them, on both databases.

use crate::client::*;
use crate::fixture::Fixture;
use crate::support::{HttpResponse, Server, TestDb, http};
use chrono::{Duration, Utc};
use portcullis_store::Store;
use portcullis_store::audits::{NewCommand, NewFtpLog, NewSession, SessionEnd};
use serde_json::{Value, json};
use uuid::Uuid;

const DEFAULT_ORG: &str = "00000000-0000-0000-0000-000000000002";
const SYSTEM_ADMIN: &str = "00000000-0000-0000-0000-000000000001";
const SYSTEM_AUDITOR: &str = "00000000-0000-0000-0000-000000000002";
const ORG_ADMIN: &str = "00000000-0000-0000-0000-000000000005";

fn rows(r: &HttpResponse) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("not a list: {}", r.body))
}

fn user_id(server: &Server, admin: &str, username: &str) -> String {
    let r = get(server, admin, &format!("/api/v1/users/users/{username}/"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

/// An instant as RFC 3339 (no characters a query string would need to escape).
fn at(offset: Duration) -> String {
    (Utc::now() + offset)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn get_in(server: &Server, token: &str, org: &str, path: &str) -> HttpResponse {
    let auth = format!("Bearer {token}");
    http(
        &server.base,
        "GET",
        path,
        &[("Authorization", &auth), ("X-JMS-ORG", org)],
        None,
    )
    .unwrap()
}

fn my_asset_count(server: &Server, token: &str) -> i64 {
    let r = get(server, token, "/api/v1/perms/users/self/assets/?limit=10");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["count"].as_i64().unwrap()
}

#[tokio::test]
async fn user_groups_are_managed_and_membership_grants_permissions() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let pw = create_user(dir.path(), &db, "member", "user");
        let member = token(&server, "member", &pw);
        let member_id = user_id(&server, &admin, "member");

        // Create, with validation before any write.
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/users/groups/",
            &json!({"name": "ops", "comment": "operators"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let group = r.json();
        let gid = group["id"].as_str().unwrap().to_owned();
        assert_eq!(group["org_id"], DEFAULT_ORG);
        assert_eq!(group["org_name"], "Default");
        assert_eq!(group["users"], json!([]));
        for (body, field) in [
            (json!({"name": "ops"}), "name"),
            (json!({"name": ""}), "name"),
            (json!({"name": "x", "users": [Uuid::new_v4()]}), "users"),
            (json!({"name": "x", "users": ["nope"]}), "users"),
            (json!({"name": "x", "colour": "red"}), "colour"),
        ] {
            let r = send(&server, &admin, "POST", "/api/v1/users/groups/", &body);
            assert_eq!(r.status, 400, "{body}: {}", r.body);
            assert!(r.json()[field].is_array(), "{body}: {}", r.body);
        }
        assert_eq!(
            rows(&get(&server, &admin, "/api/v1/users/groups/")).len(),
            1,
            "nothing written by the bad requests"
        );

        // A permission granted to the group, written with the fixture.
        let mut f = Fixture::new(&db.url).await;
        let root = f.node_id("1").await;
        let asset = f.asset("grp-host", &[root]).await;
        f.permission(
            "to-ops",
            &[],
            &[Uuid::parse_str(&gid).unwrap()],
            &[asset],
            &[],
            &["@ALL"],
            1,
            Fixture::always(),
        )
        .await;
        assert_eq!(my_asset_count(&server, &member), 0);

        // Membership through the relation rows gives the member the asset.
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/users/users-groups-relations/",
            &json!([{"user": member_id, "usergroup": gid}]),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()[0]["usergroup_display"], "ops");
        assert_eq!(my_asset_count(&server, &member), 1);
        let rels = rows(&get(
            &server,
            &admin,
            &format!("/api/v1/users/users-groups-relations/?usergroup={gid}"),
        ));
        assert_eq!(rels.len(), 1);
        assert_eq!(rels[0]["user"], member_id.as_str());
        assert_eq!(rels[0]["user_display"], "member(member)");

        // Lists show users_amount; the detail lists the users.
        let list = rows(&get(&server, &admin, "/api/v1/users/groups/?name=ops"));
        assert_eq!(list[0]["users_amount"], 1);
        assert!(list[0].get("users").is_none());
        let detail = get(&server, &admin, &format!("/api/v1/users/groups/{gid}/")).json();
        assert_eq!(
            detail["users"],
            json!([{"id": member_id, "name": "member", "username": "member", "is_service_account": false}])
        );
        assert_eq!(
            get(&server, &admin, "/api/v1/users/groups/ops/").json()["id"],
            gid.as_str(),
            "detail lookup by name"
        );

        // PATCH replaces the member list; the permission follows.
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("/api/v1/users/groups/{gid}/"),
            &json!({"name": "ops2", "users": []}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["name"], "ops2");
        assert_eq!(my_asset_count(&server, &member), 0);
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("/api/v1/users/groups/{gid}/"),
            &json!({"users": [member_id]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(my_asset_count(&server, &member), 1);
        let r = send(
            &server,
            &admin,
            "DELETE",
            &format!("/api/v1/users/users-groups-relations/?usergroup={gid}&user={member_id}"),
            &Value::Null,
        );
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(my_asset_count(&server, &member), 0);
        let r = send(
            &server,
            &admin,
            "DELETE",
            "/api/v1/users/users-groups-relations/",
            &Value::Null,
        );
        assert_eq!(r.status, 400, "an unfiltered bulk delete is refused");

        // add-all-users adds every member of the org (admin and member).
        let r = send(
            &server,
            &admin,
            "POST",
            &format!("/api/v1/users/groups/{gid}/add-all-users/"),
            &json!({}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            get(&server, &admin, &format!("/api/v1/users/groups/{gid}/")).json()["users_amount"],
            2
        );
        assert_eq!(my_asset_count(&server, &member), 1);

        // Every write is in the operation log; delete works and is logged.
        let r = send(
            &server,
            &admin,
            "DELETE",
            &format!("/api/v1/users/groups/{gid}/"),
            &Value::Null,
        );
        assert_eq!(r.status, 204);
        assert_eq!(
            get(&server, &admin, &format!("/api/v1/users/groups/{gid}/")).status,
            404
        );
        let logs = rows(&get(
            &server,
            &admin,
            "/api/v1/audits/operate-logs/?resource_type=UserGroup",
        ));
        let actions: Vec<&str> = logs
            .iter()
            .map(|l| l["action"]["value"].as_str().unwrap())
            .collect();
        assert_eq!(actions.iter().filter(|a| **a == "create").count(), 1);
        assert_eq!(actions.iter().filter(|a| **a == "delete").count(), 1);
        assert!(actions.iter().filter(|a| **a == "update").count() >= 4);
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn role_bindings_and_custom_roles_change_what_a_user_may_do() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let pw = create_user(dir.path(), &db, "plain", "user");
        let plain = token(&server, "plain", &pw);
        let plain_id = user_id(&server, &admin, "plain");
        assert_eq!(get(&server, &plain, "/api/v1/users/users/").status, 403);

        // Bind OrgAdmin in the current org: the user list opens up.
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/rbac/org-role-bindings/",
            &json!({"user": plain_id, "role": ORG_ADMIN}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let binding = r.json();
        assert_eq!(binding["role"], ORG_ADMIN);
        assert_eq!(binding["scope"], "org");
        assert_eq!(binding["org"], DEFAULT_ORG);
        assert_eq!(binding["org_name"], "Default");
        assert_eq!(binding["user"]["username"], "plain");
        let bid = binding["id"].as_str().unwrap().to_owned();
        assert_eq!(get(&server, &plain, "/api/v1/users/users/").status, 200);

        // The same binding twice is a 400 on `role`; a system role on the org path too.
        let dup = send(
            &server,
            &admin,
            "POST",
            "/api/v1/rbac/org-role-bindings/",
            &json!({"user": plain_id, "role": ORG_ADMIN}),
        );
        assert_eq!(dup.status, 400, "{}", dup.body);
        assert!(dup.json()["role"].is_array(), "{}", dup.body);
        let wrong = send(
            &server,
            &admin,
            "POST",
            "/api/v1/rbac/org-role-bindings/",
            &json!({"user": plain_id, "role": SYSTEM_ADMIN}),
        );
        assert_eq!(wrong.status, 400, "{}", wrong.body);

        // An org administrator cannot make themselves a system administrator.
        let r = send(
            &server,
            &plain,
            "POST",
            "/api/v1/rbac/system-role-bindings/",
            &json!({"user": plain_id, "role": SYSTEM_ADMIN}),
        );
        assert_eq!(r.status, 403, "{}", r.body);

        // System bindings have no org; org bindings do.
        let sys = rows(&get(
            &server,
            &admin,
            &format!("/api/v1/rbac/system-role-bindings/?user={plain_id}"),
        ));
        assert_eq!(sys.len(), 1);
        assert!(sys[0].get("org").is_none(), "{}", sys[0]);
        assert_eq!(sys[0]["scope"], "system");
        let org = rows(&get(
            &server,
            &admin,
            &format!("/api/v1/rbac/org-role-bindings/?user={plain_id}"),
        ));
        assert_eq!(org.len(), 2, "OrgUser and OrgAdmin");
        assert!(org.iter().all(|b| b["org"] == DEFAULT_ORG));
        assert_eq!(
            rows(&get(
                &server,
                &admin,
                &format!("/api/v1/rbac/role-bindings/?user={plain_id}")
            ))
            .len(),
            3
        );

        let r = send(
            &server,
            &admin,
            "DELETE",
            &format!("/api/v1/rbac/org-role-bindings/{bid}/"),
            &Value::Null,
        );
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(get(&server, &plain, "/api/v1/users/users/").status, 403);

        // A custom org role from a pattern list.
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/rbac/org-roles/",
            &json!({"name": "UserViewer", "permissions": ["users.view_*", "!users.view_usergroup"], "comment": "read users"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let role = r.json();
        assert_eq!(
            role["scope"],
            json!({"value": "org", "label": "Organization"})
        );
        assert_eq!(role["builtin"], false);
        assert_eq!(
            role["permissions"],
            json!(["users.view_*", "!users.view_usergroup"])
        );
        let rid = role["id"].as_str().unwrap().to_owned();
        for (body, field) in [
            (json!({"name": "UserViewer"}), "name"),
            (json!({"name": "Bad", "permissions": [42]}), "permissions"),
            (
                json!({"name": "Bad", "permissions": ["drop table"]}),
                "permissions",
            ),
            (json!({"name": "Bad", "scope": "galaxy"}), "scope"),
        ] {
            let r = send(&server, &admin, "POST", "/api/v1/rbac/org-roles/", &body);
            assert_eq!(r.status, 400, "{body}: {}", r.body);
            assert!(r.json()[field].is_array(), "{body}: {}", r.body);
        }
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/rbac/role-bindings/",
            &json!({"user": plain_id, "role": rid}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let custom_binding = r.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(get(&server, &plain, "/api/v1/users/users/").status, 200);
        assert_eq!(get(&server, &plain, "/api/v1/users/groups/").status, 403);
        let new_user = json!({"name": "N", "username": "n1", "email": "n1@example.com"});
        assert_eq!(
            send(&server, &plain, "POST", "/api/v1/users/users/", &new_user).status,
            403
        );
        let detail = get(&server, &admin, &format!("/api/v1/rbac/roles/{rid}/")).json();
        assert_eq!(detail["users_amount"], 1);

        // A bound or built-in role cannot be deleted; built-ins cannot be changed.
        let path = format!("/api/v1/rbac/org-roles/{rid}/");
        assert_eq!(
            send(&server, &admin, "DELETE", &path, &Value::Null).status,
            403
        );
        assert_eq!(
            send(
                &server,
                &admin,
                "DELETE",
                &format!("/api/v1/rbac/roles/{ORG_ADMIN}/"),
                &Value::Null
            )
            .status,
            403
        );
        assert_eq!(
            send(
                &server,
                &admin,
                "PATCH",
                &format!("/api/v1/rbac/roles/{ORG_ADMIN}/"),
                &json!({"comment": "x"})
            )
            .status,
            403
        );
        let r = send(
            &server,
            &admin,
            "DELETE",
            &format!("/api/v1/rbac/role-bindings/{custom_binding}/"),
            &Value::Null,
        );
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(
            send(&server, &admin, "DELETE", &path, &Value::Null).status,
            204
        );

        // Clone copies the permissions and the scope.
        let r = send(
            &server,
            &admin,
            "POST",
            &format!("/api/v1/rbac/system-roles/{SYSTEM_AUDITOR}/clone/"),
            &json!({"name": "Auditor2"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let source = get(
            &server,
            &admin,
            &format!("/api/v1/rbac/system-roles/{SYSTEM_AUDITOR}/"),
        )
        .json();
        assert_eq!(r.json()["permissions"], source["permissions"]);
        assert_eq!(r.json()["scope"]["value"], "system");
        let sys_roles = rows(&get(&server, &admin, "/api/v1/rbac/system-roles/"));
        assert!(sys_roles.iter().all(|r| r["scope"]["value"] == "system"));
        assert!(sys_roles.iter().any(|r| r["name"] == "Auditor2"));
        let admin_role = sys_roles
            .iter()
            .find(|r| r["name"] == "SystemAdmin")
            .unwrap();
        assert_eq!(admin_role["users_amount"], 1);

        // The last system administrator binding stays.
        let admin_id = user_id(&server, &admin, "admin");
        let admin_sys = rows(&get(
            &server,
            &admin,
            &format!("/api/v1/rbac/system-role-bindings/?user={admin_id}"),
        ));
        let r = send(
            &server,
            &admin,
            "DELETE",
            &format!(
                "/api/v1/rbac/system-role-bindings/{}/",
                admin_sys[0]["id"].as_str().unwrap()
            ),
            &Value::Null,
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let roles_logged = rows(&get(
            &server,
            &admin,
            "/api/v1/audits/operate-logs/?resource_type=RoleBinding",
        ));
        assert_eq!(roles_logged.len(), 4, "two creates, two deletes");
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn login_and_operate_logs_are_listed_filtered_and_detailed() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        assert_eq!(login(&server, "admin", "wrong").status, 400);
        assert_eq!(login(&server, "admin", "wrong again").status, 400);
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let pw = create_user(dir.path(), &db, "plain", "user");
        let plain = token(&server, "plain", &pw);

        let logs = rows(&get(
            &server,
            &admin,
            "/api/v1/audits/login-logs/?username=admin",
        ));
        assert_eq!(logs.len(), 3, "{logs:?}");
        let failed: Vec<&Value> = logs
            .iter()
            .filter(|l| l["status"]["value"] == false)
            .collect();
        assert_eq!(failed.len(), 2);
        let f0 = failed[0];
        assert_eq!(f0["status"], json!({"value": false, "label": "Failed"}));
        assert_eq!(f0["reason"], "password_failed");
        assert!(!f0["reason_display"].as_str().unwrap().is_empty());
        // A script sends no X-JMS-LOGIN-TYPE header: the type is "unknown".
        assert_eq!(f0["type"], json!({"value": "U", "label": "Unknown"}));
        assert_eq!(f0["mfa"], json!({"value": 0, "label": "Disabled"}));
        assert_eq!(f0["ip"], "127.0.0.1");
        assert_eq!(f0["datetime"].as_str().unwrap().len(), 25);
        let ok = logs.iter().find(|l| l["status"]["value"] == true).unwrap();
        assert_eq!(ok["status"]["label"], "Success");
        assert_eq!(ok["reason"], "");
        // Newest first.
        assert_eq!(logs[0]["status"]["value"], true);

        // Date ranges, status filter, search, pagination; garbage dates are refused.
        let all = rows(&get(&server, &admin, "/api/v1/audits/login-logs/")).len();
        assert_eq!(all, 4);
        let path = format!(
            "/api/v1/audits/login-logs/?date_from={}",
            at(Duration::hours(-1))
        );
        assert_eq!(rows(&get(&server, &admin, &path)).len(), 4);
        let path = format!(
            "/api/v1/audits/login-logs/?date_from={}",
            at(Duration::hours(1))
        );
        assert_eq!(rows(&get(&server, &admin, &path)).len(), 0);
        let path = format!(
            "/api/v1/audits/login-logs/?date_to={}",
            at(Duration::hours(-1))
        );
        assert_eq!(rows(&get(&server, &admin, &path)).len(), 0);
        assert_eq!(
            rows(&get(&server, &admin, "/api/v1/audits/login-logs/?status=0")).len(),
            2
        );
        assert_eq!(
            rows(&get(
                &server,
                &admin,
                "/api/v1/audits/login-logs/?search=plai"
            ))
            .len(),
            1
        );
        let page = get(&server, &admin, "/api/v1/audits/login-logs/?limit=1").json();
        assert_eq!(page["count"], 4);
        assert_eq!(page["results"].as_array().unwrap().len(), 1);
        let bad = get(
            &server,
            &admin,
            "/api/v1/audits/login-logs/?date_from=yesterday",
        );
        assert_eq!(bad.status, 400);
        assert!(bad.json()["date_from"].is_array(), "{}", bad.body);

        // A user sees only their own logins.
        let mine = rows(&get(&server, &plain, "/api/v1/audits/my-login-logs/"));
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0]["username"], "plain");
        let mine = rows(&get(
            &server,
            &plain,
            "/api/v1/audits/my-login-logs/?username=admin",
        ));
        assert!(mine.iter().all(|l| l["username"] == "plain"));

        // The operation log: lists without the diff, the detail with it.
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/users/users/plain/",
            &json!({"name": "Renamed"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let ops = rows(&get(
            &server,
            &admin,
            "/api/v1/audits/operate-logs/?resource_type=User&action=update",
        ));
        assert_eq!(ops.len(), 1);
        assert!(ops[0].get("diff").is_none());
        assert_eq!(
            ops[0]["action"],
            json!({"value": "update", "label": "Update"})
        );
        assert_eq!(ops[0]["resource"], "plain");
        assert_eq!(ops[0]["user"], "Administrator(admin)");
        assert_eq!(ops[0]["org_id"], DEFAULT_ORG);
        let detail = get(
            &server,
            &admin,
            &format!(
                "/api/v1/audits/operate-logs/{}/",
                ops[0]["id"].as_str().unwrap()
            ),
        );
        assert_eq!(detail.status, 200, "{}", detail.body);
        let diff = detail.json()["diff"].as_array().cloned().unwrap();
        assert!(
            diff.contains(&json!({"field": "name", "before": "plain", "after": "Renamed"})),
            "{diff:?}"
        );
        assert_eq!(
            rows(&get(
                &server,
                &admin,
                "/api/v1/audits/operate-logs/?search=plain"
            ))
            .len(),
            1
        );
        let path = format!(
            "/api/v1/audits/operate-logs/?date_from={}",
            at(Duration::hours(1))
        );
        assert_eq!(rows(&get(&server, &admin, &path)).len(), 0);
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn sessions_commands_and_transfer_logs_are_listed_with_filters() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let store = Store::connect(&db.url).await.unwrap();
        let mut f = Fixture::new(&db.url).await;
        let other_org = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO orgs (id, name, date_created, date_updated) VALUES ($1, 'Other', $2, $2)",
        )
        .bind(other_org.to_string())
        .bind(crate::fixture::now())
        .execute(&mut f.conn)
        .await
        .unwrap();
        let default_org = Uuid::parse_str(DEFAULT_ORG).unwrap();
        let (alice, web) = (Uuid::new_v4(), Uuid::new_v4());
        let session = |id: Uuid, org: Uuid, user: &str, proto: &str, start| NewSession {
            id,
            org,
            user: format!("{user}({user})"),
            user_id: alice,
            asset: "web-1(10.0.0.1)".into(),
            asset_id: web,
            account: "root(root)".into(),
            account_id: None,
            protocol: proto.into(),
            session_type: "normal".into(),
            login_from: "ST".into(),
            remote_addr: "10.1.1.1".into(),
            date_start: start,
            terminal: String::new(),
            token_id: None,
        };
        let (old, live, elsewhere) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let three_days_ago = Utc::now() - Duration::days(3);
        store
            .insert_session(&session(old, default_org, "alice", "ssh", three_days_ago))
            .await
            .unwrap();
        store
            .finish_session(
                old,
                &SessionEnd {
                    date_end: three_days_ago + Duration::minutes(5),
                    is_success: true,
                    replay_size: 100,
                    ..SessionEnd::default()
                },
            )
            .await
            .unwrap();
        store
            .insert_session(&session(live, default_org, "bob", "sftp", Utc::now()))
            .await
            .unwrap();
        store
            .insert_session(&session(elsewhere, other_org, "carol", "ssh", Utc::now()))
            .await
            .unwrap();
        for (input, risk, when) in [
            ("ls -la", 0, three_days_ago),
            ("rm -rf /", 5, three_days_ago + Duration::minutes(1)),
        ] {
            store
                .insert_command(&NewCommand {
                    org: default_org,
                    session_id: old,
                    user: "alice(alice)".into(),
                    asset: "web-1(10.0.0.1)".into(),
                    account: "root(root)".into(),
                    input: input.into(),
                    output: String::new(),
                    risk_level: risk,
                    timestamp: when,
                    remote_addr: "10.1.1.1".into(),
                })
                .await
                .unwrap();
        }

        // Org scoping: the current org sees its two sessions, the root view all three.
        let list = rows(&get(&server, &admin, "/api/v1/terminal/sessions/"));
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["id"], live.to_string(), "newest first");
        assert_eq!(
            rows(&get_in(
                &server,
                &admin,
                "ROOT",
                "/api/v1/terminal/sessions/"
            ))
            .len(),
            3
        );
        let finished = rows(&get(
            &server,
            &admin,
            "/api/v1/terminal/sessions/?is_finished=1",
        ));
        assert_eq!(finished.len(), 1);
        let s = &finished[0];
        assert_eq!(s["id"], old.to_string());
        assert_eq!(
            s["login_from"],
            json!({"value": "ST", "label": "SSH Terminal"})
        );
        assert_eq!(s["type"]["value"], "normal");
        assert_eq!(s["user"], "alice(alice)");
        assert_eq!(s["user_id"], alice.to_string());
        assert_eq!(s["command_amount"], 2);
        assert_eq!(s["has_command"], true);
        assert_eq!(s["duration"], 300);
        assert_eq!(
            (s["can_replay"].clone(), s["can_terminate"].clone()),
            (json!(true), json!(false))
        );
        assert_eq!(s["org_name"], "Default");
        let online = rows(&get(
            &server,
            &admin,
            "/api/v1/terminal/sessions/?is_finished=0",
        ));
        assert_eq!(online.len(), 1);
        assert!(online[0]["date_end"].is_null());
        assert_eq!(online[0]["can_terminate"], true);
        let path = format!(
            "/api/v1/terminal/sessions/?date_from={}",
            at(Duration::days(-1))
        );
        assert_eq!(
            rows(&get(&server, &admin, &path))[0]["id"],
            live.to_string()
        );
        let path = format!(
            "/api/v1/terminal/sessions/?date_to={}",
            at(Duration::days(-1))
        );
        assert_eq!(rows(&get(&server, &admin, &path)).len(), 1);
        assert_eq!(
            rows(&get(
                &server,
                &admin,
                "/api/v1/terminal/sessions/?protocol=sftp"
            ))
            .len(),
            1
        );
        assert_eq!(
            rows(&get(
                &server,
                &admin,
                &format!("/api/v1/terminal/sessions/?user_id={alice}&asset_id={web}")
            ))
            .len(),
            2
        );
        assert_eq!(
            get(&server, &admin, "/api/v1/terminal/sessions/?user_id=x").status,
            400
        );
        assert_eq!(
            get(
                &server,
                &admin,
                &format!("/api/v1/terminal/sessions/{old}/")
            )
            .json()["id"],
            old.to_string()
        );
        assert_eq!(
            get(
                &server,
                &admin,
                &format!("/api/v1/terminal/sessions/{elsewhere}/")
            )
            .status,
            404,
            "another org's session is not visible in this org"
        );

        // Commands: empty without a session or storage, filtered with one.
        assert_eq!(
            rows(&get(&server, &admin, "/api/v1/terminal/commands/")).len(),
            0
        );
        let cmds = rows(&get(
            &server,
            &admin,
            &format!("/api/v1/terminal/commands/?session_id={old}"),
        ));
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[0]["input"], "rm -rf /", "newest first");
        assert_eq!(
            cmds[0]["risk_level"],
            json!({"value": 5, "label": "Reject"})
        );
        assert_eq!(
            cmds[0]["timestamp"].as_i64().unwrap(),
            (three_days_ago + Duration::minutes(1)).timestamp()
        );
        assert_eq!(cmds[0]["session"], old.to_string());
        let risky = rows(&get(
            &server,
            &admin,
            &format!("/api/v1/terminal/commands/?session_id={old}&risk_level=5"),
        ));
        assert_eq!(risky.len(), 1);
        assert_eq!(
            rows(&get(
                &server,
                &admin,
                "/api/v1/terminal/commands/?command_storage_id=default&input=ls"
            ))
            .len(),
            1
        );
        let path = format!(
            "/api/v1/terminal/commands/?command_storage_id=default&date_from={}",
            at(Duration::days(-1))
        );
        assert_eq!(rows(&get(&server, &admin, &path)).len(), 0);

        // File transfers and password changes.
        store
            .insert_ftp_log(&NewFtpLog {
                org: default_org,
                user: "alice(alice)".into(),
                remote_addr: "10.1.1.1".into(),
                asset: "web-1(10.0.0.1)".into(),
                account: "root(root)".into(),
                operate: "upload".into(),
                filename: "/tmp/report.csv".into(),
                size: Some(12),
                is_success: true,
                has_file: false,
                session_id: Some(old),
                sha256: "ab".repeat(32),
                date_start: Utc::now(),
            })
            .await
            .unwrap();
        let ftp = rows(&get(
            &server,
            &admin,
            "/api/v1/audits/ftp-logs/?operate=upload",
        ));
        assert_eq!(ftp.len(), 1);
        assert_eq!(
            ftp[0]["operate"],
            json!({"value": "upload", "label": "Upload"})
        );
        assert_eq!(ftp[0]["session"], old.to_string());
        let path = format!(
            "/api/v1/audits/ftp-logs/?date_to={}",
            at(Duration::days(-1))
        );
        assert_eq!(rows(&get(&server, &admin, &path)).len(), 0);
        store
            .insert_password_change_log("admin", "Administrator(admin)", "10.1.1.1")
            .await
            .unwrap();
        let pcl = rows(&get(
            &server,
            &admin,
            "/api/v1/audits/password-change-logs/",
        ));
        assert_eq!(pcl.len(), 1);
        assert_eq!(pcl[0]["change_by"], "Administrator(admin)");
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn public_settings_and_security_settings_validation() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let open = http(
            &server.base,
            "GET",
            "/api/v1/settings/public/open/",
            &[],
            None,
        )
        .unwrap();
        assert_eq!(open.status, 200, "{}", open.body);
        let open = open.json();
        assert_eq!(open["XPACK_ENABLED"], false);
        assert_eq!(open["VENDOR"], "Portcullis");
        assert!(open["INTERFACE"].is_object());
        let codes: Vec<&str> = open["LANGUAGES"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["en", "zh-hans"]);
        assert_eq!(
            http(&server.base, "GET", "/api/v1/settings/public/", &[], None)
                .unwrap()
                .status,
            401
        );
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let pw = create_user(dir.path(), &db, "plain", "user");
        let plain = token(&server, "plain", &pw);
        let public = get(&server, &plain, "/api/v1/settings/public/");
        assert_eq!(public.status, 200, "{}", public.body);
        assert_eq!(public.json()["XPACK_LICENSE_IS_VALID"], false);
        assert_eq!(
            public.json()["PASSWORD_RULE"]["SECURITY_PASSWORD_MIN_LENGTH"],
            6
        );

        let path = "/api/v1/settings/setting/?category=security";
        assert_eq!(get(&server, &plain, path).status, 403);
        let current = get(&server, &admin, path);
        assert_eq!(current.status, 200, "{}", current.body);
        assert_eq!(current.json()["SECURITY_LOGIN_LIMIT_COUNT"], 7);
        assert_eq!(current.json()["SECURITY_PASSWORD_UPPER_CASE"], false);

        // Bad values are all reported and nothing is written.
        let r = send(
            &server,
            &admin,
            "PATCH",
            path,
            &json!({"SECURITY_LOGIN_LIMIT_COUNT": "many", "SECURITY_PASSWORD_UPPER_CASE": "maybe", "SECURITY_PASSWORD_MIN_LENGTH": 10}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["SECURITY_LOGIN_LIMIT_COUNT"].is_array());
        assert!(r.json()["SECURITY_PASSWORD_UPPER_CASE"].is_array());
        for body in [
            json!({"SECURITY_PASSWORD_MIN_LENGTH": 3}),
            json!({"SITE_URL": "http://x"}),
            json!({"SECURITY_LOGIN_LIMIT_COUNT": 0}),
        ] {
            let r = send(&server, &admin, "PATCH", path, &body);
            assert_eq!(r.status, 400, "{body}: {}", r.body);
        }
        assert_eq!(
            get(&server, &admin, "/api/v1/settings/setting/?category=ldap").status,
            400
        );
        assert_eq!(
            get(&server, &admin, path).json(),
            current.json(),
            "nothing was written"
        );

        // Good values take effect: the password rule and the lockout threshold.
        let r = send(
            &server,
            &admin,
            "PATCH",
            path,
            &json!({"SECURITY_PASSWORD_MIN_LENGTH": 10, "SECURITY_LOGIN_LIMIT_COUNT": "3"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["SECURITY_PASSWORD_MIN_LENGTH"], 10);
        assert_eq!(r.json()["SECURITY_LOGIN_LIMIT_COUNT"], 3);
        assert_eq!(
            get(&server, &plain, "/api/v1/settings/public/").json()["PASSWORD_RULE"]["SECURITY_PASSWORD_MIN_LENGTH"],
            10
        );
        let short = send(
            &server,
            &admin,
            "POST",
            "/api/v1/users/users/",
            &json!({"name": "S", "username": "s1", "email": "s1@example.com", "password": "Short-1"}),
        );
        assert_eq!(short.status, 400, "{}", short.body);
        let codes: Vec<String> = (0..3)
            .map(|_| {
                login(&server, "plain", "bad").json()["error"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(codes.last().unwrap(), "block_login", "{codes:?}");
        let logged = rows(&get(
            &server,
            &admin,
            "/api/v1/audits/operate-logs/?resource_type=Setting",
        ));
        assert_eq!(logged.len(), 1);
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn auditors_read_audits_and_plain_users_do_not() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let auditor_pw = create_user(dir.path(), &db, "watcher", "auditor");
        let user_pw = create_user(dir.path(), &db, "plain", "user");
        let auditor = token(&server, "watcher", &auditor_pw);
        let user = token(&server, "plain", &user_pw);
        let reads = [
            "/api/v1/audits/login-logs/",
            "/api/v1/audits/operate-logs/",
            "/api/v1/audits/password-change-logs/",
            "/api/v1/audits/ftp-logs/",
            "/api/v1/terminal/sessions/",
            "/api/v1/terminal/commands/",
        ];
        for path in reads {
            assert_eq!(get(&server, &auditor, path).status, 200, "auditor {path}");
            let r = get(&server, &user, path);
            assert_eq!(r.status, 403, "user {path}");
            assert_eq!(r.json()["code"], "permission_denied");
        }
        assert_eq!(
            get(&server, &user, "/api/v1/audits/my-login-logs/").status,
            200
        );
        for (who, t) in [("auditor", &auditor), ("user", &user)] {
            let r = send(
                &server,
                t,
                "POST",
                "/api/v1/users/groups/",
                &json!({"name": "g"}),
            );
            assert_eq!(r.status, 403, "{who}: {}", r.body);
            assert_eq!(
                get(&server, t, "/api/v1/settings/setting/?category=security").status,
                403,
                "{who}"
            );
            assert_eq!(get(&server, t, "/api/v1/rbac/roles/").status, 403, "{who}");
        }
        drop(server);
        db.drop_db().await;
    }
}
