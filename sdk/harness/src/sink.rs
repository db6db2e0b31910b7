//! [`RecordingSink`]: an [`EventSink`] that keeps every event of an invocation in memory, so
//! tests and golden files can look at logs, reveals, caps and the runtime's own audit view.

use portcullis_plugin::caps::{Event, EventSink};
use std::sync::{Arc, Mutex, PoisonError};

/// Collects events in the order the runtime records them.
#[derive(Debug, Default)]
pub struct RecordingSink {
    events: Mutex<Vec<Event>>,
}

impl RecordingSink {
    /// A new, empty sink behind an `Arc` (what [`Invocation::events`] wants).
    ///
    /// [`Invocation::events`]: portcullis_plugin::caps::Invocation::events
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A copy of every event recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The `Capped` events' descriptions: which quota or output cap was hit.
    pub fn capped(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Capped { what } => Some(what),
                _ => None,
            })
            .collect()
    }

    /// The names of the secrets the plugin revealed, in order.
    pub fn reveals(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::SecretRevealed { name } => Some(name),
                _ => None,
            })
            .collect()
    }

    /// Log lines as `level message k=v ...` (guest stdout/stderr included), plus one line
    /// `dropped N lines` when the log quota was hit.
    pub fn log_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for event in self.events() {
            match event {
                Event::Log {
                    level,
                    message,
                    fields,
                } => {
                    let level = serde_json::to_value(level)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let mut line = format!("{level} {message}");
                    for (k, v) in fields {
                        line.push_str(&format!(" {k}={v}"));
                    }
                    lines.push(line);
                }
                Event::LogsDropped { lines: n } => lines.push(format!("dropped {n} lines")),
                _ => {}
            }
        }
        lines
    }
}

impl EventSink for RecordingSink {
    fn record(&self, _invocation_id: &str, event: Event) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }
}
