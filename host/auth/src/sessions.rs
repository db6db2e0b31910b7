//! Web sessions (`jms_sessionid`, reference §2.5) and step-up confirmations (§2.8).
//!
//! A session is a random cookie value; `user_sessions` keeps only its SHA-256, like tokens.
//! Two kinds of rows exist:
//!
//! - an *unfinished login* (`is_active` false): the password was right and the second factor
//!   is awaited. It lives `AUTH_EXPIRED_SECONDS` and never authenticates a request; it only
//!   lets `/mfa/challenge/` and the final `/auth/` call know whose password was checked.
//! - a *logged-in session* (`is_active` true), created when a login completes, living
//!   `SESSION_COOKIE_AGE` seconds. A fresh cookie value is issued at that point, so a value
//!   planted before the login (session fixation) is worth nothing afterwards.
//!
//! The CSRF token (`jms_csrftoken`, sent back in `X-CSRFToken` on unsafe methods) is bound to
//! the session: its hash is in the session's data, so a cookie tossed in from a sibling domain
//! does not pass. Step-up confirmations are kept in the data with their time, per kind (as
//! JumpServer keeps `CONFIRM_LEVEL` / `CONFIRM_TIME`); a stronger kind satisfies a weaker one.

use chrono::{DateTime, Duration, Utc};
use portcullis_core::secret::SecretString;
use portcullis_store::auth::NewUserSession;
use portcullis_store::codec::{from_micros, now_micros};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use uuid::Uuid;

use crate::login::{LoginFailure, LoginMeta, LoginType, minutes_until, verify};
use crate::tokens::{random_alphanumeric, token_hash};
use crate::{Auth, AuthError, expired};

/// The session cookie (`<prefix>sessionid`, prefix `jms_`).
pub const SESSION_COOKIE: &str = "jms_sessionid";
/// The CSRF cookie, echoed in the `X-CSRFToken` header.
pub const CSRF_COOKIE: &str = "jms_csrftoken";
/// The CSRF header.
pub const CSRF_HEADER: &str = "x-csrftoken";

/// Length of a session cookie value (Django's are 32 characters).
const SESSION_KEY_LEN: usize = 32;
/// Length of a CSRF token (Django's are 32 characters, 64 masked).
const CSRF_LEN: usize = 32;
/// Longer cookie values are not ours; refuse them before hashing or querying.
const MAX_COOKIE_LEN: usize = 256;
/// `date_last_seen` is written at most once a minute per session.
const LAST_SEEN_GRANULARITY_SECS: i64 = 60;
/// A `relogin` confirmation is accepted only this soon after the session's login.
const RELOGIN_WINDOW_SECS: i64 = 10;
/// TTL of `password` and `relogin` confirmations (JumpServer's `UserConfirmation.ttl`).
pub const CONFIRM_TTL_SECS: u64 = 300;

/// A step-up confirmation, weakest first. A stronger one satisfies a weaker requirement (an
/// MFA confirmation also allows what needs a password confirmation), as JumpServer's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfirmKind {
    /// Logged in within the last seconds.
    Relogin,
    /// The password typed again.
    Password,
    /// A one-time code.
    Mfa,
}

impl ConfirmKind {
    /// JumpServer's `confirm_type` / 412 `code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfirmKind::Relogin => "relogin",
            ConfirmKind::Password => "password",
            ConfirmKind::Mfa => "mfa",
        }
    }

    /// From a `confirm_type` value.
    pub fn parse(text: &str) -> Option<ConfirmKind> {
        match text.trim() {
            "relogin" => Some(ConfirmKind::Relogin),
            "password" => Some(ConfirmKind::Password),
            "mfa" => Some(ConfirmKind::Mfa),
            _ => None,
        }
    }

    /// Every kind, weakest first.
    pub const ALL: [ConfirmKind; 3] = [
        ConfirmKind::Relogin,
        ConfirmKind::Password,
        ConfirmKind::Mfa,
    ];
}

/// The JSON kept in `user_sessions.data`. Unknown fields are ignored, missing ones default,
/// so older rows still read.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct SessionData {
    /// Unfinished login: the login name typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    /// Unfinished login: microseconds until which the checked password counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_verified_until: Option<i64>,
    /// Unfinished login: the one-time code was accepted.
    #[serde(default)]
    mfa_verified: bool,
    /// Unfinished login of a user who must bind a second factor first: only binding is
    /// possible with it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    mfa_setup: bool,
    /// Logged in: SHA-256 hex of the CSRF token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    csrf_hash: Option<String>,
    /// Logged in: microseconds of the last confirmation of each kind (`relogin`,
    /// `password`, `mfa`). Kept per kind so that a weaker confirmation made later does not
    /// hide a stronger one that is still valid.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    confirmed: BTreeMap<String, i64>,
}

impl SessionData {
    fn parse(text: &str, id: Uuid) -> Result<SessionData, AuthError> {
        serde_json::from_str(text).map_err(|_| {
            AuthError::Store(portcullis_store::StoreError::Corrupt(format!(
                "user_sessions.data of {id}"
            )))
        })
    }

    fn to_text(&self) -> Result<String, AuthError> {
        serde_json::to_string(self).map_err(|e| AuthError::Invalid(e.to_string()))
    }
}

/// A new session cookie (and, for a logged-in session, its CSRF token). The plaintext exists
/// only here; the database keeps hashes.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    /// The `jms_sessionid` value.
    pub key: SecretString,
    /// The `jms_csrftoken` value (`None` for an unfinished login, which needs none).
    pub csrf_token: Option<String>,
    /// Seconds the cookie lives (`Max-Age`).
    pub max_age: u64,
}

/// An unfinished login found from its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    /// The session row.
    pub session_id: Uuid,
    /// The user whose password was checked.
    pub user_id: Uuid,
    /// The login name typed.
    pub username: String,
    /// Whether the one-time code was accepted already.
    pub mfa_verified: bool,
    /// Whether this login waits for the user to bind a second factor (MFA is required and
    /// none is bound): the only thing it allows is `/authentication/mfa/setup/`. Binding
    /// with a valid code counts as the second factor ([`Auth::mark_pending_mfa_ok`]).
    pub needs_mfa_setup: bool,
    /// Web, terminal or unknown (from the first step).
    pub login_type: LoginType,
    /// The backend of the first step.
    pub backend: String,
    data: SessionData,
}

/// A logged-in session that authenticated a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    /// The session row.
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// When the session was created (the login).
    pub login_time: DateTime<Utc>,
    data: SessionData,
}

impl ActiveSession {
    /// Whether the session holds a confirmation at least as strong as `kind` made within the
    /// last `seconds`.
    pub fn confirmed_within(&self, kind: ConfirmKind, seconds: u64) -> bool {
        self.confirmed_within_at(kind, seconds, now_micros())
    }

    fn confirmed_within_at(&self, kind: ConfirmKind, seconds: u64, now_us: i64) -> bool {
        let window = i64::try_from(seconds)
            .unwrap_or(i64::MAX / 1_000_000)
            .saturating_mul(1_000_000);
        ConfirmKind::ALL
            .iter()
            .filter(|k| **k >= kind)
            .filter_map(|k| self.data.confirmed.get(k.as_str()))
            .any(|&at| at >= now_us - window)
    }
}

/// How a request presents the CSRF token: both are required on unsafe methods.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsrfCheck<'a> {
    /// The method changes state (POST, PUT, PATCH, DELETE, anything but GET/HEAD/OPTIONS/TRACE).
    pub unsafe_method: bool,
    /// The `X-CSRFToken` header.
    pub header: Option<&'a str>,
    /// The `jms_csrftoken` cookie.
    pub cookie: Option<&'a str>,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn seconds_after(now: DateTime<Utc>, secs: u64) -> DateTime<Utc> {
    now.checked_add_signed(Duration::seconds(
        i64::try_from(secs).unwrap_or(i64::MAX / 1000),
    ))
    .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl Auth {
    /// Opens an unfinished login after a correct password (§2.2 step 1): the cookie lets
    /// `/mfa/challenge/` and the final `/auth/` find the user for `AUTH_EXPIRED_SECONDS`.
    pub async fn start_pending_login(
        &self,
        user_id: Uuid,
        meta: &LoginMeta,
    ) -> Result<IssuedSession, AuthError> {
        self.open_pending_login(user_id, meta, false).await
    }

    /// Opens an unfinished login for a user whose password was right but who must bind a
    /// second factor before logging in (`mfa_unset`): the cookie lets only
    /// `/authentication/mfa/setup/` act for the user, and once a code from the new secret is
    /// accepted the final `/auth/` completes the login.
    pub async fn start_mfa_setup_login(
        &self,
        user_id: Uuid,
        meta: &LoginMeta,
    ) -> Result<IssuedSession, AuthError> {
        self.open_pending_login(user_id, meta, true).await
    }

    async fn open_pending_login(
        &self,
        user_id: Uuid,
        meta: &LoginMeta,
        mfa_setup: bool,
    ) -> Result<IssuedSession, AuthError> {
        let settings = self.security().await?;
        let now = Utc::now();
        let until = seconds_after(now, settings.auth_expired_seconds);
        let data = SessionData {
            username: Some(meta.username.clone()),
            password_verified_until: Some(until.timestamp_micros()),
            mfa_setup,
            ..SessionData::default()
        };
        let key = self
            .insert_session(user_id, meta, false, &data, now, until)
            .await?;
        Ok(IssuedSession {
            key,
            csrf_token: None,
            max_age: settings.auth_expired_seconds,
        })
    }

    /// The unfinished login behind a cookie value, if it is one, has not expired and its
    /// user may still log in.
    pub async fn pending_login(&self, key: &str) -> Result<Option<PendingLogin>, AuthError> {
        let Some(row) = self.session_row(key).await? else {
            return Ok(None);
        };
        let now = now_micros();
        if row.is_active
            || row.date_expired <= now
            || !row.user_is_active
            || expired(row.user_date_expired, now)
        {
            return Ok(None);
        }
        let data = SessionData::parse(&row.data, row.id)?;
        let (Some(username), Some(until)) = (data.username.clone(), data.password_verified_until)
        else {
            return Ok(None);
        };
        if until <= now {
            return Ok(None);
        }
        Ok(Some(PendingLogin {
            session_id: row.id,
            user_id: row.user_id,
            username,
            mfa_verified: data.mfa_verified,
            needs_mfa_setup: data.mfa_setup,
            login_type: LoginType::from_code(&row.login_type),
            backend: row.backend.clone(),
            data,
        }))
    }

    /// Records on an unfinished login that its one-time code was accepted.
    pub async fn mark_pending_mfa_ok(&self, pending: &PendingLogin) -> Result<(), AuthError> {
        let data = SessionData {
            mfa_verified: true,
            ..pending.data.clone()
        };
        self.store()
            .set_user_session_data(pending.session_id, &data.to_text()?)
            .await?;
        Ok(())
    }

    /// Creates a logged-in session (a completed login): a new cookie value and a CSRF token,
    /// living `SESSION_COOKIE_AGE` seconds.
    pub async fn create_session(
        &self,
        user_id: Uuid,
        meta: &LoginMeta,
    ) -> Result<IssuedSession, AuthError> {
        let settings = self.security().await?;
        let now = Utc::now();
        let csrf = random_alphanumeric(CSRF_LEN);
        let data = SessionData {
            csrf_hash: Some(token_hash(&csrf)),
            ..SessionData::default()
        };
        let until = seconds_after(now, settings.session_cookie_age);
        let key = self
            .insert_session(user_id, meta, true, &data, now, until)
            .await?;
        Ok(IssuedSession {
            key,
            csrf_token: Some(csrf),
            max_age: settings.session_cookie_age,
        })
    }

    /// The logged-in session behind a cookie value, or `None` when the value is unknown, the
    /// session or its user expired, the user is disabled, or — for an unsafe method — the
    /// CSRF header is missing or does not match the cookie and the session's token. `None`
    /// makes the request anonymous (§2.5), not an error.
    pub async fn authenticate_session(
        &self,
        key: &str,
        csrf: CsrfCheck<'_>,
    ) -> Result<Option<ActiveSession>, AuthError> {
        let Some(row) = self.session_row(key).await? else {
            return Ok(None);
        };
        let now = now_micros();
        if !row.is_active
            || row.date_expired <= now
            || !row.user_is_active
            || expired(row.user_date_expired, now)
        {
            return Ok(None);
        }
        let data = SessionData::parse(&row.data, row.id)?;
        if csrf.unsafe_method {
            let (Some(header), Some(cookie), Some(expected)) =
                (csrf.header, csrf.cookie, data.csrf_hash.as_deref())
            else {
                return Ok(None);
            };
            let header = header.trim();
            if header.is_empty()
                || !constant_time_eq(header.as_bytes(), cookie.trim().as_bytes())
                || !constant_time_eq(token_hash(header).as_bytes(), expected.as_bytes())
            {
                return Ok(None);
            }
        }
        self.store()
            .touch_user_session(row.id, now, now - LAST_SEEN_GRANULARITY_SECS * 1_000_000)
            .await?;
        Ok(Some(ActiveSession {
            id: row.id,
            user_id: row.user_id,
            login_time: from_micros(row.date_created),
            data,
        }))
    }

    /// Ends a session (logout, or an unfinished login that completed). Returns whether it
    /// existed.
    pub async fn end_session(&self, id: Uuid) -> Result<bool, AuthError> {
        Ok(self.store().delete_user_session(id).await?)
    }

    /// Step-up confirmation (`POST /authentication/confirm/`) for a logged-in session:
    /// checks `secret` for `kind` — the password, a one-time code (counted like a login), or
    /// for `relogin` that the session logged in seconds ago — and on success records the
    /// confirmation in the session. `Err` carries the refusal for the 400 `{"error"}`.
    pub async fn confirm(
        &self,
        session: &ActiveSession,
        kind: ConfirmKind,
        secret: &str,
        ip: IpAddr,
    ) -> Result<Result<(), LoginFailure>, AuthError> {
        let checked = match kind {
            ConfirmKind::Mfa => match self.check_otp(session.user_id, secret, ip).await {
                Err(f) if f.is_internal() => return Err(AuthError::Invalid(f.msg)),
                other => other,
            },
            ConfirmKind::Password => self.check_password(session.user_id, secret, ip).await?,
            ConfirmKind::Relogin => {
                if Utc::now() - session.login_time <= Duration::seconds(RELOGIN_WINDOW_SECS) {
                    Ok(())
                } else {
                    Err(LoginFailure::new(
                        "relogin_required",
                        "Please log in again to confirm.",
                    ))
                }
            }
        };
        if checked.is_err() {
            return Ok(checked);
        }
        let mut data = session.data.clone();
        data.confirmed
            .insert(kind.as_str().to_owned(), now_micros());
        if !self
            .store()
            .set_user_session_data(session.id, &data.to_text()?)
            .await?
        {
            return Ok(Err(LoginFailure::new(
                "session_empty",
                "The session has ended; log in again.",
            )));
        }
        Ok(Ok(()))
    }

    /// Whether the user has a password this host can check (a local user with a hash), so
    /// that a `password` confirmation is possible.
    pub async fn can_confirm_password(&self, user_id: Uuid) -> Result<bool, AuthError> {
        Ok(self
            .store()
            .user_mfa(user_id)
            .await?
            .is_some_and(|u| u.source == "local" && u.password_hash.is_some()))
    }

    /// Checks the user's password again (a `password` confirmation); wrong passwords count
    /// toward the lockout like a login's.
    async fn check_password(
        &self,
        user_id: Uuid,
        password: &str,
        ip: IpAddr,
    ) -> Result<Result<(), LoginFailure>, AuthError> {
        let settings = self.security().await?;
        let ip_text = ip.to_canonical().to_string();
        let now = now_micros();
        let Some(user) = self.store().user_mfa(user_id).await? else {
            return Ok(Err(LoginFailure::new("password_failed", "User not found.")));
        };
        if let Some(until) = user.locked_until.filter(|&t| t > now) {
            return Ok(Err(LoginFailure::new(
                crate::codes::BLOCK_LOGIN,
                format!(
                    "The account has been locked (please contact admin to unlock it or try \
                     again after {} minutes)",
                    minutes_until(until, now)
                ),
            )));
        }
        let hash = user.password_hash.filter(|_| user.source == "local");
        let ok = match hash {
            Some(hash) => matches!(verify(&SecretString::new(password), hash).await?, Ok(true)),
            None => false,
        };
        if ok {
            return Ok(Ok(()));
        }
        self.record_failure(&settings, &user.username, Some(user_id), &ip_text, now)
            .await?;
        Ok(Err(LoginFailure::new(
            "password_failed",
            "The password is incorrect.",
        )))
    }

    async fn session_row(
        &self,
        key: &str,
    ) -> Result<Option<portcullis_store::auth::UserSessionRow>, AuthError> {
        let key = key.trim();
        if key.is_empty() || key.len() > MAX_COOKIE_LEN {
            return Ok(None);
        }
        Ok(self.store().user_session(&token_hash(key)).await?)
    }

    async fn insert_session(
        &self,
        user_id: Uuid,
        meta: &LoginMeta,
        logged_in: bool,
        data: &SessionData,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<SecretString, AuthError> {
        let key = random_alphanumeric(SESSION_KEY_LEN);
        let hash = token_hash(&key);
        let ip = meta.ip.to_canonical().to_string();
        let text = data.to_text()?;
        self.store()
            .insert_user_session(&NewUserSession {
                id: Uuid::new_v4(),
                key_hash: &hash,
                user_id,
                ip: &ip,
                user_agent: crate::login::truncate(
                    &meta.user_agent,
                    crate::login::MAX_LOGGED_USER_AGENT,
                ),
                login_type: meta.login_type.as_str(),
                backend: &meta.backend,
                is_active: logged_in,
                data: &text,
                now: now.timestamp_micros(),
                expires: until.timestamp_micros(),
            })
            .await?;
        Ok(SecretString::new(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(confirmed: &[(ConfirmKind, i64)]) -> ActiveSession {
        ActiveSession {
            id: Uuid::nil(),
            user_id: Uuid::nil(),
            login_time: from_micros(0),
            data: SessionData {
                confirmed: confirmed
                    .iter()
                    .map(|(k, t)| (k.as_str().to_owned(), *t))
                    .collect(),
                ..SessionData::default()
            },
        }
    }

    #[test]
    fn stronger_confirmations_satisfy_weaker_ones_within_their_ttl() {
        let now = 1_000_000_000_000;
        let s = session(&[(ConfirmKind::Mfa, now - 10_000_000)]);
        assert!(s.confirmed_within_at(ConfirmKind::Mfa, 60, now));
        assert!(s.confirmed_within_at(ConfirmKind::Password, 60, now));
        assert!(!s.confirmed_within_at(ConfirmKind::Mfa, 5, now), "too old");
        let s = session(&[
            (ConfirmKind::Password, now),
            (ConfirmKind::Mfa, now - 10_000_000),
        ]);
        assert!(
            s.confirmed_within_at(ConfirmKind::Mfa, 60, now),
            "not hidden"
        );
        assert!(
            !session(&[(ConfirmKind::Password, now)]).confirmed_within_at(
                ConfirmKind::Mfa,
                60,
                now
            )
        );
        assert!(!session(&[]).confirmed_within_at(ConfirmKind::Relogin, 60, now));
        assert!(s.confirmed_within_at(ConfirmKind::Relogin, u64::MAX, now));
    }

    #[test]
    fn data_round_trips_and_tolerates_unknown_fields() {
        let d = SessionData::parse(r#"{"csrf_hash":"x","other":1}"#, Uuid::nil()).unwrap();
        assert_eq!(d.csrf_hash.as_deref(), Some("x"));
        assert!(!d.mfa_verified);
        let text = d.to_text().unwrap();
        assert_eq!(SessionData::parse(&text, Uuid::nil()).unwrap(), d);
        assert!(SessionData::parse("not json", Uuid::nil()).is_err());
        assert_eq!(ConfirmKind::parse("mfa"), Some(ConfirmKind::Mfa));
        assert_eq!(ConfirmKind::parse("sms"), None);
    }
}
