//! The plain Rust records of the WIT package `portcullis:plugin`, one definition shared by
//! both sides: the host runtime (`portcullis-plugin`, which converts them to and from its
//! `bindgen!` types) and the Rust guest SDK (`portcullis-plugin-sdk`, whose export macros
//! convert them to and from wit-bindgen's). Plugin code, host code and native unit tests never
//! touch generated types, and a record changed in the WIT is changed here once.
//!
//! Field names and meanings are the WIT's (`wit/*.wit`); read the docs there. The crate
//! depends on serde alone: it is compiled into every Rust guest.

use serde::{Deserialize, Serialize};

/// `types.plugin-info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    pub id: String,
    pub version: String,
    pub display_name: String,
    pub features: Vec<String>,
}

/// `log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// `remote.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Ssh,
    Telnet,
    Winrm,
}

/// `remote.target`: ids are UUIDs in text form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    pub asset_id: String,
    pub account_id: Option<String>,
    pub protocol: Protocol,
}

/// `remote.command-output`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutput {
    pub exit_code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// `remote.expect-match`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectMatch {
    pub index: u32,
    pub output: Vec<u8>,
}

/// `automation.secret-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    Password,
    SshKey,
    Token,
    AccessKey,
    ApiKey,
}

/// `automation.account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub username: String,
    pub secret_kind: SecretKind,
}

/// `automation.push-options`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushOptions {
    pub home: Option<String>,
    pub shell: Option<String>,
    pub groups: Vec<String>,
    pub sudo: Option<String>,
    pub private_group: bool,
}

/// `automation.discovered-account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredAccount {
    pub username: String,
    pub uid: Option<u32>,
    pub home: Option<String>,
    pub shell: Option<String>,
    pub groups: Vec<String>,
    pub last_login: Option<String>,
    pub last_login_address: Option<String>,
    pub login_enabled: bool,
    pub privileged: bool,
}

/// `connector.region`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub id: String,
    pub name: String,
}

/// `connector.instance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub external_id: String,
    pub name: String,
    pub hostname: Option<String>,
    pub private_ips: Vec<String>,
    pub public_ips: Vec<String>,
    pub os_family: String,
    pub os_name: Option<String>,
    pub status: String,
    pub zone: Option<String>,
    pub network: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// `connector.list-request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRequest {
    pub region: String,
    pub page_token: Option<String>,
    pub page_size: u32,
}

/// `connector.instance-page`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancePage {
    pub instances: Vec<Instance>,
    pub next_page_token: Option<String>,
}

/// `auth.begin-request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeginRequest {
    pub callback_url: String,
    pub state: String,
    pub nonce: String,
    pub locale: String,
}

/// `auth.begin-response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeginResponse {
    pub redirect_url: String,
    pub stash: String,
}

/// `auth.complete-request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteRequest {
    pub params: Vec<(String, String)>,
    pub stash: String,
    pub callback_url: String,
}

/// `auth.identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub subject: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub groups: Vec<String>,
    pub attributes: Vec<(String, String)>,
}

/// `autofill-planner.field`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub selector: String,
    pub tag: String,
    pub kind: String,
    pub name: String,
    pub id: String,
    pub placeholder: String,
    pub label: String,
}

/// `autofill-planner.page`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub url: String,
    pub title: String,
    pub fields: Vec<Field>,
}

/// `autofill-planner.credential-part`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialPart {
    Username,
    Password,
    Otp,
}

/// `autofill-planner.step`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    Fill {
        selector: String,
        text: String,
    },
    FillCredential {
        selector: String,
        part: CredentialPart,
    },
    Click {
        selector: String,
    },
    WaitFor {
        selector: String,
        timeout_ms: u32,
    },
    Submit {
        selector: String,
    },
}

impl PluginInfo {
    /// The info with no optional features; add them with [`PluginInfo::feature`].
    pub fn new(id: &str, version: &str, display_name: &str) -> Self {
        PluginInfo {
            id: id.to_owned(),
            version: version.to_owned(),
            display_name: display_name.to_owned(),
            features: Vec::new(),
        }
    }

    /// Adds one free-form feature word (`"sudo"`, `"paging"`).
    pub fn feature(mut self, feature: &str) -> Self {
        self.features.push(feature.to_owned());
        self
    }
}

impl Target {
    /// An SSH target for an asset, with the host's choice of account.
    pub fn ssh(asset_id: &str) -> Self {
        Target {
            asset_id: asset_id.to_owned(),
            account_id: None,
            protocol: Protocol::Ssh,
        }
    }
}

impl CommandOutput {
    /// Exit code 0 with this standard output (mostly for scripted sessions in tests).
    pub fn success(stdout: &str) -> Self {
        CommandOutput {
            exit_code: Some(0),
            stdout: stdout.as_bytes().to_vec(),
            stderr: Vec::new(),
        }
    }

    /// A non-zero exit with this standard error (mostly for scripted sessions in tests).
    pub fn failure(exit_code: i32, stderr: &str) -> Self {
        CommandOutput {
            exit_code: Some(exit_code),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    /// Whether the command exited with status 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// Standard output as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl ExpectMatch {
    /// The text read as a string (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }
}
