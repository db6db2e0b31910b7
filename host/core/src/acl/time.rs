//! Weekly time windows (`rules.time_period`) in JumpServer's shape.
//!
//! ```json
//! [{"id": 0, "value": ""}, {"id": 1, "value": "09:00~12:00、13:30~18:00"}, …]
//! ```
//!
//! * `id` is the weekday, `0` = Sunday … `6` = Saturday.
//! * `value` lists `HH:MM~HH:MM` ranges separated by `、` (also `,` or `，`). An empty value
//!   means the whole day.
//! * A weekday that is absent from the list has no time at all: the rule never matches on that
//!   day. JumpServer always writes all seven days, so this only matters for hand-written rules,
//!   and "absent = never" is the reading that cannot widen a rule by omission.
//! * Matching is per minute and both ends are inclusive, as in JumpServer (which compares
//!   `HH:MM` strings): `09:00~17:00` covers 09:00:00 up to 17:00:59. `24:00` is accepted as an
//!   end, and an end of `00:00` also means midnight at the end of the day (JumpServer writes
//!   `00:00~00:00` for "all day").
//! * A range whose start is after its end (over midnight) is rejected; write two ranges on the
//!   two days instead.
//!
//! Evaluation takes a local `NaiveDateTime`: the caller converts "now" with the configured time
//! zone, which keeps this module free of time-zone data.

use chrono::{Datelike, NaiveDateTime, Timelike};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One entry of `time_period` as stored and sent by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimePeriodDay {
    /// Weekday, 0 = Sunday … 6 = Saturday.
    pub id: u8,
    /// `HH:MM~HH:MM` ranges separated by `、`; empty = all day.
    #[serde(default)]
    pub value: String,
}

/// A `time_period` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TimePeriodError {
    /// `id` outside 0..=6.
    #[error("invalid weekday id {0} (expected 0 = Sunday … 6 = Saturday)")]
    InvalidDay(u8),
    /// A range that is not `HH:MM~HH:MM` with start <= end.
    #[error("invalid time range {range:?} for weekday {day}: {reason}")]
    InvalidRange {
        /// The weekday id.
        day: u8,
        /// The offending range.
        range: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The allowed minutes of one weekday.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum Day {
    /// Not listed: no time on that day.
    #[default]
    Absent,
    /// Empty value: the whole day.
    Whole,
    /// Inclusive minute-of-day ranges; `end` may be 1440 (24:00).
    Ranges(Vec<(u16, u16)>),
}

/// Parsed weekly windows; see the module docs for the semantics. Serializes as the
/// `time_period` list it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<TimePeriodDay>", into = "Vec<TimePeriodDay>")]
pub struct TimeWindows {
    days: [Day; 7],
    raw: Vec<TimePeriodDay>,
}

/// Parses `HH:MM` (hour may be one digit) into minutes since midnight; 24:00 allowed.
fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn parse_day(day: u8, value: &str) -> Result<Day, TimePeriodError> {
    if value.trim().is_empty() {
        return Ok(Day::Whole);
    }
    let mut ranges = Vec::new();
    for piece in value.split(['、', ',', '，']) {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        let bad = |reason| TimePeriodError::InvalidRange {
            day,
            range: piece.to_owned(),
            reason,
        };
        let (a, b) = piece
            .split_once('~')
            .ok_or_else(|| bad("expected HH:MM~HH:MM"))?;
        let start = parse_hhmm(a).ok_or_else(|| bad("invalid start time"))?;
        let mut end = parse_hhmm(b).ok_or_else(|| bad("invalid end time"))?;
        if start == 1440 {
            return Err(bad("24:00 is only valid as an end"));
        }
        if end == 0 {
            end = 1440;
        }
        if start > end {
            return Err(bad("start is after end"));
        }
        ranges.push((start, end));
    }
    if ranges.is_empty() {
        // Only separators: treat like an empty value.
        return Ok(Day::Whole);
    }
    Ok(Day::Ranges(ranges))
}

impl TimeWindows {
    /// Parses a `time_period` list. A weekday listed twice gets the union of both entries.
    pub fn parse(days: &[TimePeriodDay]) -> Result<TimeWindows, TimePeriodError> {
        let mut out: [Day; 7] = Default::default();
        for d in days {
            let slot = out
                .get_mut(usize::from(d.id))
                .ok_or(TimePeriodError::InvalidDay(d.id))?;
            let parsed = parse_day(d.id, &d.value)?;
            *slot = match (std::mem::take(slot), parsed) {
                (Day::Whole, _) | (_, Day::Whole) => Day::Whole,
                (Day::Absent, x) | (x, Day::Absent) => x,
                (Day::Ranges(mut a), Day::Ranges(b)) => {
                    a.extend(b);
                    Day::Ranges(a)
                }
            };
        }
        Ok(TimeWindows {
            days: out,
            raw: days.to_vec(),
        })
    }

    /// Every day, all day: JumpServer's default `time_period`.
    pub fn always() -> TimeWindows {
        let raw: Vec<TimePeriodDay> = (0..7)
            .map(|id| TimePeriodDay {
                id,
                value: String::new(),
            })
            .collect();
        TimeWindows {
            days: std::array::from_fn(|_| Day::Whole),
            raw,
        }
    }

    /// The entries as given, for rendering back to the API.
    pub fn as_days(&self) -> &[TimePeriodDay] {
        &self.raw
    }

    /// Whether the local instant `at` falls inside a window.
    pub fn contains(&self, at: NaiveDateTime) -> bool {
        let weekday = at.weekday().num_days_from_sunday() as usize;
        // hour() <= 23 and minute() <= 59, so this fits in u16.
        let minute = (at.hour() * 60 + at.minute()) as u16;
        match self.days.get(weekday) {
            Some(Day::Whole) => true,
            Some(Day::Ranges(r)) => r.iter().any(|(s, e)| *s <= minute && minute <= *e),
            Some(Day::Absent) | None => false,
        }
    }
}

impl TryFrom<Vec<TimePeriodDay>> for TimeWindows {
    type Error = TimePeriodError;
    fn try_from(v: Vec<TimePeriodDay>) -> Result<Self, Self::Error> {
        TimeWindows::parse(&v)
    }
}

impl From<TimeWindows> for Vec<TimePeriodDay> {
    fn from(w: TimeWindows) -> Self {
        w.raw
    }
}

impl Default for TimeWindows {
    /// [`TimeWindows::always`], matching JumpServer's default rule.
    fn default() -> Self {
        TimeWindows::always()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use proptest::prelude::*;

    fn day(id: u8, value: &str) -> TimePeriodDay {
        TimePeriodDay {
            id,
            value: value.to_owned(),
        }
    }

    /// 2025-01-05 is a Sunday, so `weekday` 0..=6 maps to 2025-01-05 + weekday days.
    fn at(weekday: u32, h: u32, m: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2025, 1, 5 + weekday)
            .unwrap()
            .and_hms_opt(h, m, s)
            .unwrap()
    }

    #[test]
    fn windows_match_weekday_and_minutes() {
        let w = TimeWindows::parse(&[
            day(0, ""),
            day(1, "09:00~12:00、13:30~18:00"),
            day(2, "9:00~10:00,22:00~24:00"),
            day(3, "00:00~00:00"),
            day(4, "08:00~08:00"),
            day(5, "20:00~00:00"),
            // Saturday (6) absent.
        ])
        .unwrap();
        let cases = [
            (at(0, 3, 0, 0), true, "empty value = all day"),
            (at(1, 8, 59, 59), false, "before the first range"),
            (at(1, 9, 0, 0), true, "start is inclusive"),
            (at(1, 12, 0, 59), true, "end minute is inclusive"),
            (at(1, 12, 1, 0), false, "between ranges"),
            (at(1, 13, 30, 0), true, "second range"),
            (at(2, 9, 30, 0), true, "one-digit hour, comma separator"),
            (at(2, 23, 59, 59), true, "24:00 end"),
            (at(3, 12, 0, 0), true, "00:00~00:00 = all day"),
            (at(4, 8, 0, 30), true, "single-minute range"),
            (at(4, 8, 1, 0), false, "after single-minute range"),
            (at(5, 23, 59, 0), true, "end 00:00 = midnight"),
            (at(5, 19, 59, 0), false, "before 20:00"),
            (at(6, 12, 0, 0), false, "absent weekday = no time"),
        ];
        for (t, want, why) in cases {
            assert_eq!(w.contains(t), want, "{why}");
        }
    }

    #[test]
    fn always_and_empty_list() {
        assert!(TimeWindows::always().contains(at(6, 23, 59, 59)));
        assert_eq!(TimeWindows::always().as_days().len(), 7);
        let never = TimeWindows::parse(&[]).unwrap();
        for d in 0..7 {
            assert!(!never.contains(at(d, 12, 0, 0)));
        }
    }

    #[test]
    fn duplicate_days_union() {
        let w = TimeWindows::parse(&[day(1, "09:00~10:00"), day(1, "11:00~12:00")]).unwrap();
        assert!(w.contains(at(1, 9, 30, 0)) && w.contains(at(1, 11, 30, 0)));
        assert!(!w.contains(at(1, 10, 30, 0)));
        let w = TimeWindows::parse(&[day(1, "09:00~10:00"), day(1, "")]).unwrap();
        assert!(w.contains(at(1, 10, 30, 0)));
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            TimeWindows::parse(&[day(7, "")]),
            Err(TimePeriodError::InvalidDay(7))
        );
        for bad in [
            "09:00",
            "9~10",
            "25:00~26:00",
            "09:60~10:00",
            "10:00~09:00",
            "24:00~24:00",
            "09:00~24:01",
            "a:00~10:00",
            "09:0~10:00",
            "+9:00~10:00",
        ] {
            match TimeWindows::parse(&[day(2, bad)]) {
                Err(TimePeriodError::InvalidRange { day, range, .. }) => {
                    assert_eq!(day, 2);
                    assert_eq!(range, bad);
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn serde_shape() {
        let days: Vec<TimePeriodDay> =
            serde_json::from_str(r#"[{"id":1,"value":"09:00~10:00"},{"id":2}]"#).unwrap();
        assert_eq!(days, vec![day(1, "09:00~10:00"), day(2, "")]);
    }

    proptest! {
        #[test]
        fn prop_minute_inside_range_matches(
            wd in 0u32..7, a in 0u16..1440, b in 0u16..1440, x in 0u16..1440, s in 0u32..60,
        ) {
            let (lo, hi) = (a.min(b), a.max(b));
            let fmt = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
            let value = format!("{}~{}", fmt(lo), if hi == 0 { "24:00".into() } else { fmt(hi) });
            let w = TimeWindows::parse(&[day(wd as u8, &value)]).unwrap();
            let t = at(wd, u32::from(x / 60), u32::from(x % 60), s);
            let hi = if hi == 0 { 1440 } else { hi };
            prop_assert_eq!(w.contains(t), lo <= x && x <= hi);
            // Any other weekday is absent.
            let other = at((wd + 1) % 7, u32::from(x / 60), u32::from(x % 60), s);
            prop_assert!(!w.contains(other));
        }
    }
}
