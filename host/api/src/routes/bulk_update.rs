//! Bulk `PUT`/`PATCH` (reference §1.2: a JSON array of objects carrying `id` sent to a list
//! route) in one store transaction, for the resources updated most in bulk: assets (the
//! generic `/assets/assets/` list and every `/assets/<kind>/` list), accounts and users.
//!
//! The list routes answer these methods themselves, which takes them away from the
//! conventions layer's generic path (it acts only where a route answers 405, see
//! `conventions.rs`). Every item is first checked exactly as its detail route checks it
//! (the *plan*: the current row read, the body validated, permission and org checked; nothing
//! written); an item that is not an object, has no `id`, names an object the caller does not
//! see, or names one an earlier item already names (by id or, for users, by username) is an
//! error of that item. When any item is bad, the answer is the per-item error list (`{}` for
//! good items, the detail route's 400 body for a bad one) and nothing is written. Then every
//! item is
//! applied inside one [`WriteBatch`] and committed once: a write that still fails (two items
//! renamed to the same name, a unique constraint) rolls every item back, secrets included, and
//! the 400 names that item (for users also the refusal to drop the last SystemAdmin binding).
//! A concurrent reader sees none of the batch or all of it.
//!
//! The operation log gets one entry per item, with the same before/after diff as a single
//! update (secrets are write-only, so they are in neither side), written only once the batch
//! has committed: the "after" side is read back through the same serializers as a GET, which
//! read committed rows, so the entries go in a second transaction of their own right after
//! the commit (all of them or none).

use super::accounts::{self, AccountPlan};
use super::assets::{self, AssetPlan};
use super::common::caller_name;
use super::users::{self, UserPlan};
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
use uuid::Uuid;

/// The largest error body read back from a rendered item error.
const ERROR_LIMIT: usize = 1024 * 1024;

/// The items of a bulk body: each one's `id` and the rest of its fields, or the error dict
/// of an item that is not an object or has no `id`.
type Items = Vec<Result<(String, Map<String, Value>), Value>>;

/// The items of a bulk body. A body that is not JSON, or not an array, is refused as DRF's
/// list serializer refuses it.
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
    Ok(items
        .into_iter()
        .map(|item| match item {
            Value::Object(mut m) => match m.remove("id").as_ref().and_then(id_text) {
                Some(id) => Ok((id, m)),
                None => Err(json!({"id": ["This field is required."]})),
            },
            _ => Err(json!({"non_field_errors": ["Invalid data. Expected a dictionary."]})),
        })
        .collect())
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
/// does not exist is an `id` error, as the generic path reported it; a refusal is
/// `non_field_errors` where [`Resource::REFUSAL_AS_FIELD`] says so). Errors that are not
/// about the item (permission, internal) end the whole request with their own answer.
async fn item_error<R: Resource>(e: ApiError, id: &str) -> Result<Value, Response> {
    match e {
        ApiError::NotFound("Asset" | "Account" | "User") => {
            return Ok(json!({"id": [format!("Invalid pk \"{id}\" - object does not exist.")]}));
        }
        ApiError::Refused(msg) if R::REFUSAL_AS_FIELD => {
            return Ok(json!({"non_field_errors": [msg]}));
        }
        _ => {}
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

/// One kind of resource the bulk update serves: its plan, apply and read-back steps, each
/// the one its detail update uses.
trait Resource {
    type Plan;
    /// The operation log's resource type.
    const LOG_TYPE: &'static str;
    /// Whether a refusal ([`ApiError::Refused`]) of an item is its `non_field_errors` (as the
    /// users list has always answered it) rather than the detail route's `{"error": …}`.
    const REFUSAL_AS_FIELD: bool = false;
    /// Checks item `id` with `body` as the detail update does; nothing is written.
    async fn plan(
        &self,
        state: &AppState,
        caller: &Caller,
        id: &str,
        body: &Map<String, Value>,
        by: &str,
    ) -> Result<Self::Plan, ApiError>;
    /// The object a plan updates (two items naming the same one are refused).
    fn id(plan: &Self::Plan) -> Uuid;
    /// Writes a plan inside the batch.
    async fn apply(
        &self,
        state: &AppState,
        batch: &mut WriteBatch,
        plan: &Self::Plan,
        by: &str,
    ) -> Result<(), ApiError>;
    /// `(shown now, display name, operation-log diff)` after the commit.
    async fn updated(
        &self,
        state: &AppState,
        caller: &Caller,
        plan: &Self::Plan,
    ) -> Result<(Value, String, Value), ApiError>;
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
        _by: &str,
    ) -> Result<AssetPlan, ApiError> {
        assets::plan_asset_update(state, caller, self.0, id, body).await
    }
    fn id(plan: &AssetPlan) -> Uuid {
        plan.id()
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
    ) -> Result<(Value, String, Value), ApiError> {
        assets::updated_asset(state, caller, plan).await
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
        _by: &str,
    ) -> Result<AccountPlan, ApiError> {
        accounts::plan_account_update(state, caller, id, body).await
    }
    fn id(plan: &AccountPlan) -> Uuid {
        plan.id()
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
    ) -> Result<(Value, String, Value), ApiError> {
        accounts::updated_account(state, caller, plan).await
    }
}

struct Users;

impl Resource for Users {
    type Plan = UserPlan;
    const LOG_TYPE: &'static str = "User";
    const REFUSAL_AS_FIELD: bool = true;
    async fn plan(
        &self,
        state: &AppState,
        caller: &Caller,
        id: &str,
        body: &Map<String, Value>,
        by: &str,
    ) -> Result<UserPlan, ApiError> {
        users::plan_user_update(state, caller, id, body, by).await
    }
    fn id(plan: &UserPlan) -> Uuid {
        plan.id()
    }
    async fn apply(
        &self,
        _state: &AppState,
        batch: &mut WriteBatch,
        plan: &UserPlan,
        by: &str,
    ) -> Result<(), ApiError> {
        users::apply_user_update(batch, plan, by).await
    }
    async fn updated(
        &self,
        state: &AppState,
        caller: &Caller,
        plan: &UserPlan,
    ) -> Result<(Value, String, Value), ApiError> {
        Ok(users::updated_user(state, caller, plan).await)
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

/// `PUT`/`PATCH /api/v1/users/users/` with an array: every user of the batch or none, new
/// passwords (and their history), SSH keys, labels, groups and role bindings included; a
/// refusal at write time (the last SystemAdmin binding) leaves every user as it was.
pub(crate) async fn users(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    update(&state, &caller, &Users, body).await
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
    let by = caller_name(state, caller).await;
    // Plan every item; nothing is written unless all are good.
    let mut plans: Vec<(usize, R::Plan)> = Vec::with_capacity(items.len());
    let mut errors = vec![json!({}); items.len()];
    let mut seen: Vec<Uuid> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let (id, body) = match item {
            Ok(item) => item,
            Err(e) => {
                errors[i] = e.clone();
                continue;
            }
        };
        match resource.plan(state, caller, id, body, &by).await {
            Ok(p) if seen.contains(&R::id(&p)) => {
                errors[i] = json!({"id": ["Duplicate id in the request."]});
            }
            Ok(p) => {
                seen.push(R::id(&p));
                plans.push((i, p));
            }
            Err(e) => errors[i] = item_error::<R>(e, id).await?,
        }
    }
    if errors.iter().any(|e| e != &json!({})) {
        return Err(invalid(errors));
    }
    // Apply all in one transaction; the first write that fails rolls back every item.
    let fail = |e: ApiError| e.into_response();
    let mut batch = state
        .store()
        .begin_batch()
        .await
        .map_err(|e| fail(e.into()))?;
    for (i, plan) in &plans {
        if let Err(e) = resource.apply(state, &mut batch, plan, &by).await {
            if let Err(undo) = batch.rollback().await {
                tracing::error!(error = %undo, "bulk update: rollback");
            }
            let id = items[*i].as_ref().map(|(id, _)| id.as_str()).unwrap_or("");
            errors[*i] = item_error::<R>(e, id).await?;
            return Err(invalid(errors));
        }
    }
    batch.commit().await.map_err(|e| fail(e.into()))?;
    // Read back what was written, then log every item together.
    let mut shown = Vec::with_capacity(plans.len());
    let mut logs = Vec::with_capacity(plans.len());
    for (_, plan) in &plans {
        let (after, name, diff) = resource.updated(state, caller, plan).await.map_err(fail)?;
        shown.push(after);
        logs.push((name, R::id(plan).to_string(), diff));
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
