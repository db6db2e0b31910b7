//! End-to-end tests: the built `portcullis` binary and the store against real SQLite and
//! PostgreSQL databases. Run through `tests/run.sh`, which starts the PostgreSQL cluster.

mod api;
mod cli;
mod fixture;
mod perms;
mod store;
mod support;
