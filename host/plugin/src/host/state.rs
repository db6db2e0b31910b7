//! The store data of one invocation: WASI and HTTP contexts, the resource table, the
//! memory limiter and the per-invocation state of the portcullis capabilities.
//!
//! Built fresh for every call from the [`Invocation`] and dropped with the store, so no
//! state (secrets, sessions, counters) outlives the call.

use crate::caps::{Determinism, EventSink, Invocation, RemoteGrant, SecretValue};
use crate::host::http::{HttpHooks, HttpPolicy};
use crate::host::log::{GuestOutput, LogSink, Stream};
use crate::kind::Limits;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Most elements a guest table may grow to: enough for any real guest's function table,
/// small enough that a table bomb is refused before it costs the host real memory.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Counters of the remote capability, per invocation.
#[derive(Default)]
pub(crate) struct RemoteUsage {
    pub(crate) sessions: u32,
    pub(crate) commands: u32,
    pub(crate) output_bytes: u64,
}

/// Everything a store holds for one invocation.
pub(crate) struct HostState {
    pub(crate) table: ResourceTable,
    pub(crate) wasi: WasiCtx,
    pub(crate) http_ctx: WasiHttpCtx,
    pub(crate) http_hooks: HttpHooks,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) log: Arc<LogSink>,
    pub(crate) invocation_id: String,
    pub(crate) events: Arc<dyn EventSink>,
    pub(crate) limits: Limits,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) secrets: BTreeMap<String, SecretValue>,
    pub(crate) reveal_allowed: bool,
    pub(crate) remote: Option<RemoteGrant>,
    pub(crate) remote_usage: RemoteUsage,
}

impl HostState {
    /// The store data for `inv`: an empty WASI context (no files, environment, arguments or
    /// sockets) with stdout/stderr going to the log, fixed clocks and seeded randomness when
    /// the invocation asks for determinism.
    pub(crate) fn new(inv: Invocation) -> Self {
        let log = Arc::new(LogSink::new(
            inv.id.clone(),
            inv.events.clone(),
            inv.limits.log_lines,
            inv.limits.log_bytes,
        ));
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(GuestOutput {
                sink: log.clone(),
                stream: Stream::Stdout,
            })
            .stderr(GuestOutput {
                sink: log.clone(),
                stream: Stream::Stderr,
            })
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            // A guest asking for more random bytes at once than this traps instead of making
            // the host allocate them.
            .max_random_size(1024 * 1024);
        if let Some(det) = inv.determinism {
            install_determinism(&mut builder, det);
        }
        let policy = HttpPolicy::new(
            inv.id.clone(),
            inv.http.clone(),
            &inv.config,
            inv.limits,
            inv.events.clone(),
        );
        HostState {
            table: ResourceTable::new(),
            wasi: builder.build(),
            http_ctx: WasiHttpCtx::new(),
            http_hooks: HttpHooks::new(Arc::new(policy)),
            limiter: MemoryLimiter::new(inv.limits.memory_bytes),
            log,
            invocation_id: inv.id,
            events: inv.events,
            limits: inv.limits,
            config: inv.config,
            secrets: inv.secrets,
            reveal_allowed: inv.reveal_allowed,
            remote: inv.remote,
            remote_usage: RemoteUsage::default(),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

/// The memory limit of the invocation, across all of the component's memories.
///
/// A refused growth traps the guest at once and sets [`MemoryLimiter::hit`], which is how
/// the runtime tells a memory bomb from any other trap without parsing messages.
pub(crate) struct MemoryLimiter {
    limit: u64,
    total: u64,
    peak: u64,
    hit: bool,
}

/// The error a refused memory growth traps with.
#[derive(Debug)]
pub(crate) struct MemoryLimitHit {
    pub(crate) limit: u64,
}

impl std::fmt::Display for MemoryLimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "memory limit of {} bytes reached", self.limit)
    }
}

impl std::error::Error for MemoryLimitHit {}

impl MemoryLimiter {
    fn new(limit: u64) -> Self {
        MemoryLimiter {
            limit,
            total: 0,
            peak: 0,
            hit: false,
        }
    }

    /// Whether the guest asked for more memory than the limit.
    pub(crate) fn hit(&self) -> bool {
        self.hit
    }

    /// The most linear memory the invocation had at once.
    pub(crate) fn peak(&self) -> u64 {
        self.peak
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = (desired as u64).saturating_sub(current as u64);
        let total = self.total.saturating_add(grow);
        if total > self.limit {
            self.hit = true;
            return Err(wasmtime::Error::new(MemoryLimitHit { limit: self.limit }));
        }
        self.total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Fixed wall clock, a monotonic clock that advances one microsecond per reading (so
/// guests that wait on it still progress), and random sources seeded from `det.seed`.
fn install_determinism(builder: &mut WasiCtxBuilder, det: Determinism) {
    builder
        .wall_clock(FixedWallClock(Duration::from_secs(det.wall_clock_secs)))
        .monotonic_clock(SteppingClock(AtomicU64::new(0)))
        .secure_random(wasmtime_wasi::Deterministic::new(seeded_bytes(det.seed)))
        .insecure_random(wasmtime_wasi::Deterministic::new(seeded_bytes(
            det.seed ^ 0x5eed,
        )))
        .insecure_random_seed(u128::from(det.seed));
}

/// 4 KiB of splitmix64 output: the repeating cycle the deterministic generators draw from.
fn seeded_bytes(seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(4096);
    while out.len() < 4096 {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out
}

struct FixedWallClock(Duration);

impl wasmtime_wasi::HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

struct SteppingClock(AtomicU64);

impl wasmtime_wasi::HostMonotonicClock for SteppingClock {
    fn resolution(&self) -> u64 {
        1_000
    }
    fn now(&self) -> u64 {
        self.0.fetch_add(1_000, Ordering::Relaxed)
    }
}
