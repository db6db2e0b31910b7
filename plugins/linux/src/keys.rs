//! Installing an SSH public key in a user's `~/.ssh/authorized_keys`.
//!
//! The file work runs as the user (`runuser`, or `su` where util-linux is missing), never as
//! root: `~/.ssh` belongs to the user, who could otherwise point it at a root-owned file with
//! a symbolic link. The directory ends up mode 700 and the file 600, owned by the user.

use crate::params::KeyStrategy;
use crate::remote::{EXIT_NO_USER, EXIT_UNSUPPORTED};
use crate::shell::shell_quote;

/// The part that runs as the user: writes `key` into its own `authorized_keys`.
fn user_script(key: &str, strategy: KeyStrategy) -> String {
    let write = match strategy {
        KeyStrategy::Add => {
            "[ -e \"$f\" ] || : > \"$f\"\n\
             if [ -s \"$f\" ] && [ -n \"$(tail -c 1 \"$f\")\" ]; then echo >> \"$f\"; fi\n\
             grep -qxF -- \"$key\" \"$f\" || printf '%s\\n' \"$key\" >> \"$f\"\n"
        }
        KeyStrategy::Replace => "printf '%s\\n' \"$key\" > \"$f\"\n",
    };
    format!(
        "set -e\n\
         umask 077\n\
         key={key}\n\
         home=$(getent passwd \"$(id -un)\" | cut -d: -f6)\n\
         d=\"$home/.ssh\"\n\
         f=\"$d/authorized_keys\"\n\
         [ -d \"$d\" ] || mkdir \"$d\"\n\
         chmod 700 \"$d\"\n\
         {write}\
         chmod 600 \"$f\"\n",
        key = shell_quote(key),
    )
}

/// The script (run privileged) that installs `key` for `user`: checks the user and its
/// home, then runs [`user_script`] as the user.
pub fn install_script(user: &str, key: &str, strategy: KeyStrategy) -> String {
    format!(
        "u={user}\n\
         inner={inner}\n\
         home=$(getent passwd \"$u\" | cut -d: -f6)\n\
         if ! getent passwd \"$u\" >/dev/null; then echo \"no such user: $u\" >&2; exit {EXIT_NO_USER}; fi\n\
         if [ ! -d \"$home\" ]; then echo \"the home directory of $u ($home) does not exist\" >&2; exit {EXIT_UNSUPPORTED}; fi\n\
         if [ \"$(id -un)\" = \"$u\" ]; then sh -c \"$inner\"\n\
         elif command -v runuser >/dev/null 2>&1; then runuser -u \"$u\" -- sh -c \"$inner\"\n\
         else su -s /bin/sh -c \"$inner\" \"$u\"; fi\n",
        user = shell_quote(user),
        inner = shell_quote(&user_script(key, strategy)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG0b5r9x new@portcullis";

    /// Runs the user part (what runs after `runuser`) as the current user against a
    /// scratch home, by rewriting its `home=` lookup.
    fn run_inner(strategy: KeyStrategy, home: &Path) -> std::process::Output {
        let inner = user_script(KEY, strategy).replace(
            "home=$(getent passwd \"$(id -un)\" | cut -d: -f6)",
            &format!("home={}", shell_quote(&home.to_string_lossy())),
        );
        Command::new("sh")
            .arg("-c")
            .arg(inner)
            .output()
            .expect("sh")
    }

    fn scratch() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "portcullis-linux-keys-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).expect("exists").permissions().mode() & 0o777
    }

    #[test]
    fn scripts_are_valid_sh() {
        for strategy in [KeyStrategy::Add, KeyStrategy::Replace] {
            let script = install_script("svc.web", KEY, strategy);
            let out = Command::new("sh")
                .arg("-n")
                .arg("-c")
                .arg(&script)
                .output()
                .expect("sh");
            assert!(out.status.success(), "{script}\n{out:?}");
        }
    }

    #[test]
    fn add_appends_once_and_replace_leaves_only_the_new_key() {
        let home = scratch();
        let ssh = home.join(".ssh");
        std::fs::create_dir(&ssh).expect("mkdir");
        let file = ssh.join("authorized_keys");
        // An old key without a final newline.
        std::fs::write(&file, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB old@host").expect("write");

        for _ in 0..2 {
            let out = run_inner(KeyStrategy::Add, &home);
            assert!(out.status.success(), "{out:?}");
        }
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            format!("ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB old@host\n{KEY}\n")
        );
        assert_eq!(mode(&ssh), 0o700);
        assert_eq!(mode(&file), 0o600);

        let out = run_inner(KeyStrategy::Replace, &home);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            format!("{KEY}\n")
        );
        std::fs::remove_dir_all(&home).expect("cleanup");
    }

    #[test]
    fn a_missing_ssh_directory_is_created_private() {
        let home = scratch();
        let out = run_inner(KeyStrategy::Add, &home);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(mode(&home.join(".ssh")), 0o700);
        assert_eq!(
            std::fs::read_to_string(home.join(".ssh/authorized_keys")).expect("read"),
            format!("{KEY}\n")
        );
        std::fs::remove_dir_all(&home).expect("cleanup");
    }

    #[test]
    fn a_missing_user_exits_with_the_not_found_status() {
        let script = install_script("no-such-user-portcullis", KEY, KeyStrategy::Add);
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("sh");
        assert_eq!(out.status.code(), Some(EXIT_NO_USER), "{out:?}");
    }
}
