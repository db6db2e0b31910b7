//! `/api/v1/assets/…`: platforms (§4.8), assets per category (§4.5), the node tree (§4.7) and
//! zones, formerly domains (§4.6).
//!
//! Every read is scoped to the caller's org (`None`, the root view, sees all orgs); every
//! create goes to [`Caller::write_org`]. Input is parsed and checked completely (platform,
//! protocols, nodes, zone, category fields) before the store writes anything, and the store
//! writes multi-row changes in one transaction.

use super::common::{
    audit, caller_name, check_fields, diff, flag, object, require_fields, text, uuids,
};
use super::labels;
use crate::ctx::Caller;
use crate::error::ApiError;
use crate::fmt::{choice, choice_input, datetime, opt_datetime, related_input, stub};
use crate::list::ListQuery;
use crate::page_cache::{self, PageKey};
use crate::transfer::{bulk_created, bulk_invalid, bulk_items, item_error};
use crate::{AppState, Host};
use axum::extract::rejection::JsonRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use portcullis_core::builtin::GATEWAY_PLATFORM_ID;
use portcullis_core::perm::NodeKey;
use portcullis_store::StoreError;
use portcullis_store::accounts::NewAccount;
use portcullis_store::assets::{
    AssetPatch, AssetQuery, AssetRecord, NewAsset, NodeAssetsOp, NodeQuery, NodeRecord,
    NodeRefusal, PlatformQuery, PlatformRecord, ZoneQuery, ZoneRecord,
};
use portcullis_store::bulk::WriteBatch;
use portcullis_store::labels::LabelRef;
use serde_json::{Map, Value, json};
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/assets/platforms/",
            get(platform_list).post(super::platform_writes::platform_create),
        )
        .route(
            "/api/v1/assets/platform-automation-methods/",
            get(super::platform_automation::method_list),
        )
        .route(
            "/api/v1/assets/platforms/{key}/",
            get(platform_detail)
                .put(super::platform_writes::platform_update)
                .patch(super::platform_writes::platform_update)
                .delete(super::platform_writes::platform_delete),
        )
        .route("/api/v1/assets/nodes/", get(node_list).post(node_create))
        .route("/api/v1/assets/nodes/suggestions/", get(node_suggestions))
        .route("/api/v1/assets/nodes/children/", get(node_children_query))
        .route("/api/v1/assets/nodes/children/tree/", get(node_tree))
        .route(
            "/api/v1/assets/nodes/{key}/",
            get(node_detail)
                .patch(node_update)
                .put(node_update)
                .delete(node_delete),
        )
        .route(
            "/api/v1/assets/nodes/{key}/children/",
            get(node_children).post(node_child_create),
        )
        .route("/api/v1/assets/nodes/{key}/assets/", get(node_asset_list))
        .route("/api/v1/assets/nodes/{key}/assets/{op}/", put(node_assets))
        .route("/api/v1/assets/zones/", get(zone_list).post(zone_create))
        .route("/api/v1/assets/domains/", get(zone_list).post(zone_create))
        .route(
            "/api/v1/assets/zones/{key}/",
            get(zone_detail)
                .patch(zone_update)
                .put(zone_update)
                .delete(zone_delete),
        )
        .route(
            "/api/v1/assets/domains/{key}/",
            get(zone_detail)
                .patch(zone_update)
                .put(zone_update)
                .delete(zone_delete),
        )
        // Every other `/assets/<kind>/`: the generic list and the per-category endpoints.
        // `/assets/<kind>/suggestions/` is served by the detail route's GET (see
        // `asset_detail`), so it cannot shadow a category's `{key}` or be shadowed by it.
        .route(
            "/api/v1/assets/{kind}/",
            get(asset_list)
                .post(asset_create)
                .put(super::bulk_update::assets)
                .patch(super::bulk_update::assets),
        )
        .route(
            "/api/v1/assets/{kind}/{key}/",
            get(asset_detail)
                .patch(asset_update)
                .put(asset_update)
                .delete(asset_delete),
        )
}

/// A view-specific refusal with 403 (`{"error": …}`), the shape JumpServer uses when a node
/// cannot be deleted. `ApiError` has no 403 variant with that body, so it is built here.
fn forbidden(text: &str) -> Response {
    ApiError::Forbidden(text.to_owned()).into_response()
}

fn invalid_pk(field: &str, v: &impl std::fmt::Display) -> ApiError {
    ApiError::field(
        field,
        format!("Invalid pk \"{v}\" - object does not exist."),
    )
}

fn filter(q: &ListQuery, name: &str) -> Option<String> {
    q.filters.get(name).filter(|v| !v.is_empty()).cloned()
}

/// A store refusal of bad input (`Invalid`: an order field) as a 400 on that parameter.
fn order_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid(msg) => ApiError::field("order", msg),
        other => other.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Labels of choice values
// ---------------------------------------------------------------------------------------------

pub(crate) fn category_label(c: &str) -> &str {
    match c {
        "host" => "Host",
        "device" => "Device",
        "database" => "Database",
        "cloud" => "Cloud service",
        "web" => "Web",
        "ds" => "Directory service",
        "custom" => "Custom type",
        other => other,
    }
}

pub(crate) fn type_label(t: &str) -> &str {
    match t {
        "linux" => "Linux",
        "windows" => "Windows",
        "unix" => "Unix",
        "macos" => "macOS",
        "other" => "Other",
        "general" => "General",
        "cisco" => "Cisco",
        "huawei" => "Huawei",
        "h3c" => "H3C",
        "juniper" => "Juniper",
        "tp_link" => "TP-Link",
        "switch" => "Switch",
        "router" => "Router",
        "firewall" => "Firewall",
        "mysql" => "MySQL",
        "mariadb" => "MariaDB",
        "postgresql" => "PostgreSQL",
        "oracle" => "Oracle",
        "sqlserver" => "SQLServer",
        "db2" => "DB2",
        "dameng" => "Dameng",
        "clickhouse" => "ClickHouse",
        "mongodb" => "MongoDB",
        "redis" => "Redis",
        "public" => "Public cloud",
        "private" => "Private cloud",
        "k8s" => "Kubernetes",
        "website" => "Website",
        "windows_ad" => "Windows Active Directory",
        other => other,
    }
}

fn connectivity_label(c: &str) -> &str {
    match c {
        "na" => "N/A",
        "ok" => "OK",
        "err" => "Error",
        "rdp_err" => "RDP error",
        "auth_err" => "Authentication error",
        "password_err" => "Invalid password error",
        "openssh_key_err" => "OpenSSH key error",
        "ntlm_err" => "NTLM credentials rejected error",
        "create_temp_err" => "Create temporary error",
        _ => "Unknown",
    }
}

// ---------------------------------------------------------------------------------------------
// Platforms
// ---------------------------------------------------------------------------------------------

/// Secret types an account may use over a protocol.
fn secret_types(protocol: &str) -> &'static [&'static str] {
    match protocol {
        "ssh" | "sftp" => &["password", "ssh_key"],
        "k8s" => &["token"],
        _ => &["password"],
    }
}

/// The platform serializer (§4.8). Protocol ids are integers in JumpServer but UUIDs in the
/// schema; they are shown as `platform id * 100 + position`, stable while the platform's
/// protocols do not change.
pub(crate) fn platform_json(p: &PlatformRecord) -> Value {
    let protocols: Vec<Value> = p
        .protocols
        .iter()
        .enumerate()
        .map(|(i, pr)| {
            json!({
                "id": p.id * 100 + i64::try_from(i).unwrap_or(0),
                "name": pr.name,
                "port": pr.port,
                "port_from_addr": pr.name == "http",
                "primary": pr.primary,
                "required": pr.required,
                "default": pr.default,
                "public": pr.public,
                "secret_types": secret_types(&pr.name),
                "setting": pr.setting,
            })
        })
        .collect();
    let automation = p
        .automation
        .as_ref()
        .map_or(Value::Null, |(enabled, config, kinds)| {
            let mut m = Map::new();
            m.insert("id".into(), json!(p.id));
            m.insert("ansible_enabled".into(), json!(enabled));
            m.insert("ansible_config".into(), config.clone());
            for k in kinds {
                m.insert(format!("{}_enabled", k.kind), json!(k.enabled));
                m.insert(format!("{}_method", k.kind), json!(k.method));
                m.insert(format!("{}_params", k.kind), k.params.clone());
            }
            Value::Object(m)
        });
    json!({
        "id": p.id,
        "name": p.name,
        "internal": p.internal,
        "category": choice(p.category.clone(), category_label(&p.category)),
        "type": choice(p.type_.clone(), type_label(&p.type_)),
        "charset": choice(p.charset.clone(), if p.charset == "gbk" { "GBK" } else { "UTF-8" }),
        "protocols": protocols,
        "gateway_enabled": p.gateway_enabled,
        "domain_enabled": p.gateway_enabled,
        "su_enabled": p.su_enabled,
        "su_method": p.su_method.as_ref().map_or(Value::Null, |m| choice(m.clone(), m)),
        "ds_enabled": p.ds_enabled,
        "automation": automation,
        "custom_fields": p.custom_fields,
        "assets_amount": p.assets_amount,
        "labels": [],
        "has_package": false,
        "comment": p.comment,
        "created_by": p.created_by,
        "date_created": datetime(p.date_created),
        "date_updated": datetime(p.date_updated),
    })
}

async fn platform_list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let all = state
        .store()
        .list_platforms(&PlatformQuery {
            org: caller.org,
            category: filter(&q, "category"),
            type_: filter(&q, "type"),
            name: filter(&q, "name"),
            search: q.search.clone(),
        })
        .await?;
    let (limit, offset) = q.window();
    let count = i64::try_from(all.len()).unwrap_or(i64::MAX);
    let mut rows = all
        .iter()
        .skip(usize::try_from(offset).unwrap_or(0))
        .take(usize::try_from(limit).unwrap_or(0))
        .map(platform_json)
        .collect::<Vec<_>>();
    labels::fill_labels(
        &state,
        caller.org,
        super::platform_writes::PLATFORM_TYPE,
        &mut rows,
    )
    .await?;
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn platform_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = state
        .store()
        .platform(caller.org, &key)
        .await?
        .ok_or(ApiError::NotFound("Platform"))?;
    Ok(Json(
        labels::with_labels(
            &state,
            caller.org,
            super::platform_writes::PLATFORM_TYPE,
            platform_json(&p),
        )
        .await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Assets
// ---------------------------------------------------------------------------------------------

/// What an `/assets/<kind>/` path serves: the generic list (no category) or one category
/// (gateways: hosts flagged as gateways).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kind {
    category: Option<&'static str>,
    gateway: bool,
}

pub(crate) fn kind_of(path: &str) -> Result<Kind, ApiError> {
    let (category, gateway) = match path {
        "assets" => (None, false),
        "hosts" => (Some("host"), false),
        "devices" => (Some("device"), false),
        "databases" => (Some("database"), false),
        "webs" => (Some("web"), false),
        "clouds" => (Some("cloud"), false),
        "customs" => (Some("custom"), false),
        "directories" => (Some("ds"), false),
        "gateways" => (Some("host"), true),
        _ => return Err(ApiError::NotFound("Resource")),
    };
    Ok(Kind { category, gateway })
}

const DB_SSL_MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];
const WEB_AUTOFILL: &[&str] = &["no", "basic", "script"];

/// Input fields specific to a category (stored in `assets.spec`, or `custom_info`).
fn category_fields(category: &str) -> &'static [&'static str] {
    match category {
        "database" => &[
            "db_name",
            "use_ssl",
            "allow_invalid_cert",
            "pg_ssl_mode",
            "ca_cert",
            "client_cert",
        ],
        "web" => &[
            "autofill",
            "username_selector",
            "password_selector",
            "submit_selector",
            "script",
        ],
        "ds" => &["domain_name"],
        "custom" => &["custom_info"],
        _ => &[],
    }
}

/// The category fields with JumpServer's defaults.
fn spec_defaults(category: &str) -> Map<String, Value> {
    let v = match category {
        "database" => json!({"db_name": "", "use_ssl": false, "allow_invalid_cert": false,
            "pg_ssl_mode": "prefer", "ca_cert": "", "client_cert": ""}),
        "web" => json!({"autofill": "basic", "username_selector": "name=username",
            "password_selector": "name=password", "submit_selector": "type=submit", "script": []}),
        "ds" => json!({"domain_name": ""}),
        _ => json!({}),
    };
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn choice_of(
    body: &Map<String, Value>,
    name: &str,
    allowed: &[&str],
) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => choice_input(v)
            .filter(|s| allowed.contains(&s.as_str()))
            .map(Some)
            .ok_or_else(|| ApiError::field(name, format!("\"{v}\" is not a valid choice."))),
    }
}

/// Applies the category fields of `body` onto `spec`.
fn apply_spec(
    category: &str,
    body: &Map<String, Value>,
    spec: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    for name in category_fields(category) {
        let value = match *name {
            "use_ssl" | "allow_invalid_cert" => flag(body, name)?.map(Value::Bool),
            "pg_ssl_mode" => choice_of(body, name, DB_SSL_MODES)?.map(Value::String),
            "autofill" => choice_of(body, name, WEB_AUTOFILL)?.map(Value::String),
            "script" => match body.get(*name) {
                None | Some(Value::Null) => None,
                Some(Value::Array(a)) => Some(Value::Array(a.clone())),
                Some(_) => return Err(ApiError::field(name, "Expected a list of items.")),
            },
            "custom_info" => match body.get(*name) {
                None | Some(Value::Null) => None,
                Some(Value::Object(o)) => Some(Value::Object(o.clone())),
                Some(_) => return Err(ApiError::field(name, "Expected a dictionary of items.")),
            },
            _ => text(body, name)?.map(Value::String),
        };
        if let Some(v) = value {
            spec.insert((*name).to_owned(), v);
        }
    }
    Ok(())
}

/// Read-only fields of the serializer: accepted and ignored on input, as DRF does, so a
/// script can send back what it read.
pub(crate) const ASSET_READ_ONLY: &[&str] = &[
    "id",
    "org_id",
    "org_name",
    "category",
    "type",
    "connectivity",
    "date_created",
    "date_updated",
    "created_by",
    "accounts_amount",
    "date_verified",
    "date_last_login",
    "auto_config",
    "spec_info",
    "gathered_info",
    "is_gateway",
    "gateway_enabled",
];

pub(crate) const ASSET_WRITABLE: &[&str] = &[
    "name",
    "address",
    "platform",
    "protocols",
    "nodes",
    "nodes_display",
    "zone",
    "domain",
    "is_active",
    "comment",
    "labels",
    "accounts",
    "directory_services",
];

/// The asset serializer (§4.5), with the category fields at the top level as the
/// per-category serializers show them.
fn asset_json(a: &AssetRecord) -> Value {
    let mut v = json!({
        "id": a.id,
        "name": a.name,
        "address": a.address,
        "platform": {"id": a.platform_id, "name": a.platform_name, "type": a.type_},
        "zone": a.zone.as_ref().map_or(Value::Null, |(id, name)| stub(*id, name)),
        "domain": a.zone.as_ref().map_or(Value::Null, |(id, name)| stub(*id, name)),
        "nodes": a.nodes.iter().map(|n| stub(n.id, &n.value)).collect::<Vec<_>>(),
        "nodes_display": a.nodes.iter().map(|n| n.full_value.clone()).collect::<Vec<_>>(),
        "protocols": a.protocols.iter().map(|(n, p)| json!({"name": n, "port": p})).collect::<Vec<_>>(),
        "labels": [],
        "directory_services": [],
        "is_active": a.is_active,
        "is_gateway": a.is_gateway,
        "category": choice(a.category.clone(), category_label(&a.category)),
        "type": choice(a.type_.clone(), type_label(&a.type_)),
        "connectivity": choice(a.connectivity.clone(), connectivity_label(&a.connectivity)),
        "accounts_amount": a.accounts_amount,
        "auto_config": {},
        "gathered_info": a.gathered_info,
        "spec_info": a.spec,
        "date_verified": opt_datetime(a.date_verified),
        "date_last_login": opt_datetime(a.date_last_login),
        "org_id": a.org_id,
        "org_name": a.org_name,
        "created_by": a.created_by,
        "date_created": datetime(a.date_created),
        "date_updated": datetime(a.date_updated),
        "comment": a.comment,
    });
    if let Value::Object(m) = &mut v {
        let mut spec = spec_defaults(&a.category);
        if let Value::Object(stored) = &a.spec {
            for (k, val) in stored {
                spec.insert(k.clone(), val.clone());
            }
        }
        for name in category_fields(&a.category) {
            let val = match *name {
                "custom_info" => a.custom_info.clone(),
                "pg_ssl_mode" | "autofill" => {
                    let raw = spec.get(*name).and_then(Value::as_str).unwrap_or_default();
                    choice(raw.to_owned(), raw)
                }
                _ => spec.get(*name).cloned().unwrap_or(Value::Null),
            };
            m.insert((*name).to_owned(), val);
        }
    }
    v
}

/// The asset filters of §4.5 from the query string.
async fn asset_query(
    state: &AppState,
    caller: &Caller,
    q: &ListQuery,
    kind: Kind,
) -> Result<AssetQuery, ApiError> {
    let (limit, offset) = q.window();
    let mut query = AssetQuery {
        org: caller.org,
        lookups: crate::conventions::sql_lookups(q, &portcullis_store::lookups::ASSET_FIELDS)?,
        search: q.search.clone(),
        name: filter(q, "name"),
        address: filter(q, "address"),
        comment: filter(q, "comment"),
        category: filter(q, "category"),
        type_: filter(q, "type"),
        is_active: q.flag("is_active")?,
        is_gateway: q.flag("is_gateway")?,
        order: q.order.clone(),
        limit,
        offset,
        ..AssetQuery::default()
    };
    if let Some(c) = kind.category {
        if query.category.as_deref().is_some_and(|f| f != c) {
            query.ids = Some(Vec::new());
        }
        query.category = Some(c.to_owned());
    }
    if kind.gateway {
        query.is_gateway = Some(true);
    }
    if let Some(p) = filter(q, "platform") {
        match p.parse::<i64>() {
            Ok(id) => query.platform_id = Some(id),
            Err(_) => query.platform_name = Some(p),
        }
    }
    if let Some(z) = filter(q, "zone").or_else(|| filter(q, "domain")) {
        match Uuid::parse_str(&z) {
            Ok(id) => query.zone_id = Some(id),
            Err(_) => query.zone_name = Some(z),
        }
    }
    if let Some(p) = filter(q, "protocols") {
        query.protocols = Some(
            p.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        );
    }
    if let Some(n) = filter(q, "node_id").or_else(|| filter(q, "node")) {
        match state.store().node(caller.org, &n).await? {
            Some(node) => query.node = Some((node.org_id, node.id, node.key)),
            None => query.ids = Some(Vec::new()),
        }
        query.node_subtree = matches!(
            q.filters.get("all").map(String::as_str),
            Some("1" | "true" | "True" | "all")
        );
    }
    let matched = labels::filter_ids(state, caller, q, ASSET_TYPE).await?;
    labels::narrow_ids(&mut query.ids, matched);
    Ok(query)
}

/// The label resource type of assets.
const ASSET_TYPE: &str = "assets.asset";

/// Serialized assets with their labels (one label query for the page).
async fn assets_json(
    state: &AppState,
    caller: &Caller,
    assets: &[AssetRecord],
) -> Result<Vec<Value>, ApiError> {
    let mut rows: Vec<Value> = assets.iter().map(asset_json).collect();
    labels::fill_labels(state, caller.org, ASSET_TYPE, &mut rows).await?;
    Ok(rows)
}

/// One serialized asset with its labels.
pub(crate) async fn asset_full(
    state: &AppState,
    caller: &Caller,
    asset: &AssetRecord,
) -> Result<Value, ApiError> {
    labels::with_labels(state, caller.org, ASSET_TYPE, asset_json(asset)).await
}

/// The asset list; whole answers are kept per data generation (`page_cache.rs`), keyed by
/// the caller's org, since nothing else of the caller shapes it once `view_asset` is checked.
async fn asset_list(
    caller: Caller,
    State(state): State<AppState>,
    Path(kind): Path<String>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Response, ApiError> {
    let kind = kind_of(&kind)?;
    let key = PageKey {
        uri: uri.to_string(),
        host: host.clone(),
        org: caller.org,
        subject: None,
    };
    page_cache::answer(&state, key, async {
        let q = ListQuery::parse(&uri)?;
        let query = asset_query(&state, &caller, &q, kind).await?;
        let (count, assets) = state
            .store()
            .list_assets(&query)
            .await
            .map_err(order_error)?;
        let rows = assets_json(&state, &caller, &assets).await?;
        Ok((q.respond(&uri, &host, count, rows), None))
    })
    .await
}

/// `GET /assets/<kind>/suggestions/`: `{id, name, address}` of the first
/// [`labels::SUGGESTION_LIMIT`] assets the list's filters match (JumpServer's
/// `MiniAssetSerializer`), for pickers; needs `assets.match_asset`, not `view_asset`.
async fn asset_suggestions(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    uri: &Uri,
    host: &str,
) -> Result<Value, ApiError> {
    caller.require("assets.match_asset")?;
    let q = ListQuery::parse(uri)?;
    let mut query = asset_query(state, caller, &q, kind).await?;
    (query.limit, query.offset) = labels::suggestion_window(&q);
    let (count, assets) = state
        .store()
        .list_assets(&query)
        .await
        .map_err(order_error)?;
    let rows = assets
        .iter()
        .map(|a| json!({"id": a.id, "name": a.name, "address": a.address}))
        .collect();
    Ok(labels::suggestions_respond(&q, uri, host, count, rows))
}

/// Finds an asset visible in the caller's org and served by this kind of endpoint, or 404.
pub(crate) async fn visible_asset(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    key: &str,
) -> Result<AssetRecord, ApiError> {
    let a = state
        .store()
        .asset_record(caller.org, key)
        .await?
        .ok_or(ApiError::NotFound("Asset"))?;
    if kind.category.is_some_and(|c| c != a.category) || (kind.gateway && !a.is_gateway) {
        return Err(ApiError::NotFound("Asset"));
    }
    Ok(a)
}

async fn asset_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path((kind, key)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let kind = kind_of(&kind)?;
    if key == "suggestions" {
        return Ok(Json(
            asset_suggestions(&state, &caller, kind, &uri, &host).await?,
        ));
    }
    // The route declares a rule (access/table.rs): the suggestions need another permission.
    caller.require("assets.view_asset")?;
    let asset = visible_asset(&state, &caller, kind, &key).await?;
    Ok(Json(asset_full(&state, &caller, &asset).await?))
}

/// The platform named by the `platform` field, or a field error.
async fn platform_input(
    state: &AppState,
    caller: &Caller,
    v: &Value,
) -> Result<PlatformRecord, ApiError> {
    let key = related_input(v)
        .ok_or_else(|| ApiError::field("platform", "Incorrect type. Expected pk value."))?;
    state
        .store()
        .platform(caller.org, &key)
        .await?
        .ok_or_else(|| invalid_pk("platform", &key))
}

/// `protocols` as `[(name, port)]`: names must be the platform's, a missing port is the
/// platform's default, and the platform's required protocols must be present.
fn protocols_input(v: &Value, platform: &PlatformRecord) -> Result<Vec<(String, i64)>, ApiError> {
    let bad = |msg: String| ApiError::field("protocols", msg);
    let Value::Array(items) = v else {
        return Err(bad("Expected a list of items.".into()));
    };
    let mut out: Vec<(String, i64)> = Vec::new();
    for item in items {
        let (name, port) = match item {
            Value::Object(o) => {
                let name = o
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .unwrap_or_default()
                    .to_owned();
                let port = match o.get("port") {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) => Some(
                        n.as_i64()
                            .ok_or_else(|| bad("Port must be an integer.".into()))?,
                    ),
                    Some(Value::String(s)) => Some(
                        s.trim()
                            .parse::<i64>()
                            .map_err(|_| bad("Port must be an integer.".into()))?,
                    ),
                    Some(_) => return Err(bad("Port must be an integer.".into())),
                };
                (name, port)
            }
            // The older `"ssh/22"` form.
            Value::String(s) => match s.split_once('/') {
                Some((n, p)) => (
                    n.trim().to_owned(),
                    Some(
                        p.trim()
                            .parse::<i64>()
                            .map_err(|_| bad("Port must be an integer.".into()))?,
                    ),
                ),
                None => (s.trim().to_owned(), None),
            },
            _ => return Err(bad("Expected a dictionary of items.".into())),
        };
        let Some(known) = platform.protocols.iter().find(|p| p.name == name) else {
            return Err(bad(format!(
                "Protocol \"{name}\" is not supported by platform \"{}\".",
                platform.name
            )));
        };
        let port = port.unwrap_or(known.port);
        if !(0..=65535).contains(&port) {
            return Err(bad(format!("Port {port} is out of range 0-65535.")));
        }
        out.retain(|(n, _)| *n != name);
        out.push((name, port));
    }
    let missing: Vec<&str> = platform
        .protocols
        .iter()
        .filter(|p| p.required && !out.iter().any(|(n, _)| *n == p.name))
        .map(|p| p.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(bad(format!("Protocol is required: {}", missing.join(", "))));
    }
    if out.is_empty() {
        return Err(bad("This field is required.".into()));
    }
    Ok(out)
}

/// `nodes_display` paths as segments below the org root (a leading root name is dropped, as
/// JumpServer does).
async fn node_paths_input(
    state: &AppState,
    org: Uuid,
    body: &Map<String, Value>,
) -> Result<Option<Vec<Vec<String>>>, ApiError> {
    let items = match body.get("nodes_display") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::field(
                "nodes_display",
                "Expected a list of items.",
            ));
        }
    };
    let root_value = root_value(state, org).await?;
    let mut paths = Vec::new();
    for item in items {
        let Value::String(s) = item else {
            return Err(ApiError::field("nodes_display", "Not a valid string."));
        };
        let mut segs: Vec<String> = s
            .split('/')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect();
        if segs.first().is_some_and(|f| *f == root_value) {
            segs.remove(0);
        }
        paths.push(segs);
    }
    Ok(Some(paths))
}

/// The name of an org's root node, without creating it (its name is the org's until then).
async fn root_value(state: &AppState, org: Uuid) -> Result<String, ApiError> {
    let (_, roots) = state
        .store()
        .list_nodes(&NodeQuery {
            org: Some(org),
            roots_only: true,
            limit: 1,
            ..NodeQuery::default()
        })
        .await?;
    match roots.into_iter().next() {
        Some(r) => Ok(r.value),
        None => Ok(state
            .store()
            .org(org)
            .await?
            .map(|o| o.name)
            .unwrap_or_default()),
    }
}

/// `nodes` as ids of nodes of `org`.
async fn node_ids_input(
    state: &AppState,
    org: Uuid,
    body: &Map<String, Value>,
) -> Result<Option<Vec<Uuid>>, ApiError> {
    let Some(ids) = uuids(body, "nodes")? else {
        return Ok(None);
    };
    let found = state.store().nodes_in_org(org, &ids).await?;
    if let Some(missing) = ids.iter().find(|i| !found.contains(i)) {
        return Err(invalid_pk("nodes", missing));
    }
    Ok(Some(ids))
}

/// `zone` (or the old `domain`): `Some(None)` clears it; a zone must be in `org`.
async fn zone_input(
    state: &AppState,
    org: Uuid,
    body: &Map<String, Value>,
) -> Result<Option<Option<Uuid>>, ApiError> {
    let (field, v) = match (body.get("zone"), body.get("domain")) {
        (Some(v), _) => ("zone", v),
        (None, Some(v)) => ("domain", v),
        (None, None) => return Ok(None),
    };
    if v.is_null() || v.as_str() == Some("") {
        return Ok(Some(None));
    }
    let key = related_input(v)
        .ok_or_else(|| ApiError::field(field, "Incorrect type. Expected pk value."))?;
    let id = Uuid::parse_str(&key).map_err(|_| invalid_pk(field, &key))?;
    match state.store().zone(Some(org), &id.to_string()).await? {
        Some(_) => Ok(Some(Some(id))),
        None => Err(invalid_pk(field, &key)),
    }
}

/// Related lists not handled here yet: accepted only when empty, so nothing is silently lost.
/// (`accounts` on create is checked by `accounts::check_inline_accounts`; here only its shape.)
fn unsupported_lists(body: &Map<String, Value>) -> Result<(), ApiError> {
    if !matches!(
        body.get("accounts"),
        None | Some(Value::Null | Value::Array(_))
    ) {
        return Err(ApiError::field("accounts", "Expected a list of items."));
    }
    for name in ["directory_services"] {
        match body.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(_) => {
                return Err(ApiError::field(
                    name,
                    "Setting this field on an asset is not supported yet; use its own endpoint.",
                ));
            }
        }
    }
    if body.contains_key("client_key") {
        return Err(ApiError::field(
            "client_key",
            "Client keys are not accepted: asset fields are not stored sealed.",
        ));
    }
    Ok(())
}

fn known_fields(category: Option<&str>) -> Vec<&'static str> {
    let mut known: Vec<&'static str> = ASSET_WRITABLE
        .iter()
        .chain(ASSET_READ_ONLY)
        .copied()
        .collect();
    if let Some(c) = category {
        known.extend(category_fields(c));
    }
    known.push("client_key");
    known
}

fn name_taken() -> ApiError {
    ApiError::field("name", "asset with this name already exists.")
}

fn check_platform_kind(kind: Kind, p: &PlatformRecord) -> Result<(), ApiError> {
    if let Some(c) = kind.category
        && p.category != c
    {
        return Err(ApiError::field(
            "platform",
            format!(
                "The platform's category is {}, this endpoint takes {c}.",
                p.category
            ),
        ));
    }
    if kind.gateway && p.id != GATEWAY_PLATFORM_ID {
        return Err(ApiError::field(
            "platform",
            "A gateway uses the Gateway platform.",
        ));
    }
    Ok(())
}

/// Checks one asset of a create request, with its labels, without writing anything.
async fn prepare_asset(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    category: &str,
    body: &Map<String, Value>,
    created_by: &str,
) -> Result<(NewAsset, Vec<LabelRef>), ApiError> {
    let org = caller.write_org();
    check_fields(body, &known_fields(Some(category)))?;
    unsupported_lists(body)?;
    let labels = labels::labels_checked(state, org, body)
        .await?
        .unwrap_or_default();
    let mut required = vec!["name", "address", "protocols"];
    if !kind.gateway {
        required.push("platform");
    }
    if category == "database" {
        required.push("db_name");
    }
    require_fields(body, &required)?;
    let name = text(body, "name")?.unwrap_or_default();
    let address = text(body, "address")?.unwrap_or_default();
    let platform = match body.get("platform").filter(|v| !v.is_null()) {
        Some(v) => platform_input(state, caller, v).await?,
        None => state
            .store()
            .platform(caller.org, &GATEWAY_PLATFORM_ID.to_string())
            .await?
            .ok_or(ApiError::NotFound("Platform"))?,
    };
    check_platform_kind(kind, &platform)?;
    let protocols = protocols_input(body.get("protocols").unwrap_or(&Value::Null), &platform)?;
    let node_ids = node_ids_input(state, org, body).await?.unwrap_or_default();
    let node_paths = node_paths_input(state, org, body)
        .await?
        .unwrap_or_default();
    let zone = zone_input(state, org, body).await?.flatten();
    if kind.gateway && zone.is_none() {
        return Err(ApiError::field("zone", "This field is required."));
    }
    let mut spec = spec_defaults(category);
    apply_spec(category, body, &mut spec)?;
    let custom_info = spec.remove("custom_info").unwrap_or_else(|| json!({}));
    if state.store().asset_name_taken(org, &name, None).await? {
        return Err(name_taken());
    }
    let new = NewAsset {
        org,
        name,
        address,
        platform_id: platform.id,
        zone,
        is_active: flag(body, "is_active")?.unwrap_or(true),
        is_gateway: kind.gateway,
        spec: Value::Object(spec),
        custom_info,
        comment: text(body, "comment")?.unwrap_or_default(),
        protocols,
        node_ids,
        node_paths,
        created_by: created_by.to_owned(),
    };
    Ok((new, labels))
}

/// Creates one asset or, given an array, many (§1.2): every item is checked first and
/// nothing is written unless all are good; the 400 then lists one error dict per item.
async fn asset_create(
    caller: Caller,
    State(state): State<AppState>,
    Path(kind): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let kind = kind_of(&kind)?;
    let Some(category) = kind.category else {
        return Err(ApiError::Refused(
            "Cannot create asset directly, you should create a host or other".into(),
        ));
    };
    let (items, bulk) = bulk_items(body)?;
    let by = caller_name(&state, &caller).await;
    let mut ready: Vec<(NewAsset, Vec<LabelRef>)> = Vec::with_capacity(items.len());
    let mut inline: Vec<Vec<NewAccount>> = Vec::with_capacity(items.len());
    let mut errors = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in &items {
        let mut checked = prepare_asset(&state, &caller, kind, category, item, &by).await;
        // Its `accounts` are checked before anything is written, so a bad one leaves nothing.
        let accounts = match (&checked, item.get("accounts")) {
            (Ok((a, _)), Some(list)) => {
                match super::accounts::check_inline_accounts(&state, &caller, a.org, list).await {
                    Ok(fresh) => fresh,
                    Err(e) => {
                        checked = Err(e);
                        Vec::new()
                    }
                }
            }
            _ => Vec::new(),
        };
        // Names are unique in an org, also between the items of one request.
        if let Ok((a, _)) = &checked
            && ready.iter().any(|(r, _)| r.name == a.name)
        {
            checked = Err(name_taken());
        }
        match checked {
            Ok(a) => {
                ready.push(a);
                inline.push(accounts);
                errors.push(json!({}));
            }
            Err(e) => {
                failed = true;
                errors.push(item_error(e)?);
            }
        }
    }
    if failed {
        return Err(bulk_invalid(errors, bulk));
    }
    // One transaction per asset in the store, then its labels; a write that still fails (a
    // concurrent request took the name, or deleted a label) deletes the assets this request
    // already created, with their labels. Nodes created for `nodes_display` paths stay, as an
    // empty node is harmless.
    // The `accounts` of each item are created with it (deleting the asset takes them along).
    let mut created: Vec<Uuid> = Vec::with_capacity(ready.len());
    for ((a, refs), accounts) in ready.iter().zip(inline) {
        let written = match state.store().create_asset(a).await {
            Ok(id) => {
                created.push(id);
                let labelled = if refs.is_empty() {
                    Ok(())
                } else {
                    labels::save_org_labels(
                        &state,
                        &caller,
                        a.org,
                        ASSET_TYPE,
                        &id.to_string(),
                        refs,
                    )
                    .await
                };
                match labelled {
                    Ok(()) => {
                        super::accounts::create_inline_accounts(&state, &caller, id, accounts)
                            .await
                            .map(|_| ())
                    }
                    other => other,
                }
            }
            Err(StoreError::Conflict(_)) => Err(name_taken()),
            Err(other) => Err(other.into()),
        };
        if let Err(e) = written {
            for id in &created {
                if let Err(undo) = state.store().delete_asset(*id).await {
                    tracing::error!(error = %undo, asset = %id, "could not undo a bulk asset create");
                }
            }
            return Err(e);
        }
    }
    let mut shown = Vec::with_capacity(created.len());
    for (id, (a, _)) in created.into_iter().zip(&ready) {
        let asset = state
            .store()
            .asset_record(Some(a.org), &id.to_string())
            .await?
            .ok_or(ApiError::NotFound("Asset"))?;
        let after = asset_full(&state, &caller, &asset).await?;
        audit(
            &state,
            &caller,
            "Asset",
            "create",
            &asset.name,
            &id.to_string(),
            json!({"after": after}),
        )
        .await;
        shown.push(after);
    }
    Ok(bulk_created(shown, bulk))
}

/// An asset update checked against the current row, ready to write: the plan step of
/// [`asset_update`], shared with the bulk update (`routes/bulk_update.rs`), which plans every
/// item before it writes any.
pub(crate) struct AssetPlan {
    before: AssetRecord,
    /// The asset as the API showed it before the change (the operation log's "before").
    shown: Value,
    patch: AssetPatch,
    /// `None` when the body does not mention labels.
    labels: Option<Vec<LabelRef>>,
}

impl AssetPlan {
    /// The asset's id.
    pub(crate) fn id(&self) -> Uuid {
        self.before.id
    }
}

/// Checks an update of the asset `key` on a `kind` endpoint (fields, platform, protocols,
/// nodes, zone, category fields, name uniqueness in its org) and returns what to write.
/// Nothing is written.
pub(crate) async fn plan_asset_update(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    key: &str,
    body: &Map<String, Value>,
) -> Result<AssetPlan, ApiError> {
    let before = visible_asset(state, caller, kind, key).await?;
    let org = before.org_id;
    let category = before.category.clone();
    check_fields(body, &known_fields(Some(&category)))?;
    unsupported_lists(body)?;
    let new_labels = labels::labels_checked(state, org, body).await?;
    let mut patch = AssetPatch {
        address: text(body, "address")?,
        comment: text(body, "comment")?,
        is_active: flag(body, "is_active")?,
        ..AssetPatch::default()
    };
    if let Some(name) = text(body, "name")? {
        if name.is_empty() {
            return Err(ApiError::field("name", "This field may not be blank."));
        }
        if name != before.name
            && state
                .store()
                .asset_name_taken(org, &name, Some(before.id))
                .await?
        {
            return Err(name_taken());
        }
        patch.name = Some(name);
    }
    if patch.address.as_deref() == Some("") {
        return Err(ApiError::field("address", "This field may not be blank."));
    }
    let platform = match body.get("platform").filter(|v| !v.is_null()) {
        Some(v) => {
            let p = platform_input(state, caller, v).await?;
            check_platform_kind(kind, &p)?;
            if p.category != category {
                return Err(ApiError::field(
                    "platform",
                    "The platform's category cannot change.",
                ));
            }
            if p.id != before.platform_id {
                patch.platform_id = Some(p.id);
            }
            p
        }
        None => state
            .store()
            .platform(None, &before.platform_id.to_string())
            .await?
            .ok_or(ApiError::NotFound("Platform"))?,
    };
    if let Some(v) = body.get("protocols").filter(|v| !v.is_null()) {
        patch.protocols = Some(protocols_input(v, &platform)?);
    } else if patch.platform_id.is_some() {
        // The kept protocols must still be the new platform's.
        let kept = Value::Array(
            before
                .protocols
                .iter()
                .map(|(n, p)| json!({"name": n, "port": p}))
                .collect(),
        );
        protocols_input(&kept, &platform)?;
    }
    let ids = node_ids_input(state, org, body).await?;
    let paths = node_paths_input(state, org, body).await?;
    if ids.is_some() || paths.is_some() {
        patch.nodes = Some((ids.unwrap_or_default(), paths.unwrap_or_default()));
    }
    patch.zone = zone_input(state, org, body).await?;
    if before.is_gateway && patch.zone == Some(None) {
        return Err(ApiError::field("zone", "A gateway must stay in a zone."));
    }
    if category_fields(&category)
        .iter()
        .any(|f| body.contains_key(*f))
    {
        let mut spec = match &before.spec {
            Value::Object(m) => m.clone(),
            _ => spec_defaults(&category),
        };
        apply_spec(&category, body, &mut spec)?;
        if let Some(ci) = spec.remove("custom_info") {
            patch.custom_info = Some(ci);
        }
        if category == "database"
            && spec
                .get("db_name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            return Err(ApiError::field("db_name", "This field may not be blank."));
        }
        patch.spec = Some(Value::Object(spec));
    }
    let shown = asset_full(state, caller, &before).await?;
    Ok(AssetPlan {
        before,
        shown,
        patch,
        labels: new_labels,
    })
}

/// Writes a planned update (the row, its protocols and nodes, its labels) inside `batch`;
/// a name another asset took meanwhile is the `name` field error.
pub(crate) async fn apply_asset_update(
    batch: &mut WriteBatch,
    plan: &AssetPlan,
    by: &str,
) -> Result<(), ApiError> {
    batch
        .update_asset(&plan.before, &plan.patch, by)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => name_taken(),
            other => other.into(),
        })?;
    let refs = plan.labels.as_deref();
    batch
        .set_resource_labels(plan.before.org_id, ASSET_TYPE, plan.before.id, refs, by)
        .await
        .map_err(labels::labels_error)
}

/// After the commit: the asset as the API shows it now, its name, and the operation log's
/// diff against the plan's "before".
pub(crate) async fn updated_asset(
    state: &AppState,
    caller: &Caller,
    plan: &AssetPlan,
) -> Result<(Value, String, Value), ApiError> {
    let after = state
        .store()
        .asset_record(Some(plan.before.org_id), &plan.before.id.to_string())
        .await?
        .ok_or(ApiError::NotFound("Asset"))?;
    let a = asset_full(state, caller, &after).await?;
    let d = diff(&plan.shown, &a);
    Ok((a, after.name, d))
}

async fn asset_update(
    caller: Caller,
    State(state): State<AppState>,
    Path((kind, key)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let kind = kind_of(&kind)?;
    let body = object(body)?;
    let plan = plan_asset_update(&state, &caller, kind, &key, &body).await?;
    let by = caller_name(&state, &caller).await;
    let mut batch = state.store().begin_batch().await?;
    apply_asset_update(&mut batch, &plan, &by).await?;
    batch.commit().await?;
    let (a, name, d) = updated_asset(&state, &caller, &plan).await?;
    audit(
        &state,
        &caller,
        "Asset",
        "update",
        &name,
        &plan.before.id.to_string(),
        d,
    )
    .await;
    Ok(Json(a))
}

async fn asset_delete(
    caller: Caller,
    State(state): State<AppState>,
    Path((kind, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let kind = kind_of(&kind)?;
    let asset = visible_asset(&state, &caller, kind, &key).await?;
    let before = asset_full(&state, &caller, &asset).await?;
    // The store removes the label bindings of the asset (and of its accounts) with it.
    state.store().delete_asset(asset.id).await?;
    audit(
        &state,
        &caller,
        "Asset",
        "delete",
        &asset.name,
        &asset.id.to_string(),
        json!({"before": before}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------------

/// Rows read at most by one tree or children request.
const TREE_CAP: i64 = 10_000;

fn node_json(n: &NodeRecord) -> Value {
    json!({
        "id": n.id,
        "key": n.key,
        "value": n.value,
        "name": n.value,
        "full_value": n.full_value,
        "assets_amount": n.assets_amount,
        "org_id": n.org_id,
        "org_name": n.org_name,
        "created_by": n.created_by,
        "date_created": datetime(n.date_created),
        "date_updated": datetime(n.date_updated),
    })
}

fn sort_by_key(nodes: &mut [NodeRecord]) {
    nodes.sort_by(
        |a, b| match (NodeKey::parse(&a.key), NodeKey::parse(&b.key)) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.key.cmp(&b.key),
        },
    );
}

async fn node_list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let (count, nodes) = state
        .store()
        .list_nodes(&NodeQuery {
            org: caller.org,
            key: filter(&q, "key"),
            value: filter(&q, "value"),
            search: q.search.clone(),
            limit,
            offset,
            ..NodeQuery::default()
        })
        .await?;
    Ok(Json(q.respond(
        &uri,
        &host,
        count,
        nodes.iter().map(node_json).collect(),
    )))
}

/// `GET /assets/nodes/suggestions/`: the first [`labels::SUGGESTION_LIMIT`] nodes the list's
/// filters match, for pickers; needs `assets.match_node`, not `view_node`.
async fn node_suggestions(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = labels::suggestion_window(&q);
    let (count, nodes) = state
        .store()
        .list_nodes(&NodeQuery {
            org: caller.org,
            key: filter(&q, "key"),
            value: filter(&q, "value"),
            search: q.search.clone(),
            limit,
            offset,
            ..NodeQuery::default()
        })
        .await?;
    let rows = nodes.iter().map(node_json).collect();
    Ok(Json(labels::suggestions_respond(
        &q, &uri, &host, count, rows,
    )))
}

async fn visible_node(
    state: &AppState,
    caller: &Caller,
    key: &str,
) -> Result<NodeRecord, ApiError> {
    state
        .store()
        .node(caller.org, key)
        .await?
        .ok_or(ApiError::NotFound("Node"))
}

async fn node_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(node_json(&visible_node(&state, &caller, &key).await?)))
}

pub(crate) const NODE_READ_ONLY: &[&str] = &[
    "id",
    "key",
    "name",
    "org_id",
    "org_name",
    "assets_amount",
    "created_by",
    "date_created",
    "date_updated",
];

/// A node name: non-empty, without `/` (it separates `full_value`).
fn node_value(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match text(body, "value")? {
        None => Ok(None),
        Some(v) if v.is_empty() => Err(ApiError::field("value", "This field may not be blank.")),
        Some(v) if v.contains('/') => Err(ApiError::field("value", "Can't contains: /")),
        Some(v) => Ok(Some(v)),
    }
}

fn duplicate_sibling() -> ApiError {
    ApiError::field("value", "The same level node name cannot be the same")
}

/// Loads a node after a write and records it in the operation log.
async fn node_written(
    state: &AppState,
    caller: &Caller,
    org: Uuid,
    id: Uuid,
    action: &str,
    before: Option<&NodeRecord>,
) -> Result<Value, ApiError> {
    let node = state
        .store()
        .node(Some(org), &id.to_string())
        .await?
        .ok_or(ApiError::NotFound("Node"))?;
    let shown = node_json(&node);
    let change = match before {
        Some(b) => diff(&node_json(b), &shown),
        None => json!({"after": shown}),
    };
    audit(
        state,
        caller,
        "Node",
        action,
        &node.full_value,
        &id.to_string(),
        change,
    )
    .await;
    Ok(shown)
}

async fn node_create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let org = caller.write_org();
    let body = object(body)?;
    let known: Vec<&str> = ["value", "full_value"]
        .iter()
        .chain(NODE_READ_ONLY)
        .copied()
        .collect();
    check_fields(&body, &known)?;
    let by = caller_name(&state, &caller).await;
    let written = if let Some(full) = text(&body, "full_value")? {
        let root = root_value(&state, org).await?;
        let mut segs: Vec<String> = full
            .split('/')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if segs.first().is_some_and(|f| *f == root) {
            segs.remove(0);
        }
        if segs.is_empty() {
            return Err(ApiError::field(
                "full_value",
                "A path below the org root is required, e.g. /Default/dev.",
            ));
        }
        state.store().create_node_path(org, &segs, &by).await?
    } else {
        let value = node_value(&body)?
            .ok_or_else(|| ApiError::field("value", "This field is required."))?;
        state.store().create_node(org, None, &value, &by).await?
    };
    let id = written.map_err(|_| duplicate_sibling())?;
    let shown = node_written(&state, &caller, org, id, "create", None).await?;
    Ok((StatusCode::CREATED, Json(shown)))
}

async fn node_update(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let known: Vec<&str> = ["value", "full_value"]
        .iter()
        .chain(NODE_READ_ONLY)
        .copied()
        .collect();
    check_fields(&body, &known)?;
    let before = visible_node(&state, &caller, &key).await?;
    let Some(value) = node_value(&body)? else {
        return Ok(Json(node_json(&before)));
    };
    let by = caller_name(&state, &caller).await;
    match state.store().rename_node(&before, &value, &by).await? {
        Ok(()) => {}
        Err(NodeRefusal::Root) => {
            return Err(ApiError::Refused("Can't update the root node name".into()));
        }
        Err(_) => return Err(duplicate_sibling()),
    }
    let shown = node_written(
        &state,
        &caller,
        before.org_id,
        before.id,
        "update",
        Some(&before),
    )
    .await?;
    Ok(Json(shown))
}

async fn node_delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let node = visible_node(&state, &caller, &key).await?;
    match state.store().delete_node(&node).await? {
        Ok(()) => {}
        Err(NodeRefusal::Root) => return Ok(forbidden("Can't delete the root node")),
        Err(_) => return Ok(forbidden("Deletion failed and the node contains assets")),
    }
    audit(
        &state,
        &caller,
        "Node",
        "delete",
        &node.full_value,
        &node.id.to_string(),
        json!({"before": node_json(&node)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `all=all` (or `1`/`true`): descendants instead of direct children.
fn wants_all(q: &ListQuery) -> bool {
    matches!(
        q.filters.get("all").map(String::as_str),
        Some("all" | "1" | "true" | "True")
    )
}

async fn children_of(
    state: &AppState,
    node: &NodeRecord,
    all: bool,
) -> Result<Vec<NodeRecord>, ApiError> {
    let mut q = NodeQuery {
        org: Some(node.org_id),
        limit: TREE_CAP,
        ..NodeQuery::default()
    };
    if all {
        q.descendants_of = Some(node.key.clone());
    } else {
        q.parent_key = Some(node.key.clone());
    }
    let mut nodes = state.store().list_nodes(&q).await?.1;
    sort_by_key(&mut nodes);
    Ok(nodes)
}

/// The org root of the caller's org (created on first use, as JumpServer's `org_root()`), or
/// every org root in the root view.
async fn roots(state: &AppState, caller: &Caller) -> Result<Vec<NodeRecord>, ApiError> {
    match caller.org {
        Some(org) => Ok(vec![state.store().org_root_node(org).await?]),
        None => {
            let mut r = state
                .store()
                .list_nodes(&NodeQuery {
                    roots_only: true,
                    limit: TREE_CAP,
                    ..NodeQuery::default()
                })
                .await?
                .1;
            sort_by_key(&mut r);
            Ok(r)
        }
    }
}

async fn node_children(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let node = visible_node(&state, &caller, &key).await?;
    let nodes = children_of(&state, &node, wants_all(&q)).await?;
    Ok(Json(Value::Array(nodes.iter().map(node_json).collect())))
}

/// `/nodes/children/?id=|key=`; with neither, the org root (every org root in the root view).
async fn node_children_query(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let nodes = match filter(&q, "id").or_else(|| filter(&q, "key")) {
        Some(k) => {
            let node = visible_node(&state, &caller, &k).await?;
            children_of(&state, &node, wants_all(&q)).await?
        }
        None => roots(&state, &caller).await?,
    };
    Ok(Json(Value::Array(nodes.iter().map(node_json).collect())))
}

async fn node_child_create(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = object(body)?;
    let known: Vec<&str> = ["value"].iter().chain(NODE_READ_ONLY).copied().collect();
    check_fields(&body, &known)?;
    let parent = visible_node(&state, &caller, &key).await?;
    let given = node_value(&body)?;
    let by = caller_name(&state, &caller).await;
    // Without a value JumpServer names the child "New node", numbered when taken.
    let mut attempt = 0u32;
    let id = loop {
        let value = match (&given, attempt) {
            (Some(v), _) => v.clone(),
            (None, 0) => "New node".to_owned(),
            (None, n) => format!("New node {n}"),
        };
        match state
            .store()
            .create_node(parent.org_id, Some(&parent.key), &value, &by)
            .await?
        {
            Ok(id) => break id,
            Err(_) if given.is_none() && attempt < 1000 => attempt += 1,
            Err(_) => return Err(duplicate_sibling()),
        }
    };
    let shown = node_written(&state, &caller, parent.org_id, id, "create", None).await?;
    Ok((StatusCode::CREATED, Json(shown)))
}

async fn node_asset_list(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let node = visible_node(&state, &caller, &key).await?;
    let q = ListQuery::parse(&uri)?;
    let mut query = asset_query(
        &state,
        &caller,
        &q,
        Kind {
            category: None,
            gateway: false,
        },
    )
    .await?;
    query.node = Some((node.org_id, node.id, node.key.clone()));
    query.node_subtree = wants_all(&q);
    let (count, assets) = state
        .store()
        .list_assets(&query)
        .await
        .map_err(order_error)?;
    let rows = assets_json(&state, &caller, &assets).await?;
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn node_assets(
    caller: Caller,
    State(state): State<AppState>,
    Path((key, op)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let op = match op.as_str() {
        "add" => NodeAssetsOp::Add,
        "remove" => NodeAssetsOp::Remove,
        "replace" => NodeAssetsOp::Replace,
        _ => return Err(ApiError::NotFound("Resource")),
    };
    caller.require("assets.change_node")?;
    let body = object(body)?;
    check_fields(&body, &["assets"])?;
    let node = visible_node(&state, &caller, &key).await?;
    let ids = uuids(&body, "assets")?
        .ok_or_else(|| ApiError::field("assets", "This field is required."))?;
    let found = state.store().assets_in_org(node.org_id, &ids).await?;
    if let Some(missing) = ids.iter().find(|i| !found.contains(i)) {
        return Err(invalid_pk("assets", missing));
    }
    if op == NodeAssetsOp::Remove && node.parent_key.is_empty() {
        // As in JumpServer, assets are not taken out of the org root (they would come back).
        return Ok(Json(json!({"assets": ids})));
    }
    state.store().node_assets(&node, &ids, op).await?;
    let action = match op {
        NodeAssetsOp::Add => "assets_add",
        NodeAssetsOp::Remove => "assets_remove",
        NodeAssetsOp::Replace => "assets_replace",
    };
    audit(
        &state,
        &caller,
        "Node",
        "update",
        &node.full_value,
        &node.id.to_string(),
        json!({action: ids}),
    )
    .await;
    Ok(Json(json!({"assets": ids})))
}

fn node_tree_item(n: &NodeRecord, amount: bool) -> Value {
    let name = if amount {
        format!("{} ({})", n.value, n.assets_amount)
    } else {
        n.value.clone()
    };
    json!({
        "id": n.key,
        "name": name,
        "title": n.value,
        "pId": n.parent_key,
        "isParent": true,
        "open": n.parent_key.is_empty(),
        "iconSkin": "",
        "chkDisabled": false,
        "nocheck": false,
        "checked": false,
        "halfCheck": false,
        "meta": {"type": "node", "data": {"id": n.id, "key": n.key, "value": n.value}},
    })
}

fn asset_tree_item(a: &AssetRecord, parent_key: &str) -> Value {
    let title = if a.comment.is_empty() {
        a.address.clone()
    } else {
        format!("{}\n{}", a.address, a.comment)
    };
    json!({
        "id": a.id,
        "name": a.name,
        "title": title,
        "pId": parent_key,
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
            "sftp": a.protocols.iter().any(|(n, _)| n == "sftp"),
            "name": a.name,
            "address": a.address,
        }},
    })
}

/// Asset items for the assets of `node` (its subtree with `all`), each under the node of the
/// tree it sits in.
async fn tree_assets(
    state: &AppState,
    node: &NodeRecord,
    all: bool,
    out: &mut Vec<Value>,
) -> Result<(), ApiError> {
    let (_, assets) = state
        .store()
        .list_assets(&AssetQuery {
            org: Some(node.org_id),
            node: Some((node.org_id, node.id, node.key.clone())),
            node_subtree: all,
            limit: TREE_CAP,
            ..AssetQuery::default()
        })
        .await?;
    for a in &assets {
        let parent = if all {
            a.nodes
                .iter()
                .find(|n| n.key == node.key || n.key.starts_with(&format!("{}:", node.key)))
                .map_or(node.key.as_str(), |n| n.key.as_str())
        } else {
            node.key.as_str()
        };
        out.push(asset_tree_item(a, parent));
    }
    Ok(())
}

/// `/nodes/children/tree/`: zTree items (§4.7) — with `key` (or `id`) that node's children,
/// otherwise the org root opened one level; `assets=1` adds the assets, `search=` finds nodes
/// (and assets) by name.
async fn node_tree(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let with_assets = q.flag("assets")?.unwrap_or(false);
    let amount = q.flag("asset_amount")?.unwrap_or(true);
    let all = wants_all(&q);
    let mut items = Vec::new();
    if let Some(search) = q.search.clone() {
        let (_, mut nodes) = state
            .store()
            .list_nodes(&NodeQuery {
                org: caller.org,
                search: Some(search.clone()),
                limit: TREE_CAP,
                ..NodeQuery::default()
            })
            .await?;
        sort_by_key(&mut nodes);
        items.extend(nodes.iter().map(|n| node_tree_item(n, amount)));
        if with_assets {
            let (_, assets) = state
                .store()
                .list_assets(&AssetQuery {
                    org: caller.org,
                    search: Some(search),
                    limit: TREE_CAP,
                    ..AssetQuery::default()
                })
                .await?;
            for a in &assets {
                let parent = a.nodes.first().map_or("", |n| n.key.as_str());
                items.push(asset_tree_item(a, parent));
            }
        }
        return Ok(Json(Value::Array(items)));
    }
    match filter(&q, "key").or_else(|| filter(&q, "id")) {
        Some(k) => {
            let node = visible_node(&state, &caller, &k).await?;
            let children = children_of(&state, &node, all).await?;
            items.extend(children.iter().map(|n| node_tree_item(n, amount)));
            if with_assets {
                tree_assets(&state, &node, all, &mut items).await?;
            }
        }
        None => {
            for root in roots(&state, &caller).await? {
                items.push(node_tree_item(&root, amount));
                let children = children_of(&state, &root, all).await?;
                items.extend(children.iter().map(|n| node_tree_item(n, amount)));
                if with_assets {
                    tree_assets(&state, &root, all, &mut items).await?;
                }
            }
        }
    }
    Ok(Json(Value::Array(items)))
}

// ---------------------------------------------------------------------------------------------
// Zones
// ---------------------------------------------------------------------------------------------

fn zone_json(z: &ZoneRecord) -> Value {
    json!({
        "id": z.id,
        "name": z.name,
        "comment": z.comment,
        "assets": z.assets.iter().map(|(id, n)| stub(*id, n)).collect::<Vec<_>>(),
        "gateways": z.gateways.iter().map(|(id, n)| stub(*id, n)).collect::<Vec<_>>(),
        "labels": [],
        "assets_amount": z.assets.len(),
        "gateways_amount": z.gateways.len(),
        "org_id": z.org_id,
        "org_name": z.org_name,
        "created_by": z.created_by,
        "date_created": datetime(z.date_created),
        "date_updated": datetime(z.date_updated),
    })
}

pub(crate) const ZONE_FIELDS: &[&str] = &[
    "name",
    "comment",
    "assets",
    "labels",
    "id",
    "gateways",
    "assets_amount",
    "gateways_amount",
    "org_id",
    "org_name",
    "created_by",
    "date_created",
    "date_updated",
];

async fn zone_list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let (count, zones) = state
        .store()
        .list_zones(&ZoneQuery {
            org: caller.org,
            name: filter(&q, "name"),
            search: q.search.clone(),
            order: q.order.clone(),
            limit,
            offset,
            // `id`/`id__in` lookups are the conventions layer's.
            ..ZoneQuery::default()
        })
        .await
        .map_err(order_error)?;
    Ok(Json(q.respond(
        &uri,
        &host,
        count,
        zones.iter().map(zone_json).collect(),
    )))
}

async fn visible_zone(
    state: &AppState,
    caller: &Caller,
    key: &str,
) -> Result<ZoneRecord, ApiError> {
    state
        .store()
        .zone(caller.org, key)
        .await?
        .ok_or(ApiError::NotFound("Zone"))
}

async fn zone_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(zone_json(&visible_zone(&state, &caller, &key).await?)))
}

/// `assets` of a zone body: assets of `org`.
async fn zone_assets_input(
    state: &AppState,
    org: Uuid,
    body: &Map<String, Value>,
) -> Result<Option<Vec<Uuid>>, ApiError> {
    let Some(ids) = uuids(body, "assets")? else {
        return Ok(None);
    };
    let found = state.store().assets_in_org(org, &ids).await?;
    if let Some(missing) = ids.iter().find(|i| !found.contains(i)) {
        return Err(invalid_pk("assets", missing));
    }
    Ok(Some(ids))
}

fn zone_name_taken() -> ApiError {
    ApiError::field("name", "zone with this name already exists.")
}

fn check_zone_labels(body: &Map<String, Value>) -> Result<(), ApiError> {
    match body.get("labels") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(a)) if a.is_empty() => Ok(()),
        Some(_) => Err(ApiError::field(
            "labels",
            "Setting labels here is not supported yet.",
        )),
    }
}

async fn zone_create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let org = caller.write_org();
    let body = object(body)?;
    check_fields(&body, ZONE_FIELDS)?;
    require_fields(&body, &["name"])?;
    check_zone_labels(&body)?;
    let name = text(&body, "name")?.unwrap_or_default();
    let comment = text(&body, "comment")?.unwrap_or_default();
    let assets = zone_assets_input(&state, org, &body).await?;
    if state.store().zone(Some(org), &name).await?.is_some() {
        return Err(zone_name_taken());
    }
    let by = caller_name(&state, &caller).await;
    let id = state
        .store()
        .create_zone(org, &name, &comment, assets.as_deref(), &by)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => zone_name_taken(),
            other => other.into(),
        })?;
    let zone = visible_zone(&state, &caller, &id.to_string()).await?;
    let shown = zone_json(&zone);
    audit(
        &state,
        &caller,
        "Zone",
        "create",
        &zone.name,
        &id.to_string(),
        json!({"after": shown}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(shown)))
}

async fn zone_update(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    check_fields(&body, ZONE_FIELDS)?;
    check_zone_labels(&body)?;
    let before = visible_zone(&state, &caller, &key).await?;
    let name = text(&body, "name")?;
    if name.as_deref() == Some("") {
        return Err(ApiError::field("name", "This field may not be blank."));
    }
    if let Some(n) = &name
        && *n != before.name
        && state.store().zone(Some(before.org_id), n).await?.is_some()
    {
        return Err(zone_name_taken());
    }
    let comment = text(&body, "comment")?;
    let assets = zone_assets_input(&state, before.org_id, &body).await?;
    let by = caller_name(&state, &caller).await;
    state
        .store()
        .update_zone(
            &before,
            name.as_deref(),
            comment.as_deref(),
            assets.as_deref(),
            &by,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => zone_name_taken(),
            other => other.into(),
        })?;
    let after = visible_zone(&state, &caller, &before.id.to_string()).await?;
    let (b, a) = (zone_json(&before), zone_json(&after));
    audit(
        &state,
        &caller,
        "Zone",
        "update",
        &after.name,
        &after.id.to_string(),
        diff(&b, &a),
    )
    .await;
    Ok(Json(a))
}

async fn zone_delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let zone = visible_zone(&state, &caller, &key).await?;
    state.store().delete_zone(zone.id).await?;
    audit(
        &state,
        &caller,
        "Zone",
        "delete",
        &zone.name,
        &zone.id.to_string(),
        json!({"before": zone_json(&zone)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
