//! The interactive asset menu: what a pty session without a direct target sees (reference
//! §5.4–5.5).
//!
//! The menu is a pure state machine over lines of input. It does no terminal I/O and knows
//! nothing of SSH: the server feeds it lines from [`crate::line::LineEditor`], writes
//! [`MenuStep::output`] and [`MenuStep::prompt`] to the channel, sets the editor's echo from
//! [`MenuStep::echo`], and acts on [`MenuStep::action`] (connect to an asset, or leave). Its
//! data comes through the [`Catalog`] trait, so the whole dialogue is unit-tested with an
//! in-memory catalog; [`StoreCatalog`] is the real one over the store's permission cache.
//!
//! A session with the server looks like:
//!
//! ```text
//! write(menu.welcome()); write(menu.prompt());
//! for each line:  step = menu.handle_line(line, &catalog).await
//!                 write(step.output); set_echo(step.echo)
//!                 match step.action {
//!                     None => write(step.prompt),
//!                     Some(Connect(c)) => { run the session; step = menu.after_session(); … }
//!                     Some(Quit) => close,
//!                 }
//! Ctrl-C: menu.cancel();  Ctrl-D: menu.eof();  window change: menu.resize(cols, rows)
//! idle: menu.idle_timeout() / menu.idle_message()
//! ```
//!
//! Every line written ends with `\r\n` (the pty is in raw mode, so a bare `\n` would not
//! return the cursor). Names, comments and announcements pass through [`clean`], so an asset
//! named with escape sequences cannot drive the user's terminal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use portcullis_core::perm::{Actions, VirtualAccount};
use portcullis_core::secret::SecretString;
use portcullis_store::perms::{AssetScope, NodeRef, PermittedAssetRow};
use portcullis_store::settings::Announcement;
use portcullis_store::{Store, StoreError};
use thiserror::Error;
use unicode_width::UnicodeWidthChar;
use uuid::Uuid;

/// JumpServer's default `TERMINAL_HEADER_TITLE`, reworded for Portcullis.
pub const DEFAULT_TITLE: &str = "Welcome to the Portcullis bastion host";

/// The protocols the terminal gateway can open from a pty (the session engine speaks SSH).
pub const TERMINAL_PROTOCOLS: &[&str] = &["ssh"];

/// Wrong answers allowed at a selection prompt before the menu gives up on it.
const MAX_TRIES: u8 = 3;

/// The terminal width assumed until the client reports one.
const DEFAULT_COLS: usize = 80;
/// The terminal height assumed until the client reports one.
const DEFAULT_ROWS: usize = 24;

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";
const CLEAR_SCREEN: &str = "\x1b[H\x1b[2J";

const PROMPT_MAIN: &str = "Opt> ";
const PROMPT_HOST: &str = "[Host]> ";
const PROMPT_DB: &str = "[DB]> ";
const PROMPT_K8S: &str = "[K8S]> ";
const PROMPT_ID: &str = "ID> ";

// ------------------------------------------------------------------------------------------
// The data the menu shows
// ------------------------------------------------------------------------------------------

/// Which assets a list view wants by category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Category {
    /// Every category.
    #[default]
    All,
    /// Category `host` (`h`).
    Host,
    /// Category `database` (`d`).
    Database,
    /// Kubernetes clusters, type `k8s` (`k`).
    Kubernetes,
}

impl Category {
    /// Whether an asset of `category` belongs.
    pub fn matches(self, category: &str) -> bool {
        match self {
            Category::All => true,
            Category::Host => category.eq_ignore_ascii_case("host"),
            Category::Database => category.eq_ignore_ascii_case("database"),
            // Told apart by type, not category (clusters are in `cloud`).
            Category::Kubernetes => false,
        }
    }

    /// Whether `asset` belongs (the category, or for Kubernetes the type).
    pub fn matches_asset(self, asset: &AssetItem) -> bool {
        match self {
            Category::Kubernetes => asset.type_.eq_ignore_ascii_case("k8s"),
            other => other.matches(&asset.category),
        }
    }
}

/// The order of asset lists (`TERMINAL_ASSET_LIST_SORT_BY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssetOrder {
    /// By name (the default).
    #[default]
    Name,
    /// By address (`ip`).
    Address,
}

/// A request for one page of the user's permitted assets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AssetQuery {
    /// Every keyword must appear (case-insensitively) in the name, the address or the
    /// comment. `//word` adds one.
    pub keywords: Vec<String>,
    /// Only assets whose name or address equals this (case-insensitively): the "connect at
    /// once on an exact, unique match" lookup.
    pub exact: Option<String>,
    /// Category filter.
    pub category: Category,
    /// Only assets in this node of the permitted tree or below it.
    pub node: Option<Uuid>,
    /// Only assets with at least one of these protocols (case-insensitive); empty: any.
    pub protocols: Vec<String>,
    /// Sort order.
    pub order: AssetOrder,
    /// Only active assets.
    pub active_only: bool,
    /// Rows to skip.
    pub offset: usize,
    /// Rows wanted.
    pub limit: usize,
}

impl AssetQuery {
    /// Whether `asset` passes the filters (all but `node` and the paging, which a catalog
    /// applies with its own knowledge of the tree).
    pub fn matches(&self, asset: &AssetItem) -> bool {
        if self.active_only && !asset.is_active {
            return false;
        }
        if !self.category.matches_asset(asset) {
            return false;
        }
        if !self.protocols.is_empty()
            && !asset.protocols.iter().any(|p| {
                self.protocols
                    .iter()
                    .any(|want| want.eq_ignore_ascii_case(p))
            })
        {
            return false;
        }
        if let Some(exact) = &self.exact
            && !(asset.name.to_lowercase() == exact.to_lowercase()
                || asset.address.eq_ignore_ascii_case(exact))
        {
            return false;
        }
        let fields = [
            asset.name.to_lowercase(),
            asset.address.to_lowercase(),
            asset.comment.to_lowercase(),
        ];
        self.keywords.iter().all(|k| {
            let k = k.to_lowercase();
            fields.iter().any(|f| f.contains(&k))
        })
    }

    /// Whether the only filter is the node scope, so a catalog can page in its storage
    /// order (by name) without looking at each asset.
    pub fn is_unfiltered(&self) -> bool {
        self.keywords.is_empty()
            && self.exact.is_none()
            && self.category == Category::All
            && self.protocols.is_empty()
            && self.order == AssetOrder::Name
    }

    /// Sorts assets in the query's order (case-insensitive, id as the tie-breaker so pages
    /// are stable).
    pub fn sort(&self, assets: &mut [AssetItem]) {
        match self.order {
            AssetOrder::Name => assets.sort_by_cached_key(|a| (a.name.to_lowercase(), a.id)),
            AssetOrder::Address => assets
                .sort_by_cached_key(|a| (a.address.to_lowercase(), a.name.to_lowercase(), a.id)),
        }
    }

    /// Filters, sorts and pages a full list: for catalogs that hold every asset.
    pub fn apply(&self, mut assets: Vec<AssetItem>) -> AssetPage {
        assets.retain(|a| self.matches(a));
        self.sort(&mut assets);
        let total = assets.len();
        let items = assets
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect();
        AssetPage { total, items }
    }
}

/// A permitted asset as the menu lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetItem {
    /// Asset id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Platform name.
    pub platform: String,
    /// Organization name.
    pub org_name: String,
    /// Comment (may span lines).
    pub comment: String,
    /// Category (`host`, `database`, …).
    pub category: String,
    /// Type (`linux`, `mysql`, …).
    pub type_: String,
    /// The asset's protocol names.
    pub protocols: Vec<String>,
    /// Active flag.
    pub is_active: bool,
}

/// One page of assets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AssetPage {
    /// All assets matching the query, not just this page.
    pub total: usize,
    /// This page.
    pub items: Vec<AssetItem>,
}

/// A node of the user's permitted tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeItem {
    /// Node id.
    pub id: Uuid,
    /// The node's org (keys repeat across orgs).
    pub org_id: Uuid,
    /// Materialized path (`1:3:2`): the tree shape comes from it.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Permitted assets in this node and below.
    pub assets_amount: usize,
}

/// What kind of account a grant lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    /// An account stored on the asset.
    Real,
    /// `@INPUT`: the user types the username and the password.
    Input,
    /// `@USER`: the user's own username.
    User,
}

/// One account the user may connect with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantAccount {
    /// The stored account's id (`None` for virtual accounts).
    pub id: Option<Uuid>,
    /// The alias a connection names: the id, or `@INPUT` / `@USER`.
    pub alias: String,
    /// Display name.
    pub name: String,
    /// Username on the asset (the user's own for `@USER`, empty for `@INPUT`).
    pub username: String,
    /// Which kind it is.
    pub kind: AccountKind,
    /// Whether a secret is stored; the menu asks for a password otherwise.
    pub has_secret: bool,
}

/// What the user may use on one asset: the protocols the gateway can open and the accounts
/// that allow connecting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grant {
    /// Protocol names, in the asset's order.
    pub protocols: Vec<String>,
    /// Accounts, real ones first, then `@INPUT`, `@USER`.
    pub accounts: Vec<GrantAccount>,
}

/// Why the catalog could not answer.
#[derive(Debug, Error)]
pub enum CatalogError {
    /// The permission data could not be read.
    #[error("the permission data is unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for CatalogError {
    fn from(e: StoreError) -> Self {
        CatalogError::Unavailable(e.to_string())
    }
}

/// The permitted data of one user: the menu's only window on the world.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// One page of the user's permitted assets matching `q`.
    async fn assets(&self, q: &AssetQuery) -> Result<AssetPage, CatalogError>;
    /// The user's permitted node tree: each org's nodes together, in key order, ancestors
    /// before descendants.
    async fn nodes(&self) -> Result<Vec<NodeItem>, CatalogError>;
    /// The grant on one asset, or `None` when it is not (or no longer) permitted.
    async fn grant(&self, asset_id: Uuid) -> Result<Option<Grant>, CatalogError>;
    /// Recomputes the user's permissions now instead of trusting any cache (`r`).
    async fn refresh(&self) -> Result<(), CatalogError>;
}

// ------------------------------------------------------------------------------------------
// The store-backed catalog
// ------------------------------------------------------------------------------------------

/// How long a snapshot of all the user's assets serves filtered lists. Paging through a
/// search should not reload 100,000 rows per page, but permission changes should show up
/// soon without `r`; connecting always re-checks the grant, so a stale row cannot be used.
const SNAPSHOT_TTL: Duration = Duration::from_secs(30);

/// Rows per store round trip when loading every asset.
const LOAD_BATCH: usize = 1000;

/// [`Catalog`] over the store's materialized permissions, for one user, across all orgs.
///
/// Unfiltered lists (`p`, a node's assets) page in the store. The store orders by name and
/// has no search, category or protocol filter, so filtered lists are computed from a
/// snapshot of every permitted asset, kept for [`SNAPSHOT_TTL`] and dropped by `refresh`.
#[derive(Debug)]
pub struct StoreCatalog {
    store: Store,
    user_id: Uuid,
    protocols: Vec<String>,
    snapshot: Mutex<Option<(Instant, Arc<Vec<AssetItem>>)>>,
}

impl StoreCatalog {
    /// The catalog of `user_id`, offering [`TERMINAL_PROTOCOLS`].
    pub fn new(store: Store, user_id: Uuid) -> StoreCatalog {
        StoreCatalog {
            store,
            user_id,
            protocols: TERMINAL_PROTOCOLS.iter().map(|p| p.to_string()).collect(),
            snapshot: Mutex::new(None),
        }
    }

    /// Offers these protocols in grants instead (the ones the caller can open).
    pub fn with_protocols(mut self, protocols: Vec<String>) -> StoreCatalog {
        self.protocols = protocols;
        self
    }

    /// The user this catalog serves.
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    /// Every permitted asset in `scope`, in name order.
    async fn load(&self, scope: &AssetScope) -> Result<Vec<AssetItem>, CatalogError> {
        let mut all = Vec::new();
        loop {
            let page = self
                .store
                .user_permitted_assets_in(
                    self.user_id,
                    None,
                    scope,
                    to_i64(all.len()),
                    to_i64(LOAD_BATCH),
                )
                .await?;
            let got = page.assets.len();
            all.extend(page.assets.into_iter().map(asset_item));
            if got < LOAD_BATCH || to_i64(all.len()) >= page.count {
                return Ok(all);
            }
        }
    }

    /// Every permitted asset, from the snapshot when it is fresh.
    async fn snapshot(&self) -> Result<Arc<Vec<AssetItem>>, CatalogError> {
        if let Ok(guard) = self.snapshot.lock()
            && let Some((at, assets)) = guard.as_ref()
            && at.elapsed() < SNAPSHOT_TTL
        {
            return Ok(Arc::clone(assets));
        }
        let assets = Arc::new(self.load(&AssetScope::All).await?);
        if let Ok(mut guard) = self.snapshot.lock() {
            *guard = Some((Instant::now(), Arc::clone(&assets)));
        }
        Ok(assets)
    }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn asset_item(r: PermittedAssetRow) -> AssetItem {
    AssetItem {
        id: r.id,
        name: r.name,
        address: r.address,
        platform: r.platform_name,
        org_name: r.org_name,
        comment: r.comment,
        category: r.category,
        type_: r.type_,
        protocols: r.protocols,
        is_active: r.is_active,
    }
}

#[async_trait]
impl Catalog for StoreCatalog {
    async fn assets(&self, q: &AssetQuery) -> Result<AssetPage, CatalogError> {
        let scope = match q.node {
            None => AssetScope::All,
            Some(id) => match self
                .store
                .user_permitted_node(self.user_id, None, &NodeRef::Id(id))
                .await?
            {
                Some(node) => AssetScope::UnderNode {
                    org: node.org_id,
                    key: node.key,
                },
                None => return Ok(AssetPage::default()),
            },
        };
        if q.is_unfiltered() {
            let page = self
                .store
                .user_permitted_assets_in(
                    self.user_id,
                    None,
                    &scope,
                    to_i64(q.offset),
                    to_i64(q.limit),
                )
                .await?;
            let items = page
                .assets
                .into_iter()
                .map(asset_item)
                .filter(|a| !q.active_only || a.is_active)
                .collect();
            return Ok(AssetPage {
                total: usize::try_from(page.count).unwrap_or(0),
                items,
            });
        }
        let all = match scope {
            AssetScope::All => self.snapshot().await?.as_ref().clone(),
            scope => self.load(&scope).await?,
        };
        Ok(q.apply(all))
    }

    async fn nodes(&self) -> Result<Vec<NodeItem>, CatalogError> {
        let rows = self.store.user_permitted_nodes(self.user_id, None).await?;
        let mut nodes: Vec<NodeItem> = rows
            .into_iter()
            .map(|n| NodeItem {
                id: n.id,
                org_id: n.org_id,
                key: n.key,
                name: n.value,
                assets_amount: usize::try_from(n.assets_amount).unwrap_or(0),
            })
            .collect();
        // The store interleaves orgs that share keys; keep each org's tree together (the
        // sort is stable, so key order within an org stays).
        nodes.sort_by_key(|n| n.org_id);
        Ok(nodes)
    }

    async fn grant(&self, asset_id: Uuid) -> Result<Option<Grant>, CatalogError> {
        let Some(g) = self.store.user_asset_grant(self.user_id, asset_id).await? else {
            return Ok(None);
        };
        let protocols = g
            .protocols
            .iter()
            .filter(|p| {
                self.protocols
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(&p.name))
            })
            .map(|p| p.name.clone())
            .collect();
        let accounts = g
            .accounts
            .into_iter()
            .filter(|a| a.actions.contains(Actions::CONNECT))
            .filter_map(|a| {
                let kind = match a.virtual_kind {
                    None => AccountKind::Real,
                    Some(VirtualAccount::Input) => AccountKind::Input,
                    Some(VirtualAccount::User) => AccountKind::User,
                    // Anonymous accounts are for web and custom assets, never a terminal.
                    Some(VirtualAccount::Anon) => return None,
                };
                Some(GrantAccount {
                    id: a.id,
                    alias: a.alias,
                    name: a.name,
                    username: a.username,
                    kind,
                    has_secret: a.has_secret,
                })
            })
            .collect();
        Ok(Some(Grant {
            protocols,
            accounts,
        }))
    }

    async fn refresh(&self) -> Result<(), CatalogError> {
        if let Ok(mut guard) = self.snapshot.lock() {
            *guard = None;
        }
        self.store.rebuild_user_perms(self.user_id).await?;
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// The menu
// ------------------------------------------------------------------------------------------

/// How many assets a page shows (`TERMINAL_ASSET_LIST_PAGE_SIZE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageSize {
    /// The terminal height minus 8, at least 1, following window changes.
    #[default]
    Auto,
    /// Everything on one page.
    All,
    /// This many (at least 1).
    Fixed(usize),
}

/// How the menu is set up for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuConfig {
    /// How the user is greeted: their display name.
    pub user_display: String,
    /// The header title (`TERMINAL_HEADER_TITLE`).
    pub title: String,
    /// Page size.
    pub page_size: PageSize,
    /// The announcement to show under the help, when one is enabled and current
    /// ([`portcullis_store::Store::current_announcement`]).
    pub announcement: Option<Announcement>,
    /// Minutes of waiting for input before the gateway disconnects (0: never).
    pub idle_minutes: u32,
    /// List order.
    pub order: AssetOrder,
    /// Lists show only assets with one of these protocols (KoKo hides what it cannot open);
    /// empty shows every permitted asset and lets the protocol step say `No protocol found.`
    pub protocols: Vec<String>,
    /// Terminal width at start (0: unknown).
    pub cols: usize,
    /// Terminal height at start (0: unknown).
    pub rows: usize,
    /// The language to start in.
    pub lang: Lang,
}

impl Default for MenuConfig {
    fn default() -> Self {
        MenuConfig {
            user_display: String::new(),
            title: DEFAULT_TITLE.to_owned(),
            page_size: PageSize::Auto,
            announcement: None,
            idle_minutes: 30,
            order: AssetOrder::Name,
            protocols: Vec::new(),
            cols: DEFAULT_COLS,
            rows: DEFAULT_ROWS,
            lang: Lang::En,
        }
    }
}

/// The account the user chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChoice {
    /// A stored account; `password` is what the user typed when none is stored.
    Account {
        /// Account id.
        id: Uuid,
        /// Display name.
        name: String,
        /// Username on the asset.
        username: String,
        /// Typed password, when the account has no stored secret.
        password: Option<SecretString>,
    },
    /// `@INPUT`: typed at the menu.
    Input {
        /// Username typed.
        username: String,
        /// Password typed (echo off).
        password: SecretString,
    },
    /// `@USER`: the gateway logs in with the user's own username (and, if it has it, the
    /// password the user logged in with).
    User {
        /// The user's username.
        username: String,
    },
}

impl AccountChoice {
    /// The alias a connection request names (`@INPUT`, `@USER`, or the account id).
    pub fn alias(&self) -> String {
        match self {
            AccountChoice::Account { id, .. } => id.to_string(),
            AccountChoice::Input { .. } => VirtualAccount::Input.alias().to_owned(),
            AccountChoice::User { .. } => VirtualAccount::User.alias().to_owned(),
        }
    }

    /// How the account is shown when connecting: `name(username)`, `Manual(username)`
    /// for `@INPUT`, `Dynamic(username)` for `@USER`.
    pub fn display(&self) -> String {
        match self {
            AccountChoice::Account { name, username, .. } => format!("{name}({username})"),
            AccountChoice::Input { username, .. } => format!("Manual({username})"),
            AccountChoice::User { username } => format!("Dynamic({username})"),
        }
    }
}

/// Everything needed to open the session the user picked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectChoice {
    /// Asset id.
    pub asset_id: Uuid,
    /// Asset name.
    pub asset_name: String,
    /// Asset address.
    pub address: String,
    /// Protocol.
    pub protocol: String,
    /// Account.
    pub account: AccountChoice,
}

/// What the server must do after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuAction {
    /// Open the session; call [`Menu::after_session`] when it ends.
    Connect(ConnectChoice),
    /// Close the channel.
    Quit,
}

/// The answer to one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuStep {
    /// Text to write first (every line ends with `\r\n`).
    pub output: String,
    /// The prompt to write when there is no action (empty with an action).
    pub prompt: String,
    /// Whether the line editor echoes the next input (off for passwords).
    pub echo: bool,
    /// What to do, if anything.
    pub action: Option<MenuAction>,
}

/// Which list the user is looking at, for its empty message and prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ListKind {
    Assets,
    Databases,
    Kubernetes,
    Node(String),
}

/// The list on screen.
#[derive(Debug, Clone)]
struct ListState {
    query: AssetQuery,
    kind: ListKind,
    page: usize,
    rows: Vec<AssetItem>,
}

/// The languages of the menu (`s` switches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Simplified Chinese.
    Zh,
}

impl Lang {
    /// Every language, in the order the table lists them.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Zh];

    /// The language's own name.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Zh => "简体中文",
        }
    }

    /// The language of a user's `lang` preference (`zh`, `zh-hans`, … are Chinese).
    pub fn from_code(code: &str) -> Lang {
        if code.trim().to_ascii_lowercase().starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }

    /// The language a menu starts in: the user's profile `lang` when set, else `default`
    /// (the server's, as KoKo's `LANGUAGE_CODE` applies when the user has none).
    pub fn for_user(profile: &str, default: Lang) -> Lang {
        if profile.trim().is_empty() {
            default
        } else {
            Lang::from_code(profile)
        }
    }
}

/// Where the dialogue is.
#[derive(Debug, Clone)]
enum Mode {
    /// At the language table (`s`).
    Language { tries: u8 },
    /// At `Opt> ` or a list prompt.
    Home,
    /// At the protocol table.
    Protocol {
        asset: AssetItem,
        grant: Grant,
        tries: u8,
    },
    /// At the account table.
    Account {
        asset: AssetItem,
        protocol: String,
        accounts: Vec<GrantAccount>,
        tries: u8,
    },
    /// At `username: ` for `@INPUT`.
    Username {
        asset: AssetItem,
        protocol: String,
        tries: u8,
    },
    /// At a password prompt, echo off.
    Password {
        asset: AssetItem,
        protocol: String,
        account: GrantAccount,
        username: String,
    },
}

/// The menu of one pty session.
#[derive(Debug, Clone)]
pub struct Menu {
    cfg: MenuConfig,
    list: Option<ListState>,
    /// The last tree shown, in display order (`g<N>` picks from it).
    tree: Vec<NodeItem>,
    mode: Mode,
    /// The prompt of the home state: `Opt> `, then the prompt of the last list.
    home_prompt: &'static str,
    /// The language of the help and the list texts.
    lang: Lang,
}

impl Menu {
    /// A menu at its start (nothing listed yet).
    pub fn new(cfg: MenuConfig) -> Menu {
        let cfg_lang = cfg.lang;
        Menu {
            cfg,
            list: None,
            tree: Vec::new(),
            mode: Mode::Home,
            home_prompt: PROMPT_MAIN,
            lang: cfg_lang,
        }
    }

    /// Follows a window change: tables fit the new width, `auto` pages the new height.
    pub fn resize(&mut self, cols: usize, rows: usize) {
        self.cfg.cols = cols;
        self.cfg.rows = rows;
    }

    /// The prompt to show now.
    pub fn prompt(&self) -> String {
        match &self.mode {
            Mode::Home => self.home_prompt.to_owned(),
            Mode::Protocol { .. } | Mode::Account { .. } | Mode::Language { .. } => {
                PROMPT_ID.to_owned()
            }
            Mode::Username { .. } => "username: ".to_owned(),
            Mode::Password {
                asset,
                account,
                username,
                ..
            } => password_prompt(asset, account, username),
        }
    }

    /// Whether the next input should be echoed.
    pub fn echo(&self) -> bool {
        !matches!(self.mode, Mode::Password { .. })
    }

    /// How long the menu may wait for input (`None`: forever).
    pub fn idle_timeout(&self) -> Option<Duration> {
        (self.cfg.idle_minutes > 0)
            .then(|| Duration::from_secs(u64::from(self.cfg.idle_minutes) * 60))
    }

    /// What to write before closing an idle session.
    pub fn idle_message(&self) -> String {
        red(&format!(
            "Connect idle more than {} minutes, disconnect",
            self.cfg.idle_minutes
        ))
    }

    /// The screen shown at login: clear, header, help, announcement (no prompt; write
    /// [`Menu::prompt`] after it).
    pub fn welcome(&self) -> String {
        let mut out = String::from(CLEAR_SCREEN);
        out.push_str(&self.help());
        if let Some(a) = &self.cfg.announcement {
            out.push_str(&format!(
                "{GREEN}Announcement: {}{RESET}\r\n",
                clean(&a.subject)
            ));
            for line in a.content.lines() {
                out.push_str(&clean(line));
                out.push_str("\r\n");
            }
            if !a.link.trim().is_empty() {
                out.push_str(&format!("Link: {}\r\n", clean(a.link.trim())));
            }
            out.push_str("\r\n");
        }
        out
    }

    /// The header and the numbered help list, in the menu's language.
    fn help(&self) -> String {
        let items: [(&str, &str); 11] = [
            (
                "part of an IP, name or comment",
                "search; a single exact match logs in right away",
                "部分IP、名称或备注",
                "搜索，唯一精确匹配时直接登录",
            ),
            (
                "/ + IP, name or comment",
                "search without logging in, e.g. /192.168",
                "/ + IP、名称或备注",
                "只搜索不登录，如 /192.168",
            ),
            (
                "p",
                "list all the assets you may use",
                "p",
                "列出您可以使用的全部资产",
            ),
            (
                "g",
                "see your asset tree; g + node number lists a node, e.g. g1",
                "g",
                "查看资产树；g + 节点编号列出该节点，如 g1",
            ),
            ("h", "list your hosts", "h", "列出您的主机"),
            ("d", "list your databases", "d", "列出您的数据库"),
            (
                "k",
                "list your Kubernetes clusters",
                "k",
                "列出您的 Kubernetes 集群",
            ),
            (
                "r",
                "reload your assets and nodes",
                "r",
                "重新加载资产和节点",
            ),
            ("s", "switch the language", "s", "切换语言"),
            ("?", "see this help again", "?", "再次查看本帮助"),
            (
                "q",
                "leave (exit and quit work too)",
                "q",
                "退出（exit 和 quit 也可以）",
            ),
        ]
        .map(|(k, w, zk, zw)| match self.lang {
            Lang::En => (k, w),
            Lang::Zh => (zk, zw),
        });
        let mut out = format!(
            "\t\t{}, {}\r\n\r\n",
            clean(&self.cfg.user_display),
            clean(&self.cfg.title)
        );
        for (i, (key, what)) in items.iter().enumerate() {
            let line = match self.lang {
                Lang::En => format!("\t{:>2}) Enter {GREEN}{key}{RESET} to {what}.\r\n", i + 1),
                Lang::Zh => format!("\t{:>2}) 输入 {GREEN}{key}{RESET} {what}。\r\n", i + 1),
            };
            out.push_str(&line);
        }
        out.push_str("\r\n");
        out
    }

    /// A fixed message in the menu's language (English when there is no translation).
    fn tr(&self, en: &'static str) -> &'static str {
        if self.lang == Lang::En {
            return en;
        }
        match en {
            "No Assets" => "没有资产",
            "No Databases" => "没有数据库",
            "No kubernetes" => "没有 Kubernetes 集群",
            "Refresh done" => "刷新完成",
            "Search" => "搜索",
            "Enter an ID to log in; narrow the search with // + word, e.g. //16. Previous page: b, next page: n" => {
                "输入 ID 直接登录；用 // + 关键字缩小搜索范围，如 //16。上一页: b，下一页: n"
            }
            other => other,
        }
    }

    /// `s`: the language table.
    fn ask_language(&mut self) -> MenuStep {
        let rows: Vec<Vec<String>> = Lang::ALL
            .iter()
            .enumerate()
            .map(|(i, l)| vec![(i + 1).to_string(), l.name().to_owned()])
            .collect();
        let mut out = render_table(&["ID", "Language"], &rows, self.cols());
        out.push_str(&green(match self.lang {
            Lang::En => "Tips: Enter a language ID. Back: B/b",
            Lang::Zh => "提示：输入语言 ID。返回: B/b",
        }));
        self.mode = Mode::Language { tries: 0 };
        self.step(out)
    }

    /// An answer at the language table: the help again in the chosen language.
    fn pick_language(&mut self, line: &str, tries: u8) -> MenuStep {
        if is_back(line) {
            return self.step(String::new());
        }
        if let Some(lang) =
            number(line).and_then(|n| n.checked_sub(1).and_then(|i| Lang::ALL.get(i)))
        {
            self.lang = *lang;
            let done = match self.lang {
                Lang::En => "Language switched to English",
                Lang::Zh => "语言已切换为简体中文",
            };
            return self.step(format!("{}{}", green(done), self.help()));
        }
        let tries = tries + 1;
        if tries >= MAX_TRIES {
            return self.fail("Select language exceed max retry times.");
        }
        self.mode = Mode::Language { tries };
        self.fail("Enter one of the IDs above, or b to go back.")
    }

    /// Ctrl-C: at a selection prompt it goes back to the list; at home it just prompts again.
    pub fn cancel(&mut self) -> MenuStep {
        self.mode = Mode::Home;
        self.step(String::new())
    }

    /// Ctrl-D on an empty line: leaves from the home prompt; at a selection or password
    /// prompt it goes back like Ctrl-C (a stray Ctrl-D there should not end the session).
    pub fn eof(&mut self) -> MenuStep {
        match std::mem::replace(&mut self.mode, Mode::Home) {
            Mode::Home => quit(),
            _ => self.step(String::new()),
        }
    }

    /// The asset session ended (or failed to start): back to the prompt of the list.
    pub fn after_session(&mut self) -> MenuStep {
        self.mode = Mode::Home;
        self.step(String::new())
    }

    /// One line typed by the user.
    pub async fn handle_line(&mut self, line: &str, catalog: &dyn Catalog) -> MenuStep {
        match std::mem::replace(&mut self.mode, Mode::Home) {
            Mode::Home => self.home(line.trim(), catalog).await,
            Mode::Language { tries } => self.pick_language(line.trim(), tries),
            Mode::Protocol {
                asset,
                grant,
                tries,
            } => self.pick_protocol(line.trim(), asset, grant, tries),
            Mode::Account {
                asset,
                protocol,
                accounts,
                tries,
            } => self.pick_account(line.trim(), asset, protocol, accounts, tries),
            Mode::Username {
                asset,
                protocol,
                tries,
            } => self.typed_username(line.trim(), asset, protocol, tries),
            Mode::Password {
                asset,
                protocol,
                account,
                username,
            } => {
                let password = SecretString::new(line);
                let choice = match account.kind {
                    AccountKind::Input => AccountChoice::Input { username, password },
                    AccountKind::Real | AccountKind::User => match account.id {
                        Some(id) => AccountChoice::Account {
                            id,
                            name: account.name,
                            username: account.username,
                            password: Some(password),
                        },
                        None => AccountChoice::User { username },
                    },
                };
                self.connect(asset, protocol, choice)
            }
        }
    }

    /// A step at the current prompt.
    fn step(&self, output: String) -> MenuStep {
        MenuStep {
            output,
            prompt: self.prompt(),
            echo: self.echo(),
            action: None,
        }
    }

    /// An error line, then the current prompt.
    fn fail(&self, msg: &str) -> MenuStep {
        self.step(red(msg))
    }

    /// The home prompt's commands.
    async fn home(&mut self, line: &str, catalog: &dyn Catalog) -> MenuStep {
        let lower = line.to_ascii_lowercase();
        match lower.as_str() {
            "" => {
                return match &self.list {
                    None => self.show_new(Category::All, catalog).await,
                    Some(_) => self.turn_page(true, catalog).await,
                };
            }
            "q" | "exit" | "quit" => return quit(),
            "?" => return self.step(self.help()),
            "p" => return self.show_new(Category::All, catalog).await,
            "h" => return self.show_new(Category::Host, catalog).await,
            "d" => return self.show_new(Category::Database, catalog).await,
            "k" => return self.show_new(Category::Kubernetes, catalog).await,
            "s" => return self.ask_language(),
            "n" => return self.turn_page(true, catalog).await,
            "b" => return self.turn_page(false, catalog).await,
            "g" => return self.show_tree(catalog).await,
            "r" => {
                return match catalog.refresh().await {
                    Ok(()) => {
                        self.tree.clear();
                        self.step(green(self.tr("Refresh done")))
                    }
                    Err(e) => self.catalog_failed(&e),
                };
            }
            _ => {}
        }
        if let Some(n) = lower.strip_prefix('g').and_then(number) {
            return self.show_node(n, catalog).await;
        }
        if let Some(word) = line.strip_prefix("//") {
            let word = word.trim();
            let mut query = match &self.list {
                Some(l) => l.query.clone(),
                None => self.base_query(Category::All),
            };
            let kind = match &self.list {
                Some(l) if l.kind == ListKind::Databases => ListKind::Databases,
                Some(l) if l.kind == ListKind::Kubernetes => ListKind::Kubernetes,
                _ => ListKind::Assets,
            };
            if !word.is_empty() {
                query.keywords.push(word.to_owned());
            }
            return self.show(query, kind, 0, catalog).await;
        }
        if let Some(word) = line.strip_prefix('/') {
            let mut query = self.base_query(Category::All);
            let word = word.trim();
            if !word.is_empty() {
                query.keywords.push(word.to_owned());
            }
            return self.show(query, ListKind::Assets, 0, catalog).await;
        }
        if let Some(n) = number(line)
            && let Some(asset) = self
                .list
                .as_ref()
                .and_then(|l| n.checked_sub(1).and_then(|i| l.rows.get(i)))
                .cloned()
        {
            return self.start_connect(asset, catalog).await;
        }
        // Plain text: connect at once on an exact, unique match; otherwise list the search.
        let mut exact = self.base_query(Category::All);
        exact.exact = Some(line.to_owned());
        exact.limit = 2;
        match catalog.assets(&exact).await {
            Ok(page) if page.total == 1 => {
                if let Some(asset) = page.items.into_iter().next() {
                    return self.start_connect(asset, catalog).await;
                }
            }
            Ok(_) => {}
            Err(e) => return self.catalog_failed(&e),
        }
        let mut query = self.base_query(Category::All);
        query.keywords.push(line.to_owned());
        self.show(query, ListKind::Assets, 0, catalog).await
    }

    /// A query with the session's fixed settings.
    fn base_query(&self, category: Category) -> AssetQuery {
        AssetQuery {
            category,
            protocols: self.cfg.protocols.clone(),
            order: self.cfg.order,
            active_only: true,
            ..AssetQuery::default()
        }
    }

    /// Rows per page now.
    fn page_size(&self) -> usize {
        match self.cfg.page_size {
            PageSize::Fixed(n) => n.max(1),
            PageSize::All => usize::MAX,
            PageSize::Auto => {
                let rows = if self.cfg.rows == 0 {
                    DEFAULT_ROWS
                } else {
                    self.cfg.rows
                };
                rows.saturating_sub(8).max(1)
            }
        }
    }

    fn cols(&self) -> usize {
        if self.cfg.cols == 0 {
            DEFAULT_COLS
        } else {
            self.cfg.cols
        }
    }

    /// `p`, `h`, `d`: a fresh list of a category.
    async fn show_new(&mut self, category: Category, catalog: &dyn Catalog) -> MenuStep {
        let kind = match category {
            Category::Database => ListKind::Databases,
            Category::Kubernetes => ListKind::Kubernetes,
            _ => ListKind::Assets,
        };
        self.show(self.base_query(category), kind, 0, catalog).await
    }

    /// `n` / `b` / Enter: the next or previous page of the list on screen (the first page
    /// of everything when nothing is listed yet). The ends stay put.
    async fn turn_page(&mut self, forward: bool, catalog: &dyn Catalog) -> MenuStep {
        let Some(list) = self.list.clone() else {
            return self.show_new(Category::All, catalog).await;
        };
        let page = if forward {
            list.page.saturating_add(1)
        } else {
            list.page.saturating_sub(1)
        };
        self.show(list.query, list.kind, page, catalog).await
    }

    /// Loads and renders one page of a list, which becomes the list on screen. A page past
    /// the end shows the last one.
    async fn show(
        &mut self,
        mut query: AssetQuery,
        kind: ListKind,
        page: usize,
        catalog: &dyn Catalog,
    ) -> MenuStep {
        let size = self.page_size();
        let mut page = page;
        let result = loop {
            query.offset = page.saturating_mul(size);
            query.limit = size;
            let result = match catalog.assets(&query).await {
                Ok(r) => r,
                Err(e) => return self.catalog_failed(&e),
            };
            let last = result.total.saturating_sub(1) / size;
            if result.items.is_empty() && page > last {
                page = last;
                continue;
            }
            break result;
        };
        self.home_prompt = match kind {
            ListKind::Databases => PROMPT_DB,
            ListKind::Kubernetes => PROMPT_K8S,
            _ => PROMPT_HOST,
        };
        query.offset = 0;
        let out = if result.total == 0 {
            red(&match &kind {
                ListKind::Assets => self.tr("No Assets").to_owned(),
                ListKind::Databases => self.tr("No Databases").to_owned(),
                ListKind::Kubernetes => self.tr("No kubernetes").to_owned(),
                ListKind::Node(name) => match self.lang {
                    Lang::En => format!("{} node has no assets", clean(name)),
                    Lang::Zh => format!("{} 节点下没有资产", clean(name)),
                },
            })
        } else {
            self.render_list(&query, page, &result)
        };
        self.list = Some(ListState {
            query,
            kind,
            page,
            rows: result.items,
        });
        self.step(out)
    }

    /// The page header, the asset table and the tips.
    fn render_list(&self, query: &AssetQuery, page: usize, result: &AssetPage) -> String {
        let size = self.page_size();
        let total_pages = result.total.div_ceil(size).max(1);
        let (p, c, tp, tc) = match self.lang {
            Lang::En => ("Page", "Count", "Total Page", "Total Count"),
            Lang::Zh => ("页码", "数量", "总页数", "总数"),
        };
        let mut out = green(&format!(
            "{p}: {}, {c}: {}, {tp}: {}, {tc}: {}",
            page + 1,
            result.items.len(),
            total_pages,
            result.total
        ));
        let rows: Vec<Vec<String>> = result
            .items
            .iter()
            .enumerate()
            .map(|(i, a)| {
                vec![
                    (i + 1).to_string(),
                    clean(&a.name).replace(' ', "_"),
                    clean(&a.address),
                    clean(&a.platform),
                    clean(&a.org_name),
                    clean(&one_line(&a.comment)),
                ]
            })
            .collect();
        out.push_str(&render_table_firm(
            &[
                "ID",
                "Name",
                "Address",
                "Platform",
                "Organization",
                "Comment",
            ],
            &rows,
            self.cols(),
            &[2],
        ));
        out.push_str(&green(self.tr(
            "Enter an ID to log in; narrow the search with // + word, e.g. //16. Previous page: b, next page: n",
        )));
        if !query.keywords.is_empty() {
            let words: Vec<String> = query.keywords.iter().map(|k| clean(k)).collect();
            out.push_str(&green(&format!(
                "{}: {}",
                self.tr("Search"),
                words.join(",")
            )));
        }
        out
    }

    /// `g`: the permitted tree, numbered in display order.
    async fn show_tree(&mut self, catalog: &dyn Catalog) -> MenuStep {
        let nodes = match catalog.nodes().await {
            Ok(n) => n,
            Err(e) => return self.catalog_failed(&e),
        };
        if nodes.is_empty() {
            self.tree.clear();
            return self.fail("No Nodes");
        }
        let (ordered, lines) = tree_lines(nodes);
        self.tree = ordered;
        let mut out = green("Node: [ ID.Name(Asset amount) ]");
        for line in lines {
            out.push_str(&line);
            out.push_str("\r\n");
        }
        out.push_str(&green(
            "Tips: enter g + node ID to list the assets under it, e.g. g1",
        ));
        self.step(out)
    }

    /// `g<N>`: the assets under node N of the last tree (the tree is loaded if it was never
    /// shown).
    async fn show_node(&mut self, n: usize, catalog: &dyn Catalog) -> MenuStep {
        if self.tree.is_empty() {
            match catalog.nodes().await {
                Ok(nodes) => self.tree = tree_lines(nodes).0,
                Err(e) => return self.catalog_failed(&e),
            }
        }
        let Some(node) = n.checked_sub(1).and_then(|i| self.tree.get(i)).cloned() else {
            return self.fail(&format!("No node with ID {n}; enter g to see the tree"));
        };
        let mut query = self.base_query(Category::All);
        query.node = Some(node.id);
        self.show(query, ListKind::Node(node.name), 0, catalog)
            .await
    }

    /// The user picked an asset: find what they may use on it, then ask what is needed.
    async fn start_connect(&mut self, asset: AssetItem, catalog: &dyn Catalog) -> MenuStep {
        let grant = match catalog.grant(asset.id).await {
            Ok(Some(g)) => g,
            Ok(None) => {
                return self.fail(&format!(
                    "You no longer have access to {}",
                    clean(&asset.name)
                ));
            }
            Err(e) => return self.catalog_failed(&e),
        };
        match grant.protocols.as_slice() {
            [] => self.fail("No protocol found."),
            [one] => {
                let protocol = one.clone();
                self.choose_account(asset, protocol, grant.accounts)
            }
            many => {
                let rows: Vec<Vec<String>> = many
                    .iter()
                    .enumerate()
                    .map(|(i, p)| vec![(i + 1).to_string(), clean(p)])
                    .collect();
                let mut out = render_table(&["ID", "Protocol"], &rows, self.cols());
                out.push_str(&green("Tips: Enter protocol ID"));
                out.push_str(&green("Back: B/b"));
                self.mode = Mode::Protocol {
                    asset,
                    grant,
                    tries: 0,
                };
                self.step(out)
            }
        }
    }

    /// An answer at the protocol table.
    fn pick_protocol(&mut self, line: &str, asset: AssetItem, grant: Grant, tries: u8) -> MenuStep {
        if is_back(line) {
            return self.step(String::new());
        }
        let picked =
            number(line).and_then(|n| n.checked_sub(1).and_then(|i| grant.protocols.get(i)));
        if let Some(protocol) = picked.cloned() {
            return self.choose_account(asset, protocol, grant.accounts);
        }
        let tries = tries + 1;
        if tries >= MAX_TRIES {
            return self.fail("Select protocol exceed max retry times.");
        }
        self.mode = Mode::Protocol {
            asset,
            grant,
            tries,
        };
        self.fail("Enter one of the IDs above, or b to go back.")
    }

    /// The protocol is known: pick the account (asking only when there is a choice).
    fn choose_account(
        &mut self,
        asset: AssetItem,
        protocol: String,
        mut accounts: Vec<GrantAccount>,
    ) -> MenuStep {
        match accounts.len() {
            0 => self.fail("No account found."),
            1 => {
                let account = accounts.remove(0);
                self.account_chosen(asset, protocol, account)
            }
            _ => {
                accounts.sort_by_cached_key(|a| (a.name.to_lowercase(), a.username.clone()));
                let rows: Vec<Vec<String>> = accounts
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        let username = if a.username.is_empty() {
                            a.alias.as_str()
                        } else {
                            a.username.as_str()
                        };
                        vec![(i + 1).to_string(), clean(&a.name), clean(username)]
                    })
                    .collect();
                let mut out = render_table(&["ID", "Name", "Username"], &rows, self.cols());
                out.push_str(&green(&format!(
                    "Tips: Enter asset[{}({})] account ID",
                    clean(&asset.name),
                    clean(&asset.address)
                )));
                out.push_str(&green("Back: B/b"));
                self.mode = Mode::Account {
                    asset,
                    protocol,
                    accounts,
                    tries: 0,
                };
                self.step(out)
            }
        }
    }

    /// An answer at the account table.
    fn pick_account(
        &mut self,
        line: &str,
        asset: AssetItem,
        protocol: String,
        accounts: Vec<GrantAccount>,
        tries: u8,
    ) -> MenuStep {
        if is_back(line) {
            return self.step(String::new());
        }
        let picked = number(line).and_then(|n| n.checked_sub(1).and_then(|i| accounts.get(i)));
        if let Some(account) = picked.cloned() {
            return self.account_chosen(asset, protocol, account);
        }
        let tries = tries + 1;
        if tries >= MAX_TRIES {
            return self.fail("Select account exceed max retry times.");
        }
        self.mode = Mode::Account {
            asset,
            protocol,
            accounts,
            tries,
        };
        self.fail("Enter one of the IDs above, or b to go back.")
    }

    /// The account is known: ask for what is missing, or connect.
    fn account_chosen(
        &mut self,
        asset: AssetItem,
        protocol: String,
        account: GrantAccount,
    ) -> MenuStep {
        match (account.kind, account.id) {
            (AccountKind::Input, _) => {
                self.mode = Mode::Username {
                    asset,
                    protocol,
                    tries: 0,
                };
                self.step(String::new())
            }
            (AccountKind::User, _) | (AccountKind::Real, None) => {
                let username = account.username;
                self.connect(asset, protocol, AccountChoice::User { username })
            }
            (AccountKind::Real, Some(id)) if account.has_secret => self.connect(
                asset,
                protocol,
                AccountChoice::Account {
                    id,
                    name: account.name,
                    username: account.username,
                    password: None,
                },
            ),
            (AccountKind::Real, Some(_)) => {
                let username = account.username.clone();
                self.mode = Mode::Password {
                    asset,
                    protocol,
                    account,
                    username,
                };
                self.step(String::new())
            }
        }
    }

    /// An answer at `username: ` (`@INPUT`).
    fn typed_username(
        &mut self,
        line: &str,
        asset: AssetItem,
        protocol: String,
        tries: u8,
    ) -> MenuStep {
        if line.is_empty() || line.chars().any(char::is_control) {
            let tries = tries + 1;
            if tries >= MAX_TRIES {
                return self.fail("No username entered; giving up.");
            }
            self.mode = Mode::Username {
                asset,
                protocol,
                tries,
            };
            return self.step(String::new());
        }
        self.mode = Mode::Password {
            asset,
            protocol,
            account: GrantAccount {
                id: None,
                alias: VirtualAccount::Input.alias().to_owned(),
                name: VirtualAccount::Input.display_name().to_owned(),
                username: line.to_owned(),
                kind: AccountKind::Input,
                has_secret: false,
            },
            username: line.to_owned(),
        };
        self.step(String::new())
    }

    /// Everything is chosen: hand the connection to the server.
    fn connect(&mut self, asset: AssetItem, protocol: String, account: AccountChoice) -> MenuStep {
        self.mode = Mode::Home;
        let output = format!(
            "Connecting to {}@{}\r\n",
            clean(&account.display()),
            clean(&asset.address)
        );
        MenuStep {
            output,
            prompt: String::new(),
            echo: true,
            action: Some(MenuAction::Connect(ConnectChoice {
                asset_id: asset.id,
                asset_name: asset.name,
                address: asset.address,
                protocol,
                account,
            })),
        }
    }

    /// The catalog failed: tell the user briefly, log the cause.
    fn catalog_failed(&self, e: &CatalogError) -> MenuStep {
        tracing::warn!(error = %e, "menu: permission data unavailable");
        self.fail("Could not load your assets; try again later.")
    }
}

/// The password prompt: `<user>@<address>'s password: ` for typed usernames,
/// `<name>(<username>)'s password: ` for stored accounts without a secret.
fn password_prompt(asset: &AssetItem, account: &GrantAccount, username: &str) -> String {
    match account.kind {
        AccountKind::Input => format!("{}@{}'s password: ", clean(username), clean(&asset.address)),
        _ => format!(
            "{}({})'s password: ",
            clean(&account.name),
            clean(&account.username)
        ),
    }
}

/// The step that ends the menu.
fn quit() -> MenuStep {
    MenuStep {
        output: "Bye.\r\n".to_owned(),
        prompt: String::new(),
        echo: true,
        action: Some(MenuAction::Quit),
    }
}

/// `b`, `q` and their long forms leave a selection prompt.
fn is_back(line: &str) -> bool {
    matches!(
        line.to_ascii_lowercase().as_str(),
        "b" | "back" | "q" | "quit" | "exit"
    )
}

/// A decimal number made of ASCII digits only (so `+1` or `١` are text, not IDs).
fn number(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A green line.
fn green(s: &str) -> String {
    format!("{GREEN}{s}{RESET}\r\n")
}

/// A red line.
fn red(s: &str) -> String {
    format!("{RED}{s}{RESET}\r\n")
}

/// The narrowest a table column is cut to (`Plat…`).
pub const MIN_COLUMN: usize = 6;

/// Text safe to put on a terminal: control characters (escape sequences, line breaks)
/// become spaces.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A multi-line text on one line, its lines joined with `|` (blank lines dropped).
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("|")
}

/// Display width of a string in terminal columns.
fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// `s` cut or padded to exactly `w` columns; a cut ends with `…`.
fn fit(s: &str, w: usize, pad: bool) -> String {
    let sw = width(s);
    let mut out = String::new();
    let used = if sw <= w {
        out.push_str(s);
        sw
    } else if w == 0 {
        0
    } else {
        let mut used = 0;
        for c in s.chars() {
            let cw = c.width().unwrap_or(0);
            if used + cw > w - 1 {
                break;
            }
            out.push(c);
            used += cw;
        }
        out.push('…');
        used + 1
    };
    if pad {
        out.extend(std::iter::repeat_n(' ', w.saturating_sub(used)));
    }
    out
}

/// A table fitted to `cols` columns:
///
/// ```text
///  ID | Name  | Address
/// ----+-------+---------
///  1  | web-1 | 10.0.0.1
/// ```
///
/// Each column starts at its widest cell; while the table is too wide the widest column
/// gives up a column at a time, down to [`MIN_COLUMN`] (the first column, the row number,
/// never shrinks; headers are cut like any cell). Cut cells end with `…`. Widths count terminal columns, so CJK
/// text lines up.
pub fn render_table(headers: &[&str], rows: &[Vec<String>], cols: usize) -> String {
    render_table_firm(headers, rows, cols, &[])
}

/// [`render_table`], where the `firm` columns (an address, say) shrink only once the others
/// are at their minimum: a cut address is useless, a cut comment is not.
pub fn render_table_firm(
    headers: &[&str],
    rows: &[Vec<String>],
    cols: usize,
    firm: &[usize],
) -> String {
    let n = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let mins: Vec<usize> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| if i == 0 { *w } else { (*w).min(MIN_COLUMN) })
        .collect();
    // One leading space, " | " between columns, one spare column so the last character
    // never lands in the terminal's final column (some terminals wrap there).
    let avail = cols.saturating_sub(2 + 3 * n.saturating_sub(1));
    while widths.iter().sum::<usize>() > avail {
        let widest = |soft: bool| {
            widths
                .iter()
                .zip(&mins)
                .enumerate()
                .filter(|(i, (w, m))| w > m && (!soft || !firm.contains(i)))
                .max_by_key(|(i, (w, _))| (**w, *i))
                .map(|(i, _)| i)
        };
        match widest(true)
            .or_else(|| widest(false))
            .and_then(|i| widths.get_mut(i))
        {
            Some(w) => *w -= 1,
            None => break,
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let parts: Vec<String> = cells
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| fit(c, *w, i + 1 < n))
            .collect();
        let mut s = format!(" {}", parts.join(" | "));
        s.truncate(s.trim_end().len());
        s.push_str("\r\n");
        s
    };
    let mut out = line(&mut headers.iter().copied());
    // The rule's `+` sit under the `|`; the last column has no trailing space to cover.
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| "-".repeat(if i + 1 < n { w + 2 } else { w + 1 }))
        .collect();
    out.push_str(&rule.join("+"));
    out.push_str("\r\n");
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// The tree in display order (each org's roots, depth first) and its lines,
/// `├── 1.Default(5)`. A node whose parent is not in the list is drawn as a root.
fn tree_lines(nodes: Vec<NodeItem>) -> (Vec<NodeItem>, Vec<String>) {
    let index: HashMap<(Uuid, &str), usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| ((n.org_id, n.key.as_str()), i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut roots = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let parent = n
            .key
            .rsplit_once(':')
            .and_then(|(p, _)| index.get(&(n.org_id, p)).copied())
            .filter(|p| *p != i);
        match parent.and_then(|p| children.get_mut(p)) {
            Some(c) => c.push(i),
            None => roots.push(i),
        }
    }
    let mut order = Vec::new();
    let mut lines = Vec::new();
    // (node, prefix for its children, is last sibling): an explicit stack, since trees can
    // be deep.
    let mut stack: Vec<(usize, String, bool)> = Vec::new();
    for (k, r) in roots.iter().enumerate().rev() {
        stack.push((*r, String::new(), k + 1 == roots.len()));
    }
    let mut seen = vec![false; nodes.len()];
    while let Some((i, prefix, last)) = stack.pop() {
        let (Some(node), Some(done)) = (nodes.get(i), seen.get_mut(i)) else {
            continue;
        };
        if std::mem::replace(done, true) {
            continue;
        }
        order.push(i);
        lines.push(format!(
            "{prefix}{}{}.{}({})",
            if last { "└── " } else { "├── " },
            order.len(),
            clean(&node.name),
            node.assets_amount
        ));
        let child_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
        if let Some(kids) = children.get(i) {
            for (k, c) in kids.iter().enumerate().rev() {
                stack.push((*c, child_prefix.clone(), k + 1 == kids.len()));
            }
        }
    }
    let ordered = order
        .iter()
        .filter_map(|i| nodes.get(*i).cloned())
        .collect();
    (ordered, lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// An in-memory catalog: assets with the node keys they sit in, a tree, grants.
    #[derive(Default)]
    struct Fake {
        assets: Vec<(AssetItem, Vec<String>)>,
        nodes: Vec<NodeItem>,
        grants: HashMap<Uuid, Grant>,
        refreshed: AtomicUsize,
        fail: bool,
    }

    #[async_trait]
    impl Catalog for Fake {
        async fn assets(&self, q: &AssetQuery) -> Result<AssetPage, CatalogError> {
            if self.fail {
                return Err(CatalogError::Unavailable("down".into()));
            }
            let key = match q.node {
                Some(id) => match self.nodes.iter().find(|n| n.id == id) {
                    Some(n) => Some(n.key.clone()),
                    None => return Ok(AssetPage::default()),
                },
                None => None,
            };
            let all = self
                .assets
                .iter()
                .filter(|(_, keys)| match &key {
                    Some(k) => keys
                        .iter()
                        .any(|x| x == k || x.starts_with(&format!("{k}:"))),
                    None => true,
                })
                .map(|(a, _)| a.clone())
                .collect();
            Ok(q.apply(all))
        }
        async fn nodes(&self) -> Result<Vec<NodeItem>, CatalogError> {
            Ok(self.nodes.clone())
        }
        async fn grant(&self, asset_id: Uuid) -> Result<Option<Grant>, CatalogError> {
            Ok(self.grants.get(&asset_id).cloned())
        }
        async fn refresh(&self) -> Result<(), CatalogError> {
            self.refreshed.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn asset(name: &str, address: &str) -> AssetItem {
        AssetItem {
            id: Uuid::new_v4(),
            name: name.into(),
            address: address.into(),
            platform: "Linux".into(),
            org_name: "Default".into(),
            comment: String::new(),
            category: "host".into(),
            type_: "linux".into(),
            protocols: vec!["ssh".into()],
            is_active: true,
        }
    }

    fn real(name: &str, username: &str) -> GrantAccount {
        GrantAccount {
            id: Some(Uuid::new_v4()),
            alias: String::new(),
            name: name.into(),
            username: username.into(),
            kind: AccountKind::Real,
            has_secret: true,
        }
    }

    fn input() -> GrantAccount {
        GrantAccount {
            id: None,
            alias: "@INPUT".into(),
            name: "Manual input".into(),
            username: String::new(),
            kind: AccountKind::Input,
            has_secret: false,
        }
    }

    fn ssh_root() -> Grant {
        Grant {
            protocols: vec!["ssh".into()],
            accounts: vec![real("root", "root")],
        }
    }

    impl Fake {
        fn add(&mut self, a: AssetItem, keys: &[&str], grant: Grant) -> Uuid {
            let id = a.id;
            self.grants.insert(id, grant);
            self.assets
                .push((a, keys.iter().map(|k| k.to_string()).collect()));
            id
        }

        /// `n` hosts `host-01`… at 192.168.1.x, each with ssh and root.
        fn hosts(n: usize) -> Fake {
            let mut f = Fake::default();
            for i in 1..=n {
                f.add(
                    asset(&format!("host-{i:02}"), &format!("192.168.1.{i}")),
                    &["1"],
                    ssh_root(),
                );
            }
            f
        }
    }

    fn menu(page: usize) -> Menu {
        Menu::new(MenuConfig {
            user_display: "Alice Doe".into(),
            page_size: PageSize::Fixed(page),
            cols: 120,
            ..MenuConfig::default()
        })
    }

    /// The text without colours.
    fn plain(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn assert_crlf(s: &str) {
        let bytes = s.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'\n' {
                assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i} in {s:?}");
            }
        }
    }

    async fn send(m: &mut Menu, c: &Fake, line: &str) -> MenuStep {
        let step = m.handle_line(line, c).await;
        assert_crlf(&step.output);
        step
    }

    fn connect(step: &MenuStep) -> &ConnectChoice {
        match &step.action {
            Some(MenuAction::Connect(c)) => c,
            other => panic!("expected a connect, got {other:?}: {}", plain(&step.output)),
        }
    }

    #[test]
    fn welcome_screen() {
        let m = Menu::new(MenuConfig {
            user_display: "Alice Doe".into(),
            announcement: Some(Announcement {
                subject: "Maintenance".into(),
                content: "Saturday 2am\nBe ready".into(),
                link: "https://status.example/1".into(),
                ..Announcement::default()
            }),
            ..MenuConfig::default()
        });
        let w = m.welcome();
        assert!(w.starts_with(CLEAR_SCREEN));
        assert_crlf(&w);
        let text = plain(&w);
        assert!(text.contains("\t\tAlice Doe, Welcome to the Portcullis bastion host\r\n"));
        for n in 1..=11 {
            assert!(text.contains(&format!("\t{n:>2}) Enter ")), "item {n}");
        }
        assert!(!text.contains("12)"));
        assert!(w.contains(&format!("Enter {GREEN}k{RESET} to")));
        assert!(w.contains(&format!("Enter {GREEN}s{RESET} to")));
        assert!(w.contains(&format!("Enter {GREEN}p{RESET} to")));
        assert!(text.contains(
            "Announcement: Maintenance\r\nSaturday 2am\r\nBe ready\r\nLink: https://status.example/1\r\n"
        ));
        assert_eq!(m.prompt(), "Opt> ");
        assert!(m.echo());
        // No announcement: no heading.
        assert!(!plain(&menu(5).welcome()).contains("Announcement"));
    }

    #[tokio::test]
    async fn paging_with_enter_n_and_b() {
        let c = Fake::hosts(25);
        let mut m = menu(10);
        let s = send(&mut m, &c, "").await;
        let t = plain(&s.output);
        assert!(
            t.starts_with("Page: 1, Count: 10, Total Page: 3, Total Count: 25\r\n"),
            "{t}"
        );
        assert!(t.contains("host-01") && t.contains("host-10") && !t.contains("host-11"));
        assert!(t.contains("Previous page: b, next page: n"));
        assert!(!t.contains("Search:"));
        assert_eq!(s.prompt, "[Host]> ");
        assert!(s.action.is_none());
        // Enter again: the next page.
        let t = plain(&send(&mut m, &c, "").await.output);
        assert!(t.starts_with("Page: 2, Count: 10,"), "{t}");
        assert!(t.contains("host-11") && t.contains("host-20"));
        let t = plain(&send(&mut m, &c, "n").await.output);
        assert!(t.starts_with("Page: 3, Count: 5,"), "{t}");
        // The last page stays put.
        let t = plain(&send(&mut m, &c, "n").await.output);
        assert!(t.starts_with("Page: 3, Count: 5,"), "{t}");
        let t = plain(&send(&mut m, &c, "b").await.output);
        assert!(t.starts_with("Page: 2,"), "{t}");
        let t = plain(&send(&mut m, &c, "b").await.output);
        assert!(t.starts_with("Page: 1,"), "{t}");
        let t = plain(&send(&mut m, &c, "b").await.output);
        assert!(t.starts_with("Page: 1,"), "{t}");
        // Row numbers are per page: row 3 of page 2 is host-13.
        send(&mut m, &c, "n").await;
        let s = send(&mut m, &c, "3").await;
        assert_eq!(connect(&s).asset_name, "host-13");
        // n before anything was listed lists everything.
        let mut m = menu(10);
        let t = plain(&send(&mut m, &c, "n").await.output);
        assert!(t.starts_with("Page: 1, Count: 10,"), "{t}");
    }

    #[tokio::test]
    async fn auto_and_all_page_sizes() {
        let c = Fake::hosts(30);
        let mut m = Menu::new(MenuConfig {
            rows: 12,
            ..MenuConfig::default()
        });
        let t = plain(&send(&mut m, &c, "p").await.output);
        assert!(t.starts_with("Page: 1, Count: 4, Total Page: 8,"), "{t}");
        m.resize(100, 5); // rows - 8 is below 1
        let t = plain(&send(&mut m, &c, "p").await.output);
        assert!(t.starts_with("Page: 1, Count: 1, Total Page: 30,"), "{t}");
        let mut m = Menu::new(MenuConfig {
            page_size: PageSize::All,
            ..MenuConfig::default()
        });
        let t = plain(&send(&mut m, &c, "p").await.output);
        assert!(
            t.starts_with("Page: 1, Count: 30, Total Page: 1, Total Count: 30"),
            "{t}"
        );
        let t = plain(&send(&mut m, &c, "n").await.output);
        assert!(t.starts_with("Page: 1, Count: 30,"), "{t}");
    }

    #[tokio::test]
    async fn search_narrow_and_exact_connect() {
        let mut c = Fake::default();
        c.add(asset("web1", "192.168.0.11"), &["1"], ssh_root());
        c.add(asset("web10", "192.168.0.20"), &["1"], ssh_root());
        let mut db = asset("orders db", "10.1.0.5");
        db.category = "database".into();
        db.comment = "primary\nreplicated nightly".into();
        c.add(db, &["1"], ssh_root());
        let mut m = menu(10);

        // A partial word lists.
        let s = send(&mut m, &c, "web").await;
        assert!(s.action.is_none());
        let t = plain(&s.output);
        assert!(
            t.contains("Total Count: 2") && t.contains("Search: web"),
            "{t}"
        );
        // Narrowing adds a keyword.
        let t = plain(&send(&mut m, &c, "//.20").await.output);
        assert!(t.contains("Total Count: 1") && t.contains("web10"), "{t}");
        assert!(t.contains("Search: web,.20"), "{t}");
        // `/` searches without connecting, even on an exact match.
        let s = send(&mut m, &c, "/web1").await;
        assert!(s.action.is_none());
        assert!(plain(&s.output).contains("Total Count: 2"));
        // Comments are searched.
        let t = plain(&send(&mut m, &c, "/nightly").await.output);
        assert!(
            t.contains("orders_db") && t.contains("primary|replicated nightly"),
            "{t}"
        );

        // An exact name (any case) or address connects at once, though web10 also matches.
        let s = send(&mut m, &c, "WEB1").await;
        let choice = connect(&s);
        assert_eq!(choice.asset_name, "web1");
        assert_eq!(choice.protocol, "ssh");
        assert_eq!(
            plain(&s.output),
            "Connecting to root(root)@192.168.0.11\r\n"
        );
        assert_eq!(s.prompt, "");
        let s = send(&mut m, &c, "192.168.0.20").await;
        assert_eq!(connect(&s).asset_name, "web10");
        // After the session: the prompt of the last list.
        let s = m.after_session();
        assert_eq!(s.prompt, "[Host]> ");
        assert!(s.action.is_none() && s.echo);

        // Two assets on one address: no guessing, a list.
        c.add(asset("web1-alias", "192.168.0.11"), &["1"], ssh_root());
        let s = send(&mut m, &c, "192.168.0.11").await;
        assert!(s.action.is_none());
        assert!(plain(&s.output).contains("Total Count: 2"));

        // Nothing matches.
        let s = send(&mut m, &c, "nothing").await;
        assert_eq!(plain(&s.output), "No Assets\r\n");
        assert!(s.output.contains(RED));
        // A number that is not a row is a search (here: an address part).
        let mut m = menu(10);
        let t = plain(&send(&mut m, &c, "20").await.output);
        assert!(t.contains("web10") && t.contains("Total Count: 1"), "{t}");
    }

    #[tokio::test]
    async fn categories_and_prompts() {
        let mut c = Fake::hosts(2);
        let mut db = asset("pg", "10.0.0.9");
        db.category = "database".into();
        c.add(db, &["1"], ssh_root());
        let mut m = menu(10);
        let s = send(&mut m, &c, "d").await;
        assert_eq!(s.prompt, "[DB]> ");
        assert!(plain(&s.output).contains("Total Count: 1"));
        let s = send(&mut m, &c, "H").await;
        assert_eq!(s.prompt, "[Host]> ");
        assert!(plain(&s.output).contains("Total Count: 2"));
        let s = send(&mut m, &c, "p").await;
        assert!(plain(&s.output).contains("Total Count: 3"));
        let c = Fake::hosts(1);
        let s = send(&mut m, &c, "d").await;
        assert_eq!(plain(&s.output), "No Databases\r\n");
        let s = send(&mut m, &c, "?").await;
        assert!(plain(&s.output).contains("11) Enter q to"));
        assert!(!s.output.contains(CLEAR_SCREEN));
        assert_eq!(s.prompt, "[DB]> ");
    }

    #[tokio::test]
    async fn kubernetes_list_by_type() {
        let mut c = Fake::hosts(2);
        let mut k8s = asset("prod-cluster", "https://10.0.0.7:6443");
        k8s.category = "cloud".into();
        k8s.type_ = "k8s".into();
        c.add(k8s, &["1"], ssh_root());
        let mut m = menu(10);
        let s = send(&mut m, &c, "k").await;
        assert_eq!(s.prompt, "[K8S]> ");
        let text = plain(&s.output);
        assert!(
            text.contains("Total Count: 1") && text.contains("prod-cluster"),
            "{text}"
        );
        // Paging stays in the Kubernetes list.
        let s = send(&mut m, &c, "n").await;
        assert_eq!(s.prompt, "[K8S]> ");
        let c = Fake::hosts(1);
        let s = send(&mut m, &c, "K").await;
        assert_eq!(plain(&s.output), "No kubernetes\r\n");
    }

    #[tokio::test]
    async fn switching_the_language() {
        let c = Fake::hosts(1);
        let mut m = menu(10);
        let s = send(&mut m, &c, "s").await;
        assert_eq!(s.prompt, "ID> ");
        let text = plain(&s.output);
        assert!(
            text.contains("English") && text.contains("简体中文"),
            "{text}"
        );
        // Wrong answers, then back: still English.
        let s = send(&mut m, &c, "9").await;
        assert_eq!(s.prompt, "ID> ");
        let s = send(&mut m, &c, "b").await;
        assert_eq!(s.prompt, "Opt> ");
        let s = send(&mut m, &c, "p").await;
        assert!(plain(&s.output).contains("Total Count: 1"));
        // Chinese: the help comes again translated, and lists follow.
        send(&mut m, &c, "s").await;
        let s = send(&mut m, &c, "2").await;
        let text = plain(&s.output);
        assert!(text.contains("语言已切换为简体中文"), "{text}");
        assert!(text.contains("输入 p 列出您可以使用的全部资产"), "{text}");
        let s = send(&mut m, &c, "p").await;
        assert!(plain(&s.output).contains("总数: 1"), "{}", plain(&s.output));
        let s = send(&mut m, &c, "d").await;
        assert_eq!(plain(&s.output), "没有数据库\r\n");
        // Three wrong answers give up.
        send(&mut m, &c, "s").await;
        send(&mut m, &c, "x").await;
        send(&mut m, &c, "x").await;
        let s = send(&mut m, &c, "x").await;
        assert!(
            plain(&s.output).contains("exceed max retry"),
            "{}",
            plain(&s.output)
        );
        assert!(s.prompt.ends_with("> ") && s.prompt != "ID> ");
        // And back to English.
        send(&mut m, &c, "s").await;
        let s = send(&mut m, &c, "1").await;
        assert!(plain(&s.output).contains("Enter p to list all the assets"));
        assert_eq!(Lang::from_code("zh-hans"), Lang::Zh);
        assert_eq!(Lang::from_code("en"), Lang::En);
        assert_eq!(Lang::for_user("zh-hans", Lang::En), Lang::Zh);
        assert_eq!(Lang::for_user("en", Lang::Zh), Lang::En);
        assert_eq!(Lang::for_user(" ", Lang::Zh), Lang::Zh);
        assert_eq!(Lang::for_user("", Lang::En), Lang::En);
    }

    #[tokio::test]
    async fn node_tree_and_node_lists() {
        let (org, other) = (Uuid::new_v4(), Uuid::new_v4());
        let node = |org: Uuid, key: &str, name: &str, n: usize| NodeItem {
            id: Uuid::new_v4(),
            org_id: org,
            key: key.into(),
            name: name.into(),
            assets_amount: n,
        };
        let mut c = Fake {
            nodes: vec![
                node(org, "1", "Default", 3),
                node(org, "1:1", "dev", 2),
                node(org, "1:1:1", "web", 1),
                node(org, "1:2", "empty", 0),
                node(other, "1", "Lab", 1),
            ],
            ..Fake::default()
        };
        c.add(asset("dev-a", "10.0.1.1"), &["1:1"], ssh_root());
        c.add(asset("web-a", "10.0.1.2"), &["1:1:1"], ssh_root());
        c.add(asset("top", "10.0.1.3"), &["1"], ssh_root());
        let mut m = menu(10);
        // g<N> before g loads the tree.
        let t = plain(&send(&mut m, &c, "g2").await.output);
        assert!(
            t.contains("Total Count: 2") && t.contains("dev-a") && t.contains("web-a"),
            "{t}"
        );
        let s = send(&mut m, &c, "g").await;
        let t = plain(&s.output);
        assert_eq!(
            t,
            "Node: [ ID.Name(Asset amount) ]\r\n\
             ├── 1.Default(3)\r\n\
             │   ├── 2.dev(2)\r\n\
             │   │   └── 3.web(1)\r\n\
             │   └── 4.empty(0)\r\n\
             └── 5.Lab(1)\r\n\
             Tips: enter g + node ID to list the assets under it, e.g. g1\r\n"
        );
        let t = plain(&send(&mut m, &c, "g1").await.output);
        assert!(t.contains("Total Count: 3"), "{t}");
        let t = plain(&send(&mut m, &c, "g3").await.output);
        assert!(t.contains("Total Count: 1") && t.contains("web-a"), "{t}");
        let s = send(&mut m, &c, "g4").await;
        assert_eq!(plain(&s.output), "empty node has no assets\r\n");
        let s = send(&mut m, &c, "g9").await;
        assert!(plain(&s.output).starts_with("No node with ID 9"));
        // Row numbers pick from the node list shown last.
        send(&mut m, &c, "g3").await;
        assert_eq!(connect(&send(&mut m, &c, "1").await).asset_name, "web-a");
        let s = send(&mut m, &c, "g").await;
        assert!(!plain(&s.output).contains("No Nodes"));
        let empty = Fake::default();
        assert_eq!(
            plain(&send(&mut m, &empty, "g").await.output),
            "No Nodes\r\n"
        );
    }

    #[tokio::test]
    async fn protocol_choice_with_retries_and_back() {
        let mut c = Fake::default();
        let grant = Grant {
            protocols: vec!["ssh".into(), "telnet".into()],
            accounts: vec![real("root", "root")],
        };
        c.add(asset("sw1", "10.9.0.1"), &["1"], grant);
        let mut m = menu(10);
        let s = send(&mut m, &c, "sw1").await;
        assert!(s.action.is_none());
        let t = plain(&s.output);
        assert!(
            t.contains(" ID | Protocol\r\n") && t.contains(" 2  | telnet\r\n"),
            "{t}"
        );
        assert!(t.contains("Tips: Enter protocol ID\r\nBack: B/b\r\n"));
        assert_eq!(s.prompt, "ID> ");
        // Two wrong answers keep asking; the third gives up.
        let s = send(&mut m, &c, "x").await;
        assert_eq!(s.prompt, "ID> ");
        let s = send(&mut m, &c, "3").await;
        assert_eq!(s.prompt, "ID> ");
        let s = send(&mut m, &c, "0").await;
        assert_eq!(
            plain(&s.output),
            "Select protocol exceed max retry times.\r\n"
        );
        assert_eq!(s.prompt, "Opt> ");
        // Back.
        send(&mut m, &c, "sw1").await;
        let s = send(&mut m, &c, "B").await;
        assert_eq!((s.output.as_str(), s.prompt.as_str()), ("", "Opt> "));
        // A good answer.
        send(&mut m, &c, "sw1").await;
        let s = send(&mut m, &c, " 2 ").await;
        let choice = connect(&s);
        assert_eq!(choice.protocol, "telnet");
        assert_eq!(choice.address, "10.9.0.1");
    }

    #[tokio::test]
    async fn account_choice_sorted_with_retries_and_back() {
        let mut c = Fake::default();
        let (zeta, alpha) = (real("zeta", "z"), real("Alpha", "admin"));
        let grant = Grant {
            protocols: vec!["ssh".into()],
            accounts: vec![zeta.clone(), alpha.clone(), input()],
        };
        c.add(asset("db1", "10.2.0.1"), &["1"], grant);
        let mut m = menu(10);
        let s = send(&mut m, &c, "db1").await;
        let t = plain(&s.output);
        assert_eq!(
            t,
            " ID | Name         | Username\r\n\
             ----+--------------+---------\r\n \
             1  | Alpha        | admin\r\n \
             2  | Manual input | @INPUT\r\n \
             3  | zeta         | z\r\n\
             Tips: Enter asset[db1(10.2.0.1)] account ID\r\n\
             Back: B/b\r\n"
        );
        assert_eq!(s.prompt, "ID> ");
        for bad in ["", "4"] {
            assert_eq!(send(&mut m, &c, bad).await.prompt, "ID> ");
        }
        let s = send(&mut m, &c, "abc").await;
        assert_eq!(
            plain(&s.output),
            "Select account exceed max retry times.\r\n"
        );
        for back in ["q", "back", "exit"] {
            send(&mut m, &c, "db1").await;
            let s = send(&mut m, &c, back).await;
            assert!(s.action.is_none(), "{back}");
            assert_eq!(s.prompt, "Opt> ");
        }
        send(&mut m, &c, "db1").await;
        let s = send(&mut m, &c, "3").await;
        assert_eq!(
            connect(&s).account,
            AccountChoice::Account {
                id: zeta.id.unwrap(),
                name: "zeta".into(),
                username: "z".into(),
                password: None
            }
        );
        assert_eq!(plain(&s.output), "Connecting to zeta(z)@10.2.0.1\r\n");
    }

    #[tokio::test]
    async fn input_account_asks_username_then_password_without_echo() {
        let mut c = Fake::default();
        let grant = Grant {
            protocols: vec!["ssh".into()],
            accounts: vec![input()],
        };
        c.add(asset("box", "10.3.0.1"), &["1"], grant);
        let mut m = menu(10);
        let s = send(&mut m, &c, "box").await;
        assert_eq!(s.prompt, "username: ");
        assert!(s.echo && s.action.is_none());
        // An empty answer asks again, up to three times.
        let s = send(&mut m, &c, "  ").await;
        assert_eq!(s.prompt, "username: ");
        let s = send(&mut m, &c, "bob").await;
        assert_eq!(s.prompt, "bob@10.3.0.1's password: ");
        assert!(!s.echo);
        assert!(!m.echo());
        // The password is taken as typed (spaces kept).
        let s = send(&mut m, &c, " pw 1").await;
        assert!(s.echo);
        let choice = connect(&s);
        match &choice.account {
            AccountChoice::Input { username, password } => {
                assert_eq!(username, "bob");
                assert_eq!(password.expose(), " pw 1");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(choice.account.alias(), "@INPUT");
        assert_eq!(plain(&s.output), "Connecting to Manual(bob)@10.3.0.1\r\n");
        // Three empty usernames give up.
        send(&mut m, &c, "box").await;
        send(&mut m, &c, "").await;
        send(&mut m, &c, "").await;
        let s = send(&mut m, &c, "").await;
        assert!(plain(&s.output).contains("No username"));
        assert_eq!(s.prompt, "Opt> ");
        // Ctrl-C at the password prompt goes home, echo back on.
        send(&mut m, &c, "box").await;
        send(&mut m, &c, "bob").await;
        let s = m.cancel();
        assert_eq!(s.prompt, "Opt> ");
        assert!(s.echo && m.echo());
    }

    #[tokio::test]
    async fn user_and_secretless_accounts() {
        let mut c = Fake::default();
        let user = GrantAccount {
            id: None,
            alias: "@USER".into(),
            name: "Dynamic user".into(),
            username: "alice".into(),
            kind: AccountKind::User,
            has_secret: false,
        };
        c.add(
            asset("u1", "10.4.0.1"),
            &["1"],
            Grant {
                protocols: vec!["ssh".into()],
                accounts: vec![user],
            },
        );
        let mut nosecret = real("deploy", "deploy");
        nosecret.has_secret = false;
        let id = nosecret.id.unwrap();
        c.add(
            asset("u2", "10.4.0.2"),
            &["1"],
            Grant {
                protocols: vec!["ssh".into()],
                accounts: vec![nosecret],
            },
        );
        let mut m = menu(10);
        let s = send(&mut m, &c, "u1").await;
        assert_eq!(
            connect(&s).account,
            AccountChoice::User {
                username: "alice".into()
            }
        );
        assert_eq!(
            plain(&s.output),
            "Connecting to Dynamic(alice)@10.4.0.1\r\n"
        );
        let s = send(&mut m, &c, "u2").await;
        assert_eq!(s.prompt, "deploy(deploy)'s password: ");
        assert!(!s.echo);
        let s = send(&mut m, &c, "hunter2").await;
        match &connect(&s).account {
            AccountChoice::Account {
                id: got, password, ..
            } => {
                assert_eq!(*got, id);
                assert_eq!(password.as_ref().map(|p| p.expose()), Some("hunter2"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn nothing_to_connect_with() {
        let mut c = Fake::default();
        c.add(
            asset("noproto", "10.5.0.1"),
            &["1"],
            Grant {
                protocols: vec![],
                accounts: vec![real("root", "root")],
            },
        );
        c.add(
            asset("noacct", "10.5.0.2"),
            &["1"],
            Grant {
                protocols: vec!["ssh".into()],
                accounts: vec![],
            },
        );
        let gone = c.add(asset("gone", "10.5.0.3"), &["1"], ssh_root());
        c.grants.remove(&gone);
        let mut m = menu(10);
        assert_eq!(
            plain(&send(&mut m, &c, "noproto").await.output),
            "No protocol found.\r\n"
        );
        assert_eq!(
            plain(&send(&mut m, &c, "noacct").await.output),
            "No account found.\r\n"
        );
        let s = send(&mut m, &c, "gone").await;
        assert!(plain(&s.output).contains("no longer have access to gone"));
        assert!(s.action.is_none());
    }

    #[tokio::test]
    async fn quit_refresh_and_errors() {
        let c = Fake::hosts(3);
        let mut m = menu(10);
        for q in ["q", "exit", "QUIT", " quit "] {
            let s = send(&mut m, &c, q).await;
            assert_eq!(s.action, Some(MenuAction::Quit), "{q}");
        }
        assert_eq!(m.eof().action, Some(MenuAction::Quit));
        // Ctrl-D at a selection prompt only goes back.
        let mut c2 = Fake::default();
        c2.add(
            asset("two", "10.8.0.1"),
            &["1"],
            Grant {
                protocols: vec!["ssh".into(), "telnet".into()],
                accounts: vec![real("root", "root")],
            },
        );
        assert_eq!(send(&mut m, &c2, "two").await.prompt, "ID> ");
        let s = m.eof();
        assert_eq!((s.action, s.prompt.as_str()), (None, "Opt> "));
        let s = send(&mut m, &c, "r").await;
        assert_eq!(plain(&s.output), "Refresh done\r\n");
        assert_eq!(c.refreshed.load(Ordering::SeqCst), 1);
        // A failing catalog: a short red message, the menu goes on.
        send(&mut m, &c, "p").await;
        let broken = Fake {
            fail: true,
            ..Fake::default()
        };
        let s = send(&mut m, &broken, "n").await;
        assert_eq!(
            plain(&s.output),
            "Could not load your assets; try again later.\r\n"
        );
        assert_eq!(s.prompt, "[Host]> ");
        // The list on screen is still the one before the failure.
        assert_eq!(connect(&send(&mut m, &c, "2").await).asset_name, "host-02");
    }

    #[test]
    fn idle() {
        let m = menu(10);
        assert_eq!(m.idle_timeout(), Some(Duration::from_secs(30 * 60)));
        assert_eq!(
            plain(&m.idle_message()),
            "Connect idle more than 30 minutes, disconnect\r\n"
        );
        let m = Menu::new(MenuConfig {
            idle_minutes: 0,
            ..MenuConfig::default()
        });
        assert_eq!(m.idle_timeout(), None);
    }

    #[tokio::test]
    async fn list_protocol_filter() {
        let mut c = Fake::hosts(2);
        let mut rdp = asset("win", "10.6.0.1");
        rdp.protocols = vec!["rdp".into()];
        c.add(rdp, &["1"], ssh_root());
        let mut m = Menu::new(MenuConfig {
            protocols: vec!["SSH".into()],
            ..MenuConfig::default()
        });
        assert!(plain(&send(&mut m, &c, "p").await.output).contains("Total Count: 2"));
        let mut m = menu(10);
        assert!(plain(&send(&mut m, &c, "p").await.output).contains("Total Count: 3"));
    }

    #[tokio::test]
    async fn asset_table_cells() {
        let mut c = Fake::default();
        let mut a = asset("my web\x1b[31m", "10.7.0.1");
        a.comment = "line one\r\nline two\n\nthree".into();
        a.org_name = "研发部".into();
        c.add(a, &["1"], ssh_root());
        let mut m = menu(10);
        let s = send(&mut m, &c, "p").await;
        assert!(!s.output.contains("\x1b[31m"));
        let t = plain(&s.output);
        assert!(t.contains("my_web_[31m"), "{t}");
        assert!(t.contains("line one|line two|three"), "{t}");
        assert!(t.contains("研发部"), "{t}");
    }

    #[test]
    fn table_aligns_wide_characters() {
        let rows = vec![
            vec!["1".into(), "数据库".into(), "x".into()],
            vec!["2".into(), "ab".into(), "y".into()],
        ];
        let t = render_table(&["ID", "Name", "Comment"], &rows, 80);
        assert_eq!(
            t,
            " ID | Name   | Comment\r\n\
             ----+--------+--------\r\n \
             1  | 数据库 | x\r\n \
             2  | ab     | y\r\n"
        );
    }

    #[test]
    fn table_fits_narrow_terminals() {
        let rows = vec![vec![
            "1".to_string(),
            "a-very-long-asset-name-indeed".into(),
            "192.168.100.200".into(),
            "Linux".into(),
            "Default".into(),
            "a comment that goes on and on and on".into(),
        ]];
        let headers = [
            "ID",
            "Name",
            "Address",
            "Platform",
            "Organization",
            "Comment",
        ];
        let wide = render_table_firm(&headers, &rows, 200, &[2]);
        assert!(wide.contains("a-very-long-asset-name-indeed") && !wide.contains('…'));
        for cols in [80, 60, 50] {
            let t = render_table_firm(&headers, &rows, cols, &[2]);
            for line in t.split("\r\n").filter(|l| !l.is_empty()) {
                assert!(width(line) < cols, "{cols}: {line:?} is {}", width(line));
            }
            assert!(t.contains('…'), "{t}");
            // The address is cut last.
            assert_eq!(t.contains("192.168.100.200"), cols >= 60, "{t}");
        }
        assert!(!render_table(&headers, &rows, 60).contains("192.168.100.200"));
        // Too narrow for the minimums: columns stop there and the line overflows.
        let t = render_table(&headers, &rows, 10);
        assert!(
            t.starts_with(" ID | Name   | Addre… | Platf… | Organ… | Comme…\r\n"),
            "{t}"
        );
        // Wide characters are never split: a cut lands before them.
        assert_eq!(fit("数据库服务器", 5, true), "数据…");
        assert_eq!(fit("数据库服务器", 6, true), "数据… ");
        assert_eq!(fit("abc", 5, true), "abc  ");
        assert_eq!(fit("abc", 5, false), "abc");
        assert_eq!(fit("abc", 0, true), "");
        assert_eq!(fit("abcdef", 1, true), "…");
    }

    #[test]
    fn tree_tolerates_orphans_and_cycles_of_keys() {
        let org = Uuid::new_v4();
        let node = |key: &str, name: &str| NodeItem {
            id: Uuid::new_v4(),
            org_id: org,
            key: key.into(),
            name: name.into(),
            assets_amount: 0,
        };
        // "1:5" has no parent in the list: it is drawn as a root.
        let (order, lines) = tree_lines(vec![node("1:5", "orphan"), node("2", "two")]);
        assert_eq!(order.len(), 2);
        assert_eq!(lines, vec!["├── 1.orphan(0)", "└── 2.two(0)"]);
    }

    /// The store-backed catalog against a real (SQLite) database.
    #[tokio::test]
    async fn store_catalog() {
        use chrono::Utc;
        use portcullis_core::builtin::{DEFAULT_ORG_ID, ORG_USER_ROLE_ID, SYSTEM_USER_ROLE_ID};
        use portcullis_core::vault::{MasterKey, Vault};
        use portcullis_store::accounts::{NewAccount, PermissionFields};
        use portcullis_store::assets::NewAsset;
        use portcullis_store::users::NewUser;

        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store.seed_builtins().await.unwrap();
        let vault = Vault::new(MasterKey::generate(), vec![]);
        let user = |name: &str| NewUser {
            username: name.into(),
            name: name.into(),
            email: format!("{name}@example.com"),
            password: SecretString::new("Passw0rd!Passw0rd"),
            system_role: SYSTEM_USER_ROLE_ID,
            org_role: Some((ORG_USER_ROLE_ID, DEFAULT_ORG_ID)),
            created_by: "test".into(),
            need_update_password: false,
        };
        let alice = store.create_user(&user("alice")).await.unwrap();
        let bob = store.create_user(&user("bob")).await.unwrap();
        let new_asset = |name: &str, address: &str, node: &str, comment: &str| NewAsset {
            org: DEFAULT_ORG_ID,
            name: name.into(),
            address: address.into(),
            platform_id: 1,
            zone: None,
            is_active: true,
            is_gateway: false,
            spec: serde_json::json!({}),
            custom_info: serde_json::json!({}),
            comment: comment.into(),
            protocols: vec![("ssh".into(), 22), ("sftp".into(), 22)],
            node_ids: vec![],
            node_paths: vec![vec![node.into()]],
            created_by: "test".into(),
        };
        let web = store
            .create_asset(&new_asset("web", "10.0.0.9", "dev", "front end"))
            .await
            .unwrap();
        let db = store
            .create_asset(&new_asset("db", "10.0.0.1", "ops", ""))
            .await
            .unwrap();
        store
            .create_accounts(
                &vault,
                &[NewAccount {
                    org_id: DEFAULT_ORG_ID,
                    asset_id: web,
                    name: "root".into(),
                    username: Some("root".into()),
                    secret_type: "password".into(),
                    secret: Some(SecretString::new("s3cret")),
                    passphrase: None,
                    privileged: true,
                    is_active: true,
                    source: "local".into(),
                    source_id: None,
                    template_id: None,
                    su_from: None,
                    params: serde_json::json!({}),
                    comment: String::new(),
                    created_by: "test".into(),
                }],
            )
            .await
            .unwrap();
        store
            .create_asset_permission(
                DEFAULT_ORG_ID,
                &PermissionFields {
                    name: "p".into(),
                    accounts: vec!["@ALL".into(), "@INPUT".into(), "@ANON".into()],
                    protocols: vec!["all".into()],
                    actions: i64::from(Actions::all().bits()),
                    date_start: Utc::now() - chrono::Duration::days(1),
                    date_expired: Utc::now() + chrono::Duration::days(1),
                    is_active: true,
                    comment: String::new(),
                    users: Some(vec![alice]),
                    user_groups: None,
                    assets: Some(vec![web, db]),
                    nodes: None,
                },
                "test",
            )
            .await
            .unwrap();

        let cat = StoreCatalog::new(store.clone(), alice);
        assert_eq!(cat.user_id(), alice);
        let q = |f: &dyn Fn(&mut AssetQuery)| {
            let mut q = AssetQuery {
                limit: 10,
                active_only: true,
                ..AssetQuery::default()
            };
            f(&mut q);
            q
        };
        // Unfiltered: paged by the store, by name.
        let page = cat.assets(&q(&|_| {})).await.unwrap();
        assert_eq!(page.total, 2);
        let names: Vec<&str> = page.items.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["db", "web"]);
        assert_eq!(page.items[1].platform, "Linux");
        assert_eq!(page.items[1].org_name, "Default");
        assert_eq!(page.items[1].protocols, ["sftp", "ssh"]);
        let page = cat.assets(&q(&|q| q.offset = 1)).await.unwrap();
        assert_eq!((page.total, page.items.len()), (2, 1));
        // Filtered: from the snapshot.
        let page = cat
            .assets(&q(&|q| q.order = AssetOrder::Address))
            .await
            .unwrap();
        let names: Vec<&str> = page.items.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["db", "web"]);
        let page = cat
            .assets(&q(&|q| q.keywords = vec!["FRONT".into()]))
            .await
            .unwrap();
        assert_eq!(page.total, 1);
        let page = cat
            .assets(&q(&|q| q.exact = Some("10.0.0.9".into())))
            .await
            .unwrap();
        assert_eq!(page.items[0].id, web);
        let page = cat
            .assets(&q(&|q| q.category = Category::Database))
            .await
            .unwrap();
        assert_eq!(page.total, 0);
        // The tree and a node's assets.
        let nodes = cat.nodes().await.unwrap();
        let dev = nodes.iter().find(|n| n.name == "dev").unwrap();
        assert_eq!(dev.assets_amount, 1);
        assert!(nodes.iter().any(|n| n.name == "Default"));
        let page = cat.assets(&q(&|q| q.node = Some(dev.id))).await.unwrap();
        assert_eq!(page.items.iter().map(|a| a.id).collect::<Vec<_>>(), [web]);
        let page = cat
            .assets(&q(&|q| {
                q.node = Some(dev.id);
                q.keywords = vec!["nothing".into()];
            }))
            .await
            .unwrap();
        assert_eq!(page.total, 0);
        let page = cat
            .assets(&q(&|q| q.node = Some(Uuid::new_v4())))
            .await
            .unwrap();
        assert_eq!(page.total, 0);
        // The grant: terminal protocols only, no anonymous account.
        let grant = cat.grant(web).await.unwrap().unwrap();
        assert_eq!(grant.protocols, ["ssh"]);
        let kinds: Vec<(AccountKind, &str)> = grant
            .accounts
            .iter()
            .map(|a| (a.kind, a.username.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [(AccountKind::Real, "root"), (AccountKind::Input, "")]
        );
        assert!(grant.accounts[0].has_secret && grant.accounts[0].id.is_some());
        assert_eq!(grant.accounts[1].alias, "@INPUT");
        let grant = StoreCatalog::new(store.clone(), alice)
            .with_protocols(vec!["sftp".into(), "ssh".into()])
            .grant(web)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(grant.protocols, ["sftp", "ssh"]);
        assert_eq!(cat.grant(Uuid::new_v4()).await.unwrap(), None);
        cat.refresh().await.unwrap();
        // Someone else sees nothing.
        let other = StoreCatalog::new(store, bob);
        assert_eq!(other.assets(&q(&|_| {})).await.unwrap().total, 0);
        assert_eq!(other.grant(web).await.unwrap(), None);

        // And the menu over it, end to end.
        let mut m = menu(10);
        let s = m.handle_line("web", &cat).await;
        assert_eq!(s.prompt, "ID> ");
        assert!(plain(&s.output).contains("Tips: Enter asset[web(10.0.0.9)] account ID"));
        let s = m.handle_line("2", &cat).await;
        let choice = connect(&s);
        assert_eq!(choice.asset_id, web);
        assert_eq!(choice.protocol, "ssh");
        assert_eq!(plain(&s.output), "Connecting to root(root)@10.0.0.9\r\n");
    }
}
