//! Entries of an asset permission's `accounts` list.
//!
//! JumpServer encodes several kinds of account selection in one list of strings; parsing them
//! into an enum once means the engine never string-matches `@`-words in its hot loop, and the
//! API can reject a typo such as `@AL` when the permission is written instead of silently
//! granting nothing.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;
use uuid::Uuid;

/// One parsed entry of `AssetPermission::accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountSpec {
    /// `@ALL`: every active account on the asset.
    All,
    /// `@SPEC`: marker saying "the listed usernames follow"; grants nothing by itself.
    Spec,
    /// A plain username: the asset's accounts with exactly that username.
    Username(String),
    /// `%<template id>`: the asset's accounts created from that account template.
    Template(Uuid),
    /// `!<username>`: remove accounts with that username from this permission's grant.
    Exclude(String),
    /// `@INPUT`: the user types the username (and secret) when connecting.
    Input,
    /// `@USER`: log in with the Portcullis user's own username.
    User,
    /// `@ANON`: anonymous login; only meaningful for `web` and `custom` assets.
    Anon,
}

/// Why an `accounts` entry could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccountSpecError {
    /// An `@`-word that is not one of the known virtual accounts.
    #[error("unknown account selector {0:?}")]
    UnknownAlias(String),
    /// `%` followed by something that is not a UUID.
    #[error("invalid account template id in {0:?}")]
    InvalidTemplate(String),
    /// An empty entry, or a bare `!`.
    #[error("empty account selector {0:?}")]
    Empty(String),
}

impl AccountSpec {
    /// Parses one entry. Surrounding whitespace is not trimmed: usernames are compared
    /// exactly, as JumpServer does, and a stray space is better reported than guessed at.
    pub fn parse(entry: &str) -> Result<AccountSpec, AccountSpecError> {
        if let Some(word) = entry.strip_prefix('@') {
            return match word {
                "ALL" => Ok(AccountSpec::All),
                "SPEC" => Ok(AccountSpec::Spec),
                "INPUT" => Ok(AccountSpec::Input),
                "USER" => Ok(AccountSpec::User),
                "ANON" => Ok(AccountSpec::Anon),
                _ => Err(AccountSpecError::UnknownAlias(entry.to_owned())),
            };
        }
        if let Some(id) = entry.strip_prefix('%') {
            return Uuid::parse_str(id)
                .map(AccountSpec::Template)
                .map_err(|_| AccountSpecError::InvalidTemplate(entry.to_owned()));
        }
        if let Some(name) = entry.strip_prefix('!') {
            if name.is_empty() {
                return Err(AccountSpecError::Empty(entry.to_owned()));
            }
            return Ok(AccountSpec::Exclude(name.to_owned()));
        }
        if entry.is_empty() {
            return Err(AccountSpecError::Empty(entry.to_owned()));
        }
        Ok(AccountSpec::Username(entry.to_owned()))
    }

    /// Parses a whole list, failing on the first bad entry. For write-time validation.
    pub fn parse_list<S: AsRef<str>>(entries: &[S]) -> Result<Vec<AccountSpec>, AccountSpecError> {
        entries
            .iter()
            .map(|e| AccountSpec::parse(e.as_ref()))
            .collect()
    }

    /// Whether this is one of the virtual accounts (`@INPUT`, `@USER`, `@ANON`).
    pub fn is_virtual(&self) -> bool {
        matches!(
            self,
            AccountSpec::Input | AccountSpec::User | AccountSpec::Anon
        )
    }
}

impl FromStr for AccountSpec {
    type Err = AccountSpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AccountSpec::parse(s)
    }
}

impl fmt::Display for AccountSpec {
    /// Renders the stored string form; `parse(x.to_string()) == x`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountSpec::All => f.write_str("@ALL"),
            AccountSpec::Spec => f.write_str("@SPEC"),
            AccountSpec::Input => f.write_str("@INPUT"),
            AccountSpec::User => f.write_str("@USER"),
            AccountSpec::Anon => f.write_str("@ANON"),
            AccountSpec::Username(u) => f.write_str(u),
            AccountSpec::Template(id) => write!(f, "%{id}"),
            AccountSpec::Exclude(u) => write!(f, "!{u}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_every_selector_form() {
        let t = Uuid::from_u128(7);
        let cases = [
            ("@ALL", AccountSpec::All),
            ("@SPEC", AccountSpec::Spec),
            ("@INPUT", AccountSpec::Input),
            ("@USER", AccountSpec::User),
            ("@ANON", AccountSpec::Anon),
            ("root", AccountSpec::Username("root".into())),
            ("!root", AccountSpec::Exclude("root".into())),
            (
                "%00000000-0000-0000-0000-000000000007",
                AccountSpec::Template(t),
            ),
        ];
        for (s, want) in cases {
            assert_eq!(AccountSpec::parse(s), Ok(want.clone()), "{s}");
            assert_eq!(want.to_string(), s);
        }
    }

    #[test]
    fn parse_rejects_unknown_alias_bad_template_and_empty() {
        assert_eq!(
            AccountSpec::parse("@AL"),
            Err(AccountSpecError::UnknownAlias("@AL".into()))
        );
        assert_eq!(
            AccountSpec::parse("@all"),
            Err(AccountSpecError::UnknownAlias("@all".into()))
        );
        assert!(matches!(
            AccountSpec::parse("%nope"),
            Err(AccountSpecError::InvalidTemplate(_))
        ));
        assert!(matches!(
            AccountSpec::parse(""),
            Err(AccountSpecError::Empty(_))
        ));
        assert!(matches!(
            AccountSpec::parse("!"),
            Err(AccountSpecError::Empty(_))
        ));
        assert!(AccountSpec::parse_list(&["root", "@X"]).is_err());
        assert_eq!(
            AccountSpec::parse_list(&["root", "@ALL"]),
            Ok(vec![AccountSpec::Username("root".into()), AccountSpec::All])
        );
    }

    proptest! {
        #[test]
        fn prop_display_parse_roundtrip(name in "[a-z_][a-z0-9_.-]{0,12}", kind in 0u8..3) {
            let spec = match kind {
                0 => AccountSpec::Username(name),
                1 => AccountSpec::Exclude(name),
                _ => AccountSpec::Template(Uuid::from_u128(name.len() as u128)),
            };
            prop_assert_eq!(AccountSpec::parse(&spec.to_string()), Ok(spec));
        }
    }
}
