//! Shared test machinery: throwaway databases on both backends and the built binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A fresh, empty database for one test.
pub struct TestDb {
    /// `sqlite://…` or `postgres://…`.
    pub url: String,
    /// A short name for messages.
    pub backend: &'static str,
    pg_admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A new SQLite file in its own temporary directory.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        TestDb {
            url: format!("sqlite://{}", dir.path().join("test.db").display()),
            backend: "sqlite",
            pg_admin: None,
            _dir: Some(dir),
        }
    }

    /// A new database in the test PostgreSQL cluster started by `tests/run.sh`.
    pub async fn postgres() -> TestDb {
        let admin = std::env::var("PORTCULLIS_TEST_POSTGRES_URL").expect(
            "PORTCULLIS_TEST_POSTGRES_URL is not set: run the suite with tests/run.sh, which starts a throwaway PostgreSQL",
        );
        let name = format!("pc_{}", uuid::Uuid::new_v4().simple());
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
            .await
            .expect("connect to the test cluster");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or(admin.clone());
        TestDb {
            url: format!("{base}/{name}"),
            backend: "postgresql",
            pg_admin: Some((admin, name)),
            _dir: None,
        }
    }

    /// Both backends, SQLite first.
    pub async fn both() -> Vec<TestDb> {
        vec![TestDb::sqlite(), TestDb::postgres().await]
    }

    /// Drops a PostgreSQL database (SQLite files go with their directory).
    pub async fn drop_db(self) {
        if let Some((admin, name)) = &self.pg_admin
            && let Ok(mut conn) = <sqlx::AnyConnection as sqlx::Connection>::connect(admin).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

/// The `portcullis` binary built by `cargo build` next to this test binary.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("portcullis");
    assert!(
        bin.exists(),
        "{} does not exist: build it first with `cargo build -p portcullis` (tests/run.sh does)",
        bin.display()
    );
    bin
}

/// A `portcullis` command with a clean environment apart from what the test sets.
pub fn portcullis(data_dir: &Path) -> Command {
    let mut cmd = Command::new(binary());
    for (k, _) in std::env::vars() {
        if k.starts_with("PORTCULLIS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("PORTCULLIS_DATA_DIR", data_dir)
        .env("PORTCULLIS_LOG", "warn");
    cmd
}

/// Runs to completion and captures output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run portcullis")
}

/// stdout + stderr as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `portcullis serve`, killed on drop.
pub struct Server {
    /// The child process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The SSH gateway's port (listening before the health endpoint answers).
    pub ssh_port: u16,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts `serve` with the given command and waits until the health endpoint answers.
    ///
    /// The ports are picked free and handed over, so another process can take one in between
    /// (the suite runs many servers at once): a start that fails with "Address already in use"
    /// is retried on new ports. The addresses go in through the environment, which each
    /// attempt replaces (flags would accumulate on the reused command).
    pub fn start(mut cmd: Command) -> Server {
        const ATTEMPTS: usize = 5;
        cmd.arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for attempt in 1..=ATTEMPTS {
            let port = free_port();
            let ssh = free_port();
            cmd.env("PORTCULLIS_HTTP_ADDR", format!("127.0.0.1:{port}"))
                .env("PORTCULLIS_SSH_ADDR", format!("127.0.0.1:{ssh}"));
            let mut child = cmd.spawn().expect("spawn serve");
            let stdout = collect(child.stdout.take().expect("stdout"));
            let stderr = collect(child.stderr.take().expect("stderr"));
            let base = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    std::thread::sleep(Duration::from_millis(200));
                    let output = format!(
                        "{}{}",
                        stdout.lock().map(|s| s.clone()).unwrap_or_default(),
                        stderr.lock().map(|s| s.clone()).unwrap_or_default()
                    );
                    if attempt < ATTEMPTS && output.contains("Address already in use") {
                        break;
                    }
                    panic!("serve exited early with {status}: {output}");
                }
                if http_get(&base, "/api/health/").is_ok() {
                    return Server {
                        child,
                        base,
                        ssh_port: ssh,
                        stdout,
                        stderr,
                    };
                }
                assert!(
                    Instant::now() < deadline,
                    "serve did not become healthy in 60 s"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Everything printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Everything printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stops with SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(mut r: impl std::io::Read + Send + 'static) -> std::sync::Arc<std::sync::Mutex<String>> {
    let buf = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            if let Ok(mut s) = sink.lock() {
                s.push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        }
    });
    buf
}

/// A minimal HTTP/1.1 GET over a plain socket (status, body).
pub fn http_get(base: &str, path: &str) -> std::io::Result<(u16, String)> {
    http(base, "GET", path, &[], None).map(|r| (r.status, r.body))
}

/// An HTTP answer.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl HttpResponse {
    /// The body as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over a plain socket, the way a script would send it; no client
/// library, so the test sees exactly what goes over the wire.
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> std::io::Result<HttpResponse> {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if body.is_some() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            payload.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&payload);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Helpers of the gateway tests
// ---------------------------------------------------------------------------------------------

pub fn ok(r: &HttpResponse, status: u16) -> serde_json::Value {
    assert_eq!(r.status, status, "{}", r.body);
    r.json()
}

pub fn rows(r: &HttpResponse) -> Vec<serde_json::Value> {
    let v = ok(r, 200);
    v.get("results")
        .cloned()
        .unwrap_or(v)
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("not a list: {}", r.body))
}

pub fn id_of(v: &serde_json::Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// Waits for `check` to give a value, for at most `secs`.
pub fn eventually<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A background client, killed (with what it started) when dropped.
pub struct Bg(pub Child);

impl Bg {
    /// Waits for the exit for at most `secs`.
    pub fn wait(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(Some(s)) = self.0.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        for p in crate::sshd::descendants(self.0.id()) {
            let _ = Command::new("kill")
                .args(["-KILL", &p.to_string()])
                .status();
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
