//! The data generation of the cached list pages: a one-row counter (`page_generation`,
//! migration 0007) that triggers bump on every write to a table the asset lists draw from.
//!
//! The API keeps whole list answers per value of this counter (`portcullis_api::page_cache`)
//! and reads it on every request, so a write by any process sharing the database invalidates
//! them at once. Read it *before* producing the answer it tags: an answer built from rows newer
//! than the generation read is harmless (that write bumped the counter past it), one tagged
//! with a newer generation than its data would be stale.

use crate::{Store, StoreError};

impl Store {
    /// The current value of the list-page generation.
    pub async fn page_generation(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM page_generation WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
