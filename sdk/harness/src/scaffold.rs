//! `portcullis plugin new`: a plugin project from templates compiled into this crate.
//!
//! Every project gets `plugin.toml`, a golden case under `tests/golden/` and a `.gitignore`;
//! then per language: Rust a crate on `portcullis-plugin-sdk` (`Cargo.toml`, `src/lib.rs`),
//! Python `app.py` (plus the wasi:http helper for the HTTP worlds), JavaScript `app.js`,
//! `build.mjs` and `package.json` (plus the helper). Python and JavaScript projects also get a
//! copy of the WIT package in `wit/`, which their build tools read.

use portcullis_plugin::kind::Kind;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A guest language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Rust on the SDK crate, built with cargo for wasm32-wasip2.
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Js,
}

impl FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rust" | "rs" => Ok(Lang::Rust),
            "python" | "py" => Ok(Lang::Python),
            "js" | "javascript" => Ok(Lang::Js),
            other => Err(format!("unknown language {other:?} (rust, python or js)")),
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        })
    }
}

/// What `new` makes.
#[derive(Debug, Clone)]
pub struct NewOptions {
    /// The plugin id (kebab-case); also the directory name.
    pub name: String,
    /// The language.
    pub lang: Lang,
    /// The world.
    pub kind: Kind,
    /// The parent directory of the project.
    pub parent: PathBuf,
    /// The manifest's publisher.
    pub publisher: String,
    /// Where `portcullis-plugin-sdk` is (Rust projects); default: the SDK next to this crate's
    /// sources when they exist.
    pub sdk_path: Option<PathBuf>,
}

/// `new` failed.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name is not a kebab-case id.
    #[error(
        "{0:?} is not a plugin id: use lower-case letters, digits and dashes, starting with a letter"
    )]
    BadName(String),
    /// The directory exists.
    #[error("{0} already exists")]
    Exists(String),
    /// The Rust SDK could not be found.
    #[error("cannot find portcullis-plugin-sdk: pass --sdk-path")]
    NoSdk,
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

const PLUGIN_TOML: &str = include_str!("../templates/plugin.toml.tmpl");
const GITIGNORE: &str = include_str!("../templates/gitignore.tmpl");
const CARGO_TOML: &str = include_str!("../templates/rust/Cargo.toml.tmpl");
const PACKAGE_JSON: &str = include_str!("../templates/js/package.json.tmpl");
const BUILD_MJS: &str = include_str!("../templates/js/build.mjs");
/// The wasi:http helpers of the example connectors (shared, so they stay one copy).
const PY_HTTP: &str = include_str!("../../../examples/connector-python/http_client.py");
const JS_HTTP: &str = include_str!("../../../examples/connector-js/http.js");

/// The WIT package, for Python and JavaScript projects (their tools read it from disk).
pub const WIT_FILES: &[(&str, &str)] = &[
    ("auth.wit", include_str!("../../../wit/auth.wit")),
    ("autofill.wit", include_str!("../../../wit/autofill.wit")),
    (
        "automation.wit",
        include_str!("../../../wit/automation.wit"),
    ),
    ("config.wit", include_str!("../../../wit/config.wit")),
    ("connector.wit", include_str!("../../../wit/connector.wit")),
    ("log.wit", include_str!("../../../wit/log.wit")),
    ("remote.wit", include_str!("../../../wit/remote.wit")),
    ("secrets.wit", include_str!("../../../wit/secrets.wit")),
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("worlds.wit", include_str!("../../../wit/worlds.wit")),
    (
        "deps/cli/cli.wit",
        include_str!("../../../wit/deps/cli/cli.wit"),
    ),
    (
        "deps/clocks/clocks.wit",
        include_str!("../../../wit/deps/clocks/clocks.wit"),
    ),
    (
        "deps/filesystem/filesystem.wit",
        include_str!("../../../wit/deps/filesystem/filesystem.wit"),
    ),
    (
        "deps/http/http.wit",
        include_str!("../../../wit/deps/http/http.wit"),
    ),
    (
        "deps/io/io.wit",
        include_str!("../../../wit/deps/io/io.wit"),
    ),
    (
        "deps/random/random.wit",
        include_str!("../../../wit/deps/random/random.wit"),
    ),
    (
        "deps/sockets/sockets.wit",
        include_str!("../../../wit/deps/sockets/sockets.wit"),
    ),
];

fn source(lang: Lang, kind: Kind) -> &'static str {
    match (lang, kind) {
        (Lang::Rust, Kind::PlatformAutomation) => include_str!("../templates/rust/automation.rs"),
        (Lang::Rust, Kind::CloudConnector) => include_str!("../templates/rust/connector.rs"),
        (Lang::Rust, Kind::AuthProvider) => include_str!("../templates/rust/auth.rs"),
        (Lang::Rust, Kind::Autofill) => include_str!("../templates/rust/autofill.rs"),
        (Lang::Python, Kind::PlatformAutomation) => {
            include_str!("../templates/python/automation.py")
        }
        (Lang::Python, Kind::CloudConnector) => include_str!("../templates/python/connector.py"),
        (Lang::Python, Kind::AuthProvider) => include_str!("../templates/python/auth.py"),
        (Lang::Python, Kind::Autofill) => include_str!("../templates/python/autofill.py"),
        (Lang::Js, Kind::PlatformAutomation) => include_str!("../templates/js/automation.js"),
        (Lang::Js, Kind::CloudConnector) => include_str!("../templates/js/connector.js"),
        (Lang::Js, Kind::AuthProvider) => include_str!("../templates/js/auth.js"),
        (Lang::Js, Kind::Autofill) => include_str!("../templates/js/autofill.js"),
    }
}

/// The golden case of a new project: (directory, files).
fn golden(kind: Kind) -> (&'static str, Vec<(&'static str, &'static str)>) {
    match kind {
        Kind::PlatformAutomation => (
            "ping",
            vec![
                (
                    "case.toml",
                    include_str!("../templates/golden/automation/case.toml"),
                ),
                (
                    "session.txt",
                    include_str!("../templates/golden/automation/session.txt"),
                ),
            ],
        ),
        Kind::CloudConnector => (
            "test-connection",
            vec![
                (
                    "case.toml",
                    include_str!("../templates/golden/connector/case.toml"),
                ),
                (
                    "http.jsonl",
                    include_str!("../templates/golden/connector/http.jsonl"),
                ),
            ],
        ),
        Kind::AuthProvider => (
            "complete",
            vec![
                (
                    "case.toml",
                    include_str!("../templates/golden/auth/case.toml"),
                ),
                (
                    "http.jsonl",
                    include_str!("../templates/golden/auth/http.jsonl"),
                ),
            ],
        ),
        Kind::Autofill => (
            "plan-login",
            vec![(
                "case.toml",
                include_str!("../templates/golden/autofill/case.toml"),
            )],
        ),
    }
}

/// The manifest sections that differ per world: capabilities and configuration.
fn manifest_parts(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::PlatformAutomation => (
            "\n[capabilities]\n# Sessions on the assets the host passes in.\nremote = true\n",
            "\n[[automation]]\nmethod = \"ping\"\nname = \"Ping\"\ncategory = \"host\"\ntypes = [\"linux\", \"unix\"]\n",
        ),
        Kind::CloudConnector => (
            "\n[capabilities]\nhttp = [\"https://api.example.com\"]\n",
            "\n[config]\nendpoint = { type = \"string\", required = true, label = { en = \"API URL\" } }\n",
        ),
        Kind::AuthProvider => (
            "\n[capabilities]\nhttp = [\"https://login.example.com\"]\n",
            "\n[config]\nauthorize_url = { type = \"string\", required = true, label = { en = \"Authorize URL\" } }\nclient_id = { type = \"string\", required = true, label = { en = \"Client id\" } }\nuserinfo_url = { type = \"string\", required = true, label = { en = \"User info URL\" } }\n",
        ),
        Kind::Autofill => ("", ""),
    }
}

fn limits(lang: Lang, kind: Kind) -> (u64, u64) {
    let interpreted = lang != Lang::Rust;
    match kind {
        Kind::PlatformAutomation => (if interpreted { 128 } else { 32 }, 300),
        Kind::CloudConnector => (if interpreted { 128 } else { 64 }, 60),
        Kind::AuthProvider => (if interpreted { 128 } else { 32 }, 15),
        Kind::Autofill => (32, 2),
    }
}

/// Whether `name` is a kebab-case plugin id.
pub fn valid_id(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name.len() <= 64
}

/// The SDK next to this crate's sources, when they are on this machine.
pub fn default_sdk_path() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rust");
    p.join("Cargo.toml")
        .is_file()
        .then(|| std::fs::canonicalize(&p).unwrap_or(p))
}

fn title(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Creates the project; returns its directory and the files written (relative paths).
pub fn new_project(o: &NewOptions) -> Result<(PathBuf, Vec<String>), ScaffoldError> {
    if !valid_id(&o.name) {
        return Err(ScaffoldError::BadName(o.name.clone()));
    }
    let dir = o.parent.join(&o.name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir.display().to_string()));
    }
    let sdk = match o.lang {
        Lang::Rust => Some(
            o.sdk_path
                .clone()
                .or_else(default_sdk_path)
                .ok_or(ScaffoldError::NoSdk)?,
        ),
        _ => None,
    };
    let display_name = title(&o.name);
    let (capabilities, extra) = manifest_parts(o.kind);
    let (memory_mb, timeout_s) = limits(o.lang, o.kind);
    let fill = |t: &str| {
        t.replace("{{id}}", &o.name)
            .replace("{{display_name}}", &display_name)
            .replace("{{publisher}}", &o.publisher)
            .replace("{{kind}}", o.kind.world())
            .replace("{{crate_name}}", &o.name)
            .replace(
                "{{sdk_path}}",
                &sdk.as_ref()
                    .map(|p| p.display().to_string().replace('\\', "/"))
                    .unwrap_or_default(),
            )
            .replace("{{capabilities}}", capabilities)
            .replace("{{extra}}", extra)
            .replace("{{memory_mb}}", &memory_mb.to_string())
            .replace("{{timeout_s}}", &timeout_s.to_string())
    };

    let mut files: Vec<(String, String)> = vec![
        ("plugin.toml".into(), fill(PLUGIN_TOML)),
        (".gitignore".into(), GITIGNORE.to_owned()),
    ];
    let (case, case_files) = golden(o.kind);
    for (name, text) in case_files {
        files.push((format!("tests/golden/{case}/{name}"), text.to_owned()));
    }
    let http = o.kind.has_http();
    match o.lang {
        Lang::Rust => {
            files.push(("Cargo.toml".into(), fill(CARGO_TOML)));
            files.push(("src/lib.rs".into(), fill(source(o.lang, o.kind))));
        }
        Lang::Python => {
            files.push(("app.py".into(), fill(source(o.lang, o.kind))));
            if http {
                files.push(("http_client.py".into(), PY_HTTP.to_owned()));
            }
        }
        Lang::Js => {
            files.push(("app.js".into(), fill(source(o.lang, o.kind))));
            files.push(("build.mjs".into(), BUILD_MJS.to_owned()));
            files.push(("package.json".into(), fill(PACKAGE_JSON)));
            if http {
                // The example's helper takes pluginError from the example's module.
                let helper = JS_HTTP.replace(
                    "import { pluginError } from './inventory.js';",
                    "const pluginError = (tag, val) => (val === undefined ? { tag } : { tag, val });",
                );
                files.push(("http.js".into(), helper));
            }
        }
    }
    if o.lang != Lang::Rust {
        for (name, text) in WIT_FILES {
            files.push((format!("wit/{name}"), (*text).to_owned()));
        }
    }

    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(&rel);
        let io = |source| ScaffoldError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, text).map_err(io)?;
        written.push(rel);
    }
    Ok((dir, written))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_are_kebab_case() {
        assert!(valid_id("my-plugin2"));
        for bad in ["", "My", "2x", "a_b", "a-", "a--b"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn every_language_and_world_scaffolds_a_manifest_the_harness_reads() {
        let tmp = tempfile::tempdir().unwrap();
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            for kind in Kind::ALL {
                let name = format!("p-{lang}-{}", kind.world());
                let (dir, files) = new_project(&NewOptions {
                    name: name.clone(),
                    lang,
                    kind,
                    parent: tmp.path().to_path_buf(),
                    publisher: "acme".into(),
                    sdk_path: Some("/sdk".into()),
                })
                .unwrap();
                let m = crate::project::ProjectManifest::load(&dir).unwrap();
                assert_eq!((m.id.as_str(), m.kind), (name.as_str(), kind));
                assert!(files.iter().any(|f| f.starts_with("tests/golden/")));
                let text = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
                assert!(!text.contains("{{"), "{text}");
                // With the digest the build adds, the strict manifest parser accepts it.
                let built = crate::builder::with_sha256(&text, &"ab".repeat(32)).unwrap();
                portcullis_plugin::manifest::Manifest::parse(built.as_bytes())
                    .unwrap_or_else(|e| panic!("{name}: {e}\n{built}"));
                let case = std::fs::read_dir(dir.join("tests/golden"))
                    .unwrap()
                    .next()
                    .unwrap()
                    .unwrap();
                let c = crate::case::CaseFile::load(&case.path().join("case.toml")).unwrap();
                c.to_call().unwrap();
            }
        }
        assert!(matches!(
            new_project(&NewOptions {
                name: "p-rust-autofill".into(),
                lang: Lang::Rust,
                kind: Kind::Autofill,
                parent: tmp.path().to_path_buf(),
                publisher: "acme".into(),
                sdk_path: None,
            }),
            Err(ScaffoldError::Exists(_))
        ));
    }
}
