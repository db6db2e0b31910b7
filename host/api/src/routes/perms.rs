//! `/api/v1/perms/users/<user>/…`: what a user may reach (§4.12), decided by the core's
//! permission engine through the store's materialized grant.

use crate::ctx::Caller;
use crate::error::ApiError;
use crate::list::ListQuery;
use crate::{AppState, Host};
use axum::extract::{OriginalUri, Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/perms/users/{user}/assets/", get(assets))
        .route(
            "/api/v1/perms/users/{user}/assets/{asset}/",
            get(asset_detail),
        )
        .route("/api/v1/perms/users/{user}/nodes/", get(nodes))
}

/// `self`/`my` is the caller (needs `perms.view_myassets`); a UUID is another user (needs
/// `perms.view_userassets`).
fn subject(caller: &Caller, user: &str) -> Result<Uuid, ApiError> {
    if user == "self" || user == "my" {
        caller.require("perms.view_myassets")?;
        Ok(caller.user_id)
    } else {
        caller.require("perms.view_userassets")?;
        Uuid::parse_str(user).map_err(|_| ApiError::NotFound("User"))
    }
}

async fn assets(
    caller: Caller,
    State(state): State<AppState>,
    Path(user): Path<String>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let user = subject(&caller, &user)?;
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let page = state
        .store()
        .user_permitted_assets(user, caller.org, offset, limit)
        .await?;
    let rows = page
        .assets
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "name": a.name,
                "address": a.address,
                "comment": a.comment,
                "platform": {"id": a.platform_id, "name": a.platform_name},
                "zone": a.zone.as_ref().map(|(id, name)| crate::fmt::stub(*id, name)),
                "nodes": a.nodes.iter().map(|(id, name)| crate::fmt::stub(*id, name)).collect::<Vec<_>>(),
                "labels": [],
                "category": crate::fmt::choice(a.category.clone(), &title(&a.category)),
                "type": crate::fmt::choice(a.type_.clone(), &title(&a.type_)),
                "connectivity": crate::fmt::choice(a.connectivity.clone(), &a.connectivity),
                "org_id": a.org_id,
                "org_name": a.org_name,
                "is_active": a.is_active,
                "date_verified": crate::fmt::opt_datetime(a.date_verified),
                "date_created": crate::fmt::datetime(a.date_created),
                "created_by": a.created_by,
            })
        })
        .collect();
    Ok(Json(q.respond(&uri, &host, page.count, rows)))
}

async fn asset_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path((user, asset)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let user = subject(&caller, &user)?;
    let asset = Uuid::parse_str(&asset).map_err(|_| ApiError::NotFound("Asset"))?;
    let grant = state
        .store()
        .user_asset_grant(user, asset)
        .await?
        .ok_or(ApiError::NotFound("Asset"))?;
    let accounts: Vec<Value> = grant
        .accounts
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "alias": a.alias,
                "name": a.name,
                "username": a.username,
                "has_username": a.has_username,
                "has_secret": a.has_secret,
                "secret_type": a.secret_type,
                "actions": a.actions.names().iter().map(|n| crate::fmt::choice(*n, n)).collect::<Vec<_>>(),
                "date_expired": crate::fmt::datetime(a.date_expired),
            })
        })
        .collect();
    let protocols: Vec<Value> = grant
        .protocols
        .iter()
        .map(|p| json!({"name": p.name, "port": p.port, "public": true, "setting": {}}))
        .collect();
    Ok(Json(json!({
        "id": grant.asset_id,
        "permed_protocols": protocols,
        "permed_accounts": accounts,
    })))
}

async fn nodes(
    caller: Caller,
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = subject(&caller, &user)?;
    let nodes = state.store().user_permitted_nodes(user, caller.org).await?;
    // The tree holds every ancestor of a permitted node, so full paths come from it alone.
    let values: std::collections::HashMap<(uuid::Uuid, &str), &str> = nodes
        .iter()
        .map(|n| ((n.org_id, n.key.as_str()), n.value.as_str()))
        .collect();
    let full_value = |org: uuid::Uuid, key: &str| {
        let segments: Vec<&str> = key.split(':').collect();
        let mut path = String::new();
        for i in 1..=segments.len() {
            let prefix = segments[..i].join(":");
            path.push('/');
            path.push_str(values.get(&(org, prefix.as_str())).copied().unwrap_or(""));
        }
        path
    };
    Ok(Json(Value::Array(
        nodes
            .iter()
            .map(|n| {
                json!({
                    "id": n.id,
                    "name": n.value,
                    "key": n.key,
                    "value": n.value,
                    "full_value": full_value(n.org_id, &n.key),
                    "org_id": n.org_id,
                    "assets_amount": n.assets_amount,
                })
            })
            .collect(),
    )))
}

/// A label for a raw choice value (`linux` → `Linux`), as list views show it.
fn title(value: &str) -> String {
    let mut chars = value.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
