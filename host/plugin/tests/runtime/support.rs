//! Shared fixtures: the misbehave guest built once per run and precompiled once per engine
//! and wasm hash, one shared runtime, and recording fakes for events, HTTP and remote.

use async_trait::async_trait;
use portcullis_plugin::caps::{
    Event, EventSink, HttpGrant, HttpRequest, HttpResponse, HttpTransport, Invocation, RemoteGrant,
    RemoteProvider, RemoteSession, SecretValue,
};
use portcullis_plugin::engine::{Runtime, RuntimeOptions};
use portcullis_plugin::error::{LoadError, PluginError};
use portcullis_plugin::kind::{Kind, Limits};
use portcullis_plugin::plugin::LoadedPlugin;
use portcullis_plugin::types::{CommandOutput, ExpectMatch, Protocol, Target};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The guest variants (cargo features of tests/plugins/misbehave).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    Automation,
    Connector,
    Autofill,
    AutomationHttp,
}

impl Variant {
    fn feature(self) -> &'static str {
        match self {
            Variant::Automation => "automation",
            Variant::Connector => "connector",
            Variant::Autofill => "autofill",
            Variant::AutomationHttp => "automation-http",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Variant::Automation | Variant::AutomationHttp => Kind::PlatformAutomation,
            Variant::Connector => Kind::CloudConnector,
            Variant::Autofill => Kind::Autofill,
        }
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wasm_dir() -> PathBuf {
    repo_root().join("target/wasm")
}

/// Builds every variant once per test run (cargo skips what is up to date) and returns the
/// component bytes.
pub fn wasm(variant: Variant) -> &'static [u8] {
    static BUILT: OnceLock<Vec<(Variant, Vec<u8>)>> = OnceLock::new();
    let all = BUILT.get_or_init(|| {
        [
            Variant::Automation,
            Variant::Connector,
            Variant::Autofill,
            Variant::AutomationHttp,
        ]
        .into_iter()
        .map(|v| (v, build(v)))
        .collect()
    });
    &all.iter().find(|(v, _)| *v == variant).expect("built").1
}

fn build(variant: Variant) -> Vec<u8> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(repo_root())
        .env("CARGO_TARGET_DIR", wasm_dir())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args([
            "build",
            "--quiet",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "plugin",
            "-p",
            "test-plugin-misbehave",
            "--no-default-features",
            "--features",
            variant.feature(),
        ])
        .status()
        .expect("running cargo for the guest");
    assert!(status.success(), "building the {variant:?} guest failed");
    let out = wasm_dir().join("wasm32-wasip2/plugin/test_plugin_misbehave.wasm");
    std::fs::read(&out).expect("reading the guest component")
}

/// The runtime shared by the tests (one engine per process, configured as in production:
/// pooling, no fuel metering).
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Runtime::new(RuntimeOptions {
            max_instances: 128,
            max_memory_per_instance: 128 * 1024 * 1024,
            max_concurrent: 64,
            busy_wait: Duration::from_secs(60),
            pooling: true,
            fuel: false,
        })
        .expect("runtime")
    })
}

/// A runtime that meters fuel, as the test harness's, for the tests of fuel budgets.
pub fn metered_runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Runtime::new(RuntimeOptions {
            pooling: false,
            fuel: true,
            busy_wait: Duration::from_secs(60),
            ..RuntimeOptions::default()
        })
        .expect("metered runtime")
    })
}

/// The plugin of `variant` loaded on [`metered_runtime`].
pub fn metered_plugin(variant: Variant) -> LoadedPlugin {
    static LOADED: OnceLock<Mutex<Vec<(Variant, LoadedPlugin)>>> = OnceLock::new();
    load_cached(
        LOADED.get_or_init(Default::default),
        metered_runtime(),
        variant,
    )
}

/// The precompiled artifact of `variant` for `rt`, cached under target/ by engine key and
/// wasm hash (compiling in a debug build is slow).
pub fn artifact(rt: &Runtime, variant: Variant) -> Vec<u8> {
    let wasm = wasm(variant);
    let hash = hex::encode(Sha256::digest(wasm));
    let dir = wasm_dir().join("cwasm-cache");
    std::fs::create_dir_all(&dir).expect("cache dir");
    let path = dir.join(format!("{}-{hash}.cwasm", &rt.compatibility_key()[..16]));
    if let Ok(bytes) = std::fs::read(&path) {
        return bytes;
    }
    let bytes = rt.precompile(wasm).expect("precompile");
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &bytes).expect("write cache");
    std::fs::rename(&tmp, &path).expect("rename cache");
    bytes
}

/// The loaded plugin of `variant` on the shared runtime.
pub fn plugin(variant: Variant) -> LoadedPlugin {
    static LOADED: OnceLock<Mutex<Vec<(Variant, LoadedPlugin)>>> = OnceLock::new();
    load_cached(LOADED.get_or_init(Default::default), runtime(), variant)
}

fn load_cached(
    cell: &Mutex<Vec<(Variant, LoadedPlugin)>>,
    rt: &Runtime,
    variant: Variant,
) -> LoadedPlugin {
    let mut loaded = cell.lock().expect("lock");
    if let Some((_, p)) = loaded.iter().find(|(v, _)| *v == variant) {
        return p.clone();
    }
    let p = match rt.load(variant.kind(), &artifact(rt, variant)) {
        Ok(p) => p,
        Err(LoadError::StaleArtifact(_)) => rt
            .compile_and_load(variant.kind(), wasm(variant))
            .expect("compile"),
        Err(e) => panic!("loading {variant:?}: {e}"),
    };
    loaded.push((variant, p.clone()));
    p
}

/// Records events in order.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<Event>>);

impl EventSink for Recorder {
    fn record(&self, _invocation_id: &str, event: Event) {
        self.0.lock().expect("lock").push(event);
    }
}

impl Recorder {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().expect("lock").clone()
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Log { message, .. } => Some(message),
                _ => None,
            })
            .collect()
    }
}

pub fn target() -> Target {
    Target {
        asset_id: "asset-1".into(),
        account_id: Some("account-1".into()),
        protocol: Protocol::Ssh,
    }
}

pub fn secret(name: &str, bytes: &[u8]) -> SecretValue {
    SecretValue {
        name: name.into(),
        bytes: zeroize::Zeroizing::new(bytes.to_vec()),
        public_part: None,
    }
}

/// An invocation of `kind` with its default limits and nothing granted.
pub fn invocation(kind: Kind, events: Arc<Recorder>) -> Invocation {
    Invocation {
        id: "inv-1".into(),
        plugin_id: "misbehave".into(),
        plugin_version: "0.1.0".into(),
        limits: kind.default_limits(),
        config: BTreeMap::new(),
        secrets: BTreeMap::new(),
        reveal_allowed: false,
        http: None,
        remote: None,
        events,
        determinism: None,
        fuel: None,
    }
}

/// Limits with a short deadline, for tests that expect the call to be stopped.
pub fn short(kind: Kind, deadline: Duration) -> Limits {
    Limits {
        deadline,
        ..kind.default_limits()
    }
}

/// An HTTP transport that answers every request itself and records what it was asked.
pub struct FakeTransport {
    pub resolves: bool,
    pub body: Vec<u8>,
    pub calls: Mutex<Vec<(HttpRequest, Option<SocketAddr>)>>,
}

impl FakeTransport {
    pub fn new(resolves: bool, body: &[u8]) -> Arc<Self> {
        Arc::new(FakeTransport {
            resolves,
            body: body.to_vec(),
            calls: Mutex::new(Vec::new()),
        })
    }

    pub fn calls(&self) -> Vec<(HttpRequest, Option<SocketAddr>)> {
        self.calls.lock().expect("lock").clone()
    }
}

#[async_trait]
impl HttpTransport for FakeTransport {
    async fn send(
        &self,
        request: HttpRequest,
        resolved: Option<SocketAddr>,
        _max_body: u64,
        _timeout: Duration,
    ) -> Result<HttpResponse, PluginError> {
        self.calls.lock().expect("lock").push((request, resolved));
        Ok(HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: self.body.clone(),
        })
    }

    fn resolves_addresses(&self) -> bool {
        self.resolves
    }
}

pub fn http_grant(allow: &[&str], transport: Arc<dyn HttpTransport>) -> HttpGrant {
    HttpGrant {
        allow: allow.iter().map(|s| s.to_string()).collect(),
        allow_networks: vec![],
        transport,
        request_timeout: Duration::from_secs(5),
    }
}

/// A remote provider whose sessions answer every command with `output_len` bytes and
/// record what was sent.
#[derive(Default)]
pub struct FakeRemote {
    pub output_len: usize,
    /// How long each `run` takes.
    pub delay: Duration,
    pub opened: Mutex<Vec<Target>>,
    pub sent: Arc<Mutex<Vec<u8>>>,
}

struct FakeSession {
    output_len: usize,
    delay: Duration,
    sent: Arc<Mutex<Vec<u8>>>,
}

#[async_trait]
impl RemoteProvider for FakeRemote {
    async fn open(
        &self,
        _invocation_id: &str,
        target: &Target,
        _timeout: Duration,
    ) -> Result<Box<dyn RemoteSession>, PluginError> {
        self.opened.lock().expect("lock").push(target.clone());
        Ok(Box::new(FakeSession {
            output_len: self.output_len,
            delay: self.delay,
            sent: self.sent.clone(),
        }))
    }
}

#[async_trait]
impl RemoteSession for FakeSession {
    async fn run(
        &mut self,
        _command: &str,
        _timeout: Duration,
    ) -> Result<CommandOutput, PluginError> {
        tokio::time::sleep(self.delay).await;
        Ok(CommandOutput {
            exit_code: Some(0),
            stdout: vec![b'x'; self.output_len],
            stderr: vec![],
        })
    }
    async fn send(&mut self, data: &[u8]) -> Result<(), PluginError> {
        self.sent.lock().expect("lock").extend_from_slice(data);
        Ok(())
    }
    async fn expect(
        &mut self,
        _patterns: &[regex::Regex],
        _timeout: Duration,
    ) -> Result<ExpectMatch, PluginError> {
        Err(PluginError::Timeout)
    }
    async fn close(&mut self) {}
}

pub fn remote_grant(provider: Arc<FakeRemote>, allowed: Vec<Target>) -> RemoteGrant {
    RemoteGrant { allowed, provider }
}
