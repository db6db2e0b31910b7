//! The host's imports behind traits, one per world's import set.
//!
//! Plugin functions receive the host as `&dyn RemoteHost` (automation), `&dyn HttpHost`
//! (connector, auth) or `&dyn Host` (autofill). Inside the guest the implementation calls the
//! real WIT imports; in native unit tests [`testing::ScriptedHost`](crate::testing::ScriptedHost)
//! stands in for it. The split follows the worlds on purpose: a component may import only what
//! its world offers, and a trait object links every method of its trait, so an automation
//! plugin must never see the HTTP methods (the host would refuse the component).

use std::time::Duration;

use crate::http::{Request, Response};
use crate::{CommandOutput, Error, ExpectMatch, LogLevel, Secret, SecretRef, Target};

/// Logging and configuration: what every world imports (`log`, `config`).
pub trait Host {
    /// Appends one structured line to the host's log and the invocation's log. Never log
    /// secrets: the host cannot tell which strings are secret.
    fn log(&self, level: LogLevel, message: &str, fields: &[(&str, &str)]);

    /// The administrator's value for `key` (validated against the manifest's `[config]`),
    /// or `None` when unset and without default.
    fn config(&self, key: &str) -> Option<String>;

    /// Every configured key and value, sorted by key.
    fn config_all(&self) -> Vec<(String, String)>;

    /// [`Host::config`], but a missing key is [`Error::InvalidInput`] naming the key.
    fn require_config(&self, key: &str) -> Result<String, Error> {
        self.config(key)
            .ok_or_else(|| Error::invalid_input(format!("the configuration has no `{key}`")))
    }

    /// `log(Debug, ..)` without fields.
    fn debug(&self, message: &str) {
        self.log(LogLevel::Debug, message, &[]);
    }

    /// `log(Info, ..)` without fields.
    fn info(&self, message: &str) {
        self.log(LogLevel::Info, message, &[]);
    }

    /// `log(Warn, ..)` without fields.
    fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message, &[]);
    }
}

/// Secrets declared in the manifest (`secrets`), for the worlds that import them.
pub trait SecretsHost: Host {
    /// A handle to the secret bound to the manifest name `name`. Errors: `Denied` when the
    /// manifest does not declare it or the grant left it out, `NotFound` when unbound.
    fn secret(&self, name: &str) -> Result<Secret, Error>;

    /// The secret's bytes, audited by the host. Prefer
    /// [`Session::send_secret`] where it suffices. Errors: `Denied` without the `reveal` grant.
    fn reveal(&self, secret: SecretRef<'_>) -> Result<Vec<u8>, Error>;

    /// [`SecretsHost::reveal`] as UTF-8 text (`Internal` when it is not text).
    fn reveal_text(&self, secret: SecretRef<'_>) -> Result<String, Error> {
        Ok(String::from_utf8(self.reveal(secret)?)?)
    }
}

/// Remote sessions (`remote`): the `platform-automation` world.
pub trait RemoteHost: SecretsHost {
    /// Connects to `target` and logs in with the account the host resolves for it.
    /// Errors: `Denied` (not a target of this invocation, session quota), `Unauthorized`
    /// (credential refused), `Unavailable` (unreachable, host key changed), `Timeout`.
    fn open(&self, target: &Target, timeout: Duration) -> Result<Box<dyn Session>, Error>;
}

/// Outbound HTTP (`wasi:http/outgoing-handler`): the `cloud-connector` and `auth-provider`
/// worlds. The host only lets requests through to the granted allowlist.
pub trait HttpHost: SecretsHost {
    /// Sends one request and reads the whole response. A response with an error status is
    /// still `Ok`: see [`Response::error_for_status`].
    fn send(&self, request: &Request) -> Result<Response, Error>;

    /// `GET url` with these headers.
    fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Response, Error> {
        self.send(&Request::get(url).headers(headers))
    }

    /// `POST url` with these headers and body.
    fn post(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response, Error> {
        self.send(&Request::post(url, body).headers(headers))
    }
}

/// A logged-in connection to one asset (`remote.session`). Dropping it closes the connection.
pub trait Session {
    /// Runs one command in its own channel (no terminal) and waits for it to finish or for
    /// `timeout`. A non-zero exit is `Ok` with that exit code. Errors: `Timeout`,
    /// `Unavailable` (connection broke), `Denied` (command quota used up).
    fn run(&mut self, command: &str, timeout: Duration) -> Result<CommandOutput, Error>;

    /// Writes bytes to the interactive shell (a pseudo-terminal opened on first use).
    fn send(&mut self, data: &[u8]) -> Result<(), Error>;

    /// Writes a secret's bytes to the interactive shell, then a newline when `newline`.
    /// The audit records `<secret:NAME>` instead of the bytes.
    fn send_secret(&mut self, secret: SecretRef<'_>, newline: bool) -> Result<(), Error>;

    /// Reads the interactive shell until one of `patterns` (Rust `regex` syntax) matches
    /// the text read since the last match, or `timeout` passes. Errors: `InvalidInput` (bad
    /// pattern), `Timeout` (nothing matched), `Unavailable` (the shell closed first).
    fn expect(&mut self, patterns: &[&str], timeout: Duration) -> Result<ExpectMatch, Error>;

    /// [`Session::send`] of a text line: `line` and `"\n"`.
    fn send_line(&mut self, line: &str) -> Result<(), Error> {
        let mut data = Vec::with_capacity(line.len() + 1);
        data.extend_from_slice(line.as_bytes());
        data.push(b'\n');
        self.send(&data)
    }
}
