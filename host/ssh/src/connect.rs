//! What an authenticated connection's channels do: a pty shell (the menu, or straight to a
//! direct target), an exec request, the `sftp` subsystem, a `direct-tcpip` tunnel. Each ends
//! with the session engine's record of it.

use crate::line::{LineEditor, LineEvent};
use crate::menu::{
    AccountChoice, AssetQuery, Catalog, Lang, Menu, MenuAction, MenuConfig, StoreCatalog,
};
use crate::pick::{self, AssetPicker, Pick};
use crate::server::Shared;
use crate::target_name::LoginName;
use portcullis_core::secret::SecretString;
use portcullis_session::authorize::{
    AccountRef, Authorized, ConnectRequest, Denied, InputCredentials, LoginFrom, Requester,
    TargetTimeouts, authorize, authorize_reviewed, authorize_tunnel,
};
use portcullis_session::live::{EndReason, SessionKind};
use portcullis_session::pump::{self, Front, FrontEvent, Limits};
use portcullis_session::review::{self, ReviewOutcome, ReviewRequest};
use portcullis_session::target;
use portcullis_store::perms::NamedAsset;
use portcullis_store::tickets::TicketKind;
use russh::server::{ChannelOpenHandle, Msg};
use russh::{Channel, ChannelMsg};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use uuid::Uuid;

/// The authenticated user of a connection.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: Uuid,
    pub username: String,
    pub name: String,
    /// Set by a connection-token login: the target the token names.
    pub token: Option<TokenTarget>,
}

/// The target a connection token names.
#[derive(Debug, Clone)]
pub(crate) struct TokenTarget {
    pub asset_id: Uuid,
    pub account: String,
    pub protocol: String,
    pub input_username: String,
    pub input_secret: Option<SecretString>,
}

/// What a channel task knows.
pub(crate) struct ConnCtx {
    pub shared: Arc<Shared>,
    pub user: User,
    pub name: LoginName,
    pub peer: SocketAddr,
    /// Closes when the client's connection ends ([`gone`]).
    pub gone: tokio::sync::watch::Receiver<()>,
}

impl ConnCtx {
    fn requester(&self) -> Requester {
        Requester {
            user_id: self.user.id,
            username: self.user.username.clone(),
            name: self.user.name.clone(),
            remote_addr: self.peer.ip(),
            login_from: LoginFrom::SshTerminal,
        }
    }

    fn timeouts(&self) -> TargetTimeouts {
        TargetTimeouts {
            connect: self.shared.config.connect_timeout,
            ..TargetTimeouts::default()
        }
    }

    async fn limits(&self) -> Limits {
        self.shared.limits().await
    }
}

/// Loads a logged-in user's names.
pub(crate) async fn user(shared: &Shared, id: Uuid) -> Option<User> {
    match shared.engine.store().user_record(&id.to_string()).await {
        Ok(Some(u)) => Some(User {
            id: u.id,
            username: u.username,
            name: u.name,
            token: None,
        }),
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "could not load a logged-in user");
            None
        }
    }
}

/// Checks a connection-token login (`JMS-<id>`, the token value as password): the value is
/// compared here, everything else (expiry, one-time use, the user's state, the permission) is
/// decided by [`portcullis_store::Store::redeem_connection_token`], the same check the web
/// front doors use. A wrong value leaves the token untouched.
pub(crate) async fn redeem_token(shared: &Shared, id: Uuid, value: &str) -> Option<User> {
    let store = shared.engine.store();
    let vault = shared.engine.vault();
    let secret = match store.connection_token_secret(vault, id).await {
        Ok(Some(s)) => s,
        Ok(None) => return None,
        Err(e) => {
            tracing::error!(error = %e, "could not read a connection token");
            return None;
        }
    };
    if !constant_time_eq(secret.expose().as_bytes(), value.as_bytes()) {
        tracing::info!(token = %id, "connection token login with a wrong value");
        return None;
    }
    let record = match store.redeem_connection_token(id).await {
        Ok(Ok(r)) => r,
        Ok(Err(why)) => {
            tracing::info!(token = %id, reason = why.as_str(), "connection token refused");
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "could not redeem a connection token");
            return None;
        }
    };
    let input_secret = if record.has_input_secret {
        store
            .connection_token_input_secret(vault, id)
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    let mut u = user(shared, record.user_id).await?;
    u.token = Some(TokenTarget {
        asset_id: record.asset_id,
        account: record.account,
        protocol: record.protocol,
        input_username: record.input_username,
        input_secret,
    });
    Some(u)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The user's SSH channel as the pump's [`Front`].
///
/// Writes wait for the client's window (back-pressure), and a client that stops reading
/// holds them indefinitely, as it should while it lives. When its connection ends they
/// fail at once, so the session ends instead of waiting on a window that never opens.
struct SshFront {
    channel: Channel<Msg>,
    gone: tokio::sync::watch::Receiver<()>,
}

/// Resolves when the client's connection is gone (its [`ConnCtx::gone`] sender dropped).
pub(crate) async fn gone(rx: &mut tokio::sync::watch::Receiver<()>) {
    while rx.changed().await.is_ok() {}
}

impl Front for SshFront {
    async fn recv(&mut self) -> Option<FrontEvent> {
        loop {
            match self.channel.wait().await? {
                ChannelMsg::Data { data } => return Some(FrontEvent::Data(data.to_vec())),
                ChannelMsg::WindowChange {
                    col_width,
                    row_height,
                    ..
                } => {
                    return Some(FrontEvent::Resize {
                        cols: dimension(col_width, 80),
                        rows: dimension(row_height, 24),
                    });
                }
                ChannelMsg::Eof => return Some(FrontEvent::Eof),
                ChannelMsg::Close => return None,
                _ => {}
            }
        }
    }

    async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        let write = self.channel.data_bytes(data.to_vec());
        let mut rx = self.gone.clone();
        tokio::select! {
            r = write => r.map_err(io::Error::other),
            () = gone(&mut rx) => Err(aborted()),
        }
    }

    async fn send_shared(&mut self, data: bytes::Bytes) -> io::Result<()> {
        let write = self.channel.data_bytes(data);
        let mut rx = self.gone.clone();
        tokio::select! {
            r = write => r.map_err(io::Error::other),
            () = gone(&mut rx) => Err(aborted()),
        }
    }

    async fn send_stderr(&mut self, data: &[u8]) -> io::Result<()> {
        let write = self.channel.extended_data_bytes(1, data.to_vec());
        let mut rx = self.gone.clone();
        tokio::select! {
            r = write => r.map_err(io::Error::other),
            () = gone(&mut rx) => Err(aborted()),
        }
    }
}

/// The error of a write to a client whose connection ended.
fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the client's connection is gone",
    )
}

/// A terminal dimension from the client; 0 (unknown, as some clients send) becomes `default`.
fn dimension(v: u32, default: u16) -> u16 {
    match u16::try_from(v) {
        Ok(0) => default,
        Ok(v) => v,
        Err(_) => u16::MAX,
    }
}

/// A pty's settings.
#[derive(Debug, Clone)]
struct Pty {
    term: String,
    cols: u16,
    rows: u16,
    /// The client's terminal modes, given to the target when a command runs in this pty.
    modes: Vec<(russh::Pty, u32)>,
}

/// Runs one session channel: waits for its request, then serves it.
pub(crate) async fn run_channel(ctx: ConnCtx, channel: Channel<Msg>) {
    let mut front = SshFront {
        channel,
        gone: ctx.gone.clone(),
    };
    let mut pty: Option<Pty> = None;
    loop {
        let Some(msg) = front.channel.wait().await else {
            return;
        };
        match msg {
            ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                terminal_modes,
                ..
            } => {
                pty = Some(Pty {
                    term,
                    cols: dimension(col_width, 80),
                    rows: dimension(row_height, 24),
                    modes: terminal_modes,
                });
            }
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                ..
            } => {
                if let Some(p) = &mut pty {
                    p.cols = dimension(col_width, 80);
                    p.rows = dimension(row_height, 24);
                }
            }
            ChannelMsg::RequestShell { .. } => {
                let pty = pty.unwrap_or(Pty {
                    term: "xterm".into(),
                    cols: 80,
                    rows: 24,
                    modes: Vec::new(),
                });
                let status = shell(&ctx, &mut front, pty).await;
                finish(front, status).await;
                return;
            }
            ChannelMsg::Exec { command, .. } => {
                let command = String::from_utf8_lossy(&command).into_owned();
                let status = exec(&ctx, &mut front, &command, pty.as_ref()).await;
                finish(front, status).await;
                return;
            }
            ChannelMsg::RequestSubsystem { name, .. } if name == "sftp" => {
                crate::sftp::serve(&ctx, front.channel).await;
                return;
            }
            ChannelMsg::Eof | ChannelMsg::Close => return,
            _ => {}
        }
    }
}

async fn finish(front: SshFront, status: u32) {
    let _ = front.channel.exit_status(status).await;
    let _ = front.channel.eof().await;
    let _ = front.channel.close().await;
}

/// What a direct-connect name or token asks for.
pub(crate) struct DirectTarget {
    pub asset: String,
    pub account: AccountRef,
    pub protocol: String,
    pub input: InputCredentials,
}

pub(crate) fn direct_target(ctx: &ConnCtx) -> Option<DirectTarget> {
    if let Some(t) = &ctx.user.token {
        return Some(DirectTarget {
            asset: t.asset_id.to_string(),
            account: AccountRef::Alias(t.account.clone()),
            protocol: t.protocol.clone(),
            input: InputCredentials {
                username: Some(t.input_username.clone()).filter(|u| !u.is_empty()),
                password: t.input_secret.clone(),
            },
        });
    }
    match &ctx.name {
        LoginName::Direct {
            protocol,
            account,
            asset,
            ..
        } => Some(DirectTarget {
            asset: asset.clone(),
            account: AccountRef::Username(account.clone()),
            protocol: protocol.clone().unwrap_or_else(|| "ssh".into()),
            input: InputCredentials::default(),
        }),
        _ => None,
    }
}

/// Resolves a direct target to one permitted asset, or says why not.
pub(crate) async fn resolve_asset(ctx: &ConnCtx, target: &str) -> Result<Uuid, String> {
    let found = ctx
        .shared
        .engine
        .store()
        .user_permitted_assets_named(ctx.user.id, target)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "could not look up a direct target");
            "The gateway could not look up the asset; try again later".to_owned()
        })?;
    one_match(&found, target)
}

/// The one asset of a direct target's matches, or why there is not exactly one.
fn one_match(found: &[NamedAsset], target: &str) -> Result<Uuid, String> {
    match found {
        [one] => Ok(one.id),
        [] => Err(format!("match asset failed: No found asset {target}")),
        many => Err(format!(
            "Must be unique asset for {target}; it matches: {}",
            many.iter()
                .map(|a| format!("{} ({}, id {})", a.name, a.address, a.id))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

pub(crate) async fn direct_request(
    ctx: &ConnCtx,
    t: &DirectTarget,
) -> Result<ConnectRequest, String> {
    let asset_id = match Uuid::parse_str(&t.asset) {
        Ok(id) if ctx.user.token.is_some() => id,
        _ => resolve_asset(ctx, &t.asset).await?,
    };
    Ok(ConnectRequest {
        asset_id,
        protocol: t.protocol.clone(),
        account: t.account.clone(),
        input: t.input.clone(),
    })
}

async fn authorized_direct(ctx: &ConnCtx, t: &DirectTarget) -> Result<Authorized, String> {
    let req = direct_request(ctx, t).await?;
    authorize(
        ctx.shared.engine.store(),
        ctx.shared.engine.vault(),
        &ctx.requester(),
        &req,
        ctx.timeouts(),
    )
    .await
    .map_err(|d| {
        tracing::info!(user = %ctx.user.username, code = d.code(), "SSH connection refused: {d}");
        d.to_string()
    })
}

/// [`authorize`] for an interactive user: when an asset-connect ACL asks for a review, the
/// user may request it and wait for the answer here (KoKo's dialogue).
async fn authorize_interactive(
    ctx: &ConnCtx,
    front: &mut SshFront,
    req: &ConnectRequest,
) -> Result<Authorized, String> {
    let store = ctx.shared.engine.store();
    let vault = ctx.shared.engine.vault();
    let who = ctx.requester();
    let denied = match authorize(store, vault, &who, req, ctx.timeouts()).await {
        Ok(a) => return Ok(a),
        Err(d) => d,
    };
    let Denied::AclReview { reviewers } = denied else {
        tracing::info!(user = %ctx.user.username, code = denied.code(), "SSH connection refused: {denied}");
        return Err(denied.to_string());
    };
    if reviewers.is_empty() {
        return Err("The connection needs a review, but its rule names no reviewer".into());
    }
    let answer = read_answer(front, "Need ACL review, continue? (y/n): ").await;
    if !matches!(answer.as_deref(), Some("y" | "yes")) {
        return Err("Cancel to login asset".into());
    }
    let asset = match store.asset_record(None, &req.asset_id.to_string()).await {
        Ok(Some(a)) => a,
        _ => return Err("The asset is gone".into()),
    };
    let request = ReviewRequest {
        org: asset.org_id,
        kind: TicketKind::LoginAssetConfirm,
        title: format!("Login asset review: {} -> {}", who.display(), asset.name),
        applicant_id: who.user_id,
        applicant_display: who.display(),
        reviewers,
        meta: serde_json::json!({
            "asset_id": asset.id,
            "apply_login_user": who.display(),
            "apply_login_asset": asset.name,
            "apply_login_account": match &req.account {
                AccountRef::Alias(a) | AccountRef::Username(a) => a.clone(),
            },
        }),
    };
    let open = review::open(store, &request).await.map_err(|e| {
        tracing::error!(error = %e, "could not open a connection review");
        "The review could not be requested".to_owned()
    })?;
    let intro = format!(
        "Need ticket confirm to login, already send email to the reviewers\r\n\
         Ticket Reviewers: {}\r\nCould copy website URL to notify reviewers: /api/v1/tickets/tickets/{}/\r\n",
        open.reviewers.join(", "),
        open.ticket_id
    );
    let _ = front.send(intro.as_bytes()).await;
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(review::POLL_INTERVAL);
    let by = who.display();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let waited = started.elapsed().as_secs();
                let _ = front
                    .send(format!("\rPlease waiting for the reviewers to confirm, enter q to exit. {waited}s").as_bytes())
                    .await;
                match review::poll(store, open.ticket_id).await {
                    Ok(Some(ReviewOutcome::Approved(who_approved))) => {
                        let _ = front.send(format!("\r\n\x1b[32m{who_approved} approved\x1b[0m\r\n").as_bytes()).await;
                        break;
                    }
                    Ok(Some(ReviewOutcome::Rejected(who_rejected))) => {
                        return Err(format!("\r\n{who_rejected} rejected"));
                    }
                    Ok(Some(ReviewOutcome::Closed)) => return Err("\r\nCancel confirm".into()),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "could not read a review ticket"),
                }
            }
            ev = front.recv() => match ev {
                Some(FrontEvent::Data(d)) if d.iter().any(|b| matches!(b, b'q' | 0x03 | 0x04)) => {
                    review::cancel(store, open.ticket_id, &by).await;
                    return Err("\r\nCancel confirm".into());
                }
                Some(_) => {}
                None => {
                    review::cancel(store, open.ticket_id, &by).await;
                    return Err("Cancel confirm".into());
                }
            },
        }
    }
    authorize_reviewed(store, vault, &who, req, ctx.timeouts(), open.ticket_id)
        .await
        .map_err(|d| d.to_string())
}

/// Reads one short answer typed at a gateway prompt (echoed); `None` when the user left.
async fn read_answer(front: &mut SshFront, prompt: &str) -> Option<String> {
    let _ = front.send(prompt.as_bytes()).await;
    let mut editor = LineEditor::new();
    let mut pending: Vec<u8> = Vec::new();
    loop {
        if pending.is_empty() {
            match front.recv().await? {
                FrontEvent::Data(d) => pending = d,
                FrontEvent::Resize { .. } => continue,
                FrontEvent::Eof => return None,
            }
        }
        let (echo, ev) = editor.feed(&std::mem::take(&mut pending));
        let _ = front.send(&echo).await;
        match ev {
            Some(LineEvent::Line(l)) => return Some(l.trim().to_ascii_lowercase()),
            Some(LineEvent::Cancel) | Some(LineEvent::Eof) => return Some("n".into()),
            None => {}
        }
    }
}

/// The asset of a direct name typed in a terminal: when the name matches several permitted
/// assets the user picks one from a table ([`AssetPicker`]); `Ok(None)` when they leave.
async fn pick_direct_asset(
    ctx: &ConnCtx,
    front: &mut SshFront,
    pty: &mut Pty,
    target: &str,
) -> Result<Option<Uuid>, String> {
    let store = ctx.shared.engine.store();
    let found = store
        .user_permitted_assets_named(ctx.user.id, target)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "could not look up a direct target");
            "The gateway could not look up the asset; try again later".to_owned()
        })?;
    if found.len() < 2 {
        return one_match(&found, target).map(Some);
    }
    // The menu's view of the same assets, for the platform column.
    let catalog = StoreCatalog::new(store.clone(), ctx.user.id);
    let query = AssetQuery {
        exact: Some(target.to_owned()),
        active_only: true,
        limit: usize::MAX,
        ..AssetQuery::default()
    };
    let mut items = match catalog.assets(&query).await {
        Ok(page) => page.items,
        Err(e) => {
            tracing::error!(error = %e, "could not list the assets of a direct target");
            Vec::new()
        }
    };
    items.retain(|a| found.iter().any(|f| f.id == a.id));
    if items.len() < 2 {
        return one_match(&found, target).map(Some);
    }
    let mut picker = AssetPicker::new(target, items, pty.cols, pty.rows);
    if front.send(picker.render().as_bytes()).await.is_err() {
        return Ok(None);
    }
    let mut editor = LineEditor::new();
    loop {
        let data = match front.recv().await {
            Some(FrontEvent::Data(d)) => d,
            Some(FrontEvent::Resize { cols, rows }) => {
                pty.cols = cols;
                pty.rows = rows;
                picker.resize(cols, rows);
                continue;
            }
            Some(FrontEvent::Eof) | None => return Ok(None),
        };
        let mut rest: &[u8] = &data;
        loop {
            let (echo, event) = editor.feed(rest);
            rest = &[];
            if !echo.is_empty() && front.send(&echo).await.is_err() {
                return Ok(None);
            }
            let answer = match event {
                None => break,
                Some(LineEvent::Line(line)) => picker.line(&line),
                Some(LineEvent::Cancel) => Pick::Show(format!("\r\n{}", pick::PROMPT)),
                Some(LineEvent::Eof) => Pick::Leave,
            };
            match answer {
                Pick::Show(text) => {
                    if front.send(text.as_bytes()).await.is_err() {
                        return Ok(None);
                    }
                }
                Pick::Chosen(id) => return Ok(Some(id)),
                Pick::Leave => return Ok(None),
            }
        }
    }
}

/// An interactive shell: the direct target, or the menu.
async fn shell(ctx: &ConnCtx, front: &mut SshFront, mut pty: Pty) -> u32 {
    if let Some(t) = direct_target(ctx) {
        let request = if ctx.user.token.is_some() {
            direct_request(ctx, &t).await
        } else {
            match pick_direct_asset(ctx, front, &mut pty, &t.asset).await {
                Ok(Some(asset_id)) => Ok(ConnectRequest {
                    asset_id,
                    protocol: t.protocol.clone(),
                    account: t.account.clone(),
                    input: t.input.clone(),
                }),
                Ok(None) => return 0,
                Err(e) => Err(e),
            }
        };
        let authorized = match request {
            Ok(req) => authorize_interactive(ctx, front, &req).await,
            Err(e) => Err(e),
        };
        return match authorized {
            Ok(auth) => {
                let hello = format!(
                    "Connecting to {}@{}\r\n",
                    auth.account.display(),
                    auth.asset.address
                );
                let _ = front.send(hello.as_bytes()).await;
                let (status, _) = asset_shell(ctx, front, &auth, &pty).await;
                status
            }
            Err(msg) => {
                let _ = front.send(red(&msg).as_bytes()).await;
                1
            }
        };
    }
    menu_loop(ctx, front, pty).await
}

fn red(msg: &str) -> String {
    format!("\x1b[31m{msg}\x1b[0m\r\n")
}

/// Connects the authorized shell and pumps it; returns the exit status and the pty size at
/// the end (the user may have resized meanwhile).
async fn asset_shell(
    ctx: &ConnCtx,
    front: &mut SshFront,
    auth: &Authorized,
    pty: &Pty,
) -> (u32, Pty) {
    let engine = &ctx.shared.engine;
    let conn = match target::connect(engine.store(), &auth.target).await {
        Ok(c) => c,
        Err(e) => {
            let message = e.user_message();
            let _ = front.send(red(&message).as_bytes()).await;
            let _ = engine
                .record_failed(
                    auth,
                    SessionKind::Normal,
                    &EndReason::ConnectFailed { message },
                )
                .await;
            return (1, pty.clone());
        }
    };
    let mut channel = match conn.open_session().await {
        Ok(c) => c,
        Err(e) => {
            let _ = front.send(red(&e.user_message()).as_bytes()).await;
            conn.close().await;
            return (1, pty.clone());
        }
    };
    let mut session = match engine
        .start(
            auth,
            SessionKind::Normal,
            Some((&pty.term, pty.cols, pty.rows)),
        )
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "a session could not be started");
            let _ = front
                .send(red("The session cannot be recorded, so it was not started").as_bytes())
                .await;
            conn.close().await;
            return (1, pty.clone());
        }
    };
    let mut resized = ResizeTracker {
        inner: front,
        pty: pty.clone(),
    };
    let finished = pump::run_shell(
        &mut session,
        &mut channel,
        &mut resized,
        &auth.commands,
        (&pty.term, pty.cols, pty.rows),
        ctx.limits().await,
    )
    .await;
    let pty = resized.pty;
    session.end(&finished.reason).await;
    conn.close().await;
    let status = match finished.reason {
        EndReason::Normal => finished.exit_status.unwrap_or(0),
        _ => 255,
    };
    (status, pty)
}

/// Passes events through, remembering the latest terminal size.
struct ResizeTracker<'a> {
    inner: &'a mut SshFront,
    pty: Pty,
}

impl Front for ResizeTracker<'_> {
    async fn recv(&mut self) -> Option<FrontEvent> {
        let ev = self.inner.recv().await;
        if let Some(FrontEvent::Resize { cols, rows }) = &ev {
            self.pty.cols = *cols;
            self.pty.rows = *rows;
        }
        ev
    }

    async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.inner.send(data).await
    }

    async fn send_shared(&mut self, data: bytes::Bytes) -> io::Result<()> {
        self.inner.send_shared(data).await
    }

    async fn send_stderr(&mut self, data: &[u8]) -> io::Result<()> {
        self.inner.send_stderr(data).await
    }
}

/// The interactive menu: lists, searches, picks, connects, and comes back.
async fn menu_loop(ctx: &ConnCtx, front: &mut SshFront, mut pty: Pty) -> u32 {
    let catalog = StoreCatalog::new(ctx.shared.engine.store().clone(), ctx.user.id)
        .with_protocols(vec!["ssh".into()]);
    let idle_minutes = ctx
        .limits()
        .await
        .idle
        .map(|d| u32::try_from(d.as_secs().div_ceil(60)).unwrap_or(u32::MAX))
        .unwrap_or(0);
    // Read at each login, so a change in the settings reaches the next session.
    let announcement = match ctx
        .shared
        .engine
        .store()
        .current_announcement(chrono::Utc::now())
        .await
    {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the announcement; showing none");
            None
        }
    };
    // The profile's language, read at each login so a changed `lang` reaches the next session.
    let lang = match ctx
        .shared
        .engine
        .store()
        .user_record(&ctx.user.id.to_string())
        .await
    {
        Ok(Some(u)) => Lang::for_user(&u.lang, ctx.shared.config.lang),
        Ok(None) => ctx.shared.config.lang,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the user's language; using the default");
            ctx.shared.config.lang
        }
    };
    let mut menu = Menu::new(MenuConfig {
        user_display: ctx.user.name.clone(),
        lang,
        title: ctx.shared.config.title.clone(),
        announcement,
        idle_minutes,
        cols: usize::from(pty.cols),
        rows: usize::from(pty.rows),
        ..MenuConfig::default()
    });
    let mut editor = LineEditor::new();
    let welcome = format!("{}{}", menu.welcome(), menu.prompt());
    if front.send(welcome.as_bytes()).await.is_err() {
        return 0;
    }
    loop {
        let ev = match menu.idle_timeout() {
            Some(idle) => match tokio::time::timeout(idle, front.recv()).await {
                Ok(ev) => ev,
                Err(_) => {
                    let _ = front.send(red(&menu.idle_message()).as_bytes()).await;
                    return 0;
                }
            },
            None => front.recv().await,
        };
        let data = match ev {
            Some(FrontEvent::Data(d)) => d,
            Some(FrontEvent::Resize { cols, rows }) => {
                pty.cols = cols;
                pty.rows = rows;
                menu.resize(usize::from(cols), usize::from(rows));
                continue;
            }
            Some(FrontEvent::Eof) | None => return 0,
        };
        let mut rest: &[u8] = &data;
        // A paste may hold several lines; the editor hands them back one at a time.
        loop {
            let (echo, event) = editor.feed(rest);
            rest = &[];
            if !echo.is_empty() && front.send(&echo).await.is_err() {
                return 0;
            }
            let Some(event) = event else { break };
            let step = match event {
                LineEvent::Line(line) => menu.handle_line(&line, &catalog as &dyn Catalog).await,
                LineEvent::Cancel => menu.cancel(),
                LineEvent::Eof => return 0,
            };
            let _ = front.send(step.output.as_bytes()).await;
            match step.action {
                Some(MenuAction::Quit) => return 0,
                Some(MenuAction::Connect(choice)) => {
                    let (account, input) = match &choice.account {
                        AccountChoice::Account { password, .. } => (
                            choice.account.alias(),
                            InputCredentials {
                                username: None,
                                password: password.clone(),
                            },
                        ),
                        AccountChoice::Input { username, password } => (
                            choice.account.alias(),
                            InputCredentials {
                                username: Some(username.clone()),
                                password: Some(password.clone()),
                            },
                        ),
                        AccountChoice::User { .. } => {
                            (choice.account.alias(), InputCredentials::default())
                        }
                    };
                    let req = ConnectRequest {
                        asset_id: choice.asset_id,
                        protocol: choice.protocol.clone(),
                        account: AccountRef::Alias(account),
                        input,
                    };
                    match authorize_interactive(ctx, front, &req).await {
                        Ok(auth) => {
                            let (_, after) = asset_shell(ctx, front, &auth, &pty).await;
                            if after.cols != pty.cols || after.rows != pty.rows {
                                menu.resize(usize::from(after.cols), usize::from(after.rows));
                            }
                            pty = after;
                        }
                        Err(d) => {
                            let _ = front.send(red(&d).as_bytes()).await;
                        }
                    }
                    editor.reset();
                    editor.set_echo(true);
                    let back = menu.after_session();
                    let _ = front
                        .send(format!("{}{}", back.output, back.prompt).as_bytes())
                        .await;
                    editor.set_echo(back.echo);
                }
                None => {
                    editor.set_echo(step.echo);
                    let _ = front.send(step.prompt.as_bytes()).await;
                }
            }
            if !editor.has_pending() {
                break;
            }
        }
    }
}

/// `ssh user@account@asset@gateway command`: runs the command on the asset.
async fn exec(ctx: &ConnCtx, front: &mut SshFront, command: &str, pty: Option<&Pty>) -> u32 {
    let Some(t) = direct_target(ctx) else {
        let _ = front
            .send_stderr(
                b"A command needs a target: log in as user@account@asset to run it there\r\n",
            )
            .await;
        return 1;
    };
    if t.protocol != "ssh" {
        let _ = front.send_stderr(b"not ssh asset connection\r\n").await;
        return 1;
    }
    let auth = match authorized_direct(ctx, &t).await {
        Ok(a) => a,
        Err(msg) => {
            let _ = front.send_stderr(format!("{msg}\r\n").as_bytes()).await;
            return 1;
        }
    };
    let engine = &ctx.shared.engine;
    let conn = match target::connect(engine.store(), &auth.target).await {
        Ok(c) => c,
        Err(e) => {
            let message = e.user_message();
            let _ = front.send_stderr(format!("{message}\r\n").as_bytes()).await;
            let _ = engine
                .record_failed(
                    &auth,
                    SessionKind::Command,
                    &EndReason::ConnectFailed { message },
                )
                .await;
            return 255;
        }
    };
    let mut channel = match conn.open_session().await {
        Ok(c) => c,
        Err(e) => {
            let _ = front
                .send_stderr(format!("{}\r\n", e.user_message()).as_bytes())
                .await;
            conn.close().await;
            return 255;
        }
    };
    let mut session = match engine
        .start(
            &auth,
            SessionKind::Command,
            Some(match pty {
                Some(p) => (p.term.as_str(), p.cols, p.rows),
                None => ("exec", 80, 24),
            }),
        )
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "a session could not be started");
            let _ = front
                .send_stderr(b"The session cannot be recorded, so it was not started\r\n")
                .await;
            conn.close().await;
            return 255;
        }
    };
    let finished = pump::run_exec(
        &mut session,
        &mut channel,
        front,
        &auth.commands,
        command,
        pty.map(|p| pump::ExecPty {
            term: &p.term,
            cols: p.cols,
            rows: p.rows,
            modes: &p.modes,
        }),
        ctx.limits().await,
    )
    .await;
    session.end(&finished.reason).await;
    conn.close().await;
    match finished.reason {
        EndReason::Normal => finished.exit_status.unwrap_or(0),
        _ => 255,
    }
}

/// `direct-tcpip` (`ssh -L`): allowed only to a port of a permitted asset that the
/// permission grants a protocol on (see [`authorize_tunnel`]); the forward is a session of
/// type `tunnel`, with the bytes counted in its lifecycle log. The target connection is made
/// before the client's channel is accepted, so a refused forward fails the client's
/// channel request with a reason instead of opening and closing.
pub(crate) async fn open_tunnel(
    ctx: ConnCtx,
    channel: Channel<Msg>,
    reply: ChannelOpenHandle,
    host: String,
    port: u32,
    originator: String,
    originator_port: u32,
) {
    let refuse = |why: String| {
        tracing::info!(user = %ctx.user.username, %host, port, "port forwarding refused: {why}");
    };
    let Ok(port16) = u16::try_from(port) else {
        refuse("no such port".into());
        reply.reject(russh::ChannelOpenFailure::ConnectFailed).await;
        return;
    };
    let asset = match resolve_asset(&ctx, &host).await {
        Ok(a) => a,
        Err(e) => {
            refuse(e);
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return;
        }
    };
    let engine = ctx.shared.engine.clone();
    let auth = match authorize_tunnel(
        engine.store(),
        engine.vault(),
        &ctx.requester(),
        asset,
        port16,
        ctx.timeouts(),
    )
    .await
    {
        Ok(a) => a,
        Err(d) => {
            refuse(d.to_string());
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return;
        }
    };
    // Reach the asset's port: through the zone's gateway when it has one.
    let upstream = match &auth.target.gateway {
        Some(gw) => match target::connect(engine.store(), gw).await {
            Ok(conn) => match conn
                .open_direct_tcpip(&auth.target.address, port, &originator, originator_port)
                .await
            {
                Ok(ch) => Upstream::Gateway(conn, Box::new(ch.into_stream())),
                Err(e) => {
                    refuse(e.user_message());
                    conn.close().await;
                    reply.reject(russh::ChannelOpenFailure::ConnectFailed).await;
                    return;
                }
            },
            Err(e) => {
                refuse(e.user_message());
                reply.reject(russh::ChannelOpenFailure::ConnectFailed).await;
                return;
            }
        },
        None => {
            let addr = (auth.target.address.as_str(), port16);
            match tokio::time::timeout(
                auth.target.connect_timeout,
                tokio::net::TcpStream::connect(addr),
            )
            .await
            {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    Upstream::Direct(stream)
                }
                _ => {
                    refuse("the asset's port does not answer".into());
                    reply.reject(russh::ChannelOpenFailure::ConnectFailed).await;
                    return;
                }
            }
        }
    };
    let session = match engine.start(&auth, SessionKind::Tunnel, None).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "a tunnel session could not be started");
            reply.reject(russh::ChannelOpenFailure::ConnectFailed).await;
            return;
        }
    };
    reply.accept().await;
    tokio::spawn(async move {
        let mut client = channel.into_stream();
        let mut kill = session.kill_signal();
        let expiry = (session.date_expired() - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        let (reason, bytes) = match upstream {
            Upstream::Direct(mut tcp) => relay(&mut client, &mut tcp, &mut kill, expiry).await,
            Upstream::Gateway(conn, mut stream) => {
                let r = relay(&mut client, &mut stream, &mut kill, expiry).await;
                conn.close().await;
                r
            }
        };
        let _ = session
            .store()
            .insert_session_lifecycle_log(
                session.id,
                "tunnel_bytes",
                &format!("up={} down={}", bytes.0, bytes.1),
                session.user_display(),
            )
            .await;
        session.end(&reason).await;
    });
}

/// Where a forwarded port's bytes go.
enum Upstream {
    Direct(tokio::net::TcpStream),
    Gateway(
        target::TargetConnection,
        Box<russh::ChannelStream<russh::client::Msg>>,
    ),
}

/// Copies both ways until either side closes, the session is killed or the permission
/// expires; returns the reason and the bytes moved (client to asset, asset to client).
async fn relay<A, B>(
    a: &mut A,
    b: &mut B,
    kill: &mut tokio::sync::watch::Receiver<Option<EndReason>>,
    expiry: std::time::Duration,
) -> (EndReason, (u64, u64))
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::select! {
        r = tokio::io::copy_bidirectional(a, b) => (EndReason::Normal, r.unwrap_or((0, 0))),
        reason = async {
            loop {
                if kill.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                let reason = kill.borrow().clone();
                if let Some(reason) = reason {
                    return reason;
                }
            }
        } => (reason, (0, 0)),
        () = tokio::time::sleep(expiry) => (EndReason::PermissionExpired, (0, 0)),
    }
}
