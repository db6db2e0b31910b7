//! The master key on disk: generated on first start, checked on every start, rotated safely.
//!
//! Rotation is crash-safe by construction. `vault rotate-key` writes the new key to
//! `<key file>.next` before touching the database, re-seals every secret in one transaction,
//! then renames `.next` over the key file. A start that finds a `.next` file holds both keys,
//! finishes the re-seal (a no-op if the transaction had committed) and completes the rename —
//! so no crash point leaves secrets sealed under a key that is not on disk.

use crate::config::KeySource;
use anyhow::{Context, Result, bail};
use portcullis_core::vault::{MasterKey, Vault};
use portcullis_store::Store;
use portcullis_store::settings::VAULT_KEY_ID;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The keys found in the configuration, before the database is consulted.
pub struct KeyRing {
    source: KeySource,
    current: Option<MasterKey>,
    next: Option<MasterKey>,
}

impl KeyRing {
    /// Reads the configured key (and an unfinished rotation's `.next` key). A key file that does
    /// not exist is not an error yet: whether it may be generated depends on the database.
    pub fn load(source: &KeySource) -> Result<Self> {
        match source {
            KeySource::Inline(text) => {
                let key = MasterKey::from_base64(text).map_err(|e| {
                    anyhow::anyhow!(
                        "the configured master key (PORTCULLIS_MASTER_KEY or vault.master_key) is not valid: {e}; generate one with `portcullis vault generate-key`"
                    )
                })?;
                Ok(Self {
                    source: source.clone(),
                    current: Some(key),
                    next: None,
                })
            }
            KeySource::File(path) => Ok(Self {
                source: source.clone(),
                current: read_key_file(path)?,
                next: read_key_file(&next_path(path))?,
            }),
        }
    }

    /// Checks the configured keys against the key id the database recorded, before anything
    /// is written: a missing key file for a database that holds secrets, or a different key,
    /// stops the start here.
    pub fn check(&self, recorded: Option<&str>) -> Result<()> {
        let Some(id) = recorded else {
            return Ok(());
        };
        let known: Vec<&str> = self
            .current
            .iter()
            .chain(self.next.iter())
            .map(MasterKey::id)
            .collect();
        match (&self.source, known.is_empty()) {
            (KeySource::File(path), true) => bail!(
                "the master key file {} is missing, but this database holds secrets sealed with key {id}; restore the file from your backup (or point PORTCULLIS_MASTER_KEY_FILE at it)",
                path.display()
            ),
            _ if !known.contains(&id) => bail!(
                "the configured master key (id {}) is not the key this database uses (id {id}); configure the right key, or restore the key file from your backup",
                known.join(", ")
            ),
            _ => Ok(()),
        }
    }

    /// Generates the key file on a fresh installation, finishes an interrupted rotation, and
    /// returns the vault to use. Call [`KeyRing::check`] first.
    pub async fn open(self, store: &Store, recorded: Option<String>) -> Result<Vault> {
        let mut next = self.next;
        let current = match (self.current.or_else(|| next.take()), &self.source) {
            (Some(k), _) => k,
            (None, KeySource::File(path)) if recorded.is_none() => {
                let key = MasterKey::generate();
                write_key_file(path, &key)?;
                tracing::info!(file = %path.display(), key_id = key.id(), "generated a new master key");
                key
            }
            (None, _) => bail!("no master key is available; restore the key file from your backup"),
        };
        let vault = match next {
            Some(next) => Vault::new(next, vec![current]),
            None => Vault::new(current, vec![]),
        };
        if recorded.as_deref() != Some(vault.active_key().id()) {
            let report = store
                .reseal_all(&vault)
                .await
                .context("re-sealing secrets")?;
            if report.resealed > 0 {
                tracing::info!(
                    resealed = report.resealed,
                    "finished moving secrets to the new master key"
                );
            }
        }
        if let KeySource::File(path) = &self.source {
            let next = next_path(path);
            if next.exists() {
                std::fs::rename(&next, path).with_context(|| {
                    format!(
                        "completing the key rotation: renaming {} to {}",
                        next.display(),
                        path.display()
                    )
                })?;
            }
        }
        Ok(vault)
    }
}

/// Rotates to a new master key: see the module documentation for the crash-safety argument.
pub async fn rotate(
    source: &KeySource,
    store: &Store,
    vault: &Vault,
    new_inline: Option<&str>,
) -> Result<(String, u64)> {
    match source {
        KeySource::File(path) => {
            let key = MasterKey::generate();
            let next = next_path(path);
            write_key_file(&next, &key)?;
            let ring = Vault::new(key, vec![vault.active_key().clone()]);
            let report = store
                .reseal_all(&ring)
                .await
                .context("re-sealing secrets (nothing was changed)")?;
            std::fs::rename(&next, path)
                .with_context(|| format!("renaming {} to {}", next.display(), path.display()))?;
            Ok((ring.active_key().id().to_owned(), report.resealed))
        }
        KeySource::Inline(_) => {
            let Some(text) = new_inline else {
                bail!(
                    "the master key is configured inline, so the new key must be supplied too: set PORTCULLIS_NEW_MASTER_KEY (make one with `portcullis vault generate-key`), run the rotation, then configure the new key"
                );
            };
            let key = MasterKey::from_base64(text)
                .map_err(|e| anyhow::anyhow!("PORTCULLIS_NEW_MASTER_KEY is not valid: {e}"))?;
            let ring = Vault::new(key, vec![vault.active_key().clone()]);
            let report = store
                .reseal_all(&ring)
                .await
                .context("re-sealing secrets (nothing was changed)")?;
            Ok((ring.active_key().id().to_owned(), report.resealed))
        }
    }
}

/// The id of the key that sealed the database's secrets (`None` on a fresh database).
pub async fn recorded_key_id(store: &Store) -> Result<Option<String>> {
    Ok(store
        .setting(VAULT_KEY_ID)
        .await?
        .and_then(|v| v.as_str().map(str::to_owned)))
}

fn next_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".next");
    PathBuf::from(name)
}

fn read_key_file(path: &Path) -> Result<Option<MasterKey>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the master key file {}", path.display()));
        }
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "the master key file {} is readable by other users (mode {mode:o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the master key file {}", path.display()))?;
    MasterKey::from_base64(&text).map(Some).map_err(|e| {
        anyhow::anyhow!(
            "the master key file {} is corrupt ({e}); restore it from your backup",
            path.display()
        )
    })
}

/// Writes a key file with mode 0600, durably, without ever exposing a partial file.
fn write_key_file(path: &Path, key: &MasterKey) -> Result<()> {
    let tmp = {
        let mut name = path.as_os_str().to_owned();
        name.push(".tmp");
        PathBuf::from(name)
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create the master key file {}", tmp.display()))?;
    file.write_all(key.to_base64().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot write the master key file {}", path.display()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
