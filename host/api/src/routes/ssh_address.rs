//! Where clients reach the SSH gateway, as the public settings announce it (so the web UI can
//! show `ssh <user>@<host> -p <port>` and build `ssh://` links).
//!
//! The address comes from the gateway's listen address; the settings `TERMINAL_SSH_HOST` and
//! `TERMINAL_SSH_PORT` (category `terminal`) override it for deployments behind NAT or a
//! load balancer, where the address clients use is not the one the server binds.

use crate::AppState;
use crate::error::ApiError;
use serde_json::{Map, Value, json};

/// Setting: the host name or address clients use for SSH; empty means automatic.
pub(crate) const SSH_HOST: &str = "TERMINAL_SSH_HOST";
/// Setting: the port clients use for SSH; 0 means the gateway's listen port.
pub(crate) const SSH_PORT: &str = "TERMINAL_SSH_PORT";
/// Public setting: whether the SSH gateway runs (JumpServer's name for KoKo's SSH).
const SSH_ENABLED: &str = "TERMINAL_KOKO_SSH_ENABLED";

/// The stored override values (`""` and `0` when unset), as the settings page shows them.
pub(crate) async fn overrides(state: &AppState) -> Result<(String, i64), ApiError> {
    let host = match state.store().setting(SSH_HOST).await? {
        Some(Value::String(s)) => s,
        _ => String::new(),
    };
    let port = state
        .store()
        .setting(SSH_PORT)
        .await?
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    Ok((host, port))
}

/// The host part of an HTTP `Host` header (`[::1]:8080` → `::1`, `example.com:80` →
/// `example.com`).
fn http_host_name(header: &str) -> &str {
    if let Some(rest) = header.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(h, _)| h);
    }
    header.rsplit_once(':').map_or(header, |(h, _)| h)
}

/// `TERMINAL_KOKO_SSH_ENABLED`, `TERMINAL_SSH_HOST` and `TERMINAL_SSH_PORT` for the public
/// settings. Without an override, a gateway bound to a wildcard address (`0.0.0.0`, `::`) is
/// announced under the host name the client used for the web UI (`http_host`), one bound to a
/// specific address under that address.
pub(crate) async fn public(
    state: &AppState,
    http_host: &str,
) -> Result<Map<String, Value>, ApiError> {
    let (host_override, port_override) = overrides(state).await?;
    let mut m = Map::new();
    let listen = state.ssh_address();
    m.insert(SSH_ENABLED.into(), json!(listen.is_some()));
    let host = if !host_override.is_empty() {
        host_override
    } else {
        match listen {
            Some(a) if !a.ip().is_unspecified() => a.ip().to_string(),
            _ => http_host_name(http_host).to_owned(),
        }
    };
    let port = if port_override > 0 {
        Some(port_override)
    } else {
        listen.map(|a| i64::from(a.port()))
    };
    m.insert(SSH_HOST.into(), json!(host));
    m.insert(SSH_PORT.into(), json!(port));
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_names() {
        assert_eq!(http_host_name("example.com:8080"), "example.com");
        assert_eq!(http_host_name("example.com"), "example.com");
        assert_eq!(http_host_name("[::1]:8080"), "::1");
        assert_eq!(http_host_name("10.1.2.3:80"), "10.1.2.3");
    }
}
