//! The harness on real components: golden cases and the conformance suite (see modules).
