//! The REST API driven over HTTP the way a JumpServer script drives it.

use crate::fixture::Fixture;
use crate::support::{Server, TestDb, http, portcullis, run, text};
use serde_json::{Value, json};

use crate::client::*;

#[tokio::test]
async fn login_gives_a_bearer_token_that_authenticates_and_bad_credentials_reveal_nothing() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());

        let r = login(&server, "admin", ADMIN_PASSWORD);
        assert_eq!(r.status, 201, "{}", r.body);
        let body = r.json();
        assert_eq!(body["keyword"], "Bearer");
        assert!(body["token"].as_str().unwrap().len() >= 36);
        let expires = body["date_expired"].as_str().unwrap();
        assert_eq!(expires.len(), 25, "YYYY/MM/DD HH:MM:SS +ZZZZ: {expires}");
        assert_eq!(body["user"]["username"], "admin");
        let token = body["token"].as_str().unwrap();

        let me = get(&server, token, "/api/v1/users/profile/");
        assert_eq!(me.status, 200, "{}", me.body);
        assert_eq!(me.json()["username"], "admin");
        assert_eq!(me.json()["is_superuser"], true);
        assert_eq!(
            me.json()["mfa_level"],
            json!({"value": 0, "label": "Disable"})
        );

        // Wrong password and unknown user look the same.
        let wrong = login(&server, "admin", "nope");
        let ghost = login(&server, "ghost", "nope");
        assert_eq!((wrong.status, ghost.status), (400, 400));
        assert_eq!(wrong.json()["error"], "password_failed");
        assert_eq!(ghost.json()["error"], "password_failed");
        assert_eq!(
            wrong.json()["msg"].as_str().map(|m| m.contains("admin")),
            ghost.json()["msg"].as_str().map(|m| m.contains("ghost"))
        );

        // No or bad credentials: DRF's 401 shape with the WWW-Authenticate challenge.
        let anon = http(&server.base, "GET", "/api/v1/users/profile/", &[], None).unwrap();
        assert_eq!(anon.status, 401);
        assert_eq!(anon.json()["code"], "not_authenticated");
        assert!(
            anon.header("www-authenticate")
                .unwrap()
                .starts_with("Signature")
        );
        assert_eq!(
            get(&server, "not-a-token", "/api/v1/users/profile/").status,
            401
        );
        let malformed = http(
            &server.base,
            "GET",
            "/api/v1/users/profile/",
            &[("Authorization", "Bearer a b")],
            None,
        )
        .unwrap();
        assert_eq!(malformed.status, 401);

        // Every attempt is in the login log with its reason.
        let mut f = Fixture::new(&db.url).await;
        let reasons: Vec<String> =
            sqlx::query_scalar("SELECT reason FROM login_logs ORDER BY datetime")
                .fetch_all(&mut f.conn)
                .await
                .unwrap();
        assert_eq!(
            reasons,
            ["", "password_failed", "password_failed"],
            "{}",
            db.backend
        );
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn repeated_failures_lock_the_user_until_an_admin_unblocks() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let password = create_user(dir.path(), &db, "victim", "user");
    for i in 1..=7 {
        let r = login(&server, "victim", "bad");
        assert_eq!(r.status, 400);
        let expected = if i < 7 {
            "password_failed"
        } else {
            "block_login"
        };
        assert_eq!(r.json()["error"], expected, "attempt {i}: {}", r.body);
    }
    let locked = login(&server, "victim", &password);
    assert_eq!(locked.status, 400);
    assert_eq!(locked.json()["error"], "block_login", "{}", locked.body);
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let r = send(
        &server,
        &admin,
        "PUT",
        "/api/v1/users/users/victim/unblock/",
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(login(&server, "victim", &password).status, 201);
}

#[tokio::test]
async fn roles_decide_what_each_caller_may_do() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let user_pw = create_user(dir.path(), &db, "plain", "user");
        let auditor_pw = create_user(dir.path(), &db, "watcher", "auditor");
        let user = token(&server, "plain", &user_pw);
        let auditor = token(&server, "watcher", &auditor_pw);

        // (caller, method, path, body, expected status)
        let new_user = json!({"name": "N", "username": "n1", "email": "n1@example.com"});
        let matrix: Vec<(&str, &str, &str, Value, u16)> = vec![
            ("admin", "GET", "/api/v1/users/users/", Value::Null, 200),
            ("auditor", "GET", "/api/v1/users/users/", Value::Null, 403),
            ("user", "GET", "/api/v1/users/users/", Value::Null, 403),
            (
                "user",
                "POST",
                "/api/v1/users/users/",
                new_user.clone(),
                403,
            ),
            (
                "auditor",
                "POST",
                "/api/v1/users/users/",
                new_user.clone(),
                403,
            ),
            (
                "admin",
                "POST",
                "/api/v1/users/users/",
                new_user.clone(),
                201,
            ),
            ("user", "GET", "/api/v1/users/profile/", Value::Null, 200),
            (
                "user",
                "GET",
                "/api/v1/perms/users/self/assets/",
                Value::Null,
                200,
            ),
            (
                "user",
                "GET",
                "/api/v1/orgs/orgs/current/",
                Value::Null,
                200,
            ),
            (
                "user",
                "DELETE",
                "/api/v1/users/users/n1/",
                Value::Null,
                403,
            ),
            (
                "auditor",
                "DELETE",
                "/api/v1/users/users/n1/",
                Value::Null,
                403,
            ),
            (
                "admin",
                "DELETE",
                "/api/v1/users/users/n1/",
                Value::Null,
                204,
            ),
        ];
        for (who, method, path, body, expected) in matrix {
            let t = match who {
                "admin" => &admin,
                "auditor" => &auditor,
                _ => &user,
            };
            let r = if body.is_null() {
                http(
                    &server.base,
                    method,
                    path,
                    &[("Authorization", &format!("Bearer {t}"))],
                    None,
                )
                .unwrap()
            } else {
                send(&server, t, method, path, &body)
            };
            assert_eq!(
                r.status, expected,
                "{} {who} {method} {path}: {}",
                db.backend, r.body
            );
            if expected == 403 {
                assert_eq!(
                    r.json(),
                    json!({"detail": "You do not have permission to perform this action.", "code": "permission_denied"})
                );
            }
        }
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn users_are_listed_paged_filtered_created_updated_and_audited() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        for i in 1..=3 {
            let r = send(
                &server,
                &admin,
                "POST",
                "/api/v1/users/users/",
                &json!({
                    "name": format!("User {i}"), "username": format!("u{i}"), "email": format!("u{i}@example.com"),
                    "password": "Str0ng-enough", "is_active": i != 3, "comment": "from a script", "phone": {"code": "+86", "phone": "1380000"}
                }),
            );
            assert_eq!(r.status, 201, "{}", r.body);
            assert_eq!(r.json()["comment"], "from a script");
        }
        // Paginated shape with absolute links; bare array without limit.
        let page = get(
            &server,
            &admin,
            "/api/v1/users/users/?limit=2&order=username",
        )
        .json();
        assert_eq!(page["count"], 4);
        assert_eq!(page["results"].as_array().unwrap().len(), 2);
        assert_eq!(page["results"][0]["username"], "admin");
        assert!(
            page["next"].as_str().unwrap().starts_with("http://")
                && page["next"].as_str().unwrap().contains("offset=2")
        );
        assert!(page["previous"].is_null());
        let all = get(&server, &admin, "/api/v1/users/users/").json();
        assert_eq!(all.as_array().unwrap().len(), 4);
        // search (q and search), field filters, booleans.
        assert_eq!(
            get(&server, &admin, "/api/v1/users/users/?search=user%202")
                .json()
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            get(&server, &admin, "/api/v1/users/users/?q=U1").json()[0]["username"],
            "u1"
        );
        assert_eq!(
            get(&server, &admin, "/api/v1/users/users/?is_active=0").json()[0]["username"],
            "u3"
        );
        assert_eq!(
            get(&server, &admin, "/api/v1/users/users/?username=u2")
                .json()
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // Detail by id and by username.
        let u2 = get(&server, &admin, "/api/v1/users/users/u2/").json();
        let by_id = get(
            &server,
            &admin,
            &format!("/api/v1/users/users/{}/", u2["id"].as_str().unwrap()),
        )
        .json();
        assert_eq!(u2, by_id);
        assert_eq!(u2["org_roles"][0]["name"], "OrgUser");
        assert_eq!(u2["system_roles"][0]["name"], "User");
        // Partial update, then the operation log holds the before/after diff.
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/users/users/u2/",
            &json!({"name": "Renamed"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["name"], "Renamed");
        let mut f = Fixture::new(&db.url).await;
        let diff: String = sqlx::query_scalar(
            "SELECT diff FROM operate_logs WHERE action = 'update' AND resource = 'u2'",
        )
        .fetch_one(&mut f.conn)
        .await
        .unwrap();
        let diff: Value = serde_json::from_str(&diff).unwrap();
        assert_eq!(diff["name"], json!(["User 2", "Renamed"]));
        let creates: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM operate_logs WHERE action = 'create' AND resource_type = 'User'",
        )
        .fetch_one(&mut f.conn)
        .await
        .unwrap();
        assert_eq!(creates, 3);
        assert!(
            !serde_json::to_string(&diff).unwrap().contains("Str0ng"),
            "no secret in the log"
        );
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn bad_input_gets_field_errors_and_writes_nothing() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let cases = [
        (
            json!({"name": "x", "username": "x", "email": "x@example.com", "favourite_colour": "red"}),
            "favourite_colour",
        ),
        (
            json!({"name": "x", "username": "x", "email": "not-an-email"}),
            "email",
        ),
        (json!({"name": "x", "email": "x@example.com"}), "username"),
        (
            json!({"name": "x", "username": "x", "email": "x@example.com", "is_active": "maybe"}),
            "is_active",
        ),
        (
            json!({"name": "x", "username": "x", "email": "x@example.com", "password": "1"}),
            "password",
        ),
        (
            json!({"name": "x", "username": "admin", "email": "y@example.com"}),
            "username",
        ),
        (
            json!({"name": "x", "username": "x", "email": "x@example.com", "date_expired": "tomorrow"}),
            "date_expired",
        ),
        (
            json!({"name": "x", "username": "x", "email": "x@example.com", "mfa_level": 9}),
            "mfa_level",
        ),
    ];
    for (body, field) in cases {
        let r = send(&server, &admin, "POST", "/api/v1/users/users/", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.json()[field].is_array(), "{body}: {}", r.body);
    }
    let broken = http(
        &server.base,
        "POST",
        "/api/v1/users/users/",
        &[
            ("Authorization", &format!("Bearer {admin}")),
            ("Content-Type", "application/json"),
        ],
        None,
    )
    .unwrap();
    assert_eq!(broken.status, 400, "{}", broken.body);
    let users = get(&server, &admin, "/api/v1/users/users/").json();
    assert_eq!(
        users.as_array().unwrap().len(),
        1,
        "nothing was written: {users}"
    );
    assert_eq!(
        get(&server, &admin, "/api/v1/users/users/nobody/").json()["code"],
        "object_does_not_exist"
    );
    assert_eq!(
        get(&server, &admin, "/api/v1/users/users/?limit=x").status,
        400
    );
}

#[tokio::test]
async fn a_private_token_from_the_cli_authenticates() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let out = run(portcullis(dir.path())
        .env("PORTCULLIS_DATABASE_URL", &db.url)
        .args(["admin", "create-token", "--username", "admin"]));
    assert!(out.status.success(), "{}", text(&out));
    let token = text(&out).lines().last().unwrap().trim().to_owned();
    assert_eq!(token.len(), 40);
    let r = http(
        &server.base,
        "GET",
        "/api/v1/users/profile/",
        &[("Authorization", &format!("Token {token}"))],
        None,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    // A bearer token is not a private token.
    let bearer = token_of(&server);
    let r = http(
        &server.base,
        "GET",
        "/api/v1/users/profile/",
        &[("Authorization", &format!("Token {bearer}"))],
        None,
    )
    .unwrap();
    assert_eq!(r.status, 401);
}

fn token_of(server: &Server) -> String {
    token(server, "admin", ADMIN_PASSWORD)
}

/// Signs like Python's `httpsig` (draft-cavage, hmac-sha256), computed here independently.
fn signature_header(key_id: &str, secret: &str, method: &str, path: &str, date: &str) -> String {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let signing = format!(
        "(request-target): {} {path}\naccept: application/json\ndate: {date}",
        method.to_lowercase()
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signing.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!(
        "Signature keyId=\"{key_id}\",algorithm=\"hmac-sha256\",headers=\"(request-target) accept date\",signature=\"{sig}\""
    )
}

#[tokio::test]
async fn access_keys_sign_requests_as_jumpserver_scripts_do() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let (admin, cookies) = login_with_cookies(&server, "admin", ADMIN_PASSWORD);
        // A new key needs a fresh password confirmation, kept in the login's session.
        let refused = send(
            &server,
            &admin,
            "POST",
            "/api/v1/authentication/access-keys/",
            &json!({}),
        );
        assert_eq!(refused.status, 412, "{}", refused.body);
        assert_eq!(refused.json()["code"], "password");
        let ok = send_with_cookies(
            &server,
            &admin,
            &cookies,
            "POST",
            "/api/v1/authentication/confirm/",
            &json!({"confirm_type": "password", "secret_key": ADMIN_PASSWORD}),
        );
        assert_eq!(ok.status, 200, "{}", ok.body);
        let key = send_with_cookies(
            &server,
            &admin,
            &cookies,
            "POST",
            "/api/v1/authentication/access-keys/",
            &json!({}),
        );
        assert_eq!(key.status, 201, "{}", key.body);
        let (id, secret) = (
            key.json()["id"].as_str().unwrap().to_owned(),
            key.json()["secret"].as_str().unwrap().to_owned(),
        );
        let listed = get(&server, &admin, "/api/v1/authentication/access-keys/").json();
        assert_eq!(listed[0]["id"], id.as_str());
        assert!(
            listed[0].get("secret").is_none(),
            "the secret is shown only once"
        );

        let path = "/api/v1/users/users/?limit=1";
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let sig = signature_header(&id, &secret, "GET", path, &date);
        let headers = [
            ("Authorization", sig.as_str()),
            ("Date", date.as_str()),
            ("X-JMS-ORG", "00000000-0000-0000-0000-000000000002"),
        ];
        let r = http(&server.base, "GET", path, &headers, None).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["count"], 1);
        // A lookup, which the server answers by paging the list itself, is verified against
        // what the client signed, not the server's own rewrite.
        let lookup = "/api/v1/users/users/?username__icontains=ADM&limit=5";
        let sig = signature_header(&id, &secret, "GET", lookup, &date);
        let r = http(
            &server.base,
            "GET",
            lookup,
            &[("Authorization", sig.as_str()), ("Date", date.as_str())],
            None,
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["count"], 1);

        // The query string is signed: another query with the same signature fails.
        let r = http(
            &server.base,
            "GET",
            "/api/v1/users/users/?limit=2",
            &headers,
            None,
        )
        .unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["code"], "authentication_failed");
        // A wrong secret fails; a stale date fails.
        let bad = signature_header(&id, "wrong", "GET", path, &date);
        assert_eq!(
            http(
                &server.base,
                "GET",
                path,
                &[("Authorization", &bad), ("Date", &date)],
                None
            )
            .unwrap()
            .status,
            401
        );
        let old = httpdate::fmt_http_date(
            std::time::SystemTime::now() - std::time::Duration::from_secs(3600),
        );
        let stale = signature_header(&id, &secret, "GET", path, &old);
        assert_eq!(
            http(
                &server.base,
                "GET",
                path,
                &[("Authorization", &stale), ("Date", &old)],
                None
            )
            .unwrap()
            .status,
            401
        );
        // Key management: deactivate, then delete.
        let path_key = format!("/api/v1/authentication/access-keys/{id}/");
        let r = send(
            &server,
            &admin,
            "PATCH",
            &path_key,
            &json!({"is_active": false}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let sig = signature_header(&id, &secret, "GET", path, &date);
        assert_eq!(
            http(
                &server.base,
                "GET",
                path,
                &[("Authorization", &sig), ("Date", &date)],
                None
            )
            .unwrap()
            .status,
            401,
            "inactive key"
        );
        let r = http(
            &server.base,
            "DELETE",
            &path_key,
            &[("Authorization", &format!("Bearer {admin}"))],
            None,
        )
        .unwrap();
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(get(&server, &admin, &path_key).status, 404);
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn form_bodies_work_like_json_as_in_jumpserver_examples() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let body = format!("username=admin&password={}", ADMIN_PASSWORD);
    let raw = {
        use std::io::{Read, Write};
        let addr = server.base.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "POST /api/v1/authentication/auth/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(raw.starts_with("HTTP/1.1 201"), "{raw}");
    assert!(raw.contains("\"keyword\":\"Bearer\""), "{raw}");
}

#[tokio::test]
async fn my_assets_come_from_the_permission_engine() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let pw = create_user(dir.path(), &db, "op", "user");
    let mut f = Fixture::new(&db.url).await;
    let root = f.node_id("1").await;
    let web = f.node("1:1", "web").await;
    let a1 = f.asset("web-1", &[web]).await;
    f.asset("other", &[root]).await;
    let op = f.user_id("op").await;
    f.permission(
        "web",
        &[op],
        &[],
        &[],
        &[web],
        &["@ALL"],
        1,
        Fixture::always(),
    )
    .await;
    let t = token(&server, "op", &pw);
    let r = get(&server, &t, "/api/v1/perms/users/self/assets/?limit=10");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["count"], 1);
    assert_eq!(r.json()["results"][0]["name"], "web-1");
    let nodes = get(&server, &t, "/api/v1/perms/users/self/nodes/").json();
    assert_eq!(
        nodes
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["key"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["1", "1:1"]
    );
    let detail = get(
        &server,
        &t,
        &format!("/api/v1/perms/users/self/assets/{a1}/"),
    );
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert_eq!(detail.json()["permed_protocols"][0]["name"], "sftp");
    // Another user's view needs perms.view_userassets.
    assert_eq!(
        get(&server, &t, &format!("/api/v1/perms/users/{op}/assets/")).status,
        403
    );
}

#[tokio::test]
async fn an_org_admin_cannot_reach_beyond_the_org() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let pw = create_user(dir.path(), &db, "orgboss", "user");
    create_user(dir.path(), &db, "member", "user");
    let boss_id = get(&server, &admin, "/api/v1/users/users/orgboss/").json()["id"].clone();
    let r = send(
        &server,
        &admin,
        "POST",
        "/api/v1/rbac/org-role-bindings/",
        &json!({"user": boss_id, "role": "00000000-0000-0000-0000-000000000005"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let boss = token(&server, "orgboss", &pw);

    // Within the org: listing and changing a plain member works.
    assert_eq!(get(&server, &boss, "/api/v1/users/users/").status, 200);
    let r = send(
        &server,
        &boss,
        "PATCH",
        "/api/v1/users/users/member/",
        &json!({"comment": "ok"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // Beyond it: no system role for anyone, no touching the system admin, no global delete.
    let escalate = send(
        &server,
        &boss,
        "POST",
        "/api/v1/users/users/",
        &json!({"name": "E", "username": "evil", "email": "evil@example.com",
                "system_roles": ["00000000-0000-0000-0000-000000000001"]}),
    );
    assert_eq!(escalate.status, 403, "{}", escalate.body);
    assert_eq!(
        get(&server, &admin, "/api/v1/users/users/?username=evil")
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let r = send(
        &server,
        &boss,
        "PATCH",
        "/api/v1/users/users/admin/",
        &json!({"is_active": false}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = http(
        &server.base,
        "DELETE",
        "/api/v1/users/users/member/",
        &[("Authorization", &format!("Bearer {boss}"))],
        None,
    )
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.body);

    // Removing from the org is the org admin's way; the user still exists for the system admin.
    let r = send(
        &server,
        &boss,
        "POST",
        "/api/v1/users/users/member/remove/",
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        get(&server, &boss, "/api/v1/users/users/member/").status,
        404
    );
    assert_eq!(
        get(&server, &admin, "/api/v1/users/users/member/?oid=root").status,
        200,
        "the system admin still sees the user in the root view"
    );
    assert_eq!(
        login(&server, "admin", ADMIN_PASSWORD).status,
        201,
        "the admin is still active"
    );
}
