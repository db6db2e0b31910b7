//! The `sftp` subsystem: a virtual tree of the user's permitted assets, with each asset's real
//! filesystem proxied to the asset's own SFTP server.
//!
//! # The tree (reference §5.8)
//!
//! ```text
//! /                          top-level nodes of the user's permitted tree
//! /Default/                  child nodes, then the permitted assets that have the sftp protocol
//! /Default/web-1/            one directory per permitted account (by account name) …
//! /Default/web-1/root/…      … below which is the asset's filesystem, rooted at `sftp_home`
//! ```
//!
//! - With exactly one usable account the account level is skipped: the asset directory is the
//!   remote root. Virtual accounts (`@INPUT`, `@USER`, `@ANON`) are not offered, since SFTP
//!   has nowhere to type a password; accounts without the `connect` action are not offered.
//! - Names: `/` becomes `_` (and control characters too, so a name cannot drive a terminal),
//!   `.`/`..`/empty get a `_` prefix, and later duplicates get `_` suffixes until unique.
//!   A directory's listing is kept for the SFTP session once read, so names stay stable
//!   while the user works in it (re-listing the directory refreshes it).
//! - Assets that belong to no node are not reachable through the tree (JumpServer puts every
//!   asset in a node); they stay reachable with direct SFTP.
//! - Direct SFTP (`user@account@asset` or a connection token): the root *is* that asset and
//!   account's remote root.
//!
//! # Remote side
//!
//! The first time a path reaches an (asset, account) pair, the connection is opened by the
//! sequence the web file manager uses too ([`open_target_sftp`]): decided by the session
//! engine ([`authorize`](portcullis_session::authorize::authorize) with protocol `sftp`),
//! made with the engine's SSH client, and the asset's `sftp` subsystem is opened on it. The
//! connection, its session row (`type` sftp) and the remote root live until the SFTP channel
//! closes. The remote root is the platform's `sftp_home` (`home`, `~` or empty: the account's
//! home; `${ACCOUNT}`, `${USER}` and `${HOME}` substituted; a relative setting is taken from
//! the home).
//!
//! Requests are proxied one for one: a read or write of at most [`MAX_IO`] bytes becomes one
//! remote read or write. The server loop of `russh-sftp` handles one request at a time, so
//! that a transfer is not held to one request per round trip to the asset, reads are
//! requested ahead of the client ([`ReadAhead`]) and writes are answered before the asset has
//! (`write_behind`: its failure then surfaces at the next write or at the close), each
//! bounded per open file, so memory stays bounded whatever the file size. Remote failures
//! come back as the remote's own status and message; local failures as `Failure` with a
//! message.
//!
//! # Permissions (the grant's actions for that account)
//!
//! | request | needs |
//! |---|---|
//! | open for reading | `download` |
//! | open for writing, creating, truncating or appending | `upload` |
//! | mkdir, setstat/fsetstat, symlink | `upload` |
//! | remove, rmdir | `delete` |
//! | rename | `upload` and `delete`: it creates the new name and removes the old one |
//!
//! Anything that would write at a virtual level (the root, a node, an asset with several
//! accounts) is refused with `PermissionDenied`.
//!
//! # Audit
//!
//! Each operation on an asset is written to the FTP log (`mkdir`, `rmdir`, `delete`,
//! `upload`, `rename`, `rename_dir`, `symlink`, `download`) with the path as the user sees it
//! below the asset (`/` is the remote root), linked to the session; refused and failed
//! operations have `is_success` false. Transfers are logged when their handle is closed (or
//! when the channel ends with the handle still open, as failed), with the byte count and the
//! SHA-256 of the content that passed. The digest is computed incrementally: data arriving
//! at the next expected offset is hashed at once; data ahead of it is held (up to
//! [`ftp::PENDING_LIMIT`] bytes) until the gap is filled, which covers clients that pipeline and
//! retry short reads. A transfer that overlaps itself, leaves gaps or outruns that buffer has
//! no digest: the hash then would not describe the file, so none is given.
//! Operations that never reach an asset (refused at a virtual level, or the asset refused)
//! are not logged: the log row needs the asset's org, and no session exists.
//!
//! # Ending
//!
//! Each session ends normally when the SFTP channel closes. An administrator's kill, the
//! permission's expiry or the maximum session time end it at once (its connection is then
//! refused for the rest of the SFTP session); idle time is not applied to SFTP.

use crate::connect::{ConnCtx, DirectTarget, direct_target, resolve_asset};
use crate::server::Shared;
use chrono::{DateTime, Utc};
use portcullis_core::perm::Actions;
use portcullis_session::authorize::{
    AccountRef, Authorized, ConnectRequest, LoginFrom, Requester, TargetTimeouts,
};
use portcullis_session::ftp::{
    self, Digest, Op, OpenSftpError, OpenedSftp, WatchedSession, components, display,
    open_target_sftp, remote_path,
};
use portcullis_session::live::EndReason;
use portcullis_session::target::TargetConnection;
use portcullis_store::perms::{AssetScope, PermittedNodeRow};
use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelWriteHalf};
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as RemoteError;
use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Packet, Status, StatusCode, Version,
};
use russh_sftp::server::{Handler, StatusReply};
use std::collections::HashMap;
use std::sync::Arc;
use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use write_behind::WriteBehind;

mod write_behind;
use uuid::Uuid;

/// The largest read or write proxied in one request (clients ask for 32–256 KiB).
const MAX_IO: u32 = 256 * 1024;
/// Bytes in flight between the client's channel and the SFTP server.
const PIPE_BYTES: usize = 512 * 1024;
/// Open handles per SFTP session.
const HANDLE_LIMIT: usize = 512;
/// Entries per `readdir` answer for a virtual directory (keeps packets small).
const READDIR_BATCH: usize = 200;
/// Assets loaded per store page when listing a node.
const PAGE: i64 = 500;

// ------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------

/// Why a request failed; becomes the SFTP status the client sees.
#[derive(Debug, Error)]
enum SftpError {
    /// Refused by the grant or by the tree.
    #[error("{0}")]
    Denied(String),
    /// No such virtual entry.
    #[error("{0}")]
    NotFound(String),
    /// A local failure.
    #[error("{0}")]
    Failure(String),
    /// End of file or of a directory listing.
    #[error("end of file")]
    Eof,
    /// Not supported by the gateway.
    #[error("{0}")]
    Unsupported(String),
    /// The asset's SFTP server answered with this status.
    #[error("{}", .0.error_message)]
    Remote(Status),
}

impl From<SftpError> for StatusReply {
    fn from(e: SftpError) -> StatusReply {
        let (code, message) = match e {
            SftpError::Denied(m) => (StatusCode::PermissionDenied, m),
            SftpError::NotFound(m) => (StatusCode::NoSuchFile, m),
            SftpError::Failure(m) => (StatusCode::Failure, m),
            SftpError::Eof => (StatusCode::Eof, "End of file".to_owned()),
            SftpError::Unsupported(m) => (StatusCode::OpUnsupported, m),
            SftpError::Remote(s) => {
                // Servers must not send the client-side pseudo codes; keep the message.
                let code = match s.status_code {
                    StatusCode::NoConnection | StatusCode::ConnectionLost => StatusCode::Failure,
                    c => c,
                };
                (code, s.error_message)
            }
        };
        StatusReply::new(code).with_message(message)
    }
}

impl From<RemoteError> for SftpError {
    fn from(e: RemoteError) -> SftpError {
        match e {
            RemoteError::Status(s) if s.status_code == StatusCode::Eof => SftpError::Eof,
            RemoteError::Status(s) => SftpError::Remote(s),
            RemoteError::Timeout => {
                SftpError::Failure("The asset's SFTP server did not answer in time".to_owned())
            }
            other => SftpError::Failure(format!("The asset's SFTP server failed: {other}")),
        }
    }
}

fn denied_virtual() -> SftpError {
    SftpError::Denied(
        "Permission denied: this is a virtual directory; choose an asset (and account) first"
            .to_owned(),
    )
}

// ------------------------------------------------------------------------------------------
// Pure rules: paths, names, permissions, digests
// ------------------------------------------------------------------------------------------

/// A tree name as a single path component: `/` and control characters become `_`; empty,
/// `.` and `..` get a `_` prefix (they would otherwise mean something else in a path).
fn clean_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        format!("_{s}")
    } else {
        s
    }
}

/// Cleans names and makes them unique in order: a later duplicate gets `_` suffixes until
/// it differs from every name given so far.
fn unique_names<I: IntoIterator<Item = String>>(names: I) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for n in names {
        let mut name = clean_name(&n);
        while !seen.insert(name.clone()) {
            name.push('_');
        }
        out.push(name);
    }
    out
}

/// Whether `actions` allow `op` (the shared rule), as the SFTP status the client sees.
fn check(actions: Actions, op: Op) -> Result<(), SftpError> {
    ftp::check(actions, op).map_err(|d| SftpError::Denied(d.to_string()))
}

/// Whether open flags write to the file.
fn writes(flags: OpenFlags) -> bool {
    flags.intersects(OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE | OpenFlags::TRUNCATE)
}

// ------------------------------------------------------------------------------------------
// The virtual tree
// ------------------------------------------------------------------------------------------

/// One (asset, account) pair, or the direct target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum TargetKey {
    Direct,
    Account { asset: Uuid, alias: String },
}

/// A virtual directory.
#[derive(Debug, Clone)]
enum VDir {
    Root,
    Node(PermittedNodeRow),
    Asset(Uuid),
}

/// An entry of a virtual directory.
#[derive(Debug, Clone)]
enum VEntry {
    Node(PermittedNodeRow),
    Asset(Uuid),
    Account { asset: Uuid, alias: String },
}

/// Where a path leads.
#[derive(Debug, Clone)]
enum Place {
    Virtual(VDir),
    Remote { key: TargetKey, rel: Vec<String> },
}

fn dir_attrs() -> FileAttributes {
    FileAttributes {
        size: Some(0),
        uid: Some(0),
        gid: Some(0),
        permissions: Some(0o040_555),
        atime: Some(0),
        mtime: Some(0),
        ..FileAttributes::default()
    }
}

// ------------------------------------------------------------------------------------------
// Connections to assets
// ------------------------------------------------------------------------------------------

/// A live connection to one asset as one account.
struct Target {
    auth: Authorized,
    /// Shared with the read-ahead requests of open downloads.
    sftp: Arc<RawSftpSession>,
    conn: TargetConnection,
    root: String,
    /// The session row, ended on a kill or a deadline by its watcher.
    session: WatchedSession,
}

impl Target {
    fn ended(&self) -> Option<EndReason> {
        self.session.ended()
    }

    fn path(&self, rel: &[String]) -> String {
        remote_path(&self.root, rel)
    }

    /// Ends the session normally (unless the watcher already ended it) and disconnects.
    async fn close(self) {
        self.session.end(&EndReason::Normal).await;
        let _ = self.sftp.close_session();
        self.conn.close().await;
    }
}

/// What every request needs to know about the user.
struct Env {
    shared: Arc<Shared>,
    requester: Requester,
    timeouts: TargetTimeouts,
    /// Direct SFTP: the connect request, or why it cannot be made.
    direct: Option<Result<ConnectRequest, String>>,
}

/// The connections of one SFTP session.
#[derive(Default)]
struct Targets {
    live: HashMap<TargetKey, Target>,
    /// Targets whose session was ended (kill, expiry): refused from then on, with the reason.
    dead: HashMap<TargetKey, String>,
}

impl Targets {
    /// The connection for `key`, made on first use.
    async fn get(&mut self, env: &Env, key: &TargetKey) -> Result<&Target, SftpError> {
        if let Some(msg) = self.dead.get(key) {
            return Err(SftpError::Failure(msg.clone()));
        }
        if let Some(reason) = self.live.get(key).and_then(Target::ended) {
            let msg = reason
                .message()
                .unwrap_or_else(|| "The session has ended".to_owned());
            if let Some(t) = self.live.remove(key) {
                t.close().await;
            }
            self.dead.insert(key.clone(), msg.clone());
            return Err(SftpError::Failure(msg));
        }
        if !self.live.contains_key(key) {
            let t = connect_target(env, key).await?;
            self.live.insert(key.clone(), t);
        }
        self.live
            .get(key)
            .ok_or_else(|| SftpError::Failure("The connection to the asset is gone".to_owned()))
    }
}

/// Authorizes, connects, opens the asset's SFTP subsystem and starts the session.
async fn connect_target(env: &Env, key: &TargetKey) -> Result<Target, SftpError> {
    let req = match key {
        TargetKey::Direct => match &env.direct {
            Some(Ok(r)) => r.clone(),
            Some(Err(msg)) => return Err(SftpError::Denied(msg.clone())),
            None => return Err(denied_virtual()),
        },
        TargetKey::Account { asset, alias } => ConnectRequest {
            asset_id: *asset,
            protocol: "sftp".into(),
            account: AccountRef::Alias(alias.clone()),
            input: Default::default(),
        },
    };
    let max_duration = env.shared.limits().await.max_duration;
    let opened = open_target_sftp(
        &env.shared.engine,
        &env.requester,
        &req,
        env.timeouts,
        max_duration,
    )
    .await
    .map_err(|e| match e {
        OpenSftpError::Refused(d) => SftpError::Denied(d.to_string()),
        OpenSftpError::Target(message) => SftpError::Failure(message),
        e @ OpenSftpError::NotRecorded => SftpError::Failure(e.to_string()),
    })?;
    let OpenedSftp {
        auth,
        sftp,
        conn,
        root,
        session,
    } = opened;
    Ok(Target {
        auth,
        sftp: Arc::new(sftp),
        conn,
        root,
        session,
    })
}

// ------------------------------------------------------------------------------------------
// Handles and the FTP log
// ------------------------------------------------------------------------------------------

/// An open file on an asset.
struct FileHandle {
    key: TargetKey,
    remote: String,
    /// The path as the user sees it below the asset.
    path: String,
    read: bool,
    write: bool,
    down: Digest,
    up: Digest,
    /// A write failed on the asset.
    write_failed: bool,
    opened: DateTime<Utc>,
    /// Reads sent to the asset ahead of the client's, by offset (see [`ReadAhead`]).
    ahead: ReadAhead,
    /// Writes sent to the asset and not answered yet (see `write_behind`).
    behind: WriteBehind,
}

/// Read-ahead for downloads. The SFTP server loop answers one request at a time, so without
/// it each of the client's pipelined reads would wait a round trip to the asset; instead,
/// after a full read at offset `o` of length `n`, the reads at `o + n`, `o + 2n`, … are sent
/// to the asset at once and answered from there when the client asks. Bounded to
/// [`READ_AHEAD_BYTES`] per open file; a read elsewhere (a seek) drops the window.
#[derive(Default)]
struct ReadAhead {
    pending: std::collections::BTreeMap<u64, (u32, ReadTask)>,
}

type ReadTask = tokio::task::JoinHandle<Result<Vec<u8>, RemoteError>>;

/// Bytes one open file may have requested ahead of the client.
const READ_AHEAD_BYTES: u64 = 2 * 1024 * 1024;

impl ReadAhead {
    /// The read at `offset` of `len` bytes: from the window when it was requested ahead,
    /// else from the asset now; then the window is moved on past it.
    async fn read(
        &mut self,
        sftp: &Arc<RawSftpSession>,
        remote: &str,
        offset: u64,
        len: u32,
    ) -> Result<Vec<u8>, RemoteError> {
        let ahead = match self.pending.remove(&offset) {
            Some((l, task)) if l == len => Some(task),
            Some((_, task)) => {
                task.abort();
                None
            }
            None => None,
        };
        if ahead.is_none() {
            // Not the sequential continuation: forget the window.
            self.clear();
        }
        let data = match ahead {
            Some(task) => match task.await {
                Ok(r) => r?,
                Err(_) => sftp.read(remote, offset, len).await?.data,
            },
            None => sftp.read(remote, offset, len).await?.data,
        };
        if data.len() == len as usize && len > 0 {
            let step = u64::from(len);
            let window = (READ_AHEAD_BYTES / step).clamp(1, 64);
            for k in 1..=window {
                let at = offset + k * step;
                if self.pending.contains_key(&at) {
                    continue;
                }
                let (s, r) = (Arc::clone(sftp), remote.to_owned());
                let task = tokio::spawn(async move { s.read(r, at, len).await.map(|d| d.data) });
                self.pending.insert(at, (len, task));
            }
        } else {
            // End of file (or a short read): nothing further to fetch.
            self.clear();
        }
        Ok(data)
    }

    fn clear(&mut self) {
        for (_, (_, task)) in std::mem::take(&mut self.pending) {
            task.abort();
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.clear();
    }
}

enum OpenHandle {
    VirtualDir { entries: Vec<File> },
    RemoteDir { key: TargetKey, remote: String },
    RemoteFile(Box<FileHandle>),
}

/// One FTP log row to write.
struct FtpEvent<'a> {
    operate: &'static str,
    path: String,
    size: Option<u64>,
    sha256: Option<String>,
    ok: bool,
    at: DateTime<Utc>,
    target: &'a Target,
}

async fn log_ftp(shared: &Shared, e: FtpEvent<'_>) {
    let t = e.target;
    let row = ftp::FtpEvent {
        operate: e.operate,
        path: e.path,
        size: e.size,
        sha256: e.sha256,
        ok: e.ok,
        at: e.at,
    };
    ftp::log_ftp(shared.engine.store(), &t.auth, t.session.id(), row).await;
}

// ------------------------------------------------------------------------------------------
// The server
// ------------------------------------------------------------------------------------------

/// What is left when the client goes: open handles and connections, closed by [`serve`].
struct Leftovers {
    shared: Arc<Shared>,
    targets: Targets,
    handles: HashMap<String, OpenHandle>,
}

/// The SFTP server of one channel.
struct SftpServer {
    env: Env,
    targets: Targets,
    handles: HashMap<String, OpenHandle>,
    next_handle: u64,
    /// Virtual directory listings by path, kept so names stay stable.
    listings: HashMap<Vec<String>, Arc<Vec<(String, VEntry)>>>,
    /// Usable accounts per asset: `(name, alias)`.
    accounts: HashMap<Uuid, Arc<Vec<(String, String)>>>,
    done: Option<oneshot::Sender<Leftovers>>,
}

impl Drop for SftpServer {
    fn drop(&mut self) {
        if let Some(tx) = self.done.take() {
            let _ = tx.send(Leftovers {
                shared: Arc::clone(&self.env.shared),
                targets: std::mem::take(&mut self.targets),
                handles: std::mem::take(&mut self.handles),
            });
        }
    }
}

impl Leftovers {
    /// Logs transfers cut off by the disconnect, then ends every session and connection.
    async fn finish(mut self) {
        for (_, h) in self.handles.drain() {
            if let OpenHandle::RemoteFile(mut f) = h
                && let Some(t) = self.targets.live.get(&f.key)
            {
                f.write_failed |= f.behind.flush().await.is_err();
                let _ = t.sftp.close(f.remote.clone()).await;
                log_transfer(&self.shared, t, *f, false).await;
            }
        }
        for (_, t) in self.targets.live.drain() {
            t.close().await;
        }
    }
}

/// Logs the directions a file handle was used in.
async fn log_transfer(shared: &Shared, t: &Target, f: FileHandle, closed_ok: bool) {
    let read_bytes = f.down.total();
    if f.write {
        let ok = closed_ok && !f.write_failed;
        let size = f.up.total();
        log_ftp(
            shared,
            FtpEvent {
                operate: "upload",
                path: f.path.clone(),
                size: Some(size),
                sha256: f.up.finish(),
                ok,
                at: f.opened,
                target: t,
            },
        )
        .await;
    }
    if f.read && (!f.write || read_bytes > 0) {
        log_ftp(
            shared,
            FtpEvent {
                operate: "download",
                path: f.path,
                size: Some(read_bytes),
                sha256: f.down.finish(),
                ok: closed_ok,
                at: f.opened,
                target: t,
            },
        )
        .await;
    }
}

/// Serves SFTP on `channel` until the client closes it, then ends the sessions it opened.
pub(crate) async fn serve(ctx: &ConnCtx, channel: Channel<Msg>) {
    let direct = match direct_target(ctx) {
        Some(t) => Some(direct_request(ctx, t).await),
        None => None,
    };
    let (done, finished) = oneshot::channel();
    let server = SftpServer {
        env: Env {
            shared: Arc::clone(&ctx.shared),
            requester: requester(ctx),
            timeouts: TargetTimeouts {
                connect: ctx.shared.config.connect_timeout,
                ..TargetTimeouts::default()
            },
            direct,
        },
        targets: Targets::default(),
        handles: HashMap::new(),
        next_handle: 0,
        listings: HashMap::new(),
        accounts: HashMap::new(),
        done: Some(done),
    };
    // The SFTP server runs over one end of an in-memory pipe; the channel is pumped to and
    // from the other end here, so the channel's write half stays ours for the exit status
    // that clients wait for (`scp` fails without it). The pipe bounds what is in flight.
    let (mut read_half, write_half) = channel.split();
    let (ours, theirs) = tokio::io::duplex(PIPE_BYTES);
    let (mut from_sftp, mut to_sftp) = tokio::io::split(ours);
    russh_sftp::server::run(theirs, server).await;
    let inbound = tokio::spawn(async move {
        while let Some(msg) = read_half.wait().await {
            let data = match msg {
                ChannelMsg::Data { data } => data,
                ChannelMsg::Eof | ChannelMsg::Close => break,
                _ => continue,
            };
            if to_sftp.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = to_sftp.shutdown().await;
    });
    outbound(&mut from_sftp, &write_half).await;
    inbound.abort();
    // The server has ended (its end of the pipe is gone): close the sessions first, so
    // they are finished by the time the client sees the end.
    if let Ok(left) = finished.await {
        left.finish().await;
    }
    let _ = write_half.exit_status(0).await;
    let _ = write_half.eof().await;
    let _ = write_half.close().await;
}

/// The most read from the SFTP server's end of the pipe at once for the client's channel.
const OUT_CHUNK: usize = 256 * 1024;

/// Moves the SFTP server's answers to the client's channel until the server ends. Whatever
/// the pipe holds is read at once (up to [`OUT_CHUNK`]) and handed to the channel as one
/// shared buffer, which the SSH session cuts into the client's largest packets without a
/// copy. (`tokio::io::copy` into the channel's writer moved 8 KiB per write, so a 32 KiB
/// read answer became four SSH packets, each encrypted, queued and sent on its own: twice
/// the packets per download.) Each send waits for the client's window, so a client that
/// stops reading stops the server through the bounded pipe.
async fn outbound<R: tokio::io::AsyncRead + Unpin>(from_sftp: &mut R, to: &ChannelWriteHalf<Msg>) {
    use tokio::io::AsyncReadExt;
    let mut buf = bytes::BytesMut::new();
    loop {
        // A fresh buffer once the current one is mostly handed out: the chunks sent before
        // still share it until the session has encrypted them.
        if buf.capacity() < OUT_CHUNK / 4 {
            buf = bytes::BytesMut::with_capacity(OUT_CHUNK);
        }
        match from_sftp.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if to.data_bytes(buf.split().freeze()).await.is_err() {
            break;
        }
    }
}

/// The user as the connect decision sees them (as the terminal paths build it).
fn requester(ctx: &ConnCtx) -> Requester {
    Requester {
        user_id: ctx.user.id,
        username: ctx.user.username.clone(),
        name: ctx.user.name.clone(),
        remote_addr: ctx.peer.ip(),
        login_from: LoginFrom::SshTerminal,
    }
}

/// The connect request of a direct SFTP login (always protocol `sftp`, whatever the name
/// spelled), or why there is none.
async fn direct_request(ctx: &ConnCtx, t: DirectTarget) -> Result<ConnectRequest, String> {
    let asset_id = match Uuid::parse_str(&t.asset) {
        Ok(id) if ctx.user.token.is_some() => id,
        _ => resolve_asset(ctx, &t.asset).await?,
    };
    Ok(ConnectRequest {
        asset_id,
        protocol: "sftp".into(),
        account: t.account,
        input: t.input,
    })
}

impl SftpServer {
    fn store(&self) -> &portcullis_store::Store {
        self.env.shared.engine.store()
    }

    fn user_id(&self) -> Uuid {
        self.env.requester.user_id
    }

    fn new_handle(&mut self, h: OpenHandle) -> Result<String, SftpError> {
        if self.handles.len() >= HANDLE_LIMIT {
            return Err(SftpError::Failure(format!(
                "Too many open files (at most {HANDLE_LIMIT})"
            )));
        }
        self.next_handle += 1;
        let id = self.next_handle.to_string();
        self.handles.insert(id.clone(), h);
        Ok(id)
    }

    /// The usable accounts of an asset: real accounts with `connect`, when sftp is granted.
    async fn asset_accounts(
        &mut self,
        asset: Uuid,
    ) -> Result<Arc<Vec<(String, String)>>, SftpError> {
        if let Some(a) = self.accounts.get(&asset) {
            return Ok(Arc::clone(a));
        }
        let grant = self
            .store()
            .user_asset_grant(self.user_id(), asset)
            .await
            .map_err(store_failure)?;
        let list: Vec<(String, String)> = match grant {
            Some(g) if g.protocol("sftp").is_some() => g
                .accounts
                .iter()
                .filter(|a| a.virtual_kind.is_none() && a.actions.contains(Actions::CONNECT))
                .map(|a| (a.name.clone(), a.alias.clone()))
                .collect(),
            _ => Vec::new(),
        };
        let names = unique_names(list.iter().map(|(n, _)| n.clone()));
        let list = Arc::new(
            names
                .into_iter()
                .zip(list)
                .map(|(n, (_, alias))| (n, alias))
                .collect::<Vec<_>>(),
        );
        self.accounts.insert(asset, Arc::clone(&list));
        Ok(list)
    }

    /// The entries of a virtual directory, from the cache unless `fresh`.
    async fn listing(
        &mut self,
        path: &[String],
        dir: &VDir,
        fresh: bool,
    ) -> Result<Arc<Vec<(String, VEntry)>>, SftpError> {
        if !fresh && let Some(l) = self.listings.get(path) {
            return Ok(Arc::clone(l));
        }
        let user = self.user_id();
        let mut raw: Vec<(String, VEntry)> = Vec::new();
        match dir {
            VDir::Root => {
                for n in self
                    .store()
                    .user_permitted_children(user, None, None)
                    .await
                    .map_err(store_failure)?
                {
                    raw.push((n.value.clone(), VEntry::Node(n)));
                }
            }
            VDir::Node(node) => {
                for n in self
                    .store()
                    .user_permitted_children(user, None, Some(node))
                    .await
                    .map_err(store_failure)?
                {
                    raw.push((n.value.clone(), VEntry::Node(n)));
                }
                let mut offset = 0;
                loop {
                    let page = self
                        .store()
                        .user_permitted_assets_in(
                            user,
                            None,
                            &AssetScope::InNode(node.id),
                            offset,
                            PAGE,
                        )
                        .await
                        .map_err(store_failure)?;
                    let got = i64::try_from(page.assets.len()).unwrap_or(PAGE);
                    for a in page.assets {
                        if a.is_active && a.protocols.iter().any(|p| p == "sftp") {
                            raw.push((a.name.clone(), VEntry::Asset(a.id)));
                        }
                    }
                    offset += got;
                    if got < PAGE || offset >= page.count {
                        break;
                    }
                }
            }
            VDir::Asset(asset) => {
                for (name, alias) in self.asset_accounts(*asset).await?.iter() {
                    raw.push((
                        name.clone(),
                        VEntry::Account {
                            asset: *asset,
                            alias: alias.clone(),
                        },
                    ));
                }
            }
        }
        // Asset names were cleaned and deduplicated already for accounts; doing it again is
        // a no-op for them.
        let names = unique_names(raw.iter().map(|(n, _)| n.clone()));
        let list = Arc::new(
            names
                .into_iter()
                .zip(raw)
                .map(|(n, (_, e))| (n, e))
                .collect::<Vec<_>>(),
        );
        self.listings.insert(path.to_vec(), Arc::clone(&list));
        Ok(list)
    }

    /// Where a path leads (see the module docs).
    async fn resolve(&mut self, path: &str) -> Result<Place, SftpError> {
        let comps = components(path);
        if self.env.direct.is_some() {
            return Ok(Place::Remote {
                key: TargetKey::Direct,
                rel: comps,
            });
        }
        let mut dir = VDir::Root;
        for i in 0..comps.len() {
            let listing = self.listing(&comps[..i], &dir, false).await?;
            let Some((_, entry)) = listing.iter().find(|(n, _)| *n == comps[i]) else {
                return Err(SftpError::NotFound(format!(
                    "No such file or directory: {}",
                    display(&comps[..=i])
                )));
            };
            dir = match entry.clone() {
                VEntry::Node(n) => VDir::Node(n),
                VEntry::Asset(asset) => {
                    let accounts = self.asset_accounts(asset).await?;
                    match accounts.as_slice() {
                        [(_, alias)] => {
                            return Ok(Place::Remote {
                                key: TargetKey::Account {
                                    asset,
                                    alias: alias.clone(),
                                },
                                rel: comps[i + 1..].to_vec(),
                            });
                        }
                        [] => {
                            return Err(SftpError::Denied(format!(
                                "No account permitted for SFTP on {}",
                                display(&comps[..=i])
                            )));
                        }
                        _ => VDir::Asset(asset),
                    }
                }
                VEntry::Account { asset, alias } => {
                    return Ok(Place::Remote {
                        key: TargetKey::Account { asset, alias },
                        rel: comps[i + 1..].to_vec(),
                    });
                }
            };
        }
        Ok(Place::Virtual(dir))
    }

    /// Resolves a path some request will change: virtual places and missing virtual
    /// entries are refused.
    async fn resolve_remote(&mut self, path: &str) -> Result<(TargetKey, Vec<String>), SftpError> {
        match self.resolve(path).await {
            Ok(Place::Remote { key, rel }) => Ok((key, rel)),
            Ok(Place::Virtual(_)) | Err(SftpError::NotFound(_)) => Err(denied_virtual()),
            Err(e) => Err(e),
        }
    }

    /// Checks `op` against the target's grant; a refusal of a logged operation is logged.
    async fn permit(
        &mut self,
        key: &TargetKey,
        op: Op,
        logged: Option<(&'static str, String)>,
    ) -> Result<(), SftpError> {
        let t = self.targets.get(&self.env, key).await?;
        let result = check(t.auth.actions, op);
        if result.is_err()
            && let Some((operate, path)) = logged
        {
            log_ftp(
                &self.env.shared,
                FtpEvent {
                    operate,
                    path,
                    size: None,
                    sha256: None,
                    ok: false,
                    at: Utc::now(),
                    target: t,
                },
            )
            .await;
        }
        result
    }

    /// Runs a change on the asset and logs it.
    async fn logged_change(
        &mut self,
        key: &TargetKey,
        operate: &'static str,
        path: String,
        change: impl FnOnce(&Target) -> Change,
    ) -> Result<Status, SftpError> {
        let at = Utc::now();
        let t = self.targets.get(&self.env, key).await?;
        let result = change(t).apply(&t.sftp).await;
        log_ftp(
            &self.env.shared,
            FtpEvent {
                operate,
                path,
                size: None,
                sha256: None,
                ok: result.is_ok(),
                at,
                target: t,
            },
        )
        .await;
        result.map_err(SftpError::from)
    }
}

/// A change to an asset's filesystem, with remote paths.
enum Change {
    Remove(String),
    Mkdir(String, FileAttributes),
    Rmdir(String),
    Rename(String, String),
    /// The two fields in the order they go on the wire.
    Symlink(String, String),
}

impl Change {
    async fn apply(self, s: &RawSftpSession) -> Result<Status, RemoteError> {
        match self {
            Change::Remove(p) => s.remove(p).await,
            Change::Mkdir(p, a) => s.mkdir(p, a).await,
            Change::Rmdir(p) => s.rmdir(p).await,
            Change::Rename(a, b) => s.rename(a, b).await,
            Change::Symlink(a, b) => s.symlink(a, b).await,
        }
    }
}

fn store_failure(e: portcullis_store::StoreError) -> SftpError {
    tracing::error!(error = %e, "the SFTP tree could not be read");
    SftpError::Failure("The gateway could not read your permissions; try again later".to_owned())
}

fn ok_status(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".to_owned(),
        language_tag: "en-US".to_owned(),
    }
}

impl Handler for SftpServer {
    type Error = SftpError;

    fn unimplemented(&self) -> SftpError {
        SftpError::Unsupported("Not supported by the gateway".to_owned())
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, SftpError> {
        Ok(Version::new())
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, SftpError> {
        Ok(Name {
            id,
            files: vec![File::dummy(display(&components(&path)))],
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, SftpError> {
        match self.resolve(&path).await? {
            Place::Virtual(_) => Ok(Attrs {
                id,
                attrs: dir_attrs(),
            }),
            Place::Remote { key, rel } => {
                let t = self.targets.get(&self.env, &key).await?;
                let a = t.sftp.stat(t.path(&rel)).await?;
                Ok(Attrs { id, attrs: a.attrs })
            }
        }
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, SftpError> {
        match self.resolve(&path).await? {
            Place::Virtual(_) => Ok(Attrs {
                id,
                attrs: dir_attrs(),
            }),
            Place::Remote { key, rel } => {
                let t = self.targets.get(&self.env, &key).await?;
                // The remote root itself is shown as what it leads to.
                let a = if rel.is_empty() {
                    t.sftp.stat(t.path(&rel)).await?
                } else {
                    t.sftp.lstat(t.path(&rel)).await?
                };
                Ok(Attrs { id, attrs: a.attrs })
            }
        }
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, SftpError> {
        let (key, remote) = match self.handles.get(&handle) {
            None => return Err(bad_handle()),
            Some(OpenHandle::VirtualDir { .. }) => {
                return Ok(Attrs {
                    id,
                    attrs: dir_attrs(),
                });
            }
            Some(OpenHandle::RemoteDir { key, remote }) => (key.clone(), remote.clone()),
            Some(OpenHandle::RemoteFile(f)) => (f.key.clone(), f.remote.clone()),
        };
        let t = self.targets.get(&self.env, &key).await?;
        let a = t.sftp.fstat(remote).await?;
        Ok(Attrs { id, attrs: a.attrs })
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, SftpError> {
        match self.resolve(&path).await? {
            Place::Virtual(dir) => {
                let comps = components(&path);
                let listing = self.listing(&comps, &dir, true).await?;
                let entries = listing
                    .iter()
                    .map(|(n, _)| File::new(n.clone(), dir_attrs()))
                    .collect();
                let handle = self.new_handle(OpenHandle::VirtualDir { entries })?;
                Ok(Handle { id, handle })
            }
            Place::Remote { key, rel } => {
                let t = self.targets.get(&self.env, &key).await?;
                let remote = t.sftp.opendir(t.path(&rel)).await?.handle;
                match self.new_handle(OpenHandle::RemoteDir {
                    key: key.clone(),
                    remote: remote.clone(),
                }) {
                    Ok(handle) => Ok(Handle { id, handle }),
                    Err(e) => {
                        if let Some(t) = self.targets.live.get(&key) {
                            let _ = t.sftp.close(remote).await;
                        }
                        Err(e)
                    }
                }
            }
        }
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, SftpError> {
        let (key, remote) = match self.handles.get_mut(&handle) {
            None => return Err(bad_handle()),
            Some(OpenHandle::VirtualDir { entries }) => {
                if entries.is_empty() {
                    return Err(SftpError::Eof);
                }
                let n = entries.len().min(READDIR_BATCH);
                let files = entries.drain(..n).collect();
                return Ok(Name { id, files });
            }
            Some(OpenHandle::RemoteDir { key, remote }) => (key.clone(), remote.clone()),
            Some(OpenHandle::RemoteFile(_)) => {
                return Err(SftpError::Failure("Not a directory handle".to_owned()));
            }
        };
        let t = self.targets.get(&self.env, &key).await?;
        let name = t.sftp.readdir(remote).await?;
        Ok(Name {
            id,
            files: name.files,
        })
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        attrs: FileAttributes,
    ) -> Result<Handle, SftpError> {
        let write = writes(pflags);
        let read = pflags.contains(OpenFlags::READ) || !write;
        let (key, rel) = match self.resolve(&filename).await {
            Ok(Place::Remote { key, rel }) => (key, rel),
            Ok(Place::Virtual(_)) if !write => {
                return Err(SftpError::Failure(format!(
                    "{} is a directory",
                    display(&components(&filename))
                )));
            }
            Ok(Place::Virtual(_)) | Err(SftpError::NotFound(_)) if write => {
                return Err(denied_virtual());
            }
            Ok(Place::Virtual(_)) => return Err(denied_virtual()),
            Err(e) => return Err(e),
        };
        let path = display(&rel);
        if write {
            self.permit(&key, Op::Write, Some(("upload", path.clone())))
                .await?;
        }
        if read {
            self.permit(&key, Op::Read, Some(("download", path.clone())))
                .await?;
        }
        let opened = Utc::now();
        let t = self.targets.get(&self.env, &key).await?;
        let remote = match t.sftp.open(t.path(&rel), pflags, attrs).await {
            Ok(h) => h.handle,
            Err(e) => {
                let operate = if write { "upload" } else { "download" };
                log_ftp(
                    &self.env.shared,
                    FtpEvent {
                        operate,
                        path,
                        size: None,
                        sha256: None,
                        ok: false,
                        at: opened,
                        target: t,
                    },
                )
                .await;
                return Err(e.into());
            }
        };
        let file = FileHandle {
            key: key.clone(),
            remote: remote.clone(),
            path,
            read,
            write,
            down: Digest::default(),
            up: Digest::default(),
            write_failed: false,
            opened,
            ahead: ReadAhead::default(),
            behind: WriteBehind::default(),
        };
        match self.new_handle(OpenHandle::RemoteFile(Box::new(file))) {
            Ok(handle) => Ok(Handle { id, handle }),
            Err(e) => {
                if let Some(t) = self.targets.live.get(&key) {
                    let _ = t.sftp.close(remote).await;
                }
                Err(e)
            }
        }
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, SftpError> {
        let Some(OpenHandle::RemoteFile(f)) = self.handles.get(&handle) else {
            return Err(bad_handle());
        };
        if !f.read {
            return Err(SftpError::Denied(
                "Permission denied: the file was not opened for reading".to_owned(),
            ));
        }
        let (key, remote) = (f.key.clone(), f.remote.clone());
        let t = self.targets.get(&self.env, &key).await?;
        let sftp = Arc::clone(&t.sftp);
        let Some(OpenHandle::RemoteFile(f)) = self.handles.get_mut(&handle) else {
            return Err(bad_handle());
        };
        let data = f
            .ahead
            .read(&sftp, &remote, offset, len.min(MAX_IO))
            .await?;
        f.down.feed(offset, &data);
        Ok(Data { id, data })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, SftpError> {
        let Some(OpenHandle::RemoteFile(f)) = self.handles.get(&handle) else {
            return Err(bad_handle());
        };
        if !f.write {
            return Err(SftpError::Denied(
                "Permission denied: the file was not opened for writing".to_owned(),
            ));
        }
        if data.len() > MAX_IO as usize {
            return Err(SftpError::Failure(format!(
                "Write too large (at most {MAX_IO} bytes per request)"
            )));
        }
        let (key, remote) = (f.key.clone(), f.remote.clone());
        let t = self.targets.get(&self.env, &key).await?;
        let sftp = Arc::clone(&t.sftp);
        let Some(OpenHandle::RemoteFile(f)) = self.handles.get_mut(&handle) else {
            return Err(bad_handle());
        };
        // The digest is fed before the data moves on, so the buffer is not copied; a failed
        // write fails the whole upload, so feeding first is harmless.
        f.up.feed(offset, &data);
        match f.behind.write(&sftp, &remote, offset, data).await {
            Ok(()) => Ok(ok_status(id)),
            Err(e) => {
                f.write_failed = true;
                Err(e.into())
            }
        }
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, SftpError> {
        match self.handles.remove(&handle) {
            None => Err(bad_handle()),
            Some(OpenHandle::VirtualDir { .. }) => Ok(ok_status(id)),
            Some(OpenHandle::RemoteDir { key, remote }) => {
                let t = self.targets.get(&self.env, &key).await?;
                t.sftp.close(remote).await?;
                Ok(ok_status(id))
            }
            Some(OpenHandle::RemoteFile(mut f)) => {
                let t = self.targets.get(&self.env, &f.key).await?;
                // Every write answered `OK` so far must have landed before the close is good.
                let written = f.behind.flush().await;
                f.write_failed |= written.is_err();
                let closed = t.sftp.close(f.remote.clone()).await;
                log_transfer(&self.env.shared, t, *f, closed.is_ok()).await;
                written?;
                closed?;
                Ok(ok_status(id))
            }
        }
    }

    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, SftpError> {
        let (key, rel) = self.resolve_remote(&path).await?;
        self.permit(&key, Op::SetStat, None).await?;
        let t = self.targets.get(&self.env, &key).await?;
        t.sftp.setstat(t.path(&rel), attrs).await?;
        Ok(ok_status(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        attrs: FileAttributes,
    ) -> Result<Status, SftpError> {
        let (key, remote) = match self.handles.get(&handle) {
            None => return Err(bad_handle()),
            Some(OpenHandle::VirtualDir { .. }) => return Err(denied_virtual()),
            Some(OpenHandle::RemoteDir { key, remote }) => (key.clone(), remote.clone()),
            Some(OpenHandle::RemoteFile(f)) => (f.key.clone(), f.remote.clone()),
        };
        self.permit(&key, Op::SetStat, None).await?;
        let t = self.targets.get(&self.env, &key).await?;
        t.sftp.fsetstat(remote, attrs).await?;
        Ok(ok_status(id))
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, SftpError> {
        let (key, rel) = self.resolve_remote(&filename).await?;
        let path = display(&rel);
        self.permit(&key, Op::Remove, Some(("delete", path.clone())))
            .await?;
        self.logged_change(&key, "delete", path, |t| Change::Remove(t.path(&rel)))
            .await?;
        Ok(ok_status(id))
    }

    async fn mkdir(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, SftpError> {
        let (key, rel) = self.resolve_remote(&path).await?;
        let shown = display(&rel);
        self.permit(&key, Op::Mkdir, Some(("mkdir", shown.clone())))
            .await?;
        self.logged_change(&key, "mkdir", shown, |t| Change::Mkdir(t.path(&rel), attrs))
            .await?;
        Ok(ok_status(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Result<Status, SftpError> {
        let (key, rel) = self.resolve_remote(&path).await?;
        if rel.is_empty() {
            return Err(SftpError::Denied(
                "Permission denied: the asset's root cannot be removed".to_owned(),
            ));
        }
        let shown = display(&rel);
        self.permit(&key, Op::Rmdir, Some(("rmdir", shown.clone())))
            .await?;
        self.logged_change(&key, "rmdir", shown, |t| Change::Rmdir(t.path(&rel)))
            .await?;
        Ok(ok_status(id))
    }

    async fn rename(
        &mut self,
        id: u32,
        oldpath: String,
        newpath: String,
    ) -> Result<Status, SftpError> {
        let (key, old) = self.resolve_remote(&oldpath).await?;
        let (new_key, new) = self.resolve_remote(&newpath).await?;
        if key != new_key {
            return Err(SftpError::Failure(
                "Cannot move files between assets or accounts".to_owned(),
            ));
        }
        if old.is_empty() || new.is_empty() {
            return Err(SftpError::Denied(
                "Permission denied: the asset's root cannot be renamed".to_owned(),
            ));
        }
        let shown = format!("{}=>{}", display(&old), display(&new));
        let is_dir = {
            let t = self.targets.get(&self.env, &key).await?;
            t.sftp
                .lstat(t.path(&old))
                .await
                .map(|a| a.attrs.is_dir())
                .unwrap_or(false)
        };
        let operate = if is_dir { "rename_dir" } else { "rename" };
        self.permit(&key, Op::Rename, Some((operate, shown.clone())))
            .await?;
        self.logged_change(&key, operate, shown, |t| {
            Change::Rename(t.path(&old), t.path(&new))
        })
        .await?;
        Ok(ok_status(id))
    }

    async fn readlink(&mut self, id: u32, path: String) -> Result<Name, SftpError> {
        let (key, rel) = match self.resolve(&path).await? {
            Place::Remote { key, rel } => (key, rel),
            Place::Virtual(_) => {
                return Err(SftpError::Failure("Not a symbolic link".to_owned()));
            }
        };
        let t = self.targets.get(&self.env, &key).await?;
        let name = t.sftp.readlink(t.path(&rel)).await?;
        Ok(Name {
            id,
            files: name.files,
        })
    }

    /// SSH_FXP_SYMLINK. OpenSSH sends (and its server reads) the fields in the reverse of
    /// the draft's order: the first is the link's target, the second the new link. The
    /// fields are forwarded in the order received; the second is mapped as the link's place,
    /// the first is mapped when absolute (a relative target is relative to the link).
    async fn symlink(
        &mut self,
        id: u32,
        linkpath: String,
        targetpath: String,
    ) -> Result<Status, SftpError> {
        let (key, link) = self.resolve_remote(&targetpath).await?;
        let contents = if linkpath.starts_with('/') {
            let (k, rel) = self.resolve_remote(&linkpath).await?;
            if k != key {
                return Err(SftpError::Failure(
                    "A link cannot point to another asset or account".to_owned(),
                ));
            }
            Some(rel)
        } else {
            None
        };
        let shown = display(&link);
        self.permit(&key, Op::Symlink, Some(("symlink", shown.clone())))
            .await?;
        self.logged_change(&key, "symlink", shown, |t| {
            let first = match &contents {
                Some(rel) => t.path(rel),
                None => linkpath.clone(),
            };
            Change::Symlink(first, t.path(&link))
        })
        .await?;
        Ok(ok_status(id))
    }

    async fn extended(
        &mut self,
        _id: u32,
        request: String,
        _data: Vec<u8>,
    ) -> Result<Packet, SftpError> {
        Err(SftpError::Unsupported(format!(
            "The extension {request} is not supported by the gateway"
        )))
    }
}

fn bad_handle() -> SftpError {
    SftpError::Failure("Invalid handle".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_components_and_unique() {
        assert_eq!(clean_name("web/1"), "web_1");
        assert_eq!(clean_name("a\x1b[31mb"), "a_[31mb");
        assert_eq!(clean_name(""), "_");
        assert_eq!(clean_name("."), "_.");
        assert_eq!(clean_name(".."), "_..");
        assert_eq!(
            unique_names(["web", "db", "web", "web", "web_", "a/b", "a_b"].map(String::from)),
            ["web", "db", "web_", "web__", "web___", "a_b", "a_b_"]
        );
    }

    #[test]
    fn refusals_name_the_missing_action_as_permission_denied() {
        let up = Actions::CONNECT | Actions::UPLOAD;
        assert!(check(up, Op::Write).is_ok());
        let Err(SftpError::Denied(msg)) = check(up, Op::Rename) else {
            panic!("rename needs delete too");
        };
        assert!(msg.contains("delete") && !msg.contains("upload"), "{msg}");
        let r: StatusReply = check(up, Op::Read).unwrap_err().into();
        assert_eq!(r.status_code, StatusCode::PermissionDenied);
    }

    #[test]
    fn open_flags_that_change_the_file_are_writes() {
        assert!(!writes(OpenFlags::READ));
        assert!(writes(OpenFlags::WRITE));
        assert!(writes(OpenFlags::READ | OpenFlags::APPEND));
        assert!(writes(OpenFlags::CREATE));
        assert!(writes(OpenFlags::TRUNCATE));
    }

    #[test]
    fn statuses_carry_codes_and_messages() {
        let r: StatusReply = SftpError::Denied("no".into()).into();
        assert_eq!(r.status_code, StatusCode::PermissionDenied);
        assert_eq!(r.error_message.as_deref(), Some("no"));
        let r: StatusReply = SftpError::Remote(Status {
            id: 1,
            status_code: StatusCode::ConnectionLost,
            error_message: "gone".into(),
            language_tag: "en".into(),
        })
        .into();
        assert_eq!(r.status_code, StatusCode::Failure);
        let e: SftpError = RemoteError::Status(Status {
            id: 1,
            status_code: StatusCode::Eof,
            error_message: String::new(),
            language_tag: String::new(),
        })
        .into();
        assert!(matches!(e, SftpError::Eof));
    }
}
