//! Built-in data: the organisations, roles, platforms and the default asset-tree node that every
//! fresh database starts with.
//!
//! Pure constants, no I/O. The store iterates over them to seed a new database (and may re-apply
//! them on upgrade); the API uses the ids to recognise built-in rows. String values are the exact
//! values stored in the database and checked by its CHECK constraints
//! (`migrations/*/0001_initial.sql`); JSON documents are given as JSON text, ready to store.

use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Organisations
// ---------------------------------------------------------------------------------------------

/// The root ("GLOBAL") organisation, `00000000-0000-0000-0000-000000000000`: the cross-org view
/// used by system-level roles and by components (`X-JMS-ORG: ROOT`). It owns no resources.
pub const ROOT_ORG_ID: Uuid = Uuid::from_u128(0);

/// The Default organisation, `00000000-0000-0000-0000-000000000002`: where resources live unless
/// another org is selected, and the org a request without `X-JMS-ORG` falls back to.
pub const DEFAULT_ORG_ID: Uuid = Uuid::from_u128(2);

/// The SYSTEM organisation, `00000000-0000-0000-0000-000000000004`: internal, for resources that
/// belong to the system itself rather than to a tenant.
pub const SYSTEM_ORG_ID: Uuid = Uuid::from_u128(4);

/// A built-in organisation row (`orgs`, seeded with `builtin = TRUE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinOrg {
    pub id: Uuid,
    pub name: &'static str,
    /// JumpServer's `internal` flag: root and system orgs are internal, Default is not.
    pub internal: bool,
}

/// The three built-in organisations, in seeding order.
pub const ORGS: &[BuiltinOrg] = &[
    BuiltinOrg {
        id: ROOT_ORG_ID,
        name: "GLOBAL",
        internal: true,
    },
    BuiltinOrg {
        id: DEFAULT_ORG_ID,
        name: "Default",
        internal: false,
    },
    BuiltinOrg {
        id: SYSTEM_ORG_ID,
        name: "SYSTEM",
        internal: true,
    },
];

// ---------------------------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------------------------

/// `roles.scope` / `role_bindings.scope` of a system role.
pub const SCOPE_SYSTEM: &str = "system";
/// `roles.scope` / `role_bindings.scope` of an org role.
pub const SCOPE_ORG: &str = "org";

/// SystemAdmin, `00000000-0000-0000-0000-000000000001`.
pub const SYSTEM_ADMIN_ROLE_ID: Uuid = Uuid::from_u128(1);
/// SystemAuditor, `00000000-0000-0000-0000-000000000002`.
pub const SYSTEM_AUDITOR_ROLE_ID: Uuid = Uuid::from_u128(2);
/// SystemUser (named `User` in JumpServer), `00000000-0000-0000-0000-000000000003`: every user
/// gets it by default.
pub const SYSTEM_USER_ROLE_ID: Uuid = Uuid::from_u128(3);
/// SystemComponent, `00000000-0000-0000-0000-000000000004`: service accounts of components.
pub const SYSTEM_COMPONENT_ROLE_ID: Uuid = Uuid::from_u128(4);
/// OrgAdmin, `00000000-0000-0000-0000-000000000005`.
pub const ORG_ADMIN_ROLE_ID: Uuid = Uuid::from_u128(5);
/// OrgAuditor, `00000000-0000-0000-0000-000000000006`.
pub const ORG_AUDITOR_ROLE_ID: Uuid = Uuid::from_u128(6);
/// OrgUser, `00000000-0000-0000-0000-000000000007`: the default org role of a new member.
pub const ORG_USER_ROLE_ID: Uuid = Uuid::from_u128(7);

/// A built-in role (`roles`, seeded with `builtin = TRUE`).
///
/// Permissions are codename patterns (`app.action_resource`, e.g. `perms.view_myassets`), matched
/// by [`patterns_grant`]: `*` matches any run of characters, and a pattern starting with `!`
/// takes away what it matches. A role only ever holds permissions of its own scope, so `*` in an
/// org role means "every org-scoped permission". This is a first cut of the catalogue: the API
/// issue will refine the codenames as it defines the permission list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinRole {
    pub id: Uuid,
    /// `roles.name`, as in JumpServer (the system user role is called `User` there).
    pub name: &'static str,
    pub display_name: &'static str,
    /// [`SCOPE_SYSTEM`] or [`SCOPE_ORG`].
    pub scope: &'static str,
    /// Groups of patterns; [`BuiltinRole::permissions`] flattens them.
    pub permission_sets: &'static [&'static [&'static str]],
}

impl BuiltinRole {
    /// The role's permission patterns, flattened, in order, without duplicates. This is what the
    /// store writes into `roles.permissions` (as a JSON list).
    pub fn permissions(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for set in self.permission_sets {
            for p in *set {
                if !out.contains(p) {
                    out.push(p);
                }
            }
        }
        out
    }

    /// Whether this role grants the permission `codename`.
    pub fn grants(&self, codename: &str) -> bool {
        patterns_grant(&self.permissions(), codename)
    }
}

/// Everything.
const PERMS_ALL: &[&str] = &["*"];

/// What a user needs to reach granted assets from the workbench (JumpServer's `user_perms`).
const PERMS_WORKBENCH: &[&str] = &[
    "rbac.view_workbench",
    "rbac.view_webterminal",
    "rbac.view_filemanager",
    "perms.view_myassets",
    "perms.connect_myassets",
    "assets.match_asset",
    "assets.match_node",
    "ops.*_adhoc",
    "ops.*_playbook",
    "ops.*_job",
    "ops.*_jobexecution",
    "ops.view_celerytaskexecution",
];

/// Self-service of one's own profile and credentials (system scope).
const PERMS_SELF_SERVICE: &[&str] = &[
    "users.view_profile",
    "users.change_profile",
    "authentication.add_connectiontoken",
    "authentication.view_connectiontoken",
    "authentication.reuse_connectiontoken",
    "authentication.expire_connectiontoken",
    "authentication.add_temptoken",
    "authentication.change_temptoken",
    "authentication.view_temptoken",
    "authentication.*_accesskey",
    "authentication.*_passkey",
    "authentication.*_sshkey",
    "orgs.view_alljoinedorg",
];

/// Audit views: sessions, replays, commands, every audit log and the org's tickets.
/// Read-only: auditors watch and read, they never change what they audit.
const PERMS_AUDIT: &[&str] = &[
    "rbac.view_audit",
    "audits.view_*",
    "terminal.view_commandstorage",
    "terminal.view_replaystorage",
    "terminal.view_sessionreplay",
    "terminal.download_sessionreplay",
    "terminal.view_session",
    "terminal.monitor_session",
    "terminal.view_command",
    // Every ticket of the org, read-only. A user's own tickets (applied for, or to review)
    // need no permission, so this is not self-service: there it would show everyone's.
    "tickets.view_ticket",
];

/// The system auditor also sees the root (cross-org) view.
const PERMS_VIEW_ROOT_ORG: &[&str] = &["orgs.view_rootorg"];

/// Components may do everything except manage users, organisations and RBAC.
const PERMS_COMPONENT: &[&str] = &[
    "*",
    "!users.add_user",
    "!users.delete_user",
    "!orgs.add_organization",
    "!orgs.change_organization",
    "!orgs.delete_organization",
    "!rbac.*",
];

/// The seven built-in roles, ordered by id.
pub const ROLES: &[BuiltinRole] = &[
    BuiltinRole {
        id: SYSTEM_ADMIN_ROLE_ID,
        name: "SystemAdmin",
        display_name: "System administrator",
        scope: SCOPE_SYSTEM,
        permission_sets: &[PERMS_ALL],
    },
    BuiltinRole {
        id: SYSTEM_AUDITOR_ROLE_ID,
        name: "SystemAuditor",
        display_name: "System auditor",
        scope: SCOPE_SYSTEM,
        permission_sets: &[
            PERMS_SELF_SERVICE,
            PERMS_WORKBENCH,
            PERMS_AUDIT,
            PERMS_VIEW_ROOT_ORG,
        ],
    },
    BuiltinRole {
        id: SYSTEM_USER_ROLE_ID,
        name: "User",
        display_name: "User",
        scope: SCOPE_SYSTEM,
        permission_sets: &[PERMS_SELF_SERVICE, PERMS_WORKBENCH],
    },
    BuiltinRole {
        id: SYSTEM_COMPONENT_ROLE_ID,
        name: "SystemComponent",
        display_name: "System component",
        scope: SCOPE_SYSTEM,
        permission_sets: &[PERMS_COMPONENT],
    },
    BuiltinRole {
        id: ORG_ADMIN_ROLE_ID,
        name: "OrgAdmin",
        display_name: "Organization administrator",
        scope: SCOPE_ORG,
        permission_sets: &[PERMS_ALL],
    },
    BuiltinRole {
        id: ORG_AUDITOR_ROLE_ID,
        name: "OrgAuditor",
        display_name: "Organization auditor",
        scope: SCOPE_ORG,
        permission_sets: &[PERMS_WORKBENCH, PERMS_AUDIT],
    },
    BuiltinRole {
        id: ORG_USER_ROLE_ID,
        name: "OrgUser",
        display_name: "Organization user",
        scope: SCOPE_ORG,
        permission_sets: &[PERMS_WORKBENCH],
    },
];

/// The built-in role with this id.
pub fn role(id: Uuid) -> Option<&'static BuiltinRole> {
    ROLES.iter().find(|r| r.id == id)
}

/// Whether a single codename pattern matches `codename`. `*` matches any run of characters
/// (including none); every other character matches itself. A leading `!` is not special here.
pub fn permission_matches(pattern: &str, codename: &str) -> bool {
    let p = pattern.as_bytes();
    let s = codename.as_bytes();
    let (mut pi, mut si) = (0, 0);
    // Position of the last `*` in the pattern and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Whether a list of patterns grants `codename`: at least one plain pattern matches it and no
/// `!`-pattern does.
pub fn patterns_grant<S: AsRef<str>>(patterns: &[S], codename: &str) -> bool {
    let mut granted = false;
    for p in patterns {
        let p = p.as_ref();
        if let Some(denied) = p.strip_prefix('!') {
            if permission_matches(denied, codename) {
                return false;
            }
        } else if !granted && permission_matches(p, codename) {
            granted = true;
        }
    }
    granted
}

// ---------------------------------------------------------------------------------------------
// Asset categories and types
// ---------------------------------------------------------------------------------------------

/// Asset / platform categories (`platforms.category`, `assets.category`).
pub const CATEGORIES: &[&str] = &["host", "device", "database", "cloud", "web", "ds", "custom"];

/// The types allowed in a category, as the database CHECK constraint on `platforms` lists them.
/// `custom` platforms choose their own type, so it has no fixed list (`Some(&[])`); an unknown
/// category gives `None`.
pub fn category_types(category: &str) -> Option<&'static [&'static str]> {
    Some(match category {
        "host" => &["linux", "windows", "unix", "macos", "other"],
        "device" => &[
            "general", "cisco", "huawei", "h3c", "juniper", "tp_link", "switch", "router",
            "firewall",
        ],
        "database" => &[
            "mysql",
            "mariadb",
            "postgresql",
            "oracle",
            "sqlserver",
            "db2",
            "dameng",
            "clickhouse",
            "mongodb",
            "redis",
        ],
        "cloud" => &["public", "private", "k8s"],
        "web" => &["website"],
        "ds" => &["general", "windows_ad"],
        "custom" => &[],
        _ => return None,
    })
}

/// Whether `type` is valid in `category` (any non-empty type is valid for `custom`).
pub fn is_valid_type(category: &str, r#type: &str) -> bool {
    match category_types(category) {
        Some([]) => category == "custom" && !r#type.is_empty(),
        Some(types) => types.contains(&r#type),
        None => false,
    }
}

/// `platforms.su_method` values.
pub const SU_METHODS: &[&str] = &[
    "sudo",
    "su",
    "only_sudo",
    "only_su",
    "enable",
    "super",
    "super_level",
];

/// `platforms.charset` values.
pub const CHARSETS: &[&str] = &["utf-8", "gbk"];

// ---------------------------------------------------------------------------------------------
// Platforms
// ---------------------------------------------------------------------------------------------

/// Built-in platforms have ids below this; ids the database generates start here (both
/// migrations set their identity / sqlite_sequence accordingly).
pub const FIRST_USER_PLATFORM_ID: i64 = 1000;

/// A protocol a platform offers (`platform_protocols`; `primary` and `default` are stored as
/// `is_primary` / `is_default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinProtocol {
    pub name: &'static str,
    /// Default port.
    pub port: u16,
    /// The platform's main protocol; exactly one per platform.
    pub primary: bool,
    /// Every asset of the platform must have it.
    pub required: bool,
    /// Added to a new asset by default.
    pub default: bool,
    /// Offered to users when they connect (false: used by automations only, e.g. WinRM).
    pub public: bool,
    /// Protocol settings, a JSON object (e.g. `{"sftp_home":"/tmp"}`).
    pub setting: &'static str,
}

impl BuiltinProtocol {
    const fn new(name: &'static str, port: u16, setting: &'static str) -> Self {
        Self {
            name,
            port,
            primary: false,
            required: false,
            default: false,
            public: true,
            setting,
        }
    }

    /// The platform's primary protocol: also required and added by default.
    const fn primary(mut self) -> Self {
        self.primary = true;
        self.required = true;
        self.default = true;
        self
    }

    const fn required(mut self) -> Self {
        self.required = true;
        self.default = true;
        self
    }

    const fn default(mut self) -> Self {
        self.default = true;
        self
    }

    const fn hidden(mut self) -> Self {
        self.public = false;
        self
    }

    const fn setting(mut self, setting: &'static str) -> Self {
        self.setting = setting;
        self
    }
}

const SSH: BuiltinProtocol =
    BuiltinProtocol::new("ssh", 22, r#"{"old_ssh_version":false,"nc":false}"#);
const SFTP: BuiltinProtocol = BuiltinProtocol::new("sftp", 22, r#"{"sftp_home":"/tmp"}"#);
const TELNET: BuiltinProtocol = BuiltinProtocol::new(
    "telnet",
    23,
    r#"{"username_prompt":"username:|login:","password_prompt":"password:","success_prompt":"success|成功|#|>|\\$"}"#,
);
const VNC: BuiltinProtocol = BuiltinProtocol::new("vnc", 5900, "{}");
const RDP: BuiltinProtocol = BuiltinProtocol::new(
    "rdp",
    3389,
    r#"{"console":false,"security":"any","ad_domain":""}"#,
);
const WINRM: BuiltinProtocol = BuiltinProtocol::new("winrm", 5985, r#"{"use_ssl":false}"#);
const MYSQL: BuiltinProtocol = BuiltinProtocol::new("mysql", 3306, "{}");
const MARIADB: BuiltinProtocol = BuiltinProtocol::new("mariadb", 3306, "{}");
const POSTGRESQL: BuiltinProtocol = BuiltinProtocol::new("postgresql", 5432, "{}");
const ORACLE: BuiltinProtocol = BuiltinProtocol::new(
    "oracle",
    1521,
    r#"{"sysdba":false,"change_secret_with_old_password":false}"#,
);
const SQLSERVER: BuiltinProtocol =
    BuiltinProtocol::new("sqlserver", 1433, r#"{"version":">=2014","encrypt":true}"#);
const CLICKHOUSE: BuiltinProtocol = BuiltinProtocol::new("clickhouse", 9000, "{}");
const MONGODB: BuiltinProtocol = BuiltinProtocol::new(
    "mongodb",
    27017,
    r#"{"auth_source":"admin","connection_options":""}"#,
);
const REDIS: BuiltinProtocol = BuiltinProtocol::new(
    "redis",
    6379,
    r#"{"auth_username":false,"enable_cluster_mode":false}"#,
);
const DB2: BuiltinProtocol = BuiltinProtocol::new("db2", 50000, "{}");
const DAMENG: BuiltinProtocol = BuiltinProtocol::new("dameng", 5236, "{}");
/// Web assets: the address is a URL, whose scheme and port win over this default.
const HTTP: BuiltinProtocol = BuiltinProtocol::new(
    "http",
    80,
    r#"{"safe_mode":false,"autofill":"basic","username_selector":"name=username","password_selector":"name=password","submit_selector":"type=submit","script":[]}"#,
);
const K8S: BuiltinProtocol = BuiltinProtocol::new("k8s", 443, r#"{"namespace":""}"#);

const UNIX_PROTOCOLS: &[BuiltinProtocol] = &[SSH.primary(), SFTP.default(), TELNET, VNC];
const LINUX_PROTOCOLS: &[BuiltinProtocol] = &[SSH.primary(), SFTP.default(), TELNET, VNC, RDP];
const GATEWAY_PROTOCOLS: &[BuiltinProtocol] = &[SSH.primary()];
const WINDOWS_PROTOCOLS: &[BuiltinProtocol] = &[RDP.primary(), SSH, VNC, WINRM.hidden()];
const WINDOWS_RDP_PROTOCOLS: &[BuiltinProtocol] = &[
    RDP.primary()
        .setting(r#"{"console":false,"security":"rdp","ad_domain":""}"#),
    SSH,
    VNC,
    WINRM.hidden(),
];
const WINDOWS_TLS_PROTOCOLS: &[BuiltinProtocol] = &[
    RDP.primary()
        .setting(r#"{"console":false,"security":"tls","ad_domain":""}"#),
    SSH,
    VNC,
    WINRM.hidden(),
];
/// RemoteApp hosts are managed over SSH (applet deployment), so SSH is required there.
const REMOTE_APP_HOST_PROTOCOLS: &[BuiltinProtocol] =
    &[RDP.primary(), SSH.required(), WINRM.hidden()];
const DEVICE_PROTOCOLS: &[BuiltinProtocol] = &[SSH.primary(), SFTP, TELNET];
const AD_PROTOCOLS: &[BuiltinProtocol] = &[RDP.primary(), SSH, VNC, WINRM.hidden()];

/// One automation kind of a platform: `<kind>_enabled`, `<kind>_method`, `<kind>_params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutomationMethod {
    pub enabled: bool,
    /// The automation method id, `<plugin>/<function>` (e.g. `portcullis-linux/ping`); `""` when
    /// the platform has none for this kind.
    pub method: &'static str,
    /// Parameters for the method, a JSON object.
    pub params: &'static str,
}

impl AutomationMethod {
    /// Not supported: disabled, no method.
    pub const NONE: Self = Self {
        enabled: false,
        method: "",
        params: "{}",
    };

    const fn on(method: &'static str) -> Self {
        Self {
            enabled: true,
            method,
            params: "{}",
        }
    }

    const fn params(mut self, params: &'static str) -> Self {
        self.params = params;
        self
    }
}

/// The automation kinds, in column order; `platform_automations` has `<kind>_enabled`,
/// `<kind>_method` and `<kind>_params` for each.
pub const AUTOMATION_KINDS: [&str; 7] = [
    "ping",
    "gather_facts",
    "change_secret",
    "push_account",
    "verify_account",
    "gather_accounts",
    "remove_account",
];

/// A platform's automation settings (`platform_automations`).
///
/// Portcullis runs automations through platform-automation plugins, not Ansible; the
/// `ansible_*` fields carry JumpServer's values for API compatibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinAutomation {
    pub ansible_enabled: bool,
    /// A JSON object.
    pub ansible_config: &'static str,
    pub ping: AutomationMethod,
    pub gather_facts: AutomationMethod,
    pub change_secret: AutomationMethod,
    pub push_account: AutomationMethod,
    pub verify_account: AutomationMethod,
    pub gather_accounts: AutomationMethod,
    pub remove_account: AutomationMethod,
}

impl BuiltinAutomation {
    /// No automation at all.
    pub const NONE: Self = Self {
        ansible_enabled: false,
        ansible_config: "{}",
        ping: AutomationMethod::NONE,
        gather_facts: AutomationMethod::NONE,
        change_secret: AutomationMethod::NONE,
        push_account: AutomationMethod::NONE,
        verify_account: AutomationMethod::NONE,
        gather_accounts: AutomationMethod::NONE,
        remove_account: AutomationMethod::NONE,
    };

    /// Every kind with its name, in [`AUTOMATION_KINDS`] order.
    pub fn kinds(&self) -> [(&'static str, &AutomationMethod); 7] {
        [
            ("ping", &self.ping),
            ("gather_facts", &self.gather_facts),
            ("change_secret", &self.change_secret),
            ("push_account", &self.push_account),
            ("verify_account", &self.verify_account),
            ("gather_accounts", &self.gather_accounts),
            ("remove_account", &self.remove_account),
        ]
    }
}

/// Every kind enabled, each with the method `<plugin>/<kind in kebab-case>`.
macro_rules! full_automation {
    ($plugin:literal, $ansible_config:literal) => {
        BuiltinAutomation {
            ansible_enabled: true,
            ansible_config: $ansible_config,
            ping: AutomationMethod::on(concat!($plugin, "/ping")),
            gather_facts: AutomationMethod::on(concat!($plugin, "/gather-facts")),
            change_secret: AutomationMethod::on(concat!($plugin, "/change-secret")),
            push_account: AutomationMethod::on(concat!($plugin, "/push-account")),
            verify_account: AutomationMethod::on(concat!($plugin, "/verify-account")),
            gather_accounts: AutomationMethod::on(concat!($plugin, "/gather-accounts")),
            remove_account: AutomationMethod::on(concat!($plugin, "/remove-account")),
        }
    };
}

/// Database automations: everything but gathering facts.
macro_rules! database_automation {
    ($plugin:literal) => {
        BuiltinAutomation {
            gather_facts: AutomationMethod::NONE,
            ..full_automation!($plugin, r#"{"ansible_connection":"local"}"#)
        }
    };
}

const POSIX_PUSH_PARAMS: &str =
    r#"{"sudo":"/bin/whoami","shell":"/bin/bash","home":"","groups":""}"#;
const WINDOWS_PUSH_PARAMS: &str = r#"{"groups":"Users,Remote Desktop Users"}"#;

const LINUX_AUTOMATION: BuiltinAutomation = BuiltinAutomation {
    push_account: AutomationMethod::on("portcullis-linux/push-account").params(POSIX_PUSH_PARAMS),
    ..full_automation!("portcullis-linux", r#"{"ansible_connection":"smart"}"#)
};

/// AIX creates users and sets passwords its own way (JumpServer's push_account_aix /
/// push_secret_aix); everything else is the Linux family's.
const AIX_AUTOMATION: BuiltinAutomation = BuiltinAutomation {
    change_secret: AutomationMethod::on("portcullis-aix/change-secret"),
    push_account: AutomationMethod::on("portcullis-aix/push-account").params(POSIX_PUSH_PARAMS),
    ..LINUX_AUTOMATION
};

const WINDOWS_AUTOMATION: BuiltinAutomation = BuiltinAutomation {
    push_account: AutomationMethod::on("portcullis-windows/push-account")
        .params(WINDOWS_PUSH_PARAMS),
    ..full_automation!(
        "portcullis-windows",
        r#"{"ansible_shell_type":"cmd","ansible_connection":"ssh"}"#
    )
};

/// Network devices: reachability and secrets only (no facts, no account push or discovery).
const DEVICE_AUTOMATION: BuiltinAutomation = BuiltinAutomation {
    ansible_enabled: true,
    ansible_config: r#"{"ansible_connection":"local","first_conn_delay_time":0.5}"#,
    ping: AutomationMethod::on("portcullis-network/ping"),
    change_secret: AutomationMethod::on("portcullis-network/change-secret"),
    verify_account: AutomationMethod::on("portcullis-network/verify-account"),
    ..BuiltinAutomation::NONE
};

const AD_AUTOMATION: BuiltinAutomation = BuiltinAutomation {
    gather_facts: AutomationMethod::NONE,
    remove_account: AutomationMethod::NONE,
    ..full_automation!(
        "portcullis-windows-ad",
        r#"{"ansible_shell_type":"cmd","ansible_connection":"ssh"}"#
    )
};

/// A built-in platform (`platforms` with `internal = TRUE`, plus its `platform_protocols` and its
/// `platform_automations` row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinPlatform {
    /// Stable id, below [`FIRST_USER_PLATFORM_ID`].
    pub id: i64,
    pub name: &'static str,
    /// One of [`CATEGORIES`].
    pub category: &'static str,
    /// One of [`category_types`] of the category.
    pub r#type: &'static str,
    /// One of [`CHARSETS`].
    pub charset: &'static str,
    /// Domain support: assets may sit in a zone and be reached through its gateways.
    pub gateway_enabled: bool,
    /// Account switching (`sudo su -`, `su -`, `enable`, ...) is on.
    pub su_enabled: bool,
    /// One of [`SU_METHODS`]: the method used once switching is enabled; `None` where the
    /// platform cannot switch accounts.
    pub su_method: Option<&'static str>,
    /// Assets may use accounts of a directory service (AD).
    pub ds_enabled: bool,
    /// Custom platforms' field definitions, a JSON list.
    pub custom_fields: &'static str,
    pub comment: &'static str,
    pub protocols: &'static [BuiltinProtocol],
    pub automation: BuiltinAutomation,
}

impl BuiltinPlatform {
    /// The primary protocol (every built-in platform has exactly one).
    pub fn primary_protocol(&self) -> Option<&'static BuiltinProtocol> {
        self.protocols.iter().find(|p| p.primary)
    }
}

const HOST_BASE: BuiltinPlatform = BuiltinPlatform {
    id: 0,
    name: "",
    category: "host",
    r#type: "linux",
    charset: "utf-8",
    gateway_enabled: true,
    su_enabled: false,
    su_method: Some("sudo"),
    ds_enabled: false,
    custom_fields: "[]",
    comment: "",
    protocols: LINUX_PROTOCOLS,
    automation: LINUX_AUTOMATION,
};

const WINDOWS_BASE: BuiltinPlatform = BuiltinPlatform {
    r#type: "windows",
    su_method: None,
    ds_enabled: true,
    protocols: WINDOWS_PROTOCOLS,
    automation: WINDOWS_AUTOMATION,
    ..HOST_BASE
};

const DEVICE_BASE: BuiltinPlatform = BuiltinPlatform {
    category: "device",
    r#type: "general",
    su_method: Some("enable"),
    ds_enabled: false,
    protocols: DEVICE_PROTOCOLS,
    automation: DEVICE_AUTOMATION,
    ..HOST_BASE
};

const DATABASE_BASE: BuiltinPlatform = BuiltinPlatform {
    category: "database",
    su_method: None,
    automation: BuiltinAutomation::NONE,
    ..HOST_BASE
};

const NO_GATEWAY_BASE: BuiltinPlatform = BuiltinPlatform {
    gateway_enabled: false,
    su_method: None,
    automation: BuiltinAutomation::NONE,
    ..HOST_BASE
};

/// The built-in platforms, ordered by id. Ids are stable: never renumber or reuse one.
pub const PLATFORMS: &[BuiltinPlatform] = &[
    // Hosts 1-19.
    BuiltinPlatform {
        id: 1,
        name: "Linux",
        ..HOST_BASE
    },
    BuiltinPlatform {
        id: 2,
        name: "Unix",
        r#type: "unix",
        protocols: UNIX_PROTOCOLS,
        ..HOST_BASE
    },
    BuiltinPlatform {
        id: 3,
        name: "macOS",
        r#type: "unix",
        protocols: UNIX_PROTOCOLS,
        ..HOST_BASE
    },
    BuiltinPlatform {
        id: 4,
        name: "BSD",
        r#type: "unix",
        protocols: UNIX_PROTOCOLS,
        ..HOST_BASE
    },
    BuiltinPlatform {
        id: 5,
        name: "Windows",
        ..WINDOWS_BASE
    },
    BuiltinPlatform {
        id: 6,
        name: "AIX",
        r#type: "unix",
        protocols: UNIX_PROTOCOLS,
        automation: AIX_AUTOMATION,
        ..HOST_BASE
    },
    BuiltinPlatform {
        id: 7,
        name: "Windows-RDP",
        protocols: WINDOWS_RDP_PROTOCOLS,
        ..WINDOWS_BASE
    },
    BuiltinPlatform {
        id: 8,
        name: "Windows-TLS",
        protocols: WINDOWS_TLS_PROTOCOLS,
        ..WINDOWS_BASE
    },
    BuiltinPlatform {
        id: 9,
        name: "RemoteAppHost",
        protocols: REMOTE_APP_HOST_PROTOCOLS,
        comment: "Windows host that publishes remote applications",
        ..WINDOWS_BASE
    },
    BuiltinPlatform {
        id: 10,
        name: "Gateway",
        gateway_enabled: false,
        protocols: GATEWAY_PROTOCOLS,
        comment: "SSH jump host of a zone (assets with is_gateway)",
        ..HOST_BASE
    },
    // Network devices 20-39.
    BuiltinPlatform {
        id: 20,
        name: "General",
        ..DEVICE_BASE
    },
    BuiltinPlatform {
        id: 21,
        name: "Cisco",
        r#type: "cisco",
        ..DEVICE_BASE
    },
    BuiltinPlatform {
        id: 22,
        name: "Huawei",
        r#type: "huawei",
        su_method: Some("super"),
        ..DEVICE_BASE
    },
    BuiltinPlatform {
        id: 23,
        name: "H3C",
        r#type: "h3c",
        su_method: Some("super"),
        ..DEVICE_BASE
    },
    BuiltinPlatform {
        id: 24,
        name: "Juniper",
        r#type: "juniper",
        su_method: None,
        ..DEVICE_BASE
    },
    // Databases 40-59.
    BuiltinPlatform {
        id: 40,
        name: "MySQL",
        r#type: "mysql",
        protocols: &[MYSQL.primary()],
        automation: database_automation!("portcullis-mysql"),
        ..DATABASE_BASE
    },
    BuiltinPlatform {
        id: 41,
        name: "MariaDB",
        r#type: "mariadb",
        protocols: &[MARIADB.primary()],
        automation: database_automation!("portcullis-mysql"),
        ..DATABASE_BASE
    },
    BuiltinPlatform {
        id: 42,
        name: "PostgreSQL",
        r#type: "postgresql",
        protocols: &[POSTGRESQL.primary()],
        automation: database_automation!("portcullis-postgresql"),
        ..DATABASE_BASE
    },
    BuiltinPlatform {
        id: 43,
        name: "Oracle",
        r#type: "oracle",
        protocols: &[ORACLE.primary()],
        automation: database_automation!("portcullis-oracle"),
        ..DATABASE_BASE
    },
    BuiltinPlatform {
        id: 44,
        name: "SQLServer",
        r#type: "sqlserver",
        protocols: &[SQLSERVER.primary()],
        automation: database_automation!("portcullis-sqlserver"),
        ..DATABASE_BASE
    },
    BuiltinPlatform {
        id: 45,
        name: "ClickHouse",
        r#type: "clickhouse",
        protocols: &[CLICKHOUSE.primary()],
        ..DATABASE_BASE
    },
    BuiltinPlatform {
        id: 46,
        name: "MongoDB",
        r#type: "mongodb",
        protocols: &[MONGODB.primary()],
        automation: database_automation!("portcullis-mongodb"),
        ..DATABASE_BASE
    },
    BuiltinPlatform {
        id: 47,
        name: "Redis",
        r#type: "redis",
        protocols: &[REDIS.primary()],
        ..DATABASE_BASE
    },
    BuiltinPlatform {
        id: 48,
        name: "Redis6+",
        r#type: "redis",
        protocols: &[REDIS
            .primary()
            .setting(r#"{"auth_username":true,"enable_cluster_mode":false}"#)],
        ..DATABASE_BASE
    },
    BuiltinPlatform {
        id: 49,
        name: "DB2",
        r#type: "db2",
        protocols: &[DB2.primary()],
        ..DATABASE_BASE
    },
    BuiltinPlatform {
        id: 50,
        name: "Dameng",
        r#type: "dameng",
        protocols: &[DAMENG.primary()],
        ..DATABASE_BASE
    },
    // Web 60-69.
    BuiltinPlatform {
        id: 60,
        name: "Website",
        category: "web",
        r#type: "website",
        protocols: &[HTTP.primary()],
        ..NO_GATEWAY_BASE
    },
    // Cloud 70-79.
    BuiltinPlatform {
        id: 70,
        name: "Kubernetes",
        category: "cloud",
        r#type: "k8s",
        protocols: &[K8S.primary()],
        ..NO_GATEWAY_BASE
    },
    BuiltinPlatform {
        id: 71,
        name: "Vmware-vSphere",
        category: "cloud",
        r#type: "private",
        protocols: &[HTTP.primary()],
        comment: "Private cloud",
        ..NO_GATEWAY_BASE
    },
    // Directory services 80-89.
    BuiltinPlatform {
        id: 80,
        name: "Windows Active Directory",
        category: "ds",
        r#type: "windows_ad",
        gateway_enabled: true,
        su_method: None,
        protocols: AD_PROTOCOLS,
        automation: AD_AUTOMATION,
        ..HOST_BASE
    },
    // Custom 90-99.
    BuiltinPlatform {
        id: 90,
        name: "Custom",
        category: "custom",
        r#type: "custom",
        protocols: &[SSH.primary()],
        comment: "Base for custom platforms; assets carry custom_info",
        ..NO_GATEWAY_BASE
    },
];

/// The built-in platform with this id.
pub fn platform(id: i64) -> Option<&'static BuiltinPlatform> {
    PLATFORMS.iter().find(|p| p.id == id)
}

/// The built-in platform with this name.
pub fn platform_by_name(name: &str) -> Option<&'static BuiltinPlatform> {
    PLATFORMS.iter().find(|p| p.name == name)
}

/// The platform gateway assets use.
pub const GATEWAY_PLATFORM_ID: i64 = 10;

// ---------------------------------------------------------------------------------------------
// Asset tree
// ---------------------------------------------------------------------------------------------

/// A built-in node (`nodes`); the store generates its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinNode {
    pub org_id: Uuid,
    pub key: &'static str,
    pub value: &'static str,
    /// `''` for an org root.
    pub parent_key: &'static str,
}

/// The root node of the Default org's asset tree: key `1`, value `Default`.
pub const DEFAULT_ROOT_NODE: BuiltinNode = BuiltinNode {
    org_id: DEFAULT_ORG_ID,
    key: "1",
    value: "Default",
    parent_key: "",
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const SQLITE_SCHEMA: &str = include_str!("../../../migrations/sqlite/0001_initial.sql");
    const POSTGRES_SCHEMA: &str = include_str!("../../../migrations/postgres/0001_initial.sql");

    fn json(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("invalid JSON {text:?}: {e}"))
    }

    #[test]
    fn org_ids_match_the_reference() {
        assert_eq!(
            ROOT_ORG_ID.to_string(),
            "00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            DEFAULT_ORG_ID.to_string(),
            "00000000-0000-0000-0000-000000000002"
        );
        assert_eq!(
            SYSTEM_ORG_ID.to_string(),
            "00000000-0000-0000-0000-000000000004"
        );
        let names: Vec<_> = ORGS.iter().map(|o| o.name).collect();
        assert_eq!(names, ["GLOBAL", "Default", "SYSTEM"]);
        assert!(!ORGS.iter().any(|o| o.id == DEFAULT_ORG_ID && o.internal));
    }

    #[test]
    fn role_ids_match_the_reference() {
        let expected = [
            (1, "SystemAdmin", SCOPE_SYSTEM),
            (2, "SystemAuditor", SCOPE_SYSTEM),
            (3, "User", SCOPE_SYSTEM),
            (4, "SystemComponent", SCOPE_SYSTEM),
            (5, "OrgAdmin", SCOPE_ORG),
            (6, "OrgAuditor", SCOPE_ORG),
            (7, "OrgUser", SCOPE_ORG),
        ];
        assert_eq!(ROLES.len(), expected.len());
        for (role, (n, name, scope)) in ROLES.iter().zip(expected) {
            assert_eq!(
                role.id.to_string(),
                format!("00000000-0000-0000-0000-00000000000{n}")
            );
            assert_eq!(role.name, name);
            assert_eq!(role.scope, scope);
            assert!(!role.display_name.is_empty());
            assert!(!role.permissions().is_empty());
            assert_eq!(super::role(role.id), Some(role));
        }
        assert_eq!(SYSTEM_USER_ROLE_ID, ROLES[2].id);
        assert_eq!(ORG_USER_ROLE_ID, ROLES[6].id);
    }

    #[test]
    fn role_names_unique_per_scope() {
        let mut seen = HashSet::new();
        for r in ROLES {
            assert!(seen.insert((r.scope, r.name)), "duplicate role {}", r.name);
        }
    }

    #[test]
    fn patterns_match_like_globs() {
        assert!(permission_matches("*", "users.view_user"));
        assert!(permission_matches("*.view_*", "users.view_user"));
        assert!(!permission_matches("*.view_*", "users.change_user"));
        assert!(permission_matches("audits.*", "audits.view_operatelog"));
        assert!(!permission_matches("audits.*", "auditsx.view_operatelog"));
        assert!(permission_matches(
            "terminal.*_session",
            "terminal.terminate_session"
        ));
        assert!(!permission_matches(
            "terminal.*_session",
            "terminal.view_sessionsharing"
        ));
        assert!(permission_matches("a*b*c", "aXXbYYbc"));
        assert!(!permission_matches("a*b*c", "aXXbYYbd"));
        assert!(permission_matches("", ""));
        assert!(!permission_matches("", "x"));
        assert!(permission_matches("**", ""));
    }

    #[test]
    fn exclusions_take_away() {
        let component = role(SYSTEM_COMPONENT_ROLE_ID).expect("component role");
        assert!(component.grants("terminal.add_session"));
        assert!(!component.grants("rbac.add_role"));
        assert!(!component.grants("users.delete_user"));
        assert!(component.grants("users.view_user"));
        assert!(!patterns_grant::<&str>(&[], "x.y"));
        assert!(!patterns_grant(&["!x.*"], "x.y"));
        // Order does not matter: an exclusion wins wherever it stands.
        assert!(!patterns_grant(&["!x.y", "*"], "x.y"));
        assert!(patterns_grant(&[String::from("x.*")], "x.y"));
    }

    #[test]
    fn built_in_roles_grant_what_they_should() {
        let admin = role(SYSTEM_ADMIN_ROLE_ID).expect("admin");
        let auditor = role(SYSTEM_AUDITOR_ROLE_ID).expect("auditor");
        let user = role(SYSTEM_USER_ROLE_ID).expect("user");
        let org_user = role(ORG_USER_ROLE_ID).expect("org user");
        let org_auditor = role(ORG_AUDITOR_ROLE_ID).expect("org auditor");
        assert!(admin.grants("accounts.view_accountsecret"));
        assert!(auditor.grants("audits.view_operatelog"));
        assert!(auditor.grants("terminal.view_session"));
        assert!(!auditor.grants("accounts.view_accountsecret"));
        assert!(!auditor.grants("users.add_user"));
        assert!(user.grants("perms.view_myassets"));
        assert!(user.grants("users.view_profile"));
        assert!(!user.grants("audits.view_operatelog"));
        assert!(org_user.grants("perms.connect_myassets"));
        assert!(!org_user.grants("assets.add_asset"));
        assert!(org_auditor.grants("terminal.view_command"));
        assert!(!org_auditor.grants("assets.change_asset"));
    }

    #[test]
    fn role_permissions_are_flat_and_deduplicated() {
        let auditor = role(SYSTEM_AUDITOR_ROLE_ID).expect("auditor");
        let perms = auditor.permissions();
        let unique: HashSet<_> = perms.iter().collect();
        assert_eq!(unique.len(), perms.len());
        // Serialisable as the JSON list stored in roles.permissions.
        let text = serde_json::to_string(&perms).expect("serialise");
        assert!(json(&text).is_array());
    }

    #[test]
    fn platform_ids_and_names_unique_and_below_user_range() {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        let mut last = 0;
        for p in PLATFORMS {
            assert!(p.id > 0 && p.id < FIRST_USER_PLATFORM_ID, "{}", p.name);
            assert!(p.id > last, "platforms not ordered by id at {}", p.name);
            last = p.id;
            assert!(ids.insert(p.id), "duplicate id {}", p.id);
            assert!(names.insert(p.name), "duplicate name {}", p.name);
            assert!(!p.name.is_empty());
            assert_eq!(platform(p.id), Some(p));
            assert_eq!(platform_by_name(p.name), Some(p));
        }
    }

    #[test]
    fn required_platforms_exist() {
        for name in [
            "Linux",
            "Unix",
            "macOS",
            "BSD",
            "AIX",
            "Windows",
            "Windows-RDP",
            "Windows-TLS",
            "RemoteAppHost",
            "Gateway",
            "General",
            "Cisco",
            "Huawei",
            "H3C",
            "Juniper",
            "MySQL",
            "MariaDB",
            "PostgreSQL",
            "Oracle",
            "SQLServer",
            "ClickHouse",
            "MongoDB",
            "Redis",
            "DB2",
            "Dameng",
            "Website",
            "Kubernetes",
            "Vmware-vSphere",
            "Windows Active Directory",
            "Custom",
        ] {
            assert!(platform_by_name(name).is_some(), "missing platform {name}");
        }
        let gateway = platform(GATEWAY_PLATFORM_ID).expect("gateway platform");
        assert_eq!((gateway.name, gateway.r#type), ("Gateway", "linux"));
        for cat in CATEGORIES {
            assert!(
                PLATFORMS.iter().any(|p| p.category == *cat),
                "no platform in {cat}"
            );
        }
    }

    #[test]
    fn platforms_satisfy_the_schema_constraints() {
        for p in PLATFORMS {
            assert!(CATEGORIES.contains(&p.category), "{}", p.name);
            assert!(is_valid_type(p.category, p.r#type), "{}", p.name);
            assert!(CHARSETS.contains(&p.charset), "{}", p.name);
            if let Some(m) = p.su_method {
                assert!(SU_METHODS.contains(&m), "{}", p.name);
            }
            assert!(!p.su_enabled || p.su_method.is_some(), "{}", p.name);
            assert!(json(p.custom_fields).is_array(), "{}", p.name);
        }
    }

    #[test]
    fn every_platform_has_exactly_one_primary_protocol() {
        for p in PLATFORMS {
            assert!(!p.protocols.is_empty(), "{} has no protocol", p.name);
            let primaries = p.protocols.iter().filter(|x| x.primary).count();
            assert_eq!(primaries, 1, "{} has {primaries} primary protocols", p.name);
            let primary = p.primary_protocol().expect("primary");
            assert!(primary.required && primary.default && primary.public);
            let mut names = HashSet::new();
            for proto in p.protocols {
                assert!(
                    names.insert(proto.name),
                    "{}: duplicate {}",
                    p.name,
                    proto.name
                );
                assert!(!proto.name.is_empty());
                assert!(proto.port > 0);
                assert!(json(proto.setting).is_object(), "{}/{}", p.name, proto.name);
                assert!(
                    !proto.required || proto.default,
                    "{}/{}",
                    p.name,
                    proto.name
                );
            }
        }
    }

    #[test]
    fn protocol_defaults() {
        let linux = platform_by_name("Linux").expect("linux");
        let ssh = linux.primary_protocol().expect("ssh");
        assert_eq!((ssh.name, ssh.port), ("ssh", 22));
        let sftp = linux
            .protocols
            .iter()
            .find(|p| p.name == "sftp")
            .expect("sftp");
        assert_eq!(sftp.port, 22);
        assert_eq!(json(sftp.setting)["sftp_home"], "/tmp");
        let ports: Vec<_> = PLATFORMS
            .iter()
            .filter_map(|p| p.primary_protocol())
            .map(|p| (p.name, p.port))
            .collect();
        for expected in [
            ("rdp", 3389),
            ("mysql", 3306),
            ("mariadb", 3306),
            ("postgresql", 5432),
            ("oracle", 1521),
            ("sqlserver", 1433),
            ("clickhouse", 9000),
            ("mongodb", 27017),
            ("redis", 6379),
            ("db2", 50000),
            ("dameng", 5236),
            ("http", 80),
            ("k8s", 443),
        ] {
            assert!(ports.contains(&expected), "missing {expected:?}");
        }
        let tls = platform_by_name("Windows-TLS").expect("tls");
        assert_eq!(
            json(tls.primary_protocol().expect("rdp").setting)["security"],
            "tls"
        );
        let telnet = linux
            .protocols
            .iter()
            .find(|p| p.name == "telnet")
            .expect("telnet");
        assert_eq!(
            json(telnet.setting)["success_prompt"],
            "success|成功|#|>|\\$"
        );
    }

    #[test]
    fn automation_methods_are_well_formed() {
        for p in PLATFORMS {
            let a = &p.automation;
            assert!(json(a.ansible_config).is_object(), "{}", p.name);
            let kinds = a.kinds();
            for ((name, m), expected) in kinds.iter().zip(AUTOMATION_KINDS) {
                assert_eq!(*name, expected);
                assert!(json(m.params).is_object(), "{} {name}", p.name);
                assert_eq!(m.enabled, !m.method.is_empty(), "{} {name}", p.name);
                if !m.method.is_empty() {
                    let (plugin, function) = m.method.split_once('/').expect("plugin/function");
                    assert!(plugin.starts_with("portcullis-"), "{}", m.method);
                    assert_eq!(function, name.replace('_', "-"), "{}", m.method);
                }
            }
        }
        let linux = platform_by_name("Linux").expect("linux");
        assert_eq!(linux.automation.ping.method, "portcullis-linux/ping");
        assert!(linux.automation.kinds().iter().all(|(_, m)| m.enabled));
        let aix = platform_by_name("AIX").expect("aix");
        assert_eq!(
            aix.automation.push_account.method,
            "portcullis-aix/push-account"
        );
        assert_eq!(aix.automation.ping.method, "portcullis-linux/ping");
        let website = platform_by_name("Website").expect("website");
        assert_eq!(website.automation, BuiltinAutomation::NONE);
    }

    /// The category/type lists here and in the CHECK constraint of `platforms` agree, in both
    /// migrations.
    #[test]
    fn category_types_match_the_migrations() {
        for schema in [SQLITE_SCHEMA, POSTGRES_SCHEMA] {
            for cat in CATEGORIES {
                let needle = format!("(category = '{cat}' AND type ");
                let line = schema
                    .lines()
                    .find(|l| l.contains(&needle))
                    .unwrap_or_else(|| panic!("no CHECK line for {cat}"));
                let types = category_types(cat).expect("known category");
                if types.is_empty() {
                    assert!(line.contains("type <> ''"), "{line}");
                    continue;
                }
                let list = line
                    .split_once("IN (")
                    .and_then(|(_, rest)| rest.split_once(')'))
                    .map(|(list, _)| list)
                    .expect("IN list");
                let in_sql: Vec<_> = list.split(", ").map(|t| t.trim_matches('\'')).collect();
                assert_eq!(in_sql, types, "{cat}");
            }
            for m in SU_METHODS {
                assert!(schema.contains(&format!("'{m}'")), "{m}");
            }
            for k in AUTOMATION_KINDS {
                assert!(schema.contains(&format!("    {k}_enabled ")), "{k}");
                assert!(schema.contains(&format!("    {k}_method TEXT")), "{k}");
                assert!(schema.contains(&format!("    {k}_params TEXT")), "{k}");
            }
        }
    }

    #[test]
    fn default_root_node() {
        assert_eq!(DEFAULT_ROOT_NODE.org_id, DEFAULT_ORG_ID);
        assert_eq!(DEFAULT_ROOT_NODE.key, "1");
        assert_eq!(DEFAULT_ROOT_NODE.value, "Default");
        assert_eq!(DEFAULT_ROOT_NODE.parent_key, "");
    }
}
