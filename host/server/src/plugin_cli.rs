//! `portcullis plugin …`: the administrator's and the author's plugin tools.
//!
//! **Administration** (install, list, show, grant, config, secret, limits, enable, disable,
//! upgrade, rollback, remove, trust, allow-unsigned) works directly on the data directory and
//! database, like `portcullis admin`, through the same lifecycle code as the API
//! (`portcullis_api::plugins::PluginHost`), so a bundle is checked the same way either way.
//! Changes are written to the operation log with the actor `cli`. A server that is already
//! running loads what the command line enabled at its next start; the API takes effect at once.
//!
//! **Signing and packing** (keygen, pack, sign) need no database.
//!
//! **Authoring** (new, build, test) is the SDK's part: see the separated section at the end.
//!
//! A plugin is named on the command line by its row id, by `plugin_id@version`, or by its
//! `plugin_id` alone (the active version, else the newest install).

use crate::config::{ListenOverrides, Overrides};
use crate::setup;
use anyhow::{Context, Result, bail};
use portcullis_api::plugins::{
    LifecycleError, PluginHost, config_of, effective_config, grant_of, limits_of, manifest_of,
};
use portcullis_core::builtin::DEFAULT_ORG_ID;
use portcullis_core::secret::SecretString;
use portcullis_plugin::bundle;
use portcullis_plugin::engine::{Runtime, RuntimeOptions};
use portcullis_plugin::manifest::LimitOverrides;
use portcullis_plugin::signing;
use portcullis_store::Store;
use portcullis_store::plugins::{NewTrustedKey, PluginFilter, PluginRecord};
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// `portcullis plugin` subcommands.
#[derive(clap::Subcommand)]
pub enum PluginCommand {
    /// Install a bundle (.tar.gz) or a plugin directory (not enabled yet).
    Install {
        /// The bundle file or directory.
        path: PathBuf,
    },
    /// Install a new version and enable it (the old version is disabled in the same step).
    Upgrade {
        /// The bundle file or directory.
        path: PathBuf,
    },
    /// List installed plugin versions.
    List,
    /// Show one plugin version: manifest, capabilities, grants, configuration, imports.
    Show {
        /// Row id, plugin_id@version, or plugin_id.
        plugin: String,
    },
    /// Grant capabilities (a subset of what the plugin requests). Replaces the grant.
    Grant {
        /// Row id, plugin_id@version, or plugin_id.
        plugin: String,
        /// Everything the plugin requests.
        #[arg(long, conflicts_with_all = ["http", "remote", "secret", "reveal", "none"])]
        all: bool,
        /// Nothing.
        #[arg(long)]
        none: bool,
        /// An HTTP origin (repeat for several).
        #[arg(long, value_name = "ORIGIN")]
        http: Vec<String>,
        /// Remote sessions.
        #[arg(long)]
        remote: bool,
        /// A secret name (repeat for several).
        #[arg(long, value_name = "NAME")]
        secret: Vec<String>,
        /// secrets.reveal.
        #[arg(long)]
        reveal: bool,
    },
    /// Set configuration values (`key=value`, merged into the current ones; `key=` unsets).
    Config {
        /// Row id, plugin_id@version, or plugin_id.
        plugin: String,
        /// `key=value` pairs.
        values: Vec<String>,
    },
    /// Bind a secret the plugin declares; the value is read from the first line of standard
    /// input (never from the command line).
    Secret {
        /// Row id, plugin_id@version, or plugin_id.
        plugin: String,
        /// The secret's name in the manifest.
        name: String,
        /// Remove the binding instead.
        #[arg(long)]
        unset: bool,
    },
    /// Override the limits (memory in MiB, timeout in seconds; 0 returns to the default).
    Limits {
        /// Row id, plugin_id@version, or plugin_id.
        plugin: String,
        /// Memory of one invocation, MiB.
        #[arg(long)]
        memory_mb: Option<u64>,
        /// Deadline of one invocation, seconds.
        #[arg(long)]
        timeout_s: Option<u64>,
    },
    /// Enable a version (checks `describe` against the manifest).
    Enable {
        /// Row id, plugin_id@version, or plugin_id.
        plugin: String,
    },
    /// Disable a version.
    Disable {
        /// Row id, plugin_id@version, or plugin_id.
        plugin: String,
    },
    /// Enable the version that was enabled before this one.
    Rollback {
        /// Row id, plugin_id@version, or plugin_id.
        plugin: String,
    },
    /// Uninstall a version that is not enabled (files included).
    Remove {
        /// Row id or plugin_id@version.
        plugin: String,
    },
    /// Trusted publisher keys.
    Trust {
        #[command(subcommand)]
        action: TrustCommand,
    },
    /// Allow (true) or refuse (false) unsigned bundles; without a value, show the setting.
    AllowUnsigned {
        /// true or false.
        value: Option<bool>,
    },
    /// Write a new Ed25519 signing key pair: <OUT>.key (mode 0600) and <OUT>.pub.
    Keygen {
        /// Path without extension.
        #[arg(long, short = 'o', value_name = "PATH")]
        out: PathBuf,
    },
    /// Pack a plugin directory into a bundle.
    Pack {
        /// The directory (plugin.toml, the component, optional plugin.sig, README.md, icon).
        dir: PathBuf,
        /// The bundle to write.
        #[arg(long, short = 'o', value_name = "FILE")]
        out: PathBuf,
    },
    /// Sign a bundle or directory with a private key (writes plugin.sig into a directory, or
    /// a signed copy of a bundle: --out, else in place).
    Sign {
        /// The bundle file or directory.
        path: PathBuf,
        /// The private key file (from `plugin keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Where to write a signed bundle [default: over the input].
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
    },
    // Authoring: new, build, test, conformance (see the section at the end of this file).
    #[command(flatten)]
    Dev(portcullis_plugin_harness::cli::DevCommand),
}

/// `portcullis plugin trust …`.
#[derive(clap::Subcommand)]
pub enum TrustCommand {
    /// Trust a public key for a publisher.
    Add {
        /// The publisher name manifests signed by this key carry.
        #[arg(long)]
        publisher: String,
        /// `ed25519:<base64>`, or a .pub file holding it.
        key: String,
        /// Free text.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// List trusted keys.
    List,
    /// Stop trusting a key (by key id or row id).
    Remove {
        /// Key id or row id.
        key: String,
    },
}

/// Runs a `plugin` subcommand.
pub async fn run(common: &Overrides, action: PluginCommand) -> Result<()> {
    match action {
        PluginCommand::Keygen { out } => return keygen(&out),
        PluginCommand::Pack { dir, out } => return pack(&dir, &out),
        PluginCommand::Sign { path, key, out } => return sign(&path, &key, out.as_deref()),
        PluginCommand::Dev(command) => return dev(command).await,
        _ => {}
    }
    let opened = setup::open(common, &ListenOverrides::default()).await?;
    let store = opened.store.clone();
    let host = cli_host(&opened.config.data_dir)?;
    let vault = &opened.vault;
    let result = admin(&host, &store, vault, action).await;
    store.close().await;
    result
}

/// A plugin host for one command: an engine without the pooling allocator (a command runs
/// at most a `describe`), files in `<data>/plugins`.
fn cli_host(data_dir: &Path) -> Result<PluginHost> {
    let runtime = Runtime::new(RuntimeOptions {
        max_instances: 4,
        max_concurrent: 4,
        pooling: false,
        ..RuntimeOptions::default()
    })
    .map_err(|e| anyhow::anyhow!("cannot start the plugin engine: {e}"))?;
    Ok(PluginHost::new(runtime, plugins_dir(data_dir)?))
}

/// `<data>/plugins`, created (mode 0700) when missing.
pub fn plugins_dir(data_dir: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = data_dir.join("plugins");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

fn lifecycle(e: LifecycleError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

async fn log(store: &Store, action: &str, r: &PluginRecord, diff: Value) {
    if let Err(e) = store
        .operate_log(
            DEFAULT_ORG_ID,
            "cli",
            action,
            "Plugin",
            &format!("{}@{}", r.plugin_id, r.version),
            &r.id.to_string(),
            "",
            &diff,
        )
        .await
    {
        tracing::error!(error = %e, "could not write the operation log");
    }
}

/// Finds a plugin version by row id, `plugin_id@version`, or `plugin_id`.
async fn resolve(store: &Store, name: &str) -> Result<PluginRecord> {
    if let Ok(id) = Uuid::parse_str(name) {
        return store
            .plugin(id)
            .await?
            .with_context(|| format!("no plugin with id {id}"));
    }
    let (plugin_id, version) = match name.split_once('@') {
        Some((p, v)) => (p, Some(v)),
        None => (name, None),
    };
    let versions = store.plugin_versions(plugin_id).await?;
    let found = match version {
        Some(v) => versions.into_iter().find(|r| r.version == v),
        None => {
            let active = versions.iter().position(|r| r.is_active);
            match active {
                Some(i) => versions.into_iter().nth(i),
                None => versions.into_iter().next(),
            }
        }
    };
    found.with_context(|| format!("plugin `{name}` is not installed"))
}

fn summary(r: &PluginRecord) -> String {
    format!(
        "{}@{} ({}, {}, {}{}) id {}",
        r.plugin_id,
        r.version,
        r.kind,
        r.status,
        if r.is_active { "active, " } else { "" },
        match &r.signed_key_id {
            Some(k) => format!("signed by {k}"),
            None => "unsigned".into(),
        },
        r.id
    )
}

fn read_bundle(path: &Path) -> Result<bundle::Bundle> {
    bundle::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

async fn admin(
    host: &PluginHost,
    store: &Store,
    vault: &portcullis_core::vault::Vault,
    action: PluginCommand,
) -> Result<()> {
    match action {
        PluginCommand::Install { path } => {
            let r = host
                .install(store, vault, read_bundle(&path)?, "cli")
                .await
                .map_err(lifecycle)?;
            log(
                store,
                "create",
                &r,
                json!({"after": {"version": r.version}}),
            )
            .await;
            println!("installed {}", summary(&r));
            let manifest = manifest_of(&r).map_err(lifecycle)?;
            println!(
                "requested capabilities: {}",
                serde_json::to_string(&manifest.capabilities)?
            );
            println!(
                "grant them with `portcullis plugin grant {}@{} …`, then enable it",
                r.plugin_id, r.version
            );
        }
        PluginCommand::Upgrade { path } => {
            let r = host
                .install(store, vault, read_bundle(&path)?, "cli")
                .await
                .map_err(lifecycle)?;
            log(
                store,
                "create",
                &r,
                json!({"after": {"version": r.version}}),
            )
            .await;
            println!("installed {}", summary(&r));
            let (r, previous) = host.enable(store, r.id).await.map_err(lifecycle)?;
            log(
                store,
                "update",
                &r,
                json!({"action": "enable", "replaced": previous}),
            )
            .await;
            println!("enabled {}", summary(&r));
        }
        PluginCommand::List => {
            let (_, all) = store
                .list_plugins(&PluginFilter {
                    limit: 10_000,
                    ..PluginFilter::default()
                })
                .await?;
            if all.is_empty() {
                println!("no plugins installed");
            }
            for r in all {
                println!("{}", summary(&r));
                if !r.load_error.is_empty() {
                    println!("  last load failed: {}", r.load_error);
                }
            }
        }
        PluginCommand::Show { plugin } => {
            let r = resolve(store, &plugin).await?;
            let m = manifest_of(&r).map_err(lifecycle)?;
            let limits = limits_of(&m, &r);
            let out = json!({
                "id": r.id, "plugin_id": r.plugin_id, "version": r.version, "name": r.name,
                "kind": r.kind, "publisher": r.publisher, "status": r.status,
                "is_active": r.is_active, "signed_key_id": r.signed_key_id, "sha256": r.sha256,
                "capabilities": m.capabilities, "grants": grant_of(&r), "config": effective_config(&m, &r),
                "config_schema": m.config,
                "secrets": {"declared": m.capabilities.secrets, "bound": r.secret_names},
                "limits": {"memory_mb": limits.memory_bytes / (1024 * 1024),
                           "timeout_s": limits.deadline.as_secs(), "override": r.limits},
                "imports": r.imports, "load_error": r.load_error,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        PluginCommand::Grant {
            plugin,
            all,
            none,
            http,
            remote,
            secret,
            reveal,
        } => {
            let r = resolve(store, &plugin).await?;
            let m = manifest_of(&r).map_err(lifecycle)?;
            // `--none` (or no flag at all) grants nothing.
            let _ = none;
            let grant = if all {
                m.capabilities.full_grant()
            } else {
                portcullis_plugin::manifest::Grant {
                    http,
                    remote,
                    secrets: secret,
                    reveal,
                }
            };
            let before = grant_of(&r);
            let r = host
                .set_grant(store, r.id, &grant)
                .await
                .map_err(lifecycle)?;
            log(store, "update", &r, json!({"grants": [before, grant]})).await;
            println!(
                "granted {}: {}",
                summary(&r),
                serde_json::to_string(&grant)?
            );
        }
        PluginCommand::Config { plugin, values } => {
            let r = resolve(store, &plugin).await?;
            let mut merged = serde_json::Map::new();
            for (k, v) in config_of(&r) {
                merged.insert(k, Value::String(v));
            }
            for pair in values {
                let Some((k, v)) = pair.split_once('=') else {
                    bail!("`{pair}` is not key=value");
                };
                if v.is_empty() {
                    merged.remove(k);
                } else {
                    merged.insert(k.to_owned(), Value::String(v.to_owned()));
                }
            }
            let before = config_of(&r);
            let r = host
                .set_config(store, r.id, &Value::Object(merged))
                .await
                .map_err(lifecycle)?;
            log(
                store,
                "update",
                &r,
                json!({"config": [before, config_of(&r)]}),
            )
            .await;
            println!("{}", serde_json::to_string_pretty(&config_of(&r))?);
        }
        PluginCommand::Secret {
            plugin,
            name,
            unset,
        } => {
            let r = resolve(store, &plugin).await?;
            let value = if unset {
                None
            } else {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the secret from standard input")?;
                let v = line.trim_end_matches(['\r', '\n']).to_owned();
                if v.is_empty() {
                    bail!("the secret read from standard input is empty");
                }
                Some(SecretString::new(v))
            };
            let r = host
                .bind_secrets(store, vault, r.id, vec![(name.clone(), value)])
                .await
                .map_err(lifecycle)?;
            log(
                store,
                "update",
                &r,
                json!({"secrets": r.secret_names, "changed": [name]}),
            )
            .await;
            println!(
                "bound secrets of {}: {}",
                summary(&r),
                r.secret_names.join(", ")
            );
        }
        PluginCommand::Limits {
            plugin,
            memory_mb,
            timeout_s,
        } => {
            let r = resolve(store, &plugin).await?;
            let mut limits: LimitOverrides =
                serde_json::from_value(r.limits.clone()).unwrap_or_default();
            if let Some(m) = memory_mb {
                limits.memory_mb = (m > 0).then_some(m);
            }
            if let Some(t) = timeout_s {
                limits.timeout_s = (t > 0).then_some(t);
            }
            let before = r.limits.clone();
            let r = host
                .set_limits(store, r.id, &limits)
                .await
                .map_err(lifecycle)?;
            log(store, "update", &r, json!({"limits": [before, r.limits]})).await;
            println!("limits of {}: {}", summary(&r), r.limits);
        }
        PluginCommand::Enable { plugin } => {
            let r = resolve(store, &plugin).await?;
            let (r, previous) = host.enable(store, r.id).await.map_err(lifecycle)?;
            log(
                store,
                "update",
                &r,
                json!({"action": "enable", "replaced": previous}),
            )
            .await;
            println!("enabled {}", summary(&r));
        }
        PluginCommand::Disable { plugin } => {
            let r = resolve(store, &plugin).await?;
            let r = host.disable(store, r.id).await.map_err(lifecycle)?;
            log(store, "update", &r, json!({"action": "disable"})).await;
            println!("disabled {}", summary(&r));
        }
        PluginCommand::Rollback { plugin } => {
            let r = resolve(store, &plugin).await?;
            let (r, previous) = host.rollback(store, r.id).await.map_err(lifecycle)?;
            log(
                store,
                "update",
                &r,
                json!({"action": "rollback", "replaced": previous}),
            )
            .await;
            println!("enabled {}", summary(&r));
        }
        PluginCommand::Remove { plugin } => {
            if Uuid::parse_str(&plugin).is_err() && !plugin.contains('@') {
                bail!("name the version to remove: {plugin}@VERSION (or its id)");
            }
            let r = resolve(store, &plugin).await?;
            let r = host.remove(store, r.id).await.map_err(lifecycle)?;
            log(
                store,
                "delete",
                &r,
                json!({"before": {"version": r.version}}),
            )
            .await;
            println!("removed {}@{}", r.plugin_id, r.version);
        }
        PluginCommand::Trust { action } => trust(store, action).await?,
        PluginCommand::AllowUnsigned { value } => {
            if let Some(v) = value {
                store.set_plugins_allow_unsigned(v).await?;
            }
            println!(
                "unsigned plugins are {}",
                if store.plugins_allow_unsigned().await? {
                    "allowed"
                } else {
                    "refused"
                }
            );
        }
        PluginCommand::Keygen { .. }
        | PluginCommand::Pack { .. }
        | PluginCommand::Sign { .. }
        | PluginCommand::Dev(_) => {}
    }
    Ok(())
}

async fn trust(store: &Store, action: TrustCommand) -> Result<()> {
    match action {
        TrustCommand::Add {
            publisher,
            key,
            comment,
        } => {
            let text = if key.starts_with("ed25519:") {
                key
            } else {
                std::fs::read_to_string(&key).with_context(|| format!("reading {key}"))?
            };
            let vk = signing::parse_public_key(&text)?;
            let id = signing::key_id(&vk);
            store
                .add_trusted_key(&NewTrustedKey {
                    key_id: id.clone(),
                    publisher: publisher.clone(),
                    public_key: signing::public_key_text(&vk),
                    comment,
                    created_by: "cli".into(),
                })
                .await?;
            println!("trusted key {id} for publisher {publisher}");
        }
        TrustCommand::List => {
            for k in store.trusted_keys().await? {
                println!(
                    "{} {} {} {}",
                    k.key_id, k.publisher, k.public_key, k.comment
                );
            }
        }
        TrustCommand::Remove { key } => {
            let k = store
                .trusted_key(&key)
                .await?
                .with_context(|| format!("no trusted key {key}"))?;
            store.delete_trusted_key(k.id).await?;
            println!("removed trusted key {} ({})", k.key_id, k.publisher);
        }
    }
    Ok(())
}

fn keygen(out: &Path) -> Result<()> {
    let private = out.with_extension("key");
    let public = out.with_extension("pub");
    let key = signing::generate();
    let id = signing::write_key_pair(&key, &private, &public)?;
    println!("key id {id}");
    println!("private key: {} (keep it secret)", private.display());
    println!("public key:  {}", public.display());
    println!("{}", signing::public_key_text(&key.verifying_key()));
    Ok(())
}

fn pack(dir: &Path, out: &Path) -> Result<()> {
    let bytes = bundle::pack(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    println!("packed {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}

fn sign(path: &Path, key: &Path, out: Option<&Path>) -> Result<()> {
    let key = signing::read_private_key(key)?;
    let mut b = read_bundle(path)?;
    let sig = signing::sign(&b.manifest_bytes, &key);
    if path.is_dir() {
        let file = path.join(signing::SIGNATURE_FILE);
        std::fs::write(&file, format!("{sig}\n"))
            .with_context(|| format!("writing {}", file.display()))?;
        println!("signed {} with key {}", file.display(), sig.key_id);
        if let Some(o) = out {
            b.signature = Some(sig);
            let bytes = b.to_archive()?;
            std::fs::write(o, bytes).with_context(|| format!("writing {}", o.display()))?;
            println!("wrote {}", o.display());
        }
        return Ok(());
    }
    let key_id = sig.key_id.clone();
    b.signature = Some(sig);
    let bytes = b.to_archive()?;
    let target = out.unwrap_or(path);
    std::fs::write(target, bytes).with_context(|| format!("writing {}", target.display()))?;
    println!("signed {} with key {key_id}", target.display());
    Ok(())
}

// =============================================================================================
// Authoring: `portcullis plugin new|build|test` — owned by the SDK work (not implemented here).
// Add their subcommands to `PluginCommand` above under this heading's name and dispatch them
// at the top of `run` (they need no database), keeping their code in this section or in a
// module of their own.
// =============================================================================================

/// `portcullis plugin new|build|test|conformance`: the plugin harness's authoring commands
/// (`sdk/harness/src/cli.rs`, documented in `sdk/docs/harness.md`).
async fn dev(command: portcullis_plugin_harness::cli::DevCommand) -> Result<()> {
    Ok(portcullis_plugin_harness::cli::run(command).await?)
}
