//! Outbound HTTP (`wasi:http/outgoing-handler`) under the invocation's grant.
//!
//! wasmtime-wasi-http hands every outgoing request to [`HttpHooks::send_request`], which
//! sends it through one function, [`HttpPolicy::send`]: allowlist (scheme, host, port;
//! `{{config.KEY}}` templates expanded from the call's configuration),
//! request quota, host-side DNS resolution with private/loopback/link-local/metadata
//! addresses refused unless granted, request body cap, the embedder's
//! [`HttpTransport`](crate::caps::HttpTransport) with the checked address, and the response
//! budget. A refusal reaches the guest as `error-code.http-request-denied` (an ordinary
//! HTTP error its client library reports), never as a trap, and every request or refusal is
//! recorded as an [`Event::Http`].

use crate::caps::{Event, EventSink, HttpGrant, HttpRequest};
use crate::error::PluginError;
use crate::kind::Limits;
use crate::origins::expand_allowlist;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// Largest request body a plugin may send.
pub const MAX_REQUEST_BODY: usize = 4 * 1024 * 1024;

/// How long the host waits for DNS.
const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// The hooks object wasmtime-wasi-http calls; it only holds the shared policy.
pub(crate) struct HttpHooks {
    policy: Arc<HttpPolicy>,
}

impl HttpHooks {
    pub(crate) fn new(policy: Arc<HttpPolicy>) -> Self {
        HttpHooks { policy }
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        let policy = self.policy.clone();
        Box::new(async move {
            let response = policy.send(request, options).await?;
            let done: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

/// The HTTP grant and counters of one invocation. Shared with the request futures, which
/// wasmtime-wasi-http runs as tasks outside the store, hence the atomics.
pub(crate) struct HttpPolicy {
    invocation_id: String,
    grant: Option<HttpGrant>,
    /// The grant's allowlist with `{{config.KEY}}` templates expanded from this call's
    /// configuration (see [`crate::origins`]).
    allow: Vec<String>,
    /// Why templates of the grant allow nothing in this call (for the denial message).
    unusable: Vec<String>,
    max_requests: u32,
    max_response_bytes: u64,
    events: Arc<dyn EventSink>,
    requests: AtomicU32,
    response_bytes: AtomicU64,
}

/// Why a request was refused before it left the host.
struct Denied(String);

impl HttpPolicy {
    pub(crate) fn new(
        invocation_id: String,
        grant: Option<HttpGrant>,
        config: &BTreeMap<String, String>,
        limits: Limits,
        events: Arc<dyn EventSink>,
    ) -> Self {
        let (allow, unusable) = match &grant {
            Some(g) => expand_allowlist(&g.allow, config),
            None => (Vec::new(), Vec::new()),
        };
        HttpPolicy {
            invocation_id,
            grant,
            allow,
            unusable,
            max_requests: limits.http_requests,
            max_response_bytes: limits.http_response_bytes,
            events,
            requests: AtomicU32::new(0),
            response_bytes: AtomicU64::new(0),
        }
    }

    fn record(&self, method: &str, url: &str, status: Option<u16>, denied: Option<String>) {
        self.events.record(
            &self.invocation_id,
            Event::Http {
                method: method.to_owned(),
                url: url.to_owned(),
                status,
                denied,
            },
        );
    }

    /// Every outgoing request of the invocation passes here.
    pub(crate) async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let method = request.method().as_str().to_owned();
        let url = request.uri().to_string();
        let uri = request.uri().clone();
        let (grant, resolved) = match self.admit(&uri).await {
            Ok(ok) => ok,
            Err(Denied(why)) => {
                tracing::info!(invocation = %self.invocation_id, %url, reason = %why, "plugin HTTP request refused");
                self.record(&method, &url, None, Some(why));
                return Err(HttpError::HttpRequestDenied);
            }
        };

        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
            Ok(collected) => collected.to_bytes().to_vec(),
            Err(e) => {
                let why = format!("request body refused: {e}");
                self.record(&method, &url, None, Some(why));
                return Err(HttpError::HttpRequestBodySize(None));
            }
        };
        let headers = parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let outgoing = HttpRequest {
            method: method.clone(),
            url: url.clone(),
            headers,
            body,
        };

        let mut timeout = grant.request_timeout;
        if let Some(opts) = options {
            for t in [opts.connect_timeout, opts.first_byte_timeout]
                .into_iter()
                .flatten()
            {
                timeout = timeout.min(t);
            }
        }
        let budget = self
            .max_response_bytes
            .saturating_sub(self.response_bytes.load(Ordering::SeqCst));
        let response = match grant
            .transport
            .send(outgoing, resolved, budget, timeout)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(invocation = %self.invocation_id, %url, error = %e, "plugin HTTP request failed");
                self.record(&method, &url, None, None);
                return Err(transport_error(e));
            }
        };
        let size = response.body.len() as u64;
        let used = self.response_bytes.fetch_add(size, Ordering::SeqCst) + size;
        if used > self.max_response_bytes {
            self.events.record(
                &self.invocation_id,
                Event::Capped {
                    what: format!(
                        "HTTP responses: {used} bytes past the budget of {} bytes",
                        self.max_response_bytes
                    ),
                },
            );
            self.record(&method, &url, Some(response.status), None);
            return Err(HttpError::HttpResponseBodySize(Some(size)));
        }
        self.record(&method, &url, Some(response.status), None);

        let mut builder = http::Response::builder().status(response.status);
        for (k, v) in &response.headers {
            builder = builder.header(k, v);
        }
        let body = Full::new(Bytes::from(response.body))
            .map_err(|never| match never {})
            .boxed_unsync();
        builder
            .body(body)
            .map_err(|e| HttpError::InternalError(Some(e.to_string())))
    }

    /// The policy checks: the grant, the allowlist, the quota, and where the request may go.
    async fn admit(&self, uri: &http::Uri) -> Result<(HttpGrant, Option<SocketAddr>), Denied> {
        let Some(grant) = self.grant.clone() else {
            return Err(Denied("outbound HTTP is not granted to this plugin".into()));
        };
        let origin = Origin::of_uri(uri).map_err(Denied)?;
        if !self.allow.iter().any(|rule| origin.matches(rule)) {
            let mut why = format!("{} is not in the plugin's HTTP allowlist", origin.display());
            if !self.unusable.is_empty() {
                why = format!("{why} ({})", self.unusable.join("; "));
            }
            return Err(Denied(why));
        }
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        if n >= self.max_requests {
            self.events.record(
                &self.invocation_id,
                Event::Capped {
                    what: format!("HTTP requests: quota of {} used up", self.max_requests),
                },
            );
            return Err(Denied(format!(
                "the quota of {} HTTP requests per invocation is used up",
                self.max_requests
            )));
        }
        let resolved = if grant.transport.resolves_addresses() {
            Some(resolve_checked(&origin, &grant.allow_networks).await?)
        } else {
            None
        };
        Ok((grant, resolved))
    }
}

/// Resolves `origin` on the host and picks an address the plugin may reach.
async fn resolve_checked(origin: &Origin, allow_networks: &[IpNet]) -> Result<SocketAddr, Denied> {
    let host = origin.host.trim_start_matches('[').trim_end_matches(']');
    let lookup = tokio::time::timeout(DNS_TIMEOUT, tokio::net::lookup_host((host, origin.port)));
    let addrs: Vec<SocketAddr> = match lookup.await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => return Err(Denied(format!("{}: DNS lookup failed: {e}", origin.host))),
        Err(_) => return Err(Denied(format!("{}: DNS lookup timed out", origin.host))),
    };
    let mut refused = None;
    for addr in addrs {
        let ip = canonical(addr.ip());
        if !is_restricted(ip) || allow_networks.iter().any(|n| n.contains(&ip)) {
            return Ok(addr);
        }
        refused.get_or_insert(ip);
    }
    Err(Denied(match refused {
        Some(ip) => format!(
            "{} resolves to {ip}, a private, loopback, link-local or metadata address the grant does not allow",
            origin.host
        ),
        None => format!("{}: DNS lookup returned no address", origin.host),
    }))
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Whether `ip` is an address a plugin must not reach without an explicit network grant:
/// loopback, private, link-local, unique-local, CGNAT, unspecified, broadcast, multicast,
/// documentation and cloud metadata addresses.
pub fn is_restricted(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_restricted_v4(v4),
        IpAddr::V6(v6) => is_restricted_v6(v6),
    }
}

fn is_restricted_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // includes 169.254.169.254, the metadata service
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10, CGNAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24, IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15, benchmarking
        || o[0] >= 240 // reserved
}

fn is_restricted_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7, unique local (incl. fd00:ec2::254, AWS metadata)
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10, link-local
        || (s[0] == 0x64 && s[1] == 0xff9b) // 64:ff9b::/96, NAT64 (may reach private IPv4)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || ip.to_ipv4().is_some_and(is_restricted_v4) // IPv4-compatible
}

/// The origin of a request: scheme, host, port (the scheme's default when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) scheme: String,
    pub(crate) host: String,
    pub(crate) port: u16,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl Origin {
    fn of_uri(uri: &http::Uri) -> Result<Origin, String> {
        let scheme = uri
            .scheme_str()
            .ok_or_else(|| format!("{uri}: no scheme"))?
            .to_ascii_lowercase();
        let host = uri
            .host()
            .ok_or_else(|| format!("{uri}: no host"))?
            .to_ascii_lowercase();
        let port = match uri.port_u16() {
            Some(p) => p,
            None => default_port(&scheme).ok_or_else(|| format!("{uri}: unsupported scheme"))?,
        };
        Ok(Origin { scheme, host, port })
    }

    fn display(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }

    /// Whether this origin matches an allowlist rule (`https://api.example.com`,
    /// `https://*.example.com`, `http://10.0.0.5:8080`). A rule that does not parse matches
    /// nothing.
    pub(crate) fn matches(&self, rule: &str) -> bool {
        let Some((scheme, rest)) = rule.split_once("://") else {
            return false;
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme != self.scheme {
            return false;
        }
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = match split_host_port(authority) {
            Some(hp) => hp,
            None => return false,
        };
        let port = match port {
            Some(p) => p,
            None => match default_port(&scheme) {
                Some(p) => p,
                None => return false,
            },
        };
        if port != self.port {
            return false;
        }
        let host = host.to_ascii_lowercase();
        match host.strip_prefix("*.") {
            // `*.example.com` matches any name below example.com, not example.com itself.
            Some(suffix) => {
                self.host.len() > suffix.len() + 1
                    && self.host.ends_with(suffix)
                    && self.host.as_bytes()[self.host.len() - suffix.len() - 1] == b'.'
            }
            None => host == self.host,
        }
    }
}

/// Splits `host[:port]`, with `[v6]` hosts kept bracketed as `http::Uri::host` gives them.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    if authority.is_empty() {
        return None;
    }
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let host = &authority[..=end];
        let rest = &authority[end + 1..];
        return match rest.strip_prefix(':') {
            Some(p) => Some((host, Some(p.parse().ok()?))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h, Some(p.parse().ok()?))),
        None => Some((authority, None)),
    }
}

/// The wasi:http error code a transport failure reaches the guest as.
fn transport_error(e: PluginError) -> HttpError {
    match e {
        PluginError::Timeout => HttpError::ConnectionTimeout,
        PluginError::Denied(_) => HttpError::HttpRequestDenied,
        PluginError::Unavailable(m) => HttpError::InternalError(Some(m)),
        other => HttpError::InternalError(Some(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Origin {
        let uri: http::Uri = url.parse().expect("test URL");
        Origin::of_uri(&uri).expect("origin")
    }

    #[test]
    fn allowlist_rules_match_scheme_host_and_port() {
        let o = origin("https://api.example.com/v1/x");
        assert!(o.matches("https://api.example.com"));
        assert!(o.matches("https://api.example.com:443"));
        assert!(o.matches("https://*.example.com"));
        assert!(o.matches("HTTPS://API.example.com/"));
        assert!(!o.matches("http://api.example.com"));
        assert!(!o.matches("https://example.com"));
        assert!(!o.matches("https://api.example.com:8443"));
        assert!(!o.matches("https://*.api.example.com"));
        assert!(!origin("https://example.com").matches("https://*.example.com"));
        assert!(!origin("https://evilexample.com").matches("https://*.example.com"));
        assert!(origin("http://10.0.0.5:8080/").matches("http://10.0.0.5:8080"));
        assert!(!origin("http://10.0.0.5/").matches("http://10.0.0.5:8080"));
        assert!(origin("http://[::1]:8080/").matches("http://[::1]:8080"));
        assert!(!o.matches("garbage"));
    }

    #[test]
    fn restricted_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            let ip: IpAddr = ip.parse().expect("test IP");
            assert!(is_restricted(ip), "{ip} should be restricted");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            let ip: IpAddr = ip.parse().expect("test IP");
            assert!(!is_restricted(ip), "{ip} should be public");
        }
    }
}
