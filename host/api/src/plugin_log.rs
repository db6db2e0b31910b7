//! Recording plugin invocations: every call the host makes into a plugin goes through
//! [`invoke_logged`], which times it, keeps the log lines the plugin emits (bounded, with the
//! invocation's secrets redacted) and writes one `plugin_invocations` row with the outcome.
//! The plugins page reads them back (`/api/v1/plugins/<plugin_id>/invocations/`).

use chrono::Utc;
use portcullis_plugin::caps::{Event, EventSink, Invocation};
use portcullis_plugin::error::InvokeError;
use portcullis_plugin::plugin::LoadedPlugin;
use portcullis_plugin::types::{Call, Output};
use portcullis_store::Store;
use portcullis_store::plugin_invocations::PluginInvocation;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Most log lines kept per invocation.
pub const MAX_LINES: usize = 200;
/// Most bytes of log messages kept per invocation.
pub const MAX_BYTES: usize = 64 * 1024;
/// Longest message kept (longer ones are cut).
const MAX_LINE: usize = 2048;
const REDACTED: &str = "<redacted>";
/// Secrets shorter than this are not searched for: they would match ordinary text.
const MIN_REDACT: usize = 4;

/// What made a call, for the log.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// `automation`, `enable`, …
    pub kind: &'static str,
    /// The triggering object's id or name.
    pub reference: String,
}

#[derive(Default)]
struct Lines {
    lines: Vec<Value>,
    bytes: usize,
    dropped: i64,
}

/// Forwards every event to the embedder's sink and keeps the log lines, redacted.
struct Tee {
    inner: Arc<dyn EventSink>,
    secrets: Vec<String>,
    kept: Mutex<Lines>,
}

impl Tee {
    fn clean(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        if out.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
        }
        out
    }
}

impl EventSink for Tee {
    fn record(&self, invocation_id: &str, event: Event) {
        match &event {
            Event::Log { level, message, .. } => {
                let message = self.clean(message);
                if let Ok(mut kept) = self.kept.lock() {
                    if kept.lines.len() >= MAX_LINES || kept.bytes + message.len() > MAX_BYTES {
                        kept.dropped += 1;
                    } else {
                        kept.bytes += message.len();
                        kept.lines.push(json!({"level": level, "message": message}));
                    }
                }
            }
            Event::LogsDropped { lines } => {
                if let Ok(mut kept) = self.kept.lock() {
                    kept.dropped += i64::try_from(*lines).unwrap_or(i64::MAX);
                }
            }
            _ => {}
        }
        self.inner.record(invocation_id, event);
    }
}

/// The secret texts a call can see: bound secrets and the call's own secret arguments.
fn secrets_of(inv: &Invocation, call: &Call) -> Vec<String> {
    let mut out: Vec<String> = inv
        .secrets
        .values()
        .map(|s| String::from_utf8_lossy(&s.bytes).into_owned())
        .collect();
    match call {
        Call::ChangeSecret { new_secret, .. } => {
            out.push(String::from_utf8_lossy(&new_secret.bytes).into_owned())
        }
        Call::PushAccount { secret, .. } => {
            out.push(String::from_utf8_lossy(&secret.bytes).into_owned())
        }
        _ => {}
    }
    out.retain(|s| s.len() >= MIN_REDACT);
    // Longest first, so a secret containing another is replaced whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// The outcome kind of an answer: `ok` or the typed error kind.
pub fn outcome(answer: &Result<Output, InvokeError>) -> &'static str {
    match answer {
        Ok(_) => "ok",
        Err(InvokeError::Plugin(_)) => "guest_error",
        Err(InvokeError::Trap(_)) => "trap",
        Err(InvokeError::Deadline(_)) => "deadline",
        Err(InvokeError::MemoryLimit { .. }) => "memory_limit",
        Err(InvokeError::Fuel(_)) => "fuel",
        Err(InvokeError::Busy) => "busy",
        Err(InvokeError::BadAnswer(_)) => "bad_answer",
        Err(InvokeError::Instantiate(_)) => "instantiate",
        Err(InvokeError::WrongKind { .. }) => "wrong_kind",
    }
}

/// Calls `plugin` and records the invocation in `store`. A failure to record is logged, never
/// the caller's failure: the call's answer is returned as the plugin gave it.
pub async fn invoke_logged(
    store: &Store,
    plugin: &LoadedPlugin,
    mut inv: Invocation,
    call: Call,
    trigger: Trigger,
) -> Result<Output, InvokeError> {
    let tee = Arc::new(Tee {
        inner: inv.events.clone(),
        secrets: secrets_of(&inv, &call),
        kept: Mutex::default(),
    });
    inv.events = tee.clone();
    let (plugin_id, version) = (inv.plugin_id.clone(), inv.plugin_version.clone());
    let export = call.name();
    let date_start = Utc::now();
    let (answer, stats) = plugin.call_with_stats(inv, call).await;
    let kept = tee
        .kept
        .lock()
        .map(|mut k| std::mem::take(&mut *k))
        .unwrap_or_default();
    let error = match &answer {
        Ok(_) => String::new(),
        Err(e) => tee.clean(&e.to_string()),
    };
    let row = PluginInvocation {
        id: Uuid::new_v4(),
        plugin_id,
        version,
        world: plugin.kind().world().to_owned(),
        export: export.to_owned(),
        trigger_kind: trigger.kind.to_owned(),
        trigger_ref: trigger.reference,
        date_start,
        duration_us: i64::try_from(stats.duration.as_micros()).unwrap_or(i64::MAX),
        outcome: outcome(&answer).to_owned(),
        error,
        fuel: i64::try_from(stats.fuel_consumed).unwrap_or(i64::MAX),
        memory_peak: i64::try_from(stats.peak_memory).unwrap_or(i64::MAX),
        logs: Value::Array(kept.lines),
        logs_dropped: kept.dropped,
    };
    if let Err(e) = store.record_plugin_invocation(&row).await {
        tracing::error!(error = %e, plugin = %row.plugin_id, "could not record a plugin invocation");
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_plugin::types::LogLevel;

    struct Nothing;
    impl EventSink for Nothing {
        fn record(&self, _: &str, _: Event) {}
    }

    fn tee(secrets: &[&str]) -> Tee {
        Tee {
            inner: Arc::new(Nothing),
            secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
            kept: Mutex::default(),
        }
    }

    fn line(t: &Tee, message: &str) {
        t.record(
            "i",
            Event::Log {
                level: LogLevel::Info,
                message: message.to_owned(),
                fields: vec![],
            },
        );
    }

    #[test]
    fn secrets_are_redacted_in_kept_lines() {
        let t = tee(&["Sup3r-Secret"]);
        line(&t, "typed Sup3r-Secret at the prompt");
        let kept = t.kept.lock().unwrap();
        assert_eq!(kept.lines[0]["message"], "typed <redacted> at the prompt");
        assert_eq!(kept.lines[0]["level"], "info");
    }

    #[test]
    fn lines_past_the_bound_are_counted_not_kept() {
        let t = tee(&[]);
        for i in 0..MAX_LINES + 5 {
            line(&t, &format!("line {i}"));
        }
        t.record("i", Event::LogsDropped { lines: 7 });
        let kept = t.kept.lock().unwrap();
        assert_eq!(kept.lines.len(), MAX_LINES);
        assert_eq!(kept.dropped, 12);
    }

    #[test]
    fn bytes_past_the_bound_are_counted_and_long_lines_cut() {
        let t = tee(&[]);
        let long = "x".repeat(MAX_LINE * 2);
        for _ in 0..MAX_BYTES / MAX_LINE + 3 {
            line(&t, &long);
        }
        let kept = t.kept.lock().unwrap();
        assert!(kept.bytes <= MAX_BYTES, "{}", kept.bytes);
        assert!(kept.dropped > 0);
        assert!(kept.lines[0]["message"].as_str().unwrap().len() <= MAX_LINE + 3);
    }

    #[test]
    fn every_error_kind_has_its_own_outcome_in_the_stored_choices() {
        use portcullis_plugin::error::PluginError;
        use portcullis_store::plugin_invocations::OUTCOMES;
        use std::time::Duration;
        let answers = [
            Err(InvokeError::Plugin(PluginError::Timeout)),
            Err(InvokeError::Trap("x".into())),
            Err(InvokeError::Deadline(Duration::from_secs(1))),
            Err(InvokeError::MemoryLimit { limit: 1 }),
            Err(InvokeError::Fuel(1)),
            Err(InvokeError::Busy),
            Err(InvokeError::BadAnswer("x".into())),
            Err(InvokeError::Instantiate("x".into())),
        ];
        let kinds: Vec<&str> = answers.iter().map(outcome).collect();
        assert_eq!(
            kinds,
            [
                "guest_error",
                "trap",
                "deadline",
                "memory_limit",
                "fuel",
                "busy",
                "bad_answer",
                "instantiate"
            ]
        );
        for k in kinds {
            assert!(OUTCOMES.contains(&k), "{k}");
        }
    }
}
