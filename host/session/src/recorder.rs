//! Session recording, written as the session runs, replayed as asciicast v2.
//!
//! Every session is recorded so an auditor can replay it with any asciicast v2 player
//! (`asciinema play`, the web console's player). The recorder writes the compact form of
//! [`portcullis_core::cast`] — the asciicast header, then raw records — and the API converts it
//! to asciicast on download, which looks like this
//! (see <https://docs.asciinema.org/manual/asciicast/v2/>):
//!
//! ```text
//! {"version":2,"width":80,"height":24,"timestamp":1700000000,"env":{"TERM":"xterm-256color"},"title":"alice@web-01"}
//! [0.104211, "o", "alice@web-01:~$ "]
//! [1.350002, "i", "l"]
//! [2.000000, "r", "120x40"]
//! ```
//!
//! How it is built, and why:
//!
//! - **The session never waits on the disk through the runtime.** A [`Recorder`] is a handle that
//!   sends events over a *bounded* tokio channel to a writer on its own OS thread. File creation,
//!   encoding and writes happen there. A dedicated thread (not `spawn_blocking`) is used because
//!   a recording lives as long as its session: hundreds of sessions parked on the blocking pool
//!   would starve every other user of that pool.
//! - **Memory is bounded, a slow disk back-pressures the session.** At most
//!   [`CHANNEL_CAPACITY`] events of at most [`MAX_EVENT_BYTES`] each are in flight
//!   ([`MAX_BUFFERED_BYTES`] in total, plus the writer's 64 KiB file buffer). When the writer
//!   falls behind, [`Recorder::output`] waits, which slows the pump, which slows the SSH window.
//! - **Recording is cheap.** The caller hands over a shared buffer (no copy) and a channel
//!   send; the writer copies the bytes into the file behind a 13-byte record head. UTF-8 and
//!   JSON escaping, which cost more than both SSH legs' cryptography for bulk output, are left
//!   to the conversion on download.
//! - **A killed host leaves a playable file.** Writes are buffered and flushed to the OS at least
//!   once a second while there is unflushed data (a ticker task nudges an idle writer), and on
//!   finish or drop. A process kill loses at most the last second; the file is `fsync`ed only on
//!   [`Recorder::finish`] (a power loss may lose more).
//! - **Bytes, not text.** Terminal output is a byte stream, recorded as it came; the conversion
//!   carries a UTF-8 sequence split across two records over to the next event of the same
//!   stream, and turns genuinely invalid bytes into U+FFFD.
//!
//! The header's `env` holds `TERM` only: the gateway does not know the remote account's login
//! shell, so `SHELL` is omitted rather than guessed (players do not need it).

use bytes::Bytes;
use portcullis_core::cast;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

/// How many events may wait between the session and the writer thread. Together with
/// [`MAX_EVENT_BYTES`] this bounds a recorder's queued memory.
pub const CHANNEL_CAPACITY: usize = 64;

/// The largest chunk carried by one queued event; bigger writes are split (with the same
/// timestamp), so a single huge read cannot defeat the memory bound.
pub const MAX_EVENT_BYTES: usize = 16 * 1024;

/// Upper bound on event payload bytes queued between a session and its writer.
pub const MAX_BUFFERED_BYTES: usize = CHANNEL_CAPACITY * MAX_EVENT_BYTES;

/// Unflushed data reaches the OS at most this long after it was written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Capacity of the writer's file buffer.
const FILE_BUFFER: usize = 64 * 1024;

/// Stack for the writer thread: it only encodes JSON and writes, so a small stack keeps many
/// concurrent sessions cheap.
const WRITER_STACK: usize = 256 * 1024;

/// The asciicast v2 header: what the player needs to size and label the replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CastHeader {
    /// Terminal width in columns at session start (the client's pty).
    pub width: u16,
    /// Terminal height in rows at session start.
    pub height: u16,
    /// Session start as Unix seconds; events are relative to the recorder's creation.
    pub timestamp: i64,
    /// The client's `TERM`, written to the header's `env`.
    pub term: String,
    /// Title shown by players, e.g. `user@asset (account)`.
    pub title: String,
}

/// Why a recording could not be made or completed. Every variant names the file so the audit
/// log and the operator know which recording is affected.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The recording file (or its directory) could not be created.
    #[error("cannot create recording {path}: {source}")]
    Create {
        /// The recording file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// Writing or flushing the recording failed (disk full, I/O error); the writer has stopped.
    #[error("cannot write recording {path}: {source}")]
    Write {
        /// The recording file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the writer for recording {path}: {source}")]
    Spawn {
        /// The recording file.
        path: PathBuf,
        /// The underlying OS error.
        #[source]
        source: io::Error,
    },
    /// The writer thread ended without reporting (it panicked); what it had written stays.
    #[error("the writer for recording {path} stopped unexpectedly")]
    WriterGone {
        /// The recording file.
        path: PathBuf,
    },
}

/// One message to the writer thread. Timestamps are taken when the session sends, so queueing
/// delay does not distort the replay's timing.
enum Event {
    Output(Instant, Bytes),
    Input(Instant, Bytes),
    Resize(Instant, u16, u16),
    /// Sent by the ticker so an idle writer flushes what it holds.
    Tick,
    /// Sent by [`Recorder::finish`]: flush, sync, report the size, stop.
    Finish(oneshot::Sender<Result<u64, RecordError>>),
}

/// The first write error, kept so later sends can report the cause rather than "closed".
type Failure = Arc<OnceLock<(io::ErrorKind, String)>>;

/// Aborts the flush ticker when the recorder goes away.
struct TickerGuard(tokio::task::JoinHandle<()>);

impl Drop for TickerGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A handle to one session's recording.
///
/// Not `Clone`: a recording has one owner (the session pump), and [`Recorder::finish`] consumes
/// it to report the final size. All event methods take `&self`, so both pump directions can use
/// it at once (borrow it in `tokio::join!`/`select!`, or share an `Arc<Recorder>` and
/// `Arc::try_unwrap` it to finish). Dropping it without `finish` still flushes everything sent so
/// far (the writer sees the channel close), it just cannot report errors or the size.
pub struct Recorder {
    tx: mpsc::Sender<Event>,
    path: PathBuf,
    failure: Failure,
    _ticker: TickerGuard,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Creates the file (and its parent directories), writes and flushes the header, and starts
    /// the writer. The file work happens on the writer thread; this only awaits its result.
    /// Must be called within a tokio runtime (it starts the flush ticker).
    pub async fn create(path: &Path, header: CastHeader) -> Result<Recorder, RecordError> {
        let path = path.to_path_buf();
        let open_path = path.clone();
        let open = move || -> Result<Box<dyn Sink>, RecordError> {
            if let Some(dir) = open_path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| RecordError::Create {
                    path: open_path.clone(),
                    source,
                })?;
            }
            let file = File::create(&open_path).map_err(|source| RecordError::Create {
                path: open_path.clone(),
                source,
            })?;
            Ok(Box::new(file))
        };
        Self::start(path, header, open).await
    }

    /// Starts a writer thread over whatever `open` returns (the file, or a test sink).
    async fn start<F>(path: PathBuf, header: CastHeader, open: F) -> Result<Recorder, RecordError>
    where
        F: FnOnce() -> Result<Box<dyn Sink>, RecordError> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (ready_tx, ready_rx) = oneshot::channel();
        let failure: Failure = Arc::new(OnceLock::new());
        let writer_path = path.clone();
        let writer_failure = failure.clone();
        let started = Instant::now();
        std::thread::Builder::new()
            .name("recorder".into())
            .stack_size(WRITER_STACK)
            .spawn(move || {
                writer_thread(
                    writer_path,
                    header,
                    started,
                    open,
                    rx,
                    ready_tx,
                    writer_failure,
                )
            })
            .map_err(|source| RecordError::Spawn {
                path: path.clone(),
                source,
            })?;
        match ready_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(RecordError::WriterGone { path }),
        }
        let ticker = tokio::spawn(flush_ticker(tx.downgrade()));
        Ok(Recorder {
            tx,
            path,
            failure,
            _ticker: TickerGuard(ticker),
        })
    }

    /// The recording file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records bytes the target sent to the user. Waits when the writer is behind (this is the
    /// back-pressure); fails only when the writer has stopped on an error.
    pub async fn output(&self, data: &[u8]) -> Result<(), RecordError> {
        self.send_bytes(data, Event::Output).await
    }

    /// Like [`Recorder::output`] for a buffer the caller already owns: queued without
    /// copying (split into events of at most [`MAX_EVENT_BYTES`]).
    pub async fn output_owned(&self, data: Vec<u8>) -> Result<(), RecordError> {
        self.output_shared(Bytes::from(data)).await
    }

    /// Like [`Recorder::output`] for a shared buffer (what the SSH channels hand out): the
    /// bytes are not copied on the way to the writer.
    pub async fn output_shared(&self, data: Bytes) -> Result<(), RecordError> {
        let at = Instant::now();
        let mut rest = data;
        while !rest.is_empty() {
            let piece = rest.split_to(rest.len().min(MAX_EVENT_BYTES));
            self.send(Event::Output(at, piece)).await?;
        }
        Ok(())
    }

    /// Records bytes the user typed (including pastes). Same waiting and errors as
    /// [`Recorder::output`].
    pub async fn input(&self, data: &[u8]) -> Result<(), RecordError> {
        self.send_bytes(data, Event::Input).await
    }

    /// Records a window change so the replay resizes with the session.
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), RecordError> {
        self.send(Event::Resize(Instant::now(), cols, rows)).await
    }

    /// Flushes and syncs the file, stops the writer and returns the recording's size in bytes
    /// (what the session row stores). Reports the first write error if there was one.
    pub async fn finish(self) -> Result<u64, RecordError> {
        let (done_tx, done_rx) = oneshot::channel();
        self.send(Event::Finish(done_tx)).await?;
        match done_rx.await {
            Ok(result) => result,
            Err(_) => Err(self.stopped_error()),
        }
    }

    async fn send_bytes(
        &self,
        data: &[u8],
        make: fn(Instant, Bytes) -> Event,
    ) -> Result<(), RecordError> {
        if data.is_empty() {
            return Ok(());
        }
        let at = Instant::now();
        for piece in data.chunks(MAX_EVENT_BYTES) {
            self.send(make(at, Bytes::copy_from_slice(piece))).await?;
        }
        Ok(())
    }

    async fn send(&self, event: Event) -> Result<(), RecordError> {
        self.tx.send(event).await.map_err(|_| self.stopped_error())
    }

    /// The error to report once the writer is gone: its recorded failure, if any.
    fn stopped_error(&self) -> RecordError {
        match self.failure.get() {
            Some((kind, msg)) => RecordError::Write {
                path: self.path.clone(),
                source: io::Error::new(*kind, msg.clone()),
            },
            None => RecordError::WriterGone {
                path: self.path.clone(),
            },
        }
    }
}

/// Nudges the writer once per [`FLUSH_INTERVAL`] so data written before a quiet spell reaches
/// the file. Holds only a weak sender: it never keeps the channel open after the recorder is
/// gone, and it skips a tick when the queue is full (the writer is busy and flushes on its own).
async fn flush_ticker(tx: mpsc::WeakSender<Event>) {
    let mut interval = tokio::time::interval(FLUSH_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        let Some(tx) = tx.upgrade() else { return };
        if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(Event::Tick) {
            return;
        }
    }
}

/// Where the writer puts the recording: the file in production, a scripted sink in tests.
trait Sink: Write + Send {
    /// Makes the data durable; called once, on [`Recorder::finish`].
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

/// Counts what goes into the file, so `finish` can report the size without a `stat`.
struct Counting<W: Write> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The writer's state: file, per-stream UTF-8 carry, flush bookkeeping.
struct Writer {
    out: Counting<BufWriter<Box<dyn Sink>>>,
    started: Instant,
    last_time: Duration,

    dirty: bool,
    last_flush: Instant,
}

impl Writer {
    fn header(&mut self, header: &CastHeader) -> io::Result<()> {
        let value = serde_json::json!({
            "version": 2,
            "width": header.width,
            "height": header.height,
            "timestamp": header.timestamp,
            "env": { "TERM": header.term },
            "title": header.title,
        });
        self.out.write_all(cast::MAGIC)?;
        serde_json::to_writer(&mut self.out, &value).map_err(io::Error::from)?;
        self.out.write_all(b"\n")?;
        self.flush()
    }

    /// Seconds since start, never going backwards: the two pump directions send concurrently,
    /// and players expect non-decreasing times.
    fn elapsed(&mut self, at: Instant) -> Duration {
        let t = at
            .saturating_duration_since(self.started)
            .max(self.last_time);
        self.last_time = t;
        t
    }

    /// Writes one record: a copy of the bytes, nothing else (see [`cast`]).
    fn record(&mut self, at: Instant, kind: u8, data: &[u8]) -> io::Result<()> {
        let t = self.elapsed(at);
        let micros = u64::try_from(t.as_micros()).unwrap_or(u64::MAX);
        cast::write_record(&mut self.out, kind, micros, data)?;
        self.dirty = true;
        Ok(())
    }

    fn handle(
        &mut self,
        event: Event,
    ) -> io::Result<Option<oneshot::Sender<Result<u64, RecordError>>>> {
        match event {
            Event::Output(at, data) => self.record(at, b'o', &data)?,
            Event::Input(at, data) => self.record(at, b'i', &data)?,
            Event::Resize(at, cols, rows) => {
                self.record(at, b'r', format!("{cols}x{rows}").as_bytes())?
            }
            Event::Tick => {
                if self.dirty {
                    self.flush()?;
                }
            }
            Event::Finish(done) => return Ok(Some(done)),
        }
        if self.dirty && self.last_flush.elapsed() >= FLUSH_INTERVAL {
            self.flush()?;
        }
        Ok(None)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.dirty = false;
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Emits what the UTF-8 carries still hold (as U+FFFD) and flushes.
    fn close(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// The writer thread: open, header, then events until finish or until every sender is gone.
fn writer_thread<F>(
    path: PathBuf,
    header: CastHeader,
    started: Instant,
    open: F,
    mut rx: mpsc::Receiver<Event>,
    ready: oneshot::Sender<Result<(), RecordError>>,
    failure: Failure,
) where
    F: FnOnce() -> Result<Box<dyn Sink>, RecordError>,
{
    let sink = match open() {
        Ok(sink) => sink,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let mut w = Writer {
        out: Counting {
            inner: BufWriter::with_capacity(FILE_BUFFER, sink),
            written: 0,
        },
        started,
        last_time: Duration::ZERO,
        dirty: false,
        last_flush: Instant::now(),
    };
    if let Err(source) = w.header(&header) {
        let _ = ready.send(Err(RecordError::Write { path, source }));
        return;
    }
    if ready.send(Ok(())).is_err() {
        return;
    }
    let fail = |source: io::Error, path: &Path| {
        let _ = failure.set((source.kind(), source.to_string()));
        tracing::warn!(path = %path.display(), error = %source, "session recording stopped");
        RecordError::Write {
            path: path.to_path_buf(),
            source,
        }
    };
    let mut done = None;
    while let Some(event) = rx.blocking_recv() {
        match w.handle(event) {
            Ok(None) => {}
            Ok(Some(finish)) => {
                done = Some(finish);
                break;
            }
            Err(e) => {
                // Stop taking events: senders then see the failure instead of waiting forever.
                let err = fail(e, &path);
                rx.close();
                while let Ok(event) = rx.try_recv() {
                    if let Event::Finish(finish) = event {
                        let _ = finish.send(Err(err));
                        return;
                    }
                }
                return;
            }
        }
    }
    let finishing = done.is_some();
    let result = w.close().and_then(|()| {
        if finishing {
            w.out.inner.get_mut().sync()?;
        }
        Ok(w.out.written)
    });
    let result = result.map_err(|e| fail(e, &path));
    if let Some(finish) = done {
        let _ = finish.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    fn header() -> CastHeader {
        CastHeader {
            width: 80,
            height: 24,
            timestamp: 1_700_000_000,
            term: "xterm-256color".into(),
            title: "alice@web-01 (root)".into(),
        }
    }

    /// The recording as asciicast v2 events (through the converter the API uses).
    fn lines(path: &Path) -> Vec<Value> {
        asciicast(path)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn asciicast(path: &Path) -> String {
        let raw = std::fs::read(path).unwrap();
        assert!(cast::is_compact(&raw), "not a compact recording");
        let mut out = Vec::new();
        cast::to_asciicast(&raw[cast::MAGIC.len()..], &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Concatenated text of all events with `code`.
    fn text_of(events: &[Value], code: &str) -> String {
        events[1..]
            .iter()
            .filter(|e| e[1] == code)
            .map(|e| e[2].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn header_and_events_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("2024/05/01/session.cast");
        let rec = Recorder::create(&path, header()).await.unwrap();
        rec.output(b"alice@web-01:~$ ").await.unwrap();
        rec.input(b"l").await.unwrap();
        rec.output_owned(b"l".to_vec()).await.unwrap();
        rec.input(b"s\r").await.unwrap();
        rec.output(b"s\r\n\x1b[01;34mdir\x1b[0m \"quoted\" back\\slash\r\n")
            .await
            .unwrap();
        rec.resize(120, 40).await.unwrap();
        rec.output(b"").await.unwrap();
        let size = rec.finish().await.unwrap();
        assert_eq!(size, std::fs::metadata(&path).unwrap().len());

        let events = lines(&path);
        let h = &events[0];
        assert_eq!(h["version"], 2);
        assert_eq!(h["width"], 80);
        assert_eq!(h["height"], 24);
        assert_eq!(h["timestamp"], 1_700_000_000);
        assert_eq!(h["env"]["TERM"], "xterm-256color");
        assert_eq!(h["title"], "alice@web-01 (root)");
        let codes: Vec<&str> = events[1..].iter().map(|e| e[1].as_str().unwrap()).collect();
        assert_eq!(codes, ["o", "i", "o", "i", "o", "r"]);
        let mut last = 0.0;
        for e in &events[1..] {
            let arr = e.as_array().unwrap();
            assert_eq!(arr.len(), 3);
            let t = arr[0].as_f64().unwrap();
            assert!(t >= last, "times must not go backwards");
            last = t;
        }
        assert_eq!(
            text_of(&events, "o"),
            "alice@web-01:~$ ls\r\n\x1b[01;34mdir\x1b[0m \"quoted\" back\\slash\r\n"
        );
        assert_eq!(text_of(&events, "i"), "ls\r");
    }

    #[tokio::test]
    async fn utf8_split_across_chunks_is_carried_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("utf8.cast");
        let rec = Recorder::create(&path, header()).await.unwrap();
        // "é" = C3 A9, "€" = E2 82 AC, "😀" = F0 9F 98 80
        for chunk in [
            &b"caf\xC3"[..],
            b"\xA9 \xE2",
            b"\x82",
            b"\xAC \xF0\x9F\x98",
            b"\x80!",
        ] {
            rec.output(chunk).await.unwrap();
        }
        // Input is carried separately from output.
        rec.input(b"\xD0").await.unwrap();
        rec.output(b"x").await.unwrap();
        rec.input(b"\x96").await.unwrap();
        rec.finish().await.unwrap();
        let events = lines(&path);
        assert_eq!(text_of(&events, "o"), "café € 😀!x");
        assert_eq!(text_of(&events, "i"), "Ж");
        assert!(!asciicast(&path).contains('\u{FFFD}'));
    }

    #[tokio::test]
    async fn invalid_bytes_become_replacement_chars() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.cast");
        let rec = Recorder::create(&path, header()).await.unwrap();
        rec.output(b"a\xFFb").await.unwrap();
        // A lead byte whose continuation never comes.
        rec.output(b"c\xC3").await.unwrap();
        rec.output(b"d").await.unwrap();
        // An incomplete sequence at the very end of the session.
        rec.output(b"e\xE2\x82").await.unwrap();
        rec.finish().await.unwrap();
        assert_eq!(text_of(&lines(&path), "o"), "a\u{FFFD}bc\u{FFFD}de\u{FFFD}");
    }

    #[tokio::test]
    async fn resize_event_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.cast");
        let rec = Recorder::create(&path, header()).await.unwrap();
        rec.resize(132, 43).await.unwrap();
        rec.finish().await.unwrap();
        let raw = asciicast(&path);
        let last = raw.lines().last().unwrap();
        assert!(last.starts_with("[0."), "{last}");
        assert!(last.ends_with(", \"r\", \"132x43\"]"), "{last}");
        let e: Value = serde_json::from_str(last).unwrap();
        assert_eq!(e[2], "132x43");
    }

    #[tokio::test]
    async fn flushed_while_open_after_a_quiet_second() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.cast");
        let rec = Recorder::create(&path, header()).await.unwrap();
        // The header is flushed on creation.
        assert_eq!(lines(&path).len(), 1);
        rec.output(b"before the quiet spell\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(1600)).await;
        let events = lines(&path);
        assert_eq!(events.len(), 2, "event flushed while the recorder is open");
        assert_eq!(events[1][2], "before the quiet spell\r\n");
        rec.finish().await.unwrap();
    }

    #[tokio::test]
    async fn dropped_recorder_still_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dropped.cast");
        let rec = Recorder::create(&path, header()).await.unwrap();
        rec.output(b"last words").await.unwrap();
        drop(rec);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let events = lines(&path);
            if events.len() == 2 {
                assert_eq!(events[1][2], "last words");
                break;
            }
            assert!(Instant::now() < deadline, "drop did not flush");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn create_error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, b"x").unwrap();
        let path = blocker.join("s.cast");
        let err = Recorder::create(&path, header()).await.unwrap_err();
        assert!(
            matches!(&err, RecordError::Create { path: p, .. } if p == &path),
            "{err:?}"
        );
        assert!(err.to_string().contains("not-a-dir"));
    }

    /// A sink that can be made to block (a stalled disk) or fail (a full disk).
    struct Scripted {
        stall: Arc<AtomicBool>,
        fail: Arc<AtomicBool>,
        written: Arc<AtomicUsize>,
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            while self.stall.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            if self.fail.load(Ordering::SeqCst) {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            self.written.fetch_add(buf.len(), Ordering::SeqCst);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink for Scripted {}

    fn scripted() -> (Scripted, Arc<AtomicBool>, Arc<AtomicBool>, Arc<AtomicUsize>) {
        let stall = Arc::new(AtomicBool::new(false));
        let fail = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicUsize::new(0));
        let sink = Scripted {
            stall: stall.clone(),
            fail: fail.clone(),
            written: written.clone(),
        };
        (sink, stall, fail, written)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_disk_back_pressures_with_bounded_memory() {
        let (sink, stall, _fail, written) = scripted();
        let rec = Arc::new(
            Recorder::start("stalled.cast".into(), header(), move || {
                Ok(Box::new(sink) as _)
            })
            .await
            .unwrap(),
        );
        stall.store(true, Ordering::SeqCst);
        let sent = Arc::new(AtomicUsize::new(0));
        let chunk = vec![b'x'; MAX_EVENT_BYTES];
        let total = CHANNEL_CAPACITY * 4;
        let producer = {
            let (rec, sent) = (rec.clone(), sent.clone());
            tokio::spawn(async move {
                for _ in 0..total {
                    rec.output(&chunk).await.unwrap();
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(400)).await;
        let in_flight = sent.load(Ordering::SeqCst);
        // Queue + what the writer holds (one event being written, its 64 KiB file buffer).
        let bound = CHANNEL_CAPACITY + 1 + FILE_BUFFER / MAX_EVENT_BYTES + 1;
        assert!(in_flight < total, "sender was not held back");
        assert!(
            in_flight <= bound,
            "{in_flight} events accepted, bound {bound}"
        );
        stall.store(false, Ordering::SeqCst);
        producer.await.unwrap();
        let rec = Arc::try_unwrap(rec).unwrap();
        let size = rec.finish().await.unwrap();
        assert_eq!(size as usize, written.load(Ordering::SeqCst));
        assert!(size as usize > total * MAX_EVENT_BYTES);
    }

    #[tokio::test]
    async fn large_chunks_are_split_into_bounded_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.cast");
        let rec = Recorder::create(&path, header()).await.unwrap();
        let big = "ab€".repeat(MAX_EVENT_BYTES / 2);
        rec.output(big.as_bytes()).await.unwrap();
        rec.finish().await.unwrap();
        let events = lines(&path);
        assert!(events.len() > 3, "split into several events");
        // The split lands inside "€" sequences; the carry reassembles them.
        assert_eq!(text_of(&events, "o"), big);
    }

    #[tokio::test]
    async fn write_failure_is_reported_not_panicked() {
        let (sink, _stall, fail, _written) = scripted();
        let rec = Recorder::start(
            "full.cast".into(),
            header(),
            move || Ok(Box::new(sink) as _),
        )
        .await
        .unwrap();
        fail.store(true, Ordering::SeqCst);
        let chunk = vec![b'y'; MAX_EVENT_BYTES];
        let mut saw_error = None;
        for _ in 0..(CHANNEL_CAPACITY * 8) {
            if let Err(e) = rec.output(&chunk).await {
                saw_error = Some(e);
                break;
            }
        }
        let err = match saw_error {
            Some(e) => e,
            None => rec.finish().await.unwrap_err(),
        };
        assert!(
            matches!(&err, RecordError::Write { source, .. } if source.kind() == io::ErrorKind::StorageFull),
            "{err:?}"
        );
        assert!(err.to_string().contains("full.cast"));
    }
}
