//! Writing platforms (reference §4.8): custom platforms are created, changed and deleted here;
//! built-in ones are seeded by [`crate::seed`] and only their adjustable settings change.
//!
//! The store checks only what the database needs (unique names, one primary protocol, no
//! asset left without its platform); which fields a caller may change is the API's decision.

use crate::assets::AutomationKind;
use crate::codec::{now_micros, trusted};
use crate::{Store, StoreError};
use portcullis_core::builtin::AUTOMATION_KINDS;
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
    /// The automation settings (`platform_automations`), written whole.
    pub automation: AutomationInput,
}

/// A platform's automation settings as written: the `ansible_*` fields JumpServer clients
/// send, and per kind whether it runs, the method (`<plugin>/<function>`, `""` for none) and
/// its parameters. Which method names are acceptable is the API's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationInput {
    /// `ansible_enabled`.
    pub ansible_enabled: bool,
    /// `ansible_config` (an object).
    pub ansible_config: Value,
    /// Settings per kind of [`AUTOMATION_KINDS`]; a kind not listed is stored disabled,
    /// without a method.
    pub kinds: Vec<AutomationKind>,
}

impl AutomationInput {
    /// Every kind disabled, no method (what a new custom platform starts with).
    pub fn none() -> Self {
        AutomationInput {
            ansible_enabled: false,
            ansible_config: Value::Object(serde_json::Map::new()),
            kinds: AUTOMATION_KINDS
                .iter()
                .map(|kind| AutomationKind {
                    kind,
                    enabled: false,
                    method: String::new(),
                    params: Value::Object(serde_json::Map::new()),
                })
                .collect(),
        }
    }
}

fn json_text(v: &Value) -> String {
    v.to_string()
}

impl Store {
    /// Creates a custom platform with its protocols and its automation row; returns its id. A taken name is [`StoreError::Conflict`].
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
        write_automation(&mut tx, id, &p.automation).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Replaces a platform's writable fields, protocols and automation settings (category and
    /// type are kept).
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
        write_automation(&mut tx, id, &p.automation).await?;
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

    /// Deletes a platform that no asset uses (its protocols, automation and label bindings go
    /// with it).
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
        sqlx::query(
            "DELETE FROM labeled_resources WHERE res_type = 'assets.platform' AND res_id = $1",
        )
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
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

/// Replaces the platform's `platform_automations` row with `a`. Kinds outside
/// [`AUTOMATION_KINDS`] are [`StoreError::Invalid`] (their names become column names).
async fn write_automation(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    platform: i64,
    a: &AutomationInput,
) -> Result<(), StoreError> {
    let object = |v: &Value, what: &str| {
        if v.is_object() {
            Ok(v.to_string())
        } else {
            Err(StoreError::Invalid(format!("{what} must be a JSON object")))
        }
    };
    let mut columns = vec![
        "platform_id".to_owned(),
        "ansible_enabled".to_owned(),
        "ansible_config".to_owned(),
    ];
    let mut flags = vec![a.ansible_enabled];
    let mut texts = vec![object(&a.ansible_config, "ansible_config")?];
    let mut kind_columns = Vec::new();
    for k in &a.kinds {
        let Some(kind) = AUTOMATION_KINDS.iter().find(|c| **c == k.kind) else {
            return Err(StoreError::Invalid(format!(
                "unknown automation kind `{}`",
                k.kind
            )));
        };
        kind_columns.push(*kind);
        flags.push(k.enabled);
        texts.push(k.method.clone());
        texts.push(object(&k.params, &format!("{kind}_params"))?);
    }
    // Binds: $1 the platform, then the flags (ansible, then one per kind), then the texts
    // (ansible_config, then method and params per kind).
    let first_text = 2 + flags.len();
    let mut values = vec!["$1".to_owned(), "$2".to_owned(), format!("${first_text}")];
    for (i, kind) in kind_columns.iter().enumerate() {
        columns.push(format!("{kind}_enabled"));
        values.push(format!("${}", 3 + i));
        columns.push(format!("{kind}_method"));
        values.push(format!("${}", first_text + 1 + 2 * i));
        columns.push(format!("{kind}_params"));
        values.push(format!("${}", first_text + 2 + 2 * i));
    }
    sqlx::query("DELETE FROM platform_automations WHERE platform_id = $1")
        .bind(platform)
        .execute(&mut **tx)
        .await?;
    let sql = format!(
        "INSERT INTO platform_automations ({}) VALUES ({})",
        columns.join(", "),
        values.join(", ")
    );
    let mut q = sqlx::query(trusted(sql)).bind(platform);
    for f in flags {
        q = q.bind(f);
    }
    for t in texts {
        q = q.bind(t);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}
