//! [`LoadedPlugin`]: a compiled, linked plugin version, and one invocation of it.
//!
//! Every call gets a fresh store and instance (20–40 µs for compiled guests), so nothing
//! leaks between calls, tenants or users, and a trapped or stopped instance is simply
//! dropped. Limits: memory through the store's limiter, CPU through epochs (the guest
//! yields to the executor every tick and is interrupted at the deadline), wall time
//! including host I/O through a timer around the whole call, and a global semaphore.

use crate::bindings::{auth, autofill, automation, connector};
use crate::caps::Invocation;
use crate::convert::*;
use crate::engine::Runtime;
use crate::error::{InvokeError, PluginError};
use crate::host::state::HostState;
use crate::kind::Kind;
use crate::types::{Call, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Store, Trap, UpdateDeadline};

/// The pre-linked component of one world.
pub(crate) enum WorldPre {
    Automation(automation::PlatformAutomationPre<HostState>),
    Auth(auth::AuthProviderPre<HostState>),
    Connector(connector::CloudConnectorPre<HostState>),
    Autofill(autofill::AutofillPre<HostState>),
}

/// A plugin version ready to run. Cheap to clone; keeps its engine alive.
#[derive(Clone)]
pub struct LoadedPlugin {
    inner: Arc<LoadedInner>,
}

struct LoadedInner {
    runtime: Runtime,
    kind: Kind,
    pre: WorldPre,
}

/// Measurements of one invocation, for the test harness (fuel budgets) and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Fuel units the guest burned (roughly, WebAssembly instructions); zero on a runtime
    /// that does not meter fuel.
    pub fuel_consumed: u64,
    /// Wall time from the call to the end, instantiation and waiting for a slot included.
    pub duration: Duration,
    /// Most linear memory the instance had at once, in bytes.
    pub peak_memory: u64,
}

/// How a call into the guest failed, before it is classified.
enum Failure {
    Instantiate(wasmtime::Error),
    Guest(wasmtime::Error),
}

impl LoadedPlugin {
    pub(crate) fn new(runtime: Runtime, kind: Kind, pre: WorldPre) -> Self {
        LoadedPlugin {
            inner: Arc::new(LoadedInner { runtime, kind, pre }),
        }
    }

    /// The world this plugin implements.
    pub fn kind(&self) -> Kind {
        self.inner.kind
    }

    /// Runs one call in a fresh instance.
    pub async fn call(&self, inv: Invocation, call: Call) -> Result<Output, InvokeError> {
        self.call_with_stats(inv, call).await.0
    }

    /// [`Self::call`], also returning fuel use, duration and peak memory (returned even when
    /// the call failed: a deadline or memory bomb is worth measuring too).
    pub async fn call_with_stats(
        &self,
        inv: Invocation,
        call: Call,
    ) -> (Result<Output, InvokeError>, CallStats) {
        let started = Instant::now();
        let mut stats = CallStats::default();
        let kind = self.inner.kind;
        if !in_world(kind, &call) {
            return (
                Err(InvokeError::WrongKind {
                    call: call.name(),
                    kind,
                }),
                stats,
            );
        }
        let rt = &self.inner.runtime.inner;
        let permit =
            match tokio::time::timeout(rt.options.busy_wait, rt.semaphore.clone().acquire_owned())
                .await
            {
                Ok(Ok(p)) => p,
                _ => {
                    stats.duration = started.elapsed();
                    return (Err(InvokeError::Busy), stats);
                }
            };

        let (plugin_id, plugin_version, invocation_id) = (
            inv.plugin_id.clone(),
            inv.plugin_version.clone(),
            inv.id.clone(),
        );
        let call_name = call.name();
        let deadline = inv.limits.deadline;
        let memory_limit = inv.limits.memory_bytes;
        let budget = inv.fuel;
        let metered = rt.options.fuel;
        if budget.is_some() && !metered {
            return (
                Err(InvokeError::Instantiate(
                    "a fuel budget needs a runtime that meters fuel (RuntimeOptions::fuel)".into(),
                )),
                stats,
            );
        }
        let fuel = budget.unwrap_or(u64::MAX);
        let mut store = Store::new(&rt.engine, HostState::new(inv));
        store.limiter(|s| &mut s.limiter);
        if metered && let Err(e) = store.set_fuel(fuel) {
            return (Err(InvokeError::Instantiate(format!("{e:#}"))), stats);
        }
        // Every tick the guest yields to the executor (so other tasks and the timer below
        // run even while it computes); past the deadline it is interrupted.
        let start = Instant::now();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if start.elapsed() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                // tokio's yield defers the wake-up until the scheduler has polled its
                // timers and I/O, so timers (the deadline below) and other tasks get their
                // turn even on a single-threaded runtime.
                UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
            })
        });

        let outcome =
            tokio::time::timeout(deadline, dispatch(&self.inner.pre, &mut store, call)).await;
        let result = match outcome {
            Err(_) => Err(InvokeError::Deadline(deadline)),
            Ok(Ok(Ok(out))) => Ok(out),
            Ok(Ok(Err(e))) => Err(InvokeError::Plugin(e)),
            Ok(Err(failure)) => Err(classify(
                failure,
                store.data().limiter.hit(),
                deadline,
                memory_limit,
                budget,
            )),
        };
        if metered {
            stats.fuel_consumed = fuel.saturating_sub(store.get_fuel().unwrap_or(fuel));
        }
        stats.peak_memory = store.data().limiter.peak();
        store.data().log.finish();
        drop(store);
        drop(permit);
        stats.duration = started.elapsed();
        tracing::debug!(
            plugin = %plugin_id,
            version = %plugin_version,
            invocation = %invocation_id,
            call = call_name,
            outcome = match &result { Ok(_) => "ok", Err(e) => e.code() },
            duration_us = stats.duration.as_micros() as u64,
            fuel = stats.fuel_consumed,
            peak_memory = stats.peak_memory,
            "plugin call finished"
        );
        (result, stats)
    }
}

/// Turns a wasmtime error into the invocation error it stands for.
fn classify(
    failure: Failure,
    memory_hit: bool,
    deadline: Duration,
    memory_limit: u64,
    budget: Option<u64>,
) -> InvokeError {
    if memory_hit {
        return InvokeError::MemoryLimit {
            limit: memory_limit,
        };
    }
    let (e, instantiating) = match failure {
        Failure::Instantiate(e) => (e, true),
        Failure::Guest(e) => (e, false),
    };
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => InvokeError::Deadline(deadline),
        Some(Trap::OutOfFuel) => InvokeError::Fuel(budget.unwrap_or(u64::MAX)),
        Some(_) => InvokeError::Trap(format!("{e:?}")),
        None if instantiating => InvokeError::Instantiate(format!("{e:#}")),
        None => InvokeError::Trap(format!("{e:?}")),
    }
}

/// Whether `call` is a function of `kind`'s world.
fn in_world(kind: Kind, call: &Call) -> bool {
    match call {
        Call::Describe => true,
        Call::Ping { .. }
        | Call::VerifyAccount { .. }
        | Call::ChangeSecret { .. }
        | Call::PushAccount { .. }
        | Call::GatherAccounts { .. }
        | Call::RemoveAccount { .. } => kind == Kind::PlatformAutomation,
        Call::TestConnection | Call::ListRegions | Call::ListInstances(_) => {
            kind == Kind::CloudConnector
        }
        Call::Begin(_) | Call::Complete(_) => kind == Kind::AuthProvider,
        Call::Plan(_) => kind == Kind::Autofill,
    }
}

type Answer = Result<Result<Output, PluginError>, Failure>;

fn done<T>(
    r: Result<T, automation::portcullis::plugin::types::PluginError>,
    f: impl FnOnce(T) -> Output,
) -> Result<Output, PluginError> {
    r.map(f).map_err(plugin_error_from_wit)
}

/// Instantiates the plugin in `store` and runs `call`.
async fn dispatch(pre: &WorldPre, store: &mut Store<HostState>, call: Call) -> Answer {
    let g = Failure::Guest;
    match pre {
        WorldPre::Automation(pre) => {
            let inst = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(Failure::Instantiate)?;
            let a = inst.portcullis_plugin_automation();
            Ok(match call {
                Call::Describe => Ok(Output::Info(info_from_wit(
                    a.call_describe(&mut *store).await.map_err(g)?,
                ))),
                Call::Ping { target, params } => done(
                    a.call_ping(&mut *store, &target_to_wit(&target), &params)
                        .await
                        .map_err(g)?,
                    |()| Output::Done,
                ),
                Call::VerifyAccount { target, params } => done(
                    a.call_verify_account(&mut *store, &target_to_wit(&target), &params)
                        .await
                        .map_err(g)?,
                    |()| Output::Done,
                ),
                Call::ChangeSecret {
                    target,
                    account,
                    new_secret,
                    params,
                } => {
                    let secret = store.data_mut().push_secret(new_secret).map_err(g)?;
                    done(
                        a.call_change_secret(
                            &mut *store,
                            &target_to_wit(&target),
                            &account_to_wit(&account),
                            secret,
                            &params,
                        )
                        .await
                        .map_err(g)?,
                        |()| Output::Done,
                    )
                }
                Call::PushAccount {
                    target,
                    account,
                    secret,
                    options,
                    params,
                } => {
                    let secret = store.data_mut().push_secret(secret).map_err(g)?;
                    done(
                        a.call_push_account(
                            &mut *store,
                            &target_to_wit(&target),
                            &account_to_wit(&account),
                            secret,
                            &push_options_to_wit(&options),
                            &params,
                        )
                        .await
                        .map_err(g)?,
                        |()| Output::Done,
                    )
                }
                Call::GatherAccounts { target, params } => done(
                    a.call_gather_accounts(&mut *store, &target_to_wit(&target), &params)
                        .await
                        .map_err(g)?,
                    |list| Output::Accounts(list.into_iter().map(discovered_from_wit).collect()),
                ),
                Call::RemoveAccount {
                    target,
                    username,
                    params,
                } => done(
                    a.call_remove_account(&mut *store, &target_to_wit(&target), &username, &params)
                        .await
                        .map_err(g)?,
                    |()| Output::Done,
                ),
                other => Err(wrong_kind(Kind::PlatformAutomation, &other)),
            })
        }
        WorldPre::Auth(pre) => {
            let inst = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(Failure::Instantiate)?;
            let a = inst.portcullis_plugin_auth();
            Ok(match call {
                Call::Describe => Ok(Output::Info(info_from_wit(
                    a.call_describe(&mut *store).await.map_err(g)?,
                ))),
                Call::Begin(req) => done(
                    a.call_begin(&mut *store, &begin_request_to_wit(&req))
                        .await
                        .map_err(g)?,
                    |r| Output::Begin(begin_response_from_wit(r)),
                ),
                Call::Complete(req) => done(
                    a.call_complete(&mut *store, &complete_request_to_wit(&req))
                        .await
                        .map_err(g)?,
                    |i| Output::Identity(identity_from_wit(i)),
                ),
                other => Err(wrong_kind(Kind::AuthProvider, &other)),
            })
        }
        WorldPre::Connector(pre) => {
            let inst = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(Failure::Instantiate)?;
            let c = inst.portcullis_plugin_connector();
            Ok(match call {
                Call::Describe => Ok(Output::Info(info_from_wit(
                    c.call_describe(&mut *store).await.map_err(g)?,
                ))),
                Call::TestConnection => done(
                    c.call_test_connection(&mut *store).await.map_err(g)?,
                    |()| Output::Done,
                ),
                Call::ListRegions => {
                    done(c.call_list_regions(&mut *store).await.map_err(g)?, |r| {
                        Output::Regions(r.into_iter().map(region_from_wit).collect())
                    })
                }
                Call::ListInstances(req) => done(
                    c.call_list_instances(&mut *store, &list_request_to_wit(&req))
                        .await
                        .map_err(g)?,
                    |p| Output::Instances(page_from_wit(p)),
                ),
                other => Err(wrong_kind(Kind::CloudConnector, &other)),
            })
        }
        WorldPre::Autofill(pre) => {
            let inst = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(Failure::Instantiate)?;
            let f = inst.portcullis_plugin_autofill_planner();
            Ok(match call {
                Call::Describe => Ok(Output::Info(info_from_wit(
                    f.call_describe(&mut *store).await.map_err(g)?,
                ))),
                Call::Plan(page) => done(
                    f.call_plan(&mut *store, &page_to_wit(&page))
                        .await
                        .map_err(g)?,
                    |steps| Output::Steps(steps.into_iter().map(step_from_wit).collect()),
                ),
                other => Err(wrong_kind(Kind::Autofill, &other)),
            })
        }
    }
}

/// Unreachable in practice ([`in_world`] is checked first); kept as an orderly answer.
fn wrong_kind(kind: Kind, call: &Call) -> PluginError {
    PluginError::Internal(format!(
        "{} is not a function of the {kind} world",
        call.name()
    ))
}
