//! Materialized-path keys of the asset node tree.
//!
//! JumpServer stores a node's position as a key such as `1:3:2`: the org root is a single
//! number (the Default org's root is `1`) and each child appends `:<n>`. Keeping the same shape
//! lets the store answer "everything under this node" with one range scan, and lets the engine
//! walk ancestors by cutting the string at `:` without loading the tree.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A key that is not digits separated by single colons.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid node key {key:?}: {reason}")]
pub struct InvalidNodeKey {
    /// The rejected input.
    pub key: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A validated node key: one or more decimal segments joined by `:`, without leading zeros.
///
/// Leading zeros are refused so that two different strings never denote the same position;
/// that keeps `Eq` (string equality) consistent with `Ord` (numeric per segment).
///
/// `Ord` compares segment by segment numerically, so `1:9` < `1:10`, and a node sorts before
/// all of its descendants (pre-order), which is the order tree views want.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeKey(String);

impl NodeKey {
    /// Validates `key`. Each segment must be `0` or digits not starting with `0`.
    pub fn parse(key: &str) -> Result<NodeKey, InvalidNodeKey> {
        let bad = |reason| InvalidNodeKey {
            key: key.to_owned(),
            reason,
        };
        if key.is_empty() {
            return Err(bad("empty key"));
        }
        for seg in key.split(':') {
            if seg.is_empty() {
                return Err(bad("empty segment"));
            }
            if !seg.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("segments must be decimal digits"));
            }
            if seg.len() > 1 && seg.starts_with('0') {
                return Err(bad("segments must not have leading zeros"));
            }
        }
        Ok(NodeKey(key.to_owned()))
    }

    /// The key of an org root, e.g. `NodeKey::root(1)` is the Default org's root `1`.
    pub fn root(n: u64) -> NodeKey {
        NodeKey(n.to_string())
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments, root first.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split(':')
    }

    /// Number of segments: 1 for an org root.
    pub fn depth(&self) -> usize {
        self.0.bytes().filter(|b| *b == b':').count() + 1
    }

    /// Whether this is an org root (a single segment).
    pub fn is_root(&self) -> bool {
        !self.0.contains(':')
    }

    /// The parent's key; `None` for an org root.
    pub fn parent(&self) -> Option<NodeKey> {
        self.0.rfind(':').map(|i| NodeKey(self.0[..i].to_owned()))
    }

    /// The key of child number `n` of this node.
    pub fn child(&self, n: u64) -> NodeKey {
        NodeKey(format!("{}:{n}", self.0))
    }

    /// Strict ancestry: `1` is an ancestor of `1:3` and `1:3:2`, not of `1`, `13` or `2:1`.
    pub fn is_ancestor_of(&self, other: &NodeKey) -> bool {
        other.0.len() > self.0.len()
            && other.0.starts_with(&self.0)
            && other.0.as_bytes().get(self.0.len()) == Some(&b':')
    }

    /// `self == other || self.is_ancestor_of(other)`: "other is in this subtree".
    pub fn is_self_or_ancestor_of(&self, other: &NodeKey) -> bool {
        self == other || self.is_ancestor_of(other)
    }

    /// The ancestors' keys as string slices of this key, nearest (parent) first.
    ///
    /// Slices, not new keys, so walking the ancestors of 100,000 assets allocates nothing.
    pub fn ancestor_strs(&self) -> impl Iterator<Item = &str> {
        let s = self.0.as_str();
        s.char_indices()
            .rev()
            .filter(|(_, c)| *c == ':')
            .map(move |(i, _)| &s[..i])
    }

    /// This key followed by its ancestors, nearest first, as string slices.
    pub fn self_and_ancestor_strs(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.0.as_str()).chain(self.ancestor_strs())
    }

    /// Half-open string bounds `[K + ":", K + ";")` that contain exactly the strict
    /// descendants of `K`.
    ///
    /// `;` is the byte right after `:`, and every descendant key is `K:` followed by digits and
    /// colons (all bytes below `;`), so a byte-wise comparison puts exactly the descendants in
    /// the range. The store uses it as `key >= lo AND key < hi`; that is only correct under
    /// byte-wise ("C" / binary) collation — SQLite's default `BINARY`, or `COLLATE "C"` on
    /// PostgreSQL. A locale collation may ignore punctuation and return wrong rows.
    pub fn descendant_range(&self) -> (String, String) {
        (format!("{}:", self.0), format!("{};", self.0))
    }
}

/// Compares two keys given as validated strings, numerically per segment.
fn cmp_key_strs(a: &str, b: &str) -> Ordering {
    let mut xs = a.split(':');
    let mut ys = b.split(':');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                // No leading zeros, so a longer digit string is a larger number; equal lengths
                // compare lexically. This never overflows, whatever the segment size.
                let o = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

impl Ord for NodeKey {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_key_strs(&self.0, &other.0)
    }
}

impl PartialOrd for NodeKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for NodeKey {
    type Err = InvalidNodeKey;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeKey::parse(s)
    }
}

impl TryFrom<String> for NodeKey {
    type Error = InvalidNodeKey;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        NodeKey::parse(&s)
    }
}

impl From<NodeKey> for String {
    fn from(k: NodeKey) -> String {
        k.0
    }
}

impl AsRef<str> for NodeKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn k(s: &str) -> NodeKey {
        NodeKey::parse(s).unwrap()
    }

    #[test]
    fn parse_accepts_digit_segments_and_rejects_the_rest() {
        for ok in [
            "1",
            "0",
            "1:0",
            "1:3:2",
            "12:345:6789",
            "18446744073709551616:1",
        ] {
            assert!(NodeKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", ":", "1:", ":1", "1::2", "a", "1:b", "1:-2", "1: 2", "01", "1:02", "1;2",
        ] {
            assert!(NodeKey::parse(bad).is_err(), "{bad:?}");
        }
        let err = NodeKey::parse("1:x").unwrap_err();
        assert_eq!(err.key, "1:x");
    }

    #[test]
    fn parent_child_depth_root() {
        assert_eq!(k("1:3:2").parent(), Some(k("1:3")));
        assert_eq!(k("1").parent(), None);
        assert_eq!(k("1:3").child(10), k("1:3:10"));
        assert_eq!(k("1").depth(), 1);
        assert_eq!(k("1:3:2").depth(), 3);
        assert!(k("7").is_root());
        assert!(!k("7:1").is_root());
        assert_eq!(NodeKey::root(1), k("1"));
    }

    #[test]
    fn ancestry_is_by_whole_segments() {
        let cases = [
            ("1", "1:3", true),
            ("1", "1:3:2", true),
            ("1:3", "1:3:2", true),
            ("1", "1", false),
            ("1", "13", false),
            ("1", "13:1", false),
            ("1:3", "1:30", false),
            ("1:3", "1", false),
            ("2", "1:2", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(k(a).is_ancestor_of(&k(b)), want, "{a} anc {b}");
        }
        assert!(k("1").is_self_or_ancestor_of(&k("1")));
        assert!(!k("1:2").is_self_or_ancestor_of(&k("1")));
    }

    #[test]
    fn ancestor_strs_nearest_first() {
        assert_eq!(k("1:3:2").ancestor_strs().collect::<Vec<_>>(), ["1:3", "1"]);
        assert_eq!(
            k("1:3:2").self_and_ancestor_strs().collect::<Vec<_>>(),
            ["1:3:2", "1:3", "1"]
        );
        assert_eq!(k("1").ancestor_strs().count(), 0);
    }

    #[test]
    fn ordering_is_numeric_per_segment_and_preorder() {
        let mut keys = [
            k("1:10"),
            k("2"),
            k("1:9:1"),
            k("1"),
            k("1:9"),
            k("1:10:0"),
            k("10"),
        ];
        keys.sort();
        let got: Vec<_> = keys.iter().map(NodeKey::as_str).collect();
        assert_eq!(got, ["1", "1:9", "1:9:1", "1:10", "1:10:0", "2", "10"]);
    }

    #[test]
    fn descendant_range_bounds() {
        assert_eq!(
            k("1:3").descendant_range(),
            ("1:3:".to_owned(), "1:3;".to_owned())
        );
    }

    #[test]
    fn serde_roundtrip_validates() {
        let json = serde_json::to_string(&k("1:2")).unwrap();
        assert_eq!(json, "\"1:2\"");
        assert_eq!(serde_json::from_str::<NodeKey>(&json).unwrap(), k("1:2"));
        assert!(serde_json::from_str::<NodeKey>("\"1::2\"").is_err());
    }

    fn key_strategy() -> impl Strategy<Value = NodeKey> {
        prop::collection::vec(0u64..40, 1..6).prop_map(|segs| {
            NodeKey::parse(
                &segs
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(":"),
            )
            .unwrap()
        })
    }

    proptest! {
        #[test]
        fn prop_descendant_range_matches_is_ancestor_of(a in key_strategy(), b in key_strategy()) {
            let (lo, hi) = a.descendant_range();
            let in_range = b.as_str() >= lo.as_str() && b.as_str() < hi.as_str();
            prop_assert_eq!(in_range, a.is_ancestor_of(&b));
        }

        #[test]
        fn prop_parent_is_ancestor_and_child_inverts_parent(a in key_strategy(), n in 0u64..1000) {
            let c = a.child(n);
            prop_assert_eq!(c.parent(), Some(a.clone()));
            prop_assert!(a.is_ancestor_of(&c));
            prop_assert_eq!(c.depth(), a.depth() + 1);
            if let Some(p) = a.parent() {
                prop_assert!(p.is_ancestor_of(&a));
            }
        }

        #[test]
        fn prop_order_matches_numeric_segments(a in key_strategy(), b in key_strategy()) {
            let na: Vec<u64> = a.segments().map(|s| s.parse().unwrap()).collect();
            let nb: Vec<u64> = b.segments().map(|s| s.parse().unwrap()).collect();
            prop_assert_eq!(a.cmp(&b), na.cmp(&nb));
            if a.is_ancestor_of(&b) {
                prop_assert!(a < b);
            }
        }

        #[test]
        fn prop_ancestor_strs_are_exactly_the_ancestors(a in key_strategy(), b in key_strategy()) {
            let listed = b.ancestor_strs().any(|s| s == a.as_str());
            prop_assert_eq!(listed, a.is_ancestor_of(&b));
        }
    }
}
