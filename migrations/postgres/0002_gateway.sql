-- The SSH gateway and session engine: target host keys, connection tokens, terminal tasks.
-- Kept aligned line by line with migrations/sqlite/0002_gateway.sql.

-- Host keys of assets (and gateways, which are assets) as first seen by the gateway: trust on
-- first use, then every later connection must present the same key.
CREATE TABLE asset_host_keys (
    asset_id TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    algorithm TEXT NOT NULL CHECK (algorithm <> ''),
    public_key TEXT NOT NULL CHECK (public_key <> ''),
    fingerprint TEXT NOT NULL CHECK (fingerprint <> ''),
    date_created BIGINT NOT NULL,
    date_last_seen BIGINT NOT NULL,
    PRIMARY KEY (asset_id, address, port)
);

-- Connection tokens: user + asset + account alias + protocol + connect method, redeemed by a
-- front door (`JMS-<id>` as SSH user, `value` as password). The value (column `secret`) and any input secret are stored sealed.
CREATE TABLE connection_tokens (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    asset_id TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    account TEXT NOT NULL CHECK (account <> ''),
    protocol TEXT NOT NULL CHECK (protocol <> ''),
    connect_method TEXT NOT NULL DEFAULT '',
    secret TEXT NOT NULL,
    input_username TEXT NOT NULL DEFAULT '',
    input_secret TEXT,
    connect_options TEXT NOT NULL DEFAULT '{}',
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_reusable BOOLEAN NOT NULL DEFAULT FALSE,
    remote_addr TEXT NOT NULL DEFAULT '',
    date_expired BIGINT NOT NULL,
    date_created BIGINT NOT NULL,
    created_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX connection_tokens_user ON connection_tokens (user_id, date_expired);

-- Tasks for the session engine (kill_session, lock_session, unlock_session), picked up by the
-- host that runs the session; `is_finished` is set by that host.
CREATE TABLE terminal_tasks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL CHECK (name IN ('kill_session', 'lock_session', 'unlock_session')),
    args TEXT NOT NULL,
    kwargs TEXT NOT NULL DEFAULT '{}',
    is_finished BOOLEAN NOT NULL DEFAULT FALSE,
    date_created BIGINT NOT NULL,
    date_finished BIGINT,
    created_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX terminal_tasks_pending ON terminal_tasks (is_finished, date_created);

-- Tickets (reviews): a login, a connection or a command held until one of the ticket's
-- reviewers approves or rejects it, or the applicant withdraws it. `serial_num` is JumpServer's
-- human-friendly number (YYYYMMDD + a per-day counter); `status` (open/closed) is derived from
-- `state` (open iff pending), so it is not stored. `meta` is what the reviewer is shown (the
-- command, the asset, the account …), JumpServer's rel_snapshot. A deleted user's tickets go
-- with them; the processor is kept by display name when they are deleted.
CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    serial_num TEXT NOT NULL UNIQUE CHECK (serial_num <> ''),
    org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    type TEXT NOT NULL CHECK (type IN ('general', 'apply_asset', 'login_confirm', 'command_confirm', 'login_asset_confirm')),
    title TEXT NOT NULL CHECK (title <> ''),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected', 'closed')),
    applicant_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    applicant_display TEXT NOT NULL DEFAULT '',
    meta TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(meta::json) = 'object'),
    processor_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    processor_display TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX tickets_org ON tickets (org_id, date_created);
CREATE INDEX tickets_applicant ON tickets (applicant_id, date_created);

-- Who may approve or reject a ticket (JumpServer's one-level assignees).
CREATE TABLE ticket_reviewers (
    ticket_id TEXT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (ticket_id, user_id)
);
CREATE INDEX ticket_reviewers_user ON ticket_reviewers (user_id);
