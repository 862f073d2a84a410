"""``pilot metrics sla``: per week or month and per project, the success rate and the p95 duration against
their targets, met or missed, with the executions that broke a target.

- Success rate: succeeded / finished (running executions are not counted); met when at least the target.
- p95: the nearest-rank 95th percentile (see ``summary``) of the finished executions' durations, failed
  ones included (a timed-out run is a slow run); met when at most the target.
- A row is ``met`` when both are; ``met`` is ``None`` (pending) while nothing of it has finished.
- The executions that broke a target, listed whether the row met it or not: ``failed_executions`` (finished
  without succeeding) and ``slow_executions`` (finished, and longer than the p95 target).

Targets, each one on its own, from the first of: the command line (``--target-success``, ``--target-p95``,
for every project), ``[sla.projects."NAME"]`` in the config, ``[sla]`` in the config, the defaults (0.95 and
30 minutes). Each row and each project says which.

Rows exist for each period and project with at least one execution; periods are local weeks (ISO, Monday
first) or months, cut to the range, newest first, projects by name within a period. Each period is three
statements over the range between two local midnights: counts grouped by project, the p95 of each project
by a window, and the breaking executions joined to the projects' targets.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pilot_metrics_plugin.config import SlaConfig
from pilot_metrics_plugin.reports import render
from pilot_metrics_plugin.reports.periods import _label, periods
from pilot_metrics_plugin.reports.query import FAILED_STATUSES, ReportFilter
from pilot_metrics_plugin.reports.timezones import local_datetime, local_midnight_ms
from pilot_metrics_plugin.reports.totals import ratio

DEFAULT_SUCCESS_RATE = 0.95
DEFAULT_DURATION_P95_MS = 30 * 60 * 1000
SLA_PERIODS = ("week", "month")
TASKS_SHOWN = 5
"""Task ids a table cell lists before ``+N more`` (the JSON lists every execution)."""


@dataclass(frozen=True)
class Targets:
    """One project's targets, and where each came from (an option or a config key, or ``default``)."""

    success_rate: float
    duration_p95_ms: int
    success_rate_from: str
    duration_p95_from: str

    def to_json(self) -> dict[str, Any]:
        return {
            "success_rate": self.success_rate,
            "duration_p95_ms": self.duration_p95_ms,
            "success_rate_from": self.success_rate_from,
            "duration_p95_from": self.duration_p95_from,
        }


def resolve_targets(
    config: SlaConfig, project: str, *, success_rate: float | None = None, duration_p95_ms: int | None = None
) -> Targets:
    """The targets of ``project``: the command line's, else the project's config, else ``[sla]``, else the
    defaults, for each target on its own."""
    own = config.projects.get(project)
    success = [
        (success_rate, "--target-success"),
        (own.success_rate if own else None, f"sla.projects.{project}"),
        (config.defaults.success_rate, "sla"),
        (DEFAULT_SUCCESS_RATE, "default"),
    ]
    p95 = [
        (duration_p95_ms, "--target-p95"),
        (own.duration_p95_ms if own else None, f"sla.projects.{project}"),
        (config.defaults.duration_p95_ms, "sla"),
        (DEFAULT_DURATION_P95_MS, "default"),
    ]
    success_value, success_from = next((v, source) for v, source in success if v is not None)
    p95_value, p95_from = next((v, source) for v, source in p95 if v is not None)
    return Targets(float(success_value), int(p95_value), success_from, p95_from)


_FAILING = ", ".join(f"'{status}'" for status in FAILED_STATUSES)


def _projects(conn: sqlite3.Connection, flt: ReportFilter) -> list[str]:
    if flt.projects:
        return sorted(flt.projects)
    where, params = flt.where()
    return [
        name for (name,) in conn.execute(f"SELECT DISTINCT project FROM executions WHERE {where}", params)
    ]


def _period_rows(
    conn: sqlite3.Connection, flt: ReportFilter, start_ms: int, end_ms: int, targets: dict[str, Targets]
) -> dict[str, dict[str, Any]]:
    """Each project's numbers in one period, with its breaking executions."""
    where, params = flt.where(start_ms, end_ms)
    counts = conn.execute(
        "SELECT project, COUNT(*), COUNT(*) FILTER (WHERE status = 'succeeded'), "
        f"COUNT(*) FILTER (WHERE status = 'running') FROM executions WHERE {where} GROUP BY project",
        params,
    ).fetchall()
    # The k-th shortest finished duration of each project, for k = ceil(95 n / 100).
    p95s = dict(
        conn.execute(
            f"""
            SELECT project, MAX(duration_ms) FILTER (WHERE position = (95 * n + 99) / 100) FROM (
                SELECT project, duration_ms,
                       ROW_NUMBER() OVER (PARTITION BY project ORDER BY duration_ms) AS position,
                       COUNT(*) OVER (PARTITION BY project) AS n
                FROM executions
                WHERE {where} AND status <> 'running' AND duration_ms IS NOT NULL
            ) GROUP BY project
            """,
            params,
        ).fetchall()
    )
    values = ", ".join("(?, ?)" for _ in targets)
    target_params = [value for project, t in targets.items() for value in (project, t.duration_p95_ms)]
    where_e, params_e = flt.where(start_ms, end_ms, alias="e")
    breaking = conn.execute(
        f"""
        WITH targets (project, duration_p95_ms) AS (VALUES {values})
        SELECT e.project, e.task_id, e.execution_id, e.status, e.duration_ms, e.started_at_ms,
               e.status IN ({_FAILING}), e.duration_ms > t.duration_p95_ms
        FROM executions e JOIN targets t ON t.project = e.project
        WHERE {where_e} AND e.status <> 'running'
          AND (e.status IN ({_FAILING}) OR e.duration_ms > t.duration_p95_ms)
        ORDER BY e.started_at_ms, e.execution_id
        """,
        [*target_params, *params_e],
    ).fetchall()
    rows: dict[str, dict[str, Any]] = {}
    for project, executions, succeeded, running in counts:
        if project not in targets:
            continue
        rows[project] = _row(project, executions, succeeded, running, p95s.get(project), targets[project])
    for project, task_id, execution_id, status, duration_ms, started_ms, failed, slow in breaking:
        entry = {
            "task_id": task_id,
            "execution_id": execution_id,
            "status": status,
            "started_at": local_datetime(started_ms, flt.zone).isoformat(timespec="seconds"),
            "duration_ms": duration_ms,
        }
        if failed:
            rows[project]["failed_executions"].append(entry)
        if slow:
            rows[project]["slow_executions"].append(entry)
    return rows


def _row(
    project: str, executions: int, succeeded: int, running: int, p95_ms: int | None, targets: Targets
) -> dict[str, Any]:
    finished = executions - running
    success_rate = ratio(succeeded, finished)
    success_met = None if success_rate is None else success_rate >= targets.success_rate
    duration_met = None if p95_ms is None else p95_ms <= targets.duration_p95_ms
    met = None if success_met is None or duration_met is None else success_met and duration_met
    return {
        "project": project,
        "executions": executions,
        "finished": finished,
        "succeeded": succeeded,
        "failed": finished - succeeded,
        "running": running,
        "success_rate": success_rate,
        "target_success_rate": targets.success_rate,
        "success_met": success_met,
        "duration_p95_ms": p95_ms,
        "target_duration_p95_ms": targets.duration_p95_ms,
        "duration_met": duration_met,
        "met": met,
        "failed_executions": [],
        "slow_executions": [],
    }


def build(
    conn: sqlite3.Connection,
    flt: ReportFilter,
    period: str,
    config: SlaConfig,
    *,
    success_rate: float | None = None,
    duration_p95_ms: int | None = None,
) -> dict[str, Any]:
    """The SLA document; ``success_rate`` / ``duration_p95_ms``: the command line's targets, if given."""
    assert flt.since is not None and flt.until is not None and period in SLA_PERIODS
    targets = {
        project: resolve_targets(config, project, success_rate=success_rate, duration_p95_ms=duration_p95_ms)
        for project in _projects(conn, flt)
    }
    rows: list[dict[str, Any]] = []
    if targets:
        for start, first, last in periods(flt.since, flt.until, period):
            found = _period_rows(
                conn,
                flt,
                local_midnight_ms(first, flt.zone),
                local_midnight_ms(last + timedelta(days=1), flt.zone),
                targets,
            )
            label = {**_label(start, period), "start": first.isoformat(), "end": last.isoformat()}
            rows += [{**label, **found[project]} for project in sorted(found)]
    rows.sort(key=lambda row: row["date"], reverse=True)  # stable: projects stay in name order

    def tally(selected: list[dict[str, Any]]) -> dict[str, int]:
        return {
            "periods": len(selected),
            "met": sum(1 for row in selected if row["met"] is True),
            "missed": sum(1 for row in selected if row["met"] is False),
            "pending": sum(1 for row in selected if row["met"] is None),
        }

    projects = [
        {
            "project": project,
            "targets": t.to_json(),
            **tally([row for row in rows if row["project"] == project]),
        }
        for project, t in sorted(targets.items())
    ]
    return {
        **flt.to_json(),
        "period": period,
        "filters": {"projects": list(flt.projects), "model": flt.model, "statuses": list(flt.statuses)},
        "projects": projects,
        "rows": rows,
        "total": {"projects": len(projects), **tally(rows)},
    }


def _tasks(executions: list[dict[str, Any]]) -> str:
    ids = list(dict.fromkeys(e["task_id"] for e in executions))
    shown = ", ".join(ids[:TASKS_SHOWN])
    return shown + (f" +{len(ids) - TASKS_SHOWN} more" if len(ids) > TASKS_SHOWN else "")


def verdict(row: dict[str, Any]) -> str:
    """``met``, ``missed: success``, ``missed: p95``, ``missed: success, p95`` or ``pending``."""
    if row["met"] is None:
        return "pending"
    if row["met"]:
        return "met"
    missed = [name for name, ok in (("success", row["success_met"]), ("p95", row["duration_met"])) if not ok]
    return "missed: " + ", ".join(missed)


def render_table(doc: dict[str, Any], style: str) -> str:
    period = doc["period"]
    key = "week" if period == "week" else "month"
    lines = [
        [
            row[key],
            row["project"],
            render.count(row["finished"]) + (f" (+{row['running']} running)" if row["running"] else ""),
            render.rate(row["success_rate"]),
            f">= {render.rate(row['target_success_rate'])}",
            render.ms(row["duration_p95_ms"]),
            f"<= {render.ms(row['target_duration_p95_ms'])}",
            verdict(row),
            _tasks(row["failed_executions"]),
            _tasks(row["slow_executions"]),
        ]
        for row in doc["rows"]
    ]
    headers = [
        key,
        "project",
        "finished",
        "success",
        "target",
        "p95",
        "target",
        "SLA",
        "failed tasks",
        "slower than target",
    ]
    table = render.table(
        lines,
        headers,
        style,
        colalign=["left", "left", "right", "right", "right", "right", "right", "left", "left", "left"],
    )
    plural = f"{period}s"
    summary = [
        f"{p['project']}: {p['met']} of {p['periods']} {plural if p['periods'] != 1 else period} met"
        + (f", {p['pending']} pending" if p["pending"] else "")
        + f" (success >= {render.rate(p['targets']['success_rate'])} "
        f"from {p['targets']['success_rate_from']}, "
        f"p95 <= {render.ms(p['targets']['duration_p95_ms'])} from {p['targets']['duration_p95_from']})"
        for p in doc["projects"]
    ]
    return table + "\n\n" + "\n".join(summary)
