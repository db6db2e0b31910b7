//! Deleting many rows of one resource in one transaction, for the API's filtered bulk
//! `DELETE` (reference §1.2): JumpServer deletes a bulk selection inside one database
//! transaction, so a row that cannot go (a platform that assets still use) leaves every row of
//! the selection in place. Deleting item by item through the single-row functions cannot give
//! that: the rows before the blocking one would already be gone.
//!
//! Each kind removes what its single-row delete removes (label bindings, dependent rows), and
//! checks inside the transaction what the database would otherwise refuse, so that the answer
//! can name the row that blocked the selection.

use crate::{Store, StoreError};
use uuid::Uuid;

/// What a bulk delete did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkDeleted {
    /// Every row of the selection is gone; how many existed.
    All(u64),
    /// Nothing was deleted because this row (by id, as the selection gave it) is referenced by
    /// other objects.
    Referenced(String),
}

impl Store {
    /// Deletes the assets `ids` (their protocols, node links and accounts go with them, and the
    /// label bindings of the assets and of those accounts) in one transaction.
    pub async fn delete_assets(&self, ids: &[Uuid]) -> Result<BulkDeleted, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut n = 0;
        for id in ids {
            let accounts: Vec<String> =
                sqlx::query_scalar("SELECT id FROM accounts WHERE asset_id = $1")
                    .bind(id.to_string())
                    .fetch_all(&mut *tx)
                    .await?;
            crate::labels::delete_resource_labels_in(&mut tx, "accounts.account", &accounts)
                .await?;
            crate::labels::delete_resource_labels_in(&mut tx, "assets.asset", &[id.to_string()])
                .await?;
            n += sqlx::query("DELETE FROM assets WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(BulkDeleted::All(n))
    }

    /// Deletes the accounts `ids` and their label bindings in one transaction (accounts that
    /// switch from one of them keep existing, without `su_from`).
    pub async fn delete_accounts(&self, ids: &[Uuid]) -> Result<BulkDeleted, StoreError> {
        self.delete_labeled("accounts", "accounts.account", ids)
            .await
    }

    /// Deletes the users `ids` and their label bindings (of every org) in one transaction.
    pub async fn delete_users(&self, ids: &[Uuid]) -> Result<BulkDeleted, StoreError> {
        self.delete_labeled("users", "users.user", ids).await
    }

    /// Deletes rows of `table` whose dependants the database removes itself, with their label
    /// bindings (of resource type `resource`), in one transaction.
    async fn delete_labeled(
        &self,
        table: &str,
        resource: &str,
        ids: &[Uuid],
    ) -> Result<BulkDeleted, StoreError> {
        let mut tx = self.begin_write().await?;
        let texts: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        crate::labels::delete_resource_labels_in(&mut tx, resource, &texts).await?;
        let delete = format!("DELETE FROM {table} WHERE id = $1");
        let mut n = 0;
        for id in &texts {
            n += sqlx::query(crate::codec::trusted(delete.clone()))
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(BulkDeleted::All(n))
    }

    /// Deletes the platforms `ids` (their protocols, automation settings and label bindings go
    /// with them) in one transaction; the first one that assets use, checked in order inside
    /// the transaction, leaves all of them in place.
    pub async fn delete_platforms(&self, ids: &[i64]) -> Result<BulkDeleted, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut n = 0;
        for id in ids {
            let used: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM assets WHERE platform_id = $1")
                    .bind(*id)
                    .fetch_one(&mut *tx)
                    .await?;
            if used > 0 {
                tx.rollback().await?;
                return Ok(BulkDeleted::Referenced(id.to_string()));
            }
            for table in ["platform_protocols", "platform_automations"] {
                sqlx::query(crate::codec::trusted(format!(
                    "DELETE FROM {table} WHERE platform_id = $1"
                )))
                .bind(*id)
                .execute(&mut *tx)
                .await?;
            }
            crate::labels::delete_resource_labels_in(&mut tx, "assets.platform", &[id.to_string()])
                .await?;
            n += sqlx::query("DELETE FROM platforms WHERE id = $1")
                .bind(*id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(BulkDeleted::All(n))
    }
}
