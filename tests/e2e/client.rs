//! An API client for the tests: a server with a known admin, login, and JSON requests.

use crate::support::{HttpResponse, Server, TestDb, http, portcullis, run, text};
use serde_json::{Value, json};

pub const ADMIN_PASSWORD: &str = "Adm1n-pass-for-tests";

/// A server on `db` with a known admin password.
pub fn start(db: &TestDb, data: &std::path::Path) -> Server {
    let mut cmd = portcullis(data);
    cmd.env("PORTCULLIS_DATABASE_URL", &db.url)
        .env("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD);
    Server::start(cmd)
}

pub fn login(server: &Server, username: &str, password: &str) -> HttpResponse {
    http(
        &server.base,
        "POST",
        "/api/v1/authentication/auth/",
        &[],
        Some(&json!({"username": username, "password": password})),
    )
    .unwrap()
}

pub fn token(server: &Server, username: &str, password: &str) -> String {
    let r = login(server, username, password);
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["token"].as_str().unwrap().to_owned()
}

pub fn get(server: &Server, token: &str, path: &str) -> HttpResponse {
    let auth = format!("Bearer {token}");
    http(&server.base, "GET", path, &[("Authorization", &auth)], None).unwrap()
}

pub fn send(server: &Server, token: &str, method: &str, path: &str, body: &Value) -> HttpResponse {
    let auth = format!("Bearer {token}");
    http(
        &server.base,
        method,
        path,
        &[("Authorization", &auth)],
        Some(body),
    )
    .unwrap()
}

pub fn create_user(data: &std::path::Path, db: &TestDb, username: &str, role: &str) -> String {
    let out = run(portcullis(data)
        .env("PORTCULLIS_DATABASE_URL", &db.url)
        .args([
            "admin",
            "create-user",
            "--username",
            username,
            "--email",
            &format!("{username}@example.com"),
            "--role",
            role,
        ]));
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap()
        .to_owned()
}

/// Logs in and returns the bearer token with the `Cookie` header value of the session the
/// login opened (what a `requests.Session` would keep).
pub fn login_with_cookies(server: &Server, username: &str, password: &str) -> (String, String) {
    let r = login(server, username, password);
    assert_eq!(r.status, 201, "{}", r.body);
    let cookies = r
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .filter_map(|(_, v)| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    (r.json()["token"].as_str().unwrap().to_owned(), cookies)
}

/// A bearer request that also carries the session cookies.
pub fn send_with_cookies(
    server: &Server,
    token: &str,
    cookies: &str,
    method: &str,
    path: &str,
    body: &Value,
) -> HttpResponse {
    let auth = format!("Bearer {token}");
    http(
        &server.base,
        method,
        path,
        &[("Authorization", &auth), ("Cookie", cookies)],
        Some(body),
    )
    .unwrap()
}
