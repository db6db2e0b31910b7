//! The asset inventory: platforms, assets, the node tree and zones.
//!
//! Nodes keep JumpServer's materialized path (`nodes.key`, see
//! [`portcullis_core::perm::NodeKey`]): a subtree is the byte range `[K:, K;)`, so "assets under a
//! node" is one range scan and a node's `full_value` is rebuilt from its ancestors' keys. Every
//! write that touches more than one row (an asset with its protocols and nodes, a chain of
//! nodes, a subtree delete) is one transaction, so a failure leaves nothing half-written.
//!
//! The store does not decide who may see what: callers pass the org to scope by (`None` is the
//! root view, every org).

use crate::codec::{Flag, from_micros, now_micros, trusted, uuid};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use portcullis_core::perm::NodeKey;
use serde_json::Value;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Row};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// A bound value of a dynamically built statement.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Int(i64),
}

/// Collects placeholder values and hands out `$n` in order.
#[derive(Debug, Default)]
struct Args(Vec<Arg>);

impl Args {
    fn text(&mut self, v: impl Into<String>) -> String {
        self.0.push(Arg::Text(v.into()));
        format!("${}", self.0.len())
    }

    fn int(&mut self, v: i64) -> String {
        self.0.push(Arg::Int(v));
        format!("${}", self.0.len())
    }

    /// `$a, $b, …` for a list of text values.
    fn list<S: ToString>(&mut self, vals: &[S]) -> String {
        vals.iter()
            .map(|v| self.text(v.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn bind<'q>(
        &self,
        mut q: sqlx::query::Query<'q, Any, AnyArguments>,
    ) -> sqlx::query::Query<'q, Any, AnyArguments> {
        for a in &self.0 {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

fn json_col(r: &AnyRow, col: &str, empty: Value) -> Result<Value, StoreError> {
    let text: String = r.try_get(col)?;
    Ok(serde_json::from_str(&text).unwrap_or(empty))
}

fn opt_uuid(r: &AnyRow, col: &str) -> Result<Option<Uuid>, StoreError> {
    r.try_get::<Option<String>, _>(col)?
        .map(|s| uuid(&s, col))
        .transpose()
}

fn where_clause(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}

// ---------------------------------------------------------------------------------------------
// Platforms
// ---------------------------------------------------------------------------------------------

/// A protocol a platform offers.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformProtocol {
    /// Row id.
    pub id: String,
    /// `ssh`, `rdp`, …
    pub name: String,
    /// Default port.
    pub port: i64,
    /// The main protocol.
    pub primary: bool,
    /// Every asset of the platform must have it.
    pub required: bool,
    /// Added to new assets by default.
    pub default: bool,
    /// Offered to users.
    pub public: bool,
    /// Protocol settings.
    pub setting: Value,
}

/// One automation kind (`ping`, `push_account`, …) of a platform.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationKind {
    /// The kind.
    pub kind: &'static str,
    /// Whether it runs.
    pub enabled: bool,
    /// Method id (`<plugin>/<function>`), `""` for none.
    pub method: String,
    /// Method parameters.
    pub params: Value,
}

/// A platform with its protocols and automation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformRecord {
    /// Integer id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Category.
    pub category: String,
    /// Type.
    pub type_: String,
    /// Built-in.
    pub internal: bool,
    /// `utf-8` or `gbk`.
    pub charset: String,
    /// Zone (gateway) support.
    pub gateway_enabled: bool,
    /// Account switching.
    pub su_enabled: bool,
    /// Switching method.
    pub su_method: Option<String>,
    /// Directory-service accounts.
    pub ds_enabled: bool,
    /// Custom platforms' field definitions.
    pub custom_fields: Value,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Updated.
    pub date_updated: DateTime<Utc>,
    /// Protocols, primary first.
    pub protocols: Vec<PlatformProtocol>,
    /// `ansible_enabled`, `ansible_config` and the kinds; `None` when the row is missing.
    pub automation: Option<(bool, Value, Vec<AutomationKind>)>,
    /// Assets using it (in the org asked about).
    pub assets_amount: i64,
}

/// Filters of the platform list.
#[derive(Debug, Clone, Default)]
pub struct PlatformQuery {
    /// Count assets of this org only (`None`: all orgs).
    pub org: Option<Uuid>,
    /// Exact category.
    pub category: Option<String>,
    /// Exact type.
    pub type_: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
}

const AUTOMATION_KINDS: [&str; 7] = portcullis_core::builtin::AUTOMATION_KINDS;

impl Store {
    /// Platforms matching `q`, ordered by id.
    pub async fn list_platforms(
        &self,
        q: &PlatformQuery,
    ) -> Result<Vec<PlatformRecord>, StoreError> {
        let mut args = Args::default();
        let mut clauses = Vec::new();
        for (col, val) in [
            ("category", &q.category),
            ("type", &q.type_),
            ("name", &q.name),
        ] {
            if let Some(v) = val {
                clauses.push(format!("p.{col} = {}", args.text(v.clone())));
            }
        }
        if let Some(s) = &q.search {
            let p = args.text(format!(
                "%{}%",
                crate::codec::like_escape(&s.to_lowercase())
            ));
            clauses.push(format!("LOWER(p.name) LIKE {p} ESCAPE '\\'"));
        }
        self.platforms_where(q.org, &where_clause(&clauses), args)
            .await
    }

    /// One platform by id (all digits) or name.
    pub async fn platform(
        &self,
        org: Option<Uuid>,
        key: &str,
    ) -> Result<Option<PlatformRecord>, StoreError> {
        let mut args = Args::default();
        let clause = match key.parse::<i64>() {
            Ok(id) if key.bytes().all(|b| b.is_ascii_digit()) => {
                format!("WHERE p.id = {}", args.int(id))
            }
            _ => format!("WHERE p.name = {}", args.text(key)),
        };
        Ok(self.platforms_where(org, &clause, args).await?.pop())
    }

    async fn platforms_where(
        &self,
        org: Option<Uuid>,
        filter: &str,
        mut args: Args,
    ) -> Result<Vec<PlatformRecord>, StoreError> {
        let amount = match org {
            Some(o) => format!(
                "(SELECT COUNT(*) FROM assets a WHERE a.platform_id = p.id AND a.org_id = {})",
                args.text(o.to_string())
            ),
            None => "(SELECT COUNT(*) FROM assets a WHERE a.platform_id = p.id)".to_owned(),
        };
        let sql = format!(
            "SELECT p.*, {amount} AS assets_amount FROM platforms p {filter} ORDER BY p.id"
        );
        let rows = args
            .bind(sqlx::query(trusted(sql)))
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(PlatformRecord {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                category: r.try_get("category")?,
                type_: r.try_get("type")?,
                internal: r.try_get::<Flag, _>("internal")?.0,
                charset: r.try_get("charset")?,
                gateway_enabled: r.try_get::<Flag, _>("gateway_enabled")?.0,
                su_enabled: r.try_get::<Flag, _>("su_enabled")?.0,
                su_method: r.try_get("su_method")?,
                ds_enabled: r.try_get::<Flag, _>("ds_enabled")?.0,
                custom_fields: json_col(r, "custom_fields", Value::Array(Vec::new()))?,
                comment: r.try_get("comment")?,
                created_by: r.try_get("created_by")?,
                date_created: from_micros(r.try_get("date_created")?),
                date_updated: from_micros(r.try_get("date_updated")?),
                protocols: Vec::new(),
                automation: None,
                assets_amount: r.try_get("assets_amount")?,
            });
        }
        if out.is_empty() {
            return Ok(out);
        }
        let mut args = Args::default();
        let list = out
            .iter()
            .map(|p| args.int(p.id))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = args
            .bind(sqlx::query(trusted(format!(
                "SELECT * FROM platform_protocols WHERE platform_id IN ({list})
                 ORDER BY platform_id, is_primary DESC, name"
            ))))
            .fetch_all(&self.pool)
            .await?;
        for r in &rows {
            let pid: i64 = r.try_get("platform_id")?;
            let proto = PlatformProtocol {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                port: r.try_get("port")?,
                primary: r.try_get::<Flag, _>("is_primary")?.0,
                required: r.try_get::<Flag, _>("required")?.0,
                default: r.try_get::<Flag, _>("is_default")?.0,
                public: r.try_get::<Flag, _>("public")?.0,
                setting: json_col(r, "setting", Value::Object(Default::default()))?,
            };
            if let Some(p) = out.iter_mut().find(|p| p.id == pid) {
                p.protocols.push(proto);
            }
        }
        let rows = args
            .bind(sqlx::query(trusted(format!(
                "SELECT * FROM platform_automations WHERE platform_id IN ({list})"
            ))))
            .fetch_all(&self.pool)
            .await?;
        for r in &rows {
            let pid: i64 = r.try_get("platform_id")?;
            let mut kinds = Vec::with_capacity(AUTOMATION_KINDS.len());
            for kind in AUTOMATION_KINDS {
                kinds.push(AutomationKind {
                    kind,
                    enabled: r.try_get::<Flag, _>(format!("{kind}_enabled").as_str())?.0,
                    method: r.try_get(format!("{kind}_method").as_str())?,
                    params: json_col(
                        r,
                        &format!("{kind}_params"),
                        Value::Object(Default::default()),
                    )?,
                });
            }
            let auto = (
                r.try_get::<Flag, _>("ansible_enabled")?.0,
                json_col(r, "ansible_config", Value::Object(Default::default()))?,
                kinds,
            );
            if let Some(p) = out.iter_mut().find(|p| p.id == pid) {
                p.automation = Some(auto);
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------------

/// A node of the asset tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// Id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// Org name.
    pub org_name: String,
    /// Materialized path, e.g. `1:3:2`.
    pub key: String,
    /// Display name.
    pub value: String,
    /// Parent's key, `""` for an org root.
    pub parent_key: String,
    /// `/Default/dev/web`.
    pub full_value: String,
    /// Distinct assets in the subtree.
    pub assets_amount: i64,
    /// Whether it has child nodes.
    pub has_children: bool,
    /// Creator.
    pub created_by: String,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Updated.
    pub date_updated: DateTime<Utc>,
}

/// Filters of the node list.
#[derive(Debug, Clone, Default)]
pub struct NodeQuery {
    /// Org to scope by; `None` = every org.
    pub org: Option<Uuid>,
    /// Only these ids.
    pub ids: Option<Vec<Uuid>>,
    /// Exact key.
    pub key: Option<String>,
    /// Exact value.
    pub value: Option<String>,
    /// Case-insensitive substring of the value (terms ANDed).
    pub search: Option<String>,
    /// Direct children of this key (needs `org`).
    pub parent_key: Option<String>,
    /// Strict descendants of this key (needs `org`).
    pub descendants_of: Option<String>,
    /// Only org roots.
    pub roots_only: bool,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

const NODE_SELECT: &str = "SELECT n.id, n.org_id, o.name AS org_name, n.key, n.value, n.parent_key,
    n.created_by, n.date_created, n.date_updated,
    (SELECT COUNT(*) FROM nodes c WHERE c.org_id = n.org_id AND c.parent_key = n.key) AS children
    FROM nodes n JOIN orgs o ON o.id = n.org_id";

fn node_from_row(r: &AnyRow) -> Result<NodeRecord, StoreError> {
    Ok(NodeRecord {
        id: uuid(&r.try_get::<String, _>("id")?, "nodes.id")?,
        org_id: uuid(&r.try_get::<String, _>("org_id")?, "nodes.org_id")?,
        org_name: r.try_get("org_name")?,
        key: r.try_get("key")?,
        value: r.try_get("value")?,
        parent_key: r.try_get("parent_key")?,
        full_value: String::new(),
        // Filled from the per-generation cache (node_cache.rs).
        assets_amount: 0,
        has_children: r.try_get::<i64, _>("children")? > 0,
        created_by: r.try_get("created_by")?,
        date_created: from_micros(r.try_get("date_created")?),
        date_updated: from_micros(r.try_get("date_updated")?),
    })
}

/// The node keys from the root down to `key` (inclusive), as stored strings.
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

/// Why a node write was refused, for the API to phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRefusal {
    /// A sibling already has this value.
    DuplicateSibling,
    /// The org root cannot be renamed or deleted.
    Root,
    /// The subtree holds assets.
    HasAssets,
}

/// The outcome of a node write.
pub type NodeWrite<T> = Result<T, NodeRefusal>;

impl Store {
    /// Fills `full_value` of each node from its ancestors' values.
    async fn fill_full_values(&self, nodes: &mut [NodeRecord]) -> Result<(), StoreError> {
        let pairs: Vec<(Uuid, String)> = nodes.iter().map(|n| (n.org_id, n.key.clone())).collect();
        let names = self.full_values(&pairs).await?;
        for n in nodes {
            n.full_value = names
                .get(&(n.org_id, n.key.clone()))
                .cloned()
                .unwrap_or_default();
        }
        Ok(())
    }

    /// `/Root/a/b` for each `(org, key)`.
    async fn full_values(
        &self,
        pairs: &[(Uuid, String)],
    ) -> Result<HashMap<(Uuid, String), String>, StoreError> {
        let mut out = HashMap::new();
        if pairs.is_empty() {
            return Ok(out);
        }
        let orgs: BTreeSet<String> = pairs.iter().map(|(o, _)| o.to_string()).collect();
        let keys: BTreeSet<String> = pairs.iter().flat_map(|(_, k)| lineage(k)).collect();
        let orgs: Vec<String> = orgs.into_iter().collect();
        let keys: Vec<String> = keys.into_iter().collect();
        let mut values: HashMap<(String, String), String> = HashMap::new();
        // Chunked so a long page never exceeds a database's placeholder limit.
        for chunk in keys.chunks(500) {
            let mut args = Args::default();
            let ol = args.list(&orgs);
            let kl = args.list(chunk);
            let rows = args
                .bind(sqlx::query(trusted(format!(
                    "SELECT org_id, key, value FROM nodes WHERE org_id IN ({ol}) AND key IN ({kl})"
                ))))
                .fetch_all(&self.pool)
                .await?;
            for r in &rows {
                values.insert(
                    (r.try_get("org_id")?, r.try_get("key")?),
                    r.try_get("value")?,
                );
            }
        }
        for (org, key) in pairs {
            let o = org.to_string();
            let path: String = lineage(key)
                .iter()
                .map(|k| format!("/{}", values.get(&(o.clone(), k.clone())).map_or("", |s| s)))
                .collect();
            out.insert((*org, key.clone()), path);
        }
        Ok(out)
    }

    /// A page of nodes matching `q` (ordered by org and key), with the total count.
    pub async fn list_nodes(&self, q: &NodeQuery) -> Result<(i64, Vec<NodeRecord>), StoreError> {
        // Read before the rows the asset counts are cached for (node_cache.rs).
        let generation = self.perm_generation().await?;
        let mut args = Args::default();
        let mut clauses = Vec::new();
        if let Some(org) = q.org {
            clauses.push(format!("n.org_id = {}", args.text(org.to_string())));
        }
        if let Some(ids) = &q.ids {
            if ids.is_empty() {
                clauses.push("1 = 0".into());
            } else {
                clauses.push(format!("n.id IN ({})", args.list(ids)));
            }
        }
        if let Some(k) = &q.key {
            clauses.push(format!("n.key = {}", args.text(k.clone())));
        }
        if let Some(v) = &q.value {
            clauses.push(format!("n.value = {}", args.text(v.clone())));
        }
        if let Some(search) = &q.search {
            for term in search.split_whitespace() {
                let p = args.text(format!(
                    "%{}%",
                    crate::codec::like_escape(&term.to_lowercase())
                ));
                clauses.push(format!("LOWER(n.value) LIKE {p} ESCAPE '\\'"));
            }
        }
        if let Some(p) = &q.parent_key {
            clauses.push(format!("n.parent_key = {}", args.text(p.clone())));
        }
        if let Some(k) = &q.descendants_of {
            let lo = args.text(format!("{k}:"));
            let hi = args.text(format!("{k};"));
            clauses.push(format!("n.key >= {lo} AND n.key < {hi}"));
        }
        if q.roots_only {
            clauses.push("n.parent_key = ''".into());
        }
        let filter = where_clause(&clauses);
        let count: i64 = args
            .bind(sqlx::query(trusted(format!(
                "SELECT COUNT(*) FROM nodes n {filter}"
            ))))
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let rows = args
            .bind(sqlx::query(trusted(format!(
                "{NODE_SELECT} {filter} ORDER BY n.org_id, n.key LIMIT {} OFFSET {}",
                q.limit.max(0),
                q.offset.max(0)
            ))))
            .fetch_all(&self.pool)
            .await?;
        let mut nodes = rows
            .iter()
            .map(node_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.fill_full_values(&mut nodes).await?;
        let ids: Vec<Uuid> = nodes.iter().map(|n| n.id).collect();
        let amounts = self.node_asset_amounts(generation, &ids).await?;
        for n in &mut nodes {
            n.assets_amount = amounts.get(&n.id).copied().unwrap_or(0);
        }
        Ok((count, nodes))
    }

    /// One node by id, or by key when `key` is not a UUID, scoped to `org` (`None`: any org).
    pub async fn node(
        &self,
        org: Option<Uuid>,
        key: &str,
    ) -> Result<Option<NodeRecord>, StoreError> {
        let mut q = NodeQuery {
            org,
            limit: 1,
            ..NodeQuery::default()
        };
        match Uuid::parse_str(key) {
            Ok(id) => q.ids = Some(vec![id]),
            Err(_) => q.key = Some(key.to_owned()),
        }
        Ok(self.list_nodes(&q).await?.1.pop())
    }

    /// The org's root node, created (with the org's name and the next free root number) when
    /// the org has none yet.
    pub async fn org_root_node(&self, org: Uuid) -> Result<NodeRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let (id, _) = ensure_org_root(&mut tx, org, "System").await?;
        tx.commit().await?;
        self.node(Some(org), &id.to_string())
            .await?
            .ok_or_else(|| StoreError::NotFound("the org root node".into()))
    }

    /// Creates `value` under the node `parent_key` of `org` (the org root when `None`).
    pub async fn create_node(
        &self,
        org: Uuid,
        parent_key: Option<&str>,
        value: &str,
        by: &str,
    ) -> Result<NodeWrite<Uuid>, StoreError> {
        let mut tx = self.begin_write().await?;
        let parent = match parent_key {
            Some(k) => k.to_owned(),
            None => ensure_org_root(&mut tx, org, by).await?.1,
        };
        if child_by_value(&mut tx, org, &parent, value)
            .await?
            .is_some()
        {
            return Ok(Err(NodeRefusal::DuplicateSibling));
        }
        let (id, _) = insert_child(&mut tx, org, &parent, value, by).await?;
        tx.commit().await?;
        Ok(Ok(id))
    }

    /// Creates the chain `segments` (below the org root) as far as it is missing; refuses when
    /// the last node already exists.
    pub async fn create_node_path(
        &self,
        org: Uuid,
        segments: &[String],
        by: &str,
    ) -> Result<NodeWrite<Uuid>, StoreError> {
        let mut tx = self.begin_write().await?;
        let (root_id, root_key) = ensure_org_root(&mut tx, org, by).await?;
        let (mut id, mut key) = (root_id, root_key);
        let mut created_last = false;
        for seg in segments {
            match child_by_value(&mut tx, org, &key, seg).await? {
                Some(found) => {
                    (id, key) = found;
                    created_last = false;
                }
                None => {
                    (id, key) = insert_child(&mut tx, org, &key, seg, by).await?;
                    created_last = true;
                }
            }
        }
        if !created_last {
            return Ok(Err(NodeRefusal::DuplicateSibling));
        }
        tx.commit().await?;
        Ok(Ok(id))
    }

    /// Renames a node; the root keeps its name (it mirrors the org's).
    pub async fn rename_node(
        &self,
        node: &NodeRecord,
        value: &str,
        by: &str,
    ) -> Result<NodeWrite<()>, StoreError> {
        if node.value == value {
            return Ok(Ok(()));
        }
        if node.parent_key.is_empty() {
            return Ok(Err(NodeRefusal::Root));
        }
        let done = sqlx::query(
            "UPDATE nodes SET value = $1, updated_by = $2, date_updated = $3 WHERE id = $4",
        )
        .bind(value)
        .bind(by)
        .bind(now_micros())
        .bind(node.id.to_string())
        .execute(&self.pool)
        .await;
        match done {
            Ok(_) => Ok(Ok(())),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                Ok(Err(NodeRefusal::DuplicateSibling))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a node and its subtree, unless it is an org root or its subtree holds assets.
    pub async fn delete_node(&self, node: &NodeRecord) -> Result<NodeWrite<()>, StoreError> {
        if node.parent_key.is_empty() {
            return Ok(Err(NodeRefusal::Root));
        }
        let mut tx = self.begin_write().await?;
        let (lo, hi) = (format!("{}:", node.key), format!("{};", node.key));
        let held: i64 = sqlx::query(
            "SELECT COUNT(*) FROM asset_nodes an JOIN nodes d ON d.id = an.node_id
             WHERE d.org_id = $1 AND (d.key = $2 OR (d.key >= $3 AND d.key < $4))",
        )
        .bind(node.org_id.to_string())
        .bind(&node.key)
        .bind(&lo)
        .bind(&hi)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        if held > 0 {
            return Ok(Err(NodeRefusal::HasAssets));
        }
        sqlx::query(
            "DELETE FROM nodes WHERE org_id = $1 AND (key = $2 OR (key >= $3 AND key < $4))",
        )
        .bind(node.org_id.to_string())
        .bind(&node.key)
        .bind(&lo)
        .bind(&hi)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Which of `ids` are nodes of `org`.
    pub async fn nodes_in_org(&self, org: Uuid, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        self.ids_in_org("nodes", org, ids).await
    }

    /// Which of `ids` are assets of `org`.
    pub async fn assets_in_org(&self, org: Uuid, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        self.ids_in_org("assets", org, ids).await
    }

    async fn ids_in_org(
        &self,
        table: &'static str,
        org: Uuid,
        ids: &[Uuid],
    ) -> Result<Vec<Uuid>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = Args::default();
        let o = args.text(org.to_string());
        let list = args.list(ids);
        let rows = args
            .bind(sqlx::query(trusted(format!(
                "SELECT id FROM {table} WHERE org_id = {o} AND id IN ({list})"
            ))))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| uuid(&r.try_get::<String, _>(0)?, table))
            .collect()
    }

    /// Adds assets to a node (`add`), takes them out of it (`remove`; an asset left in no node
    /// goes back to the org root, as in JumpServer) or makes it their only node (`replace`).
    pub async fn node_assets(
        &self,
        node: &NodeRecord,
        assets: &[Uuid],
        op: NodeAssetsOp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let root = if op == NodeAssetsOp::Remove {
            Some(ensure_org_root(&mut tx, node.org_id, "System").await?.0)
        } else {
            None
        };
        for a in assets {
            let a = a.to_string();
            match op {
                NodeAssetsOp::Add => {
                    link(&mut tx, &a, &node.id.to_string()).await?;
                }
                NodeAssetsOp::Replace => {
                    sqlx::query("DELETE FROM asset_nodes WHERE asset_id = $1 AND node_id <> $2")
                        .bind(&a)
                        .bind(node.id.to_string())
                        .execute(&mut *tx)
                        .await?;
                    link(&mut tx, &a, &node.id.to_string()).await?;
                }
                NodeAssetsOp::Remove => {
                    sqlx::query("DELETE FROM asset_nodes WHERE asset_id = $1 AND node_id = $2")
                        .bind(&a)
                        .bind(node.id.to_string())
                        .execute(&mut *tx)
                        .await?;
                    let left: i64 =
                        sqlx::query("SELECT COUNT(*) FROM asset_nodes WHERE asset_id = $1")
                            .bind(&a)
                            .fetch_one(&mut *tx)
                            .await?
                            .try_get(0)?;
                    if left == 0
                        && let Some(root) = root
                    {
                        link(&mut tx, &a, &root.to_string()).await?;
                    }
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// What `PUT /nodes/<id>/assets/<op>/` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeAssetsOp {
    /// Also put the assets in this node.
    Add,
    /// Take them out of this node.
    Remove,
    /// Make this node their only node.
    Replace,
}

type Tx<'a> = sqlx::Transaction<'a, Any>;

async fn link(tx: &mut Tx<'_>, asset: &str, node: &str) -> Result<(), StoreError> {
    let exists: i64 =
        sqlx::query("SELECT COUNT(*) FROM asset_nodes WHERE asset_id = $1 AND node_id = $2")
            .bind(asset)
            .bind(node)
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
    if exists == 0 {
        sqlx::query("INSERT INTO asset_nodes (asset_id, node_id) VALUES ($1, $2)")
            .bind(asset)
            .bind(node)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The org's root `(id, key)`, created when missing: its value is the org's name and its key
/// the next root number after every existing org root (JumpServer numbers org roots 1, 2, …).
async fn ensure_org_root(
    tx: &mut Tx<'_>,
    org: Uuid,
    by: &str,
) -> Result<(Uuid, String), StoreError> {
    if let Some(r) = sqlx::query(
        "SELECT id, key FROM nodes WHERE org_id = $1 AND parent_key = '' ORDER BY key LIMIT 1",
    )
    .bind(org.to_string())
    .fetch_optional(&mut **tx)
    .await?
    {
        return Ok((
            uuid(&r.try_get::<String, _>(0)?, "nodes.id")?,
            r.try_get(1)?,
        ));
    }
    let name: Option<String> = sqlx::query("SELECT name FROM orgs WHERE id = $1")
        .bind(org.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    let name = name.ok_or_else(|| StoreError::NotFound(format!("org `{org}`")))?;
    let roots: Vec<String> = sqlx::query("SELECT key FROM nodes WHERE parent_key = ''")
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let next = roots
        .iter()
        .filter_map(|k| k.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let id = Uuid::new_v4();
    let key = next.to_string();
    sqlx::query(
        "INSERT INTO nodes (id, org_id, key, value, parent_key, created_by, date_created, date_updated)
         VALUES ($1, $2, $3, $4, '', $5, $6, $6)",
    )
    .bind(id.to_string())
    .bind(org.to_string())
    .bind(&key)
    .bind(name.replace('/', "-"))
    .bind(by)
    .bind(now_micros())
    .execute(&mut **tx)
    .await?;
    Ok((id, key))
}

async fn child_by_value(
    tx: &mut Tx<'_>,
    org: Uuid,
    parent_key: &str,
    value: &str,
) -> Result<Option<(Uuid, String)>, StoreError> {
    sqlx::query("SELECT id, key FROM nodes WHERE org_id = $1 AND parent_key = $2 AND value = $3")
        .bind(org.to_string())
        .bind(parent_key)
        .bind(value)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| {
            Ok((
                uuid(&r.try_get::<String, _>(0)?, "nodes.id")?,
                r.try_get(1)?,
            ))
        })
        .transpose()
}

/// Inserts a child of `parent_key`, numbered from the parent's `child_mark` (skipping numbers
/// already taken by rows written some other way), and advances the mark.
async fn insert_child(
    tx: &mut Tx<'_>,
    org: Uuid,
    parent_key: &str,
    value: &str,
    by: &str,
) -> Result<(Uuid, String), StoreError> {
    // Lock the parent row first so concurrent creators number children one after another.
    let locked =
        sqlx::query("UPDATE nodes SET child_mark = child_mark WHERE org_id = $1 AND key = $2")
            .bind(org.to_string())
            .bind(parent_key)
            .execute(&mut **tx)
            .await?;
    if locked.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("node `{parent_key}`")));
    }
    let mark: i64 = sqlx::query("SELECT child_mark FROM nodes WHERE org_id = $1 AND key = $2")
        .bind(org.to_string())
        .bind(parent_key)
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
    let taken: Vec<String> =
        sqlx::query("SELECT key FROM nodes WHERE org_id = $1 AND parent_key = $2")
            .bind(org.to_string())
            .bind(parent_key)
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
    let next_free = taken
        .iter()
        .filter_map(|k| k.rsplit(':').next().and_then(|s| s.parse::<i64>().ok()))
        .map(|n| n + 1)
        .max()
        .unwrap_or(0);
    let n = mark.max(next_free);
    sqlx::query("UPDATE nodes SET child_mark = $1 WHERE org_id = $2 AND key = $3")
        .bind(n + 1)
        .bind(org.to_string())
        .bind(parent_key)
        .execute(&mut **tx)
        .await?;
    let id = Uuid::new_v4();
    let key = format!("{parent_key}:{n}");
    sqlx::query(
        "INSERT INTO nodes (id, org_id, key, value, parent_key, created_by, date_created, date_updated)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(id.to_string())
    .bind(org.to_string())
    .bind(&key)
    .bind(value)
    .bind(parent_key)
    .bind(by)
    .bind(now_micros())
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::conflict_or(e, format!("node `{value}`")))?;
    Ok((id, key))
}

// ---------------------------------------------------------------------------------------------
// Assets
// ---------------------------------------------------------------------------------------------

/// A node an asset sits in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetNode {
    /// Node id.
    pub id: Uuid,
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
    /// `/Default/dev`.
    pub full_value: String,
}

/// An asset as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetRecord {
    /// Id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// Org name.
    pub org_name: String,
    /// Name.
    pub name: String,
    /// Address (a URL for webs).
    pub address: String,
    /// Platform id.
    pub platform_id: i64,
    /// Platform name.
    pub platform_name: String,
    /// Category.
    pub category: String,
    /// Type.
    pub type_: String,
    /// Zone `(id, name)`.
    pub zone: Option<(Uuid, String)>,
    /// Active.
    pub is_active: bool,
    /// A zone gateway.
    pub is_gateway: bool,
    /// Last connectivity result.
    pub connectivity: String,
    /// Last verified.
    pub date_verified: Option<DateTime<Utc>>,
    /// Last login.
    pub date_last_login: Option<DateTime<Utc>>,
    /// Category-specific fields.
    pub spec: Value,
    /// Facts gathered from the host.
    pub gathered_info: Value,
    /// A custom platform's fields.
    pub custom_info: Value,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Updated.
    pub date_updated: DateTime<Utc>,
    /// `(name, port)`.
    pub protocols: Vec<(String, i64)>,
    /// Nodes it sits in.
    pub nodes: Vec<AssetNode>,
    /// Number of accounts.
    pub accounts_amount: i64,
}

/// Filters of the asset list.
#[derive(Debug, Clone, Default)]
pub struct AssetQuery {
    /// Org; `None` = every org.
    pub org: Option<Uuid>,
    /// Only these ids.
    pub ids: Option<Vec<Uuid>>,
    /// Terms matched (case-insensitively) against name, address and comment; ANDed.
    pub search: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Exact address.
    pub address: Option<String>,
    /// Exact comment.
    pub comment: Option<String>,
    /// Platform id.
    pub platform_id: Option<i64>,
    /// Platform name.
    pub platform_name: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Type.
    pub type_: Option<String>,
    /// Active flag.
    pub is_active: Option<bool>,
    /// Gateway flag.
    pub is_gateway: Option<bool>,
    /// Zone id.
    pub zone_id: Option<Uuid>,
    /// Zone name.
    pub zone_name: Option<String>,
    /// In this node `(org, id, key)`; with `node_subtree`, anywhere in its subtree.
    pub node: Option<(Uuid, Uuid, String)>,
    /// See `node`.
    pub node_subtree: bool,
    /// Offering any of these protocols.
    pub protocols: Option<Vec<String>>,
    /// List lookups applied in SQL (see `lookups.rs`, [`crate::lookups::ASSET_FIELDS`]).
    pub lookups: Vec<crate::lookups::SqlLookup>,
    /// `[-]name|address|date_created|…`.
    pub order: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

const ASSET_ORDER: &[(&str, &str)] = &[
    ("name", "a.name"),
    ("address", "a.address"),
    ("date_created", "a.date_created"),
    ("date_updated", "a.date_updated"),
    ("connectivity", "a.connectivity"),
    ("platform", "a.platform_id"),
    ("date_last_login", "a.date_last_login"),
    ("is_active", "a.is_active"),
    ("category", "a.category"),
    ("type", "a.type"),
];

/// Cached asset totals: (org, category) → (permission generation, count).
pub type AssetCountCache = std::collections::HashMap<(Option<Uuid>, Option<String>), (i64, i64)>;

impl AssetQuery {
    /// Whether only the org and the category narrow the list (the cacheable case: neither
    /// changes for an existing asset without a generation bump).
    fn unfiltered(&self) -> bool {
        self.ids.is_none()
            && self.search.is_none()
            && self.name.is_none()
            && self.address.is_none()
            && self.comment.is_none()
            && self.platform_id.is_none()
            && self.platform_name.is_none()
            && self.type_.is_none()
            && self.is_active.is_none()
            && self.is_gateway.is_none()
            && self.zone_id.is_none()
            && self.zone_name.is_none()
            && self.node.is_none()
            && self.protocols.is_none()
            && self.lookups.is_empty()
    }
}

/// Whether `sql` refers to the table alias (`p.`), not merely contains the letters.
fn uses_alias(sql: &str, alias: &str) -> bool {
    sql.match_indices(alias).any(|(i, _)| {
        i == 0
            || !sql[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

const ASSET_FROM: &str = "FROM assets a JOIN orgs o ON o.id = a.org_id
    JOIN platforms p ON p.id = a.platform_id LEFT JOIN zones z ON z.id = a.zone_id";

/// A new asset, validated by the caller.
#[derive(Debug, Clone)]
pub struct NewAsset {
    /// Org.
    pub org: Uuid,
    /// Name (unique in the org).
    pub name: String,
    /// Address.
    pub address: String,
    /// Platform id; category and type are the platform's.
    pub platform_id: i64,
    /// Zone of the same org.
    pub zone: Option<Uuid>,
    /// Active.
    pub is_active: bool,
    /// A zone gateway.
    pub is_gateway: bool,
    /// Category-specific fields.
    pub spec: Value,
    /// Custom platform fields.
    pub custom_info: Value,
    /// Comment.
    pub comment: String,
    /// `(name, port)`, at least one.
    pub protocols: Vec<(String, i64)>,
    /// Nodes of the same org, by id.
    pub node_ids: Vec<Uuid>,
    /// Node paths below the org root, created when missing.
    pub node_paths: Vec<Vec<String>>,
    /// Who.
    pub created_by: String,
}

/// Changes to an asset; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct AssetPatch {
    /// Name.
    pub name: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// Platform id.
    pub platform_id: Option<i64>,
    /// Zone (`Some(None)` clears it).
    pub zone: Option<Option<Uuid>>,
    /// Active.
    pub is_active: Option<bool>,
    /// Category-specific fields (the whole document).
    pub spec: Option<Value>,
    /// Custom platform fields.
    pub custom_info: Option<Value>,
    /// Comment.
    pub comment: Option<String>,
    /// Replaces the protocols.
    pub protocols: Option<Vec<(String, i64)>>,
    /// Replaces the nodes: ids and paths (the org root when both are empty).
    pub nodes: Option<(Vec<Uuid>, Vec<Vec<String>>)>,
}

impl Store {
    /// A page of assets matching `q`, with the total count.
    pub async fn list_assets(&self, q: &AssetQuery) -> Result<(i64, Vec<AssetRecord>), StoreError> {
        let mut args = Args::default();
        let mut c = Vec::new();
        if let Some(org) = q.org {
            c.push(format!("a.org_id = {}", args.text(org.to_string())));
        }
        if let Some(ids) = &q.ids {
            if ids.is_empty() {
                c.push("1 = 0".into());
            } else {
                c.push(format!("a.id IN ({})", args.list(ids)));
            }
        }
        if let Some(search) = &q.search {
            for term in search.split_whitespace() {
                let p = args.text(format!(
                    "%{}%",
                    crate::codec::like_escape(&term.to_lowercase())
                ));
                c.push(format!(
                    "(LOWER(a.name) LIKE {p} ESCAPE '\\' OR LOWER(a.address) LIKE {p} ESCAPE '\\' OR LOWER(a.comment) LIKE {p} ESCAPE '\\')"
                ));
            }
        }
        for (col, val) in [
            ("a.name", &q.name),
            ("a.address", &q.address),
            ("a.comment", &q.comment),
            ("p.name", &q.platform_name),
            ("a.category", &q.category),
            ("a.type", &q.type_),
            ("z.name", &q.zone_name),
        ] {
            if let Some(v) = val {
                c.push(format!("{col} = {}", args.text(v.clone())));
            }
        }
        if let Some(id) = q.platform_id {
            c.push(format!("a.platform_id = {}", args.int(id)));
        }
        if let Some(z) = q.zone_id {
            c.push(format!("a.zone_id = {}", args.text(z.to_string())));
        }
        for (col, val) in [("a.is_active", q.is_active), ("a.is_gateway", q.is_gateway)] {
            if let Some(v) = val {
                c.push(format!("{col} = {}", if v { "TRUE" } else { "FALSE" }));
            }
        }
        if let Some((org, id, key)) = &q.node {
            if q.node_subtree {
                let o = args.text(org.to_string());
                let k = args.text(key.clone());
                let lo = args.text(format!("{key}:"));
                let hi = args.text(format!("{key};"));
                c.push(format!(
                    "a.id IN (SELECT an.asset_id FROM asset_nodes an JOIN nodes d ON d.id = an.node_id
                      WHERE d.org_id = {o} AND (d.key = {k} OR (d.key >= {lo} AND d.key < {hi})))"
                ));
            } else {
                c.push(format!(
                    "a.id IN (SELECT asset_id FROM asset_nodes WHERE node_id = {})",
                    args.text(id.to_string())
                ));
            }
        }
        if let Some(protos) = &q.protocols {
            if protos.is_empty() {
                c.push("1 = 0".into());
            } else {
                c.push(format!(
                    "a.id IN (SELECT asset_id FROM asset_protocols WHERE name IN ({}))",
                    args.list(protos)
                ));
            }
        }
        c.extend(crate::lookups::render(
            &crate::lookups::ASSET_FIELDS,
            &q.lookups,
            self.backend(),
            &mut |v| args.text(v),
        ));
        let (col, dir) =
            crate::codec::order_column(q.order.as_deref(), "name", ASSET_ORDER, "assets")?;
        let filter = where_clause(&c);
        // The count joins only what the filter refers to: the joins of ASSET_FROM are for the
        // page's display columns, and on 100,000 assets they triple the cost of counting.
        let count_from = if ["o.", "p.", "z."]
            .iter()
            .any(|alias| uses_alias(&filter, alias))
        {
            ASSET_FROM
        } else {
            "FROM assets a"
        };
        // Unfiltered lists (an org, maybe a category) are what list views open with; their
        // total is cached for one permission generation, which every insert, delete or move of
        // an asset bumps.
        let cache_key = q.unfiltered().then(|| (q.org, q.category.clone()));
        // Read before anything it validates (the total, the page's nodes): see node_cache.rs.
        let current = self.perm_generation().await?;
        let generation = Some(current);
        let cached = match (&cache_key, generation) {
            (Some(k), Some(g)) => self
                .asset_counts
                .lock()
                .ok()
                .and_then(|c| c.get(k).filter(|(cg, _)| *cg == g).map(|(_, n)| *n)),
            _ => None,
        };
        let count: i64 = match cached {
            Some(n) => n,
            None => {
                let n: i64 = args
                    .bind(sqlx::query(trusted(format!(
                        "SELECT COUNT(*) {count_from} {filter}"
                    ))))
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?;
                if let (Some(k), Some(g)) = (cache_key, generation)
                    && let Ok(mut c) = self.asset_counts.lock()
                {
                    if c.len() >= 1024 {
                        c.clear();
                    }
                    c.insert(k, (g, n));
                }
                n
            }
        };
        let sql = format!(
            "SELECT a.*, o.name AS org_name, p.name AS platform_name, z.name AS zone_name,
                (SELECT COUNT(*) FROM accounts c WHERE c.asset_id = a.id) AS accounts_amount
             {ASSET_FROM} {filter} ORDER BY {col} {dir}, a.id LIMIT {} OFFSET {}",
            q.limit.max(0),
            q.offset.max(0)
        );
        let rows = args
            .bind(sqlx::query(trusted(sql)))
            .fetch_all(&self.pool)
            .await?;
        let mut assets = Vec::with_capacity(rows.len());
        for r in &rows {
            let zone = match opt_uuid(r, "zone_id")? {
                Some(id) => Some((
                    id,
                    r.try_get::<Option<String>, _>("zone_name")?
                        .unwrap_or_default(),
                )),
                None => None,
            };
            let opt_time = |col: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
                Ok(r.try_get::<Option<i64>, _>(col)?.map(from_micros))
            };
            assets.push(AssetRecord {
                id: uuid(&r.try_get::<String, _>("id")?, "assets.id")?,
                org_id: uuid(&r.try_get::<String, _>("org_id")?, "assets.org_id")?,
                org_name: r.try_get("org_name")?,
                name: r.try_get("name")?,
                address: r.try_get("address")?,
                platform_id: r.try_get("platform_id")?,
                platform_name: r.try_get("platform_name")?,
                category: r.try_get("category")?,
                type_: r.try_get("type")?,
                zone,
                is_active: r.try_get::<Flag, _>("is_active")?.0,
                is_gateway: r.try_get::<Flag, _>("is_gateway")?.0,
                connectivity: r.try_get("connectivity")?,
                date_verified: opt_time("date_verified")?,
                date_last_login: opt_time("date_last_login")?,
                spec: json_col(r, "spec", Value::Object(Default::default()))?,
                gathered_info: json_col(r, "gathered_info", Value::Object(Default::default()))?,
                custom_info: json_col(r, "custom_info", Value::Object(Default::default()))?,
                comment: r.try_get("comment")?,
                created_by: r.try_get("created_by")?,
                date_created: from_micros(r.try_get("date_created")?),
                date_updated: from_micros(r.try_get("date_updated")?),
                protocols: Vec::new(),
                nodes: Vec::new(),
                accounts_amount: r.try_get("accounts_amount")?,
            });
        }
        self.attach_protocols_and_nodes(current, &mut assets)
            .await?;
        Ok((count, assets))
    }

    /// Fills the protocols and nodes of `assets`; `generation` was read before the assets.
    async fn attach_protocols_and_nodes(
        &self,
        generation: i64,
        assets: &mut [AssetRecord],
    ) -> Result<(), StoreError> {
        if assets.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = assets.iter().map(|a| a.id).collect();
        let mut args = Args::default();
        let list = args.list(&ids);
        let index: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let rows = args
            .bind(sqlx::query(trusted(format!(
                "SELECT asset_id, name, port FROM asset_protocols WHERE asset_id IN ({list}) ORDER BY name"
            ))))
            .fetch_all(&self.pool)
            .await?;
        for r in &rows {
            let aid = uuid(&r.try_get::<String, _>(0)?, "asset_protocols.asset_id")?;
            if let Some(&i) = index.get(&aid) {
                assets[i].protocols.push((r.try_get(1)?, r.try_get(2)?));
            }
        }
        let nodes = self.asset_nodes(generation, &ids).await?;
        for a in assets.iter_mut() {
            if let Some(found) = nodes.get(&a.id) {
                a.nodes = found
                    .iter()
                    .map(|n| AssetNode {
                        id: n.id,
                        key: n.key.clone(),
                        value: n.value.clone(),
                        full_value: n.full_value.clone(),
                    })
                    .collect();
            }
        }
        Ok(())
    }

    /// One asset by id, or by name when `key` is not a UUID, scoped to `org`.
    pub async fn asset_record(
        &self,
        org: Option<Uuid>,
        key: &str,
    ) -> Result<Option<AssetRecord>, StoreError> {
        let mut q = AssetQuery {
            org,
            limit: 1,
            ..AssetQuery::default()
        };
        match Uuid::parse_str(key) {
            Ok(id) => q.ids = Some(vec![id]),
            Err(_) => q.name = Some(key.to_owned()),
        }
        Ok(self.list_assets(&q).await?.1.pop())
    }

    /// Whether `org` has an asset named `name` other than `except`.
    pub async fn asset_name_taken(
        &self,
        org: Uuid,
        name: &str,
        except: Option<Uuid>,
    ) -> Result<bool, StoreError> {
        let n: i64 =
            sqlx::query("SELECT COUNT(*) FROM assets WHERE org_id = $1 AND name = $2 AND id <> $3")
                .bind(org.to_string())
                .bind(name)
                .bind(except.map(|e| e.to_string()).unwrap_or_default())
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
        Ok(n > 0)
    }

    /// Creates an asset with its protocols and nodes (missing path nodes are created; no node
    /// at all means the org root) in one transaction.
    pub async fn create_asset(&self, new: &NewAsset) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let now = now_micros();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO assets (id, org_id, name, address, platform_id, category, type, zone_id,
                is_active, is_gateway, spec, custom_info, comment, created_by, updated_by,
                date_created, date_updated)
             SELECT $1, $2, $3, $4, p.id, p.category, p.type, $5, $6, $7, $8, $9, $10, $11, $11, $12, $12
             FROM platforms p WHERE p.id = $13",
        )
        .bind(id.to_string())
        .bind(new.org.to_string())
        .bind(&new.name)
        .bind(&new.address)
        .bind(new.zone.map(|z| z.to_string()))
        .bind(new.is_active)
        .bind(new.is_gateway)
        .bind(new.spec.to_string())
        .bind(new.custom_info.to_string())
        .bind(&new.comment)
        .bind(&new.created_by)
        .bind(now)
        .bind(new.platform_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("asset `{}`", new.name)))?;
        set_protocols(&mut tx, id, &new.protocols).await?;
        set_nodes(
            &mut tx,
            new.org,
            id,
            &new.node_ids,
            &new.node_paths,
            &new.created_by,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Applies a patch (columns, protocols, nodes) in one transaction.
    pub async fn update_asset(
        &self,
        asset: &AssetRecord,
        p: &AssetPatch,
        by: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        update_asset_in(&mut tx, asset, p, by).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes an asset (its protocols, node links and accounts go with it) and the label
    /// bindings of the asset and of those accounts, in one transaction.
    pub async fn delete_asset(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let accounts: Vec<String> =
            sqlx::query_scalar("SELECT id FROM accounts WHERE asset_id = $1")
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?;
        crate::labels::delete_resource_labels_in(&mut tx, "accounts.account", &accounts).await?;
        crate::labels::delete_resource_labels_in(&mut tx, "assets.asset", &[id.to_string()])
            .await?;
        let done = sqlx::query("DELETE FROM assets WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}

/// [`Store::update_asset`] inside the caller's write transaction, so that several assets (a
/// bulk update) are written together or not at all.
pub(crate) async fn update_asset_in(
    tx: &mut Tx<'_>,
    asset: &AssetRecord,
    p: &AssetPatch,
    by: &str,
) -> Result<(), StoreError> {
    let mut args = Args::default();
    let mut sets = vec![
        format!("date_updated = {}", args.int(now_micros())),
        format!("updated_by = {}", args.text(by)),
    ];
    for (col, val) in [
        ("name", &p.name),
        ("address", &p.address),
        ("comment", &p.comment),
    ] {
        if let Some(v) = val {
            sets.push(format!("{col} = {}", args.text(v.clone())));
        }
    }
    if let Some(pid) = p.platform_id {
        // The composite foreign key needs category and type to follow the platform.
        let pp = args.int(pid);
        sets.push(format!("platform_id = {pp}"));
        sets.push(format!(
            "category = (SELECT category FROM platforms WHERE id = {pp})"
        ));
        sets.push(format!(
            "type = (SELECT type FROM platforms WHERE id = {pp})"
        ));
    }
    match &p.zone {
        Some(Some(z)) => sets.push(format!("zone_id = {}", args.text(z.to_string()))),
        Some(None) => sets.push("zone_id = NULL".into()),
        None => {}
    }
    if let Some(v) = p.is_active {
        sets.push(format!("is_active = {}", if v { "TRUE" } else { "FALSE" }));
    }
    if let Some(v) = &p.spec {
        sets.push(format!("spec = {}", args.text(v.to_string())));
    }
    if let Some(v) = &p.custom_info {
        sets.push(format!("custom_info = {}", args.text(v.to_string())));
    }
    let idp = args.text(asset.id.to_string());
    args.bind(sqlx::query(trusted(format!(
        "UPDATE assets SET {} WHERE id = {idp}",
        sets.join(", ")
    ))))
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::conflict_or(e, "an asset with that name"))?;
    if let Some(protos) = &p.protocols {
        sqlx::query("DELETE FROM asset_protocols WHERE asset_id = $1")
            .bind(asset.id.to_string())
            .execute(&mut **tx)
            .await?;
        set_protocols(tx, asset.id, protos).await?;
    }
    if let Some((ids, paths)) = &p.nodes {
        sqlx::query("DELETE FROM asset_nodes WHERE asset_id = $1")
            .bind(asset.id.to_string())
            .execute(&mut **tx)
            .await?;
        set_nodes(tx, asset.org_id, asset.id, ids, paths, by).await?;
    }
    Ok(())
}

async fn set_protocols(
    tx: &mut Tx<'_>,
    asset: Uuid,
    protos: &[(String, i64)],
) -> Result<(), StoreError> {
    for (name, port) in protos {
        sqlx::query("INSERT INTO asset_protocols (asset_id, name, port) VALUES ($1, $2, $3)")
            .bind(asset.to_string())
            .bind(name)
            .bind(*port)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn set_nodes(
    tx: &mut Tx<'_>,
    org: Uuid,
    asset: Uuid,
    ids: &[Uuid],
    paths: &[Vec<String>],
    by: &str,
) -> Result<(), StoreError> {
    let a = asset.to_string();
    for n in ids {
        link(tx, &a, &n.to_string()).await?;
    }
    if ids.is_empty() && paths.is_empty() || !paths.is_empty() {
        let (root, root_key) = ensure_org_root(tx, org, by).await?;
        if ids.is_empty() && paths.is_empty() {
            link(tx, &a, &root.to_string()).await?;
        }
        for path in paths {
            let (mut id, mut key) = (root, root_key.clone());
            for seg in path {
                (id, key) = match child_by_value(tx, org, &key, seg).await? {
                    Some(found) => found,
                    None => insert_child(tx, org, &key, seg, by).await?,
                };
            }
            link(tx, &a, &id.to_string()).await?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Zones
// ---------------------------------------------------------------------------------------------

/// A zone (formerly domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRecord {
    /// Id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// Org name.
    pub org_name: String,
    /// Name (unique in the org).
    pub name: String,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Updated.
    pub date_updated: DateTime<Utc>,
    /// Assets in the zone, gateways included.
    pub assets: Vec<(Uuid, String)>,
    /// Gateway assets `(id, name)`.
    pub gateways: Vec<(Uuid, String)>,
}

/// Filters of the zone list.
#[derive(Debug, Clone, Default)]
pub struct ZoneQuery {
    /// Org; `None` = every org.
    pub org: Option<Uuid>,
    /// Only these ids.
    pub ids: Option<Vec<Uuid>>,
    /// Exact name.
    pub name: Option<String>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// `[-]name|date_created|date_updated`.
    pub order: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

const ZONE_ORDER: &[(&str, &str)] = &[
    ("name", "z.name"),
    ("date_created", "z.date_created"),
    ("date_updated", "z.date_updated"),
];

impl Store {
    /// A page of zones with the total count.
    pub async fn list_zones(&self, q: &ZoneQuery) -> Result<(i64, Vec<ZoneRecord>), StoreError> {
        let mut args = Args::default();
        let mut c = Vec::new();
        if let Some(org) = q.org {
            c.push(format!("z.org_id = {}", args.text(org.to_string())));
        }
        if let Some(ids) = &q.ids {
            if ids.is_empty() {
                c.push("1 = 0".into());
            } else {
                c.push(format!("z.id IN ({})", args.list(ids)));
            }
        }
        if let Some(n) = &q.name {
            c.push(format!("z.name = {}", args.text(n.clone())));
        }
        if let Some(search) = &q.search {
            for term in search.split_whitespace() {
                let p = args.text(format!(
                    "%{}%",
                    crate::codec::like_escape(&term.to_lowercase())
                ));
                c.push(format!("LOWER(z.name) LIKE {p} ESCAPE '\\'"));
            }
        }
        let (col, dir) =
            crate::codec::order_column(q.order.as_deref(), "name", ZONE_ORDER, "zones")?;
        let filter = where_clause(&c);
        let count: i64 = args
            .bind(sqlx::query(trusted(format!(
                "SELECT COUNT(*) FROM zones z {filter}"
            ))))
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let rows = args
            .bind(sqlx::query(trusted(format!(
                "SELECT z.*, o.name AS org_name FROM zones z JOIN orgs o ON o.id = z.org_id
                 {filter} ORDER BY {col} {dir}, z.id LIMIT {} OFFSET {}",
                q.limit.max(0),
                q.offset.max(0)
            ))))
            .fetch_all(&self.pool)
            .await?;
        let mut zones = Vec::with_capacity(rows.len());
        for r in &rows {
            zones.push(ZoneRecord {
                id: uuid(&r.try_get::<String, _>("id")?, "zones.id")?,
                org_id: uuid(&r.try_get::<String, _>("org_id")?, "zones.org_id")?,
                org_name: r.try_get("org_name")?,
                name: r.try_get("name")?,
                comment: r.try_get("comment")?,
                created_by: r.try_get("created_by")?,
                date_created: from_micros(r.try_get("date_created")?),
                date_updated: from_micros(r.try_get("date_updated")?),
                assets: Vec::new(),
                gateways: Vec::new(),
            });
        }
        if !zones.is_empty() {
            let mut args = Args::default();
            let ids: Vec<Uuid> = zones.iter().map(|z| z.id).collect();
            let list = args.list(&ids);
            let rows = args
                .bind(sqlx::query(trusted(format!(
                    "SELECT zone_id, id, name, is_gateway FROM assets WHERE zone_id IN ({list}) ORDER BY name"
                ))))
                .fetch_all(&self.pool)
                .await?;
            for r in &rows {
                let zid = uuid(&r.try_get::<String, _>(0)?, "assets.zone_id")?;
                let item = (
                    uuid(&r.try_get::<String, _>(1)?, "assets.id")?,
                    r.try_get(2)?,
                );
                let gateway = r.try_get::<Flag, _>(3)?.0;
                if let Some(z) = zones.iter_mut().find(|z| z.id == zid) {
                    if gateway {
                        z.gateways.push(item.clone());
                    }
                    z.assets.push(item);
                }
            }
        }
        Ok((count, zones))
    }

    /// One zone by id, or by name when `key` is not a UUID.
    pub async fn zone(
        &self,
        org: Option<Uuid>,
        key: &str,
    ) -> Result<Option<ZoneRecord>, StoreError> {
        let mut q = ZoneQuery {
            org,
            limit: 1,
            ..ZoneQuery::default()
        };
        match Uuid::parse_str(key) {
            Ok(id) => q.ids = Some(vec![id]),
            Err(_) => q.name = Some(key.to_owned()),
        }
        Ok(self.list_zones(&q).await?.1.pop())
    }

    /// Creates a zone (and moves `assets` into it) in one transaction.
    pub async fn create_zone(
        &self,
        org: Uuid,
        name: &str,
        comment: &str,
        assets: Option<&[Uuid]>,
        by: &str,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO zones (id, org_id, name, comment, created_by, updated_by, date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, $5, $6, $6)",
        )
        .bind(id.to_string())
        .bind(org.to_string())
        .bind(name)
        .bind(comment)
        .bind(by)
        .bind(now_micros())
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("zone `{name}`")))?;
        if let Some(assets) = assets {
            set_zone_assets(&mut tx, org, id, assets).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Updates a zone's name, comment and (when given) its non-gateway assets.
    pub async fn update_zone(
        &self,
        zone: &ZoneRecord,
        name: Option<&str>,
        comment: Option<&str>,
        assets: Option<&[Uuid]>,
        by: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE zones SET name = $1, comment = $2, updated_by = $3, date_updated = $4 WHERE id = $5",
        )
        .bind(name.unwrap_or(&zone.name))
        .bind(comment.unwrap_or(&zone.comment))
        .bind(by)
        .bind(now_micros())
        .bind(zone.id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "a zone with that name"))?;
        if let Some(assets) = assets {
            set_zone_assets(&mut tx, zone.org_id, zone.id, assets).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a zone; its assets stay, outside any zone.
    pub async fn delete_zone(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM zones WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// Makes `assets` the zone's non-gateway assets (gateways stay where they are).
async fn set_zone_assets(
    tx: &mut Tx<'_>,
    org: Uuid,
    zone: Uuid,
    assets: &[Uuid],
) -> Result<(), StoreError> {
    sqlx::query("UPDATE assets SET zone_id = NULL WHERE zone_id = $1 AND is_gateway = FALSE")
        .bind(zone.to_string())
        .execute(&mut **tx)
        .await?;
    for a in assets {
        sqlx::query("UPDATE assets SET zone_id = $1 WHERE id = $2 AND org_id = $3")
            .bind(zone.to_string())
            .bind(a.to_string())
            .bind(org.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod alias_tests {
    use super::uses_alias;

    #[test]
    fn aliases_are_found_only_as_aliases() {
        assert!(uses_alias("WHERE p.name = $1", "p."));
        assert!(uses_alias("(z.name = $2)", "z."));
        assert!(!uses_alias(
            "WHERE a.id IN (SELECT asset_id FROM asset_protocols ap.x)",
            "p."
        ));
        assert!(!uses_alias("WHERE a.org_id = $1", "o."));
        assert!(!uses_alias("WHERE a.zone_id = $1 AND top.x = 1", "p."));
    }
}
