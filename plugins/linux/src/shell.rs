//! Shell quoting and the validation of every value that reaches a remote command line.
//!
//! Values are validated first (so a bad username is `InvalidInput`, not a remote error) and
//! then always quoted, so even a value the rules let through cannot change the command.

use portcullis_plugin_sdk::Error;

/// Quotes `s` as one word for a POSIX shell: unchanged when it only holds characters no
/// shell treats specially, else in single quotes (a `'` becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'-' | b'.' | b'/' | b'@' | b'%' | b'+' | b'=' | b','
                )
        })
        && !s.starts_with('-');
    if plain {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Longest user or group name `useradd`/`groupadd` accept on common distributions.
const MAX_NAME: usize = 32;

/// Checks a user or group name against the POSIX portable rules: letters, digits, `.`, `_`
/// and `-`, not starting with `-`, 1–32 characters, not only digits (a number would be
/// taken for an id) and not `.` or `..`. `what` names the value in the error.
pub fn validate_name(what: &str, name: &str) -> Result<(), Error> {
    let bad = |why: &str| Err(Error::invalid_input(format!("{what} {name:?}: {why}")));
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_NAME {
        return bad("longer than 32 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("only letters, digits, '.', '_' and '-' are allowed");
    }
    if name.starts_with('-') {
        return bad("must not start with '-'");
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return bad("must not be only digits");
    }
    if name == "." || name == ".." {
        return bad("not a name");
    }
    Ok(())
}

/// Checks the username of an account.
pub fn validate_username(name: &str) -> Result<(), Error> {
    validate_name("username", name)
}

/// Checks an absolute path for `/etc/passwd` (home, shell): starts with `/`, no control
/// characters, no `:` (the field separator), at most 4096 bytes.
pub fn validate_path(what: &str, path: &str) -> Result<(), Error> {
    let ok = path.starts_with('/')
        && path.len() <= 4096
        && !path.contains(':')
        && !path.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "{what} {path:?}: not an absolute path without ':' or control characters"
        )))
    }
}

/// Key types an `authorized_keys` line may start with.
const KEY_TYPES: &[&str] = &["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-sha2-"];

/// Checks an OpenSSH public key line (`TYPE BASE64 [COMMENT]`, no options): one line, a
/// known key type, a base64 key. Returns it trimmed.
pub fn validate_public_key(key: &str) -> Result<&str, Error> {
    let key = key.trim();
    let bad = |why: &str| Err(Error::invalid_input(format!("public key: {why}")));
    if key.chars().any(char::is_control) {
        return bad("must be one line without control characters");
    }
    let mut words = key.split(' ');
    let kind = words.next().unwrap_or_default();
    if !KEY_TYPES.iter().any(|t| kind.starts_with(t)) {
        return bad("not an OpenSSH public key (unknown key type)");
    }
    let blob = words.next().unwrap_or_default();
    let base64 = blob
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if blob.len() < 16 || !base64 {
        return bad("the key is not base64");
    }
    Ok(key)
}

/// Checks a sudoers rule (one line, no control characters, at most 1024 bytes) and returns
/// the line for `user`: `"ALL=(ALL) NOPASSWD: ALL"` is used as is; a rule without `=` is a
/// command list, as JumpServer's `sudo` parameter (`"/bin/whoami,/usr/bin/systemctl"`), and
/// becomes `ALL=(ALL) NOPASSWD: <commands>`.
pub fn sudoers_line(user: &str, rule: &str) -> Result<String, Error> {
    let rule = rule.trim();
    if rule.is_empty() || rule.len() > 1024 || rule.chars().any(char::is_control) {
        return Err(Error::invalid_input(
            "sudo rule: one line of at most 1024 characters",
        ));
    }
    if rule.contains('=') {
        Ok(format!("{user} {rule}"))
    } else {
        Ok(format!("{user} ALL=(ALL) NOPASSWD: {rule}"))
    }
}

/// The file of `user`'s rule in `/etc/sudoers.d`: sudo skips names containing `.`, so dots
/// become `_`.
pub fn sudoers_file(user: &str) -> String {
    format!("/etc/sudoers.d/{}", user.replace('.', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What a real `sh` makes of `word`: the quoting must give back the exact bytes.
    fn through_sh(word: &str) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s' {word}"))
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{word}: {out:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    }

    #[test]
    fn quoting_survives_a_real_shell() {
        for s in [
            "alice",
            "a b",
            "it's",
            "'",
            "''",
            "$(rm -rf /)",
            "`id`",
            "a;b|c&d",
            "x\ny",
            "*",
            "-n",
            "ssh-ed25519 AAAAC3Nz comment with 'quotes'",
            "",
            "100%",
            "ümlaut",
        ] {
            let q = shell_quote(s);
            assert_eq!(through_sh(&q), s, "quoted as {q}");
        }
        assert_eq!(shell_quote("alice"), "alice");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("-rf"), "'-rf'");
    }

    #[test]
    fn usernames_follow_the_portable_rules() {
        for ok in ["alice", "a.b", "svc_web-1", "_apt", "A1", "x"] {
            assert_eq!(validate_username(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "-rf",
            "a b",
            "a:b",
            "a/b",
            "root;id",
            "$(id)",
            "1234",
            ".",
            "..",
            "ümlaut",
            "abcdefghijklmnopqrstuvwxyz0123456",
        ] {
            assert!(
                matches!(validate_username(bad), Err(Error::InvalidInput(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths_are_absolute_and_clean() {
        assert_eq!(validate_path("home", "/home/alice"), Ok(()));
        assert_eq!(validate_path("shell", "/bin/bash"), Ok(()));
        for bad in ["home/alice", "/a:b", "/a\nb", ""] {
            assert!(validate_path("home", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn public_keys_are_one_known_line() {
        let k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG0b5r9x alice@laptop";
        assert_eq!(validate_public_key(&format!("{k}\n")), Ok(k));
        assert!(
            validate_public_key("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=").is_ok()
        );
        for bad in [
            "",
            "hunter2",
            "ssh-rsa",
            "ssh-rsa AAAA",
            "ssh-rsa AAAAB3NzaC1yc2EAAAA$(id)",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\nssh-rsa AAAAB3NzaC1yc2EAAAADAQAB",
            "command=\"sh\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA",
        ] {
            assert!(
                matches!(validate_public_key(bad), Err(Error::InvalidInput(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sudo_rules_and_files() {
        assert_eq!(
            sudoers_line("bob", "ALL=(ALL) NOPASSWD: ALL"),
            Ok("bob ALL=(ALL) NOPASSWD: ALL".to_owned())
        );
        assert_eq!(
            sudoers_line("bob", "/bin/whoami,/usr/bin/id"),
            Ok("bob ALL=(ALL) NOPASSWD: /bin/whoami,/usr/bin/id".to_owned())
        );
        assert!(sudoers_line("bob", "ALL\nroot ALL=(ALL) ALL").is_err());
        assert!(sudoers_line("bob", "  ").is_err());
        assert_eq!(sudoers_file("svc.web"), "/etc/sudoers.d/svc_web");
    }
}
