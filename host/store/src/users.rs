//! Users and their role bindings: what the CLI's `admin` commands and first start need.

use crate::codec::{Flag, now_micros, uuid};
use crate::{Store, StoreError};
use portcullis_core::builtin::SYSTEM_ADMIN_ROLE_ID;
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
        let mut tx = self.begin_write().await?;
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
        let mut tx = self.begin_write().await?;
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

    /// Replaces the user's role bindings of one scope with `roles`: the system bindings when
    /// `org` is `None`, else the bindings in `org` (an empty list takes the user out of it).
    /// This is how the user serializer's `system_roles`/`org_roles` write (JumpServer sets
    /// the relation, it does not add to it). One transaction, so the user is never seen with
    /// half of the change; refused with [`StoreError::Invalid`], nothing written, when it
    /// would remove the last SystemAdmin binding, since without one nobody can repair RBAC.
    pub async fn set_user_roles(
        &self,
        user: Uuid,
        org: Option<Uuid>,
        roles: &[Uuid],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // Dropping `tx` on an error rolls the change back.
        set_user_roles_in(&mut tx, user, org, roles).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// [`Store::set_user_roles`] inside the caller's transaction.
async fn set_user_roles_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: Uuid,
    org: Option<Uuid>,
    roles: &[Uuid],
) -> Result<(), StoreError> {
    match org {
        None => {
            sqlx::query("DELETE FROM role_bindings WHERE user_id = $1 AND scope = 'system'")
                .bind(user.to_string())
                .execute(&mut **tx)
                .await?;
        }
        Some(o) => {
            sqlx::query(
                "DELETE FROM role_bindings WHERE user_id = $1 AND scope = 'org' AND org_id = $2",
            )
            .bind(user.to_string())
            .bind(o.to_string())
            .execute(&mut **tx)
            .await?;
        }
    }
    for role in roles {
        bind_role(tx, user, *role, org).await?;
    }
    let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM role_bindings WHERE role_id = $1")
        .bind(SYSTEM_ADMIN_ROLE_ID.to_string())
        .fetch_one(&mut **tx)
        .await?;
    if admins == 0 {
        return Err(StoreError::Invalid(
            "The last system administrator binding cannot be removed".into(),
        ));
    }
    Ok(())
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
    /// Interface language.
    pub lang: String,
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
    /// List lookups applied in SQL (see `lookups.rs`, [`crate::lookups::USER_FIELDS`]).
    pub lookups: Vec<crate::lookups::SqlLookup>,
    /// `is_password_expired`: `(expired, cutoff)` keeps the users whose password was last
    /// changed (or, never changed, who were made) at or before `cutoff` (microseconds) when
    /// `expired`, the others when not.
    pub password_expired: Option<(bool, i64)>,
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
        if let Some((expired, cutoff)) = q.password_expired {
            clauses.push(format!(
                "COALESCE(u.date_password_last_updated, u.date_joined) {} {cutoff}",
                if expired { "<=" } else { ">" }
            ));
        }
        clauses.extend(crate::lookups::render(
            &crate::lookups::USER_FIELDS,
            &q.lookups,
            self.backend(),
            &mut |v| arg(v, &mut args),
        ));
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
        lang: r.try_get("lang")?,
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
    /// Interface language (`zh-hans`, `en`, …; free text as in JumpServer).
    pub lang: Option<String>,
    /// Identity source, one of [`USER_SOURCES`]. A user whose source is not `local` has no
    /// password of Portcullis's own: password logins and password changes are refused.
    pub source: Option<String>,
}

/// The identity sources a user may have (JumpServer's `Source` choices), `local` first.
pub const USER_SOURCES: &[&str] = &[
    "local", "ldap", "ldap_ha", "openid", "radius", "cas", "saml2", "oauth2", "wecom", "dingtalk",
    "feishu", "lark", "slack", "custom", "ukey",
];

impl Store {
    /// Applies a patch; returns false when the user does not exist.
    pub async fn update_user(&self, id: Uuid, p: &UserPatch, by: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = update_user_in(&mut tx, id, p, by).await?;
        tx.commit().await?;
        Ok(done)
    }
}

/// [`Store::update_user`] inside the caller's transaction.
async fn update_user_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: Uuid,
    p: &UserPatch,
    by: &str,
) -> Result<bool, StoreError> {
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
    if let Some(v) = &p.lang {
        push_text("lang", Some(v.clone()), &mut sets, &mut text_args);
    }
    if let Some(v) = &p.source {
        if !USER_SOURCES.contains(&v.as_str()) {
            return Err(StoreError::Invalid(format!("`{v}` is not a user source")));
        }
        push_text("source", Some(v.clone()), &mut sets, &mut text_args);
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
        .execute(&mut **tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "a user with that email"))?;
    Ok(done.rows_affected() > 0)
}

impl Store {
    /// Deletes a user (their bindings, keys and tokens go with them, and the labels every org
    /// put on them, in the same transaction); false when absent.
    pub async fn delete_user(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        crate::labels::delete_resource_labels_in(&mut tx, "users.user", &[id.to_string()]).await?;
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
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

/// A password being set, by an administrator or by the user.
#[derive(Debug)]
pub struct PasswordChange<'a> {
    /// The new plaintext, hashed here with Argon2id.
    pub password: &'a portcullis_core::secret::SecretString,
    /// Must change it again at the next login (an administrator's temporary password).
    pub need_update: bool,
    /// How many previous passwords may not be reused (`SECURITY_OLD_PASSWORD_COUNT`); the
    /// current one counts among them. 0 turns the check off.
    pub history: usize,
    /// `Name(username)` of whoever changed it, for the password-change log.
    pub changed_by: &'a str,
    /// The client address, for the password-change log.
    pub remote_addr: &'a str,
}

/// What [`Store::change_user_password`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordChanged {
    /// Stored, logged, and the user's sessions and bearer tokens ended.
    Done,
    /// Refused: it matches the current or one of the last `history` passwords.
    Reused,
    /// No such user.
    NoUser,
}

impl Store {
    /// Sets a user's password, keeping the password history, writing the password-change log
    /// and ending the user's web sessions and bearer tokens, all in one transaction. A reuse
    /// of one of the last `history` passwords (the current one included) is refused before
    /// anything is written. The policy is the caller's to check: it depends on who the user
    /// is (administrators need longer passwords), which the API knows.
    pub async fn change_user_password(
        &self,
        id: Uuid,
        change: &PasswordChange<'_>,
    ) -> Result<PasswordChanged, StoreError> {
        let Some((username, name)) = self.user_names(id).await? else {
            return Ok(PasswordChanged::NoUser);
        };
        if self
            .password_reused(id, change.password, change.history)
            .await?
        {
            return Ok(PasswordChanged::Reused);
        }
        let hash = hash_password(change.password.expose())
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        write_password_in(&mut tx, id, &format!("{name}({username})"), &hash, change).await?;
        tx.commit().await?;
        Ok(PasswordChanged::Done)
    }

    /// `(username, name)` of a user.
    async fn user_names(&self, id: Uuid) -> Result<Option<(String, String)>, StoreError> {
        sqlx::query("SELECT username, name FROM users WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(|row| Ok((row.try_get("username")?, row.try_get("name")?)))
            .transpose()
    }

    /// Whether `password` is the user's current one or one of their last `history` (0: the
    /// check is off). Argon2 verification is slow, so this runs before a write transaction
    /// starts, not inside it.
    pub async fn password_reused(
        &self,
        id: Uuid,
        password: &portcullis_core::secret::SecretString,
        history: usize,
    ) -> Result<bool, StoreError> {
        use portcullis_core::password::verify_password;
        if history == 0 {
            return Ok(false);
        }
        let uid = id.to_string();
        let current: Option<String> = sqlx::query_scalar::<_, Option<String>>(
            "SELECT password_hash FROM users WHERE id = $1",
        )
        .bind(&uid)
        .fetch_optional(&self.pool)
        .await?
        .flatten();
        let limit = i64::try_from(history).unwrap_or(i64::MAX);
        let old: Vec<String> = sqlx::query_scalar(
            "SELECT password_hash FROM user_password_history WHERE user_id = $1
             ORDER BY date_created DESC, id LIMIT $2",
        )
        .bind(&uid)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        // A hash this build cannot read cannot match; it must not block the change.
        Ok(current
            .iter()
            .chain(old.iter())
            .any(|hash| verify_password(password.expose(), hash).unwrap_or(false)))
    }

    /// Ends every web session and bearer token of a user (after a password change or a
    /// deactivation, so that whoever held the old credentials is out at once). Private tokens
    /// and access keys are credentials the user manages separately and stay; they stop working
    /// anyway while the user is inactive. Returns how many were ended.
    pub async fn end_user_sessions(&self, id: Uuid) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = end_sessions_in(&mut tx, &id.to_string()).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Marks that the user must choose a new password at the next login.
    pub async fn require_password_update(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET need_update_password = TRUE, date_updated = $1 WHERE id = $2",
        )
        .bind(now_micros())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The stored password hash of a user (`None` when the user has none or does not exist),
    /// for checking an old password before a self-service change.
    pub async fn user_password_hash(&self, id: Uuid) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar::<_, Option<String>>(
                "SELECT password_hash FROM users WHERE id = $1",
            )
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .flatten(),
        )
    }
}

/// Stores an already hashed password inside the caller's transaction: the user's row, the
/// password history (trimmed to what the policy looks at), the password-change log and the
/// end of the user's web sessions and bearer tokens.
async fn write_password_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: Uuid,
    user_display: &str,
    hash: &str,
    change: &PasswordChange<'_>,
) -> Result<(), StoreError> {
    let uid = id.to_string();
    let now = now_micros();
    sqlx::query(
        "UPDATE users SET password_hash = $1, need_update_password = $2,
            date_password_last_updated = $3, failed_login_count = 0, locked_until = NULL,
            date_updated = $3
         WHERE id = $4",
    )
    .bind(hash)
    .bind(change.need_update)
    .bind(now)
    .bind(&uid)
    .execute(&mut **tx)
    .await?;
    // The history holds the passwords set so far, newest first; only as many as the policy
    // looks at are kept.
    sqlx::query(
        "INSERT INTO user_password_history (id, user_id, password_hash, date_created)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(&uid)
    .bind(hash)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let keep = i64::try_from(change.history.max(1)).unwrap_or(i64::MAX);
    sqlx::query(
        "DELETE FROM user_password_history WHERE user_id = $1 AND id NOT IN (
            SELECT id FROM user_password_history WHERE user_id = $1
            ORDER BY date_created DESC, id LIMIT $2)",
    )
    .bind(&uid)
    .bind(keep)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO password_change_logs (id, user_display, change_by, remote_addr, datetime)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(user_display)
    .bind(change.changed_by)
    .bind(change.remote_addr)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    end_sessions_in(tx, &uid).await?;
    Ok(())
}

async fn end_sessions_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    uid: &str,
) -> Result<u64, StoreError> {
    let sessions = sqlx::query("DELETE FROM user_sessions WHERE user_id = $1")
        .bind(uid)
        .execute(&mut **tx)
        .await?;
    let tokens = sqlx::query("DELETE FROM private_tokens WHERE user_id = $1 AND kind = 'bearer'")
        .bind(uid)
        .execute(&mut **tx)
        .await?;
    Ok(sessions.rows_affected() + tokens.rows_affected())
}

/// A user's SSH public key (`/authentication/ssh-key/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKeyRecord {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Display name.
    pub name: String,
    /// The OpenSSH one-line form (`ssh-ed25519 AAAA… comment`).
    pub public_key: String,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// Whether it may be used to log in.
    pub is_active: bool,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
    /// Created.
    pub date_created: chrono::DateTime<chrono::Utc>,
    /// Last change.
    pub date_updated: chrono::DateTime<chrono::Utc>,
    /// Last login with it.
    pub date_last_used: Option<chrono::DateTime<chrono::Utc>>,
}

/// A key to store; the API has parsed and fingerprinted it.
#[derive(Debug, Clone)]
pub struct NewSshKey {
    /// Owner.
    pub user_id: Uuid,
    /// Display name.
    pub name: String,
    /// OpenSSH one-line form.
    pub public_key: String,
    /// `SHA256:…`.
    pub fingerprint: String,
    /// Usable for logins.
    pub is_active: bool,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
}

/// Changes to a key; the key material itself is fixed once stored (add another key instead).
#[derive(Debug, Clone, Default)]
pub struct SshKeyPatch {
    /// Display name.
    pub name: Option<String>,
    /// Usable for logins.
    pub is_active: Option<bool>,
    /// Comment.
    pub comment: Option<String>,
}

const SSH_KEY_COLUMNS: &str = "id, user_id, name, public_key, fingerprint, is_active, comment, created_by, date_created, date_updated, date_last_used";

fn ssh_key_from_row(r: &sqlx::any::AnyRow) -> Result<SshKeyRecord, StoreError> {
    use crate::codec::from_micros;
    Ok(SshKeyRecord {
        id: uuid(&r.try_get::<String, _>("id")?, "user_ssh_keys.id")?,
        user_id: uuid(&r.try_get::<String, _>("user_id")?, "user_ssh_keys.user_id")?,
        name: r.try_get("name")?,
        public_key: r.try_get("public_key")?,
        fingerprint: r.try_get("fingerprint")?,
        is_active: r.try_get::<Flag, _>("is_active")?.0,
        comment: r.try_get("comment")?,
        created_by: r.try_get("created_by")?,
        date_created: from_micros(r.try_get("date_created")?),
        date_updated: from_micros(r.try_get("date_updated")?),
        date_last_used: r
            .try_get::<Option<i64>, _>("date_last_used")?
            .map(from_micros),
    })
}

impl Store {
    /// A page of the user's SSH keys, oldest first, with the total count.
    pub async fn list_ssh_keys(
        &self,
        user: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<SshKeyRecord>), StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM user_ssh_keys WHERE user_id = $1")
                .bind(user.to_string())
                .fetch_one(&self.pool)
                .await?;
        let rows = sqlx::query(crate::codec::trusted(format!(
            "SELECT {SSH_KEY_COLUMNS} FROM user_ssh_keys WHERE user_id = $1
             ORDER BY date_created, id LIMIT $2 OFFSET $3"
        )))
        .bind(user.to_string())
        .bind(limit.max(0))
        .bind(offset.max(0))
        .fetch_all(&self.pool)
        .await?;
        let keys = rows
            .iter()
            .map(ssh_key_from_row)
            .collect::<Result<_, _>>()?;
        Ok((count, keys))
    }

    /// One of the user's keys (another user's key is `None`, as if it did not exist).
    pub async fn ssh_key(&self, user: Uuid, id: Uuid) -> Result<Option<SshKeyRecord>, StoreError> {
        sqlx::query(crate::codec::trusted(format!(
            "SELECT {SSH_KEY_COLUMNS} FROM user_ssh_keys WHERE user_id = $1 AND id = $2"
        )))
        .bind(user.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(ssh_key_from_row)
        .transpose()
    }

    /// Whether `fingerprint` is an active SSH key of the user; if so its last use is set to
    /// `now_us`. The SSH gateway's public-key login.
    pub async fn use_ssh_key(
        &self,
        user: Uuid,
        fingerprint: &str,
        now_us: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE user_ssh_keys SET date_last_used = $1 WHERE user_id = $2 AND fingerprint = $3 AND is_active = TRUE",
        )
        .bind(now_us)
        .bind(user.to_string())
        .bind(fingerprint)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores a key. A key another user already registered is refused with `Conflict` too:
    /// the SSH gateway finds the user by the key alone ([`Store::user_by_ssh_key`]), so one
    /// key must name one user.
    pub async fn insert_ssh_key(&self, k: &NewSshKey) -> Result<Uuid, StoreError> {
        let taken: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM user_ssh_keys WHERE fingerprint = $1")
                .bind(&k.fingerprint)
                .fetch_one(&self.pool)
                .await?;
        if taken > 0 {
            return Err(StoreError::Conflict("that public key".into()));
        }
        let id = Uuid::new_v4();
        let now = now_micros();
        sqlx::query(
            "INSERT INTO user_ssh_keys (id, user_id, name, public_key, fingerprint, is_active,
                comment, created_by, updated_by, date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $9)",
        )
        .bind(id.to_string())
        .bind(k.user_id.to_string())
        .bind(&k.name)
        .bind(&k.public_key)
        .bind(&k.fingerprint)
        .bind(k.is_active)
        .bind(&k.comment)
        .bind(&k.created_by)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_or(e, "that public key"))?;
        Ok(id)
    }

    /// Applies a patch to one of the user's keys; false when there is no such key.
    pub async fn update_ssh_key(
        &self,
        user: Uuid,
        id: Uuid,
        p: &SshKeyPatch,
        by: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE user_ssh_keys SET name = COALESCE($1, name), comment = COALESCE($2, comment),
                is_active = CASE WHEN $3 = 1 THEN TRUE WHEN $3 = 0 THEN FALSE ELSE is_active END,
                updated_by = $4, date_updated = $5
             WHERE user_id = $6 AND id = $7",
        )
        .bind(p.name.clone())
        .bind(p.comment.clone())
        .bind(p.is_active.map_or(-1i64, i64::from))
        .bind(by)
        .bind(now_micros())
        .bind(user.to_string())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes one of the user's keys; false when there is no such key.
    pub async fn delete_ssh_key(&self, user: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM user_ssh_keys WHERE user_id = $1 AND id = $2")
            .bind(user.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes all of a user's keys (the administrator's "reset public key"); returns how many.
    pub async fn delete_user_ssh_keys(&self, user: Uuid) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM user_ssh_keys WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The user an active key with this `SHA256:…` fingerprint belongs to, for the SSH
    /// gateway's public-key login. It says only whose key it is: the gateway still runs the
    /// login checks (user active and not expired, login ACLs) before letting anyone in. A key
    /// held by several users (only possible through rows written outside the API) names
    /// nobody, so it can never log in as the wrong user.
    pub async fn user_by_ssh_key(&self, fingerprint: &str) -> Result<Option<Uuid>, StoreError> {
        let owners: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT user_id FROM user_ssh_keys WHERE fingerprint = $1 AND is_active = TRUE",
        )
        .bind(fingerprint)
        .fetch_all(&self.pool)
        .await?;
        match owners.as_slice() {
            [one] => Ok(Some(uuid(one, "user_ssh_keys.user_id")?)),
            _ => Ok(None),
        }
    }

    /// Records a login with the key (for `date_last_used`).
    pub async fn touch_ssh_key(&self, fingerprint: &str, user: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE user_ssh_keys SET date_last_used = $1 WHERE fingerprint = $2 AND user_id = $3",
        )
        .bind(now_micros())
        .bind(fingerprint)
        .bind(user.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Users matching `search` (username, name or email substring) among `org`'s members,
    /// at most `limit`, for pickers (`/users/users/suggestions/`).
    pub async fn user_suggestions(
        &self,
        org: Option<Uuid>,
        search: Option<&str>,
        limit: i64,
    ) -> Result<Vec<UserSummary>, StoreError> {
        let q = UserQuery {
            org,
            search: search.map(str::to_owned),
            limit,
            ..UserQuery::default()
        };
        let (_, users) = self.list_users(&q).await?;
        Ok(users
            .into_iter()
            .map(|u| UserSummary {
                id: u.id,
                username: u.username,
                name: u.name,
                email: u.email,
                is_active: u.is_active,
                source: u.source,
            })
            .collect())
    }
}

/// A password set as part of a [`UserUpdate`]; the policy and the history were checked by
/// the caller (see [`Store::password_reused`]) before the write began.
#[derive(Clone)]
pub struct NewPassword {
    /// The new plaintext, hashed with Argon2id before the transaction starts.
    pub password: portcullis_core::secret::SecretString,
    /// Must change it again at the next login.
    pub need_update: bool,
    /// How many passwords the history keeps (`SECURITY_OLD_PASSWORD_COUNT`).
    pub history: usize,
    /// `Name(username)` of whoever changed it, for the password-change log.
    pub changed_by: String,
    /// The client address, for the password-change log.
    pub remote_addr: String,
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPassword")
            .field("need_update", &self.need_update)
            .finish_non_exhaustive()
    }
}

/// Everything one user update writes: the API's user serializer checks the body, then the
/// store writes the plain fields, the password, an added SSH key, the labels, the group
/// memberships and the role bindings of the user together ([`Store::apply_user_updates`], or
/// [`crate::bulk::WriteBatch::update_user`] inside a batch the caller commits).
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// The user.
    pub id: Uuid,
    /// Plain fields (and the source).
    pub patch: UserPatch,
    /// A new password.
    pub password: Option<NewPassword>,
    /// An SSH public key to add (`public_key` of the serializer); a key the user already has
    /// is not added twice, one another user has is refused.
    pub public_key: Option<NewSshKey>,
    /// The labels `org` puts on the user, replacing that org's.
    pub labels: Option<(Uuid, Vec<crate::labels::LabelRef>)>,
    /// The user's groups among the groups of `org`, replacing those memberships; groups of
    /// other orgs stay.
    pub groups: Option<(Uuid, Vec<Uuid>)>,
    /// Role sets to replace, as [`Store::set_user_roles`] takes them.
    pub roles: Vec<(Option<Uuid>, Vec<Uuid>)>,
    /// End the user's web sessions and bearer tokens (a deactivation).
    pub end_sessions: bool,
}

/// The step of a [`UserUpdate`] that failed, so the API can name the input it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserUpdateStep {
    /// Plain fields (`email` taken, unknown `source`, no such user).
    Fields,
    /// The password.
    Password,
    /// The added SSH key.
    PublicKey,
    /// The labels.
    Labels,
    /// The group memberships.
    Groups,
    /// The role bindings (the last SystemAdmin binding cannot go).
    Roles,
    /// Starting or committing the transaction: no one update is to blame.
    Transaction,
}

/// Why [`Store::apply_user_updates`] wrote nothing.
#[derive(Debug, thiserror::Error)]
#[error("user update {index:?} failed at {step:?}: {source}")]
pub struct UserUpdateError {
    /// Which update of the batch failed (`None` for [`UserUpdateStep::Transaction`], and for
    /// an update written alone through [`crate::bulk::WriteBatch::update_user`]).
    pub index: Option<usize>,
    /// The step that failed.
    pub step: UserUpdateStep,
    /// What the store said.
    #[source]
    pub source: StoreError,
}

impl UserUpdate {
    /// The Argon2 hash of the new password, if any: computed before a transaction starts, so
    /// that hashing never holds the write lock ([`crate::bulk::WriteBatch::update_user`]
    /// takes it).
    pub fn password_hash(&self) -> Result<Option<String>, UserUpdateError> {
        self.password
            .as_ref()
            .map(|p| {
                hash_password(p.password.expose()).map_err(|e| UserUpdateError {
                    index: None,
                    step: UserUpdateStep::Password,
                    source: StoreError::Invalid(e.to_string()),
                })
            })
            .transpose()
    }
}

impl Store {
    /// Applies a batch of user updates in one transaction: every step of every update is
    /// written, or, when one fails, none (the error names the update and the step). Creating
    /// users writes their fields through here, so no user is left half written — say new
    /// groups but the old roles. Passwords are hashed before the transaction starts, keeping
    /// Argon2 out of it.
    pub async fn apply_user_updates(
        &self,
        updates: &[UserUpdate],
        by: &str,
    ) -> Result<(), UserUpdateError> {
        let at = |index: usize| {
            move |e: UserUpdateError| UserUpdateError {
                index: Some(index),
                ..e
            }
        };
        let mut hashes: Vec<Option<String>> = Vec::with_capacity(updates.len());
        for (i, u) in updates.iter().enumerate() {
            hashes.push(u.password_hash().map_err(at(i))?);
        }
        let transaction = |source| UserUpdateError {
            index: None,
            step: UserUpdateStep::Transaction,
            source,
        };
        let mut batch = self.begin_batch().await.map_err(transaction)?;
        for (i, (u, hash)) in updates.iter().zip(&hashes).enumerate() {
            batch
                .update_user(u, hash.as_deref(), by)
                .await
                .map_err(at(i))?;
        }
        batch.commit().await.map_err(transaction)
    }

    /// The users holding an SSH key with this `SHA256:…` fingerprint (active or not), so an
    /// update can tell a key the user already has from one another user registered.
    pub async fn ssh_key_owners(&self, fingerprint: &str) -> Result<Vec<Uuid>, StoreError> {
        let owners: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT user_id FROM user_ssh_keys WHERE fingerprint = $1")
                .bind(fingerprint)
                .fetch_all(&self.pool)
                .await?;
        owners
            .iter()
            .map(|o| uuid(o, "user_ssh_keys.user_id"))
            .collect()
    }
}

/// Writes every step of one user update inside `tx` (see [`UserUpdate`]); `hash` is the new
/// password's hash ([`UserUpdate::password_hash`]). The error names the step that failed.
pub(crate) async fn update_user_in_tx(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    u: &UserUpdate,
    hash: Option<&str>,
    by: &str,
) -> Result<(), UserUpdateError> {
    let at = |step| {
        move |source: StoreError| UserUpdateError {
            index: None,
            step,
            source,
        }
    };
    let found = update_user_in(tx, u.id, &u.patch, by)
        .await
        .map_err(at(UserUpdateStep::Fields))?;
    if !found {
        return Err(at(UserUpdateStep::Fields)(StoreError::NotFound(format!(
            "user {}",
            u.id
        ))));
    }
    if let (Some(p), Some(hash)) = (&u.password, hash) {
        let display: String =
            sqlx::query_scalar("SELECT name || '(' || username || ')' FROM users WHERE id = $1")
                .bind(u.id.to_string())
                .fetch_one(&mut **tx)
                .await
                .map_err(StoreError::from)
                .map_err(at(UserUpdateStep::Password))?;
        let change = PasswordChange {
            password: &p.password,
            need_update: p.need_update,
            history: p.history,
            changed_by: &p.changed_by,
            remote_addr: &p.remote_addr,
        };
        write_password_in(tx, u.id, &display, hash, &change)
            .await
            .map_err(at(UserUpdateStep::Password))?;
    }
    if let Some(k) = &u.public_key {
        add_ssh_key_in(tx, u.id, k)
            .await
            .map_err(at(UserUpdateStep::PublicKey))?;
    }
    if let Some((org, labels)) = &u.labels {
        crate::labels::set_resource_labels_in(
            tx,
            *org,
            "users.user",
            &u.id.to_string(),
            labels,
            by,
        )
        .await
        .map_err(at(UserUpdateStep::Labels))?;
    }
    if let Some((org, groups)) = &u.groups {
        set_user_groups_in(tx, u.id, *org, groups)
            .await
            .map_err(at(UserUpdateStep::Groups))?;
    }
    for (org, roles) in &u.roles {
        set_user_roles_in(tx, u.id, *org, roles)
            .await
            .map_err(at(UserUpdateStep::Roles))?;
    }
    if u.end_sessions {
        end_sessions_in(tx, &u.id.to_string())
            .await
            .map_err(at(UserUpdateStep::Fields))?;
    }
    Ok(())
}

/// Adds `k` as a key of `user` inside the caller's transaction, unless the user already has
/// it; a key another user holds is a [`StoreError::Conflict`] (the gateway finds the user by
/// the key alone).
async fn add_ssh_key_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: Uuid,
    k: &NewSshKey,
) -> Result<(), StoreError> {
    let owners: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT user_id FROM user_ssh_keys WHERE fingerprint = $1")
            .bind(&k.fingerprint)
            .fetch_all(&mut **tx)
            .await?;
    let me = user.to_string();
    if owners.iter().any(|o| *o != me) {
        return Err(StoreError::Conflict("that public key".into()));
    }
    if !owners.is_empty() {
        return Ok(());
    }
    let now = now_micros();
    sqlx::query(
        "INSERT INTO user_ssh_keys (id, user_id, name, public_key, fingerprint, is_active,
            comment, created_by, updated_by, date_created, date_updated)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $9)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(&me)
    .bind(&k.name)
    .bind(&k.public_key)
    .bind(&k.fingerprint)
    .bind(k.is_active)
    .bind(&k.comment)
    .bind(&k.created_by)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::conflict_or(e, "that public key"))?;
    Ok(())
}

/// Replaces the memberships of `user` among the groups of `org` inside the caller's
/// transaction; each group must be one of `org` ([`StoreError::Invalid`] otherwise).
async fn set_user_groups_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: Uuid,
    org: Uuid,
    groups: &[Uuid],
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM user_group_members WHERE user_id = $1
         AND user_group_id IN (SELECT id FROM user_groups WHERE org_id = $2)",
    )
    .bind(user.to_string())
    .bind(org.to_string())
    .execute(&mut **tx)
    .await?;
    for g in groups {
        let known: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM user_groups WHERE id = $1 AND org_id = $2")
                .bind(g.to_string())
                .bind(org.to_string())
                .fetch_one(&mut **tx)
                .await?;
        if known == 0 {
            return Err(StoreError::Invalid(format!(
                "Invalid pk \"{g}\" - object does not exist."
            )));
        }
        sqlx::query(
            "INSERT INTO user_group_members (user_group_id, user_id) VALUES ($1, $2)
             ON CONFLICT (user_group_id, user_id) DO NOTHING",
        )
        .bind(g.to_string())
        .bind(user.to_string())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
