//! [`AutomationService`]: runs one platform automation method on one asset through the plugin
//! the platform names, and records it.
//!
//! One run:
//! 1. **Checks** (a refusal here is an [`AutomationError`], nothing is recorded): the asset
//!    exists in the caller's org; the platform enables the method and names a plugin
//!    (`<method>_method`, `plugin-id` or `plugin-id/…`); that plugin is enabled, implements
//!    the method and was granted `remote`; the accounts involved exist on the asset.
//! 2. **Accounts**: the account the plugin logs in with is the account being verified for
//!    `verify_account`, otherwise the asset's privileged active account holding a secret (as
//!    JumpServer does; ping falls back to any active account with a secret).
//! 3. **Execution**: a `running` row, then the plugin call with a remote grant for exactly that
//!    target, the events kept in memory ([`EventLog`]).
//! 4. **Effects**, only after the plugin succeeded: change_secret logs in with the new secret
//!    on a fresh connection and stores it only then (the store keeps the old one in the
//!    history); push_account logs in as the pushed account (unless asked not to);
//!    gather_accounts stores what was found; remove_account deletes the Portcullis account when
//!    asked; ping and verify_account update the connectivity columns.
//! 5. **Record**: the outcome, output and log on the execution row, and a summary in the
//!    operation log. Secrets never reach either.

use crate::events::{EventLog, LoggedEvent};
use crate::method::{AutomationRequest, Method, SecretStrategy, split_csv, sudo_rule};
use crate::plugins::{PluginSource, ResolvedPlugin};
use crate::remote::SshRemote;
use crate::secret;
use chrono::{DateTime, Utc};
use portcullis_core::secret::SecretString;
use portcullis_core::vault::Vault;
use portcullis_plugin::caps::{EventSink, Invocation, RemoteGrant, RemoteProvider, SecretValue};
use portcullis_plugin::error::{InvokeError, PluginError};
use portcullis_plugin::kind::Kind;
use portcullis_plugin::types::{
    Account, Call, DiscoveredAccount, Output, Protocol, PushOptions, SecretKind, Target,
};
use portcullis_session::authorize::TargetTimeouts;
use portcullis_session::target::Credential;
use portcullis_store::accounts::{AccountRecord, AccountUpdate};
use portcullis_store::assets::AssetRecord;
use portcullis_store::automations::{
    ExecutionOutcome, ExecutionRecord, GatheredInput, GatheredRecord, NewExecution,
};
use portcullis_store::{Store, StoreError};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;
use zeroize::Zeroizing;

/// Who asked for a run, for the records.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `Name(username)`.
    pub name: String,
    /// The client's address.
    pub ip: String,
}

/// Why a run was refused before anything ran. Every message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum AutomationError {
    /// No such asset in the caller's org.
    #[error("asset not found")]
    AssetNotFound,
    /// No such account on the asset.
    #[error("account {0} not found on the asset")]
    AccountNotFound(String),
    /// The request is incomplete or contradictory.
    #[error("{0}")]
    BadRequest(String),
    /// The platform does not enable the method.
    #[error(
        "{method} is not enabled for the platform {platform}; enable it in the platform's automation settings"
    )]
    NotEnabled {
        /// The method.
        method: Method,
        /// The platform's name.
        platform: String,
    },
    /// The platform enables the method but names no plugin.
    #[error(
        "the platform {platform} names no plugin for {method}; set {method}_method to an enabled plugin's id"
    )]
    NoPlugin {
        /// The method.
        method: Method,
        /// The platform's name.
        platform: String,
    },
    /// The named plugin is not installed and enabled (or cannot run this method).
    #[error("{0}")]
    PluginUnusable(String),
    /// The asset has no account to log in with.
    #[error("{0}")]
    NoConnectAccount(String),
    /// The database failed.
    #[error("database error: {0}")]
    Store(#[from] StoreError),
    /// The plugin lookup failed.
    #[error("plugin lookup failed: {0}")]
    Source(String),
}

/// An execution as the API shows it: the stored record with its log.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionResult {
    /// Execution id.
    pub id: Uuid,
    /// Org.
    pub org_id: Uuid,
    /// The method.
    pub method: String,
    /// `{id, name}` of the asset.
    pub asset: Value,
    /// `{id, username}` of the account, or null.
    pub account: Value,
    /// `{id, version}` of the plugin.
    pub plugin: Value,
    /// `running`, `success` or `failed`.
    pub status: String,
    /// `{code, message}` when failed.
    pub error: Value,
    /// The method's output.
    pub output: Value,
    /// The invocation's events (null in lists).
    pub log: Value,
    /// Seconds from start to finish.
    pub duration: Option<f64>,
    /// Started.
    pub date_start: DateTime<Utc>,
    /// Finished.
    pub date_finished: Option<DateTime<Utc>>,
    /// Who asked.
    pub created_by: String,
}

impl From<ExecutionRecord> for ExecutionResult {
    fn from(r: ExecutionRecord) -> ExecutionResult {
        let duration = r
            .date_finished
            .map(|f| (f - r.date_start).num_microseconds().unwrap_or(0) as f64 / 1e6);
        ExecutionResult {
            id: r.id,
            org_id: r.org_id,
            method: r.method,
            asset: json!({"id": r.asset_id, "name": r.asset_name}),
            account: match r.account_id {
                Some(id) => json!({"id": id, "username": r.account_username}),
                None if !r.account_username.is_empty() => {
                    json!({"id": null, "username": r.account_username})
                }
                None => Value::Null,
            },
            plugin: json!({"id": r.plugin_id, "version": r.plugin_version}),
            error: if r.error_code.is_empty() {
                Value::Null
            } else {
                json!({"code": r.error_code, "message": r.error_message})
            },
            status: r.status,
            output: r.result,
            log: r.log,
            duration,
            date_start: r.date_start,
            date_finished: r.date_finished,
            created_by: r.created_by,
        }
    }
}

/// Runs automations (see the module docs).
#[derive(Clone)]
pub struct AutomationService {
    store: Store,
    vault: Vault,
    plugins: Arc<dyn PluginSource>,
    timeouts: TargetTimeouts,
}

/// What the plugin call is about, resolved from the request.
struct Plan {
    asset: AssetRecord,
    plugin: ResolvedPlugin,
    params: Value,
    /// The account the plugin logs in with.
    connect: AccountRecord,
    /// The account acted on.
    subject: Option<AccountRecord>,
    /// remove_account by username.
    username: Option<String>,
}

/// How a method ended before recording.
struct Ended {
    result: Result<Value, (String, String)>,
}

impl Ended {
    fn ok(output: Value) -> Ended {
        Ended { result: Ok(output) }
    }

    fn failed(code: &str, message: impl Into<String>) -> Ended {
        Ended {
            result: Err((code.to_owned(), message.into())),
        }
    }

    fn from_invoke(e: &InvokeError) -> Ended {
        let message = match e {
            InvokeError::Plugin(p) => plugin_message(p),
            other => other.to_string(),
        };
        Ended::failed(e.code(), message)
    }
}

fn plugin_message(e: &PluginError) -> String {
    match e {
        PluginError::InvalidInput(m)
        | PluginError::Denied(m)
        | PluginError::Unauthorized(m)
        | PluginError::NotFound(m)
        | PluginError::Unavailable(m)
        | PluginError::Internal(m) => m.clone(),
        PluginError::Timeout => "timed out".into(),
    }
}

impl AutomationService {
    /// A service over the store, the vault and the enabled plugins; `timeouts` bound the SSH
    /// connections it makes.
    pub fn new(
        store: Store,
        vault: Vault,
        plugins: Arc<dyn PluginSource>,
        timeouts: TargetTimeouts,
    ) -> AutomationService {
        AutomationService {
            store,
            vault,
            plugins,
            timeouts,
        }
    }

    /// Runs `method` on the asset `asset_id` (looked up in `org`, every org for `None`).
    /// A plugin or remote failure is a `failed` execution, not an `Err`: `Err` means nothing
    /// ran (see the module docs).
    pub async fn run(
        &self,
        org: Option<Uuid>,
        asset_id: Uuid,
        method: Method,
        request: &AutomationRequest,
        actor: &Actor,
    ) -> Result<ExecutionResult, AutomationError> {
        let plan = self.plan(org, asset_id, method, request).await?;
        let new_secret = match method {
            Method::ChangeSecret => Some(
                self.new_secret(&plan, request)
                    .map_err(AutomationError::BadRequest)?,
            ),
            _ => None,
        };
        let started = Instant::now();
        let subject_name = plan
            .subject
            .as_ref()
            .and_then(|a| a.username.clone())
            .or_else(|| plan.username.clone())
            .unwrap_or_default();
        let id = self
            .store
            .start_execution(&NewExecution {
                org_id: plan.asset.org_id,
                asset_id: plan.asset.id,
                asset_name: plan.asset.name.clone(),
                account_id: plan.subject.as_ref().map(|a| a.id).or(match method {
                    Method::Ping => Some(plan.connect.id),
                    _ => None,
                }),
                account_username: if method == Method::Ping {
                    plan.connect.username.clone().unwrap_or_default()
                } else {
                    subject_name.clone()
                },
                method: method.name().to_owned(),
                plugin_id: plan.plugin.id.clone(),
                plugin_version: plan.plugin.version.clone(),
                created_by: actor.name.clone(),
            })
            .await?;
        let date_start = Utc::now();

        // Secrets the log must never show: the account's current one and any new one.
        let mut known = Vec::new();
        if let Some(s) = &plan.subject
            && let Some(secret) = self.store.account_secret(&self.vault, s.id).await?
        {
            known.push(secret);
        }
        if let Some((s, _)) = &new_secret {
            known.push(s.clone());
        }
        let log = Arc::new(EventLog::new(known));
        log.host(format!(
            "{method} on {} with {} {}; connecting as {}",
            plan.asset.name,
            plan.plugin.id,
            plan.plugin.version,
            plan.connect.username.as_deref().unwrap_or("")
        ));
        let ended = self
            .execute(id, &plan, method, request, new_secret, log.clone(), actor)
            .await;
        self.finish(id, &plan, method, actor, started, date_start, log, ended)
            .await
    }

    /// Step 1 and 2 of the module docs.
    async fn plan(
        &self,
        org: Option<Uuid>,
        asset_id: Uuid,
        method: Method,
        request: &AutomationRequest,
    ) -> Result<Plan, AutomationError> {
        let asset = self
            .store
            .asset_record(org, &asset_id.to_string())
            .await?
            .ok_or(AutomationError::AssetNotFound)?;
        let setting = self
            .store
            .platform_method(asset.platform_id, method.name())
            .await?
            .filter(|s| s.enabled)
            .ok_or_else(|| AutomationError::NotEnabled {
                method,
                platform: asset.platform_name.clone(),
            })?;
        let plugin_id = setting
            .method
            .split('/')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        if plugin_id.is_empty() {
            return Err(AutomationError::NoPlugin {
                method,
                platform: asset.platform_name.clone(),
            });
        }
        let plugin = self
            .plugins
            .plugin(asset.org_id, &plugin_id)
            .await
            .map_err(|e| AutomationError::Source(e.0))?
            .ok_or_else(|| {
                AutomationError::PluginUnusable(format!(
                    "the plugin {plugin_id} named by the platform {} for {method} is not installed or not enabled",
                    asset.platform_name
                ))
            })?;
        if plugin.kind != Kind::PlatformAutomation {
            return Err(AutomationError::PluginUnusable(format!(
                "the plugin {plugin_id} is a {} plugin, not a platform automation",
                plugin.kind
            )));
        }
        if !plugin.methods.iter().any(|m| m == method.name()) {
            return Err(AutomationError::PluginUnusable(format!(
                "the plugin {plugin_id} does not implement {method}"
            )));
        }
        if !plugin.remote {
            return Err(AutomationError::PluginUnusable(format!(
                "the plugin {plugin_id} was not granted remote sessions; grant `remote` to it"
            )));
        }

        let mut params = match setting.params {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        params.extend(request.params.clone());
        let params = match &plugin.params {
            Some(check) => check(method.name(), &Value::Object(params))
                .map_err(|e| AutomationError::BadRequest(format!("params: {e}")))?,
            None => Value::Object(params),
        };

        let accounts = self.store.accounts_on_assets(&[asset.id]).await?;
        let find = |id: Uuid| {
            accounts
                .iter()
                .find(|a| a.id == id)
                .cloned()
                .ok_or_else(|| AutomationError::AccountNotFound(id.to_string()))
        };
        let subject = match (method, request.account) {
            (Method::Ping, _) => None,
            (_, Some(id)) => Some(find(id)?),
            (Method::RemoveAccount, None) if request.username.is_some() => None,
            (Method::GatherAccounts, None) => None,
            (m, None) => {
                return Err(AutomationError::BadRequest(format!(
                    "{m} needs `account`{}",
                    if m == Method::RemoveAccount {
                        " or `username`"
                    } else {
                        ""
                    }
                )));
            }
        };
        if let Some(s) = &subject
            && s.username.as_deref().is_none_or(str::is_empty)
        {
            return Err(AutomationError::BadRequest(format!(
                "the account {} has no username",
                s.name
            )));
        }
        let username = match method {
            Method::RemoveAccount => subject
                .as_ref()
                .and_then(|s| s.username.clone())
                .or_else(|| request.username.clone().filter(|u| !u.trim().is_empty())),
            _ => None,
        };
        let usable = |a: &&AccountRecord| a.is_active && a.has_secret && a.username.is_some();
        let connect = match method {
            Method::VerifyAccount => subject.clone().ok_or_else(|| {
                AutomationError::BadRequest("verify_account needs `account`".into())
            })?,
            Method::Ping if request.account.is_some() => {
                request.account.map(find).transpose()?.ok_or_else(|| {
                    AutomationError::BadRequest("ping needs `account`".into())
                })?
            }
            _ => accounts
                .iter()
                .filter(usable)
                .find(|a| a.privileged)
                .or_else(|| {
                    (method == Method::Ping)
                        .then(|| accounts.iter().find(usable))
                        .flatten()
                })
                .cloned()
                .ok_or_else(|| {
                    AutomationError::NoConnectAccount(format!(
                        "the asset {} has no active privileged account with a secret to run {method} with",
                        asset.name
                    ))
                })?,
        };
        match method {
            Method::PushAccount => {
                let s = subject.as_ref().ok_or_else(|| {
                    AutomationError::BadRequest("push_account needs `account`".into())
                })?;
                if s.id == connect.id {
                    return Err(AutomationError::BadRequest(
                        "the privileged account cannot push itself".into(),
                    ));
                }
                if !s.has_secret {
                    return Err(AutomationError::BadRequest(format!(
                        "the account {} has no secret to push",
                        s.name
                    )));
                }
            }
            Method::RemoveAccount => {
                if subject.as_ref().is_some_and(|s| s.id == connect.id)
                    || username.as_deref() == connect.username.as_deref()
                {
                    return Err(AutomationError::BadRequest(
                        "the account the automation logs in with cannot remove itself".into(),
                    ));
                }
                if username.is_none() {
                    return Err(AutomationError::BadRequest(
                        "remove_account needs `account` or `username`".into(),
                    ));
                }
            }
            _ => {}
        }
        if request.delete_account && (method != Method::RemoveAccount || subject.is_none()) {
            return Err(AutomationError::BadRequest(
                "`delete_account` applies to remove_account with `account`".into(),
            ));
        }
        Ok(Plan {
            asset,
            plugin,
            params,
            connect,
            subject,
            username,
        })
    }

    /// The new secret of change_secret and its public half: given (`specific`) or generated.
    fn new_secret(
        &self,
        plan: &Plan,
        request: &AutomationRequest,
    ) -> Result<(SecretString, Option<String>), String> {
        let subject = plan
            .subject
            .as_ref()
            .ok_or_else(|| "change_secret needs `account`".to_owned())?;
        let kind = request
            .secret_type
            .clone()
            .unwrap_or_else(|| subject.secret_type.clone());
        match (kind.as_str(), request.secret_strategy) {
            ("password", SecretStrategy::Specific) => {
                let s = request
                    .secret
                    .clone()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| "secret_strategy `specific` needs `secret`".to_owned())?;
                if s.contains(['\n', '\r']) {
                    return Err("a password cannot contain line breaks".into());
                }
                Ok((SecretString::new(s), None))
            }
            ("password", SecretStrategy::Random) => {
                let rules = request.password_rules.clone().unwrap_or_default();
                secret::password(&rules)
                    .map(|p| (p, None))
                    .map_err(|e| e.to_string())
            }
            ("ssh_key", SecretStrategy::Specific) => {
                let s = SecretString::new(
                    request
                        .secret
                        .clone()
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| "secret_strategy `specific` needs `secret`".to_owned())?,
                );
                let public = secret::public_of(&s, None).ok_or_else(|| {
                    "`secret` is not a readable unencrypted private key".to_owned()
                })?;
                Ok((s, Some(public)))
            }
            ("ssh_key", SecretStrategy::Random) => {
                secret::ssh_key(request.ssh_key_algorithm.unwrap_or_default())
                    .map(|(s, p)| (s, Some(p)))
            }
            (other, _) => Err(format!(
                "change_secret supports the secret types password and ssh_key, not {other}"
            )),
        }
    }

    /// Step 3 and 4 of the module docs.
    #[allow(clippy::too_many_arguments)]
    async fn execute(
        &self,
        id: Uuid,
        plan: &Plan,
        method: Method,
        request: &AutomationRequest,
        new_secret: Option<(SecretString, Option<String>)>,
        log: Arc<EventLog>,
        actor: &Actor,
    ) -> Ended {
        let target = Target {
            asset_id: plan.asset.id.to_string(),
            account_id: Some(plan.connect.id.to_string()),
            protocol: Protocol::Ssh,
        };
        let params = plan.params.to_string();
        let subject_account = |s: &AccountRecord| Account {
            username: s.username.clone().unwrap_or_default(),
            secret_kind: secret_kind(&s.secret_type),
        };
        let call = match method {
            Method::Ping => Call::Ping {
                target: target.clone(),
                params,
            },
            Method::VerifyAccount => Call::VerifyAccount {
                target: target.clone(),
                params,
            },
            Method::GatherAccounts => Call::GatherAccounts {
                target: target.clone(),
                params,
            },
            Method::RemoveAccount => Call::RemoveAccount {
                target: target.clone(),
                username: plan.username.clone().unwrap_or_default(),
                params,
            },
            Method::ChangeSecret => {
                let (Some(s), Some((new, public))) = (&plan.subject, &new_secret) else {
                    return Ended::failed("internal", "no account or new secret");
                };
                let kind = request
                    .secret_type
                    .clone()
                    .unwrap_or_else(|| s.secret_type.clone());
                Call::ChangeSecret {
                    target: target.clone(),
                    account: Account {
                        username: s.username.clone().unwrap_or_default(),
                        secret_kind: secret_kind(&kind),
                    },
                    new_secret: secret_value("new-secret", new, public.clone()),
                    params,
                }
            }
            Method::PushAccount => {
                let Some(s) = &plan.subject else {
                    return Ended::failed("internal", "no account");
                };
                let stored = match self.store.account_secret(&self.vault, s.id).await {
                    Ok(Some(v)) => v,
                    Ok(None) => return Ended::failed("invalid_input", "the account has no secret"),
                    Err(e) => return Ended::failed("internal", e.to_string()),
                };
                let public = if s.secret_type == "ssh_key" {
                    let passphrase = self
                        .store
                        .account_passphrase(&self.vault, s.id)
                        .await
                        .ok()
                        .flatten();
                    secret::public_of(&stored, passphrase.as_ref())
                } else {
                    None
                };
                Call::PushAccount {
                    target: target.clone(),
                    account: subject_account(s),
                    secret: secret_value("account", &stored, public),
                    options: push_options(&plan.params, request),
                    params,
                }
            }
        };
        let remote = SshRemote::new(self.store.clone(), self.vault.clone(), self.timeouts)
            .with_default_account(plan.asset.id, plan.connect.id);
        let inv = Invocation {
            id: id.to_string(),
            plugin_id: plan.plugin.id.clone(),
            plugin_version: plan.plugin.version.clone(),
            limits: plan.plugin.limits,
            config: plan.plugin.config.clone(),
            secrets: plan.plugin.secrets.clone(),
            reveal_allowed: plan.plugin.reveal,
            http: None,
            remote: Some(RemoteGrant {
                allowed: vec![target],
                provider: Arc::new(remote),
            }),
            events: log.clone() as Arc<dyn EventSink>,
            determinism: None,
            fuel: None,
        };
        let answer = plan.plugin.invoker.call(inv, call).await;
        self.effects(plan, method, request, new_secret, &log, actor, answer)
            .await
    }

    /// Step 4: what follows the plugin's answer.
    #[allow(clippy::too_many_arguments)]
    async fn effects(
        &self,
        plan: &Plan,
        method: Method,
        request: &AutomationRequest,
        new_secret: Option<(SecretString, Option<String>)>,
        log: &EventLog,
        actor: &Actor,
        answer: Result<Output, InvokeError>,
    ) -> Ended {
        match method {
            Method::Ping => {
                let connectivity = connectivity(&answer);
                let _ = self
                    .store
                    .set_asset_connectivity(plan.asset.id, connectivity)
                    .await;
                if answer.is_ok() || connectivity == "auth_err" {
                    let _ = self
                        .store
                        .set_account_connectivity(plan.connect.id, connectivity)
                        .await;
                }
                match answer {
                    Ok(_) => Ended::ok(json!({})),
                    Err(e) => Ended::from_invoke(&e),
                }
            }
            Method::VerifyAccount => {
                let connectivity = connectivity(&answer);
                if let Err(e) = self
                    .store
                    .set_account_connectivity(plan.connect.id, connectivity)
                    .await
                {
                    tracing::error!(error = %e, "could not record an account's connectivity");
                }
                match answer {
                    Ok(_) => Ended::ok(json!({"connectivity": connectivity})),
                    Err(e) => Ended::from_invoke(&e),
                }
            }
            Method::ChangeSecret => {
                let (Some(subject), Some((new, public))) = (&plan.subject, new_secret) else {
                    return Ended::failed("internal", "no account or new secret");
                };
                if let Err(e) = answer {
                    let _ = self
                        .store
                        .set_change_secret_status(subject.id, "failed")
                        .await;
                    return Ended::from_invoke(&e);
                }
                let kind = request
                    .secret_type
                    .clone()
                    .unwrap_or_else(|| subject.secret_type.clone());
                log.host("the asset accepted the new secret; logging in with it");
                if let Err(e) = self
                    .login(plan, subject, Some(credential(&kind, &new)))
                    .await
                {
                    let _ = self
                        .store
                        .set_change_secret_status(subject.id, "failed")
                        .await;
                    return Ended::failed(
                        "verify_failed",
                        format!(
                            "the plugin reported the change done, but logging in with the new secret failed ({e}); the new secret was not stored"
                        ),
                    );
                }
                log.host("logged in with the new secret; storing it");
                let stored = retry_storing(&STORE_RETRY_DELAYS, || {
                    self.store_secret(subject, &kind, new.clone(), actor)
                })
                .await;
                match stored {
                    Ok(version) => {
                        let _ = self
                            .store
                            .set_change_secret_status(subject.id, "success")
                            .await;
                        let _ = self.store.set_account_connectivity(subject.id, "ok").await;
                        Ended::ok(json!({
                            "secret_type": kind,
                            "public_key": public,
                            "verified": true,
                            "version": version,
                        }))
                    }
                    Err(e) => {
                        // The asset has only the new secret now: keep it, sealed under the
                        // vault's key (openable only with the master key), where an
                        // administrator finds it, so the account can be restored by hand.
                        let sealed = self.vault.seal(
                            &new,
                            &portcullis_core::vault::SealContext::new(
                                "accounts", "secret", subject.id,
                            ),
                        );
                        tracing::error!(
                            account = %subject.id,
                            error = %e,
                            sealed_secret = %sealed,
                            "the asset has a new secret that could not be stored; its sealed value is kept in this log and in the execution's result"
                        );
                        Ended::failed(
                            "internal",
                            format!(
                                "the asset has the new secret but it could not be stored: {e}; the new secret, sealed for account {} (column accounts.secret): {sealed}",
                                subject.id
                            ),
                        )
                    }
                }
            }
            Method::PushAccount => {
                let Some(subject) = &plan.subject else {
                    return Ended::failed("internal", "no account");
                };
                if let Err(e) = answer {
                    return Ended::from_invoke(&e);
                }
                let username = subject.username.clone().unwrap_or_default();
                if !request.check_conn_after_change.unwrap_or(true) {
                    return Ended::ok(json!({"username": username, "verified": false}));
                }
                log.host(format!("pushed; logging in as {username}"));
                match self.login(plan, subject, None).await {
                    Ok(()) => {
                        let _ = self.store.set_account_connectivity(subject.id, "ok").await;
                        Ended::ok(json!({"username": username, "verified": true}))
                    }
                    Err(e) => {
                        let _ = self
                            .store
                            .set_account_connectivity(subject.id, connectivity_of(&e))
                            .await;
                        Ended::failed(
                            "verify_failed",
                            format!("the account was pushed but logging in as it failed: {e}"),
                        )
                    }
                }
            }
            Method::GatherAccounts => match answer {
                Ok(Output::Accounts(found)) => {
                    let input: Vec<GatheredInput> = found.iter().map(gathered_input).collect();
                    match self
                        .store
                        .record_gathered_accounts(plan.asset.org_id, plan.asset.id, &input)
                        .await
                    {
                        Ok(rows) => Ended::ok(json!({
                            "found": found.len(),
                            "accounts": rows.iter().map(gathered_json).collect::<Vec<_>>(),
                        })),
                        Err(e) => Ended::failed("internal", e.to_string()),
                    }
                }
                Ok(other) => Ended::failed(
                    "bad_answer",
                    format!("gather_accounts answered {other:?} instead of accounts"),
                ),
                Err(e) => Ended::from_invoke(&e),
            },
            Method::RemoveAccount => {
                if let Err(e) = answer {
                    return Ended::from_invoke(&e);
                }
                let username = plan.username.clone().unwrap_or_default();
                let mut deleted = false;
                if request.delete_account
                    && let Some(s) = &plan.subject
                {
                    match self.store.delete_account(s.id).await {
                        Ok(d) => {
                            deleted = d;
                            log.host(format!("deleted the account record {}", s.name));
                            self.op_log(
                                plan.asset.org_id,
                                actor,
                                "delete",
                                "Account",
                                &s.name,
                                &s.id.to_string(),
                                json!({"reason": "remove_account automation"}),
                            )
                            .await;
                        }
                        Err(e) => {
                            return Ended::failed(
                                "internal",
                                format!(
                                    "removed from the asset, but the account record could not be deleted: {e}"
                                ),
                            );
                        }
                    }
                }
                Ended::ok(json!({"username": username, "account_deleted": deleted}))
            }
        }
    }

    /// Logs in as `account` on the plan's asset on a fresh connection (with `credential`
    /// instead of the stored secret when given).
    async fn login(
        &self,
        plan: &Plan,
        account: &AccountRecord,
        credential: Option<Credential>,
    ) -> Result<(), PluginError> {
        let mut remote = SshRemote::new(self.store.clone(), self.vault.clone(), self.timeouts);
        if let Some(c) = credential {
            remote = remote.with_credential(account.id, c);
        }
        let target = Target {
            asset_id: plan.asset.id.to_string(),
            account_id: Some(account.id.to_string()),
            protocol: Protocol::Ssh,
        };
        let mut session = remote.open("verify", &target, Duration::ZERO).await?;
        session.close().await;
        Ok(())
    }

    /// Stores a verified new secret; returns the account's new version.
    async fn store_secret(
        &self,
        account: &AccountRecord,
        kind: &str,
        secret: SecretString,
        actor: &Actor,
    ) -> Result<i64, StoreError> {
        // A new key comes without a passphrase: a stored one would no longer apply.
        let passphrase = self
            .store
            .account_passphrase(&self.vault, account.id)
            .await?
            .map(|_| SecretString::new(""));
        self.store
            .update_account(
                &self.vault,
                account.id,
                &AccountUpdate {
                    name: account.name.clone(),
                    username: account.username.clone(),
                    secret_type: kind.to_owned(),
                    secret: Some(secret),
                    passphrase,
                    privileged: account.privileged,
                    is_active: account.is_active,
                    su_from: account.su_from.as_ref().map(|s| s.id),
                    params: account.params.clone(),
                    comment: account.comment.clone(),
                },
                &actor.name,
            )
            .await?;
        self.op_log(
            account.org_id,
            actor,
            "update",
            "Account",
            &account.name,
            &account.id.to_string(),
            json!({"secret": ["******", "******"], "reason": "change_secret automation"}),
        )
        .await;
        Ok(self
            .store
            .account(account.id)
            .await?
            .map_or(account.version + 1, |a| a.version))
    }

    /// Step 5: writes the outcome and the operation log; the answer of [`Self::run`].
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        id: Uuid,
        plan: &Plan,
        method: Method,
        actor: &Actor,
        started: Instant,
        date_start: DateTime<Utc>,
        log: Arc<EventLog>,
        ended: Ended,
    ) -> Result<ExecutionResult, AutomationError> {
        let (status, error_code, error_message, output) = match ended.result {
            Ok(output) => ("success", String::new(), String::new(), output),
            Err((code, message)) => {
                log.host(format!("failed: {code}: {message}"));
                ("failed", code, message, json!({}))
            }
        };
        let events: Vec<LoggedEvent> = log.events();
        let log_json = serde_json::to_value(&events).unwrap_or_else(|_| json!([]));
        let outcome = ExecutionOutcome {
            status: status.to_owned(),
            error_code: error_code.clone(),
            error_message: error_message.clone(),
            result: output.clone(),
            log: log_json.clone(),
        };
        self.store.finish_execution(id, None, &outcome).await?;
        let elapsed = started.elapsed();
        let counts = log.counts();
        self.op_log(
            plan.asset.org_id,
            actor,
            "create",
            "Automation execution",
            &format!("{method} on {}", plan.asset.name),
            &id.to_string(),
            json!({
                "method": method.name(),
                "asset": plan.asset.name,
                "account": plan.subject.as_ref().and_then(|s| s.username.clone()).or_else(|| plan.username.clone()),
                "connect_account": plan.connect.username,
                "plugin": format!("{} {}", plan.plugin.id, plan.plugin.version),
                "status": status,
                "error": if error_code.is_empty() { Value::Null } else { json!(error_code) },
                "commands": counts.commands,
                "sessions": counts.sessions,
                "duration_ms": u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            }),
        )
        .await;
        let finished = date_start
            + chrono::TimeDelta::from_std(elapsed).unwrap_or_else(|_| chrono::TimeDelta::zero());
        let subject = plan.subject.as_ref();
        Ok(ExecutionResult::from(ExecutionRecord {
            id,
            org_id: plan.asset.org_id,
            asset_id: plan.asset.id,
            asset_name: plan.asset.name.clone(),
            account_id: subject.map(|s| s.id).or(match method {
                Method::Ping => Some(plan.connect.id),
                _ => None,
            }),
            account_username: if method == Method::Ping {
                plan.connect.username.clone().unwrap_or_default()
            } else {
                subject
                    .and_then(|s| s.username.clone())
                    .or_else(|| plan.username.clone())
                    .unwrap_or_default()
            },
            method: method.name().to_owned(),
            plugin_id: plan.plugin.id.clone(),
            plugin_version: plan.plugin.version.clone(),
            status: status.to_owned(),
            error_code,
            error_message,
            result: output,
            log: log_json,
            date_start,
            date_finished: Some(finished),
            created_by: actor.name.clone(),
        }))
    }

    #[allow(clippy::too_many_arguments)]
    async fn op_log(
        &self,
        org: Uuid,
        actor: &Actor,
        action: &str,
        resource_type: &str,
        resource: &str,
        id: &str,
        diff: Value,
    ) {
        if let Err(e) = self
            .store
            .operate_log(
                org,
                &actor.name,
                action,
                resource_type,
                resource,
                id,
                &actor.ip,
                &diff,
            )
            .await
        {
            tracing::error!(error = %e, "could not write the operation log");
        }
    }
}

fn secret_kind(secret_type: &str) -> SecretKind {
    match secret_type {
        "ssh_key" => SecretKind::SshKey,
        "token" => SecretKind::Token,
        "access_key" => SecretKind::AccessKey,
        "api_key" => SecretKind::ApiKey,
        _ => SecretKind::Password,
    }
}

fn secret_value(name: &str, secret: &SecretString, public: Option<String>) -> SecretValue {
    SecretValue {
        name: name.to_owned(),
        bytes: Zeroizing::new(secret.expose().as_bytes().to_vec()),
        public_part: public,
    }
}

fn credential(kind: &str, secret: &SecretString) -> Credential {
    match kind {
        "ssh_key" => Credential::PrivateKey {
            pem: secret.clone(),
            passphrase: None,
        },
        _ => Credential::Password(secret.clone()),
    }
}

/// The `connectivity` column's value for a check's answer.
fn connectivity(answer: &Result<Output, InvokeError>) -> &'static str {
    match answer {
        Ok(_) => "ok",
        Err(InvokeError::Plugin(e)) => connectivity_of(e),
        Err(_) => "err",
    }
}

fn connectivity_of(e: &PluginError) -> &'static str {
    match e {
        PluginError::Unauthorized(_) => "auth_err",
        _ => "err",
    }
}

/// push_account's options: the request's fields over the platform's parameters (JumpServer's
/// `home`, `shell`, `groups`, `sudo`).
fn push_options(params: &Value, request: &AutomationRequest) -> PushOptions {
    let param = |k: &str| {
        params
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let nonempty = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_owned());
    PushOptions {
        home: nonempty(&request.home)
            .or_else(|| param("home"))
            .filter(|s| !s.is_empty()),
        shell: nonempty(&request.shell)
            .or_else(|| param("shell"))
            .filter(|s| !s.is_empty()),
        groups: request
            .groups
            .clone()
            .or_else(|| param("groups").map(|g| split_csv(&g)))
            .unwrap_or_default(),
        sudo: match &request.sudo {
            Some(s) => sudo_rule(s),
            None => param("sudo").and_then(|s| sudo_rule(&s)),
        },
        private_group: request
            .private_group
            .or_else(|| params.get("private_group").and_then(lenient_bool))
            .unwrap_or(true),
    }
}

/// A boolean parameter as JSON or in the canonical text form checked parameters come in.
fn lenient_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn gathered_input(a: &DiscoveredAccount) -> GatheredInput {
    GatheredInput {
        username: a.username.clone(),
        uid: a.uid.map(i64::from),
        home: a.home.clone().unwrap_or_default(),
        shell: a.shell.clone().unwrap_or_default(),
        groups: a.groups.clone(),
        address_last_login: a.last_login_address.clone().unwrap_or_default(),
        date_last_login: a.last_login.as_deref().and_then(parse_login_time),
        login_enabled: a.login_enabled,
        privileged: a.privileged,
    }
}

/// A last-login time as plugins report it: RFC 3339, or `YYYY-MM-DD HH:MM:SS[ ±ZZZZ]`.
fn parse_login_time(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S %z") {
        return Some(d.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|n| n.and_utc())
}

/// A gathered account as the API shows it.
pub fn gathered_json(g: &GatheredRecord) -> Value {
    json!({
        "id": g.id,
        "asset": {"id": g.asset_id, "name": g.asset_name},
        "username": g.username,
        "uid": g.uid,
        "home": g.home,
        "shell": g.shell,
        "groups": g.groups,
        "address_last_login": g.address_last_login,
        "date_last_login": g.date_last_login.map(|d| d.to_rfc3339()),
        "login_enabled": g.login_enabled,
        "privileged": g.privileged,
        "remote_present": g.remote_present,
        "present": g.present,
        "status": g.status,
        "detail": g.detail,
        "date_created": g.date_created.to_rfc3339(),
        "date_updated": g.date_updated.to_rfc3339(),
    })
}

/// Pauses before each further attempt at storing a secret the asset already has: a busy or
/// briefly unavailable database must not lose it (about 35 s in all).
const STORE_RETRY_DELAYS: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(3),
    Duration::from_secs(10),
    Duration::from_secs(20),
];

/// Runs `attempt` until it succeeds, pausing `delays` between tries; the last error when
/// they are used up. Storing is one transaction, so a failed try left nothing behind.
async fn retry_storing<T, E, F, Fut>(delays: &[Duration], mut attempt: F) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut delays = delays.iter();
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => match delays.next() {
                Some(d) => {
                    tracing::warn!(error = %e, "storing a changed secret failed; trying again");
                    tokio::time::sleep(*d).await;
                }
                None => return Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_options_take_the_request_over_the_platform() {
        let params = json!({"sudo": "/bin/whoami", "shell": "/bin/bash", "home": "", "groups": "adm, audio"});
        let o = push_options(&params, &AutomationRequest::default());
        assert_eq!(o.shell.as_deref(), Some("/bin/bash"));
        let checked = json!({"private_group": "false"});
        assert!(!push_options(&checked, &AutomationRequest::default()).private_group);
        assert_eq!(o.home, None);
        assert_eq!(o.groups, ["adm", "audio"]);
        assert_eq!(o.sudo.as_deref(), Some("ALL=(ALL) NOPASSWD: /bin/whoami"));
        assert!(o.private_group);
        let req = AutomationRequest {
            home: Some("/srv/u".into()),
            groups: Some(vec!["wheel".into()]),
            sudo: Some(String::new()),
            private_group: Some(false),
            ..AutomationRequest::default()
        };
        let o = push_options(&params, &req);
        assert_eq!(o.home.as_deref(), Some("/srv/u"));
        assert_eq!(o.groups, ["wheel"]);
        assert_eq!(o.sudo, None);
        assert!(!o.private_group);
    }

    #[test]
    fn login_times_in_the_usual_forms() {
        let want = "2026-08-01T10:20:30Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(parse_login_time("2026-08-01T10:20:30Z"), Some(want));
        assert_eq!(parse_login_time("2026-08-01T12:20:30+02:00"), Some(want));
        assert_eq!(parse_login_time("2026-08-01 10:20:30 +0000"), Some(want));
        assert_eq!(parse_login_time("2026-08-01 10:20:30"), Some(want));
        assert_eq!(parse_login_time("**Never logged in**"), None);
    }

    #[tokio::test]
    async fn storing_a_changed_secret_is_tried_again_until_it_works() {
        let delays = [Duration::from_millis(1); 3];
        let mut tries = 0;
        let r: Result<u32, String> = retry_storing(&delays, || {
            tries += 1;
            let n = tries;
            async move {
                if n < 3 {
                    Err(format!("database is locked ({n})"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r, Ok(3));
        // Used up: the last error.
        let mut tries = 0;
        let r: Result<u32, String> = retry_storing(&delays, || {
            tries += 1;
            let n = tries;
            async move { Err(format!("down {n}")) }
        })
        .await;
        assert_eq!(r, Err("down 4".to_owned()));
    }
}
