//! Outbound HTTP through the grant: allowlist, address checks, quotas, the real transport.

use crate::support::*;
use portcullis_plugin::caps::Event;
use portcullis_plugin::error::{InvokeError, PluginError};
use portcullis_plugin::kind::Kind;
use portcullis_plugin::transport::NetworkTransport;
use portcullis_plugin::types::{Call, ListRequest, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONN: Kind = Kind::CloudConnector;

fn list(behaviour: &str) -> Call {
    Call::ListInstances(ListRequest {
        region: behaviour.into(),
        page_token: None,
        page_size: 10,
    })
}

/// The body length and status the guest saw.
fn seen(out: Output) -> (String, String) {
    let Output::Instances(page) = out else {
        panic!("{out:?}")
    };
    let i = &page.instances[0];
    (i.name.clone(), i.tags[0].1.clone())
}

fn denied_events(rec: &Recorder) -> Vec<String> {
    rec.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Http {
                denied: Some(why), ..
            } => Some(why),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_host_outside_the_allowlist_is_denied_without_a_connection() {
    let transport = FakeTransport::new(false, b"hello");
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(CONN, rec.clone());
    inv.http = Some(http_grant(&["https://api.example.com"], transport.clone()));
    let err = plugin(Variant::Connector)
        .call(inv, list("http:https://evil.example.net/steal"))
        .await
        .expect_err("denied");
    // The guest saw an HTTP error code, not a trap.
    assert!(
        matches!(&err, InvokeError::Plugin(PluginError::Unavailable(m)) if m.contains("HttpRequestDenied")),
        "{err:?}"
    );
    assert!(transport.calls().is_empty());
    let denied = denied_events(&rec);
    assert_eq!(denied.len(), 1);
    assert!(denied[0].contains("allowlist"), "{denied:?}");
}

#[tokio::test]
async fn an_allowed_request_reaches_the_transport() {
    let transport = FakeTransport::new(false, b"hello");
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(CONN, rec.clone());
    inv.http = Some(http_grant(&["https://*.example.com"], transport.clone()));
    let out = plugin(Variant::Connector)
        .call(
            inv,
            list("http:https://api.example.com/v1/instances?page=2"),
        )
        .await
        .expect("allowed");
    assert_eq!(seen(out), ("status 200".to_owned(), "5".to_owned()));
    let calls = transport.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0.method, "GET");
    assert_eq!(
        calls[0].0.url,
        "https://api.example.com/v1/instances?page=2"
    );
    assert_eq!(calls[0].1, None, "the fixture transport resolves nothing");
    assert!(rec.events().iter().any(|e| matches!(
        e,
        Event::Http {
            status: Some(200),
            denied: None,
            ..
        }
    )));
}

#[tokio::test]
async fn a_granted_origin_template_expands_from_the_calls_configuration() {
    let transport = FakeTransport::new(false, b"hello");
    let call = |url: &str, config: &[(&str, &str)]| {
        let rec = Arc::new(Recorder::default());
        let mut inv = invocation(CONN, rec.clone());
        inv.http = Some(http_grant(
            &["https://api.example.com", "{{config.cloud_url}}"],
            transport.clone(),
        ));
        inv.config = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let call = list(&format!("http:{url}"));
        async move { (plugin(Variant::Connector).call(inv, call).await, rec) }
    };

    // The configured base URL's origin is allowed (its path does not matter).
    let (out, _) = call(
        "https://cloud.corp.example:8443/api/v2/instances",
        &[("cloud_url", "https://cloud.corp.example:8443/api/v2")],
    )
    .await;
    assert_eq!(
        seen(out.expect("allowed")),
        ("status 200".to_owned(), "5".to_owned())
    );
    assert_eq!(transport.calls().len(), 1);

    // Only that origin: another port or host of the same domain is denied.
    for url in [
        "https://cloud.corp.example/api/v2/instances",
        "https://other.corp.example:8443/",
    ] {
        let (out, rec) = call(url, &[("cloud_url", "https://cloud.corp.example:8443")]).await;
        assert!(out.is_err(), "{url}");
        assert!(denied_events(&rec)[0].contains("allowlist"), "{url}");
    }

    // The configuration changed: the next call follows it.
    let (out, _) = call(
        "https://cloud2.corp.example/x",
        &[("cloud_url", "https://cloud2.corp.example")],
    )
    .await;
    out.expect("the new configured origin");

    // Without a value, or with one that would widen to a wildcard (stored before the
    // configuration check refused it), the template allows nothing and the denial says why.
    for config in [&[][..], &[("cloud_url", "https://*.corp.example")][..]] {
        let (out, rec) = call("https://cloud.corp.example/", config).await;
        assert!(out.is_err(), "{config:?}");
        let denied = denied_events(&rec);
        assert!(
            denied[0].contains("`{{config.cloud_url}}` allows nothing"),
            "{denied:?}"
        );
    }
    assert_eq!(
        transport.calls().len(),
        2,
        "no denied request left the host"
    );
}

#[tokio::test]
async fn without_a_grant_or_past_the_quota_requests_are_denied() {
    let rec = Arc::new(Recorder::default());
    let err = plugin(Variant::Connector)
        .call(
            invocation(CONN, rec.clone()),
            list("http:https://api.example.com/"),
        )
        .await
        .expect_err("no grant");
    assert!(
        matches!(err, InvokeError::Plugin(PluginError::Unavailable(_))),
        "{err:?}"
    );
    assert!(denied_events(&rec)[0].contains("not granted"));

    let transport = FakeTransport::new(false, b"hello");
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(CONN, rec.clone());
    inv.http = Some(http_grant(&["https://api.example.com"], transport.clone()));
    inv.limits.http_requests = 0;
    plugin(Variant::Connector)
        .call(inv, list("http:https://api.example.com/"))
        .await
        .expect_err("quota");
    assert!(transport.calls().is_empty());
    assert!(denied_events(&rec)[0].contains("quota"));
}

#[tokio::test]
async fn a_response_past_the_budget_is_refused() {
    let transport = FakeTransport::new(false, &[b'x'; 2048]);
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(CONN, rec.clone());
    inv.http = Some(http_grant(&["https://api.example.com"], transport));
    inv.limits.http_response_bytes = 1024;
    let err = plugin(Variant::Connector)
        .call(inv, list("http:https://api.example.com/"))
        .await
        .expect_err("too big");
    assert!(
        matches!(&err, InvokeError::Plugin(PluginError::Unavailable(m)) if m.contains("HttpResponseBodySize")),
        "{err:?}"
    );
    assert!(
        rec.events()
            .iter()
            .any(|e| matches!(e, Event::Capped { .. }))
    );
}

/// A one-shot HTTP server on 127.0.0.1 that counts connections.
async fn tiny_server() -> (u16, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = sock
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                )
                .await;
        }
    });
    (port, count, task)
}

#[tokio::test]
async fn loopback_is_refused_unless_the_grant_names_its_network() {
    let (port, connections, server) = tiny_server().await;
    let origin = format!("http://127.0.0.1:{port}");
    let url = format!("http:{origin}/inventory");
    let transport = Arc::new(NetworkTransport::new());

    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(CONN, rec.clone());
    inv.http = Some(http_grant(&[&origin], transport.clone()));
    let err = plugin(Variant::Connector)
        .call(inv, list(&url))
        .await
        .expect_err("loopback refused");
    assert!(
        matches!(err, InvokeError::Plugin(PluginError::Unavailable(_))),
        "{err:?}"
    );
    assert!(
        denied_events(&rec)[0].contains("127.0.0.1"),
        "{:?}",
        denied_events(&rec)
    );
    assert_eq!(connections.load(Ordering::SeqCst), 0);

    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(CONN, rec.clone());
    let mut grant = http_grant(&[&origin], transport);
    grant.allow_networks = vec!["127.0.0.0/8".parse().expect("net")];
    inv.http = Some(grant);
    let out = plugin(Variant::Connector)
        .call(inv, list(&url))
        .await
        .expect("granted network");
    assert_eq!(seen(out), ("status 200".to_owned(), "5".to_owned()));
    assert_eq!(connections.load(Ordering::SeqCst), 1);

    // The real transport cuts a body past the budget; the runtime refuses it and records
    // the cap.
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(CONN, rec.clone());
    let mut grant = http_grant(&[&origin], Arc::new(NetworkTransport::new()));
    grant.allow_networks = vec!["127.0.0.0/8".parse().expect("net")];
    inv.http = Some(grant);
    inv.limits.http_response_bytes = 3;
    let err = plugin(Variant::Connector)
        .call(inv, list(&url))
        .await
        .expect_err("over budget");
    assert!(
        matches!(&err, InvokeError::Plugin(PluginError::Unavailable(m)) if m.contains("HttpResponseBodySize")),
        "{err:?}"
    );
    assert!(
        rec.events()
            .iter()
            .any(|e| matches!(e, Event::Capped { .. })),
        "{:?}",
        rec.events()
    );
    server.abort();
}

/// An HTTPS server on 127.0.0.1 with a fresh self-signed certificate for `localhost`;
/// returns the port, the certificate, and the server task.
async fn tls_server() -> (
    u16,
    rustls::pki_types::CertificateDer<'static>,
    tokio::task::JoinHandle<()>,
) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let cert = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.clone()], key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nsecured",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, cert, task)
}

#[tokio::test]
async fn https_checks_the_certificate_for_the_url_host() {
    let (port, cert, server) = tls_server().await;
    let origin = format!("https://localhost:{port}");
    let url = format!("http:{origin}/inventory");
    let grant = |transport: Arc<NetworkTransport>| {
        let mut g = http_grant(&[&origin], transport);
        // Only IPv4 loopback: `localhost` may also resolve to ::1, where nothing listens.
        g.allow_networks = vec!["127.0.0.0/8".parse().expect("net")];
        g
    };

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(CONN, rec.clone());
    inv.http = Some(grant(Arc::new(NetworkTransport::with_roots(roots))));
    let out = plugin(Variant::Connector)
        .call(inv, list(&url))
        .await
        .expect("trusted certificate");
    assert_eq!(seen(out), ("status 200".to_owned(), "7".to_owned()));

    // The public roots do not know the throwaway certificate: the request fails, as an
    // HTTP error the guest reports, not a trap.
    let rec = Arc::new(Recorder::default());
    let mut inv = invocation(CONN, rec.clone());
    inv.http = Some(grant(Arc::new(NetworkTransport::new())));
    let err = plugin(Variant::Connector)
        .call(inv, list(&url))
        .await
        .expect_err("untrusted certificate");
    assert!(
        matches!(&err, InvokeError::Plugin(PluginError::Unavailable(m)) if m.contains("TLS")),
        "{err:?}"
    );
    assert!(rec.events().iter().any(|e| matches!(
        e,
        Event::Http {
            status: None,
            denied: None,
            ..
        }
    )));
    server.abort();
}
