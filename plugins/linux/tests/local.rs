//! The plugin's methods against this machine's real account tools (`useradd`, `usermod`,
//! `passwd` on a pseudo-terminal, `runuser`, `getent`, `lastlog`, `userdel`), with SSH
//! replaced by local processes.
//!
//! Every command runs in a private mount namespace (`unshare --mount`) where `/etc`, `/home`
//! and `/var/mail` are scratch copies, so the machine's real accounts are never touched and
//! the scratch directory is removed afterwards. Needs root and util-linux (`unshare`,
//! `script`, `runuser`), as on the project's test machines (TESTING.md).

use std::cell::RefCell;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use portcullis_linux::Linux;
use portcullis_plugin_sdk::testing::{key_secret, secret, secret_bytes};
use portcullis_plugin_sdk::{
    Account, Automation, CommandOutput, Error, ExpectMatch, Host, LogLevel, PushOptions,
    RemoteHost, Secret, SecretKind, SecretRef, SecretsHost, Session, Target,
};

/// A scratch copy of `/etc`, an empty `/home` and `/var/mail`; removed when dropped.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let dir = std::env::temp_dir().join(format!(
            "portcullis-linux-local-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["etc", "home", "mail"] {
            std::fs::create_dir_all(dir.join(sub)).expect("scratch dirs");
        }
        let copied = Command::new("cp")
            .arg("-a")
            .arg("/etc/.")
            .arg(dir.join("etc"))
            .status()
            .expect("cp runs");
        assert!(copied.success(), "copying /etc");
        Sandbox { dir }
    }

    fn ns(&self) -> Ns {
        Ns {
            dir: self.dir.clone(),
        }
    }

    fn command(&self, line: &str) -> Command {
        self.ns().command(None, line)
    }

    fn etc(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join("etc").join(file)).unwrap_or_default()
    }

    fn home(&self) -> PathBuf {
        self.dir.join("home")
    }
}

/// The prefix that runs a command as `user` (nothing for root).
fn as_user(user: Option<&str>) -> String {
    user.map(|u| format!("runuser -u {u} -- "))
        .unwrap_or_default()
}

/// How to enter a sandbox's namespace (what sessions keep; the sandbox owns the files).
#[derive(Clone)]
struct Ns {
    dir: PathBuf,
}

impl Ns {
    /// What runs first in every namespace.
    fn mounts(&self) -> String {
        let d = self.dir.display();
        format!(
            "mount --bind {d}/etc /etc && mount --bind {d}/home /home && \
             mount --bind {d}/mail /var/mail && "
        )
    }

    /// A command line of the plugin, run in the sandbox's namespace as a login shell would
    /// (as `user` when given, else as root).
    fn command(&self, user: Option<&str>, line: &str) -> Command {
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "{}exec {}sh -c \"$1\"",
                self.mounts(),
                as_user(user)
            ))
            .arg("sh")
            .arg(line);
        c
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The host: sessions are local processes in the sandbox, as root, or as the user named by
/// the target's account id (the way the real host logs in with that account).
struct LocalHost<'a> {
    sandbox: &'a Sandbox,
    logs: RefCell<Vec<String>>,
}

impl<'a> LocalHost<'a> {
    fn new(sandbox: &'a Sandbox) -> Self {
        LocalHost {
            sandbox,
            logs: RefCell::default(),
        }
    }
}

impl Host for LocalHost<'_> {
    fn log(&self, level: LogLevel, message: &str, _fields: &[(&str, &str)]) {
        self.logs.borrow_mut().push(format!("{level:?} {message}"));
    }
    fn config(&self, _key: &str) -> Option<String> {
        None
    }
    fn config_all(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

impl SecretsHost for LocalHost<'_> {
    fn secret(&self, name: &str) -> Result<Secret, Error> {
        Err(Error::denied(format!("no secret {name}")))
    }
    fn reveal(&self, _secret: SecretRef<'_>) -> Result<Vec<u8>, Error> {
        panic!("the Linux plugin must never reveal a secret")
    }
}

impl RemoteHost for LocalHost<'_> {
    fn open(&self, target: &Target, _timeout: Duration) -> Result<Box<dyn Session>, Error> {
        Ok(Box::new(LocalSession {
            ns: self.sandbox.ns(),
            user: target.account_id.clone(),
            shell: None,
        }))
    }
}

/// An interactive shell on a pseudo-terminal (`script`), read by a thread.
struct Shell {
    child: Child,
    stdin: ChildStdin,
    output: Receiver<Vec<u8>>,
    unread: String,
}

struct LocalSession {
    ns: Ns,
    user: Option<String>,
    shell: Option<Shell>,
}

impl LocalSession {
    fn shell(&mut self) -> &mut Shell {
        if self.shell.is_none() {
            let mut child = Command::new("unshare")
                .args(["--mount", "--propagation", "private", "sh", "-c"])
                .arg(format!(
                    "{}exec script -qfec '{}sh -i' /dev/null",
                    self.ns.mounts(),
                    as_user(self.user.as_deref())
                ))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("unshare + script run");
            let stdin = child.stdin.take().expect("piped stdin");
            let mut stdout = child.stdout.take().expect("piped stdout");
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            });
            self.shell = Some(Shell {
                child,
                stdin,
                output: rx,
                unread: String::new(),
            });
        }
        self.shell.as_mut().expect("just started")
    }
}

impl Drop for LocalSession {
    fn drop(&mut self) {
        if let Some(mut shell) = self.shell.take() {
            let _ = shell.child.kill();
            let _ = shell.child.wait();
        }
    }
}

impl Session for LocalSession {
    fn run(&mut self, command: &str, _timeout: Duration) -> Result<CommandOutput, Error> {
        let out = self
            .ns
            .command(self.user.as_deref(), command)
            .output()
            .map_err(|e| Error::unavailable(e.to_string()))?;
        Ok(CommandOutput {
            exit_code: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        let shell = self.shell();
        shell.stdin.write_all(data)?;
        shell.stdin.flush()?;
        Ok(())
    }

    fn send_secret(&mut self, secret: SecretRef<'_>, newline: bool) -> Result<(), Error> {
        let mut data = secret_bytes(secret);
        if newline {
            data.push(b'\n');
        }
        self.send(&data)
    }

    fn expect(&mut self, patterns: &[&str], timeout: Duration) -> Result<ExpectMatch, Error> {
        let regexes: Vec<regex::Regex> = patterns
            .iter()
            .map(|p| regex::Regex::new(p).map_err(|e| Error::invalid_input(e.to_string())))
            .collect::<Result<_, _>>()?;
        let shell = self.shell();
        let deadline = Instant::now() + timeout;
        loop {
            let best = regexes
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.find(&shell.unread).map(|m| (m.start(), m.end(), i)))
                .min();
            if let Some((_, end, index)) = best {
                let output: String = shell.unread.drain(..end).collect();
                return Ok(ExpectMatch {
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                    output: output.into_bytes(),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match shell.output.recv_timeout(left) {
                Ok(chunk) => shell.unread.push_str(&String::from_utf8_lossy(&chunk)),
                Err(RecvTimeoutError::Timeout) => return Err(Error::Timeout),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::unavailable("the shell closed"));
                }
            }
        }
    }
}

fn target() -> Target {
    Target::ssh("local")
}

fn account(name: &str, kind: SecretKind) -> Account {
    Account {
        username: name.to_owned(),
        secret_kind: kind,
    }
}

/// `passwd -S` status letter of `user` in the sandbox (`P` usable password, `L` locked).
fn password_status(sandbox: &Sandbox, user: &str) -> String {
    let out = sandbox
        .command(&format!("passwd -S {user}"))
        .output()
        .expect("passwd -S");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

fn shadow_hash(sandbox: &Sandbox, user: &str) -> String {
    sandbox
        .etc("shadow")
        .lines()
        .find(|l| l.starts_with(&format!("{user}:")))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn accounts_are_pushed_changed_gathered_and_removed() {
    let sandbox = Sandbox::new("lifecycle");
    let host = LocalHost::new(&sandbox);
    assert!(!sandbox.etc("passwd").contains("\nplbob:"), "fresh sandbox");

    // Push: a new account with a new group, then its password through passwd's prompts.
    let first = secret("account", "Initial-Pa55word!");
    let options = PushOptions {
        home: None,
        shell: Some("/bin/bash".into()),
        groups: vec!["plops".into()],
        sudo: None,
        private_group: true,
    };
    let r = Linux::push_account(
        &host,
        target(),
        account("plbob", SecretKind::Password),
        first.as_ref(),
        options.clone(),
        "",
    );
    assert_eq!(r, Ok(()), "{:?}", host.logs.borrow());
    let passwd = sandbox.etc("passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("plbob:"))
        .expect("plbob created");
    assert!(line.ends_with(":/home/plbob:/bin/bash"), "{line}");
    assert!(
        sandbox
            .etc("group")
            .lines()
            .any(|l| l.starts_with("plops:") && l.ends_with(":plbob"))
    );
    assert!(
        sandbox
            .etc("group")
            .lines()
            .any(|l| l.starts_with("plbob:")),
        "private group"
    );
    assert!(sandbox.home().join("plbob").is_dir());
    assert_eq!(password_status(&sandbox, "plbob"), "P");
    let hash = shadow_hash(&sandbox, "plbob");
    assert!(hash.starts_with('$'), "{hash}");

    // Push again: an update that adds a group and keeps the account.
    let more = PushOptions {
        groups: vec!["plops".into(), "pldev".into()],
        ..options
    };
    let r = Linux::push_account(
        &host,
        target(),
        account("plbob", SecretKind::Password),
        first.as_ref(),
        more,
        "",
    );
    assert_eq!(r, Ok(()));
    assert!(
        host.logs
            .borrow()
            .iter()
            .any(|l| l == "Info updated account plbob")
    );
    assert!(
        sandbox
            .etc("group")
            .lines()
            .any(|l| l.starts_with("pldev:") && l.ends_with(":plbob"))
    );

    // Change the password: a new hash.
    let second = secret("new-secret", "Second-Pa55word!");
    let r = Linux::change_secret(
        &host,
        target(),
        account("plbob", SecretKind::Password),
        second.as_ref(),
        "",
    );
    assert_eq!(r, Ok(()));
    assert_ne!(shadow_hash(&sandbox, "plbob"), hash);

    // SSH keys: added twice (once in the file), then replaced; owned by the user, private.
    let key_a = key_secret(
        "new-secret",
        "PRIVATE-A",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAA a@test",
    );
    let key_b = key_secret(
        "new-secret",
        "PRIVATE-B",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBB b@test",
    );
    let change_key = |key: &Secret, params: &str| {
        Linux::change_secret(
            &host,
            target(),
            account("plbob", SecretKind::SshKey),
            key.as_ref(),
            params,
        )
    };
    assert_eq!(change_key(&key_a, ""), Ok(()));
    assert_eq!(change_key(&key_a, ""), Ok(()));
    assert_eq!(
        change_key(&key_b, r#"{"ssh_key_change_strategy": "add"}"#),
        Ok(())
    );
    let keys_file = sandbox.home().join("plbob/.ssh/authorized_keys");
    let keys = std::fs::read_to_string(&keys_file).expect("authorized_keys");
    assert_eq!(
        keys,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAA a@test\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBB b@test\n"
    );
    assert_eq!(
        change_key(&key_a, r#"{"ssh_key_change_strategy": "replace"}"#),
        Ok(())
    );
    let keys = std::fs::read_to_string(&keys_file).expect("authorized_keys");
    assert_eq!(keys, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAA a@test\n");
    let uid: u32 = line
        .split(':')
        .nth(2)
        .and_then(|u| u.parse().ok())
        .expect("uid");
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for (path, mode) in [
        (keys_file.parent().expect("dir"), 0o700),
        (keys_file.as_path(), 0o600),
    ] {
        let meta = std::fs::metadata(path).expect("exists");
        assert_eq!(meta.uid(), uid, "{} owned by plbob", path.display());
        assert_eq!(
            meta.permissions().mode() & 0o777,
            mode,
            "{}",
            path.display()
        );
    }

    // Gather: plbob with its groups, root privileged.
    let accounts = Linux::gather_accounts(&host, target(), "").expect("gathered");
    let bob = accounts
        .iter()
        .find(|a| a.username == "plbob")
        .expect("plbob gathered");
    assert_eq!(bob.groups, ["plbob", "plops", "pldev"]);
    assert!(bob.login_enabled && !bob.privileged);
    assert_eq!(bob.home.as_deref(), Some("/home/plbob"));
    let root = accounts
        .iter()
        .find(|a| a.username == "root")
        .expect("root");
    assert!(root.privileged);

    // Remove with the home; a second removal is not-found.
    assert_eq!(
        Linux::remove_account(&host, target(), "plbob", r#"{"delete_home": true}"#),
        Ok(())
    );
    assert!(!sandbox.etc("passwd").contains("plbob:"));
    assert!(!sandbox.home().join("plbob").exists());
    assert!(matches!(
        Linux::remove_account(&host, target(), "plbob", ""),
        Err(Error::NotFound(_))
    ));
    // Changing a missing user's password is not-found too.
    assert!(matches!(
        Linux::change_secret(
            &host,
            target(),
            account("plbob", SecretKind::Password),
            second.as_ref(),
            ""
        ),
        Err(Error::NotFound(_))
    ));
}

fn as_account(user: &str) -> Target {
    Target {
        account_id: Some(user.to_owned()),
        ..Target::ssh("local")
    }
}

/// Files sudo would read from the sandbox's `/etc/sudoers.d`, and leftovers of ours.
fn sudoers_d(sandbox: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sandbox.dir.join("etc/sudoers.d"))
        .expect("sudoers.d")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pl") || n.starts_with(".portcullis"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_sudo_account_manages_others_through_sudo_n() {
    assert!(
        std::path::Path::new("/usr/sbin/visudo").exists(),
        "this test needs sudo installed (apt-get install sudo)"
    );
    let sandbox = Sandbox::new("sudo");
    let host = LocalHost::new(&sandbox);
    let pw = secret("account", "Adm1n-Pa55word!");
    let push = |user: &str, sudo: Option<&str>| {
        Linux::push_account(
            &host,
            target(),
            account(user, SecretKind::Password),
            pw.as_ref(),
            PushOptions {
                sudo: sudo.map(str::to_owned),
                shell: Some("/bin/sh".into()),
                private_group: true,
                ..PushOptions::default()
            },
            "",
        )
    };

    // A refused rule changes nothing: no account, no file, no temporary file.
    assert!(matches!(
        push("plbad", Some("ALL=(ALL NOPASSWD: ALL")),
        Err(Error::InvalidInput(m)) if m.contains("visudo")
    ));
    assert!(!sandbox.etc("passwd").contains("plbad:"));
    assert_eq!(sudoers_d(&sandbox), Vec::<String>::new());

    // An operator with passwordless sudo, a plain user, and one without sudo.
    assert_eq!(push("plop.s", Some("ALL=(ALL) NOPASSWD: ALL")), Ok(()));
    assert_eq!(push("plbob", None), Ok(()));
    assert_eq!(push("plnosudo", None), Ok(()));
    assert_eq!(sudoers_d(&sandbox), ["plop_s"], "dots become underscores");
    let rule = sandbox.dir.join("etc/sudoers.d/plop_s");
    assert_eq!(
        std::fs::read_to_string(&rule).expect("rule"),
        "plop.s ALL=(ALL) NOPASSWD: ALL\n"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&rule).expect("rule").permissions().mode() & 0o777,
        0o440
    );

    // Connected as the operator: `id -u` is not 0, so passwd runs through sudo -n.
    let before = shadow_hash(&sandbox, "plbob");
    let new = secret("new-secret", "Bob-Changed-Pa55!");
    let r = Linux::change_secret(
        &host,
        as_account("plop.s"),
        account("plbob", SecretKind::Password),
        new.as_ref(),
        "",
    );
    assert_eq!(r, Ok(()), "{:?}", host.logs.borrow());
    assert_ne!(shadow_hash(&sandbox, "plbob"), before);
    let gathered = Linux::gather_accounts(&host, as_account("plop.s"), "").expect("gathered");
    assert!(gathered.iter().any(|a| a.username == "plbob"));

    // Without sudo rights: denied, and gather falls back to what the account can read.
    let r = Linux::change_secret(
        &host,
        as_account("plnosudo"),
        account("plbob", SecretKind::Password),
        new.as_ref(),
        "",
    );
    assert!(
        matches!(&r, Err(Error::Denied(m)) if m.contains("NOPASSWD")),
        "{r:?}"
    );
    let gathered = Linux::gather_accounts(&host, as_account("plnosudo"), "").expect("gathered");
    assert!(gathered.iter().any(|a| a.username == "plop.s"));
    assert!(
        host.logs
            .borrow()
            .iter()
            .any(|l| l.starts_with("Warn sudo refused")),
        "{:?}",
        host.logs.borrow()
    );

    // Removing the operator removes its rule too.
    assert_eq!(Linux::remove_account(&host, target(), "plop.s", ""), Ok(()));
    assert_eq!(sudoers_d(&sandbox), Vec::<String>::new());
}
