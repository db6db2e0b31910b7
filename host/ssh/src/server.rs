//! The russh server: who the client is (password, public key, TOTP through
//! keyboard-interactive, connection tokens), and what each channel does (a pty shell with the
//! menu or a direct target, an exec request, the `sftp` subsystem).
//!
//! Authentication is the auth crate's (the same lockout, login ACLs and login log as the
//! API); access to assets is the session engine's ([`portcullis_session::authorize`]). This
//! module only speaks SSH.

use crate::connect::{self, ConnCtx, User};
use crate::target_name::LoginName;
use portcullis_auth::Auth;
use portcullis_auth::{LoginFailure, LoginMeta, LoginRequest, LoginStep, LoginType, MfaPending};
use portcullis_core::secret::SecretString;
use portcullis_session::live::Engine;
use russh::keys::{HashAlg, PrivateKey};
use russh::server::{self, Auth as SshAuth, ChannelOpenHandle, Msg, Response, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use uuid::Uuid;

/// How the gateway behaves.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The host keys (ed25519 first).
    pub host_keys: Vec<PrivateKey>,
    /// Outbound connect timeout.
    pub connect_timeout: Duration,
    /// Keepalive towards clients.
    pub keepalive: Option<Duration>,
    /// The menu's title.
    pub title: String,
    /// The menu's language for users whose profile sets none (KoKo's `LANGUAGE_CODE`).
    pub lang: crate::menu::Lang,
}

/// What every connection shares.
pub(crate) struct Shared {
    pub engine: Engine,
    pub auth: Auth,
    pub config: GatewayConfig,
}

impl Shared {
    /// The idle and duration limits in force now (`SECURITY_MAX_IDLE_TIME`,
    /// `SECURITY_MAX_SESSION_TIME`), read when a session starts so a changed setting applies
    /// to the next session without a restart.
    pub async fn limits(&self) -> portcullis_session::pump::Limits {
        let s = match self.auth.security().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "security settings unreadable; using the defaults");
                portcullis_auth::SecuritySettings::default()
            }
        };
        portcullis_session::pump::Limits {
            idle: Some(Duration::from_secs(u64::from(s.max_idle_minutes) * 60)),
            max_duration: Some(Duration::from_secs(u64::from(s.max_session_hours) * 3600)),
        }
    }
}

/// The SSH gateway.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

impl Gateway {
    /// A gateway over the session engine and the auth service.
    pub fn new(engine: Engine, auth: Auth, config: GatewayConfig) -> Gateway {
        Gateway {
            shared: Arc::new(Shared {
                engine,
                auth,
                config,
            }),
        }
    }

    fn russh_config(&self) -> server::Config {
        let c = &self.shared.config;
        server::Config {
            server_id: russh::SshId::Standard("SSH-2.0-Portcullis".into()),
            methods: MethodSet::from(
                &[
                    MethodKind::PublicKey,
                    MethodKind::Password,
                    MethodKind::KeyboardInteractive,
                ][..],
            ),
            auth_rejection_time: Duration::from_millis(300),
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: c.host_keys.clone(),
            keepalive_interval: c.keepalive,
            keepalive_max: 3,
            max_auth_attempts: 10,
            // Unauthenticated or silent connections must not pile up.
            inactivity_timeout: Some(Duration::from_secs(3600)),
            nodelay: true,
            window_size: 2 * 1024 * 1024,
            maximum_packet_size: 32768,
            ..server::Config::default()
        }
    }

    /// Serves SSH on `listener` until `shutdown` resolves; live sessions are then ended with
    /// the reason `gateway_shutdown`.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        use russh::server::Server as _;
        let config = Arc::new(self.russh_config());
        let engine = self.shared.engine.clone();
        let mut acceptor = Acceptor {
            shared: self.shared.clone(),
        };
        let running = acceptor.run_on_socket(config, &listener);
        let handle = running.handle();
        tokio::select! {
            r = running => r,
            () = shutdown => {
                engine.kill_all(portcullis_session::live::EndReason::Shutdown);
                // Give sessions a moment to write their ends before the process goes.
                tokio::time::sleep(Duration::from_millis(300)).await;
                handle.shutdown("the gateway is shutting down".into());
                Ok(())
            }
        }
    }
}

struct Acceptor {
    shared: Arc<Shared>,
}

impl server::Server for Acceptor {
    type Handler = Conn;

    fn new_client(&mut self, peer: Option<SocketAddr>) -> Conn {
        Conn {
            shared: self.shared.clone(),
            peer: peer.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
            user: None,
            name: None,
            mfa: None,
            kbd_password: false,
            review: None,
            alive: tokio::sync::watch::channel(()).0,
        }
    }

    fn handle_session_error(&mut self, error: russh::Error) {
        tracing::debug!(error = %error, "an SSH connection ended with an error");
    }
}

/// A second factor in progress.
struct MfaState {
    pending: MfaPending,
    meta: LoginMeta,
    name: LoginName,
    tries: u32,
}

/// One client connection.
pub(crate) struct Conn {
    shared: Arc<Shared>,
    peer: SocketAddr,
    user: Option<User>,
    name: Option<LoginName>,
    mfa: Option<MfaState>,
    /// Keyboard-interactive is being used to ask for the password.
    kbd_password: bool,
    /// A login held by a login ACL's review.
    review: Option<LoginReview>,
    /// Dropped with the connection: its channel tasks see their receivers close, so a write
    /// stuck on a client that stopped reading ends when that client's connection does.
    alive: tokio::sync::watch::Sender<()>,
}

/// A login waiting for its review: what to retry once a reviewer approved it.
struct LoginReview {
    ticket: Uuid,
    name: LoginName,
    req: LoginRequest,
    /// `Some(fingerprint)` for a public-key login, `None` for a password login.
    fingerprint: Option<String>,
    asked: bool,
}

/// How long an SSH login waits for its review before giving up.
const LOGIN_REVIEW_WAIT: Duration = Duration::from_secs(600);

const MAX_MFA_TRIES: u32 = 3;

fn reject() -> SshAuth {
    SshAuth::Reject {
        proceed_with_methods: None,
        partial_success: false,
    }
}

fn review_prompt() -> SshAuth {
    SshAuth::Partial {
        name: Cow::Borrowed("Login review"),
        instructions: Cow::Borrowed("Please wait for your admin to confirm."),
        prompts: Cow::Owned(vec![(
            Cow::Borrowed("Do you want to continue [Y/n]? : "),
            true,
        )]),
    }
}

fn otp_prompt() -> SshAuth {
    SshAuth::Partial {
        name: Cow::Borrowed("MFA"),
        instructions: Cow::Borrowed("Please Enter MFA Code."),
        prompts: Cow::Owned(vec![(Cow::Borrowed("[OTP Code]: "), true)]),
    }
}

impl Conn {
    fn request(&self, username: &str, password: &str, backend: &str) -> LoginRequest {
        LoginRequest {
            username: username.to_owned(),
            password: SecretString::new(password.to_owned()),
            ip: self.peer.ip(),
            user_agent: "SSH client".into(),
            login_type: LoginType::T,
            backend: backend.into(),
        }
    }

    /// Applies a first-factor result: logged in, on to MFA, or refused.
    async fn first_factor(
        &mut self,
        name: LoginName,
        req: &LoginRequest,
        step: Result<LoginStep, LoginFailure>,
        kbd: bool,
        fingerprint: Option<&str>,
    ) -> SshAuth {
        match step {
            Ok(LoginStep::Done(ok)) => match connect::user(&self.shared, ok.user_id).await {
                Some(user) => {
                    self.user = Some(user);
                    self.name = Some(name);
                    SshAuth::Accept
                }
                None => reject(),
            },
            Ok(LoginStep::MfaRequired(pending)) => {
                self.mfa = Some(MfaState {
                    pending,
                    meta: req.meta(),
                    name,
                    tries: 0,
                });
                if kbd {
                    otp_prompt()
                } else {
                    SshAuth::Reject {
                        proceed_with_methods: Some(MethodSet::from(
                            &[MethodKind::KeyboardInteractive][..],
                        )),
                        partial_success: true,
                    }
                }
            }
            Err(failure) => match failure.ticket {
                Some(ticket) if failure.code == portcullis_auth::codes::LOGIN_CONFIRM_WAIT => {
                    self.review = Some(LoginReview {
                        ticket,
                        name,
                        req: req.clone(),
                        fingerprint: fingerprint.map(str::to_owned),
                        asked: kbd,
                    });
                    if kbd {
                        review_prompt()
                    } else {
                        SshAuth::Reject {
                            proceed_with_methods: Some(MethodSet::from(
                                &[MethodKind::KeyboardInteractive][..],
                            )),
                            partial_success: true,
                        }
                    }
                }
                _ => {
                    tracing::info!(peer = %self.peer, user = %req.username, code = failure.code, "SSH login refused");
                    reject()
                }
            },
        }
    }

    /// The user answered the review question: wait for the reviewer, then log in again.
    async fn review_answer(&mut self, answer: &str) -> SshAuth {
        let Some(review) = self.review.take() else {
            return reject();
        };
        let store = self.shared.engine.store().clone();
        if !matches!(
            answer.trim().to_ascii_lowercase().as_str(),
            "" | "y" | "yes"
        ) {
            portcullis_session::review::cancel(&store, review.ticket, &review.req.username).await;
            return reject();
        }
        let deadline = tokio::time::Instant::now() + LOGIN_REVIEW_WAIT;
        loop {
            match portcullis_session::review::poll(&store, review.ticket).await {
                Ok(Some(portcullis_session::review::ReviewOutcome::Approved(_))) => break,
                Ok(Some(_)) => return reject(),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not read a login review ticket");
                }
            }
            if tokio::time::Instant::now() >= deadline {
                portcullis_session::review::cancel(&store, review.ticket, &review.req.username)
                    .await;
                return reject();
            }
            tokio::time::sleep(portcullis_session::review::POLL_INTERVAL).await;
        }
        let step = match &review.fingerprint {
            Some(fp) => {
                self.shared
                    .auth
                    .login_step_public_key(&review.req, fp)
                    .await
            }
            None => self.shared.auth.login_step(&review.req).await,
        };
        let fp = review.fingerprint.clone();
        self.first_factor(review.name, &review.req, step, true, fp.as_deref())
            .await
    }

    async fn public_key_login(
        &mut self,
        name: LoginName,
        username: String,
        fingerprint: String,
    ) -> SshAuth {
        let req = self.request(&username, "", "publickey");
        let step = self
            .shared
            .auth
            .login_step_public_key(&req, &fingerprint)
            .await;
        self.first_factor(name, &req, step, false, Some(&fingerprint))
            .await
    }

    async fn password_login(&mut self, user: &str, password: &str, kbd: bool) -> SshAuth {
        let Ok(name) = LoginName::parse(user) else {
            return reject();
        };
        if let LoginName::Token { id } = name {
            return match connect::redeem_token(&self.shared, id, password).await {
                Some(user) => {
                    self.user = Some(user);
                    self.name = Some(name);
                    SshAuth::Accept
                }
                None => reject(),
            };
        }
        let Some(username) = name.user().map(str::to_owned) else {
            return reject();
        };
        let req = self.request(&username, password, "password");
        let step = self.shared.auth.login_step(&req).await;
        self.first_factor(name, &req, step, kbd, None).await
    }

    async fn otp_answer(&mut self, code: &str) -> SshAuth {
        let Some(mut state) = self.mfa.take() else {
            return reject();
        };
        if code.trim().is_empty() {
            self.mfa = Some(state);
            return otp_prompt();
        }
        let auth = &self.shared.auth;
        match auth
            .mfa_login_attempt(state.pending.user_id, code.trim(), &state.meta)
            .await
        {
            Ok(()) => match auth
                .finish_mfa_login(state.pending.user_id, &state.meta)
                .await
            {
                Ok(ok) => match connect::user(&self.shared, ok.user_id).await {
                    Some(user) => {
                        self.user = Some(user);
                        self.name = Some(state.name);
                        SshAuth::Accept
                    }
                    None => reject(),
                },
                Err(_) => reject(),
            },
            Err(failure) => {
                state.tries += 1;
                tracing::info!(peer = %self.peer, code = failure.code, "SSH MFA code refused");
                if state.tries >= MAX_MFA_TRIES || failure.code != "mfa_failed" {
                    reject()
                } else {
                    self.mfa = Some(state);
                    otp_prompt()
                }
            }
        }
    }
}

impl server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<SshAuth, Self::Error> {
        Ok(reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<SshAuth, Self::Error> {
        Ok(Box::pin(self.password_login(user, password, false)).await)
    }

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        _offer: server::PublicKeyOffer<'_>,
    ) -> Result<SshAuth, Self::Error> {
        // Whether the key belongs to the user is decided once the client proved it holds
        // it; answering here would tell anyone which keys a user has.
        Ok(SshAuth::Accept)
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: server::VerifiedPublicKey<'_>,
    ) -> Result<SshAuth, Self::Error> {
        let Ok(name) = LoginName::parse(user) else {
            return Ok(reject());
        };
        let Some(username) = name.user().map(str::to_owned) else {
            return Ok(reject());
        };
        let fingerprint = key.public_key.fingerprint(HashAlg::Sha256).to_string();
        // Boxed (here and in the other handler methods that wait on the store or a target):
        // russh's session task holds the future of every handler method inline, so a large one
        // would be paid for by every connection for its whole life, not only while it runs.
        Ok(Box::pin(self.public_key_login(name, username, fingerprint)).await)
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<SshAuth, Self::Error> {
        let answer = response.and_then(|mut r| r.next()).map(|b| {
            let text = String::from_utf8_lossy(&b).into_owned();
            SecretString::new(text)
        });
        if let Some(review) = &mut self.review {
            if !review.asked || answer.is_none() {
                review.asked = true;
                return Ok(review_prompt());
            }
            let answer = answer.map(|a| a.expose().to_owned()).unwrap_or_default();
            return Ok(Box::pin(self.review_answer(&answer)).await);
        }
        if self.mfa.is_some() {
            return Ok(match answer {
                None => otp_prompt(),
                Some(code) => Box::pin(self.otp_answer(code.expose())).await,
            });
        }
        // Keyboard-interactive as a password prompt, for clients that prefer it.
        match answer {
            None => {
                self.kbd_password = true;
                Ok(SshAuth::Partial {
                    name: Cow::Borrowed("Password"),
                    instructions: Cow::Borrowed(""),
                    prompts: Cow::Owned(vec![(Cow::Borrowed("Password: "), false)]),
                })
            }
            Some(password) if self.kbd_password => {
                self.kbd_password = false;
                Ok(Box::pin(self.password_login(user, password.expose(), true)).await)
            }
            Some(_) => Ok(reject()),
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (Some(user), Some(name)) = (self.user.clone(), self.name.clone()) else {
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        reply.accept().await;
        let ctx = ConnCtx {
            shared: self.shared.clone(),
            user,
            name,
            peer: self.peer,
            gone: self.alive.subscribe(),
        };
        tokio::spawn(connect::run_channel(ctx, channel));
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host: &str,
        port: u32,
        originator: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (Some(user), Some(name)) = (self.user.clone(), self.name.clone()) else {
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        let ctx = ConnCtx {
            shared: self.shared.clone(),
            user,
            name,
            peer: self.peer,
            gone: self.alive.subscribe(),
        };
        Box::pin(connect::open_tunnel(
            ctx,
            channel,
            reply,
            host.to_owned(),
            port,
            originator.to_owned(),
            originator_port,
        ))
        .await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _cols: u32,
        _rows: u32,
        _pw: u32,
        _ph: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if name == "sftp" {
            session.channel_success(channel)
        } else {
            session.channel_failure(channel)
        }
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Environment variables are not passed to assets.
        session.channel_failure(channel)
    }
}

/// For tests and logs: the id a connection-token login carries.
pub fn token_id(name: &LoginName) -> Option<Uuid> {
    match name {
        LoginName::Token { id } => Some(*id),
        _ => None,
    }
}
