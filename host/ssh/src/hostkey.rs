//! The gateway's own host keys, kept in the data directory so clients see the same identity
//! across restarts: `ssh_host_ed25519_key` (preferred) and `ssh_host_rsa_key` (for old
//! clients), OpenSSH format, mode 0600, generated on first start.

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, HashAlg, PrivateKey};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A host key that could not be loaded or created.
#[derive(Debug, Error)]
pub enum HostKeyError {
    /// Reading or writing the file failed.
    #[error("SSH host key {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a usable private key.
    #[error("SSH host key {path} is not a valid OpenSSH private key: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        reason: String,
    },
    /// Generating failed.
    #[error("could not generate the SSH host key {path}: {reason}")]
    Generate {
        /// The file.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
}

/// Loads the gateway's host keys from `dir`, generating the missing ones. Ed25519 comes first
/// so modern clients get it.
pub fn load_or_generate(dir: &Path) -> Result<Vec<PrivateKey>, HostKeyError> {
    Ok(vec![
        load_or_generate_one(&dir.join("ssh_host_ed25519_key"), Algorithm::Ed25519)?,
        load_or_generate_one(
            &dir.join("ssh_host_rsa_key"),
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha512),
            },
        )?,
    ])
}

/// The SHA-256 fingerprints of the keys, as `ssh-keygen -l` prints them (for the startup log).
pub fn fingerprints(keys: &[PrivateKey]) -> Vec<String> {
    keys.iter()
        .map(|k| k.public_key().fingerprint(HashAlg::Sha256).to_string())
        .collect()
}

fn load_or_generate_one(path: &Path, algorithm: Algorithm) -> Result<PrivateKey, HostKeyError> {
    let io = |source| HostKeyError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            return PrivateKey::from_openssh(text.trim()).map_err(|e| HostKeyError::Invalid {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let generate = |reason: String| HostKeyError::Generate {
        path: path.to_owned(),
        reason,
    };
    let key = match algorithm {
        Algorithm::Rsa { .. } => {
            let kp = russh::keys::ssh_key::private::RsaKeypair::random(&mut rand10::rng(), 3072)
                .map_err(|e| generate(e.to_string()))?;
            PrivateKey::from(kp)
        }
        a => PrivateKey::random(&mut rand10::rng(), a).map_err(|e| generate(e.to_string()))?,
    };
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| generate(e.to_string()))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    write_private(path, text.as_bytes()).map_err(io)?;
    tracing::info!(path = %path.display(), fingerprint = %key.public_key().fingerprint(HashAlg::Sha256), "generated an SSH host key");
    Ok(key)
}

/// Writes a file only its owner can read, atomically (a crash leaves no half key).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate(dir.path()).unwrap();
        let again = load_or_generate(dir.path()).unwrap();
        assert_eq!(fingerprints(&first), fingerprints(&again));
        assert_eq!(first[0].algorithm(), Algorithm::Ed25519);
        assert!(matches!(first[1].algorithm(), Algorithm::Rsa { .. }));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("ssh_host_ed25519_key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_corrupt_key_is_an_error_not_a_new_identity() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ssh_host_ed25519_key"), "garbage").unwrap();
        let err = load_or_generate(dir.path()).unwrap_err();
        assert!(matches!(err, HostKeyError::Invalid { .. }), "{err}");
    }
}
