//! Who is calling, from where, in which org: resolved once per request by the [`Caller`]
//! extractor, in the order the reference gives (§2.1): HTTP signature, private token, bearer
//! token, then the session cookie (with the CSRF check on unsafe methods; a failed check makes
//! the request anonymous, §2.5). The org comes from `oid=`, then `X-JMS-ORG`, then the
//! `X-JMS-ORG` cookie (§2.6).

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use portcullis_auth::{
    ActiveSession, CSRF_COOKIE, CSRF_HEADER, ConfirmKind, CsrfCheck, SESSION_COOKIE, SignedRequest,
    TokenKind, UserRoles,
};
use portcullis_core::builtin::{DEFAULT_ORG_ID, ROOT_ORG_ID, SYSTEM_ORG_ID};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use uuid::Uuid;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthVia {
    /// Access key with an HTTP signature.
    Signature,
    /// `Authorization: Token …`.
    PrivateToken,
    /// `Authorization: Bearer …`.
    Bearer,
    /// The `jms_sessionid` cookie of a web login.
    Session,
}

/// The method and target the client signed, set by layers that hand a rewritten request on to
/// the handlers (bulk forms, list scans): an HTTP Signature covers `(request-target)`, so it is
/// verified against what the client sent, not against the rewrite. Only layers set it; a
/// client cannot.
#[derive(Debug, Clone)]
pub struct SignedTarget {
    /// The client's method.
    pub method: String,
    /// The client's path and query.
    pub path_and_query: String,
}

/// An authenticated caller in an org context.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user_id: Uuid,
    /// What their roles grant.
    pub roles: UserRoles,
    /// The current org; `None` is the root (cross-org) view.
    pub org: Option<Uuid>,
    /// The client address.
    pub ip: IpAddr,
    /// The scheme used.
    pub via: AuthVia,
    /// The web session, when the caller came with the session cookie: handlers read its
    /// step-up confirmations through [`Caller::confirmed_within`].
    pub session: Option<ActiveSession>,
}

impl Caller {
    /// Refuses with 403 unless the caller's roles grant `codename` in the current org.
    pub fn require(&self, codename: &str) -> Result<(), ApiError> {
        if self.roles.grants(self.org, codename) {
            Ok(())
        } else {
            Err(ApiError::PermissionDenied)
        }
    }

    /// Refuses with 403 unless a *system* role grants `codename`. For acts whose effect reaches
    /// beyond one org (system roles, deleting a user, system-wide ACLs and settings): an org
    /// admin's `*` covers their org only and must not pass here.
    pub fn require_system(&self, codename: &str) -> Result<(), ApiError> {
        if self.roles.grants(None, codename) {
            Ok(())
        } else {
            Err(ApiError::PermissionDenied)
        }
    }

    /// Whether the caller's session holds a step-up confirmation at least as strong as `kind`
    /// from the last `seconds` (§2.8). Always `false` for token, key and signature callers:
    /// they have no session to confirm in, as in JumpServer.
    pub fn confirmed_within(&self, kind: ConfirmKind, seconds: u64) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.confirmed_within(kind, seconds))
    }

    /// The org new org-scoped objects go to: the current org, or Default in the root view.
    pub fn write_org(&self) -> Uuid {
        self.org.unwrap_or(DEFAULT_ORG_ID)
    }
}

/// The client's address as the socket saw it. `X-Forwarded-For` is not trusted: it would let
/// any client step around access-key IP lists and login lockouts.
pub fn client_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip())
}

/// The client address as an extractor, for handlers that do not need a [`Caller`].
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// A cookie of the request (the first with that name).
pub(crate) fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    request_cookie(&parts.headers, name)
}

/// A cookie from request headers (the first with that name), for handlers that take the
/// headers rather than a [`Caller`] (the login steps).
pub(crate) fn request_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn query_param<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .uri
        .query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The org the request asks for, as given (`None` when it names none).
fn requested_org(parts: &Parts) -> Option<Result<Uuid, ()>> {
    let raw = query_param(parts, "oid")
        .or_else(|| header(parts, "x-jms-org"))
        .or_else(|| cookie(parts, "X-JMS-ORG"))?;
    Some(match raw.trim().to_ascii_lowercase().as_str() {
        "" => return None,
        "default" => Ok(DEFAULT_ORG_ID),
        "root" => Ok(ROOT_ORG_ID),
        "system" => Ok(SYSTEM_ORG_ID),
        other => Uuid::parse_str(other).map_err(|_| ()),
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The access layer authenticated this request already to check the route's need.
        if let Some(crate::access::Authenticated(caller)) = parts.extensions.remove() {
            return Ok(caller);
        }
        let ip = client_ip(parts);
        let auth = state.auth();
        let authorization = header(parts, "authorization")
            .unwrap_or_default()
            .trim()
            .to_owned();
        let (scheme, value) = authorization
            .split_once(' ')
            .unwrap_or((authorization.as_str(), ""));
        let (user_id, via) = match scheme.to_ascii_lowercase().as_str() {
            "signature" => {
                let headers: Vec<(String, String)> = parts
                    .headers
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned()))
                    })
                    .collect();
                let (method, path_and_query) = match parts.extensions.get::<SignedTarget>() {
                    Some(t) => (t.method.clone(), t.path_and_query.clone()),
                    None => (
                        parts.method.as_str().to_owned(),
                        parts
                            .uri
                            .path_and_query()
                            .map_or("/", |p| p.as_str())
                            .to_owned(),
                    ),
                };
                let req = SignedRequest {
                    method: &method,
                    path_and_query: &path_and_query,
                    headers: &headers,
                    authorization: &authorization,
                    ip,
                };
                let user = auth.authenticate_signature(&req).await.map_err(|e| {
                    if e.is_internal() {
                        ApiError::Internal(e.to_string())
                    } else {
                        ApiError::AuthenticationFailed(e.to_string())
                    }
                })?;
                (user, AuthVia::Signature)
            }
            "token" => (
                auth.authenticate_token(TokenKind::Private, value.trim())
                    .await?
                    .ok_or(ApiError::NotAuthenticated)?,
                AuthVia::PrivateToken,
            ),
            "bearer" => {
                if value.trim().is_empty() || value.trim().contains(' ') {
                    return Err(ApiError::AuthenticationFailed(
                        "Invalid token header. Token string should not contain spaces.".into(),
                    ));
                }
                (
                    auth.authenticate_token(TokenKind::Bearer, value.trim())
                        .await?
                        .ok_or(ApiError::NotAuthenticated)?,
                    AuthVia::Bearer,
                )
            }
            _ => {
                let Some(session) = session_of(parts, state).await? else {
                    return Err(ApiError::NotAuthenticated);
                };
                let user = session.user_id;
                return finish(parts, state, user, AuthVia::Session, ip, Some(session)).await;
            }
        };
        // A script keeps the session cookie of its login beside the token (JumpServer keeps
        // step-up confirmations in that session whatever authenticated the request). It is
        // attached only as state, only when it belongs to the same user, and never
        // authenticates: the header did.
        let session = session_state(parts, state, user_id).await?;
        finish(parts, state, user_id, via, ip, session).await
    }
}

/// The session cookie's session, for step-up state, when it belongs to `user_id`. No CSRF
/// check: a request carrying an `Authorization` header was not forged by another site.
async fn session_state(
    parts: &Parts,
    state: &AppState,
    user_id: Uuid,
) -> Result<Option<ActiveSession>, ApiError> {
    let Some(key) = cookie(parts, SESSION_COOKIE) else {
        return Ok(None);
    };
    let check = CsrfCheck {
        unsafe_method: false,
        header: None,
        cookie: None,
    };
    Ok(state
        .auth()
        .authenticate_session(key, check)
        .await?
        .filter(|s| s.user_id == user_id))
}

/// Whether a method may change state, so that a session needs the CSRF header for it.
fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The logged-in session of the `jms_sessionid` cookie, checked against CSRF on unsafe
/// methods; `None` (anonymous) when absent, unknown, expired, or the CSRF check fails.
async fn session_of(parts: &Parts, state: &AppState) -> Result<Option<ActiveSession>, ApiError> {
    let Some(key) = cookie(parts, SESSION_COOKIE) else {
        return Ok(None);
    };
    let check = CsrfCheck {
        unsafe_method: is_unsafe(&parts.method),
        header: header(parts, CSRF_HEADER),
        cookie: cookie(parts, CSRF_COOKIE),
    };
    Ok(state.auth().authenticate_session(key, check).await?)
}

/// Loads the roles and resolves the org of an authenticated user.
async fn finish(
    parts: &Parts,
    state: &AppState,
    user_id: Uuid,
    via: AuthVia,
    ip: IpAddr,
    session: Option<ActiveSession>,
) -> Result<Caller, ApiError> {
    let roles = state.auth().roles(user_id).await?;
    let org = resolve_org(state, &roles, requested_org(parts)).await?;
    Ok(Caller {
        user_id,
        roles,
        org,
        ip,
        via,
        session,
    })
}

/// The org a caller works in: the root view needs a system-level role; an org needs a role
/// in it (or a system-level one); anything else falls back to the caller's first org, then
/// Default — the enterprise edition's behaviour.
async fn resolve_org(
    state: &AppState,
    roles: &UserRoles,
    requested: Option<Result<Uuid, ()>>,
) -> Result<Option<Uuid>, ApiError> {
    // System administrators and auditors see every org (and the root view).
    let system_level = roles.grants(None, "orgs.view_rootorg");
    let mine = roles.org_ids();
    match requested {
        Some(Ok(id)) if id == ROOT_ORG_ID && system_level => Ok(None),
        Some(Ok(id))
            if (system_level || mine.contains(&id)) && state.store().org_exists(id).await? =>
        {
            Ok(Some(id))
        }
        _ => Ok(Some(mine.first().copied().unwrap_or(DEFAULT_ORG_ID))),
    }
}
