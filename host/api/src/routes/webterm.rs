//! The web terminal and the auditors' live view, as websockets (the web UI contract's "Web
//! terminal" and "Live view").
//!
//! `GET /api/v1/terminal/ws/terminal/?token=…&cols=…&rows=…` redeems one of the caller's own
//! `web_cli` connection tokens, has the session engine decide the connection (login from `WT`),
//! connects the asset, starts a recorded session and runs the same pump as the SSH gateway.
//! The session runs in the engine ([`portcullis_session::web`]), not in this socket: a dropped
//! socket leaves it running for the grace period, and `?resume=<key>` attaches a new socket.
//!
//! `GET /api/v1/terminal/ws/monitor/?session_id=…` shows a live terminal session of this
//! process (web or SSH gateway) read-only, starting with the current screen; it needs
//! `terminal.monitor_session` in the session's org.
//!
//! A browser cannot put credentials in a websocket request's headers, so the session cookie
//! authenticates it, and any site the user visits could open one: for cookie-authenticated
//! sockets the `Origin` must be this server's own `Host` (CSRF for websockets).

use crate::AppState;
use crate::ctx::{AuthVia, Caller};
use crate::error::ApiError;
use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use portcullis_session::authorize::{
    AccountRef, ConnectRequest, Denied, InputCredentials, LoginFrom, Requester, TargetTimeouts,
    authorize, authorize_reviewed,
};
use portcullis_session::live::{EndReason, Engine, SessionKind};
use portcullis_session::pump::{FrontEvent, Limits, Notice};
use portcullis_session::review::{self, ReviewOutcome, ReviewRequest};
use portcullis_session::screen::{self, WatchItem};
use portcullis_session::target;
use portcullis_session::web::{Attachment, ResumeError, WebOutput, WebShell};
use portcullis_store::terminal::TokenRefusal;
use portcullis_store::tickets::TicketKind;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use uuid::Uuid;

/// The terminal type requested on the asset.
const TERM: &str = "xterm-256color";
/// Input events read from a socket and not yet taken by the pump; beyond this the socket is
/// not read (the browser's TCP window holds it back).
const PENDING_INPUT: usize = 256;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/terminal/ws/terminal/", get(terminal_ws))
        .route("/api/v1/terminal/ws/monitor/", get(monitor_ws))
}

/// Refuses a cookie-authenticated websocket whose `Origin` is not this server: another site's
/// page could otherwise open the user's terminal with the user's cookie.
fn check_origin(caller: &Caller, headers: &HeaderMap) -> Result<(), ApiError> {
    if caller.via != AuthVia::Session {
        return Ok(());
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same = match (origin, host) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Cross-origin websocket refused: the Origin must be this server".into(),
        ))
    }
}

fn engine(state: &AppState) -> Result<Engine, ApiError> {
    state
        .engine()
        .cloned()
        .ok_or_else(|| ApiError::Internal("the session engine is not wired".into()))
}

/// A terminal dimension from the query; absent or unreadable gives `default`.
fn dimension(q: &HashMap<String, String>, name: &str, default: u16) -> u16 {
    q.get(name)
        .and_then(|v| v.trim().parse::<u16>().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// `GET /api/v1/terminal/ws/terminal/?token=…|resume=…&cols=&rows=`.
async fn terminal_ws(
    caller: Caller,
    headers: HeaderMap,
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    check_origin(&caller, &headers)?;
    let engine = engine(&state)?;
    let (cols, rows) = screen::clamp(dimension(&q, "cols", 80), dimension(&q, "rows", 24));
    let resume = q.get("resume").cloned().filter(|k| !k.is_empty());
    let token = q.get("token").cloned().filter(|t| !t.is_empty());
    if resume.is_none() && token.is_none() {
        return Err(ApiError::field("token", "This field is required."));
    }
    // The caller and the parameters are judged before the handshake, so a refused caller
    // hears 403 whatever their request looks like.
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    Ok(ws.on_upgrade(move |mut socket| async move {
        let opened = match resume {
            Some(key) => engine
                .web()
                .resume(&engine, &key, caller.user_id, cols, rows)
                .await
                .map_err(|e| {
                    let code = match e {
                        ResumeError::Unknown => "resume_invalid",
                        ResumeError::NotYours => "resume_not_yours",
                        ResumeError::Unavailable => "resume_unavailable",
                    };
                    (code, e.to_string())
                }),
            None => {
                let token = token.unwrap_or_default();
                open(&state, &engine, &caller, &token, cols, rows, &mut socket).await
            }
        };
        match opened {
            Ok(attachment) => relay(socket, attachment).await,
            Err((code, message)) => {
                let _ = socket
                    .send(text(
                        &json!({"type": "error", "code": code, "message": message}),
                    ))
                    .await;
                close(&mut socket).await;
            }
        }
    }))
}

fn text(v: &Value) -> Message {
    Message::Text(Utf8Bytes::from(v.to_string()))
}

async fn close(socket: &mut WebSocket) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: axum::extract::ws::close_code::NORMAL,
            reason: Utf8Bytes::from_static(""),
        })))
        .await;
}

/// Redeems the token, decides, connects and launches the session. Errors are `(code,
/// message)` for the browser. A connection an asset-connect ACL sends to review waits on
/// `socket` for the reviewers' answer first ([`review_and_wait`]).
async fn open(
    state: &AppState,
    engine: &Engine,
    caller: &Caller,
    token: &str,
    cols: u16,
    rows: u16,
    socket: &mut WebSocket,
) -> Result<Attachment, (&'static str, String)> {
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "the web terminal could not start");
        (
            "internal_error",
            "The server could not start the session; try again later".to_owned(),
        )
    };
    let invalid = || {
        (
            "token_invalid",
            "The connection token is not valid (unknown, used, expired or not for the web terminal)"
                .to_owned(),
        )
    };
    let store = state.store();
    let id = Uuid::parse_str(token.trim()).map_err(|_| invalid())?;
    let record = store
        .connection_token(id)
        .await
        .map_err(|e| internal(&e))?
        .filter(|t| t.user_id == caller.user_id)
        .ok_or_else(invalid)?;
    if !record.is_active
        || record.is_expired(Utc::now())
        || record.connect_method != "web_cli"
        || !record.protocol.eq_ignore_ascii_case("ssh")
    {
        return Err(invalid());
    }
    match store
        .redeem_connection_token(id)
        .await
        .map_err(|e| internal(&e))?
    {
        Ok(_) => {}
        // The permission went away after the token was made: the same refusal as a
        // connect without a grant.
        Err(TokenRefusal::NotPermitted) => {
            let d = Denied::AssetNotPermitted;
            return Err((d.code(), d.to_string()));
        }
        Err(why) => {
            tracing::info!(token = %id, reason = why.as_str(), "web terminal token refused");
            return Err(invalid());
        }
    }
    let input_secret = if record.has_input_secret {
        store
            .connection_token_input_secret(state.vault(), id)
            .await
            .map_err(|e| internal(&e))?
    } else {
        None
    };
    let me = store
        .user_record(&caller.user_id.to_string())
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(invalid)?;
    let requester = Requester {
        user_id: me.id,
        username: me.username,
        name: me.name,
        remote_addr: caller.ip,
        login_from: LoginFrom::WebTerminal,
    };
    let request = ConnectRequest {
        asset_id: record.asset_id,
        protocol: "ssh".into(),
        account: AccountRef::Alias(record.account.clone()),
        input: InputCredentials {
            username: Some(record.input_username.clone()).filter(|u| !u.is_empty()),
            password: input_secret,
        },
    };
    let auth = match authorize(
        store,
        engine.vault(),
        &requester,
        &request,
        TargetTimeouts::default(),
    )
    .await
    {
        Ok(a) => a,
        Err(Denied::Store(e)) => return Err(internal(&e)),
        Err(Denied::AclReview { reviewers }) => {
            let ticket = review_and_wait(store, &requester, &request, reviewers, socket).await?;
            match authorize_reviewed(
                store,
                engine.vault(),
                &requester,
                &request,
                TargetTimeouts::default(),
                ticket,
            )
            .await
            {
                Ok(a) => a,
                Err(Denied::Store(e)) => return Err(internal(&e)),
                Err(d) => return Err((d.code(), d.to_string())),
            }
        }
        Err(d) => {
            tracing::info!(user = %requester.username, code = d.code(), "web terminal connection refused: {d}");
            return Err((d.code(), d.to_string()));
        }
    };
    let connection = match target::connect(store, &auth.target).await {
        Ok(c) => c,
        Err(e) => {
            let message = e.user_message();
            let _ = engine
                .record_failed(
                    &auth,
                    SessionKind::Normal,
                    &EndReason::ConnectFailed {
                        message: message.clone(),
                    },
                )
                .await;
            return Err(("connect_failed", message));
        }
    };
    let channel = match connection.open_session().await {
        Ok(c) => c,
        Err(e) => {
            connection.close().await;
            return Err(("connect_failed", e.user_message()));
        }
    };
    let session = match engine
        .start(&auth, SessionKind::Normal, Some((TERM, cols, rows)))
        .await
    {
        Ok(s) => s,
        Err(e) => {
            connection.close().await;
            tracing::error!(error = %e, "a web terminal session could not be started");
            return Err((
                "record_failed",
                "The session cannot be recorded, so it was not started".into(),
            ));
        }
    };
    let limits = match state.auth().security().await {
        Ok(s) => Limits {
            idle: Some(Duration::from_secs(u64::from(s.max_idle_minutes) * 60)),
            max_duration: Some(Duration::from_secs(u64::from(s.max_session_hours) * 3600)),
        },
        Err(e) => {
            tracing::warn!(error = %e, "security settings unreadable; using the defaults");
            let d = portcullis_auth::SecuritySettings::default();
            Limits {
                idle: Some(Duration::from_secs(u64::from(d.max_idle_minutes) * 60)),
                max_duration: Some(Duration::from_secs(u64::from(d.max_session_hours) * 3600)),
            }
        }
    };
    let actions = auth
        .actions
        .names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    Ok(engine
        .web()
        .launch(
            engine,
            WebShell {
                session,
                connection,
                channel,
                policy: auth.commands.clone(),
                term: TERM.into(),
                cols,
                rows,
                limits,
                actions,
            },
        )
        .await)
}

/// An asset-connect ACL with action `review` holds this connection: opens the review ticket
/// (as the SSH gateway does, see `portcullis_ssh::connect`), tells the browser
/// `{"type": "review", "ticket_id", "reviewers"}` and waits, polling the ticket, until a
/// reviewer answers (`{"type": "review_approved", "by"}`, then the ticket for
/// [`authorize_reviewed`]) or rejects, the ticket is closed, or the browser cancels
/// (`{"type": "cancel"}`) or leaves — both withdraw the ticket.
async fn review_and_wait(
    store: &portcullis_store::Store,
    who: &Requester,
    req: &ConnectRequest,
    reviewers: Vec<Uuid>,
    socket: &mut WebSocket,
) -> Result<Uuid, (&'static str, String)> {
    if reviewers.is_empty() {
        return Err((
            "acl_review",
            "The connection needs a review, but its rule names no reviewer".into(),
        ));
    }
    let asset = match store.asset_record(None, &req.asset_id.to_string()).await {
        Ok(Some(a)) => a,
        _ => return Err(("asset_not_found", "The asset is gone".into())),
    };
    let account = match &req.account {
        AccountRef::Alias(a) | AccountRef::Username(a) => a.clone(),
    };
    let request = ReviewRequest {
        org: asset.org_id,
        kind: TicketKind::LoginAssetConfirm,
        title: format!("Login asset review: {} -> {}", who.display(), asset.name),
        applicant_id: who.user_id,
        applicant_display: who.display(),
        reviewers,
        meta: json!({
            "asset_id": asset.id,
            "apply_login_user": who.display(),
            "apply_login_asset": asset.name,
            "apply_login_account": account,
        }),
    };
    let open = review::open(store, &request).await.map_err(|e| {
        tracing::error!(error = %e, "could not open a connection review");
        (
            "review_failed",
            "The review could not be requested".to_owned(),
        )
    })?;
    let asked = json!({"type": "review", "ticket_id": open.ticket_id,
                       "reviewers": open.reviewers});
    let by = who.display();
    if socket.send(text(&asked)).await.is_err() {
        review::cancel(store, open.ticket_id, &by).await;
        return Err(("review_cancelled", "Cancel confirm".into()));
    }
    let mut tick = tokio::time::interval(review::POLL_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => match review::poll(store, open.ticket_id).await {
                Ok(Some(ReviewOutcome::Approved(who_approved))) => {
                    let _ = socket
                        .send(text(&json!({"type": "review_approved", "by": who_approved})))
                        .await;
                    return Ok(open.ticket_id);
                }
                Ok(Some(ReviewOutcome::Rejected(who_rejected))) => {
                    return Err((
                        "review_rejected",
                        format!("{who_rejected} rejected the connection"),
                    ));
                }
                Ok(Some(ReviewOutcome::Closed)) => {
                    return Err(("review_closed", "The review was closed".into()));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not read a review ticket"),
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let kind = serde_json::from_str::<Value>(t.as_str())
                        .ok()
                        .and_then(|v| v["type"].as_str().map(str::to_owned));
                    let gone = match kind.as_deref() {
                        Some("cancel") => true,
                        // The browser's keep-alive, as in the session.
                        Some("ping") => socket.send(text(&json!({"type": "pong"}))).await.is_err(),
                        _ => false,
                    };
                    if gone {
                        review::cancel(store, open.ticket_id, &by).await;
                        return Err(("review_cancelled", "Cancel confirm".into()));
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    review::cancel(store, open.ticket_id, &by).await;
                    return Err(("review_cancelled", "Cancel confirm".into()));
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Moves one socket's traffic: keystrokes and resizes to the pump, output and session
/// messages to the browser. Input never waits on output or the other way round, so a full
/// queue on one side cannot stall the other.
async fn relay(mut socket: WebSocket, attachment: Attachment) {
    let Attachment {
        session_id,
        resume_key,
        grace,
        meta,
        input,
        mut output,
    } = attachment;
    let hello = json!({
        "type": "session",
        "session_id": session_id,
        "resume": resume_key,
        "asset": meta.asset,
        "account": meta.account,
        "actions": meta.actions,
        "grace_seconds": grace.as_secs(),
    });
    if socket.send(text(&hello)).await.is_err() {
        return;
    }
    let mut pending: VecDeque<FrontEvent> = VecDeque::new();
    let mut pump_open = true;
    loop {
        tokio::select! {
            permit = input.reserve(), if pump_open && !pending.is_empty() => match permit {
                Ok(permit) => {
                    if let Some(ev) = pending.pop_front() {
                        permit.send(ev);
                    }
                }
                Err(_) => {
                    pump_open = false;
                    pending.clear();
                }
            },
            msg = socket.recv(), if pending.len() < PENDING_INPUT => match msg {
                Some(Ok(Message::Binary(data))) => {
                    if pump_open && !data.is_empty() {
                        pending.push_back(FrontEvent::Data(data.to_vec()));
                    }
                }
                Some(Ok(Message::Text(t))) => match client_message(t.as_str()) {
                    Some(ClientMessage::Resize { cols, rows }) if pump_open => {
                        pending.push_back(FrontEvent::Resize { cols, rows });
                    }
                    Some(ClientMessage::Ping)
                        if socket.send(text(&json!({"type": "pong"}))).await.is_err() =>
                    {
                        return;
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    if pump_open {
                        hand_over(&input, &mut pending, &mut output).await;
                    }
                    return;
                }
                Some(Ok(_)) => {}
            },
            out = output.recv() => {
                let (msg, last) = match out {
                    Some(WebOutput::Data(b)) => (Message::Binary(b), false),
                    Some(WebOutput::Notice(Notice::Locked { by })) => {
                        (text(&json!({"type": "locked", "by": by})), false)
                    }
                    Some(WebOutput::Notice(Notice::Unlocked)) => {
                        (text(&json!({"type": "unlocked"})), false)
                    }
                    Some(WebOutput::Closed { reason, message }) => (
                        text(&json!({"type": "closed", "reason": reason, "message": message})),
                        true,
                    ),
                    Some(WebOutput::Replaced) => (
                        text(&json!({"type": "closed", "reason": "replaced",
                            "message": "The session was resumed in another window"})),
                        true,
                    ),
                    // The session ended without a word (it was ending as this socket came).
                    None => (
                        text(&json!({"type": "closed", "reason": "normal",
                            "message": "The session is closed"})),
                        true,
                    ),
                };
                if socket.send(msg).await.is_err() {
                    return;
                }
                if last {
                    close(&mut socket).await;
                    return;
                }
            }
        }
    }
}

/// How long a departing socket may take to hand its last input to the pump.
const HAND_OVER: Duration = Duration::from_secs(5);

/// Gives the pump the input a browser sent before its socket went away: keystrokes the
/// server received reach the target even when the socket closes right after them. Output
/// arriving meanwhile is dropped (the session's screen keeps it for a resume), so a pump
/// waiting to send to this socket cannot hold the hand-over up.
async fn hand_over(
    input: &tokio::sync::mpsc::Sender<FrontEvent>,
    pending: &mut VecDeque<FrontEvent>,
    output: &mut tokio::sync::mpsc::Receiver<WebOutput>,
) {
    let _ = tokio::time::timeout(HAND_OVER, async {
        while !pending.is_empty() {
            tokio::select! {
                permit = input.reserve() => match (permit, pending.pop_front()) {
                    (Ok(permit), Some(ev)) => permit.send(ev),
                    _ => return,
                },
                out = output.recv() => if out.is_none() {
                    return;
                },
            }
        }
    })
    .await;
}

/// What a browser may send as text.
enum ClientMessage {
    Resize { cols: u16, rows: u16 },
    Ping,
}

fn client_message(raw: &str) -> Option<ClientMessage> {
    let v: Value = serde_json::from_str(raw).ok()?;
    match v.get("type")?.as_str()? {
        "resize" => {
            let dim = |k: &str| {
                v.get(k)
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| *n > 0)
            };
            let (cols, rows) = screen::clamp(dim("cols")?, dim("rows")?);
            Some(ClientMessage::Resize { cols, rows })
        }
        "ping" => Some(ClientMessage::Ping),
        _ => None,
    }
}

/// `GET /api/v1/terminal/ws/monitor/?session_id=…`.
async fn monitor_ws(
    caller: Caller,
    headers: HeaderMap,
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    check_origin(&caller, &headers)?;
    let id = q
        .get("session_id")
        .and_then(|s| Uuid::parse_str(s.trim()).ok())
        .ok_or_else(|| ApiError::field("session_id", "Must be a valid UUID."))?;
    // A session of an org the caller may not monitor does not exist for them.
    let record = state
        .store()
        .session_record(None, id)
        .await?
        .filter(|s| {
            caller
                .roles
                .grants(Some(s.org_id), "terminal.monitor_session")
        })
        .ok_or(ApiError::NotFound("Session"))?;
    let engine = engine(&state)?;
    let Some(mut watch) = engine.watch(record.id) else {
        return Err(ApiError::NotFound("Session"));
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    Ok(ws.on_upgrade(move |mut socket| async move {
        let hello = json!({
            "type": "session",
            "session_id": watch.info.session_id,
            "user": watch.info.user,
            "asset": watch.info.asset,
            "account": watch.info.account,
            "cols": watch.snapshot.cols,
            "rows": watch.snapshot.rows,
        });
        if socket.send(text(&hello)).await.is_err()
            || socket
                .send(Message::Binary(std::mem::take(&mut watch.snapshot.screen).into()))
                .await
                .is_err()
        {
            return;
        }
        let (mut cols, mut rows) = (watch.snapshot.cols, watch.snapshot.rows);
        loop {
            tokio::select! {
                item = watch.watcher.next() => {
                    let sent = match item {
                        WatchItem::Output(b) => socket.send(Message::Binary(b)).await,
                        WatchItem::Resize { cols: c, rows: r } => {
                            (cols, rows) = (c, r);
                            socket.send(text(&json!({"type": "resize", "cols": c, "rows": r}))).await
                        }
                        WatchItem::Redraw(snap) => {
                            if (snap.cols, snap.rows) != (cols, rows) {
                                (cols, rows) = (snap.cols, snap.rows);
                                let resize = json!({"type": "resize", "cols": cols, "rows": rows});
                                if socket.send(text(&resize)).await.is_err() {
                                    return;
                                }
                            }
                            socket.send(Message::Binary(snap.screen.into())).await
                        }
                        WatchItem::Ended(reason) => {
                            let _ = socket.send(text(&json!({"type": "closed", "reason": reason}))).await;
                            close(&mut socket).await;
                            return;
                        }
                    };
                    if sent.is_err() {
                        return;
                    }
                }
                // Read-only: whatever the client sends is dropped; only its leaving matters.
                msg = socket.recv() => match msg {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                    Some(Ok(_)) => {}
                },
            }
        }
    }))
}
