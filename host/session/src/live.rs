//! Live sessions: the session row and its lifecycle, the registry that kill tasks reach, and
//! the end of every session with a reason.
//!
//! A session is written to the store when it starts (so it is visible online at once), its
//! recording is opened under the recordings directory, and it is registered here. It ends in
//! exactly one place, [`LiveSession::end`], which closes the recording, writes the end and
//! the reason, and unregisters it. Kill and lock requests arrive as `terminal_tasks` rows (the
//! API may run in another process of the cluster); [`Engine::run_task_poller`] applies those
//! meant for sessions of this process. A terminal session's screen ([`SharedScreen`]) is
//! registered with it, so an auditor can watch it live ([`Engine::watch`]).

use crate::authorize::Authorized;
use crate::recorder::{CastHeader, Recorder};
use crate::screen::{SharedScreen, Snapshot, Watcher};
use crate::web::WebTerminals;
use chrono::{DateTime, Utc};
use portcullis_core::vault::Vault;
use portcullis_store::audits::{NewCommand, NewSession, SessionEnd};
use portcullis_store::{Store, StoreError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::watch;
use uuid::Uuid;

/// Why a session ended; stored in the session row and its lifecycle log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The user or the asset closed it.
    Normal,
    /// No input for the idle limit.
    Idle {
        /// The limit in minutes.
        minutes: u64,
    },
    /// The maximum session duration was reached.
    MaxDuration,
    /// The permission behind the session expired.
    PermissionExpired,
    /// An administrator terminated it.
    AdminTerminate {
        /// Who.
        by: String,
    },
    /// The asset could not be reached or refused the login.
    ConnectFailed {
        /// What the user was told.
        message: String,
    },
    /// The gateway is shutting down.
    Shutdown,
    /// The user's browser went away and did not come back within the grace period.
    Disconnect,
}

impl EndReason {
    /// The reason code (JumpServer's lifecycle reasons where they exist).
    pub fn code(&self) -> &'static str {
        match self {
            EndReason::Normal => "normal",
            EndReason::Idle { .. } => "idle_disconnect",
            EndReason::MaxDuration => "max_session_timeout",
            EndReason::PermissionExpired => "permission_expired",
            EndReason::AdminTerminate { .. } => "admin_terminate",
            EndReason::ConnectFailed { .. } => "connect_failed",
            EndReason::Shutdown => "gateway_shutdown",
            EndReason::Disconnect => "disconnect",
        }
    }

    /// The line shown to the user when the gateway ends the session (`None` for a normal end).
    pub fn message(&self) -> Option<String> {
        match self {
            EndReason::Normal => None,
            EndReason::Idle { minutes } => Some(format!(
                "Connect idle more than {minutes} minutes, disconnect"
            )),
            EndReason::MaxDuration => Some("Session max time reached, disconnect".into()),
            EndReason::PermissionExpired => Some("Permission has expired, disconnect".into()),
            EndReason::AdminTerminate { by } => Some(format!("Terminated by admin {by}")),
            EndReason::ConnectFailed { message } => Some(message.clone()),
            EndReason::Shutdown => Some("The gateway is shutting down, disconnect".into()),
            EndReason::Disconnect => {
                Some("The browser did not come back in time, disconnect".into())
            }
        }
    }
}

/// The kind of session, as JumpServer's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// An interactive terminal.
    Normal,
    /// A command run without a terminal (`ssh host cmd`).
    Command,
    /// File transfer.
    Sftp,
    /// Port forwarding.
    Tunnel,
}

impl SessionKind {
    fn code(self) -> &'static str {
        match self {
            SessionKind::Normal => "normal",
            SessionKind::Command => "command",
            SessionKind::Sftp => "sftp",
            SessionKind::Tunnel => "tunnel",
        }
    }
}

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where recordings are written (`<dir>/<YYYY-MM-DD>/<session id>.cast`).
    pub recordings_dir: PathBuf,
    /// Name of this gateway in session rows (`terminal`).
    pub terminal_name: String,
    /// How often kill tasks are looked for.
    pub task_poll: Duration,
}

/// Errors starting or recording a session.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The store failed.
    #[error("session store: {0}")]
    Store(#[from] StoreError),
    /// The recording could not be written; the session must not run unrecorded.
    #[error("session recording: {0}")]
    Record(#[from] crate::recorder::RecordError),
}

struct Registered {
    kill: watch::Sender<Option<EndReason>>,
    /// `Some(by)` while an auditor has locked the user's input.
    lock: watch::Sender<Option<String>>,
    /// Terminal sessions only.
    screen: Option<Arc<SharedScreen>>,
    info: WatchInfo,
}

/// Who is in a watched session, for the watcher's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchInfo {
    /// The session.
    pub session_id: Uuid,
    /// Its org (the asset's).
    pub org: Uuid,
    /// `Name(username)` of the user.
    pub user: String,
    /// The asset's name.
    pub asset: String,
    /// `name(username)` of the account.
    pub account: String,
}

/// A live view of a terminal session: who, what the screen shows now, and what follows.
pub struct Watch {
    /// Who and where.
    pub info: WatchInfo,
    /// The screen when watching started.
    pub snapshot: Snapshot,
    /// Everything after the snapshot.
    pub watcher: Watcher,
}

/// The shared engine: store, vault, settings and the live-session registry. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    vault: Vault,
    config: EngineConfig,
    live: Mutex<HashMap<Uuid, Registered>>,
    web: WebTerminals,
}

impl Engine {
    /// An engine over an opened store.
    pub fn new(store: Store, vault: Vault, config: EngineConfig) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                store,
                vault,
                config,
                live: Mutex::new(HashMap::new()),
                web: WebTerminals::default(),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The vault.
    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The web terminal sessions of this process, which outlive their browser's socket.
    pub fn web(&self) -> &WebTerminals {
        &self.inner.web
    }

    /// How many sessions this process runs now.
    pub fn live_count(&self) -> usize {
        self.registry().len()
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Registered>> {
        // A poisoned lock only means another thread panicked while holding it; the map
        // itself is still consistent (every operation on it is a single insert/remove).
        self.inner
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a session for an authorized connection: writes the row, opens the recording for
    /// terminal sessions (`pty` = `(term, cols, rows)`), registers it for kill tasks.
    pub async fn start(
        &self,
        auth: &Authorized,
        kind: SessionKind,
        pty: Option<(&str, u16, u16)>,
    ) -> Result<LiveSession, EngineError> {
        let id = Uuid::new_v4();
        let now = Utc::now();
        let store = self.store();
        store
            .insert_session(&NewSession {
                id,
                org: auth.asset.org_id,
                user: auth.requester.display(),
                user_id: auth.requester.user_id,
                asset: auth.asset.name.clone(),
                asset_id: auth.asset.id,
                account: auth.account.display(),
                account_id: auth.account.id,
                protocol: auth.protocol.clone(),
                session_type: kind.code().into(),
                login_from: auth.requester.login_from.code().into(),
                remote_addr: auth.requester.remote_addr.to_canonical().to_string(),
                date_start: now,
                terminal: self.config().terminal_name.clone(),
                token_id: None,
            })
            .await?;
        let mut replay_path = String::new();
        let recorder = match pty {
            Some((term, cols, rows)) => {
                let relative = format!("{}/{id}.cast", now.format("%Y-%m-%d"));
                let path = self.config().recordings_dir.join(&relative);
                let header = CastHeader {
                    width: cols,
                    height: rows,
                    timestamp: now.timestamp(),
                    term: term.to_owned(),
                    title: format!(
                        "{} -> {}@{}",
                        auth.requester.display(),
                        auth.account.username,
                        auth.asset.name
                    ),
                };
                match Recorder::create(&path, header).await {
                    Ok(r) => {
                        store.set_session_replay_path(id, &relative).await?;
                        replay_path = relative;
                        Some(r)
                    }
                    Err(e) => {
                        // No recording, no session: end the row we just wrote.
                        let _ = store
                            .finish_session(
                                id,
                                &SessionEnd {
                                    date_end: Utc::now(),
                                    is_success: false,
                                    error_reason: "replay_create_failed".into(),
                                    replay_size: 0,
                                    replay_path: String::new(),
                                },
                            )
                            .await;
                        return Err(e.into());
                    }
                }
            }
            None => None,
        };
        let (kill, kill_rx) = watch::channel(None);
        let (lock, lock_rx) = watch::channel(None);
        let screen = match (kind, pty) {
            (SessionKind::Normal, Some((_, cols, rows))) => Some(SharedScreen::new(cols, rows)),
            _ => None,
        };
        let info = WatchInfo {
            session_id: id,
            org: auth.asset.org_id,
            user: auth.requester.display(),
            asset: auth.asset.name.clone(),
            account: auth.account.display(),
        };
        self.registry().insert(
            id,
            Registered {
                kill,
                lock,
                screen: screen.clone(),
                info,
            },
        );
        let _ = store
            .insert_session_lifecycle_log(
                id,
                "asset_connect_success",
                "",
                &auth.requester.display(),
            )
            .await;
        Ok(LiveSession {
            id,
            engine: self.clone(),
            org: auth.asset.org_id,
            user_id: auth.requester.user_id,
            user: auth.requester.display(),
            asset: auth.asset.name.clone(),
            account: auth.account.display(),
            remote_addr: auth.requester.remote_addr.to_canonical().to_string(),
            recorder,
            replay_path,
            kill: kill_rx,
            lock: lock_rx,
            screen,
            started: now,
            date_expired: auth.date_expired,
            commands: 0,
        })
    }

    /// Records a session that never started because connecting failed, with the reason.
    pub async fn record_failed(
        &self,
        auth: &Authorized,
        kind: SessionKind,
        reason: &EndReason,
    ) -> Result<Uuid, EngineError> {
        let session = self.start(auth, kind, None).await?;
        let id = session.id;
        session.end_failed(reason).await;
        Ok(id)
    }

    /// Asks a session of this process to end. Returns whether it runs here.
    pub fn kill(&self, id: Uuid, reason: EndReason) -> bool {
        match self.registry().get(&id) {
            Some(r) => {
                let _ = r.kill.send(Some(reason));
                true
            }
            None => false,
        }
    }

    /// Locks (`Some(by)`) or unlocks (`None`) the user's input of a session of this process.
    /// Returns whether it runs here.
    pub fn set_lock(&self, id: Uuid, by: Option<String>) -> bool {
        match self.registry().get(&id) {
            Some(r) => {
                r.lock.send_replace(by);
                true
            }
            None => false,
        }
    }

    /// Starts watching a terminal session of this process: `None` when it does not run here
    /// or has no screen (commands, file transfers, tunnels).
    pub fn watch(&self, id: Uuid) -> Option<Watch> {
        let (screen, info) = {
            let registry = self.registry();
            let r = registry.get(&id)?;
            (r.screen.clone()?, r.info.clone())
        };
        let (snapshot, watcher) = screen.watch();
        Some(Watch {
            info,
            snapshot,
            watcher,
        })
    }

    /// Ends every live session (the gateway is stopping).
    pub fn kill_all(&self, reason: EndReason) {
        for r in self.registry().values() {
            let _ = r.kill.send(Some(reason.clone()));
        }
    }

    /// Applies pending `kill_session`, `lock_session` and `unlock_session` tasks to the
    /// sessions of this process, forever (spawn it). Tasks for sessions that are already finished are closed too; tasks for sessions
    /// running in another process are left for that process.
    pub async fn run_task_poller(self) {
        let mut tick = tokio::time::interval(self.config().task_poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.poll_tasks_once().await {
                tracing::warn!(error = %e, "could not read terminal tasks");
            }
        }
    }

    /// One pass of [`Engine::run_task_poller`].
    pub async fn poll_tasks_once(&self) -> Result<(), StoreError> {
        let store = self.store();
        for task in store.pending_terminal_tasks().await? {
            let Ok(session) = Uuid::parse_str(task.args.trim()) else {
                store.finish_terminal_task(task.id).await?;
                continue;
            };
            match task.name.as_str() {
                "kill_session" => {
                    let by = task.created_by.clone();
                    // Done when the session runs here (it ends now) or is over anyway;
                    // otherwise it runs in another process, which will take the task.
                    let done = self.kill(session, EndReason::AdminTerminate { by })
                        || store
                            .session_record(None, session)
                            .await?
                            .is_none_or(|s| s.is_finished);
                    if done {
                        store.finish_terminal_task(task.id).await?;
                    }
                }
                "lock_session" | "unlock_session" => {
                    let by = (task.name == "lock_session").then(|| task.created_by.clone());
                    let done = self.set_lock(session, by)
                        || store
                            .session_record(None, session)
                            .await?
                            .is_none_or(|s| s.is_finished);
                    if done {
                        store.finish_terminal_task(task.id).await?;
                    }
                }
                // Unknown tasks are closed so they do not pile up.
                _ => {
                    store.finish_terminal_task(task.id).await?;
                }
            }
        }
        Ok(())
    }
}

/// A running session. End it with [`LiveSession::end`]; dropping it without ending leaves
/// the row online until the next start of the gateway closes it.
pub struct LiveSession {
    /// Session id.
    pub id: Uuid,
    engine: Engine,
    org: Uuid,
    user_id: Uuid,
    user: String,
    asset: String,
    account: String,
    remote_addr: String,
    recorder: Option<Recorder>,
    replay_path: String,
    kill: watch::Receiver<Option<EndReason>>,
    lock: watch::Receiver<Option<String>>,
    screen: Option<Arc<SharedScreen>>,
    started: DateTime<Utc>,
    date_expired: DateTime<Utc>,
    commands: i64,
}

impl LiveSession {
    /// The recording, for terminal sessions.
    pub fn recorder(&self) -> Option<&Recorder> {
        self.recorder.as_ref()
    }

    /// When the session started.
    pub fn started(&self) -> DateTime<Utc> {
        self.started
    }

    /// When the permission behind it expires.
    pub fn date_expired(&self) -> DateTime<Utc> {
        self.date_expired
    }

    /// A receiver that yields the reason when the session is killed.
    pub fn kill_signal(&self) -> watch::Receiver<Option<EndReason>> {
        self.kill.clone()
    }

    /// A receiver of the lock state: `Some(by)` while an auditor has locked the user's input.
    pub fn lock_signal(&self) -> watch::Receiver<Option<String>> {
        self.lock.clone()
    }

    /// Whether the user's input is locked now.
    pub fn is_locked(&self) -> bool {
        self.lock.borrow().is_some()
    }

    /// The session's screen, for terminal sessions.
    pub fn screen(&self) -> Option<&Arc<SharedScreen>> {
        self.screen.as_ref()
    }

    /// The store, for front doors that log file transfers.
    pub fn store(&self) -> &Store {
        self.engine.store()
    }

    /// The session's org (its asset's).
    pub fn org(&self) -> Uuid {
        self.org
    }

    /// The user's id.
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    /// `Name(username)` of the user.
    pub fn user_display(&self) -> &str {
        &self.user
    }

    /// The asset's name.
    pub fn asset_display(&self) -> &str {
        &self.asset
    }

    /// `name(username)` of the account.
    pub fn account_display(&self) -> &str {
        &self.account
    }

    /// The client address.
    pub fn remote_addr(&self) -> &str {
        &self.remote_addr
    }

    /// Records a command with its output excerpt and risk level (0 accept, 4 warning,
    /// 5 reject, 6/7/8 review outcomes).
    pub async fn record_command(
        &mut self,
        input: &str,
        output: &str,
        risk_level: i64,
    ) -> Result<(), StoreError> {
        self.commands += 1;
        self.engine
            .store()
            .insert_command(&NewCommand {
                org: self.org,
                session_id: self.id,
                user: self.user.clone(),
                asset: self.asset.clone(),
                account: self.account.clone(),
                input: input.to_owned(),
                output: output.to_owned(),
                risk_level,
                timestamp: Utc::now(),
                remote_addr: self.remote_addr.clone(),
            })
            .await
            .map(|_| ())
    }

    /// Ends the session: closes the recording, writes the end, the reason and the replay,
    /// and unregisters it. Failures are logged: the session is over either way.
    pub async fn end(mut self, reason: &EndReason) {
        let replay_size = match self.recorder.take() {
            Some(r) => match r.finish().await {
                Ok(n) => i64::try_from(n).unwrap_or(i64::MAX),
                Err(e) => {
                    tracing::error!(session = %self.id, error = %e, "the recording could not be completed");
                    0
                }
            },
            None => 0,
        };
        self.finish(reason, true, replay_size).await;
    }

    async fn end_failed(mut self, reason: &EndReason) {
        if let Some(r) = self.recorder.take() {
            let _ = r.finish().await;
        }
        self.finish(reason, false, 0).await;
    }

    async fn finish(self, reason: &EndReason, success: bool, replay_size: i64) {
        self.engine.registry().remove(&self.id);
        if let Some(screen) = &self.screen {
            screen.end(reason.code());
        }
        let store = self.engine.store();
        let end = SessionEnd {
            date_end: Utc::now(),
            is_success: success,
            error_reason: if success { "" } else { "connect_failed" }.into(),
            replay_size,
            replay_path: if replay_size > 0 {
                self.replay_path.clone()
            } else {
                String::new()
            },
        };
        if let Err(e) = store.finish_session(self.id, &end).await {
            tracing::error!(session = %self.id, error = %e, "could not write the end of a session");
        }
        if let Err(e) = store.set_session_end_reason(self.id, reason.code()).await {
            tracing::error!(session = %self.id, error = %e, "could not write a session's end reason");
        }
        let event = if success {
            "asset_connect_finished"
        } else {
            "asset_connect_failed"
        };
        let _ = store
            .insert_session_lifecycle_log(self.id, event, reason.code(), &self.user)
            .await;
    }
}

/// Where a session's recording lives, given the recordings directory and its `replay_path`.
pub fn replay_file(recordings_dir: &Path, replay_path: &str) -> PathBuf {
    recordings_dir.join(replay_path)
}
