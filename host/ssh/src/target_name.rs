//! Direct-connect login names: the SSH user name can carry the target as well as the user.
//!
//! An SSH client has a single free-form field before the host, so JumpServer's gateway packs
//! "who I am" and "where I want to go" into it (reference §5.3). The forms accepted here:
//!
//! | login name | meaning |
//! |---|---|
//! | `alice` | plain login: the user gets the interactive menu |
//! | `alice@root@10.0.0.5` | user `alice`, account `root`, asset `10.0.0.5`, protocol ssh |
//! | `alice@ssh@root@10.0.0.5` | the same with the protocol spelled out |
//! | `alice#root#10.0.0.5` | `#` as the separator |
//! | `JMS-<uuid>` | a connection-token login (the token's value is the password) |
//!
//! Decisions, and why:
//!
//! - **One separator per name.** When the name contains a `#`, `#` is the only separator, so
//!   `@` may appear inside the parts: an e-mail-style user name or a domain account
//!   (`alice@corp.example#administrator@corp.local#dc01`). Otherwise `@` separates. Mixing
//!   the two would make such names ambiguous.
//! - **Two parts are a plain login.** `alice@corp.example` is an e-mail-style user name, not
//!   a half-written target; JumpServer user names may contain `@`.
//! - **The asset part is taken verbatim**: an asset id, a name or an address. A `:` is never
//!   read as a port, so an IPv6 address works as written (`alice#root#fe80::1`); the
//!   bracketed form `[fe80::1]` is accepted too and the brackets are removed, since that is
//!   how people are used to writing IPv6 hosts. The asset part may not contain `@` (no asset
//!   address does; with `#` separators it would be a typo).
//! - **The protocol is a word** (`ssh`, `telnet`, `mysql`…), lower-cased here; whether the
//!   gateway supports it is for the connect path to say.
//! - **`JMS-` is only a token when a UUID follows** (hyphenated form). `JMS-ops` stays an
//!   ordinary user name, so such a user can still log in.
//! - Control characters are refused in every part: they have no place in a name and would
//!   end up in logs and on terminals.

use std::fmt;

use thiserror::Error;
use uuid::Uuid;

/// The longest login name accepted, in bytes. OpenSSH itself caps user names well below
/// this; the bound keeps a hostile client from making us log or search with megabytes.
pub const MAX_LOGIN_NAME: usize = 1024;

/// The prefix of a connection-token login name.
pub const TOKEN_PREFIX: &str = "JMS-";

/// What the SSH login name asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName {
    /// Just a user: authenticate, then show the menu.
    Plain {
        /// The Portcullis user name.
        user: String,
    },
    /// A user and a target: authenticate, then connect straight away.
    Direct {
        /// The Portcullis user name.
        user: String,
        /// The protocol, lower-cased, when the name spelled it (`None` means ssh).
        protocol: Option<String>,
        /// The account's user name on the asset.
        account: String,
        /// The asset: an id, a name or an address, verbatim (IPv6 brackets removed).
        asset: String,
    },
    /// A connection-token login (`JMS-<token id>`); the password is the token's value.
    Token {
        /// The connection token's id.
        id: Uuid,
    },
}

/// Why a login name could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    /// The name is empty.
    #[error("the login name is empty")]
    Empty,
    /// The name is longer than [`MAX_LOGIN_NAME`] bytes.
    #[error("the login name is longer than {MAX_LOGIN_NAME} bytes")]
    TooLong,
    /// One part between separators is empty (`alice@@host`).
    #[error("the {0} part of the login name is empty")]
    EmptyPart(&'static str),
    /// More parts than `user@protocol@account@asset`.
    #[error(
        "the login name has {0} parts; use user, user@account@asset or user@protocol@account@asset"
    )]
    TooManyParts(usize),
    /// A part holds a control character.
    #[error("the {0} part of the login name contains a control character")]
    ControlChar(&'static str),
    /// The protocol part is not a protocol word.
    #[error("`{0}` is not a protocol name")]
    BadProtocol(String),
    /// The asset part holds a character no asset reference can contain.
    #[error("the asset part `{0}` of the login name is not an asset id, name or address")]
    BadAsset(String),
}

impl LoginName {
    /// Reads an SSH login name (see the module documentation for the forms).
    pub fn parse(name: &str) -> Result<LoginName, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.len() > MAX_LOGIN_NAME {
            return Err(NameError::TooLong);
        }
        let sep = if name.contains('#') { '#' } else { '@' };
        let parts: Vec<&str> = name.split(sep).collect();
        match parts.as_slice() {
            [_] | [_, _] => {
                check("user", name)?;
                if let Some(id) = token_id(name) {
                    return Ok(LoginName::Token { id });
                }
                Ok(LoginName::Plain {
                    user: name.to_owned(),
                })
            }
            [user, account, asset] => direct(user, None, account, asset),
            [user, protocol, account, asset] => direct(user, Some(*protocol), account, asset),
            more => Err(NameError::TooManyParts(more.len())),
        }
    }

    /// The Portcullis user to authenticate, `None` for a token login (the token names it).
    pub fn user(&self) -> Option<&str> {
        match self {
            LoginName::Plain { user } | LoginName::Direct { user, .. } => Some(user),
            LoginName::Token { .. } => None,
        }
    }

    /// The protocol a direct login asks for, ssh when it names none; `None` otherwise.
    pub fn protocol(&self) -> Option<&str> {
        match self {
            LoginName::Direct { protocol, .. } => Some(protocol.as_deref().unwrap_or("ssh")),
            _ => None,
        }
    }
}

impl std::str::FromStr for LoginName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LoginName::parse(s)
    }
}

impl fmt::Display for LoginName {
    /// The canonical spelling: `#` separators when a part contains `@`, `@` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginName::Plain { user } => f.write_str(user),
            LoginName::Token { id } => write!(f, "{TOKEN_PREFIX}{id}"),
            LoginName::Direct {
                user,
                protocol,
                account,
                asset,
            } => {
                let sep = if user.contains('@') || account.contains('@') {
                    '#'
                } else {
                    '@'
                };
                f.write_str(user)?;
                if let Some(p) = protocol {
                    write!(f, "{sep}{p}")?;
                }
                write!(f, "{sep}{account}{sep}{asset}")
            }
        }
    }
}

/// Builds a direct target after checking each part.
fn direct(
    user: &str,
    protocol: Option<&str>,
    account: &str,
    asset: &str,
) -> Result<LoginName, NameError> {
    check("user", user)?;
    let protocol = match protocol {
        Some(p) => {
            check("protocol", p)?;
            let ok = p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(NameError::BadProtocol(p.to_owned()));
            }
            Some(p.to_ascii_lowercase())
        }
        None => None,
    };
    check("account", account)?;
    check("asset", asset)?;
    let asset = match asset.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        Some(inner) if inner.contains(':') => inner,
        _ => asset,
    };
    if asset.is_empty() || asset.contains('@') {
        return Err(NameError::BadAsset(asset.to_owned()));
    }
    Ok(LoginName::Direct {
        user: user.to_owned(),
        protocol,
        account: account.to_owned(),
        asset: asset.to_owned(),
    })
}

/// Refuses empty parts and control characters.
fn check(part: &'static str, text: &str) -> Result<(), NameError> {
    if text.is_empty() {
        return Err(NameError::EmptyPart(part));
    }
    if text.chars().any(char::is_control) {
        return Err(NameError::ControlChar(part));
    }
    Ok(())
}

/// The token id of a `JMS-<uuid>` name (hyphenated UUID only).
fn token_id(name: &str) -> Option<Uuid> {
    let rest = name.strip_prefix(TOKEN_PREFIX)?;
    if rest.len() != 36 {
        return None;
    }
    Uuid::try_parse(rest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(user: &str, protocol: Option<&str>, account: &str, asset: &str) -> LoginName {
        LoginName::Direct {
            user: user.into(),
            protocol: protocol.map(Into::into),
            account: account.into(),
            asset: asset.into(),
        }
    }

    #[test]
    fn plain_names() {
        assert_eq!(
            LoginName::parse("alice"),
            Ok(LoginName::Plain {
                user: "alice".into()
            })
        );
        // E-mail-style user names are plain logins, not targets.
        assert_eq!(
            LoginName::parse("alice@corp.example"),
            Ok(LoginName::Plain {
                user: "alice@corp.example".into()
            })
        );
        assert_eq!(
            LoginName::parse("alice#x"),
            Ok(LoginName::Plain {
                user: "alice#x".into()
            })
        );
        // Unicode user names are fine.
        assert_eq!(LoginName::parse("张三").unwrap().user(), Some("张三"));
    }

    #[test]
    fn three_and_four_parts() {
        assert_eq!(
            LoginName::parse("admin@root@10.0.0.5"),
            Ok(direct("admin", None, "root", "10.0.0.5"))
        );
        assert_eq!(
            LoginName::parse("admin@SSH@root@web-01"),
            Ok(direct("admin", Some("ssh"), "root", "web-01"))
        );
        assert_eq!(
            LoginName::parse("admin#root#10.0.0.5"),
            Ok(direct("admin", None, "root", "10.0.0.5"))
        );
        assert_eq!(
            LoginName::parse("admin#telnet#root#10.0.0.5"),
            Ok(direct("admin", Some("telnet"), "root", "10.0.0.5"))
        );
        let id = "0b7f2a8e-4c1d-4c55-9a57-6a4e0e6b0c11";
        assert_eq!(
            LoginName::parse(&format!("admin@root@{id}")),
            Ok(direct("admin", None, "root", id))
        );
    }

    #[test]
    fn hash_separator_lets_parts_contain_at() {
        assert_eq!(
            LoginName::parse("alice@corp.example#administrator@corp.local#dc01"),
            Ok(direct(
                "alice@corp.example",
                None,
                "administrator@corp.local",
                "dc01"
            ))
        );
        assert_eq!(
            LoginName::parse("admin#root#a@b"),
            Err(NameError::BadAsset("a@b".into()))
        );
    }

    #[test]
    fn ipv6_assets() {
        assert_eq!(
            LoginName::parse("admin#root#fe80::1"),
            Ok(direct("admin", None, "root", "fe80::1"))
        );
        assert_eq!(
            LoginName::parse("admin@root@2001:db8::5"),
            Ok(direct("admin", None, "root", "2001:db8::5"))
        );
        assert_eq!(
            LoginName::parse("admin@root@[2001:db8::5]"),
            Ok(direct("admin", None, "root", "2001:db8::5"))
        );
        // A colon is never a port: the part is kept as written.
        assert_eq!(
            LoginName::parse("admin@root@web:22"),
            Ok(direct("admin", None, "root", "web:22"))
        );
        assert_eq!(
            LoginName::parse("admin@root@[]"),
            Ok(direct("admin", None, "root", "[]"))
        );
    }

    #[test]
    fn tokens() {
        let id = Uuid::new_v4();
        assert_eq!(
            LoginName::parse(&format!("JMS-{id}")),
            Ok(LoginName::Token { id })
        );
        assert_eq!(LoginName::parse(&format!("JMS-{id}")).unwrap().user(), None);
        // Not a UUID (or not hyphenated): an ordinary user name.
        for name in ["JMS-ops", &format!("JMS-{}", id.simple()), "jms-x"] {
            assert!(
                matches!(LoginName::parse(name), Ok(LoginName::Plain { .. })),
                "{name}"
            );
        }
    }

    #[test]
    fn errors() {
        assert_eq!(LoginName::parse(""), Err(NameError::Empty));
        assert_eq!(
            LoginName::parse(&"a".repeat(MAX_LOGIN_NAME + 1)),
            Err(NameError::TooLong)
        );
        assert_eq!(
            LoginName::parse("@root@host"),
            Err(NameError::EmptyPart("user"))
        );
        assert_eq!(
            LoginName::parse("admin@@host"),
            Err(NameError::EmptyPart("account"))
        );
        assert_eq!(
            LoginName::parse("admin@root@"),
            Err(NameError::EmptyPart("asset"))
        );
        assert_eq!(
            LoginName::parse("admin@@root@host"),
            Err(NameError::EmptyPart("protocol"))
        );
        assert_eq!(
            LoginName::parse("admin#root#"),
            Err(NameError::EmptyPart("asset"))
        );
        assert_eq!(
            LoginName::parse("a@b@c@d@e"),
            Err(NameError::TooManyParts(5))
        );
        assert_eq!(
            LoginName::parse("admin@s/sh@root@host"),
            Err(NameError::BadProtocol("s/sh".into()))
        );
        assert_eq!(
            LoginName::parse("admin@ro\u{1b}ot@host"),
            Err(NameError::ControlChar("account"))
        );
        assert_eq!(
            LoginName::parse("ali\nce"),
            Err(NameError::ControlChar("user"))
        );
        // Messages are readable.
        assert_eq!(
            NameError::EmptyPart("asset").to_string(),
            "the asset part of the login name is empty"
        );
        assert!(
            NameError::TooManyParts(5)
                .to_string()
                .contains("user@protocol@account@asset")
        );
    }

    #[test]
    fn accessors_and_display_round_trip() {
        let d = LoginName::parse("admin@root@host").unwrap();
        assert_eq!(d.user(), Some("admin"));
        assert_eq!(d.protocol(), Some("ssh"));
        assert_eq!(
            LoginName::parse("admin#telnet#root#host")
                .unwrap()
                .protocol(),
            Some("telnet")
        );
        assert_eq!(LoginName::parse("admin").unwrap().protocol(), None);
        for name in [
            "alice",
            "admin@root@host",
            "admin@ssh@root@fe80::1",
            "a@b.c#root#host",
            "a#x@y#host",
        ] {
            let parsed: LoginName = name.parse().unwrap();
            assert_eq!(parsed.to_string(), name);
            assert_eq!(LoginName::parse(&parsed.to_string()).unwrap(), parsed);
        }
        let t = LoginName::Token { id: Uuid::nil() };
        assert_eq!(LoginName::parse(&t.to_string()).unwrap(), t);
    }
}
