//! Authentication for Portcullis: password logins with lockout and login ACLs, TOTP second
//! factors, bearer and private tokens, web sessions with CSRF and step-up confirmations,
//! access-key HTTP signatures, the login log, and a user's RBAC roles.
//!
//! The HTTP layer turns requests into the types here ([`LoginRequest`], [`SignedRequest`],
//! a token string) and turns the answers into JumpServer's responses (`LoginFailure::code` is
//! the `error` of `/authentication/auth/`, `SignatureError`'s text is the DRF `detail`). This
//! crate decides; `portcullis_store::auth` loads and persists. Behaviour follows the reference
//! (`jumpserver-api-v4.md` §2.2–2.4, §2.10); where Portcullis differs, the item says so.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod login;
mod mfa;
mod roles;
mod sessions;
mod settings;
pub mod signature;
mod tokens;
pub mod totp;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use portcullis_core::vault::{Vault, VaultError};
use portcullis_store::{Store, StoreError};
use thiserror::Error;

pub use login::{
    LoginFailure, LoginMeta, LoginRequest, LoginStep, LoginSuccess, LoginType, MfaPending, codes,
    password_days_left,
};
pub use mfa::MfaSetup;
pub use roles::{RoleGrant, UserRoles};
pub use sessions::{
    ActiveSession, CONFIRM_TTL_SECS, CSRF_COOKIE, CSRF_HEADER, ConfirmKind, CsrfCheck,
    IssuedSession, PendingLogin, SESSION_COOKIE,
};
pub use settings::{SETTING_NAMES, SecuritySettings};
pub use signature::{SignatureError, SignedRequest};
pub use tokens::{AccessKeyInfo, IssuedToken, MAX_ACCESS_KEYS_PER_USER, TokenKind};

/// Settings names, for the settings API.
pub mod setting_names {
    pub use crate::settings::{
        ADMIN_PASSWORD_MIN_LENGTH, AUTH_EXPIRED_SECONDS, LOGIN_IP_LIMIT_COUNT, LOGIN_IP_LIMIT_TIME,
        LOGIN_LIMIT_COUNT, LOGIN_LIMIT_TIME, MAX_IDLE_TIME, MAX_SESSION_TIME, MFA_AUTH,
        MFA_VERIFY_TTL, OTP_ISSUER_NAME, PASSWORD_EXPIRATION_TIME, PASSWORD_LOWER_CASE,
        PASSWORD_MIN_LENGTH, PASSWORD_NUMBER, PASSWORD_SPECIAL_CHAR, PASSWORD_UPPER_CASE,
        SESSION_COOKIE_AGE, SIGNATURE_MAX_SKEW, TOKEN_EXPIRATION, UNCOMMON_USERS_TTL,
    };
}

/// Server-side failures of authentication (the database, the vault). A refused login or
/// request is not an `AuthError`: it is a [`LoginFailure`] or a [`SignatureError`].
#[derive(Debug, Error)]
pub enum AuthError {
    /// The database failed or returned something unexpected.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored access-key secret could not be opened (wrong master key, tampered row).
    #[error("an access key secret cannot be opened: {0}")]
    Vault(#[from] VaultError),
    /// The user already holds the maximum number of access keys.
    #[error("a user can have at most {0} access keys")]
    TooManyAccessKeys(usize),
    /// The password hash of a user cannot be checked (a corrupt row).
    #[error("the stored password of user {user} cannot be checked: {cause}")]
    PasswordHash {
        /// The user whose row is corrupt.
        user: uuid::Uuid,
        /// What the hasher said.
        cause: portcullis_core::password::PasswordError,
    },
    /// Input refused before anything was written (e.g. an `ip_group` entry that is not an
    /// address, CIDR or range).
    #[error("{0}")]
    Invalid(String),
    /// A blocking task (password hashing) did not finish.
    #[error("a background task failed: {0}")]
    Task(String),
}

/// Authentication service: cheap to clone, shared by every request handler.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    vault: Vault,
    /// Failure counters for login names that do not exist (see `login.rs`).
    phantoms: Mutex<HashMap<String, login::Phantom>>,
    /// TOTP secrets handed out and not yet confirmed by a code (see `mfa.rs`).
    pending_setups: Mutex<HashMap<uuid::Uuid, mfa::PendingSetup>>,
    /// The last TOTP step accepted per user, so a code cannot be replayed (see `mfa.rs`).
    used_otp_steps: Mutex<HashMap<uuid::Uuid, u64>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

impl Auth {
    /// An authentication service over `store`, opening access-key secrets with `vault`.
    ///
    /// Computes the dummy password hash used for unknown users now (one Argon2 hash), so that
    /// the first failed login for an unknown name does not take visibly longer than others.
    pub fn new(store: Store, vault: Vault) -> Self {
        login::warm_up();
        Auth {
            inner: Arc::new(Inner {
                store,
                vault,
                phantoms: Mutex::new(HashMap::new()),
                pending_setups: Mutex::new(HashMap::new()),
                used_otp_steps: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The keyring sealing stored secrets, for the handlers that write or reveal them.
    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    /// The security settings now in force (see [`SecuritySettings`] for names and defaults).
    pub async fn security(&self) -> Result<SecuritySettings, AuthError> {
        let values = self.inner.store.settings_named(SETTING_NAMES).await?;
        Ok(SecuritySettings::from_values(&values))
    }

    /// The user's roles (system and per org) and what they grant.
    pub async fn roles(&self, user_id: uuid::Uuid) -> Result<UserRoles, AuthError> {
        let rows = self.inner.store.role_bindings_of(user_id).await?;
        Ok(UserRoles::from_bindings(
            rows.into_iter()
                .map(|r| RoleGrant {
                    role_id: r.role_id,
                    name: r.name,
                    display_name: r.display_name,
                    org: r.org_id,
                    permissions: r.permissions,
                })
                .collect(),
        ))
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }
}

/// Whether an account is past its `date_expired` (microseconds) at `now`.
fn expired(date_expired: Option<i64>, now: i64) -> bool {
    date_expired.is_some_and(|d| d <= now)
}
