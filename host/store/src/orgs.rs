//! Organisations (tenants).

use crate::codec::{Flag, from_micros, now_micros, uuid};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;
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
        row.as_ref().map(org_from_row).transpose()
    }
}

/// The counts an org's `resource_statistics` shows (reference §4.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgStats {
    /// Users holding a role in the org.
    pub users: i64,
    /// User groups.
    pub groups: i64,
    /// Assets (gateways included, as in JumpServer).
    pub assets: i64,
    /// Nodes, the root included.
    pub nodes: i64,
    /// Zones.
    pub zones: i64,
    /// Gateways (assets with `is_gateway`).
    pub gateways: i64,
    /// Asset permissions.
    pub asset_perms: i64,
}

/// What keeps an org from being deleted: its members, resources, and the audit records that
/// reference it (kept, so the org stays). Each row is a display name and a counting query
/// with `$1` the org id; all text is constant.
const ORG_CONTENTS: &[(&str, &str)] = &[
    (
        "User",
        "SELECT COUNT(*) FROM role_bindings WHERE org_id = $1",
    ),
    (
        "User group",
        "SELECT COUNT(*) FROM user_groups WHERE org_id = $1",
    ),
    ("Asset", "SELECT COUNT(*) FROM assets WHERE org_id = $1"),
    (
        "Node",
        "SELECT COUNT(*) FROM nodes WHERE org_id = $1 AND parent_key <> ''",
    ),
    ("Zone", "SELECT COUNT(*) FROM zones WHERE org_id = $1"),
    ("Label", "SELECT COUNT(*) FROM labels WHERE org_id = $1"),
    (
        "Labeled resource",
        "SELECT COUNT(*) FROM labeled_resources WHERE org_id = $1",
    ),
    (
        "Account template",
        "SELECT COUNT(*) FROM account_templates WHERE org_id = $1",
    ),
    ("Account", "SELECT COUNT(*) FROM accounts WHERE org_id = $1"),
    (
        "Asset permission",
        "SELECT COUNT(*) FROM asset_permissions WHERE org_id = $1",
    ),
    (
        "Command group",
        "SELECT COUNT(*) FROM command_groups WHERE org_id = $1",
    ),
    (
        "Command filter",
        "SELECT COUNT(*) FROM command_filter_acls WHERE org_id = $1",
    ),
    (
        "Connect ACL",
        "SELECT COUNT(*) FROM connect_acls WHERE org_id = $1",
    ),
    ("Session", "SELECT COUNT(*) FROM sessions WHERE org_id = $1"),
    ("Command", "SELECT COUNT(*) FROM commands WHERE org_id = $1"),
    ("FTP log", "SELECT COUNT(*) FROM ftp_logs WHERE org_id = $1"),
    (
        "Operation log",
        "SELECT COUNT(*) FROM operate_logs WHERE org_id = $1",
    ),
];

/// Stores one counted column into an [`OrgStats`].
type StatSetter = fn(&mut OrgStats, i64);

fn org_from_row(r: &sqlx::any::AnyRow) -> Result<Org, StoreError> {
    Ok(Org {
        id: uuid(&r.try_get::<String, _>("id")?, "orgs.id")?,
        name: r.try_get("name")?,
        builtin: r.try_get::<Flag, _>("builtin")?.0,
        comment: r.try_get("comment")?,
        date_created: from_micros(r.try_get("date_created")?),
        created_by: r.try_get("created_by")?,
    })
}

/// Org names are shown in menus and become the root node's value: keep them short and
/// non-blank.
fn validate_org_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name.chars().count() > 128 {
        Err(StoreError::Invalid(
            "An organization name must be 1-128 characters".into(),
        ))
    } else {
        Ok(())
    }
}

/// The value of an org's root node: its name, without the `/` that separates node paths.
fn root_value(name: &str) -> String {
    name.replace('/', "-")
}

impl Store {
    /// Every org (or only `only`), ordered by name; GLOBAL, the root view, is not an org one
    /// manages and is left out.
    pub async fn list_orgs(&self, only: Option<&[Uuid]>) -> Result<Vec<Org>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, builtin, comment, date_created, created_by FROM orgs
             WHERE id <> $1 ORDER BY name, id",
        )
        .bind(portcullis_core::builtin::ROOT_ORG_ID.to_string())
        .fetch_all(&self.pool)
        .await?;
        let orgs = rows
            .iter()
            .map(org_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match only {
            Some(ids) => orgs.into_iter().filter(|o| ids.contains(&o.id)).collect(),
            None => orgs,
        })
    }

    /// `resource_statistics` of every org, by org id (orgs with nothing are absent).
    pub async fn org_statistics(&self) -> Result<HashMap<Uuid, OrgStats>, StoreError> {
        let queries: [(&str, StatSetter); 7] = [
            (
                "SELECT org_id, COUNT(DISTINCT user_id) FROM role_bindings WHERE org_id IS NOT NULL GROUP BY org_id",
                |s, n| s.users = n,
            ),
            (
                "SELECT org_id, COUNT(*) FROM user_groups GROUP BY org_id",
                |s, n| s.groups = n,
            ),
            (
                "SELECT org_id, COUNT(*) FROM assets GROUP BY org_id",
                |s, n| s.assets = n,
            ),
            (
                "SELECT org_id, COUNT(*) FROM nodes GROUP BY org_id",
                |s, n| s.nodes = n,
            ),
            (
                "SELECT org_id, COUNT(*) FROM zones GROUP BY org_id",
                |s, n| s.zones = n,
            ),
            (
                "SELECT org_id, COUNT(*) FROM assets WHERE is_gateway = TRUE GROUP BY org_id",
                |s, n| s.gateways = n,
            ),
            (
                "SELECT org_id, COUNT(*) FROM asset_permissions GROUP BY org_id",
                |s, n| s.asset_perms = n,
            ),
        ];
        let mut out: HashMap<Uuid, OrgStats> = HashMap::new();
        for (sql, set) in queries {
            for r in sqlx::query(sql).fetch_all(&self.pool).await? {
                let org = uuid(&r.try_get::<String, _>(0)?, "org_id")?;
                set(out.entry(org).or_default(), r.try_get(1)?);
            }
        }
        Ok(out)
    }

    /// Creates an org and its root node in one transaction. The root's key is one more than
    /// the largest root key of any org (JumpServer numbers org roots 1, 2, …), so keys stay
    /// unique across orgs and node keys never collide when assets move between orgs.
    pub async fn create_org(&self, name: &str, comment: &str, by: &str) -> Result<Org, StoreError> {
        validate_org_name(name)?;
        let id = Uuid::new_v4();
        let now = now_micros();
        let mut tx = self.begin_write().await?;
        // A no-op write to the GLOBAL row first: it serializes concurrent org creations (a row
        // lock on PostgreSQL, the write lock on SQLite), so two cannot pick the same root key.
        sqlx::query("UPDATE orgs SET date_updated = date_updated WHERE id = $1")
            .bind(portcullis_core::builtin::ROOT_ORG_ID.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO orgs (id, name, builtin, comment, created_by, updated_by, date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, $5, $6, $6)",
        )
        .bind(id.to_string())
        .bind(name)
        .bind(false)
        .bind(comment)
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("an organization named `{name}`")))?;
        let roots: Vec<String> = sqlx::query("SELECT key FROM nodes WHERE parent_key = ''")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let next = roots
            .iter()
            .filter_map(|k| k.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        sqlx::query(
            "INSERT INTO nodes (id, org_id, key, value, parent_key, created_by, date_created, date_updated)
             VALUES ($1, $2, $3, $4, '', $5, $6, $6)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(id.to_string())
        .bind(next.to_string())
        .bind(root_value(name))
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.org(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("org `{id}`")))
    }

    /// Renames an org and/or changes its comment; a rename also renames its root node, whose
    /// value is the org's name. Built-in orgs keep their names. False when the org is absent.
    pub async fn update_org(
        &self,
        id: Uuid,
        name: Option<&str>,
        comment: Option<&str>,
        by: &str,
    ) -> Result<bool, StoreError> {
        let Some(current) = self.org(id).await? else {
            return Ok(false);
        };
        let name = name.unwrap_or(&current.name);
        if name != current.name {
            if current.builtin {
                return Err(StoreError::Invalid(
                    "A built-in organization cannot be renamed".into(),
                ));
            }
            validate_org_name(name)?;
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE orgs SET name = $1, comment = $2, updated_by = $3, date_updated = $4 WHERE id = $5",
        )
        .bind(name)
        .bind(comment.unwrap_or(&current.comment))
        .bind(by)
        .bind(now_micros())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("an organization named `{name}`")))?;
        if name != current.name {
            sqlx::query("UPDATE nodes SET value = $1, date_updated = $2 WHERE org_id = $3 AND parent_key = ''")
                .bind(root_value(name))
                .bind(now_micros())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::conflict_or(e, "a root node with that name"))?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes an empty, non-built-in org with its root node. Refused with
    /// [`StoreError::Invalid`] naming what it still holds: members, resources, or audit records
    /// (which are kept, so such an org stays). The check and the delete share a transaction;
    /// a row added concurrently fails the delete on its foreign key and is reported the same way.
    pub async fn delete_org(&self, id: Uuid) -> Result<bool, StoreError> {
        let Some(org) = self.org(id).await? else {
            return Ok(false);
        };
        if org.builtin {
            return Err(StoreError::Invalid(
                "A built-in organization cannot be deleted".into(),
            ));
        }
        let mut tx = self.begin_write().await?;
        let mut held: Vec<&str> = Vec::new();
        for (what, sql) in ORG_CONTENTS {
            let n: i64 = sqlx::query_scalar(*sql)
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?;
            if n > 0 {
                held.push(what);
            }
        }
        if !held.is_empty() {
            return Err(StoreError::Invalid(format!(
                "Have `{}` exists, Please delete",
                held.join("`, `")
            )));
        }
        let in_use = |e: sqlx::Error| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::Invalid("The organization is in use and cannot be deleted".into())
            }
            _ => StoreError::Sql(e),
        };
        sqlx::query("DELETE FROM nodes WHERE org_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(in_use)?;
        let done = sqlx::query("DELETE FROM orgs WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(in_use)?;
        tx.commit().await.map_err(in_use)?;
        Ok(done.rows_affected() > 0)
    }
}
