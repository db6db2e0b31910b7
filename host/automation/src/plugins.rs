//! Which plugin runs a method: the seam between the automation service and the plugin
//! lifecycle (the registry of enabled plugins and their stored grants, configuration and
//! secret bindings).
//!
//! The service asks a [`PluginSource`] for the enabled plugin named by the platform's setting
//! and gets back everything one invocation needs ([`ResolvedPlugin`]); it never reads plugin
//! tables itself, so the lifecycle can change how plugins are stored and enabled without
//! touching automations.

use async_trait::async_trait;
use portcullis_plugin::caps::{Invocation, SecretValue};
use portcullis_plugin::error::InvokeError;
use portcullis_plugin::kind::{Kind, Limits};
use portcullis_plugin::types::{Call, Output};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// Runs calls of one loaded plugin version (the runtime's `LoadedPlugin`).
#[async_trait]
pub trait Invoker: Send + Sync {
    /// One call in a fresh instance.
    async fn call(&self, inv: Invocation, call: Call) -> Result<Output, InvokeError>;
}

/// Checks and completes a method's parameters against the manifest's schema; the error is
/// for the administrator.
pub type ParamsCheck = Arc<dyn Fn(&str, &Value) -> Result<Value, String> + Send + Sync>;

/// An enabled plugin as one org may use it.
#[derive(Clone)]
pub struct ResolvedPlugin {
    /// Manifest id.
    pub id: String,
    /// Version enabled.
    pub version: String,
    /// The world it implements.
    pub kind: Kind,
    /// The methods its manifest declares (`[[automation]] method`).
    pub methods: Vec<String>,
    /// Whether the administrator granted `remote`.
    pub remote: bool,
    /// Whether the administrator granted `secrets.reveal`.
    pub reveal: bool,
    /// Limits of one invocation.
    pub limits: Limits,
    /// Validated configuration (`config.get`).
    pub config: BTreeMap<String, String>,
    /// Secrets bound by the administrator, by manifest name.
    pub secrets: BTreeMap<String, SecretValue>,
    /// Validates parameters; none passes them through.
    pub params: Option<ParamsCheck>,
    /// Runs the calls.
    pub invoker: Arc<dyn Invoker>,
}

/// Why a plugin could not be looked up (not: why it is absent — that is `Ok(None)`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Finds enabled plugins.
#[async_trait]
pub trait PluginSource: Send + Sync {
    /// The enabled plugin `id` with its grant, configuration and secrets for `org`; `None`
    /// when no such plugin is installed and enabled.
    async fn plugin(&self, org: Uuid, id: &str) -> Result<Option<ResolvedPlugin>, SourceError>;
}
