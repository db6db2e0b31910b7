//! `remote`: sessions on managed assets, through the embedder's [`RemoteProvider`].
//!
//! The runtime enforces what the provider need not: only the targets the host passed to the
//! call, the session and command quotas, the output byte quota (output beyond it is cut and
//! a [`Event::Capped`] recorded), host-side regex compilation with a size limit, and the
//! audit of every command and write (secret bytes shown as `<secret:NAME>`).
//!
//! [`RemoteProvider`]: crate::caps::RemoteProvider

use crate::bindings::automation::portcullis::plugin::remote;
use crate::bindings::automation::portcullis::plugin::types::PluginError as WitError;
use crate::caps::{Event, RemoteSession};
use crate::convert::{
    command_output_to_wit, expect_match_to_wit, plugin_error_to_wit, target_from_wit,
};
use crate::host::secrets::SecretHandle;
use crate::host::state::HostState;
use crate::types::Target;
use std::time::Duration;
use wasmtime::component::Resource;

/// Compiled size limit of one `expect` pattern: plenty for prompts, refuses regex bombs.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Most patterns one `expect` may pass.
const MAX_PATTERNS: usize = 64;

/// What a `session` resource stands for in the table.
pub struct SessionHandle {
    session: Box<dyn RemoteSession>,
    target: Target,
}

impl HostState {
    fn record(&self, event: Event) {
        self.events.record(&self.invocation_id, event);
    }

    /// Takes one unit of the command quota, or says why not.
    fn take_command(&mut self) -> Result<(), WitError> {
        if self.remote_usage.commands >= self.limits.remote_commands {
            self.record(Event::Capped {
                what: format!(
                    "remote commands: quota of {} used up",
                    self.limits.remote_commands
                ),
            });
            return Err(WitError::Denied(format!(
                "the quota of {} remote commands per invocation is used up",
                self.limits.remote_commands
            )));
        }
        self.remote_usage.commands += 1;
        Ok(())
    }

    /// Cuts `bytes` to what is left of the output quota, recording the cut.
    fn cap_output(&mut self, mut bytes: Vec<u8>, what: &str) -> Vec<u8> {
        let left = self
            .limits
            .remote_output_bytes
            .saturating_sub(self.remote_usage.output_bytes);
        if bytes.len() as u64 > left {
            let keep = usize::try_from(left).unwrap_or(usize::MAX);
            let cut = bytes.len() - keep;
            bytes.truncate(keep);
            self.record(Event::Capped {
                what: format!(
                    "remote output: {cut} bytes of {what} cut at the quota of {} bytes",
                    self.limits.remote_output_bytes
                ),
            });
        }
        self.remote_usage.output_bytes += bytes.len() as u64;
        bytes
    }
}

fn timeout(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

impl remote::Host for HostState {
    async fn open(
        &mut self,
        target: remote::Target,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<Resource<SessionHandle>, WitError>> {
        let target = target_from_wit(target);
        let refuse = |this: &Self, why: String| {
            this.record(Event::RemoteOpen {
                target: target.clone(),
                error: Some(why.clone()),
            });
            Ok(Err(WitError::Denied(why)))
        };
        let Some(grant) = self.remote.clone() else {
            return refuse(
                self,
                "remote sessions are not granted to this invocation".into(),
            );
        };
        if !grant.allowed.contains(&target) {
            return refuse(
                self,
                format!(
                    "asset {} (account {}) is not a target of this call",
                    target.asset_id,
                    target.account_id.as_deref().unwrap_or("default")
                ),
            );
        }
        if self.remote_usage.sessions >= self.limits.remote_sessions {
            self.record(Event::Capped {
                what: format!(
                    "remote sessions: quota of {} used up",
                    self.limits.remote_sessions
                ),
            });
            return refuse(
                self,
                format!(
                    "the quota of {} remote sessions per invocation is used up",
                    self.limits.remote_sessions
                ),
            );
        }
        self.remote_usage.sessions += 1;
        match grant
            .provider
            .open(&self.invocation_id, &target, timeout(timeout_ms))
            .await
        {
            Ok(session) => {
                self.record(Event::RemoteOpen {
                    target: target.clone(),
                    error: None,
                });
                Ok(Ok(self.table.push(SessionHandle { session, target })?))
            }
            Err(e) => {
                self.record(Event::RemoteOpen {
                    target,
                    error: Some(e.to_string()),
                });
                Ok(Err(plugin_error_to_wit(e)))
            }
        }
    }
}

impl remote::HostSession for HostState {
    async fn run(
        &mut self,
        s: Resource<SessionHandle>,
        command: String,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<remote::CommandOutput, WitError>> {
        if let Err(e) = self.take_command() {
            self.record(Event::RemoteCommand {
                command,
                exit_code: None,
                error: Some("command quota used up".into()),
            });
            return Ok(Err(e));
        }
        let handle = self.table.get_mut(&s)?;
        let result = handle.session.run(&command, timeout(timeout_ms)).await;
        match result {
            Ok(mut out) => {
                self.record(Event::RemoteCommand {
                    command,
                    exit_code: out.exit_code,
                    error: None,
                });
                out.stdout = self.cap_output(std::mem::take(&mut out.stdout), "stdout");
                out.stderr = self.cap_output(std::mem::take(&mut out.stderr), "stderr");
                Ok(Ok(command_output_to_wit(out)))
            }
            Err(e) => {
                self.record(Event::RemoteCommand {
                    command,
                    exit_code: None,
                    error: Some(e.to_string()),
                });
                Ok(Err(plugin_error_to_wit(e)))
            }
        }
    }

    async fn send(
        &mut self,
        s: Resource<SessionHandle>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        if let Err(e) = self.take_command() {
            return Ok(Err(e));
        }
        self.record(Event::RemoteSend {
            data: String::from_utf8_lossy(&data).into_owned(),
        });
        let handle = self.table.get_mut(&s)?;
        Ok(handle
            .session
            .send(&data)
            .await
            .map_err(plugin_error_to_wit))
    }

    async fn send_secret(
        &mut self,
        s: Resource<SessionHandle>,
        secret: Resource<SecretHandle>,
        append_newline: bool,
    ) -> wasmtime::Result<Result<(), WitError>> {
        if let Err(e) = self.take_command() {
            return Ok(Err(e));
        }
        let value = &self.table.get(&secret)?.value;
        let mut bytes = zeroize::Zeroizing::new(value.bytes.to_vec());
        let mut shown = format!("<secret:{}>", value.name);
        if append_newline {
            bytes.push(b'\n');
            shown.push('\n');
        }
        self.record(Event::RemoteSend { data: shown });
        let handle = self.table.get_mut(&s)?;
        Ok(handle
            .session
            .send(&bytes)
            .await
            .map_err(plugin_error_to_wit))
    }

    async fn expect(
        &mut self,
        s: Resource<SessionHandle>,
        patterns: Vec<String>,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<remote::ExpectMatch, WitError>> {
        if patterns.is_empty() || patterns.len() > MAX_PATTERNS {
            return Ok(Err(WitError::InvalidInput(format!(
                "expect needs 1 to {MAX_PATTERNS} patterns, got {}",
                patterns.len()
            ))));
        }
        let mut regexes = Vec::with_capacity(patterns.len());
        for p in &patterns {
            match regex::RegexBuilder::new(p)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
            {
                Ok(r) => regexes.push(r),
                Err(e) => {
                    return Ok(Err(WitError::InvalidInput(format!(
                        "bad expect pattern {p:?}: {e}"
                    ))));
                }
            }
        }
        let handle = self.table.get_mut(&s)?;
        match handle.session.expect(&regexes, timeout(timeout_ms)).await {
            Ok(mut m) => {
                m.output = self.cap_output(std::mem::take(&mut m.output), "expect output");
                Ok(Ok(expect_match_to_wit(m)))
            }
            Err(e) => Ok(Err(plugin_error_to_wit(e))),
        }
    }

    async fn drop(&mut self, s: Resource<SessionHandle>) -> wasmtime::Result<()> {
        let mut handle = self.table.delete(s)?;
        handle.session.close().await;
        tracing::debug!(asset = %handle.target.asset_id, "plugin closed a remote session");
        Ok(())
    }
}
