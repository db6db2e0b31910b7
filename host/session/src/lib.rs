//! The session engine: everything between "this user wants that account on that asset" and the
//! bytes flowing, shared by every front door (the SSH listener and the web terminal).
//!
//! - [`authorize`] asks the core's permission and ACL evaluation whether the connection may be
//!   made and loads what it needs (the vaulted credential, the zone's gateway, the command
//!   filters). Front doors never decide access themselves.
//! - [`target`] opens the SSH connection to the asset (through its gateway when it has one),
//!   checking the asset's host key against the one recorded on first use.
//! - [`live`] keeps the session row, its lifecycle and its end reason, and the registry of live
//!   sessions that kill tasks, idle and duration limits act on.
//! - [`pump`] moves bytes both ways with back-pressure, through the [`recorder`] (asciicast v2,
//!   flushed as it goes) and the command [`capture`] and [`filter`]; it honours kill and lock.
//! - [`screen`] is a terminal session's emulated screen, which auditors watch live.
//! - [`web`] keeps web terminal sessions running while their browser's socket is away, and
//!   lets it resume.
//! - [`ftp`] holds the file-transfer rules every SFTP front door shares (paths below the
//!   remote root, the action each operation needs, digests, the FTP log); [`files`] is the
//!   web file manager's SFTP client session on an asset.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod authorize;
pub mod capture;
pub mod files;
pub mod filter;
pub mod ftp;
pub mod live;
pub mod pump;
pub mod recorder;
pub mod review;
pub mod screen;
pub mod target;
pub mod web;
