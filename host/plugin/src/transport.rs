//! [`NetworkTransport`]: the real [`HttpTransport`], HTTP/1.1 over TCP with rustls.
//!
//! It connects to the address the policy resolved and checked (so a DNS answer cannot
//! change between the check and the connection) and uses the URL's host name for TLS (SNI
//! and certificate verification against the webpki roots).

use crate::caps::{HttpRequest, HttpResponse, HttpTransport};
use crate::error::PluginError;
use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Real outbound HTTP for plugins.
#[derive(Clone)]
pub struct NetworkTransport {
    tls: tokio_rustls::TlsConnector,
}

impl Default for NetworkTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl NetworkTransport {
    /// A transport trusting the webpki (Mozilla) root certificates.
    pub fn new() -> Self {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        Self::with_roots(roots)
    }

    /// A transport trusting `roots` only (an internal CA, or a test certificate).
    pub fn with_roots(roots: rustls::RootCertStore) -> Self {
        // The provider is named explicitly so that another crate of the process enabling a
        // second rustls provider cannot make the builder ambiguous.
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
        // The ring provider supports the safe default versions (TLS 1.2 and 1.3): not input.
        #[allow(clippy::expect_used)]
        let config = config.expect("the ring provider supports TLS 1.2 and 1.3");
        NetworkTransport {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }
    }

    async fn exchange(
        &self,
        request: HttpRequest,
        resolved: Option<SocketAddr>,
        max_body: u64,
    ) -> Result<HttpResponse, PluginError> {
        let url = url::Url::parse(&request.url)
            .map_err(|e| PluginError::InvalidInput(format!("{}: {e}", request.url)))?;
        let host = url
            .host_str()
            .ok_or_else(|| PluginError::InvalidInput(format!("{}: no host", request.url)))?
            .to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| PluginError::InvalidInput(format!("{}: no port", request.url)))?;
        let addr = match resolved {
            Some(a) => a,
            None => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| PluginError::Unavailable(format!("{host}: {e}")))?
                .next()
                .ok_or_else(|| PluginError::Unavailable(format!("{host}: no address")))?,
        };
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| PluginError::Unavailable(format!("connecting to {host} ({addr}): {e}")))?;
        let _ = tcp.set_nodelay(true);

        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(path_and_query(&url));
        let mut has_host = false;
        for (k, v) in &request.headers {
            has_host |= k.eq_ignore_ascii_case("host");
            builder = builder.header(k, v);
        }
        if !has_host {
            let authority = match url.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.clone(),
            };
            builder = builder.header("host", authority);
        }
        let req = builder
            .body(Full::new(Bytes::from(request.body)))
            .map_err(|e| PluginError::InvalidInput(format!("bad request: {e}")))?;

        let response = if url.scheme() == "https" {
            let name = rustls::pki_types::ServerName::try_from(
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
            )
            .map_err(|e| PluginError::InvalidInput(format!("{host}: {e}")))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| PluginError::Unavailable(format!("TLS with {host}: {e}")))?;
            send_http1(TokioIo::new(tls), req).await?
        } else {
            send_http1(TokioIo::new(tcp), req).await?
        };

        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        // Read at most one byte past the budget: a longer body comes back cut there, so the
        // runtime sees it is over budget and reports the cap like any other transport's.
        let limit = usize::try_from(max_body)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let mut stream = response.into_body();
        let mut body = Vec::new();
        while body.len() < limit {
            let Some(frame) = stream.frame().await else {
                break;
            };
            let frame = frame
                .map_err(|e| PluginError::Unavailable(format!("reading the response body: {e}")))?;
            if let Ok(data) = frame.into_data() {
                let take = data.len().min(limit - body.len());
                body.extend_from_slice(&data[..take]);
            }
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn path_and_query(url: &url::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

async fn send_http1<IO>(
    io: IO,
    req: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, PluginError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| PluginError::Unavailable(format!("HTTP handshake: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "plugin HTTP connection ended with an error");
        }
    });
    sender
        .send_request(req)
        .await
        .map_err(|e| PluginError::Unavailable(format!("HTTP request: {e}")))
}

#[async_trait]
impl HttpTransport for NetworkTransport {
    async fn send(
        &self,
        request: HttpRequest,
        resolved: Option<SocketAddr>,
        max_body: u64,
        timeout: Duration,
    ) -> Result<HttpResponse, PluginError> {
        match tokio::time::timeout(timeout, self.exchange(request, resolved, max_body)).await {
            Ok(r) => r,
            Err(_) => Err(PluginError::Timeout),
        }
    }
}
