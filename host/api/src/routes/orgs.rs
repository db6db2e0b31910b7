//! `/api/v1/orgs/…`: the current org (§2.6).

use crate::AppState;
use crate::ctx::Caller;
use crate::error::ApiError;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use portcullis_core::builtin::{DEFAULT_ORG_ID, ROOT_ORG_ID, SYSTEM_ORG_ID};
use serde_json::{Value, json};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/orgs/orgs/current/", get(current))
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
