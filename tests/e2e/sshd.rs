//! A real OpenSSH server for the tests that need a target: `sshd` on a free loopback port with
//! its own host key and configuration, one test account (password and authorized keys).
//!
//! The server runs inside a private mount namespace whose `/etc/passwd`, `/etc/shadow` and
//! `/etc/group` are copies with the test account added, so the machine's account files are
//! never touched. Everything lives in a temporary directory (the account's home too); the
//! server and every process it started (connections, shells) are killed by pid when the
//! fixture stops or drops.

use crate::support::free_port;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The default test account.
pub const USER: &str = "pctarget";
/// Its uid and gid.
pub const UID: u32 = 61_017;
/// Its password.
pub const PASSWORD: &str = "Target-pw-61017";

/// How to start a server.
#[derive(Debug, Clone)]
pub struct SshdOptions {
    /// Lines appended to `sshd_config`.
    pub extra: String,
    /// The test account's name.
    pub user: String,
    /// Its uid (and gid).
    pub uid: u32,
    /// Its password.
    pub password: String,
    /// Public keys (authorized_keys lines) accepted for it, besides the fixture's own
    /// `id_ed25519` and `id_rsa`.
    pub authorized_keys: Vec<String>,
    /// Give the server a private copy of all of `/etc`, and empty private `/home` and
    /// `/var/log`, instead of private account files only: tools that rewrite account files
    /// by renaming (`useradd`, `userdel`, `chpasswd`, `passwd`) and write sudoers, homes and
    /// login records then work inside without touching the machine (the automation tests).
    pub private_etc: bool,
}

impl Default for SshdOptions {
    fn default() -> SshdOptions {
        SshdOptions {
            extra: String::new(),
            user: USER.into(),
            uid: UID,
            password: PASSWORD.into(),
            authorized_keys: Vec::new(),
            private_etc: false,
        }
    }
}

/// A real OpenSSH server with one test account (password and authorized keys).
pub struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    opts: SshdOptions,
    child: Option<Child>,
}

/// Runs a command that must succeed.
pub fn sh(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Generates an unencrypted key pair at `path` (and `path.pub`), replacing any.
pub fn keygen(path: &Path, kind: &str, extra: &[&str]) {
    let _ = fs::remove_file(path);
    let _ = fs::remove_file(path.with_extension("pub"));
    sh(Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", "", "-f"])
        .arg(path)
        .args(extra));
}

impl Sshd {
    /// Starts a server for the default account; `extra` is appended to its configuration.
    pub fn start(extra: &str) -> Sshd {
        Sshd::with(SshdOptions {
            extra: extra.to_owned(),
            ..SshdOptions::default()
        })
    }

    /// Starts a server with the given options.
    pub fn with(opts: SshdOptions) -> Sshd {
        fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        // The account's processes must reach their home inside the temp dir.
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).expect("chmod");
        let home = d.join("home");
        fs::create_dir_all(home.join(".ssh")).expect("home");
        let (user, uid) = (&opts.user, opts.uid);

        let shadow_hash = Command::new("openssl")
            .args(["passwd", "-6", &opts.password])
            .output()
            .expect("openssl");
        let shadow_hash = String::from_utf8_lossy(&shadow_hash.stdout)
            .trim()
            .to_owned();
        let mut passwd = fs::read_to_string("/etc/passwd").expect("passwd");
        passwd.push_str(&format!(
            "{user}:x:{uid}:{uid}::{}:/bin/bash\n",
            home.display()
        ));
        let mut shadow = fs::read_to_string("/etc/shadow").expect("shadow");
        shadow.push_str(&format!("{user}:{shadow_hash}:19000:0:99999:7:::\n"));
        let mut group = fs::read_to_string("/etc/group").expect("group");
        group.push_str(&format!("{user}:x:{uid}:\n"));
        let etc = if opts.private_etc {
            sh(Command::new("cp").arg("-a").arg("/etc").arg(d.join("etc")));
            for dir in ["homes", "log"] {
                fs::create_dir_all(d.join(dir)).expect("private dir");
            }
            for file in ["wtmp", "btmp", "lastlog"] {
                fs::write(d.join("log").join(file), "").expect("login records");
            }
            d.join("etc")
        } else {
            d.to_path_buf()
        };
        fs::write(etc.join("passwd"), passwd).expect("write passwd");
        fs::write(etc.join("shadow"), shadow).expect("write shadow");
        fs::set_permissions(etc.join("shadow"), fs::Permissions::from_mode(0o640)).expect("chmod");
        fs::write(etc.join("group"), group).expect("write group");

        keygen(&d.join("hostkey"), "ed25519", &[]);
        keygen(&d.join("id_ed25519"), "ed25519", &[]);
        keygen(&d.join("id_rsa"), "rsa", &["-b", "2048", "-m", "PEM"]);
        let mut authorized = String::new();
        for k in ["id_ed25519.pub", "id_rsa.pub"] {
            authorized.push_str(&fs::read_to_string(d.join(k)).expect("pub"));
        }
        for k in &opts.authorized_keys {
            authorized.push_str(k.trim_end());
            authorized.push('\n');
        }
        fs::write(home.join(".ssh/authorized_keys"), authorized).expect("authorized_keys");
        for p in [
            home.clone(),
            home.join(".ssh"),
            home.join(".ssh/authorized_keys"),
        ] {
            std::os::unix::fs::chown(&p, Some(uid), Some(uid)).expect("chown");
        }

        let mut sshd = Sshd {
            dir,
            port: free_port(),
            opts,
            child: None,
        };
        sshd.spawn();
        sshd
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The test account's name.
    pub fn user(&self) -> &str {
        &self.opts.user
    }

    /// The test account's password.
    pub fn password(&self) -> &str {
        &self.opts.password
    }

    /// The test account's home directory (as seen from outside the namespace too).
    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// A file of the fixture's directory: `hostkey`, `id_ed25519`, `id_rsa` (and `.pub`),
    /// `sshd.log`, `home/…`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The text of one of the fixture's private keys (`id_ed25519`, `id_rsa`).
    pub fn private_key_text(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).expect("key")
    }

    /// Accepts one more public key (an authorized_keys line) for the account.
    pub fn authorize(&self, public_key: &str) {
        let file = self.path("home/.ssh/authorized_keys");
        let mut authorized = fs::read_to_string(&file).expect("authorized_keys");
        authorized.push_str(public_key.trim_end());
        authorized.push('\n');
        fs::write(&file, authorized).expect("authorized_keys");
    }

    fn spawn(&mut self) {
        let d = self.dir.path();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nPasswordAuthentication yes\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile {d}/sshd.pid\n\
             AllowTcpForwarding yes\nLogLevel DEBUG1\nMaxAuthTries 20\n\
             Subsystem sftp internal-sftp\n{extra}\n",
            port = self.port,
            d = d.display(),
            extra = self.opts.extra,
        );
        fs::write(d.join("sshd_config"), config).expect("sshd_config");
        let log = fs::File::create(d.join("sshd.log")).expect("log");
        let mounts = if self.opts.private_etc {
            "mount --bind {d}/etc /etc && mount --bind {d}/homes /home && \
             mount --bind {d}/log /var/log"
        } else {
            "mount --bind {d}/passwd /etc/passwd && mount --bind {d}/shadow /etc/shadow && \
             mount --bind {d}/group /etc/group"
        };
        let script = format!("{mounts} && exec /usr/sbin/sshd -D -e -f {{d}}/sshd_config")
            .replace("{d}", &d.display().to_string());
        let child = Command::new("unshare")
            .args(["--mount", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log().contains("Server listening") {
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server and everything it started (connections and their shells).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id();
        // Freeze the server so it forks nothing new, then kill it with its descendants
        // (each connection's process starts its own session, so a process-group kill would
        // miss them; they must be found before the server dies and they are reparented).
        signal(pid, "STOP");
        let mut doomed = descendants(pid);
        doomed.push(pid);
        for p in &doomed {
            signal(*p, "KILL");
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts it again (after [`Sshd::stop`], or restarts a running one) on the same port
    /// with the same host key.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Restarts the server on the same port with a freshly generated host key.
    pub fn new_host_key(&mut self) {
        self.stop();
        keygen(&self.path("hostkey"), "ed25519", &[]);
        self.spawn();
    }

    /// What the server logged (LogLevel DEBUG1).
    pub fn log(&self) -> String {
        fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
    }

    /// The host key's `SHA256:…` fingerprint.
    pub fn host_fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(self.path("hostkey.pub"))
            .output()
            .expect("ssh-keygen -l");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .expect("fingerprint")
            .to_owned()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Every process below `root`, found through `/proc/<pid>/stat`.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
            let Some(ppid) = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            parent_of.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}
