//! Platform automations: execution records, accounts gathered from assets, the platform's
//! per-method settings, and the status columns automations update on accounts and assets.
//!
//! Executions are written twice: a `running` row before the plugin is called (so a crash
//! leaves a trace) and the outcome after. Neither the result nor the log ever holds a secret:
//! the automation service redacts them before they get here.

use crate::codec::{Flag, from_micros, now_micros, trusted, uuid};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

/// The methods a platform can run, in `platform_automations` column order (without
/// `gather_facts`, which no plugin world implements).
pub const METHODS: [&str; 6] = [
    "ping",
    "verify_account",
    "change_secret",
    "push_account",
    "gather_accounts",
    "remove_account",
];

/// What an execution is started with.
#[derive(Debug, Clone)]
pub struct NewExecution {
    /// The asset's org.
    pub org_id: Uuid,
    /// The asset.
    pub asset_id: Uuid,
    /// Its name at the time.
    pub asset_name: String,
    /// The account acted on (or connected as).
    pub account_id: Option<Uuid>,
    /// Its username at the time.
    pub account_username: String,
    /// One of [`METHODS`].
    pub method: String,
    /// The plugin called (empty when none could be chosen).
    pub plugin_id: String,
    /// Its version.
    pub plugin_version: String,
    /// Who asked, `Name(username)`.
    pub created_by: String,
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct ExecutionOutcome {
    /// `success` or `failed`.
    pub status: String,
    /// A machine-readable code (`unauthorized`, `timeout`, …), empty on success.
    pub error_code: String,
    /// For administrators, empty on success.
    pub error_message: String,
    /// The method's output (a JSON object).
    pub result: Value,
    /// The invocation's events (a JSON array).
    pub log: Value,
}

/// An execution as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRecord {
    /// Id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// Asset.
    pub asset_id: Uuid,
    /// Asset name at the time.
    pub asset_name: String,
    /// Account.
    pub account_id: Option<Uuid>,
    /// Account username at the time.
    pub account_username: String,
    /// Method.
    pub method: String,
    /// Plugin id.
    pub plugin_id: String,
    /// Plugin version.
    pub plugin_version: String,
    /// `running`, `success` or `failed`.
    pub status: String,
    /// Error code.
    pub error_code: String,
    /// Error message.
    pub error_message: String,
    /// Output.
    pub result: Value,
    /// Events; `Null` in list answers, which leave them out.
    pub log: Value,
    /// Started.
    pub date_start: DateTime<Utc>,
    /// Finished.
    pub date_finished: Option<DateTime<Utc>>,
    /// Who asked.
    pub created_by: String,
}

/// Filters of the execution list, newest first.
#[derive(Debug, Clone, Default)]
pub struct ExecutionQuery {
    /// Only this org; `None` = every org.
    pub org: Option<Uuid>,
    /// Only this execution (detail).
    pub id: Option<Uuid>,
    /// Of this asset.
    pub asset_id: Option<Uuid>,
    /// Of this account.
    pub account_id: Option<Uuid>,
    /// Of this method.
    pub method: Option<String>,
    /// With this status.
    pub status: Option<String>,
    /// Include the log (detail views).
    pub with_log: bool,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

/// One account found on an asset by `gather_accounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatheredInput {
    /// Login name.
    pub username: String,
    /// Numeric id.
    pub uid: Option<i64>,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Where the last login came from.
    pub address_last_login: String,
    /// When it was.
    pub date_last_login: Option<DateTime<Utc>>,
    /// Whether the account can log in.
    pub login_enabled: bool,
    /// Whether it has administrative rights.
    pub privileged: bool,
}

/// A gathered account as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct GatheredRecord {
    /// Id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// Asset.
    pub asset_id: Uuid,
    /// Asset name.
    pub asset_name: String,
    /// Login name.
    pub username: String,
    /// Numeric id.
    pub uid: Option<i64>,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Where the last login came from.
    pub address_last_login: String,
    /// When it was.
    pub date_last_login: Option<DateTime<Utc>>,
    /// Whether it can log in.
    pub login_enabled: bool,
    /// Administrative rights.
    pub privileged: bool,
    /// Found on the asset by the last run.
    pub remote_present: bool,
    /// A Portcullis account with this username exists on the asset.
    pub present: bool,
    /// `''`, `confirmed` or `ignored`.
    pub status: String,
    /// Anything else the plugin reported.
    pub detail: Value,
    /// First seen.
    pub date_created: DateTime<Utc>,
    /// Last seen or changed.
    pub date_updated: DateTime<Utc>,
}

/// Filters of the gathered-account list.
#[derive(Debug, Clone, Default)]
pub struct GatheredQuery {
    /// Only this org.
    pub org: Option<Uuid>,
    /// Of this asset.
    pub asset_id: Option<Uuid>,
    /// Exact username.
    pub username: Option<String>,
    /// Present on the asset.
    pub remote_present: Option<bool>,
    /// Present in Portcullis.
    pub present: Option<bool>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

/// A platform's settings for one method (`platform_automations`).
#[derive(Debug, Clone, PartialEq)]
pub struct MethodSetting {
    /// `<method>_enabled`.
    pub enabled: bool,
    /// `<method>_method`: the plugin id, optionally followed by `/<anything>`.
    pub method: String,
    /// `<method>_params`.
    pub params: Value,
}

/// Placeholder lists and their values, in order.
#[derive(Default)]
struct Args(Vec<String>);

impl Args {
    fn text(&mut self, v: impl Into<String>) -> String {
        self.0.push(v.into());
        format!("${}", self.0.len())
    }

    fn bind<'q>(
        &'q self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for v in &self.0 {
            q = q.bind(v.clone());
        }
        q
    }
}

fn method_column(method: &str) -> Result<&'static str, StoreError> {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .ok_or_else(|| StoreError::Invalid(format!("unknown automation method `{method}`")))
}

fn json(r: &AnyRow, col: &str) -> Result<Value, StoreError> {
    let text: String = r.try_get(col)?;
    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt(format!("{col}: `{text}`")))
}

fn opt_id(r: &AnyRow, col: &str) -> Result<Option<Uuid>, StoreError> {
    r.try_get::<Option<String>, _>(col)?
        .map(|t| uuid(&t, col))
        .transpose()
}

fn flag(r: &AnyRow, col: &str) -> Result<bool, StoreError> {
    Ok(r.try_get::<Flag, _>(col)?.0)
}

fn bool_sql(v: bool) -> &'static str {
    if v { "TRUE" } else { "FALSE" }
}

fn execution_from_row(r: &AnyRow, with_log: bool) -> Result<ExecutionRecord, StoreError> {
    Ok(ExecutionRecord {
        id: uuid(&r.try_get::<String, _>("id")?, "automation_executions.id")?,
        org_id: uuid(
            &r.try_get::<String, _>("org_id")?,
            "automation_executions.org_id",
        )?,
        asset_id: uuid(
            &r.try_get::<String, _>("asset_id")?,
            "automation_executions.asset_id",
        )?,
        asset_name: r.try_get("asset_name")?,
        account_id: opt_id(r, "account_id")?,
        account_username: r.try_get("account_username")?,
        method: r.try_get("method")?,
        plugin_id: r.try_get("plugin_id")?,
        plugin_version: r.try_get("plugin_version")?,
        status: r.try_get("status")?,
        error_code: r.try_get("error_code")?,
        error_message: r.try_get("error_message")?,
        result: json(r, "result")?,
        log: if with_log {
            json(r, "log")?
        } else {
            Value::Null
        },
        date_start: from_micros(r.try_get("date_start")?),
        date_finished: r
            .try_get::<Option<i64>, _>("date_finished")?
            .map(from_micros),
        created_by: r.try_get("created_by")?,
    })
}

const GATHERED_SELECT: &str = "SELECT g.*, s.name AS asset_name,
    (SELECT COUNT(*) FROM accounts a WHERE a.asset_id = g.asset_id AND a.username = g.username) AS in_portcullis
    FROM gathered_accounts g JOIN assets s ON s.id = g.asset_id";

fn gathered_from_row(r: &AnyRow) -> Result<GatheredRecord, StoreError> {
    let groups = match json(r, "user_groups")? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    Ok(GatheredRecord {
        id: uuid(&r.try_get::<String, _>("id")?, "gathered_accounts.id")?,
        org_id: uuid(
            &r.try_get::<String, _>("org_id")?,
            "gathered_accounts.org_id",
        )?,
        asset_id: uuid(
            &r.try_get::<String, _>("asset_id")?,
            "gathered_accounts.asset_id",
        )?,
        asset_name: r.try_get("asset_name")?,
        username: r.try_get("username")?,
        uid: r.try_get("uid")?,
        home: r.try_get("home")?,
        shell: r.try_get("shell")?,
        groups,
        address_last_login: r.try_get("address_last_login")?,
        date_last_login: r
            .try_get::<Option<i64>, _>("date_last_login")?
            .map(from_micros),
        login_enabled: flag(r, "login_enabled")?,
        privileged: flag(r, "privileged")?,
        remote_present: flag(r, "remote_present")?,
        // Computed when read, so it follows accounts created or deleted after the run.
        present: r.try_get::<i64, _>("in_portcullis")? > 0,
        status: r.try_get("status")?,
        detail: json(r, "detail")?,
        date_created: from_micros(r.try_get("date_created")?),
        date_updated: from_micros(r.try_get("date_updated")?),
    })
}

impl Store {
    // ---- Platform settings ------------------------------------------------------------------

    /// The platform's settings for `method`; `None` when the platform or its automation row
    /// does not exist.
    pub async fn platform_method(
        &self,
        platform_id: i64,
        method: &str,
    ) -> Result<Option<MethodSetting>, StoreError> {
        let m = method_column(method)?;
        let sql = format!(
            "SELECT {m}_enabled AS enabled, {m}_method AS method, {m}_params AS params
             FROM platform_automations WHERE platform_id = $1"
        );
        let row = sqlx::query(trusted(sql))
            .bind(platform_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(MethodSetting {
                enabled: flag(&r, "enabled")?,
                method: r.try_get("method")?,
                params: json(&r, "params")?,
            })
        })
        .transpose()
    }

    /// Writes the platform's settings for `method`. False when the platform has no automation
    /// row.
    pub async fn set_platform_method(
        &self,
        platform_id: i64,
        method: &str,
        setting: &MethodSetting,
    ) -> Result<bool, StoreError> {
        let m = method_column(method)?;
        if !setting.params.is_object() {
            return Err(StoreError::Invalid(format!(
                "{m}_params must be a JSON object"
            )));
        }
        let sql = format!(
            "UPDATE platform_automations SET {m}_enabled = {}, {m}_method = $1, {m}_params = $2
             WHERE platform_id = $3",
            bool_sql(setting.enabled)
        );
        let done = sqlx::query(trusted(sql))
            .bind(&setting.method)
            .bind(setting.params.to_string())
            .bind(platform_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    // ---- Executions -------------------------------------------------------------------------

    /// Records the start of an execution (status `running`) and returns its id.
    pub async fn start_execution(&self, new: &NewExecution) -> Result<Uuid, StoreError> {
        method_column(&new.method)?;
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO automation_executions (id, org_id, asset_id, asset_name, account_id,
                account_username, method, plugin_id, plugin_version, status, date_start, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'running', $10, $11)",
        )
        .bind(id.to_string())
        .bind(new.org_id.to_string())
        .bind(new.asset_id.to_string())
        .bind(&new.asset_name)
        .bind(new.account_id.map(|a| a.to_string()))
        .bind(&new.account_username)
        .bind(&new.method)
        .bind(&new.plugin_id)
        .bind(&new.plugin_version)
        .bind(now_micros())
        .bind(&new.created_by)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Records how an execution ended (and, when the plugin was only chosen after the start,
    /// which one ran).
    pub async fn finish_execution(
        &self,
        id: Uuid,
        plugin: Option<(&str, &str)>,
        outcome: &ExecutionOutcome,
    ) -> Result<(), StoreError> {
        if !matches!(outcome.status.as_str(), "success" | "failed") {
            return Err(StoreError::Invalid(format!(
                "an execution cannot end as `{}`",
                outcome.status
            )));
        }
        let (plugin_id, plugin_version) = plugin.unwrap_or_default();
        sqlx::query(
            "UPDATE automation_executions SET status = $1, error_code = $2, error_message = $3,
                result = $4, log = $5, date_finished = $6,
                plugin_id = CASE WHEN $7 = '' THEN plugin_id ELSE $7 END,
                plugin_version = CASE WHEN $7 = '' THEN plugin_version ELSE $8 END
             WHERE id = $9",
        )
        .bind(&outcome.status)
        .bind(&outcome.error_code)
        .bind(&outcome.error_message)
        .bind(outcome.result.to_string())
        .bind(outcome.log.to_string())
        .bind(now_micros())
        .bind(plugin_id)
        .bind(plugin_version)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A page of executions, newest first, with the total count.
    pub async fn list_executions(
        &self,
        q: &ExecutionQuery,
    ) -> Result<(i64, Vec<ExecutionRecord>), StoreError> {
        let mut args = Args::default();
        let mut clauses = Vec::new();
        if let Some(o) = q.org {
            clauses.push(format!("org_id = {}", args.text(o.to_string())));
        }
        for (col, v) in [
            ("id", q.id.map(|i| i.to_string())),
            ("asset_id", q.asset_id.map(|i| i.to_string())),
            ("account_id", q.account_id.map(|i| i.to_string())),
            ("method", q.method.clone()),
            ("status", q.status.clone()),
        ] {
            if let Some(v) = v {
                clauses.push(format!("{col} = {}", args.text(v)));
            }
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let count: i64 = args
            .bind(sqlx::query(trusted(format!(
                "SELECT COUNT(*) AS n FROM automation_executions {filter}"
            ))))
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let columns = if q.with_log {
            "*"
        } else {
            "id, org_id, asset_id, asset_name, account_id, account_username, method, plugin_id,
             plugin_version, status, error_code, error_message, result, date_start, date_finished,
             created_by"
        };
        let sql = format!(
            "SELECT {columns} FROM automation_executions {filter}
             ORDER BY date_start DESC, id LIMIT {} OFFSET {}",
            q.limit.max(0),
            q.offset.max(0)
        );
        let rows = args
            .bind(sqlx::query(trusted(sql)))
            .fetch_all(&self.pool)
            .await?;
        let items = rows
            .iter()
            .map(|r| execution_from_row(r, q.with_log))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((count, items))
    }

    /// One execution with its log, if it is in `org` (any org for `None`).
    pub async fn execution(
        &self,
        org: Option<Uuid>,
        id: Uuid,
    ) -> Result<Option<ExecutionRecord>, StoreError> {
        let (_, mut rows) = self
            .list_executions(&ExecutionQuery {
                org,
                id: Some(id),
                with_log: true,
                limit: 1,
                ..ExecutionQuery::default()
            })
            .await?;
        Ok(rows.pop())
    }

    // ---- Gathered accounts ------------------------------------------------------------------

    /// Stores what one gather run found on `asset`: found accounts are inserted or updated
    /// and marked present on the asset; accounts gathered before but not found now are
    /// marked absent. One transaction. Returns the asset's gathered accounts afterwards.
    pub async fn record_gathered_accounts(
        &self,
        org: Uuid,
        asset: Uuid,
        found: &[GatheredInput],
    ) -> Result<Vec<GatheredRecord>, StoreError> {
        let now = now_micros();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE gathered_accounts SET remote_present = FALSE, date_updated = $1
             WHERE asset_id = $2 AND remote_present = TRUE",
        )
        .bind(now)
        .bind(asset.to_string())
        .execute(&mut *tx)
        .await?;
        for a in found {
            let groups = Value::from(a.groups.clone()).to_string();
            let last = a.date_last_login.map(|t| t.timestamp_micros());
            let sql = format!(
                "INSERT INTO gathered_accounts (id, org_id, asset_id, username, uid, home, shell,
                    user_groups, address_last_login, date_last_login, login_enabled, privileged,
                    remote_present, date_created, date_updated)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, {}, {}, TRUE, $11, $11)
                 ON CONFLICT (asset_id, username) DO UPDATE SET uid = excluded.uid,
                    home = excluded.home, shell = excluded.shell,
                    user_groups = excluded.user_groups,
                    address_last_login = excluded.address_last_login,
                    date_last_login = excluded.date_last_login,
                    login_enabled = excluded.login_enabled, privileged = excluded.privileged,
                    remote_present = TRUE, date_updated = excluded.date_updated",
                bool_sql(a.login_enabled),
                bool_sql(a.privileged)
            );
            sqlx::query(trusted(sql))
                .bind(Uuid::new_v4().to_string())
                .bind(org.to_string())
                .bind(asset.to_string())
                .bind(&a.username)
                .bind(a.uid)
                .bind(&a.home)
                .bind(&a.shell)
                .bind(groups)
                .bind(&a.address_last_login)
                .bind(last)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let (_, rows) = self
            .list_gathered_accounts(&GatheredQuery {
                asset_id: Some(asset),
                limit: i64::MAX,
                ..GatheredQuery::default()
            })
            .await?;
        Ok(rows)
    }

    /// A page of gathered accounts (by asset name, then username), with the total count.
    pub async fn list_gathered_accounts(
        &self,
        q: &GatheredQuery,
    ) -> Result<(i64, Vec<GatheredRecord>), StoreError> {
        let mut args = Args::default();
        let mut clauses = Vec::new();
        if let Some(o) = q.org {
            clauses.push(format!("g.org_id = {}", args.text(o.to_string())));
        }
        if let Some(a) = q.asset_id {
            clauses.push(format!("g.asset_id = {}", args.text(a.to_string())));
        }
        if let Some(u) = &q.username {
            clauses.push(format!("g.username = {}", args.text(u.clone())));
        }
        if let Some(p) = q.remote_present {
            clauses.push(format!("g.remote_present = {}", bool_sql(p)));
        }
        if let Some(p) = q.present {
            clauses.push(format!(
                "{}EXISTS (SELECT 1 FROM accounts a WHERE a.asset_id = g.asset_id AND a.username = g.username)",
                if p { "" } else { "NOT " }
            ));
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let count: i64 = args
            .bind(sqlx::query(trusted(format!(
                "SELECT COUNT(*) AS n FROM gathered_accounts g {filter}"
            ))))
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let sql = format!(
            "{GATHERED_SELECT} {filter} ORDER BY s.name, g.username LIMIT {} OFFSET {}",
            q.limit.max(0),
            q.offset.max(0)
        );
        let rows = args
            .bind(sqlx::query(trusted(sql)))
            .fetch_all(&self.pool)
            .await?;
        let items = rows
            .iter()
            .map(gathered_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((count, items))
    }

    // ---- Status columns ---------------------------------------------------------------------

    /// Records a connectivity check of an account (`ok`, `err`, `auth_err`, …) and when it
    /// was made.
    pub async fn set_account_connectivity(
        &self,
        account: Uuid,
        connectivity: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET connectivity = $1, date_verified = $2 WHERE id = $3")
            .bind(connectivity)
            .bind(now_micros())
            .bind(account.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a connectivity check of an asset.
    pub async fn set_asset_connectivity(
        &self,
        asset: Uuid,
        connectivity: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE assets SET connectivity = $1, date_verified = $2 WHERE id = $3")
            .bind(connectivity)
            .bind(now_micros())
            .bind(asset.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the outcome of an automated secret change (`success` or `failed`); the date of
    /// the change only on success.
    pub async fn set_change_secret_status(
        &self,
        account: Uuid,
        status: &str,
    ) -> Result<(), StoreError> {
        let q = if status == "success" {
            sqlx::query(
                "UPDATE accounts SET change_secret_status = $1, date_change_secret = $2 WHERE id = $3",
            )
            .bind(status)
            .bind(now_micros())
            .bind(account.to_string())
        } else {
            sqlx::query("UPDATE accounts SET change_secret_status = $1 WHERE id = $2")
                .bind(status)
                .bind(account.to_string())
        };
        q.execute(&self.pool).await?;
        Ok(())
    }
}
