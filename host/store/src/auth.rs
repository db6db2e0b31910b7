//! Store side of authentication: the rows `portcullis-auth` reads and the bookkeeping it writes.
//!
//! Nothing here decides whether a login or a request is allowed. These functions load what the
//! auth crate needs (the user behind a login name, a token's owner, an access key, login ACLs,
//! role bindings, security settings) and persist what it decided (failure counters, lockouts,
//! tokens, the login log). Counters are updated by single statements so that two concurrent
//! attempts cannot both read the old value and lose an increment.

use std::collections::HashMap;

use crate::codec::{Flag, trusted, uuid};
use crate::{Store, StoreError};
use portcullis_core::acl::{AclRules, LoginAcl, LoginAction, Selector};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

/// `private_tokens.kind` of a DRF-style private token (`Authorization: Token …`).
pub const TOKEN_KIND_PRIVATE: &str = "private";
/// `private_tokens.kind` of a login token (`Authorization: Bearer …`).
pub const TOKEN_KIND_BEARER: &str = "bearer";

/// What a password login needs to know about a user. The password hash is included because the
/// caller verifies it; the type is not `Debug`-printed with the hash.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginUser {
    /// Primary key.
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: String,
    /// `local`, `ldap`, …: only local users have a password this host can check.
    pub source: String,
    /// Free text; login ACL selectors may match on it.
    pub comment: String,
    /// Argon2 PHC string; `None` for users without a local password.
    pub password_hash: Option<String>,
    /// Disabled users cannot log in.
    pub is_active: bool,
    /// Microseconds; the account stops working at this instant.
    pub date_expired: Option<i64>,
    /// Microseconds; logins are refused until then.
    pub locked_until: Option<i64>,
    /// Password failures since the last success or lockout.
    pub failed_login_count: i64,
    /// The user must change the password after logging in.
    pub need_update_password: bool,
    /// Microseconds of the last successful login.
    pub last_login: Option<i64>,
    /// Microseconds of the last use of a private token or access key.
    pub date_api_key_last_used: Option<i64>,
    /// Microseconds of account creation.
    pub date_joined: i64,
    /// Microseconds of the last password change (`None`: never recorded), for password
    /// expiry (`SECURITY_PASSWORD_EXPIRATION_TIME`).
    pub date_password_last_updated: Option<i64>,
    /// 0 MFA off, 1 on (the user bound a second factor), 2 forced by an administrator.
    pub mfa_level: i64,
    /// Whether an OTP secret is bound (`mfa_secret` is set); the secret itself is not loaded.
    pub mfa_bound: bool,
}

impl std::fmt::Debug for LoginUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("source", &self.source)
            .field("is_active", &self.is_active)
            .field("date_expired", &self.date_expired)
            .field("locked_until", &self.locked_until)
            .field("failed_login_count", &self.failed_login_count)
            .field("mfa_level", &self.mfa_level)
            .field("mfa_bound", &self.mfa_bound)
            .finish_non_exhaustive()
    }
}

/// A user's failure counter after one more wrong password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserFailures {
    /// Failures counted now (reset to 0 when this failure locked the account).
    pub count: i64,
    /// Microseconds; set when this failure reached the limit (or an older lock, possibly past).
    pub locked_until: Option<i64>,
}

/// A client address's failure counter after one more failed login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpFailures {
    /// Failures inside the current window.
    pub count: i64,
    /// Microseconds; set when the count reached the limit (or an older block, possibly past).
    pub blocked_until: Option<i64>,
}

/// One `login_logs` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLogEntry<'a> {
    /// The login name as typed (the user may not exist).
    pub username: &'a str,
    /// `W` web, `T` terminal, `U` unknown.
    pub login_type: &'a str,
    /// Client address.
    pub ip: &'a str,
    /// Client user agent.
    pub user_agent: &'a str,
    /// 0 no MFA, 1 MFA passed, 2 MFA failed.
    pub mfa: i64,
    /// Failure code, or `''` on success.
    pub reason: &'a str,
    /// Authentication backend (`password`, …).
    pub backend: &'a str,
    /// Whether the login succeeded.
    pub success: bool,
    /// Microseconds.
    pub datetime: i64,
}

/// The owner of a token and what decides whether the token still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenOwner {
    /// The user the token acts as.
    pub user_id: Uuid,
    /// Microseconds; `None` = does not expire.
    pub date_expired: Option<i64>,
    /// The user's `is_active`.
    pub user_is_active: bool,
    /// The user's `date_expired`.
    pub user_date_expired: Option<i64>,
    /// The token's last recorded use (microseconds), so that a recent one is not written
    /// again: see [`Store::touch_token`].
    pub date_last_used: Option<i64>,
}

/// An access key as signature verification needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    /// The KeyID.
    pub id: Uuid,
    /// The user the key acts as.
    pub user_id: Uuid,
    /// The vault envelope of the HMAC secret (sealed at `access_keys.secret:<id>`).
    pub sealed_secret: String,
    /// The key's own switch.
    pub is_active: bool,
    /// Client addresses the key may be used from (`IpSet` entries).
    pub ip_group: Vec<String>,
    /// The user's `is_active`.
    pub user_is_active: bool,
    /// The user's `date_expired`.
    pub user_date_expired: Option<i64>,
}

impl std::fmt::Debug for AccessKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRecord")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("is_active", &self.is_active)
            .field("ip_group", &self.ip_group)
            .finish_non_exhaustive()
    }
}

/// An access key as its owner sees it (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRow {
    /// The KeyID.
    pub id: Uuid,
    /// The key's own switch.
    pub is_active: bool,
    /// Client addresses the key may be used from.
    pub ip_group: Vec<String>,
    /// Microseconds.
    pub date_created: i64,
    /// Microseconds; `None` = never used.
    pub date_last_used: Option<i64>,
}

/// One role binding of a user, with the role's permission patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleBindingRow {
    /// The role.
    pub role_id: Uuid,
    /// `roles.name`.
    pub name: String,
    /// `roles.display_name`.
    pub display_name: String,
    /// `None` for a system binding, the org for an org binding.
    pub org_id: Option<Uuid>,
    /// The role's permission codename patterns.
    pub permissions: Vec<String>,
}

/// A user's second factor as MFA checks need it.
#[derive(Clone, PartialEq, Eq)]
pub struct UserMfa {
    /// Login name (the account label of the authenticator entry).
    pub username: String,
    /// 0 off, 1 on, 2 forced by an administrator.
    pub mfa_level: i64,
    /// The vault envelope of the OTP secret (sealed at `users.mfa_secret:<id>`), if bound.
    pub sealed_secret: Option<String>,
    /// `local`, `ldap`, …: only local users have a password this host can check.
    pub source: String,
    /// Argon2 PHC string; `None` for users without a local password.
    pub password_hash: Option<String>,
    /// Disabled users cannot log in.
    pub is_active: bool,
    /// Microseconds; the account stops working at this instant.
    pub date_expired: Option<i64>,
    /// Microseconds; logins (and MFA attempts) are refused until then.
    pub locked_until: Option<i64>,
}

impl std::fmt::Debug for UserMfa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserMfa")
            .field("username", &self.username)
            .field("mfa_level", &self.mfa_level)
            .field("bound", &self.sealed_secret.is_some())
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

/// A new `user_sessions` row. Only the hash of the cookie value is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUserSession<'a> {
    /// Primary key.
    pub id: Uuid,
    /// SHA-256 hex of the cookie value.
    pub key_hash: &'a str,
    /// The user the session belongs to.
    pub user_id: Uuid,
    /// Client address.
    pub ip: &'a str,
    /// Client user agent.
    pub user_agent: &'a str,
    /// `W`, `T` or `U`.
    pub login_type: &'a str,
    /// Authentication backend.
    pub backend: &'a str,
    /// `false` while the login is unfinished (password checked, MFA pending).
    pub is_active: bool,
    /// The per-session state, a JSON object.
    pub data: &'a str,
    /// Microseconds.
    pub now: i64,
    /// Microseconds; the session stops working at this instant.
    pub expires: i64,
}

/// A `user_sessions` row with its user's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSessionRow {
    /// Primary key.
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// `false` while the login is unfinished.
    pub is_active: bool,
    /// The per-session state, a JSON object.
    pub data: String,
    /// `W`, `T` or `U`.
    pub login_type: String,
    /// Authentication backend.
    pub backend: String,
    /// Microseconds.
    pub date_created: i64,
    /// Microseconds.
    pub date_expired: i64,
    /// The user's `is_active`.
    pub user_is_active: bool,
    /// The user's `date_expired`.
    pub user_date_expired: Option<i64>,
}

fn get_uuid(row: &AnyRow, col: &str) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(col)?;
    uuid(&text, col)
}

fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn access_key_row(r: &AnyRow) -> Result<AccessKeyRow, StoreError> {
    let id = get_uuid(r, "id")?;
    let ip_group: String = r.try_get("ip_group")?;
    Ok(AccessKeyRow {
        id,
        is_active: r.try_get::<Flag, _>("is_active")?.0,
        ip_group: serde_json::from_str(&ip_group)
            .map_err(|_| StoreError::Corrupt(format!("access_keys.ip_group of {id}")))?,
        date_created: r.try_get("date_created")?,
        date_last_used: r.try_get("date_last_used")?,
    })
}

/// Maps a foreign-key violation on `user_id` to "user not found".
fn user_fk(err: sqlx::Error, user: Uuid) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.is_foreign_key_violation()
    {
        return StoreError::NotFound(format!("user {user}"));
    }
    StoreError::Sql(err)
}

impl Store {
    /// The values of the named settings that exist, in one query (a login reads a dozen).
    pub async fn settings_named(
        &self,
        names: &[&str],
    ) -> Result<HashMap<String, Value>, StoreError> {
        if names.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT name, value FROM settings WHERE name IN ({})",
            placeholders(names.len())
        );
        let mut q = sqlx::query(trusted(sql));
        for n in names {
            q = q.bind(n.to_string());
        }
        let mut out = HashMap::new();
        for row in q.fetch_all(&self.pool).await? {
            let name: String = row.try_get("name")?;
            let text: String = row.try_get("value")?;
            let value = serde_json::from_str(&text)
                .map_err(|_| StoreError::Corrupt(format!("setting {name}")))?;
            out.insert(name, value);
        }
        Ok(out)
    }

    /// The user with this exact login name, as a password login needs it.
    pub async fn login_user(&self, username: &str) -> Result<Option<LoginUser>, StoreError> {
        let row = sqlx::query(
            "SELECT id, username, name, email, source, comment, password_hash, is_active,
                date_expired, locked_until, failed_login_count, need_update_password, last_login,
                date_api_key_last_used, date_joined, date_password_last_updated, mfa_level,
                CAST(CASE WHEN mfa_secret IS NULL THEN 0 ELSE 1 END AS BIGINT) AS mfa_bound
             FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(LoginUser {
                id: get_uuid(&r, "id")?,
                username: r.try_get("username")?,
                name: r.try_get("name")?,
                email: r.try_get("email")?,
                source: r.try_get("source")?,
                comment: r.try_get("comment")?,
                password_hash: r.try_get("password_hash")?,
                is_active: r.try_get::<Flag, _>("is_active")?.0,
                date_expired: r.try_get("date_expired")?,
                locked_until: r.try_get("locked_until")?,
                failed_login_count: r.try_get("failed_login_count")?,
                need_update_password: r.try_get::<Flag, _>("need_update_password")?.0,
                last_login: r.try_get("last_login")?,
                date_api_key_last_used: r.try_get("date_api_key_last_used")?,
                date_joined: r.try_get("date_joined")?,
                date_password_last_updated: r.try_get("date_password_last_updated")?,
                mfa_level: r.try_get("mfa_level")?,
                mfa_bound: r.try_get::<i64, _>("mfa_bound")? != 0,
            })
        })
        .transpose()
    }

    /// Until when logins from `ip` are blocked (`None`: never blocked; the instant may be past).
    pub async fn login_ip_blocked_until(&self, ip: &str) -> Result<Option<i64>, StoreError> {
        let until: Option<Option<i64>> =
            sqlx::query_scalar("SELECT blocked_until FROM login_ip_failures WHERE ip = $1")
                .bind(ip)
                .fetch_optional(&self.pool)
                .await?;
        Ok(until.flatten())
    }

    /// Counts one wrong password for `user`. When the count reaches `limit` the account is
    /// locked until `lock_until` and the count starts again from zero, so the user gets a full
    /// set of attempts once the lock has passed. One statement: concurrent failures cannot lose
    /// an increment.
    pub async fn record_user_login_failure(
        &self,
        user: Uuid,
        limit: i64,
        lock_until: i64,
    ) -> Result<UserFailures, StoreError> {
        let row = sqlx::query(
            "UPDATE users SET
                failed_login_count = CASE WHEN failed_login_count + 1 >= $2 THEN 0
                                          ELSE failed_login_count + 1 END,
                locked_until = CASE WHEN failed_login_count + 1 >= $2 THEN $3
                                    ELSE locked_until END
             WHERE id = $1
             RETURNING failed_login_count, locked_until",
        )
        .bind(user.to_string())
        .bind(limit)
        .bind(lock_until)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user {user}")))?;
        Ok(UserFailures {
            count: row.try_get("failed_login_count")?,
            locked_until: row.try_get("locked_until")?,
        })
    }

    /// Counts one failed login from `ip`. Failures older than `window_start` are forgotten (the
    /// count restarts at 1); when the count reaches `limit`, the address is blocked until
    /// `block_until`. One statement, for the same reason as the user counter.
    pub async fn record_ip_login_failure(
        &self,
        ip: &str,
        now: i64,
        window_start: i64,
        limit: i64,
        block_until: i64,
    ) -> Result<IpFailures, StoreError> {
        let row = sqlx::query(
            "INSERT INTO login_ip_failures (ip, failed_count, date_first_failed, blocked_until)
             VALUES ($1, 1, $2, CASE WHEN 1 >= $4 THEN $5 ELSE NULL END)
             ON CONFLICT (ip) DO UPDATE SET
                failed_count = CASE WHEN login_ip_failures.date_first_failed < $3 THEN 1
                                    ELSE login_ip_failures.failed_count + 1 END,
                date_first_failed = CASE WHEN login_ip_failures.date_first_failed < $3 THEN $2
                                         ELSE login_ip_failures.date_first_failed END,
                blocked_until = CASE
                    WHEN (CASE WHEN login_ip_failures.date_first_failed < $3 THEN 1
                               ELSE login_ip_failures.failed_count + 1 END) >= $4 THEN $5
                    ELSE login_ip_failures.blocked_until END
             RETURNING failed_count, blocked_until",
        )
        .bind(ip)
        .bind(now)
        .bind(window_start)
        .bind(limit)
        .bind(block_until)
        .fetch_one(&self.pool)
        .await?;
        Ok(IpFailures {
            count: row.try_get("failed_count")?,
            blocked_until: row.try_get("blocked_until")?,
        })
    }

    /// After a successful login: clears the user's failures and lock, records the login time,
    /// and forgets the failures of the client address. One transaction.
    pub async fn record_login_success(
        &self,
        user: Uuid,
        ip: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE users SET failed_login_count = 0, locked_until = NULL, last_login = $2
             WHERE id = $1",
        )
        .bind(user.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM login_ip_failures WHERE ip = $1")
            .bind(ip)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Disables a user (the unused-account rule: JumpServer disables such users, and so do we,
    /// so the administrator sees why the login is refused).
    pub async fn deactivate_user(&self, user: Uuid, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE users SET is_active = $2, updated_by = 'System', date_updated = $3
             WHERE id = $1",
        )
        .bind(user.to_string())
        .bind(false)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The active login ACLs with their reviewers. A row whose selector or rules do not parse
    /// is reported as corrupt rather than skipped: skipping a `reject` ACL would let through
    /// logins it exists to stop.
    pub async fn active_login_acls(&self) -> Result<Vec<LoginAcl>, StoreError> {
        let mut reviewers: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for row in sqlx::query(
            "SELECT acl_id, user_id FROM acl_reviewers WHERE acl_type = 'login'
             ORDER BY acl_id, user_id",
        )
        .fetch_all(&self.pool)
        .await?
        {
            reviewers
                .entry(get_uuid(&row, "acl_id")?)
                .or_default()
                .push(get_uuid(&row, "user_id")?);
        }
        let rows = sqlx::query(
            "SELECT id, name, priority, action, is_active, users, rules FROM login_acls
             WHERE is_active = $1 ORDER BY priority, name, id",
        )
        .bind(true)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id = get_uuid(r, "id")?;
                let corrupt =
                    |what: &str| StoreError::Corrupt(format!("login_acls.{what} of {id}"));
                let users: String = r.try_get("users")?;
                let rules: String = r.try_get("rules")?;
                let action: String = r.try_get("action")?;
                let priority: i64 = r.try_get("priority")?;
                Ok(LoginAcl {
                    id,
                    name: r.try_get("name")?,
                    priority: u8::try_from(priority).map_err(|_| corrupt("priority"))?,
                    is_active: r.try_get::<Flag, _>("is_active")?.0,
                    action: serde_json::from_value::<LoginAction>(Value::String(action))
                        .map_err(|_| corrupt("action"))?,
                    users: serde_json::from_str::<Selector>(&users)
                        .map_err(|_| corrupt("users"))?,
                    rules: serde_json::from_str::<AclRules>(&rules)
                        .map_err(|_| corrupt("rules"))?,
                    reviewers: reviewers.remove(&id).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Appends one row to the login log.
    pub async fn insert_login_log(&self, entry: &LoginLogEntry<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO login_logs (id, username, type, ip, user_agent, mfa, reason, backend,
                status, datetime)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(entry.username)
        .bind(entry.login_type)
        .bind(entry.ip)
        .bind(entry.user_agent)
        .bind(entry.mfa)
        .bind(entry.reason)
        .bind(entry.backend)
        .bind(entry.success)
        .bind(entry.datetime)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores a new bearer token's hash, and drops the user's bearer tokens that have expired
    /// (nothing else ever deletes them).
    pub async fn insert_bearer_token(
        &self,
        key_hash: &str,
        user: Uuid,
        remote_addr: &str,
        now: i64,
        expires: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM private_tokens WHERE user_id = $1 AND kind = $2 AND date_expired <= $3",
        )
        .bind(user.to_string())
        .bind(TOKEN_KIND_BEARER)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO private_tokens (key_hash, kind, user_id, remote_addr, date_created,
                date_expired)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key_hash)
        .bind(TOKEN_KIND_BEARER)
        .bind(user.to_string())
        .bind(remote_addr)
        .bind(now)
        .bind(expires)
        .execute(&mut *tx)
        .await
        .map_err(|e| user_fk(e, user))?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the user's private token (one per user, as DRF's authtoken) by a new hash.
    pub async fn replace_private_token(
        &self,
        key_hash: &str,
        user: Uuid,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM private_tokens WHERE user_id = $1 AND kind = $2")
            .bind(user.to_string())
            .bind(TOKEN_KIND_PRIVATE)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO private_tokens (key_hash, kind, user_id, date_created)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(key_hash)
        .bind(TOKEN_KIND_PRIVATE)
        .bind(user.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| user_fk(e, user))?;
        tx.commit().await?;
        Ok(())
    }

    /// The owner of the token with this hash and kind.
    pub async fn token_owner(
        &self,
        key_hash: &str,
        kind: &str,
    ) -> Result<Option<TokenOwner>, StoreError> {
        let row = sqlx::query(
            "SELECT t.user_id, t.date_expired, u.is_active, u.date_expired AS user_date_expired,
                    t.date_last_used
             FROM private_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.key_hash = $1 AND t.kind = $2",
        )
        .bind(key_hash)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(TokenOwner {
                user_id: get_uuid(&r, "user_id")?,
                date_expired: r.try_get("date_expired")?,
                user_is_active: r.try_get::<Flag, _>("is_active")?.0,
                user_date_expired: r.try_get("user_date_expired")?,
                date_last_used: r.try_get("date_last_used")?,
            })
        })
        .transpose()
    }

    /// Records a token use. Writes only when the recorded use is older than `stale_before`, so
    /// a busy client does not turn every request into a write; for private tokens the user's
    /// `date_api_key_last_used` moves too. Callers that read [`TokenOwner::date_last_used`]
    /// skip the call when it is recent: even an UPDATE that changes nothing takes SQLite's
    /// single write lock, which every concurrent request would otherwise queue on.
    pub async fn touch_token(
        &self,
        key_hash: &str,
        kind: &str,
        user: Uuid,
        now: i64,
        stale_before: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE private_tokens SET date_last_used = $2
             WHERE key_hash = $1 AND (date_last_used IS NULL OR date_last_used < $3)",
        )
        .bind(key_hash)
        .bind(now)
        .bind(stale_before)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() > 0 && kind == TOKEN_KIND_PRIVATE {
            self.touch_user_api_key(user, now).await?;
        }
        Ok(())
    }

    async fn touch_user_api_key(&self, user: Uuid, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET date_api_key_last_used = $2 WHERE id = $1")
            .bind(user.to_string())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Inserts an access key unless the user already holds `max` keys. Returns whether it was
    /// inserted. The count and the insert are one statement.
    pub async fn insert_access_key(
        &self,
        id: Uuid,
        user: Uuid,
        sealed_secret: &str,
        now: i64,
        max: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO access_keys (id, user_id, secret, date_created)
             SELECT $1, $2, $3, $4
             WHERE (SELECT COUNT(*) FROM access_keys WHERE user_id = $2) < $5",
        )
        .bind(id.to_string())
        .bind(user.to_string())
        .bind(sealed_secret)
        .bind(now)
        .bind(max)
        .execute(&self.pool)
        .await
        .map_err(|e| user_fk(e, user))?;
        Ok(done.rows_affected() == 1)
    }

    /// The access key with this KeyID, with its user's state.
    pub async fn access_key(&self, id: Uuid) -> Result<Option<AccessKeyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT k.id, k.user_id, k.secret, k.is_active, k.ip_group, u.is_active AS user_active,
                u.date_expired AS user_date_expired
             FROM access_keys k JOIN users u ON u.id = k.user_id
             WHERE k.id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let ip_group: String = r.try_get("ip_group")?;
            Ok(AccessKeyRecord {
                id: get_uuid(&r, "id")?,
                user_id: get_uuid(&r, "user_id")?,
                sealed_secret: r.try_get("secret")?,
                is_active: r.try_get::<Flag, _>("is_active")?.0,
                ip_group: serde_json::from_str(&ip_group)
                    .map_err(|_| StoreError::Corrupt(format!("access_keys.ip_group of {id}")))?,
                user_is_active: r.try_get::<Flag, _>("user_active")?.0,
                user_date_expired: r.try_get("user_date_expired")?,
            })
        })
        .transpose()
    }

    /// Records an access-key use (throttled like [`Store::touch_token`]); the user's
    /// `date_api_key_last_used` moves too, as in JumpServer.
    pub async fn touch_access_key(
        &self,
        id: Uuid,
        user: Uuid,
        now: i64,
        stale_before: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE access_keys SET date_last_used = $2
             WHERE id = $1 AND (date_last_used IS NULL OR date_last_used < $3)",
        )
        .bind(id.to_string())
        .bind(now)
        .bind(stale_before)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() > 0 {
            self.touch_user_api_key(user, now).await?;
        }
        Ok(())
    }

    /// The user's access keys, oldest first.
    pub async fn access_keys_of(&self, user: Uuid) -> Result<Vec<AccessKeyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, is_active, ip_group, date_created, date_last_used FROM access_keys
             WHERE user_id = $1 ORDER BY date_created, id",
        )
        .bind(user.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(access_key_row).collect()
    }

    /// Changes the switch and/or the address list of one of `user`'s keys (`None` leaves a
    /// field as it is). `ip_group` is a JSON list the caller validated. Returns the key as it
    /// is now, or `None` when the user has no such key.
    pub async fn update_access_key(
        &self,
        id: Uuid,
        user: Uuid,
        is_active: Option<bool>,
        ip_group: Option<&str>,
    ) -> Result<Option<AccessKeyRow>, StoreError> {
        let row = sqlx::query(
            "UPDATE access_keys SET is_active = COALESCE($3, is_active),
                ip_group = COALESCE($4, ip_group)
             WHERE id = $1 AND user_id = $2
             RETURNING id, is_active, ip_group, date_created, date_last_used",
        )
        .bind(id.to_string())
        .bind(user.to_string())
        .bind(is_active)
        .bind(ip_group)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(access_key_row).transpose()
    }

    /// Deletes one of `user`'s keys; whether it existed.
    pub async fn delete_access_key(&self, id: Uuid, user: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM access_keys WHERE id = $1 AND user_id = $2")
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The user's second factor, password hash and state; `None` when the user does not exist.
    pub async fn user_mfa(&self, user: Uuid) -> Result<Option<UserMfa>, StoreError> {
        let row = sqlx::query(
            "SELECT username, mfa_level, mfa_secret, source, password_hash, is_active,
                date_expired, locked_until
             FROM users WHERE id = $1",
        )
        .bind(user.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(UserMfa {
                username: r.try_get("username")?,
                mfa_level: r.try_get("mfa_level")?,
                sealed_secret: r.try_get("mfa_secret")?,
                source: r.try_get("source")?,
                password_hash: r.try_get("password_hash")?,
                is_active: r.try_get::<Flag, _>("is_active")?.0,
                date_expired: r.try_get("date_expired")?,
                locked_until: r.try_get("locked_until")?,
            })
        })
        .transpose()
    }

    /// Binds (`Some`, a vault envelope sealed at `users.mfa_secret:<id>`) or unbinds (`None`)
    /// the user's OTP secret. Binding turns MFA on (`mfa_level` 1) and unbinding off (0),
    /// except that a level 2 set by an administrator stays. Returns whether the user exists.
    pub async fn set_user_mfa_secret(
        &self,
        user: Uuid,
        sealed_secret: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET mfa_secret = $2,
                mfa_level = CASE WHEN mfa_level = 2 THEN 2 WHEN $3 THEN 1 ELSE 0 END,
                date_updated = $4
             WHERE id = $1",
        )
        .bind(user.to_string())
        .bind(sealed_secret)
        .bind(sealed_secret.is_some())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores a new session, and drops every session that has expired (nothing else deletes
    /// them). One transaction.
    pub async fn insert_user_session(&self, s: &NewUserSession<'_>) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM user_sessions WHERE date_expired <= $1")
            .bind(s.now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO user_sessions (id, key_hash, user_id, ip, user_agent, type, backend,
                is_active, data, date_created, date_expired, date_last_seen)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10)",
        )
        .bind(s.id.to_string())
        .bind(s.key_hash)
        .bind(s.user_id.to_string())
        .bind(s.ip)
        .bind(s.user_agent)
        .bind(s.login_type)
        .bind(s.backend)
        .bind(s.is_active)
        .bind(s.data)
        .bind(s.now)
        .bind(s.expires)
        .execute(&mut *tx)
        .await
        .map_err(|e| user_fk(e, s.user_id))?;
        tx.commit().await?;
        Ok(())
    }

    /// The session whose cookie hashes to `key_hash`, with its user's state (expired rows
    /// too: the caller decides).
    pub async fn user_session(&self, key_hash: &str) -> Result<Option<UserSessionRow>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id, s.user_id, s.is_active, s.data, s.type, s.backend, s.date_created,
                s.date_expired,
                u.is_active AS user_active, u.date_expired AS user_date_expired
             FROM user_sessions s JOIN users u ON u.id = s.user_id
             WHERE s.key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(UserSessionRow {
                id: get_uuid(&r, "id")?,
                user_id: get_uuid(&r, "user_id")?,
                is_active: r.try_get::<Flag, _>("is_active")?.0,
                data: r.try_get("data")?,
                login_type: r.try_get("type")?,
                backend: r.try_get("backend")?,
                date_created: r.try_get("date_created")?,
                date_expired: r.try_get("date_expired")?,
                user_is_active: r.try_get::<Flag, _>("user_active")?.0,
                user_date_expired: r.try_get("user_date_expired")?,
            })
        })
        .transpose()
    }

    /// Replaces a session's state (a JSON object). Returns whether the session still exists.
    pub async fn set_user_session_data(&self, id: Uuid, data: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE user_sessions SET data = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(data)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records that a session was used, at most once per `stale_before` (like tokens).
    pub async fn touch_user_session(
        &self,
        id: Uuid,
        now: i64,
        stale_before: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE user_sessions SET date_last_seen = $2
             WHERE id = $1 AND (date_last_seen IS NULL OR date_last_seen < $3)",
        )
        .bind(id.to_string())
        .bind(now)
        .bind(stale_before)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes a session (logout, or an unfinished login replaced by the real session).
    /// Returns whether it existed.
    pub async fn delete_user_session(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM user_sessions WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The user's role bindings with each role's permission patterns.
    pub async fn role_bindings_of(&self, user: Uuid) -> Result<Vec<RoleBindingRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.name, r.display_name, r.permissions, b.org_id
             FROM role_bindings b JOIN roles r ON r.id = b.role_id AND r.scope = b.scope
             WHERE b.user_id = $1
             ORDER BY b.scope DESC, b.org_id, r.name",
        )
        .bind(user.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let org: Option<String> = r.try_get("org_id")?;
                let permissions: String = r.try_get("permissions")?;
                let role_id = get_uuid(r, "id")?;
                Ok(RoleBindingRow {
                    role_id,
                    name: r.try_get("name")?,
                    display_name: r.try_get("display_name")?,
                    org_id: org.map(|o| uuid(&o, "role_bindings.org_id")).transpose()?,
                    permissions: serde_json::from_str(&permissions).map_err(|_| {
                        StoreError::Corrupt(format!("roles.permissions of {role_id}"))
                    })?,
                })
            })
            .collect()
    }
}
