//! Platform automations (`portcullis_automation`): running a method on an asset through the
//! plugin its platform names, the execution records, the accounts gathered from assets, and
//! the platforms' per-method settings.
//!
//! - `POST /api/v1/assets/assets/{id}/automations/{method}/` runs `ping`, `verify_account`,
//!   `change_secret`, `push_account`, `gather_accounts` or `remove_account` (the WIT's
//!   kebab-case names work too) and answers when it is done. The body is an
//!   [`AutomationRequest`] (empty means `{}`). **200** with the execution whenever the plugin
//!   was called, also when the method failed: `status` is `failed` and `error` says why
//!   (`{code, message}`; `unauthorized` for a refused secret, `unavailable` for an unreachable
//!   or changed host, `verify_failed` when a change was made but the new secret did not log
//!   in). **400** when nothing could run (unknown fields, missing account, method not enabled
//!   for the platform, plugin not enabled, no privileged account), **404** for an unknown
//!   asset or method. Nothing is recorded for a 4xx.
//! - `GET /api/v1/assets/automation-executions/` (filters `asset`/`asset_id`, `account`,
//!   `method`, `status`; newest first, without logs) and `…/{id}/` (with the log).
//! - `GET /api/v1/accounts/gathered-accounts/` (filters `asset`/`asset_id`, `username`,
//!   `present`, `remote_present`).
//! - `PATCH /api/v1/assets/platforms/{id}/automation/`: `<method>_enabled`, `<method>_method`
//!   (the plugin id) and `<method>_params` of the six methods. Platforms are shared by every
//!   org, so this is for system administrators.
//! - JumpServer's shortcuts: `POST /api/v1/assets/assets/{id}/tasks/` `{"action": "test"}`
//!   runs ping; `POST /api/v1/accounts/accounts/tasks/` `{"action": "verify"|"push"|"remove",
//!   "accounts": [ids], "params"?}` runs the method for each account. Both answer **201**
//!   `{"task": <first execution id>, "executions": [...]}` once done (JumpServer answers with a
//!   task to poll; here the work is finished when the answer comes).
//!
//! Permissions: `assets.test_assetconnectivity` (ping), `accounts.verify_account`,
//! `accounts.change_account` (change_secret), `accounts.push_account`,
//! `accounts.add_gatheredaccount` (gather), `accounts.remove_account` (plus
//! `accounts.delete_account` to delete the record too); `assets.view_automationexecution` and
//! `accounts.view_gatheredaccount` to read.

use super::common::{audit, caller_name, object};
use crate::ctx::Caller;
use crate::error::ApiError;
use crate::fmt::{datetime, opt_datetime};
use crate::list::ListQuery;
use crate::plugin_log::{Trigger, invoke_logged};
use crate::plugins::PluginHost;
use crate::{AppState, Host};
use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use portcullis_automation::plugins::{Invoker, PluginSource, ResolvedPlugin, SourceError};
use portcullis_automation::{
    Actor, AutomationError, AutomationRequest, AutomationService, ExecutionResult, Method,
};
use portcullis_core::vault::Vault;
use portcullis_plugin::caps::Invocation;
use portcullis_plugin::error::InvokeError;
use portcullis_plugin::registry::RegisteredPlugin;
use portcullis_plugin::types::{Call, Output};
use portcullis_session::authorize::TargetTimeouts;
use portcullis_store::Store;
use portcullis_store::automations::{ExecutionQuery, GatheredQuery, GatheredRecord, MethodSetting};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/assets/assets/{id}/automations/{method}/",
            post(run_method),
        )
        .route("/api/v1/assets/assets/{id}/tasks/", post(asset_tasks))
        .route("/api/v1/accounts/accounts/tasks/", post(account_tasks))
        .route(
            "/api/v1/assets/automation-executions/",
            get(list_executions),
        )
        .route(
            "/api/v1/assets/automation-executions/{id}/",
            get(execution_detail),
        )
        .route("/api/v1/accounts/gathered-accounts/", get(list_gathered))
        .route(
            "/api/v1/assets/platforms/{key}/automation/",
            patch(set_platform_automation).put(set_platform_automation),
        )
}

// ---------------------------------------------------------------------------------------------
// The plugin source: the lifecycle's registry and stored settings
// ---------------------------------------------------------------------------------------------

/// The enabled plugins as the lifecycle keeps them ([`PluginHost::resolve`]).
struct Registered {
    host: PluginHost,
    store: Store,
    vault: Vault,
}

/// A loaded plugin whose calls are recorded in the invocation log, triggered by the
/// automation execution whose id is the invocation id.
struct Loaded(Arc<RegisteredPlugin>, Store);

#[async_trait]
impl Invoker for Loaded {
    async fn call(&self, inv: Invocation, call: Call) -> Result<Output, InvokeError> {
        let trigger = Trigger {
            kind: "automation",
            reference: inv.id.clone(),
        };
        invoke_logged(&self.1, &self.0.plugin, inv, call, trigger).await
    }
}

#[async_trait]
impl PluginSource for Registered {
    async fn plugin(&self, _org: Uuid, id: &str) -> Result<Option<ResolvedPlugin>, SourceError> {
        let Some(p) = self
            .host
            .resolve(&self.store, &self.vault, id)
            .await
            .map_err(|e| SourceError(e.to_string()))?
        else {
            return Ok(None);
        };
        let manifest = p.manifest.clone();
        Ok(Some(ResolvedPlugin {
            id: p.record.plugin_id.clone(),
            version: p.record.version.clone(),
            kind: p.registered.kind,
            methods: p
                .manifest
                .automation
                .iter()
                .map(|a| a.method.clone())
                .collect(),
            remote: p.grant.remote,
            reveal: p.grant.reveal,
            limits: p.limits,
            config: p.config,
            secrets: p.secrets,
            params: Some(Arc::new(move |method: &str, value: &Value| {
                manifest
                    .validate_params(method, value)
                    .map(|m| {
                        Value::Object(m.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
                    })
                    .map_err(|errors| {
                        errors
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
            })),
            invoker: Arc::new(Loaded(p.registered, self.store.clone())),
        }))
    }
}

fn service(state: &AppState) -> Result<AutomationService, ApiError> {
    let host = state
        .plugins()
        .ok_or_else(|| ApiError::Internal("the plugin engine is not running".into()))?
        .clone();
    let source = Registered {
        host,
        store: state.store().clone(),
        vault: state.vault().clone(),
    };
    Ok(AutomationService::new(
        state.store().clone(),
        state.vault().clone(),
        Arc::new(source),
        TargetTimeouts::default(),
    ))
}

fn automation_error(e: AutomationError) -> ApiError {
    match e {
        AutomationError::AssetNotFound => ApiError::NotFound("Asset"),
        AutomationError::AccountNotFound(id) => ApiError::field(
            "account",
            format!("Invalid pk \"{id}\" - object does not exist."),
        ),
        AutomationError::Store(e) => e.into(),
        AutomationError::Source(e) => ApiError::Internal(e),
        other => ApiError::Refused(other.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

fn codename(method: Method) -> &'static str {
    match method {
        Method::Ping => "assets.test_assetconnectivity",
        Method::VerifyAccount => "accounts.verify_account",
        Method::ChangeSecret => "accounts.change_account",
        Method::PushAccount => "accounts.push_account",
        Method::GatherAccounts => "accounts.add_gatheredaccount",
        Method::RemoveAccount => "accounts.remove_account",
    }
}

/// The request body: empty means `{}`; unknown fields are refused.
fn request_of(body: &Bytes) -> Result<AutomationRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(AutomationRequest::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::field("non_field_errors", e.to_string()))
}

/// The execution as the API shows it (dates in the API's format).
fn execution_json(r: ExecutionResult) -> Value {
    let (start, finished) = (r.date_start, r.date_finished);
    let mut v = serde_json::to_value(r).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        o.insert("date_start".into(), json!(datetime(start)));
        o.insert("date_finished".into(), opt_datetime(finished));
    }
    v
}

async fn run_one(
    state: &AppState,
    caller: &Caller,
    asset: Uuid,
    method: Method,
    request: &AutomationRequest,
) -> Result<ExecutionResult, ApiError> {
    caller.require(codename(method))?;
    if request.delete_account {
        caller.require("accounts.delete_account")?;
    }
    let actor = Actor {
        name: caller_name(state, caller).await,
        ip: caller.ip.to_string(),
    };
    service(state)?
        .run(caller.org, asset, method, request, &actor)
        .await
        .map_err(automation_error)
}

async fn run_method(
    caller: Caller,
    State(state): State<AppState>,
    Path((id, method)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let method: Method = method
        .parse()
        .map_err(|_| ApiError::NotFound("Automation method"))?;
    caller.require(codename(method))?;
    let asset = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("Asset"))?;
    let request = request_of(&body)?;
    let result = run_one(&state, &caller, asset, method, &request).await?;
    Ok(Json(execution_json(result)))
}

/// JumpServer's answer to a task request, once every execution is done.
fn tasks_answer(results: Vec<ExecutionResult>) -> Response {
    let task = results.first().map(|r| r.id);
    let executions: Vec<Value> = results.into_iter().map(execution_json).collect();
    (
        StatusCode::CREATED,
        Json(json!({"task": task, "executions": executions})),
    )
        .into_response()
}

/// `{"action": "test"}` on one asset: ping.
async fn asset_tasks(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body = object(body)?;
    let action = body.get("action").and_then(Value::as_str).unwrap_or("");
    if action != "test" {
        return Err(ApiError::field(
            "action",
            format!("\"{action}\" is not a supported action here (test)."),
        ));
    }
    caller.require(codename(Method::Ping))?;
    let asset = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("Asset"))?;
    let result = run_one(
        &state,
        &caller,
        asset,
        Method::Ping,
        &AutomationRequest::default(),
    )
    .await?;
    Ok(tasks_answer(vec![result]))
}

/// `{"action": "verify"|"push"|"remove", "accounts": [ids], "params"?}`: the method for each
/// account, on its asset, one after the other.
async fn account_tasks(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body = object(body)?;
    let method = match body.get("action").and_then(Value::as_str).unwrap_or("") {
        "verify" => Method::VerifyAccount,
        "push" => Method::PushAccount,
        "remove" => Method::RemoveAccount,
        other => {
            return Err(ApiError::field(
                "action",
                format!("\"{other}\" is not a supported action (verify, push, remove)."),
            ));
        }
    };
    caller.require(codename(method))?;
    let ids = super::common::uuids(&body, "accounts")?.unwrap_or_default();
    if ids.is_empty() {
        return Err(ApiError::field("accounts", "This field is required."));
    }
    let params = match body.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(ApiError::field("params", "Expected a dictionary.")),
    };
    // Check every account first, so a bad id runs nothing.
    let mut targets = Vec::with_capacity(ids.len());
    for id in ids {
        let account = state
            .store()
            .account(id)
            .await?
            .filter(|a| caller.org.is_none_or(|o| o == a.org_id))
            .ok_or_else(|| {
                ApiError::field(
                    "accounts",
                    format!("Invalid pk \"{id}\" - object does not exist."),
                )
            })?;
        targets.push(account);
    }
    let mut results = Vec::with_capacity(targets.len());
    for account in targets {
        let request = AutomationRequest {
            account: Some(account.id),
            params: params.clone(),
            ..AutomationRequest::default()
        };
        results.push(run_one(&state, &caller, account.asset.id, method, &request).await?);
    }
    Ok(tasks_answer(results))
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

fn uuid_filter(q: &ListQuery, names: &[&str]) -> Result<Option<Uuid>, ApiError> {
    for name in names {
        if let Some(v) = q.filters.get(*name).filter(|v| !v.is_empty()) {
            return Uuid::parse_str(v)
                .map(Some)
                .map_err(|_| ApiError::field(name, "Must be a valid UUID."));
        }
    }
    Ok(None)
}

async fn list_executions(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    caller.require("assets.view_automationexecution")?;
    let q = ListQuery::parse(&uri)?;
    let method = match q.filters.get("method").filter(|m| !m.is_empty()) {
        Some(m) => Some(
            m.parse::<Method>()
                .map_err(|e| ApiError::field("method", e.to_string()))?
                .name()
                .to_owned(),
        ),
        None => None,
    };
    let status = q.filters.get("status").filter(|s| !s.is_empty()).cloned();
    if let Some(s) = &status
        && !matches!(s.as_str(), "running" | "success" | "failed")
    {
        return Err(ApiError::field(
            "status",
            format!("\"{s}\" is not a valid choice."),
        ));
    }
    let (limit, offset) = q.window();
    let (count, rows) = state
        .store()
        .list_executions(&ExecutionQuery {
            org: caller.org,
            asset_id: uuid_filter(&q, &["asset", "asset_id"])?,
            account_id: uuid_filter(&q, &["account", "account_id"])?,
            method,
            status,
            limit,
            offset,
            ..ExecutionQuery::default()
        })
        .await?;
    let rows = rows
        .into_iter()
        .map(|r| {
            let mut v = execution_json(ExecutionResult::from(r));
            if let Some(o) = v.as_object_mut() {
                o.remove("log");
            }
            v
        })
        .collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn execution_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("Automation execution"))?;
    let record = state
        .store()
        .execution(caller.org, id)
        .await?
        .ok_or(ApiError::NotFound("Automation execution"))?;
    Ok(Json(execution_json(ExecutionResult::from(record))))
}

fn gathered_json(g: &GatheredRecord) -> Value {
    json!({
        "id": g.id,
        "asset": {"id": g.asset_id, "name": g.asset_name},
        "username": g.username,
        "uid": g.uid,
        "home": g.home,
        "shell": g.shell,
        "groups": g.groups,
        "address_last_login": g.address_last_login,
        "date_last_login": opt_datetime(g.date_last_login),
        "login_enabled": g.login_enabled,
        "privileged": g.privileged,
        "remote_present": g.remote_present,
        "present": g.present,
        "status": g.status,
        "detail": g.detail,
        "date_created": datetime(g.date_created),
        "date_updated": datetime(g.date_updated),
    })
}

async fn list_gathered(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let (count, rows) = state
        .store()
        .list_gathered_accounts(&GatheredQuery {
            org: caller.org,
            asset_id: uuid_filter(&q, &["asset", "asset_id"])?,
            username: q.filters.get("username").filter(|u| !u.is_empty()).cloned(),
            present: q.flag("present")?,
            remote_present: q.flag("remote_present")?,
            limit,
            offset,
        })
        .await?;
    let rows = rows.iter().map(gathered_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

// ---------------------------------------------------------------------------------------------
// Platform settings
// ---------------------------------------------------------------------------------------------

fn setting_json(method: Method, s: &MethodSetting) -> [(String, Value); 3] {
    let m = method.name();
    [
        (format!("{m}_enabled"), json!(s.enabled)),
        (format!("{m}_method"), json!(s.method)),
        (format!("{m}_params"), s.params.clone()),
    ]
}

async fn set_platform_automation(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let platform = state
        .store()
        .platform(None, &key)
        .await?
        .ok_or(ApiError::NotFound("Platform"))?;
    // Every key must be `<method>_{enabled,method,params}` of a known method, and a method
    // name one the platform may name.
    let methods = super::platform_automation::Catalogue::load(&state).await?;
    let mut errors = std::collections::BTreeMap::new();
    for (k, v) in &body {
        let known = Method::ALL.iter().find_map(|m| {
            k.strip_prefix(m.name())
                .and_then(|rest| rest.strip_prefix('_'))
                .map(|field| (*m, field))
        });
        let problem = match known {
            None => Some("Unknown field."),
            Some((_, "enabled")) if !v.is_boolean() => Some("Must be a valid boolean."),
            Some((_, "method")) if !v.is_string() => Some("Not a valid string."),
            Some((_, "params")) if !v.is_object() => Some("Expected a dictionary."),
            Some((_, "enabled" | "method" | "params")) => None,
            Some(_) => Some("Unknown field."),
        };
        if let Some(p) = problem {
            errors.insert(k.clone(), vec![p.to_owned()]);
        } else if let (Some((m, "method")), Some(name)) = (known, v.as_str())
            && !methods.accepts(m.name(), name.trim())
        {
            // The same names platform writes accept (`automation` of a platform body).
            errors.insert(
                k.clone(),
                vec![format!(
                    "\"{}\" is not a known {} method; see /api/v1/assets/platform-automation-methods/.",
                    name.trim(),
                    m.name()
                )],
            );
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Fields(errors));
    }
    let mut before = Map::new();
    let mut after = Map::new();
    for method in Method::ALL {
        let name = method.name();
        let current = state
            .store()
            .platform_method(platform.id, name)
            .await?
            .ok_or_else(|| ApiError::Refused("the platform has no automation settings".into()))?;
        before.extend(setting_json(method, &current));
        let mut next = current.clone();
        if let Some(v) = body
            .get(&format!("{name}_enabled"))
            .and_then(Value::as_bool)
        {
            next.enabled = v;
        }
        if let Some(v) = body.get(&format!("{name}_method")).and_then(Value::as_str) {
            next.method = v.trim().to_owned();
        }
        if let Some(v) = body.get(&format!("{name}_params")) {
            next.params = v.clone();
        }
        if next != current {
            state
                .store()
                .set_platform_method(platform.id, name, &next)
                .await?;
        }
        after.extend(setting_json(method, &next));
    }
    let (before, after) = (Value::Object(before), Value::Object(after));
    audit(
        &state,
        &caller,
        "Platform",
        "update",
        &platform.name,
        &platform.id.to_string(),
        super::common::diff(&before, &after),
    )
    .await;
    Ok(Json(after))
}
