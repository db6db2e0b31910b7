//! The web file manager (the web UI contract's "Web file manager (SFTP)"): HTTP over the
//! session engine's SFTP client session ([`portcullis_session::files`]).
//!
//! - `POST /api/v1/terminal/file-manager/ {"token"}` redeems one of the caller's own
//!   `web_sftp` connection tokens (one use, unless the token is reusable) and opens the file
//!   manager: the engine decides the connection (login from `WT`), connects the asset and
//!   starts a session of kind `sftp`. → 201 `{id, session_id, home, actions,
//!   max_upload_bytes}`.
//! - `GET …/<id>/list/?path=`, `GET …/<id>/download/?path=` (streamed),
//!   `POST …/<id>/upload/?path=&name=` (the raw body, streamed), `POST …/<id>/rename/`,
//!   `…/delete/`, `…/mkdir/`, and `DELETE …/<id>/` to close.
//!
//! Open file managers live in this process's registry, each owned by the user who opened it:
//! another user's id is answered 404 as if it did not exist. One is closed — and its session
//! row ended — by `DELETE`, after [`IDLE_SETTING`] seconds without a request (600 by default;
//! a transfer in progress counts as activity), or when the engine ends its session (an
//! administrator's kill, the permission's expiry, the maximum session time).
//!
//! Uploads: `Content-Length` is required (411 without it), and a length over
//! [`MAX_UPLOAD_SETTING`] (1 GiB by default) is refused with 413 before any of the body is
//! read. The body goes to the asset as it arrives; nothing is buffered beyond one SFTP
//! chunk. Downloads are streamed the same way. Cookie-authenticated callers pass the CSRF
//! check on every unsafe method (the [`Caller`] extractor).
//!
//! Errors are `{"detail", "code"}`: 403 `action_denied` when the grant lacks the action, 403
//! with the engine's code when the connection itself is refused, 404 for a missing path or
//! file manager, 400 for bad input, 409 for a name that is taken or a directory that is not
//! empty, 413 too large, 502 when the asset fails (with words a user understands).

use crate::AppState;
use crate::ctx::Caller;
use crate::error::ApiError;
use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::SecondsFormat;
use futures_util::StreamExt;
use portcullis_session::authorize::{
    AccountRef, Denied, InputCredentials, LoginFrom, Requester, TargetTimeouts,
};
use portcullis_session::files::{Entry, FileSession, FilesError, OpenRequest};
use portcullis_session::live::EndReason;
use portcullis_store::terminal::TokenRefusal;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The setting that caps one upload, in bytes.
pub const MAX_UPLOAD_SETTING: &str = "FILE_MANAGER_MAX_UPLOAD_BYTES";
/// The cap when the setting is absent: 1 GiB.
pub const DEFAULT_MAX_UPLOAD: u64 = 1024 * 1024 * 1024;
/// The setting that closes an unused file manager, in seconds.
pub const IDLE_SETTING: &str = "FILE_MANAGER_IDLE_SECONDS";
/// The idle limit when the setting is absent: 10 minutes.
pub const DEFAULT_IDLE_SECONDS: u64 = 600;
/// How often the registry looks for idle and ended file managers.
const SWEEP: Duration = Duration::from_secs(1);

const BASE: &str = "/api/v1/terminal/file-manager";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/"), post(open))
        .route(&format!("{BASE}/{{id}}/"), delete(close))
        .route(&format!("{BASE}/{{id}}/list/"), get(list))
        .route(&format!("{BASE}/{{id}}/download/"), get(download))
        .route(&format!("{BASE}/{{id}}/upload/"), post(upload))
        .route(&format!("{BASE}/{{id}}/rename/"), post(rename))
        .route(&format!("{BASE}/{{id}}/delete/"), post(remove))
        .route(&format!("{BASE}/{{id}}/mkdir/"), post(mkdir))
}

// ------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------

/// A refusal of this module: the API's usual shapes, or `{"detail", "code"}` with a status.
enum Fail {
    Api(ApiError),
    Files(FilesError),
    Plain(StatusCode, &'static str, String),
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Fail {
        Fail::Api(e)
    }
}

impl From<FilesError> for Fail {
    fn from(e: FilesError) -> Fail {
        Fail::Files(e)
    }
}

impl From<portcullis_store::StoreError> for Fail {
    fn from(e: portcullis_store::StoreError) -> Fail {
        Fail::Api(e.into())
    }
}

fn plain(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Response {
    (status, Json(json!({"detail": detail.into(), "code": code}))).into_response()
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        match self {
            Fail::Api(e) => e.into_response(),
            Fail::Plain(status, code, detail) => plain(status, code, detail),
            Fail::Files(e) => {
                let (status, code) = match &e {
                    FilesError::Refused(Denied::Store(cause)) => {
                        return ApiError::Internal(cause.to_string()).into_response();
                    }
                    FilesError::Refused(d) => (StatusCode::FORBIDDEN, d.code()),
                    FilesError::ActionDenied(_) => (StatusCode::FORBIDDEN, "action_denied"),
                    FilesError::AssetDenied(_) => (StatusCode::FORBIDDEN, "asset_denied"),
                    FilesError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
                    FilesError::BadInput(_) => (StatusCode::BAD_REQUEST, "invalid"),
                    FilesError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
                    FilesError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
                    FilesError::Target(_) => (StatusCode::BAD_GATEWAY, "target_failed"),
                    FilesError::Ended(_) => (StatusCode::GONE, "session_ended"),
                    FilesError::Internal(_) => {
                        (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
                    }
                };
                plain(status, code, e.to_string())
            }
        }
    }
}

fn bad(detail: impl Into<String>) -> Fail {
    Fail::Plain(StatusCode::BAD_REQUEST, "invalid", detail.into())
}

fn token_invalid() -> Fail {
    Fail::Plain(
        StatusCode::BAD_REQUEST,
        "token_invalid",
        "The connection token is not valid (unknown, used, expired, another user's, or not for the web file manager)"
            .into(),
    )
}

fn no_file_manager() -> Fail {
    Fail::Plain(
        StatusCode::NOT_FOUND,
        "not_found",
        "File manager not found: it was closed (after 10 minutes without use, or by its session ending) or never opened"
            .into(),
    )
}

// ------------------------------------------------------------------------------------------
// The registry
// ------------------------------------------------------------------------------------------

/// One open file manager.
struct Open {
    owner: Uuid,
    fs: FileSession,
    max_upload: u64,
    idle: Duration,
    last_used: Mutex<Instant>,
    /// Requests and transfers in progress; an idle check skips a busy file manager.
    busy: AtomicUsize,
}

impl Open {
    fn touch(&self) {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }
}

/// Marks a file manager in use for as long as it lives (a request, or a streaming download).
struct InUse(Arc<Open>);

impl InUse {
    fn new(open: Arc<Open>) -> InUse {
        open.busy.fetch_add(1, Ordering::SeqCst);
        open.touch();
        InUse(open)
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The file managers open in this process, by id.
#[derive(Default)]
struct Registry {
    open: Mutex<HashMap<Uuid, Arc<Open>>>,
}

/// The registry of this process; the first use starts its sweeper.
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    let mut first = false;
    let r = REGISTRY.get_or_init(|| {
        first = true;
        Registry::default()
    });
    if first {
        tokio::spawn(sweep_forever(r));
    }
    r
}

impl Registry {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<Open>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, id: Uuid, open: Arc<Open>) {
        self.map().insert(id, open);
    }

    /// The caller's file manager `id`, marked in use; `None` when it does not exist, is
    /// another user's, or its session has ended (it is closed then).
    fn get(&self, caller: &Caller, id: &str) -> Option<InUse> {
        let id = Uuid::parse_str(id.trim()).ok()?;
        let open = self.map().get(&id).cloned()?;
        if open.owner != caller.user_id {
            return None;
        }
        if let Some(reason) = open.fs.ended() {
            self.close(id, reason);
            return None;
        }
        Some(InUse::new(open))
    }

    /// Removes one and closes it in the background.
    fn close(&self, id: Uuid, reason: EndReason) {
        if let Some(open) = self.map().remove(&id) {
            tokio::spawn(async move { open.fs.close(&reason).await });
        }
    }

    /// Closes the file managers that are idle past their limit or whose session ended.
    fn sweep(&self) {
        let due: Vec<(Uuid, EndReason)> = self
            .map()
            .iter()
            .filter_map(|(id, o)| match o.fs.ended() {
                Some(reason) => Some((*id, reason)),
                None if o.busy.load(Ordering::SeqCst) == 0 && o.idle_for() >= o.idle => Some((
                    *id,
                    EndReason::Idle {
                        minutes: o.idle.as_secs() / 60,
                    },
                )),
                None => None,
            })
            .collect();
        for (id, reason) in due {
            tracing::info!(file_manager = %id, reason = reason.code(), "web file manager closed");
            self.close(id, reason);
        }
    }
}

async fn sweep_forever(registry: &'static Registry) {
    let mut tick = tokio::time::interval(SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        registry.sweep();
    }
}

// ------------------------------------------------------------------------------------------
// Handlers
// ------------------------------------------------------------------------------------------

/// A positive whole-number setting, or `default`.
async fn setting_u64(state: &AppState, name: &str, default: u64) -> Result<u64, Fail> {
    Ok(match state.store().setting(name).await? {
        Some(Value::Number(n)) => n.as_u64().filter(|v| *v > 0).unwrap_or(default),
        Some(Value::String(s)) => s.trim().parse().ok().filter(|v| *v > 0).unwrap_or(default),
        _ => default,
    })
}

/// `POST /api/v1/terminal/file-manager/ {"token"}` → 201.
async fn open(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, Fail> {
    caller.require("rbac.view_filemanager")?;
    let engine = state
        .engine()
        .cloned()
        .ok_or_else(|| ApiError::Internal("the session engine is not wired".into()))?;
    let body = crate::routes::common::object(body)?;
    let token = match body.get("token") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => return Err(ApiError::field("token", "This field is required.").into()),
    };
    let store = state.store();
    let id = Uuid::parse_str(&token).map_err(|_| token_invalid())?;
    // Another user's token is refused before anything happens to it.
    let record = store
        .connection_token(id)
        .await?
        .filter(|t| t.user_id == caller.user_id)
        .ok_or_else(token_invalid)?;
    let protocol_ok = ["sftp", "ssh"]
        .iter()
        .any(|p| record.protocol.eq_ignore_ascii_case(p));
    if !record.is_active
        || record.is_expired(chrono::Utc::now())
        || record.connect_method != "web_sftp"
        || !protocol_ok
    {
        return Err(token_invalid());
    }
    match store.redeem_connection_token(id).await? {
        Ok(_) => {}
        // The permission went away after the token was made: the same refusal as a
        // connect without a grant.
        Err(TokenRefusal::NotPermitted) => {
            return Err(FilesError::Refused(Denied::AssetNotPermitted).into());
        }
        Err(why) => {
            tracing::info!(token = %id, reason = why.as_str(), "file manager token refused");
            return Err(token_invalid());
        }
    }
    let input_secret = if record.has_input_secret {
        store
            .connection_token_input_secret(state.vault(), id)
            .await?
    } else {
        None
    };
    let me = store
        .user_record(&caller.user_id.to_string())
        .await?
        .ok_or(ApiError::NotAuthenticated)?;
    let max_duration = match state.auth().security().await {
        Ok(s) => Some(Duration::from_secs(u64::from(s.max_session_hours) * 3600)),
        Err(e) => {
            tracing::warn!(error = %e, "security settings unreadable; using the defaults");
            let d = portcullis_auth::SecuritySettings::default();
            Some(Duration::from_secs(u64::from(d.max_session_hours) * 3600))
        }
    };
    let max_upload = setting_u64(&state, MAX_UPLOAD_SETTING, DEFAULT_MAX_UPLOAD).await?;
    let idle = setting_u64(&state, IDLE_SETTING, DEFAULT_IDLE_SECONDS).await?;
    let fs = FileSession::open(
        &engine,
        OpenRequest {
            requester: Requester {
                user_id: me.id,
                username: me.username,
                name: me.name,
                remote_addr: caller.ip,
                login_from: LoginFrom::WebTerminal,
            },
            asset_id: record.asset_id,
            account: AccountRef::Alias(record.account.clone()),
            input: InputCredentials {
                username: Some(record.input_username.clone()).filter(|u| !u.is_empty()),
                password: input_secret,
            },
            timeouts: TargetTimeouts::default(),
            max_duration,
        },
    )
    .await?;
    let fm = Uuid::new_v4();
    let out = json!({
        "id": fm,
        "session_id": fs.session_id(),
        "home": fs.home(),
        "actions": fs.actions().names(),
        "max_upload_bytes": max_upload,
    });
    registry().insert(
        fm,
        Arc::new(Open {
            owner: caller.user_id,
            fs,
            max_upload,
            idle: Duration::from_secs(idle),
            last_used: Mutex::new(Instant::now()),
            busy: AtomicUsize::new(0),
        }),
    );
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `DELETE …/<id>/` → 204: closes it and ends its session.
async fn close(caller: Caller, Path(id): Path<String>) -> Result<StatusCode, Fail> {
    let registry = registry();
    let open = registry.get(&caller, &id).ok_or_else(no_file_manager)?;
    let fs = open.0.fs.clone();
    if let Ok(uuid) = Uuid::parse_str(id.trim()) {
        registry.map().remove(&uuid);
    }
    drop(open);
    fs.close(&EndReason::Normal).await;
    Ok(StatusCode::NO_CONTENT)
}

fn entry_json(e: &Entry) -> Value {
    json!({
        "name": e.name,
        "path": e.path,
        "is_dir": e.is_dir,
        "size": e.size,
        "mode": e.mode,
        "mtime": e.mtime.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
    })
}

fn path_param(q: &HashMap<String, String>) -> String {
    q.get("path")
        .cloned()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".to_owned())
}

/// `GET …/<id>/list/?path=` → the entries, directories first.
async fn list(
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, Fail> {
    let open = registry().get(&caller, &id).ok_or_else(no_file_manager)?;
    let entries = open.0.fs.list(&path_param(&q)).await?;
    Ok(Json(Value::Array(entries.iter().map(entry_json).collect())))
}

/// `GET …/<id>/download/?path=` → the file, streamed as it is read from the asset.
async fn download(
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let open = registry().get(&caller, &id).ok_or_else(no_file_manager)?;
    let Some(path) = q.get("path").filter(|p| !p.is_empty()) else {
        return Err(bad("path: This field is required."));
    };
    let file = open.0.fs.download(path).await?;
    let disposition = content_disposition(file.file_name());
    // The stream holds the file manager in use until the last byte (or the client leaves).
    let stream = futures_util::stream::unfold((file, open), |(mut file, open)| async move {
        let chunk: Result<Bytes, std::io::Error> = match file.next_chunk().await? {
            Ok(data) => Ok(Bytes::from(data)),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        Some((chunk, (file, open)))
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266):
/// the fallback keeps printable ASCII other than quotes, backslashes and separators, so the
/// header cannot be broken out of; browsers use the exact UTF-8 name.
fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && !matches!(c, '"' | '\\' | ';' | ',' | '%')) || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let fallback = if fallback.trim().is_empty() {
        "download".to_owned()
    } else {
        fallback
    };
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// `POST …/<id>/upload/?path=<dir>&name=<file>` with the file as the raw body → 201 with the
/// new entry.
async fn upload(
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Fail> {
    let open = registry().get(&caller, &id).ok_or_else(no_file_manager)?;
    let Some(name) = q.get("name").filter(|n| !n.is_empty()) else {
        return Err(bad("name: This field is required."));
    };
    let dir = path_param(&q);
    let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    else {
        return Err(Fail::Plain(
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            "The upload needs a Content-Length header (send the file as the raw body)".into(),
        ));
    };
    // Over the cap: refused (and logged) before a byte of the body is read.
    let mut up = open
        .0
        .fs
        .upload(&dir, name, length, open.0.max_upload)
        .await?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(data) => up.write(&data).await?,
            Err(e) => {
                // The client went away or sent a broken body: the partial file is removed.
                let e = FilesError::BadInput(format!("The upload was interrupted: {e}"));
                return Err(up.abort(e).await.into());
            }
        }
    }
    up.finish().await?;
    let mut target = dir.trim_end_matches('/').to_owned();
    target.push('/');
    target.push_str(name);
    let entry = open.0.fs.stat(&target).await?;
    Ok((StatusCode::CREATED, Json(entry_json(&entry))).into_response())
}

/// A JSON object body's string field.
fn field(body: &serde_json::Map<String, Value>, name: &str) -> Result<String, Fail> {
    match body.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ApiError::field(name, "This field is required.").into()),
    }
}

/// `POST …/<id>/rename/ {"from", "to"}` → 200.
async fn rename(
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, Fail> {
    let open = registry().get(&caller, &id).ok_or_else(no_file_manager)?;
    let body = crate::routes::common::object(body)?;
    let (from, to) = (field(&body, "from")?, field(&body, "to")?);
    open.0.fs.rename(&from, &to).await?;
    Ok(Json(json!({"from": from, "to": to})))
}

/// `POST …/<id>/delete/ {"path"}` → 200. A directory must be empty.
async fn remove(
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, Fail> {
    let open = registry().get(&caller, &id).ok_or_else(no_file_manager)?;
    let body = crate::routes::common::object(body)?;
    let path = field(&body, "path")?;
    open.0.fs.remove(&path).await?;
    Ok(Json(json!({"path": path})))
}

/// `POST …/<id>/mkdir/ {"path"}` → 201.
async fn mkdir(
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, Fail> {
    let open = registry().get(&caller, &id).ok_or_else(no_file_manager)?;
    let body = crate::routes::common::object(body)?;
    let path = field(&body, "path")?;
    open.0.fs.mkdir(&path).await?;
    Ok((StatusCode::CREATED, Json(json!({"path": path}))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_download_name_cannot_break_the_header() {
        assert_eq!(
            content_disposition("report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        let h = content_disposition("a\"b\r\nSet-Cookie: x;.txt");
        assert!(!h.contains('\r') && !h.contains('\n'), "{h}");
        assert!(
            h.starts_with("attachment; filename=\"a_b__Set-Cookie: x_.txt\""),
            "{h}"
        );
        let h = content_disposition("résumé 1.txt");
        assert!(h.contains("filename=\"r_sum_ 1.txt\""), "{h}");
        assert!(
            h.ends_with("filename*=UTF-8''r%C3%A9sum%C3%A9%201.txt"),
            "{h}"
        );
        assert!(HeaderValue::from_str(&h).is_ok());
        assert!(content_disposition("\u{1}").contains("filename=\"_\""));
        assert!(content_disposition("é").contains("filename=\"_\""));
    }
}
