//! Builds the single-page app in `web/` into `$OUT_DIR/dist`, which `src/lib.rs` embeds, so
//! `cargo run -p portcullis -- serve` serves the UI from a fresh clone.
//!
//! - `PORTCULLIS_WEB_DIST=<dir>` (absolute, or relative to the workspace root): embed that
//!   already built app instead of building one.
//! - Otherwise, with `web/package.json` and `npm` on the PATH: `npm ci` when `web/node_modules`
//!   is missing or older than `package-lock.json`, then `npm run build` into `$OUT_DIR/dist`.
//!   A failing UI build fails the Rust build with npm's output: a broken UI must not ship.
//! - Without `web/package.json` or without npm: a one-page placeholder saying how to build the
//!   UI, and a cargo warning; the Rust build goes on.
//!
//! Text files of the app are also stored gzip- and brotli-compressed (`<file>.gz`, `<file>.br`,
//! by `compress.mjs` with Node's zlib) so the server never compresses at run time.
//!
//! Only the UI's own inputs are watched (`web/src`, `web/public`, `web/index.html`, the npm
//! manifests, the Vite and TypeScript configuration): editing Rust never rebuilds the UI.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Instant, SystemTime};

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest_dir.clone());
    let web = root.join("web");
    let dist = PathBuf::from(env("OUT_DIR")).join("dist");

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=compress.mjs");
    println!("cargo:rerun-if-env-changed=PORTCULLIS_WEB_DIST");

    if let Err(e) = fs::remove_dir_all(&dist)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        fail(&format!("cannot empty {}: {e}", dist.display()));
    }

    if let Some(prebuilt) = std::env::var_os("PORTCULLIS_WEB_DIST").filter(|v| !v.is_empty()) {
        let prebuilt = root.join(prebuilt);
        println!("cargo:rerun-if-changed={}", prebuilt.display());
        if !prebuilt.join("index.html").is_file() {
            fail(&format!(
                "PORTCULLIS_WEB_DIST={} holds no index.html: point it at the output of `npm run build` in web/",
                prebuilt.display()
            ));
        }
        copy_dir(&prebuilt, &dist).unwrap_or_else(|e| {
            fail(&format!(
                "cannot copy {} to {}: {e}",
                prebuilt.display(),
                dist.display()
            ))
        });
        compress(&manifest_dir, &dist, false);
        origin("prebuilt");
        return;
    }

    if !web.join("package.json").is_file() {
        // Watch the manifest's place only when its folder exists: a missing watched file makes
        // cargo rerun the build script on every build.
        if web.is_dir() {
            println!("cargo:rerun-if-changed={}", web.display());
        }
        placeholder(
            &dist,
            &format!(
                "{} has no package.json, so there is no web UI to build",
                web.display()
            ),
        );
        return;
    }
    watch_inputs(&web);

    match Command::new("npm")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => {}
        _ => {
            // Installing npm puts it on the PATH the next build sees.
            println!("cargo:rerun-if-env-changed=PATH");
            placeholder(&dist, "npm was not found on the PATH");
            return;
        }
    }

    if needs_install(&web) {
        let mut ci = npm(&web);
        ci.args(["ci", "--include=dev", "--no-audit", "--no-fund"]);
        run(ci, "npm ci");
    }
    let started = Instant::now();
    let mut build = npm(&web);
    build
        .args(["run", "build", "--", "--outDir"])
        .arg(&dist)
        .arg("--emptyOutDir");
    run(build, "npm run build");
    if !dist.join("index.html").is_file() {
        fail(&format!(
            "`npm run build` in {} succeeded but wrote no {}",
            web.display(),
            dist.join("index.html").display()
        ));
    }
    compress(&manifest_dir, &dist, true);
    origin("npm");
    // Visible with `cargo build -vv`; the time a UI change costs a Rust build.
    println!(
        "built the web UI in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| fail(&format!("cargo did not set {name}")))
}

/// Stops the build with a message (cargo prints the build script's stderr).
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

/// Tells the library where its files came from (`npm`, `prebuilt` or `placeholder`).
fn origin(kind: &str) {
    println!("cargo:rustc-env=PORTCULLIS_WEB_ORIGIN={kind}");
}

/// Every input of the UI build, and nothing else (`node_modules` and `dist` are outputs).
/// Cargo watches a directory recursively by modification times.
fn watch_inputs(web: &Path) {
    for fixed in [
        "src",
        "public",
        "index.html",
        "package.json",
        "package-lock.json",
    ] {
        let path = web.join(fixed);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let Ok(entries) = fs::read_dir(web) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let config = name.starts_with("vite.config.")
            || (name.starts_with("tsconfig") && name.ends_with(".json"));
        if config {
            println!("cargo:rerun-if-changed={}", entry.path().display());
        }
    }
}

/// Whether `npm ci` must run: no `node_modules`, or a lock file newer than the one npm
/// recorded when it last installed.
fn needs_install(web: &Path) -> bool {
    let installed = web.join("node_modules").join(".package-lock.json");
    let lock = web.join("package-lock.json");
    match (modified(&installed), modified(&lock)) {
        (None, _) => true,
        (Some(installed), Some(lock)) => lock > installed,
        (Some(_), None) => false,
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// An npm command in `web/`, without the variables cargo sets for build scripts that mean
/// something else to Node tools (`DEBUG` turns on the `debug` package's logging).
fn npm(web: &Path) -> Command {
    let mut cmd = Command::new("npm");
    cmd.current_dir(web)
        .env_remove("DEBUG")
        .env_remove("NODE_ENV")
        .stdin(Stdio::null());
    cmd
}

/// Runs a step of the UI build; a failure stops the Rust build with the step's output.
fn run(mut cmd: Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot start `{what}`: {e}")));
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        fail(&format!(
            "the web UI failed to build: `{what}` in web/ exited with {} (output above). \
             Fix the UI, or build without it by pointing PORTCULLIS_WEB_DIST at a built dist",
            out.status
        ));
    }
    out
}

/// Writes gzip and brotli copies of the text files next to them with Node's zlib. Required
/// after an npm build (Node is there); best effort for a prebuilt dist.
fn compress(manifest_dir: &Path, dist: &Path, required: bool) {
    let mut cmd = Command::new("node");
    cmd.arg(manifest_dir.join("compress.mjs"))
        .arg(dist)
        .stdin(Stdio::null());
    match cmd.output() {
        Ok(out) if out.status.success() => {}
        Ok(out) if required => {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            fail("compressing the built web UI failed (output above)");
        }
        Ok(_) | Err(_) if !required => println!(
            "cargo:warning=the web UI is embedded uncompressed (Node's zlib was not available)"
        ),
        Ok(_) | Err(_) => fail("cannot run node to compress the built web UI"),
    }
}

/// The page served when the UI could not be built, and the warning that says why.
fn placeholder(dist: &Path, why: &str) {
    println!(
        "cargo:warning=the web UI was not built ({why}); the binary serves a page saying so. \
         Install Node.js and npm, then `touch web/package.json` and build again (or set \
         PORTCULLIS_WEB_DIST to a built dist)"
    );
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Portcullis: web UI not built</title>\n</head>\n<body>\n\
         <h1>The Portcullis web UI was not built into this binary</h1>\n\
         <p>Reason: {}.</p>\n\
         <p>The API (<code>/api/v1/</code>) and the SSH gateway work as usual.</p>\n\
         <p>To build the UI: install Node.js (20 or later) and npm, then run \
         <code>touch web/package.json</code> and <code>cargo build -p portcullis</code> \
         (the build runs <code>npm ci</code> and <code>npm run build</code> in <code>web/</code>). \
         Or build it yourself (<code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>) and \
         build the binary with <code>PORTCULLIS_WEB_DIST=web/dist</code>.</p>\n\
         </body>\n</html>\n",
        escape(why)
    );
    fs::create_dir_all(dist)
        .and_then(|()| fs::write(dist.join("index.html"), page))
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", dist.display())));
    origin("placeholder");
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
