"""The SQLite store: opening (WAL, busy timeout, file mode 0600, migrations), writing an execution as it
goes (at its end, with its phases and models in the form the export writes), and reading records back.
Every statement is parameterized. Errors leave here as ``StoreError`` with a one-line message a user can
act on.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from json.encoder import encode_basestring as _json_string
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from pilot_metrics_plugin.migrations import SchemaTooNewError, migrate
from pilot_metrics_plugin.record import ExecutionRecord, ModelUsageRecord, PhaseRecord

T = TypeVar("T")
_EPOCH_DATE = date(1970, 1, 1)
_FAST_ISO_BEFORE_MS = 2**33 * 1000
"""Up to 2242 ``record.ms_to_iso``'s float seconds still land on the exact millisecond; ``_iso`` is used
there only, so that the stored text is always that of ``show --json``."""
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
EXPORT_FORM_COLUMNS = ("phases_json", "models_json")
"""The record's phases and models as the export writes them, stored when the execution finishes."""
_FINISHED_COLUMNS = EXECUTION_COLUMNS + EXPORT_FORM_COLUMNS
_UPSERT_EXECUTION = (
    f"INSERT INTO executions ({', '.join(_FINISHED_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_FINISHED_COLUMNS))}) "
    f"ON CONFLICT (execution_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _FINISHED_COLUMNS if c != "execution_id")
)
_INSERT_FINISHED = (
    f"INSERT OR IGNORE INTO executions ({', '.join(_FINISHED_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_FINISHED_COLUMNS))})"
)
_SET_AT_START = (
    "execution_id", "task_id", "project", "project_path", "agent_command", "started_at_ms", "source_key",
)
"""What ``begin_execution`` wrote for good: finishing a running row leaves these columns (and their index
entries) alone."""
_FINISH_RUNNING = (
    "UPDATE executions SET "
    + ", ".join(f"{c} = ?" for c in _FINISHED_COLUMNS if c not in _SET_AT_START)
    + " WHERE execution_id = ? AND status = 'running'"
)
_FINISH_RUNNING_VALUES = tuple(i for i, c in enumerate(_FINISHED_COLUMNS) if c not in _SET_AT_START)
_INSERT_MODEL = (
    f"INSERT INTO execution_models (execution_id, {', '.join(MODEL_COLUMNS)}, execution_started_at_ms) "
    f"VALUES (?, {', '.join('?' * len(MODEL_COLUMNS))}, ?)"
)
@functools.lru_cache(maxsize=8)
def _insert_started(columns: tuple[str, ...]) -> str:
    return f"INSERT OR IGNORE INTO executions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_INSERT_PHASE = (
    "INSERT OR IGNORE INTO phases (execution_id, seq, name, started_at_ms, ended_at_ms, duration_ms, "
    "execution_started_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _phase_rows(
    execution_id: str, phases: Sequence[PhaseRecord], first_seq: int, execution_started_at_ms: int
) -> list[tuple[Any, ...]]:
    """``_INSERT_PHASE``'s parameters for ``phases``, numbered from ``first_seq``."""
    return [
        (execution_id, seq, p.name, p.started_at_ms, p.ended_at_ms, p.duration_ms, execution_started_at_ms)
        for seq, p in enumerate(phases, start=first_seq)
    ]


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

    def begin_execution(
        self, row: dict[str, Any], phases: Sequence[PhaseRecord] = (), first_seq: int = 0
    ) -> None:
        """The row of an execution that has started: status ``running``, nothing accounted yet; with the
        phases that have already ended (numbered from ``first_seq``), in one transaction."""
        row = {**row, "status": "running", "updated_at_ms": _now_ms(), "host": self.host, "host_pid": self.pid}
        columns = tuple(c for c in EXECUTION_COLUMNS if c in row)
        values = [_column_value(row, c) for c in columns]
        sql = _insert_started(columns)
        execution_id, started_at_ms = row["execution_id"], row["started_at_ms"]

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(sql, values)
            if phases:
                conn.executemany(_INSERT_PHASE, _phase_rows(execution_id, phases, first_seq, started_at_ms))

        self.transaction(write)

    def add_phases(
        self, execution_id: str, phases: Sequence[PhaseRecord], first_seq: int, execution_started_at_ms: int
    ) -> None:
        """Phases that ended (numbered from ``first_seq``) of the execution that started at
        ``execution_started_at_ms``, in one transaction; also the running row's sign of life."""

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                _INSERT_PHASE, _phase_rows(execution_id, phases, first_seq, execution_started_at_ms)
            )
            conn.execute(
                "UPDATE executions SET updated_at_ms = ? WHERE execution_id = ? AND status = 'running'",
                (_now_ms(), execution_id),
            )

        self.transaction(write)

    def finish_execution(
        self,
        row: dict[str, Any],
        phases: Sequence[PhaseRecord],
        models: Iterable[ModelUsageRecord],
        *,
        running_row: bool = True,
    ) -> None:
        """The whole accounted execution, phases and models included, in one transaction, with the record's
        phases and models in the form the export writes (``models`` ordered by name, as ``load_record`` reads
        them). ``running_row``: whether its running row is likely there (``begin_execution``), which only
        decides what is tried first."""
        row = {**row, "updated_at_ms": _now_ms(), "host": self.host, "host_pid": self.pid}
        models = sorted(models, key=_model_name)
        values = _stored_values(row)
        values.append(phases_json(phases))
        values.append(models_json(models))
        execution_id = row["execution_id"]
        started_at_ms = row["started_at_ms"]
        finish_running = [values[i] for i in _FINISH_RUNNING_VALUES]
        finish_running.append(execution_id)

        def write(conn: sqlite3.Connection) -> None:
            # The running row, or no row at all (an execution shorter than a second), has no model rows yet:
            # only this writes them, and a model row needs its execution's.
            if running_row:
                done = conn.execute(_FINISH_RUNNING, finish_running).rowcount
                done = done or conn.execute(_INSERT_FINISHED, values).rowcount
            else:
                done = conn.execute(_INSERT_FINISHED, values).rowcount
                done = done or conn.execute(_FINISH_RUNNING, finish_running).rowcount
            if not done:  # recorded before: written over, models and all
                conn.execute(_UPSERT_EXECUTION, values)
                conn.execute("DELETE FROM execution_models WHERE execution_id = ?", (execution_id,))
            conn.executemany(_INSERT_PHASE, _phase_rows(execution_id, phases, 0, started_at_ms))
            conn.executemany(
                _INSERT_MODEL,
                [
                    (execution_id, m.model, m.tokens_input, m.tokens_output, m.tokens_cache_read,
                     m.tokens_cache_write, m.tokens_cache_write_1h, m.tokens_total, m.cost_nano_usd,
                     m.cost_source, started_at_ms)
                    for m in models
                ],
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
        stored = dict(zip(EXECUTION_COLUMNS, row, strict=True))
        key = (stored["started_at_ms"], execution_id)  # the child tables' key starts with the two
        phases = tuple(
            PhaseRecord(*values)
            for values in self.conn.execute(
                "SELECT name, started_at_ms, ended_at_ms, duration_ms FROM phases "
                "WHERE execution_started_at_ms = ? AND execution_id = ? ORDER BY seq",
                key,
            )
        )
        models = tuple(
            ModelUsageRecord(*values)
            for values in self.conn.execute(
                f"SELECT {', '.join(MODEL_COLUMNS)} FROM execution_models "
                "WHERE execution_started_at_ms = ? AND execution_id = ? ORDER BY model",
                key,
            )
        )
        return record_from_row(stored, phases, models)


# Compact, non-ASCII as it is: the export writes these texts as they are stored. (An encoder made once:
# json.dumps with options builds one a call.)
_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_sorted_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def _json_string_list(value: Iterable[Any] | None) -> str:
    """``_compact_json(list(value))``, the encoder's own way for the usual list of strings, without building
    an encoder a call."""
    items = list(value or ())
    try:
        return "[" + ",".join(map(_json_string, items)) + "]"
    except TypeError:  # not all strings
        return _compact_json(items)


_AS_STORED: dict[str, Callable[[Any], Any]] = {
    "tool_calls": lambda value: _sorted_compact_json(value or {}),
    **dict.fromkeys(("agent_command", "files_read", "files_written", "commit_shas"), _json_string_list),
    "usage_complete": lambda value: 1 if value is None or value else 0,
    "cost_source": lambda value: value or "unknown",
    **dict.fromkeys(
        ("tokens_input", "tokens_output", "tokens_cache_read", "tokens_cache_write", "tokens_cache_write_1h",
         "tokens_total", "malformed_lines"),
        lambda value: value or 0,
    ),
}
"""How a column's value is stored, for the columns not stored as they are."""


_CONVERSIONS = tuple(_AS_STORED.get(column) for column in EXECUTION_COLUMNS)


@functools.lru_cache(maxsize=64)
def _utc_date(days: int) -> str:
    return (_EPOCH_DATE + timedelta(days=days)).isoformat()


def _iso(ms: int) -> str:
    """``record.ms_to_iso(ms)`` (a non-negative int), without a datetime: four times faster."""
    days, ms_of_day = divmod(ms, 86_400_000)
    hours, minutes = ms_of_day // 3_600_000, ms_of_day // 60_000 % 60
    seconds, milliseconds = ms_of_day // 1000 % 60, ms_of_day % 1000
    return f"{_utc_date(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{milliseconds:03d}+00:00"


_PHASE_JSON = '{"name":%s,"started_at":"%s","ended_at":"%s","duration_ms":%d}'
_MODEL_JSON = (
    '{"model":%s,"tokens_input":%d,"tokens_output":%d,"tokens_cache_read":%d,"tokens_cache_write":%d,'
    '"tokens_cache_write_1h":%d,"tokens_total":%d,"cost_nano_usd":%s,"cost_usd":%s,"cost_source":%s}'
)


def phases_json(phases: Sequence[PhaseRecord]) -> str | None:
    """The record's ``phases`` as stored for the export: ``_compact_json([p.to_dict() for p in phases])``,
    the same text, written out (the times the to_dict way cost most of recording an execution's end);
    ``None`` for a time no ISO date holds, which the export then writes from the phase rows."""
    parts = []
    for p in phases:
        start, end = p.started_at_ms, p.ended_at_ms
        if not (type(start) is int and type(end) is int and type(p.duration_ms) is int and type(p.name) is str
                and 0 <= start < _FAST_ISO_BEFORE_MS and 0 <= end < _FAST_ISO_BEFORE_MS):
            try:
                return _compact_json([p.to_dict() for p in phases])
            except (ValueError, OverflowError):
                return None
        parts.append(_PHASE_JSON % (_json_string(p.name), _iso(start), _iso(end), p.duration_ms))
    return "[" + ",".join(parts) + "]"


def models_json(models: Sequence[ModelUsageRecord]) -> str:
    """The record's ``models`` as stored for the export, like ``phases_json``."""
    parts = []
    for m in models:
        cost = m.cost_nano_usd
        counts = (m.tokens_input, m.tokens_output, m.tokens_cache_read, m.tokens_cache_write,
                  m.tokens_cache_write_1h, m.tokens_total)
        if not (all(type(n) is int for n in counts) and (cost is None or type(cost) is int)
                and type(m.model) is str and type(m.cost_source) is str):
            return _compact_json([m.to_dict() for m in models])
        parts.append(
            _MODEL_JSON
            % (
                _json_string(m.model),
                *counts,
                "null" if cost is None else cost,
                "null" if cost is None else repr(cost / 1_000_000_000),
                _json_string(m.cost_source),
            )
        )
    return "[" + ",".join(parts) + "]"


def _model_name(model: ModelUsageRecord) -> str:
    return model.model


def _column_value(row: dict[str, Any], column: str) -> Any:
    convert = _AS_STORED.get(column)
    return row.get(column) if convert is None else convert(row.get(column))


def _stored_values(row: dict[str, Any]) -> list[Any]:
    """``EXECUTION_COLUMNS`` of ``row`` as stored."""
    get = row.get
    return [
        get(column) if convert is None else convert(get(column))
        for column, convert in zip(EXECUTION_COLUMNS, _CONVERSIONS, strict=True)
    ]


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
