//! The web file manager's connection to an asset: one SFTP client session to the asset's own
//! SFTP server, opened through the session engine like every other front door, with the file
//! operations a browser needs — each checked against the grant's actions and written to the
//! FTP log exactly as the SSH gateway's `sftp` subsystem writes it ([`crate::ftp`]).
//!
//! # Opening
//!
//! [`FileSession::open`] runs the opening sequence it shares with the SSH gateway's `sftp`
//! subsystem ([`ftp::open_target_sftp`]): it decides the connection with
//! [`authorize`](crate::authorize::authorize) (protocol `sftp`, login from `WT`: the same
//! grant, account, `connect` action and asset-connect ACLs as every front door), reaches the
//! asset with the engine's SSH client, opens its `sftp` subsystem and starts a session row of
//! kind `sftp`. A connection that fails after the decision is recorded as a failed session
//! with the reason. The session ends when the front door calls
//! [`FileSession::close`], or at once when an administrator kills it, the permission expires
//! or the maximum session time is reached; operations then fail with [`FilesError::Ended`].
//!
//! # Paths
//!
//! Paths are as the user sees them below the asset: `/` is the remote root (the platform's
//! `sftp_home`, as for the SSH gateway), `..` stops there, and the FTP log shows the same
//! paths whichever door the user came through. Paths with a NUL byte or longer than
//! [`MAX_PATH`] bytes are refused; new names (upload, mkdir, rename target) must be one
//! component without `/` or control characters.
//!
//! # Operations and the actions they need
//!
//! | operation | needs | FTP log |
//! |---|---|---|
//! | [`list`](FileSession::list), [`stat`](FileSession::stat) | `connect` (the session) | — |
//! | [`download`](FileSession::download) | `download` | `download`, with size and SHA-256 |
//! | [`upload`](FileSession::upload) | `upload` | `upload`, with size and SHA-256 |
//! | [`mkdir`](FileSession::mkdir) | `upload` | `mkdir` |
//! | [`rename`](FileSession::rename) | `upload` and `delete` | `rename` / `rename_dir` |
//! | [`remove`](FileSession::remove) | `delete` | `delete` / `rmdir` |
//!
//! Refused and failed operations are logged with `is_success` false.
//!
//! **Delete is not recursive.** A directory is removed only when it is empty; otherwise the
//! answer is [`FilesError::Conflict`]. A recursive delete would be many removals in one
//! request: each would need its own check and log row, and a large tree over a slow link
//! would hold the request for an unbounded time. The user deletes the contents first (each
//! removal audited) — the same as with any SFTP client through the gateway.
//!
//! # Transfers
//!
//! Both directions move in [`CHUNK`]-byte requests with up to [`WINDOW`] of them in flight, so
//! a transfer runs at the link's speed while memory stays bounded whatever the file size.
//! A [`Download`] yields chunks in order; an [`Upload`] takes the body as it arrives and
//! refuses more than its announced length or the size cap. An upload is written to a hidden
//! temporary file in the target directory and renamed over the target only when every byte
//! is written: an interrupted or failed upload removes its temporary file and leaves the
//! target as it was. An existing file of that name is replaced (JumpServer's default
//! `file_name_conflict_resolution`); an existing directory is a conflict. Transfers are
//! logged when they end; one abandoned by the client (the HTTP stream dropped) is logged as
//! failed with the bytes that passed.

use crate::authorize::{
    AccountRef, Authorized, ConnectRequest, Denied, InputCredentials, LoginFrom, Requester,
    TargetTimeouts,
};
use crate::ftp::{
    self, ActionDenied, Digest, FtpEvent, Op, OpenSftpError, OpenedSftp, WatchedSession,
    components, display, open_target_sftp, remote_path,
};
use crate::live::{EndReason, Engine};
use crate::target::TargetConnection;
use chrono::{DateTime, Utc};
use portcullis_core::perm::Actions;
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as RemoteError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Bytes per SFTP read or write request (every SFTP server accepts this much).
pub const CHUNK: u32 = 64 * 1024;
/// Requests in flight per transfer: `WINDOW × CHUNK` bytes (1 MiB) each way.
pub const WINDOW: usize = 16;
/// Entries returned by one listing at most; a larger directory is cut there.
pub const MAX_LIST: usize = 20_000;
/// The longest path accepted, in bytes.
pub const MAX_PATH: usize = 4096;
/// The longest new file or directory name, in bytes (the common file-system limit).
const MAX_NAME: usize = 255;

/// Why a file operation failed. The messages are sentences for the user.
#[derive(Debug, Error)]
pub enum FilesError {
    /// The connection itself is refused by the grant or an ACL.
    #[error("{0}")]
    Refused(Denied),
    /// The grant lacks the action the operation needs.
    #[error("{0}")]
    ActionDenied(ActionDenied),
    /// No such file or directory.
    #[error("{0}")]
    NotFound(String),
    /// A bad path or name, or a body that does not match what was announced.
    #[error("{0}")]
    BadInput(String),
    /// The name is taken, or a directory to remove is not empty.
    #[error("{0}")]
    Conflict(String),
    /// The upload is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// The asset's own file permissions refuse it.
    #[error("{0}")]
    AssetDenied(String),
    /// The asset could not be reached, failed or stopped answering.
    #[error("{0}")]
    Target(String),
    /// The session has ended (killed, permission expired, maximum time).
    #[error("{0}")]
    Ended(String),
    /// The session could not be recorded, so it was not started.
    #[error("{0}")]
    Internal(String),
}

/// One directory entry, as the file manager lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name in its directory (`/` for the root).
    pub name: String,
    /// The full path below the asset's remote root.
    pub path: String,
    /// A directory (a symbolic link to one counts).
    pub is_dir: bool,
    /// Size in bytes.
    pub size: u64,
    /// The POSIX `st_mode`: file type and permission bits.
    pub mode: u32,
    /// Last modification.
    pub mtime: Option<DateTime<Utc>>,
}

/// What the front door asks to open.
#[derive(Debug, Clone)]
pub struct OpenRequest {
    /// The user (the login origin is set to `WT` here).
    pub requester: Requester,
    /// The asset.
    pub asset_id: Uuid,
    /// The account, as the connection token names it.
    pub account: AccountRef,
    /// Typed credentials carried by the token.
    pub input: InputCredentials,
    /// Timeouts towards the asset.
    pub timeouts: TargetTimeouts,
    /// The maximum session time (`SECURITY_MAX_SESSION_TIME`), `None` for none.
    pub max_duration: Option<Duration>,
}

/// An open file manager on one asset as one account. Cheap to clone; operations may run
/// concurrently. End it with [`FileSession::close`].
#[derive(Clone)]
pub struct FileSession {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    auth: Authorized,
    sftp: Arc<RawSftpSession>,
    conn: tokio::sync::Mutex<Option<TargetConnection>>,
    root: String,
    session: WatchedSession,
}

impl FileSession {
    /// Authorizes, connects, opens the asset's SFTP server and starts the session (see the
    /// module docs).
    pub async fn open(engine: &Engine, req: OpenRequest) -> Result<FileSession, FilesError> {
        let mut who = req.requester;
        who.login_from = LoginFrom::WebTerminal;
        let connect = ConnectRequest {
            asset_id: req.asset_id,
            protocol: "sftp".into(),
            account: req.account,
            input: req.input,
        };
        let opened = open_target_sftp(engine, &who, &connect, req.timeouts, req.max_duration)
            .await
            .map_err(|e| match e {
                OpenSftpError::Refused(d) => FilesError::Refused(d),
                OpenSftpError::Target(message) => FilesError::Target(message),
                e @ OpenSftpError::NotRecorded => FilesError::Internal(e.to_string()),
            })?;
        let OpenedSftp {
            auth,
            sftp,
            conn,
            root,
            session,
        } = opened;
        Ok(FileSession {
            inner: Arc::new(Inner {
                engine: engine.clone(),
                auth,
                sftp: Arc::new(sftp),
                conn: tokio::sync::Mutex::new(Some(conn)),
                root,
                session,
            }),
        })
    }

    /// The session row's id.
    pub fn session_id(&self) -> Uuid {
        self.inner.session.id()
    }

    /// What the grant allows on this account (`upload`, `download`, `delete`, …).
    pub fn actions(&self) -> Actions {
        self.inner.auth.actions
    }

    /// The connection the core allowed (asset, account, requester).
    pub fn authorized(&self) -> &Authorized {
        &self.inner.auth
    }

    /// Where the user starts: the remote root, which paths are relative to.
    pub fn home(&self) -> &'static str {
        "/"
    }

    /// Why the session ended, once it has.
    pub fn ended(&self) -> Option<EndReason> {
        self.inner.session.ended()
    }

    /// Ends the session with `reason` (unless it has ended already) and disconnects from the
    /// asset. Calling it again does nothing.
    pub async fn close(&self, reason: &EndReason) {
        self.inner.session.end(reason).await;
        let _ = self.inner.sftp.close_session();
        if let Some(conn) = self.inner.conn.lock().await.take() {
            conn.close().await;
        }
    }

    // --------------------------------------------------------------------------------------
    // Reading
    // --------------------------------------------------------------------------------------

    /// The entries of a directory: directories first, then files, each by name; `.` and `..`
    /// left out; at most [`MAX_LIST`].
    pub async fn list(&self, path: &str) -> Result<Vec<Entry>, FilesError> {
        self.ensure_live()?;
        let rel = resolve(path)?;
        let shown = display(&rel);
        let sftp = &self.inner.sftp;
        let handle = sftp
            .opendir(self.remote(&rel))
            .await
            .map_err(|e| remote_error(e, &shown))?
            .handle;
        let mut raw = Vec::new();
        let read = loop {
            match sftp.readdir(handle.clone()).await {
                Ok(name) => {
                    raw.extend(
                        name.files
                            .into_iter()
                            .filter(|f| f.filename != "." && f.filename != ".."),
                    );
                    if raw.len() >= MAX_LIST {
                        raw.truncate(MAX_LIST);
                        break Ok(());
                    }
                }
                Err(RemoteError::Status(s)) if s.status_code == StatusCode::Eof => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        let _ = sftp.close(handle).await;
        read.map_err(|e| remote_error(e, &shown))?;
        let mut entries = Vec::with_capacity(raw.len());
        for f in raw {
            let mut child = rel.clone();
            child.push(f.filename.clone());
            let mut dir = is_dir(&f.attrs);
            let mut size = f.attrs.size.unwrap_or(0);
            if is_link(&f.attrs)
                && let Ok(target) = sftp.stat(self.remote(&child)).await
            {
                // Followed, so a link to a directory opens like one; a dangling link stays
                // a file.
                dir = is_dir(&target.attrs);
                size = target.attrs.size.unwrap_or(size);
            }
            entries.push(Entry {
                name: f.filename,
                path: display(&child),
                is_dir: dir,
                size,
                mode: f.attrs.permissions.unwrap_or(0),
                mtime: mtime(&f.attrs),
            });
        }
        entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
        Ok(entries)
    }

    /// One entry (links followed).
    pub async fn stat(&self, path: &str) -> Result<Entry, FilesError> {
        self.ensure_live()?;
        let rel = resolve(path)?;
        let shown = display(&rel);
        let a = self
            .inner
            .sftp
            .stat(self.remote(&rel))
            .await
            .map_err(|e| remote_error(e, &shown))?
            .attrs;
        Ok(entry(&rel, &a))
    }

    /// Opens a file for download (needs `download`). Read it with [`Download::next_chunk`].
    pub async fn download(&self, path: &str) -> Result<Download, FilesError> {
        self.ensure_live()?;
        let rel = resolve(path)?;
        let shown = display(&rel);
        self.permit(Op::Read, "download", &shown).await?;
        let opened = Utc::now();
        let remote = self.remote(&rel);
        let sftp = &self.inner.sftp;
        let opening = async {
            let attrs = sftp
                .stat(remote.clone())
                .await
                .map_err(|e| remote_error(e, &shown))?
                .attrs;
            if is_dir(&attrs) {
                return Err(FilesError::BadInput(format!(
                    "{shown} is a directory; only files can be downloaded"
                )));
            }
            let handle = sftp
                .open(remote.clone(), OpenFlags::READ, FileAttributes::empty())
                .await
                .map_err(|e| remote_error(e, &shown))?
                .handle;
            Ok((attrs, handle))
        };
        let (attrs, handle) = match opening.await {
            Ok(x) => x,
            Err(e) => {
                self.log("download", shown, None, None, false, opened).await;
                return Err(e);
            }
        };
        Ok(Download {
            fs: self.clone(),
            handle: Some(handle),
            name: rel.last().cloned().unwrap_or_default(),
            shown,
            size: attrs.size,
            next: 0,
            inflight: VecDeque::new(),
            digest: Digest::default(),
            opened,
        })
    }

    // --------------------------------------------------------------------------------------
    // Writing
    // --------------------------------------------------------------------------------------

    /// Starts an upload of `length` bytes as `name` in directory `dir` (needs `upload`);
    /// refused before anything is written when `length` is over `max`. Feed it with
    /// [`Upload::write`] and complete it with [`Upload::finish`].
    pub async fn upload(
        &self,
        dir: &str,
        name: &str,
        length: u64,
        max: u64,
    ) -> Result<Upload, FilesError> {
        self.ensure_live()?;
        let dir_rel = resolve(dir)?;
        check_name(name)?;
        let mut rel = dir_rel.clone();
        rel.push(name.to_owned());
        let shown = display(&rel);
        self.permit(Op::Write, "upload", &shown).await?;
        let opened = Utc::now();
        let sftp = &self.inner.sftp;
        let target = self.remote(&rel);
        let mut temp_rel = dir_rel.clone();
        temp_rel.push(format!(".portcullis-upload-{}", Uuid::new_v4().simple()));
        let temp = self.remote(&temp_rel);
        let opening = async {
            if length > max {
                return Err(FilesError::TooLarge(too_large(length, max)));
            }
            let shown_dir = display(&dir_rel);
            let d = sftp
                .stat(self.remote(&dir_rel))
                .await
                .map_err(|e| remote_error(e, &shown_dir))?;
            if !is_dir(&d.attrs) {
                return Err(FilesError::BadInput(format!(
                    "{shown_dir} is not a directory"
                )));
            }
            if let Ok(existing) = sftp.lstat(target.clone()).await
                && is_dir(&existing.attrs)
            {
                return Err(FilesError::Conflict(format!(
                    "{shown} is a directory; choose another name"
                )));
            }
            let handle = sftp
                .open(
                    temp.clone(),
                    OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE,
                    FileAttributes::empty(),
                )
                .await
                .map_err(|e| remote_error(e, &display(&dir_rel)))?
                .handle;
            Ok(handle)
        };
        let handle = match opening.await {
            Ok(h) => h,
            Err(e) => {
                self.log("upload", shown, None, None, false, opened).await;
                return Err(e);
            }
        };
        Ok(Upload {
            fs: self.clone(),
            handle: Some(handle),
            temp,
            target,
            shown,
            expected: length,
            offset: 0,
            buf: Vec::with_capacity(CHUNK as usize),
            inflight: VecDeque::new(),
            digest: Digest::default(),
            opened,
        })
    }

    /// Creates a directory (needs `upload`).
    pub async fn mkdir(&self, path: &str) -> Result<(), FilesError> {
        self.ensure_live()?;
        let rel = resolve(path)?;
        let Some(name) = rel.last() else {
            return Err(FilesError::Conflict("The root directory exists".to_owned()));
        };
        check_name(name)?;
        let shown = display(&rel);
        self.permit(Op::Mkdir, "mkdir", &shown).await?;
        let at = Utc::now();
        let sftp = &self.inner.sftp;
        let remote = self.remote(&rel);
        let result = async {
            if sftp.lstat(remote.clone()).await.is_ok() {
                return Err(FilesError::Conflict(format!("{shown} already exists")));
            }
            sftp.mkdir(remote.clone(), FileAttributes::empty())
                .await
                .map_err(|e| remote_error(e, &shown))?;
            Ok(())
        }
        .await;
        self.log("mkdir", shown, None, None, result.is_ok(), at)
            .await;
        result
    }

    /// Renames or moves a file or directory within the asset (needs `upload` and `delete`).
    /// The new name must not exist.
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), FilesError> {
        self.ensure_live()?;
        let old = resolve(from)?;
        let new = resolve(to)?;
        if old.is_empty() || new.is_empty() {
            return Err(FilesError::BadInput(
                "The root directory cannot be renamed".to_owned(),
            ));
        }
        if let Some(name) = new.last() {
            check_name(name)?;
        }
        let (old_shown, new_shown) = (display(&old), display(&new));
        let sftp = &self.inner.sftp;
        let (old_remote, new_remote) = (self.remote(&old), self.remote(&new));
        let kind = sftp.lstat(old_remote.clone()).await;
        let operate = match &kind {
            Ok(a) if is_dir(&a.attrs) => "rename_dir",
            _ => "rename",
        };
        let shown = format!("{old_shown}=>{new_shown}");
        self.permit(Op::Rename, operate, &shown).await?;
        let at = Utc::now();
        let result = async {
            kind.map_err(|e| remote_error(e, &old_shown))?;
            if old == new {
                return Ok(());
            }
            if new.starts_with(&old) {
                return Err(FilesError::BadInput(format!(
                    "{old_shown} cannot be moved into itself"
                )));
            }
            if sftp.lstat(new_remote.clone()).await.is_ok() {
                return Err(FilesError::Conflict(format!("{new_shown} already exists")));
            }
            sftp.rename(old_remote.clone(), new_remote.clone())
                .await
                .map_err(|e| remote_error(e, &shown))?;
            Ok(())
        }
        .await;
        self.log(operate, shown, None, None, result.is_ok(), at)
            .await;
        result
    }

    /// Removes a file, or an empty directory (needs `delete`; see the module docs on why not
    /// recursively).
    pub async fn remove(&self, path: &str) -> Result<(), FilesError> {
        self.ensure_live()?;
        let rel = resolve(path)?;
        if rel.is_empty() {
            return Err(FilesError::BadInput(
                "The root directory cannot be removed".to_owned(),
            ));
        }
        let shown = display(&rel);
        let sftp = &self.inner.sftp;
        let remote = self.remote(&rel);
        let kind = sftp.lstat(remote.clone()).await;
        let dir = matches!(&kind, Ok(a) if is_dir(&a.attrs));
        let (op, operate) = if dir {
            (Op::Rmdir, "rmdir")
        } else {
            (Op::Remove, "delete")
        };
        self.permit(op, operate, &shown).await?;
        let at = Utc::now();
        let result = async {
            kind.map_err(|e| remote_error(e, &shown))?;
            if !dir {
                return sftp
                    .remove(remote.clone())
                    .await
                    .map(|_| ())
                    .map_err(|e| remote_error(e, &shown));
            }
            match sftp.rmdir(remote.clone()).await {
                Ok(_) => Ok(()),
                Err(RemoteError::Status(s)) if s.status_code == StatusCode::Failure => {
                    // SFTP v3 has no "not empty" status; OpenSSH answers a plain failure.
                    Err(FilesError::Conflict(format!(
                        "The directory {shown} could not be removed: it is not empty (delete its contents first)"
                    )))
                }
                Err(e) => Err(remote_error(e, &shown)),
            }
        }
        .await;
        self.log(operate, shown, None, None, result.is_ok(), at)
            .await;
        result
    }

    // --------------------------------------------------------------------------------------
    // Helpers
    // --------------------------------------------------------------------------------------

    fn ensure_live(&self) -> Result<(), FilesError> {
        match self.ended() {
            None => Ok(()),
            Some(r) => {
                Err(FilesError::Ended(r.message().unwrap_or_else(|| {
                    "The file manager session has ended".to_owned()
                })))
            }
        }
    }

    fn remote(&self, rel: &[String]) -> String {
        remote_path(&self.inner.root, rel)
    }

    /// Checks `op` against the grant; a refusal is logged as a failed `operate`.
    async fn permit(&self, op: Op, operate: &'static str, shown: &str) -> Result<(), FilesError> {
        match ftp::check(self.inner.auth.actions, op) {
            Ok(()) => Ok(()),
            Err(denied) => {
                self.log(operate, shown.to_owned(), None, None, false, Utc::now())
                    .await;
                Err(FilesError::ActionDenied(denied))
            }
        }
    }

    async fn log(
        &self,
        operate: &'static str,
        path: String,
        size: Option<u64>,
        sha256: Option<String>,
        ok: bool,
        at: DateTime<Utc>,
    ) {
        ftp::log_ftp(
            self.inner.engine.store(),
            &self.inner.auth,
            self.session_id(),
            FtpEvent {
                operate,
                path,
                size,
                sha256,
                ok,
                at,
            },
        )
        .await;
    }
}

// ------------------------------------------------------------------------------------------
// Downloads
// ------------------------------------------------------------------------------------------

type ReadTask = JoinHandle<Result<Vec<u8>, RemoteError>>;

/// A file being downloaded: chunks in order from [`Download::next_chunk`]. Logged when the
/// end is reached, when a read fails, or — as failed — when it is dropped before the end.
pub struct Download {
    fs: FileSession,
    /// `None` once the transfer has ended and been logged.
    handle: Option<String>,
    name: String,
    shown: String,
    size: Option<u64>,
    /// The next offset to request.
    next: u64,
    inflight: VecDeque<(u64, ReadTask)>,
    digest: Digest,
    opened: DateTime<Utc>,
}

impl Download {
    /// The file's size when it was opened.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// The file's name (its last path component).
    pub fn file_name(&self) -> &str {
        &self.name
    }

    /// The next chunk; `None` at the end of the file (or after an error was returned).
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, FilesError>> {
        let handle = self.handle.clone()?;
        if let Err(e) = self.fs.ensure_live() {
            self.end(false).await;
            return Some(Err(e));
        }
        self.fill(&handle);
        let Some((offset, task)) = self.inflight.pop_front() else {
            // Everything up to the size seen at open was read.
            self.end(true).await;
            return None;
        };
        let result = match task.await {
            Ok(r) => r,
            Err(_) => Err(RemoteError::UnexpectedBehavior(
                "the read was cancelled".into(),
            )),
        };
        match result {
            Ok(data) if !data.is_empty() => {
                let n = data.len() as u64;
                if n < u64::from(CHUNK) {
                    // A short read: what follows it was asked at the wrong offsets.
                    self.abort_inflight();
                    self.next = offset + n;
                }
                self.digest.feed(offset, &data);
                Some(Ok(data))
            }
            Ok(_) => {
                self.end(true).await;
                None
            }
            Err(RemoteError::Status(s)) if s.status_code == StatusCode::Eof => {
                self.end(true).await;
                None
            }
            Err(e) => {
                self.end(false).await;
                Some(Err(remote_error(e, &self.shown)))
            }
        }
    }

    /// Keeps [`WINDOW`] reads in flight, up to the size seen at open (one read past it finds
    /// the end).
    fn fill(&mut self, handle: &str) {
        while self.inflight.len() < WINDOW && self.size.is_none_or(|s| self.next <= s) {
            let (sftp, h, at) = (
                Arc::clone(&self.fs.inner.sftp),
                handle.to_owned(),
                self.next,
            );
            let task = tokio::spawn(async move { sftp.read(h, at, CHUNK).await.map(|d| d.data) });
            self.inflight.push_back((at, task));
            self.next += u64::from(CHUNK);
        }
    }

    fn abort_inflight(&mut self) {
        for (_, t) in self.inflight.drain(..) {
            t.abort();
        }
    }

    async fn end(&mut self, ok: bool) {
        self.abort_inflight();
        let Some(handle) = self.handle.take() else {
            return;
        };
        let closed = self.fs.inner.sftp.close(handle).await.is_ok();
        let digest = std::mem::take(&mut self.digest);
        let size = digest.total();
        let sha = if ok { digest.finish() } else { None };
        self.fs
            .log(
                "download",
                self.shown.clone(),
                Some(size),
                sha,
                ok && closed,
                self.opened,
            )
            .await;
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        if self.handle.is_none() {
            return;
        }
        // Abandoned before the end (the client went away): log it as failed.
        self.abort_inflight();
        let mut rest = Download {
            fs: self.fs.clone(),
            handle: self.handle.take(),
            name: String::new(),
            shown: std::mem::take(&mut self.shown),
            size: self.size,
            next: self.next,
            inflight: VecDeque::new(),
            digest: std::mem::take(&mut self.digest),
            opened: self.opened,
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { rest.end(false).await });
        }
    }
}

// ------------------------------------------------------------------------------------------
// Uploads
// ------------------------------------------------------------------------------------------

type WriteTask = JoinHandle<Result<(), RemoteError>>;

/// A file being uploaded (see the module docs). Every error ends it: the temporary file is
/// removed and the failure logged; so does dropping it before [`Upload::finish`].
pub struct Upload {
    fs: FileSession,
    /// `None` once the transfer has ended and been logged.
    handle: Option<String>,
    temp: String,
    target: String,
    shown: String,
    expected: u64,
    /// Bytes sent to the asset.
    offset: u64,
    buf: Vec<u8>,
    inflight: VecDeque<WriteTask>,
    digest: Digest,
    opened: DateTime<Utc>,
}

impl Upload {
    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.offset + self.buf.len() as u64
    }

    /// Takes the next piece of the body.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), FilesError> {
        if self.handle.is_none() {
            return Err(FilesError::Target(
                "The upload has already ended".to_owned(),
            ));
        }
        if self.received() + data.len() as u64 > self.expected {
            let e = FilesError::BadInput(format!(
                "The body is longer than the {} bytes announced",
                self.expected
            ));
            return Err(self.fail(e).await);
        }
        self.buf.extend_from_slice(data);
        while self.buf.len() >= CHUNK as usize {
            let rest = self.buf.split_off(CHUNK as usize);
            let chunk = std::mem::replace(&mut self.buf, rest);
            if let Err(e) = self.send(chunk).await {
                return Err(self.fail(e).await);
            }
        }
        Ok(())
    }

    /// Writes what is left, checks every byte arrived, puts the file in place and logs the
    /// upload. Returns the size.
    pub async fn finish(mut self) -> Result<u64, FilesError> {
        let result = self.complete().await;
        match result {
            Ok(size) => Ok(size),
            Err(e) => Err(self.fail(e).await),
        }
    }

    /// Ends the upload without completing it (the body broke off): removes the temporary
    /// file and logs the failure. Returns `e` for the caller.
    pub async fn abort(mut self, e: FilesError) -> FilesError {
        self.fail(e).await
    }

    async fn complete(&mut self) -> Result<u64, FilesError> {
        let Some(handle) = self.handle.clone() else {
            return Err(FilesError::Target(
                "The upload has already ended".to_owned(),
            ));
        };
        self.fs.ensure_live()?;
        let last = std::mem::take(&mut self.buf);
        if !last.is_empty() {
            self.send(last).await?;
        }
        while let Some(t) = self.inflight.pop_front() {
            join_write(t)
                .await
                .map_err(|e| remote_error(e, &self.shown))?;
        }
        if self.offset != self.expected {
            return Err(FilesError::BadInput(format!(
                "The upload ended after {} of the {} bytes announced",
                self.offset, self.expected
            )));
        }
        let sftp = Arc::clone(&self.fs.inner.sftp);
        sftp.close(handle)
            .await
            .map_err(|e| remote_error(e, &self.shown))?;
        self.handle = None;
        if let Err(e) = replace(&sftp, &self.temp, &self.target).await {
            let _ = sftp.remove(self.temp.clone()).await;
            let e = remote_error(e, &self.shown);
            self.log(false).await;
            return Err(e);
        }
        self.log(true).await;
        Ok(self.offset)
    }

    /// Sends one chunk, waiting while [`WINDOW`] writes are in flight.
    async fn send(&mut self, chunk: Vec<u8>) -> Result<(), FilesError> {
        let Some(handle) = self.handle.clone() else {
            return Err(FilesError::Target(
                "The upload has already ended".to_owned(),
            ));
        };
        while self.inflight.len() >= WINDOW {
            if let Some(t) = self.inflight.pop_front() {
                join_write(t)
                    .await
                    .map_err(|e| remote_error(e, &self.shown))?;
            }
        }
        self.fs.ensure_live()?;
        let at = self.offset;
        self.digest.feed(at, &chunk);
        self.offset += chunk.len() as u64;
        let sftp = Arc::clone(&self.fs.inner.sftp);
        self.inflight.push_back(tokio::spawn(async move {
            sftp.write(handle, at, chunk).await.map(|_| ())
        }));
        Ok(())
    }

    /// Ends a failed upload: stops the writes, closes and removes the temporary file, logs
    /// the failure. Returns `e` for the caller.
    async fn fail(&mut self, e: FilesError) -> FilesError {
        for t in self.inflight.drain(..) {
            t.abort();
        }
        let sftp = Arc::clone(&self.fs.inner.sftp);
        if let Some(h) = self.handle.take() {
            let _ = sftp.close(h).await;
            let _ = sftp.remove(self.temp.clone()).await;
            self.log(false).await;
        }
        e
    }

    async fn log(&mut self, ok: bool) {
        let digest = std::mem::take(&mut self.digest);
        let size = digest.total();
        let sha = if ok { digest.finish() } else { None };
        self.fs
            .log(
                "upload",
                self.shown.clone(),
                Some(size),
                sha,
                ok,
                self.opened,
            )
            .await;
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.handle.is_none() {
            return;
        }
        // Abandoned mid-body (the client went away): remove the partial file, log it.
        for t in self.inflight.drain(..) {
            t.abort();
        }
        let mut rest = Upload {
            fs: self.fs.clone(),
            handle: self.handle.take(),
            temp: std::mem::take(&mut self.temp),
            target: String::new(),
            shown: std::mem::take(&mut self.shown),
            expected: self.expected,
            offset: self.offset,
            buf: Vec::new(),
            inflight: VecDeque::new(),
            digest: std::mem::take(&mut self.digest),
            opened: self.opened,
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = rest
                    .fail(FilesError::Target("The upload was interrupted".to_owned()))
                    .await;
            });
        }
    }
}

async fn join_write(t: WriteTask) -> Result<(), RemoteError> {
    match t.await {
        Ok(r) => r,
        Err(_) => Err(RemoteError::UnexpectedBehavior(
            "the write was cancelled".into(),
        )),
    }
}

/// Moves the finished temporary file over the target: atomically with OpenSSH's
/// `posix-rename@openssh.com`; otherwise (servers without it) by removing the target first,
/// since a plain SFTP rename refuses an existing name.
async fn replace(sftp: &RawSftpSession, temp: &str, target: &str) -> Result<(), RemoteError> {
    let mut data = Vec::with_capacity(8 + temp.len() + target.len());
    for s in [temp, target] {
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        data.extend_from_slice(&len.to_be_bytes());
        data.extend_from_slice(s.as_bytes());
    }
    match sftp.extended("posix-rename@openssh.com", data).await {
        Ok(Packet::Status(s)) if s.status_code == StatusCode::Ok => return Ok(()),
        Ok(Packet::Status(s)) if s.status_code != StatusCode::OpUnsupported => {
            return Err(RemoteError::Status(s));
        }
        Ok(_) | Err(RemoteError::Status(_)) => {}
        Err(e) => return Err(e),
    }
    if sftp.lstat(target.to_owned()).await.is_ok() {
        sftp.remove(target.to_owned()).await?;
    }
    sftp.rename(temp.to_owned(), target.to_owned()).await?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Pure rules
// ------------------------------------------------------------------------------------------

/// The components of a path the user gave, refusing what SFTP cannot carry.
fn resolve(path: &str) -> Result<Vec<String>, FilesError> {
    if path.contains('\0') {
        return Err(FilesError::BadInput(
            "The path contains a NUL byte".to_owned(),
        ));
    }
    if path.len() > MAX_PATH {
        return Err(FilesError::BadInput(format!(
            "The path is longer than {MAX_PATH} bytes"
        )));
    }
    Ok(components(path))
}

/// A new file or directory name: one component, no control characters.
fn check_name(name: &str) -> Result<(), FilesError> {
    let bad = |why: &str| {
        Err(FilesError::BadInput(format!(
            "Invalid name {name:?}: {why}"
        )))
    };
    if name.is_empty() || name == "." || name == ".." {
        return bad("a name is required");
    }
    if name.contains('/') {
        return bad("it must not contain '/'");
    }
    if name.chars().any(char::is_control) {
        return bad("it must not contain control characters");
    }
    if name.len() > MAX_NAME {
        return bad("it is too long");
    }
    Ok(())
}

fn too_large(length: u64, max: u64) -> String {
    format!("The file is too large: {length} bytes, and uploads are limited to {max} bytes")
}

/// The file type bits of `st_mode` (`S_IFMT`).
const S_IFMT: u32 = 0o170_000;

/// A directory, by the type bits alone (the library's test also matches block devices and
/// sockets, whose bits include the directory bit).
fn is_dir(a: &FileAttributes) -> bool {
    a.permissions.unwrap_or(0) & S_IFMT == 0o040_000
}

/// A symbolic link.
fn is_link(a: &FileAttributes) -> bool {
    a.permissions.unwrap_or(0) & S_IFMT == 0o120_000
}

fn mtime(a: &FileAttributes) -> Option<DateTime<Utc>> {
    a.mtime
        .and_then(|t| DateTime::<Utc>::from_timestamp(i64::from(t), 0))
}

fn entry(rel: &[String], a: &FileAttributes) -> Entry {
    Entry {
        name: rel.last().cloned().unwrap_or_else(|| "/".to_owned()),
        path: display(rel),
        is_dir: is_dir(a),
        size: a.size.unwrap_or(0),
        mode: a.permissions.unwrap_or(0),
        mtime: mtime(a),
    }
}

/// An error from the asset's SFTP server, in words for the user.
fn remote_error(e: RemoteError, shown: &str) -> FilesError {
    match e {
        RemoteError::Status(s) => match s.status_code {
            StatusCode::NoSuchFile => {
                FilesError::NotFound(format!("No such file or directory: {shown}"))
            }
            StatusCode::PermissionDenied => FilesError::AssetDenied(format!(
                "The asset refused access to {shown}: permission denied by the asset's file permissions"
            )),
            StatusCode::NoConnection | StatusCode::ConnectionLost => {
                FilesError::Target("The connection to the asset was lost".to_owned())
            }
            _ => {
                let why = if s.error_message.trim().is_empty() {
                    format!("{:?}", s.status_code)
                } else {
                    s.error_message
                };
                FilesError::Target(format!(
                    "The asset could not complete the operation on {shown}: {why}"
                ))
            }
        },
        RemoteError::Timeout => {
            FilesError::Target("The asset's SFTP server did not answer in time".to_owned())
        }
        RemoteError::Limited(m) => {
            FilesError::Target(format!("The asset's SFTP server refused the request: {m}"))
        }
        RemoteError::IO(_) | RemoteError::UnexpectedBehavior(_) | RemoteError::UnexpectedPacket => {
            FilesError::Target("The connection to the asset was lost".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh_sftp::protocol::Status;

    #[test]
    fn paths_with_nul_or_too_long_are_refused() {
        assert!(matches!(resolve("/a\0b"), Err(FilesError::BadInput(_))));
        assert!(matches!(
            resolve(&"a/".repeat(MAX_PATH)),
            Err(FilesError::BadInput(_))
        ));
        assert_eq!(resolve("/a/../../b").unwrap(), ["b"]);
        assert!(resolve("").unwrap().is_empty());
    }

    #[test]
    fn new_names_are_single_plain_components() {
        for ok in ["report.pdf", "a b", "ünï", ".hidden", "x..y"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\nb",
            "a\u{1b}[31m",
            &"x".repeat(256),
        ] {
            assert!(
                matches!(check_name(bad), Err(FilesError::BadInput(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn remote_errors_become_sentences() {
        let status = |code| {
            RemoteError::Status(Status {
                id: 1,
                status_code: code,
                error_message: "Failure".into(),
                language_tag: "en".into(),
            })
        };
        assert!(matches!(
            remote_error(status(StatusCode::NoSuchFile), "/x"),
            FilesError::NotFound(m) if m.contains("/x")
        ));
        assert!(matches!(
            remote_error(status(StatusCode::PermissionDenied), "/x"),
            FilesError::AssetDenied(_)
        ));
        assert!(matches!(
            remote_error(status(StatusCode::Failure), "/x"),
            FilesError::Target(m) if m.contains("/x") && m.contains("Failure")
        ));
        assert!(matches!(
            remote_error(RemoteError::Timeout, "/x"),
            FilesError::Target(m) if m.contains("in time")
        ));
        assert!(matches!(
            remote_error(RemoteError::IO("broken pipe".into()), "/x"),
            FilesError::Target(m) if m.contains("lost")
        ));
    }

    #[test]
    fn entries_carry_type_size_mode_and_time() {
        let mut a = FileAttributes::empty();
        a.size = Some(42);
        a.permissions = Some(0o100_644);
        a.mtime = Some(1_700_000_000);
        let e = entry(&["d".into(), "f.txt".into()], &a);
        assert_eq!(e.name, "f.txt");
        assert_eq!(e.path, "/d/f.txt");
        assert!(!e.is_dir);
        assert_eq!((e.size, e.mode), (42, 0o100_644));
        assert_eq!(e.mtime.unwrap().timestamp(), 1_700_000_000);
        let mut sock = FileAttributes::empty();
        sock.permissions = Some(0o140_755);
        assert!(!is_dir(&sock) && !is_link(&sock));
        sock.permissions = Some(0o040_755);
        assert!(is_dir(&sock));
        let root = entry(&[], &FileAttributes::empty());
        assert_eq!((root.name.as_str(), root.path.as_str()), ("/", "/"));
    }
}
