//! A small blocking HTTP client over `wasi:http/outgoing-handler`, for the `cloud-connector`
//! and `auth-provider` worlds.
//!
//! Build a [`Request`], send it with [`HttpHost::send`](crate::HttpHost::send) (testable: the
//! native [`ScriptedHost`](crate::testing::ScriptedHost) answers from fixtures) or with the
//! free functions [`send`], [`get`] and [`post`] (the real client; natively they fail with
//! `Unavailable`). The whole response body is read into memory; the host caps response
//! sizes per invocation. Only `http` and `https` URLs are accepted, and the host lets requests
//! through to the manifest's granted allowlist only (`Denied` otherwise).
//!
//! ```no_run
//! use portcullis_plugin_sdk::{http::Request, Error, HttpHost};
//!
//! fn regions(host: &dyn HttpHost, token: &str) -> Result<Vec<String>, Error> {
//!     let auth = format!("Bearer {token}");
//!     let response = host
//!         .send(&Request::get("https://api.example.com/v1/regions").header("authorization", &auth))?
//!         .error_for_status()?;
//!     response.json::<Vec<String>>()
//! }
//! ```

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// The request method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    /// Any other method, by name.
    Other(String),
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(name) => name,
        }
    }
}

/// One outgoing request. Built with [`Request::get`], [`Request::post`] or [`Request::new`]
/// and the builder methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// An absolute `http://` or `https://` URL.
    pub url: String,
    /// Header names and values, in order; names are sent as given.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Connect, first-byte and between-bytes timeout; `None` leaves the host's defaults.
    pub timeout: Option<Duration>,
}

impl Request {
    /// A request without headers or body.
    pub fn new(method: Method, url: &str) -> Self {
        Request {
            method,
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    /// `GET url`.
    pub fn get(url: &str) -> Self {
        Request::new(Method::Get, url)
    }

    /// `POST url` with `body`.
    pub fn post(url: &str, body: &[u8]) -> Self {
        Request::new(Method::Post, url).body(body)
    }

    /// Adds one header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds several headers.
    pub fn headers(mut self, headers: &[(&str, &str)]) -> Self {
        self.headers.extend(
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        self
    }

    /// Replaces the body.
    pub fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    /// The body as JSON, with `content-type: application/json`.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, Error> {
        let body = serde_json::to_vec(value).map_err(|e| Error::internal(format!("JSON: {e}")))?;
        Ok(self.header("content-type", "application/json").body(&body))
    }

    /// The body as `application/x-www-form-urlencoded` pairs.
    pub fn form(self, pairs: &[(&str, &str)]) -> Self {
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body.as_bytes())
    }

    /// Sets the timeout (see [`Request::timeout`] field).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response with this status and body and no headers (for test fixtures).
    pub fn new(status: u16, body: &[u8]) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.to_vec(),
        }
    }

    /// A `200` JSON response (for test fixtures).
    pub fn json_body(body: &str) -> Self {
        let mut r = Response::new(200, body.as_bytes());
        r.headers
            .push(("content-type".to_owned(), "application/json".to_owned()));
        r
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as UTF-8 text (`Internal` when it is not).
    pub fn text(&self) -> Result<String, Error> {
        Ok(String::from_utf8(self.body.clone())?)
    }

    /// The body parsed as JSON (`Internal` when it does not parse: an answer the plugin
    /// cannot read).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::internal(format!("unexpected JSON in the response: {e}")))
    }

    /// `Ok(self)` for 1xx–3xx; otherwise the error the status means: 401 `Unauthorized`,
    /// 403 `Denied`, 404 `NotFound`, 408/504 `Timeout`, 400/422 `InvalidInput` (the request
    /// built from the arguments or configuration was refused), 429 and 5xx `Unavailable`,
    /// other 4xx `Internal`. The message carries the status and the start of the body.
    pub fn error_for_status(self) -> Result<Self, Error> {
        if self.status < 400 {
            return Ok(self);
        }
        let excerpt: String = String::from_utf8_lossy(&self.body)
            .chars()
            .take(200)
            .collect();
        let message = format!("HTTP {}: {}", self.status, excerpt.trim());
        Err(match self.status {
            401 => Error::Unauthorized(message),
            403 => Error::Denied(message),
            404 => Error::NotFound(message),
            408 | 504 => Error::Timeout,
            400 | 422 => Error::InvalidInput(message),
            429 | 500..=599 => Error::Unavailable(message),
            _ => Error::Internal(message),
        })
    }
}

/// Sends `request` with the real client (`wasi:http/outgoing-handler`). Natively this fails
/// with `Unavailable`: use [`HttpHost::send`](crate::HttpHost::send) in code you unit-test.
pub fn send(request: &Request) -> Result<Response, Error> {
    #[cfg(target_arch = "wasm32")]
    {
        crate::wasm::http::send(request)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        Err(Error::unavailable(format!(
            "no HTTP client outside the plugin runtime ({} {})",
            request.method.as_str(),
            request.url
        )))
    }
}

/// `GET url` with the real client; see [`send`].
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, Error> {
    send(&Request::get(url).headers(headers))
}

/// `POST url` with the real client; see [`send`].
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response, Error> {
    send(&Request::post(url, body).headers(headers))
}

/// An absolute URL cut into what `wasi:http` wants: scheme, authority and path with query
/// (the fragment is dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlParts<'a> {
    pub https: bool,
    pub authority: &'a str,
    pub path_with_query: &'a str,
}

/// Splits `url`; `InvalidInput` for anything but an absolute `http(s)://host...` URL.
pub(crate) fn split_url(url: &str) -> Result<UrlParts<'_>, Error> {
    let (https, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
        (true, rest)
    } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
        (false, rest)
    } else {
        return Err(Error::invalid_input(format!("not an http(s) URL: {url:?}")));
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains(['@', ' ']) {
        return Err(Error::invalid_input(format!(
            "URL without a valid host: {url:?}"
        )));
    }
    let path_with_query = if path.is_empty() { "/" } else { path };
    Ok(UrlParts {
        https,
        authority,
        path_with_query,
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for query strings and
/// form bodies).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let p = split_url("https://api.example.com:8443/v1/x?a=1#frag").expect("valid");
        assert_eq!(
            p,
            UrlParts {
                https: true,
                authority: "api.example.com:8443",
                path_with_query: "/v1/x?a=1"
            }
        );
        let p = split_url("HTTP://h?q").expect("valid");
        assert!(!p.https);
        assert_eq!((p.authority, p.path_with_query), ("h", "?q"));
        assert_eq!(split_url("http://h").expect("valid").path_with_query, "/");
    }

    #[test]
    fn bad_urls_are_invalid_input() {
        for url in ["ftp://h/x", "h/x", "https:///x", "https://user@h/", ""] {
            assert!(
                matches!(split_url(url), Err(Error::InvalidInput(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn statuses_map_to_errors() {
        let r = |s| Response::new(s, b"oops").error_for_status();
        assert!(r(204).is_ok());
        assert!(r(302).is_ok());
        assert_eq!(r(401), Err(Error::Unauthorized("HTTP 401: oops".into())));
        assert!(matches!(r(403), Err(Error::Denied(_))));
        assert!(matches!(r(404), Err(Error::NotFound(_))));
        assert_eq!(r(504), Err(Error::Timeout));
        assert!(matches!(r(400), Err(Error::InvalidInput(_))));
        assert!(matches!(r(503), Err(Error::Unavailable(_))));
        assert!(matches!(r(429), Err(Error::Unavailable(_))));
        assert!(matches!(r(418), Err(Error::Internal(_))));
    }

    #[test]
    fn bodies_encode_and_decode() {
        let req = Request::post("https://h/t", b"")
            .form(&[("grant_type", "client_credentials"), ("scope", "a b/c")]);
        assert_eq!(req.body, b"grant_type=client_credentials&scope=a%20b%2Fc");
        assert_eq!(
            req.headers,
            vec![(
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned()
            )]
        );
        let req = Request::get("https://h/")
            .json(&[1, 2])
            .expect("serializes");
        assert_eq!(req.body, b"[1,2]");
        let resp = Response::json_body(r#"{"a":[1,2]}"#);
        assert_eq!(resp.header("Content-Type"), Some("application/json"));
        let v: serde_json::Value = resp.json().expect("parses");
        assert_eq!(v["a"][1], 2);
        assert!(matches!(
            Response::new(200, b"<html>").json::<serde_json::Value>(),
            Err(Error::Internal(_))
        ));
    }

    #[test]
    fn native_send_is_unavailable() {
        assert!(matches!(get("https://h/", &[]), Err(Error::Unavailable(_))));
    }
}
