//! End-to-end tests: the built `portcullis` binary and the store against real SQLite and
//! PostgreSQL databases. Run through `tests/run.sh`, which starts the PostgreSQL cluster.

mod api;
mod api_accounts;
mod api_acls;
mod api_assets;
mod api_audits;
mod api_forced_mfa;
mod api_labels;
mod api_labels_wired;
mod api_login_review;
mod api_mfa;
mod api_platforms;
mod api_plugins;
mod api_terminal;
mod api_tickets;
mod api_transfer;
mod api_users;
mod authz;
mod automation;
mod cli;
mod client;
mod compat;
mod fixture;
mod gateway;
mod gateway_review;
mod gateway_sftp;
mod perms;
mod sshd;
mod store;
mod support;
mod target;
mod web_audit;
mod web_files;
mod web_terminal;
mod web_ui;
mod web_workbench;
