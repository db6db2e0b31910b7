//! The HTTP surface of Portcullis.
//!
//! Today: the health endpoint JumpServer clients and load balancers probe. The REST API
//! (`/api/v1/…`, JumpServer-compatible), its OpenAPI document and the web UI mount here as they
//! are built. Handlers translate HTTP to calls on the store and the core; they decide nothing
//! about access themselves.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod health;

use axum::Router;
use portcullis_store::Store;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    version: &'static str,
}

impl AppState {
    /// Wires the state from an opened, migrated store.
    pub fn new(store: Store, version: &'static str) -> Self {
        Self {
            inner: Arc::new(Inner { store, version }),
        }
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
}

/// The complete router.
pub fn router(state: AppState) -> Router {
    Router::new().merge(health::routes()).with_state(state)
}
