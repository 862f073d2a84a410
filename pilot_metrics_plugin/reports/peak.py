"""``pilot metrics peak``: executions by local hour of day and weekday, a 7 x 24 grid (Monday first).

The local hour is computed in SQL from the zone's offset changes over the range
(``timezones.local_ms_sql``), so an execution at 23:30 on the night clocks go back is at hour 23 of its own
day. One aggregate over the range, grouped by the hour of the week.
"""

from __future__ import annotations

import calendar
import sqlite3
from typing import Any

from pilot_metrics_plugin.reports import render
from pilot_metrics_plugin.reports.query import ReportFilter
from pilot_metrics_plugin.reports.timezones import HOUR_MS, range_local_ms_sql

WEEKDAYS = tuple(calendar.day_name)  # Monday first, as datetime.weekday() counts
_EPOCH_WEEKDAY = 3
"""1970-01-01 was a Thursday."""


def build(conn: sqlite3.Connection, flt: ReportFilter) -> dict[str, Any]:
    assert flt.start_ms is not None and flt.end_ms is not None
    where, params = flt.where()
    local, local_params = range_local_ms_sql(conn, flt.zone, flt.start_ms, flt.end_ms)
    hours_per_week = 7 * 24
    sql = (
        f"SELECT ({local} / {HOUR_MS} + {_EPOCH_WEEKDAY * 24}) % {hours_per_week} AS hour_of_week, COUNT(*) "
        f"FROM executions WHERE {where} GROUP BY hour_of_week"
    )
    grid = [[0] * 24 for _ in range(7)]
    for hour_of_week, n in conn.execute(sql, [*local_params, *params]):
        grid[hour_of_week // 24][hour_of_week % 24] = n
    by_hour = [sum(grid[day][hour] for day in range(7)) for hour in range(24)]
    by_weekday = [sum(hours) for hours in grid]
    executions = sum(by_weekday)
    return {
        **flt.to_json(),
        "executions": executions,
        "by_hour": by_hour,
        "by_weekday": by_weekday,
        "grid": grid,
        "weekdays": list(WEEKDAYS),
        "peak_hour": by_hour.index(max(by_hour)) if executions else None,
        "peak_weekday": WEEKDAYS[by_weekday.index(max(by_weekday))] if executions else None,
    }


def render_table(doc: dict[str, Any], style: str) -> str:
    """Hours down, weekdays across (a 24 x 7 grid reads on any terminal), a bar of each hour's total."""

    def cell(n: int) -> str:
        return f"{n:,}" if n else "."

    largest = max(doc["by_hour"])
    lines = [
        [
            f"{hour:02d}",
            *(cell(doc["grid"][day][hour]) for day in range(7)),
            cell(doc["by_hour"][hour]),
            render.bar(doc["by_hour"][hour], largest),
        ]
        for hour in range(24)
    ]
    lines.append(["total", *map(cell, doc["by_weekday"]), cell(doc["executions"]), ""])
    headers = ["hour", *(day[:3] for day in doc["weekdays"]), "total", ""]
    table = render.table(lines, headers, style, colalign=["left"] + ["right"] * 8 + ["left"])
    peak = (
        f"busiest hour {doc['peak_hour']:02d}:00-{doc['peak_hour']:02d}:59, "
        f"busiest day {doc['peak_weekday']} ({doc['tz']})"
    )
    return f"{table}\n\n{peak}"
