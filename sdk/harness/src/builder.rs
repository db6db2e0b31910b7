//! `portcullis plugin build`: the language's build tool, then a check of the component on the
//! real runtime against the manifest's world.
//!
//! Rust: `cargo build --target wasm32-wasip2 --profile plugin` (the artifact found through
//! cargo's JSON messages); Python: `componentize-py -d WIT -w WORLD componentize app`;
//! JavaScript: `node build.mjs WIT WORLD OUT` (componentize-js). The component and a copy of
//! `plugin.toml` carrying its sha256 go to `target/plugin/`, a directory `portcullis plugin
//! pack` and `install` take as is. The check compiles the component (and caches the artifact
//! for `test`): a core module, the wrong world or an import outside the world fails the build.

use crate::project::{MANIFEST_FILE, ProjectError, ProjectManifest};
use crate::runner::Harness;
use crate::scaffold::Lang;
use portcullis_plugin::engine::ComponentReport;
use portcullis_plugin::error::LoadError;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Environment variable naming the componentize-py executable.
pub const COMPONENTIZE_PY_ENV: &str = "PORTCULLIS_COMPONENTIZE_PY";
/// Environment variable naming the WIT directory for Python and JavaScript builds.
pub const WIT_ENV: &str = "PORTCULLIS_WIT";

/// Build settings.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Where the component and manifest copy go (default `<project>/target/plugin`).
    pub out_dir: Option<PathBuf>,
    /// The WIT package (Python, JavaScript): default `<project>/wit`, then [`WIT_ENV`], then
    /// the package next to this crate's sources.
    pub wit_dir: Option<PathBuf>,
    /// Cargo's target directory for Rust builds (default: cargo's own choice).
    pub cargo_target_dir: Option<PathBuf>,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// The language built.
    pub lang: Lang,
    /// The component file.
    pub component: PathBuf,
    /// The manifest copy with the digest.
    pub manifest: PathBuf,
    /// Hex SHA-256 of the component.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// The runtime's view of it: imports, exports, WASI surfaces.
    pub report: ComponentReport,
}

/// A build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The manifest could not be read.
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// No language could be recognised.
    #[error("{0}: no Cargo.toml, app.py or app.js: which language is this?")]
    UnknownLang(String),
    /// A tool is missing.
    #[error("{0}")]
    MissingTool(String),
    /// The tool ran and failed.
    #[error("{tool} failed ({status}); its messages are above")]
    ToolFailed {
        /// The command.
        tool: String,
        /// Its exit status.
        status: String,
    },
    /// The runtime refused the component.
    #[error("the component does not pass the host's checks: {0}")]
    Check(#[from] LoadError),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The manifest has no `component = ` line to put the digest after.
    #[error("{0}")]
    Manifest(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The project's language, from its files.
pub fn detect_lang(dir: &Path) -> Option<Lang> {
    if dir.join("Cargo.toml").is_file() {
        Some(Lang::Rust)
    } else if dir.join("app.py").is_file() {
        Some(Lang::Python)
    } else if dir.join("app.js").is_file() {
        Some(Lang::Js)
    } else {
        None
    }
}

/// `text` (a `plugin.toml`) with `sha256 = "<digest>"`: an existing line replaced, else one
/// added after the `component = ` line.
pub fn with_sha256(text: &str, sha256: &str) -> Result<String, String> {
    let line = format!("sha256 = \"{sha256}\"");
    let mut out = Vec::new();
    let mut done = false;
    for l in text.lines() {
        if l.trim_start().starts_with("sha256") && l.contains('=') && !done {
            out.push(line.clone());
            done = true;
            continue;
        }
        out.push(l.to_owned());
    }
    if !done {
        let at = out
            .iter()
            .position(|l| l.trim_start().starts_with("component") && l.contains('='))
            .ok_or("plugin.toml has no `component = ...` line")?;
        out.insert(at + 1, line);
    }
    let mut text = out.join("\n");
    text.push('\n');
    Ok(text)
}

/// The WIT directory for Python and JavaScript builds.
pub fn wit_dir(project: &Path, explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    let own = project.join("wit");
    if own.join("worlds.wit").is_file() {
        return own;
    }
    if let Some(p) = std::env::var_os(WIT_ENV) {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit")
}

fn run_tool(cmd: &mut Command, name: &str) -> Result<(), BuildError> {
    let status = cmd.status().map_err(|e| {
        BuildError::MissingTool(format!(
            "cannot run {name}: {e} (is it installed and on PATH?)"
        ))
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::ToolFailed {
            tool: name.to_owned(),
            status: status.to_string(),
        })
    }
}

/// Builds a Rust project with cargo; the `.wasm` of its cdylib.
fn build_rust(dir: &Path, target_dir: Option<&Path>) -> Result<PathBuf, BuildError> {
    let manifest = std::fs::canonicalize(dir.join("Cargo.toml")).map_err(io(dir))?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    if let Some(t) = target_dir {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    let mut child = cmd
        .args([
            "build",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "plugin",
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| BuildError::MissingTool(format!("cannot run cargo: {e}")))?;
    let mut artifact = None;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if msg["reason"] != "compiler-artifact"
                || msg["manifest_path"].as_str().map(Path::new) != Some(manifest.as_path())
            {
                continue;
            }
            let is_cdylib = msg["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "cdylib"));
            if !is_cdylib {
                continue;
            }
            if let Some(files) = msg["filenames"].as_array() {
                artifact = files
                    .iter()
                    .filter_map(|f| f.as_str())
                    .find(|f| f.ends_with(".wasm"))
                    .map(PathBuf::from)
                    .or(artifact);
            }
        }
    }
    let status = child.wait().map_err(io(dir))?;
    if !status.success() {
        return Err(BuildError::ToolFailed {
            tool: "cargo build --target wasm32-wasip2".into(),
            status: status.to_string(),
        });
    }
    artifact.ok_or_else(|| {
        BuildError::Manifest(format!(
            "{}: cargo built no cdylib .wasm (is `crate-type = [\"cdylib\"]` set and the \
             wasm32-wasip2 target installed: `rustup target add wasm32-wasip2`?)",
            manifest.display()
        ))
    })
}

fn componentize_py() -> PathBuf {
    if let Some(p) = std::env::var_os(COMPONENTIZE_PY_ENV) {
        return PathBuf::from(p);
    }
    let repo_tools = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/guest-tools/py/bin/componentize-py");
    if repo_tools.is_file() {
        return repo_tools;
    }
    PathBuf::from("componentize-py")
}

/// Builds the project in `dir`, checks the component against its manifest's world on
/// `harness`'s runtime, and writes `target/plugin/{plugin.wasm,plugin.toml}`.
pub fn build_project(
    dir: &Path,
    options: &BuildOptions,
    harness: &Harness,
) -> Result<BuildReport, BuildError> {
    let manifest = ProjectManifest::load(dir)?;
    let lang =
        detect_lang(dir).ok_or_else(|| BuildError::UnknownLang(dir.display().to_string()))?;
    let out_dir = options
        .out_dir
        .clone()
        .unwrap_or_else(|| dir.join("target/plugin"));
    std::fs::create_dir_all(&out_dir).map_err(io(&out_dir))?;
    let out = out_dir.join(&manifest.component);
    let world = manifest.kind.world();
    match lang {
        Lang::Rust => {
            let built = build_rust(dir, options.cargo_target_dir.as_deref())?;
            std::fs::copy(&built, &out).map_err(io(&built))?;
        }
        Lang::Python => {
            let wit = wit_dir(dir, options.wit_dir.as_deref());
            let tool = componentize_py();
            run_tool(
                Command::new(&tool)
                    .current_dir(dir)
                    .env("PYTHONDONTWRITEBYTECODE", "1")
                    .arg("-d")
                    .arg(&wit)
                    .args(["-w", world, "componentize", "app", "-o"])
                    .arg(&out),
                &format!(
                    "{} (install it with `pip install componentize-py==0.25.1`, or set {COMPONENTIZE_PY_ENV})",
                    tool.display()
                ),
            )?;
        }
        Lang::Js => {
            if !dir
                .join("node_modules/@bytecodealliance/componentize-js")
                .is_dir()
            {
                return Err(BuildError::MissingTool(format!(
                    "{}: run `npm install` first (componentize-js is a development dependency)",
                    dir.display()
                )));
            }
            let wit = wit_dir(dir, options.wit_dir.as_deref());
            run_tool(
                Command::new("node")
                    .current_dir(dir)
                    .arg("build.mjs")
                    .arg(&wit)
                    .arg(world)
                    .arg(&out),
                "node build.mjs (componentize-js)",
            )?;
        }
    }
    let wasm = std::fs::read(&out).map_err(io(&out))?;
    let sha256 = hex::encode(Sha256::digest(&wasm));
    let (report, _) = harness.check(&wasm, manifest.kind)?;
    let text = std::fs::read_to_string(dir.join(MANIFEST_FILE)).map_err(io(dir))?;
    let copy = with_sha256(&text, &sha256).map_err(BuildError::Manifest)?;
    let manifest_out = out_dir.join(MANIFEST_FILE);
    std::fs::write(&manifest_out, copy).map_err(io(&manifest_out))?;
    Ok(BuildReport {
        lang,
        component: out,
        manifest: manifest_out,
        sha256,
        size: wasm.len() as u64,
        report,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_digest_goes_after_component_or_replaces_the_old_one() {
        let t = "id = \"x\"\ncomponent = \"plugin.wasm\"\nlicense = \"MIT\"\n";
        let once = with_sha256(t, "aa").unwrap();
        assert_eq!(
            once,
            "id = \"x\"\ncomponent = \"plugin.wasm\"\nsha256 = \"aa\"\nlicense = \"MIT\"\n"
        );
        assert_eq!(with_sha256(&once, "bb").unwrap(), once.replace("aa", "bb"));
        assert!(with_sha256("id = 1\n", "aa").is_err());
    }
}
