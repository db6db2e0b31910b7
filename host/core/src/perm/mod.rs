//! The asset permission engine: who may reach which asset, with which accounts, protocols and
//! actions.
//!
//! This is pure logic over plain structs. The store loads the permissions, the user's groups,
//! the nodes and the assets in scope, and hands them here; listeners and the API then act on
//! the answer. Keeping the rules in one place (instead of in SQL spread over list views and
//! connection code) is what lets the list view, the asset detail and the connection-token check
//! agree on every edge case, and lets them be tested without a database.
//!
//! The rules, JumpServer v4's:
//!
//! 1. A permission applies to a user when it is active, `date_start <= now < date_expired`,
//!    the user is active and not expired, and the user is listed directly or through a group.
//! 2. An empty side grants nothing: no users and no groups grants nobody; no assets and no
//!    nodes grants no asset; no accounts, protocols or actions grants none of those. There are
//!    no wildcards on users or assets.
//! 3. A permission covers its listed assets plus every asset in a listed node or any
//!    descendant of it. Inactive assets, and assets or nodes of another org than the
//!    permission's, are ignored.
//! 4. The node tree shown to the user ([`PermittedSet::nodes`]) holds every node containing a
//!    permitted asset, the granted nodes, and all their ancestors, with distinct-asset counts.
//! 5. The grant on one asset ([`asset_grant`]) is the union over the covering permissions of
//!    protocols, actions and accounts, accounts resolved against the asset's real accounts.
//!
//! Entry points: [`permitted_assets`] for list and tree views (linear in the number of
//! relations, for 100k-asset installations) and [`asset_grant`] for one asset's detail and for
//! the connect-time check.

mod account_spec;
mod actions;
mod engine;
mod grant;
mod model;
mod node_key;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

pub use account_spec::{AccountSpec, AccountSpecError};
pub use actions::{Actions, UnknownAction};
pub use engine::{
    NodeIndex, PermittedNode, PermittedSet, applicable_permissions, permission_covers_asset,
    permitted_assets,
};
pub use grant::{AssetGrant, PermedAccount, PermedProtocol, VirtualAccount, asset_grant};
pub use model::{AssetPermission, PermAccount, PermAsset, PermNode, PermUser};
pub use node_key::{InvalidNodeKey, NodeKey};
