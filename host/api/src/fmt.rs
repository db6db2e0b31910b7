//! The value formats of JumpServer's API (reference §1.3): datetimes, choice objects and
//! related-object stubs. Every resource serializer uses these so the whole API agrees.

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

/// `2025/01/31 10:20:30 +0800`, in the server's time zone.
pub fn datetime(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Offset, Timelike};
    use std::fmt::Write;
    let local = t.with_timezone(&Local);
    let offset = local.offset().fix().local_minus_utc();
    // Written field by field: list pages format two or more instants per row, and chrono's
    // `format` parses its pattern each time. Years outside 0..=9999, offsets with seconds and
    // leap seconds keep chrono's own spelling.
    if !(0..=9999).contains(&local.year())
        || offset % 60 != 0
        || local.nanosecond() >= 1_000_000_000
    {
        return local.format("%Y/%m/%d %H:%M:%S %z").to_string();
    }
    let (sign, minutes) = if offset < 0 {
        ('-', -offset / 60)
    } else {
        ('+', offset / 60)
    };
    let mut out = String::with_capacity(25);
    let _ = write!(
        out,
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        minutes / 60,
        minutes % 60
    );
    out
}

/// An optional datetime as JSON (`null` when absent).
pub fn opt_datetime(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(datetime(t)))
}

/// Parses the datetime forms clients send: the output format, `YYYY-MM-DD HH:MM:SS +ZZZZ`,
/// RFC 3339, and local `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD`.
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    for f in ["%Y/%m/%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S %z"] {
        if let Ok(d) = DateTime::<FixedOffset>::parse_from_str(t, f) {
            return Some(d.with_timezone(&Utc));
        }
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y/%m/%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, f) {
            return Local
                .from_local_datetime(&n)
                .earliest()
                .map(|d| d.with_timezone(&Utc));
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|n| Local.from_local_datetime(&n).earliest())
        .map(|d| d.with_timezone(&Utc))
}

/// A choice object `{"value", "label"}`.
pub fn choice(value: impl Into<Value>, label: &str) -> Value {
    json!({"value": value.into(), "label": label})
}

/// A related-object stub `{"id", "name"}`.
pub fn stub(id: Uuid, name: &str) -> Value {
    json!({"id": id, "name": name})
}

/// The value of a choice field on input: the raw value, `{"value": …}`, or `"Label(value)"`.
pub fn choice_input(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(
            s.rsplit_once('(')
                .and_then(|(_, rest)| rest.strip_suffix(')'))
                .unwrap_or(s)
                .to_owned(),
        ),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(m) => m.get("value").and_then(choice_input),
        _ => None,
    }
}

/// The id of a related object on input: a bare id, `{"id": …}` or `{"pk": …}`.
pub fn related_input(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(m) => m.get("id").or_else(|| m.get("pk")).and_then(related_input),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_spells_instants_as_chrono_does() {
        for micros in [
            0_i64,
            1_738_290_030_123_456,
            4_102_444_799_999_999,
            -86_400_000_000,
        ] {
            let t = DateTime::from_timestamp_micros(micros).unwrap();
            let want = t
                .with_timezone(&Local)
                .format("%Y/%m/%d %H:%M:%S %z")
                .to_string();
            assert_eq!(datetime(t), want);
        }
    }

    #[test]
    fn datetimes_round_trip_through_every_accepted_form() {
        let t = Utc.with_ymd_and_hms(2025, 1, 31, 2, 20, 30).unwrap();
        assert_eq!(parse_datetime(&datetime(t)), Some(t));
        assert_eq!(parse_datetime("2025/01/31 10:20:30 +0800"), Some(t));
        assert_eq!(parse_datetime("2025-01-31 10:20:30 +0800"), Some(t));
        assert_eq!(parse_datetime("2025-01-31T02:20:30Z"), Some(t));
        assert!(parse_datetime("2025-01-31").is_some());
        assert_eq!(parse_datetime("yesterday"), None);
        assert!(datetime(t).contains('/') && datetime(t).len() == 25);
    }

    #[test]
    fn choice_and_related_inputs_accept_every_documented_shape() {
        assert_eq!(choice_input(&json!("host")).as_deref(), Some("host"));
        assert_eq!(
            choice_input(&json!({"value": "host"})).as_deref(),
            Some("host")
        );
        assert_eq!(choice_input(&json!("Host(host)")).as_deref(), Some("host"));
        assert_eq!(related_input(&json!({"pk": 3})).as_deref(), Some("3"));
        assert_eq!(related_input(&json!({"id": "x"})).as_deref(), Some("x"));
        assert_eq!(related_input(&json!(null)), None);
    }
}
