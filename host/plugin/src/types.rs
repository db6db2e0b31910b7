//! Plain Rust mirrors of the WIT records, so callers never touch generated bindings.
//!
//! Field names and meanings are the WIT's (`wit/*.wit`); read the docs there. The runtime
//! converts between these and the `bindgen!` types at the call boundary. The records are
//! defined once, in `portcullis-plugin-types`, which the Rust guest SDK uses too; [`Call`] and
//! [`Output`] (the host's view of an invocation) are the runtime's own.

use serde::{Deserialize, Serialize};

pub use portcullis_plugin_types::*;

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
