//! The plugin lifecycle: install, configure, enable, upgrade, roll back, disable, remove, and
//! loading the enabled plugins at start-up. The API handlers (`routes/plugins.rs`) and the
//! `portcullis plugin` command line both go through [`PluginHost`], so a bundle installed
//! either way is checked the same way and lands in the same place.
//!
//! **Install** checks everything before writing anything: the bundle (caps, digest, manifest),
//! the signature (a key trusted for the manifest's publisher, or the "allow unsigned" setting),
//! the component against its declared world (compiled once, which also gives the precompiled
//! artifact), the API version, and that this version is not installed yet and the plugin id
//! belongs to the same publisher. Only then are the files written under
//! `<data>/plugins/<plugin_id>/<version>/` (through a temporary directory renamed into place)
//! and the row created. A new version inherits what the administrator set on the current one
//! where it still fits (grants still requested, configuration still valid, secrets still
//! declared, limit overrides).
//!
//! **Enable** loads the artifact (recompiling from the stored component when the engine
//! changed), calls `describe` and refuses a plugin whose answer does not match its manifest,
//! then marks the version active in the database and swaps it into the [`Registry`]: calls
//! already running finish on the version they started with.
//!
//! **Changes made elsewhere** (the `portcullis plugin` command works on the database and the
//! files directly, and a cluster has several servers) reach a running server through
//! [`PluginHost::watch`]: every two seconds it compares the enabled rows with what its
//! registry loaded and loads, swaps or drops versions accordingly, logging each change.

use crate::plugin_log::{Trigger, invoke_logged};
use portcullis_core::secret::SecretString;
use portcullis_core::vault::Vault;
use portcullis_plugin::bundle::{self, Bundle};
use portcullis_plugin::caps::{Event, EventSink, Invocation, SecretValue};
use portcullis_plugin::engine::Runtime;
use portcullis_plugin::error::LoadError;
use portcullis_plugin::kind::{Kind, Limits};
use portcullis_plugin::manifest::{FieldError, Grant, LimitOverrides, Manifest};
use portcullis_plugin::plugin::LoadedPlugin;
use portcullis_plugin::registry::{RegisteredPlugin, Registry};
use portcullis_plugin::signing::{self, TrustedKey, Verified};
use portcullis_plugin::types::{Call, Output};
use portcullis_store::plugins::{NewPlugin, PluginRecord};
use portcullis_store::{Store, StoreError};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The precompiled artifact's file name in a version's directory.
pub const ARTIFACT_FILE: &str = "plugin.cwasm";

/// Why a lifecycle operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The request cannot be done as asked (a bad bundle, signature, component, state); the
    /// message says why and what to do. Nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// Values refused by a schema (configuration, grants), per field.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Fields(Vec<FieldError>),
    /// No such plugin.
    #[error("plugin not found")]
    NotFound,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Files could not be written or read, or the engine failed unexpectedly.
    #[error("{0}")]
    Internal(String),
}

fn refused(msg: impl Into<String>) -> LifecycleError {
    LifecycleError::Refused(msg.into())
}

/// The plugin engine, the enabled plugins, and where their files live. Cheap to clone.
#[derive(Clone)]
pub struct PluginHost {
    /// The process's engine.
    pub runtime: Runtime,
    /// The enabled plugins, for every service that calls plugins.
    pub registry: Registry,
    /// `<data>/plugins`.
    pub dir: PathBuf,
    /// The row each registry entry was loaded from (by plugin id), so [`Self::sync`] can tell
    /// a version enabled elsewhere (another process, the CLI) from the one loaded here.
    rows: Arc<std::sync::Mutex<HashMap<String, Uuid>>>,
    /// Held while the registry is brought in line with the database (enable, disable,
    /// [`Self::sync`]), so a sync never applies what it read before an enable of this
    /// process changed it.
    lifecycle: Arc<tokio::sync::Mutex<()>>,
}

/// What one [`PluginHost::sync`] changed in the registry.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// `plugin_id@version` loaded because it was enabled (or upgraded, rolled back) elsewhere.
    pub loaded: Vec<String>,
    /// `plugin_id@version` dropped because it was disabled elsewhere.
    pub unloaded: Vec<String>,
    /// `plugin_id@version` that is enabled but failed to load, with why (recorded in its
    /// `load_error`; not retried until its row changes).
    pub failed: Vec<(String, String)>,
}

/// What loading one enabled plugin at start-up did.
#[derive(Debug, Clone)]
pub struct LoadOutcome {
    /// The row.
    pub id: Uuid,
    /// `plugin_id@version`.
    pub name: String,
    /// Time to load (and recompile, when the artifact was stale).
    pub elapsed: Duration,
    /// Whether the artifact had to be recompiled.
    pub recompiled: bool,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// Logs plugin events of lifecycle calls (`describe`) through `tracing`.
struct LogSink;

impl EventSink for LogSink {
    fn record(&self, invocation_id: &str, event: Event) {
        tracing::debug!(invocation = invocation_id, event = ?event, "plugin event");
    }
}

/// The parsed manifest of a stored row (it was checked at install; a row that no longer
/// parses means the schema rules changed under it).
pub fn manifest_of(record: &PluginRecord) -> Result<Manifest, LifecycleError> {
    Manifest::parse(record.manifest.as_bytes()).map_err(|e| {
        LifecycleError::Internal(format!(
            "the stored manifest of {}@{} no longer parses: {e}",
            record.plugin_id, record.version
        ))
    })
}

/// The stored grant of a row.
pub fn grant_of(record: &PluginRecord) -> Grant {
    serde_json::from_value(record.grants.clone()).unwrap_or_default()
}

/// The stored limit overrides of a row.
pub fn limit_overrides_of(record: &PluginRecord) -> LimitOverrides {
    serde_json::from_value(record.limits.clone()).unwrap_or_default()
}

/// The stored configuration of a row, as the canonical strings the plugin reads.
pub fn config_of(record: &PluginRecord) -> BTreeMap<String, String> {
    serde_json::from_value(record.config.clone()).unwrap_or_default()
}

/// The configuration a row's invocations see: the stored values with the schema's defaults
/// for keys never set (the stored values alone when they no longer validate, which enable
/// refuses anyway).
pub fn effective_config(manifest: &Manifest, record: &PluginRecord) -> BTreeMap<String, String> {
    manifest
        .validate_config(&record.config)
        .unwrap_or_else(|_| config_of(record))
}

/// The limits a row's invocations run with.
pub fn limits_of(manifest: &Manifest, record: &PluginRecord) -> Limits {
    manifest.effective_limits(&limit_overrides_of(record))
}

fn io_error(path: &Path, e: std::io::Error) -> LifecycleError {
    LifecycleError::Internal(format!("{}: {e}", path.display()))
}

fn load_error(e: LoadError) -> LifecycleError {
    match e {
        LoadError::Io { .. } => LifecycleError::Internal(e.to_string()),
        other => refused(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LifecycleError> + Send + 'static,
) -> Result<T, LifecycleError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LifecycleError::Internal(format!("a plugin task failed: {e}")))?
}

impl PluginHost {
    /// A host over `runtime`, keeping files under `dir` (`<data>/plugins`).
    pub fn new(runtime: Runtime, dir: PathBuf) -> Self {
        PluginHost {
            runtime,
            registry: Registry::new(),
            dir,
            rows: Arc::default(),
            lifecycle: Arc::default(),
        }
    }

    /// Puts a loaded version in the registry, remembering its row.
    fn register(&self, row: Uuid, manifest: &Manifest, plugin: LoadedPlugin) {
        self.loaded_rows().insert(manifest.id.clone(), row);
        self.registry.enable(RegisteredPlugin {
            id: manifest.id.clone(),
            version: manifest.version.clone(),
            kind: manifest.kind,
            plugin,
        });
    }

    /// Takes `plugin_id` out of the registry (running calls finish).
    fn unregister(&self, plugin_id: &str) {
        self.loaded_rows().remove(plugin_id);
        self.registry.disable(plugin_id);
    }

    fn loaded_rows(&self) -> std::sync::MutexGuard<'_, HashMap<String, Uuid>> {
        self.rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn version_dir(&self, plugin_id: &str, version: &str) -> PathBuf {
        self.dir.join(plugin_id).join(version)
    }

    // -----------------------------------------------------------------------------------------
    // Install
    // -----------------------------------------------------------------------------------------

    /// Reads bundle bytes (a `.tar.gz`).
    pub fn read_bundle(bytes: &[u8]) -> Result<Bundle, LifecycleError> {
        bundle::read(bytes).map_err(|e| refused(e.to_string()))
    }

    /// Installs a bundle (see the module documentation). Returns the new row.
    pub async fn install(
        &self,
        store: &Store,
        vault: &Vault,
        bundle: Bundle,
        installed_by: &str,
    ) -> Result<PluginRecord, LifecycleError> {
        let manifest = bundle.manifest.clone();
        // Signature.
        let trusted: Vec<TrustedKey> = store
            .trusted_keys()
            .await?
            .into_iter()
            .filter_map(|k| {
                signing::parse_public_key(&k.public_key)
                    .ok()
                    .map(|key| TrustedKey {
                        publisher: k.publisher,
                        key,
                    })
            })
            .collect();
        let allow_unsigned = store.plugins_allow_unsigned().await?;
        let verified = signing::verify(
            &bundle.manifest_bytes,
            &manifest.publisher,
            bundle.signature.as_ref(),
            &trusted,
            allow_unsigned,
        )
        .map_err(|e| refused(e.to_string()))?;
        // Versions already installed.
        let versions = store.plugin_versions(&manifest.id).await?;
        if versions.iter().any(|v| v.version == manifest.version) {
            return Err(refused(format!(
                "{}@{} is already installed (versions are immutable: give the new build a new version)",
                manifest.id, manifest.version
            )));
        }
        if let Some(other) = versions.iter().find(|v| v.publisher != manifest.publisher) {
            return Err(refused(format!(
                "plugin {} is installed from publisher `{}`; a bundle from publisher `{}` cannot replace it",
                manifest.id, other.publisher, manifest.publisher
            )));
        }
        // The component against its world, and the artifact, from one compilation.
        let runtime = self.runtime.clone();
        let component = bundle.component.clone();
        let kind = manifest.kind;
        let (report, artifact) = blocking(move || {
            runtime
                .prepare(&component, kind)
                .map_err(|e| refused(format!("the component was refused: {e}")))
        })
        .await?;
        check_api_version(&manifest, &report.api_version)?;
        let imports = serde_json::to_value(&report).unwrap_or_else(|_| json!({}));
        // What carries over from the current version.
        let previous = versions
            .iter()
            .find(|v| v.is_active)
            .or_else(|| versions.first());
        let (grants, config, limits) = match previous {
            Some(p) => {
                let grant = grant_of(p).intersect(&manifest.capabilities);
                let config = manifest
                    .validate_config(&p.config)
                    .map(|c| json!(c))
                    .unwrap_or_else(|_| json!({}));
                (json!(grant), config, p.limits.clone())
            }
            None => (json!(Grant::default()), json!({}), json!({})),
        };
        // Files, then the row.
        let dir = self.version_dir(&manifest.id, &manifest.version);
        let rel = |file: &str| format!("{}/{}/{file}", manifest.id, manifest.version);
        {
            let dir = dir.clone();
            let b = bundle.clone();
            blocking(move || write_version_dir(&dir, &b, &artifact)).await?;
        }
        let new = NewPlugin {
            plugin_id: manifest.id.clone(),
            version: manifest.version.clone(),
            kind: manifest.kind.world().to_owned(),
            publisher: manifest.publisher.clone(),
            name: manifest.name.clone(),
            manifest: String::from_utf8_lossy(&bundle.manifest_bytes).into_owned(),
            sha256: manifest.sha256.clone(),
            signed_key_id: match verified {
                Verified::Signed { key_id } => Some(key_id),
                Verified::Unsigned => None,
            },
            component_path: rel(&manifest.component),
            artifact_path: rel(ARTIFACT_FILE),
            compat_key: self.runtime.compatibility_key(),
            imports,
            grants,
            config,
            limits,
            installed_by: installed_by.to_owned(),
        };
        let id = match store.create_plugin(&new).await {
            Ok(id) => id,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(match e {
                    StoreError::Conflict(what) => refused(format!("{what} is already installed")),
                    other => other.into(),
                });
            }
        };
        if let Some(p) = previous {
            let secrets = store.plugin_secrets(vault, p.id).await?;
            let carried: Vec<(String, Option<SecretString>)> = secrets
                .into_iter()
                .filter(|(name, _)| manifest.capabilities.secrets.contains(name))
                .map(|(name, value)| (name, Some(value)))
                .collect();
            if !carried.is_empty() {
                store.bind_plugin_secrets(vault, id, &carried).await?;
            }
        }
        store.plugin(id).await?.ok_or(LifecycleError::NotFound)
    }

    // -----------------------------------------------------------------------------------------
    // Settings
    // -----------------------------------------------------------------------------------------

    async fn record(&self, store: &Store, id: Uuid) -> Result<PluginRecord, LifecycleError> {
        store.plugin(id).await?.ok_or(LifecycleError::NotFound)
    }

    /// Replaces the grant; it must be a subset of the request.
    pub async fn set_grant(
        &self,
        store: &Store,
        id: Uuid,
        grant: &Grant,
    ) -> Result<PluginRecord, LifecycleError> {
        let record = self.record(store, id).await?;
        let manifest = manifest_of(&record)?;
        manifest
            .capabilities
            .check_grant(grant)
            .map_err(LifecycleError::Fields)?;
        store
            .update_plugin_settings(id, Some(&json!(grant)), None, None)
            .await?;
        self.record(store, id).await
    }

    /// Replaces the configuration, validated against the manifest's schema (defaults
    /// applied, values stored in canonical form).
    pub async fn set_config(
        &self,
        store: &Store,
        id: Uuid,
        input: &Value,
    ) -> Result<PluginRecord, LifecycleError> {
        let record = self.record(store, id).await?;
        let manifest = manifest_of(&record)?;
        let values = manifest
            .validate_config(input)
            .map_err(LifecycleError::Fields)?;
        store
            .update_plugin_settings(id, None, Some(&json!(values)), None)
            .await?;
        self.record(store, id).await
    }

    /// Replaces the limit overrides (memory in MiB, timeout in seconds; unset fields use
    /// the plugin's request capped by its kind's default).
    pub async fn set_limits(
        &self,
        store: &Store,
        id: Uuid,
        limits: &LimitOverrides,
    ) -> Result<PluginRecord, LifecycleError> {
        self.record(store, id).await?;
        portcullis_plugin::manifest::check_limits(limits).map_err(|e| {
            LifecycleError::Fields(vec![FieldError {
                field: e.path.trim_start_matches("limits.").to_owned(),
                message: e.message,
            }])
        })?;
        store
            .update_plugin_settings(id, None, None, Some(&json!(limits)))
            .await?;
        self.record(store, id).await
    }

    /// Binds (or, with `None`, unbinds) secrets by their manifest names.
    pub async fn bind_secrets(
        &self,
        store: &Store,
        vault: &Vault,
        id: Uuid,
        values: Vec<(String, Option<SecretString>)>,
    ) -> Result<PluginRecord, LifecycleError> {
        let record = self.record(store, id).await?;
        let manifest = manifest_of(&record)?;
        let unknown: Vec<FieldError> = values
            .iter()
            .filter(|(name, _)| !manifest.capabilities.secrets.contains(name))
            .map(|(name, _)| FieldError {
                field: name.clone(),
                message: "the plugin does not declare this secret".into(),
            })
            .collect();
        if !unknown.is_empty() {
            return Err(LifecycleError::Fields(unknown));
        }
        store.bind_plugin_secrets(vault, id, &values).await?;
        self.record(store, id).await
    }

    // -----------------------------------------------------------------------------------------
    // Loading, enabling, disabling
    // -----------------------------------------------------------------------------------------

    /// Loads a row's artifact; a stale one (another engine) is recompiled from the stored
    /// component, rewritten and recorded. Returns the plugin and whether it was recompiled.
    pub async fn load(
        &self,
        store: &Store,
        record: &PluginRecord,
    ) -> Result<(LoadedPlugin, bool), LifecycleError> {
        let kind: Kind = record
            .kind
            .parse()
            .map_err(|e| LifecycleError::Internal(format!("{e}")))?;
        let runtime = self.runtime.clone();
        let artifact_path = self.dir.join(&record.artifact_path);
        let component_path = self.dir.join(&record.component_path);
        let sha256 = record.sha256.clone();
        let (plugin, recompiled) = blocking(move || {
            let loaded = std::fs::read(&artifact_path)
                .map_err(|e| LoadError::StaleArtifact(format!("{}: {e}", artifact_path.display())))
                .and_then(|bytes| runtime.load(kind, &bytes));
            match loaded {
                Ok(p) => Ok((p, false)),
                Err(LoadError::StaleArtifact(why)) => {
                    tracing::info!(artifact = %artifact_path.display(), %why, "recompiling a plugin");
                    let wasm = std::fs::read(&component_path)
                        .map_err(|e| io_error(&component_path, e))?;
                    if bundle::sha256_hex(&wasm) != sha256 {
                        return Err(refused(format!(
                            "{} no longer has the digest recorded at install; reinstall the plugin",
                            component_path.display()
                        )));
                    }
                    let (_, artifact) = runtime.prepare(&wasm, kind).map_err(load_error)?;
                    write_atomic(&artifact_path, &artifact)?;
                    let plugin = runtime.load(kind, &artifact).map_err(load_error)?;
                    Ok((plugin, true))
                }
                Err(e) => Err(load_error(e)),
            }
        })
        .await?;
        if recompiled {
            store
                .set_plugin_artifact(
                    record.id,
                    &record.artifact_path,
                    &self.runtime.compatibility_key(),
                )
                .await?;
        }
        Ok((plugin, recompiled))
    }

    /// Calls `describe` (recorded in the invocation log as `trigger`) and checks the answer
    /// against the manifest.
    pub async fn check_describe(
        &self,
        store: &Store,
        trigger: Trigger,
        plugin: &LoadedPlugin,
        manifest: &Manifest,
        record: &PluginRecord,
    ) -> Result<(), LifecycleError> {
        let inv = Invocation {
            id: Uuid::new_v4().to_string(),
            plugin_id: manifest.id.clone(),
            plugin_version: manifest.version.clone(),
            limits: limits_of(manifest, record),
            config: BTreeMap::new(),
            secrets: BTreeMap::new(),
            reveal_allowed: false,
            http: None,
            remote: None,
            events: Arc::new(LogSink),
            determinism: None,
            fuel: None,
        };
        match invoke_logged(store, plugin, inv, Call::Describe, trigger).await {
            Ok(Output::Info(info))
                if info.id == manifest.id && info.version == manifest.version =>
            {
                Ok(())
            }
            Ok(Output::Info(info)) => Err(refused(format!(
                "the plugin describes itself as {}@{}, but its manifest says {}@{}",
                info.id, info.version, manifest.id, manifest.version
            ))),
            Ok(other) => Err(refused(format!(
                "describe answered something else than plugin info: {other:?}"
            ))),
            Err(e) => Err(refused(format!("describe failed: {e}"))),
        }
    }

    /// Enables a version: configuration complete, load, `describe` checked, then the
    /// database and the registry. Returns the row and the version it replaced, if any.
    pub async fn enable(
        &self,
        store: &Store,
        id: Uuid,
    ) -> Result<(PluginRecord, Option<Uuid>), LifecycleError> {
        let _lifecycle = self.lifecycle.lock().await;
        let record = self.record(store, id).await?;
        let manifest = manifest_of(&record)?;
        manifest
            .validate_config(&record.config)
            .map_err(LifecycleError::Fields)?;
        let (plugin, _) = self.load(store, &record).await?;
        let trigger = Trigger {
            kind: "enable",
            reference: record.id.to_string(),
        };
        self.check_describe(store, trigger, &plugin, &manifest, &record)
            .await?;
        let previous = store.enable_plugin(id).await?;
        self.register(record.id, &manifest, plugin);
        Ok((self.record(store, id).await?, previous))
    }

    /// Disables a version for new calls (running calls finish).
    pub async fn disable(&self, store: &Store, id: Uuid) -> Result<PluginRecord, LifecycleError> {
        let _lifecycle = self.lifecycle.lock().await;
        let record = self.record(store, id).await?;
        if !store.disable_plugin(id).await? {
            return Err(refused(format!(
                "{}@{} is not enabled",
                record.plugin_id, record.version
            )));
        }
        if self
            .registry
            .get(&record.plugin_id)
            .is_some_and(|r| r.version == record.version)
        {
            self.unregister(&record.plugin_id);
        }
        self.record(store, id).await
    }

    /// Enables the version that was enabled before `id` (the most recently enabled other
    /// version of the same plugin). Returns the row enabled.
    pub async fn rollback(
        &self,
        store: &Store,
        id: Uuid,
    ) -> Result<(PluginRecord, Option<Uuid>), LifecycleError> {
        let record = self.record(store, id).await?;
        let mut earlier: Vec<PluginRecord> = store
            .plugin_versions(&record.plugin_id)
            .await?
            .into_iter()
            .filter(|v| v.id != id && v.date_enabled.is_some())
            .collect();
        earlier.sort_by_key(|v| std::cmp::Reverse(v.date_enabled));
        let Some(target) = earlier.first() else {
            return Err(refused(format!(
                "no other version of {} was ever enabled; there is nothing to roll back to",
                record.plugin_id
            )));
        };
        self.enable(store, target.id).await
    }

    /// Removes a version that is not enabled, with its files.
    pub async fn remove(&self, store: &Store, id: Uuid) -> Result<PluginRecord, LifecycleError> {
        let record = self.record(store, id).await?;
        if !store.delete_plugin(id).await.map_err(|e| match e {
            StoreError::Invalid(m) => refused(m),
            other => other.into(),
        })? {
            return Err(LifecycleError::NotFound);
        }
        let dir = self.version_dir(&record.plugin_id, &record.version);
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove a plugin's files");
        }
        // The plugin's directory goes when its last version does (fails harmlessly otherwise).
        let _ = std::fs::remove_dir(self.dir.join(&record.plugin_id));
        Ok(record)
    }

    /// Loads every enabled plugin into the registry (start-up). A plugin that fails is
    /// recorded (`load_error`) and skipped; it never stops the caller.
    pub async fn load_enabled(&self, store: &Store) -> Result<Vec<LoadOutcome>, StoreError> {
        let _lifecycle = self.lifecycle.lock().await;
        let mut outcomes = Vec::new();
        for record in store.enabled_plugins().await? {
            outcomes.push(self.load_enabled_row(store, &record).await?);
        }
        Ok(outcomes)
    }

    /// Loads one enabled row into the registry and records the outcome in its `load_error`.
    async fn load_enabled_row(
        &self,
        store: &Store,
        record: &PluginRecord,
    ) -> Result<LoadOutcome, StoreError> {
        let start = Instant::now();
        let result = async {
            let manifest = manifest_of(record)?;
            let (plugin, recompiled) = self.load(store, record).await?;
            let trigger = Trigger {
                kind: "load",
                reference: record.id.to_string(),
            };
            self.check_describe(store, trigger, &plugin, &manifest, record)
                .await?;
            self.register(record.id, &manifest, plugin);
            Ok::<bool, LifecycleError>(recompiled)
        }
        .await;
        let elapsed = start.elapsed();
        let (recompiled, error) = match result {
            Ok(r) => (r, None),
            Err(e) => (false, Some(e.to_string())),
        };
        store
            .set_plugin_load_error(record.id, error.as_deref().unwrap_or(""))
            .await?;
        Ok(LoadOutcome {
            id: record.id,
            name: format!("{}@{}", record.plugin_id, record.version),
            elapsed,
            recompiled,
            error,
        })
    }

    /// Brings the registry in line with the database: versions enabled elsewhere (the
    /// `portcullis plugin` command, another server of a cluster) are loaded and swapped in,
    /// disabled ones dropped; running calls finish on the version they started with. Rows in
    /// `skip` (enabled but failed to load before) are not retried; the rows that fail now are
    /// added to it, and rows no longer enabled leave it.
    pub async fn sync(
        &self,
        store: &Store,
        skip: &mut HashSet<Uuid>,
    ) -> Result<SyncReport, StoreError> {
        let _lifecycle = self.lifecycle.lock().await;
        let enabled = store.enabled_plugins().await?;
        let mut report = SyncReport::default();
        skip.retain(|id| enabled.iter().any(|r| r.id == *id));

        let loaded: Vec<(String, Uuid)> = self
            .loaded_rows()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for (plugin_id, _) in &loaded {
            if !enabled.iter().any(|r| &r.plugin_id == plugin_id) {
                if let Some(gone) = self.registry.get(plugin_id) {
                    report
                        .unloaded
                        .push(format!("{}@{}", gone.id, gone.version));
                }
                self.unregister(plugin_id);
            }
        }
        for record in &enabled {
            let current = loaded
                .iter()
                .find(|(id, _)| id == &record.plugin_id)
                .map(|(_, row)| *row);
            if current == Some(record.id) || skip.contains(&record.id) {
                continue;
            }
            let outcome = self.load_enabled_row(store, record).await?;
            match outcome.error {
                None => report.loaded.push(outcome.name),
                Some(e) => {
                    skip.insert(record.id);
                    report.failed.push((outcome.name, e));
                }
            }
        }
        Ok(report)
    }

    /// Runs [`Self::sync`] every `every` until the returned task is aborted, logging each
    /// change: enabling, disabling, upgrading or rolling back with the command line reaches a
    /// running server within one period, without a restart.
    pub fn watch(&self, store: Store, every: Duration) -> tokio::task::JoinHandle<()> {
        let host = self.clone();
        tokio::spawn(async move {
            let mut skip = HashSet::new();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                match host.sync(&store, &mut skip).await {
                    Ok(r) => {
                        for name in &r.loaded {
                            tracing::info!(plugin = %name, "plugin enabled elsewhere: loaded and swapped in");
                        }
                        for name in &r.unloaded {
                            tracing::info!(plugin = %name, "plugin disabled elsewhere: unloaded");
                        }
                        for (name, e) in &r.failed {
                            tracing::error!(plugin = %name, error = %e, "plugin enabled elsewhere failed to load; it stays unavailable until fixed");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not check the enabled plugins")
                    }
                }
            }
        })
    }

    /// What one invocation of the enabled version of `plugin_id` needs, from its stored
    /// settings: the registered plugin, its manifest, the grant, configuration, opened
    /// secrets (only the granted ones) and limits. `None` when it is not enabled here.
    pub async fn resolve(
        &self,
        store: &Store,
        vault: &Vault,
        plugin_id: &str,
    ) -> Result<Option<ResolvedPlugin>, LifecycleError> {
        let Some(registered) = self.registry.get(plugin_id) else {
            return Ok(None);
        };
        let Some(record) = store
            .plugin_versions(plugin_id)
            .await?
            .into_iter()
            .find(|r| r.is_enabled() && r.version == registered.version)
        else {
            return Ok(None);
        };
        let manifest = manifest_of(&record)?;
        let grant = grant_of(&record);
        let secrets = store
            .plugin_secrets(vault, record.id)
            .await?
            .into_iter()
            .filter(|(name, _)| grant.secrets.contains(name))
            .map(|(name, value)| {
                let bytes = zeroize::Zeroizing::new(value.expose().as_bytes().to_vec());
                (
                    name.clone(),
                    SecretValue {
                        name,
                        bytes,
                        public_part: None,
                    },
                )
            })
            .collect();
        Ok(Some(ResolvedPlugin {
            limits: limits_of(&manifest, &record),
            config: effective_config(&manifest, &record),
            registered,
            manifest,
            grant,
            secrets,
            record,
        }))
    }
}

/// An enabled plugin with what its invocations need (see [`PluginHost::resolve`]).
#[derive(Clone)]
pub struct ResolvedPlugin {
    /// The loaded version; hold it for the whole call.
    pub registered: Arc<RegisteredPlugin>,
    /// Its row.
    pub record: PluginRecord,
    /// Its manifest.
    pub manifest: Manifest,
    /// What the administrator granted.
    pub grant: Grant,
    /// Validated configuration.
    pub config: BTreeMap<String, String>,
    /// Granted, bound secrets by name.
    pub secrets: BTreeMap<String, SecretValue>,
    /// Limits of one invocation.
    pub limits: Limits,
}

/// Refuses a manifest whose `api` differs from what the component's imports say.
fn check_api_version(manifest: &Manifest, component_api: &str) -> Result<(), LifecycleError> {
    let mut parts = component_api.split('.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().unwrap_or_default();
    if component_api.is_empty() || format!("{major}.{minor}") == manifest.api {
        Ok(())
    } else {
        Err(refused(format!(
            "plugin.toml says api {}, but the component was built against portcullis:plugin {component_api}",
            manifest.api
        )))
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LifecycleError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| io_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))
}

/// Writes a version's files into a fresh directory and renames it into place.
fn write_version_dir(dir: &Path, bundle: &Bundle, artifact: &[u8]) -> Result<(), LifecycleError> {
    use std::os::unix::fs::DirBuilderExt;
    let parent = dir
        .parent()
        .ok_or_else(|| LifecycleError::Internal("bad plugin directory".into()))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|e| io_error(parent, e))?;
    let tmp = parent.join(format!(
        ".{}.tmp{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("v"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).map_err(|e| io_error(&tmp, e))?;
    let write = |name: &str, bytes: &[u8]| {
        let p = tmp.join(name);
        std::fs::write(&p, bytes).map_err(|e| io_error(&p, e))
    };
    let result = (|| {
        write(
            portcullis_plugin::manifest::MANIFEST_FILE,
            &bundle.manifest_bytes,
        )?;
        write(&bundle.manifest.component, &bundle.component)?;
        if let Some(sig) = &bundle.signature {
            write(signing::SIGNATURE_FILE, format!("{sig}\n").as_bytes())?;
        }
        for (name, data) in &bundle.extras {
            write(name, data)?;
        }
        write(ARTIFACT_FILE, artifact)?;
        // A directory left by an install that crashed before its row was written.
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| io_error(dir, e))?;
        }
        std::fs::rename(&tmp, dir).map_err(|e| io_error(dir, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}
