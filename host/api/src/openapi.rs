//! The OpenAPI 3 description of the API and its interactive docs (issue 3, reference §1.1:
//! JumpServer serves `/api/docs/`, `/api/swagger.json` and `/api/swagger.yaml`).
//!
//! The document is built from the router itself, not from a list kept beside it: [`registered`]
//! walks the routes the API's router holds (paths and the methods each accepts), so a route
//! added anywhere appears in the document with nothing else to edit. Axum has no public API to
//! list a router's routes; its `Debug` output does name every path and the `Allow` value of
//! each route, which is what is read here. The tests pin that this reading finds every route
//! (a change of axum's `Debug` format fails them rather than shipping an empty document).
//!
//! What the router cannot say is added from the code's own declarations: the fields each
//! resource accepts and returns (the same lists the handlers check bodies against, see
//! [`crate::schemas`]), and which operations need no authentication.
//!
//! Served at:
//! - `GET /api/docs/?format=openapi` and `GET /api/swagger.json`: the document as JSON;
//! - `GET /api/swagger.yaml`: the same document (JSON is valid YAML 1.2), typed as YAML;
//! - `GET /api/docs/`: Swagger UI, whose files are built into the web UI from the npm package
//!   `swagger-ui-dist` (`/api-docs/…`), so the page works without internet;
//! - `GET /api/redoc/`: ReDoc (JumpServer serves it too), from the npm package `redoc`'s
//!   standalone bundle, built in the same way.
//!
//! None of these need authentication: the document only describes what the open-source code
//! already shows, and SDK generators fetch it before they have credentials.

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

/// The docs routes. Generic over the state so the tests can serve them without a store.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/api/docs/", get(docs))
        .route("/api/redoc/", get(redoc))
        .route("/api/swagger.json", get(swagger_json))
        .route("/api/swagger.yaml", get(swagger_yaml))
}

/// One route of the router: its path (axum syntax, `{param}`) and the methods it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Registered {
    pub path: String,
    pub methods: Vec<Method>,
}

/// Every route `router` holds, sorted by path, read from axum's `Debug` output (see the module
/// documentation). Routes behind a router-wide layer lose their method list; call this on the
/// router before layers are added.
pub(crate) fn registered<S>(router: &Router<S>) -> Vec<Registered> {
    let text = format!("{router:?}");
    // Only the path router: the fallback router numbers its routes separately.
    let section = text
        .split_once("path_router:")
        .map(|(_, rest)| rest.split_once("fallback_router:").map_or(rest, |(s, _)| s))
        .unwrap_or("");
    let (routes, paths) = section.split_once("node: Node").unwrap_or((section, ""));

    let mut allowed: HashMap<&str, Vec<Method>> = HashMap::new();
    for chunk in routes.split("RouteId(").skip(1) {
        let Some((id, rest)) = chunk.split_once(')') else {
            continue;
        };
        let Some((_, allow)) = rest.split_once("allow_header: Bytes(b\"") else {
            continue;
        };
        let allow = allow.split('"').next().unwrap_or("");
        let methods = allow
            .split(',')
            .filter(|m| !m.is_empty() && *m != "HEAD")
            .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
            .collect();
        allowed.insert(id, methods);
    }

    let mut out: Vec<Registered> = paths
        .split("RouteId(")
        .skip(1)
        .filter_map(|chunk| {
            let (id, rest) = chunk.split_once(')')?;
            let path = rest.split('"').nth(1)?;
            if path.contains("__private__axum") {
                return None;
            }
            Some(Registered {
                path: path.to_owned(),
                methods: allowed.get(id).cloned().unwrap_or_default(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The document for the API's router, built once.
pub(crate) fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| build(&registered(&crate::api_routes()), env!("CARGO_PKG_VERSION")))
}

/// The OpenAPI 3.0 document describing `routes`.
pub(crate) fn build(routes: &[Registered], version: &str) -> Value {
    let all_paths: BTreeSet<&str> = routes.iter().map(|r| r.path.as_str()).collect();
    let schemas = crate::schemas::all();
    let mut paths = Map::new();
    let mut op_ids: BTreeSet<String> = BTreeSet::new();
    let mut tags: BTreeSet<String> = BTreeSet::new();

    for route in routes {
        let params = path_params(&route.path);
        // A collection: it has a detail route below it (`…/{id}/`).
        let collection = all_paths.iter().any(|p| {
            p.strip_prefix(route.path.as_str()).is_some_and(|rest| {
                rest.starts_with('{') && rest.ends_with("}/") && rest.matches('/').count() == 1
            })
        });
        let detail_of = detail_collection(&route.path, &all_paths);
        let schema = schemas
            .get(route.path.as_str())
            .or_else(|| detail_of.and_then(|c| schemas.get(c)))
            .map(|s| s.name);
        let tag = tag_of(&route.path);
        tags.insert(tag.clone());

        let mut item = Map::new();
        for method in &route.methods {
            let verb = verb(method, collection, detail_of.is_some());
            let mut id = operation_id(&route.path, verb);
            if op_ids.contains(&id) {
                id = format!("{id}_{}", op_ids.len());
            }
            op_ids.insert(id.clone());

            let mut op = Map::new();
            op.insert("operationId".into(), json!(id));
            op.insert("tags".into(), json!([tag]));
            op.insert(
                "summary".into(),
                json!(summary(verb, &route.path, detail_of, method)),
            );
            let need = crate::access::need_of(method, &route.path);
            if let Some(need) = need {
                op.insert("description".into(), json!(need.describe()));
                op.insert(
                    "x-permissions".into(),
                    json!({"kind": need.kind(), "codes": need.codes()}),
                );
            }
            let mut parameters: Vec<Value> = params
                .iter()
                .map(|p| {
                    json!({
                        "name": p, "in": "path", "required": true,
                        "schema": {"type": "string"},
                        "description": if matches!(p.as_str(), "key" | "pk") {
                            "The object's id (UUID), or its slug (username for users, name for most others)."
                        } else { "" },
                    })
                })
                .collect();
            if verb == "list" {
                parameters.extend(list_params());
            }
            if !parameters.is_empty() {
                op.insert("parameters".into(), Value::Array(parameters));
            }
            if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
                op.insert("requestBody".into(), request_body(schema, verb));
            }
            op.insert("responses".into(), responses(schema, verb, method, need));
            if matches!(need, Some(crate::access::Need::Public)) {
                op.insert("security".into(), json!([]));
            }
            item.insert(method.as_str().to_ascii_lowercase(), Value::Object(op));
        }
        paths.insert(openapi_path(&route.path), Value::Object(item));
    }

    let mut components = Map::new();
    components.insert(
        "schemas".into(),
        crate::schemas::components(&schemas, error_schemas()),
    );
    components.insert("securitySchemes".into(), security_schemes());

    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Portcullis API",
            "version": version,
            "description": "The REST API of Portcullis, compatible with JumpServer v4's `/api/v1/`. \
                Lists take `limit`/`offset` and answer `{count,next,previous,results}`; without `limit` \
                they answer a plain array. Org-scoped resources follow the `X-JMS-ORG` header.",
            "license": {"name": "See the project's LICENSE"},
        },
        "servers": [{"url": "/"}],
        "tags": tags.iter().map(|t| json!({"name": t})).collect::<Vec<_>>(),
        "security": [
            {"AccessKey": []},
            {"PrivateToken": []},
            {"Bearer": []},
            {"Session": [], "CsrfToken": []},
        ],
        "paths": paths,
        "components": components,
    })
}

/// The authentication schemes the API accepts (reference §2.1), in the order it tries them.
fn security_schemes() -> Value {
    json!({
        "AccessKey": {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "HTTP Signature with a user access key: `Signature keyId=\"<access key id>\",\
                algorithm=\"hmac-sha256\",headers=\"(request-target) accept date\",signature=\"<base64>\"`. \
                The request needs a `Date` header within the allowed clock skew.",
        },
        "PrivateToken": {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "A private token: `Token <key>`.",
        },
        "Bearer": {
            "type": "http", "scheme": "bearer",
            "description": "A token from `POST /api/v1/authentication/auth/` (alias `…/tokens/`): `Bearer <token>`.",
        },
        "Session": {
            "type": "apiKey", "in": "cookie", "name": portcullis_auth::SESSION_COOKIE,
            "description": "The browser's session cookie. Unsafe methods also need the CSRF header.",
        },
        "CsrfToken": {
            "type": "apiKey", "in": "header", "name": "X-CSRFToken",
            "description": "The value of the `jms_csrftoken` cookie, on POST, PUT, PATCH and DELETE with a session.",
        },
    })
}

/// The error shapes of reference §1.6: `{detail}` and `{field: [messages]}`.
fn error_schemas() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "Detail".into(),
        json!({"type": "object", "properties": {"detail": {"type": "string"}, "code": {"type": "string"}}}),
    );
    m.insert(
        "FieldErrors".into(),
        json!({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}),
    );
    m
}

/// The query parameters every list takes (reference §3).
fn list_params() -> Vec<Value> {
    let q = |name: &str, kind: &str, text: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": kind}, "description": text});
    vec![
        q(
            "limit",
            "integer",
            "Page size (at most 1000); without it the answer is a plain array.",
        ),
        q("offset", "integer", "Rows to skip."),
        q("search", "string", "Text search."),
        q(
            "q",
            "string",
            "Text search (takes precedence over `search`).",
        ),
        q(
            "order",
            "string",
            "Field to order by; `-field` for descending.",
        ),
        json!({"name": "format", "in": "query", "required": false,
            "schema": {"type": "string", "enum": ["json", "csv", "xlsx"]},
            "description": "Export the list as CSV or XLSX."}),
    ]
}

/// The body a write takes: the resource's writable fields (`<Name>Request`, see
/// [`crate::schemas::components`]).
fn request_body(schema: Option<&str>, verb: &str) -> Value {
    let one = match schema {
        Some(name) => json!({"$ref": format!("#/components/schemas/{name}Request")}),
        None => json!({"type": "object"}),
    };
    let body = if verb == "create" && schema.is_some() {
        json!({"oneOf": [one, {"type": "array", "items": one}]})
    } else {
        one
    };
    json!({"content": {"application/json": {"schema": body}}})
}

fn responses(
    schema: Option<&str>,
    verb: &str,
    method: &Method,
    need: Option<crate::access::Need>,
) -> Value {
    let one = match schema {
        Some(name) => json!({"$ref": format!("#/components/schemas/{name}")}),
        None => json!({}),
    };
    let ok = match verb {
        "list" => json!({"description": "The list: a page when `limit` is given, else an array.",
            "content": {"application/json": {"schema": {"oneOf": [
                {"type": "array", "items": one},
                {"type": "object", "properties": {
                    "count": {"type": "integer"},
                    "next": {"type": "string", "nullable": true},
                    "previous": {"type": "string", "nullable": true},
                    "results": {"type": "array", "items": one}}}]}}}}),
        _ => json!({"description": "Done.", "content": {"application/json": {"schema": one}}}),
    };
    let mut r = Map::new();
    match (verb, method) {
        ("create", _) => {
            r.insert("201".into(), ok);
        }
        (_, &Method::DELETE) => {
            r.insert("204".into(), json!({"description": "Deleted."}));
        }
        _ => {
            r.insert("200".into(), ok);
        }
    }
    let err = |name: &str, text: &str| {
        json!({"description": text,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}}})
    };
    if matches!(*method, Method::POST | Method::PUT | Method::PATCH) || verb == "bulk_delete" {
        r.insert(
            "400".into(),
            err("FieldErrors", "Invalid input: errors by field."),
        );
    }
    if !matches!(need, Some(crate::access::Need::Public)) {
        r.insert("401".into(), err("Detail", "Not authenticated."));
        r.insert("403".into(), err("Detail", "Permission denied."));
    }
    if path_has_object(verb) {
        r.insert("404".into(), err("Detail", "Not found."));
    }
    Value::Object(r)
}

fn path_has_object(verb: &str) -> bool {
    matches!(verb, "read" | "update" | "partial_update" | "delete")
}

/// The collection a detail path (`…/{id}/`) belongs to, when that collection is a route.
fn detail_collection<'a>(path: &str, all: &BTreeSet<&'a str>) -> Option<&'a str> {
    let trimmed = path.strip_suffix("}/")?;
    let (base, param) = trimmed.rsplit_once('{')?;
    if param.contains('/') {
        return None;
    }
    all.get(base).copied()
}

/// What an operation does, in DRF's words (`list`, `create`, `read`, …), or the lower-case
/// method for other endpoints.
fn verb(method: &Method, collection: bool, detail: bool) -> &'static str {
    match (method.as_str(), collection, detail) {
        ("GET", true, _) => "list",
        ("POST", true, _) => "create",
        ("PUT", true, _) => "bulk_update",
        ("PATCH", true, _) => "bulk_partial_update",
        ("DELETE", true, _) => "bulk_delete",
        ("GET", _, true) => "read",
        ("PUT", _, true) => "update",
        ("PATCH", _, true) => "partial_update",
        ("DELETE", _, true) => "delete",
        ("GET", ..) => "get",
        ("POST", ..) => "post",
        ("PUT", ..) => "put",
        ("PATCH", ..) => "patch",
        ("DELETE", ..) => "delete",
        _ => "call",
    }
}

/// drf-yasg's style: the path's words joined by `_`, then the verb (`users_users_list`).
fn operation_id(path: &str, verb: &str) -> String {
    let words: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != "api" && *s != "v1" && !s.starts_with('{'))
        .map(|s| s.replace(['-', '.'], "_"))
        .collect();
    format!("{}_{verb}", words.join("_"))
}

/// A short sentence naming the act and the resource, from the path's words: "List assets",
/// "Create asset", "Retrieve user", "Unblock user", "Get children of node".
fn summary(verb: &str, path: &str, detail_of: Option<&str>, method: &Method) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != "api" && *s != "v1")
        .collect();
    // The resource: the last literal segment (for a detail route, the collection's).
    let collection = detail_of.unwrap_or(path);
    let plural = collection
        .split('/')
        .rfind(|s| !s.is_empty() && !s.starts_with('{'))
        .map(words)
        .unwrap_or_default();
    let one = singular(&plural);
    match verb {
        "list" => return format!("List {plural}"),
        "create" => return format!("Create {one} (a JSON array creates several)"),
        "bulk_update" => return format!("Bulk update {plural}"),
        "bulk_partial_update" => return format!("Bulk partially update {plural}"),
        "bulk_delete" => return format!("Bulk delete {plural} (the filter must narrow the set)"),
        "read" => return format!("Retrieve {one}"),
        "update" => return format!("Update {one}"),
        "partial_update" => return format!("Partially update {one}"),
        "delete" if detail_of.is_some() => return format!("Delete {one}"),
        _ => {}
    }
    // An action below an object (`…/users/{key}/unblock/`): the words after the last
    // parameter, about the object named before it.
    let last_param = segments.iter().rposition(|s| s.starts_with('{'));
    let (owner, tail) = match last_param {
        Some(i) if i + 1 < segments.len() && i > 0 => (
            singular(&words(segments[i - 1])),
            segments[i + 1..]
                .iter()
                .map(|s| words(s))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => (
            String::new(),
            segments
                .iter()
                .skip(1)
                .filter(|s| !s.starts_with('{'))
                .map(|s| words(s))
                .collect::<Vec<_>>()
                .join(" "),
        ),
    };
    const ACTS: &[&str] = &[
        "activate", "approve", "reject", "close", "enable", "disable", "rollback", "clone",
        "unblock", "unlock", "cancel", "expire", "renewal", "reuse", "check", "test", "verify",
        "upload", "download", "refresh", "run", "sync", "replace", "add", "remove",
    ];
    let first = tail.split(' ').next().unwrap_or("");
    let text = if owner.is_empty() {
        let act = match *method {
            Method::GET => "Get",
            Method::POST => "Submit",
            Method::PUT | Method::PATCH => "Update",
            Method::DELETE => "Delete",
            _ => "Call",
        };
        format!("{act} {tail}")
    } else if ACTS.contains(&first) && *method != Method::GET {
        format!("{tail} {owner}")
    } else {
        let act = match *method {
            Method::GET => "Get",
            Method::POST => "Submit",
            Method::PUT | Method::PATCH => "Set",
            Method::DELETE => "Delete",
            _ => "Call",
        };
        format!("{act} {tail} of {owner}")
    };
    capitalize(text.trim())
}

/// A path segment as words: `account-templates` → `account templates`.
fn words(segment: &str) -> String {
    segment.replace(['-', '_', '.'], " ")
}

/// The singular of an English plural, good enough for resource names.
fn singular(plural: &str) -> String {
    if let Some(stem) = plural.strip_suffix("ies") {
        format!("{stem}y")
    } else if plural.ends_with("sses") || plural.ends_with("ches") || plural.ends_with("xes") {
        plural[..plural.len() - 2].to_owned()
    } else if plural.ends_with("ss") || plural.ends_with("us") {
        plural.to_owned()
    } else {
        plural.strip_suffix('s').unwrap_or(plural).to_owned()
    }
}

fn capitalize(text: &str) -> String {
    let mut c = text.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The app the path belongs to (`/api/v1/<app>/…`), used as the operation's tag.
fn tag_of(path: &str) -> String {
    match path.strip_prefix("/api/v1/") {
        Some(rest) => rest.split('/').next().unwrap_or("api").to_owned(),
        None if path.starts_with("/api/docs")
            || path.starts_with("/api/swagger")
            || path.starts_with("/api/redoc") =>
        {
            "docs".into()
        }
        None => path
            .trim_start_matches("/api/")
            .split('/')
            .next()
            .unwrap_or("api")
            .to_owned(),
    }
}

/// Axum's `{param}` is OpenAPI's syntax too; wildcards `{*rest}` become `{rest}`.
fn openapi_path(path: &str) -> String {
    path.replace("{*", "{")
}

fn path_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|s| s.trim_start_matches('*').to_owned())
        .collect()
}

#[derive(serde::Deserialize)]
struct DocsQuery {
    format: Option<String>,
}

/// `/api/docs/`: the page, or the document with `?format=openapi` (drf-yasg's spelling,
/// which older JumpServer clients use; `json` works too).
async fn docs(Query(q): Query<DocsQuery>) -> Response {
    match q.format.as_deref() {
        Some("openapi" | "json" | "openapi-json") => swagger_json().await,
        Some("yaml" | "openapi-yaml") => swagger_yaml().await,
        _ => page(),
    }
}

async fn swagger_json() -> Response {
    let body = serde_json::to_vec(document()).unwrap_or_default();
    (
        [(header::CONTENT_TYPE, "application/vnd.oai.openapi+json")],
        body,
    )
        .into_response()
}

async fn swagger_yaml() -> Response {
    // JSON is a subset of YAML 1.2, so the JSON text is a valid YAML document.
    let body = serde_json::to_vec_pretty(document()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/yaml")], body).into_response()
}

/// Where the web UI's build puts Swagger UI's files (web/vite.config.ts).
pub(crate) const ASSETS: &str = "/api-docs";

/// The Swagger UI page. Its script and style are files of the web UI (no CDN); the page's
/// own script is `init.js` there too, so the policy allows no inline script.
fn page() -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Portcullis API</title>\n\
         <link rel=\"stylesheet\" href=\"{ASSETS}/swagger-ui.css\">\n</head>\n<body>\n\
         <div id=\"swagger-ui\" data-spec=\"/api/docs/?format=openapi\"></div>\n\
         <noscript>The interactive docs need JavaScript; the document itself is at \
         <a href=\"/api/swagger.json\">/api/swagger.json</a>.</noscript>\n\
         <script src=\"{ASSETS}/swagger-ui-bundle.js\"></script>\n\
         <script src=\"{ASSETS}/init.js\"></script>\n</body>\n</html>\n"
    );
    with_policy(html, POLICY)
}

/// `/api/redoc/`: the ReDoc page, built like [`page`]: the bundle and `redoc-init.js` are files
/// of the web UI, no inline script.
async fn redoc() -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Portcullis API</title>\n</head>\n<body>\n\
         <div id=\"redoc\" data-spec=\"/api/docs/?format=openapi\"></div>\n\
         <noscript>The docs need JavaScript; the document itself is at \
         <a href=\"/api/swagger.json\">/api/swagger.json</a>.</noscript>\n\
         <script src=\"{ASSETS}/redoc.standalone.js\"></script>\n\
         <script src=\"{ASSETS}/redoc-init.js\"></script>\n</body>\n</html>\n"
    );
    with_policy(html, REDOC_POLICY)
}

/// The docs pages' policy: scripts, styles, images and requests from this server only (the
/// viewers inject their own `<style>` elements, hence inline styles); nothing may frame them.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; \
     frame-ancestors 'none'";

/// ReDoc's policy: [`POLICY`], plus the worker its search runs in, which its bundle starts
/// from a `blob:` URL of its own code (a page script must make it, and only this server's
/// scripts run).
const REDOC_POLICY: &str = "default-src 'self'; script-src 'self'; worker-src blob:; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

fn with_policy(html: String, policy: &'static str) -> Response {
    let mut res = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    res
}

/// Kept for the tests: a route map of the document (path → methods, lower case).
#[cfg(test)]
fn documented(doc: &Value) -> std::collections::BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .map(|paths| {
            paths
                .iter()
                .map(|(p, item)| {
                    let methods = item
                        .as_object()
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default();
                    (p.clone(), methods)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
