//! Seeding the built-ins (orgs, roles, platforms, the Default org's root node) on every start.
//!
//! Idempotent: rows that exist are left alone, so an administrator's edits to a built-in
//! platform's ports or automation settings survive restarts, and a new build's new built-ins
//! appear on the next start. Built-in roles are the exception: they cannot be edited, and their
//! permission sets follow the build, so a fix to a built-in role reaches existing installations.
//! Runs in one transaction.

use crate::codec::{now_micros, trusted};
use crate::{Store, StoreError};
use portcullis_core::builtin::{self, AUTOMATION_KINDS};
use uuid::Uuid;

impl Store {
    /// Inserts every built-in row that does not exist yet.
    pub async fn seed_builtins(&self) -> Result<(), StoreError> {
        let now = now_micros();
        let mut tx = self.begin_write().await?;
        for org in builtin::ORGS {
            sqlx::query(
                "INSERT INTO orgs (id, name, builtin, created_by, date_created, date_updated)
                 VALUES ($1, $2, $3, 'System', $4, $4) ON CONFLICT (id) DO NOTHING",
            )
            .bind(org.id.to_string())
            .bind(org.name)
            .bind(true)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for role in builtin::ROLES {
            let permissions =
                serde_json::to_string(&role.permissions()).unwrap_or_else(|_| "[]".into());
            sqlx::query(
                "INSERT INTO roles (id, name, display_name, scope, builtin, permissions, created_by, date_created, date_updated)
                 VALUES ($1, $2, $3, $4, $5, $6, 'System', $7, $7)
                 ON CONFLICT (id) DO UPDATE SET permissions = excluded.permissions,
                     display_name = excluded.display_name",
            )
            .bind(role.id.to_string())
            .bind(role.name)
            .bind(role.display_name)
            .bind(role.scope)
            .bind(true)
            .bind(permissions)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for p in builtin::PLATFORMS {
            let inserted = sqlx::query(
                "INSERT INTO platforms (id, name, category, type, internal, charset, gateway_enabled, su_enabled,
                    su_method, ds_enabled, custom_fields, comment, created_by, date_created, date_updated)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'System', $13, $13)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(p.id)
            .bind(p.name)
            .bind(p.category)
            .bind(p.r#type)
            .bind(true)
            .bind(p.charset)
            .bind(p.gateway_enabled)
            .bind(p.su_enabled)
            .bind(p.su_method)
            .bind(p.ds_enabled)
            .bind(p.custom_fields)
            .bind(p.comment)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                continue;
            }
            for proto in p.protocols {
                sqlx::query(
                    "INSERT INTO platform_protocols (id, platform_id, name, port, is_primary, required, is_default, public, setting)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(Uuid::new_v4().to_string())
                .bind(p.id)
                .bind(proto.name)
                .bind(i64::from(proto.port))
                .bind(proto.primary)
                .bind(proto.required)
                .bind(proto.default)
                .bind(proto.public)
                .bind(proto.setting)
                .execute(&mut *tx)
                .await?;
            }
            let a = &p.automation;
            let mut cols = vec![
                "platform_id".to_owned(),
                "ansible_enabled".into(),
                "ansible_config".into(),
            ];
            for kind in AUTOMATION_KINDS {
                cols.extend([
                    format!("{kind}_enabled"),
                    format!("{kind}_method"),
                    format!("{kind}_params"),
                ]);
            }
            let placeholders = (1..=cols.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO platform_automations ({}) VALUES ({placeholders})",
                cols.join(", ")
            );
            let mut q = sqlx::query(trusted(sql.as_str()))
                .bind(p.id)
                .bind(a.ansible_enabled)
                .bind(a.ansible_config);
            for (_, m) in a.kinds() {
                q = q.bind(m.enabled).bind(m.method).bind(m.params);
            }
            q.execute(&mut *tx).await?;
        }
        let root = builtin::DEFAULT_ROOT_NODE;
        sqlx::query(
            "INSERT INTO nodes (id, org_id, key, value, parent_key, created_by, date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, 'System', $6, $6) ON CONFLICT (org_id, key) DO NOTHING",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(root.org_id.to_string())
        .bind(root.key)
        .bind(root.value)
        .bind(root.parent_key)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
