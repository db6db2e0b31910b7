//! ACLs (reference §4.13): command groups, command-filter ACLs, login ACLs, asset-connect ACLs
//! (JumpServer's login-asset ACLs) and connect-method ACLs.
//!
//! Two halves. The *records* ([`CommandGroupRecord`], [`AclRecord`]) are what the REST API
//! shows and edits: JSON columns come back as JSON values, exactly as stored, so the API can
//! render them unchanged. The *loaders* ([`Store::load_command_filter_acls`] and friends)
//! return the core's compiled types for the listeners (SSH gateway, login) to evaluate; they
//! refuse a row that does not parse instead of skipping it, because skipping a `reject` ACL
//! would let through exactly what it exists to stop.
//!
//! The four ACL tables share most columns, so one set of functions serves them all, steered by
//! [`AclTable`]. The store validates nothing about selectors or rules itself (the API does that
//! with the core's parsers before writing); it does enforce what the schema cannot: command
//! groups of a command-filter ACL must be in the ACL's org, and reviewers must be users.

use crate::codec::{Flag, from_micros, like_escape, now_micros, trusted, uuid};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use portcullis_core::acl::{
    AccountSelector, AclRules, CommandAction, CommandFilterAcl, CommandGroup, CommandGroupKind,
    CommandGroupSet, ConnectAcl, ConnectAction, ConnectMethodAcl, ConnectMethodAction, LoginAcl,
    Selector,
};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;
use uuid::Uuid;

/// Which ACL table a call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AclTable {
    /// `command_filter_acls` (org-scoped; users, assets, accounts, command groups).
    CommandFilter,
    /// `login_acls` (system-wide; users, rules).
    Login,
    /// `connect_acls` (org-scoped; users, assets, accounts, rules).
    Connect,
    /// `connect_method_acls` (system-wide; users, connect methods).
    ConnectMethod,
}

impl AclTable {
    /// The table name (a constant, safe to splice into SQL).
    fn table(self) -> &'static str {
        match self {
            AclTable::CommandFilter => "command_filter_acls",
            AclTable::Login => "login_acls",
            AclTable::Connect => "connect_acls",
            AclTable::ConnectMethod => "connect_method_acls",
        }
    }

    /// `acl_reviewers.acl_type` of this table's rows.
    fn reviewer_type(self) -> &'static str {
        match self {
            AclTable::CommandFilter => "command_filter",
            AclTable::Login => "login",
            AclTable::Connect => "connect",
            AclTable::ConnectMethod => "connect_method",
        }
    }

    /// Whether rows belong to an org (`org_id`); the others are system-wide.
    pub fn org_scoped(self) -> bool {
        matches!(self, AclTable::CommandFilter | AclTable::Connect)
    }

    /// Whether rows have `assets` and `accounts`.
    pub fn has_assets(self) -> bool {
        matches!(self, AclTable::CommandFilter | AclTable::Connect)
    }

    /// Whether rows have `rules` (ip_group, time_period).
    pub fn has_rules(self) -> bool {
        matches!(self, AclTable::Login | AclTable::Connect)
    }

    /// Whether rows have `connect_methods`.
    pub fn has_methods(self) -> bool {
        matches!(self, AclTable::ConnectMethod)
    }

    /// Whether rows link to command groups.
    pub fn has_groups(self) -> bool {
        matches!(self, AclTable::CommandFilter)
    }

    /// The columns this table has beyond the common ones, in binding order.
    fn extra_columns(self) -> &'static [&'static str] {
        match self {
            AclTable::CommandFilter => &["assets", "accounts"],
            AclTable::Login => &["rules"],
            AclTable::Connect => &["assets", "accounts", "rules"],
            AclTable::ConnectMethod => &["connect_methods"],
        }
    }

    /// How messages name one row.
    fn what(self) -> &'static str {
        match self {
            AclTable::CommandFilter => "command filter ACL",
            AclTable::Login => "login ACL",
            AclTable::Connect => "login asset ACL",
            AclTable::ConnectMethod => "connect method ACL",
        }
    }
}

/// One ACL row as the API shows it. Columns the table lacks are `Value::Null` / empty.
#[derive(Debug, Clone, PartialEq)]
pub struct AclRecord {
    /// Id.
    pub id: Uuid,
    /// The org of an org-scoped ACL.
    pub org_id: Option<Uuid>,
    /// That org's name (empty for system-wide ACLs).
    pub org_name: String,
    /// Name, unique per org (or system-wide).
    pub name: String,
    /// 1..=100, lower first.
    pub priority: i64,
    /// Action value as stored.
    pub action: String,
    /// Inactive ACLs are never evaluated.
    pub is_active: bool,
    /// `users` selector JSON.
    pub users: Value,
    /// `assets` selector JSON (command-filter and connect ACLs).
    pub assets: Value,
    /// `accounts` JSON list (command-filter and connect ACLs).
    pub accounts: Value,
    /// `rules` JSON (login and connect ACLs).
    pub rules: Value,
    /// `connect_methods` JSON list (connect-method ACLs).
    pub connect_methods: Value,
    /// Linked command groups `(id, name)`, by name (command-filter ACLs).
    pub command_groups: Vec<(Uuid, String)>,
    /// Reviewers `(id, name)`, by name.
    pub reviewers: Vec<(Uuid, String)>,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
    /// Last editor.
    pub updated_by: String,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Last changed.
    pub date_updated: DateTime<Utc>,
}

/// The full new state of an ACL, for create and update (the API merges a partial update into
/// the current record and validates the result before calling the store). Values for columns
/// the table lacks are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct AclWrite {
    /// Name.
    pub name: String,
    /// 1..=100.
    pub priority: i64,
    /// Action value, one the table's CHECK allows.
    pub action: String,
    /// Active flag.
    pub is_active: bool,
    /// `users` selector JSON (an object).
    pub users: Value,
    /// `assets` selector JSON (an object).
    pub assets: Value,
    /// `accounts` list.
    pub accounts: Value,
    /// `rules` object.
    pub rules: Value,
    /// `connect_methods` list.
    pub connect_methods: Value,
    /// Command group ids, all in the ACL's org.
    pub command_groups: Vec<Uuid>,
    /// Reviewer user ids.
    pub reviewers: Vec<Uuid>,
    /// Comment.
    pub comment: String,
}

/// Filters of an ACL list.
#[derive(Debug, Clone, Default)]
pub struct AclQuery {
    /// Only this org (org-scoped tables); `None` = every org.
    pub org: Option<Uuid>,
    /// Case-insensitive substring of the name; space-separated terms are ANDed.
    pub search: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Exact action.
    pub action: Option<String>,
    /// Active flag.
    pub is_active: Option<bool>,
    /// Only these ids.
    pub ids: Option<Vec<Uuid>>,
    /// `priority` (default), `name`, `action`, `is_active`, `date_created`, `date_updated`;
    /// a leading `-` for descending.
    pub order: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

const ACL_ORDER: &[&str] = &[
    "priority",
    "name",
    "action",
    "is_active",
    "date_created",
    "date_updated",
];

/// A command group as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandGroupRecord {
    /// Id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// The org's name.
    pub org_name: String,
    /// Name, unique in the org.
    pub name: String,
    /// `command` or `regex`.
    pub kind: String,
    /// One entry per line.
    pub content: String,
    /// Case-insensitive matching.
    pub ignore_case: bool,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
    /// Last editor.
    pub updated_by: String,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Last changed.
    pub date_updated: DateTime<Utc>,
}

/// The full new state of a command group, for create and update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandGroupWrite {
    /// Name.
    pub name: String,
    /// `command` or `regex`.
    pub kind: String,
    /// One entry per line.
    pub content: String,
    /// Case-insensitive matching.
    pub ignore_case: bool,
    /// Comment.
    pub comment: String,
}

/// Filters of the command group list.
#[derive(Debug, Clone, Default)]
pub struct CommandGroupQuery {
    /// Only this org; `None` = every org.
    pub org: Option<Uuid>,
    /// Case-insensitive substring of the name; terms ANDed.
    pub search: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Exact type.
    pub kind: Option<String>,
    /// Only these ids.
    pub ids: Option<Vec<Uuid>>,
    /// `name` (default), `type`, `date_created`, `date_updated`; `-` for descending.
    pub order: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

const GROUP_ORDER: &[&str] = &["name", "type", "date_created", "date_updated"];

fn get_uuid(row: &AnyRow, col: &str) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(col)?;
    uuid(&text, col)
}

/// Appends a bind value and returns its placeholder.
fn arg(v: String, args: &mut Vec<String>) -> String {
    args.push(v);
    format!("${}", args.len())
}

/// `$a, $b, …` for each of `ids`, pushed onto `args`.
fn id_list(ids: &[Uuid], args: &mut Vec<String>) -> String {
    ids.iter()
        .map(|i| arg(i.to_string(), args))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `ORDER BY` for a validated order key; the column names come from the constant lists.
fn order_clause(
    order: Option<&str>,
    default: &str,
    allowed: &[&str],
    what: &str,
) -> Result<String, StoreError> {
    let order = order.unwrap_or(default);
    let (col, dir) = match order.strip_prefix('-') {
        Some(c) => (c, "DESC"),
        None => (order, "ASC"),
    };
    let Some(col) = allowed.iter().find(|c| **c == col) else {
        return Err(StoreError::Invalid(format!(
            "cannot order {what} by `{col}`"
        )));
    };
    Ok(if *col == "name" {
        format!("a.name {dir}, a.id")
    } else {
        format!("a.{col} {dir}, a.name, a.id")
    })
}

/// Parses a stored JSON column; a value that is not JSON is corruption.
fn json_col(row: &AnyRow, col: &str, place: &str) -> Result<Value, StoreError> {
    let text: String = row.try_get(col)?;
    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt(format!("{place}.{col}")))
}

/// A stored selector for evaluation. `{}` (the schema's default) matches nothing.
fn selector(v: &Value, place: &str) -> Result<Selector, StoreError> {
    if v.as_object().is_some_and(serde_json::Map::is_empty) {
        return Ok(Selector::ids(Vec::new()));
    }
    serde_json::from_value(v.clone()).map_err(|_| StoreError::Corrupt(place.to_owned()))
}

fn priority_u8(p: i64, place: &str) -> Result<u8, StoreError> {
    u8::try_from(p).map_err(|_| StoreError::Corrupt(place.to_owned()))
}

fn action<A: serde::de::DeserializeOwned>(a: &str, place: &str) -> Result<A, StoreError> {
    serde_json::from_value(Value::String(a.to_owned()))
        .map_err(|_| StoreError::Corrupt(place.to_owned()))
}

impl Store {
    // -----------------------------------------------------------------------------------------
    // Command groups
    // -----------------------------------------------------------------------------------------

    /// A page of command groups matching `q`, with the total count.
    pub async fn list_command_groups(
        &self,
        q: &CommandGroupQuery,
    ) -> Result<(i64, Vec<CommandGroupRecord>), StoreError> {
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<String> = Vec::new();
        if let Some(org) = q.org {
            let p = arg(org.to_string(), &mut args);
            clauses.push(format!("a.org_id = {p}"));
        }
        push_search(&q.search, &mut clauses, &mut args);
        if let Some(v) = &q.name {
            let p = arg(v.clone(), &mut args);
            clauses.push(format!("a.name = {p}"));
        }
        if let Some(v) = &q.kind {
            let p = arg(v.clone(), &mut args);
            clauses.push(format!("a.type = {p}"));
        }
        push_ids(q.ids.as_deref(), &mut clauses, &mut args);
        let filter = where_clause(&clauses);
        let order = order_clause(q.order.as_deref(), "name", GROUP_ORDER, "command groups")?;
        let mut count_q = sqlx::query_scalar(trusted(format!(
            "SELECT COUNT(*) FROM command_groups a {filter}"
        )));
        for a in &args {
            count_q = count_q.bind(a.clone());
        }
        let count: i64 = count_q.fetch_one(&self.pool).await?;
        let mut rows_q = sqlx::query(trusted(format!(
            "SELECT a.*, o.name AS org_name FROM command_groups a LEFT JOIN orgs o ON o.id = a.org_id
             {filter} ORDER BY {order} LIMIT {} OFFSET {}",
            q.limit.max(0),
            q.offset.max(0)
        )));
        for a in &args {
            rows_q = rows_q.bind(a.clone());
        }
        let rows = rows_q.fetch_all(&self.pool).await?;
        let groups = rows
            .iter()
            .map(group_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((count, groups))
    }

    /// One command group by id or, when `key` is not a UUID, by name; only in `org` when given
    /// (the root view looks in every org and takes the first by org id).
    pub async fn command_group(
        &self,
        org: Option<Uuid>,
        key: &str,
    ) -> Result<Option<CommandGroupRecord>, StoreError> {
        let col = if Uuid::parse_str(key).is_ok() {
            "id"
        } else {
            "name"
        };
        let org_filter = if org.is_some() {
            "AND a.org_id = $2"
        } else {
            ""
        };
        let mut q = sqlx::query(trusted(format!(
            "SELECT a.*, o.name AS org_name FROM command_groups a LEFT JOIN orgs o ON o.id = a.org_id
             WHERE a.{col} = $1 {org_filter} ORDER BY a.org_id LIMIT 1"
        )))
        .bind(key.to_owned());
        if let Some(org) = org {
            q = q.bind(org.to_string());
        }
        q.fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(group_from_row)
            .transpose()
    }

    /// The `(id, name)` of those of `ids` that are command groups in `org`, by name. The API
    /// compares the answer with what it asked for to name unknown ids.
    pub async fn command_groups_in_org(
        &self,
        org: Uuid,
        ids: &[Uuid],
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec![org.to_string()];
        let list = id_list(ids, &mut args);
        let mut q = sqlx::query(trusted(format!(
            "SELECT id, name FROM command_groups WHERE org_id = $1 AND id IN ({list}) ORDER BY name"
        )));
        for a in &args {
            q = q.bind(a.clone());
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((get_uuid(r, "id")?, r.try_get("name")?)))
            .collect()
    }

    /// Creates a command group in `org`.
    pub async fn create_command_group(
        &self,
        org: Uuid,
        w: &CommandGroupWrite,
        by: &str,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let now = now_micros();
        sqlx::query(
            "INSERT INTO command_groups (id, org_id, name, type, content, ignore_case, comment,
                created_by, updated_by, date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $9)",
        )
        .bind(id.to_string())
        .bind(org.to_string())
        .bind(&w.name)
        .bind(&w.kind)
        .bind(&w.content)
        .bind(w.ignore_case)
        .bind(&w.comment)
        .bind(by)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("a command group named `{}`", w.name)))?;
        Ok(id)
    }

    /// Replaces a command group's editable fields.
    pub async fn update_command_group(
        &self,
        id: Uuid,
        w: &CommandGroupWrite,
        by: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE command_groups SET name = $1, type = $2, content = $3, ignore_case = $4,
                comment = $5, updated_by = $6, date_updated = $7
             WHERE id = $8",
        )
        .bind(&w.name)
        .bind(&w.kind)
        .bind(&w.content)
        .bind(w.ignore_case)
        .bind(&w.comment)
        .bind(by)
        .bind(now_micros())
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("a command group named `{}`", w.name)))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("command group {id}")));
        }
        Ok(())
    }

    /// Deletes a command group; ACLs that listed it simply stop checking it (as JumpServer's
    /// many-to-many does).
    pub async fn delete_command_group(&self, id: Uuid) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM command_filter_acl_groups WHERE command_group_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM command_groups WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("command group {id}")));
        }
        tx.commit().await?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // ACLs
    // -----------------------------------------------------------------------------------------

    /// A page of ACLs of table `t` matching `q`, with the total count.
    pub async fn list_acls(
        &self,
        t: AclTable,
        q: &AclQuery,
    ) -> Result<(i64, Vec<AclRecord>), StoreError> {
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<String> = Vec::new();
        if let (Some(org), true) = (q.org, t.org_scoped()) {
            let p = arg(org.to_string(), &mut args);
            clauses.push(format!("a.org_id = {p}"));
        }
        push_search(&q.search, &mut clauses, &mut args);
        for (col, val) in [("name", &q.name), ("action", &q.action)] {
            if let Some(v) = val {
                let p = arg(v.clone(), &mut args);
                clauses.push(format!("a.{col} = {p}"));
            }
        }
        if let Some(active) = q.is_active {
            clauses.push(format!(
                "a.is_active = {}",
                if active { "TRUE" } else { "FALSE" }
            ));
        }
        push_ids(q.ids.as_deref(), &mut clauses, &mut args);
        let filter = where_clause(&clauses);
        let order = order_clause(q.order.as_deref(), "priority", ACL_ORDER, t.what())?;
        let table = t.table();
        let mut count_q =
            sqlx::query_scalar(trusted(format!("SELECT COUNT(*) FROM {table} a {filter}")));
        for a in &args {
            count_q = count_q.bind(a.clone());
        }
        let count: i64 = count_q.fetch_one(&self.pool).await?;
        let mut rows_q = sqlx::query(trusted(format!(
            "{} {filter} ORDER BY {order} LIMIT {} OFFSET {}",
            select_acl(t),
            q.limit.max(0),
            q.offset.max(0)
        )));
        for a in &args {
            rows_q = rows_q.bind(a.clone());
        }
        let rows = rows_q.fetch_all(&self.pool).await?;
        let mut acls = rows
            .iter()
            .map(|r| acl_from_row(t, r))
            .collect::<Result<Vec<_>, _>>()?;
        self.attach_acl_relations(t, &mut acls).await?;
        Ok((count, acls))
    }

    /// One ACL by id or, when `key` is not a UUID, by name; for org-scoped tables only in
    /// `org` when given (the root view takes the first match by org id).
    pub async fn acl(
        &self,
        t: AclTable,
        org: Option<Uuid>,
        key: &str,
    ) -> Result<Option<AclRecord>, StoreError> {
        let col = if Uuid::parse_str(key).is_ok() {
            "id"
        } else {
            "name"
        };
        let org = org.filter(|_| t.org_scoped());
        let (org_filter, order) = match (org, t.org_scoped()) {
            (Some(_), _) => ("AND a.org_id = $2", "ORDER BY a.id"),
            (None, true) => ("", "ORDER BY a.org_id, a.id"),
            (None, false) => ("", "ORDER BY a.id"),
        };
        let mut q = sqlx::query(trusted(format!(
            "{} WHERE a.{col} = $1 {org_filter} {order} LIMIT 1",
            select_acl(t)
        )))
        .bind(key.to_owned());
        if let Some(org) = org {
            q = q.bind(org.to_string());
        }
        let Some(row) = q.fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let mut acls = vec![acl_from_row(t, &row)?];
        self.attach_acl_relations(t, &mut acls).await?;
        Ok(acls.pop())
    }

    /// Creates an ACL (in `org` for org-scoped tables; ignored otherwise) with its command
    /// groups and reviewers, in one transaction.
    pub async fn create_acl(
        &self,
        t: AclTable,
        org: Uuid,
        w: &AclWrite,
        by: &str,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let now = now_micros();
        let mut cols = vec![
            "id",
            "name",
            "priority",
            "action",
            "is_active",
            "users",
            "comment",
            "created_by",
            "updated_by",
            "date_created",
            "date_updated",
        ];
        cols.extend(t.extra_columns());
        if t.org_scoped() {
            cols.push("org_id");
        }
        let list = (1..=cols.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({list})",
            t.table(),
            cols.join(", ")
        );
        let mut q = sqlx::query(trusted(sql))
            .bind(id.to_string())
            .bind(&w.name)
            .bind(w.priority)
            .bind(&w.action)
            .bind(w.is_active)
            .bind(w.users.to_string())
            .bind(&w.comment)
            .bind(by)
            .bind(by)
            .bind(now)
            .bind(now);
        for v in extra_values(t, w) {
            q = q.bind(v);
        }
        if t.org_scoped() {
            q = q.bind(org.to_string());
        }
        let mut tx = self.begin_write().await?;
        q.execute(&mut *tx).await.map_err(|e| {
            StoreError::conflict_or(e, format!("a {} named `{}`", t.what(), w.name))
        })?;
        write_relations(&mut tx, t, id, org, w).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Replaces an ACL's editable fields, command groups and reviewers, in one transaction.
    /// `org` is the ACL's own org (checked against its command groups).
    pub async fn update_acl(
        &self,
        t: AclTable,
        id: Uuid,
        org: Uuid,
        w: &AclWrite,
        by: &str,
    ) -> Result<(), StoreError> {
        let mut sets = vec![
            "name = $1".to_owned(),
            "priority = $2".to_owned(),
            "action = $3".to_owned(),
            "is_active = $4".to_owned(),
            "users = $5".to_owned(),
            "comment = $6".to_owned(),
            "updated_by = $7".to_owned(),
            "date_updated = $8".to_owned(),
        ];
        for (i, c) in t.extra_columns().iter().enumerate() {
            sets.push(format!("{c} = ${}", 9 + i));
        }
        let sql = format!(
            "UPDATE {} SET {} WHERE id = ${}",
            t.table(),
            sets.join(", "),
            sets.len() + 1
        );
        let mut q = sqlx::query(trusted(sql))
            .bind(&w.name)
            .bind(w.priority)
            .bind(&w.action)
            .bind(w.is_active)
            .bind(w.users.to_string())
            .bind(&w.comment)
            .bind(by)
            .bind(now_micros());
        for v in extra_values(t, w) {
            q = q.bind(v);
        }
        q = q.bind(id.to_string());
        let mut tx = self.begin_write().await?;
        let done = q.execute(&mut *tx).await.map_err(|e| {
            StoreError::conflict_or(e, format!("a {} named `{}`", t.what(), w.name))
        })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("{} {id}", t.what())));
        }
        clear_relations(&mut tx, t, id).await?;
        write_relations(&mut tx, t, id, org, w).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes an ACL with its reviewers and command group links.
    pub async fn delete_acl(&self, t: AclTable, id: Uuid) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        clear_relations(&mut tx, t, id).await?;
        let done = sqlx::query(trusted(format!("DELETE FROM {} WHERE id = $1", t.table())))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("{} {id}", t.what())));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The `(id, name)` of those of `ids` that are users, by name (reviewer validation and
    /// display).
    pub async fn user_stubs(&self, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = Vec::new();
        let list = id_list(ids, &mut args);
        let mut q = sqlx::query(trusted(format!(
            "SELECT id, name FROM users WHERE id IN ({list}) ORDER BY name, id"
        )));
        for a in &args {
            q = q.bind(a.clone());
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((get_uuid(r, "id")?, r.try_get("name")?)))
            .collect()
    }

    /// Fills `command_groups` and `reviewers` of `acls`.
    async fn attach_acl_relations(
        &self,
        t: AclTable,
        acls: &mut [AclRecord],
    ) -> Result<(), StoreError> {
        if acls.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = acls.iter().map(|a| a.id).collect();
        let mut args = vec![t.reviewer_type().to_owned()];
        let list = id_list(&ids, &mut args);
        let mut q = sqlx::query(trusted(format!(
            "SELECT r.acl_id, u.id, u.name FROM acl_reviewers r JOIN users u ON u.id = r.user_id
             WHERE r.acl_type = $1 AND r.acl_id IN ({list}) ORDER BY u.name, u.id"
        )));
        for a in &args {
            q = q.bind(a.clone());
        }
        for r in q.fetch_all(&self.pool).await? {
            let acl = get_uuid(&r, "acl_id")?;
            let user = get_uuid(&r, "id")?;
            if let Some(a) = acls.iter_mut().find(|a| a.id == acl) {
                a.reviewers.push((user, r.try_get("name")?));
            }
        }
        if t.has_groups() {
            let mut args = Vec::new();
            let list = id_list(&ids, &mut args);
            let mut q = sqlx::query(trusted(format!(
                "SELECT l.acl_id, g.id, g.name FROM command_filter_acl_groups l
                 JOIN command_groups g ON g.id = l.command_group_id
                 WHERE l.acl_id IN ({list}) ORDER BY g.name, g.id"
            )));
            for a in &args {
                q = q.bind(a.clone());
            }
            for r in q.fetch_all(&self.pool).await? {
                let acl = get_uuid(&r, "acl_id")?;
                let group = get_uuid(&r, "id")?;
                if let Some(a) = acls.iter_mut().find(|a| a.id == acl) {
                    a.command_groups.push((group, r.try_get("name")?));
                }
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Loaders for evaluation
    // -----------------------------------------------------------------------------------------

    /// Reviewer ids of every ACL of table `t`, by ACL.
    async fn reviewer_ids(&self, t: AclTable) -> Result<HashMap<Uuid, Vec<Uuid>>, StoreError> {
        let mut out: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for row in sqlx::query(
            "SELECT acl_id, user_id FROM acl_reviewers WHERE acl_type = $1 ORDER BY acl_id, user_id",
        )
        .bind(t.reviewer_type())
        .fetch_all(&self.pool)
        .await?
        {
            out.entry(get_uuid(&row, "acl_id")?)
                .or_default()
                .push(get_uuid(&row, "user_id")?);
        }
        Ok(out)
    }

    /// The active rows of `t` (of `org` for org-scoped tables), as records.
    async fn active_rows(
        &self,
        t: AclTable,
        org: Option<Uuid>,
    ) -> Result<Vec<AclRecord>, StoreError> {
        let org_filter = if org.is_some() {
            "AND a.org_id = $2"
        } else {
            ""
        };
        let mut q = sqlx::query(trusted(format!(
            "{} WHERE a.is_active = $1 {org_filter} ORDER BY a.priority, a.name, a.id",
            select_acl(t)
        )))
        .bind(true);
        if let Some(org) = org {
            q = q.bind(org.to_string());
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| acl_from_row(t, r))
            .collect()
    }

    /// The active login ACLs, for [`portcullis_core::acl::evaluate_login`]. The same rows the
    /// login endpoint evaluates ([`Store::active_login_acls`]).
    pub async fn load_login_acls(&self) -> Result<Vec<LoginAcl>, StoreError> {
        self.active_login_acls().await
    }

    /// The active asset-connect ACLs of `org` (the asset's org), for
    /// [`portcullis_core::acl::evaluate_connect`].
    pub async fn load_connect_acls(&self, org: Uuid) -> Result<Vec<ConnectAcl>, StoreError> {
        let t = AclTable::Connect;
        let mut reviewers = self.reviewer_ids(t).await?;
        self.active_rows(t, Some(org))
            .await?
            .into_iter()
            .map(|r| {
                let place = |c: &str| format!("connect_acls.{c} of {}", r.id);
                Ok(ConnectAcl {
                    id: r.id,
                    priority: priority_u8(r.priority, &place("priority"))?,
                    is_active: r.is_active,
                    action: action::<ConnectAction>(&r.action, &place("action"))?,
                    users: selector(&r.users, &place("users"))?,
                    assets: selector(&r.assets, &place("assets"))?,
                    accounts: accounts(&r.accounts, &place("accounts"))?,
                    rules: rules(&r.rules, &place("rules"))?,
                    reviewers: reviewers.remove(&r.id).unwrap_or_default(),
                    name: r.name,
                })
            })
            .collect()
    }

    /// The active connect-method ACLs, for
    /// [`portcullis_core::acl::evaluate_connect_method`].
    pub async fn load_connect_method_acls(&self) -> Result<Vec<ConnectMethodAcl>, StoreError> {
        self.active_rows(AclTable::ConnectMethod, None)
            .await?
            .into_iter()
            .map(|r| {
                let place = |c: &str| format!("connect_method_acls.{c} of {}", r.id);
                Ok(ConnectMethodAcl {
                    id: r.id,
                    priority: priority_u8(r.priority, &place("priority"))?,
                    is_active: r.is_active,
                    action: action::<ConnectMethodAction>(&r.action, &place("action"))?,
                    users: selector(&r.users, &place("users"))?,
                    connect_methods: serde_json::from_value(r.connect_methods.clone())
                        .map_err(|_| StoreError::Corrupt(place("connect_methods")))?,
                    name: r.name,
                })
            })
            .collect()
    }

    /// The active command-filter ACLs of `org` (the asset's org) and the compiled command
    /// groups they reference, for [`portcullis_core::acl::evaluate_command`]. A group that
    /// does not compile is an error, not a gap: a missing group would let its commands pass.
    pub async fn load_command_filter_acls(
        &self,
        org: Uuid,
    ) -> Result<(Vec<CommandFilterAcl>, CommandGroupSet), StoreError> {
        let t = AclTable::CommandFilter;
        let mut reviewers = self.reviewer_ids(t).await?;
        let mut links: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        let mut groups = Vec::new();
        for r in sqlx::query(
            "SELECT l.acl_id, g.id, g.name, g.type, g.content, g.ignore_case
             FROM command_filter_acl_groups l
             JOIN command_filter_acls a ON a.id = l.acl_id
             JOIN command_groups g ON g.id = l.command_group_id
             WHERE a.org_id = $1 AND a.is_active = $2 ORDER BY g.name, g.id",
        )
        .bind(org.to_string())
        .bind(true)
        .fetch_all(&self.pool)
        .await?
        {
            let gid = get_uuid(&r, "id")?;
            links.entry(get_uuid(&r, "acl_id")?).or_default().push(gid);
            let kind: String = r.try_get("type")?;
            groups.push(CommandGroup {
                id: gid,
                name: r.try_get("name")?,
                kind: action::<CommandGroupKind>(&kind, &format!("command_groups.type of {gid}"))?,
                content: r.try_get("content")?,
                ignore_case: r.try_get::<Flag, _>("ignore_case")?.0,
            });
        }
        groups.dedup_by_key(|g| g.id);
        let set = CommandGroupSet::compile(&groups)
            .map_err(|e| StoreError::Corrupt(format!("command_groups.content: {e}")))?;
        let acls = self
            .active_rows(t, Some(org))
            .await?
            .into_iter()
            .map(|r| {
                let place = |c: &str| format!("command_filter_acls.{c} of {}", r.id);
                Ok(CommandFilterAcl {
                    id: r.id,
                    priority: priority_u8(r.priority, &place("priority"))?,
                    is_active: r.is_active,
                    action: action::<CommandAction>(&r.action, &place("action"))?,
                    users: selector(&r.users, &place("users"))?,
                    assets: selector(&r.assets, &place("assets"))?,
                    accounts: accounts(&r.accounts, &place("accounts"))?,
                    command_groups: links.remove(&r.id).unwrap_or_default(),
                    reviewers: reviewers.remove(&r.id).unwrap_or_default(),
                    name: r.name,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((acls, set))
    }
}

fn accounts(v: &Value, place: &str) -> Result<AccountSelector, StoreError> {
    serde_json::from_value(v.clone()).map_err(|_| StoreError::Corrupt(place.to_owned()))
}

/// Stored rules; `{}` (the schema's default) is JumpServer's default: any address, any time.
fn rules(v: &Value, place: &str) -> Result<AclRules, StoreError> {
    serde_json::from_value(v.clone()).map_err(|_| StoreError::Corrupt(place.to_owned()))
}

fn push_search(search: &Option<String>, clauses: &mut Vec<String>, args: &mut Vec<String>) {
    if let Some(search) = search {
        for term in search.split_whitespace() {
            let p = arg(format!("%{}%", like_escape(&term.to_lowercase())), args);
            clauses.push(format!("LOWER(a.name) LIKE {p} ESCAPE '\\'"));
        }
    }
}

fn push_ids(ids: Option<&[Uuid]>, clauses: &mut Vec<String>, args: &mut Vec<String>) {
    match ids {
        None => {}
        Some([]) => clauses.push("1 = 0".into()),
        Some(ids) => {
            let list = id_list(ids, args);
            clauses.push(format!("a.id IN ({list})"));
        }
    }
}

fn where_clause(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}

/// `SELECT … FROM <table> a` with the org's name for org-scoped tables.
fn select_acl(t: AclTable) -> String {
    if t.org_scoped() {
        format!(
            "SELECT a.*, o.name AS org_name FROM {} a LEFT JOIN orgs o ON o.id = a.org_id",
            t.table()
        )
    } else {
        format!("SELECT a.* FROM {} a", t.table())
    }
}

/// The values of `t`'s extra columns, in [`AclTable::extra_columns`] order, as JSON text.
fn extra_values(t: AclTable, w: &AclWrite) -> Vec<String> {
    t.extra_columns()
        .iter()
        .map(|c| match *c {
            "assets" => w.assets.to_string(),
            "accounts" => w.accounts.to_string(),
            "rules" => w.rules.to_string(),
            _ => w.connect_methods.to_string(),
        })
        .collect()
}

async fn clear_relations(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    t: AclTable,
    id: Uuid,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM acl_reviewers WHERE acl_type = $1 AND acl_id = $2")
        .bind(t.reviewer_type())
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    if t.has_groups() {
        sqlx::query("DELETE FROM command_filter_acl_groups WHERE acl_id = $1")
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Links reviewers and (for command-filter ACLs) command groups. A group outside `org` or an
/// unknown reviewer fails the whole transaction.
async fn write_relations(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    t: AclTable,
    id: Uuid,
    org: Uuid,
    w: &AclWrite,
) -> Result<(), StoreError> {
    let mut reviewers = w.reviewers.clone();
    reviewers.sort();
    reviewers.dedup();
    for user in reviewers {
        let done = sqlx::query(
            "INSERT INTO acl_reviewers (acl_type, acl_id, user_id)
             SELECT $1, $2, id FROM users WHERE id = $3",
        )
        .bind(t.reviewer_type())
        .bind(id.to_string())
        .bind(user.to_string())
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Invalid(format!(
                "reviewer {user} is not a user"
            )));
        }
    }
    if t.has_groups() {
        let mut groups = w.command_groups.clone();
        groups.sort();
        groups.dedup();
        for group in groups {
            let done = sqlx::query(
                "INSERT INTO command_filter_acl_groups (acl_id, command_group_id)
                 SELECT $1, id FROM command_groups WHERE id = $2 AND org_id = $3",
            )
            .bind(id.to_string())
            .bind(group.to_string())
            .bind(org.to_string())
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Invalid(format!(
                    "command group {group} is not in the ACL's organization"
                )));
            }
        }
    }
    Ok(())
}

fn group_from_row(r: &AnyRow) -> Result<CommandGroupRecord, StoreError> {
    Ok(CommandGroupRecord {
        id: get_uuid(r, "id")?,
        org_id: get_uuid(r, "org_id")?,
        org_name: r
            .try_get::<Option<String>, _>("org_name")?
            .unwrap_or_default(),
        name: r.try_get("name")?,
        kind: r.try_get("type")?,
        content: r.try_get("content")?,
        ignore_case: r.try_get::<Flag, _>("ignore_case")?.0,
        comment: r.try_get("comment")?,
        created_by: r.try_get("created_by")?,
        updated_by: r.try_get("updated_by")?,
        date_created: from_micros(r.try_get("date_created")?),
        date_updated: from_micros(r.try_get("date_updated")?),
    })
}

fn acl_from_row(t: AclTable, r: &AnyRow) -> Result<AclRecord, StoreError> {
    let table = t.table();
    let col = |c: &str| -> Result<Value, StoreError> {
        if t.extra_columns().contains(&c) {
            json_col(r, c, table)
        } else {
            Ok(Value::Null)
        }
    };
    let (org_id, org_name) = if t.org_scoped() {
        (
            Some(get_uuid(r, "org_id")?),
            r.try_get::<Option<String>, _>("org_name")?
                .unwrap_or_default(),
        )
    } else {
        (None, String::new())
    };
    Ok(AclRecord {
        id: get_uuid(r, "id")?,
        org_id,
        org_name,
        name: r.try_get("name")?,
        priority: r.try_get("priority")?,
        action: r.try_get("action")?,
        is_active: r.try_get::<Flag, _>("is_active")?.0,
        users: json_col(r, "users", table)?,
        assets: col("assets")?,
        accounts: col("accounts")?,
        rules: col("rules")?,
        connect_methods: col("connect_methods")?,
        command_groups: Vec::new(),
        reviewers: Vec::new(),
        comment: r.try_get("comment")?,
        created_by: r.try_get("created_by")?,
        updated_by: r.try_get("updated_by")?,
        date_created: from_micros(r.try_get("date_created")?),
        date_updated: from_micros(r.try_get("date_updated")?),
    })
}
