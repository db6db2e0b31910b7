use crate::StoreError;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::sync::Once;
use std::time::{Duration, Instant};

/// Which database a [`Store`] talks to. Only DDL and a handful of administrative statements
/// differ; every repository query is the same text on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: one file in the data directory.
    Sqlite,
    /// A shared server, for several Portcullis hosts.
    Postgres,
}

impl Backend {
    /// Recognises the backend from a URL.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }

    /// A short name for logs and the health endpoint.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }
}

/// A connection pool plus the knowledge of which database is behind it.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    /// Totals of users' materialized grants, keyed by (user, org) and valid for one build of
    /// the user's rows (`user_perm_state.date_built`): counting 100,000 rows on every list
    /// request would dominate its cost.
    pub(crate) perm_counts: std::sync::Arc<std::sync::Mutex<crate::perms::CountCache>>,
    /// Totals of unfiltered asset lists per (org, category), valid for one value of
    /// `perm_generation` (bumped by triggers on every insert, delete or move of an asset).
    pub(crate) asset_counts: std::sync::Arc<std::sync::Mutex<crate::assets::AssetCountCache>>,
    /// Assets' nodes and node paths, valid for one value of `perm_generation` (see
    /// `node_cache.rs`): every asset page shows them, and looking them up cost more than the
    /// page's own query.
    pub(crate) node_cache: std::sync::Arc<std::sync::Mutex<crate::node_cache::NodeCache>>,
}

static DRIVERS: Once = Once::new();

impl Store {
    /// Opens the database at `url` (creating an SQLite file if it does not exist yet) and checks
    /// that it answers. It does not migrate: call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        DRIVERS.call_once(install_default_drivers);
        let backend = Backend::from_url(url)?;
        let (url, max) = match backend {
            Backend::Sqlite => {
                if !crate::sqlite_config::disable_memstatus() {
                    tracing::debug!(
                        "SQLite was initialized before the store: its memory statistics stay on"
                    );
                }
                let url = if url.contains("mode=") {
                    url.to_owned()
                } else if url.contains('?') {
                    format!("{url}&mode=rwc")
                } else {
                    format!("{url}?mode=rwc")
                };
                (url, 8)
            }
            Backend::Postgres => (url.to_owned(), 16),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY; PRAGMA mmap_size = 268435456;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|cause| StoreError::Connect {
                url: redact(&url),
                cause,
            })?;
        if backend == Backend::Sqlite {
            // WAL lets readers proceed while a writer commits; it is a property of the file,
            // so setting it once per open is enough.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(|cause| StoreError::Connect {
                    url: redact(&url),
                    cause,
                })?;
        }
        Ok(Store {
            pool,
            backend,
            perm_counts: std::sync::Arc::default(),
            asset_counts: std::sync::Arc::default(),
            node_cache: std::sync::Arc::default(),
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A transaction that will write after reading. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails with
    /// "database is locked" when another one upgraded first, without waiting, whereas an
    /// immediate one waits its turn (busy timeout). PostgreSQL's row locking needs nothing.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// The pool, for crates that run their own queries against the schema.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A round trip to the database, for the health endpoint. Returns the latency.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let start = Instant::now();
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(start.elapsed())
    }

    /// Closes every connection (SQLite checkpoints its WAL on the last close).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The URL with any password replaced, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("postgres://bob:hunter2@db:5432/p"),
            "postgres://bob:***@db:5432/p"
        );
        assert_eq!(redact("postgres://bob@db/p"), "postgres://bob@db/p");
        assert_eq!(redact("sqlite:///x/y.db"), "sqlite:///x/y.db");
    }

    #[test]
    fn unknown_schemes_are_refused_with_the_supported_ones_named() {
        let err = Backend::from_url("mysql://x:pw@h/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sqlite://") && err.contains("postgres://") && !err.contains("pw"));
    }
}
