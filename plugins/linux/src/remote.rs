//! A session on the asset with the privilege the methods need, and what command results
//! mean.
//!
//! Account changes need root. The connecting account (the asset's privileged account) is
//! either root, or runs them through `sudo -n`: passwordless sudo (`NOPASSWD`) is required,
//! because the plugin never sees the account's password to answer a sudo prompt. Every
//! script runs under `sh -c` with a fixed `PATH` and the C locale, whatever the login shell.

use std::time::Duration;

use portcullis_plugin_sdk::{CommandOutput, Error, RemoteHost, Session, Target};

use crate::shell::shell_quote;

/// How long to wait for the login.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one script may run.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Exit status of our scripts: the account does not exist.
pub const EXIT_NO_USER: i32 = 10;
/// Exit status of our scripts: the input was refused by a remote check (visudo).
pub const EXIT_REFUSED: i32 = 12;
/// Exit status of our scripts: a tool is missing or a precondition on the asset fails.
pub const EXIT_UNSUPPORTED: i32 = 13;

/// What every script starts with.
const PREAMBLE: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH; \
export PATH; LC_ALL=C; export LC_ALL\n";

/// How privileged commands run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// The account is root: commands run as they are.
    Root,
    /// Commands run through `sudo -n`.
    Sudo,
    /// Commands run as the connecting account (params said `"sudo": false`).
    Plain,
}

impl Privilege {
    /// What goes in front of a privileged command.
    pub fn prefix(self) -> &'static str {
        match self {
            Privilege::Sudo => "sudo -n ",
            Privilege::Root | Privilege::Plain => "",
        }
    }
}

/// A logged-in session and how to run privileged scripts on it.
pub struct Remote {
    session: Box<dyn Session>,
    privilege: Privilege,
}

impl Remote {
    /// Opens `target` and decides the privilege: `sudo` from params when given, else
    /// `id -u` (root runs directly, anyone else through sudo).
    pub fn connect(
        host: &dyn RemoteHost,
        target: &Target,
        sudo: Option<bool>,
    ) -> Result<Self, Error> {
        let mut session = host.open(target, OPEN_TIMEOUT)?;
        let privilege = match sudo {
            Some(true) => Privilege::Sudo,
            Some(false) => Privilege::Plain,
            None => {
                let out = session.run("id -u", SCRIPT_TIMEOUT)?;
                if !out.succeeded() {
                    return Err(failure("id -u", &out));
                }
                if out.stdout_text().trim() == "0" {
                    Privilege::Root
                } else {
                    Privilege::Sudo
                }
            }
        };
        Ok(Remote { session, privilege })
    }

    /// The privilege scripts run with.
    pub fn privilege(&self) -> Privilege {
        self.privilege
    }

    /// Runs in the account's shell on the asset, for the interactive parts.
    pub fn session(&mut self) -> &mut dyn Session {
        self.session.as_mut()
    }

    /// The command line that runs `script` privileged.
    pub fn command_line(privilege: Privilege, script: &str) -> String {
        format!(
            "{}sh -c {}",
            privilege.prefix(),
            shell_quote(&format!("{PREAMBLE}{script}"))
        )
    }

    /// Runs `script` privileged; any exit but 0 is an error ([`failure`]), described as
    /// `what`.
    pub fn script(&mut self, what: &str, script: &str) -> Result<CommandOutput, Error> {
        let out = self.run_script(script)?;
        if out.succeeded() {
            Ok(out)
        } else {
            Err(failure(what, &out))
        }
    }

    /// Runs `script` privileged and returns its output whatever the exit status.
    pub fn run_script(&mut self, script: &str) -> Result<CommandOutput, Error> {
        self.session
            .run(&Self::command_line(self.privilege, script), SCRIPT_TIMEOUT)
    }

    /// Falls back to running scripts as the connecting account.
    pub fn drop_privilege(&mut self) {
        self.privilege = Privilege::Plain;
    }
}

/// Whether `stderr` is sudo refusing to run without a password or at all.
pub fn sudo_refused(text: &str) -> bool {
    text.lines().any(|l| {
        l.contains("sudo:")
            && [
                "password is required",
                "a terminal is required",
                "not in the sudoers",
                "is not allowed to execute",
                "may not run sudo",
                "command not found",
            ]
            .iter()
            .any(|m| l.contains(m))
    }) || text.contains("is not in the sudoers file")
        || text.contains("sudo: not found")
        || text.contains("sudo: command not found")
}

/// The error a failed command means: our scripts' own exit statuses first, then sudo
/// refusals and permission errors (`Denied`), else `Unavailable` with the start of stderr
/// (commands never carry secrets, so their output is safe to show).
pub fn failure(what: &str, out: &CommandOutput) -> Error {
    let stderr = out.stderr_text();
    let detail = excerpt(if stderr.trim().is_empty() {
        out.stdout_text()
    } else {
        stderr.clone()
    });
    let Some(code) = out.exit_code else {
        return Error::unavailable(format!(
            "{what}: the command did not finish (killed or disconnected) {detail}"
        ));
    };
    if sudo_refused(&stderr) {
        return Error::denied(format!(
            "{what}: sudo refused ({detail}); the connecting account must be root or have \
             passwordless sudo (NOPASSWD)"
        ));
    }
    match code {
        EXIT_NO_USER => Error::not_found(format!("{what}: {detail}")),
        EXIT_REFUSED => Error::invalid_input(format!("{what}: {detail}")),
        EXIT_UNSUPPORTED => Error::unavailable(format!("{what}: {detail}")),
        _ if permission_problem(&stderr) => Error::denied(format!("{what}: {detail}")),
        _ => Error::unavailable(format!("{what} failed (exit {code}): {detail}")),
    }
}

/// Whether the text reads like the account lacks the rights.
pub fn permission_problem(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "permission denied",
        "operation not permitted",
        "only root",
        "must be run as root",
        "must be root",
        "cannot lock /etc/",
        "cannot open /etc/",
    ]
    .iter()
    .any(|m| t.contains(m))
}

/// The first lines of `text`, at most 300 characters, for an error message.
pub fn excerpt(text: String) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(4)
        .collect();
    let joined = lines.join(" / ");
    if joined.chars().count() > 300 {
        let cut: String = joined.chars().take(300).collect();
        format!("{cut}...")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_plugin_sdk::testing::{ScriptedHost, ScriptedSession};
    use std::process::Command;

    #[test]
    fn privilege_comes_from_params_or_id() {
        let t = Target::ssh("a1");
        let host = ScriptedHost::new()
            .session(ScriptedSession::new().run("id -u", CommandOutput::success("0\n")))
            .session(ScriptedSession::new().run("id -u", CommandOutput::success("1000\n")))
            .session(ScriptedSession::new())
            .session(ScriptedSession::new());
        let p = |sudo| Remote::connect(&host, &t, sudo).map(|r| r.privilege());
        assert_eq!(p(None), Ok(Privilege::Root));
        assert_eq!(p(None), Ok(Privilege::Sudo));
        assert_eq!(p(Some(true)), Ok(Privilege::Sudo));
        assert_eq!(p(Some(false)), Ok(Privilege::Plain));
        host.assert_finished();
    }

    #[test]
    fn command_lines_run_in_sh_with_a_fixed_path() {
        let line = Remote::command_line(Privilege::Sudo, "echo \"$PATH\" | cut -c1-15");
        assert!(line.starts_with("sudo -n sh -c '"), "{line}");
        // What the login shell would run, minus sudo: sh prints the fixed PATH.
        let out = Command::new("sh")
            .arg("-c")
            .arg(line.trim_start_matches("sudo -n "))
            .output()
            .expect("sh runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "/usr/local/sbin\n");
    }

    #[test]
    fn failures_map_to_errors() {
        let f = |code, stderr: &str| failure("x", &CommandOutput::failure(code, stderr));
        assert!(matches!(f(10, "no such user: bob"), Error::NotFound(_)));
        assert!(matches!(f(12, "bad rule"), Error::InvalidInput(_)));
        assert!(matches!(
            f(1, "sudo: a password is required\n"),
            Error::Denied(m) if m.contains("NOPASSWD")
        ));
        assert!(matches!(
            f(
                1,
                "alice is not in the sudoers file.  This incident will be reported.\n"
            ),
            Error::Denied(_)
        ));
        assert!(matches!(
            f(1, "sudo: alice is not in the sudoers file.\n"),
            Error::Denied(_)
        ));
        // After a shell prompt, as an interactive shell shows it.
        assert!(sudo_refused("ops@web1:~$ sudo: a password is required\r\n"));
        assert!(!sudo_refused("sh -c 'sudo -n passwd alice'"));
        assert!(matches!(
            f(
                1,
                "useradd: Permission denied.\nuseradd: cannot lock /etc/passwd; try again later.\n"
            ),
            Error::Denied(_)
        ));
        assert!(matches!(f(4, "disk full"), Error::Unavailable(m) if m.contains("exit 4")));
        let killed = CommandOutput {
            exit_code: None,
            ..CommandOutput::default()
        };
        assert!(matches!(failure("x", &killed), Error::Unavailable(_)));
    }

    #[test]
    fn excerpts_are_short() {
        assert_eq!(excerpt("a\n\n b \nc\nd\ne\n".into()), "a / b / c / d");
        assert_eq!(excerpt("x".repeat(400)).chars().count(), 303);
    }
}
