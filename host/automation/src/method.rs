//! The automation methods and what a caller asks of them.

use crate::secret::{KeyAlgorithm, PasswordRules};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// A platform automation method (the `automation` world's functions; the names are the
/// `platform_automations` column prefixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Reachability and a login with the privileged account.
    Ping,
    /// A login with the account's vaulted secret.
    VerifyAccount,
    /// A new secret set on the asset, verified, then stored.
    ChangeSecret,
    /// The account created (or updated) on the asset with its stored secret.
    PushAccount,
    /// The accounts that exist on the asset.
    GatherAccounts,
    /// The account deleted from the asset.
    RemoveAccount,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 6] = [
        Method::Ping,
        Method::VerifyAccount,
        Method::ChangeSecret,
        Method::PushAccount,
        Method::GatherAccounts,
        Method::RemoveAccount,
    ];

    /// The stored name (`verify_account`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Ping => "ping",
            Method::VerifyAccount => "verify_account",
            Method::ChangeSecret => "change_secret",
            Method::PushAccount => "push_account",
            Method::GatherAccounts => "gather_accounts",
            Method::RemoveAccount => "remove_account",
        }
    }

    /// Whether the method acts on one account, named in the request.
    pub fn needs_account(self) -> bool {
        matches!(
            self,
            Method::VerifyAccount | Method::ChangeSecret | Method::PushAccount
        )
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The text is not a method name.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown automation method `{0}` (expected ping, verify_account, change_secret, push_account, gather_accounts or remove_account)"
)]
pub struct UnknownMethod(pub String);

impl FromStr for Method {
    type Err = UnknownMethod;

    /// Accepts the stored name and the WIT's kebab-case (`verify-account`).
    fn from_str(s: &str) -> Result<Method, UnknownMethod> {
        let snake = s.replace('-', "_");
        Method::ALL
            .into_iter()
            .find(|m| m.name() == snake)
            .ok_or_else(|| UnknownMethod(s.to_owned()))
    }
}

/// How change-secret gets the new secret (JumpServer's `secret_strategy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretStrategy {
    /// The caller gives it (`secret`).
    Specific,
    /// The host generates it (`password_rules`, `ssh_key_algorithm`).
    #[default]
    Random,
}

/// What a caller asks of one execution. Every field is optional; which ones apply depends on
/// the method (unknown fields are refused, so a typo never silently does nothing).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutomationRequest {
    /// The account acted on: verified, changed, pushed or removed. For ping, the account to
    /// log in with (the privileged account when absent).
    pub account: Option<Uuid>,
    /// remove_account only: a username on the asset that has no Portcullis account (a
    /// gathered one), instead of `account`.
    pub username: Option<String>,
    /// Parameters merged over the platform's `<method>_params` and passed to the plugin.
    pub params: Map<String, Value>,
    /// change_secret: where the new secret comes from.
    pub secret_strategy: SecretStrategy,
    /// change_secret with `specific`: the new password, or private key for `ssh_key`.
    pub secret: Option<String>,
    /// change_secret: `password` or `ssh_key`; the account's current type when absent.
    pub secret_type: Option<String>,
    /// change_secret with `random` passwords.
    pub password_rules: Option<PasswordRules>,
    /// change_secret with `random` SSH keys.
    pub ssh_key_algorithm: Option<KeyAlgorithm>,
    /// push_account: home directory (the platform's `home` parameter when absent).
    pub home: Option<String>,
    /// push_account: login shell.
    pub shell: Option<String>,
    /// push_account: supplementary groups (a list or comma-separated text).
    #[serde(deserialize_with = "list_or_csv")]
    pub groups: Option<Vec<String>>,
    /// push_account: a sudoers rule (`ALL=(ALL) NOPASSWD: ALL`) or a comma-separated list of
    /// commands (JumpServer's form, allowed without a password); empty grants nothing.
    pub sudo: Option<String>,
    /// push_account: give the user a private group of its name (default true).
    pub private_group: Option<bool>,
    /// push_account: log in as the pushed account afterwards (default true).
    pub check_conn_after_change: Option<bool>,
    /// remove_account: also delete the Portcullis account record once the asset removed it.
    pub delete_account: bool,
}

/// `["a","b"]` or `"a,b"`.
fn list_or_csv<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Text(String),
    }
    Ok(Option::<Either>::deserialize(d)?.map(|e| match e {
        Either::List(l) => l,
        Either::Text(t) => split_csv(&t),
    }))
}

/// Comma-separated items, trimmed, empty ones dropped.
pub fn split_csv(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A sudoers rule from JumpServer's `sudo` parameter: a rule as given when it has a `=`
/// (`ALL=(ALL) NOPASSWD: ALL`), else a list of commands allowed without a password.
pub fn sudo_rule(value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        None
    } else if v.contains('=') {
        Some(v.to_owned())
    } else {
        Some(format!("ALL=(ALL) NOPASSWD: {}", split_csv(v).join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_in_both_spellings() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
            assert_eq!(m.name().replace('_', "-").parse::<Method>().unwrap(), m);
        }
        assert!("gather_facts".parse::<Method>().is_err());
    }

    #[test]
    fn requests_refuse_unknown_fields_and_read_groups_both_ways() {
        let r: AutomationRequest =
            serde_json::from_value(serde_json::json!({"groups": "wheel, docker,,"})).unwrap();
        assert_eq!(r.groups.unwrap(), ["wheel", "docker"]);
        let r: AutomationRequest =
            serde_json::from_value(serde_json::json!({"groups": ["a"], "delete_account": true}))
                .unwrap();
        assert_eq!(r.groups.unwrap(), ["a"]);
        assert!(r.delete_account);
        assert!(
            serde_json::from_value::<AutomationRequest>(serde_json::json!({"acount": 1})).is_err()
        );
        let r: AutomationRequest = serde_json::from_value(
            serde_json::json!({"secret_strategy": "specific", "secret": "x"}),
        )
        .unwrap();
        assert_eq!(r.secret_strategy, SecretStrategy::Specific);
    }

    #[test]
    fn sudo_takes_rules_or_commands() {
        assert_eq!(sudo_rule(""), None);
        assert_eq!(
            sudo_rule("/bin/whoami,/usr/bin/id").as_deref(),
            Some("ALL=(ALL) NOPASSWD: /bin/whoami, /usr/bin/id")
        );
        assert_eq!(
            sudo_rule("ALL=(ALL) NOPASSWD: ALL").as_deref(),
            Some("ALL=(ALL) NOPASSWD: ALL")
        );
    }
}
