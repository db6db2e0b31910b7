//! System settings: one JSON value per upper-case name, as JumpServer's settings API exposes them.

use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The setting that records which master key sealed the stored secrets.
pub const VAULT_KEY_ID: &str = "VAULT_MASTER_KEY_ID";

impl Store {
    /// Reads a setting; `None` when it was never written. On a database that has not been
    /// migrated yet this is also `None`, so callers can ask before migrating.
    pub async fn setting(&self, name: &str) -> Result<Option<Value>, StoreError> {
        if self.applied_versions().await?.is_empty() {
            return Ok(None);
        }
        let text: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|_| StoreError::Corrupt(format!("setting {name}")))
        })
        .transpose()
    }

    /// Writes a setting.
    pub async fn set_setting(
        &self,
        name: &str,
        category: &str,
        value: &Value,
    ) -> Result<(), StoreError> {
        set_setting_in(&mut *self.pool.acquire().await?, name, category, value).await
    }
}

pub(crate) async fn set_setting_in(
    conn: &mut sqlx::AnyConnection,
    name: &str,
    category: &str,
    value: &Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO settings (name, category, value, date_updated) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, category = excluded.category,
             date_updated = excluded.date_updated",
    )
    .bind(name)
    .bind(category)
    .bind(value.to_string())
    .bind(crate::codec::now_micros())
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether the announcement is shown (JumpServer's `ANNOUNCEMENT_ENABLED`).
pub const ANNOUNCEMENT_ENABLED: &str = "ANNOUNCEMENT_ENABLED";
/// The announcement itself (JumpServer's `ANNOUNCEMENT`, an object with upper-case keys).
pub const ANNOUNCEMENT: &str = "ANNOUNCEMENT";
/// The settings category both are kept under.
pub const ANNOUNCEMENT_CATEGORY: &str = "announcement";

/// The site announcement users see in the web UI and above the SSH gateway's menu. Stored as
/// JumpServer serves it in the public settings: `{"ID", "SUBJECT", "CONTENT", "LINK",
/// "DATE_START", "DATE_END"}` (dates RFC 3339, either may be absent for an open range).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Announcement {
    /// A new id per edit, so a client that hid one announcement shows the next.
    pub id: String,
    /// The heading.
    pub subject: String,
    /// The text (may span lines).
    pub content: String,
    /// A link for more, or empty.
    pub link: String,
    /// Shown from this time on.
    pub date_start: Option<DateTime<Utc>>,
    /// Shown until this time.
    pub date_end: Option<DateTime<Utc>>,
}

impl Announcement {
    /// Reads the stored object; keys in either case (JumpServer's upper case is canonical). A
    /// date that does not parse is treated as absent rather than hiding the announcement.
    pub fn from_value(v: &Value) -> Announcement {
        let text = |k: &str| {
            v.get(k)
                .or_else(|| v.get(k.to_ascii_lowercase()))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let date = |k: &str| {
            let s = text(k);
            DateTime::parse_from_rfc3339(s.trim())
                .ok()
                .map(|d| d.with_timezone(&Utc))
        };
        Announcement {
            id: text("ID"),
            subject: text("SUBJECT"),
            content: text("CONTENT"),
            link: text("LINK"),
            date_start: date("DATE_START"),
            date_end: date("DATE_END"),
        }
    }

    /// The stored and served form.
    pub fn to_value(&self) -> Value {
        let date = |d: &Option<DateTime<Utc>>| {
            d.map_or(Value::Null, |d| {
                Value::String(d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            })
        };
        serde_json::json!({
            "ID": self.id,
            "SUBJECT": self.subject,
            "CONTENT": self.content,
            "LINK": self.link,
            "DATE_START": date(&self.date_start),
            "DATE_END": date(&self.date_end),
        })
    }

    /// Whether `now` is inside its date range (an absent end means no end).
    pub fn is_current(&self, now: DateTime<Utc>) -> bool {
        self.date_start.is_none_or(|s| s <= now) && self.date_end.is_none_or(|e| now < e)
    }
}

impl Store {
    /// Whether the announcement is enabled, and the announcement as stored (empty when never
    /// written).
    pub async fn announcement(&self) -> Result<(bool, Announcement), StoreError> {
        let enabled = self
            .setting(ANNOUNCEMENT_ENABLED)
            .await?
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let a = self
            .setting(ANNOUNCEMENT)
            .await?
            .map(|v| Announcement::from_value(&v))
            .unwrap_or_default();
        Ok((enabled, a))
    }

    /// The announcement to show now: enabled, with a subject or content, and in its date
    /// range; `None` otherwise.
    pub async fn current_announcement(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<Announcement>, StoreError> {
        let (enabled, a) = self.announcement().await?;
        let has_text = !a.subject.trim().is_empty() || !a.content.trim().is_empty();
        Ok((enabled && has_text && a.is_current(now)).then_some(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_round_trip_and_range() {
        let v = serde_json::json!({"subject": "Hi", "CONTENT": "a\nb", "LINK": "https://x",
            "DATE_START": "2026-01-01T00:00:00Z", "DATE_END": "bogus"});
        let a = Announcement::from_value(&v);
        assert_eq!(a.subject, "Hi");
        assert_eq!(a.content, "a\nb");
        assert_eq!(a.date_end, None);
        let start = a.date_start.unwrap();
        assert!(!a.is_current(start - chrono::Duration::seconds(1)));
        assert!(a.is_current(start));
        assert_eq!(Announcement::from_value(&a.to_value()), a);
        let ended = Announcement {
            date_end: Some(start),
            ..Announcement::default()
        };
        assert!(!ended.is_current(start));
    }
}
