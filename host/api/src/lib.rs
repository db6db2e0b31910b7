//! The HTTP surface of Portcullis: the REST API under `/api/v1/`, compatible with JumpServer
//! v4 (`shared/reference/jumpserver-api-v4.md`), and the health endpoint.
//!
//! Handlers translate HTTP to calls on the store, the auth service and the core. Each route
//! declares the permission it needs (`access`), which a layer checks through
//! [`ctx::Caller::require`] before the handler runs; handlers only narrow what a caller sees.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod access;
mod conventions;
pub mod ctx;
pub mod error;
pub mod fmt;
mod health;
pub mod list;
mod openapi;
pub mod page_cache;
pub mod plugin_log;
pub mod plugins;
mod routes;
mod schemas;
mod transfer;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use portcullis_auth::Auth;
use portcullis_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    auth: Auth,
    version: &'static str,
    recordings: PathBuf,
    plugins: Option<plugins::PluginHost>,
    engine: Option<portcullis_session::live::Engine>,
    ssh_address: Option<std::net::SocketAddr>,
    page_cache: Arc<page_cache::PageCache>,
}

impl AppState {
    /// Wires the state from an opened, migrated store, the auth service and the directory the
    /// session engine writes recordings to (replays are served from there).
    pub fn new(store: Store, auth: Auth, version: &'static str, recordings: PathBuf) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                auth,
                version,
                recordings,
                plugins: None,
                engine: None,
                ssh_address: None,
                page_cache: Arc::new(page_cache::PageCache::new(page_cache::DEFAULT_MAX_BYTES)),
            }),
        }
    }

    /// The same state with the plugin engine and registry (`serve` always sets them; without
    /// them the plugin endpoints answer 500).
    pub fn with_plugins(self, host: plugins::PluginHost) -> Self {
        self.rebuild(|inner| inner.plugins = Some(host))
    }

    /// The same state with the session engine, shared with the SSH gateway, that the web
    /// terminal and the file manager open sessions through (`serve` always sets it; without
    /// it those endpoints answer 500).
    pub fn with_engine(self, engine: portcullis_session::live::Engine) -> Self {
        self.rebuild(|inner| inner.engine = Some(engine))
    }

    /// The same state with the address the SSH gateway listens on, from which the public
    /// settings tell clients where to connect (unless a setting overrides it, as behind NAT).
    pub fn with_ssh_address(self, address: std::net::SocketAddr) -> Self {
        self.rebuild(|inner| inner.ssh_address = Some(address))
    }

    /// The same state with a list-page cache of `max_bytes` (0 disables it; the default is
    /// [`page_cache::DEFAULT_MAX_BYTES`]).
    pub fn with_page_cache(self, max_bytes: usize) -> Self {
        self.rebuild(|inner| inner.page_cache = Arc::new(page_cache::PageCache::new(max_bytes)))
    }

    /// The cache of whole asset-list answers.
    pub(crate) fn page_cache(&self) -> &page_cache::PageCache {
        &self.inner.page_cache
    }

    /// The SSH gateway's listen address, when wired.
    pub fn ssh_address(&self) -> Option<std::net::SocketAddr> {
        self.inner.ssh_address
    }

    /// A copy of the state with one part changed (only while wiring, before it is shared).
    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let inner = &self.inner;
        let mut next = Inner {
            store: inner.store.clone(),
            auth: inner.auth.clone(),
            version: inner.version,
            recordings: inner.recordings.clone(),
            plugins: inner.plugins.clone(),
            engine: inner.engine.clone(),
            ssh_address: inner.ssh_address,
            page_cache: inner.page_cache.clone(),
        };
        change(&mut next);
        Self {
            inner: Arc::new(next),
        }
    }

    /// The session engine (live sessions, recordings, kill and lock), when wired.
    pub fn engine(&self) -> Option<&portcullis_session::live::Engine> {
        self.inner.engine.as_ref()
    }

    /// The plugin engine, the enabled plugins and their files, for every service that calls
    /// plugins.
    pub fn plugins(&self) -> Option<&plugins::PluginHost> {
        self.inner.plugins.as_ref()
    }

    /// Where session recordings live; a session's `replay_path` is relative to it.
    pub fn recordings_dir(&self) -> &Path {
        &self.inner.recordings
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Authentication.
    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    /// The keyring sealing stored secrets.
    pub fn vault(&self) -> &portcullis_core::vault::Vault {
        self.inner.auth.vault()
    }
}

/// The `Host` header (for the absolute `next`/`previous` links of paginated lists).
pub struct Host(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Host {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let host = parts
            .headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        Ok(Host(host))
    }
}

/// The largest request body accepted (imports included).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// The complete router. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so handlers see the client address.
pub fn router(state: AppState) -> Router {
    // The layers wrap the whole routed API (not each route), so they see the router's own
    // answers as a client does, such as the `Allow` header of a 405.
    // Each route's declared need is checked before its handler (`access`).
    let api: Router = api_routes()
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::enforce,
        ))
        .fallback(not_found)
        .with_state(state.clone());
    Router::new()
        .fallback_service(api)
        // Inside the export/import layer, so an export pages through lookups and bulk forms too.
        .layer(axum::middleware::from_fn_with_state(
            state,
            conventions::layer,
        ))
        .layer(axum::middleware::from_fn(transfer::layer))
        // Imports of large inventories arrive as one body; anything larger is refused (413)
        // before it is read.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

/// Every route of the API, before fallback and layers: what [`router`] serves and what the
/// OpenAPI document (`openapi.rs`) describes, read from this same router.
fn api_routes() -> Router<AppState> {
    Router::new()
        .merge(health::routes())
        .merge(routes::all())
        .merge(openapi::routes())
}

/// The complete router with a site behind it (the web UI): `/api/…` (and JumpServer's
/// `/koko/…`) go to [`router`], so an unknown API path keeps its JSON 404; every other path
/// goes to `site`, untouched by the API's layers. Serve it like [`router`].
pub fn router_with_site(state: AppState, site: Router) -> Router {
    use tower::ServiceExt;
    let api = router(state);
    // A dispatch on the path rather than routes with a catch-all: a route's captured
    // parameter would reach the API's handlers as one more path parameter.
    Router::new().fallback(move |req: axum::extract::Request| {
        let target = if is_api_path(req.uri().path()) {
            api.clone()
        } else {
            site.clone()
        };
        async move { target.oneshot(req).await }
    })
}

/// Whether a path belongs to the API (`/api`, `/koko` and everything under them).
fn is_api_path(path: &str) -> bool {
    ["/api", "/koko"].iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

async fn not_found() -> error::ApiError {
    error::ApiError::NotFound("Resource")
}
