//! The `users` / `assets` JSON selectors of ACLs, and the `accounts` list.
//!
//! ```json
//! {"type": "all"}
//! {"type": "ids", "ids": ["…uuid…"]}
//! {"type": "attrs", "attrs": [{"name": "username", "match": "startswith", "value": "ops-"}]}
//! ```
//!
//! A [`SelectorSpec`] is the stored/serialized form; [`Selector`] is the compiled form (regexes
//! and IP sets parsed once) that evaluation uses. Attribute rules are evaluated against any
//! [`Attributes`] implementation, typically an [`AttrMap`] the caller fills from the user or
//! asset row (`username`, `name`, `email`, `address`, `platform`, …).
//!
//! Semantics:
//! * all attribute rules must match (AND);
//! * an `attrs` selector with no rules matches nothing (JumpServer would match everything;
//!   an empty rule list is far more likely a half-written rule than an intent to cover all);
//! * a missing attribute is treated as the empty string;
//! * `value` may be a string or a list; positive operators match if any value matches, `not`
//!   matches if the attribute equals none of them;
//! * `exact`, `not`, `in` compare case-sensitively; `contains`, `startswith`, `endswith` ignore
//!   case (JumpServer maps them to Django's `i`-lookups); `regex` is as written (use `(?i)`);
//! * `ip_in` parses the attribute as an IP address and tests it against an [`IpSet`] built
//!   from the values (comma-separated strings are split); an attribute that is not an IP
//!   address (e.g. a host name) does not match.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use uuid::Uuid;

use super::ip::{IpSet, IpSetError};

/// Something a selector can be evaluated against: an id plus named string attributes.
pub trait Attributes {
    /// The object's id, for `ids` selectors.
    fn id(&self) -> Uuid;
    /// The named attribute; `None` is treated as the empty string.
    fn attr(&self, name: &str) -> Option<&str>;
}

/// A ready-made [`Attributes`]: an id and a flat string map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttrMap {
    /// Object id.
    pub id: Uuid,
    /// Attribute name to value.
    pub attrs: HashMap<String, String>,
}

impl AttrMap {
    /// An attribute map with the given id and pairs.
    pub fn new<K: Into<String>, V: Into<String>>(
        id: Uuid,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> AttrMap {
        AttrMap {
            id,
            attrs: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl Attributes for AttrMap {
    fn id(&self) -> Uuid {
        self.id
    }
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }
}

/// Attribute match operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOp {
    /// Equal to (one of) the value(s).
    Exact,
    /// Equal to none of the values.
    Not,
    /// Equal to one of the values.
    In,
    /// Contains the value, ignoring case.
    Contains,
    /// Starts with the value, ignoring case.
    Startswith,
    /// Ends with the value, ignoring case.
    Endswith,
    /// The regex finds a match.
    Regex,
    /// The attribute is an IP address in the set.
    IpIn,
}

/// One attribute rule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrRuleSpec {
    /// Attribute name.
    pub name: String,
    /// Operator.
    #[serde(rename = "match")]
    pub op: MatchOp,
    /// A string, or a list of strings (numbers and booleans are taken as their text).
    pub value: Value,
}

/// A selector as stored and sent by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SelectorSpec {
    /// Everything.
    All,
    /// Exactly these ids.
    Ids {
        /// The ids.
        #[serde(default)]
        ids: Vec<Uuid>,
    },
    /// Objects whose attributes satisfy every rule.
    Attrs {
        /// The rules.
        #[serde(default)]
        attrs: Vec<AttrRuleSpec>,
    },
}

/// Why a selector did not compile.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelectorError {
    /// A `value` that is neither a string nor a list of scalars.
    #[error("attribute rule {name:?}: value must be a string or a list of strings")]
    BadValue {
        /// The attribute name of the rule.
        name: String,
    },
    /// A regex that does not compile.
    #[error("attribute rule {name:?}: invalid regex {pattern:?}: {message}")]
    BadRegex {
        /// The attribute name of the rule.
        name: String,
        /// The pattern.
        pattern: String,
        /// The regex crate's message.
        message: String,
    },
    /// An `ip_in` value that does not parse.
    #[error("attribute rule {name:?}: {source}")]
    BadIp {
        /// The attribute name of the rule.
        name: String,
        /// The IP parse error, naming the entry.
        source: IpSetError,
    },
}

#[derive(Debug, Clone)]
enum Matcher {
    /// Exact / In: equal to one of these.
    AnyOf(Vec<String>),
    /// Not: equal to none of these.
    NoneOf(Vec<String>),
    /// Lowercased needles.
    Contains(Vec<String>),
    StartsWith(Vec<String>),
    EndsWith(Vec<String>),
    Regex(Vec<Regex>),
    IpIn(IpSet),
}

#[derive(Debug, Clone)]
struct AttrRule {
    name: String,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Compiled {
    All,
    Ids(HashSet<Uuid>),
    Attrs(Vec<AttrRule>),
}

/// A compiled selector. Serializes as its [`SelectorSpec`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "SelectorSpec", into = "SelectorSpec")]
pub struct Selector {
    spec: SelectorSpec,
    compiled: Compiled,
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

fn values(name: &str, v: &Value) -> Result<Vec<String>, SelectorError> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let bad = || SelectorError::BadValue {
        name: name.to_owned(),
    };
    match v {
        Value::Array(items) => items.iter().map(|i| scalar(i).ok_or_else(bad)).collect(),
        other => scalar(other).map(|s| vec![s]).ok_or_else(bad),
    }
}

fn compile_rule(spec: &AttrRuleSpec) -> Result<AttrRule, SelectorError> {
    let vals = values(&spec.name, &spec.value)?;
    let lower = |v: Vec<String>| v.into_iter().map(|s| s.to_lowercase()).collect();
    let matcher = match spec.op {
        MatchOp::Exact | MatchOp::In => Matcher::AnyOf(vals),
        MatchOp::Not => Matcher::NoneOf(vals),
        MatchOp::Contains => Matcher::Contains(lower(vals)),
        MatchOp::Startswith => Matcher::StartsWith(lower(vals)),
        MatchOp::Endswith => Matcher::EndsWith(lower(vals)),
        MatchOp::Regex => Matcher::Regex(
            vals.iter()
                .map(|p| {
                    RegexBuilder::new(p)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| SelectorError::BadRegex {
                            name: spec.name.clone(),
                            pattern: p.clone(),
                            message: e.to_string(),
                        })
                })
                .collect::<Result<_, _>>()?,
        ),
        MatchOp::IpIn => {
            let entries: Vec<&str> = vals
                .iter()
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            Matcher::IpIn(
                IpSet::parse(&entries).map_err(|source| SelectorError::BadIp {
                    name: spec.name.clone(),
                    source,
                })?,
            )
        }
    };
    Ok(AttrRule {
        name: spec.name.clone(),
        matcher,
    })
}

impl AttrRule {
    fn matches(&self, subject: &dyn Attributes) -> bool {
        let v = subject.attr(&self.name).unwrap_or("");
        match &self.matcher {
            Matcher::AnyOf(xs) => xs.iter().any(|x| x == v),
            Matcher::NoneOf(xs) => !xs.iter().any(|x| x == v),
            Matcher::Contains(xs) => {
                let v = v.to_lowercase();
                xs.iter().any(|x| v.contains(x.as_str()))
            }
            Matcher::StartsWith(xs) => {
                let v = v.to_lowercase();
                xs.iter().any(|x| v.starts_with(x.as_str()))
            }
            Matcher::EndsWith(xs) => {
                let v = v.to_lowercase();
                xs.iter().any(|x| v.ends_with(x.as_str()))
            }
            Matcher::Regex(rs) => rs.iter().any(|r| r.is_match(v)),
            Matcher::IpIn(set) => v.trim().parse::<IpAddr>().is_ok_and(|ip| set.contains(ip)),
        }
    }
}

impl Selector {
    /// Compiles a stored selector.
    pub fn compile(spec: &SelectorSpec) -> Result<Selector, SelectorError> {
        let compiled = match spec {
            SelectorSpec::All => Compiled::All,
            SelectorSpec::Ids { ids } => Compiled::Ids(ids.iter().copied().collect()),
            SelectorSpec::Attrs { attrs } => {
                Compiled::Attrs(attrs.iter().map(compile_rule).collect::<Result<_, _>>()?)
            }
        };
        Ok(Selector {
            spec: spec.clone(),
            compiled,
        })
    }

    /// `{"type":"all"}`.
    pub fn all() -> Selector {
        Selector {
            spec: SelectorSpec::All,
            compiled: Compiled::All,
        }
    }

    /// `{"type":"ids","ids":[…]}`.
    pub fn ids(ids: impl IntoIterator<Item = Uuid>) -> Selector {
        let ids: Vec<Uuid> = ids.into_iter().collect();
        Selector {
            compiled: Compiled::Ids(ids.iter().copied().collect()),
            spec: SelectorSpec::Ids { ids },
        }
    }

    /// The stored form, for rendering back to the API.
    pub fn spec(&self) -> &SelectorSpec {
        &self.spec
    }

    /// Whether `subject` is selected.
    pub fn matches(&self, subject: &dyn Attributes) -> bool {
        match &self.compiled {
            Compiled::All => true,
            Compiled::Ids(ids) => ids.contains(&subject.id()),
            Compiled::Attrs(rules) => !rules.is_empty() && rules.iter().all(|r| r.matches(subject)),
        }
    }
}

impl TryFrom<SelectorSpec> for Selector {
    type Error = SelectorError;
    fn try_from(spec: SelectorSpec) -> Result<Self, Self::Error> {
        Selector::compile(&spec)
    }
}

impl From<Selector> for SelectorSpec {
    fn from(s: Selector) -> SelectorSpec {
        s.spec
    }
}

/// The `accounts` list of user/asset/account ACLs: usernames, or `@ALL`.
///
/// Usernames compare exactly. An empty list selects no account, so an ACL with no accounts
/// never applies (the same "empty side selects nothing" rule as permissions).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct AccountSelector {
    all: bool,
    usernames: Vec<String>,
}

impl AccountSelector {
    /// Builds from the stored list.
    pub fn new<S: AsRef<str>>(entries: &[S]) -> AccountSelector {
        let mut all = false;
        let mut usernames = Vec::new();
        for e in entries {
            match e.as_ref() {
                "@ALL" => all = true,
                u => usernames.push(u.to_owned()),
            }
        }
        AccountSelector { all, usernames }
    }

    /// `["@ALL"]`.
    pub fn all() -> AccountSelector {
        AccountSelector {
            all: true,
            usernames: Vec::new(),
        }
    }

    /// Whether the account with this username is selected.
    pub fn matches(&self, username: &str) -> bool {
        self.all || self.usernames.iter().any(|u| u == username)
    }
}

impl From<Vec<String>> for AccountSelector {
    fn from(v: Vec<String>) -> Self {
        AccountSelector::new(&v)
    }
}

impl From<AccountSelector> for Vec<String> {
    fn from(s: AccountSelector) -> Self {
        let mut v = Vec::with_capacity(s.usernames.len() + 1);
        if s.all {
            v.push("@ALL".to_owned());
        }
        v.extend(s.usernames);
        v
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(v: Value) -> Selector {
        serde_json::from_value(v).unwrap()
    }

    fn subject(pairs: &[(&str, &str)]) -> AttrMap {
        AttrMap::new(Uuid::from_u128(1), pairs.iter().copied())
    }

    #[test]
    fn all_and_ids() {
        let s = subject(&[]);
        assert!(sel(json!({"type":"all"})).matches(&s));
        assert!(sel(json!({"type":"ids","ids":[Uuid::from_u128(1)]})).matches(&s));
        assert!(!sel(json!({"type":"ids","ids":[Uuid::from_u128(2)]})).matches(&s));
        assert!(!sel(json!({"type":"ids","ids":[]})).matches(&s));
        assert!(Selector::all().matches(&s));
        assert!(Selector::ids([Uuid::from_u128(1)]).matches(&s));
    }

    #[test]
    fn attribute_operators() {
        let s = subject(&[
            ("username", "Ops-Alice"),
            ("email", "alice@example.com"),
            ("address", "10.1.2.3"),
            ("host", "db1.example.com"),
        ]);
        let cases = [
            (
                json!({"name":"username","match":"exact","value":"Ops-Alice"}),
                true,
            ),
            (
                json!({"name":"username","match":"exact","value":"ops-alice"}),
                false,
            ),
            (
                json!({"name":"username","match":"exact","value":["x","Ops-Alice"]}),
                true,
            ),
            (json!({"name":"username","match":"not","value":"bob"}), true),
            (
                json!({"name":"username","match":"not","value":["bob","Ops-Alice"]}),
                false,
            ),
            (
                json!({"name":"username","match":"in","value":["bob","Ops-Alice"]}),
                true,
            ),
            (
                json!({"name":"username","match":"in","value":["bob"]}),
                false,
            ),
            (
                json!({"name":"email","match":"contains","value":"EXAMPLE"}),
                true,
            ),
            (
                json!({"name":"username","match":"startswith","value":"ops-"}),
                true,
            ),
            (
                json!({"name":"username","match":"startswith","value":"dev-"}),
                false,
            ),
            (
                json!({"name":"email","match":"endswith","value":".COM"}),
                true,
            ),
            (
                json!({"name":"email","match":"regex","value":"^a.*@example\\.com$"}),
                true,
            ),
            (json!({"name":"email","match":"regex","value":"^b"}), false),
            (
                json!({"name":"address","match":"ip_in","value":["10.0.0.0/8"]}),
                true,
            ),
            (
                json!({"name":"address","match":"ip_in","value":"192.168.0.0/16, 10.1.2.3"}),
                true,
            ),
            (
                json!({"name":"address","match":"ip_in","value":["192.168.0.0/16"]}),
                false,
            ),
            (json!({"name":"host","match":"ip_in","value":["*"]}), false),
            (json!({"name":"missing","match":"exact","value":""}), true),
            (json!({"name":"missing","match":"not","value":"x"}), true),
            (
                json!({"name":"missing","match":"contains","value":"x"}),
                false,
            ),
        ];
        for (rule, want) in cases {
            let s2 = sel(json!({"type":"attrs","attrs":[rule.clone()]}));
            assert_eq!(s2.matches(&s), want, "{rule}");
        }
    }

    #[test]
    fn attribute_rules_are_anded_and_empty_matches_nothing() {
        let s = subject(&[("username", "alice"), ("email", "a@x.org")]);
        let both = sel(json!({"type":"attrs","attrs":[
            {"name":"username","match":"exact","value":"alice"},
            {"name":"email","match":"endswith","value":"x.org"}]}));
        assert!(both.matches(&s));
        let one_fails = sel(json!({"type":"attrs","attrs":[
            {"name":"username","match":"exact","value":"alice"},
            {"name":"email","match":"endswith","value":"y.org"}]}));
        assert!(!one_fails.matches(&s));
        assert!(!sel(json!({"type":"attrs","attrs":[]})).matches(&s));
    }

    #[test]
    fn compile_errors() {
        let bad_re: Result<Selector, _> = serde_json::from_value(json!({"type":"attrs","attrs":[
            {"name":"username","match":"regex","value":"("}]}));
        assert!(bad_re.unwrap_err().to_string().contains("invalid regex"));
        let spec: SelectorSpec = serde_json::from_value(json!({"type":"attrs","attrs":[
            {"name":"address","match":"ip_in","value":["10.0.0.0/40"]}]}))
        .unwrap();
        match Selector::compile(&spec) {
            Err(SelectorError::BadIp { name, source }) => {
                assert_eq!(name, "address");
                assert_eq!(source.entry, "10.0.0.0/40");
            }
            other => panic!("{other:?}"),
        }
        let spec: SelectorSpec = serde_json::from_value(json!({"type":"attrs","attrs":[
            {"name":"x","match":"exact","value":{"a":1}}]}))
        .unwrap();
        assert!(matches!(
            Selector::compile(&spec),
            Err(SelectorError::BadValue { .. })
        ));
        assert!(
            serde_json::from_value::<SelectorSpec>(json!({"type":"attrs","attrs":[
            {"name":"x","match":"gte","value":"1"}]}))
            .is_err()
        );
        assert!(serde_json::from_value::<SelectorSpec>(json!({"type":"some"})).is_err());
    }

    #[test]
    fn selector_serializes_as_spec() {
        let v = json!({"type":"attrs","attrs":[{"name":"a","match":"ip_in","value":["*"]}]});
        let s = sel(v.clone());
        assert_eq!(serde_json::to_value(&s).unwrap(), v);
        assert_eq!(
            serde_json::to_value(Selector::all()).unwrap(),
            json!({"type":"all"})
        );
    }

    #[test]
    fn account_selector_usernames_or_all() {
        let s = AccountSelector::new(&["root", "admin"]);
        assert!(s.matches("root") && !s.matches("Root") && !s.matches("bob"));
        assert!(AccountSelector::new(&["@ALL"]).matches("anyone"));
        assert!(AccountSelector::all().matches(""));
        assert!(!AccountSelector::new::<&str>(&[]).matches("root"));
        let v: Vec<String> = AccountSelector::new(&["x", "@ALL"]).into();
        assert_eq!(v, ["@ALL", "x"]);
    }
}
