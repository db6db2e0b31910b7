//! Password expiry (`SECURITY_PASSWORD_EXPIRATION_TIME`, days): a login with a right but
//! expired password is refused with JumpServer's 400 `{"error": "<exception text>"}` (§2.2,
//! code `passwd_has_expired`) and logged with that reason; the user sets a new password at
//! `/authentication/password/expired/` (old password checked like a login) and then logs in.
//! Every password change moves `date_password_last_updated`.

use crate::api_mfa::set_setting;
use crate::client::*;
use crate::fixture::{Fixture, now};
use crate::support::{TestDb, http};
use serde_json::{Value, json};

const EXPIRED: &str = "/api/v1/authentication/password/expired/";
const DAY_US: i64 = 86_400_000_000;

fn post_anon(
    server: &crate::support::Server,
    path: &str,
    body: &Value,
) -> crate::support::HttpResponse {
    http(&server.base, "POST", path, &[], Some(body)).unwrap()
}

async fn last_updated(f: &mut Fixture, username: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT date_password_last_updated FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(&mut f.conn)
        .await
        .unwrap()
}

async fn age_password(f: &mut Fixture, username: &str, days: i64) {
    sqlx::query("UPDATE users SET date_password_last_updated = $1 WHERE username = $2")
        .bind(now() - days * DAY_US)
        .bind(username)
        .execute(&mut f.conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn expired_passwords_are_refused_at_login_and_replaced() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let pw = create_user(dir.path(), &db, "aging", "user");
        let mut f = Fixture::new(&db.url).await;
        let created = last_updated(&mut f, "aging").await;
        assert!(created > now() - 600_000_000, "set when the user is made");

        // The setting goes through the settings API and is announced publicly.
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/settings/setting/?category=security_password",
            &json!({"SECURITY_PASSWORD_EXPIRATION_TIME": 30}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let bad = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/settings/setting/?category=security_password",
            &json!({"SECURITY_PASSWORD_EXPIRATION_TIME": 0}),
        );
        assert_eq!(bad.status, 400, "{}", bad.body);
        let public = get(&server, &admin, "/api/v1/settings/public/");
        assert_eq!(
            public.json()["SECURITY_PASSWORD_EXPIRATION_TIME"],
            30,
            "{}",
            public.body
        );

        // 29 days old: still fine.
        age_password(&mut f, "aging", 29).await;
        assert_eq!(login(&server, "aging", &pw).status, 201);

        // 31 days old: refused, with the reference's shape, and no token.
        age_password(&mut f, "aging", 31).await;
        let r = login(&server, "aging", &pw);
        assert_eq!(r.status, 400, "{}", r.body);
        let body = r.json();
        assert_eq!(
            body["error"], "Your password has expired, please reset before logging in",
            "{}",
            r.body
        );
        assert_eq!(body["code"], "passwd_has_expired");
        assert_eq!(body["data"]["url"], EXPIRED);
        assert!(body.get("token").is_none());
        // A wrong password still says only that: expiry is not revealed before the password.
        let wrong = login(&server, "aging", "not-the-password");
        assert_eq!(wrong.status, 400);
        assert_eq!(wrong.json()["error"], "password_failed", "{}", wrong.body);

        // The login log keeps the reason.
        let logs = get(&server, &admin, "/api/v1/audits/login-logs/?username=aging");
        assert_eq!(logs.status, 200, "{}", logs.body);
        let rows = crate::support::rows(&logs);
        let refused = rows
            .iter()
            .find(|l| l["reason"] == "passwd_has_expired")
            .unwrap_or_else(|| panic!("no expired row in {}", logs.body));
        assert_eq!(refused["status"]["value"], false, "{refused}");
        assert_eq!(refused["reason_display"], "The password has expired");

        // Replacing it: every field is required, unknown fields refused.
        let r = post_anon(&server, EXPIRED, &json!({"username": "aging"}));
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["old_password"].is_array(), "{}", r.body);
        assert!(r.json()["new_password"].is_array(), "{}", r.body);
        let r = post_anon(
            &server,
            EXPIRED,
            &json!({"username": "aging", "old_password": pw, "new_password": "Fresh-Pass-2026",
                    "new_password_again": "Fresh-Pass-2026", "is_superuser": true}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["is_superuser"].is_array(), "{}", r.body);
        // The old password is checked like a login's and counted.
        let r = post_anon(
            &server,
            EXPIRED,
            &json!({"username": "aging", "old_password": "guess", "new_password": "Fresh-Pass-2026",
                    "new_password_again": "Fresh-Pass-2026"}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.json()["error"], "password_failed", "{}", r.body);
        let failures: i64 =
            sqlx::query_scalar("SELECT failed_login_count FROM users WHERE username = 'aging'")
                .fetch_one(&mut f.conn)
                .await
                .unwrap();
        assert_eq!(
            failures, 2,
            "the wrong login and the wrong change both count"
        );
        let r = post_anon(
            &server,
            EXPIRED,
            &json!({"username": "aging", "old_password": pw, "new_password": "Fresh-Pass-2026",
                    "new_password_again": "Fresh-Pass-2027"}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["new_password_again"].is_array(), "{}", r.body);
        // The policy and the history apply.
        let r = post_anon(
            &server,
            EXPIRED,
            &json!({"username": "aging", "old_password": pw, "new_password": "abc",
                    "new_password_again": "abc"}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["new_password"].is_array(), "{}", r.body);
        let r = post_anon(
            &server,
            EXPIRED,
            &json!({"username": "aging", "old_password": pw, "new_password": pw,
                    "new_password_again": pw}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["new_password"].is_array(), "{}", r.body);
        assert_eq!(
            login(&server, "aging", &pw).status,
            400,
            "nothing changed yet"
        );

        let before = now();
        let r = post_anon(
            &server,
            EXPIRED,
            &json!({"username": "aging", "old_password": pw, "new_password": "Fresh-Pass-2026",
                    "new_password_again": "Fresh-Pass-2026"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({"msg": "ok"}));
        assert!(last_updated(&mut f, "aging").await >= before);
        assert_eq!(
            login(&server, "aging", &pw).status,
            400,
            "the old one is gone"
        );
        let user_token = token(&server, "aging", "Fresh-Pass-2026");
        let me = get(&server, &user_token, "/api/v1/users/profile/");
        assert!(
            me.json()["date_password_last_updated"].is_string(),
            "{}",
            me.body
        );
        let changes = get(&server, &admin, "/api/v1/audits/password-change-logs/");
        assert!(
            crate::support::rows(&changes)
                .iter()
                .any(|c| c["user"].as_str().is_some_and(|u| u.contains("aging"))),
            "{}",
            changes.body
        );

        // A valid password is not changed this way.
        let r = post_anon(
            &server,
            EXPIRED,
            &json!({"username": "aging", "old_password": "Fresh-Pass-2026",
                    "new_password": "Other-Pass-2026", "new_password_again": "Other-Pass-2026"}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["old_password"].is_array(), "{}", r.body);

        // The profile change and an administrator's reset move the date too.
        age_password(&mut f, "aging", 10).await;
        let before = now();
        let r = send(
            &server,
            &user_token,
            "PUT",
            "/api/v1/users/profile/password/",
            &json!({"old_password": "Fresh-Pass-2026", "new_password": "Third-Pass-2026",
                    "new_password_again": "Third-Pass-2026"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(last_updated(&mut f, "aging").await >= before);
        age_password(&mut f, "aging", 40).await;
        assert_eq!(login(&server, "aging", "Third-Pass-2026").status, 400);
        let id: String = sqlx::query_scalar("SELECT id FROM users WHERE username = 'aging'")
            .fetch_one(&mut f.conn)
            .await
            .unwrap();
        let r = send(
            &server,
            &admin,
            "PUT",
            &format!("/api/v1/users/users/{id}/password/"),
            &json!({"password": "Admin-Set-2026"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(login(&server, "aging", "Admin-Set-2026").status, 201);

        // Lowering the setting expires passwords at once; raising it back lets them in.
        set_setting(&mut f, "SECURITY_PASSWORD_EXPIRATION_TIME", "1").await;
        age_password(&mut f, "aging", 2).await;
        assert_eq!(login(&server, "aging", "Admin-Set-2026").status, 400);
        set_setting(&mut f, "SECURITY_PASSWORD_EXPIRATION_TIME", "9999").await;
        assert_eq!(login(&server, "aging", "Admin-Set-2026").status, 201);

        drop(server);
        db.drop_db().await;
    }
}

/// `is_password_expired` (reference §4.1): the user list filter keeps the users whose password
/// is older than `SECURITY_PASSWORD_EXPIRATION_TIME` (or the others with `0`), and the user
/// serializer shows the same value.
#[tokio::test]
async fn the_user_list_filters_by_password_expiry() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        create_user(dir.path(), &db, "fresh", "user");
        create_user(dir.path(), &db, "stale", "user");
        let mut f = Fixture::new(&db.url).await;
        age_password(&mut f, "stale", 40).await;
        let r = send(
            &server,
            &admin,
            "PATCH",
            "/api/v1/settings/setting/?category=security_password",
            &json!({"SECURITY_PASSWORD_EXPIRATION_TIME": 30}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let users = |q: &str| -> Vec<(String, Value)> {
            let r = get(&server, &admin, &format!("/api/v1/users/users/?{q}"));
            assert_eq!(r.status, 200, "{}: {}", db.backend, r.body);
            let mut v: Vec<(String, Value)> = r
                .json()
                .as_array()
                .unwrap()
                .iter()
                .map(|u| {
                    (
                        u["username"].as_str().unwrap().to_owned(),
                        u["is_password_expired"].clone(),
                    )
                })
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        assert_eq!(
            users("is_password_expired=1"),
            [("stale".to_owned(), json!(true))],
            "{}",
            db.backend
        );
        assert_eq!(
            users("is_password_expired=false&username__in=stale,fresh"),
            [("fresh".to_owned(), json!(false))]
        );
        let stale = users("username=stale");
        assert_eq!(stale[0].1, json!(true));
        let r = get(&server, &admin, "/api/v1/users/users/stale/");
        assert_eq!(r.json()["is_password_expired"], json!(true), "{}", r.body);
        drop(server);
        db.drop_db().await;
    }
}
