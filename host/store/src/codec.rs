//! Value conventions shared by every query, so both databases read and write the same way.
//!
//! * ids are TEXT holding a lowercase hyphenated UUID;
//! * instants are BIGINT microseconds since the Unix epoch, UTC;
//! * JSON documents are TEXT;
//! * booleans are BOOLEAN on PostgreSQL and INTEGER 0/1 on SQLite (sqlx's `Any` driver cannot
//!   read SQLite's BOOLEAN declared type), read through [`Flag`].

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{Any, AnyValueRef};
use sqlx::decode::Decode;
use sqlx::error::BoxDynError;
use sqlx::types::Type;
use uuid::Uuid;

/// Microseconds since the epoch for an instant.
pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The instant for stored microseconds.
pub fn from_micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Now, as stored.
pub fn now_micros() -> i64 {
    micros(Utc::now())
}

/// Parses a stored id.
pub fn uuid(text: &str, place: &str) -> Result<Uuid, crate::StoreError> {
    Uuid::parse_str(text).map_err(|_| crate::StoreError::Corrupt(format!("{place}: `{text}`")))
}

/// A boolean column, whichever way the database stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl Type<Any> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <bool as Type<Any>>::type_info()
    }

    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        <bool as Type<Any>>::compatible(ty) || <i64 as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for Flag {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        match <bool as Decode<Any>>::decode(value.clone()) {
            Ok(b) => Ok(Flag(b)),
            Err(_) => <i64 as Decode<Any>>::decode(value).map(|i| Flag(i != 0)),
        }
    }
}

impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0
    }
}

/// Marks SQL assembled at run time as safe. Only for text built from constant fragments,
/// placeholder lists (`$1, $2, …`) and this crate's own table and column names — never from
/// input. Every dynamic statement goes through here so that they are easy to audit.
pub(crate) fn trusted(sql: impl Into<String>) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.into())
}

/// Escapes `%`, `_` and the backslash so user input matches literally inside a `LIKE … ESCAPE`
/// pattern.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Resolves a list's `order` parameter (`name` or `-name`) against the fields a resource may be
/// ordered by, given as (API field, SQL column): the column and `ASC`/`DESC`. Unknown fields are
/// refused, so the SQL never receives a name from input.
pub(crate) fn order_column<'a>(
    order: Option<&str>,
    default: &str,
    allowed: &'a [(&str, &str)],
    what: &str,
) -> Result<(&'a str, &'static str), crate::StoreError> {
    let order = order.unwrap_or(default);
    let (field, dir) = match order.strip_prefix('-') {
        Some(f) => (f, "DESC"),
        None => (order, "ASC"),
    };
    allowed
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, c)| (*c, dir))
        .ok_or_else(|| crate::StoreError::Invalid(format!("cannot order {what} by `{field}`")))
}
