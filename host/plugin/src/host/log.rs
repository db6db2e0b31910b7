//! `log.emit` and the guest's stdout/stderr: one sink per invocation with the line and byte
//! caps of [`Limits`](crate::kind::Limits).
//!
//! The sink is shared (an `Arc`) between the store's host state and the stdout/stderr
//! streams wasmtime-wasi owns, so both count against the same caps. Past a cap, lines are
//! counted and dropped; [`LogSink::finish`] reports the count once, as
//! [`Event::LogsDropped`], when the invocation ends.

use crate::bindings::automation::portcullis::plugin::log;
use crate::caps::{Event, EventSink};
use crate::convert::log_level_from_wit;
use crate::host::state::HostState;
use crate::types::LogLevel;
use bytes::Bytes;
use std::sync::{Arc, Mutex, PoisonError};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Longest partial line of stdout/stderr kept before it is emitted as a line of its own.
const MAX_PARTIAL_LINE: usize = 8 * 1024;

/// The invocation's log: forwards lines to the event sink until a cap is hit.
pub(crate) struct LogSink {
    invocation_id: String,
    events: Arc<dyn EventSink>,
    max_lines: u64,
    max_bytes: u64,
    state: Mutex<LogState>,
}

#[derive(Default)]
struct LogState {
    lines: u64,
    bytes: u64,
    dropped: u64,
    finished: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Which guest output stream a [`GuestOutput`] is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl LogSink {
    pub(crate) fn new(
        invocation_id: String,
        events: Arc<dyn EventSink>,
        max_lines: u32,
        max_bytes: u64,
    ) -> Self {
        LogSink {
            invocation_id,
            events,
            max_lines: u64::from(max_lines),
            max_bytes,
            state: Mutex::new(LogState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one line, or counts it as dropped past the caps.
    pub(crate) fn emit(&self, level: LogLevel, message: String, fields: Vec<(String, String)>) {
        let size = message.len() as u64
            + fields
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum::<u64>();
        {
            let mut st = self.lock();
            if st.finished
                || st.lines >= self.max_lines
                || st.bytes.saturating_add(size) > self.max_bytes
            {
                st.dropped += 1;
                return;
            }
            st.lines += 1;
            st.bytes += size;
        }
        self.events.record(
            &self.invocation_id,
            Event::Log {
                level,
                message,
                fields,
            },
        );
    }

    /// Appends guest output; complete lines become log lines (stdout at `info`, stderr at
    /// `warn`).
    fn write_output(&self, stream: Stream, bytes: &[u8]) {
        let mut lines = Vec::new();
        {
            let mut st = self.lock();
            let buf = match stream {
                Stream::Stdout => &mut st.stdout,
                Stream::Stderr => &mut st.stderr,
            };
            for &b in bytes {
                if b == b'\n' {
                    lines.push(std::mem::take(buf));
                } else {
                    buf.push(b);
                    if buf.len() >= MAX_PARTIAL_LINE {
                        lines.push(std::mem::take(buf));
                    }
                }
            }
        }
        for line in lines {
            self.emit_output_line(stream, &line);
        }
    }

    fn emit_output_line(&self, stream: Stream, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.strip_suffix('\r').unwrap_or(&text).to_owned();
        let level = match stream {
            Stream::Stdout => LogLevel::Info,
            Stream::Stderr => LogLevel::Warn,
        };
        let field = match stream {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        };
        self.emit(level, text, vec![("stream".into(), field.into())]);
    }

    /// Flushes partial output lines and reports dropped lines. Idempotent; lines after it are
    /// dropped (the invocation is over).
    pub(crate) fn finish(&self) {
        let (stdout, stderr) = {
            let mut st = self.lock();
            if st.finished {
                return;
            }
            (
                std::mem::take(&mut st.stdout),
                std::mem::take(&mut st.stderr),
            )
        };
        if !stdout.is_empty() {
            self.emit_output_line(Stream::Stdout, &stdout);
        }
        if !stderr.is_empty() {
            self.emit_output_line(Stream::Stderr, &stderr);
        }
        let dropped = {
            let mut st = self.lock();
            st.finished = true;
            st.dropped
        };
        if dropped > 0 {
            self.events
                .record(&self.invocation_id, Event::LogsDropped { lines: dropped });
        }
    }
}

/// The guest's stdout or stderr, written into the invocation's log.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    pub(crate) sink: Arc<LogSink>,
    pub(crate) stream: Stream,
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.sink.write_output(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.sink.write_output(self.stream, buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl log::Host for HostState {
    async fn emit(
        &mut self,
        level: log::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        self.log.emit(log_level_from_wit(level), message, fields);
        Ok(())
    }
}
