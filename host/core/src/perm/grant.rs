//! What a user may do on one asset (rule 5): the union of the covering permissions.
//!
//! This is the shape of JumpServer's `permed_protocols` / `permed_accounts`, used by the
//! asset detail view and, more importantly, by the connection-token check: a token may only
//! name an account alias and protocol that appear here, and the session gets these actions.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AccountSpec, Actions, AssetPermission, PermAccount, PermAsset, PermNode, PermUser};

/// A virtual account: one that is not stored on the asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VirtualAccount {
    /// `@INPUT`: the user types the username (and secret) at connect time.
    Input,
    /// `@USER`: the Portcullis user's own username; the secret is typed or reused.
    User,
    /// `@ANON`: no credentials (web and custom assets only).
    Anon,
}

impl VirtualAccount {
    /// The `@` word, which is also the account's alias.
    pub fn alias(self) -> &'static str {
        match self {
            VirtualAccount::Input => "@INPUT",
            VirtualAccount::User => "@USER",
            VirtualAccount::Anon => "@ANON",
        }
    }

    /// JumpServer's display name for the virtual account.
    pub fn display_name(self) -> &'static str {
        match self {
            VirtualAccount::Input => "Manual input",
            VirtualAccount::User => "Dynamic user",
            VirtualAccount::Anon => "Anonymous account",
        }
    }
}

/// A protocol the user may use on the asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermedProtocol {
    /// Protocol name as the asset spells it.
    pub name: String,
    /// The asset's port for it.
    pub port: u16,
}

/// One permitted account, real or virtual (JumpServer's `permed_accounts` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermedAccount {
    /// The real account's id; `None` for virtual accounts.
    pub id: Option<Uuid>,
    /// What a connection token names: the account id for real accounts, the `@` word for
    /// virtual ones.
    pub alias: String,
    /// Display name.
    pub name: String,
    /// Login name: the account's for real accounts, the user's for `@USER`, empty for
    /// `@INPUT` (typed at connect) and `@ANON`.
    pub username: String,
    /// Whether `username` is known; clients prompt for it otherwise.
    pub has_username: bool,
    /// Whether a secret is stored; clients prompt for it otherwise.
    pub has_secret: bool,
    /// Secret type; `password` for virtual accounts.
    pub secret_type: String,
    /// Union of the actions of the permissions that granted this account. May be empty when
    /// those permissions grant no actions; the account is then listed but unusable.
    pub actions: Actions,
    /// Latest `date_expired` among the permissions that granted this account.
    pub date_expired: DateTime<Utc>,
    /// Which virtual account this is, if any.
    pub virtual_kind: Option<VirtualAccount>,
}

/// The grant on one asset: the union over the covering, applicable permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetGrant {
    /// The asset.
    pub asset_id: Uuid,
    /// Permitted protocols, in the asset's protocol order.
    pub protocols: Vec<PermedProtocol>,
    /// Union of the covering permissions' actions.
    pub actions: Actions,
    /// Permitted accounts: real ones in the order of the `accounts` argument, then `@INPUT`,
    /// `@USER`, `@ANON`.
    pub accounts: Vec<PermedAccount>,
    /// The permissions that contributed, in input order, for audit logs.
    pub permission_ids: Vec<Uuid>,
    /// Latest `date_expired` among the contributing permissions.
    pub date_expired: DateTime<Utc>,
}

impl AssetGrant {
    /// The permitted account with this alias (account id or `@` word), as named by a
    /// connection token.
    pub fn account(&self, alias: &str) -> Option<&PermedAccount> {
        self.accounts.iter().find(|a| a.alias == alias)
    }

    /// The permitted protocol with this name (case-insensitive).
    pub fn protocol(&self, name: &str) -> Option<&PermedProtocol> {
        self.protocols
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Whether a session may be opened with `account_alias` over `protocol`: both permitted
    /// and the account carries [`Actions::CONNECT`].
    pub fn can_connect(&self, account_alias: &str, protocol: &str) -> bool {
        self.protocol(protocol).is_some()
            && self
                .account(account_alias)
                .is_some_and(|a| a.actions.contains(Actions::CONNECT))
    }
}

/// Actions and expiry accumulated for one granted account.
#[derive(Clone, Copy)]
struct Acc {
    actions: Actions,
    date_expired: DateTime<Utc>,
}

impl Acc {
    fn add(slot: &mut Option<Acc>, perm: &AssetPermission) {
        match slot {
            Some(a) => {
                a.actions |= perm.actions;
                a.date_expired = a.date_expired.max(perm.date_expired);
            }
            None => {
                *slot = Some(Acc {
                    actions: perm.actions,
                    date_expired: perm.date_expired,
                })
            }
        }
    }
}

/// The grant of `user` on `asset` at `now`, or `None` when no applicable permission covers
/// the asset (or the asset is inactive).
///
/// `nodes` needs to contain the asset's nodes and the nodes the permissions list (more is
/// fine). `accounts` are the asset's real accounts; accounts of other assets are ignored.
///
/// Account selectors that fail to parse grant nothing (fail closed); validate them with
/// [`AccountSpec::parse_list`] when the permission is written. `!username` removes real
/// accounts with that username from the same permission's contribution only; another
/// permission can still grant them. It does not touch virtual accounts.
pub fn asset_grant(
    user: &PermUser,
    asset: &PermAsset,
    perms: &[AssetPermission],
    nodes: &[PermNode],
    accounts: &[PermAccount],
    now: DateTime<Utc>,
) -> Option<AssetGrant> {
    if !asset.is_active {
        return None;
    }
    let by_id: HashMap<Uuid, &PermNode> = nodes.iter().map(|n| (n.id, n)).collect();
    // The keys of the asset's nodes and all their ancestors: a permission covers the asset
    // through a node iff it grants one of these keys.
    let covering_keys: HashSet<&str> = asset
        .node_ids
        .iter()
        .filter_map(|id| by_id.get(id))
        .filter(|n| n.org_id == asset.org_id)
        .flat_map(|n| n.key.self_and_ancestor_strs())
        .collect();
    let covers = |p: &AssetPermission| {
        p.org_id == asset.org_id
            && (p.assets.contains(&asset.id)
                || p.nodes.iter().any(|nid| {
                    by_id.get(nid).is_some_and(|n| {
                        n.org_id == p.org_id && covering_keys.contains(n.key.as_str())
                    })
                }))
    };

    let real: Vec<&PermAccount> = {
        let mut seen = HashSet::new();
        accounts
            .iter()
            .filter(|a| a.asset_id == asset.id && a.is_active && seen.insert(a.id))
            .collect()
    };
    let anon_allowed = ["web", "custom"]
        .iter()
        .any(|c| asset.category.eq_ignore_ascii_case(c));

    let mut real_acc: Vec<Option<Acc>> = vec![None; real.len()];
    let mut virt_acc: [Option<Acc>; 3] = [None; 3];
    let mut protocol_ok = vec![false; asset.protocols.len()];
    let mut actions = Actions::empty();
    let mut permission_ids = Vec::new();
    let mut date_expired: Option<DateTime<Utc>> = None;

    for p in perms
        .iter()
        .filter(|p| p.applies_to(user, now) && covers(p))
    {
        permission_ids.push(p.id);
        actions |= p.actions;
        date_expired = Some(date_expired.map_or(p.date_expired, |d| d.max(p.date_expired)));
        for (ok, (name, _)) in protocol_ok.iter_mut().zip(&asset.protocols) {
            *ok = *ok || p.allows_protocol(name);
        }

        let specs: Vec<AccountSpec> = p
            .accounts
            .iter()
            .filter_map(|s| AccountSpec::parse(s).ok())
            .collect();
        let excluded: HashSet<&str> = specs
            .iter()
            .filter_map(|s| match s {
                AccountSpec::Exclude(u) => Some(u.as_str()),
                _ => None,
            })
            .collect();
        for (slot, acct) in real_acc.iter_mut().zip(&real) {
            if excluded.contains(acct.username.as_str()) {
                continue;
            }
            let selected = specs.iter().any(|s| match s {
                AccountSpec::All => true,
                AccountSpec::Username(u) => *u == acct.username,
                AccountSpec::Template(t) => acct.template_id == Some(*t),
                _ => false,
            });
            if selected {
                Acc::add(slot, p);
            }
        }
        for s in &specs {
            match s {
                AccountSpec::Input => Acc::add(&mut virt_acc[0], p),
                AccountSpec::User => Acc::add(&mut virt_acc[1], p),
                AccountSpec::Anon if anon_allowed => Acc::add(&mut virt_acc[2], p),
                _ => {}
            }
        }
    }
    let date_expired = date_expired?;

    let mut seen_protocols = HashSet::new();
    let protocols = asset
        .protocols
        .iter()
        .zip(&protocol_ok)
        .filter(|((name, _), ok)| **ok && seen_protocols.insert(name.to_ascii_lowercase()))
        .map(|((name, port), _)| PermedProtocol {
            name: name.clone(),
            port: *port,
        })
        .collect();

    let mut permed: Vec<PermedAccount> = real
        .iter()
        .zip(&real_acc)
        .filter_map(|(a, acc)| {
            acc.map(|acc| PermedAccount {
                id: Some(a.id),
                alias: a.id.to_string(),
                name: a.name.clone(),
                username: a.username.clone(),
                has_username: !a.username.is_empty(),
                has_secret: a.has_secret,
                secret_type: a.secret_type.clone(),
                actions: acc.actions,
                date_expired: acc.date_expired,
                virtual_kind: None,
            })
        })
        .collect();
    let kinds = [
        VirtualAccount::Input,
        VirtualAccount::User,
        VirtualAccount::Anon,
    ];
    for (kind, acc) in kinds.iter().zip(virt_acc) {
        let Some(acc) = acc else { continue };
        let username = match kind {
            VirtualAccount::User => user.username.clone(),
            VirtualAccount::Input | VirtualAccount::Anon => String::new(),
        };
        permed.push(PermedAccount {
            id: None,
            alias: kind.alias().to_owned(),
            name: kind.display_name().to_owned(),
            has_username: !username.is_empty(),
            username,
            has_secret: false,
            secret_type: "password".to_owned(),
            actions: acc.actions,
            date_expired: acc.date_expired,
            virtual_kind: Some(*kind),
        });
    }

    Some(AssetGrant {
        asset_id: asset.id,
        protocols,
        actions,
        accounts: permed,
        permission_ids,
        date_expired,
    })
}
