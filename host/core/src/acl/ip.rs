//! IP address sets as ACL rules write them (`rules.ip_group`, `ip_in` selectors).
//!
//! Entries are single addresses, CIDR blocks, inclusive ranges `a-b` (IPv4 or IPv6), or `*`.
//! Parsing happens once when the ACL is loaded so that a typo is reported with the offending
//! entry instead of silently never matching.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// An entry of an IP list that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid IP entry {entry:?}: {reason}")]
pub struct IpSetError {
    /// The rejected entry, as given.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// One parsed entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Any,
    Addr(IpAddr),
    Net(IpNet),
    /// Inclusive, same family, `start <= end`.
    Range(IpAddr, IpAddr),
}

/// A parsed list of IP entries.
///
/// An empty set contains nothing (JumpServer's behaviour for an empty `ip_group`); write
/// `*` to match every address. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`), as a
/// dual-stack listener reports IPv4 clients, are matched as the IPv4 address, and mapped
/// addresses in single or range entries are stored as IPv4.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct IpSet {
    entries: Vec<Entry>,
    raw: Vec<String>,
}

/// Maps an IPv4-mapped IPv6 address to IPv4; other addresses are returned unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn parse_entry(raw: &str) -> Result<Entry, IpSetError> {
    let bad = |reason| IpSetError {
        entry: raw.to_owned(),
        reason,
    };
    let s = raw.trim();
    if s.is_empty() {
        return Err(bad("empty entry"));
    }
    if s == "*" {
        return Ok(Entry::Any);
    }
    if s.contains('/') {
        return s
            .parse::<IpNet>()
            .map(|n| Entry::Net(n.trunc()))
            .map_err(|_| bad("not a CIDR block"));
    }
    if let Some((a, b)) = s.split_once('-') {
        let start: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| bad("range start is not an IP address"))?;
        let end: IpAddr = b
            .trim()
            .parse()
            .map_err(|_| bad("range end is not an IP address"))?;
        let (start, end) = (canonical(start), canonical(end));
        if start.is_ipv4() != end.is_ipv4() {
            return Err(bad("range mixes IPv4 and IPv6"));
        }
        if start > end {
            return Err(bad("range start is after its end"));
        }
        return Ok(Entry::Range(start, end));
    }
    s.parse::<IpAddr>()
        .map(|ip| Entry::Addr(canonical(ip)))
        .map_err(|_| bad("not an IP address, CIDR block, range or *"))
}

impl IpSet {
    /// Parses `entries`, failing on the first bad one.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<IpSet, IpSetError> {
        let parsed = entries
            .iter()
            .map(|e| parse_entry(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IpSet {
            entries: parsed,
            raw: entries.iter().map(|e| e.as_ref().to_owned()).collect(),
        })
    }

    /// The set `["*"]`: every address. JumpServer's default `ip_group`.
    pub fn any() -> IpSet {
        IpSet {
            entries: vec![Entry::Any],
            raw: vec!["*".to_owned()],
        }
    }

    /// The entries as given, for rendering back to the API.
    pub fn as_strings(&self) -> &[String] {
        &self.raw
    }

    /// Whether the set has no entries (and so contains nothing).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `ip` is in the set.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let canon = canonical(ip);
        self.entries.iter().any(|e| match *e {
            Entry::Any => true,
            Entry::Addr(a) => a == canon,
            Entry::Net(n) => n.contains(&canon) || n.contains(&ip) || mapped_v4_in(n, canon),
            Entry::Range(lo, hi) => lo.is_ipv4() == canon.is_ipv4() && lo <= canon && canon <= hi,
        })
    }
}

/// Whether an IPv6 CIDR written over the mapped space (`::ffff:10.0.0.0/104`) contains the
/// IPv4 address `ip`.
fn mapped_v4_in(net: IpNet, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpNet::V6(n), IpAddr::V4(v4)) => n.contains(&v4.to_ipv6_mapped()),
        _ => false,
    }
}

impl TryFrom<Vec<String>> for IpSet {
    type Error = IpSetError;
    fn try_from(v: Vec<String>) -> Result<Self, Self::Error> {
        IpSet::parse(&v)
    }
}

impl From<IpSet> for Vec<String> {
    fn from(s: IpSet) -> Self {
        s.raw
    }
}

impl fmt::Display for IpSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw.join(","))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn contains_by_entry_kind() {
        let set = IpSet::parse(&[
            "10.0.0.1",
            "192.168.1.0/24",
            "172.16.0.5-172.16.0.9",
            "2001:db8::/32",
            "fe80::1-fe80::ff",
            " 8.8.8.8 ",
        ])
        .unwrap();
        let cases = [
            ("10.0.0.1", true),
            ("10.0.0.2", false),
            ("192.168.1.0", true),
            ("192.168.1.255", true),
            ("192.168.2.1", false),
            ("172.16.0.5", true),
            ("172.16.0.9", true),
            ("172.16.0.10", false),
            ("172.16.0.4", false),
            ("2001:db8::1", true),
            ("2001:db9::1", false),
            ("fe80::80", true),
            ("fe80::100", false),
            ("8.8.8.8", true),
            ("::ffff:10.0.0.1", true),
            ("::ffff:192.168.1.7", true),
            ("::ffff:172.16.0.7", true),
            ("::ffff:10.0.0.2", false),
        ];
        for (addr, want) in cases {
            assert_eq!(set.contains(ip(addr)), want, "{addr}");
        }
    }

    #[test]
    fn star_matches_everything_and_empty_matches_nothing() {
        let any = IpSet::parse(&["*"]).unwrap();
        assert!(any.contains(ip("1.2.3.4")) && any.contains(ip("::1")));
        assert_eq!(any, IpSet::any());
        let none = IpSet::parse::<&str>(&[]).unwrap();
        assert!(none.is_empty());
        assert!(!none.contains(ip("1.2.3.4")));
    }

    #[test]
    fn mapped_entries_match_plain_ipv4_clients() {
        let set = IpSet::parse(&["::ffff:10.0.0.1", "::ffff:10.1.0.0/112"]).unwrap();
        assert!(set.contains(ip("10.0.0.1")));
        assert!(set.contains(ip("10.1.0.9")));
        assert!(!set.contains(ip("10.2.0.9")));
    }

    #[test]
    fn parse_errors_name_the_bad_entry() {
        let cases = [
            ("10.0.0.256", "not an IP address, CIDR block, range or *"),
            ("10.0.0.0/33", "not a CIDR block"),
            ("10.0.0.9-10.0.0.1", "range start is after its end"),
            ("10.0.0.1-::1", "range mixes IPv4 and IPv6"),
            ("10.0.0.1-x", "range end is not an IP address"),
            ("example.com", "not an IP address, CIDR block, range or *"),
            ("", "empty entry"),
        ];
        for (entry, reason) in cases {
            let err = IpSet::parse(&["10.0.0.1", entry]).unwrap_err();
            assert_eq!(err.entry, entry);
            assert_eq!(err.reason, reason, "{entry}");
            assert!(err.to_string().contains(entry));
        }
    }

    #[test]
    fn serde_as_string_list() {
        let set: IpSet = serde_json::from_str(r#"["10.0.0.0/8","*"]"#).unwrap();
        assert!(set.contains(ip("1.1.1.1")));
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#"["10.0.0.0/8","*"]"#
        );
        assert!(serde_json::from_str::<IpSet>(r#"["nope"]"#).is_err());
    }

    #[test]
    fn renders_back_as_given() {
        let set = IpSet::parse(&["10.0.0.0/8", "*"]).unwrap();
        assert_eq!(set.as_strings(), ["10.0.0.0/8", "*"]);
        assert_eq!(set.to_string(), "10.0.0.0/8,*");
    }

    proptest! {
        #[test]
        fn prop_ip_inside_cidr_is_contained(base in any::<u32>(), prefix in 0u8..=32, off in any::<u32>()) {
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
            let net = base & mask;
            let inside = net | (off & !mask);
            let set = IpSet::parse(&[format!("{}/{prefix}", Ipv4Addr::from(net))]).unwrap();
            prop_assert!(set.contains(IpAddr::V4(Ipv4Addr::from(inside))));
            prop_assert!(set.contains(IpAddr::V6(Ipv4Addr::from(inside).to_ipv6_mapped())));
            if prefix > 0 {
                let outside = inside ^ (1 << (32 - prefix));
                prop_assert!(!set.contains(IpAddr::V4(Ipv4Addr::from(outside))));
            }
        }

        #[test]
        fn prop_ipv6_cidr_contains_its_addresses(base in any::<u128>(), prefix in 0u8..=128, off in any::<u128>()) {
            let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
            let net = base & mask;
            let inside = net | (off & !mask);
            let set = IpSet::parse(&[format!("{}/{prefix}", Ipv6Addr::from(net))]).unwrap();
            prop_assert!(set.contains(IpAddr::V6(Ipv6Addr::from(inside))));
        }

        #[test]
        fn prop_range_contains_exactly_between(a in any::<u32>(), b in any::<u32>(), x in any::<u32>()) {
            let (lo, hi) = (a.min(b), a.max(b));
            let set = IpSet::parse(&[format!("{}-{}", Ipv4Addr::from(lo), Ipv4Addr::from(hi))]).unwrap();
            prop_assert_eq!(set.contains(IpAddr::V4(Ipv4Addr::from(x))), lo <= x && x <= hi);
            prop_assert!(set.contains(IpAddr::V4(Ipv4Addr::from(lo))));
            prop_assert!(set.contains(IpAddr::V4(Ipv4Addr::from(hi))));
        }

        #[test]
        fn prop_single_address_contains_only_itself(a in any::<u32>(), x in any::<u32>()) {
            let set = IpSet::parse(&[Ipv4Addr::from(a).to_string()]).unwrap();
            prop_assert_eq!(set.contains(IpAddr::V4(Ipv4Addr::from(x))), a == x);
        }
    }
}
