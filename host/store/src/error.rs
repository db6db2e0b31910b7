use thiserror::Error;

/// Everything that can go wrong in the store, phrased for the operator who has to fix it.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database URL is not one this build understands.
    #[error(
        "unsupported database URL `{0}`: use sqlite://PATH (embedded) or postgres://USER@HOST:PORT/DB"
    )]
    UnsupportedUrl(String),
    /// The database could not be reached or opened.
    #[error("cannot connect to the database at {url}: {cause}")]
    Connect {
        /// The URL with any password removed.
        url: String,
        /// What the driver said.
        cause: sqlx::Error,
    },
    /// The database was migrated by a newer Portcullis than this one.
    #[error(
        "the database schema is newer than this Portcullis (it has migration {0}, which this version does not know); run the newer Portcullis, or restore a backup made for this version"
    )]
    SchemaTooNew(i64),
    /// An applied migration differs from the one shipped in this build.
    #[error(
        "migration {0} in the database differs from the one in this build; the schema was changed by hand or by a different build"
    )]
    SchemaModified(i64),
    /// A migration failed; its transaction was rolled back.
    #[error("applying database migrations failed (nothing was changed by the failed step): {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Sql(sqlx::Error),
    /// A unique constraint refused a write.
    #[error("{0} already exists")]
    Conflict(String),
    /// A row that must exist does not.
    #[error("{0} not found")]
    NotFound(String),
    /// A stored secret could not be opened.
    #[error("a stored secret in {place} cannot be opened: {cause}")]
    Vault {
        /// `table.column:row`.
        place: String,
        /// Why.
        cause: portcullis_core::vault::VaultError,
    },
    /// Input refused before anything was written.
    #[error("{0}")]
    Invalid(String),
    /// A value read back from the database is not what the schema promises.
    #[error("corrupt data in {0}")]
    Corrupt(String),
}

// Messages include the cause in their text (operators read one line), so the cause is not
// also exposed as `source()`, which would print it twice in an error chain.
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Sql(e)
    }
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Conflict`] naming `what`.
    pub(crate) fn conflict_or(err: sqlx::Error, what: impl Into<String>) -> Self {
        if let sqlx::Error::Database(db) = &err
            && db.is_unique_violation()
        {
            return StoreError::Conflict(what.into());
        }
        StoreError::Sql(err)
    }
}

impl StoreError {
    /// SQLite refused because another connection held the lock past the busy timeout, or a
    /// read snapshot went stale before a write (`SQLITE_BUSY`, `SQLITE_BUSY_SNAPSHOT`): the
    /// operation may simply be tried again.
    pub fn is_busy(&self) -> bool {
        let StoreError::Sql(e) = self else {
            return false;
        };
        e.as_database_error().is_some_and(|d| {
            matches!(d.code().as_deref(), Some("5" | "517" | "261"))
                || d.message().contains("database is locked")
        })
    }
}
