//! `GET /api/v1/assets/categories/` (reference §4.5 "Type tree"): the asset categories with
//! their types, as `[{value, label, children: [{value, label}]}]` (JumpServer's grouped
//! choices), for the UI's category menus and create forms. The `custom` category lists the
//! types its custom platforms use.
//!
//! The tree is the catalogue of the product (plus custom platforms' type names), not org
//! data, so any authenticated caller may read it.

use super::assets::{category_label, type_label};
use crate::AppState;
use crate::ctx::Caller;
use crate::error::ApiError;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use portcullis_core::builtin::{CATEGORIES, category_types};
use portcullis_store::assets::PlatformQuery;
use serde_json::{Value, json};
use std::collections::BTreeSet;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/assets/categories/", get(categories))
}

async fn categories(
    _caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let custom: BTreeSet<String> = state
        .store()
        .list_platforms(&PlatformQuery {
            category: Some("custom".into()),
            ..PlatformQuery::default()
        })
        .await?
        .into_iter()
        .map(|p| p.type_)
        .collect();
    let tree: Vec<Value> = CATEGORIES
        .iter()
        .map(|&c| {
            let types: Vec<Value> = match category_types(c) {
                Some([]) | None => custom
                    .iter()
                    .map(|t| json!({"value": t, "label": t}))
                    .collect(),
                Some(list) => list
                    .iter()
                    .map(|&t| json!({"value": t, "label": type_label(t)}))
                    .collect(),
            };
            json!({"value": c, "label": category_label(c), "children": types})
        })
        .collect();
    Ok(Json(Value::Array(tree)))
}
