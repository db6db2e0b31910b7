//! [`Harness`]: the real plugin runtime set up for tests, with a cache of precompiled
//! components, and the [`Fakes`] one call runs against.
//!
//! Compiling a component is slow (a 15 MB Python component takes minutes in an unoptimized
//! debug host), so artifacts are cached as `<cache>/<engine key>-<wasm sha256>.cwasm`: the
//! runtime's compatibility key changes with wasmtime, its configuration and this crate's
//! version, and the hash with the component, so a stale artifact is never loaded (and if one
//! is, the runtime refuses it and the harness recompiles).

use crate::http::FixtureHttp;
use crate::remote::ScriptedRemote;
use crate::sink::RecordingSink;
use portcullis_plugin::caps::{HttpGrant, Invocation, RemoteGrant};
use portcullis_plugin::engine::{Runtime, RuntimeOptions};
use portcullis_plugin::error::{InvokeError, LoadError};
use portcullis_plugin::kind::{Kind, Limits};
use portcullis_plugin::plugin::{CallStats, LoadedPlugin};
use portcullis_plugin::types::{Call, Output, Target};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Environment variable naming the artifact cache directory (default: `target/plugin-cache`
/// of the nearest directory above the component that has a `target/`, else next to it).
pub const CACHE_ENV: &str = "PORTCULLIS_PLUGIN_CACHE";

/// Setting up the harness or loading a component failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The runtime refused the component (not a component, wrong world, bad imports...).
    #[error("{path}: {source}")]
    Load {
        /// The component.
        path: String,
        /// Why.
        source: LoadError,
    },
    /// The engine could not be built.
    #[error("starting the plugin runtime: {0}")]
    Runtime(LoadError),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// The runtime for tests: on-demand allocation (no pool reserved), fuel metered.
#[derive(Clone)]
pub struct Harness {
    runtime: Runtime,
    cache_dir: Option<PathBuf>,
}

/// A component loaded by the harness, with what it was loaded from.
#[derive(Clone)]
pub struct Component {
    /// The loaded plugin.
    pub plugin: LoadedPlugin,
    /// Its world.
    pub kind: Kind,
    /// Hex SHA-256 of the component bytes.
    pub sha256: String,
    /// Whether the artifact came from the cache.
    pub cached: bool,
}

impl Harness {
    /// A harness whose artifact cache is `cache_dir` (none: compile every time).
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self, HarnessError> {
        let runtime = Runtime::new(RuntimeOptions {
            max_instances: 64,
            max_memory_per_instance: 1024 * 1024 * 1024,
            max_concurrent: 16,
            busy_wait: Duration::from_secs(600),
            pooling: false,
            fuel: true,
        })
        .map_err(HarnessError::Runtime)?;
        Ok(Harness { runtime, cache_dir })
    }

    /// The runtime (to inspect components, or build invocations by hand).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The cache directory for a component at `component`: [`CACHE_ENV`] when set, else
    /// `target/plugin-cache` in the nearest ancestor that has a `target` directory, else
    /// `target/plugin-cache` beside the component.
    pub fn default_cache_dir(component: &Path) -> PathBuf {
        if let Some(dir) = std::env::var_os(CACHE_ENV) {
            return PathBuf::from(dir);
        }
        let abs = std::path::absolute(component).unwrap_or_else(|_| component.to_path_buf());
        let start = abs.parent().unwrap_or(Path::new("."));
        for dir in start.ancestors() {
            if dir.file_name().is_some_and(|n| n == "target") {
                return dir.join("plugin-cache");
            }
            if dir.join("target").is_dir() {
                return dir.join("target/plugin-cache");
            }
        }
        start.join("target/plugin-cache")
    }

    /// Loads the component file at `path` as a `kind` plugin, through the cache.
    pub fn load_file(&self, path: &Path, kind: Kind) -> Result<Component, HarnessError> {
        let wasm = std::fs::read(path).map_err(|source| HarnessError::Io {
            path: path.display().to_string(),
            source,
        })?;
        self.load(&wasm, kind).map_err(|source| HarnessError::Load {
            path: path.display().to_string(),
            source,
        })
    }

    /// Compiles and checks component bytes against `kind` (what install does), refreshes the
    /// cache with the artifact, and loads it: the report and the plugin.
    pub fn check(
        &self,
        wasm: &[u8],
        kind: Kind,
    ) -> Result<(portcullis_plugin::engine::ComponentReport, Component), LoadError> {
        let sha256 = hex::encode(Sha256::digest(wasm));
        let (report, artifact) = self.runtime.prepare(wasm, kind)?;
        self.store(&sha256, &artifact);
        let plugin = self.runtime.load(kind, &artifact)?;
        Ok((
            report,
            Component {
                plugin,
                kind,
                sha256,
                cached: false,
            },
        ))
    }

    fn cache_file(&self, sha256: &str) -> Option<PathBuf> {
        self.cache_dir.as_ref().map(|d| {
            let key = self.runtime.compatibility_key();
            d.join(format!("{}-{sha256}.cwasm", &key[..16.min(key.len())]))
        })
    }

    /// Writes an artifact to the cache. Best effort: a read-only tree only costs recompiling
    /// next time.
    fn store(&self, sha256: &str, artifact: &[u8]) {
        if let Some(file) = self.cache_file(sha256) {
            if let Some(dir) = file.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let tmp = file.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, artifact).is_ok() {
                let _ = std::fs::rename(&tmp, &file);
            }
        }
    }

    /// Loads component bytes as a `kind` plugin, through the cache.
    pub fn load(&self, wasm: &[u8], kind: Kind) -> Result<Component, LoadError> {
        let sha256 = hex::encode(Sha256::digest(wasm));
        let cache_file = self.cache_file(&sha256);
        if let Some(file) = &cache_file
            && let Ok(bytes) = std::fs::read(file)
        {
            match self.runtime.load(kind, &bytes) {
                Ok(plugin) => {
                    return Ok(Component {
                        plugin,
                        kind,
                        sha256,
                        cached: true,
                    });
                }
                // Another engine's artifact, or a damaged file: recompile below.
                Err(LoadError::StaleArtifact(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let (_, artifact) = self.runtime.prepare(wasm, kind)?;
        self.store(&sha256, &artifact);
        let plugin = self.runtime.load(kind, &artifact)?;
        Ok(Component {
            plugin,
            kind,
            sha256,
            cached: false,
        })
    }
}

/// The fake world of one call: recording sink, scripted remote, HTTP fixtures.
#[derive(Clone)]
pub struct Fakes {
    /// Receives every event.
    pub sink: Arc<RecordingSink>,
    /// The remote provider (automation).
    pub remote: ScriptedRemote,
    /// The HTTP transport (connector, auth).
    pub http: FixtureHttp,
}

/// Everything of an invocation besides the fakes, with test defaults.
#[derive(Debug, Clone)]
pub struct CallSetup {
    /// Plugin id and version reported to the host's log (not checked).
    pub plugin_id: String,
    /// See `plugin_id`.
    pub plugin_version: String,
    /// Limits in force.
    pub limits: Limits,
    /// Configuration values.
    pub config: BTreeMap<String, String>,
    /// Secrets by name.
    pub secrets: BTreeMap<String, portcullis_plugin::caps::SecretValue>,
    /// `secrets.reveal` granted.
    pub reveal: bool,
    /// Granted HTTP origins; none: HTTP not granted at all.
    pub http_allow: Option<Vec<String>>,
    /// Private networks requests may reach.
    pub allow_networks: Vec<ipnet::IpNet>,
    /// Targets the plugin may open; none: remote not granted.
    pub remote_allowed: Option<Vec<Target>>,
    /// Fixed clock and seed.
    pub determinism: portcullis_plugin::caps::Determinism,
    /// Hard fuel budget.
    pub fuel: Option<u64>,
}

impl CallSetup {
    /// Defaults for `kind`: its limits, nothing granted, the default clock and seed, the
    /// default fuel budget.
    pub fn new(kind: Kind) -> Self {
        CallSetup {
            plugin_id: "plugin".into(),
            plugin_version: "0.0.0".into(),
            limits: kind.default_limits(),
            config: BTreeMap::new(),
            secrets: BTreeMap::new(),
            reveal: false,
            http_allow: None,
            allow_networks: Vec::new(),
            remote_allowed: None,
            determinism: portcullis_plugin::caps::Determinism {
                wall_clock_secs: crate::case::DEFAULT_CLOCK,
                seed: crate::case::DEFAULT_SEED,
            },
            fuel: Some(crate::case::DEFAULT_FUEL),
        }
    }

    /// The invocation for one call with `fakes`.
    pub fn invocation(&self, id: &str, fakes: &Fakes) -> Invocation {
        Invocation {
            id: id.to_owned(),
            plugin_id: self.plugin_id.clone(),
            plugin_version: self.plugin_version.clone(),
            limits: self.limits,
            config: self.config.clone(),
            secrets: self.secrets.clone(),
            reveal_allowed: self.reveal,
            http: self.http_allow.as_ref().map(|allow| HttpGrant {
                allow: allow.clone(),
                allow_networks: self.allow_networks.clone(),
                transport: Arc::new(fakes.http.clone()),
                request_timeout: Duration::from_secs(30),
            }),
            remote: self.remote_allowed.as_ref().map(|allowed| RemoteGrant {
                allowed: allowed.clone(),
                provider: Arc::new(fakes.remote.clone()),
            }),
            events: fakes.sink.clone(),
            determinism: Some(self.determinism),
            fuel: self.fuel,
        }
    }
}

/// What one call did.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// The answer.
    pub result: Result<Output, InvokeError>,
    /// Fuel, time and peak memory.
    pub stats: CallStats,
}

/// Runs `call` on `component` with `setup` against `fakes`.
pub async fn call(
    component: &Component,
    setup: &CallSetup,
    fakes: &Fakes,
    invocation_id: &str,
    call: Call,
) -> CallOutcome {
    let inv = setup.invocation(invocation_id, fakes);
    let (result, stats) = component.plugin.call_with_stats(inv, call).await;
    CallOutcome { result, stats }
}
