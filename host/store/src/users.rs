//! Users and their role bindings: what the CLI's `admin` commands and first start need.

use crate::codec::{Flag, now_micros, uuid};
use crate::{Store, StoreError};
use portcullis_core::password::hash_password;
use sqlx::Row;
use uuid::Uuid;

/// A user as the administrative commands see it (no secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    /// Primary key.
    pub id: Uuid,
    /// Login name, unique.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Email, unique.
    pub email: String,
    /// Whether the user may log in at all.
    pub is_active: bool,
    /// Where the identity comes from (`local`, `ldap`, …).
    pub source: String,
}

/// What `admin create-user` supplies.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Plaintext password, hashed here with Argon2id.
    pub password: portcullis_core::secret::SecretString,
    /// Built-in or custom system role id (SystemUser when in doubt).
    pub system_role: Uuid,
    /// Org role to bind in `org` (OrgUser when in doubt); `None` binds no org role.
    pub org_role: Option<(Uuid, Uuid)>,
    /// Who did it, for `created_by`.
    pub created_by: String,
    /// Must change the password at next login.
    pub need_update_password: bool,
}

impl Store {
    /// Creates a local user with its role bindings in one transaction.
    pub async fn create_user(&self, new: &NewUser) -> Result<Uuid, StoreError> {
        validate_username(&new.username)?;
        if !new.email.contains('@') {
            return Err(StoreError::Invalid(format!(
                "`{}` is not an email address",
                new.email
            )));
        }
        let hash =
            hash_password(new.password.expose()).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let id = Uuid::new_v4();
        let now = now_micros();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, name, username, email, password_hash, source, is_active,
                need_update_password, date_joined, date_password_last_updated, created_by,
                date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, 'local', $6, $7, $8, $8, $9, $8, $8)",
        )
        .bind(id.to_string())
        .bind(&new.name)
        .bind(&new.username)
        .bind(&new.email)
        .bind(&hash)
        .bind(true)
        .bind(new.need_update_password)
        .bind(now)
        .bind(&new.created_by)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            StoreError::conflict_or(
                e,
                format!(
                    "a user with username `{}` or email `{}`",
                    new.username, new.email
                ),
            )
        })?;
        bind_role(&mut tx, id, new.system_role, None).await?;
        if let Some((role, org)) = new.org_role {
            bind_role(&mut tx, id, role, Some(org)).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Looks a user up by login name.
    pub async fn user_by_username(
        &self,
        username: &str,
    ) -> Result<Option<UserSummary>, StoreError> {
        let row = sqlx::query(
            "SELECT id, username, name, email, is_active, source FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(UserSummary {
                id: uuid(r.try_get::<String, _>("id")?.as_str(), "users.id")?,
                username: r.try_get("username")?,
                name: r.try_get("name")?,
                email: r.try_get("email")?,
                is_active: r.try_get::<Flag, _>("is_active")?.0,
                source: r.try_get("source")?,
            })
        })
        .transpose()
    }

    /// Sets a new password (and optionally forces a change at next login), clears the lockout
    /// state, and records the change in the password-change log.
    pub async fn reset_password(
        &self,
        username: &str,
        password: &portcullis_core::secret::SecretString,
        need_update: bool,
        changed_by: &str,
        remote_addr: &str,
    ) -> Result<(), StoreError> {
        let hash =
            hash_password(password.expose()).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let now = now_micros();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, need_update_password = $2,
                date_password_last_updated = $3, failed_login_count = 0, locked_until = NULL,
                date_updated = $3
             WHERE username = $4",
        )
        .bind(&hash)
        .bind(need_update)
        .bind(now)
        .bind(username)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user `{username}`")));
        }
        sqlx::query(
            "INSERT INTO password_change_logs (id, user_display, change_by, remote_addr, datetime)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(username)
        .bind(changed_by)
        .bind(remote_addr)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many users exist (first start creates the administrator when none does).
    pub async fn count_users(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }
}

async fn bind_role(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: Uuid,
    role: Uuid,
    org: Option<Uuid>,
) -> Result<(), StoreError> {
    let scope = if org.is_some() { "org" } else { "system" };
    sqlx::query(
        "INSERT INTO role_bindings (id, user_id, role_id, scope, org_id, date_created, date_updated)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(user.to_string())
    .bind(role.to_string())
    .bind(scope)
    .bind(org.map(|o| o.to_string()))
    .bind(now_micros())
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::conflict_or(e, "that role binding"))?;
    Ok(())
}

/// Usernames are what people type at an SSH prompt as `user@account@asset`: keep them free of
/// the separators that syntax uses.
fn validate_username(username: &str) -> Result<(), StoreError> {
    let ok = !username.is_empty()
        && username.len() <= 128
        && username
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "username `{username}` must be 1-128 letters, digits, `.`, `_` or `-`"
        )))
    }
}
