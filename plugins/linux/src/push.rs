//! `push-account`: the script that creates or updates the account, its groups and its sudo
//! rule. The secret is installed afterwards (passwd prompts or `authorized_keys`).

use portcullis_plugin_sdk::{Error, PushOptions};

use crate::remote::{EXIT_REFUSED, EXIT_UNSUPPORTED};
use crate::shell::{
    shell_quote, sudoers_file, sudoers_line, validate_name, validate_path, validate_username,
};

/// Checks every value of the push before anything runs.
pub fn validate(user: &str, options: &PushOptions) -> Result<(), Error> {
    validate_username(user)?;
    for group in &options.groups {
        validate_name("group", group)?;
    }
    if let Some(home) = &options.home {
        validate_path("home", home)?;
    }
    if let Some(shell) = &options.shell {
        validate_path("shell", shell)?;
    }
    if let Some(rule) = &options.sudo {
        sudoers_line(user, rule)?;
    }
    Ok(())
}

/// The script (run privileged) that makes the account match `options`. It prints `created`
/// or `updated`.
///
/// * Missing groups are created (`groupadd`).
/// * A new account gets `useradd -m` with the home, shell and groups given, and a private
///   group of its name when `private_group` (`-U`, or `-g NAME` when that group exists
///   already; else `-N`, the system's default group).
/// * An existing account gets `usermod`: the shell, the home path (without moving files) and
///   the groups, added to the ones it has (`-a -G`; none are taken away).
/// * A sudo rule is checked with `visudo -cf` first (a refused rule changes nothing) and
///   written to `/etc/sudoers.d/USER` once the account exists; without a rule, existing rules
///   are left alone.
pub fn script(user: &str, options: &PushOptions) -> Result<String, Error> {
    validate(user, options)?;
    let mut s = format!("set -e\nu={}\n", shell_quote(user));
    // The sudo rule is checked before anything changes, installed after the account exists.
    if let Some(rule) = &options.sudo {
        s.push_str(&format!(
            "command -v visudo >/dev/null 2>&1 || {{ echo 'visudo not found: is sudo installed?' >&2; exit {EXIT_UNSUPPORTED}; }}\n\
             mkdir -p /etc/sudoers.d\n\
             t=$(mktemp /etc/sudoers.d/.portcullis.XXXXXX)\n\
             trap 'rm -f \"$t\"' EXIT\n\
             printf '%s\\n' {line} > \"$t\"\n\
             if ! out=$(visudo -cf \"$t\" 2>&1); then echo \"sudo rule refused by visudo: $out\" >&2; exit {EXIT_REFUSED}; fi\n",
            line = shell_quote(&sudoers_line(user, rule)?),
        ));
    }
    if !options.groups.is_empty() {
        let groups: Vec<String> = options.groups.iter().map(|g| shell_quote(g)).collect();
        s.push_str(&format!(
            "for g in {}; do getent group \"$g\" >/dev/null || groupadd \"$g\"; done\n",
            groups.join(" ")
        ));
    }
    let group_list = shell_quote(&options.groups.join(","));

    // Update.
    s.push_str("if getent passwd \"$u\" >/dev/null; then\n");
    if let Some(shell) = &options.shell {
        s.push_str(&format!("  usermod -s {} \"$u\"\n", shell_quote(shell)));
    }
    if let Some(home) = &options.home {
        let home = shell_quote(home);
        s.push_str(&format!(
            "  [ \"$(getent passwd \"$u\" | cut -d: -f6)\" = {home} ] || usermod -d {home} \"$u\"\n"
        ));
    }
    if !options.groups.is_empty() {
        s.push_str(&format!("  usermod -a -G {group_list} \"$u\"\n"));
    }
    s.push_str("  echo updated\nelse\n");

    // Create.
    let mut args = vec!["-m".to_owned()];
    if let Some(home) = &options.home {
        args.push(format!("-d {}", shell_quote(home)));
    }
    if let Some(shell) = &options.shell {
        args.push(format!("-s {}", shell_quote(shell)));
    }
    if !options.groups.is_empty() {
        args.push(format!("-G {group_list}"));
    }
    let args = args.join(" ");
    if options.private_group {
        s.push_str(&format!(
            "  if getent group \"$u\" >/dev/null; then useradd {args} -g \"$u\" \"$u\"; \
             else useradd {args} -U \"$u\"; fi\n"
        ));
    } else {
        s.push_str(&format!("  useradd {args} -N \"$u\"\n"));
    }
    s.push_str("  echo created\nfi\n");

    if options.sudo.is_some() {
        s.push_str(&format!(
            "chmod 0440 \"$t\"\nmv -f \"$t\" {}\n",
            shell_quote(&sudoers_file(user)),
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn options() -> PushOptions {
        PushOptions {
            home: Some("/srv/home/bob".into()),
            shell: Some("/bin/bash".into()),
            groups: vec!["ops".into(), "docker".into()],
            sudo: Some("ALL=(ALL) NOPASSWD: ALL".into()),
            private_group: true,
        }
    }

    #[test]
    fn the_script_is_valid_sh_and_quotes_everything() {
        let s = script("bob", &options()).expect("valid");
        let out = Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(&s)
            .output()
            .expect("sh");
        assert!(out.status.success(), "{s}\n{out:?}");
        assert!(s.contains("for g in ops docker; do"), "{s}");
        assert!(
            s.contains("useradd -m -d /srv/home/bob -s /bin/bash -G ops,docker -U \"$u\""),
            "{s}"
        );
        assert!(s.contains("usermod -a -G ops,docker \"$u\""), "{s}");
        assert!(
            s.contains("printf '%s\\n' 'bob ALL=(ALL) NOPASSWD: ALL' > \"$t\""),
            "{s}"
        );
        assert!(s.contains("mv -f \"$t\" /etc/sudoers.d/bob"), "{s}");
    }

    #[test]
    fn minimal_pushes_leave_choices_to_the_system() {
        let s = script("bob", &PushOptions::default()).expect("valid");
        assert!(s.contains("  useradd -m -N \"$u\"\n"), "{s}");
        assert!(!s.contains("usermod"), "{s}");
        assert!(!s.contains("sudoers"), "{s}");
        assert!(!s.contains("groupadd"), "{s}");
    }

    #[test]
    fn bad_values_are_refused_before_anything_runs() {
        let bad = |f: fn(&mut PushOptions)| {
            let mut o = options();
            f(&mut o);
            script("bob", &o)
        };
        assert!(matches!(
            bad(|o| o.groups.push("a b".into())),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            bad(|o| o.home = Some("rel/path".into())),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            bad(|o| o.shell = Some("/bin/sh\nx".into())),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            bad(|o| o.sudo = Some("ALL\nevil ALL=(ALL) ALL".into())),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            script("-bob", &options()),
            Err(Error::InvalidInput(_))
        ));
    }
}
