//! Encryption of secrets at rest.
//!
//! Every credential Portcullis stores (account secrets and passphrases, MFA seeds, access-key
//! secrets, …) is sealed with XChaCha20-Poly1305 under a 256-bit master key before it reaches
//! the database. A sealed value is a text envelope:
//!
//! ```text
//! pcv1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>
//! ```
//!
//! * the **key id** (16 hex digits of the key's SHA-256) lets a [`Vault`] hold several keys, so
//!   values sealed under a previous key stay readable while a rotation is under way or after a
//!   crash in the middle of one;
//! * the **associated data** is the place the value belongs to (for example
//!   `accounts.secret:<account id>`): a ciphertext copied into another row or column fails to
//!   open instead of silently granting one account's password to another;
//! * the 24-byte random nonce makes nonce reuse a non-issue for any realistic number of writes.

use crate::secret::SecretString;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

const PREFIX: &str = "pcv1";
const NONCE_LEN: usize = 24;

/// Why a key could not be loaded or a value could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    /// The master key text is not base64 of exactly 32 bytes.
    #[error("a master key must be 32 bytes encoded as base64 ({0})")]
    BadKey(String),
    /// The stored value is not a `pcv1:` envelope.
    #[error("the stored secret is not a vault envelope")]
    NotAnEnvelope,
    /// The value was sealed under a key this vault does not hold.
    #[error("the stored secret was sealed with master key {0}, which is not configured")]
    UnknownKey(String),
    /// Authentication failed: wrong key, tampered ciphertext, or a value moved to another place.
    #[error("the stored secret failed authentication (tampered, or moved from another record)")]
    Tampered,
    /// The plaintext is not UTF-8 where text was expected.
    #[error("the stored secret is not valid UTF-8")]
    NotUtf8,
}

/// A 256-bit master key. Its bytes never appear in `Debug` output and are wiped on drop.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    bytes: Zeroizing<[u8; 32]>,
}

impl MasterKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        Self::from_bytes(bytes)
    }

    fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        let digest = Sha256::digest(bytes.as_ref());
        let id = hex::encode(&digest[..8]);
        Self { id, bytes }
    }

    /// Parses the text form used in key files and configuration: standard base64 of 32 bytes,
    /// surrounding whitespace ignored.
    pub fn from_base64(text: &str) -> Result<Self, VaultError> {
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|e| VaultError::BadKey(e.to_string()))?,
        );
        let array: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::BadKey(format!("got {} bytes", decoded.len())))?;
        Ok(Self::from_bytes(Zeroizing::new(array)))
    }

    /// The text form for a key file. Handle with care: this is the key.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.as_ref()))
    }

    /// The public identifier stored in every envelope sealed with this key.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.bytes.as_ref().into())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The place a sealed value belongs to, bound into the ciphertext as associated data.
///
/// Build it from the table, the column and the row id: `SealContext::new("accounts", "secret", id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealContext(String);

impl SealContext {
    /// `table.column:row`.
    pub fn new(table: &str, column: &str, row: impl fmt::Display) -> Self {
        Self(format!("{table}.{column}:{row}"))
    }
}

/// A keyring: one active key that seals, any number of older keys that still open.
#[derive(Clone, Debug)]
pub struct Vault {
    active: MasterKey,
    previous: Vec<MasterKey>,
}

impl Vault {
    /// A vault that seals with `active` and can also open values sealed with `previous` keys.
    pub fn new(active: MasterKey, previous: Vec<MasterKey>) -> Self {
        let previous = previous.into_iter().filter(|k| k.id != active.id).collect();
        Self { active, previous }
    }

    /// The key new values are sealed with.
    pub fn active_key(&self) -> &MasterKey {
        &self.active
    }

    /// The older keys this vault can still open with.
    pub fn previous_keys(&self) -> impl Iterator<Item = &MasterKey> {
        self.previous.iter()
    }

    /// Seals bytes for storage at `ctx`.
    pub fn seal_bytes(&self, plaintext: &[u8], ctx: &SealContext) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .active
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: ctx.0.as_bytes(),
                },
            )
            // Encryption with a valid key and a 24-byte nonce cannot fail except on absurd
            // lengths (> 256 GiB), which no caller can produce from a database column.
            .unwrap_or_default();
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        format!(
            "{PREFIX}:{}:{}",
            self.active.id,
            URL_SAFE_NO_PAD.encode(blob)
        )
    }

    /// Seals a text secret for storage at `ctx`.
    pub fn seal(&self, secret: &SecretString, ctx: &SealContext) -> String {
        self.seal_bytes(secret.expose().as_bytes(), ctx)
    }

    /// Opens an envelope sealed for `ctx`.
    pub fn open_bytes(
        &self,
        envelope: &str,
        ctx: &SealContext,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let (key_id, blob) = parse_envelope(envelope)?;
        let key = std::iter::once(&self.active)
            .chain(self.previous.iter())
            .find(|k| k.id == key_id)
            .ok_or_else(|| VaultError::UnknownKey(key_id.to_owned()))?;
        if blob.len() < NONCE_LEN {
            return Err(VaultError::Tampered);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        key.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: ctx.0.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Tampered)
    }

    /// Opens a text secret sealed for `ctx`.
    pub fn open(&self, envelope: &str, ctx: &SealContext) -> Result<SecretString, VaultError> {
        let bytes = self.open_bytes(envelope, ctx)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| VaultError::NotUtf8)?;
        Ok(SecretString::new(text))
    }

    /// Whether an envelope was sealed with a key other than the active one.
    pub fn needs_reseal(&self, envelope: &str) -> Result<bool, VaultError> {
        Ok(parse_envelope(envelope)?.0 != self.active.id)
    }

    /// Opens with any known key and seals again with the active key (used by key rotation).
    pub fn reseal(&self, envelope: &str, ctx: &SealContext) -> Result<String, VaultError> {
        let bytes = self.open_bytes(envelope, ctx)?;
        Ok(self.seal_bytes(&bytes, ctx))
    }
}

fn parse_envelope(envelope: &str) -> Result<(&str, Vec<u8>), VaultError> {
    let mut parts = envelope.splitn(3, ':');
    let (Some(PREFIX), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(VaultError::NotAnEnvelope);
    };
    let blob = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| VaultError::NotAnEnvelope)?;
    Ok((key_id, blob))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ctx(row: &str) -> SealContext {
        SealContext::new("accounts", "secret", row)
    }

    #[test]
    fn sealed_value_opens_to_the_plaintext_and_hides_it() {
        let vault = Vault::new(MasterKey::generate(), vec![]);
        let sealed = vault.seal(&"s3cret!".into(), &ctx("a"));
        assert!(sealed.starts_with("pcv1:"));
        assert!(!sealed.contains("s3cret"));
        assert_eq!(vault.open(&sealed, &ctx("a")).unwrap().expose(), "s3cret!");
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let vault = Vault::new(MasterKey::generate(), vec![]);
        let s = SecretString::new("same");
        assert_ne!(vault.seal(&s, &ctx("a")), vault.seal(&s, &ctx("a")));
    }

    #[test]
    fn a_value_moved_to_another_row_does_not_open() {
        let vault = Vault::new(MasterKey::generate(), vec![]);
        let sealed = vault.seal(&"pw".into(), &ctx("a"));
        assert_eq!(vault.open(&sealed, &ctx("b")), Err(VaultError::Tampered));
    }

    #[test]
    fn a_tampered_value_does_not_open() {
        let vault = Vault::new(MasterKey::generate(), vec![]);
        let sealed = vault.seal(&"pw".into(), &ctx("a"));
        let mut chars: Vec<char> = sealed.chars().collect();
        let last = chars.len() - 1;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(vault.open(&tampered, &ctx("a")), Err(VaultError::Tampered));
    }

    #[test]
    fn a_wrong_key_is_named_in_the_error() {
        let one = Vault::new(MasterKey::generate(), vec![]);
        let other = Vault::new(MasterKey::generate(), vec![]);
        let sealed = one.seal(&"pw".into(), &ctx("a"));
        assert_eq!(
            other.open(&sealed, &ctx("a")),
            Err(VaultError::UnknownKey(one.active_key().id().to_owned()))
        );
        assert_eq!(
            other.open("plain", &ctx("a")),
            Err(VaultError::NotAnEnvelope)
        );
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_reseals_under_the_new_key() {
        let old = MasterKey::generate();
        let sealed = Vault::new(old.clone(), vec![]).seal(&"pw".into(), &ctx("a"));
        let rotated = Vault::new(MasterKey::generate(), vec![old]);
        assert!(rotated.needs_reseal(&sealed).unwrap());
        let resealed = rotated.reseal(&sealed, &ctx("a")).unwrap();
        assert!(!rotated.needs_reseal(&resealed).unwrap());
        let only_new = Vault::new(rotated.active_key().clone(), vec![]);
        assert_eq!(only_new.open(&resealed, &ctx("a")).unwrap().expose(), "pw");
    }

    #[test]
    fn key_text_round_trips_and_bad_keys_are_refused() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.id(), again.id());
        assert!(matches!(
            MasterKey::from_base64("c2hvcnQ="),
            Err(VaultError::BadKey(_))
        ));
        assert!(matches!(
            MasterKey::from_base64("not base64!"),
            Err(VaultError::BadKey(_))
        ));
        assert!(!format!("{key:?}").contains(key.to_base64().as_str()));
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip(data in proptest::collection::vec(any::<u8>(), 0..512), row in "[a-z0-9-]{1,36}") {
            let vault = Vault::new(MasterKey::generate(), vec![]);
            let c = ctx(&row);
            let sealed = vault.seal_bytes(&data, &c);
            let opened = vault.open_bytes(&sealed, &c).unwrap();
            prop_assert_eq!(opened.as_slice(), data.as_slice());
        }
    }
}
