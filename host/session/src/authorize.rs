//! The connect decision: may this user reach this asset, as this account, over this protocol —
//! and if so, everything the session needs to do it.
//!
//! The decision itself is the core's: the permission engine's grant for the (user, asset) pair
//! (read through the store's materialized view) and the asset-connect ACLs evaluated by
//! [`portcullis_core::acl::evaluate_connect`]. This module only gathers the inputs and turns
//! a yes into an [`Authorized`] connection: the vaulted credential, the asset's zone gateway,
//! the platform's algorithm policy, and the command-filter ACLs the session applies.

use crate::target::{Credential, TargetSpec};
use chrono::{DateTime, Local, Utc};
use portcullis_core::acl::{
    AclSubject, AttrMap, CommandFilterAcl, CommandGroupSet, ConnectAction, evaluate_connect,
};
use portcullis_core::perm::{Actions, AssetGrant, PermedAccount, VirtualAccount};
use portcullis_core::secret::SecretString;
use portcullis_core::vault::Vault;
use portcullis_store::assets::{AssetQuery, AssetRecord};
use portcullis_store::{Store, StoreError};
use std::net::IpAddr;
use std::time::Duration;
use thiserror::Error;
use uuid::Uuid;

/// Which front door a session came through, stored as JumpServer's `login_from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFrom {
    /// An SSH client (`ST`).
    SshTerminal,
    /// The web terminal (`WT`).
    WebTerminal,
}

impl LoginFrom {
    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            LoginFrom::SshTerminal => "ST",
            LoginFrom::WebTerminal => "WT",
        }
    }
}

/// The logged-in user asking for a connection.
#[derive(Debug, Clone)]
pub struct Requester {
    /// User id.
    pub user_id: Uuid,
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// The client's address (connect ACLs, session rows).
    pub remote_addr: IpAddr,
    /// The front door.
    pub login_from: LoginFrom,
}

impl Requester {
    /// `Name(username)`, as JumpServer displays users in sessions and logs.
    pub fn display(&self) -> String {
        format!("{}({})", self.name, self.username)
    }
}

/// How the requester named the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountRef {
    /// By alias: an account id, or `@INPUT` / `@USER` / `@ANON`.
    Alias(String),
    /// By the username on the asset (direct connect `user@root@host`).
    Username(String),
}

/// Credentials typed by the user for an `@INPUT` account (or a secret for an account stored
/// without one).
#[derive(Debug, Clone, Default)]
pub struct InputCredentials {
    /// Username typed (required for `@INPUT`).
    pub username: Option<String>,
    /// Password typed.
    pub password: Option<SecretString>,
}

/// A connection request.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// The asset.
    pub asset_id: Uuid,
    /// The protocol (`ssh`, `sftp`).
    pub protocol: String,
    /// The account.
    pub account: AccountRef,
    /// Typed credentials, for `@INPUT`.
    pub input: InputCredentials,
}

/// The account a session runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAccount {
    /// The stored account; `None` for virtual accounts.
    pub id: Option<Uuid>,
    /// Its alias in the grant.
    pub alias: String,
    /// Display name.
    pub name: String,
    /// The username used on the asset.
    pub username: String,
}

impl SessionAccount {
    /// `name(username)`, as sessions and command logs show accounts.
    pub fn display(&self) -> String {
        format!("{}({})", self.name, self.username)
    }
}

/// The command-filter ACLs that apply to the session's asset, with the subject they are
/// evaluated for.
#[derive(Debug, Clone)]
pub struct CommandPolicy {
    /// Active ACLs of the asset's org.
    pub acls: Vec<CommandFilterAcl>,
    /// Their compiled command groups.
    pub groups: CommandGroupSet,
    /// The user's attributes.
    pub user: AttrMap,
    /// The asset's attributes.
    pub asset: AttrMap,
    /// The username on the asset.
    pub account: String,
}

impl CommandPolicy {
    /// The core's decision for one command line.
    pub fn decide(&self, line: &str) -> portcullis_core::acl::CommandDecision {
        portcullis_core::acl::evaluate_command(
            &self.acls,
            &self.groups,
            &AclSubject {
                user: &self.user,
                asset: &self.asset,
                account: &self.account,
            },
            line,
        )
    }

    /// Whether any ACL could apply (lets the pump skip capture work when none can).
    pub fn is_empty(&self) -> bool {
        self.acls.is_empty()
    }
}

/// A connection the core allowed, with everything needed to make it.
#[derive(Debug, Clone)]
pub struct Authorized {
    /// Who.
    pub requester: Requester,
    /// The asset.
    pub asset: AssetRecord,
    /// The account.
    pub account: SessionAccount,
    /// The protocol.
    pub protocol: String,
    /// What the user may do there (connect, upload, download, delete, …).
    pub actions: Actions,
    /// When the grant behind this connection runs out: the session ends then.
    pub date_expired: DateTime<Utc>,
    /// The SSH target (address, port, credential, gateway).
    pub target: TargetSpec,
    /// Command filtering for terminal sessions.
    pub commands: CommandPolicy,
    /// The platform's SFTP root setting (`sftp_home`), for SFTP sessions.
    pub sftp_home: String,
}

/// Why a connection is refused. The messages are shown to the user as they are.
#[derive(Debug, Error)]
pub enum Denied {
    /// Not granted at all (or no such asset: the two are not told apart).
    #[error("No permission for this asset, or it does not exist")]
    AssetNotPermitted,
    /// The protocol is not granted on the asset.
    #[error("The protocol {0} is not permitted on this asset")]
    ProtocolNotPermitted(String),
    /// No granted account matches.
    #[error("No permitted account matches {0}")]
    AccountNotFound(String),
    /// Several granted accounts share the username.
    #[error("Several permitted accounts match {0}; choose one by its name")]
    AmbiguousAccount(String),
    /// The account lacks the `connect` action.
    #[error("Connecting as {0} is not permitted")]
    ConnectNotPermitted(String),
    /// `@INPUT` without a username.
    #[error("The account {0} needs a username and password typed at connect")]
    NeedsInput(String),
    /// An asset-connect ACL rejects it.
    #[error("The connection is rejected by an access control rule (ACL reject)")]
    AclReject,
    /// An asset-connect ACL wants a review by one of `reviewers`; connect again with
    /// [`authorize_reviewed`] once a review ticket is approved.
    #[error("The connection needs a reviewer's approval (ACL review)")]
    AclReview {
        /// Who may approve.
        reviewers: Vec<Uuid>,
    },
    /// The asset has no such protocol port.
    #[error("The asset has no {0} port")]
    NoPort(String),
    /// The asset's zone has no usable gateway.
    #[error("The asset's zone {0} has no active gateway with an SSH account")]
    NoGateway(String),
    /// The store failed.
    #[error("the connection could not be checked: {0}")]
    Store(#[from] StoreError),
}

impl Denied {
    /// A JumpServer-style code for logs and API answers.
    pub fn code(&self) -> &'static str {
        match self {
            Denied::AclReject => "acl_reject",
            Denied::AclReview { .. } => "acl_review",
            Denied::Store(_) => "internal_error",
            _ => "perm_account_invalid",
        }
    }
}

/// Timeouts for outbound connections.
#[derive(Debug, Clone, Copy)]
pub struct TargetTimeouts {
    /// TCP connect plus handshake plus authentication.
    pub connect: Duration,
    /// Keepalive interval towards the asset.
    pub keepalive: Option<Duration>,
}

impl Default for TargetTimeouts {
    fn default() -> Self {
        TargetTimeouts {
            connect: Duration::from_secs(10),
            keepalive: Some(Duration::from_secs(30)),
        }
    }
}

/// How long an approved connection review stays good for connecting.
pub const REVIEW_VALIDITY: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// Decides and prepares a connection. See the module docs.
pub async fn authorize(
    store: &Store,
    vault: &Vault,
    who: &Requester,
    req: &ConnectRequest,
    timeouts: TargetTimeouts,
) -> Result<Authorized, Denied> {
    authorize_with(store, vault, who, req, timeouts, None).await
}

/// [`authorize`] for a connection whose asset-connect ACL asked for a review: `ticket` must
/// be an approved `login_asset_confirm` ticket of this user for this asset, approved within
/// [`REVIEW_VALIDITY`]. Everything else is decided again (a `reject` still rejects).
pub async fn authorize_reviewed(
    store: &Store,
    vault: &Vault,
    who: &Requester,
    req: &ConnectRequest,
    timeouts: TargetTimeouts,
    ticket: Uuid,
) -> Result<Authorized, Denied> {
    authorize_with(store, vault, who, req, timeouts, Some(ticket)).await
}

async fn review_approved(
    store: &Store,
    who: &Requester,
    asset: Uuid,
    ticket: Uuid,
) -> Result<bool, StoreError> {
    use portcullis_store::tickets::{TicketKind, TicketState};
    let Some(t) = store.ticket(ticket).await? else {
        return Ok(false);
    };
    Ok(t.kind == TicketKind::LoginAssetConfirm
        && t.state == TicketState::Approved
        && t.applicant_id == who.user_id
        && t.meta.get("asset_id").and_then(|v| v.as_str()) == Some(asset.to_string().as_str())
        && Utc::now() - t.date_updated <= REVIEW_VALIDITY)
}

async fn authorize_with(
    store: &Store,
    vault: &Vault,
    who: &Requester,
    req: &ConnectRequest,
    timeouts: TargetTimeouts,
    ticket: Option<Uuid>,
) -> Result<Authorized, Denied> {
    let grant = store
        .user_asset_grant(who.user_id, req.asset_id)
        .await?
        .ok_or(Denied::AssetNotPermitted)?;
    let asset = store
        .asset_record(None, &req.asset_id.to_string())
        .await?
        .ok_or(Denied::AssetNotPermitted)?;
    let protocol = req.protocol.to_ascii_lowercase();
    let protocol_grant = grant
        .protocol(&protocol)
        .ok_or_else(|| Denied::ProtocolNotPermitted(protocol.clone()))?;
    let permed = pick_account(&grant, &req.account)?;
    if !permed.actions.contains(Actions::CONNECT) {
        return Err(Denied::ConnectNotPermitted(permed.name.clone()));
    }
    let account = session_account(who, permed, &req.input)?;

    // Asset-connect ACLs, evaluated in the server's local time as JumpServer does.
    let user_attrs = user_attrs(store, who).await?;
    let asset_attrs = asset_attrs(&asset);
    let acls = store.load_connect_acls(asset.org_id).await?;
    let decision = evaluate_connect(
        &acls,
        &AclSubject {
            user: &user_attrs,
            asset: &asset_attrs,
            account: &account.username,
        },
        who.remote_addr,
        Utc::now().with_timezone(&Local).naive_local(),
    );
    match decision.action {
        ConnectAction::Reject => return Err(Denied::AclReject),
        ConnectAction::Review => {
            let approved = match ticket {
                Some(t) => review_approved(store, who, req.asset_id, t).await?,
                None => false,
            };
            if !approved {
                return Err(Denied::AclReview {
                    reviewers: decision.reviewers.clone(),
                });
            }
        }
        ConnectAction::Accept | ConnectAction::Notice => {}
    }

    // SFTP rides on the asset's SSH port unless the asset lists its own.
    let port = asset
        .protocols
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&protocol))
        .or_else(|| asset.protocols.iter().find(|(n, _)| n == "ssh"))
        .map(|(_, p)| *p)
        .or(Some(i64::from(protocol_grant.port)))
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| Denied::NoPort(protocol.clone()))?;
    let platform = store.platform(None, &asset.platform_id.to_string()).await?;
    let setting = |proto: &str, key: &str| {
        platform
            .as_ref()
            .and_then(|p| p.protocols.iter().find(|x| x.name == proto))
            .and_then(|x| x.setting.get(key).cloned())
    };
    let legacy = setting("ssh", "old_ssh_version")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let sftp_home = setting("sftp", "sftp_home")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();

    let credential = credential(store, vault, &account, &req.input).await?;
    let gateway = match &asset.zone {
        Some((zone_id, zone_name)) => Some(Box::new(
            gateway_spec(store, vault, *zone_id, zone_name, timeouts).await?,
        )),
        None => None,
    };
    let target = TargetSpec {
        asset_id: asset.id,
        asset_name: asset.name.clone(),
        address: asset.address.clone(),
        port,
        username: account.username.clone(),
        credential,
        legacy_algorithms: legacy,
        connect_timeout: timeouts.connect,
        keepalive: timeouts.keepalive,
        gateway,
    };
    let (filter_acls, groups) = store.load_command_filter_acls(asset.org_id).await?;
    Ok(Authorized {
        requester: who.clone(),
        actions: permed.actions,
        date_expired: permed.date_expired.min(grant.date_expired),
        commands: CommandPolicy {
            acls: filter_acls,
            groups,
            user: user_attrs,
            asset: asset_attrs,
            account: account.username.clone(),
        },
        account,
        protocol,
        asset,
        target,
        sftp_home,
    })
}

/// Decides a port forward (`ssh -L`, `direct-tcpip`) to port `port` of an asset: allowed
/// when the user is granted, with the `connect` action on at least one account, a protocol
/// the asset serves on that port — forwarding reaches only what the permission already
/// opens, and nothing else on the network. Asset-connect ACLs apply as for any connection
/// (with no account). The result's `target` names the asset's address and port and its
/// zone gateway; it carries no credential: the client speaks the protocol itself.
pub async fn authorize_tunnel(
    store: &Store,
    vault: &Vault,
    who: &Requester,
    asset_id: Uuid,
    port: u16,
    timeouts: TargetTimeouts,
) -> Result<Authorized, Denied> {
    let grant = store
        .user_asset_grant(who.user_id, asset_id)
        .await?
        .ok_or(Denied::AssetNotPermitted)?;
    let asset = store
        .asset_record(None, &asset_id.to_string())
        .await?
        .ok_or(Denied::AssetNotPermitted)?;
    let protocol = asset
        .protocols
        .iter()
        .filter(|(name, p)| *p == i64::from(port) && grant.protocol(name).is_some())
        // SFTP shares the SSH port; name the forward after the protocol that owns it.
        .min_by_key(|(name, _)| name == "sftp")
        .map(|(name, _)| name.clone())
        .ok_or_else(|| Denied::ProtocolNotPermitted(format!("port {port}")))?;
    let Some(permed) = grant
        .accounts
        .iter()
        .filter(|a| a.actions.contains(Actions::CONNECT))
        .max_by_key(|a| a.date_expired)
    else {
        return Err(Denied::ConnectNotPermitted(asset.name.clone()));
    };
    let user_attrs = user_attrs(store, who).await?;
    let asset_attrs = asset_attrs(&asset);
    let acls = store.load_connect_acls(asset.org_id).await?;
    let decision = evaluate_connect(
        &acls,
        &AclSubject {
            user: &user_attrs,
            asset: &asset_attrs,
            account: "",
        },
        who.remote_addr,
        Utc::now().with_timezone(&Local).naive_local(),
    );
    match decision.action {
        ConnectAction::Reject => return Err(Denied::AclReject),
        ConnectAction::Review => {
            return Err(Denied::AclReview {
                reviewers: decision.reviewers.clone(),
            });
        }
        ConnectAction::Accept | ConnectAction::Notice => {}
    }
    let gateway = match &asset.zone {
        Some((zone_id, zone_name)) => Some(Box::new(
            gateway_spec(store, vault, *zone_id, zone_name, timeouts).await?,
        )),
        None => None,
    };
    Ok(Authorized {
        requester: who.clone(),
        actions: Actions::CONNECT,
        date_expired: permed.date_expired.min(grant.date_expired),
        commands: CommandPolicy {
            acls: Vec::new(),
            groups: CommandGroupSet::default(),
            user: user_attrs,
            asset: asset_attrs,
            account: String::new(),
        },
        account: SessionAccount {
            id: None,
            alias: String::new(),
            name: "Port forward".into(),
            username: format!("{protocol}:{port}"),
        },
        target: TargetSpec {
            asset_id: asset.id,
            asset_name: asset.name.clone(),
            address: asset.address.clone(),
            port,
            username: String::new(),
            credential: Credential::None,
            legacy_algorithms: false,
            connect_timeout: timeouts.connect,
            keepalive: timeouts.keepalive,
            gateway,
        },
        protocol,
        asset,
        sftp_home: String::new(),
    })
}

/// The SSH target for a system automation (ping, verify, change secret, push, gather, remove)
/// on `asset_id` as the stored account `account_id`: no user and no permission are involved
/// (automations are system actions an administrator asked for), but everything else is what a
/// user's session gets — the vaulted credential, the zone's gateway, the platform's legacy
/// algorithm setting. The caller may swap `credential` (to log in with a new secret).
pub async fn automation_target(
    store: &Store,
    vault: &Vault,
    asset_id: Uuid,
    account_id: Uuid,
    timeouts: TargetTimeouts,
) -> Result<TargetSpec, Denied> {
    let asset = store
        .asset_record(None, &asset_id.to_string())
        .await?
        .ok_or(Denied::AssetNotPermitted)?;
    let record = store
        .account(account_id)
        .await?
        .filter(|a| a.asset.id == asset.id)
        .ok_or_else(|| Denied::AccountNotFound(account_id.to_string()))?;
    let port = asset
        .protocols
        .iter()
        .find(|(n, _)| n == "ssh")
        .and_then(|(_, p)| u16::try_from(*p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| Denied::NoPort("ssh".into()))?;
    let legacy = store
        .platform(None, &asset.platform_id.to_string())
        .await?
        .and_then(|p| p.protocols.into_iter().find(|x| x.name == "ssh"))
        .and_then(|x| x.setting.get("old_ssh_version").and_then(|v| v.as_bool()))
        .unwrap_or(false);
    let account = SessionAccount {
        id: Some(record.id),
        alias: record.id.to_string(),
        name: record.name.clone(),
        username: record.username.clone().unwrap_or_default(),
    };
    let credential = credential(store, vault, &account, &InputCredentials::default()).await?;
    let gateway = match &asset.zone {
        Some((zone_id, zone_name)) => Some(Box::new(
            gateway_spec(store, vault, *zone_id, zone_name, timeouts).await?,
        )),
        None => None,
    };
    Ok(TargetSpec {
        asset_id: asset.id,
        asset_name: asset.name,
        address: asset.address,
        port,
        username: account.username,
        credential,
        legacy_algorithms: legacy,
        connect_timeout: timeouts.connect,
        keepalive: timeouts.keepalive,
        gateway,
    })
}

/// The granted account the request names.
fn pick_account<'g>(
    grant: &'g AssetGrant,
    wanted: &AccountRef,
) -> Result<&'g PermedAccount, Denied> {
    match wanted {
        AccountRef::Alias(alias) => grant
            .account(alias)
            .ok_or_else(|| Denied::AccountNotFound(alias.clone())),
        AccountRef::Username(name) => {
            let matches: Vec<&PermedAccount> = grant
                .accounts
                .iter()
                .filter(|a| a.virtual_kind.is_none() && a.username == *name)
                .collect();
            match matches.as_slice() {
                [one] => Ok(one),
                [] => Err(Denied::AccountNotFound(name.clone())),
                _ => Err(Denied::AmbiguousAccount(name.clone())),
            }
        }
    }
}

fn session_account(
    who: &Requester,
    permed: &PermedAccount,
    input: &InputCredentials,
) -> Result<SessionAccount, Denied> {
    let username = match permed.virtual_kind {
        Some(VirtualAccount::Input) => input
            .username
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| Denied::NeedsInput(permed.alias.clone()))?,
        Some(VirtualAccount::User) => who.username.clone(),
        Some(VirtualAccount::Anon) => String::new(),
        None => permed.username.clone(),
    };
    Ok(SessionAccount {
        id: permed.id,
        alias: permed.alias.clone(),
        name: permed.name.clone(),
        username,
    })
}

/// The secret to log in with: the vaulted one for stored accounts (a typed password when
/// none is stored), the typed one for `@INPUT`/`@USER`.
async fn credential(
    store: &Store,
    vault: &Vault,
    account: &SessionAccount,
    input: &InputCredentials,
) -> Result<Credential, Denied> {
    let typed = || match &input.password {
        Some(p) => Credential::Password(p.clone()),
        None => Credential::None,
    };
    let Some(id) = account.id else {
        return Ok(typed());
    };
    let Some(record) = store.account(id).await? else {
        return Err(Denied::AccountNotFound(account.alias.clone()));
    };
    let Some(secret) = store.account_secret(vault, id).await? else {
        return Ok(typed());
    };
    Ok(match record.secret_type.as_str() {
        "ssh_key" => Credential::PrivateKey {
            pem: secret,
            passphrase: store.account_passphrase(vault, id).await?,
        },
        _ => Credential::Password(secret),
    })
}

/// The zone's first active SSH gateway (by name) with a usable account: privileged accounts
/// first, then any active account holding a secret.
async fn gateway_spec(
    store: &Store,
    vault: &Vault,
    zone_id: Uuid,
    zone_name: &str,
    timeouts: TargetTimeouts,
) -> Result<TargetSpec, Denied> {
    let (_, gateways) = store
        .list_assets(&AssetQuery {
            zone_id: Some(zone_id),
            is_gateway: Some(true),
            is_active: Some(true),
            order: Some("name".into()),
            limit: 20,
            ..AssetQuery::default()
        })
        .await?;
    for gw in gateways {
        let Some(port) = gw
            .protocols
            .iter()
            .find(|(n, _)| n == "ssh")
            .and_then(|(_, p)| u16::try_from(*p).ok())
        else {
            continue;
        };
        let mut accounts = store.accounts_on_assets(&[gw.id]).await?;
        accounts.retain(|a| a.is_active && a.has_secret && a.username.is_some());
        accounts.sort_by_key(|a| !a.privileged);
        let Some(acc) = accounts.first() else {
            continue;
        };
        let session_acc = SessionAccount {
            id: Some(acc.id),
            alias: acc.id.to_string(),
            name: acc.name.clone(),
            username: acc.username.clone().unwrap_or_default(),
        };
        let credential =
            credential(store, vault, &session_acc, &InputCredentials::default()).await?;
        return Ok(TargetSpec {
            asset_id: gw.id,
            asset_name: gw.name.clone(),
            address: gw.address.clone(),
            port,
            username: session_acc.username,
            credential,
            legacy_algorithms: false,
            connect_timeout: timeouts.connect,
            keepalive: timeouts.keepalive,
            gateway: None,
        });
    }
    Err(Denied::NoGateway(zone_name.to_owned()))
}

async fn user_attrs(store: &Store, who: &Requester) -> Result<AttrMap, StoreError> {
    let rec = store.user_record(&who.user_id.to_string()).await?;
    let (name, email, source) = rec
        .map(|u| (u.name, u.email, u.source))
        .unwrap_or_else(|| (who.name.clone(), String::new(), String::new()));
    Ok(AttrMap::new(
        who.user_id,
        [
            ("username", who.username.clone()),
            ("name", name),
            ("email", email),
            ("source", source),
        ],
    ))
}

fn asset_attrs(a: &AssetRecord) -> AttrMap {
    AttrMap::new(
        a.id,
        [
            ("name", a.name.clone()),
            ("address", a.address.clone()),
            ("platform", a.platform_name.clone()),
            ("category", a.category.clone()),
            ("type", a.type_.clone()),
            ("comment", a.comment.clone()),
        ],
    )
}
