//! Creating, changing and deleting platforms (`/api/v1/assets/platforms/`, reference §4.8).
//! The reads live with the assets routes.
//!
//! Platforms are global (every org's assets use them), so writing one needs a *system* role.
//! Built-in platforms (`internal`) cannot be deleted, and their identity cannot change: name,
//! category, type and the set of protocols (with which one is primary and which are
//! required) stay as shipped; ports, protocol settings, charset, switching and the comment
//! may be adjusted. A custom platform's category and type are fixed once created, as in
//! JumpServer. A platform that assets use cannot be deleted.
//!
//! `automation` is laid over the stored settings (see [`super::platform_automation`]: its
//! method names must be known methods of their kind), and `labels` are set like other
//! resources' labels, in the caller's org (labels belong to an org; the platform does not);
//! from the root (global) view, labels of any org, each kept in its own org.

use super::assets::platform_json;
use super::common::{audit, caller_name, check_fields, diff, flag, object, text};
use super::labels;
use super::platform_automation::{self, Catalogue};
use crate::AppState;
use crate::ctx::Caller;
use crate::error::ApiError;
use crate::fmt::choice_input;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_core::builtin::{CHARSETS, SU_METHODS, is_valid_type};
use portcullis_store::StoreError;
use portcullis_store::assets::PlatformRecord;
use portcullis_store::platforms::{AutomationInput, PlatformInput, ProtocolInput};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Fields a platform body may carry (read-only ones are accepted and ignored, so a client
/// can send back what it read).
pub(crate) const FIELDS: &[&str] = &[
    "id",
    "name",
    "category",
    "type",
    "charset",
    "protocols",
    "gateway_enabled",
    "domain_enabled",
    "su_enabled",
    "su_method",
    "ds_enabled",
    "custom_fields",
    "comment",
    "internal",
    "automation",
    "assets_amount",
    "labels",
    "has_package",
    "created_by",
    "date_created",
    "date_updated",
];

/// Longest platform name (JumpServer's column size).
const MAX_NAME: usize = 50;

type Errors = BTreeMap<String, Vec<String>>;

fn add(errors: &mut Errors, field: &str, msg: impl Into<String>) {
    errors.entry(field.to_owned()).or_default().push(msg.into());
}

/// The input of an existing platform, to lay a body over.
fn input_of(p: &PlatformRecord) -> PlatformInput {
    PlatformInput {
        name: p.name.clone(),
        category: p.category.clone(),
        type_: p.type_.clone(),
        charset: p.charset.clone(),
        gateway_enabled: p.gateway_enabled,
        su_enabled: p.su_enabled,
        su_method: p.su_method.clone(),
        ds_enabled: p.ds_enabled,
        custom_fields: p.custom_fields.clone(),
        comment: p.comment.clone(),
        automation: platform_automation::stored(p.automation.as_ref()),
        protocols: p
            .protocols
            .iter()
            .map(|pr| ProtocolInput {
                name: pr.name.clone(),
                port: pr.port,
                primary: pr.primary,
                required: pr.required,
                default: pr.default,
                public: pr.public,
                setting: pr.setting.clone(),
            })
            .collect(),
    }
}

/// One protocol entry: `{name, port, primary, required, default, public, setting}`, or a
/// plain `"name/port"` string.
fn protocol_input(v: &Value) -> Result<ProtocolInput, String> {
    let m = match v {
        Value::Object(m) => m.clone(),
        Value::String(s) => {
            let (name, port) = s
                .split_once('/')
                .ok_or_else(|| format!("\"{s}\": expected name/port or an object."))?;
            let mut m = Map::new();
            m.insert("name".into(), Value::String(name.to_owned()));
            m.insert("port".into(), Value::String(port.to_owned()));
            m
        }
        _ => return Err("Each protocol must be an object {name, port, …}.".into()),
    };
    let name = match m.get("name") {
        Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
        _ => return Err("A protocol needs a name.".into()),
    };
    if name.is_empty()
        || name.len() > 32
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "\"{name}\" is not a valid protocol name (letters, digits, _ and -, at most 32)."
        ));
    }
    let port = match m.get("port") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|p| (0..=65535).contains(p))
    .ok_or_else(|| format!("{name}: the port must be an integer from 0 to 65535."))?;
    let bool_of = |key: &str, default: bool| -> Result<bool, String> {
        flag(&m, key)
            .map(|v| v.unwrap_or(default))
            .map_err(|_| format!("{name}: \"{key}\" must be a boolean."))
    };
    let setting = match m.get("setting") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err(format!("{name}: \"setting\" must be an object.")),
    };
    Ok(ProtocolInput {
        port,
        primary: bool_of("primary", false)?,
        required: bool_of("required", false)?,
        default: bool_of("default", false)?,
        public: bool_of("public", true)?,
        setting,
        name,
    })
}

/// The `protocols` list: at least one, unique names, exactly one primary (the first when none
/// is marked).
fn protocols_input(v: &Value) -> Result<Vec<ProtocolInput>, String> {
    let Value::Array(items) = v else {
        return Err("Expected a list of protocols.".into());
    };
    if items.is_empty() {
        return Err("A platform needs at least one protocol.".into());
    }
    let mut out: Vec<ProtocolInput> = Vec::with_capacity(items.len());
    for item in items {
        let p = protocol_input(item)?;
        if out.iter().any(|o| o.name == p.name) {
            return Err(format!("Protocol \"{}\" is listed twice.", p.name));
        }
        out.push(p);
    }
    match out.iter().filter(|p| p.primary).count() {
        0 => {
            if let Some(first) = out.first_mut() {
                first.primary = true;
            }
        }
        1 => {}
        _ => return Err("Only one protocol can be primary.".into()),
    }
    Ok(out)
}

/// Lays `body` over `base` and checks the result. `existing` is the platform being changed
/// (`None` on create): its category and type are fixed, and a built-in one keeps its identity.
fn apply(
    body: &Map<String, Value>,
    mut p: PlatformInput,
    existing: Option<&PlatformRecord>,
    known: &Catalogue,
) -> Result<PlatformInput, ApiError> {
    check_fields(body, FIELDS)?;
    let mut errors = Errors::new();
    let creating = existing.is_none();
    let internal = existing.is_some_and(|e| e.internal);

    match text(body, "name") {
        Ok(Some(name)) => p.name = name,
        Ok(None) => {}
        Err(_) => add(&mut errors, "name", "Not a valid string."),
    }
    if p.name.is_empty() {
        add(&mut errors, "name", "This field is required.");
    } else if p.name.chars().count() > MAX_NAME {
        add(
            &mut errors,
            "name",
            format!("Ensure this field has no more than {MAX_NAME} characters."),
        );
    }
    for field in ["category", "type"] {
        let Some(v) = body.get(field).filter(|v| !v.is_null()) else {
            if creating {
                add(&mut errors, field, "This field is required.");
            }
            continue;
        };
        let Some(value) = choice_input(v) else {
            add(&mut errors, field, "Not a valid choice.");
            continue;
        };
        let slot = if field == "category" {
            &mut p.category
        } else {
            &mut p.type_
        };
        if creating {
            *slot = value;
        } else if *slot != value {
            add(
                &mut errors,
                field,
                format!("The {field} of a platform cannot be changed after it is created."),
            );
        }
    }
    if creating && !p.category.is_empty() && !is_valid_type(&p.category, &p.type_) {
        add(
            &mut errors,
            "type",
            format!(
                "\"{}\" is not a valid type of category \"{}\".",
                p.type_, p.category
            ),
        );
    }
    if let Some(v) = body.get("charset").filter(|v| !v.is_null()) {
        match choice_input(v) {
            Some(c) if CHARSETS.contains(&c.as_str()) => p.charset = c,
            _ => add(&mut errors, "charset", "Not a valid choice (utf-8 or gbk)."),
        }
    }
    for (field, slot) in [
        ("su_enabled", &mut p.su_enabled),
        ("ds_enabled", &mut p.ds_enabled),
    ] {
        match flag(body, field) {
            Ok(Some(b)) => *slot = b,
            Ok(None) => {}
            Err(_) => add(&mut errors, field, "Must be a valid boolean."),
        }
    }
    // `domain_enabled` is the older name of `gateway_enabled`.
    for field in ["domain_enabled", "gateway_enabled"] {
        match flag(body, field) {
            Ok(Some(b)) => p.gateway_enabled = b,
            Ok(None) => {}
            Err(_) => add(&mut errors, field, "Must be a valid boolean."),
        }
    }
    match body.get("su_method") {
        None => {}
        Some(Value::Null) => p.su_method = None,
        Some(v) => match choice_input(v) {
            Some(m) if m.is_empty() => p.su_method = None,
            Some(m) if SU_METHODS.contains(&m.as_str()) => p.su_method = Some(m),
            _ => add(
                &mut errors,
                "su_method",
                format!("Not a valid choice; one of: {}.", SU_METHODS.join(", ")),
            ),
        },
    }
    match body.get("custom_fields") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Array(_)) => p.custom_fields = v.clone(),
        Some(_) => add(&mut errors, "custom_fields", "Expected a list of fields."),
    }
    match text(body, "comment") {
        Ok(Some(c)) => p.comment = c,
        Ok(None) => {}
        Err(_) => add(&mut errors, "comment", "Not a valid string."),
    }
    match body.get("protocols").filter(|v| !v.is_null()) {
        Some(v) => match protocols_input(v) {
            Ok(list) => p.protocols = list,
            Err(msg) => add(&mut errors, "protocols", msg),
        },
        None if creating => add(&mut errors, "protocols", "This field is required."),
        None => {}
    }

    let mut automation_errors = None;
    if let Some(v) = body.get("automation") {
        match platform_automation::apply(v, p.automation.clone(), known) {
            Ok(a) => p.automation = a,
            Err(e) => automation_errors = Some(e),
        }
    }

    if let Some(before) = existing.filter(|_| internal) {
        protect_builtin(before, &p, &mut errors);
    }
    match automation_errors {
        None if errors.is_empty() => Ok(p),
        None => Err(ApiError::Fields(errors)),
        // `automation`'s errors are nested (DRF's shape for a nested serializer).
        Some(nested) => {
            let mut all: Map<String, Value> = errors
                .into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect();
            all.insert("automation".into(), Value::Object(nested));
            Err(ApiError::Invalid(Value::Object(all)))
        }
    }
}

/// A built-in platform keeps its name, its protocols (names, primary, required) and has no
/// custom fields.
fn protect_builtin(before: &PlatformRecord, after: &PlatformInput, errors: &mut Errors) {
    if after.name != before.name {
        add(errors, "name", "A built-in platform cannot be renamed.");
    }
    if after.custom_fields != before.custom_fields {
        add(
            errors,
            "custom_fields",
            "A built-in platform's custom fields cannot be changed.",
        );
    }
    let shape = |list: Vec<(String, bool, bool)>| {
        let mut list = list;
        list.sort();
        list
    };
    let was = shape(
        before
            .protocols
            .iter()
            .map(|p| (p.name.clone(), p.primary, p.required))
            .collect(),
    );
    let now = shape(
        after
            .protocols
            .iter()
            .map(|p| (p.name.clone(), p.primary, p.required))
            .collect(),
    );
    if was != now {
        add(
            errors,
            "protocols",
            "A built-in platform's protocols cannot be added, removed, or change which is \
             primary or required; only their ports and settings can be adjusted.",
        );
    }
}

/// The platform named by a path key (integer id or name), in every org.
pub(crate) async fn existing(state: &AppState, key: &str) -> Result<PlatformRecord, ApiError> {
    state
        .store()
        .platform(None, key)
        .await?
        .ok_or(ApiError::NotFound("Platform"))
}

fn name_taken(name: &str) -> ApiError {
    ApiError::field(
        "name",
        format!("A platform named \"{name}\" already exists."),
    )
}

/// The platform as shown, with its labels in the caller's org.
async fn shown(state: &AppState, caller: &Caller, p: &PlatformRecord) -> Result<Value, ApiError> {
    labels::with_labels(state, caller.org, PLATFORM_TYPE, platform_json(p)).await
}

/// The label resource type of platforms.
pub(crate) const PLATFORM_TYPE: &str = "assets.platform";

/// `POST /assets/platforms/`: a custom platform. 201 with the platform.
pub(crate) async fn platform_create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_system("assets.add_platform")?;
    let body = object(body)?;
    let blank = PlatformInput {
        name: String::new(),
        category: String::new(),
        type_: String::new(),
        charset: "utf-8".into(),
        gateway_enabled: false,
        su_enabled: false,
        su_method: None,
        ds_enabled: false,
        custom_fields: Value::Array(Vec::new()),
        comment: String::new(),
        protocols: Vec::new(),
        automation: AutomationInput::none(),
    };
    let known = Catalogue::load(&state).await?;
    let input = apply(&body, blank, None, &known)?;
    let new_labels = labels::global_labels_checked(&state, &caller, &body).await?;
    let by = caller_name(&state, &caller).await;
    let id = state
        .store()
        .create_platform(&input, &by)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => name_taken(&input.name),
            other => other.into(),
        })?;
    if let Some(refs) = &new_labels {
        labels::save_global_labels(&state, &caller, PLATFORM_TYPE, &id.to_string(), refs).await?;
    }
    let created = existing(&state, &id.to_string()).await?;
    let out = shown(&state, &caller, &created).await?;
    audit(
        &state,
        &caller,
        "Platform",
        "create",
        &created.name,
        &id.to_string(),
        serde_json::json!({"after": out}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `PUT`/`PATCH /assets/platforms/<id>/`: fields not sent keep their values.
pub(crate) async fn platform_update(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_system("assets.change_platform")?;
    let body = object(body)?;
    let before = existing(&state, &key).await?;
    let known = Catalogue::load(&state).await?;
    let input = apply(&body, input_of(&before), Some(&before), &known)?;
    let new_labels = labels::global_labels_checked(&state, &caller, &body).await?;
    let b = shown(&state, &caller, &before).await?;
    let by = caller_name(&state, &caller).await;
    let found = state
        .store()
        .update_platform(before.id, &input, &by)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => name_taken(&input.name),
            other => other.into(),
        })?;
    if !found {
        return Err(ApiError::NotFound("Platform"));
    }
    if let Some(refs) = &new_labels {
        labels::save_global_labels(&state, &caller, PLATFORM_TYPE, &before.id.to_string(), refs)
            .await?;
    }
    let after = existing(&state, &before.id.to_string()).await?;
    let a = shown(&state, &caller, &after).await?;
    audit(
        &state,
        &caller,
        "Platform",
        "update",
        &after.name,
        &after.id.to_string(),
        diff(&b, &a),
    )
    .await;
    Ok(Json(a))
}

/// `DELETE /assets/platforms/<id>/`: 204; 400 for a built-in platform or one that assets
/// use.
pub(crate) async fn platform_delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_system("assets.delete_platform")?;
    let before = existing(&state, &key).await?;
    if before.internal {
        return Err(ApiError::Refused(format!(
            "\"{}\" is a built-in platform and cannot be deleted.",
            before.name
        )));
    }
    let used = state.store().platform_asset_count(before.id).await?;
    if used > 0 {
        return Err(ApiError::Refused(format!(
            "Platform \"{}\" is used by {used} asset(s) and cannot be deleted; move them to \
             another platform first.",
            before.name
        )));
    }
    if !state.store().delete_platform(before.id).await? {
        return Err(ApiError::NotFound("Platform"));
    }
    audit(
        &state,
        &caller,
        "Platform",
        "delete",
        &before.name,
        &before.id.to_string(),
        serde_json::json!({"before": platform_json(&before)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
