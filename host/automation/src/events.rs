//! Where an automation's events go: [`EventLog`] keeps one invocation's events in memory for
//! the execution's log (the API shows them; the execution row stores them) and counts them for
//! the operation-log summary.
//!
//! The runtime already records secrets sent with `send-secret` as `<secret:NAME>`; as a second
//! line of defence the log also replaces every occurrence of the invocation's known secrets
//! (the account's and the new one) in the text it keeps, so a plugin echoing a password into a
//! log line or a command cannot put it into the database.

use chrono::{DateTime, Utc};
use portcullis_core::secret::SecretString;
use portcullis_plugin::caps::{Event, EventSink};
use serde::Serialize;
use std::sync::Mutex;

/// Events kept per invocation; later ones are counted and dropped.
pub const MAX_EVENTS: usize = 2_000;
/// Longest text kept in one event field.
const MAX_TEXT: usize = 4_096;
/// What replaces a known secret in the log.
const REDACTED: &str = "<redacted>";
/// Secrets shorter than this are not searched for: they would match ordinary text.
const MIN_REDACT: usize = 4;

/// One event with the time it was recorded.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedEvent {
    /// When the host received it.
    pub time: DateTime<Utc>,
    /// What happened (`event` names the kind).
    #[serde(flatten)]
    pub event: Event,
}

/// Counts for the operation log's summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EventCounts {
    /// Sessions opened (or refused).
    pub sessions: u32,
    /// Commands run.
    pub commands: u32,
    /// Writes to interactive shells.
    pub sends: u32,
    /// Secrets revealed to the plugin.
    pub reveals: u32,
    /// Events dropped past [`MAX_EVENTS`].
    pub dropped: u32,
}

#[derive(Default)]
struct Inner {
    events: Vec<LoggedEvent>,
    counts: EventCounts,
}

/// An [`EventSink`] keeping one invocation's events (see the module docs).
#[derive(Default)]
pub struct EventLog {
    inner: Mutex<Inner>,
    secrets: Vec<SecretString>,
}

impl EventLog {
    /// A log that redacts `secrets` wherever they appear.
    pub fn new(secrets: Vec<SecretString>) -> EventLog {
        EventLog {
            inner: Mutex::default(),
            secrets: secrets
                .into_iter()
                .filter(|s| s.expose().len() >= MIN_REDACT)
                .collect(),
        }
    }

    /// Records a line the host itself adds (what it decided, what it verified).
    pub fn host(&self, message: impl Into<String>) {
        self.record(
            "",
            Event::Log {
                level: portcullis_plugin::types::LogLevel::Info,
                message: message.into(),
                fields: vec![("source".into(), "host".into())],
            },
        );
    }

    /// The events so far.
    pub fn events(&self) -> Vec<LoggedEvent> {
        self.inner
            .lock()
            .map(|i| i.events.clone())
            .unwrap_or_default()
    }

    /// The counts so far.
    pub fn counts(&self) -> EventCounts {
        self.inner.lock().map(|i| i.counts).unwrap_or_default()
    }

    fn clean(&self, text: &mut String) {
        for s in &self.secrets {
            if text.contains(s.expose()) {
                *text = text.replace(s.expose(), REDACTED);
            }
        }
        if text.len() > MAX_TEXT {
            let mut cut = MAX_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
    }

    fn redact(&self, event: &mut Event) {
        match event {
            Event::Log {
                message, fields, ..
            } => {
                self.clean(message);
                for (_, v) in fields {
                    self.clean(v);
                }
            }
            Event::Http { url, denied, .. } => {
                self.clean(url);
                if let Some(d) = denied {
                    self.clean(d);
                }
            }
            Event::RemoteOpen { error, .. } => {
                if let Some(e) = error {
                    self.clean(e);
                }
            }
            Event::RemoteCommand { command, error, .. } => {
                self.clean(command);
                if let Some(e) = error {
                    self.clean(e);
                }
            }
            Event::RemoteSend { data } => self.clean(data),
            Event::Capped { what } => self.clean(what),
            Event::LogsDropped { .. } | Event::SecretRevealed { .. } => {}
        }
    }
}

impl EventSink for EventLog {
    fn record(&self, _invocation_id: &str, mut event: Event) {
        self.redact(&mut event);
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        match &event {
            Event::RemoteOpen { .. } => inner.counts.sessions += 1,
            Event::RemoteCommand { .. } => inner.counts.commands += 1,
            Event::RemoteSend { .. } => inner.counts.sends += 1,
            Event::SecretRevealed { .. } => inner.counts.reveals += 1,
            _ => {}
        }
        if inner.events.len() >= MAX_EVENTS {
            inner.counts.dropped += 1;
            return;
        }
        inner.events.push(LoggedEvent {
            time: Utc::now(),
            event,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_never_reach_the_log() {
        let log = EventLog::new(vec![
            SecretString::new("S3cret-pw"),
            SecretString::new("ab"),
        ]);
        log.record(
            "i",
            Event::RemoteCommand {
                command: "echo 'u:S3cret-pw' | chpasswd".into(),
                exit_code: Some(0),
                error: None,
            },
        );
        log.record(
            "i",
            Event::RemoteSend {
                data: "<secret:new-secret>\n".into(),
            },
        );
        let text = serde_json::to_string(&log.events()).unwrap();
        assert!(!text.contains("S3cret-pw"), "{text}");
        assert!(text.contains("echo 'u:<redacted>' | chpasswd"), "{text}");
        assert!(text.contains(r#""event":"remote_command""#), "{text}");
        // Two-letter secrets are not searched for (they would blank ordinary words).
        assert!(text.contains("chpasswd"));
        assert_eq!(log.counts().commands, 1);
        assert_eq!(log.counts().sends, 1);
    }

    #[test]
    fn the_log_is_bounded() {
        let log = EventLog::new(Vec::new());
        for _ in 0..MAX_EVENTS + 5 {
            log.host("x".repeat(MAX_TEXT * 2));
        }
        assert_eq!(log.events().len(), MAX_EVENTS);
        assert_eq!(log.counts().dropped, 5);
        assert!(log.events()[0].event_text_len() <= MAX_TEXT + '…'.len_utf8());
    }

    impl LoggedEvent {
        fn event_text_len(&self) -> usize {
            match &self.event {
                Event::Log { message, .. } => message.len(),
                _ => 0,
            }
        }
    }
}
