//! What the embedding host gives one invocation: configuration, secrets, the remote and HTTP
//! capabilities, and where its events go.
//!
//! The runtime implements the WIT imports on top of these, enforcing grants and quotas; the
//! embedder (the server's automation service, or the test harness with fakes) only supplies
//! the real work. Keeping these as traits is what lets the harness run any plugin on the real
//! engine with scripted sessions and an HTTP fixture map.

use crate::error::PluginError;
use crate::kind::Limits;
use crate::types::{CommandOutput, ExpectMatch, LogLevel, Target};
use async_trait::async_trait;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// A secret's bytes, held by the host. `Debug` never prints them.
#[derive(Clone)]
pub struct SecretValue {
    /// The name the plugin sees (`secret.name()`).
    pub name: String,
    /// The bytes (a password, a private key in text form, a token).
    pub bytes: Zeroizing<Vec<u8>>,
    /// The public half of a key pair (`secret.public-part()`), e.g. an OpenSSH public key line.
    pub public_part: Option<String>,
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretValue")
            .field("name", &self.name)
            .field("bytes", &"<redacted>")
            .field("public_part", &self.public_part)
            .finish()
    }
}

/// One invocation's context. Built by the embedder for every call; the runtime keeps it in
/// the store, so nothing of it outlives the call.
#[derive(Clone)]
pub struct Invocation {
    /// Unique id of the call, for logs and audit.
    pub id: String,
    /// The plugin's manifest id.
    pub plugin_id: String,
    /// The plugin's version.
    pub plugin_version: String,
    /// Limits in force (the kind's defaults as adjusted by the administrator).
    pub limits: Limits,
    /// Configuration values (`config.get`), already validated against the manifest schema.
    pub config: BTreeMap<String, String>,
    /// Secrets bound by the administrator, by manifest name (`secrets.get`).
    pub secrets: BTreeMap<String, SecretValue>,
    /// Whether `secrets.reveal` is granted.
    pub reveal_allowed: bool,
    /// The HTTP grant (worlds with `wasi:http` only); none refuses every request.
    pub http: Option<HttpGrant>,
    /// The remote capability (`platform-automation` only); none refuses every `open`.
    pub remote: Option<RemoteGrant>,
    /// Where logs and audit events go.
    pub events: Arc<dyn EventSink>,
    /// Fixed clocks and seeded randomness (the test harness); none uses the real ones.
    pub determinism: Option<Determinism>,
    /// An instruction budget (the test harness); none runs without fuel metering.
    pub fuel: Option<u64>,
}

/// Fixed time and randomness for reproducible test runs.
#[derive(Debug, Clone, Copy)]
pub struct Determinism {
    /// What `wasi:clocks/wall-clock.now` answers, in seconds since the Unix epoch.
    pub wall_clock_secs: u64,
    /// Seed of every random source.
    pub seed: u64,
}

/// Outbound HTTP as granted by the administrator.
#[derive(Clone)]
pub struct HttpGrant {
    /// Allowed origins in the manifest syntax: `https://api.example.com`, `https://*.example.com`,
    /// `http://10.0.0.5:8080`; scheme and host must match, the port defaults to the scheme's.
    pub allow: Vec<String>,
    /// Private, loopback, link-local or metadata networks a request may reach after DNS
    /// resolution (they are refused unless listed here).
    pub allow_networks: Vec<ipnet::IpNet>,
    /// Does the requests once policy has passed.
    pub transport: Arc<dyn HttpTransport>,
    /// Connect and first-byte timeout of each request.
    pub request_timeout: Duration,
}

/// An outbound HTTP request that passed the policy, body fully read (and capped).
#[derive(Debug, Clone, Serialize)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    #[serde(skip)]
    pub body: Vec<u8>,
}

/// An HTTP response, body read up to the invocation's remaining response budget.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Performs HTTP requests for plugins. The real transport connects to `resolved` (the address
/// the policy checked, so DNS cannot be re-bound between check and connect) with TLS for the
/// URL's host name; the harness answers from a fixture map.
#[async_trait]
pub trait HttpTransport: Send + Sync {
    /// Sends `request` to `resolved` (none when the transport resolves nothing itself, as the
    /// harness's fixtures do). `max_body` caps the response body: read no more than one byte
    /// past it and return the body cut there, so the runtime can tell it was over budget (it
    /// refuses such a response and records the cap).
    async fn send(
        &self,
        request: HttpRequest,
        resolved: Option<SocketAddr>,
        max_body: u64,
        timeout: Duration,
    ) -> Result<HttpResponse, PluginError>;

    /// Whether the runtime must resolve and check addresses before calling [`Self::send`].
    /// True for the real network; the harness's fixture map answers false.
    fn resolves_addresses(&self) -> bool {
        true
    }
}

/// The remote capability as granted to one invocation.
#[derive(Clone)]
pub struct RemoteGrant {
    /// The only targets the plugin may open (the host passed them in the call's arguments).
    pub allowed: Vec<Target>,
    /// Opens sessions.
    pub provider: Arc<dyn RemoteProvider>,
}

/// Opens logged-in sessions on assets: the server implements it with the session engine's
/// SSH client (gateways, host-key checks); the harness replays transcripts.
#[async_trait]
pub trait RemoteProvider: Send + Sync {
    /// Connects to `target` and logs in. The runtime has already checked that the target is
    /// allowed and the session quota is not used up.
    async fn open(
        &self,
        invocation_id: &str,
        target: &Target,
        timeout: Duration,
    ) -> Result<Box<dyn RemoteSession>, PluginError>;
}

/// A logged-in session. The runtime audits every call (through [`EventSink`]) and caps the
/// output it hands to the plugin; implementations just do the I/O.
#[async_trait]
pub trait RemoteSession: Send {
    /// Runs one command in its own exec channel.
    async fn run(&mut self, command: &str, timeout: Duration)
    -> Result<CommandOutput, PluginError>;
    /// Writes to the interactive shell (opened on first use).
    async fn send(&mut self, data: &[u8]) -> Result<(), PluginError>;
    /// Reads the interactive shell until a pattern matches the text read since the last match.
    async fn expect(
        &mut self,
        patterns: &[regex::Regex],
        timeout: Duration,
    ) -> Result<ExpectMatch, PluginError>;
    /// Closes the connection.
    async fn close(&mut self);
}

/// Something that happened in an invocation, for the log, the audit trail and the harness.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A `log.emit` line or a line of guest stdout/stderr.
    Log {
        level: LogLevel,
        message: String,
        fields: Vec<(String, String)>,
    },
    /// Lines dropped past the log quota (sent once, at the end).
    LogsDropped { lines: u64 },
    /// A secret's bytes were revealed to the plugin.
    SecretRevealed { name: String },
    /// An HTTP request was sent (`status` none when it failed) or refused (`denied` set).
    Http {
        method: String,
        url: String,
        status: Option<u16>,
        denied: Option<String>,
    },
    /// A remote session was opened (or refused).
    RemoteOpen {
        target: Target,
        error: Option<String>,
    },
    /// A remote command ran; `command` as given (commands never hold secrets: secrets go
    /// through `send-secret`).
    RemoteCommand {
        command: String,
        exit_code: Option<i32>,
        error: Option<String>,
    },
    /// Bytes written to a remote shell; `<secret:NAME>` stands for a secret.
    RemoteSend { data: String },
    /// A quota or output cap was hit.
    Capped { what: String },
}

/// Receives an invocation's events in order. Must not block: the server forwards them to a
/// channel, the harness appends them to a vector.
pub trait EventSink: Send + Sync {
    /// Records one event.
    fn record(&self, invocation_id: &str, event: Event);
}
