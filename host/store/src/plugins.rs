//! Installed plugins (`plugins`), their secret bindings (`plugin_secrets`), the publisher
//! keys the administrator trusts (`plugin_trusted_keys`) and the "allow unsigned plugins"
//! setting.
//!
//! A row is one installed *version*; versions are immutable, so an upgrade installs the new
//! version beside the old one and [`Store::enable_plugin`] moves the plugin's active mark to
//! it in one transaction (the previous version becomes `disabled`, so a rollback can enable it
//! again). Plugins are system-wide: they have no org.
//!
//! The store knows nothing of WebAssembly or manifests: it keeps the manifest text, the paths
//! of the component and its precompiled artifact, and the administrator's JSON documents
//! (grants, configuration, limit overrides) as the lifecycle service validated them. Secret
//! values are sealed here, bound to their row, and only [`Store::plugin_secrets`] opens them.

use crate::codec::{Flag, from_micros, now_micros, trusted, uuid};
use crate::settings::set_setting_in;
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use portcullis_core::secret::SecretString;
use portcullis_core::vault::{SealContext, Vault};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The setting that lets bundles without a signature install (false when absent).
pub const ALLOW_UNSIGNED: &str = "PLUGINS_ALLOW_UNSIGNED";

/// The settings category of [`ALLOW_UNSIGNED`].
pub const SETTINGS_CATEGORY: &str = "plugins";

/// The statuses the schema allows.
pub const STATUSES: &[&str] = &["installed", "enabled", "disabled"];

/// A plugin version to record. The caller has checked the bundle and written the files.
#[derive(Debug, Clone)]
pub struct NewPlugin {
    /// The manifest's `id`.
    pub plugin_id: String,
    /// The manifest's `version`.
    pub version: String,
    /// The manifest's `kind` (a WIT world name).
    pub kind: String,
    /// The manifest's `publisher`.
    pub publisher: String,
    /// The manifest's `name`.
    pub name: String,
    /// The manifest file's text.
    pub manifest: String,
    /// The component's SHA-256 (hex).
    pub sha256: String,
    /// The id of the trusted key that signed it; none for an unsigned plugin.
    pub signed_key_id: Option<String>,
    /// The component file, relative to the plugins directory.
    pub component_path: String,
    /// The precompiled artifact, relative to the plugins directory.
    pub artifact_path: String,
    /// The engine compatibility key the artifact was compiled for.
    pub compat_key: String,
    /// The install-time imports report.
    pub imports: Value,
    /// Initial grants (carried over from the previous version, or `{}`).
    pub grants: Value,
    /// Initial configuration.
    pub config: Value,
    /// Initial limit overrides.
    pub limits: Value,
    /// `Name(username)` of the installer.
    pub installed_by: String,
}

/// One `plugins` row, with the names of its bound secrets (never their values).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRecord {
    /// Row id (what the API calls the plugin's `id`).
    pub id: Uuid,
    /// The manifest id.
    pub plugin_id: String,
    /// The version.
    pub version: String,
    /// The kind.
    pub kind: String,
    /// The publisher.
    pub publisher: String,
    /// The human name.
    pub name: String,
    /// The manifest text.
    pub manifest: String,
    /// The component digest.
    pub sha256: String,
    /// The signing key's id, if signed.
    pub signed_key_id: Option<String>,
    /// Component path (relative to the plugins directory).
    pub component_path: String,
    /// Artifact path (relative to the plugins directory).
    pub artifact_path: String,
    /// Engine compatibility key of the artifact.
    pub compat_key: String,
    /// `installed`, `enabled` or `disabled`.
    pub status: String,
    /// Whether this is the selected version of its plugin id.
    pub is_active: bool,
    /// Granted capabilities.
    pub grants: Value,
    /// Configuration values.
    pub config: Value,
    /// Limit overrides.
    pub limits: Value,
    /// Imports report.
    pub imports: Value,
    /// Why the last start failed to load it (empty if it loaded).
    pub load_error: String,
    /// Installer.
    pub installed_by: String,
    /// Installed.
    pub date_created: DateTime<Utc>,
    /// Last change.
    pub date_updated: DateTime<Utc>,
    /// Last enabled.
    pub date_enabled: Option<DateTime<Utc>>,
    /// Names with a bound secret, sorted.
    pub secret_names: Vec<String>,
}

impl PluginRecord {
    /// Whether new invocations may run it.
    pub fn is_enabled(&self) -> bool {
        self.status == "enabled"
    }
}

/// Which plugins [`Store::list_plugins`] returns.
#[derive(Debug, Clone, Default)]
pub struct PluginFilter {
    /// Only versions of this plugin id.
    pub plugin_id: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only the active versions (or only the others).
    pub is_active: Option<bool>,
    /// Substring of the plugin id, name or publisher.
    pub search: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

const COLUMNS: &str = "p.id, p.plugin_id, p.version, p.kind, p.publisher, p.name, p.manifest,
    p.sha256, p.signed_key_id, p.component_path, p.artifact_path, p.compat_key, p.status,
    p.is_active, p.grants, p.config, p.limits, p.imports, p.load_error, p.installed_by,
    p.date_created, p.date_updated, p.date_enabled";

fn json_column(r: &AnyRow, column: &str, id: &str) -> Result<Value, StoreError> {
    let text: String = r.try_get(column)?;
    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt(format!("plugins.{column}:{id}")))
}

fn plugin_from_row(r: &AnyRow) -> Result<PluginRecord, StoreError> {
    let id: String = r.try_get("id")?;
    Ok(PluginRecord {
        id: uuid(&id, "plugins.id")?,
        plugin_id: r.try_get("plugin_id")?,
        version: r.try_get("version")?,
        kind: r.try_get("kind")?,
        publisher: r.try_get("publisher")?,
        name: r.try_get("name")?,
        manifest: r.try_get("manifest")?,
        sha256: r.try_get("sha256")?,
        signed_key_id: r.try_get("signed_key_id")?,
        component_path: r.try_get("component_path")?,
        artifact_path: r.try_get("artifact_path")?,
        compat_key: r.try_get("compat_key")?,
        status: r.try_get("status")?,
        is_active: r.try_get::<Flag, _>("is_active")?.0,
        grants: json_column(r, "grants", &id)?,
        config: json_column(r, "config", &id)?,
        limits: json_column(r, "limits", &id)?,
        imports: json_column(r, "imports", &id)?,
        load_error: r.try_get("load_error")?,
        installed_by: r.try_get("installed_by")?,
        date_created: from_micros(r.try_get("date_created")?),
        date_updated: from_micros(r.try_get("date_updated")?),
        date_enabled: r
            .try_get::<Option<i64>, _>("date_enabled")?
            .map(from_micros),
        secret_names: Vec::new(),
    })
}

fn object_text(v: &Value, what: &str) -> Result<String, StoreError> {
    if v.is_object() {
        Ok(v.to_string())
    } else {
        Err(StoreError::Invalid(format!("{what} must be a JSON object")))
    }
}

fn seal_context(id: Uuid) -> SealContext {
    SealContext::new("plugin_secrets", "secret", id)
}

impl Store {
    /// Records an installed plugin version (status `installed`, not active).
    /// [`StoreError::Conflict`] when this version of the plugin is already installed.
    pub async fn create_plugin(&self, new: &NewPlugin) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let now = now_micros();
        sqlx::query(
            "INSERT INTO plugins (id, plugin_id, version, kind, publisher, name, manifest, sha256,
                signed_key_id, component_path, artifact_path, compat_key, status, is_active,
                grants, config, limits, imports, installed_by, date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'installed', FALSE,
                $13, $14, $15, $16, $17, $18, $18)",
        )
        .bind(id.to_string())
        .bind(&new.plugin_id)
        .bind(&new.version)
        .bind(&new.kind)
        .bind(&new.publisher)
        .bind(&new.name)
        .bind(&new.manifest)
        .bind(&new.sha256)
        .bind(new.signed_key_id.as_deref())
        .bind(&new.component_path)
        .bind(&new.artifact_path)
        .bind(&new.compat_key)
        .bind(object_text(&new.grants, "grants")?)
        .bind(object_text(&new.config, "config")?)
        .bind(object_text(&new.limits, "limits")?)
        .bind(new.imports.to_string())
        .bind(&new.installed_by)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            StoreError::conflict_or(
                e,
                format!("plugin {} version {}", new.plugin_id, new.version),
            )
        })?;
        Ok(id)
    }

    async fn with_secret_names(
        &self,
        mut records: Vec<PluginRecord>,
    ) -> Result<Vec<PluginRecord>, StoreError> {
        for r in &mut records {
            r.secret_names = sqlx::query_scalar(
                "SELECT name FROM plugin_secrets WHERE plugin = $1 ORDER BY name",
            )
            .bind(r.id.to_string())
            .fetch_all(&self.pool)
            .await?;
        }
        Ok(records)
    }

    /// One plugin version by row id.
    pub async fn plugin(&self, id: Uuid) -> Result<Option<PluginRecord>, StoreError> {
        let row = sqlx::query(trusted(format!(
            "SELECT {COLUMNS} FROM plugins p WHERE p.id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(self
            .with_secret_names(vec![plugin_from_row(&row)?])
            .await?
            .pop())
    }

    /// The total and one page of plugin versions under `filter`, by plugin id then newest
    /// install first.
    pub async fn list_plugins(
        &self,
        filter: &PluginFilter,
    ) -> Result<(i64, Vec<PluginRecord>), StoreError> {
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<String> = Vec::new();
        let arg = |v: String, args: &mut Vec<String>| {
            args.push(v);
            format!("${}", args.len())
        };
        if let Some(v) = &filter.plugin_id {
            let p = arg(v.clone(), &mut args);
            clauses.push(format!("p.plugin_id = {p}"));
        }
        if let Some(v) = &filter.status {
            let p = arg(v.clone(), &mut args);
            clauses.push(format!("p.status = {p}"));
        }
        if let Some(v) = &filter.kind {
            let p = arg(v.clone(), &mut args);
            clauses.push(format!("p.kind = {p}"));
        }
        match filter.is_active {
            Some(true) => clauses.push("p.is_active = TRUE".into()),
            Some(false) => clauses.push("p.is_active = FALSE".into()),
            None => {}
        }
        if let Some(s) = filter.search.as_ref().filter(|s| !s.is_empty()) {
            let p = arg(
                format!("%{}%", crate::codec::like_escape(&s.to_lowercase())),
                &mut args,
            );
            clauses.push(format!(
                "(LOWER(p.plugin_id) LIKE {p} ESCAPE '\\' OR LOWER(p.name) LIKE {p} ESCAPE '\\'
                  OR LOWER(p.publisher) LIKE {p} ESCAPE '\\')"
            ));
        }
        let where_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let mut count = sqlx::query_scalar(trusted(format!(
            "SELECT COUNT(*) FROM plugins p {where_sql}"
        )));
        for a in &args {
            count = count.bind(a.clone());
        }
        let count: i64 = count.fetch_one(&self.pool).await?;
        let mut page = sqlx::query(trusted(format!(
            "SELECT {COLUMNS} FROM plugins p {where_sql}
             ORDER BY p.plugin_id, p.date_created DESC, p.id LIMIT {} OFFSET {}",
            filter.limit.max(0),
            filter.offset.max(0)
        )));
        for a in &args {
            page = page.bind(a.clone());
        }
        let rows = page.fetch_all(&self.pool).await?;
        let records = rows
            .iter()
            .map(plugin_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((count, self.with_secret_names(records).await?))
    }

    /// Every installed version of `plugin_id`, newest install first.
    pub async fn plugin_versions(&self, plugin_id: &str) -> Result<Vec<PluginRecord>, StoreError> {
        let (_, records) = self
            .list_plugins(&PluginFilter {
                plugin_id: Some(plugin_id.to_owned()),
                limit: 10_000,
                ..PluginFilter::default()
            })
            .await?;
        Ok(records)
    }

    /// Every enabled plugin version (what a start loads).
    pub async fn enabled_plugins(&self) -> Result<Vec<PluginRecord>, StoreError> {
        let (_, records) = self
            .list_plugins(&PluginFilter {
                status: Some("enabled".into()),
                limit: 10_000,
                ..PluginFilter::default()
            })
            .await?;
        Ok(records)
    }

    /// Replaces the documents given (grants, configuration, limit overrides); `None` leaves
    /// one as it is. False when there is no such plugin.
    pub async fn update_plugin_settings(
        &self,
        id: Uuid,
        grants: Option<&Value>,
        config: Option<&Value>,
        limits: Option<&Value>,
    ) -> Result<bool, StoreError> {
        let grants = grants.map(|v| object_text(v, "grants")).transpose()?;
        let config = config.map(|v| object_text(v, "config")).transpose()?;
        let limits = limits.map(|v| object_text(v, "limits")).transpose()?;
        let done = sqlx::query(
            "UPDATE plugins SET grants = COALESCE($1, grants), config = COALESCE($2, config),
                limits = COALESCE($3, limits), date_updated = $4
             WHERE id = $5",
        )
        .bind(grants)
        .bind(config)
        .bind(limits)
        .bind(now_micros())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a recompiled artifact (after an engine change made the old one stale).
    pub async fn set_plugin_artifact(
        &self,
        id: Uuid,
        artifact_path: &str,
        compat_key: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE plugins SET artifact_path = $1, compat_key = $2, date_updated = $3
             WHERE id = $4",
        )
        .bind(artifact_path)
        .bind(compat_key)
        .bind(now_micros())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records why an enabled plugin could not be loaded (empty: it loaded).
    pub async fn set_plugin_load_error(&self, id: Uuid, error: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE plugins SET load_error = $1 WHERE id = $2")
            .bind(error)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Makes `id` the active, enabled version of its plugin, in one transaction: any other
    /// version loses the active mark (an enabled one becomes `disabled`). Returns the version
    /// that was enabled before, if another one was. [`StoreError::NotFound`] when there is no
    /// such plugin.
    pub async fn enable_plugin(&self, id: Uuid) -> Result<Option<Uuid>, StoreError> {
        let mut tx = self.begin_write().await?;
        let plugin_id: Option<String> =
            sqlx::query_scalar("SELECT plugin_id FROM plugins WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(plugin_id) = plugin_id else {
            return Err(StoreError::NotFound("plugin".into()));
        };
        let previous: Option<String> = sqlx::query_scalar(
            "SELECT id FROM plugins WHERE plugin_id = $1 AND id <> $2 AND status = 'enabled'",
        )
        .bind(&plugin_id)
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let now = now_micros();
        sqlx::query(
            "UPDATE plugins SET is_active = FALSE,
                status = CASE WHEN status = 'enabled' THEN 'disabled' ELSE status END,
                date_updated = $1
             WHERE plugin_id = $2 AND id <> $3",
        )
        .bind(now)
        .bind(&plugin_id)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE plugins SET is_active = TRUE, status = 'enabled', load_error = '',
                date_enabled = $1, date_updated = $1
             WHERE id = $2",
        )
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        previous.map(|p| uuid(&p, "plugins.id")).transpose()
    }

    /// Stops new invocations of `id` (it stays the selected version). False when it was not
    /// enabled.
    pub async fn disable_plugin(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE plugins SET status = 'disabled', date_updated = $1
             WHERE id = $2 AND status = 'enabled'",
        )
        .bind(now_micros())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a plugin version that is not enabled (its secrets go with it). False when there
    /// is no such plugin; [`StoreError::Invalid`] when it is enabled.
    pub async fn delete_plugin(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM plugins WHERE id = $1 AND status <> 'enabled'")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        match self.plugin(id).await? {
            Some(_) => Err(StoreError::Invalid(
                "an enabled plugin cannot be removed: disable it first".into(),
            )),
            None => Ok(false),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Secrets
    // -----------------------------------------------------------------------------------------

    /// Binds (`Some`) or unbinds (`None`) secrets of plugin `id` by name, in one transaction;
    /// values are sealed for their row. Which names are allowed is the caller's check (the
    /// manifest's). False when there is no such plugin.
    pub async fn bind_plugin_secrets(
        &self,
        vault: &Vault,
        id: Uuid,
        values: &[(String, Option<SecretString>)],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM plugins WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(false);
        }
        let now = now_micros();
        for (name, value) in values {
            sqlx::query("DELETE FROM plugin_secrets WHERE plugin = $1 AND name = $2")
                .bind(id.to_string())
                .bind(name)
                .execute(&mut *tx)
                .await?;
            if let Some(value) = value {
                let row = Uuid::new_v4();
                sqlx::query(
                    "INSERT INTO plugin_secrets (id, plugin, name, secret, date_updated)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(row.to_string())
                .bind(id.to_string())
                .bind(name)
                .bind(vault.seal(value, &seal_context(row)))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query("UPDATE plugins SET date_updated = $1 WHERE id = $2")
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The secrets bound to plugin `id`, opened, by name: what an invocation hands the
    /// plugin's `secrets.get`. Callers never log them.
    pub async fn plugin_secrets(
        &self,
        vault: &Vault,
        id: Uuid,
    ) -> Result<BTreeMap<String, SecretString>, StoreError> {
        let rows = sqlx::query("SELECT id, name, secret FROM plugin_secrets WHERE plugin = $1")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        let mut out = BTreeMap::new();
        for r in rows {
            let row: String = r.try_get("id")?;
            let row_id = uuid(&row, "plugin_secrets.id")?;
            let sealed: String = r.try_get("secret")?;
            let value = vault
                .open(&sealed, &seal_context(row_id))
                .map_err(|cause| StoreError::Vault {
                    place: format!("plugin_secrets.secret:{row}"),
                    cause,
                })?;
            out.insert(r.try_get("name")?, value);
        }
        Ok(out)
    }

    // -----------------------------------------------------------------------------------------
    // Trusted keys and the unsigned setting
    // -----------------------------------------------------------------------------------------

    /// Trusts a publisher key. [`StoreError::Conflict`] when the key is already trusted.
    pub async fn add_trusted_key(&self, new: &NewTrustedKey) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO plugin_trusted_keys (id, key_id, publisher, public_key, comment,
                created_by, date_created)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.to_string())
        .bind(&new.key_id)
        .bind(&new.publisher)
        .bind(&new.public_key)
        .bind(&new.comment)
        .bind(&new.created_by)
        .bind(now_micros())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("trusted key {}", new.key_id)))?;
        Ok(id)
    }

    /// Every trusted key, by publisher then key id.
    pub async fn trusted_keys(&self) -> Result<Vec<TrustedKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, key_id, publisher, public_key, comment, created_by, date_created
             FROM plugin_trusted_keys ORDER BY publisher, key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// One trusted key by row id or key id.
    pub async fn trusted_key(
        &self,
        id_or_key_id: &str,
    ) -> Result<Option<TrustedKeyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, key_id, publisher, public_key, comment, created_by, date_created
             FROM plugin_trusted_keys WHERE id = $1 OR key_id = $1",
        )
        .bind(id_or_key_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// Stops trusting a key (installed plugins it signed stay installed). False when there is
    /// no such key.
    pub async fn delete_trusted_key(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM plugin_trusted_keys WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether unsigned bundles may be installed (off unless an administrator turned it on).
    pub async fn plugins_allow_unsigned(&self) -> Result<bool, StoreError> {
        Ok(self
            .setting(ALLOW_UNSIGNED)
            .await?
            .and_then(|v| v.as_bool())
            .unwrap_or(false))
    }

    /// Turns [`ALLOW_UNSIGNED`] on or off.
    pub async fn set_plugins_allow_unsigned(&self, allow: bool) -> Result<(), StoreError> {
        set_setting_in(
            &mut *self.pool.acquire().await?,
            ALLOW_UNSIGNED,
            SETTINGS_CATEGORY,
            &Value::Bool(allow),
        )
        .await
    }
}

/// A publisher key to trust.
#[derive(Debug, Clone)]
pub struct NewTrustedKey {
    /// 16 hex digits of the key's SHA-256.
    pub key_id: String,
    /// The publisher the key signs for.
    pub publisher: String,
    /// `ed25519:<base64>`.
    pub public_key: String,
    /// Free text (where the key came from).
    pub comment: String,
    /// `Name(username)` of whoever added it.
    pub created_by: String,
}

/// A `plugin_trusted_keys` row.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustedKeyRecord {
    /// Row id.
    pub id: Uuid,
    /// Key id.
    pub key_id: String,
    /// Publisher.
    pub publisher: String,
    /// `ed25519:<base64>`.
    pub public_key: String,
    /// Comment.
    pub comment: String,
    /// Who added it.
    pub created_by: String,
    /// When.
    pub date_created: DateTime<Utc>,
}

fn key_from_row(r: &AnyRow) -> Result<TrustedKeyRecord, StoreError> {
    let id: String = r.try_get("id")?;
    Ok(TrustedKeyRecord {
        id: uuid(&id, "plugin_trusted_keys.id")?,
        key_id: r.try_get("key_id")?,
        publisher: r.try_get("publisher")?,
        public_key: r.try_get("public_key")?,
        comment: r.try_get("comment")?,
        created_by: r.try_get("created_by")?,
        date_created: from_micros(r.try_get("date_created")?),
    })
}
