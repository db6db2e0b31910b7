//! Golden case files (`case.toml`): which call, its arguments, and the world around it
//! (configuration, secrets, grants, limits, clock and seed).
//!
//! ```toml
//! description = "gathers the accounts of a Debian host"
//! call = "gather-accounts"             # the WIT function name
//!
//! [args]                               # the call's arguments (see below per call)
//! target = { asset = "asset-1", account = "root-acct", protocol = "ssh" }
//! params = { include_system = false }  # a table (sent as JSON) or a JSON string
//!
//! [config]                             # config.get values; numbers and booleans as text
//! region = "cn-north-1"
//!
//! [secrets]                            # secrets.get values by manifest name
//! api_token = "tok-123"
//! deploy_key = { value = "-----BEGIN...", public_part = "ssh-ed25519 AAAA..." }
//!
//! [grants]                             # default: what plugin.toml requests
//! http = ["https://api.example.com"]
//! reveal = false
//! remote = true                        # may open the call's target (and `remote_targets`)
//!
//! [limits]                             # default: the kind's limits
//! memory_mb = 64
//! deadline_ms = 5000
//! fuel = 10_000_000_000                # the hard instruction budget of the run
//! remote_output_bytes = 1048576
//!
//! [determinism]                        # default: clock 1700000000 (2023-11-14), seed 42
//! clock = 1700000000
//! seed = 7
//!
//! # strict = false                     # unused transcript steps do not fail the case
//! # ignore = ["logs"]                  # keys of expected.json not compared
//! ```
//!
//! Arguments per call: `ping`, `verify-account`, `gather-accounts`: `target`, `params`;
//! `change-secret`: `target`, `account = { username, secret_kind }`, `new_secret` (a string or
//! `{ value, public_part }`), `params`; `push-account`: `target`, `account`, `secret`,
//! `options = { home, shell, groups, sudo, private_group }`, `params`; `remove-account`:
//! `target`, `username`, `params`; `list-instances`: `region`, `page_token`, `page_size`;
//! `begin`: `callback_url`, `state`, `nonce`, `locale`; `complete`: `params` (a table or a
//! list of pairs), `stash`, `callback_url`; `plan`: `url`, `title`, `fields` (a list of
//! tables); `describe`, `test-connection`, `list-regions`: none. `target` defaults to
//! `{ asset = "asset-1", protocol = "ssh" }`.

use crate::project::ProjectManifest;
use portcullis_plugin::caps::{Determinism, SecretValue};
use portcullis_plugin::kind::{Kind, Limits};
use portcullis_plugin::types::{
    Account, BeginRequest, Call, CompleteRequest, Field, ListRequest, Page, Protocol, PushOptions,
    SecretKind, Target,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use zeroize::Zeroizing;

/// The default wall clock of cases: 2023-11-14T22:13:20Z.
pub const DEFAULT_CLOCK: u64 = 1_700_000_000;
/// The default seed of cases.
pub const DEFAULT_SEED: u64 = 42;
/// The default hard fuel budget of a case run: far above any sane call, so that a runaway
/// plugin ends in seconds instead of at its (long) deadline.
pub const DEFAULT_FUEL: u64 = 20_000_000_000;

/// A case file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Not valid TOML, unknown keys, or bad arguments for the call.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// `case.toml` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// What the case checks, for people.
    #[serde(default)]
    pub description: String,
    /// The WIT function (`gather-accounts`, `list-instances`, ...).
    pub call: String,
    /// The call's arguments.
    #[serde(default)]
    pub args: toml::Table,
    /// `config.get` values.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    /// Secrets by name.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSpec>,
    /// What is granted.
    #[serde(default)]
    pub grants: GrantSpec,
    /// Limits overriding the kind's.
    #[serde(default)]
    pub limits: LimitSpec,
    /// Clock and seed.
    #[serde(default)]
    pub determinism: DeterminismSpec,
    /// Whether transcript steps or sessions the plugin never reached fail the case (default
    /// true).
    #[serde(default = "yes")]
    pub strict: bool,
    /// Keys of `expected.json` left out of the comparison (`logs`, `remote`, ...), for output
    /// that changes with things the case does not control (a panic's source line).
    #[serde(default)]
    pub ignore: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A secret's value: text, or text with its public half.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretSpec {
    /// The bytes as UTF-8 text.
    Text(String),
    /// Value and public part.
    Full {
        /// The bytes as UTF-8 text.
        value: String,
        /// `secret.public-part()`.
        #[serde(default)]
        public_part: Option<String>,
    },
}

impl SecretSpec {
    /// The host's value for `name`.
    pub fn to_value(&self, name: &str) -> SecretValue {
        let (value, public_part) = match self {
            SecretSpec::Text(v) => (v.clone(), None),
            SecretSpec::Full { value, public_part } => (value.clone(), public_part.clone()),
        };
        SecretValue {
            name: name.to_owned(),
            bytes: Zeroizing::new(value.into_bytes()),
            public_part,
        }
    }
}

/// `[grants]`; unset fields default to what `plugin.toml` requests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    /// Granted HTTP origins.
    pub http: Option<Vec<String>>,
    /// Private networks requests may reach (CIDRs).
    #[serde(default)]
    pub allow_networks: Vec<String>,
    /// Whether remote sessions are granted.
    pub remote: Option<bool>,
    /// Targets the plugin may open besides the call's own.
    #[serde(default)]
    pub remote_targets: Vec<TargetSpec>,
    /// `secrets.reveal`.
    pub reveal: Option<bool>,
}

/// `[limits]`: every field overrides the kind's default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    /// Linear memory, MiB.
    pub memory_mb: Option<u64>,
    /// Linear memory, bytes (for limits below a MiB).
    pub memory_bytes: Option<u64>,
    /// Wall-clock deadline, milliseconds.
    pub deadline_ms: Option<u64>,
    /// Hard fuel budget (default [`DEFAULT_FUEL`]).
    pub fuel: Option<u64>,
    /// HTTP requests.
    pub http_requests: Option<u32>,
    /// Bytes of HTTP response bodies.
    pub http_response_bytes: Option<u64>,
    /// Remote sessions.
    pub remote_sessions: Option<u32>,
    /// Remote commands and writes.
    pub remote_commands: Option<u32>,
    /// Bytes of remote output.
    pub remote_output_bytes: Option<u64>,
    /// Log lines.
    pub log_lines: Option<u32>,
    /// Log bytes.
    pub log_bytes: Option<u64>,
}

impl LimitSpec {
    /// `base` with this spec's overrides applied.
    pub fn apply(&self, base: Limits) -> Limits {
        let mut l = base;
        if let Some(v) = self.memory_mb {
            l.memory_bytes = v * 1024 * 1024;
        }
        if let Some(v) = self.memory_bytes {
            l.memory_bytes = v;
        }
        if let Some(v) = self.deadline_ms {
            l.deadline = Duration::from_millis(v);
        }
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { l.$f = v; } )* };
        }
        set!(
            http_requests,
            http_response_bytes,
            remote_sessions,
            remote_commands,
            remote_output_bytes,
            log_lines,
            log_bytes
        );
        l
    }
}

/// `[determinism]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeterminismSpec {
    /// Wall clock, seconds since the epoch.
    pub clock: Option<u64>,
    /// Random seed.
    pub seed: Option<u64>,
}

impl DeterminismSpec {
    /// The runtime's determinism settings.
    pub fn to_determinism(&self) -> Determinism {
        Determinism {
            wall_clock_secs: self.clock.unwrap_or(DEFAULT_CLOCK),
            seed: self.seed.unwrap_or(DEFAULT_SEED),
        }
    }
}

/// A target as written in a case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Asset id.
    #[serde(default = "default_asset")]
    pub asset: String,
    /// Account id.
    #[serde(default)]
    pub account: Option<String>,
    /// `ssh`, `telnet` or `winrm`.
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
}

fn default_asset() -> String {
    "asset-1".to_owned()
}

fn default_protocol() -> Protocol {
    Protocol::Ssh
}

impl Default for TargetSpec {
    fn default() -> Self {
        TargetSpec {
            asset: default_asset(),
            account: None,
            protocol: default_protocol(),
        }
    }
}

impl TargetSpec {
    /// The WIT target.
    pub fn to_target(&self) -> Target {
        Target {
            asset_id: self.asset.clone(),
            account_id: self.account.clone(),
            protocol: self.protocol,
        }
    }
}

/// A secret passed as an argument.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ArgSecret {
    Text(String),
    Full {
        value: String,
        #[serde(default)]
        public_part: Option<String>,
    },
}

impl ArgSecret {
    fn to_value(&self, name: &str) -> SecretValue {
        match self {
            ArgSecret::Text(v) => SecretSpec::Text(v.clone()).to_value(name),
            ArgSecret::Full { value, public_part } => SecretSpec::Full {
                value: value.clone(),
                public_part: public_part.clone(),
            }
            .to_value(name),
        }
    }
}

/// Params: a table sent as JSON, or a JSON string as is.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Params {
    Text(String),
    Table(toml::Table),
}

impl Params {
    fn to_json(&self) -> String {
        match self {
            Params::Text(s) => s.clone(),
            Params::Table(t) => serde_json::to_string(t).unwrap_or_else(|_| "{}".to_owned()),
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        Params::Text("{}".to_owned())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetArgs {
    #[serde(default)]
    target: TargetSpec,
    #[serde(default)]
    params: Params,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountSpec {
    username: String,
    #[serde(default = "password_kind")]
    secret_kind: SecretKind,
}

fn password_kind() -> SecretKind {
    SecretKind::Password
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeArgs {
    #[serde(default)]
    target: TargetSpec,
    account: AccountSpec,
    new_secret: ArgSecret,
    #[serde(default)]
    params: Params,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OptionsSpec {
    home: Option<String>,
    shell: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    sudo: Option<String>,
    #[serde(default)]
    private_group: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushArgs {
    #[serde(default)]
    target: TargetSpec,
    account: AccountSpec,
    secret: ArgSecret,
    #[serde(default)]
    options: OptionsSpec,
    #[serde(default)]
    params: Params,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveArgs {
    #[serde(default)]
    target: TargetSpec,
    username: String,
    #[serde(default)]
    params: Params,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    region: String,
    #[serde(default)]
    page_token: Option<String>,
    #[serde(default = "page_size")]
    page_size: u32,
}

fn page_size() -> u32 {
    100
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BeginArgs {
    #[serde(default = "callback")]
    callback_url: String,
    #[serde(default = "state")]
    state: String,
    #[serde(default = "nonce")]
    nonce: String,
    #[serde(default = "locale")]
    locale: String,
}

fn callback() -> String {
    "https://bastion.example.com/api/v1/authentication/plugin/callback/".to_owned()
}
fn state() -> String {
    "state-0123456789".to_owned()
}
fn nonce() -> String {
    "nonce-0123456789".to_owned()
}
fn locale() -> String {
    "en".to_owned()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Pairs {
    Table(BTreeMap<String, String>),
    List(Vec<(String, String)>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteArgs {
    params: Pairs,
    #[serde(default)]
    stash: String,
    #[serde(default = "callback")]
    callback_url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldSpec {
    selector: String,
    #[serde(default = "input_tag")]
    tag: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    placeholder: String,
    #[serde(default)]
    label: String,
}

fn input_tag() -> String {
    "input".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanArgs {
    url: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    fields: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

/// The secrets a call passes as arguments get these names (`secret.name()`).
pub const NEW_SECRET_NAME: &str = "new-secret";
/// See [`NEW_SECRET_NAME`].
pub const ACCOUNT_SECRET_NAME: &str = "account";

impl CaseFile {
    /// Reads a `case.toml`.
    pub fn load(path: &Path) -> Result<Self, CaseError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CaseError::Io {
            path: shown.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| CaseError::Invalid {
            path: shown,
            message: e.to_string(),
        })
    }

    /// The call this case makes. Errors name the argument that is wrong.
    pub fn to_call(&self) -> Result<Call, String> {
        fn args<T: DeserializeOwned>(t: &toml::Table, call: &str) -> Result<T, String> {
            toml::Value::Table(t.clone())
                .try_into()
                .map_err(|e| format!("[args] of {call}: {e}"))
        }
        let a = &self.args;
        let c = self.call.as_str();
        Ok(match c {
            "describe" => {
                args::<NoArgs>(a, c)?;
                Call::Describe
            }
            "ping" | "verify-account" | "gather-accounts" => {
                let x: TargetArgs = args(a, c)?;
                let (target, params) = (x.target.to_target(), x.params.to_json());
                match c {
                    "ping" => Call::Ping { target, params },
                    "verify-account" => Call::VerifyAccount { target, params },
                    _ => Call::GatherAccounts { target, params },
                }
            }
            "change-secret" => {
                let x: ChangeArgs = args(a, c)?;
                Call::ChangeSecret {
                    target: x.target.to_target(),
                    account: Account {
                        username: x.account.username,
                        secret_kind: x.account.secret_kind,
                    },
                    new_secret: x.new_secret.to_value(NEW_SECRET_NAME),
                    params: x.params.to_json(),
                }
            }
            "push-account" => {
                let x: PushArgs = args(a, c)?;
                Call::PushAccount {
                    target: x.target.to_target(),
                    account: Account {
                        username: x.account.username,
                        secret_kind: x.account.secret_kind,
                    },
                    secret: x.secret.to_value(ACCOUNT_SECRET_NAME),
                    options: PushOptions {
                        home: x.options.home,
                        shell: x.options.shell,
                        groups: x.options.groups,
                        sudo: x.options.sudo,
                        private_group: x.options.private_group,
                    },
                    params: x.params.to_json(),
                }
            }
            "remove-account" => {
                let x: RemoveArgs = args(a, c)?;
                Call::RemoveAccount {
                    target: x.target.to_target(),
                    username: x.username,
                    params: x.params.to_json(),
                }
            }
            "test-connection" => {
                args::<NoArgs>(a, c)?;
                Call::TestConnection
            }
            "list-regions" => {
                args::<NoArgs>(a, c)?;
                Call::ListRegions
            }
            "list-instances" => {
                let x: ListArgs = args(a, c)?;
                Call::ListInstances(ListRequest {
                    region: x.region,
                    page_token: x.page_token,
                    page_size: x.page_size,
                })
            }
            "begin" => {
                let x: BeginArgs = args(a, c)?;
                Call::Begin(BeginRequest {
                    callback_url: x.callback_url,
                    state: x.state,
                    nonce: x.nonce,
                    locale: x.locale,
                })
            }
            "complete" => {
                let x: CompleteArgs = args(a, c)?;
                Call::Complete(CompleteRequest {
                    params: match x.params {
                        Pairs::Table(t) => t.into_iter().collect(),
                        Pairs::List(l) => l,
                    },
                    stash: x.stash,
                    callback_url: x.callback_url,
                })
            }
            "plan" => {
                let x: PlanArgs = args(a, c)?;
                Call::Plan(Page {
                    url: x.url,
                    title: x.title,
                    fields: x
                        .fields
                        .into_iter()
                        .map(|f| Field {
                            selector: f.selector,
                            tag: f.tag,
                            kind: f.kind,
                            name: f.name,
                            id: f.id,
                            placeholder: f.placeholder,
                            label: f.label,
                        })
                        .collect(),
                })
            }
            other => return Err(format!("unknown call `{other}`")),
        })
    }

    /// Configuration values as the plugin sees them (text).
    pub fn config_values(&self) -> BTreeMap<String, String> {
        self.config
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// Secrets by name.
    pub fn secret_values(&self) -> BTreeMap<String, SecretValue> {
        self.secrets
            .iter()
            .map(|(k, v)| (k.clone(), v.to_value(k)))
            .collect()
    }

    /// The limits of the run: the kind's defaults with `[limits]` applied.
    pub fn limits(&self, kind: Kind) -> Limits {
        self.limits.apply(kind.default_limits())
    }

    /// The granted HTTP origins: `[grants] http`, else the manifest's request.
    pub fn http_grant(&self, manifest: Option<&ProjectManifest>) -> Vec<String> {
        self.grants.http.clone().unwrap_or_else(|| {
            manifest
                .map(|m| m.capabilities.http.clone())
                .unwrap_or_default()
        })
    }

    /// Whether `reveal` is granted: `[grants] reveal`, else the manifest's request.
    pub fn reveal(&self, manifest: Option<&ProjectManifest>) -> bool {
        self.grants
            .reveal
            .unwrap_or_else(|| manifest.is_some_and(|m| m.capabilities.reveal))
    }

    /// Whether remote sessions are granted: `[grants] remote`, else true for automations.
    pub fn remote(&self, kind: Kind) -> bool {
        self.grants.remote.unwrap_or(kind.has_remote())
    }
}

/// The target of an automation call (none for other calls).
pub fn call_target(call: &Call) -> Option<&Target> {
    match call {
        Call::Ping { target, .. }
        | Call::VerifyAccount { target, .. }
        | Call::ChangeSecret { target, .. }
        | Call::PushAccount { target, .. }
        | Call::GatherAccounts { target, .. }
        | Call::RemoveAccount { target, .. } => Some(target),
        _ => None,
    }
}

/// The secrets a call passes as arguments.
pub fn call_secrets(call: &Call) -> Vec<&SecretValue> {
    match call {
        Call::ChangeSecret { new_secret, .. } => vec![new_secret],
        Call::PushAccount { secret, .. } => vec![secret],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn case(text: &str) -> CaseFile {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn builds_calls_with_defaults_and_params_as_json() {
        let c = case("call = \"gather-accounts\"\n[args]\nparams = { include_system = false }\n");
        let Call::GatherAccounts { target, params } = c.to_call().unwrap() else {
            panic!()
        };
        assert_eq!(target.asset_id, "asset-1");
        assert_eq!(params, r#"{"include_system":false}"#);
        let c = case(
            "call = \"change-secret\"\n[args]\naccount = { username = \"alice\" }\nnew_secret = \"N3w!\"\n",
        );
        let Call::ChangeSecret {
            new_secret,
            account,
            ..
        } = c.to_call().unwrap()
        else {
            panic!()
        };
        assert_eq!(new_secret.name, NEW_SECRET_NAME);
        assert_eq!(new_secret.bytes.as_slice(), b"N3w!");
        assert_eq!(account.secret_kind, SecretKind::Password);
    }

    #[test]
    fn wrong_arguments_are_named() {
        let err = case("call = \"list-instances\"\n[args]\nregoin = \"x\"\n")
            .to_call()
            .unwrap_err();
        assert!(err.contains("regoin"), "{err}");
        assert!(
            case("call = \"nope\"")
                .to_call()
                .unwrap_err()
                .contains("unknown call")
        );
        assert!(toml::from_str::<CaseFile>("call = \"ping\"\n[limits]\nmemroy_mb = 1\n").is_err());
    }

    #[test]
    fn limits_override_the_kind_defaults() {
        let c = case(
            "call = \"ping\"\n[limits]\nmemory_mb = 3\ndeadline_ms = 250\nremote_commands = 2\n",
        );
        let l = c.limits(Kind::PlatformAutomation);
        assert_eq!(l.memory_bytes, 3 * 1024 * 1024);
        assert_eq!(l.deadline, Duration::from_millis(250));
        assert_eq!(l.remote_commands, 2);
        assert_eq!(
            l.remote_sessions,
            Kind::PlatformAutomation.default_limits().remote_sessions
        );
    }
}
