//! The web sessions as the audit view lists them (`/api/v1/audits/user-sessions/`): logged-in
//! sessions that have not expired, with their user, and forcing some of them off.

use sqlx::Row;
use uuid::Uuid;

use crate::codec::{Flag, uuid};
use crate::{Store, StoreError};

/// A live web session, for the audit list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSessionRecord {
    /// Primary key.
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The user's login name.
    pub username: String,
    /// The user's display name.
    pub user_name: String,
    /// Client address.
    pub ip: String,
    /// City of the address (empty: not resolved).
    pub city: String,
    /// Client user agent.
    pub user_agent: String,
    /// `W`, `T` or `U`.
    pub login_type: String,
    /// Authentication backend.
    pub backend: String,
    /// Microseconds.
    pub date_created: i64,
    /// Microseconds.
    pub date_expired: i64,
}

impl Store {
    /// The finished (logged-in), unexpired web sessions, newest first; with `org`, only those
    /// of users holding a role in that org (the root view sees all).
    pub async fn web_sessions(
        &self,
        org: Option<Uuid>,
        now: i64,
    ) -> Result<Vec<WebSessionRecord>, StoreError> {
        let mut sql = String::from(
            "SELECT s.id, s.user_id, u.username, u.name, s.ip, s.city, s.user_agent, s.type,
                s.backend, s.date_created, s.date_expired, s.is_active
             FROM user_sessions s JOIN users u ON u.id = s.user_id
             WHERE s.date_expired > $1",
        );
        if org.is_some() {
            sql.push_str(" AND s.user_id IN (SELECT user_id FROM role_bindings WHERE org_id = $2)");
        }
        sql.push_str(" ORDER BY s.date_created DESC, s.id");
        let mut q = sqlx::query(crate::codec::trusted(sql)).bind(now);
        if let Some(org) = org {
            q = q.bind(org.to_string());
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            // Unfinished logins (password checked, second factor pending) are not sessions.
            if !r.try_get::<Flag, _>("is_active")?.0 {
                continue;
            }
            let id: String = r.try_get("id")?;
            let user_id: String = r.try_get("user_id")?;
            out.push(WebSessionRecord {
                id: uuid(&id, "user_sessions.id")?,
                user_id: uuid(&user_id, "user_sessions.user_id")?,
                username: r.try_get("username")?,
                user_name: r.try_get("name")?,
                ip: r.try_get("ip")?,
                city: r.try_get("city")?,
                user_agent: r.try_get("user_agent")?,
                login_type: r.try_get("type")?,
                backend: r.try_get("backend")?,
                date_created: r.try_get("date_created")?,
                date_expired: r.try_get("date_expired")?,
            });
        }
        Ok(out)
    }
}
