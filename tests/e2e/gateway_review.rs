//! The SSH gateway's reviews, port forwarding, limits and command capture, end to end: a
//! real `portcullis serve`, a real OpenSSH server as the asset ([`crate::sshd::Sshd`]), the
//! real OpenSSH client (with `sshpass`, or through a pty with `expect`) and the reviewer
//! answering through the REST API. Everything is configured through the API and checked
//! through it afterwards (tickets, sessions, commands).
//!
//! Every client runs under `timeout`; background clients are killed with what they started
//! when their guard drops, and the fixtures (server, sshd) stop on drop.

use crate::client::{ADMIN_PASSWORD, create_user, get, send, start, token};
use crate::scene::{add_ssh_host, add_sshd_account, user_id};
use crate::sshd::Sshd;
use crate::support::{Bg, HttpResponse, Server, TestDb, eventually, id_of, ok, rows};
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The target shell's prompt (set by the account's `.bash_profile`).
const PROMPT: &str = "rv-target> ";
const TICKETS: &str = "/api/v1/tickets/tickets/";

// ---------------------------------------------------------------------------------------------
// The scene
// ---------------------------------------------------------------------------------------------

/// A Portcullis with its SSH port, a real target, the user `alice` and the reviewer `boss`
/// (a system administrator). Dropped in field order: server, then target.
struct Scene {
    server: Server,
    sshd: Sshd,
    /// The built-in administrator's token (not a reviewer of anything).
    admin: String,
    /// The reviewer's token.
    boss: String,
    boss_id: String,
    alice: String,
    alice_pw: String,
    alice_id: String,
    gw: u16,
    /// The asset `web-1` (127.0.0.1, the sshd's port).
    web: String,
    work: tempfile::TempDir,
    _data: tempfile::TempDir,
}

/// The TCP ports `pid` listens on, from `/proc`.
fn http_port(server: &Server) -> u16 {
    server.base.rsplit(':').next().unwrap().parse().unwrap()
}

impl Scene {
    /// The scene; `permanent` gives alice a permission on web-1 that does not expire.
    fn new(db: &TestDb, permanent: bool) -> Scene {
        let sshd = Sshd::start("");
        fs::write(
            sshd.home().join(".bash_profile"),
            format!("PS1='{PROMPT}'\n"),
        )
        .unwrap();
        let data = tempfile::tempdir().unwrap();
        let server = start(db, data.path());
        let gw = server.ssh_port;
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let alice_pw = create_user(data.path(), db, "alice", "user");
        let boss_pw = create_user(data.path(), db, "boss", "admin");
        let (alice_id, boss_id) = (
            user_id(&server, &admin, "alice"),
            user_id(&server, &admin, "boss"),
        );
        let web = add_ssh_host(&server, &admin, "web-1", &sshd);
        add_sshd_account(&server, &admin, &web, "target-pw", &sshd);
        let boss = token(&server, "boss", &boss_pw);
        let alice = token(&server, "alice", &alice_pw);
        let s = Scene {
            server,
            sshd,
            admin,
            boss,
            boss_id,
            alice,
            alice_pw,
            alice_id,
            gw,
            web,
            work: tempfile::tempdir().unwrap(),
            _data: data,
        };
        if permanent {
            s.permit("alice-web", None);
        }
        s
    }

    /// Gives alice web-1 with all accounts, until `expires` (RFC 3339) if given.
    fn permit(&self, name: &str, expires: Option<String>) {
        let mut body = json!({"name": name, "users": [self.alice_id], "assets": [self.web],
                              "accounts": ["@ALL"], "actions": ["connect"]});
        if let Some(e) = expires {
            body["date_expired"] = json!(e);
        }
        ok(
            &send(
                &self.server,
                &self.admin,
                "POST",
                "/api/v1/perms/asset-permissions/",
                &body,
            ),
            201,
        );
    }

    /// A command group with `content` and a command-filter ACL applying it to everyone.
    fn command_acl(&self, name: &str, content: &str, action: &str, priority: u32) {
        let group = id_of(&ok(
            &send(
                &self.server,
                &self.admin,
                "POST",
                "/api/v1/acls/command-groups/",
                &json!({"name": name, "content": content}),
            ),
            201,
        ));
        let reviewers = if action == "review" {
            json!([{"id": self.boss_id}])
        } else {
            json!([])
        };
        ok(
            &send(
                &self.server,
                &self.admin,
                "POST",
                "/api/v1/acls/command-filter-acls/",
                &json!({"name": name, "action": action, "priority": priority,
                        "users": {"type": "all"}, "assets": {"type": "all"},
                        "accounts": ["@ALL"], "command_groups": [group],
                        "reviewers": reviewers}),
            ),
            201,
        );
    }

    /// `alice@<account>@web-1`.
    fn direct(&self) -> String {
        format!("alice@{}@web-1", self.sshd.user())
    }

    /// The OpenSSH client towards the gateway, bounded in time, reading no configuration
    /// of the machine, password authentication only.
    fn ssh_args(&self, login: &str) -> Vec<String> {
        [
            "ssh",
            "-F",
            "/dev/null",
            "-p",
            &self.gw.to_string(),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=15",
            "-o",
            "IdentityAgent=none",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password",
            "-o",
            "NumberOfPasswordPrompts=1",
            "-l",
            login,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    /// `sshpass` + `timeout` + `ssh` + `args`, with `password`, output into files of the
    /// work dir named `<name>.out` / `<name>.err`; started in the background.
    /// Its stdin is the work dir's `<name>.in` when there is one.
    fn ssh_bg(&self, name: &str, password: &str, args: &[String], secs: u32) -> Bg {
        let stdin = match fs::File::open(self.work.path().join(format!("{name}.in"))) {
            Ok(f) => Stdio::from(f),
            Err(_) => Stdio::null(),
        };
        let child = Command::new("sshpass")
            .arg("-e")
            .args(["timeout", "-k", "5", &secs.to_string()])
            .args(args)
            .env("SSHPASS", password)
            .stdin(stdin)
            .stdout(fs::File::create(self.work.path().join(format!("{name}.out"))).unwrap())
            .stderr(fs::File::create(self.work.path().join(format!("{name}.err"))).unwrap())
            .spawn()
            .expect("sshpass");
        Bg(child)
    }

    fn file(&self, name: &str) -> String {
        fs::read_to_string(self.work.path().join(name)).unwrap_or_default()
    }

    /// Writes an expect script (with the prelude) into the work dir.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.work.path().join(name);
        let text = format!("{EXPECT_PRELUDE}{body}").replace("@PROMPT@", PROMPT);
        fs::write(&path, text).unwrap();
        path
    }

    /// Runs an expect script in the background as `login` (alice's password), its screen
    /// going to `<script>.log`.
    fn expect_bg(&self, script: &Path, login: &str, secs: u32) -> (Bg, PathBuf) {
        let log = script.with_extension("log");
        let child = Command::new("timeout")
            .args(["-k", "5", &secs.to_string(), "expect", "-f"])
            .arg(script)
            .env("GW_PORT", self.gw.to_string())
            .env("GW_LOGIN", login)
            .env("GW_PASS", &self.alice_pw)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("expect");
        (Bg(child), log)
    }

    fn sessions(&self) -> Vec<Value> {
        rows(&get(
            &self.server,
            &self.admin,
            "/api/v1/terminal/sessions/?limit=100",
        ))
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

    fn commands(&self, session: &str) -> Vec<Value> {
        rows(&get(
            &self.server,
            &self.admin,
            &format!("/api/v1/terminal/commands/?session_id={session}&order=timestamp&limit=100"),
        ))
    }

    fn ticket(&self, id: &str) -> Value {
        ok(
            &get(&self.server, &self.admin, &format!("{TICKETS}{id}/")),
            200,
        )
    }

    /// `PUT /tickets/tickets/<id>/<verb>/` as `token`.
    fn answer(&self, token: &str, id: &str, verb: &str) -> HttpResponse {
        send(
            &self.server,
            token,
            "PUT",
            &format!("{TICKETS}{id}/{verb}/"),
            &json!({}),
        )
    }
}

/// The ticket id after the `n`-th `tickets/tickets/` link in `text`.
fn ticket_link(text: &str, n: usize) -> Option<String> {
    let rest = text.split("/api/v1/tickets/tickets/").nth(n + 1)?;
    let id = rest.get(..36)?;
    uuid::Uuid::parse_str(id).ok()?;
    Some(id.to_owned())
}

/// Waits for the `n`-th ticket link to appear in the file `path`.
fn wait_ticket(path: &Path, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if let Some(id) = ticket_link(&text, n) {
            return id;
        }
        assert!(
            Instant::now() < deadline,
            "no ticket link #{n} in {}:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The end reason recorded for a session (the API shows only connection errors in
/// `error_reason`, as JumpServer does; the lifecycle reason is kept in the row).
async fn end_reason(db: &TestDb, session: &str) -> String {
    let mut f = crate::fixture::Fixture::new(&db.url).await;
    sqlx::query_scalar("SELECT end_reason FROM sessions WHERE id = $1")
        .bind(session)
        .fetch_one(&mut f.conn)
        .await
        .expect("end_reason")
}

fn this_year() -> String {
    let o = Command::new("date").arg("+%Y").output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn both(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What every expect script starts with: `login` logs in through the gateway as
/// `$GW_LOGIN` with a password; `fail` leaves with a message; `prompt` waits for the
/// target's prompt.
const EXPECT_PRELUDE: &str = r#"set timeout 30
log_user 1
proc fail {msg} { puts "\nEXPECT-FAIL: $msg"; exit 1 }
proc login {args} {
    global env spawn_id
    spawn ssh -F /dev/null -tt -p $env(GW_PORT) -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentityAgent=none \
        -o PubkeyAuthentication=no {*}$args -l $env(GW_LOGIN) 127.0.0.1
    expect {
        -re {assword: ?$} { send -- "$env(GW_PASS)\r" }
        timeout { fail "no password prompt" }
        eof { fail "closed before the password prompt" }
    }
}
proc prompt {what} {
    expect {
        -ex "@PROMPT@" {}
        timeout { fail "no prompt $what" }
        eof { fail "closed before the prompt $what" }
    }
}
proc want {text what} {
    expect {
        -ex $text {}
        timeout { fail $what }
        eof { fail "closed: $what" }
    }
}
"#;

fn assert_expect_ok(status: Option<std::process::ExitStatus>, log: &Path, s: &Scene) {
    let screen = fs::read_to_string(log).unwrap_or_default();
    assert!(
        status.is_some_and(|st| st.success()) && screen.contains("EXPECT-OK"),
        "{status:?}\n{screen}\n--- server ---\n{}",
        s.server.stderr()
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Command review in an interactive session
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn interactive_command_review_approves_rejects_and_cancels() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db, true);
    s.command_acl("review-date", "date", "review", 10);
    let year = this_year();
    let script = s.script(
        "review.exp",
        r#"login
prompt "after login"
send "date +%Y\r"
want "requires review. Continue or not \[Y/n\]?" "no review question (1)"
send "y\r"
want "Ticket: /api/v1/tickets/tickets/" "no ticket link (1)"
set timeout 60
want "approved" "not approved (1)"
want "$env(YEAR)\r\n" "the approved date did not run"
set timeout 30
prompt "after the approved command"
send "date\r"
want "requires review. Continue or not \[Y/n\]?" "no review question (2)"
send "y\r"
want "Ticket: /api/v1/tickets/tickets/" "no ticket link (2)"
set timeout 60
want "rejected" "not rejected (2)"
set timeout 30
want "is forbidden" "no forbidden notice (2)"
prompt "after the rejected command"
send "date -u\r"
want "requires review. Continue or not \[Y/n\]?" "no review question (3)"
send "y\r"
want "Ticket: /api/v1/tickets/tickets/" "no ticket link (3)"
sleep 1
send "\x03"
want "not run" "no cancel notice (3)"
prompt "after the cancelled command"
send "exit\r"
expect {
    eof {}
    timeout { fail "exit did not close the connection" }
}
puts "\nEXPECT-OK"
"#,
    );
    let (mut bg, log) = {
        let log = script.with_extension("log");
        let child = Command::new("timeout")
            .args(["-k", "5", "240", "expect", "-f"])
            .arg(&script)
            .env("GW_PORT", s.gw.to_string())
            .env("GW_LOGIN", s.direct())
            .env("GW_PASS", &s.alice_pw)
            .env("YEAR", &year)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (Bg(child), log)
    };

    // 1: approved by the reviewer, not by anyone else.
    let t1 = wait_ticket(&log, 0);
    let ticket = s.ticket(&t1);
    assert_eq!(ticket["type"]["value"], "command_confirm", "{ticket}");
    assert_eq!(ticket["state"]["value"], "pending", "{ticket}");
    for (who, tok) in [("the admin", &s.admin), ("the applicant", &s.alice)] {
        let r = s.answer(tok, &t1, "approve");
        assert_eq!(r.status, 403, "{who} may not approve: {}", r.body);
    }
    assert_eq!(s.ticket(&t1)["state"]["value"], "pending");
    ok(&s.answer(&s.boss, &t1, "approve"), 200);

    // 2: rejected.
    let t2 = wait_ticket(&log, 1);
    assert_ne!(t1, t2);
    ok(&s.answer(&s.boss, &t2, "reject"), 200);

    // 3: the user presses Ctrl-C while waiting.
    let t3 = wait_ticket(&log, 2);
    let status = bg.wait(120);
    assert_expect_ok(status, &log, &s);
    let screen = fs::read_to_string(&log).unwrap();
    // Nothing ran for the rejected `date`: between its ticket and the next question no
    // date was printed.
    let after_t2 = screen.split(&t2).nth(1).unwrap();
    let rejected_part = after_t2.split("requires review").next().unwrap();
    assert!(
        rejected_part.contains("rejected") && !rejected_part.contains(&year),
        "{rejected_part}"
    );
    assert_eq!(s.ticket(&t1)["state"]["value"], "approved");
    assert_eq!(s.ticket(&t2)["state"]["value"], "rejected");
    let ticket3 = eventually(10, "the cancelled ticket closed", || {
        let t = s.ticket(&t3);
        (t["state"]["value"] == "closed").then_some(t)
    });
    assert_eq!(ticket3["status"]["value"], "closed", "{ticket3}");
    // Answering a closed ticket is refused.
    let r = s.answer(&s.boss, &t3, "approve");
    assert!(r.status >= 400, "{}", r.body);

    let session = eventually(10, "the finished session", || {
        s.sessions().into_iter().find(|x| x["is_finished"] == true)
    });
    let commands = s.commands(&id_of(&session));
    let dates: Vec<(String, i64)> = commands
        .iter()
        .filter(|c| c["input"].as_str().unwrap_or("").starts_with("date"))
        .map(|c| {
            (
                c["input"].as_str().unwrap().to_owned(),
                c["risk_level"]["value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        dates,
        [
            ("date +%Y".to_owned(), 7),
            ("date".to_owned(), 6),
            ("date -u".to_owned(), 8)
        ],
        "{commands:#?}"
    );
    let approved = commands.iter().find(|c| c["input"] == "date +%Y").unwrap();
    assert!(
        approved["output"].as_str().unwrap().contains(&year),
        "{approved}"
    );
    drop(s);
    db.drop_db().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Command review on exec
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn exec_command_review_waits_for_the_reviewer() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db, true);
    s.command_acl("review-date", "date", "review", 10);
    let year = this_year();

    // Approved: the command runs and its status comes back.
    let mut args = s.ssh_args(&s.direct());
    args.extend(["127.0.0.1".into(), "--".into(), "date +%Y".into()]);
    let mut bg = s.ssh_bg("approved", &s.alice_pw, &args, 90);
    let t = wait_ticket(&s.work.path().join("approved.err"), 0);
    assert!(
        s.file("approved.err").contains("requires review"),
        "{}",
        s.file("approved.err")
    );
    assert_eq!(s.ticket(&t)["type"]["value"], "command_confirm");
    assert_eq!(s.answer(&s.admin, &t, "approve").status, 403);
    ok(&s.answer(&s.boss, &t, "approve"), 200);
    let status = bg.wait(30);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}\n{}",
        s.file("approved.out"),
        s.file("approved.err")
    );
    assert_eq!(s.file("approved.out").trim(), year);

    // Rejected: nothing runs, status 1.
    let mut args = s.ssh_args(&s.direct());
    args.extend(["127.0.0.1".into(), "--".into(), "date".into()]);
    let mut bg = s.ssh_bg("rejected", &s.alice_pw, &args, 90);
    let t = wait_ticket(&s.work.path().join("rejected.err"), 0);
    ok(&s.answer(&s.boss, &t, "reject"), 200);
    let status = bg.wait(30);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(1),
        "{}",
        s.file("rejected.err")
    );
    assert_eq!(s.file("rejected.out"), "");
    assert!(
        s.file("rejected.err").contains("rejected"),
        "{}",
        s.file("rejected.err")
    );

    // What the client sends while the review waits (stdin, its end) reaches the command.
    fs::write(s.work.path().join("stdin.in"), "piped through\n").unwrap();
    let mut args = s.ssh_args(&s.direct());
    args.extend(["127.0.0.1".into(), "--".into(), "date +%Y; cat".into()]);
    let mut bg = s.ssh_bg("stdin", &s.alice_pw, &args, 90);
    let t = wait_ticket(&s.work.path().join("stdin.err"), 0);
    ok(&s.answer(&s.boss, &t, "approve"), 200);
    let status = bg.wait(30);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}\n{}",
        s.file("stdin.out"),
        s.file("stdin.err")
    );
    assert_eq!(s.file("stdin.out"), format!("{year}\npiped through\n"));

    // The client leaving while waiting closes the ticket.
    let mut args = s.ssh_args(&s.direct());
    args.extend(["127.0.0.1".into(), "--".into(), "date -u".into()]);
    let bg = s.ssh_bg("left", &s.alice_pw, &args, 90);
    let t = wait_ticket(&s.work.path().join("left.err"), 0);
    drop(bg);
    eventually(15, "the abandoned ticket closed", || {
        (s.ticket(&t)["state"]["value"] == "closed").then_some(())
    });

    let finished: Vec<Value> = eventually(15, "four finished sessions", || {
        let f: Vec<Value> = s
            .sessions()
            .into_iter()
            .filter(|x| x["is_finished"] == true)
            .collect();
        (f.len() == 4).then_some(f)
    });
    let mut levels: Vec<(String, i64)> = finished
        .iter()
        .flat_map(|x| s.commands(&id_of(x)))
        .map(|c| {
            (
                c["input"].as_str().unwrap().to_owned(),
                c["risk_level"]["value"].as_i64().unwrap(),
            )
        })
        .collect();
    levels.sort();
    assert_eq!(
        levels,
        [
            ("date".to_owned(), 6),
            ("date +%Y".to_owned(), 7),
            ("date +%Y; cat".to_owned(), 7),
            ("date -u".to_owned(), 8)
        ]
    );
    drop(s);
    db.drop_db().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Connection review
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn connection_review_asks_opens_a_ticket_and_connects_once_approved() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db, true);
    ok(
        &send(
            &s.server,
            &s.admin,
            "POST",
            "/api/v1/acls/login-asset-acls/",
            &json!({"name": "review-web", "action": "review",
                    "users": {"type": "ids", "ids": [s.alice_id]},
                    "assets": {"type": "ids", "ids": [s.web]}, "accounts": ["@ALL"],
                    "reviewers": [{"id": s.boss_id}]}),
        ),
        201,
    );
    let ask = r#"login
want "Need ACL review, continue? (y/n): " "no review question"
"#;
    // Declined.
    let script = s.script(
        "declined.exp",
        &format!(
            r#"{ask}send "n\r"
want "Cancel to login asset" "no cancel message"
expect {{
    eof {{}}
    timeout {{ fail "not closed" }}
}}
puts "\nEXPECT-OK"
"#
        ),
    );
    let (mut bg, log) = s.expect_bg(&script, &s.direct(), 60);
    assert_expect_ok(bg.wait(60), &log, &s);

    // Approved: the session opens.
    let script = s.script(
        "approved.exp",
        &format!(
            r#"{ask}send "y\r"
want "Could copy website URL to notify reviewers: /api/v1/tickets/tickets/" "no ticket link"
set timeout 60
want "approved" "not approved"
set timeout 30
prompt "after approval"
send "echo review-\$((40+2))\r"
want "review-42" "the command did not run"
prompt "after the command"
send "exit\r"
expect {{
    eof {{}}
    timeout {{ fail "not closed" }}
}}
puts "\nEXPECT-OK"
"#
        ),
    );
    let (mut bg, log) = s.expect_bg(&script, &s.direct(), 120);
    let t = wait_ticket(&log, 0);
    let ticket = s.ticket(&t);
    assert_eq!(ticket["type"]["value"], "login_asset_confirm", "{ticket}");
    assert_eq!(s.answer(&s.admin, &t, "approve").status, 403);
    assert_eq!(s.answer(&s.alice, &t, "approve").status, 403);
    ok(&s.answer(&s.boss, &t, "approve"), 200);
    assert_expect_ok(bg.wait(60), &log, &s);

    // Withdrawn by the user with `q` while waiting: the ticket is closed.
    let script = s.script(
        "withdrawn.exp",
        &format!(
            r#"{ask}send "y\r"
want "Could copy website URL to notify reviewers: /api/v1/tickets/tickets/" "no ticket link"
want "Please waiting for the reviewers to confirm" "no waiting line"
send "q"
want "Cancel confirm" "not cancelled"
expect {{
    eof {{}}
    timeout {{ fail "not closed" }}
}}
puts "\nEXPECT-OK"
"#
        ),
    );
    let (mut bg, log) = s.expect_bg(&script, &s.direct(), 60);
    let t = wait_ticket(&log, 0);
    assert_expect_ok(bg.wait(60), &log, &s);
    let ticket = s.ticket(&t);
    assert_eq!(ticket["state"]["value"], "closed", "{ticket}");
    assert_eq!(s.answer(&s.boss, &t, "approve").status / 100, 4);

    // Rejected: no session.
    let before = s.sessions().len();
    let script = s.script(
        "rejected.exp",
        &format!(
            r#"{ask}send "y\r"
want "Could copy website URL to notify reviewers: /api/v1/tickets/tickets/" "no ticket link"
set timeout 60
want "rejected" "not rejected"
expect {{
    eof {{}}
    timeout {{ fail "not closed" }}
}}
puts "\nEXPECT-OK"
"#
        ),
    );
    let (mut bg, log) = s.expect_bg(&script, &s.direct(), 120);
    let t = wait_ticket(&log, 0);
    ok(&s.answer(&s.boss, &t, "reject"), 200);
    assert_expect_ok(bg.wait(60), &log, &s);
    assert_eq!(
        s.sessions().len(),
        before,
        "a rejected login opens no session"
    );
    assert_eq!(s.ticket(&t)["state"]["value"], "rejected");
    drop(s);
    db.drop_db().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Port forwarding
// ---------------------------------------------------------------------------------------------

/// Waits until something accepts connections on `port`.
fn wait_listening(port: u16) {
    eventually(30, &format!("port {port} to listen"), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    });
}

#[tokio::test]
async fn port_forwarding_reaches_only_granted_ports_and_dies_with_its_session() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db, true);
    let (fwd_ok, fwd_http) = (crate::support::free_port(), crate::support::free_port());
    let mut args = s.ssh_args("alice");
    let i = args.iter().position(|a| a == "-l").unwrap();
    args.splice(
        i..i,
        [
            "-N".to_owned(),
            "-o".into(),
            "LogLevel=INFO".into(),
            "-L".into(),
            format!("{fwd_ok}:127.0.0.1:{}", s.sshd.port()),
            "-L".into(),
            format!("{fwd_http}:127.0.0.1:{}", http_port(&s.server)),
        ],
    );
    args.push("127.0.0.1".into());
    let mut tunnel = s.ssh_bg("tunnel", &s.alice_pw, &args, 180);
    wait_listening(fwd_ok);
    wait_listening(fwd_http);

    // A real SSH login to the target through the forward.
    let target = |port: u16, remote: &str, secs: &str| {
        let mut c = Command::new("sshpass");
        c.arg("-e")
            .args(["timeout", "-k", "5", secs])
            .args(["ssh", "-F", "/dev/null", "-p", &port.to_string()])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "LogLevel=ERROR"])
            .args(["-o", "PubkeyAuthentication=no"])
            .args(["-o", "PreferredAuthentications=password"])
            .args(["-l", s.sshd.user(), "127.0.0.1", remote])
            .env("SSHPASS", s.sshd.password())
            .stdin(Stdio::null());
        c
    };
    let o = target(fwd_ok, "echo tunnel-ok", "60").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "tunnel-ok",
        "{}\n{}",
        both(&o),
        s.file("tunnel.err")
    );
    let tunnels = |finished: bool| -> Vec<Value> {
        s.sessions()
            .into_iter()
            .filter(|x| x["type"]["value"] == "tunnel" && x["is_finished"] == finished)
            .collect()
    };
    let done = eventually(15, "a finished tunnel session", || {
        tunnels(true).into_iter().next()
    });
    assert_eq!(done["asset_id"], s.web.as_str(), "{done}");
    assert_eq!(done["user_id"], s.alice_id.as_str(), "{done}");

    // The HTTP port is not granted: the channel is refused, nothing reaches the server.
    let o = Command::new("curl")
        .args(["-s", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://127.0.0.1:{fwd_http}/api/health/"))
        .output()
        .unwrap();
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stdout) == "000",
        "the refused forward answered: {}",
        both(&o)
    );
    eventually(10, "the refusal in ssh's stderr", || {
        s.file("tunnel.err")
            .contains("open failed: administratively prohibited")
            .then_some(())
    });
    assert_eq!(
        tunnels(false).len(),
        0,
        "a refused forward opens no session"
    );

    // A long-lived forwarded connection ends when its session is killed.
    let mut held = Bg(target(fwd_ok, "sleep 120; echo too-late", "150")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let live = eventually(30, "the live tunnel session", || {
        tunnels(false).into_iter().next()
    });
    let sid = id_of(&live);
    assert_eq!(live["protocol"], "ssh", "{live}");
    let r = send(
        &s.server,
        &s.admin,
        "POST",
        "/api/v1/terminal/tasks/kill-session/",
        &json!([sid]),
    );
    assert_eq!(ok(&r, 200), json!({"ok": [sid]}));
    let status = held.wait(30);
    assert!(
        status.is_some_and(|st| !st.success()),
        "the forwarded connection outlived its killed session: {status:?}"
    );
    let done = eventually(15, "the killed tunnel session finished", || {
        let d = s.session(&sid);
        (d["is_finished"] == true).then_some(d)
    });
    assert_eq!(done["error_reason"]["value"], "", "{done}");
    assert_eq!(end_reason(&db, &sid).await, "admin_terminate");
    // The tunnel client itself is still up and forwards new connections.
    assert!(tunnel.wait(0).is_none(), "{}", s.file("tunnel.err"));
    let o = target(fwd_ok, "echo again", "60").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "again",
        "{}",
        both(&o)
    );
    drop(tunnel);
    drop(s);
    db.drop_db().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Limits: the permission expires during a session
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_session_ends_when_its_permission_expires() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db, false);
    let script = s.script(
        "expiry.exp",
        r#"login
prompt "after login"
send "echo still-\$((1+1))\r"
want "still-2" "the command did not run"
set timeout 40
want "Permission has expired, disconnect" "the expiry was not announced"
expect {
    eof {}
    timeout { fail "not disconnected" }
}
puts "\nEXPECT-OK"
"#,
    );
    let expires = chrono::Utc::now() + chrono::TimeDelta::seconds(10);
    s.permit("alice-briefly", Some(expires.to_rfc3339()));
    let (mut bg, log) = s.expect_bg(&script, &s.direct(), 90);
    let live = eventually(15, "the live session", || {
        s.sessions().into_iter().find(|x| x["is_finished"] == false)
    });
    assert_expect_ok(bg.wait(60), &log, &s);
    let ended = chrono::Utc::now();
    assert!(ended >= expires, "ended before the expiry");
    let done = eventually(10, "the session finished", || {
        let d = s.session(&id_of(&live));
        (d["is_finished"] == true).then_some(d)
    });
    assert_eq!(done["error_reason"]["value"], "", "{done}");
    assert_eq!(end_reason(&db, &id_of(&live)).await, "permission_expired");
    // And a new connection is refused.
    let mut args = s.ssh_args(&s.direct());
    args.extend(["127.0.0.1".into(), "echo".into(), "never".into()]);
    let mut bg = s.ssh_bg("after", &s.alice_pw, &args, 60);
    let status = bg.wait(60);
    assert!(status.is_some_and(|st| !st.success()));
    assert!(!s.file("after.out").contains("never"));
    drop(s);
    db.drop_db().await;
}

#[tokio::test]
async fn a_review_still_waiting_when_the_permission_expires_ends_the_session() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db, false);
    s.command_acl("review-date", "date", "review", 10);
    let script = s.script(
        "expiry-review.exp",
        r#"login
prompt "after login"
send "date +%s\r"
want "requires review. Continue or not \[Y/n\]?" "no review question"
send "y\r"
want "Ticket: /api/v1/tickets/tickets/" "no ticket link"
set timeout 40
want "Permission has expired, disconnect" "the expiry was not announced"
expect {
    eof {}
    timeout { fail "not disconnected" }
}
puts "\nEXPECT-OK"
"#,
    );
    let expires = chrono::Utc::now() + chrono::TimeDelta::seconds(10);
    s.permit("alice-briefly", Some(expires.to_rfc3339()));
    let (mut bg, log) = s.expect_bg(&script, &s.direct(), 90);
    let t = wait_ticket(&log, 0);
    // An exec command waiting for its review at the same time.
    let mut args = s.ssh_args(&s.direct());
    args.extend(["127.0.0.1".into(), "--".into(), "date -u".into()]);
    let mut exec = s.ssh_bg("exec", &s.alice_pw, &args, 90);
    let t_exec = wait_ticket(&s.work.path().join("exec.err"), 0);
    let status = bg.wait(60);
    let exec_status = exec.wait(30);
    // Approving afterwards runs nothing: the sessions are gone.
    let _ = s.answer(&s.boss, &t, "approve");
    let _ = s.answer(&s.boss, &t_exec, "approve");
    assert_expect_ok(status, &log, &s);
    assert_eq!(
        exec_status.and_then(|st| st.code()),
        Some(255),
        "{}",
        s.file("exec.err")
    );
    assert!(
        s.file("exec.err")
            .contains("Permission has expired, disconnect"),
        "{}",
        s.file("exec.err")
    );
    assert_eq!(s.file("exec.out"), "");
    for id in [&t, &t_exec] {
        let ticket = s.ticket(id);
        assert_eq!(ticket["state"]["value"], "closed", "{ticket}");
    }
    let finished: Vec<Value> = eventually(10, "the finished sessions", || {
        let f: Vec<Value> = s
            .sessions()
            .into_iter()
            .filter(|x| x["is_finished"] == true)
            .collect();
        (f.len() == 2).then_some(f)
    });
    for x in &finished {
        assert_eq!(end_reason(&db, &id_of(x)).await, "permission_expired");
    }
    let session = finished
        .iter()
        .find(|x| x["type"]["value"] == "normal")
        .unwrap()
        .clone();
    let commands = s.commands(&id_of(&session));
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0]["input"], "date +%s");
    assert_eq!(commands[0]["risk_level"]["value"], 8);
    drop(s);
    db.drop_db().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Command capture through the real shell
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn recorded_commands_are_what_the_shell_ran_and_rm_spellings_are_blocked() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db, true);
    s.command_acl("no-rm", "rm", "reject", 10);
    let victim = s.sshd.home().join("victim");
    let victim_s = victim.display().to_string();
    let script = s.script(
        "capture.exp",
        &r#"login
prompt "after login"
send "echo a; echo b\r"
want "a\r\nb\r\n" "the chain did not run"
prompt "after the chain"
send "xecho hi"
sleep 0.3
send "\x01"
sleep 0.3
send "\x04"
sleep 0.3
send "\x05"
sleep 0.3
send " there\r"
want "\rhi there\r\n" "the edited line did not run"
prompt "after the edited line"
send "echo wrldx"
sleep 0.3
send "\x7f"
sleep 0.3
send "\x1b\[D\x1b\[D\x1b\[D"
sleep 0.3
send "o\r"
want "\rworld\r\n" "the arrow-edited line did not run"
prompt "after the arrow-edited line"
send "\x1b\[200~echo pasted\x1b\[201~"
sleep 0.3
send "\r"
want "\rpasted\r\n" "the paste did not run"
prompt "after the paste"
send "touch @VICTIM@\r"
prompt "after touch"
send "r\"\"m -rf @VICTIM@\r"
want "is forbidden" "r\"\"m was not refused"
prompt "after the first rm"
send "\\rm -rf @VICTIM@\r"
want "is forbidden" "\\rm was not refused"
prompt "after the second rm"
send "ls @VICTIM@ && echo still-\$((1+1))\r"
want "still-2" "the file is gone"
prompt "after ls"
send "exit\r"
expect {
    eof {}
    timeout { fail "not closed" }
}
puts "\nEXPECT-OK"
"#
        .replace("@VICTIM@", &victim_s),
    );
    let (mut bg, log) = s.expect_bg(&script, &s.direct(), 120);
    assert_expect_ok(bg.wait(120), &log, &s);
    assert!(victim.exists(), "the file was removed");
    let session = eventually(10, "the finished session", || {
        s.sessions().into_iter().find(|x| x["is_finished"] == true)
    });
    let commands: Vec<(String, i64)> = s
        .commands(&id_of(&session))
        .iter()
        .map(|c| {
            (
                c["input"].as_str().unwrap().to_owned(),
                c["risk_level"]["value"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, i64)> = [
        ("echo a; echo b".to_owned(), 0),
        ("echo hi there".to_owned(), 0),
        ("echo world".to_owned(), 0),
        ("echo pasted".to_owned(), 0),
        (format!("touch {victim_s}"), 0),
        (format!("r\"\"m -rf {victim_s}"), 5),
        (format!("\\rm -rf {victim_s}"), 5),
        (format!("ls {victim_s} && echo still-$((1+1))"), 0),
        ("exit".to_owned(), 0),
    ]
    .into_iter()
    .collect();
    assert_eq!(commands, want);
    drop(s);
    db.drop_db().await;
}

// ---------------------------------------------------------------------------------------------
// Concurrent first connections of one user
// ---------------------------------------------------------------------------------------------

/// Several connections of one user arriving together each rebuild the user's stale
/// permission cache; on SQLite the rebuild's deferred transaction (read, then write) fails
/// with SQLITE_BUSY / SQLITE_BUSY_SNAPSHOT (5 / 517) instead of waiting, and the gateway
/// answers "could not look up the asset". The rebuild takes its write lock up front
/// (`Store::begin_write`, `BEGIN IMMEDIATE`), so they queue instead.
#[tokio::test]
async fn concurrent_first_connections_of_a_user_all_connect() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db, false);
    let expires = chrono::Utc::now() + chrono::TimeDelta::seconds(600);
    s.permit("alice-later", Some(expires.to_rfc3339()));
    let mut clients: Vec<(String, Bg)> = (0..8)
        .map(|n| {
            let name = format!("par{n}");
            let mut args = s.ssh_args(&s.direct());
            args.extend(["127.0.0.1".into(), format!("echo par-{n}")]);
            let bg = s.ssh_bg(&name, &s.alice_pw, &args, 60);
            (name, bg)
        })
        .collect();
    for (n, (name, bg)) in clients.iter_mut().enumerate() {
        let status = bg.wait(60);
        assert_eq!(
            s.file(&format!("{name}.out")),
            format!("par-{n}\n"),
            "{status:?}: {}\n{}",
            s.file(&format!("{name}.err")),
            s.server.stderr()
        );
    }
    drop(s);
    db.drop_db().await;
}
