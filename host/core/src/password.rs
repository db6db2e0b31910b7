//! User passwords: hashing and the password policy.
//!
//! Passwords are stored as Argon2id PHC strings (`$argon2id$v=19$…`), so the parameters travel
//! with each hash and can be raised later without invalidating existing ones.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;

/// Why a password could not be hashed or was refused by the policy.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    /// The stored hash is not a PHC string this build understands.
    #[error("the stored password hash is malformed")]
    MalformedHash,
    /// The hasher failed (only on absurd inputs).
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// The password breaks the policy; each entry says which rule.
    #[error("the password does not meet the policy: {}", .0.join("; "))]
    Policy(Vec<String>),
}

fn hasher() -> Argon2<'static> {
    // OWASP's recommended Argon2id floor: 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Checks a password against a stored PHC string. A malformed hash is an error, not a `false`,
/// so that a corrupted row is noticed instead of locking a user out silently.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(phc).map_err(|_| PasswordError::MalformedHash)?;
    Ok(hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// The security settings that govern local passwords (JumpServer's `SECURITY_PASSWORD_*`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PasswordPolicy {
    /// Minimum length for ordinary users.
    pub min_length: usize,
    /// Minimum length for administrators.
    pub admin_min_length: usize,
    /// Require an upper-case letter.
    pub upper_case: bool,
    /// Require a lower-case letter.
    pub lower_case: bool,
    /// Require a digit.
    pub number: bool,
    /// Require a character that is neither letter nor digit.
    pub special_char: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 6,
            admin_min_length: 8,
            upper_case: false,
            lower_case: false,
            number: false,
            special_char: false,
        }
    }
}

impl PasswordPolicy {
    /// Checks a candidate password; the error lists every rule it breaks.
    pub fn check(&self, password: &str, is_admin: bool) -> Result<(), PasswordError> {
        let mut broken = Vec::new();
        let min = if is_admin {
            self.admin_min_length.max(self.min_length)
        } else {
            self.min_length
        };
        if password.chars().count() < min {
            broken.push(format!("at least {min} characters"));
        }
        if self.upper_case && !password.chars().any(|c| c.is_uppercase()) {
            broken.push("an upper-case letter".into());
        }
        if self.lower_case && !password.chars().any(|c| c.is_lowercase()) {
            broken.push("a lower-case letter".into());
        }
        if self.number && !password.chars().any(|c| c.is_ascii_digit()) {
            broken.push("a digit".into());
        }
        if self.special_char && !password.chars().any(|c| !c.is_alphanumeric()) {
            broken.push("a special character".into());
        }
        if broken.is_empty() {
            Ok(())
        } else {
            Err(PasswordError::Policy(broken))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_per_salt() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify_password("correct horse", &a).unwrap());
        assert!(!verify_password("wrong horse", &a).unwrap());
    }

    #[test]
    fn a_malformed_hash_is_an_error() {
        assert_eq!(
            verify_password("x", "plain"),
            Err(PasswordError::MalformedHash)
        );
    }

    #[test]
    fn policy_lists_every_broken_rule() {
        let policy = PasswordPolicy {
            upper_case: true,
            number: true,
            special_char: true,
            ..PasswordPolicy::default()
        };
        let Err(PasswordError::Policy(rules)) = policy.check("abc", false) else {
            panic!("weak password accepted");
        };
        assert_eq!(rules.len(), 4);
        assert!(policy.check("Abcdef1!", false).is_ok());
        assert!(policy.check("Abcde1!", true).is_err(), "admins need 8");
    }
}
