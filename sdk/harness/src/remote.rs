//! [`ScriptedRemote`]: a [`RemoteProvider`] whose sessions replay a [`Transcript`].
//!
//! Every `open`, `run`, `send` and `expect` is recorded (secret bytes shown as
//! `<secret:NAME>`). Anything the transcript did not foresee — an unexpected command, a send
//! that differs, an `open` of a target with no section left — is a *violation*: the plugin gets
//! an `internal` error naming it, and the test fails with the expected and actual step side by
//! side, whatever the plugin then does with the error.

use crate::transcript::{
    CommandMatcher, OpenOutcome, RunReply, SendMatcher, SendPart, Step, Transcript, escape,
};
use async_trait::async_trait;
use portcullis_plugin::caps::{RemoteProvider, RemoteSession};
use portcullis_plugin::error::PluginError;
use portcullis_plugin::types::{CommandOutput, ExpectMatch, Target};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Replays a transcript; cheap to clone (clones share the state).
#[derive(Clone)]
pub struct ScriptedRemote {
    state: Arc<Mutex<State>>,
}

struct State {
    transcript: Transcript,
    /// Which sections have been opened.
    used: Vec<bool>,
    /// Per-section cursor state, kept after the session closes so unused steps can be listed.
    cursors: Vec<Cursor>,
    secrets: Vec<(String, Vec<u8>)>,
    records: Vec<String>,
    violations: Vec<String>,
}

#[derive(Default, Clone)]
struct Cursor {
    /// Index of the next step.
    next: usize,
    /// Bytes of the current exact send step already matched.
    sent: usize,
    /// Shell output released but not read yet.
    shell: Vec<u8>,
}

impl ScriptedRemote {
    /// A provider replaying `transcript`. `secrets` (name, bytes) are the values the plugin may
    /// send: they are matched by `<secret:NAME>` and hidden in records.
    pub fn new(transcript: Transcript, secrets: Vec<(String, Vec<u8>)>) -> Self {
        let n = transcript.sessions.len();
        let mut secrets = secrets;
        // Longest first, so a secret that contains another is redacted whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.1.len()));
        secrets.retain(|(_, v)| !v.is_empty());
        ScriptedRemote {
            state: Arc::new(Mutex::new(State {
                transcript,
                used: vec![false; n],
                cursors: vec![Cursor::default(); n],
                secrets,
                records: Vec::new(),
                violations: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What happened, one line per operation: `open asset-1`, `$ cmd → exit 0`, `< bytes`,
    /// `? [patterns] → 0`, `close asset-1`.
    pub fn records(&self) -> Vec<String> {
        self.lock().records.clone()
    }

    /// The violations so far: every way the plugin left the script.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// Steps the plugin never reached (repeatable steps and hangs excepted) and sections it
    /// never opened: a plugin that stops early fails a strict golden test.
    pub fn unused(&self) -> Vec<String> {
        let st = self.lock();
        let mut out = Vec::new();
        for (i, session) in st.transcript.sessions.iter().enumerate() {
            let name = session.asset.as_deref().unwrap_or("*");
            if !st.used[i] {
                out.push(format!(
                    "[session asset={name}] (line {}) was never opened",
                    session.line
                ));
                continue;
            }
            let cursor = &st.cursors[i];
            for step in session.steps.iter().skip(cursor.next) {
                match step {
                    Step::Run { repeat: true, .. } | Step::Hang { .. } => {}
                    Step::Output { .. } => {}
                    other => out.push(format!("asset {name}: never reached {}", other.describe())),
                }
            }
            if !cursor.shell.is_empty() {
                // Unread output is fine: a plugin need not read a shell to its end.
            }
        }
        out
    }

    /// Whether anything was refused or left over (violations or unused steps).
    pub fn problems(&self) -> Vec<String> {
        let mut all = self.violations();
        all.extend(self.unused());
        all
    }
}

impl State {
    fn redact(&self, bytes: &[u8]) -> String {
        let mut text = String::from_utf8_lossy(bytes).into_owned();
        for (name, value) in &self.secrets {
            let value = String::from_utf8_lossy(value);
            text = text.replace(value.as_ref(), &format!("<secret:{name}>"));
        }
        text
    }

    fn secret(&self, name: &str) -> Option<&[u8]> {
        self.secrets
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    fn violation(&mut self, message: String) -> PluginError {
        self.violations.push(message.clone());
        PluginError::Internal(format!("test harness: {message}"))
    }

    /// Moves output steps at the cursor into the readable shell buffer.
    fn release(&mut self, idx: usize) {
        let steps = &self.transcript.sessions[idx].steps;
        let cursor = &mut self.cursors[idx];
        while let Some(Step::Output { bytes }) = steps.get(cursor.next) {
            cursor.shell.extend_from_slice(bytes);
            cursor.next += 1;
        }
    }

    /// An interactive action ends a run of repeatable commands: moves the cursor past them and
    /// releases the output that follows.
    fn leave_repeats(&mut self, idx: usize) {
        loop {
            let steps = &self.transcript.sessions[idx].steps;
            let cursor = &mut self.cursors[idx];
            match steps.get(cursor.next) {
                Some(Step::Run { repeat: true, .. }) => cursor.next += 1,
                Some(Step::Output { bytes }) => {
                    cursor.shell.extend_from_slice(bytes);
                    cursor.next += 1;
                }
                _ => return,
            }
        }
    }

    /// The index of the next step that is not an optional repeat rejecting `accepts`.
    fn next_step(&self, idx: usize, accepts: impl Fn(&Step) -> bool) -> usize {
        let steps = &self.transcript.sessions[idx].steps;
        let mut i = self.cursors[idx].next;
        while let Some(step) = steps.get(i) {
            if matches!(step, Step::Run { repeat: true, .. }) && !accepts(step) {
                i += 1;
                continue;
            }
            break;
        }
        i
    }

    fn expected_here(&self, idx: usize, i: usize) -> String {
        match self.transcript.sessions[idx].steps.get(i) {
            Some(step) => step.describe(),
            None => "the end of the session".to_owned(),
        }
    }

    fn asset_name(&self, idx: usize) -> String {
        self.transcript.sessions[idx]
            .asset
            .clone()
            .unwrap_or_else(|| "*".to_owned())
    }
}

#[async_trait]
impl RemoteProvider for ScriptedRemote {
    async fn open(
        &self,
        _invocation_id: &str,
        target: &Target,
        timeout: Duration,
    ) -> Result<Box<dyn RemoteSession>, PluginError> {
        let outcome = {
            let mut st = self.lock();
            let found = st
                .transcript
                .sessions
                .iter()
                .enumerate()
                .position(|(i, s)| {
                    !st.used[i]
                        && s.asset.as_ref().is_none_or(|a| *a == target.asset_id)
                        && s.account
                            .as_ref()
                            .is_none_or(|a| Some(a) == target.account_id.as_ref())
                });
            let shown = show_target(target);
            let Some(idx) = found else {
                let e = st.violation(format!(
                    "unexpected open of {shown}: no [session] section left for it"
                ));
                st.records.push(format!("open {shown} → violation"));
                return Err(e);
            };
            st.used[idx] = true;
            let outcome = st.transcript.sessions[idx].open.clone();
            let shown_result = match &outcome {
                OpenOutcome::Ok => String::new(),
                OpenOutcome::Fail(e) => format!(" → {e}"),
                OpenOutcome::Hang => " → no answer".to_owned(),
            };
            st.records.push(format!("open {shown}{shown_result}"));
            st.release(idx);
            (idx, outcome)
        };
        match outcome {
            (idx, OpenOutcome::Ok) => Ok(Box::new(ScriptedSession {
                remote: self.clone(),
                idx,
            })),
            (_, OpenOutcome::Fail(e)) => Err(e),
            (_, OpenOutcome::Hang) => {
                tokio::time::sleep(timeout).await;
                Err(PluginError::Timeout)
            }
        }
    }
}

fn show_target(t: &Target) -> String {
    let protocol = serde_json::to_value(t.protocol)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    match &t.account_id {
        Some(acc) => format!("{} as {acc} ({protocol})", t.asset_id),
        None => format!("{} ({protocol})", t.asset_id),
    }
}

/// One replayed session.
struct ScriptedSession {
    remote: ScriptedRemote,
    idx: usize,
}

enum Answer<T> {
    Now(Result<T, PluginError>),
    Hang,
}

impl ScriptedSession {
    fn run_step(&self, command: &str) -> Answer<CommandOutput> {
        let mut st = self.remote.lock();
        let idx = self.idx;
        st.release(idx);
        let i = st.next_step(idx, |s| match s {
            Step::Run { matcher, .. } => matcher.matches(command),
            _ => false,
        });
        let step = st.transcript.sessions[idx].steps.get(i).cloned();
        match step {
            Some(Step::Run {
                matcher,
                reply,
                repeat,
                ..
            }) if matcher.matches(command) => {
                st.cursors[idx].next = if repeat { i } else { i + 1 };
                st.cursors[idx].sent = 0;
                let shown = match &reply {
                    RunReply::Output(o) => match o.exit_code {
                        Some(c) => format!("exit {c}"),
                        None => "killed".to_owned(),
                    },
                    RunReply::Fail(e) => e.to_string(),
                    RunReply::Hang => "no answer".to_owned(),
                };
                st.records.push(format!("$ {command} → {shown}"));
                st.release(idx);
                match reply {
                    RunReply::Output(o) => Answer::Now(Ok(o)),
                    RunReply::Fail(e) => Answer::Now(Err(e)),
                    RunReply::Hang => Answer::Hang,
                }
            }
            Some(Step::Hang { .. }) => {
                st.records.push(format!("$ {command} → no answer"));
                Answer::Hang
            }
            _ => {
                let expected = st.expected_here(idx, i);
                st.records.push(format!("$ {command} → violation"));
                let asset = st.asset_name(idx);
                Answer::Now(Err(st.violation(format!(
                    "unexpected command on asset {asset}\n  expected: {expected}\n  actual:   {}",
                    CommandMatcher::Exact(command.to_owned())
                ))))
            }
        }
    }

    fn send_step(&self, data: &[u8]) -> Answer<()> {
        let mut st = self.remote.lock();
        let idx = self.idx;
        let shown = st.redact(data);
        st.records.push(format!("< {shown}"));
        let mut rest = data;
        loop {
            st.leave_repeats(idx);
            if rest.is_empty() {
                return Answer::Now(Ok(()));
            }
            let i = st.next_step(idx, |_| false);
            let step = st.transcript.sessions[idx].steps.get(i).cloned();
            match step {
                Some(Step::Send {
                    matcher: SendMatcher::Exact(parts),
                    ..
                }) => {
                    let mut expected = Vec::new();
                    for part in &parts {
                        match part {
                            SendPart::Bytes(b) => expected.extend_from_slice(b),
                            SendPart::Secret(name) => match st.secret(name) {
                                Some(v) => expected.extend_from_slice(v),
                                None => {
                                    let e = st.violation(format!(
                                        "the transcript sends <secret:{name}> but the case has no secret of that name"
                                    ));
                                    return Answer::Now(Err(e));
                                }
                            },
                        }
                    }
                    let done = st.cursors[idx].sent.min(expected.len());
                    let remaining = &expected[done..];
                    if rest.starts_with(remaining) {
                        rest = &rest[remaining.len()..];
                        st.cursors[idx].next = i + 1;
                        st.cursors[idx].sent = 0;
                    } else if remaining.starts_with(rest) {
                        st.cursors[idx].next = i;
                        st.cursors[idx].sent = done + rest.len();
                        return Answer::Now(Ok(()));
                    } else {
                        let expected_text = st.redact(remaining);
                        let actual = st.redact(rest);
                        let asset = st.asset_name(idx);
                        return Answer::Now(Err(st.violation(format!(
                            "unexpected send on asset {asset}\n  expected: < {}\n  actual:   < {}",
                            escape(expected_text.as_bytes()),
                            escape(actual.as_bytes())
                        ))));
                    }
                }
                Some(Step::Send {
                    matcher: SendMatcher::Regex(re),
                    ..
                }) if st.cursors[idx].sent == 0 => {
                    let text = String::from_utf8_lossy(rest).into_owned();
                    if re.is_match(&text) {
                        st.cursors[idx].next = i + 1;
                        rest = &[];
                    } else {
                        let expected = st.expected_here(idx, i);
                        let asset = st.asset_name(idx);
                        let actual = st.redact(rest);
                        return Answer::Now(Err(st.violation(format!(
                            "unexpected send on asset {asset}\n  expected: {expected}\n  actual:   < {}",
                            escape(actual.as_bytes())
                        ))));
                    }
                }
                Some(Step::Hang { .. }) => return Answer::Hang,
                _ => {
                    let expected = st.expected_here(idx, i);
                    let asset = st.asset_name(idx);
                    let actual = st.redact(rest);
                    return Answer::Now(Err(st.violation(format!(
                        "unexpected send on asset {asset}\n  expected: {expected}\n  actual:   < {}",
                        escape(actual.as_bytes())
                    ))));
                }
            }
        }
    }

    fn expect_step(&self, patterns: &[regex::Regex]) -> Answer<ExpectMatch> {
        let mut st = self.remote.lock();
        let idx = self.idx;
        st.leave_repeats(idx);
        let shown: Vec<String> = patterns.iter().map(|p| p.as_str().to_owned()).collect();
        let shown = format!("[{}]", shown.join(", "));
        let buffer = std::mem::take(&mut st.cursors[idx].shell);
        let text = String::from_utf8_lossy(&buffer).into_owned();
        // The pattern whose match ends first wins (what a streaming reader sees first); ties
        // go to the lower index.
        let best = patterns
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.find(&text).map(|m| (m.end(), i)))
            .min();
        match best {
            Some((end, index)) => {
                // `end` is a byte offset in the lossy text; map it back when the output was
                // valid UTF-8 (always, for transcripts written as text).
                let end = if text.len() == buffer.len() {
                    end
                } else {
                    buffer.len()
                };
                let output = buffer[..end].to_vec();
                st.cursors[idx].shell = buffer[end..].to_vec();
                st.records.push(format!("? {shown} → {index}"));
                Answer::Now(Ok(ExpectMatch {
                    index: index as u32,
                    output,
                }))
            }
            None => {
                st.cursors[idx].shell = buffer;
                let next = st.next_step(idx, |_| false);
                if matches!(
                    st.transcript.sessions[idx].steps.get(next),
                    Some(Step::Hang { .. })
                ) {
                    st.records.push(format!("? {shown} → no answer"));
                    return Answer::Hang;
                }
                st.records.push(format!("? {shown} → timeout"));
                // Nothing more will come before the plugin sends: a real shell would time out.
                Answer::Now(Err(PluginError::Timeout))
            }
        }
    }
}

#[async_trait]
impl RemoteSession for ScriptedSession {
    async fn run(
        &mut self,
        command: &str,
        timeout: Duration,
    ) -> Result<CommandOutput, PluginError> {
        match self.run_step(command) {
            Answer::Now(r) => r,
            Answer::Hang => hang(timeout).await,
        }
    }

    async fn send(&mut self, data: &[u8]) -> Result<(), PluginError> {
        match self.send_step(data) {
            Answer::Now(r) => r,
            // A send does not wait for an answer; the silence shows at the next expect.
            Answer::Hang => Ok(()),
        }
    }

    async fn expect(
        &mut self,
        patterns: &[regex::Regex],
        timeout: Duration,
    ) -> Result<ExpectMatch, PluginError> {
        match self.expect_step(patterns) {
            Answer::Now(r) => r,
            Answer::Hang => hang(timeout).await,
        }
    }

    async fn close(&mut self) {
        let mut st = self.remote.lock();
        let name = st.asset_name(self.idx);
        st.records.push(format!("close {name}"));
    }
}

/// A remote side that never answers: the call's own timeout is all that ends it.
async fn hang<T>(timeout: Duration) -> Result<T, PluginError> {
    tokio::time::sleep(timeout).await;
    Err(PluginError::Timeout)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use portcullis_plugin::types::Protocol;

    fn target(asset: &str) -> Target {
        Target {
            asset_id: asset.into(),
            account_id: None,
            protocol: Protocol::Ssh,
        }
    }

    const T: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn replays_commands_and_interactive_exchanges() {
        let t = Transcript::parse(
            "[session asset=a1]\n$ id -u\n| 0\n$~ echo .*\n@repeat\n> $ \\\n< passwd alice\\n\n> New password: \\\n< <secret:new>\\n\n> done\n",
            "t",
        )
        .unwrap();
        let remote = ScriptedRemote::new(t, vec![("new".into(), b"S3cret!".to_vec())]);
        let mut s = remote.open("inv", &target("a1"), T).await.unwrap();
        let out = s.run("id -u", T).await.unwrap();
        assert_eq!(out.stdout, b"0\n");
        s.run("echo 1", T).await.unwrap();
        s.run("echo 2", T).await.unwrap();
        let re = |p: &str| regex::Regex::new(p).unwrap();
        let m = s.expect(&[re(r"\$ $")], T).await.unwrap();
        assert_eq!(m.output, b"$ ");
        s.send(b"passwd ").await.unwrap();
        s.send(b"alice\n").await.unwrap();
        let m = s.expect(&[re("nope"), re("password: ")], T).await.unwrap();
        assert_eq!(m.index, 1);
        s.send(b"S3cret!\n").await.unwrap();
        s.expect(&[re("done")], T).await.unwrap();
        s.close().await;
        assert!(remote.problems().is_empty(), "{:?}", remote.problems());
        let records = remote.records();
        assert!(
            records.contains(&"< <secret:new>\n".to_owned()),
            "{records:?}"
        );
        assert!(!records.iter().any(|r| r.contains("S3cret")));
    }

    #[tokio::test]
    async fn an_unexpected_command_is_a_violation_with_both_sides() {
        let t = Transcript::parse("[session asset=a1]\n$ uname -s\n| Linux\n", "t").unwrap();
        let remote = ScriptedRemote::new(t, Vec::new());
        let mut s = remote.open("inv", &target("a1"), T).await.unwrap();
        let err = s.run("uname -a", T).await.unwrap_err();
        assert!(matches!(err, PluginError::Internal(_)));
        let v = remote.violations();
        assert_eq!(v.len(), 1);
        assert!(
            v[0].contains("expected: $ uname -s") && v[0].contains("actual:   $ uname -a"),
            "{}",
            v[0]
        );
        assert_eq!(
            remote.unused().len(),
            1,
            "the expected command was never run"
        );
    }

    #[tokio::test]
    async fn open_outcomes_and_unknown_targets() {
        let t = Transcript::parse(
            "[session asset=a1]\n@open unauthorized Permission denied\n",
            "t",
        )
        .unwrap();
        let remote = ScriptedRemote::new(t, Vec::new());
        let err = remote.open("inv", &target("a1"), T).await.err().unwrap();
        assert_eq!(err, PluginError::Unauthorized("Permission denied".into()));
        assert!(remote.violations().is_empty());
        assert!(remote.open("inv", &target("a2"), T).await.is_err());
        assert_eq!(remote.violations().len(), 1);
    }

    #[tokio::test]
    async fn a_hanging_command_answers_timeout_after_its_timeout() {
        let remote = ScriptedRemote::new(Transcript::any_command(RunReply::Hang), Vec::new());
        let mut s = remote.open("inv", &target("x"), T).await.unwrap();
        let started = std::time::Instant::now();
        let err = s
            .run("anything", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(err, PluginError::Timeout);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn an_expect_without_match_times_out_at_once_unless_the_shell_hangs() {
        let t = Transcript::parse("[session asset=a1]\n> $ \\\n< ls\\n\n@hang\n", "t").unwrap();
        let remote = ScriptedRemote::new(t, Vec::new());
        let mut s = remote.open("inv", &target("a1"), T).await.unwrap();
        let re = |p: &str| regex::Regex::new(p).unwrap();
        assert_eq!(
            s.expect(&[re("nothing")], T).await.unwrap_err(),
            PluginError::Timeout
        );
        // The unread prompt is still there for the next expect.
        assert_eq!(s.expect(&[re(r"\$ ")], T).await.unwrap().output, b"$ ");
        s.send(b"ls\n").await.unwrap();
        let started = std::time::Instant::now();
        let err = s
            .expect(&[re("x")], Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(err, PluginError::Timeout);
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(remote.problems().is_empty(), "{:?}", remote.problems());
        assert_eq!(remote.records()[1], "? [nothing] → timeout");
        assert_eq!(remote.records().last().unwrap(), "? [x] → no answer");
    }
}
