"""``pilot metrics export``: one record per execution, streamed, as JSON, NDJSON or CSV.

Records have exactly the keys and values of ``ExecutionRecord.to_dict()`` (the shape of ``show --json``),
oldest first. SQLite writes each line: one statement reads the executions in start order and renders each
as a JSON object or a CSV line (``printf``, ``json_quote``, ``strftime``), the record's phases and models
coming from the JSON the store keeps with a finished execution (m003; built from their rows for one still
running). Python only copies the lines, as bytes, to the output: memory stays flat for any number of rows.

JSON is compact (no spaces). Times are ISO 8601 UTC with milliseconds (``2026-11-01T06:30:00.000+00:00``);
``cost_usd`` is ``cost_nano_usd / 10**9`` written as Python writes that float.

CSV: one column per record key, in the same order. Lists and objects (``agent_command``, ``models``,
``phases``, ``tool_calls``, ``files_read``, ``files_written``, ``commit_shas``) are JSON text in their
cell; per-model and per-phase figures stay in those JSON cells, the execution's own token and cost columns
are plain numbers. Empty for null, ``true``/``false`` for booleans. A text cell that begins with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so that no spreadsheet runs it as a
formula; numbers are left alone. Cells are quoted as Python's ``csv`` module quotes them (only those with a
comma, a double quote or a line break), lines end with CRLF.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from pilot_metrics_plugin.private_file import private_file
from pilot_metrics_plugin.reports.query import ReportFilter
from pilot_metrics_plugin.store import EXECUTION_COLUMNS, record_from_row

EXPORT_FORMATS = ("json", "ndjson", "csv")
FETCH_ROWS = 64
"""Lines read from SQLite at a time."""
WRITE_BUFFER_BYTES = 1 << 16

_ISO = "strftime('%Y-%m-%dT%H:%M:%f+00:00', {ms} / 1000.0, 'unixepoch')"
"""``record.ms_to_iso``: SQLite rounds the seconds back to the exact millisecond."""
_USD = (
    "CASE WHEN {nano} IS NULL THEN NULL WHEN {nano} = 0 THEN '0.0' "
    # From 0.0001 to a million dollars Python's repr is SQLite's 15 digits: the common case, cheaply.
    "WHEN abs({nano}) BETWEEN 100000 AND 999999999999999 THEN printf('%!.15g', {nano} / 1000000000.0) "
    "WHEN abs({nano}) < 100000 THEN CASE WHEN {nano} < 0 THEN '-' ELSE '' END "
    "|| substr(rtrim(abs({nano}), '0'), 1, 1) "
    "|| CASE WHEN length(rtrim(abs({nano}), '0')) > 1 "
    "THEN '.' || substr(rtrim(abs({nano}), '0'), 2) ELSE '' END "
    "|| 'e-' || printf('%02d', 10 - length(abs({nano}))) "
    "ELSE CASE WHEN {nano} < 0 THEN '-' ELSE '' END || (abs({nano}) / 1000000000) || '.' "
    "|| ifnull(nullif(rtrim(printf('%09d', abs({nano}) % 1000000000), '0'), ''), '0') END"
)
"""``record.nano_to_usd_number`` as JSON text: ``nano / 10**9`` as Python's ``repr`` writes that float
(``0.0``, ``1.5``, ``5e-06``), the very same text below a million dollars; above, the exact decimal, which
parses back to the same float."""
_PHASES = (
    "(SELECT json_group_array(json_object('name', q.name, 'started_at', "
    + _ISO.format(ms="q.started_at_ms")
    + ", 'ended_at', "
    + _ISO.format(ms="q.ended_at_ms")
    + ", 'duration_ms', q.duration_ms)) "
    "FROM (SELECT * FROM phases q WHERE q.execution_started_at_ms = e.started_at_ms "
    "AND q.execution_id = e.execution_id ORDER BY q.seq) q)"
)
"""An execution's phases as the store keeps them, from its phase rows (for one still running)."""
_MODELS = (
    "(SELECT json_group_array(json_object('model', m.model, 'tokens_input', m.tokens_input, "
    "'tokens_output', m.tokens_output, 'tokens_cache_read', m.tokens_cache_read, "
    "'tokens_cache_write', m.tokens_cache_write, 'tokens_cache_write_1h', m.tokens_cache_write_1h, "
    "'tokens_total', m.tokens_total, 'cost_nano_usd', m.cost_nano_usd, 'cost_usd', json("
    + _USD.format(nano="m.cost_nano_usd")
    + "), 'cost_source', m.cost_source)) "
    "FROM (SELECT * FROM execution_models m WHERE m.execution_started_at_ms = e.started_at_ms "
    "AND m.execution_id = e.execution_id ORDER BY m.model) m)"
)
"""An execution's models as the store keeps them, from its model rows (for one without the stored form:
running, or repriced since)."""

_ONE_PLAIN_STRING = (
    "instr({v}, ',') = 0 AND instr({v}, '\\') = 0 AND substr({v}, 1, 2) = '[\"' AND substr({v}, -2) = '\"]'"
)
"""A JSON array of one string without a backslash (so without an escape) and without a comma."""
_LAST_COMMIT_JSON = (
    "CASE WHEN {v} IN ('[]', '') THEN 'null' "
    "WHEN " + _ONE_PLAIN_STRING + " THEN substr({v}, 2, length({v}) - 2) "
    "ELSE json_quote(json_extract({v}, '$[#-1]')) END"
)
"""``record.commit_sha`` (the last of ``commit_shas``) as JSON: the inside of a one-string array, cheaply."""
_LAST_COMMIT = (
    "CASE WHEN {v} IN ('[]', '') THEN NULL "
    "WHEN " + _ONE_PLAIN_STRING + " THEN substr({v}, 3, length({v}) - 4) "
    "ELSE json_extract({v}, '$[#-1]') END"
)
"""``record.commit_sha`` as text (NULL for none)."""

_FIELDS = (
    # record key, kind, SQL of the value: kind "text" (NULL allowed), "json" (JSON text), "number" (NULL
    # allowed), "count" (never NULL), "time" (ISO text, NULL allowed), "bool" ('true' / 'false'), "last
    # commit" (of the JSON array of commits)
    ("execution_id", "text", "e.execution_id"),
    ("task_id", "text", "e.task_id"),
    ("project", "text", "e.project"),
    ("project_path", "text", "e.project_path"),
    ("agent_command", "json", "ifnull(nullif(e.agent_command, ''), '[]')"),
    ("model_requested", "text", "e.model_requested"),
    ("status", "text", "e.status"),
    ("failure_category", "text", "e.failure_category"),
    ("failure_reason", "text", "e.failure_reason"),
    ("exit_code", "number", "e.exit_code"),
    ("started_at", "time", _ISO.format(ms="e.started_at_ms")),
    ("ended_at", "time", _ISO.format(ms="e.ended_at_ms")),
    ("duration_ms", "number", "e.duration_ms"),
    ("num_turns", "number", "e.num_turns"),
    ("tokens_input", "count", "e.tokens_input"),
    ("tokens_output", "count", "e.tokens_output"),
    ("tokens_cache_read", "count", "e.tokens_cache_read"),
    ("tokens_cache_write", "count", "e.tokens_cache_write"),
    ("tokens_cache_write_1h", "count", "e.tokens_cache_write_1h"),
    ("tokens_total", "count", "e.tokens_total"),
    ("cost_nano_usd", "number", "e.cost_nano_usd"),
    ("cost_usd", "number", _USD.format(nano="e.cost_nano_usd")),
    ("cost_source", "text", "e.cost_source"),
    ("reported_cost_nano_usd", "number", "e.reported_cost_nano_usd"),
    ("price_table_version", "text", "e.price_table_version"),
    ("models", "json", f"ifnull(e.models_json, {_MODELS})"),
    ("phases", "json", f"ifnull(e.phases_json, {_PHASES})"),
    ("tool_calls", "json", "ifnull(nullif(e.tool_calls, ''), '{}')"),
    ("files_read", "json", "ifnull(nullif(e.files_read, ''), '[]')"),
    ("files_written", "json", "ifnull(nullif(e.files_written, ''), '[]')"),
    ("files_changed", "number", "e.files_changed"),
    ("lines_added", "number", "e.lines_added"),
    ("lines_removed", "number", "e.lines_removed"),
    ("commit_sha", "last commit", "e.commit_shas"),
    ("commit_shas", "json", "ifnull(nullif(e.commit_shas, ''), '[]')"),
    ("pr_url", "text", "e.pr_url"),
    ("malformed_lines", "count", "e.malformed_lines"),
    ("usage_complete", "bool", "CASE WHEN e.usage_complete THEN 'true' ELSE 'false' END"),
    ("source_key", "text", "e.source_key"),
)

_JSON_VALUE = {
    # kind -> how the value's SQL {v} becomes its JSON text
    "last commit": _LAST_COMMIT_JSON,
    "text": "json_quote({v})",
    "json": "{v}",
    "number": "ifnull({v}, 'null')",
    "count": "{v}",
    "time": "json_quote({v})",
    "bool": "{v}",
}
_FORMULA_STARTS = "('=', '+', '-', '@', char(9), char(13))"
_NEEDS_QUOTES = "instr({v}, ',') OR instr({v}, '\"') OR instr({v}, char(10)) OR instr({v}, char(13))"
"""A comma, a double quote or a line break anywhere in ``{v}`` (``instr`` finds them faster than a GLOB)."""


def _csv_cell(kind: str, sql: str) -> str:
    """A field's CSV cell: text neutralized (a leading ``'`` where a spreadsheet would see a formula), then
    quoted as Python's csv module quotes: only a cell with a comma, a double quote or a line break, its
    quotes doubled (the ``'`` adds none, so the check reads the value as it is). NULL stays NULL (``printf``
    writes it as an empty cell). The value's SQL is repeated: for a column that is cheaper than a subquery
    computing it once; the computed ones (the last commit; the phases and models of a running execution)
    are cheap in the common case."""
    if kind == "last commit":
        return _csv_cell("text", _LAST_COMMIT.format(v=sql))
    if kind not in ("text", "json"):
        return sql
    value = sql
    if kind == "text":
        value = f"CASE WHEN substr({sql}, 1, 1) IN {_FORMULA_STARTS} THEN '''' || {sql} ELSE {sql} END"
    return f"CASE WHEN {_NEEDS_QUOTES.format(v=sql)} THEN printf('\"%w\"', {value}) ELSE {value} END"


def record_keys() -> list[str]:
    """The keys of every exported record, in order (those of ``ExecutionRecord.to_dict``)."""
    empty = record_from_row(dict.fromkeys(EXECUTION_COLUMNS), (), ())
    return list(empty.to_dict())


def _line_sql(fmt: str, where: str) -> str:
    """One line (newline included) per execution that ``where`` selects, oldest first."""
    if fmt == "csv":
        template = ",".join(["%s"] * len(_FIELDS)) + "\r\n"
        cells = []
        for _, kind, sql in _FIELDS:
            cells.append(_csv_cell(kind, sql))
        return (
            f"SELECT printf('{template}', {', '.join(cells)}) FROM executions e WHERE {where} "
            "ORDER BY e.started_at_ms"
        )
    template = "{" + ",".join(f'"{key}":%s' for key, _, _ in _FIELDS) + "}\n"
    values = ", ".join(_JSON_VALUE[kind].format(v=sql) for _, kind, sql in _FIELDS)
    return f"SELECT printf('{template}', {values}) FROM executions e WHERE {where} ORDER BY e.started_at_ms"


def lines(conn: sqlite3.Connection, flt: ReportFilter, fmt: str) -> Iterator[list[bytes]]:
    """The filtered executions, oldest first, one rendered line each (UTF-8 bytes, newline included), a
    list of them at a time."""
    where, params = flt.where(alias="e")
    text_factory = conn.text_factory
    conn.text_factory = bytes  # the lines go out as SQLite has them, never decoded
    try:
        cursor = conn.execute(_line_sql(fmt, where), params)
        while rows := cursor.fetchmany(FETCH_ROWS):
            yield [row[0] for row in rows]
    finally:
        conn.text_factory = text_factory


def write(conn: sqlite3.Connection, flt: ReportFilter, fmt: str, out: IO[str]) -> int:
    """Write the records to ``out`` in ``fmt``; returns how many. The bytes go to ``out.buffer`` when it
    has one (a file, stdout), else they are decoded for ``out``."""
    binary = getattr(out, "buffer", None)
    if binary is None:
        return _write(conn, flt, fmt, lambda data: out.write(data.decode("utf-8")))
    out.flush()
    written = _write(conn, flt, fmt, binary.write)
    binary.flush()
    return written


def _write(conn: sqlite3.Connection, flt: ReportFilter, fmt: str, emit: Callable[[bytes], object]) -> int:
    written = 0
    if fmt == "csv":
        emit((",".join(record_keys()) + "\r\n").encode())
    elif fmt == "json":
        emit(b"[")
    for batch in lines(conn, flt, fmt):
        if fmt == "json":  # the records of an array: "[\n" record ",\n" record ... "\n]\n"
            emit((b",\n" if written else b"\n") + b",\n".join([line[:-1] for line in batch]))
        else:
            emit(b"".join(batch))
        written += len(batch)
    if fmt == "json":
        emit(b"\n]\n" if written else b"]\n")
    return written


def write_file(conn: sqlite3.Connection, flt: ReportFilter, fmt: str, path: Path) -> int:
    """Write to ``path`` (``private_file``: mode 0600, replaced only when complete)."""
    with private_file(path, WRITE_BUFFER_BYTES) as out:
        return _write(conn, flt, fmt, out.write)
