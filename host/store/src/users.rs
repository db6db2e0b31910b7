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

/// Every stored field of a user, as the API shows it (no secrets: the password hash and MFA
/// seed are reduced to flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Login name.
    pub username: String,
    /// Email.
    pub email: String,
    /// WeChat id.
    pub wechat: String,
    /// Phone as stored (`{"code", "phone"}`).
    pub phone: serde_json::Value,
    /// 0 disabled, 1 enabled, 2 forced.
    pub mfa_level: i64,
    /// Whether an OTP secret is bound.
    pub otp_bound: bool,
    /// Identity source.
    pub source: String,
    /// May log in.
    pub is_active: bool,
    /// A component's service account.
    pub is_service_account: bool,
    /// Never logged in yet.
    pub is_first_login: bool,
    /// Must change the password.
    pub need_update_password: bool,
    /// Expiry.
    pub date_expired: Option<chrono::DateTime<chrono::Utc>>,
    /// Joined.
    pub date_joined: chrono::DateTime<chrono::Utc>,
    /// Last login.
    pub last_login: Option<chrono::DateTime<chrono::Utc>>,
    /// Password last changed.
    pub date_password_last_updated: Option<chrono::DateTime<chrono::Utc>>,
    /// Last API-key use.
    pub date_api_key_last_used: Option<chrono::DateTime<chrono::Utc>>,
    /// Locked after failed logins until.
    pub locked_until: Option<chrono::DateTime<chrono::Utc>>,
    /// Avatar URL.
    pub avatar_url: String,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
    /// Last update.
    pub date_updated: chrono::DateTime<chrono::Utc>,
    /// Groups `(id, name)`.
    pub groups: Vec<(Uuid, String)>,
    /// Role bindings `(role id, role name, display name, scope, org)`.
    pub roles: Vec<RoleRef>,
    /// Number of stored SSH public keys.
    pub public_keys: i64,
}

/// A role bound to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRef {
    /// Role id.
    pub id: Uuid,
    /// Role name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// `system` or `org`.
    pub scope: String,
    /// The org of an org binding.
    pub org_id: Option<Uuid>,
}

/// Filters of the user list.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Only members of this org (holding an org role in it); `None` = every user.
    pub org: Option<Uuid>,
    /// Case-insensitive substring of username, name or email (space-separated terms ANDed).
    pub search: Option<String>,
    /// Exact username.
    pub username: Option<String>,
    /// Exact email.
    pub email: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// Active flag.
    pub is_active: Option<bool>,
    /// Members of this group.
    pub group_id: Option<Uuid>,
    /// Only these ids.
    pub ids: Option<Vec<Uuid>>,
    /// Order column (`name`, `username`, `email`, `date_joined`, `last_login`), `-` for desc.
    pub order: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

const USER_ORDER: &[&str] = &[
    "name",
    "username",
    "email",
    "date_joined",
    "last_login",
    "date_updated",
    "source",
    "is_active",
];

impl Store {
    /// A page of users matching `q`, with the total count.
    pub async fn list_users(&self, q: &UserQuery) -> Result<(i64, Vec<UserRecord>), StoreError> {
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<String> = Vec::new();
        let arg = |v: String, args: &mut Vec<String>| {
            args.push(v);
            format!("${}", args.len())
        };
        if let Some(org) = q.org {
            let p = arg(org.to_string(), &mut args);
            clauses.push(format!(
                "u.id IN (SELECT user_id FROM role_bindings WHERE org_id = {p})"
            ));
        }
        if let Some(search) = &q.search {
            for term in search.split_whitespace() {
                let p = arg(
                    format!("%{}%", crate::codec::like_escape(&term.to_lowercase())),
                    &mut args,
                );
                clauses.push(format!(
                    "(LOWER(u.username) LIKE {p} ESCAPE '\\' OR LOWER(u.name) LIKE {p} ESCAPE '\\' OR LOWER(u.email) LIKE {p} ESCAPE '\\')"
                ));
            }
        }
        for (col, val) in [
            ("username", &q.username),
            ("email", &q.email),
            ("name", &q.name),
            ("source", &q.source),
        ] {
            if let Some(v) = val {
                let p = arg(v.clone(), &mut args);
                clauses.push(format!("u.{col} = {p}"));
            }
        }
        if let Some(active) = q.is_active {
            clauses.push(format!(
                "u.is_active = {}",
                if active { "TRUE" } else { "FALSE" }
            ));
        }
        if let Some(g) = q.group_id {
            let p = arg(g.to_string(), &mut args);
            clauses.push(format!(
                "u.id IN (SELECT user_id FROM user_group_members WHERE user_group_id = {p})"
            ));
        }
        if let Some(ids) = &q.ids {
            if ids.is_empty() {
                clauses.push("1 = 0".into());
            } else {
                let list = ids
                    .iter()
                    .map(|i| arg(i.to_string(), &mut args))
                    .collect::<Vec<_>>()
                    .join(", ");
                clauses.push(format!("u.id IN ({list})"));
            }
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let order = q.order.as_deref().unwrap_or("username");
        let (col, dir) = match order.strip_prefix('-') {
            Some(c) => (c, "DESC"),
            None => (order, "ASC"),
        };
        if !USER_ORDER.contains(&col) {
            return Err(StoreError::Invalid(format!(
                "cannot order users by `{col}`"
            )));
        }
        let mut count_q = sqlx::query_scalar(crate::codec::trusted(format!(
            "SELECT COUNT(*) FROM users u {filter}"
        )));
        for a in &args {
            count_q = count_q.bind(a.clone());
        }
        let count: i64 = count_q.fetch_one(&self.pool).await?;
        let sql = format!(
            "SELECT u.*, (SELECT COUNT(*) FROM user_ssh_keys k WHERE k.user_id = u.id) AS public_keys
             FROM users u {filter} ORDER BY u.{col} {dir}, u.id LIMIT {} OFFSET {}",
            q.limit.max(0),
            q.offset.max(0)
        );
        let mut rows_q = sqlx::query(crate::codec::trusted(sql));
        for a in &args {
            rows_q = rows_q.bind(a.clone());
        }
        let rows = rows_q.fetch_all(&self.pool).await?;
        let mut users = rows
            .iter()
            .map(user_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.attach_groups_and_roles(&mut users).await?;
        Ok((count, users))
    }

    /// One user by id or, when `key` is not a UUID, by username.
    pub async fn user_record(&self, key: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = if Uuid::parse_str(key).is_ok() {
            "SELECT u.*, (SELECT COUNT(*) FROM user_ssh_keys k WHERE k.user_id = u.id) AS public_keys FROM users u WHERE u.id = $1"
        } else {
            "SELECT u.*, (SELECT COUNT(*) FROM user_ssh_keys k WHERE k.user_id = u.id) AS public_keys FROM users u WHERE u.username = $1"
        };
        let Some(row) = sqlx::query(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let mut users = vec![user_from_row(&row)?];
        self.attach_groups_and_roles(&mut users).await?;
        Ok(users.pop())
    }

    async fn attach_groups_and_roles(&self, users: &mut [UserRecord]) -> Result<(), StoreError> {
        if users.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
        let list = (1..=ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut q = sqlx::query(crate::codec::trusted(format!(
            "SELECT m.user_id, g.id, g.name FROM user_group_members m JOIN user_groups g ON g.id = m.user_group_id WHERE m.user_id IN ({list}) ORDER BY g.name"
        )));
        for i in &ids {
            q = q.bind(i.clone());
        }
        for r in q.fetch_all(&self.pool).await? {
            let uid = uuid(&r.try_get::<String, _>(0)?, "user_group_members.user_id")?;
            let gid = uuid(&r.try_get::<String, _>(1)?, "user_groups.id")?;
            if let Some(u) = users.iter_mut().find(|u| u.id == uid) {
                u.groups.push((gid, r.try_get(2)?));
            }
        }
        let mut q = sqlx::query(crate::codec::trusted(format!(
            "SELECT b.user_id, r.id, r.name, r.display_name, b.scope, b.org_id FROM role_bindings b JOIN roles r ON r.id = b.role_id WHERE b.user_id IN ({list}) ORDER BY r.name"
        )));
        for i in &ids {
            q = q.bind(i.clone());
        }
        for r in q.fetch_all(&self.pool).await? {
            let uid = uuid(&r.try_get::<String, _>(0)?, "role_bindings.user_id")?;
            let org: Option<String> = r.try_get(5)?;
            let role = RoleRef {
                id: uuid(&r.try_get::<String, _>(1)?, "roles.id")?,
                name: r.try_get(2)?,
                display_name: r.try_get(3)?,
                scope: r.try_get(4)?,
                org_id: org.map(|o| uuid(&o, "role_bindings.org_id")).transpose()?,
            };
            if let Some(u) = users.iter_mut().find(|u| u.id == uid) {
                u.roles.push(role);
            }
        }
        Ok(())
    }
}

fn user_from_row(r: &sqlx::any::AnyRow) -> Result<UserRecord, StoreError> {
    use crate::codec::from_micros;
    let opt = |col: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        Ok(r.try_get::<Option<i64>, _>(col)?.map(from_micros))
    };
    let phone: String = r.try_get("phone")?;
    Ok(UserRecord {
        id: uuid(&r.try_get::<String, _>("id")?, "users.id")?,
        name: r.try_get("name")?,
        username: r.try_get("username")?,
        email: r.try_get("email")?,
        wechat: r.try_get("wechat")?,
        phone: serde_json::from_str(&phone).unwrap_or(serde_json::Value::Null),
        mfa_level: r.try_get("mfa_level")?,
        otp_bound: r.try_get::<Option<String>, _>("mfa_secret")?.is_some(),
        source: r.try_get("source")?,
        is_active: r.try_get::<Flag, _>("is_active")?.0,
        is_service_account: r.try_get::<Flag, _>("is_service_account")?.0,
        is_first_login: r.try_get::<Flag, _>("is_first_login")?.0,
        need_update_password: r.try_get::<Flag, _>("need_update_password")?.0,
        date_expired: opt("date_expired")?,
        date_joined: from_micros(r.try_get("date_joined")?),
        last_login: opt("last_login")?,
        date_password_last_updated: opt("date_password_last_updated")?,
        date_api_key_last_used: opt("date_api_key_last_used")?,
        locked_until: opt("locked_until")?,
        avatar_url: r.try_get("avatar_url")?,
        comment: r.try_get("comment")?,
        created_by: r.try_get("created_by")?,
        date_updated: from_micros(r.try_get("date_updated")?),
        groups: Vec::new(),
        roles: Vec::new(),
        public_keys: r.try_get("public_keys")?,
    })
}

/// Changes to a user's plain fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// Display name.
    pub name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// WeChat id.
    pub wechat: Option<String>,
    /// Phone document.
    pub phone: Option<serde_json::Value>,
    /// May log in.
    pub is_active: Option<bool>,
    /// Expiry (`Some(None)` clears it).
    pub date_expired: Option<Option<chrono::DateTime<chrono::Utc>>>,
    /// 0, 1 or 2.
    pub mfa_level: Option<i64>,
    /// Must change the password at next login.
    pub need_update_password: Option<bool>,
    /// Comment.
    pub comment: Option<String>,
}

impl Store {
    /// Applies a patch; returns false when the user does not exist.
    pub async fn update_user(&self, id: Uuid, p: &UserPatch, by: &str) -> Result<bool, StoreError> {
        let mut sets: Vec<String> = vec!["date_updated = $1".into(), "updated_by = $2".into()];
        // Build the statement text first, then bind in the same order.
        let mut text_args: Vec<Option<String>> = Vec::new();
        let push_text = |col: &str,
                         v: Option<String>,
                         sets: &mut Vec<String>,
                         text_args: &mut Vec<Option<String>>| {
            text_args.push(v);
            sets.push(format!("{col} = $T{}", text_args.len()));
        };
        if let Some(v) = &p.name {
            push_text("name", Some(v.clone()), &mut sets, &mut text_args);
        }
        if let Some(v) = &p.email {
            push_text("email", Some(v.clone()), &mut sets, &mut text_args);
        }
        if let Some(v) = &p.wechat {
            push_text("wechat", Some(v.clone()), &mut sets, &mut text_args);
        }
        if let Some(v) = &p.phone {
            push_text("phone", Some(v.to_string()), &mut sets, &mut text_args);
        }
        if let Some(v) = &p.comment {
            push_text("comment", Some(v.clone()), &mut sets, &mut text_args);
        }
        if let Some(v) = p.is_active {
            sets.push(format!("is_active = {}", if v { "TRUE" } else { "FALSE" }));
        }
        if let Some(v) = p.need_update_password {
            sets.push(format!(
                "need_update_password = {}",
                if v { "TRUE" } else { "FALSE" }
            ));
        }
        if let Some(v) = p.mfa_level {
            sets.push(format!("mfa_level = {v}"));
        }
        if let Some(v) = p.date_expired {
            match v {
                Some(t) => sets.push(format!("date_expired = {}", crate::codec::micros(t))),
                None => sets.push("date_expired = NULL".into()),
            }
        }
        // Renumber the text placeholders after $1, $2; the user id goes last.
        let mut sql_sets = Vec::with_capacity(sets.len());
        for s in &sets {
            let mut out = s.clone();
            for i in (1..=text_args.len()).rev() {
                out = out.replace(&format!("$T{i}"), &format!("${}", i + 2));
            }
            sql_sets.push(out);
        }
        let id_param = text_args.len() + 3;
        let sql = format!(
            "UPDATE users SET {} WHERE id = ${id_param}",
            sql_sets.join(", ")
        );
        let mut q = sqlx::query(crate::codec::trusted(sql))
            .bind(crate::codec::now_micros())
            .bind(by.to_owned());
        for a in text_args {
            q = q.bind(a);
        }
        let done = q
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::conflict_or(e, "a user with that email"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a user (their bindings, keys and tokens go with them); false when absent.
    pub async fn delete_user(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Drops a user's role bindings in one org (removing them from it).
    pub async fn remove_user_from_org(&self, id: Uuid, org: Uuid) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM role_bindings WHERE user_id = $1 AND org_id = $2")
            .bind(id.to_string())
            .bind(org.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Clears the failed-login lockout of a user.
    pub async fn unblock_user(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET failed_login_count = 0, locked_until = NULL, date_updated = $1 WHERE id = $2",
        )
        .bind(crate::codec::now_micros())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records an API write in the operation log (`/audits/operate-logs/`).
    #[allow(clippy::too_many_arguments)]
    pub async fn operate_log(
        &self,
        org: Uuid,
        user_display: &str,
        action: &str,
        resource_type: &str,
        resource: &str,
        resource_id: &str,
        remote_addr: &str,
        diff: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO operate_logs (id, org_id, user_display, action, resource_type, resource, resource_id, remote_addr, datetime, diff)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(org.to_string())
        .bind(user_display)
        .bind(action)
        .bind(resource_type)
        .bind(resource)
        .bind(resource_id)
        .bind(remote_addr)
        .bind(crate::codec::now_micros())
        .bind(diff.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
