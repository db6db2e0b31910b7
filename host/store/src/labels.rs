//! Labels (tags) and their bindings to resources (`labels`, `labeled_resources`).
//!
//! A binding names its resource polymorphically, `(res_type, res_id)` with `res_type` in
//! JumpServer's `app.model` form (`assets.asset`, `users.user`, …), so the database cannot
//! cascade a resource's deletion to its bindings: whoever deletes a resource calls
//! [`delete_resource_labels_in`] in the same transaction. The kinds of resource that can carry
//! labels are fixed in [`RESOURCE_TYPES`]; JumpServer numbers them by Django content-type id,
//! which differs per installation, so clients read the numbers from `/labels/resource-types/`
//! and both the number and the `app.model` name are accepted wherever a type is given.

use crate::codec::{from_micros, like_escape, now_micros, trusted, uuid};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

/// A kind of resource that can carry labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceType {
    /// Stable number, shown where JumpServer shows a content-type id.
    pub id: i64,
    /// `app.model`, as stored in `labeled_resources.res_type`.
    pub code: &'static str,
    /// The app part of `code`.
    pub app_label: &'static str,
    /// The model part of `code`.
    pub model: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Display name of the app.
    pub app_display: &'static str,
    /// The table holding the resources.
    table: &'static str,
    /// SQL for the resource's text id (platform ids are integers).
    id_sql: &'static str,
    /// SQL for how a resource prints (`str(obj)` in JumpServer).
    display_sql: &'static str,
    /// Whether rows belong to an org (`org_id`); users and platforms are global.
    org_scoped: bool,
}

#[allow(
    clippy::too_many_arguments,
    reason = "a table row written positionally, one line per column"
)]
const fn rt(
    id: i64,
    code: &'static str,
    app_label: &'static str,
    model: &'static str,
    name: &'static str,
    app_display: &'static str,
    table: &'static str,
    display_sql: &'static str,
    org_scoped: bool,
) -> ResourceType {
    ResourceType {
        id,
        code,
        app_label,
        model,
        name,
        app_display,
        table,
        id_sql: "id",
        display_sql,
        org_scoped,
    }
}

/// Every kind of resource that can carry labels.
pub const RESOURCE_TYPES: &[ResourceType] = &[
    rt(
        1,
        "assets.asset",
        "assets",
        "asset",
        "Asset",
        "Assets",
        "assets",
        "name || '(' || address || ')'",
        true,
    ),
    ResourceType {
        id_sql: "CAST(id AS TEXT)",
        ..rt(
            2,
            "assets.platform",
            "assets",
            "platform",
            "Platform",
            "Assets",
            "platforms",
            "name",
            false,
        )
    },
    rt(
        3,
        "assets.zone",
        "assets",
        "zone",
        "Zone",
        "Assets",
        "zones",
        "name",
        true,
    ),
    rt(
        4,
        "accounts.account",
        "accounts",
        "account",
        "Account",
        "Accounts",
        "accounts",
        "name",
        true,
    ),
    rt(
        5,
        "accounts.accounttemplate",
        "accounts",
        "accounttemplate",
        "Account template",
        "Accounts",
        "account_templates",
        "name",
        true,
    ),
    rt(
        6,
        "users.user",
        "users",
        "user",
        "User",
        "Users",
        "users",
        "name || '(' || username || ')'",
        false,
    ),
    rt(
        7,
        "users.usergroup",
        "users",
        "usergroup",
        "User group",
        "Users",
        "user_groups",
        "name",
        true,
    ),
    rt(
        8,
        "perms.assetpermission",
        "perms",
        "assetpermission",
        "Asset permission",
        "Permissions",
        "asset_permissions",
        "name",
        true,
    ),
    rt(
        9,
        "acls.commandgroup",
        "acls",
        "commandgroup",
        "Command group",
        "ACLs",
        "command_groups",
        "name",
        true,
    ),
    rt(
        10,
        "acls.commandfilteracl",
        "acls",
        "commandfilteracl",
        "Command filter",
        "ACLs",
        "command_filter_acls",
        "name",
        true,
    ),
    rt(
        11,
        "acls.connectacl",
        "acls",
        "connectacl",
        "Connect ACL",
        "ACLs",
        "connect_acls",
        "name",
        true,
    ),
];

/// The resource type named by its number or its `app.model` code (case-insensitive).
pub fn resource_type(key: &str) -> Option<&'static ResourceType> {
    let key = key.trim();
    if let Ok(n) = key.parse::<i64>() {
        return RESOURCE_TYPES.iter().find(|t| t.id == n);
    }
    RESOURCE_TYPES
        .iter()
        .find(|t| t.code.eq_ignore_ascii_case(key))
}

/// A label row with the number of resources bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// Name (no `:` or `,`).
    pub name: String,
    /// Value.
    pub value: String,
    /// Display colour (free text, e.g. `#ff0000`).
    pub color: String,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
    /// Last editor.
    pub updated_by: String,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Updated.
    pub date_updated: DateTime<Utc>,
    /// Bound resources.
    pub res_count: i64,
}

/// How a label prints on a resource (`{id, name, value, color}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelBrief {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
    /// Colour.
    pub color: String,
}

/// A label as given on input: by id, or by name and value (created when missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelRef {
    /// An existing label of the org.
    Id(Uuid),
    /// A label found, or created, by name and value.
    Pair {
        /// Name.
        name: String,
        /// Value.
        value: String,
    },
}

/// Why a label name or value is refused, if it is: `:` and `,` are the separators of the
/// `name:value` input and of the `labels=` filter, so they cannot be part of either.
pub fn check_label_text(text: &str) -> Result<(), String> {
    if text.contains(':') || text.contains(',') {
        Err("Cannot contain \":,\"".into())
    } else {
        Ok(())
    }
}

/// A label to create.
#[derive(Debug, Clone, Default)]
pub struct NewLabel {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
    /// Colour.
    pub color: String,
    /// Comment.
    pub comment: String,
}

/// Changes to a label; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct LabelPatch {
    /// Name.
    pub name: Option<String>,
    /// Value.
    pub value: Option<String>,
    /// Colour.
    pub color: Option<String>,
    /// Comment.
    pub comment: Option<String>,
}

/// Filters of the label list.
#[derive(Debug, Clone, Default)]
pub struct LabelQuery {
    /// Only this org; `None` is the root view (every org).
    pub org: Option<Uuid>,
    /// Case-insensitive substring of name or value (space-separated terms ANDed).
    pub search: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Exact value.
    pub value: Option<String>,
    /// Only these ids.
    pub ids: Option<Vec<Uuid>>,
    /// `name`, `value`, `date_created`, `date_updated`, `res_count`; `-` for descending.
    pub order: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

/// A binding of a label to a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabeledResource {
    /// Id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// The label.
    pub label_id: Uuid,
    /// The label's name.
    pub label_name: String,
    /// The label's value.
    pub label_value: String,
    /// `app.model`.
    pub res_type: String,
    /// The resource's id.
    pub res_id: String,
    /// How the resource prints (empty when it no longer exists).
    pub resource: String,
    /// Who bound it.
    pub created_by: String,
    /// When.
    pub date_created: DateTime<Utc>,
}

/// Filters of the labeled-resource list.
#[derive(Debug, Clone, Default)]
pub struct LabeledQuery {
    /// Only this org; `None` is the root view.
    pub org: Option<Uuid>,
    /// Only bindings of this label.
    pub label: Option<Uuid>,
    /// Label name.
    pub label_name: Option<String>,
    /// Label value.
    pub label_value: Option<String>,
    /// `app.model`.
    pub res_type: Option<String>,
    /// Resource id.
    pub res_id: Option<String>,
    /// Only these ids.
    pub ids: Option<Vec<Uuid>>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

/// The `labels=` list filter: groups of labels; a resource matches when, for every group, it
/// carries at least one label of the group (values of one name ORed, names ANDed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelFilter {
    /// Label ids (`labels=<id>,<id>`); each id stands for its name and value.
    Ids(Vec<Uuid>),
    /// `name:value` terms, `*` as the value matching any value of the name.
    Pairs(Vec<(String, String)>),
}

impl LabelFilter {
    /// Parses the parameter: a comma-separated list of label ids, or of `name:value` terms.
    pub fn parse(text: &str) -> Result<LabelFilter, String> {
        let terms: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        if terms.is_empty() {
            return Err("Enter at least one label.".into());
        }
        if terms.iter().any(|t| t.contains(':')) {
            terms
                .iter()
                .map(|t| {
                    t.split_once(':')
                        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                        .filter(|(n, _)| !n.is_empty())
                        .ok_or_else(|| format!("`{t}` is not `name:value`."))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(LabelFilter::Pairs)
        } else {
            terms
                .iter()
                .map(|t| Uuid::parse_str(t).map_err(|_| format!("`{t}` is not a label id.")))
                .collect::<Result<Vec<_>, _>>()
                .map(LabelFilter::Ids)
        }
    }
}

/// Placeholders and their values for one query; every value is bound as text.
#[derive(Default)]
struct Args(Vec<String>);

/// Binds every argument of an [`Args`] to a query (`query` and `query_scalar` alike).
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in &$args.0 {
            q = q.bind(a.clone());
        }
        q
    }};
}

impl Args {
    fn push(&mut self, v: impl Into<String>) -> String {
        self.0.push(v.into());
        format!("${}", self.0.len())
    }

    fn list<S: ToString>(&mut self, items: &[S]) -> String {
        items
            .iter()
            .map(|i| self.push(i.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

const LABEL_ORDER: &[&str] = &["name", "value", "date_created", "date_updated", "res_count"];

const LABEL_COLUMNS: &str = "l.id, l.org_id, l.name, l.value, l.color, l.comment, l.created_by, \
     l.updated_by, l.date_created, l.date_updated, \
     (SELECT COUNT(*) FROM labeled_resources r WHERE r.label_id = l.id) AS res_count";

fn label_from_row(r: &AnyRow) -> Result<Label, StoreError> {
    Ok(Label {
        id: uuid(&r.try_get::<String, _>("id")?, "labels.id")?,
        org_id: uuid(&r.try_get::<String, _>("org_id")?, "labels.org_id")?,
        name: r.try_get("name")?,
        value: r.try_get("value")?,
        color: r.try_get("color")?,
        comment: r.try_get("comment")?,
        created_by: r.try_get("created_by")?,
        updated_by: r.try_get("updated_by")?,
        date_created: from_micros(r.try_get("date_created")?),
        date_updated: from_micros(r.try_get("date_updated")?),
        res_count: r.try_get("res_count")?,
    })
}

fn validate_new(name: &str, value: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::Invalid("a label needs a name".into()));
    }
    check_label_text(name)
        .and_then(|()| check_label_text(value))
        .map_err(StoreError::Invalid)
}

fn conflict(name: &str, value: &str) -> String {
    format!("a label `{name}:{value}`")
}

impl Store {
    /// A page of labels matching `q`, with the total count.
    pub async fn list_labels(&self, q: &LabelQuery) -> Result<(i64, Vec<Label>), StoreError> {
        let mut args = Args::default();
        let mut clauses: Vec<String> = Vec::new();
        if let Some(org) = q.org {
            clauses.push(format!("l.org_id = {}", args.push(org.to_string())));
        }
        if let Some(search) = &q.search {
            for term in search.split_whitespace() {
                let p = args.push(format!("%{}%", like_escape(&term.to_lowercase())));
                clauses.push(format!(
                    "(LOWER(l.name) LIKE {p} ESCAPE '\\' OR LOWER(l.value) LIKE {p} ESCAPE '\\')"
                ));
            }
        }
        if let Some(name) = &q.name {
            clauses.push(format!("l.name = {}", args.push(name.clone())));
        }
        if let Some(value) = &q.value {
            clauses.push(format!("l.value = {}", args.push(value.clone())));
        }
        if let Some(ids) = &q.ids {
            if ids.is_empty() {
                clauses.push("1 = 0".into());
            } else {
                clauses.push(format!("l.id IN ({})", args.list(ids)));
            }
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let order = q.order.as_deref().unwrap_or("name");
        let (col, dir) = match order.strip_prefix('-') {
            Some(c) => (c, "DESC"),
            None => (order, "ASC"),
        };
        if !LABEL_ORDER.contains(&col) {
            return Err(StoreError::Invalid(format!(
                "cannot order labels by `{col}`"
            )));
        }
        let sort = if col == "res_count" {
            "res_count".to_owned()
        } else {
            format!("l.{col}")
        };
        let count: i64 = {
            let sql = format!("SELECT COUNT(*) FROM labels l {filter}");
            bind_args!(sqlx::query_scalar(trusted(sql)), args)
                .fetch_one(&self.pool)
                .await?
        };
        let sql = format!(
            "SELECT {LABEL_COLUMNS} FROM labels l {filter} ORDER BY {sort} {dir}, l.value, l.id \
             LIMIT {} OFFSET {}",
            q.limit.max(0),
            q.offset.max(0)
        );
        let rows = bind_args!(sqlx::query(trusted(sql)), args)
            .fetch_all(&self.pool)
            .await?;
        let labels = rows.iter().map(label_from_row).collect::<Result<_, _>>()?;
        Ok((count, labels))
    }

    /// One label, when it exists in `org` (any org when `None`).
    pub async fn label(&self, org: Option<Uuid>, id: Uuid) -> Result<Option<Label>, StoreError> {
        let row = sqlx::query(trusted(format!(
            "SELECT {LABEL_COLUMNS} FROM labels l WHERE l.id = $1 AND ($2 = '' OR l.org_id = $2)"
        )))
        .bind(id.to_string())
        .bind(org.map(|o| o.to_string()).unwrap_or_default())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(label_from_row).transpose()
    }

    /// Creates a label in `org`; a taken `(name, value)` is a [`StoreError::Conflict`].
    pub async fn create_label(
        &self,
        org: Uuid,
        new: &NewLabel,
        by: &str,
    ) -> Result<Label, StoreError> {
        validate_new(&new.name, &new.value)?;
        let id = Uuid::new_v4();
        let now = now_micros();
        sqlx::query(
            "INSERT INTO labels (id, org_id, name, value, color, comment, created_by, updated_by,
                date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $8)",
        )
        .bind(id.to_string())
        .bind(org.to_string())
        .bind(&new.name)
        .bind(&new.value)
        .bind(&new.color)
        .bind(&new.comment)
        .bind(by)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_or(e, conflict(&new.name, &new.value)))?;
        self.label(Some(org), id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("label `{id}`")))
    }

    /// Changes a label; false when it does not exist.
    pub async fn update_label(
        &self,
        id: Uuid,
        patch: &LabelPatch,
        by: &str,
    ) -> Result<bool, StoreError> {
        let Some(current) = self.label(None, id).await? else {
            return Ok(false);
        };
        let name = patch.name.clone().unwrap_or(current.name);
        let value = patch.value.clone().unwrap_or(current.value);
        validate_new(&name, &value)?;
        let done = sqlx::query(
            "UPDATE labels SET name = $1, value = $2, color = $3, comment = $4, updated_by = $5,
                date_updated = $6
             WHERE id = $7",
        )
        .bind(&name)
        .bind(&value)
        .bind(patch.color.clone().unwrap_or(current.color))
        .bind(patch.comment.clone().unwrap_or(current.comment))
        .bind(by)
        .bind(now_micros())
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_or(e, conflict(&name, &value)))?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a label and its bindings; false when absent.
    pub async fn delete_label(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        // The schema cascades too; deleting explicitly keeps the intent visible and does not
        // depend on SQLite's foreign_keys pragma.
        sqlx::query("DELETE FROM labeled_resources WHERE label_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM labels WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// The distinct label names of an org (`/labels/labels/keys/`).
    pub async fn label_keys(
        &self,
        org: Option<Uuid>,
        search: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let pattern = format!(
            "%{}%",
            like_escape(&search.unwrap_or_default().to_lowercase())
        );
        let rows = sqlx::query(
            "SELECT DISTINCT name FROM labels WHERE ($1 = '' OR org_id = $1)
                AND LOWER(name) LIKE $2 ESCAPE '\\' ORDER BY name",
        )
        .bind(org.map(|o| o.to_string()).unwrap_or_default())
        .bind(pattern)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
    }

    /// How resources of one type print, by id; ids that do not exist are left out.
    pub async fn resource_names(
        &self,
        res_type: &ResourceType,
        ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            let mut args = Args::default();
            let list = args.list(chunk);
            let sql = format!(
                "SELECT {} AS id, {} AS display FROM {} WHERE {} IN ({list})",
                res_type.id_sql, res_type.display_sql, res_type.table, res_type.id_sql
            );
            for r in bind_args!(sqlx::query(trusted(sql)), args)
                .fetch_all(&self.pool)
                .await?
            {
                out.insert(r.try_get("id")?, r.try_get("display")?);
            }
        }
        Ok(out)
    }

    /// The ids among `ids` that name no resource of the type in `org` (for global types: that
    /// name no resource at all).
    pub async fn missing_resources(
        &self,
        org: Uuid,
        res_type: &ResourceType,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut found: BTreeSet<String> = BTreeSet::new();
        for chunk in ids.chunks(500) {
            let mut args = Args::default();
            let list = args.list(chunk);
            let mut sql = format!(
                "SELECT {} FROM {} WHERE {} IN ({list})",
                res_type.id_sql, res_type.table, res_type.id_sql
            );
            if res_type.org_scoped {
                sql.push_str(&format!(" AND org_id = {}", args.push(org.to_string())));
            }
            for r in bind_args!(sqlx::query(trusted(sql)), args)
                .fetch_all(&self.pool)
                .await?
            {
                found.insert(r.try_get(0)?);
            }
        }
        Ok(ids
            .iter()
            .filter(|i| !found.contains(*i))
            .cloned()
            .collect())
    }

    /// A page of the resources of one type in `org` (`(id, display)`), optionally only those
    /// bound (`Some((label, true))`) or not bound (`Some((label, false))`) to a label.
    pub async fn type_resources(
        &self,
        org: Option<Uuid>,
        res_type: &ResourceType,
        bound: Option<(Uuid, bool)>,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<(String, String)>), StoreError> {
        let mut args = Args::default();
        let mut clauses: Vec<String> = Vec::new();
        if let (Some(org), true) = (org, res_type.org_scoped) {
            clauses.push(format!("org_id = {}", args.push(org.to_string())));
        }
        if let Some((label, yes)) = bound {
            let l = args.push(label.to_string());
            let t = args.push(res_type.code);
            clauses.push(format!(
                "{} {} (SELECT res_id FROM labeled_resources WHERE label_id = {l} AND res_type = {t})",
                res_type.id_sql,
                if yes { "IN" } else { "NOT IN" }
            ));
        }
        if let Some(s) = search.filter(|s| !s.trim().is_empty()) {
            let p = args.push(format!("%{}%", like_escape(&s.trim().to_lowercase())));
            clauses.push(format!(
                "LOWER({}) LIKE {p} ESCAPE '\\'",
                res_type.display_sql
            ));
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let table = res_type.table;
        let count: i64 = {
            let mut cq =
                sqlx::query_scalar(trusted(format!("SELECT COUNT(*) FROM {table} {filter}")));
            for a in &args.0 {
                cq = cq.bind(a.clone());
            }
            cq.fetch_one(&self.pool).await?
        };
        let sql = format!(
            "SELECT {} AS id, {} AS display FROM {table} {filter} ORDER BY display, id \
             LIMIT {} OFFSET {}",
            res_type.id_sql,
            res_type.display_sql,
            limit.max(0),
            offset.max(0)
        );
        let rows = bind_args!(sqlx::query(trusted(sql)), args)
            .fetch_all(&self.pool)
            .await?;
        let items = rows
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("display")?)))
            .collect::<Result<_, StoreError>>()?;
        Ok((count, items))
    }

    /// A page of label bindings matching `q`, with the total count.
    pub async fn list_labeled_resources(
        &self,
        q: &LabeledQuery,
    ) -> Result<(i64, Vec<LabeledResource>), StoreError> {
        let mut args = Args::default();
        let mut clauses: Vec<String> = Vec::new();
        if let Some(org) = q.org {
            clauses.push(format!("r.org_id = {}", args.push(org.to_string())));
        }
        if let Some(label) = q.label {
            clauses.push(format!("r.label_id = {}", args.push(label.to_string())));
        }
        if let Some(v) = &q.label_name {
            clauses.push(format!("l.name = {}", args.push(v.clone())));
        }
        if let Some(v) = &q.label_value {
            clauses.push(format!("l.value = {}", args.push(v.clone())));
        }
        if let Some(v) = &q.res_type {
            clauses.push(format!("r.res_type = {}", args.push(v.clone())));
        }
        if let Some(v) = &q.res_id {
            clauses.push(format!("r.res_id = {}", args.push(v.clone())));
        }
        if let Some(ids) = &q.ids {
            if ids.is_empty() {
                clauses.push("1 = 0".into());
            } else {
                clauses.push(format!("r.id IN ({})", args.list(ids)));
            }
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let from = "FROM labeled_resources r JOIN labels l ON l.id = r.label_id";
        let count: i64 = {
            let mut cq = sqlx::query_scalar(trusted(format!("SELECT COUNT(*) {from} {filter}")));
            for a in &args.0 {
                cq = cq.bind(a.clone());
            }
            cq.fetch_one(&self.pool).await?
        };
        let sql = format!(
            "SELECT r.id, r.org_id, r.label_id, l.name, l.value, r.res_type, r.res_id,
                r.created_by, r.date_created
             {from} {filter} ORDER BY r.res_type, r.date_created, r.id LIMIT {} OFFSET {}",
            q.limit.max(0),
            q.offset.max(0)
        );
        let rows = bind_args!(sqlx::query(trusted(sql)), args)
            .fetch_all(&self.pool)
            .await?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(LabeledResource {
                    id: uuid(&r.try_get::<String, _>("id")?, "labeled_resources.id")?,
                    org_id: uuid(
                        &r.try_get::<String, _>("org_id")?,
                        "labeled_resources.org_id",
                    )?,
                    label_id: uuid(
                        &r.try_get::<String, _>("label_id")?,
                        "labeled_resources.label_id",
                    )?,
                    label_name: r.try_get("name")?,
                    label_value: r.try_get("value")?,
                    res_type: r.try_get("res_type")?,
                    res_id: r.try_get("res_id")?,
                    resource: String::new(),
                    created_by: r.try_get("created_by")?,
                    date_created: from_micros(r.try_get("date_created")?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // One name lookup per resource type on the page.
        let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for i in &items {
            by_type
                .entry(i.res_type.clone())
                .or_default()
                .push(i.res_id.clone());
        }
        let mut names: HashMap<(String, String), String> = HashMap::new();
        for (code, ids) in by_type {
            if let Some(t) = resource_type(&code) {
                for (id, name) in self.resource_names(t, &ids).await? {
                    names.insert((code.clone(), id), name);
                }
            }
        }
        for i in &mut items {
            if let Some(n) = names.remove(&(i.res_type.clone(), i.res_id.clone())) {
                i.resource = n;
            }
        }
        Ok((count, items))
    }

    /// Binds a label to resources (existing bindings are kept); returns how many were added.
    pub async fn bind_label(
        &self,
        label: &Label,
        res_type: &ResourceType,
        res_ids: &[String],
        by: &str,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let n =
            insert_bindings(&mut tx, label.org_id, label.id, res_type.code, res_ids, by).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Removes a label from resources; returns how many bindings went.
    pub async fn unbind_label(
        &self,
        label: Uuid,
        res_type: &ResourceType,
        res_ids: &[String],
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        let mut tx = self.begin_write().await?;
        for chunk in res_ids.chunks(500) {
            let mut args = Args::default();
            let l = args.push(label.to_string());
            let t = args.push(res_type.code);
            let list = args.list(chunk);
            let sql = format!(
                "DELETE FROM labeled_resources WHERE label_id = {l} AND res_type = {t} \
                 AND res_id IN ({list})"
            );
            removed += bind_args!(sqlx::query(trusted(sql)), args)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Makes `res_ids` exactly the resources of one type that carry the label (JumpServer's
    /// `PUT …/resource-types/<type>/resources/`), in one transaction.
    pub async fn replace_label_resources(
        &self,
        label: &Label,
        res_type: &ResourceType,
        res_ids: &[String],
        by: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let current: Vec<String> = sqlx::query(
            "SELECT res_id FROM labeled_resources WHERE label_id = $1 AND res_type = $2",
        )
        .bind(label.id.to_string())
        .bind(res_type.code)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
        let keep: BTreeSet<&String> = res_ids.iter().collect();
        for gone in current.iter().filter(|c| !keep.contains(c)) {
            sqlx::query(
                "DELETE FROM labeled_resources WHERE label_id = $1 AND res_type = $2 AND res_id = $3",
            )
            .bind(label.id.to_string())
            .bind(res_type.code)
            .bind(gone)
            .execute(&mut *tx)
            .await?;
        }
        insert_bindings(&mut tx, label.org_id, label.id, res_type.code, res_ids, by).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes bindings by id, within `org` when given; returns how many went.
    pub async fn delete_labeled_resources(
        &self,
        org: Option<Uuid>,
        ids: &[Uuid],
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        let mut tx = self.begin_write().await?;
        for chunk in ids.chunks(500) {
            let mut args = Args::default();
            let list = args.list(chunk);
            let mut sql = format!("DELETE FROM labeled_resources WHERE id IN ({list})");
            if let Some(org) = org {
                sql.push_str(&format!(" AND org_id = {}", args.push(org.to_string())));
            }
            removed += bind_args!(sqlx::query(trusted(sql)), args)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// The labels of resources of one type, by resource id, as `{id, name, value, color}`
    /// (the `labels` field of a serializer). Only labels of `org` when given, since a global
    /// resource (a user) may carry labels of several orgs.
    pub async fn resource_labels(
        &self,
        org: Option<Uuid>,
        res_type: &str,
        res_ids: &[String],
    ) -> Result<HashMap<String, Vec<LabelBrief>>, StoreError> {
        let mut out: HashMap<String, Vec<LabelBrief>> = HashMap::new();
        for chunk in res_ids.chunks(500) {
            let mut args = Args::default();
            let t = args.push(res_type);
            let list = args.list(chunk);
            let mut sql = format!(
                "SELECT r.res_id, l.id, l.name, l.value, l.color FROM labeled_resources r
                 JOIN labels l ON l.id = r.label_id
                 WHERE r.res_type = {t} AND r.res_id IN ({list})"
            );
            if let Some(org) = org {
                sql.push_str(&format!(" AND l.org_id = {}", args.push(org.to_string())));
            }
            sql.push_str(" ORDER BY l.name, l.value");
            for r in bind_args!(sqlx::query(trusted(sql)), args)
                .fetch_all(&self.pool)
                .await?
            {
                out.entry(r.try_get("res_id")?)
                    .or_default()
                    .push(LabelBrief {
                        id: uuid(&r.try_get::<String, _>("id")?, "labels.id")?,
                        name: r.try_get("name")?,
                        value: r.try_get("value")?,
                        color: r.try_get("color")?,
                    });
            }
        }
        Ok(out)
    }

    /// Replaces the labels `org` puts on one resource, resolving [`LabelRef`]s (creating
    /// labels given by an unknown name and value), in one transaction. For handlers whose own
    /// write is already committed; inside a transaction use [`set_resource_labels_in`].
    pub async fn set_resource_labels(
        &self,
        org: Uuid,
        res_type: &str,
        res_id: &str,
        labels: &[LabelRef],
        by: &str,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut tx = self.begin_write().await?;
        let ids = set_resource_labels_in(&mut tx, org, res_type, res_id, labels, by).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Replaces every label binding of one resource that belongs to no org (a platform) in
    /// every org at once, as the root (global) view writes it: the labels given may come from
    /// several orgs, and each binding is kept in the org of its label (`(org, label)` pairs;
    /// a `name:value` pair is found or created in the org it comes with).
    pub async fn set_resource_labels_everywhere(
        &self,
        res_type: &str,
        res_id: &str,
        labels: &[(Uuid, LabelRef)],
        by: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM labeled_resources WHERE res_type = $1 AND res_id = $2")
            .bind(res_type)
            .bind(res_id)
            .execute(&mut *tx)
            .await?;
        for (org, label) in labels {
            for id in resolve_labels_in(&mut tx, *org, std::slice::from_ref(label), by).await? {
                insert_bindings(&mut tx, *org, id, res_type, &[res_id.to_owned()], by).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The ids of the resources of one type that the `labels=` filter matches, among labels of
    /// `org` (every org when `None`), sorted. Values given for one name are ORed and different
    /// names ANDed; `name:*` matches any value of the name; an unknown label matches nothing.
    pub async fn label_filter_ids(
        &self,
        org: Option<Uuid>,
        res_type: &str,
        filter: &LabelFilter,
    ) -> Result<Vec<String>, StoreError> {
        let org_text = org.map(|o| o.to_string()).unwrap_or_default();
        // name -> label ids of the group.
        let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        match filter {
            LabelFilter::Ids(ids) => {
                for id in ids {
                    let row = sqlx::query(
                        "SELECT name FROM labels WHERE id = $1 AND ($2 = '' OR org_id = $2)",
                    )
                    .bind(id.to_string())
                    .bind(&org_text)
                    .fetch_optional(&self.pool)
                    .await?;
                    let Some(row) = row else {
                        return Ok(Vec::new());
                    };
                    groups
                        .entry(row.try_get(0)?)
                        .or_default()
                        .insert(id.to_string());
                }
            }
            LabelFilter::Pairs(pairs) => {
                for (name, value) in pairs {
                    let rows = sqlx::query(
                        "SELECT id FROM labels WHERE name = $1 AND ($2 = '*' OR value = $2)
                            AND ($3 = '' OR org_id = $3)",
                    )
                    .bind(name)
                    .bind(value)
                    .bind(&org_text)
                    .fetch_all(&self.pool)
                    .await?;
                    let group = groups.entry(name.clone()).or_default();
                    for r in rows {
                        group.insert(r.try_get(0)?);
                    }
                }
            }
        }
        let mut matched: Option<BTreeSet<String>> = None;
        for ids in groups.values() {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let mut args = Args::default();
            let t = args.push(res_type);
            let list = args.list(&ids.iter().collect::<Vec<_>>());
            let sql = format!(
                "SELECT DISTINCT res_id FROM labeled_resources WHERE res_type = {t} \
                 AND label_id IN ({list})"
            );
            let found: BTreeSet<String> = bind_args!(sqlx::query(trusted(sql)), args)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            matched = Some(match matched {
                None => found,
                Some(m) => m.intersection(&found).cloned().collect(),
            });
            if matched.as_ref().is_some_and(BTreeSet::is_empty) {
                return Ok(Vec::new());
            }
        }
        Ok(matched.unwrap_or_default().into_iter().collect())
    }

    /// Deletes the label bindings of resources (for handlers deleting resources that own no
    /// transaction; otherwise [`delete_resource_labels_in`]).
    pub async fn delete_resource_labels(
        &self,
        res_type: &str,
        res_ids: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        delete_resource_labels_in(&mut tx, res_type, res_ids).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_bindings(
    tx: &mut Transaction<'_, Any>,
    org: Uuid,
    label: Uuid,
    res_type: &str,
    res_ids: &[String],
    by: &str,
) -> Result<u64, StoreError> {
    let now = now_micros();
    let mut added = 0;
    for res_id in res_ids {
        added += sqlx::query(
            "INSERT INTO labeled_resources (id, org_id, label_id, res_type, res_id, created_by, date_created)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (label_id, res_type, res_id) DO NOTHING",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(org.to_string())
        .bind(label.to_string())
        .bind(res_type)
        .bind(res_id)
        .bind(by)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(added)
}

/// Resolves label inputs to label ids of `org`, in order and without duplicates: an id must
/// name a label of the org (otherwise [`StoreError::Invalid`]); a name and value pair is looked
/// up and created when missing, as JumpServer does for the `labels` field.
pub async fn resolve_labels_in(
    tx: &mut Transaction<'_, Any>,
    org: Uuid,
    labels: &[LabelRef],
    by: &str,
) -> Result<Vec<Uuid>, StoreError> {
    let mut out: Vec<Uuid> = Vec::with_capacity(labels.len());
    for l in labels {
        let id = match l {
            LabelRef::Id(id) => {
                let n: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM labels WHERE id = $1 AND org_id = $2")
                        .bind(id.to_string())
                        .bind(org.to_string())
                        .fetch_one(&mut **tx)
                        .await?;
                if n == 0 {
                    return Err(StoreError::Invalid(format!(
                        "Invalid pk \"{id}\" - object does not exist."
                    )));
                }
                *id
            }
            LabelRef::Pair { name, value } => {
                validate_new(name, value)?;
                let found: Option<String> = sqlx::query_scalar(
                    "SELECT id FROM labels WHERE org_id = $1 AND name = $2 AND value = $3",
                )
                .bind(org.to_string())
                .bind(name)
                .bind(value)
                .fetch_optional(&mut **tx)
                .await?;
                match found {
                    Some(id) => uuid(&id, "labels.id")?,
                    None => {
                        let id = Uuid::new_v4();
                        let now = now_micros();
                        sqlx::query(
                            "INSERT INTO labels (id, org_id, name, value, created_by, updated_by,
                                date_created, date_updated)
                             VALUES ($1, $2, $3, $4, $5, $5, $6, $6)",
                        )
                        .bind(id.to_string())
                        .bind(org.to_string())
                        .bind(name)
                        .bind(value)
                        .bind(by)
                        .bind(now)
                        .execute(&mut **tx)
                        .await
                        .map_err(|e| StoreError::conflict_or(e, conflict(name, value)))?;
                        id
                    }
                }
            }
        };
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Replaces the labels of `org` on one resource inside the caller's transaction, so that a
/// resource and its labels are written together; returns the label ids now bound. Labels
/// other orgs put on the same (global) resource are left alone.
pub async fn set_resource_labels_in(
    tx: &mut Transaction<'_, Any>,
    org: Uuid,
    res_type: &str,
    res_id: &str,
    labels: &[LabelRef],
    by: &str,
) -> Result<Vec<Uuid>, StoreError> {
    let ids = resolve_labels_in(tx, org, labels, by).await?;
    sqlx::query(
        "DELETE FROM labeled_resources WHERE res_type = $1 AND res_id = $2 AND org_id = $3",
    )
    .bind(res_type)
    .bind(res_id)
    .bind(org.to_string())
    .execute(&mut **tx)
    .await?;
    for id in &ids {
        insert_bindings(tx, org, *id, res_type, &[res_id.to_owned()], by).await?;
    }
    Ok(ids)
}

/// Deletes every label binding of resources inside the caller's transaction (the schema
/// cannot cascade a polymorphic reference).
pub async fn delete_resource_labels_in(
    tx: &mut Transaction<'_, Any>,
    res_type: &str,
    res_ids: &[String],
) -> Result<(), StoreError> {
    for chunk in res_ids.chunks(500) {
        let mut args = Args::default();
        let t = args.push(res_type);
        let list = args.list(chunk);
        let sql =
            format!("DELETE FROM labeled_resources WHERE res_type = {t} AND res_id IN ({list})");
        bind_args!(sqlx::query(trusted(sql)), args)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_types_are_found_by_number_and_code() {
        assert_eq!(resource_type("1").map(|t| t.code), Some("assets.asset"));
        assert_eq!(resource_type("Users.User").map(|t| t.id), Some(6));
        assert!(resource_type("nope.nope").is_none());
        let mut ids: Vec<i64> = RESOURCE_TYPES.iter().map(|t| t.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), RESOURCE_TYPES.len());
    }

    #[test]
    fn the_label_filter_parses_ids_and_pairs() {
        let id = Uuid::new_v4();
        assert_eq!(
            LabelFilter::parse(&id.to_string()),
            Ok(LabelFilter::Ids(vec![id]))
        );
        assert_eq!(
            LabelFilter::parse("env:prod, env:dev,team:*"),
            Ok(LabelFilter::Pairs(vec![
                ("env".into(), "prod".into()),
                ("env".into(), "dev".into()),
                ("team".into(), "*".into()),
            ]))
        );
        assert!(LabelFilter::parse("not-a-uuid").is_err());
        assert!(LabelFilter::parse(":x").is_err());
        assert!(LabelFilter::parse("").is_err());
        assert!(check_label_text("a:b").is_err() && check_label_text("ok").is_ok());
    }
}
