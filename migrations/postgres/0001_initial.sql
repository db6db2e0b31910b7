-- Portcullis initial schema (PostgreSQL).
--
-- Two files carry this schema, migrations/sqlite/0001_initial.sql and
-- migrations/postgres/0001_initial.sql. They are kept aligned line by line and differ only in
-- dialect (`diff` them to see): INTEGER vs BIGINT, the platforms.id identity, COLLATE on
-- materialized paths, and the spelling of the JSON shape checks.
--
-- Conventions (the store reads everything through sqlx's `Any` driver, which decodes only bool,
-- integers, floats, text and bytes):
-- * ids are TEXT holding a lowercase hyphenated UUID; the one exception is platforms.id, an
--   integer as in JumpServer.
-- * instants are BIGINT microseconds since the Unix epoch, UTC, in columns named `date_*` (or
--   JumpServer's own name: last_login, datetime, timestamp). NULL where "none" means something
--   (never expires, never logged in, still running).
-- * booleans are BOOLEAN in PostgreSQL and INTEGER restricted to 0/1 in SQLite, NOT NULL with a
--   TRUE/FALSE default. Not BOOLEAN in SQLite: sqlx 0.9's Any driver refuses any SQLite column
--   declared BOOLEAN ("Any driver does not support the SQLite type Bool"). Through Any a boolean
--   therefore reads as bool from PostgreSQL and as an i64 0/1 from SQLite (decode with a helper
--   that accepts both); binding a Rust bool works for both, as do TRUE/FALSE literals.
-- * JSON documents are TEXT holding JSON (not JSONB), NOT NULL with a '[]' or '{}' default and a
--   CHECK on their shape, so a malformed document is refused at write time.
-- * secrets (secret, passphrase, mfa_secret) are TEXT holding a vault envelope, never
--   plaintext. password_hash columns hold an argon2 PHC string.
-- * enumerations carry CHECK constraints so that even a buggy caller cannot write bad values.
-- * no column name needs quoting in either dialect: JumpServer's `primary` and `default`
--   (platform protocols) are is_primary / is_default, and the display string JumpServer calls
--   `user` (sessions, commands, logs) is user_display, because an unquoted `user` is
--   CURRENT_USER in PostgreSQL.
-- * audit rows (sessions, commands, logs) keep ids and display strings of users, assets and
--   accounts without foreign keys: they must outlive what they describe.
-- * foreign keys: ON DELETE CASCADE for pure relation rows, RESTRICT or SET NULL where deleting
--   the target must not silently delete data. SQLite enforces them because the store enables
--   PRAGMA foreign_keys=ON on every connection.

-- ---------------------------------------------------------------------------------------------
-- Organisations and settings
-- ---------------------------------------------------------------------------------------------

-- Tenants. Built-in rows (seeded from portcullis_core::builtin): GLOBAL (root, ...0000),
-- Default (...0002), SYSTEM (...0004). JumpServer's `internal` flag is derived from the id
-- (root or system); `builtin` marks the rows the seeder owns.
CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name <> ''),
    builtin BOOLEAN NOT NULL DEFAULT FALSE,
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);

-- System settings, one row per upper-case setting name (SITE_URL, SECURITY_MAX_IDLE_TIME, ...).
-- `value` is any JSON value; when `encrypted` is true it is a JSON string holding a vault
-- envelope (SMTP password, LDAP bind password, ...).
CREATE TABLE settings (
    name TEXT PRIMARY KEY CHECK (name <> ''),
    value TEXT NOT NULL DEFAULT 'null' CHECK ((value::json) IS NOT NULL),
    category TEXT NOT NULL DEFAULT 'default',
    encrypted BOOLEAN NOT NULL DEFAULT FALSE,
    updated_by TEXT NOT NULL DEFAULT '',
    date_updated BIGINT NOT NULL
);
CREATE INDEX settings_category ON settings (category);

-- ---------------------------------------------------------------------------------------------
-- Users and their credentials
-- ---------------------------------------------------------------------------------------------

-- Users are global; membership of an org is an org role binding. Derived flags are not stored:
-- is_superuser / is_org_admin come from role bindings, is_valid / is_expired from is_active and
-- date_expired, login_blocked from locked_until, is_otp_secret_key_bound from mfa_secret.
-- password_strategy and public_key are input only (keys live in user_ssh_keys).
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL CHECK (name <> ''),
    username TEXT NOT NULL UNIQUE CHECK (username <> ''),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    mfa_level BIGINT NOT NULL DEFAULT 0 CHECK (mfa_level IN (0, 1, 2)),
    mfa_secret TEXT,
    phone TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(phone::json) = 'object'),
    wechat TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'ldap', 'ldap_ha', 'openid', 'radius', 'cas', 'saml2', 'oauth2', 'wecom', 'dingtalk', 'feishu', 'lark', 'slack', 'custom', 'ukey')),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_service_account BOOLEAN NOT NULL DEFAULT FALSE,
    is_first_login BOOLEAN NOT NULL DEFAULT TRUE,
    need_update_password BOOLEAN NOT NULL DEFAULT FALSE,
    date_expired BIGINT,
    date_joined BIGINT NOT NULL,
    last_login BIGINT,
    date_password_last_updated BIGINT,
    date_api_key_last_used BIGINT,
    failed_login_count BIGINT NOT NULL DEFAULT 0 CHECK (failed_login_count >= 0),
    locked_until BIGINT,
    avatar_url TEXT NOT NULL DEFAULT '',
    lang TEXT NOT NULL DEFAULT '',
    ukey_sn TEXT UNIQUE,
    wecom_id TEXT UNIQUE,
    dingtalk_id TEXT UNIQUE,
    feishu_id TEXT UNIQUE,
    lark_id TEXT UNIQUE,
    slack_id TEXT UNIQUE,
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);

-- SSH public keys a user logs in with (/authentication/ssh-key/). fingerprint is the OpenSSH
-- "SHA256:..." form of the key.
CREATE TABLE user_ssh_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    public_key TEXT NOT NULL CHECK (public_key <> ''),
    fingerprint TEXT NOT NULL CHECK (fingerprint <> ''),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    date_last_used BIGINT,
    UNIQUE (user_id, fingerprint)
);
CREATE INDEX user_ssh_keys_fingerprint ON user_ssh_keys (fingerprint);

-- Previous password hashes, for the password-history policy.
CREATE TABLE user_password_history (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    date_created BIGINT NOT NULL
);
CREATE INDEX user_password_history_user ON user_password_history (user_id, date_created);

-- Access keys (HTTP Signatures). The id is the KeyID; the HMAC secret must be recoverable, so it
-- is a vault envelope, not a hash.
CREATE TABLE access_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    ip_group TEXT NOT NULL DEFAULT '["*"]' CHECK (json_typeof(ip_group::json) = 'array'),
    date_created BIGINT NOT NULL,
    date_last_used BIGINT
);
CREATE INDEX access_keys_user ON access_keys (user_id);

-- Private tokens (`Authorization: Token ...`) and bearer tokens; only a hash of the token is
-- kept. date_expired NULL = does not expire.
CREATE TABLE private_tokens (
    key_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'private' CHECK (kind IN ('private', 'bearer')),
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    remote_addr TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_expired BIGINT,
    date_last_used BIGINT
);
CREATE INDEX private_tokens_user ON private_tokens (user_id, kind);

-- Failed logins per client address, for the per-IP lockout (SECURITY_LOGIN_IP_LIMIT_*).
CREATE TABLE login_ip_failures (
    ip TEXT PRIMARY KEY,
    failed_count BIGINT NOT NULL DEFAULT 0 CHECK (failed_count >= 0),
    date_first_failed BIGINT NOT NULL,
    blocked_until BIGINT
);

-- Web sessions (session cookie; /audits/user-sessions/). key_hash is a hash of the cookie value.
-- `data` holds per-session state such as the selected org and step-up confirmations.
CREATE TABLE user_sessions (
    id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ip TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL DEFAULT 'W' CHECK (type IN ('W', 'T', 'U')),
    backend TEXT NOT NULL DEFAULT '',
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    data TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(data::json) = 'object'),
    date_created BIGINT NOT NULL,
    date_expired BIGINT NOT NULL,
    date_last_seen BIGINT
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
CREATE INDEX user_sessions_expired ON user_sessions (date_expired);

-- ---------------------------------------------------------------------------------------------
-- User groups, roles and role bindings
-- ---------------------------------------------------------------------------------------------

CREATE TABLE user_groups (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL CHECK (name <> ''),
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE user_group_members (
    user_group_id TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (user_group_id, user_id)
);
CREATE INDEX user_group_members_user ON user_group_members (user_id);

-- `permissions` is a JSON list of permission codename patterns (see builtin.rs).
-- UNIQUE (id, scope) exists only as the target of role_bindings' (role_id, scope) foreign key,
-- which keeps a binding's scope equal to its role's scope.
CREATE TABLE roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL CHECK (name <> ''),
    display_name TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL CHECK (scope IN ('system', 'org')),
    builtin BOOLEAN NOT NULL DEFAULT FALSE,
    permissions TEXT NOT NULL DEFAULT '[]' CHECK (json_typeof(permissions::json) = 'array'),
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (scope, name),
    UNIQUE (id, scope)
);

-- System bindings have org_id NULL; org bindings name their org (membership of an org = having
-- an org role in it).
CREATE TABLE role_bindings (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('system', 'org')),
    org_id TEXT REFERENCES orgs (id) ON DELETE CASCADE,
    created_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    FOREIGN KEY (role_id, scope) REFERENCES roles (id, scope) ON DELETE CASCADE,
    CHECK ((scope = 'system' AND org_id IS NULL) OR (scope = 'org' AND org_id IS NOT NULL))
);
CREATE UNIQUE INDEX role_bindings_unique ON role_bindings (user_id, role_id, COALESCE(org_id, ''));
CREATE INDEX role_bindings_role ON role_bindings (role_id, scope);
CREATE INDEX role_bindings_org ON role_bindings (org_id);

-- ---------------------------------------------------------------------------------------------
-- Platforms
-- ---------------------------------------------------------------------------------------------

-- Integer ids as in JumpServer. Built-ins are seeded with explicit ids below 1000; ids the
-- database generates start at 1000 in both dialects (PostgreSQL: START WITH 1000; SQLite: the
-- sqlite_sequence row inserted right after this table).
-- category/type pairs follow reference §4.5; custom platforms pick their own type.
-- gateway_enabled is JumpServer's "domain support" (assets may sit in a zone behind gateways).
-- UNIQUE (id, category, type) is the target of assets' foreign key that keeps the asset's
-- denormalised category/type equal to its platform's.
CREATE TABLE platforms (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY (START WITH 1000) PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name <> ''),
    category TEXT NOT NULL CHECK (category IN ('host', 'device', 'database', 'cloud', 'web', 'ds', 'custom')),
    type TEXT NOT NULL,
    internal BOOLEAN NOT NULL DEFAULT FALSE,
    charset TEXT NOT NULL DEFAULT 'utf-8' CHECK (charset IN ('utf-8', 'gbk')),
    gateway_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    su_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    su_method TEXT CHECK (su_method IN ('sudo', 'su', 'only_sudo', 'only_su', 'enable', 'super', 'super_level')),
    ds_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    custom_fields TEXT NOT NULL DEFAULT '[]' CHECK (json_typeof(custom_fields::json) = 'array'),
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (id, category, type),
    CHECK (
        (category = 'host' AND type IN ('linux', 'windows', 'unix', 'macos', 'other'))
        OR (category = 'device' AND type IN ('general', 'cisco', 'huawei', 'h3c', 'juniper', 'tp_link', 'switch', 'router', 'firewall'))
        OR (category = 'database' AND type IN ('mysql', 'mariadb', 'postgresql', 'oracle', 'sqlserver', 'db2', 'dameng', 'clickhouse', 'mongodb', 'redis'))
        OR (category = 'cloud' AND type IN ('public', 'private', 'k8s'))
        OR (category = 'web' AND type IN ('website'))
        OR (category = 'ds' AND type IN ('general', 'windows_ad'))
        OR (category = 'custom' AND type <> '')
    )
);
-- (generated ids start at 1000: see the identity on platforms.id)

-- Protocols a platform offers, with default ports. JumpServer's `primary` / `default` are
-- is_primary / is_default here. `setting` holds the protocol settings (sftp_home, security, ...).
CREATE TABLE platform_protocols (
    id TEXT PRIMARY KEY,
    platform_id BIGINT NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (name <> ''),
    port BIGINT NOT NULL CHECK (port BETWEEN 0 AND 65535),
    is_primary BOOLEAN NOT NULL DEFAULT FALSE,
    required BOOLEAN NOT NULL DEFAULT FALSE,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    public BOOLEAN NOT NULL DEFAULT TRUE,
    setting TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(setting::json) = 'object'),
    UNIQUE (platform_id, name)
);
CREATE UNIQUE INDEX platform_protocols_one_primary ON platform_protocols (platform_id) WHERE is_primary;

-- Automation settings, one row per platform. For each kind, `<kind>_method` is the automation
-- method id (`<plugin>/<function>`, e.g. portcullis-linux/ping; '' = none) and `<kind>_params`
-- its parameters.
CREATE TABLE platform_automations (
    platform_id BIGINT PRIMARY KEY REFERENCES platforms (id) ON DELETE CASCADE,
    ansible_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    ansible_config TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(ansible_config::json) = 'object'),
    ping_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    ping_method TEXT NOT NULL DEFAULT '',
    ping_params TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(ping_params::json) = 'object'),
    gather_facts_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    gather_facts_method TEXT NOT NULL DEFAULT '',
    gather_facts_params TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(gather_facts_params::json) = 'object'),
    change_secret_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    change_secret_method TEXT NOT NULL DEFAULT '',
    change_secret_params TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(change_secret_params::json) = 'object'),
    push_account_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    push_account_method TEXT NOT NULL DEFAULT '',
    push_account_params TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(push_account_params::json) = 'object'),
    verify_account_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    verify_account_method TEXT NOT NULL DEFAULT '',
    verify_account_params TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(verify_account_params::json) = 'object'),
    gather_accounts_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    gather_accounts_method TEXT NOT NULL DEFAULT '',
    gather_accounts_params TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(gather_accounts_params::json) = 'object'),
    remove_account_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    remove_account_method TEXT NOT NULL DEFAULT '',
    remove_account_params TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(remove_account_params::json) = 'object')
);

-- ---------------------------------------------------------------------------------------------
-- Zones, assets, nodes, labels
-- ---------------------------------------------------------------------------------------------

-- Zones (formerly domains). Gateways are assets with is_gateway = TRUE in the zone.
CREATE TABLE zones (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL CHECK (name <> ''),
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

-- category/type are denormalised from the platform for filtering; the composite foreign key keeps
-- them equal to the platform's (and follows a change there). `spec` holds the category-specific
-- fields (databases: db_name, use_ssl, ca_cert, client_cert, client_key, allow_invalid_cert,
-- pg_ssl_mode; webs: autofill, username_selector, password_selector, submit_selector, script;
-- directories: domain_name; gpts: proxy). custom_info holds a custom platform's custom_fields.
-- UNIQUE (id, org_id) is the target of accounts' foreign key (an account's org is its asset's).
CREATE TABLE assets (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL CHECK (name <> ''),
    address TEXT NOT NULL CHECK (address <> ''),
    platform_id BIGINT NOT NULL,
    category TEXT NOT NULL,
    type TEXT NOT NULL,
    zone_id TEXT REFERENCES zones (id) ON DELETE SET NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_gateway BOOLEAN NOT NULL DEFAULT FALSE,
    connectivity TEXT NOT NULL DEFAULT '-' CHECK (connectivity IN ('-', 'na', 'ok', 'err', 'rdp_err', 'auth_err', 'password_err', 'openssh_key_err', 'ntlm_err', 'create_temp_err')),
    date_verified BIGINT,
    date_last_login BIGINT,
    spec TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(spec::json) = 'object'),
    gathered_info TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(gathered_info::json) = 'object'),
    custom_info TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(custom_info::json) = 'object'),
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (org_id, name),
    UNIQUE (id, org_id),
    FOREIGN KEY (platform_id, category, type) REFERENCES platforms (id, category, type) ON UPDATE CASCADE ON DELETE RESTRICT
);
CREATE INDEX assets_address ON assets (org_id, address);
CREATE INDEX assets_platform ON assets (platform_id, category, type);
CREATE INDEX assets_type ON assets (org_id, category, type);
CREATE INDEX assets_zone ON assets (zone_id, is_gateway);

CREATE TABLE asset_protocols (
    asset_id TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (name <> ''),
    port BIGINT NOT NULL CHECK (port BETWEEN 0 AND 65535),
    PRIMARY KEY (asset_id, name)
);

-- The asset tree. `key` is the materialized path ("1", "1:3", "1:3:2"); org roots have a key of
-- digits only and parent_key ''. Descendants of K are `key >= 'K:' AND key < 'K;'`, which needs
-- byte order: COLLATE "C" in PostgreSQL, BINARY (the default) in SQLite. child_mark is the number
-- given to the next child, as in JumpServer. full_value ("/Default/dev/web") is derived from the
-- ancestors' values and not stored, so a rename touches one row.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    key TEXT COLLATE "C" NOT NULL CHECK (key <> '' AND key NOT LIKE '%:' AND key NOT LIKE ':%' AND key NOT LIKE '%::%'),
    value TEXT NOT NULL CHECK (value <> '' AND value NOT LIKE '%/%'),
    parent_key TEXT COLLATE "C" NOT NULL DEFAULT '',
    child_mark BIGINT NOT NULL DEFAULT 0 CHECK (child_mark >= 0),
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (org_id, key),
    UNIQUE (org_id, parent_key, value),
    CHECK (
        (parent_key = '' AND key NOT LIKE '%:%')
        OR (parent_key <> '' AND substr(key, 1, length(parent_key) + 1) = parent_key || ':' AND substr(key, length(parent_key) + 2) NOT LIKE '%:%')
    )
);

CREATE TABLE asset_nodes (
    asset_id TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    node_id TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    PRIMARY KEY (asset_id, node_id)
);
CREATE INDEX asset_nodes_node ON asset_nodes (node_id, asset_id);

CREATE TABLE labels (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL CHECK (name <> '' AND name NOT LIKE '%:%' AND name NOT LIKE '%,%'),
    value TEXT NOT NULL,
    color TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (org_id, name, value)
);

-- A label on any resource; (res_type, res_id) is polymorphic (res_type as in JumpServer, e.g.
-- 'assets.asset', 'users.user', 'accounts.account'), so the store removes these rows when it
-- deletes the resource.
CREATE TABLE labeled_resources (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    label_id TEXT NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    res_type TEXT NOT NULL CHECK (res_type <> ''),
    res_id TEXT NOT NULL CHECK (res_id <> ''),
    created_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    UNIQUE (label_id, res_type, res_id)
);
CREATE INDEX labeled_resources_res ON labeled_resources (res_type, res_id);

-- ---------------------------------------------------------------------------------------------
-- Accounts
-- ---------------------------------------------------------------------------------------------

-- `platforms` is a JSON list of platform ids; password_rules is
-- {length, lowercase, uppercase, digit, symbol, exclude_symbols}.
CREATE TABLE account_templates (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL CHECK (name <> ''),
    username TEXT,
    secret_type TEXT NOT NULL DEFAULT 'password' CHECK (secret_type IN ('password', 'ssh_key', 'access_key', 'token', 'api_key')),
    secret TEXT,
    passphrase TEXT,
    privileged BOOLEAN NOT NULL DEFAULT FALSE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    secret_strategy TEXT NOT NULL DEFAULT 'specific' CHECK (secret_strategy IN ('specific', 'random')),
    password_rules TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(password_rules::json) = 'object'),
    auto_push BOOLEAN NOT NULL DEFAULT FALSE,
    push_params TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(push_params::json) = 'object'),
    platforms TEXT NOT NULL DEFAULT '[]' CHECK (json_typeof(platforms::json) = 'array'),
    su_from_id TEXT REFERENCES account_templates (id) ON DELETE SET NULL,
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX account_templates_su_from ON account_templates (su_from_id);

-- An account on an asset. username NULL = no-username authentication. The (asset_id, org_id)
-- foreign key keeps an account in its asset's org and deletes it with the asset.
-- UNIQUE (asset_id, username, secret_type) treats NULL usernames as distinct in both dialects.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    asset_id TEXT NOT NULL,
    name TEXT NOT NULL CHECK (name <> ''),
    username TEXT,
    secret_type TEXT NOT NULL DEFAULT 'password' CHECK (secret_type IN ('password', 'ssh_key', 'access_key', 'token', 'api_key')),
    secret TEXT,
    passphrase TEXT,
    privileged BOOLEAN NOT NULL DEFAULT FALSE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    source TEXT NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'collected', 'template')),
    source_id TEXT,
    template_id TEXT REFERENCES account_templates (id) ON DELETE SET NULL,
    su_from_id TEXT REFERENCES accounts (id) ON DELETE SET NULL,
    version BIGINT NOT NULL DEFAULT 0 CHECK (version >= 0),
    secret_reset BOOLEAN NOT NULL DEFAULT TRUE,
    connectivity TEXT NOT NULL DEFAULT '-' CHECK (connectivity IN ('-', 'na', 'ok', 'err', 'rdp_err', 'auth_err', 'password_err', 'openssh_key_err', 'ntlm_err', 'create_temp_err')),
    change_secret_status TEXT NOT NULL DEFAULT '',
    date_last_login BIGINT,
    login_by TEXT NOT NULL DEFAULT '',
    date_verified BIGINT,
    date_change_secret BIGINT,
    params TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(params::json) = 'object'),
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    FOREIGN KEY (asset_id, org_id) REFERENCES assets (id, org_id) ON DELETE CASCADE,
    UNIQUE (asset_id, name),
    UNIQUE (asset_id, username, secret_type)
);
CREATE INDEX accounts_org_username ON accounts (org_id, username);
CREATE INDEX accounts_template ON accounts (template_id);
CREATE INDEX accounts_su_from ON accounts (su_from_id);

-- Previous secrets of an account (viewable with MFA).
CREATE TABLE account_secret_histories (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    secret_type TEXT NOT NULL CHECK (secret_type IN ('password', 'ssh_key', 'access_key', 'token', 'api_key')),
    secret TEXT,
    version BIGINT NOT NULL,
    history_user TEXT NOT NULL DEFAULT '',
    history_date BIGINT NOT NULL
);
CREATE INDEX account_secret_histories_account ON account_secret_histories (account_id, version);

-- ---------------------------------------------------------------------------------------------
-- Asset permissions and the permission cache
-- ---------------------------------------------------------------------------------------------

-- `accounts` is the JSON list of account selectors (@ALL, @SPEC, usernames, %template, !name,
-- @INPUT, @USER, @ANON); `protocols` ["all"] or names; `actions` a bitmask: connect=1 upload=2
-- download=4 copy=8 paste=16 delete=32 share=64 (127 = all).
CREATE TABLE asset_permissions (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL CHECK (name <> ''),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    date_start BIGINT NOT NULL,
    date_expired BIGINT NOT NULL,
    accounts TEXT NOT NULL DEFAULT '[]' CHECK (json_typeof(accounts::json) = 'array'),
    protocols TEXT NOT NULL DEFAULT '["all"]' CHECK (json_typeof(protocols::json) = 'array'),
    actions BIGINT NOT NULL DEFAULT 127 CHECK (actions BETWEEN 0 AND 127),
    from_ticket BOOLEAN NOT NULL DEFAULT FALSE,
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE perm_users (
    permission_id TEXT NOT NULL REFERENCES asset_permissions (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (permission_id, user_id)
);
CREATE INDEX perm_users_user ON perm_users (user_id);

CREATE TABLE perm_user_groups (
    permission_id TEXT NOT NULL REFERENCES asset_permissions (id) ON DELETE CASCADE,
    user_group_id TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (permission_id, user_group_id)
);
CREATE INDEX perm_user_groups_group ON perm_user_groups (user_group_id);

CREATE TABLE perm_assets (
    permission_id TEXT NOT NULL REFERENCES asset_permissions (id) ON DELETE CASCADE,
    asset_id TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    PRIMARY KEY (permission_id, asset_id)
);
CREATE INDEX perm_assets_asset ON perm_assets (asset_id);

CREATE TABLE perm_nodes (
    permission_id TEXT NOT NULL REFERENCES asset_permissions (id) ON DELETE CASCADE,
    node_id TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    PRIMARY KEY (permission_id, node_id)
);
CREATE INDEX perm_nodes_node ON perm_nodes (node_id);

-- One-row counter. Every write that can change anyone's permissions bumps it; a user's cached
-- result (user_perm_*) is valid while user_perm_state.generation equals it.
CREATE TABLE perm_generation (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO perm_generation (id, value) VALUES (1, 0);

-- Materialized result of the permission engine per user, across orgs (list views filter by
-- org_id). Rebuilt when perm_generation moved or valid_until (the next instant a permission
-- starts or ends, or the user expires) passed. asset_name is copied for ordered paging and is
-- kept fresh by the generation trigger on assets.name.
CREATE TABLE user_perm_state (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    generation BIGINT NOT NULL,
    date_built BIGINT NOT NULL,
    valid_until BIGINT
);

CREATE TABLE user_perm_assets (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    asset_id TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    asset_name TEXT COLLATE "C" NOT NULL,
    direct BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, asset_id)
);
CREATE INDEX user_perm_assets_by_name ON user_perm_assets (user_id, asset_name, asset_id);
CREATE INDEX user_perm_assets_by_org ON user_perm_assets (user_id, org_id, asset_name, asset_id);
CREATE INDEX user_perm_assets_asset ON user_perm_assets (asset_id);

CREATE TABLE user_perm_nodes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    node_id TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    node_key TEXT COLLATE "C" NOT NULL,
    node_sort TEXT COLLATE "C" NOT NULL,
    node_value TEXT NOT NULL,
    assets_amount BIGINT NOT NULL DEFAULT 0 CHECK (assets_amount >= 0),
    PRIMARY KEY (user_id, node_id)
);
CREATE INDEX user_perm_nodes_sorted ON user_perm_nodes (user_id, node_sort);
CREATE INDEX user_perm_nodes_org ON user_perm_nodes (user_id, org_id, node_sort);
CREATE INDEX user_perm_nodes_node ON user_perm_nodes (node_id);

-- ---------------------------------------------------------------------------------------------
-- ACLs
-- ---------------------------------------------------------------------------------------------
-- `users` / `assets` are JSON selectors: {"type":"all"}, {"type":"ids","ids":[...]} or
-- {"type":"attrs","attrs":[{"name","match","value"}]}; '{}' matches nothing. `accounts` is a
-- JSON list of usernames or "@ALL". `rules` is {ip_group:[...], time_period:[{id,value}]}.
-- priority 1-100, lower first.

-- `content` holds one command or regex per line.
CREATE TABLE command_groups (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL CHECK (name <> ''),
    type TEXT NOT NULL DEFAULT 'command' CHECK (type IN ('command', 'regex')),
    content TEXT NOT NULL DEFAULT '',
    ignore_case BOOLEAN NOT NULL DEFAULT TRUE,
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE command_filter_acls (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL CHECK (name <> ''),
    priority BIGINT NOT NULL DEFAULT 50 CHECK (priority BETWEEN 1 AND 100),
    action TEXT NOT NULL CHECK (action IN ('reject', 'accept', 'review', 'warning', 'notify_and_warn')),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    users TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(users::json) = 'object'),
    assets TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(assets::json) = 'object'),
    accounts TEXT NOT NULL DEFAULT '[]' CHECK (json_typeof(accounts::json) = 'array'),
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX command_filter_acls_priority ON command_filter_acls (org_id, priority);

CREATE TABLE command_filter_acl_groups (
    acl_id TEXT NOT NULL REFERENCES command_filter_acls (id) ON DELETE CASCADE,
    command_group_id TEXT NOT NULL REFERENCES command_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (acl_id, command_group_id)
);
CREATE INDEX command_filter_acl_groups_group ON command_filter_acl_groups (command_group_id);

-- User login ACLs (/acls/login-acls/): system-wide, no org.
CREATE TABLE login_acls (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name <> ''),
    priority BIGINT NOT NULL DEFAULT 50 CHECK (priority BETWEEN 1 AND 100),
    action TEXT NOT NULL CHECK (action IN ('reject', 'accept', 'review', 'notice')),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    users TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(users::json) = 'object'),
    rules TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(rules::json) = 'object'),
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX login_acls_priority ON login_acls (priority);

-- Asset-connect ACLs (JumpServer's login-asset-acls).
CREATE TABLE connect_acls (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL CHECK (name <> ''),
    priority BIGINT NOT NULL DEFAULT 50 CHECK (priority BETWEEN 1 AND 100),
    action TEXT NOT NULL CHECK (action IN ('reject', 'accept', 'review', 'notice', 'face_verify', 'face_online')),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    users TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(users::json) = 'object'),
    assets TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(assets::json) = 'object'),
    accounts TEXT NOT NULL DEFAULT '[]' CHECK (json_typeof(accounts::json) = 'array'),
    rules TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(rules::json) = 'object'),
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX connect_acls_priority ON connect_acls (org_id, priority);

-- Connect-method ACLs: system-wide, no org. connect_methods is a JSON list of method values.
CREATE TABLE connect_method_acls (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name <> ''),
    priority BIGINT NOT NULL DEFAULT 50 CHECK (priority BETWEEN 1 AND 100),
    action TEXT NOT NULL CHECK (action IN ('reject', 'accept')),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    users TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(users::json) = 'object'),
    connect_methods TEXT NOT NULL DEFAULT '[]' CHECK (json_typeof(connect_methods::json) = 'array'),
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX connect_method_acls_priority ON connect_method_acls (priority);

-- Reviewers of an ACL whose action is review. acl_id points into the table acl_type names
-- (polymorphic, so no foreign key on it: the store deletes these rows with the ACL).
CREATE TABLE acl_reviewers (
    acl_type TEXT NOT NULL CHECK (acl_type IN ('command_filter', 'login', 'connect', 'connect_method')),
    acl_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (acl_type, acl_id, user_id)
);
CREATE INDEX acl_reviewers_user ON acl_reviewers (user_id);

-- ---------------------------------------------------------------------------------------------
-- Audit: sessions, commands, file transfers, logs
-- ---------------------------------------------------------------------------------------------

-- user_display / asset / account are display strings ("Admin(admin)"); the *_id columns are
-- plain ids without foreign keys so the record outlives the user, asset or account.
-- date_end NULL while the session runs. terminal is the component id ('' for the built-in one).
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    user_display TEXT NOT NULL DEFAULT '',
    user_id TEXT NOT NULL,
    asset TEXT NOT NULL DEFAULT '',
    asset_id TEXT NOT NULL,
    account TEXT NOT NULL DEFAULT '',
    account_id TEXT,
    protocol TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT 'normal' CHECK (type IN ('normal', 'tunnel', 'command', 'sftp')),
    login_from TEXT NOT NULL DEFAULT 'ST' CHECK (login_from IN ('ST', 'RT', 'WT', 'DT', 'VT')),
    remote_addr TEXT NOT NULL DEFAULT '',
    is_success BOOLEAN NOT NULL DEFAULT TRUE,
    is_finished BOOLEAN NOT NULL DEFAULT FALSE,
    has_replay BOOLEAN NOT NULL DEFAULT FALSE,
    has_command BOOLEAN NOT NULL DEFAULT FALSE,
    is_locked BOOLEAN NOT NULL DEFAULT FALSE,
    date_start BIGINT NOT NULL,
    date_end BIGINT,
    error_reason TEXT NOT NULL DEFAULT '' CHECK (error_reason IN ('', 'connect_failed', 'replay_create_failed', 'replay_upload_failed', 'replay_convert_failed', 'replay_unsupported')),
    end_reason TEXT NOT NULL DEFAULT '',
    replay_path TEXT NOT NULL DEFAULT '',
    replay_size BIGINT NOT NULL DEFAULT 0 CHECK (replay_size >= 0),
    command_amount BIGINT NOT NULL DEFAULT 0,
    terminal TEXT NOT NULL DEFAULT '',
    token_id TEXT,
    comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_org_start ON sessions (org_id, date_start);
CREATE INDEX sessions_user ON sessions (user_id, date_start);
CREATE INDEX sessions_asset ON sessions (asset_id, date_start);
CREATE INDEX sessions_finished ON sessions (is_finished, date_start);

-- event: asset_connect_success, asset_connect_finished, user_join_session, ... (free text).
CREATE TABLE session_lifecycle_logs (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    event TEXT NOT NULL CHECK (event <> ''),
    reason TEXT NOT NULL DEFAULT '',
    user_display TEXT NOT NULL DEFAULT '',
    datetime BIGINT NOT NULL
);
CREATE INDEX session_lifecycle_logs_session ON session_lifecycle_logs (session_id, datetime);

-- `timestamp` is microseconds since the epoch like every other instant here (JumpServer uses
-- epoch seconds; the API converts). risk_level: 0 accept, 4 warning, 5 reject, 6 review_reject,
-- 7 review_accept, 8 review_cancel. cmd_filter_acl_id / cmd_group_id: the rule that matched.
CREATE TABLE commands (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_display TEXT NOT NULL DEFAULT '',
    asset TEXT NOT NULL DEFAULT '',
    account TEXT NOT NULL DEFAULT '',
    input TEXT NOT NULL,
    output TEXT NOT NULL DEFAULT '',
    risk_level BIGINT NOT NULL DEFAULT 0 CHECK (risk_level IN (0, 4, 5, 6, 7, 8)),
    timestamp BIGINT NOT NULL,
    remote_addr TEXT NOT NULL DEFAULT '',
    cmd_filter_acl_id TEXT,
    cmd_group_id TEXT
);
CREATE INDEX commands_session ON commands (session_id, timestamp);
CREATE INDEX commands_org ON commands (org_id, timestamp);

-- File transfers. session_id is kept (SET NULL) when the session row is purged first.
CREATE TABLE ftp_logs (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    user_display TEXT NOT NULL DEFAULT '',
    remote_addr TEXT NOT NULL DEFAULT '',
    asset TEXT NOT NULL DEFAULT '',
    account TEXT NOT NULL DEFAULT '',
    operate TEXT NOT NULL CHECK (operate IN ('mkdir', 'rmdir', 'delete', 'upload', 'rename', 'symlink', 'download', 'rename_dir')),
    filename TEXT NOT NULL DEFAULT '',
    size BIGINT CHECK (size >= 0),
    sha256 TEXT NOT NULL DEFAULT '',
    is_success BOOLEAN NOT NULL DEFAULT TRUE,
    has_file BOOLEAN NOT NULL DEFAULT FALSE,
    session_id TEXT REFERENCES sessions (id) ON DELETE SET NULL,
    date_start BIGINT NOT NULL
);
CREATE INDEX ftp_logs_org_start ON ftp_logs (org_id, date_start);
CREATE INDEX ftp_logs_session ON ftp_logs (session_id);

-- Logins to Portcullis itself (global, no org). type W web, T terminal, U unknown; mfa 0/1/2.
CREATE TABLE login_logs (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL DEFAULT 'W' CHECK (type IN ('W', 'T', 'U')),
    ip TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    mfa BIGINT NOT NULL DEFAULT 0 CHECK (mfa IN (0, 1, 2)),
    reason TEXT NOT NULL DEFAULT '',
    backend TEXT NOT NULL DEFAULT '',
    status BOOLEAN NOT NULL,
    datetime BIGINT NOT NULL
);
CREATE INDEX login_logs_datetime ON login_logs (datetime);
CREATE INDEX login_logs_username ON login_logs (username, datetime);

-- `diff` is a JSON object {field: [before, after]}.
CREATE TABLE operate_logs (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    user_display TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL CHECK (action IN ('view', 'update', 'delete', 'create', 'export', 'download', 'connect', 'login', 'change_password', 'accept', 'review', 'notice', 'reject', 'approve', 'close', 'finished')),
    resource_type TEXT NOT NULL DEFAULT '',
    resource TEXT NOT NULL DEFAULT '',
    resource_id TEXT NOT NULL DEFAULT '',
    remote_addr TEXT NOT NULL DEFAULT '',
    datetime BIGINT NOT NULL,
    diff TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(diff::json) = 'object')
);
CREATE INDEX operate_logs_datetime ON operate_logs (datetime);
CREATE INDEX operate_logs_org ON operate_logs (org_id, datetime);
CREATE INDEX operate_logs_resource ON operate_logs (resource_id);

CREATE TABLE password_change_logs (
    id TEXT PRIMARY KEY,
    user_display TEXT NOT NULL DEFAULT '',
    change_by TEXT NOT NULL DEFAULT '',
    remote_addr TEXT NOT NULL DEFAULT '',
    datetime BIGINT NOT NULL
);
CREATE INDEX password_change_logs_datetime ON password_change_logs (datetime);

-- ---------------------------------------------------------------------------------------------
-- Permission generation: every write to what the permission engine reads bumps the counter,
-- so no writer can forget to invalidate the materialized user_perm_* rows.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION bump_perm_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE perm_generation SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER perm_gen_asset_permissions AFTER INSERT OR UPDATE OR DELETE ON asset_permissions FOR EACH STATEMENT EXECUTE FUNCTION bump_perm_generation();
CREATE TRIGGER perm_gen_perm_users AFTER INSERT OR UPDATE OR DELETE ON perm_users FOR EACH STATEMENT EXECUTE FUNCTION bump_perm_generation();
CREATE TRIGGER perm_gen_perm_user_groups AFTER INSERT OR UPDATE OR DELETE ON perm_user_groups FOR EACH STATEMENT EXECUTE FUNCTION bump_perm_generation();
CREATE TRIGGER perm_gen_perm_assets AFTER INSERT OR UPDATE OR DELETE ON perm_assets FOR EACH STATEMENT EXECUTE FUNCTION bump_perm_generation();
CREATE TRIGGER perm_gen_perm_nodes AFTER INSERT OR UPDATE OR DELETE ON perm_nodes FOR EACH STATEMENT EXECUTE FUNCTION bump_perm_generation();
CREATE TRIGGER perm_gen_user_group_members AFTER INSERT OR UPDATE OR DELETE ON user_group_members FOR EACH STATEMENT EXECUTE FUNCTION bump_perm_generation();
CREATE TRIGGER perm_gen_asset_nodes AFTER INSERT OR UPDATE OR DELETE ON asset_nodes FOR EACH STATEMENT EXECUTE FUNCTION bump_perm_generation();
CREATE TRIGGER perm_gen_nodes AFTER INSERT OR UPDATE OF org_id, key, value OR DELETE ON nodes FOR EACH STATEMENT EXECUTE FUNCTION bump_perm_generation();
CREATE TRIGGER perm_gen_assets AFTER INSERT OR UPDATE OF org_id, name, is_active OR DELETE ON assets FOR EACH STATEMENT EXECUTE FUNCTION bump_perm_generation();
CREATE TRIGGER perm_gen_users AFTER UPDATE OF username, is_active, date_expired OR DELETE ON users FOR EACH STATEMENT EXECUTE FUNCTION bump_perm_generation();
