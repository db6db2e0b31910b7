//! Filtered bulk `DELETE` in one store transaction (reference §1.2, §3.5) for the resources
//! most deleted in bulk: assets (every `/assets/<kind>/` list), accounts, users and platforms.
//!
//! The conventions layer resolves the filter to the rows a GET would list, then hands their
//! ids here. Every row is checked first as its single-row delete checks it (permission,
//! visibility, refusals such as deleting oneself), then all of them are deleted in one
//! transaction in which the store re-checks what the database would refuse (a platform that
//! assets use). A row that blocks leaves every row in place, and the answer names it. Other
//! resources keep the layer's item-by-item path (see `conventions.rs`), which is not atomic.

use super::common::audit;
use crate::AppState;
use crate::ctx::Caller;
use crate::error::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_store::bulk::BulkDeleted;
use serde_json::{Value, json};
use uuid::Uuid;

/// JumpServer's text for a protected foreign key (reference §3.5).
const REFERENCED: &str = "Is referenced by other objects and cannot be deleted";

/// One row to delete: its id, display name and serialized state (for the operation log).
struct Row {
    id: String,
    name: String,
    before: Value,
}

/// Deletes the rows `ids` of the list at `path` all at once, or answers why none was; `None`
/// when the list has no transactional bulk delete (the caller falls back to its own path).
pub(crate) async fn delete(
    state: &AppState,
    caller: &Caller,
    path: &str,
    ids: &[String],
) -> Option<Response> {
    let p = path.strip_prefix("/api/v1/")?;
    let result = match p {
        "accounts/accounts/" => accounts(state, caller, ids).await,
        "users/users/" => users(state, caller, ids).await,
        "assets/platforms/" => platforms(state, caller, ids).await,
        _ => {
            let kind = p.strip_prefix("assets/")?.strip_suffix('/')?;
            let kind = super::assets::kind_of(kind).ok()?;
            assets(state, caller, kind, ids).await
        }
    };
    Some(result.unwrap_or_else(IntoResponse::into_response))
}

/// The 400 that names the row which blocked the selection: the reference's body for the
/// case, plus `object` (`{id, name}`) so a client can tell which one it was.
fn blocked(mut body: Value, id: &str, name: &str) -> Response {
    if let Some(m) = body.as_object_mut() {
        m.insert("object".into(), json!({"id": id, "name": name}));
    }
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn referenced(row: &Row) -> Response {
    blocked(
        json!({"detail": REFERENCED, "code": "referenced_by_others"}),
        &row.id,
        &row.name,
    )
}

/// Logs each deleted row (`resource_type` as the operation log names it) and answers 204.
async fn done(state: &AppState, caller: &Caller, resource_type: &str, rows: Vec<Row>) -> Response {
    for r in rows {
        audit(
            state,
            caller,
            resource_type,
            "delete",
            &r.name,
            &r.id,
            json!({"before": r.before}),
        )
        .await;
    }
    StatusCode::NO_CONTENT.into_response()
}

fn uuids(rows: &[Row]) -> Result<Vec<Uuid>, ApiError> {
    rows.iter()
        .map(|r| Uuid::parse_str(&r.id).map_err(|_| ApiError::Internal(format!("id {}", r.id))))
        .collect()
}

async fn assets(
    state: &AppState,
    caller: &Caller,
    kind: super::assets::Kind,
    ids: &[String],
) -> Result<Response, ApiError> {
    caller.require("assets.delete_asset")?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        let a = super::assets::visible_asset(state, caller, kind, id).await?;
        let before = super::assets::asset_full(state, caller, &a).await?;
        rows.push(Row {
            id: a.id.to_string(),
            name: a.name,
            before,
        });
    }
    // Assets are referenced by nothing that stops their deletion (accounts, node links and
    // permission links go with them), so the transaction only has to be all or nothing.
    state.store().delete_assets(&uuids(&rows)?).await?;
    Ok(done(state, caller, "Asset", rows).await)
}

async fn accounts(state: &AppState, caller: &Caller, ids: &[String]) -> Result<Response, ApiError> {
    caller.require("accounts.delete_account")?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        let a = super::accounts::visible_account(state, caller, id).await?;
        let before = super::accounts::account_full(state, caller, &a).await?;
        rows.push(Row {
            id: a.id.to_string(),
            name: a.name,
            before,
        });
    }
    state.store().delete_accounts(&uuids(&rows)?).await?;
    Ok(done(state, caller, "Account", rows).await)
}

async fn users(state: &AppState, caller: &Caller, ids: &[String]) -> Result<Response, ApiError> {
    // As the single delete: removing users from every org is a system-level act.
    caller.require_system("users.delete_user")?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        let u = super::users::visible_user(state, caller, id).await?;
        if u.id == caller.user_id {
            return Ok(blocked(
                json!({"error": "You cannot delete yourself"}),
                &u.id.to_string(),
                &u.username,
            ));
        }
        let before = super::users::user_full(state, caller, &u).await?;
        rows.push(Row {
            id: u.id.to_string(),
            name: u.username,
            before,
        });
    }
    state.store().delete_users(&uuids(&rows)?).await?;
    Ok(done(state, caller, "User", rows).await)
}

async fn platforms(
    state: &AppState,
    caller: &Caller,
    ids: &[String],
) -> Result<Response, ApiError> {
    caller.require_system("assets.delete_platform")?;
    let mut rows = Vec::with_capacity(ids.len());
    let mut keys = Vec::with_capacity(ids.len());
    for id in ids {
        let p = super::platform_writes::existing(state, id).await?;
        let row = Row {
            id: p.id.to_string(),
            name: p.name.clone(),
            before: super::assets::platform_json(&p),
        };
        if p.internal {
            return Ok(blocked(
                json!({"error": format!("\"{}\" is a built-in platform and cannot be deleted.", p.name)}),
                &row.id,
                &row.name,
            ));
        }
        keys.push(p.id);
        rows.push(row);
    }
    match state.store().delete_platforms(&keys).await? {
        BulkDeleted::All(_) => Ok(done(state, caller, "Platform", rows).await),
        BulkDeleted::Referenced(id) => Ok(rows.iter().find(|r| r.id == id).map_or_else(
            || ApiError::Internal(format!("platform {id}")).into_response(),
            referenced,
        )),
    }
}
