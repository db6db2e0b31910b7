//! The conformance suite: what every plugin of a world must do, checked on the real engine
//! with fakes. One named row per check, each pass, fail (with the reason) or skip (not
//! applicable to the world).
//!
//! | Check | What is done | Passes when |
//! |---|---|---|
//! | `describe-stable` | `describe` twice | same answer; id/version as the manifest says |
//! | `call-returns` | the world's main call against a well-behaved remote/HTTP side | it answers (ok or a `plugin-error`): no trap, deadline, memory or fuel stop |
//! | `errors-are-plugin-errors` | automation: the target refuses the login; connector/auth: every request answers HTTP 500; autofill: a page without fields | a `plugin-error` (`unavailable`/`internal`, `unauthorized` too for auth and automation), not a trap, and the plugin did try its target |
//! | `host-denied` | automation: the grant names only another target; connector/auth: no host granted | an error, and the fake saw no session / no request |
//! | `memory-contained` | `describe` with a memory limit of half its measured peak, then with the normal limit | `memory_limit` first, then the normal answer (fresh instance) |
//! | `deadline-enforced` | the remote/HTTP side never answers; deadline 200 ms | the call ends with `deadline` (or the plugin's own `timeout` error) within 3× the deadline |
//! | `fuel-enforced` | the main call with half the fuel it needs | `fuel` |
//! | `output-capped` | every command prints 4× the output quota / every response is 4× the response budget | an answer (ok or error), never a trap, and a `Capped` event |
//! | `no-reveal-for-send` | automation: `change-secret` and `push-account` of a password against a [`ProbeRemote`](crate::probe::ProbeRemote) that plays along with any prompt dialogue | the secret's bytes never reach the remote in clear through `run` or `send` (only `send-secret` writes a secret without the plugin holding it, and keeps it out of the audit) |
//!
//! The main call: automation `ping` (target `asset-1`, account `account-1`), connector
//! `test-connection`, auth `complete` (params `code=conformance`), autofill `plan` of a login
//! form; [`Options::call`] replaces it. Secrets the plugin declares get dummy values, and its
//! requested HTTP origins are granted (except in `host-denied`).
//!
//! `memory-contained` holds for every component on this runtime; it is in the suite because a
//! plugin must *fit* the limit (its peak memory is in the reason) and so a runtime regression
//! shows in every plugin's CI. A plugin that allocates without bound fails `call-returns`.

use crate::http::{Fixture, FixtureHttp, Reply};
use crate::probe::{ProbeRemote, next_path};
use crate::remote::ScriptedRemote;
use crate::runner::{CallOutcome, CallSetup, Component, Fakes};
use crate::sink::RecordingSink;
use crate::transcript::{OpenOutcome, RunReply, Transcript};
use portcullis_plugin::caps::{Event, SecretValue};
use portcullis_plugin::error::{InvokeError, PluginError};
use portcullis_plugin::kind::Kind;
use portcullis_plugin::types::{
    Account, Call, CommandOutput, CompleteRequest, Field, Output, Page, Protocol, PushOptions,
    SecretKind, Target,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the suite needs to know besides the component: what `describe` must answer, what
/// to configure and grant, and which call to make.
#[derive(Debug, Clone)]
pub struct Options {
    /// The manifest's id, checked against `describe`.
    pub expect_id: Option<String>,
    /// The manifest's version, checked against `describe`.
    pub expect_version: Option<String>,
    /// Configuration values.
    pub config: BTreeMap<String, String>,
    /// Secrets by name (declared secrets without a value get a dummy one).
    pub secrets: BTreeMap<String, SecretValue>,
    /// `secrets.reveal` granted.
    pub reveal: bool,
    /// HTTP origins granted (except in `host-denied`).
    pub http_allow: Vec<String>,
    /// The call of the I/O checks; none: the world's default.
    pub call: Option<Call>,
    /// The calls of `no-reveal-for-send` (automation); none: `change-secret` and
    /// `push-account` of a password with `{}` parameters.
    pub secret_calls: Option<Vec<Call>>,
    /// Deadline of ordinary calls.
    pub call_deadline: Duration,
    /// Deadline of `deadline-enforced`.
    pub stop_deadline: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            expect_id: None,
            expect_version: None,
            config: BTreeMap::new(),
            secrets: BTreeMap::new(),
            reveal: false,
            http_allow: Vec::new(),
            call: None,
            secret_calls: None,
            call_deadline: Duration::from_secs(10),
            stop_deadline: Duration::from_millis(200),
        }
    }
}

impl Options {
    /// Options from a project manifest: expected id and version, granted origins and
    /// `reveal`, and dummy values for the declared secrets.
    pub fn from_manifest(m: &crate::project::ProjectManifest) -> Self {
        let mut o = Options {
            expect_id: Some(m.id.clone()),
            expect_version: Some(m.version.clone()),
            reveal: m.capabilities.reveal,
            http_allow: m.capabilities.http.clone(),
            ..Options::default()
        };
        for name in &m.capabilities.secrets {
            o.secrets.insert(name.clone(), dummy_secret(name));
        }
        o
    }
}

/// A placeholder secret value for a declared name.
pub fn dummy_secret(name: &str) -> SecretValue {
    SecretValue {
        name: name.to_owned(),
        bytes: zeroize::Zeroizing::new(format!("conformance-{name}").into_bytes()),
        public_part: None,
    }
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The plugin did what the world requires.
    Pass,
    /// It did not; the reason says what happened.
    Fail,
    /// The check does not apply to the world.
    Skip,
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The check's name (`describe-stable`, ...).
    pub name: &'static str,
    /// Pass, fail or skip.
    pub status: Status,
    /// What happened, in a sentence.
    pub reason: String,
}

/// The suite's result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The world checked.
    pub kind: Kind,
    /// One row per check, in the suite's order.
    pub rows: Vec<Row>,
}

impl Report {
    /// Whether no check failed.
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.status != Status::Fail)
    }

    /// The row of `name`.
    pub fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.name == name)
    }

    /// A table for people.
    pub fn render(&self) -> String {
        let mut out = format!("conformance of a {} plugin\n", self.kind);
        for r in &self.rows {
            let status = match r.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            let _ = writeln!(out, "  {status}  {:26} {}", r.name, r.reason);
        }
        let failed = self
            .rows
            .iter()
            .filter(|r| r.status == Status::Fail)
            .count();
        let passed = self
            .rows
            .iter()
            .filter(|r| r.status == Status::Pass)
            .count();
        let _ = writeln!(out, "{passed} passed, {failed} failed");
        out
    }
}

/// The names of the checks, in order.
pub const CHECKS: [&str; 9] = [
    "describe-stable",
    "call-returns",
    "errors-are-plugin-errors",
    "host-denied",
    "memory-contained",
    "deadline-enforced",
    "fuel-enforced",
    "output-capped",
    "no-reveal-for-send",
];

/// The secret value `no-reveal-for-send` hands the plugin: distinctive, so finding it in the
/// remote's input means the plugin wrote it there itself.
const PROBE_SECRET: &str = "Pc-conformance-9d41f7-Secret";

/// Most dialogue paths `no-reveal-for-send` tries per call.
const PROBE_RUNS: usize = 24;

/// The target of automation checks.
pub fn conformance_target() -> Target {
    Target {
        asset_id: "asset-1".into(),
        account_id: Some("account-1".into()),
        protocol: Protocol::Ssh,
    }
}

/// The world's default main call.
pub fn default_call(kind: Kind) -> Call {
    match kind {
        Kind::PlatformAutomation => Call::Ping {
            target: conformance_target(),
            params: "{}".into(),
        },
        Kind::CloudConnector => Call::TestConnection,
        Kind::AuthProvider => Call::Complete(CompleteRequest {
            params: vec![("code".into(), "conformance".into())],
            stash: String::new(),
            callback_url: "https://bastion.example.com/callback".into(),
        }),
        Kind::Autofill => Call::Plan(login_page()),
    }
}

fn login_page() -> Page {
    let field = |selector: &str, kind: &str, name: &str| Field {
        selector: selector.into(),
        tag: "input".into(),
        kind: kind.into(),
        name: name.into(),
        id: name.into(),
        placeholder: String::new(),
        label: name.into(),
    };
    Page {
        url: "https://app.example.com/login".into(),
        title: "Sign in".into(),
        fields: vec![
            field("#username", "text", "username"),
            field("#password", "password", "password"),
            Field {
                tag: "button".into(),
                ..field("#submit", "submit", "submit")
            },
        ],
    }
}

/// The remote/HTTP side of a check.
enum World {
    /// Every command exits 0 with this much stdout; every request answers 200 with this body.
    Benign { output: usize },
    /// The target refuses the login; every request answers 500.
    Refusing,
    /// Nothing ever answers.
    Silent,
}

struct Suite<'a> {
    component: &'a Component,
    options: &'a Options,
    kind: Kind,
    call: Call,
    n: u32,
}

impl Suite<'_> {
    fn fakes(&self, world: &World) -> Fakes {
        let secrets: Vec<(String, Vec<u8>)> = self
            .options
            .secrets
            .values()
            .map(|s| (s.name.clone(), s.bytes.to_vec()))
            .collect();
        let (transcript, fixture) = match world {
            World::Benign { output } => (
                Transcript::any_command(RunReply::Output(CommandOutput {
                    exit_code: Some(0),
                    stdout: vec![b'x'; *output],
                    stderr: Vec::new(),
                })),
                Fixture::response(
                    "*",
                    "*",
                    200,
                    // Valid JSON for ordinary calls; a big body of junk for the cap check.
                    if *output == 0 {
                        b"{}".to_vec()
                    } else {
                        vec![b'x'; *output]
                    },
                ),
            ),
            World::Refusing => (
                Transcript::open_fails(
                    OpenOutcome::Fail(PluginError::Unauthorized(
                        "Permission denied (publickey,password)".into(),
                    )),
                    8,
                ),
                Fixture::response(
                    "*",
                    "*",
                    500,
                    b"{\"error\":\"internal server error\"}".to_vec(),
                ),
            ),
            World::Silent => (
                Transcript::open_fails(OpenOutcome::Hang, 8),
                Fixture {
                    method: "*".into(),
                    url: "*".into(),
                    request_body: None,
                    reply: Reply::Hang,
                },
            ),
        };
        Fakes {
            sink: RecordingSink::new(),
            remote: ScriptedRemote::new(transcript, secrets.clone()),
            http: FixtureHttp::new(vec![fixture], secrets),
        }
    }

    fn setup(&self) -> CallSetup {
        let mut s = CallSetup::new(self.kind);
        s.plugin_id = self
            .options
            .expect_id
            .clone()
            .unwrap_or_else(|| "plugin".into());
        s.plugin_version = self
            .options
            .expect_version
            .clone()
            .unwrap_or_else(|| "0.0.0".into());
        s.limits.deadline = self.options.call_deadline;
        s.config = self.options.config.clone();
        s.secrets = self.options.secrets.clone();
        s.reveal = self.options.reveal;
        s.fuel = None;
        if self.kind.has_http() {
            s.http_allow = Some(self.options.http_allow.clone());
        }
        if self.kind.has_remote() {
            s.remote_allowed = Some(
                crate::case::call_target(&self.call)
                    .into_iter()
                    .cloned()
                    .collect(),
            );
        }
        s
    }

    async fn run(&mut self, setup: &CallSetup, fakes: &Fakes, call: Call) -> CallOutcome {
        self.n += 1;
        crate::runner::call(
            self.component,
            setup,
            fakes,
            &format!("conformance-{}", self.n),
            call,
        )
        .await
    }

    /// Whether the plugin reached for its target or an HTTP host.
    fn tried_io(&self, fakes: &Fakes) -> bool {
        if self.kind.has_remote() {
            fakes
                .remote
                .records()
                .iter()
                .any(|r| r.starts_with("open "))
        } else {
            fakes.http.request_count() > 0
        }
    }

    fn io_word(&self) -> &'static str {
        if self.kind.has_remote() {
            "open its target"
        } else {
            "send a request"
        }
    }
}

fn answered(result: &Result<Output, InvokeError>) -> bool {
    matches!(result, Ok(_) | Err(InvokeError::Plugin(_)))
}

fn show(result: &Result<Output, InvokeError>) -> String {
    match result {
        Ok(Output::Done) => "ok".into(),
        Ok(out) => {
            let v = serde_json::to_value(out).unwrap_or_default();
            let text = v.to_string();
            if text.len() > 120 {
                format!("ok {}…", &text[..text.floor_char_boundary(120)])
            } else {
                format!("ok {text}")
            }
        }
        Err(InvokeError::Trap(t)) => format!("trap: {}", clip(&trap_cause(t))),
        Err(e) => format!("{} ({})", e.code(), clip(&e.to_string())),
    }
}

/// At most 160 characters of `text` (error messages may quote a whole command output).
fn clip(text: &str) -> String {
    if text.len() <= 160 {
        text.to_owned()
    } else {
        format!("{}…", &text[..text.floor_char_boundary(160)])
    }
}

/// The line of a wasmtime trap report that says what happened (after "Caused by:").
pub fn trap_cause(text: &str) -> String {
    let tail = text.split_once("Caused by:").map_or(text, |(_, t)| t);
    tail.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_owned()
}

fn row(name: &'static str, pass: bool, reason: String) -> Row {
    Row {
        name,
        status: if pass { Status::Pass } else { Status::Fail },
        reason,
    }
}

fn skip(name: &'static str, reason: &str) -> Row {
    Row {
        name,
        status: Status::Skip,
        reason: reason.to_owned(),
    }
}

/// Runs the suite on `component`.
pub async fn run(component: &Component, options: &Options) -> Report {
    let kind = component.kind;
    let mut suite = Suite {
        component,
        options,
        kind,
        call: options.call.clone().unwrap_or_else(|| default_call(kind)),
        n: 0,
    };
    let mut rows = Vec::new();

    // describe-stable
    let base = suite.setup();
    let fakes = suite.fakes(&World::Benign { output: 0 });
    let first = suite.run(&base, &fakes, Call::Describe).await;
    let second = suite.run(&base, &fakes, Call::Describe).await;
    let info = match &first.result {
        Ok(Output::Info(i)) => Some(i.clone()),
        _ => None,
    };
    rows.push(match (&first.result, &second.result, &info) {
        (Ok(a), Ok(b), Some(i)) if a == b => {
            let mut wrong = Vec::new();
            if let Some(id) = &options.expect_id
                && &i.id != id
            {
                wrong.push(format!("id {:?} is not the manifest's {id:?}", i.id));
            }
            if let Some(v) = &options.expect_version
                && &i.version != v
            {
                wrong.push(format!(
                    "version {:?} is not the manifest's {v:?}",
                    i.version
                ));
            }
            if i.id.is_empty() || i.version.is_empty() {
                wrong.push("id and version must not be empty".into());
            }
            if wrong.is_empty() {
                row(
                    "describe-stable",
                    true,
                    format!(
                        "{} {} ({}), twice the same",
                        i.id, i.version, i.display_name
                    ),
                )
            } else {
                row("describe-stable", false, wrong.join("; "))
            }
        }
        (Ok(_), Ok(_), Some(_)) => row(
            "describe-stable",
            false,
            "two calls gave different answers: describe must be constant".into(),
        ),
        (a, b, _) => row(
            "describe-stable",
            false,
            format!("describe failed: {} / {}", show(a), show(b)),
        ),
    });
    let peak_describe = first.stats.peak_memory;

    // call-returns
    let fakes = suite.fakes(&World::Benign { output: 0 });
    let normal = suite.run(&base, &fakes, suite.call.clone()).await;
    let normal_fuel = normal.stats.fuel_consumed;
    rows.push(row(
        "call-returns",
        answered(&normal.result),
        format!(
            "{}: {} (fuel {}, peak memory {} KiB of {} KiB, {} ms)",
            suite.call.name(),
            show(&normal.result),
            crate::golden::human(normal_fuel),
            normal.stats.peak_memory / 1024,
            base.limits.memory_bytes / 1024,
            normal.stats.duration.as_millis()
        ),
    ));

    // errors-are-plugin-errors
    let fakes = suite.fakes(&World::Refusing);
    let refused = suite.run(&base, &fakes, suite.call.clone()).await;
    let tried_refused = suite.tried_io(&fakes);
    rows.push(match kind {
        Kind::Autofill => {
            let empty = Call::Plan(Page {
                url: "https://app.example.com/".into(),
                title: String::new(),
                fields: Vec::new(),
            });
            let out = suite.run(&base, &fakes, empty).await;
            row(
                "errors-are-plugin-errors",
                answered(&out.result),
                format!("plan of a page without fields: {}", show(&out.result)),
            )
        }
        _ => {
            let what = if kind.has_remote() {
                "the target refused the login"
            } else {
                "every request answered HTTP 500"
            };
            let ok_code = |e: &PluginError| match kind {
                Kind::PlatformAutomation => !matches!(e, PluginError::InvalidInput(_)),
                Kind::AuthProvider => matches!(
                    e,
                    PluginError::Unavailable(_)
                        | PluginError::Internal(_)
                        | PluginError::Unauthorized(_)
                ),
                _ => matches!(e, PluginError::Unavailable(_) | PluginError::Internal(_)),
            };
            match &refused.result {
                r if !answered(r) => row(
                    "errors-are-plugin-errors",
                    false,
                    format!("{what}: expected a plugin-error, got {}", show(r)),
                ),
                _ if !tried_refused => row(
                    "errors-are-plugin-errors",
                    false,
                    format!(
                        "{what}, but the call did not {} ({}); is its configuration complete?",
                        suite.io_word(),
                        show(&refused.result)
                    ),
                ),
                Err(InvokeError::Plugin(e)) if ok_code(e) => row(
                    "errors-are-plugin-errors",
                    true,
                    format!("{what}: {} ({e})", e.code()),
                ),
                Err(InvokeError::Plugin(e)) => row(
                    "errors-are-plugin-errors",
                    false,
                    format!(
                        "{what}: answered {} ({e}), which misnames the cause",
                        e.code()
                    ),
                ),
                other => row(
                    "errors-are-plugin-errors",
                    false,
                    format!("{what}: expected a plugin-error, got {}", show(other)),
                ),
            }
        }
    });

    // host-denied
    rows.push(if kind == Kind::Autofill {
        skip(
            "host-denied",
            "the autofill world has no network and no remote",
        )
    } else {
        let mut setup = base.clone();
        if kind.has_remote() {
            setup.remote_allowed = Some(vec![Target {
                asset_id: "asset-other".into(),
                account_id: None,
                protocol: Protocol::Ssh,
            }]);
        } else {
            setup.http_allow = Some(Vec::new());
        }
        let fakes = suite.fakes(&World::Benign { output: 0 });
        let out = suite.run(&setup, &fakes, suite.call.clone()).await;
        let reached = if kind.has_remote() {
            fakes.remote.records().len()
        } else {
            fakes.http.request_count()
        };
        let what = if kind.has_remote() {
            "the grant excludes the target"
        } else {
            "no host is granted"
        };
        match &out.result {
            _ if reached > 0 => row(
                "host-denied",
                false,
                format!("{what}, yet the fake was reached ({reached} times)"),
            ),
            r if !answered(r) => row(
                "host-denied",
                false,
                format!("{what}: expected an error, got {}", show(r)),
            ),
            _ if !tried_refused => row(
                "host-denied",
                false,
                format!(
                    "the call does not {} even when allowed, so denial cannot be checked ({})",
                    suite.io_word(),
                    show(&out.result)
                ),
            ),
            Err(InvokeError::Plugin(e)) => row(
                "host-denied",
                true,
                format!("{what}: {} ({e}); nothing reached the fake", e.code()),
            ),
            other => row(
                "host-denied",
                false,
                format!("{what}: expected an error, got {}", show(other)),
            ),
        }
    });

    // memory-contained
    {
        let limit = (peak_describe / 2).max(64 * 1024);
        let mut small = base.clone();
        small.limits.memory_bytes = limit;
        let fakes = suite.fakes(&World::Benign { output: 0 });
        let bomb = suite.run(&small, &fakes, Call::Describe).await;
        let after = suite.run(&base, &fakes, Call::Describe).await;
        let same = matches!((&after.result, &info), (Ok(Output::Info(a)), Some(b)) if a == b);
        rows.push(match &bomb.result {
            _ if peak_describe == 0 => row(
                "memory-contained",
                false,
                "describe did not run, so its memory could not be measured".into(),
            ),
            Err(InvokeError::MemoryLimit { .. }) if same => row(
                "memory-contained",
                true,
                format!(
                    "limit {} KiB (half its peak of {} KiB): memory_limit; the next call works",
                    limit / 1024,
                    peak_describe / 1024
                ),
            ),
            Err(InvokeError::MemoryLimit { .. }) => row(
                "memory-contained",
                false,
                format!(
                    "the call after the memory stop failed: {}",
                    show(&after.result)
                ),
            ),
            other => row(
                "memory-contained",
                false,
                format!(
                    "limit {} KiB (half its peak of {} KiB): expected memory_limit, got {}",
                    limit / 1024,
                    peak_describe / 1024,
                    show(other)
                ),
            ),
        });
    }

    // deadline-enforced
    rows.push(if kind == Kind::Autofill {
        skip(
            "deadline-enforced",
            "no I/O to wait on in the autofill world (fuel-enforced stops its CPU)",
        )
    } else {
        let deadline = options.stop_deadline;
        let mut setup = base.clone();
        setup.limits.deadline = deadline;
        let fakes = suite.fakes(&World::Silent);
        let started = Instant::now();
        let out = suite.run(&setup, &fakes, suite.call.clone()).await;
        let took = started.elapsed();
        let in_time = took <= deadline * 3;
        let tried = suite.tried_io(&fakes);
        let took_ms = took.as_millis();
        match &out.result {
            _ if !in_time => row(
                "deadline-enforced",
                false,
                format!(
                    "deadline {} ms, but the call took {took_ms} ms ({})",
                    deadline.as_millis(),
                    show(&out.result)
                ),
            ),
            Err(InvokeError::Deadline(_)) => row(
                "deadline-enforced",
                true,
                format!(
                    "the {} side never answered: deadline after {took_ms} ms",
                    if kind.has_remote() { "remote" } else { "HTTP" }
                ),
            ),
            r if !answered(r) => row(
                "deadline-enforced",
                false,
                format!("expected deadline, got {} after {took_ms} ms", show(r)),
            ),
            Err(InvokeError::Plugin(e)) if tried => row(
                "deadline-enforced",
                true,
                format!(
                    "the plugin's own timeout ended it after {took_ms} ms: {} ({e})",
                    e.code()
                ),
            ),
            other if !tried => row(
                "deadline-enforced",
                false,
                format!("the call did not {} ({})", suite.io_word(), show(other)),
            ),
            other => row(
                "deadline-enforced",
                false,
                format!(
                    "nothing ever answered, yet the call ended with {} after {took_ms} ms",
                    show(other)
                ),
            ),
        }
    });

    // fuel-enforced
    {
        let budget = normal_fuel / 2;
        let mut setup = base.clone();
        setup.fuel = Some(budget);
        let fakes = suite.fakes(&World::Benign { output: 0 });
        let out = suite.run(&setup, &fakes, suite.call.clone()).await;
        rows.push(match &out.result {
            _ if budget == 0 => row(
                "fuel-enforced",
                false,
                "the main call burned no fuel, so no budget can be set".into(),
            ),
            Err(InvokeError::Fuel(_)) => row(
                "fuel-enforced",
                true,
                format!(
                    "budget {} (half of {}): stopped with fuel",
                    crate::golden::human(budget),
                    crate::golden::human(normal_fuel)
                ),
            ),
            other => row(
                "fuel-enforced",
                false,
                format!(
                    "budget {} (half of {}): expected fuel, got {}",
                    crate::golden::human(budget),
                    crate::golden::human(normal_fuel),
                    show(other)
                ),
            ),
        });
    }

    // output-capped
    rows.push(if kind == Kind::Autofill {
        skip(
            "output-capped",
            "the autofill world has no remote output or HTTP responses",
        )
    } else {
        const QUOTA: u64 = 64 * 1024;
        let mut setup = base.clone();
        if kind.has_remote() {
            setup.limits.remote_output_bytes = QUOTA;
        } else {
            setup.limits.http_response_bytes = QUOTA;
        }
        let size = usize::try_from(QUOTA * 4).unwrap_or(usize::MAX);
        let fakes = suite.fakes(&World::Benign { output: size });
        let out = suite.run(&setup, &fakes, suite.call.clone()).await;
        let capped = fakes.sink.capped();
        let what = if kind.has_remote() {
            "every command printed 256 KiB over a 64 KiB output quota"
        } else {
            "every response was 256 KiB over a 64 KiB response budget"
        };
        match &out.result {
            r if answered(r) && !capped.is_empty() => row(
                "output-capped",
                true,
                format!("{what}: {} and capped ({})", show(r), capped[0]),
            ),
            r if answered(r) && !suite.tried_io(&fakes) => row(
                "output-capped",
                false,
                format!(
                    "{what}, but the call did not {} ({})",
                    suite.io_word(),
                    show(r)
                ),
            ),
            r if answered(r) => row(
                "output-capped",
                false,
                format!(
                    "{what}: {} but no cap was recorded (did it read any output?)",
                    show(r)
                ),
            ),
            other => row("output-capped", false, format!("{what}: {}", show(other))),
        }
    });

    // no-reveal-for-send
    rows.push(if kind.has_remote() {
        no_reveal_for_send(&mut suite, &base).await
    } else {
        skip(
            "no-reveal-for-send",
            "no remote sessions in this world, so nothing to send a secret to",
        )
    });

    Report { kind, rows }
}

/// The calls that hand an automation plugin a secret to put on the target.
pub fn default_secret_calls() -> Vec<Call> {
    let account = || Account {
        username: "conformance".into(),
        secret_kind: SecretKind::Password,
    };
    let secret = || SecretValue {
        name: "new_secret".into(),
        bytes: zeroize::Zeroizing::new(PROBE_SECRET.as_bytes().to_vec()),
        public_part: None,
    };
    vec![
        Call::ChangeSecret {
            target: conformance_target(),
            account: account(),
            new_secret: secret(),
            params: "{}".into(),
        },
        Call::PushAccount {
            target: conformance_target(),
            account: account(),
            secret: secret(),
            options: PushOptions::default(),
            params: "{}".into(),
        },
    ]
}

/// The secret a call hands the plugin.
fn handed_secret(call: &Call) -> Option<&SecretValue> {
    match call {
        Call::ChangeSecret { new_secret, .. } => Some(new_secret),
        Call::PushAccount { secret, .. } => Some(secret),
        _ => None,
    }
}

/// Where the secret's bytes appear in clear in the runtime's audit of remote I/O (which
/// shows `send-secret` as `<secret:NAME>`, and `run`/`send` as the plugin wrote them).
fn written_in_clear(events: &[Event], secret: &[u8]) -> Option<&'static str> {
    let has = |text: &str| text.as_bytes().windows(secret.len()).any(|w| w == secret);
    events.iter().find_map(|e| match e {
        Event::RemoteCommand { command, .. } if has(command) => Some("a command line (`run`)"),
        Event::RemoteSend { data } if has(data) => Some("`send`"),
        _ => None,
    })
}

/// `no-reveal-for-send`: drives each secret-handing call through the dialogues a
/// [`ProbeRemote`] can play, and fails a plugin that writes the secret's bytes to the remote
/// itself (it revealed them to do so) where `send-secret` would have done.
async fn no_reveal_for_send(suite: &mut Suite<'_>, base: &CallSetup) -> Row {
    const NAME: &str = "no-reveal-for-send";
    let calls = suite
        .options
        .secret_calls
        .clone()
        .unwrap_or_else(default_secret_calls);
    let mut notes = Vec::new();
    for call in calls {
        let Some(secret) = handed_secret(&call).cloned() else {
            notes.push(format!("{} hands no secret: not checked", call.name()));
            continue;
        };
        let mut setup = base.clone();
        setup.remote_allowed = Some(
            crate::case::call_target(&call)
                .into_iter()
                .cloned()
                .collect(),
        );
        // Whatever the manifest says, reveal is granted here: the check is about what a
        // plugin that may reveal does with the bytes.
        setup.reveal = true;
        let mut path = Vec::new();
        let mut runs = 0;
        let mut sent_safely = false;
        let mut revealed = false;
        let mut last;
        loop {
            runs += 1;
            suite.n += 1;
            let probe = ProbeRemote::new(path.clone());
            let fakes = suite.fakes(&World::Benign { output: 0 });
            let mut inv = setup.invocation(&format!("conformance-{}", suite.n), &fakes);
            if let Some(grant) = inv.remote.as_mut() {
                grant.provider = Arc::new(probe.clone());
            }
            let (result, _) = suite
                .component
                .plugin
                .call_with_stats(inv, call.clone())
                .await;
            last = show(&result);
            let events = fakes.sink.events();
            revealed |= !fakes.sink.reveals().is_empty();
            if let Some(channel) = written_in_clear(&events, &secret.bytes) {
                return row(
                    NAME,
                    false,
                    format!(
                        "{} revealed the secret `{}` and wrote its bytes to the remote through \
                         {channel}, where they sit in the audit in clear; use `send-secret`, \
                         which types a secret into the remote without the plugin ever holding it",
                        call.name(),
                        secret.name
                    ),
                );
            }
            if probe.received(&secret.bytes) {
                sent_safely = true;
                break;
            }
            match next_path(&probe.taken()) {
                Some(p) if runs < PROBE_RUNS => path = p,
                _ => break,
            }
        }
        notes.push(match (sent_safely, revealed) {
            (true, _) => format!(
                "{}: the secret reached the remote through send-secret only",
                call.name()
            ),
            (false, true) => format!(
                "{}: revealed the secret but never sent it in {runs} dialogue(s) ({})",
                call.name(),
                clip(&last)
            ),
            (false, false) => format!(
                "{}: never sent the secret in {runs} dialogue(s) ({})",
                call.name(),
                clip(&last)
            ),
        });
    }
    row(NAME, true, notes.join("; "))
}
