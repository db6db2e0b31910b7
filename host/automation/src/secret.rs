//! New secrets for change-secret: passwords by JumpServer's rules (`secret_strategy` `random`
//! with `password_rules`) and SSH key pairs.
//!
//! Passwords draw from the operating system's generator and contain at least one character of
//! each enabled class. The symbol set leaves out characters that break the usual ways of
//! setting a password (`:` for `chpasswd`, quotes, backslash, whitespace), unless a rule asks
//! for a narrower set.

use portcullis_core::secret::SecretString;
use rand::Rng;
use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use russh::keys::{Algorithm, PrivateKey};
use serde::{Deserialize, Serialize};

/// Shortest generated password.
pub const MIN_LENGTH: usize = 16;
/// Longest generated password.
pub const MAX_LENGTH: usize = 30;
/// Symbols a generated password may contain.
pub const SYMBOLS: &str = "!#$%&*+-.=?@^_~";

const LOWER: &str = "abcdefghijkmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &str = "23456789";

/// JumpServer's `password_rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordRules {
    /// Length, [`MIN_LENGTH`]..=[`MAX_LENGTH`].
    pub length: usize,
    /// Lower-case letters.
    pub lowercase: bool,
    /// Upper-case letters.
    pub uppercase: bool,
    /// Digits.
    pub digit: bool,
    /// Symbols.
    pub symbol: bool,
    /// Symbols never to use.
    pub exclude_symbols: String,
}

impl Default for PasswordRules {
    fn default() -> PasswordRules {
        PasswordRules {
            length: MIN_LENGTH,
            lowercase: true,
            uppercase: true,
            digit: true,
            symbol: true,
            exclude_symbols: String::new(),
        }
    }
}

/// Rules that cannot produce a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Length outside the allowed range.
    #[error("the password length must be between {MIN_LENGTH} and {MAX_LENGTH}, not {0}")]
    Length(usize),
    /// Every class is disabled (or every symbol excluded with symbols the only class).
    #[error("the password rules leave no character to choose from")]
    Empty,
}

/// A random password following `rules`.
pub fn password(rules: &PasswordRules) -> Result<SecretString, RuleError> {
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&rules.length) {
        return Err(RuleError::Length(rules.length));
    }
    let symbols: String = SYMBOLS
        .chars()
        .filter(|c| !rules.exclude_symbols.contains(*c))
        .collect();
    let classes: Vec<Vec<char>> = [
        (rules.lowercase, LOWER),
        (rules.uppercase, UPPER),
        (rules.digit, DIGITS),
        (rules.symbol, symbols.as_str()),
    ]
    .into_iter()
    .filter(|(on, set)| *on && !set.is_empty())
    .map(|(_, set)| set.chars().collect())
    .collect();
    if classes.is_empty() {
        return Err(RuleError::Empty);
    }
    let all: Vec<char> = classes.iter().flatten().copied().collect();
    let mut rng = OsRng;
    let mut chars: Vec<char> = classes
        .iter()
        .map(|set| set[rng.gen_range(0..set.len())])
        .collect();
    while chars.len() < rules.length {
        chars.push(all[rng.gen_range(0..all.len())]);
    }
    chars.shuffle(&mut rng);
    Ok(SecretString::new(chars.into_iter().collect::<String>()))
}

/// A new SSH key pair: the private key in OpenSSH format and the public key line.
pub fn ssh_key(algorithm: KeyAlgorithm) -> Result<(SecretString, String), String> {
    let key = match algorithm {
        KeyAlgorithm::Ed25519 => PrivateKey::random(&mut rand10::rng(), Algorithm::Ed25519),
        KeyAlgorithm::Rsa => {
            russh::keys::ssh_key::private::RsaKeypair::random(&mut rand10::rng(), 3072)
                .and_then(|kp| PrivateKey::new(kp.into(), ""))
        }
    }
    .map_err(|e| e.to_string())?;
    let private = key
        .to_openssh(russh::keys::ssh_key::LineEnding::LF)
        .map_err(|e| e.to_string())?;
    let public = key.public_key().to_openssh().map_err(|e| e.to_string())?;
    Ok((SecretString::new(private.as_str()), public))
}

/// The kind of SSH key to generate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAlgorithm {
    /// Ed25519 (the default).
    #[default]
    Ed25519,
    /// RSA, 3072 bits.
    Rsa,
}

/// The OpenSSH public key line of a private key (for `public-part`), if it can be read.
pub fn public_of(private: &SecretString, passphrase: Option<&SecretString>) -> Option<String> {
    russh::keys::decode_secret_key(private.expose(), passphrase.map(SecretString::expose))
        .ok()
        .and_then(|k| k.public_key().to_openssh().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_follow_the_rules() {
        for length in [MIN_LENGTH, 23, MAX_LENGTH] {
            let rules = PasswordRules {
                length,
                ..PasswordRules::default()
            };
            let p = password(&rules).unwrap();
            let p = p.expose();
            assert_eq!(p.chars().count(), length);
            assert!(p.chars().any(|c| c.is_ascii_lowercase()), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_uppercase()), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_digit()), "{p}");
            assert!(p.chars().any(|c| SYMBOLS.contains(c)), "{p}");
            assert!(!p.contains(':') && !p.contains('\'') && !p.contains(' '));
        }
        let digits_only = PasswordRules {
            lowercase: false,
            uppercase: false,
            symbol: false,
            ..PasswordRules::default()
        };
        assert!(
            password(&digits_only)
                .unwrap()
                .expose()
                .chars()
                .all(|c| c.is_ascii_digit())
        );
        let no_hash = PasswordRules {
            exclude_symbols: "#$%".into(),
            length: MAX_LENGTH,
            ..PasswordRules::default()
        };
        for _ in 0..20 {
            let p = password(&no_hash).unwrap();
            assert!(!p.expose().contains(['#', '$', '%']));
        }
        assert_eq!(
            password(&PasswordRules {
                length: 8,
                ..PasswordRules::default()
            }),
            Err(RuleError::Length(8))
        );
        let none = PasswordRules {
            lowercase: false,
            uppercase: false,
            digit: false,
            symbol: false,
            ..PasswordRules::default()
        };
        assert_eq!(password(&none), Err(RuleError::Empty));
        assert_ne!(
            password(&PasswordRules::default()).unwrap().expose(),
            password(&PasswordRules::default()).unwrap().expose()
        );
    }

    #[test]
    fn key_pairs_are_openssh_and_match() {
        let (private, public) = ssh_key(KeyAlgorithm::Ed25519).unwrap();
        assert!(
            private
                .expose()
                .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
        );
        assert!(public.starts_with("ssh-ed25519 "));
        assert_eq!(public_of(&private, None).as_deref(), Some(public.as_str()));
    }
}
