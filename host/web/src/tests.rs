//! The serving rules against an in-memory app, and the embedded build itself.

#![allow(clippy::unwrap_used)]

use super::*;
use axum::http::Request;
use std::collections::HashMap;
use tower::ServiceExt;

/// An app of a few files; digests differ per file.
struct Mem(HashMap<&'static str, &'static [u8]>);

impl Files for Mem {
    fn get(&self, path: &str) -> Option<File> {
        let (name, data) = self.0.get_key_value(path)?;
        let mut digest = [0u8; 32];
        for (i, b) in name.bytes().chain(data.iter().copied()).enumerate() {
            digest[i % 32] ^= b.wrapping_add(i as u8);
        }
        Some(File {
            data: Cow::Borrowed(data),
            digest,
        })
    }
}

const INDEX: &[u8] =
    b"<!doctype html><title>app</title><script src=\"/assets/app-1a2b.js\"></script>";

fn app() -> Router {
    site(Arc::new(Mem(HashMap::from([
        ("index.html", INDEX),
        ("assets/app-1a2b.js", &b"console.log('plain')"[..]),
        ("assets/app-1a2b.js.gz", &b"GZ"[..]),
        ("assets/app-1a2b.js.br", &b"BR"[..]),
        ("assets/logo-9f9f.png", &b"\x89PNG"[..]),
        ("favicon.svg", &b"<svg/>"[..]),
    ]))))
}

async fn call(method: &str, path: &str, headers: &[(&str, &str)]) -> (Response, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (Response::from_parts(parts, Body::empty()), bytes.to_vec())
}

fn h<'a>(res: &'a Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn the_root_redirects_to_the_app() {
    let (res, _) = call("GET", "/", &[]).await;
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(h(&res, "location"), Some("/ui/"));
}

#[tokio::test]
async fn every_route_under_ui_answers_the_index_revalidated() {
    for path in [
        "/ui",
        "/ui/",
        "/ui/login",
        "/ui/console/users",
        "/ui/audit/sessions/abc/replay?x=1",
    ] {
        let (res, body) = call("GET", path, &[]).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(body, INDEX, "{path}");
        assert_eq!(
            h(&res, "content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_eq!(h(&res, "cache-control"), Some("no-cache"), "{path}");
        assert!(h(&res, "etag").is_some(), "{path}");
    }
}

#[tokio::test]
async fn hashed_assets_are_immutable_with_their_media_type() {
    let (res, body) = call("GET", "/assets/app-1a2b.js", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body, b"console.log('plain')");
    assert_eq!(
        h(&res, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        h(&res, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(h(&res, "content-encoding"), None);
    assert_eq!(h(&res, "vary"), Some("Accept-Encoding"));

    let (res, body) = call("GET", "/assets/logo-9f9f.png", &[("accept-encoding", "br")]).await;
    assert_eq!(body, b"\x89PNG");
    assert_eq!(h(&res, "content-type"), Some("image/png"));
    assert_eq!(h(&res, "content-encoding"), None);
}

#[tokio::test]
async fn a_missing_asset_is_a_404_not_the_index() {
    let (res, body) = call("GET", "/assets/app-old.js", &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_ne!(body, INDEX);
    assert_eq!(h(&res, "cache-control"), Some("no-cache"));
}

#[tokio::test]
async fn precompressed_copies_follow_accept_encoding() {
    let cases = [
        ("gzip, deflate, br, zstd", Some("br"), &b"BR"[..]),
        ("gzip", Some("gzip"), b"GZ"),
        ("br;q=0, gzip;q=0.5", Some("gzip"), b"GZ"),
        ("BR", Some("br"), b"BR"),
        ("identity", None, b"console.log('plain')"),
    ];
    for (accept, coding, want) in cases {
        let (res, body) = call("GET", "/assets/app-1a2b.js", &[("accept-encoding", accept)]).await;
        assert_eq!(h(&res, "content-encoding"), coding, "{accept}");
        assert_eq!(body, want, "{accept}");
        assert_eq!(
            h(&res, "content-type"),
            Some("text/javascript; charset=utf-8"),
            "{accept}"
        );
    }
}

#[tokio::test]
async fn a_current_copy_is_answered_304_per_encoding() {
    let (plain, _) = call("GET", "/ui/login", &[]).await;
    let tag = h(&plain, "etag").unwrap().to_owned();
    let (res, body) = call("GET", "/ui/console", &[("if-none-match", &tag)]).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(h(&res, "cache-control"), Some("no-cache"));
    let weak = format!("W/{tag}");
    let (res, _) = call("GET", "/ui/", &[("if-none-match", &weak)]).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let (res, _) = call("GET", "/ui/", &[("if-none-match", "\"other\"")]).await;
    assert_eq!(res.status(), StatusCode::OK);

    // The brotli copy is another representation with its own validator.
    let (br, _) = call("GET", "/assets/app-1a2b.js", &[("accept-encoding", "br")]).await;
    let br_tag = h(&br, "etag").unwrap().to_owned();
    let (js, _) = call("GET", "/assets/app-1a2b.js", &[]).await;
    assert_ne!(h(&js, "etag").unwrap(), br_tag);
    let (res, _) = call(
        "GET",
        "/assets/app-1a2b.js",
        &[("accept-encoding", "br"), ("if-none-match", &br_tag)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let (res, _) = call("GET", "/assets/app-1a2b.js", &[("if-none-match", &br_tag)]).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn root_files_are_served_and_other_paths_get_the_index() {
    let (res, body) = call("GET", "/favicon.svg", &[]).await;
    assert_eq!(body, b"<svg/>");
    assert_eq!(h(&res, "content-type"), Some("image/svg+xml"));
    assert_eq!(h(&res, "cache-control"), Some("no-cache"));
    for path in ["/dashboard", "/some/deep/path", "/index.html"] {
        let (res, body) = call("GET", path, &[]).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(body, INDEX, "{path}");
    }
}

#[tokio::test]
async fn only_get_and_head_are_answered() {
    for path in [
        "/ui/login",
        "/assets/app-1a2b.js",
        "/favicon.svg",
        "/elsewhere",
    ] {
        let (res, _) = call("POST", path, &[]).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let (res, body) = call("HEAD", path, &[]).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(body.is_empty(), "{path}");
    }
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    for path in [
        "/",
        "/ui/login",
        "/assets/app-1a2b.js",
        "/assets/gone.js",
        "/favicon.svg",
    ] {
        let (res, _) = call("GET", path, &[]).await;
        assert_eq!(h(&res, "x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(h(&res, "x-frame-options"), Some("DENY"), "{path}");
        let csp = h(&res, "content-security-policy").unwrap();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval';"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("'unsafe-eval'"), "{csp}");
    }
}

/// The build embedded an app whose index names only files that are embedded too.
#[test]
fn the_embedded_app_is_complete() {
    let index = Embedded.get("index.html").expect("index.html is embedded");
    let html = String::from_utf8(index.data.into_owned()).unwrap();
    if !is_built() {
        assert!(html.contains("was not built"), "{html}");
        return;
    }
    let mut referenced = 0;
    for piece in html.split("\"/assets/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(
            Embedded.get(&format!("assets/{name}")).is_some(),
            "index.html names /assets/{name}, which is not embedded"
        );
        referenced += 1;
    }
    assert!(referenced > 0, "index.html names no asset: {html}");
}
