//! Platform automations through plugins: resolve the asset and accounts, open remote sessions
//! with the session engine, run a method, record the result.
//!
//! - [`remote`]: the `remote` capability ([`remote::SshRemote`]) on the session engine's SSH
//!   client — gateways, recorded host keys, vaulted credentials.
//! - [`events`]: the invocation's event log, kept in memory and redacted.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod events;
pub mod method;
pub mod plugins;
pub mod remote;
pub mod secret;
pub mod service;

pub use method::{AutomationRequest, Method};
pub use service::{Actor, AutomationError, AutomationService, ExecutionResult};
