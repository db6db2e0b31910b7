//! Native test doubles for the host: [`ScriptedHost`] and [`ScriptedSession`] (native only).
//!
//! They let plugin authors unit-test their logic with `cargo test`, no engine needed. A
//! [`ScriptedSession`] is a script of what the remote side does, in order: the commands the
//! plugin must run (with their output), what the interactive shell prints, and the bytes and
//! secrets the plugin must send. A call that does not follow the script panics with a message
//! naming the expected and the actual call, which fails the test. Everything the plugin does
//! is recorded ([`Event`]); secrets are recorded by name, never by value, as the real host
//! audits them.
//!
//! ```
//! use std::time::Duration;
//! use portcullis_plugin_sdk::testing::{ScriptedHost, ScriptedSession};
//! use portcullis_plugin_sdk::{CommandOutput, RemoteHost, Target};
//!
//! let host = ScriptedHost::new()
//!     .session(ScriptedSession::new().run("echo ok", CommandOutput::success("ok\n")));
//! let mut s = host.open(&Target::ssh("a1"), Duration::from_secs(5)).unwrap();
//! assert_eq!(s.run("echo ok", Duration::from_secs(5)).unwrap().stdout, b"ok\n");
//! host.assert_finished();
//! assert_eq!(host.commands(), ["echo ok"]);
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use crate::http::{Method, Request, Response};
use crate::{
    CommandOutput, Error, ExpectMatch, Host, HttpHost, LogLevel, RemoteHost, Secret, SecretRef,
    SecretsHost, Session, Target,
};

/// The native stand-in for a secret handle: a name, the bytes (for `reveal` only) and an
/// optional public part.
#[derive(Clone, PartialEq, Eq)]
pub struct FakeSecret {
    name: String,
    value: Vec<u8>,
    public_part: Option<String>,
}

impl FakeSecret {
    pub(crate) fn name(&self) -> String {
        self.name.clone()
    }

    pub(crate) fn public_part(&self) -> Option<String> {
        self.public_part.clone()
    }
}

/// A password-like secret named `name` holding `value`.
pub fn secret(name: &str, value: &str) -> Secret {
    Secret(FakeSecret {
        name: name.to_owned(),
        value: value.as_bytes().to_vec(),
        public_part: None,
    })
}

/// A key-pair secret: the private key `value` and its public half (an OpenSSH public key
/// line), as the host hands an SSH key.
pub fn key_secret(name: &str, value: &str, public_part: &str) -> Secret {
    Secret(FakeSecret {
        name: name.to_owned(),
        value: value.as_bytes().to_vec(),
        public_part: Some(public_part.to_owned()),
    })
}

/// The bytes of a native secret handle, for host doubles of your own that must really send
/// a secret somewhere (a local pty, say). Plugin code cannot call this: it is native-only.
pub fn secret_bytes(secret: SecretRef<'_>) -> Vec<u8> {
    secret.0.value.clone()
}

/// One thing the plugin did, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `Session::run(command)`.
    Run(String),
    /// `Session::send(bytes)`.
    Send(Vec<u8>),
    /// `Session::send_secret`: the secret's name, and whether a newline followed.
    SendSecret { name: String, newline: bool },
    /// `Session::expect(patterns)` and the index that matched (`None`: it timed out).
    Expect {
        patterns: Vec<String>,
        matched: Option<u32>,
    },
}

/// One logged line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

/// What a command must look like to match a scripted step.
#[derive(Debug, Clone)]
enum CommandMatch {
    Exact(String),
    Contains(String),
}

impl CommandMatch {
    fn matches(&self, command: &str) -> bool {
        match self {
            CommandMatch::Exact(s) => command == s,
            CommandMatch::Contains(s) => command.contains(s.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Run(CommandMatch, Result<CommandOutput, Error>),
    Prints(String),
    Send(Vec<u8>),
    SendSecret(String),
    ExpectFails(Error),
}

/// The script of one session; hand it to [`ScriptedHost::session`].
#[derive(Debug, Clone, Default)]
pub struct ScriptedSession {
    steps: VecDeque<Step>,
}

impl ScriptedSession {
    /// An empty script: any call on the session panics.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next command must be exactly `command`; it answers `output`.
    pub fn run(self, command: &str, output: CommandOutput) -> Self {
        self.step(Step::Run(
            CommandMatch::Exact(command.to_owned()),
            Ok(output),
        ))
    }

    /// The next command must contain `fragment` (for long generated scripts); it answers
    /// `output`. Check the full text with [`ScriptedHost::commands`].
    pub fn run_containing(self, fragment: &str, output: CommandOutput) -> Self {
        self.step(Step::Run(
            CommandMatch::Contains(fragment.to_owned()),
            Ok(output),
        ))
    }

    /// The next command must be exactly `command`; the host answers `error`.
    pub fn run_fails(self, command: &str, error: Error) -> Self {
        self.step(Step::Run(
            CommandMatch::Exact(command.to_owned()),
            Err(error),
        ))
    }

    /// The next command must contain `fragment`; the host answers `error`.
    pub fn run_containing_fails(self, fragment: &str, error: Error) -> Self {
        self.step(Step::Run(
            CommandMatch::Contains(fragment.to_owned()),
            Err(error),
        ))
    }

    /// The interactive shell prints `text` (seen by the following `expect`s).
    pub fn prints(self, text: &str) -> Self {
        self.step(Step::Prints(text.to_owned()))
    }

    /// The plugin must send exactly `data` next.
    pub fn sends(self, data: &[u8]) -> Self {
        self.step(Step::Send(data.to_vec()))
    }

    /// The plugin must send `line` and a newline next.
    pub fn sends_line(self, line: &str) -> Self {
        let mut data = line.as_bytes().to_vec();
        data.push(b'\n');
        self.sends(&data)
    }

    /// The plugin must send the secret named `name` next (with or without newline).
    pub fn sends_secret(self, name: &str) -> Self {
        self.step(Step::SendSecret(name.to_owned()))
    }

    /// The next `expect` fails with `error` (`Unavailable` for a closed shell, say).
    pub fn expect_fails(self, error: Error) -> Self {
        self.step(Step::ExpectFails(error))
    }

    fn step(mut self, step: Step) -> Self {
        self.steps.push_back(step);
        self
    }
}

/// The state one session shares with the host, so the host can report after the plugin
/// dropped its session.
#[derive(Debug, Default)]
struct SessionState {
    steps: VecDeque<Step>,
    /// Printed text not yet consumed by a match.
    screen: String,
    events: Vec<Event>,
}

/// What [`ScriptedHost::open`] hands out.
struct LiveSession {
    target: Target,
    state: Rc<RefCell<SessionState>>,
}

impl LiveSession {
    /// Moves every leading `Prints` step onto the screen: text the remote printed before
    /// the plugin's next action (type-ahead is allowed, as on a real terminal).
    fn absorb_prints(state: &mut SessionState) {
        while let Some(Step::Prints(text)) = state.steps.front() {
            state.screen.push_str(text);
            state.steps.pop_front();
        }
    }

    fn unexpected(&self, got: &str, next: Option<&Step>) -> ! {
        panic!(
            "scripted session on asset {}: the plugin called {got}, but the script expected {}",
            self.target.asset_id,
            match next {
                None => "nothing more".to_owned(),
                Some(step) => format!("{step:?}"),
            }
        )
    }
}

impl Session for LiveSession {
    fn run(&mut self, command: &str, _timeout: Duration) -> Result<CommandOutput, Error> {
        let mut state = self.state.borrow_mut();
        Self::absorb_prints(&mut state);
        state.events.push(Event::Run(command.to_owned()));
        match state.steps.front() {
            Some(Step::Run(m, _)) if m.matches(command) => match state.steps.pop_front() {
                Some(Step::Run(_, answer)) => answer,
                _ => unreachable!("the front step was a run"),
            },
            next => self.unexpected(&format!("run({command:?})"), next),
        }
    }

    fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        let mut state = self.state.borrow_mut();
        Self::absorb_prints(&mut state);
        state.events.push(Event::Send(data.to_vec()));
        match state.steps.front() {
            Some(Step::Send(expected)) if expected == data => {
                state.steps.pop_front();
                Ok(())
            }
            next => self.unexpected(&format!("send({:?})", String::from_utf8_lossy(data)), next),
        }
    }

    fn send_secret(&mut self, secret: SecretRef<'_>, newline: bool) -> Result<(), Error> {
        let mut state = self.state.borrow_mut();
        Self::absorb_prints(&mut state);
        let name = secret.name();
        state.events.push(Event::SendSecret {
            name: name.clone(),
            newline,
        });
        match state.steps.front() {
            Some(Step::SendSecret(expected)) if *expected == name => {
                state.steps.pop_front();
                Ok(())
            }
            next => self.unexpected(&format!("send_secret({name:?})"), next),
        }
    }

    fn expect(&mut self, patterns: &[&str], _timeout: Duration) -> Result<ExpectMatch, Error> {
        let mut state = self.state.borrow_mut();
        Self::absorb_prints(&mut state);
        let patterns_owned: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        if let Some(Step::ExpectFails(_)) = state.steps.front() {
            let Some(Step::ExpectFails(error)) = state.steps.pop_front() else {
                unreachable!("the front step was an expect failure")
            };
            state.events.push(Event::Expect {
                patterns: patterns_owned,
                matched: None,
            });
            return Err(error);
        }
        // Like the host: the earliest match in the text read so far wins; on a tie, the
        // pattern listed first.
        let mut best: Option<(usize, usize, u32)> = None;
        for (index, pattern) in patterns.iter().enumerate() {
            let regex = regex::Regex::new(pattern)
                .map_err(|e| Error::invalid_input(format!("bad pattern {pattern:?}: {e}")))?;
            if let Some(m) = regex.find(&state.screen) {
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                if best.is_none_or(|(start, _, _)| m.start() < start) {
                    best = Some((m.start(), m.end(), index));
                }
            }
        }
        state.events.push(Event::Expect {
            patterns: patterns_owned,
            matched: best.map(|(_, _, i)| i),
        });
        match best {
            Some((_, end, index)) => {
                let output: String = state.screen.drain(..end).collect();
                Ok(ExpectMatch {
                    index,
                    output: output.into_bytes(),
                })
            }
            None => Err(Error::Timeout),
        }
    }
}

/// An HTTP fixture: answers the first request with this method and URL.
struct Fixture {
    method: Method,
    url: String,
    response: Result<Response, Error>,
    used: bool,
}

/// A scripted host for native unit tests of plugin logic. Configure it with the builder
/// methods, pass `&host` where the plugin wants `&dyn RemoteHost`/`&dyn HttpHost`/`&dyn Host`,
/// then inspect what the plugin did.
#[derive(Default)]
pub struct ScriptedHost {
    config: BTreeMap<String, String>,
    secrets: BTreeMap<String, FakeSecret>,
    reveal_denied: bool,
    sessions: RefCell<VecDeque<Result<ScriptedSession, Error>>>,
    opened: RefCell<Vec<(Target, Rc<RefCell<SessionState>>)>>,
    fixtures: RefCell<Vec<Fixture>>,
    requests: RefCell<Vec<Request>>,
    logs: RefCell<Vec<LogLine>>,
    reveals: RefCell<Vec<String>>,
}

impl ScriptedHost {
    /// A host with no configuration, secrets, sessions or fixtures.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets configuration `key` to `value`.
    pub fn with_config(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Binds the manifest secret `name` (made with [`secret`] or [`key_secret`]; the
    /// handle's own name is replaced by `name`).
    pub fn with_secret(mut self, name: &str, secret: Secret) -> Self {
        let mut fake = secret.0;
        fake.name = name.to_owned();
        self.secrets.insert(name.to_owned(), fake);
        self
    }

    /// Makes every `reveal` fail with `Denied`, as without the administrator's grant.
    pub fn deny_reveal(mut self) -> Self {
        self.reveal_denied = true;
        self
    }

    /// The next `open` (in order) logs in and follows `script`.
    pub fn session(self, script: ScriptedSession) -> Self {
        self.sessions.borrow_mut().push_back(Ok(script));
        self
    }

    /// The next `open` (in order) fails with `error` (`Unauthorized` for a wrong secret).
    pub fn open_fails(self, error: Error) -> Self {
        self.sessions.borrow_mut().push_back(Err(error));
        self
    }

    /// Answers the first `method url` request with `response`; unknown requests are
    /// `Denied`, as a host outside the allowlist.
    pub fn http(self, method: Method, url: &str, response: Response) -> Self {
        self.push_fixture(method, url, Ok(response))
    }

    /// Answers the first `method url` request with `error` (a `Timeout`, say).
    pub fn http_fails(self, method: Method, url: &str, error: Error) -> Self {
        self.push_fixture(method, url, Err(error))
    }

    fn push_fixture(self, method: Method, url: &str, response: Result<Response, Error>) -> Self {
        self.fixtures.borrow_mut().push(Fixture {
            method,
            url: url.to_owned(),
            response,
            used: false,
        });
        self
    }

    /// The targets opened, in order (failed opens included).
    pub fn opened(&self) -> Vec<Target> {
        self.opened
            .borrow()
            .iter()
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Everything done on the `n`th opened session (0-based), in order.
    pub fn transcript(&self, n: usize) -> Vec<Event> {
        self.opened
            .borrow()
            .get(n)
            .map(|(_, s)| s.borrow().events.clone())
            .unwrap_or_default()
    }

    /// Every command run, on every session, in order.
    pub fn commands(&self) -> Vec<String> {
        self.all_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Run(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    /// Everything sent with `send` on every session, concatenated as text; secrets appear
    /// as `<secret:NAME>`, as in the host's audit.
    pub fn sent_text(&self) -> String {
        let mut out = String::new();
        for event in self.all_events() {
            match event {
                Event::Send(data) => out.push_str(&String::from_utf8_lossy(&data)),
                Event::SendSecret { name, newline } => {
                    out.push_str(&format!("<secret:{name}>"));
                    if newline {
                        out.push('\n');
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The HTTP requests sent, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.borrow().clone()
    }

    /// The lines logged, in order.
    pub fn logs(&self) -> Vec<LogLine> {
        self.logs.borrow().clone()
    }

    /// The names of the secrets revealed, in order.
    pub fn reveals(&self) -> Vec<String> {
        self.reveals.borrow().clone()
    }

    /// Panics unless every scripted session was opened and followed to its end.
    pub fn assert_finished(&self) {
        let left = self.sessions.borrow().len();
        assert_eq!(left, 0, "{left} scripted session(s) were never opened");
        for (n, (target, state)) in self.opened.borrow().iter().enumerate() {
            let state = state.borrow();
            let printed_only = state.steps.iter().all(|s| matches!(s, Step::Prints(_)));
            assert!(
                printed_only,
                "session {n} (asset {}) stopped before the end of its script; left: {:?}",
                target.asset_id, state.steps
            );
        }
    }

    fn all_events(&self) -> Vec<Event> {
        self.opened
            .borrow()
            .iter()
            .flat_map(|(_, s)| s.borrow().events.clone())
            .collect()
    }
}

impl Host for ScriptedHost {
    fn log(&self, level: LogLevel, message: &str, fields: &[(&str, &str)]) {
        eprintln!("[plugin {level:?}] {message} {fields:?}");
        self.logs.borrow_mut().push(LogLine {
            level,
            message: message.to_owned(),
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        });
    }

    fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }

    fn config_all(&self) -> Vec<(String, String)> {
        self.config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl SecretsHost for ScriptedHost {
    fn secret(&self, name: &str) -> Result<Secret, Error> {
        self.secrets
            .get(name)
            .cloned()
            .map(Secret)
            .ok_or_else(|| Error::denied(format!("no secret named `{name}` is granted")))
    }

    fn reveal(&self, secret: SecretRef<'_>) -> Result<Vec<u8>, Error> {
        self.reveals.borrow_mut().push(secret.name());
        if self.reveal_denied {
            return Err(Error::denied("reveal is not granted"));
        }
        Ok(secret.0.value.clone())
    }
}

impl RemoteHost for ScriptedHost {
    fn open(&self, target: &Target, _timeout: Duration) -> Result<Box<dyn Session>, Error> {
        let next = self.sessions.borrow_mut().pop_front();
        let script = match next {
            Some(Ok(script)) => script,
            Some(Err(error)) => {
                self.opened
                    .borrow_mut()
                    .push((target.clone(), Rc::default()));
                return Err(error);
            }
            None => panic!(
                "the plugin opened asset {} but no scripted session is left",
                target.asset_id
            ),
        };
        let state = Rc::new(RefCell::new(SessionState {
            steps: script.steps,
            ..SessionState::default()
        }));
        self.opened
            .borrow_mut()
            .push((target.clone(), Rc::clone(&state)));
        Ok(Box::new(LiveSession {
            target: target.clone(),
            state,
        }))
    }
}

impl HttpHost for ScriptedHost {
    fn send(&self, request: &Request) -> Result<Response, Error> {
        self.requests.borrow_mut().push(request.clone());
        crate::http::split_url(&request.url)?;
        let mut fixtures = self.fixtures.borrow_mut();
        let fixture = fixtures
            .iter_mut()
            .find(|f| !f.used && f.method == request.method && f.url == request.url);
        match fixture {
            Some(f) => {
                f.used = true;
                f.response.clone()
            }
            None => Err(Error::denied(format!(
                "no fixture for {} {}",
                request.method.as_str(),
                request.url
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(host: &ScriptedHost) -> Box<dyn Session> {
        host.open(&Target::ssh("a1"), Duration::from_secs(1))
            .expect("scripted session")
    }

    #[test]
    fn runs_follow_the_script_and_are_recorded() {
        let host = ScriptedHost::new().session(
            ScriptedSession::new()
                .run("id -u", CommandOutput::success("0\n"))
                .run_containing("useradd", CommandOutput::failure(9, "exists"))
                .run_fails("true", Error::Timeout),
        );
        let mut s = open(&host);
        let t = Duration::from_secs(1);
        assert_eq!(s.run("id -u", t), Ok(CommandOutput::success("0\n")));
        let out = s.run("sh -c 'useradd bob'", t).expect("scripted");
        assert_eq!(out.exit_code, Some(9));
        assert_eq!(s.run("true", t), Err(Error::Timeout));
        host.assert_finished();
        assert_eq!(host.commands(), ["id -u", "sh -c 'useradd bob'", "true"]);
        assert_eq!(host.opened(), vec![Target::ssh("a1")]);
    }

    #[test]
    #[should_panic(expected = "the script expected")]
    fn an_unscripted_command_panics() {
        let host = ScriptedHost::new()
            .session(ScriptedSession::new().run("a", CommandOutput::success("")));
        let _ = open(&host).run("b", Duration::from_secs(1));
    }

    #[test]
    #[should_panic(expected = "stopped before the end")]
    fn an_unfinished_script_fails_the_check() {
        let host = ScriptedHost::new()
            .session(ScriptedSession::new().run("a", CommandOutput::success("")));
        let _s = open(&host);
        host.assert_finished();
    }

    #[test]
    fn expect_matches_printed_text_and_records_secrets_by_name() {
        let pw = secret("new-secret", "hunter2");
        let host = ScriptedHost::new().session(
            ScriptedSession::new()
                .sends_line("passwd bob")
                .prints("Changing password\nNew password: ")
                .sends_secret("new-secret")
                .prints("Retype new password: ")
                .sends_secret("new-secret")
                .prints("passwd: updated\n__RC:0:"),
        );
        let mut s = open(&host);
        let t = Duration::from_secs(1);
        s.send_line("passwd bob").expect("scripted");
        let m = s
            .expect(&["(?i)current", "(?i)new password:"], t)
            .expect("matches");
        assert_eq!(m.index, 1);
        assert_eq!(m.text(), "Changing password\nNew password:");
        s.send_secret(pw.as_ref(), true).expect("scripted");
        assert_eq!(s.expect(&["(?i)retype"], t).expect("matches").index, 0);
        s.send_secret(pw.as_ref(), true).expect("scripted");
        // The earliest match wins, whatever the order of the patterns.
        let m = s.expect(&[r"__RC:(\d+):", "passwd:"], t).expect("matches");
        assert_eq!(m.index, 1);
        assert_eq!(s.expect(&["nothing"], t), Err(Error::Timeout));
        assert!(matches!(s.expect(&["("], t), Err(Error::InvalidInput(_))));
        host.assert_finished();
        let sent = host.sent_text();
        assert_eq!(
            sent,
            "passwd bob\n<secret:new-secret>\n<secret:new-secret>\n"
        );
        assert!(!sent.contains("hunter2"));
        assert!(host.reveals().is_empty());
    }

    #[test]
    fn open_failures_and_missing_sessions() {
        let host = ScriptedHost::new().open_fails(Error::unauthorized("bad password"));
        let err = host
            .open(&Target::ssh("a1"), Duration::from_secs(1))
            .err()
            .expect("scripted failure");
        assert_eq!(err, Error::Unauthorized("bad password".into()));
        assert_eq!(host.opened().len(), 1);
        host.assert_finished();
    }

    #[test]
    fn secrets_config_and_logs() {
        let host = ScriptedHost::new()
            .with_config("region", "eu")
            .with_secret("token", secret("ignored", "s3cr3t"))
            .with_secret("key", key_secret("k", "PRIVATE", "ssh-ed25519 AAAA k"));
        assert_eq!(host.config("region").as_deref(), Some("eu"));
        assert!(matches!(
            host.require_config("zone"),
            Err(Error::InvalidInput(_))
        ));
        let token = host.secret("token").expect("bound");
        assert_eq!(token.name(), "token");
        assert_eq!(host.reveal_text(token.as_ref()), Ok("s3cr3t".to_owned()));
        assert_eq!(host.reveals(), ["token"]);
        assert_eq!(
            host.secret("key").expect("bound").public_part().as_deref(),
            Some("ssh-ed25519 AAAA k")
        );
        assert!(matches!(host.secret("other"), Err(Error::Denied(_))));
        assert_eq!(format!("{token:?}"), "Secret(\"token\")");
        assert_eq!(secret_bytes(token.as_ref()), b"s3cr3t");
        host.info("hello");
        assert_eq!(host.logs()[0].message, "hello");
        let denied = ScriptedHost::new().deny_reveal();
        assert!(matches!(
            denied.reveal(token.as_ref()),
            Err(Error::Denied(_))
        ));
    }

    #[test]
    fn http_answers_from_fixtures_once() {
        let host = ScriptedHost::new()
            .http(Method::Get, "https://api/x", Response::json_body("[]"))
            .http_fails(Method::Post, "https://api/y", Error::Timeout);
        assert_eq!(host.get("https://api/x", &[]).expect("fixture").status, 200);
        assert!(matches!(
            host.get("https://api/x", &[]),
            Err(Error::Denied(_))
        ));
        assert_eq!(host.post("https://api/y", &[], b"{}"), Err(Error::Timeout));
        assert_eq!(host.requests().len(), 3);
        assert_eq!(host.requests()[2].body, b"{}");
        assert!(matches!(
            host.get("api/x", &[]),
            Err(Error::InvalidInput(_))
        ));
    }
}
