//! The plugin runtime.
//!
//! Plugins are WebAssembly components implementing one world of the `portcullis:plugin` WIT
//! package (`wit/` at the repository root): auth providers, cloud connectors, platform
//! automations and web autofill. This crate owns everything that touches wasmtime, so the rest
//! of the host sees plain Rust types ([`types`]) and capability traits ([`caps`]) and never
//! recompiles the engine when it changes.
//!
//! The model (see `ARCHITECTURE.md`, "Plugins"): one engine per process, a linker per world,
//! an `InstancePre` per loaded plugin version, and a fresh store and instance for every
//! invocation, with memory limits, an epoch deadline and per-kind quotas. Whatever a plugin
//! does — trap, loop, allocate without bound, flood its log, call a host it was not granted —
//! ends as an [`error::InvokeError`] for the caller, never as a crash of the host.

pub mod bindings;
pub mod bundle;
pub mod caps;
pub mod convert;
pub mod engine;
pub mod error;
pub mod host;
pub mod kind;
pub mod manifest;
pub mod origins;
pub mod plugin;
pub mod registry;
pub mod signing;
pub mod transport;
pub mod types;
