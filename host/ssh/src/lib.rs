//! The SSH gateway: any SSH client in, the session engine out.
//!
//! - [`hostkey`] keeps the gateway's own host keys (ed25519 and RSA) in the data directory.
//! - [`server`] is the russh server: user authentication (password, public key, TOTP through
//!   keyboard-interactive), and the channels (pty shell, exec, `sftp` subsystem,
//!   `direct-tcpip`).
//! - [`target_name`] parses direct-connect login names (`user@account@asset`).
//! - [`menu`] is the interactive asset menu shown to a pty session without a direct target;
//!   `pick` lets a terminal user choose when a direct name matches several assets.
//! - [`sftp`] presents the permitted tree as a virtual file system and proxies to the assets.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod connect;
pub mod hostkey;
pub mod line;
pub mod menu;
mod pick;
pub mod server;
pub mod sftp;
pub mod target_name;
