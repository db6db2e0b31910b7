//! The plugins app (`/api/v1/plugins/…`): installed plugin versions and their lifecycle,
//! the publisher keys trusted to sign bundles, and the "allow unsigned plugins" setting.
//!
//! Plugins are system-wide (JumpServer has no plugins; a plugin runs for every org), so
//! every endpoint is for system administrators only ([`Caller::require_system`]): an org
//! admin's `*` does not reach them. The work is done by [`crate::plugins::PluginHost`]; the
//! handlers read bodies, map errors and write the operation log.
//!
//! Install takes the bundle as a multipart upload (field `file`, or `bundle`) or as the raw
//! `.tar.gz` body (`Content-Type: application/gzip` or `application/octet-stream`), up to
//! [`BUNDLE_LIMIT`].

use super::common::{audit, caller_name, check_fields, diff, flag, object, text};
use crate::ctx::Caller;
use crate::error::ApiError;
use crate::fmt::{datetime, opt_datetime};
use crate::list::ListQuery;
use crate::plugins::{
    LifecycleError, PluginHost, config_of, effective_config, grant_of, limit_overrides_of,
    limits_of,
};
use crate::{AppState, Host};
use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, OriginalUri, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use portcullis_core::secret::SecretString;
use portcullis_plugin::manifest::{FieldError, LimitOverrides, Manifest};
use portcullis_plugin::signing;
use portcullis_store::plugin_invocations::{InvocationQuery, OUTCOMES, PluginInvocation};
use portcullis_store::plugins::{NewTrustedKey, PluginFilter, PluginRecord, TrustedKeyRecord};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The largest bundle upload (a Python or JS component is 12–18 MB; the bundle reader caps
/// the unpacked size separately).
pub const BUNDLE_LIMIT: usize = 256 * 1024 * 1024;

const ADD: &str = "plugins.add_plugin";
const CHANGE: &str = "plugins.change_plugin";
const DELETE: &str = "plugins.delete_plugin";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/plugins/plugins/",
            get(list)
                .post(install)
                .layer(DefaultBodyLimit::max(BUNDLE_LIMIT)),
        )
        .route("/api/v1/plugins/plugins/{id}/", get(detail).delete(remove))
        .route(
            "/api/v1/plugins/plugins/{id}/grant/",
            put(set_grant).patch(set_grant),
        )
        .route(
            "/api/v1/plugins/plugins/{id}/config/",
            put(set_config).patch(set_config),
        )
        .route(
            "/api/v1/plugins/plugins/{id}/limits/",
            put(set_limits).patch(set_limits),
        )
        .route("/api/v1/plugins/plugins/{id}/secrets/", put(set_secrets))
        .route("/api/v1/plugins/plugins/{id}/enable/", post(enable))
        .route("/api/v1/plugins/plugins/{id}/disable/", post(disable))
        .route("/api/v1/plugins/plugins/{id}/rollback/", post(rollback))
        .route(
            "/api/v1/plugins/trusted-keys/",
            get(key_list).post(key_create),
        )
        .route(
            "/api/v1/plugins/trusted-keys/{id}/",
            get(key_detail).delete(key_delete),
        )
        .route("/api/v1/plugins/{name}/invocations/", get(invocation_list))
        .route(
            "/api/v1/plugins/{name}/invocations/{id}/",
            get(invocation_detail),
        )
        .route(
            "/api/v1/plugins/settings/",
            get(settings_get).patch(settings_patch).put(settings_patch),
        )
}

// ---------------------------------------------------------------------------------------------
// Errors and serialization
// ---------------------------------------------------------------------------------------------

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::Refused(m) => ApiError::Refused(m),
            LifecycleError::Fields(errors) => fields(errors),
            LifecycleError::NotFound => ApiError::NotFound("Plugin"),
            LifecycleError::Store(e) => e.into(),
            LifecycleError::Internal(m) => ApiError::Internal(m),
        }
    }
}

fn fields(errors: Vec<FieldError>) -> ApiError {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in errors {
        map.entry(e.field).or_default().push(e.message);
    }
    ApiError::Fields(map)
}

fn host(state: &AppState) -> Result<&PluginHost, ApiError> {
    state
        .plugins()
        .ok_or_else(|| ApiError::Internal("the plugin runtime is not running".into()))
}

/// A plugin version as the API shows it. Secret values never appear: `secrets.bound` lists
/// the names that have a value.
fn plugin_json(state: &AppState, r: &PluginRecord, detail: bool) -> Value {
    let manifest = Manifest::parse(r.manifest.as_bytes()).ok();
    let loaded = state
        .plugins()
        .and_then(|h| h.registry.get(&r.plugin_id))
        .is_some_and(|p| p.version == r.version);
    let mut v = json!({
        "id": r.id,
        "plugin_id": r.plugin_id,
        "version": r.version,
        "name": r.name,
        "kind": r.kind,
        "publisher": r.publisher,
        "sha256": r.sha256,
        "signed": r.signed_key_id.is_some(),
        "signed_key_id": r.signed_key_id,
        "status": r.status,
        "is_active": r.is_active,
        "loaded": loaded,
        "load_error": r.load_error,
        "grants": grant_of(r),
        "config": config_of(r),
        "limits_override": limit_overrides_of(r),
        "installed_by": r.installed_by,
        "date_created": datetime(r.date_created),
        "date_updated": datetime(r.date_updated),
        "date_enabled": opt_datetime(r.date_enabled),
    });
    if let (Some(m), Value::Object(out)) = (&manifest, &mut v) {
        let limits = limits_of(m, r);
        out.insert("config".into(), json!(effective_config(m, r)));
        out.insert("description".into(), json!(m.description));
        out.insert("license".into(), json!(m.license));
        out.insert("api".into(), json!(m.api));
        out.insert("capabilities".into(), json!(m.capabilities));
        out.insert(
            "secrets".into(),
            json!({"declared": m.capabilities.secrets, "bound": r.secret_names}),
        );
        out.insert(
            "limits".into(),
            json!({
                "memory_mb": limits.memory_bytes / (1024 * 1024),
                "timeout_s": limits.deadline.as_secs(),
                "requested": m.limits,
            }),
        );
        if detail {
            out.insert("config_schema".into(), json!(m.config));
            out.insert("automation".into(), json!(m.automation));
        }
    }
    if detail && let Value::Object(out) = &mut v {
        out.insert("imports".into(), r.imports.clone());
        out.insert("manifest".into(), json!(r.manifest));
    }
    v
}

async fn record(state: &AppState, id: &str) -> Result<PluginRecord, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("Plugin"))?;
    state
        .store()
        .plugin(id)
        .await?
        .ok_or(ApiError::NotFound("Plugin"))
}

fn label(r: &PluginRecord) -> String {
    format!("{}@{}", r.plugin_id, r.version)
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// `GET /plugins/plugins/`: filters `plugin_id`, `status`, `kind`, `is_active`; `search`
/// over id, name and publisher.
async fn list(
    _caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(hostname): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let filter_text = |name: &str| {
        q.filters
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let status = filter_text("status");
    if let Some(s) = &status
        && !portcullis_store::plugins::STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::field(
            "status",
            format!("Select a valid choice. {s} is not one of the available choices."),
        ));
    }
    let filter = PluginFilter {
        plugin_id: filter_text("plugin_id"),
        status,
        kind: filter_text("kind"),
        is_active: q.flag("is_active")?,
        search: q.search.clone(),
        limit,
        offset,
    };
    let (count, records) = state.store().list_plugins(&filter).await?;
    let rows = records
        .iter()
        .map(|r| plugin_json(&state, r, false))
        .collect();
    Ok(Json(q.respond(&uri, &hostname, count, rows)))
}

/// `GET /plugins/plugins/<id>/`: also the manifest text, the configuration schema, the
/// automation methods and the install-time imports report.
async fn detail(
    _caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = record(&state, &id).await?;
    Ok(Json(plugin_json(&state, &r, true)))
}

// ---------------------------------------------------------------------------------------------
// Invocations
// ---------------------------------------------------------------------------------------------

/// An invocation as the API shows it; the log lines only in the detail.
fn invocation_json(i: &PluginInvocation, detail: bool) -> Value {
    let mut v = json!({
        "id": i.id,
        "plugin_id": i.plugin_id,
        "version": i.version,
        "world": i.world,
        "export": i.export,
        "trigger": {"kind": i.trigger_kind, "ref": i.trigger_ref},
        "date_start": datetime(i.date_start),
        "duration_ms": i.duration_us as f64 / 1000.0,
        "outcome": i.outcome,
        "error": i.error,
        "fuel": i.fuel,
        "memory_peak": i.memory_peak,
        "log_count": i.logs.as_array().map_or(0, Vec::len),
        "logs_dropped": i.logs_dropped,
    });
    if detail && let Value::Object(out) = &mut v {
        out.insert("logs".into(), i.logs.clone());
    }
    v
}

/// A `date_from` / `date_to` parameter; garbage is a 400 naming the parameter.
fn date_param(q: &ListQuery, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match q.filters.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => crate::fmt::parse_datetime(v).map(Some).ok_or_else(|| {
            ApiError::field(
                name,
                "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DD HH:MM:SS +ZZZZ, YYYY/MM/DD HH:MM:SS +ZZZZ, ISO 8601.",
            )
        }),
    }
}

/// `GET /plugins/<plugin_id>/invocations/`: the plugin's recorded invocations (every
/// version), newest first; filters `outcome`, `date_from`, `date_to`.
async fn invocation_list(
    _caller: Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    Host(hostname): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let outcome = q
        .filters
        .get("outcome")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    if let Some(o) = &outcome
        && !OUTCOMES.contains(&o.as_str())
    {
        return Err(ApiError::field(
            "outcome",
            format!("Select a valid choice. {o} is not one of the available choices."),
        ));
    }
    let query = InvocationQuery {
        plugin_id: name,
        outcome,
        date_from: date_param(&q, "date_from")?,
        date_to: date_param(&q, "date_to")?,
        limit,
        offset,
    };
    let (count, rows) = state.store().plugin_invocations(&query).await?;
    let rows = rows.iter().map(|i| invocation_json(i, false)).collect();
    Ok(Json(q.respond(&uri, &hostname, count, rows)))
}

/// `GET /plugins/<plugin_id>/invocations/<id>/`: one invocation with its log lines.
async fn invocation_detail(
    _caller: Caller,
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("Invocation"))?;
    let i = state
        .store()
        .plugin_invocation(&name, id)
        .await?
        .ok_or(ApiError::NotFound("Invocation"))?;
    Ok(Json(invocation_json(&i, true)))
}

// ---------------------------------------------------------------------------------------------
// Install and remove
// ---------------------------------------------------------------------------------------------

/// The bundle bytes of an upload: a multipart form's `file` (or `bundle`) field, or the raw
/// body. A JSON body is refused with the two ways to send a bundle.
async fn bundle_bytes(state: &AppState, req: Request) -> Result<Vec<u8>, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let upload_error = |m: String| ApiError::field("file", m);
    match content_type.as_str() {
        "multipart/form-data" => {
            let mut form = Multipart::from_request(req, state)
                .await
                .map_err(|e| upload_error(e.body_text()))?;
            while let Some(field) = form
                .next_field()
                .await
                .map_err(|e| upload_error(e.body_text()))?
            {
                if matches!(field.name(), Some("file" | "bundle")) {
                    let data = field
                        .bytes()
                        .await
                        .map_err(|e| upload_error(e.body_text()))?;
                    return Ok(data.to_vec());
                }
            }
            Err(upload_error("No file was submitted.".into()))
        }
        "application/json" | "application/x-www-form-urlencoded" => Err(upload_error(
            "Upload the bundle: a multipart form with a `file` field, or the .tar.gz as the body (Content-Type: application/gzip).".into(),
        )),
        _ => {
            let bytes = axum::body::to_bytes(req.into_body(), BUNDLE_LIMIT)
                .await
                .map_err(|_| upload_error("The bundle is too large.".into()))?;
            if bytes.is_empty() {
                return Err(upload_error("No file was submitted.".into()));
            }
            Ok(bytes.to_vec())
        }
    }
}

/// `POST /plugins/plugins/`: installs a bundle (201 with the new version). Nothing is
/// written when any check fails (400 `{"error": …}` saying which and why).
async fn install(
    caller: Caller,
    State(state): State<AppState>,
    req: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_system(ADD)?;
    let plugins = host(&state)?.clone();
    let bytes = bundle_bytes(&state, req).await?;
    let actor = caller_name(&state, &caller).await;
    let installed = match PluginHost::read_bundle(&bytes) {
        Ok(bundle) => {
            let what = format!("{}@{}", bundle.manifest.id, bundle.manifest.version);
            (
                what,
                plugins
                    .install(state.store(), state.vault(), bundle, &actor)
                    .await,
            )
        }
        Err(e) => ("bundle".to_owned(), Err(e)),
    };
    let r = match installed {
        (_, Ok(r)) => r,
        // A refused bundle is an event worth an auditor's eye (a tampered or unsigned
        // plugin, a component of the wrong world): the refusal and its reason are logged.
        (what, Err(e)) => {
            if matches!(e, LifecycleError::Refused(_) | LifecycleError::Fields(_)) {
                audit(
                    &state,
                    &caller,
                    "Plugin",
                    "reject",
                    &what,
                    "",
                    json!({"error": e.to_string()}),
                )
                .await;
            }
            return Err(e.into());
        }
    };
    let out = plugin_json(&state, &r, true);
    audit(
        &state,
        &caller,
        "Plugin",
        "create",
        &label(&r),
        &r.id.to_string(),
        json!({"after": {"plugin_id": r.plugin_id, "version": r.version, "kind": r.kind,
            "publisher": r.publisher, "sha256": r.sha256, "signed_key_id": r.signed_key_id}}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(out)))
}

/// `DELETE /plugins/plugins/<id>/`: uninstalls a version that is not enabled, files
/// included.
async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_system(DELETE)?;
    let r = record(&state, &id).await?;
    host(&state)?.remove(state.store(), r.id).await?;
    audit(
        &state,
        &caller,
        "Plugin",
        "delete",
        &label(&r),
        &r.id.to_string(),
        json!({"before": {"plugin_id": r.plugin_id, "version": r.version, "status": r.status}}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Settings of a version
// ---------------------------------------------------------------------------------------------

async fn updated(
    state: &AppState,
    caller: &Caller,
    before: &PluginRecord,
    after: &PluginRecord,
) -> Json<Value> {
    let b = plugin_json(state, before, false);
    let a = plugin_json(state, after, false);
    audit(
        state,
        caller,
        "Plugin",
        "update",
        &label(after),
        &after.id.to_string(),
        diff(&b, &a),
    )
    .await;
    Json(plugin_json(state, after, true))
}

/// `PATCH /plugins/plugins/<id>/grant/ {"http": […], "remote", "secrets": […], "reveal"}`:
/// the fields given replace the current grant's; the result must be a subset of what the
/// plugin requested (400 per field otherwise).
async fn set_grant(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_system(CHANGE)?;
    let before = record(&state, &id).await?;
    let body = object(body)?;
    check_fields(&body, &["http", "remote", "secrets", "reveal"])?;
    let mut grant = grant_of(&before);
    let strings = |name: &str| -> Result<Option<Vec<String>>, ApiError> {
        match body.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(Vec::new())),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| ApiError::field(name, "Expected a list of strings."))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(ApiError::field(name, "Expected a list of strings.")),
        }
    };
    if let Some(v) = strings("http")? {
        grant.http = v;
    }
    if let Some(v) = strings("secrets")? {
        grant.secrets = v;
    }
    if let Some(v) = flag(&body, "remote")? {
        grant.remote = v;
    }
    if let Some(v) = flag(&body, "reveal")? {
        grant.reveal = v;
    }
    let after = host(&state)?
        .set_grant(state.store(), before.id, &grant)
        .await?;
    Ok(updated(&state, &caller, &before, &after).await)
}

/// `PATCH /plugins/plugins/<id>/config/ {key: value, …}`: merged into the current
/// configuration (`null` removes a key), then validated against the manifest's schema as a
/// whole (400 per field: unknown keys, missing required values, wrong types, bad choices).
/// `PUT` replaces the configuration instead of merging.
async fn set_config(
    caller: Caller,
    State(state): State<AppState>,
    method: axum::http::Method,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_system(CHANGE)?;
    let before = record(&state, &id).await?;
    let body = object(body)?;
    let mut merged: Map<String, Value> = if method == axum::http::Method::PUT {
        Map::new()
    } else {
        config_of(&before)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    };
    for (k, v) in body {
        if v.is_null() {
            merged.remove(&k);
        } else {
            merged.insert(k, v);
        }
    }
    let after = host(&state)?
        .set_config(state.store(), before.id, &Value::Object(merged))
        .await?;
    Ok(updated(&state, &caller, &before, &after).await)
}

/// `PATCH /plugins/plugins/<id>/limits/ {"memory_mb", "timeout_s"}`: the administrator's
/// overrides (`null` returns a field to the plugin's request capped by its kind's default).
async fn set_limits(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_system(CHANGE)?;
    let before = record(&state, &id).await?;
    let body = object(body)?;
    check_fields(&body, &["memory_mb", "timeout_s"])?;
    let mut limits: LimitOverrides = limit_overrides_of(&before);
    for (name, slot) in [
        ("memory_mb", &mut limits.memory_mb),
        ("timeout_s", &mut limits.timeout_s),
    ] {
        match body.get(name) {
            None => {}
            Some(Value::Null) => *slot = None,
            Some(v) => {
                *slot = Some(
                    v.as_u64()
                        .ok_or_else(|| ApiError::field(name, "A valid integer is required."))?,
                )
            }
        }
    }
    let after = host(&state)?
        .set_limits(state.store(), before.id, &limits)
        .await?;
    Ok(updated(&state, &caller, &before, &after).await)
}

/// `PUT /plugins/plugins/<id>/secrets/ {name: "value" | null, …}`: binds values to secret
/// names the manifest declares (`null` unbinds). Values are sealed and never returned; the
/// answer lists which names are bound.
async fn set_secrets(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let before = record(&state, &id).await?;
    let body = object(body)?;
    let mut values = Vec::new();
    for (name, v) in body {
        match v {
            Value::Null => values.push((name, None)),
            Value::String(s) if !s.is_empty() => values.push((name, Some(SecretString::new(s)))),
            _ => {
                return Err(ApiError::field(
                    &name,
                    "Expected a non-empty string or null.",
                ));
            }
        }
    }
    let names: Vec<String> = values.iter().map(|(n, _)| n.clone()).collect();
    let after = host(&state)?
        .bind_secrets(state.store(), state.vault(), before.id, values)
        .await?;
    audit(
        &state,
        &caller,
        "Plugin",
        "update",
        &label(&after),
        &after.id.to_string(),
        json!({"secrets": [before.secret_names, after.secret_names], "changed": names}),
    )
    .await;
    Ok(Json(plugin_json(&state, &after, true)))
}

// ---------------------------------------------------------------------------------------------
// Enable, disable, roll back
// ---------------------------------------------------------------------------------------------

async fn status_change(
    state: &AppState,
    caller: &Caller,
    before: &PluginRecord,
    after: &PluginRecord,
    what: &str,
    previous: Option<Uuid>,
) -> Json<Value> {
    let mut d = diff(
        &plugin_json(state, before, false),
        &plugin_json(state, after, false),
    );
    if let Value::Object(m) = &mut d {
        m.insert("action".into(), json!(what));
        if let Some(p) = previous {
            m.insert("replaced".into(), json!(p));
        }
    }
    audit(
        state,
        caller,
        "Plugin",
        "update",
        &label(after),
        &after.id.to_string(),
        d,
    )
    .await;
    Json(plugin_json(state, after, true))
}

/// `POST /plugins/plugins/<id>/enable/`: loads the version, checks its `describe` answer
/// against the manifest and makes it the enabled version of its plugin (an enabled older
/// version is disabled in the same step; calls already running finish on it).
async fn enable(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require_system(CHANGE)?;
    let before = record(&state, &id).await?;
    let (after, previous) = host(&state)?.enable(state.store(), before.id).await?;
    Ok(status_change(&state, &caller, &before, &after, "enable", previous).await)
}

/// `POST /plugins/plugins/<id>/disable/`: no new calls (running ones finish).
async fn disable(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require_system(CHANGE)?;
    let before = record(&state, &id).await?;
    let after = host(&state)?.disable(state.store(), before.id).await?;
    Ok(status_change(&state, &caller, &before, &after, "disable", None).await)
}

/// `POST /plugins/plugins/<id>/rollback/`: enables the version that was enabled before this
/// one; answers with that version.
async fn rollback(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require_system(CHANGE)?;
    let from = record(&state, &id).await?;
    let (target, previous) = host(&state)?.rollback(state.store(), from.id).await?;
    let before = state
        .store()
        .plugin(target.id)
        .await?
        .unwrap_or_else(|| target.clone());
    let mut out = status_change(&state, &caller, &before, &target, "rollback", previous).await;
    if let Value::Object(m) = &mut out.0 {
        m.insert("rolled_back_from".into(), json!(from.id));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Trusted keys and settings
// ---------------------------------------------------------------------------------------------

fn key_json(k: &TrustedKeyRecord) -> Value {
    json!({
        "id": k.id,
        "key_id": k.key_id,
        "publisher": k.publisher,
        "public_key": k.public_key,
        "comment": k.comment,
        "created_by": k.created_by,
        "date_created": datetime(k.date_created),
    })
}

async fn key_list(
    _caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(hostname): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let keys = state.store().trusted_keys().await?;
    let (limit, offset) = q.window();
    let rows: Vec<Value> = keys
        .iter()
        .skip(usize::try_from(offset).unwrap_or(0))
        .take(usize::try_from(limit).unwrap_or(0))
        .map(key_json)
        .collect();
    Ok(Json(q.respond(&uri, &hostname, keys.len() as i64, rows)))
}

async fn key_detail(
    _caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = state
        .store()
        .trusted_key(&id)
        .await?
        .ok_or(ApiError::NotFound("TrustedKey"))?;
    Ok(Json(key_json(&key)))
}

/// `POST /plugins/trusted-keys/ {"publisher", "public_key": "ed25519:<base64>", "comment"}`.
async fn key_create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = object(body)?;
    check_fields(&body, &["publisher", "public_key", "comment"])?;
    let publisher = text(&body, "publisher")?.unwrap_or_default();
    if publisher.is_empty()
        || publisher.len() > 64
        || !publisher
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ApiError::field(
            "publisher",
            "1 to 64 letters, digits, `-`, `_` or `.` (the manifests' publisher).",
        ));
    }
    let public_key = text(&body, "public_key")?.unwrap_or_default();
    let key = signing::parse_public_key(&public_key)
        .map_err(|e| ApiError::field("public_key", e.to_string()))?;
    let new = NewTrustedKey {
        key_id: signing::key_id(&key),
        publisher,
        public_key: signing::public_key_text(&key),
        comment: text(&body, "comment")?.unwrap_or_default(),
        created_by: caller_name(&state, &caller).await,
    };
    let id = state.store().add_trusted_key(&new).await?;
    let k = state
        .store()
        .trusted_key(&id.to_string())
        .await?
        .ok_or(ApiError::NotFound("TrustedKey"))?;
    let out = key_json(&k);
    audit(
        &state,
        &caller,
        "PluginTrustedKey",
        "create",
        &format!("{} ({})", k.key_id, k.publisher),
        &k.id.to_string(),
        json!({"after": out}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(out)))
}

/// `DELETE /plugins/trusted-keys/<id>/` (row id or key id). Plugins it signed stay
/// installed; new bundles signed by it are refused.
async fn key_delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let key = state
        .store()
        .trusted_key(&id)
        .await?
        .ok_or(ApiError::NotFound("TrustedKey"))?;
    state.store().delete_trusted_key(key.id).await?;
    audit(
        &state,
        &caller,
        "PluginTrustedKey",
        "delete",
        &format!("{} ({})", key.key_id, key.publisher),
        &key.id.to_string(),
        json!({"before": key_json(&key)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

async fn settings_get(
    _caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"allow_unsigned": state.store().plugins_allow_unsigned().await?}),
    ))
}

/// `PATCH /plugins/settings/ {"allow_unsigned": bool}`.
async fn settings_patch(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    check_fields(&body, &["allow_unsigned"])?;
    let before = state.store().plugins_allow_unsigned().await?;
    if let Some(allow) = flag(&body, "allow_unsigned")? {
        state.store().set_plugins_allow_unsigned(allow).await?;
        if allow != before {
            audit(
                &state,
                &caller,
                "Setting",
                "update",
                portcullis_store::plugins::ALLOW_UNSIGNED,
                portcullis_store::plugins::ALLOW_UNSIGNED,
                json!({"allow_unsigned": [before, allow]}),
            )
            .await;
        }
    }
    Ok(Json(
        json!({"allow_unsigned": state.store().plugins_allow_unsigned().await?}),
    ))
}
