//! User groups, roles and role bindings, and the records of what happened: login, operation,
//! password-change and file-transfer logs, sessions and their commands.
//!
//! Every list here goes through one small query builder ([`Where`], [`Table`]) so that filters,
//! search, date ranges, org scoping and ordering behave the same on every resource, and so that
//! the only text spliced into SQL is this module's constant column names and `$n` placeholders
//! (everything else is bound). The API decides which filters a caller may use; the store maps
//! filter names to columns through per-table whitelists and refuses names it does not know.
//!
//! The log tables are append-only from the API's point of view; the `insert_*` functions are
//! for the components that produce the records (the SSH gateway, file transfers).

use crate::codec::{Flag, from_micros, like_escape, micros, now_micros, trusted, uuid};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The shared list machinery
// ---------------------------------------------------------------------------------------------

/// One filter value, already parsed by the caller (the API knows each filter's type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// Equal to this text.
    Text(String),
    /// Contains this text, case-insensitively (`__icontains`).
    Contains(String),
    /// Equal to this integer.
    Int(i64),
    /// This boolean.
    Flag(bool),
}

/// The parameters every list shares: org scope, search, exact filters, a date range, order and
/// page. Filter names are the API's field names; each list knows which it accepts.
#[derive(Debug, Clone, Default)]
pub struct ListSpec {
    /// Only rows of this org; `None` = every org (the root view). Global tables (login and
    /// password-change logs) read this as "only about members of this org".
    pub org: Option<Uuid>,
    /// Space-separated terms, each matching one of the list's search columns (ANDed).
    pub search: Option<String>,
    /// `(field, value)` filters, ANDed.
    pub filters: Vec<(&'static str, Cond)>,
    /// Inclusive lower bound on the list's date column.
    pub date_from: Option<DateTime<Utc>>,
    /// Inclusive upper bound on the list's date column.
    pub date_to: Option<DateTime<Utc>>,
    /// Field to order by, `-` for descending; `None` = the list's default.
    pub order: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

impl ListSpec {
    /// The single row with this id (detail views reuse the list's scoping).
    fn by_id(org: Option<Uuid>, id: &str) -> ListSpec {
        ListSpec {
            org,
            filters: vec![("id", Cond::Text(id.to_owned()))],
            limit: 1,
            ..ListSpec::default()
        }
    }
}

/// A bound argument: text or integer is all the schema needs through `Any`.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Int(i64),
}

/// A `WHERE` clause under construction: clauses reference `$n` placeholders, `args` holds the
/// values in placeholder order.
#[derive(Debug, Default)]
struct Where {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Where {
    fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Each term must match one of `cols` (case-insensitive substring).
    fn search(&mut self, cols: &[&'static str], text: Option<&str>) {
        let Some(text) = text else { return };
        if cols.is_empty() {
            return;
        }
        for term in text.split_whitespace() {
            let p = self.arg(Arg::Text(format!(
                "%{}%",
                like_escape(&term.to_lowercase())
            )));
            let any = cols
                .iter()
                .map(|c| format!("LOWER({c}) LIKE {p} ESCAPE '\\'"))
                .collect::<Vec<_>>()
                .join(" OR ");
            self.clauses.push(format!("({any})"));
        }
    }

    fn cond(&mut self, col: &'static str, cond: &Cond) {
        let clause = match cond {
            Cond::Text(v) => format!("{col} = {}", self.arg(Arg::Text(v.clone()))),
            Cond::Int(v) => format!("{col} = {}", self.arg(Arg::Int(*v))),
            Cond::Flag(v) => format!("{col} = {}", if *v { "TRUE" } else { "FALSE" }),
            Cond::Contains(v) => {
                let p = self.arg(Arg::Text(format!("%{}%", like_escape(&v.to_lowercase()))));
                format!("LOWER({col}) LIKE {p} ESCAPE '\\'")
            }
        };
        self.clauses.push(clause);
    }
}

/// Binds every argument of a [`Where`] to a query (works for `query` and `query_scalar`).
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// What a list needs to know about its table. Every string is a constant of this module.
struct Table {
    /// The selected columns.
    select: &'static str,
    /// `FROM` (with joins).
    from: &'static str,
    /// Filter name → column.
    fields: &'static [(&'static str, &'static str)],
    /// Columns `search` looks in.
    search: &'static [&'static str],
    /// The column `date_from` / `date_to` bound.
    date: &'static str,
    /// The org restriction, `{org}` standing for the org's placeholder.
    org: Option<&'static str>,
    /// Order name → column.
    order: &'static [(&'static str, &'static str)],
    /// The default order (a name in `order`, `-` for descending).
    default_order: &'static str,
    /// The id column, the tie-breaker that makes pages stable.
    id: &'static str,
}

impl Table {
    fn filter(&self, spec: &ListSpec) -> Result<Where, StoreError> {
        let mut w = Where::default();
        if let (Some(org), Some(template)) = (spec.org, self.org) {
            let p = w.arg(Arg::Text(org.to_string()));
            w.clauses
                .push(format!("({})", template.replace("{org}", &p)));
        }
        w.search(self.search, spec.search.as_deref());
        for (name, cond) in &spec.filters {
            let col = self
                .fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, c)| *c)
                .ok_or_else(|| StoreError::Invalid(format!("cannot filter by `{name}`")))?;
            w.cond(col, cond);
        }
        if let Some(from) = spec.date_from {
            let p = w.arg(Arg::Int(micros(from)));
            w.clauses.push(format!("{} >= {p}", self.date));
        }
        if let Some(to) = spec.date_to {
            let p = w.arg(Arg::Int(micros(to)));
            w.clauses.push(format!("{} <= {p}", self.date));
        }
        Ok(w)
    }

    fn order_by(&self, order: Option<&str>) -> Result<String, StoreError> {
        let (col, dir) =
            crate::codec::order_column(order, self.default_order, self.order, "the list")?;
        Ok(format!("{col} {dir}, {} {dir}", self.id))
    }
}

impl Store {
    /// The total count and one page of `table` under `spec`.
    async fn page(&self, table: &Table, spec: &ListSpec) -> Result<(i64, Vec<AnyRow>), StoreError> {
        let w = table.filter(spec)?;
        let order = table.order_by(spec.order.as_deref())?;
        let filter = w.sql();
        let count: i64 = bind_args!(
            sqlx::query_scalar(trusted(format!(
                "SELECT COUNT(*) FROM {} {filter}",
                table.from
            ))),
            &w.args
        )
        .fetch_one(&self.pool)
        .await?;
        let sql = format!(
            "SELECT {} FROM {} {filter} ORDER BY {order} LIMIT {} OFFSET {}",
            table.select,
            table.from,
            spec.limit.max(0),
            spec.offset.max(0)
        );
        let rows = bind_args!(sqlx::query(trusted(sql)), &w.args)
            .fetch_all(&self.pool)
            .await?;
        Ok((count, rows))
    }
}

fn get_id(r: &AnyRow, col: &str, place: &str) -> Result<Uuid, StoreError> {
    uuid(&r.try_get::<String, _>(col)?, place)
}

fn get_flag(r: &AnyRow, col: &str) -> Result<bool, StoreError> {
    Ok(r.try_get::<Flag, _>(col)?.0)
}

fn get_time(r: &AnyRow, col: &str) -> Result<DateTime<Utc>, StoreError> {
    Ok(from_micros(r.try_get(col)?))
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// User groups
// ---------------------------------------------------------------------------------------------

/// A member as a group shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// User id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Login name.
    pub username: String,
    /// A component's service account.
    pub is_service_account: bool,
}

/// A user group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGroupRecord {
    /// Id.
    pub id: Uuid,
    /// Owning org.
    pub org_id: Uuid,
    /// Its name.
    pub org_name: String,
    /// Name, unique in the org.
    pub name: String,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Last update.
    pub date_updated: DateTime<Utc>,
    /// Number of members.
    pub users_amount: i64,
    /// Members, ordered by name (filled by the detail lookup only).
    pub users: Vec<GroupMember>,
}

const GROUPS: Table = Table {
    select: "g.id, g.org_id, o.name AS org_name, g.name, g.comment, g.created_by, g.date_created, g.date_updated,
             (SELECT COUNT(*) FROM user_group_members m WHERE m.user_group_id = g.id) AS users_amount",
    from: "user_groups g JOIN orgs o ON o.id = g.org_id",
    fields: &[("id", "g.id"), ("name", "g.name"), ("org_id", "g.org_id")],
    search: &["g.name", "g.comment"],
    date: "g.date_created",
    org: Some("g.org_id = {org}"),
    order: &[
        ("name", "g.name"),
        ("date_created", "g.date_created"),
        ("date_updated", "g.date_updated"),
        ("comment", "g.comment"),
    ],
    default_order: "name",
    id: "g.id",
};

fn group_from_row(r: &AnyRow) -> Result<UserGroupRecord, StoreError> {
    Ok(UserGroupRecord {
        id: get_id(r, "id", "user_groups.id")?,
        org_id: get_id(r, "org_id", "user_groups.org_id")?,
        org_name: r.try_get("org_name")?,
        name: r.try_get("name")?,
        comment: r.try_get("comment")?,
        created_by: r.try_get("created_by")?,
        date_created: get_time(r, "date_created")?,
        date_updated: get_time(r, "date_updated")?,
        users_amount: r.try_get("users_amount")?,
        users: Vec::new(),
    })
}

/// A new user group.
#[derive(Debug, Clone)]
pub struct NewUserGroup {
    /// Owning org.
    pub org: Uuid,
    /// Name.
    pub name: String,
    /// Comment.
    pub comment: String,
    /// Initial members.
    pub users: Vec<Uuid>,
    /// Creator.
    pub created_by: String,
}

/// Changes to a group; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserGroupPatch {
    /// Name.
    pub name: Option<String>,
    /// Comment.
    pub comment: Option<String>,
    /// The complete new member list.
    pub users: Option<Vec<Uuid>>,
}

/// One membership row (`/users/users-groups-relations/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRelation {
    /// The user.
    pub user_id: Uuid,
    /// `Name(username)`.
    pub user_display: String,
    /// The group.
    pub group_id: Uuid,
    /// The group's name.
    pub group_name: String,
}

/// The message a duplicate group name gets, shared by create and rename.
fn group_conflict(e: sqlx::Error, name: &str) -> StoreError {
    StoreError::conflict_or(e, format!("a user group named `{name}`"))
}

impl Store {
    /// A page of user groups (without their members; `users_amount` counts them).
    pub async fn list_user_groups(
        &self,
        spec: &ListSpec,
    ) -> Result<(i64, Vec<UserGroupRecord>), StoreError> {
        let (count, rows) = self.page(&GROUPS, spec).await?;
        let groups = rows.iter().map(group_from_row).collect::<Result<_, _>>()?;
        Ok((count, groups))
    }

    /// One group visible in `org` (`None` = any org) by id or, when `key` is not a UUID, by
    /// name, with its members.
    pub async fn user_group(
        &self,
        org: Option<Uuid>,
        key: &str,
    ) -> Result<Option<UserGroupRecord>, StoreError> {
        let mut spec = ListSpec::by_id(org, key);
        if Uuid::parse_str(key).is_err() {
            spec.filters = vec![("name", Cond::Text(key.to_owned()))];
        }
        let (_, rows) = self.page(&GROUPS, &spec).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let mut group = group_from_row(row)?;
        let members = sqlx::query(
            "SELECT u.id, u.name, u.username, u.is_service_account
             FROM user_group_members m JOIN users u ON u.id = m.user_id
             WHERE m.user_group_id = $1 ORDER BY u.name, u.id",
        )
        .bind(group.id.to_string())
        .fetch_all(&self.pool)
        .await?;
        group.users = members
            .iter()
            .map(|r| {
                Ok(GroupMember {
                    id: get_id(r, "id", "users.id")?,
                    name: r.try_get("name")?,
                    username: r.try_get("username")?,
                    is_service_account: get_flag(r, "is_service_account")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Some(group))
    }

    /// Creates a group with its members in one transaction. A duplicate name in the org is a
    /// [`StoreError::Conflict`].
    pub async fn create_user_group(&self, new: &NewUserGroup) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let now = now_micros();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO user_groups (id, org_id, name, comment, created_by, updated_by, date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, $5, $6, $6)",
        )
        .bind(id.to_string())
        .bind(new.org.to_string())
        .bind(&new.name)
        .bind(&new.comment)
        .bind(&new.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| group_conflict(e, &new.name))?;
        insert_members(&mut tx, id, &new.users).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Applies a patch (a member list replaces the old one) in one transaction; false when the
    /// group does not exist.
    pub async fn update_user_group(
        &self,
        id: Uuid,
        patch: &UserGroupPatch,
        by: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE user_groups SET name = COALESCE($1, name), comment = COALESCE($2, comment),
                updated_by = $3, date_updated = $4
             WHERE id = $5",
        )
        .bind(patch.name.clone())
        .bind(patch.comment.clone())
        .bind(by)
        .bind(now_micros())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| group_conflict(e, patch.name.as_deref().unwrap_or_default()))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(users) = &patch.users {
            sqlx::query("DELETE FROM user_group_members WHERE user_group_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            insert_members(&mut tx, id, users).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a group (its memberships and permission links go with it); false when absent.
    pub async fn delete_user_group(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM user_groups WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Adds members to a group, keeping the ones it already has.
    pub async fn add_group_members(&self, group: Uuid, users: &[Uuid]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_members(&mut tx, group, users).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds many `(group, user)` memberships in one transaction, keeping existing ones.
    pub async fn add_group_relations(&self, pairs: &[(Uuid, Uuid)]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (group, user) in pairs {
            insert_members(&mut tx, *group, &[*user]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes the memberships matching both given conditions, among groups of `org` (`None` =
    /// any org); returns how many were removed. At least one of `group`/`user` must be given.
    pub async fn remove_group_relations(
        &self,
        org: Option<Uuid>,
        group: Option<Uuid>,
        user: Option<Uuid>,
    ) -> Result<u64, StoreError> {
        let mut w = Where::default();
        if group.is_none() && user.is_none() {
            return Err(StoreError::Invalid(
                "removing memberships needs a group or a user".into(),
            ));
        }
        if let Some(g) = group {
            let p = w.arg(Arg::Text(g.to_string()));
            w.clauses.push(format!("user_group_id = {p}"));
        }
        if let Some(u) = user {
            let p = w.arg(Arg::Text(u.to_string()));
            w.clauses.push(format!("user_id = {p}"));
        }
        if let Some(o) = org {
            let p = w.arg(Arg::Text(o.to_string()));
            w.clauses.push(format!(
                "user_group_id IN (SELECT id FROM user_groups WHERE org_id = {p})"
            ));
        }
        let sql = format!("DELETE FROM user_group_members {}", w.sql());
        let done = bind_args!(sqlx::query(trusted(sql)), &w.args)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// A page of membership rows, filtered by `usergroup` and `user` (ids).
    pub async fn list_group_relations(
        &self,
        spec: &ListSpec,
    ) -> Result<(i64, Vec<GroupRelation>), StoreError> {
        const RELATIONS: Table = Table {
            select: "m.user_id, u.name AS user_name, u.username, m.user_group_id, g.name AS group_name",
            from: "user_group_members m JOIN users u ON u.id = m.user_id JOIN user_groups g ON g.id = m.user_group_id",
            fields: &[("user", "m.user_id"), ("usergroup", "m.user_group_id")],
            search: &["u.username", "u.name", "g.name"],
            date: "g.date_created",
            org: Some("g.org_id = {org}"),
            order: &[("user", "u.username"), ("usergroup", "g.name")],
            default_order: "usergroup",
            id: "m.user_id",
        };
        let (count, rows) = self.page(&RELATIONS, spec).await?;
        let rels = rows
            .iter()
            .map(|r| {
                let name: String = r.try_get("user_name")?;
                let username: String = r.try_get("username")?;
                Ok(GroupRelation {
                    user_id: get_id(r, "user_id", "user_group_members.user_id")?,
                    user_display: format!("{name}({username})"),
                    group_id: get_id(r, "user_group_id", "user_group_members.user_group_id")?,
                    group_name: r.try_get("group_name")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((count, rels))
    }

    /// The users of `ids` that are not members of `org` (hold no org role there), so that a
    /// group never gets a member from outside its org. Unknown ids are returned too.
    pub async fn not_org_members(&self, org: Uuid, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT DISTINCT user_id FROM role_bindings WHERE org_id = $1 AND user_id IN ({})",
            placeholders(2, ids.len())
        );
        let mut q = sqlx::query_scalar::<_, String>(trusted(sql)).bind(org.to_string());
        for id in ids {
            q = q.bind(id.to_string());
        }
        let members = q.fetch_all(&self.pool).await?;
        Ok(ids
            .iter()
            .filter(|id| !members.contains(&id.to_string()))
            .copied()
            .collect())
    }

    /// Every member of `org`, ordered by id.
    pub async fn org_member_ids(&self, org: Uuid) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT user_id FROM role_bindings WHERE org_id = $1 ORDER BY user_id",
        )
        .bind(org.to_string())
        .fetch_all(&self.pool)
        .await?;
        ids.iter()
            .map(|i| uuid(i, "role_bindings.user_id"))
            .collect()
    }
}

async fn insert_members(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    group: Uuid,
    users: &[Uuid],
) -> Result<(), StoreError> {
    for u in users {
        sqlx::query(
            "INSERT INTO user_group_members (user_group_id, user_id) VALUES ($1, $2)
             ON CONFLICT (user_group_id, user_id) DO NOTHING",
        )
        .bind(group.to_string())
        .bind(u.to_string())
        .execute(&mut **tx)
        .await
        .map_err(|e| fk_or(e, format!("user {u}")))?;
    }
    Ok(())
}

/// A foreign-key violation as [`StoreError::NotFound`] naming `what`.
fn fk_or(err: sqlx::Error, what: String) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.is_foreign_key_violation()
    {
        return StoreError::NotFound(what);
    }
    StoreError::Sql(err)
}

// ---------------------------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------------------------

/// A role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    /// Id.
    pub id: Uuid,
    /// Name, unique per scope.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// `system` or `org`.
    pub scope: String,
    /// Seeded (cannot be changed or deleted).
    pub builtin: bool,
    /// Permission codename patterns.
    pub permissions: Vec<String>,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
    /// Last updater.
    pub updated_by: String,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Last update.
    pub date_updated: DateTime<Utc>,
    /// Distinct users bound to it (in the org asked for, for org roles).
    pub users_amount: i64,
}

const ROLES: Table = Table {
    select:
        "r.id, r.name, r.display_name, r.scope, r.builtin, r.permissions, r.comment, r.created_by,
             r.updated_by, r.date_created, r.date_updated",
    from: "roles r",
    fields: &[
        ("id", "r.id"),
        ("name", "r.name"),
        ("scope", "r.scope"),
        ("builtin", "r.builtin"),
    ],
    search: &["r.name", "r.display_name", "r.comment"],
    date: "r.date_created",
    org: None,
    order: &[
        ("name", "r.name"),
        ("display_name", "r.display_name"),
        ("scope", "r.scope"),
        ("builtin", "r.builtin"),
        ("date_created", "r.date_created"),
        ("date_updated", "r.date_updated"),
    ],
    // Built-ins first, as JumpServer lists them.
    default_order: "-builtin",
    id: "r.id",
};

fn role_from_row(r: &AnyRow) -> Result<RoleRecord, StoreError> {
    let id = get_id(r, "id", "roles.id")?;
    let permissions: String = r.try_get("permissions")?;
    Ok(RoleRecord {
        id,
        name: r.try_get("name")?,
        display_name: r.try_get("display_name")?,
        scope: r.try_get("scope")?,
        builtin: get_flag(r, "builtin")?,
        permissions: serde_json::from_str(&permissions)
            .map_err(|_| StoreError::Corrupt(format!("roles.permissions of {id}")))?,
        comment: r.try_get("comment")?,
        created_by: r.try_get("created_by")?,
        updated_by: r.try_get("updated_by")?,
        date_created: get_time(r, "date_created")?,
        date_updated: get_time(r, "date_updated")?,
        users_amount: 0,
    })
}

/// A new custom role.
#[derive(Debug, Clone)]
pub struct NewRole {
    /// Name, unique per scope.
    pub name: String,
    /// Display name (the name when empty).
    pub display_name: String,
    /// `system` or `org`.
    pub scope: String,
    /// Permission codename patterns.
    pub permissions: Vec<String>,
    /// Comment.
    pub comment: String,
    /// Creator.
    pub created_by: String,
}

/// Changes to a custom role; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RolePatch {
    /// Name.
    pub name: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Permission patterns (replaces the list).
    pub permissions: Option<Vec<String>>,
    /// Comment.
    pub comment: Option<String>,
}

impl Store {
    /// A page of roles. `spec.org` only scopes `users_amount` of org roles to that org.
    pub async fn list_roles(&self, spec: &ListSpec) -> Result<(i64, Vec<RoleRecord>), StoreError> {
        let unscoped = ListSpec {
            org: None,
            ..spec.clone()
        };
        let (count, rows) = self.page(&ROLES, &unscoped).await?;
        let mut roles: Vec<RoleRecord> =
            rows.iter().map(role_from_row).collect::<Result<_, _>>()?;
        self.attach_users_amount(&mut roles, spec.org).await?;
        Ok((count, roles))
    }

    /// One role by id or, when `key` is not a UUID, by name; `scope` restricts the lookup.
    pub async fn role_record(
        &self,
        key: &str,
        scope: Option<&str>,
        org: Option<Uuid>,
    ) -> Result<Option<RoleRecord>, StoreError> {
        let mut spec = ListSpec::by_id(None, key);
        if Uuid::parse_str(key).is_err() {
            spec.filters = vec![("name", Cond::Text(key.to_owned()))];
        }
        if let Some(s) = scope {
            spec.filters.push(("scope", Cond::Text(s.to_owned())));
        }
        let (_, rows) = self.page(&ROLES, &spec).await?;
        let mut roles: Vec<RoleRecord> =
            rows.iter().map(role_from_row).collect::<Result<_, _>>()?;
        self.attach_users_amount(&mut roles, org).await?;
        Ok(roles.pop())
    }

    async fn attach_users_amount(
        &self,
        roles: &mut [RoleRecord],
        org: Option<Uuid>,
    ) -> Result<(), StoreError> {
        if roles.is_empty() {
            return Ok(());
        }
        let mut w = Where::default();
        let ids = roles
            .iter()
            .map(|r| w.arg(Arg::Text(r.id.to_string())))
            .collect::<Vec<_>>()
            .join(", ");
        w.clauses.push(format!("role_id IN ({ids})"));
        if let Some(o) = org {
            let p = w.arg(Arg::Text(o.to_string()));
            w.clauses.push(format!("(org_id IS NULL OR org_id = {p})"));
        }
        let sql = format!(
            "SELECT role_id, COUNT(DISTINCT user_id) AS n FROM role_bindings {} GROUP BY role_id",
            w.sql()
        );
        for r in bind_args!(sqlx::query(trusted(sql)), &w.args)
            .fetch_all(&self.pool)
            .await?
        {
            let id = get_id(&r, "role_id", "role_bindings.role_id")?;
            let n: i64 = r.try_get("n")?;
            if let Some(role) = roles.iter_mut().find(|x| x.id == id) {
                role.users_amount = n;
            }
        }
        Ok(())
    }

    /// Creates a custom role. A duplicate name in the scope is a [`StoreError::Conflict`].
    pub async fn create_role(&self, new: &NewRole) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let now = now_micros();
        let display = if new.display_name.is_empty() {
            &new.name
        } else {
            &new.display_name
        };
        sqlx::query(
            "INSERT INTO roles (id, name, display_name, scope, builtin, permissions, comment, created_by, updated_by, date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $9)",
        )
        .bind(id.to_string())
        .bind(&new.name)
        .bind(display)
        .bind(&new.scope)
        .bind(false)
        .bind(serde_json::to_string(&new.permissions).unwrap_or_else(|_| "[]".into()))
        .bind(&new.comment)
        .bind(&new.created_by)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("a role named `{}`", new.name)))?;
        Ok(id)
    }

    /// Changes a custom role; built-in roles are never changed here (false, as for a missing
    /// role, so a caller that skipped its own check still cannot alter them).
    pub async fn update_role(&self, id: Uuid, p: &RolePatch, by: &str) -> Result<bool, StoreError> {
        let permissions = p
            .permissions
            .as_ref()
            .map(|ps| serde_json::to_string(ps).unwrap_or_else(|_| "[]".into()));
        let done = sqlx::query(
            "UPDATE roles SET name = COALESCE($1, name), display_name = COALESCE($2, display_name),
                permissions = COALESCE($3, permissions), comment = COALESCE($4, comment),
                updated_by = $5, date_updated = $6
             WHERE id = $7 AND builtin = FALSE",
        )
        .bind(p.name.clone())
        .bind(p.display_name.clone())
        .bind(permissions)
        .bind(p.comment.clone())
        .bind(by)
        .bind(now_micros())
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| {
            StoreError::conflict_or(
                e,
                format!("a role named `{}`", p.name.as_deref().unwrap_or_default()),
            )
        })?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a custom role that nobody is bound to; false when it is missing, built in or
    /// still bound (the schema would cascade to the bindings, silently taking rights away).
    pub async fn delete_role(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM roles WHERE id = $1 AND builtin = FALSE
               AND NOT EXISTS (SELECT 1 FROM role_bindings b WHERE b.role_id = $1)",
        )
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

// ---------------------------------------------------------------------------------------------
// Role bindings
// ---------------------------------------------------------------------------------------------

/// A role binding with the names the API shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRecord {
    /// Id.
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// Their display name.
    pub user_name: String,
    /// Their login name.
    pub username: String,
    /// The role.
    pub role_id: Uuid,
    /// Its name.
    pub role_name: String,
    /// Its display name.
    pub role_display: String,
    /// `system` or `org`.
    pub scope: String,
    /// The org of an org binding.
    pub org_id: Option<Uuid>,
    /// Its name.
    pub org_name: Option<String>,
    /// Creator.
    pub created_by: String,
    /// Created.
    pub date_created: DateTime<Utc>,
}

const BINDINGS: Table = Table {
    select: "b.id, b.user_id, u.name AS user_name, u.username, b.role_id, r.name AS role_name,
             r.display_name AS role_display, b.scope, b.org_id, o.name AS org_name, b.created_by, b.date_created",
    from: "role_bindings b JOIN users u ON u.id = b.user_id JOIN roles r ON r.id = b.role_id
           LEFT JOIN orgs o ON o.id = b.org_id",
    fields: &[
        ("id", "b.id"),
        ("user", "b.user_id"),
        ("user_id", "b.user_id"),
        ("role", "b.role_id"),
        ("role_id", "b.role_id"),
        ("scope", "b.scope"),
        ("org", "b.org_id"),
        ("org_id", "b.org_id"),
        ("username", "u.username"),
        ("role_name", "r.name"),
    ],
    search: &["u.username", "u.name", "r.name", "r.display_name"],
    date: "b.date_created",
    // System bindings apply in every org, so an org's view shows them next to its own.
    org: Some("b.org_id IS NULL OR b.org_id = {org}"),
    order: &[
        ("user", "u.username"),
        ("role", "r.name"),
        ("scope", "b.scope"),
        ("date_created", "b.date_created"),
    ],
    default_order: "user",
    id: "b.id",
};

fn binding_from_row(r: &AnyRow) -> Result<BindingRecord, StoreError> {
    let org: Option<String> = r.try_get("org_id")?;
    Ok(BindingRecord {
        id: get_id(r, "id", "role_bindings.id")?,
        user_id: get_id(r, "user_id", "role_bindings.user_id")?,
        user_name: r.try_get("user_name")?,
        username: r.try_get("username")?,
        role_id: get_id(r, "role_id", "role_bindings.role_id")?,
        role_name: r.try_get("role_name")?,
        role_display: r.try_get("role_display")?,
        scope: r.try_get("scope")?,
        org_id: org.map(|o| uuid(&o, "role_bindings.org_id")).transpose()?,
        org_name: r.try_get("org_name")?,
        created_by: r.try_get("created_by")?,
        date_created: get_time(r, "date_created")?,
    })
}

impl Store {
    /// A page of role bindings.
    pub async fn list_role_bindings(
        &self,
        spec: &ListSpec,
    ) -> Result<(i64, Vec<BindingRecord>), StoreError> {
        let (count, rows) = self.page(&BINDINGS, spec).await?;
        let out = rows
            .iter()
            .map(binding_from_row)
            .collect::<Result<_, _>>()?;
        Ok((count, out))
    }

    /// One binding visible in `org` (`None` = any).
    pub async fn role_binding(
        &self,
        org: Option<Uuid>,
        id: Uuid,
    ) -> Result<Option<BindingRecord>, StoreError> {
        let (_, rows) = self
            .page(&BINDINGS, &ListSpec::by_id(org, &id.to_string()))
            .await?;
        rows.first().map(binding_from_row).transpose()
    }

    /// Binds `role` to `user`: a system binding when `org` is `None`, else in `org`. The role's
    /// scope must match (the schema enforces it); the same user, role and org twice is a
    /// [`StoreError::Conflict`]; an unknown user or role is [`StoreError::NotFound`].
    pub async fn create_role_binding(
        &self,
        user: Uuid,
        role: Uuid,
        org: Option<Uuid>,
        created_by: &str,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let scope = if org.is_some() { "org" } else { "system" };
        sqlx::query(
            "INSERT INTO role_bindings (id, user_id, role_id, scope, org_id, created_by, date_created, date_updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(id.to_string())
        .bind(user.to_string())
        .bind(role.to_string())
        .bind(scope)
        .bind(org.map(|o| o.to_string()))
        .bind(created_by)
        .bind(now_micros())
        .execute(&self.pool)
        .await
        .map_err(|e| match fk_or(e, format!("user {user} or role {role}")) {
            StoreError::Sql(e) => StoreError::conflict_or(e, "that role binding"),
            other => other,
        })?;
        Ok(id)
    }

    /// Deletes a binding; false when absent.
    pub async fn delete_role_binding(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM role_bindings WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many bindings a role has (all orgs), e.g. to keep the last SystemAdmin.
    pub async fn role_binding_count(&self, role: Uuid) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM role_bindings WHERE role_id = $1")
                .bind(role.to_string())
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Login, operation, password-change and file-transfer logs
// ---------------------------------------------------------------------------------------------

/// A `login_logs` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLogRecord {
    /// Id.
    pub id: Uuid,
    /// Login name as typed.
    pub username: String,
    /// `W`, `T` or `U`.
    pub login_type: String,
    /// Client address.
    pub ip: String,
    /// City of the address.
    pub city: String,
    /// User agent.
    pub user_agent: String,
    /// 0, 1 or 2.
    pub mfa: i64,
    /// Failure code (`''` on success).
    pub reason: String,
    /// Authentication backend.
    pub backend: String,
    /// Succeeded.
    pub status: bool,
    /// When.
    pub datetime: DateTime<Utc>,
}

const LOGIN_LOGS: Table = Table {
    select: "id, username, type, ip, city, user_agent, mfa, reason, backend, status, datetime",
    from: "login_logs",
    fields: &[
        ("id", "id"),
        ("username", "username"),
        ("ip", "ip"),
        ("type", "type"),
        ("mfa", "mfa"),
        ("status", "status"),
        ("backend", "backend"),
        ("reason", "reason"),
        ("city", "city"),
    ],
    search: &["username", "ip", "city", "user_agent"],
    date: "datetime",
    // Login logs are global; an org sees the logins of its members.
    org: Some(
        "username IN (SELECT u.username FROM users u WHERE u.id IN (SELECT mb.user_id FROM role_bindings mb WHERE mb.org_id = {org}))",
    ),
    order: &[
        ("datetime", "datetime"),
        ("username", "username"),
        ("ip", "ip"),
        ("status", "status"),
        ("type", "type"),
    ],
    default_order: "-datetime",
    id: "id",
};

/// An `operate_logs` row.
#[derive(Debug, Clone, PartialEq)]
pub struct OperateLogRecord {
    /// Id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// Its name.
    pub org_name: String,
    /// `Name(username)` of the actor.
    pub user: String,
    /// `create`, `update`, …
    pub action: String,
    /// Resource type (`User`, `UserGroup`, …).
    pub resource_type: String,
    /// Resource display name.
    pub resource: String,
    /// Resource id.
    pub resource_id: String,
    /// Client address.
    pub remote_addr: String,
    /// When.
    pub datetime: DateTime<Utc>,
    /// `{field: [before, after]}`, or `{"after": …}` / `{"before": …}` for creates and deletes.
    pub diff: Value,
}

const OPERATE_LOGS: Table = Table {
    select:
        "l.id, l.org_id, o.name AS org_name, l.user_display, l.action, l.resource_type, l.resource,
             l.resource_id, l.remote_addr, l.datetime, l.diff",
    from: "operate_logs l JOIN orgs o ON o.id = l.org_id",
    fields: &[
        ("id", "l.id"),
        ("user", "l.user_display"),
        ("action", "l.action"),
        ("resource_type", "l.resource_type"),
        ("resource", "l.resource"),
        ("resource_id", "l.resource_id"),
        ("remote_addr", "l.remote_addr"),
    ],
    search: &["l.resource", "l.user_display"],
    date: "l.datetime",
    org: Some("l.org_id = {org}"),
    order: &[
        ("datetime", "l.datetime"),
        ("user", "l.user_display"),
        ("action", "l.action"),
        ("resource_type", "l.resource_type"),
        ("resource", "l.resource"),
    ],
    default_order: "-datetime",
    id: "l.id",
};

/// A `password_change_logs` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordChangeLogRecord {
    /// Id.
    pub id: Uuid,
    /// The user whose password changed.
    pub user: String,
    /// Who changed it.
    pub change_by: String,
    /// Client address.
    pub remote_addr: String,
    /// When.
    pub datetime: DateTime<Utc>,
}

const PASSWORD_CHANGE_LOGS: Table = Table {
    select: "id, user_display, change_by, remote_addr, datetime",
    from: "password_change_logs",
    fields: &[
        ("id", "id"),
        ("user", "user_display"),
        ("change_by", "change_by"),
        ("remote_addr", "remote_addr"),
    ],
    search: &["user_display", "change_by", "remote_addr"],
    date: "datetime",
    // The log keeps a display string; an org sees rows naming its members either way.
    org: Some(
        "user_display IN (SELECT u.username FROM users u WHERE u.id IN (SELECT mb.user_id FROM role_bindings mb WHERE mb.org_id = {org}))
         OR user_display IN (SELECT u.name || '(' || u.username || ')' FROM users u WHERE u.id IN (SELECT mb.user_id FROM role_bindings mb WHERE mb.org_id = {org}))",
    ),
    order: &[
        ("datetime", "datetime"),
        ("user", "user_display"),
        ("change_by", "change_by"),
    ],
    default_order: "-datetime",
    id: "id",
};

/// An `ftp_logs` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpLogRecord {
    /// Id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// Its name.
    pub org_name: String,
    /// `Name(username)`.
    pub user: String,
    /// Client address.
    pub remote_addr: String,
    /// Asset display string.
    pub asset: String,
    /// Account display string.
    pub account: String,
    /// `upload`, `download`, …
    pub operate: String,
    /// Path.
    pub filename: String,
    /// Bytes, when known.
    pub size: Option<i64>,
    /// Succeeded.
    pub is_success: bool,
    /// A copy of the file is kept.
    pub has_file: bool,
    /// The session it happened in.
    pub session_id: Option<String>,
    /// SHA-256 (hex) of the transferred content; `''` when not known.
    pub sha256: String,
    /// When.
    pub date_start: DateTime<Utc>,
}

const FTP_LOGS: Table = Table {
    select: "f.id, f.org_id, o.name AS org_name, f.user_display, f.remote_addr, f.asset, f.account,
             f.operate, f.filename, f.size, f.is_success, f.has_file, f.session_id, f.sha256, f.date_start",
    from: "ftp_logs f JOIN orgs o ON o.id = f.org_id",
    fields: &[
        ("id", "f.id"),
        ("user", "f.user_display"),
        ("asset", "f.asset"),
        ("account", "f.account"),
        ("operate", "f.operate"),
        ("filename", "f.filename"),
        ("is_success", "f.is_success"),
        ("session", "f.session_id"),
        ("remote_addr", "f.remote_addr"),
    ],
    search: &["f.user_display", "f.asset", "f.account", "f.filename"],
    date: "f.date_start",
    org: Some("f.org_id = {org}"),
    order: &[
        ("date_start", "f.date_start"),
        ("user", "f.user_display"),
        ("asset", "f.asset"),
        ("operate", "f.operate"),
        ("filename", "f.filename"),
    ],
    default_order: "-date_start",
    id: "f.id",
};

impl Store {
    /// A page of the login log.
    pub async fn list_login_logs(
        &self,
        spec: &ListSpec,
    ) -> Result<(i64, Vec<LoginLogRecord>), StoreError> {
        let (count, rows) = self.page(&LOGIN_LOGS, spec).await?;
        let out = rows
            .iter()
            .map(|r| {
                Ok(LoginLogRecord {
                    id: get_id(r, "id", "login_logs.id")?,
                    username: r.try_get("username")?,
                    login_type: r.try_get("type")?,
                    ip: r.try_get("ip")?,
                    city: r.try_get("city")?,
                    user_agent: r.try_get("user_agent")?,
                    mfa: r.try_get("mfa")?,
                    reason: r.try_get("reason")?,
                    backend: r.try_get("backend")?,
                    status: get_flag(r, "status")?,
                    datetime: get_time(r, "datetime")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((count, out))
    }

    /// A page of the operation log (with diffs; the API leaves them out of lists).
    pub async fn list_operate_logs(
        &self,
        spec: &ListSpec,
    ) -> Result<(i64, Vec<OperateLogRecord>), StoreError> {
        let (count, rows) = self.page(&OPERATE_LOGS, spec).await?;
        let out = rows
            .iter()
            .map(|r| {
                let id = get_id(r, "id", "operate_logs.id")?;
                let diff: String = r.try_get("diff")?;
                Ok(OperateLogRecord {
                    id,
                    org_id: get_id(r, "org_id", "operate_logs.org_id")?,
                    org_name: r.try_get("org_name")?,
                    user: r.try_get("user_display")?,
                    action: r.try_get("action")?,
                    resource_type: r.try_get("resource_type")?,
                    resource: r.try_get("resource")?,
                    resource_id: r.try_get("resource_id")?,
                    remote_addr: r.try_get("remote_addr")?,
                    datetime: get_time(r, "datetime")?,
                    diff: serde_json::from_str(&diff)
                        .map_err(|_| StoreError::Corrupt(format!("operate_logs.diff of {id}")))?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((count, out))
    }

    /// One operation-log entry visible in `org`.
    pub async fn operate_log_entry(
        &self,
        org: Option<Uuid>,
        id: Uuid,
    ) -> Result<Option<OperateLogRecord>, StoreError> {
        let (_, mut rows) = self
            .list_operate_logs(&ListSpec::by_id(org, &id.to_string()))
            .await?;
        Ok(rows.pop())
    }

    /// A page of the password-change log.
    pub async fn list_password_change_logs(
        &self,
        spec: &ListSpec,
    ) -> Result<(i64, Vec<PasswordChangeLogRecord>), StoreError> {
        let (count, rows) = self.page(&PASSWORD_CHANGE_LOGS, spec).await?;
        let out = rows
            .iter()
            .map(|r| {
                Ok(PasswordChangeLogRecord {
                    id: get_id(r, "id", "password_change_logs.id")?,
                    user: r.try_get("user_display")?,
                    change_by: r.try_get("change_by")?,
                    remote_addr: r.try_get("remote_addr")?,
                    datetime: get_time(r, "datetime")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((count, out))
    }

    /// A page of the file-transfer log.
    pub async fn list_ftp_logs(
        &self,
        spec: &ListSpec,
    ) -> Result<(i64, Vec<FtpLogRecord>), StoreError> {
        let (count, rows) = self.page(&FTP_LOGS, spec).await?;
        let out = rows
            .iter()
            .map(|r| {
                Ok(FtpLogRecord {
                    id: get_id(r, "id", "ftp_logs.id")?,
                    org_id: get_id(r, "org_id", "ftp_logs.org_id")?,
                    org_name: r.try_get("org_name")?,
                    user: r.try_get("user_display")?,
                    remote_addr: r.try_get("remote_addr")?,
                    asset: r.try_get("asset")?,
                    account: r.try_get("account")?,
                    operate: r.try_get("operate")?,
                    filename: r.try_get("filename")?,
                    size: r.try_get("size")?,
                    is_success: get_flag(r, "is_success")?,
                    has_file: get_flag(r, "has_file")?,
                    sha256: r.try_get("sha256")?,
                    session_id: r.try_get("session_id")?,
                    date_start: get_time(r, "date_start")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((count, out))
    }

    /// Appends a password change to its log (the gateway's and other components' entry point;
    /// `reset_password` writes its own row in its transaction).
    pub async fn insert_password_change_log(
        &self,
        user: &str,
        change_by: &str,
        remote_addr: &str,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO password_change_logs (id, user_display, change_by, remote_addr, datetime)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.to_string())
        .bind(user)
        .bind(change_by)
        .bind(remote_addr)
        .bind(now_micros())
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Appends a file transfer to its log.
    pub async fn insert_ftp_log(&self, f: &NewFtpLog) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO ftp_logs (id, org_id, user_display, remote_addr, asset, account, operate, filename,
                size, is_success, has_file, session_id, date_start, sha256)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(id.to_string())
        .bind(f.org.to_string())
        .bind(&f.user)
        .bind(&f.remote_addr)
        .bind(&f.asset)
        .bind(&f.account)
        .bind(&f.operate)
        .bind(&f.filename)
        .bind(f.size)
        .bind(f.is_success)
        .bind(f.has_file)
        .bind(f.session_id.map(|s| s.to_string()))
        .bind(micros(f.date_start))
        .bind(&f.sha256)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }
}

/// A file transfer to log.
#[derive(Debug, Clone)]
pub struct NewFtpLog {
    /// Org of the asset.
    pub org: Uuid,
    /// `Name(username)`.
    pub user: String,
    /// Client address.
    pub remote_addr: String,
    /// Asset display string.
    pub asset: String,
    /// Account display string.
    pub account: String,
    /// `upload`, `download`, `mkdir`, … (the schema refuses anything else).
    pub operate: String,
    /// Path.
    pub filename: String,
    /// Bytes, when known.
    pub size: Option<i64>,
    /// Succeeded.
    pub is_success: bool,
    /// A copy of the file is kept.
    pub has_file: bool,
    /// The session.
    pub session_id: Option<Uuid>,
    /// SHA-256 (hex) of the transferred content; `''` when not known.
    pub sha256: String,
    /// When.
    pub date_start: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------------
// Sessions and commands
// ---------------------------------------------------------------------------------------------

/// A `sessions` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Id.
    pub id: Uuid,
    /// Org of the asset.
    pub org_id: Uuid,
    /// Its name.
    pub org_name: String,
    /// `Name(username)`.
    pub user: String,
    /// User id (kept after the user is gone).
    pub user_id: String,
    /// Asset display string.
    pub asset: String,
    /// Asset id.
    pub asset_id: String,
    /// Account display string.
    pub account: String,
    /// Account id.
    pub account_id: Option<String>,
    /// `ssh`, `sftp`, …
    pub protocol: String,
    /// `normal`, `tunnel`, `command`, `sftp`.
    pub session_type: String,
    /// `ST`, `RT`, `WT`, `DT`, `VT`.
    pub login_from: String,
    /// Client address.
    pub remote_addr: String,
    /// Connected successfully.
    pub is_success: bool,
    /// Over.
    pub is_finished: bool,
    /// A replay exists.
    pub has_replay: bool,
    /// Commands were recorded.
    pub has_command: bool,
    /// Locked by an administrator.
    pub is_locked: bool,
    /// Start.
    pub date_start: DateTime<Utc>,
    /// End (`None` while running).
    pub date_end: Option<DateTime<Utc>>,
    /// Why it failed (`''` when it did not).
    pub error_reason: String,
    /// Replay bytes.
    pub replay_size: i64,
    /// Commands recorded.
    pub command_amount: i64,
    /// The component id (`''` for the built-in gateway).
    pub terminal: String,
    /// Comment.
    pub comment: String,
    /// Why it ended (`normal`, `idle_disconnect`, `admin_terminate`, …; `''` while online).
    pub end_reason: String,
}

const SESSIONS: Table = Table {
    select: "s.id, s.org_id, o.name AS org_name, s.user_display, s.user_id, s.asset, s.asset_id, s.account,
             s.account_id, s.protocol, s.type, s.login_from, s.remote_addr, s.is_success, s.is_finished,
             s.has_replay, s.has_command, s.is_locked, s.date_start, s.date_end, s.error_reason,
             s.replay_size, s.command_amount, s.terminal, s.comment, s.end_reason",
    from: "sessions s JOIN orgs o ON o.id = s.org_id",
    fields: &[
        ("id", "s.id"),
        ("user", "s.user_display"),
        ("user_id", "s.user_id"),
        ("asset", "s.asset"),
        ("asset_id", "s.asset_id"),
        ("account", "s.account"),
        ("account_id", "s.account_id"),
        ("protocol", "s.protocol"),
        ("type", "s.type"),
        ("login_from", "s.login_from"),
        ("remote_addr", "s.remote_addr"),
        ("terminal", "s.terminal"),
        ("is_finished", "s.is_finished"),
        ("is_success", "s.is_success"),
        ("has_replay", "s.has_replay"),
    ],
    search: &[
        "s.user_display",
        "s.asset",
        "s.account",
        "s.remote_addr",
        "s.protocol",
    ],
    date: "s.date_start",
    org: Some("s.org_id = {org}"),
    order: &[
        ("date_start", "s.date_start"),
        ("date_end", "s.date_end"),
        ("user", "s.user_display"),
        ("asset", "s.asset"),
        ("account", "s.account"),
        ("protocol", "s.protocol"),
        ("remote_addr", "s.remote_addr"),
        ("command_amount", "s.command_amount"),
    ],
    default_order: "-date_start",
    id: "s.id",
};

fn session_from_row(r: &AnyRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: get_id(r, "id", "sessions.id")?,
        org_id: get_id(r, "org_id", "sessions.org_id")?,
        org_name: r.try_get("org_name")?,
        user: r.try_get("user_display")?,
        user_id: r.try_get("user_id")?,
        asset: r.try_get("asset")?,
        asset_id: r.try_get("asset_id")?,
        account: r.try_get("account")?,
        account_id: r.try_get("account_id")?,
        protocol: r.try_get("protocol")?,
        session_type: r.try_get("type")?,
        login_from: r.try_get("login_from")?,
        remote_addr: r.try_get("remote_addr")?,
        is_success: get_flag(r, "is_success")?,
        is_finished: get_flag(r, "is_finished")?,
        has_replay: get_flag(r, "has_replay")?,
        has_command: get_flag(r, "has_command")?,
        is_locked: get_flag(r, "is_locked")?,
        date_start: get_time(r, "date_start")?,
        date_end: r.try_get::<Option<i64>, _>("date_end")?.map(from_micros),
        error_reason: r.try_get("error_reason")?,
        replay_size: r.try_get("replay_size")?,
        command_amount: r.try_get("command_amount")?,
        terminal: r.try_get("terminal")?,
        end_reason: r.try_get("end_reason")?,
        comment: r.try_get("comment")?,
    })
}

/// A command recorded in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRecord {
    /// Id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// `Name(username)`.
    pub user: String,
    /// Asset display string.
    pub asset: String,
    /// Account display string.
    pub account: String,
    /// What was typed.
    pub input: String,
    /// The start of what came back.
    pub output: String,
    /// 0 accept, 4 warning, 5 reject, 6–8 review outcomes.
    pub risk_level: i64,
    /// When.
    pub timestamp: DateTime<Utc>,
    /// Client address.
    pub remote_addr: String,
}

const COMMANDS: Table = Table {
    select: "id, org_id, session_id, user_display, asset, account, input, output, risk_level, timestamp, remote_addr",
    from: "commands",
    fields: &[
        ("id", "id"),
        ("session_id", "session_id"),
        ("user", "user_display"),
        ("asset", "asset"),
        ("account", "account"),
        ("input", "input"),
        ("risk_level", "risk_level"),
        ("remote_addr", "remote_addr"),
    ],
    search: &["input", "user_display", "asset", "account"],
    date: "timestamp",
    org: Some("org_id = {org}"),
    order: &[("timestamp", "timestamp"), ("risk_level", "risk_level")],
    default_order: "-timestamp",
    id: "id",
};

/// A session to record (the gateway calls this when a connection starts).
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Id (components choose it, as JumpServer's do).
    pub id: Uuid,
    /// Org of the asset.
    pub org: Uuid,
    /// `Name(username)`.
    pub user: String,
    /// User id.
    pub user_id: Uuid,
    /// Asset display string.
    pub asset: String,
    /// Asset id.
    pub asset_id: Uuid,
    /// Account display string.
    pub account: String,
    /// Account id.
    pub account_id: Option<Uuid>,
    /// Protocol.
    pub protocol: String,
    /// `normal`, `tunnel`, `command`, `sftp`.
    pub session_type: String,
    /// `ST`, `RT`, `WT`, `DT`, `VT`.
    pub login_from: String,
    /// Client address.
    pub remote_addr: String,
    /// Start.
    pub date_start: DateTime<Utc>,
    /// Component id (`''` for the built-in gateway).
    pub terminal: String,
    /// Connection token used, if any.
    pub token_id: Option<Uuid>,
}

/// How a session ended.
#[derive(Debug, Clone, Default)]
pub struct SessionEnd {
    /// End.
    pub date_end: DateTime<Utc>,
    /// Whether connecting succeeded.
    pub is_success: bool,
    /// `''` or one of the schema's error reasons.
    pub error_reason: String,
    /// Replay bytes (0 = no replay).
    pub replay_size: i64,
    /// Where the replay is stored.
    pub replay_path: String,
}

/// A command to record.
#[derive(Debug, Clone)]
pub struct NewCommand {
    /// Org.
    pub org: Uuid,
    /// The session (must exist).
    pub session_id: Uuid,
    /// `Name(username)`.
    pub user: String,
    /// Asset display string.
    pub asset: String,
    /// Account display string.
    pub account: String,
    /// What was typed.
    pub input: String,
    /// The start of the output.
    pub output: String,
    /// 0, 4, 5, 6, 7 or 8.
    pub risk_level: i64,
    /// When.
    pub timestamp: DateTime<Utc>,
    /// Client address.
    pub remote_addr: String,
}

impl Store {
    /// A page of sessions.
    pub async fn list_sessions(
        &self,
        spec: &ListSpec,
    ) -> Result<(i64, Vec<SessionRecord>), StoreError> {
        let (count, rows) = self.page(&SESSIONS, spec).await?;
        let out = rows
            .iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()?;
        Ok((count, out))
    }

    /// One session visible in `org`.
    pub async fn session_record(
        &self,
        org: Option<Uuid>,
        id: Uuid,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let (_, rows) = self
            .page(&SESSIONS, &ListSpec::by_id(org, &id.to_string()))
            .await?;
        rows.first().map(session_from_row).transpose()
    }

    /// A page of commands.
    pub async fn list_commands(
        &self,
        spec: &ListSpec,
    ) -> Result<(i64, Vec<CommandRecord>), StoreError> {
        let (count, rows) = self.page(&COMMANDS, spec).await?;
        let out = rows
            .iter()
            .map(|r| {
                Ok(CommandRecord {
                    id: get_id(r, "id", "commands.id")?,
                    org_id: get_id(r, "org_id", "commands.org_id")?,
                    session_id: get_id(r, "session_id", "commands.session_id")?,
                    user: r.try_get("user_display")?,
                    asset: r.try_get("asset")?,
                    account: r.try_get("account")?,
                    input: r.try_get("input")?,
                    output: r.try_get("output")?,
                    risk_level: r.try_get("risk_level")?,
                    timestamp: get_time(r, "timestamp")?,
                    remote_addr: r.try_get("remote_addr")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((count, out))
    }

    /// Records a session that started.
    pub async fn insert_session(&self, s: &NewSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, org_id, user_display, user_id, asset, asset_id, account, account_id,
                protocol, type, login_from, remote_addr, date_start, terminal, token_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(s.id.to_string())
        .bind(s.org.to_string())
        .bind(&s.user)
        .bind(s.user_id.to_string())
        .bind(&s.asset)
        .bind(s.asset_id.to_string())
        .bind(&s.account)
        .bind(s.account_id.map(|a| a.to_string()))
        .bind(&s.protocol)
        .bind(&s.session_type)
        .bind(&s.login_from)
        .bind(&s.remote_addr)
        .bind(micros(s.date_start))
        .bind(&s.terminal)
        .bind(s.token_id.map(|t| t.to_string()))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("session {}", s.id)))?;
        Ok(())
    }

    /// Marks a session finished; false when it does not exist.
    pub async fn finish_session(&self, id: Uuid, end: &SessionEnd) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET is_finished = TRUE, date_end = $1, is_success = $2, error_reason = $3,
                has_replay = $4, replay_size = $5, replay_path = $6
             WHERE id = $7",
        )
        .bind(micros(end.date_end))
        .bind(end.is_success)
        .bind(&end.error_reason)
        .bind(end.replay_size > 0)
        .bind(end.replay_size)
        .bind(&end.replay_path)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores why a session ended (the lifecycle reason code).
    pub async fn set_session_end_reason(&self, id: Uuid, reason: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET end_reason = $1 WHERE id = $2")
            .bind(reason)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Points a live session at its recording (written as the session starts, so that the
    /// replay of a session cut short by a crash is still found).
    pub async fn set_session_replay_path(&self, id: Uuid, path: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET replay_path = $1 WHERE id = $2")
            .bind(path)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Closes the sessions a gateway left online when its process stopped without ending them
    /// (killed, crashed): they end now with reason `gateway_restart`. Their recordings stay
    /// as far as they were flushed; `replay_path` was set at start, so they remain playable.
    /// Returns how many were closed.
    pub async fn close_orphan_sessions(&self, terminal: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET is_finished = TRUE, date_end = $1, end_reason = 'gateway_restart',
                has_replay = (replay_path <> '')
             WHERE terminal = $2 AND is_finished = FALSE",
        )
        .bind(now_micros())
        .bind(terminal)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Appends a lifecycle event (`asset_connect_success`, `user_join_session`, …) to a session.
    pub async fn insert_session_lifecycle_log(
        &self,
        session: Uuid,
        event: &str,
        reason: &str,
        user: &str,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO session_lifecycle_logs (id, session_id, event, reason, user_display, datetime)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.to_string())
        .bind(session.to_string())
        .bind(event)
        .bind(reason)
        .bind(user)
        .bind(now_micros())
        .execute(&self.pool)
        .await
        .map_err(|e| fk_or(e, format!("session {session}")))?;
        Ok(id)
    }

    /// Records a command and counts it on its session, in one transaction so the session's
    /// `command_amount` always equals its rows.
    pub async fn insert_command(&self, c: &NewCommand) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO commands (id, org_id, session_id, user_display, asset, account, input, output,
                risk_level, timestamp, remote_addr)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(id.to_string())
        .bind(c.org.to_string())
        .bind(c.session_id.to_string())
        .bind(&c.user)
        .bind(&c.asset)
        .bind(&c.account)
        .bind(&c.input)
        .bind(&c.output)
        .bind(c.risk_level)
        .bind(micros(c.timestamp))
        .bind(&c.remote_addr)
        .execute(&mut *tx)
        .await
        .map_err(|e| fk_or(e, format!("session {}", c.session_id)))?;
        sqlx::query(
            "UPDATE sessions SET command_amount = command_amount + 1, has_command = TRUE WHERE id = $1",
        )
        .bind(c.session_id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_use_placeholders_and_whitelisted_columns_only() {
        let spec = ListSpec {
            org: Some(Uuid::nil()),
            search: Some("a%b c".into()),
            filters: vec![
                ("user", Cond::Text("x' OR 1=1".into())),
                ("is_finished", Cond::Flag(true)),
            ],
            date_from: Some(Utc::now()),
            ..ListSpec::default()
        };
        let w = SESSIONS.filter(&spec).unwrap();
        let sql = w.sql();
        assert!(!sql.contains("OR 1=1"), "{sql}");
        assert!(sql.contains("s.org_id = $1"), "{sql}");
        assert!(sql.contains("s.is_finished = TRUE"), "{sql}");
        assert_eq!(w.args.len(), 5, "org, two search terms, user, date");
        let bad = ListSpec {
            filters: vec![("password", Cond::Text("x".into()))],
            ..ListSpec::default()
        };
        assert!(SESSIONS.filter(&bad).is_err());
        assert!(SESSIONS.order_by(Some("-date_start")).is_ok());
        assert!(SESSIONS.order_by(Some("secret; DROP")).is_err());
    }
}
