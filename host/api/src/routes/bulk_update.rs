//! Bulk `PUT`/`PATCH` (reference §1.2: a JSON array of objects carrying `id` sent to a list
//! route) in one store transaction, for the resources updated most in bulk: assets (the
//! generic `/assets/assets/` list and every `/assets/<kind>/` list) and accounts.
//!
//! The list routes answer these methods themselves, which takes them away from the
//! conventions layer's generic path (it acts only where a route answers 405, see
//! `conventions.rs`). Every item is first checked exactly as its detail route checks it
//! (the *plan*: the current row read, the body validated, permission and org checked; nothing
//! written). When any item is bad, the answer is the per-item error list (`{}` for good items,
//! the detail route's 400 body for a bad one) and nothing is written. Then every item is
//! applied inside one [`WriteBatch`] and committed once: a write that still fails (two items
//! renamed to the same name, a unique constraint) rolls every item back, secrets included, and
//! the 400 names that item. A concurrent reader sees none of the batch or all of it.
//!
//! The operation log gets one entry per item, with the same before/after diff as a single
//! update (secrets are write-only, so they are in neither side), written only once the batch
//! has committed: the "after" side is read back through the same serializers as a GET, which
//! read committed rows, so the entries go in a second transaction of their own right after
//! the commit (all of them or none).

use super::accounts::{self, AccountPlan};
use super::assets::{self, AssetPlan};
use super::common::caller_name;
use crate::AppState;
use crate::ctx::Caller;
use crate::error::ApiError;
use axum::Json;
use axum::body::to_bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_store::bulk::{OperateLogEntry, WriteBatch};
use serde_json::{Map, Value, json};

/// The largest error body read back from a rendered item error.
const ERROR_LIMIT: usize = 1024 * 1024;

/// The items of a bulk body: each one's `id` and the rest of its fields.
type Items = Vec<(String, Map<String, Value>)>;

/// The items of a bulk body with their ids, or the 400 listing items without an `id` or with
/// one already given. A body that is not JSON, or not an array, is refused as DRF's list
/// serializer refuses it (and as the users list answers it).
#[allow(clippy::result_large_err)]
fn items(body: Result<Json<Value>, JsonRejection>) -> Result<Items, Response> {
    let items = match body {
        Ok(Json(Value::Array(items))) => items,
        Ok(Json(other)) => {
            let kind = match other {
                Value::Object(_) => "dict",
                Value::String(_) => "str",
                Value::Number(_) => "int",
                Value::Bool(_) => "bool",
                _ => "NoneType",
            };
            return Err(ApiError::field(
                "non_field_errors",
                format!("Expected a list of items but got type \"{kind}\"."),
            )
            .into_response());
        }
        Err(e) => return Err(crate::error::bad_json(&e).into_response()),
    };
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in items {
        let id = item.get("id").and_then(id_text);
        match (id, item) {
            (Some(id), Value::Object(mut m)) => {
                if out.iter().any(|(seen, _)| *seen == id) {
                    failed = true;
                    errors.push(json!({"id": ["Duplicate id in the request."]}));
                } else {
                    errors.push(json!({}));
                }
                m.remove("id");
                out.push((id, m));
            }
            _ => {
                failed = true;
                errors.push(json!({"id": ["This field is required."]}));
                out.push((String::new(), Map::new()));
            }
        }
    }
    if failed {
        return Err(invalid(errors));
    }
    Ok(out)
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn invalid(errors: Vec<Value>) -> Response {
    ApiError::Invalid(Value::Array(errors)).into_response()
}

/// The error dict of one item: the 400 body its detail route would answer (an object that
/// does not exist is an `id` error, as the generic path reported it). Errors that are not
/// about the item (permission, internal) end the whole request with their own answer.
async fn item_error(e: ApiError, id: &str) -> Result<Value, Response> {
    if matches!(e, ApiError::NotFound("Asset" | "Account")) {
        return Ok(json!({"id": [format!("Invalid pk \"{id}\" - object does not exist.")]}));
    }
    let resp = e.into_response();
    if resp.status() != StatusCode::BAD_REQUEST {
        return Err(resp);
    }
    let bytes = to_bytes(resp.into_body(), ERROR_LIMIT)
        .await
        .map_err(|e| ApiError::Internal(format!("reading an item error: {e}")).into_response())?;
    Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// One kind of resource the bulk update serves: its plan, apply and read-back steps.
trait Resource {
    type Plan;
    const LOG_TYPE: &'static str;
    async fn plan(
        &self,
        state: &AppState,
        caller: &Caller,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<Self::Plan, ApiError>;
    async fn apply(
        &self,
        state: &AppState,
        batch: &mut WriteBatch,
        plan: &Self::Plan,
        by: &str,
    ) -> Result<(), ApiError>;
    /// `(shown now, display name, operation-log diff, id)` after the commit.
    async fn updated(
        &self,
        state: &AppState,
        caller: &Caller,
        plan: &Self::Plan,
    ) -> Result<(Value, String, Value, String), ApiError>;
}

struct Assets(assets::Kind);

impl Resource for Assets {
    type Plan = AssetPlan;
    const LOG_TYPE: &'static str = "Asset";
    async fn plan(
        &self,
        state: &AppState,
        caller: &Caller,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<AssetPlan, ApiError> {
        assets::plan_asset_update(state, caller, self.0, id, body).await
    }
    async fn apply(
        &self,
        _state: &AppState,
        batch: &mut WriteBatch,
        plan: &AssetPlan,
        by: &str,
    ) -> Result<(), ApiError> {
        assets::apply_asset_update(batch, plan, by).await
    }
    async fn updated(
        &self,
        state: &AppState,
        caller: &Caller,
        plan: &AssetPlan,
    ) -> Result<(Value, String, Value, String), ApiError> {
        let (a, name, d) = assets::updated_asset(state, caller, plan).await?;
        Ok((a, name, d, plan.id().to_string()))
    }
}

struct Accounts;

impl Resource for Accounts {
    type Plan = AccountPlan;
    const LOG_TYPE: &'static str = "Account";
    async fn plan(
        &self,
        state: &AppState,
        caller: &Caller,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<AccountPlan, ApiError> {
        accounts::plan_account_update(state, caller, id, body).await
    }
    async fn apply(
        &self,
        state: &AppState,
        batch: &mut WriteBatch,
        plan: &AccountPlan,
        by: &str,
    ) -> Result<(), ApiError> {
        accounts::apply_account_update(state, batch, plan, by).await
    }
    async fn updated(
        &self,
        state: &AppState,
        caller: &Caller,
        plan: &AccountPlan,
    ) -> Result<(Value, String, Value, String), ApiError> {
        let (a, name, d) = accounts::updated_account(state, caller, plan).await?;
        Ok((a, name, d, plan.id().to_string()))
    }
}

/// `PUT`/`PATCH /api/v1/assets/<kind>/` with an array: every asset of the batch or none.
pub(crate) async fn assets(
    caller: Caller,
    State(state): State<AppState>,
    Path(kind): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    match assets::kind_of(&kind) {
        Ok(kind) => update(&state, &caller, &Assets(kind), body).await,
        Err(e) => e.into_response(),
    }
}

/// `PUT`/`PATCH /api/v1/accounts/accounts/` with an array: every account of the batch or
/// none, new secrets included.
pub(crate) async fn accounts(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    update(&state, &caller, &Accounts, body).await
}

async fn update<R: Resource>(
    state: &AppState,
    caller: &Caller,
    resource: &R,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    match run(state, caller, resource, body).await {
        Ok(r) | Err(r) => r,
    }
}

async fn run<R: Resource>(
    state: &AppState,
    caller: &Caller,
    resource: &R,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, Response> {
    let items = items(body)?;
    // Plan every item; nothing is written unless all are good.
    let mut plans = Vec::with_capacity(items.len());
    let mut errors = Vec::with_capacity(items.len());
    let mut failed = false;
    for (id, body) in &items {
        match resource.plan(state, caller, id, body).await {
            Ok(p) => {
                plans.push(p);
                errors.push(json!({}));
            }
            Err(e) => {
                failed = true;
                errors.push(item_error(e, id).await?);
            }
        }
    }
    if failed {
        return Err(invalid(errors));
    }
    // Apply all in one transaction; the first write that fails rolls back every item.
    let by = caller_name(state, caller).await;
    let fail = |e: ApiError| e.into_response();
    let mut batch = state
        .store()
        .begin_batch()
        .await
        .map_err(|e| fail(e.into()))?;
    for (i, plan) in plans.iter().enumerate() {
        if let Err(e) = resource.apply(state, &mut batch, plan, &by).await {
            if let Err(undo) = batch.rollback().await {
                tracing::error!(error = %undo, "bulk update: rollback");
            }
            errors[i] = item_error(e, &items[i].0).await?;
            return Err(invalid(errors));
        }
    }
    batch.commit().await.map_err(|e| fail(e.into()))?;
    // Read back what was written, then log every item together.
    let mut shown = Vec::with_capacity(plans.len());
    let mut logs = Vec::with_capacity(plans.len());
    for plan in &plans {
        let (after, name, diff, id) = resource.updated(state, caller, plan).await.map_err(fail)?;
        shown.push(after);
        logs.push((name, id, diff));
    }
    log(state, caller, R::LOG_TYPE, &by, &logs).await;
    Ok((StatusCode::OK, Json(Value::Array(shown))).into_response())
}

/// Writes the operation-log entries of a committed batch, all in one transaction; a failure
/// is reported but does not undo the change (as for a single update).
async fn log(
    state: &AppState,
    caller: &Caller,
    resource_type: &str,
    actor: &str,
    logs: &[(String, String, Value)],
) {
    let org = caller.write_org();
    let addr = caller.ip.to_string();
    let written = async {
        let mut batch = state.store().begin_batch().await?;
        for (name, id, diff) in logs {
            batch
                .operate_log(&OperateLogEntry {
                    org,
                    user_display: actor,
                    action: "update",
                    resource_type,
                    resource: name,
                    resource_id: id,
                    remote_addr: &addr,
                    diff,
                })
                .await?;
        }
        batch.commit().await
    };
    if let Err(e) = written.await {
        tracing::error!(error = %e, "could not write the operation log of a bulk update");
    }
}
