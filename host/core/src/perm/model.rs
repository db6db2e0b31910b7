//! The plain input structs the store fills in for the engine.
//!
//! They carry only what the rules need, so the store can load them with narrow queries and the
//! engine stays independent of the database schema.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Actions, NodeKey};

/// An asset permission as stored (`/perms/asset-permissions/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetPermission {
    /// Permission id.
    pub id: Uuid,
    /// The org the permission lives in; it only ever covers assets and nodes of this org.
    pub org_id: Uuid,
    /// Display name, used for logs.
    pub name: String,
    /// A disabled permission grants nothing.
    pub is_active: bool,
    /// First instant at which the permission applies (inclusive).
    pub date_start: DateTime<Utc>,
    /// Instant from which the permission no longer applies (exclusive).
    pub date_expired: DateTime<Utc>,
    /// Users granted directly.
    pub users: Vec<Uuid>,
    /// Groups whose members are granted.
    pub user_groups: Vec<Uuid>,
    /// Assets granted directly.
    pub assets: Vec<Uuid>,
    /// Nodes granted with their whole subtree.
    pub nodes: Vec<Uuid>,
    /// Raw account selectors (`@ALL`, usernames, `!username`, …); see
    /// [`AccountSpec`](super::AccountSpec). Entries that do not parse grant nothing.
    pub accounts: Vec<String>,
    /// `["all"]` or protocol names; compared case-insensitively.
    pub protocols: Vec<String>,
    /// The actions granted.
    pub actions: Actions,
}

impl AssetPermission {
    /// Active and `date_start <= now < date_expired`.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.is_active && self.date_start <= now && now < self.date_expired
    }

    /// Whether this permission grants anything to `user` at `now` (rule 1). A permission that
    /// lists no users and no groups matches nobody (rule 2).
    pub fn applies_to(&self, user: &PermUser, now: DateTime<Utc>) -> bool {
        self.is_valid_at(now)
            && user.is_valid_at(now)
            && (self.users.contains(&user.id)
                || self.user_groups.iter().any(|g| user.groups.contains(g)))
    }

    /// Whether the protocol list admits `protocol` (`"all"` admits every protocol).
    pub fn allows_protocol(&self, protocol: &str) -> bool {
        self.protocols
            .iter()
            .any(|p| p.eq_ignore_ascii_case("all") || p.eq_ignore_ascii_case(protocol))
    }
}

/// The subject of a permission check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermUser {
    /// User id.
    pub id: Uuid,
    /// Login name; the `@USER` virtual account logs in with it.
    pub username: String,
    /// The groups the user belongs to.
    pub groups: Vec<Uuid>,
    /// A disabled user has no permissions at all.
    pub is_active: bool,
    /// Instant from which the user is expired (exclusive); `None` = never.
    pub date_expired: Option<DateTime<Utc>>,
}

impl PermUser {
    /// Active and not expired at `now`.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.is_active && self.date_expired.is_none_or(|d| now < d)
    }
}

/// What the engine needs to know about an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermAsset {
    /// Asset id.
    pub id: Uuid,
    /// The asset's org; permissions of other orgs never cover it.
    pub org_id: Uuid,
    /// Display name.
    pub name: String,
    /// Inactive assets are never permitted.
    pub is_active: bool,
    /// `host`, `device`, `database`, `web`, `cloud`, `custom` or `ds`; `@ANON` needs `web` or
    /// `custom`.
    pub category: String,
    /// The asset's protocols with their ports, in display order.
    pub protocols: Vec<(String, u16)>,
    /// The nodes the asset is placed in.
    pub node_ids: Vec<Uuid>,
}

/// A node of the asset tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermNode {
    /// Node id.
    pub id: Uuid,
    /// The node's org.
    pub org_id: Uuid,
    /// Its position in the tree.
    pub key: NodeKey,
}

/// A real account on an asset, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermAccount {
    /// Account id; also its `alias` in the permitted-account list.
    pub id: Uuid,
    /// The asset it belongs to.
    pub asset_id: Uuid,
    /// Display name.
    pub name: String,
    /// Login name on the asset.
    pub username: String,
    /// `password`, `ssh_key`, `access_key`, `token`, `api_key`.
    pub secret_type: String,
    /// Inactive accounts are never granted.
    pub is_active: bool,
    /// Whether a secret is stored (otherwise the user must type it).
    pub has_secret: bool,
    /// The account template it was created from, for `%<template>` selectors.
    pub template_id: Option<Uuid>,
}
