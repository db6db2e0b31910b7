//! Writing platforms (reference §4.8): custom platforms are created, changed and deleted here;
//! built-in ones are seeded by [`crate::seed`] and only their adjustable settings change.
//!
//! The store checks only what the database needs (unique names, one primary protocol, no
//! asset left without its platform); which fields a caller may change is the API's decision.

use crate::codec::now_micros;
use crate::{Store, StoreError};
use serde_json::Value;
use uuid::Uuid;

/// A protocol of a platform being written.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolInput {
    /// `ssh`, `rdp`, …
    pub name: String,
    /// Default port.
    pub port: i64,
    /// The main protocol (exactly one per platform).
    pub primary: bool,
    /// Every asset of the platform must have it.
    pub required: bool,
    /// Added to new assets by default.
    pub default: bool,
    /// Offered to users.
    pub public: bool,
    /// Protocol settings (an object).
    pub setting: Value,
}

/// The writable fields of a platform.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformInput {
    /// Unique name.
    pub name: String,
    /// Category (fixed after creation).
    pub category: String,
    /// Type (fixed after creation).
    pub type_: String,
    /// `utf-8` or `gbk`.
    pub charset: String,
    /// Zone (gateway) support.
    pub gateway_enabled: bool,
    /// Account switching.
    pub su_enabled: bool,
    /// Switching method.
    pub su_method: Option<String>,
    /// Directory-service accounts.
    pub ds_enabled: bool,
    /// Field definitions of custom platforms (an array).
    pub custom_fields: Value,
    /// Comment.
    pub comment: String,
    /// Protocols; the primary one first is not required.
    pub protocols: Vec<ProtocolInput>,
}

fn json_text(v: &Value) -> String {
    v.to_string()
}

impl Store {
    /// Creates a custom platform with its protocols and an automation row with every kind
    /// disabled; returns its id. A taken name is [`StoreError::Conflict`].
    pub async fn create_platform(&self, p: &PlatformInput, by: &str) -> Result<i64, StoreError> {
        let now = now_micros();
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO platforms (name, category, type, internal, charset, gateway_enabled,
                su_enabled, su_method, ds_enabled, custom_fields, comment, created_by, updated_by,
                date_created, date_updated)
             VALUES ($1, $2, $3, FALSE, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $12)
             RETURNING id",
        )
        .bind(&p.name)
        .bind(&p.category)
        .bind(&p.type_)
        .bind(&p.charset)
        .bind(p.gateway_enabled)
        .bind(p.su_enabled)
        .bind(p.su_method.as_deref())
        .bind(p.ds_enabled)
        .bind(json_text(&p.custom_fields))
        .bind(&p.comment)
        .bind(by)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("platform `{}`", p.name)))?;
        insert_protocols(&mut tx, id, &p.protocols).await?;
        sqlx::query("INSERT INTO platform_automations (platform_id) VALUES ($1)")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Replaces a platform's writable fields and protocols (category and type are kept).
    /// Returns whether the platform exists.
    pub async fn update_platform(
        &self,
        id: i64,
        p: &PlatformInput,
        by: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE platforms SET name = $1, charset = $2, gateway_enabled = $3, su_enabled = $4,
                su_method = $5, ds_enabled = $6, custom_fields = $7, comment = $8,
                updated_by = $9, date_updated = $10
             WHERE id = $11",
        )
        .bind(&p.name)
        .bind(&p.charset)
        .bind(p.gateway_enabled)
        .bind(p.su_enabled)
        .bind(p.su_method.as_deref())
        .bind(p.ds_enabled)
        .bind(json_text(&p.custom_fields))
        .bind(&p.comment)
        .bind(by)
        .bind(now_micros())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("platform `{}`", p.name)))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM platform_protocols WHERE platform_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_protocols(&mut tx, id, &p.protocols).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// How many assets (in every org) use the platform.
    pub async fn platform_asset_count(&self, id: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM assets WHERE platform_id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Deletes a platform that no asset uses (its protocols and automation go with it).
    /// [`StoreError::Invalid`] when assets use it; `Ok(false)` when it does not exist.
    pub async fn delete_platform(&self, id: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assets WHERE platform_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        if used > 0 {
            return Err(StoreError::Invalid(format!(
                "The platform is used by {used} asset(s); move them to another platform first"
            )));
        }
        for table in ["platform_protocols", "platform_automations"] {
            sqlx::query(crate::codec::trusted(format!(
                "DELETE FROM {table} WHERE platform_id = $1"
            )))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query("DELETE FROM platforms WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}

async fn insert_protocols(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    platform: i64,
    protocols: &[ProtocolInput],
) -> Result<(), StoreError> {
    for proto in protocols {
        sqlx::query(
            "INSERT INTO platform_protocols (id, platform_id, name, port, is_primary, required,
                is_default, public, setting)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(platform)
        .bind(&proto.name)
        .bind(proto.port)
        .bind(proto.primary)
        .bind(proto.required)
        .bind(proto.default)
        .bind(proto.public)
        .bind(json_text(&proto.setting))
        .execute(&mut **tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("protocol `{}`", proto.name)))?;
    }
    Ok(())
}
