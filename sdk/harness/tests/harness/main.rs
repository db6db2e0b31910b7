//! The harness on real components: golden cases and the conformance suite on the misbehave
//! guest, the Linux plugin and the example connector, and the authoring commands.

#![allow(clippy::unwrap_used)]

mod cli;
mod golden;
mod misbehave;
mod plugins;
mod support;
