"""``pilot metrics projects | models | phases | failures``: the range broken down by one key.

- projects: each project is one aggregate over the ``(project, started_at_ms, ...)`` covering index, so
  the range is read once and never sorted; the project names come from skipping along that index.
- models: ``execution_models`` rows of the filtered executions, grouped by model. An execution served by
  two models counts once under each; the total's ``executions`` counts each filtered execution once. Model
  rows lie in their execution's start order (m003): the range is one stretch of the table, joined to the
  executions only for a project or status filter.
- phases: phase occurrences of the filtered *finished* executions (a running one's phases are partial),
  one stretch of the ``phases`` table like the model rows (the running executions are the few rows of
  ``executions_running``). ``executions`` counts each phase's first occurrence in an execution. p95 is the
  nearest-rank percentile (see ``summary``): the (n - k + 1)-th longest, by a bounded sort of each phase's
  occurrences in the range. ``share`` is the phase's total time over the total duration of the executions
  that recorded phases.
- failures: finished executions that did not succeed, by ``failure_category`` (``unknown`` when none was
  stored), with each category's most frequent reasons and the tasks that failed last.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

from pilot_metrics_plugin.record import nano_to_usd_number
from pilot_metrics_plugin.reports import hourly, render
from pilot_metrics_plugin.reports.query import FAILED_STATUSES, ReportFilter
from pilot_metrics_plugin.reports.timezones import local_datetime
from pilot_metrics_plugin.reports.totals import (
    COUNTS_SQL,
    Counts,
    nearest_rank,
    ratio,
    rounded_mean,
)

LATEST_TASKS = 3
"""How many of the latest failed task ids a failure category or reason lists."""

_JOIN_EXECUTION = (
    " JOIN executions e ON e.started_at_ms = {child}.execution_started_at_ms "
    "AND e.execution_id = {child}.execution_id"
)
"""A model or phase row's execution, found in start order (through the report index on ``started_at_ms``)."""


def _execution_start_range(alias: str, flt: ReportFilter) -> tuple[list[str], list[Any]]:
    """The range as terms on a child table's ``execution_started_at_ms``."""
    terms: list[str] = []
    params: list[Any] = []
    if flt.start_ms is not None:
        terms.append(f"{alias}.execution_started_at_ms >= ?")
        params.append(flt.start_ms)
    if flt.end_ms is not None:
        terms.append(f"{alias}.execution_started_at_ms < ?")
        params.append(flt.end_ms)
    return terms, params


# -- projects --------------------------------------------------------------------------------------------


def _project_names(conn: sqlite3.Connection) -> list[str]:
    names: list[str] = []
    name = conn.execute("SELECT MIN(project) FROM executions").fetchone()[0]
    while name is not None:
        names.append(name)
        name = conn.execute("SELECT MIN(project) FROM executions WHERE project > ?", (name,)).fetchone()[0]
    return names


def build_projects(conn: sqlite3.Connection, flt: ReportFilter, limit: int | None) -> dict[str, Any]:
    where, params = flt.where()
    sql = f"SELECT {COUNTS_SQL}, MAX(started_at_ms) FROM executions WHERE project = ? AND {where}"
    found: list[tuple[str, Counts, int]] = []
    for project in flt.projects or _project_names(conn):
        *numbers, last_ms = conn.execute(sql, [project, *params]).fetchone()
        counts = Counts.from_row(tuple(numbers))
        if counts.executions:
            found.append((project, counts, last_ms))
    found.sort(key=lambda item: (-item[1].executions, -item[1].cost_nano_usd, item[0]))
    total = Counts()
    for _, counts, _ in found:
        total += counts
    shown = found if limit is None else found[:limit]
    rows = [
        {
            "project": project,
            **counts.to_json(),
            "last_started_at": local_datetime(last_ms, flt.zone).isoformat(timespec="seconds"),
        }
        for project, counts, last_ms in shown
    ]
    last = max((last_ms for _, _, last_ms in found), default=None)
    return {
        **flt.to_json(),
        "rows": rows,
        "projects_not_shown": len(found) - len(shown),
        "total": {
            "projects": len(found),
            **total.to_json(),
            "last_started_at": None
            if last is None
            else local_datetime(last, flt.zone).isoformat(timespec="seconds"),
        },
    }


PROJECT_HEADERS = (
    "project",
    "executions",
    "succeeded",
    "failed",
    "success",
    "duration",
    "avg",
    "tokens",
    "cost",
    "last started",
)
"""The columns of the projects table, here and on the dashboard."""


def project_cells(row: dict[str, Any]) -> list[str]:
    """The cells after the name of a project's row, or of the total, in the table and on the dashboard."""
    return [
        render.count(row["executions"]),
        render.count(row["succeeded"]),
        render.count(row["failed"]),
        render.rate(row["success_rate"]),
        render.ms(row["duration_ms"]),
        render.ms(row["duration_avg_ms"]),
        render.count(row["tokens_total"]),
        render.cost(row["cost_nano_usd"], row["cost_unknown_executions"]),
        (row["last_started_at"] or "-")[:16].replace("T", " "),
    ]


def render_projects(doc: dict[str, Any], style: str) -> str:
    lines = [[row["project"], *project_cells(row)] for row in doc["rows"]]
    if doc["projects_not_shown"]:
        lines.append([f"({doc['projects_not_shown']} more)"] + [""] * 9)
    lines.append([f"total ({doc['total']['projects']} projects)", *project_cells(doc["total"])])
    return render.table(lines, PROJECT_HEADERS, style, colalign=["left"] + ["right"] * 8 + ["left"])


# -- models ----------------------------------------------------------------------------------------------

_MODEL_AGGREGATES = """
    SUM(m.tokens_input), SUM(m.tokens_output), SUM(m.tokens_cache_read), SUM(m.tokens_cache_write),
    SUM(m.tokens_cache_write_1h), SUM(m.tokens_total),
    SUM(m.cost_nano_usd),
    SUM(m.cost_nano_usd) FILTER (WHERE m.cost_source = 'reported'),
    SUM(m.cost_nano_usd) FILTER (WHERE m.cost_source = 'estimated'),
    COUNT(*) FILTER (WHERE m.cost_source = 'reported'),
    COUNT(*) FILTER (WHERE m.cost_source = 'estimated')
"""


def _model_numbers(executions: int, values: list[int], unknown: int) -> dict[str, Any]:
    (
        tokens_input,
        tokens_output,
        cache_read,
        cache_write,
        cache_write_1h,
        tokens_total,
        cost,
        cost_reported,
        cost_estimated,
        n_reported,
        n_estimated,
    ) = values
    sources = [
        name for name, n in (("reported", n_reported), ("estimated", n_estimated), ("unknown", unknown)) if n
    ]
    return {
        "executions": executions,
        "tokens_input": tokens_input,
        "tokens_output": tokens_output,
        "tokens_cache_read": cache_read,
        "tokens_cache_write": cache_write,
        "tokens_cache_write_1h": cache_write_1h,
        "tokens_total": tokens_total,
        "cost_nano_usd": cost,
        "cost_usd": nano_to_usd_number(cost),
        "cost_reported_nano_usd": cost_reported,
        "cost_estimated_nano_usd": cost_estimated,
        "cost_unknown_executions": unknown,
        "cost_source": sources[0] if len(sources) == 1 else ("mixed" if sources else "unknown"),
    }


def model_rows(flt: ReportFilter) -> tuple[str, list[Any]]:
    """``FROM ... WHERE ...`` of the model rows of the filtered executions (alias ``m``), with its parameters:
    a stretch of ``execution_models``, joined to the executions (``e``) for a project or status filter;
    ``--model`` keeps only the matching models."""
    terms, params = _execution_start_range("m", flt)
    source = "execution_models m"
    if flt.projects or flt.statuses:
        source += _JOIN_EXECUTION.format(child="m")
        where, more = replace(flt.without_range(), model=None).where(alias="e")
        terms.append(where)
        params += more
    if flt.model is not None:
        terms.append("instr(m.model, ?) > 0")
        params.append(flt.model)
    return f"FROM {source} WHERE {' AND '.join(terms) or '1'}", params


def build_models(conn: sqlite3.Connection, flt: ReportFilter) -> dict[str, Any]:
    """Rows: one per model. Total: tokens and cost are the rows' sums; ``executions`` and
    ``cost_unknown_executions`` count the filtered executions themselves (with or without model usage),
    as ``summary`` does, since one execution can appear under several models."""
    rows_from, params = model_rows(flt)
    sql = (
        f"SELECT m.model, COUNT(*), COUNT(m.cost_nano_usd), {_MODEL_AGGREGATES} {rows_from} GROUP BY m.model"
    )
    rows = []
    sums = [0] * 11
    for model, executions, with_cost, *values in conn.execute(sql, params):
        numbers = [int(v or 0) for v in values]
        sums = [a + b for a, b in zip(sums, numbers, strict=True)]
        rows.append({"model": model, **_model_numbers(executions, numbers, executions - with_cost)})
    rows.sort(key=lambda row: (-row["cost_nano_usd"], -row["tokens_total"], row["model"]))
    totals = ("executions", "running", "with_cost")
    if hourly.applies(flt) and flt.start_ms is not None and flt.end_ms is not None:
        spans = [(flt.start_ms, flt.end_ms)]
        ((executions, running, with_cost),) = hourly.totals_by_span(conn, spans, totals)
    else:
        where, params = flt.where()
        executions, running, with_cost = conn.execute(hourly.rows_sql(totals, where), params).fetchone()
    unknown = executions - running - with_cost  # a running row never carries a cost
    total = {"models": len(rows), **_model_numbers(executions, sums, unknown)}
    return {**flt.to_json(), "rows": rows, "total": total}


def render_models(doc: dict[str, Any], style: str) -> str:
    def numbers(row: dict[str, Any]) -> list[str]:
        return [
            render.count(row["executions"]),
            render.count(row["tokens_input"]),
            render.count(row["tokens_output"]),
            render.count(row["tokens_cache_read"]),
            render.count(row["tokens_cache_write"]),
            render.count(row["tokens_total"]),
            render.cost(row["cost_nano_usd"], row["cost_unknown_executions"]),
            row["cost_source"],
        ]

    lines = [[row["model"], *numbers(row)] for row in doc["rows"]]
    lines.append([f"total ({doc['total']['models']} models)", *numbers(doc["total"])])
    headers = [
        "model",
        "executions",
        "input",
        "output",
        "cache read",
        "cache write",
        "total tokens",
        "cost",
        "cost source",
    ]
    return render.table(lines, headers, style, colalign=["left"] + ["right"] * 7 + ["left"])


# -- phases ----------------------------------------------------------------------------------------------


def _finished_phases(flt: ReportFilter) -> tuple[str, list[Any]]:
    """``FROM ... WHERE ...`` of the phases of the filtered finished executions (alias ``p``), with its
    parameters: a stretch of ``phases`` less the running executions' (a handful), joined to the executions
    (``e``) only for a project, model or status filter."""
    terms, params = _execution_start_range("p", flt)
    source = "phases p"
    if flt.projects or flt.statuses or flt.model is not None:
        source += _JOIN_EXECUTION.format(child="p")
        where, more = flt.without_range().where(alias="e")
        terms += [where, "e.status <> 'running'"]
        params += more
    else:
        terms.append(
            "p.execution_id NOT IN (SELECT execution_id FROM executions INDEXED BY executions_running "
            "WHERE status = 'running')"
        )
    return f"FROM {source} WHERE {' AND '.join(terms)}", params


def build_phases(conn: sqlite3.Connection, flt: ReportFilter) -> dict[str, Any]:
    occurrences, params = _finished_phases(flt)
    # An execution's first occurrence of a phase: no earlier one of that name among its phases.
    first = (
        "NOT EXISTS (SELECT 1 FROM phases q WHERE q.execution_started_at_ms = p.execution_started_at_ms "
        "AND q.execution_id = p.execution_id AND q.seq < p.seq AND q.name = p.name)"
    )
    groups = conn.execute(
        f"SELECT p.name, COUNT(*), COUNT(*) FILTER (WHERE {first}), SUM(p.duration_ms) {occurrences} "
        "GROUP BY p.name",
        params,
    ).fetchall()
    where, params_e = flt.where(alias="e")
    execution_ms = conn.execute(
        f"SELECT SUM(e.duration_ms) FROM executions e WHERE {where} AND e.status <> 'running' AND EXISTS "
        "(SELECT 1 FROM phases p WHERE p.execution_started_at_ms = e.started_at_ms "
        "AND p.execution_id = e.execution_id)",
        params_e,
    ).fetchone()[0]
    execution_ms = execution_ms or 0
    p95s = _phase_p95s(conn, occurrences, params, [(name, n) for name, n, _, _ in groups])
    found = [(name, n, executions, int(total or 0), p95s[name]) for name, n, executions, total in groups]
    found.sort(key=lambda item: (-item[3], item[0]))
    rows = [
        {
            "phase": name,
            "occurrences": n,
            "executions": executions,
            "duration_ms": total,
            "duration_avg_ms": rounded_mean(total, n),
            "duration_p95_ms": p95,
            "share": ratio(total, execution_ms),
        }
        for name, n, executions, total, p95 in found
    ]
    phase_ms = sum(row["duration_ms"] for row in rows)
    total = {
        "phases": len(rows),
        "occurrences": sum(row["occurrences"] for row in rows),
        "duration_ms": phase_ms,
        "execution_duration_ms": execution_ms,
        "share": ratio(phase_ms, execution_ms),
    }
    return {**flt.to_json(), "rows": rows, "total": total}


def _phase_p95s(
    conn: sqlite3.Connection, occurrences: str, params: list[Any], counts: list[tuple[str, int]]
) -> dict[str, int]:
    """Each phase's p95: the (n - k + 1)-th longest of its n occurrences in the range, from the range's
    occurrences read once and the longest 5% of each phase kept by a bounded sort."""
    if not counts:
        return {}
    branch = (
        "SELECT * FROM (SELECT name, duration_ms FROM occurrences WHERE name = ? ORDER BY duration_ms DESC "
    )
    branch += "LIMIT 1 OFFSET ?)"
    sql = (
        "WITH occurrences AS MATERIALIZED (SELECT p.name AS name, p.duration_ms AS duration_ms "
        f"{occurrences}) " + " UNION ALL ".join([branch] * len(counts))
    )
    offsets = [value for name, n in counts for value in (name, n - nearest_rank(95, n))]
    return dict(conn.execute(sql, [*params, *offsets]).fetchall())


PHASE_HEADERS = ("phase", "occurrences", "executions", "total", "avg", "p95", "share of time")
"""The columns of the phases table, here and on the dashboard."""


def phase_cells(row: dict[str, Any]) -> list[str]:
    """A phase's row, in the table and on the dashboard."""
    return [
        row["phase"],
        render.count(row["occurrences"]),
        render.count(row["executions"]),
        render.ms(row["duration_ms"]),
        render.ms(row["duration_avg_ms"]),
        render.ms(row["duration_p95_ms"]),
        render.rate(row["share"]),
    ]


def phase_total_cells(total: dict[str, Any]) -> list[str]:
    return [
        "total",
        render.count(total["occurrences"]),
        "",
        render.ms(total["duration_ms"]),
        "",
        "",
        render.rate(total["share"]),
    ]


def render_phases(doc: dict[str, Any], style: str) -> str:
    lines = [*map(phase_cells, doc["rows"]), phase_total_cells(doc["total"])]
    return render.table(lines, PHASE_HEADERS, style, colalign=["left"] + ["right"] * 6)


# -- failures --------------------------------------------------------------------------------------------


def build_failures(conn: sqlite3.Connection, flt: ReportFilter, limit: int) -> dict[str, Any]:
    where, params = flt.where()
    failing = ", ".join(
        f"'{status}'" for status in FAILED_STATUSES
    )  # literal: lets SQLite use the partial index
    failures = f"""
        SELECT COALESCE(failure_category, 'unknown') AS category, COALESCE(failure_reason, '') AS reason,
               status, task_id, started_at_ms
        FROM executions
        WHERE status IN ({failing}) AND {where}
    """
    by_status = ", ".join(f"COUNT(*) FILTER (WHERE status = '{status}')" for status in FAILED_STATUSES)
    categories = conn.execute(
        f"SELECT category, COUNT(*), {by_status} FROM ({failures}) "
        "GROUP BY category ORDER BY COUNT(*) DESC, category",
        params,
    ).fetchall()
    reasons = conn.execute(
        f"""
        SELECT category, reason, n FROM (
            SELECT category, reason, COUNT(*) AS n,
                   ROW_NUMBER() OVER (
                       PARTITION BY category ORDER BY COUNT(*) DESC, MAX(started_at_ms) DESC, reason
                   ) AS position
            FROM ({failures}) GROUP BY category, reason
        ) WHERE position <= ? ORDER BY category, position
        """,
        [*params, limit],
    ).fetchall()
    tasks = _latest_tasks(
        conn, failures, params, {(c, r) for c, r, _ in reasons}, {c for c, *_ in categories}
    )
    failures_total = sum(row[1] for row in categories)
    rows = []
    for category, n, *counts in categories:
        rows.append(
            {
                "category": category,
                "executions": n,
                "share": ratio(n, failures_total),
                "failed_by_status": dict(zip(FAILED_STATUSES, counts, strict=True)),
                "latest_task_ids": tasks.get((category, None), []),
                "reasons": [
                    {
                        "reason": reason,
                        "executions": count,
                        "latest_task_ids": tasks.get((category, reason), []),
                    }
                    for reason_category, reason, count in reasons
                    if reason_category == category
                ],
            }
        )
    finished = conn.execute(
        f"SELECT COUNT(*) FROM executions WHERE status <> 'running' AND {where}", params
    ).fetchone()[0]
    total = {
        "executions": failures_total,
        "finished": finished,
        "failure_rate": ratio(failures_total, finished),
        "failed_by_status": {
            status: sum(row["failed_by_status"][status] for row in rows) for status in FAILED_STATUSES
        },
    }
    return {**flt.to_json(), "rows": rows, "total": total}


def _latest_tasks(
    conn: sqlite3.Connection,
    failures: str,
    params: list[Any],
    reasons: set[tuple[str, str]],
    categories: set[str],
) -> dict[tuple[str, str | None], list[str]]:
    """The last distinct failed task ids of each category (key ``(category, None)``) and each top reason.

    Reads the failures newest first (the partial index, backwards) and stops once every list is full, which
    is usually after the most recent few; it never reads more than the range's failures."""
    wanted = {(c, None) for c in categories} | reasons
    found: dict[tuple[str, str | None], list[str]] = {key: [] for key in wanted}
    open_keys = set(wanted)
    cursor = conn.execute(
        f"SELECT category, reason, task_id FROM ({failures}) ORDER BY started_at_ms DESC", params
    )
    for category, reason, task_id in cursor:
        for key in ((category, None), (category, reason)):
            if key in open_keys and task_id not in found[key]:
                found[key].append(task_id)
                if len(found[key]) == LATEST_TASKS:
                    open_keys.discard(key)
        if not open_keys:
            break
    cursor.close()
    return found


def reason_text(reason: str) -> str:
    """A stored failure reason on one line, in the table and on the dashboard."""
    return " ".join(reason.split()) or "(no reason stored)"


def render_failures(doc: dict[str, Any], style: str, reason_width: int = 60) -> str:
    lines = []
    for row in doc["rows"]:
        head = [row["category"], render.count(row["executions"]), render.rate(row["share"])]
        reasons = row["reasons"] or [
            {"reason": "", "executions": None, "latest_task_ids": row["latest_task_ids"]}
        ]
        for index, reason in enumerate(reasons):
            text = reason_text(reason["reason"])
            if len(text) > reason_width:
                text = text[: reason_width - 1] + "…"
            lines.append(
                (head if index == 0 else ["", "", ""])
                + [text, render.count(reason["executions"]), ", ".join(reason["latest_task_ids"])]
            )
    total = doc["total"]
    lines.append(
        [
            "total",
            render.count(total["executions"]),
            f"{render.rate(total['failure_rate'])} of {total['finished']:,} finished",
            "",
            "",
            "",
        ]
    )
    headers = ["category", "failures", "share", "top reasons", "count", "latest tasks"]
    return render.table(lines, headers, style, colalign=["left", "right", "right", "left", "right", "left"])
