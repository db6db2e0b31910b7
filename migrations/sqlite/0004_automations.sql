-- Platform automations run through plugins: one row per execution, and the accounts found
-- on assets by gather_accounts. Kept aligned line by line with
-- migrations/postgres/0004_automations.sql.

-- One run of an automation method on one asset. The asset and account are kept by id and by
-- name (no foreign key), so the history survives their deletion. `result` is the method's
-- output (a JSON object: gathered accounts, the new secret's kind, …), `log` the invocation's
-- events (a JSON array, secrets redacted); neither ever holds a secret.
CREATE TABLE automation_executions (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    asset_id TEXT NOT NULL,
    asset_name TEXT NOT NULL DEFAULT '',
    account_id TEXT,
    account_username TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL CHECK (method IN ('ping', 'verify_account', 'change_secret', 'push_account', 'gather_accounts', 'remove_account')),
    plugin_id TEXT NOT NULL DEFAULT '',
    plugin_version TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'success', 'failed')),
    error_code TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT '{}' CHECK (json_type(result) = 'object'),
    log TEXT NOT NULL DEFAULT '[]' CHECK (json_type(log) = 'array'),
    date_start INTEGER NOT NULL,
    date_finished INTEGER,
    created_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX automation_executions_org ON automation_executions (org_id, date_start);
CREATE INDEX automation_executions_asset ON automation_executions (asset_id, date_start);

-- Accounts that exist on an asset, as the last gather_accounts saw them (JumpServer's
-- GatheredAccount). `remote_present`: found on the asset by the last run; `present`: an
-- account with this username exists in Portcullis for the asset; `status`: an
-- administrator's decision ('' pending, confirmed, ignored).
CREATE TABLE gathered_accounts (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    asset_id TEXT NOT NULL,
    username TEXT NOT NULL CHECK (username <> ''),
    uid INTEGER,
    home TEXT NOT NULL DEFAULT '',
    shell TEXT NOT NULL DEFAULT '',
    user_groups TEXT NOT NULL DEFAULT '[]' CHECK (json_type(user_groups) = 'array'),
    address_last_login TEXT NOT NULL DEFAULT '',
    date_last_login INTEGER,
    login_enabled INTEGER NOT NULL DEFAULT TRUE CHECK (login_enabled IN (0, 1)),
    privileged INTEGER NOT NULL DEFAULT FALSE CHECK (privileged IN (0, 1)),
    remote_present INTEGER NOT NULL DEFAULT TRUE CHECK (remote_present IN (0, 1)),
    present INTEGER NOT NULL DEFAULT FALSE CHECK (present IN (0, 1)),
    status TEXT NOT NULL DEFAULT '' CHECK (status IN ('', 'confirmed', 'ignored')),
    detail TEXT NOT NULL DEFAULT '{}' CHECK (json_type(detail) = 'object'),
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL,
    FOREIGN KEY (asset_id, org_id) REFERENCES assets (id, org_id) ON DELETE CASCADE,
    UNIQUE (asset_id, username)
);
CREATE INDEX gathered_accounts_org ON gathered_accounts (org_id, username);
