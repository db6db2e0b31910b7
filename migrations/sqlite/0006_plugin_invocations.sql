-- Plugin invocations (issue 6: the plugins page shows a plugin's recent invocations and
-- logs). Kept aligned line by line with migrations/postgres/0006_plugin_invocations.sql.

-- One call into a plugin made by the host: which version, world and export, what triggered
-- it, when, how long, how it ended (ok or the typed error kind with its message), the
-- guest's fuel and memory peak, and the log lines the plugin emitted (a JSON array of
-- {level, message}, bounded per invocation; the count of lines left out in logs_dropped).
-- Not tied to the plugins row: the log outlives a removed version. The host keeps the
-- newest rows per plugin and prunes the rest as it writes.
CREATE TABLE plugin_invocations (
    id TEXT PRIMARY KEY,
    plugin_id TEXT NOT NULL,
    version TEXT NOT NULL,
    world TEXT NOT NULL,
    export TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    trigger_ref TEXT NOT NULL,
    date_start INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL,
    fuel INTEGER NOT NULL,
    memory_peak INTEGER NOT NULL,
    logs TEXT NOT NULL,
    logs_dropped INTEGER NOT NULL
);
CREATE INDEX plugin_invocations_plugin ON plugin_invocations (plugin_id, date_start);
