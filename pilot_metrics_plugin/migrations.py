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
