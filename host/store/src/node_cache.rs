//! The nodes each asset sits in, with their display paths, cached for one permission
//! generation.
//!
//! Every asset page shows its assets' nodes (`nodes`, `nodes_display`): a join of
//! `asset_nodes` with `nodes` for the page's ids and a lookup of every ancestor's value to spell
//! `/Default/dev/web`. On 100,000 assets and 10,000 nodes those two queries returned three rows
//! for every row of the page and cost more than the page itself (measured: 0.45 ms and 0.3 ms
//! of SQLite against 0.16 ms for the 100-row page, before decoding the ~300 rows).
//!
//! The node tree's asset counts (`name (N)`, distinct assets in a node's subtree) are kept the
//! same way: counting the org root's subtree reads every `asset_nodes` row of the org (about
//! 600 ms at 100,000 assets), and the tree asks for it each time the asset page opens.
//!
//! What they read changes only when `perm_generation` moves: the triggers bump it on every
//! insert, update or delete of `asset_nodes`, and on every insert, delete or change of a node's
//! org, key or value (both migrations). So the answers are kept per generation and dropped as a
//! whole when it moves.
//!
//! Correctness rests on one order: the caller reads the generation *before* the rows it caches
//! under it. Rows read afterwards are at least as new as that generation (a write in between
//! only makes them newer, and it bumped the generation, so readers of the new generation never
//! see them); entries are never tagged with a generation newer than their data.

use crate::codec::{trusted, uuid};
use crate::{Store, StoreError};
use portcullis_core::perm::NodeKey;
use sqlx::Row;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use uuid::Uuid;

/// Entries kept before the cache starts over (bounds memory on very large inventories: about
/// 150 bytes an entry).
const MAX_ENTRIES: usize = 200_000;

/// Ids per `IN (…)` list, under every database's placeholder limit.
const CHUNK: usize = 500;

/// A node an asset sits in, as the asset serializers show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedNode {
    /// Node id.
    pub id: Uuid,
    /// The node's org.
    pub org_id: Uuid,
    /// Materialized key (`1:3:7`).
    pub key: String,
    /// The node's own name.
    pub value: String,
    /// `/Default/dev/web`: the values of the node and its ancestors.
    pub full_value: String,
}

/// Cached node memberships and node paths of one permission generation.
#[derive(Debug, Default)]
pub struct NodeCache {
    generation: i64,
    /// Asset → its nodes, ordered by key.
    assets: HashMap<Uuid, Arc<[CachedNode]>>,
    /// (org, key) → the node's value.
    values: HashMap<(Uuid, String), String>,
    /// Node → distinct assets in its subtree (the tree's `name (N)`).
    amounts: HashMap<Uuid, i64>,
}

impl NodeCache {
    /// Whether entries of `generation` may be read or added: a newer generation empties the
    /// cache and takes it over; an older one (a request that read the generation just before a
    /// write) bypasses it.
    fn usable(&mut self, generation: i64) -> bool {
        if generation > self.generation {
            self.generation = generation;
            self.assets.clear();
            self.values.clear();
            self.amounts.clear();
        }
        generation == self.generation
    }

    fn make_room(&mut self) {
        if self.assets.len() + self.values.len() + self.amounts.len() > MAX_ENTRIES {
            self.assets.clear();
            self.values.clear();
            self.amounts.clear();
        }
    }
}

/// The keys from the root down to `key` (inclusive).
fn lineage(key: &str) -> Vec<String> {
    match NodeKey::parse(key) {
        Ok(k) => {
            let mut v: Vec<String> = k.self_and_ancestor_strs().map(str::to_owned).collect();
            v.reverse();
            v
        }
        Err(_) => vec![key.to_owned()],
    }
}

fn in_list(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// The cache, locked. A panic while it was held left at worst a missing entry (every entry
    /// is inserted whole), so a poisoned lock is taken over.
    fn node_cache(&self) -> std::sync::MutexGuard<'_, NodeCache> {
        self.node_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current permission generation (see the module documentation for when to read it).
    pub(crate) async fn perm_generation(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM perm_generation WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The nodes of each of `ids` (ordered by key, with their paths), as of `generation` or
    /// later; `generation` must have been read before this call. Assets without nodes are
    /// absent from the map.
    pub(crate) async fn asset_nodes(
        &self,
        generation: i64,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Arc<[CachedNode]>>, StoreError> {
        let mut out = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        {
            let mut cache = self.node_cache();
            if cache.usable(generation) {
                for id in ids {
                    match cache.assets.get(id) {
                        Some(nodes) => {
                            out.insert(*id, nodes.clone());
                        }
                        None => missing.push(*id),
                    }
                }
            } else {
                missing.extend_from_slice(ids);
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        // (asset, node id, org, key, value) of the missing assets.
        let mut links: Vec<(Uuid, Uuid, Uuid, String, String)> = Vec::new();
        let missing_text: Vec<String> = missing.iter().map(Uuid::to_string).collect();
        for chunk in missing_text.chunks(CHUNK) {
            let mut q = sqlx::query(trusted(format!(
                "SELECT an.asset_id, n.id, n.org_id, n.key, n.value FROM asset_nodes an
                 JOIN nodes n ON n.id = an.node_id WHERE an.asset_id IN ({}) ORDER BY n.key",
                in_list(1, chunk.len())
            )));
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                links.push((
                    uuid(&r.try_get::<String, _>(0)?, "asset_nodes.asset_id")?,
                    uuid(&r.try_get::<String, _>(1)?, "nodes.id")?,
                    uuid(&r.try_get::<String, _>(2)?, "nodes.org_id")?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                ));
            }
        }
        let values = self.node_values(generation, &links).await?;
        let mut found: HashMap<Uuid, Vec<CachedNode>> = HashMap::new();
        for (asset, id, org_id, key, value) in links {
            let full_value = lineage(&key)
                .iter()
                .map(|k| {
                    let v = values.get(&(org_id, k.clone())).map_or("", String::as_str);
                    format!("/{v}")
                })
                .collect();
            found.entry(asset).or_default().push(CachedNode {
                id,
                org_id,
                key,
                value,
                full_value,
            });
        }
        let mut cache = self.node_cache();
        let keep = cache.usable(generation);
        if keep {
            cache.make_room();
        }
        for id in missing {
            let nodes: Arc<[CachedNode]> = found.remove(&id).unwrap_or_default().into();
            if keep {
                cache.assets.insert(id, nodes.clone());
            }
            if !nodes.is_empty() {
                out.insert(id, nodes);
            }
        }
        Ok(out)
    }

    /// The values of the nodes on the paths of `links`' nodes, by (org, key): from the cache
    /// where it has them, the rest in one query per org and chunk of keys.
    async fn node_values(
        &self,
        generation: i64,
        links: &[(Uuid, Uuid, Uuid, String, String)],
    ) -> Result<HashMap<(Uuid, String), String>, StoreError> {
        let wanted: BTreeSet<(Uuid, String)> = links
            .iter()
            .flat_map(|(_, _, org, key, _)| lineage(key).into_iter().map(|k| (*org, k)))
            .collect();
        let mut out = HashMap::with_capacity(wanted.len());
        let mut missing: HashMap<Uuid, Vec<String>> = HashMap::new();
        {
            let mut cache = self.node_cache();
            let usable = cache.usable(generation);
            for (org, key) in wanted {
                match usable
                    .then(|| cache.values.get(&(org, key.clone())))
                    .flatten()
                {
                    Some(v) => {
                        out.insert((org, key), v.clone());
                    }
                    None => missing.entry(org).or_default().push(key),
                }
            }
        }
        let mut fetched = Vec::new();
        for (org, keys) in &missing {
            for chunk in keys.chunks(CHUNK) {
                let mut q = sqlx::query(trusted(format!(
                    "SELECT key, value FROM nodes WHERE org_id = $1 AND key IN ({})",
                    in_list(2, chunk.len())
                )))
                .bind(org.to_string());
                for k in chunk {
                    q = q.bind(k.as_str());
                }
                for r in q.fetch_all(&self.pool).await? {
                    fetched.push((*org, r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?));
                }
            }
        }
        if !fetched.is_empty() {
            let mut cache = self.node_cache();
            let keep = cache.usable(generation);
            if keep {
                cache.make_room();
            }
            for (org, key, value) in fetched {
                if keep {
                    cache.values.insert((org, key.clone()), value.clone());
                }
                out.insert((org, key), value);
            }
        }
        Ok(out)
    }

    /// The distinct assets in the subtree of each of `ids` (nodes), as of `generation` or
    /// later; `generation` must have been read before this call. Unknown ids are absent.
    pub(crate) async fn node_asset_amounts(
        &self,
        generation: i64,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, i64>, StoreError> {
        let mut out = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        {
            let mut cache = self.node_cache();
            let usable = cache.usable(generation);
            for id in ids {
                match usable.then(|| cache.amounts.get(id)).flatten() {
                    Some(n) => {
                        out.insert(*id, *n);
                    }
                    None => missing.push(id.to_string()),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let mut fetched = Vec::with_capacity(missing.len());
        for chunk in missing.chunks(CHUNK) {
            let mut q = sqlx::query(trusted(format!(
                "SELECT n.id, (SELECT COUNT(DISTINCT an.asset_id) FROM asset_nodes an
                   JOIN nodes d ON d.id = an.node_id WHERE d.org_id = n.org_id
                   AND (d.key = n.key OR (d.key >= (n.key || ':') AND d.key < (n.key || ';'))))
                 FROM nodes n WHERE n.id IN ({})",
                in_list(1, chunk.len())
            )));
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                fetched.push((
                    uuid(&r.try_get::<String, _>(0)?, "nodes.id")?,
                    r.try_get::<i64, _>(1)?,
                ));
            }
        }
        let mut cache = self.node_cache();
        let keep = cache.usable(generation);
        if keep {
            cache.make_room();
        }
        for (id, n) in fetched {
            if keep {
                cache.amounts.insert(id, n);
            }
            out.insert(id, n);
        }
        Ok(out)
    }
}
