//! The second factor: binding a TOTP secret, checking codes, and the MFA step of a login.
//!
//! The secret is sealed in `users.mfa_secret` (at `users.mfa_secret:<user id>`). A secret
//! being set up is kept only in memory until the user proves they scanned it with a valid
//! code: nothing half-bound ever reaches the database, and a restart merely asks the user to
//! start the setup again.
//!
//! Every code a stranger could guess (the login challenge, step-up confirmation, unbinding)
//! goes through [`Auth::check_otp`], which counts wrong codes on the same per-user and
//! per-address counters as wrong passwords. Accepted codes are remembered per user, so a code
//! (or an older one) cannot be replayed inside its validity window (RFC 6238 §5.2).

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::Utc;
use portcullis_core::secret::SecretString;
use portcullis_core::vault::SealContext;
use portcullis_store::codec::{micros, now_micros};
use uuid::Uuid;

use crate::login::{LoginFailure, LoginMeta, minutes_until};
use crate::{Auth, AuthError, totp};

/// Seconds a secret handed out by [`Auth::begin_mfa_setup`] waits for its first code.
const SETUP_TTL_SECS: i64 = 600;
/// Setups kept at most; beyond this the expired ones are dropped, then the oldest.
const MAX_PENDING_SETUPS: usize = 10_000;

/// A secret being bound, kept in memory until confirmed.
pub(crate) struct PendingSetup {
    secret: SecretString,
    expires: i64,
}

/// What a user needs to add Portcullis to an authenticator app.
#[derive(Debug, Clone)]
pub struct MfaSetup {
    /// The base32 secret (for typing it in).
    pub secret: SecretString,
    /// The `otpauth://totp/…` URI (for a QR code).
    pub otpauth_uri: SecretString,
    /// The issuer shown by the app.
    pub issuer: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn seal_context(user: Uuid) -> SealContext {
    SealContext::new("users", "mfa_secret", user)
}

impl Auth {
    /// Whether `code` is the user's current TOTP code (one step of drift either way). No
    /// counting: callers facing a stranger use [`Auth::check_otp`]. A code is accepted once:
    /// after a success, that step and older ones are refused for this user. `false` when the
    /// user has no bound secret.
    pub async fn verify_totp(&self, user_id: Uuid, code: &str) -> Result<bool, AuthError> {
        let Some(mfa) = self.store().user_mfa(user_id).await? else {
            return Ok(false);
        };
        let Some(sealed) = mfa.sealed_secret else {
            return Ok(false);
        };
        let secret = self.vault().open(&sealed, &seal_context(user_id))?;
        let Some(key) = totp::base32_decode(secret.expose()) else {
            return Err(AuthError::Store(portcullis_store::StoreError::Corrupt(
                format!("users.mfa_secret of {user_id} is not base32"),
            )));
        };
        let Some(step) = totp::matching_step(&key, code, unix_now()) else {
            return Ok(false);
        };
        Ok(self.accept_step(user_id, step))
    }

    /// Records `step` as used by `user`; `false` when it (or a later one) already was.
    fn accept_step(&self, user: Uuid, step: u64) -> bool {
        let mut used = self
            .inner
            .used_otp_steps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Entries older than the acceptance window can never block anything again.
        let oldest_useful = totp::step_of(unix_now()).saturating_sub(2);
        if used.len() > MAX_PENDING_SETUPS {
            used.retain(|_, s| *s >= oldest_useful);
        }
        match used.get(&user) {
            Some(&last) if last >= step => false,
            _ => {
                used.insert(user, step);
                true
            }
        }
    }

    /// Checks a one-time code from someone who claims to be `user_id`, as the login challenge,
    /// step-up confirmation and unbinding do: a locked user or blocked address is refused
    /// before the code is looked at; a wrong code counts toward both lockouts (the same limits
    /// as passwords) and the answer says how many tries are left. Server faults come back as
    /// [`crate::codes::INTERNAL_ERROR`].
    pub async fn check_otp(
        &self,
        user_id: Uuid,
        code: &str,
        ip: IpAddr,
    ) -> Result<(), LoginFailure> {
        match self.try_check_otp(user_id, code, ip).await {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(error = %e, "a one-time code could not be checked");
                Err(LoginFailure::internal())
            }
        }
    }

    async fn try_check_otp(
        &self,
        user_id: Uuid,
        code: &str,
        ip: IpAddr,
    ) -> Result<Result<(), LoginFailure>, AuthError> {
        let settings = self.security().await?;
        let ip_text = ip.to_canonical().to_string();
        let now_us = now_micros();
        if let Some(until) = self.store().login_ip_blocked_until(&ip_text).await?
            && until > now_us
        {
            return Ok(Err(LoginFailure::blocked_ip(minutes_until(until, now_us))));
        }
        let Some(user) = self.store().user_mfa(user_id).await? else {
            return Ok(Err(LoginFailure::mfa_failed(0, settings.login_limit_time)));
        };
        if let Some(until) = user.locked_until.filter(|&t| t > now_us) {
            return Ok(Err(LoginFailure::blocked_mfa(minutes_until(until, now_us))));
        }
        if self.verify_totp(user_id, code).await? {
            return Ok(Ok(()));
        }
        let counted = self
            .record_failure(&settings, &user.username, Some(user_id), &ip_text, now_us)
            .await?;
        if counted.user_locked {
            return Ok(Err(LoginFailure::blocked_mfa(i64::from(
                settings.login_limit_time,
            ))));
        }
        if counted.ip_blocked {
            return Ok(Err(LoginFailure::blocked_ip(i64::from(
                settings.login_ip_limit_time,
            ))));
        }
        Ok(Err(LoginFailure::mfa_failed(
            i64::from(settings.login_limit_count) - counted.count,
            settings.login_limit_time,
        )))
    }

    /// The MFA step of a login (`/authentication/mfa/challenge/`): [`Auth::check_otp`], and a
    /// wrong code is written to the login log (`mfa` = 2) like a wrong password. Success is
    /// logged only when the login completes ([`Auth::finish_mfa_login`]).
    pub async fn mfa_login_attempt(
        &self,
        user_id: Uuid,
        code: &str,
        meta: &LoginMeta,
    ) -> Result<(), LoginFailure> {
        let result = self.check_otp(user_id, code, meta.ip).await;
        if let Err(failure) = &result {
            let ip_text = meta.ip.to_canonical().to_string();
            self.log_login(meta, &ip_text, 2, Some(failure), Utc::now())
                .await?;
        }
        result
    }

    /// Starts binding a TOTP secret: a new random secret and its `otpauth://` URI, kept in
    /// memory for ten minutes until [`Auth::finish_mfa_setup`] sees a code made from it.
    /// Refused when a secret is already bound (unbind it first, with a code from it, so that
    /// a stolen session cannot silently move the second factor to another phone).
    pub async fn begin_mfa_setup(&self, user_id: Uuid) -> Result<MfaSetup, AuthError> {
        let settings = self.security().await?;
        let mfa = self
            .store()
            .user_mfa(user_id)
            .await?
            .ok_or_else(|| AuthError::Invalid("user not found".into()))?;
        if mfa.sealed_secret.is_some() {
            return Err(AuthError::Invalid(
                "MFA is already set; reset it first".into(),
            ));
        }
        let secret = totp::generate_secret();
        let uri = totp::otpauth_uri(&settings.otp_issuer_name, &mfa.username, secret.expose());
        let now = now_micros();
        let mut pending = self.pending_setups();
        if pending.len() >= MAX_PENDING_SETUPS {
            pending.retain(|_, p| p.expires > now);
            if pending.len() >= MAX_PENDING_SETUPS
                && let Some(oldest) = pending
                    .iter()
                    .min_by_key(|(_, p)| p.expires)
                    .map(|(k, _)| *k)
            {
                pending.remove(&oldest);
            }
        }
        pending.insert(
            user_id,
            PendingSetup {
                secret: secret.clone(),
                expires: now + SETUP_TTL_SECS * 1_000_000,
            },
        );
        Ok(MfaSetup {
            secret,
            otpauth_uri: SecretString::new(uri),
            issuer: settings.otp_issuer_name,
        })
    }

    /// Binds the secret of the user's pending setup when `code` was made from it: the secret
    /// is sealed into `users.mfa_secret` and `mfa_level` becomes 1 (unless an administrator
    /// set 2). `Ok(false)` for a wrong code (the setup stays pending); an error when there is
    /// no pending setup. Wrong codes here are not counted: whoever sends them holds the secret
    /// already, so there is nothing to guess.
    pub async fn finish_mfa_setup(&self, user_id: Uuid, code: &str) -> Result<bool, AuthError> {
        let now = now_micros();
        let secret = {
            let pending = self.pending_setups();
            match pending.get(&user_id) {
                Some(p) if p.expires > now => p.secret.clone(),
                _ => {
                    return Err(AuthError::Invalid(
                        "No MFA setup in progress (or it expired); start it again".into(),
                    ));
                }
            }
        };
        let key = totp::base32_decode(secret.expose())
            .ok_or_else(|| AuthError::Invalid("the pending secret is not base32".into()))?;
        let Some(step) = totp::matching_step(&key, code, unix_now()) else {
            return Ok(false);
        };
        let sealed = self.vault().seal(&secret, &seal_context(user_id));
        if !self
            .store()
            .set_user_mfa_secret(user_id, Some(&sealed), micros(Utc::now()))
            .await?
        {
            return Err(AuthError::Invalid("user not found".into()));
        }
        self.pending_setups().remove(&user_id);
        // The code just used cannot log in a second time.
        self.accept_step(user_id, step);
        tracing::info!(user = %user_id, "bound an OTP secret");
        Ok(true)
    }

    /// Unbinds the user's OTP secret (an administrator's reset, or the user's own after
    /// [`Auth::check_otp`]). `mfa_level` goes back to 0 unless an administrator set 2, in which
    /// case the next login asks the user to bind again. Returns whether the user exists.
    pub async fn reset_mfa(&self, user_id: Uuid) -> Result<bool, AuthError> {
        let done = self
            .store()
            .set_user_mfa_secret(user_id, None, micros(Utc::now()))
            .await?;
        if done {
            tracing::info!(user = %user_id, "unbound an OTP secret");
        }
        Ok(done)
    }

    /// Whether the user has an OTP secret bound.
    pub async fn mfa_bound(&self, user_id: Uuid) -> Result<bool, AuthError> {
        Ok(self
            .store()
            .user_mfa(user_id)
            .await?
            .is_some_and(|m| m.sealed_secret.is_some()))
    }

    fn pending_setups(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<Uuid, PendingSetup>> {
        // Each update is one insert or remove, so a poisoned map is still consistent.
        self.inner
            .pending_setups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
