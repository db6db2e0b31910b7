//! Web sessions: the page keep-alive `/authentication/user-session/` (§2.5: GET connects,
//! DELETE disconnects, the session is logged out when no page comes back within ~6 s) and the
//! audit view `/audits/user-sessions/` with `offline/`.

use crate::client::*;
use crate::support::{HttpResponse, Server, TestDb, http, rows};
use serde_json::{Value, json};
use std::time::Duration;

const KEEP_ALIVE: &str = "/api/v1/authentication/user-session/";
const LIST: &str = "/api/v1/audits/user-sessions/";

/// A browser: the session cookies of one login.
struct Browser {
    cookies: String,
    token: String,
}

impl Browser {
    fn login(server: &Server, username: &str, password: &str) -> Browser {
        let (token, cookies) = login_with_cookies(server, username, password);
        Browser { cookies, token }
    }

    fn csrf(&self) -> String {
        self.cookies
            .split("; ")
            .find_map(|c| c.strip_prefix("jms_csrftoken="))
            .unwrap_or_default()
            .to_owned()
    }

    /// A request with the cookies only (no bearer token), as the web page sends it.
    fn send(
        &self,
        server: &Server,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> HttpResponse {
        let csrf = self.csrf();
        http(
            &server.base,
            method,
            path,
            &[("Cookie", &self.cookies), ("X-CSRFToken", &csrf)],
            body,
        )
        .unwrap()
    }

    fn logged_in(&self, server: &Server) -> bool {
        let r = self.send(server, "GET", "/api/v1/users/profile/", None);
        match r.status {
            200 => true,
            401 => false,
            other => panic!("profile answered {other}: {}", r.body),
        }
    }
}

fn session_ids(r: &HttpResponse) -> Vec<String> {
    rows(r)
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn web_sessions_keep_alive_list_and_offline() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let pw = create_user(dir.path(), &db, "walker", "user");
        let a = Browser::login(&server, "admin", ADMIN_PASSWORD);
        let b = Browser::login(&server, "admin", ADMIN_PASSWORD);
        let c = Browser::login(&server, "walker", &pw);

        // Anonymous: 403, as in JumpServer.
        let anon = http(&server.base, "GET", KEEP_ALIVE, &[], None).unwrap();
        assert_eq!(anon.status, 403, "{}", anon.body);
        let r = a.send(&server, "GET", KEEP_ALIVE, None);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({"ok": true}));
        // A token caller has no web session; the answer is the same.
        let r = get(&server, &c.token, KEEP_ALIVE);
        assert_eq!(r.json(), json!({"ok": true}), "{}", r.body);

        // The audit list: the three logins, the caller's own marked.
        let r = a.send(&server, "GET", LIST, None);
        assert_eq!(r.status, 200, "{}", r.body);
        let all = rows(&r);
        assert_eq!(all.len(), 3, "{}", r.body);
        let current: Vec<_> = all
            .iter()
            .filter(|s| s["is_current_user_session"] == true)
            .collect();
        assert_eq!(current.len(), 1, "{}", r.body);
        assert_eq!(current[0]["user"]["username"], "admin");
        assert_eq!(current[0]["type"]["value"], "U", "{}", r.body);
        let a_id = current[0]["id"].as_str().unwrap().to_owned();
        let walker = get(&server, &a.token, &format!("{LIST}?user=walker&limit=10"));
        assert_eq!(walker.json()["count"], 1, "{}", walker.body);
        let c_id = session_ids(&walker)[0].clone();
        let one = get(&server, &a.token, &format!("{LIST}{c_id}/"));
        assert_eq!(one.status, 200, "{}", one.body);
        assert_eq!(one.json()["user"]["username"], "walker");
        let admins = session_ids(&get(&server, &a.token, &format!("{LIST}?user=admin")));
        let b_id = admins.iter().find(|id| **id != a_id).unwrap().clone();
        let bad = get(&server, &a.token, &format!("{LIST}?id=nope"));
        assert_eq!(bad.status, 400, "{}", bad.body);
        // An ordinary user may not look.
        assert_eq!(get(&server, &c.token, LIST).status, 403);
        let r = send(
            &server,
            &c.token,
            "POST",
            &format!("{LIST}offline/"),
            &json!({"ids": [a_id]}),
        );
        assert_eq!(r.status, 403, "{}", r.body);

        // Offline: the other session ends; the caller's own is never ended this way.
        let r = a.send(
            &server,
            "POST",
            &format!("{LIST}offline/"),
            Some(&json!({"ids": [a_id, b_id]})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({"offline": 1}));
        assert!(a.logged_in(&server));
        assert!(!b.logged_in(&server));
        let r = a.send(
            &server,
            "POST",
            &format!("{LIST}offline/"),
            Some(&json!({"ids": "x"})),
        );
        assert_eq!(r.status, 400, "{}", r.body);

        // Disconnect: a page that closes and comes back in time keeps the login...
        assert_eq!(a.send(&server, "DELETE", KEEP_ALIVE, None).status, 204);
        assert_eq!(a.send(&server, "GET", KEEP_ALIVE, None).status, 200);
        // ...one that closes for good ends it after the grace period.
        assert_eq!(c.send(&server, "GET", KEEP_ALIVE, None).status, 200);
        assert_eq!(c.send(&server, "GET", KEEP_ALIVE, None).status, 200);
        assert_eq!(c.send(&server, "DELETE", KEEP_ALIVE, None).status, 204);
        // Two tabs were open: closing one leaves the other.
        tokio::time::sleep(Duration::from_secs(7)).await;
        assert!(c.logged_in(&server));
        assert_eq!(c.send(&server, "DELETE", KEEP_ALIVE, None).status, 204);
        assert!(c.logged_in(&server), "not at once: a reload comes back");
        tokio::time::sleep(Duration::from_secs(7)).await;
        assert!(!c.logged_in(&server), "logged out after the grace period");
        assert!(
            a.logged_in(&server),
            "the page that came back keeps its login"
        );
        let left = session_ids(&get(&server, &a.token, LIST));
        assert_eq!(left, vec![a_id.clone()]);

        drop(server);
        db.drop_db().await;
    }
}
