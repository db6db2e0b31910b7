//! `/api/v1/labels/…`: labels (tags), their bindings to resources and the kinds of resource
//! that can carry them (§4.14); `/api/v1/assets/labels/` is the same viewset.
//!
//! Also the helpers other resource handlers (assets, users, accounts, asset permissions) call
//! to support labels on their own objects: the `labels` input field ([`labels_input`], checked
//! before any write by [`labels_checked`], written by [`save_org_labels`] or inside the
//! resource's own transaction),
//! the `labels` output field ([`labels_of`], [`labels_value`], one query per page through
//! [`fill_labels`] / [`with_labels`]) and the `labels=` list filter ([`filter_ids`], merged into
//! a list's id condition by [`narrow_ids`]) — plus the `suggestions/` mini-list window
//! ([`suggestion_window`], [`suggestions_respond`]), which lives here only because the list
//! module is shared and this one is not. Bindings of a deleted resource are removed by the
//! store, in the transaction that deletes it.

use super::common::{audit, caller_name, check_fields, diff, object, require_fields, text};
use crate::ctx::Caller;
use crate::error::ApiError;
use crate::fmt::{choice, choice_input, datetime, related_input};
use crate::list::ListQuery;
use crate::transfer::{bulk_created, bulk_invalid, bulk_items, item_error};
use crate::{AppState, Host};
use axum::extract::rejection::JsonRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use portcullis_core::builtin::ROOT_ORG_ID;
use portcullis_store::StoreError;
use portcullis_store::labels::{
    Label, LabelFilter, LabelPatch, LabelQuery, LabelRef, LabeledQuery, LabeledResource, NewLabel,
    RESOURCE_TYPES, ResourceType, check_label_text, resource_type,
};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    let mut r = Router::new();
    for prefix in ["/api/v1/labels/labels", "/api/v1/assets/labels"] {
        r = r
            .route(&format!("{prefix}/"), get(list).post(create))
            .route(&format!("{prefix}/keys/"), get(keys))
            .route(
                &format!("{prefix}/{{id}}/"),
                get(detail).put(update).patch(update).delete(remove),
            )
            .route(
                &format!("{prefix}/{{id}}/resource-types/{{res_type}}/resources/"),
                get(bound_list)
                    .put(bound_replace)
                    .post(bound_add)
                    .delete(bound_remove),
            );
    }
    r.route(
        "/api/v1/labels/labeled-resources/",
        get(labeled_list)
            .post(labeled_create)
            .delete(labeled_bulk_delete),
    )
    .route(
        "/api/v1/labels/labeled-resources/{id}/",
        get(labeled_detail).delete(labeled_delete),
    )
    .route("/api/v1/labels/resource-types/", get(type_list))
    .route(
        "/api/v1/labels/resource-types/{res_type}/resources/",
        get(type_resources),
    )
}

// ---------------------------------------------------------------------------------------------
// Helpers for other resource handlers
// ---------------------------------------------------------------------------------------------

/// The `labels` field of a resource body (§1.3): each item a label id, `{"id"}` (or `{"pk"}`),
/// `{"name","value"}`, or `"name:value"`. `None` when the field is absent or null, so an
/// update that does not mention labels leaves them alone.
///
/// A handler calls this while validating, then [`save_org_labels`] after writing the resource
/// (or `portcullis_store::labels::set_resource_labels_in` inside its own transaction).
pub(crate) fn labels_input(body: &Map<String, Value>) -> Result<Option<Vec<LabelRef>>, ApiError> {
    let items = match body.get("labels") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::field("labels", "Expected a list of items.")),
    };
    let bad = |what: &str| ApiError::field("labels", format!("Invalid label: {what}"));
    let pair = |name: &str, value: &str| -> Result<LabelRef, ApiError> {
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(bad("the name is blank"));
        }
        check_label_text(name)
            .and_then(|()| check_label_text(value))
            .map_err(|m| ApiError::field("labels", m))?;
        Ok(LabelRef::Pair {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let r = match item {
            Value::String(s) => {
                if let Ok(id) = Uuid::parse_str(s.trim()) {
                    LabelRef::Id(id)
                } else if let Some((n, v)) = s.split_once(':') {
                    pair(n, v)?
                } else {
                    return Err(bad(&format!("`{s}` is neither an id nor `name:value`")));
                }
            }
            Value::Object(m) if m.contains_key("id") || m.contains_key("pk") => {
                let id = related_input(item)
                    .and_then(|s| Uuid::parse_str(s.trim()).ok())
                    .ok_or_else(|| bad("the id is not a UUID"))?;
                LabelRef::Id(id)
            }
            Value::Object(m) => {
                let name = m.get("name").and_then(Value::as_str);
                let value = m.get("value").and_then(Value::as_str);
                match (name, value) {
                    (Some(n), Some(v)) => pair(n, v)?,
                    _ => return Err(bad("give an id, or a name and a value")),
                }
            }
            _ => return Err(bad("give an id, `name:value`, or an object")),
        };
        out.push(r);
    }
    Ok(Some(out))
}

/// Replaces the labels `org` puts on one resource (creating labels given by an unknown name
/// and value); an id of a label outside the org is a 400 on `labels`. `res_type` is the
/// `app.model` code, e.g. `"assets.asset"`. The org is the resource's own: an org resource
/// changed from the root view keeps its labels in its org, not in the caller's write org.
pub(crate) async fn save_org_labels(
    state: &AppState,
    caller: &Caller,
    org: Uuid,
    res_type: &str,
    res_id: &str,
    labels: &[LabelRef],
) -> Result<(), ApiError> {
    let by = caller_name(state, caller).await;
    state
        .store()
        .set_resource_labels(org, res_type, res_id, labels, &by)
        .await
        .map(|_| ())
        .map_err(labels_error)
}

/// [`labels_input`] checked against `org` before anything is written: an id must name a
/// label of the org (a 400 on `labels` otherwise), so that [`save_org_labels`] after the
/// resource's own write does not fail on input.
pub(crate) async fn labels_checked(
    state: &AppState,
    org: Uuid,
    body: &Map<String, Value>,
) -> Result<Option<Vec<LabelRef>>, ApiError> {
    let Some(refs) = labels_input(body)? else {
        return Ok(None);
    };
    for r in &refs {
        if let LabelRef::Id(id) = r
            && state.store().label(Some(org), *id).await?.is_none()
        {
            return Err(ApiError::field(
                "labels",
                format!("Invalid pk \"{id}\" - object does not exist."),
            ));
        }
    }
    Ok(Some(refs))
}

/// [`labels_checked`] for a resource that belongs to no org (platforms), paired with the org
/// each label is kept in. In an org the labels are the org's; in the root (global) view, as
/// JumpServer lists every org's labels there, a label id may name a label of any org (kept in
/// that org), and a `name:value` pair is found or made in Default ([`Caller::write_org`]).
pub(crate) async fn global_labels_checked(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<Option<Vec<(Uuid, LabelRef)>>, ApiError> {
    if let Some(org) = caller.org {
        let refs = labels_checked(state, org, body).await?;
        return Ok(refs.map(|r| r.into_iter().map(|l| (org, l)).collect()));
    }
    let Some(refs) = labels_input(body)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let org = match &r {
            LabelRef::Id(id) => {
                state
                    .store()
                    .label(None, *id)
                    .await?
                    .ok_or_else(|| {
                        ApiError::field(
                            "labels",
                            format!("Invalid pk \"{id}\" - object does not exist."),
                        )
                    })?
                    .org_id
            }
            LabelRef::Pair { .. } => caller.write_org(),
        };
        out.push((org, r));
    }
    Ok(Some(out))
}

/// Saves what [`global_labels_checked`] returned: in an org, replaces that org's labels on
/// the resource (other orgs' stay); in the root view, replaces them in every org, as the
/// root view shows them all.
pub(crate) async fn save_global_labels(
    state: &AppState,
    caller: &Caller,
    res_type: &str,
    res_id: &str,
    labels: &[(Uuid, LabelRef)],
) -> Result<(), ApiError> {
    if let Some(org) = caller.org {
        let refs: Vec<LabelRef> = labels.iter().map(|(_, l)| l.clone()).collect();
        return save_org_labels(state, caller, org, res_type, res_id, &refs).await;
    }
    let by = caller_name(state, caller).await;
    state
        .store()
        .set_resource_labels_everywhere(res_type, res_id, labels, &by)
        .await
        .map_err(labels_error)
}

/// Store errors of a label write, as DRF field errors on `labels`.
pub(crate) fn labels_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid(m) => ApiError::field("labels", m),
        StoreError::Conflict(m) => ApiError::field("labels", format!("{m} already exists")),
        other => other.into(),
    }
}

/// The `labels` output field of many resources at once: `[{id, name, value, color}]` by
/// resource id, for the labels of `org` (every org when `None`, the root view).
pub(crate) async fn labels_of(
    state: &AppState,
    org: Option<Uuid>,
    res_type: &str,
    res_ids: &[String],
) -> Result<HashMap<String, Value>, ApiError> {
    let found = state
        .store()
        .resource_labels(org, res_type, res_ids)
        .await?;
    Ok(found
        .into_iter()
        .map(|(id, labels)| {
            let shown = labels
                .iter()
                .map(|l| json!({"id": l.id, "name": l.name, "value": l.value, "color": l.color}))
                .collect();
            (id, Value::Array(shown))
        })
        .collect())
}

/// One resource's entry of a [`labels_of`] map (`[]` when it has none).
pub(crate) fn labels_value(map: &HashMap<String, Value>, res_id: &str) -> Value {
    map.get(res_id).cloned().unwrap_or_else(|| json!([]))
}

/// Sets the `labels` field of serialized rows (each with an `id`) from one [`labels_of`]
/// query for the whole page.
pub(crate) async fn fill_labels(
    state: &AppState,
    org: Option<Uuid>,
    res_type: &str,
    rows: &mut [Value],
) -> Result<(), ApiError> {
    let ids: Vec<String> = rows.iter().filter_map(row_id).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let map = labels_of(state, org, res_type, &ids).await?;
    for row in rows {
        let id = row_id(row);
        if let (Some(id), Value::Object(m)) = (id, row) {
            m.insert("labels".into(), labels_value(&map, &id));
        }
    }
    Ok(())
}

/// A serialized row's `id` as stored in label bindings (platform ids are integers).
fn row_id(row: &Value) -> Option<String> {
    match row.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One serialized resource with its `labels` filled (see [`fill_labels`]).
pub(crate) async fn with_labels(
    state: &AppState,
    org: Option<Uuid>,
    res_type: &str,
    row: Value,
) -> Result<Value, ApiError> {
    let mut rows = [row];
    fill_labels(state, org, res_type, &mut rows).await?;
    let [row] = rows;
    Ok(row)
}

/// Narrows a list's id condition by the ids a [`filter_ids`] matched (`None`: no `labels=`
/// parameter, nothing to narrow); an empty result makes the list empty.
pub(crate) fn narrow_ids(ids: &mut Option<Vec<Uuid>>, matched: Option<Vec<String>>) {
    let Some(matched) = matched else {
        return;
    };
    let matched: std::collections::HashSet<Uuid> = matched
        .iter()
        .filter_map(|s| Uuid::parse_str(s).ok())
        .collect();
    *ids = Some(match ids.take() {
        None => matched.into_iter().collect(),
        Some(given) => given.into_iter().filter(|i| matched.contains(i)).collect(),
    });
}

/// The `labels=` list filter (§3.4) for resources of `res_type`: `None` when the parameter is
/// absent, otherwise the ids of the matching resources (possibly none), to intersect with
/// the list's other conditions. A malformed parameter is a 400 on `labels`.
pub(crate) async fn filter_ids(
    state: &AppState,
    caller: &Caller,
    q: &ListQuery,
    res_type: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(raw) = q.filters.get("labels").filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let filter = LabelFilter::parse(raw).map_err(|m| ApiError::field("labels", m))?;
    Ok(Some(
        state
            .store()
            .label_filter_ids(caller.org, res_type, &filter)
            .await?,
    ))
}

/// How many rows a `suggestions/` mini list returns at most (JumpServer's `SUGGESTION_LIMIT`).
pub(crate) const SUGGESTION_LIMIT: i64 = 10;

/// The `(limit, offset)` a `suggestions/` handler fetches: the first [`SUGGESTION_LIMIT`]
/// matches of the list's own filters, paginated within them when `limit` is given.
pub(crate) fn suggestion_window(q: &ListQuery) -> (i64, i64) {
    match q.limit {
        Some(limit) => (
            limit.min((SUGGESTION_LIMIT - q.offset).max(0)),
            q.offset.min(SUGGESTION_LIMIT),
        ),
        None => (SUGGESTION_LIMIT, 0),
    }
}

/// The answer of a `suggestions/` handler: `total` is the list's full count, capped here.
pub(crate) fn suggestions_respond(
    q: &ListQuery,
    uri: &Uri,
    host: &str,
    total: i64,
    rows: Vec<Value>,
) -> Value {
    q.respond(uri, host, total.min(SUGGESTION_LIMIT), rows)
}

// ---------------------------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------------------------

/// Org names by id, for `org_name` (a handful of rows).
async fn org_names(state: &AppState) -> Result<HashMap<Uuid, String>, ApiError> {
    let mut names: HashMap<Uuid, String> = state
        .store()
        .list_orgs(None)
        .await?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    names.insert(ROOT_ORG_ID, "GLOBAL".into());
    Ok(names)
}

fn org_name(names: &HashMap<Uuid, String>, id: Uuid) -> String {
    names.get(&id).cloned().unwrap_or_default()
}

/// The label serializer (§4.14).
fn label_json(l: &Label, names: &HashMap<Uuid, String>) -> Value {
    json!({
        "id": l.id,
        "name": l.name,
        "value": l.value,
        "color": l.color,
        "display_name": format!("{}:{}", l.name, l.value),
        "res_count": l.res_count,
        "comment": l.comment,
        "org_id": l.org_id,
        "org_name": org_name(names, l.org_id),
        "created_by": l.created_by,
        "updated_by": l.updated_by,
        "date_created": datetime(l.date_created),
        "date_updated": datetime(l.date_updated),
    })
}

fn uuid_list(q: &ListQuery) -> Result<Option<Vec<Uuid>>, ApiError> {
    match ["id", "ids", "id__in"]
        .iter()
        .find_map(|k| q.filters.get(*k).filter(|v| !v.is_empty()))
    {
        Some(v) => v
            .split(',')
            .map(|s| {
                Uuid::parse_str(s.trim())
                    .map_err(|_| ApiError::field("id", "Must be a valid UUID."))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        None => Ok(None),
    }
}

async fn list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let query = LabelQuery {
        org: caller.org,
        search: q.search.clone(),
        name: q.filters.get("name").cloned(),
        value: q.filters.get("value").cloned(),
        ids: uuid_list(&q)?,
        order: q.order.clone(),
        limit,
        offset,
    };
    let (count, labels) = state.store().list_labels(&query).await?;
    let names = org_names(&state).await?;
    let rows = labels.iter().map(|l| label_json(l, &names)).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

/// `/labels/labels/keys/`: the distinct names, for the UI's name picker.
async fn keys(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    Ok(Json(json!(
        state
            .store()
            .label_keys(caller.org, q.search.as_deref())
            .await?
    )))
}

/// A label of the caller's org (any org in the root view), or 404.
async fn visible_label(state: &AppState, caller: &Caller, id: &str) -> Result<Label, ApiError> {
    let id = Uuid::parse_str(id.trim()).map_err(|_| ApiError::NotFound("Label"))?;
    state
        .store()
        .label(caller.org, id)
        .await?
        .ok_or(ApiError::NotFound("Label"))
}

async fn detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let label = visible_label(&state, &caller, &id).await?;
    Ok(Json(label_json(&label, &org_names(&state).await?)))
}

pub(crate) const LABEL_FIELDS: &[&str] = &["id", "name", "value", "color", "comment"];
/// Read-only fields, accepted and ignored so an exported list imports back.
pub(crate) const LABEL_READ_ONLY: &[&str] = &[
    "res_count",
    "display_name",
    "org_id",
    "org_name",
    "created_by",
    "updated_by",
    "date_created",
    "date_updated",
];

fn unique_error() -> ApiError {
    ApiError::field(
        "non_field_errors",
        "The fields name, value must make a unique set.",
    )
}

/// Name and value rules shared by create and update, as field errors.
fn check_name_value(name: Option<&str>, value: Option<&str>) -> Result<(), ApiError> {
    for (field, v) in [("name", name), ("value", value)] {
        if let Some(v) = v {
            check_label_text(v).map_err(|m| ApiError::field(field, m))?;
        }
    }
    if name.is_some_and(str::is_empty) {
        return Err(ApiError::field("name", "This field may not be blank."));
    }
    Ok(())
}

fn new_label(body: &Map<String, Value>) -> Result<NewLabel, ApiError> {
    let known: Vec<&str> = LABEL_FIELDS
        .iter()
        .chain(LABEL_READ_ONLY)
        .copied()
        .collect();
    check_fields(body, &known)?;
    require_fields(body, &["name", "value"])?;
    let new = NewLabel {
        name: text(body, "name")?.unwrap_or_default(),
        value: text(body, "value")?.unwrap_or_default(),
        color: text(body, "color")?.unwrap_or_default(),
        comment: text(body, "comment")?.unwrap_or_default(),
    };
    check_name_value(Some(&new.name), Some(&new.value))?;
    Ok(new)
}

/// Creates one label or, given an array, many: all are checked first and nothing is written
/// unless every item is good.
async fn create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (items, bulk) = bulk_items(body)?;
    let org = caller.write_org();
    let mut ready: Vec<NewLabel> = Vec::with_capacity(items.len());
    let mut errors = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in &items {
        let mut checked = new_label(item);
        if let Ok(n) = &checked {
            let taken = ready.iter().any(|r| r.name == n.name && r.value == n.value)
                || state
                    .store()
                    .list_labels(&LabelQuery {
                        org: Some(org),
                        name: Some(n.name.clone()),
                        value: Some(n.value.clone()),
                        limit: 1,
                        ..LabelQuery::default()
                    })
                    .await?
                    .0
                    > 0;
            if taken {
                checked = Err(unique_error());
            }
        }
        match checked {
            Ok(n) => {
                ready.push(n);
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
    let by = caller_name(&state, &caller).await;
    let mut created: Vec<Label> = Vec::with_capacity(ready.len());
    for n in &ready {
        match state.store().create_label(org, n, &by).await {
            Ok(l) => created.push(l),
            Err(e) => {
                // A concurrent request took a pair after the check: undo this request's rows.
                for l in &created {
                    if let Err(undo) = state.store().delete_label(l.id).await {
                        tracing::error!(error = %undo, label = %l.id, "could not undo a bulk label create");
                    }
                }
                return Err(match e {
                    StoreError::Conflict(_) => unique_error(),
                    StoreError::Invalid(m) => ApiError::field("name", m),
                    other => other.into(),
                });
            }
        }
    }
    let names = org_names(&state).await?;
    let mut shown = Vec::with_capacity(created.len());
    for l in &created {
        let after = label_json(l, &names);
        audit(
            &state,
            &caller,
            "Label",
            "create",
            &format!("{}:{}", l.name, l.value),
            &l.id.to_string(),
            json!({"after": after}),
        )
        .await;
        shown.push(after);
    }
    Ok(bulk_created(shown, bulk))
}

async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let known: Vec<&str> = LABEL_FIELDS
        .iter()
        .chain(LABEL_READ_ONLY)
        .copied()
        .collect();
    check_fields(&body, &known)?;
    let before = visible_label(&state, &caller, &id).await?;
    let patch = LabelPatch {
        name: text(&body, "name")?,
        value: text(&body, "value")?,
        color: text(&body, "color")?,
        comment: text(&body, "comment")?,
    };
    check_name_value(patch.name.as_deref(), patch.value.as_deref())?;
    let by = caller_name(&state, &caller).await;
    state
        .store()
        .update_label(before.id, &patch, &by)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => unique_error(),
            other => other.into(),
        })?;
    let after = state
        .store()
        .label(None, before.id)
        .await?
        .ok_or(ApiError::NotFound("Label"))?;
    let names = org_names(&state).await?;
    let (b, a) = (label_json(&before, &names), label_json(&after, &names));
    audit(
        &state,
        &caller,
        "Label",
        "update",
        &format!("{}:{}", after.name, after.value),
        &after.id.to_string(),
        diff(&b, &a),
    )
    .await;
    Ok(Json(a))
}

async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let label = visible_label(&state, &caller, &id).await?;
    state.store().delete_label(label.id).await?;
    audit(
        &state,
        &caller,
        "Label",
        "delete",
        &format!("{}:{}", label.name, label.value),
        &label.id.to_string(),
        json!({"before": label_json(&label, &org_names(&state).await?)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// A label's resources of one type
// ---------------------------------------------------------------------------------------------

fn type_or_404(key: &str) -> Result<&'static ResourceType, ApiError> {
    resource_type(key).ok_or(ApiError::NotFound("ContentType"))
}

/// `GET …/labels/<id>/resource-types/<type>/resources/`: the resources carrying the label
/// (`?bound=0`: those not carrying it), as `{id, name}`.
async fn bound_list(
    caller: Caller,
    State(state): State<AppState>,
    Path((id, res_type)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let label = visible_label(&state, &caller, &id).await?;
    let t = type_or_404(&res_type)?;
    let q = ListQuery::parse(&uri)?;
    let bound = q.filters.get("bound").is_none_or(|b| b != "0");
    let (limit, offset) = q.window();
    let (count, items) = state
        .store()
        .type_resources(
            Some(label.org_id),
            t,
            Some((label.id, bound)),
            q.search.as_deref(),
            limit,
            offset,
        )
        .await?;
    let rows = items
        .into_iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

/// `res_ids` of a binding body, each checked to name a resource of the type in the label's org.
async fn res_ids(
    state: &AppState,
    label: &Label,
    t: &ResourceType,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Vec<String>, ApiError> {
    let body = object(body)?;
    let ids: Vec<String> = match body.get("res_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                related_input(v)
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| ApiError::field("res_ids", "Expected a list of ids."))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::field("res_ids", "Expected a list of ids.")),
    };
    let mut unique: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    if let Some(missing) = state
        .store()
        .missing_resources(label.org_id, t, &unique)
        .await?
        .first()
    {
        return Err(ApiError::field(
            "res_ids",
            format!("Invalid pk \"{missing}\" - object does not exist."),
        ));
    }
    Ok(unique)
}

/// What a binding change logs and answers.
async fn bound_done(
    state: &AppState,
    caller: &Caller,
    label: &Label,
    t: &ResourceType,
    action: &str,
    ids: &[String],
) -> Json<Value> {
    audit(
        state,
        caller,
        "Labeled resource",
        action,
        &format!("{}:{}", label.name, label.value),
        &label.id.to_string(),
        json!({"res_type": t.code, "res_ids": ids}),
    )
    .await;
    Json(json!({"total": ids.len()}))
}

/// `PUT`: makes `res_ids` exactly the resources of the type carrying the label (JumpServer).
async fn bound_replace(
    caller: Caller,
    State(state): State<AppState>,
    Path((id, res_type)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let label = visible_label(&state, &caller, &id).await?;
    let t = type_or_404(&res_type)?;
    let ids = res_ids(&state, &label, t, body).await?;
    let by = caller_name(&state, &caller).await;
    state
        .store()
        .replace_label_resources(&label, t, &ids, &by)
        .await?;
    Ok(bound_done(&state, &caller, &label, t, "update", &ids).await)
}

/// `POST`: adds the label to `res_ids`, keeping its other bindings.
async fn bound_add(
    caller: Caller,
    State(state): State<AppState>,
    Path((id, res_type)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let label = visible_label(&state, &caller, &id).await?;
    let t = type_or_404(&res_type)?;
    let ids = res_ids(&state, &label, t, body).await?;
    let by = caller_name(&state, &caller).await;
    state.store().bind_label(&label, t, &ids, &by).await?;
    Ok(bound_done(&state, &caller, &label, t, "create", &ids).await)
}

/// `DELETE`: removes the label from `res_ids` (ids that no longer exist are accepted, so a
/// binding left behind by a deleted resource can still be removed).
async fn bound_remove(
    caller: Caller,
    State(state): State<AppState>,
    Path((id, res_type)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let label = visible_label(&state, &caller, &id).await?;
    let t = type_or_404(&res_type)?;
    let body = object(body)?;
    let ids: Vec<String> = match body.get("res_ids") {
        Some(Value::Array(items)) => items.iter().filter_map(related_input).collect(),
        _ => return Err(ApiError::field("res_ids", "This field is required.")),
    };
    state.store().unbind_label(label.id, t, &ids).await?;
    Ok(bound_done(&state, &caller, &label, t, "delete", &ids).await)
}

// ---------------------------------------------------------------------------------------------
// Labeled resources
// ---------------------------------------------------------------------------------------------

/// The labeled-resource serializer: `res_type` is a choice of the type's number.
fn labeled_json(r: &LabeledResource, names: &HashMap<Uuid, String>) -> Value {
    let res_type = match resource_type(&r.res_type) {
        Some(t) => choice(t.id, t.name),
        None => choice(r.res_type.clone(), &r.res_type),
    };
    json!({
        "id": r.id,
        "label": {"id": r.label_id, "display_name": format!("{}:{}", r.label_name, r.label_value)},
        "res_type": res_type,
        "res_id": r.res_id,
        "resource": r.resource,
        "org_id": r.org_id,
        "org_name": org_name(names, r.org_id),
        "created_by": r.created_by,
        "date_created": datetime(r.date_created),
        "date_updated": datetime(r.date_created),
    })
}

/// The list filters of labeled resources; `None` when the request names none.
fn labeled_query(caller: &Caller, q: &ListQuery) -> Result<(LabeledQuery, bool), ApiError> {
    let f = |k: &str| q.filters.get(k).filter(|v| !v.is_empty()).cloned();
    let label = f("label")
        .map(|v| {
            Uuid::parse_str(v.trim()).map_err(|_| ApiError::field("label", "Must be a valid UUID."))
        })
        .transpose()?;
    let res_type = match f("res_type") {
        Some(v) => Some(
            resource_type(&v)
                .map(|t| t.code.to_owned())
                .ok_or_else(|| ApiError::field("res_type", "Select a valid choice."))?,
        ),
        None => None,
    };
    let query = LabeledQuery {
        org: caller.org,
        label,
        label_name: f("label__name"),
        label_value: f("label__value"),
        res_type,
        res_id: f("res_id"),
        ids: uuid_list(q)?,
        limit: 0,
        offset: 0,
    };
    let narrowed = query.label.is_some()
        || query.label_name.is_some()
        || query.label_value.is_some()
        || query.res_type.is_some()
        || query.res_id.is_some()
        || query.ids.is_some();
    Ok((query, narrowed))
}

async fn labeled_list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (mut query, _) = labeled_query(&caller, &q)?;
    (query.limit, query.offset) = q.window();
    let (count, items) = state.store().list_labeled_resources(&query).await?;
    let names = org_names(&state).await?;
    let rows = items.iter().map(|r| labeled_json(r, &names)).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn visible_labeled(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<LabeledResource, ApiError> {
    let id = Uuid::parse_str(id.trim()).map_err(|_| ApiError::NotFound("LabeledResource"))?;
    let query = LabeledQuery {
        org: caller.org,
        ids: Some(vec![id]),
        limit: 1,
        ..LabeledQuery::default()
    };
    state
        .store()
        .list_labeled_resources(&query)
        .await?
        .1
        .pop()
        .ok_or(ApiError::NotFound("LabeledResource"))
}

async fn labeled_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = visible_labeled(&state, &caller, &id).await?;
    Ok(Json(labeled_json(&r, &org_names(&state).await?)))
}

/// `POST /labels/labeled-resources/ {label, res_type, res_id}`.
async fn labeled_create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = object(body)?;
    check_fields(&body, &["label", "res_type", "res_id", "id"])?;
    require_fields(&body, &["label", "res_type", "res_id"])?;
    let label_id = body
        .get("label")
        .and_then(related_input)
        .ok_or_else(|| ApiError::field("label", "Invalid pk - object does not exist."))?;
    let label = visible_label(&state, &caller, &label_id)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => ApiError::field(
                "label",
                format!("Invalid pk \"{label_id}\" - object does not exist."),
            ),
            other => other,
        })?;
    let t = body
        .get("res_type")
        .and_then(choice_input)
        .and_then(|v| resource_type(&v))
        .ok_or_else(|| ApiError::field("res_type", "Select a valid choice."))?;
    let res_id = body
        .get("res_id")
        .and_then(related_input)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    if !state
        .store()
        .missing_resources(label.org_id, t, std::slice::from_ref(&res_id))
        .await?
        .is_empty()
    {
        return Err(ApiError::field(
            "res_id",
            format!("Invalid pk \"{res_id}\" - object does not exist."),
        ));
    }
    let by = caller_name(&state, &caller).await;
    let added = state
        .store()
        .bind_label(&label, t, std::slice::from_ref(&res_id), &by)
        .await?;
    if added == 0 {
        return Err(ApiError::field(
            "non_field_errors",
            "The fields label, res_type, res_id must make a unique set.",
        ));
    }
    let query = LabeledQuery {
        label: Some(label.id),
        res_type: Some(t.code.to_owned()),
        res_id: Some(res_id.clone()),
        limit: 1,
        ..LabeledQuery::default()
    };
    let created = state
        .store()
        .list_labeled_resources(&query)
        .await?
        .1
        .pop()
        .ok_or(ApiError::NotFound("LabeledResource"))?;
    let after = labeled_json(&created, &org_names(&state).await?);
    audit(
        &state,
        &caller,
        "Labeled resource",
        "create",
        &format!("{}:{} {}", label.name, label.value, created.resource),
        &created.id.to_string(),
        json!({"after": after}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(after)))
}

async fn labeled_delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let r = visible_labeled(&state, &caller, &id).await?;
    state
        .store()
        .delete_labeled_resources(caller.org, &[r.id])
        .await?;
    audit(
        &state,
        &caller,
        "Labeled resource",
        "delete",
        &format!("{}:{} {}", r.label_name, r.label_value, r.resource),
        &r.id.to_string(),
        json!({"before": labeled_json(&r, &org_names(&state).await?)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /labels/labeled-resources/?…`: bulk unbinding. The filters must narrow the set
/// (§1.2), so a bare DELETE cannot wipe every binding of the org.
async fn labeled_bulk_delete(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> Result<StatusCode, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (mut query, narrowed) = labeled_query(&caller, &q)?;
    if !narrowed {
        return Err(ApiError::Refused(
            "Bulk delete needs a filter that narrows the set".into(),
        ));
    }
    query.limit = i64::MAX / 2;
    let (_, items) = state.store().list_labeled_resources(&query).await?;
    let ids: Vec<Uuid> = items.iter().map(|r| r.id).collect();
    state
        .store()
        .delete_labeled_resources(caller.org, &ids)
        .await?;
    for r in &items {
        audit(
            &state,
            &caller,
            "Labeled resource",
            "delete",
            &format!("{}:{} {}", r.label_name, r.label_value, r.resource),
            &r.id.to_string(),
            json!({"res_type": r.res_type, "res_id": r.res_id}),
        )
        .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Resource types
// ---------------------------------------------------------------------------------------------

fn type_json(t: &ResourceType) -> Value {
    json!({
        "id": t.id,
        "app_label": t.app_label,
        "app_display": t.app_display,
        "model": t.model,
        "name": t.name,
        "code": t.code,
    })
}

/// `/labels/resource-types/`: the kinds of resource that can carry labels.
async fn type_list(
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let rows: Vec<Value> = RESOURCE_TYPES.iter().map(type_json).collect();
    let count = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let (limit, offset) = q.window();
    let page = rows
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(0))
        .take(usize::try_from(limit).unwrap_or(0))
        .collect();
    Ok(Json(q.respond(&uri, &host, count, page)))
}

/// `/labels/resource-types/<type>/resources/`: the resources of a type in the current org
/// (`{id, name}`), paginated by 100 unless `limit` says otherwise, as JumpServer.
async fn type_resources(
    caller: Caller,
    State(state): State<AppState>,
    Path(res_type): Path<String>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let t = type_or_404(&res_type)?;
    let mut q = ListQuery::parse(&uri)?;
    q.limit = Some(q.limit.unwrap_or(100));
    let (limit, offset) = q.window();
    let (count, items) = state
        .store()
        .type_resources(caller.org, t, None, q.search.as_deref(), limit, offset)
        .await?;
    let rows = items
        .into_iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}
