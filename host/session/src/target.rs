//! The SSH connection from the gateway to an asset, through the asset's zone gateway when it has
//! one.
//!
//! [`connect`] opens TCP (or a `direct-tcpip` channel through the gateway), runs the SSH
//! handshake, checks the asset's host key against the one recorded on first use and only then
//! authenticates with the vaulted credential. The host key check runs inside russh's
//! `check_server_key`, which is called after the key exchange and before any authentication
//! message: a host presenting an unexpected key never sees the credential.
//!
//! Every step is bounded by the target's `connect_timeout`, so a host that accepts TCP and then
//! stays silent cannot hold a user's terminal indefinitely. Errors are [`TargetError`]s that
//! know how to phrase themselves for the user's terminal ([`TargetError::user_message`]) and
//! for the session record ([`TargetError::reason_code`]); none of them carries a secret.

use portcullis_core::secret::SecretString;
use portcullis_store::host_keys::{HostKeyCheck, PresentedHostKey};
use portcullis_store::{Store, StoreError};
use russh::client::{self, AuthResult, Handle, Msg};
use russh::keys::{
    Algorithm, EcdsaCurve, HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate,
    decode_secret_key,
};
use russh::{Channel, ChannelOpenFailure, Disconnect, Preferred, cipher, kex, mac};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tracing::{info, warn};
use uuid::Uuid;

/// How the gateway proves itself to the asset: the vaulted secret of the chosen account.
///
/// Secrets stay in [`SecretString`] until the moment they are handed to the SSH library, so
/// they never appear in `Debug` output or error messages.
#[derive(Debug, Clone)]
pub enum Credential {
    /// Password authentication.
    Password(SecretString),
    /// Public-key authentication with a private key in OpenSSH, PEM (PKCS#1/PKCS#8) or PuTTY
    /// format; `passphrase` opens an encrypted key.
    PrivateKey {
        /// The private key text.
        pem: SecretString,
        /// The key's passphrase, when it is encrypted.
        passphrase: Option<SecretString>,
    },
    /// No credential: only the `none` method is tried (hosts that let anyone in as that user).
    None,
}

/// Everything needed to reach one asset as one account. Built by the session engine from the
/// authorization result; the gateway hop is itself a `TargetSpec` (the gateway is an asset with
/// its own account and host key).
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// The asset, under which its host key is recorded.
    pub asset_id: Uuid,
    /// The asset's name, for messages.
    pub asset_name: String,
    /// Host name or IP address to connect to (as configured on the asset).
    pub address: String,
    /// SSH port.
    pub port: u16,
    /// The account's user name on the asset.
    pub username: String,
    /// The account's secret.
    pub credential: Credential,
    /// Also offer older algorithms (SHA-1 key exchange, CBC ciphers, `ssh-rsa` signatures) for
    /// hosts that know nothing newer: the platform's "old SSH version" setting.
    pub legacy_algorithms: bool,
    /// Bound on TCP connect, handshake and authentication together.
    pub connect_timeout: Duration,
    /// Send an SSH keepalive after this long without traffic from the asset; the connection is
    /// closed after three unanswered keepalives.
    pub keepalive: Option<Duration>,
    /// The zone's jump host, when the asset is only reachable through it.
    pub gateway: Option<Box<TargetSpec>>,
}

/// An authenticated SSH connection to an asset, ready to open channels.
///
/// Holds the client handle, and when the asset was reached through a gateway, the gateway's
/// connection too: the tunnel lives as long as this value.
pub struct TargetConnection {
    handle: Handle<HostKeyGuard>,
    fingerprint: String,
    asset_name: String,
    address: String,
    port: u16,
    /// The gateway hop, kept open under the target connection.
    via: Option<Box<TargetConnection>>,
}

impl std::fmt::Debug for TargetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetConnection")
            .field("asset", &self.asset_name)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("fingerprint", &self.fingerprint)
            .field("via", &self.via)
            .finish()
    }
}

/// Why an asset could not be reached or used. Every message names the asset and the place but
/// never a secret.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// TCP could not be established (refused, no route, name not resolved), or the gateway
    /// could not open a connection to the asset.
    #[error("cannot connect to {asset} at {address}:{port}: {cause}")]
    Unreachable {
        /// Asset name.
        asset: String,
        /// Address connected to.
        address: String,
        /// Port connected to.
        port: u16,
        /// What the network said.
        cause: String,
    },
    /// Connect, handshake and authentication did not finish within the connect timeout.
    #[error("{asset} at {address}:{port} did not answer within {}s", after.as_secs_f32())]
    Timeout {
        /// Asset name.
        asset: String,
        /// Address connected to.
        address: String,
        /// Port connected to.
        port: u16,
        /// The timeout that expired.
        after: Duration,
    },
    /// The asset presented a host key other than the one recorded: possibly an attacker in the
    /// middle. Nothing was sent to it; an administrator must forget the recorded key after
    /// checking the change.
    #[error(
        "the host key of {asset} at {address}:{port} changed: recorded {expected}, presented {presented}"
    )]
    HostKeyChanged {
        /// Asset name.
        asset: String,
        /// Address connected to.
        address: String,
        /// Port connected to.
        port: u16,
        /// Fingerprint of the recorded key.
        expected: String,
        /// Fingerprint of the key presented now.
        presented: String,
    },
    /// The asset refused the account's credential.
    #[error("{address} refused the credentials of `{username}`")]
    AuthFailed {
        /// The account's user name.
        username: String,
        /// Address connected to.
        address: String,
    },
    /// The vaulted credential cannot be used (an unreadable private key, a wrong passphrase).
    #[error("the credential of `{username}` cannot be used: {cause}")]
    Credential {
        /// The account's user name.
        username: String,
        /// Why (never the secret itself).
        cause: String,
    },
    /// The hop to the zone's gateway failed.
    #[error("gateway {name}: {source}")]
    Gateway {
        /// The gateway's name.
        name: String,
        /// What went wrong on the gateway hop.
        source: Box<TargetError>,
    },
    /// The SSH conversation failed (no common algorithm, disconnect, malformed data).
    #[error("SSH with {asset} at {address}:{port} failed: {cause}")]
    Protocol {
        /// Asset name.
        asset: String,
        /// Address connected to.
        address: String,
        /// Port connected to.
        port: u16,
        /// What the SSH library said.
        cause: String,
    },
    /// The asset refused to open a channel on an established connection.
    #[error("{asset} refused to open a {kind} channel: {cause}")]
    ChannelRefused {
        /// Asset name.
        asset: String,
        /// `session` or `direct-tcpip`.
        kind: &'static str,
        /// Why.
        cause: String,
    },
    /// The store failed while checking or recording the host key.
    #[error("host key store: {0}")]
    Store(#[from] StoreError),
}

impl TargetError {
    /// One line for the user's terminal: what failed and what to do, without secrets and
    /// without internals (database errors are summarized; the details go to the log).
    pub fn user_message(&self) -> String {
        match self {
            TargetError::Unreachable {
                asset,
                address,
                port,
                cause,
            } => format!("Cannot connect to {asset} ({address}:{port}): {cause}."),
            TargetError::Timeout {
                asset,
                address,
                port,
                after,
            } => format!(
                "Connection to {asset} ({address}:{port}) timed out after {}s.",
                after.as_secs()
            ),
            TargetError::HostKeyChanged {
                asset,
                address,
                port,
                expected,
                presented,
            } => format!(
                "The host key of {asset} ({address}:{port}) has changed (expected {expected}, got {presented}); the connection was refused. Ask an administrator to verify the host and reset its host key."
            ),
            TargetError::AuthFailed { username, address } => {
                format!("Authentication as {username} on {address} failed.")
            }
            TargetError::Credential { username, .. } => format!(
                "The stored credential of {username} cannot be used; ask an administrator to update it."
            ),
            TargetError::Gateway { name, source } => {
                format!("Through gateway {name}: {}", source.user_message())
            }
            TargetError::Protocol {
                asset,
                address,
                port,
                cause,
            } => format!("SSH connection to {asset} ({address}:{port}) failed: {cause}."),
            TargetError::ChannelRefused { asset, kind, cause } => {
                format!("{asset} refused to open a {kind} channel: {cause}.")
            }
            TargetError::Store(_) => {
                "Internal error while checking the host key; please try again later.".to_owned()
            }
        }
    }

    /// A stable code for the session record and the logs. Failures on the gateway hop carry
    /// the `gateway_` prefix.
    pub fn reason_code(&self) -> &'static str {
        match self {
            TargetError::Unreachable { .. } => "connect_failed",
            TargetError::Timeout { .. } => "timeout",
            TargetError::HostKeyChanged { .. } => "host_key_changed",
            TargetError::AuthFailed { .. } => "auth_failed",
            TargetError::Credential { .. } => "credential_invalid",
            TargetError::Protocol { .. } => "protocol_error",
            TargetError::ChannelRefused { .. } => "channel_refused",
            TargetError::Store(_) => "internal_error",
            TargetError::Gateway { source, .. } => match source.reason_code() {
                "connect_failed" => "gateway_connect_failed",
                "timeout" => "gateway_timeout",
                "host_key_changed" => "gateway_host_key_changed",
                "auth_failed" => "gateway_auth_failed",
                "credential_invalid" => "gateway_credential_invalid",
                "protocol_error" => "gateway_protocol_error",
                "channel_refused" => "gateway_channel_refused",
                "internal_error" => "internal_error",
                _ => "gateway_failed",
            },
        }
    }
}

/// Connects to the asset described by `spec` (through its gateway when it has one), checks its
/// host key (trust on first use, recorded in `store`) and authenticates.
///
/// Returns only once authenticated; the whole of it is bounded by `spec.connect_timeout` (the
/// gateway hop by the gateway's own timeout).
pub async fn connect(store: &Store, spec: &TargetSpec) -> Result<TargetConnection, TargetError> {
    connect_hop(store, spec).await
}

impl TargetConnection {
    /// Opens a `session` channel (for a shell, an exec or a subsystem such as SFTP).
    pub async fn open_session(&self) -> Result<Channel<Msg>, TargetError> {
        self.handle
            .channel_open_session()
            .await
            .map_err(|e| self.channel_error("session", e))
    }

    /// Opens a `direct-tcpip` channel from the asset to `host:port` (port forwarding, or the
    /// next hop when this asset is a gateway).
    pub async fn open_direct_tcpip(
        &self,
        host: &str,
        port: u32,
        originator: &str,
        originator_port: u32,
    ) -> Result<Channel<Msg>, TargetError> {
        self.handle
            .channel_open_direct_tcpip(host, port, originator, originator_port)
            .await
            .map_err(|e| self.channel_error("direct-tcpip", e))
    }

    /// Says goodbye to the asset, then to the gateway when there is one. Best effort: the
    /// connection may already be gone.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "session ended", "en")
            .await;
        if let Some(via) = self.via {
            Box::pin(via.close()).await;
        }
    }

    /// `SHA256:…` fingerprint of the asset's host key, for the session record.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether the connection to the asset is gone.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    fn channel_error(&self, kind: &'static str, e: russh::Error) -> TargetError {
        let cause = match e {
            russh::Error::ChannelOpenFailure(f) => channel_failure_text(&f),
            other => other.to_string(),
        };
        TargetError::ChannelRefused {
            asset: self.asset_name.clone(),
            kind,
            cause,
        }
    }
}

fn channel_failure_text(f: &ChannelOpenFailure) -> String {
    match f {
        ChannelOpenFailure::AdministrativelyProhibited => "administratively prohibited".into(),
        ChannelOpenFailure::ConnectFailed => "connect failed".into(),
        ChannelOpenFailure::UnknownChannelType => "unknown channel type".into(),
        ChannelOpenFailure::ResourceShortage => "resource shortage".into(),
        ChannelOpenFailure::Other { code, reason } if reason.is_empty() => format!("code {code}"),
        ChannelOpenFailure::Other { reason, .. } => reason.clone(),
    }
}

type HopFuture<'a> =
    Pin<Box<dyn Future<Output = Result<TargetConnection, TargetError>> + Send + 'a>>;

/// One hop: the gateway first when there is one (recursively, so a gateway may itself sit
/// behind a gateway), then the asset over TCP or over the gateway's tunnel.
fn connect_hop<'a>(store: &'a Store, spec: &'a TargetSpec) -> HopFuture<'a> {
    Box::pin(async move {
        let via = match &spec.gateway {
            Some(gw) => Some(Box::new(connect_hop(store, gw).await.map_err(|e| {
                TargetError::Gateway {
                    name: gw.asset_name.clone(),
                    source: Box::new(e),
                }
            })?)),
            None => None,
        };
        let timed =
            tokio::time::timeout(spec.connect_timeout, handshake(store, spec, via.as_deref()));
        let (handle, fingerprint) = match timed.await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                if let Some(via) = via {
                    via.close().await;
                }
                return Err(e);
            }
            Err(_) => {
                if let Some(via) = via {
                    via.close().await;
                }
                return Err(TargetError::Timeout {
                    asset: spec.asset_name.clone(),
                    address: spec.address.clone(),
                    port: spec.port,
                    after: spec.connect_timeout,
                });
            }
        };
        Ok(TargetConnection {
            handle,
            fingerprint,
            asset_name: spec.asset_name.clone(),
            address: spec.address.clone(),
            port: spec.port,
            via,
        })
    })
}

/// Transport, key exchange with the host key check, authentication.
async fn handshake(
    store: &Store,
    spec: &TargetSpec,
    via: Option<&TargetConnection>,
) -> Result<(Handle<HostKeyGuard>, String), TargetError> {
    let config = Arc::new(client_config(spec));
    let seen = Arc::new(OnceLock::new());
    let guard = HostKeyGuard {
        store: store.clone(),
        asset_id: spec.asset_id,
        address: spec.address.clone(),
        port: spec.port,
        seen: seen.clone(),
    };
    let connected = match via {
        None => {
            let tcp = TcpStream::connect((spec.address.as_str(), spec.port))
                .await
                .map_err(|e| unreachable(spec, e.to_string()))?;
            // Interactive keystrokes must not wait for Nagle.
            if let Err(e) = tcp.set_nodelay(true) {
                warn!(asset = %spec.asset_name, "cannot set TCP_NODELAY: {e}");
            }
            client::connect_stream(config, tcp, guard).await
        }
        Some(gw) => {
            let channel = gw
                .handle
                .channel_open_direct_tcpip(
                    spec.address.as_str(),
                    u32::from(spec.port),
                    "127.0.0.1",
                    0,
                )
                .await
                .map_err(|e| match e {
                    russh::Error::ChannelOpenFailure(f) => unreachable(
                        spec,
                        format!(
                            "gateway {} could not connect: {}",
                            gw.asset_name,
                            channel_failure_text(&f)
                        ),
                    ),
                    other => TargetError::Gateway {
                        name: gw.asset_name.clone(),
                        source: Box::new(hop_error(spec_of(gw), other.into())),
                    },
                })?;
            client::connect_stream(config, channel.into_stream(), guard).await
        }
    };
    let mut handle = connected.map_err(|e| hop_error(spec.into(), e))?;
    let fingerprint = seen.get().cloned().unwrap_or_default();
    authenticate(&mut handle, spec).await?;
    Ok((handle, fingerprint))
}

/// Where a hop went, for error messages.
struct Place<'a> {
    asset: &'a str,
    address: &'a str,
    port: u16,
}

impl<'a> From<&'a TargetSpec> for Place<'a> {
    fn from(s: &'a TargetSpec) -> Self {
        Place {
            asset: &s.asset_name,
            address: &s.address,
            port: s.port,
        }
    }
}

fn spec_of(c: &TargetConnection) -> Place<'_> {
    Place {
        asset: &c.asset_name,
        address: &c.address,
        port: c.port,
    }
}

fn unreachable(spec: &TargetSpec, cause: String) -> TargetError {
    TargetError::Unreachable {
        asset: spec.asset_name.clone(),
        address: spec.address.clone(),
        port: spec.port,
        cause,
    }
}

fn hop_error(place: Place<'_>, e: HopError) -> TargetError {
    match e {
        HopError::HostKeyChanged {
            expected,
            presented,
        } => TargetError::HostKeyChanged {
            asset: place.asset.to_owned(),
            address: place.address.to_owned(),
            port: place.port,
            expected,
            presented,
        },
        HopError::Store(e) => TargetError::Store(e),
        HopError::Ssh(e) => TargetError::Protocol {
            asset: place.asset.to_owned(),
            address: place.address.to_owned(),
            port: place.port,
            cause: ssh_cause(&e),
        },
    }
}

/// The SSH library's error in words a user or administrator can act on.
fn ssh_cause(e: &russh::Error) -> String {
    match e {
        russh::Error::NoCommonAlgo { kind, .. } => format!(
            "no common {} algorithm (an old SSH server may need the platform's old SSH version setting)",
            format!("{kind:?}").to_lowercase()
        ),
        russh::Error::Disconnect | russh::Error::HUP => "the server closed the connection".into(),
        russh::Error::IO(io) => format!("I/O error: {io}"),
        other => other.to_string(),
    }
}

async fn authenticate(
    handle: &mut Handle<HostKeyGuard>,
    spec: &TargetSpec,
) -> Result<(), TargetError> {
    let ssh = |e: russh::Error| hop_error(spec.into(), HopError::Ssh(e));
    let result = match &spec.credential {
        Credential::Password(password) => handle
            .authenticate_password(spec.username.as_str(), password.expose())
            .await
            .map_err(ssh)?,
        Credential::PrivateKey { pem, passphrase } => {
            let key =
                decode_secret_key(pem.expose(), passphrase.as_ref().map(SecretString::expose))
                    .map_err(|e| TargetError::Credential {
                        username: spec.username.clone(),
                        cause: format!("the private key cannot be read ({e})"),
                    })?;
            let hash = if key.algorithm().is_rsa() {
                rsa_hash(
                    handle.best_supported_rsa_hash().await.map_err(ssh)?,
                    spec.legacy_algorithms,
                )
            } else {
                None
            };
            handle
                .authenticate_publickey(
                    spec.username.as_str(),
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
                .await
                .map_err(ssh)?
        }
        Credential::None => handle
            .authenticate_none(spec.username.as_str())
            .await
            .map_err(ssh)?,
    };
    match result {
        AuthResult::Success => Ok(()),
        AuthResult::Failure { .. } => Err(TargetError::AuthFailed {
            username: spec.username.clone(),
            address: spec.address.clone(),
        }),
    }
}

/// The signature hash for an RSA key given what the server advertised (`server-sig-algs`):
/// SHA-512 or SHA-256 whenever possible. SHA-1 (`ssh-rsa`) only with legacy algorithms, for
/// servers that advertise nothing better or nothing at all.
fn rsa_hash(advertised: Option<Option<HashAlg>>, legacy: bool) -> Option<HashAlg> {
    match advertised {
        Some(Some(hash)) => Some(hash),
        Some(None) | None if legacy => None,
        _ => Some(HashAlg::Sha256),
    }
}

fn client_config(spec: &TargetSpec) -> client::Config {
    client::Config {
        preferred: preferred(spec.legacy_algorithms),
        keepalive_interval: spec.keepalive,
        nodelay: true,
        inactivity_timeout: None,
        ..client::Config::default()
    }
}

const MODERN_KEX: &[kex::Name] = &[
    kex::MLKEM768X25519_SHA256,
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::ECDH_SHA2_NISTP256,
    kex::ECDH_SHA2_NISTP384,
    kex::ECDH_SHA2_NISTP521,
    kex::DH_GEX_SHA256,
    kex::DH_G18_SHA512,
    kex::DH_G17_SHA512,
    kex::DH_G16_SHA512,
    kex::DH_G15_SHA512,
    kex::DH_G14_SHA256,
];
const LEGACY_KEX: &[kex::Name] = &[kex::DH_G14_SHA1, kex::DH_GEX_SHA1, kex::DH_G1_SHA1];
/// Not algorithms but capability markers carried in the kex list (RFC 8308 extension
/// negotiation, OpenSSH strict kex against the Terrapin attack); always offered.
const KEX_MARKERS: &[kex::Name] = &[
    kex::EXTENSION_SUPPORT_AS_CLIENT,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
];
/// AES-GCM first: the gateway decrypts and re-encrypts every byte, and with the CPU's AES
/// instructions ring's AES-GCM costs a fraction of ChaCha20-Poly1305 (measured on a bulk
/// transfer: 4 % of the gateway's CPU against 22 %). As the client of this leg, our order
/// decides.
const MODERN_CIPHERS: &[cipher::Name] = &[
    cipher::AES_256_GCM,
    cipher::AES_128_GCM,
    cipher::CHACHA20_POLY1305,
    cipher::AES_256_CTR,
    cipher::AES_192_CTR,
    cipher::AES_128_CTR,
];
const LEGACY_CIPHERS: &[cipher::Name] = &[
    cipher::AES_256_CBC,
    cipher::AES_192_CBC,
    cipher::AES_128_CBC,
];
const MODERN_MACS: &[mac::Name] = &[
    mac::HMAC_SHA512_ETM,
    mac::HMAC_SHA256_ETM,
    mac::HMAC_SHA512,
    mac::HMAC_SHA256,
];
const LEGACY_MACS: &[mac::Name] = &[mac::HMAC_SHA1_ETM, mac::HMAC_SHA1];
const MODERN_HOST_KEYS: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP384,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP521,
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha256),
    },
];
const LEGACY_HOST_KEYS: &[Algorithm] = &[Algorithm::Rsa { hash: None }];

/// The algorithms offered to assets. Modern ones only, unless the platform asks for legacy
/// support; then SHA-1 key exchange and MACs, CBC ciphers and `ssh-rsa` host key signatures are
/// appended (so a modern server still negotiates a modern algorithm). This is outbound only:
/// what the gateway's own listener accepts is configured elsewhere.
pub fn preferred(legacy: bool) -> Preferred {
    fn join<T: Clone>(modern: &[T], legacy: &[T], with_legacy: bool, tail: &[T]) -> Vec<T> {
        let mut all = modern.to_vec();
        if with_legacy {
            all.extend_from_slice(legacy);
        }
        all.extend_from_slice(tail);
        all
    }
    Preferred {
        kex: Cow::Owned(join(MODERN_KEX, LEGACY_KEX, legacy, KEX_MARKERS)),
        key: Cow::Owned(join(MODERN_HOST_KEYS, LEGACY_HOST_KEYS, legacy, &[])),
        host_key_certificates: Cow::Borrowed(&[]),
        cipher: Cow::Owned(join(MODERN_CIPHERS, LEGACY_CIPHERS, legacy, &[])),
        mac: Cow::Owned(join(MODERN_MACS, LEGACY_MACS, legacy, &[])),
        compression: Preferred::DEFAULT.compression,
    }
}

/// A host key as recorded: algorithm name, base64 of the wire encoding, `SHA256:` fingerprint.
/// The algorithm is the key's own (`ssh-rsa` for every RSA key, whatever signature hash was
/// negotiated), so the same key always compares equal.
pub fn host_key_parts(key: &PublicKey) -> Result<(String, String, String), String> {
    let openssh = key.to_openssh().map_err(|e| e.to_string())?;
    let blob = openssh
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| "empty key encoding".to_owned())?
        .to_owned();
    Ok((
        key.algorithm().as_str().to_owned(),
        blob,
        key.fingerprint(HashAlg::Sha256).to_string(),
    ))
}

/// What can fail inside the SSH client's event loop.
#[derive(Debug)]
enum HopError {
    Ssh(russh::Error),
    HostKeyChanged { expected: String, presented: String },
    Store(StoreError),
}

impl From<russh::Error> for HopError {
    fn from(e: russh::Error) -> Self {
        HopError::Ssh(e)
    }
}

/// The client handler: its one job is the host key check, run by russh after the key exchange
/// and before authentication.
struct HostKeyGuard {
    store: Store,
    asset_id: Uuid,
    address: String,
    port: u16,
    /// The fingerprint of the accepted key, for [`TargetConnection::host_key_fingerprint`].
    seen: Arc<OnceLock<String>>,
}

impl client::Handler for HostKeyGuard {
    type Error = HopError;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = server_key.public_key();
        let (algorithm, public_key, fingerprint) =
            host_key_parts(&key).map_err(|e| HopError::Ssh(russh::Error::InvalidConfig(e)))?;
        let check = self
            .store
            .remember_host_key(&PresentedHostKey {
                asset_id: self.asset_id,
                address: &self.address,
                port: self.port,
                algorithm: &algorithm,
                public_key: &public_key,
                fingerprint: &fingerprint,
            })
            .await
            .map_err(HopError::Store)?;
        match check {
            HostKeyCheck::New(_) => {
                info!(asset = %self.asset_id, address = %self.address, port = self.port,
                    %fingerprint, "recorded the host key on first use");
            }
            HostKeyCheck::Known(_) => {}
            HostKeyCheck::Changed(stored) => {
                warn!(asset = %self.asset_id, address = %self.address, port = self.port,
                    expected = %stored.fingerprint, presented = %fingerprint,
                    "host key changed; connection refused before authentication");
                return Err(HopError::HostKeyChanged {
                    expected: stored.fingerprint,
                    presented: fingerprint,
                });
            }
        }
        let _ = self.seen.set(fingerprint);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_place() -> (String, String, u16) {
        ("web1".into(), "10.0.0.5".into(), 22)
    }

    #[test]
    fn reason_codes_are_stable_and_prefixed_for_gateways() {
        let (asset, address, port) = err_place();
        let timeout = TargetError::Timeout {
            asset,
            address,
            port,
            after: Duration::from_secs(5),
        };
        assert_eq!(timeout.reason_code(), "timeout");
        let gw = TargetError::Gateway {
            name: "gw".into(),
            source: Box::new(timeout),
        };
        assert_eq!(gw.reason_code(), "gateway_timeout");
        assert!(gw.user_message().starts_with("Through gateway gw: "));
        assert!(gw.user_message().contains("timed out after 5s"));
    }

    #[test]
    fn user_messages_are_one_line_and_name_fingerprints() {
        let (asset, address, port) = err_place();
        let e = TargetError::HostKeyChanged {
            asset,
            address,
            port,
            expected: "SHA256:old".into(),
            presented: "SHA256:new".into(),
        };
        let m = e.user_message();
        assert!(!m.contains('\n'));
        assert!(m.contains("SHA256:old") && m.contains("SHA256:new"));
        assert_eq!(e.reason_code(), "host_key_changed");
        let store = TargetError::Store(StoreError::Invalid("secret details".into()));
        assert!(!store.user_message().contains("secret details"));
    }

    #[test]
    fn credentials_do_not_print() {
        let c = Credential::Password(SecretString::new("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        let k = Credential::PrivateKey {
            pem: SecretString::new("-----BEGIN"),
            passphrase: Some(SecretString::new("pp")),
        };
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("BEGIN") && !dbg.contains("pp)"));
    }

    #[test]
    fn legacy_algorithms_are_appended_only_when_asked() {
        let modern = preferred(false);
        assert!(!modern.kex.contains(&kex::DH_G14_SHA1));
        assert!(!modern.cipher.contains(&cipher::AES_128_CBC));
        assert!(!modern.key.contains(&Algorithm::Rsa { hash: None }));
        assert!(
            modern
                .kex
                .contains(&kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT)
        );
        let legacy = preferred(true);
        assert_eq!(legacy.kex.first(), modern.kex.first());
        assert!(legacy.kex.contains(&kex::DH_G14_SHA1) && legacy.kex.contains(&kex::DH_G1_SHA1));
        assert!(legacy.cipher.contains(&cipher::AES_256_CBC));
        assert!(legacy.mac.contains(&mac::HMAC_SHA1));
        assert!(legacy.key.contains(&Algorithm::Rsa { hash: None }));
        // Markers stay at the end, after the real algorithms.
        assert_eq!(
            legacy.kex.last(),
            Some(&kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT)
        );
    }

    #[test]
    fn rsa_signatures_prefer_sha2() {
        assert_eq!(
            rsa_hash(Some(Some(HashAlg::Sha512)), false),
            Some(HashAlg::Sha512)
        );
        assert_eq!(rsa_hash(None, false), Some(HashAlg::Sha256));
        assert_eq!(rsa_hash(Some(None), false), Some(HashAlg::Sha256));
        assert_eq!(rsa_hash(Some(None), true), None);
        assert_eq!(rsa_hash(None, true), None);
        assert_eq!(
            rsa_hash(Some(Some(HashAlg::Sha256)), true),
            Some(HashAlg::Sha256)
        );
    }

    #[test]
    fn host_key_parts_match_openssh() {
        // ssh-keygen -l -E sha256 of this key prints the fingerprint below.
        let line =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
        let key = PublicKey::from_openssh(line).unwrap();
        let (alg, blob, fp) = host_key_parts(&key).unwrap();
        assert_eq!(alg, "ssh-ed25519");
        assert_eq!(
            blob,
            "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
        );
        assert_eq!(fp, "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU");
    }
}
