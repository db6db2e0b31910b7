//! One module per JumpServer app (`/api/v1/<app>/…`).

pub mod authentication;
pub mod orgs;
pub mod perms;
pub mod users;

use crate::AppState;
use axum::Router;

/// Every `/api/v1` route.
pub fn all() -> Router<AppState> {
    Router::new()
        .merge(authentication::routes())
        .merge(orgs::routes())
        .merge(perms::routes())
        .merge(users::routes())
}
