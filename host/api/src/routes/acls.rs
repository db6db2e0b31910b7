//! `/api/v1/acls/…` (reference §4.13): command groups, command-filter ACLs, login ACLs,
//! login-asset (connect) ACLs and connect-method ACLs.
//!
//! Every selector, IP list, time window and command group is checked with the core's own
//! parsers (`Selector::compile`, `IpSet::parse`, `TimeWindows::parse`,
//! `CompiledCommandGroup::compile`) before anything is written, so a row the API accepted is a
//! row the listeners can evaluate; the store's loaders treat anything else as corruption.
//!
//! The four ACL endpoints share one set of handlers, selected by a const generic naming the
//! [`Kind`]; command groups have their own. Login and connect-method ACLs are system-wide, so
//! they need a *system-level* grant of their permission: an org administrator's `*` in one org
//! must not let them write rules that decide every user's login.

use super::common::{
    audit, caller_name, check_fields, diff, flag, int, object, require_fields, text, uuids,
};
use crate::ctx::Caller;
use crate::error::ApiError;
use crate::fmt::{choice, choice_input, datetime, stub};
use crate::list::ListQuery;
use crate::{AppState, Host};
use axum::extract::rejection::JsonRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use portcullis_core::acl::{
    CommandGroup, CommandGroupKind, CompiledCommandGroup, IpSet, Selector, SelectorSpec,
    TimePeriodDay, TimeWindows, validate_priority,
};
use portcullis_core::builtin::DEFAULT_ORG_ID;
use portcullis_store::StoreError;
use portcullis_store::acls::{
    AclQuery, AclRecord, AclTable, AclWrite, CommandGroupQuery, CommandGroupRecord,
    CommandGroupWrite,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// [`Kind`] selector: command-filter ACLs.
const CMD: u8 = 0;
/// [`Kind`] selector: login ACLs.
const LOGIN: u8 = 1;
/// [`Kind`] selector: login-asset (connect) ACLs.
const CONNECT: u8 = 2;
/// [`Kind`] selector: connect-method ACLs.
const METHOD: u8 = 3;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/acls/command-groups/",
            get(group_list).post(group_create),
        )
        .route(
            "/api/v1/acls/command-groups/{key}/",
            get(group_detail)
                .patch(group_patch)
                .put(group_patch)
                .delete(group_remove),
        )
        .route(
            "/api/v1/acls/command-filter-acls/",
            get(list::<CMD>).post(create::<CMD>),
        )
        .route(
            "/api/v1/acls/command-filter-acls/{key}/",
            get(detail::<CMD>)
                .patch(patch::<CMD>)
                .put(patch::<CMD>)
                .delete(remove::<CMD>),
        )
        .route(
            "/api/v1/acls/login-acls/",
            get(list::<LOGIN>).post(create::<LOGIN>),
        )
        .route(
            "/api/v1/acls/login-acls/{key}/",
            get(detail::<LOGIN>)
                .patch(patch::<LOGIN>)
                .put(patch::<LOGIN>)
                .delete(remove::<LOGIN>),
        )
        .route(
            "/api/v1/acls/login-asset-acls/",
            get(list::<CONNECT>).post(create::<CONNECT>),
        )
        .route(
            "/api/v1/acls/login-asset-acls/{key}/",
            get(detail::<CONNECT>)
                .patch(patch::<CONNECT>)
                .put(patch::<CONNECT>)
                .delete(remove::<CONNECT>),
        )
        .route(
            "/api/v1/acls/connect-method-acls/",
            get(list::<METHOD>).post(create::<METHOD>),
        )
        .route(
            "/api/v1/acls/connect-method-acls/{key}/",
            get(detail::<METHOD>)
                .patch(patch::<METHOD>)
                .put(patch::<METHOD>)
                .delete(remove::<METHOD>),
        )
}

/// What differs between the four ACL endpoints.
struct Kind {
    /// The table.
    table: AclTable,
    /// The operation log's resource type and the 404 model name.
    resource: &'static str,
    /// Allowed actions `(value, label)`, as the table's CHECK and the core's enum allow.
    actions: &'static [(&'static str, &'static str)],
}

const REJECT: (&str, &str) = ("reject", "Reject");
const ACCEPT: (&str, &str) = ("accept", "Accept");
const REVIEW: (&str, &str) = ("review", "Review");
const NOTICE: (&str, &str) = ("notice", "Notifications");

static KIND_CMD: Kind = Kind {
    table: AclTable::CommandFilter,
    resource: "CommandFilterACL",
    actions: &[
        REJECT,
        ACCEPT,
        REVIEW,
        ("warning", "Warning"),
        ("notify_and_warn", "Prompt and warn"),
    ],
};
static KIND_LOGIN: Kind = Kind {
    table: AclTable::Login,
    resource: "LoginACL",
    actions: &[REJECT, ACCEPT, REVIEW, NOTICE],
};
// JumpServer's licence-only face_verify / face_online are not offered: the core cannot
// evaluate them.
static KIND_CONNECT: Kind = Kind {
    table: AclTable::Connect,
    resource: "LoginAssetACL",
    actions: &[REJECT, ACCEPT, REVIEW, NOTICE],
};
static KIND_METHOD: Kind = Kind {
    table: AclTable::ConnectMethod,
    resource: "ConnectMethodACL",
    actions: &[REJECT, ACCEPT],
};

fn kind(k: u8) -> &'static Kind {
    match k {
        CMD => &KIND_CMD,
        LOGIN => &KIND_LOGIN,
        CONNECT => &KIND_CONNECT,
        _ => &KIND_METHOD,
    }
}

/// Field errors gathered across a whole body, so a client sees every problem at once, as DRF
/// reports them. Any other error (a failure, not bad input) wins over them.
#[derive(Default)]
struct Errors {
    fields: BTreeMap<String, Vec<String>>,
    fatal: Option<ApiError>,
}

impl Errors {
    /// The value, or records the error and returns `None`.
    fn take<T>(&mut self, r: Result<T, ApiError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(ApiError::Fields(m)) => {
                for (k, v) in m {
                    self.fields.entry(k).or_default().extend(v);
                }
                None
            }
            Err(other) => {
                self.fatal.get_or_insert(other);
                None
            }
        }
    }

    fn add(&mut self, field: &str, msg: impl Into<String>) {
        self.fields
            .entry(field.to_owned())
            .or_default()
            .push(msg.into());
    }

    fn finish(self) -> Result<(), ApiError> {
        match self.fatal {
            Some(e) => Err(e),
            None if self.fields.is_empty() => Ok(()),
            None => Err(ApiError::Fields(self.fields)),
        }
    }
}

/// `(value, label)` for `value` among `choices`, or the DRF choice error on `field`.
fn pick(
    body: &Map<String, Value>,
    field: &str,
    choices: &'static [(&'static str, &'static str)],
) -> Result<Option<&'static str>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let given = choice_input(v).unwrap_or_default();
            choices
                .iter()
                .find(|(value, _)| *value == given)
                .map(|(value, _)| Some(*value))
                .ok_or_else(|| {
                    ApiError::field(field, format!("\"{given}\" is not a valid choice."))
                })
        }
    }
}

fn label_of(choices: &[(&str, &'static str)], value: &str) -> String {
    choices
        .iter()
        .find(|(v, _)| *v == value)
        .map_or_else(|| value.to_owned(), |(_, l)| (*l).to_owned())
}

/// A name: not blank, at most 128 characters (JumpServer's column size).
fn name_field(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match text(body, "name")? {
        Some(n) if n.is_empty() => Err(ApiError::field("name", "This field may not be blank.")),
        Some(n) if n.chars().count() > 128 => Err(ApiError::field(
            "name",
            "Ensure this field has no more than 128 characters.",
        )),
        other => Ok(other),
    }
}

fn stubs(items: &[(Uuid, String)]) -> Vec<Value> {
    items.iter().map(|(id, name)| stub(*id, name)).collect()
}

/// A duplicate name is a field error on `name`, as DRF's unique validator reports it.
fn write_error(e: StoreError, what: &str) -> ApiError {
    match e {
        StoreError::Conflict(_) => {
            ApiError::field("name", format!("{what} with this name already exists."))
        }
        StoreError::Invalid(msg) => ApiError::field("non_field_errors", msg),
        other => other.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Command groups
// ---------------------------------------------------------------------------------------------

const GROUP_KINDS: &[(&str, &str)] = &[("command", "Command"), ("regex", "Regex")];

/// The command group serializer (§4.13).
fn group_json(g: &CommandGroupRecord) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "type": choice(g.kind.clone(), &label_of(GROUP_KINDS, &g.kind)),
        "content": g.content,
        "ignore_case": g.ignore_case,
        "comment": g.comment,
        "org_id": g.org_id,
        "org_name": g.org_name,
        "created_by": g.created_by,
        "updated_by": g.updated_by,
        "date_created": datetime(g.date_created),
        "date_updated": datetime(g.date_updated),
    })
}

/// Known input fields; read-only ones are accepted (and ignored) so a fetched object can be
/// sent back as it is.
const GROUP_FIELDS: &[&str] = &[
    "name",
    "type",
    "content",
    "ignore_case",
    "comment",
    "id",
    "org_id",
    "org_name",
    "created_by",
    "updated_by",
    "date_created",
    "date_updated",
];

/// Merges `body` into `base` and checks the result compiles, so a broken regex is refused
/// here, naming its line, rather than disabling the filter at session time.
fn group_write(
    body: &Map<String, Value>,
    mut w: CommandGroupWrite,
) -> Result<CommandGroupWrite, ApiError> {
    let mut errs = Errors::default();
    if let Some(Some(n)) = errs.take(name_field(body)) {
        w.name = n;
    }
    if let Some(Some(k)) = errs.take(pick(body, "type", GROUP_KINDS)) {
        w.kind = k.to_owned();
    }
    match body.get("content") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => w.content = s.clone(),
        Some(Value::Array(lines)) => {
            match lines
                .iter()
                .map(|l| l.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
            {
                Some(lines) => w.content = lines.join("\n"),
                None => errs.add("content", "Not a valid string."),
            }
        }
        Some(_) => errs.add("content", "Not a valid string."),
    }
    if let Some(Some(b)) = errs.take(flag(body, "ignore_case")) {
        w.ignore_case = b;
    }
    if let Some(Some(c)) = errs.take(text(body, "comment")) {
        w.comment = c;
    }
    if w.content.trim().is_empty() {
        errs.add("content", "This field may not be blank.");
    } else {
        let group = CommandGroup {
            id: Uuid::nil(),
            name: w.name.clone(),
            kind: if w.kind == "regex" {
                CommandGroupKind::Regex
            } else {
                CommandGroupKind::Command
            },
            content: w.content.clone(),
            ignore_case: w.ignore_case,
        };
        if let Err(e) = CompiledCommandGroup::compile(&group) {
            errs.add(
                "content",
                format!(
                    "Line {}: {:?} is not a valid pattern: {}",
                    e.line, e.pattern, e.message
                ),
            );
        }
    }
    errs.finish()?;
    Ok(w)
}

async fn group_list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let query = CommandGroupQuery {
        org: caller.org,
        search: q.search.clone(),
        name: q.filters.get("name").cloned(),
        kind: q.filters.get("type").cloned(),
        order: q.order.clone(),
        limit,
        offset,
        // `id`/`id__in` lookups are the conventions layer's.
        ..CommandGroupQuery::default()
    };
    let (count, groups) = state.store().list_command_groups(&query).await?;
    let rows = groups.iter().map(group_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

/// A command group visible in the caller's org (by id or name), or 404.
async fn visible_group(
    state: &AppState,
    caller: &Caller,
    key: &str,
) -> Result<CommandGroupRecord, ApiError> {
    state
        .store()
        .command_group(caller.org, key)
        .await?
        .ok_or(ApiError::NotFound("CommandGroup"))
}

async fn group_detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(group_json(
        &visible_group(&state, &caller, &key).await?,
    )))
}

async fn group_create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = object(body)?;
    check_fields(&body, GROUP_FIELDS)?;
    require_fields(&body, &["name", "content"])?;
    let w = group_write(
        &body,
        CommandGroupWrite {
            name: String::new(),
            kind: "command".into(),
            content: String::new(),
            ignore_case: true,
            comment: String::new(),
        },
    )?;
    let org = caller.write_org();
    let by = caller_name(&state, &caller).await;
    let id = state
        .store()
        .create_command_group(org, &w, &by)
        .await
        .map_err(|e| write_error(e, "command group"))?;
    let g = visible_group(&state, &caller, &id.to_string()).await?;
    let shown = group_json(&g);
    audit(
        &state,
        &caller,
        "CommandGroup",
        "create",
        &g.name,
        &id.to_string(),
        json!({"after": shown}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(shown)))
}

async fn group_patch(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    check_fields(&body, GROUP_FIELDS)?;
    let before = visible_group(&state, &caller, &key).await?;
    let w = group_write(
        &body,
        CommandGroupWrite {
            name: before.name.clone(),
            kind: before.kind.clone(),
            content: before.content.clone(),
            ignore_case: before.ignore_case,
            comment: before.comment.clone(),
        },
    )?;
    let by = caller_name(&state, &caller).await;
    state
        .store()
        .update_command_group(before.id, &w, &by)
        .await
        .map_err(|e| write_error(e, "command group"))?;
    let after = visible_group(&state, &caller, &before.id.to_string()).await?;
    let (b, a) = (group_json(&before), group_json(&after));
    audit(
        &state,
        &caller,
        "CommandGroup",
        "update",
        &after.name,
        &after.id.to_string(),
        diff(&b, &a),
    )
    .await;
    Ok(Json(a))
}

async fn group_remove(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let g = visible_group(&state, &caller, &key).await?;
    state.store().delete_command_group(g.id).await?;
    audit(
        &state,
        &caller,
        "CommandGroup",
        "delete",
        &g.name,
        &g.id.to_string(),
        json!({"before": group_json(&g)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// ACLs
// ---------------------------------------------------------------------------------------------

/// The ACL serializer (§4.13): the common fields plus those of the kind.
fn acl_json(k: &Kind, a: &AclRecord) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(a.id));
    m.insert("name".into(), json!(a.name));
    m.insert("priority".into(), json!(a.priority));
    m.insert(
        "action".into(),
        choice(a.action.clone(), &label_of(k.actions, &a.action)),
    );
    m.insert("is_active".into(), json!(a.is_active));
    m.insert("users".into(), a.users.clone());
    if k.table.has_assets() {
        m.insert("assets".into(), a.assets.clone());
        m.insert("accounts".into(), a.accounts.clone());
    }
    if k.table.has_rules() {
        m.insert("rules".into(), a.rules.clone());
    }
    if k.table.has_methods() {
        m.insert("connect_methods".into(), a.connect_methods.clone());
    }
    if k.table.has_groups() {
        m.insert("command_groups".into(), json!(stubs(&a.command_groups)));
        m.insert(
            "command_groups_amount".into(),
            json!(a.command_groups.len()),
        );
    }
    m.insert("reviewers".into(), json!(stubs(&a.reviewers)));
    m.insert("reviewers_amount".into(), json!(a.reviewers.len()));
    if let Some(org) = a.org_id {
        m.insert("org_id".into(), json!(org));
        m.insert("org_name".into(), json!(a.org_name));
    }
    m.insert("comment".into(), json!(a.comment));
    m.insert("created_by".into(), json!(a.created_by));
    m.insert("updated_by".into(), json!(a.updated_by));
    m.insert("date_created".into(), json!(datetime(a.date_created)));
    m.insert("date_updated".into(), json!(datetime(a.date_updated)));
    Value::Object(m)
}

/// The input fields a kind knows (read-only ones included, and ignored, so a fetched object
/// can be sent back as it is).
fn acl_fields(k: &Kind) -> Vec<&'static str> {
    let mut f = vec![
        "name",
        "priority",
        "action",
        "is_active",
        "users",
        "reviewers",
        "comment",
        "id",
        "org_id",
        "org_name",
        "created_by",
        "updated_by",
        "date_created",
        "date_updated",
        "reviewers_amount",
    ];
    if k.table.has_assets() {
        f.extend(["assets", "accounts"]);
    }
    if k.table.has_rules() {
        f.push("rules");
    }
    if k.table.has_methods() {
        f.push("connect_methods");
    }
    if k.table.has_groups() {
        f.extend(["command_groups", "command_groups_amount"]);
    }
    f
}

/// A `users` / `assets` selector, validated by the core's compiler and stored in its
/// canonical form.
fn selector_field(body: &Map<String, Value>, field: &str) -> Result<Option<Value>, ApiError> {
    let v = match body.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => {
            return Err(ApiError::field(
                field,
                "Expected an object such as {\"type\": \"all\"}.",
            ));
        }
    };
    let spec: SelectorSpec = serde_json::from_value(v)
        .map_err(|e| ApiError::field(field, format!("Not a valid selector: {e}.")))?;
    Selector::compile(&spec).map_err(|e| ApiError::field(field, format!("{e}.")))?;
    serde_json::to_value(&spec)
        .map(Some)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// A list of strings (or `{value}` objects), each trimmed and non-empty.
fn string_list(body: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                choice_input(i)
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| ApiError::field(field, "Each item must be a non-empty string."))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(ApiError::field(field, "Expected a list of items.")),
    }
}

/// `rules`: `{ip_group, time_period}`, each checked with the core's parser; missing parts
/// take JumpServer's defaults (any address, any time).
fn rules_field(body: &Map<String, Value>) -> Result<Option<Value>, ApiError> {
    let rules = match body.get("rules") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(ApiError::field("rules", "Expected an object.")),
    };
    if let Some(k) = rules
        .keys()
        .find(|k| !matches!(k.as_str(), "ip_group" | "time_period"))
    {
        return Err(ApiError::field("rules", format!("Unknown rule `{k}`.")));
    }
    let ip_group: Vec<String> = match rules.get("ip_group") {
        None | Some(Value::Null) => vec!["*".to_owned()],
        Some(Value::String(s)) => s
            .split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(|s| s.trim().to_owned()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::field("rules", "ip_group: expected a list of strings."))?,
        Some(_) => {
            return Err(ApiError::field(
                "rules",
                "ip_group: expected a list of strings.",
            ));
        }
    };
    if ip_group.is_empty() {
        // An empty set contains nothing: the ACL would silently never apply.
        return Err(ApiError::field(
            "rules",
            "ip_group: enter at least one address, CIDR block, range or *.",
        ));
    }
    IpSet::parse(&ip_group).map_err(|e| ApiError::field("rules", format!("ip_group: {e}.")))?;
    let time_period: Vec<TimePeriodDay> = match rules.get("time_period") {
        None | Some(Value::Null) => TimeWindows::always().as_days().to_vec(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            ApiError::field(
                "rules",
                "time_period: expected a list of {\"id\": 0-6, \"value\": \"HH:MM~HH:MM\"}.",
            )
        })?,
    };
    TimeWindows::parse(&time_period)
        .map_err(|e| ApiError::field("rules", format!("time_period: {e}.")))?;
    Ok(Some(
        json!({"ip_group": ip_group, "time_period": time_period}),
    ))
}

/// Connect method values: lowercase words such as `web_cli` or an applet's name.
fn methods_field(body: &Map<String, Value>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(methods) = string_list(body, "connect_methods")? else {
        return Ok(None);
    };
    if methods.is_empty() {
        return Err(ApiError::field(
            "connect_methods",
            "This list may not be empty.",
        ));
    }
    if let Some(bad) = methods.iter().find(|m| {
        m.len() > 64
            || !m
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    }) {
        return Err(ApiError::field(
            "connect_methods",
            format!("\"{bad}\" is not a valid choice."),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for m in methods {
        if !out.contains(&m) {
            out.push(m);
        }
    }
    Ok(Some(out))
}

/// Merges `body` into `w`, checking every given field with the core's parsers.
fn acl_write(k: &Kind, body: &Map<String, Value>, mut w: AclWrite) -> Result<AclWrite, ApiError> {
    let mut errs = Errors::default();
    if let Some(Some(n)) = errs.take(name_field(body)) {
        w.name = n;
    }
    if let Some(Some(p)) = errs.take(int(body, "priority")) {
        match validate_priority(p) {
            Ok(p) => w.priority = i64::from(p),
            Err(_) if p < 1 => errs.add(
                "priority",
                "Ensure this value is greater than or equal to 1.",
            ),
            Err(_) => errs.add(
                "priority",
                "Ensure this value is less than or equal to 100.",
            ),
        }
    }
    if let Some(Some(a)) = errs.take(pick(body, "action", k.actions)) {
        w.action = a.to_owned();
    }
    if let Some(Some(b)) = errs.take(flag(body, "is_active")) {
        w.is_active = b;
    }
    if let Some(Some(u)) = errs.take(selector_field(body, "users")) {
        w.users = u;
    }
    if k.table.has_assets() {
        if let Some(Some(a)) = errs.take(selector_field(body, "assets")) {
            w.assets = a;
        }
        if let Some(Some(a)) = errs.take(string_list(body, "accounts")) {
            if a.is_empty() {
                errs.add(
                    "accounts",
                    "This list may not be empty; use [\"@ALL\"] for every account.",
                );
            } else {
                w.accounts = json!(a);
            }
        }
    }
    if k.table.has_rules()
        && let Some(Some(r)) = errs.take(rules_field(body))
    {
        w.rules = r;
    }
    if k.table.has_methods()
        && let Some(Some(m)) = errs.take(methods_field(body))
    {
        w.connect_methods = json!(m);
    }
    if k.table.has_groups()
        && let Some(Some(g)) = errs.take(uuids(body, "command_groups"))
    {
        w.command_groups = g;
    }
    if let Some(Some(r)) = errs.take(uuids(body, "reviewers")) {
        w.reviewers = r;
    }
    if let Some(Some(c)) = errs.take(text(body, "comment")) {
        w.comment = c;
    }
    errs.finish()?;
    Ok(w)
}

/// Checks related ids before writing: command groups must be in the ACL's org, reviewers must
/// be users. Named on their field, as DRF's related fields report them.
async fn check_relations(state: &AppState, org: Uuid, w: &AclWrite) -> Result<(), ApiError> {
    let mut errs = Errors::default();
    let found = state
        .store()
        .command_groups_in_org(org, &w.command_groups)
        .await?;
    if let Some(missing) = w
        .command_groups
        .iter()
        .find(|id| !found.iter().any(|(f, _)| f == *id))
    {
        errs.add(
            "command_groups",
            format!("Invalid pk \"{missing}\" - object does not exist."),
        );
    }
    let found = state.store().user_stubs(&w.reviewers).await?;
    if let Some(missing) = w
        .reviewers
        .iter()
        .find(|id| !found.iter().any(|(f, _)| f == *id))
    {
        errs.add(
            "reviewers",
            format!("Invalid pk \"{missing}\" - object does not exist."),
        );
    }
    errs.finish()
}

/// The write a create starts from: JumpServer's defaults.
fn acl_defaults() -> AclWrite {
    AclWrite {
        name: String::new(),
        priority: i64::from(portcullis_core::acl::DEFAULT_PRIORITY),
        action: "reject".into(),
        is_active: true,
        users: json!({}),
        assets: json!({}),
        accounts: json!(["@ALL"]),
        rules: json!({
            "ip_group": ["*"],
            "time_period": TimeWindows::always().as_days(),
        }),
        connect_methods: json!([]),
        command_groups: Vec::new(),
        reviewers: Vec::new(),
        comment: String::new(),
    }
}

/// The write that leaves `a` unchanged.
fn acl_current(a: &AclRecord) -> AclWrite {
    AclWrite {
        name: a.name.clone(),
        priority: a.priority,
        action: a.action.clone(),
        is_active: a.is_active,
        users: a.users.clone(),
        assets: a.assets.clone(),
        accounts: a.accounts.clone(),
        rules: a.rules.clone(),
        connect_methods: a.connect_methods.clone(),
        command_groups: a.command_groups.iter().map(|(id, _)| *id).collect(),
        reviewers: a.reviewers.iter().map(|(id, _)| *id).collect(),
        comment: a.comment.clone(),
    }
}

async fn list<const K: u8>(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let k = kind(K);
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let action = match q.filters.get("action").filter(|v| !v.is_empty()) {
        Some(v) if !k.actions.iter().any(|(a, _)| a == v) => {
            return Err(ApiError::field(
                "action",
                format!("Select a valid choice. {v} is not one of the available choices."),
            ));
        }
        other => other.cloned(),
    };
    let query = AclQuery {
        org: caller.org,
        search: q.search.clone(),
        name: q.filters.get("name").cloned(),
        action,
        is_active: q.flag("is_active")?,
        order: q.order.clone(),
        limit,
        offset,
        // `id`/`id__in` lookups are the conventions layer's.
        ..AclQuery::default()
    };
    let (count, acls) = state.store().list_acls(k.table, &query).await?;
    let rows = acls.iter().map(|a| acl_json(k, a)).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

/// An ACL visible to the caller (by id or name; org-scoped ones in the caller's org), or 404.
async fn visible_acl(
    state: &AppState,
    caller: &Caller,
    k: &Kind,
    key: &str,
) -> Result<AclRecord, ApiError> {
    state
        .store()
        .acl(k.table, caller.org, key)
        .await?
        .ok_or(ApiError::NotFound(k.resource))
}

async fn detail<const K: u8>(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let k = kind(K);
    Ok(Json(acl_json(
        k,
        &visible_acl(&state, &caller, k, &key).await?,
    )))
}

async fn create<const K: u8>(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let k = kind(K);
    let body = object(body)?;
    check_fields(&body, &acl_fields(k))?;
    // A missing selector would store `{}`, which matches nobody: refuse it instead.
    let mut required = vec!["name", "users"];
    if k.table.has_assets() {
        required.push("assets");
    }
    if k.table.has_methods() {
        required.push("connect_methods");
    }
    require_fields(&body, &required)?;
    let w = acl_write(k, &body, acl_defaults())?;
    let org = caller.write_org();
    check_relations(&state, org, &w).await?;
    let by = caller_name(&state, &caller).await;
    let id = state
        .store()
        .create_acl(k.table, org, &w, &by)
        .await
        .map_err(|e| write_error(e, k.resource))?;
    let a = visible_acl(&state, &caller, k, &id.to_string()).await?;
    let shown = acl_json(k, &a);
    audit(
        &state,
        &caller,
        k.resource,
        "create",
        &a.name,
        &id.to_string(),
        json!({"after": shown}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(shown)))
}

async fn patch<const K: u8>(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let k = kind(K);
    let body = object(body)?;
    check_fields(&body, &acl_fields(k))?;
    let before = visible_acl(&state, &caller, k, &key).await?;
    let w = acl_write(k, &body, acl_current(&before))?;
    let org = before.org_id.unwrap_or(DEFAULT_ORG_ID);
    check_relations(&state, org, &w).await?;
    let by = caller_name(&state, &caller).await;
    state
        .store()
        .update_acl(k.table, before.id, org, &w, &by)
        .await
        .map_err(|e| write_error(e, k.resource))?;
    let after = visible_acl(&state, &caller, k, &before.id.to_string()).await?;
    let (b, a) = (acl_json(k, &before), acl_json(k, &after));
    audit(
        &state,
        &caller,
        k.resource,
        "update",
        &after.name,
        &after.id.to_string(),
        diff(&b, &a),
    )
    .await;
    Ok(Json(a))
}

async fn remove<const K: u8>(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let k = kind(K);
    let a = visible_acl(&state, &caller, k, &key).await?;
    state.store().delete_acl(k.table, a.id).await?;
    audit(
        &state,
        &caller,
        k.resource,
        "delete",
        &a.name,
        &a.id.to_string(),
        json!({"before": acl_json(k, &a)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
