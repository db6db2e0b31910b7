-- The plugin platform: installed plugin versions, their secret bindings, trusted publisher keys.
-- Kept aligned line by line with migrations/postgres/0003_plugins.sql.

-- One row per installed version of a plugin (versions are immutable; an upgrade installs the
-- new version beside the old one and enables it). Plugins are system-wide: no org column.
-- `manifest` is the plugin.toml text exactly as installed (what its signature covers);
-- `component_path` and `artifact_path` are relative to <data>/plugins/, the artifact being the
-- component precompiled for the engine whose compatibility key is `compat_key`.
-- `status`: installed (never enabled), enabled, disabled. `is_active` marks the version
-- selected for its plugin id (at most one; only the active version can be enabled).
-- `grants`, `config`, `limits` are what the administrator set (JSON objects); `imports` is
-- the install-time report of the component's imports; `load_error` is why the last start could
-- not load an enabled plugin (empty when it loaded).
CREATE TABLE plugins (
    id TEXT PRIMARY KEY,
    plugin_id TEXT NOT NULL CHECK (plugin_id <> ''),
    version TEXT NOT NULL CHECK (version <> ''),
    kind TEXT NOT NULL CHECK (kind IN ('auth-provider', 'cloud-connector', 'platform-automation', 'autofill')),
    publisher TEXT NOT NULL CHECK (publisher <> ''),
    name TEXT NOT NULL,
    manifest TEXT NOT NULL,
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    signed_key_id TEXT,
    component_path TEXT NOT NULL,
    artifact_path TEXT NOT NULL,
    compat_key TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'installed' CHECK (status IN ('installed', 'enabled', 'disabled')),
    is_active INTEGER NOT NULL DEFAULT FALSE CHECK (is_active IN (0, 1)),
    grants TEXT NOT NULL DEFAULT '{}' CHECK (json_type(grants) = 'object'),
    config TEXT NOT NULL DEFAULT '{}' CHECK (json_type(config) = 'object'),
    limits TEXT NOT NULL DEFAULT '{}' CHECK (json_type(limits) = 'object'),
    imports TEXT NOT NULL DEFAULT '{}',
    load_error TEXT NOT NULL DEFAULT '',
    installed_by TEXT NOT NULL DEFAULT '',
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL,
    date_enabled INTEGER,
    UNIQUE (plugin_id, version),
    CHECK (status <> 'enabled' OR is_active = 1)
);
CREATE UNIQUE INDEX plugins_active ON plugins (plugin_id) WHERE is_active = 1;
CREATE INDEX plugins_status ON plugins (status);

-- Secrets bound to a plugin version's declared names (`[capabilities] secrets`), sealed
-- (column `secret`, associated data plugin_secrets.secret:<id>). Never returned by the API.
CREATE TABLE plugin_secrets (
    id TEXT PRIMARY KEY,
    plugin TEXT NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (name <> ''),
    secret TEXT NOT NULL,
    date_updated INTEGER NOT NULL,
    UNIQUE (plugin, name)
);

-- Publisher keys the administrator trusts: a signed bundle installs when its signature
-- verifies with a key trusted for the publisher its manifest names. `key_id` is the first
-- 16 hex digits of the SHA-256 of the key; `public_key` is `ed25519:<base64>`.
CREATE TABLE plugin_trusted_keys (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE CHECK (length(key_id) = 16),
    publisher TEXT NOT NULL CHECK (publisher <> ''),
    public_key TEXT NOT NULL CHECK (public_key <> ''),
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    date_created INTEGER NOT NULL
);
