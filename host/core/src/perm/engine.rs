//! Which assets a user may see, and the node tree over them (rules 1–4, 6).
//!
//! [`permitted_assets`] runs over whole installations (100,000 assets, 10,000 nodes, 1,000
//! permissions), so it never compares permissions with assets pairwise. Granted node keys go
//! into a hash set; each asset then walks up the key path of each of its nodes (a handful of
//! string slices) and looks every prefix up. The cost is linear in the number of relations
//! times the tree depth.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AssetPermission, NodeKey, PermAsset, PermNode, PermUser};

/// Lookup tables over a slice of nodes: by id and by `(org, key)`.
///
/// Built once per call of [`permitted_assets`]; exposed so that callers evaluating many
/// single assets with [`permission_covers_asset`] can build it once too.
#[derive(Debug, Clone)]
pub struct NodeIndex<'a> {
    nodes: &'a [PermNode],
    by_id: HashMap<Uuid, usize>,
    by_key: HashMap<(Uuid, &'a str), usize>,
}

impl<'a> NodeIndex<'a> {
    /// Indexes `nodes`. If an id or an `(org, key)` pair repeats, the last one wins.
    pub fn new(nodes: &'a [PermNode]) -> NodeIndex<'a> {
        let mut by_id = HashMap::with_capacity(nodes.len());
        let mut by_key = HashMap::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            by_id.insert(n.id, i);
            by_key.insert((n.org_id, n.key.as_str()), i);
        }
        NodeIndex {
            nodes,
            by_id,
            by_key,
        }
    }

    /// The node with this id.
    pub fn get(&self, id: &Uuid) -> Option<&'a PermNode> {
        self.by_id.get(id).and_then(|i| self.nodes.get(*i))
    }

    /// The node of `org` with this key.
    pub fn by_key(&self, org: Uuid, key: &str) -> Option<&'a PermNode> {
        self.position_by_key(org, key)
            .and_then(|i| self.nodes.get(i))
    }

    fn position(&self, id: &Uuid) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    fn position_by_key(&self, org: Uuid, key: &str) -> Option<usize> {
        self.by_key.get(&(org, key)).copied()
    }
}

/// A node of the user's permitted tree (`/perms/users/self/nodes/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermittedNode {
    /// Node id.
    pub id: Uuid,
    /// Node org.
    pub org_id: Uuid,
    /// Node key; the list is sorted by it.
    pub key: NodeKey,
    /// Distinct permitted assets in this node or any descendant.
    pub assets_amount: usize,
    /// The node, or one of its ancestors, is listed in an applicable permission: every
    /// active asset under it is permitted. Lazy tree views use it to decide whether to expand
    /// the real subtree or only the permitted part.
    pub granted: bool,
}

/// The answer of [`permitted_assets`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermittedSet {
    /// Permitted asset ids, in the order of the `assets` argument, without duplicates. A
    /// caller that passes assets sorted by name gets them sorted by name.
    pub asset_ids: Vec<Uuid>,
    /// The subset of `asset_ids` granted directly (not only through a node), in the same
    /// order: the "ungrouped" view.
    pub direct_asset_ids: Vec<Uuid>,
    /// The permitted node tree, sorted by key (then org).
    pub nodes: Vec<PermittedNode>,
}

/// The permissions of `perms` that apply to `user` at `now` (rule 1), in input order.
pub fn applicable_permissions<'p>(
    user: &PermUser,
    perms: &'p [AssetPermission],
    now: DateTime<Utc>,
) -> Vec<&'p AssetPermission> {
    perms.iter().filter(|p| p.applies_to(user, now)).collect()
}

/// Whether `perm` covers `asset` (rule 3): same org, asset active, and the asset is listed
/// or sits in a listed node or a descendant of one. Does not check whether the permission
/// applies to anyone; combine with [`AssetPermission::applies_to`].
pub fn permission_covers_asset(
    perm: &AssetPermission,
    asset: &PermAsset,
    index: &NodeIndex<'_>,
) -> bool {
    if !asset.is_active || perm.org_id != asset.org_id {
        return false;
    }
    if perm.assets.contains(&asset.id) {
        return true;
    }
    perm.nodes.iter().any(|granted| {
        let Some(g) = index.get(granted) else {
            return false;
        };
        g.org_id == perm.org_id
            && asset.node_ids.iter().any(|nid| {
                index.get(nid).is_some_and(|n| {
                    n.org_id == asset.org_id && g.key.is_self_or_ancestor_of(&n.key)
                })
            })
    })
}

/// The assets and node tree `user` may see at `now` (rules 1–4), for list and tree views.
///
/// `nodes` must contain the nodes the permissions list and the nodes the assets sit in, plus
/// their ancestors if the tree should show them (ancestors missing from `nodes` are skipped).
/// `assets` is the scope to filter: usually every asset of the org(s) being listed. Runs in
/// time linear in `perms` relations plus `assets × nodes per asset × depth`.
pub fn permitted_assets(
    user: &PermUser,
    perms: &[AssetPermission],
    nodes: &[PermNode],
    assets: &[PermAsset],
    now: DateTime<Utc>,
) -> PermittedSet {
    let index = NodeIndex::new(nodes);

    // Everything the applicable permissions grant, keyed by the permission's org so that a
    // grant never crosses orgs.
    let mut direct: HashSet<(Uuid, Uuid)> = HashSet::new();
    let mut granted_keys: HashSet<(Uuid, &str)> = HashSet::new();
    let mut granted_positions: Vec<usize> = Vec::new();
    for p in perms.iter().filter(|p| p.applies_to(user, now)) {
        direct.extend(p.assets.iter().map(|a| (p.org_id, *a)));
        for nid in &p.nodes {
            if let Some(i) = index.position(nid)
                && let Some(n) = nodes.get(i)
                && n.org_id == p.org_id
            {
                granted_keys.insert((n.org_id, n.key.as_str()));
                granted_positions.push(i);
            }
        }
    }

    let mut counts = vec![0usize; nodes.len()];
    let mut in_tree = vec![false; nodes.len()];
    let mut seen: HashSet<Uuid> = HashSet::with_capacity(assets.len());
    let mut out = PermittedSet::default();
    let mut containing: Vec<usize> = Vec::new();

    for asset in assets {
        if !asset.is_active || !seen.insert(asset.id) {
            continue;
        }
        let is_direct = direct.contains(&(asset.org_id, asset.id));
        let mut via_node = false;
        containing.clear();
        for nid in &asset.node_ids {
            let Some(node) = index.get(nid) else { continue };
            if node.org_id != asset.org_id {
                continue;
            }
            for prefix in node.key.self_and_ancestor_strs() {
                via_node = via_node || granted_keys.contains(&(asset.org_id, prefix));
                if let Some(j) = index.position_by_key(asset.org_id, prefix) {
                    containing.push(j);
                }
            }
        }
        if !is_direct && !via_node {
            continue;
        }
        out.asset_ids.push(asset.id);
        if is_direct {
            out.direct_asset_ids.push(asset.id);
        }
        // An asset in two sibling nodes counts once for their common ancestors.
        containing.sort_unstable();
        containing.dedup();
        for &j in &containing {
            if let Some(c) = counts.get_mut(j) {
                *c += 1;
            }
            if let Some(t) = in_tree.get_mut(j) {
                *t = true;
            }
        }
    }

    // Granted nodes and their ancestors are shown even when they hold no permitted asset, so
    // the user sees what was granted.
    for &i in &granted_positions {
        let Some(node) = nodes.get(i) else { continue };
        for prefix in node.key.self_and_ancestor_strs() {
            if let Some(j) = index.position_by_key(node.org_id, prefix)
                && let Some(t) = in_tree.get_mut(j)
            {
                *t = true;
            }
        }
    }

    let mut tree: Vec<PermittedNode> = nodes
        .iter()
        .enumerate()
        .filter(|(i, n)| {
            in_tree.get(*i).copied().unwrap_or(false)
                // Skip shadowed duplicates so each node appears once.
                && index.position(&n.id) == Some(*i)
        })
        .map(|(i, n)| PermittedNode {
            id: n.id,
            org_id: n.org_id,
            key: n.key.clone(),
            assets_amount: counts.get(i).copied().unwrap_or(0),
            granted: n
                .key
                .self_and_ancestor_strs()
                .any(|k| granted_keys.contains(&(n.org_id, k))),
        })
        .collect();
    tree.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.org_id.cmp(&b.org_id)));
    out.nodes = tree;
    out
}
