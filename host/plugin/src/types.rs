//! Plain Rust mirrors of the WIT records, so callers never touch generated bindings.
//!
//! Field names and meanings are the WIT's (`wit/*.wit`); read the docs there. The runtime
//! converts between these and the `bindgen!` types at the call boundary.

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

/// One call into a plugin: the exported function and its arguments. Secrets passed as
/// arguments (`new_secret`, `secret`) are given as [`SecretValue`](crate::caps::SecretValue)s;
/// the runtime turns them into `secret` handles the plugin cannot read without `reveal`.
#[derive(Debug, Clone)]
pub enum Call {
    /// Every world: `describe`.
    Describe,
    /// `automation.ping`.
    Ping { target: Target, params: String },
    /// `automation.verify-account`.
    VerifyAccount { target: Target, params: String },
    /// `automation.change-secret`.
    ChangeSecret {
        target: Target,
        account: Account,
        new_secret: crate::caps::SecretValue,
        params: String,
    },
    /// `automation.push-account`.
    PushAccount {
        target: Target,
        account: Account,
        secret: crate::caps::SecretValue,
        options: PushOptions,
        params: String,
    },
    /// `automation.gather-accounts`.
    GatherAccounts { target: Target, params: String },
    /// `automation.remove-account`.
    RemoveAccount {
        target: Target,
        username: String,
        params: String,
    },
    /// `connector.test-connection`.
    TestConnection,
    /// `connector.list-regions`.
    ListRegions,
    /// `connector.list-instances`.
    ListInstances(ListRequest),
    /// `auth.begin`.
    Begin(BeginRequest),
    /// `auth.complete`.
    Complete(CompleteRequest),
    /// `autofill-planner.plan`.
    Plan(Page),
}

impl Call {
    /// The WIT function name, for logs and audit records.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Describe => "describe",
            Call::Ping { .. } => "ping",
            Call::VerifyAccount { .. } => "verify-account",
            Call::ChangeSecret { .. } => "change-secret",
            Call::PushAccount { .. } => "push-account",
            Call::GatherAccounts { .. } => "gather-accounts",
            Call::RemoveAccount { .. } => "remove-account",
            Call::TestConnection => "test-connection",
            Call::ListRegions => "list-regions",
            Call::ListInstances(_) => "list-instances",
            Call::Begin(_) => "begin",
            Call::Complete(_) => "complete",
            Call::Plan(_) => "plan",
        }
    }
}

/// What a successful call returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Output {
    /// `describe`.
    Info(PluginInfo),
    /// Functions returning `result<_, plugin-error>`.
    Done,
    /// `gather-accounts`.
    Accounts(Vec<DiscoveredAccount>),
    /// `list-regions`.
    Regions(Vec<Region>),
    /// `list-instances`.
    Instances(InstancePage),
    /// `begin`.
    Begin(BeginResponse),
    /// `complete`.
    Identity(Identity),
    /// `plan`.
    Steps(Vec<Step>),
}
