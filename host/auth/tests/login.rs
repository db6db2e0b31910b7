//! Password logins against a real database: enumeration resistance, lockout, per-IP blocking,
//! account states, login ACLs and the login log.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use portcullis_auth::codes;
use portcullis_store::codec::Flag;
use serde_json::json;
use sqlx::Row;
use support::{Bind, Db, databases, now_micros, t};
use uuid::Uuid;

const MINUTE: i64 = 60_000_000;

/// username, type, ip, user_agent, mfa, reason, backend, status.
type LogRow = (String, String, String, String, i64, String, String, bool);

async fn timed(db: &Db, user: &str, pw: &str) -> (Duration, portcullis_auth::LoginFailure) {
    let start = Instant::now();
    let r = db.login(user, pw, "192.0.2.10").await;
    (start.elapsed(), r.expect_err("login should fail"))
}

#[tokio::test]
async fn unknown_user_and_wrong_password_are_indistinguishable() {
    for db in databases().await {
        db.user("alice", "right-password").await;
        db.set("SECURITY_LOGIN_LIMIT_COUNT", json!(3)).await;
        db.set("SECURITY_LOGIN_LIMIT_TIME", json!(10)).await;

        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for attempt in 1..=3 {
            let (dk, fk) = timed(&db, "alice", "wrong").await;
            let (du, fu) = timed(&db, "ghost", "wrong").await;
            assert_eq!(fk, fu, "{}: attempt {attempt} answers differ", db.name);
            if attempt < 3 {
                assert_eq!(fk.code, codes::PASSWORD_FAILED);
                assert!(
                    fk.msg.contains(&format!("try {} times", 3 - attempt)),
                    "{}",
                    fk.msg
                );
            } else {
                assert_eq!(fk.code, codes::BLOCK_LOGIN, "the limit locks");
            }
            known.push(dk);
            unknown.push(du);
        }
        // Locked now, both of them, and with the same message.
        let real = db.login("alice", "right-password", "192.0.2.10").await;
        let ghost = db.login("ghost", "right-password", "192.0.2.10").await;
        assert_eq!(real.unwrap_err(), ghost.unwrap_err());

        // Unknown users cost an Argon2 verification too. Loose bound: the machine is shared.
        let k = known.iter().min().unwrap().as_secs_f64();
        let u = unknown.iter().min().unwrap().as_secs_f64();
        assert!(
            u > k * 0.3,
            "{}: unknown user answered in {u:.3}s, known in {k:.3}s",
            db.name
        );
    }
}

#[tokio::test]
async fn failures_lock_and_success_resets() {
    for db in databases().await {
        let alice = db.user("alice", "right-password").await;
        db.set("SECURITY_LOGIN_LIMIT_COUNT", json!(3)).await;
        db.set("SECURITY_LOGIN_LIMIT_TIME", json!(10)).await;
        let count = async |db: &Db| {
            db.scalar_i64(
                "SELECT failed_login_count FROM users WHERE id = $1",
                &alice.to_string(),
            )
            .await
        };

        for _ in 0..2 {
            let f = db.login("alice", "wrong", "192.0.2.1").await.unwrap_err();
            assert_eq!(f.code, codes::PASSWORD_FAILED);
        }
        assert_eq!(count(&db).await, Some(2));
        let ok = db
            .login("alice", "right-password", "192.0.2.1")
            .await
            .unwrap();
        assert_eq!(ok.user_id, alice);
        assert_eq!(ok.username, "alice");
        assert!(!ok.need_update_password);
        assert_eq!(ok.notice_acl, None);
        assert_eq!(count(&db).await, Some(0), "success resets the count");
        let last_login = db
            .scalar_i64(
                "SELECT last_login FROM users WHERE id = $1",
                &alice.to_string(),
            )
            .await
            .unwrap();
        assert!((now_micros() - last_login).abs() < MINUTE);

        for expected in [
            codes::PASSWORD_FAILED,
            codes::PASSWORD_FAILED,
            codes::BLOCK_LOGIN,
        ] {
            let f = db.login("alice", "wrong", "192.0.2.1").await.unwrap_err();
            assert_eq!(f.code, expected, "{}", db.name);
        }
        let locked = db
            .scalar_i64(
                "SELECT locked_until FROM users WHERE id = $1",
                &alice.to_string(),
            )
            .await
            .unwrap();
        assert!((locked - (now_micros() + 10 * MINUTE)).abs() < MINUTE);
        let f = db
            .login("alice", "right-password", "192.0.2.1")
            .await
            .unwrap_err();
        assert_eq!(
            f.code,
            codes::BLOCK_LOGIN,
            "locked before the password is checked"
        );
        assert!(f.msg.contains("10 minutes"), "{}", f.msg);

        // The lock passes.
        db.exec(
            "UPDATE users SET locked_until = $1 WHERE id = $2",
            &[Bind::I(now_micros() - 1), t(alice)],
        )
        .await;
        db.login("alice", "right-password", "192.0.2.1")
            .await
            .unwrap();
        assert_eq!(
            db.scalar_i64(
                "SELECT locked_until FROM users WHERE id = $1",
                &alice.to_string()
            )
            .await,
            None
        );
    }
}

#[tokio::test]
async fn ip_failures_block_the_address_first_of_all() {
    for db in databases().await {
        db.user("alice", "right-password").await;
        db.set("SECURITY_LOGIN_IP_LIMIT_COUNT", json!(3)).await;
        db.set("SECURITY_LOGIN_IP_LIMIT_TIME", json!(5)).await;
        let bad_ip = "198.51.100.7";

        let f1 = db.login("nobody1", "x", bad_ip).await.unwrap_err();
        let f2 = db.login("alice", "x", bad_ip).await.unwrap_err();
        assert_eq!(
            (f1.code, f2.code),
            (codes::PASSWORD_FAILED, codes::PASSWORD_FAILED)
        );
        let f3 = db.login("nobody2", "x", bad_ip).await.unwrap_err();
        assert_eq!(f3.code, codes::BLOCK_GLOBAL_IP_LOGIN, "{}", db.name);
        let f4 = db
            .login("alice", "right-password", bad_ip)
            .await
            .unwrap_err();
        assert_eq!(
            f4.code,
            codes::BLOCK_GLOBAL_IP_LOGIN,
            "checked before everything"
        );
        assert!(f4.msg.contains("5 minutes"), "{}", f4.msg);
        db.login("alice", "right-password", "198.51.100.8")
            .await
            .expect("another address is not blocked");

        // IPv4-mapped IPv6 is the same client.
        let f5 = db
            .login("alice", "right-password", "::ffff:198.51.100.7")
            .await
            .unwrap_err();
        assert_eq!(f5.code, codes::BLOCK_GLOBAL_IP_LOGIN);

        // Failures outside the window are forgotten.
        let ip2 = "203.0.113.9";
        db.login("nobody", "x", ip2).await.unwrap_err();
        db.login("nobody", "x", ip2).await.unwrap_err();
        db.exec(
            "UPDATE login_ip_failures SET date_first_failed = $1 WHERE ip = $2",
            &[Bind::I(now_micros() - 6 * MINUTE), t(ip2)],
        )
        .await;
        let f = db.login("nobody", "x", ip2).await.unwrap_err();
        assert_eq!(f.code, codes::PASSWORD_FAILED, "window restarted");
        assert_eq!(
            db.scalar_i64(
                "SELECT failed_count FROM login_ip_failures WHERE ip = $1",
                ip2
            )
            .await,
            Some(1)
        );

        // Success clears the address's row.
        db.login("alice", "right-password", ip2).await.unwrap();
        assert_eq!(
            db.scalar_i64(
                "SELECT failed_count FROM login_ip_failures WHERE ip = $1",
                ip2
            )
            .await,
            None
        );
    }
}

#[tokio::test]
async fn account_states_are_reported_only_after_the_password() {
    for db in databases().await {
        let alice = db.user("alice", "right-password").await;
        let bob = db.user("bob", "right-password").await;
        let carol = db.user("carol", "right-password").await;
        let dave = db.user("dave", "right-password").await;
        db.exec(
            "UPDATE users SET is_active = $1 WHERE id = $2",
            &[Bind::B(false), t(alice)],
        )
        .await;
        db.exec(
            "UPDATE users SET date_expired = $1 WHERE id = $2",
            &[Bind::I(now_micros() - MINUTE), t(bob)],
        )
        .await;
        db.exec(
            "UPDATE users SET source = 'ldap' WHERE id = $1",
            &[t(carol)],
        )
        .await;
        db.exec(
            "UPDATE users SET need_update_password = $1 WHERE id = $2",
            &[Bind::B(true), t(dave)],
        )
        .await;

        assert_eq!(
            db.login("alice", "wrong", "192.0.2.2")
                .await
                .unwrap_err()
                .code,
            codes::PASSWORD_FAILED
        );
        assert_eq!(
            db.login("alice", "right-password", "192.0.2.2")
                .await
                .unwrap_err()
                .code,
            codes::USER_INACTIVE
        );
        assert_eq!(
            db.login("bob", "wrong", "192.0.2.2")
                .await
                .unwrap_err()
                .code,
            codes::PASSWORD_FAILED
        );
        assert_eq!(
            db.login("bob", "right-password", "192.0.2.2")
                .await
                .unwrap_err()
                .code,
            codes::USER_EXPIRED
        );
        assert_eq!(
            db.login("carol", "right-password", "192.0.2.2")
                .await
                .unwrap_err()
                .code,
            codes::PASSWORD_FAILED,
            "no local password check for directory users"
        );
        assert!(
            db.login("dave", "right-password", "192.0.2.2")
                .await
                .unwrap()
                .need_update_password
        );
    }
}

#[tokio::test]
async fn unused_users_are_disabled_at_login() {
    for db in databases().await {
        let alice = db.user("alice", "right-password").await;
        let bob = db.user("bob", "right-password").await;
        db.set("SECURITY_UNCOMMON_USERS_TTL", json!(30)).await;
        let long_ago = now_micros() - 40 * 86_400_000_000;
        db.exec(
            "UPDATE users SET date_joined = $1, last_login = $1 WHERE id = $2",
            &[Bind::I(long_ago), t(alice)],
        )
        .await;
        db.exec(
            "UPDATE users SET date_joined = $1, date_api_key_last_used = $2 WHERE id = $3",
            &[Bind::I(long_ago), Bind::I(now_micros()), t(bob)],
        )
        .await;
        assert_eq!(
            db.login("alice", "wrong", "192.0.2.3")
                .await
                .unwrap_err()
                .code,
            codes::PASSWORD_FAILED
        );
        assert_eq!(
            db.login("alice", "right-password", "192.0.2.3")
                .await
                .unwrap_err()
                .code,
            codes::USER_INACTIVE
        );
        let active: Flag = sqlx::query_scalar("SELECT is_active FROM users WHERE id = $1")
            .bind(alice.to_string())
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert!(
            !active.0,
            "the user is disabled, as JumpServer's daily task does"
        );
        db.login("bob", "right-password", "192.0.2.3")
            .await
            .expect("recent API use keeps a user");
    }
}

async fn login_acl(
    db: &Db,
    name: &str,
    priority: i64,
    action: &str,
    users: serde_json::Value,
    rules: serde_json::Value,
) -> Uuid {
    let id = Uuid::new_v4();
    db.exec(
        "INSERT INTO login_acls (id, name, priority, action, is_active, users, rules,
            date_created, date_updated)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        &[
            t(id),
            t(name),
            Bind::I(priority),
            t(action),
            Bind::B(true),
            t(users),
            t(rules),
            Bind::I(now_micros()),
        ],
    )
    .await;
    id
}

fn username_is(name: &str) -> serde_json::Value {
    json!({"type": "attrs", "attrs": [{"name": "username", "match": "exact", "value": name}]})
}

#[tokio::test]
async fn login_acls_decide_after_the_password() {
    for db in databases().await {
        let alice = db.user("alice", "right-password").await;
        db.user("bob", "right-password").await;
        let carol = db.user("carol", "right-password").await;
        db.user("dave", "right-password").await;
        db.user("erin", "right-password").await;

        login_acl(
            &db,
            "alice from lan",
            10,
            "reject",
            username_is("alice"),
            json!({"ip_group": ["10.0.0.0/8"]}),
        )
        .await;
        login_acl(
            &db,
            "bob review",
            10,
            "review",
            username_is("bob"),
            json!({}),
        )
        .await;
        let notice = login_acl(
            &db,
            "carol notice",
            10,
            "notice",
            username_is("carol"),
            json!({"ip_group": ["*"]}),
        )
        .await;
        // No time at all: never applies.
        login_acl(
            &db,
            "dave never",
            10,
            "reject",
            username_is("dave"),
            json!({"time_period": []}),
        )
        .await;
        // Every day, all day (local time): always applies.
        let all_week: Vec<_> = (0..7)
            .map(|d| json!({"id": d, "value": "00:00~00:00"}))
            .collect();
        login_acl(
            &db,
            "erin always",
            10,
            "reject",
            username_is("erin"),
            json!({"time_period": all_week}),
        )
        .await;
        // Alice is accepted explicitly elsewhere.
        let accept = login_acl(
            &db,
            "alice elsewhere",
            20,
            "accept",
            username_is("alice"),
            json!({}),
        )
        .await;
        db.exec(
            "INSERT INTO acl_reviewers (acl_type, acl_id, user_id) VALUES ('login', $1, $2)",
            &[t(notice), t(alice)],
        )
        .await;

        assert_eq!(
            db.login("alice", "wrong", "10.1.2.3")
                .await
                .unwrap_err()
                .code,
            codes::PASSWORD_FAILED,
            "the ACL is not consulted before the password"
        );
        let f = db
            .login("alice", "right-password", "10.1.2.3")
            .await
            .unwrap_err();
        assert_eq!(f.code, codes::ACL_NOT_ALLOW, "{}", db.name);
        let ok = db
            .login("alice", "right-password", "192.0.2.4")
            .await
            .unwrap();
        assert_eq!(ok.notice_acl, None, "accept {accept} is not a notice");

        let f = db
            .login("bob", "right-password", "192.0.2.4")
            .await
            .unwrap_err();
        // A review nobody can give is a refusal (reviews with reviewers open a ticket; see
        // the e2e login review test).
        assert_eq!(f.code, codes::ACL_NOT_ALLOW);
        assert!(f.msg.contains("no reviewer"), "{}", f.msg);
        assert_eq!(f.ticket, None);

        let ok = db
            .login("carol", "right-password", "192.0.2.4")
            .await
            .unwrap();
        assert_eq!((ok.user_id, ok.notice_acl), (carol, Some(notice)));

        db.login("dave", "right-password", "192.0.2.4")
            .await
            .expect("window never open");
        assert_eq!(
            db.login("erin", "right-password", "192.0.2.4")
                .await
                .unwrap_err()
                .code,
            codes::ACL_NOT_ALLOW
        );
    }
}

#[tokio::test]
async fn every_attempt_writes_one_log_row() {
    for db in databases().await {
        db.user("alice", "right-password").await;
        db.set("SECURITY_LOGIN_LIMIT_COUNT", json!(2)).await;
        let typed_long = "x".repeat(300);

        db.login("alice", "right-password", "192.0.2.5")
            .await
            .unwrap();
        db.auth
            .login(&portcullis_auth::LoginRequest {
                username: "alice".into(),
                password: "wrong".into(),
                ip: "2001:db8::1".parse().unwrap(),
                user_agent: "koko".into(),
                login_type: portcullis_auth::LoginType::T,
                backend: "password".into(),
            })
            .await
            .unwrap_err();
        db.login("alice", "wrong", "192.0.2.5").await.unwrap_err(); // locks
        db.login("alice", "right-password", "192.0.2.5")
            .await
            .unwrap_err(); // blocked
        db.login(&typed_long, "x", "192.0.2.5").await.unwrap_err();

        let rows = sqlx::query(
            "SELECT username, type, ip, user_agent, mfa, reason, backend, status, datetime
             FROM login_logs ORDER BY datetime",
        )
        .fetch_all(db.store.pool())
        .await
        .unwrap();
        let got: Vec<LogRow> = rows
            .iter()
            .map(|r| {
                let dt: i64 = r.get("datetime");
                assert!((now_micros() - dt).abs() < 10 * MINUTE);
                (
                    r.get("username"),
                    r.get("type"),
                    r.get("ip"),
                    r.get("user_agent"),
                    r.get("mfa"),
                    r.get("reason"),
                    r.get("backend"),
                    r.get::<Flag, _>("status").0,
                )
            })
            .collect();
        let row = |u: &str, ty: &str, ip: &str, ua: &str, reason: &str, ok: bool| {
            (
                u.to_owned(),
                ty.to_owned(),
                ip.to_owned(),
                ua.to_owned(),
                0i64,
                reason.to_owned(),
                "password".to_owned(),
                ok,
            )
        };
        assert_eq!(
            got,
            vec![
                row("alice", "W", "192.0.2.5", "test-agent/1.0", "", true),
                row(
                    "alice",
                    "T",
                    "2001:db8::1",
                    "koko",
                    codes::PASSWORD_FAILED,
                    false
                ),
                row(
                    "alice",
                    "W",
                    "192.0.2.5",
                    "test-agent/1.0",
                    codes::BLOCK_LOGIN,
                    false
                ),
                row(
                    "alice",
                    "W",
                    "192.0.2.5",
                    "test-agent/1.0",
                    codes::BLOCK_LOGIN,
                    false
                ),
                row(
                    &"x".repeat(128),
                    "W",
                    "192.0.2.5",
                    "test-agent/1.0",
                    codes::PASSWORD_FAILED,
                    false
                ),
            ],
            "{}",
            db.name
        );
    }
}

#[tokio::test]
async fn security_settings_come_from_the_settings_table() {
    for db in databases().await {
        let s = db.auth.security().await.unwrap();
        assert_eq!(s, portcullis_auth::SecuritySettings::default());
        assert_eq!(
            (
                s.login_limit_count,
                s.login_limit_time,
                s.login_ip_limit_count,
                s.login_ip_limit_time
            ),
            (7, 30, 50, 30)
        );
        assert_eq!(
            (s.token_expiration, s.signature_max_skew, s.inactive_days),
            (86_400, 300, 0)
        );
        db.set("SECURITY_LOGIN_LIMIT_COUNT", json!(5)).await;
        db.set("TOKEN_EXPIRATION", json!("3600")).await;
        db.set("PORTCULLIS_SIGNATURE_MAX_SKEW", json!(60)).await;
        db.set("SECURITY_PASSWORD_SPECIAL_CHAR", json!(true)).await;
        let s = db.auth.security().await.unwrap();
        assert_eq!(s.login_limit_count, 5);
        assert_eq!(s.token_expiration, 3600);
        assert_eq!(s.signature_max_skew, 60);
        assert!(s.password_policy.special_char);
    }
}

#[test]
fn login_request_debug_hides_the_password() {
    let req = portcullis_auth::LoginRequest {
        username: "alice".into(),
        password: "hunter2".into(),
        ip: "127.0.0.1".parse().unwrap(),
        user_agent: String::new(),
        login_type: portcullis_auth::LoginType::U,
        backend: "password".into(),
    };
    assert!(!format!("{req:?}").contains("hunter2"));
}
