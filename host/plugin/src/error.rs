//! Errors: what a plugin answers ([`PluginError`], the WIT `plugin-error`), what an invocation
//! can end with ([`InvokeError`]), and why a component cannot be installed or loaded
//! ([`LoadError`]).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The WIT `types.plugin-error`: a failure the plugin (or a host capability on its behalf)
/// reports in an orderly way. The strings are for administrators and never hold secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", content = "message", rename_all = "snake_case")]
pub enum PluginError {
    /// Wrong arguments or configuration.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A capability or the remote side refused.
    #[error("denied: {0}")]
    Denied(String),
    /// Credentials were rejected.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The named object does not exist remotely.
    #[error("not found: {0}")]
    NotFound(String),
    /// The remote side could not be reached or failed; worth retrying.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A deadline passed.
    #[error("timed out")]
    Timeout,
    /// Anything else.
    #[error("internal error: {0}")]
    Internal(String),
}

impl PluginError {
    /// A short machine-readable code (`invalid_input`, `denied`, ...), used in API answers and
    /// audit records.
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::InvalidInput(_) => "invalid_input",
            PluginError::Denied(_) => "denied",
            PluginError::Unauthorized(_) => "unauthorized",
            PluginError::NotFound(_) => "not_found",
            PluginError::Unavailable(_) => "unavailable",
            PluginError::Timeout => "timeout",
            PluginError::Internal(_) => "internal",
        }
    }
}

/// How an invocation failed. The plugin's own answer is [`InvokeError::Plugin`]; every other
/// case is the host stopping or refusing the call. The store of a failed invocation is dropped,
/// so no state of it survives.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    /// The plugin returned an error.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The guest trapped (a panic, `unreachable`, an out-of-bounds access, a failed host call).
    /// The text is wasmtime's diagnostic, with the guest backtrace when there is one.
    #[error("the plugin crashed: {0}")]
    Trap(String),
    /// The invocation ran past its deadline (CPU or waiting on host I/O) and was stopped.
    #[error("the plugin did not finish within {0:?} and was stopped")]
    Deadline(Duration),
    /// The guest tried to grow its memory past the limit.
    #[error("the plugin tried to use more than {limit} bytes of memory and was stopped")]
    MemoryLimit {
        /// The limit in force.
        limit: u64,
    },
    /// The deterministic instruction budget (test harness only) ran out.
    #[error("the plugin used up its fuel budget of {0}")]
    Fuel(u64),
    /// Too many invocations are running; try again later.
    #[error("too many plugin invocations are running")]
    Busy,
    /// The plugin answered something the host cannot accept (for example a `describe` that
    /// does not match its manifest, or an oversized answer).
    #[error("the plugin's answer was refused: {0}")]
    BadAnswer(String),
    /// The call does not exist in the plugin's world (a host bug or a wrong plugin binding).
    #[error("{call} is not a function of the {kind} world")]
    WrongKind {
        /// The call that was attempted.
        call: &'static str,
        /// The plugin's kind.
        kind: crate::kind::Kind,
    },
    /// Instantiation failed (e.g. the pooling allocator is out of slots).
    #[error("the plugin could not be started: {0}")]
    Instantiate(String),
}

impl InvokeError {
    /// A short machine-readable code for API answers and audit records.
    pub fn code(&self) -> &'static str {
        match self {
            InvokeError::Plugin(e) => e.code(),
            InvokeError::Trap(_) => "trap",
            InvokeError::Deadline(_) => "deadline",
            InvokeError::MemoryLimit { .. } => "memory_limit",
            InvokeError::Fuel(_) => "fuel",
            InvokeError::Busy => "busy",
            InvokeError::BadAnswer(_) => "bad_answer",
            InvokeError::WrongKind { .. } => "wrong_kind",
            InvokeError::Instantiate(_) => "instantiate",
        }
    }
}

/// Why a component cannot be installed or loaded. Every case names the fix for the
/// administrator.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a WebAssembly component (a core module, or not wasm at all).
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// The component does not export the interface its declared kind requires.
    #[error("the component does not implement the {kind} world: {detail}")]
    WrongWorld {
        /// The declared kind.
        kind: crate::kind::Kind,
        /// What is missing or mismatched.
        detail: String,
    },
    /// The component imports interfaces its world does not offer.
    #[error("the component imports {} outside the {kind} world", imports.join(", "))]
    ForbiddenImports {
        /// The declared kind.
        kind: crate::kind::Kind,
        /// The offending import names.
        imports: Vec<String>,
    },
    /// A precompiled artifact was made by another engine build or configuration; recompile it
    /// from the component.
    #[error("the precompiled artifact does not match this engine: {0}")]
    StaleArtifact(String),
    /// Compilation or engine setup failed.
    #[error("compilation failed: {0}")]
    Compile(String),
    /// Reading or writing an artifact failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}
