//! One module per JumpServer app (`/api/v1/<app>/…`).

pub mod accounts;
pub mod acls;
pub(crate) mod announcement;
pub mod assets;
pub mod audits;
pub mod authentication;
pub mod automations;
pub(crate) mod bulk_delete;
pub(crate) mod bulk_update;
pub mod categories;
pub(crate) mod common;
pub(crate) mod dashboard;
pub(crate) mod favorites;
pub mod file_manager;
pub mod host_keys;
pub mod labels;
pub mod orgs;
pub mod perms;
pub(crate) mod platform_automation;
pub mod platform_writes;
pub mod plugins;
pub mod profile_permissions;
pub(crate) mod ssh_address;
pub mod terminal;
pub mod tickets;
pub mod user_sessions;
pub mod users;
pub mod webterm;

use crate::AppState;
use axum::Router;

/// Every `/api/v1` route.
pub fn all() -> Router<AppState> {
    Router::new()
        .merge(accounts::routes())
        .merge(acls::routes())
        .merge(assets::routes())
        .merge(audits::routes())
        .merge(automations::routes())
        .merge(categories::routes())
        .merge(dashboard::routes())
        .merge(favorites::routes())
        .merge(file_manager::routes())
        .merge(authentication::routes())
        .merge(host_keys::routes())
        .merge(labels::routes())
        .merge(orgs::routes())
        .merge(perms::routes())
        .merge(plugins::routes())
        .merge(profile_permissions::routes())
        .merge(terminal::routes())
        .merge(tickets::routes())
        .merge(user_sessions::routes())
        .merge(users::routes())
        .merge(webterm::routes())
}
