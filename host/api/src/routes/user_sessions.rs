//! Web sessions (§2.5, §4.17): the page's keep-alive `/api/v1/authentication/user-session/`
//! and the audit view `/api/v1/audits/user-sessions/` with its `offline/` action.
//!
//! The keep-alive follows JumpServer's `UserSessionApi`: every open tab `GET`s it when it
//! loads (the session counts one more connected page) and `DELETE`s it when it closes (one
//! fewer). When the last page has gone and none comes back within
//! [`DISCONNECT_GRACE`], the session is logged out — closing the browser ends the login, a
//! reload does not.

use crate::ctx::Caller;
use crate::error::ApiError;
use crate::fmt::{choice, datetime};
use crate::list::ListQuery;
use crate::{AppState, Host};
use axum::extract::rejection::JsonRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use portcullis_store::user_sessions::WebSessionRecord;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// How long a session whose last page disconnected waits for one to come back before it is
/// logged out (JumpServer: about 6 s).
pub const DISCONNECT_GRACE: Duration = Duration::from_secs(6);

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/authentication/user-session/",
            get(connect).delete(disconnect),
        )
        .route("/api/v1/audits/user-sessions/", get(list))
        .route("/api/v1/audits/user-sessions/offline/", post(offline))
        .route("/api/v1/audits/user-sessions/{id}/", get(detail))
}

/// Connected pages per web session, and a generation that changes on every connect so a
/// pending logout can tell that a page came back in between. In memory: the counts describe
/// the open browser tabs of this server process, which a restart loses anyway.
static CONNECTED: LazyLock<Mutex<HashMap<Uuid, (u32, u64)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn connected() -> std::sync::MutexGuard<'static, HashMap<Uuid, (u32, u64)>> {
    // A panic while holding the lock leaves only counters behind; keep using them.
    CONNECTED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The caller, or 403 for an anonymous request (JumpServer answers 403 here, not 401).
fn known(caller: Result<Caller, ApiError>) -> Result<Caller, ApiError> {
    caller.map_err(|_| ApiError::PermissionDenied)
}

/// `GET /authentication/user-session/`: one more connected page for the caller's web
/// session; `{"ok": true}`. Callers without a session (tokens, keys) get the same answer.
async fn connect(caller: Result<Caller, ApiError>) -> Result<Json<Value>, ApiError> {
    let caller = known(caller)?;
    if let Some(s) = &caller.session {
        let mut map = connected();
        let entry = map.entry(s.id).or_insert((0, 0));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = entry.1.wrapping_add(1);
    }
    Ok(Json(json!({"ok": true})))
}

/// `DELETE /authentication/user-session/`: one fewer connected page; 204. When none is left,
/// the session is logged out after [`DISCONNECT_GRACE`] unless a page connects again.
async fn disconnect(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
) -> Result<Response, ApiError> {
    let caller = known(caller)?;
    if let Some(s) = &caller.session {
        let id = s.id;
        let generation = {
            let mut map = connected();
            let entry = map.entry(id).or_insert((0, 0));
            entry.0 = entry.0.saturating_sub(1);
            (entry.0 == 0).then_some(entry.1)
        };
        if let Some(generation) = generation {
            tokio::spawn(async move {
                tokio::time::sleep(DISCONNECT_GRACE).await;
                let gone = {
                    let mut map = connected();
                    let still = map.get(&id) == Some(&(0, generation));
                    if still {
                        map.remove(&id);
                    }
                    still
                };
                if gone && let Err(e) = state.auth().end_session(id).await {
                    tracing::warn!(error = %e, session = %id, "a disconnected web session could not be ended");
                }
            });
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn micros(t: i64) -> String {
    datetime(DateTime::<Utc>::from_timestamp_micros(t).unwrap_or_default())
}

fn type_label(t: &str) -> &'static str {
    match t {
        "W" => "Web",
        "T" => "Terminal",
        _ => "Unknown",
    }
}

fn backend_display(b: &str) -> String {
    match b {
        "password" => "Password".to_owned(),
        "publickey" => "Public key".to_owned(),
        other => other.to_owned(),
    }
}

fn session_json(s: &WebSessionRecord, current: Option<Uuid>) -> Value {
    json!({
        "id": s.id,
        "user": {"id": s.user_id, "name": s.user_name, "username": s.username},
        "ip": s.ip,
        "city": s.city,
        "user_agent": s.user_agent,
        "type": choice(s.login_type.clone(), type_label(&s.login_type)),
        "backend": s.backend,
        "backend_display": backend_display(&s.backend),
        "is_active": true,
        "date_created": micros(s.date_created),
        "date_expired": micros(s.date_expired),
        "is_current_user_session": current == Some(s.id),
    })
}

/// Whether a session passes the list's field filters (`id`, `ip`, `city`, `type`, `user` by
/// id or username) and search (`ip`, `city`, username, user agent).
fn matches(s: &WebSessionRecord, q: &ListQuery) -> Result<bool, ApiError> {
    for (k, v) in &q.filters {
        let ok = match k.as_str() {
            "id" => {
                let id = Uuid::parse_str(v)
                    .map_err(|_| ApiError::field("id", "Must be a valid UUID."))?;
                s.id == id
            }
            "ip" => s.ip == *v,
            "city" => s.city == *v,
            "type" => s.login_type == *v,
            "user" | "user_id" => s.user_id.to_string() == *v || s.username == *v,
            _ => true,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(match &q.search {
        None => true,
        Some(term) => {
            let term = term.to_lowercase();
            [&s.ip, &s.city, &s.username, &s.user_agent]
                .iter()
                .any(|f| f.to_lowercase().contains(&term))
        }
    })
}

async fn visible(state: &AppState, caller: &Caller) -> Result<Vec<WebSessionRecord>, ApiError> {
    let now = Utc::now().timestamp_micros();
    Ok(state.store().web_sessions(caller.org, now).await?)
}

/// `GET /audits/user-sessions/`: the live web sessions of the current org's users (all in
/// the root org), newest first; `is_current_user_session` marks the caller's own.
async fn list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let current = caller.session.as_ref().map(|s| s.id);
    let mut rows = Vec::new();
    for s in visible(&state, &caller).await? {
        if matches(&s, &q)? {
            rows.push(s);
        }
    }
    let count = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let (limit, offset) = q.window();
    let page = rows
        .iter()
        .skip(usize::try_from(offset).unwrap_or(0))
        .take(usize::try_from(limit).unwrap_or(0))
        .map(|s| session_json(s, current))
        .collect();
    Ok(Json(q.respond(&uri, &host, count, page)))
}

/// `GET /audits/user-sessions/<id>/`.
async fn detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("UserSession"))?;
    let current = caller.session.as_ref().map(|s| s.id);
    visible(&state, &caller)
        .await?
        .iter()
        .find(|s| s.id == id)
        .map(|s| Json(session_json(s, current)))
        .ok_or(ApiError::NotFound("UserSession"))
}

/// `POST /audits/user-sessions/offline/` `{"ids": [...]}`: logs those sessions out (of the
/// ones the caller can see); the caller's own session is never among them, as in JumpServer.
/// 200 `{"offline": n}` with how many were ended.
async fn offline(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| crate::error::bad_json(&e))?;
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::Refused("Expected a JSON object".into()))?;
    super::common::check_fields(obj, &["ids"])?;
    let ids = super::common::uuids(obj, "ids")?
        .ok_or_else(|| ApiError::field("ids", "This field is required."))?;
    let current = caller.session.as_ref().map(|s| s.id);
    let mut ended = 0u64;
    for s in visible(&state, &caller).await? {
        if ids.contains(&s.id) && Some(s.id) != current && state.auth().end_session(s.id).await? {
            connected().remove(&s.id);
            ended += 1;
        }
    }
    Ok(Json(json!({"offline": ended})))
}
