//! Favourite assets: a user's bookmarks among the assets they are granted
//! (`/assets/favorite-assets/`, `/perms/users/self/nodes/favorite/assets/`).
//!
//! A bookmark is made only for a granted asset, and is shown only while the asset is still
//! granted: the materialized grant (`user_perm_assets`) is the gate both ways.

use crate::codec::{from_micros, micros, uuid};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

/// One bookmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FavoriteAsset {
    /// Bookmark id.
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// The asset.
    pub asset_id: Uuid,
    /// When it was made.
    pub date_created: DateTime<Utc>,
}

/// Why a bookmark was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FavoriteRefusal {
    /// The asset does not exist or is not granted to the user (indistinguishable on
    /// purpose: a user may not learn of assets they were not granted).
    NotGranted,
    /// The user already has this bookmark.
    Exists,
}

impl Store {
    /// The user's bookmarks of assets still granted to them, newest first, optionally only
    /// the one of `asset`.
    pub async fn favorite_assets(
        &self,
        user_id: Uuid,
        asset: Option<Uuid>,
    ) -> Result<Vec<FavoriteAsset>, StoreError> {
        self.ensure_user_perms(user_id).await?;
        let rows = sqlx::query(
            "SELECT f.id, f.user_id, f.asset_id, f.date_created FROM favorite_assets f
             JOIN user_perm_assets g ON g.user_id = f.user_id AND g.asset_id = f.asset_id
             WHERE f.user_id = $1 AND ($2 = '' OR f.asset_id = $2)
             ORDER BY f.date_created DESC, f.id",
        )
        .bind(user_id.to_string())
        .bind(asset.map(|a| a.to_string()).unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FavoriteAsset {
                    id: uuid(&r.try_get::<String, _>("id")?, "favorite_assets.id")?,
                    user_id: uuid(
                        &r.try_get::<String, _>("user_id")?,
                        "favorite_assets.user_id",
                    )?,
                    asset_id: uuid(
                        &r.try_get::<String, _>("asset_id")?,
                        "favorite_assets.asset_id",
                    )?,
                    date_created: from_micros(r.try_get("date_created")?),
                })
            })
            .collect()
    }

    /// Bookmarks `asset` for the user, if it is granted to them and not bookmarked yet.
    pub async fn add_favorite_asset(
        &self,
        user_id: Uuid,
        asset_id: Uuid,
    ) -> Result<Result<FavoriteAsset, FavoriteRefusal>, StoreError> {
        self.ensure_user_perms(user_id).await?;
        let granted: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM user_perm_assets WHERE user_id = $1 AND asset_id = $2",
        )
        .bind(user_id.to_string())
        .bind(asset_id.to_string())
        .fetch_one(&self.pool)
        .await?;
        if granted == 0 {
            return Ok(Err(FavoriteRefusal::NotGranted));
        }
        let fav = FavoriteAsset {
            id: Uuid::new_v4(),
            user_id,
            asset_id,
            date_created: Utc::now(),
        };
        let done = sqlx::query(
            "INSERT INTO favorite_assets (id, user_id, asset_id, date_created) VALUES ($1, $2, $3, $4)",
        )
        .bind(fav.id.to_string())
        .bind(user_id.to_string())
        .bind(asset_id.to_string())
        .bind(micros(fav.date_created))
        .execute(&self.pool)
        .await;
        match done.map_err(|e| StoreError::conflict_or(e, "favorite asset")) {
            Ok(_) => Ok(Ok(fav)),
            Err(StoreError::Conflict(_)) => Ok(Err(FavoriteRefusal::Exists)),
            Err(e) => Err(e),
        }
    }

    /// Removes the user's bookmark of `asset`; whether there was one.
    pub async fn remove_favorite_asset(
        &self,
        user_id: Uuid,
        asset_id: Uuid,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM favorite_assets WHERE user_id = $1 AND asset_id = $2")
            .bind(user_id.to_string())
            .bind(asset_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
