"""``pilot metrics daily | weekly | monthly``: one row per local day, ISO week (Monday first) or month.

Each period is the range of ``started_at_ms`` between two local midnights (``timezones.local_midnight_ms``),
so a day of 23 or 25 hours is exact. Without a project, model or status filter the periods are summed from
the hourly rollup in one pass (``hourly``: local midnights fall on whole UTC hours in most zones); with one,
each is one aggregate over the covering index: one pass over the range in all, no sort. Periods without
executions are zero rows, so gaps show. The first and last period are cut to ``--since`` / ``--until``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from pilot_metrics_plugin.reports import hourly, render
from pilot_metrics_plugin.reports.query import ReportFilter
from pilot_metrics_plugin.reports.timezones import local_midnight_ms
from pilot_metrics_plugin.reports.totals import COUNTS, COUNTS_SQL, Counts


def _period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _next_start(start: date, period: str) -> date:
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start + timedelta(days=1)


def periods(since: date, until: date, period: str) -> Iterator[tuple[date, date, date]]:
    """``(period_start, first_day, last_day)``, oldest first; first and last day cut to the range."""
    start = _period_start(since, period)
    while start <= until:
        following = _next_start(start, period)
        yield start, max(start, since), min(following - timedelta(days=1), until)
        start = following


def _label(start: date, period: str) -> dict[str, Any]:
    if period == "week":
        year, week, _ = start.isocalendar()
        return {"week": f"{year}-W{week:02d}", "date": start.isoformat()}
    if period == "month":
        return {"month": f"{start.year}-{start.month:02d}", "date": start.isoformat()}
    return {"date": start.isoformat()}


def build(conn: sqlite3.Connection, flt: ReportFilter, period: str) -> dict[str, Any]:
    assert flt.since is not None and flt.until is not None
    rows: list[dict[str, Any]] = []
    total = Counts()
    found = list(periods(flt.since, flt.until, period))
    spans = [
        (local_midnight_ms(first, flt.zone), local_midnight_ms(last + timedelta(days=1), flt.zone))
        for _, first, last in found
    ]
    if hourly.applies(flt):
        counted = [Counts(*values) for values in hourly.totals_by_span(conn, spans, COUNTS)]
    else:
        counted = []
        for start_ms, end_ms in spans:
            where, params = flt.where(start_ms, end_ms)
            sql = f"SELECT {COUNTS_SQL} FROM executions WHERE {where}"
            counted.append(Counts.from_row(conn.execute(sql, params).fetchone()))
    for (start, first, last), counts in zip(found, counted, strict=True):
        total += counts
        row = _label(start, period)
        if period != "day":
            row.update(start=first.isoformat(), end=last.isoformat())
        row.update(counts.to_json())
        rows.append(row)
    rows.reverse()
    return {**flt.to_json(), "period": period, "rows": rows, "total": total.to_json()}


_KEY_HEADERS = {"day": ("date",), "week": ("week", "from"), "month": ("month",)}


def render_table(doc: dict[str, Any], style: str) -> str:
    period = doc["period"]
    by_cost = doc["total"]["cost_nano_usd"] > 0
    measure = "cost_nano_usd" if by_cost else "executions"
    largest = max((row[measure] for row in doc["rows"]), default=0)

    def key(row: dict[str, Any]) -> list[str]:
        if period == "week":
            return [row["week"], row["start"]]
        if period == "month":
            return [row["month"]]
        return [f"{row['date']} {date.fromisoformat(row['date']):%a}"]

    def numbers(row: dict[str, Any]) -> list[str]:
        return [
            render.count(row["executions"]),
            render.count(row["succeeded"]),
            render.count(row["failed"]),
            render.rate(row["success_rate"]),
            render.ms(row["duration_ms"]) if row["duration_avg_ms"] is not None else "-",
            render.ms(row["duration_avg_ms"]),
            render.count(row["tokens_total"]),
            render.cost(row["cost_nano_usd"], row["cost_unknown_executions"]),
        ]

    lines = [key(row) + numbers(row) + [render.bar(row[measure], largest)] for row in doc["rows"]]
    padding = [""] * (len(_KEY_HEADERS[period]) - 1)
    lines.append(["total", *padding, *numbers(doc["total"]), ""])
    headers = [
        *_KEY_HEADERS[period],
        "executions",
        "succeeded",
        "failed",
        "success",
        "duration",
        "avg",
        "tokens",
        "cost",
        "bar: cost" if by_cost else "bar: executions",
    ]
    colalign = ["left"] * len(_KEY_HEADERS[period]) + ["right"] * 8 + ["left"]
    return render.table(lines, headers, style, colalign=colalign)
