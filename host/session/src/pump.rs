//! The byte pump between a front door (the user's SSH channel, later a websocket) and the
//! target's SSH channel, with the recorder, command capture and filtering in the path.
//!
//! Back-pressure: every step awaits the next (reading from one side, writing to the other,
//! handing bytes to the recorder's bounded queue), so a side that stops reading stops the
//! other side's flow instead of filling memory.
//!
//! Commands are decided when the user presses Enter: the Enter is held, the echo of what was
//! typed is let through (until the target has been quiet for [`ECHO_QUIET`], at most
//! [`ECHO_MAX`]), the line is read from the emulated screen by [`CommandCapture`], and the
//! core's decision is applied: the Enter is forwarded, or the line is discarded on the target
//! (`Ctrl-E Ctrl-U` then Enter, as KoKo does) and the user told why.
//!
//! The emulated screen the commands are read from is the session's [`SharedScreen`], which
//! auditors watch and resumed browsers redraw from. While an auditor holds the session locked,
//! the user's input is discarded; the user is told once when the lock starts and once when it
//! ends ([`Front::notice`]).

use crate::authorize::CommandPolicy;
use crate::filter::{self, Verdict, risk};
use crate::live::{EndReason, LiveSession};
use crate::review::{self, ReviewOutcome, ReviewRequest};
use crate::screen::{REST_AFTER, SharedScreen};
use bytes::Bytes;
use chrono::Utc;
use portcullis_store::tickets::TicketKind;
use russh::ChannelMsg;
use russh::client::Msg;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, sleep_until, timeout};

/// Output silence after which the echo of a typed line is taken as complete.
pub const ECHO_QUIET: Duration = Duration::from_millis(30);
/// The longest an Enter is held waiting for the echo.
pub const ECHO_MAX: Duration = Duration::from_millis(500);

/// What the front door delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontEvent {
    /// Bytes typed or sent by the user.
    Data(Vec<u8>),
    /// The user's terminal changed size.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// The user sent EOF (no more input).
    Eof,
}

/// The user's side of a session, as the pump sees it.
pub trait Front: Send {
    /// The next event; `None` when the user's channel is gone.
    fn recv(&mut self) -> impl Future<Output = Option<FrontEvent>> + Send;
    /// Output for the user (stdout).
    fn send(&mut self, data: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
    /// Like [`Front::send`] for a shared buffer: bulk output is passed on without a copy.
    fn send_shared(&mut self, data: Bytes) -> impl Future<Output = io::Result<()>> + Send;
    /// Error output for the user (stderr); terminals merge it into [`Front::send`].
    fn send_stderr(&mut self, data: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
    /// Tells the user something about the session itself (not output of the target). By
    /// default a coloured line on their terminal; a front with its own signalling (the web
    /// terminal's JSON messages) overrides it.
    fn notice(&mut self, notice: &Notice) -> impl Future<Output = io::Result<()>> + Send {
        let line = notice_line(notice);
        async move { self.send(line.as_bytes()).await }
    }
}

/// Session events the user is told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// An auditor locked the user's input: what they type is discarded.
    Locked {
        /// Who locked it.
        by: String,
    },
    /// The lock was lifted.
    Unlocked,
}

impl Notice {
    /// The words for a terminal line.
    pub fn text(&self) -> String {
        match self {
            Notice::Locked { by } => {
                format!("The session has been locked by {by}; input is disabled")
            }
            Notice::Unlocked => "The session has been unlocked; input is enabled".into(),
        }
    }
}

/// The terminal line a notice is shown as (what [`Front::notice`] writes by default).
pub fn notice_line(notice: &Notice) -> String {
    format!("\r\n\x1b[33m{}\x1b[0m\r\n", notice.text())
}

/// Puts a lock or unlock notice in the session's recording, so a replay shows when and by whom
/// the user's input was locked. A recording that fails here has failed for the pump too, which
/// ends the session on its next write; this only logs.
async fn record_notice(session: &LiveSession, notice: &Notice) {
    if let Some(r) = session.recorder()
        && let Err(e) = r.output(notice_line(notice).as_bytes()).await
    {
        tracing::error!(session = %session.id, error = %e, "could not record a notice");
    }
}

/// Limits applied while a session runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// End after this long without user input.
    pub idle: Option<Duration>,
    /// End after this long in total.
    pub max_duration: Option<Duration>,
}

/// How a pumped channel finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// Why.
    pub reason: EndReason,
    /// The target's exit status, if it sent one.
    pub exit_status: Option<u32>,
}

/// Deadlines of the session: idle, maximum duration, permission expiry.
struct Deadlines {
    limits: Limits,
    last_input: Instant,
    hard: Option<(Instant, EndReason)>,
}

impl Deadlines {
    fn new(session: &LiveSession, limits: Limits) -> Deadlines {
        let now = Instant::now();
        let expiry = (session.date_expired() - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        let mut hard = Some((now + expiry, EndReason::PermissionExpired));
        if let Some(max) = limits.max_duration
            && max < expiry
        {
            hard = Some((now + max, EndReason::MaxDuration));
        }
        Deadlines {
            limits,
            last_input: now,
            hard,
        }
    }

    /// The next deadline and the reason it ends the session with.
    fn next(&self) -> (Instant, EndReason) {
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        let mut best = (far, EndReason::Normal);
        if let Some(idle) = self.limits.idle {
            best = (
                self.last_input + idle,
                EndReason::Idle {
                    minutes: idle.as_secs().div_ceil(60),
                },
            );
        }
        if let Some((at, reason)) = &self.hard
            && *at < best.0
        {
            best = (*at, reason.clone());
        }
        best
    }
}

/// Runs an interactive shell on the target (`pty` = term, cols, rows) until either side ends
/// it or a limit, a kill or the permission's expiry does.
pub async fn run_shell<F: Front>(
    session: &mut LiveSession,
    target: &mut russh::Channel<Msg>,
    front: &mut F,
    policy: &CommandPolicy,
    pty: (&str, u16, u16),
    limits: Limits,
) -> Finished {
    let (term, cols, rows) = pty;
    if let Err(e) = async {
        target
            .request_pty(true, term, u32::from(cols), u32::from(rows), 0, 0, &[])
            .await?;
        target.request_shell(true).await
    }
    .await
    {
        return Finished {
            reason: EndReason::ConnectFailed {
                message: format!("The asset refused a terminal: {e}"),
            },
            exit_status: None,
        };
    }
    let mut deadlines = Deadlines::new(session, limits);
    let screen = match session.screen() {
        Some(s) => {
            s.resize(cols, rows);
            s.clone()
        }
        None => SharedScreen::new(cols, rows),
    };
    let mut shell = Shell {
        screen,
        pending: None,
        exit_status: None,
        hard: deadlines.hard.clone(),
    };
    let mut kill = session.kill_signal();
    let mut lock = session.lock_signal();
    // Whether the user was last told the session is locked.
    let mut told_locked = false;
    let mut lock_open = true;
    // The last byte in either direction, while the screen is awake (see `REST_AFTER`).
    let mut active: Option<Instant> = Some(Instant::now());
    let reason = loop {
        let (deadline, deadline_reason) = deadlines.next();
        let wake_at = match active {
            Some(at) if at + REST_AFTER < deadline => at + REST_AFTER,
            _ => deadline,
        };
        tokio::select! {
            changed = lock.changed(), if lock_open => {
                if changed.is_err() {
                    // Unregistered: the session is ending anyway.
                    lock_open = false;
                    continue;
                }
                let by = lock.borrow_and_update().clone();
                let notice = match (by, told_locked) {
                    (Some(by), false) => Notice::Locked { by },
                    (None, true) => Notice::Unlocked,
                    _ => continue,
                };
                told_locked = !told_locked;
                record_notice(session, &notice).await;
                if front.notice(&notice).await.is_err() {
                    break EndReason::Normal;
                }
            }
            msg = target.wait() => {
                active = Some(Instant::now());
                match shell.on_target(session, front, msg).await {
                    Ok(true) => {}
                    Ok(false) => break EndReason::Normal,
                    Err(_) => break EndReason::Normal,
                }
            }
            ev = front.recv() => match ev {
                // Input while locked is dropped: not forwarded, not recorded, and not
                // activity for the idle limit.
                Some(FrontEvent::Data(_)) if session.is_locked() => {}
                Some(FrontEvent::Data(data)) => {
                    deadlines.last_input = Instant::now();
                    active = Some(deadlines.last_input);
                    if let Some(r) = session.recorder()
                        && let Err(e) = r.input(&data).await
                    {
                        tracing::error!(session = %session.id, error = %e, "recording failed");
                        break EndReason::Normal;
                    }
                    match shell.on_input(session, target, front, policy, &data).await {
                        Ok(None) => {}
                        Ok(Some(reason)) => break reason,
                        Err(_) => break EndReason::Normal,
                    }
                }
                Some(FrontEvent::Resize { cols, rows }) => {
                    shell.screen.resize(cols, rows);
                    if let Some(r) = session.recorder() {
                        let _ = r.resize(cols, rows).await;
                    }
                    let _ = target.window_change(u32::from(cols), u32::from(rows), 0, 0).await;
                }
                Some(FrontEvent::Eof) => {
                    let _ = target.eof().await;
                }
                None => break EndReason::Normal,
            },
            changed = kill.changed() => {
                if changed.is_ok()
                    && let Some(reason) = kill.borrow().clone()
                {
                    break reason;
                }
            }
            _ = sleep_until(wake_at) => {
                if wake_at >= deadline {
                    break deadline_reason;
                }
                shell.screen.rest();
                active = None;
            }
        }
    };
    shell.flush_pending(session).await;
    if let Some(msg) = reason.message() {
        let _ = front
            .send(format!("\r\n\x1b[31m{msg}\x1b[0m\r\n").as_bytes())
            .await;
    }
    let _ = target.close().await;
    Finished {
        reason,
        exit_status: shell.exit_status,
    }
}

/// How a held command's review ended.
enum Reviewed {
    Approved(String),
    Rejected(String),
    Cancelled,
    /// The session ends while waiting.
    Ended(EndReason),
}

fn red(text: &str) -> String {
    format!("\r\n\x1b[31m{text}\x1b[0m\r\n")
}

struct Shell {
    /// The session's screen; its emulator is the command capture.
    screen: Arc<SharedScreen>,
    /// The accepted command whose output is being collected, with its risk level.
    pending: Option<(String, i64)>,
    exit_status: Option<u32>,
    /// The session's hard deadline (permission expiry, maximum duration): a review still
    /// waiting then ends with the session.
    hard: Option<(Instant, EndReason)>,
}

/// Sleeps until the hard deadline and gives its reason; never without one.
async fn hard_deadline(hard: &Option<(Instant, EndReason)>) -> EndReason {
    match hard {
        Some((at, reason)) => {
            sleep_until(*at).await;
            reason.clone()
        }
        None => std::future::pending().await,
    }
}

impl Shell {
    /// Handles one message from the target; `Ok(false)` when the target is done.
    async fn on_target<F: Front>(
        &mut self,
        session: &mut LiveSession,
        front: &mut F,
        msg: Option<ChannelMsg>,
    ) -> io::Result<bool> {
        match msg {
            Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                self.output(session, front, data).await?;
                Ok(true)
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => {
                self.exit_status = Some(exit_status);
                Ok(true)
            }
            Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                self.exit_status = Some(signal_status(&signal_name));
                Ok(true)
            }
            Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) | None => Ok(false),
            Some(_) => Ok(true),
        }
    }

    async fn output<F: Front>(
        &mut self,
        session: &mut LiveSession,
        front: &mut F,
        data: Bytes,
    ) -> io::Result<()> {
        if let Some(r) = session.recorder() {
            r.output_shared(data.clone())
                .await
                .map_err(io::Error::other)?;
        }
        self.screen.output(&data);
        front.send_shared(data).await
    }

    /// Handles user input: forwards everything but Enter at once, decides each Enter.
    /// `Ok(Some(reason))` when the session must end (target gone, killed while a review
    /// waited).
    async fn on_input<F: Front>(
        &mut self,
        session: &mut LiveSession,
        target: &mut russh::Channel<Msg>,
        front: &mut F,
        policy: &CommandPolicy,
        data: &[u8],
    ) -> io::Result<Option<EndReason>> {
        let mut rest = data;
        while !rest.is_empty() {
            let Some(enter) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
                self.screen.with(|c| c.feed_input(rest));
                target
                    .data_bytes(rest.to_vec())
                    .await
                    .map_err(io::Error::other)?;
                break;
            };
            let (before, after) = rest.split_at(enter);
            if !before.is_empty() {
                self.screen.with(|c| c.feed_input(before));
                target
                    .data_bytes(before.to_vec())
                    .await
                    .map_err(io::Error::other)?;
            }
            // `\r\n` from a paste is one Enter.
            let enter_len = if after.starts_with(b"\r\n") { 2 } else { 1 };
            let (enter_bytes, after) = after.split_at(enter_len);
            rest = after;
            // Text sent together with the Enter (a paste, a browser sending a whole line)
            // has not been echoed yet: wait for the echo to start, not only for quiet.
            let fresh = !before.is_empty();
            if !self.let_echo_through(session, target, front, fresh).await? {
                return Ok(Some(EndReason::Normal));
            }
            let line = self.screen.with(|c| {
                if c.in_alternate_screen() {
                    None
                } else {
                    c.line_at_enter()
                }
            });
            let Some(line) = line else {
                target
                    .data_bytes(enter_bytes.to_vec())
                    .await
                    .map_err(io::Error::other)?;
                continue;
            };
            self.flush_pending(session).await;
            let (run, risk_level, notice) = match filter::verdict(&policy.decide(&line), &line) {
                Verdict::Run { risk_level } => (true, risk_level, None),
                Verdict::Refuse { risk_level, notice } => (false, risk_level, Some(red(&notice))),
                Verdict::Review { reviewers, .. } => {
                    match self
                        .review(session, target, front, &line, reviewers)
                        .await?
                    {
                        Reviewed::Approved(by) => (
                            true,
                            risk::REVIEW_ACCEPT,
                            Some(format!("\r\n\x1b[32m{by} approved\x1b[0m\r\n")),
                        ),
                        Reviewed::Rejected(by) => (
                            false,
                            risk::REVIEW_REJECT,
                            Some(format!(
                                "\r\n\x1b[31m{by} rejected\x1b[0m{}",
                                red(&filter::forbidden(&line))
                            )),
                        ),
                        Reviewed::Cancelled => (
                            false,
                            risk::REVIEW_CANCEL,
                            Some(red("Cancelled; the command was not run")),
                        ),
                        Reviewed::Ended(reason) => {
                            let _ = session.record_command(&line, "", risk::REVIEW_CANCEL).await;
                            return Ok(Some(reason));
                        }
                    }
                }
            };
            if let Some(text) = &notice {
                if let Some(r) = session.recorder() {
                    r.output(text.as_bytes()).await.map_err(io::Error::other)?;
                }
                front.send(text.as_bytes()).await?;
            }
            if run {
                target
                    .data_bytes(enter_bytes.to_vec())
                    .await
                    .map_err(io::Error::other)?;
                self.screen.with(|c| c.begin_output());
                self.pending = Some((line, risk_level));
            } else {
                // Discard the typed line on the target and show a fresh prompt.
                target
                    .data_bytes(b"\x05\x15\r".to_vec())
                    .await
                    .map_err(io::Error::other)?;
                if let Err(e) = session.record_command(&line, "", risk_level).await {
                    tracing::error!(session = %session.id, error = %e, "could not record a command");
                }
                // Whatever else was pasted after a refused line is dropped with it: it was
                // written to follow that command.
                rest = &[];
            }
        }
        Ok(None)
    }

    /// Asks the user whether to request a review, opens it, and waits for the answer while
    /// the user may cancel (Ctrl-C, Ctrl-D), the session may be killed, and the target's
    /// output keeps flowing.
    async fn review<F: Front>(
        &mut self,
        session: &mut LiveSession,
        target: &mut russh::Channel<Msg>,
        front: &mut F,
        line: &str,
        reviewers: Vec<uuid::Uuid>,
    ) -> io::Result<Reviewed> {
        let mut kill = session.kill_signal();
        let hard = self.hard.clone();
        front
            .send(
                format!(
                    "\r\n\x1b[33mThe command `{line}` requires review. Continue or not [Y/n]? \x1b[0m"
                )
                .as_bytes(),
            )
            .await?;
        // The answer is typed to the gateway, not to the asset.
        let mut answer = String::new();
        loop {
            tokio::select! {
                ev = front.recv() => match ev {
                    Some(FrontEvent::Data(_)) if session.is_locked() => {}
                    Some(FrontEvent::Data(data)) => {
                        let mut done = false;
                        for &b in &data {
                            match b {
                                b'\r' | b'\n' => { done = true; break; }
                                0x03 | 0x04 => { answer = "n".into(); done = true; break; }
                                0x7f | 0x08 if answer.pop().is_some() => {
                                    front.send(b"\x08 \x08").await?;
                                }
                                b if b.is_ascii_graphic() && answer.len() < 16 => {
                                    answer.push(char::from(b));
                                    front.send(&[b]).await?;
                                }
                                _ => {}
                            }
                        }
                        if done { break; }
                    }
                    Some(FrontEvent::Resize { cols, rows }) => self.screen.resize(cols, rows),
                    Some(FrontEvent::Eof) | None => return Ok(Reviewed::Ended(EndReason::Normal)),
                },
                changed = kill.changed() => {
                    let reason = if changed.is_ok() { kill.borrow().clone() } else { None };
                    if let Some(reason) = reason {
                        return Ok(Reviewed::Ended(reason));
                    }
                }
                reason = hard_deadline(&hard) => return Ok(Reviewed::Ended(reason)),
            }
        }
        front.send(b"\r\n").await?;
        if !matches!(
            answer.trim().to_ascii_lowercase().as_str(),
            "" | "y" | "yes"
        ) {
            return Ok(Reviewed::Cancelled);
        }
        let store = session.store().clone();
        let request = ReviewRequest {
            org: session.org(),
            kind: TicketKind::CommandConfirm,
            title: format!("Command review: {line}"),
            applicant_id: session.user_id(),
            applicant_display: session.user_display().to_owned(),
            reviewers,
            meta: serde_json::json!({
                "apply_run_command": line,
                "apply_run_session": session.id,
                "apply_run_asset": session.asset_display(),
                "apply_run_account": session.account_display(),
                "apply_from_cmd_filter_acl": serde_json::Value::Null,
            }),
        };
        let open = match review::open(&store, &request).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(session = %session.id, error = %e, "could not open a command review");
                front
                    .send(
                        red("The review could not be requested; the command was not run")
                            .as_bytes(),
                    )
                    .await?;
                return Ok(Reviewed::Cancelled);
            }
        };
        front
            .send(
                format!(
                    "Please wait for the reviewers to confirm command `{line}`, cancel by CTRL+C or CTRL+D.\r\n\
                     Ticket Reviewers: {}\r\nTicket: /api/v1/tickets/tickets/{}/\r\n",
                    open.reviewers.join(", "),
                    open.ticket_id
                )
                .as_bytes(),
            )
            .await?;
        let by = session.user_display().to_owned();
        let mut tick = tokio::time::interval(review::POLL_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => match review::poll(&store, open.ticket_id).await {
                    Ok(Some(ReviewOutcome::Approved(who))) => return Ok(Reviewed::Approved(who)),
                    Ok(Some(ReviewOutcome::Rejected(who))) => return Ok(Reviewed::Rejected(who)),
                    Ok(Some(ReviewOutcome::Closed)) => return Ok(Reviewed::Cancelled),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "could not read a review ticket"),
                },
                ev = front.recv() => match ev {
                    Some(FrontEvent::Data(_)) if session.is_locked() => {}
                    Some(FrontEvent::Data(data)) if data.iter().any(|b| *b == 0x03 || *b == 0x04) => {
                        review::cancel(&store, open.ticket_id, &by).await;
                        return Ok(Reviewed::Cancelled);
                    }
                    Some(FrontEvent::Resize { cols, rows }) => self.screen.resize(cols, rows),
                    Some(_) => {}
                    None => {
                        review::cancel(&store, open.ticket_id, &by).await;
                        return Ok(Reviewed::Ended(EndReason::Normal));
                    }
                },
                msg = target.wait() => {
                    if !self.on_target(session, front, msg).await? {
                        review::cancel(&store, open.ticket_id, &by).await;
                        return Ok(Reviewed::Ended(EndReason::Normal));
                    }
                }
                changed = kill.changed() => {
                    let reason = if changed.is_ok() { kill.borrow().clone() } else { None };
                    if let Some(reason) = reason {
                        review::cancel(&store, open.ticket_id, &by).await;
                        return Ok(Reviewed::Ended(reason));
                    }
                }
                reason = hard_deadline(&hard) => {
                    review::cancel(&store, open.ticket_id, &by).await;
                    return Ok(Reviewed::Ended(reason));
                }
            }
        }
    }

    /// Relays target output until it has been quiet for [`ECHO_QUIET`] (at most
    /// [`ECHO_MAX`]), so the screen shows what the user typed before it is read. With
    /// `fresh` (input just sent, its echo still to come) the first output is awaited for up
    /// to [`ECHO_MAX`] rather than [`ECHO_QUIET`]: a busy target or host can take longer
    /// than the quiet period to echo, and reading the line before the echo would see
    /// nothing typed.
    async fn let_echo_through<F: Front>(
        &mut self,
        session: &mut LiveSession,
        target: &mut russh::Channel<Msg>,
        front: &mut F,
        fresh: bool,
    ) -> io::Result<bool> {
        let until = Instant::now() + ECHO_MAX;
        let mut awaiting_echo = fresh;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(true);
            }
            let wait = if awaiting_echo {
                left
            } else {
                ECHO_QUIET.min(left)
            };
            awaiting_echo = false;
            match timeout(wait, target.wait()).await {
                Err(_) => return Ok(true),
                Ok(msg) => {
                    if !self.on_target(session, front, msg).await? {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// Records the accepted command whose output was being collected.
    async fn flush_pending(&mut self, session: &mut LiveSession) {
        if let Some((line, level)) = self.pending.take() {
            let output = self.screen.with(|c| c.take_output());
            if let Err(e) = session.record_command(&line, &output, level).await {
                tracing::error!(session = %session.id, error = %e, "could not record a command");
            }
        }
    }
}

/// The terminal a client asked for before `exec` (`ssh -t bastion cmd`): the target gets the
/// same one, as OpenSSH (direct or `ssh -J`) would give the command, so `sudo`, `top` or
/// `vim` run as a command see a tty of the client's size and modes.
#[derive(Debug, Clone, Copy)]
pub struct ExecPty<'a> {
    /// `TERM` the client sent.
    pub term: &'a str,
    /// Columns, then rows, at the time of the request.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
    /// The client's encoded terminal modes, passed on unchanged.
    pub modes: &'a [(russh::Pty, u32)],
}

/// Runs one command on the target (`ssh bastion cmd`, `scp`), relaying stdin, stdout, stderr
/// and the exit status. The command is decided by the filter first. Without `pty` the
/// command has no terminal; with one (the client sent `pty-req` before `exec`) the target is
/// asked for the same terminal and window changes are passed on and recorded. Either way
/// the session stays a command session: the command is the exec line (what the filter
/// decided and what is recorded with its output), and keys typed into the command's
/// terminal are its input, not further commands.
pub async fn run_exec<F: Front>(
    session: &mut LiveSession,
    target: &mut russh::Channel<Msg>,
    front: &mut F,
    policy: &CommandPolicy,
    command: &str,
    pty: Option<ExecPty<'_>>,
    limits: Limits,
) -> Finished {
    // What the client sends while a review waits, passed on once the command runs.
    let mut held = HeldInput::default();
    let refusal = match filter::verdict(&policy.decide(command), command) {
        Verdict::Run { risk_level } => Err(risk_level),
        Verdict::Refuse { risk_level, notice } => Ok((risk_level, notice)),
        Verdict::Review { reviewers, .. } => {
            let hard = Deadlines::new(session, limits).hard;
            match exec_review(session, front, command, reviewers, &mut held, hard).await {
                Reviewed::Approved(_) => Err(risk::REVIEW_ACCEPT),
                Reviewed::Rejected(by) => Ok((
                    risk::REVIEW_REJECT,
                    format!("{by} rejected; {}", filter::forbidden(command)),
                )),
                Reviewed::Cancelled => Ok((risk::REVIEW_CANCEL, "Review cancelled".into())),
                Reviewed::Ended(reason) => {
                    if let Some(msg) = reason.message() {
                        let _ = front.send_stderr(format!("{msg}\r\n").as_bytes()).await;
                    }
                    let _ = session
                        .record_command(command, "", risk::REVIEW_CANCEL)
                        .await;
                    let _ = target.close().await;
                    return Finished {
                        reason,
                        exit_status: Some(1),
                    };
                }
            }
        }
    };
    let risk_level = match refusal {
        Err(level) => level,
        Ok((level, notice)) => {
            let _ = front.send_stderr(format!("{notice}\r\n").as_bytes()).await;
            if let Err(e) = session.record_command(command, "", level).await {
                tracing::error!(session = %session.id, error = %e, "could not record a command");
            }
            let _ = target.close().await;
            return Finished {
                reason: EndReason::Normal,
                exit_status: Some(1),
            };
        }
    };
    if let Some(p) = pty
        && let Err(e) = target
            .request_pty(
                true,
                p.term,
                u32::from(p.cols),
                u32::from(p.rows),
                0,
                0,
                p.modes,
            )
            .await
    {
        return Finished {
            reason: EndReason::ConnectFailed {
                message: format!("The asset refused a terminal: {e}"),
            },
            exit_status: None,
        };
    }
    if let Err(e) = target.exec(true, command.as_bytes()).await {
        return Finished {
            reason: EndReason::ConnectFailed {
                message: format!("The asset refused the command: {e}"),
            },
            exit_status: None,
        };
    }
    if !held.data.is_empty() {
        let _ = target.data_bytes(std::mem::take(&mut held.data)).await;
    }
    if held.eof {
        let _ = target.eof().await;
    }
    let mut excerpt = Excerpt::default();
    let mut exit_status = None;
    let mut deadlines = Deadlines::new(session, limits);
    // Exec sessions carry no interactive typing: idleness is about traffic either way.
    let mut kill = session.kill_signal();
    let mut front_open = true;
    // While an auditor holds the session locked the command's output is held (the target's
    // channel is not read, so its window fills and the command blocks on its own writes)
    // and what the client sends is discarded, as in a shell; the client is told on stderr,
    // which a pipe of stdout does not mix with.
    let mut lock = session.lock_signal();
    let mut lock_open = true;
    let mut locked = session.is_locked();
    if locked {
        let by = lock.borrow_and_update().clone().unwrap_or_default();
        let notice = Notice::Locked { by };
        record_notice(session, &notice).await;
        let _ = front.send_stderr(notice_line(&notice).as_bytes()).await;
    }
    let reason = loop {
        let (deadline, deadline_reason) = deadlines.next();
        tokio::select! {
            changed = lock.changed(), if lock_open => {
                if changed.is_err() {
                    lock_open = false;
                    continue;
                }
                let by = lock.borrow_and_update().clone();
                let notice = match (by, locked) {
                    (Some(by), false) => Notice::Locked { by },
                    (None, true) => Notice::Unlocked,
                    _ => continue,
                };
                locked = !locked;
                // A held session is not idle by the client's fault: the idle clock restarts
                // when the lock is lifted.
                deadlines.last_input = Instant::now();
                record_notice(session, &notice).await;
                if front.send_stderr(notice_line(&notice).as_bytes()).await.is_err() {
                    break EndReason::Normal;
                }
            }
            msg = target.wait(), if !locked => match msg {
                Some(ChannelMsg::Data { data }) => {
                    deadlines.last_input = Instant::now();
                    excerpt.push(&data);
                    if let Some(r) = session.recorder()
                        && let Err(e) = r.output_shared(data.clone()).await
                    {
                        tracing::error!(session = %session.id, error = %e, "recording failed");
                        break EndReason::Normal;
                    }
                    if front.send_shared(data).await.is_err() {
                        break EndReason::Normal;
                    }
                }
                Some(ChannelMsg::ExtendedData { data, .. }) => {
                    deadlines.last_input = Instant::now();
                    excerpt.push(&data);
                    if front.send_stderr(&data).await.is_err() {
                        break EndReason::Normal;
                    }
                }
                Some(ChannelMsg::ExitStatus { exit_status: s }) => exit_status = Some(s),
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    exit_status = Some(signal_status(&signal_name));
                }
                Some(ChannelMsg::Eof) => {}
                Some(ChannelMsg::Close) | None => break EndReason::Normal,
                Some(_) => {}
            },
            ev = front.recv(), if front_open => match ev {
                // Sent while locked: discarded, not forwarded.
                Some(FrontEvent::Data(_)) if locked => {}
                Some(FrontEvent::Data(data)) => {
                    deadlines.last_input = Instant::now();
                    if target.data_bytes(data).await.is_err() {
                        break EndReason::Normal;
                    }
                }
                // Without a terminal on the target a window size means nothing to it.
                Some(FrontEvent::Resize { .. }) if pty.is_none() => {}
                Some(FrontEvent::Resize { cols, rows }) => {
                    if let Some(r) = session.recorder() {
                        let _ = r.resize(cols, rows).await;
                    }
                    let _ = target.window_change(u32::from(cols), u32::from(rows), 0, 0).await;
                }
                Some(FrontEvent::Eof) => {
                    let _ = target.eof().await;
                }
                None => {
                    front_open = false;
                    let _ = target.eof().await;
                }
            },
            changed = kill.changed() => {
                if changed.is_ok()
                    && let Some(reason) = kill.borrow().clone()
                {
                    break reason;
                }
            }
            _ = sleep_until(deadline) => break deadline_reason,
        }
    };
    if let Some(msg) = reason.message() {
        let _ = front.send_stderr(format!("{msg}\r\n").as_bytes()).await;
    }
    if let Err(e) = session
        .record_command(command, &excerpt.text(), risk_level)
        .await
    {
        tracing::error!(session = %session.id, error = %e, "could not record a command");
    }
    let _ = target.close().await;
    Finished {
        reason,
        exit_status,
    }
}

/// A review for a command run without a terminal: nothing to ask, so the review is
/// requested at once and the client waits (closing it cancels).
async fn exec_review<F: Front>(
    session: &mut LiveSession,
    front: &mut F,
    command: &str,
    reviewers: Vec<uuid::Uuid>,
    held: &mut HeldInput,
    hard: Option<(Instant, EndReason)>,
) -> Reviewed {
    let store = session.store().clone();
    let by = session.user_display().to_owned();
    let request = ReviewRequest {
        org: session.org(),
        kind: TicketKind::CommandConfirm,
        title: format!("Command review: {command}"),
        applicant_id: session.user_id(),
        applicant_display: by.clone(),
        reviewers,
        meta: serde_json::json!({
            "apply_run_command": command,
            "apply_run_session": session.id,
            "apply_run_asset": session.asset_display(),
            "apply_run_account": session.account_display(),
        }),
    };
    let open = match review::open(&store, &request).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(session = %session.id, error = %e, "could not open a command review");
            return Reviewed::Cancelled;
        }
    };
    let _ = front
        .send_stderr(
            format!(
                "The command `{command}` requires review; waiting for {} (ticket /api/v1/tickets/tickets/{}/)\r\n",
                open.reviewers.join(", "),
                open.ticket_id
            )
            .as_bytes(),
        )
        .await;
    let mut kill = session.kill_signal();
    let mut tick = tokio::time::interval(review::POLL_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => match review::poll(&store, open.ticket_id).await {
                Ok(Some(ReviewOutcome::Approved(who))) => return Reviewed::Approved(who),
                Ok(Some(ReviewOutcome::Rejected(who))) => return Reviewed::Rejected(who),
                Ok(Some(ReviewOutcome::Closed)) => return Reviewed::Cancelled,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not read a review ticket"),
            },
            ev = front.recv(), if held.data.len() < HeldInput::MAX => match ev {
                Some(FrontEvent::Data(data)) => held.data.extend_from_slice(&data),
                Some(FrontEvent::Eof) => held.eof = true,
                Some(FrontEvent::Resize { .. }) => {}
                None => {
                    review::cancel(&store, open.ticket_id, &by).await;
                    return Reviewed::Ended(EndReason::Normal);
                }
            },
            changed = kill.changed() => {
                let reason = if changed.is_ok() { kill.borrow().clone() } else { None };
                    if let Some(reason) = reason {
                    review::cancel(&store, open.ticket_id, &by).await;
                    return Reviewed::Ended(reason);
                }
            }
            reason = hard_deadline(&hard) => {
                review::cancel(&store, open.ticket_id, &by).await;
                return Reviewed::Ended(reason);
            }
        }
    }
}

/// The exit status a shell reports for a command killed by `sig` (128 + its number, 255
/// for a signal without one): a command the asset killed must not look successful.
fn signal_status(sig: &russh::Sig) -> u32 {
    use russh::Sig;
    128 + match sig {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::USR1 => 10,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        Sig::Custom(_) => 127,
    }
}

/// Input (stdin, its end) a client sent while its command waited for a review. Beyond
/// [`HeldInput::MAX`] bytes the client is no longer read, so the SSH window holds it back.
#[derive(Default)]
struct HeldInput {
    data: Vec<u8>,
    eof: bool,
}

impl HeldInput {
    const MAX: usize = 1 << 20;
}

/// The first bytes of a command's output, for the command log.
#[derive(Default)]
struct Excerpt {
    bytes: Vec<u8>,
}

impl Excerpt {
    const MAX: usize = 1024;

    fn push(&mut self, data: &[u8]) {
        let room = Self::MAX.saturating_sub(self.bytes.len());
        self.bytes.extend_from_slice(&data[..room.min(data.len())]);
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_keeps_only_the_start() {
        let mut e = Excerpt::default();
        e.push(&[b'a'; 1000]);
        e.push(&[b'b'; 1000]);
        let t = e.text();
        assert_eq!(t.len(), Excerpt::MAX);
        assert!(t.ends_with('b'));
        assert!(t.starts_with('a'));
    }
}
