//! The web UI: the single-page app in `web/`, built by the build script and embedded into the
//! binary, so one file serves everything and nothing is fetched from elsewhere at run time.
//!
//! [`router`] serves it the way a Vite app with client-side routing wants:
//! - `/` redirects to `/ui/`; `/ui` and every path under `/ui/` answer `index.html`
//!   (HTML5 history routing happens in the browser), revalidated on every load
//!   (`Cache-Control: no-cache` with an `ETag`), so a new build is picked up at once;
//! - `/assets/…` are Vite's content-hashed files: cached for a year as immutable, and a missing
//!   one is a 404 (never `index.html`, which a browser would try to run as a script);
//! - other files at the root (`favicon.svg`, …) are served revalidated; any other path answers
//!   `index.html`, whose router shows its own "not found".
//!
//! Text files go out brotli- or gzip-compressed when the browser accepts it, from copies the
//! build script made. Every answer carries `X-Content-Type-Options: nosniff`, refuses framing
//! and sets a Content-Security-Policy that lets the page load scripts, styles, images and fonts
//! and connect (HTTP and websockets) only to its own origin. Paths of the API are not served
//! here: `portcullis_api::router_with_site` sends them to the API.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use std::borrow::Cow;
use std::sync::Arc;

/// The app as built (`$OUT_DIR/dist`, written by the build script).
#[derive(rust_embed::Embed)]
#[folder = "$OUT_DIR/dist"]
struct Dist;

/// Where the embedded UI came from: `npm` (built from `web/` with this binary), `prebuilt`
/// (`PORTCULLIS_WEB_DIST`) or `placeholder` (not built: a page saying how to build it).
pub const ORIGIN: &str = env!("PORTCULLIS_WEB_ORIGIN");

/// Whether the binary holds the real UI rather than the "not built" page (`serve` warns).
pub fn is_built() -> bool {
    ORIGIN != "placeholder"
}

/// `index.html` and root files: revalidated on every use.
const REVALIDATE: &str = "no-cache";
/// Vite's content-hashed files never change under their name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Only this origin, for everything. Element Plus positions popups and tables with inline
/// `style` attributes, hence `'unsafe-inline'` for styles only; scripts are files. `'self'`
/// in `connect-src` covers same-origin websockets (the web terminal, live view).
/// `'wasm-unsafe-eval'` lets the session replay player (asciinema-player) compile its bundled
/// WebAssembly terminal emulator; it allows no JavaScript `eval`.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; \
    worker-src 'self' blob:; media-src 'self' blob:; object-src 'none'; base-uri 'self'; \
    form-action 'self'; frame-ancestors 'none'";

/// The UI as an axum router, to sit beside the API (it has no `/api` routes of its own).
pub fn router() -> Router {
    site(Arc::new(Embedded))
}

/// One file of the app.
struct File {
    data: Cow<'static, [u8]>,
    /// A digest of `data`, for the `ETag`.
    digest: [u8; 32],
}

/// Where the files come from: the embedded build, or a map in the tests.
trait Files: Send + Sync + 'static {
    fn get(&self, path: &str) -> Option<File>;
}

struct Embedded;

impl Files for Embedded {
    fn get(&self, path: &str) -> Option<File> {
        Dist::get(path).map(|f| File {
            digest: f.metadata.sha256_hash(),
            data: f.data,
        })
    }
}

type Site = Arc<dyn Files>;

fn site(files: Site) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/{*route}", get(index))
        .route("/assets/{*path}", get(asset))
        .fallback(root_file)
        .layer(axum::middleware::map_response(protect))
        .with_state(files)
}

async fn index(State(files): State<Site>, headers: HeaderMap) -> Response {
    serve(&*files, "index.html", REVALIDATE, &headers).unwrap_or_else(not_found)
}

async fn asset(
    State(files): State<Site>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&*files, &format!("assets/{path}"), IMMUTABLE, &headers).unwrap_or_else(not_found)
}

/// A file at the root of the app (`/favicon.svg`), or else `index.html`.
async fn root_file(
    State(files): State<Site>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let path = uri.path().trim_start_matches('/');
    let own_file = !path.is_empty() && path != "index.html" && !path.starts_with("assets/");
    let found = if own_file {
        serve(&*files, path, REVALIDATE, &headers)
    } else {
        None
    };
    let mut res = found
        .or_else(|| serve(&*files, "index.html", REVALIDATE, &headers))
        .unwrap_or_else(not_found);
    if method == Method::HEAD {
        *res.body_mut() = Body::empty();
    }
    res
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, REVALIDATE),
        ],
        "not found\n",
    )
        .into_response()
}

/// The answer for one file: the best encoding the client accepts, `ETag` and cache policy,
/// or 304 when the client's copy is current. `None` when there is no such file.
fn serve(files: &dyn Files, path: &str, cache: &'static str, req: &HeaderMap) -> Option<Response> {
    let (kind, text) = content_type(path);
    let mut chosen = None;
    if text {
        for (coding, suffix) in [("br", ".br"), ("gzip", ".gz")] {
            if accepts(req, coding)
                && let Some(file) = files.get(&format!("{path}{suffix}"))
            {
                chosen = Some((file, Some(coding)));
                break;
            }
        }
    }
    let (file, coding) = match chosen {
        Some(c) => c,
        None => (files.get(path)?, None),
    };
    let etag = etag(&file.digest);

    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    if text {
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if client_has(req, &etag) {
        return Some((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Some(coding) = coding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    let body = match file.data {
        Cow::Borrowed(bytes) => Bytes::from_static(bytes),
        Cow::Owned(bytes) => Bytes::from(bytes),
    };
    Some((StatusCode::OK, headers, body).into_response())
}

/// The media type by extension, and whether the file is text (precompressed copies exist).
fn content_type(path: &str) -> (&'static str, bool) {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "html" => ("text/html; charset=utf-8", true),
        "js" | "mjs" => ("text/javascript; charset=utf-8", true),
        "css" => ("text/css; charset=utf-8", true),
        "json" | "map" => ("application/json", true),
        "svg" => ("image/svg+xml", true),
        "txt" => ("text/plain; charset=utf-8", true),
        "xml" => ("application/xml", true),
        "wasm" => ("application/wasm", true),
        "png" => ("image/png", false),
        "jpg" | "jpeg" => ("image/jpeg", false),
        "gif" => ("image/gif", false),
        "webp" => ("image/webp", false),
        "avif" => ("image/avif", false),
        "ico" => ("image/x-icon", false),
        "woff" => ("font/woff", false),
        "woff2" => ("font/woff2", false),
        "ttf" => ("font/ttf", false),
        "otf" => ("font/otf", false),
        _ => ("application/octet-stream", false),
    }
}

/// Whether `Accept-Encoding` lists `coding` without `q=0`.
fn accepts(req: &HeaderMap, coding: &str) -> bool {
    req.get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case(coding) && !refused
        })
}

/// A strong validator from the first half of the file's SHA-256.
fn etag(digest: &[u8; 32]) -> String {
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether `If-None-Match` names this version (weak comparison, as RFC 9110 asks for it).
fn client_has(req: &HeaderMap, etag: &str) -> bool {
    req.get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// The headers every UI answer carries.
async fn protect(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

#[cfg(test)]
mod tests;
