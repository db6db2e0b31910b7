//! Persistence for Portcullis: one code path over SQLite and PostgreSQL.
//!
//! Queries go through sqlx's `Any` driver so that every repository function is written once and
//! runs on both databases; the schema is kept per database under `migrations/` because DDL
//! differs. The conventions that make this work (TEXT uuids, BIGINT microsecond instants,
//! TEXT JSON, `$n` placeholders, booleans read through [`codec::Flag`]) are described in
//! `ARCHITECTURE.md`.
//!
//! The store knows nothing about HTTP or SSH, and it makes no access decision: it loads the data
//! the core's permission engine needs and persists what the engine computed.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod accounts;
pub mod acls;
pub mod assets;
pub mod audits;
pub mod auth;
pub mod automations;
pub mod bulk;
pub mod codec;
pub mod dashboard;
mod db;
mod error;
pub mod favorites;
pub mod host_keys;
pub mod labels;
pub mod lookups;
mod migrate;
mod node_cache;
pub mod orgs;
mod page_generation;
pub mod perms;
pub mod platforms;
pub mod plugin_invocations;
pub mod plugins;
pub mod secrets;
pub mod seed;
pub mod settings;
mod sqlite_config;
pub mod terminal;
pub mod tickets;
pub mod user_sessions;
pub mod users;

pub use db::{Backend, Store};
pub use error::StoreError;
pub use migrate::MigrationStatus;
