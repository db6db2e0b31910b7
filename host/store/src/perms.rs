//! Loading the permission engine's input, and persisting its answer per user.
//!
//! The engine in `portcullis_core::perm` decides; this module only feeds it and remembers the
//! result. A user's permitted assets and node tree are materialized in `user_perm_assets` and
//! `user_perm_nodes`, so list views are indexed queries instead of a recomputation over
//! 100,000 assets on every request. The materialized rows are rebuilt when they are stale:
//!
//! * `perm_generation.value` changed — database triggers bump it on every write to a table
//!   the engine reads (permissions and their relations, group memberships, nodes, asset
//!   memberships, the active flags and expiry of users and assets), so no writer can forget;
//! * or a time boundary passed — a permission started or expired, or the user expired
//!   (`user_perm_state.valid_until`).

use crate::codec::{Flag, from_micros, micros, trusted, uuid};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use portcullis_core::perm::{
    Actions, AssetGrant, AssetPermission, NodeKey, PermAccount, PermAsset, PermNode, PermUser,
    PermittedSet, asset_grant, permitted_assets,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// Cached totals of materialized grants: (user, org) → (build marker, count).
pub type CountCache = HashMap<(Uuid, Option<Uuid>), (i64, i64)>;

/// Entries kept before the cache is emptied (a bound, not a tuning knob).
const COUNT_CACHE_MAX: usize = 10_000;

/// Bind parameters per `IN (…)` chunk: well under SQLite's and PostgreSQL's limits.
const CHUNK: usize = 500;

/// One page of a user's permitted assets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermittedPage {
    /// All permitted assets matching the query (not just this page).
    pub count: i64,
    /// This page, ordered by name.
    pub assets: Vec<PermittedAssetRow>,
    /// The next instant a permission of the user starts or expires (`None`: none does): the
    /// page answers for the same data only until then, since the grant is time-dependent.
    pub valid_until: Option<DateTime<Utc>>,
}

/// When the materialized grant in force was built and until when it holds.
#[derive(Debug, Clone, Copy)]
struct Built {
    /// `user_perm_state.date_built`: changes with every rebuild.
    date_built: i64,
    /// `user_perm_state.valid_until`.
    valid_until: Option<i64>,
}

/// A permitted asset as list views show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermittedAssetRow {
    /// Asset id.
    pub id: Uuid,
    /// Org of the asset.
    pub org_id: Uuid,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Platform id.
    pub platform_id: i64,
    /// Category (`host`, `database`, …).
    pub category: String,
    /// Type (`linux`, `mysql`, …).
    pub type_: String,
    /// Comment.
    pub comment: String,
    /// Platform name.
    pub platform_name: String,
    /// Org name.
    pub org_name: String,
    /// Zone `(id, name)`, if any.
    pub zone: Option<(Uuid, String)>,
    /// Connectivity state.
    pub connectivity: String,
    /// Active flag.
    pub is_active: bool,
    /// Creation time.
    pub date_created: DateTime<Utc>,
    /// Creator.
    pub created_by: String,
    /// Last verification.
    pub date_verified: Option<DateTime<Utc>>,
    /// Nodes `(id, value)` the asset sits in, by key.
    pub nodes: Vec<(Uuid, String)>,
    /// The keys of those nodes, in the same order.
    pub node_keys: Vec<String>,
    /// Protocol names (`ssh`, `sftp`, …).
    pub protocols: Vec<String>,
}

/// A permitted asset found by name, address or id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedAsset {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Comment.
    pub comment: String,
}

/// A node of a user's permitted tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermittedNodeRow {
    /// Node id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// Materialized path.
    pub key: String,
    /// Display name.
    pub value: String,
    /// Permitted assets in this node and below.
    pub assets_amount: i64,
}

/// Which of a user's permitted assets a list view wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetScope {
    /// All of them.
    All,
    /// The directly granted ones (JumpServer's "ungrouped" assets).
    Direct,
    /// Those sitting directly in this node.
    InNode(Uuid),
    /// The ones the user bookmarked (`favorite_assets`).
    Favorite,
    /// Those in the node with this key in this org, or anywhere below it.
    UnderNode {
        /// The node's org.
        org: Uuid,
        /// The node's key.
        key: String,
    },
}

/// Narrowing of a permitted-asset list by the list view's query (§4.12): every field set must
/// hold. Values are bound as parameters, never spliced into SQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermittedFilter {
    /// Words that must each occur (case-insensitive) in the name, address or comment.
    pub search: Option<String>,
    /// Exact asset id.
    pub id: Option<Uuid>,
    /// Exact name.
    pub name: Option<String>,
    /// Exact address.
    pub address: Option<String>,
    /// Exact comment.
    pub comment: Option<String>,
    /// Exact category (`host`, `database`, …).
    pub category: Option<String>,
    /// Exact type (`linux`, `mysql`, …).
    pub type_: Option<String>,
    /// Active flag.
    pub is_active: Option<bool>,
    /// Assets offering at least one of these protocols.
    pub protocols: Vec<String>,
    /// Assets in this node or anywhere below it (JumpServer's `node_id`).
    pub under_node: Option<Uuid>,
    /// The list's `order` (`name`, `-address`, …); `None` is by name. Ordering never narrows,
    /// so it does not count against [`PermittedFilter::is_empty`].
    pub order: Option<String>,
}

/// Fields a permitted-asset list may be ordered by, as (API field, SQL column).
const PERMITTED_ORDER: &[(&str, &str)] = &[
    ("name", "g.asset_name"),
    ("address", "a.address"),
    ("comment", "a.comment"),
    ("category", "a.category"),
    ("type", "a.type"),
    ("platform", "p.name"),
    ("is_active", "a.is_active"),
    ("connectivity", "a.connectivity"),
    ("date_created", "a.date_created"),
    ("date_verified", "a.date_verified"),
    ("org_name", "o.name"),
];

impl PermittedFilter {
    /// Whether nothing narrows the list (so the cached total applies).
    pub fn is_empty(&self) -> bool {
        PermittedFilter {
            order: None,
            ..self.clone()
        } == PermittedFilter::default()
    }

    /// SQL conditions (each starting with `AND`) over `a` (assets) and `g` (the grant), with
    /// their arguments numbered from `$first`.
    fn clauses(&self, first: usize) -> (String, Vec<String>) {
        let mut sql = String::new();
        let mut args: Vec<String> = Vec::new();
        let arg = |args: &mut Vec<String>, v: String| {
            args.push(v);
            format!("${}", first + args.len() - 1)
        };
        if let Some(search) = &self.search {
            for term in search.split_whitespace() {
                let p = arg(
                    &mut args,
                    format!("%{}%", crate::codec::like_escape(&term.to_lowercase())),
                );
                sql.push_str(&format!(
                    " AND (LOWER(a.name) LIKE {p} ESCAPE '\\' OR LOWER(a.address) LIKE {p} ESCAPE '\\' OR LOWER(a.comment) LIKE {p} ESCAPE '\\')"
                ));
            }
        }
        if let Some(id) = self.id {
            let p = arg(&mut args, id.to_string());
            sql.push_str(&format!(" AND a.id = {p}"));
        }
        for (col, val) in [
            ("a.name", &self.name),
            ("a.address", &self.address),
            ("a.comment", &self.comment),
            ("a.category", &self.category),
            ("a.type", &self.type_),
        ] {
            if let Some(v) = val {
                let p = arg(&mut args, v.clone());
                sql.push_str(&format!(" AND {col} = {p}"));
            }
        }
        if let Some(active) = self.is_active {
            sql.push_str(if active {
                " AND a.is_active = TRUE"
            } else {
                " AND a.is_active = FALSE"
            });
        }
        if !self.protocols.is_empty() {
            let list: Vec<String> = self
                .protocols
                .iter()
                .map(|p| arg(&mut args, p.clone()))
                .collect();
            sql.push_str(&format!(
                " AND a.id IN (SELECT ap.asset_id FROM asset_protocols ap WHERE ap.name IN ({}))",
                list.join(", ")
            ));
        }
        if let Some(node) = self.under_node {
            let p = arg(&mut args, node.to_string());
            sql.push_str(&format!(
                " AND a.id IN (SELECT an.asset_id FROM nodes top
                    JOIN nodes n ON n.org_id = top.org_id
                     AND (n.key = top.key OR (n.key >= top.key || ':' AND n.key < top.key || ';'))
                    JOIN asset_nodes an ON an.node_id = n.id
                    WHERE top.id = {p})"
            ));
        }
        (sql, args)
    }
}

/// A node named by id or by key, as the tree endpoints accept (`?id=` or `?key=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRef {
    /// By id.
    Id(Uuid),
    /// By materialized key (`1:3:2`).
    Key(String),
}

fn node_row(r: &AnyRow) -> Result<PermittedNodeRow, StoreError> {
    Ok(PermittedNodeRow {
        id: get_uuid(r, "node_id")?,
        org_id: get_uuid(r, "org_id")?,
        key: r.try_get("node_key")?,
        value: r.try_get("node_value")?,
        assets_amount: r.try_get("assets_amount")?,
    })
}

/// What a rebuild computed, for logs and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    /// Permitted assets.
    pub assets: usize,
    /// Nodes in the permitted tree.
    pub nodes: usize,
    /// Permissions that applied.
    pub permissions: usize,
}

fn in_list(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ids_to_strings(ids: impl IntoIterator<Item = Uuid>) -> Vec<String> {
    ids.into_iter().map(|i| i.to_string()).collect()
}

/// Runs `sql` (containing `{in}` for the list) once per chunk of `ids`, with `prefix` bound
/// before the list.
async fn fetch_in_chunks(
    conn: &mut AnyConnection,
    sql: &str,
    prefix: &[String],
    ids: &[String],
) -> Result<Vec<AnyRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let text = sql.replace("{in}", &in_list(prefix.len() + 1, chunk.len()));
        let mut q = sqlx::query(trusted(text.as_str()));
        for p in prefix {
            q = q.bind(p.clone());
        }
        for id in chunk {
            q = q.bind(id.clone());
        }
        rows.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

fn get_uuid(row: &AnyRow, col: &str) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(col)?;
    uuid(&text, col)
}

fn json_list(row: &AnyRow, col: &str) -> Result<Vec<String>, StoreError> {
    let text: String = row.try_get(col)?;
    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt(format!("{col}: `{text}`")))
}

fn node_key(row: &AnyRow) -> Result<NodeKey, StoreError> {
    let text: String = row.try_get("key")?;
    NodeKey::parse(&text).map_err(|_| StoreError::Corrupt(format!("nodes.key `{text}`")))
}

impl Store {
    /// The engine's view of a user (`None` if there is no such user).
    pub async fn perm_user(&self, user_id: Uuid) -> Result<Option<PermUser>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_perm_user(&mut conn, user_id).await
    }

    /// The permissions that list the user or one of their groups, with the relations the
    /// engine needs. Validity (dates, active flags) is left to the engine.
    pub async fn permissions_for_user(
        &self,
        user: &PermUser,
    ) -> Result<Vec<AssetPermission>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_permissions(&mut conn, user).await
    }

    /// Rebuilds the user's materialized permitted assets and nodes if they are stale.
    pub async fn ensure_user_perms(&self, user_id: Uuid) -> Result<(), StoreError> {
        self.ensure_user_perms_built(user_id).await.map(|_| ())
    }

    /// [`Store::ensure_user_perms`], returning when the rows in force were built (a marker
    /// that changes with every rebuild) and until when they hold.
    async fn ensure_user_perms_built(&self, user_id: Uuid) -> Result<Built, StoreError> {
        // Connections of one user arriving together all find the rows stale and rebuild; on
        // SQLite a loser may be told "busy" (a snapshot gone stale is not waited for) — the
        // winner's rows are as good as its own, so look again (usually finding them fresh).
        let mut attempt: u64 = 0;
        loop {
            match self.ensure_user_perms_once(user_id).await {
                Err(e) if e.is_busy() && attempt < 8 => {
                    attempt += 1;
                    tracing::debug!(attempt, "permission rebuild met a busy database; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(25 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn ensure_user_perms_once(&self, user_id: Uuid) -> Result<Built, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let generation = current_generation(&mut conn).await?;
        let state = sqlx::query(
            "SELECT generation, valid_until, date_built FROM user_perm_state WHERE user_id = $1",
        )
        .bind(user_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
        let now = micros(Utc::now());
        if let Some(row) = state {
            let built: i64 = row.try_get("generation")?;
            let valid_until: Option<i64> = row.try_get("valid_until")?;
            if built == generation && valid_until.is_none_or(|v| now < v) {
                return Ok(Built {
                    date_built: row.try_get("date_built")?,
                    valid_until,
                });
            }
        }
        drop(conn);
        self.rebuild_user_perms(user_id).await?;
        let row =
            sqlx::query("SELECT date_built, valid_until FROM user_perm_state WHERE user_id = $1")
                .bind(user_id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) => Built {
                date_built: r.try_get("date_built")?,
                valid_until: r.try_get("valid_until")?,
            },
            None => Built {
                date_built: 0,
                valid_until: None,
            },
        })
    }

    /// Recomputes the user's permitted assets and node tree with the core engine and stores
    /// them, replacing the previous rows in one transaction.
    pub async fn rebuild_user_perms(&self, user_id: Uuid) -> Result<RebuildReport, StoreError> {
        let now = Utc::now();
        let started = std::time::Instant::now();
        let mut conn = self.pool.acquire().await?;
        let generation = current_generation(&mut conn).await?;
        let Some(user) = load_perm_user(&mut conn, user_id).await? else {
            return Err(StoreError::NotFound(format!("user {user_id}")));
        };
        let perms = load_permissions(&mut conn, &user).await?;
        tracing::debug!(elapsed = ?started.elapsed(), perms = perms.len(), "loaded permissions");
        let applicable: Vec<AssetPermission> = perms
            .iter()
            .filter(|p| p.applies_to(&user, now))
            .cloned()
            .collect();
        let (nodes, mut assets, values) = load_scope(&mut conn, &applicable).await?;
        tracing::debug!(elapsed = ?started.elapsed(), nodes = nodes.len(), assets = assets.len(), "loaded scope");
        assets.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        let set = permitted_assets(&user, &applicable, &nodes, &assets, now);
        tracing::debug!(elapsed = ?started.elapsed(), "engine decided");
        let valid_until = next_boundary(&user, &perms, now);
        drop(conn);
        let report = RebuildReport {
            assets: set.asset_ids.len(),
            nodes: set.nodes.len(),
            permissions: applicable.len(),
        };
        self.store_permitted(&user, &set, &assets, &values, generation, valid_until)
            .await?;
        tracing::debug!(elapsed = ?started.elapsed(), "stored");
        Ok(report)
    }

    /// Writes the engine's answer as a diff against the stored rows, in one transaction: after
    /// a change that moves a few assets only those rows are written, which keeps the rebuild
    /// that follows every permission change cheap for users with very large grants.
    async fn store_permitted(
        &self,
        user: &PermUser,
        set: &PermittedSet,
        assets: &[PermAsset],
        values: &HashMap<Uuid, String>,
        generation: i64,
        valid_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let by_id: HashMap<Uuid, &PermAsset> = assets.iter().map(|a| (a.id, a)).collect();
        let direct: HashSet<Uuid> = set.direct_asset_ids.iter().copied().collect();
        let uid = user.id.to_string();
        let mut tx = self.begin_write().await?;

        // Assets: (org, name, direct) per id, old and new.
        let mut old: HashMap<String, (String, String, bool)> = HashMap::new();
        for r in sqlx::query(
            "SELECT asset_id, org_id, asset_name, direct FROM user_perm_assets WHERE user_id = $1",
        )
        .bind(&uid)
        .fetch_all(&mut *tx)
        .await?
        {
            old.insert(
                r.try_get("asset_id")?,
                (
                    r.try_get("org_id")?,
                    r.try_get("asset_name")?,
                    r.try_get::<Flag, _>("direct")?.0,
                ),
            );
        }
        let mut upserts: Vec<(Vec<String>, bool)> = Vec::new();
        let mut keep: HashSet<String> = HashSet::with_capacity(set.asset_ids.len());
        for id in &set.asset_ids {
            let Some(asset) = by_id.get(id) else {
                return Err(StoreError::Corrupt(format!(
                    "permitted asset {id} not loaded"
                )));
            };
            let key = id.to_string();
            let row = (
                asset.org_id.to_string(),
                asset.name.clone(),
                direct.contains(id),
            );
            if old.get(&key) != Some(&row) {
                upserts.push((vec![key.clone(), row.0, row.1], row.2));
            }
            keep.insert(key);
        }
        let gone: Vec<String> = old.into_keys().filter(|k| !keep.contains(k)).collect();
        delete_in(&mut tx, "user_perm_assets", "asset_id", &uid, &gone).await?;
        let stale: Vec<String> = upserts.iter().map(|(r, _)| r[0].clone()).collect();
        delete_in(&mut tx, "user_perm_assets", "asset_id", &uid, &stale).await?;
        insert_rows(
            &mut tx,
            "INSERT INTO user_perm_assets (user_id, asset_id, org_id, asset_name, direct)",
            &uid,
            upserts.into_iter(),
        )
        .await?;

        // Nodes: (org, key, value, amount) per id, old and new.
        let mut old: HashMap<String, (String, String, String, i64)> = HashMap::new();
        for r in sqlx::query(
            "SELECT node_id, org_id, node_key, node_value, assets_amount FROM user_perm_nodes WHERE user_id = $1",
        )
        .bind(&uid)
        .fetch_all(&mut *tx)
        .await?
        {
            old.insert(
                r.try_get("node_id")?,
                (r.try_get("org_id")?, r.try_get("node_key")?, r.try_get("node_value")?, r.try_get("assets_amount")?),
            );
        }
        let mut changed: Vec<(String, (String, String, String, i64))> = Vec::new();
        let mut keep: HashSet<String> = HashSet::with_capacity(set.nodes.len());
        for n in &set.nodes {
            let key = n.id.to_string();
            let row = (
                n.org_id.to_string(),
                n.key.as_str().to_owned(),
                values.get(&n.id).cloned().unwrap_or_default(),
                i64::try_from(n.assets_amount).unwrap_or(i64::MAX),
            );
            if old.get(&key) != Some(&row) {
                changed.push((key.clone(), row));
            }
            keep.insert(key);
        }
        let mut gone: Vec<String> = old.into_keys().filter(|k| !keep.contains(k)).collect();
        gone.extend(changed.iter().map(|(k, _)| k.clone()));
        delete_in(&mut tx, "user_perm_nodes", "node_id", &uid, &gone).await?;
        for chunk in changed.chunks(CHUNK) {
            let values_sql = (0..chunk.len())
                .map(|i| {
                    let b = i * 6;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let mut q = sqlx::query(trusted(format!(
                "INSERT INTO user_perm_nodes (user_id, node_id, org_id, node_key, node_sort, node_value, assets_amount) VALUES {values_sql}"
            )))
            .bind(uid.clone());
            for (id, (org, key, value, amount)) in chunk {
                q = q
                    .bind(id.clone())
                    .bind(org.clone())
                    .bind(key.clone())
                    .bind(sort_key(key))
                    .bind(value.clone())
                    .bind(*amount);
            }
            q.execute(&mut *tx).await?;
        }

        sqlx::query("DELETE FROM user_perm_state WHERE user_id = $1")
            .bind(&uid)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO user_perm_state (user_id, generation, date_built, valid_until) VALUES ($1, $2, $3, $4)",
        )
        .bind(&uid)
        .bind(generation)
        .bind(micros(Utc::now()))
        .bind(valid_until.map(micros))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A page of the user's permitted assets ordered by name, with the total count; `org`
    /// narrows to one org (`None`: every org, as with `X-JMS-ORG: ROOT`).
    pub async fn user_permitted_assets(
        &self,
        user_id: Uuid,
        org: Option<Uuid>,
        offset: i64,
        limit: i64,
    ) -> Result<PermittedPage, StoreError> {
        self.user_permitted_assets_in(user_id, org, &AssetScope::All, offset, limit)
            .await
    }

    /// The user's permitted, active assets that a direct-connect target names: by id, or by
    /// name or address (case-insensitive, exact), ordered by name, at most 100. The SSH
    /// gateway's `user@account@<target>` lookup.
    pub async fn user_permitted_assets_named(
        &self,
        user_id: Uuid,
        target: &str,
    ) -> Result<Vec<NamedAsset>, StoreError> {
        self.ensure_user_perms_built(user_id).await?;
        let rows = sqlx::query(
            "SELECT a.id, a.name, a.address, a.comment FROM user_perm_assets g
             JOIN assets a ON a.id = g.asset_id
             WHERE g.user_id = $1 AND a.is_active = TRUE
               AND (a.id = $2 OR LOWER(a.name) = LOWER($2) OR LOWER(a.address) = LOWER($2))
             ORDER BY a.name, a.id LIMIT 100",
        )
        .bind(user_id.to_string())
        .bind(target)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NamedAsset {
                    id: get_uuid(r, "id")?,
                    name: r.try_get("name")?,
                    address: r.try_get("address")?,
                    comment: r.try_get("comment")?,
                })
            })
            .collect()
    }

    /// A page of the user's permitted assets within `scope` (a node's subtree, one node, the
    /// directly granted ones), ordered by name, with the total count. Every variant is an
    /// indexed lookup on the materialized grant: the scope narrows the user's rows by a
    /// subquery on `asset_nodes`/`nodes` (by node id, or by key range in one org), never by
    /// loading the tree.
    pub async fn user_permitted_assets_in(
        &self,
        user_id: Uuid,
        org: Option<Uuid>,
        scope: &AssetScope,
        offset: i64,
        limit: i64,
    ) -> Result<PermittedPage, StoreError> {
        self.user_permitted_assets_filtered(
            user_id,
            org,
            scope,
            &PermittedFilter::default(),
            offset,
            limit,
        )
        .await
    }

    /// [`Store::user_permitted_assets_in`] narrowed by `filter` (search, exact fields, a
    /// node's subtree); the count is of the matching assets.
    pub async fn user_permitted_assets_filtered(
        &self,
        user_id: Uuid,
        org: Option<Uuid>,
        scope: &AssetScope,
        filter: &PermittedFilter,
        offset: i64,
        limit: i64,
    ) -> Result<PermittedPage, StoreError> {
        let (order_col, order_dir) = crate::codec::order_column(
            filter.order.as_deref(),
            "name",
            PERMITTED_ORDER,
            "permitted assets",
        )?;
        // Read before the page's nodes, which are cached under it (see node_cache.rs).
        let generation = self.perm_generation().await?;
        let built = self.ensure_user_perms_built(user_id).await?;
        let (org_clause, org_arg) = match org {
            Some(o) => ("AND g.org_id = $2", o.to_string()),
            None => ("AND $2 = $2", String::new()),
        };
        // Scope parameters start at $3; LIMIT/OFFSET follow them.
        let (scope_clause, scope_args): (&str, Vec<String>) = match scope {
            AssetScope::All => ("", Vec::new()),
            AssetScope::Direct => ("AND g.direct = TRUE", Vec::new()),
            AssetScope::Favorite => (
                "AND g.asset_id IN (SELECT f.asset_id FROM favorite_assets f WHERE f.user_id = $1)",
                Vec::new(),
            ),
            AssetScope::InNode(node) => (
                "AND g.asset_id IN (SELECT an.asset_id FROM asset_nodes an WHERE an.node_id = $3)",
                vec![node.to_string()],
            ),
            AssetScope::UnderNode { org, key } => {
                let (lo, hi) = (format!("{key}:"), format!("{key};"));
                (
                    "AND g.asset_id IN (SELECT an.asset_id FROM nodes n
                        JOIN asset_nodes an ON an.node_id = n.id
                        WHERE n.org_id = $3 AND (n.key = $4 OR (n.key >= $5 AND n.key < $6)))",
                    vec![org.to_string(), key.clone(), lo, hi],
                )
            }
        };
        let (filter_clause, filter_args) = filter.clauses(3 + scope_args.len());
        let scope_args: Vec<String> = scope_args.into_iter().chain(filter_args).collect();
        let next = 3 + scope_args.len();
        let count_sql = if filter.is_empty() {
            format!(
                "SELECT COUNT(*) FROM user_perm_assets g WHERE g.user_id = $1 {org_clause} {scope_clause}"
            )
        } else {
            format!(
                "SELECT COUNT(*) FROM user_perm_assets g JOIN assets a ON a.id = g.asset_id
                 WHERE g.user_id = $1 {org_clause} {scope_clause} {filter_clause}"
            )
        };
        let mut count_q = sqlx::query_scalar(trusted(count_sql))
            .bind(user_id.to_string())
            .bind(org_arg.clone());
        for a in &scope_args {
            count_q = count_q.bind(a.clone());
        }
        let cacheable = matches!(scope, AssetScope::All) && filter.is_empty();
        let cached = if cacheable {
            self.perm_counts.lock().ok().and_then(|c| {
                c.get(&(user_id, org))
                    .filter(|(b, _)| *b == built.date_built)
                    .map(|(_, n)| *n)
            })
        } else {
            None
        };
        let count: i64 = match cached {
            Some(n) => n,
            None => {
                let n = count_q.fetch_one(&self.pool).await?;
                if cacheable && let Ok(mut c) = self.perm_counts.lock() {
                    if c.len() >= COUNT_CACHE_MAX {
                        c.clear();
                    }
                    c.insert((user_id, org), (built.date_built, n));
                }
                n
            }
        };
        let rows_sql = format!(
            "SELECT a.id, a.org_id, a.name, a.address, a.platform_id, a.category, a.type, a.comment,
                    p.name AS platform_name, o.name AS org_name, a.zone_id, z.name AS zone_name,
                    a.connectivity, a.is_active, a.date_created, a.created_by, a.date_verified
             FROM user_perm_assets g JOIN assets a ON a.id = g.asset_id
             JOIN platforms p ON p.id = a.platform_id JOIN orgs o ON o.id = a.org_id
             LEFT JOIN zones z ON z.id = a.zone_id
             WHERE g.user_id = $1 {org_clause} {scope_clause} {filter_clause}
             ORDER BY {order_col} {order_dir}, g.asset_id {order_dir} LIMIT ${next} OFFSET ${}",
            next + 1
        );
        let mut rows_q = sqlx::query(trusted(rows_sql))
            .bind(user_id.to_string())
            .bind(org_arg);
        for a in &scope_args {
            rows_q = rows_q.bind(a.clone());
        }
        let rows = rows_q
            .bind(limit.max(0))
            .bind(offset.max(0))
            .fetch_all(&self.pool)
            .await?;
        let mut assets = rows
            .iter()
            .map(|r| {
                let zone: Option<String> = r.try_get("zone_id")?;
                Ok(PermittedAssetRow {
                    id: get_uuid(r, "id")?,
                    org_id: get_uuid(r, "org_id")?,
                    name: r.try_get("name")?,
                    address: r.try_get("address")?,
                    platform_id: r.try_get("platform_id")?,
                    category: r.try_get("category")?,
                    type_: r.try_get("type")?,
                    comment: r.try_get("comment")?,
                    platform_name: r.try_get("platform_name")?,
                    org_name: r.try_get("org_name")?,
                    zone: match zone {
                        Some(z) => Some((
                            uuid(&z, "assets.zone_id")?,
                            r.try_get::<Option<String>, _>("zone_name")?
                                .unwrap_or_default(),
                        )),
                        None => None,
                    },
                    connectivity: r.try_get("connectivity")?,
                    is_active: r.try_get::<Flag, _>("is_active")?.0,
                    date_created: from_micros(r.try_get("date_created")?),
                    created_by: r.try_get("created_by")?,
                    date_verified: r
                        .try_get::<Option<i64>, _>("date_verified")?
                        .map(from_micros),
                    nodes: Vec::new(),
                    node_keys: Vec::new(),
                    protocols: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // The page's node memberships and protocols, one query each.
        let ids: Vec<String> = assets.iter().map(|a| a.id.to_string()).collect();
        let index: HashMap<Uuid, usize> =
            assets.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
        let page_ids: Vec<Uuid> = assets.iter().map(|a| a.id).collect();
        for (asset, nodes) in self.asset_nodes(generation, &page_ids).await? {
            if let Some(a) = index.get(&asset).and_then(|i| assets.get_mut(*i)) {
                a.nodes = nodes.iter().map(|n| (n.id, n.value.clone())).collect();
                a.node_keys = nodes.iter().map(|n| n.key.clone()).collect();
            }
        }
        let mut conn = self.pool.acquire().await?;
        for r in fetch_in_chunks(
            &mut conn,
            "SELECT asset_id, name FROM asset_protocols WHERE asset_id IN ({in}) ORDER BY name",
            &[],
            &ids,
        )
        .await?
        {
            let asset = get_uuid(&r, "asset_id")?;
            if let Some(a) = index.get(&asset).and_then(|i| assets.get_mut(*i)) {
                a.protocols.push(r.try_get::<String, _>("name")?);
            }
        }
        Ok(PermittedPage {
            count,
            assets,
            valid_until: built.valid_until.map(from_micros),
        })
    }

    /// One node of the user's permitted tree, by key (in `org`, or in any org when `None`) or
    /// by id. `None` when the node is not in the user's tree.
    pub async fn user_permitted_node(
        &self,
        user_id: Uuid,
        org: Option<Uuid>,
        node: &NodeRef,
    ) -> Result<Option<PermittedNodeRow>, StoreError> {
        self.ensure_user_perms(user_id).await?;
        let (org_clause, org_arg) = match org {
            Some(o) => ("AND org_id = $2", o.to_string()),
            None => ("AND $2 = $2", String::new()),
        };
        let (col, value) = match node {
            NodeRef::Id(id) => ("node_id", id.to_string()),
            NodeRef::Key(key) => ("node_sort", sort_key(key)),
        };
        let row = sqlx::query(trusted(format!(
            "SELECT node_id, org_id, node_key, node_value, assets_amount FROM user_perm_nodes
             WHERE user_id = $1 {org_clause} AND {col} = $3 ORDER BY org_id LIMIT 1"
        )))
        .bind(user_id.to_string())
        .bind(org_arg)
        .bind(value)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(node_row).transpose()
    }

    /// The children of `parent` in the user's permitted tree (the top-level nodes when
    /// `None`), in tree order. Children are found by their sort key's range under the
    /// parent (index `user_perm_nodes_org`), one level deep by the node's `parent_key`.
    pub async fn user_permitted_children(
        &self,
        user_id: Uuid,
        org: Option<Uuid>,
        parent: Option<&PermittedNodeRow>,
    ) -> Result<Vec<PermittedNodeRow>, StoreError> {
        self.ensure_user_perms(user_id).await?;
        let rows = match parent {
            Some(p) => {
                let sort = sort_key(&p.key);
                sqlx::query(
                    "SELECT g.node_id, g.org_id, g.node_key, g.node_value, g.assets_amount
                     FROM user_perm_nodes g JOIN nodes n ON n.id = g.node_id
                     WHERE g.user_id = $1 AND g.org_id = $2 AND g.node_sort > $3
                       AND g.node_sort < $4 AND n.parent_key = $5
                     ORDER BY g.node_sort",
                )
                .bind(user_id.to_string())
                .bind(p.org_id.to_string())
                .bind(format!("{sort}:"))
                .bind(format!("{sort};"))
                .bind(p.key.clone())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                let (org_clause, org_arg) = match org {
                    Some(o) => ("AND g.org_id = $2", o.to_string()),
                    None => ("AND $2 = $2", String::new()),
                };
                sqlx::query(trusted(format!(
                    "SELECT g.node_id, g.org_id, g.node_key, g.node_value, g.assets_amount
                     FROM user_perm_nodes g JOIN nodes n ON n.id = g.node_id
                     WHERE g.user_id = $1 {org_clause} AND n.parent_key = ''
                     ORDER BY g.node_sort, g.org_id"
                )))
                .bind(user_id.to_string())
                .bind(org_arg)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(node_row).collect()
    }

    /// The `/`-joined display path of a node of the user's tree (`/Default/dev/web`), from
    /// the materialized rows of its ancestors (the tree always holds them).
    pub async fn user_permitted_full_value(
        &self,
        user_id: Uuid,
        node: &PermittedNodeRow,
    ) -> Result<String, StoreError> {
        let key = NodeKey::parse(&node.key)
            .map_err(|_| StoreError::Corrupt(format!("user_perm_nodes.node_key `{}`", node.key)))?;
        let sorts: Vec<String> = key.ancestor_strs().map(sort_key).collect();
        let mut values: HashMap<String, String> = HashMap::new();
        let mut conn = self.pool.acquire().await?;
        for r in fetch_in_chunks(
            &mut conn,
            "SELECT node_key, node_value FROM user_perm_nodes WHERE user_id = $1 AND org_id = $2 AND node_sort IN ({in})",
            &[user_id.to_string(), node.org_id.to_string()],
            &sorts,
        )
        .await?
        {
            values.insert(r.try_get("node_key")?, r.try_get("node_value")?);
        }
        let mut path: Vec<&str> = key
            .ancestor_strs()
            .map(|k| values.get(k).map_or("", String::as_str))
            .collect();
        path.reverse();
        path.push(&node.value);
        Ok(format!("/{}", path.join("/")))
    }
    /// The user's permitted node tree, ordered by key, with asset counts.
    pub async fn user_permitted_nodes(
        &self,
        user_id: Uuid,
        org: Option<Uuid>,
    ) -> Result<Vec<PermittedNodeRow>, StoreError> {
        self.ensure_user_perms(user_id).await?;
        let (org_clause, org_arg) = match org {
            Some(o) => ("AND org_id = $2", o.to_string()),
            None => ("AND $2 = $2", String::new()),
        };
        let rows = sqlx::query(trusted(format!(
            "SELECT node_id, org_id, node_key, node_value, assets_amount FROM user_perm_nodes
             WHERE user_id = $1 {org_clause} ORDER BY node_sort, org_id"
        )))
        .bind(user_id.to_string())
        .bind(&org_arg)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PermittedNodeRow {
                    id: get_uuid(r, "node_id")?,
                    org_id: get_uuid(r, "org_id")?,
                    key: r.try_get("node_key")?,
                    value: r.try_get("node_value")?,
                    assets_amount: r.try_get("assets_amount")?,
                })
            })
            .collect()
    }

    /// What the user may do on one asset: accounts (virtual ones resolved), protocols and
    /// actions — the answer the connect path and the asset detail view act on. `None` when
    /// the asset is not permitted at all.
    pub async fn user_asset_grant(
        &self,
        user_id: Uuid,
        asset_id: Uuid,
    ) -> Result<Option<AssetGrant>, StoreError> {
        let now = Utc::now();
        let mut conn = self.pool.acquire().await?;
        let Some(user) = load_perm_user(&mut conn, user_id).await? else {
            return Ok(None);
        };
        let aid = asset_id.to_string();
        let Some(row) =
            sqlx::query("SELECT id, org_id, name, is_active, category FROM assets WHERE id = $1")
                .bind(&aid)
                .fetch_optional(&mut *conn)
                .await?
        else {
            return Ok(None);
        };
        let mut asset = PermAsset {
            id: asset_id,
            org_id: get_uuid(&row, "org_id")?,
            name: row.try_get("name")?,
            is_active: row.try_get::<Flag, _>("is_active")?.0,
            category: row.try_get("category")?,
            protocols: Vec::new(),
            node_ids: Vec::new(),
        };
        for r in
            sqlx::query("SELECT name, port FROM asset_protocols WHERE asset_id = $1 ORDER BY name")
                .bind(&aid)
                .fetch_all(&mut *conn)
                .await?
        {
            let port: i64 = r.try_get("port")?;
            asset
                .protocols
                .push((r.try_get("name")?, u16::try_from(port).unwrap_or_default()));
        }
        // The asset's nodes and all their ancestors: a grant on any of them covers it.
        let mut nodes = Vec::new();
        for r in sqlx::query(
            "SELECT n.id, n.org_id, n.key FROM asset_nodes an JOIN nodes n ON n.id = an.node_id WHERE an.asset_id = $1",
        )
        .bind(&aid)
        .fetch_all(&mut *conn)
        .await?
        {
            let node = PermNode { id: get_uuid(&r, "id")?, org_id: get_uuid(&r, "org_id")?, key: node_key(&r)? };
            asset.node_ids.push(node.id);
            nodes.push(node);
        }
        let ancestor_keys: BTreeSet<String> = nodes
            .iter()
            .flat_map(|n| n.key.ancestor_strs().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        let keys: Vec<String> = ancestor_keys.into_iter().collect();
        for r in fetch_in_chunks(
            &mut conn,
            "SELECT id, org_id, key FROM nodes WHERE org_id = $1 AND key IN ({in})",
            &[asset.org_id.to_string()],
            &keys,
        )
        .await?
        {
            nodes.push(PermNode {
                id: get_uuid(&r, "id")?,
                org_id: get_uuid(&r, "org_id")?,
                key: node_key(&r)?,
            });
        }
        let node_ids: Vec<String> = ids_to_strings(nodes.iter().map(|n| n.id));
        let perms = load_permissions_focused(
            &mut conn,
            &user,
            Some(Focus {
                asset: &aid,
                nodes: &node_ids,
            }),
        )
        .await?;
        let mut accounts = Vec::new();
        for r in sqlx::query(
            "SELECT id, name, username, secret_type, is_active, secret, template_id FROM accounts WHERE asset_id = $1 ORDER BY name",
        )
        .bind(&aid)
        .fetch_all(&mut *conn)
        .await?
        {
            let secret: Option<String> = r.try_get("secret")?;
            let template: Option<String> = r.try_get("template_id")?;
            accounts.push(PermAccount {
                id: get_uuid(&r, "id")?,
                asset_id,
                name: r.try_get("name")?,
                username: r.try_get::<Option<String>, _>("username")?.unwrap_or_default(),
                secret_type: r.try_get("secret_type")?,
                is_active: r.try_get::<Flag, _>("is_active")?.0,
                has_secret: secret.is_some(),
                template_id: template.map(|t| uuid(&t, "accounts.template_id")).transpose()?,
            });
        }
        Ok(asset_grant(&user, &asset, &perms, &nodes, &accounts, now))
    }
}

async fn current_generation(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT value FROM perm_generation WHERE id = 1")
            .fetch_one(conn)
            .await?,
    )
}

async fn load_perm_user(
    conn: &mut AnyConnection,
    user_id: Uuid,
) -> Result<Option<PermUser>, StoreError> {
    let uid = user_id.to_string();
    let Some(row) =
        sqlx::query("SELECT username, is_active, date_expired FROM users WHERE id = $1")
            .bind(&uid)
            .fetch_optional(&mut *conn)
            .await?
    else {
        return Ok(None);
    };
    let groups = sqlx::query_scalar::<_, String>(
        "SELECT user_group_id FROM user_group_members WHERE user_id = $1",
    )
    .bind(&uid)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|g| uuid(g, "user_group_members.user_group_id"))
    .collect::<Result<_, _>>()?;
    Ok(Some(PermUser {
        id: user_id,
        username: row.try_get("username")?,
        groups,
        is_active: row.try_get::<Flag, _>("is_active")?.0,
        date_expired: row
            .try_get::<Option<i64>, _>("date_expired")?
            .map(from_micros),
    }))
}

/// Narrows [`load_permissions`] to what can cover one asset: the permissions listing the asset
/// or one of the given nodes (its nodes and their ancestors), with only those relation rows.
struct Focus<'a> {
    asset: &'a str,
    nodes: &'a [String],
}

async fn load_permissions(
    conn: &mut AnyConnection,
    user: &PermUser,
) -> Result<Vec<AssetPermission>, StoreError> {
    load_permissions_focused(conn, user, None).await
}

async fn load_permissions_focused(
    conn: &mut AnyConnection,
    user: &PermUser,
    focus: Option<Focus<'_>>,
) -> Result<Vec<AssetPermission>, StoreError> {
    let uid = user.id.to_string();
    let direct: HashSet<String> =
        sqlx::query_scalar::<_, String>("SELECT permission_id FROM perm_users WHERE user_id = $1")
            .bind(&uid)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    let mut via_groups: HashMap<String, Vec<Uuid>> = HashMap::new();
    for r in sqlx::query(
        "SELECT pg.permission_id, pg.user_group_id FROM perm_user_groups pg
         JOIN user_group_members m ON m.user_group_id = pg.user_group_id WHERE m.user_id = $1",
    )
    .bind(&uid)
    .fetch_all(&mut *conn)
    .await?
    {
        via_groups
            .entry(r.try_get("permission_id")?)
            .or_default()
            .push(get_uuid(&r, "user_group_id")?);
    }
    let mut ids: Vec<String> = direct
        .iter()
        .chain(via_groups.keys())
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (asset_sql, node_sql, node_prefix) = match &focus {
        None => (
            "SELECT permission_id, asset_id FROM perm_assets WHERE permission_id IN ({in})".to_owned(),
            "SELECT permission_id, node_id FROM perm_nodes WHERE permission_id IN ({in})".to_owned(),
            Vec::new(),
        ),
        Some(f) => (
            "SELECT permission_id, asset_id FROM perm_assets WHERE asset_id = $1 AND permission_id IN ({in})".to_owned(),
            format!(
                "SELECT permission_id, node_id FROM perm_nodes WHERE node_id IN ({}) AND permission_id IN ({{in}})",
                in_list(1, f.nodes.len().max(1))
            ),
            if f.nodes.is_empty() { vec![String::new()] } else { f.nodes.to_vec() },
        ),
    };
    let asset_prefix: Vec<String> = focus
        .as_ref()
        .map(|f| vec![f.asset.to_owned()])
        .unwrap_or_default();
    let mut assets: HashMap<String, Vec<Uuid>> = HashMap::new();
    for r in fetch_in_chunks(conn, &asset_sql, &asset_prefix, &ids).await? {
        assets
            .entry(r.try_get("permission_id")?)
            .or_default()
            .push(get_uuid(&r, "asset_id")?);
    }
    let mut nodes: HashMap<String, Vec<Uuid>> = HashMap::new();
    for r in fetch_in_chunks(conn, &node_sql, &node_prefix, &ids).await? {
        nodes
            .entry(r.try_get("permission_id")?)
            .or_default()
            .push(get_uuid(&r, "node_id")?);
    }
    if focus.is_some() {
        // Only permissions that reach the asset matter for its grant.
        ids.retain(|id| assets.contains_key(id) || nodes.contains_key(id));
    }
    let mut perms = Vec::with_capacity(ids.len());
    for r in fetch_in_chunks(
        conn,
        "SELECT id, org_id, name, is_active, date_start, date_expired, accounts, protocols, actions
         FROM asset_permissions WHERE id IN ({in}) ORDER BY id",
        &[],
        &ids,
    )
    .await?
    {
        let id: String = r.try_get("id")?;
        let actions: i64 = r.try_get("actions")?;
        perms.push(AssetPermission {
            id: uuid(&id, "asset_permissions.id")?,
            org_id: get_uuid(&r, "org_id")?,
            name: r.try_get("name")?,
            is_active: r.try_get::<Flag, _>("is_active")?.0,
            date_start: from_micros(r.try_get("date_start")?),
            date_expired: from_micros(r.try_get("date_expired")?),
            users: if direct.contains(&id) {
                vec![user.id]
            } else {
                Vec::new()
            },
            user_groups: via_groups.get(&id).cloned().unwrap_or_default(),
            assets: assets.remove(&id).unwrap_or_default(),
            nodes: nodes.remove(&id).unwrap_or_default(),
            accounts: json_list(&r, "accounts")?,
            protocols: json_list(&r, "protocols")?,
            actions: Actions::from_bits_truncate(u32::try_from(actions).unwrap_or_default()),
        });
    }
    Ok(perms)
}

/// Loads every node and asset the applicable permissions can reach: the granted nodes with
/// their subtrees (by key range) and ancestors, the assets in them, the directly granted
/// assets with all their nodes. Also returns node display values for the materialized tree.
async fn load_scope(
    conn: &mut AnyConnection,
    perms: &[AssetPermission],
) -> Result<(Vec<PermNode>, Vec<PermAsset>, HashMap<Uuid, String>), StoreError> {
    let mut nodes: HashMap<Uuid, PermNode> = HashMap::new();
    let mut values: HashMap<Uuid, String> = HashMap::new();
    let mut take_node =
        |r: &AnyRow, nodes: &mut HashMap<Uuid, PermNode>| -> Result<Uuid, StoreError> {
            let id = get_uuid(r, "id")?;
            if let std::collections::hash_map::Entry::Vacant(slot) = nodes.entry(id) {
                slot.insert(PermNode {
                    id,
                    org_id: get_uuid(r, "org_id")?,
                    key: node_key(r)?,
                });
                values.insert(id, r.try_get("value")?);
            }
            Ok(id)
        };
    // Granted nodes.
    let granted: Vec<String> = ids_to_strings(
        perms
            .iter()
            .flat_map(|p| p.nodes.iter().copied())
            .collect::<BTreeSet<_>>(),
    );
    for r in fetch_in_chunks(
        conn,
        "SELECT id, org_id, key, value FROM nodes WHERE id IN ({in})",
        &[],
        &granted,
    )
    .await?
    {
        take_node(&r, &mut nodes)?;
    }
    // Their subtrees: only for granted nodes not already under another granted node.
    let mut roots: Vec<&PermNode> = nodes.values().collect();
    roots.sort_by(|a, b| a.key.cmp(&b.key));
    let mut tops: Vec<(Uuid, NodeKey)> = Vec::new();
    for n in roots {
        if !tops
            .iter()
            .any(|(org, k)| *org == n.org_id && k.is_self_or_ancestor_of(&n.key))
        {
            tops.push((n.org_id, n.key.clone()));
        }
    }
    for chunk in tops.chunks(100) {
        let clauses = (0..chunk.len())
            .map(|i| {
                format!(
                    "(org_id = ${} AND key >= ${} AND key < ${})",
                    i * 3 + 1,
                    i * 3 + 2,
                    i * 3 + 3
                )
            })
            .collect::<Vec<_>>()
            .join(" OR ");
        let sql = format!("SELECT id, org_id, key, value FROM nodes WHERE {clauses}");
        let mut q = sqlx::query(trusted(sql.as_str()));
        for (org, key) in chunk {
            let (lo, hi) = key.descendant_range();
            q = q.bind(org.to_string()).bind(lo).bind(hi);
        }
        for r in q.fetch_all(&mut *conn).await? {
            take_node(&r, &mut nodes)?;
        }
    }
    let scope_nodes: Vec<String> = ids_to_strings(nodes.keys().copied());
    // Assets in scope nodes, and directly granted assets.
    let mut assets: HashMap<Uuid, PermAsset> = HashMap::new();
    let asset_from = |r: &AnyRow| -> Result<PermAsset, StoreError> {
        Ok(PermAsset {
            id: get_uuid(r, "id")?,
            org_id: get_uuid(r, "org_id")?,
            name: r.try_get("name")?,
            is_active: r.try_get::<Flag, _>("is_active")?.0,
            category: r.try_get("category")?,
            protocols: Vec::new(),
            node_ids: Vec::new(),
        })
    };
    for r in fetch_in_chunks(
        conn,
        "SELECT a.id, a.org_id, a.name, a.is_active, a.category, an.node_id FROM asset_nodes an
         JOIN assets a ON a.id = an.asset_id WHERE an.node_id IN ({in})",
        &[],
        &scope_nodes,
    )
    .await?
    {
        let node = get_uuid(&r, "node_id")?;
        let id = get_uuid(&r, "id")?;
        match assets.entry(id) {
            std::collections::hash_map::Entry::Occupied(mut a) => a.get_mut().node_ids.push(node),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(asset_from(&r)?).node_ids.push(node);
            }
        }
    }
    let direct: Vec<String> = ids_to_strings(
        perms
            .iter()
            .flat_map(|p| p.assets.iter().copied())
            .collect::<BTreeSet<_>>(),
    );
    for r in fetch_in_chunks(
        conn,
        "SELECT id, org_id, name, is_active, category FROM assets WHERE id IN ({in})",
        &[],
        &direct,
    )
    .await?
    {
        let a = asset_from(&r)?;
        assets.entry(a.id).or_insert(a);
    }
    // All nodes of directly granted assets (they show in the tree under their real nodes).
    let mut extra: Vec<Uuid> = Vec::new();
    for r in fetch_in_chunks(
        conn,
        "SELECT asset_id, node_id FROM asset_nodes WHERE asset_id IN ({in})",
        &[],
        &direct,
    )
    .await?
    {
        let asset = get_uuid(&r, "asset_id")?;
        let node = get_uuid(&r, "node_id")?;
        if let Some(a) = assets.get_mut(&asset)
            && !a.node_ids.contains(&node)
        {
            a.node_ids.push(node);
        }
        if !nodes.contains_key(&node) {
            extra.push(node);
        }
    }
    for r in fetch_in_chunks(
        conn,
        "SELECT id, org_id, key, value FROM nodes WHERE id IN ({in})",
        &[],
        &ids_to_strings(extra),
    )
    .await?
    {
        take_node(&r, &mut nodes)?;
    }
    // Ancestors of every node in scope, for the tree.
    let mut wanted: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
    for n in nodes.values() {
        for k in n.key.ancestor_strs() {
            wanted.entry(n.org_id).or_default().insert(k.to_owned());
        }
    }
    for (org, keys) in wanted {
        let keys: Vec<String> = keys.into_iter().collect();
        for r in fetch_in_chunks(
            conn,
            "SELECT id, org_id, key, value FROM nodes WHERE org_id = $1 AND key IN ({in})",
            &[org.to_string()],
            &keys,
        )
        .await?
        {
            take_node(&r, &mut nodes)?;
        }
    }
    Ok((
        nodes.into_values().collect(),
        assets.into_values().collect(),
        values,
    ))
}

/// The next instant at which the user's permissions change by the clock alone.
fn next_boundary(
    user: &PermUser,
    perms: &[AssetPermission],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    perms
        .iter()
        .flat_map(|p| [p.date_start, p.date_expired])
        .chain(user.date_expired)
        .filter(|t| *t > now)
        .min()
}

/// A node key whose byte order is the numeric tree order: every segment left-padded to ten
/// digits, so SQL can `ORDER BY` it (`1:9` before `1:10`).
fn sort_key(key: &str) -> String {
    key.split(':')
        .map(|seg| format!("{seg:0>10}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Deletes the user's rows whose `col` is in `ids`.
async fn delete_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    col: &str,
    uid: &str,
    ids: &[String],
) -> Result<(), StoreError> {
    for chunk in ids.chunks(CHUNK) {
        let mut q = sqlx::query(trusted(format!(
            "DELETE FROM {table} WHERE user_id = $1 AND {col} IN ({})",
            in_list(2, chunk.len())
        )))
        .bind(uid.to_owned());
        for id in chunk {
            q = q.bind(id.clone());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Inserts `(text values…, flag)` rows after a fixed first value (the user id).
async fn insert_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    head: &str,
    uid: &str,
    rows: impl Iterator<Item = (Vec<String>, bool)>,
) -> Result<(), StoreError> {
    let rows: Vec<(Vec<String>, bool)> = rows.collect();
    let Some(width) = rows.first().map(|(v, _)| v.len() + 1) else {
        return Ok(());
    };
    for chunk in rows.chunks(CHUNK) {
        let values_sql = (0..chunk.len())
            .map(|i| {
                let params = (0..width)
                    .map(|c| format!("${}", 2 + i * width + c))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("($1, {params})")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut q =
            sqlx::query(trusted(format!("{head} VALUES {values_sql}"))).bind(uid.to_owned());
        for (values, flag) in chunk {
            for v in values {
                q = q.bind(v.clone());
            }
            q = q.bind(*flag);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
