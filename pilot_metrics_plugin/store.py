"""The SQLite store: opening (WAL, busy timeout, file mode 0600, migrations), writing an execution as it
goes, and reading records back. Every statement is parameterized. Errors leave here as ``StoreError`` with a
one-line message a user can act on.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from pilot_metrics_plugin.migrations import SchemaTooNewError, migrate
from pilot_metrics_plugin.record import ExecutionRecord, ModelUsageRecord, PhaseRecord

T = TypeVar("T")
BUSY_TIMEOUT_MS = 30_000
RETRY_FOR_S = 120.0
"""How long a write keeps retrying a busy database before it gives up."""
WAL_CHECKPOINT_PAGES = 8192
"""Checkpoint the WAL once it holds this many pages (32 MiB), not SQLite's default 1000: an execution's
writes dirty about twenty pages (a row and its report indexes, phases, models), so with the default a
recording burst (an import) checkpoints every few dozen executions, each copying the same hot index pages
back and syncing the file; that was a third of the time an execution took to record."""
WAL_KEEP_BYTES = 32 * 1024 * 1024
"""After a checkpoint, a WAL file larger than this is truncated to it."""


class StoreError(RuntimeError):
    """The metrics database cannot be used; the message is one line for the user."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def describe_sqlite_error(path: Path, exc: BaseException) -> str:
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, SchemaTooNewError):
        return f"{path}: {text}"
    if "readonly" in lowered or "read-only" in lowered:
        return f"the metrics database {path} is read-only"
    if "unable to open" in lowered:
        return f"cannot open the metrics database {path}: its directory is missing or not writable"
    if "not a database" in lowered or "malformed" in lowered:
        return f"{path} is not a usable metrics database (corrupt or not SQLite): {text}"
    if "disk is full" in lowered or "database or disk is full" in lowered:
        return f"the disk is full: cannot write the metrics database {path}"
    if "locked" in lowered or "busy" in lowered:
        return f"the metrics database {path} stayed locked by another process: {text}"
    return f"metrics database {path}: {text}"


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


EXECUTION_COLUMNS = (
    "execution_id", "task_id", "project", "project_path", "agent_command", "model_requested", "status",
    "failure_category", "failure_reason", "exit_code", "started_at_ms", "ended_at_ms", "duration_ms",
    "updated_at_ms", "host", "host_pid", "num_turns", "tokens_input", "tokens_output", "tokens_cache_read",
    "tokens_cache_write", "tokens_cache_write_1h", "tokens_total", "cost_nano_usd", "cost_source",
    "reported_cost_nano_usd", "price_table_version", "tool_calls", "files_read", "files_written",
    "commit_shas", "pr_url", "files_changed", "lines_added", "lines_removed", "malformed_lines",
    "usage_complete", "source_key",
)
MODEL_COLUMNS = (
    "model", "tokens_input", "tokens_output", "tokens_cache_read", "tokens_cache_write",
    "tokens_cache_write_1h", "tokens_total", "cost_nano_usd", "cost_source",
)
_UPSERT_EXECUTION = (
    f"INSERT INTO executions ({', '.join(EXECUTION_COLUMNS)}) VALUES ({', '.join('?' * len(EXECUTION_COLUMNS))}) "
    f"ON CONFLICT (execution_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in EXECUTION_COLUMNS if c != "execution_id")
)
@functools.lru_cache(maxsize=8)
def _insert_started(columns: tuple[str, ...]) -> str:
    return f"INSERT OR IGNORE INTO executions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_INSERT_PHASE = (
    "INSERT OR IGNORE INTO phases (execution_id, seq, name, started_at_ms, ended_at_ms, duration_ms) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


class MetricsStore:
    """One connection to the metrics database."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self.host = socket.gethostname()
        self.pid = os.getpid()

    @classmethod
    def open(cls, path: Path, *, stale_after_s: int | None = None, create: bool = True) -> MetricsStore:
        """Open (creating it with mode 0600 when ``create``) and migrate; mark dead hosts' rows interrupted."""
        path = Path(path)
        try:
            if not path.exists():
                if not create:
                    raise StoreError(f"no metrics database at {path} (nothing recorded yet?)")
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        except StoreError:
            raise
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(describe_sqlite_error(path, exc)) from None
        store = cls(conn, path)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
            store._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES:d}")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_KEEP_BYTES:d}")
            conn.execute("PRAGMA foreign_keys = ON")
            store._retry(lambda: migrate(conn))
            if stale_after_s is not None:
                store.mark_stale_running(stale_after_s)
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc).lower() and not create:
                return store  # a read-only copy can still be reported on
            conn.close()
            raise StoreError(describe_sqlite_error(path, exc)) from None
        except (sqlite3.Error, SchemaTooNewError) as exc:
            conn.close()
            raise StoreError(describe_sqlite_error(path, exc)) from None
        return store

    def close(self) -> None:
        self.conn.close()

    # -- writing ---------------------------------------------------------------------------------------------

    def _retry(self, fn: Callable[[], T]) -> T:
        deadline = time.monotonic() + RETRY_FOR_S
        delay = 0.005
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one write transaction, retrying while another process holds the lock."""

        def attempt() -> T:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                value = fn(self.conn)
                self.conn.execute("COMMIT")
                return value
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

        try:
            return self._retry(attempt)
        except sqlite3.Error as exc:
            raise StoreError(describe_sqlite_error(self.path, exc)) from None

    def begin_execution(self, row: dict[str, Any]) -> None:
        """The row of an execution that has started: status ``running``, nothing accounted yet."""
        row = {**row, "status": "running", "updated_at_ms": _now_ms(), "host": self.host, "host_pid": self.pid}
        columns = tuple(c for c in EXECUTION_COLUMNS if c in row)
        values = [_column_value(row, c) for c in columns]
        sql = _insert_started(columns)
        self.transaction(lambda conn: conn.execute(sql, values))

    def add_phase(self, execution_id: str, phase: PhaseRecord, seq: int) -> None:
        """A phase that ended; also the running row's sign of life."""
        self.add_phases(execution_id, [phase], seq)

    def add_phases(self, execution_id: str, phases: Sequence[PhaseRecord], first_seq: int) -> None:
        """Phases that ended (numbered from ``first_seq``), in one transaction; also the running row's sign
        of life."""

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                _INSERT_PHASE,
                [
                    (execution_id, seq, p.name, p.started_at_ms, p.ended_at_ms, p.duration_ms)
                    for seq, p in enumerate(phases, start=first_seq)
                ],
            )
            conn.execute(
                "UPDATE executions SET updated_at_ms = ? WHERE execution_id = ? AND status = 'running'",
                (_now_ms(), execution_id),
            )

        self.transaction(write)

    def finish_execution(
        self, row: dict[str, Any], phases: Sequence[PhaseRecord], models: Iterable[ModelUsageRecord]
    ) -> None:
        """The whole accounted execution, phases and models included, in one transaction."""
        row = {**row, "updated_at_ms": _now_ms(), "host": self.host, "host_pid": self.pid}
        values = [_column_value(row, c) for c in EXECUTION_COLUMNS]
        execution_id = row["execution_id"]

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(_UPSERT_EXECUTION, values)
            conn.executemany(
                _INSERT_PHASE,
                [
                    (execution_id, seq, p.name, p.started_at_ms, p.ended_at_ms, p.duration_ms)
                    for seq, p in enumerate(phases)
                ],
            )
            conn.execute("DELETE FROM execution_models WHERE execution_id = ?", (execution_id,))
            conn.executemany(
                f"INSERT INTO execution_models (execution_id, {', '.join(MODEL_COLUMNS)}) "
                f"VALUES (?, {', '.join('?' * len(MODEL_COLUMNS))})",
                [(execution_id, *(getattr(m, c) for c in MODEL_COLUMNS)) for m in models],
            )

        self.transaction(write)

    def mark_stale_running(self, stale_after_s: int) -> int:
        """Rows left ``running`` by a host that died: marked ``interrupted`` (``host_died``). A host on this
        machine whose process is gone is dead at once; any other after ``stale_after_s`` without a sign of life."""
        rows = self.conn.execute(
            "SELECT execution_id, host, host_pid, updated_at_ms FROM executions WHERE status = 'running'"
        ).fetchall()
        if not rows:
            return 0
        cutoff = _now_ms() - stale_after_s * 1000
        dead = [
            execution_id
            for execution_id, host, pid, updated in rows
            if updated < cutoff or (host == self.host and pid != self.pid and not _pid_alive(pid))
        ]
        if not dead:
            return 0

        def write(conn: sqlite3.Connection) -> int:
            changed = 0
            for execution_id in dead:
                changed += conn.execute(
                    "UPDATE executions SET status = 'interrupted', failure_category = 'host_died', "
                    "failure_reason = 'the recording host stopped before the execution ended', "
                    "ended_at_ms = updated_at_ms, duration_ms = MAX(0, updated_at_ms - started_at_ms) "
                    "WHERE execution_id = ? AND status = 'running'",
                    (execution_id,),
                ).rowcount
            return changed

        try:
            return self.transaction(write)
        except StoreError:
            return 0  # a read-only database is still readable; the next writer will mark them

    # -- reading ---------------------------------------------------------------------------------------------

    def resolve_id(self, prefix: str) -> str | None:
        """The execution id that ``prefix`` starts (ids are long; a unique prefix is enough)."""
        rows = self.conn.execute(
            "SELECT execution_id FROM executions WHERE execution_id >= ? AND execution_id < ? LIMIT 2",
            (prefix, prefix + "\U0010ffff"),
        ).fetchall()
        if len(rows) == 1:
            return str(rows[0][0])
        exact = self.conn.execute("SELECT 1 FROM executions WHERE execution_id = ?", (prefix,)).fetchone()
        if exact:
            return prefix
        if len(rows) > 1:
            raise StoreError(f"execution id prefix {prefix!r} is ambiguous")
        return None

    def last_execution_id(self) -> str | None:
        row = self.conn.execute(
            "SELECT execution_id FROM executions ORDER BY started_at_ms DESC, rowid DESC LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

    def load_record(self, execution_id: str) -> ExecutionRecord | None:
        cursor = self.conn.execute(
            f"SELECT {', '.join(EXECUTION_COLUMNS)} FROM executions WHERE execution_id = ?", (execution_id,)
        )
        row = cursor.fetchone()
        if row is None:
            return None
        phases = tuple(
            PhaseRecord(*values)
            for values in self.conn.execute(
                "SELECT name, started_at_ms, ended_at_ms, duration_ms FROM phases WHERE execution_id = ? ORDER BY seq",
                (execution_id,),
            )
        )
        models = tuple(
            ModelUsageRecord(*values)
            for values in self.conn.execute(
                f"SELECT {', '.join(MODEL_COLUMNS)} FROM execution_models WHERE execution_id = ? ORDER BY model",
                (execution_id,),
            )
        )
        return record_from_row(dict(zip(EXECUTION_COLUMNS, row)), phases, models)


_sorted_json = json.JSONEncoder(sort_keys=True).encode  # json.dumps(sort_keys=True) builds an encoder a call
_AS_STORED: dict[str, Callable[[Any], Any]] = {
    "tool_calls": lambda value: _sorted_json(value or {}),
    **dict.fromkeys(
        ("agent_command", "files_read", "files_written", "commit_shas"),
        lambda value: json.dumps(list(value or ())),
    ),
    "usage_complete": lambda value: 1 if value is None or value else 0,
    "cost_source": lambda value: value or "unknown",
    **dict.fromkeys(
        ("tokens_input", "tokens_output", "tokens_cache_read", "tokens_cache_write", "tokens_cache_write_1h",
         "tokens_total", "malformed_lines"),
        lambda value: value or 0,
    ),
}
"""How a column's value is stored, for the columns not stored as they are."""


def _column_value(row: dict[str, Any], column: str) -> Any:
    convert = _AS_STORED.get(column)
    return row.get(column) if convert is None else convert(row.get(column))


def record_from_row(
    row: dict[str, Any], phases: tuple[PhaseRecord, ...], models: tuple[ModelUsageRecord, ...]
) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=row["execution_id"],
        task_id=row["task_id"],
        project=row["project"],
        project_path=row["project_path"],
        agent_command=tuple(json.loads(row["agent_command"] or "[]")),
        model_requested=row["model_requested"],
        status=row["status"],
        failure_category=row["failure_category"],
        failure_reason=row["failure_reason"],
        exit_code=row["exit_code"],
        started_at_ms=row["started_at_ms"],
        ended_at_ms=row["ended_at_ms"],
        duration_ms=row["duration_ms"],
        num_turns=row["num_turns"],
        tokens_input=row["tokens_input"],
        tokens_output=row["tokens_output"],
        tokens_cache_read=row["tokens_cache_read"],
        tokens_cache_write=row["tokens_cache_write"],
        tokens_cache_write_1h=row["tokens_cache_write_1h"],
        tokens_total=row["tokens_total"],
        cost_nano_usd=row["cost_nano_usd"],
        cost_source=row["cost_source"],
        reported_cost_nano_usd=row["reported_cost_nano_usd"],
        price_table_version=row["price_table_version"],
        models=models,
        phases=phases,
        tool_calls=MappingProxyType(json.loads(row["tool_calls"] or "{}")),
        files_read=tuple(json.loads(row["files_read"] or "[]")),
        files_written=tuple(json.loads(row["files_written"] or "[]")),
        commit_shas=tuple(json.loads(row["commit_shas"] or "[]")),
        pr_url=row["pr_url"],
        files_changed=row["files_changed"],
        lines_added=row["lines_added"],
        lines_removed=row["lines_removed"],
        malformed_lines=row["malformed_lines"],
        usage_complete=bool(row["usage_complete"]),
        source_key=row["source_key"],
    )


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
