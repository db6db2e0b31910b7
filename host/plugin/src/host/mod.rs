//! Host implementations of the WIT imports, one module per capability, all on
//! [`state::HostState`], the store data of one invocation.

pub mod config;
pub mod http;
pub mod log;
pub mod remote;
pub mod secrets;
pub mod state;
