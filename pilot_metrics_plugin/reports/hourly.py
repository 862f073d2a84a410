"""Report totals over a time range from the hourly rollup (``executions_by_hour``, kept by triggers since
m003): the whole UTC hours of the range are a few thousand rollup rows a year instead of a million
executions; the rest of the range (the part of an hour at either end, when the report's zone is not a whole
number of hours from UTC) and the running executions (the rollup holds the finished ones) come from the
rows themselves, through ``executions_running`` and the covering ``executions_report_by_start``.

The rollup has no project, model or status: a report with one of those filters aggregates the rows.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Sequence

from pilot_metrics_plugin.reports.query import ReportFilter

HOUR_MS = 3_600_000

ROW_SUMS = {
    # a total, and the aggregate that computes it from executions rows
    "executions": "COUNT(*)",
    "succeeded": "COUNT(*) FILTER (WHERE status = 'succeeded')",
    "running": "COUNT(*) FILTER (WHERE status = 'running')",
    "failed": "COUNT(*) FILTER (WHERE status = 'failed')",
    "timed_out": "COUNT(*) FILTER (WHERE status = 'timed_out')",
    "cancelled": "COUNT(*) FILTER (WHERE status = 'cancelled')",
    "interrupted": "COUNT(*) FILTER (WHERE status = 'interrupted')",
    "duration_ms": "SUM(duration_ms)",
    "with_duration": "COUNT(duration_ms)",
    "tokens_input": "SUM(tokens_input)",
    "tokens_output": "SUM(tokens_output)",
    "tokens_cache_read": "SUM(tokens_cache_read)",
    "tokens_cache_write": "SUM(tokens_cache_write)",
    "tokens_cache_write_1h": "SUM(tokens_cache_write_1h)",
    "tokens_total": "SUM(tokens_total)",
    "cost_nano_usd": "SUM(cost_nano_usd)",
    "with_cost": "COUNT(cost_nano_usd)",
    "cost_reported_nano_usd": "SUM(cost_nano_usd) FILTER (WHERE cost_source = 'reported')",
    "cost_estimated_nano_usd": "SUM(cost_nano_usd) FILTER (WHERE cost_source = 'estimated')",
    "files_changed": "SUM(files_changed)",
    "lines_added": "SUM(lines_added)",
    "lines_removed": "SUM(lines_removed)",
    "prs": "COUNT(pr_url)",
}
"""Every total there is; the rollup has a column of each name but ``running`` (always 0 there)."""


def applies(flt: ReportFilter) -> bool:
    """Whether the rollup can answer for ``flt``: no project, model or status filter."""
    return not (flt.projects or flt.model is not None or flt.statuses)


def rows_sql(totals: Sequence[str], where: str, more: Sequence[str] = ()) -> str:
    """One row of ``totals`` (then the aggregates ``more``) over the executions ``where`` selects."""
    aggregates = ", ".join([*(ROW_SUMS[name] for name in totals), *more])
    return f"SELECT {aggregates} FROM executions WHERE {where}"


def totals_by_span(
    conn: sqlite3.Connection, spans: Sequence[tuple[int, int]], totals: Sequence[str]
) -> list[list[int]]:
    """``totals`` over the executions that started in each ``[start_ms, end_ms)`` of ``spans`` (in order,
    not overlapping), every execution counted whatever its status, as ``rows_sql`` would count them."""
    results = [[0] * len(totals) for _ in spans]
    if not spans:
        return results
    whole = [_whole_hours(start, end) for start, end in spans]
    rollup = [name for name in totals if name != "running"]
    positions = [totals.index(name) for name in rollup]

    # The whole hours, all spans at once, from the rollup.
    first_hour = min(first for first, _ in whole)
    end_hour = max(end for _, end in whole)
    firsts = [first for first, _ in whole]
    if rollup and first_hour < end_hour:
        sql = (
            f"SELECT hour, {', '.join(rollup)} FROM executions_by_hour "
            "WHERE hour >= ? AND hour < ? ORDER BY hour"
        )
        hours: list[list[tuple[int, ...]]] = [[] for _ in spans]
        for row in conn.execute(sql, (first_hour, end_hour)):
            index = bisect.bisect_right(firsts, row[0]) - 1
            if index >= 0 and row[0] < whole[index][1]:  # else an hour of no span's whole hours
                hours[index].append(row)
        for rows, target in zip(hours, results, strict=True):
            if rows:
                sums = [sum(column) for column in zip(*rows, strict=True)][1:]
                for position, value in zip(positions, sums, strict=True):
                    target[position] += value

    # The running executions of the whole hours, all spans at once, from the rows: few, whatever the range.
    if first_hour < end_hour:
        running = (
            f"SELECT started_at_ms, {', '.join(ROW_SUMS[name] for name in totals)} "
            "FROM executions INDEXED BY executions_running "
            "WHERE status = 'running' AND started_at_ms >= ? AND started_at_ms < ? GROUP BY started_at_ms"
        )
        for started_at_ms, *values in conn.execute(running, (first_hour * HOUR_MS, end_hour * HOUR_MS)):
            hour = started_at_ms // HOUR_MS
            index = bisect.bisect_right(firsts, hour) - 1
            if index >= 0 and hour < whole[index][1]:  # else in no span's whole hours (an edge's, or none)
                _add(results[index], values)

    # The parts of an hour at either end of a span, from the rows.
    edges = rows_sql(totals, "started_at_ms >= ? AND started_at_ms < ?")
    for (start, end), (first, last), target in zip(spans, whole, results, strict=True):
        # Less than one whole hour: the span is all edge.
        parts = [(start, end)] if first >= last else [(start, first * HOUR_MS), (last * HOUR_MS, end)]
        for part_start, part_end in parts:
            if part_start < part_end:
                _add(target, conn.execute(edges, (part_start, part_end)).fetchone())
    return results


def _whole_hours(start_ms: int, end_ms: int) -> tuple[int, int]:
    """The hours ``[first, end)`` that lie wholly in ``[start_ms, end_ms)`` (``first >= end``: none)."""
    first = -(-start_ms // HOUR_MS)
    return first, max(first, end_ms // HOUR_MS)


def _add(target: list[int], row: Sequence[int | None]) -> None:
    for position, value in enumerate(row):
        if value:
            target[position] += value
