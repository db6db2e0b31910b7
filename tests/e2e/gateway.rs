//! The SSH gateway end to end, with real clients against a real target: `portcullis serve`
//! listens for SSH, a real OpenSSH server ([`crate::sshd::Sshd`]) is the asset, and the users
//! are the OpenSSH client (with `sshpass`, or driven through a pty by `expect`) and Python's
//! paramiko. Everything is set up through the REST API, the way an administrator would, and
//! checked through the API afterwards (sessions, commands, replays, login logs).
//!
//! Every client runs under `timeout`, so a hung gateway fails a test instead of stalling the
//! suite; background clients are killed when their guard drops.

use crate::client::{ADMIN_PASSWORD, create_user, get, send, start, token};
use crate::scene::user_id;
use crate::sshd::{Sshd, keygen};
use crate::support::{Bg, Server, TestDb, eventually, id_of, ok, rows};
use hmac13::{KeyInit, Mac};
use serde_json::{Value, json};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TOKENS: &str = "/api/v1/authentication/connection-token/";
const SSH_KEYS: &str = "/api/v1/authentication/ssh-key/";
const MFA_SETUP: &str = "/api/v1/authentication/mfa/setup/";
/// The target shell's prompt (set by the account's `.bash_profile`).
const TARGET_PROMPT: &str = "pct-target$ ";

// ---------------------------------------------------------------------------------------------
// The scene: a server, a target, a user allowed onto it
// ---------------------------------------------------------------------------------------------

/// A running Portcullis with its SSH port, a real target and the user `alice` permitted to
/// reach it with the target's password account. Dropped in field order: server, then target.
struct Scene {
    server: Server,
    sshd: Sshd,
    admin: String,
    /// The SSH gateway's port.
    gw: u16,
    alice_pw: String,
    alice_id: String,
    /// The asset `web-1` (127.0.0.1, the sshd's port).
    web: String,
    /// Its password account (the sshd user).
    account: String,
    /// Scripts, keys and downloads of the test.
    work: tempfile::TempDir,
    _data: tempfile::TempDir,
}

/// An asset `name` at `address` whose ssh port is the target's.
fn host(server: &Server, admin: &str, name: &str, address: &str, port: u16) -> String {
    id_of(&ok(
        &send(
            server,
            admin,
            "POST",
            "/api/v1/assets/hosts/",
            &json!({"name": name, "address": address, "platform": 1,
                    "protocols": [{"name": "ssh", "port": port}]}),
        ),
        201,
    ))
}

fn account(server: &Server, admin: &str, body: Value) -> String {
    id_of(&ok(
        &send(server, admin, "POST", "/api/v1/accounts/accounts/", &body),
        201,
    ))
}

fn permit(server: &Server, admin: &str, name: &str, users: &[&str], assets: &[&str]) {
    ok(
        &send(
            server,
            admin,
            "POST",
            "/api/v1/perms/asset-permissions/",
            &json!({"name": name, "users": users, "assets": assets, "accounts": ["@ALL"],
                    "actions": ["connect", "upload", "download"]}),
        ),
        201,
    );
}

impl Scene {
    fn new(db: &TestDb) -> Scene {
        let sshd = Sshd::start("");
        // A prompt the interactive tests can wait for.
        fs::write(
            sshd.home().join(".bash_profile"),
            format!("PS1='{TARGET_PROMPT}'\n"),
        )
        .unwrap();
        let data = tempfile::tempdir().unwrap();
        let server = start(db, data.path());
        let gw = server.ssh_port;
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let alice_pw = create_user(data.path(), db, "alice", "user");
        let alice_id = user_id(&server, &admin, "alice");
        let web = host(&server, &admin, "web-1", "127.0.0.1", sshd.port());
        let account = account(
            &server,
            &admin,
            json!({"asset": web, "name": "target-pw", "username": sshd.user(),
                   "secret_type": "password", "secret": sshd.password()}),
        );
        permit(&server, &admin, "alice-web", &[&alice_id], &[&web]);
        Scene {
            server,
            sshd,
            admin,
            gw,
            alice_pw,
            alice_id,
            web,
            account,
            work: tempfile::tempdir().unwrap(),
            _data: data,
        }
    }

    /// `alice@<account>@<asset>`.
    fn direct(&self, asset: &str) -> String {
        format!("alice@{}@{asset}", self.sshd.user())
    }

    /// The OpenSSH client towards the gateway, bounded in time, never asking questions about
    /// host keys and reading no configuration of the machine.
    fn ssh(&self, login: &str, secs: u32) -> Command {
        let mut c = Command::new("timeout");
        c.args(["-k", "5", &secs.to_string()]);
        c.args(["ssh", "-F", "/dev/null", "-p", &self.gw.to_string()])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "LogLevel=ERROR"])
            .args(["-o", "ConnectTimeout=15"])
            .args(["-o", "IdentityAgent=none"])
            .args(["-l", login]);
        c
    }

    /// `sshpass` + `ssh` with a password (password authentication only, one prompt), running
    /// `remote` on the target.
    fn ssh_password(&self, login: &str, password: &str, remote: &[&str]) -> Output {
        let mut ssh = self.ssh(login, 60);
        ssh.args(["-o", "PubkeyAuthentication=no"])
            .args(["-o", "PreferredAuthentications=password"])
            .args(["-o", "NumberOfPasswordPrompts=1"])
            .arg("127.0.0.1")
            .arg("--")
            .args(remote);
        let args: Vec<_> = ssh.get_args().map(|a| a.to_owned()).collect();
        let mut c = Command::new("sshpass");
        c.arg("-e")
            .arg("timeout")
            .args(args)
            .env("SSHPASS", password);
        c.stdin(Stdio::null()).output().expect("sshpass")
    }

    fn sessions(&self, query: &str) -> Vec<Value> {
        rows(&get(
            &self.server,
            &self.admin,
            &format!("/api/v1/terminal/sessions/?{query}"),
        ))
    }

    fn commands(&self, session: &str) -> Vec<Value> {
        rows(&get(
            &self.server,
            &self.admin,
            &format!("/api/v1/terminal/commands/?session_id={session}&order=timestamp"),
        ))
    }

    fn failed_logins(&self, username: &str) -> Vec<Value> {
        rows(&get(
            &self.server,
            &self.admin,
            &format!("/api/v1/audits/login-logs/?username={username}&type=T&status=0"),
        ))
    }

    /// Writes an expect script into the work dir.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.work.path().join(name);
        fs::write(&path, format!("{EXPECT_PRELUDE}{body}")).unwrap();
        path
    }

    /// The environment every expect script reads.
    fn expect(&self, script: &Path, login: &str, password: &str, secs: u32) -> Command {
        let mut c = Command::new("timeout");
        c.args(["-k", "5", &secs.to_string(), "expect", "-f"])
            .arg(script)
            .env("GW_PORT", self.gw.to_string())
            .env("GW_LOGIN", login)
            .env("GW_PASS", password)
            .stdin(Stdio::null());
        c
    }
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn both(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        out(o),
        err(o)
    )
}

/// What every expect script starts with: a password login through the gateway as
/// `$GW_LOGIN` (`login ?ssh options?`), and `fail` to leave with a message.
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
"#;

// ---------------------------------------------------------------------------------------------
// Exec through direct naming
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn exec_through_a_direct_name_relays_output_and_exit_status_and_is_recorded() {
    for db in TestDb::both().await {
        let s = Scene::new(&db);
        let o = s.ssh_password(
            &s.direct("127.0.0.1"),
            &s.alice_pw,
            &["echo hi; echo oops >&2; exit 3"],
        );
        assert_eq!(o.status.code(), Some(3), "{}: {}", db.backend, both(&o));
        assert_eq!(out(&o), "hi\n", "{}", both(&o));
        assert!(err(&o).contains("oops"), "{}", both(&o));

        let session = eventually(10, "the finished command session", || {
            s.sessions("is_finished=1").into_iter().next()
        });
        assert_eq!(session["type"]["value"], "command", "{session}");
        assert_eq!(session["protocol"], "ssh");
        assert_eq!(session["asset_id"], s.web.as_str());
        assert_eq!(session["account_id"], s.account.as_str());
        assert_eq!(session["user_id"], s.alice_id.as_str());
        assert_eq!(session["login_from"]["value"], "ST");
        assert_eq!(session["remote_addr"], "127.0.0.1");
        assert!(
            session["user"].as_str().unwrap().contains("alice"),
            "{session}"
        );
        let commands = s.commands(session["id"].as_str().unwrap());
        assert_eq!(commands.len(), 1, "{commands:?}");
        assert_eq!(commands[0]["input"], "echo hi; echo oops >&2; exit 3");
        assert_eq!(commands[0]["risk_level"]["value"], 0);
        assert!(
            commands[0]["output"].as_str().unwrap().contains("hi"),
            "{commands:?}"
        );
        // The target saw the sshd user log in with the vaulted password.
        assert!(
            s.sshd
                .log()
                .contains(&format!("Accepted password for {}", s.sshd.user())),
            "{}",
            s.sshd.log()
        );
        // A command the asset kills does not look successful.
        let o = s.ssh_password(&s.direct("127.0.0.1"), &s.alice_pw, &["kill -TERM $$"]);
        assert_eq!(o.status.code(), Some(128 + 15), "{}", both(&o));
        // stdin reaches the target, EOF included.
        let mut ssh = s.ssh(&s.direct("127.0.0.1"), 60);
        ssh.args(["-o", "PubkeyAuthentication=no"])
            .args(["-o", "PreferredAuthentications=password"])
            .args(["127.0.0.1", "--", "tr a-z A-Z"]);
        let args: Vec<_> = ssh.get_args().map(|a| a.to_owned()).collect();
        let mut child = Command::new("sshpass")
            .arg("-e")
            .arg("timeout")
            .args(args)
            .env("SSHPASS", &s.alice_pw)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"piped through\n")
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(out(&o), "PIPED THROUGH\n", "{}", both(&o));
        assert!(o.status.success(), "{}", both(&o));
        drop(s);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn direct_names_find_the_asset_by_name_and_id_and_say_when_they_cannot() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    for target in ["web-1", s.web.as_str()] {
        let o = s.ssh_password(&s.direct(target), &s.alice_pw, &["echo by-$((1+1))"]);
        assert_eq!(out(&o), "by-2\n", "{target}: {}", both(&o));
        assert!(o.status.success(), "{target}: {}", both(&o));
    }
    // `#` separators work the same.
    let o = s.ssh_password(
        &format!("alice#{}#web-1", s.sshd.user()),
        &s.alice_pw,
        &["echo hash"],
    );
    assert_eq!(out(&o), "hash\n", "{}", both(&o));

    // Unknown asset: a clear message, nothing run.
    let o = s.ssh_password(&s.direct("no-such-host"), &s.alice_pw, &["echo never"]);
    assert!(!o.status.success(), "{}", both(&o));
    assert!(!out(&o).contains("never"), "{}", both(&o));
    assert!(
        err(&o).contains("match asset failed: No found asset no-such-host"),
        "{}",
        both(&o)
    );
    // Unknown account on a known asset.
    let o = s.ssh_password("alice@nobody@web-1", &s.alice_pw, &["echo never"]);
    assert!(!o.status.success(), "{}", both(&o));
    assert!(!out(&o).contains("never"), "{}", both(&o));
    assert!(
        !err(&o).trim().is_empty(),
        "a reason is given: {}",
        both(&o)
    );

    // A second permitted asset at the same address makes the address ambiguous.
    let web2 = host(&s.server, &s.admin, "web-2", "127.0.0.1", s.sshd.port());
    account(
        &s.server,
        &s.admin,
        json!({"asset": web2, "username": s.sshd.user(), "secret": s.sshd.password()}),
    );
    permit(&s.server, &s.admin, "alice-web2", &[&s.alice_id], &[&web2]);
    let o = s.ssh_password(&s.direct("127.0.0.1"), &s.alice_pw, &["echo never"]);
    assert!(!o.status.success(), "{}", both(&o));
    assert!(err(&o).contains("Must be unique asset"), "{}", both(&o));
    assert!(!out(&o).contains("never"));
    // By name each is still reachable.
    let o = s.ssh_password(&s.direct("web-2"), &s.alice_pw, &["echo two"]);
    assert_eq!(out(&o), "two\n", "{}", both(&o));
    // Nothing ran for the refusals.
    let commands: usize = s
        .sessions("is_finished=1")
        .iter()
        .map(|x| s.commands(x["id"].as_str().unwrap()).len())
        .sum();
    assert_eq!(commands, 4, "by name, by id, with #, web-2");
}

/// In a terminal, a direct name that matches several assets (two hosts at one address) shows
/// a paged table to pick from by number; `q` leaves without connecting.
#[tokio::test]
async fn a_direct_name_matching_several_assets_offers_a_table_in_a_terminal() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let web2 = host(&s.server, &s.admin, "web-2", "127.0.0.1", s.sshd.port());
    account(
        &s.server,
        &s.admin,
        json!({"asset": web2, "username": s.sshd.user(), "secret": s.sshd.password()}),
    );
    permit(&s.server, &s.admin, "alice-web2", &[&s.alice_id], &[&web2]);
    // A window of 9 rows: one row per page, so paging is needed to see web-2.
    let pick = s.script(
        "pick.exp",
        &format!(
            r#"set stty_init "rows 9 cols 100"
login
expect {{
    "2 assets match 127.0.0.1" {{}}
    timeout {{ fail "no table" }}
}}
expect {{
    -re {{Page: 1, Count: 1, Total Page: 2, Total Count: 2.*web-1.*Opt> }} {{}}
    timeout {{ fail "no first page" }}
}}
send "n\r"
expect {{
    -re {{Page: 2, Count: 1.*web-2.*Opt> }} {{}}
    timeout {{ fail "no second page" }}
}}
send "7\r"
expect {{
    "No row 7" {{}}
    timeout {{ fail "a wrong number was not refused" }}
}}
send "2\r"
expect {{
    "{prompt}" {{}}
    timeout {{ fail "no target prompt" }}
}}
send "echo picked-\$((40+2))\r"
expect {{
    "picked-42" {{}}
    timeout {{ fail "the command did not run" }}
}}
send "exit\r"
expect eof
puts "\nEXPECT-OK"
"#,
            prompt = TARGET_PROMPT.replace('$', "\\$"),
        ),
    );
    let o = s
        .expect(&pick, &s.direct("127.0.0.1"), &s.alice_pw, 90)
        .output()
        .unwrap();
    assert!(out(&o).contains("EXPECT-OK"), "{}", both(&o));
    let session = eventually(10, "the picked session", || {
        s.sessions("is_finished=1").into_iter().next()
    });
    assert_eq!(session["asset_id"], web2.as_str(), "{session}");

    let leave = s.script(
        "pick-leave.exp",
        r#"login
expect {
    "Opt> " {}
    timeout { fail "no table" }
}
send "q\r"
expect eof
puts "\nEXPECT-OK"
"#,
    );
    let o = s
        .expect(&leave, &s.direct("127.0.0.1"), &s.alice_pw, 60)
        .output()
        .unwrap();
    assert!(out(&o).contains("EXPECT-OK"), "{}", both(&o));
    assert_eq!(s.sessions("").len(), 1, "leaving opened no session");
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_logged() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let o = s.ssh_password(&s.direct("web-1"), "Not-alices-password", &["echo never"]);
    assert!(
        matches!(o.status.code(), Some(255) | Some(5)),
        "ssh must fail to log in: {}",
        both(&o)
    );
    assert!(!out(&o).contains("never"));
    assert!(err(&o).contains("Permission denied"), "{}", both(&o));
    let logs = eventually(10, "the failed login log", || {
        let l = s.failed_logins("alice");
        (!l.is_empty()).then_some(l)
    });
    assert_eq!(logs[0]["type"]["value"], "T", "{logs:?}");
    assert_eq!(logs[0]["status"]["value"], false, "{logs:?}");
    assert_eq!(logs[0]["ip"], "127.0.0.1", "{logs:?}");
    // The target was never contacted.
    assert!(!s.sshd.log().contains("Accepted"), "{}", s.sshd.log());
    // And no session was recorded.
    assert!(s.sessions("").is_empty());
    // An unknown user is refused the same way.
    let o = s.ssh_password("mallory@x@web-1", "whatever", &["true"]);
    assert!(!o.status.success(), "{}", both(&o));
}

// ---------------------------------------------------------------------------------------------
// Public keys
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn public_key_login_with_a_key_registered_through_the_api() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let key = s.work.path().join("alice_ed25519");
    keygen(&key, "ed25519", &[]);
    let alice = token(&s.server, "alice", &s.alice_pw);
    let public = fs::read_to_string(key.with_extension("pub")).unwrap();
    let with_key = |k: &Path| {
        let mut c = s.ssh(&s.direct("web-1"), 60);
        c.arg("-i")
            .arg(k)
            .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"])
            .args(["-o", "PreferredAuthentications=publickey"])
            .args(["127.0.0.1", "--", "echo key-ok"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // Not registered yet: refused.
    let o = with_key(&key);
    assert_eq!(o.status.code(), Some(255), "{}", both(&o));

    ok(
        &send(
            &s.server,
            &alice,
            "POST",
            SSH_KEYS,
            &json!({"public_key": public.trim()}),
        ),
        201,
    );
    let o = with_key(&key);
    assert_eq!(out(&o), "key-ok\n", "{}", both(&o));
    assert!(o.status.success(), "{}", both(&o));
    // Logged as a public-key login.
    let logs = rows(&get(
        &s.server,
        &s.admin,
        "/api/v1/audits/login-logs/?username=alice&type=T&status=1",
    ));
    assert!(logs.iter().any(|l| l["backend"] == "publickey"), "{logs:?}");

    // Another key stays refused.
    let other = s.work.path().join("other_ed25519");
    keygen(&other, "ed25519", &[]);
    let o = with_key(&other);
    assert_eq!(o.status.code(), Some(255), "{}", both(&o));
    assert!(!out(&o).contains("key-ok"));
}

#[tokio::test]
async fn an_ssh_key_account_reaches_the_target_with_its_private_key() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    // A second asset, reached by name `localhost`, whose only account holds a private key.
    let keyed = host(&s.server, &s.admin, "web-key", "localhost", s.sshd.port());
    account(
        &s.server,
        &s.admin,
        json!({"asset": keyed, "name": "target-key", "username": s.sshd.user(),
               "secret_type": "ssh_key", "secret": s.sshd.private_key_text("id_ed25519")}),
    );
    permit(&s.server, &s.admin, "alice-key", &[&s.alice_id], &[&keyed]);
    let o = s.ssh_password(&s.direct("localhost"), &s.alice_pw, &["id -un"]);
    assert_eq!(out(&o).trim(), s.sshd.user(), "{}", both(&o));
    assert!(o.status.success(), "{}", both(&o));
    assert!(
        s.sshd
            .log()
            .contains(&format!("Accepted publickey for {}", s.sshd.user())),
        "{}",
        s.sshd.log()
    );
}

// ---------------------------------------------------------------------------------------------
// The interactive menu, command filtering and the recording
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn interactive_menu_filters_commands_and_records_a_playable_session() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    // Reject `rm -rf`, `shutdown` and `touch`.
    let group = id_of(&ok(
        &send(
            &s.server,
            &s.admin,
            "POST",
            "/api/v1/acls/command-groups/",
            &json!({"name": "danger", "content": "rm -rf\nshutdown\ntouch"}),
        ),
        201,
    ));
    ok(
        &send(
            &s.server,
            &s.admin,
            "POST",
            "/api/v1/acls/command-filter-acls/",
            &json!({"name": "no-danger", "action": "reject", "users": {"type": "all"},
                    "assets": {"type": "all"}, "accounts": ["@ALL"], "command_groups": [group]}),
        ),
        201,
    );
    let forbidden = s.sshd.home().join("forbidden-file");
    let script = s.script(
        "menu.exp",
        &format!(
            r#"login
expect {{
    "Welcome to Portcullis" {{}}
    timeout {{ fail "no welcome" }}
}}
expect {{
    "Opt> " {{}}
    timeout {{ fail "no menu prompt" }}
}}
send "p\r"
expect {{
    "web-1" {{}}
    timeout {{ fail "the asset list does not show web-1" }}
}}
expect {{
    -ex "\[Host\]> " {{}}
    timeout {{ fail "no host prompt" }}
}}
send "1\r"
expect {{
    "{prompt}" {{}}
    timeout {{ fail "no target prompt" }}
}}
send "echo gateway-\$((6*7))\r"
expect {{
    "gateway-42" {{}}
    timeout {{ fail "the command did not run" }}
}}
expect {{
    "{prompt}" {{}}
    timeout {{ fail "no prompt after the command" }}
}}
send "touch {forbidden}\r"
expect {{
    "is forbidden" {{}}
    timeout {{ fail "the forbidden command was not refused" }}
}}
expect {{
    "{prompt}" {{}}
    timeout {{ fail "no prompt after the refusal" }}
}}
send "exit\r"
expect {{
    -re {{(Opt|\[Host\])> }} {{}}
    timeout {{ fail "not back at the menu" }}
}}
send "q\r"
expect {{
    eof {{}}
    timeout {{ fail "q did not close the connection" }}
}}
puts "\nEXPECT-OK"
"#,
            prompt = TARGET_PROMPT.replace('$', "\\$"),
            forbidden = forbidden.display()
        ),
    );
    let o = s
        .expect(&script, "alice", &s.alice_pw, 120)
        .output()
        .unwrap();
    let screen = out(&o);
    assert!(
        o.status.success() && screen.contains("EXPECT-OK"),
        "{}\n{}",
        both(&o),
        s.server.stderr()
    );
    assert!(
        screen.contains("Command `touch") && screen.contains("is forbidden"),
        "{screen}"
    );
    assert!(!forbidden.exists(), "the refused command must not run");

    // Commands run without a terminal are filtered too, wherever the word is in the line.
    let sneaky = format!("true && touch {}", forbidden.display());
    let o = s.ssh_password(&s.direct("web-1"), &s.alice_pw, &[&sneaky]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(err(&o).contains("is forbidden"), "{}", both(&o));
    assert!(!forbidden.exists(), "the refused command must not run");

    let session = eventually(10, "the finished shell session", || {
        s.sessions("is_finished=1&type=normal").into_iter().next()
    });
    let sid = session["id"].as_str().unwrap().to_owned();
    assert_eq!(session["has_replay"], true, "{session}");
    let commands = s.commands(&sid);
    let seen: Vec<(String, i64)> = commands
        .iter()
        .map(|c| {
            (
                c["input"].as_str().unwrap().to_owned(),
                c["risk_level"]["value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        seen.contains(&("echo gateway-$((6*7))".to_owned(), 0)),
        "{seen:?}"
    );
    assert!(
        seen.contains(&(format!("touch {}", forbidden.display()), 5)),
        "{seen:?}"
    );
    let echo = commands
        .iter()
        .find(|c| c["risk_level"]["value"] == 0 && c["input"].as_str().unwrap().starts_with("echo"))
        .unwrap();
    assert!(
        echo["output"].as_str().unwrap().contains("gateway-42"),
        "{echo}"
    );

    // The recording: asciicast v2 that parses and shows what the user saw.
    let r = get(
        &s.server,
        &s.admin,
        &format!("/api/v1/terminal/sessions/{sid}/replay/download/"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut lines = r.body.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2, "{header}");
    assert!(header["width"].as_u64().unwrap() > 0, "{header}");
    let mut output = String::new();
    let mut last = 0.0;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let ev: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let t = ev[0].as_f64().expect("time");
        assert!(t >= last, "events in order: {line}");
        last = t;
        assert!(ev[1].is_string(), "{line}");
        if ev[1] == "o" {
            output.push_str(ev[2].as_str().unwrap());
        }
    }
    assert!(output.contains("gateway-42"), "{output}");
    assert!(output.contains("is forbidden"), "{output}");
    let cast = s.work.path().join("session.cast");
    fs::write(&cast, &r.body).unwrap();
    match asciinema() {
        Some(bin) => {
            // `asciinema cat` wants a terminal: `script` gives it one.
            let o = Command::new("timeout")
                .args(["30", "script", "-q", "-e", "-c"])
                .arg(format!("{} cat {}", bin.display(), cast.display()))
                .arg("/dev/null")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(o.status.success(), "asciinema cat: {}", both(&o));
            assert!(out(&o).contains("gateway-42"), "{}", both(&o));
        }
        None => eprintln!("asciinema is not installed: the recording was checked by parsing only"),
    }
}

/// The asciinema player: `PORTCULLIS_TEST_ASCIINEMA` (set by tests/run.sh) or on the PATH.
fn asciinema() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PORTCULLIS_TEST_ASCIINEMA") {
        return Some(PathBuf::from(p));
    }
    let o = Command::new("sh")
        .args(["-c", "command -v asciinema"])
        .output()
        .ok()?;
    let p = out(&o).trim().to_owned();
    (!p.is_empty()).then(|| PathBuf::from(p))
}

/// The announcement set in the settings shows above the menu's prompt while it is enabled and
/// inside its dates, and not otherwise; the public settings serve it too. The same session
/// lists Kubernetes clusters with `k` and switches the language with `s`.
#[tokio::test]
async fn the_menu_shows_the_announcement_and_answers_k_and_s() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let set = |body: Value| {
        ok(
            &send(
                &s.server,
                &s.admin,
                "PATCH",
                "/api/v1/settings/setting/?category=announcement",
                &body,
            ),
            200,
        )
    };
    let saved = set(json!({"ANNOUNCEMENT_ENABLED": true, "ANNOUNCEMENT": {
        "SUBJECT": "Patch night", "CONTENT": "Hosts reboot at 02:00\nSave your work",
        "LINK": "https://status.example/42"}}));
    assert_eq!(saved["ANNOUNCEMENT_ENABLED"], true, "{saved}");
    assert_eq!(saved["ANNOUNCEMENT"]["SUBJECT"], "Patch night", "{saved}");
    // Bad bodies are refused whole.
    let r = send(
        &s.server,
        &s.admin,
        "PATCH",
        "/api/v1/settings/setting/?category=announcement",
        &json!({"ANNOUNCEMENT": {"CONTENT": "no subject"}}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let alice = token(&s.server, "alice", &s.alice_pw);
    let public = ok(&get(&s.server, &alice, "/api/v1/settings/public/"), 200);
    assert_eq!(public["ANNOUNCEMENT_ENABLED"], true, "{public}");
    assert_eq!(
        public["ANNOUNCEMENT"]["CONTENT"],
        "Hosts reboot at 02:00\nSave your work"
    );

    let shown = s.script(
        "announce.exp",
        r#"login
expect {
    "Announcement: Patch night" {}
    timeout { fail "no announcement" }
}
expect {
    "Save your work" {}
    timeout { fail "no content" }
}
expect {
    "Link: https://status.example/42" {}
    timeout { fail "no link" }
}
expect {
    "Opt> " {}
    timeout { fail "no menu prompt" }
}
send "k\r"
expect {
    "No kubernetes" {}
    timeout { fail "k did not list Kubernetes clusters" }
}
expect {
    -ex "\[K8S\]> " {}
    timeout { fail "no Kubernetes prompt" }
}
send "s\r"
expect {
    -re {English.*ID> } {}
    timeout { fail "no language table" }
}
send "2\r"
expect {
    -ex "> " {}
    timeout { fail "no prompt after switching" }
}
send "p\r"
expect {
    "web-1" {}
    timeout { fail "no list after switching" }
}
if {[string match "*Total Count*" $expect_out(buffer)]} { fail "the list is still in English" }
send "s\r"
expect {
    "ID> " {}
    timeout { fail "no language table" }
}
send "1\r"
expect {
    "to list all the assets you may use" {}
    timeout { fail "not back in English" }
}
send "q\r"
expect eof
puts "\nEXPECT-OK"
"#,
    );
    let hidden = s.script(
        "no-announce.exp",
        r#"login
expect {
    "Announcement" { fail "an announcement was shown" }
    "Opt> " {}
    timeout { fail "no menu prompt" }
}
send "q\r"
expect eof
puts "\nEXPECT-OK"
"#,
    );
    let run = |script: &Path| {
        let o = s.expect(script, "alice", &s.alice_pw, 60).output().unwrap();
        let text = out(&o);
        assert!(text.contains("EXPECT-OK"), "{}", both(&o));
        text
    };
    run(&shown);
    // Disabled: nothing.
    set(json!({"ANNOUNCEMENT_ENABLED": false}));
    run(&hidden);
    // Enabled again but over: nothing either.
    set(json!({"ANNOUNCEMENT_ENABLED": true, "ANNOUNCEMENT": {
        "SUBJECT": "Patch night", "CONTENT": "old",
        "DATE_START": "2020-01-01T00:00:00Z", "DATE_END": "2020-01-02T00:00:00Z"}}));
    run(&hidden);
}

// ---------------------------------------------------------------------------------------------
// Admin kill
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_admin_kill_ends_a_live_session_with_a_message() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let script = s.script(
        "idle.exp",
        &format!(
            r#"login
expect {{
    "{prompt}" {{}}
    timeout {{ fail "no target prompt" }}
}}
puts "\nEXPECT-READY"
set timeout 60
expect {{
    "Terminated by admin" {{}}
    timeout {{ fail "not terminated" }}
    eof {{ fail "closed without the message" }}
}}
expect {{
    eof {{}}
    timeout {{ fail "the connection stayed open" }}
}}
puts "\nEXPECT-OK"
"#,
            prompt = TARGET_PROMPT.replace('$', "\\$"),
        ),
    );
    let log = s.work.path().join("idle.log");
    let child = s
        .expect(&script, &s.direct("web-1"), &s.alice_pw, 120)
        .stdout(fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut bg = Bg(child);
    let read_log = || fs::read_to_string(&log).unwrap_or_default();
    eventually(60, "the target prompt", || {
        read_log().contains("EXPECT-READY").then_some(())
    });
    let live = eventually(10, "the live session", || {
        s.sessions("is_finished=0").into_iter().next()
    });
    let sid = id_of(&live);
    assert_eq!(live["type"]["value"], "normal", "{live}");
    assert_eq!(live["can_terminate"], true);
    let r = send(
        &s.server,
        &s.admin,
        "POST",
        "/api/v1/terminal/tasks/kill-session/",
        &json!([sid]),
    );
    assert_eq!(ok(&r, 200), json!({"ok": [sid]}));
    let status = bg.wait(30);
    let screen = read_log();
    assert!(
        status.is_some_and(|st| st.success()) && screen.contains("EXPECT-OK"),
        "{status:?}\n{screen}"
    );
    let done = eventually(10, "the session to be finished", || {
        let d = ok(
            &get(
                &s.server,
                &s.admin,
                &format!("/api/v1/terminal/sessions/{sid}/"),
            ),
            200,
        );
        (d["is_finished"] == true).then_some(d)
    });
    assert!(s.sessions("is_finished=0").is_empty());
    // The reason is kept with the session and in its lifecycle log.
    let mut f = crate::fixture::Fixture::new(&db.url).await;
    let reason: String = sqlx::query_scalar("SELECT end_reason FROM sessions WHERE id = $1")
        .bind(&sid)
        .fetch_one(&mut f.conn)
        .await
        .unwrap();
    assert_eq!(reason, "admin_terminate", "{done}");
    let logged: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM session_lifecycle_logs WHERE session_id = $1 AND reason = 'admin_terminate'",
    )
    .bind(&sid)
    .fetch_one(&mut f.conn)
    .await
    .unwrap();
    assert_eq!(logged, 1);
}

/// Lock and unlock an exec session (no terminal): while locked the command's output is held
/// and what the client sends is discarded; the client hears of both on stderr, nothing is lost
/// from the output, and the recording keeps the notices.
#[tokio::test]
async fn an_admin_lock_holds_an_exec_session_and_is_recorded() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let toggle = |sid: &str, task: &str| {
        let r = send(
            &s.server,
            &s.admin,
            "POST",
            "/api/v1/terminal/tasks/toggle-lock-session/",
            &json!({"session_id": sid, "task_name": task}),
        );
        assert_eq!(ok(&r, 200), json!({"ok": [sid]}));
    };
    // Numbered lines every 50 ms for about 6 s, then whatever stdin brings.
    let remote =
        "echo begin; i=0; while [ $i -lt 120 ]; do i=$((i+1)); echo n$i; sleep 0.05; done; cat";
    let mut ssh = s.ssh(&s.direct("web-1"), 120);
    ssh.args(["-o", "PubkeyAuthentication=no"])
        .args(["-o", "PreferredAuthentications=password"])
        .args(["127.0.0.1", "--", remote]);
    let args: Vec<_> = ssh.get_args().map(|a| a.to_owned()).collect();
    let stdout_path = s.work.path().join("exec-lock.out");
    let stderr_path = s.work.path().join("exec-lock.err");
    let child = Command::new("sshpass")
        .arg("-e")
        .arg("timeout")
        .args(args)
        .env("SSHPASS", &s.alice_pw)
        .stdin(Stdio::piped())
        .stdout(fs::File::create(&stdout_path).unwrap())
        .stderr(fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let mut bg = Bg(child);
    let mut stdin = bg.0.stdin.take().unwrap();
    let stdout = || fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = || fs::read_to_string(&stderr_path).unwrap_or_default();
    eventually(30, "the command to start", || {
        stdout().contains("begin").then_some(())
    });
    let sid = id_of(&eventually(10, "the live session", || {
        s.sessions("is_finished=0").into_iter().next()
    }));
    toggle(&sid, "lock_session");
    eventually(10, "the lock notice", || {
        stderr().contains("locked by").then_some(())
    });
    // Held: nothing more arrives while locked.
    let held = stdout();
    assert!(
        !held.contains("n120"),
        "the command finished before the lock: {held}"
    );
    stdin.write_all(b"typed-while-locked\n").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stdout(), held, "output went on while locked");
    toggle(&sid, "unlock_session");
    eventually(10, "the unlock notice", || {
        stderr().contains("unlocked").then_some(())
    });
    stdin.write_all(b"typed-after-unlock\n").unwrap();
    drop(stdin);
    let status = bg.wait(60);
    assert!(
        status.is_some_and(|st| st.success()),
        "{status:?}: {}",
        stderr()
    );
    let all = stdout();
    // Every line arrived, in order: held, not dropped.
    let numbers: Vec<&str> = all.lines().filter(|l| l.starts_with('n')).collect();
    let expected: Vec<String> = (1..=120).map(|i| format!("n{i}")).collect();
    assert_eq!(numbers, expected, "{all}");
    assert!(all.contains("typed-after-unlock"), "{all}");
    assert!(!all.contains("typed-while-locked"), "{all}");

    // The recording shows the notices where they happened, among the output.
    eventually(10, "the session to finish", || {
        s.sessions("is_finished=1").into_iter().next()
    });
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
    let locked_at = output.find("locked by").expect("lock notice recorded");
    let unlocked_at = output.find("unlocked").expect("unlock notice recorded");
    assert!(locked_at < unlocked_at, "{output}");
    assert!(output[..locked_at].contains("begin"), "{output}");
    assert!(output[unlocked_at..].contains("n120"), "{output}");
}

#[tokio::test]
async fn an_idle_session_ends_after_the_configured_idle_time() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    // One minute, the smallest the setting allows.
    let r = send(
        &s.server,
        &s.admin,
        "PATCH",
        "/api/v1/settings/setting/?category=security_session",
        &json!({"SECURITY_MAX_IDLE_TIME": 1}),
    );
    assert_eq!(ok(&r, 200)["SECURITY_MAX_IDLE_TIME"], 1);
    let script = s.script(
        "idle-limit.exp",
        &format!(
            r#"login
expect {{
    "{prompt}" {{}}
    timeout {{ fail "no target prompt" }}
}}
puts "\nEXPECT-READY"
set timeout 100
expect {{
    "Connect idle more than 1 minutes, disconnect" {{}}
    timeout {{ fail "not disconnected for idleness" }}
    eof {{ fail "closed without the message" }}
}}
expect {{
    eof {{}}
    timeout {{ fail "the connection stayed open" }}
}}
puts "\nEXPECT-OK"
"#,
            prompt = TARGET_PROMPT.replace('$', "\\$"),
        ),
    );
    let log = s.work.path().join("idle-limit.log");
    let started = Instant::now();
    let child = s
        .expect(&script, &s.direct("web-1"), &s.alice_pw, 150)
        .stdout(fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut bg = Bg(child);
    let status = bg.wait(140);
    let screen = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.is_some_and(|st| st.success()) && screen.contains("EXPECT-OK"),
        "{status:?}\n{screen}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(55),
        "ended after {:?}, before the idle minute",
        started.elapsed()
    );
    let done = eventually(10, "the session to be finished", || {
        s.sessions("is_finished=1").into_iter().next()
    });
    assert_eq!(done["end_reason"], "idle_disconnect", "{done}");
}

// ---------------------------------------------------------------------------------------------
// MFA
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

/// RFC 6238 with HMAC-SHA1, six digits, 30-second steps, computed independently here.
fn totp_at(key: &[u8], step: u64) -> String {
    let mut mac = hmac13::Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    mac.update(&step.to_be_bytes());
    let d = mac.finalize().into_bytes();
    let o = (d[19] & 0x0f) as usize;
    let n = u32::from_be_bytes([d[o] & 0x7f, d[o + 1], d[o + 2], d[o + 3]]) % 1_000_000;
    format!("{n:06}")
}

fn unix_step() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30
}

#[tokio::test]
async fn mfa_users_answer_an_otp_prompt_and_a_wrong_code_is_refused() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let alice = token(&s.server, "alice", &s.alice_pw);
    let setup = ok(&get(&s.server, &alice, MFA_SETUP), 200);
    let key = base32_decode(setup["secret"].as_str().unwrap());
    // Bind with the previous step's code, so the current and next stay unused for the login
    // (each step is accepted once).
    let bind_step = unix_step() - 1;
    ok(
        &send(
            &s.server,
            &alice,
            "POST",
            MFA_SETUP,
            &json!({"code": totp_at(&key, bind_step)}),
        ),
        200,
    );
    let wrong = |step: u64| {
        let valid: Vec<String> = (step - 2..=step + 2).map(|st| totp_at(&key, st)).collect();
        (0..10)
            .map(|i| format!("{i}{i}{i}{i}{i}{i}"))
            .find(|c| !valid.contains(c))
            .unwrap()
    };
    let script = s.script(
        "mfa.exp",
        r#"login -o PreferredAuthentications=password,keyboard-interactive
expect {
    -ex "\[OTP Code\]: " {}
    timeout { fail "no OTP prompt" }
    eof { fail "closed before the OTP prompt" }
}
send -- "$env(OTP_WRONG)\r"
expect {
    -ex "\[OTP Code\]: " {}
    timeout { fail "no second OTP prompt after a wrong code" }
    eof { fail "closed after one wrong code" }
}
send -- "$env(OTP_CODE)\r"
expect {
    "mfa-passed" {}
    timeout { fail "the command did not run" }
    eof { fail "closed without running the command" }
}
expect eof
puts "\nEXPECT-OK"
"#,
    );
    // The exec form: the command goes after the host.
    let exec_script = s.work.path().join("mfa-exec.exp");
    fs::write(
        &exec_script,
        fs::read_to_string(&script).unwrap().replace(
            "-l $env(GW_LOGIN) 127.0.0.1",
            "-l $env(GW_LOGIN) 127.0.0.1 echo mfa-passed",
        ),
    )
    .unwrap();
    let step = unix_step();
    let o = s
        .expect(&exec_script, &s.direct("web-1"), &s.alice_pw, 90)
        .env("OTP_WRONG", wrong(step))
        .env("OTP_CODE", totp_at(&key, step.max(bind_step + 1)))
        .output()
        .unwrap();
    assert!(
        o.status.success() && out(&o).contains("EXPECT-OK"),
        "{}\n{}",
        both(&o),
        s.server.stderr()
    );

    // Only wrong codes: refused after three.
    let only_wrong = s.work.path().join("mfa-wrong.exp");
    fs::write(
        &only_wrong,
        format!(
            r#"{EXPECT_PRELUDE}login -o PreferredAuthentications=password,keyboard-interactive -o NumberOfPasswordPrompts=1
set n 0
expect {{
    -ex "\[OTP Code\]: " {{ incr n; send -- "$env(OTP_WRONG)\r"; exp_continue }}
    -re {{assword: ?$}} {{ fail "asked for the password again" }}
    "Permission denied" {{}}
    timeout {{ fail "no refusal" }}
    eof {{}}
}}
expect eof
if {{$n < 1}} {{ fail "never asked for a code" }}
puts "\nEXPECT-REFUSED $n"
"#
        ),
    )
    .unwrap();
    let o = s
        .expect(&only_wrong, &s.direct("web-1"), &s.alice_pw, 90)
        .env("OTP_WRONG", wrong(unix_step()))
        .output()
        .unwrap();
    assert!(
        o.status.success() && out(&o).contains("EXPECT-REFUSED"),
        "{}",
        both(&o)
    );
    assert!(!out(&o).contains("mfa-passed"));
    let refused: Vec<Value> = s.failed_logins("alice");
    assert!(!refused.is_empty(), "wrong codes are logged as failures");
}

// ---------------------------------------------------------------------------------------------
// Connection tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_connection_token_logs_in_once() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let alice = token(&s.server, "alice", &s.alice_pw);
    let t = ok(
        &send(
            &s.server,
            &alice,
            "POST",
            TOKENS,
            &json!({"asset": s.web, "account": s.account, "protocol": "ssh",
                    "connect_method": "ssh_client"}),
        ),
        201,
    );
    let login = format!("JMS-{}", id_of(&t));
    let value = t["value"].as_str().unwrap().to_owned();
    let o = s.ssh_password(&login, &value, &["echo tok"]);
    assert_eq!(out(&o), "tok\n", "{}\n{}", both(&o), s.server.stderr());
    assert!(o.status.success(), "{}", both(&o));
    let session = eventually(10, "the token session", || {
        s.sessions("is_finished=1").into_iter().next()
    });
    assert_eq!(session["user_id"], s.alice_id.as_str(), "{session}");
    assert_eq!(session["asset_id"], s.web.as_str());

    let again = s.ssh_password(&login, &value, &["echo tok"]);
    assert!(!again.status.success(), "one-time: {}", both(&again));
    assert!(!out(&again).contains("tok"));
    // A made-up token id or a wrong value never logs in.
    let t2 = ok(
        &send(
            &s.server,
            &alice,
            "POST",
            TOKENS,
            &json!({"asset": s.web, "account": s.account, "protocol": "ssh"}),
        ),
        201,
    );
    let o = s.ssh_password(
        &format!("JMS-{}", id_of(&t2)),
        "wrong-value-1234",
        &["echo tok"],
    );
    assert!(!o.status.success(), "{}", both(&o));
    let o = s.ssh_password(
        &format!("JMS-{}", uuid::Uuid::new_v4()),
        t2["value"].as_str().unwrap(),
        &["echo tok"],
    );
    assert!(!o.status.success(), "{}", both(&o));
}

/// Every refusal goes through the store's one redeem check: an expired token, a used one, one
/// whose user was disabled or lost the permission, never logs in; and a wrong value does not
/// burn a good token.
#[tokio::test]
async fn connection_tokens_expired_used_or_of_a_disabled_user_are_refused() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let alice = token(&s.server, "alice", &s.alice_pw);
    let new_token = || {
        let t = ok(
            &send(
                &s.server,
                &alice,
                "POST",
                TOKENS,
                &json!({"asset": s.web, "account": s.account, "protocol": "ssh",
                        "connect_method": "ssh_client"}),
            ),
            201,
        );
        (
            format!("JMS-{}", id_of(&t)),
            t["value"].as_str().unwrap().to_owned(),
            id_of(&t),
        )
    };
    // A wrong value first: the token still works afterwards, once.
    let (login, value, _) = new_token();
    let o = s.ssh_password(&login, "not-the-value-0000", &["echo tok"]);
    assert!(!o.status.success(), "{}", both(&o));
    let o = s.ssh_password(&login, &value, &["echo tok"]);
    assert_eq!(out(&o), "tok\n", "{}", both(&o));
    let used = s.ssh_password(&login, &value, &["echo tok"]);
    assert!(!used.status.success(), "used: {}", both(&used));
    assert!(!out(&used).contains("tok"));

    // Expired through the API before use.
    let (login, value, id) = new_token();
    let r = send(
        &s.server,
        &alice,
        "PATCH",
        &format!("{TOKENS}{id}/expire/"),
        &json!({}),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let o = s.ssh_password(&login, &value, &["echo tok"]);
    assert!(!o.status.success(), "expired: {}", both(&o));
    assert!(!out(&o).contains("tok"));

    // A token of a user disabled after it was made.
    let (login, value, _) = new_token();
    ok(
        &send(
            &s.server,
            &s.admin,
            "PATCH",
            &format!("/api/v1/users/users/{}/", s.alice_id),
            &json!({"is_active": false}),
        ),
        200,
    );
    let o = s.ssh_password(&login, &value, &["echo tok"]);
    assert!(!o.status.success(), "disabled user: {}", both(&o));
    assert!(!out(&o).contains("tok"));
    // Enabled again, the same unused token works: the refusal did not use it up.
    ok(
        &send(
            &s.server,
            &s.admin,
            "PATCH",
            &format!("/api/v1/users/users/{}/", s.alice_id),
            &json!({"is_active": true}),
        ),
        200,
    );
    let o = s.ssh_password(&login, &value, &["echo tok"]);
    assert_eq!(out(&o), "tok\n", "{}", both(&o));
    // Only the two good logins opened sessions.
    let sessions = s.sessions("");
    assert_eq!(sessions.len(), 2, "{sessions:?}");
}

// ---------------------------------------------------------------------------------------------
// Another client library
// ---------------------------------------------------------------------------------------------

const PARAMIKO: &str = r#"
import os, sys, paramiko
c = paramiko.SSHClient()
c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
c.connect("127.0.0.1", port=int(os.environ["GW_PORT"]), username=os.environ["GW_LOGIN"],
          password=os.environ["GW_PASS"], look_for_keys=False, allow_agent=False, timeout=20,
          banner_timeout=20, auth_timeout=20)
stdin, stdout, stderr = c.exec_command("echo paramiko-$((20+3)); echo err-side >&2; exit 4", timeout=30)
out = stdout.read().decode()
err = stderr.read().decode()
status = stdout.channel.recv_exit_status()
c.close()
print(repr((out, err, status)))
"#;

#[tokio::test]
async fn paramiko_runs_a_command_through_the_gateway() {
    let Ok(python) = std::env::var("PORTCULLIS_TEST_PYTHON") else {
        panic!(
            "PORTCULLIS_TEST_PYTHON is not set: run the suite with tests/run.sh, which makes the \
             venv target/pyenv with examples/requirements.txt (paramiko)"
        );
    };
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let o = Command::new("timeout")
        .args(["-k", "5", "60"])
        .arg(&python)
        .args(["-c", PARAMIKO])
        .env("GW_PORT", s.gw.to_string())
        .env("GW_LOGIN", s.direct("web-1"))
        .env("GW_PASS", &s.alice_pw)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", both(&o));
    assert_eq!(
        out(&o).trim(),
        "('paramiko-23\\n', 'err-side\\n', 4)",
        "{}",
        both(&o)
    );
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn garbage_and_silent_clients_do_not_stall_the_listener() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let addr = format!("127.0.0.1:{}", s.gw);
    // One says nothing at all, one sends a line that is not SSH; both stay connected.
    let silent = std::net::TcpStream::connect(&addr).unwrap();
    let mut garbage = std::net::TcpStream::connect(&addr).unwrap();
    garbage
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    garbage.write_all(b"hello\r\n").unwrap();
    let mut banner = [0u8; 64];
    let n = garbage.read(&mut banner).unwrap_or(0);
    assert!(
        String::from_utf8_lossy(&banner[..n]).starts_with("SSH-2.0-"),
        "the server speaks first: {:?}",
        String::from_utf8_lossy(&banner[..n])
    );
    // Binary junk after the version exchange, too.
    let mut junk = std::net::TcpStream::connect(&addr).unwrap();
    junk.write_all(b"SSH-2.0-junk\r\n\x00\x00\x00\x10\xff\xff\xff\xff garbage garbage")
        .unwrap();

    let started = Instant::now();
    let o = s.ssh_password(&s.direct("web-1"), &s.alice_pw, &["echo still-serving"]);
    assert_eq!(out(&o), "still-serving\n", "{}", both(&o));
    assert!(started.elapsed() < Duration::from_secs(30));
    // And again, with the odd connections still open.
    let o = s.ssh_password(&s.direct("web-1"), &s.alice_pw, &["echo again"]);
    assert_eq!(out(&o), "again\n", "{}", both(&o));
    drop((silent, garbage, junk));
}

/// The resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A client that stops reading (an OpenSSH client frozen with SIGSTOP) while the target floods
/// output: back-pressure reaches the target instead of the gateway's memory, other users are
/// served meanwhile, and killing the frozen client ends its session cleanly.
#[tokio::test]
async fn a_client_that_stops_reading_is_held_back_without_stalling_others() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let mut ssh = s.ssh(&s.direct("web-1"), 300);
    ssh.args(["-o", "PubkeyAuthentication=no"])
        .args(["-o", "PreferredAuthentications=password"])
        .args(["127.0.0.1", "--", "cat /dev/zero"]);
    let args: Vec<_> = ssh.get_args().map(|a| a.to_owned()).collect();
    let child = Command::new("sshpass")
        .arg("-e")
        .arg("timeout")
        .args(args)
        .env("SSHPASS", &s.alice_pw)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut bg = Bg(child);
    let sid = id_of(&eventually(30, "the flooding session", || {
        s.sessions("is_finished=0").into_iter().next()
    }));
    // The OpenSSH client itself (under sshpass and timeout).
    let client = eventually(10, "the ssh client process", || {
        crate::sshd::descendants(bg.0.id()).into_iter().find(|p| {
            fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "ssh")
        })
    });
    std::thread::sleep(Duration::from_millis(500));
    let stop = Command::new("kill")
        .args(["-STOP", &client.to_string()])
        .status()
        .unwrap();
    assert!(stop.success());
    let gateway = s.server.child.id();
    // Let the buffers on the way fill, then watch the gateway while the target still pushes.
    std::thread::sleep(Duration::from_secs(3));
    let before = rss_kib(gateway);
    // Meanwhile another login works, promptly.
    let started = Instant::now();
    let o = s.ssh_password(&s.direct("web-1"), &s.alice_pw, &["echo still-serving"]);
    assert_eq!(out(&o), "still-serving\n", "{}", both(&o));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_secs(5));
    let after = rss_kib(gateway);
    // A gateway that buffered the flood would grow by hundreds of MiB in these seconds.
    assert!(
        after < before + 64 * 1024,
        "gateway RSS grew from {before} KiB to {after} KiB while the client was stopped"
    );
    // The frozen client dies: its session ends, and the gateway goes on serving.
    let _ = Command::new("kill")
        .args(["-KILL", &client.to_string()])
        .status();
    assert!(bg.wait(30).is_some(), "the client wrapper did not exit");
    let done = eventually(30, "the flooding session to end", || {
        let d = ok(
            &get(
                &s.server,
                &s.admin,
                &format!("/api/v1/terminal/sessions/{sid}/"),
            ),
            200,
        );
        (d["is_finished"] == true).then_some(d)
    });
    assert_eq!(done["is_finished"], true);
    let o = s.ssh_password(&s.direct("web-1"), &s.alice_pw, &["echo after"]);
    assert_eq!(out(&o), "after\n", "{}", both(&o));
    // The target's `cat` went with it.
    eventually(30, "the target command to end", || {
        let o = Command::new("pgrep")
            .args(["-f", "^cat /dev/zero$"])
            .output()
            .unwrap();
        (!o.status.success()).then_some(())
    });
}
