//! Lists as spreadsheets (reference §1.3): `?format=csv|xlsx` exports a list, and a CSV or
//! XLSX body (directly, or as the `file` field of a multipart form) imports rows through the
//! resource's bulk create.
//!
//! Both directions live in one middleware ([`layer`]) in front of every route, so each
//! resource gets them from its ordinary JSON list and create handlers; no handler knows about
//! files. The price is that the layer knows a few field names (which columns hold lists, the
//! display labels JumpServer writes as headers), kept in the tables below.
//!
//! **Export.** The handler is called with `format`, `limit` and `offset` removed and pages of
//! `limit=1000` (the largest page a list serves) requested at growing offsets until `count`
//! rows were read, so an export holds the whole filtered list, as JumpServer's does, and not
//! the 200 rows of a bare answer. A handler that ignores `limit` (a tree, a bare array) is
//! exported as it answers. Anything that is not a list, and every error, passes through.
//! Cells: choices are written `Label(value)`, related objects `name(id)` (JumpServer's own
//! export forms, which its import and ours read back), `{name, port}` protocols `name/port`,
//! lists comma-joined, other objects as JSON.
//!
//! **Import.** The header row names the fields (field names, or the display labels an export
//! from JumpServer carries, mapped back through [`LABELS`]); each further row becomes one JSON
//! object and the file one JSON array, handed to the handler as a bulk create. Empty cells are
//! left out; `true`/`false` become booleans; cells starting with `[` or `{` that parse as JSON
//! become that JSON; the cells of list columns ([`LIST_FIELDS`]) are split on commas; a
//! `name(id)` cell becomes the stub `{"id", "name"}`. Numbers stay text: every handler accepts
//! a number as text, while a username or asset name made of digits must not become a number.
//! The handler's bulk 400 is DRF's list, item N for the N-th non-empty data row; the layer
//! adds `"row"` to each failing item's dict: the row number of the sheet, or of the CSV record
//! (the header being row 1; blank lines are no records, a row of empty cells is), so the
//! report names the row even though rows without values were skipped.

use crate::error::ApiError;
use crate::list::{MAX_LIMIT, form_pairs};
use axum::Json;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Multipart, OriginalUri, Request};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The XLSX media type.
pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The largest file accepted for import. The JSON handed on is further bounded by the
/// handlers' usual request body limit.
const FILE_LIMIT: usize = 10 * 1024 * 1024;

/// The largest JSON page read back from a handler while exporting.
const PAGE_LIMIT: usize = 256 * 1024 * 1024;

/// Columns whose cells are comma-separated lists.
const LIST_FIELDS: &[&str] = &[
    "groups",
    "users",
    "user_groups",
    "system_roles",
    "org_roles",
    "nodes",
    "nodes_display",
    "assets",
    "accounts",
    "protocols",
    "labels",
];

/// Display labels (lower-cased, without a required-field `*`) that JumpServer writes as
/// headers, in English and Chinese, and the fields they stand for. A header that is not here
/// is taken as the field name itself (lower-cased, spaces as `_`).
const LABELS: &[(&str, &str)] = &[
    ("user groups", "groups"),
    ("user group", "groups"),
    ("system roles", "system_roles"),
    ("system role", "system_roles"),
    ("org roles", "org_roles"),
    ("org role", "org_roles"),
    ("organization roles", "org_roles"),
    ("active", "is_active"),
    ("mfa", "mfa_level"),
    ("ip/host", "address"),
    ("host", "address"),
    ("node", "nodes"),
    ("node path", "nodes_display"),
    ("domain", "domain"),
    ("user", "users"),
    ("名称", "name"),
    ("用户名", "username"),
    ("邮箱", "email"),
    ("密码", "password"),
    ("手机", "phone"),
    ("用户组", "groups"),
    ("系统角色", "system_roles"),
    ("组织角色", "org_roles"),
    ("激活", "is_active"),
    ("备注", "comment"),
    ("来源", "source"),
    ("失效日期", "date_expired"),
    ("平台", "platform"),
    ("地址", "address"),
    ("节点", "nodes"),
    ("节点路径", "nodes_display"),
    ("协议组", "protocols"),
    ("网域", "zone"),
    ("资产", "asset"),
    ("用户", "users"),
    ("密文类型", "secret_type"),
    ("密文", "secret"),
    ("特权账号", "privileged"),
];

/// Columns whose `name(id)` cells may carry an integer id (platforms are numbered).
const INTEGER_IDS: &[&str] = &["platform"];

/// The middleware: exports on `GET …?format=csv|xlsx`, imports on a `POST` of a CSV or XLSX
/// body or of a multipart form with a `file`; everything else goes straight to the handler.
pub async fn layer(req: Request, next: Next) -> Response {
    // File manager uploads are raw file bytes of any type (a `.csv` too), streamed as they are.
    if req
        .uri()
        .path()
        .starts_with("/api/v1/terminal/file-manager/")
    {
        return next.run(req).await;
    }
    if req.method() == Method::GET
        && let Some(format) = export_format(req.uri())
    {
        return export(req, next, format)
            .await
            .unwrap_or_else(IntoResponse::into_response);
    }
    let writes = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    if writes && is_form(req.headers()) {
        return form_to_json(req, next)
            .await
            .unwrap_or_else(IntoResponse::into_response);
    }
    // Plugin bundles are uploaded as files too, but they are not spreadsheet imports.
    if req.method() == Method::POST
        && !req.uri().path().starts_with("/api/v1/plugins/")
        && let Some(kind) = import_kind(req.headers())
    {
        return import(req, next, kind)
            .await
            .unwrap_or_else(IntoResponse::into_response);
    }
    next.run(req).await
}

/// Whether the body is an HTML form (`application/x-www-form-urlencoded`), which JumpServer
/// accepts wherever it accepts JSON (its own Python examples post forms to `/auth/`).
fn is_form(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|e| {
            e.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Turns form fields into a JSON object (a repeated field becomes a list) and hands it on as
/// JSON, so handlers parse one format and apply the same validation.
async fn form_to_json(req: Request, next: Next) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, FILE_LIMIT)
        .await
        .map_err(|_| ApiError::field("non_field_errors", "The request body is too large."))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(run_as_json(parts, next, form_object(crate::list::form_pairs(&text))).await)
}

fn form_object(pairs: Vec<(String, String)>) -> Value {
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        match map.get_mut(&k) {
            Some(Value::Array(list)) => list.push(Value::String(v)),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(v)]);
            }
            None => {
                map.insert(k, Value::String(v));
            }
        }
    }
    Value::Object(map)
}

async fn run_as_json(mut parts: axum::http::request::Parts, next: Next, body: Value) -> Response {
    let json = body.to_string().into_bytes();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts
        .headers
        .insert(header::CONTENT_LENGTH, json.len().into());
    parts.headers.remove(header::TRANSFER_ENCODING);
    next.run(Request::from_parts(parts, Body::from(json))).await
}

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Xlsx,
}

fn export_format(uri: &Uri) -> Option<Format> {
    form_pairs(uri.query().unwrap_or_default())
        .into_iter()
        .find(|(k, _)| k == "format")
        .and_then(|(_, v)| match v.as_str() {
            "csv" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        })
}

/// `uri` with its query replaced by `pairs` plus the page window.
fn page_uri(uri: &Uri, pairs: &[(String, String)], offset: usize) -> Result<Uri, ApiError> {
    let mut query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    query.push(format!("limit={MAX_LIMIT}"));
    query.push(format!("offset={offset}"));
    format!("{}?{}", uri.path(), query.join("&"))
        .parse()
        .map_err(|e| ApiError::Internal(format!("export page uri: {e}")))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn export(req: Request, next: Next, format: Format) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let pairs: Vec<(String, String)> = form_pairs(parts.uri.query().unwrap_or_default())
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "format" | "limit" | "offset"))
        .collect();
    let mut rows: Vec<Value> = Vec::new();
    loop {
        let uri = page_uri(&parts.uri, &pairs, rows.len())?;
        let mut page_parts = parts.clone();
        page_parts.uri = uri.clone();
        // Handlers read the query from `OriginalUri`, which the router set before this layer.
        page_parts.extensions.insert(OriginalUri(uri));
        let resp = next
            .clone()
            .run(Request::from_parts(page_parts, Body::empty()))
            .await;
        if resp.status() != StatusCode::OK {
            return Ok(resp);
        }
        let (rparts, body) = resp.into_parts();
        let bytes = to_bytes(body, PAGE_LIMIT)
            .await
            .map_err(|e| ApiError::Internal(format!("export page: {e}")))?;
        let untouched = |bytes: Bytes| Ok(Response::from_parts(rparts, Body::from(bytes)));
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(items)) => {
                rows.extend(items);
                break;
            }
            Ok(Value::Object(mut page)) => {
                let count = page.get("count").and_then(Value::as_u64);
                match (page.remove("results"), count) {
                    (Some(Value::Array(items)), Some(count)) => {
                        let got = items.len();
                        rows.extend(items);
                        if got == 0 || rows.len() as u64 >= count {
                            break;
                        }
                    }
                    _ => return untouched(bytes),
                }
            }
            _ => return untouched(bytes),
        }
    }
    let resource = parts
        .uri
        .path()
        .split('/')
        .rfind(|s| !s.is_empty())
        .unwrap_or("export")
        .to_owned();
    let date = chrono::Local::now().format("%Y-%m-%d");
    let (content_type, ext, body) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv", write_csv(&rows)?),
        Format::Xlsx => (XLSX_TYPE, "xlsx", write_xlsx(&rows)?),
    };
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename={resource}-{date}.{ext}"))
            .map_err(|e| ApiError::Internal(format!("export file name: {e}")))?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// The header (the union of the rows' keys, in first-seen order) and the rows as objects; a
/// row that is not an object is one `value` column.
fn table(rows: &[Value]) -> (Vec<String>, Vec<Map<String, Value>>) {
    let mut header: Vec<String> = Vec::new();
    let objects: Vec<Map<String, Value>> = rows
        .iter()
        .map(|r| match r {
            Value::Object(m) => m.clone(),
            other => Map::from_iter([("value".to_owned(), other.clone())]),
        })
        .collect();
    for m in &objects {
        for k in m.keys() {
            if !header.contains(k) {
                header.push(k.clone());
            }
        }
    }
    (header, objects)
}

/// One value as cell text (see the module documentation for the forms).
fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Object(_) => short_form(v).unwrap_or_else(|| v.to_string()),
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|i| match i {
                    Value::String(s) if !s.contains(',') => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Object(_) => short_form(i),
                    _ => None,
                })
                .collect();
            parts.map_or_else(|| v.to_string(), |p| p.join(","))
        }
    }
}

/// The short form of a choice, stub or protocol object, if it is one.
fn short_form(v: &Value) -> Option<String> {
    let m = v.as_object()?;
    let scalar = |k: &str| match m.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if let (Some(label), Some(value)) = (scalar("label"), scalar("value")) {
        return Some(format!("{label}({value})"));
    }
    if let (Some(name), Some(id)) = (scalar("name"), scalar("id")) {
        return Some(format!("{name}({id})"));
    }
    if let (Some(name), Some(port)) = (scalar("name"), scalar("port")) {
        return Some(format!("{name}/{port}"));
    }
    None
}

fn write_csv(rows: &[Value]) -> Result<Vec<u8>, ApiError> {
    let (header, objects) = table(rows);
    // The byte-order mark makes spreadsheet programs read the file as UTF-8.
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        let fail = |e: csv::Error| ApiError::Internal(format!("csv export: {e}"));
        w.write_record(&header).map_err(fail)?;
        for m in &objects {
            w.write_record(
                header
                    .iter()
                    .map(|k| m.get(k).map(cell_text).unwrap_or_default()),
            )
            .map_err(fail)?;
        }
        w.flush()
            .map_err(|e| ApiError::Internal(format!("csv export: {e}")))?;
    }
    Ok(out)
}

fn write_xlsx(rows: &[Value]) -> Result<Vec<u8>, ApiError> {
    use rust_xlsxwriter::{Format as CellFormat, Workbook};
    let fail = |e: rust_xlsxwriter::XlsxError| ApiError::Internal(format!("xlsx export: {e}"));
    let (header, objects) = table(rows);
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let bold = CellFormat::new().set_bold();
    for (c, name) in header.iter().enumerate() {
        let col = u16::try_from(c).map_err(|_| ApiError::Internal("too many columns".into()))?;
        sheet
            .write_string_with_format(0, col, name, &bold)
            .map_err(fail)?;
    }
    for (r, m) in objects.iter().enumerate() {
        let row = u32::try_from(r + 1).map_err(|_| ApiError::Internal("too many rows".into()))?;
        for (c, name) in header.iter().enumerate() {
            let col =
                u16::try_from(c).map_err(|_| ApiError::Internal("too many columns".into()))?;
            match m.get(name) {
                None | Some(Value::Null) => {}
                Some(Value::Bool(b)) => {
                    sheet.write_boolean(row, col, *b).map_err(fail)?;
                }
                Some(Value::Number(n)) if n.as_f64().is_some() => {
                    sheet
                        .write_number(row, col, n.as_f64().unwrap_or_default())
                        .map_err(fail)?;
                }
                Some(v) => {
                    sheet.write_string(row, col, cell_text(v)).map_err(fail)?;
                }
            }
        }
    }
    book.save_to_buffer().map_err(fail)
}

// ---------------------------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Upload {
    Csv,
    Xlsx,
    Multipart,
}

fn import_kind(headers: &axum::http::HeaderMap) -> Option<Upload> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = ct.split(';').next().unwrap_or_default().trim();
    match essence.to_ascii_lowercase().as_str() {
        "text/csv" | "application/csv" => Some(Upload::Csv),
        t if t == XLSX_TYPE => Some(Upload::Xlsx),
        "multipart/form-data" => Some(Upload::Multipart),
        _ => None,
    }
}

fn file_error(msg: impl Into<String>) -> ApiError {
    ApiError::field("file", msg)
}

async fn import(req: Request, next: Next, kind: Upload) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let (bytes, xlsx) = match kind {
        Upload::Csv | Upload::Xlsx => (
            to_bytes(body, FILE_LIMIT)
                .await
                .map_err(|_| file_error("The file is too large."))?,
            matches!(kind, Upload::Xlsx),
        ),
        Upload::Multipart => {
            let req = Request::from_parts(parts.clone(), body);
            let mut form = Multipart::from_request(req, &())
                .await
                .map_err(|e| file_error(e.body_text()))?;
            let mut fields: Vec<(String, String)> = Vec::new();
            loop {
                match form.next_field().await {
                    Ok(Some(field)) if field.name() == Some("file") => {
                        let named_xlsx = field.content_type() == Some(XLSX_TYPE)
                            || field
                                .file_name()
                                .is_some_and(|n| n.to_ascii_lowercase().ends_with(".xlsx"));
                        let data = field.bytes().await.map_err(|e| file_error(e.body_text()))?;
                        // An XLSX file is a ZIP archive, whatever the form said.
                        let zip = data.starts_with(b"PK\x03\x04");
                        break (data, named_xlsx || zip);
                    }
                    Ok(Some(field)) => {
                        let name = field.name().unwrap_or_default().to_owned();
                        let text = field.text().await.map_err(|e| file_error(e.body_text()))?;
                        fields.push((name, text));
                    }
                    // A multipart form without a file is an ordinary form (e.g. `curl -F`).
                    Ok(None) if !fields.is_empty() => {
                        return Ok(run_as_json(parts, next, form_object(fields)).await);
                    }
                    Ok(None) => return Err(file_error("No file was submitted.")),
                    Err(e) => return Err(file_error(e.body_text())),
                }
            }
        }
    };
    let rows = if xlsx {
        read_xlsx(&bytes)?
    } else {
        read_csv(&bytes)?
    };
    if rows.is_empty() {
        return Err(file_error("The file holds no rows."));
    }
    let items: Vec<Value> = rows.iter().map(|(_, m)| Value::Object(m.clone())).collect();
    let json = serde_json::to_vec(&items).map_err(|e| ApiError::Internal(e.to_string()))?;
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts
        .headers
        .insert(header::CONTENT_LENGTH, json.len().into());
    parts.headers.remove(header::TRANSFER_ENCODING);
    let resp = next.run(Request::from_parts(parts, Body::from(json))).await;
    if resp.status() != StatusCode::BAD_REQUEST {
        return Ok(resp);
    }
    let (mut rparts, body) = resp.into_parts();
    let bytes = to_bytes(body, PAGE_LIMIT)
        .await
        .map_err(|e| ApiError::Internal(format!("import report: {e}")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Array(mut report)) if report.len() == rows.len() => {
            for (item, (row, _)) in report.iter_mut().zip(&rows) {
                if let Value::Object(m) = item
                    && !m.is_empty()
                {
                    m.insert("row".into(), json!(row));
                }
            }
            rparts.headers.remove(header::CONTENT_LENGTH);
            Ok(Response::from_parts(
                rparts,
                Body::from(Value::Array(report).to_string()),
            ))
        }
        _ => Ok(Response::from_parts(rparts, Body::from(bytes))),
    }
}

/// The field a header names: a known display label, else the header as a field name.
fn header_field(h: &str) -> Option<String> {
    let t = h.trim_start_matches('\u{feff}').trim();
    let t = t.trim_end_matches('*').trim().to_lowercase();
    if t.is_empty() {
        return None;
    }
    if let Some((_, f)) = LABELS.iter().find(|(l, _)| *l == t) {
        return Some((*f).to_owned());
    }
    Some(t.replace([' ', '-'], "_"))
}

/// A `name(id)` cell as the stub `{"id", "name"}`, when the id is a UUID (or, in the columns
/// of integer ids, all digits); `None` for any other text, so `Label(value)` choices and free
/// text keep their form.
fn stub(field: &str, s: &str) -> Option<Value> {
    let (name, id) = s.strip_suffix(')')?.rsplit_once('(')?;
    let id = id.trim();
    let integer = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    if Uuid::parse_str(id).is_ok() || (integer && INTEGER_IDS.contains(&field)) {
        Some(json!({"id": id, "name": name.trim()}))
    } else {
        None
    }
}

/// One text cell as the JSON value of `field`; `None` for an empty cell.
fn cell_value(field: &str, raw: &str) -> Option<Value> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if (s.starts_with('[') || s.starts_with('{'))
        && let Ok(v) = serde_json::from_str::<Value>(s)
    {
        return Some(v);
    }
    if LIST_FIELDS.contains(&field) {
        return Some(Value::Array(
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| stub(field, p).unwrap_or_else(|| Value::String(p.to_owned())))
                .collect(),
        ));
    }
    match s {
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    Some(stub(field, s).unwrap_or_else(|| Value::String(s.to_owned())))
}

/// The imported rows: each row's number in the file and its object.
type Rows = Vec<(u64, Map<String, Value>)>;

/// Builds the objects from a header and rows of cells; rows with no value are skipped.
fn objects(header: &[Option<String>], rows: impl Iterator<Item = (u64, Vec<Value>)>) -> Rows {
    rows.filter_map(|(n, cells)| {
        let m: Map<String, Value> = header
            .iter()
            .zip(cells)
            .filter_map(|(h, v)| Some((h.clone()?, v)))
            .filter(|(_, v)| !v.is_null())
            .collect();
        (!m.is_empty()).then_some((n, m))
    })
    .collect()
}

fn read_csv(bytes: &[u8]) -> Result<Rows, ApiError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let bad = |e: csv::Error| file_error(format!("Not a valid CSV file: {e}"));
    let mut records = r.records();
    let Some(first) = records.next() else {
        return Ok(Vec::new());
    };
    let header: Vec<Option<String>> = first.map_err(bad)?.iter().map(header_field).collect();
    let mut rows = Vec::new();
    for (i, rec) in (2u64..).zip(records) {
        let rec = rec.map_err(bad)?;
        let cells = header
            .iter()
            .zip(rec.iter())
            .map(|(h, c)| {
                h.as_deref()
                    .and_then(|f| cell_value(f, c))
                    .unwrap_or(Value::Null)
            })
            .collect();
        rows.push((i, cells));
    }
    Ok(objects(&header, rows.into_iter()))
}

fn read_xlsx(bytes: &[u8]) -> Result<Rows, ApiError> {
    use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
    let bad = |e: calamine::XlsxError| file_error(format!("Not a valid XLSX file: {e}"));
    let mut book: Xlsx<_> =
        open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).map_err(bad)?;
    let range = match book.worksheet_range_at(0) {
        Some(r) => r.map_err(bad)?,
        None => return Ok(Vec::new()),
    };
    let first_row = u64::from(range.start().map_or(0, |(r, _)| r)) + 1;
    let mut sheet_rows = range.rows();
    let Some(first) = sheet_rows.next() else {
        return Ok(Vec::new());
    };
    let header: Vec<Option<String>> = first.iter().map(|c| header_field(&c.to_string())).collect();
    let mut rows = Vec::new();
    for (i, cells) in sheet_rows.enumerate() {
        let values = header
            .iter()
            .zip(cells)
            .map(|(h, c)| {
                let Some(f) = h.as_deref() else {
                    return Value::Null;
                };
                match c {
                    Data::Empty | Data::Error(_) => Value::Null,
                    Data::Bool(b) => Value::Bool(*b),
                    Data::Float(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
                        Value::String(format!("{x:.0}"))
                    }
                    other => cell_value(f, &other.to_string()).unwrap_or(Value::Null),
                }
            })
            .collect();
        rows.push((first_row + 1 + i as u64, values));
    }
    Ok(objects(&header, rows.into_iter()))
}

// ---------------------------------------------------------------------------------------------
// Bulk create, shared by the create handlers that take an array
// ---------------------------------------------------------------------------------------------

/// The body as a list of objects and whether it was an array (a bulk create, reference §1.2)
/// rather than one object.
pub(crate) fn bulk_items(
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(Vec<Map<String, Value>>, bool), ApiError> {
    let Json(v) = body.map_err(|e| crate::error::bad_json(&e))?;
    let not_dict = || ApiError::field("non_field_errors", "Invalid data. Expected a dictionary.");
    match v {
        Value::Object(m) => Ok((vec![m], false)),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Object(m) => Ok(m),
                _ => Err(not_dict()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|l| (l, true)),
        _ => Err(not_dict()),
    }
}

/// The error dict of one item; errors that are not about the item (permission, internal)
/// end the whole request instead.
pub(crate) fn item_error(e: ApiError) -> Result<Value, ApiError> {
    match e {
        ApiError::Fields(m) => Ok(json!(m)),
        ApiError::Invalid(v) => Ok(v),
        ApiError::Refused(msg) => Ok(json!({"non_field_errors": [msg]})),
        other => Err(other),
    }
}

/// The 400 of a failed create: DRF's list of per-item dicts (`{}` for good items) for a bulk
/// request, the one dict otherwise.
pub(crate) fn bulk_invalid(errors: Vec<Value>, bulk: bool) -> ApiError {
    if bulk {
        ApiError::Invalid(Value::Array(errors))
    } else {
        ApiError::Invalid(errors.into_iter().next().unwrap_or_else(|| json!({})))
    }
}

/// The 201 of a create: the array of created objects, or the one object.
pub(crate) fn bulk_created(shown: Vec<Value>, bulk: bool) -> Response {
    let body = if bulk {
        Value::Array(shown)
    } else {
        shown.into_iter().next().unwrap_or_else(|| json!({}))
    };
    (StatusCode::CREATED, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_export_in_the_forms_import_reads_back() {
        assert_eq!(
            cell_text(&json!({"value": 0, "label": "Disable"})),
            "Disable(0)"
        );
        let id = Uuid::new_v4();
        assert_eq!(
            cell_text(&json!([{"id": id, "name": "dev"}])),
            format!("dev({id})")
        );
        assert_eq!(
            cell_text(&json!([{"name": "ssh", "port": 22}, {"name": "rdp", "port": 3389}])),
            "ssh/22,rdp/3389"
        );
        assert_eq!(cell_text(&json!({"code": "+1"})), r#"{"code":"+1"}"#);
        assert_eq!(cell_text(&json!(["a,b"])), r#"["a,b"]"#);
        assert_eq!(
            cell_value("groups", &format!("dev({id}), ops")),
            Some(json!([{"id": id.to_string(), "name": "dev"}, "ops"]))
        );
        assert_eq!(
            cell_value("platform", "Linux(1)"),
            Some(json!({"id": "1", "name": "Linux"}))
        );
        assert_eq!(
            cell_value("mfa_level", "Disable(0)"),
            Some(json!("Disable(0)"))
        );
        assert_eq!(cell_value("comment", "see (42)"), Some(json!("see (42)")));
        assert_eq!(cell_value("is_active", "False"), Some(json!(false)));
        assert_eq!(cell_value("username", "1001"), Some(json!("1001")));
        assert_eq!(
            cell_value("phone", r#"{"code":"+1"}"#),
            Some(json!({"code": "+1"}))
        );
        assert_eq!(cell_value("name", "  "), None);
    }

    #[test]
    fn headers_accept_field_names_and_display_labels() {
        assert_eq!(
            header_field("\u{feff}username").as_deref(),
            Some("username")
        );
        assert_eq!(header_field("Name*").as_deref(), Some("name"));
        assert_eq!(header_field("User groups").as_deref(), Some("groups"));
        assert_eq!(
            header_field("Date expired").as_deref(),
            Some("date_expired")
        );
        assert_eq!(header_field("用户名").as_deref(), Some("username"));
        assert_eq!(header_field(" "), None);
    }

    #[test]
    fn csv_round_trips_and_rows_are_numbered_by_line() {
        let rows = vec![
            json!({"username": "a", "is_active": true, "groups": []}),
            json!({"username": "b", "comment": "x, \"y\"", "mfa_level": {"value": 2, "label": "Force"}}),
        ];
        let file = write_csv(&rows).unwrap();
        assert!(file.starts_with(b"\xEF\xBB\xBF"));
        let back = read_csv(&file).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].0, 2);
        assert_eq!(back[0].1.get("is_active"), Some(&json!(true)));
        assert!(!back[0].1.contains_key("groups"));
        assert_eq!(back[1].1.get("comment"), Some(&json!("x, \"y\"")));
        assert_eq!(back[1].1.get("mfa_level"), Some(&json!("Force(2)")));
        // Blank lines are no records, so they do not count as rows.
        let skipped = read_csv(b"name\n\nweb\n,\nweb2\n").unwrap();
        assert_eq!((skipped[0].0, skipped[1].0), (2, 4));
    }

    #[test]
    fn xlsx_round_trips() {
        let rows = vec![
            json!({"name": "web", "port": 22, "is_active": false}),
            json!({"name": "db", "platform": {"id": 1, "name": "Linux"}}),
        ];
        let file = write_xlsx(&rows).unwrap();
        let back = read_xlsx(&file).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].1.get("port"), Some(&json!("22")));
        assert_eq!(back[0].1.get("is_active"), Some(&json!(false)));
        assert_eq!(
            back[1].1.get("platform"),
            Some(&json!({"id": "1", "name": "Linux"}))
        );
        assert_eq!(back[1].0, 3);
        assert!(read_xlsx(b"not a zip").is_err());
    }
}
