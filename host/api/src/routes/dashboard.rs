//! `GET /api/v1/index/?days=N` (reference §1.1 "Dashboard data"): the console's figures for
//! the current org, with JumpServer's key names: totals (users, assets, online users and
//! sessions, and how many of them are new in the window), per-day series over the last
//! `days` days (default 7, at most 366; days in the server's local time, labelled `MM-DD`), the
//! ten most used assets and users, and failed logins.
//!
//! Open to callers who see the console or the audit area of the org (`rbac.view_console` or
//! `rbac.view_audit`), as in JumpServer.

use crate::AppState;
use crate::ctx::Caller;
use crate::error::ApiError;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Local, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/index/", get(index))
}

const DEFAULT_DAYS: i64 = 7;
const MAX_DAYS: i64 = 366;
const TOP: usize = 10;

fn days_param(q: &HashMap<String, String>) -> Result<i64, ApiError> {
    match q.get("days").map(|d| d.trim()).filter(|d| !d.is_empty()) {
        None => Ok(DEFAULT_DAYS),
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=MAX_DAYS).contains(d))
            .ok_or_else(|| {
                ApiError::field(
                    "days",
                    format!("A whole number of days from 1 to {MAX_DAYS} is required."),
                )
            }),
    }
}

fn local_day(micros: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .with_timezone(&Local)
        .date_naive()
}

/// The `n` keys with the highest counts (ties by name), as `{<key_field>, <id_field>, total}`.
fn top(counts: HashMap<(String, String), i64>, key_field: &str, id_field: &str) -> Vec<Value> {
    let mut list: Vec<((String, String), i64)> = counts.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list.into_iter()
        .take(TOP)
        .map(|((id, name), total)| json!({key_field: name, id_field: id, "total": total}))
        .collect()
}

async fn index(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let days = days_param(&q)?;
    let today = Local::now().date_naive();
    let first = today - Duration::days(days - 1);
    let since = Local
        .from_local_datetime(&first.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map_or(0, |t| t.with_timezone(&Utc).timestamp_micros());

    let store = state.store();
    let totals = store.dashboard_totals(caller.org, since).await?;
    let sessions = store.dashboard_sessions(caller.org, since).await?;
    let logins = store.dashboard_logins(caller.org, since).await?;

    let dates: Vec<NaiveDate> = (0..days).map(|i| first + Duration::days(i)).collect();
    let slot = |d: NaiveDate| usize::try_from((d - first).num_days()).ok();
    let n = dates.len();
    let mut session_counts = vec![0i64; n];
    let mut active_assets = vec![BTreeSet::new(); n];
    let mut login_ok = vec![0i64; n];
    let mut login_failed = vec![0i64; n];
    let mut active_users = vec![BTreeSet::new(); n];
    let mut top_assets: HashMap<(String, String), i64> = HashMap::new();
    let mut top_users: HashMap<(String, String), i64> = HashMap::new();
    let mut session_users = BTreeSet::new();
    let mut failed_sessions = 0i64;
    for s in &sessions {
        if let Some(i) = slot(local_day(s.date_start)).filter(|i| *i < n) {
            session_counts[i] += 1;
            active_assets[i].insert(s.asset_id.clone());
        }
        if !s.is_success {
            failed_sessions += 1;
        }
        session_users.insert(s.user_id.clone());
        *top_assets
            .entry((s.asset_id.clone(), s.asset.clone()))
            .or_default() += 1;
        *top_users
            .entry((s.user_id.clone(), s.user_display.clone()))
            .or_default() += 1;
    }
    for l in &logins {
        let Some(i) = slot(local_day(l.datetime)).filter(|i| *i < n) else {
            continue;
        };
        if l.success {
            login_ok[i] += 1;
            active_users[i].insert(l.username.clone());
        } else {
            login_failed[i] += 1;
        }
    }
    let sizes =
        |sets: Vec<BTreeSet<String>>| -> Vec<usize> { sets.iter().map(BTreeSet::len).collect() };

    Ok(Json(json!({
        "days": days,
        "total_count_users": totals.users,
        "total_count_users_this_week": totals.users_new,
        "total_count_assets": totals.assets,
        "total_count_assets_this_week": totals.assets_new,
        "total_count_online_users": totals.online_users,
        "total_count_online_sessions": totals.online_sessions,
        "total_count_login_users": session_users.len(),
        "total_count_sessions": sessions.len(),
        "total_count_failed_sessions": failed_sessions,
        "total_count_login_success": login_ok.iter().sum::<i64>(),
        "total_count_login_failed": login_failed.iter().sum::<i64>(),
        "dates_metrics_date": dates.iter().map(|d| d.format("%m-%d").to_string()).collect::<Vec<_>>(),
        "dates_metrics_total_count_sessions": session_counts,
        "dates_metrics_total_count_active_assets": sizes(active_assets),
        "dates_metrics_total_count_login": login_ok,
        "dates_metrics_total_count_login_failed": login_failed,
        "dates_metrics_total_count_active_users": sizes(active_users),
        "dates_login_times_top10_assets": top(top_assets, "asset", "asset_id"),
        "dates_login_times_top10_users": top(top_users, "user", "user_id"),
    })))
}
