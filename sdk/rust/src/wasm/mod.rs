//! The guest side: generated bindings, the host traits over the real imports, the export
//! adapters the macros name, and the `wasi:http` client. Compiled only for wasm32.

#[allow(unsafe_code)]
pub mod bindings;
mod convert;
pub mod exports;
pub mod http;

use std::time::Duration;

use bindings::portcullis::plugin::{config, log, remote, secrets};

use crate::{
    CommandOutput, Error, ExpectMatch, Host, HttpHost, LogLevel, RemoteHost, Secret, SecretRef,
    SecretsHost, Session, Target,
};

/// The host of a running component: every method calls its WIT import. A unit struct, so
/// the adapters pass `&WasmHost` as whichever trait object their world allows.
pub struct WasmHost;

impl Host for WasmHost {
    fn log(&self, level: LogLevel, message: &str, fields: &[(&str, &str)]) {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        log::emit(level.into(), message, &fields);
    }

    fn config(&self, key: &str) -> Option<String> {
        config::get(key)
    }

    fn config_all(&self) -> Vec<(String, String)> {
        config::get_all()
    }
}

impl SecretsHost for WasmHost {
    fn secret(&self, name: &str) -> Result<Secret, Error> {
        Ok(Secret(secrets::get(name)?))
    }

    fn reveal(&self, secret: SecretRef<'_>) -> Result<Vec<u8>, Error> {
        Ok(secrets::reveal(secret.0)?)
    }
}

impl RemoteHost for WasmHost {
    fn open(&self, target: &Target, timeout: Duration) -> Result<Box<dyn Session>, Error> {
        let session = remote::open(&target.clone().into(), millis(timeout))?;
        Ok(Box::new(WasmSession(session)))
    }
}

impl HttpHost for WasmHost {
    fn send(&self, request: &crate::http::Request) -> Result<crate::http::Response, Error> {
        http::send(request)
    }
}

/// `remote.session` behind [`Session`].
struct WasmSession(remote::Session);

impl Session for WasmSession {
    fn run(&mut self, command: &str, timeout: Duration) -> Result<CommandOutput, Error> {
        Ok(self.0.run(command, millis(timeout))?.into())
    }

    fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        Ok(self.0.send(data)?)
    }

    fn send_secret(&mut self, secret: SecretRef<'_>, newline: bool) -> Result<(), Error> {
        Ok(self.0.send_secret(secret.0, newline)?)
    }

    fn expect(&mut self, patterns: &[&str], timeout: Duration) -> Result<ExpectMatch, Error> {
        let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        Ok(self.0.expect(&patterns, millis(timeout))?.into())
    }
}

/// The WIT's millisecond timeouts: saturating, so `Duration::MAX` means "the longest".
fn millis(timeout: Duration) -> u32 {
    u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX)
}
