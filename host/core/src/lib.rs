//! The domain core of Portcullis.
//!
//! Everything here is pure: domain types, the permission engine, ACL evaluation and the
//! cryptography that protects secrets at rest. No I/O, no async, no database — the store loads
//! data and hands it to these functions, and listeners ask these functions before they act.
//! That keeps every access decision in one place, testable without a server.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod acl;
pub mod builtin;
pub mod cast;
pub mod password;
pub mod perm;
pub mod secret;
pub mod vault;
