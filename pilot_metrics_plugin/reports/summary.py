"""``pilot metrics summary``: the whole range's totals, plus two nearest-rank percentiles.

Totals: from the hourly rollup when no project, model or status filter is given (``hourly``: a few thousand
rows for a year), else one SQL aggregate over the covering index. Percentile: the nearest-rank definition.
Of the n durations sorted ascending, the p-th percentile is the k-th with k = ceil(p * n / 100): p50 of 10,
20, 30, 40 is 20, p95 is 40. Durations are those of finished executions (a running one has none yet); the
shortest and the longest are the ranks 1 and n.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from pilot_metrics_plugin.record import nano_to_usd_number
from pilot_metrics_plugin.reports import hourly, render
from pilot_metrics_plugin.reports.query import FAILED_STATUSES, ReportFilter, filter_words
from pilot_metrics_plugin.reports.totals import has_index, nearest_rank, ratio, rounded_mean

TOTALS = (
    "executions", "succeeded", "running", "failed", "timed_out", "cancelled", "interrupted",
    "duration_ms", "with_duration", "tokens_input", "tokens_output", "tokens_cache_read",
    "tokens_cache_write", "tokens_cache_write_1h", "tokens_total", "cost_nano_usd", "with_cost",
    "cost_reported_nano_usd", "cost_estimated_nano_usd", "files_changed", "lines_added", "lines_removed",
    "prs",
)

WALK_INDEX_FROM = 20_000
"""From this many durations on, a percentile walks the duration index rather than sorting the range."""


def duration_ranks(
    conn: sqlite3.Connection, flt: ReportFilter, n: int, ranks: tuple[int, ...]
) -> dict[int, int]:
    """The ``ranks``-th shortest (1-based) of the ``n`` durations the filter selects.

    Each is read from whichever end is nearer (the k-th shortest is the (n - k + 1)-th longest), so a
    sort keeps or a walk reads the fewest values. A small range is sorted; a large one (a good part of the
    table) walks ``executions_by_duration`` in order instead of sorting a million values."""
    if n == 0:
        return {}
    where, params = flt.where()
    source = "executions"
    if _walks(conn, flt, n):
        source = "executions INDEXED BY executions_by_duration"
    values = {}
    for k in ranks:
        order, offset = ("ASC", k - 1) if k - 1 <= n - k else ("DESC", n - k)
        sql = (
            f"SELECT duration_ms FROM {source} WHERE {where} AND duration_ms IS NOT NULL "
            f"ORDER BY duration_ms {order} LIMIT 1 OFFSET ?"
        )
        values[k] = conn.execute(sql, [*params, offset]).fetchone()[0]
    return values


def _walks(conn: sqlite3.Connection, flt: ReportFilter, n: int) -> bool:
    """Whether ``n`` durations are enough of the table that walking the duration index beats sorting."""
    if n < WALK_INDEX_FROM or flt.model is not None:
        return False
    table_rows = conn.execute("SELECT MAX(rowid) FROM executions").fetchone()[0] or 0
    return 8 * n >= table_rows and has_index(conn, "executions_by_duration")


def duration_percentiles(
    conn: sqlite3.Connection, flt: ReportFilter, n: int, ps: tuple[int, ...]
) -> dict[int, int]:
    """The nearest-rank percentiles ``ps`` of the ``n`` durations the filter selects."""
    ranks = {p: nearest_rank(p, n) for p in ps}
    found = duration_ranks(conn, flt, n, tuple(ranks.values()))
    return {p: found[k] for p, k in ranks.items()} if n else {}


def totals(conn: sqlite3.Connection, flt: ReportFilter) -> dict[str, int]:
    """``TOTALS`` over the range and filters, and the shortest and longest duration (``duration_min`` /
    ``duration_max``, 0 when none)."""
    if hourly.applies(flt) and flt.start_ms is not None and flt.end_ms is not None:
        (row,) = hourly.totals_by_span(conn, [(flt.start_ms, flt.end_ms)], TOTALS)
        found = dict(zip(TOTALS, row, strict=True))
        n = found["with_duration"]
        if _walks(conn, flt, n):  # the first and the last of the range along the duration index
            ends = duration_ranks(conn, flt, n, (1, n))
            return {**found, "duration_min": ends[1], "duration_max": ends[n]}
        where, params = flt.where()
        shortest, longest = conn.execute(
            f"SELECT MIN(duration_ms), MAX(duration_ms) FROM executions WHERE {where}", params
        ).fetchone()
        return {**found, "duration_min": shortest or 0, "duration_max": longest or 0}
    where, params = flt.where()
    sql = hourly.rows_sql(TOTALS, where, more=("MIN(duration_ms)", "MAX(duration_ms)"))
    row = [int(value or 0) for value in conn.execute(sql, params).fetchone()]
    return dict(zip((*TOTALS, "duration_min", "duration_max"), row, strict=True))


def build(conn: sqlite3.Connection, flt: ReportFilter) -> dict[str, Any]:
    found = totals(conn, flt)
    executions, succeeded, running = found["executions"], found["succeeded"], found["running"]
    failed_by_status = {status: found[status] for status in FAILED_STATUSES}
    with_duration, duration_total = found["with_duration"], found["duration_ms"]
    cost, with_cost = found["cost_nano_usd"], found["with_cost"]
    finished = executions - running
    percentiles = duration_percentiles(conn, flt, with_duration, (50, 95))
    cost_avg = rounded_mean(cost, with_cost)
    return {
        **flt.to_json(),
        "filters": {"projects": list(flt.projects), "model": flt.model, "statuses": list(flt.statuses)},
        "executions": executions,
        "succeeded": succeeded,
        "failed": sum(failed_by_status.values()),
        "running": running,
        "failed_by_status": failed_by_status,
        "success_rate": ratio(succeeded, finished),
        "duration_ms": {
            "total": duration_total,
            "avg": rounded_mean(duration_total, with_duration),
            "p50": percentiles.get(50),
            "p95": percentiles.get(95),
            "min": found["duration_min"] if with_duration else None,
            "max": found["duration_max"] if with_duration else None,
        },
        "tokens": {
            "input": found["tokens_input"],
            "output": found["tokens_output"],
            "cache_read": found["tokens_cache_read"],
            "cache_write": found["tokens_cache_write"],
            "cache_write_1h": found["tokens_cache_write_1h"],
            "total": found["tokens_total"],
            "avg": rounded_mean(found["tokens_total"], finished),
        },
        "cost_nano_usd": cost,
        "cost_usd": nano_to_usd_number(cost),
        "cost_avg_nano_usd": cost_avg,
        "cost_avg_usd": nano_to_usd_number(cost_avg),
        "cost_reported_nano_usd": found["cost_reported_nano_usd"],
        "cost_estimated_nano_usd": found["cost_estimated_nano_usd"],
        "cost_unknown_executions": finished - with_cost,  # a running row never carries a cost
        "files_changed": found["files_changed"],
        "lines_added": found["lines_added"],
        "lines_removed": found["lines_removed"],
        "prs": found["prs"],
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
    only = filter_words(filters["projects"], filters["model"], filters["statuses"])
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
