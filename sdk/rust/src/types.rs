//! Plain Rust types for the WIT records, the same on wasm and natively.
//!
//! Field names and meanings are the WIT's (`wit/*.wit`); read the docs there. The export
//! macros convert between these and the generated bindings at the call boundary, so plugin
//! code (and its native unit tests) never touches generated types. They are defined once, in
//! `portcullis-plugin-types`, which the host runtime uses too.

pub use portcullis_plugin_types::*;
