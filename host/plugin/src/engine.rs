//! [`Runtime`]: the process's one wasmtime engine, its linkers, and loading components.
//!
//! One engine per process (compiled code, the pooling allocator and the epoch ticker are
//! per engine), one linker per world built once, and a precompiled-artifact format keyed
//! to the engine so an artifact from another build or configuration is refused before
//! wasmtime looks at it (see [`Runtime::load`]).

use crate::bindings::{auth, autofill, automation, connector};
use crate::error::LoadError;
use crate::host::state::HostState;
use crate::kind::Kind;
use crate::plugin::{LoadedPlugin, WorldPre};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the engine's epoch advances: the granularity of deadlines and of the yields
/// that let other tasks run while a plugin computes.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The version of the `portcullis:plugin` package this host implements.
pub const API_VERSION: &str = "0.1.0";

/// Magic bytes at the start of this runtime's precompiled artifacts.
const ARTIFACT_MAGIC: &[u8; 8] = b"PCWASM01";
const ARTIFACT_HEADER: usize = ARTIFACT_MAGIC.len() + 32;

/// Bytes of each pooled memory and table reset in place (the dirty pages copied back from
/// the image or zeroed) instead of being returned to the kernel with `madvise` and faulted
/// in again by the next instance: the reset and the page faults were half of a compiled
/// plugin's fresh-instance cost. A slot keeps at most the pages a call actually touched.
const KEEP_RESIDENT: usize = 2 * 1024 * 1024;

/// Sizing of the engine. The pooling allocator reserves its slots up front, so these bound
/// what plugins can ever use together, whatever the per-invocation limits say.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Component instances alive at once (one per running invocation).
    pub max_instances: u32,
    /// Largest linear memory any one core memory may grow to; per-invocation limits are
    /// usually lower and enforced separately.
    pub max_memory_per_instance: u64,
    /// Invocations running at once; more wait up to `busy_wait`, then fail with
    /// [`InvokeError::Busy`](crate::error::InvokeError::Busy). At most `max_instances`.
    pub max_concurrent: usize,
    /// How long an invocation waits for a free slot.
    pub busy_wait: Duration,
    /// The pooling allocator (production) or on-demand allocation (tools, and tests that
    /// need a second engine without reserving another pool).
    pub pooling: bool,
    /// Meter fuel (WebAssembly instructions), so invocations can carry a budget
    /// ([`Invocation::fuel`](crate::caps::Invocation::fuel)) and calls report what they burned.
    /// The test harness turns it on for deterministic budgets; production leaves it off, since
    /// epoch deadlines already bound a call's time and metering costs every guest
    /// instruction. An invocation with a budget on an engine without it is refused.
    pub fuel: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            max_instances: 256,
            max_memory_per_instance: 256 * 1024 * 1024,
            max_concurrent: 256,
            busy_wait: Duration::from_secs(2),
            pooling: true,
            fuel: false,
        }
    }
}

/// What a component imports and exports, shown to the administrator at install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentReport {
    /// The world it was checked against.
    pub kind: Kind,
    /// Every import, by name (`portcullis:plugin/log@0.1.0`, `wasi:io/streams@0.2.6`, ...).
    pub imports: Vec<String>,
    /// Every export, by name.
    pub exports: Vec<String>,
    /// The WASI packages it touches (`wasi:filesystem`, `wasi:sockets`, ...): linked with an
    /// empty context, but worth knowing about.
    pub wasi: Vec<String>,
    /// The `portcullis:plugin` version of its export.
    pub api_version: String,
}

/// The plugin engine. Cheap to clone; the engine and its epoch ticker live until the last
/// clone (and the last [`LoadedPlugin`]) is dropped.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    linkers: Linkers,
    pub(crate) semaphore: Arc<tokio::sync::Semaphore>,
    pub(crate) options: RuntimeOptions,
    compat: [u8; 32],
    _ticker: Ticker,
}

struct Linkers {
    automation: Linker<HostState>,
    auth: Linker<HostState>,
    connector: Linker<HostState>,
    autofill: Linker<HostState>,
}

impl Linkers {
    fn get(&self, kind: Kind) -> &Linker<HostState> {
        match kind {
            Kind::PlatformAutomation => &self.automation,
            Kind::AuthProvider => &self.auth,
            Kind::CloudConnector => &self.connector,
            Kind::Autofill => &self.autofill,
        }
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on its own thread; stops and joins it
/// when dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine) -> Result<Ticker, LoadError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .map_err(|e| LoadError::Compile(format!("starting the epoch thread: {e}")))?;
        Ok(Ticker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

fn engine_error(context: &str, e: wasmtime::Error) -> LoadError {
    LoadError::Compile(format!("{context}: {e:#}"))
}

impl Runtime {
    /// Builds the engine, its linkers and the epoch ticker.
    pub fn new(options: RuntimeOptions) -> Result<Runtime, LoadError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(options.fuel)
            .memory_init_cow(true);
        if options.pooling {
            let n = options.max_instances.max(1);
            let mut pool = PoolingAllocationConfig::new();
            pool.total_component_instances(n)
                // Python components link a dozen core modules; compiled guests one or two.
                .total_core_instances(n.saturating_mul(16))
                .total_memories(n.saturating_mul(2))
                .total_tables(n.saturating_mul(16))
                .total_stacks(n)
                .max_memory_size(
                    usize::try_from(options.max_memory_per_instance).unwrap_or(usize::MAX),
                )
                .linear_memory_keep_resident(KEEP_RESIDENT)
                .table_keep_resident(KEEP_RESIDENT)
                .pagemap_scan(wasmtime::Enabled::Auto);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).map_err(|e| engine_error("configuring the engine", e))?;
        let linkers = Linkers {
            automation: build_linker(&engine, Kind::PlatformAutomation)?,
            auth: build_linker(&engine, Kind::AuthProvider)?,
            connector: build_linker(&engine, Kind::CloudConnector)?,
            autofill: build_linker(&engine, Kind::Autofill)?,
        };
        let compat = compatibility_digest(&engine);
        let ticker = Ticker::start(engine.clone())?;
        let permits = options
            .max_concurrent
            .clamp(1, options.max_instances.max(1) as usize);
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linkers,
                semaphore: Arc::new(tokio::sync::Semaphore::new(permits)),
                options,
                compat,
                _ticker: ticker,
            }),
        })
    }

    /// The options the runtime was built with.
    pub fn options(&self) -> &RuntimeOptions {
        &self.inner.options
    }

    /// A key that changes whenever precompiled artifacts of this engine would not load in
    /// another (wasmtime version, compiler settings, CPU features, this crate's version).
    /// Caches of artifacts are keyed by it.
    pub fn compatibility_key(&self) -> String {
        hex::encode(self.inner.compat)
    }

    /// Checks that `wasm` is a component of the `declared` world and reports its imports
    /// and exports. Compiles it, so it costs as much as [`Self::precompile`]; use
    /// [`Self::prepare`] to get both from one compilation.
    pub fn inspect(&self, wasm: &[u8], declared: Kind) -> Result<ComponentReport, LoadError> {
        self.prepare(wasm, declared).map(|(report, _)| report)
    }

    /// Compiles `wasm` into an artifact for [`Self::load`] without checking its world.
    pub fn precompile(&self, wasm: &[u8]) -> Result<Vec<u8>, LoadError> {
        check_is_component(wasm)?;
        let code = self
            .inner
            .engine
            .precompile_component(wasm)
            .map_err(|e| engine_error("compiling the component", e))?;
        Ok(self.wrap_artifact(&code))
    }

    /// What install needs, from one compilation: the checked report and the artifact.
    pub fn prepare(
        &self,
        wasm: &[u8],
        declared: Kind,
    ) -> Result<(ComponentReport, Vec<u8>), LoadError> {
        let artifact = self.precompile(wasm)?;
        let component = self.deserialize(&artifact)?;
        let report = check_world(&self.inner.engine, &component, declared)?;
        self.instance_pre(declared, &component)?;
        Ok((report, artifact))
    }

    /// Loads an artifact made by [`Self::precompile`] on an engine with the same
    /// [`Self::compatibility_key`]. Anything else is [`LoadError::StaleArtifact`]: recompile
    /// from the component.
    pub fn load(&self, kind: Kind, precompiled: &[u8]) -> Result<LoadedPlugin, LoadError> {
        let component = self.deserialize(precompiled)?;
        check_world(&self.inner.engine, &component, kind)?;
        let pre = self.instance_pre(kind, &component)?;
        Ok(LoadedPlugin::new(self.clone(), kind, pre))
    }

    /// [`Self::load`] from a file.
    pub fn load_file(&self, kind: Kind, path: &Path) -> Result<LoadedPlugin, LoadError> {
        let bytes = std::fs::read(path).map_err(|e| LoadError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        self.load(kind, &bytes)
    }

    /// Compiles, checks and loads in one step (tools and tests; the server precompiles at
    /// install and loads the artifact).
    pub fn compile_and_load(&self, kind: Kind, wasm: &[u8]) -> Result<LoadedPlugin, LoadError> {
        let (_, artifact) = self.prepare(wasm, kind)?;
        self.load(kind, &artifact)
    }

    fn wrap_artifact(&self, code: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(ARTIFACT_HEADER + code.len());
        out.extend_from_slice(ARTIFACT_MAGIC);
        out.extend_from_slice(&self.inner.compat);
        out.extend_from_slice(code);
        out
    }

    /// Checks the artifact's header against this engine, then deserializes it.
    fn deserialize(&self, artifact: &[u8]) -> Result<Component, LoadError> {
        if artifact.len() < ARTIFACT_HEADER || &artifact[..ARTIFACT_MAGIC.len()] != ARTIFACT_MAGIC {
            return Err(LoadError::StaleArtifact(
                "not an artifact of this runtime (no header); recompile the component".into(),
            ));
        }
        let key = &artifact[ARTIFACT_MAGIC.len()..ARTIFACT_HEADER];
        if key != self.inner.compat {
            return Err(LoadError::StaleArtifact(format!(
                "compiled for engine {}, this engine is {}; recompile the component",
                hex::encode(key),
                self.compatibility_key()
            )));
        }
        let code = &artifact[ARTIFACT_HEADER..];
        if Engine::detect_precompiled(code) != Some(wasmtime::Precompiled::Component) {
            return Err(LoadError::StaleArtifact(
                "the artifact is not a precompiled component".into(),
            ));
        }
        deserialize_own_artifact(&self.inner.engine, code)
            .map_err(|e| LoadError::StaleArtifact(format!("{e:#}")))
    }

    fn instance_pre(&self, kind: Kind, component: &Component) -> Result<WorldPre, LoadError> {
        let wrong = |e: wasmtime::Error| LoadError::WrongWorld {
            kind,
            detail: format!("{e:#}"),
        };
        let pre = self
            .inner
            .linkers
            .get(kind)
            .instantiate_pre(component)
            .map_err(wrong)?;
        Ok(match kind {
            Kind::PlatformAutomation => {
                WorldPre::Automation(automation::PlatformAutomationPre::new(pre).map_err(wrong)?)
            }
            Kind::AuthProvider => WorldPre::Auth(auth::AuthProviderPre::new(pre).map_err(wrong)?),
            Kind::CloudConnector => {
                WorldPre::Connector(connector::CloudConnectorPre::new(pre).map_err(wrong)?)
            }
            Kind::Autofill => WorldPre::Autofill(autofill::AutofillPre::new(pre).map_err(wrong)?),
        })
    }
}

/// Loads compiled code.
///
/// SAFETY: `Component::deserialize` trusts its input to be machine code wasmtime wrote. The
/// only callers pass bytes that carry this engine's compatibility key in our header, which
/// only [`Runtime::precompile`] writes (artifacts live in the host's data directory, which
/// plugins and users cannot write), and wasmtime checks its own ELF header and engine
/// settings again before mapping the code.
#[allow(unsafe_code)]
fn deserialize_own_artifact(engine: &Engine, code: &[u8]) -> wasmtime::Result<Component> {
    unsafe { Component::deserialize(engine, code) }
}

/// SHA-256 over wasmtime's compatibility hash, the wasmtime version and this crate's version.
fn compatibility_digest(engine: &Engine) -> [u8; 32] {
    struct ShaHasher(Sha256);
    impl std::hash::Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = ShaHasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
    h.0.update(b"wasmtime 48 / portcullis-plugin ");
    h.0.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.0.finalize().into()
}

fn build_linker(engine: &Engine, kind: Kind) -> Result<Linker<HostState>, LoadError> {
    build_linker_inner(engine, kind).map_err(|e| engine_error("building the linker", e))
}

fn build_linker_inner(engine: &Engine, kind: Kind) -> wasmtime::Result<Linker<HostState>> {
    use automation::portcullis::plugin as p;
    type H = HasSelf<HostState>;
    let mut l = Linker::new(engine);
    // The whole WASI 0.2 set, with an empty context: Python and JS runtimes import
    // filesystem and sockets even when they never use them.
    wasmtime_wasi::p2::add_to_linker_async(&mut l)?;
    p::types::add_to_linker::<HostState, H>(&mut l, |s| s)?;
    p::log::add_to_linker::<HostState, H>(&mut l, |s| s)?;
    p::config::add_to_linker::<HostState, H>(&mut l, |s| s)?;
    if kind != Kind::Autofill {
        p::secrets::add_to_linker::<HostState, H>(&mut l, |s| s)?;
    }
    if kind.has_remote() {
        p::remote::add_to_linker::<HostState, H>(&mut l, |s| s)?;
    }
    if kind.has_http() {
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut l)?;
    }
    Ok(l)
}

/// Refuses what is not a component, with a message naming the fix.
fn check_is_component(wasm: &[u8]) -> Result<(), LoadError> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(LoadError::NotAComponent(
            "the file is not WebAssembly (no \\0asm header)".into(),
        ));
    }
    // Core modules have version 1 layer 0; components a version 0x0d, layer 1.
    match (&wasm[4..6], &wasm[6..8]) {
        (_, [1, 0]) => Ok(()),
        ([1, 0], [0, 0]) => Err(LoadError::NotAComponent(
            "this is a core WebAssembly module; build a component (cargo --target \
             wasm32-wasip2, componentize-py, jco componentize) or wrap it with \
             `wasm-tools component new`"
                .into(),
        )),
        _ => Err(LoadError::NotAComponent(
            "unknown WebAssembly version or layer".into(),
        )),
    }
}

/// `ns:pkg/iface@version` → (`ns:pkg/iface`, version).
fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((base, v)) => (base, Some(v)),
        None => (name, None),
    }
}

/// Whether `version` is semver-compatible with this host's `0.1.x` package.
fn api_compatible(version: Option<&str>) -> bool {
    let host_minor = API_VERSION
        .rsplit_once('.')
        .map(|(mm, _)| mm)
        .unwrap_or(API_VERSION);
    version.is_some_and(|v| v.starts_with(host_minor) && v[host_minor.len()..].starts_with('.'))
}

fn world_export(kind: Kind) -> &'static str {
    match kind {
        Kind::PlatformAutomation => "portcullis:plugin/automation",
        Kind::AuthProvider => "portcullis:plugin/auth",
        Kind::CloudConnector => "portcullis:plugin/connector",
        Kind::Autofill => "portcullis:plugin/autofill-planner",
    }
}

fn world_imports(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::PlatformAutomation => &[
            "portcullis:plugin/types",
            "portcullis:plugin/log",
            "portcullis:plugin/config",
            "portcullis:plugin/secrets",
            "portcullis:plugin/remote",
        ],
        Kind::AuthProvider | Kind::CloudConnector => &[
            "portcullis:plugin/types",
            "portcullis:plugin/log",
            "portcullis:plugin/config",
            "portcullis:plugin/secrets",
        ],
        Kind::Autofill => &[
            "portcullis:plugin/types",
            "portcullis:plugin/log",
            "portcullis:plugin/config",
        ],
    }
}

/// WASI packages every world links (with an empty context).
const WASI_PACKAGES: &[&str] = &[
    "wasi:io",
    "wasi:clocks",
    "wasi:random",
    "wasi:cli",
    "wasi:filesystem",
    "wasi:sockets",
];

/// Checks the component's exports and imports against the world, by name; the linker
/// checks the types afterwards.
fn check_world(
    engine: &Engine,
    component: &Component,
    kind: Kind,
) -> Result<ComponentReport, LoadError> {
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_owned()).collect();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_owned()).collect();

    let wanted = world_export(kind);
    let api_version = exports
        .iter()
        .map(|e| split_version(e))
        .find(|(base, v)| *base == wanted && api_compatible(*v))
        .and_then(|(_, v)| v.map(str::to_owned))
        .ok_or_else(|| LoadError::WrongWorld {
            kind,
            detail: format!(
                "it must export {wanted}@{API_VERSION}; it exports {}",
                if exports.is_empty() {
                    "nothing".to_owned()
                } else {
                    exports.join(", ")
                }
            ),
        })?;

    let mut forbidden = Vec::new();
    let mut wasi = Vec::new();
    for name in &imports {
        let (base, version) = split_version(name);
        let package = base.split('/').next().unwrap_or(base);
        let ok = if package == "portcullis:plugin" {
            world_imports(kind).contains(&base) && api_compatible(version)
        } else if package == "wasi:http" {
            kind.has_http() && version.is_some_and(|v| v.starts_with("0.2."))
        } else if WASI_PACKAGES.contains(&package) {
            version.is_some_and(|v| v.starts_with("0.2."))
        } else {
            false
        };
        if !ok {
            forbidden.push(name.clone());
        } else if package.starts_with("wasi:") && !wasi.iter().any(|w: &String| w == package) {
            wasi.push(package.to_owned());
        }
    }
    if !forbidden.is_empty() {
        return Err(LoadError::ForbiddenImports {
            kind,
            imports: forbidden,
        });
    }
    wasi.sort();
    Ok(ComponentReport {
        kind,
        imports,
        exports,
        wasi,
        api_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_modules_and_garbage_are_not_components() {
        assert!(matches!(
            check_is_component(b"\0asm\x01\0\0\0"),
            Err(LoadError::NotAComponent(m)) if m.contains("core WebAssembly module")
        ));
        assert!(matches!(
            check_is_component(b"hello world"),
            Err(LoadError::NotAComponent(_))
        ));
        assert!(check_is_component(b"\0asm\x0d\0\x01\0").is_ok());
    }

    fn epoch_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .filter_map(|t| t.ok())
                    .filter(|t| {
                        std::fs::read_to_string(t.path().join("comm"))
                            .is_ok_and(|c| c.trim() == "plugin-epoch")
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// Waits (up to a second) for the count of epoch threads to be `n`: a new thread names
    /// itself only once it runs.
    fn wait_for_epoch_threads(n: usize) -> usize {
        for _ in 0..100 {
            if epoch_threads() == n {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        epoch_threads()
    }

    #[test]
    fn the_epoch_thread_stops_with_the_last_runtime() {
        let before = epoch_threads();
        let rt = Runtime::new(RuntimeOptions {
            pooling: false,
            ..RuntimeOptions::default()
        })
        .expect("runtime");
        let clone = rt.clone();
        assert_eq!(wait_for_epoch_threads(before + 1), before + 1);
        drop(rt);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            epoch_threads(),
            before + 1,
            "a clone still holds the engine"
        );
        drop(clone);
        // Dropping joins the thread, so it is gone at once.
        assert_eq!(epoch_threads(), before);
    }

    #[test]
    fn api_versions_within_the_minor_line_are_compatible() {
        assert!(api_compatible(Some("0.1.0")));
        assert!(api_compatible(Some("0.1.7")));
        assert!(!api_compatible(Some("0.2.0")));
        assert!(!api_compatible(Some("0.10.0")));
        assert!(!api_compatible(None));
    }
}
