//! `/api/v1/authentication/…`: password login with MFA for tokens and web sessions (§2.2,
//! §2.5), TOTP binding, step-up confirmation (§2.8), logout, and access keys (§2.4).
//!
//! A completed login answers with the bearer token *and* the session cookies
//! (`jms_sessionid`, `jms_csrftoken`), so scripts and browsers use the same endpoint. A login
//! that needs a second factor answers 200 `mfa_required` with an unfinished-login cookie; the
//! client posts the code to `/mfa/challenge/` and then calls `/auth/` again with that cookie.
//!
//! Logout: JumpServer's web logout is `/core/auth/logout/` (a Django view); Portcullis
//! provides `POST`/`DELETE /api/v1/authentication/logout/` instead.

use crate::AppState;
use crate::ctx::{Caller, ClientIp, request_cookie};
use crate::error::{ApiError, bad_json, ok_msg};
use crate::fmt::datetime;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use portcullis_auth::{
    AuthError, CONFIRM_TTL_SECS, CSRF_COOKIE, ConfirmKind, IssuedSession, LoginFailure, LoginMeta,
    LoginRequest, LoginStep, LoginType, PendingLogin, SESSION_COOKIE, codes, totp,
};
use portcullis_core::secret::SecretString;
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/authentication/auth/", post(login))
        .route("/api/v1/authentication/tokens/", post(login))
        .route(
            "/api/v1/authentication/password/expired/",
            post(change_expired_password),
        )
        .route(
            "/api/v1/authentication/login-confirm-ticket/status/",
            get(login_confirm_status).delete(login_confirm_cancel),
        )
        .route("/api/v1/authentication/mfa/challenge/", post(mfa_challenge))
        .route("/api/v1/authentication/mfa/verify/", post(mfa_challenge))
        .route(
            "/api/v1/authentication/mfa/setup/",
            get(mfa_setup_start).post(mfa_setup_finish),
        )
        .route("/api/v1/users/profile/mfa/reset/", post(mfa_reset_own))
        .route(
            "/api/v1/authentication/confirm/",
            get(confirm_backends).post(confirm),
        )
        .route("/api/v1/authentication/confirm/check/", get(confirm_check))
        .route(
            "/api/v1/authentication/logout/",
            post(logout).delete(logout),
        )
        .route(
            "/api/v1/authentication/access-keys/",
            get(list_keys).post(create_key),
        )
        .route(
            "/api/v1/authentication/access-keys/{id}/",
            get(key_detail)
                .patch(update_key)
                .put(update_key)
                .delete(delete_key),
        )
}

// ---------------------------------------------------------------------------------------------
// Cookies
// ---------------------------------------------------------------------------------------------

/// The session cookie: HttpOnly (scripts in the page never need it) and SameSite=Lax (not
/// sent on cross-site POSTs). `Secure` is not set because the server cannot tell whether a
/// TLS proxy is in front of it.
fn session_cookie(value: &str, max_age: u64) -> (HeaderName, String) {
    (
        SET_COOKIE,
        format!("{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"),
    )
}

/// The CSRF cookie: readable by the page's scripts, which copy it into `X-CSRFToken`.
fn csrf_cookie(value: &str, max_age: u64) -> (HeaderName, String) {
    (
        SET_COOKIE,
        format!("{CSRF_COOKIE}={value}; Path=/; Max-Age={max_age}; SameSite=Lax"),
    )
}

/// Cookies that make the browser forget the session (logout).
fn cleared_cookies() -> Vec<(HeaderName, String)> {
    vec![session_cookie("", 0), csrf_cookie("", 0)]
}

fn with_cookies(status: StatusCode, cookies: Vec<(HeaderName, String)>, body: Value) -> Response {
    (status, AppendHeaders(cookies), Json(body)).into_response()
}

fn issued_cookies(issued: &IssuedSession) -> Vec<(HeaderName, String)> {
    let mut cookies = vec![session_cookie(issued.key.expose(), issued.max_age)];
    if let Some(csrf) = &issued.csrf_token {
        cookies.push(csrf_cookie(csrf, issued.max_age));
    }
    cookies
}

// ---------------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------------

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn login_type_of(headers: &HeaderMap) -> LoginType {
    match header(headers, "x-jms-login-type") {
        "T" => LoginType::T,
        "W" => LoginType::W,
        _ => LoginType::U,
    }
}

fn text_field(body: &Value, name: &str) -> String {
    body.get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn login_error(f: LoginFailure) -> ApiError {
    if f.is_internal() {
        ApiError::Internal(f.msg)
    } else if f.code == codes::MFA_UNSET {
        // JumpServer's shape for this one case: `{"error": "MFA unset, please set first"}`.
        ApiError::Refused(f.msg)
    } else {
        ApiError::Login {
            code: f.code,
            msg: f.msg,
        }
    }
}

/// The unfinished login of the request's session cookie, if any.
async fn pending_of(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<PendingLogin>, ApiError> {
    match request_cookie(headers, SESSION_COOKIE) {
        Some(key) => Ok(state.auth().pending_login(key).await?),
        None => Ok(None),
    }
}

/// `POST /authentication/auth/`: a bearer token (and web session) for a username and
/// password, in one or two steps (§2.2).
///
/// With the cookie of an unfinished login whose code was accepted, the credentials may be
/// omitted and the login completes. With that of one still waiting for its code and no new
/// password, the answer is `mfa_required` again. Credentials for another user start over.
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user_agent = header(&headers, "user-agent").to_owned();
    let pending = pending_of(&state, &headers).await?;
    let body = match body {
        Ok(Json(body)) => body,
        // The second call of an MFA login may come without a body.
        Err(_) if pending.is_some() => json!({}),
        Err(e) => return Err(bad_json(&e)),
    };
    let (username, password) = (text_field(&body, "username"), text_field(&body, "password"));
    let auth = state.auth();

    if let Some(p) = pending
        .as_ref()
        .filter(|p| username.is_empty() || username == p.username)
    {
        if p.mfa_verified {
            let meta = LoginMeta {
                username: p.username.clone(),
                ip,
                user_agent,
                login_type: p.login_type,
                backend: p.backend.clone(),
            };
            let ok = match auth.finish_mfa_login(p.user_id, &meta).await {
                Ok(ok) => ok,
                Err(f) => return login_refused(f),
            };
            auth.end_session(p.session_id).await?;
            return complete_login(&state, ok.user_id, &meta).await;
        }
        if password.is_empty() {
            if p.needs_mfa_setup {
                return Ok(mfa_unset(Vec::new()));
            }
            return Ok(mfa_required(Vec::new(), &["otp"]));
        }
    }

    if username.is_empty() || password.is_empty() {
        let mut missing = std::collections::BTreeMap::new();
        for (k, v) in [("username", &username), ("password", &password)] {
            if v.is_empty() {
                missing.insert(k.to_owned(), vec!["This field is required.".to_owned()]);
            }
        }
        return Err(ApiError::Fields(missing));
    }
    let req = LoginRequest {
        username,
        password: SecretString::new(format!("{password}{}", text_field(&body, "challenge"))),
        ip,
        user_agent,
        login_type: login_type_of(&headers),
        backend: "password".into(),
    };
    let step = match auth.login_step(&req).await {
        Ok(step) => step,
        Err(LoginFailure {
            code: codes::MFA_UNSET,
            mfa_unset_user: Some(user),
            ..
        }) => {
            // The password was right; the user must bind a second factor before logging
            // in. The answer carries a bind-only unfinished login (§2.2's `mfa_unset`).
            if let Some(p) = &pending {
                auth.end_session(p.session_id).await?;
            }
            let issued = auth.start_mfa_setup_login(user, &req.meta()).await?;
            return Ok(mfa_unset(issued_cookies(&issued)));
        }
        Err(f) => return login_refused(f),
    };
    // A new password login replaces whatever unfinished login the cookie pointed to.
    if let Some(p) = &pending {
        auth.end_session(p.session_id).await?;
    }
    match step {
        LoginStep::Done(ok) => complete_login(&state, ok.user_id, &req.meta()).await,
        LoginStep::MfaRequired(m) => {
            let issued = auth.start_pending_login(m.user_id, &req.meta()).await?;
            Ok(mfa_required(issued_cookies(&issued), &m.choices))
        }
    }
}

/// A refused login: the error, except a login waiting for its review, which JumpServer
/// answers with 200 and the ticket to poll.
fn login_refused(f: LoginFailure) -> Result<Response, ApiError> {
    match f.ticket {
        Some(ticket) if f.code == codes::LOGIN_CONFIRM_WAIT => Ok(confirm_wait(ticket, &f.msg)),
        _ if f.code == codes::PASSWORD_EXPIRED => Ok(password_expired(&f.msg)),
        _ => Err(login_error(f)),
    }
}

/// Where a user whose password expired sets a new one (Portcullis' counterpart of
/// JumpServer's reset page the web login redirects to).
const PASSWORD_EXPIRED_URL: &str = "/api/v1/authentication/password/expired/";

/// The 400 answer of a login with an expired password: JumpServer's `{"error": "<exception
/// text>"}` (§2.2), plus the machine-readable `code` and where to set a new password.
fn password_expired(msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "error": msg,
            "code": codes::PASSWORD_EXPIRED,
            "msg": msg,
            "data": {"url": PASSWORD_EXPIRED_URL},
        })),
    )
        .into_response()
}

/// `POST /authentication/password/expired/` `{username, old_password, new_password,
/// new_password_again}`: replaces an expired password without a login. The old password goes
/// through every check of a login (lockout, failure counting, user expiry, login ACLs), so
/// this is no way around them; the new one through the policy and the history. 200
/// `{"msg":"ok"}`, then the user logs in with the new password. A password that has not
/// expired is refused (change it through `/users/profile/password/`).
async fn change_expired_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    use portcullis_store::users::{PasswordChange, PasswordChanged};
    const FIELDS: [&str; 4] = [
        "username",
        "old_password",
        "new_password",
        "new_password_again",
    ];
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let Some(obj) = body.as_object() else {
        return Err(ApiError::Refused("Expected a JSON object".into()));
    };
    let mut problems = std::collections::BTreeMap::new();
    for name in obj.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        problems.insert(name.clone(), vec!["Unknown field.".to_owned()]);
    }
    for name in FIELDS {
        match obj.get(name) {
            Some(Value::String(v)) if !v.is_empty() => {}
            Some(Value::String(_)) | None | Some(Value::Null) => {
                problems.insert(name.to_owned(), vec!["This field is required.".to_owned()]);
            }
            Some(_) => {
                problems.insert(name.to_owned(), vec!["Not a valid string.".to_owned()]);
            }
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::Fields(problems));
    }
    let (username, old, new, again) = (
        text_field(&body, "username"),
        text_field(&body, "old_password"),
        text_field(&body, "new_password"),
        text_field(&body, "new_password_again"),
    );
    if new != again {
        return Err(ApiError::field(
            "new_password_again",
            "The newly set password is inconsistent",
        ));
    }
    let req = LoginRequest {
        username,
        password: SecretString::new(old),
        ip,
        user_agent: header(&headers, "user-agent").to_owned(),
        login_type: login_type_of(&headers),
        backend: "password".into(),
    };
    let user_id = match state.auth().verify_expired_password(&req).await {
        Ok(user) => user,
        Err(f) if f.code == codes::PASSWORD_NOT_EXPIRED => {
            return Err(ApiError::field("old_password", f.msg));
        }
        Err(f) => return login_refused(f),
    };
    let user = state
        .store()
        .user_record(&user_id.to_string())
        .await?
        .ok_or(ApiError::NotFound("User"))?;
    let policy = state.auth().security().await?.password_policy;
    policy
        .check(&new, crate::routes::users::is_admin(&user))
        .map_err(|e| ApiError::field("new_password", e.to_string()))?;
    let history = crate::routes::users::old_password_count(&state).await?;
    let secret = SecretString::new(new);
    let by = format!("{}({})", user.name, user.username);
    let remote = ip.to_string();
    let change = PasswordChange {
        password: &secret,
        need_update: false,
        history,
        changed_by: &by,
        remote_addr: &remote,
    };
    match state.store().change_user_password(user.id, &change).await? {
        PasswordChanged::Done => Ok(Json(ok_msg()).into_response()),
        PasswordChanged::Reused => Err(ApiError::field(
            "new_password",
            format!("The new password cannot be the last {history} passwords"),
        )),
        PasswordChanged::NoUser => Err(ApiError::NotFound("User")),
    }
}

fn confirm_wait(ticket: Uuid, msg: &str) -> Response {
    (
        StatusCode::OK,
        Json(json!({
            "error": codes::LOGIN_CONFIRM_WAIT,
            "msg": msg,
            "data": {"ticket_id": ticket},
        })),
    )
        .into_response()
}

/// The login review ticket named by `?ticket_id=`. JumpServer finds it through the web
/// session; Portcullis takes its id (an unguessable capability handed out only to the
/// login that opened it), so header-authenticated clients can poll too.
async fn login_ticket(
    state: &AppState,
    q: &HashMap<String, String>,
) -> Result<portcullis_store::tickets::TicketRecord, ApiError> {
    let id = q
        .get("ticket_id")
        .and_then(|v| Uuid::parse_str(v).ok())
        .ok_or_else(|| {
            ApiError::Refused("ticket_id: a login review ticket id is required".into())
        })?;
    state
        .store()
        .ticket(id)
        .await?
        .filter(|t| t.kind == portcullis_store::tickets::TicketKind::LoginConfirm)
        .ok_or(ApiError::NotFound("Ticket"))
}

/// `GET /authentication/login-confirm-ticket/status/`: `{"msg":"ok"}` once approved (log
/// in again), `login_confirm_wait` while pending, `login_confirm_error` when rejected or
/// withdrawn.
async fn login_confirm_status(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    use portcullis_store::tickets::TicketState;
    let t = login_ticket(&state, &q).await?;
    Ok(match t.state {
        TicketState::Pending => confirm_wait(t.id, "Waiting for the reviewers to confirm"),
        TicketState::Approved => Json(json!({"msg": "ok"})).into_response(),
        TicketState::Rejected | TicketState::Closed => Json(json!({
            "error": "login_confirm_error",
            "msg": format!("Login confirm ticket was {}", t.state.as_str()),
            "data": {"ticket_id": t.id, "username": t.applicant_display},
        }))
        .into_response(),
    })
}

/// `DELETE /authentication/login-confirm-ticket/status/`: withdraws a pending review.
async fn login_confirm_cancel(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let t = login_ticket(&state, &q).await?;
    state
        .store()
        .close_ticket(t.id, &t.applicant_display)
        .await?;
    Ok(Json(json!({"msg": "ok"})).into_response())
}

/// The 200 answer of a login that needs its second factor.
fn mfa_required(cookies: Vec<(HeaderName, String)>, choices: &[&str]) -> Response {
    with_cookies(
        StatusCode::OK,
        cookies,
        json!({
            "error": codes::MFA_REQUIRED,
            "msg": "MFA required",
            "data": {"choices": choices, "url": "/api/v1/authentication/mfa/challenge/"},
        }),
    )
}

/// Where a user without a bound second factor binds one during login.
const MFA_SETUP_URL: &str = "/api/v1/authentication/mfa/setup/";

/// The 400 answer of a login whose user must bind a second factor first: JumpServer's
/// `{"error": "MFA unset, please set first"}` (§2.2), plus the machine-readable `code`, the
/// binding URL and the bind-only unfinished-login cookie. With that cookie the client calls
/// `GET` then `POST` on the URL, then `/auth/` again without credentials.
fn mfa_unset(cookies: Vec<(HeaderName, String)>) -> Response {
    with_cookies(
        StatusCode::BAD_REQUEST,
        cookies,
        json!({
            "error": "MFA unset, please set first",
            "code": codes::MFA_UNSET,
            "msg": "Multi-factor authentication is required for this account and none is \
                    bound: bind an OTP authenticator, then log in again.",
            "data": {"choices": ["otp"], "url": MFA_SETUP_URL},
        }),
    )
}

/// Issues the bearer token and the web session of a completed login: 201 with the token,
/// and the session and CSRF cookies.
async fn complete_login(
    state: &AppState,
    user_id: Uuid,
    meta: &LoginMeta,
) -> Result<Response, ApiError> {
    let auth = state.auth();
    let issued = auth.issue_bearer(user_id, &meta.ip.to_string()).await?;
    let session = auth.create_session(user_id, meta).await?;
    let user = state
        .store()
        .user_record(&user_id.to_string())
        .await?
        .ok_or(ApiError::NotAuthenticated)?;
    Ok(with_cookies(
        StatusCode::CREATED,
        issued_cookies(&session),
        json!({
            "token": issued.token.expose(),
            "keyword": "Bearer",
            "date_expired": datetime(issued.date_expired),
            "user": crate::routes::users::user_json(&user),
        }),
    ))
}

/// The `{"error", "msg"}` answer of a refused MFA step, with its status. Built here rather
/// than as an [`ApiError`] because only this endpoint answers 401 in the login shape (§2.2).
fn mfa_refused(status: StatusCode, f: LoginFailure) -> Response {
    (status, Json(json!({"error": f.code, "msg": f.msg}))).into_response()
}

/// A one-time code from a JSON body: a string (an app shows leading zeros), or a number sent
/// by a careless client, padded back to six digits.
fn code_field(body: &Value, name: &str) -> String {
    match body.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|n| format!("{n:0width$}", width = totp::DIGITS as usize))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// Refuses second-factor types other than `otp` (the only one Portcullis has).
fn require_otp_type(kind: &str) -> Result<(), ApiError> {
    if kind.is_empty() || kind == "otp" {
        Ok(())
    } else {
        let shown: String = kind.chars().take(32).collect();
        Err(ApiError::Refused(format!(
            "MFA type \"{shown}\" is not available; choose one of: otp"
        )))
    }
}

/// `POST /authentication/mfa/challenge/` (alias `/mfa/verify/`) `{"type":"otp","code"}`:
/// the second step of a login. 200 `{"msg":"ok"}`; 401 `{"error":"mfa_failed",…}` for a wrong
/// code (counted toward the lockout); 401 `not_authenticated` without an unfinished login.
async fn mfa_challenge(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Some(pending) = pending_of(&state, &headers).await? else {
        return Err(ApiError::NotAuthenticated);
    };
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    require_otp_type(&text_field(&body, "type"))?;
    if pending.mfa_verified {
        return Ok(Json(ok_msg()).into_response());
    }
    if pending.needs_mfa_setup {
        // No secret is bound yet: there is no code to check (and nothing to count).
        return Ok(mfa_unset(Vec::new()));
    }
    let meta = LoginMeta {
        username: pending.username.clone(),
        ip,
        user_agent: header(&headers, "user-agent").to_owned(),
        login_type: pending.login_type,
        backend: pending.backend.clone(),
    };
    let auth = state.auth();
    match auth
        .mfa_login_attempt(pending.user_id, &code_field(&body, "code"), &meta)
        .await
    {
        Ok(()) => {
            auth.mark_pending_mfa_ok(&pending).await?;
            Ok(Json(ok_msg()).into_response())
        }
        Err(f) if f.is_internal() => Err(ApiError::Internal(f.msg)),
        Err(f) => Ok(mfa_refused(StatusCode::UNAUTHORIZED, f)),
    }
}

// ---------------------------------------------------------------------------------------------
// Binding and unbinding a TOTP secret
// ---------------------------------------------------------------------------------------------

fn refused_or_internal(e: AuthError) -> ApiError {
    match e {
        AuthError::Invalid(msg) => ApiError::Refused(msg),
        other => other.into(),
    }
}

/// Who binds a second factor: a logged-in caller, or — when the request is not otherwise
/// authenticated — the bind-only unfinished login of a user whose login answered `mfa_unset`.
/// Anything else keeps the caller's own refusal (401).
enum Binder {
    Caller(Uuid),
    Login(PendingLogin),
}

impl Binder {
    fn user_id(&self) -> Uuid {
        match self {
            Binder::Caller(id) => *id,
            Binder::Login(p) => p.user_id,
        }
    }
}

async fn binder(
    caller: Result<Caller, ApiError>,
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Binder, ApiError> {
    match caller {
        Ok(c) => Ok(Binder::Caller(c.user_id)),
        Err(refusal) => match pending_of(state, headers).await? {
            Some(p) if p.needs_mfa_setup && !p.mfa_verified => Ok(Binder::Login(p)),
            _ => Err(refusal),
        },
    }
}

/// `GET /authentication/mfa/setup/`: a new TOTP secret and its `otpauth://` URI for the
/// caller (or the bind-only login of `mfa_unset`), pending until `POST` proves it was
/// scanned. 400 when a secret is already bound. The answer carries a secret, so it must not
/// be cached.
async fn mfa_setup_start(
    caller: Result<Caller, ApiError>,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = binder(caller, &state, &headers).await?;
    let setup = state
        .auth()
        .begin_mfa_setup(who.user_id())
        .await
        .map_err(refused_or_internal)?;
    Ok((
        [(CACHE_CONTROL, "no-store")],
        Json(json!({
            "secret": setup.secret.expose(),
            "otp_uri": setup.otpauth_uri.expose(),
            "issuer": setup.issuer,
            "algorithm": "SHA1",
            "digits": totp::DIGITS,
            "period": totp::PERIOD,
        })),
    )
        .into_response())
}

/// `POST /authentication/mfa/setup/` `{"code"}`: binds the pending secret when the code was
/// made from it; `mfa_level` becomes 1 (unless 2). 400 `mfa_failed` for a wrong code. For a
/// bind-only login the accepted code is also its second factor: `/auth/` then completes it.
async fn mfa_setup_finish(
    caller: Result<Caller, ApiError>,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let who = binder(caller, &state, &headers).await?;
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let code = code_field(&body, "code");
    if code.is_empty() {
        return Err(ApiError::field("code", "This field is required."));
    }
    if state
        .auth()
        .finish_mfa_setup(who.user_id(), &code)
        .await
        .map_err(refused_or_internal)?
    {
        if let Binder::Login(p) = &who {
            state.auth().mark_pending_mfa_ok(p).await?;
        }
        Ok(Json(ok_msg()))
    } else {
        Err(ApiError::Login {
            code: codes::MFA_FAILED,
            msg: "MFA verify code invalid, please try again.".into(),
        })
    }
}

/// `POST /users/profile/mfa/reset/` `{"code"}`: the caller unbinds their own secret with a
/// current code from it (counted toward the lockout). The administrator's reset of another
/// user (`/users/users/<id>/mfa/reset/`) belongs to the users routes.
async fn mfa_reset_own(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let code = code_field(&body, "code");
    if code.is_empty() {
        return Err(ApiError::field("code", "This field is required."));
    }
    let auth = state.auth();
    if !auth.mfa_bound(caller.user_id).await? {
        return Err(ApiError::Refused("MFA is not set".into()));
    }
    auth.check_otp(caller.user_id, &code, caller.ip)
        .await
        .map_err(login_error)?;
    auth.reset_mfa(caller.user_id).await?;
    Ok(Json(ok_msg()))
}

// ---------------------------------------------------------------------------------------------
// Step-up confirmation (§2.8)
// ---------------------------------------------------------------------------------------------

fn confirm_kind(raw: Option<&str>) -> Result<ConfirmKind, ApiError> {
    let raw = raw.unwrap_or_default();
    if raw.is_empty() {
        return Err(ApiError::field("confirm_type", "This field is required."));
    }
    ConfirmKind::parse(raw).ok_or_else(|| {
        ApiError::field(
            "confirm_type",
            "\"x\" is not a valid choice; use relogin, password or mfa.",
        )
    })
}

/// `GET /authentication/confirm/?confirm_type=…`: the confirmation backends the caller can
/// use for that type, `{confirm_type, content:[{name, display_name, disabled, msg,
/// placeholder}]}`.
async fn confirm_backends(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let kind = confirm_kind(q.get("confirm_type").map(String::as_str))?;
    let content = match kind {
        ConfirmKind::Relogin => json!([]),
        ConfirmKind::Password => {
            let usable = state.auth().can_confirm_password(caller.user_id).await?;
            json!([{
                "name": "password",
                "display_name": "Password",
                "disabled": !usable,
                "msg": if usable { "" } else { "The user has no local password" },
                "placeholder": "Password",
            }])
        }
        ConfirmKind::Mfa => {
            let bound = state.auth().mfa_bound(caller.user_id).await?;
            json!([{
                "name": "otp",
                "display_name": "OTP",
                "disabled": !bound,
                "msg": if bound { "" } else { "OTP not bound" },
                "placeholder": "OTP verification code",
            }])
        }
    };
    Ok(Json(
        json!({"confirm_type": kind.as_str(), "content": content}),
    ))
}

/// `POST /authentication/confirm/` `{"confirm_type","mfa_type","secret_key"}`: confirms the
/// caller again and records it in their web session. `"ok"`, or 400 `{"error"}`. Callers
/// without a session (tokens, keys) cannot hold a confirmation and are refused up front.
async fn confirm(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let kind = confirm_kind(body.get("confirm_type").and_then(Value::as_str))?;
    let Some(session) = caller.session.as_ref() else {
        return Err(ApiError::Refused(
            "A confirmation is kept in a web session; log in with the session cookie to \
             confirm."
                .into(),
        ));
    };
    if kind == ConfirmKind::Mfa {
        require_otp_type(&text_field(&body, "mfa_type"))?;
    }
    let secret = code_field(&body, "secret_key");
    match state
        .auth()
        .confirm(session, kind, &secret, caller.ip)
        .await?
    {
        Ok(()) => Ok(Json(Value::String("ok".into()))),
        Err(f) => Err(ApiError::Refused(f.msg)),
    }
}

/// `GET /authentication/confirm/check/?confirm_type=…`: 200 `{"msg":"ok"}` when the caller's
/// session holds a recent enough confirmation (MFA: `SECURITY_MFA_VERIFY_TTL`; password and
/// relogin: 300 s), else the 412 the protected endpoints answer.
async fn confirm_check(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let kind = confirm_kind(q.get("confirm_type").map(String::as_str))?;
    let ttl = match kind {
        ConfirmKind::Mfa => state.auth().security().await?.mfa_verify_ttl,
        ConfirmKind::Password | ConfirmKind::Relogin => CONFIRM_TTL_SECS,
    };
    if caller.confirmed_within(kind, ttl) {
        Ok(Json(ok_msg()))
    } else {
        Err(ApiError::ConfirmRequired(kind.as_str()))
    }
}

// ---------------------------------------------------------------------------------------------
// Logout
// ---------------------------------------------------------------------------------------------

/// `POST`/`DELETE /authentication/logout/`: ends the caller's web session (the cookie stops
/// working at once) and tells the browser to drop the cookies. A token caller gets the same
/// answer; bearer tokens have no revocation in JumpServer and keep working until they expire.
async fn logout(caller: Caller, State(state): State<AppState>) -> Result<Response, ApiError> {
    if let Some(session) = &caller.session {
        state.auth().end_session(session.id).await?;
    }
    Ok(with_cookies(StatusCode::OK, cleared_cookies(), ok_msg()))
}

// ---------------------------------------------------------------------------------------------
// Access keys
// ---------------------------------------------------------------------------------------------

async fn list_keys(caller: Caller, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let keys = state.auth().access_keys(caller.user_id).await?;
    Ok(Json(Value::Array(
        keys.into_iter()
            .map(|k| {
                json!({
                    "id": k.id,
                    "is_active": k.is_active,
                    "ip_group": k.ip_group,
                    "date_created": datetime(k.date_created),
                    "date_last_used": crate::fmt::opt_datetime(k.date_last_used),
                })
            })
            .collect(),
    )))
}

/// How recent a password confirmation must be to create an access key (§2.4, §2.8).
const ACCESS_KEY_CONFIRM_TTL: u64 = 300;

async fn create_key(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // A new key is a long-lived credential: ask for the password again, as JumpServer does.
    if !caller.confirmed_within(ConfirmKind::Password, ACCESS_KEY_CONFIRM_TTL) {
        return Err(ApiError::ConfirmRequired("password"));
    }
    let (id, secret) = state
        .auth()
        .create_access_key(caller.user_id)
        .await
        .map_err(|e| ApiError::Refused(e.to_string()))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "secret": secret.expose(), "is_active": true, "ip_group": ["*"]})),
    ))
}

fn key_json(k: &portcullis_auth::AccessKeyInfo) -> Value {
    json!({
        "id": k.id,
        "is_active": k.is_active,
        "ip_group": k.ip_group,
        "date_created": datetime(k.date_created),
        "date_last_used": crate::fmt::opt_datetime(k.date_last_used),
    })
}

fn key_id(id: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::NotFound("AccessKey"))
}

async fn key_detail(
    caller: Caller,
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = key_id(&id)?;
    let keys = state.auth().access_keys(caller.user_id).await?;
    let key = keys
        .iter()
        .find(|k| k.id == id)
        .ok_or(ApiError::NotFound("AccessKey"))?;
    Ok(Json(key_json(key)))
}

/// `PATCH/PUT …/access-keys/<id>/`: `is_active` and `ip_group` of one of the caller's keys.
async fn update_key(
    caller: Caller,
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = key_id(&id)?;
    let body = super::common::object(body)?;
    super::common::check_fields(
        &body,
        &[
            "is_active",
            "ip_group",
            "id",
            "date_created",
            "date_last_used",
        ],
    )?;
    let is_active = super::common::flag(&body, "is_active")?;
    let ip_group = match body.get("ip_group") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| ApiError::field("ip_group", "Not a valid string."))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(ApiError::field("ip_group", "Expected a list of items.")),
    };
    let key = state
        .auth()
        .update_access_key(caller.user_id, id, is_active, ip_group)
        .await
        .map_err(|e| match e {
            portcullis_auth::AuthError::Invalid(msg) => ApiError::field("ip_group", msg),
            other => other.into(),
        })?
        .ok_or(ApiError::NotFound("AccessKey"))?;
    Ok(Json(key_json(&key)))
}

async fn delete_key(
    caller: Caller,
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = key_id(&id)?;
    if state.auth().delete_access_key(caller.user_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("AccessKey"))
    }
}
