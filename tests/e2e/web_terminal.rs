//! The web terminal and the auditors' live view end to end: `portcullis serve` with a real
//! OpenSSH target, a websocket client that logs in the way the browser does (the session
//! cookie from `POST /api/v1/authentication/auth/`, the CSRF header on writes, a same-origin
//! `Origin`), and for SSH-gateway sessions the OpenSSH client driven by `expect`.
//!
//! What is pinned: the contract's messages (`session`, `locked`/`unlocked`, `closed`,
//! `error`), that the web session is an ordinary recorded session (login from `WT`, commands
//! filtered and logged, a replay holding the output), that a dropped socket can be resumed
//! within the grace period with the screen redrawn (keys single-use and bound to the user)
//! and ends with reason `disconnect` after it, the cross-origin refusal, the monitor
//! permission, live output for web and gateway sessions, and lock/unlock on both.

use crate::client::{ADMIN_PASSWORD, create_user, get, login, send, start, token};
use crate::scene::{add_ssh_host, add_sshd_account, grant, user_id};
use crate::sshd::Sshd;
use crate::support::{Bg, HttpResponse, Server, TestDb, eventually, http, id_of, ok, rows};
use futures_util::{SinkExt, StreamExt};
use portcullis_store::Store;
use serde_json::{Value, json};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const TOKENS: &str = "/api/v1/authentication/connection-token/";
const TERMINAL: &str = "/api/v1/terminal/ws/terminal/";
const MONITOR: &str = "/api/v1/terminal/ws/monitor/";
const PROMPT: &str = "pct-target$ ";

// ---------------------------------------------------------------------------------------------
// The scene
// ---------------------------------------------------------------------------------------------

/// A browser login: the cookies the login set and the CSRF token to echo on writes.
struct Browser {
    cookies: String,
    csrf: String,
}

impl Browser {
    fn login(server: &Server, username: &str, password: &str) -> Browser {
        let r = login(server, username, password);
        assert_eq!(r.status, 201, "{}", r.body);
        let cookies: Vec<&str> = r
            .headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next())
            .collect();
        let csrf = cookies
            .iter()
            .find_map(|c| c.strip_prefix("jms_csrftoken="))
            .expect("a CSRF cookie")
            .to_owned();
        assert!(
            cookies.iter().any(|c| c.starts_with("jms_sessionid=")),
            "{cookies:?}"
        );
        Browser {
            cookies: cookies.join("; "),
            csrf,
        }
    }

    /// A write the way the web UI sends it: cookie plus `X-CSRFToken`.
    fn send(&self, server: &Server, method: &str, path: &str, body: &Value) -> HttpResponse {
        http(
            &server.base,
            method,
            path,
            &[("Cookie", &self.cookies), ("X-CSRFToken", &self.csrf)],
            Some(body),
        )
        .unwrap()
    }
}

struct Scene {
    server: Server,
    sshd: Sshd,
    db_url: String,
    admin: String,
    alice_pw: String,
    bob_pw: String,
    web: String,
    account: String,
    work: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Scene {
    fn new(db: &TestDb) -> Scene {
        let sshd = Sshd::start("");
        fs::write(
            sshd.home().join(".bash_profile"),
            format!("PS1='{PROMPT}'\n"),
        )
        .unwrap();
        let data = tempfile::tempdir().unwrap();
        let server = start(db, data.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let alice_pw = create_user(data.path(), db, "alice", "user");
        let bob_pw = create_user(data.path(), db, "bob", "user");
        let alice_id = user_id(&server, &admin, "alice");
        let bob_id = user_id(&server, &admin, "bob");
        let web = add_ssh_host(&server, &admin, "web-1", &sshd);
        let account = add_sshd_account(&server, &admin, &web, "target-pw", &sshd);
        grant(
            &server,
            &admin,
            "web-users",
            &[&alice_id, &bob_id],
            &[&web],
            &["connect", "upload", "download"],
        );
        Scene {
            server,
            sshd,
            db_url: db.url.clone(),
            admin,
            alice_pw,
            bob_pw,
            web,
            account,
            work: tempfile::tempdir().unwrap(),
            _data: data,
        }
    }

    /// `ws://host:port`.
    fn ws_base(&self) -> String {
        self.server.base.replacen("http://", "ws://", 1)
    }

    /// The same-origin `Origin` a page served by this server sends.
    fn origin(&self) -> String {
        self.server.base.clone()
    }

    /// A `web_cli` connection token created by the browser session.
    fn web_token(&self, browser: &Browser) -> String {
        let r = browser.send(
            &self.server,
            "POST",
            TOKENS,
            &json!({"asset": self.web, "account": self.account, "protocol": "ssh",
                    "connect_method": "web_cli"}),
        );
        id_of(&ok(&r, 201))
    }

    fn session(&self, id: &str) -> Value {
        ok(
            &get(
                &self.server,
                &self.admin,
                &format!("/api/v1/terminal/sessions/{id}/"),
            ),
            200,
        )
    }

    fn finished(&self, id: &str) -> Value {
        eventually(20, "the session to finish", || {
            let s = self.session(id);
            (s["is_finished"] == true).then_some(s)
        })
    }

    fn commands(&self, id: &str) -> Vec<String> {
        rows(&get(
            &self.server,
            &self.admin,
            &format!("/api/v1/terminal/commands/?session_id={id}&order=timestamp"),
        ))
        .iter()
        .map(|c| c["input"].as_str().unwrap_or_default().to_owned())
        .collect()
    }

    fn toggle_lock(&self, session: &str, task: &str) {
        let r = send(
            &self.server,
            &self.admin,
            "POST",
            "/api/v1/terminal/tasks/toggle-lock-session/",
            &json!({"session_id": session, "task_name": task}),
        );
        assert_eq!(ok(&r, 200), json!({"ok": [session]}));
    }
}

// ---------------------------------------------------------------------------------------------
// A websocket client
// ---------------------------------------------------------------------------------------------

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a websocket with the browser's cookie and an `Origin`; the handshake's HTTP status
/// when it is refused.
async fn open_ws(url: &str, browser: Option<&Browser>, origin: Option<&str>) -> Result<Ws, u16> {
    let mut req = url.into_client_request().unwrap();
    if let Some(b) = browser {
        req.headers_mut()
            .insert("Cookie", HeaderValue::from_str(&b.cookies).unwrap());
    }
    if let Some(o) = origin {
        req.headers_mut()
            .insert("Origin", HeaderValue::from_str(o).unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("websocket {url}: {e}"),
    }
}

/// One terminal (or monitor) socket, with everything it received so far.
struct Term {
    ws: Ws,
    /// Binary frames, as text, in order.
    output: String,
    /// Where [`Term::expect_output`] looks from.
    mark: usize,
    /// The first binary frame (the screen, after a resume or for a monitor).
    first_frame: Option<String>,
    /// Text frames, parsed.
    messages: Vec<Value>,
    closed: bool,
}

const WAIT: Duration = Duration::from_secs(30);

impl Term {
    fn new(ws: Ws) -> Term {
        Term {
            ws,
            output: String::new(),
            mark: 0,
            first_frame: None,
            messages: Vec::new(),
            closed: false,
        }
    }

    async fn connect(url: &str, browser: &Browser, origin: &str) -> Term {
        Term::new(
            open_ws(url, Some(browser), Some(origin))
                .await
                .unwrap_or_else(|s| panic!("websocket refused with {s}")),
        )
    }

    /// Reads one frame; false when the socket is done.
    async fn read_one(&mut self) -> bool {
        let msg = match tokio::time::timeout(WAIT, self.ws.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(_))) | Ok(None) => {
                self.closed = true;
                return false;
            }
            Err(_) => panic!(
                "nothing received for {WAIT:?}; output so far: {:?}; messages: {:?}",
                self.output, self.messages
            ),
        };
        match msg {
            Message::Binary(b) => {
                let t = String::from_utf8_lossy(&b).into_owned();
                if self.first_frame.is_none() {
                    self.first_frame = Some(t.clone());
                }
                self.output.push_str(&t);
            }
            Message::Text(t) => self
                .messages
                .push(serde_json::from_str(t.as_str()).expect("JSON text frame")),
            Message::Close(_) => {
                self.closed = true;
                return false;
            }
            _ => {}
        }
        true
    }

    /// Waits for `needle` in the output after the mark, then moves the mark past it.
    async fn expect_output(&mut self, needle: &str) {
        loop {
            if let Some(i) = self.output[self.mark..].find(needle) {
                self.mark += i + needle.len();
                return;
            }
            assert!(
                self.read_one().await,
                "closed before {needle:?}; output: {:?}; messages: {:?}",
                self.output,
                self.messages
            );
        }
    }

    /// Waits for a text message of this type and returns it.
    async fn expect_message(&mut self, kind: &str) -> Value {
        let mut seen = 0;
        loop {
            if let Some(m) = self.messages[seen..].iter().find(|m| m["type"] == kind) {
                return m.clone();
            }
            seen = self.messages.len();
            assert!(
                self.read_one().await,
                "closed before a {kind:?} message; output: {:?}; messages: {:?}",
                self.output,
                self.messages
            );
        }
    }

    /// Reads until the server closes the socket.
    async fn expect_closed(&mut self) {
        while self.read_one().await {}
    }

    async fn keys(&mut self, s: &str) {
        self.ws
            .send(Message::binary(s.as_bytes().to_vec()))
            .await
            .unwrap();
    }

    async fn json(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    /// The message the server sent first.
    fn hello(&self) -> &Value {
        self.messages.first().expect("a first message")
    }
}

/// Opens a new web terminal with a fresh token and waits for the target's prompt.
async fn open_terminal(s: &Scene, browser: &Browser) -> (Term, Value) {
    let token = s.web_token(browser);
    let url = format!("{}{TERMINAL}?token={token}&cols=100&rows=30", s.ws_base());
    let mut t = Term::connect(&url, browser, &s.origin()).await;
    let hello = t.expect_message("session").await;
    t.expect_output(PROMPT).await;
    (t, hello)
}

fn resume_url(s: &Scene, key: &str) -> String {
    format!("{}{TERMINAL}?resume={key}&cols=100&rows=30", s.ws_base())
}

// ---------------------------------------------------------------------------------------------
// The web terminal
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_web_terminal_runs_commands_through_the_filters_and_is_recorded() {
    for db in TestDb::both().await {
        web_terminal_on(&db).await;
        db.drop_db().await;
    }
}

async fn web_terminal_on(db: &TestDb) {
    let s = Scene::new(db);
    let group = id_of(&ok(
        &send(
            &s.server,
            &s.admin,
            "POST",
            "/api/v1/acls/command-groups/",
            &json!({"name": "danger", "content": "touch"}),
        ),
        201,
    ));
    ok(
        &send(
            &s.server,
            &s.admin,
            "POST",
            "/api/v1/acls/command-filter-acls/",
            &json!({"name": "no-touch", "action": "reject", "users": {"type": "all"},
                    "assets": {"type": "all"}, "accounts": ["@ALL"], "command_groups": [group]}),
        ),
        201,
    );
    let alice = Browser::login(&s.server, "alice", &s.alice_pw);
    let token = s.web_token(&alice);
    let url = format!("{}{TERMINAL}?token={token}&cols=100&rows=30", s.ws_base());
    let mut t = Term::connect(&url, &alice, &s.origin()).await;
    let hello = t.expect_message("session").await;
    assert_eq!(
        t.hello()["type"],
        "session",
        "the session message comes first"
    );
    let sid = hello["session_id"].as_str().unwrap().to_owned();
    assert_eq!(hello["asset"], "web-1", "{hello}");
    assert!(
        hello["account"].as_str().unwrap().contains(s.sshd.user()),
        "{hello}"
    );
    assert_eq!(hello["actions"], json!(["connect", "upload", "download"]));
    assert_eq!(hello["grace_seconds"], 120, "the default grace period");
    assert!(hello["resume"].as_str().unwrap().len() >= 32, "{hello}");
    t.expect_output(PROMPT).await;

    t.keys("echo web-$((6*7))\r").await;
    t.expect_output("web-42").await;
    t.expect_output(PROMPT).await;
    t.json(json!({"type": "ping"})).await;
    t.expect_message("pong").await;
    t.json(json!({"type": "resize", "cols": 120, "rows": 40}))
        .await;
    t.keys("stty size\r").await;
    t.expect_output("40 120").await;
    // Type at the prompt: keys typed ahead of it are echoed before it (see `capture`).
    t.expect_output(PROMPT).await;

    let forbidden = s.sshd.home().join("forbidden-file");
    t.keys(&format!("touch {}\r", forbidden.display())).await;
    t.expect_output("is forbidden").await;
    t.expect_output(PROMPT).await;
    assert!(!forbidden.exists(), "the refused command must not run");

    t.keys("exit\r").await;
    let closed = t.expect_message("closed").await;
    assert_eq!(closed["reason"], "normal", "{closed}");
    t.expect_closed().await;

    let session = s.finished(&sid);
    assert_eq!(session["login_from"]["value"], "WT", "{session}");
    assert_eq!(session["type"]["value"], "normal", "{session}");
    assert_eq!(session["has_replay"], true, "{session}");
    let commands = s.commands(&sid);
    assert!(
        commands.contains(&"echo web-$((6*7))".to_owned()),
        "{commands:?}"
    );
    assert!(
        commands.contains(&format!("touch {}", forbidden.display())),
        "{commands:?}"
    );
    let r = get(
        &s.server,
        &s.admin,
        &format!("/api/v1/terminal/sessions/{sid}/replay/download/"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut output = String::new();
    for line in r.body.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let ev: Value = serde_json::from_str(line).unwrap();
        if ev[1] == "o" {
            output.push_str(ev[2].as_str().unwrap());
        }
    }
    assert!(output.contains("web-42"), "{output}");
    assert!(output.contains("is forbidden"), "{output}");

    // The token was used up: a second socket with it does not start a session.
    let mut again = Term::connect(&url, &alice, &s.origin()).await;
    let err = again.expect_message("error").await;
    assert_eq!(err["code"], "token_invalid", "{err}");
    again.expect_closed().await;
    // Another user's token is no token for bob.
    let bob = Browser::login(&s.server, "bob", &s.bob_pw);
    let alices = s.web_token(&alice);
    let url = format!("{}{TERMINAL}?token={alices}", s.ws_base());
    let mut theirs = Term::connect(&url, &bob, &s.origin()).await;
    assert_eq!(
        theirs.expect_message("error").await["code"],
        "token_invalid"
    );
    // A token for another connect method is refused too.
    let ssh_token = id_of(&ok(
        &alice.send(
            &s.server,
            "POST",
            TOKENS,
            &json!({"asset": s.web, "account": s.account, "protocol": "ssh",
                    "connect_method": "ssh_client"}),
        ),
        201,
    ));
    let url = format!("{}{TERMINAL}?token={ssh_token}", s.ws_base());
    let mut other = Term::connect(&url, &alice, &s.origin()).await;
    assert_eq!(other.expect_message("error").await["code"], "token_invalid");
    assert_eq!(
        rows(&get(&s.server, &s.admin, "/api/v1/terminal/sessions/")).len(),
        1,
        "refused sockets start no session"
    );
}

#[tokio::test]
async fn a_dropped_browser_resumes_with_its_screen_and_keys_are_single_use_and_personal() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let alice = Browser::login(&s.server, "alice", &s.alice_pw);
    let bob = Browser::login(&s.server, "bob", &s.bob_pw);
    let (mut t, hello) = open_terminal(&s, &alice).await;
    let sid = hello["session_id"].as_str().unwrap().to_owned();
    let first_key = hello["resume"].as_str().unwrap().to_owned();
    t.keys("echo before-$((1+1))\r").await;
    t.expect_output("before-2").await;
    t.expect_output(PROMPT).await;
    // Output produced while no browser is there is kept on the screen and in the recording.
    t.keys("sleep 1; echo while-away-$((3*3))\r").await;
    drop(t);

    let mut r = Term::connect(&resume_url(&s, &first_key), &alice, &s.origin()).await;
    let again = r.expect_message("session").await;
    assert_eq!(again["session_id"], sid.as_str(), "{again}");
    let second_key = again["resume"].as_str().unwrap().to_owned();
    assert_ne!(second_key, first_key, "a new key with every attach");
    // The screen comes first: what was there before the drop is redrawn.
    r.read_one().await;
    let screen = r.first_frame.clone().expect("the screen");
    assert!(screen.contains("before-2"), "{screen:?}");
    r.expect_output("while-away-9").await;
    r.expect_output(PROMPT).await;
    r.keys("echo after-$((2+3))\r").await;
    r.expect_output("after-5").await;
    r.expect_output(PROMPT).await;

    // The used key opens nothing.
    let mut used = Term::connect(&resume_url(&s, &first_key), &alice, &s.origin()).await;
    assert_eq!(used.expect_message("error").await["code"], "resume_invalid");
    used.expect_closed().await;
    // Bob cannot take alice's session with her current key, and trying does not burn it.
    let mut stolen = Term::connect(&resume_url(&s, &second_key), &bob, &s.origin()).await;
    assert_eq!(
        stolen.expect_message("error").await["code"],
        "resume_not_yours"
    );
    stolen.expect_closed().await;
    drop(r);
    let mut back = Term::connect(&resume_url(&s, &second_key), &alice, &s.origin()).await;
    assert_eq!(
        back.expect_message("session").await["session_id"],
        sid.as_str()
    );
    back.keys("echo third-$((3+4))\r").await;
    back.expect_output("third-7").await;
    back.keys("exit\r").await;
    assert_eq!(back.expect_message("closed").await["reason"], "normal");

    let session = s.finished(&sid);
    assert_eq!(session["end_reason"], "normal", "{session}");
    let commands = s.commands(&sid);
    for c in [
        "echo before-$((1+1))",
        "sleep 1; echo while-away-$((3*3))",
        "echo after-$((2+3))",
        "echo third-$((3+4))",
    ] {
        assert!(
            commands.contains(&c.to_owned()),
            "{c}: {commands:?}\n{}",
            s.server.stderr()
        );
    }
    let replay = get(
        &s.server,
        &s.admin,
        &format!("/api/v1/terminal/sessions/{sid}/replay/download/"),
    );
    assert!(replay.body.contains("while-away-9"), "{}", replay.body);
}

#[tokio::test]
async fn a_browser_that_does_not_come_back_ends_the_session_with_reason_disconnect() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let store = Store::connect(&s.db_url).await.unwrap();
    store
        .set_setting("TERMINAL_WEB_RESUME_GRACE", "terminal", &json!(2))
        .await
        .unwrap();
    let alice = Browser::login(&s.server, "alice", &s.alice_pw);
    let (t, hello) = open_terminal(&s, &alice).await;
    assert_eq!(hello["grace_seconds"], 2, "{hello}");
    let sid = hello["session_id"].as_str().unwrap().to_owned();
    let key = hello["resume"].as_str().unwrap().to_owned();
    let dropped = std::time::Instant::now();
    drop(t);
    let session = s.finished(&sid);
    assert!(
        dropped.elapsed() >= Duration::from_secs(2),
        "ended {:?} after the drop, inside the grace period",
        dropped.elapsed()
    );
    assert_eq!(session["end_reason"], "disconnect", "{session}");
    let mut late = Term::connect(&resume_url(&s, &key), &alice, &s.origin()).await;
    assert_eq!(late.expect_message("error").await["code"], "resume_invalid");
}

/// The state of a review ticket, as the administrator reads it.
fn review_ticket_state(s: &Scene, id: &str) -> String {
    ok(
        &get(
            &s.server,
            &s.admin,
            &format!("/api/v1/tickets/tickets/{id}/"),
        ),
        200,
    )["state"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Opens a web terminal to the reviewed asset and waits for the `review` message: the socket
/// and the pending ticket; no session has started.
async fn ask_review(s: &Scene, alice: &Browser) -> (Term, String) {
    let token = s.web_token(alice);
    let url = format!("{}{TERMINAL}?token={token}&cols=100&rows=30", s.ws_base());
    let mut t = Term::connect(&url, alice, &s.origin()).await;
    let review = t.expect_message("review").await;
    assert_eq!(review["reviewers"], json!(["Administrator"]), "{review}");
    let id = review["ticket_id"].as_str().unwrap().to_owned();
    assert_eq!(review_ticket_state(s, &id), "pending");
    assert!(
        !t.messages.iter().any(|m| m["type"] == "session"),
        "no session before the answer: {:?}",
        t.messages
    );
    (t, id)
}

#[tokio::test]
async fn a_connection_under_a_review_acl_waits_for_the_reviewer_in_the_web_terminal() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let admin_id = user_id(&s.server, &s.admin, "admin");
    let alice_id = user_id(&s.server, &s.admin, "alice");
    ok(
        &send(
            &s.server,
            &s.admin,
            "POST",
            "/api/v1/acls/login-asset-acls/",
            &json!({"name": "review-web", "action": "review",
                    "users": {"type": "ids", "ids": [alice_id]},
                    "assets": {"type": "ids", "ids": [s.web]}, "accounts": ["@ALL"],
                    "reviewers": [{"id": admin_id}]}),
        ),
        201,
    );
    let alice = Browser::login(&s.server, "alice", &s.alice_pw);
    let ticket_state = |id: &str| review_ticket_state(&s, id);
    let answer = |id: &str, what: &str| {
        let r = send(
            &s.server,
            &s.admin,
            "PUT",
            &format!("/api/v1/tickets/tickets/{id}/{what}/"),
            &json!({}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    };
    // Approved: the session starts and runs.
    let (mut t, id) = ask_review(&s, &alice).await;
    answer(&id, "approve");
    assert_eq!(
        t.expect_message("review_approved").await["by"],
        "Administrator(admin)"
    );
    t.expect_message("session").await;
    t.expect_output(PROMPT).await;
    t.keys("echo reviewed-$((6*7))\r").await;
    t.expect_output("reviewed-42").await;
    drop(t);

    // Rejected: the browser gets the refusal in words, and no session.
    let (mut t, id) = ask_review(&s, &alice).await;
    answer(&id, "reject");
    let e = t.expect_message("error").await;
    assert_eq!(e["code"], "review_rejected", "{e}");
    assert!(e["message"].as_str().unwrap().contains("rejected"), "{e}");
    t.expect_closed().await;
    assert!(!t.messages.iter().any(|m| m["type"] == "session"));

    // Cancelled by the browser, or the browser leaves: the ticket is withdrawn.
    let (mut t, id) = ask_review(&s, &alice).await;
    t.json(json!({"type": "cancel"})).await;
    assert_eq!(t.expect_message("error").await["code"], "review_cancelled");
    assert_eq!(ticket_state(&id), "closed");
    let (t, id) = ask_review(&s, &alice).await;
    drop(t);
    eventually(15, "the abandoned review closed", || {
        (ticket_state(&id) == "closed").then_some(())
    });
}

#[tokio::test]
async fn cross_origin_and_anonymous_websockets_are_refused() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let alice = Browser::login(&s.server, "alice", &s.alice_pw);
    let token = s.web_token(&alice);
    let url = format!("{}{TERMINAL}?token={token}", s.ws_base());
    for origin in [
        Some("http://evil.example"),
        Some("http://127.0.0.1:1"),
        Some("null"),
        None,
    ] {
        assert_eq!(
            open_ws(&url, Some(&alice), origin).await.err(),
            Some(403),
            "origin {origin:?}"
        );
    }
    assert_eq!(
        open_ws(&url, None, Some(&s.origin())).await.err(),
        Some(401)
    );
    let monitor = format!(
        "{}{MONITOR}?session_id={}",
        s.ws_base(),
        uuid::Uuid::new_v4()
    );
    let admin = Browser::login(&s.server, "admin", ADMIN_PASSWORD);
    assert_eq!(
        open_ws(&monitor, Some(&admin), Some("http://evil.example"))
            .await
            .err(),
        Some(403)
    );
    // The token survived the refused attempts: the same-origin socket opens the session.
    let mut t = Term::connect(&url, &alice, &s.origin()).await;
    t.expect_message("session").await;
    t.expect_output(PROMPT).await;
}

// ---------------------------------------------------------------------------------------------
// Live view and lock
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn auditors_watch_and_lock_a_web_session_and_users_may_not_watch() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let alice = Browser::login(&s.server, "alice", &s.alice_pw);
    let bob = Browser::login(&s.server, "bob", &s.bob_pw);
    let admin = Browser::login(&s.server, "admin", ADMIN_PASSWORD);
    let (mut t, hello) = open_terminal(&s, &alice).await;
    let sid = hello["session_id"].as_str().unwrap().to_owned();
    t.keys("echo seen-before-$((2*3))\r").await;
    t.expect_output("seen-before-6").await;
    t.expect_output(PROMPT).await;

    let url = format!("{}{MONITOR}?session_id={sid}", s.ws_base());
    assert_eq!(
        open_ws(&url, Some(&bob), Some(&s.origin())).await.err(),
        Some(403),
        "a plain user may not watch"
    );
    let mut m = Term::connect(&url, &admin, &s.origin()).await;
    let info = m.expect_message("session").await;
    assert_eq!(info["session_id"], sid.as_str(), "{info}");
    assert_eq!(info["asset"], "web-1", "{info}");
    assert!(info["user"].as_str().unwrap().contains("alice"), "{info}");
    assert_eq!(
        (info["cols"].as_u64(), info["rows"].as_u64()),
        (Some(100), Some(30))
    );
    m.read_one().await;
    let screen = m.first_frame.clone().expect("the current screen");
    assert!(screen.contains("seen-before-6"), "{screen:?}");
    t.keys("echo live-$((5*5))\r").await;
    m.expect_output("live-25").await;
    t.json(json!({"type": "resize", "cols": 90, "rows": 20}))
        .await;
    let resize = m.expect_message("resize").await;
    assert_eq!(
        (resize["cols"].as_u64(), resize["rows"].as_u64()),
        (Some(90), Some(20))
    );

    // Lock: the user is told, and what they type is dropped.
    s.toggle_lock(&sid, "lock_session");
    let locked = t.expect_message("locked").await;
    assert!(locked["by"].as_str().unwrap().contains("admin"), "{locked}");
    t.keys("echo typed-while-locked-$((9*9))\r").await;
    s.toggle_lock(&sid, "unlock_session");
    t.expect_message("unlocked").await;
    t.keys("echo unlocked-$((4*4))\r").await;
    t.expect_output("unlocked-16").await;
    m.expect_output("unlocked-16").await;
    assert!(!t.output.contains("typed-while-locked"), "{}", t.output);
    assert!(!m.output.contains("typed-while-locked"), "{}", m.output);

    t.keys("exit\r").await;
    t.expect_message("closed").await;
    let closed = m.expect_message("closed").await;
    assert_eq!(closed["reason"], "normal", "{closed}");
    m.expect_closed().await;
    let commands = s.commands(&sid);
    assert!(
        !commands.iter().any(|c| c.contains("typed-while-locked")),
        "{commands:?}"
    );
    // Over: nothing to watch.
    assert_eq!(
        open_ws(&url, Some(&admin), Some(&s.origin())).await.err(),
        Some(404)
    );
}

/// What the expect script starts with: a password login through the gateway.
const EXPECT_PRELUDE: &str = r#"set timeout 30
log_user 1
proc fail {msg} { puts "\nEXPECT-FAIL: $msg"; exit 1 }
proc await_file {path} {
    set waited 0
    while {![file exists $path]} {
        after 50
        incr waited 50
        if {$waited > 60000} { fail "no $path" }
    }
}
spawn ssh -F /dev/null -tt -p $env(GW_PORT) -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentityAgent=none \
    -o PubkeyAuthentication=no -l $env(GW_LOGIN) 127.0.0.1
expect {
    -re {assword: ?$} { send -- "$env(GW_PASS)\r" }
    timeout { fail "no password prompt" }
    eof { fail "closed before the password prompt" }
}
"#;

#[tokio::test]
async fn auditors_watch_and_lock_an_ssh_gateway_session() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let admin = Browser::login(&s.server, "admin", ADMIN_PASSWORD);
    let go = s.work.path().join("go");
    let typed = s.work.path().join("typed");
    let script = s.work.path().join("gw.exp");
    let prompt = PROMPT.replace('$', "\\$");
    fs::write(
        &script,
        format!(
            r#"{EXPECT_PRELUDE}
expect {{
    "{prompt}" {{}}
    timeout {{ fail "no target prompt" }}
}}
puts "\nEXPECT-READY"
await_file $env(GO)
send "echo gw-live-\$((5*5))\r"
expect {{
    "gw-live-25" {{}}
    timeout {{ fail "the command did not run" }}
}}
expect {{
    "has been locked by" {{}}
    timeout {{ fail "no lock notice" }}
}}
send "echo gw-while-locked-\$((8*8))\r"
close [open $env(TYPED) w]
expect {{
    "has been unlocked" {{}}
    timeout {{ fail "no unlock notice" }}
}}
send "echo gw-unlocked-\$((6*7))\r"
expect {{
    "gw-unlocked-42" {{}}
    timeout {{ fail "input after the unlock did not run" }}
}}
send "exit\r"
expect {{
    eof {{}}
    timeout {{ fail "the session did not end" }}
}}
puts "\nEXPECT-OK"
"#
        ),
    )
    .unwrap();
    let log = s.work.path().join("gw.log");
    let login = format!("alice@{}@web-1", s.sshd.user());
    let child = Command::new("timeout")
        .args(["-k", "5", "120", "expect", "-f"])
        .arg(&script)
        .env("GW_PORT", s.server.ssh_port.to_string())
        .env("GW_LOGIN", &login)
        .env("GW_PASS", &s.alice_pw)
        .env("GO", &go)
        .env("TYPED", &typed)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut bg = Bg(child);
    let read_log = || fs::read_to_string(&log).unwrap_or_default();
    eventually(60, "the target prompt", || {
        read_log().contains("EXPECT-READY").then_some(())
    });
    let live = eventually(10, "the live gateway session", || {
        rows(&get(
            &s.server,
            &s.admin,
            "/api/v1/terminal/sessions/?is_finished=0",
        ))
        .into_iter()
        .next()
    });
    assert_eq!(live["login_from"]["value"], "ST", "{live}");
    let sid = id_of(&live);

    let url = format!("{}{MONITOR}?session_id={sid}", s.ws_base());
    let mut m = Term::connect(&url, &admin, &s.origin()).await;
    let info = m.expect_message("session").await;
    assert_eq!(info["session_id"], sid.as_str(), "{info}");
    m.read_one().await;
    assert!(
        m.first_frame
            .as_deref()
            .is_some_and(|f| f.contains("pct-target")),
        "the screen first: {:?}",
        m.first_frame
    );
    touch(&go);
    m.expect_output("gw-live-25").await;

    s.toggle_lock(&sid, "lock_session");
    eventually(30, "the keys typed while locked", || {
        typed.exists().then_some(())
    });
    s.toggle_lock(&sid, "unlock_session");
    m.expect_output("gw-unlocked-42").await;
    let closed = m.expect_message("closed").await;
    assert_eq!(closed["reason"], "normal", "{closed}");

    let status = bg.wait(30);
    let screen = read_log();
    assert!(
        status.is_some_and(|st| st.success()) && screen.contains("EXPECT-OK"),
        "{status:?}\n{screen}\n{}",
        s.server.stderr()
    );
    assert!(!screen.contains("gw-while-locked-64"), "{screen}");
    assert!(!m.output.contains("gw-while-locked"), "{}", m.output);
    let commands = s.commands(&sid);
    assert!(
        commands.contains(&"echo gw-unlocked-$((6*7))".to_owned()),
        "{commands:?}"
    );
    assert!(
        !commands.iter().any(|c| c.contains("gw-while-locked")),
        "{commands:?}"
    );
}

fn touch(path: &Path) {
    fs::write(path, b"").unwrap();
}
