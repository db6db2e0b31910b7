//! [`FixtureHttp`]: an [`HttpTransport`] that answers from a fixture list (`http.jsonl`).
//!
//! One JSON object per line (blank lines and lines starting with `#` are skipped):
//!
//! ```text
//! {"method": "GET", "url": "https://api.example.com/v1/regions", "status": 200,
//!  "headers": {"content-type": "application/json"}, "body": {"regions": []}}
//! {"method": "GET", "url": "https://api.example.com/v1/instances?page=2", "body_file": "page2.json"}
//! {"method": "POST", "url": "https://api.example.com/token", "request_body": {"grant": "x"}, "body": "ok"}
//! {"method": "GET", "url": "https://slow.example.com/", "hang": true}
//! {"method": "GET", "url": "https://down.example.com/", "error": "unavailable connection refused"}
//! ```
//!
//! `status` defaults to 200. `body` is a string (sent as is) or any other JSON value (sent
//! serialized); `body_file` is a path relative to the fixture file. `request_body`, when given,
//! must equal the request's body (as JSON when it is not a string). Query parameters are
//! compared in any order. Several entries for the same request are answered in order, the last
//! one again and again. `method` and `url` may be `*` (any). `hang` never answers (the request's timeout ends it); `error` fails the
//! request as the transport would (`CODE message`, codes as in `plugin-error`).
//!
//! A request no entry matches is a violation ("unexpected request GET https://..."): the plugin
//! gets an `unavailable` error and the test fails. Secrets the case knows are shown as
//! `<secret:NAME>` in the record of requests.

use crate::transcript::parse_error;
use async_trait::async_trait;
use portcullis_plugin::caps::{HttpRequest, HttpResponse, HttpTransport};
use portcullis_plugin::error::PluginError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Reading a fixture file failed.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A line is not a valid fixture.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// One fixture line as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    method: String,
    url: String,
    #[serde(default)]
    request_body: Option<serde_json::Value>,
    #[serde(default = "ok_status")]
    status: u16,
    #[serde(default)]
    headers: Option<Headers>,
    #[serde(default)]
    body: Option<serde_json::Value>,
    #[serde(default)]
    body_file: Option<String>,
    #[serde(default)]
    hang: bool,
    #[serde(default)]
    error: Option<String>,
}

fn ok_status() -> u16 {
    200
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Headers {
    Map(serde_json::Map<String, serde_json::Value>),
    List(Vec<(String, String)>),
}

/// What a fixture answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A response.
    Response(HttpResponse),
    /// The request fails.
    Fail(PluginError),
    /// No answer until the request's timeout.
    Hang,
}

/// One request the fixture map knows.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Upper-case method.
    pub method: String,
    /// The URL as written.
    pub url: String,
    /// The body the request must carry, if checked.
    pub request_body: Option<serde_json::Value>,
    /// The answer.
    pub reply: Reply,
}

impl Fixture {
    /// A fixture answering `method url` with `status` and `body`.
    pub fn response(method: &str, url: &str, status: u16, body: impl Into<Vec<u8>>) -> Self {
        Fixture {
            method: method.to_ascii_uppercase(),
            url: url.to_owned(),
            request_body: None,
            reply: Reply::Response(HttpResponse {
                status,
                headers: Vec::new(),
                body: body.into(),
            }),
        }
    }

    fn matches(&self, method: &str, url: &str, body: &[u8]) -> bool {
        if !(self.method == "*" || self.method.eq_ignore_ascii_case(method))
            || !(self.url == "*" || normalize(&self.url) == normalize(url))
        {
            return false;
        }
        match &self.request_body {
            None => true,
            Some(serde_json::Value::String(s)) => s.as_bytes() == body,
            Some(v) => serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|b| &b == v),
        }
    }
}

/// The fixture map and what was asked of it; clones share state.
#[derive(Clone)]
pub struct FixtureHttp {
    state: Arc<Mutex<State>>,
}

struct State {
    fixtures: Vec<(Fixture, usize)>,
    secrets: Vec<(String, Vec<u8>)>,
    records: Vec<String>,
    violations: Vec<String>,
    /// Requests that reached the transport (answered or not).
    count: usize,
}

impl FixtureHttp {
    /// A transport answering from `fixtures`; `secrets` are hidden in the records.
    pub fn new(fixtures: Vec<Fixture>, secrets: Vec<(String, Vec<u8>)>) -> Self {
        let mut secrets = secrets;
        secrets.sort_by_key(|s| std::cmp::Reverse(s.1.len()));
        secrets.retain(|(_, v)| !v.is_empty());
        FixtureHttp {
            state: Arc::new(Mutex::new(State {
                fixtures: fixtures.into_iter().map(|f| (f, 0)).collect(),
                secrets,
                records: Vec::new(),
                violations: Vec::new(),
                count: 0,
            })),
        }
    }

    /// Reads an `http.jsonl` file.
    pub fn load_fixtures(path: &Path) -> Result<Vec<Fixture>, FixtureError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Io {
            path: shown.clone(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut out = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let raw = raw.trim();
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            let syntax = |message: String| FixtureError::Syntax {
                path: shown.clone(),
                line: i + 1,
                message,
            };
            let line: Line = serde_json::from_str(raw).map_err(|e| syntax(e.to_string()))?;
            let reply = if line.hang {
                Reply::Hang
            } else if let Some(err) = &line.error {
                Reply::Fail(parse_error(err).map_err(syntax)?)
            } else {
                let body = match (&line.body, &line.body_file) {
                    (Some(_), Some(_)) => {
                        return Err(syntax("give body or body_file, not both".into()));
                    }
                    (Some(serde_json::Value::String(s)), None) => s.clone().into_bytes(),
                    (Some(v), None) => v.to_string().into_bytes(),
                    (None, Some(file)) => {
                        let p = base.join(file);
                        std::fs::read(&p).map_err(|source| FixtureError::Io {
                            path: p.display().to_string(),
                            source,
                        })?
                    }
                    (None, None) => Vec::new(),
                };
                let headers = match line.headers {
                    None => Vec::new(),
                    Some(Headers::List(l)) => l,
                    Some(Headers::Map(m)) => m
                        .into_iter()
                        .map(|(k, v)| {
                            let v = match v {
                                serde_json::Value::String(s) => s,
                                other => other.to_string(),
                            };
                            (k, v)
                        })
                        .collect(),
                };
                Reply::Response(HttpResponse {
                    status: line.status,
                    headers,
                    body,
                })
            };
            out.push(Fixture {
                method: line.method.to_ascii_uppercase(),
                url: line.url,
                request_body: line.request_body,
                reply,
            });
        }
        Ok(out)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One line per request: `GET https://... → 200` (or `→ violation`, `→ no answer`, the
    /// error), then the request body when there was one.
    pub fn records(&self) -> Vec<String> {
        self.lock().records.clone()
    }

    /// How many requests reached the transport (the policy let them through).
    pub fn request_count(&self) -> usize {
        self.lock().count
    }

    /// Requests no fixture matched.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }
}

impl State {
    fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (name, value) in &self.secrets {
            text = text.replace(
                String::from_utf8_lossy(value).as_ref(),
                &format!("<secret:{name}>"),
            );
        }
        text
    }
}

/// The URL with its query parameters sorted, so `?a=1&b=2` equals `?b=2&a=1`.
fn normalize(url: &str) -> String {
    let (url, fragment) = url.split_once('#').map_or((url, ""), |(u, f)| (u, f));
    let _ = fragment;
    match url.split_once('?') {
        None => url.to_owned(),
        Some((base, query)) => {
            let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
            pairs.sort_unstable();
            format!("{base}?{}", pairs.join("&"))
        }
    }
}

#[async_trait]
impl HttpTransport for FixtureHttp {
    async fn send(
        &self,
        request: HttpRequest,
        _resolved: Option<SocketAddr>,
        max_body: u64,
        timeout: Duration,
    ) -> Result<HttpResponse, PluginError> {
        let reply = {
            let mut st = self.lock();
            st.count += 1;
            let shown = st.redact(&format!("{} {}", request.method, request.url));
            let body_shown = (!request.body.is_empty())
                .then(|| st.redact(&String::from_utf8_lossy(&request.body)));
            // The first unused entry for this request, else the last one again.
            let matching: Vec<usize> = st
                .fixtures
                .iter()
                .enumerate()
                .filter(|(_, (f, _))| f.matches(&request.method, &request.url, &request.body))
                .map(|(i, _)| i)
                .collect();
            let found = matching
                .iter()
                .copied()
                .find(|&i| st.fixtures[i].1 == 0)
                .or(matching.last().copied());
            let Some(i) = found else {
                let body_note = body_shown
                    .as_deref()
                    .map(|b| format!(" with body {b}"))
                    .unwrap_or_default();
                let message = format!("unexpected request {shown}{body_note}");
                st.records.push(format!("{shown} → violation"));
                st.violations.push(message.clone());
                return Err(PluginError::Unavailable(format!("test harness: {message}")));
            };
            st.fixtures[i].1 += 1;
            let reply = st.fixtures[i].0.reply.clone();
            let outcome = match &reply {
                Reply::Response(r) if r.body.len() as u64 > max_body => {
                    format!(
                        "{} (body of {} bytes over the cap of {max_body})",
                        r.status,
                        r.body.len()
                    )
                }
                Reply::Response(r) => r.status.to_string(),
                Reply::Fail(e) => e.to_string(),
                Reply::Hang => "no answer".to_owned(),
            };
            st.records.push(format!("{shown} → {outcome}"));
            if let Some(b) = body_shown {
                st.records.push(format!("  body: {b}"));
            }
            reply
        };
        match reply {
            // A transport stops reading one byte past the budget; the runtime sees the body is
            // over it, refuses it to the plugin and records the cap.
            Reply::Response(mut r) if r.body.len() as u64 > max_body => {
                r.body
                    .truncate(usize::try_from(max_body.saturating_add(1)).unwrap_or(usize::MAX));
                Ok(r)
            }
            Reply::Response(r) => Ok(r),
            Reply::Fail(e) => Err(e),
            Reply::Hang => {
                tokio::time::sleep(timeout).await;
                Err(PluginError::Timeout)
            }
        }
    }

    fn resolves_addresses(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn req(method: &str, url: &str) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            url: url.into(),
            headers: vec![("authorization".into(), "Bearer tok-123".into())],
            body: Vec::new(),
        }
    }

    const T: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn answers_in_order_then_repeats_the_last_and_refuses_unknown_urls() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p2.json"), br#"{"page":2}"#).unwrap();
        let file = dir.path().join("http.jsonl");
        std::fs::write(
            &file,
            concat!(
                "# fixtures\n",
                r#"{"method":"get","url":"https://api.test/x?b=2&a=1","body":{"page":1}}"#, "\n",
                r#"{"method":"GET","url":"https://api.test/x?a=1&b=2","body_file":"p2.json","status":201}"#, "\n",
            ),
        )
        .unwrap();
        let http = FixtureHttp::new(
            FixtureHttp::load_fixtures(&file).unwrap(),
            vec![("token".into(), b"tok-123".to_vec())],
        );
        assert!(!http.resolves_addresses());
        let r = http
            .send(req("GET", "https://api.test/x?a=1&b=2"), None, 1000, T)
            .await
            .unwrap();
        assert_eq!(r.body, br#"{"page":1}"#);
        let r = http
            .send(req("GET", "https://api.test/x?a=1&b=2"), None, 1000, T)
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &br#"{"page":2}"#[..]));
        let r = http
            .send(req("GET", "https://api.test/x?b=2&a=1"), None, 1000, T)
            .await
            .unwrap();
        assert_eq!(r.status, 201, "the last entry repeats");
        let err = http
            .send(req("GET", "https://api.test/tok-123"), None, 1000, T)
            .await
            .unwrap_err();
        assert!(matches!(err, PluginError::Unavailable(_)));
        assert_eq!(
            http.violations(),
            vec!["unexpected request GET https://api.test/<secret:token>".to_owned()]
        );
        assert_eq!(http.request_count(), 4);
    }

    #[tokio::test]
    async fn a_body_over_the_budget_is_cut_one_byte_past_it() {
        let http = FixtureHttp::new(
            vec![Fixture::response(
                "GET",
                "https://a.test/",
                200,
                vec![b'x'; 100],
            )],
            Vec::new(),
        );
        let r = http
            .send(req("GET", "https://a.test/"), None, 10, T)
            .await
            .unwrap();
        assert_eq!(r.body.len(), 11);
        let r = http
            .send(req("GET", "https://a.test/"), None, 1000, T)
            .await
            .unwrap();
        assert_eq!(r.body.len(), 100);
    }

    #[tokio::test]
    async fn request_bodies_select_fixtures_and_hangs_wait_for_the_timeout() {
        let mut by_body = Fixture::response("POST", "https://a.test/token", 200, b"yes".to_vec());
        by_body.request_body = Some(serde_json::json!({"grant": "x"}));
        let hang = Fixture {
            method: "*".into(),
            url: "*".into(),
            request_body: None,
            reply: Reply::Hang,
        };
        let http = FixtureHttp::new(vec![by_body, hang], Vec::new());
        let mut r = req("POST", "https://a.test/token");
        r.body = br#"{ "grant" : "x" }"#.to_vec();
        assert_eq!(http.send(r, None, 100, T).await.unwrap().body, b"yes");
        let started = std::time::Instant::now();
        let err = http
            .send(
                req("GET", "https://b.test/"),
                None,
                100,
                Duration::from_millis(50),
            )
            .await
            .unwrap_err();
        assert_eq!(err, PluginError::Timeout);
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(
            http.records(),
            [
                "POST https://a.test/token → 200",
                "  body: { \"grant\" : \"x\" }",
                "GET https://b.test/ → no answer"
            ]
        );
    }
}
