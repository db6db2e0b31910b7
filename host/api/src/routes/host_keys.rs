//! The SSH host keys the gateway recorded for an asset on first use
//! (`/assets/assets/{id}/host-keys/`).
//!
//! `GET` lists them (address, port, algorithm, key, fingerprint, first and last seen) so an
//! administrator can compare them with the host's own (`ssh-keygen -l`). `DELETE` forgets them
//! all, after a legitimate key change (a reinstalled host): until then the gateway refuses to
//! send credentials to a host presenting another key. Forgetting is an inventory change
//! (`assets.change_asset`) and is written to the operation log with the forgotten fingerprints.
//! Not part of JumpServer's API, which does not check target host keys.

use super::common::audit;
use crate::AppState;
use crate::ctx::Caller;
use crate::error::ApiError;
use crate::fmt::datetime;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use portcullis_store::assets::AssetRecord;
use portcullis_store::host_keys::HostKeyRecord;
use serde_json::{Value, json};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/assets/assets/{id}/host-keys/",
        get(list).delete(forget),
    )
}

fn key_json(k: &HostKeyRecord) -> Value {
    json!({
        "asset": k.asset_id,
        "address": k.address,
        "port": k.port,
        "algorithm": k.algorithm,
        "public_key": k.public_key,
        "fingerprint": k.fingerprint,
        "date_created": datetime(k.date_created),
        "date_last_seen": datetime(k.date_last_seen),
    })
}

/// The asset (by id, or by name as the asset detail accepts), when the caller's org can see
/// it; 404 otherwise.
async fn visible(state: &AppState, caller: &Caller, key: &str) -> Result<AssetRecord, ApiError> {
    state
        .store()
        .asset_record(caller.org, key)
        .await?
        .ok_or(ApiError::NotFound("Asset"))
}

/// `GET /assets/assets/{id}/host-keys/`: a plain list (an asset has a key per address and
/// port it was reached at, a handful at most).
async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let asset = visible(&state, &caller, &id).await?;
    let keys = state.store().list_host_keys(asset.id).await?;
    Ok(Json(Value::Array(keys.iter().map(key_json).collect())))
}

/// `DELETE /assets/assets/{id}/host-keys/`: forgets the recorded keys; the next connection
/// records the key the host presents then.
async fn forget(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let asset = visible(&state, &caller, &id).await?;
    let before = state.store().list_host_keys(asset.id).await?;
    state.store().forget_host_keys(asset.id).await?;
    audit(
        &state,
        &caller,
        "Asset host key",
        "delete",
        &asset.name,
        &asset.id.to_string(),
        json!({"before": before.iter().map(key_json).collect::<Vec<_>>()}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
