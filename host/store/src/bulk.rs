//! Deleting many rows of one resource in one transaction, for the API's filtered bulk
//! `DELETE` (reference §1.2): JumpServer deletes a bulk selection inside one database
//! transaction, so a row that cannot go (a platform that assets still use) leaves every row of
//! the selection in place. Deleting item by item through the single-row functions cannot give
//! that: the rows before the blocking one would already be gone.
//!
//! Each kind removes what its single-row delete removes (label bindings, dependent rows), and
//! checks inside the transaction what the database would otherwise refuse, so that the answer
//! can name the row that blocked the selection.
//!
//! Bulk updates (`PUT`/`PATCH` of an array on the asset, account and user lists) share one
//! [`WriteBatch`]: the API checks every item first, then applies each item's change through
//! the batch and commits once, so a write that fails (a unique name taken by another item of
//! the same request) rolls back every item, secrets and their history included, and a
//! concurrent reader sees either none of the batch or all of it.

use crate::accounts::AccountUpdate;
use crate::assets::{AssetPatch, AssetRecord};
use crate::labels::LabelRef;
use crate::users::{UserUpdate, UserUpdateError};
use crate::{Store, StoreError};
use portcullis_core::vault::Vault;
use uuid::Uuid;

/// One write transaction that several items of a request share (`begin_write` semantics:
/// SQLite takes the write lock at once). Dropped without [`WriteBatch::commit`], it rolls
/// back: nothing of the batch is written.
pub struct WriteBatch {
    tx: sqlx::Transaction<'static, sqlx::Any>,
}

/// One operation-log entry written with a batch.
#[derive(Debug, Clone)]
pub struct OperateLogEntry<'a> {
    /// The org the entry belongs to.
    pub org: Uuid,
    /// Who, as the log shows it.
    pub user_display: &'a str,
    /// `create`, `update`, …
    pub action: &'a str,
    /// `Asset`, `Account`, …
    pub resource_type: &'a str,
    /// The object's display name.
    pub resource: &'a str,
    /// The object's id.
    pub resource_id: &'a str,
    /// The client address.
    pub remote_addr: &'a str,
    /// The change (`{field: [before, after]}`), secrets already left out.
    pub diff: &'a serde_json::Value,
}

impl WriteBatch {
    /// Applies an asset patch (see [`Store::update_asset`]) inside the batch.
    pub async fn update_asset(
        &mut self,
        asset: &AssetRecord,
        p: &AssetPatch,
        by: &str,
    ) -> Result<(), StoreError> {
        crate::assets::update_asset_in(&mut self.tx, asset, p, by).await
    }

    /// Writes an account's fields (see [`Store::update_account`]: a new secret is sealed and
    /// the old one moved to the history) inside the batch. False when the account is gone.
    pub async fn update_account(
        &mut self,
        vault: &Vault,
        id: Uuid,
        u: &AccountUpdate,
        by: &str,
    ) -> Result<bool, StoreError> {
        crate::accounts::update_account_in(&mut self.tx, vault, id, u, by).await
    }

    /// Writes every step of a user update (see [`Store::apply_user_updates`]) inside the
    /// batch; `hash` is [`UserUpdate::password_hash`], computed before the batch began. The
    /// error names the step that failed (its `index` is `None`).
    pub async fn update_user(
        &mut self,
        u: &UserUpdate,
        hash: Option<&str>,
        by: &str,
    ) -> Result<(), UserUpdateError> {
        crate::users::update_user_in_tx(&mut self.tx, u, hash, by).await
    }

    /// Replaces the labels `org` puts on the resource `res_id` of type `res_type` inside the
    /// batch; `None` leaves them as they are (an update body without `labels`).
    pub async fn set_resource_labels(
        &mut self,
        org: Uuid,
        res_type: &str,
        res_id: Uuid,
        labels: Option<&[LabelRef]>,
        by: &str,
    ) -> Result<(), StoreError> {
        let Some(labels) = labels else {
            return Ok(());
        };
        crate::labels::set_resource_labels_in(
            &mut self.tx,
            org,
            res_type,
            &res_id.to_string(),
            labels,
            by,
        )
        .await
        .map(drop)
    }

    /// Writes one operation-log entry inside the batch, so it exists only if the batch commits.
    pub async fn operate_log(&mut self, e: &OperateLogEntry<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO operate_logs (id, org_id, user_display, action, resource_type, resource,
                resource_id, remote_addr, datetime, diff)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(e.org.to_string())
        .bind(e.user_display)
        .bind(e.action)
        .bind(e.resource_type)
        .bind(e.resource)
        .bind(e.resource_id)
        .bind(e.remote_addr)
        .bind(crate::codec::now_micros())
        .bind(e.diff.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Makes every write of the batch visible at once.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Drops every write of the batch.
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }
}

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
    /// A write transaction for a bulk update (see [`WriteBatch`]).
    pub async fn begin_batch(&self) -> Result<WriteBatch, StoreError> {
        Ok(WriteBatch {
            tx: self.begin_write().await?,
        })
    }

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
