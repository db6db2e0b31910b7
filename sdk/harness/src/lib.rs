//! The plugin test harness: runs any plugin component on the real engine with fake
//! capabilities, checks golden cases, runs the conformance suite, and implements the authoring
//! commands (`portcullis plugin new|build|test|conformance`).
//!
//! * [`remote::ScriptedRemote`] replays transcripts (`session.txt`, format in [`transcript`]).
//! * [`http::FixtureHttp`] answers HTTP from a fixture map (`http.jsonl`).
//! * [`sink::RecordingSink`] keeps every event (logs, reveals, caps).
//!
//! The formats, the API and the commands are documented in `sdk/docs/harness.md`.

pub mod builder;
pub mod case;
pub mod cli;
pub mod conformance;
pub mod golden;
pub mod http;
pub mod probe;
pub mod project;
pub mod remote;
pub mod runner;
pub mod scaffold;
pub mod sink;
pub mod transcript;
