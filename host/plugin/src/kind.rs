//! Plugin kinds (one per WIT world) and the limits that apply to each.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What a plugin is: the WIT world its component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `auth-provider`: login through an external identity provider.
    AuthProvider,
    /// `cloud-connector`: lists a provider's instances for cloud sync.
    CloudConnector,
    /// `platform-automation`: ping, verify, change secret, push, gather, remove accounts.
    PlatformAutomation,
    /// `autofill`: plans a web login.
    Autofill,
}

impl Kind {
    /// Every kind, in the order the manual lists them.
    pub const ALL: [Kind; 4] = [
        Kind::AuthProvider,
        Kind::CloudConnector,
        Kind::PlatformAutomation,
        Kind::Autofill,
    ];

    /// The WIT world name, which is also the manifest's `kind`.
    pub fn world(self) -> &'static str {
        match self {
            Kind::AuthProvider => "auth-provider",
            Kind::CloudConnector => "cloud-connector",
            Kind::PlatformAutomation => "platform-automation",
            Kind::Autofill => "autofill",
        }
    }

    /// Whether the world imports `wasi:http/outgoing-handler`.
    pub fn has_http(self) -> bool {
        matches!(self, Kind::AuthProvider | Kind::CloudConnector)
    }

    /// Whether the world imports `portcullis:plugin/remote`.
    pub fn has_remote(self) -> bool {
        matches!(self, Kind::PlatformAutomation)
    }

    /// The default limits of the kind (the table in `ARCHITECTURE.md`, "Plugins"). An
    /// administrator may lower or raise them per plugin; a plugin's manifest may only ask.
    pub fn default_limits(self) -> Limits {
        const MIB: u64 = 1024 * 1024;
        let base = Limits {
            memory_bytes: 64 * MIB,
            deadline: Duration::from_secs(15),
            http_requests: 0,
            http_response_bytes: 0,
            remote_sessions: 0,
            remote_commands: 0,
            remote_output_bytes: 0,
            log_lines: 1_000,
            log_bytes: MIB,
        };
        match self {
            Kind::AuthProvider => Limits {
                http_requests: 8,
                http_response_bytes: 4 * MIB,
                ..base
            },
            Kind::CloudConnector => Limits {
                memory_bytes: 128 * MIB,
                deadline: Duration::from_secs(60),
                http_requests: 50,
                http_response_bytes: 32 * MIB,
                ..base
            },
            Kind::PlatformAutomation => Limits {
                deadline: Duration::from_secs(300),
                remote_sessions: 4,
                remote_commands: 1_000,
                remote_output_bytes: 16 * MIB,
                ..base
            },
            Kind::Autofill => Limits {
                memory_bytes: 32 * MIB,
                deadline: Duration::from_secs(2),
                ..base
            },
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.world())
    }
}

/// The error of parsing a [`Kind`] from text.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown plugin kind {0:?} (expected auth-provider, cloud-connector, platform-automation or autofill)"
)]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.world() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// What one invocation may use. Enforced by the runtime: memory through wasmtime's store
/// limits, the deadline through epochs plus a timer around host I/O, the rest as counters in
/// the invocation's host state. A limit that is hit ends the call with an
/// [`InvokeError`](crate::error::InvokeError) or, for quotas, a `denied` answer to the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Linear memory of all the component's instances together.
    pub memory_bytes: u64,
    /// Wall-clock time of the whole invocation, host calls included.
    #[serde(with = "duration_ms")]
    pub deadline: Duration,
    /// Outbound HTTP requests.
    pub http_requests: u32,
    /// Bytes of all HTTP response bodies together.
    pub http_response_bytes: u64,
    /// Remote sessions opened.
    pub remote_sessions: u32,
    /// Remote commands run and interactive writes made.
    pub remote_commands: u32,
    /// Bytes of remote output returned to the plugin.
    pub remote_output_bytes: u64,
    /// Log lines kept (guest stdout/stderr included); the rest are counted and dropped.
    pub log_lines: u32,
    /// Bytes of log text kept.
    pub log_bytes: u64,
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_world_names() {
        for kind in Kind::ALL {
            assert_eq!(kind.world().parse::<Kind>().ok(), Some(kind));
        }
        assert!("automation".parse::<Kind>().is_err());
    }
}
