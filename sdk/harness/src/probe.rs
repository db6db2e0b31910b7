//! [`ProbeRemote`]: a cooperative remote for checks that must drive a plugin through an
//! interactive dialogue it was not scripted for (the conformance suite's
//! `no-reveal-for-send`).
//!
//! Every `open` works, every command exits 0 with no output, every `send` is accepted, and
//! every `expect` matches: the probe answers with one of the plugin's own patterns and a text
//! made to match it (`New password:` for `(?i)new[^\n]*password[^\n]*:`). Which pattern is
//! chosen at each `expect` is the probe's *path*; [`explore`] walks the paths depth first, so
//! a plugin that waits for `password:` prompts, retries or branches on a marker reaches the
//! point where it hands the remote a secret, whatever its wording.

use async_trait::async_trait;
use portcullis_plugin::caps::{RemoteProvider, RemoteSession};
use portcullis_plugin::error::PluginError;
use portcullis_plugin::types::{CommandOutput, ExpectMatch, Target};
use regex_syntax::hir::{Class, Hir, HirKind, Look};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Most `expect` calls one run answers; past it the probe times out (a plugin looping on
/// prompts must still end).
const MAX_EXPECTS: usize = 32;

/// A remote that answers everything; see the module docs. Cheap to clone (shared state).
#[derive(Clone)]
pub struct ProbeRemote {
    state: Arc<Mutex<ProbeState>>,
}

#[derive(Default)]
struct ProbeState {
    /// The pattern index to pick at each `expect`, in order (0 past the end).
    path: Vec<usize>,
    /// How many patterns each `expect` of this run offered.
    widths: Vec<usize>,
    /// Everything written to the remote: command lines and sent bytes.
    received: Vec<u8>,
}

impl ProbeRemote {
    /// A probe that picks `path[i]` at the `i`-th `expect`.
    pub fn new(path: Vec<usize>) -> Self {
        ProbeRemote {
            state: Arc::new(Mutex::new(ProbeState {
                path,
                ..ProbeState::default()
            })),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut ProbeState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether `needle` was written to the remote (in a command line or sent bytes).
    pub fn received(&self, needle: &[u8]) -> bool {
        !needle.is_empty() && self.with(|s| s.received.windows(needle.len()).any(|w| w == needle))
    }

    /// The path this run took: the pattern picked at each `expect`, and how many there were.
    pub fn taken(&self) -> Vec<(usize, usize)> {
        self.with(|s| {
            s.widths
                .iter()
                .enumerate()
                .map(|(i, w)| (s.path.get(i).copied().unwrap_or(0).min(w - 1), *w))
                .collect()
        })
    }
}

/// The next path to try after a run that took `taken` (depth first: the deepest `expect`
/// that still has an untried pattern moves to it), or none when every path was tried.
pub fn next_path(taken: &[(usize, usize)]) -> Option<Vec<usize>> {
    let i = taken.iter().rposition(|(pick, width)| pick + 1 < *width)?;
    let mut path: Vec<usize> = taken[..i].iter().map(|(pick, _)| *pick).collect();
    path.push(taken[i].0 + 1);
    Some(path)
}

#[async_trait]
impl RemoteProvider for ProbeRemote {
    async fn open(
        &self,
        _invocation_id: &str,
        _target: &Target,
        _timeout: Duration,
    ) -> Result<Box<dyn RemoteSession>, PluginError> {
        Ok(Box::new(ProbeSession(self.clone())))
    }
}

struct ProbeSession(ProbeRemote);

#[async_trait]
impl RemoteSession for ProbeSession {
    async fn run(
        &mut self,
        command: &str,
        _timeout: Duration,
    ) -> Result<CommandOutput, PluginError> {
        self.0.with(|s| {
            s.received.extend_from_slice(command.as_bytes());
            s.received.push(b'\n');
        });
        Ok(CommandOutput {
            exit_code: Some(0),
            stdout: Vec::new(),
            stderr: Vec::new(),
        })
    }

    async fn send(&mut self, data: &[u8]) -> Result<(), PluginError> {
        self.0.with(|s| s.received.extend_from_slice(data));
        Ok(())
    }

    async fn expect(
        &mut self,
        patterns: &[regex::Regex],
        _timeout: Duration,
    ) -> Result<ExpectMatch, PluginError> {
        if patterns.is_empty() {
            return Err(PluginError::InvalidInput("no patterns".into()));
        }
        let pick = self.0.with(|s| {
            if s.widths.len() >= MAX_EXPECTS {
                return None;
            }
            let pick = s
                .path
                .get(s.widths.len())
                .copied()
                .unwrap_or(0)
                .min(patterns.len() - 1);
            s.widths.push(patterns.len());
            Some(pick)
        });
        let Some(pick) = pick else {
            return Err(PluginError::Timeout);
        };
        let output = matching_text(&patterns[pick]).into_bytes();
        Ok(ExpectMatch {
            index: u32::try_from(pick).unwrap_or(u32::MAX),
            output,
        })
    }

    async fn close(&mut self) {}
}

/// A short text that `re` matches (the empty string when none can be made, e.g. for
/// look-arounds the generator does not model).
pub fn matching_text(re: &regex::Regex) -> String {
    let hir = match regex_syntax::Parser::new().parse(re.as_str()) {
        Ok(h) => h,
        Err(_) => return String::new(),
    };
    let mut out = String::new();
    generate(&hir, &mut out);
    if re.is_match(&out) {
        out
    } else {
        String::new()
    }
}

fn generate(hir: &Hir, out: &mut String) {
    match hir.kind() {
        HirKind::Empty => {}
        HirKind::Literal(lit) => out.push_str(&String::from_utf8_lossy(&lit.0)),
        HirKind::Class(Class::Unicode(c)) => {
            // Prefer a printable character of the class.
            let ch = c
                .iter()
                .flat_map(|r| [r.start(), r.end()])
                .find(|ch| ch.is_ascii_graphic() || *ch == ' ')
                .or_else(|| c.iter().next().map(|r| r.start()));
            if let Some(ch) = ch {
                out.push(ch);
            }
        }
        HirKind::Class(Class::Bytes(c)) => {
            if let Some(r) = c.iter().next() {
                out.push(char::from(r.start()));
            }
        }
        HirKind::Look(Look::End | Look::EndLF | Look::EndCRLF) => {}
        HirKind::Look(_) => {}
        HirKind::Repetition(rep) => {
            for _ in 0..rep.min.min(16) {
                generate(&rep.sub, out);
            }
        }
        HirKind::Capture(cap) => generate(&cap.sub, out),
        HirKind::Concat(parts) => parts.iter().for_each(|p| generate(p, out)),
        HirKind::Alternation(alts) => {
            if let Some(first) = alts.first() {
                generate(first, out);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_their_patterns() {
        for p in [
            r"(?i)(current|old)[^\n]*password[^\n]*:",
            r"(?i)(retype|again|re-enter|repeat|confirm)[^\n]*password[^\n]*:",
            r"__PORTCULLIS_RC=[0-9]+=",
            r"[#$] $",
            r"\d{3}-\w+",
        ] {
            let re = regex::Regex::new(p).unwrap();
            let text = matching_text(&re);
            assert!(!text.is_empty() && re.is_match(&text), "{p}: {text:?}");
        }
    }

    #[test]
    fn paths_are_walked_depth_first() {
        assert_eq!(next_path(&[(0, 2), (0, 3)]), Some(vec![0, 1]));
        assert_eq!(next_path(&[(0, 2), (2, 3)]), Some(vec![1]));
        assert_eq!(next_path(&[(1, 2), (2, 3)]), None);
        assert_eq!(next_path(&[]), None);
    }
}
