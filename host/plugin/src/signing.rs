//! Publisher signatures: Ed25519 over the manifest.
//!
//! **What is signed.** The manifest file's bytes exactly as they are in the bundle. Nothing is
//! re-serialised, so any tool can verify offline (`plugin.toml` + `plugin.sig` + the public
//! key), and because the manifest pins the component's SHA-256, the signature covers the
//! component too: the bundle reader checks the digest, the verifier the signature.
//!
//! **Formats** (one line of text each, so they can be pasted into a console or a config file):
//! - signature (`plugin.sig`): `ed25519:<key-id>:<base64 signature>`;
//! - public key: `ed25519:<base64 of the 32 key bytes>`;
//! - private key file: `ed25519-private:<base64 of the 32 seed bytes>` (mode 0600);
//! - key id: the first 16 hex digits of the SHA-256 of the public key bytes.
//!
//! **Trust.** An administrator registers public keys per publisher; a signed bundle installs
//! when its key is trusted *for the publisher its manifest names* ([`verify`]). Unsigned
//! bundles install only when the administrator allowed them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

/// The signature file name inside a bundle.
pub const SIGNATURE_FILE: &str = "plugin.sig";

const SIG_PREFIX: &str = "ed25519:";
const PRIVATE_PREFIX: &str = "ed25519-private:";

/// Why a signature, key or key file is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The signature file is not `ed25519:<key-id>:<base64>`.
    #[error("plugin.sig is malformed: {0}")]
    MalformedSignature(String),
    /// A public or private key is not in the expected format.
    #[error("malformed key: {0}")]
    MalformedKey(String),
    /// The bundle has no signature and unsigned plugins are not allowed.
    #[error(
        "the plugin is not signed, and unsigned plugins are not allowed (trust its publisher's key and sign it, or allow unsigned plugins)"
    )]
    Unsigned,
    /// No trusted key has the signature's key id.
    #[error("the plugin is signed by key {key_id}, which is not a trusted key")]
    UntrustedKey {
        /// The signature's key id.
        key_id: String,
    },
    /// The key is trusted, but for another publisher than the manifest names.
    #[error(
        "key {key_id} is trusted for publisher `{trusted_for}`, but the manifest names publisher `{publisher}`"
    )]
    WrongPublisher {
        /// The key id.
        key_id: String,
        /// The publisher the key is trusted for.
        trusted_for: String,
        /// The manifest's publisher.
        publisher: String,
    },
    /// The signature does not verify: the manifest (or the signature) was altered.
    #[error(
        "the signature by key {key_id} does not match plugin.toml (the manifest or the signature was altered)"
    )]
    BadSignature {
        /// The key id.
        key_id: String,
    },
    /// A key file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What happened.
        message: String,
    },
}

/// The key id of a public key: 16 hex digits of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    hex::encode(&digest[..8])
}

/// A detached signature as stored in `plugin.sig`.
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureFile {
    /// The signing key's id.
    pub key_id: String,
    /// The 64 signature bytes.
    pub signature: ed25519_dalek::Signature,
}

impl fmt::Debug for SignatureFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureFile")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for SignatureFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SIG_PREFIX}{}:{}",
            self.key_id,
            B64.encode(self.signature.to_bytes())
        )
    }
}

impl SignatureFile {
    /// Parses the file's text (surrounding whitespace ignored).
    pub fn parse(text: &[u8]) -> Result<SignatureFile, SignError> {
        let bad = |m: &str| SignError::MalformedSignature(m.to_owned());
        let text = std::str::from_utf8(text)
            .map_err(|_| bad("not text"))?
            .trim();
        let rest = text
            .strip_prefix(SIG_PREFIX)
            .ok_or_else(|| bad("expected `ed25519:<key-id>:<base64 signature>`"))?;
        let (key_id, sig) = rest
            .split_once(':')
            .ok_or_else(|| bad("expected `ed25519:<key-id>:<base64 signature>`"))?;
        if key_id.len() != 16 || !key_id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad("the key id must be 16 hex digits"));
        }
        let bytes = B64
            .decode(sig)
            .map_err(|_| bad("the signature is not base64"))?;
        let signature = ed25519_dalek::Signature::from_slice(&bytes)
            .map_err(|_| bad("the signature must be 64 bytes"))?;
        Ok(SignatureFile {
            key_id: key_id.to_ascii_lowercase(),
            signature,
        })
    }
}

/// Signs the manifest bytes.
pub fn sign(manifest_bytes: &[u8], key: &SigningKey) -> SignatureFile {
    SignatureFile {
        key_id: key_id(&key.verifying_key()),
        signature: key.sign(manifest_bytes),
    }
}

/// Verifies `sig` over `manifest_bytes` with `key` (strict Ed25519: no malleable signatures,
/// no weak keys).
pub fn verify_with(
    manifest_bytes: &[u8],
    sig: &SignatureFile,
    key: &VerifyingKey,
) -> Result<(), SignError> {
    key.verify_strict(manifest_bytes, &sig.signature)
        .map_err(|_| SignError::BadSignature {
            key_id: sig.key_id.clone(),
        })
}

/// A public key an administrator trusts for one publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// The publisher name manifests signed by this key must carry.
    pub publisher: String,
    /// The key.
    pub key: VerifyingKey,
}

/// How a bundle passed the signature check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Signed by a trusted key of the manifest's publisher.
    Signed {
        /// The key's id.
        key_id: String,
    },
    /// Unsigned, allowed by the administrator's setting.
    Unsigned,
}

/// The install-time check: a signature must verify with a key trusted for the manifest's
/// `publisher`; without a signature the bundle passes only when `allow_unsigned`. A bundle
/// that carries a signature is always checked, even when unsigned ones are allowed: a bad
/// signature means tampering.
pub fn verify(
    manifest_bytes: &[u8],
    publisher: &str,
    sig: Option<&SignatureFile>,
    trusted: &[TrustedKey],
    allow_unsigned: bool,
) -> Result<Verified, SignError> {
    let Some(sig) = sig else {
        return if allow_unsigned {
            Ok(Verified::Unsigned)
        } else {
            Err(SignError::Unsigned)
        };
    };
    let candidates: Vec<&TrustedKey> = trusted
        .iter()
        .filter(|t| key_id(&t.key) == sig.key_id)
        .collect();
    if candidates.is_empty() {
        return Err(SignError::UntrustedKey {
            key_id: sig.key_id.clone(),
        });
    }
    let Some(key) = candidates.iter().find(|t| t.publisher == publisher) else {
        return Err(SignError::WrongPublisher {
            key_id: sig.key_id.clone(),
            trusted_for: candidates[0].publisher.clone(),
            publisher: publisher.to_owned(),
        });
    };
    verify_with(manifest_bytes, sig, &key.key)?;
    Ok(Verified::Signed {
        key_id: sig.key_id.clone(),
    })
}

/// Formats a public key as `ed25519:<base64>`.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("{SIG_PREFIX}{}", B64.encode(key.as_bytes()))
}

/// Parses `ed25519:<base64>` (surrounding whitespace ignored).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, SignError> {
    let bad = |m: &str| SignError::MalformedKey(m.to_owned());
    let b64 = text
        .trim()
        .strip_prefix(SIG_PREFIX)
        .ok_or_else(|| bad("a public key is `ed25519:<base64 of 32 bytes>`"))?;
    let bytes = B64
        .decode(b64)
        .map_err(|_| bad("the public key is not base64"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| bad("a public key is 32 bytes"))?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad("not an Ed25519 public key"))?;
    if key.is_weak() {
        return Err(bad("a weak (small-order) key cannot be trusted"));
    }
    Ok(key)
}

/// A new random signing key.
pub fn generate() -> SigningKey {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
    SigningKey::from_bytes(&seed)
}

/// The private key file's text.
pub fn private_key_text(key: &SigningKey) -> Zeroizing<String> {
    Zeroizing::new(format!("{PRIVATE_PREFIX}{}\n", B64.encode(key.to_bytes())))
}

/// Parses a private key file's text.
pub fn parse_private_key(text: &str) -> Result<SigningKey, SignError> {
    let bad = |m: &str| SignError::MalformedKey(m.to_owned());
    let b64 = text
        .trim()
        .strip_prefix(PRIVATE_PREFIX)
        .ok_or_else(|| bad("a private key file holds `ed25519-private:<base64 of 32 bytes>`"))?;
    let bytes = Zeroizing::new(
        B64.decode(b64)
            .map_err(|_| bad("the private key is not base64"))?,
    );
    let seed: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| bad("a private key is 32 bytes"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads a private key file, refusing one that others can read (as ssh does).
pub fn read_private_key(path: &Path) -> Result<SigningKey, SignError> {
    let io = |e: std::io::Error| SignError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(SignError::Io {
                path: path.display().to_string(),
                message: format!(
                    "the private key is readable by others (mode {:o}); run chmod 600 on it",
                    mode & 0o777
                ),
            });
        }
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    parse_private_key(&text)
}

/// Writes a new key pair: `<stem>.key` (mode 0600, created exclusively: an existing key is
/// never overwritten) and `<stem>.pub`. Returns the key id.
pub fn write_key_pair(
    key: &SigningKey,
    private: &Path,
    public: &Path,
) -> Result<String, SignError> {
    use std::io::Write;
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| SignError::Io {
            path: p.clone(),
            message: e.to_string(),
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(private).map_err(io(private))?;
    file.write_all(private_key_text(key).as_bytes())
        .map_err(io(private))?;
    file.sync_all().map_err(io(private))?;
    let vk = key.verifying_key();
    std::fs::write(public, format!("{}\n", public_key_text(&vk))).map_err(io(public))?;
    Ok(key_id(&vk))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn trusted(publisher: &str, key: &SigningKey) -> TrustedKey {
        TrustedKey {
            publisher: publisher.into(),
            key: key.verifying_key(),
        }
    }

    #[test]
    fn a_signature_round_trips_through_its_text_and_verifies() {
        let key = generate();
        let sig = sign(b"manifest", &key);
        let text = sig.to_string();
        assert!(text.starts_with("ed25519:"));
        let parsed = SignatureFile::parse(format!("{text}\n").as_bytes()).unwrap();
        assert_eq!(parsed, sig);
        assert_eq!(parsed.key_id.len(), 16);
        let ok = verify(
            b"manifest",
            "acme",
            Some(&parsed),
            &[trusted("acme", &key)],
            false,
        );
        assert_eq!(
            ok,
            Ok(Verified::Signed {
                key_id: key_id(&key.verifying_key())
            })
        );
    }

    #[test]
    fn tampering_untrusted_keys_and_wrong_publishers_are_refused() {
        let key = generate();
        let other = generate();
        let sig = sign(b"manifest", &key);
        let keys = [trusted("acme", &key)];
        assert!(matches!(
            verify(b"manifest!", "acme", Some(&sig), &keys, true),
            Err(SignError::BadSignature { .. })
        ));
        assert!(matches!(
            verify(
                b"manifest",
                "acme",
                Some(&sig),
                &[trusted("acme", &other)],
                true
            ),
            Err(SignError::UntrustedKey { .. })
        ));
        assert!(matches!(
            verify(b"manifest", "evil", Some(&sig), &keys, true),
            Err(SignError::WrongPublisher { .. })
        ));
        // A signature by another key that claims a trusted key's id.
        let forged = SignatureFile {
            key_id: sig.key_id.clone(),
            signature: sign(b"manifest", &other).signature,
        };
        assert!(matches!(
            verify(b"manifest", "acme", Some(&forged), &keys, true),
            Err(SignError::BadSignature { .. })
        ));
    }

    #[test]
    fn unsigned_bundles_pass_only_when_allowed() {
        assert_eq!(
            verify(b"m", "acme", None, &[], false),
            Err(SignError::Unsigned)
        );
        assert_eq!(
            verify(b"m", "acme", None, &[], true),
            Ok(Verified::Unsigned)
        );
    }

    #[test]
    fn malformed_signatures_and_keys_are_refused() {
        for bad in [
            "",
            "rsa:0123456789abcdef:AAAA",
            "ed25519:xyz:AAAA",
            "ed25519:0123456789abcdef:AAAA",
        ] {
            assert!(SignatureFile::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(parse_public_key("ed25519:AAAA").is_err());
        assert!(parse_private_key("ed25519:AAAA").is_err());
        let key = generate();
        let text = public_key_text(&key.verifying_key());
        assert_eq!(parse_public_key(&text).unwrap(), key.verifying_key());
        let private = private_key_text(&key);
        assert_eq!(
            parse_private_key(&private).unwrap().to_bytes(),
            key.to_bytes()
        );
    }

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = (dir.path().join("k.key"), dir.path().join("k.pub"));
        let key = generate();
        let id = write_key_pair(&key, &private, &public).unwrap();
        assert_eq!(id, key_id(&key.verifying_key()));
        assert_eq!(
            read_private_key(&private).unwrap().to_bytes(),
            key.to_bytes()
        );
        assert!(write_key_pair(&generate(), &private, &public).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(read_private_key(&private).is_err());
        }
    }
}
