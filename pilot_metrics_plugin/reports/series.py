"""Per local day series the dashboard draws and no table report has: cost by model, tokens by kind, and the
p50 / p95 of durations.

Each is one SQL pass over the range, grouped by local day. The local day of ``started_at_ms`` is its local
wall-clock milliseconds (``timezones.local_ms_sql``, exact across daylight-saving changes) divided by a day:
days since 1970-01-01 on the local calendar, so an execution at 23:30 EST on the night clocks go back is on
its own day although UTC already says the next. Every day of the range is a row, empty ones as zeros (or
``None`` for a percentile), oldest first, as a chart's x axis wants them.

- cost by model: the ``execution_models`` rows of the filtered executions, as ``pilot metrics models`` counts
  them (with ``--model``, only the matching models): a day's total is the sum of its models' known costs, and
  ``cost_unknown_executions`` counts the model rows whose cost is unknown.
- tokens by kind: the executions' own token columns; the four kinds add up to ``tokens_total``.
- durations: nearest-rank percentiles (see ``summary``) of the finished executions' durations of each day.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from pilot_metrics_plugin.record import nano_to_usd_number
from pilot_metrics_plugin.reports.breakdowns import model_rows
from pilot_metrics_plugin.reports.query import ReportFilter
from pilot_metrics_plugin.reports.timezones import DAY_MS, range_local_ms_sql

_EPOCH = date(1970, 1, 1)
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
"""The token kinds of ``tokens_by_kind_per_day``, in stacking order; they add up to ``tokens_total``."""


def _days(flt: ReportFilter) -> Iterator[date]:
    assert flt.since is not None and flt.until is not None
    day = flt.since
    while day <= flt.until:
        yield day
        day += timedelta(days=1)


def local_day_sql(conn: sqlite3.Connection, flt: ReportFilter, column: str) -> tuple[str, list[int]]:
    """SQL for the local day number (days since 1970-01-01 on the report zone's calendar) of ``column``."""
    assert flt.start_ms is not None and flt.end_ms is not None
    local, params = range_local_ms_sql(conn, flt.zone, flt.start_ms, flt.end_ms, column)
    return f"({local} / {DAY_MS})", params


def _day(number: int) -> str:
    return (_EPOCH + timedelta(days=number)).isoformat()


def cost_by_model_per_day(conn: sqlite3.Connection, flt: ReportFilter) -> dict[str, Any]:
    """``models``: model names, highest cost over the range first; ``rows``: one per local day with the
    known cost of each model that served that day (``None`` when all of it is unknown) and the day's sums."""
    day_sql, day_params = local_day_sql(conn, flt, "m.execution_started_at_ms")
    rows_from, params = model_rows(flt)
    sql = (
        f"SELECT {day_sql} AS day, m.model, SUM(m.cost_nano_usd), COUNT(*) - COUNT(m.cost_nano_usd) "
        f"{rows_from} GROUP BY day, m.model"
    )
    by_day: dict[str, dict[str, tuple[int, int]]] = {}
    totals: dict[str, int] = {}
    for day, model, cost, unknown in conn.execute(sql, [*day_params, *params]):
        # ``cost`` is NULL when every row of the model that day has an unknown cost: ``None``, not 0.
        by_day.setdefault(_day(day), {})[model] = (cost, unknown)
        totals[model] = totals.get(model, 0) + (cost or 0)
    models = sorted(totals, key=lambda name: (-totals[name], name))
    rows = []
    for day in _days(flt):
        found = by_day.get(day.isoformat(), {})
        cost = sum(value or 0 for value, _ in found.values())
        rows.append(
            {
                "date": day.isoformat(),
                "cost_nano_usd_by_model": {model: found[model][0] for model in models if model in found},
                "cost_nano_usd": cost,
                "cost_usd": nano_to_usd_number(cost),
                "cost_unknown_executions": sum(unknown for _, unknown in found.values()),
            }
        )
    return {**flt.to_json(), "models": models, "rows": rows}


def tokens_by_kind_per_day(conn: sqlite3.Connection, flt: ReportFilter) -> dict[str, Any]:
    """``rows``: one per local day, its executions' ``tokens_input`` ... ``tokens_cache_write`` and total."""
    day_sql, day_params = local_day_sql(conn, flt, "started_at_ms")
    where, params = flt.where()
    sql = (
        f"SELECT {day_sql} AS day, SUM(tokens_input), SUM(tokens_output), SUM(tokens_cache_read), "
        f"SUM(tokens_cache_write), SUM(tokens_total) FROM executions WHERE {where} GROUP BY day"
    )
    found = {
        _day(day): [int(value or 0) for value in values]
        for day, *values in conn.execute(sql, [*day_params, *params])
    }
    rows = []
    for day in _days(flt):
        *by_kind, total = found.get(day.isoformat(), [0] * (len(TOKEN_KINDS) + 1))
        rows.append(
            {
                "date": day.isoformat(),
                **{f"tokens_{kind}": n for kind, n in zip(TOKEN_KINDS, by_kind, strict=True)},
                "tokens_total": total,
            }
        )
    return {**flt.to_json(), "kinds": list(TOKEN_KINDS), "rows": rows}


def duration_percentiles_per_day(conn: sqlite3.Connection, flt: ReportFilter) -> dict[str, Any]:
    """``rows``: one per local day, ``finished`` (executions with a duration) and the nearest-rank p50 and
    p95 of their durations (``None`` on a day without any)."""
    day_sql, day_params = local_day_sql(conn, flt, "started_at_ms")
    where, params = flt.where()
    # Rank each duration within its day; the k-th of n is kept for k = ceil(p * n / 100).
    sql = f"""
        SELECT day, n,
               MAX(duration_ms) FILTER (WHERE position = (50 * n + 99) / 100),
               MAX(duration_ms) FILTER (WHERE position = (95 * n + 99) / 100)
        FROM (
            SELECT day, duration_ms,
                   ROW_NUMBER() OVER (PARTITION BY day ORDER BY duration_ms) AS position,
                   COUNT(*) OVER (PARTITION BY day) AS n
            FROM (
                SELECT {day_sql} AS day, duration_ms FROM executions
                WHERE {where} AND duration_ms IS NOT NULL
            )
        )
        GROUP BY day
    """
    found = {_day(day): (n, p50, p95) for day, n, p50, p95 in conn.execute(sql, [*day_params, *params])}
    rows = []
    for day in _days(flt):
        n, p50, p95 = found.get(day.isoformat(), (0, None, None))
        rows.append({"date": day.isoformat(), "finished": n, "duration_p50_ms": p50, "duration_p95_ms": p95})
    return {**flt.to_json(), "rows": rows}
