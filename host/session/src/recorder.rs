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
//! - **The session never waits on the disk, and a keystroke wakes nobody.** A [`Recorder`]
//!   appends each record (a 13-byte head and a copy of the bytes) to its session's own buffer
//!   under a short, uncontended lock. One writer thread for the whole process (not a thread per
//!   session, which cost a stack, a file buffer and a wake-up of that thread for every event —
//!   memory per idle session and latency per keystroke) writes the buffers of every recording
//!   that has data to the files, on a fixed tick of [`TICK`] while recordings are open, or
//!   at once when a buffer passes [`HIGH_WATER`] (bulk output). Light typing therefore costs
//!   a copy and no system call on the session's path.
//! - **Memory is bounded, a slow disk back-pressures the session.** A session's buffer holds
//!   at most [`MAX_BUFFERED_BYTES`] (plus one record) besides the one the writer is writing;
//!   when it is full, [`Recorder::output`] waits until the writer has taken it, which slows the
//!   pump, which slows the SSH window. The writer drops a buffer after writing it, so an idle
//!   session holds none.
//! - **A killed host leaves a playable file.** Data reaches the OS at most about [`TICK`]
//!   after it was recorded (well within [`FLUSH_INTERVAL`]). A process kill loses at most that;
//!   the file is `fsync`ed on [`Recorder::finish`] (on the blocking pool, so one session's sync
//!   never holds up the shared writer; a power loss may lose more).
//! - **Recording is cheap.** UTF-8 and JSON escaping, which cost more than both SSH legs'
//!   cryptography for bulk output, are left to the conversion on download.
//! - **Bytes, not text.** Terminal output is a byte stream, recorded as it came; the conversion
//!   carries a UTF-8 sequence split across two records over to the next event of the same
//!   stream, and turns genuinely invalid bytes into U+FFFD.
//!
//! The header's `env` holds `TERM` only: the gateway does not know the remote account's login
//! shell, so `SHELL` is omitted rather than guessed (players do not need it).

use bytes::Bytes;
use portcullis_core::cast;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The largest chunk carried by one record; bigger writes are split (with the same timestamp).
pub const MAX_EVENT_BYTES: usize = 16 * 1024;

/// Upper bound on record bytes a session buffers for the writer (besides the buffer being
/// written): beyond it the session waits.
pub const MAX_BUFFERED_BYTES: usize = 512 * 1024;

/// A session buffer this full is written at once rather than on the next tick. Bulk output
/// wakes the writer once per this many bytes (at 64 KiB that was every second SSH packet, a
/// context switch each), so it is large; an idle session's buffer is dropped once written.
pub const HIGH_WATER: usize = 256 * 1024;

/// Recorded data reaches the OS at most this long after it was recorded (the writer's tick
/// plus its work).
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// How often the writer writes what the open recordings hold.
pub const TICK: Duration = Duration::from_millis(250);

/// First capacity of a session buffer for a small record (a keystroke, its echo).
const SMALL_BUFFER: usize = 512;

/// Stack for the writer thread: it only copies buffers into files.
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
    /// Writing or flushing the recording failed (disk full, I/O error); recording has stopped.
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
    /// The final write could not run (the blocking pool is gone: the runtime is shutting down).
    #[error("the writer for recording {path} stopped unexpectedly")]
    WriterGone {
        /// The recording file.
        path: PathBuf,
    },
}

/// Where the recording goes: the file in production, a scripted sink in tests.
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section completes its bookkeeping before it can panic; a poisoned lock
    // leaves consistent state.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One recording's state, shared by its [`Recorder`] and the writer.
struct Slot {
    state: Mutex<SlotState>,
    /// Signalled when the writer has taken or written this slot's buffer, or gave up the file.
    drained: Notify,
}

struct SlotState {
    /// Encoded records not yet handed to the file.
    buf: Vec<u8>,
    /// `None` while the writer (or `finish`) is writing to it.
    sink: Option<Box<dyn Sink>>,
    /// Listed in the writer's queue.
    queued: bool,
    /// The writer was asked to come at once for this buffer.
    urgent: bool,
    /// The [`Recorder`] was dropped without `finish`: the writer writes what is left and
    /// closes the file.
    closed: bool,
    /// Bytes handed to the file so far.
    written: u64,
    /// Time of the last record: never goes backwards (both pump directions record).
    last_time: Duration,
    /// The first write error: recording has stopped.
    failure: Option<(io::ErrorKind, String)>,
}

/// The writer's queue of slots with data, shared by all recordings of a [`Hub`].
#[derive(Default)]
struct Queue {
    dirty: Vec<Arc<Slot>>,
    /// A slot passed [`HIGH_WATER`] or closed: write now, do not wait for the tick.
    urgent: bool,
    /// Recordings open on this hub; the writer sleeps without a tick while there are none.
    open: usize,
}

/// One writer thread and the recordings it writes.
struct Hub {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Hub {
    /// A hub with its writer thread started.
    fn start() -> io::Result<Arc<Hub>> {
        let hub = Arc::new(Hub {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
        });
        let writer = hub.clone();
        std::thread::Builder::new()
            .name("recorder".into())
            .stack_size(WRITER_STACK)
            .spawn(move || writer.run())?;
        Ok(hub)
    }

    /// The process's hub, started on first use.
    fn global() -> io::Result<Arc<Hub>> {
        static HUB: OnceLock<Arc<Hub>> = OnceLock::new();
        static START: Mutex<()> = Mutex::new(());
        if let Some(hub) = HUB.get() {
            return Ok(hub.clone());
        }
        let _once = lock(&START);
        if let Some(hub) = HUB.get() {
            return Ok(hub.clone());
        }
        let hub = Hub::start()?;
        Ok(HUB.get_or_init(|| hub).clone())
    }

    fn enqueue(&self, slot: &Arc<Slot>, urgent: bool) {
        let mut q = lock(&self.queue);
        q.dirty.push(slot.clone());
        if urgent {
            q.urgent = true;
            self.wake.notify_one();
        }
    }

    /// Wakes the writer now (a slot already queued became urgent).
    fn hurry(&self) {
        lock(&self.queue).urgent = true;
        self.wake.notify_one();
    }

    fn opened(&self) {
        let mut q = lock(&self.queue);
        q.open += 1;
        if q.open == 1 {
            self.wake.notify_one();
        }
    }

    fn closed(&self) {
        let mut q = lock(&self.queue);
        q.open = q.open.saturating_sub(1);
    }

    /// The writer thread: every [`TICK`] (or at once when urgent), writes the buffers of the
    /// queued slots.
    fn run(&self) {
        loop {
            let batch = {
                let mut q = lock(&self.queue);
                while q.open == 0 && q.dirty.is_empty() {
                    q = self.wake.wait(q).unwrap_or_else(PoisonError::into_inner);
                }
                if !q.urgent {
                    let deadline = Instant::now() + TICK;
                    while !q.urgent {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        q = self
                            .wake
                            .wait_timeout(q, left)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                    }
                }
                q.urgent = false;
                std::mem::take(&mut q.dirty)
            };
            for slot in batch {
                slot.write_out();
            }
        }
    }
}

impl Slot {
    /// The writer's part: hands the buffer to the file (outside the lock), closes the file of
    /// a recording that is gone.
    fn write_out(&self) {
        let (buf, mut sink, closed) = {
            let mut s = lock(&self.state);
            s.queued = false;
            s.urgent = false;
            if s.failure.is_some() {
                s.buf = Vec::new();
                drop(s);
                self.drained.notify_waiters();
                return;
            }
            let Some(sink) = s.sink.take() else {
                // `finish` holds the file and writes the rest itself.
                return;
            };
            (std::mem::take(&mut s.buf), sink, s.closed)
        };
        // The session may fill a fresh buffer while this one is written.
        self.drained.notify_waiters();
        let result = sink.write_all(&buf).and_then(|()| sink.flush());
        let mut s = lock(&self.state);
        match result {
            Ok(()) => s.written += buf.len() as u64,
            Err(e) => {
                tracing::warn!(error = %e, "session recording stopped");
                s.failure = Some((e.kind(), e.to_string()));
            }
        }
        if closed && s.buf.is_empty() {
            // Dropped without `finish`: everything is in the file; close it.
            drop(s);
            drop(sink);
        } else {
            s.sink = Some(sink);
            drop(s);
        }
        self.drained.notify_waiters();
    }
}

/// A handle to one session's recording.
///
/// Not `Clone`: a recording has one owner (the session pump), and [`Recorder::finish`] consumes
/// it to report the final size. All event methods take `&self`, so both pump directions can use
/// it at once. Dropping it without `finish` still writes everything recorded so far (the writer
/// closes the file after), it just cannot report errors or the size.
pub struct Recorder {
    slot: Arc<Slot>,
    hub: Arc<Hub>,
    path: PathBuf,
    started: Instant,
    finished: bool,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Creates the file and its parent directories.
fn open_file(path: &Path) -> Result<Box<dyn Sink>, RecordError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| RecordError::Create {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let file = File::create(path).map_err(|source| RecordError::Create {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Box::new(file))
}

/// The file's first bytes: the compact format's magic and the asciicast header line.
fn header_bytes(header: &CastHeader) -> Vec<u8> {
    let value = serde_json::json!({
        "version": 2,
        "width": header.width,
        "height": header.height,
        "timestamp": header.timestamp,
        "env": { "TERM": header.term },
        "title": header.title,
    });
    let mut out = cast::MAGIC.to_vec();
    out.extend_from_slice(value.to_string().as_bytes());
    out.push(b'\n');
    out
}

impl Recorder {
    /// Creates the file (and its parent directories) and writes the header, on the blocking
    /// pool. Must be called within a tokio runtime.
    pub async fn create(path: &Path, header: CastHeader) -> Result<Recorder, RecordError> {
        let hub = Hub::global().map_err(|source| RecordError::Spawn {
            path: path.to_path_buf(),
            source,
        })?;
        let open_path = path.to_path_buf();
        Self::start(path.to_path_buf(), header, hub, move || {
            open_file(&open_path)
        })
        .await
    }

    /// Opens the sink with `open`, writes the header, and registers with `hub`'s writer.
    async fn start<F>(
        path: PathBuf,
        header: CastHeader,
        hub: Arc<Hub>,
        open: F,
    ) -> Result<Recorder, RecordError>
    where
        F: FnOnce() -> Result<Box<dyn Sink>, RecordError> + Send + 'static,
    {
        let started = Instant::now();
        let head = header_bytes(&header);
        let head_path = path.clone();
        let opened = tokio::task::spawn_blocking(move || {
            let mut sink = open()?;
            sink.write_all(&head)
                .and_then(|()| sink.flush())
                .map_err(|source| RecordError::Write {
                    path: head_path,
                    source,
                })?;
            Ok::<_, RecordError>((sink, head.len() as u64))
        })
        .await
        .map_err(|_| RecordError::WriterGone { path: path.clone() })?;
        let (sink, written) = opened?;
        hub.opened();
        Ok(Recorder {
            slot: Arc::new(Slot {
                state: Mutex::new(SlotState {
                    buf: Vec::new(),
                    sink: Some(sink),
                    queued: false,
                    urgent: false,
                    closed: false,
                    written,
                    last_time: Duration::ZERO,
                    failure: None,
                }),
                drained: Notify::new(),
            }),
            hub,
            path,
            started,
            finished: false,
        })
    }

    /// The recording file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records bytes the target sent to the user. Waits when the session's buffer is full (this
    /// is the back-pressure); fails only when recording has stopped on an error.
    pub async fn output(&self, data: &[u8]) -> Result<(), RecordError> {
        self.record(b'o', data).await
    }

    /// Like [`Recorder::output`] for a buffer the caller already owns.
    pub async fn output_owned(&self, data: Vec<u8>) -> Result<(), RecordError> {
        self.record(b'o', &data).await
    }

    /// Like [`Recorder::output`] for a shared buffer (what the SSH channels hand out).
    pub async fn output_shared(&self, data: Bytes) -> Result<(), RecordError> {
        self.record(b'o', &data).await
    }

    /// Records bytes the user typed (including pastes). Same waiting and errors as
    /// [`Recorder::output`].
    pub async fn input(&self, data: &[u8]) -> Result<(), RecordError> {
        self.record(b'i', data).await
    }

    /// Records a window change so the replay resizes with the session.
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), RecordError> {
        self.record(b'r', format!("{cols}x{rows}").as_bytes()).await
    }

    /// Writes what is left, syncs the file and returns the recording's size in bytes (what the
    /// session row stores). Reports the first write error if there was one.
    pub async fn finish(mut self) -> Result<u64, RecordError> {
        self.finished = true;
        self.hub.closed();
        let (buf, mut sink, written) = loop {
            let notified = self.slot.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = lock(&self.slot.state);
                if let Some(e) = self.failure_of(&s) {
                    return Err(e);
                }
                if let Some(sink) = s.sink.take() {
                    break (std::mem::take(&mut s.buf), sink, s.written);
                }
            }
            // The writer is writing this recording's previous buffer.
            notified.await;
        };
        let path = self.path.clone();
        let done = tokio::task::spawn_blocking(move || {
            sink.write_all(&buf)
                .and_then(|()| sink.flush())
                .and_then(|()| sink.sync())
                .map(|()| written + buf.len() as u64)
                .map_err(|source| RecordError::Write { path, source })
        })
        .await
        .map_err(|_| RecordError::WriterGone {
            path: self.path.clone(),
        })?;
        if let Err(e) = &done {
            tracing::warn!(path = %self.path.display(), error = %e, "session recording stopped");
        }
        done
    }

    fn failure_of(&self, s: &SlotState) -> Option<RecordError> {
        s.failure.as_ref().map(|(kind, msg)| RecordError::Write {
            path: self.path.clone(),
            source: io::Error::new(*kind, msg.clone()),
        })
    }

    /// Appends `data` as records of at most [`MAX_EVENT_BYTES`], all with the same time.
    async fn record(&self, kind: u8, data: &[u8]) -> Result<(), RecordError> {
        if data.is_empty() {
            return Ok(());
        }
        let micros = {
            let t = self.started.elapsed();
            let mut s = lock(&self.slot.state);
            let t = t.max(s.last_time);
            s.last_time = t;
            u64::try_from(t.as_micros()).unwrap_or(u64::MAX)
        };
        for piece in data.chunks(MAX_EVENT_BYTES) {
            self.append(kind, micros, piece).await?;
        }
        Ok(())
    }

    /// Appends one record, waiting while the buffer is full.
    async fn append(&self, kind: u8, micros: u64, piece: &[u8]) -> Result<(), RecordError> {
        loop {
            let notified = self.slot.drained.notified();
            tokio::pin!(notified);
            {
                let mut s = lock(&self.slot.state);
                if let Some(e) = self.failure_of(&s) {
                    return Err(e);
                }
                if s.buf.is_empty() || s.buf.len() + piece.len() <= MAX_BUFFERED_BYTES {
                    self.push(&mut s, kind, micros, piece);
                    return Ok(());
                }
                notified.as_mut().enable();
                if !s.urgent {
                    s.urgent = true;
                    drop(s);
                    self.hub.hurry();
                }
            }
            notified.await;
        }
    }

    /// Encodes the record into the buffer and tells the writer when it has to come.
    fn push(&self, s: &mut SlotState, kind: u8, micros: u64, piece: &[u8]) {
        let need = cast::RECORD_HEAD + piece.len();
        if s.buf.capacity() == 0 {
            // Bulk output fills a buffer before the writer takes it: size it for that at once
            // instead of growing it by doubling; a keystroke's echo needs little.
            let cap = if need >= SMALL_BUFFER {
                HIGH_WATER + MAX_EVENT_BYTES
            } else {
                SMALL_BUFFER
            };
            s.buf.reserve_exact(cap.max(need));
        }
        // Writing to a Vec cannot fail, and a piece is far below the format's 4 GiB limit.
        let _ = cast::write_record(&mut s.buf, kind, micros, piece);
        let urgent = s.buf.len() >= HIGH_WATER && !s.urgent;
        if urgent {
            s.urgent = true;
        }
        if !s.queued {
            s.queued = true;
            self.hub.enqueue(&self.slot, urgent);
        } else if urgent {
            self.hub.hurry();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Hand what is left to the writer, which closes the file once it is written.
        let mut s = lock(&self.slot.state);
        s.closed = true;
        let queued = s.queued;
        s.queued = true;
        s.urgent = true;
        drop(s);
        if queued {
            self.hub.hurry();
        } else {
            self.hub.enqueue(&self.slot, true);
        }
        self.hub.closed();
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
            Recorder::start(
                "stalled.cast".into(),
                header(),
                Hub::start().unwrap(),
                move || Ok(Box::new(sink) as _),
            )
            .await
            .unwrap(),
        );
        stall.store(true, Ordering::SeqCst);
        let sent = Arc::new(AtomicUsize::new(0));
        let chunk = vec![b'x'; MAX_EVENT_BYTES];
        // Events the session's buffer holds, plus those of the buffer being written.
        let per_buffer = MAX_BUFFERED_BYTES / MAX_EVENT_BYTES;
        let total = per_buffer * 8;
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
        // The session's buffer + the buffer the stalled writer holds + the one being added.
        let bound = 2 * per_buffer + 1;
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
            Hub::start().unwrap(),
            move || Ok(Box::new(sink) as _),
        )
        .await
        .unwrap();
        fail.store(true, Ordering::SeqCst);
        let chunk = vec![b'y'; MAX_EVENT_BYTES];
        let mut saw_error = None;
        for _ in 0..(MAX_BUFFERED_BYTES / MAX_EVENT_BYTES * 8) {
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

    /// Threads of this process named like the writer.
    fn writer_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim() == "recorder")
            .count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_recordings_share_one_writer_and_each_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        // Start the shared writer before counting.
        drop(
            Recorder::create(&dir.path().join("warm.cast"), header())
                .await
                .unwrap(),
        );
        let before = writer_threads();
        let mut recs = Vec::new();
        for i in 0..64 {
            let rec = Recorder::create(&dir.path().join(format!("{i}.cast")), header())
                .await
                .unwrap();
            rec.output(format!("session {i}\r\n").as_bytes())
                .await
                .unwrap();
            recs.push(rec);
        }
        // Other tests of this binary may start their own writer meanwhile; a thread per
        // recording would add 64.
        assert!(
            writer_threads() < before + 8,
            "a writer thread per recording"
        );
        // Each recording reaches the file while open, within the flush interval.
        tokio::time::sleep(FLUSH_INTERVAL).await;
        for i in 0..64 {
            let events = lines(&dir.path().join(format!("{i}.cast")));
            assert_eq!(events.len(), 2, "recording {i} not written while open");
            assert_eq!(events[1][2], format!("session {i}\r\n"));
        }
        for rec in recs {
            rec.finish().await.unwrap();
        }
    }
}
