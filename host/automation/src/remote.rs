//! The `remote` capability of platform-automation plugins on the session engine's SSH client.
//!
//! [`SshRemote`] turns a plugin's `target` (an asset id and an account id) into the same
//! [`TargetSpec`] a user's session gets — the vaulted credential, the zone's gateway hop, the
//! recorded host key, the platform's legacy-algorithm setting — and connects with
//! [`portcullis_session::target::connect`]. The runtime has already checked that the target is
//! one the invocation may open; this module only does the I/O.
//!
//! A session offers two ways to talk to the asset, as the WIT describes:
//! - `run`: one command per `exec` channel, stdout and stderr collected apart (each capped),
//!   the exit status (none when a signal ended the command), bounded by a timeout;
//! - `send`/`expect`: one interactive shell on a pseudo-terminal, opened on first use. A reader
//!   task buffers everything the shell prints; `expect` matches the patterns against the text
//!   read since the last match.

use async_trait::async_trait;
use portcullis_core::vault::Vault;
use portcullis_plugin::caps::{RemoteProvider, RemoteSession};
use portcullis_plugin::error::PluginError;
use portcullis_plugin::types::{CommandOutput, ExpectMatch, Protocol, Target};
use portcullis_session::authorize::{Denied, TargetTimeouts, automation_target};
use portcullis_session::target::{self, Credential, TargetConnection, TargetError, TargetSpec};
use portcullis_store::Store;
use russh::client::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};
use uuid::Uuid;

/// The longest connect timeout a plugin may ask for.
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// A command's timeout when the plugin passes zero.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes of stdout (and, separately, stderr) one command may return; the rest is read and
/// dropped. The runtime applies the invocation's output quota on top.
pub const DEFAULT_OUTPUT_CAP: usize = 16 * 1024 * 1024;
/// Unmatched shell output kept for `expect`; older bytes are dropped past it.
const MAX_PENDING: usize = 4 * 1024 * 1024;
/// How long the asset may take to grant the terminal and the shell.
const SHELL_SETUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Terminal type and size of the interactive shell: `dumb` keeps prompts free of colour and
/// cursor sequences, wide enough that commands do not wrap.
const TERM: (&str, u32, u32) = ("dumb", 500, 50);

/// Opens SSH sessions on assets for one invocation (see the module docs).
#[derive(Clone)]
pub struct SshRemote {
    store: Store,
    vault: Vault,
    timeouts: TargetTimeouts,
    /// The account to use, per asset, for targets that name none (the host's choice).
    defaults: HashMap<Uuid, Uuid>,
    /// Credentials that replace the vaulted one of an account.
    overrides: Arc<HashMap<Uuid, Credential>>,
    output_cap: usize,
}

impl SshRemote {
    /// A provider connecting with `timeouts` (the connect timeout is the default when a plugin
    /// passes zero; keepalives as configured).
    pub fn new(store: Store, vault: Vault, timeouts: TargetTimeouts) -> SshRemote {
        SshRemote {
            store,
            vault,
            timeouts,
            defaults: HashMap::new(),
            overrides: Arc::new(HashMap::new()),
            output_cap: DEFAULT_OUTPUT_CAP,
        }
    }

    /// Uses `account` for targets on `asset` that name no account.
    pub fn with_default_account(mut self, asset: Uuid, account: Uuid) -> SshRemote {
        self.defaults.insert(asset, account);
        self
    }

    /// Logs in as `account` with `credential` instead of its vaulted secret (a secret not
    /// stored yet, such as one being verified).
    pub fn with_credential(mut self, account: Uuid, credential: Credential) -> SshRemote {
        Arc::make_mut(&mut self.overrides).insert(account, credential);
        self
    }

    /// Caps stdout and stderr of each command at `bytes` each.
    pub fn with_output_cap(mut self, bytes: usize) -> SshRemote {
        self.output_cap = bytes;
        self
    }

    /// The connection description for `target`, with `connect` as its connect timeout (and
    /// its gateway hop's).
    pub async fn spec(
        &self,
        target: &Target,
        connect: Duration,
    ) -> Result<TargetSpec, PluginError> {
        if target.protocol != Protocol::Ssh {
            return Err(PluginError::InvalidInput(format!(
                "{:?} sessions are not supported by this host; use ssh",
                target.protocol
            )));
        }
        let asset = parse_id(&target.asset_id, "asset")?;
        let account = match &target.account_id {
            Some(a) => parse_id(a, "account")?,
            None => *self.defaults.get(&asset).ok_or_else(|| {
                PluginError::InvalidInput(format!(
                    "the target on asset {asset} names no account and the host chose none"
                ))
            })?,
        };
        let timeouts = TargetTimeouts {
            connect,
            keepalive: self.timeouts.keepalive,
        };
        let mut spec = automation_target(&self.store, &self.vault, asset, account, timeouts)
            .await
            .map_err(|e| denied_error(&e))?;
        if let Some(credential) = self.overrides.get(&account) {
            spec.credential = credential.clone();
        }
        Ok(spec)
    }

    /// Connects and logs in as described by `spec`, bounded by its connect timeout (the gateway
    /// hop included).
    pub async fn connect(&self, spec: &TargetSpec) -> Result<SshSession, PluginError> {
        let conn = match timeout(spec.connect_timeout, target::connect(&self.store, spec)).await {
            Ok(conn) => conn.map_err(|e| target_error(&e))?,
            Err(_) => return Err(PluginError::Timeout),
        };
        Ok(SshSession::new(
            conn,
            spec.asset_name.clone(),
            self.output_cap,
        ))
    }

    fn connect_timeout(&self, asked: Duration) -> Duration {
        if asked.is_zero() {
            self.timeouts.connect
        } else {
            asked.min(MAX_CONNECT_TIMEOUT)
        }
    }
}

#[async_trait]
impl RemoteProvider for SshRemote {
    async fn open(
        &self,
        invocation_id: &str,
        target: &Target,
        timeout: Duration,
    ) -> Result<Box<dyn RemoteSession>, PluginError> {
        let spec = self.spec(target, self.connect_timeout(timeout)).await?;
        let session = self.connect(&spec).await?;
        tracing::debug!(invocation = invocation_id, asset = %spec.asset_name,
            username = %spec.username, "automation session opened");
        Ok(Box::new(session))
    }
}

fn parse_id(text: &str, what: &str) -> Result<Uuid, PluginError> {
    Uuid::parse_str(text)
        .map_err(|_| PluginError::InvalidInput(format!("{what} id {text:?} is not a UUID")))
}

/// The plugin error for a failed connection: a refused credential is `unauthorized` (on the
/// asset itself; a gateway refusing its own account is the gateway being unusable), a host key
/// change or an unreachable host `unavailable` with the reason.
pub fn target_error(e: &TargetError) -> PluginError {
    match e {
        TargetError::AuthFailed { .. } | TargetError::Credential { .. } => {
            PluginError::Unauthorized(e.user_message())
        }
        TargetError::Timeout { .. } => PluginError::Timeout,
        TargetError::Store(_) => PluginError::Internal(e.user_message()),
        _ => PluginError::Unavailable(e.user_message()),
    }
}

/// The plugin error for a target the host cannot build.
pub fn denied_error(e: &Denied) -> PluginError {
    match e {
        Denied::AssetNotPermitted => PluginError::NotFound("no such asset".into()),
        Denied::AccountNotFound(a) => PluginError::NotFound(format!("no account {a} on the asset")),
        Denied::NoPort(_) | Denied::NoGateway(_) => PluginError::Unavailable(e.to_string()),
        Denied::Store(_) => PluginError::Internal(e.to_string()),
        other => PluginError::Denied(other.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

/// A logged-in SSH connection to one asset.
pub struct SshSession {
    conn: Option<TargetConnection>,
    asset: String,
    output_cap: usize,
    shell: Option<Shell>,
}

impl SshSession {
    fn new(conn: TargetConnection, asset: String, output_cap: usize) -> SshSession {
        SshSession {
            conn: Some(conn),
            asset,
            output_cap,
            shell: None,
        }
    }

    fn conn(&self) -> Result<&TargetConnection, PluginError> {
        match &self.conn {
            Some(c) if !c.is_closed() => Ok(c),
            _ => Err(PluginError::Unavailable(format!(
                "the connection to {} is closed",
                self.asset
            ))),
        }
    }

    fn gone(&self, what: &str, e: impl std::fmt::Display) -> PluginError {
        PluginError::Unavailable(format!("{}: {what}: {e}", self.asset))
    }

    async fn shell(&mut self) -> Result<&mut Shell, PluginError> {
        if self.shell.is_none() {
            let channel = self
                .conn()?
                .open_session()
                .await
                .map_err(|e| target_error(&e))?;
            let shell = Shell::open(channel)
                .await
                .map_err(|e| self.gone("the interactive shell could not start", e))?;
            self.shell = Some(shell);
        }
        self.shell
            .as_mut()
            .ok_or_else(|| PluginError::Internal("shell not open".into()))
    }
}

#[async_trait]
impl RemoteSession for SshSession {
    async fn run(
        &mut self,
        command: &str,
        timeout: Duration,
    ) -> Result<CommandOutput, PluginError> {
        let timeout = if timeout.is_zero() {
            DEFAULT_COMMAND_TIMEOUT
        } else {
            timeout
        };
        let deadline = Instant::now() + timeout;
        let conn = self.conn()?;
        let mut channel = conn.open_session().await.map_err(|e| target_error(&e))?;
        channel
            .exec(true, command)
            .await
            .map_err(|e| self.gone("the command could not be sent", e))?;
        let mut out = CommandOutput::default();
        let mut finished = false;
        loop {
            let msg = match timeout_at(deadline, channel.wait()).await {
                Ok(msg) => msg,
                Err(_) => {
                    let _ = channel.close().await;
                    return Err(PluginError::Timeout);
                }
            };
            match msg {
                Some(ChannelMsg::Data { data }) => {
                    push_capped(&mut out.stdout, &data, self.output_cap)
                }
                Some(ChannelMsg::ExtendedData { data, .. }) => {
                    push_capped(&mut out.stderr, &data, self.output_cap)
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    out.exit_code = Some(i32::try_from(exit_status).unwrap_or(i32::MAX));
                    finished = true;
                }
                Some(ChannelMsg::ExitSignal { .. }) => {
                    out.exit_code = None;
                    finished = true;
                }
                Some(ChannelMsg::Failure) => {
                    let _ = channel.close().await;
                    return Err(PluginError::Unavailable(format!(
                        "{} refused to run the command",
                        self.asset
                    )));
                }
                Some(ChannelMsg::Close) | None => break,
                Some(_) => {}
            }
        }
        if !finished && self.conn.as_ref().is_none_or(TargetConnection::is_closed) {
            return Err(PluginError::Unavailable(format!(
                "the connection to {} broke while the command ran",
                self.asset
            )));
        }
        Ok(out)
    }

    async fn send(&mut self, data: &[u8]) -> Result<(), PluginError> {
        let asset = self.asset.clone();
        let shell = self.shell().await?;
        if shell.state.closed() {
            return Err(PluginError::Unavailable(format!(
                "the shell on {asset} has ended"
            )));
        }
        shell
            .writer
            .data_bytes(bytes::Bytes::copy_from_slice(data))
            .await
            .map_err(|e| PluginError::Unavailable(format!("the shell on {asset}: {e}")))
    }

    async fn expect(
        &mut self,
        patterns: &[regex::Regex],
        timeout: Duration,
    ) -> Result<ExpectMatch, PluginError> {
        // The same syntax on bytes: output need not be UTF-8, and offsets stay exact.
        let compiled = patterns
            .iter()
            .map(|p| regex::bytes::Regex::new(p.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PluginError::InvalidInput(e.to_string()))?;
        let asset = self.asset.clone();
        let shell = self.shell().await?;
        shell.expect(&compiled, timeout, &asset).await
    }

    async fn close(&mut self) {
        if let Some(shell) = self.shell.take() {
            shell.close().await;
        }
        if let Some(conn) = self.conn.take() {
            conn.close().await;
        }
    }
}

impl Drop for SshSession {
    fn drop(&mut self) {
        if let Some(shell) = self.shell.take() {
            shell.reader.abort();
        }
        if let Some(conn) = self.conn.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(conn.close());
        }
    }
}

fn push_capped(into: &mut Vec<u8>, data: &[u8], cap: usize) {
    let room = cap.saturating_sub(into.len());
    into.extend_from_slice(&data[..data.len().min(room)]);
}

// ---------------------------------------------------------------------------------------------
// The interactive shell
// ---------------------------------------------------------------------------------------------

/// What the reader task shares with `expect`.
#[derive(Default)]
struct ShellBuf {
    /// Output not yet consumed by a match.
    pending: Vec<u8>,
    /// The shell's channel ended.
    closed: bool,
}

struct ShellState {
    buf: Mutex<ShellBuf>,
    /// Bumped on every change of `buf`, so `expect` can wait without missing one.
    changed: watch::Sender<u64>,
}

impl ShellState {
    fn closed(&self) -> bool {
        self.buf.lock().map(|b| b.closed).unwrap_or(true)
    }

    fn update(&self, f: impl FnOnce(&mut ShellBuf)) {
        if let Ok(mut b) = self.buf.lock() {
            f(&mut b);
        }
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

struct Shell {
    writer: ChannelWriteHalf<Msg>,
    state: Arc<ShellState>,
    reader: JoinHandle<()>,
}

impl Shell {
    /// Asks for a terminal and a shell, waits for the asset to grant both, then hands the
    /// channel's reading half to a task filling the buffer.
    async fn open(mut channel: russh::Channel<Msg>) -> Result<Shell, String> {
        let (term, cols, rows) = TERM;
        channel
            .request_pty(true, term, cols, rows, 0, 0, &[])
            .await
            .map_err(|e| e.to_string())?;
        channel
            .request_shell(true)
            .await
            .map_err(|e| e.to_string())?;
        let mut early = Vec::new();
        let mut replies = 0;
        let setup = async {
            while replies < 2 {
                match channel.wait().await {
                    Some(ChannelMsg::Success) => replies += 1,
                    Some(ChannelMsg::Failure) => {
                        return Err(if replies == 0 {
                            "the asset refused a terminal".to_owned()
                        } else {
                            "the asset refused a shell".to_owned()
                        });
                    }
                    Some(ChannelMsg::Data { data })
                    | Some(ChannelMsg::ExtendedData { data, .. }) => early.extend_from_slice(&data),
                    Some(ChannelMsg::Close) | Some(ChannelMsg::Eof) | None => {
                        return Err("the channel closed".to_owned());
                    }
                    Some(_) => {}
                }
            }
            Ok(())
        };
        match timeout(SHELL_SETUP_TIMEOUT, setup).await {
            Ok(r) => r?,
            Err(_) => return Err("no answer to the terminal request".to_owned()),
        }
        let (read, writer) = channel.split();
        let (changed, _) = watch::channel(0);
        let state = Arc::new(ShellState {
            buf: Mutex::new(ShellBuf {
                pending: early,
                closed: false,
            }),
            changed,
        });
        let reader = tokio::spawn(read_shell(read, state.clone()));
        Ok(Shell {
            writer,
            state,
            reader,
        })
    }

    async fn expect(
        &mut self,
        patterns: &[regex::bytes::Regex],
        timeout: Duration,
        asset: &str,
    ) -> Result<ExpectMatch, PluginError> {
        let deadline = Instant::now() + timeout;
        let mut changes = self.state.changed.subscribe();
        loop {
            changes.borrow_and_update();
            {
                let mut buf = self
                    .state
                    .buf
                    .lock()
                    .map_err(|_| PluginError::Internal("shell buffer poisoned".into()))?;
                if let Some((index, end)) = first_match(patterns, &buf.pending) {
                    let output: Vec<u8> = buf.pending.drain(..end).collect();
                    return Ok(ExpectMatch {
                        index: u32::try_from(index).unwrap_or(u32::MAX),
                        output,
                    });
                }
                if buf.closed {
                    return Err(PluginError::Unavailable(format!(
                        "the shell on {asset} ended before a pattern matched"
                    )));
                }
            }
            // A closed reader marks the buffer closed first: the next look reports it.
            if timeout_at(deadline, changes.changed()).await.is_err() {
                return Err(PluginError::Timeout);
            }
        }
    }

    async fn close(self) {
        let _ = self.writer.eof().await;
        let _ = self.writer.close().await;
        self.reader.abort();
    }
}

/// The pattern whose match ends first in `text` (what the asset printed first), the lowest
/// index on a tie, with the end offset of its match.
fn first_match(patterns: &[regex::bytes::Regex], text: &[u8]) -> Option<(usize, usize)> {
    patterns
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.find(text).map(|m| (i, m.end())))
        .min_by_key(|(i, end)| (*end, *i))
}

async fn read_shell(mut read: ChannelReadHalf, state: Arc<ShellState>) {
    loop {
        match read.wait().await {
            Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                state.update(|b| {
                    b.pending.extend_from_slice(&data);
                    if b.pending.len() > MAX_PENDING {
                        let cut = b.pending.len() - MAX_PENDING;
                        b.pending.drain(..cut);
                    }
                });
            }
            Some(ChannelMsg::Close) | Some(ChannelMsg::Eof) | None => {
                state.update(|b| b.closed = true);
                return;
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(p: &[&str]) -> Vec<regex::bytes::Regex> {
        p.iter()
            .map(|s| regex::bytes::Regex::new(s).unwrap())
            .collect()
    }

    #[test]
    fn the_earliest_match_wins_then_the_lowest_index() {
        let text = b"Last login\r\nPassword: $ ";
        assert_eq!(
            first_match(&res(&[r"\$ $", "(?i)password: "]), text),
            Some((1, 22))
        );
        assert_eq!(
            first_match(&res(&["login", "Last login"]), text),
            Some((0, 10))
        );
        assert_eq!(first_match(&res(&["nope"]), text), None);
    }

    #[test]
    fn output_is_capped() {
        let mut v = b"abc".to_vec();
        push_capped(&mut v, b"defgh", 5);
        assert_eq!(v, b"abcde");
        push_capped(&mut v, b"x", 5);
        assert_eq!(v, b"abcde");
    }

    #[test]
    fn credentials_refused_by_the_asset_are_unauthorized_but_not_on_the_gateway() {
        let auth = TargetError::AuthFailed {
            username: "root".into(),
            address: "10.0.0.1".into(),
        };
        assert!(matches!(target_error(&auth), PluginError::Unauthorized(_)));
        let gw = TargetError::Gateway {
            name: "gw".into(),
            source: Box::new(auth),
        };
        assert!(
            matches!(target_error(&gw), PluginError::Unavailable(m) if m.contains("gateway gw"))
        );
        let changed = TargetError::HostKeyChanged {
            asset: "web".into(),
            address: "10.0.0.1".into(),
            port: 22,
            expected: "SHA256:a".into(),
            presented: "SHA256:b".into(),
        };
        assert!(
            matches!(target_error(&changed), PluginError::Unavailable(m) if m.contains("host key"))
        );
    }
}
