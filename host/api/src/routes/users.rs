//! `/api/v1/users/…`: users (§4.1) and the caller's profile.

use super::common::{
    audit, caller_name, check_fields, diff, flag, object, require_fields, text, uuids,
};
use crate::ctx::Caller;
use crate::error::{ApiError, ok_msg};
use crate::fmt::{choice, datetime, opt_datetime, parse_datetime};
use crate::list::ListQuery;
use crate::transfer::{bulk_created, bulk_invalid, bulk_items, item_error};
use crate::{AppState, Host};
use axum::extract::rejection::JsonRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use portcullis_core::builtin::{self, ORG_USER_ROLE_ID, SYSTEM_ADMIN_ROLE_ID, SYSTEM_USER_ROLE_ID};
use portcullis_core::secret::SecretString;
use portcullis_store::users::{NewUser, UserPatch, UserQuery, UserRecord};
use serde_json::{Map, Value, json};
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users/users/", get(list).post(create))
        .route(
            "/api/v1/users/users/{key}/",
            get(detail).patch(patch).put(patch).delete(remove),
        )
        .route("/api/v1/users/users/{key}/unblock/", put(unblock))
        .route("/api/v1/users/users/{key}/remove/", post(remove_from_org))
        .route("/api/v1/users/profile/", get(profile))
}

fn mfa_label(level: i64) -> &'static str {
    match level {
        1 => "Enable",
        2 => "Force enable",
        _ => "Disable",
    }
}

fn source_label(source: &str) -> String {
    match source {
        "local" => "Local".into(),
        "ldap" => "LDAP/AD".into(),
        "openid" => "OpenID".into(),
        other => other.to_uppercase(),
    }
}

/// The user serializer (§4.1).
pub(crate) fn user_json(u: &UserRecord) -> Value {
    let now = chrono::Utc::now();
    let is_expired = u.date_expired.is_some_and(|d| d <= now);
    let system_roles: Vec<Value> = u
        .roles
        .iter()
        .filter(|r| r.scope == "system")
        .map(|r| json!({"id": r.id, "display_name": r.display_name, "name": r.name}))
        .collect();
    let org_roles: Vec<Value> = u
        .roles
        .iter()
        .filter(|r| r.scope == "org")
        .map(|r| json!({"id": r.id, "display_name": r.display_name, "name": r.name, "org_id": r.org_id}))
        .collect();
    json!({
        "id": u.id,
        "name": u.name,
        "username": u.username,
        "email": u.email,
        "wechat": u.wechat,
        "phone": u.phone,
        "mfa_level": choice(u.mfa_level, mfa_label(u.mfa_level)),
        "source": choice(u.source.clone(), &source_label(&u.source)),
        "groups": u.groups.iter().map(|(id, name)| json!({"id": id, "name": name})).collect::<Vec<_>>(),
        "system_roles": system_roles,
        "org_roles": org_roles,
        "labels": [],
        "is_superuser": u.roles.iter().any(|r| r.id == SYSTEM_ADMIN_ROLE_ID),
        "is_org_admin": u.roles.iter().any(|r| r.id == builtin::ORG_ADMIN_ROLE_ID),
        "is_service_account": u.is_service_account,
        "is_valid": u.is_active && !is_expired,
        "is_expired": is_expired,
        "is_active": u.is_active,
        "is_otp_secret_key_bound": u.otp_bound,
        "can_public_key_auth": true,
        "mfa_enabled": u.mfa_level > 0,
        "mfa_force_enabled": u.mfa_level == 2,
        "need_update_password": u.need_update_password,
        "is_first_login": u.is_first_login,
        "login_blocked": u.locked_until.is_some_and(|d| d > now),
        "has_public_keys": u.public_keys > 0,
        "date_expired": opt_datetime(u.date_expired),
        "date_joined": datetime(u.date_joined),
        "last_login": opt_datetime(u.last_login),
        "date_api_key_last_used": opt_datetime(u.date_api_key_last_used),
        "date_password_last_updated": opt_datetime(u.date_password_last_updated),
        "date_updated": datetime(u.date_updated),
        "avatar_url": u.avatar_url,
        "comment": u.comment,
        "created_by": u.created_by,
    })
}

fn uuid_filter(q: &ListQuery, name: &str) -> Result<Option<Uuid>, ApiError> {
    q.filters
        .get(name)
        .filter(|v| !v.is_empty())
        .map(|v| Uuid::parse_str(v).map_err(|_| ApiError::field(name, "Must be a valid UUID.")))
        .transpose()
}

async fn list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    caller.require("users.view_user")?;
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let ids = match q
        .filters
        .get("id")
        .or_else(|| q.filters.get("ids"))
        .or_else(|| q.filters.get("id__in"))
    {
        Some(v) if !v.is_empty() => Some(
            v.split(',')
                .map(|s| {
                    Uuid::parse_str(s.trim())
                        .map_err(|_| ApiError::field("id", "Must be a valid UUID."))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        _ => None,
    };
    let query = UserQuery {
        org: caller.org,
        search: q.search.clone(),
        username: q.filters.get("username").cloned(),
        email: q.filters.get("email").cloned(),
        name: q.filters.get("name").cloned(),
        source: q.filters.get("source").cloned(),
        is_active: q.flag("is_active")?,
        group_id: uuid_filter(&q, "group_id")?,
        ids,
        order: q.order.clone(),
        limit,
        offset,
    };
    let (count, users) = state.store().list_users(&query).await?;
    let rows = users.iter().map(user_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

/// Finds a user visible in the caller's org (by id or username), or 404.
async fn visible_user(
    state: &AppState,
    caller: &Caller,
    key: &str,
) -> Result<UserRecord, ApiError> {
    let user = state
        .store()
        .user_record(key)
        .await?
        .ok_or(ApiError::NotFound("User"))?;
    let visible = match caller.org {
        None => true,
        Some(org) => user.roles.iter().any(|r| r.org_id == Some(org)) || user.id == caller.user_id,
    };
    if visible {
        Ok(user)
    } else {
        Err(ApiError::NotFound("User"))
    }
}

async fn detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require("users.view_user")?;
    Ok(Json(user_json(&visible_user(&state, &caller, &key).await?)))
}

async fn profile(caller: Caller, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    caller.require("users.view_profile")?;
    let user = state
        .store()
        .user_record(&caller.user_id.to_string())
        .await?
        .ok_or(ApiError::NotAuthenticated)?;
    Ok(Json(user_json(&user)))
}

/// Known input fields; anything else is refused so a typo never silently does nothing.
const WRITABLE: &[&str] = &[
    "name",
    "username",
    "email",
    "password",
    "password_strategy",
    "wechat",
    "phone",
    "mfa_level",
    "is_active",
    "date_expired",
    "comment",
    "need_update_password",
    "system_roles",
    "org_roles",
    "groups",
    "source",
    "labels",
    "public_key",
    "id",
];

fn patch_from(body: &Map<String, Value>) -> Result<UserPatch, ApiError> {
    let mut p = UserPatch {
        name: text(body, "name")?,
        email: text(body, "email")?,
        wechat: text(body, "wechat")?,
        is_active: flag(body, "is_active")?,
        need_update_password: flag(body, "need_update_password")?,
        comment: text(body, "comment")?,
        ..UserPatch::default()
    };
    if let Some(email) = &p.email
        && !email.contains('@')
    {
        return Err(ApiError::field("email", "Enter a valid email address."));
    }
    if let Some(name) = &p.name
        && name.is_empty()
    {
        return Err(ApiError::field("name", "This field may not be blank."));
    }
    match body.get("phone") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => p.phone = Some(Value::Object(o.clone())),
        Some(Value::String(s)) => p.phone = Some(json!({"code": "+86", "phone": s})),
        Some(_) => return Err(ApiError::field("phone", "Not a valid phone.")),
    }
    if let Some(v) = body.get("mfa_level").filter(|v| !v.is_null()) {
        let level = crate::fmt::choice_input(v)
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|l| (0..=2).contains(l))
            .ok_or_else(|| ApiError::field("mfa_level", "\"x\" is not a valid choice."))?;
        p.mfa_level = Some(level);
    }
    match body.get("date_expired") {
        None => {}
        Some(Value::Null) => p.date_expired = Some(None),
        Some(Value::String(s)) => {
            p.date_expired = Some(Some(parse_datetime(s).ok_or_else(|| {
                ApiError::field("date_expired", "Datetime has wrong format.")
            })?))
        }
        Some(_) => {
            return Err(ApiError::field(
                "date_expired",
                "Datetime has wrong format.",
            ));
        }
    }
    Ok(p)
}

/// Read-only fields of the serializer: accepted and ignored on create, as DRF does, so a
/// list exported to a file imports back unchanged.
const READ_ONLY: &[&str] = &[
    "is_superuser",
    "is_org_admin",
    "is_service_account",
    "is_valid",
    "is_expired",
    "is_otp_secret_key_bound",
    "can_public_key_auth",
    "mfa_enabled",
    "mfa_force_enabled",
    "is_first_login",
    "login_blocked",
    "has_public_keys",
    "date_joined",
    "last_login",
    "date_api_key_last_used",
    "date_password_last_updated",
    "date_updated",
    "avatar_url",
    "created_by",
];

/// One user of a create request, checked and ready to write.
struct Prepared {
    new: NewUser,
    patch: UserPatch,
    groups: Vec<Uuid>,
}

/// The groups of a user body, each a group of `org` given by id, `{id, name}` or name (the
/// name is what a spreadsheet carries into another database, where the ids differ).
async fn groups_input(
    state: &AppState,
    org: Uuid,
    body: &Map<String, Value>,
) -> Result<Vec<Uuid>, ApiError> {
    let items = match body.get("groups") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::field("groups", "Expected a list of items.")),
    };
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let id = crate::fmt::related_input(item);
        let name = item.get("name").and_then(Value::as_str).map(str::to_owned);
        let mut found = None;
        for key in [id.clone(), name].into_iter().flatten() {
            if let Some(g) = state.store().user_group(Some(org), &key).await? {
                found = Some(g.id);
                break;
            }
        }
        let Some(g) = found else {
            return Err(ApiError::field(
                "groups",
                format!(
                    "Invalid pk \"{}\" - object does not exist.",
                    id.unwrap_or_default()
                ),
            ));
        };
        if !ids.contains(&g) {
            ids.push(g);
        }
    }
    Ok(ids)
}

/// Checks one user of a create request without writing anything.
async fn prepare(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
    policy: &portcullis_core::password::PasswordPolicy,
    created_by: &str,
) -> Result<Prepared, ApiError> {
    let known: Vec<&str> = WRITABLE.iter().chain(READ_ONLY).copied().collect();
    check_fields(body, &known)?;
    require_fields(body, &["name", "username", "email"])?;
    let patch = patch_from(body)?;
    let username = text(body, "username")?.unwrap_or_default();
    let email = text(body, "email")?.unwrap_or_default();
    let name = text(body, "name")?.unwrap_or_default();
    if !email.contains('@') {
        return Err(ApiError::field("email", "Enter a valid email address."));
    }
    // The store's rule, checked here too so that a bad name fails with the others, before
    // anything of the request is written.
    if username.chars().count() > 128
        || !username
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(ApiError::field(
            "username",
            format!("username `{username}` must be 1-128 letters, digits, `.`, `_` or `-`"),
        ));
    }
    let (password, generated) = match text(body, "password")? {
        Some(p) if !p.is_empty() => {
            policy
                .check(&p, false)
                .map_err(|e| ApiError::field("password", e.to_string()))?;
            (SecretString::new(p), false)
        }
        _ => (SecretString::new(Uuid::new_v4().simple().to_string()), true),
    };
    let system_role = uuids(body, "system_roles")?
        .and_then(|r| r.first().copied())
        .unwrap_or(SYSTEM_USER_ROLE_ID);
    let org_role = uuids(body, "org_roles")?
        .and_then(|r| r.first().copied())
        .unwrap_or(ORG_USER_ROLE_ID);
    if system_role != SYSTEM_USER_ROLE_ID {
        // Granting a system role is itself an RBAC-guarded act.
        caller.require_system("rbac.add_systemrolebinding")?;
    }
    let groups = groups_input(state, caller.write_org(), body).await?;
    let taken = || {
        ApiError::field(
            "username",
            "user with this username or email already exists.",
        )
    };
    if state.store().user_by_username(&username).await?.is_some() {
        return Err(taken());
    }
    let by_email = UserQuery {
        email: Some(email.clone()),
        limit: 1,
        ..UserQuery::default()
    };
    if state.store().list_users(&by_email).await?.0 > 0 {
        return Err(taken());
    }
    Ok(Prepared {
        new: NewUser {
            username,
            name,
            email,
            password,
            system_role,
            org_role: Some((org_role, caller.write_org())),
            created_by: created_by.to_owned(),
            need_update_password: generated,
        },
        patch,
        groups,
    })
}

/// Creates one user or, given an array, many (§1.2): every item is checked first, and
/// nothing is written unless all are good; the 400 then lists one error dict per item.
async fn create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require("users.add_user")?;
    let (items, bulk) = bulk_items(body)?;
    let policy = state.auth().security().await?.password_policy;
    let by = caller_name(&state, &caller).await;
    let mut ready = Vec::with_capacity(items.len());
    let mut errors = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in &items {
        let mut checked = prepare(&state, &caller, item, &policy, &by).await;
        // Two items of one request must not claim the same username or email either.
        if let Ok(p) = &checked
            && ready.iter().any(|r: &Prepared| {
                r.new.username.eq_ignore_ascii_case(&p.new.username)
                    || r.new.email.eq_ignore_ascii_case(&p.new.email)
            })
        {
            checked = Err(ApiError::field(
                "username",
                "user with this username or email already exists.",
            ));
        }
        match checked {
            Ok(p) => {
                ready.push(p);
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
    // The store writes one user per transaction; should a write still fail (a concurrent
    // request took a name), the users this request already created are deleted again.
    let mut created: Vec<Uuid> = Vec::with_capacity(ready.len());
    for p in &ready {
        let written = async {
            let id = state
                .store()
                .create_user(&p.new)
                .await
                .map_err(|e| match e {
                    portcullis_store::StoreError::Conflict(_) => ApiError::field(
                        "username",
                        "user with this username or email already exists.",
                    ),
                    portcullis_store::StoreError::Invalid(msg) => ApiError::field("username", msg),
                    other => other.into(),
                })?;
            created.push(id);
            state.store().update_user(id, &p.patch, "").await?;
            let pairs: Vec<(Uuid, Uuid)> = p.groups.iter().map(|g| (*g, id)).collect();
            state.store().add_group_relations(&pairs).await?;
            Ok::<(), ApiError>(())
        }
        .await;
        if let Err(e) = written {
            for id in &created {
                if let Err(undo) = state.store().delete_user(*id).await {
                    tracing::error!(error = %undo, user = %id, "could not undo a bulk user create");
                }
            }
            return Err(e);
        }
    }
    let mut shown = Vec::with_capacity(created.len());
    for id in created {
        let user = state
            .store()
            .user_record(&id.to_string())
            .await?
            .ok_or(ApiError::NotFound("User"))?;
        let after = user_json(&user);
        audit(
            &state,
            &caller,
            "User",
            "create",
            &user.username,
            &id.to_string(),
            json!({"after": after}),
        )
        .await;
        shown.push(after);
    }
    Ok(bulk_created(shown, bulk))
}

async fn patch(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require("users.change_user")?;
    let body = object(body)?;
    check_fields(&body, WRITABLE)?;
    let before = visible_user(&state, &caller, &key).await?;
    guard_target(&caller, &before, "users.change_user")?;
    if text(&body, "username")?.is_some_and(|u| u != before.username) {
        return Err(ApiError::field(
            "username",
            "The username cannot be changed.",
        ));
    }
    let p = patch_from(&body)?;
    state
        .store()
        .update_user(before.id, &p, &caller_name(&state, &caller).await)
        .await
        .map_err(|e| match e {
            portcullis_store::StoreError::Conflict(_) => {
                ApiError::field("email", "user with this email already exists.")
            }
            other => other.into(),
        })?;
    let after = state
        .store()
        .user_record(&before.id.to_string())
        .await?
        .ok_or(ApiError::NotFound("User"))?;
    let (b, a) = (user_json(&before), user_json(&after));
    audit(
        &state,
        &caller,
        "User",
        "update",
        &after.username,
        &after.id.to_string(),
        diff(&b, &a),
    )
    .await;
    Ok(Json(a))
}

async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    // Deleting removes the user from every org, so it is a system-level act; an org admin
    // removes users from their org instead (`…/remove/`).
    caller.require_system("users.delete_user")?;
    let user = visible_user(&state, &caller, &key).await?;
    if user.id == caller.user_id {
        return Err(ApiError::Refused("You cannot delete yourself".into()));
    }
    state.store().delete_user(user.id).await?;
    audit(
        &state,
        &caller,
        "User",
        "delete",
        &user.username,
        &user.id.to_string(),
        json!({"before": user_json(&user)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

async fn unblock(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require("users.change_user")?;
    let user = visible_user(&state, &caller, &key).await?;
    guard_target(&caller, &user, "users.change_user")?;
    state.store().unblock_user(user.id).await?;
    audit(
        &state,
        &caller,
        "User",
        "update",
        &user.username,
        &user.id.to_string(),
        json!({"unblock": true}),
    )
    .await;
    Ok(Json(ok_msg()))
}

/// An org-level caller may change only users who are plain users and belong to no other org:
/// otherwise an org admin could disable a system administrator, or reach into another tenant.
fn guard_target(caller: &Caller, target: &UserRecord, codename: &str) -> Result<(), ApiError> {
    if caller.roles.grants(None, codename) {
        return Ok(());
    }
    let elevated = target
        .roles
        .iter()
        .any(|r| r.scope == "system" && r.id != SYSTEM_USER_ROLE_ID);
    let elsewhere = target
        .roles
        .iter()
        .any(|r| r.scope == "org" && r.org_id != caller.org);
    if elevated || elsewhere {
        Err(ApiError::PermissionDenied)
    } else {
        Ok(())
    }
}

/// `POST /users/users/<id>/remove/`: drops the user's role bindings in the current org (the
/// org admin's way to take someone out of their tenant; the user itself remains).
async fn remove_from_org(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require("users.delete_user")?;
    let Some(org) = caller.org else {
        return Err(ApiError::Refused(
            "Choose an organization to remove the user from".into(),
        ));
    };
    let user = visible_user(&state, &caller, &key).await?;
    if user.id == caller.user_id {
        return Err(ApiError::Refused("You cannot remove yourself".into()));
    }
    state.store().remove_user_from_org(user.id, org).await?;
    audit(
        &state,
        &caller,
        "User",
        "delete",
        &user.username,
        &user.id.to_string(),
        json!({"removed_from_org": org}),
    )
    .await;
    Ok(Json(ok_msg()))
}
