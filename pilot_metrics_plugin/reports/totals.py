"""The counting the reports share: SQL aggregates per group, the JSON row they become, percentile ranks.

Status semantics: every row counts in ``executions``; ``running`` rows are neither succeeded nor failed;
``failed`` is every finished execution that did not succeed; ``success_rate`` is succeeded / finished
(``None`` when nothing finished). Costs: ``cost_nano_usd`` sums the known costs, and
``cost_unknown_executions`` counts the finished executions whose cost is unknown (a running execution has
no cost yet; it is counted in ``running``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from typing import Any

from pilot_metrics_plugin.record import nano_to_usd_number

COUNTS_SQL = (
    "COUNT(*), COUNT(*) FILTER (WHERE status = 'succeeded'), COUNT(*) FILTER (WHERE status = 'running'), "
    "SUM(duration_ms), COUNT(duration_ms), SUM(tokens_total), SUM(cost_nano_usd), COUNT(cost_nano_usd)"
)
"""The aggregate columns ``Counts.from_row`` reads, in order."""


def ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def rounded_mean(total: int, n: int) -> int | None:
    """``total / n`` to the nearest integer (halves up), exactly; ``None`` for no values."""
    return None if n == 0 else (2 * total + n) // (2 * n)


def nearest_rank(p: int, n: int) -> int:
    """The 1-based rank of the p-th percentile of n values: ceil(p * n / 100), at least 1."""
    return max(1, (p * n + 99) // 100)


def has_index(conn: sqlite3.Connection, name: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)).fetchone()
        is not None
    )


@dataclass(frozen=True)
class Counts:
    """The figures of a group of executions; the field names are ``hourly.ROW_SUMS`` names."""

    executions: int = 0
    succeeded: int = 0
    running: int = 0
    duration_ms: int = 0
    with_duration: int = 0
    tokens_total: int = 0
    cost_nano_usd: int = 0
    with_cost: int = 0

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Counts:
        return cls(*(int(value or 0) for value in row))

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def finished(self) -> int:
        return self.executions - self.running

    @property
    def failed(self) -> int:
        return self.finished - self.succeeded

    @property
    def cost_unknown_executions(self) -> int:
        return self.finished - self.with_cost  # a running row never carries a cost

    def to_json(self) -> dict[str, Any]:
        return {
            "executions": self.executions,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "running": self.running,
            "success_rate": ratio(self.succeeded, self.finished),
            "duration_ms": self.duration_ms,
            "duration_avg_ms": rounded_mean(self.duration_ms, self.with_duration),
            "tokens_total": self.tokens_total,
            "cost_nano_usd": self.cost_nano_usd,
            "cost_usd": nano_to_usd_number(self.cost_nano_usd),
            "cost_unknown_executions": self.cost_unknown_executions,
        }


COUNTS = tuple(f.name for f in fields(Counts))
"""``Counts``' fields in order: the totals ``hourly.totals_by_span`` is asked for."""
