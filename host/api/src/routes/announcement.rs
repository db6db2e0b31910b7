//! The site announcement in the settings API (`?category=announcement`) and the public
//! settings: `ANNOUNCEMENT_ENABLED` and `ANNOUNCEMENT` `{ID, SUBJECT, CONTENT, LINK,
//! DATE_START, DATE_END}` as JumpServer serves them. The web UI and the SSH gateway's menu show
//! it while enabled and inside its date range; the store decides that
//! ([`portcullis_store::Store::current_announcement`]) so every front door agrees.

use super::common::{audit, check_fields, diff};
use crate::AppState;
use crate::ctx::Caller;
use crate::error::ApiError;
use crate::fmt::parse_datetime;
use portcullis_store::settings::{
    ANNOUNCEMENT, ANNOUNCEMENT_CATEGORY, ANNOUNCEMENT_ENABLED, Announcement,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The longest subject (JumpServer's limit).
const SUBJECT_MAX: usize = 1024;
/// The longest content; a terminal banner beyond this helps nobody.
const CONTENT_MAX: usize = 16 * 1024;

/// The two settings as the settings page and the public settings show them.
pub(crate) async fn values(state: &AppState) -> Result<Map<String, Value>, ApiError> {
    let (enabled, a) = state.store().announcement().await?;
    let mut m = Map::new();
    m.insert(ANNOUNCEMENT_ENABLED.into(), json!(enabled));
    m.insert(ANNOUNCEMENT.into(), a.to_value());
    Ok(m)
}

/// A string field of the announcement object; keys in either case.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| obj.get(&key.to_ascii_lowercase()))
}

/// Parses and checks an `ANNOUNCEMENT` object; every bad field is reported at once.
fn parse(v: &Value) -> Result<Announcement, ApiError> {
    let Value::Object(obj) = v else {
        return Err(ApiError::field(
            ANNOUNCEMENT,
            "Expected a dictionary of items but got a different type.",
        ));
    };
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut bad = |k: &str, msg: &str| {
        errors
            .entry(format!("{ANNOUNCEMENT}.{k}"))
            .or_default()
            .push(msg.to_owned());
    };
    let mut text = |k: &str, max: usize, required: bool| -> String {
        match field(obj, k) {
            Some(Value::String(s)) if s.chars().count() > max => {
                bad(
                    k,
                    &format!("Ensure this field has no more than {max} characters."),
                );
                String::new()
            }
            Some(Value::String(s)) if required && s.trim().is_empty() => {
                bad(k, "This field may not be blank.");
                String::new()
            }
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) if required => {
                bad(k, "This field is required.");
                String::new()
            }
            None | Some(Value::Null) => String::new(),
            Some(_) => {
                bad(k, "Not a valid string.");
                String::new()
            }
        }
    };
    let subject = text("SUBJECT", SUBJECT_MAX, true);
    let content = text("CONTENT", CONTENT_MAX, false);
    let link = text("LINK", 2048, false);
    let mut date = |k: &str| match field(obj, k) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => {
            let d = parse_datetime(s.trim());
            if d.is_none() {
                bad(
                    k,
                    "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DD HH:MM:SS +ZZZZ, YYYY/MM/DD HH:MM:SS +ZZZZ, ISO 8601.",
                );
            }
            d
        }
        Some(_) => {
            bad(k, "Datetime has wrong format.");
            None
        }
    };
    let date_start = date("DATE_START");
    let date_end = date("DATE_END");
    if !(link.is_empty() || link.starts_with("https://") || link.starts_with("http://")) {
        bad("LINK", "Enter a valid URL.");
    }
    if let (Some(s), Some(e)) = (date_start, date_end)
        && e <= s
    {
        bad("DATE_END", "The end must be after the start.");
    }
    if !errors.is_empty() {
        return Err(ApiError::Fields(errors));
    }
    Ok(Announcement {
        // A new id per edit, as JumpServer does, so a dismissed announcement returns when
        // it changes.
        id: Uuid::new_v4().simple().to_string(),
        subject,
        content,
        link,
        date_start,
        date_end,
    })
}

/// `PATCH|PUT /settings/setting/?category=announcement`: validates everything, then writes.
pub(crate) async fn patch(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    check_fields(body, &[ANNOUNCEMENT_ENABLED, ANNOUNCEMENT])?;
    let enabled = match body.get(ANNOUNCEMENT_ENABLED) {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s == "true" || s == "1" => Some(true),
        Some(Value::String(s)) if s == "false" || s == "0" => Some(false),
        Some(_) => {
            return Err(ApiError::field(
                ANNOUNCEMENT_ENABLED,
                "Must be a valid boolean.",
            ));
        }
    };
    let announcement = body.get(ANNOUNCEMENT).map(parse).transpose()?;
    let before = Value::Object(values(state).await?);
    let store = state.store();
    if let Some(b) = enabled {
        store
            .set_setting(ANNOUNCEMENT_ENABLED, ANNOUNCEMENT_CATEGORY, &json!(b))
            .await?;
    }
    if let Some(a) = &announcement {
        store
            .set_setting(ANNOUNCEMENT, ANNOUNCEMENT_CATEGORY, &a.to_value())
            .await?;
    }
    let after = values(state).await?;
    if enabled.is_some() || announcement.is_some() {
        let a = Value::Object(after.clone());
        audit(
            state,
            caller,
            "Setting",
            "update",
            ANNOUNCEMENT_CATEGORY,
            ANNOUNCEMENT_CATEGORY,
            diff(&before, &a),
        )
        .await;
    }
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_bodies_are_checked() {
        let a = parse(
            &json!({"SUBJECT": "Down", "CONTENT": "at 2am", "LINK": "https://x/y",
            "DATE_START": "2026-01-01T00:00:00Z"}),
        )
        .unwrap();
        assert_eq!(a.subject, "Down");
        assert!(a.date_start.is_some() && a.date_end.is_none());
        assert!(!a.id.is_empty());
        // Lower-case keys are accepted too.
        assert_eq!(parse(&json!({"subject": "s"})).unwrap().subject, "s");
        for bad in [
            json!({"CONTENT": "no subject"}),
            json!({"SUBJECT": " "}),
            json!({"SUBJECT": "s", "LINK": "javascript:alert(1)"}),
            json!({"SUBJECT": "s", "DATE_START": "soon"}),
            json!({"SUBJECT": "s", "DATE_START": "2026-02-01T00:00:00Z",
                   "DATE_END": "2026-01-01T00:00:00Z"}),
            json!("text"),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }
}
