//! What connects the API to the session engine: terminal tasks (`terminal_tasks`) and
//! connection tokens (`connection_tokens`), plus the few session-row accessors they need.
//!
//! **Tasks** are how an administrator's "kill" or "lock" reaches the host that runs the
//! session: the API writes a row, the session engine polls [`Store::pending_terminal_tasks`],
//! acts, and marks the row with [`Store::finish_terminal_task`]. A table rather than a channel
//! because the API and the session may run in different processes, and because the row is the
//! audit trail of who asked for what.
//!
//! **Connection tokens** bind a user, an asset, an account alias and a protocol for a short
//! time; a front door (the SSH gateway, a web terminal) redeems one with its id and value. The
//! value and any typed secret are sealed here, inside the statement that writes the row (the
//! row id is part of the associated data), and records never carry them: the only ways out
//! are [`Store::connection_token_secret`] and [`Store::connection_token_input_secret`], so
//! every place that reads a token's value is easy to find.
//!
//! As everywhere in the store, no access decision is made here: the API decides whether the
//! user may have a token for this asset, account and protocol (through the core's grant).

use crate::codec::{Flag, from_micros, micros, now_micros, trusted, uuid};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use portcullis_core::secret::SecretString;
use portcullis_core::vault::{SealContext, Vault};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Terminal tasks
// ---------------------------------------------------------------------------------------------

/// The task names the schema allows (and the session engine understands).
pub const TASK_NAMES: &[&str] = &["kill_session", "lock_session", "unlock_session"];

/// One `terminal_tasks` row.
#[derive(Debug, Clone, PartialEq)]
pub struct TerminalTask {
    /// Id.
    pub id: Uuid,
    /// `kill_session`, `lock_session` or `unlock_session`.
    pub name: String,
    /// The session id the task is about (JumpServer's `args`).
    pub args: String,
    /// Extra arguments (`terminated_by`, `created_by`).
    pub kwargs: Value,
    /// Whether the session engine carried it out.
    pub is_finished: bool,
    /// When it was asked for.
    pub date_created: DateTime<Utc>,
    /// When the engine marked it done.
    pub date_finished: Option<DateTime<Utc>>,
    /// `Name(username)` of whoever asked.
    pub created_by: String,
}

/// Which tasks [`Store::list_terminal_tasks`] returns.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only tasks about sessions of this org (`None` = every task). Tasks have no org of their
    /// own; they belong to the org of the session they name.
    pub org: Option<Uuid>,
    /// Only tasks with this name.
    pub name: Option<String>,
    /// Only tasks about this session.
    pub session: Option<Uuid>,
    /// Only finished (or unfinished) tasks.
    pub is_finished: Option<bool>,
    /// Only this task (detail views reuse the list's scoping).
    pub id: Option<Uuid>,
    /// `date_created` ascending when true; newest first otherwise.
    pub oldest_first: bool,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

const TASK_COLUMNS: &str =
    "t.id, t.name, t.args, t.kwargs, t.is_finished, t.date_created, t.date_finished, t.created_by";

fn task_from_row(r: &AnyRow) -> Result<TerminalTask, StoreError> {
    let id: String = r.try_get("id")?;
    let kwargs: String = r.try_get("kwargs")?;
    Ok(TerminalTask {
        id: uuid(&id, "terminal_tasks.id")?,
        name: r.try_get("name")?,
        args: r.try_get("args")?,
        kwargs: serde_json::from_str(&kwargs)
            .map_err(|_| StoreError::Corrupt(format!("terminal_tasks.kwargs:{id}")))?,
        is_finished: r.try_get::<Flag, _>("is_finished")?.0,
        date_created: from_micros(r.try_get("date_created")?),
        date_finished: r
            .try_get::<Option<i64>, _>("date_finished")?
            .map(from_micros),
        created_by: r.try_get("created_by")?,
    })
}

impl Store {
    /// Records a task for the session engine. `name` must be one of [`TASK_NAMES`]; `args` is
    /// the session id the task is about.
    pub async fn create_terminal_task(
        &self,
        name: &str,
        args: &str,
        kwargs: &Value,
        created_by: &str,
    ) -> Result<Uuid, StoreError> {
        if !TASK_NAMES.contains(&name) {
            return Err(StoreError::Invalid(format!(
                "unknown terminal task `{name}`"
            )));
        }
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO terminal_tasks (id, name, args, kwargs, is_finished, date_created, created_by)
             VALUES ($1, $2, $3, $4, FALSE, $5, $6)",
        )
        .bind(id.to_string())
        .bind(name)
        .bind(args)
        .bind(kwargs.to_string())
        .bind(now_micros())
        .bind(created_by)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Every unfinished task, oldest first: the session engine's work queue.
    pub async fn pending_terminal_tasks(&self) -> Result<Vec<TerminalTask>, StoreError> {
        let rows = sqlx::query(trusted(format!(
            "SELECT {TASK_COLUMNS} FROM terminal_tasks t
             WHERE t.is_finished = FALSE ORDER BY t.date_created, t.id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(task_from_row).collect()
    }

    /// Marks a task done. False when it does not exist or was already finished, so two hosts
    /// racing for the same task can tell which one did it.
    pub async fn finish_terminal_task(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE terminal_tasks SET is_finished = TRUE, date_finished = $1
             WHERE id = $2 AND is_finished = FALSE",
        )
        .bind(now_micros())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The total and one page of tasks under `filter`.
    pub async fn list_terminal_tasks(
        &self,
        filter: &TaskFilter,
    ) -> Result<(i64, Vec<TerminalTask>), StoreError> {
        let mut clauses: Vec<String> = Vec::new();
        // Every bound value is text; the SQL only ever holds their `$n` placeholders.
        let mut args: Vec<String> = Vec::new();
        let arg = |v: String, args: &mut Vec<String>| {
            args.push(v);
            format!("${}", args.len())
        };
        if let Some(org) = filter.org {
            let p = arg(org.to_string(), &mut args);
            clauses.push(format!(
                "EXISTS (SELECT 1 FROM sessions s WHERE s.id = t.args AND s.org_id = {p})"
            ));
        }
        if let Some(name) = &filter.name {
            let p = arg(name.clone(), &mut args);
            clauses.push(format!("t.name = {p}"));
        }
        if let Some(session) = filter.session {
            let p = arg(session.to_string(), &mut args);
            clauses.push(format!("t.args = {p}"));
        }
        if let Some(id) = filter.id {
            let p = arg(id.to_string(), &mut args);
            clauses.push(format!("t.id = {p}"));
        }
        match filter.is_finished {
            Some(true) => clauses.push("t.is_finished = TRUE".into()),
            Some(false) => clauses.push("t.is_finished = FALSE".into()),
            None => {}
        }
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let dir = if filter.oldest_first { "ASC" } else { "DESC" };
        let mut count = sqlx::query_scalar(trusted(format!(
            "SELECT COUNT(*) FROM terminal_tasks t {filter_sql}"
        )));
        for a in &args {
            count = count.bind(a.clone());
        }
        let count: i64 = count.fetch_one(&self.pool).await?;
        let mut page = sqlx::query(trusted(format!(
            "SELECT {TASK_COLUMNS} FROM terminal_tasks t {filter_sql}
             ORDER BY t.date_created {dir}, t.id {dir} LIMIT {} OFFSET {}",
            filter.limit.max(0),
            filter.offset.max(0)
        )));
        for a in &args {
            page = page.bind(a.clone());
        }
        let rows = page.fetch_all(&self.pool).await?;
        let tasks = rows.iter().map(task_from_row).collect::<Result<_, _>>()?;
        Ok((count, tasks))
    }

    /// One task, if it exists (and, with `org`, names a session of that org).
    pub async fn terminal_task(
        &self,
        org: Option<Uuid>,
        id: Uuid,
    ) -> Result<Option<TerminalTask>, StoreError> {
        let (_, mut tasks) = self
            .list_terminal_tasks(&TaskFilter {
                org,
                id: Some(id),
                limit: 1,
                ..TaskFilter::default()
            })
            .await?;
        Ok(tasks.pop())
    }

    // -----------------------------------------------------------------------------------------
    // Session rows the tasks and replays need
    // -----------------------------------------------------------------------------------------

    /// Of `ids`, those naming a session that is still running (and, with `org`, belongs to that
    /// org), in the order given and without duplicates. What kill and lock requests may act on.
    pub async fn online_session_ids(
        &self,
        org: Option<Uuid>,
        ids: &[Uuid],
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut out: Vec<Uuid> = Vec::new();
        for id in ids {
            if out.contains(id) {
                continue;
            }
            let found: Option<String> = sqlx::query_scalar(
                "SELECT id FROM sessions
                 WHERE id = $1 AND is_finished = FALSE AND ($2 = '' OR org_id = $2)",
            )
            .bind(id.to_string())
            .bind(org.map(|o| o.to_string()).unwrap_or_default())
            .fetch_optional(&self.pool)
            .await?;
            if found.is_some() {
                out.push(*id);
            }
        }
        Ok(out)
    }

    /// Of `ids`, those naming a finished session, so the engine can drop tasks (and state)
    /// about sessions that are over.
    pub async fn finished_session_ids(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        let mut out = Vec::new();
        for id in ids {
            let found: Option<String> =
                sqlx::query_scalar("SELECT id FROM sessions WHERE id = $1 AND is_finished = TRUE")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
            if found.is_some() && !out.contains(id) {
                out.push(*id);
            }
        }
        Ok(out)
    }

    /// Records that a session was locked or unlocked (the engine calls this once the lock is in
    /// effect, so `is_locked` says what the user experiences). False when there is no such
    /// session.
    pub async fn set_session_locked(&self, id: Uuid, locked: bool) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE sessions SET is_locked = $1 WHERE id = $2")
            .bind(locked)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Where a session's replay is stored, relative to the recordings directory: `None` when the
    /// session does not exist (in `org`, when given) or has no replay. The path is as the
    /// engine wrote it; confining it to the recordings directory is the reader's job.
    pub async fn session_replay_path(
        &self,
        org: Option<Uuid>,
        id: Uuid,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT replay_path, has_replay FROM sessions
             WHERE id = $1 AND ($2 = '' OR org_id = $2)",
        )
        .bind(id.to_string())
        .bind(org.map(|o| o.to_string()).unwrap_or_default())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let path: String = row.try_get("replay_path")?;
        let has: bool = row.try_get::<Flag, _>("has_replay")?.0;
        Ok((has && !path.is_empty()).then_some(path))
    }
}

// ---------------------------------------------------------------------------------------------
// Connection tokens
// ---------------------------------------------------------------------------------------------

/// A connection token to create. Secrets are plaintext here and sealed by the store.
#[derive(Debug, Clone)]
pub struct NewConnectionToken {
    /// Org of the asset.
    pub org: Uuid,
    /// The user the token connects.
    pub user_id: Uuid,
    /// The asset.
    pub asset_id: Uuid,
    /// Account alias: an account id, or `@INPUT`, `@USER`, `@ANON`.
    pub account: String,
    /// Protocol (`ssh`, `sftp`, …).
    pub protocol: String,
    /// `web_cli`, `ssh_client`, … (free text, as the client sent it).
    pub connect_method: String,
    /// The one-time password that redeems the token (chosen by the caller, who must show it).
    pub value: SecretString,
    /// Username typed for `@INPUT`/`@USER` accounts.
    pub input_username: String,
    /// Secret typed for `@INPUT`/`@USER` accounts.
    pub input_secret: Option<SecretString>,
    /// Terminal and RDP preferences (a JSON object).
    pub connect_options: Value,
    /// Whether it may be redeemed now (inactive while a review is pending).
    pub is_active: bool,
    /// Whether redeeming leaves it valid.
    pub is_reusable: bool,
    /// The client address that asked for it.
    pub remote_addr: String,
    /// When it stops working.
    pub date_expired: DateTime<Utc>,
    /// `Name(username)` of the creator.
    pub created_by: String,
}

/// A `connection_tokens` row with the names of what it points at. Never holds the value or
/// the input secret (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionTokenRecord {
    /// Id (the gateway's `JMS-<id>` username).
    pub id: Uuid,
    /// Org of the asset.
    pub org_id: Uuid,
    /// Its name.
    pub org_name: String,
    /// The user.
    pub user_id: Uuid,
    /// `Name(username)` of the user.
    pub user_display: String,
    /// The asset.
    pub asset_id: Uuid,
    /// Its name.
    pub asset_name: String,
    /// Account alias.
    pub account: String,
    /// Protocol.
    pub protocol: String,
    /// Connect method.
    pub connect_method: String,
    /// Typed username.
    pub input_username: String,
    /// Whether a typed secret is stored.
    pub has_input_secret: bool,
    /// Preferences.
    pub connect_options: Value,
    /// Redeemable now.
    pub is_active: bool,
    /// Survives redemption.
    pub is_reusable: bool,
    /// Where it was asked from.
    pub remote_addr: String,
    /// When it stops working.
    pub date_expired: DateTime<Utc>,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Creator.
    pub created_by: String,
}

/// Why [`Store::redeem_connection_token`] refused a token; front doors show one message for
/// all of them (telling a guesser which part was wrong helps nobody) and log the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No such token.
    Unknown,
    /// Disabled by its owner or an admin.
    Inactive,
    /// Past its expiry, or a one-time token already used.
    Expired,
    /// Its user is disabled or expired.
    UserInvalid,
    /// Its user is no longer permitted the token's asset.
    NotPermitted,
}

impl TokenRefusal {
    /// A short reason for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRefusal::Unknown => "unknown token",
            TokenRefusal::Inactive => "token disabled",
            TokenRefusal::Expired => "token expired or already used",
            TokenRefusal::UserInvalid => "user disabled or expired",
            TokenRefusal::NotPermitted => "asset no longer permitted",
        }
    }
}

impl ConnectionTokenRecord {
    /// Whether the token's time is up at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.date_expired <= now
    }
}

const TOKEN_SELECT: &str = "SELECT t.id, t.org_id, o.name AS org_name, t.user_id,
        u.name AS user_name, u.username AS user_username, t.asset_id, a.name AS asset_name,
        t.account, t.protocol, t.connect_method, t.input_username,
        (t.input_secret IS NOT NULL) AS has_input_secret,
        t.connect_options, t.is_active, t.is_reusable, t.remote_addr, t.date_expired,
        t.date_created, t.created_by
    FROM connection_tokens t
    JOIN orgs o ON o.id = t.org_id
    JOIN users u ON u.id = t.user_id
    JOIN assets a ON a.id = t.asset_id";

fn token_from_row(r: &AnyRow) -> Result<ConnectionTokenRecord, StoreError> {
    let id: String = r.try_get("id")?;
    let options: String = r.try_get("connect_options")?;
    let name: String = r.try_get("user_name")?;
    let username: String = r.try_get("user_username")?;
    Ok(ConnectionTokenRecord {
        id: uuid(&id, "connection_tokens.id")?,
        org_id: uuid(
            &r.try_get::<String, _>("org_id")?,
            "connection_tokens.org_id",
        )?,
        org_name: r.try_get("org_name")?,
        user_id: uuid(
            &r.try_get::<String, _>("user_id")?,
            "connection_tokens.user_id",
        )?,
        user_display: format!("{name}({username})"),
        asset_id: uuid(
            &r.try_get::<String, _>("asset_id")?,
            "connection_tokens.asset_id",
        )?,
        asset_name: r.try_get("asset_name")?,
        account: r.try_get("account")?,
        protocol: r.try_get("protocol")?,
        connect_method: r.try_get("connect_method")?,
        input_username: r.try_get("input_username")?,
        has_input_secret: r.try_get::<Flag, _>("has_input_secret")?.0,
        connect_options: serde_json::from_str(&options)
            .map_err(|_| StoreError::Corrupt(format!("connection_tokens.connect_options:{id}")))?,
        is_active: r.try_get::<Flag, _>("is_active")?.0,
        is_reusable: r.try_get::<Flag, _>("is_reusable")?.0,
        remote_addr: r.try_get("remote_addr")?,
        date_expired: from_micros(r.try_get("date_expired")?),
        date_created: from_micros(r.try_get("date_created")?),
        created_by: r.try_get("created_by")?,
    })
}

/// Opens a token envelope, naming the place in the error.
fn open_token(
    vault: &Vault,
    envelope: &str,
    column: &str,
    id: Uuid,
) -> Result<SecretString, StoreError> {
    vault
        .open(envelope, &SealContext::new("connection_tokens", column, id))
        .map_err(|cause| StoreError::Vault {
            place: format!("connection_tokens.{column}:{id}"),
            cause,
        })
}

impl Store {
    /// Creates a token, sealing its value and input secret for this row. The user and the asset
    /// must exist ([`StoreError::NotFound`] otherwise).
    pub async fn create_connection_token(
        &self,
        vault: &Vault,
        new: &NewConnectionToken,
    ) -> Result<Uuid, StoreError> {
        if new.account.is_empty() || new.protocol.is_empty() {
            return Err(StoreError::Invalid(
                "a connection token needs an account and a protocol".into(),
            ));
        }
        if new.value.is_empty() {
            return Err(StoreError::Invalid(
                "a connection token needs a value".into(),
            ));
        }
        let id = Uuid::new_v4();
        let secret = vault.seal(
            &new.value,
            &SealContext::new("connection_tokens", "secret", id),
        );
        let input_secret = new.input_secret.as_ref().map(|s| {
            vault.seal(
                s,
                &SealContext::new("connection_tokens", "input_secret", id),
            )
        });
        let options = if new.connect_options.is_object() {
            new.connect_options.to_string()
        } else {
            "{}".to_owned()
        };
        sqlx::query(
            "INSERT INTO connection_tokens (id, org_id, user_id, asset_id, account, protocol,
                connect_method, secret, input_username, input_secret, connect_options, is_active,
                is_reusable, remote_addr, date_expired, date_created, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(id.to_string())
        .bind(new.org.to_string())
        .bind(new.user_id.to_string())
        .bind(new.asset_id.to_string())
        .bind(&new.account)
        .bind(&new.protocol)
        .bind(&new.connect_method)
        .bind(secret)
        .bind(&new.input_username)
        .bind(input_secret)
        .bind(options)
        .bind(new.is_active)
        .bind(new.is_reusable)
        .bind(&new.remote_addr)
        .bind(micros(new.date_expired))
        .bind(now_micros())
        .bind(&new.created_by)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if let sqlx::Error::Database(db) = &e
                && db.is_foreign_key_violation()
            {
                return StoreError::NotFound("the token's user, asset or org".into());
            }
            StoreError::Sql(e)
        })?;
        Ok(id)
    }

    /// One token, expired or not (callers decide what an expired token is still good for).
    pub async fn connection_token(
        &self,
        id: Uuid,
    ) -> Result<Option<ConnectionTokenRecord>, StoreError> {
        let row = sqlx::query(trusted(format!("{TOKEN_SELECT} WHERE t.id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// The total and one page of a user's unexpired tokens, newest first.
    pub async fn list_connection_tokens(
        &self,
        user_id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<ConnectionTokenRecord>), StoreError> {
        let now = now_micros();
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM connection_tokens WHERE user_id = $1 AND date_expired > $2",
        )
        .bind(user_id.to_string())
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let rows = sqlx::query(trusted(format!(
            "{TOKEN_SELECT} WHERE t.user_id = $1 AND t.date_expired > $2
             ORDER BY t.date_created DESC, t.id DESC LIMIT {} OFFSET {}",
            limit.max(0),
            offset.max(0)
        )))
        .bind(user_id.to_string())
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let tokens = rows.iter().map(token_from_row).collect::<Result<_, _>>()?;
        Ok((count, tokens))
    }

    /// Ends a token now (JumpServer's `expire`: the expiry moves to the present). False when
    /// there is no such token.
    pub async fn expire_connection_token(&self, id: Uuid) -> Result<bool, StoreError> {
        let now = now_micros();
        let done = sqlx::query(
            "UPDATE connection_tokens SET date_expired = CASE WHEN date_expired < $1
                 THEN date_expired ELSE $1 END
             WHERE id = $2",
        )
        .bind(now)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Redeems a token: the one place every front door (SSH `JMS-<id>` logins, the web
    /// terminal, the web file manager) decides whether a token may open a session now. It must
    /// exist, be active and unexpired, belong to a user who is active and not expired, and that
    /// user must still be permitted the token's asset. A one-time token is used up here, by an
    /// update that succeeds for exactly one caller however many race for it, so it opens one
    /// session; a reusable one stays. Callers check what is theirs to check first (the value
    /// typed, the owner, the connect method), so a wrong guess does not burn a token.
    pub async fn redeem_connection_token(
        &self,
        id: Uuid,
    ) -> Result<Result<ConnectionTokenRecord, TokenRefusal>, StoreError> {
        let Some(record) = self.connection_token(id).await? else {
            return Ok(Err(TokenRefusal::Unknown));
        };
        if !record.is_active {
            return Ok(Err(TokenRefusal::Inactive));
        }
        let now = Utc::now();
        if record.is_expired(now) {
            return Ok(Err(TokenRefusal::Expired));
        }
        let user = self.user_record(&record.user_id.to_string()).await?;
        let user_ok = user.is_some_and(|u| u.is_active && u.date_expired.is_none_or(|d| d > now));
        if !user_ok {
            return Ok(Err(TokenRefusal::UserInvalid));
        }
        if self
            .user_asset_grant(record.user_id, record.asset_id)
            .await?
            .is_none()
        {
            return Ok(Err(TokenRefusal::NotPermitted));
        }
        if record.is_reusable {
            return Ok(Ok(record));
        }
        let now = now_micros();
        let done = sqlx::query(
            "UPDATE connection_tokens SET date_expired = $1
             WHERE id = $2 AND date_expired > $1 AND is_active = $3 AND is_reusable = $4",
        )
        .bind(now)
        .bind(id.to_string())
        .bind(true)
        .bind(false)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            Ok(Ok(record))
        } else {
            // Another session took it between the read and the update.
            Ok(Err(TokenRefusal::Expired))
        }
    }

    /// Makes a token reusable (or one-time again) with a new expiry. Whether reuse is allowed
    /// at all is a setting the caller checks. False when there is no such token.
    pub async fn set_connection_token_reusable(
        &self,
        id: Uuid,
        reusable: bool,
        date_expired: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE connection_tokens SET is_reusable = $1, date_expired = $2 WHERE id = $3",
        )
        .bind(reusable)
        .bind(micros(date_expired))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The token's value, opened. `None` when there is no such token. Callers compare it in
    /// constant time and never log it.
    pub async fn connection_token_secret(
        &self,
        vault: &Vault,
        id: Uuid,
    ) -> Result<Option<SecretString>, StoreError> {
        let sealed: Option<String> =
            sqlx::query_scalar("SELECT secret FROM connection_tokens WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        sealed
            .map(|e| open_token(vault, &e, "secret", id))
            .transpose()
    }

    /// The secret typed with the token (`@INPUT`/`@USER` accounts), opened; `None` when there
    /// is no such token or no secret was typed.
    pub async fn connection_token_input_secret(
        &self,
        vault: &Vault,
        id: Uuid,
    ) -> Result<Option<SecretString>, StoreError> {
        let sealed: Option<Option<String>> =
            sqlx::query_scalar("SELECT input_secret FROM connection_tokens WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        sealed
            .flatten()
            .map(|e| open_token(vault, &e, "input_secret", id))
            .transpose()
    }
}
