//! MFA, web sessions and step-up confirmation over HTTP, the way a browser and a JumpServer
//! script drive them: TOTP binding, the two-step login (§2.2), the session cookie with CSRF
//! (§2.5), confirmation before reading account secrets (§2.8), and lockout on wrong codes.
//! TOTP codes are computed here independently of the server (RFC 6238 with HMAC-SHA1).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::client::*;
use crate::fixture::{Fixture, now};
use crate::support::{HttpResponse, Server, TestDb, http};
use hmac13::{KeyInit, Mac};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// A cookie-aware client
// ---------------------------------------------------------------------------------------------

/// The cookies a browser would keep, updated from every answer's `Set-Cookie`.
#[derive(Default, Clone)]
pub(crate) struct Jar(BTreeMap<String, String>);

impl Jar {
    pub(crate) fn absorb(&mut self, r: &HttpResponse) {
        for (name, value) in &r.headers {
            if name != "set-cookie" {
                continue;
            }
            let first = value.split(';').next().unwrap_or_default();
            let Some((k, v)) = first.split_once('=') else {
                continue;
            };
            let gone = value
                .split(';')
                .any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            if gone || v.is_empty() {
                self.0.remove(k.trim());
            } else {
                self.0.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The password step of the login API (`POST` [`AUTH`] with username and password, no
    /// CSRF header), which every MFA test starts with; what it answers depends on the test.
    pub(crate) fn password_step(
        &mut self,
        server: &Server,
        username: &str,
        password: &str,
    ) -> HttpResponse {
        self.send(
            server,
            "POST",
            AUTH,
            Some(&json!({"username": username, "password": password})),
            false,
        )
    }

    /// A request with the jar's cookies (and, when `csrf`, the `X-CSRFToken` header a page
    /// would copy from the CSRF cookie); the answer's cookies go back into the jar.
    pub(crate) fn send(
        &mut self,
        server: &Server,
        method: &str,
        path: &str,
        body: Option<&Value>,
        csrf: bool,
    ) -> HttpResponse {
        let cookie = self.header();
        let token = self.get("jms_csrftoken").unwrap_or_default().to_owned();
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if !cookie.is_empty() {
            headers.push(("Cookie", &cookie));
        }
        if csrf {
            headers.push(("X-CSRFToken", &token));
        }
        let r = http(&server.base, method, path, &headers, body).unwrap();
        self.absorb(&r);
        r
    }
}

fn set_cookie<'a>(r: &'a HttpResponse, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.as_str())
        .find(|v| v.starts_with(&format!("{name}=")))
}

// ---------------------------------------------------------------------------------------------
// An independent TOTP
// ---------------------------------------------------------------------------------------------

fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u64, 0u32);
    for c in text.trim_end_matches('=').chars() {
        let v = ALPHABET.find(c.to_ascii_uppercase()).expect("base32") as u64;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

fn totp_at(key: &[u8], step: u64) -> String {
    let mut mac = hmac13::Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    mac.update(&step.to_be_bytes());
    let d = mac.finalize().into_bytes();
    let o = (d[19] & 0x0f) as usize;
    let n = u32::from_be_bytes([d[o] & 0x7f, d[o + 1], d[o + 2], d[o + 3]]) % 1_000_000;
    format!("{n:06}")
}

/// The codes of one authenticator. The server accepts each step once, so every call returns
/// a later step than the last, within the ±1-step window: the previous step while the current
/// one is young (far from a boundary), then the current, then the next; it waits only when
/// those are used up.
pub(crate) struct Otp {
    key: Vec<u8>,
    last: u64,
}

impl Otp {
    pub(crate) fn new(secret: &str) -> Otp {
        Otp {
            key: base32_decode(secret),
            last: 0,
        }
    }

    pub(crate) fn next(&mut self) -> String {
        loop {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            let cur = (now / 30.0) as u64;
            let into = now - (cur * 30) as f64;
            let lo = if into < 25.0 { cur - 1 } else { cur };
            let step = (self.last + 1).max(lo);
            if step <= cur + 1 {
                self.last = step;
                return totp_at(&self.key, step);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// A code that is none of the acceptable ones.
    pub(crate) fn wrong(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 30;
        let valid: Vec<String> = (now - 2..=now + 2).map(|s| totp_at(&self.key, s)).collect();
        (0..10)
            .map(|i| format!("{i}{i}{i}{i}{i}{i}"))
            .find(|c| !valid.contains(c))
            .unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

const AUTH: &str = "/api/v1/authentication/auth/";
const CHALLENGE: &str = "/api/v1/authentication/mfa/challenge/";
const SETUP: &str = "/api/v1/authentication/mfa/setup/";
const CONFIRM: &str = "/api/v1/authentication/confirm/";

/// Binds MFA for the holder of `token` and returns their authenticator.
fn bind_mfa(server: &Server, token: &str) -> Otp {
    let r = get(server, token, SETUP);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let secret = r.json()["secret"].as_str().unwrap().to_owned();
    let uri = r.json()["otp_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("otpauth://totp/Portcullis:"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    let mut otp = Otp::new(&secret);
    let wrong = send(server, token, "POST", SETUP, &json!({"code": otp.wrong()}));
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert_eq!(wrong.json()["error"], "mfa_failed");
    let ok = send(server, token, "POST", SETUP, &json!({"code": otp.next()}));
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(get(server, token, SETUP).status, 400, "already bound");
    otp
}

/// Logs in with MFA through the jar: password → `mfa_required` → code → 201.
fn mfa_login(
    server: &Server,
    jar: &mut Jar,
    username: &str,
    password: &str,
    otp: &mut Otp,
) -> Value {
    let r = jar.password_step(server, username, password);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["error"], "mfa_required", "{}", r.body);
    let c = jar.send(
        server,
        "POST",
        CHALLENGE,
        Some(&json!({"type": "otp", "code": otp.next()})),
        false,
    );
    assert_eq!(c.status, 200, "{}", c.body);
    let done = jar.send(server, "POST", AUTH, Some(&json!({})), false);
    assert_eq!(done.status, 201, "{}", done.body);
    done.json()
}

pub(crate) async fn set_setting(f: &mut Fixture, name: &str, value: &str) {
    sqlx::query(
        "INSERT INTO settings (name, category, value, date_updated) VALUES ($1, 'security', $2, $3)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(value)
    .bind(now())
    .execute(&mut f.conn)
    .await
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn mfa_binding_and_the_two_step_login_as_in_the_reference() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let pw = create_user(dir.path(), &db, "mfauser", "user");
        let token = token(&server, "mfauser", &pw);
        let mut otp = bind_mfa(&server, &token);
        let me = get(&server, &token, "/api/v1/users/profile/");
        assert_eq!(me.json()["mfa_level"]["value"], 1, "{}", me.body);

        // The secret is sealed at rest.
        let mut f = Fixture::new(&db.url).await;
        let stored: String =
            sqlx::query_scalar("SELECT mfa_secret FROM users WHERE username = 'mfauser'")
                .fetch_one(&mut f.conn)
                .await
                .unwrap();
        assert!(stored.starts_with("pcv1:"), "{stored}");

        // Step 1: the password alone gives no token, but an unfinished-login cookie.
        let mut jar = Jar::default();
        let r = jar.password_step(&server, "mfauser", &pw);
        assert_eq!(r.status, 200, "{}: {}", db.backend, r.body);
        assert_eq!(
            r.json(),
            json!({"error": "mfa_required", "msg": "MFA required",
                   "data": {"choices": ["otp"], "url": CHALLENGE}})
        );
        let cookie = set_cookie(&r, "jms_sessionid").unwrap();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        let pending = jar.get("jms_sessionid").unwrap().to_owned();
        // Calling /auth/ again before the code: still mfa_required.
        let again = jar.send(&server, "POST", AUTH, None, false);
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(again.json()["error"], "mfa_required");
        // The unfinished login does not authenticate anything.
        let anon = jar.send(&server, "GET", "/api/v1/users/profile/", None, false);
        assert_eq!(anon.status, 401);

        // Step 2: the code. Without the cookie there is nothing to continue.
        let stray = http(
            &server.base,
            "POST",
            CHALLENGE,
            &[],
            Some(&json!({"type": "otp", "code": "123456"})),
        )
        .unwrap();
        assert_eq!(stray.status, 401, "{}", stray.body);
        let bad = jar.send(
            &server,
            "POST",
            CHALLENGE,
            Some(&json!({"type": "otp", "code": otp.wrong()})),
            false,
        );
        assert_eq!(bad.status, 401, "{}", bad.body);
        assert_eq!(bad.json()["error"], "mfa_failed");
        assert!(
            bad.json()["msg"].as_str().unwrap().contains("6 times"),
            "{}",
            bad.body
        );
        let sms = jar.send(
            &server,
            "POST",
            CHALLENGE,
            Some(&json!({"type": "sms", "code": "1"})),
            false,
        );
        assert_eq!(sms.status, 400, "{}", sms.body);
        let good = jar.send(
            &server,
            "POST",
            "/api/v1/authentication/mfa/verify/",
            Some(&json!({"type": "otp", "code": otp.next()})),
            false,
        );
        assert_eq!(good.status, 200, "{}", good.body);
        assert_eq!(good.json(), json!({"msg": "ok"}));

        // Step 3: /auth/ again with the cookie and no credentials.
        let done = jar.send(&server, "POST", AUTH, None, false);
        assert_eq!(done.status, 201, "{}", done.body);
        let body = done.json();
        assert_eq!(body["keyword"], "Bearer");
        assert_eq!(body["user"]["username"], "mfauser");
        let mfa_token = body["token"].as_str().unwrap().to_owned();
        assert_eq!(
            get(&server, &mfa_token, "/api/v1/users/profile/").status,
            200
        );
        // A fresh session cookie replaces the unfinished one, with a CSRF cookie.
        let session = jar.get("jms_sessionid").unwrap().to_owned();
        assert_ne!(session, pending);
        assert!(jar.get("jms_csrftoken").is_some());
        let old = http(
            &server.base,
            "POST",
            AUTH,
            &[("Cookie", &format!("jms_sessionid={pending}"))],
            Some(&json!({})),
        )
        .unwrap();
        assert_eq!(
            old.status, 400,
            "the unfinished login is gone: {}",
            old.body
        );

        // The log: a failed code (mfa 2) and the MFA login (mfa 1); nothing for step 1.
        let mfa_rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT reason, mfa FROM login_logs WHERE username = 'mfauser' ORDER BY datetime",
        )
        .fetch_all(&mut f.conn)
        .await
        .unwrap();
        assert_eq!(
            mfa_rows,
            [
                (String::new(), 0),
                ("mfa_failed".to_owned(), 2),
                (String::new(), 1)
            ],
            "{}",
            db.backend
        );

        // Unbinding needs a current code; then the password alone logs in again.
        let reset = "/api/v1/users/profile/mfa/reset/";
        let wrong = send(
            &server,
            &mfa_token,
            "POST",
            reset,
            &json!({"code": otp.wrong()}),
        );
        assert_eq!(wrong.status, 400, "{}", wrong.body);
        assert_eq!(wrong.json()["error"], "mfa_failed");
        let ok = send(
            &server,
            &mfa_token,
            "POST",
            reset,
            &json!({"code": otp.next()}),
        );
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(login(&server, "mfauser", &pw).status, 201);
        let me = get(&server, &mfa_token, "/api/v1/users/profile/");
        assert_eq!(me.json()["mfa_level"]["value"], 0, "{}", me.body);
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn forced_mfa_without_a_bound_secret_is_refused() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let pw = create_user(dir.path(), &db, "plain", "user");
    let mut f = Fixture::new(&db.url).await;

    // SECURITY_MFA_AUTH = 2: administrators only.
    set_setting(&mut f, "SECURITY_MFA_AUTH", "2").await;
    let admin = login(&server, "admin", ADMIN_PASSWORD);
    assert_eq!(admin.status, 400, "{}", admin.body);
    assert_eq!(admin.json()["error"], "MFA unset, please set first");
    assert_eq!(admin.json()["code"], "mfa_unset");
    assert_eq!(login(&server, "plain", &pw).status, 201);

    // SECURITY_MFA_AUTH = 1: everyone.
    set_setting(&mut f, "SECURITY_MFA_AUTH", "1").await;
    let plain = login(&server, "plain", &pw);
    assert_eq!(plain.status, 400, "{}", plain.body);
    assert_eq!(plain.json()["error"], "MFA unset, please set first");

    // mfa_level 2 on the user, with the global switch off.
    set_setting(&mut f, "SECURITY_MFA_AUTH", "0").await;
    assert_eq!(login(&server, "plain", &pw).status, 201);
    sqlx::query("UPDATE users SET mfa_level = 2 WHERE username = 'plain'")
        .execute(&mut f.conn)
        .await
        .unwrap();
    assert_eq!(login(&server, "plain", &pw).status, 400);
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT reason FROM login_logs WHERE username = 'plain' ORDER BY datetime",
    )
    .fetch_all(&mut f.conn)
    .await
    .unwrap();
    assert_eq!(reasons, ["", "mfa_unset", "", "mfa_unset"]);
}

#[tokio::test]
async fn the_session_cookie_authenticates_and_unsafe_methods_need_the_csrf_header() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let mut jar = Jar::default();
        let r = jar.password_step(&server, "admin", ADMIN_PASSWORD);
        assert_eq!(r.status, 201, "{}", r.body);
        let session = set_cookie(&r, "jms_sessionid").unwrap();
        assert!(
            session.contains("HttpOnly") && session.contains("Max-Age=86400"),
            "{session}"
        );
        let csrf = set_cookie(&r, "jms_csrftoken").unwrap();
        assert!(!csrf.contains("HttpOnly"), "the page must read it: {csrf}");
        let key = jar.get("jms_sessionid").unwrap().to_owned();

        // Only a hash of the cookie is stored.
        let mut f = Fixture::new(&db.url).await;
        let stored: Vec<String> = sqlx::query_scalar("SELECT key_hash FROM user_sessions")
            .fetch_all(&mut f.conn)
            .await
            .unwrap();
        assert_eq!(stored.len(), 1);
        assert!(!stored[0].contains(&key));

        let me = jar.send(&server, "GET", "/api/v1/users/profile/", None, false);
        assert_eq!(me.status, 200, "{}: {}", db.backend, me.body);
        assert_eq!(me.json()["username"], "admin");

        // An unsafe method without the header is anonymous; a wrong header too.
        let keys = "/api/v1/authentication/access-keys/";
        let no_csrf = jar.send(&server, "POST", keys, Some(&json!({})), false);
        assert_eq!(no_csrf.status, 401, "{}", no_csrf.body);
        assert_eq!(no_csrf.json()["code"], "not_authenticated");
        let cookie = jar.header();
        let forged = http(
            &server.base,
            "POST",
            keys,
            &[("Cookie", &cookie), ("X-CSRFToken", "forged")],
            Some(&json!({})),
        )
        .unwrap();
        assert_eq!(forged.status, 401, "{}", forged.body);
        // A CSRF cookie and header that agree but were not issued with the session fail too.
        let tossed = http(
            &server.base,
            "POST",
            keys,
            &[
                (
                    "Cookie",
                    &format!("jms_sessionid={key}; jms_csrftoken=tossed"),
                ),
                ("X-CSRFToken", "tossed"),
            ],
            Some(&json!({})),
        )
        .unwrap();
        assert_eq!(tossed.status, 401, "{}", tossed.body);
        // Creating a key also needs a fresh password confirmation in the session (§2.4).
        let confirmed = jar.send(
            &server,
            "POST",
            "/api/v1/authentication/confirm/",
            Some(&json!({"confirm_type": "password", "secret_key": ADMIN_PASSWORD})),
            true,
        );
        assert_eq!(confirmed.status, 200, "{}", confirmed.body);
        let with_csrf = jar.send(&server, "POST", keys, Some(&json!({})), true);
        assert_eq!(with_csrf.status, 201, "{}", with_csrf.body);

        // A bearer header still wins over the cookie.
        let other_pw = create_user(dir.path(), &db, "other", "user");
        let other = token(&server, "other", &other_pw);
        let auth = format!("Bearer {other}");
        let mixed = http(
            &server.base,
            "GET",
            "/api/v1/users/profile/",
            &[("Cookie", &jar.header()), ("Authorization", &auth)],
            None,
        )
        .unwrap();
        assert_eq!(mixed.json()["username"], "other");

        // Logout: needs the CSRF header like any unsafe method, then the cookie is dead.
        let logout = "/api/v1/authentication/logout/";
        assert_eq!(jar.send(&server, "POST", logout, None, false).status, 401);
        let out = jar.send(&server, "POST", logout, None, true);
        assert_eq!(out.status, 200, "{}", out.body);
        assert!(
            set_cookie(&out, "jms_sessionid")
                .unwrap()
                .contains("Max-Age=0")
        );
        let stale = http(
            &server.base,
            "GET",
            "/api/v1/users/profile/",
            &[("Cookie", &format!("jms_sessionid={key}"))],
            None,
        )
        .unwrap();
        assert_eq!(stale.status, 401, "{}", stale.body);
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_sessions")
            .fetch_one(&mut f.conn)
            .await
            .unwrap();
        assert_eq!(left, 1, "only the other user's session remains");

        // An expired session does not authenticate.
        let mut jar2 = Jar::default();
        let r = jar2.password_step(&server, "admin", ADMIN_PASSWORD);
        assert_eq!(r.status, 201);
        sqlx::query("UPDATE user_sessions SET date_expired = $1")
            .bind(now() - 1)
            .execute(&mut f.conn)
            .await
            .unwrap();
        assert_eq!(
            jar2.send(&server, "GET", "/api/v1/users/profile/", None, false)
                .status,
            401
        );
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn account_secrets_are_readable_after_an_mfa_confirmation_in_a_session_only() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let mut f = Fixture::new(&db.url).await;
        let root = f.node_id("1").await;
        let host = f.asset("web-1", &[root]).await;
        let plaintext = "Pl41n-secret-for-mfa";
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/accounts/accounts/",
            &json!({"asset": host, "username": "root", "secret_type": "password",
                    "secret": plaintext}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let secret_path = format!(
            "/api/v1/accounts/account-secrets/{}/",
            r.json()["id"].as_str().unwrap()
        );
        let mut otp = bind_mfa(&server, &admin);
        assert_eq!(get(&server, &admin, &secret_path).status, 412);

        let mut jar = Jar::default();
        let body = mfa_login(&server, &mut jar, "admin", ADMIN_PASSWORD, &mut otp);
        let bearer = body["token"].as_str().unwrap().to_owned();

        // Logging in with MFA is not a confirmation.
        let r = jar.send(&server, "GET", &secret_path, None, false);
        assert_eq!(r.status, 412, "{}: {}", db.backend, r.body);
        assert_eq!(r.json()["code"], "mfa");
        let check = format!("{CONFIRM}check/?confirm_type=mfa");
        assert_eq!(jar.send(&server, "GET", &check, None, false).status, 412);

        let backends = jar.send(
            &server,
            "GET",
            &format!("{CONFIRM}?confirm_type=mfa"),
            None,
            false,
        );
        assert_eq!(backends.status, 200, "{}", backends.body);
        assert_eq!(backends.json()["confirm_type"], "mfa");
        assert_eq!(backends.json()["content"][0]["name"], "otp");
        assert_eq!(backends.json()["content"][0]["disabled"], false);

        // A wrong code, then a right one (the CSRF header is needed: it is a POST).
        let wrong = jar.send(
            &server,
            "POST",
            CONFIRM,
            Some(&json!({"confirm_type": "mfa", "mfa_type": "otp", "secret_key": otp.wrong()})),
            true,
        );
        assert_eq!(wrong.status, 400, "{}", wrong.body);
        assert!(wrong.json()["error"].is_string());
        let code = otp.next();
        let no_csrf = jar.send(
            &server,
            "POST",
            CONFIRM,
            Some(&json!({"confirm_type": "mfa", "mfa_type": "otp", "secret_key": code})),
            false,
        );
        assert_eq!(no_csrf.status, 401);
        let ok = jar.send(
            &server,
            "POST",
            CONFIRM,
            Some(&json!({"confirm_type": "mfa", "mfa_type": "otp", "secret_key": code})),
            true,
        );
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(ok.json(), json!("ok"));
        assert_eq!(jar.send(&server, "GET", &check, None, false).status, 200);
        let password_check = format!("{CONFIRM}check/?confirm_type=password");
        assert_eq!(
            jar.send(&server, "GET", &password_check, None, false)
                .status,
            200,
            "mfa covers password"
        );

        let r = jar.send(&server, "GET", &secret_path, None, false);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["secret"], plaintext);

        // A weaker confirmation later does not hide the MFA one.
        let pw = jar.send(
            &server,
            "POST",
            CONFIRM,
            Some(&json!({"confirm_type": "password", "secret_key": ADMIN_PASSWORD})),
            true,
        );
        assert_eq!(pw.status, 200, "{}", pw.body);
        assert_eq!(
            jar.send(&server, "GET", &secret_path, None, false).status,
            200
        );

        // Token callers: still 412, and they cannot confirm.
        assert_eq!(get(&server, &bearer, &secret_path).status, 412);
        let r = send(
            &server,
            &bearer,
            "POST",
            CONFIRM,
            &json!({"confirm_type": "password", "secret_key": ADMIN_PASSWORD}),
        );
        assert_eq!(r.status, 400, "{}", r.body);

        // The confirmation expires with SECURITY_MFA_VERIFY_TTL.
        set_setting(&mut f, "SECURITY_MFA_VERIFY_TTL", "1").await;
        std::thread::sleep(Duration::from_millis(2100));
        assert_eq!(
            jar.send(&server, "GET", &secret_path, None, false).status,
            412
        );
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn wrong_mfa_codes_lock_the_user_like_wrong_passwords() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let pw = create_user(dir.path(), &db, "victim", "user");
    let token = token(&server, "victim", &pw);
    let mut otp = bind_mfa(&server, &token);
    let creds = json!({"username": "victim", "password": pw});

    let mut jar = Jar::default();
    let wrong = json!({"type": "otp", "code": otp.wrong()});
    assert_eq!(
        jar.send(&server, "POST", AUTH, Some(&creds), false).status,
        200
    );
    for left in [6, 5, 4] {
        let r = jar.send(&server, "POST", CHALLENGE, Some(&wrong), false);
        assert_eq!(r.status, 401, "{}", r.body);
        assert!(
            r.json()["msg"]
                .as_str()
                .unwrap()
                .contains(&format!("{left} times")),
            "{}",
            r.body
        );
    }
    // A correct password again does not reset the count.
    assert_eq!(
        jar.send(&server, "POST", AUTH, Some(&creds), false).status,
        200
    );
    for _ in 0..3 {
        let r = jar.send(&server, "POST", CHALLENGE, Some(&wrong), false);
        assert_eq!(r.json()["error"], "mfa_failed", "{}", r.body);
    }
    let r = jar.send(&server, "POST", CHALLENGE, Some(&wrong), false);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "block_mfa", "{}", r.body);
    // Locked: the right code and the right password are refused.
    let r = jar.send(
        &server,
        "POST",
        CHALLENGE,
        Some(&json!({"type": "otp", "code": otp.next()})),
        false,
    );
    assert_eq!(r.json()["error"], "block_mfa", "{}", r.body);
    let r = login(&server, "victim", &pw);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "block_login");

    // The administrator's unblock clears it, as for passwords.
    let admin = crate::client::token(&server, "admin", ADMIN_PASSWORD);
    let r = send(
        &server,
        &admin,
        "PUT",
        "/api/v1/users/users/victim/unblock/",
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut jar = Jar::default();
    mfa_login(&server, &mut jar, "victim", &pw, &mut otp);
}
