//! File-transfer rules shared by every front door that reaches an asset's files: the SSH
//! gateway's `sftp` subsystem and the web file manager ([`crate::files`]). Keeping them in one
//! place means a path, an action check or an FTP log row means the same thing whichever door
//! the user came through.
//!
//! - Paths as the user sees them: every path is taken from the asset's *remote root* (the
//!   platform's `sftp_home`), `.` and `..` are applied and `..` stops at the root, so no path
//!   reaches above it ([`components`], [`display`], [`sftp_root`], [`remote_path`]).
//! - Which grant action each operation needs ([`Op`], [`check`]).
//! - The digest of a transfer ([`Digest`]) and the FTP log row ([`log_ftp`]).
//! - Opening the asset's SFTP for a user — authorize with protocol `sftp`, connect, open the
//!   asset's own `sftp` subsystem, root it at the platform's `sftp_home`, start the session
//!   row — in one sequence for both front doors ([`open_target_sftp`]), so the two cannot
//!   drift apart in what they check, record or where they root the user.
//! - The session row of a file-transfer connection, ended exactly once: by the front door when
//!   the user is done, or at once when an administrator kills it, the permission expires or
//!   the maximum session time is reached ([`WatchedSession`]). Idle time is not applied to
//!   file transfer here; front doors that hold connections for a user decide their own.

use crate::authorize::{Authorized, ConnectRequest, Denied, Requester, TargetTimeouts, authorize};
use crate::live::{EndReason, Engine, LiveSession, SessionKind};
use crate::target::{self, TargetConnection};
use chrono::{DateTime, Utc};
use portcullis_core::perm::Actions;
use portcullis_store::Store;
use portcullis_store::audits::NewFtpLog;
use russh::ChannelMsg;
use russh_sftp::client::RawSftpSession;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// How long the asset's SFTP server may take to answer one request.
pub const REMOTE_TIMEOUT_SECS: u64 = 120;
/// Out-of-order transfer data held for the digest, per direction of a transfer.
pub const PENDING_LIMIT: usize = 8 * 1024 * 1024;
/// Sessions running longer than this are not timed (no timer is armed beyond it).
const LONGEST_TIMER: Duration = Duration::from_secs(366 * 24 * 3600);

// ------------------------------------------------------------------------------------------
// Paths
// ------------------------------------------------------------------------------------------

/// The components of a client path, with `.` and `..` applied. Every path is taken from the
/// root, and `..` stops at it, so no path can reach above the root — nor, below an asset,
/// above the asset's remote root.
pub fn components(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p.to_owned()),
        }
    }
    out
}

/// `/a/b` for components `[a, b]`; `/` for none. This is how paths are shown to users and
/// written to the FTP log.
pub fn display(comps: &[String]) -> String {
    format!("/{}", comps.join("/"))
}

/// The remote root from the platform's `sftp_home` setting. `home` is the account's home on
/// the asset, `account` the username there, `user` the Portcullis user name. `home`, `~` or
/// empty mean the home; `${ACCOUNT}`, `${USER}` and `${HOME}` are substituted; a relative
/// setting is taken from the home.
pub fn sftp_root(setting: &str, home: &str, account: &str, user: &str) -> String {
    let s = setting.trim();
    if s.is_empty() || s == "home" || s == "~" {
        return home.to_owned();
    }
    let s = s
        .replace("${ACCOUNT}", account)
        .replace("${USER}", user)
        .replace("${HOME}", home);
    let s = match s.strip_prefix("~/") {
        Some(rest) => format!("{}/{rest}", home.trim_end_matches('/')),
        None => s,
    };
    if s.starts_with('/') {
        s
    } else {
        format!("{}/{s}", home.trim_end_matches('/'))
    }
}

/// The remote path of `rel` below `root`.
pub fn remote_path(root: &str, rel: &[String]) -> String {
    if rel.is_empty() {
        return root.to_owned();
    }
    format!("{}/{}", root.trim_end_matches('/'), rel.join("/"))
}

// ------------------------------------------------------------------------------------------
// Actions
// ------------------------------------------------------------------------------------------

/// What a request does, for the permission check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Reading a file's content.
    Read,
    /// Writing, creating, truncating or appending to a file.
    Write,
    /// Creating a directory.
    Mkdir,
    /// Changing attributes.
    SetStat,
    /// Creating a symbolic link.
    Symlink,
    /// Removing a file.
    Remove,
    /// Removing a directory.
    Rmdir,
    /// Renaming: it creates the new name and removes the old one, so it needs both `upload`
    /// and `delete`.
    Rename,
}

/// The actions `op` needs.
pub fn needs(op: Op) -> Actions {
    match op {
        Op::Read => Actions::DOWNLOAD,
        Op::Write | Op::Mkdir | Op::SetStat | Op::Symlink => Actions::UPLOAD,
        Op::Remove | Op::Rmdir => Actions::DELETE,
        Op::Rename => Actions::UPLOAD | Actions::DELETE,
    }
}

/// An operation the grant does not allow; the message names the missing actions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Permission denied: the {} permission is not granted on this asset",
    missing.join(" and ")
)]
pub struct ActionDenied {
    /// The actions that are needed and not granted (`upload`, `download`, `delete`).
    pub missing: Vec<&'static str>,
}

/// Whether `actions` allow `op`.
pub fn check(actions: Actions, op: Op) -> Result<(), ActionDenied> {
    let need = needs(op);
    if actions.contains(need) {
        return Ok(());
    }
    let missing = [
        (Actions::UPLOAD, "upload"),
        (Actions::DOWNLOAD, "download"),
        (Actions::DELETE, "delete"),
    ]
    .into_iter()
    .filter(|(a, _)| need.contains(*a) && !actions.contains(*a))
    .map(|(_, n)| n)
    .collect();
    Err(ActionDenied { missing })
}

// ------------------------------------------------------------------------------------------
// Digests
// ------------------------------------------------------------------------------------------

/// The incremental SHA-256 of one direction of a transfer. Data arriving at the next
/// expected offset is hashed at once; data ahead of it is held (up to [`PENDING_LIMIT`]
/// bytes) until the gap is filled, which covers clients that pipeline and retry short reads.
/// A transfer that overlaps itself, leaves gaps or outruns that buffer has no digest: the
/// hash then would not describe the file, so none is given.
#[derive(Default)]
pub struct Digest {
    hasher: Sha256,
    /// The next offset the hash expects.
    next: u64,
    /// Data ahead of `next`, by offset.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    /// The content is no longer one sequential stream.
    broken: bool,
    /// Bytes that passed, in total.
    total: u64,
}

impl Digest {
    /// Adds `data`, found at `offset` of the file.
    pub fn feed(&mut self, offset: u64, data: &[u8]) {
        self.total = self.total.saturating_add(data.len() as u64);
        if self.broken || data.is_empty() {
            return;
        }
        if offset == self.next {
            self.take(data);
            self.drain();
        } else if offset < self.next {
            // Re-sent or overlapping data: the stream is not a plain sequence any more.
            self.break_off();
        } else if self.pending_bytes.saturating_add(data.len()) > PENDING_LIMIT
            || self.pending.contains_key(&offset)
        {
            self.break_off();
        } else {
            self.pending_bytes += data.len();
            self.pending.insert(offset, data.to_vec());
        }
    }

    /// Bytes that passed, in total (overlaps counted twice).
    pub fn total(&self) -> u64 {
        self.total
    }

    fn take(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.next = self.next.saturating_add(data.len() as u64);
    }

    fn drain(&mut self) {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.next {
                if *entry.key() < self.next {
                    // Overlaps what is already hashed.
                    self.break_off();
                }
                return;
            }
            let data = entry.remove();
            self.pending_bytes -= data.len();
            self.take(&data);
        }
    }

    fn break_off(&mut self) {
        self.broken = true;
        self.pending.clear();
        self.pending_bytes = 0;
    }

    /// The hex digest, when the content passed as one gap-free sequence from offset 0.
    pub fn finish(self) -> Option<String> {
        if self.broken || !self.pending.is_empty() {
            return None;
        }
        Some(hex::encode(self.hasher.finalize()))
    }
}

// ------------------------------------------------------------------------------------------
// The FTP log
// ------------------------------------------------------------------------------------------

/// One FTP log row to write.
#[derive(Debug, Clone)]
pub struct FtpEvent {
    /// `upload`, `download`, `mkdir`, `rmdir`, `delete`, `rename`, `rename_dir`, `symlink`.
    pub operate: &'static str,
    /// The path as the user sees it below the asset (`/` is the remote root); `a=>b` for
    /// renames.
    pub path: String,
    /// Bytes transferred, for transfers.
    pub size: Option<u64>,
    /// SHA-256 of the content that passed, when it is known.
    pub sha256: Option<String>,
    /// Whether it succeeded (refusals and failures are logged too).
    pub ok: bool,
    /// When it started.
    pub at: DateTime<Utc>,
}

/// Writes one FTP log row for an operation of session `session_id` on the connection `auth`
/// describes. A store failure is logged, not returned: the operation has happened either way.
pub async fn log_ftp(store: &Store, auth: &Authorized, session_id: Uuid, e: FtpEvent) {
    let row = NewFtpLog {
        org: auth.asset.org_id,
        user: auth.requester.display(),
        remote_addr: auth.requester.remote_addr.to_canonical().to_string(),
        asset: auth.asset.name.clone(),
        account: auth.account.display(),
        operate: e.operate.to_owned(),
        filename: e.path,
        size: e.size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
        is_success: e.ok,
        has_file: false,
        session_id: Some(session_id),
        sha256: e.sha256.clone().unwrap_or_default(),
        date_start: e.at,
    };
    match store.insert_ftp_log(&row).await {
        Ok(id) => tracing::info!(
            ftp_log = %id,
            operate = e.operate,
            file = %row.filename,
            size = ?row.size,
            sha256 = e.sha256.as_deref().unwrap_or(""),
            ok = e.ok,
            login_from = auth.requester.login_from.code(),
            "sftp"
        ),
        Err(err) => tracing::error!(error = %err, "could not write an FTP log row"),
    }
}

// ------------------------------------------------------------------------------------------
// The asset's SFTP server
// ------------------------------------------------------------------------------------------

/// An asset's SFTP server opened for one user as one account, with its running session.
pub struct OpenedSftp {
    /// What the core allowed (asset, account, actions, expiry).
    pub auth: Authorized,
    /// The client session to the asset's SFTP server.
    pub sftp: RawSftpSession,
    /// The SSH connection under it; close it when done.
    pub conn: TargetConnection,
    /// The remote root: the platform's `sftp_home` resolved on the asset ([`sftp_root`]).
    pub root: String,
    /// The session row (kind `sftp`), watched for kills, expiry and the maximum time.
    pub session: WatchedSession,
}

/// Why [`open_target_sftp`] failed. The messages are sentences for the user.
#[derive(Debug, thiserror::Error)]
pub enum OpenSftpError {
    /// The grant or an ACL refuses the connection (nothing recorded: no session was made).
    #[error("{0}")]
    Refused(Denied),
    /// The asset could not be reached or has no usable SFTP server (recorded as a failed
    /// session with this reason).
    #[error("{0}")]
    Target(String),
    /// The session row could not be written, so nothing was started.
    #[error("The session cannot be recorded, so it was not started")]
    NotRecorded,
}

/// The one opening sequence of both front doors: authorizes `req` (protocol `sftp`) for
/// `who`, connects with the engine's SSH client, opens the asset's `sftp` subsystem, takes
/// the remote root from the platform's `sftp_home` and the account's home there, and starts
/// the session row, watched until the permission expires or `max_duration` passes. A failure
/// after the decision is recorded as a failed session; nothing is left open on error.
pub async fn open_target_sftp(
    engine: &Engine,
    who: &Requester,
    req: &ConnectRequest,
    timeouts: TargetTimeouts,
    max_duration: Option<Duration>,
) -> Result<OpenedSftp, OpenSftpError> {
    let auth = authorize(engine.store(), engine.vault(), who, req, timeouts)
        .await
        .map_err(|d| {
            tracing::info!(
                user = %who.username,
                login_from = who.login_from.code(),
                code = d.code(),
                "SFTP connection refused: {d}"
            );
            OpenSftpError::Refused(d)
        })?;
    let failed = |message: String| {
        let auth = auth.clone();
        async move {
            let _ = engine
                .record_failed(
                    &auth,
                    SessionKind::Sftp,
                    &EndReason::ConnectFailed {
                        message: message.clone(),
                    },
                )
                .await;
            OpenSftpError::Target(message)
        }
    };
    let conn = match target::connect(engine.store(), &auth.target).await {
        Ok(c) => c,
        Err(e) => return Err(failed(e.user_message()).await),
    };
    let (sftp, home) = match open_remote_sftp(&conn).await {
        Ok(x) => x,
        Err(message) => {
            conn.close().await;
            return Err(failed(message).await);
        }
    };
    let root = sftp_root(
        &auth.sftp_home,
        &home,
        &auth.account.username,
        &who.username,
    );
    let live = match engine.start(&auth, SessionKind::Sftp, None).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(
                error = %e,
                login_from = who.login_from.code(),
                "an SFTP session could not be started"
            );
            let _ = sftp.close_session();
            conn.close().await;
            return Err(OpenSftpError::NotRecorded);
        }
    };
    let expires = (auth.date_expired - Utc::now()).to_std().ok();
    let session = WatchedSession::start(live, Some(expires.unwrap_or_default()), max_duration);
    Ok(OpenedSftp {
        auth,
        sftp,
        conn,
        root,
        session,
    })
}

/// Opens the `sftp` subsystem on the asset; returns the client session (with a
/// [`REMOTE_TIMEOUT_SECS`] request timeout) and the account's home directory. The error is a
/// sentence for the user.
pub async fn open_remote_sftp(conn: &TargetConnection) -> Result<(RawSftpSession, String), String> {
    let mut channel = conn.open_session().await.map_err(|e| e.user_message())?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|e| format!("The asset refused the SFTP subsystem: {e}"))?;
    let answer = tokio::time::timeout(Duration::from_secs(REMOTE_TIMEOUT_SECS), async {
        loop {
            match channel.wait().await {
                Some(ChannelMsg::Success) => return Ok(()),
                Some(ChannelMsg::Failure) | None => {
                    return Err("The asset has no SFTP subsystem".to_owned());
                }
                Some(_) => {}
            }
        }
    })
    .await
    .map_err(|_| "The asset did not answer the SFTP subsystem request".to_owned())?;
    answer?;
    let sftp = RawSftpSession::new(channel.into_stream());
    sftp.set_timeout(REMOTE_TIMEOUT_SECS);
    sftp.init()
        .await
        .map_err(|e| format!("The asset's SFTP server did not start: {e}"))?;
    let home = sftp
        .realpath(".")
        .await
        .ok()
        .and_then(|n| n.files.into_iter().next())
        .map(|f| f.filename)
        .filter(|h| h.starts_with('/'))
        .unwrap_or_else(|| "/".to_owned());
    Ok((sftp, home))
}

// ------------------------------------------------------------------------------------------
// The session row
// ------------------------------------------------------------------------------------------

/// A session's state, shared with its watcher.
enum Slot {
    Live(Box<LiveSession>),
    Ended(EndReason),
}

/// The session of a file-transfer connection with its watcher, which ends it when it is
/// killed, its permission expires or it runs too long. Whoever comes first — the watcher or
/// [`WatchedSession::end`] — ends the row; the other finds it ended.
pub struct WatchedSession {
    id: Uuid,
    slot: Arc<Mutex<Slot>>,
    watcher: tokio::task::JoinHandle<()>,
}

impl WatchedSession {
    /// Watches a started session. `expires` is the time left on the permission (`None`: no
    /// timer), `max` the maximum session time.
    pub fn start(
        session: LiveSession,
        expires: Option<Duration>,
        max: Option<Duration>,
    ) -> WatchedSession {
        let id = session.id;
        let kill = session.kill_signal();
        let slot = Arc::new(Mutex::new(Slot::Live(Box::new(session))));
        let watcher = tokio::spawn(watch_session(Arc::clone(&slot), kill, expires, max));
        WatchedSession { id, slot, watcher }
    }

    /// The session id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Why the session ended, once it has.
    pub fn ended(&self) -> Option<EndReason> {
        match &*self.slot.lock().unwrap_or_else(PoisonError::into_inner) {
            Slot::Live(_) => None,
            Slot::Ended(r) => Some(r.clone()),
        }
    }

    /// Ends the session with `reason` unless it has ended already.
    pub async fn end(&self, reason: &EndReason) {
        self.watcher.abort();
        let live = {
            let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            match std::mem::replace(&mut *slot, Slot::Ended(reason.clone())) {
                Slot::Live(s) => Some(s),
                Slot::Ended(r) => {
                    *slot = Slot::Ended(r);
                    None
                }
            }
        };
        if let Some(s) = live {
            s.end(reason).await;
        }
    }
}

/// Ends the session when it is killed, its permission expires or it runs too long.
async fn watch_session(
    slot: Arc<Mutex<Slot>>,
    mut kill: watch::Receiver<Option<EndReason>>,
    expires: Option<Duration>,
    max: Option<Duration>,
) {
    let sleep_or_never = |d: Option<Duration>| async move {
        match d.filter(|d| *d < LONGEST_TIMER) {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let killed = async {
        loop {
            if let Some(r) = kill.borrow_and_update().clone() {
                return Some(r);
            }
            if kill.changed().await.is_err() {
                return None;
            }
        }
    };
    let reason = tokio::select! {
        r = killed => r,
        () = sleep_or_never(expires) => Some(EndReason::PermissionExpired),
        () = sleep_or_never(max) => Some(EndReason::MaxDuration),
    };
    let Some(reason) = reason else {
        // The session was ended elsewhere (its registration is gone).
        return;
    };
    let live = {
        let mut s = slot.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *s, Slot::Ended(reason.clone())) {
            Slot::Live(l) => Some(l),
            Slot::Ended(r) => {
                *s = Slot::Ended(r);
                None
            }
        }
    };
    if let Some(l) = live {
        l.end(&reason).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn paths_are_taken_from_the_root_and_cannot_climb_above_it() {
        assert_eq!(components("/"), Vec::<String>::new());
        assert_eq!(components("."), Vec::<String>::new());
        assert_eq!(components(""), Vec::<String>::new());
        assert_eq!(components("/a/./b//c/"), comps(&["a", "b", "c"]));
        assert_eq!(components("a/b/../c"), comps(&["a", "c"]));
        assert_eq!(components("/../../etc/passwd"), comps(&["etc", "passwd"]));
        assert_eq!(components("a/../../.."), Vec::<String>::new());
        assert_eq!(display(&components("x/../y/z")), "/y/z");
        assert_eq!(display(&[]), "/");
    }

    #[test]
    fn the_remote_root_follows_sftp_home() {
        let root = |s| sftp_root(s, "/home/app", "app", "alice");
        assert_eq!(root(""), "/home/app");
        assert_eq!(root("home"), "/home/app");
        assert_eq!(root("~"), "/home/app");
        assert_eq!(root(" /tmp "), "/tmp");
        assert_eq!(root("/data/${USER}/${ACCOUNT}"), "/data/alice/app");
        assert_eq!(root("${HOME}/up"), "/home/app/up");
        assert_eq!(root("~/up"), "/home/app/up");
        assert_eq!(root("rel/dir"), "/home/app/rel/dir");
        assert_eq!(remote_path("/tmp", &[]), "/tmp");
        assert_eq!(remote_path("/", &comps(&["a", "b"])), "/a/b");
        assert_eq!(remote_path("/tmp/", &comps(&["a"])), "/tmp/a");
    }

    #[test]
    fn each_operation_needs_its_action() {
        let all = Actions::CONNECT | Actions::UPLOAD | Actions::DOWNLOAD | Actions::DELETE;
        for op in [
            Op::Read,
            Op::Write,
            Op::Mkdir,
            Op::SetStat,
            Op::Symlink,
            Op::Remove,
            Op::Rmdir,
            Op::Rename,
        ] {
            assert!(check(all, op).is_ok(), "{op:?}");
            assert!(check(Actions::CONNECT, op).is_err(), "{op:?}");
        }
        let up = Actions::CONNECT | Actions::UPLOAD;
        assert!(check(up, Op::Write).is_ok());
        assert!(check(up, Op::Mkdir).is_ok());
        assert!(check(up, Op::Read).is_err());
        assert!(check(up, Op::Remove).is_err());
        let denied = check(up, Op::Rename).unwrap_err();
        assert_eq!(denied.missing, ["delete"], "rename needs delete too");
        let msg = denied.to_string();
        assert!(msg.contains("delete") && !msg.contains("upload"), "{msg}");
        let down = Actions::CONNECT | Actions::DOWNLOAD;
        assert!(check(down, Op::Read).is_ok());
        assert!(
            check(down, Op::Write)
                .unwrap_err()
                .to_string()
                .contains("upload")
        );
        assert!(check(Actions::DELETE, Op::Rmdir).is_ok());
    }

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    #[test]
    fn the_digest_covers_sequential_and_reordered_transfers() {
        let data: Vec<u8> = (0..100u8).collect();
        let mut d = Digest::default();
        for (i, chunk) in data.chunks(7).enumerate() {
            d.feed((i * 7) as u64, chunk);
        }
        d.feed(100, &[]);
        assert_eq!(d.total(), 100);
        assert_eq!(d.finish(), Some(sha(&data)));

        // A short read answered later: the later chunks wait for the gap.
        let mut d = Digest::default();
        d.feed(0, &data[..10]);
        d.feed(20, &data[20..30]);
        d.feed(30, &data[30..]);
        d.feed(10, &data[10..20]);
        assert_eq!(d.finish(), Some(sha(&data)));

        // A gap that is never filled: no digest.
        let mut d = Digest::default();
        d.feed(0, &data[..10]);
        d.feed(20, &data[20..]);
        assert_eq!(d.total(), 90);
        assert_eq!(d.finish(), None);

        // Overlap (a rewrite): no digest.
        let mut d = Digest::default();
        d.feed(0, &data[..10]);
        d.feed(5, &data[5..20]);
        assert_eq!(d.finish(), None);

        // Pending data that overlaps once the gap is filled: no digest.
        let mut d = Digest::default();
        d.feed(15, &data[15..20]);
        d.feed(0, &data[..20]);
        assert_eq!(d.finish(), None);

        // Nothing at all is the empty file.
        assert_eq!(Digest::default().finish(), Some(sha(b"")));
    }

    #[test]
    fn out_of_order_data_is_bounded() {
        let mut d = Digest::default();
        let big = vec![0u8; 1024 * 1024];
        for i in 1..=9u64 {
            d.feed(i * big.len() as u64, &big);
        }
        assert!(d.broken);
        assert_eq!(d.pending_bytes, 0);
        assert!(d.pending.is_empty());
        assert_eq!(d.finish(), None);
    }
}
