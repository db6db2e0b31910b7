//! Forced MFA for a user with no second factor bound (§2.2 `MFA unset, please set first`):
//! the login answers 400 with a bind-only unfinished login; with it the user can only bind an
//! OTP authenticator (`/authentication/mfa/setup/`), and the accepted code completes the login.

use crate::api_mfa::{Jar, Otp, set_setting};
use crate::client::*;
use crate::fixture::Fixture;
use crate::support::{Server, TestDb};
use serde_json::{Value, json};

const AUTH: &str = "/api/v1/authentication/auth/";
const CHALLENGE: &str = "/api/v1/authentication/mfa/challenge/";
const SETUP: &str = "/api/v1/authentication/mfa/setup/";

/// The password step of a user who must bind MFA: 400 `mfa_unset` with the binding URL and a
/// cookie, and no token.
fn expect_mfa_unset(server: &Server, jar: &mut Jar, username: &str, password: &str) {
    let r = jar.password_step(server, username, password);
    assert_eq!(r.status, 400, "{}", r.body);
    let body = r.json();
    assert_eq!(body["error"], "MFA unset, please set first", "{}", r.body);
    assert_eq!(body["code"], "mfa_unset", "{}", r.body);
    assert_eq!(body["data"]["url"], SETUP, "{}", r.body);
    assert!(body.get("token").is_none(), "{}", r.body);
    assert!(
        jar.get("jms_sessionid").is_some(),
        "a bind-only login cookie"
    );
}

/// Binds an authenticator with the bind-only login and completes the login: the token.
fn bind_and_finish(server: &Server, jar: &mut Jar) -> (Value, Otp) {
    let setup = jar.send(server, "GET", SETUP, None, false);
    assert_eq!(setup.status, 200, "{}", setup.body);
    assert_eq!(setup.header("cache-control"), Some("no-store"));
    let secret = setup.json()["secret"].as_str().unwrap().to_owned();
    let uri = setup.json()["otp_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    let mut otp = Otp::new(&secret);

    let wrong = jar.send(
        server,
        "POST",
        SETUP,
        Some(&json!({"code": otp.wrong()})),
        false,
    );
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert_eq!(wrong.json()["error"], "mfa_failed");
    // Not bound yet: the login still cannot finish.
    let early = jar.send(server, "POST", AUTH, Some(&json!({})), false);
    assert_eq!(early.status, 400, "{}", early.body);
    assert_eq!(early.json()["code"], "mfa_unset");

    let ok = jar.send(
        server,
        "POST",
        SETUP,
        Some(&json!({"code": otp.next()})),
        false,
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json(), json!({"msg": "ok"}));
    let done = jar.send(server, "POST", AUTH, Some(&json!({})), false);
    assert_eq!(done.status, 201, "{}", done.body);
    assert!(done.json()["token"].as_str().is_some(), "{}", done.body);
    assert!(jar.get("jms_csrftoken").is_some(), "a logged-in session");
    (done.json(), otp)
}

#[tokio::test]
async fn forced_mfa_login_binds_an_authenticator_and_then_completes() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let pw = create_user(dir.path(), &db, "newbie", "user");
        let mut f = Fixture::new(&db.url).await;
        sqlx::query("UPDATE users SET mfa_level = 2 WHERE username = 'newbie'")
            .execute(&mut f.conn)
            .await
            .unwrap();

        let mut jar = Jar::default();
        expect_mfa_unset(&server, &mut jar, "newbie", &pw);

        // The bind-only login authenticates nothing but the binding.
        for path in [
            "/api/v1/users/profile/",
            "/api/v1/assets/assets/",
            "/api/v1/perms/users/self/assets/",
        ] {
            let r = jar.send(&server, "GET", path, None, false);
            assert_eq!(r.status, 401, "{path}: {}", r.body);
        }
        let keys = jar.send(
            &server,
            "POST",
            "/api/v1/authentication/access-keys/",
            Some(&json!({})),
            false,
        );
        assert_eq!(keys.status, 401, "{}", keys.body);
        // There is no secret to answer a challenge with, and no guess is counted.
        let c = jar.send(
            &server,
            "POST",
            CHALLENGE,
            Some(&json!({"type": "otp", "code": "123456"})),
            false,
        );
        assert_eq!(c.status, 400, "{}", c.body);
        assert_eq!(c.json()["code"], "mfa_unset");
        // The same request without the cookie is anonymous.
        let anon = crate::support::http(&server.base, "GET", SETUP, &[], None).unwrap();
        assert_eq!(anon.status, 401, "{}", anon.body);

        let (done, mut otp) = bind_and_finish(&server, &mut jar);
        let token = done["token"].as_str().unwrap().to_owned();
        let me = get(&server, &token, "/api/v1/users/profile/");
        assert_eq!(me.status, 200, "{}", me.body);
        assert_eq!(me.json()["username"], "newbie");
        assert_eq!(me.json()["is_otp_secret_key_bound"], true, "{}", me.body);
        assert_eq!(me.json()["mfa_level"]["value"], 2, "still forced");

        // The login log: the refused step, then the completed login with MFA.
        let logged: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT reason, mfa, CAST(CASE WHEN status THEN 1 ELSE 0 END AS BIGINT) FROM login_logs WHERE username = 'newbie' ORDER BY datetime",
        )
        .fetch_all(&mut f.conn)
        .await
        .unwrap();
        assert_eq!(
            logged,
            [("mfa_unset".to_owned(), 0, 0), (String::new(), 1, 1)]
        );

        // From now on the user logs in with the bound authenticator; the cookie of that
        // ordinary MFA login does not open the binding endpoint.
        let mut again = Jar::default();
        let r = again.password_step(&server, "newbie", &pw);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["error"], "mfa_required");
        let s = again.send(&server, "GET", SETUP, None, false);
        assert_eq!(s.status, 401, "{}", s.body);
        let c = again.send(
            &server,
            "POST",
            CHALLENGE,
            Some(&json!({"type": "otp", "code": otp.next()})),
            false,
        );
        assert_eq!(c.status, 200, "{}", c.body);
        let done = again.send(&server, "POST", AUTH, Some(&json!({})), false);
        assert_eq!(done.status, 201, "{}", done.body);

        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn the_global_mfa_setting_forces_binding_at_login_too() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let pw = create_user(dir.path(), &db, "everyone", "user");
    let mut f = Fixture::new(&db.url).await;
    set_setting(&mut f, "SECURITY_MFA_AUTH", "1").await;

    let mut jar = Jar::default();
    expect_mfa_unset(&server, &mut jar, "everyone", &pw);
    // Asking again with the cookie and no credentials gives the same answer.
    let again = jar.send(&server, "POST", AUTH, Some(&json!({})), false);
    assert_eq!(again.status, 400, "{}", again.body);
    assert_eq!(again.json()["code"], "mfa_unset");
    let (done, _) = bind_and_finish(&server, &mut jar);
    assert_eq!(done["user"]["username"], "everyone");

    // A wrong password never opens a bind-only login.
    let mut stranger = Jar::default();
    let r = stranger.password_step(&server, "admin", "wrong");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"], "password_failed");
    assert!(stranger.get("jms_sessionid").is_none());
    let s = stranger.send(&server, "GET", SETUP, None, false);
    assert_eq!(s.status, 401, "{}", s.body);
}
