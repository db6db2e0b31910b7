//! [`Error`]: the plugin's side of WIT `types.plugin-error`.
//!
//! Every exported function returns `Result<_, Error>`, and every host call returns one, so
//! `?` carries a host's answer (an `Unauthorized` from `open`, a `Timeout` from `expect`)
//! straight back to the caller. Pick the case that names the cause: the host maps it to an
//! HTTP status and an audit outcome. Messages are logged and shown: never put a secret in one.

use std::fmt::Display;

/// Why a call failed; one case per `plugin-error` case, same meanings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The arguments or the plugin's configuration are wrong (HTTP 400).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The host or the remote side refused: a capability that was not granted, a permission
    /// error on the target (HTTP 403).
    #[error("denied: {0}")]
    Denied(String),
    /// Credentials were rejected by the remote side (HTTP 401, failed verification).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The object the call names does not exist remotely (HTTP 404).
    #[error("not found: {0}")]
    NotFound(String),
    /// The remote side could not be reached or answered with an error; worth retrying.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A deadline passed.
    #[error("timed out")]
    Timeout,
    /// Anything else: a bug, or an answer the plugin cannot parse (HTTP 500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// [`Error::InvalidInput`] from anything printable.
    pub fn invalid_input(message: impl Display) -> Self {
        Error::InvalidInput(message.to_string())
    }

    /// [`Error::Denied`] from anything printable.
    pub fn denied(message: impl Display) -> Self {
        Error::Denied(message.to_string())
    }

    /// [`Error::Unauthorized`] from anything printable.
    pub fn unauthorized(message: impl Display) -> Self {
        Error::Unauthorized(message.to_string())
    }

    /// [`Error::NotFound`] from anything printable.
    pub fn not_found(message: impl Display) -> Self {
        Error::NotFound(message.to_string())
    }

    /// [`Error::Unavailable`] from anything printable.
    pub fn unavailable(message: impl Display) -> Self {
        Error::Unavailable(message.to_string())
    }

    /// [`Error::Internal`] from anything printable.
    pub fn internal(message: impl Display) -> Self {
        Error::Internal(message.to_string())
    }

    /// What the default methods of the world traits return: the plugin does not implement
    /// `function` (its manifest should not declare it either).
    pub fn not_implemented(function: &str) -> Self {
        Error::Internal(format!("{function} is not implemented by this plugin"))
    }

    /// The case's WIT name (`"invalid-input"`, `"timeout"`, ...), for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidInput(_) => "invalid-input",
            Error::Denied(_) => "denied",
            Error::Unauthorized(_) => "unauthorized",
            Error::NotFound(_) => "not-found",
            Error::Unavailable(_) => "unavailable",
            Error::Timeout => "timeout",
            Error::Internal(_) => "internal",
        }
    }

    /// The same case with `context: ` put in front of the message (a timeout stays a bare
    /// timeout: it has no message).
    pub fn context(self, context: impl Display) -> Self {
        let prefix = |m: String| format!("{context}: {m}");
        match self {
            Error::InvalidInput(m) => Error::InvalidInput(prefix(m)),
            Error::Denied(m) => Error::Denied(prefix(m)),
            Error::Unauthorized(m) => Error::Unauthorized(prefix(m)),
            Error::NotFound(m) => Error::NotFound(prefix(m)),
            Error::Unavailable(m) => Error::Unavailable(prefix(m)),
            Error::Timeout => Error::Timeout,
            Error::Internal(m) => Error::Internal(prefix(m)),
        }
    }
}

/// `result.context("opening the asset")?`: adds context to the error of a `Result`.
pub trait ResultExt<T> {
    /// See [`Error::context`].
    fn context(self, context: impl Display) -> Result<T, Error>;
}

impl<T> ResultExt<T> for Result<T, Error> {
    fn context(self, context: impl Display) -> Result<T, Error> {
        self.map_err(|e| e.context(context))
    }
}

/// I/O errors (from `std::io::Read` over an HTTP body, for example) by their kind.
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::NotFound => Error::NotFound(e.to_string()),
            K::PermissionDenied => Error::Denied(e.to_string()),
            K::TimedOut | K::WouldBlock => Error::Timeout,
            K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::BrokenPipe
            | K::UnexpectedEof
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown => Error::Unavailable(e.to_string()),
            K::InvalidInput => Error::InvalidInput(e.to_string()),
            _ => Error::Internal(e.to_string()),
        }
    }
}

/// Bytes that should have been text: an answer the plugin cannot read.
impl From<std::string::FromUtf8Error> for Error {
    fn from(e: std::string::FromUtf8Error) -> Self {
        Error::Internal(format!("not UTF-8: {e}"))
    }
}

/// A number in an answer that does not parse.
impl From<std::num::ParseIntError> for Error {
    fn from(e: std::num::ParseIntError) -> Self {
        Error::Internal(format!("not a number: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_prefixes_the_message_and_keeps_the_case() {
        let e = Error::unauthorized("bad password").context("logging in");
        assert_eq!(e, Error::Unauthorized("logging in: bad password".into()));
        assert_eq!(Error::Timeout.context("x"), Error::Timeout);
        let r: Result<(), Error> = Err(Error::not_found("alice"));
        assert_eq!(
            r.context("user"),
            Err(Error::NotFound("user: alice".into()))
        );
    }

    #[test]
    fn io_errors_map_by_kind() {
        let e = |k| Error::from(std::io::Error::new(k, "x"));
        assert!(matches!(
            e(std::io::ErrorKind::NotFound),
            Error::NotFound(_)
        ));
        assert!(matches!(
            e(std::io::ErrorKind::PermissionDenied),
            Error::Denied(_)
        ));
        assert_eq!(e(std::io::ErrorKind::TimedOut), Error::Timeout);
        assert!(matches!(
            e(std::io::ErrorKind::ConnectionRefused),
            Error::Unavailable(_)
        ));
        assert!(matches!(e(std::io::ErrorKind::Other), Error::Internal(_)));
    }

    #[test]
    fn kinds_are_the_wit_names() {
        assert_eq!(Error::invalid_input("x").kind(), "invalid-input");
        assert_eq!(Error::Timeout.kind(), "timeout");
        assert_eq!(Error::not_implemented("ping").kind(), "internal");
        assert_eq!(Error::denied("no").to_string(), "denied: no");
    }
}
