//! The web terminal's sessions: a front door the browser's websocket attaches to and detaches
//! from, so a dropped socket does not end the session.
//!
//! The pump runs in its own task with a [`WebFront`] that talks to channels. A socket
//! *attaches* by handing the front a fresh pair of channels ([`Attachment`]); when the socket
//! goes away the front is *detached*: the target's output is still recorded and drawn on the
//! session's [`SharedScreen`], but nothing is buffered for the browser (memory per detached
//! session is the emulated screen, clamped, and nothing else). A browser that comes back within
//! the grace period with the resume key gets the current screen first, then the live output.
//! After the grace period the session ends with [`EndReason::Disconnect`].
//!
//! Resume keys are random (256 bits from the OS), only their SHA-256 is kept, they are good
//! for one attach (a new one is issued with every attach) and only for the user whose session
//! it is.

use crate::authorize::CommandPolicy;
use crate::live::{EndReason, Engine, LiveSession};
use crate::pump::{self, Front, FrontEvent, Limits, Notice};
use crate::screen::{self, SharedScreen};
use crate::target::TargetConnection;
use bytes::Bytes;
use rand::RngCore;
use rand::rngs::OsRng;
use russh::client::Msg;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until, timeout};
use uuid::Uuid;

/// The setting (seconds) a detached web terminal session waits for its browser.
pub const GRACE_SETTING: &str = "TERMINAL_WEB_RESUME_GRACE";
/// The grace period when the setting is absent.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(120);
/// The longest grace period the setting may ask for.
pub const MAX_GRACE: Duration = Duration::from_secs(24 * 3600);
/// Messages queued towards one socket; a socket that stops reading holds the session back
/// after this many, as an SSH client's window would.
const OUTPUT_QUEUE: usize = 64;
/// Messages queued from one socket towards the pump.
const INPUT_QUEUE: usize = 64;
/// Attach requests waiting for the pump to take them.
const CONTROL_QUEUE: usize = 4;
/// How long the last message to the browser may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the pump sends a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebOutput {
    /// Terminal output (the first one after a resume redraws the screen).
    Data(Bytes),
    /// Something about the session (lock, unlock).
    Notice(Notice),
    /// The session ended; nothing follows.
    Closed {
        /// [`EndReason::code`].
        reason: String,
        /// Words for the user.
        message: String,
    },
    /// Another socket of the same user attached to this session; this one is done.
    Replaced,
}

/// A socket's end of an attached session.
#[derive(Debug)]
pub struct Attachment {
    /// The session.
    pub session_id: Uuid,
    /// The key that resumes the session once this socket is gone (one use).
    pub resume_key: String,
    /// How long the session waits for a resume after this socket is gone.
    pub grace: Duration,
    /// What the browser shows about the session.
    pub meta: WebMeta,
    /// The user's keystrokes and resizes, to the pump.
    pub input: mpsc::Sender<FrontEvent>,
    /// Output and session messages, from the pump.
    pub output: mpsc::Receiver<WebOutput>,
}

/// What the browser is told about a web terminal session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebMeta {
    /// The asset's name.
    pub asset: String,
    /// `name(username)` of the account.
    pub account: String,
    /// The actions the permission grants (`connect`, `copy`, `paste`, …).
    pub actions: Vec<String>,
}

/// Why a resume is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ResumeError {
    /// No session has this key (wrong, already used, or the session is over).
    #[error("the resume key is not valid")]
    Unknown,
    /// The key belongs to another user's session.
    #[error("the resume key belongs to another user")]
    NotYours,
    /// The session is ending or too many resumes wait.
    #[error("the session cannot be resumed now")]
    Unavailable,
}

/// Everything a web shell session needs once it has been authorized, connected and started.
pub struct WebShell {
    /// The started session (recording open).
    pub session: LiveSession,
    /// The connection to the asset, closed when the session ends.
    pub connection: TargetConnection,
    /// The session channel on it (no pty requested yet).
    pub channel: russh::Channel<Msg>,
    /// Command filtering.
    pub policy: CommandPolicy,
    /// `TERM`.
    pub term: String,
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
    /// Idle and duration limits.
    pub limits: Limits,
    /// The granted actions, for the browser.
    pub actions: Vec<String>,
}

/// The detachable web terminal sessions of this process.
#[derive(Default)]
pub struct WebTerminals {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// SHA-256 of a resume key → its session.
    by_key: HashMap<[u8; 32], Uuid>,
    sessions: HashMap<Uuid, Entry>,
}

struct Entry {
    user_id: Uuid,
    meta: WebMeta,
    key: [u8; 32],
    control: mpsc::Sender<Attach>,
}

/// A socket's channels, handed to the pump's front.
struct Attach {
    input: mpsc::Receiver<FrontEvent>,
    output: mpsc::Sender<WebOutput>,
    cols: u16,
    rows: u16,
    grace: Duration,
}

fn new_key() -> (String, [u8; 32]) {
    let mut raw = [0u8; 32];
    OsRng.fill_bytes(&mut raw);
    let key = hex::encode(raw);
    let digest = key_digest(&key);
    (key, digest)
}

fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn channels(
    session_id: Uuid,
    meta: WebMeta,
    resume_key: String,
    cols: u16,
    rows: u16,
    grace: Duration,
) -> (Attach, Attachment) {
    let (in_tx, in_rx) = mpsc::channel(INPUT_QUEUE);
    let (out_tx, out_rx) = mpsc::channel(OUTPUT_QUEUE);
    (
        Attach {
            input: in_rx,
            output: out_tx,
            cols,
            rows,
            grace,
        },
        Attachment {
            session_id,
            resume_key,
            grace,
            meta,
            input: in_tx,
            output: out_rx,
        },
    )
}

/// The grace period in force now ([`GRACE_SETTING`], else [`DEFAULT_GRACE`]).
pub async fn grace(store: &portcullis_store::Store) -> Duration {
    let value = match store.setting(GRACE_SETTING).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "the web terminal grace setting is unreadable; using the default");
            None
        }
    };
    let seconds = match value {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    seconds
        .map(|s| Duration::from_secs(s.max(1)).min(MAX_GRACE))
        .unwrap_or(DEFAULT_GRACE)
}

impl WebTerminals {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every change to the maps is a single insert or remove.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many web terminal sessions run in this process.
    pub fn count(&self) -> usize {
        self.state().sessions.len()
    }

    /// Runs a started web shell session in its own task and attaches the first socket.
    pub async fn launch(&self, engine: &Engine, shell: WebShell) -> Attachment {
        let WebShell {
            mut session,
            connection,
            mut channel,
            policy,
            term,
            cols,
            rows,
            limits,
            actions,
        } = shell;
        let (cols, rows) = screen::clamp(cols, rows);
        let grace = grace(engine.store()).await;
        let id = session.id;
        let (key, digest) = new_key();
        let meta = WebMeta {
            asset: session.asset_display().to_owned(),
            account: session.account_display().to_owned(),
            actions,
        };
        let (first, attachment) = channels(id, meta.clone(), key, cols, rows, grace);
        let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
        {
            let mut state = self.state();
            state.by_key.insert(digest, id);
            state.sessions.insert(
                id,
                Entry {
                    user_id: session.user_id(),
                    meta,
                    key: digest,
                    control: control_tx,
                },
            );
        }
        let screen = session
            .screen()
            .cloned()
            .unwrap_or_else(|| SharedScreen::new(cols, rows));
        let mut front = WebFront {
            engine: engine.clone(),
            id,
            control: control_rx,
            control_open: true,
            current: Some(Live {
                input: first.input,
                output: first.output,
            }),
            pending: None,
            pending_resize: false,
            grace,
            detached_at: None,
            expired: false,
            size: (cols, rows),
            screen,
            lock: session.lock_signal(),
            leftover: std::collections::VecDeque::new(),
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            let finished = pump::run_shell(
                &mut session,
                &mut channel,
                &mut front,
                &policy,
                (&term, cols, rows),
                limits,
            )
            .await;
            // No resume into a session that is ending.
            engine.web().forget(id);
            session.end(&finished.reason).await;
            connection.close().await;
            front.close(&finished.reason).await;
        });
        attachment
    }

    /// Attaches a new socket to a session of `user_id` with the key its last attach was
    /// given. The key is used up; the attachment carries the next one. The previous socket,
    /// if still attached, is told it was replaced.
    pub async fn resume(
        &self,
        engine: &Engine,
        key: &str,
        user_id: Uuid,
        cols: u16,
        rows: u16,
    ) -> Result<Attachment, ResumeError> {
        let grace = grace(engine.store()).await;
        let (cols, rows) = screen::clamp(cols, rows);
        let digest = key_digest(key);
        let mut state = self.state();
        let State { by_key, sessions } = &mut *state;
        let id = *by_key.get(&digest).ok_or(ResumeError::Unknown)?;
        let entry = sessions.get_mut(&id).ok_or(ResumeError::Unknown)?;
        if entry.user_id != user_id {
            return Err(ResumeError::NotYours);
        }
        let (next_key, next_digest) = new_key();
        let (attach, attachment) = channels(id, entry.meta.clone(), next_key, cols, rows, grace);
        entry
            .control
            .try_send(attach)
            .map_err(|_| ResumeError::Unavailable)?;
        by_key.remove(&digest);
        by_key.insert(next_digest, id);
        entry.key = next_digest;
        Ok(attachment)
    }

    /// Drops a session's entry and key (it is ending).
    fn forget(&self, id: Uuid) {
        let mut state = self.state();
        if let Some(entry) = state.sessions.remove(&id) {
            state.by_key.remove(&entry.key);
        }
    }
}

/// The attached socket's channels.
struct Live {
    input: mpsc::Receiver<FrontEvent>,
    output: mpsc::Sender<WebOutput>,
}

/// The pump's view of the browser: whichever socket is attached now, or none.
struct WebFront {
    engine: Engine,
    id: Uuid,
    control: mpsc::Receiver<Attach>,
    control_open: bool,
    current: Option<Live>,
    /// An attach whose resize has been handed to the pump; installed on the next receive.
    pending: Option<Attach>,
    /// The size changed with an attach taken while sending: the pump is told on the next
    /// receive.
    pending_resize: bool,
    grace: Duration,
    detached_at: Option<Instant>,
    /// The grace period ran out and the session was told to end.
    expired: bool,
    size: (u16, u16),
    screen: Arc<SharedScreen>,
    lock: watch::Receiver<Option<String>>,
    /// Input a socket delivered before it went away (or was replaced), still owed to the
    /// target: keystrokes the server received are never dropped with their socket. At most
    /// one input queue's worth per socket.
    leftover: std::collections::VecDeque<FrontEvent>,
}

/// The next input of the attached socket; never ready while detached.
async fn next_input(current: &mut Option<Live>) -> Option<FrontEvent> {
    match current {
        Some(live) => live.input.recv().await,
        None => std::future::pending().await,
    }
}

impl WebFront {
    fn detach(&mut self) {
        if let Some(old) = self.current.take() {
            self.keep_input(old);
            self.detached_at = Some(Instant::now());
        }
    }

    /// Moves what a departing socket already queued into `leftover`.
    fn keep_input(&mut self, mut old: Live) {
        while let Ok(ev) = old.input.try_recv() {
            self.leftover.push_back(ev);
        }
    }

    /// An input event as the pump gets it (sizes clamped and remembered).
    fn accept(&mut self, ev: FrontEvent) -> FrontEvent {
        match ev {
            FrontEvent::Resize { cols, rows } => {
                let (cols, rows) = screen::clamp(cols, rows);
                self.size = (cols, rows);
                FrontEvent::Resize { cols, rows }
            }
            ev => ev,
        }
    }

    /// Makes `a` the attached socket: it gets the current screen (and the lock state) before
    /// any further output, which the pump only produces after this returns.
    fn install(&mut self, a: Attach) {
        if let Some(old) = self.current.take() {
            let _ = old.output.try_send(WebOutput::Replaced);
            self.keep_input(old);
        }
        self.grace = a.grace;
        // The channel is new and empty: these fit.
        let snapshot = self.screen.snapshot();
        let _ = a
            .output
            .try_send(WebOutput::Data(Bytes::from(snapshot.screen)));
        let locked_by = self.lock.borrow().clone();
        if let Some(by) = locked_by {
            let _ = a.output.try_send(WebOutput::Notice(Notice::Locked { by }));
        }
        self.current = Some(Live {
            input: a.input,
            output: a.output,
        });
        self.detached_at = None;
    }

    /// Tells the attached socket the session is over.
    async fn close(&mut self, reason: &EndReason) {
        if let Some(live) = self.current.take() {
            let msg = WebOutput::Closed {
                reason: reason.code().to_owned(),
                message: reason
                    .message()
                    .unwrap_or_else(|| "The session is closed".to_owned()),
            };
            let _ = timeout(CLOSE_TIMEOUT, live.output.send(msg)).await;
        }
    }

    /// Sends to the attached socket, waiting while it is slow (back-pressure, as an SSH
    /// window). A resume arriving meanwhile takes over at once: what was being sent is
    /// already on the screen the new socket is given.
    async fn deliver(&mut self, msg: WebOutput) {
        let Some(live) = &self.current else {
            return;
        };
        tokio::select! {
            sent = live.output.send(msg) => {
                if sent.is_err() {
                    self.detach();
                }
            }
            attach = self.control.recv(), if self.control_open => match attach {
                Some(a) => {
                    if (a.cols, a.rows) != self.size {
                        self.size = (a.cols, a.rows);
                        self.pending_resize = true;
                    }
                    self.install(a);
                }
                None => self.control_open = false,
            },
        }
    }
}

impl Front for WebFront {
    async fn recv(&mut self) -> Option<FrontEvent> {
        loop {
            if let Some(a) = self.pending.take() {
                self.install(a);
            }
            if std::mem::take(&mut self.pending_resize) {
                let (cols, rows) = self.size;
                return Some(FrontEvent::Resize { cols, rows });
            }
            if let Some(ev) = self.leftover.pop_front() {
                return Some(self.accept(ev));
            }
            let deadline = match self.detached_at {
                Some(at) if !self.expired => Some(at + self.grace),
                _ => None,
            };
            tokio::select! {
                attach = self.control.recv(), if self.control_open => match attach {
                    Some(a) => {
                        if (a.cols, a.rows) != self.size {
                            // Resize first, so the screen sent to the socket has its size.
                            self.size = (a.cols, a.rows);
                            let (cols, rows) = self.size;
                            self.pending = Some(a);
                            return Some(FrontEvent::Resize { cols, rows });
                        }
                        self.install(a);
                    }
                    None => self.control_open = false,
                },
                ev = next_input(&mut self.current) => match ev {
                    Some(ev) => return Some(self.accept(ev)),
                    None => self.detach(),
                },
                () = async {
                    match deadline {
                        Some(at) => sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.expired = true;
                    self.engine.kill(self.id, EndReason::Disconnect);
                }
            }
        }
    }

    async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.deliver(WebOutput::Data(Bytes::copy_from_slice(data)))
            .await;
        Ok(())
    }

    async fn send_shared(&mut self, data: Bytes) -> io::Result<()> {
        self.deliver(WebOutput::Data(data)).await;
        Ok(())
    }

    async fn send_stderr(&mut self, data: &[u8]) -> io::Result<()> {
        self.send(data).await
    }

    async fn notice(&mut self, notice: &Notice) -> io::Result<()> {
        self.deliver(WebOutput::Notice(notice.clone())).await;
        Ok(())
    }
}
