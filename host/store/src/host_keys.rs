//! The SSH host keys of assets, recorded on first use (`asset_host_keys`).
//!
//! The gateway connects to assets on the user's behalf and sends them vaulted credentials, so it
//! must know it reaches the real host. There is no CA for SSH hosts, so the first key an asset
//! presents at an address and port is recorded (trust on first use) and every later connection
//! must present the same key; a different key is refused until an administrator forgets the
//! recorded one ([`Store::forget_host_keys`]) after checking that the change is legitimate.
//!
//! Keys are recorded per `(asset, address, port)`: an asset reached at another address or port
//! (after an edit, or through another protocol entry) may legitimately present another key. The
//! decision "same key or not" is made here, atomically, by [`Store::remember_host_key`], so two
//! simultaneous first connections cannot both record different keys.

use crate::codec::{from_micros, now_micros, trusted, uuid};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

/// One recorded host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyRecord {
    /// The asset the key belongs to.
    pub asset_id: Uuid,
    /// The address the key was seen at (as configured on the asset, not resolved).
    pub address: String,
    /// The port the key was seen at.
    pub port: u16,
    /// The key's algorithm name (`ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`, …).
    pub algorithm: String,
    /// The key in OpenSSH form without the algorithm prefix: base64 of the wire encoding.
    pub public_key: String,
    /// `SHA256:` and the unpadded base64 of the SHA-256 of the key, as `ssh-keygen -l` prints.
    pub fingerprint: String,
    /// When the key was first recorded.
    pub date_created: DateTime<Utc>,
    /// When the key was last presented by the asset.
    pub date_last_seen: DateTime<Utc>,
}

/// A key presented by an asset, to check against the recorded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedHostKey<'a> {
    /// The asset.
    pub asset_id: Uuid,
    /// The address connected to.
    pub address: &'a str,
    /// The port connected to.
    pub port: u16,
    /// The key's algorithm name.
    pub algorithm: &'a str,
    /// Base64 of the key's wire encoding.
    pub public_key: &'a str,
    /// `SHA256:…` fingerprint of the key.
    pub fingerprint: &'a str,
}

/// What [`Store::remember_host_key`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyCheck {
    /// No key was recorded: the presented one is now (trust on first use).
    New(HostKeyRecord),
    /// The presented key is the recorded one; its last-seen time was updated.
    Known(HostKeyRecord),
    /// A different key is recorded; nothing was changed. Holds the recorded key.
    Changed(HostKeyRecord),
}

const COLUMNS: &str =
    "asset_id, address, port, algorithm, public_key, fingerprint, date_created, date_last_seen";

fn record(r: &AnyRow) -> Result<HostKeyRecord, StoreError> {
    let asset: String = r.try_get("asset_id")?;
    let port: i64 = r.try_get("port")?;
    Ok(HostKeyRecord {
        asset_id: uuid(&asset, "asset_host_keys.asset_id")?,
        address: r.try_get("address")?,
        port: u16::try_from(port)
            .map_err(|_| StoreError::Corrupt(format!("asset_host_keys.port: {port}")))?,
        algorithm: r.try_get("algorithm")?,
        public_key: r.try_get("public_key")?,
        fingerprint: r.try_get("fingerprint")?,
        date_created: from_micros(r.try_get("date_created")?),
        date_last_seen: from_micros(r.try_get("date_last_seen")?),
    })
}

impl Store {
    /// The key recorded for the asset at this address and port, if any.
    pub async fn known_host_key(
        &self,
        asset_id: Uuid,
        address: &str,
        port: u16,
    ) -> Result<Option<HostKeyRecord>, StoreError> {
        let row = sqlx::query(trusted(format!(
            "SELECT {COLUMNS} FROM asset_host_keys
             WHERE asset_id = $1 AND address = $2 AND port = $3"
        )))
        .bind(asset_id.to_string())
        .bind(address)
        .bind(i32::from(port))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(record).transpose()
    }

    /// Checks a presented key against the recorded one and records what was learnt: the key
    /// when none was recorded, the last-seen time when it matches. A different key changes
    /// nothing and is reported as [`HostKeyCheck::Changed`]; refusing the connection is the
    /// caller's job. Keys are compared by their wire encoding (algorithm and key material).
    ///
    /// Safe under concurrent first connections: the insert does nothing when a row appeared in
    /// the meantime, and the row that won is then compared like any recorded key.
    pub async fn remember_host_key(
        &self,
        key: &PresentedHostKey<'_>,
    ) -> Result<HostKeyCheck, StoreError> {
        if key.algorithm.is_empty() || key.public_key.is_empty() || key.fingerprint.is_empty() {
            return Err(StoreError::Invalid(
                "a host key needs an algorithm, a key and a fingerprint".into(),
            ));
        }
        if key.port == 0 {
            return Err(StoreError::Invalid(
                "a host key's port must be 1-65535".into(),
            ));
        }
        let now = now_micros();
        let inserted = sqlx::query(
            "INSERT INTO asset_host_keys (asset_id, address, port, algorithm, public_key,
                fingerprint, date_created, date_last_seen)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
             ON CONFLICT (asset_id, address, port) DO NOTHING",
        )
        .bind(key.asset_id.to_string())
        .bind(key.address)
        .bind(i32::from(key.port))
        .bind(key.algorithm)
        .bind(key.public_key)
        .bind(key.fingerprint)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let stored = self
            .known_host_key(key.asset_id, key.address, key.port)
            .await?
            .ok_or_else(|| {
                // Only possible if the row was forgotten between the two statements.
                StoreError::NotFound(format!("the host key of asset {}", key.asset_id))
            })?;
        if inserted > 0 {
            return Ok(HostKeyCheck::New(stored));
        }
        if stored.algorithm != key.algorithm || stored.public_key != key.public_key {
            return Ok(HostKeyCheck::Changed(stored));
        }
        sqlx::query(
            "UPDATE asset_host_keys SET date_last_seen = $1
             WHERE asset_id = $2 AND address = $3 AND port = $4 AND public_key = $5",
        )
        .bind(now)
        .bind(key.asset_id.to_string())
        .bind(key.address)
        .bind(i32::from(key.port))
        .bind(key.public_key)
        .execute(&self.pool)
        .await?;
        Ok(HostKeyCheck::Known(HostKeyRecord {
            date_last_seen: from_micros(now),
            ..stored
        }))
    }

    /// Every key recorded for the asset, by address and port.
    pub async fn list_host_keys(&self, asset_id: Uuid) -> Result<Vec<HostKeyRecord>, StoreError> {
        let rows = sqlx::query(trusted(format!(
            "SELECT {COLUMNS} FROM asset_host_keys WHERE asset_id = $1 ORDER BY address, port"
        )))
        .bind(asset_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// Forgets every key recorded for the asset, so the next connection records the key it is
    /// shown. For an administrator who checked that a key change is legitimate (a reinstalled
    /// host). Returns how many keys were forgotten.
    pub async fn forget_host_keys(&self, asset_id: Uuid) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM asset_host_keys WHERE asset_id = $1")
            .bind(asset_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
