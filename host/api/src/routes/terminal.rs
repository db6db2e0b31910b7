//! The terminal app's control side (§4.15): terminal tasks (kill and lock a running session),
//! the caller's own sessions, session replays; and the user's connection tokens (§2.9), which
//! live under `/authentication/` and `/users/` in JumpServer but belong with the sessions they
//! open.
//!
//! Killing and locking do not touch the session here: they write a `terminal_tasks` row that
//! the host running the session picks up (the API may not be in the same process as the
//! session). Replays are files under the recordings directory; the database only names them,
//! and that name is never trusted to stay inside the directory.
//!
//! Connection tokens are always the caller's own and run in the root org, as in JumpServer:
//! whether the caller may have one is decided by the core's grant on the asset
//! (`Store::user_asset_grant`), never by the token endpoint itself.

use super::audits::{Kind, list_spec, session_json};
use super::common::{audit, caller_name, check_fields, flag, object, text};
use crate::ctx::Caller;
use crate::error::{ApiError, bad_json};
use crate::fmt::{choice, datetime, opt_datetime, related_input, stub};
use crate::list::ListQuery;
use crate::{AppState, Host};
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use chrono::{Duration, Utc};
use portcullis_core::perm::{Actions, AssetGrant};
use portcullis_core::secret::SecretString;
use portcullis_store::audits::Cond;
use portcullis_store::terminal::{
    ConnectionTokenRecord, NewConnectionToken, TaskFilter, TerminalTask,
};
use rand::Rng;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Component, PathBuf};
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    let mut r = Router::new()
        .route("/api/v1/terminal/tasks/", get(task_list))
        .route("/api/v1/terminal/tasks/kill-session/", post(kill_session))
        .route(
            "/api/v1/terminal/tasks/toggle-lock-session/",
            post(toggle_lock_session),
        )
        .route(
            "/api/v1/terminal/tasks/{id}/",
            get(task_detail).patch(task_patch).put(task_patch),
        )
        .route("/api/v1/terminal/my-sessions/", get(my_sessions))
        .route("/api/v1/terminal/sessions/{id}/replay/", get(replay_meta))
        .route(
            "/api/v1/terminal/sessions/{id}/replay/download/",
            get(replay_download),
        );
    for base in [
        "/api/v1/authentication/connection-token",
        "/api/v1/users/connection-token",
    ] {
        r = r
            .route(&format!("{base}/"), get(token_list).post(token_create))
            .route(&format!("{base}/{{id}}/"), get(token_detail))
            .route(&format!("{base}/{{id}}/expire/"), patch(token_expire))
            .route(&format!("{base}/{{id}}/reuse/"), patch(token_reuse));
    }
    r
}

// ---------------------------------------------------------------------------------------------
// Terminal tasks
// ---------------------------------------------------------------------------------------------

fn task_label(name: &str) -> &'static str {
    match name {
        "kill_session" => "Kill session",
        "lock_session" => "Lock session",
        "unlock_session" => "Unlock session",
        _ => "Unknown",
    }
}

fn task_json(t: &TerminalTask) -> Value {
    json!({
        "id": t.id,
        "name": choice(t.name.clone(), task_label(&t.name)),
        "args": t.args,
        "kwargs": t.kwargs,
        "is_finished": t.is_finished,
        "date_created": datetime(t.date_created),
        "date_finished": opt_datetime(t.date_finished),
        "created_by": t.created_by,
    })
}

/// Tasks are visible in the org of the session they name (`None` = the root view: all).
async fn task_list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let name = q
        .filters
        .get("name")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let session = match q.filters.get("args").filter(|v| !v.trim().is_empty()) {
        Some(v) => Some(
            Uuid::parse_str(v.trim())
                .map_err(|_| ApiError::field("args", "Must be a valid UUID."))?,
        ),
        None => None,
    };
    let filter = TaskFilter {
        org: caller.org,
        name,
        session,
        is_finished: q.flag("is_finished")?,
        id: None,
        oldest_first: q.order.as_deref() == Some("date_created"),
        limit,
        offset,
    };
    let (count, tasks) = state.store().list_terminal_tasks(&filter).await?;
    let rows = tasks.iter().map(task_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn task_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("Task"))?;
    let task = state
        .store()
        .terminal_task(caller.org, id)
        .await?
        .ok_or(ApiError::NotFound("Task"))?;
    Ok(Json(task_json(&task)))
}

/// `PATCH /terminal/tasks/<id>/ {"is_finished": true}`: how a component reports a task done
/// (§5.9). Tasks are not org-bound, so only a system-level grant (components, system admins)
/// may finish one; `is_finished` cannot be set back to false.
async fn task_patch(
    _caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("Task"))?;
    let body = object(body)?;
    check_fields(
        &body,
        &[
            "is_finished",
            "id",
            "name",
            "args",
            "kwargs",
            "date_created",
            "date_finished",
            "created_by",
        ],
    )?;
    if state.store().terminal_task(None, id).await?.is_none() {
        return Err(ApiError::NotFound("Task"));
    }
    match flag(&body, "is_finished")? {
        Some(true) => {
            state.store().finish_terminal_task(id).await?;
        }
        Some(false) => {
            return Err(ApiError::field(
                "is_finished",
                "A finished task cannot be reopened.",
            ));
        }
        None => {}
    }
    let task = state
        .store()
        .terminal_task(None, id)
        .await?
        .ok_or(ApiError::NotFound("Task"))?;
    Ok(Json(task_json(&task)))
}

/// Creates `name` tasks for those of `ids` that are running sessions of the caller's org, and
/// logs each. Returns the accepted ids; unknown, finished or foreign sessions are left out
/// silently, as JumpServer does (the answer says which were accepted).
async fn session_tasks(
    state: &AppState,
    caller: &Caller,
    name: &str,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, ApiError> {
    let online = state.store().online_session_ids(caller.org, ids).await?;
    let by = caller_name(state, caller).await;
    let kwargs = if name == "kill_session" {
        json!({"terminated_by": by, "created_by": by})
    } else {
        json!({"created_by": by})
    };
    for id in &online {
        state
            .store()
            .create_terminal_task(name, &id.to_string(), &kwargs, &by)
            .await?;
        let session = state.store().session_record(caller.org, *id).await?;
        let resource = session
            .as_ref()
            .map(|s| format!("{} -> {}", s.user, s.asset))
            .unwrap_or_else(|| id.to_string());
        let action = if name == "kill_session" {
            "close"
        } else {
            "update"
        };
        let diff = json!({"task": [Value::Null, name]});
        let org = session.map_or_else(|| caller.write_org(), |s| s.org_id);
        if let Err(e) = state
            .store()
            .operate_log(
                org,
                &by,
                action,
                "Session",
                &resource,
                &id.to_string(),
                &caller.ip.to_string(),
                &diff,
            )
            .await
        {
            tracing::error!(error = %e, "could not write the operation log");
        }
    }
    Ok(online)
}

/// `POST /terminal/tasks/kill-session/` with a JSON array of session ids → `{"ok": [accepted]}`.
async fn kill_session(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let Value::Array(items) = body else {
        return Err(ApiError::field(
            "non_field_errors",
            "Expected a list of items.",
        ));
    };
    // Ids that are not UUIDs cannot name a session: they are simply not accepted.
    let ids: Vec<Uuid> = items
        .iter()
        .filter_map(|v| related_input(v).and_then(|s| Uuid::parse_str(s.trim()).ok()))
        .collect();
    let ok = session_tasks(&state, &caller, "kill_session", &ids).await?;
    Ok(Json(json!({"ok": ok})))
}

/// `POST /terminal/tasks/toggle-lock-session/ {session_id, task_name}` → `{"ok": [id]}` (empty
/// when the session is not running in the caller's org).
async fn toggle_lock_session(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    check_fields(&body, &["session_id", "task_name"])?;
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let session = match text(&body, "session_id")? {
        None => {
            errors.insert("session_id".into(), vec!["This field is required.".into()]);
            None
        }
        Some(s) => match Uuid::parse_str(&s) {
            Ok(id) => Some(id),
            Err(_) => {
                errors.insert("session_id".into(), vec!["Must be a valid UUID.".into()]);
                None
            }
        },
    };
    let task = match text(&body, "task_name")?.as_deref() {
        Some(t @ ("lock_session" | "unlock_session")) => Some(t.to_owned()),
        None | Some("") => {
            errors.insert("task_name".into(), vec!["This field is required.".into()]);
            None
        }
        Some(other) => {
            errors.insert(
                "task_name".into(),
                vec![format!("\"{other}\" is not a valid choice.")],
            );
            None
        }
    };
    let (Some(session), Some(task), true) = (session, task, errors.is_empty()) else {
        return Err(ApiError::Fields(errors));
    };
    let ok = session_tasks(&state, &caller, &task, &[session]).await?;
    Ok(Json(json!({"ok": ok})))
}

// ---------------------------------------------------------------------------------------------
// The caller's own sessions
// ---------------------------------------------------------------------------------------------

/// `GET /terminal/my-sessions/`: the caller's sessions in every org (they are the caller's own,
/// so no role is needed and no org hides them), with the session list's filters.
async fn my_sessions(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let mut spec = list_spec(
        &q,
        None,
        &[
            ("asset", Kind::Text),
            ("asset_id", Kind::Uuid),
            ("account", Kind::Text),
            ("protocol", Kind::Text),
            ("login_from", Kind::Text),
            ("type", Kind::Text),
            ("is_finished", Kind::Flag),
            ("is_success", Kind::Flag),
            ("has_replay", Kind::Flag),
            ("id", Kind::Uuid),
        ],
    )?;
    spec.filters
        .push(("user_id", Cond::Text(caller.user_id.to_string())));
    let (count, rows) = state.store().list_sessions(&spec).await?;
    let rows = rows.iter().map(session_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

// ---------------------------------------------------------------------------------------------
// Replays
// ---------------------------------------------------------------------------------------------

fn no_replay() -> ApiError {
    ApiError::NotFound("Session replay")
}

/// The replay file of a session visible in `org`, confined to the recordings directory, with
/// its size. The stored path must be relative and made of plain names only, and the resolved
/// file (symlinks followed) must still lie inside the directory: a row that was tampered with,
/// or a symlink planted in the directory, cannot make the API serve `/etc/passwd`.
async fn replay_file(
    state: &AppState,
    org: Option<Uuid>,
    id: Uuid,
) -> Result<(PathBuf, u64), ApiError> {
    let rel = state
        .store()
        .session_replay_path(org, id)
        .await?
        .ok_or_else(no_replay)?;
    let rel_path = std::path::Path::new(&rel);
    if rel_path
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        tracing::warn!(session = %id, path = %rel, "refused a replay path that leaves the recordings directory");
        return Err(no_replay());
    }
    let root = tokio::fs::canonicalize(state.recordings_dir())
        .await
        .map_err(|_| no_replay())?;
    let full = tokio::fs::canonicalize(root.join(rel_path))
        .await
        .map_err(|_| no_replay())?;
    if !full.starts_with(&root) {
        tracing::warn!(session = %id, path = %rel, "refused a replay that resolves outside the recordings directory");
        return Err(no_replay());
    }
    let meta = tokio::fs::metadata(&full).await.map_err(|_| no_replay())?;
    if !meta.is_file() {
        return Err(no_replay());
    }
    Ok((full, meta.len()))
}

/// `GET /terminal/sessions/<id>/replay/`: where to fetch the replay and what it is.
async fn replay_meta(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("Session"))?;
    let s = state
        .store()
        .session_record(caller.org, id)
        .await?
        .ok_or(ApiError::NotFound("Session"))?;
    let (_, size) = replay_file(&state, caller.org, id).await?;
    Ok(Json(json!({
        "type": "asciicast",
        "src": format!("/api/v1/terminal/sessions/{id}/replay/download/"),
        "status": "success",
        "timezone": "UTC",
        "size": size,
        "user": s.user,
        "asset": s.asset,
        "account": s.account,
        "date_start": datetime(s.date_start),
        "date_end": opt_datetime(s.date_end),
    })))
}

/// `GET /terminal/sessions/<id>/replay/download/`: the asciicast file, streamed from disk.
/// Needs `terminal.download_sessionreplay` (JumpServer's codename for this action; the same
/// built-in roles hold it as `view_sessionreplay`). Each download is an operation-log entry.
async fn replay_download(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("Session"))?;
    let s = state
        .store()
        .session_record(caller.org, id)
        .await?
        .ok_or(ApiError::NotFound("Session"))?;
    let (path, size) = replay_file(&state, caller.org, id).await?;
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| no_replay())?;
    let compact = {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let mut start = [0u8; portcullis_core::cast::MAGIC.len()];
        let n = file.read(&mut start).await.map_err(|_| no_replay())?;
        file.rewind().await.map_err(|_| no_replay())?;
        portcullis_core::cast::is_compact(&start[..n])
    };
    audit(
        &state,
        &caller,
        "Session replay",
        "download",
        &format!("{} -> {}", s.user, s.asset),
        &id.to_string(),
        json!({}),
    )
    .await;
    let disposition = (
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{id}.cast\""),
    );
    let content_type = (header::CONTENT_TYPE, "application/x-asciicast".to_owned());
    if compact {
        // The gateway's compact recording: converted to asciicast while it streams.
        let body = Body::from_stream(asciicast_stream(file.into_std().await));
        return Ok((StatusCode::OK, [content_type, disposition], body).into_response());
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        StatusCode::OK,
        [
            content_type,
            (header::CONTENT_LENGTH, size.to_string()),
            disposition,
        ],
        body,
    )
        .into_response())
}

/// Converts a compact recording to asciicast v2 on a blocking thread, handing the text to
/// the response in chunks through a small bounded queue (a slow client slows the
/// conversion; nothing is held whole in memory).
fn asciicast_stream(
    mut file: std::fs::File,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        /// Sends what is written, 64 KiB at a time.
        struct Chunks(
            tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
            Vec<u8>,
        );
        impl Write for Chunks {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.1.extend_from_slice(buf);
                if self.1.len() >= 64 * 1024 {
                    self.flush()?;
                }
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                if self.1.is_empty() {
                    return Ok(());
                }
                let chunk = std::mem::take(&mut self.1);
                self.0
                    .blocking_send(Ok(chunk))
                    .map_err(|_| std::io::Error::other("the client went away"))
            }
        }
        let mut magic = [0u8; portcullis_core::cast::MAGIC.len()];
        let mut out = Chunks(tx.clone(), Vec::new());
        let result = file
            .read_exact(&mut magic)
            .and_then(|()| portcullis_core::cast::to_asciicast(&mut file, &mut out))
            .and_then(|_| out.flush());
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

// ---------------------------------------------------------------------------------------------
// Connection tokens
// ---------------------------------------------------------------------------------------------

/// Lifetime of a one-time token (`CONNECTION_TOKEN_ONETIME_EXPIRATION`).
const ONETIME_SECONDS: i64 = 300;
/// Lifetime of a reusable token (`CONNECTION_TOKEN_REUSABLE_EXPIRATION`).
const REUSABLE_SECONDS: i64 = 30 * 24 * 3600;
/// The setting that allows reusable tokens (default false, as in JumpServer).
const REUSABLE_SETTING: &str = "CONNECTION_TOKEN_REUSABLE";
/// Length of a token value.
const VALUE_LEN: usize = 16;

/// Read-only fields a client may echo back; accepted and ignored.
pub(crate) const TOKEN_ECHOED: &[&str] = &[
    "id",
    "value",
    "user",
    "user_display",
    "asset_display",
    "actions",
    "expire_time",
    "date_expired",
    "from_ticket",
    "from_ticket_info",
    "face_monitor_token",
    "remote_addr",
    "org_id",
    "org_name",
    "date_created",
    "created_by",
    "is_active",
];

/// Fields a client writes on create.
pub(crate) const TOKEN_WRITABLE: &[&str] = &[
    "asset",
    "account",
    "protocol",
    "connect_method",
    "input_username",
    "input_secret",
    "input_secret_type",
    "connect_options",
    "is_reusable",
];

/// The token endpoints answer validation errors flattened, `{"detail": "msg; msg"}` (§2.9).
fn flattened(e: ApiError) -> ApiError {
    match e {
        ApiError::Fields(map) => {
            let text = map
                .iter()
                .flat_map(|(f, msgs)| msgs.iter().map(move |m| format!("{f}: {m}")))
                .collect::<Vec<_>>()
                .join("; ");
            ApiError::Invalid(json!({"detail": text}))
        }
        other => other,
    }
}

/// 400 `{"code", "detail"}`, the connection-token refusal shape.
fn token_refusal(code: &str, detail: &str) -> ApiError {
    ApiError::Invalid(json!({"code": code, "detail": detail}))
}

fn perm_account_invalid() -> ApiError {
    token_refusal("perm_account_invalid", "Account not found")
}

/// Whether reusable tokens are allowed by the settings.
async fn reuse_allowed(state: &AppState) -> Result<bool, ApiError> {
    Ok(matches!(
        state.store().setting(REUSABLE_SETTING).await?,
        Some(Value::Bool(true))
    ))
}

/// The server's defaults for what the client left out of `connect_options` (§2.9).
fn connect_options(given: Option<&Value>) -> Result<Value, ApiError> {
    let mut options = match given {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(ApiError::field("connect_options", "Expected a dictionary.")),
    };
    for (k, v) in [
        ("lang", json!("en")),
        ("terminal_theme_name", json!("Default")),
        ("file_name_conflict_resolution", json!("replace")),
        ("backspaceAsCtrlH", json!(false)),
        ("resolution", json!("auto")),
    ] {
        options.entry(k).or_insert(v);
    }
    Ok(Value::Object(options))
}

/// The actions the token's account carries now (empty when the grant is gone).
fn token_actions(grant: Option<&AssetGrant>, alias: &str) -> Value {
    let actions = grant
        .and_then(|g| g.account(alias))
        .map_or(Actions::empty(), |a| a.actions);
    Value::Array(
        actions
            .names()
            .iter()
            .map(|n| choice(*n, &title(n)))
            .collect(),
    )
}

fn title(value: &str) -> String {
    let mut chars = value.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The token serializer. `value` is shown only where the caller is the owner and asked for
/// this one token (create and detail); lists never carry it, so a list leaked to a log or a
/// screen share does not hand out working credentials. `input_secret` is write-only.
fn token_json(t: &ConnectionTokenRecord, value: Option<&SecretString>, actions: Value) -> Value {
    let now = Utc::now();
    let mut v = json!({
        "id": t.id,
        "user": stub(t.user_id, &t.user_display),
        "user_display": t.user_display,
        "asset": stub(t.asset_id, &t.asset_name),
        "asset_display": t.asset_name,
        "account": t.account,
        "protocol": t.protocol,
        "connect_method": t.connect_method,
        "input_username": t.input_username,
        "input_secret_type": "password",
        "connect_options": t.connect_options,
        "actions": actions,
        "is_active": t.is_active,
        "is_reusable": t.is_reusable,
        "is_expired": t.is_expired(now),
        "expire_time": (t.date_expired - now).num_seconds().max(0),
        "date_expired": datetime(t.date_expired),
        "from_ticket": Value::Null,
        "from_ticket_info": Value::Null,
        "face_monitor_token": Value::Null,
        "remote_addr": t.remote_addr,
        "org_id": t.org_id,
        "org_name": t.org_name,
        "date_created": datetime(t.date_created),
        "created_by": t.created_by,
    });
    if let (Some(secret), Value::Object(m)) = (value, &mut v) {
        m.insert("value".into(), json!(secret.expose()));
    }
    v
}

/// The caller's own unexpired token, or 404 (another user's token does not exist for them).
async fn own_token(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<ConnectionTokenRecord, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("Connection token"))?;
    state
        .store()
        .connection_token(id)
        .await?
        .filter(|t| t.user_id == caller.user_id && !t.is_expired(Utc::now()))
        .ok_or(ApiError::NotFound("Connection token"))
}

async fn token_list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let (count, tokens) = state
        .store()
        .list_connection_tokens(caller.user_id, limit, offset)
        .await?;
    let mut rows = Vec::with_capacity(tokens.len());
    for t in &tokens {
        let grant = state
            .store()
            .user_asset_grant(caller.user_id, t.asset_id)
            .await?;
        rows.push(token_json(
            t,
            None,
            token_actions(grant.as_ref(), &t.account),
        ));
    }
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn token_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = own_token(&state, &caller, &id).await?;
    let value = state
        .store()
        .connection_token_secret(state.vault(), t.id)
        .await?;
    let grant = state
        .store()
        .user_asset_grant(caller.user_id, t.asset_id)
        .await?;
    Ok(Json(token_json(
        &t,
        value.as_ref(),
        token_actions(grant.as_ref(), &t.account),
    )))
}

/// `POST …/connection-token/`: checks the asset, account alias and protocol against the
/// caller's grant (the `connect` action included) before anything is written.
async fn token_create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body = object(body).map_err(flattened)?;
    let known: Vec<&str> = TOKEN_WRITABLE.iter().chain(TOKEN_ECHOED).copied().collect();
    check_fields(&body, &known).map_err(flattened)?;
    let parsed = parse_token_body(&body).map_err(flattened)?;

    // A missing asset is a validation error; an existing one the caller may not use is
    // indistinguishable from a wrong account (JumpServer's `perm_account_invalid`).
    if state
        .store()
        .asset_record(None, &parsed.asset.to_string())
        .await?
        .is_none()
    {
        return Err(flattened(ApiError::field(
            "asset",
            format!("Invalid pk \"{}\" - object does not exist.", parsed.asset),
        )));
    }
    let grant = state
        .store()
        .user_asset_grant(caller.user_id, parsed.asset)
        .await?
        .ok_or_else(perm_account_invalid)?;
    let account = grant
        .account(&parsed.account)
        .ok_or_else(perm_account_invalid)?;
    if grant.protocol(&parsed.protocol).is_none() || !account.actions.contains(Actions::CONNECT) {
        return Err(perm_account_invalid());
    }
    let now = Utc::now();
    if account.date_expired <= now {
        return Err(token_refusal("perm_expired", "Permission expired"));
    }

    let me = state
        .store()
        .user_record(&caller.user_id.to_string())
        .await?
        .ok_or(ApiError::NotAuthenticated)?;
    let input_username = match (parsed.account.as_str(), parsed.input_username) {
        ("@USER", None) => me.username.clone(),
        (_, given) => given.unwrap_or_default(),
    };
    let reusable = parsed.is_reusable && reuse_allowed(&state).await?;
    let lifetime = if reusable {
        REUSABLE_SECONDS
    } else {
        ONETIME_SECONDS
    };
    let org = state
        .store()
        .asset_record(None, &parsed.asset.to_string())
        .await?
        .map(|a| a.org_id)
        .ok_or(ApiError::NotFound("Asset"))?;
    let value = SecretString::new(
        (0..VALUE_LEN)
            .map(|_| char::from(OsRng.sample(Alphanumeric)))
            .collect::<String>(),
    );
    let created_by = format!("{}({})", me.name, me.username);
    let id = state
        .store()
        .create_connection_token(
            state.vault(),
            &NewConnectionToken {
                org,
                user_id: caller.user_id,
                asset_id: parsed.asset,
                account: parsed.account.clone(),
                protocol: grant
                    .protocol(&parsed.protocol)
                    .map_or(parsed.protocol.clone(), |p| p.name.clone()),
                connect_method: parsed.connect_method,
                value: value.clone(),
                input_username,
                input_secret: parsed.input_secret,
                connect_options: parsed.connect_options,
                is_active: true,
                is_reusable: reusable,
                remote_addr: caller.ip.to_string(),
                date_expired: now + Duration::seconds(lifetime),
                created_by,
            },
        )
        .await?;
    let t = state
        .store()
        .connection_token(id)
        .await?
        .ok_or(ApiError::NotFound("Connection token"))?;
    audit(
        &state,
        &caller,
        "Connection token",
        "create",
        &format!("{}({})", t.asset_name, t.account),
        &id.to_string(),
        json!({}),
    )
    .await;
    let out = token_json(&t, Some(&value), token_actions(Some(&grant), &t.account));
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// A create body, validated field by field.
struct TokenBody {
    asset: Uuid,
    account: String,
    protocol: String,
    connect_method: String,
    input_username: Option<String>,
    input_secret: Option<SecretString>,
    connect_options: Value,
    is_reusable: bool,
}

fn parse_token_body(body: &Map<String, Value>) -> Result<TokenBody, ApiError> {
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut fail = |f: &str, m: &str| {
        errors.entry(f.to_owned()).or_default().push(m.to_owned());
    };
    let asset = match body.get("asset") {
        None | Some(Value::Null) => {
            fail("asset", "This field is required.");
            None
        }
        Some(v) => match related_input(v).and_then(|s| Uuid::parse_str(s.trim()).ok()) {
            Some(id) => Some(id),
            None => {
                fail("asset", "Must be a valid UUID.");
                None
            }
        },
    };
    let mut required = |name: &str| -> Result<Option<String>, ApiError> {
        let v = text(body, name)?.filter(|s| !s.is_empty());
        if v.is_none() {
            fail(name, "This field is required.");
        }
        Ok(v)
    };
    let account = required("account")?;
    let protocol = required("protocol")?;
    let connect_method = text(body, "connect_method")?.unwrap_or_default();
    let input_username = text(body, "input_username")?.filter(|s| !s.is_empty());
    // Secrets are taken as sent (not trimmed): spaces may be part of a password.
    let input_secret = match body.get("input_secret") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(SecretString::new(s.clone())),
        Some(_) => return Err(ApiError::field("input_secret", "Not a valid string.")),
    };
    let connect_options = connect_options(body.get("connect_options"))?;
    let is_reusable = flag(body, "is_reusable")?.unwrap_or(false);
    match (asset, account, protocol) {
        (Some(asset), Some(account), Some(protocol)) if errors.is_empty() => Ok(TokenBody {
            asset,
            account,
            protocol,
            connect_method,
            input_username,
            input_secret,
            connect_options,
            is_reusable,
        }),
        _ => Err(ApiError::Fields(errors)),
    }
}

/// `PATCH …/<id>/expire/` → 204: the token stops working now.
async fn token_expire(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let t = own_token(&state, &caller, &id).await?;
    state.store().expire_connection_token(t.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH …/<id>/reuse/ {"is_reusable": bool}`. Refused with 400 unless the
/// `CONNECTION_TOKEN_REUSABLE` setting is true (it is false by default, as in JumpServer). A
/// reusable token lasts 30 days from its creation, a one-time one 300 s.
async fn token_reuse(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let t = own_token(&state, &caller, &id).await?;
    if !reuse_allowed(&state).await? {
        return Err(ApiError::Invalid(json!({
            "detail": "Reusable connection token is not allowed, global setting not enabled",
        })));
    }
    let body = object(body).map_err(flattened)?;
    let reusable = flag(&body, "is_reusable")
        .map_err(flattened)?
        .unwrap_or(false);
    let lifetime = if reusable {
        REUSABLE_SECONDS
    } else {
        ONETIME_SECONDS
    };
    state
        .store()
        .set_connection_token_reusable(t.id, reusable, t.date_created + Duration::seconds(lifetime))
        .await?;
    let t = state
        .store()
        .connection_token(t.id)
        .await?
        .ok_or(ApiError::NotFound("Connection token"))?;
    let grant = state
        .store()
        .user_asset_grant(caller.user_id, t.asset_id)
        .await?;
    Ok(Json(token_json(
        &t,
        None,
        token_actions(grant.as_ref(), &t.account),
    )))
}
