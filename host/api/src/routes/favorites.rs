//! `/api/v1/assets/favorite-assets/` (§4.5): the caller's bookmarks among the assets granted
//! to them. Listing, adding (`POST {asset}`) and removing (`DELETE ?asset=<id>`, as Luna
//! does); an asset that does not exist or is not granted cannot be bookmarked. Bookmarks are
//! per user and cross-org, like the grant they depend on.

use super::common::{check_fields, object};
use crate::ctx::Caller;
use crate::error::ApiError;
use crate::fmt::related_input;
use crate::list::ListQuery;
use crate::{AppState, Host};
use axum::extract::rejection::JsonRejection;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use portcullis_store::favorites::{FavoriteAsset, FavoriteRefusal};
use serde_json::{Value, json};
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/assets/favorite-assets/",
        get(list).post(create).delete(remove),
    )
}

/// The bookmark serializer: `{id, user, asset, folder, date_created}` (folders are not
/// kept, so `folder` is always null).
fn favorite_json(f: &FavoriteAsset) -> Value {
    json!({
        "id": f.id,
        "user": f.user_id,
        "asset": f.asset_id,
        "folder": null,
        "date_created": crate::fmt::datetime(f.date_created),
    })
}

/// `?asset=<id>`, when given; a malformed id is a 400 naming `asset`.
fn asset_param(q: &ListQuery) -> Result<Option<Uuid>, ApiError> {
    q.filters
        .get("asset")
        .filter(|v| !v.is_empty())
        .map(|v| {
            Uuid::parse_str(v.trim())
                .map_err(|_| ApiError::field("asset", format!("“{v}” is not a valid UUID.")))
        })
        .transpose()
}

async fn list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let asset = asset_param(&q)?;
    let all = state.store().favorite_assets(caller.user_id, asset).await?;
    let count = i64::try_from(all.len()).unwrap_or(i64::MAX);
    let (limit, offset) = q.window();
    let rows = all
        .iter()
        .skip(usize::try_from(offset).unwrap_or(0))
        .take(usize::try_from(limit).unwrap_or(0))
        .map(favorite_json)
        .collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = object(body)?;
    check_fields(&body, &["asset", "folder", "user", "id"])?;
    if body.get("folder").is_some_and(|f| match f {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        _ => true,
    }) {
        return Err(ApiError::field(
            "folder",
            "Favourite folders are not supported; leave folder empty.",
        ));
    }
    let raw = body
        .get("asset")
        .and_then(related_input)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::field("asset", "This field is required."))?;
    let not_granted = || {
        ApiError::field(
            "asset",
            format!("Invalid pk \"{raw}\" - no such asset is granted to you."),
        )
    };
    let asset = Uuid::parse_str(raw.trim()).map_err(|_| not_granted())?;
    match state
        .store()
        .add_favorite_asset(caller.user_id, asset)
        .await?
    {
        Ok(fav) => Ok((StatusCode::CREATED, Json(favorite_json(&fav)))),
        Err(FavoriteRefusal::NotGranted) => Err(not_granted()),
        Err(FavoriteRefusal::Exists) => Err(ApiError::field(
            "asset",
            "This asset is already one of your favourites.",
        )),
    }
}

/// `DELETE ?asset=<id>`: removes the caller's bookmark of that asset; 404 when there is none.
async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> Result<StatusCode, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let asset = asset_param(&q)?.ok_or_else(|| {
        ApiError::field(
            "asset",
            "Name the favourite to remove with ?asset=<asset id>.",
        )
    })?;
    if state
        .store()
        .remove_favorite_asset(caller.user_id, asset)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("Favorite asset"))
    }
}
