//! Bearer tokens (from a login), private tokens (`Authorization: Token`), and access keys
//! (HTTP signatures).
//!
//! Tokens are stored only as SHA-256 hex digests: a copy of the database does not let anyone
//! act as the users. Tokens are long random strings, so a fast unsalted hash is enough (there
//! is nothing to brute-force). Access-key secrets, in contrast, must be recoverable to check an
//! HMAC, so they are sealed in the vault.

use chrono::{DateTime, Duration, Utc};
use portcullis_core::acl::IpSet;
use portcullis_core::secret::SecretString;
use portcullis_core::vault::SealContext;
use portcullis_store::auth::{AccessKeyRow, TOKEN_KIND_BEARER, TOKEN_KIND_PRIVATE};
use portcullis_store::codec::{from_micros, micros, now_micros};
use rand::Rng;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::signature::{self, SignatureError, SignedRequest};
use crate::{Auth, AuthError, expired};

/// JumpServer's limit on access keys per user.
pub const MAX_ACCESS_KEYS_PER_USER: usize = 10;

/// Length of a bearer token (JumpServer's is a 36-character random string).
const BEARER_LEN: usize = 36;
/// Length of an access-key secret (JumpServer's is 36 characters, a UUID in old versions).
const ACCESS_KEY_SECRET_LEN: usize = 36;
/// Bytes of a private token (40 hex characters, like DRF's authtoken).
const PRIVATE_TOKEN_BYTES: usize = 20;
/// Longer "tokens" are not ours; refuse them before hashing or querying.
const MAX_TOKEN_LEN: usize = 256;
/// `date_last_used` is written at most once per this many seconds per token or key, so a busy
/// client does not turn every request into a database write.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// Which kind of token a request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// `Authorization: Token <40 hex>`: long-lived, one per user, made server-side.
    Private,
    /// `Authorization: Bearer <token>`: issued by a login, expires after `TOKEN_EXPIRATION`.
    Bearer,
}

impl TokenKind {
    /// The `private_tokens.kind` value.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Private => TOKEN_KIND_PRIVATE,
            TokenKind::Bearer => TOKEN_KIND_BEARER,
        }
    }
}

/// A freshly issued bearer token. The plaintext exists only here; the database keeps a hash.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token to hand to the client.
    pub token: SecretString,
    /// When it stops working.
    pub date_expired: DateTime<Utc>,
}

/// An access key as its owner sees it: everything but the secret, which is shown only once,
/// by [`Auth::create_access_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyInfo {
    /// The KeyID.
    pub id: Uuid,
    /// Disabled keys are refused.
    pub is_active: bool,
    /// Client addresses the key may be used from (`*`, addresses, CIDRs, ranges).
    pub ip_group: Vec<String>,
    /// When it was created.
    pub date_created: DateTime<Utc>,
    /// When it was last used (to the minute); `None` = never.
    pub date_last_used: Option<DateTime<Utc>>,
}

impl From<AccessKeyRow> for AccessKeyInfo {
    fn from(r: AccessKeyRow) -> Self {
        AccessKeyInfo {
            id: r.id,
            is_active: r.is_active,
            ip_group: r.ip_group,
            date_created: from_micros(r.date_created),
            date_last_used: r.date_last_used.map(from_micros),
        }
    }
}

/// The stored form of a token.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn random_alphanumeric(len: usize) -> String {
    OsRng
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

impl Auth {
    /// Issues a bearer token for `user_id` (after a successful login). It expires after
    /// `TOKEN_EXPIRATION` seconds. Unlike JumpServer, a second login from the same address gets
    /// a new token rather than the same one: only hashes are stored, so the old one cannot be
    /// handed out again.
    pub async fn issue_bearer(
        &self,
        user_id: Uuid,
        remote_addr: &str,
    ) -> Result<IssuedToken, AuthError> {
        let settings = self.security().await?;
        let token = SecretString::new(random_alphanumeric(BEARER_LEN));
        let now = Utc::now();
        let lifetime = i64::try_from(settings.token_expiration).unwrap_or(i64::MAX);
        let date_expired = now
            .checked_add_signed(Duration::seconds(lifetime))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.store()
            .insert_bearer_token(
                &token_hash(token.expose()),
                user_id,
                remote_addr,
                micros(now),
                micros(date_expired),
            )
            .await?;
        Ok(IssuedToken {
            token,
            date_expired,
        })
    }

    /// Creates the user's private token (40 hex characters, no expiry), replacing any previous
    /// one: a user has one, as with DRF's authtoken. There is no REST endpoint for this in
    /// JumpServer; the CLI calls it.
    pub async fn create_private_token(&self, user_id: Uuid) -> Result<String, AuthError> {
        let mut bytes = [0u8; PRIVATE_TOKEN_BYTES];
        rand::RngCore::fill_bytes(&mut OsRng, &mut bytes);
        let token = hex::encode(bytes);
        self.store()
            .replace_private_token(&token_hash(&token), user_id, now_micros())
            .await?;
        Ok(token)
    }

    /// The user a token acts as, or `None` when the token is unknown, of the other kind,
    /// expired, or belongs to a disabled or expired user. Records the use (throttled to once a
    /// minute), and for private tokens the user's `date_api_key_last_used`.
    pub async fn authenticate_token(
        &self,
        kind: TokenKind,
        token: &str,
    ) -> Result<Option<Uuid>, AuthError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Ok(None);
        }
        let hash = token_hash(token);
        let Some(owner) = self.store().token_owner(&hash, kind.as_str()).await? else {
            return Ok(None);
        };
        let now = now_micros();
        if expired(owner.date_expired, now)
            || !owner.user_is_active
            || expired(owner.user_date_expired, now)
        {
            return Ok(None);
        }
        let stale_before = now - LAST_USED_GRANULARITY_SECS * 1_000_000;
        // A use recorded within the granularity needs no write (the UPDATE would match no row,
        // but on SQLite it would still wait for the database's one write lock).
        if owner.date_last_used.is_none_or(|t| t < stale_before) {
            self.store()
                .touch_token(&hash, kind.as_str(), owner.user_id, now, stale_before)
                .await?;
        }
        Ok(Some(owner.user_id))
    }

    /// Creates an access key for `user_id`: the id is the KeyID, the secret (36 random
    /// characters) is returned once and stored sealed. At most
    /// [`MAX_ACCESS_KEYS_PER_USER`] keys per user.
    pub async fn create_access_key(
        &self,
        user_id: Uuid,
    ) -> Result<(Uuid, SecretString), AuthError> {
        let id = Uuid::new_v4();
        let secret = SecretString::new(random_alphanumeric(ACCESS_KEY_SECRET_LEN));
        let sealed = self
            .inner
            .vault
            .seal(&secret, &SealContext::new("access_keys", "secret", id));
        let max = i64::try_from(MAX_ACCESS_KEYS_PER_USER).unwrap_or(i64::MAX);
        if !self
            .store()
            .insert_access_key(id, user_id, &sealed, now_micros(), max)
            .await?
        {
            return Err(AuthError::TooManyAccessKeys(MAX_ACCESS_KEYS_PER_USER));
        }
        Ok((id, secret))
    }

    /// The user's access keys, oldest first (JumpServer lists only the caller's own keys).
    pub async fn access_keys(&self, user_id: Uuid) -> Result<Vec<AccessKeyInfo>, AuthError> {
        Ok(self
            .store()
            .access_keys_of(user_id)
            .await?
            .into_iter()
            .map(AccessKeyInfo::from)
            .collect())
    }

    /// Changes one of the user's keys: its switch and/or its `ip_group` (`None` keeps a field).
    /// The list is validated with the ACL IP parser, so an entry that would never match is
    /// refused instead of silently locking the key out. `Ok(None)`: the user has no such key.
    pub async fn update_access_key(
        &self,
        user_id: Uuid,
        key_id: Uuid,
        is_active: Option<bool>,
        ip_group: Option<Vec<String>>,
    ) -> Result<Option<AccessKeyInfo>, AuthError> {
        let ip_group = match ip_group {
            Some(list) => {
                IpSet::parse(&list).map_err(|e| AuthError::Invalid(format!("ip_group: {e}")))?;
                Some(serde_json::to_string(&list).map_err(|e| AuthError::Invalid(e.to_string()))?)
            }
            None => None,
        };
        Ok(self
            .store()
            .update_access_key(key_id, user_id, is_active, ip_group.as_deref())
            .await?
            .map(AccessKeyInfo::from))
    }

    /// Deletes one of the user's keys; `false` when the user has no such key.
    pub async fn delete_access_key(&self, user_id: Uuid, key_id: Uuid) -> Result<bool, AuthError> {
        Ok(self.store().delete_access_key(key_id, user_id).await?)
    }

    /// Verifies an access-key HTTP signature and returns the key's user.
    ///
    /// Order: the header parses and signs `(request-target)` and `date` → the `Date` is within
    /// `PORTCULLIS_SIGNATURE_MAX_SKEW` → the key exists and is active → the HMAC matches → the
    /// user is active and not expired → the client address is in the key's `ip_group`. The
    /// user and address checks come after the HMAC so that only the key holder learns them.
    pub async fn authenticate_signature(
        &self,
        req: &SignedRequest<'_>,
    ) -> Result<Uuid, SignatureError> {
        let params = signature::parse_authorization(req.authorization)?;
        let text = signature::signing_string(&params, req.method, req.path_and_query, req.headers)?;
        let settings = self.security().await?;
        let date = signature::header_value(req.headers, "date")
            .ok_or_else(|| SignatureError::Malformed("Missing signed header date.".into()))?;
        let sent = httpdate::parse_http_date(date.trim()).map_err(|_| {
            SignatureError::Malformed("The Date header is not an HTTP date.".into())
        })?;
        if settings.signature_max_skew > 0 {
            let skew = match sent.duration_since(std::time::SystemTime::now()) {
                Ok(ahead) => ahead,
                Err(behind) => behind.duration(),
            };
            if skew.as_secs() > settings.signature_max_skew {
                return Err(SignatureError::StaleDate);
            }
        }
        let key_id = Uuid::parse_str(&params.key_id).map_err(|_| SignatureError::UnknownKey)?;
        let key = self
            .store()
            .access_key(key_id)
            .await
            .map_err(AuthError::from)?
            .filter(|k| k.is_active)
            .ok_or(SignatureError::UnknownKey)?;
        let secret = self
            .inner
            .vault
            .open(
                &key.sealed_secret,
                &SealContext::new("access_keys", "secret", key.id),
            )
            .map_err(AuthError::from)?;
        signature::verify_hmac(secret.expose().as_bytes(), &text, &params.signature)?;
        let now = now_micros();
        if !key.user_is_active || expired(key.user_date_expired, now) {
            return Err(SignatureError::UserInvalid);
        }
        let allowed = IpSet::parse(&key.ip_group).map_err(|e| {
            AuthError::Store(portcullis_store::StoreError::Corrupt(format!(
                "access_keys.ip_group of {}: {e}",
                key.id
            )))
        })?;
        if !allowed.contains(req.ip) {
            return Err(SignatureError::IpNotAllowed);
        }
        self.store()
            .touch_access_key(
                key.id,
                key.user_id,
                now,
                now - LAST_USED_GRANULARITY_SECS * 1_000_000,
            )
            .await
            .map_err(AuthError::from)?;
        Ok(key.user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn token_shapes() {
        let t = random_alphanumeric(BEARER_LEN);
        assert_eq!(t.len(), 36);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(t, random_alphanumeric(BEARER_LEN));
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn base64_is_standard_alphabet() {
        // httpsig uses standard base64 with padding.
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode([0xfb, 0xff]),
            "+/8="
        );
    }
}
