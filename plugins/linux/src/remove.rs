//! `remove-account`: the `userdel` script.

use crate::remote::EXIT_NO_USER;
use crate::shell::{shell_quote, sudoers_file};

/// The script (run privileged) that deletes `user` (with its home and mail spool when
/// `delete_home`) and its `/etc/sudoers.d` rule. `userdel` refusing because the user is
/// logged in (status 8) fails the call; a home directory that could not be removed
/// (status 12: the account is gone) succeeds with a `@@warn` line for the log.
pub fn script(user: &str, delete_home: bool) -> String {
    let flags = if delete_home { "-r " } else { "" };
    format!(
        "u={user}\n\
         if ! getent passwd \"$u\" >/dev/null; then echo \"no such user: $u\" >&2; exit {EXIT_NO_USER}; fi\n\
         rc=0; userdel {flags}\"$u\" || rc=$?\n\
         if [ \"$rc\" = 12 ]; then echo \"@@warn the home directory of $u was not removed\"; rc=0; fi\n\
         if [ \"$rc\" = 8 ]; then echo \"$u is logged in; userdel refused\" >&2; fi\n\
         [ \"$rc\" = 0 ] || exit \"$rc\"\n\
         rm -f {file}\n",
        user = shell_quote(user),
        file = shell_quote(&sudoers_file(user)),
    )
}

/// The `@@warn` lines of the script's output.
pub fn warnings(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("@@warn "))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn scripts_are_valid_sh() {
        for delete_home in [false, true] {
            let s = script("svc.web", delete_home);
            let out = Command::new("sh")
                .arg("-n")
                .arg("-c")
                .arg(&s)
                .output()
                .expect("sh");
            assert!(out.status.success(), "{s}\n{out:?}");
            assert_eq!(s.contains("userdel -r \"$u\""), delete_home);
            assert!(s.contains("rm -f /etc/sudoers.d/svc_web"));
        }
    }

    #[test]
    fn a_missing_user_exits_with_the_not_found_status() {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script("no-such-user-portcullis", true))
            .output()
            .expect("sh");
        assert_eq!(out.status.code(), Some(EXIT_NO_USER), "{out:?}");
    }

    #[test]
    fn warnings_are_picked_from_stdout() {
        assert_eq!(
            warnings("userdel: x\n@@warn the home directory of x was not removed\n"),
            ["the home directory of x was not removed"]
        );
    }
}
