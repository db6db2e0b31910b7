//! The list lookups of reference §3.4 (`f__exact`, `f__in`, `f__icontains`, `f__startswith`,
//! `f__icontains_any`, `f__icontains_all`, each negated by a `!`) rendered as SQL for the large
//! lists (assets, accounts, users), so that `?name__startswith=host-0001` on 100,000 assets is
//! one indexed query instead of the API layer reading every row and filtering the JSON.
//!
//! Each list declares, per field, the SQL its serialized value comes from ([`Target`]); the
//! rendering keeps the meaning the API's generic (in-memory) path gives the lookup, where a
//! field is matched by any of its candidate strings (a related object by id or name, a list by
//! any element). Fields and operators a list does not declare stay on the generic path.

use crate::Backend;

/// A lookup operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupOp {
    /// Equal (case-sensitive).
    Exact,
    /// Equal to one of the comma-separated values.
    In,
    /// Contains, ignoring case.
    IContains,
    /// Starts with (case-sensitive).
    StartsWith,
    /// Contains any of the comma-separated values, ignoring case.
    IContainsAny,
    /// Contains all of the comma-separated values, ignoring case.
    IContainsAll,
}

/// One lookup to apply in SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlLookup {
    /// The serialized field's name.
    pub field: String,
    /// Operator.
    pub op: LookupOp,
    /// The parameter's value as given.
    pub value: String,
    /// Negated by `!`.
    pub negate: bool,
}

/// Where a field's candidate strings come from. Every string is a constant of this crate.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// Text expressions of the row; the field matches when any of them does (a related
    /// object matches by id or by name).
    Text(&'static [&'static str]),
    /// A boolean column: only `exact` and `in`, with `true/1/True` and `false/0/False`.
    Bool(&'static str),
    /// Rows of a related table: `<outer> IN (<select> AND (<any expression matches>))`,
    /// driven from the related rows (few) rather than probed per outer row (100,000).
    Related {
        /// The outer row's id column.
        outer: &'static str,
        /// `SELECT <outer id> FROM … WHERE <condition>`.
        select: &'static str,
        /// Text expressions of the related row.
        exprs: &'static [&'static str],
    },
}

/// The lookup fields of one list.
#[derive(Debug, Clone, Copy)]
pub struct Fields(pub &'static [(&'static str, Target)]);

impl Fields {
    fn target(&self, field: &str) -> Option<Target> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, t)| *t)
    }

    /// Whether this list applies `field__op` in SQL.
    pub fn supports(&self, field: &str, op: LookupOp) -> bool {
        match self.target(field) {
            Some(Target::Bool(_)) => matches!(op, LookupOp::Exact | LookupOp::In),
            Some(_) => true,
            None => false,
        }
    }
}

/// Assets (`FROM assets a … JOIN platforms p`): the fields reference §4.5 filters on.
pub const ASSET_FIELDS: Fields = Fields(&[
    ("id", Target::Text(&["a.id"])),
    ("name", Target::Text(&["a.name"])),
    ("address", Target::Text(&["a.address"])),
    ("is_active", Target::Bool("a.is_active")),
    (
        "platform",
        Target::Text(&["CAST(a.platform_id AS TEXT)", "p.name"]),
    ),
    (
        "nodes",
        Target::Related {
            outer: "a.id",
            select: "SELECT ln.asset_id FROM asset_nodes ln JOIN nodes n ON n.id = ln.node_id \
                     WHERE 1 = 1",
            exprs: &["n.id", "n.value"],
        },
    ),
    (
        "labels",
        Target::Related {
            outer: "a.id",
            select: "SELECT lr.res_id FROM labeled_resources lr JOIN labels l \
                     ON l.id = lr.label_id WHERE lr.res_type = 'assets.asset'",
            exprs: &["l.id", "l.name", "l.value"],
        },
    ),
]);

/// Accounts (`FROM accounts a JOIN assets s …`).
pub const ACCOUNT_FIELDS: Fields = Fields(&[
    ("id", Target::Text(&["a.id"])),
    ("name", Target::Text(&["a.name"])),
    ("username", Target::Text(&["a.username"])),
    ("asset", Target::Text(&["a.asset_id", "s.name"])),
    ("secret_type", Target::Text(&["a.secret_type"])),
    ("source", Target::Text(&["a.source"])),
]);

/// Users (`FROM users u`).
pub const USER_FIELDS: Fields = Fields(&[
    ("id", Target::Text(&["u.id"])),
    ("username", Target::Text(&["u.username"])),
    ("name", Target::Text(&["u.name"])),
    ("email", Target::Text(&["u.email"])),
    ("is_active", Target::Bool("u.is_active")),
    (
        "groups",
        Target::Related {
            outer: "u.id",
            select: "SELECT gm.user_id FROM user_group_members gm JOIN user_groups g \
                     ON g.id = gm.user_group_id WHERE 1 = 1",
            exprs: &["g.id", "g.name"],
        },
    ),
]);

fn terms(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Renders `lookups` as SQL conditions (ANDed by the caller), binding each value through
/// `bind`, which returns its placeholder. Lookups on fields or with operators `fields` does not
/// declare are skipped: the API applies them on its generic path.
pub fn render(
    fields: &Fields,
    lookups: &[SqlLookup],
    backend: Backend,
    bind: &mut dyn FnMut(String) -> String,
) -> Vec<String> {
    let mut out = Vec::new();
    for l in lookups {
        if !fields.supports(&l.field, l.op) {
            continue;
        }
        let Some(target) = fields.target(&l.field) else {
            continue;
        };
        let cond = match target {
            Target::Bool(col) => {
                let wanted: Vec<&str> = match l.op {
                    LookupOp::In => l.value.split(',').map(str::trim).collect(),
                    _ => vec![l.value.as_str()],
                };
                let mut any = Vec::new();
                for w in wanted {
                    match w {
                        "true" | "1" | "True" => any.push(format!("{col} = TRUE")),
                        "false" | "0" | "False" => any.push(format!("{col} = FALSE")),
                        _ => {}
                    }
                }
                if any.is_empty() {
                    "1 = 0".to_owned()
                } else {
                    format!("({})", any.join(" OR "))
                }
            }
            Target::Text(exprs) => any_expr(exprs, l, backend, bind),
            Target::Related {
                outer,
                select,
                exprs,
            } => format!(
                "{outer} IN ({select} AND {})",
                any_expr(exprs, l, backend, bind)
            ),
        };
        out.push(if l.negate {
            format!("NOT {cond}")
        } else {
            cond
        });
    }
    out
}

/// `(e1 matches OR e2 matches …)`, each expression guarded against NULL so that a negation
/// keeps rows without a value, as the generic path does.
fn any_expr(
    exprs: &[&str],
    l: &SqlLookup,
    backend: Backend,
    bind: &mut dyn FnMut(String) -> String,
) -> String {
    let parts: Vec<String> = exprs
        .iter()
        .map(|e| format!("({e} IS NOT NULL AND {})", matches(e, l, backend, bind)))
        .collect();
    format!("({})", parts.join(" OR "))
}

fn contains(e: &str, term: &str, bind: &mut dyn FnMut(String) -> String) -> String {
    let p = bind(format!(
        "%{}%",
        crate::codec::like_escape(&term.to_lowercase())
    ));
    format!("LOWER({e}) LIKE {p} ESCAPE '\\'")
}

fn matches(
    e: &str,
    l: &SqlLookup,
    backend: Backend,
    bind: &mut dyn FnMut(String) -> String,
) -> String {
    match l.op {
        LookupOp::Exact => format!("{e} = {}", bind(l.value.clone())),
        LookupOp::In => {
            // The generic path compares each comma-separated value trimmed, empty ones too.
            let list: Vec<String> = l
                .value
                .split(',')
                .map(|t| bind(t.trim().to_owned()))
                .collect();
            format!("{e} IN ({})", list.join(", "))
        }
        LookupOp::IContains => contains(e, &l.value, bind),
        LookupOp::StartsWith => match backend {
            // SQLite's LIKE ignores ASCII case; GLOB does not, and uses the column's index
            // for a literal prefix (`a.name` is indexed with the org).
            Backend::Sqlite => format!("{e} GLOB {}", bind(format!("{}*", glob_escape(&l.value)))),
            Backend::Postgres => format!(
                "{e} LIKE {} ESCAPE '\\'",
                bind(format!("{}%", crate::codec::like_escape(&l.value)))
            ),
        },
        LookupOp::IContainsAny | LookupOp::IContainsAll => {
            let ts = terms(&l.value);
            if ts.is_empty() {
                // No term: "any" matches nothing, "all" matches everything.
                return if l.op == LookupOp::IContainsAny {
                    "1 = 0".into()
                } else {
                    "1 = 1".into()
                };
            }
            let joiner = if l.op == LookupOp::IContainsAny {
                " OR "
            } else {
                " AND "
            };
            let parts: Vec<String> = ts.iter().map(|t| contains(e, t, bind)).collect();
            format!("({})", parts.join(joiner))
        }
    }
}

/// Makes `*`, `?` and `[` literal in a GLOB pattern.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '*' | '?' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(l: SqlLookup, backend: Backend) -> (Vec<String>, Vec<String>) {
        let mut args = Vec::new();
        let out = render(&ASSET_FIELDS, &[l], backend, &mut |v| {
            args.push(v);
            format!("${}", args.len())
        });
        (out, args)
    }

    fn lk(field: &str, op: LookupOp, value: &str, negate: bool) -> SqlLookup {
        SqlLookup {
            field: field.into(),
            op,
            value: value.into(),
            negate,
        }
    }

    #[test]
    fn startswith_is_case_sensitive_on_both_databases() {
        let (c, a) = sql(
            lk("name", LookupOp::StartsWith, "h*st_", false),
            Backend::Sqlite,
        );
        assert_eq!(c, ["((a.name IS NOT NULL AND a.name GLOB $1))"]);
        assert_eq!(a, ["h[*]st_*"]);
        let (c, a) = sql(
            lk("name", LookupOp::StartsWith, "h%st_", true),
            Backend::Postgres,
        );
        assert_eq!(
            c,
            ["NOT ((a.name IS NOT NULL AND a.name LIKE $1 ESCAPE '\\'))"]
        );
        assert_eq!(a, ["h\\%st\\_%"]);
    }

    #[test]
    fn booleans_and_unknown_fields() {
        let (c, _) = sql(
            lk("is_active", LookupOp::In, "1,False", false),
            Backend::Sqlite,
        );
        assert_eq!(c, ["(a.is_active = TRUE OR a.is_active = FALSE)"]);
        assert!(!ASSET_FIELDS.supports("is_active", LookupOp::IContains));
        assert!(!ASSET_FIELDS.supports("comment", LookupOp::Exact));
        let (c, _) = sql(lk("comment", LookupOp::Exact, "x", false), Backend::Sqlite);
        assert!(c.is_empty());
    }

    #[test]
    fn related_fields_match_by_id_or_name() {
        let (c, a) = sql(lk("nodes", LookupOp::In, "n1, n2", false), Backend::Sqlite);
        assert!(
            c[0].starts_with("a.id IN (SELECT ln.asset_id FROM asset_nodes"),
            "{c:?}"
        );
        assert!(c[0].contains("n.id IN ($1, $2)") && c[0].contains("n.value IN ($3, $4)"));
        assert_eq!(a, ["n1", "n2", "n1", "n2"]);
    }
}
