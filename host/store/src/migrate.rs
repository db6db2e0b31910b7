use crate::{Backend, Store, StoreError};
use sqlx::migrate::{MigrateError, Migrator};

static SQLITE: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("../../migrations/postgres");

/// What [`Store::migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Migrations this build ships.
    pub known: usize,
    /// Versions applied by this call.
    pub applied_now: Vec<i64>,
}

impl Store {
    fn migrator(&self) -> &'static Migrator {
        match self.backend() {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        }
    }

    /// Brings the schema up to this build's version. Each migration runs in its own
    /// transaction, so a failure leaves the database at the last complete version. A database
    /// migrated by a newer build is refused before anything is touched.
    pub async fn migrate(&self) -> Result<MigrationStatus, StoreError> {
        let migrator = self.migrator();
        let before = self.applied_versions().await?;
        let known: Vec<i64> = migrator.iter().map(|m| m.version).collect();
        if let Some(newer) = before.iter().find(|v| !known.contains(v)) {
            return Err(StoreError::SchemaTooNew(*newer));
        }
        migrator.run(&self.pool).await.map_err(|e| match e {
            MigrateError::VersionMissing(v) => StoreError::SchemaTooNew(v),
            MigrateError::VersionMismatch(v) => StoreError::SchemaModified(v),
            other => StoreError::Migrate(other),
        })?;
        let after = self.applied_versions().await?;
        Ok(MigrationStatus {
            known: known.len(),
            applied_now: after.into_iter().filter(|v| !before.contains(v)).collect(),
        })
    }

    /// Versions recorded as applied (empty on a fresh database).
    pub async fn applied_versions(&self) -> Result<Vec<i64>, StoreError> {
        let exists: i64 = match self.backend() {
            Backend::Sqlite => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_one(&self.pool)
                .await?
            }
            Backend::Postgres => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
                )
                .fetch_one(&self.pool)
                .await?
            }
        };
        if exists == 0 {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
