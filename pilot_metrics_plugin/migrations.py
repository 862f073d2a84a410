"""The database schema, as forward-only migrations applied in order, each in one explicit transaction.

A migration is never edited once released: change the schema by appending a new one. ``PRAGMA
user_version`` holds how many have been applied; a database with a higher number was made by a newer
version of this plugin and is refused untouched.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


class SchemaTooNewError(RuntimeError):
    """The database was made by a newer pilot-metrics."""


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Apply what is missing; returns the number applied. ``conn`` must be in autocommit mode."""
    current = schema_version(conn)
    if current > len(MIGRATIONS):
        raise SchemaTooNewError(
            f"the database has schema version {current}, newer than this pilot-metrics knows "
            f"({len(MIGRATIONS)}): upgrade pilot-metrics-plugin"
        )
    applied = 0
    for number, fn in enumerate(MIGRATIONS[current:], start=current + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) >= number:  # another process applied it while we waited for the lock
                conn.execute("COMMIT")
                continue
            fn(conn)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)",
                (number, fn.__name__, int(time.time() * 1000)),
            )
            conn.execute(f"PRAGMA user_version = {number:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied += 1
    return applied


@migration
def m001_executions(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at_ms INTEGER NOT NULL
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE executions (
            execution_id TEXT PRIMARY KEY,
            task_id TEXT NOT NULL,
            project TEXT NOT NULL,
            project_path TEXT,
            agent_command TEXT NOT NULL,           -- JSON array of the agent's argv
            model_requested TEXT,
            status TEXT NOT NULL,                  -- running, succeeded, failed, timed_out, cancelled, interrupted
            failure_category TEXT,
            failure_reason TEXT,
            exit_code INTEGER,
            started_at_ms INTEGER NOT NULL,        -- UTC epoch milliseconds
            ended_at_ms INTEGER,
            duration_ms INTEGER,
            updated_at_ms INTEGER NOT NULL,        -- last sign of life of a running row
            host TEXT,                             -- hostname and pid of the recording process,
            host_pid INTEGER,                      --   to tell a dead host from a slow one
            num_turns INTEGER,
            tokens_input INTEGER NOT NULL DEFAULT 0,
            tokens_output INTEGER NOT NULL DEFAULT 0,
            tokens_cache_read INTEGER NOT NULL DEFAULT 0,
            tokens_cache_write INTEGER NOT NULL DEFAULT 0,     -- 5-minute and 1-hour writes
            tokens_cache_write_1h INTEGER NOT NULL DEFAULT 0,  -- the 1-hour part of tokens_cache_write
            tokens_total INTEGER NOT NULL DEFAULT 0,
            cost_nano_usd INTEGER,                 -- NULL: unknown
            cost_source TEXT NOT NULL DEFAULT 'unknown',   -- reported, estimated, unknown
            reported_cost_nano_usd INTEGER,        -- total_cost_usd as the agent reported it
            price_table_version TEXT,              -- set when any part of the cost was estimated
            tool_calls TEXT NOT NULL DEFAULT '{}', -- JSON object: tool name -> count
            files_read TEXT NOT NULL DEFAULT '[]',
            files_written TEXT NOT NULL DEFAULT '[]',
            commit_shas TEXT NOT NULL DEFAULT '[]',
            pr_url TEXT,
            files_changed INTEGER,
            lines_added INTEGER,
            lines_removed INTEGER,
            malformed_lines INTEGER NOT NULL DEFAULT 0,
            usage_complete INTEGER NOT NULL DEFAULT 1,
            source_key TEXT UNIQUE                 -- where an imported execution came from
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE phases (
            execution_id TEXT NOT NULL REFERENCES executions (execution_id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            name TEXT NOT NULL,
            started_at_ms INTEGER NOT NULL,
            ended_at_ms INTEGER NOT NULL,
            duration_ms INTEGER NOT NULL,
            PRIMARY KEY (execution_id, seq)
        ) WITHOUT ROWID
        """
    )
    conn.execute(
        """
        CREATE TABLE execution_models (
            execution_id TEXT NOT NULL REFERENCES executions (execution_id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            tokens_input INTEGER NOT NULL,
            tokens_output INTEGER NOT NULL,
            tokens_cache_read INTEGER NOT NULL,
            tokens_cache_write INTEGER NOT NULL,
            tokens_cache_write_1h INTEGER NOT NULL,
            tokens_total INTEGER NOT NULL,
            cost_nano_usd INTEGER,
            cost_source TEXT NOT NULL,
            PRIMARY KEY (execution_id, model)
        ) WITHOUT ROWID
        """
    )
    conn.execute("CREATE INDEX executions_by_start ON executions (started_at_ms)")
    conn.execute("CREATE INDEX executions_by_project ON executions (project, started_at_ms)")
    conn.execute("CREATE INDEX executions_running ON executions (status) WHERE status = 'running'")


@migration
def m002_report_indexes(conn: sqlite3.Connection) -> None:
    """Covering indexes for the reports, so that a report reads narrow index entries instead of whole rows
    (a row carries JSON lists of files and tools). They replace m001's two narrow indexes, whose leading
    columns they repeat."""
    conn.execute("DROP INDEX executions_by_start")
    conn.execute("DROP INDEX executions_by_project")
    conn.execute(
        """
        CREATE INDEX executions_report_by_start ON executions (
            started_at_ms, status, project, duration_ms, tokens_input, tokens_output, tokens_cache_read,
            tokens_cache_write, tokens_cache_write_1h, tokens_total, cost_nano_usd, cost_source,
            files_changed, lines_added, lines_removed, pr_url, execution_id, model_requested
        )
        """
    )
    conn.execute(
        """
        CREATE INDEX executions_report_by_project ON executions (
            project, started_at_ms, status, duration_ms, tokens_total, cost_nano_usd
        )
        """
    )
    # Percentiles walk durations in order instead of sorting every duration of the range.
    conn.execute("CREATE INDEX phases_by_name ON phases (name, duration_ms)")
    conn.execute(
        "CREATE INDEX executions_by_duration ON executions (duration_ms, started_at_ms, status, project)"
    )
    conn.execute(
        """
        CREATE INDEX executions_failures ON executions (
            started_at_ms, status, project, failure_category, failure_reason, task_id
        ) WHERE status IN ('failed', 'timed_out', 'cancelled', 'interrupted')
        """
    )


# -- m003: the record's exported form, child rows in execution start order, an hourly rollup -----------------

_M003_ISO = "strftime('%Y-%m-%dT%H:%M:%f+00:00', {ms} / 1000.0, 'unixepoch')"
"""ISO 8601 UTC with milliseconds, as ``record.ms_to_iso`` writes it (SQLite rounds the seconds back to the
exact millisecond)."""
_M003_USD = (
    "CASE WHEN {nano} IS NULL THEN NULL WHEN {nano} = 0 THEN json('0.0') "
    "WHEN abs({nano}) < 100000 THEN json(CASE WHEN {nano} < 0 THEN '-' ELSE '' END "
    "|| substr(rtrim(abs({nano}), '0'), 1, 1) "
    "|| CASE WHEN length(rtrim(abs({nano}), '0')) > 1 "
    "THEN '.' || substr(rtrim(abs({nano}), '0'), 2) ELSE '' END "
    "|| 'e-' || printf('%02d', 10 - length(abs({nano})))) "
    "ELSE json(CASE WHEN {nano} < 0 THEN '-' ELSE '' END || (abs({nano}) / 1000000000) || '.' "
    "|| ifnull(nullif(rtrim(printf('%09d', abs({nano}) % 1000000000), '0'), ''), '0')) END"
)
"""Nano-dollars as the JSON number ``nano / 10**9`` that Python's ``json.dumps`` writes (``0.0``, ``1.5``,
``5e-06``): the exact decimal, which parses to the same float."""
_M003_PHASES_JSON = (
    "(SELECT json_group_array(json_object('name', p.name, 'started_at', "
    + _M003_ISO.format(ms="p.started_at_ms")
    + ", 'ended_at', "
    + _M003_ISO.format(ms="p.ended_at_ms")
    + ", 'duration_ms', p.duration_ms)) "
    "FROM (SELECT * FROM phases p WHERE p.execution_started_at_ms = executions.started_at_ms "
    "AND p.execution_id = executions.execution_id ORDER BY p.seq) p)"
)
_M003_MODELS_JSON = (
    "(SELECT json_group_array(json_object('model', m.model, 'tokens_input', m.tokens_input, "
    "'tokens_output', m.tokens_output, 'tokens_cache_read', m.tokens_cache_read, "
    "'tokens_cache_write', m.tokens_cache_write, 'tokens_cache_write_1h', m.tokens_cache_write_1h, "
    "'tokens_total', m.tokens_total, 'cost_nano_usd', m.cost_nano_usd, 'cost_usd', "
    + _M003_USD.format(nano="m.cost_nano_usd")
    + ", 'cost_source', m.cost_source)) "
    "FROM (SELECT * FROM execution_models m WHERE m.execution_started_at_ms = executions.started_at_ms "
    "AND m.execution_id = executions.execution_id ORDER BY m.model) m)"
)
_M003_COMPACT_JSON = "CASE WHEN json_valid({column}) THEN json({column}) ELSE {column} END"
_M003_HOURLY = (
    # column of executions_by_hour, one execution's part of it ({r}: new or old)
    ("executions", "1"),
    ("succeeded", "{r}.status = 'succeeded'"),
    ("failed", "{r}.status = 'failed'"),
    ("timed_out", "{r}.status = 'timed_out'"),
    ("cancelled", "{r}.status = 'cancelled'"),
    ("interrupted", "{r}.status = 'interrupted'"),
    ("duration_ms", "ifnull({r}.duration_ms, 0)"),
    ("with_duration", "{r}.duration_ms IS NOT NULL"),
    ("tokens_input", "ifnull({r}.tokens_input, 0)"),
    ("tokens_output", "ifnull({r}.tokens_output, 0)"),
    ("tokens_cache_read", "ifnull({r}.tokens_cache_read, 0)"),
    ("tokens_cache_write", "ifnull({r}.tokens_cache_write, 0)"),
    ("tokens_cache_write_1h", "ifnull({r}.tokens_cache_write_1h, 0)"),
    ("tokens_total", "ifnull({r}.tokens_total, 0)"),
    ("cost_nano_usd", "ifnull({r}.cost_nano_usd, 0)"),
    ("with_cost", "{r}.cost_nano_usd IS NOT NULL"),
    ("cost_reported_nano_usd", "iif({r}.cost_source = 'reported', ifnull({r}.cost_nano_usd, 0), 0)"),
    ("cost_estimated_nano_usd", "iif({r}.cost_source = 'estimated', ifnull({r}.cost_nano_usd, 0), 0)"),
    ("files_changed", "ifnull({r}.files_changed, 0)"),
    ("lines_added", "ifnull({r}.lines_added, 0)"),
    ("lines_removed", "ifnull({r}.lines_removed, 0)"),
    ("prs", "{r}.pr_url IS NOT NULL"),
)
_M003_HOURLY_INPUTS = (
    "status, started_at_ms, duration_ms, tokens_input, tokens_output, tokens_cache_read, "
    "tokens_cache_write, tokens_cache_write_1h, tokens_total, cost_nano_usd, cost_source, files_changed, "
    "lines_added, lines_removed, pr_url"
)
"""The columns of ``executions`` the rollup is made of: updating one moves the execution's part."""


def _m003_hourly_upsert(row: str, sign: str) -> str:
    """Add (``sign`` empty) or take away (``-``) the part of execution ``row`` (``new`` or ``old``) in its
    hour, if it has finished."""
    columns = ", ".join(column for column, _ in _M003_HOURLY)
    parts = ", ".join(f"{sign}({part.format(r=row)})" for _, part in _M003_HOURLY)
    sums = ", ".join(f"{column} = {column} + excluded.{column}" for column, _ in _M003_HOURLY)
    # The WHERE both skips a running row and tells the parser that ON CONFLICT starts the upsert.
    return (
        f"INSERT INTO executions_by_hour (hour, {columns}) SELECT {row}.started_at_ms / 3600000, {parts} "
        f"WHERE {row}.status <> 'running' ON CONFLICT (hour) DO UPDATE SET {sums};"
    )


@migration
def m003_export_forms_and_rollups(conn: sqlite3.Connection) -> None:
    """What the write path keeps ready so that reports and export stay fast at a million executions.

    - ``executions.phases_json`` / ``models_json``: the record's ``phases`` and ``models`` as the export
      writes them (compact JSON, set when the execution finishes; NULL while it runs), so that an export
      reads one row per execution and joins nothing. The JSON list columns are made compact like them.
    - ``phases`` and ``execution_models`` carry their execution's ``execution_started_at_ms`` and are stored
      in that order (it leads the primary key; the key's columns come first, since SQLite 3.40's integrity
      check misreads a WITHOUT ROWID table whose key columns follow others): a report on a range reads one
      stretch of each table instead of a random lookup per execution, and a new execution's rows land on
      the table's last pages. Model rows
      keep a unique index on ``(execution_id, model)`` for the lookups by execution alone (``reprice``);
      phases are only ever deleted with their execution (the cascade, which then reads the table: an
      index there would cost every recorded execution a random page). ``phases_by_name``, five random index
      pages per recorded execution, goes.
    - ``executions_by_hour``: per UTC hour of start, the sums of every finished execution's report figures,
      kept by triggers whatever writes the table (the recorder, ``reprice``, an import), so that a report
      over whole hours adds a few thousand rows instead of aggregating a million.
    - ``executions_by_duration`` keeps only finished executions (a running row has no duration), so that
      starting an execution no longer writes to it.

    Existing rows are converted in this transaction."""
    conn.execute("ALTER TABLE executions ADD COLUMN phases_json TEXT")
    conn.execute("ALTER TABLE executions ADD COLUMN models_json TEXT")

    conn.execute("ALTER TABLE phases RENAME TO phases_v2")
    conn.execute(
        """
        CREATE TABLE phases (
            execution_started_at_ms INTEGER NOT NULL,   -- the execution's started_at_ms
            execution_id TEXT NOT NULL REFERENCES executions (execution_id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            name TEXT NOT NULL,
            started_at_ms INTEGER NOT NULL,
            ended_at_ms INTEGER NOT NULL,
            duration_ms INTEGER NOT NULL,
            PRIMARY KEY (execution_started_at_ms, execution_id, seq)
        ) WITHOUT ROWID
        """
    )
    conn.execute(
        "INSERT INTO phases (execution_id, seq, name, started_at_ms, ended_at_ms, duration_ms, "
        "execution_started_at_ms) SELECT p.execution_id, p.seq, p.name, p.started_at_ms, p.ended_at_ms, "
        "p.duration_ms, e.started_at_ms FROM phases_v2 p "
        "JOIN executions e ON e.execution_id = p.execution_id "
        "ORDER BY e.started_at_ms, p.execution_id, p.seq"
    )
    conn.execute("DROP TABLE phases_v2")

    conn.execute("ALTER TABLE execution_models RENAME TO execution_models_v2")
    conn.execute(
        """
        CREATE TABLE execution_models (
            execution_started_at_ms INTEGER NOT NULL,   -- the execution's started_at_ms
            execution_id TEXT NOT NULL REFERENCES executions (execution_id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            tokens_input INTEGER NOT NULL,
            tokens_output INTEGER NOT NULL,
            tokens_cache_read INTEGER NOT NULL,
            tokens_cache_write INTEGER NOT NULL,
            tokens_cache_write_1h INTEGER NOT NULL,
            tokens_total INTEGER NOT NULL,
            cost_nano_usd INTEGER,
            cost_source TEXT NOT NULL,
            PRIMARY KEY (execution_started_at_ms, execution_id, model)
        ) WITHOUT ROWID
        """
    )
    conn.execute(
        "INSERT INTO execution_models (execution_id, model, tokens_input, tokens_output, tokens_cache_read, "
        "tokens_cache_write, tokens_cache_write_1h, tokens_total, cost_nano_usd, cost_source, "
        "execution_started_at_ms) SELECT m.execution_id, m.model, m.tokens_input, m.tokens_output, "
        "m.tokens_cache_read, m.tokens_cache_write, m.tokens_cache_write_1h, m.tokens_total, "
        "m.cost_nano_usd, m.cost_source, e.started_at_ms FROM execution_models_v2 m "
        "JOIN executions e ON e.execution_id = m.execution_id "
        "ORDER BY e.started_at_ms, m.execution_id, m.model"
    )
    conn.execute("DROP TABLE execution_models_v2")
    conn.execute(
        "CREATE UNIQUE INDEX execution_models_by_execution ON execution_models (execution_id, model)"
    )

    compact = ", ".join(
        f"{column} = {_M003_COMPACT_JSON.format(column=column)}"
        for column in ("agent_command", "tool_calls", "files_read", "files_written", "commit_shas")
    )
    conn.execute(
        f"UPDATE executions SET {compact}, "
        f"phases_json = CASE WHEN status <> 'running' THEN {_M003_PHASES_JSON} END, "
        f"models_json = CASE WHEN status <> 'running' THEN {_M003_MODELS_JSON} END"
    )
    # reprice changes model rows in place: the stored form is dropped, and export builds it from the rows.
    conn.execute(
        """
        CREATE TRIGGER execution_models_json_on_update AFTER UPDATE ON execution_models BEGIN
            UPDATE executions SET models_json = NULL
            WHERE execution_id IN (old.execution_id, new.execution_id);
        END
        """
    )

    columns = ", ".join(f"{column} INTEGER NOT NULL DEFAULT 0" for column, _ in _M003_HOURLY)
    conn.execute(f"CREATE TABLE executions_by_hour (hour INTEGER PRIMARY KEY, {columns})")
    sums = ", ".join(f"SUM({part.format(r='executions')})" for _, part in _M003_HOURLY)
    conn.execute(
        f"INSERT INTO executions_by_hour (hour, {', '.join(column for column, _ in _M003_HOURLY)}) "
        f"SELECT started_at_ms / 3600000, {sums} FROM executions WHERE status <> 'running' "
        "GROUP BY started_at_ms / 3600000"
    )
    conn.execute(
        "CREATE TRIGGER executions_by_hour_on_insert AFTER INSERT ON executions "
        f"WHEN new.status <> 'running' BEGIN {_m003_hourly_upsert('new', '')} END"
    )
    conn.execute(
        f"CREATE TRIGGER executions_by_hour_on_update AFTER UPDATE OF {_M003_HOURLY_INPUTS} ON executions "
        "WHEN old.status <> 'running' OR new.status <> 'running' "
        f"BEGIN {_m003_hourly_upsert('old', '-')} {_m003_hourly_upsert('new', '')} END"
    )
    conn.execute(
        "CREATE TRIGGER executions_by_hour_on_delete AFTER DELETE ON executions "
        f"WHEN old.status <> 'running' BEGIN {_m003_hourly_upsert('old', '-')} END"
    )

    conn.execute("DROP INDEX executions_by_duration")
    conn.execute(
        "CREATE INDEX executions_by_duration ON executions (duration_ms, started_at_ms, status, project) "
        "WHERE duration_ms IS NOT NULL"
    )
