//! Pieces every resource handler shares: reading JSON bodies field by field with DRF-style
//! errors, refusing unknown fields, the operation log and the actor's display name.

use crate::AppState;
use crate::ctx::Caller;
use crate::error::{ApiError, bad_json};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The body as a JSON object, or a 400 in DRF's shape.
pub(crate) fn object(
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Map<String, Value>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::field(
            "non_field_errors",
            "Invalid data. Expected a dictionary.",
        )),
    }
}

/// Refuses fields the resource does not know, so a typo never silently does nothing.
pub(crate) fn check_fields(body: &Map<String, Value>, known: &[&str]) -> Result<(), ApiError> {
    let unknown: BTreeMap<String, Vec<String>> = body
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| (k.clone(), vec!["Unknown field.".to_owned()]))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Fields(unknown))
    }
}

/// Fields that must be present and non-empty.
pub(crate) fn require_fields(body: &Map<String, Value>, names: &[&str]) -> Result<(), ApiError> {
    let missing: BTreeMap<String, Vec<String>> = names
        .iter()
        .filter(|n| match body.get(**n) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.trim().is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        })
        .map(|n| ((*n).to_owned(), vec!["This field is required.".to_owned()]))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Fields(missing))
    }
}

/// An optional string field (trimmed).
pub(crate) fn text(body: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(ApiError::field(name, "Not a valid string.")),
    }
}

/// An optional boolean field.
pub(crate) fn flag(body: &Map<String, Value>, name: &str) -> Result<Option<bool>, ApiError> {
    // DRF's BooleanField: JSON booleans, 0/1, and the usual words (forms and CSV send text).
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(Some(true)),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(Some(false)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "on" | "1" => Ok(Some(true)),
            "false" | "f" | "no" | "n" | "off" | "0" => Ok(Some(false)),
            _ => Err(ApiError::field(name, "Must be a valid boolean.")),
        },
        Some(_) => Err(ApiError::field(name, "Must be a valid boolean.")),
    }
}

/// An optional integer field.
pub(crate) fn int(body: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::field(name, "A valid integer is required.")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::field(name, "A valid integer is required.")),
        Some(_) => Err(ApiError::field(name, "A valid integer is required.")),
    }
}

/// A list of related ids (`[id]`, `[{"id": …}]` or `[{"pk": …}]`), each a UUID.
pub(crate) fn uuids(body: &Map<String, Value>, name: &str) -> Result<Option<Vec<Uuid>>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                crate::fmt::related_input(v)
                    .and_then(|s| Uuid::parse_str(&s).ok())
                    .ok_or_else(|| ApiError::field(name, "Invalid pk - object does not exist."))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(ApiError::field(name, "Expected a list of items.")),
    }
}

/// `Name(username)` of the caller, as JumpServer writes `created_by` and log actors.
pub(crate) async fn caller_name(state: &AppState, caller: &Caller) -> String {
    match state.store().user_record(&caller.user_id.to_string()).await {
        Ok(Some(u)) => format!("{}({})", u.name, u.username),
        _ => caller.user_id.to_string(),
    }
}

/// Fields that differ between two serializations, as `{field: [before, after]}`.
pub(crate) fn diff(before: &Value, after: &Value) -> Value {
    let mut out = Map::new();
    if let (Value::Object(b), Value::Object(a)) = (before, after) {
        for (k, av) in a {
            let bv = b.get(k).unwrap_or(&Value::Null);
            if bv != av && k != "date_updated" {
                out.insert(k.clone(), json!([bv, av]));
            }
        }
    }
    Value::Object(out)
}

/// Writes the operation log; a failure to log is reported but does not undo the change.
pub(crate) async fn audit(
    state: &AppState,
    caller: &Caller,
    resource_type: &str,
    action: &str,
    resource: &str,
    id: &str,
    diff: Value,
) {
    let actor = caller_name(state, caller).await;
    if let Err(e) = state
        .store()
        .operate_log(
            caller.write_org(),
            &actor,
            action,
            resource_type,
            resource,
            id,
            &caller.ip.to_string(),
            &diff,
        )
        .await
    {
        tracing::error!(error = %e, "could not write the operation log");
    }
}
