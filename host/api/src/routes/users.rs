//! `/api/v1/users/…`: users (§4.1) and the caller's profile.

use super::common::{
    audit, caller_name, check_fields, diff, flag, object, require_fields, text, uuids,
};
use super::labels;
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
use portcullis_store::bulk::WriteBatch;
use portcullis_store::labels::LabelRef;
use portcullis_store::users::{
    NewPassword, NewSshKey, NewUser, USER_SOURCES, UserPatch, UserQuery, UserRecord, UserUpdate,
    UserUpdateError,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/users/users/",
            get(list)
                .post(create)
                .put(super::bulk_update::users)
                .patch(super::bulk_update::users),
        )
        .route(
            "/api/v1/users/users/{key}/",
            get(detail).patch(patch).put(patch).delete(remove),
        )
        .route("/api/v1/users/users/suggestions/", get(suggestions))
        .route("/api/v1/users/users/{key}/unblock/", put(unblock))
        .route("/api/v1/users/users/{key}/remove/", post(remove_from_org))
        .route("/api/v1/users/users/{key}/password/", put(set_password))
        .route(
            "/api/v1/users/users/{key}/password/reset/",
            put(reset_password),
        )
        .route("/api/v1/users/users/{key}/pubkey/reset/", put(reset_pubkey))
        .route("/api/v1/users/users/{key}/mfa/reset/", get(reset_mfa))
        .route(
            "/api/v1/users/profile/",
            get(profile).patch(update_profile).put(update_profile),
        )
        .route("/api/v1/users/profile/password/", put(change_own_password))
        // Under /authentication/ as in JumpServer, but served here because the keys are user
        // data; authentication.rs has no `ssh-key` route.
        .route(
            "/api/v1/authentication/ssh-key/",
            get(list_ssh_keys).post(create_ssh_key),
        )
        .route(
            "/api/v1/authentication/ssh-key/{id}/",
            get(ssh_key_detail)
                .patch(update_ssh_key)
                .put(update_ssh_key)
                .delete(delete_ssh_key),
        )
}

fn mfa_label(level: i64) -> &'static str {
    match level {
        1 => "Enable",
        2 => "Force enable",
        _ => "Disable",
    }
}

/// The label of a user source ([`USER_SOURCES`]), as JumpServer shows it.
fn source_label(source: &str) -> String {
    match source {
        "local" => "Local",
        "ldap" => "LDAP/AD",
        "ldap_ha" => "LDAP/AD (HA)",
        "openid" => "OpenID",
        "radius" => "Radius",
        "cas" => "CAS",
        "saml2" => "SAML2",
        "oauth2" => "OAuth2",
        "wecom" => "WeCom",
        "dingtalk" => "DingTalk",
        "feishu" => "FeiShu",
        "lark" => "Lark",
        "slack" => "Slack",
        "custom" => "Custom",
        "ukey" => "UKey",
        other => return other.to_uppercase(),
    }
    .into()
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

/// The label resource type of users.
const USER_TYPE: &str = "users.user";

/// One serialized user with the labels the caller's org put on them.
pub(crate) async fn user_full(
    state: &AppState,
    caller: &Caller,
    u: &UserRecord,
) -> Result<Value, ApiError> {
    let days = state.auth().security().await?.password_expiration_days;
    let mut v = user_json(u);
    v["is_password_expired"] = json!(password_expired(u, days));
    labels::with_labels(state, caller.org, USER_TYPE, v).await
}

/// Microseconds in a day.
const DAY_US: i64 = 86_400 * 1_000_000;

/// Whether the user's password is older than `SECURITY_PASSWORD_EXPIRATION_TIME` (`days`),
/// counted as login counts it: from the last change, or from when the user was made. Shown as
/// `is_password_expired`, the value of JumpServer's user filter of that name.
fn password_expired(u: &UserRecord, days: u32) -> bool {
    let changed = u.date_password_last_updated.unwrap_or(u.date_joined);
    changed.timestamp_micros() + i64::from(days) * DAY_US <= chrono::Utc::now().timestamp_micros()
}

/// The user filters of §4.1 (and `labels=`, §3.4) from the query string, for the page `q`
/// asks for.
async fn user_query(
    state: &AppState,
    caller: &Caller,
    q: &ListQuery,
) -> Result<UserQuery, ApiError> {
    let (limit, offset) = q.window();
    // `id`/`id__in` and the other lookups of `USER_FIELDS` arrive as SQL lookups.
    let mut ids = None;
    labels::narrow_ids(
        &mut ids,
        labels::filter_ids(state, caller, q, USER_TYPE).await?,
    );
    Ok(UserQuery {
        org: caller.org,
        search: q.search.clone(),
        username: q.filters.get("username").cloned(),
        email: q.filters.get("email").cloned(),
        name: q.filters.get("name").cloned(),
        source: q.filters.get("source").cloned(),
        is_active: q.flag("is_active")?,
        group_id: uuid_filter(q, "group_id")?,
        ids,
        lookups: crate::conventions::sql_lookups(q, &portcullis_store::lookups::USER_FIELDS)?,
        password_expired: match q.flag("is_password_expired")? {
            Some(expired) => {
                let days = state.auth().security().await?.password_expiration_days;
                let cutoff = chrono::Utc::now().timestamp_micros() - i64::from(days) * DAY_US;
                Some((expired, cutoff))
            }
            None => None,
        },
        order: q.order.clone(),
        limit,
        offset,
    })
}

async fn list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let query = user_query(&state, &caller, &q).await?;
    let (count, users) = state.store().list_users(&query).await?;
    let days = state.auth().security().await?.password_expiration_days;
    let mut rows: Vec<Value> = users
        .iter()
        .map(|u| {
            let mut v = user_json(u);
            v["is_password_expired"] = json!(password_expired(u, days));
            v
        })
        .collect();
    labels::fill_labels(&state, caller.org, USER_TYPE, &mut rows).await?;
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

/// Finds a user visible in the caller's org (by id or username), or 404.
pub(crate) async fn visible_user(
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
    let user = visible_user(&state, &caller, &key).await?;
    Ok(Json(user_full(&state, &caller, &user).await?))
}

async fn profile(caller: Caller, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let user = state
        .store()
        .user_record(&caller.user_id.to_string())
        .await?
        .ok_or(ApiError::NotAuthenticated)?;
    Ok(Json(profile_json(&user)))
}

/// The profile serializer: the user's fields plus the profile-only ones (§4.1).
fn profile_json(u: &UserRecord) -> Value {
    let mut v = user_json(u);
    if let Value::Object(m) = &mut v {
        m.insert("lang".into(), json!(u.lang));
        m.insert("receive_backends".into(), json!([]));
        m.insert("guide_url".into(), json!(""));
    }
    v
}

/// Known input fields; anything else is refused so a typo never silently does nothing.
pub(crate) const WRITABLE: &[&str] = &[
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
pub(crate) const READ_ONLY: &[&str] = &[
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
    "is_password_expired",
];

/// One user of a create request, checked and ready to write.
struct Prepared {
    new: NewUser,
    patch: UserPatch,
    groups: Vec<Uuid>,
    labels: Vec<LabelRef>,
    public_key: Option<NewSshKey>,
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
    let mut patch = patch;
    patch.source = source_input(body)?;
    let source = patch.source.as_deref().unwrap_or("local");
    // `password_strategy` and `source` as an update takes them; without a password (and no
    // strategy asking for one) the user gets a random one and must choose their own.
    let (password, generated) = match password_input(body, source, false, policy)? {
        Some(p) => (SecretString::new(p), false),
        None => (SecretString::new(Uuid::new_v4().simple().to_string()), true),
    };
    let public_key = public_key_input(state, None, body, created_by).await?;
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
    let labels = labels::labels_checked(state, caller.write_org(), body)
        .await?
        .unwrap_or_default();
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
        labels,
        public_key,
    })
}

/// Creates one user or, given an array, many (§1.2): every item is checked first, and
/// nothing is written unless all are good; the 400 then lists one error dict per item.
async fn create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
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
        // Nor the same SSH key.
        if let Ok(Prepared {
            public_key: Some(k),
            ..
        }) = &checked
            && ready.iter().any(|r: &Prepared| {
                r.public_key
                    .as_ref()
                    .is_some_and(|o| o.fingerprint == k.fingerprint)
            })
        {
            checked = Err(ApiError::field(
                "public_key",
                "This public key is already in use.",
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
            // The rest of the user (fields, source, SSH key, labels, groups) in one more
            // transaction, written as an update writes it.
            let org = caller.write_org();
            let rest = UserUpdate {
                id,
                patch: p.patch.clone(),
                public_key: p.public_key.clone().map(|k| NewSshKey { user_id: id, ..k }),
                labels: (!p.labels.is_empty()).then(|| (org, p.labels.clone())),
                groups: (!p.groups.is_empty()).then(|| (org, p.groups.clone())),
                ..UserUpdate::default()
            };
            state
                .store()
                .apply_user_updates(&[rest], &by)
                .await
                .map_err(|e| update_error(e).1)?;
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
        let after = user_full(&state, &caller, &user).await?;
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

/// What `PATCH`/`PUT /users/users/<id>/` and each item of a bulk update write, checked and
/// ready: nothing of it has been written yet.
struct PreparedUpdate {
    before: UserRecord,
    shown: Value,
    update: UserUpdate,
}

/// `source` of a user body: one of the store's [`USER_SOURCES`], as a value, `{value}` or
/// `Label(value)`; anything else is DRF's choice error.
fn source_input(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let Some(v) = body.get("source").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let value = crate::fmt::choice_input(v).unwrap_or_else(|| v.to_string());
    if USER_SOURCES.contains(&value.as_str()) {
        Ok(Some(value))
    } else {
        Err(ApiError::field(
            "source",
            format!("\"{value}\" is not a valid choice."),
        ))
    }
}

/// Refusal of `password_strategy: email`: a reset link needs mail, and Portcullis has no
/// mail settings or sender.
const NO_MAIL: &str = "Sending a reset link needs email, which is not configured on this \
                       server; use \"custom\" with a password.";

/// The password a user body sets, checked: `password_strategy` `custom` (or none) takes
/// `password`, which must meet the policy (`admin` selects the longer administrator minimum);
/// `email` is refused ([`NO_MAIL`]). A user whose `source` (the one the body sets, else the
/// current one) is not local has no password here: it is refused by name.
/// `custom` given without a password is an error; with neither, no password is set (create
/// then generates one the user must replace).
fn password_input(
    body: &Map<String, Value>,
    source: &str,
    admin: bool,
    policy: &portcullis_core::password::PasswordPolicy,
) -> Result<Option<String>, ApiError> {
    let strategy = body
        .get("password_strategy")
        .filter(|v| !v.is_null())
        .map(|v| crate::fmt::choice_input(v).unwrap_or_else(|| v.to_string()));
    let password = text(body, "password")?.filter(|p| !p.is_empty());
    match strategy.as_deref() {
        None | Some("custom") => {}
        Some("email") => return Err(ApiError::field("password_strategy", NO_MAIL)),
        Some(other) => {
            return Err(ApiError::field(
                "password_strategy",
                format!("\"{other}\" is not a valid choice."),
            ));
        }
    }
    let Some(password) = password else {
        if strategy.is_some() {
            return Err(ApiError::field("password", "This field is required."));
        }
        return Ok(None);
    };
    if source != "local" {
        return Err(ApiError::field(
            "password",
            format!(
                "The password of a {} user is managed by that source",
                source_label(source)
            ),
        ));
    }
    policy
        .check(&password, admin)
        .map_err(|e| ApiError::field("password", e.to_string()))?;
    Ok(Some(password))
}

/// `public_key` (write-only) of a user body: one OpenSSH public key line, added to the user's
/// SSH keys as `/authentication/ssh-key/` adds it. `None` when absent or empty, and when
/// `user` already has that key (it is not added twice); a key another user holds is refused.
async fn public_key_input(
    state: &AppState,
    user: Option<Uuid>,
    body: &Map<String, Value>,
    by: &str,
) -> Result<Option<NewSshKey>, ApiError> {
    let Some(line) = text(body, "public_key")?.filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let key = openssh::parse_public_key(&line).map_err(|e| ApiError::field("public_key", e))?;
    let owners = state.store().ssh_key_owners(&key.fingerprint).await?;
    if owners.iter().any(|o| Some(*o) != user) {
        return Err(ApiError::field(
            "public_key",
            "This public key is already in use.",
        ));
    }
    if !owners.is_empty() {
        return Ok(None);
    }
    let mut name = if key.comment.is_empty() {
        key.fingerprint.clone()
    } else {
        key.comment.clone()
    };
    if name.chars().count() > 128 {
        name = key.fingerprint.clone();
    }
    Ok(Some(NewSshKey {
        user_id: user.unwrap_or_default(),
        name,
        public_key: key.normalized,
        fingerprint: key.fingerprint,
        is_active: true,
        comment: String::new(),
        created_by: by.to_owned(),
    }))
}

/// Checks an update body of user `before` without writing anything: the plain fields,
/// `source`, the password (policy and history), `public_key`, labels, groups and the role
/// sets (with the rights changing them needs).
async fn prepare_update(
    state: &AppState,
    caller: &Caller,
    before: UserRecord,
    body: &Map<String, Value>,
    by: &str,
) -> Result<PreparedUpdate, ApiError> {
    check_fields(body, WRITABLE)?;
    guard_target(caller, &before, "users.change_user")?;
    if text(body, "username")?.is_some_and(|u| u != before.username) {
        return Err(ApiError::field(
            "username",
            "The username cannot be changed.",
        ));
    }
    let mut patch = patch_from(body)?;
    patch.source = source_input(body)?;
    let source = patch
        .source
        .clone()
        .unwrap_or_else(|| before.source.clone());
    let policy = state.auth().security().await?.password_policy;
    let password = match password_input(body, &source, is_admin(&before), &policy)? {
        None => None,
        Some(p) => {
            let history = old_password_count(state).await?;
            let secret = SecretString::new(p);
            if state
                .store()
                .password_reused(before.id, &secret, history)
                .await?
            {
                return Err(ApiError::field(
                    "password",
                    format!("The new password cannot be the last {history} passwords"),
                ));
            }
            Some(NewPassword {
                password: secret,
                need_update: false,
                history,
                changed_by: by.to_owned(),
                remote_addr: caller.ip.to_string(),
            })
        }
    };
    let public_key = public_key_input(state, Some(before.id), body, by).await?;
    let labels = labels::labels_checked(state, caller.write_org(), body)
        .await?
        .map(|refs| (caller.write_org(), refs));
    let roles = role_changes(state, caller, &before, body).await?;
    // `groups` replaces the user's memberships in the org being written to, as on create it
    // sets them; groups of other orgs are not this org's business and stay.
    let groups = match body.get("groups") {
        None | Some(Value::Null) => None,
        Some(_) => Some((
            caller.write_org(),
            groups_input(state, caller.write_org(), body).await?,
        )),
    };
    // A disabled user is out at once, not when their session would have expired.
    let end_sessions = before.is_active && patch.is_active == Some(false);
    let shown = user_full(state, caller, &before).await?;
    Ok(PreparedUpdate {
        update: UserUpdate {
            id: before.id,
            patch,
            password,
            public_key,
            labels,
            groups,
            roles,
            end_sessions,
        },
        before,
        shown,
    })
}

/// The API error of a failed [`Store::apply_user_updates`] step, named by the input it came
/// from; the index says which item of a batch.
fn update_error(e: UserUpdateError) -> (Option<usize>, ApiError) {
    use portcullis_store::StoreError as E;
    use portcullis_store::users::UserUpdateStep as S;
    let err = match (e.step, e.source) {
        (S::Fields, E::Conflict(_)) => {
            ApiError::field("email", "user with this email already exists.")
        }
        (S::Fields, E::Invalid(msg)) => ApiError::field("source", msg),
        (S::Fields, E::NotFound(_)) => ApiError::NotFound("User"),
        (S::Password, E::Invalid(msg)) => ApiError::field("password", msg),
        (S::PublicKey, E::Conflict(_)) => {
            ApiError::field("public_key", "This public key is already in use.")
        }
        (S::Labels, E::Invalid(msg) | E::Conflict(msg)) => ApiError::field("labels", msg),
        (S::Groups, E::Invalid(msg)) => ApiError::field("groups", msg),
        // The one refusal of a role write: the last SystemAdmin binding, a system role.
        (S::Roles, E::Invalid(msg)) => ApiError::field("system_roles", msg),
        (_, other) => other.into(),
    };
    (e.index, err)
}

/// A user update checked by [`plan_user_update`]: what it writes, and the new password's
/// hash, computed before any transaction.
pub(crate) struct UserPlan {
    ready: PreparedUpdate,
    hash: Option<String>,
}

impl UserPlan {
    /// The user it updates.
    pub(crate) fn id(&self) -> Uuid {
        self.ready.before.id
    }
}

/// Checks an update of the user `key` names (id or username, one the caller sees) as
/// [`patch`] does; shared with the bulk update (`routes/bulk_update.rs`). Nothing is written.
pub(crate) async fn plan_user_update(
    state: &AppState,
    caller: &Caller,
    key: &str,
    body: &Map<String, Value>,
    by: &str,
) -> Result<UserPlan, ApiError> {
    let before = visible_user(state, caller, key).await?;
    let ready = prepare_update(state, caller, before, body, by).await?;
    let hash = ready
        .update
        .password_hash()
        .map_err(|e| update_error(e).1)?;
    Ok(UserPlan { ready, hash })
}

/// Writes a planned update (fields, password and its history, SSH key, labels, groups, role
/// bindings, ended sessions) inside `batch`; a refusal names the input it came from.
pub(crate) async fn apply_user_update(
    batch: &mut WriteBatch,
    plan: &UserPlan,
    by: &str,
) -> Result<(), ApiError> {
    batch
        .update_user(&plan.ready.update, plan.hash.as_deref(), by)
        .await
        .map_err(|e| update_error(e).1)
}

/// After the commit: the user as the API shows it now (what was written, should someone have
/// deleted the user since), the username, and the operation log's diff against the plan's
/// "before" (a new password and an added key marked, never shown).
pub(crate) async fn updated_user(
    state: &AppState,
    caller: &Caller,
    plan: &UserPlan,
) -> (Value, String, Value) {
    let p = &plan.ready;
    let after = match state.store().user_record(&p.before.id.to_string()).await {
        Ok(Some(u)) => u,
        _ => p.before.clone(),
    };
    let a = match user_full(state, caller, &after).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = ?e, "could not show an updated user");
            user_json(&after)
        }
    };
    let mut changes = diff(&p.shown, &a);
    if p.update.password.is_some() {
        changes["password"] = json!("******");
    }
    if p.update.public_key.is_some() {
        changes["public_key_added"] = json!(true);
    }
    (a, after.username, changes)
}

/// `PATCH`/`PUT /users/users/<key>/`: every part of the update written in one transaction,
/// logged once committed. Bulk `PUT`/`PATCH` of the list is `bulk_update::users`, through
/// the same plan, apply and read-back steps.
async fn patch(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require("users.change_user")?;
    let body = object(body)?;
    check_fields(&body, WRITABLE)?;
    let by = caller_name(&state, &caller).await;
    let plan = plan_user_update(&state, &caller, &key, &body, &by).await?;
    let mut batch = state.store().begin_batch().await?;
    apply_user_update(&mut batch, &plan, &by).await?;
    batch.commit().await?;
    let (a, name, d) = updated_user(&state, &caller, &plan).await;
    audit(
        &state,
        &caller,
        "User",
        "update",
        &name,
        &plan.id().to_string(),
        d,
    )
    .await;
    Ok(Json(a))
}

/// The role sets an update body changes: `(None, roles)` for `system_roles`, `(Some(org),
/// roles)` for `org_roles` in the org being written to. Each list replaces what the user holds
/// in that scope, as JumpServer's serializer sets the relation. Everything is checked before
/// anything is written: each id must name a role of the field's scope, and changing a set
/// needs the rights the role-binding endpoints need (system ones system-wide), so an org
/// admin cannot make anyone a system administrator through this door. A list equal to the
/// current one is no change and needs no right, so a GET-edit-PUT round trip still works.
async fn role_changes(
    state: &AppState,
    caller: &Caller,
    user: &UserRecord,
    body: &Map<String, Value>,
) -> Result<Vec<(Option<Uuid>, Vec<Uuid>)>, ApiError> {
    let mut out = Vec::new();
    for (field, scope) in [("system_roles", "system"), ("org_roles", "org")] {
        let org = (scope == "org").then(|| caller.write_org());
        let Some(ids) = uuids(&other_orgs_dropped(body, field, org), field)? else {
            continue;
        };
        let mut wanted: Vec<Uuid> = Vec::with_capacity(ids.len());
        for id in ids {
            if wanted.contains(&id) {
                continue;
            }
            let known = state
                .store()
                .role_record(&id.to_string(), Some(scope), caller.org)
                .await?;
            if known.is_none() {
                return Err(ApiError::field(
                    field,
                    format!("Invalid pk \"{id}\" - object does not exist."),
                ));
            }
            wanted.push(id);
        }
        let held: Vec<Uuid> = user
            .roles
            .iter()
            .filter(|r| r.scope == scope && r.org_id == org)
            .map(|r| r.id)
            .collect();
        let added = wanted.iter().any(|r| !held.contains(r));
        let removed = held.iter().any(|r| !wanted.contains(r));
        let check = |action: &str| {
            let code = format!("rbac.{action}_{scope}rolebinding");
            if scope == "system" {
                caller.require_system(&code)
            } else {
                caller.require(&code)
            }
        };
        if added {
            check("add")?;
        }
        if removed {
            check("delete")?;
        }
        if added || removed {
            out.push((org, wanted));
        }
    }
    Ok(out)
}

/// The body with the `org_roles` entries of other orgs left out. The serializer lists a
/// user's org roles of every org, each with its `org_id`, and an update writes the set of the
/// org it is made in; without this a GET-edit-PUT in one org would copy roles the user holds
/// elsewhere (say OrgAdmin of another org) into this one.
fn other_orgs_dropped(
    body: &Map<String, Value>,
    field: &str,
    org: Option<Uuid>,
) -> Map<String, Value> {
    let mut body = body.clone();
    if let (Some(org), Some(Value::Array(items))) = (org, body.get_mut(field)) {
        let here = org.to_string();
        items.retain(|item| match item.get("org_id") {
            Some(Value::String(o)) => *o == here,
            _ => true,
        });
    }
    body
}

async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    // Deleting removes the user from every org, so it is a system-level act; an org admin
    // removes users from their org instead (`…/remove/`).
    let user = visible_user(&state, &caller, &key).await?;
    if user.id == caller.user_id {
        return Err(ApiError::Refused("You cannot delete yourself".into()));
    }
    let before = user_full(&state, &caller, &user).await?;
    // The store removes the label bindings of the user (of every org) with them.
    state.store().delete_user(user.id).await?;
    audit(
        &state,
        &caller,
        "User",
        "delete",
        &user.username,
        &user.id.to_string(),
        json!({"before": before}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

async fn unblock(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
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

// ---------------------------------------------------------------------------------------------
// Quick actions on a user
// ---------------------------------------------------------------------------------------------

/// `SECURITY_OLD_PASSWORD_COUNT`: how many previous passwords may not be reused (JumpServer's
/// default 5). Read here because the auth crate's settings do not carry it yet.
pub(crate) async fn old_password_count(state: &AppState) -> Result<usize, ApiError> {
    let value = state.store().setting("SECURITY_OLD_PASSWORD_COUNT").await?;
    let n = match value {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Ok(n.map_or(5, |n| usize::try_from(n.min(100)).unwrap_or(5)))
}

/// Administrators (system or org) need the longer admin minimum, as in JumpServer.
pub(crate) fn is_admin(u: &UserRecord) -> bool {
    u.roles
        .iter()
        .any(|r| r.id == SYSTEM_ADMIN_ROLE_ID || r.id == builtin::ORG_ADMIN_ROLE_ID)
}

/// Checks `password` against the policy and the history and stores it; the store logs the
/// change and ends the user's sessions and bearer tokens.
async fn set_password_checked(
    state: &AppState,
    caller: &Caller,
    user: &UserRecord,
    password: &str,
    need_update: bool,
) -> Result<(), ApiError> {
    let policy = state.auth().security().await?.password_policy;
    policy
        .check(password, is_admin(user))
        .map_err(|e| ApiError::field("password", e.to_string()))?;
    store_password(state, caller, user, password, need_update, "password").await
}

/// Stores a password already checked against the policy; `field` names the input for a
/// history refusal.
async fn store_password(
    state: &AppState,
    caller: &Caller,
    user: &UserRecord,
    password: &str,
    need_update: bool,
    field: &str,
) -> Result<(), ApiError> {
    use portcullis_store::users::{PasswordChange, PasswordChanged};
    let history = old_password_count(state).await?;
    let secret = SecretString::new(password.to_owned());
    let by = caller_name(state, caller).await;
    let remote = caller.ip.to_string();
    let change = PasswordChange {
        password: &secret,
        need_update,
        history,
        changed_by: &by,
        remote_addr: &remote,
    };
    match state.store().change_user_password(user.id, &change).await? {
        PasswordChanged::Done => Ok(()),
        PasswordChanged::Reused => Err(ApiError::field(
            field,
            format!("The new password cannot be the last {history} passwords"),
        )),
        PasswordChanged::NoUser => Err(ApiError::NotFound("User")),
    }
}

/// `PUT /users/users/<id>/password/` `{password}`: an administrator sets a user's password.
async fn set_password(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    check_fields(&body, &["password", "id"])?;
    require_fields(&body, &["password"])?;
    let user = visible_user(&state, &caller, &key).await?;
    guard_target(&caller, &user, "users.change_user")?;
    let password = text(&body, "password")?.unwrap_or_default();
    set_password_checked(&state, &caller, &user, &password, false).await?;
    audit(
        &state,
        &caller,
        "User",
        "update",
        &user.username,
        &user.id.to_string(),
        json!({"password": "******"}),
    )
    .await;
    Ok(Json(ok_msg()))
}

/// A random password meeting `policy`: 20 characters (or the policy's minimum if longer)
/// with every character class, drawn from the OS generator behind UUIDv4.
fn temporary_password(policy: &portcullis_core::password::PasswordPolicy) -> String {
    const CLASSES: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"!@#%^*-_=+",
    ];
    let len = policy.min_length.max(policy.admin_min_length).max(20);
    let mut random = Vec::with_capacity(len * 2);
    while random.len() < len * 2 {
        random.extend_from_slice(Uuid::new_v4().as_bytes());
    }
    // The first four characters are one of each class; positions are then mixed by the
    // remaining random bytes, so the classes do not sit at fixed places.
    let mut chars: Vec<u8> = random
        .iter()
        .take(len)
        .enumerate()
        .map(|(i, b)| {
            let class = CLASSES[if i < 4 { i } else { usize::from(*b) % 4 }];
            class[usize::from(*b) % class.len()]
        })
        .collect();
    for i in (1..chars.len()).rev() {
        let j = usize::from(random[len + i]) % (i + 1);
        chars.swap(i, j);
    }
    String::from_utf8_lossy(&chars).into_owned()
}

/// `PUT /users/users/<id>/password/reset/`. JumpServer mails a reset link; Portcullis sends no
/// mail yet, so instead it sets a random temporary password, returns it once in the answer
/// (`{"msg", "password"}`: the administrator hands it over), and marks the user to choose a
/// new one at the next login. The temporary password is never stored in clear.
async fn reset_password(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = visible_user(&state, &caller, &key).await?;
    guard_target(&caller, &user, "users.change_user")?;
    if user.source != "local" {
        return Err(ApiError::Refused(format!(
            "The password of a {} user is managed by that source",
            source_label(&user.source)
        )));
    }
    let policy = state.auth().security().await?.password_policy;
    let password = temporary_password(&policy);
    store_password(&state, &caller, &user, &password, true, "password").await?;
    audit(
        &state,
        &caller,
        "User",
        "update",
        &user.username,
        &user.id.to_string(),
        json!({"password_reset": true}),
    )
    .await;
    Ok(Json(json!({
        "msg": "A temporary password was set; the user must change it at the next login. \
                It is shown only this once (reset by email is not available).",
        "password": password,
    })))
}

/// `PUT /users/users/<id>/pubkey/reset/`: removes every SSH public key of the user.
async fn reset_pubkey(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = visible_user(&state, &caller, &key).await?;
    guard_target(&caller, &user, "users.change_user")?;
    let removed = state.store().delete_user_ssh_keys(user.id).await?;
    audit(
        &state,
        &caller,
        "User",
        "update",
        &user.username,
        &user.id.to_string(),
        json!({"public_keys_removed": removed}),
    )
    .await;
    Ok(Json(ok_msg()))
}

/// `GET /users/users/<id>/mfa/reset/`: unbinds the user's OTP secret (a GET that writes, as
/// in JumpServer).
async fn reset_mfa(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require("users.change_user")?;
    let user = visible_user(&state, &caller, &key).await?;
    guard_target(&caller, &user, "users.change_user")?;
    if !state.auth().reset_mfa(user.id).await? {
        return Err(ApiError::NotFound("User"));
    }
    audit(
        &state,
        &caller,
        "User",
        "update",
        &user.username,
        &user.id.to_string(),
        json!({"mfa_reset": true}),
    )
    .await;
    Ok(Json(ok_msg()))
}

/// `GET /users/users/suggestions/`: `{id, name, username}` (JumpServer's
/// `MiniUserSerializer`) of the first [`labels::SUGGESTION_LIMIT`] users of the current org
/// that the list's filters match.
async fn suggestions(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let mut query = user_query(&state, &caller, &q).await?;
    (query.limit, query.offset) = labels::suggestion_window(&q);
    let (count, users) = state.store().list_users(&query).await?;
    let rows = users
        .iter()
        .map(|u| json!({"id": u.id, "name": u.name, "username": u.username}))
        .collect();
    Ok(Json(labels::suggestions_respond(
        &q, &uri, &host, count, rows,
    )))
}

// ---------------------------------------------------------------------------------------------
// Self-service
// ---------------------------------------------------------------------------------------------

/// What a user may change of their own profile; everything else is an administrator's.
const PROFILE_WRITABLE: &[&str] = &["name", "email", "phone", "wechat", "comment", "lang"];

/// `PATCH`/`PUT /users/profile/`. Fields of the serializer that are not the user's to change
/// are refused by name (so `is_active` or `system_roles` is never silently ignored); read-only
/// ones are accepted and ignored, so a GET-edit-PUT round trip works.
async fn update_profile(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let before = state
        .store()
        .user_record(&caller.user_id.to_string())
        .await?
        .ok_or(ApiError::NotAuthenticated)?;
    let shown = profile_json(&before);
    let mut refused = std::collections::BTreeMap::new();
    for (k, v) in &body {
        if PROFILE_WRITABLE.contains(&k.as_str()) {
            continue;
        }
        let read_only = READ_ONLY.contains(&k.as_str())
            || shown.get(k).is_some_and(|cur| cur == v)
            || k == "id";
        if !read_only {
            let msg = if shown.get(k).is_some() || WRITABLE.contains(&k.as_str()) {
                "You cannot change this field in your profile."
            } else {
                "Unknown field."
            };
            refused.insert(k.clone(), vec![msg.to_owned()]);
        }
    }
    if !refused.is_empty() {
        return Err(ApiError::Fields(refused));
    }
    let mut writable = Map::new();
    for k in PROFILE_WRITABLE {
        if let Some(v) = body.get(*k) {
            writable.insert((*k).to_owned(), v.clone());
        }
    }
    let mut p = patch_from(&writable)?;
    p.lang = text(&writable, "lang")?;
    if p.lang.as_ref().is_some_and(|l| l.chars().count() > 16) {
        return Err(ApiError::field(
            "lang",
            "Ensure this field has no more than 16 characters.",
        ));
    }
    let by = format!("{}({})", before.name, before.username);
    state
        .store()
        .update_user(before.id, &p, &by)
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
        .ok_or(ApiError::NotAuthenticated)?;
    let a = profile_json(&after);
    audit(
        &state,
        &caller,
        "User",
        "update",
        &after.username,
        &after.id.to_string(),
        diff(&shown, &a),
    )
    .await;
    Ok(Json(a))
}

/// `PUT /users/profile/password/` `{old_password, new_password, new_password_again}`. The old
/// password is verified, the new one checked against the policy and the history. As in
/// JumpServer, every session of the user ends, this one included: log in again with the new
/// password.
async fn change_own_password(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    check_fields(
        &body,
        &["old_password", "new_password", "new_password_again"],
    )?;
    require_fields(
        &body,
        &["old_password", "new_password", "new_password_again"],
    )?;
    let user = state
        .store()
        .user_record(&caller.user_id.to_string())
        .await?
        .ok_or(ApiError::NotAuthenticated)?;
    if user.source != "local" {
        return Err(ApiError::Refused(format!(
            "The password of a {} user is managed by that source",
            source_label(&user.source)
        )));
    }
    // Not trimmed: spaces are part of a password.
    let raw = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::field(name, "Not a valid string."))
    };
    let (old, new, again) = (
        raw("old_password")?,
        raw("new_password")?,
        raw("new_password_again")?,
    );
    let hash = state.store().user_password_hash(user.id).await?;
    let old_ok =
        hash.is_some_and(|h| portcullis_core::password::verify_password(&old, &h).unwrap_or(false));
    if !old_ok {
        return Err(ApiError::field("old_password", "Old password error"));
    }
    if new != again {
        return Err(ApiError::field(
            "new_password_again",
            "The newly set password is inconsistent",
        ));
    }
    let policy = state.auth().security().await?.password_policy;
    policy
        .check(&new, is_admin(&user))
        .map_err(|e| ApiError::field("new_password", e.to_string()))?;
    store_password(&state, &caller, &user, &new, false, "new_password").await?;
    audit(
        &state,
        &caller,
        "User",
        "update",
        &user.username,
        &user.id.to_string(),
        json!({"password": "******"}),
    )
    .await;
    Ok(Json(ok_msg()))
}

// ---------------------------------------------------------------------------------------------
// The caller's SSH public keys: /authentication/ssh-key/
// ---------------------------------------------------------------------------------------------

fn ssh_key_json(k: &portcullis_store::users::SshKeyRecord) -> Value {
    let parsed = openssh::parse_public_key(&k.public_key).ok();
    json!({
        "id": k.id,
        "name": k.name,
        "public_key": k.public_key,
        "public_key_comment": parsed.as_ref().map_or("", |p| p.comment.as_str()),
        "public_key_hash_md5": parsed.as_ref().map_or(String::new(), |p| p.md5.clone()),
        "fingerprint": k.fingerprint,
        "is_active": k.is_active,
        "comment": k.comment,
        "date_last_used": opt_datetime(k.date_last_used),
        "date_created": datetime(k.date_created),
        "date_updated": datetime(k.date_updated),
        "created_by": k.created_by,
    })
}

async fn list_ssh_keys(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    caller.require("authentication.view_sshkey")?;
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let (count, keys) = state
        .store()
        .list_ssh_keys(caller.user_id, limit, offset)
        .await?;
    let rows = keys.iter().map(ssh_key_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

pub(crate) const SSH_KEY_FIELDS: &[&str] = &[
    "name",
    "public_key",
    "is_active",
    "comment",
    "generate_key_type",
    "id",
    "public_key_comment",
    "public_key_hash_md5",
    "fingerprint",
    "date_last_used",
    "date_created",
    "date_updated",
    "created_by",
];

/// Creates a key from `public_key` (one OpenSSH line). Generating a key pair on the server
/// (`generate_key_type`) is not offered: the private half would have to travel to the user.
async fn create_ssh_key(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = object(body)?;
    check_fields(&body, SSH_KEY_FIELDS)?;
    require_fields(&body, &["public_key"])?;
    let line = text(&body, "public_key")?.unwrap_or_default();
    let key = openssh::parse_public_key(&line).map_err(|e| ApiError::field("public_key", e))?;
    let name = match text(&body, "name")? {
        Some(n) if !n.is_empty() => n,
        _ if !key.comment.is_empty() => key.comment.clone(),
        _ => key.fingerprint.clone(),
    };
    if name.chars().count() > 128 {
        return Err(ApiError::field(
            "name",
            "Ensure this field has no more than 128 characters.",
        ));
    }
    let new = portcullis_store::users::NewSshKey {
        user_id: caller.user_id,
        name,
        public_key: key.normalized.clone(),
        fingerprint: key.fingerprint.clone(),
        is_active: flag(&body, "is_active")?.unwrap_or(true),
        comment: text(&body, "comment")?.unwrap_or_default(),
        created_by: caller_name(&state, &caller).await,
    };
    let id = state
        .store()
        .insert_ssh_key(&new)
        .await
        .map_err(|e| match e {
            portcullis_store::StoreError::Conflict(_) => {
                ApiError::field("public_key", "This public key is already in use.")
            }
            other => other.into(),
        })?;
    let stored = state
        .store()
        .ssh_key(caller.user_id, id)
        .await?
        .ok_or(ApiError::NotFound("SSH key"))?;
    let shown = ssh_key_json(&stored);
    audit(
        &state,
        &caller,
        "SSHKey",
        "create",
        &stored.name,
        &id.to_string(),
        json!({"after": shown}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(shown)))
}

async fn own_ssh_key(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<portcullis_store::users::SshKeyRecord, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("SSH key"))?;
    state
        .store()
        .ssh_key(caller.user_id, id)
        .await?
        .ok_or(ApiError::NotFound("SSH key"))
}

async fn ssh_key_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(ssh_key_json(
        &own_ssh_key(&state, &caller, &id).await?,
    )))
}

/// Changes a key's name, comment or active flag. The key material cannot change (a new key
/// is a new entry): a different `public_key` is refused rather than ignored.
async fn update_ssh_key(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require("authentication.change_sshkey")?;
    let body = object(body)?;
    check_fields(&body, SSH_KEY_FIELDS)?;
    let before = own_ssh_key(&state, &caller, &id).await?;
    if let Some(line) = text(&body, "public_key")? {
        let same =
            openssh::parse_public_key(&line).is_ok_and(|k| k.fingerprint == before.fingerprint);
        if !same {
            return Err(ApiError::field(
                "public_key",
                "The key cannot be changed; add a new key instead.",
            ));
        }
    }
    let patch = portcullis_store::users::SshKeyPatch {
        name: text(&body, "name")?.filter(|n| !n.is_empty()),
        is_active: flag(&body, "is_active")?,
        comment: text(&body, "comment")?,
    };
    state
        .store()
        .update_ssh_key(
            caller.user_id,
            before.id,
            &patch,
            &caller_name(&state, &caller).await,
        )
        .await?;
    let after = own_ssh_key(&state, &caller, &id).await?;
    let (b, a) = (ssh_key_json(&before), ssh_key_json(&after));
    audit(
        &state,
        &caller,
        "SSHKey",
        "update",
        &after.name,
        &after.id.to_string(),
        diff(&b, &a),
    )
    .await;
    Ok(Json(a))
}

async fn delete_ssh_key(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require("authentication.delete_sshkey")?;
    let key = own_ssh_key(&state, &caller, &id).await?;
    state.store().delete_ssh_key(caller.user_id, key.id).await?;
    audit(
        &state,
        &caller,
        "SSHKey",
        "delete",
        &key.name,
        &key.id.to_string(),
        json!({"before": ssh_key_json(&key)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// OpenSSH public keys: checking the one-line form and fingerprinting it as `ssh-keygen -l`
/// does. The hashes and base64 are written out here because the API crate carries no hashing
/// dependency; they are checked against published test vectors and against `ssh-keygen` in
/// the end-to-end tests. (They belong in `core` next to the other crypto once its manifest can
/// take `md-5`.)
mod openssh {
    /// A parsed key.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) struct PublicKey {
        /// `type base64 comment`, whitespace normalized.
        pub normalized: String,
        /// The comment after the key, possibly empty.
        pub comment: String,
        /// `SHA256:<unpadded base64>`.
        pub fingerprint: String,
        /// `MD5:aa:bb:…`, as JumpServer's `public_key_hash_md5`.
        pub md5: String,
    }

    /// Key types accepted. DSA is not: OpenSSH itself disabled it.
    const TYPES: &[&str] = &[
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ];

    /// RSA keys shorter than this are refused (NIST's floor; OpenSSH warns below it).
    const RSA_MIN_BITS: usize = 2048;

    /// Reads SSH wire-format fields (RFC 4251 §5).
    struct Reader<'a>(&'a [u8]);

    impl<'a> Reader<'a> {
        fn string(&mut self) -> Result<&'a [u8], String> {
            let bad = || "The key data is truncated.".to_owned();
            let (len, rest) = self.0.split_at_checked(4).ok_or_else(bad)?;
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            let len = usize::try_from(len).map_err(|_| bad())?;
            let (value, rest) = rest.split_at_checked(len).ok_or_else(bad)?;
            self.0 = rest;
            Ok(value)
        }
    }

    /// Checks one OpenSSH public key line (`ssh-ed25519 AAAA… comment`): a known type, valid
    /// base64, a blob whose inner type matches, sound key sizes and nothing left over.
    pub(super) fn parse_public_key(line: &str) -> Result<PublicKey, String> {
        let line = line.trim();
        if line.len() > 16 * 1024 || line.contains(['\n', '\r']) {
            return Err("Enter one OpenSSH public key on one line.".into());
        }
        let mut parts = line.split_whitespace();
        let kind = parts.next().unwrap_or_default();
        if !TYPES.contains(&kind) {
            return Err(format!(
                "Not an OpenSSH public key: the type must be one of {}.",
                TYPES.join(", ")
            ));
        }
        let b64 = parts.next().ok_or("The key data is missing.")?;
        let comment = parts.collect::<Vec<_>>().join(" ");
        let blob = base64_decode(b64).ok_or("The key data is not valid base64.")?;
        let mut r = Reader(&blob);
        if r.string()? != kind.as_bytes() {
            return Err("The key data does not match the key type.".into());
        }
        match kind {
            "ssh-ed25519" | "sk-ssh-ed25519@openssh.com" => {
                if r.string()?.len() != 32 {
                    return Err("An Ed25519 key must be 32 bytes.".into());
                }
            }
            "ssh-rsa" => {
                let e = strip_zeros(r.string()?);
                let n = strip_zeros(r.string()?);
                let bits = n
                    .first()
                    .map_or(0, |b| (n.len() - 1) * 8 + (8 - b.leading_zeros() as usize));
                if e.is_empty() || e.last().is_some_and(|b| b % 2 == 0) {
                    return Err("The RSA exponent is invalid.".into());
                }
                if bits < RSA_MIN_BITS {
                    return Err(format!(
                        "The RSA key is {bits} bits; at least {RSA_MIN_BITS} are required."
                    ));
                }
                if bits > 16384 {
                    return Err("The RSA key is too long.".into());
                }
            }
            _ => {
                // ECDSA, plain or security-key.
                let curve = kind
                    .trim_start_matches("sk-")
                    .trim_start_matches("ecdsa-sha2-")
                    .trim_end_matches("@openssh.com");
                if r.string()? != curve.as_bytes() {
                    return Err("The ECDSA curve does not match the key type.".into());
                }
                let point = r.string()?;
                let expected = match curve {
                    "nistp256" => 65,
                    "nistp384" => 97,
                    _ => 133,
                };
                if point.len() != expected || point.first() != Some(&4) {
                    return Err("The ECDSA point is invalid.".into());
                }
            }
        }
        if kind.starts_with("sk-") {
            // The FIDO application, e.g. `ssh:`.
            r.string()?;
        }
        if !r.0.is_empty() {
            return Err("The key data has trailing bytes.".into());
        }
        let md5_hex: Vec<String> = md5(&blob).iter().map(|b| format!("{b:02x}")).collect();
        let normalized = if comment.is_empty() {
            format!("{kind} {b64}")
        } else {
            format!("{kind} {b64} {comment}")
        };
        Ok(PublicKey {
            normalized,
            comment,
            fingerprint: format!("SHA256:{}", base64_encode_unpadded(&sha256(&blob))),
            md5: format!("MD5:{}", md5_hex.join(":")),
        })
    }

    fn strip_zeros(b: &[u8]) -> &[u8] {
        let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
        &b[first..]
    }

    /// Standard base64, padding optional (OpenSSH writes it; people paste without it).
    pub(super) fn base64_decode(text: &str) -> Option<Vec<u8>> {
        use base64::Engine as _;
        use base64::engine::DecodePaddingMode;
        use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
        const LENIENT: GeneralPurpose = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        LENIENT.decode(text).ok()
    }

    /// Unpadded standard base64, as `ssh-keygen -l` prints SHA256 fingerprints.
    pub(super) fn base64_encode_unpadded(data: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(data)
    }

    pub(super) fn sha256(data: &[u8]) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(data).into()
    }

    pub(super) fn md5(data: &[u8]) -> [u8; 16] {
        use md5::Digest as _;
        md5::Md5::digest(data).into()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn hex(b: &[u8]) -> String {
            b.iter().map(|x| format!("{x:02x}")).collect()
        }

        #[test]
        fn hashes_match_the_published_vectors() {
            assert_eq!(
                hex(&sha256(b"abc")),
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            );
            assert_eq!(
                hex(&sha256(b"")),
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            );
            let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
            assert_eq!(
                hex(&sha256(long)),
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            );
            assert_eq!(hex(&md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
            assert_eq!(hex(&md5(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
            assert_eq!(
                hex(&md5(b"12345678901234567890123456789012345678901234567890123456789012345678901234567890")),
                "57edf4a22be3c955ac49da2e2107b67a"
            );
        }

        #[test]
        fn base64_round_trips_and_refuses_junk() {
            assert_eq!(base64_decode("Zm9vYmFy").as_deref(), Some(&b"foobar"[..]));
            assert_eq!(base64_decode("Zm9vYg==").as_deref(), Some(&b"foob"[..]));
            assert_eq!(base64_decode("Zm9vYg").as_deref(), Some(&b"foob"[..]));
            assert_eq!(base64_encode_unpadded(b"foob"), "Zm9vYg");
            assert_eq!(base64_encode_unpadded(b"foobar"), "Zm9vYmFy");
            assert!(base64_decode("Zm9v!mFy").is_none());
            assert!(base64_decode("Zm9vY").is_none());
            assert!(
                base64_decode("Zm9vYh==").is_none(),
                "non-zero leftover bits"
            );
        }
    }
}
