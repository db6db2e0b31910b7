//! Opening a data directory: the steps every subcommand shares, in the order that keeps a
//! failed start from changing anything it should not.

use crate::config::{Config, KeySource, ListenOverrides, Overrides};
use crate::keys::KeyRing;
use anyhow::{Context, Result};
use portcullis_core::vault::Vault;
use portcullis_store::Store;
use std::os::unix::fs::DirBuilderExt;

/// An opened installation.
pub struct Opened {
    /// The resolved configuration.
    pub config: Config,
    /// The migrated, seeded database.
    pub store: Store,
    /// The keyring sealing secrets.
    pub vault: Vault,
}

/// Resolves the configuration, reads the keys, connects, checks the keys against the
/// database, migrates, and seeds the built-ins. Every check that can fail on a bad key runs
/// before the first write, so such a start leaves the database as it was.
pub async fn open(common: &Overrides, listen: &ListenOverrides) -> Result<Opened> {
    let config = Config::resolve(common, listen)?;
    ensure_data_dir(&config)?;
    let ring = KeyRing::load(&config.key)?;
    let store = Store::connect(&config.database_url).await.map_err(|e| {
        anyhow::anyhow!("{e}; check --database-url / PORTCULLIS_DATABASE_URL and that the database server is running")
    })?;
    let recorded = crate::keys::recorded_key_id(&store).await?;
    ring.check(recorded.as_deref())?;
    let status = store.migrate().await?;
    if !status.applied_now.is_empty() {
        tracing::info!(versions = ?status.applied_now, backend = store.backend().name(), "applied database migrations");
    }
    store
        .seed_builtins()
        .await
        .context("seeding the built-in orgs, roles and platforms")?;
    let vault = ring.open(&store, recorded).await?;
    Ok(Opened {
        config,
        store,
        vault,
    })
}

/// `portcullis migrate`.
pub async fn migrate_only(common: &Overrides) -> Result<()> {
    let opened = open(common, &ListenOverrides::default()).await?;
    let versions = opened.store.applied_versions().await?;
    println!(
        "database ({}) is at migration {}",
        opened.store.backend().name(),
        versions.last().copied().unwrap_or_default()
    );
    opened.store.close().await;
    Ok(())
}

fn ensure_data_dir(config: &Config) -> Result<()> {
    let needs_dir = config.database_url.starts_with("sqlite:")
        && config
            .database_url
            .contains(&config.data_dir.display().to_string())
        || matches!(&config.key, KeySource::File(f) if f.starts_with(&config.data_dir));
    if needs_dir && !config.data_dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.data_dir)
            .with_context(|| {
                format!(
                    "cannot create the data directory {}",
                    config.data_dir.display()
                )
            })?;
    }
    Ok(())
}
