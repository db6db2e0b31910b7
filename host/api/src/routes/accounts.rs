//! `/api/v1/accounts/…`: accounts (§4.9), readable secrets (§4.9, §2.8) and account templates
//! (§4.10); and `/api/v1/perms/asset-permissions…`: asset permissions and their relation rows
//! (§4.11). The two live together because a permission's `accounts` selectors name accounts
//! and templates, and both sides validate against the same org.
//!
//! Secrets are write-only everywhere except `/accounts/account-secrets/`, which needs
//! `accounts.view_accountsecret`, the MFA step-up (412 while `SECURITY_VIEW_AUTH_NEED_MFA` is
//! on, since this build has no sessions to hold a confirmation) and logs every read.

use super::common::{
    audit, caller_name, check_fields, diff, flag, object, require_fields, text, uuids,
};
use super::labels;
use crate::ctx::Caller;
use crate::error::ApiError;
use crate::fmt::{choice, choice_input, datetime, opt_datetime, parse_datetime, related_input};
use crate::list::ListQuery;
use crate::{AppState, Host};
use axum::extract::rejection::JsonRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use portcullis_core::perm::{AccountSpec, Actions};
use portcullis_core::secret::SecretString;
use portcullis_store::StoreError;
use portcullis_store::accounts::{
    AccountQuery, AccountRecord, AccountUpdate, AssetRef, NewAccount, PermRelation,
    PermissionFields, PermissionQuery, PermissionRecord, RefKind, RelationRow, TemplateFields,
    TemplateQuery, TemplateRecord,
};
use portcullis_store::assets::AssetQuery;
use portcullis_store::bulk::WriteBatch;
use portcullis_store::labels::LabelRef;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/accounts/accounts/",
            get(list_accounts)
                .post(create_accounts)
                .put(super::bulk_update::accounts)
                .patch(super::bulk_update::accounts),
        )
        .route("/api/v1/accounts/accounts/bulk/", post(bulk_add_accounts))
        .route(
            "/api/v1/accounts/accounts/{id}/",
            get(account_detail)
                .patch(update_account)
                .put(update_account)
                .delete(delete_account),
        )
        .route("/api/v1/accounts/account-secrets/", get(list_secrets))
        .route("/api/v1/accounts/account-secrets/{id}/", get(secret_detail))
        .route(
            "/api/v1/accounts/account-secrets/{id}/histories/",
            get(secret_histories),
        )
        .route(
            "/api/v1/accounts/account-templates/",
            get(list_templates).post(create_template),
        )
        .route(
            "/api/v1/accounts/account-templates/{key}/",
            get(template_detail)
                .patch(update_template)
                .put(update_template)
                .delete(delete_template),
        )
        .route(
            "/api/v1/perms/asset-permissions/",
            get(list_permissions).post(create_permission),
        )
        .route(
            "/api/v1/perms/asset-permissions/{key}/",
            get(permission_detail)
                .patch(update_permission)
                .put(update_permission)
                .delete(delete_permission),
        )
        .route(
            "/api/v1/perms/asset-permissions/{key}/users/all/",
            get(permission_users),
        )
        .route(
            "/api/v1/perms/asset-permissions/{key}/assets/all/",
            get(permission_assets),
        )
        .route(
            "/api/v1/perms/asset-permissions/{key}/accounts/",
            get(permission_accounts),
        )
        .merge(relation_routes(
            "/api/v1/perms/asset-permissions-users-relations/",
            PermRelation::Users,
        ))
        .merge(relation_routes(
            "/api/v1/perms/asset-permissions-user-groups-relations/",
            PermRelation::UserGroups,
        ))
        .merge(relation_routes(
            "/api/v1/perms/asset-permissions-assets-relations/",
            PermRelation::Assets,
        ))
        .merge(relation_routes(
            "/api/v1/perms/asset-permissions-nodes-relations/",
            PermRelation::Nodes,
        ))
}

// ---------------------------------------------------------------------------------------------
// Shared formats and input helpers
// ---------------------------------------------------------------------------------------------

const SECRET_TYPES: &[(&str, &str)] = &[
    ("password", "Password"),
    ("ssh_key", "SSH key"),
    ("access_key", "Access key"),
    ("token", "Token"),
    ("api_key", "API key"),
];

fn label_of(table: &[(&str, &'static str)], value: &str) -> String {
    table
        .iter()
        .find(|(v, _)| *v == value)
        .map_or_else(|| title(value), |(_, l)| (*l).to_owned())
}

/// `linux` → `Linux`: the label of choices whose label is the capitalised value.
fn title(value: &str) -> String {
    let mut c = value.chars();
    c.next().map_or_else(String::new, |f| {
        f.to_uppercase()
            .chain(c)
            .collect::<String>()
            .replace('_', " ")
    })
}

fn connectivity_label(value: &str) -> String {
    match value {
        "-" => "Unknown".into(),
        "ok" => "OK".into(),
        "na" => "N/A".into(),
        "err" => "Error".into(),
        other => title(other),
    }
}

/// The `{value, label}` list of an action bit set, one entry per bit (§4.11).
fn actions_json(bits: i64) -> Value {
    let set = u32::try_from(bits)
        .ok()
        .and_then(Actions::from_bits)
        .unwrap_or_default();
    Value::Array(set.names().iter().map(|n| choice(*n, &title(n))).collect())
}

fn invalid_pk(field: &str, id: impl std::fmt::Display) -> ApiError {
    ApiError::field(
        field,
        format!("Invalid pk \"{id}\" - object does not exist."),
    )
}

fn not_a_choice(field: &str, value: &str) -> ApiError {
    ApiError::field(field, format!("\"{value}\" is not a valid choice."))
}

/// A UUID list filter (`?asset=…`), or a 400.
fn uuid_filter(q: &ListQuery, names: &[&str]) -> Result<Option<Uuid>, ApiError> {
    for name in names {
        if let Some(v) = q.filters.get(*name).filter(|v| !v.is_empty()) {
            return Uuid::parse_str(v.trim())
                .map(Some)
                .map_err(|_| ApiError::field(name, "Must be a valid UUID."));
        }
    }
    Ok(None)
}

/// `id=`, `ids=` or `id__in=` as a list of UUIDs.
fn id_filter(q: &ListQuery) -> Result<Option<Vec<Uuid>>, ApiError> {
    match q
        .filters
        .get("id")
        .or_else(|| q.filters.get("ids"))
        .or_else(|| q.filters.get("id__in"))
    {
        Some(v) if !v.is_empty() => v
            .split(',')
            .map(|s| {
                Uuid::parse_str(s.trim())
                    .map_err(|_| ApiError::field("id", "Must be a valid UUID."))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Ok(None),
    }
}

fn text_filter(q: &ListQuery, name: &str) -> Option<String> {
    q.filters.get(name).filter(|v| !v.is_empty()).cloned()
}

/// A choice field on input (raw value, `{"value"}` or `"Label(value)"`) among `allowed`.
fn choice_field(
    body: &Map<String, Value>,
    name: &str,
    allowed: &[&str],
) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let value = choice_input(v).unwrap_or_default();
            if allowed.contains(&value.as_str()) {
                Ok(Some(value))
            } else {
                Err(not_a_choice(name, &value))
            }
        }
    }
}

/// A write-only secret. Not trimmed: spaces can be part of a password. Empty means "not
/// given". The web UI's RSA envelope is refused rather than stored as if it were the secret,
/// since this build holds no key to open it.
fn secret_field(body: &Map<String, Value>, name: &str) -> Result<Option<SecretString>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s.contains("::encrypted::") => Err(ApiError::field(
            name,
            "Encrypted secrets are not supported; send the plaintext over TLS.",
        )),
        Some(Value::String(s)) => Ok(Some(SecretString::new(s.clone()))),
        Some(_) => Err(ApiError::field(name, "Not a valid string.")),
    }
}

/// An optional username: absent = unchanged, `null` or `""` = no username.
fn username_field(body: &Map<String, Value>) -> Result<Option<Option<String>>, ApiError> {
    match body.get("username") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(_) => Ok(Some(text(body, "username")?.filter(|s| !s.is_empty()))),
    }
}

/// One related object by id (bare, `{"id"}` or `{"pk"}`): absent = unchanged, `null` = none.
fn related_field(body: &Map<String, Value>, name: &str) -> Result<Option<Option<Uuid>>, ApiError> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
        Some(v) => related_input(v)
            .and_then(|s| Uuid::parse_str(&s).ok())
            .map(|u| Some(Some(u)))
            .ok_or_else(|| invalid_pk(name, v)),
    }
}

fn object_field(body: &Map<String, Value>, name: &str) -> Result<Option<Value>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
        Some(_) => Err(ApiError::field(name, "Expected a dictionary of items.")),
    }
}

/// `labels` of an account template is accepted for compatibility but only empty: labels on
/// templates are not stored yet, and silently dropping them would be worse than saying so.
fn check_labels(body: &Map<String, Value>) -> Result<(), ApiError> {
    match body.get("labels") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(a)) if a.is_empty() => Ok(()),
        Some(_) => Err(ApiError::field(
            "labels",
            "Labels are not supported here yet.",
        )),
    }
}

/// The body as a list of objects: a JSON array (bulk) or a single object.
fn objects(
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(Vec<Map<String, Value>>, bool), ApiError> {
    let Json(v) = body.map_err(|e| crate::error::bad_json(&e))?;
    match v {
        Value::Object(m) => Ok((vec![m], false)),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Object(m) => Ok(m),
                _ => Err(ApiError::field(
                    "non_field_errors",
                    "Invalid data. Expected a dictionary.",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|l| (l, true)),
        _ => Err(ApiError::field(
            "non_field_errors",
            "Invalid data. Expected a dictionary.",
        )),
    }
}

/// The 400 of a bulk request: one error dict per item, `{}` for items that were fine (§3.5).
fn bulk_errors(errors: Vec<Value>) -> Response {
    ApiError::Invalid(Value::Array(errors)).into_response()
}

/// The field map of a validation error, or the error itself when it is not one.
fn field_map(e: ApiError) -> Result<Value, ApiError> {
    match e {
        ApiError::Fields(m) => Ok(json!(m)),
        ApiError::Refused(msg) => Ok(json!({"non_field_errors": [msg]})),
        other => Err(other),
    }
}

/// A paginated or bare answer over rows already in memory.
fn respond_slice(q: &ListQuery, uri: &axum::http::Uri, host: &str, rows: Vec<Value>) -> Value {
    let count = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let (limit, offset) = q.window();
    let page = rows
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(0))
        .take(usize::try_from(limit).unwrap_or(0))
        .collect();
    q.respond(uri, host, count, page)
}

fn conflict_as_field(e: StoreError, field: &str) -> ApiError {
    match e {
        StoreError::Conflict(what) => ApiError::field(field, format!("{what} already exists.")),
        StoreError::NotFound(what) => ApiError::field(field, format!("{what} does not exist.")),
        other => other.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------------

fn asset_stub(a: &AssetRef) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "address": a.address,
        "type": choice(a.type_.clone(), &title(&a.type_)),
        "category": choice(a.category.clone(), &title(&a.category)),
        "platform": {
            "id": a.platform_id,
            "name": a.platform_name,
            "type": choice(a.type_.clone(), &title(&a.type_)),
        },
        "org_id": a.org_id,
    })
}

/// The account serializer (§4.9). It has no secret field, so operation-log diffs built from
/// it cannot leak one.
fn account_json(a: &AccountRecord) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "username": a.username,
        "secret_type": choice(a.secret_type.clone(), &label_of(SECRET_TYPES, &a.secret_type)),
        "has_secret": a.has_secret,
        "privileged": a.privileged,
        "is_active": a.is_active,
        "asset": asset_stub(&a.asset),
        "su_from": a.su_from.as_ref().map(|s| json!({"id": s.id, "name": s.name, "username": s.username})),
        "ds": null,
        "source": choice(a.source.clone(), &title(&a.source)),
        "source_id": a.source_id,
        "version": a.version,
        "secret_reset": a.secret_reset,
        "labels": [],
        "params": a.params,
        "connectivity": choice(a.connectivity.clone(), &connectivity_label(&a.connectivity)),
        "change_secret_status": a.change_secret_status,
        "date_last_login": opt_datetime(a.date_last_login),
        "login_by": a.login_by,
        "date_verified": opt_datetime(a.date_verified),
        "date_change_secret": opt_datetime(a.date_change_secret),
        "spec_info": {},
        "comment": a.comment,
        "created_by": a.created_by,
        "updated_by": a.updated_by,
        "date_created": datetime(a.date_created),
        "date_updated": datetime(a.date_updated),
        "org_id": a.org_id,
        "org_name": a.org_name,
    })
}

pub(crate) const ACCOUNT_WRITABLE: &[&str] = &[
    "id",
    "asset",
    "name",
    "username",
    "secret_type",
    "secret",
    "passphrase",
    "privileged",
    "is_active",
    "comment",
    "su_from",
    "template",
    "params",
    "labels",
    "push_now",
    "on_invalid",
];

const ON_INVALID: &[&str] = &["skip", "update", "error"];

/// The label resource types of accounts and asset permissions.
const ACCOUNT_TYPE: &str = "accounts.account";
const PERMISSION_TYPE: &str = "perms.assetpermission";

/// Serialized accounts with their labels (one label query for the page).
async fn accounts_json(
    state: &AppState,
    caller: &Caller,
    accounts: &[AccountRecord],
) -> Result<Vec<Value>, ApiError> {
    let mut rows: Vec<Value> = accounts.iter().map(account_json).collect();
    labels::fill_labels(state, caller.org, ACCOUNT_TYPE, &mut rows).await?;
    Ok(rows)
}

/// One serialized account with its labels.
pub(crate) async fn account_full(
    state: &AppState,
    caller: &Caller,
    a: &AccountRecord,
) -> Result<Value, ApiError> {
    labels::with_labels(state, caller.org, ACCOUNT_TYPE, account_json(a)).await
}

/// One serialized asset permission with its labels.
async fn permission_full(
    state: &AppState,
    caller: &Caller,
    p: &PermissionRecord,
) -> Result<Value, ApiError> {
    labels::with_labels(state, caller.org, PERMISSION_TYPE, permission_json(p)).await
}

/// The account filters of §4.9 (and `labels=`, §3.4) from the query string.
async fn account_query(
    state: &AppState,
    caller: &Caller,
    q: &ListQuery,
) -> Result<AccountQuery, ApiError> {
    let (limit, offset) = q.window();
    // `id`/`id__in` and the other lookups of `ACCOUNT_FIELDS` arrive as SQL lookups.
    let mut ids = None;
    labels::narrow_ids(
        &mut ids,
        labels::filter_ids(state, caller, q, ACCOUNT_TYPE).await?,
    );
    Ok(AccountQuery {
        org: caller.org,
        search: q.search.clone(),
        asset_id: uuid_filter(q, &["asset", "asset_id"])?,
        username: text_filter(q, "username"),
        name: text_filter(q, "name"),
        privileged: q.flag("privileged")?,
        is_active: q.flag("is_active")?,
        secret_type: text_filter(q, "secret_type"),
        source: text_filter(q, "source"),
        has_secret: q.flag("has_secret")?,
        ids,
        lookups: crate::conventions::sql_lookups(q, &portcullis_store::lookups::ACCOUNT_FIELDS)?,
        order: q.order.clone(),
        limit,
        offset,
    })
}

async fn list_accounts(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    caller.require("accounts.view_account")?;
    let q = ListQuery::parse(&uri)?;
    let (count, rows) = state
        .store()
        .list_accounts(&account_query(&state, &caller, &q).await?)
        .await
        .map_err(|e| conflict_as_field(e, "order"))?;
    let rows = accounts_json(&state, &caller, &rows).await?;
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

/// An account visible in the caller's org, or 404.
pub(crate) async fn visible_account(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<AccountRecord, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("Account"))?;
    let account = state
        .store()
        .account(id)
        .await?
        .ok_or(ApiError::NotFound("Account"))?;
    match caller.org {
        Some(org) if org != account.org_id => Err(ApiError::NotFound("Account")),
        _ => Ok(account),
    }
}

async fn account_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let account = visible_account(&state, &caller, &id).await?;
    Ok(Json(account_full(&state, &caller, &account).await?))
}

/// A validated account to create, plus what to do when it collides with an existing one.
struct AccountInput {
    new: NewAccount,
    on_invalid: String,
    /// `None` when the body does not mention labels.
    labels: Option<Vec<LabelRef>>,
}

/// Validates one create item against the org; nothing is written.
async fn account_input(
    state: &AppState,
    org: Uuid,
    body: &Map<String, Value>,
    by: &str,
) -> Result<AccountInput, ApiError> {
    require_fields(body, &["asset"])?;
    let asset = related_field(body, "asset")?
        .flatten()
        .ok_or_else(|| ApiError::field("asset", "This field is required."))?;
    if !state
        .store()
        .missing_refs(RefKind::Asset, org, &[asset])
        .await?
        .is_empty()
    {
        return Err(invalid_pk("asset", asset));
    }
    account_fields(state, org, asset, body, by).await
}

/// Validates the fields of one create item for `asset`, which may be one about to be created
/// (an asset create's inline accounts are checked before the asset is written).
async fn account_fields(
    state: &AppState,
    org: Uuid,
    asset: Uuid,
    body: &Map<String, Value>,
    by: &str,
) -> Result<AccountInput, ApiError> {
    check_fields(body, ACCOUNT_WRITABLE)?;
    let labels = labels::labels_checked(state, org, body).await?;
    flag(body, "push_now")?;
    let on_invalid =
        choice_field(body, "on_invalid", ON_INVALID)?.unwrap_or_else(|| "error".into());
    // A template supplies the defaults; explicit fields override them.
    let template = match related_field(body, "template")?.flatten() {
        Some(t) => Some(
            state
                .store()
                .account_template(&t.to_string(), Some(org))
                .await?
                .ok_or_else(|| invalid_pk("template", t))?,
        ),
        None => None,
    };
    let (t_secret, t_passphrase) = match &template {
        Some(t) => {
            state
                .store()
                .account_template_secrets(state.vault(), t.id)
                .await?
        }
        None => (None, None),
    };
    let username = match username_field(body)? {
        Some(u) => u,
        None => template.as_ref().and_then(|t| t.username.clone()),
    };
    let name = text(body, "name")?
        .filter(|n| !n.is_empty())
        .or_else(|| username.clone())
        .or_else(|| template.as_ref().map(|t| t.name.clone()))
        .ok_or_else(|| ApiError::field("name", "This field is required."))?;
    let secret_type = choice_field(
        body,
        "secret_type",
        &SECRET_TYPES.iter().map(|s| s.0).collect::<Vec<_>>(),
    )?
    .or_else(|| template.as_ref().map(|t| t.secret_type.clone()))
    .unwrap_or_else(|| "password".into());
    let su_from = related_field(body, "su_from")?.flatten();
    if let Some(s) = su_from {
        let ok = state
            .store()
            .account(s)
            .await?
            .is_some_and(|a| a.asset.id == asset);
        if !ok {
            return Err(invalid_pk("su_from", s));
        }
    }
    Ok(AccountInput {
        new: NewAccount {
            org_id: org,
            asset_id: asset,
            name,
            username,
            secret_type,
            secret: secret_field(body, "secret")?.or(t_secret),
            passphrase: secret_field(body, "passphrase")?.or(t_passphrase),
            privileged: flag(body, "privileged")?
                .or(template.as_ref().map(|t| t.privileged))
                .unwrap_or(false),
            is_active: flag(body, "is_active")?
                .or(template.as_ref().map(|t| t.is_active))
                .unwrap_or(true),
            source: if template.is_some() {
                "template"
            } else {
                "local"
            }
            .into(),
            source_id: template.as_ref().map(|t| t.id.to_string()),
            template_id: template.as_ref().map(|t| t.id),
            su_from,
            params: object_field(body, "params")?.unwrap_or_else(|| json!({})),
            comment: text(body, "comment")?.unwrap_or_default(),
            created_by: by.to_owned(),
        },
        on_invalid,
        labels,
    })
}

/// The update an `on_invalid: update` applies to an existing account: the new secret and
/// flags, keeping its name and the rest.
fn update_from(existing: &AccountRecord, new: &NewAccount) -> AccountUpdate {
    AccountUpdate {
        name: existing.name.clone(),
        username: existing.username.clone(),
        secret_type: new.secret_type.clone(),
        secret: new.secret.clone(),
        passphrase: new.passphrase.clone(),
        privileged: new.privileged,
        is_active: new.is_active,
        su_from: existing.su_from.as_ref().map(|s| s.id),
        params: existing.params.clone(),
        comment: existing.comment.clone(),
    }
}

async fn create_accounts(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require("accounts.add_account")?;
    let (items, bulk) = objects(body)?;
    let org = caller.write_org();
    let by = caller_name(&state, &caller).await;
    // Validate everything first; the writes happen only when every item is good.
    let mut inputs = Vec::with_capacity(items.len());
    let mut errors = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in &items {
        let checked = match account_input(&state, org, item, &by).await {
            Ok(input) => {
                let conflict = state
                    .store()
                    .account_conflict(
                        input.new.asset_id,
                        &input.new.name,
                        input.new.username.as_deref(),
                        &input.new.secret_type,
                    )
                    .await?;
                match (conflict, input.on_invalid.as_str()) {
                    (Some(_), "error") => Err(ApiError::field(
                        "non_field_errors",
                        "An account with this name, or this username and secret type, already exists on the asset.",
                    )),
                    _ => Ok((input, conflict)),
                }
            }
            Err(e) => Err(e),
        };
        match checked {
            Ok(v) => {
                inputs.push(v);
                errors.push(json!({}));
            }
            Err(e) => {
                failed = true;
                errors.push(field_map(e)?);
            }
        }
    }
    if failed {
        return Ok(if bulk {
            bulk_errors(errors)
        } else {
            let first = errors.into_iter().next().unwrap_or_else(|| json!({}));
            ApiError::Invalid(first).into_response()
        });
    }
    let fresh: Vec<NewAccount> = inputs
        .iter()
        .filter(|(_, c)| c.is_none())
        .map(|(i, _)| i.new.clone())
        .collect();
    let created_ids = state
        .store()
        .create_accounts(state.vault(), &fresh)
        .await
        .map_err(|e| conflict_as_field(e, "non_field_errors"))?;
    // The labels of the new accounts; should that still fail (a label deleted meanwhile), the
    // accounts this request created are deleted again, with their labels.
    let fresh_labels = inputs
        .iter()
        .filter(|(_, c)| c.is_none())
        .map(|(i, _)| &i.labels);
    for (id, refs) in created_ids.iter().zip(fresh_labels) {
        let Some(refs) = refs.as_ref().filter(|r| !r.is_empty()) else {
            continue;
        };
        let saved =
            labels::save_org_labels(&state, &caller, org, ACCOUNT_TYPE, &id.to_string(), refs)
                .await;
        if let Err(e) = saved {
            for id in &created_ids {
                if let Err(undo) = state.store().delete_account(*id).await {
                    tracing::error!(error = %undo, account = %id, "could not undo an account create");
                }
            }
            return Err(e);
        }
    }
    let mut created = created_ids.into_iter();
    let mut shown = Vec::with_capacity(inputs.len());
    for (input, conflict) in &inputs {
        let (id, action, before) = match conflict {
            None => (created.next(), "create", None),
            Some(existing) => {
                let before = match state.store().account(*existing).await? {
                    Some(b) => Some((account_full(&state, &caller, &b).await?, b)),
                    None => None,
                };
                if input.on_invalid == "update"
                    && let Some((_, b)) = &before
                {
                    state
                        .store()
                        .update_account(state.vault(), b.id, &update_from(b, &input.new), &by)
                        .await
                        .map_err(|e| conflict_as_field(e, "non_field_errors"))?;
                    if let Some(refs) = &input.labels {
                        labels::save_org_labels(
                            &state,
                            &caller,
                            b.org_id,
                            ACCOUNT_TYPE,
                            &b.id.to_string(),
                            refs,
                        )
                        .await?;
                    }
                }
                (Some(*existing), "update", before.map(|(v, _)| v))
            }
        };
        let Some(account) = (match id {
            Some(id) => state.store().account(id).await?,
            None => None,
        }) else {
            continue;
        };
        let after = account_full(&state, &caller, &account).await?;
        let log = match &before {
            None => Some(json!({"after": after})),
            Some(b) if input.on_invalid == "update" => Some(diff(b, &after)),
            Some(_) => None,
        };
        if let Some(log) = log {
            audit(
                &state,
                &caller,
                "Account",
                action,
                &account.name,
                &account.id.to_string(),
                log,
            )
            .await;
        }
        shown.push(after);
    }
    let body = if bulk {
        Value::Array(shown)
    } else {
        shown.into_iter().next().unwrap_or_else(|| json!({}))
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// An account update checked against the current row, ready to write: the plan step of
/// [`update_account`], shared with the bulk update (`routes/bulk_update.rs`), which plans
/// every item before it writes any.
pub(crate) struct AccountPlan {
    before: AccountRecord,
    /// The account as the API showed it before the change (the operation log's "before";
    /// secrets are write-only, so neither side of the diff holds one).
    shown: Value,
    update: AccountUpdate,
    /// `None` when the body does not mention labels.
    labels: Option<Vec<LabelRef>>,
}

impl AccountPlan {
    /// The account's id.
    pub(crate) fn id(&self) -> Uuid {
        self.before.id
    }
}

/// Checks an update of the account `id` (permission, fields, asset and template unchanged,
/// `su_from` on the same asset) and returns what to write. Nothing is written; a secret in
/// the body stays in memory until [`apply_account_update`] seals it.
pub(crate) async fn plan_account_update(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: &Map<String, Value>,
) -> Result<AccountPlan, ApiError> {
    caller.require("accounts.change_account")?;
    check_fields(body, ACCOUNT_WRITABLE)?;
    flag(body, "push_now")?;
    choice_field(body, "on_invalid", ON_INVALID)?;
    let before = visible_account(state, caller, id).await?;
    let new_labels = labels::labels_checked(state, before.org_id, body).await?;
    if let Some(asset) = related_field(body, "asset")?.flatten()
        && asset != before.asset.id
    {
        return Err(ApiError::field(
            "asset",
            "The asset of an account cannot be changed.",
        ));
    }
    if body.get("template").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::field(
            "template",
            "Only used when creating an account.",
        ));
    }
    let su_from = match related_field(body, "su_from")? {
        Some(Some(s)) => {
            let ok = s != before.id
                && state
                    .store()
                    .account(s)
                    .await?
                    .is_some_and(|a| a.asset.id == before.asset.id);
            if !ok {
                return Err(invalid_pk("su_from", s));
            }
            Some(s)
        }
        Some(None) => None,
        None => before.su_from.as_ref().map(|s| s.id),
    };
    let username = username_field(body)?.unwrap_or_else(|| before.username.clone());
    let name = match text(body, "name")? {
        Some(n) if n.is_empty() => {
            return Err(ApiError::field("name", "This field may not be blank."));
        }
        Some(n) => n,
        None => before.name.clone(),
    };
    let u = AccountUpdate {
        name,
        username,
        secret_type: choice_field(
            body,
            "secret_type",
            &SECRET_TYPES.iter().map(|s| s.0).collect::<Vec<_>>(),
        )?
        .unwrap_or_else(|| before.secret_type.clone()),
        secret: secret_field(body, "secret")?,
        passphrase: secret_field(body, "passphrase")?,
        privileged: flag(body, "privileged")?.unwrap_or(before.privileged),
        is_active: flag(body, "is_active")?.unwrap_or(before.is_active),
        su_from,
        params: object_field(body, "params")?.unwrap_or_else(|| before.params.clone()),
        comment: text(body, "comment")?.unwrap_or_else(|| before.comment.clone()),
    };
    let shown = account_full(state, caller, &before).await?;
    Ok(AccountPlan {
        before,
        shown,
        update: u,
        labels: new_labels,
    })
}

/// Writes a planned update (fields, the sealed secret and its history, labels) inside
/// `batch`; a name or username another account of the asset holds is the `name` field error.
pub(crate) async fn apply_account_update(
    state: &AppState,
    batch: &mut WriteBatch,
    plan: &AccountPlan,
    by: &str,
) -> Result<(), ApiError> {
    let found = batch
        .update_account(state.vault(), plan.before.id, &plan.update, by)
        .await
        .map_err(|e| conflict_as_field(e, "name"))?;
    if !found {
        return Err(ApiError::NotFound("Account"));
    }
    let refs = plan.labels.as_deref();
    batch
        .set_resource_labels(plan.before.org_id, ACCOUNT_TYPE, plan.before.id, refs, by)
        .await
        .map_err(labels::labels_error)
}

/// After the commit: the account as the API shows it now, its name, and the operation log's
/// diff against the plan's "before".
pub(crate) async fn updated_account(
    state: &AppState,
    caller: &Caller,
    plan: &AccountPlan,
) -> Result<(Value, String, Value), ApiError> {
    let after = state
        .store()
        .account(plan.before.id)
        .await?
        .ok_or(ApiError::NotFound("Account"))?;
    let a = account_full(state, caller, &after).await?;
    let d = diff(&plan.shown, &a);
    Ok((a, after.name, d))
}

async fn update_account(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let plan = plan_account_update(&state, &caller, &id, &body).await?;
    let by = caller_name(&state, &caller).await;
    let mut batch = state.store().begin_batch().await?;
    apply_account_update(&state, &mut batch, &plan, &by).await?;
    batch.commit().await?;
    let (a, name, d) = updated_account(&state, &caller, &plan).await?;
    audit(
        &state,
        &caller,
        "Account",
        "update",
        &name,
        &plan.before.id.to_string(),
        d,
    )
    .await;
    Ok(Json(a))
}

async fn delete_account(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require("accounts.delete_account")?;
    let account = visible_account(&state, &caller, &id).await?;
    let before = account_full(&state, &caller, &account).await?;
    // The store removes the account's label bindings with it.
    state.store().delete_account(account.id).await?;
    audit(
        &state,
        &caller,
        "Account",
        "delete",
        &account.name,
        &account.id.to_string(),
        json!({"before": before}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The `accounts` of an asset create body (JumpServer's `accounts: [{username, secret_type,
/// secret, privileged, …}]`, or `{template: <id>}` items), checked before the asset is
/// written so that a bad item leaves nothing behind: a 400 `{"accounts": [{}, {<field>: [..]},
/// …]}` (one dict per item). The accounts carry a placeholder asset until
/// [`create_inline_accounts`] writes them on the new asset.
pub(crate) async fn check_inline_accounts(
    state: &AppState,
    caller: &Caller,
    org: Uuid,
    accounts: &Value,
) -> Result<Vec<NewAccount>, ApiError> {
    let items = match accounts {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        _ => return Err(ApiError::field("accounts", "Expected a list of items.")),
    };
    if items.is_empty() {
        return Ok(Vec::new());
    }
    caller.require("accounts.add_account")?;
    let by = caller_name(state, caller).await;
    let mut fresh: Vec<NewAccount> = Vec::with_capacity(items.len());
    let mut errors = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in items {
        let checked = match item {
            Value::Object(body) => {
                let mut body = body.clone();
                body.remove("on_invalid");
                body.remove("asset");
                // A new asset has no accounts yet to switch users from.
                if body.get("su_from").is_some_and(|v| !v.is_null()) {
                    Err(ApiError::field(
                        "su_from",
                        "Set su_from through the account's own endpoint after creating the asset.",
                    ))
                } else {
                    match account_fields(state, org, Uuid::nil(), &body, &by).await {
                        Ok(input) if input.labels.as_ref().is_some_and(|l| !l.is_empty()) => {
                            Err(ApiError::field(
                                "labels",
                                "Label the account through its own endpoint after creating the asset.",
                            ))
                        }
                        // Two items of one request with the same name, or username and type.
                        Ok(input)
                            if fresh.iter().any(|f| {
                                f.name == input.new.name
                                    || (f.username.is_some()
                                        && f.username == input.new.username
                                        && f.secret_type == input.new.secret_type)
                            }) =>
                        {
                            Err(ApiError::field(
                                "non_field_errors",
                                "An account with this name, or this username and secret type, is already in this list.",
                            ))
                        }
                        other => other,
                    }
                }
            }
            _ => Err(ApiError::field("non_field_errors", "Expected an object.")),
        };
        match checked {
            Ok(input) => {
                fresh.push(input.new);
                errors.push(json!({}));
            }
            Err(e) => {
                failed = true;
                errors.push(field_map(e)?);
            }
        }
    }
    if failed {
        return Err(ApiError::Invalid(json!({ "accounts": errors })));
    }
    Ok(fresh)
}

/// Writes the accounts [`check_inline_accounts`] accepted on the asset just created, in one
/// transaction, and audits each. Returns their ids.
pub(crate) async fn create_inline_accounts(
    state: &AppState,
    caller: &Caller,
    asset: Uuid,
    mut fresh: Vec<NewAccount>,
) -> Result<Vec<Uuid>, ApiError> {
    if fresh.is_empty() {
        return Ok(Vec::new());
    }
    for a in &mut fresh {
        a.asset_id = asset;
    }
    let ids = state
        .store()
        .create_accounts(state.vault(), &fresh)
        .await
        .map_err(|e| conflict_as_field(e, "accounts"))?;
    for id in &ids {
        if let Some(a) = state.store().account(*id).await? {
            audit(
                state,
                caller,
                "Account",
                "create",
                &a.name,
                &id.to_string(),
                json!({"after": account_json(&a)}),
            )
            .await;
        }
    }
    Ok(ids)
}

/// One result of `POST /accounts/accounts/bulk/`.
fn bulk_result(
    asset: &str,
    account: Option<Uuid>,
    state: &str,
    error: &str,
    changed: bool,
) -> Value {
    json!({"asset": asset, "account": account, "state": state, "error": error, "changed": changed})
}

const BULK_WRITABLE: &[&str] = &[
    "assets",
    "nodes",
    "name",
    "username",
    "secret_type",
    "secret",
    "passphrase",
    "privileged",
    "is_active",
    "on_invalid",
    "su_from_username",
    "push_now",
    "params",
    "comment",
    "template",
];

/// The assets of `POST /accounts/accounts/bulk/`: those listed in `assets`, then every asset
/// anywhere under the `nodes` (each once, in that order). A missing asset or node is a 400.
async fn bulk_assets(
    state: &AppState,
    org: Uuid,
    body: &Map<String, Value>,
) -> Result<Vec<Uuid>, ApiError> {
    let mut assets = uuids(body, "assets")?.unwrap_or_default();
    if let Some(bad) = state
        .store()
        .missing_refs(RefKind::Asset, org, &assets)
        .await?
        .first()
    {
        return Err(invalid_pk("assets", bad));
    }
    let mut seen: std::collections::HashSet<Uuid> = assets.iter().copied().collect();
    for node_id in uuids(body, "nodes")?.unwrap_or_default() {
        let node = state
            .store()
            .node(Some(org), &node_id.to_string())
            .await?
            .ok_or_else(|| invalid_pk("nodes", node_id))?;
        let mut offset = 0;
        loop {
            let (_, page) = state
                .store()
                .list_assets(&AssetQuery {
                    org: Some(org),
                    node: Some((org, node.id, node.key.clone())),
                    node_subtree: true,
                    order: Some("name".into()),
                    limit: 1000,
                    offset,
                    ..AssetQuery::default()
                })
                .await?;
            let n = page.len();
            assets.extend(page.into_iter().map(|a| a.id).filter(|id| seen.insert(*id)));
            if n < 1000 {
                break;
            }
            offset += 1000;
        }
    }
    if assets.is_empty() {
        return Err(ApiError::field(
            "assets",
            "This field is required (or nodes with assets under them).",
        ));
    }
    Ok(assets)
}

/// `su_from_username`: the account of that username on each asset, which the new account
/// switches from. An asset without one is a 400 naming those assets, before anything is
/// created (a privileged path that silently went missing on some assets would be worse).
async fn bulk_su_from(
    state: &AppState,
    assets: &[Uuid],
    username: &str,
) -> Result<BTreeMap<Uuid, Uuid>, ApiError> {
    let mut found = BTreeMap::new();
    for a in state.store().accounts_on_assets(assets).await? {
        if a.username.as_deref() == Some(username) {
            found.entry(a.asset.id).or_insert(a.id);
        }
    }
    let missing: Vec<Uuid> = assets
        .iter()
        .filter(|a| !found.contains_key(a))
        .copied()
        .collect();
    if !missing.is_empty() {
        let labels = state.store().asset_labels(&missing).await?;
        let mut names: Vec<String> = missing
            .iter()
            .map(|a| labels.get(a).cloned().unwrap_or_else(|| a.to_string()))
            .collect();
        names.sort();
        return Err(ApiError::field(
            "su_from_username",
            format!(
                "No account with username \"{username}\" on {}.",
                names.join(", ")
            ),
        ));
    }
    Ok(found)
}

/// Adds one account to many assets (listed, or everything under `nodes`); each asset's
/// outcome is reported on its own (`[{asset, account, state, error, changed}]`), as JumpServer
/// does, so one existing account does not stop the others. Everything that can be wrong with
/// the request itself (a missing asset or node, a bad field, an `su_from_username` absent on
/// some asset) is a 400 before any account is created.
async fn bulk_add_accounts(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = object(body)?;
    check_fields(&body, BULK_WRITABLE)?;
    let org = caller.write_org();
    let assets = bulk_assets(&state, org, &body).await?;
    let su_from = match body.get("su_from_username") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) if u.trim().is_empty() => None,
        Some(Value::String(u)) => Some(bulk_su_from(&state, &assets, u.trim()).await?),
        Some(_) => return Err(ApiError::field("su_from_username", "Not a valid string.")),
    };
    let by = caller_name(&state, &caller).await;
    // Validate the shared fields once, against the first asset.
    let mut template_body = body.clone();
    template_body.remove("assets");
    template_body.remove("nodes");
    template_body.remove("su_from_username");
    let mut inputs = Vec::with_capacity(assets.len());
    for asset in &assets {
        let mut item = template_body.clone();
        item.insert("asset".into(), json!(asset));
        let mut input = account_input(&state, org, &item, &by).await?;
        if let Some(map) = &su_from {
            input.new.su_from = map.get(asset).copied();
        }
        inputs.push(input);
    }
    let labels = state.store().asset_labels(&assets).await?;
    let mut results = Vec::with_capacity(inputs.len());
    for input in &inputs {
        let asset = input.new.asset_id;
        let label = labels
            .get(&asset)
            .cloned()
            .unwrap_or_else(|| asset.to_string());
        let conflict = state
            .store()
            .account_conflict(
                asset,
                &input.new.name,
                input.new.username.as_deref(),
                &input.new.secret_type,
            )
            .await?;
        let outcome = match (conflict, input.on_invalid.as_str()) {
            (None, _) => match state
                .store()
                .create_accounts(state.vault(), std::slice::from_ref(&input.new))
                .await
            {
                Ok(ids) => {
                    let id = ids.first().copied();
                    if let Some(id) = id
                        && let Some(a) = state.store().account(id).await?
                    {
                        audit(
                            &state,
                            &caller,
                            "Account",
                            "create",
                            &a.name,
                            &id.to_string(),
                            json!({"after": account_json(&a)}),
                        )
                        .await;
                    }
                    bulk_result(&label, id, "created", "", true)
                }
                Err(e) => bulk_result(&label, None, "error", &e.to_string(), false),
            },
            (Some(existing), "skip") => bulk_result(&label, Some(existing), "skipped", "", false),
            (Some(existing), "update") => {
                let Some(before) = state.store().account(existing).await? else {
                    results.push(bulk_result(
                        &label,
                        None,
                        "error",
                        "account vanished",
                        false,
                    ));
                    continue;
                };
                match state
                    .store()
                    .update_account(
                        state.vault(),
                        existing,
                        &update_from(&before, &input.new),
                        &by,
                    )
                    .await
                {
                    Ok(_) => {
                        let after = state.store().account(existing).await?;
                        let changed = after.as_ref().is_some_and(|a| a != &before);
                        if let Some(a) = &after {
                            audit(
                                &state,
                                &caller,
                                "Account",
                                "update",
                                &a.name,
                                &existing.to_string(),
                                diff(&account_json(&before), &account_json(a)),
                            )
                            .await;
                        }
                        bulk_result(&label, Some(existing), "updated", "", changed)
                    }
                    Err(e) => bulk_result(&label, Some(existing), "error", &e.to_string(), false),
                }
            }
            (Some(existing), _) => bulk_result(
                &label,
                Some(existing),
                "error",
                "Account already exists",
                false,
            ),
        };
        results.push(outcome);
    }
    Ok((StatusCode::CREATED, Json(Value::Array(results))))
}

// ---------------------------------------------------------------------------------------------
// Readable secrets
// ---------------------------------------------------------------------------------------------

/// The step-up check of §2.8. While `SECURITY_VIEW_AUTH_NEED_MFA` is on (the default) the
/// caller needs an MFA confirmation (`POST /authentication/confirm/`) younger than
/// `SECURITY_MFA_VERIFY_TTL` in their web session; token, key and signature callers have no
/// session and get the 412, as in JumpServer. An administrator who turns the setting off lets
/// token-authenticated scripts read secrets.
async fn secret_access(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    caller.require("accounts.view_accountsecret")?;
    let need_mfa = match state.store().setting("SECURITY_VIEW_AUTH_NEED_MFA").await? {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => b,
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        Some(Value::String(s)) => !matches!(
            s.to_ascii_lowercase().as_str(),
            "false" | "0" | "no" | "off"
        ),
        Some(_) => true,
    };
    if !need_mfa {
        return Ok(());
    }
    let ttl = state.auth().security().await?.mfa_verify_ttl;
    if caller.confirmed_within(portcullis_auth::ConfirmKind::Mfa, ttl) {
        Ok(())
    } else {
        Err(ApiError::ConfirmRequired("mfa"))
    }
}

/// The account serializer plus the plaintext secret; logs the read (never the secret).
async fn secret_json(
    state: &AppState,
    caller: &Caller,
    account: &AccountRecord,
) -> Result<Value, ApiError> {
    let secret = state
        .store()
        .account_secret(state.vault(), account.id)
        .await?;
    audit(
        state,
        caller,
        "Account",
        "view",
        &account.name,
        &account.id.to_string(),
        json!({"field": "secret"}),
    )
    .await;
    let mut v = account_json(account);
    if let Value::Object(m) = &mut v {
        m.insert(
            "secret".into(),
            secret.map_or(Value::Null, |s| Value::String(s.expose().to_owned())),
        );
    }
    Ok(v)
}

async fn list_secrets(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    secret_access(&state, &caller).await?;
    let q = ListQuery::parse(&uri)?;
    let (count, rows) = state
        .store()
        .list_accounts(&account_query(&state, &caller, &q).await?)
        .await
        .map_err(|e| conflict_as_field(e, "order"))?;
    let mut out = Vec::with_capacity(rows.len());
    for a in &rows {
        out.push(secret_json(&state, &caller, a).await?);
    }
    labels::fill_labels(&state, caller.org, ACCOUNT_TYPE, &mut out).await?;
    Ok(Json(q.respond(&uri, &host, count, out)))
}

async fn secret_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    secret_access(&state, &caller).await?;
    let account = visible_account(&state, &caller, &id).await?;
    let shown = secret_json(&state, &caller, &account).await?;
    Ok(Json(
        labels::with_labels(&state, caller.org, ACCOUNT_TYPE, shown).await?,
    ))
}

async fn secret_histories(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    secret_access(&state, &caller).await?;
    let account = visible_account(&state, &caller, &id).await?;
    let histories = state
        .store()
        .account_secret_histories(state.vault(), account.id)
        .await?;
    audit(
        &state,
        &caller,
        "Account",
        "view",
        &account.name,
        &account.id.to_string(),
        json!({"field": "secret_histories"}),
    )
    .await;
    Ok(Json(Value::Array(
        histories
            .iter()
            .map(|h| {
                json!({
                    "id": h.id,
                    "secret": h.secret.as_ref().map(|s| s.expose().to_owned()),
                    "secret_type": choice(h.secret_type.clone(), &label_of(SECRET_TYPES, &h.secret_type)),
                    "version": h.version,
                    "history_date": datetime(h.history_date),
                    "history_user": h.history_user,
                })
            })
            .collect(),
    )))
}

// ---------------------------------------------------------------------------------------------
// Account templates
// ---------------------------------------------------------------------------------------------

fn strategy_label(value: &str) -> String {
    match value {
        "specific" => "Specific secret".into(),
        "random" => "Random generate".into(),
        other => title(other),
    }
}

fn template_json(t: &TemplateRecord) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "username": t.username,
        "secret_type": choice(t.secret_type.clone(), &label_of(SECRET_TYPES, &t.secret_type)),
        "has_secret": t.has_secret,
        "privileged": t.privileged,
        "is_active": t.is_active,
        "secret_strategy": choice(t.secret_strategy.clone(), &strategy_label(&t.secret_strategy)),
        "password_rules": t.password_rules,
        "auto_push": t.auto_push,
        "push_params": t.push_params,
        "platforms": t.platforms.iter().map(|(id, name)| json!({"id": id, "name": name})).collect::<Vec<_>>(),
        "su_from": t.su_from.as_ref().map(|s| json!({"id": s.id, "name": s.name, "username": s.username})),
        "labels": [],
        "spec_info": {},
        "comment": t.comment,
        "created_by": t.created_by,
        "updated_by": t.updated_by,
        "date_created": datetime(t.date_created),
        "date_updated": datetime(t.date_updated),
        "org_id": t.org_id,
        "org_name": t.org_name,
    })
}

pub(crate) const TEMPLATE_WRITABLE: &[&str] = &[
    "id",
    "name",
    "username",
    "secret_type",
    "secret",
    "passphrase",
    "privileged",
    "is_active",
    "secret_strategy",
    "password_rules",
    "auto_push",
    "push_params",
    "platforms",
    "su_from",
    "comment",
    "labels",
];

const PASSWORD_RULE_KEYS: &[&str] = &[
    "length",
    "lowercase",
    "uppercase",
    "digit",
    "symbol",
    "exclude_symbols",
];

/// Merges a body into a template's fields (or the defaults) and validates the result.
async fn template_fields(
    state: &AppState,
    org: Uuid,
    body: &Map<String, Value>,
    before: Option<&TemplateRecord>,
) -> Result<TemplateFields, ApiError> {
    check_fields(body, TEMPLATE_WRITABLE)?;
    check_labels(body)?;
    let name = match text(body, "name")? {
        Some(n) if n.is_empty() => {
            return Err(ApiError::field("name", "This field may not be blank."));
        }
        Some(n) => n,
        None => before
            .map(|b| b.name.clone())
            .ok_or_else(|| ApiError::field("name", "This field is required."))?,
    };
    let password_rules = match object_field(body, "password_rules")? {
        Some(Value::Object(rules)) => {
            if let Some(k) = rules
                .keys()
                .find(|k| !PASSWORD_RULE_KEYS.contains(&k.as_str()))
            {
                return Err(ApiError::field(
                    "password_rules",
                    format!("Unknown rule `{k}`."),
                ));
            }
            if let Some(len) = rules.get("length")
                && !len.as_i64().is_some_and(|l| (4..=256).contains(&l))
            {
                return Err(ApiError::field(
                    "password_rules",
                    "`length` must be an integer from 4 to 256.",
                ));
            }
            Value::Object(rules)
        }
        _ => before.map_or_else(|| json!({}), |b| b.password_rules.clone()),
    };
    let platforms = match body.get("platforms") {
        None | Some(Value::Null) => {
            before.map_or_else(Vec::new, |b| b.platforms.iter().map(|p| p.0).collect())
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                related_input(v)
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or_else(|| invalid_pk("platforms", v))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(ApiError::field("platforms", "Expected a list of items.")),
    };
    if let Some(bad) = state.store().missing_platforms(&platforms).await?.first() {
        return Err(invalid_pk("platforms", bad));
    }
    let su_from = match related_field(body, "su_from")? {
        Some(Some(s)) => {
            if before.is_some_and(|b| b.id == s)
                || !state
                    .store()
                    .missing_refs(RefKind::Template, org, &[s])
                    .await?
                    .is_empty()
            {
                return Err(invalid_pk("su_from", s));
            }
            Some(s)
        }
        Some(None) => None,
        None => before.and_then(|b| b.su_from.as_ref().map(|s| s.id)),
    };
    Ok(TemplateFields {
        name,
        username: username_field(body)?.unwrap_or_else(|| before.and_then(|b| b.username.clone())),
        secret_type: choice_field(
            body,
            "secret_type",
            &SECRET_TYPES.iter().map(|s| s.0).collect::<Vec<_>>(),
        )?
        .or_else(|| before.map(|b| b.secret_type.clone()))
        .unwrap_or_else(|| "password".into()),
        secret: secret_field(body, "secret")?,
        passphrase: secret_field(body, "passphrase")?,
        privileged: flag(body, "privileged")?
            .or(before.map(|b| b.privileged))
            .unwrap_or(false),
        is_active: flag(body, "is_active")?
            .or(before.map(|b| b.is_active))
            .unwrap_or(true),
        secret_strategy: choice_field(body, "secret_strategy", &["specific", "random"])?
            .or_else(|| before.map(|b| b.secret_strategy.clone()))
            .unwrap_or_else(|| "specific".into()),
        password_rules,
        auto_push: flag(body, "auto_push")?
            .or(before.map(|b| b.auto_push))
            .unwrap_or(false),
        push_params: object_field(body, "push_params")?
            .or_else(|| before.map(|b| b.push_params.clone()))
            .unwrap_or_else(|| json!({})),
        platforms,
        su_from,
        comment: text(body, "comment")?
            .or_else(|| before.map(|b| b.comment.clone()))
            .unwrap_or_default(),
    })
}

async fn list_templates(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let query = TemplateQuery {
        org: caller.org,
        search: q.search.clone(),
        name: text_filter(&q, "name"),
        username: text_filter(&q, "username"),
        secret_type: text_filter(&q, "secret_type"),
        privileged: q.flag("privileged")?,
        is_active: q.flag("is_active")?,
        ids: id_filter(&q)?,
        order: q.order.clone(),
        limit,
        offset,
    };
    let (count, rows) = state
        .store()
        .list_account_templates(&query)
        .await
        .map_err(|e| conflict_as_field(e, "order"))?;
    let rows = rows.iter().map(template_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn visible_template(
    state: &AppState,
    caller: &Caller,
    key: &str,
) -> Result<TemplateRecord, ApiError> {
    state
        .store()
        .account_template(key, caller.org)
        .await?
        .ok_or(ApiError::NotFound("AccountTemplate"))
}

async fn template_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(template_json(
        &visible_template(&state, &caller, &key).await?,
    )))
}

async fn create_template(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = object(body)?;
    let org = caller.write_org();
    let fields = template_fields(&state, org, &body, None).await?;
    let by = caller_name(&state, &caller).await;
    let id = state
        .store()
        .create_account_template(state.vault(), org, &fields, &by)
        .await
        .map_err(|e| conflict_as_field(e, "name"))?;
    let t = state
        .store()
        .account_template(&id.to_string(), None)
        .await?
        .ok_or(ApiError::NotFound("AccountTemplate"))?;
    let shown = template_json(&t);
    audit(
        &state,
        &caller,
        "AccountTemplate",
        "create",
        &t.name,
        &id.to_string(),
        json!({"after": shown}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(shown)))
}

async fn update_template(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let before = visible_template(&state, &caller, &key).await?;
    let fields = template_fields(&state, before.org_id, &body, Some(&before)).await?;
    let by = caller_name(&state, &caller).await;
    state
        .store()
        .update_account_template(state.vault(), before.id, &fields, &by)
        .await
        .map_err(|e| conflict_as_field(e, "name"))?;
    let after = state
        .store()
        .account_template(&before.id.to_string(), None)
        .await?
        .ok_or(ApiError::NotFound("AccountTemplate"))?;
    let (b, a) = (template_json(&before), template_json(&after));
    audit(
        &state,
        &caller,
        "AccountTemplate",
        "update",
        &after.name,
        &after.id.to_string(),
        diff(&b, &a),
    )
    .await;
    Ok(Json(a))
}

async fn delete_template(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let t = visible_template(&state, &caller, &key).await?;
    state.store().delete_account_template(t.id).await?;
    audit(
        &state,
        &caller,
        "AccountTemplate",
        "delete",
        &t.name,
        &t.id.to_string(),
        json!({"before": template_json(&t)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Asset permissions
// ---------------------------------------------------------------------------------------------

fn stubs(items: &[(Uuid, String)]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|(id, name)| json!({"id": id, "name": name}))
            .collect(),
    )
}

/// The asset permission serializer (§4.11).
fn permission_json(p: &PermissionRecord) -> Value {
    let now = Utc::now();
    let is_expired = p.date_expired <= now;
    json!({
        "id": p.id,
        "name": p.name,
        "users": stubs(&p.users),
        "user_groups": stubs(&p.user_groups),
        "assets": stubs(&p.assets),
        "nodes": stubs(&p.nodes),
        "labels": [],
        "users_amount": p.users.len(),
        "user_groups_amount": p.user_groups.len(),
        "assets_amount": p.assets.len(),
        "nodes_amount": p.nodes.len(),
        "accounts": p.accounts,
        "protocols": p.protocols,
        "actions": actions_json(p.actions),
        "date_start": datetime(p.date_start),
        "date_expired": datetime(p.date_expired),
        "is_active": p.is_active,
        "is_valid": p.is_active && p.date_start <= now && !is_expired,
        "is_expired": is_expired,
        "from_ticket": p.from_ticket,
        "comment": p.comment,
        "created_by": p.created_by,
        "updated_by": p.updated_by,
        "date_created": datetime(p.date_created),
        "date_updated": datetime(p.date_updated),
        "org_id": p.org_id,
        "org_name": p.org_name,
    })
}

pub(crate) const PERMISSION_WRITABLE: &[&str] = &[
    "id",
    "name",
    "users",
    "user_groups",
    "assets",
    "nodes",
    "accounts",
    "protocols",
    "actions",
    "date_start",
    "date_expired",
    "is_active",
    "comment",
    "labels",
];

/// JumpServer's `DEFAULT_EXPIRED_YEARS`.
const DEFAULT_EXPIRED_YEARS: i64 = 70;

fn string_list(body: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(ApiError::field(name, "Not a valid string.")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(ApiError::field(name, "Expected a list of items.")),
    }
}

fn date_field(body: &Map<String, Value>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_datetime(s)
            .map(Some)
            .ok_or_else(|| ApiError::field(name, "Datetime has wrong format.")),
        Some(_) => Err(ApiError::field(name, "Datetime has wrong format.")),
    }
}

/// `actions` on input: names, `{value}` objects, bit values or `["all"]` (§1.3).
fn actions_field(body: &Map<String, Value>) -> Result<Option<i64>, ApiError> {
    match body.get("actions") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let mut set = Actions::empty();
            for v in items {
                let name = choice_input(v).unwrap_or_default();
                set |= Actions::parse_name(&name).map_err(|_| not_a_choice("actions", &name))?;
            }
            Ok(Some(i64::from(set.bits())))
        }
        Some(_) => Err(ApiError::field("actions", "Expected a list of items.")),
    }
}

/// Related ids of one kind, each checked to exist in `org`.
async fn related_ids(
    state: &AppState,
    body: &Map<String, Value>,
    name: &str,
    kind: RefKind,
    org: Uuid,
) -> Result<Option<Vec<Uuid>>, ApiError> {
    let Some(mut ids) = uuids(body, name)? else {
        return Ok(None);
    };
    ids.sort();
    ids.dedup();
    if let Some(bad) = state.store().missing_refs(kind, org, &ids).await?.first() {
        return Err(invalid_pk(name, bad));
    }
    Ok(Some(ids))
}

/// Merges a body into a permission's fields (or the defaults) and validates the result.
async fn permission_fields(
    state: &AppState,
    org: Uuid,
    body: &Map<String, Value>,
    before: Option<&PermissionRecord>,
) -> Result<PermissionFields, ApiError> {
    check_fields(body, PERMISSION_WRITABLE)?;
    let name = match text(body, "name")? {
        Some(n) if n.is_empty() => {
            return Err(ApiError::field("name", "This field may not be blank."));
        }
        Some(n) => n,
        None => before
            .map(|b| b.name.clone())
            .ok_or_else(|| ApiError::field("name", "This field is required."))?,
    };
    let accounts = match string_list(body, "accounts")? {
        Some(list) => {
            let specs = AccountSpec::parse_list(&list)
                .map_err(|e| ApiError::field("accounts", e.to_string()))?;
            let templates: Vec<Uuid> = specs
                .iter()
                .filter_map(|s| match s {
                    AccountSpec::Template(t) => Some(*t),
                    _ => None,
                })
                .collect();
            if let Some(bad) = state
                .store()
                .missing_refs(RefKind::Template, org, &templates)
                .await?
                .first()
            {
                return Err(invalid_pk("accounts", format!("%{bad}")));
            }
            list
        }
        // JumpServer's model default: an empty list, which grants no account.
        None => before.map_or_else(Vec::new, |b| b.accounts.clone()),
    };
    let protocols = match string_list(body, "protocols")? {
        Some(list) => {
            if let Some(bad) = list.iter().find(|p| {
                p.is_empty()
                    || !p
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            }) {
                return Err(not_a_choice("protocols", bad));
            }
            if list.is_empty() {
                vec!["all".to_owned()]
            } else {
                list
            }
        }
        None => before.map_or_else(|| vec!["all".to_owned()], |b| b.protocols.clone()),
    };
    let now = Utc::now();
    let date_start = date_field(body, "date_start")?
        .or(before.map(|b| b.date_start))
        .unwrap_or(now);
    let date_expired = date_field(body, "date_expired")?
        .or(before.map(|b| b.date_expired))
        .unwrap_or_else(|| now + chrono::Duration::days(365 * DEFAULT_EXPIRED_YEARS));
    if date_expired <= date_start {
        return Err(ApiError::field(
            "date_expired",
            "The expiry date must be after the start date.",
        ));
    }
    Ok(PermissionFields {
        name,
        accounts,
        protocols,
        actions: actions_field(body)?
            .or(before.map(|b| b.actions))
            .unwrap_or_else(|| i64::from(Actions::ALL.bits())),
        date_start,
        date_expired,
        is_active: flag(body, "is_active")?
            .or(before.map(|b| b.is_active))
            .unwrap_or(true),
        comment: text(body, "comment")?
            .or_else(|| before.map(|b| b.comment.clone()))
            .unwrap_or_default(),
        users: related_ids(state, body, "users", RefKind::User, org).await?,
        user_groups: related_ids(state, body, "user_groups", RefKind::UserGroup, org).await?,
        assets: related_ids(state, body, "assets", RefKind::Asset, org).await?,
        nodes: related_ids(state, body, "nodes", RefKind::Node, org).await?,
    })
}

async fn list_permissions(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let mut ids = id_filter(&q)?;
    labels::narrow_ids(
        &mut ids,
        labels::filter_ids(&state, &caller, &q, PERMISSION_TYPE).await?,
    );
    let query = PermissionQuery {
        org: caller.org,
        search: q.search.clone(),
        name: text_filter(&q, "name"),
        user_id: uuid_filter(&q, &["user_id"])?,
        username: text_filter(&q, "username"),
        user_group_id: uuid_filter(&q, &["user_group_id"])?,
        asset_id: uuid_filter(&q, &["asset_id"])?,
        node_id: uuid_filter(&q, &["node_id"])?,
        is_active: q.flag("is_active")?,
        is_valid: q.flag("is_valid")?,
        is_expired: q.flag("is_expired")?,
        ids,
        order: q.order.clone(),
        limit,
        offset,
    };
    let (count, rows) = state
        .store()
        .list_asset_permissions(&query)
        .await
        .map_err(|e| conflict_as_field(e, "order"))?;
    let mut rows: Vec<Value> = rows.iter().map(permission_json).collect();
    labels::fill_labels(&state, caller.org, PERMISSION_TYPE, &mut rows).await?;
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn visible_permission(
    state: &AppState,
    caller: &Caller,
    key: &str,
) -> Result<PermissionRecord, ApiError> {
    state
        .store()
        .asset_permission(key, caller.org)
        .await?
        .ok_or(ApiError::NotFound("AssetPermission"))
}

async fn permission_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = visible_permission(&state, &caller, &key).await?;
    Ok(Json(permission_full(&state, &caller, &p).await?))
}

async fn create_permission(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = object(body)?;
    let org = caller.write_org();
    let fields = permission_fields(&state, org, &body, None).await?;
    let new_labels = labels::labels_checked(&state, org, &body).await?;
    let by = caller_name(&state, &caller).await;
    let id = state
        .store()
        .create_asset_permission(org, &fields, &by)
        .await
        .map_err(|e| conflict_as_field(e, "name"))?;
    if let Some(refs) = new_labels.as_ref().filter(|r| !r.is_empty()) {
        let saved =
            labels::save_org_labels(&state, &caller, org, PERMISSION_TYPE, &id.to_string(), refs)
                .await;
        if let Err(e) = saved {
            // Nothing of a refused request stays: the permission goes again.
            if let Err(undo) = state.store().delete_asset_permission(id).await {
                tracing::error!(error = %undo, permission = %id, "could not undo a permission create");
            }
            return Err(e);
        }
    }
    let p = state
        .store()
        .asset_permission(&id.to_string(), None)
        .await?
        .ok_or(ApiError::NotFound("AssetPermission"))?;
    let shown = permission_full(&state, &caller, &p).await?;
    audit(
        &state,
        &caller,
        "AssetPermission",
        "create",
        &p.name,
        &id.to_string(),
        json!({"after": shown}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(shown)))
}

async fn update_permission(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let before = visible_permission(&state, &caller, &key).await?;
    let fields = permission_fields(&state, before.org_id, &body, Some(&before)).await?;
    let new_labels = labels::labels_checked(&state, before.org_id, &body).await?;
    let b = permission_full(&state, &caller, &before).await?;
    let by = caller_name(&state, &caller).await;
    state
        .store()
        .update_asset_permission(before.id, &fields, &by)
        .await
        .map_err(|e| conflict_as_field(e, "name"))?;
    if let Some(refs) = &new_labels {
        labels::save_org_labels(
            &state,
            &caller,
            before.org_id,
            PERMISSION_TYPE,
            &before.id.to_string(),
            refs,
        )
        .await?;
    }
    let after = state
        .store()
        .asset_permission(&before.id.to_string(), None)
        .await?
        .ok_or(ApiError::NotFound("AssetPermission"))?;
    let a = permission_full(&state, &caller, &after).await?;
    audit(
        &state,
        &caller,
        "AssetPermission",
        "update",
        &after.name,
        &after.id.to_string(),
        diff(&b, &a),
    )
    .await;
    Ok(Json(a))
}

async fn delete_permission(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let p = visible_permission(&state, &caller, &key).await?;
    let before = permission_full(&state, &caller, &p).await?;
    // The store removes the permission's label bindings with it.
    state.store().delete_asset_permission(p.id).await?;
    audit(
        &state,
        &caller,
        "AssetPermission",
        "delete",
        &p.name,
        &p.id.to_string(),
        json!({"before": before}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

async fn permission_users(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let p = visible_permission(&state, &caller, &key).await?;
    let q = ListQuery::parse(&uri)?;
    let rows = state
        .store()
        .asset_permission_all_users(p.id)
        .await?
        .iter()
        .map(|u| {
            json!({"id": u.id, "name": u.name, "username": u.username, "email": u.email, "is_active": u.is_active})
        })
        .collect();
    Ok(Json(respond_slice(&q, &uri, &host, rows)))
}

async fn permission_assets(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let p = visible_permission(&state, &caller, &key).await?;
    let q = ListQuery::parse(&uri)?;
    let rows = state
        .store()
        .asset_permission_all_assets(p.id)
        .await?
        .iter()
        .map(asset_stub)
        .collect();
    Ok(Json(respond_slice(&q, &uri, &host, rows)))
}

/// Whether an account is selected by a permission's `accounts` list: `@ALL`, a username or a
/// template, minus `!username` exclusions. Virtual accounts (`@INPUT`, …) select no stored
/// account, as in JumpServer's `get_all_accounts`.
fn selected(specs: &[AccountSpec], a: &AccountRecord) -> bool {
    let username = a.username.as_deref().unwrap_or_default();
    let excluded = specs
        .iter()
        .any(|s| matches!(s, AccountSpec::Exclude(u) if u == username));
    !excluded
        && specs.iter().any(|s| match s {
            AccountSpec::All => true,
            AccountSpec::Username(u) => u == username,
            AccountSpec::Template(t) => a.template_id == Some(*t),
            _ => false,
        })
}

async fn permission_accounts(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let p = visible_permission(&state, &caller, &key).await?;
    let q = ListQuery::parse(&uri)?;
    // Stored selectors were validated on write; one that no longer parses selects nothing.
    let specs: Vec<AccountSpec> = p
        .accounts
        .iter()
        .filter_map(|s| AccountSpec::parse(s).ok())
        .collect();
    let assets: Vec<Uuid> = state
        .store()
        .asset_permission_all_assets(p.id)
        .await?
        .iter()
        .map(|a| a.id)
        .collect();
    let accounts: Vec<AccountRecord> = state
        .store()
        .accounts_on_assets(&assets)
        .await?
        .into_iter()
        .filter(|a| selected(&specs, a))
        .collect();
    let rows = accounts_json(&state, &caller, &accounts).await?;
    Ok(Json(respond_slice(&q, &uri, &host, rows)))
}

// ---------------------------------------------------------------------------------------------
// Relation rows
// ---------------------------------------------------------------------------------------------

/// The field naming the related object in a relation body, as JumpServer names it.
fn relation_field(kind: PermRelation) -> &'static str {
    match kind {
        PermRelation::Users => "user",
        PermRelation::UserGroups => "usergroup",
        PermRelation::Assets => "asset",
        PermRelation::Nodes => "node",
    }
}

fn relation_ref(kind: PermRelation) -> RefKind {
    match kind {
        PermRelation::Users => RefKind::User,
        PermRelation::UserGroups => RefKind::UserGroup,
        PermRelation::Assets => RefKind::Asset,
        PermRelation::Nodes => RefKind::Node,
    }
}

fn relation_json(kind: PermRelation, r: &RelationRow) -> Value {
    let field = relation_field(kind);
    json!({
        "assetpermission": r.permission_id,
        "assetpermission_display": r.permission_name,
        field: r.other_id,
        format!("{field}_display"): r.other_display,
    })
}

/// GET (list), POST (bulk add) and DELETE (by filter) of one relation table.
fn relation_routes(path: &'static str, kind: PermRelation) -> Router<AppState> {
    Router::new().route(
        path,
        get(
            move |caller: Caller, state: State<AppState>, uri: OriginalUri, host: Host| async move {
                relation_list(kind, caller, state, uri, host).await
            },
        )
        .post(
            move |caller: Caller,
                  state: State<AppState>,
                  body: Result<Json<Value>, JsonRejection>| async move {
                relation_add(kind, caller, state, body).await
            },
        )
        .delete(
            move |caller: Caller, state: State<AppState>, uri: OriginalUri| async move {
                relation_remove(kind, caller, state, uri).await
            },
        ),
    )
}

async fn relation_list(
    kind: PermRelation,
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    caller.require("perms.view_assetpermission")?;
    let q = ListQuery::parse(&uri)?;
    let permission = uuid_filter(&q, &["assetpermission"])?;
    let other = uuid_filter(&q, &[relation_field(kind)])?;
    let rows = state
        .store()
        .perm_relations(kind, caller.org, permission, other)
        .await?
        .iter()
        .map(|r| relation_json(kind, r))
        .collect();
    Ok(Json(respond_slice(&q, &uri, &host, rows)))
}

async fn relation_add(
    kind: PermRelation,
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require("perms.change_assetpermission")?;
    let (items, bulk) = objects(body)?;
    let field = relation_field(kind);
    let mut pairs = Vec::with_capacity(items.len());
    let mut errors = Vec::with_capacity(items.len());
    let mut failed = false;
    let mut befores: BTreeMap<Uuid, PermissionRecord> = BTreeMap::new();
    for item in &items {
        let checked: Result<(Uuid, Uuid), ApiError> = async {
            check_fields(item, &["assetpermission", field])?;
            require_fields(item, &["assetpermission", field])?;
            let perm = related_field(item, "assetpermission")?
                .flatten()
                .ok_or_else(|| ApiError::field("assetpermission", "This field is required."))?;
            let p = match befores.get(&perm) {
                Some(p) => p.clone(),
                None => state
                    .store()
                    .asset_permission(&perm.to_string(), caller.org)
                    .await?
                    .ok_or_else(|| invalid_pk("assetpermission", perm))?,
            };
            let other = related_field(item, field)?
                .flatten()
                .ok_or_else(|| ApiError::field(field, "This field is required."))?;
            if !state
                .store()
                .missing_refs(relation_ref(kind), p.org_id, &[other])
                .await?
                .is_empty()
            {
                return Err(invalid_pk(field, other));
            }
            befores.entry(perm).or_insert(p);
            Ok((perm, other))
        }
        .await;
        match checked {
            Ok(pair) => {
                pairs.push(pair);
                errors.push(json!({}));
            }
            Err(e) => {
                failed = true;
                errors.push(field_map(e)?);
            }
        }
    }
    if failed {
        return Ok(if bulk {
            bulk_errors(errors)
        } else {
            let first = errors.into_iter().next().unwrap_or_else(|| json!({}));
            ApiError::Invalid(first).into_response()
        });
    }
    state.store().add_perm_relations(kind, &pairs).await?;
    audit_relation_change(&state, &caller, &befores).await?;
    let mut shown = Vec::with_capacity(pairs.len());
    for (perm, other) in &pairs {
        for r in state
            .store()
            .perm_relations(kind, None, Some(*perm), Some(*other))
            .await?
        {
            shown.push(relation_json(kind, &r));
        }
    }
    let body = if bulk {
        Value::Array(shown)
    } else {
        shown.into_iter().next().unwrap_or_else(|| json!({}))
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Logs an update of each permission whose relations changed, as a diff of its serializer.
async fn audit_relation_change(
    state: &AppState,
    caller: &Caller,
    befores: &BTreeMap<Uuid, PermissionRecord>,
) -> Result<(), ApiError> {
    for (id, before) in befores {
        if let Some(after) = state
            .store()
            .asset_permission(&id.to_string(), None)
            .await?
        {
            let d = diff(&permission_json(before), &permission_json(&after));
            if d.as_object().is_some_and(|m| !m.is_empty()) {
                audit(
                    state,
                    caller,
                    "AssetPermission",
                    "update",
                    &after.name,
                    &id.to_string(),
                    d,
                )
                .await;
            }
        }
    }
    Ok(())
}

/// `DELETE ?assetpermission=<id>[&<field>=<id>]`: the permission is required so a bare
/// DELETE cannot empty the whole table (§1.2's "the filter must narrow the set").
async fn relation_remove(
    kind: PermRelation,
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> Result<StatusCode, ApiError> {
    caller.require("perms.change_assetpermission")?;
    let q = ListQuery::parse(&uri)?;
    let perm = uuid_filter(&q, &["assetpermission"])?
        .ok_or_else(|| ApiError::field("assetpermission", "This filter is required."))?;
    let other = uuid_filter(&q, &[relation_field(kind)])?;
    let before = state
        .store()
        .asset_permission(&perm.to_string(), caller.org)
        .await?
        .ok_or(ApiError::NotFound("AssetPermission"))?;
    state
        .store()
        .remove_perm_relations(kind, before.id, other)
        .await?;
    audit_relation_change(&state, &caller, &BTreeMap::from([(before.id, before)])).await?;
    Ok(StatusCode::NO_CONTENT)
}
