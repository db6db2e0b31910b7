//! Password logins: lockout per user and per client address, login ACLs, the login log.
//!
//! The order of checks follows JumpServer and is chosen so that the answer never tells a
//! stranger whether a login name exists:
//!
//! 1. the client address is blocked → `block_global_ip_login` (before anything else);
//! 2. the user is locked → `block_login` (before the password, so a locked account cannot be
//!    probed for its password);
//! 3. the password is verified — against a fixed dummy hash when the user does not exist, has
//!    no local password, or is not a local user, so every wrong answer costs one Argon2
//!    verification and the reply is the same `password_failed`;
//! 4. only then are the disabled / expired / unused states reported, and login ACLs applied.
//!
//! Unknown names get the same failure counting and lockout as real users, through an in-memory
//! counter (`Phantom`), so "locked after N tries" does not reveal existence either.
//! Every attempt writes exactly one `login_logs` row.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::LazyLock;

use chrono::{DateTime, Local, Utc};
use portcullis_core::acl::{AttrMap, LoginAction, evaluate_login};
use portcullis_core::password::{PasswordError, hash_password, verify_password};
use portcullis_core::secret::SecretString;
use portcullis_store::auth::{LoginLogEntry, LoginUser};
use portcullis_store::codec::micros;
use thiserror::Error;
use uuid::Uuid;

use crate::{Auth, AuthError, SecuritySettings, expired};
use portcullis_core::builtin::ORG_ADMIN_ROLE_ID;

/// The `error` codes of a failed login, as JumpServer names them.
pub mod codes {
    /// Wrong user name or password (the message says how many tries are left).
    pub const PASSWORD_FAILED: &str = "password_failed";
    /// The user is locked after too many wrong passwords.
    pub const BLOCK_LOGIN: &str = "block_login";
    /// The client address is blocked after too many failed logins.
    pub const BLOCK_GLOBAL_IP_LOGIN: &str = "block_global_ip_login";
    /// The user is disabled (or was disabled now for not being used).
    pub const USER_INACTIVE: &str = "user_inactive";
    /// The user's `date_expired` has passed.
    pub const USER_EXPIRED: &str = "user_expired";
    /// A login ACL rejected the login.
    pub const ACL_NOT_ALLOW: &str = "acl_not_allow";
    /// A login ACL requires a reviewer's approval.
    pub const LOGIN_CONFIRM_WAIT: &str = "login_confirm_wait";
    /// The password is right and a second factor is needed (not a failure for the API, which
    /// answers 200 and continues with `/mfa/challenge/`; [`crate::Auth::login`] reports it as
    /// one so that a caller unaware of MFA cannot hand out a token).
    pub const MFA_REQUIRED: &str = "mfa_required";
    /// MFA is required for the user but no second factor is bound.
    pub const MFA_UNSET: &str = "mfa_unset";
    /// A wrong one-time code.
    pub const MFA_FAILED: &str = "mfa_failed";
    /// The user is locked after too many wrong passwords or codes (answer of an MFA step).
    pub const BLOCK_MFA: &str = "block_mfa";
    /// The password is right but older than `SECURITY_PASSWORD_EXPIRATION_TIME` days
    /// (JumpServer's `PasswordRequireResetError`): it must be changed before logging in.
    pub const PASSWORD_EXPIRED: &str = "passwd_has_expired";
    /// Portcullis' own code: an expired-password change was asked for a password that has
    /// not expired (change it through the profile instead).
    pub const PASSWORD_NOT_EXPIRED: &str = "passwd_not_expired";
    /// Portcullis' own code: the server could not process the login (database down, corrupt
    /// row). The API should answer 500, not 400.
    pub const INTERNAL_ERROR: &str = "internal_error";
}

/// Longest login name and user agent kept in the log (JumpServer's column sizes), so a client
/// cannot make log rows arbitrarily large.
pub(crate) const MAX_LOGGED_USERNAME: usize = 128;
pub(crate) const MAX_LOGGED_USER_AGENT: usize = 254;
/// Unknown login names tracked for lockout at most; beyond this the oldest are forgotten.
const MAX_PHANTOMS: usize = 10_000;

pub(crate) const MICROS_PER_MINUTE: i64 = 60_000_000;

/// How long an approved login review lets the user log in from the reviewed address.
pub const LOGIN_REVIEW_VALIDITY: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Where a login comes from, stored in the log as JumpServer's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LoginType {
    /// Web.
    #[default]
    W,
    /// Terminal (KoKo sends `X-JMS-LOGIN-TYPE: T`).
    T,
    /// Unknown.
    U,
}

impl LoginType {
    /// The stored letter.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginType::W => "W",
            LoginType::T => "T",
            LoginType::U => "U",
        }
    }

    /// From an `X-JMS-LOGIN-TYPE` header or a `login_type` field: `W`, `T`, anything else `U`.
    pub fn from_code(code: &str) -> LoginType {
        match code.trim() {
            "W" | "w" => LoginType::W,
            "T" | "t" => LoginType::T,
            _ => LoginType::U,
        }
    }
}

/// A password login attempt.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// The login name as typed.
    pub username: String,
    /// The password (already decrypted from the web UI's envelope, if it used one).
    pub password: SecretString,
    /// The client address.
    pub ip: IpAddr,
    /// The client's user agent, for the log.
    pub user_agent: String,
    /// Web, terminal or unknown, for the log.
    pub login_type: LoginType,
    /// The authentication backend, for the log (`password`).
    pub backend: String,
}

impl LoginRequest {
    /// The parts of the request the login log keeps.
    pub fn meta(&self) -> LoginMeta {
        LoginMeta {
            username: self.username.clone(),
            ip: self.ip,
            user_agent: self.user_agent.clone(),
            login_type: self.login_type,
            backend: self.backend.clone(),
        }
    }
}

/// A login that may proceed (to token issuance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSuccess {
    /// The user.
    pub user_id: Uuid,
    /// The user's login name.
    pub username: String,
    /// The user must change the password before doing anything else.
    pub need_update_password: bool,
    /// The `notice` login ACL that matched: the caller notifies its reviewers.
    pub notice_acl: Option<Uuid>,
}

/// The result of a correct password: either the login is complete, or a second factor is
/// needed first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    /// Logged in (the log is written, counters cleared): issue a token.
    Done(LoginSuccess),
    /// The password is right, MFA is required: nothing is logged or cleared yet. Continue
    /// with [`Auth::mfa_login_attempt`] and [`Auth::finish_mfa_login`].
    MfaRequired(MfaPending),
}

/// A login waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaPending {
    /// The user.
    pub user_id: Uuid,
    /// The user's login name (for the log of the final step).
    pub username: String,
    /// The second factors the user can answer with (`otp`).
    pub choices: Vec<&'static str>,
}

/// What the final step of an MFA login logs (the first step's request details).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginMeta {
    /// The login name.
    pub username: String,
    /// The client address.
    pub ip: IpAddr,
    /// The client's user agent.
    pub user_agent: String,
    /// Web, terminal or unknown.
    pub login_type: LoginType,
    /// The authentication backend (`password`).
    pub backend: String,
}

/// A refused login: `code` is the `error` field of JumpServer's answer, `msg` the `msg`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{code}: {msg}")]
pub struct LoginFailure {
    /// One of [`codes`].
    pub code: &'static str,
    /// Human-readable explanation.
    pub msg: String,
    /// For [`codes::LOGIN_CONFIRM_WAIT`]: the login review ticket to wait on.
    pub ticket: Option<Uuid>,
    /// For [`codes::MFA_UNSET`]: the user whose password was right but who has no second
    /// factor bound while one is required. The web login opens a bind-only unfinished login
    /// for them ([`Auth::start_mfa_setup_login`]); other callers just refuse.
    pub mfa_unset_user: Option<Uuid>,
    /// For [`codes::PASSWORD_EXPIRED`]: the user whose (right) password has expired, so the
    /// caller can let them set a new one ([`Auth::verify_expired_password`]).
    pub password_expired_user: Option<Uuid>,
}

impl LoginFailure {
    /// Whether the server failed rather than the login being refused (answer 500).
    pub fn is_internal(&self) -> bool {
        self.code == codes::INTERNAL_ERROR
    }

    pub(crate) fn new(code: &'static str, msg: impl Into<String>) -> Self {
        LoginFailure {
            code,
            msg: msg.into(),
            ticket: None,
            mfa_unset_user: None,
            password_expired_user: None,
        }
    }

    fn password_failed(tries_left: i64, lock_minutes: u32) -> Self {
        Self::new(
            codes::PASSWORD_FAILED,
            format!(
                "The username or password you entered is incorrect, please enter it again. \
                 You can also try {tries_left} times (The account will be temporarily locked \
                 for {lock_minutes} minutes)"
            ),
        )
    }

    fn blocked_user(minutes: i64) -> Self {
        Self::new(
            codes::BLOCK_LOGIN,
            format!(
                "The account has been locked (please contact admin to unlock it or try again \
                 after {minutes} minutes)"
            ),
        )
    }

    pub(crate) fn blocked_ip(minutes: i64) -> Self {
        Self::new(
            codes::BLOCK_GLOBAL_IP_LOGIN,
            format!(
                "The IP address has been locked (please contact admin to unlock it or try \
                 again after {minutes} minutes)"
            ),
        )
    }

    /// A wrong one-time code, with the tries left before the account is locked.
    pub(crate) fn mfa_failed(tries_left: i64, lock_minutes: u32) -> Self {
        Self::new(
            codes::MFA_FAILED,
            format!(
                "MFA verify code invalid, please try again. You can also try {tries_left} times \
                 (The account will be temporarily locked for {lock_minutes} minutes)"
            ),
        )
    }

    /// The account is locked; said on an MFA step.
    pub(crate) fn blocked_mfa(minutes: i64) -> Self {
        Self::new(
            codes::BLOCK_MFA,
            format!(
                "The account has been locked (please contact admin to unlock it or try again \
                 after {minutes} minutes)"
            ),
        )
    }

    pub(crate) fn internal() -> Self {
        Self::new(
            codes::INTERNAL_ERROR,
            "The login could not be processed because of a server error; the administrator \
             can find the cause in the server log.",
        )
    }
}

/// The hash unknown users' passwords are checked against, so that they cost the same Argon2
/// verification as real ones. Made with the real hasher, so the parameters are the same.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_password("portcullis: the password of a user that does not exist").unwrap_or_default()
});

/// Computes the dummy hash ahead of the first login.
pub(crate) fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

/// Failure counting for a login name that does not exist, mirroring the user columns
/// `failed_login_count` / `locked_until`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Phantom {
    count: i64,
    locked_until: Option<i64>,
    last_failure: i64,
}

/// Whole minutes from `now` until `until`, at least 1.
pub(crate) fn minutes_until(until: i64, now: i64) -> i64 {
    ((until - now + MICROS_PER_MINUTE - 1) / MICROS_PER_MINUTE).max(1)
}

pub(crate) fn truncate(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub(crate) async fn verify(
    password: &SecretString,
    hash: String,
) -> Result<Result<bool, PasswordError>, AuthError> {
    let password = password.clone();
    tokio::task::spawn_blocking(move || verify_password(password.expose(), &hash))
        .await
        .map_err(|e| AuthError::Task(e.to_string()))
}

type Outcome = Result<LoginStep, LoginFailure>;

/// What proves the user's identity before the common checks.
enum FirstFactor<'a> {
    /// `LoginRequest::password` against the stored hash.
    Password,
    /// A key the client proved it holds (SSH), by SHA-256 fingerprint.
    PublicKey { fingerprint: &'a str },
    /// `LoginRequest::password`, checked to replace an expired password: every check of a
    /// password login up to the expiry, then stop (no MFA step, nothing recorded as a login).
    ExpiredPasswordChange,
}

/// What [`Auth::record_failure`] counted.
pub(crate) struct Counted {
    /// Failures of the user now (0 after this one locked the account).
    pub count: i64,
    /// The user is locked (now or still).
    pub user_locked: bool,
    /// The client address is blocked.
    pub ip_blocked: bool,
}

impl Auth {
    /// Checks a password login for a caller that cannot do MFA: a login that needs a second
    /// factor is refused with [`codes::MFA_REQUIRED`], so no such caller hands out a token
    /// on a password alone. See [`Auth::login_step`].
    pub async fn login(&self, req: &LoginRequest) -> Result<LoginSuccess, LoginFailure> {
        match self.login_step(req).await? {
            LoginStep::Done(ok) => Ok(ok),
            LoginStep::MfaRequired(_) => {
                Err(LoginFailure::new(codes::MFA_REQUIRED, "MFA required"))
            }
        }
    }

    /// Checks a password login. See the module docs for the order of checks. When the login is
    /// complete it is written to the login log, the user's failure count and lock are cleared,
    /// `last_login` is set and the client address's failures are forgotten; the caller then
    /// issues a token ([`Auth::issue_bearer`]). When the user needs MFA (bound, `mfa_level` 2,
    /// or `SECURITY_MFA_AUTH`) the answer is [`LoginStep::MfaRequired`] and nothing is logged
    /// or cleared until [`Auth::finish_mfa_login`]: a correct password must not reset the
    /// failures that wrong codes add up. Server faults come back as [`codes::INTERNAL_ERROR`].
    pub async fn login_step(&self, req: &LoginRequest) -> Result<LoginStep, LoginFailure> {
        let now = Utc::now();
        let ip = req.ip.to_canonical();
        let ip_text = ip.to_string();
        let outcome = match self
            .try_login(req, &FirstFactor::Password, ip, &ip_text, now)
            .await
        {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, "a login could not be processed");
                Err(LoginFailure::internal())
            }
        };
        if matches!(outcome, Ok(LoginStep::MfaRequired(_))) {
            return outcome;
        }
        self.log_login(&req.meta(), &ip_text, 0, outcome.as_ref().err(), now)
            .await?;
        outcome
    }

    async fn try_login(
        &self,
        req: &LoginRequest,
        factor: &FirstFactor<'_>,
        ip: IpAddr,
        ip_text: &str,
        now: DateTime<Utc>,
    ) -> Result<Outcome, AuthError> {
        let settings = self.security().await?;
        let now_us = micros(now);

        if let Some(until) = self.store().login_ip_blocked_until(ip_text).await?
            && until > now_us
        {
            return Ok(Err(LoginFailure::blocked_ip(minutes_until(until, now_us))));
        }

        let user = self.store().login_user(&req.username).await?;
        let locked = match &user {
            Some(u) => u.locked_until.filter(|&t| t > now_us),
            None => self.phantom_locked(&req.username, now_us),
        };
        if let Some(until) = locked {
            return Ok(Err(LoginFailure::blocked_user(minutes_until(
                until, now_us,
            ))));
        }

        let user = match factor {
            FirstFactor::Password | FirstFactor::ExpiredPasswordChange => {
                let real_hash = user
                    .as_ref()
                    .filter(|u| u.source == "local")
                    .and_then(|u| u.password_hash.clone());
                let has_real_hash = real_hash.is_some();
                let verified = verify(
                    &req.password,
                    real_hash.unwrap_or_else(|| DUMMY_HASH.clone()),
                )
                .await?;
                let password_ok = match (verified, &user) {
                    (Ok(ok), _) => ok && has_real_hash,
                    (Err(cause), Some(u)) if has_real_hash => {
                        return Err(AuthError::PasswordHash { user: u.id, cause });
                    }
                    (Err(_), _) => false,
                };
                match user {
                    Some(u) if password_ok => u,
                    other => {
                        return self
                            .wrong_password(
                                &settings,
                                &req.username,
                                other.as_ref(),
                                ip_text,
                                now_us,
                            )
                            .await;
                    }
                }
            }
            FirstFactor::PublicKey { fingerprint } => {
                // SSH clients offer every key they hold, one after the other: an unknown key
                // is not a failed login and counts nothing.
                let known = match &user {
                    Some(u) => self.store().use_ssh_key(u.id, fingerprint, now_us).await?,
                    None => false,
                };
                match user {
                    Some(u) if known => u,
                    _ => {
                        return Ok(Err(LoginFailure::new(
                            codes::PASSWORD_FAILED,
                            "This public key is not registered for the user",
                        )));
                    }
                }
            }
        };

        if expired(user.date_expired, now_us) {
            return Ok(Err(LoginFailure::new(
                codes::USER_EXPIRED,
                "This account is expired",
            )));
        }
        if !user.is_active {
            return Ok(Err(LoginFailure::new(
                codes::USER_INACTIVE,
                "This account is inactive.",
            )));
        }
        if unused_for_too_long(&user, &settings, now_us) {
            self.store().deactivate_user(user.id, now_us).await?;
            tracing::info!(user = %user.id, days = settings.inactive_days, "disabled a user that had not been used");
            return Ok(Err(LoginFailure::new(
                codes::USER_INACTIVE,
                format!(
                    "This account is inactive. It was disabled because it had not been used \
                     for {} days.",
                    settings.inactive_days
                ),
            )));
        }

        if let Err(refused) = self.apply_login_acls(&user, ip, now).await? {
            return Ok(Err(refused));
        }
        let notice_acl = self.notice_acl(&user, ip, now).await?;

        // Only the password expires: a public key proves something else.
        let password_factor = matches!(
            factor,
            FirstFactor::Password | FirstFactor::ExpiredPasswordChange
        );
        if password_factor && password_expired(&user, &settings, now_us) {
            let mut refused = LoginFailure::new(
                codes::PASSWORD_EXPIRED,
                "Your password has expired, please reset before logging in",
            );
            refused.password_expired_user = Some(user.id);
            return Ok(Err(refused));
        }
        if matches!(factor, FirstFactor::ExpiredPasswordChange) {
            return Ok(Err(LoginFailure::new(
                codes::PASSWORD_NOT_EXPIRED,
                "The password has not expired: log in and change it in the profile",
            )));
        }

        let forced = user.mfa_level == 2
            || settings.mfa_auth == 1
            || (settings.mfa_auth == 2 && self.is_admin(user.id).await?);
        if forced || user.mfa_level > 0 || user.mfa_bound {
            if !user.mfa_bound {
                let mut unset = LoginFailure::new(codes::MFA_UNSET, "MFA unset, please set first");
                unset.mfa_unset_user = Some(user.id);
                return Ok(Err(unset));
            }
            return Ok(Ok(LoginStep::MfaRequired(MfaPending {
                user_id: user.id,
                username: user.username,
                choices: vec!["otp"],
            })));
        }

        self.store()
            .record_login_success(user.id, ip_text, now_us)
            .await?;
        Ok(Ok(LoginStep::Done(LoginSuccess {
            user_id: user.id,
            username: user.username,
            need_update_password: user.need_update_password,
            notice_acl,
        })))
    }

    /// Checks the current password of a user who wants to replace an expired one: the same
    /// checks as a password login (lockout per user and per address, failure counting, user
    /// expiry and inactivity, login ACLs), ending at the expiry. `Ok(user)` when the password
    /// is right and expired — the caller then sets the new password. A refusal of the checks
    /// is written to the login log like a login's; the expired case is not (no login happens,
    /// the password-change log records the change). [`codes::PASSWORD_NOT_EXPIRED`] when the
    /// password is right but still valid.
    pub async fn verify_expired_password(&self, req: &LoginRequest) -> Result<Uuid, LoginFailure> {
        let now = Utc::now();
        let ip = req.ip.to_canonical();
        let ip_text = ip.to_string();
        let outcome = match self
            .try_login(req, &FirstFactor::ExpiredPasswordChange, ip, &ip_text, now)
            .await
        {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, "an expired-password change could not be processed");
                Err(LoginFailure::internal())
            }
        };
        match outcome {
            Err(LoginFailure {
                code: codes::PASSWORD_EXPIRED,
                password_expired_user: Some(user),
                ..
            }) => Ok(user),
            Err(f) if f.code == codes::PASSWORD_NOT_EXPIRED => Err(f),
            Err(f) => {
                self.log_login(&req.meta(), &ip_text, 0, Some(&f), now)
                    .await?;
                Err(f)
            }
            // Not reached: the change stops at the expiry check, before MFA and success.
            Ok(_) => Err(LoginFailure::internal()),
        }
    }

    /// Checks a public-key login (the SSH gateway, after the client proved it holds the key
    /// with this SHA-256 `fingerprint`): the same checks as [`Auth::login_step`] after the
    /// first factor — lockout, expiry, inactivity, login ACLs, MFA. A key that is not
    /// registered (active) for the user is refused without counting a failure or writing the
    /// log, because clients try all their keys in turn; everything else is logged.
    pub async fn login_step_public_key(
        &self,
        req: &LoginRequest,
        fingerprint: &str,
    ) -> Result<LoginStep, LoginFailure> {
        let now = Utc::now();
        let ip = req.ip.to_canonical();
        let ip_text = ip.to_string();
        let outcome = match self
            .try_login(
                req,
                &FirstFactor::PublicKey { fingerprint },
                ip,
                &ip_text,
                now,
            )
            .await
        {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, "a public-key login could not be processed");
                Err(LoginFailure::internal())
            }
        };
        match &outcome {
            Ok(LoginStep::MfaRequired(_)) => return outcome,
            Err(f) if f.code == codes::PASSWORD_FAILED => return outcome,
            _ => {}
        }
        self.log_login(&req.meta(), &ip_text, 0, outcome.as_ref().err(), now)
            .await?;
        outcome
    }

    /// Whether the user holds an administrator role (system administrator, or org
    /// administrator anywhere): `SECURITY_MFA_AUTH` = 2 forces MFA on them.
    async fn is_admin(&self, user: Uuid) -> Result<bool, AuthError> {
        let roles = self.roles(user).await?;
        Ok(roles.is_superuser
            || roles
                .bindings
                .iter()
                .any(|b| b.org.is_some() && b.role_id == ORG_ADMIN_ROLE_ID))
    }

    /// The `notice` ACL matching this login, if any (the reject / review cases are handled
    /// by [`Self::apply_login_acls`] first).
    async fn notice_acl(
        &self,
        user: &LoginUser,
        ip: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<Option<Uuid>, AuthError> {
        let decision = self.login_acl_decision(user, ip, now).await?;
        Ok(match decision.action {
            LoginAction::Notice => decision.acl_id,
            _ => None,
        })
    }

    async fn login_acl_decision(
        &self,
        user: &LoginUser,
        ip: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<portcullis_core::acl::AclDecision<LoginAction>, AuthError> {
        let acls = self.store().active_login_acls().await?;
        let attrs = AttrMap::new(
            user.id,
            [
                ("username", user.username.as_str()),
                ("name", user.name.as_str()),
                ("email", user.email.as_str()),
                ("source", user.source.as_str()),
                ("comment", user.comment.as_str()),
            ],
        );
        // Time windows are written in the server's local time, as JumpServer's are.
        Ok(evaluate_login(
            &acls,
            &attrs,
            ip,
            now.with_timezone(&Local).naive_local(),
        ))
    }

    /// Refuses the login when a login ACL rejects it or asks for a review. Applied at the
    /// password step and again when an MFA login completes (the address or the time may have
    /// changed in between).
    async fn apply_login_acls(
        &self,
        user: &LoginUser,
        ip: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<Result<(), LoginFailure>, AuthError> {
        let decision = self.login_acl_decision(user, ip, now).await?;
        Ok(match decision.action {
            LoginAction::Reject => Err(LoginFailure::new(
                codes::ACL_NOT_ALLOW,
                "Login is not allowed from this IP address or at this time (login ACL).",
            )),
            LoginAction::Review => self.login_review(user, ip, &decision.reviewers).await?,
            LoginAction::Notice | LoginAction::Accept => Ok(()),
        })
    }

    /// A login a login ACL wants reviewed: passes when a reviewer approved a `login_confirm`
    /// ticket of this user from this address within [`LOGIN_REVIEW_VALIDITY`]; otherwise
    /// answers [`codes::LOGIN_CONFIRM_WAIT`] with the pending ticket (opened now unless one is
    /// already waiting), which the caller shows and polls.
    async fn login_review(
        &self,
        user: &LoginUser,
        ip: IpAddr,
        reviewers: &[Uuid],
    ) -> Result<Result<(), LoginFailure>, AuthError> {
        use portcullis_store::tickets::{NewTicket, TicketKind, TicketQuery, TicketState};
        if reviewers.is_empty() {
            return Ok(Err(LoginFailure::new(
                codes::ACL_NOT_ALLOW,
                "This login must be reviewed, but the login ACL names no reviewer.",
            )));
        }
        let ip_text = ip.to_string();
        let (_, recent) = self
            .store()
            .list_tickets(&TicketQuery {
                kind: Some(TicketKind::LoginConfirm),
                applicant: Some(user.id),
                limit: 20,
                ..TicketQuery::default()
            })
            .await?;
        let now = Utc::now();
        let mut waiting = None;
        for t in recent
            .iter()
            .filter(|t| t.meta.get("apply_login_ip").and_then(|v| v.as_str()) == Some(&ip_text))
        {
            match t.state {
                TicketState::Approved if now - t.date_updated <= LOGIN_REVIEW_VALIDITY => {
                    return Ok(Ok(()));
                }
                TicketState::Pending if waiting.is_none() => waiting = Some(t.id),
                _ => {}
            }
        }
        let ticket = match waiting {
            Some(id) => id,
            None => {
                self.store()
                    .create_ticket(&NewTicket {
                        org: portcullis_core::builtin::DEFAULT_ORG_ID,
                        kind: TicketKind::LoginConfirm,
                        title: format!(
                            "Login review: {}({}) from {ip_text}",
                            user.name, user.username
                        ),
                        applicant_id: user.id,
                        applicant_display: format!("{}({})", user.name, user.username),
                        reviewers: reviewers.to_vec(),
                        meta: serde_json::json!({
                            "apply_login_ip": ip_text,
                            "apply_login_city": "",
                            "apply_login_datetime": now.to_rfc3339(),
                        }),
                    })
                    .await?
            }
        };
        let mut failure = LoginFailure::new(
            codes::LOGIN_CONFIRM_WAIT,
            "This login must be approved by a reviewer; wait for the review",
        );
        failure.ticket = Some(ticket);
        Ok(Err(failure))
    }

    /// Completes an MFA login whose code was accepted ([`Auth::mfa_login_attempt`]): checks
    /// again what may have changed since the password step (the user disabled, expired or
    /// locked, the address blocked, a login ACL), then clears the counters, sets `last_login`
    /// and writes the login log with `mfa` = 1.
    pub async fn finish_mfa_login(
        &self,
        user_id: Uuid,
        meta: &LoginMeta,
    ) -> Result<LoginSuccess, LoginFailure> {
        let now = Utc::now();
        let ip = meta.ip.to_canonical();
        let ip_text = ip.to_string();
        let outcome = match self
            .try_finish_mfa_login(user_id, meta, ip, &ip_text, now)
            .await
        {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, "an MFA login could not be completed");
                Err(LoginFailure::internal())
            }
        };
        self.log_login(meta, &ip_text, 1, outcome.as_ref().err(), now)
            .await?;
        outcome
    }

    async fn try_finish_mfa_login(
        &self,
        user_id: Uuid,
        meta: &LoginMeta,
        ip: IpAddr,
        ip_text: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<LoginSuccess, LoginFailure>, AuthError> {
        let now_us = micros(now);
        if let Some(until) = self.store().login_ip_blocked_until(ip_text).await?
            && until > now_us
        {
            return Ok(Err(LoginFailure::blocked_ip(minutes_until(until, now_us))));
        }
        let Some(user) = self
            .store()
            .login_user(&meta.username)
            .await?
            .filter(|u| u.id == user_id)
        else {
            return Ok(Err(LoginFailure::new(
                codes::USER_INACTIVE,
                "This account no longer exists.",
            )));
        };
        if let Some(until) = user.locked_until.filter(|&t| t > now_us) {
            return Ok(Err(LoginFailure::blocked_user(minutes_until(
                until, now_us,
            ))));
        }
        if expired(user.date_expired, now_us) {
            return Ok(Err(LoginFailure::new(
                codes::USER_EXPIRED,
                "This account is expired",
            )));
        }
        if !user.is_active {
            return Ok(Err(LoginFailure::new(
                codes::USER_INACTIVE,
                "This account is inactive.",
            )));
        }
        if let Err(refused) = self.apply_login_acls(&user, ip, now).await? {
            return Ok(Err(refused));
        }
        let notice_acl = self.notice_acl(&user, ip, now).await?;
        self.store()
            .record_login_success(user.id, ip_text, now_us)
            .await?;
        Ok(Ok(LoginSuccess {
            user_id: user.id,
            username: user.username,
            need_update_password: user.need_update_password,
            notice_acl,
        }))
    }

    /// Writes one login-log row. A success that cannot be logged is turned into a failure:
    /// a login that cannot be audited does not happen.
    pub(crate) async fn log_login(
        &self,
        meta: &LoginMeta,
        ip_text: &str,
        mfa: i64,
        failure: Option<&LoginFailure>,
        now: DateTime<Utc>,
    ) -> Result<(), LoginFailure> {
        let entry = LoginLogEntry {
            username: truncate(&meta.username, MAX_LOGGED_USERNAME),
            login_type: meta.login_type.as_str(),
            ip: ip_text,
            user_agent: truncate(&meta.user_agent, MAX_LOGGED_USER_AGENT),
            mfa,
            reason: failure.map_or("", |f| f.code),
            backend: &meta.backend,
            success: failure.is_none(),
            datetime: micros(now),
        };
        if let Err(e) = self.store().insert_login_log(&entry).await {
            tracing::error!(error = %e, "the login log could not be written");
            if failure.is_none() {
                return Err(LoginFailure::internal());
            }
        }
        Ok(())
    }

    /// Counts a wrong password (or unknown name) for the user and the address and answers.
    async fn wrong_password(
        &self,
        settings: &SecuritySettings,
        username: &str,
        user: Option<&LoginUser>,
        ip_text: &str,
        now_us: i64,
    ) -> Result<Outcome, AuthError> {
        let counted = self
            .record_failure(settings, username, user.map(|u| u.id), ip_text, now_us)
            .await?;
        if counted.user_locked {
            return Ok(Err(LoginFailure::blocked_user(i64::from(
                settings.login_limit_time,
            ))));
        }
        if counted.ip_blocked {
            return Ok(Err(LoginFailure::blocked_ip(i64::from(
                settings.login_ip_limit_time,
            ))));
        }
        Ok(Err(LoginFailure::password_failed(
            i64::from(settings.login_limit_count) - counted.count,
            settings.login_limit_time,
        )))
    }

    /// Counts one failure (a wrong password or a wrong one-time code) against the user (or
    /// the unknown name) and the client address, locking either at its limit. Passwords and
    /// codes share the counters, so the limits bound every guess a stranger can make.
    pub(crate) async fn record_failure(
        &self,
        settings: &SecuritySettings,
        username: &str,
        user: Option<Uuid>,
        ip_text: &str,
        now_us: i64,
    ) -> Result<Counted, AuthError> {
        let limit = i64::from(settings.login_limit_count);
        let lock_until = now_us + i64::from(settings.login_limit_time) * MICROS_PER_MINUTE;
        let (count, locked_until) = match user {
            Some(id) => {
                let f = self
                    .store()
                    .record_user_login_failure(id, limit, lock_until)
                    .await?;
                (f.count, f.locked_until)
            }
            None => self.phantom_failure(username, limit, lock_until, now_us),
        };
        let window = i64::from(settings.login_ip_limit_time) * MICROS_PER_MINUTE;
        let ip = self
            .store()
            .record_ip_login_failure(
                ip_text,
                now_us,
                now_us - window,
                i64::from(settings.login_ip_limit_count),
                now_us + window,
            )
            .await?;
        Ok(Counted {
            count,
            user_locked: locked_until.is_some_and(|t| t > now_us),
            ip_blocked: ip.blocked_until.is_some_and(|t| t > now_us),
        })
    }

    fn phantoms(&self) -> std::sync::MutexGuard<'_, HashMap<String, Phantom>> {
        // A panic while holding the lock cannot leave the map inconsistent (every update is a
        // few field writes), so a poisoned lock is still usable.
        self.inner
            .phantoms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn phantom_locked(&self, username: &str, now_us: i64) -> Option<i64> {
        let key = truncate(username, MAX_LOGGED_USERNAME);
        self.phantoms()
            .get(key)
            .and_then(|p| p.locked_until)
            .filter(|&t| t > now_us)
    }

    /// The unknown-name counterpart of `Store::record_user_login_failure`.
    fn phantom_failure(
        &self,
        username: &str,
        limit: i64,
        lock_until: i64,
        now_us: i64,
    ) -> (i64, Option<i64>) {
        let key = truncate(username, MAX_LOGGED_USERNAME);
        let mut map = self.phantoms();
        if !map.contains_key(key) && map.len() >= MAX_PHANTOMS {
            // Forget the older half; an attacker flooding names is held by the per-address
            // limit long before this matters.
            let mut lasts: Vec<i64> = map
                .values()
                .map(|p| p.locked_until.unwrap_or(p.last_failure).max(p.last_failure))
                .collect();
            lasts.sort_unstable();
            let cutoff = lasts[lasts.len() / 2];
            map.retain(|_, p| {
                p.locked_until.unwrap_or(p.last_failure).max(p.last_failure) > cutoff
            });
        }
        let p = map.entry(key.to_owned()).or_default();
        p.last_failure = now_us;
        if p.count + 1 >= limit {
            p.count = 0;
            p.locked_until = Some(lock_until);
        } else {
            p.count += 1;
        }
        (p.count, p.locked_until)
    }
}

/// JumpServer disables users that have not logged in or used an API key for
/// `SECURITY_UNCOMMON_USERS_TTL` days (a daily task); Portcullis applies the same rule when
/// such a user next tries to log in.
/// Whether the user's password is older than the expiration setting. A user whose last
/// change was never recorded counts from account creation, as JumpServer sets the date when
/// the account is made.
fn password_expired(user: &LoginUser, settings: &SecuritySettings, now_us: i64) -> bool {
    let changed = user.date_password_last_updated.unwrap_or(user.date_joined);
    changed.saturating_add(i64::from(settings.password_expiration_days) * MICROS_PER_DAY) <= now_us
}

/// Whole days until a password changed at `changed_us` (microseconds) expires after
/// `expiration_days`, rounded down (JumpServer's `password_expired_remain_days`); 0 once
/// expired.
pub fn password_days_left(changed_us: i64, expiration_days: u32, now_us: i64) -> i64 {
    let expires = changed_us.saturating_add(i64::from(expiration_days) * MICROS_PER_DAY);
    let left = expires.saturating_sub(now_us);
    if left <= 0 { 0 } else { left / MICROS_PER_DAY }
}

fn unused_for_too_long(user: &LoginUser, settings: &SecuritySettings, now_us: i64) -> bool {
    if settings.inactive_days == 0 {
        return false;
    }
    let last_used = [user.last_login, user.date_api_key_last_used]
        .into_iter()
        .flatten()
        .chain([user.date_joined])
        .max()
        .unwrap_or(user.date_joined);
    last_used < now_us - i64::from(settings.inactive_days) * MICROS_PER_DAY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(minutes_until(61 * 1_000_000, 0), 2);
        assert_eq!(minutes_until(1, 0), 1);
        assert_eq!(minutes_until(0, 10), 1);
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("ab", 5), "ab");
        assert_eq!(LoginType::from_code("T"), LoginType::T);
        assert_eq!(LoginType::from_code("x"), LoginType::U);
        assert!(LoginFailure::internal().is_internal());
    }
}
