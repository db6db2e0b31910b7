//! System settings: one JSON value per upper-case name, as JumpServer's settings API exposes them.

use crate::{Store, StoreError};
use serde_json::Value;

/// The setting that records which master key sealed the stored secrets.
pub const VAULT_KEY_ID: &str = "VAULT_MASTER_KEY_ID";

impl Store {
    /// Reads a setting; `None` when it was never written. On a database that has not been
    /// migrated yet this is also `None`, so callers can ask before migrating.
    pub async fn setting(&self, name: &str) -> Result<Option<Value>, StoreError> {
        if self.applied_versions().await?.is_empty() {
            return Ok(None);
        }
        let text: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|_| StoreError::Corrupt(format!("setting {name}")))
        })
        .transpose()
    }

    /// Writes a setting.
    pub async fn set_setting(
        &self,
        name: &str,
        category: &str,
        value: &Value,
    ) -> Result<(), StoreError> {
        set_setting_in(&mut *self.pool.acquire().await?, name, category, value).await
    }
}

pub(crate) async fn set_setting_in(
    conn: &mut sqlx::AnyConnection,
    name: &str,
    category: &str,
    value: &Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO settings (name, category, value, date_updated) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, category = excluded.category,
             date_updated = excluded.date_updated",
    )
    .bind(name)
    .bind(category)
    .bind(value.to_string())
    .bind(crate::codec::now_micros())
    .execute(conn)
    .await?;
    Ok(())
}
