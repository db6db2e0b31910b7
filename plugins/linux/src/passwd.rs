//! Setting a password with `passwd USER` in the interactive shell.
//!
//! The password goes only through `send-secret` at passwd's prompts (which do not echo), so
//! it is never on a command line, in the plugin's memory, or in the host's audit. The command
//! line is typed as `sh -c '... passwd USER; echo "__PORTCULLIS_RC=$?="'` so the exit status
//! can be read whatever the login shell; the typed line holds no `:`, so its echo can never
//! look like a prompt (prompt patterns need `password...:`), and its echo of the marker has
//! `$?` where the real marker has digits.

use std::time::Duration;

use portcullis_plugin_sdk::{Error, SecretRef, Session};

use crate::remote::{Privilege, excerpt, permission_problem, sudo_refused};
use crate::shell::shell_quote;

/// How long to wait for each prompt.
pub const PROMPT_TIMEOUT: Duration = Duration::from_secs(30);

const MARK: &str = "__PORTCULLIS_RC=";
/// The exit status marker, as printed (`__PORTCULLIS_RC=0=`).
const RC: &str = r"__PORTCULLIS_RC=[0-9]+=";
/// Asks for the current password: the account is not privileged for this user.
const CURRENT: &str = r"(?i)(current|old)[^\n]*password[^\n]*:";
/// The second prompt (Debian, RHEL, BusyBox, older "UNIX" wording).
const RETYPE: &str = r"(?i)(retype|again|re-enter|repeat|confirm)[^\n]*password[^\n]*:";
/// The first prompt.
const NEW: &str = r"(?i)(new|enter)[^\n]*password[^\n]*:";

/// The line typed into the shell.
pub fn command_line(privilege: Privilege, user: &str) -> String {
    let inner = format!(
        "LC_ALL=C {}passwd {}; echo \"{MARK}$?=\"",
        privilege.prefix(),
        shell_quote(user)
    );
    format!("sh -c {}", shell_quote(&inner))
}

/// Sets `user`'s password to `secret` through passwd's prompts.
pub fn set_password(
    session: &mut dyn Session,
    privilege: Privilege,
    user: &str,
    secret: SecretRef<'_>,
) -> Result<(), Error> {
    session.send_line(&command_line(privilege, user))?;
    let mut transcript = String::new();

    let first = session.expect(&[CURRENT, RETYPE, NEW, RC], PROMPT_TIMEOUT)?;
    transcript.push_str(&first.text());
    match first.index {
        0 => {
            // Do not leave passwd waiting; the session is dropped right after anyway.
            session.send(b"\x03")?;
            return Err(Error::denied(format!(
                "passwd asks for {user}'s current password: the connecting account is not root \
                 and sudo is off"
            )));
        }
        1 | 2 => {}
        _ => return Err(outcome(user, &transcript)),
    }
    session.send_secret(secret, true)?;

    let second = session.expect(&[RETYPE, RC, NEW], PROMPT_TIMEOUT)?;
    transcript.push_str(&second.text());
    match second.index {
        0 => {}
        1 => return Err(outcome(user, &transcript)),
        _ => {
            session.send(b"\x03")?;
            return Err(Error::invalid_input(format!(
                "passwd refused the new password: {}",
                excerpt(strip_marker(&transcript))
            )));
        }
    }
    session.send_secret(secret, true)?;

    let last = session.expect(&[RC, NEW], PROMPT_TIMEOUT)?;
    transcript.push_str(&last.text());
    if last.index != 0 {
        session.send(b"\x03")?;
        return Err(Error::invalid_input(format!(
            "passwd refused the new password: {}",
            excerpt(strip_marker(&transcript))
        )));
    }
    match exit_status(&transcript) {
        Some(0) => Ok(()),
        _ => Err(outcome(user, &transcript)),
    }
}

/// The status in the last marker of `text`.
fn exit_status(text: &str) -> Option<i32> {
    let start = text.rfind(MARK)? + MARK.len();
    let rest = &text[start..];
    let end = rest.find('=')?;
    rest[..end].parse().ok()
}

/// What passwd said, for messages: the transcript without the marker, the echoed command
/// line and the prompts; the last lines matter most.
fn strip_marker(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains(MARK))
        .filter(|l| !l.to_ascii_lowercase().ends_with("password:"))
        .collect();
    lines[lines.len().saturating_sub(4)..].join("\n")
}

/// What a failed passwd run means.
fn outcome(user: &str, transcript: &str) -> Error {
    let status = exit_status(transcript);
    let text = strip_marker(transcript);
    let detail = excerpt(text.clone());
    let lower = text.to_ascii_lowercase();
    if sudo_refused(&text) {
        Error::denied(format!(
            "passwd: sudo refused ({detail}); the connecting account must be root or have \
             passwordless sudo (NOPASSWD)"
        ))
    } else if lower.contains("does not exist") || lower.contains("unknown user") {
        Error::not_found(format!("passwd: no user {user}"))
    } else if permission_problem(&text) || lower.contains("only root") {
        Error::denied(format!("passwd: {detail}"))
    } else if lower.contains("password unchanged") || lower.contains("bad password") {
        Error::invalid_input(format!("passwd refused the new password: {detail}"))
    } else {
        Error::unavailable(format!(
            "passwd failed (exit {}): {detail}",
            status.map_or_else(|| "unknown".to_owned(), |s| s.to_string())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_plugin_sdk::testing::{Event, ScriptedHost, ScriptedSession, secret};
    use portcullis_plugin_sdk::{RemoteHost, Target};

    const LINE: &str = r#"sh -c 'LC_ALL=C passwd alice; echo "__PORTCULLIS_RC=$?="'"#;

    fn run(script: ScriptedSession, privilege: Privilege) -> (ScriptedHost, Result<(), Error>) {
        let host = ScriptedHost::new().session(script);
        let pw = secret("new-secret", "S3cret!pw");
        let mut s = host
            .open(&Target::ssh("a1"), Duration::from_secs(1))
            .expect("scripted");
        let r = set_password(s.as_mut(), privilege, "alice", pw.as_ref());
        (host, r)
    }

    #[test]
    fn the_typed_line_is_safe_and_colon_free() {
        assert_eq!(command_line(Privilege::Root, "alice"), LINE);
        let sudo = command_line(Privilege::Sudo, "svc.web");
        assert_eq!(
            sudo,
            r#"sh -c 'LC_ALL=C sudo -n passwd svc.web; echo "__PORTCULLIS_RC=$?="'"#
        );
        assert!(!sudo.contains(':'));
    }

    #[test]
    fn debian_prompts_set_the_password_through_send_secret() {
        let script = ScriptedSession::new()
            .prints("Linux web1 6.1.0-18-amd64\nroot@web1:~# ")
            .sends_line(LINE)
            .prints(&format!("{LINE}\r\nNew password: "))
            .sends_secret("new-secret")
            .prints("\r\nRetype new password: ")
            .sends_secret("new-secret")
            .prints(
                "\r\npasswd: password updated successfully\r\n__PORTCULLIS_RC=0=\r\nroot@web1:~# ",
            );
        let (host, r) = run(script, Privilege::Root);
        assert_eq!(r, Ok(()));
        host.assert_finished();
        assert_eq!(
            host.sent_text(),
            format!("{LINE}\n<secret:new-secret>\n<secret:new-secret>\n")
        );
        assert!(!host.sent_text().contains("S3cret"));
        assert!(host.commands().is_empty());
        assert!(host.reveals().is_empty());
    }

    #[test]
    fn busybox_and_old_unix_wording_work_too() {
        let script = ScriptedSession::new()
            .sends_line(LINE)
            .prints("Changing password for alice\nEnter new UNIX password: ")
            .sends_secret("new-secret")
            .prints("\nRetype password: ")
            .sends_secret("new-secret")
            .prints("\npasswd: password for alice changed by root\n__PORTCULLIS_RC=0=\n");
        assert_eq!(run(script, Privilege::Root).1, Ok(()));
    }

    #[test]
    fn a_missing_user_is_not_found() {
        let script = ScriptedSession::new()
            .sends_line(LINE)
            .prints("passwd: user 'alice' does not exist\n__PORTCULLIS_RC=1=\n");
        assert!(matches!(
            run(script, Privilege::Root).1,
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn sudo_without_nopasswd_is_denied() {
        let line = command_line(Privilege::Sudo, "alice");
        let script = ScriptedSession::new().sends_line(&line).prints(&format!(
            "{line}\nsudo: a password is required\n__PORTCULLIS_RC=1=\n"
        ));
        let r = run(script, Privilege::Sudo).1;
        assert!(
            matches!(r, Err(Error::Denied(ref m)) if m.contains("NOPASSWD")),
            "{r:?}"
        );
    }

    #[test]
    fn a_current_password_prompt_is_denied_without_sending_anything() {
        let script = ScriptedSession::new()
            .sends_line(LINE)
            .prints("Changing password for alice.\nCurrent password: ")
            .sends(b"\x03");
        let (host, r) = run(script, Privilege::Plain);
        assert!(matches!(r, Err(Error::Denied(_))), "{r:?}");
        assert!(
            !host
                .transcript(0)
                .iter()
                .any(|e| matches!(e, Event::SendSecret { .. }))
        );
    }

    #[test]
    fn a_refused_password_is_invalid_input() {
        let script = ScriptedSession::new()
            .sends_line(LINE)
            .prints("New password: ")
            .sends_secret("new-secret")
            .prints("\nBAD PASSWORD: it is based on a dictionary word\nRetype new password: ")
            .sends_secret("new-secret")
            .prints("\nSorry, passwords do not match.\npasswd: Authentication token manipulation error\npasswd: password unchanged\n__PORTCULLIS_RC=10=\n");
        let r = run(script, Privilege::Root).1;
        assert!(
            matches!(r, Err(Error::InvalidInput(ref m)) if m.contains("unchanged")),
            "{r:?}"
        );
    }

    #[test]
    fn a_prompt_that_never_comes_times_out() {
        let script = ScriptedSession::new().sends_line(LINE).prints("$ ");
        assert_eq!(run(script, Privilege::Root).1, Err(Error::Timeout));
    }

    #[test]
    fn exit_status_reads_the_last_marker() {
        assert_eq!(
            exit_status("echo \"__PORTCULLIS_RC=$?=\"\n__PORTCULLIS_RC=3=\n"),
            Some(3)
        );
        assert_eq!(exit_status("echo \"__PORTCULLIS_RC=$?=\""), None);
    }
}
