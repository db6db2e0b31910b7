//! User quick actions, self-service (profile, password, SSH keys) and the "my assets" tree
//! endpoints, over HTTP as a JumpServer script drives them.

use crate::client::*;
use crate::fixture::Fixture;
use crate::support::{HttpResponse, Server, TestDb, http};
use portcullis_store::Store;
use serde_json::{Value, json};

async fn count(f: &mut Fixture, sql: &str, arg: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(arg.to_owned())
        .fetch_one(&mut f.conn)
        .await
        .unwrap()
}

fn user_id(server: &Server, admin: &str, username: &str) -> String {
    let r = get(server, admin, &format!("/api/v1/users/users/{username}/"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

fn field_error(r: &HttpResponse, field: &str) -> String {
    assert_eq!(r.status, 400, "{}", r.body);
    r.json()[field][0]
        .as_str()
        .unwrap_or_else(|| panic!("no error for {field}: {}", r.body))
        .to_owned()
}

/// What the error of a refused field says.
enum Says {
    /// Exactly this.
    Is(&'static str),
    /// Something containing this.
    Has(&'static str),
    /// Something.
    Any,
}

/// PATCHes the user at `path` with each body of `cases` as `admin`, one after the other:
/// each is a 400 whose error for the case's field says what the case expects, and the
/// user's `comment` is still empty (a refused update writes nothing of its body).
fn patch_refused(server: &Server, admin: &str, path: &str, cases: &[(Value, &str, Says)]) {
    for (body, field, says) in cases {
        let r = send(server, admin, "PATCH", path, body);
        let error = field_error(&r, field);
        match says {
            Says::Is(text) => assert_eq!(error, *text, "{body}"),
            Says::Has(part) => assert!(error.contains(part), "{body}: {}", r.body),
            Says::Any => assert!(!error.is_empty(), "{body}: {}", r.body),
        }
        assert_eq!(get(server, admin, path).json()["comment"], "", "{body}");
    }
}

#[tokio::test]
async fn admin_quick_actions_check_policy_and_history_and_end_sessions() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let first = create_user(dir.path(), &db, "alice", "user");
        let alice_id = user_id(&server, &admin, "alice");
        let (alice, cookies) = login_with_cookies(&server, "alice", &first);
        assert_eq!(get(&server, &alice, "/api/v1/users/profile/").status, 200);
        let mut f = Fixture::new(&db.url).await;
        let sessions = "SELECT COUNT(*) FROM user_sessions WHERE user_id = $1";
        let bearers = "SELECT COUNT(*) FROM private_tokens WHERE user_id = $1 AND kind = 'bearer'";
        assert!(count(&mut f, sessions, &alice_id).await >= 1);
        let path = "/api/v1/users/users/alice/password/";

        // The policy applies; a refusal changes nothing.
        let weak = send(&server, &admin, "PUT", path, &json!({"password": "abc"}));
        assert!(
            field_error(&weak, "password").contains("at least 6"),
            "{}",
            weak.body
        );
        assert_eq!(get(&server, &alice, "/api/v1/users/profile/").status, 200);
        let missing = send(&server, &admin, "PUT", path, &json!({}));
        assert_eq!(field_error(&missing, "password"), "This field is required.");

        // A good password is set, logged, and ends Alice's sessions and bearer tokens.
        let r = send(
            &server,
            &admin,
            "PUT",
            path,
            &json!({"password": "Second-pass-2"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({"msg": "ok"}));
        assert_eq!(get(&server, &alice, "/api/v1/users/profile/").status, 401);
        let by_cookie = send_with_cookies(
            &server,
            "x",
            &cookies,
            "GET",
            "/api/v1/users/profile/",
            &Value::Null,
        );
        assert_eq!(by_cookie.status, 401, "{}", by_cookie.body);
        assert_eq!(
            count(&mut f, sessions, &alice_id).await,
            0,
            "{}",
            db.backend
        );
        assert_eq!(count(&mut f, bearers, &alice_id).await, 0);
        assert_eq!(login(&server, "alice", &first).status, 400);
        assert_eq!(login(&server, "alice", "Second-pass-2").status, 201);
        let logged = count(
            &mut f,
            "SELECT COUNT(*) FROM password_change_logs WHERE user_display = $1",
            "alice(alice)",
        )
        .await;
        assert_eq!(logged, 1);

        // The current and recent passwords cannot come back.
        let again = send(
            &server,
            &admin,
            "PUT",
            path,
            &json!({"password": "Second-pass-2"}),
        );
        assert!(
            field_error(&again, "password").contains("last 5 passwords"),
            "{}",
            again.body
        );
        let r = send(
            &server,
            &admin,
            "PUT",
            path,
            &json!({"password": "Third-pass-3"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let back = send(
            &server,
            &admin,
            "PUT",
            path,
            &json!({"password": "Second-pass-2"}),
        );
        assert_eq!(back.status, 400, "{}", back.body);
        // With the history turned off the old one is accepted again.
        let s = Store::connect(&db.url).await.unwrap();
        s.set_setting("SECURITY_OLD_PASSWORD_COUNT", "security", &json!(0))
            .await
            .unwrap();
        let r = send(
            &server,
            &admin,
            "PUT",
            path,
            &json!({"password": "Second-pass-2"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        s.set_setting("SECURITY_OLD_PASSWORD_COUNT", "security", &json!(5))
            .await
            .unwrap();

        // A plain user may not set someone's password.
        let alice = token(&server, "alice", "Second-pass-2");
        let r = send(
            &server,
            &alice,
            "PUT",
            "/api/v1/users/users/admin/password/",
            &json!({"password": "Whatever-1234"}),
        );
        assert_eq!(r.status, 403, "{}", r.body);

        // Reset: a temporary password, shown once, to be changed at the next login.
        let r = send(
            &server,
            &admin,
            "PUT",
            "/api/v1/users/users/alice/password/reset/",
            &json!({}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let temp = r.json()["password"].as_str().unwrap().to_owned();
        assert!(temp.len() >= 20, "{temp}");
        assert_eq!(get(&server, &alice, "/api/v1/users/profile/").status, 401);
        let detail = get(&server, &admin, "/api/v1/users/users/alice/");
        assert_eq!(detail.json()["need_update_password"], true);
        assert_eq!(login(&server, "alice", &temp).status, 201);

        // MFA reset unbinds the secret.
        sqlx::query("UPDATE users SET mfa_secret = 'sealed', mfa_level = 1 WHERE id = $1")
            .bind(&alice_id)
            .execute(&mut f.conn)
            .await
            .unwrap();
        assert_eq!(
            get(&server, &admin, "/api/v1/users/users/alice/").json()["is_otp_secret_key_bound"],
            true
        );
        let r = get(&server, &admin, "/api/v1/users/users/alice/mfa/reset/");
        assert_eq!(r.status, 200, "{}", r.body);
        let after = get(&server, &admin, "/api/v1/users/users/alice/").json();
        assert_eq!(after["is_otp_secret_key_bound"], false);
        assert_eq!(after["mfa_level"]["value"], 0);

        // Public-key reset removes every key of the user.
        let alice = token(&server, "alice", &temp);
        let (key, _) = keygen(dir.path(), "alice-key", "ed25519", None);
        let r = send(
            &server,
            &alice,
            "POST",
            "/api/v1/authentication/ssh-key/",
            &json!({"public_key": key}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            get(&server, &admin, "/api/v1/users/users/alice/").json()["has_public_keys"],
            true
        );
        let r = send(
            &server,
            &admin,
            "PUT",
            "/api/v1/users/users/alice/pubkey/reset/",
            &json!({}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            get(&server, &admin, "/api/v1/users/users/alice/").json()["has_public_keys"],
            false
        );
        assert_eq!(
            get(&server, &alice, "/api/v1/authentication/ssh-key/").json(),
            json!([])
        );

        // Deactivating ends the sessions at once.
        let (alice, _) = login_with_cookies(&server, "alice", &temp);
        assert!(count(&mut f, sessions, &alice_id).await >= 1);
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/users/users/alice/",
            &json!({"is_active": false}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(count(&mut f, sessions, &alice_id).await, 0);
        assert_eq!(count(&mut f, bearers, &alice_id).await, 0);
        assert_eq!(get(&server, &alice, "/api/v1/users/profile/").status, 401);

        // Suggestions: a capped mini list.
        for i in 0..12 {
            create_user(dir.path(), &db, &format!("sugg{i:02}"), "user");
        }
        let r = get(
            &server,
            &admin,
            "/api/v1/users/users/suggestions/?search=sugg",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let items = r.json();
        let items = items.as_array().unwrap();
        assert_eq!(items.len(), 10);
        assert_eq!(items[0]["username"], "sugg00");
        let keys: Vec<&String> = items[0].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "name", "username"]);
        let plain_pw = create_user(dir.path(), &db, "plainuser", "user");
        let plain = token(&server, "plainuser", &plain_pw);
        assert_eq!(
            get(&server, &plain, "/api/v1/users/users/suggestions/").status,
            403
        );
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn profile_self_service_checks_the_old_password_and_limits_fields() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let pw = create_user(dir.path(), &db, "bob", "user");
    let bob = token(&server, "bob", &pw);
    let path = "/api/v1/users/profile/password/";
    let body = |old: &str, new: &str, again: &str| json!({"old_password": old, "new_password": new, "new_password_again": again});

    let wrong = send(
        &server,
        &bob,
        "PUT",
        path,
        &body("not-it", "Bob-new-pass-1", "Bob-new-pass-1"),
    );
    assert_eq!(field_error(&wrong, "old_password"), "Old password error");
    let mismatch = send(
        &server,
        &bob,
        "PUT",
        path,
        &body(&pw, "Bob-new-pass-1", "Bob-new-pass-2"),
    );
    assert_eq!(
        field_error(&mismatch, "new_password_again"),
        "The newly set password is inconsistent"
    );
    let weak = send(&server, &bob, "PUT", path, &body(&pw, "abc", "abc"));
    assert!(field_error(&weak, "new_password").contains("at least 6"));
    let same = send(&server, &bob, "PUT", path, &body(&pw, &pw, &pw));
    assert!(
        field_error(&same, "new_password").contains("last 5"),
        "{}",
        same.body
    );
    assert_eq!(
        get(&server, &bob, "/api/v1/users/profile/").status,
        200,
        "refusals change nothing"
    );

    let ok = send(
        &server,
        &bob,
        "PUT",
        path,
        &body(&pw, "Bob-new-pass-1", "Bob-new-pass-1"),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        get(&server, &bob, "/api/v1/users/profile/").status,
        401,
        "the session ends"
    );
    assert_eq!(login(&server, "bob", &pw).status, 400);
    let bob = token(&server, "bob", "Bob-new-pass-1");

    // Profile: own contact fields and language only.
    let r = send(
        &server,
        &bob,
        "PATCH",
        "/api/v1/users/profile/",
        &json!({"name": "Bob B", "lang": "en", "phone": "123", "wechat": "bobw"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let p = r.json();
    assert_eq!(
        (p["name"].as_str(), p["lang"].as_str(), p["wechat"].as_str()),
        (Some("Bob B"), Some("en"), Some("bobw"))
    );
    assert_eq!(p["phone"], json!({"code": "+86", "phone": "123"}));
    for field in [
        "is_active",
        "mfa_level",
        "system_roles",
        "username",
        "need_update_password",
    ] {
        let value = if field == "username" {
            json!("eve")
        } else if field == "system_roles" {
            json!([])
        } else if field == "need_update_password" {
            json!(true)
        } else {
            json!(false)
        };
        let r = send(
            &server,
            &bob,
            "PATCH",
            "/api/v1/users/profile/",
            &json!({field: value}),
        );
        assert_eq!(r.status, 400, "{field}: {}", r.body);
        assert!(r.json()[field].is_array(), "{}", r.body);
    }
    let unknown = send(
        &server,
        &bob,
        "PATCH",
        "/api/v1/users/profile/",
        &json!({"nmae": "x"}),
    );
    assert_eq!(field_error(&unknown, "nmae"), "Unknown field.");
    // A GET-edit-PUT round trip works: unchanged read-only fields are ignored.
    let mut full = get(&server, &bob, "/api/v1/users/profile/").json();
    full["comment"] = json!("hello");
    let r = send(&server, &bob, "PUT", "/api/v1/users/profile/", &full);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["comment"], "hello");
    let bad_email = send(
        &server,
        &bob,
        "PATCH",
        "/api/v1/users/profile/",
        &json!({"email": "admin@example.com"}),
    );
    assert_eq!(bad_email.status, 400, "{}", bad_email.body);
}

/// Makes a key pair with ssh-keygen; returns the public line and `ssh-keygen -l` output for
/// SHA256 and MD5.
fn keygen(dir: &std::path::Path, name: &str, kind: &str, bits: Option<&str>) -> (String, String) {
    let file = dir.join(name);
    let mut cmd = std::process::Command::new("ssh-keygen");
    cmd.args([
        "-q",
        "-t",
        kind,
        "-N",
        "",
        "-C",
        &format!("{name}@test"),
        "-f",
    ])
    .arg(&file);
    if let Some(b) = bits {
        cmd.args(["-b", b]);
    }
    let out = cmd.output().expect("ssh-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(file.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned();
    (public, file.with_extension("pub").display().to_string())
}

fn fingerprint(pub_file: &str, hash: &str) -> String {
    let out = std::process::Command::new("ssh-keygen")
        .args(["-E", hash, "-l", "-f", pub_file])
        .output()
        .expect("ssh-keygen -l");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn ssh_keys_are_validated_fingerprinted_and_owned() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let pw = create_user(dir.path(), &db, "carol", "user");
        let carol = token(&server, "carol", &pw);
        let other_pw = create_user(dir.path(), &db, "dave", "user");
        let dave = token(&server, "dave", &other_pw);
        let base = "/api/v1/authentication/ssh-key/";

        let (ed, ed_file) = keygen(dir.path(), "ed", "ed25519", None);
        let r = send(
            &server,
            &carol,
            "POST",
            base,
            &json!({"public_key": ed, "comment": "laptop"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let key = r.json();
        let id = key["id"].as_str().unwrap().to_owned();
        assert_eq!(
            key["name"], "ed@test",
            "the key comment names it by default"
        );
        assert_eq!(key["public_key"], ed);
        assert_eq!(key["public_key_comment"], "ed@test");
        assert_eq!(key["fingerprint"], fingerprint(&ed_file, "sha256"));
        assert_eq!(key["public_key_hash_md5"], fingerprint(&ed_file, "md5"));
        assert_eq!(
            (key["is_active"].as_bool(), key["comment"].as_str()),
            (Some(true), Some("laptop"))
        );
        assert_eq!(key["date_last_used"], Value::Null);

        let (rsa, rsa_file) = keygen(dir.path(), "rsa", "rsa", Some("3072"));
        let r = send(
            &server,
            &carol,
            "POST",
            base,
            &json!({"name": "rsa one", "public_key": rsa}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["fingerprint"], fingerprint(&rsa_file, "sha256"));
        let (ec, ec_file) = keygen(dir.path(), "ec", "ecdsa", Some("384"));
        let r = send(&server, &carol, "POST", base, &json!({"public_key": ec}));
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            r.json()["public_key_hash_md5"],
            fingerprint(&ec_file, "md5")
        );

        // Bad keys.
        let (short, _) = keygen(dir.path(), "short", "rsa", Some("1024"));
        let ed_b64 = ed.split_whitespace().nth(1).unwrap();
        let rsa_b64 = rsa.split_whitespace().nth(1).unwrap();
        let bad = [
            "not a key".to_owned(),
            format!("ssh-ed25519 {}", &ed_b64[..ed_b64.len() - 8]),
            format!("ssh-ed25519 {ed_b64}!!"),
            format!("ssh-rsa {ed_b64}"),
            format!("ssh-ed25519 {rsa_b64}"),
            format!("ssh-dss {ed_b64}"),
            format!("{ed}\n{rsa}"),
            short,
            "ssh-ed25519".to_owned(),
        ];
        for b in &bad {
            let r = send(&server, &carol, "POST", base, &json!({"public_key": b}));
            assert_eq!(r.status, 400, "{b}: {}", r.body);
            assert!(r.json()["public_key"].is_array(), "{}", r.body);
        }
        let r = send(&server, &carol, "POST", base, &json!({"name": "no key"}));
        assert_eq!(field_error(&r, "public_key"), "This field is required.");
        // The same key twice, or by another user, is refused: one key names one user.
        let r = send(&server, &carol, "POST", base, &json!({"public_key": ed}));
        assert_eq!(
            field_error(&r, "public_key"),
            "This public key is already in use."
        );
        let r = send(&server, &dave, "POST", base, &json!({"public_key": ed}));
        assert_eq!(r.status, 400, "{}", r.body);

        let list = get(&server, &carol, base).json();
        assert_eq!(list.as_array().unwrap().len(), 3);
        let page = get(&server, &carol, &format!("{base}?limit=2&offset=0")).json();
        assert_eq!(page["count"], 3);
        assert_eq!(
            get(&server, &dave, base).json(),
            json!([]),
            "only one's own keys"
        );
        assert_eq!(get(&server, &dave, &format!("{base}{id}/")).status, 404);
        assert_eq!(
            send(
                &server,
                &dave,
                "DELETE",
                &format!("{base}{id}/"),
                &Value::Null
            )
            .status,
            404
        );

        // The gateway's lookup.
        let store = Store::connect(&db.url).await.unwrap();
        let carol_id = get(&server, &carol, "/api/v1/users/profile/").json()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let fp = fingerprint(&ed_file, "sha256");
        assert_eq!(
            store
                .user_by_ssh_key(&fp)
                .await
                .unwrap()
                .map(|u| u.to_string()),
            Some(carol_id)
        );

        // Update: name, comment, active flag; the key itself is fixed.
        let r = send(
            &server,
            &carol,
            "PATCH",
            &format!("{base}{id}/"),
            &json!({"name": "work", "is_active": false}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            (r.json()["name"].as_str(), r.json()["is_active"].as_bool()),
            (Some("work"), Some(false))
        );
        assert_eq!(
            store.user_by_ssh_key(&fp).await.unwrap(),
            None,
            "inactive keys log nobody in"
        );
        let r = send(
            &server,
            &carol,
            "PATCH",
            &format!("{base}{id}/"),
            &json!({"public_key": rsa}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(
            get(&server, &carol, &format!("{base}{id}/")).json()["name"],
            "work"
        );

        let r = send(
            &server,
            &carol,
            "DELETE",
            &format!("{base}{id}/"),
            &Value::Null,
        );
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(get(&server, &carol, &format!("{base}{id}/")).status, 404);
        assert_eq!(
            get(&server, &carol, base).json().as_array().unwrap().len(),
            2
        );
        // Routes of authentication.rs are untouched.
        let r = get(&server, &carol, "/api/v1/authentication/access-keys/");
        assert_eq!(r.status, 200, "{}", r.body);
        let anon = http(&server.base, "GET", base, &[], None).unwrap();
        assert_eq!(anon.status, 401);
        drop(server);
        db.drop_db().await;
    }
}

/// Default org tree:
/// ```text
/// 1 Default
/// ├── 1:1 dev        ← granted
/// │   ├── 1:1:1 web  (web1)
/// │   └── (dev1)
/// ├── 1:2 ops        (ops1 not granted, ops2 granted directly)
/// └── 1:3 empty
/// ```
#[tokio::test]
async fn my_asset_tree_endpoints_follow_the_grant() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let pw = create_user(dir.path(), &db, "erin", "user");
        let erin_id = user_id(&server, &admin, "erin");
        let erin = token(&server, "erin", &pw);
        let mut f = Fixture::new(&db.url).await;
        let root = f.node_id("1").await;
        let dev = f.node("1:1", "dev").await;
        let web = f.node("1:1:1", "web").await;
        let ops = f.node("1:2", "ops").await;
        f.node("1:3", "empty").await;
        let web1 = f.asset("web1", &[web]).await;
        let dev1 = f.asset("dev1", &[dev]).await;
        f.asset("ops1", &[ops]).await;
        let ops2 = f.asset("ops2", &[ops]).await;
        let uid = uuid::Uuid::parse_str(&erin_id).unwrap();
        f.permission(
            "p",
            &[uid],
            &[],
            &[ops2],
            &[dev],
            &["@ALL"],
            0x7f,
            Fixture::always(),
        )
        .await;
        let me = "/api/v1/perms/users/self";

        // Children: top level, then by key and by id.
        let top = get(&server, &erin, &format!("{me}/nodes/children/"));
        assert_eq!(top.status, 200, "{}", top.body);
        assert_eq!(
            top.json(),
            json!([{"id": root, "name": "Default", "key": "1", "value": "Default",
                "full_value": "/Default", "org_id": f.org, "assets_amount": 3}])
        );
        let kids = get(&server, &erin, &format!("{me}/nodes/children/?key=1")).json();
        assert_eq!(
            kids,
            json!([
                {"id": dev, "name": "dev", "key": "1:1", "value": "dev", "full_value": "/Default/dev", "org_id": f.org, "assets_amount": 2},
                {"id": ops, "name": "ops", "key": "1:2", "value": "ops", "full_value": "/Default/ops", "org_id": f.org, "assets_amount": 1},
            ])
        );
        let by_id = get(&server, &erin, &format!("{me}/nodes/children/?id={dev}")).json();
        assert_eq!(by_id[0]["full_value"], "/Default/dev/web");
        assert_eq!(by_id.as_array().unwrap().len(), 1);
        assert_eq!(
            get(&server, &erin, &format!("{me}/nodes/children/?key=1:3")).status,
            404,
            "not in the tree"
        );
        assert_eq!(
            get(&server, &erin, &format!("{me}/nodes/children/?key=1:1:1")).json(),
            json!([])
        );

        // Assets under a node (descendants included), paginated.
        let r = get(
            &server,
            &erin,
            &format!("{me}/nodes/{dev}/assets/?limit=1&offset=0"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let page = r.json();
        assert_eq!(page["count"], 2);
        assert_eq!(page["results"][0]["name"], "dev1");
        assert_eq!(
            page["results"][0]["nodes"],
            json!([{"id": dev, "name": "dev"}])
        );
        assert_eq!(page["results"][0]["platform"]["id"], 1);
        let names = |v: Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|a| a["name"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            names(get(&server, &erin, &format!("{me}/nodes/{root}/assets/")).json()),
            ["dev1", "ops2", "web1"]
        );
        assert_eq!(
            names(get(&server, &erin, &format!("{me}/nodes/{ops}/assets/")).json()),
            ["ops2"]
        );
        assert_eq!(
            names(get(&server, &erin, &format!("{me}/nodes/ungrouped/assets/")).json()),
            ["ops2"]
        );
        assert_eq!(
            get(
                &server,
                &erin,
                &format!("{me}/nodes/{}/assets/", uuid::Uuid::new_v4())
            )
            .status,
            404
        );

        // The lazy tree: children of `key` with amounts, plus the assets directly in it.
        let r = get(
            &server,
            &erin,
            &format!("{me}/nodes/children-with-assets/tree/?key=1:1"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.json(),
            json!([
                {"id": "1:1:1", "name": "web (1)", "title": "web", "pId": "1:1", "isParent": true,
                 "open": false, "iconSkin": "", "chkDisabled": false, "nocheck": false,
                 "checked": false, "halfCheck": false,
                 "meta": {"type": "node", "data": {"id": web, "key": "1:1:1", "value": "web"}}},
                {"id": dev1, "name": "dev1", "title": "10.0.0.4", "pId": "1:1", "isParent": false,
                 "open": false, "iconSkin": "linux", "chkDisabled": false, "nocheck": false,
                 "checked": false, "halfCheck": false,
                 "meta": {"type": "asset", "data": {"platform_type": "linux", "org_name": "Default",
                    "sftp": true, "name": "dev1", "address": "10.0.0.4"}}},
            ])
        );
        let top = get(
            &server,
            &erin,
            &format!("{me}/nodes/children-with-assets/tree/"),
        )
        .json();
        assert_eq!(top.as_array().unwrap().len(), 1);
        assert_eq!(
            (
                top[0]["id"].as_str(),
                top[0]["name"].as_str(),
                top[0]["pId"].as_str(),
                top[0]["open"].as_bool()
            ),
            (Some("1"), Some("Default (3)"), Some(""), Some(true))
        );
        let ops_tree = get(
            &server,
            &erin,
            &format!("{me}/nodes/children-with-assets/tree/?id={ops}"),
        )
        .json();
        assert_eq!(
            ops_tree
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["name"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["ops2"]
        );

        // The whole tree: every node, then each asset once.
        let all = get(&server, &erin, &format!("{me}/nodes/all-with-assets/tree/")).json();
        let ids: Vec<(&str, &str)> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["name"].as_str().unwrap(), i["pId"].as_str().unwrap()))
            .collect();
        assert_eq!(
            ids,
            [
                ("Default (3)", ""),
                ("dev (2)", "1"),
                ("web (1)", "1:1"),
                ("ops (1)", "1"),
                ("dev1", "1:1"),
                ("ops2", "1:2"),
                ("web1", "1:1:1")
            ]
        );
        assert_eq!(all[6]["id"], json!(web1));
        let flat = get(&server, &erin, &format!("{me}/assets/tree/")).json();
        assert_eq!(
            flat.as_array()
                .unwrap()
                .iter()
                .map(|i| (i["name"].as_str().unwrap(), i["pId"].as_str().unwrap()))
                .collect::<Vec<_>>(),
            [("dev1", ""), ("ops2", ""), ("web1", "")]
        );
        assert_eq!(flat[0]["meta"]["type"], "asset");

        // An administrator sees Erin's tree by id; Erin may not see someone else's.
        let r = get(
            &server,
            &admin,
            &format!("/api/v1/perms/users/{erin_id}/nodes/children/?key=1"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json().as_array().unwrap().len(), 2);
        let admin_id = user_id(&server, &admin, "admin");
        assert_eq!(
            get(
                &server,
                &erin,
                &format!("/api/v1/perms/users/{admin_id}/nodes/children/")
            )
            .status,
            403
        );
        drop(server);
        db.drop_db().await;
    }
}

const SYSTEM_ADMIN: &str = "00000000-0000-0000-0000-000000000001";
const SYSTEM_USER: &str = "00000000-0000-0000-0000-000000000003";
const ORG_ADMIN: &str = "00000000-0000-0000-0000-000000000005";

fn role_names(user: &Value, field: &str) -> Vec<String> {
    let mut names: Vec<String> = user[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field}: {user}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// Makes a plain user through the API and returns a token of theirs.
fn plain_user(server: &Server, admin: &str, username: &str) -> String {
    let r = send(
        server,
        admin,
        "POST",
        "/api/v1/users/users/",
        &json!({"name": username, "username": username, "email": format!("{username}@example.com"),
                "password": "Plain-pass-1"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(role_names(&r.json(), "system_roles"), ["User"]);
    assert_eq!(role_names(&r.json(), "org_roles"), ["OrgUser"]);
    let t = token(server, username, "Plain-pass-1");
    assert_eq!(get(server, &t, "/api/v1/users/users/").status, 403);
    t
}

#[tokio::test]
async fn updating_system_and_org_roles_changes_what_the_user_may_do() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);

        // PATCH system_roles, in the serializer's own shape: the answer and the user's rights
        // (on the token they already hold, and after a new login) follow at once.
        let carol = plain_user(&server, &admin, "carol");
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/users/users/carol/",
            &json!({"system_roles": [{"id": SYSTEM_ADMIN, "display_name": "System administrator"}]}),
        );
        assert_eq!(r.status, 200, "{}: {}", db.backend, r.body);
        assert_eq!(role_names(&r.json(), "system_roles"), ["SystemAdmin"]);
        assert_eq!(r.json()["is_superuser"], true);
        assert_eq!(get(&server, &carol, "/api/v1/users/users/").status, 200);
        let carol = token(&server, "carol", "Plain-pass-1");
        let profile = get(&server, &carol, "/api/v1/users/profile/").json();
        assert_eq!(role_names(&profile, "system_roles"), ["SystemAdmin"]);
        assert_eq!(profile["is_superuser"], true);
        // And back: the set is replaced, not added to.
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/users/users/carol/",
            &json!({"system_roles": [SYSTEM_USER]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(role_names(&r.json(), "system_roles"), ["User"]);
        assert_eq!(get(&server, &carol, "/api/v1/users/users/").status, 403);

        // PATCH org_roles: the org binding of the current org is replaced.
        let dave = plain_user(&server, &admin, "dave");
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/users/users/dave/",
            &json!({"org_roles": [{"id": ORG_ADMIN, "name": "OrgAdmin"}]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(role_names(&r.json(), "org_roles"), ["OrgAdmin"]);
        assert_eq!(r.json()["is_org_admin"], true);
        assert_eq!(get(&server, &dave, "/api/v1/users/users/").status, 200);
        let profile = get(&server, &dave, "/api/v1/users/profile/").json();
        assert_eq!(role_names(&profile, "org_roles"), ["OrgAdmin"]);
        assert_eq!(role_names(&profile, "system_roles"), ["User"]);

        // An org admin may not hand out a system role this way either.
        let r = send(
            &server,
            &dave,
            "PATCH",
            "/api/v1/users/users/carol/",
            &json!({"system_roles": [SYSTEM_ADMIN]}),
        );
        assert_eq!(r.status, 403, "{}", r.body);
        let r = get(&server, &admin, "/api/v1/users/users/carol/");
        assert_eq!(role_names(&r.json(), "system_roles"), ["User"]);

        // PUT writes both fields too; unchanged lists are no change.
        let erin = plain_user(&server, &admin, "erin");
        let r = send(
            &server,
            &admin,
            "PUT",
            "/api/v1/users/users/erin/",
            &json!({"name": "Erin", "username": "erin", "email": "erin@example.com",
                    "system_roles": [SYSTEM_ADMIN], "org_roles": [ORG_ADMIN]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(role_names(&r.json(), "system_roles"), ["SystemAdmin"]);
        assert_eq!(role_names(&r.json(), "org_roles"), ["OrgAdmin"]);
        assert_eq!(get(&server, &erin, "/api/v1/users/users/").status, 200);

        // Bad ids change nothing: unknown, or a role of the other scope.
        let cases = [
            ("system_roles", "00000000-0000-0000-0000-0000000000ff"),
            ("system_roles", ORG_ADMIN),
            ("org_roles", SYSTEM_ADMIN),
        ]
        .map(|(field, id)| {
            let body = json!({field: [id], "comment": "not written"});
            (body, field, Says::Has("does not exist"))
        });
        patch_refused(&server, &admin, "/api/v1/users/users/dave/", &cases);
        let r = get(&server, &admin, "/api/v1/users/users/dave/").json();
        assert_eq!(role_names(&r, "org_roles"), ["OrgAdmin"]);

        // `groups` is written on update too, and replaced.
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/users/groups/",
            &json!({"name": "ops"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let ops = r.json()["id"].as_str().unwrap().to_owned();
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/users/users/dave/",
            &json!({"groups": [{"id": ops, "name": "ops"}]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["groups"][0]["name"], "ops", "{}", r.body);
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/users/users/dave/",
            &json!({"groups": []}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["groups"], json!([]), "{}", r.body);

        // A GET-edit-PUT in one org leaves the roles the user holds in another org out: the
        // serializer lists them (with their org_id), the write is for this org only.
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/orgs/orgs/",
            &json!({"name": "Second"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let second = r.json()["id"].as_str().unwrap().to_owned();
        let frank = plain_user(&server, &admin, "frank");
        let frank_id = get(&server, &admin, "/api/v1/users/users/frank/").json()["id"].clone();
        let auth = format!("Bearer {admin}");
        let r = crate::support::http(
            &server.base,
            "POST",
            "/api/v1/rbac/org-role-bindings/",
            &[("Authorization", &auth), ("X-JMS-ORG", &second)],
            Some(&json!({"user": frank_id, "role": ORG_ADMIN})),
        )
        .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        let shown = get(&server, &admin, "/api/v1/users/users/frank/").json();
        let mut names = role_names(&shown, "org_roles");
        names.sort();
        assert_eq!(names, ["OrgAdmin", "OrgUser"], "{shown}");
        let r = send(
            &server,
            &admin,
            "PUT",
            "/api/v1/users/users/frank/",
            &json!({"name": "frank", "username": "frank", "email": "frank@example.com",
                    "org_roles": shown["org_roles"]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.json()["is_org_admin"],
            true,
            "still OrgAdmin of Second: {}",
            r.body
        );
        assert_eq!(
            get(&server, &frank, "/api/v1/users/users/").status,
            403,
            "not in Default"
        );

        // The last system administrator binding stays.
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/users/users/erin/",
            &json!({"system_roles": [SYSTEM_USER]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/users/users/admin/",
            &json!({"system_roles": [SYSTEM_USER]}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("last system administrator"), "{}", r.body);
        assert_eq!(get(&server, &admin, "/api/v1/users/users/").status, 200);
        db.drop_db().await;
    }
}

/// Makes a user through the API (password `Plain-pass-1`) and returns their id.
fn new_user(server: &Server, admin: &str, username: &str) -> String {
    let r = send(
        server,
        admin,
        "POST",
        "/api/v1/users/users/",
        &json!({"name": username, "username": username, "email": format!("{username}@example.com"),
                "password": "Plain-pass-1"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

fn new_group(server: &Server, admin: &str, name: &str) -> String {
    let r = send(
        server,
        admin,
        "POST",
        "/api/v1/users/groups/",
        &json!({ "name": name }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

/// How many `update` entries the operation log holds for one object.
async fn update_logs(f: &mut Fixture, id: &str) -> i64 {
    count(
        f,
        "SELECT COUNT(*) FROM operate_logs WHERE resource_id = $1 AND action = 'update'",
        id,
    )
    .await
}

#[tokio::test]
async fn update_writes_source_public_key_and_password_strategy_or_refuses_them() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        new_user(&server, &admin, "bob");
        new_user(&server, &admin, "eve");
        let bob_path = "/api/v1/users/users/bob/";
        let patch = |body: Value| send(&server, &admin, "PATCH", bob_path, &body);
        let shown = || get(&server, &admin, bob_path).json();
        let refused =
            |cases: &[(Value, &str, Says)]| patch_refused(&server, &admin, bob_path, cases);

        // `source`: an unknown value is DRF's choice error and nothing of the body is written.
        refused(&[(
            json!({"source": "nis", "comment": "not written"}),
            "source",
            Says::Is("\"nis\" is not a valid choice."),
        )]);
        assert_eq!(shown()["source"]["value"], "local");
        // A known one is written (in the serializer's own `{value, label}` shape too) …
        let r = patch(json!({"source": {"value": "ldap", "label": "LDAP/AD"}}));
        assert_eq!(r.status, 200, "{}: {}", db.backend, r.body);
        assert_eq!(
            r.json()["source"],
            json!({"value": "ldap", "label": "LDAP/AD"})
        );
        // … and the source now owns the password: no password login, no reset, no setting one.
        assert_ne!(login(&server, "bob", "Plain-pass-1").status, 201);
        let r = send(
            &server,
            &admin,
            "PUT",
            "/api/v1/users/users/bob/password/reset/",
            &json!({}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        refused(&[(
            json!({"password": "Other-pass-22", "comment": "not written"}),
            "password",
            Says::Has("managed by that source"),
        )]);
        // Back to local: the old password works again (it was never changed).
        let r = patch(json!({"source": "local"}));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(login(&server, "bob", "Plain-pass-1").status, 201);

        // `public_key`: a malformed key is a field error and nothing is written.
        refused(&[(
            json!({"public_key": "ssh-ed25519 not-base64!", "comment": "not written"}),
            "public_key",
            Says::Any,
        )]);
        assert_eq!(shown()["has_public_keys"], false);
        // A valid one becomes one of the user's SSH keys, once.
        let (key, key_file) = keygen(dir.path(), "bob-key", "ed25519", None);
        for _ in 0..2 {
            let r = patch(json!({ "public_key": key }));
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.json()["has_public_keys"], true);
            assert!(
                r.json().get("public_key").is_none(),
                "write-only: {}",
                r.body
            );
        }
        let bob = token(&server, "bob", "Plain-pass-1");
        let keys = get(&server, &bob, "/api/v1/authentication/ssh-key/").json();
        assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
        assert_eq!(keys[0]["fingerprint"], fingerprint(&key_file, "sha256"));
        // Another user cannot take it.
        patch_refused(
            &server,
            &admin,
            "/api/v1/users/users/eve/",
            &[(
                json!({"public_key": key, "comment": "not written"}),
                "public_key",
                Says::Is("This public key is already in use."),
            )],
        );
        let eve = get(&server, &admin, "/api/v1/users/users/eve/").json();
        assert_eq!(eve["has_public_keys"], false);

        refused(&[
            // `password_strategy`: `email` needs mail, which this server cannot send.
            (
                json!({"password_strategy": "email", "comment": "not written"}),
                "password_strategy",
                Says::Has("not configured"),
            ),
            (
                json!({"password_strategy": "sms"}),
                "password_strategy",
                Says::Is("\"sms\" is not a valid choice."),
            ),
            // `custom` takes `password`, which is required and policy-checked.
            (
                json!({"password_strategy": "custom", "comment": "not written"}),
                "password",
                Says::Is("This field is required."),
            ),
            (
                json!({"password_strategy": {"value": "custom"}, "password": "abc"}),
                "password",
                Says::Has("at least"),
            ),
        ]);
        assert_eq!(login(&server, "bob", "Plain-pass-1").status, 201);
        let r = patch(json!({"password_strategy": "custom", "password": "Custom-pass-33"}));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_ne!(login(&server, "bob", "Plain-pass-1").status, 201);
        assert_eq!(login(&server, "bob", "Custom-pass-33").status, 201);
        // The history applies as on `…/password/`.
        refused(&[(
            json!({"password": "Custom-pass-33", "comment": "not written"}),
            "password",
            Says::Has("cannot be the last"),
        )]);

        // Create takes the same fields the same way.
        let create = |body: Value| send(&server, &admin, "POST", "/api/v1/users/users/", &body);
        let base = |name: &str| json!({"name": name, "username": name, "email": format!("{name}@example.com")});
        let mut body = base("carl");
        body["source"] = json!("nis");
        assert_eq!(
            field_error(&create(body), "source"),
            "\"nis\" is not a valid choice."
        );
        let mut body = base("carl");
        body["password_strategy"] = json!("email");
        assert!(field_error(&create(body), "password_strategy").contains("not configured"));
        let mut body = base("carl");
        body["password_strategy"] = json!("custom");
        assert_eq!(
            field_error(&create(body), "password"),
            "This field is required."
        );
        let mut body = base("carl");
        body["public_key"] = json!(key);
        assert_eq!(
            field_error(&create(body), "public_key"),
            "This public key is already in use."
        );
        assert_eq!(
            get(&server, &admin, "/api/v1/users/users/carl/").status,
            404
        );
        let (carl_key, _) = keygen(dir.path(), "carl-key", "ed25519", None);
        let mut body = base("carl");
        body["source"] = json!("openid");
        body["public_key"] = json!(carl_key);
        let r = create(body);
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["source"]["value"], "openid");
        assert_eq!(r.json()["has_public_keys"], true);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn a_user_update_is_one_transaction() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let ops = new_group(&server, &admin, "ops");
        let before = get(&server, &admin, "/api/v1/users/users/admin/").json();
        let (key, _) = keygen(dir.path(), "admin-key", "ed25519", None);

        // Every input is valid, so fields, password, key, labels and groups are written before
        // the roles; the role write is refused (the last SystemAdmin binding) and takes all
        // of it back.
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/users/users/admin/",
            &json!({"name": "Renamed", "comment": "not written", "groups": [ops],
                    "labels": ["env:prod"], "public_key": key, "password": "Never-set-pass-4",
                    "system_roles": [SYSTEM_USER]}),
        );
        assert!(
            field_error(&r, "system_roles").contains("last system administrator"),
            "{}: {}",
            db.backend,
            r.body
        );
        // The admin's token still works: the password change (which ends sessions) is gone too.
        let after = get(&server, &admin, "/api/v1/users/users/admin/");
        assert_eq!(after.status, 200, "{}", after.body);
        let after = after.json();
        for field in [
            "name",
            "comment",
            "groups",
            "labels",
            "has_public_keys",
            "system_roles",
        ] {
            assert_eq!(after[field], before[field], "{field}");
        }
        assert_eq!(after["groups"], json!([]));
        assert_eq!(login(&server, "admin", ADMIN_PASSWORD).status, 201);
        assert_ne!(login(&server, "admin", "Never-set-pass-4").status, 201);

        // The same body without the refused role change is written whole.
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/users/users/admin/",
            &json!({"name": "Renamed", "groups": [ops], "labels": ["env:prod"]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["name"], "Renamed");
        assert_eq!(r.json()["groups"][0]["name"], "ops");
        assert_eq!(
            r.json()["labels"].as_array().unwrap().len(),
            1,
            "{}",
            r.body
        );
        db.drop_db().await;
    }
}

#[tokio::test]
async fn bulk_update_of_users_is_atomic() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let mut f = Fixture::new(&db.url).await;
        let ops = new_group(&server, &admin, "ops");
        let ids: Vec<String> = ["u1", "u2", "u3"]
            .iter()
            .map(|u| new_user(&server, &admin, u))
            .collect();
        let admin_id = user_id(&server, &admin, "admin");
        let list = "/api/v1/users/users/";
        let unchanged = |f: &str| {
            for id in &ids {
                let u = get(&server, &admin, &format!("{list}{id}/")).json();
                assert_eq!(u["comment"], "", "{f}: {u}");
                assert_eq!(u["groups"], json!([]), "{f}: {u}");
            }
        };

        // The last item is invalid: a per-item error list, and nothing is changed.
        let r = send(
            &server,
            &admin,
            "PATCH",
            list,
            &json!([{"id": ids[0], "comment": "one", "groups": [ops]},
                    {"id": ids[1], "comment": "two"},
                    {"id": ids[2], "source": "nis"}]),
        );
        assert_eq!(r.status, 400, "{}: {}", db.backend, r.body);
        assert_eq!(
            r.json(),
            json!([{}, {}, {"source": ["\"nis\" is not a valid choice."]}])
        );
        unchanged("invalid item");

        // Ids: missing, unknown, repeated (by id or by username).
        let r = send(
            &server,
            &admin,
            "PUT",
            list,
            &json!([{"comment": "x"},
                    {"id": "00000000-0000-0000-0000-0000000000ee", "comment": "x"},
                    {"id": ids[0], "comment": "x"},
                    {"id": "u1", "comment": "x"}]),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let errors = r.json();
        assert_eq!(errors[0], json!({"id": ["This field is required."]}));
        assert!(
            errors[1]["id"][0]
                .as_str()
                .unwrap()
                .contains("does not exist"),
            "{errors}"
        );
        assert_eq!(errors[2], json!({}));
        assert_eq!(errors[3], json!({"id": ["Duplicate id in the request."]}));
        unchanged("bad ids");
        let r = send(&server, &admin, "PATCH", list, &json!({"comment": "x"}));
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["non_field_errors"].is_array(), "{}", r.body);

        // Every item is valid, but the last one's write is refused (the last SystemAdmin
        // binding): the whole batch is rolled back and the error list names that item.
        let r = send(
            &server,
            &admin,
            "PATCH",
            list,
            &json!([{"id": ids[0], "comment": "one", "groups": [ops]},
                    {"id": ids[1], "comment": "two"},
                    {"id": admin_id, "system_roles": [SYSTEM_USER]}]),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let errors = r.json();
        assert_eq!(errors[0], json!({}), "{errors}");
        assert_eq!(errors[1], json!({}), "{errors}");
        assert!(
            errors[2]["system_roles"][0]
                .as_str()
                .unwrap()
                .contains("last system administrator"),
            "{errors}"
        );
        unchanged("write-time failure");
        assert_eq!(get(&server, &admin, list).status, 200, "admin kept");
        for id in &ids {
            assert_eq!(update_logs(&mut f, id).await, 0, "nothing logged");
        }

        // A good batch: all changed, in the answer and on reading back, one log entry each.
        let r = send(
            &server,
            &admin,
            "PUT",
            list,
            &json!([{"id": ids[0], "comment": "one", "groups": [ops]},
                    {"id": ids[1], "comment": "two"},
                    {"id": "u3", "comment": "three", "source": "ldap"}]),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let answer = r.json();
        assert_eq!(answer.as_array().unwrap().len(), 3, "{answer}");
        assert_eq!(answer[0]["groups"][0]["name"], "ops");
        for (id, comment) in ids.iter().zip(["one", "two", "three"]) {
            let u = get(&server, &admin, &format!("{list}{id}/")).json();
            assert_eq!(u["comment"], comment, "{u}");
            assert_eq!(update_logs(&mut f, id).await, 1, "{comment}");
        }
        assert_eq!(
            get(&server, &admin, &format!("{list}{}/", ids[2])).json()["source"]["value"],
            "ldap"
        );

        // Changing roles in bulk needs the role-binding rights, as the detail update does.
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("{list}u1/"),
            &json!({"org_roles": [ORG_ADMIN]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let u1 = token(&server, "u1", "Plain-pass-1");
        let r = send(
            &server,
            &u1,
            "PATCH",
            list,
            &json!([{"id": ids[1], "comment": "by u1"},
                    {"id": ids[2], "system_roles": [SYSTEM_ADMIN]}]),
        );
        assert_eq!(r.status, 403, "{}", r.body);
        let u2 = get(&server, &admin, &format!("{list}{}/", ids[1])).json();
        assert_eq!(u2["comment"], "two");
        db.drop_db().await;
    }
}

/// The OpenAPI document says that changing roles through a user update needs the
/// role-binding permissions besides `users.change_user`.
#[tokio::test]
async fn openapi_says_user_updates_changing_roles_need_binding_rights() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let doc = get(&server, &admin, "/api/swagger.json").json();
    for path in ["/api/v1/users/users/{key}/", "/api/v1/users/users/"] {
        for method in ["put", "patch"] {
            let op = &doc["paths"][path][method];
            let text = op["description"].as_str().unwrap_or_default();
            for needle in [
                "`users.change_user` in the current org",
                "`system_roles`",
                "rbac.add_systemrolebinding",
                "rbac.delete_systemrolebinding",
                "`org_roles`",
                "rbac.add_orgrolebinding",
                "rbac.delete_orgrolebinding",
            ] {
                assert!(text.contains(needle), "{method} {path}: {text}");
            }
            assert_eq!(op["x-permissions"]["kind"], "org", "{method} {path}");
            assert_eq!(
                op["x-permissions"]["codes"][0], "users.change_user",
                "{method} {path}"
            );
        }
    }
}
