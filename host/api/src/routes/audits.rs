//! User groups (§4.2), RBAC roles and role bindings (§4.4), the audit logs (§4.17), the read
//! side of sessions and commands (§4.15, §4.16) and the settings endpoints (§4.22): the
//! resources that say who belongs where, who may do what, and what was done.
//!
//! System-wide objects (roles, system role bindings, settings) are guarded by system-level
//! grants only ([`require_system`]): an org role's `*` means "everything in this org", and must
//! not let an org administrator rewrite what every org runs under.

use super::common::{audit, caller_name, check_fields, diff, object, require_fields, text, uuids};
use crate::ctx::Caller;
use crate::error::{ApiError, ok_msg};
use crate::fmt::{choice, choice_input, datetime, opt_datetime, parse_datetime, related_input};
use crate::list::ListQuery;
use crate::transfer::{bulk_created, bulk_invalid, bulk_items, item_error};
use crate::{AppState, Host};
use axum::extract::rejection::JsonRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use portcullis_auth::setting_names as names;
use portcullis_core::builtin::{SCOPE_ORG, SCOPE_SYSTEM, SYSTEM_ADMIN_ROLE_ID};
use portcullis_store::StoreError;
use portcullis_store::audits::{
    BindingRecord, CommandRecord, Cond, FtpLogRecord, ListSpec, LoginLogRecord, NewRole,
    NewUserGroup, OperateLogRecord, PasswordChangeLogRecord, RolePatch, RoleRecord, SessionRecord,
    UserGroupPatch, UserGroupRecord,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    let mut r = Router::new()
        .route("/api/v1/users/groups/", get(group_list).post(group_create))
        .route(
            "/api/v1/users/groups/{key}/",
            get(group_detail)
                .patch(group_patch)
                .put(group_patch)
                .delete(group_delete),
        )
        .route(
            "/api/v1/users/groups/{key}/add-all-users/",
            post(group_add_all_users),
        )
        .route(
            "/api/v1/users/users-groups-relations/",
            get(relation_list)
                .post(relation_create)
                .delete(relation_delete),
        );
    for base in ["roles", "system-roles", "org-roles"] {
        r = r
            .route(
                &format!("/api/v1/rbac/{base}/"),
                get(role_list).post(role_create),
            )
            .route(
                &format!("/api/v1/rbac/{base}/{{key}}/"),
                get(role_detail)
                    .patch(role_patch)
                    .put(role_patch)
                    .delete(role_delete),
            )
            .route(
                &format!("/api/v1/rbac/{base}/{{key}}/clone/"),
                post(role_clone),
            );
    }
    for base in ["role-bindings", "system-role-bindings", "org-role-bindings"] {
        r = r
            .route(
                &format!("/api/v1/rbac/{base}/"),
                get(binding_list).post(binding_create),
            )
            .route(
                &format!("/api/v1/rbac/{base}/{{id}}/"),
                get(binding_detail).delete(binding_delete),
            );
    }
    r.route("/api/v1/audits/login-logs/", get(login_logs))
        .route("/api/v1/audits/login-logs/{id}/", get(login_log_detail))
        .route("/api/v1/audits/my-login-logs/", get(my_login_logs))
        .route("/api/v1/audits/operate-logs/", get(operate_logs))
        .route("/api/v1/audits/operate-logs/{id}/", get(operate_log_detail))
        .route(
            "/api/v1/audits/password-change-logs/",
            get(password_change_logs),
        )
        .route("/api/v1/audits/ftp-logs/", get(ftp_logs))
        .route("/api/v1/terminal/sessions/", get(session_list))
        .route("/api/v1/terminal/sessions/{id}/", get(session_detail))
        .route("/api/v1/terminal/commands/", get(command_list))
        .route("/api/v1/settings/public/open/", get(public_open))
        .route("/api/v1/settings/public/", get(public_settings))
        .route(
            "/api/v1/settings/setting/",
            get(setting_get).patch(setting_patch).put(setting_patch),
        )
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// Refuses unless a *system* role grants `codename` (see the module documentation).
fn require_system(caller: &Caller, codename: &str) -> Result<(), ApiError> {
    if caller.roles.grants(None, codename) {
        Ok(())
    } else {
        Err(ApiError::PermissionDenied)
    }
}

/// Roles of system scope (and the generic `/rbac/roles/` list, which includes them) are
/// visible to system-level callers only; `/rbac/org-roles/` to anyone granted `rbac.view_role`.
fn require_role_view(caller: &Caller, uri: &Uri) -> Result<(), ApiError> {
    match path_scope(uri) {
        Some("system") => require_system(caller, "rbac.view_role"),
        _ => caller.require("rbac.view_role"),
    }
}

/// The scope a caller may see on the generic `/rbac/roles/` path: everything for system-level
/// callers, org roles only for the others.
fn visible_scope<'a>(caller: &Caller, uri: &'a Uri) -> Option<&'a str> {
    match path_scope(uri) {
        Some(s) => Some(s),
        None if caller.roles.grants(None, "rbac.view_role") => None,
        None => Some("org"),
    }
}

/// How a query-string filter is parsed before it reaches the store.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Exact text.
    Text,
    /// Case-insensitive substring.
    Contains,
    /// A UUID (400 when it is not one, rather than silently matching nothing).
    Uuid,
    /// `true`/`false`/`1`/`0`.
    Flag,
    /// An integer.
    Int,
}

/// A `date_from` / `date_to` parameter; garbage is a 400, not an ignored filter, so a script
/// with a wrong format does not silently read the whole log.
fn date_param(q: &ListQuery, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    q.filters
        .get(name)
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            parse_datetime(v).ok_or_else(|| {
                ApiError::field(
                    name,
                    "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DD HH:MM:SS +ZZZZ, YYYY/MM/DD HH:MM:SS +ZZZZ, ISO 8601.",
                )
            })
        })
        .transpose()
}

/// The list parameters of a request, with the filters `allowed` parsed by kind.
pub(crate) fn list_spec(
    q: &ListQuery,
    org: Option<Uuid>,
    allowed: &[(&'static str, Kind)],
) -> Result<ListSpec, ApiError> {
    let (limit, offset) = q.window();
    let mut spec = ListSpec {
        org,
        search: q.search.clone(),
        filters: Vec::new(),
        date_from: date_param(q, "date_from")?,
        date_to: date_param(q, "date_to")?,
        order: q.order.clone(),
        limit,
        offset,
    };
    for (name, kind) in allowed {
        let Some(raw) = q.filters.get(*name).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let raw = raw.trim();
        let cond = match kind {
            Kind::Text => Cond::Text(raw.to_owned()),
            Kind::Contains => Cond::Contains(raw.to_owned()),
            Kind::Uuid => Cond::Text(
                Uuid::parse_str(raw)
                    .map_err(|_| ApiError::field(name, "Must be a valid UUID."))?
                    .to_string(),
            ),
            Kind::Flag => match q.flag(name)? {
                Some(b) => Cond::Flag(b),
                None => continue,
            },
            Kind::Int => Cond::Int(
                raw.parse()
                    .map_err(|_| ApiError::field(name, "A valid integer is required."))?,
            ),
        };
        spec.filters.push((name, cond));
    }
    Ok(spec)
}

/// A UUID query parameter, if given.
fn uuid_param(q: &ListQuery, name: &str) -> Result<Option<Uuid>, ApiError> {
    q.filters
        .get(name)
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            Uuid::parse_str(v.trim()).map_err(|_| ApiError::field(name, "Must be a valid UUID."))
        })
        .transpose()
}

/// The DRF message for a related id that does not resolve.
fn invalid_pk(id: impl std::fmt::Display) -> String {
    format!("Invalid pk \"{id}\" - object does not exist.")
}

/// Read-only fields a client may echo back from a GET; accepted and ignored, as DRF does.
const ECHOED: &[&str] = &[
    "id",
    "org_id",
    "org_name",
    "users_amount",
    "date_created",
    "date_updated",
    "created_by",
    "updated_by",
    "labels",
    "builtin",
];

fn known_fields(writable: &[&'static str]) -> Vec<&'static str> {
    writable.iter().chain(ECHOED).copied().collect()
}

// ---------------------------------------------------------------------------------------------
// User groups
// ---------------------------------------------------------------------------------------------

/// The group serializer: lists show `users_amount`, the detail adds `users`.
fn group_json(g: &UserGroupRecord, detail: bool) -> Value {
    let mut v = json!({
        "id": g.id,
        "name": g.name,
        "comment": g.comment,
        "users_amount": g.users_amount,
        "labels": [],
        "org_id": g.org_id,
        "org_name": g.org_name,
        "date_created": datetime(g.date_created),
        "created_by": g.created_by,
    });
    if detail && let Value::Object(m) = &mut v {
        m.insert(
            "users".into(),
            g.users
                .iter()
                .map(|u| {
                    json!({
                        "id": u.id,
                        "name": u.name,
                        "username": u.username,
                        "is_service_account": u.is_service_account,
                    })
                })
                .collect(),
        );
    }
    v
}

async fn visible_group(
    state: &AppState,
    caller: &Caller,
    key: &str,
) -> Result<UserGroupRecord, ApiError> {
    state
        .store()
        .user_group(caller.org, key)
        .await?
        .ok_or(ApiError::NotFound("UserGroup"))
}

async fn group_list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let spec = list_spec(&q, caller.org, &[("name", Kind::Text), ("id", Kind::Uuid)])?;
    let (count, groups) = state.store().list_user_groups(&spec).await?;
    let rows = groups.iter().map(|g| group_json(g, false)).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn group_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(group_json(
        &visible_group(&state, &caller, &key).await?,
        true,
    )))
}

/// A group name: present, not blank, at most 128 characters (JumpServer's column size).
fn group_name(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match text(body, "name")? {
        Some(n) if n.is_empty() => Err(ApiError::field("name", "This field may not be blank.")),
        Some(n) if n.chars().count() > 128 => Err(ApiError::field(
            "name",
            "Ensure this field has no more than 128 characters.",
        )),
        other => Ok(other),
    }
}

/// The `users` of a group body, each required to be a member of `org` so that a group never
/// reaches outside its org.
async fn group_users(
    state: &AppState,
    body: &Map<String, Value>,
    org: Uuid,
) -> Result<Option<Vec<Uuid>>, ApiError> {
    let Some(mut ids) = uuids(body, "users")? else {
        return Ok(None);
    };
    ids.sort();
    ids.dedup();
    let outsiders = state.store().not_org_members(org, &ids).await?;
    if let Some(first) = outsiders.first() {
        return Err(ApiError::field("users", invalid_pk(first)));
    }
    Ok(Some(ids))
}

fn group_store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => {
            ApiError::field("name", "user group with this name already exists.")
        }
        StoreError::NotFound(what) => ApiError::field("users", invalid_pk(what)),
        other => other.into(),
    }
}

/// Creates one group or, given an array, many (§1.2): every item is checked first and
/// nothing is written unless all are good; the 400 then lists one error dict per item.
async fn group_create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (items, bulk) = bulk_items(body)?;
    let org = caller.write_org();
    let by = caller_name(&state, &caller).await;
    let mut ready: Vec<NewUserGroup> = Vec::with_capacity(items.len());
    let mut errors = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in &items {
        let checked = async {
            check_fields(item, &known_fields(&["name", "comment", "users"]))?;
            require_fields(item, &["name"])?;
            let name = group_name(item)?.unwrap_or_default();
            let taken = ready.iter().any(|g| g.name == name)
                || state.store().user_group(Some(org), &name).await?.is_some();
            if taken {
                return Err(group_store_error(StoreError::Conflict(name)));
            }
            Ok(NewUserGroup {
                org,
                name,
                comment: text(item, "comment")?.unwrap_or_default(),
                users: group_users(&state, item, org).await?.unwrap_or_default(),
                created_by: by.clone(),
            })
        }
        .await;
        match checked {
            Ok(g) => {
                ready.push(g);
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
    // One transaction per group in the store; a write that still fails (a concurrent request
    // took the name) deletes the groups this request already created.
    let mut created: Vec<Uuid> = Vec::with_capacity(ready.len());
    for g in &ready {
        match state.store().create_user_group(g).await {
            Ok(id) => created.push(id),
            Err(e) => {
                for id in &created {
                    if let Err(undo) = state.store().delete_user_group(*id).await {
                        tracing::error!(error = %undo, group = %id, "could not undo a bulk group create");
                    }
                }
                return Err(group_store_error(e));
            }
        }
    }
    let mut shown = Vec::with_capacity(created.len());
    for id in created {
        let group = visible_group(&state, &caller, &id.to_string()).await?;
        let after = group_json(&group, true);
        audit(
            &state,
            &caller,
            "UserGroup",
            "create",
            &group.name,
            &id.to_string(),
            json!({"after": after}),
        )
        .await;
        shown.push(after);
    }
    Ok(bulk_created(shown, bulk))
}

async fn group_patch(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    check_fields(&body, &known_fields(&["name", "comment", "users"]))?;
    let before = visible_group(&state, &caller, &key).await?;
    let patch = UserGroupPatch {
        name: group_name(&body)?,
        comment: text(&body, "comment")?,
        users: group_users(&state, &body, before.org_id).await?,
    };
    let by = caller_name(&state, &caller).await;
    state
        .store()
        .update_user_group(before.id, &patch, &by)
        .await
        .map_err(group_store_error)?;
    let after = visible_group(&state, &caller, &before.id.to_string()).await?;
    let (b, a) = (group_json(&before, true), group_json(&after, true));
    audit(
        &state,
        &caller,
        "UserGroup",
        "update",
        &after.name,
        &after.id.to_string(),
        diff(&b, &a),
    )
    .await;
    Ok(Json(a))
}

async fn group_delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let group = visible_group(&state, &caller, &key).await?;
    state.store().delete_user_group(group.id).await?;
    audit(
        &state,
        &caller,
        "UserGroup",
        "delete",
        &group.name,
        &group.id.to_string(),
        json!({"before": group_json(&group, true)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

async fn group_add_all_users(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let before = visible_group(&state, &caller, &key).await?;
    let members = state.store().org_member_ids(before.org_id).await?;
    state.store().add_group_members(before.id, &members).await?;
    let after = visible_group(&state, &caller, &before.id.to_string()).await?;
    audit(
        &state,
        &caller,
        "UserGroup",
        "update",
        &after.name,
        &after.id.to_string(),
        diff(&group_json(&before, true), &group_json(&after, true)),
    )
    .await;
    Ok(Json(ok_msg()))
}

async fn relation_list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let spec = list_spec(
        &q,
        caller.org,
        &[("usergroup", Kind::Uuid), ("user", Kind::Uuid)],
    )?;
    let (count, rels) = state.store().list_group_relations(&spec).await?;
    let rows = rels
        .iter()
        .map(|r| {
            json!({
                "user": r.user_id,
                "user_display": r.user_display,
                "usergroup": r.group_id,
                "usergroup_display": r.group_name,
            })
        })
        .collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

/// `POST` a `{user, usergroup}` object or a list of them; every row is checked before any is
/// written, and memberships that already exist are kept as they are.
async fn relation_create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body.map_err(|e| crate::error::bad_json(&e))?;
    let (items, single) = match body {
        Value::Array(items) => (items, false),
        v @ Value::Object(_) => (vec![v], true),
        _ => {
            return Err(ApiError::field(
                "non_field_errors",
                "Invalid data. Expected a dictionary or a list.",
            ));
        }
    };
    let mut pairs = Vec::new();
    let mut shown = Vec::new();
    let mut groups: BTreeMap<Uuid, UserGroupRecord> = BTreeMap::new();
    for item in &items {
        let Value::Object(m) = item else {
            return Err(ApiError::field(
                "non_field_errors",
                "Invalid data. Expected a dictionary.",
            ));
        };
        check_fields(
            m,
            &[
                "user",
                "usergroup",
                "id",
                "user_display",
                "usergroup_display",
            ],
        )?;
        require_fields(m, &["user", "usergroup"])?;
        let id_of = |name: &str| -> Result<Uuid, ApiError> {
            m.get(name)
                .and_then(related_input)
                .and_then(|s| Uuid::parse_str(&s).ok())
                .ok_or_else(|| ApiError::field(name, "Must be a valid UUID."))
        };
        let (uid, gid) = (id_of("user")?, id_of("usergroup")?);
        let group = match groups.get(&gid) {
            Some(g) => g.clone(),
            None => {
                let g = state
                    .store()
                    .user_group(caller.org, &gid.to_string())
                    .await?
                    .ok_or_else(|| ApiError::field("usergroup", invalid_pk(gid)))?;
                groups.insert(gid, g.clone());
                g
            }
        };
        if !state
            .store()
            .not_org_members(group.org_id, &[uid])
            .await?
            .is_empty()
        {
            return Err(ApiError::field("user", invalid_pk(uid)));
        }
        let user = state
            .store()
            .user_record(&uid.to_string())
            .await?
            .ok_or_else(|| ApiError::field("user", invalid_pk(uid)))?;
        pairs.push((gid, uid));
        shown.push(json!({
            "user": uid,
            "user_display": format!("{}({})", user.name, user.username),
            "usergroup": gid,
            "usergroup_display": group.name,
        }));
    }
    state
        .store()
        .add_group_relations(&pairs)
        .await
        .map_err(group_store_error)?;
    for before in groups.values() {
        let after = visible_group(&state, &caller, &before.id.to_string()).await?;
        audit(
            &state,
            &caller,
            "UserGroup",
            "update",
            &after.name,
            &after.id.to_string(),
            diff(&group_json(before, true), &group_json(&after, true)),
        )
        .await;
    }
    let out = if single {
        shown.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(shown)
    };
    Ok((StatusCode::CREATED, Json(out)))
}

/// `DELETE ?usergroup=&user=`: the filter must name a group or a user (§1.2: a bulk delete
/// must narrow the set).
async fn relation_delete(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> Result<StatusCode, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let group = uuid_param(&q, "usergroup")?;
    let user = uuid_param(&q, "user")?;
    if group.is_none() && user.is_none() {
        return Err(ApiError::Refused(
            "Deleting relations needs a usergroup or user filter".into(),
        ));
    }
    let before = match group {
        Some(g) => Some(
            state
                .store()
                .user_group(caller.org, &g.to_string())
                .await?
                .ok_or(ApiError::NotFound("UserGroup"))?,
        ),
        None => None,
    };
    let removed = state
        .store()
        .remove_group_relations(caller.org, group, user)
        .await?;
    if removed > 0 {
        let (resource, id, change) = match &before {
            Some(b) => {
                let after = visible_group(&state, &caller, &b.id.to_string()).await?;
                (
                    after.name.clone(),
                    after.id.to_string(),
                    diff(&group_json(b, true), &group_json(&after, true)),
                )
            }
            None => (
                user.map(|u| u.to_string()).unwrap_or_default(),
                user.map(|u| u.to_string()).unwrap_or_default(),
                json!({"user": user, "memberships_removed": removed}),
            ),
        };
        audit(
            &state,
            &caller,
            "UserGroup",
            "update",
            &resource,
            &id,
            change,
        )
        .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------------------------

/// The scope an RBAC path is fixed to: `system-roles` / `system-role-bindings` → system,
/// `org-…` → org, the generic paths → either.
fn path_scope(uri: &Uri) -> Option<&'static str> {
    let path = uri.path();
    if path.contains("/rbac/system-") {
        Some(SCOPE_SYSTEM)
    } else if path.contains("/rbac/org-") {
        Some(SCOPE_ORG)
    } else {
        None
    }
}

fn scope_label(scope: &str) -> &'static str {
    if scope == SCOPE_SYSTEM {
        "System"
    } else {
        "Organization"
    }
}

/// The role serializer. `permissions` is the list of codename patterns the role grants
/// (Portcullis' permission model), where JumpServer lists permission ids.
fn role_json(r: &RoleRecord) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "display_name": r.display_name,
        "scope": choice(r.scope.clone(), scope_label(&r.scope)),
        "builtin": r.builtin,
        "users_amount": r.users_amount,
        "permissions": r.permissions,
        "comment": r.comment,
        "created_by": r.created_by,
        "updated_by": r.updated_by,
        "date_created": datetime(r.date_created),
        "date_updated": datetime(r.date_updated),
    })
}

async fn role_list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    require_role_view(&caller, &uri)?;
    let q = ListQuery::parse(&uri)?;
    let mut spec = list_spec(
        &q,
        caller.org,
        &[
            ("name", Kind::Text),
            ("builtin", Kind::Flag),
            ("id", Kind::Uuid),
        ],
    )?;
    if let Some(s) = visible_scope(&caller, &uri) {
        spec.filters.push(("scope", Cond::Text(s.to_owned())));
    }
    if let Some(s) = q.filters.get("scope").filter(|s| !s.is_empty()) {
        spec.filters.push(("scope", Cond::Text(s.clone())));
    }
    let (count, roles) = state.store().list_roles(&spec).await?;
    let rows = roles.iter().map(role_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn visible_role(
    state: &AppState,
    caller: &Caller,
    uri: &Uri,
    key: &str,
) -> Result<RoleRecord, ApiError> {
    state
        .store()
        .role_record(key, visible_scope(caller, uri), caller.org)
        .await?
        .ok_or(ApiError::NotFound("Role"))
}

async fn role_detail(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_role_view(&caller, &uri)?;
    Ok(Json(role_json(
        &visible_role(&state, &caller, &uri, &key).await?,
    )))
}

/// Whether a permission pattern is well formed: a codename (`app.action_model`) where `*`
/// may stand for any run, optionally negated with a leading `!` (see `builtin::patterns_grant`).
fn valid_pattern(p: &str) -> bool {
    let body = p.strip_prefix('!').unwrap_or(p);
    !body.is_empty()
        && body.len() <= 128
        && body
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '*'))
}

/// The `permissions` list of a role body, de-duplicated in order.
fn permission_patterns(body: &Map<String, Value>) -> Result<Option<Vec<String>>, ApiError> {
    let items = match body.get("permissions") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::field("permissions", "Expected a list of items."));
        }
    };
    let mut out: Vec<String> = Vec::new();
    for v in items {
        let p = match v {
            Value::String(s) if valid_pattern(s.trim()) => s.trim().to_owned(),
            other => {
                return Err(ApiError::field(
                    "permissions",
                    format!(
                        "{other} is not a permission codename pattern (for example assets.view_asset, assets.*, !rbac.*)."
                    ),
                ));
            }
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(Some(out))
}

fn role_name(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match text(body, "name")? {
        Some(n) if n.is_empty() => Err(ApiError::field("name", "This field may not be blank.")),
        Some(n) if n.chars().count() > 128 => Err(ApiError::field(
            "name",
            "Ensure this field has no more than 128 characters.",
        )),
        other => Ok(other),
    }
}

fn role_store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::field("name", "role with this name already exists."),
        other => other.into(),
    }
}

const ROLE_WRITABLE: &[&str] = &["name", "display_name", "scope", "permissions", "comment"];

async fn role_create(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_system(&caller, "rbac.add_role")?;
    let body = object(body)?;
    check_fields(&body, &known_fields(ROLE_WRITABLE))?;
    require_fields(&body, &["name"])?;
    let asked = body.get("scope").filter(|v| !v.is_null()).map(|v| {
        choice_input(v)
            .filter(|s| s == SCOPE_SYSTEM || s == SCOPE_ORG)
            .ok_or_else(|| ApiError::field("scope", format!("{v} is not a valid choice.")))
    });
    let asked = asked.transpose()?;
    let scope = match (path_scope(&uri), asked) {
        (Some(fixed), Some(s)) if s != fixed => {
            return Err(ApiError::field(
                "scope",
                format!("This endpoint only holds {fixed} roles."),
            ));
        }
        (Some(fixed), _) => fixed.to_owned(),
        (None, Some(s)) => s,
        (None, None) => return Err(ApiError::field("scope", "This field is required.")),
    };
    let new = NewRole {
        name: role_name(&body)?.unwrap_or_default(),
        display_name: text(&body, "display_name")?.unwrap_or_default(),
        scope,
        permissions: permission_patterns(&body)?.unwrap_or_default(),
        comment: text(&body, "comment")?.unwrap_or_default(),
        created_by: caller_name(&state, &caller).await,
    };
    let id = state
        .store()
        .create_role(&new)
        .await
        .map_err(role_store_error)?;
    let role = state
        .store()
        .role_record(&id.to_string(), None, caller.org)
        .await?
        .ok_or(ApiError::NotFound("Role"))?;
    let shown = role_json(&role);
    audit(
        &state,
        &caller,
        "Role",
        "create",
        &role.name,
        &id.to_string(),
        json!({"after": shown}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(shown)))
}

/// `POST …/<id>/clone/ {name?, display_name?, comment?}`: a new custom role of the same scope
/// with the source's permissions (JumpServer's UI copies a role this way).
async fn role_clone(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_system(&caller, "rbac.add_role")?;
    // An empty body is fine: everything has a default.
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(ApiError::field(
                    "non_field_errors",
                    "Invalid data. Expected a dictionary.",
                ));
            }
            Err(e) => {
                return Err(ApiError::field(
                    "non_field_errors",
                    format!("JSON parse error - {e}"),
                ));
            }
        }
    };
    check_fields(&body, &["name", "display_name", "comment"])?;
    let source = visible_role(&state, &caller, &uri, &key).await?;
    let name = role_name(&body)?.unwrap_or_else(|| format!("{}-copy", source.name));
    let new = NewRole {
        display_name: text(&body, "display_name")?.unwrap_or_else(|| name.clone()),
        name,
        scope: source.scope.clone(),
        permissions: source.permissions.clone(),
        comment: text(&body, "comment")?.unwrap_or_else(|| source.comment.clone()),
        created_by: caller_name(&state, &caller).await,
    };
    let id = state
        .store()
        .create_role(&new)
        .await
        .map_err(role_store_error)?;
    let role = state
        .store()
        .role_record(&id.to_string(), None, caller.org)
        .await?
        .ok_or(ApiError::NotFound("Role"))?;
    let shown = role_json(&role);
    audit(
        &state,
        &caller,
        "Role",
        "create",
        &role.name,
        &id.to_string(),
        json!({"after": shown, "cloned_from": source.id}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(shown)))
}

async fn role_patch(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    require_system(&caller, "rbac.change_role")?;
    let body = object(body)?;
    check_fields(&body, &known_fields(ROLE_WRITABLE))?;
    let before = visible_role(&state, &caller, &uri, &key).await?;
    // JumpServer refuses to change built-in roles with 403 ("Internal role, can't be update").
    if before.builtin {
        return Err(ApiError::PermissionDenied);
    }
    if let Some(v) = body.get("scope").filter(|v| !v.is_null())
        && choice_input(v).as_deref() != Some(before.scope.as_str())
    {
        return Err(ApiError::field(
            "scope",
            "The scope of a role cannot be changed.",
        ));
    }
    let patch = RolePatch {
        name: role_name(&body)?,
        display_name: text(&body, "display_name")?,
        permissions: permission_patterns(&body)?,
        comment: text(&body, "comment")?,
    };
    let by = caller_name(&state, &caller).await;
    state
        .store()
        .update_role(before.id, &patch, &by)
        .await
        .map_err(role_store_error)?;
    let after = state
        .store()
        .role_record(&before.id.to_string(), None, caller.org)
        .await?
        .ok_or(ApiError::NotFound("Role"))?;
    let (b, a) = (role_json(&before), role_json(&after));
    audit(
        &state,
        &caller,
        "Role",
        "update",
        &after.name,
        &after.id.to_string(),
        diff(&b, &a),
    )
    .await;
    Ok(Json(a))
}

async fn role_delete(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_system(&caller, "rbac.delete_role")?;
    let role = visible_role(&state, &caller, &uri, &key).await?;
    // As JumpServer: built-in roles and roles still bound to users are refused with 403.
    if role.builtin || state.store().role_binding_count(role.id).await? > 0 {
        return Err(ApiError::PermissionDenied);
    }
    if !state.store().delete_role(role.id).await? {
        // Bound between the check and the delete: still refused, nothing removed.
        return Err(ApiError::PermissionDenied);
    }
    audit(
        &state,
        &caller,
        "Role",
        "delete",
        &role.name,
        &role.id.to_string(),
        json!({"before": role_json(&role)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Role bindings
// ---------------------------------------------------------------------------------------------

/// The binding serializer: `role` is a plain id and `scope` a plain string (§4.4); system
/// bindings have no `org`.
fn binding_json(b: &BindingRecord) -> Value {
    let mut v = json!({
        "id": b.id,
        "user": {"id": b.user_id, "name": b.user_name, "username": b.username},
        "role": b.role_id,
        "role_display": b.role_display,
        "scope": b.scope,
        "org_name": b.org_name,
        "created_by": b.created_by,
        "date_created": datetime(b.date_created),
    });
    if let (Some(org), Value::Object(m)) = (b.org_id, &mut v) {
        m.insert("org".into(), json!(org));
    }
    v
}

/// The codename guarding an action on bindings of `scope`. System bindings need a system
/// grant; org bindings a grant in the current org.
fn require_binding(caller: &Caller, action: &str, scope: &str) -> Result<(), ApiError> {
    if scope == SCOPE_SYSTEM {
        require_system(caller, &format!("rbac.{action}_systemrolebinding"))
    } else {
        caller.require(&format!("rbac.{action}_orgrolebinding"))
    }
}

async fn binding_list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let scope = path_scope(&uri);
    match scope {
        Some(s) => require_binding(&caller, "view", s)?,
        // The generic path mixes system and org bindings: who is a system administrator is
        // not an org admin's business.
        None => require_system(&caller, "rbac.view_rolebinding")?,
    }
    let q = ListQuery::parse(&uri)?;
    let mut spec = list_spec(
        &q,
        caller.org,
        &[
            ("user", Kind::Uuid),
            ("user_id", Kind::Uuid),
            ("role", Kind::Uuid),
            ("role_id", Kind::Uuid),
            ("scope", Kind::Text),
            ("id", Kind::Uuid),
        ],
    )?;
    if let Some(s) = scope {
        spec.filters.retain(|(n, _)| *n != "scope");
        spec.filters.push(("scope", Cond::Text(s.to_owned())));
    }
    let (count, rows) = state.store().list_role_bindings(&spec).await?;
    let rows = rows.iter().map(binding_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn visible_binding(
    state: &AppState,
    caller: &Caller,
    uri: &Uri,
    id: &str,
) -> Result<BindingRecord, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("RoleBinding"))?;
    let b = state
        .store()
        .role_binding(caller.org, id)
        .await?
        .ok_or(ApiError::NotFound("RoleBinding"))?;
    match path_scope(uri) {
        Some(s) if s != b.scope => Err(ApiError::NotFound("RoleBinding")),
        _ => Ok(b),
    }
}

async fn binding_detail(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match path_scope(&uri) {
        Some(s) => require_binding(&caller, "view", s)?,
        None => require_system(&caller, "rbac.view_rolebinding")?,
    }
    Ok(Json(binding_json(
        &visible_binding(&state, &caller, &uri, &id).await?,
    )))
}

async fn binding_create(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // On the scoped paths the permission is known before the body is read: refuse first.
    if let Some(s) = path_scope(&uri) {
        require_binding(&caller, "add", s)?;
    }
    let body = object(body)?;
    check_fields(
        &body,
        &known_fields(&["user", "role", "scope", "org", "role_display"]),
    )?;
    require_fields(&body, &["user", "role"])?;
    let id_of = |name: &str| -> Result<Uuid, ApiError> {
        body.get(name)
            .and_then(related_input)
            .and_then(|s| Uuid::parse_str(&s).ok())
            .ok_or_else(|| ApiError::field(name, "Must be a valid UUID."))
    };
    let (user_id, role_id) = (id_of("user")?, id_of("role")?);
    let role = state
        .store()
        .role_record(&role_id.to_string(), None, caller.org)
        .await?
        .ok_or_else(|| ApiError::field("role", invalid_pk(role_id)))?;
    if let Some(fixed) = path_scope(&uri)
        && fixed != role.scope
    {
        return Err(ApiError::field(
            "role",
            format!("The role is not a {fixed} role."),
        ));
    }
    require_binding(&caller, "add", &role.scope)?;
    let user = state
        .store()
        .user_record(&user_id.to_string())
        .await?
        .ok_or_else(|| ApiError::field("user", invalid_pk(user_id)))?;
    // An org binding goes to the current org (§4.4), Default in the root view.
    let org = (role.scope == SCOPE_ORG).then(|| caller.write_org());
    let id = state
        .store()
        .create_role_binding(user.id, role.id, org, &caller_name(&state, &caller).await)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::field(
                "role",
                "The user already has this role (the fields user, role, org must make a unique set).",
            ),
            StoreError::NotFound(_) => ApiError::field("user", invalid_pk(user_id)),
            other => other.into(),
        })?;
    let b = state
        .store()
        .role_binding(None, id)
        .await?
        .ok_or(ApiError::NotFound("RoleBinding"))?;
    let shown = binding_json(&b);
    audit(
        &state,
        &caller,
        "RoleBinding",
        "create",
        &format!("{} | {}", user.username, role.name),
        &id.to_string(),
        json!({"after": shown}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(shown)))
}

async fn binding_delete(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let b = visible_binding(&state, &caller, &uri, &id).await?;
    match path_scope(&uri) {
        Some(_) => require_binding(&caller, "delete", &b.scope)?,
        None => require_system(&caller, "rbac.delete_rolebinding")?,
    }
    // Keep at least one system administrator: without one nobody can repair RBAC.
    if b.role_id == SYSTEM_ADMIN_ROLE_ID && state.store().role_binding_count(b.role_id).await? <= 1
    {
        return Err(ApiError::Refused(
            "The last system administrator binding cannot be removed".into(),
        ));
    }
    state.store().delete_role_binding(b.id).await?;
    audit(
        &state,
        &caller,
        "RoleBinding",
        "delete",
        &format!("{} | {}", b.username, b.role_name),
        &b.id.to_string(),
        json!({"before": binding_json(&b)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Audit logs
// ---------------------------------------------------------------------------------------------

fn login_type_label(t: &str) -> &'static str {
    match t {
        "W" => "Web",
        "T" => "Terminal",
        _ => "Unknown",
    }
}

fn mfa_label(m: i64) -> &'static str {
    match m {
        0 => "Disabled",
        1 => "Enabled",
        _ => "-",
    }
}

/// Human text of the failure codes `portcullis_auth::codes` writes.
fn reason_display(code: &str) -> String {
    match code {
        "" => "",
        "password_failed" => "Username/password check failed",
        "block_login" => "The account has been locked (too many failed logins)",
        "block_global_ip_login" => "The IP address has been locked (too many failed logins)",
        "user_inactive" => "The user is disabled",
        "user_expired" => "The user has expired",
        "acl_not_allow" => "Login rejected by a login ACL",
        "login_confirm_wait" => "Waiting for a reviewer to confirm the login",
        "mfa_failed" => "MFA authentication failed",
        "passwd_has_expired" => "The password has expired",
        "internal_error" => "Server error",
        other => other,
    }
    .to_owned()
}

fn backend_display(backend: &str) -> String {
    match backend {
        "password" => "Password".to_owned(),
        "publickey" => "Public key".to_owned(),
        other => other.to_owned(),
    }
}

fn login_log_json(l: &LoginLogRecord) -> Value {
    json!({
        "id": l.id,
        "username": l.username,
        "type": choice(l.login_type.clone(), login_type_label(&l.login_type)),
        "ip": l.ip,
        "city": l.city,
        "user_agent": l.user_agent,
        "mfa": choice(l.mfa, mfa_label(l.mfa)),
        "reason": l.reason,
        "reason_display": reason_display(&l.reason),
        "backend": l.backend,
        "backend_display": backend_display(&l.backend),
        "status": choice(l.status, if l.status { "Success" } else { "Failed" }),
        "datetime": datetime(l.datetime),
    })
}

const LOGIN_FILTERS: &[(&str, Kind)] = &[
    ("username", Kind::Text),
    ("ip", Kind::Text),
    ("type", Kind::Text),
    ("status", Kind::Flag),
    ("mfa", Kind::Int),
    ("backend", Kind::Text),
    ("city", Kind::Text),
    ("id", Kind::Uuid),
];

async fn login_logs(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let spec = list_spec(&q, caller.org, LOGIN_FILTERS)?;
    let (count, rows) = state.store().list_login_logs(&spec).await?;
    let rows = rows.iter().map(login_log_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn login_log_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("UserLoginLog"))?;
    let spec = ListSpec {
        org: caller.org,
        filters: vec![("id", Cond::Text(id.to_string()))],
        limit: 1,
        ..ListSpec::default()
    };
    let (_, rows) = state.store().list_login_logs(&spec).await?;
    rows.first()
        .map(|l| Json(login_log_json(l)))
        .ok_or(ApiError::NotFound("UserLoginLog"))
}

/// The caller's own logins: every attempt under their login name, whatever the org.
async fn my_login_logs(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let me = state
        .store()
        .user_record(&caller.user_id.to_string())
        .await?
        .ok_or(ApiError::NotAuthenticated)?;
    let q = ListQuery::parse(&uri)?;
    let mut spec = list_spec(&q, None, LOGIN_FILTERS)?;
    spec.filters.retain(|(n, _)| *n != "username");
    spec.filters.push(("username", Cond::Text(me.username)));
    let (count, rows) = state.store().list_login_logs(&spec).await?;
    let rows = rows.iter().map(login_log_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

fn action_label(action: &str) -> String {
    match action {
        "change_password" => "Change password".to_owned(),
        "notice" => "Notifications".to_owned(),
        "finished" => "Finished".to_owned(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        }
    }
}

/// The stored diff as JumpServer's detail shows it: a list of `{field, before, after}`.
/// Creates and deletes store the whole object under `after` / `before`.
fn diff_rows(d: &Value) -> Value {
    let Value::Object(m) = d else {
        return json!([]);
    };
    let whole = |obj: &Map<String, Value>, created: bool| -> Vec<Value> {
        obj.iter()
            .map(|(k, v)| {
                if created {
                    json!({"field": k, "before": null, "after": v})
                } else {
                    json!({"field": k, "before": v, "after": null})
                }
            })
            .collect()
    };
    if let Some(Value::Object(after)) = m.get("after")
        && m.keys().all(|k| k == "after" || k == "cloned_from")
    {
        return Value::Array(whole(after, true));
    }
    if let (1, Some(Value::Object(before))) = (m.len(), m.get("before")) {
        return Value::Array(whole(before, false));
    }
    Value::Array(
        m.iter()
            .map(|(k, v)| match v.as_array().map(Vec::as_slice) {
                Some([b, a]) => json!({"field": k, "before": b, "after": a}),
                _ => json!({"field": k, "before": null, "after": v}),
            })
            .collect(),
    )
}

fn operate_log_json(l: &OperateLogRecord, with_diff: bool) -> Value {
    let mut v = json!({
        "id": l.id,
        "user": l.user,
        "action": choice(l.action.clone(), &action_label(&l.action)),
        "resource_type": l.resource_type,
        "resource": l.resource,
        "resource_id": l.resource_id,
        "remote_addr": l.remote_addr,
        "datetime": datetime(l.datetime),
        "org_id": l.org_id,
        "org_name": l.org_name,
    });
    if with_diff && let Value::Object(m) = &mut v {
        m.insert("diff".into(), diff_rows(&l.diff));
    }
    v
}

async fn operate_logs(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let spec = list_spec(
        &q,
        caller.org,
        &[
            ("user", Kind::Text),
            ("action", Kind::Text),
            ("resource_type", Kind::Text),
            ("resource", Kind::Text),
            ("resource_id", Kind::Text),
            ("remote_addr", Kind::Text),
            ("id", Kind::Uuid),
        ],
    )?;
    let (count, rows) = state.store().list_operate_logs(&spec).await?;
    let rows = rows.iter().map(|l| operate_log_json(l, false)).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn operate_log_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("OperateLog"))?;
    let log = state
        .store()
        .operate_log_entry(caller.org, id)
        .await?
        .ok_or(ApiError::NotFound("OperateLog"))?;
    Ok(Json(operate_log_json(&log, true)))
}

fn password_change_json(l: &PasswordChangeLogRecord) -> Value {
    json!({
        "id": l.id,
        "user": l.user,
        "change_by": l.change_by,
        "remote_addr": l.remote_addr,
        "datetime": datetime(l.datetime),
    })
}

async fn password_change_logs(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let spec = list_spec(
        &q,
        caller.org,
        &[
            ("user", Kind::Text),
            ("change_by", Kind::Text),
            ("remote_addr", Kind::Text),
            ("id", Kind::Uuid),
        ],
    )?;
    let (count, rows) = state.store().list_password_change_logs(&spec).await?;
    let rows = rows.iter().map(password_change_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

fn operate_label(op: &str) -> String {
    match op {
        "rename_dir" => "Rename dir".to_owned(),
        other => action_label(other),
    }
}

fn ftp_log_json(l: &FtpLogRecord) -> Value {
    json!({
        "id": l.id,
        "user": l.user,
        "remote_addr": l.remote_addr,
        "asset": l.asset,
        "account": l.account,
        "org_id": l.org_id,
        "org_name": l.org_name,
        "operate": choice(l.operate.clone(), &operate_label(&l.operate)),
        "filename": l.filename,
        "date_start": datetime(l.date_start),
        "is_success": l.is_success,
        "has_file": l.has_file,
        "session": l.session_id,
        "size": l.size,
        "sha256": l.sha256,
    })
}

async fn ftp_logs(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let spec = list_spec(
        &q,
        caller.org,
        &[
            ("user", Kind::Text),
            ("asset", Kind::Text),
            ("account", Kind::Text),
            ("operate", Kind::Text),
            ("filename", Kind::Contains),
            ("is_success", Kind::Flag),
            ("session", Kind::Uuid),
            ("remote_addr", Kind::Text),
            ("id", Kind::Uuid),
        ],
    )?;
    let (count, rows) = state.store().list_ftp_logs(&spec).await?;
    let rows = rows.iter().map(ftp_log_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

// ---------------------------------------------------------------------------------------------
// Sessions and commands
// ---------------------------------------------------------------------------------------------

fn login_from_label(code: &str) -> &'static str {
    match code {
        "ST" => "SSH Terminal",
        "RT" => "RDP Terminal",
        "WT" => "Web Terminal",
        "DT" => "DB Terminal",
        "VT" => "VNC Terminal",
        _ => "Unknown",
    }
}

fn session_type_label(t: &str) -> &'static str {
    match t {
        "tunnel" => "Tunnel",
        "command" => "Command",
        "sftp" => "SFTP",
        _ => "Normal",
    }
}

fn error_reason_label(r: &str) -> &'static str {
    match r {
        "connect_failed" => "Connect failed",
        "replay_create_failed" => "Replay create failed",
        "replay_upload_failed" => "Replay upload failed",
        "replay_convert_failed" => "Replay convert failed",
        "replay_unsupported" => "Replay unsupported",
        _ => "",
    }
}

/// The component shown for sessions the built-in gateway ran (terminal id `''`).
const BUILTIN_TERMINAL: &str = "portcullis";

pub(crate) fn session_json(s: &SessionRecord) -> Value {
    let end = s.date_end.unwrap_or_else(Utc::now);
    let terminal = if s.terminal.is_empty() {
        json!({"id": null, "name": BUILTIN_TERMINAL})
    } else {
        json!({"id": s.terminal, "name": s.terminal})
    };
    let terminal_display = terminal["name"].clone();
    json!({
        "id": s.id,
        "end_reason": s.end_reason,
        "user": s.user,
        "asset": s.asset,
        "account": s.account,
        "user_id": s.user_id,
        "asset_id": s.asset_id,
        "account_id": s.account_id,
        "protocol": s.protocol,
        "type": choice(s.session_type.clone(), session_type_label(&s.session_type)),
        "login_from": choice(s.login_from.clone(), login_from_label(&s.login_from)),
        "remote_addr": s.remote_addr,
        "is_success": s.is_success,
        "is_finished": s.is_finished,
        "has_replay": s.has_replay,
        "has_command": s.has_command,
        "is_locked": s.is_locked,
        "date_start": datetime(s.date_start),
        "date_end": opt_datetime(s.date_end),
        "duration": (end - s.date_start).num_seconds().max(0),
        "command_amount": s.command_amount,
        "error_reason": choice(s.error_reason.clone(), error_reason_label(&s.error_reason)),
        "replay_size": s.replay_size,
        "terminal": terminal,
        "terminal_display": terminal_display,
        "can_replay": s.is_finished && s.has_replay,
        "can_join": !s.is_finished && matches!(s.protocol.as_str(), "ssh" | "telnet" | "k8s"),
        "can_terminate": !s.is_finished,
        "comment": s.comment,
        "org_id": s.org_id,
        "org_name": s.org_name,
    })
}

async fn session_list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let spec = list_spec(
        &q,
        caller.org,
        &[
            ("user", Kind::Text),
            ("user_id", Kind::Uuid),
            ("asset", Kind::Text),
            ("asset_id", Kind::Uuid),
            ("account", Kind::Text),
            ("account_id", Kind::Uuid),
            ("remote_addr", Kind::Text),
            ("protocol", Kind::Text),
            ("login_from", Kind::Text),
            ("type", Kind::Text),
            ("terminal", Kind::Text),
            ("is_finished", Kind::Flag),
            ("is_success", Kind::Flag),
            ("has_replay", Kind::Flag),
            ("id", Kind::Uuid),
        ],
    )?;
    let (count, rows) = state.store().list_sessions(&spec).await?;
    let rows = rows.iter().map(session_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

async fn session_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("Session"))?;
    let s = state
        .store()
        .session_record(caller.org, id)
        .await?
        .ok_or(ApiError::NotFound("Session"))?;
    Ok(Json(session_json(&s)))
}

fn risk_label(level: i64) -> &'static str {
    match level {
        0 => "Accept",
        4 => "Warning",
        5 => "Reject",
        6 => "Review & Reject",
        7 => "Review & Accept",
        8 => "Review & Cancel",
        _ => "Unknown",
    }
}

fn command_json(c: &CommandRecord) -> Value {
    json!({
        "id": c.id,
        "user": c.user,
        "asset": c.asset,
        "account": c.account,
        "input": c.input,
        "output": c.output,
        "session": c.session_id,
        "risk_level": choice(c.risk_level, risk_label(c.risk_level)),
        "timestamp": c.timestamp.timestamp(),
        "timestamp_display": datetime(c.timestamp),
        "remote_addr": c.remote_addr,
        "org_id": c.org_id,
    })
}

/// Commands are listed per session or per command storage (§4.16); without either the list
/// is empty, as JumpServer's is. Portcullis has one storage (the database), so any
/// `command_storage_id` selects it.
async fn command_list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let spec = list_spec(
        &q,
        caller.org,
        &[
            ("session_id", Kind::Uuid),
            ("user", Kind::Text),
            ("asset", Kind::Text),
            ("account", Kind::Text),
            ("input", Kind::Contains),
            ("risk_level", Kind::Int),
            ("remote_addr", Kind::Text),
            ("id", Kind::Uuid),
        ],
    )?;
    let scoped = ["session_id", "command_storage_id"]
        .iter()
        .any(|k| q.filters.get(*k).is_some_and(|v| !v.trim().is_empty()));
    if !scoped {
        return Ok(Json(q.respond(&uri, &host, 0, Vec::new())));
    }
    let (count, rows) = state.store().list_commands(&spec).await?;
    let rows = rows.iter().map(command_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

/// What anyone may read before logging in (the login page's look and languages).
fn open_settings() -> Map<String, Value> {
    let v = json!({
        "XPACK_ENABLED": false,
        "INTERFACE": {
            "login_title": "Portcullis",
            "login_image": "/static/img/login_image.png",
            "favicon": "/static/img/facio.ico",
            "logo_index": "/static/img/logo_text_white.png",
            "logo_logout": "/static/img/logo.png",
            "theme": "classic_green",
            "theme_info": {},
            "beian_link": "",
            "beian_text": "",
            "footer_content": "",
        },
        "LANGUAGES": [
            {"name": "English", "code": "en", "other_codes": ["en-us", "en-gb"]},
            {"name": "简体中文", "code": "zh-hans", "other_codes": ["zh", "zh-cn", "zh-sg"]},
        ],
        "VENDOR": "Portcullis",
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

async fn public_open() -> Json<Value> {
    Json(Value::Object(open_settings()))
}

async fn public_settings(
    _caller: Caller,
    State(state): State<AppState>,
    Host(http_host): Host,
) -> Result<Json<Value>, ApiError> {
    let sec = state.auth().security().await?;
    let p = &sec.password_policy;
    let mut m = open_settings();
    m.insert("XPACK_LICENSE_IS_VALID".into(), json!(false));
    m.insert("XPACK_LICENSE_INFO".into(), json!({}));
    m.insert(
        "PASSWORD_RULE".into(),
        json!({
            names::PASSWORD_MIN_LENGTH: p.min_length,
            names::ADMIN_PASSWORD_MIN_LENGTH: p.admin_min_length,
            names::PASSWORD_UPPER_CASE: p.upper_case,
            names::PASSWORD_LOWER_CASE: p.lower_case,
            names::PASSWORD_NUMBER: p.number,
            names::PASSWORD_SPECIAL_CHAR: p.special_char,
        }),
    );
    m.insert(
        names::PASSWORD_EXPIRATION_TIME.into(),
        json!(sec.password_expiration_days),
    );
    m.insert(
        names::LOGIN_LIMIT_COUNT.into(),
        json!(sec.login_limit_count),
    );
    m.insert(names::LOGIN_LIMIT_TIME.into(), json!(sec.login_limit_time));
    m.extend(super::ssh_address::public(&state, &http_host).await?);
    m.extend(super::announcement::values(&state).await?);
    Ok(Json(Value::Object(m)))
}

/// The type and accepted range of a security setting.
#[derive(Debug, Clone, Copy)]
enum SettingKind {
    /// An integer in `min..=max`.
    Int(i64, i64),
    /// A boolean.
    Bool,
    /// A host name or IP address (at most 253 characters, no spaces or slashes); empty
    /// clears it.
    HostName,
}

/// The security settings the API manages: exactly the ones `Auth::security()` reads, with the
/// ranges it honours (password lengths use JumpServer's 6–30), grouped in JumpServer's
/// sub-categories.
const SECURITY_SETTINGS: &[(&str, SettingKind, &str)] = &[
    (
        names::MAX_IDLE_TIME,
        SettingKind::Int(1, 7 * 24 * 60),
        "security_session",
    ),
    (
        names::MAX_SESSION_TIME,
        SettingKind::Int(1, 24 * 365),
        "security_session",
    ),
    (
        names::LOGIN_LIMIT_COUNT,
        SettingKind::Int(1, 1_000_000),
        "security_login_limit",
    ),
    (
        names::LOGIN_LIMIT_TIME,
        SettingKind::Int(1, 10_000_000),
        "security_login_limit",
    ),
    (
        names::LOGIN_IP_LIMIT_COUNT,
        SettingKind::Int(1, 1_000_000),
        "security_login_limit",
    ),
    (
        names::LOGIN_IP_LIMIT_TIME,
        SettingKind::Int(1, 10_000_000),
        "security_login_limit",
    ),
    (
        names::UNCOMMON_USERS_TTL,
        SettingKind::Int(1, 99_999),
        "security_login_limit",
    ),
    (
        names::TOKEN_EXPIRATION,
        SettingKind::Int(1, 100 * 365 * 86_400),
        "security_auth",
    ),
    (
        names::SIGNATURE_MAX_SKEW,
        SettingKind::Int(0, 365 * 86_400),
        "security_auth",
    ),
    (
        names::PASSWORD_MIN_LENGTH,
        SettingKind::Int(6, 30),
        "security_password",
    ),
    (
        names::ADMIN_PASSWORD_MIN_LENGTH,
        SettingKind::Int(6, 30),
        "security_password",
    ),
    (
        names::PASSWORD_UPPER_CASE,
        SettingKind::Bool,
        "security_password",
    ),
    (
        names::PASSWORD_LOWER_CASE,
        SettingKind::Bool,
        "security_password",
    ),
    (
        names::PASSWORD_NUMBER,
        SettingKind::Bool,
        "security_password",
    ),
    (
        names::PASSWORD_SPECIAL_CHAR,
        SettingKind::Bool,
        "security_password",
    ),
    (
        names::PASSWORD_EXPIRATION_TIME,
        SettingKind::Int(1, 99_999),
        "security_password",
    ),
    // Where clients reach the SSH gateway, when it differs from its listen address (NAT).
    (
        super::ssh_address::SSH_HOST,
        SettingKind::HostName,
        "terminal",
    ),
    (
        super::ssh_address::SSH_PORT,
        SettingKind::Int(0, 65_535),
        "terminal",
    ),
];

/// Whether `?category=announcement` (handled by [`super::announcement`]).
fn is_announcement(uri: &Uri) -> Result<bool, ApiError> {
    let q = ListQuery::parse(uri)?;
    Ok(q.filters.get("category").map(String::as_str)
        == Some(portcullis_store::settings::ANNOUNCEMENT_CATEGORY))
}

/// The settings a `?category=` names; 400 for categories Portcullis does not manage here.
fn category_settings(uri: &Uri) -> Result<Vec<(&'static str, SettingKind)>, ApiError> {
    let q = ListQuery::parse(uri)?;
    let category = q.filters.get("category").map(String::as_str).unwrap_or("");
    let picked: Vec<_> = SECURITY_SETTINGS
        .iter()
        .filter(|(_, _, sub)| {
            (category == "security" && sub.starts_with("security")) || category == *sub
        })
        .map(|(n, k, _)| (*n, *k))
        .collect();
    if picked.is_empty() {
        return Err(ApiError::field(
            "category",
            format!(
                "\"{category}\" is not a category this server manages (security, security_auth, security_password, security_login_limit, security_session, terminal, announcement)."
            ),
        ));
    }
    Ok(picked)
}

/// The values in force (defaults included), as the settings page shows them.
async fn security_values(
    state: &AppState,
    wanted: &[(&'static str, SettingKind)],
) -> Result<Map<String, Value>, ApiError> {
    let s = state.auth().security().await?;
    let p = &s.password_policy;
    let (ssh_host, ssh_port) = super::ssh_address::overrides(state).await?;
    let value = |name: &str| -> Value {
        match name {
            names::LOGIN_LIMIT_COUNT => json!(s.login_limit_count),
            names::MAX_IDLE_TIME => json!(s.max_idle_minutes),
            names::MAX_SESSION_TIME => json!(s.max_session_hours),
            names::LOGIN_LIMIT_TIME => json!(s.login_limit_time),
            names::LOGIN_IP_LIMIT_COUNT => json!(s.login_ip_limit_count),
            names::LOGIN_IP_LIMIT_TIME => json!(s.login_ip_limit_time),
            // 0 ("off") is shown as JumpServer's default 999, which means the same.
            names::UNCOMMON_USERS_TTL => json!(if s.inactive_days == 0 {
                999
            } else {
                s.inactive_days
            }),
            names::TOKEN_EXPIRATION => json!(s.token_expiration),
            names::SIGNATURE_MAX_SKEW => json!(s.signature_max_skew),
            names::PASSWORD_MIN_LENGTH => json!(p.min_length),
            names::ADMIN_PASSWORD_MIN_LENGTH => json!(p.admin_min_length),
            names::PASSWORD_UPPER_CASE => json!(p.upper_case),
            names::PASSWORD_LOWER_CASE => json!(p.lower_case),
            names::PASSWORD_NUMBER => json!(p.number),
            names::PASSWORD_SPECIAL_CHAR => json!(p.special_char),
            super::ssh_address::SSH_HOST => json!(ssh_host),
            super::ssh_address::SSH_PORT => json!(ssh_port),
            _ => Value::Null,
        }
    };
    Ok(wanted
        .iter()
        .map(|(n, _)| ((*n).to_owned(), value(n)))
        .collect())
}

async fn setting_get(
    _caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>, ApiError> {
    if is_announcement(&uri)? {
        return Ok(Json(Value::Object(
            super::announcement::values(&state).await?,
        )));
    }
    let wanted = category_settings(&uri)?;
    Ok(Json(Value::Object(security_values(&state, &wanted).await?)))
}

/// Parses one setting value by kind (numbers may come as strings, as forms post them).
fn setting_value(name: &str, kind: SettingKind, v: &Value) -> Result<Value, ApiError> {
    match kind {
        SettingKind::Int(min, max) => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .ok_or_else(|| ApiError::field(name, "A valid integer is required."))?;
            if n < min {
                Err(ApiError::field(
                    name,
                    format!("Ensure this value is greater than or equal to {min}."),
                ))
            } else if n > max {
                Err(ApiError::field(
                    name,
                    format!("Ensure this value is less than or equal to {max}."),
                ))
            } else {
                Ok(json!(n))
            }
        }
        SettingKind::Bool => match v {
            Value::Bool(b) => Ok(json!(b)),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(json!(true)),
                "false" | "0" => Ok(json!(false)),
                _ => Err(ApiError::field(name, "Must be a valid boolean.")),
            },
            Value::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Ok(json!(n.as_i64() == Some(1)))
            }
            _ => Err(ApiError::field(name, "Must be a valid boolean.")),
        },
        SettingKind::HostName => {
            let host = v
                .as_str()
                .ok_or_else(|| ApiError::field(name, "Not a valid string."))?
                .trim();
            if host.len() > 253
                || host
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "/@?#".contains(c))
            {
                Err(ApiError::field(
                    name,
                    "Enter a host name or IP address (no spaces, slashes or ports, at most 253 characters).",
                ))
            } else {
                Ok(json!(host))
            }
        }
    }
}

async fn setting_patch(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    if is_announcement(&uri)? {
        let body = object(body)?;
        return Ok(Json(Value::Object(
            super::announcement::patch(&state, &caller, &body).await?,
        )));
    }
    let wanted = category_settings(&uri)?;
    let body = object(body)?;
    let known: Vec<&str> = wanted.iter().map(|(n, _)| *n).collect();
    check_fields(&body, &known)?;
    // Validate everything before the first write, and report every bad field at once.
    let mut parsed = Vec::new();
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, kind) in &wanted {
        if let Some(v) = body.get(*name) {
            match setting_value(name, *kind, v) {
                Ok(v) => parsed.push((*name, v)),
                Err(ApiError::Fields(f)) => errors.extend(f),
                Err(other) => return Err(other),
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Fields(errors));
    }
    let before = security_values(&state, &wanted).await?;
    for (name, value) in &parsed {
        let category = SECURITY_SETTINGS.iter().find(|(n, _, _)| n == name).map_or(
            "security",
            |(_, _, sub)| {
                if sub.starts_with("security") {
                    "security"
                } else {
                    sub
                }
            },
        );
        state.store().set_setting(name, category, value).await?;
    }
    let after = security_values(&state, &wanted).await?;
    let (b, a) = (Value::Object(before), Value::Object(after));
    if !parsed.is_empty() {
        audit(
            &state,
            &caller,
            "Setting",
            "update",
            "security",
            "security",
            diff(&b, &a),
        )
        .await;
    }
    Ok(Json(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_diffs() {
        assert!(valid_pattern("assets.view_asset"));
        assert!(valid_pattern("!rbac.*"));
        assert!(valid_pattern("*"));
        assert!(!valid_pattern("!"));
        assert!(!valid_pattern("assets view"));
        assert!(!valid_pattern("DROP;"));
        let d = diff_rows(&json!({"name": ["a", "b"]}));
        assert_eq!(d, json!([{"field": "name", "before": "a", "after": "b"}]));
        let c = diff_rows(&json!({"after": {"name": "x"}}));
        assert_eq!(c, json!([{"field": "name", "before": null, "after": "x"}]));
        let r = diff_rows(&json!({"before": {"name": "x"}}));
        assert_eq!(r, json!([{"field": "name", "before": "x", "after": null}]));
    }

    #[test]
    fn setting_values_are_typed_and_ranged() {
        let k = SettingKind::Int(6, 30);
        assert_eq!(setting_value("X", k, &json!("8")).unwrap(), json!(8));
        assert!(setting_value("X", k, &json!(3)).is_err());
        assert!(setting_value("X", k, &json!("many")).is_err());
        assert_eq!(
            setting_value("X", SettingKind::Bool, &json!("true")).unwrap(),
            json!(true)
        );
        assert!(setting_value("X", SettingKind::Bool, &json!("maybe")).is_err());
    }
}
