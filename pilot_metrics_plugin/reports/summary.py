"""``pilot metrics summary``: the whole range in one SQL aggregate, plus two nearest-rank percentiles.

Percentile: the nearest-rank definition. Of the n durations sorted ascending, the p-th percentile is the
k-th with k = ceil(p * n / 100): p50 of 10, 20, 30, 40 is 20, p95 is 40. Durations are those of finished
executions (a running one has none yet).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from pilot_metrics_plugin.record import nano_to_usd_number
from pilot_metrics_plugin.reports import render
from pilot_metrics_plugin.reports.query import FAILED_STATUSES, ReportFilter
from pilot_metrics_plugin.reports.totals import has_index, nearest_rank, ratio, rounded_mean

_SUMMARY_SQL = """
SELECT
    COUNT(*),
    COUNT(*) FILTER (WHERE status = 'succeeded'),
    COUNT(*) FILTER (WHERE status = 'running'),
    COUNT(*) FILTER (WHERE status = 'failed'),
    COUNT(*) FILTER (WHERE status = 'timed_out'),
    COUNT(*) FILTER (WHERE status = 'cancelled'),
    COUNT(*) FILTER (WHERE status = 'interrupted'),
    SUM(duration_ms), COUNT(duration_ms), MIN(duration_ms), MAX(duration_ms),
    SUM(tokens_input), SUM(tokens_output), SUM(tokens_cache_read), SUM(tokens_cache_write),
    SUM(tokens_cache_write_1h), SUM(tokens_total),
    SUM(cost_nano_usd), COUNT(cost_nano_usd),
    SUM(cost_nano_usd) FILTER (WHERE cost_source = 'reported'),
    SUM(cost_nano_usd) FILTER (WHERE cost_source = 'estimated'),
    SUM(files_changed), SUM(lines_added), SUM(lines_removed), COUNT(pr_url)
FROM executions
WHERE {where}
"""

WALK_INDEX_FROM = 20_000
"""From this many durations on, a percentile walks the duration index rather than sorting the range."""


def duration_percentiles(
    conn: sqlite3.Connection, flt: ReportFilter, n: int, ps: tuple[int, ...]
) -> dict[int, int]:
    """The nearest-rank percentiles of the ``n`` durations the filter selects.

    The k-th shortest is read from whichever end is nearer (p95 is the (n - k + 1)-th longest), so a
    sort keeps or a walk reads the fewest values. A small range is sorted; a large one (a good part of the
    table) walks ``executions_by_duration`` in order instead of sorting a million values."""
    if n == 0:
        return {}
    where, params = flt.where()
    source = "executions"
    table_rows = conn.execute("SELECT MAX(rowid) FROM executions").fetchone()[0] or 0
    large = n >= WALK_INDEX_FROM and 8 * n >= table_rows and flt.model is None
    if large and has_index(conn, "executions_by_duration"):
        source = "executions INDEXED BY executions_by_duration"
    values = {}
    for p in ps:
        k = nearest_rank(p, n)
        order, offset = ("ASC", k - 1) if k - 1 <= n - k else ("DESC", n - k)
        sql = (
            f"SELECT duration_ms FROM {source} WHERE {where} AND duration_ms IS NOT NULL "
            f"ORDER BY duration_ms {order} LIMIT 1 OFFSET ?"
        )
        values[p] = conn.execute(sql, [*params, offset]).fetchone()[0]
    return values


def build(conn: sqlite3.Connection, flt: ReportFilter) -> dict[str, Any]:
    where, params = flt.where()
    row = [int(value or 0) for value in conn.execute(_SUMMARY_SQL.format(where=where), params).fetchone()]
    (
        executions,
        succeeded,
        running,
        failed,
        timed_out,
        cancelled,
        interrupted,
        duration_total,
        with_duration,
        duration_min,
        duration_max,
        tokens_input,
        tokens_output,
        tokens_cache_read,
        tokens_cache_write,
        tokens_cache_write_1h,
        tokens_total,
        cost,
        with_cost,
        cost_reported,
        cost_estimated,
        files_changed,
        lines_added,
        lines_removed,
        prs,
    ) = row
    finished = executions - running
    percentiles = duration_percentiles(conn, flt, with_duration, (50, 95))
    cost_avg = rounded_mean(cost, with_cost)
    return {
        **flt.to_json(),
        "filters": {"projects": list(flt.projects), "model": flt.model, "statuses": list(flt.statuses)},
        "executions": executions,
        "succeeded": succeeded,
        "failed": failed + timed_out + cancelled + interrupted,
        "running": running,
        "failed_by_status": dict(
            zip(FAILED_STATUSES, (failed, timed_out, cancelled, interrupted), strict=True)
        ),
        "success_rate": ratio(succeeded, finished),
        "duration_ms": {
            "total": duration_total,
            "avg": rounded_mean(duration_total, with_duration),
            "p50": percentiles.get(50),
            "p95": percentiles.get(95),
            "min": duration_min if with_duration else None,
            "max": duration_max if with_duration else None,
        },
        "tokens": {
            "input": tokens_input,
            "output": tokens_output,
            "cache_read": tokens_cache_read,
            "cache_write": tokens_cache_write,
            "cache_write_1h": tokens_cache_write_1h,
            "total": tokens_total,
            "avg": rounded_mean(tokens_total, finished),
        },
        "cost_nano_usd": cost,
        "cost_usd": nano_to_usd_number(cost),
        "cost_avg_nano_usd": cost_avg,
        "cost_avg_usd": nano_to_usd_number(cost_avg),
        "cost_reported_nano_usd": cost_reported,
        "cost_estimated_nano_usd": cost_estimated,
        "cost_unknown_executions": finished - with_cost,  # a running row never carries a cost
        "files_changed": files_changed,
        "lines_added": lines_added,
        "lines_removed": lines_removed,
        "prs": prs,
    }


def render_table(doc: dict[str, Any], style: str) -> str:
    d = doc["duration_ms"]
    t = doc["tokens"]
    by_status = doc["failed_by_status"]
    failed_parts = ", ".join(f"{n:,} {status.replace('_', ' ')}" for status, n in by_status.items() if n)
    executions = f"{doc['executions']:,}: {doc['succeeded']:,} succeeded, {doc['failed']:,} failed"
    if doc["running"]:
        executions += f", {doc['running']:,} running"
    cost_parts = [f"{render.usd(doc['cost_reported_nano_usd'])} reported"]
    if doc["cost_estimated_nano_usd"]:
        cost_parts.append(f"{render.usd(doc['cost_estimated_nano_usd'])} estimated")
    average = "" if doc["cost_avg_nano_usd"] is None else f"; avg {render.usd(doc['cost_avg_nano_usd'])}"
    filters = doc["filters"]
    only = []
    if filters["projects"]:
        only.append(f"project {' or '.join(filters['projects'])}")
    if filters["model"]:
        only.append(f"model ~ {filters['model']}")
    if filters["statuses"]:
        only.append(f"status {' or '.join(filters['statuses'])}")
    lines = [
        ("period", f"{doc['since']} to {doc['until']} ({doc['tz']})"),
        *([("only", ", ".join(only))] if only else []),
        ("executions", executions),
        ("failed", failed_parts or "none"),
        ("success rate", render.rate(doc["success_rate"])),
        (
            "duration",
            f"total {render.ms(d['total'])}, avg {render.ms(d['avg'])}, p50 {render.ms(d['p50'])}, "
            f"p95 {render.ms(d['p95'])}, fastest {render.ms(d['min'])}, slowest {render.ms(d['max'])}",
        ),
        (
            "tokens",
            f"{t['total']:,} total: {t['input']:,} input, {t['output']:,} output, "
            f"{t['cache_read']:,} cache read, {t['cache_write']:,} cache write "
            f"({t['cache_write_1h']:,} of them 1h); avg {render.count(t['avg'])}",
        ),
        (
            "cost",
            f"{render.cost(doc['cost_nano_usd'], doc['cost_unknown_executions'])} "
            f"({', '.join(cost_parts)}){average}",
        ),
        (
            "changes",
            f"{doc['files_changed']:,} files, +{doc['lines_added']:,} -{doc['lines_removed']:,} lines, "
            f"{doc['prs']:,} pull requests",
        ),
    ]
    return render.table(lines, (), style)
