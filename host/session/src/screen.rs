//! The screen of a live terminal session, shared between the pump and whoever else needs to
//! see it: an auditor's live view joining late, a browser resuming after a dropped socket.
//!
//! The pump already emulates the user's terminal to read command lines off it
//! ([`CommandCapture`]); that one emulator is the session's screen. It sits behind a mutex that
//! is only ever held for synchronous work (never across an `.await`), and every output chunk is
//! fed to it and offered to watchers under the same lock, so a watcher that takes a snapshot
//! and subscribes in one step ([`SharedScreen::watch`]) sees every byte after the snapshot and
//! none twice.
//!
//! Watchers get a bounded broadcast ([`WATCH_BACKLOG`] events). A watcher that falls behind
//! never slows the session: it loses the events it missed and is redrawn from a fresh snapshot
//! ([`WatchItem::Redraw`]). Memory per session is the emulated screen (sizes are clamped to
//! [`MAX_COLS`] × [`MAX_ROWS`], no scrollback) plus at most the backlog of output chunks while
//! a watcher lags; once the terminal has been quiet for [`REST_AFTER`], only the screen's redraw
//! ([`CommandCapture::rest`]), and the emulator is rebuilt on the next byte.

use crate::capture::CommandCapture;
use bytes::Bytes;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::broadcast;

/// Output events kept for watchers that have not read them yet.
pub const WATCH_BACKLOG: usize = 64;
/// The widest terminal emulated; wider ones are emulated at this width.
pub const MAX_COLS: u16 = 500;
/// The tallest terminal emulated; taller ones are emulated at this height.
pub const MAX_ROWS: u16 = 200;
/// A terminal quiet this long lets its emulator go ([`SharedScreen::rest`]): most of the memory
/// of an idle session. Short, because a held session is idle far more than it types; a wake-up
/// costs a redraw of a few hundred bytes (microseconds), so someone typing pays nothing they
/// notice, and the emulators of many lightly used sessions are not all alive at once.
pub const REST_AFTER: Duration = Duration::from_millis(500);

/// What the screen shows now, as bytes that redraw it on a fresh terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Escape sequences and text (clear, contents, cursor, modes).
    pub screen: Vec<u8>,
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// What happens on a watched screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// Bytes the target sent the user.
    Output(Bytes),
    /// The user's terminal changed size.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// The session ended with this reason code.
    Ended {
        /// [`crate::live::EndReason::code`].
        reason: String,
    },
}

/// A session's screen: the pump's emulator plus the watchers' broadcast.
pub struct SharedScreen {
    inner: Mutex<Inner>,
}

struct Inner {
    capture: CommandCapture,
    /// Made when the first watcher comes and dropped when the last one has gone: its
    /// [`WATCH_BACKLOG`] slots are allocated up front, and most sessions are never watched.
    events: Option<broadcast::Sender<WatchEvent>>,
}

impl Inner {
    /// Offers `event` to the watchers, if any; forgets the channel once none is left.
    fn send(&mut self, event: impl FnOnce() -> WatchEvent) {
        let Some(tx) = &self.events else { return };
        if tx.receiver_count() == 0 {
            self.events = None;
            return;
        }
        let _ = tx.send(event());
    }

    fn subscribe(&mut self) -> broadcast::Receiver<WatchEvent> {
        match &self.events {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = broadcast::channel(WATCH_BACKLOG);
                self.events = Some(tx);
                rx
            }
        }
    }
}

impl std::fmt::Debug for SharedScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedScreen")
            .field("watchers", &self.watchers())
            .finish_non_exhaustive()
    }
}

/// Clamps a terminal size to what is emulated (zero is taken as one).
pub fn clamp(cols: u16, rows: u16) -> (u16, u16) {
    (cols.clamp(1, MAX_COLS), rows.clamp(1, MAX_ROWS))
}

impl SharedScreen {
    /// A blank screen of this size.
    pub fn new(cols: u16, rows: u16) -> Arc<SharedScreen> {
        let (cols, rows) = clamp(cols, rows);
        Arc::new(SharedScreen {
            inner: Mutex::new(Inner {
                capture: CommandCapture::new(cols, rows),
                events: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every operation on the emulator completes or panics before the guard drops; a
        // poisoned lock leaves a screen that is at worst partly drawn.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the emulator (the pump's command capture).
    pub fn with<R>(&self, f: impl FnOnce(&mut CommandCapture) -> R) -> R {
        f(&mut self.lock().capture)
    }

    /// Output from the target: drawn on the screen and offered to watchers.
    pub fn output(&self, data: &Bytes) {
        let mut inner = self.lock();
        inner.capture.feed_output(data);
        inner.send(|| WatchEvent::Output(data.clone()));
    }

    /// The user's terminal changed size.
    pub fn resize(&self, cols: u16, rows: u16) {
        let (cols, rows) = clamp(cols, rows);
        let mut inner = self.lock();
        if inner.capture.size() == (cols, rows) {
            return;
        }
        inner.capture.resize(cols, rows);
        inner.send(|| WatchEvent::Resize { cols, rows });
    }

    /// The terminal has been quiet for [`REST_AFTER`]: keep only the screen's redraw.
    pub fn rest(&self) {
        self.lock().capture.rest();
    }

    /// The session is over: watchers are told why.
    pub fn end(&self, reason: &str) {
        self.lock().send(|| WatchEvent::Ended {
            reason: reason.to_owned(),
        });
    }

    /// What the screen shows now.
    pub fn snapshot(&self) -> Snapshot {
        snapshot_of(&self.lock().capture)
    }

    /// A snapshot and a subscription to everything after it, taken together.
    pub fn watch(self: &Arc<Self>) -> (Snapshot, Watcher) {
        let mut inner = self.lock();
        let rx = inner.subscribe();
        let snapshot = snapshot_of(&inner.capture);
        drop(inner);
        (
            snapshot,
            Watcher {
                screen: self.clone(),
                rx,
            },
        )
    }

    /// How many watchers follow the screen.
    pub fn watchers(&self) -> usize {
        self.lock()
            .events
            .as_ref()
            .map_or(0, broadcast::Sender::receiver_count)
    }
}

fn snapshot_of(capture: &CommandCapture) -> Snapshot {
    let (cols, rows) = capture.size();
    Snapshot {
        screen: capture.screen_state(),
        cols,
        rows,
    }
}

/// What a watcher gets next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchItem {
    /// Output, in order.
    Output(Bytes),
    /// The watcher fell behind and missed output: redraw the whole screen from this.
    Redraw(Snapshot),
    /// The user's terminal changed size.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// The session ended with this reason code; nothing follows.
    Ended(String),
}

/// One watcher of a screen (an auditor's live view). Dropping it stops watching.
pub struct Watcher {
    screen: Arc<SharedScreen>,
    rx: broadcast::Receiver<WatchEvent>,
}

impl Watcher {
    /// The next event. Never blocks the session: a watcher that lagged is redrawn.
    pub async fn next(&mut self) -> WatchItem {
        match self.rx.recv().await {
            Ok(WatchEvent::Output(b)) => WatchItem::Output(b),
            Ok(WatchEvent::Resize { cols, rows }) => WatchItem::Resize { cols, rows },
            Ok(WatchEvent::Ended { reason }) => WatchItem::Ended(reason),
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let (snapshot, fresh) = self.screen.watch();
                self.rx = fresh.rx;
                WatchItem::Redraw(snapshot)
            }
            // Every sender is gone without an end event: the session was dropped.
            Err(broadcast::error::RecvError::Closed) => WatchItem::Ended("normal".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_late_watcher_sees_the_screen_then_only_new_output() {
        let s = SharedScreen::new(20, 5);
        s.output(&Bytes::from_static(b"before\r\n"));
        let (snap, mut w) = s.watch();
        assert!(String::from_utf8_lossy(&snap.screen).contains("before"));
        assert_eq!((snap.cols, snap.rows), (20, 5));
        s.output(&Bytes::from_static(b"after"));
        assert_eq!(
            w.next().await,
            WatchItem::Output(Bytes::from_static(b"after"))
        );
        s.resize(30, 6);
        assert_eq!(w.next().await, WatchItem::Resize { cols: 30, rows: 6 });
        s.end("normal");
        assert_eq!(w.next().await, WatchItem::Ended("normal".into()));
    }

    #[tokio::test]
    async fn a_slow_watcher_is_redrawn_not_waited_for() {
        let s = SharedScreen::new(20, 5);
        let (_, mut w) = s.watch();
        // Far more than the backlog: the writer never waits for the watcher.
        for i in 0..(WATCH_BACKLOG * 4) {
            s.output(&Bytes::from(format!("line {i}\r\n")));
        }
        match w.next().await {
            WatchItem::Redraw(snap) => {
                let text = String::from_utf8_lossy(&snap.screen).into_owned();
                assert!(
                    text.contains(&format!("line {}", WATCH_BACKLOG * 4 - 1)),
                    "{text}"
                );
            }
            other => panic!("expected a redraw, got {other:?}"),
        }
        s.output(&Bytes::from_static(b"next"));
        assert_eq!(
            w.next().await,
            WatchItem::Output(Bytes::from_static(b"next"))
        );
    }

    #[tokio::test]
    async fn the_watch_channel_exists_only_while_watched() {
        let s = SharedScreen::new(20, 5);
        s.output(&Bytes::from_static(b"a"));
        assert!(s.lock().events.is_none(), "no channel before a watcher");
        let (_, w) = s.watch();
        assert_eq!(s.watchers(), 1);
        drop(w);
        s.output(&Bytes::from_static(b"b"));
        assert!(
            s.lock().events.is_none(),
            "channel kept after the last watcher"
        );
        let (snap, mut w) = s.watch();
        assert!(String::from_utf8_lossy(&snap.screen).contains("ab"));
        s.output(&Bytes::from_static(b"c"));
        assert_eq!(w.next().await, WatchItem::Output(Bytes::from_static(b"c")));
    }

    #[test]
    fn sizes_are_clamped() {
        let s = SharedScreen::new(u16::MAX, 0);
        let snap = s.snapshot();
        assert_eq!((snap.cols, snap.rows), (MAX_COLS, 1));
    }
}
