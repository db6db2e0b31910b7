//! The authoring commands, `portcullis plugin new|build|test|conformance`, as a clap
//! subcommand enum the server's command line flattens into its `plugin` command, and [`run`].
//!
//! They need no database or data directory: they work on a plugin project (a directory with
//! `plugin.toml`) or a component file.

use crate::builder::{self, BuildOptions};
use crate::conformance::{self, Options};
use crate::golden;
use crate::project::{ProjectManifest, find_project};
use crate::runner::Harness;
use crate::scaffold::{self, Lang, NewOptions};
use portcullis_plugin::kind::Kind;
use portcullis_plugin::types::Call;
use std::path::{Path, PathBuf};

/// `portcullis plugin new|build|test|conformance`.
#[derive(Debug, clap::Subcommand)]
pub enum DevCommand {
    /// Create a plugin project (manifest, source, a golden test case) from a template.
    New {
        /// The plugin id (kebab-case); the project directory gets this name.
        name: String,
        /// rust, python or js.
        #[arg(long, default_value = "rust")]
        lang: Lang,
        /// The world: platform-automation, cloud-connector, auth-provider or autofill.
        #[arg(long)]
        kind: Kind,
        /// Where to create the project directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The manifest's publisher.
        #[arg(long, default_value = "example")]
        publisher: String,
        /// The Rust SDK crate (portcullis-plugin-sdk) [default: the one next to these sources].
        #[arg(long, value_name = "DIR")]
        sdk_path: Option<PathBuf>,
    },
    /// Build the project's component (cargo, componentize-py or componentize-js) into
    /// target/plugin/ and check it against the manifest's world.
    Build {
        /// The project directory [default: the nearest one holding plugin.toml].
        dir: Option<PathBuf>,
        /// Output directory [default: <project>/target/plugin].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The WIT package for Python and JavaScript builds.
        #[arg(long, value_name = "DIR")]
        wit: Option<PathBuf>,
        /// Cargo's target directory for Rust builds.
        #[arg(long, value_name = "DIR")]
        target_dir: Option<PathBuf>,
    },
    /// Run the project's golden cases (tests/golden/*/case.toml) on the built component.
    Test {
        /// The project directory [default: the nearest one holding plugin.toml].
        dir: Option<PathBuf>,
        /// Rewrite expected.json from the runs (also BLESS=1).
        #[arg(long)]
        bless: bool,
        /// Build first.
        #[arg(long)]
        build: bool,
        /// The component [default: <project>/target/plugin/<component>].
        #[arg(long, value_name = "FILE")]
        component: Option<PathBuf>,
        /// Only the cases whose directory name contains this (repeatable).
        #[arg(long = "case", value_name = "TEXT")]
        cases: Vec<String>,
    },
    /// Run the conformance suite of the component's world.
    Conformance {
        /// The component file.
        component: PathBuf,
        /// The world [default: the manifest's].
        #[arg(long)]
        kind: Option<Kind>,
        /// A plugin.toml: expected id and version, granted origins, dummy secrets.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// A configuration value `key=value` (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// A secret `name=value` (repeatable).
        #[arg(long = "secret", value_name = "NAME=VALUE")]
        secrets: Vec<String>,
        /// The `params` of automation calls (JSON text).
        #[arg(long)]
        params: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// An authoring command failed (or its checks did).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The message says it all.
    #[error("{0}")]
    Message(String),
}

fn err(e: impl std::fmt::Display) -> CliError {
    CliError::Message(e.to_string())
}

fn project_dir(dir: Option<PathBuf>) -> Result<PathBuf, CliError> {
    let start = match dir {
        Some(d) => d,
        None => std::env::current_dir().map_err(err)?,
    };
    find_project(&start).ok_or_else(|| {
        err(format!(
            "{}: no plugin.toml here or above (create a project with `portcullis plugin new`)",
            start.display()
        ))
    })
}

fn harness_for(component: &Path) -> Result<Harness, CliError> {
    Harness::new(Some(Harness::default_cache_dir(component))).map_err(err)
}

fn pairs(items: &[String], what: &str) -> Result<Vec<(String, String)>, CliError> {
    items
        .iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| err(format!("--{what} {s:?}: expected KEY=VALUE")))
        })
        .collect()
}

/// Runs an authoring command, printing to stdout. An error when the command or its checks
/// failed (failed cases, failed conformance rows).
pub async fn run(command: DevCommand) -> Result<(), CliError> {
    match command {
        DevCommand::New {
            name,
            lang,
            kind,
            dir,
            publisher,
            sdk_path,
        } => {
            let (dir, files) = scaffold::new_project(&NewOptions {
                name,
                lang,
                kind,
                parent: dir,
                publisher,
                sdk_path,
            })
            .map_err(err)?;
            println!("created {} ({lang}, {kind}):", dir.display());
            for f in files.iter().filter(|f| !f.starts_with("wit/")) {
                println!("  {f}");
            }
            if lang != Lang::Rust {
                println!("  wit/ (the portcullis:plugin WIT package)");
            }
            let setup = match lang {
                Lang::Rust => "",
                Lang::Python => "pip install componentize-py==0.25.1 && ",
                Lang::Js => "npm install && ",
            };
            println!(
                "next: cd {} && {setup}portcullis plugin build && portcullis plugin test --bless",
                dir.display()
            );
            Ok(())
        }
        DevCommand::Build {
            dir,
            out,
            wit,
            target_dir,
        } => {
            let dir = project_dir(dir)?;
            let harness = harness_for(&dir.join("target/plugin/plugin.wasm"))?;
            let r = builder::build_project(
                &dir,
                &BuildOptions {
                    out_dir: out,
                    wit_dir: wit,
                    cargo_target_dir: target_dir,
                },
                &harness,
            )
            .map_err(err)?;
            println!(
                "built {} ({} bytes, sha256 {}), a {} component",
                r.component.display(),
                r.size,
                r.sha256,
                r.report.kind
            );
            println!("  exports: {}", r.report.exports.join(", "));
            println!("  imports: {}", r.report.imports.join(", "));
            println!(
                "  WASI linked with an empty context: {}",
                r.report.wasi.join(", ")
            );
            println!("  manifest with digest: {}", r.manifest.display());
            Ok(())
        }
        DevCommand::Test {
            dir,
            bless,
            build,
            component,
            cases,
        } => {
            let dir = project_dir(dir)?;
            let manifest = ProjectManifest::load(&dir).map_err(err)?;
            let component = match component {
                Some(c) => c,
                None => dir.join("target/plugin").join(&manifest.component),
            };
            let harness = harness_for(&component)?;
            if build {
                builder::build_project(&dir, &BuildOptions::default(), &harness).map_err(err)?;
            }
            if !component.is_file() {
                return Err(err(format!(
                    "{}: not built yet (run `portcullis plugin build`, or pass --build)",
                    component.display()
                )));
            }
            let loaded = harness.load_file(&component, manifest.kind).map_err(err)?;
            let bless = bless || golden::bless_from_env();
            let golden_dir = dir.join("tests/golden");
            let mut reports = Vec::new();
            for case in golden::case_dirs(&golden_dir)
                .map_err(|e| err(format!("{}: {e}", golden_dir.display())))?
            {
                let name = case.file_name().map(|n| n.to_string_lossy().into_owned());
                if !cases.is_empty()
                    && !cases
                        .iter()
                        .any(|c| name.as_deref().is_some_and(|n| n.contains(c.as_str())))
                {
                    continue;
                }
                let report = golden::run_case(&loaded, &case, bless).await;
                print!("{}", report.render());
                reports.push(report);
            }
            let failed = reports.iter().filter(|r| !r.passed).count();
            println!("{} passed, {failed} failed", reports.len() - failed);
            if reports.is_empty() {
                return Err(err(format!("no golden cases in {}", golden_dir.display())));
            }
            if failed > 0 {
                return Err(err(format!("{failed} of {} cases failed", reports.len())));
            }
            Ok(())
        }
        DevCommand::Conformance {
            component,
            kind,
            manifest,
            config,
            secrets,
            params,
            json,
        } => {
            let manifest = match manifest {
                Some(m) => {
                    let dir = if m.is_dir() {
                        m
                    } else {
                        m.parent().map(Path::to_path_buf).unwrap_or_default()
                    };
                    Some(ProjectManifest::load(&dir).map_err(err)?)
                }
                None => None,
            };
            let kind = kind.or(manifest.as_ref().map(|m| m.kind)).ok_or_else(|| {
                err("give the world with --kind (or a plugin.toml with --manifest)")
            })?;
            let mut options = manifest
                .as_ref()
                .map(Options::from_manifest)
                .unwrap_or_default();
            for (k, v) in pairs(&config, "config")? {
                options.config.insert(k, v);
            }
            for (k, v) in pairs(&secrets, "secret")? {
                let mut s = conformance::dummy_secret(&k);
                s.bytes = zeroize::Zeroizing::new(v.into_bytes());
                options.secrets.insert(k, s);
            }
            if let Some(p) = params
                && kind == Kind::PlatformAutomation
            {
                options.call = Some(Call::Ping {
                    target: conformance::conformance_target(),
                    params: p,
                });
            }
            let harness = harness_for(&component)?;
            let loaded = harness.load_file(&component, kind).map_err(err)?;
            let report = conformance::run(&loaded, &options).await;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).map_err(err)?);
            } else {
                print!("{}", report.render());
            }
            if report.passed() {
                Ok(())
            } else {
                Err(err("the component does not conform"))
            }
        }
    }
}
