//! `/api/v1/perms/users/<user>/…`: what a user may reach (§4.12), decided by the core's
//! permission engine through the store's materialized grant.

use crate::ctx::Caller;
use crate::error::ApiError;
use crate::list::ListQuery;
use crate::page_cache::{self, PageKey};
use crate::{AppState, Host};
use axum::extract::{OriginalUri, Path, State};
use axum::routing::get;
use axum::{Json, Router};
use portcullis_store::perms::{
    AssetScope, NodeRef, PermittedAssetRow, PermittedFilter, PermittedNodeRow,
};
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
        .route(
            "/api/v1/perms/users/{user}/nodes/children/",
            get(node_children),
        )
        .route(
            "/api/v1/perms/users/{user}/nodes/ungrouped/assets/",
            get(ungrouped_assets),
        )
        .route(
            "/api/v1/perms/users/{user}/nodes/favorite/assets/",
            get(favorite_assets),
        )
        .route(
            "/api/v1/perms/users/{user}/nodes/{node}/assets/",
            get(node_assets),
        )
        .route(
            "/api/v1/perms/users/{user}/nodes/children-with-assets/tree/",
            get(children_with_assets_tree),
        )
        .route(
            "/api/v1/perms/users/{user}/nodes/all-with-assets/tree/",
            get(all_with_assets_tree),
        )
        .route("/api/v1/perms/users/{user}/assets/tree/", get(assets_tree))
}

/// Assets one tree response carries at most. A tree is for a person to browse: past this the
/// client should page `…/assets/` (or the lazy tree, one node at a time) instead, and a
/// 100,000-asset grant must not become a 50 MB JSON answer.
const TREE_ASSET_CAP: i64 = 5_000;

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
) -> Result<axum::response::Response, ApiError> {
    let user = subject(&caller, &user)?;
    // Whole answers are kept per data generation (`page_cache.rs`) and until the user's grant
    // changes with time; the subject and org are part of the key.
    let key = PageKey {
        uri: uri.to_string(),
        host: host.clone(),
        org: caller.org,
        subject: Some(user),
    };
    page_cache::answer(
        &state,
        key,
        permitted_page(&state, &caller, user, &AssetScope::All, &uri, &host),
    )
    .await
}

/// One page of the user's permitted assets in `scope`, in the permitted-asset serializer.
async fn asset_page(
    state: &AppState,
    caller: &Caller,
    user: Uuid,
    scope: &AssetScope,
    uri: &axum::http::Uri,
    host: &str,
) -> Result<Json<Value>, ApiError> {
    let (page, _) = permitted_page(state, caller, user, scope, uri, host).await?;
    Ok(Json(page))
}

/// [`asset_page`]'s answer, with the instant the user's grant stops holding as it is.
async fn permitted_page(
    state: &AppState,
    caller: &Caller,
    user: Uuid,
    scope: &AssetScope,
    uri: &axum::http::Uri,
    host: &str,
) -> Result<(Value, Option<chrono::DateTime<chrono::Utc>>), ApiError> {
    let q = ListQuery::parse(uri)?;
    let filter = permitted_filter(&q)?;
    let (limit, offset) = q.window();
    let page = state
        .store()
        .user_permitted_assets_filtered(user, caller.org, scope, &filter, offset, limit)
        .await
        .map_err(|e| match e {
            // An unknown `order` field, refused as a 400 on that parameter as the other lists do.
            portcullis_store::StoreError::Invalid(msg) => ApiError::field("order", msg),
            e => e.into(),
        })?;
    let rows = page.assets.iter().map(permitted_asset_json).collect();
    Ok((q.respond(uri, host, page.count, rows), page.valid_until))
}

/// The filters of the permitted-asset lists (§4.12): `search` over name, address and comment;
/// exact `id`, `name`, `address`, `comment`, `category`, `type`, `is_active`; `protocols`
/// (any of a comma-separated list); `node_id` (the assets in that node or below it). An
/// empty value is no filter; a malformed id is a 400 naming the parameter.
fn permitted_filter(q: &ListQuery) -> Result<PermittedFilter, ApiError> {
    let given = |name: &str| q.filters.get(name).filter(|v| !v.is_empty()).cloned();
    let id = |name: &'static str| -> Result<Option<Uuid>, ApiError> {
        given(name)
            .map(|v| {
                Uuid::parse_str(v.trim())
                    .map_err(|_| ApiError::field(name, format!("“{v}” is not a valid UUID.")))
            })
            .transpose()
    };
    let protocols = given("protocols")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(PermittedFilter {
        search: q.search.clone(),
        id: id("id")?,
        name: given("name"),
        address: given("address"),
        comment: given("comment"),
        category: given("category"),
        type_: given("type"),
        is_active: q.flag("is_active")?,
        protocols,
        under_node: id("node_id")?,
        order: q.order.clone(),
    })
}

/// The permitted-asset serializer (§4.12).
fn permitted_asset_json(a: &PermittedAssetRow) -> Value {
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

/// The node serializer of the user's tree (§4.12), as `…/nodes/` shows it.
fn permitted_node_json(n: &PermittedNodeRow, full_value: &str) -> Value {
    json!({
        "id": n.id,
        "name": n.value,
        "key": n.key,
        "value": n.value,
        "full_value": full_value,
        "org_id": n.org_id,
        "assets_amount": n.assets_amount,
    })
}

/// The node named by `?key=` or `?id=` in the user's tree; `Ok(None)` when neither is given.
/// A node outside the user's tree is a 404, whether or not it exists: the user may not learn
/// of nodes they were not granted.
async fn node_param(
    state: &AppState,
    caller: &Caller,
    user: Uuid,
    q: &ListQuery,
) -> Result<Option<PermittedNodeRow>, ApiError> {
    let given = |name: &str| q.filters.get(name).filter(|v| !v.is_empty()).cloned();
    let node = match (given("key"), given("id")) {
        (Some(key), _) => NodeRef::Key(key),
        (None, Some(id)) => {
            NodeRef::Id(Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("Node"))?)
        }
        (None, None) => return Ok(None),
    };
    state
        .store()
        .user_permitted_node(user, caller.org, &node)
        .await?
        .ok_or(ApiError::NotFound("Node"))
        .map(Some)
}

/// `…/nodes/children/?key=|id=`: the children of a node of the user's tree (the top-level
/// nodes without either), as a bare array like `…/nodes/`.
async fn node_children(
    caller: Caller,
    State(state): State<AppState>,
    Path(user): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let user = subject(&caller, &user)?;
    let q = ListQuery::parse(&uri)?;
    let parent = node_param(&state, &caller, user, &q).await?;
    let children = state
        .store()
        .user_permitted_children(user, caller.org, parent.as_ref())
        .await?;
    // Siblings share their ancestors, so the parent's path is computed once.
    let base = match &parent {
        Some(p) => state.store().user_permitted_full_value(user, p).await?,
        None => String::new(),
    };
    Ok(Json(Value::Array(
        children
            .iter()
            .map(|n| permitted_node_json(n, &format!("{base}/{}", n.value)))
            .collect(),
    )))
}

/// `…/nodes/<node_id>/assets/`: the permitted assets in that node and below it, paginated.
async fn node_assets(
    caller: Caller,
    State(state): State<AppState>,
    Path((user, node)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let user = subject(&caller, &user)?;
    let node = Uuid::parse_str(&node).map_err(|_| ApiError::NotFound("Node"))?;
    let node = state
        .store()
        .user_permitted_node(user, caller.org, &NodeRef::Id(node))
        .await?
        .ok_or(ApiError::NotFound("Node"))?;
    let scope = AssetScope::UnderNode {
        org: node.org_id,
        key: node.key,
    };
    asset_page(&state, &caller, user, &scope, &uri, &host).await
}

/// `…/nodes/ungrouped/assets/`: the directly granted assets, paginated.
async fn ungrouped_assets(
    caller: Caller,
    State(state): State<AppState>,
    Path(user): Path<String>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let user = subject(&caller, &user)?;
    asset_page(&state, &caller, user, &AssetScope::Direct, &uri, &host).await
}

/// `…/nodes/favorite/assets/`: the user's bookmarked assets that are still granted,
/// paginated like the other asset lists (and with their filters).
async fn favorite_assets(
    caller: Caller,
    State(state): State<AppState>,
    Path(user): Path<String>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let user = subject(&caller, &user)?;
    asset_page(&state, &caller, user, &AssetScope::Favorite, &uri, &host).await
}

/// A zTree node item (§4.7): `id`/`pId` are keys, `name` carries the permitted amount.
fn node_tree_item(n: &PermittedNodeRow) -> Value {
    let parent = n.key.rsplit_once(':').map_or("", |(p, _)| p);
    json!({
        "id": n.key,
        "name": format!("{} ({})", n.value, n.assets_amount),
        "title": n.value,
        "pId": parent,
        "isParent": true,
        "open": parent.is_empty(),
        "iconSkin": "",
        "chkDisabled": false,
        "nocheck": false,
        "checked": false,
        "halfCheck": false,
        "meta": {"type": "node", "data": {"id": n.id, "key": n.key, "value": n.value}},
    })
}

/// A zTree asset item (§4.7) under the node with key `parent`.
fn asset_tree_item(a: &PermittedAssetRow, parent: &str) -> Value {
    let title = if a.comment.is_empty() {
        a.address.clone()
    } else {
        format!("{}\n{}", a.address, a.comment)
    };
    json!({
        "id": a.id,
        "name": a.name,
        "title": title,
        "pId": parent,
        "isParent": false,
        "open": false,
        "iconSkin": a.type_,
        "chkDisabled": !a.is_active,
        "nocheck": false,
        "checked": false,
        "halfCheck": false,
        "meta": {"type": "asset", "data": {
            "platform_type": a.type_,
            "org_name": a.org_name,
            "sftp": a.protocols.iter().any(|p| p == "sftp"),
            "name": a.name,
            "address": a.address,
        }},
    })
}

/// `…/nodes/children-with-assets/tree/?key=|id=`: the lazy tree. With a node, its child
/// nodes and the permitted assets sitting directly in it (at most [`TREE_ASSET_CAP`]);
/// without, the top-level nodes. Opening a node asks again with its key.
async fn children_with_assets_tree(
    caller: Caller,
    State(state): State<AppState>,
    Path(user): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let user = subject(&caller, &user)?;
    let q = ListQuery::parse(&uri)?;
    let parent = node_param(&state, &caller, user, &q).await?;
    let children = state
        .store()
        .user_permitted_children(user, caller.org, parent.as_ref())
        .await?;
    let mut items: Vec<Value> = children.iter().map(node_tree_item).collect();
    if let Some(p) = &parent {
        let page = state
            .store()
            .user_permitted_assets_in(
                user,
                caller.org,
                &AssetScope::InNode(p.id),
                0,
                TREE_ASSET_CAP,
            )
            .await?;
        items.extend(page.assets.iter().map(|a| asset_tree_item(a, &p.key)));
    }
    Ok(Json(Value::Array(items)))
}

/// `…/nodes/all-with-assets/tree/`: every node of the user's tree, then the permitted assets
/// by name, each once under the first of its nodes (by key) that is in the tree. Assets stop
/// at [`TREE_ASSET_CAP`]; a larger grant is browsed with the lazy tree instead.
async fn all_with_assets_tree(
    caller: Caller,
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = subject(&caller, &user)?;
    let nodes = state.store().user_permitted_nodes(user, caller.org).await?;
    let in_tree: std::collections::HashSet<(Uuid, &str)> =
        nodes.iter().map(|n| (n.org_id, n.key.as_str())).collect();
    let mut items: Vec<Value> = nodes.iter().map(node_tree_item).collect();
    let page = state
        .store()
        .user_permitted_assets_in(user, caller.org, &AssetScope::All, 0, TREE_ASSET_CAP)
        .await?;
    for a in &page.assets {
        let parent = a
            .node_keys
            .iter()
            .find(|k| in_tree.contains(&(a.org_id, k.as_str())))
            .map_or("", String::as_str);
        items.push(asset_tree_item(a, parent));
    }
    Ok(Json(Value::Array(items)))
}

/// `…/assets/tree/`: the permitted assets as a flat zTree list (no nodes, `pId` empty), at
/// most [`TREE_ASSET_CAP`].
async fn assets_tree(
    caller: Caller,
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = subject(&caller, &user)?;
    let page = state
        .store()
        .user_permitted_assets_in(user, caller.org, &AssetScope::All, 0, TREE_ASSET_CAP)
        .await?;
    Ok(Json(Value::Array(
        page.assets.iter().map(|a| asset_tree_item(a, "")).collect(),
    )))
}
