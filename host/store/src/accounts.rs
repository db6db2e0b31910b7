//! Accounts on assets, account templates, previous secrets, and asset permissions with their
//! relation rows.
//!
//! Secrets arrive as plaintext [`SecretString`]s and are sealed here, inside the transaction
//! that writes the row, because the row id is part of the associated data: sealing anywhere
//! else would invite a value sealed for one row being stored in another. Reads never return a
//! sealed value; the two functions that open secrets ([`Store::account_secret`] and
//! [`Store::account_secret_histories`]) are the only way out, so callers that must log every
//! secret read have one place to do it.
//!
//! The store makes no access decision: which org a caller may see is passed in as a filter,
//! and which accounts a permission selects is decided by the API from the core's
//! `AccountSpec`.

use crate::codec::{Flag, from_micros, micros, now_micros, trusted, uuid};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use portcullis_core::secret::SecretString;
use portcullis_core::vault::{SealContext, Vault};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;
use uuid::Uuid;

/// A bind value of a dynamically assembled statement. Values are kept typed because
/// PostgreSQL refuses to compare a BIGINT column with a text parameter.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Int(i64),
}

/// Bind values in placeholder order; each `push` returns the `$n` to put into the SQL text,
/// so the text only ever contains constants and placeholders.
#[derive(Debug, Default)]
struct Args(Vec<Arg>);

impl Args {
    fn text(&mut self, v: impl Into<String>) -> String {
        self.0.push(Arg::Text(v.into()));
        format!("${}", self.0.len())
    }

    fn int(&mut self, v: i64) -> String {
        self.0.push(Arg::Int(v));
        format!("${}", self.0.len())
    }

    /// `$a, $b, …` for a list of ids.
    fn ids(&mut self, ids: &[Uuid]) -> String {
        ids.iter()
            .map(|i| self.text(i.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Binds every value of an [`Args`] to a query (plain or scalar).
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in &$args.0 {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// `WHERE a AND b …`, or nothing.
fn where_clause(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}

/// `col = TRUE|FALSE` (literal, so no typed bind is needed on either database).
fn bool_clause(col: &str, v: bool) -> String {
    format!("{col} = {}", if v { "TRUE" } else { "FALSE" })
}

/// The ORDER BY column for a requested `order` among allowed `(name, sql)` pairs.
fn order_by(
    order: Option<&str>,
    default: &str,
    allowed: &[(&str, &str)],
    what: &str,
) -> Result<String, StoreError> {
    let (col, dir) = crate::codec::order_column(order, default, allowed, what)?;
    Ok(format!("{col} {dir}"))
}

/// Case-insensitive search: every whitespace-separated term must match one of `cols`.
fn search_clauses(search: Option<&str>, cols: &[&str], args: &mut Args, out: &mut Vec<String>) {
    let Some(search) = search else { return };
    for term in search.split_whitespace() {
        let p = args.text(format!(
            "%{}%",
            crate::codec::like_escape(&term.to_lowercase())
        ));
        let any = cols
            .iter()
            .map(|c| format!("LOWER({c}) LIKE {p} ESCAPE '\\'"))
            .collect::<Vec<_>>()
            .join(" OR ");
        out.push(format!("({any})"));
    }
}

fn get_uuid(row: &AnyRow, col: &str) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(col)?;
    uuid(&text, col)
}

fn opt_uuid(row: &AnyRow, col: &str) -> Result<Option<Uuid>, StoreError> {
    let text: Option<String> = row.try_get(col)?;
    text.map(|t| uuid(&t, col)).transpose()
}

fn opt_time(row: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(from_micros))
}

fn json_col(row: &AnyRow, col: &str) -> Result<Value, StoreError> {
    let text: String = row.try_get(col)?;
    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt(format!("{col}: `{text}`")))
}

fn flag(row: &AnyRow, col: &str) -> Result<bool, StoreError> {
    Ok(row.try_get::<Flag, _>(col)?.0)
}

/// Maps constraint failures of a write to what the API can tell the client.
fn write_error(err: sqlx::Error, what: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Conflict(what.to_owned());
        }
        if db.is_foreign_key_violation() {
            return StoreError::NotFound("a referenced object".to_owned());
        }
    }
    StoreError::Sql(err)
}

/// Opens a stored envelope, naming the place in the error.
fn open(
    vault: &Vault,
    envelope: &str,
    ctx: &SealContext,
    place: String,
) -> Result<SecretString, StoreError> {
    vault
        .open(envelope, ctx)
        .map_err(|cause| StoreError::Vault { place, cause })
}

// ---------------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------------

/// The asset an account belongs to, as the account serializer shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRef {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Category (`host`, `database`, …).
    pub category: String,
    /// Type (`linux`, `mysql`, …).
    pub type_: String,
    /// Platform id.
    pub platform_id: i64,
    /// Platform name.
    pub platform_name: String,
    /// Org of the asset.
    pub org_id: Uuid,
}

/// The account another account switches from (`su_from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuFrom {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Username.
    pub username: Option<String>,
}

/// An account as the API shows it: no secret, only whether one is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRecord {
    /// Id.
    pub id: Uuid,
    /// Org (always the asset's).
    pub org_id: Uuid,
    /// Org name.
    pub org_name: String,
    /// The asset.
    pub asset: AssetRef,
    /// Display name, unique per asset.
    pub name: String,
    /// Login name; `None` for no-username authentication.
    pub username: Option<String>,
    /// `password`, `ssh_key`, `access_key`, `token` or `api_key`.
    pub secret_type: String,
    /// Whether a secret is stored.
    pub has_secret: bool,
    /// Privileged account.
    pub privileged: bool,
    /// Active.
    pub is_active: bool,
    /// `local`, `collected` or `template`.
    pub source: String,
    /// The id of the source object (the template for `template`).
    pub source_id: Option<String>,
    /// The template it was created from.
    pub template_id: Option<Uuid>,
    /// The account it switches from.
    pub su_from: Option<SuFrom>,
    /// Secret version, bumped on every change.
    pub version: i64,
    /// Whether the secret is reset by change-secret automation.
    pub secret_reset: bool,
    /// Last connectivity check result.
    pub connectivity: String,
    /// Last change-secret status.
    pub change_secret_status: String,
    /// Last login through this account.
    pub date_last_login: Option<DateTime<Utc>>,
    /// Who last logged in with it.
    pub login_by: String,
    /// Last verification.
    pub date_verified: Option<DateTime<Utc>>,
    /// Last automated secret change.
    pub date_change_secret: Option<DateTime<Utc>>,
    /// Automation parameters.
    pub params: Value,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
    /// Last updater.
    pub updated_by: String,
    /// Creation time.
    pub date_created: DateTime<Utc>,
    /// Last update.
    pub date_updated: DateTime<Utc>,
}

/// Columns of [`AccountRecord`]; never the secret columns themselves.
const ACCOUNT_SELECT: &str = "SELECT a.id, a.org_id, o.name AS org_name, a.asset_id,
    s.name AS asset_name, s.address AS asset_address, s.category AS asset_category,
    s.type AS asset_type, s.platform_id, p.name AS platform_name, a.name, a.username,
    a.secret_type, a.secret IS NOT NULL AS has_secret, a.privileged, a.is_active, a.source,
    a.source_id, a.template_id, a.su_from_id, f.name AS su_from_name,
    f.username AS su_from_username, a.version, a.secret_reset, a.connectivity,
    a.change_secret_status, a.date_last_login, a.login_by, a.date_verified,
    a.date_change_secret, a.params, a.comment, a.created_by, a.updated_by, a.date_created,
    a.date_updated";

const ACCOUNT_FROM: &str = "FROM accounts a JOIN assets s ON s.id = a.asset_id
    JOIN platforms p ON p.id = s.platform_id JOIN orgs o ON o.id = a.org_id
    LEFT JOIN accounts f ON f.id = a.su_from_id";

fn account_from_row(r: &AnyRow) -> Result<AccountRecord, StoreError> {
    let su_from = match opt_uuid(r, "su_from_id")? {
        Some(id) => Some(SuFrom {
            id,
            name: r
                .try_get::<Option<String>, _>("su_from_name")?
                .unwrap_or_default(),
            username: r.try_get("su_from_username")?,
        }),
        None => None,
    };
    let org_id = get_uuid(r, "org_id")?;
    Ok(AccountRecord {
        id: get_uuid(r, "id")?,
        org_id,
        org_name: r.try_get("org_name")?,
        asset: AssetRef {
            id: get_uuid(r, "asset_id")?,
            name: r.try_get("asset_name")?,
            address: r.try_get("asset_address")?,
            category: r.try_get("asset_category")?,
            type_: r.try_get("asset_type")?,
            platform_id: r.try_get("platform_id")?,
            platform_name: r.try_get("platform_name")?,
            org_id,
        },
        name: r.try_get("name")?,
        username: r.try_get("username")?,
        secret_type: r.try_get("secret_type")?,
        has_secret: flag(r, "has_secret")?,
        privileged: flag(r, "privileged")?,
        is_active: flag(r, "is_active")?,
        source: r.try_get("source")?,
        source_id: r.try_get("source_id")?,
        template_id: opt_uuid(r, "template_id")?,
        su_from,
        version: r.try_get("version")?,
        secret_reset: flag(r, "secret_reset")?,
        connectivity: r.try_get("connectivity")?,
        change_secret_status: r.try_get("change_secret_status")?,
        date_last_login: opt_time(r, "date_last_login")?,
        login_by: r.try_get("login_by")?,
        date_verified: opt_time(r, "date_verified")?,
        date_change_secret: opt_time(r, "date_change_secret")?,
        params: json_col(r, "params")?,
        comment: r.try_get("comment")?,
        created_by: r.try_get("created_by")?,
        updated_by: r.try_get("updated_by")?,
        date_created: from_micros(r.try_get("date_created")?),
        date_updated: from_micros(r.try_get("date_updated")?),
    })
}

/// Filters of the account list (reference §4.9).
#[derive(Debug, Clone, Default)]
pub struct AccountQuery {
    /// Only this org; `None` = every org (root view).
    pub org: Option<Uuid>,
    /// Terms matched against username, name, asset name, asset address and comment.
    pub search: Option<String>,
    /// Accounts of this asset.
    pub asset_id: Option<Uuid>,
    /// Exact username.
    pub username: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Privileged flag.
    pub privileged: Option<bool>,
    /// Active flag.
    pub is_active: Option<bool>,
    /// Secret type.
    pub secret_type: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// Whether a secret is stored.
    pub has_secret: Option<bool>,
    /// Only these ids.
    pub ids: Option<Vec<Uuid>>,
    /// List lookups applied in SQL (see `lookups.rs`, [`crate::lookups::ACCOUNT_FIELDS`]).
    pub lookups: Vec<crate::lookups::SqlLookup>,
    /// Order field, `-` for descending.
    pub order: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

const ACCOUNT_ORDER: &[(&str, &str)] = &[
    ("name", "a.name"),
    ("username", "a.username"),
    ("asset", "s.name"),
    ("secret_type", "a.secret_type"),
    ("source", "a.source"),
    ("privileged", "a.privileged"),
    ("is_active", "a.is_active"),
    ("version", "a.version"),
    ("date_created", "a.date_created"),
    ("date_updated", "a.date_updated"),
];

/// What an account is created with. Secrets are plaintext here and sealed by the store.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Org (must be the asset's; the schema enforces it).
    pub org_id: Uuid,
    /// Asset.
    pub asset_id: Uuid,
    /// Name, unique per asset.
    pub name: String,
    /// Username.
    pub username: Option<String>,
    /// Secret type.
    pub secret_type: String,
    /// Secret.
    pub secret: Option<SecretString>,
    /// Passphrase of an SSH key.
    pub passphrase: Option<SecretString>,
    /// Privileged.
    pub privileged: bool,
    /// Active.
    pub is_active: bool,
    /// `local` or `template`.
    pub source: String,
    /// Source object id.
    pub source_id: Option<String>,
    /// Template.
    pub template_id: Option<Uuid>,
    /// The account it switches from (on the same asset).
    pub su_from: Option<Uuid>,
    /// Automation parameters.
    pub params: Value,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
}

/// The changeable fields of an account, all written at once (the API merges a PATCH into the
/// current values first). `secret`/`passphrase` `None` keep the stored value.
#[derive(Debug, Clone)]
pub struct AccountUpdate {
    /// Name.
    pub name: String,
    /// Username.
    pub username: Option<String>,
    /// Secret type.
    pub secret_type: String,
    /// A new secret; `None` keeps the stored one.
    pub secret: Option<SecretString>,
    /// A new passphrase; `None` keeps the stored one.
    pub passphrase: Option<SecretString>,
    /// Privileged.
    pub privileged: bool,
    /// Active.
    pub is_active: bool,
    /// The account it switches from.
    pub su_from: Option<Uuid>,
    /// Automation parameters.
    pub params: Value,
    /// Comment.
    pub comment: String,
}

/// A previous secret of an account, opened.
#[derive(Debug, Clone)]
pub struct SecretHistory {
    /// Id.
    pub id: Uuid,
    /// Secret type at the time.
    pub secret_type: String,
    /// The secret (`None` if none was stored).
    pub secret: Option<SecretString>,
    /// The version this secret had.
    pub version: i64,
    /// Who replaced it.
    pub history_user: String,
    /// When it was replaced.
    pub history_date: DateTime<Utc>,
}

const ACCOUNT_CONFLICT: &str =
    "an account with this name, or this username and secret type, on the asset";

impl Store {
    /// A page of accounts matching `q`, with the total count.
    pub async fn list_accounts(
        &self,
        q: &AccountQuery,
    ) -> Result<(i64, Vec<AccountRecord>), StoreError> {
        let mut args = Args::default();
        let mut clauses = Vec::new();
        if let Some(org) = q.org {
            clauses.push(format!("a.org_id = {}", args.text(org.to_string())));
        }
        search_clauses(
            q.search.as_deref(),
            &["a.username", "a.name", "s.name", "s.address", "a.comment"],
            &mut args,
            &mut clauses,
        );
        if let Some(asset) = q.asset_id {
            clauses.push(format!("a.asset_id = {}", args.text(asset.to_string())));
        }
        for (col, val) in [
            ("a.username", &q.username),
            ("a.name", &q.name),
            ("a.secret_type", &q.secret_type),
            ("a.source", &q.source),
        ] {
            if let Some(v) = val {
                clauses.push(format!("{col} = {}", args.text(v.clone())));
            }
        }
        if let Some(v) = q.privileged {
            clauses.push(bool_clause("a.privileged", v));
        }
        if let Some(v) = q.is_active {
            clauses.push(bool_clause("a.is_active", v));
        }
        if let Some(v) = q.has_secret {
            clauses.push(format!("a.secret IS {}NULL", if v { "NOT " } else { "" }));
        }
        if let Some(ids) = &q.ids {
            if ids.is_empty() {
                clauses.push("1 = 0".into());
            } else {
                clauses.push(format!("a.id IN ({})", args.ids(ids)));
            }
        }
        clauses.extend(crate::lookups::render(
            &crate::lookups::ACCOUNT_FIELDS,
            &q.lookups,
            self.backend(),
            &mut |v| args.text(v),
        ));
        let filter = where_clause(&clauses);
        let order = order_by(q.order.as_deref(), "name", ACCOUNT_ORDER, "accounts")?;
        let count: i64 = bind_args!(
            sqlx::query_scalar(trusted(format!("SELECT COUNT(*) {ACCOUNT_FROM} {filter}"))),
            args
        )
        .fetch_one(&self.pool)
        .await?;
        let sql = format!(
            "{ACCOUNT_SELECT} {ACCOUNT_FROM} {filter} ORDER BY {order}, s.name, a.id LIMIT {} OFFSET {}",
            q.limit.max(0),
            q.offset.max(0)
        );
        let rows = bind_args!(sqlx::query(trusted(sql)), args)
            .fetch_all(&self.pool)
            .await?;
        let accounts = rows
            .iter()
            .map(account_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((count, accounts))
    }

    /// One account by id, in any org (the caller checks the org).
    pub async fn account(&self, id: Uuid) -> Result<Option<AccountRecord>, StoreError> {
        let row = sqlx::query(trusted(format!(
            "{ACCOUNT_SELECT} {ACCOUNT_FROM} WHERE a.id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// The accounts on any of `assets`, ordered by asset name, name and username.
    pub async fn accounts_on_assets(
        &self,
        assets: &[Uuid],
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let mut out = Vec::new();
        for chunk in assets.chunks(500) {
            let mut args = Args::default();
            let list = args.ids(chunk);
            let sql = format!(
                "{ACCOUNT_SELECT} {ACCOUNT_FROM} WHERE a.asset_id IN ({list}) ORDER BY s.name, a.name, a.username"
            );
            for r in bind_args!(sqlx::query(trusted(sql)), args)
                .fetch_all(&self.pool)
                .await?
            {
                out.push(account_from_row(&r)?);
            }
        }
        Ok(out)
    }

    /// The account on `asset` that a new account with this name, or this username and secret
    /// type, would collide with.
    pub async fn account_conflict(
        &self,
        asset: Uuid,
        name: &str,
        username: Option<&str>,
        secret_type: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT id FROM accounts WHERE asset_id = $1
               AND (name = $2 OR (username = $3 AND secret_type = $4))
             ORDER BY CASE WHEN name = $2 THEN 0 ELSE 1 END LIMIT 1",
        )
        .bind(asset.to_string())
        .bind(name)
        .bind(username.map(str::to_owned))
        .bind(secret_type)
        .fetch_optional(&self.pool)
        .await?;
        id.map(|i| uuid(&i, "accounts.id")).transpose()
    }

    /// Creates accounts in one transaction (all or none), sealing their secrets.
    pub async fn create_accounts(
        &self,
        vault: &Vault,
        new: &[NewAccount],
    ) -> Result<Vec<Uuid>, StoreError> {
        let now = now_micros();
        let mut tx = self.begin_write().await?;
        let mut ids = Vec::with_capacity(new.len());
        for a in new {
            let id = Uuid::new_v4();
            let secret = a
                .secret
                .as_ref()
                .map(|s| vault.seal(s, &SealContext::new("accounts", "secret", id)));
            let passphrase = a
                .passphrase
                .as_ref()
                .map(|s| vault.seal(s, &SealContext::new("accounts", "passphrase", id)));
            // A stored secret is version 1, as JumpServer numbers a new account's secret.
            let version: i64 = if secret.is_some() { 1 } else { 0 };
            sqlx::query(
                "INSERT INTO accounts (id, org_id, asset_id, name, username, secret_type, secret,
                    passphrase, privileged, is_active, source, source_id, template_id, su_from_id,
                    version, params, comment, created_by, updated_by, date_created, date_updated)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                    $17, $18, $18, $19, $19)",
            )
            .bind(id.to_string())
            .bind(a.org_id.to_string())
            .bind(a.asset_id.to_string())
            .bind(&a.name)
            .bind(a.username.clone())
            .bind(&a.secret_type)
            .bind(secret)
            .bind(passphrase)
            .bind(a.privileged)
            .bind(a.is_active)
            .bind(&a.source)
            .bind(a.source_id.clone())
            .bind(a.template_id.map(|t| t.to_string()))
            .bind(a.su_from.map(|t| t.to_string()))
            .bind(version)
            .bind(a.params.to_string())
            .bind(&a.comment)
            .bind(&a.created_by)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error(e, ACCOUNT_CONFLICT))?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Writes an account's fields. A new secret that differs from the stored one bumps
    /// `version` and moves the old secret to `account_secret_histories`, re-sealed for its new
    /// row, in the same transaction. Returns false when the account does not exist.
    pub async fn update_account(
        &self,
        vault: &Vault,
        id: Uuid,
        u: &AccountUpdate,
        by: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let found = update_account_in(&mut tx, vault, id, u, by).await?;
        tx.commit().await?;
        Ok(found)
    }

    /// Deletes an account and its labels; false when absent. Its history goes with it.
    pub async fn delete_account(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM labeled_resources WHERE res_type = 'accounts.account' AND res_id = $1",
        )
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error(e, "account"))?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// The plaintext secret of an account (`None` when none is stored). Callers log the read.
    pub async fn account_secret(
        &self,
        vault: &Vault,
        id: Uuid,
    ) -> Result<Option<SecretString>, StoreError> {
        let sealed: Option<Option<String>> =
            sqlx::query_scalar("SELECT secret FROM accounts WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        sealed
            .flatten()
            .map(|e| {
                open(
                    vault,
                    &e,
                    &SealContext::new("accounts", "secret", id),
                    format!("accounts.secret:{id}"),
                )
            })
            .transpose()
    }

    /// The plaintext passphrase of an account's private key (`None` when none is stored).
    /// The session engine reads it with the key to log in to the asset.
    pub async fn account_passphrase(
        &self,
        vault: &Vault,
        id: Uuid,
    ) -> Result<Option<SecretString>, StoreError> {
        let sealed: Option<Option<String>> =
            sqlx::query_scalar("SELECT passphrase FROM accounts WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        sealed
            .flatten()
            .filter(|e| !e.is_empty())
            .map(|e| {
                open(
                    vault,
                    &e,
                    &SealContext::new("accounts", "passphrase", id),
                    format!("accounts.passphrase:{id}"),
                )
            })
            .transpose()
    }

    /// The previous secrets of an account, newest first, opened. Callers log the read.
    pub async fn account_secret_histories(
        &self,
        vault: &Vault,
        account: Uuid,
    ) -> Result<Vec<SecretHistory>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, secret_type, secret, version, history_user, history_date
             FROM account_secret_histories WHERE account_id = $1 ORDER BY version DESC, history_date DESC",
        )
        .bind(account.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id = get_uuid(r, "id")?;
                let sealed: Option<String> = r.try_get("secret")?;
                let secret = sealed
                    .map(|e| {
                        open(
                            vault,
                            &e,
                            &SealContext::new("account_secret_histories", "secret", id),
                            format!("account_secret_histories.secret:{id}"),
                        )
                    })
                    .transpose()?;
                Ok(SecretHistory {
                    id,
                    secret_type: r.try_get("secret_type")?,
                    secret,
                    version: r.try_get("version")?,
                    history_user: r.try_get("history_user")?,
                    history_date: from_micros(r.try_get("history_date")?),
                })
            })
            .collect()
    }
}

/// [`Store::update_account`] inside the caller's write transaction, so that several accounts
/// (a bulk update) are written together or not at all: the new secret is sealed and the old
/// one kept in the history in the same transaction, so a rollback takes both back.
pub(crate) async fn update_account_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    vault: &Vault,
    id: Uuid,
    u: &AccountUpdate,
    by: &str,
) -> Result<bool, StoreError> {
    let now = now_micros();
    let Some(row) = sqlx::query("SELECT secret, secret_type, version FROM accounts WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(false);
    };
    let old_secret: Option<String> = row.try_get("secret")?;
    let old_type: String = row.try_get("secret_type")?;
    let version: i64 = row.try_get("version")?;
    let ctx = SealContext::new("accounts", "secret", id);
    let place = || format!("accounts.secret:{id}");
    let mut new_secret = None;
    if let Some(secret) = &u.secret {
        let old_plain = old_secret
            .as_deref()
            .map(|e| open(vault, e, &ctx, place()))
            .transpose()?;
        let changed = old_plain
            .as_ref()
            .is_none_or(|o| o.expose() != secret.expose());
        if changed {
            if let Some(old) = &old_plain {
                let hid = Uuid::new_v4();
                let sealed = vault.seal(
                    old,
                    &SealContext::new("account_secret_histories", "secret", hid),
                );
                sqlx::query(
                    "INSERT INTO account_secret_histories (id, account_id, secret_type, secret,
                        version, history_user, history_date) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(hid.to_string())
                .bind(id.to_string())
                .bind(&old_type)
                .bind(sealed)
                .bind(version)
                .bind(by)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
            new_secret = Some(vault.seal(secret, &ctx));
        }
    }
    let mut args = Args::default();
    let mut sets = vec![
        format!("name = {}", args.text(u.name.clone())),
        format!("secret_type = {}", args.text(u.secret_type.clone())),
        bool_clause("privileged", u.privileged),
        bool_clause("is_active", u.is_active),
        format!("params = {}", args.text(u.params.to_string())),
        format!("comment = {}", args.text(u.comment.clone())),
        format!("updated_by = {}", args.text(by)),
        format!("date_updated = {}", args.int(now)),
    ];
    sets.push(match &u.username {
        Some(n) => format!("username = {}", args.text(n.clone())),
        None => "username = NULL".into(),
    });
    sets.push(match u.su_from {
        Some(s) => format!("su_from_id = {}", args.text(s.to_string())),
        None => "su_from_id = NULL".into(),
    });
    if let Some(sealed) = new_secret {
        sets.push(format!("secret = {}", args.text(sealed)));
        sets.push(format!("version = {}", args.int(version + 1)));
    }
    if let Some(p) = &u.passphrase {
        let sealed = vault.seal(p, &SealContext::new("accounts", "passphrase", id));
        sets.push(format!("passphrase = {}", args.text(sealed)));
    }
    let idp = args.text(id.to_string());
    let sql = format!("UPDATE accounts SET {} WHERE id = {idp}", sets.join(", "));
    bind_args!(sqlx::query(trusted(sql)), args)
        .execute(&mut **tx)
        .await
        .map_err(|e| write_error(e, ACCOUNT_CONFLICT))?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// References: which ids exist in an org
// ---------------------------------------------------------------------------------------------

/// A kind of object another object can point at, for validating references before a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// An asset of the org.
    Asset,
    /// A node of the org.
    Node,
    /// A user who is a member of the org (holds an org role in it).
    User,
    /// A user group of the org.
    UserGroup,
    /// An account of the org.
    Account,
    /// An account template of the org.
    Template,
    /// An asset permission of the org.
    Permission,
}

impl RefKind {
    fn sql(self) -> &'static str {
        match self {
            RefKind::Asset => "SELECT id FROM assets WHERE org_id = $1 AND id IN ({in})",
            RefKind::Node => "SELECT id FROM nodes WHERE org_id = $1 AND id IN ({in})",
            RefKind::User => {
                "SELECT DISTINCT user_id FROM role_bindings WHERE org_id = $1 AND user_id IN ({in})"
            }
            RefKind::UserGroup => "SELECT id FROM user_groups WHERE org_id = $1 AND id IN ({in})",
            RefKind::Account => "SELECT id FROM accounts WHERE org_id = $1 AND id IN ({in})",
            RefKind::Template => {
                "SELECT id FROM account_templates WHERE org_id = $1 AND id IN ({in})"
            }
            RefKind::Permission => {
                "SELECT id FROM asset_permissions WHERE org_id = $1 AND id IN ({in})"
            }
        }
    }
}

impl Store {
    /// The ids among `ids` that are not objects of `kind` in `org`, in input order.
    pub async fn missing_refs(
        &self,
        kind: RefKind,
        org: Uuid,
        ids: &[Uuid],
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut found = std::collections::HashSet::new();
        for chunk in ids.chunks(500) {
            let mut args = Args::default();
            args.text(org.to_string());
            let list = args.ids(chunk);
            let sql = kind.sql().replace("{in}", &list);
            let rows: Vec<String> = bind_args!(sqlx::query_scalar(trusted(sql)), args)
                .fetch_all(&self.pool)
                .await?;
            for r in rows {
                found.insert(uuid(&r, "ref id")?);
            }
        }
        Ok(ids.iter().filter(|i| !found.contains(i)).copied().collect())
    }

    /// The platform ids among `ids` that do not exist.
    pub async fn missing_platforms(&self, ids: &[i64]) -> Result<Vec<i64>, StoreError> {
        let names = self.platform_names().await?;
        Ok(ids
            .iter()
            .filter(|i| !names.contains_key(i))
            .copied()
            .collect())
    }

    async fn platform_names(&self) -> Result<HashMap<i64, String>, StoreError> {
        let rows = sqlx::query("SELECT id, name FROM platforms")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<i64, _>("id")?, r.try_get::<String, _>("name")?)))
            .collect()
    }

    /// `name(address)` of assets, as JumpServer prints an asset.
    pub async fn asset_labels(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, String>, StoreError> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            let mut args = Args::default();
            let list = args.ids(chunk);
            let sql = format!("SELECT id, name, address FROM assets WHERE id IN ({list})");
            for r in bind_args!(sqlx::query(trusted(sql)), args)
                .fetch_all(&self.pool)
                .await?
            {
                let name: String = r.try_get("name")?;
                let address: String = r.try_get("address")?;
                out.insert(get_uuid(&r, "id")?, format!("{name}({address})"));
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Account templates
// ---------------------------------------------------------------------------------------------

/// An account template as the API shows it (no secret).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateRecord {
    /// Id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// Org name.
    pub org_name: String,
    /// Name, unique per org.
    pub name: String,
    /// Username.
    pub username: Option<String>,
    /// Secret type.
    pub secret_type: String,
    /// Whether a secret is stored.
    pub has_secret: bool,
    /// Privileged.
    pub privileged: bool,
    /// Active.
    pub is_active: bool,
    /// `specific` or `random`.
    pub secret_strategy: String,
    /// `{length, lowercase, uppercase, digit, symbol, exclude_symbols}`.
    pub password_rules: Value,
    /// Push accounts made from it to assets.
    pub auto_push: bool,
    /// Push parameters.
    pub push_params: Value,
    /// Platforms `(id, name)`.
    pub platforms: Vec<(i64, String)>,
    /// Template it switches from `(id, name, username)`.
    pub su_from: Option<SuFrom>,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
    /// Last updater.
    pub updated_by: String,
    /// Creation time.
    pub date_created: DateTime<Utc>,
    /// Last update.
    pub date_updated: DateTime<Utc>,
}

/// Every writable field of a template (the API merges a PATCH first).
/// `secret`/`passphrase` `None` keep the stored value.
#[derive(Debug, Clone)]
pub struct TemplateFields {
    /// Name.
    pub name: String,
    /// Username.
    pub username: Option<String>,
    /// Secret type.
    pub secret_type: String,
    /// New secret, or keep.
    pub secret: Option<SecretString>,
    /// New passphrase, or keep.
    pub passphrase: Option<SecretString>,
    /// Privileged.
    pub privileged: bool,
    /// Active.
    pub is_active: bool,
    /// `specific` or `random`.
    pub secret_strategy: String,
    /// Password rules object.
    pub password_rules: Value,
    /// Auto push.
    pub auto_push: bool,
    /// Push parameters object.
    pub push_params: Value,
    /// Platform ids.
    pub platforms: Vec<i64>,
    /// Template it switches from.
    pub su_from: Option<Uuid>,
    /// Comment.
    pub comment: String,
}

/// Filters of the template list.
#[derive(Debug, Clone, Default)]
pub struct TemplateQuery {
    /// Only this org; `None` = every org.
    pub org: Option<Uuid>,
    /// Terms matched against name and username.
    pub search: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Exact username.
    pub username: Option<String>,
    /// Secret type.
    pub secret_type: Option<String>,
    /// Privileged.
    pub privileged: Option<bool>,
    /// Active.
    pub is_active: Option<bool>,
    /// Only these ids.
    pub ids: Option<Vec<Uuid>>,
    /// Order.
    pub order: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

const TEMPLATE_SELECT: &str = "SELECT t.id, t.org_id, o.name AS org_name, t.name, t.username,
    t.secret_type, t.secret IS NOT NULL AS has_secret, t.privileged, t.is_active,
    t.secret_strategy, t.password_rules, t.auto_push, t.push_params, t.platforms, t.su_from_id,
    f.name AS su_from_name, f.username AS su_from_username, t.comment, t.created_by,
    t.updated_by, t.date_created, t.date_updated
    FROM account_templates t JOIN orgs o ON o.id = t.org_id
    LEFT JOIN account_templates f ON f.id = t.su_from_id";

const TEMPLATE_ORDER: &[(&str, &str)] = &[
    ("name", "t.name"),
    ("username", "t.username"),
    ("secret_type", "t.secret_type"),
    ("privileged", "t.privileged"),
    ("is_active", "t.is_active"),
    ("date_created", "t.date_created"),
    ("date_updated", "t.date_updated"),
];

const TEMPLATE_CONFLICT: &str = "an account template with this name";

fn template_from_row(
    r: &AnyRow,
    platforms: &HashMap<i64, String>,
) -> Result<TemplateRecord, StoreError> {
    let ids: Vec<i64> = serde_json::from_value(json_col(r, "platforms")?)
        .map_err(|_| StoreError::Corrupt("account_templates.platforms".into()))?;
    let su_from = match opt_uuid(r, "su_from_id")? {
        Some(id) => Some(SuFrom {
            id,
            name: r
                .try_get::<Option<String>, _>("su_from_name")?
                .unwrap_or_default(),
            username: r.try_get("su_from_username")?,
        }),
        None => None,
    };
    Ok(TemplateRecord {
        id: get_uuid(r, "id")?,
        org_id: get_uuid(r, "org_id")?,
        org_name: r.try_get("org_name")?,
        name: r.try_get("name")?,
        username: r.try_get("username")?,
        secret_type: r.try_get("secret_type")?,
        has_secret: flag(r, "has_secret")?,
        privileged: flag(r, "privileged")?,
        is_active: flag(r, "is_active")?,
        secret_strategy: r.try_get("secret_strategy")?,
        password_rules: json_col(r, "password_rules")?,
        auto_push: flag(r, "auto_push")?,
        push_params: json_col(r, "push_params")?,
        platforms: ids
            .into_iter()
            .map(|i| (i, platforms.get(&i).cloned().unwrap_or_default()))
            .collect(),
        su_from,
        comment: r.try_get("comment")?,
        created_by: r.try_get("created_by")?,
        updated_by: r.try_get("updated_by")?,
        date_created: from_micros(r.try_get("date_created")?),
        date_updated: from_micros(r.try_get("date_updated")?),
    })
}

impl Store {
    /// A page of account templates, with the total count.
    pub async fn list_account_templates(
        &self,
        q: &TemplateQuery,
    ) -> Result<(i64, Vec<TemplateRecord>), StoreError> {
        let mut args = Args::default();
        let mut clauses = Vec::new();
        if let Some(org) = q.org {
            clauses.push(format!("t.org_id = {}", args.text(org.to_string())));
        }
        search_clauses(
            q.search.as_deref(),
            &["t.name", "t.username"],
            &mut args,
            &mut clauses,
        );
        for (col, val) in [
            ("t.name", &q.name),
            ("t.username", &q.username),
            ("t.secret_type", &q.secret_type),
        ] {
            if let Some(v) = val {
                clauses.push(format!("{col} = {}", args.text(v.clone())));
            }
        }
        if let Some(v) = q.privileged {
            clauses.push(bool_clause("t.privileged", v));
        }
        if let Some(v) = q.is_active {
            clauses.push(bool_clause("t.is_active", v));
        }
        if let Some(ids) = &q.ids {
            if ids.is_empty() {
                clauses.push("1 = 0".into());
            } else {
                clauses.push(format!("t.id IN ({})", args.ids(ids)));
            }
        }
        let filter = where_clause(&clauses);
        let order = order_by(
            q.order.as_deref(),
            "name",
            TEMPLATE_ORDER,
            "account templates",
        )?;
        let count: i64 = bind_args!(
            sqlx::query_scalar(trusted(format!(
                "SELECT COUNT(*) FROM account_templates t {filter}"
            ))),
            args
        )
        .fetch_one(&self.pool)
        .await?;
        let sql = format!(
            "{TEMPLATE_SELECT} {filter} ORDER BY {order}, t.id LIMIT {} OFFSET {}",
            q.limit.max(0),
            q.offset.max(0)
        );
        let rows = bind_args!(sqlx::query(trusted(sql)), args)
            .fetch_all(&self.pool)
            .await?;
        let platforms = self.platform_names().await?;
        let list = rows
            .iter()
            .map(|r| template_from_row(r, &platforms))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((count, list))
    }

    /// One template by id, or by name within `org` when `key` is not a UUID.
    pub async fn account_template(
        &self,
        key: &str,
        org: Option<Uuid>,
    ) -> Result<Option<TemplateRecord>, StoreError> {
        let mut args = Args::default();
        let mut clauses = Vec::new();
        match Uuid::parse_str(key) {
            Ok(id) => clauses.push(format!("t.id = {}", args.text(id.to_string()))),
            Err(_) => clauses.push(format!("t.name = {}", args.text(key))),
        }
        if let Some(org) = org {
            clauses.push(format!("t.org_id = {}", args.text(org.to_string())));
        }
        let sql = format!(
            "{TEMPLATE_SELECT} {} ORDER BY t.id LIMIT 1",
            where_clause(&clauses)
        );
        let row = bind_args!(sqlx::query(trusted(sql)), args)
            .fetch_optional(&self.pool)
            .await?;
        let platforms = self.platform_names().await?;
        row.as_ref()
            .map(|r| template_from_row(r, &platforms))
            .transpose()
    }

    /// The plaintext secret and passphrase of a template, for creating accounts from it.
    pub async fn account_template_secrets(
        &self,
        vault: &Vault,
        id: Uuid,
    ) -> Result<(Option<SecretString>, Option<SecretString>), StoreError> {
        let Some(row) =
            sqlx::query("SELECT secret, passphrase FROM account_templates WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok((None, None));
        };
        let mut out = Vec::new();
        for col in ["secret", "passphrase"] {
            let sealed: Option<String> = row.try_get(col)?;
            out.push(
                sealed
                    .map(|e| {
                        open(
                            vault,
                            &e,
                            &SealContext::new("account_templates", col, id),
                            format!("account_templates.{col}:{id}"),
                        )
                    })
                    .transpose()?,
            );
        }
        let passphrase = out.pop().flatten();
        Ok((out.pop().flatten(), passphrase))
    }

    /// Creates a template in `org`, sealing its secrets.
    pub async fn create_account_template(
        &self,
        vault: &Vault,
        org: Uuid,
        t: &TemplateFields,
        by: &str,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let now = now_micros();
        let secret = t
            .secret
            .as_ref()
            .map(|s| vault.seal(s, &SealContext::new("account_templates", "secret", id)));
        let passphrase = t
            .passphrase
            .as_ref()
            .map(|s| vault.seal(s, &SealContext::new("account_templates", "passphrase", id)));
        sqlx::query(
            "INSERT INTO account_templates (id, org_id, name, username, secret_type, secret,
                passphrase, privileged, is_active, secret_strategy, password_rules, auto_push,
                push_params, platforms, su_from_id, comment, created_by, updated_by, date_created,
                date_updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                $17, $18, $18)",
        )
        .bind(id.to_string())
        .bind(org.to_string())
        .bind(&t.name)
        .bind(t.username.clone())
        .bind(&t.secret_type)
        .bind(secret)
        .bind(passphrase)
        .bind(t.privileged)
        .bind(t.is_active)
        .bind(&t.secret_strategy)
        .bind(t.password_rules.to_string())
        .bind(t.auto_push)
        .bind(t.push_params.to_string())
        .bind(serde_json::json!(t.platforms).to_string())
        .bind(t.su_from.map(|s| s.to_string()))
        .bind(&t.comment)
        .bind(by)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| write_error(e, TEMPLATE_CONFLICT))?;
        Ok(id)
    }

    /// Writes every field of a template; false when it does not exist.
    pub async fn update_account_template(
        &self,
        vault: &Vault,
        id: Uuid,
        t: &TemplateFields,
        by: &str,
    ) -> Result<bool, StoreError> {
        let mut args = Args::default();
        let mut sets = vec![
            format!("name = {}", args.text(t.name.clone())),
            format!("secret_type = {}", args.text(t.secret_type.clone())),
            bool_clause("privileged", t.privileged),
            bool_clause("is_active", t.is_active),
            format!("secret_strategy = {}", args.text(t.secret_strategy.clone())),
            format!(
                "password_rules = {}",
                args.text(t.password_rules.to_string())
            ),
            bool_clause("auto_push", t.auto_push),
            format!("push_params = {}", args.text(t.push_params.to_string())),
            format!(
                "platforms = {}",
                args.text(serde_json::json!(t.platforms).to_string())
            ),
            format!("comment = {}", args.text(t.comment.clone())),
            format!("updated_by = {}", args.text(by)),
            format!("date_updated = {}", args.int(now_micros())),
        ];
        sets.push(match &t.username {
            Some(n) => format!("username = {}", args.text(n.clone())),
            None => "username = NULL".into(),
        });
        sets.push(match t.su_from {
            Some(s) => format!("su_from_id = {}", args.text(s.to_string())),
            None => "su_from_id = NULL".into(),
        });
        if let Some(s) = &t.secret {
            let sealed = vault.seal(s, &SealContext::new("account_templates", "secret", id));
            sets.push(format!("secret = {}", args.text(sealed)));
        }
        if let Some(s) = &t.passphrase {
            let sealed = vault.seal(s, &SealContext::new("account_templates", "passphrase", id));
            sets.push(format!("passphrase = {}", args.text(sealed)));
        }
        let idp = args.text(id.to_string());
        let sql = format!(
            "UPDATE account_templates SET {} WHERE id = {idp}",
            sets.join(", ")
        );
        let done = bind_args!(sqlx::query(trusted(sql)), args)
            .execute(&self.pool)
            .await
            .map_err(|e| write_error(e, TEMPLATE_CONFLICT))?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a template (accounts made from it keep existing, unlinked); false when absent.
    pub async fn delete_account_template(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM account_templates WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(|e| write_error(e, "account template"))?;
        Ok(done.rows_affected() > 0)
    }
}

// ---------------------------------------------------------------------------------------------
// Asset permissions
// ---------------------------------------------------------------------------------------------

/// A related object `(id, display name)`.
pub type Related = (Uuid, String);

/// An asset permission with its relations, as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionRecord {
    /// Id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// Org name.
    pub org_name: String,
    /// Name, unique per org.
    pub name: String,
    /// Users `(id, name)`.
    pub users: Vec<Related>,
    /// User groups.
    pub user_groups: Vec<Related>,
    /// Assets.
    pub assets: Vec<Related>,
    /// Nodes (`value`).
    pub nodes: Vec<Related>,
    /// Account selectors.
    pub accounts: Vec<String>,
    /// Protocols (`all` or names).
    pub protocols: Vec<String>,
    /// Action bits.
    pub actions: i64,
    /// Start of validity.
    pub date_start: DateTime<Utc>,
    /// End of validity.
    pub date_expired: DateTime<Utc>,
    /// Active.
    pub is_active: bool,
    /// Created from a ticket.
    pub from_ticket: bool,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
    /// Last updater.
    pub updated_by: String,
    /// Creation time.
    pub date_created: DateTime<Utc>,
    /// Last update.
    pub date_updated: DateTime<Utc>,
}

/// What a permission is written with. Relation lists `None` are left as they are on update
/// (and empty on create), so changing the name does not touch the permission cache's inputs.
#[derive(Debug, Clone)]
pub struct PermissionFields {
    /// Name.
    pub name: String,
    /// Account selectors (already validated).
    pub accounts: Vec<String>,
    /// Protocols.
    pub protocols: Vec<String>,
    /// Action bits.
    pub actions: i64,
    /// Start.
    pub date_start: DateTime<Utc>,
    /// End.
    pub date_expired: DateTime<Utc>,
    /// Active.
    pub is_active: bool,
    /// Comment.
    pub comment: String,
    /// Users.
    pub users: Option<Vec<Uuid>>,
    /// User groups.
    pub user_groups: Option<Vec<Uuid>>,
    /// Assets.
    pub assets: Option<Vec<Uuid>>,
    /// Nodes.
    pub nodes: Option<Vec<Uuid>>,
}

/// Filters of the permission list (reference §4.11).
#[derive(Debug, Clone, Default)]
pub struct PermissionQuery {
    /// Only this org; `None` = every org.
    pub org: Option<Uuid>,
    /// Terms matched against the name.
    pub search: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Naming this user directly or through one of their groups.
    pub user_id: Option<Uuid>,
    /// Same, by username.
    pub username: Option<String>,
    /// Naming this group.
    pub user_group_id: Option<Uuid>,
    /// Granting this asset directly or through a node above it.
    pub asset_id: Option<Uuid>,
    /// Granting this node or a node above it.
    pub node_id: Option<Uuid>,
    /// Active flag.
    pub is_active: Option<bool>,
    /// Active and within its dates now.
    pub is_valid: Option<bool>,
    /// Past its end date.
    pub is_expired: Option<bool>,
    /// Only these ids.
    pub ids: Option<Vec<Uuid>>,
    /// Order.
    pub order: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

const PERMISSION_ORDER: &[(&str, &str)] = &[
    ("name", "p.name"),
    ("date_start", "p.date_start"),
    ("date_expired", "p.date_expired"),
    ("is_active", "p.is_active"),
    ("date_created", "p.date_created"),
    ("date_updated", "p.date_updated"),
];

const PERMISSION_CONFLICT: &str = "an asset permission with this name";

/// `n` (a node alias) lies in the subtree of `g` (a granted node alias), itself included.
fn in_subtree(n: &str, g: &str) -> String {
    format!(
        "({n}.org_id = {g}.org_id AND ({n}.key = {g}.key OR ({n}.key >= {g}.key || ':' AND {n}.key < {g}.key || ';')))"
    )
}

/// The relation tables of a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermRelation {
    /// `perm_users`.
    Users,
    /// `perm_user_groups`.
    UserGroups,
    /// `perm_assets`.
    Assets,
    /// `perm_nodes`.
    Nodes,
}

impl PermRelation {
    fn table(self) -> &'static str {
        match self {
            PermRelation::Users => "perm_users",
            PermRelation::UserGroups => "perm_user_groups",
            PermRelation::Assets => "perm_assets",
            PermRelation::Nodes => "perm_nodes",
        }
    }

    fn column(self) -> &'static str {
        match self {
            PermRelation::Users => "user_id",
            PermRelation::UserGroups => "user_group_id",
            PermRelation::Assets => "asset_id",
            PermRelation::Nodes => "node_id",
        }
    }

    /// `JOIN … x` and the display expressions: the stub's name and JumpServer's `str(obj)`.
    fn join(self) -> (&'static str, &'static str, &'static str) {
        match self {
            PermRelation::Users => (
                "JOIN users x ON x.id = r.user_id",
                "x.name",
                "x.name || '(' || x.username || ')'",
            ),
            PermRelation::UserGroups => (
                "JOIN user_groups x ON x.id = r.user_group_id",
                "x.name",
                "x.name",
            ),
            PermRelation::Assets => (
                "JOIN assets x ON x.id = r.asset_id",
                "x.name",
                "x.name || '(' || x.address || ')'",
            ),
            PermRelation::Nodes => ("JOIN nodes x ON x.id = r.node_id", "x.value", "x.value"),
        }
    }
}

/// One relation row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationRow {
    /// The permission.
    pub permission_id: Uuid,
    /// Its name.
    pub permission_name: String,
    /// The related object.
    pub other_id: Uuid,
    /// Its display (`str()` in JumpServer terms).
    pub other_display: String,
}

/// A user a permission reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermUserRow {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Username.
    pub username: String,
    /// Email.
    pub email: String,
    /// Active.
    pub is_active: bool,
}

fn permission_from_row(r: &AnyRow) -> Result<PermissionRecord, StoreError> {
    let list = |col: &str| -> Result<Vec<String>, StoreError> {
        serde_json::from_value(json_col(r, col)?)
            .map_err(|_| StoreError::Corrupt(format!("asset_permissions.{col}")))
    };
    Ok(PermissionRecord {
        id: get_uuid(r, "id")?,
        org_id: get_uuid(r, "org_id")?,
        org_name: r.try_get("org_name")?,
        name: r.try_get("name")?,
        users: Vec::new(),
        user_groups: Vec::new(),
        assets: Vec::new(),
        nodes: Vec::new(),
        accounts: list("accounts")?,
        protocols: list("protocols")?,
        actions: r.try_get("actions")?,
        date_start: from_micros(r.try_get("date_start")?),
        date_expired: from_micros(r.try_get("date_expired")?),
        is_active: flag(r, "is_active")?,
        from_ticket: flag(r, "from_ticket")?,
        comment: r.try_get("comment")?,
        created_by: r.try_get("created_by")?,
        updated_by: r.try_get("updated_by")?,
        date_created: from_micros(r.try_get("date_created")?),
        date_updated: from_micros(r.try_get("date_updated")?),
    })
}

const PERMISSION_SELECT: &str = "SELECT p.id, p.org_id, o.name AS org_name, p.name, p.is_active,
    p.date_start, p.date_expired, p.accounts, p.protocols, p.actions, p.from_ticket, p.comment,
    p.created_by, p.updated_by, p.date_created, p.date_updated
    FROM asset_permissions p JOIN orgs o ON o.id = p.org_id";

/// Inserts relation rows, ignoring ones that exist.
async fn insert_relations(
    conn: &mut sqlx::AnyConnection,
    kind: PermRelation,
    pairs: &[(Uuid, Uuid)],
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO {} (permission_id, {}) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        kind.table(),
        kind.column()
    );
    for (perm, other) in pairs {
        sqlx::query(trusted(sql.as_str()))
            .bind(perm.to_string())
            .bind(other.to_string())
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(e, "that relation"))?;
    }
    Ok(())
}

impl Store {
    /// A page of asset permissions with their relations, and the total count.
    pub async fn list_asset_permissions(
        &self,
        q: &PermissionQuery,
    ) -> Result<(i64, Vec<PermissionRecord>), StoreError> {
        let mut args = Args::default();
        let mut clauses = Vec::new();
        if let Some(org) = q.org {
            clauses.push(format!("p.org_id = {}", args.text(org.to_string())));
        }
        search_clauses(q.search.as_deref(), &["p.name"], &mut args, &mut clauses);
        if let Some(v) = &q.name {
            clauses.push(format!("p.name = {}", args.text(v.clone())));
        }
        let user_clause = |who: String| {
            format!(
                "(p.id IN (SELECT pu.permission_id FROM perm_users pu WHERE pu.user_id IN ({who}))
                  OR p.id IN (SELECT pg.permission_id FROM perm_user_groups pg
                     JOIN user_group_members m ON m.user_group_id = pg.user_group_id
                     WHERE m.user_id IN ({who})))"
            )
        };
        if let Some(u) = q.user_id {
            let p = args.text(u.to_string());
            clauses.push(user_clause(p));
        }
        if let Some(name) = &q.username {
            let p = args.text(name.clone());
            clauses.push(user_clause(format!(
                "SELECT id FROM users WHERE username = {p}"
            )));
        }
        if let Some(g) = q.user_group_id {
            let p = args.text(g.to_string());
            clauses.push(format!(
                "p.id IN (SELECT permission_id FROM perm_user_groups WHERE user_group_id = {p})"
            ));
        }
        if let Some(a) = q.asset_id {
            let p = args.text(a.to_string());
            clauses.push(format!(
                "(p.id IN (SELECT permission_id FROM perm_assets WHERE asset_id = {p})
                  OR p.id IN (SELECT pn.permission_id FROM perm_nodes pn JOIN nodes g ON g.id = pn.node_id
                     JOIN nodes n ON {sub} JOIN asset_nodes an ON an.node_id = n.id
                     WHERE an.asset_id = {p}))",
                sub = in_subtree("n", "g")
            ));
        }
        if let Some(node) = q.node_id {
            let p = args.text(node.to_string());
            clauses.push(format!(
                "p.id IN (SELECT pn.permission_id FROM perm_nodes pn JOIN nodes g ON g.id = pn.node_id
                   JOIN nodes n ON {sub} WHERE n.id = {p})",
                sub = in_subtree("n", "g")
            ));
        }
        if let Some(v) = q.is_active {
            clauses.push(bool_clause("p.is_active", v));
        }
        if q.is_valid.is_some() || q.is_expired.is_some() {
            let now = args.int(now_micros());
            if let Some(v) = q.is_valid {
                let valid = format!(
                    "(p.is_active = TRUE AND p.date_start <= {now} AND p.date_expired > {now})"
                );
                clauses.push(if v { valid } else { format!("NOT {valid}") });
            }
            if let Some(v) = q.is_expired {
                clauses.push(format!(
                    "p.date_expired {} {now}",
                    if v { "<=" } else { ">" }
                ));
            }
        }
        if let Some(ids) = &q.ids {
            if ids.is_empty() {
                clauses.push("1 = 0".into());
            } else {
                clauses.push(format!("p.id IN ({})", args.ids(ids)));
            }
        }
        let filter = where_clause(&clauses);
        let order = order_by(
            q.order.as_deref(),
            "name",
            PERMISSION_ORDER,
            "asset permissions",
        )?;
        let count: i64 = bind_args!(
            sqlx::query_scalar(trusted(format!(
                "SELECT COUNT(*) FROM asset_permissions p {filter}"
            ))),
            args
        )
        .fetch_one(&self.pool)
        .await?;
        let sql = format!(
            "{PERMISSION_SELECT} {filter} ORDER BY {order}, p.id LIMIT {} OFFSET {}",
            q.limit.max(0),
            q.offset.max(0)
        );
        let rows = bind_args!(sqlx::query(trusted(sql)), args)
            .fetch_all(&self.pool)
            .await?;
        let mut perms = rows
            .iter()
            .map(permission_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.attach_relations(&mut perms).await?;
        Ok((count, perms))
    }

    async fn attach_relations(&self, perms: &mut [PermissionRecord]) -> Result<(), StoreError> {
        if perms.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = perms.iter().map(|p| p.id).collect();
        for kind in [
            PermRelation::Users,
            PermRelation::UserGroups,
            PermRelation::Assets,
            PermRelation::Nodes,
        ] {
            let (join, name, _) = kind.join();
            let mut args = Args::default();
            let list = args.ids(&ids);
            let sql = format!(
                "SELECT r.permission_id, x.id, {name} AS name FROM {} r {join}
                 WHERE r.permission_id IN ({list}) ORDER BY {name}, x.id",
                kind.table()
            );
            for r in bind_args!(sqlx::query(trusted(sql)), args)
                .fetch_all(&self.pool)
                .await?
            {
                let pid = get_uuid(&r, "permission_id")?;
                let item = (get_uuid(&r, "id")?, r.try_get::<String, _>("name")?);
                if let Some(p) = perms.iter_mut().find(|p| p.id == pid) {
                    match kind {
                        PermRelation::Users => p.users.push(item),
                        PermRelation::UserGroups => p.user_groups.push(item),
                        PermRelation::Assets => p.assets.push(item),
                        PermRelation::Nodes => p.nodes.push(item),
                    }
                }
            }
        }
        Ok(())
    }

    /// One permission by id, or by name within `org` when `key` is not a UUID.
    pub async fn asset_permission(
        &self,
        key: &str,
        org: Option<Uuid>,
    ) -> Result<Option<PermissionRecord>, StoreError> {
        let mut args = Args::default();
        let mut clauses = Vec::new();
        match Uuid::parse_str(key) {
            Ok(id) => clauses.push(format!("p.id = {}", args.text(id.to_string()))),
            Err(_) => clauses.push(format!("p.name = {}", args.text(key))),
        }
        if let Some(org) = org {
            clauses.push(format!("p.org_id = {}", args.text(org.to_string())));
        }
        let sql = format!(
            "{PERMISSION_SELECT} {} ORDER BY p.id LIMIT 1",
            where_clause(&clauses)
        );
        let Some(row) = bind_args!(sqlx::query(trusted(sql)), args)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let mut perms = vec![permission_from_row(&row)?];
        self.attach_relations(&mut perms).await?;
        Ok(perms.pop())
    }

    /// Creates a permission with its relations in one transaction.
    pub async fn create_asset_permission(
        &self,
        org: Uuid,
        f: &PermissionFields,
        by: &str,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let now = now_micros();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO asset_permissions (id, org_id, name, is_active, date_start, date_expired,
                accounts, protocols, actions, comment, created_by, updated_by, date_created,
                date_updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $12)",
        )
        .bind(id.to_string())
        .bind(org.to_string())
        .bind(&f.name)
        .bind(f.is_active)
        .bind(micros(f.date_start))
        .bind(micros(f.date_expired))
        .bind(serde_json::json!(f.accounts).to_string())
        .bind(serde_json::json!(f.protocols).to_string())
        .bind(f.actions)
        .bind(&f.comment)
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error(e, PERMISSION_CONFLICT))?;
        write_relations(&mut tx, id, f).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Writes a permission's fields and replaces the relation lists that are given, in one
    /// transaction; false when it does not exist.
    pub async fn update_asset_permission(
        &self,
        id: Uuid,
        f: &PermissionFields,
        by: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE asset_permissions SET name = $1, is_active = $2, date_start = $3,
                date_expired = $4, accounts = $5, protocols = $6, actions = $7, comment = $8,
                updated_by = $9, date_updated = $10
             WHERE id = $11",
        )
        .bind(&f.name)
        .bind(f.is_active)
        .bind(micros(f.date_start))
        .bind(micros(f.date_expired))
        .bind(serde_json::json!(f.accounts).to_string())
        .bind(serde_json::json!(f.protocols).to_string())
        .bind(f.actions)
        .bind(&f.comment)
        .bind(by)
        .bind(now_micros())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error(e, PERMISSION_CONFLICT))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        write_relations(&mut tx, id, f).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a permission (its relation rows cascade) and its label bindings, in one
    /// transaction; false when absent.
    pub async fn delete_asset_permission(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        crate::labels::delete_resource_labels_in(
            &mut tx,
            "perms.assetpermission",
            &[id.to_string()],
        )
        .await?;
        let done = sqlx::query("DELETE FROM asset_permissions WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every asset a permission reaches: granted directly or in the subtree of a granted node.
    pub async fn asset_permission_all_assets(&self, id: Uuid) -> Result<Vec<AssetRef>, StoreError> {
        let sql = format!(
            "SELECT s.id, s.name, s.address, s.category, s.type, s.platform_id, p.name AS platform_name, s.org_id
             FROM assets s JOIN platforms p ON p.id = s.platform_id
             WHERE s.id IN (SELECT asset_id FROM perm_assets WHERE permission_id = $1)
                OR s.id IN (SELECT an.asset_id FROM perm_nodes pn JOIN nodes g ON g.id = pn.node_id
                   JOIN nodes n ON {sub} JOIN asset_nodes an ON an.node_id = n.id
                   WHERE pn.permission_id = $1)
             ORDER BY s.name, s.id",
            sub = in_subtree("n", "g")
        );
        let rows = sqlx::query(trusted(sql))
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AssetRef {
                    id: get_uuid(r, "id")?,
                    name: r.try_get("name")?,
                    address: r.try_get("address")?,
                    category: r.try_get("category")?,
                    type_: r.try_get("type")?,
                    platform_id: r.try_get("platform_id")?,
                    platform_name: r.try_get("platform_name")?,
                    org_id: get_uuid(r, "org_id")?,
                })
            })
            .collect()
    }

    /// Every user a permission names, directly or through a group.
    pub async fn asset_permission_all_users(
        &self,
        id: Uuid,
    ) -> Result<Vec<PermUserRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id, u.name, u.username, u.email, u.is_active FROM users u
             WHERE u.id IN (SELECT user_id FROM perm_users WHERE permission_id = $1)
                OR u.id IN (SELECT m.user_id FROM perm_user_groups pg
                   JOIN user_group_members m ON m.user_group_id = pg.user_group_id
                   WHERE pg.permission_id = $1)
             ORDER BY u.username",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PermUserRow {
                    id: get_uuid(r, "id")?,
                    name: r.try_get("name")?,
                    username: r.try_get("username")?,
                    email: r.try_get("email")?,
                    is_active: flag(r, "is_active")?,
                })
            })
            .collect()
    }

    /// Relation rows of `kind`, optionally narrowed to one permission, one related object, and
    /// the permissions of one org.
    pub async fn perm_relations(
        &self,
        kind: PermRelation,
        org: Option<Uuid>,
        permission: Option<Uuid>,
        other: Option<Uuid>,
    ) -> Result<Vec<RelationRow>, StoreError> {
        let (join, _, display) = kind.join();
        let mut args = Args::default();
        let mut clauses = Vec::new();
        if let Some(org) = org {
            clauses.push(format!("p.org_id = {}", args.text(org.to_string())));
        }
        if let Some(p) = permission {
            clauses.push(format!("r.permission_id = {}", args.text(p.to_string())));
        }
        if let Some(o) = other {
            clauses.push(format!(
                "r.{} = {}",
                kind.column(),
                args.text(o.to_string())
            ));
        }
        let sql = format!(
            "SELECT r.permission_id, p.name AS permission_name, x.id AS other_id, {display} AS other_display
             FROM {} r JOIN asset_permissions p ON p.id = r.permission_id {join} {}
             ORDER BY p.name, other_display",
            kind.table(),
            where_clause(&clauses)
        );
        let rows = bind_args!(sqlx::query(trusted(sql)), args)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(RelationRow {
                    permission_id: get_uuid(r, "permission_id")?,
                    permission_name: r.try_get("permission_name")?,
                    other_id: get_uuid(r, "other_id")?,
                    other_display: r.try_get("other_display")?,
                })
            })
            .collect()
    }

    /// Adds relation rows `(permission, other)` in one transaction; existing ones are kept.
    pub async fn add_perm_relations(
        &self,
        kind: PermRelation,
        pairs: &[(Uuid, Uuid)],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_relations(&mut tx, kind, pairs).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the relation rows of a permission (only the one to `other` when given).
    pub async fn remove_perm_relations(
        &self,
        kind: PermRelation,
        permission: Uuid,
        other: Option<Uuid>,
    ) -> Result<u64, StoreError> {
        let mut args = Args::default();
        let mut sql = format!(
            "DELETE FROM {} WHERE permission_id = {}",
            kind.table(),
            args.text(permission.to_string())
        );
        if let Some(o) = other {
            sql.push_str(&format!(
                " AND {} = {}",
                kind.column(),
                args.text(o.to_string())
            ));
        }
        let done = bind_args!(sqlx::query(trusted(sql)), args)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// Replaces the relation lists that `f` gives.
async fn write_relations(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: Uuid,
    f: &PermissionFields,
) -> Result<(), StoreError> {
    for (kind, list) in [
        (PermRelation::Users, &f.users),
        (PermRelation::UserGroups, &f.user_groups),
        (PermRelation::Assets, &f.assets),
        (PermRelation::Nodes, &f.nodes),
    ] {
        let Some(list) = list else { continue };
        sqlx::query(trusted(format!(
            "DELETE FROM {} WHERE permission_id = $1",
            kind.table()
        )))
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
        let pairs: Vec<(Uuid, Uuid)> = list.iter().map(|o| (id, *o)).collect();
        insert_relations(tx, kind, &pairs).await?;
    }
    Ok(())
}
