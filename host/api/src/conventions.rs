//! The list and bulk conventions of reference §1.2 and §3.4, implemented once for every
//! resource as a layer around the handlers, so each resource gets them without its own code:
//!
//! - **Lookups** on list GETs: `f__exact=`, `f__in=a,b`, `f__icontains=`, `f__startswith=`,
//!   `f__icontains_any=a,b`, `f__icontains_all=a,b`, negation by a `!` after the name
//!   (`name__icontains!=x`, `f!=x`), `id=a,b` (on the lists where `id` means that, see
//!   [`plain_id`]) and the deprecated `ids=`/`id!=`. On the large lists (assets, accounts,
//!   users) the handlers apply the common fields' lookups in SQL (`portcullis_store::lookups`,
//!   see [`sql_fields`]): the layer passes those parameters on and answers the handler's page
//!   as it is. Every other lookup takes the generic path: the
//!   layer reads the list page by page and filters the serialized rows; a lookup on a field
//!   the rows do not have is ignored, as django-filter ignores parameters it does not declare.
//! - **Field selection** on GETs: `fields=a,b`, `fields!=a,b`, `fields_size=mini|small`.
//! - **`OPTIONS`** on any route: DRF-style metadata (`actions` with field descriptions, filter
//!   operators), learned from the route's allowed methods and a sample row.
//! - **Bulk `PUT`/`PATCH`** on a list route (a JSON array of objects carrying `id`). Assets
//!   (every `/assets/<kind>/` list), accounts and users answer it on their list routes
//!   themselves (`routes/bulk_update.rs`), in one store
//!   transaction: every item is checked first, then all are written together, and a write
//!   that fails rolls every item back. Elsewhere (groups, nodes, platforms, …) the layer applies the items one by one through the
//!   detail route, all or nothing by compensation: when one item fails, the items already
//!   applied are put back (a PATCH of their previous values) and the answer is a list of
//!   per-item errors. Not one transaction: a concurrent reader can see the items applied
//!   before the failing one, a write-only field (a secret) cannot be put back, and a put-back
//!   that fails is only logged.
//! - **Filtered bulk `DELETE`** on a list route (`?id__in=…` or any narrowing filter on org
//!   resources); an unfiltered one is refused with 400. The filter is resolved to rows as a
//!   GET would list them; assets, accounts, users and platforms are then deleted in one store
//!   transaction (`routes/bulk_delete.rs`): a row that cannot go leaves them all, and the 400
//!   names it. Other resources are deleted item by item, and a refusal midway leaves the
//!   items before it deleted.
//!
//! Handlers that answer these methods themselves keep them: the bulk forms run only where the
//! route answers 405.

use crate::AppState;
use crate::ctx::{Caller, SignedTarget};
use crate::error::ApiError;
use crate::list::{DEFAULT_CAP, ListQuery, form_pairs};
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{FromRequestParts, OriginalUri, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use portcullis_store::lookups::{self, Fields, LookupOp, SqlLookup};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The largest response page read back from a handler (1000 rows of a wide serializer).
const PAGE_LIMIT: usize = 64 * 1024 * 1024;
/// Rows fetched per inner page while a lookup scans a list.
const SCAN_PAGE: usize = 1000;
/// Parameters that never narrow a list (so they do not make a bulk delete "filtered").
const NOT_FILTERS: &[&str] = &[
    "limit",
    "offset",
    "order",
    "format",
    "fields",
    "fields!",
    "fields_size",
    "display",
    "draw",
    "oid",
];
/// Fields that `fields_size=mini` keeps.
const MINI: &[&str] = &["id", "name", "username", "address"];
/// Fields a client never writes (shown read-only in `OPTIONS`).
const READ_ONLY: &[&str] = &[
    "id",
    "date_created",
    "date_updated",
    "created_by",
    "updated_by",
    "org_id",
    "org_name",
    "date_joined",
    "last_login",
    "date_verified",
];
/// The lookup operators reference §3.4 lists, as `OPTIONS` announces them.
const OPERATORS: &[&str] = &[
    "exact",
    "in",
    "icontains",
    "startswith",
    "icontains_any",
    "icontains_all",
];

/// A lookup operator (§3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Exact,
    In,
    IContains,
    StartsWith,
    IContainsAny,
    IContainsAll,
}

/// One lookup parameter: `field__op[!]=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lookup {
    field: String,
    op: Op,
    value: String,
    negate: bool,
}

/// Reads a query parameter as a lookup; `None` for plain parameters the handler reads itself.
fn lookup(key: &str, value: &str) -> Option<Lookup> {
    let (name, negate) = match key.strip_suffix('!') {
        Some(n) => (n, true),
        None => (key, false),
    };
    if name.is_empty() || name.starts_with("search") || NOT_FILTERS.contains(&key) {
        return None;
    }
    let make = |field: &str, op: Op| {
        Some(Lookup {
            field: field.to_owned(),
            op,
            value: value.to_owned(),
            negate,
        })
    };
    if name == "ids" {
        return make("id", Op::In);
    }
    if let Some((field, op)) = name.rsplit_once("__") {
        let op = match op {
            "exact" => Op::Exact,
            "in" => Op::In,
            "icontains" => Op::IContains,
            "startswith" => Op::StartsWith,
            "icontains_any" => Op::IContainsAny,
            "icontains_all" => Op::IContainsAll,
            _ => return None,
        };
        return make(field, op);
    }
    match (negate, name) {
        // `id!=a,b` is the deprecated form of `id__in!`.
        (true, "id") => make("id", Op::In),
        (true, _) => make(name, Op::Exact),
        (false, _) => None,
    }
}

impl Op {
    fn sql(self) -> LookupOp {
        match self {
            Op::Exact => LookupOp::Exact,
            Op::In => LookupOp::In,
            Op::IContains => LookupOp::IContains,
            Op::StartsWith => LookupOp::StartsWith,
            Op::IContainsAny => LookupOp::IContainsAny,
            Op::IContainsAll => LookupOp::IContainsAll,
        }
    }
}

/// The lists whose handlers apply lookups in SQL (the large ones), with the fields they do;
/// other fields and lists take the generic path, filtering the serialized rows.
fn sql_fields(path: &str) -> Option<&'static Fields> {
    let p = path.strip_prefix("/api/v1/")?;
    match p {
        "accounts/accounts/" => Some(&lookups::ACCOUNT_FIELDS),
        "users/users/" => Some(&lookups::USER_FIELDS),
        _ => {
            let kind = p.strip_prefix("assets/")?.strip_suffix('/')?;
            ASSET_KINDS
                .contains(&kind)
                .then_some(&lookups::ASSET_FIELDS)
        }
    }
}

/// `id=a,b` as an id lookup, on the lists where it filters by ids ([`ID_LISTS`] and the
/// [`sql_fields`] ones); elsewhere a handler may give `id` its own meaning (a node's
/// children, a session), so the layer leaves it alone.
fn plain_id(key: &str, value: &str) -> Option<Lookup> {
    (key == "id").then(|| Lookup {
        field: "id".into(),
        op: Op::In,
        value: value.to_owned(),
        negate: false,
    })
}

/// Lists whose `id=a,b` filters by ids through the layer (their handlers no longer read it).
const ID_LISTS: &[&str] = &[
    "/api/v1/acls/command-groups/",
    "/api/v1/acls/command-filter-acls/",
    "/api/v1/acls/login-acls/",
    "/api/v1/acls/login-asset-acls/",
    "/api/v1/acls/connect-method-acls/",
    "/api/v1/assets/zones/",
    "/api/v1/assets/domains/",
    "/api/v1/assets/nodes/",
    "/api/v1/assets/nodes/suggestions/",
];

/// The `/assets/<kind>/` lists that serve assets.
const ASSET_KINDS: &[&str] = &[
    "assets",
    "hosts",
    "devices",
    "databases",
    "webs",
    "clouds",
    "customs",
    "directories",
    "gateways",
];

/// The lookups of a list query that `fields` applies in SQL, for the handlers of the lists
/// [`sql_fields`] names: the layer passes these parameters on to them instead of filtering.
///
/// An id lookup whose value is not a list of UUIDs is bad input: 400 naming the parameter,
/// rather than a list that silently matches nothing.
pub(crate) fn sql_lookups(q: &ListQuery, fields: &Fields) -> Result<Vec<SqlLookup>, ApiError> {
    let mut out = Vec::new();
    for (k, v) in &q.filters {
        let Some(l) = lookup(k, v).or_else(|| plain_id(k, v)) else {
            continue;
        };
        if !fields.supports(&l.field, l.op.sql()) {
            continue;
        }
        if l.field == "id" && matches!(l.op, Op::Exact | Op::In) {
            check_ids(k, &l.value)?;
        }
        out.push(SqlLookup {
            field: l.field,
            op: l.op.sql(),
            value: l.value,
            negate: l.negate,
        });
    }
    // A stable order keeps the statement text (and its cached plan) the same per query.
    out.sort_by(|a, b| (&a.field, a.negate, &a.value).cmp(&(&b.field, b.negate, &b.value)));
    Ok(out)
}

/// Each comma-separated item of an id parameter must be a UUID.
fn check_ids(param: &str, value: &str) -> Result<(), ApiError> {
    match value
        .split(',')
        .map(str::trim)
        .find(|item| !item.is_empty() && Uuid::parse_str(item).is_err())
    {
        Some(bad) => Err(ApiError::field(
            param,
            format!("\u{201c}{bad}\u{201d} is not a valid UUID."),
        )),
        None => Ok(()),
    }
}

/// The strings a serialized value can be matched by: scalars as text; choice objects by
/// value and label; related stubs by id and name; lists by any element.
fn candidates(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(b) => out.push(b.to_string()),
        Value::Null => {}
        Value::Array(items) => items.iter().for_each(|i| candidates(i, out)),
        Value::Object(m) => {
            for k in ["id", "value", "name", "label", "username"] {
                match m.get(k) {
                    Some(Value::Object(_) | Value::Array(_)) | None => {}
                    Some(v) => candidates(v, out),
                }
            }
        }
    }
}

/// Whether a row's value `c` equals the parameter `want`; booleans are also given as
/// `1`/`0`/`True`/`False` (§3.4).
fn same(c: &str, want: &str) -> bool {
    c == want
        || match c {
            "true" => matches!(want, "1" | "True"),
            "false" => matches!(want, "0" | "False"),
            _ => false,
        }
}

impl Lookup {
    /// Whether `row` passes; a row without the field passes (the lookup is not for it).
    fn passes(&self, row: &Value) -> bool {
        let Some(v) = row.get(&self.field) else {
            return true;
        };
        let mut cands = Vec::new();
        candidates(v, &mut cands);
        let lower: Vec<String> = cands.iter().map(|c| c.to_lowercase()).collect();
        let terms = || {
            self.value
                .split(',')
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty())
        };
        let hit = match self.op {
            Op::Exact => cands.iter().any(|c| same(c, &self.value)),
            Op::In => self
                .value
                .split(',')
                .any(|t| cands.iter().any(|c| same(c, t.trim()))),
            Op::IContains => {
                let want = self.value.to_lowercase();
                lower.iter().any(|c| c.contains(&want))
            }
            Op::StartsWith => cands.iter().any(|c| c.starts_with(&self.value)),
            Op::IContainsAny => terms().any(|t| lower.iter().any(|c| c.contains(&t))),
            Op::IContainsAll => terms().all(|t| lower.iter().any(|c| c.contains(&t))),
        };
        hit != self.negate
    }
}

/// `fields=`, `fields!=` and `fields_size=` of a GET.
#[derive(Debug, Clone, Default)]
struct Projection {
    include: Option<Vec<String>>,
    exclude: Vec<String>,
    size: Option<String>,
}

impl Projection {
    fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_empty() && self.size.is_none()
    }

    fn apply_row(&self, row: &mut Value) {
        let Value::Object(m) = row else { return };
        match self.size.as_deref() {
            Some("mini") => m.retain(|k, _| MINI.contains(&k.as_str())),
            // Small drops the many-to-many lists, the wide part of a serializer.
            Some("small") => m.retain(|_, v| !v.is_array()),
            _ => {}
        }
        if let Some(include) = &self.include {
            m.retain(|k, _| include.contains(k));
        }
        m.retain(|k, _| !self.exclude.contains(k));
    }

    /// Applies to a bare list, a page's `results`, or one object.
    fn apply(&self, body: &mut Value) {
        match body {
            Value::Array(rows) => rows.iter_mut().for_each(|r| self.apply_row(r)),
            Value::Object(m) if m.contains_key("results") && m.contains_key("count") => {
                if let Some(Value::Array(rows)) = m.get_mut("results") {
                    rows.iter_mut().for_each(|r| self.apply_row(r));
                }
            }
            Value::Object(_) => self.apply_row(body),
            _ => {}
        }
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .collect()
}

/// The query split into lookups, projection and what goes on to the handler.
struct Parsed {
    lookups: Vec<Lookup>,
    projection: Projection,
    /// Pairs passed to the handler: everything but the lookups and projection, except the
    /// lookups the handler applies in SQL ([`sql_fields`]) and the positive id lookups, which
    /// handlers that know them use to narrow early.
    inner: Vec<(String, String)>,
}

fn parse(uri: &Uri) -> Parsed {
    let mut out = Parsed {
        lookups: Vec::new(),
        projection: Projection::default(),
        inner: Vec::new(),
    };
    let sql = sql_fields(uri.path());
    let ids = sql.is_some() || ID_LISTS.contains(&uri.path());
    for (k, v) in form_pairs(uri.query().unwrap_or_default()) {
        match k.as_str() {
            "fields" if !v.is_empty() => out.projection.include = Some(split_list(&v)),
            "fields!" => out.projection.exclude = split_list(&v),
            "fields_size" if matches!(v.as_str(), "mini" | "small") => {
                out.projection.size = Some(v.clone());
            }
            _ => match lookup(&k, &v).or_else(|| plain_id(&k, &v).filter(|_| ids)) {
                // The handler applies it in SQL.
                Some(l) if sql.is_some_and(|f| f.supports(&l.field, l.op.sql())) => {
                    out.inner.push((k, v));
                }
                Some(l) => {
                    if !l.negate && matches!(k.as_str(), "id" | "id__in" | "ids") {
                        out.inner.push((k, v));
                    }
                    out.lookups.push(l);
                }
                None => out.inner.push((k, v)),
            },
        }
    }
    out
}

/// The middleware (see the module documentation).
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !path.starts_with("/api/v1/") || path.starts_with("/api/v1/terminal/file-manager/") {
        return next.run(req).await;
    }
    let result = match *req.method() {
        Method::GET => get(req, next).await,
        Method::OPTIONS => options(req, next).await,
        Method::PUT | Method::PATCH | Method::DELETE if is_json_or_empty(&req) => {
            bulk(&state, req, next).await
        }
        _ => Ok(next.run(req).await),
    };
    result.unwrap_or_else(|r| r)
}

fn is_json_or_empty(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.to_ascii_lowercase().contains("json"))
}

/// A request to the handlers under this layer, authenticated as the client's own request was.
fn inner_request(base: &Parts, method: Method, uri: Uri, body: Option<&Value>) -> Request {
    let mut parts = base.clone();
    // A signed request stays verified against what the client signed, not the rewrite.
    if parts.extensions.get::<SignedTarget>().is_none() {
        parts.extensions.insert(SignedTarget {
            method: base.method.to_string(),
            path_and_query: base
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned(),
        });
    }
    parts.method = method;
    parts.extensions.insert(OriginalUri(uri.clone()));
    parts.uri = uri;
    parts.headers.remove(header::TRANSFER_ENCODING);
    match body {
        Some(b) => {
            let bytes = b.to_string().into_bytes();
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            parts
                .headers
                .insert(header::CONTENT_LENGTH, bytes.len().into());
            Request::from_parts(parts, Body::from(bytes))
        }
        None => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Request::from_parts(parts, Body::empty())
        }
    }
}

fn make_uri(path: &str, pairs: &[(String, String)]) -> Result<Uri, ApiError> {
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", crate::list::encode(k), crate::list::encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let s = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    s.parse()
        .map_err(|_| ApiError::Internal(format!("bad inner uri {s}")))
}

/// A handler's answer read back: status, headers and JSON (or `None` when not JSON).
struct Answer {
    parts: axum::http::response::Parts,
    bytes: Bytes,
    json: Option<Value>,
}

async fn read(resp: Response) -> Result<Answer, Response> {
    let (parts, body) = resp.into_parts();
    let bytes = to_bytes(body, PAGE_LIMIT).await.map_err(|e| {
        crate::error::ApiError::Internal(format!("reading a handler's answer: {e}")).into_response()
    })?;
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    let json = if is_json {
        serde_json::from_slice(&bytes).ok()
    } else {
        None
    };
    Ok(Answer { parts, bytes, json })
}

impl Answer {
    fn untouched(self) -> Response {
        Response::from_parts(self.parts, Body::from(self.bytes))
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn host_of(parts: &Parts) -> String {
    parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// GET: lookups and field selection
// ---------------------------------------------------------------------------------------------

async fn get(req: Request, next: Next) -> Result<Response, Response> {
    let parsed = parse(req.uri());
    if parsed.lookups.is_empty() && parsed.projection.is_empty() {
        return Ok(next.run(req).await);
    }
    let (parts, _) = req.into_parts();
    let resp = if parsed.lookups.is_empty() {
        next.run(Request::from_parts(parts, Body::empty())).await
    } else {
        match scan(&parts, &next, &parsed).await? {
            Scan::Rows(rows) => {
                let q = ListQuery::parse(&parts.uri).map_err(IntoResponse::into_response)?;
                let count = i64::try_from(rows.len()).unwrap_or(i64::MAX);
                let (limit, offset) = q.window();
                let page: Vec<Value> = rows
                    .into_iter()
                    .skip(usize::try_from(offset).unwrap_or(0))
                    .take(usize::try_from(limit).unwrap_or(DEFAULT_CAP as usize))
                    .collect();
                let body = q.respond(&parts.uri, &host_of(&parts), count, page);
                json_response(StatusCode::OK, &body)
            }
            Scan::Other(resp) => resp,
        }
    };
    if parsed.projection.is_empty() || resp.status() != StatusCode::OK {
        return Ok(resp);
    }
    let answer = read(resp).await?;
    let Some(mut body) = answer.json else {
        return Ok(answer.untouched());
    };
    parsed.projection.apply(&mut body);
    Ok(json_response(StatusCode::OK, &body))
}

enum Scan {
    /// Every row of the list that passes the lookups, in the handler's order.
    Rows(Vec<Value>),
    /// Not a list (a detail, an error): the handler's answer as it was.
    Other(Response),
}

/// Reads the whole list through the handler, page by page, keeping the rows that pass.
async fn scan(parts: &Parts, next: &Next, parsed: &Parsed) -> Result<Scan, Response> {
    let base: Vec<(String, String)> = parsed
        .inner
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "limit" | "offset" | "format"))
        .cloned()
        .collect();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    loop {
        let mut pairs = base.clone();
        pairs.push(("limit".into(), SCAN_PAGE.to_string()));
        if seen > 0 {
            pairs.push(("offset".into(), seen.to_string()));
        }
        let uri = make_uri(parts.uri.path(), &pairs).map_err(IntoResponse::into_response)?;
        let resp = next
            .clone()
            .run(inner_request(parts, Method::GET, uri, None))
            .await;
        if resp.status() != StatusCode::OK {
            return Ok(Scan::Other(resp));
        }
        let answer = read(resp).await?;
        let pass = |r: &Value| parsed.lookups.iter().all(|l| l.passes(r));
        match answer.json {
            Some(Value::Array(rows)) => {
                kept.extend(rows.into_iter().filter(pass));
                return Ok(Scan::Rows(kept));
            }
            Some(Value::Object(mut page))
                if page.contains_key("results") && page.contains_key("count") =>
            {
                let count = page.get("count").and_then(Value::as_u64).unwrap_or(0);
                let Some(Value::Array(rows)) = page.remove("results") else {
                    return Ok(Scan::Rows(kept));
                };
                let got = rows.len();
                seen += got;
                kept.extend(rows.into_iter().filter(pass));
                if got == 0 || seen as u64 >= count {
                    return Ok(Scan::Rows(kept));
                }
            }
            _ => return Ok(Scan::Other(answer.untouched())),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// OPTIONS: metadata
// ---------------------------------------------------------------------------------------------

/// The methods a route answers, from the `Allow` header of its 405.
fn allowed(resp: &Response) -> Vec<String> {
    resp.headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.split(',')
                .map(|m| m.trim().to_ascii_uppercase())
                .filter(|m| !m.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn field_type(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "float",
        Value::String(s) if crate::fmt::parse_datetime(s).is_some() && s.len() >= 19 => "datetime",
        Value::String(_) => "string",
        Value::Null => "field",
        Value::Object(m) if m.contains_key("value") && m.contains_key("label") => "labeled_choice",
        Value::Object(m) if m.contains_key("id") => "related_field",
        Value::Object(_) => "nested object",
        Value::Array(items) => match items.first() {
            Some(Value::Object(m)) if m.contains_key("value") && m.contains_key("label") => {
                "multiple_choice"
            }
            Some(Value::Object(m)) if m.contains_key("id") => "m2m_related_field",
            _ => "list",
        },
    }
}

fn label(name: &str) -> String {
    let mut out = String::new();
    for (i, w) in name.split('_').filter(|w| !w.is_empty()).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let mut c = w.chars();
        if let Some(f) = c.next() {
            if i == 0 {
                out.extend(f.to_uppercase());
            } else {
                out.push(f);
            }
            out.push_str(c.as_str());
        }
    }
    if name == "id" { "ID".into() } else { out }
}

fn describe(sample: &Map<String, Value>, writable_only: bool) -> Value {
    let mut out = Map::new();
    for (k, v) in sample {
        let read_only = READ_ONLY.contains(&k.as_str());
        if writable_only && read_only {
            continue;
        }
        let mut f = json!({
            "type": field_type(v),
            "required": false,
            "read_only": read_only,
            "label": label(k),
        });
        if !writable_only {
            f["filter"] = json!(true);
        }
        out.insert(k.clone(), f);
    }
    Value::Object(out)
}

async fn options(req: Request, next: Next) -> Result<Response, Response> {
    let (parts, _) = req.into_parts();
    let probe = next
        .clone()
        .run(inner_request(
            &parts,
            Method::OPTIONS,
            parts.uri.clone(),
            None,
        ))
        .await;
    if probe.status() != StatusCode::METHOD_NOT_ALLOWED {
        return Ok(probe);
    }
    let methods = allowed(&probe);
    let path = parts.uri.path().to_owned();
    let mut sample = Map::new();
    let mut is_list = false;
    if methods.iter().any(|m| m == "GET") {
        let uri = make_uri(&path, &[("limit".into(), "1".into())])
            .map_err(IntoResponse::into_response)?;
        let resp = next
            .clone()
            .run(inner_request(&parts, Method::GET, uri, None))
            .await;
        if resp.status() != StatusCode::OK {
            return Ok(resp);
        }
        let answer = read(resp).await?;
        match answer.json {
            Some(Value::Object(mut m)) if m.contains_key("results") && m.contains_key("count") => {
                is_list = true;
                if let Some(Value::Array(rows)) = m.remove("results")
                    && let Some(Value::Object(first)) = rows.into_iter().next()
                {
                    sample = first;
                }
            }
            Some(Value::Array(rows)) => {
                is_list = true;
                if let Some(Value::Object(first)) = rows.into_iter().next() {
                    sample = first;
                }
            }
            Some(Value::Object(m)) => sample = m,
            _ => {}
        }
    }
    let name = path
        .split('/')
        .rfind(|s| !s.is_empty())
        .map(label)
        .unwrap_or_default();
    let mut actions = Map::new();
    if methods.iter().any(|m| m == "GET") {
        actions.insert("GET".into(), describe(&sample, false));
    }
    for m in ["POST", "PUT", "PATCH"] {
        if methods.iter().any(|a| a == m) {
            actions.insert(m.into(), describe(&sample, true));
        }
    }
    let mut allow = methods.clone();
    allow.push("OPTIONS".into());
    let body = json!({
        "name": format!("{name} {}", if is_list { "List" } else { "Instance" }),
        "description": "",
        "renders": ["application/json", "text/csv", "application/xlsx"],
        "parses": [
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "text/csv",
            "application/xlsx",
        ],
        "actions": actions,
        "filter_lookups": OPERATORS,
        "filter_negation": "!",
    });
    let mut resp = json_response(StatusCode::OK, &body);
    if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    Ok(resp)
}

// ---------------------------------------------------------------------------------------------
// Bulk PUT / PATCH / DELETE on list routes
// ---------------------------------------------------------------------------------------------

async fn bulk(state: &AppState, req: Request, next: Next) -> Result<Response, Response> {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, crate::MAX_BODY).await.map_err(|_| {
        crate::error::ApiError::field("non_field_errors", "The request body is too large.")
            .into_response()
    })?;
    let first = next
        .clone()
        .run(Request::from_parts(
            parts.clone(),
            Body::from(bytes.clone()),
        ))
        .await;
    if first.status() != StatusCode::METHOD_NOT_ALLOWED
        || !parts.uri.path().ends_with('/')
        || !is_list_route(&parts, &next).await?
    {
        return Ok(first);
    }
    if parts.method == Method::DELETE {
        return bulk_delete(state, &parts, &next).await;
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Array(items)) => bulk_update(&parts, &next, items).await,
        _ => Ok(first),
    }
}

/// Whether the path is a list (its GET answers an array or a page), so that a method a detail
/// route does not allow stays a 405 instead of becoming a bulk operation.
async fn is_list_route(parts: &Parts, next: &Next) -> Result<bool, Response> {
    let uri = make_uri(parts.uri.path(), &[("limit".into(), "1".into())])
        .map_err(IntoResponse::into_response)?;
    let resp = next
        .clone()
        .run(inner_request(parts, Method::GET, uri, None))
        .await;
    if !resp.status().is_success() {
        return Ok(false);
    }
    Ok(match read(resp).await?.json {
        Some(Value::Array(_)) => true,
        Some(Value::Object(o)) => o.get("results").is_some_and(Value::is_array),
        _ => false,
    })
}

fn detail_uri(parts: &Parts, id: &str) -> Result<Uri, ApiError> {
    make_uri(
        &format!("{}{}/", parts.uri.path(), crate::list::encode(id)),
        &[],
    )
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

async fn bulk_update(parts: &Parts, next: &Next, items: Vec<Value>) -> Result<Response, Response> {
    let method = parts.method.clone();
    let n = items.len();
    let mut errors: Vec<Value> = vec![json!({}); n];
    let mut ids = Vec::with_capacity(n);
    for (i, item) in items.iter().enumerate() {
        match item.get("id").and_then(id_text) {
            Some(id) if item.is_object() => {
                if ids.contains(&id) {
                    errors[i] = json!({"id": ["Duplicate id in the request."]});
                }
                ids.push(id);
            }
            _ => {
                errors[i] = json!({"id": ["This field is required."]});
                ids.push(String::new());
            }
        }
    }
    if errors.iter().any(|e| e != &json!({})) {
        return Ok(json_response(
            StatusCode::BAD_REQUEST,
            &Value::Array(errors),
        ));
    }
    // Every object must exist before anything is written.
    let mut before = Vec::with_capacity(n);
    for (i, id) in ids.iter().enumerate() {
        let resp = next
            .clone()
            .run(inner_request(
                parts,
                Method::GET,
                detail_uri(parts, id).map_err(IntoResponse::into_response)?,
                None,
            ))
            .await;
        match resp.status() {
            StatusCode::OK => before.push(read(resp).await?.json.unwrap_or(Value::Null)),
            StatusCode::NOT_FOUND => {
                errors[i] =
                    json!({"id": [format!("Invalid pk \"{id}\" - object does not exist.")]});
                before.push(Value::Null);
            }
            _ => return Ok(resp),
        }
    }
    if errors.iter().any(|e| e != &json!({})) {
        return Ok(json_response(
            StatusCode::BAD_REQUEST,
            &Value::Array(errors),
        ));
    }
    let mut done: Vec<Value> = Vec::with_capacity(n);
    for (i, item) in items.iter().enumerate() {
        let mut body = item.clone();
        if let Some(m) = body.as_object_mut() {
            m.remove("id");
        }
        let resp = next
            .clone()
            .run(inner_request(
                parts,
                method.clone(),
                detail_uri(parts, &ids[i]).map_err(IntoResponse::into_response)?,
                Some(&body),
            ))
            .await;
        let status = resp.status();
        let answer = read(resp).await?;
        if status.is_success() {
            done.push(answer.json.unwrap_or(Value::Null));
            continue;
        }
        // Put back what was applied, newest first, then report this item's error.
        for j in (0..i).rev() {
            restore(parts, next, &ids[j], &items[j], &before[j]).await;
        }
        if status == StatusCode::BAD_REQUEST {
            errors[i] = answer.json.unwrap_or(Value::Null);
            return Ok(json_response(
                StatusCode::BAD_REQUEST,
                &Value::Array(errors),
            ));
        }
        return Ok(answer.untouched());
    }
    Ok(json_response(StatusCode::OK, &Value::Array(done)))
}

/// Writes back the fields `item` changed from the object's state `before`.
async fn restore(parts: &Parts, next: &Next, id: &str, item: &Value, before: &Value) {
    let (Some(item), Some(before)) = (item.as_object(), before.as_object()) else {
        return;
    };
    let body: Map<String, Value> = item
        .keys()
        .filter(|k| *k != "id")
        .filter_map(|k| before.get(k).map(|v| (k.clone(), v.clone())))
        .collect();
    let Ok(uri) = detail_uri(parts, id) else {
        return;
    };
    let resp = next
        .clone()
        .run(inner_request(
            parts,
            Method::PATCH,
            uri,
            Some(&Value::Object(body)),
        ))
        .await;
    if !resp.status().is_success() {
        tracing::error!(id, status = %resp.status(), "bulk update: could not restore an item");
    }
}

async fn bulk_delete(state: &AppState, parts: &Parts, next: &Next) -> Result<Response, Response> {
    let pairs = form_pairs(parts.uri.query().unwrap_or_default());
    let filters: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(k, v)| !NOT_FILTERS.contains(&k.as_str()) && !v.is_empty())
        .collect();
    let refuse = || {
        json_response(
            StatusCode::BAD_REQUEST,
            &json!({
                "detail": "A bulk delete needs a filter that narrows the set, for example ?id__in=<id>,<id>.",
                "code": "bulk_delete_not_filtered",
            }),
        )
    };
    if filters.is_empty() {
        return Ok(refuse());
    }
    let has_id = filters
        .iter()
        .any(|(k, _)| matches!(k.as_str(), "id" | "id__in" | "ids" | "spm"));
    // The rows the filter selects, through the same lookups a GET applies.
    let mut list_parts = parts.clone();
    list_parts.method = Method::GET;
    let parsed = parse(&parts.uri);
    let rows = match scan(&list_parts, next, &parsed).await? {
        Scan::Rows(rows) => rows,
        Scan::Other(resp) => return Ok(resp),
    };
    if !has_id {
        let is_org = rows.first().is_some_and(|r| r.get("org_id").is_some());
        let uri = make_uri(parts.uri.path(), &[("limit".into(), "1".into())])
            .map_err(IntoResponse::into_response)?;
        let resp = next
            .clone()
            .run(inner_request(parts, Method::GET, uri, None))
            .await;
        let total = read(resp)
            .await?
            .json
            .and_then(|j| j.get("count").and_then(Value::as_u64))
            .unwrap_or(u64::MAX);
        let matched = rows.len() as u64;
        if !is_org || (matched == total && matched != 1) {
            return Ok(refuse());
        }
    }
    let ids: Vec<String> = rows
        .iter()
        .filter_map(|r| r.get("id").and_then(id_text))
        .collect();
    // The resources deleted most in bulk are deleted in one transaction: all or nothing.
    let mut caller_parts = inner_request(parts, Method::DELETE, parts.uri.clone(), None)
        .into_parts()
        .0;
    let caller = Caller::from_request_parts(&mut caller_parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    if let Some(resp) =
        crate::routes::bulk_delete::delete(state, &caller, parts.uri.path(), &ids).await
    {
        return Ok(resp);
    }
    // Elsewhere item by item through the detail route. A refusal midway leaves the items
    // before it deleted: these resources have no transactional bulk delete in the store yet.
    for id in &ids {
        let resp = next
            .clone()
            .run(inner_request(
                parts,
                Method::DELETE,
                detail_uri(parts, id).map_err(IntoResponse::into_response)?,
                None,
            ))
            .await;
        if !resp.status().is_success() && resp.status() != StatusCode::NOT_FOUND {
            return Ok(resp);
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_match_like_the_reference() {
        let row = json!({"id": "a1", "name": "Web-01", "is_active": true,
            "platform": {"id": 1, "name": "Linux"}, "nodes": [{"id": "n1", "name": "Default"}]});
        let l = |k: &str, v: &str| lookup(k, v).unwrap();
        assert!(l("name__icontains", "web").passes(&row));
        assert!(!l("name__icontains!", "web").passes(&row));
        assert!(l("name__startswith", "Web").passes(&row));
        assert!(!l("name__startswith", "web").passes(&row));
        assert!(l("id__in", "x,a1").passes(&row));
        assert!(!l("id!", "x,a1").passes(&row));
        assert!(l("ids", "a1").passes(&row));
        assert!(l("is_active__exact", "1").passes(&row));
        assert!(l("platform__in", "1,2").passes(&row));
        assert!(l("nodes__exact", "n1").passes(&row));
        assert!(l("name__icontains_all", "web,01").passes(&row));
        assert!(!l("name__icontains_all", "web,02").passes(&row));
        assert!(l("name__icontains_any", "zz,01").passes(&row));
        assert!(!l("name!", "Web-01").passes(&row));
        assert!(l("nosuch__in", "q").passes(&row));
        assert!(lookup("name", "x").is_none());
        assert!(
            lookup("id", "a1").is_none(),
            "a handler may read `id` itself"
        );
        assert!(plain_id("id", "x,a1").unwrap().passes(&row));
        assert!(lookup("date__lt", "x").is_none());
        assert!(lookup("search__icontains_any", "x").is_none());
    }

    #[test]
    fn projection_keeps_what_was_asked() {
        let mut body = json!({"count": 1, "next": null, "previous": null,
            "results": [{"id": 1, "name": "n", "comment": "c", "nodes": []}]});
        Projection {
            include: Some(vec!["id".into(), "comment".into(), "nodes".into()]),
            exclude: vec!["nodes".into()],
            size: None,
        }
        .apply(&mut body);
        assert_eq!(body["results"][0], json!({"id": 1, "comment": "c"}));
    }
}
