//! The plugin invocation log: one row per call the host made into a plugin, with the log
//! lines the plugin emitted, so the plugins page can show a plugin's recent invocations.
//!
//! Retention is bounded: every write prunes the plugin's rows past the newest
//! [`KEEP_PER_PLUGIN`], so a busy plugin cannot grow the table without end.

use crate::codec::{from_micros, micros, trusted, uuid};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

/// How many invocations are kept per plugin id (older ones are pruned on write).
pub const KEEP_PER_PLUGIN: i64 = 1000;

/// The outcomes an invocation can have: `ok` or the kind of error.
pub const OUTCOMES: &[&str] = &[
    "ok",
    "guest_error",
    "trap",
    "deadline",
    "memory_limit",
    "fuel",
    "busy",
    "bad_answer",
    "instantiate",
    "wrong_kind",
];

/// One recorded invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginInvocation {
    /// Row id.
    pub id: Uuid,
    /// The plugin's manifest id.
    pub plugin_id: String,
    /// The version that ran.
    pub version: String,
    /// The WIT world.
    pub world: String,
    /// The export function called (`describe`, `ping`, `change-secret`, …).
    pub export: String,
    /// What made the call: `automation` (an automation execution), `enable` (the
    /// `describe` check when a version is enabled), …
    pub trigger_kind: String,
    /// The triggering object's id or name (the execution id, the user who enabled).
    pub trigger_ref: String,
    /// When the call started.
    pub date_start: DateTime<Utc>,
    /// How long it took, in microseconds (waiting for a slot included).
    pub duration_us: i64,
    /// `ok` or one of [`OUTCOMES`].
    pub outcome: String,
    /// The error text (empty when ok).
    pub error: String,
    /// Fuel the guest burned (zero when the runtime does not meter fuel).
    pub fuel: i64,
    /// Most linear memory the instance had, in bytes.
    pub memory_peak: i64,
    /// The plugin's log lines: `[{level, message}]`, bounded per invocation.
    pub logs: Value,
    /// Log lines left out past the bound.
    pub logs_dropped: i64,
}

/// A page of one plugin's invocations.
#[derive(Debug, Clone, Default)]
pub struct InvocationQuery {
    /// The plugin id (every version).
    pub plugin_id: String,
    /// Only this outcome.
    pub outcome: Option<String>,
    /// Started at or after.
    pub date_from: Option<DateTime<Utc>>,
    /// Started at or before.
    pub date_to: Option<DateTime<Utc>>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

const COLUMNS: &str = "id, plugin_id, version, world, export, trigger_kind, trigger_ref, date_start, \
     duration_us, outcome, error, fuel, memory_peak, logs, logs_dropped";

fn from_row(r: &sqlx::any::AnyRow) -> Result<PluginInvocation, StoreError> {
    let logs: String = r.try_get("logs")?;
    Ok(PluginInvocation {
        id: uuid(&r.try_get::<String, _>("id")?, "plugin_invocations.id")?,
        plugin_id: r.try_get("plugin_id")?,
        version: r.try_get("version")?,
        world: r.try_get("world")?,
        export: r.try_get("export")?,
        trigger_kind: r.try_get("trigger_kind")?,
        trigger_ref: r.try_get("trigger_ref")?,
        date_start: from_micros(r.try_get("date_start")?),
        duration_us: r.try_get("duration_us")?,
        outcome: r.try_get("outcome")?,
        error: r.try_get("error")?,
        fuel: r.try_get("fuel")?,
        memory_peak: r.try_get("memory_peak")?,
        logs: serde_json::from_str(&logs)
            .map_err(|e| StoreError::Corrupt(format!("plugin_invocations.logs: {e}")))?,
        logs_dropped: r.try_get("logs_dropped")?,
    })
}

impl Store {
    /// Records one invocation and prunes the plugin's rows past [`KEEP_PER_PLUGIN`].
    pub async fn record_plugin_invocation(&self, i: &PluginInvocation) -> Result<(), StoreError> {
        sqlx::query(trusted(format!(
            "INSERT INTO plugin_invocations ({COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        )))
        .bind(i.id.to_string())
        .bind(i.plugin_id.clone())
        .bind(i.version.clone())
        .bind(i.world.clone())
        .bind(i.export.clone())
        .bind(i.trigger_kind.clone())
        .bind(i.trigger_ref.clone())
        .bind(micros(i.date_start))
        .bind(i.duration_us)
        .bind(i.outcome.clone())
        .bind(i.error.clone())
        .bind(i.fuel)
        .bind(i.memory_peak)
        .bind(i.logs.to_string())
        .bind(i.logs_dropped)
        .execute(&self.pool)
        .await?;
        self.prune_plugin_invocations(&i.plugin_id, KEEP_PER_PLUGIN)
            .await
    }

    /// Deletes `plugin_id`'s invocations past the newest `keep`.
    pub async fn prune_plugin_invocations(
        &self,
        plugin_id: &str,
        keep: i64,
    ) -> Result<(), StoreError> {
        let cutoff: Option<i64> = sqlx::query_scalar(trusted(format!(
            "SELECT date_start FROM plugin_invocations WHERE plugin_id = $1
             ORDER BY date_start DESC LIMIT 1 OFFSET {}",
            keep.max(0)
        )))
        .bind(plugin_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        if let Some(cutoff) = cutoff {
            sqlx::query("DELETE FROM plugin_invocations WHERE plugin_id = $1 AND date_start <= $2")
                .bind(plugin_id.to_owned())
                .bind(cutoff)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// The total and one page of a plugin's invocations, newest first (log lines included).
    pub async fn plugin_invocations(
        &self,
        q: &InvocationQuery,
    ) -> Result<(i64, Vec<PluginInvocation>), StoreError> {
        let mut clauses = vec!["plugin_id = $1".to_owned()];
        let mut text: Vec<String> = vec![q.plugin_id.clone()];
        let mut numbers: Vec<i64> = Vec::new();
        if let Some(o) = &q.outcome {
            text.push(o.clone());
            clauses.push(format!("outcome = ${}", text.len()));
        }
        let mut at = text.len();
        if let Some(d) = q.date_from {
            numbers.push(micros(d));
            at += 1;
            clauses.push(format!("date_start >= ${at}"));
        }
        if let Some(d) = q.date_to {
            numbers.push(micros(d));
            at += 1;
            clauses.push(format!("date_start <= ${at}"));
        }
        let where_sql = clauses.join(" AND ");
        let mut count = sqlx::query_scalar(trusted(format!(
            "SELECT COUNT(*) FROM plugin_invocations WHERE {where_sql}"
        )));
        for t in &text {
            count = count.bind(t.clone());
        }
        for n in &numbers {
            count = count.bind(*n);
        }
        let count: i64 = count.fetch_one(&self.pool).await?;
        let mut page = sqlx::query(trusted(format!(
            "SELECT {COLUMNS} FROM plugin_invocations WHERE {where_sql}
             ORDER BY date_start DESC, id LIMIT {} OFFSET {}",
            q.limit.max(0),
            q.offset.max(0)
        )));
        for t in &text {
            page = page.bind(t.clone());
        }
        for n in &numbers {
            page = page.bind(*n);
        }
        let rows = page.fetch_all(&self.pool).await?;
        let rows = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        Ok((count, rows))
    }

    /// One invocation of `plugin_id`.
    pub async fn plugin_invocation(
        &self,
        plugin_id: &str,
        id: Uuid,
    ) -> Result<Option<PluginInvocation>, StoreError> {
        let row = sqlx::query(trusted(format!(
            "SELECT {COLUMNS} FROM plugin_invocations WHERE id = $1 AND plugin_id = $2"
        )))
        .bind(id.to_string())
        .bind(plugin_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }
}
