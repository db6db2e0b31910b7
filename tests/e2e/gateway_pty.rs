//! A command run through the gateway gets a terminal on the target exactly when the client
//! asked for one (`ssh -t host cmd`), as OpenSSH gives it directly or through `ssh -J`: the
//! real OpenSSH client (through a pty driven by `expect`, so it has a window size to send)
//! against `portcullis serve` with a real OpenSSH server as the asset. The interactive menu
//! starts in the language of the user's profile.

use crate::client::{ADMIN_PASSWORD, create_user, get, send, start, token};
use crate::scene::{add_ssh_host, add_sshd_account, grant, user_id};
use crate::sshd::Sshd;
use crate::support::{Server, TestDb, eventually, ok, rows};
use std::fs;
use std::process::{Command, Stdio};

struct Scene {
    server: Server,
    sshd: Sshd,
    admin: String,
    gw: u16,
    alice_pw: String,
    bob_pw: String,
    work: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Scene {
    fn new(db: &TestDb) -> Scene {
        let sshd = Sshd::start("");
        let data = tempfile::tempdir().unwrap();
        let server = start(db, data.path());
        let gw = server.ssh_port;
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let alice_pw = create_user(data.path(), db, "alice", "user");
        let bob_pw = create_user(data.path(), db, "bob", "user");
        let alice_id = user_id(&server, &admin, "alice");
        let web = add_ssh_host(&server, &admin, "web-1", &sshd);
        add_sshd_account(&server, &admin, &web, "target-pw", &sshd);
        grant(
            &server,
            &admin,
            "alice-web",
            &[&alice_id],
            &[&web],
            &["connect"],
        );
        Scene {
            server,
            sshd,
            admin,
            gw,
            alice_pw,
            bob_pw,
            work: tempfile::tempdir().unwrap(),
            _data: data,
        }
    }

    /// Runs `remote` through the gateway under `expect`, the client's terminal being
    /// 33 rows × 101 columns, with `tty` ("-tt" or "-T") as the client's pty option; the
    /// script `body` follows the login.
    fn run(&self, tty: &str, remote: &str, body: &str) -> (bool, String) {
        let login = format!("alice@{}@127.0.0.1", self.sshd.user());
        self.run_as(&login, &self.alice_pw, tty, &format!("{{{remote}}}"), body)
    }

    /// As [`Scene::run`] for any login name; `remote` is the command line's tail as
    /// Tcl words (empty: a shell, i.e. the menu).
    fn run_as(
        &self,
        login: &str,
        password: &str,
        tty: &str,
        remote: &str,
        body: &str,
    ) -> (bool, String) {
        let script = self.work.path().join("pty.exp");
        fs::write(
            &script,
            format!(
                r#"set timeout 30
log_user 1
proc fail {{msg}} {{ puts "\nEXPECT-FAIL: $msg"; exit 1 }}
set stty_init "rows 33 columns 101"
spawn ssh -F /dev/null {tty} -p $env(GW_PORT) -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentityAgent=none \
    -o PubkeyAuthentication=no -l $env(GW_LOGIN) 127.0.0.1 {remote}
expect {{
    -re {{assword: ?$}} {{ send -- "$env(GW_PASS)\r" }}
    timeout {{ fail "no password prompt" }}
    eof {{ fail "closed before the password prompt" }}
}}
{body}
"#
            ),
        )
        .unwrap();
        let o = Command::new("timeout")
            .args(["-k", "5", "60", "expect", "-f"])
            .arg(&script)
            .env("GW_PORT", self.gw.to_string())
            .env("GW_LOGIN", login)
            .env("GW_PASS", password)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), text)
    }
}

#[tokio::test]
async fn a_command_gets_a_terminal_of_the_clients_size_only_when_the_client_asks() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);

    // -tt: a pty on the target, of the client's size, following its window changes.
    let (ok_tt, text) = s.run(
        "-tt",
        "tty; stty size; read x; stty size",
        r#"expect {
    -re {/dev/pts/[0-9]+} {}
    "not a tty" { fail "the command has no terminal" }
    timeout { fail "no tty line" }
}
expect {
    "33 101" {}
    "Inappropriate ioctl" { fail "stty has no terminal" }
    timeout { fail "the window size did not reach the target" }
}
sleep 0.5
stty rows 40 columns 120 < $spawn_out(slave,name)
sleep 1
send "\r"
expect {
    "40 120" {}
    timeout { fail "the window change did not reach the target" }
}
expect eof
"#,
    );
    assert!(ok_tt, "{text}");

    // -T (no pty requested): the command has no terminal, as with OpenSSH.
    let (ok_t, text) = s.run(
        "-T",
        "tty; stty size",
        r#"expect {
    "not a tty" {}
    -re {/dev/pts/[0-9]+} { fail "a terminal nobody asked for" }
    timeout { fail "no tty line" }
}
expect eof
"#,
    );
    assert!(ok_t, "{text}");

    // Both are command sessions, each recording its exec line.
    let sessions = eventually(10, "two finished command sessions", || {
        let list = rows(&get(
            &s.server,
            &s.admin,
            "/api/v1/terminal/sessions/?is_finished=1",
        ));
        (list.len() == 2).then_some(list)
    });
    let mut inputs = Vec::new();
    for session in &sessions {
        assert_eq!(session["type"]["value"], "command", "{session}");
        let commands = rows(&get(
            &s.server,
            &s.admin,
            &format!(
                "/api/v1/terminal/commands/?session_id={}",
                session["id"].as_str().unwrap()
            ),
        ));
        assert_eq!(commands.len(), 1, "{commands:?}");
        inputs.push(commands[0]["input"].as_str().unwrap().to_owned());
    }
    inputs.sort();
    assert_eq!(
        inputs,
        ["tty; stty size", "tty; stty size; read x; stty size"]
    );
    drop(s);
    db.drop_db().await;
}

/// The menu opens in the profile's language (`lang`): `zh-hans` gives the Chinese help,
/// `en` the English one; the profile is read at each login, so a change applies to the next.
#[tokio::test]
async fn the_menu_starts_in_the_language_of_the_users_profile() {
    let db = TestDb::sqlite();
    let s = Scene::new(&db);
    let set_lang = |user: &str, password: &str, lang: &str| {
        let t = token(&s.server, user, password);
        ok(
            &send(
                &s.server,
                &t,
                "PATCH",
                "/api/v1/users/profile/",
                &serde_json::json!({ "lang": lang }),
            ),
            200,
        );
    };
    set_lang("alice", &s.alice_pw, "zh-hans");
    set_lang("bob", &s.bob_pw, "en");
    // The help's third line in each language, and the other language's must not show.
    let zh = "列出您可以使用的全部资产";
    let en = "list all the assets you may use";
    let menu = |shown: &str, absent: &str| {
        format!(
            r#"expect {{
    "{absent}" {{ fail "the menu speaks the other language" }}
    "{shown}" {{}}
    timeout {{ fail "no help in the expected language" }}
}}
expect {{
    "Opt> " {{}}
    timeout {{ fail "no menu prompt" }}
}}
send "q\r"
expect eof
"#
        )
    };
    let (ok_zh, text) = s.run_as("alice", &s.alice_pw, "-tt", "", &menu(zh, en));
    assert!(ok_zh, "{text}");
    assert!(text.contains(zh) && !text.contains(en), "{text}");
    let (ok_en, text) = s.run_as("bob", &s.bob_pw, "-tt", "", &menu(en, zh));
    assert!(ok_en, "{text}");
    assert!(text.contains(en) && !text.contains(zh), "{text}");

    // A changed profile reaches the next login.
    set_lang("alice", &s.alice_pw, "en");
    let (ok_again, text) = s.run_as("alice", &s.alice_pw, "-tt", "", &menu(en, zh));
    assert!(ok_again, "{text}");
    drop(s);
    db.drop_db().await;
}
