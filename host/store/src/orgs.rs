//! Organisations (tenants).

use crate::codec::{Flag, from_micros, uuid};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

/// An org row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Built-in (GLOBAL, Default, SYSTEM).
    pub builtin: bool,
    /// Comment.
    pub comment: String,
    /// Creation time.
    pub date_created: DateTime<Utc>,
    /// Creator.
    pub created_by: String,
}

impl Store {
    /// Whether an org with this id exists.
    pub async fn org_exists(&self, id: Uuid) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orgs WHERE id = $1")
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// One org.
    pub async fn org(&self, id: Uuid) -> Result<Option<Org>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, builtin, comment, date_created, created_by FROM orgs WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Org {
                id: uuid(&r.try_get::<String, _>("id")?, "orgs.id")?,
                name: r.try_get("name")?,
                builtin: r.try_get::<Flag, _>("builtin")?.0,
                comment: r.try_get("comment")?,
                date_created: from_micros(r.try_get("date_created")?),
                created_by: r.try_get("created_by")?,
            })
        })
        .transpose()
    }
}
