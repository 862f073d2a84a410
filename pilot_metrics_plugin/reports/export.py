"""``pilot metrics export``: one record per execution, streamed, as JSON, NDJSON or CSV.

Records have exactly the keys of ``ExecutionRecord.to_dict()`` (the shape of ``show --json``), oldest
first. One SQL statement reads each execution with its phases and models (as JSON arrays from correlated
subqueries) and the rows are written as the cursor yields them: memory stays flat for any number of rows.

CSV: one column per record key, in the same order. Lists and objects (``agent_command``, ``models``,
``phases``, ``tool_calls``, ``files_read``, ``files_written``, ``commit_shas``) are JSON text in their
cell; per-model and per-phase figures stay in those JSON cells, the execution's own token and cost columns
are plain numbers. Empty for null, ``true``/``false`` for booleans. A text cell that begins with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so that no spreadsheet runs it as a
formula; numbers are left alone.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pilot_metrics_plugin.record import ExecutionRecord, ModelUsageRecord, PhaseRecord
from pilot_metrics_plugin.reports.query import ReportFilter
from pilot_metrics_plugin.store import EXECUTION_COLUMNS, MODEL_COLUMNS, record_from_row

EXPORT_FORMATS = ("json", "ndjson", "csv")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def record_keys() -> list[str]:
    """The keys of every exported record, in order (those of ``ExecutionRecord.to_dict``)."""
    empty = record_from_row(dict.fromkeys(EXECUTION_COLUMNS), (), ())
    return list(empty.to_dict())


def _export_sql(where: str) -> str:
    columns = ", ".join(f"e.{c}" for c in EXECUTION_COLUMNS)
    model_values = ", ".join(f"m.{c}" for c in MODEL_COLUMNS)
    return f"""
        SELECT {columns},
            (SELECT json_group_array(json_array(p.seq, p.name, p.started_at_ms, p.ended_at_ms, p.duration_ms))
             FROM phases p WHERE p.execution_id = e.execution_id),
            (SELECT json_group_array(json_array({model_values}))
             FROM execution_models m WHERE m.execution_id = e.execution_id)
        FROM executions e
        WHERE {where}
        ORDER BY e.started_at_ms
    """


def records(conn: sqlite3.Connection, flt: ReportFilter) -> Iterator[ExecutionRecord]:
    """The filtered executions, oldest first, one at a time."""
    where, params = flt.where(alias="e")
    width = len(EXECUTION_COLUMNS)
    for row in conn.execute(_export_sql(where), params):
        phases = tuple(PhaseRecord(*values[1:]) for values in sorted(json.loads(row[width])))
        models = tuple(ModelUsageRecord(*values) for values in sorted(json.loads(row[width + 1])))
        yield record_from_row(dict(zip(EXECUTION_COLUMNS, row[:width], strict=True)), phases, models)


def neutralize(text: str) -> str:
    """A CSV text cell a spreadsheet will show, never evaluate."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return neutralize(str(value))


def write(conn: sqlite3.Connection, flt: ReportFilter, fmt: str, out: IO[str]) -> int:
    """Write the records to ``out`` in ``fmt``; returns how many."""
    written = 0
    if fmt == "csv":
        writer = csv.writer(out)
        keys = record_keys()
        writer.writerow(keys)
        for record in records(conn, flt):
            data = record.to_dict()
            writer.writerow([csv_cell(data[key]) for key in keys])
            written += 1
        return written
    if fmt == "json":
        out.write("[")
    for record in records(conn, flt):
        text = json.dumps(record.to_dict(), ensure_ascii=False)
        if fmt == "json":
            out.write(",\n" if written else "\n")
        out.write(text)
        if fmt == "ndjson":
            out.write("\n")
        written += 1
    if fmt == "json":
        out.write("\n]\n" if written else "]\n")
    return written


def write_file(conn: sqlite3.Connection, flt: ReportFilter, fmt: str, path: Path) -> int:
    """Write to ``path``, created with mode 0600 (exports hold task ids, paths, costs): into a private
    temporary file beside it, renamed over ``path`` only when complete."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            written = write(conn, flt, fmt, out)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return written
