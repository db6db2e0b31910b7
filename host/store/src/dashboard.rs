//! Figures for the dashboard (`/api/v1/index/`): counts of users, assets and online sessions,
//! and the sessions and logins of a recent window, scoped to one org (`None`: every org).
//! The API buckets them by day and ranks them; the store only reads.

use crate::codec::{Flag, trusted};
use crate::{Store, StoreError};
use sqlx::Row;
use uuid::Uuid;

/// Current totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DashboardTotals {
    /// Users: the org's members, or every user in the root view.
    pub users: i64,
    /// Users who joined since the window's start.
    pub users_new: i64,
    /// Assets.
    pub assets: i64,
    /// Assets created since the window's start.
    pub assets_new: i64,
    /// Sessions still running.
    pub online_sessions: i64,
    /// Distinct users with a running session.
    pub online_users: i64,
}

/// One session started in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStart {
    /// Microseconds.
    pub date_start: i64,
    /// The user.
    pub user_id: String,
    /// `Name(username)` at the time.
    pub user_display: String,
    /// The asset.
    pub asset_id: String,
    /// The asset's display at the time.
    pub asset: String,
    /// Whether the connection succeeded.
    pub is_success: bool,
}

/// One login attempt in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    /// Microseconds.
    pub datetime: i64,
    /// The name typed.
    pub username: String,
    /// Whether it succeeded.
    pub success: bool,
}

/// `AND <col> = $n` for an org, with its value.
fn org_filter(org: Option<Uuid>, col: &str, n: usize) -> (String, Option<String>) {
    match org {
        Some(o) => (format!(" AND {col} = ${n}"), Some(o.to_string())),
        None => (String::new(), None),
    }
}

impl Store {
    /// The current totals; "new" counts those created at or after `since` (microseconds).
    pub async fn dashboard_totals(
        &self,
        org: Option<Uuid>,
        since: i64,
    ) -> Result<DashboardTotals, StoreError> {
        let members = match org {
            Some(_) => "SELECT COUNT(*) FROM users u WHERE u.date_joined >= $1 AND EXISTS
                 (SELECT 1 FROM role_bindings rb WHERE rb.user_id = u.id AND rb.org_id = $2)"
                .to_owned(),
            None => "SELECT COUNT(*) FROM users u WHERE u.date_joined >= $1".to_owned(),
        };
        let count = |sql: String, since: i64| {
            let mut q = sqlx::query_scalar::<_, i64>(trusted(sql)).bind(since);
            if let Some(o) = org {
                q = q.bind(o.to_string());
            }
            q.fetch_one(&self.pool)
        };
        let users = count(members.clone(), i64::MIN).await?;
        let users_new = count(members, since).await?;
        let (f, _) = org_filter(org, "org_id", 2);
        let assets_sql = format!("SELECT COUNT(*) FROM assets WHERE date_created >= $1{f}");
        let assets = count(assets_sql.clone(), i64::MIN).await?;
        let assets_new = count(assets_sql, since).await?;
        let online_sessions = count(
            format!(
                "SELECT COUNT(*) FROM sessions WHERE is_finished = FALSE AND date_start >= $1{f}"
            ),
            i64::MIN,
        )
        .await?;
        let online_users = count(
            format!(
                "SELECT COUNT(DISTINCT user_id) FROM sessions
                 WHERE is_finished = FALSE AND date_start >= $1{f}"
            ),
            i64::MIN,
        )
        .await?;
        Ok(DashboardTotals {
            users,
            users_new,
            assets,
            assets_new,
            online_sessions,
            online_users,
        })
    }

    /// Sessions started at or after `since`, oldest first.
    pub async fn dashboard_sessions(
        &self,
        org: Option<Uuid>,
        since: i64,
    ) -> Result<Vec<SessionStart>, StoreError> {
        let (f, o) = org_filter(org, "org_id", 2);
        let mut q = sqlx::query(trusted(format!(
            "SELECT date_start, user_id, user_display, asset_id, asset, is_success FROM sessions
             WHERE date_start >= $1{f} ORDER BY date_start"
        )))
        .bind(since);
        if let Some(o) = o {
            q = q.bind(o);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(SessionStart {
                    date_start: r.try_get("date_start")?,
                    user_id: r.try_get("user_id")?,
                    user_display: r.try_get("user_display")?,
                    asset_id: r.try_get("asset_id")?,
                    asset: r.try_get("asset")?,
                    is_success: r.try_get::<Flag, _>("is_success")?.0,
                })
            })
            .collect()
    }

    /// Login attempts at or after `since`, oldest first; in an org, those of its members'
    /// login names.
    pub async fn dashboard_logins(
        &self,
        org: Option<Uuid>,
        since: i64,
    ) -> Result<Vec<LoginAttempt>, StoreError> {
        let f = if org.is_some() {
            " AND l.username IN (SELECT u.username FROM users u JOIN role_bindings rb
                 ON rb.user_id = u.id WHERE rb.org_id = $2)"
        } else {
            ""
        };
        let mut q = sqlx::query(trusted(format!(
            "SELECT l.datetime, l.username, l.status FROM login_logs l
             WHERE l.datetime >= $1{f} ORDER BY l.datetime"
        )))
        .bind(since);
        if let Some(o) = org {
            q = q.bind(o.to_string());
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(LoginAttempt {
                    datetime: r.try_get("datetime")?,
                    username: r.try_get("username")?,
                    success: r.try_get::<Flag, _>("status")?.0,
                })
            })
            .collect()
    }
}
