//! The plugin's methods end to end against the SDK's scripted host: what they run and send,
//! and what they answer.

use portcullis_plugin_sdk::testing::{Event, ScriptedHost, ScriptedSession, key_secret, secret};
use portcullis_plugin_sdk::{
    Account, Automation, CommandOutput, Error, LogLevel, PushOptions, SecretKind, Target,
};

use crate::Linux;
use crate::remote::{EXIT_NO_USER, EXIT_REFUSED};

const PUBLIC: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG0b5r9xQ portcullis@vault";
const PRIVATE: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
const PASSWORD: &str = "Tr0ub4dor&3";

fn target() -> Target {
    Target::ssh("7b0c7f5e-asset")
}

fn account(name: &str, kind: SecretKind) -> Account {
    Account {
        username: name.to_owned(),
        secret_kind: kind,
    }
}

fn root() -> ScriptedSession {
    ScriptedSession::new().run("id -u", CommandOutput::success("0\n"))
}

fn passwd_line(prefix: &str, user: &str) -> String {
    format!("sh -c 'LC_ALL=C {prefix}passwd {user}; echo \"__PORTCULLIS_RC=$?=\"'")
}

/// The passwd dialogue of a Debian server, after the session's earlier steps.
fn passwd_dialogue(s: ScriptedSession, prefix: &str, user: &str) -> ScriptedSession {
    s.sends_line(&passwd_line(prefix, user))
        .prints("New password: ")
        .sends_secret("new-secret")
        .prints("\r\nRetype new password: ")
        .sends_secret("new-secret")
        .prints("\r\npasswd: password updated successfully\r\n__PORTCULLIS_RC=0=\r\n")
}

fn no_secret_leaked(host: &ScriptedHost) {
    let everything = format!("{:?}{}", host.commands(), host.sent_text());
    assert!(!everything.contains(PASSWORD), "{everything}");
    assert!(!everything.contains("PRIVATE KEY"), "{everything}");
    assert!(host.reveals().is_empty(), "the plugin never needs reveal");
}

#[test]
fn describe_matches_the_manifest() {
    let manifest: toml::Value =
        toml::from_str(include_str!("../plugin.toml")).expect("plugin.toml parses");
    let info = Linux::describe();
    assert_eq!(manifest["id"].as_str(), Some(info.id.as_str()));
    assert_eq!(manifest["version"].as_str(), Some(info.version.as_str()));
    assert_eq!(manifest["kind"].as_str(), Some("platform-automation"));
    let methods: Vec<&str> = manifest["automation"]
        .as_array()
        .expect("[[automation]]")
        .iter()
        .filter_map(|a| a["method"].as_str())
        .collect();
    assert_eq!(
        methods,
        [
            "ping",
            "verify_account",
            "change_secret",
            "push_account",
            "gather_accounts",
            "remove_account"
        ]
    );
}

#[test]
fn ping_runs_echo() {
    let host = ScriptedHost::new()
        .session(ScriptedSession::new().run("echo ok", CommandOutput::success("ok\n")))
        .session(
            ScriptedSession::new().run("echo ok", CommandOutput::failure(126, "permission denied")),
        )
        .open_fails(Error::unauthorized("publickey refused"));
    assert_eq!(Linux::ping(&host, target(), ""), Ok(()));
    assert!(matches!(
        Linux::ping(&host, target(), "{}"),
        Err(Error::Denied(_))
    ));
    assert!(matches!(
        Linux::ping(&host, target(), ""),
        Err(Error::Unauthorized(_))
    ));
    assert_eq!(host.opened()[0], target());
    host.assert_finished();
}

#[test]
fn verify_is_the_login_and_keeps_the_hosts_answer() {
    let host = ScriptedHost::new()
        .session(ScriptedSession::new())
        .open_fails(Error::unauthorized("password refused"))
        .open_fails(Error::Timeout);
    assert_eq!(Linux::verify_account(&host, target(), ""), Ok(()));
    assert_eq!(
        Linux::verify_account(&host, target(), ""),
        Err(Error::Unauthorized("password refused".into()))
    );
    assert_eq!(
        Linux::verify_account(&host, target(), ""),
        Err(Error::Timeout)
    );
    assert!(host.commands().is_empty());
    host.assert_finished();
}

#[test]
fn change_password_as_root_types_it_at_the_prompts() {
    let pw = secret("new-secret", PASSWORD);
    let host = ScriptedHost::new().session(passwd_dialogue(root(), "", "alice"));
    let r = Linux::change_secret(
        &host,
        target(),
        account("alice", SecretKind::Password),
        pw.as_ref(),
        "",
    );
    assert_eq!(r, Ok(()));
    host.assert_finished();
    assert_eq!(host.commands(), ["id -u"]);
    let secrets: Vec<_> = host
        .transcript(0)
        .into_iter()
        .filter(|e| matches!(e, Event::SendSecret { .. }))
        .collect();
    assert_eq!(
        secrets,
        vec![
            Event::SendSecret {
                name: "new-secret".into(),
                newline: true
            };
            2
        ]
    );
    no_secret_leaked(&host);
    assert!(
        host.logs()
            .iter()
            .any(|l| l.message == "changed the password of alice")
    );
}

#[test]
fn change_password_through_sudo_when_not_root() {
    let pw = secret("new-secret", PASSWORD);
    let session = ScriptedSession::new().run("id -u", CommandOutput::success("1001\n"));
    let host = ScriptedHost::new()
        .session(passwd_dialogue(session, "sudo -n ", "svc.web"))
        .session(passwd_dialogue(
            ScriptedSession::new(),
            "sudo -n ",
            "svc.web",
        ));
    let acct = || account("svc.web", SecretKind::Password);
    assert_eq!(
        Linux::change_secret(&host, target(), acct(), pw.as_ref(), ""),
        Ok(())
    );
    // `"sudo": true` skips the `id -u` probe.
    assert_eq!(
        Linux::change_secret(
            &host,
            target(),
            acct(),
            pw.as_ref(),
            r#"{"use_sudo": true}"#
        ),
        Ok(())
    );
    host.assert_finished();
    no_secret_leaked(&host);
}

#[test]
fn change_ssh_key_adds_or_replaces_the_public_key() {
    let key = key_secret("new-secret", PRIVATE, PUBLIC);
    let host = ScriptedHost::new()
        .session(root().run_containing("authorized_keys", CommandOutput::success("")))
        .session(root().run_containing("authorized_keys", CommandOutput::success("")));
    let acct = || account("alice", SecretKind::SshKey);
    assert_eq!(
        Linux::change_secret(&host, target(), acct(), key.as_ref(), ""),
        Ok(())
    );
    assert_eq!(
        Linux::change_secret(
            &host,
            target(),
            acct(),
            key.as_ref(),
            r#"{"ssh_key_change_strategy": "replace"}"#
        ),
        Ok(())
    );
    host.assert_finished();
    let commands = host.commands();
    assert_eq!(commands.len(), 4);
    assert!(commands[1].starts_with("sh -c '"), "{}", commands[1]);
    assert!(
        commands[1].contains(PUBLIC),
        "the public key goes on the line"
    );
    assert!(
        commands[1].contains("grep -qxF"),
        "add keeps the other keys"
    );
    assert!(
        commands[3].contains("> \"$f\""),
        "replace rewrites the file"
    );
    assert!(!commands[3].contains("grep -qxF"));
    no_secret_leaked(&host);
}

#[test]
fn change_secret_refuses_bad_input_before_connecting() {
    let pw = secret("new-secret", PASSWORD);
    let host = ScriptedHost::new();
    let change = |user: &str, kind, s: &portcullis_plugin_sdk::Secret, params: &str| {
        Linux::change_secret(&host, target(), account(user, kind), s.as_ref(), params)
    };
    for r in [
        change("bob; reboot", SecretKind::Password, &pw, ""),
        change("bob", SecretKind::Token, &pw, ""),
        change("bob", SecretKind::SshKey, &pw, ""),
        change(
            "bob",
            SecretKind::SshKey,
            &key_secret("k", PRIVATE, "not a key"),
            "",
        ),
        change("bob", SecretKind::Password, &pw, "{not json"),
        change(
            "bob",
            SecretKind::SshKey,
            &key_secret("k", PRIVATE, PUBLIC),
            r#"{"ssh_key_change_strategy": "set_jms"}"#,
        ),
    ] {
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
    }
    assert!(host.opened().is_empty());
}

#[test]
fn change_secret_of_a_missing_user_is_not_found() {
    let key = key_secret("new-secret", PRIVATE, PUBLIC);
    let host = ScriptedHost::new().session(root().run_containing(
        "authorized_keys",
        CommandOutput::failure(EXIT_NO_USER, "no such user: ghost\n"),
    ));
    let r = Linux::change_secret(
        &host,
        target(),
        account("ghost", SecretKind::SshKey),
        key.as_ref(),
        "",
    );
    assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
}

#[test]
fn push_creates_the_account_then_sets_the_password() {
    let pw = secret("new-secret", PASSWORD);
    let session = root().run_containing("useradd -m", CommandOutput::success("created\n"));
    let host = ScriptedHost::new().session(passwd_dialogue(session, "", "bob"));
    let options = PushOptions {
        home: None,
        shell: Some("/bin/bash".into()),
        groups: vec!["ops".into()],
        sudo: Some("/usr/bin/systemctl".into()),
        private_group: true,
    };
    let r = Linux::push_account(
        &host,
        target(),
        account("bob", SecretKind::Password),
        pw.as_ref(),
        options,
        "",
    );
    assert_eq!(r, Ok(()));
    host.assert_finished();
    let script = &host.commands()[1];
    assert!(script.contains("groupadd"), "{script}");
    assert!(script.contains("visudo -cf"), "{script}");
    assert!(
        script.contains("bob ALL=(ALL) NOPASSWD: /usr/bin/systemctl"),
        "{script}"
    );
    assert!(
        host.logs()
            .iter()
            .any(|l| l.level == LogLevel::Info && l.message == "created account bob")
    );
    no_secret_leaked(&host);
}

#[test]
fn push_installs_a_key_for_key_accounts() {
    let key = key_secret("secret", PRIVATE, PUBLIC);
    let host = ScriptedHost::new().session(
        root()
            .run_containing("useradd -m", CommandOutput::success("updated\n"))
            .run_containing("authorized_keys", CommandOutput::success("")),
    );
    let r = Linux::push_account(
        &host,
        target(),
        account("bob", SecretKind::SshKey),
        key.as_ref(),
        PushOptions::default(),
        "",
    );
    assert_eq!(r, Ok(()));
    host.assert_finished();
    assert!(
        host.logs()
            .iter()
            .any(|l| l.message == "updated account bob")
    );
    no_secret_leaked(&host);
}

#[test]
fn push_failures_say_what_happened() {
    let pw = secret("new-secret", PASSWORD);
    let push = |host: &ScriptedHost, sudo: Option<&str>| {
        Linux::push_account(
            host,
            target(),
            account("bob", SecretKind::Password),
            pw.as_ref(),
            PushOptions {
                sudo: sudo.map(str::to_owned),
                ..PushOptions::default()
            },
            "",
        )
    };
    // visudo refuses the rule.
    let host = ScriptedHost::new().session(root().run_containing(
        "useradd",
        CommandOutput::failure(
            EXIT_REFUSED,
            "sudo rule refused by visudo: syntax error near line 1\n",
        ),
    ));
    assert!(matches!(
        push(&host, Some("ALL=(ALL NOPASSWD")),
        Err(Error::InvalidInput(_))
    ));
    // The account is made but passwd is refused.
    let host = ScriptedHost::new().session(
        root()
            .run_containing("useradd", CommandOutput::success("created\n"))
            .sends_line(&passwd_line("", "bob"))
            .prints("New password: ")
            .sends_secret("new-secret")
            .prints("\nRetype new password: ")
            .sends_secret("new-secret")
            .prints("\npasswd: Authentication token manipulation error\npasswd: password unchanged\n__PORTCULLIS_RC=10=\n"),
    );
    let r = push(&host, None);
    assert!(
        matches!(&r, Err(Error::InvalidInput(m)) if m.starts_with("account bob created, but its secret was not set")),
        "{r:?}"
    );
    // Not root and no passwordless sudo.
    let host = ScriptedHost::new().session(
        ScriptedSession::new()
            .run("id -u", CommandOutput::success("1000\n"))
            .run_containing(
                "sudo -n sh -c",
                CommandOutput::failure(1, "sudo: a password is required\n"),
            ),
    );
    assert!(matches!(push(&host, None), Err(Error::Denied(_))));
}

const GATHERED: &str = "@@today\n20000\n@@passwd\nroot:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/bash\n@@group\nroot:x:0:\nsudo:x:27:alice\nalice:x:1000:\n@@shadow\nroot:*:\nalice:!:\n@@lastlog\nUsername         Port     From             Latest\nroot             pts/0    10.1.2.3         Tue Mar  5 10:22:33 +0000 2024\nalice                                      **Never logged in**\n";

#[test]
fn gather_lists_accounts_through_sudo() {
    let host = ScriptedHost::new().session(
        ScriptedSession::new()
            .run("id -u", CommandOutput::success("1000\n"))
            .run_containing("@@passwd", CommandOutput::success(GATHERED)),
    );
    let list = Linux::gather_accounts(&host, target(), "").expect("gathered");
    host.assert_finished();
    assert!(host.commands()[1].starts_with("sudo -n sh -c"));
    let names: Vec<&str> = list.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(names, ["root", "alice"]);
    assert_eq!(list[0].last_login_address.as_deref(), Some("10.1.2.3"));
    assert!(
        list[1].privileged && !list[1].login_enabled,
        "alice: sudo member, locked"
    );
    let all = Linux::gather_accounts(
        &ScriptedHost::new()
            .session(root().run_containing("@@passwd", CommandOutput::success(GATHERED))),
        target(),
        r#"{"all": true}"#,
    )
    .expect("gathered");
    assert_eq!(all.len(), 3);
}

#[test]
fn gather_falls_back_to_plain_reads_when_sudo_is_refused() {
    let unprivileged = GATHERED.replace("root:*:\nalice:!:\n", "");
    let host = ScriptedHost::new().session(
        ScriptedSession::new()
            .run("id -u", CommandOutput::success("1000\n"))
            .run_containing(
                "sudo -n sh -c",
                CommandOutput::failure(1, "sudo: a password is required\n"),
            )
            .run_containing("@@passwd", CommandOutput::success(&unprivileged)),
    );
    let list = Linux::gather_accounts(&host, target(), "").expect("gathered");
    host.assert_finished();
    assert!(
        host.commands()[2].starts_with("sh -c"),
        "{}",
        host.commands()[2]
    );
    assert!(list[1].login_enabled, "lock status unknown without shadow");
    assert!(host.logs().iter().any(|l| l.level == LogLevel::Warn));
}

#[test]
fn gather_of_nothing_is_an_error() {
    let host = ScriptedHost::new()
        .session(root().run_containing("@@passwd", CommandOutput::success("@@passwd\n@@group\n")));
    assert!(matches!(
        Linux::gather_accounts(&host, target(), ""),
        Err(Error::Internal(_))
    ));
}

#[test]
fn remove_deletes_and_reports() {
    let host = ScriptedHost::new()
        .session(root().run_containing(
            "userdel -r \"$u\"",
            CommandOutput::success("@@warn the home directory of bob was not removed\n"),
        ))
        .session(root().run_containing(
            "userdel \"$u\"",
            CommandOutput::failure(EXIT_NO_USER, "no such user: ghost\n"),
        ))
        .session(root().run_containing(
            "userdel",
            CommandOutput::failure(8, "bob is logged in; userdel refused\n"),
        ));
    assert_eq!(
        Linux::remove_account(&host, target(), "bob", r#"{"delete_home": true}"#),
        Ok(())
    );
    assert!(
        host.logs()
            .iter()
            .any(|l| l.level == LogLevel::Warn && l.message.contains("home directory"))
    );
    assert!(matches!(
        Linux::remove_account(&host, target(), "ghost", ""),
        Err(Error::NotFound(_))
    ));
    assert!(
        matches!(Linux::remove_account(&host, target(), "bob", ""), Err(Error::Unavailable(m)) if m.contains("logged in"))
    );
    host.assert_finished();
    assert!(matches!(
        Linux::remove_account(&ScriptedHost::new(), target(), "../etc", ""),
        Err(Error::InvalidInput(_))
    ));
}
