//! The plugin runtime on the real engine with the misbehave guest: describe and calls,
//! containment (deadline, memory, traps, log floods), capabilities (remote, secrets,
//! HTTP), install checks (wrong component, world, imports, stale artifacts), concurrency.

mod basics;
mod caps;
mod contain;
mod http;
mod install;
mod load;
mod support;
