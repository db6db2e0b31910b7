//! The methods' parameters (`params`, a JSON object the host merged from the platform's
//! `<method>_params` and the request, and checked against the manifest's
//! `[[automation]] params`). One struct for all methods: each method reads the fields it
//! declares and ignores the rest (JumpServer's push parameters `home`, `shell`, `groups`
//! arrive here too; the host already turned them into `push-options`).
//!
//! Booleans are read leniently (`true`, `"true"`, `"1"`, ...), since checked parameters may
//! come back in their canonical text form.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// What `params` may hold. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Params {
    /// Run privileged commands through `sudo -n` (`true`), directly (`false`), or decide from
    /// `id -u` of the connecting account (absent: `sudo` unless it is root).
    #[serde(deserialize_with = "flag")]
    pub use_sudo: Option<bool>,
    /// A boolean `sudo` means `use_sudo` (any other value is JumpServer's sudo rule of
    /// `push_account`, which the host hands over as `push-options.sudo`).
    #[serde(deserialize_with = "flag_or_other")]
    pub sudo: Option<bool>,
    /// `change_secret`/`push_account` of an SSH key: add the new key to `authorized_keys`
    /// (`add`, the default) or make it the only key (`replace`; JumpServer's `set`).
    pub ssh_key_change_strategy: KeyStrategy,
    /// `remove_account`: also delete the home directory and mail spool (`userdel -r`).
    #[serde(deserialize_with = "flag_or_false")]
    pub delete_home: bool,
    /// `gather_accounts`: list every account, system accounts included (by default only
    /// accounts with a login shell or a uid of 1000 and above).
    #[serde(deserialize_with = "flag_or_false")]
    pub all: bool,
}

impl Params {
    /// Whether to use sudo: `use_sudo`, else a boolean `sudo`, else decide on the asset.
    pub fn sudo(&self) -> Option<bool> {
        self.use_sudo.or(self.sudo)
    }
}

/// How a new SSH public key goes into `authorized_keys`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStrategy {
    /// Append the key unless it is there already.
    #[default]
    Add,
    /// The key becomes the only line of the file.
    #[serde(alias = "set")]
    Replace,
}

/// Parses `params` (empty means defaults); malformed is `InvalidInput`.
pub fn parse(params: &str) -> Result<Params, portcullis_plugin_sdk::Error> {
    portcullis_plugin_sdk::params(params)
}

/// A boolean as JSON or canonical text; `None` for anything else.
fn as_flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().and_then(|n| match n {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    as_flag(&v)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("expected a boolean, got {v}")))
}

fn flag_or_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(flag(d)?.unwrap_or(false))
}

fn flag_or_other<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(as_flag(&Value::deserialize(d)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_plugin_sdk::Error;

    #[test]
    fn defaults_and_jumpserver_names() {
        assert_eq!(parse(""), Ok(Params::default()));
        let p =
            parse(r#"{"use_sudo": false, "ssh_key_change_strategy": "set", "delete_home": true}"#)
                .expect("valid");
        assert_eq!(p.sudo(), Some(false));
        assert_eq!(p.ssh_key_change_strategy, KeyStrategy::Replace);
        assert!(p.delete_home);
        assert_eq!(
            parse(r#"{"ssh_key_change_strategy": "replace"}"#)
                .expect("valid")
                .ssh_key_change_strategy,
            KeyStrategy::Replace
        );
        assert!(matches!(
            parse(r#"{"ssh_key_change_strategy": "set_jms"}"#),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn sudo_is_a_flag_or_jumpservers_rule() {
        assert_eq!(
            parse(r#"{"sudo": true}"#).expect("valid").sudo(),
            Some(true)
        );
        let push =
            parse(r#"{"sudo": "/bin/whoami", "home": "", "shell": "/bin/bash", "groups": "adm"}"#)
                .expect("JumpServer push params");
        assert_eq!(push.sudo(), None);
        assert_eq!(
            parse(r#"{"sudo": "/bin/whoami", "use_sudo": true}"#)
                .expect("valid")
                .sudo(),
            Some(true)
        );
    }

    #[test]
    fn canonical_text_booleans_are_read() {
        let p = parse(r#"{"use_sudo": "false", "delete_home": "true", "all": 1}"#).expect("valid");
        assert_eq!(p.sudo(), Some(false));
        assert!(p.delete_home && p.all);
        assert!(matches!(
            parse(r#"{"delete_home": "maybe"}"#),
            Err(Error::InvalidInput(_))
        ));
        assert_eq!(parse(r#"{"use_sudo": null}"#).expect("valid").sudo(), None);
    }
}
