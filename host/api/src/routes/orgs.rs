//! `/api/v1/orgs/…`: organisations (§4.3) and the current org (§2.6).
//!
//! Everyone may list orgs, but sees only those they hold a role in; system administrators and
//! auditors (a system-level `orgs.view_rootorg`) see every org. Writes are system-level acts:
//! an org admin's `*` covers their own org, not the set of orgs.

use super::common::{audit, caller_name, check_fields, diff, object, require_fields, text};
use crate::ctx::Caller;
use crate::error::ApiError;
use crate::fmt::datetime;
use crate::list::ListQuery;
use crate::{AppState, Host};
use axum::extract::rejection::JsonRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use portcullis_core::builtin::{DEFAULT_ORG_ID, ROOT_ORG_ID, SYSTEM_ORG_ID};
use portcullis_store::StoreError;
use portcullis_store::orgs::{Org, OrgStats};
use serde_json::{Value, json};
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/orgs/orgs/", get(list).post(create))
        .route("/api/v1/orgs/orgs/current/", get(current))
        .route(
            "/api/v1/orgs/orgs/{key}/",
            get(detail).put(update).patch(update).delete(remove),
        )
}

async fn current(caller: Caller, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let id = caller.org.unwrap_or(ROOT_ORG_ID);
    let org = state
        .store()
        .org(id)
        .await?
        .ok_or(ApiError::NotFound("Organization"))?;
    Ok(Json(json!({
        "id": org.id,
        "name": org.name,
        "is_default": org.id == DEFAULT_ORG_ID,
        "is_root": org.id == ROOT_ORG_ID,
        "is_system": org.id == SYSTEM_ORG_ID,
        "comment": org.comment,
    })))
}

/// Whether the caller sees every org rather than only their own.
fn sees_all(caller: &Caller) -> bool {
    caller.roles.grants(None, "orgs.view_rootorg")
}

/// The org serializer (§4.3).
fn org_json(o: &Org, stats: OrgStats) -> Value {
    json!({
        "id": o.id,
        "name": o.name,
        "is_default": o.id == DEFAULT_ORG_ID,
        "is_root": o.id == ROOT_ORG_ID,
        "is_system": o.id == SYSTEM_ORG_ID,
        "internal": o.id == ROOT_ORG_ID || o.id == SYSTEM_ORG_ID,
        "builtin": o.builtin,
        "comment": o.comment,
        "created_by": o.created_by,
        "date_created": datetime(o.date_created),
        "resource_statistics": {
            "users_amount": stats.users,
            "groups_amount": stats.groups,
            "assets_amount": stats.assets,
            "nodes_amount": stats.nodes,
            "zones_amount": stats.zones,
            "gateways_amount": stats.gateways,
            "asset_perms_amount": stats.asset_perms,
        },
    })
}

async fn shown(state: &AppState, o: &Org) -> Result<Value, ApiError> {
    let stats = state.store().org_statistics().await?;
    Ok(org_json(o, stats.get(&o.id).copied().unwrap_or_default()))
}

async fn list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let mine = caller.roles.org_ids();
    let only = if sees_all(&caller) {
        None
    } else {
        Some(mine.as_slice())
    };
    let mut orgs = state.store().list_orgs(only).await?;
    if let Some(search) = &q.search {
        let s = search.to_lowercase();
        orgs.retain(|o| o.name.to_lowercase().contains(&s));
    }
    if let Some(name) = q.filters.get("name").filter(|v| !v.is_empty()) {
        orgs.retain(|o| &o.name == name);
    }
    let count = i64::try_from(orgs.len()).unwrap_or(i64::MAX);
    let (limit, offset) = q.window();
    let stats = state.store().org_statistics().await?;
    let rows = orgs
        .iter()
        .skip(usize::try_from(offset).unwrap_or(0))
        .take(usize::try_from(limit).unwrap_or(0))
        .map(|o| org_json(o, stats.get(&o.id).copied().unwrap_or_default()))
        .collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

/// An org the caller may see, by id or name; 404 otherwise, so names of other tenants do not
/// leak.
async fn visible_org(state: &AppState, caller: &Caller, key: &str) -> Result<Org, ApiError> {
    let found = match Uuid::parse_str(key.trim()) {
        Ok(id) => state.store().org(id).await?,
        Err(_) => state
            .store()
            .list_orgs(None)
            .await?
            .into_iter()
            .find(|o| o.name == key),
    };
    let org = found.ok_or(ApiError::NotFound("Organization"))?;
    if sees_all(caller) || caller.roles.org_ids().contains(&org.id) {
        Ok(org)
    } else {
        Err(ApiError::NotFound("Organization"))
    }
}

async fn detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let org = visible_org(&state, &caller, &key).await?;
    Ok(Json(shown(&state, &org).await?))
}

pub(crate) const FIELDS: &[&str] = &["id", "name", "comment"];
/// Read-only fields, accepted and ignored so an exported object can be sent back.
pub(crate) const READ_ONLY: &[&str] = &[
    "is_default",
    "is_root",
    "is_system",
    "internal",
    "builtin",
    "created_by",
    "date_created",
    "resource_statistics",
];

fn name_taken() -> ApiError {
    ApiError::field("name", "organization with this name already exists.")
}

fn write_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => name_taken(),
        StoreError::Invalid(m) => ApiError::field("name", m),
        other => other.into(),
    }
}

async fn create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = object(body)?;
    let known: Vec<&str> = FIELDS.iter().chain(READ_ONLY).copied().collect();
    check_fields(&body, &known)?;
    require_fields(&body, &["name"])?;
    let name = text(&body, "name")?.unwrap_or_default();
    let comment = text(&body, "comment")?.unwrap_or_default();
    let by = caller_name(&state, &caller).await;
    let org = state
        .store()
        .create_org(&name, &comment, &by)
        .await
        .map_err(write_error)?;
    let after = shown(&state, &org).await?;
    audit(
        &state,
        &caller,
        "Organization",
        "create",
        &org.name,
        &org.id.to_string(),
        json!({"after": after}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(after)))
}

async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let known: Vec<&str> = FIELDS.iter().chain(READ_ONLY).copied().collect();
    check_fields(&body, &known)?;
    let before = visible_org(&state, &caller, &key).await?;
    let name = text(&body, "name")?;
    if name.as_deref().is_some_and(str::is_empty) {
        return Err(ApiError::field("name", "This field may not be blank."));
    }
    let comment = text(&body, "comment")?;
    let by = caller_name(&state, &caller).await;
    state
        .store()
        .update_org(before.id, name.as_deref(), comment.as_deref(), &by)
        .await
        .map_err(write_error)?;
    let after = state
        .store()
        .org(before.id)
        .await?
        .ok_or(ApiError::NotFound("Organization"))?;
    let (b, a) = (shown(&state, &before).await?, shown(&state, &after).await?);
    audit(
        &state,
        &caller,
        "Organization",
        "update",
        &after.name,
        &after.id.to_string(),
        diff(&b, &a),
    )
    .await;
    Ok(Json(a))
}

/// Deletes an empty org. Refused (400 `{"error"}`) for built-in orgs, for the org the request
/// works in (its operation log row would point at the deleted org), and for an org that
/// still holds members, resources or audit records.
async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let org = visible_org(&state, &caller, &key).await?;
    if org.builtin {
        return Err(ApiError::Refused(
            "A built-in organization cannot be deleted".into(),
        ));
    }
    if caller.write_org() == org.id {
        return Err(ApiError::Refused(format!(
            "The current organization ({}) cannot be deleted",
            org.name
        )));
    }
    let before = shown(&state, &org).await?;
    state.store().delete_org(org.id).await?;
    audit(
        &state,
        &caller,
        "Organization",
        "delete",
        &org.name,
        &org.id.to_string(),
        json!({"before": before}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
