//! The web UI as the built binary serves it: plain HTTP checks of the embedded app (history
//! fallback, cache headers, precompressed assets, the API's JSON 404 beside it), and the
//! real-browser specs in `tests/web/` (playwright-core driving Debian's chromium, run with
//! `node --test`) against a server seeded through the API.

use crate::client::{ADMIN_PASSWORD, get, send, start, token};
use crate::support::{HttpResponse, Server, TestDb, binary, http};
use hmac13::{KeyInit, Mac};
use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn fetch(server: &Server, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http(&server.base, "GET", path, headers, None).unwrap()
}

/// The `/assets/…` files `index.html` loads.
fn assets_of(index: &str) -> Vec<String> {
    index
        .split("\"/assets/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|name| format!("/assets/{name}"))
        .collect()
}

#[test]
fn the_binary_serves_the_ui_with_history_fallback_and_cache_headers() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());

    let root = fetch(&server, "/", &[]);
    assert!((300..400).contains(&root.status), "{root:?}");
    assert_eq!(root.header("location"), Some("/ui/"));

    // Every client-side route answers the app itself, revalidated on each load.
    let mut index = None;
    for path in [
        "/ui/",
        "/ui/login",
        "/ui/console/users",
        "/ui/audit/sessions/x/replay",
    ] {
        let r = fetch(&server, path, &[]);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(
            r.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        if let Some(first) = &index {
            assert_eq!(&r.body, first, "{path} answers the same page");
        }
        index = Some(r.body);
    }
    let index = index.unwrap();
    assert!(
        !index.contains("was not built"),
        "the binary holds the 'UI not built' page: npm must be installed when it is built \
         (tests/run.sh installs it)\n{index}"
    );
    assert!(index.contains("id=\"app\""), "{index}");

    // Vite's hashed files: the right type, cached for a year, compressed when asked.
    let assets = assets_of(&index);
    assert!(
        assets.iter().any(|a| a.ends_with(".js")),
        "index.html loads no script: {index}"
    );
    for asset in &assets {
        let r = fetch(&server, asset, &[]);
        assert_eq!(r.status, 200, "{asset}");
        let kind = r.header("content-type").unwrap_or_default();
        if asset.ends_with(".js") {
            assert_eq!(kind, "text/javascript; charset=utf-8", "{asset}");
        } else if asset.ends_with(".css") {
            assert_eq!(kind, "text/css; charset=utf-8", "{asset}");
        }
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{asset}"
        );
        assert_eq!(r.header("content-encoding"), None, "{asset}");
    }
    let script = assets.iter().find(|a| a.ends_with(".js")).unwrap();
    let br = fetch(&server, script, &[("Accept-Encoding", "gzip, deflate, br")]);
    assert_eq!(br.header("content-encoding"), Some("br"), "{script}");
    assert_eq!(br.header("vary"), Some("Accept-Encoding"));
    let gz = fetch(&server, script, &[("Accept-Encoding", "gzip")]);
    assert_eq!(gz.header("content-encoding"), Some("gzip"), "{script}");

    // A file that is not there is a 404, not the app (which a browser would run as a script).
    let missing = fetch(&server, "/assets/index-00000000.js", &[]);
    assert_eq!(missing.status, 404);
    assert!(!missing.body.contains("id=\"app\""));

    // The API keeps its own answers (path parameters included: the dispatch in front of it
    // adds none), and its JSON 404 for unknown paths.
    assert_eq!(fetch(&server, "/api/health/", &[]).status, 200);
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let assets = get(&server, &admin, "/api/v1/assets/assets/?limit=20&offset=0");
    assert_eq!(assets.status, 200, "{}", assets.body);
    let me = get(&server, &admin, "/api/v1/users/profile/").json();
    let id = me["id"].as_str().unwrap();
    let user = get(&server, &admin, &format!("/api/v1/users/users/{id}/"));
    assert_eq!(user.status, 200, "{}", user.body);
    assert_eq!(user.json()["username"], "admin");
    for path in ["/api/v1/no-such-thing/", "/api/", "/api", "/koko/terminal/"] {
        let r = fetch(&server, path, &[]);
        assert_eq!(r.status, 404, "{path}: {r:?}");
        assert!(
            r.header("content-type")
                .unwrap_or_default()
                .starts_with("application/json"),
            "{path}: {r:?}"
        );
        assert!(r.json()["detail"].is_string(), "{path}: {}", r.body);
    }
    let _ = server.stop();
}

// ---------------------------------------------------------------------------------------------
// The browser specs
// ---------------------------------------------------------------------------------------------

/// `tests/web`: the specs, their helper module and their npm lock.
pub(crate) fn specs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// Removes a spec's screenshots before it runs, so [`assert_screenshots`] sees this run's.
pub(crate) fn remove_screenshots(shots: &[&str]) {
    for shot in shots {
        let _ = std::fs::remove_file(artifacts_dir().join(shot));
    }
}

/// Asserts each screenshot was written (a real image, not an empty file): they are the
/// artifacts a reviewer looks at.
pub(crate) fn assert_screenshots(shots: &[&str]) {
    for shot in shots {
        let path = artifacts_dir().join(shot);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "no screenshot {}", path.display());
    }
}

/// Where screenshots go: `PORTCULLIS_WEB_ARTIFACTS`, or `web-artifacts` in the target directory.
pub(crate) fn artifacts_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PORTCULLIS_WEB_ARTIFACTS") {
        return PathBuf::from(dir);
    }
    let bin = binary();
    bin.parent()
        .and_then(Path::parent)
        .map(|target| target.join("web-artifacts"))
        .expect("the target directory")
}

/// `npm ci` in `tests/web` once per run, when `node_modules` is missing or older than the lock.
fn install_specs() {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return;
    }
    let dir = specs_dir();
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let installed = modified(dir.join("node_modules/.package-lock.json"));
    let lock = modified(dir.join("package-lock.json"));
    if installed.is_none() || lock > installed {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .expect("run npm (install Node.js and npm; tests/run.sh does)");
        assert!(
            out.status.success(),
            "npm ci in tests/web failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    *done = true;
}

/// Runs one spec file with `node --test` and fails with its whole output unless every test in
/// it passed. The spec gets the server and `vars`; it is stopped (with the browser it started)
/// after `limit`.
pub(crate) fn run_spec(spec: &str, server: &Server, vars: &[(&str, String)], limit: Duration) {
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("PC_CHROMIUM").is_some(),
        "no /usr/bin/chromium: install Debian's chromium (tests/run.sh does)"
    );
    install_specs();
    let artifacts = artifacts_dir();
    std::fs::create_dir_all(&artifacts).unwrap();
    let mut cmd = Command::new("node");
    cmd.args(["--test", "--test-reporter=spec"])
        .arg(specs_dir().join(spec))
        .current_dir(specs_dir())
        .env("PC_BASE_URL", &server.base)
        .env("PC_ARTIFACTS", &artifacts)
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so a spec that overruns is stopped with its browser.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let started = Instant::now();
    let mut child = cmd.spawn().expect("run node (tests/run.sh installs it)");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = format!(
        "{}{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    match status {
        Some(s) if s.success() => println!("{output}"),
        Some(s) => panic!(
            "{spec} failed ({s}); screenshots in {}:\n{output}\n--- server stderr ---\n{}",
            artifacts.display(),
            server.stderr()
        ),
        None => panic!("{spec} did not finish in {} s:\n{output}", limit.as_secs()),
    }
}

// ---------------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------------

fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u64, 0u32);
    for c in text.trim_end_matches('=').chars() {
        let v = ALPHABET.find(c.to_ascii_uppercase()).expect("base32") as u64;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// RFC 6238 (HMAC-SHA1, 6 digits) for one 30-second step, independent of the server.
fn totp(secret: &str, step: u64) -> String {
    let mut mac = hmac13::Hmac::<sha1::Sha1>::new_from_slice(&base32_decode(secret)).unwrap();
    mac.update(&step.to_be_bytes());
    let d = mac.finalize().into_bytes();
    let o = (d[19] & 0x0f) as usize;
    let n = u32::from_be_bytes([d[o] & 0x7f, d[o + 1], d[o + 2], d[o + 3]]) % 1_000_000;
    format!("{n:06}")
}

/// A user created through the API with a known password and TOTP bound through the API.
/// Returns the base32 secret and the step whose code the binding used.
fn seed_mfa_user(server: &Server, admin: &str, username: &str, password: &str) -> (String, u64) {
    let r = send(
        server,
        admin,
        "POST",
        "/api/v1/users/users/",
        &json!({"name": "MFA User", "username": username, "email": format!("{username}@example.com"),
                "password": password, "need_update_password": false}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    bind_totp(server, &token(server, username, password))
}

/// Binds a TOTP authenticator to the user of `user` (a token) through the API. Returns the
/// base32 secret and the step whose code the binding used.
pub(crate) fn bind_totp(server: &Server, user: &str) -> (String, u64) {
    let setup = get(server, user, "/api/v1/authentication/mfa/setup/");
    assert_eq!(setup.status, 200, "{}", setup.body);
    let secret = setup.json()["secret"].as_str().unwrap().to_owned();
    let step = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30;
    let bound = send(
        server,
        user,
        "POST",
        "/api/v1/authentication/mfa/setup/",
        &json!({"code": totp(&secret, step)}),
    );
    assert_eq!(bound.status, 200, "{}", bound.body);
    (secret, step)
}

/// A user created through the API who must use MFA (`mfa_level` 2) and has nothing bound: their
/// login answers `mfa_unset` and the UI walks them through binding an authenticator.
fn seed_forced_mfa_user(server: &Server, admin: &str, username: &str, password: &str) {
    let r = send(
        server,
        admin,
        "POST",
        "/api/v1/users/users/",
        &json!({"name": "New MFA User", "username": username, "email": format!("{username}@example.com"),
                "password": password, "need_update_password": false, "mfa_level": 2}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["mfa_level"]["value"], 2, "{}", r.body);
    assert_eq!(r.json()["is_otp_secret_key_bound"], false, "{}", r.body);
}

#[test]
fn login_logout_mfa_and_deep_links_in_a_real_browser() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let mfa_password = "Mfa-user-Pass-42";
    let (secret, step) = seed_mfa_user(&server, &admin, "mfa.walker", mfa_password);
    let newcomer_password = "Mfa-newcomer-Pass-42";
    seed_forced_mfa_user(&server, &admin, "mfa.newcomer", newcomer_password);

    let shots = ["login.png", "app-shell.png", "mfa.png", "mfa-setup.png"];
    remove_screenshots(&shots);
    run_spec(
        "login.spec.mjs",
        &server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("PC_MFA_USER", "mfa.walker".into()),
            ("PC_MFA_PASSWORD", mfa_password.into()),
            ("PC_MFA_SECRET", secret),
            ("PC_MFA_LAST_STEP", step.to_string()),
            ("PC_MFA_SETUP_USER", "mfa.newcomer".into()),
            ("PC_MFA_SETUP_PASSWORD", newcomer_password.into()),
        ],
        Duration::from_secs(240),
    );
    assert_screenshots(&shots);
    let _ = server.stop();
}
