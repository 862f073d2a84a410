"""Every query the Prometheus collector runs, each one aggregated in SQLite (no row leaves the database).

Only finished executions count (any status but ``running``): a running row has no tokens yet and would
later move to another status, which a counter must never see. Durations and sums stay integers here
(milliseconds, nano-dollars); the collector converts them to seconds and dollars at the edge.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

UNKNOWN_MODEL = "unknown"
"""The ``model`` label of executions without a requested model, and of tokens no model row holds."""

FINISHED = "status != 'running'"
NOT_RUNNING = (
    "execution_id NOT IN (SELECT execution_id FROM executions INDEXED BY executions_running "
    "WHERE status = 'running')"
)
"""A model or phase row of a finished execution: the running ones are a handful, and a join to each row's
execution would be a random lookup per row (model and phase rows lie in execution start order, m003)."""

EXECUTIONS_SQL = f"""
SELECT project, status, COALESCE(model_requested, '{UNKNOWN_MODEL}') AS model, COUNT(*)
FROM executions
WHERE {FINISHED}
GROUP BY project, status, model
ORDER BY project, status, model
"""

MODEL_USAGE_SQL = f"""
SELECT m.model,
       SUM(m.tokens_input), SUM(m.tokens_output), SUM(m.tokens_cache_read), SUM(m.tokens_cache_write),
       COALESCE(SUM(m.cost_nano_usd), 0),
       SUM(m.cost_nano_usd IS NULL)
FROM execution_models AS m
WHERE m.{NOT_RUNNING}
GROUP BY m.model
ORDER BY m.model
"""

EXECUTION_TOKENS_SQL = f"""
SELECT COALESCE(SUM(tokens_input), 0), COALESCE(SUM(tokens_output), 0),
       COALESCE(SUM(tokens_cache_read), 0), COALESCE(SUM(tokens_cache_write), 0)
FROM executions
WHERE {FINISHED}
"""

MODELLESS_COST_SQL = f"""
SELECT COALESCE(SUM(e.cost_nano_usd), 0), COALESCE(SUM(e.cost_nano_usd IS NULL AND e.tokens_total > 0), 0)
FROM executions AS e
WHERE e.{FINISHED}
  AND NOT EXISTS (
    SELECT 1 FROM execution_models AS m
    WHERE m.execution_started_at_ms = e.started_at_ms AND m.execution_id = e.execution_id
  )
"""

LAST_ENDED_SQL = f"SELECT MAX(ended_at_ms) FROM executions WHERE {FINISHED}"


def _bucket_columns(column: str, bounds_ms: Sequence[int]) -> str:
    """One cumulative count per bucket: ``SUM(duration_ms <= ?)``, a bound per placeholder."""
    return ", ".join(f"SUM({column} <= ?)" for _ in bounds_ms)


def execution_durations_sql(bounds_ms: Sequence[int]) -> str:
    return f"""
SELECT project, status, COUNT(*), SUM(duration_ms), {_bucket_columns("duration_ms", bounds_ms)}
FROM executions
WHERE {FINISHED} AND duration_ms IS NOT NULL
GROUP BY project, status
ORDER BY project, status
"""


def phase_durations_sql(bounds_ms: Sequence[int]) -> str:
    return f"""
SELECT p.name, COUNT(*), SUM(p.duration_ms), {_bucket_columns("p.duration_ms", bounds_ms)}
FROM phases AS p
WHERE p.{NOT_RUNNING}
GROUP BY p.name
ORDER BY p.name
"""


TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
"""The ``kind`` label of ``pilot_tokens_total``: they add up to ``tokens_total`` (cache_write includes the
1-hour writes)."""


@dataclass(frozen=True)
class ModelUsage:
    model: str
    tokens: tuple[int, int, int, int]
    """By ``TOKEN_KINDS``."""
    cost_nano_usd: int
    """The sum of the costs that are known."""
    unknown_cost_executions: int


@dataclass(frozen=True)
class Durations:
    """One histogram series: cumulative counts per bound, the count and the sum (milliseconds)."""

    labels: tuple[str, ...]
    count: int
    sum_ms: int
    cumulative: tuple[int, ...]


def executions(conn: sqlite3.Connection) -> list[tuple[str, str, str, int]]:
    """``(project, status, model, count)`` of the finished executions."""
    return [(str(p), str(s), str(m), int(n)) for p, s, m, n in conn.execute(EXECUTIONS_SQL)]


def model_usage(conn: sqlite3.Connection) -> list[ModelUsage]:
    """Tokens and cost per model. What no model row holds goes under ``UNKNOWN_MODEL``: the tokens of an
    execution whose stream never named its model, and the cost of an execution without any model row
    (its reported total)."""
    rows = [
        ModelUsage(str(model), (int(i), int(o), int(r), int(w)), int(cost), int(unknown))
        for model, i, o, r, w, cost, unknown in conn.execute(MODEL_USAGE_SQL)
    ]
    totals = conn.execute(EXECUTION_TOKENS_SQL).fetchone()
    held = [sum(row.tokens[k] for row in rows) for k in range(len(TOKEN_KINDS))]
    rest = [max(0, int(total) - part) for total, part in zip(totals, held, strict=True)]
    cost, unknown = (int(n) for n in conn.execute(MODELLESS_COST_SQL).fetchone())
    if not (any(rest) or cost or unknown):
        return rows
    named = next((row for row in rows if row.model == UNKNOWN_MODEL), None)
    if named is not None:  # a model row of that very name: one series
        rows.remove(named)
        rest = [a + b for a, b in zip(rest, named.tokens, strict=True)]
        cost, unknown = cost + named.cost_nano_usd, unknown + named.unknown_cost_executions
    rows.append(ModelUsage(UNKNOWN_MODEL, (rest[0], rest[1], rest[2], rest[3]), cost, unknown))
    return rows


def execution_durations(conn: sqlite3.Connection, bounds_ms: Sequence[int]) -> list[Durations]:
    return [
        Durations((str(row[0]), str(row[1])), int(row[2]), int(row[3]), tuple(int(n) for n in row[4:]))
        for row in conn.execute(execution_durations_sql(bounds_ms), tuple(bounds_ms))
    ]


def phase_durations(conn: sqlite3.Connection, bounds_ms: Sequence[int]) -> list[Durations]:
    return [
        Durations((str(row[0]),), int(row[1]), int(row[2]), tuple(int(n) for n in row[3:]))
        for row in conn.execute(phase_durations_sql(bounds_ms), tuple(bounds_ms))
    ]


def last_ended_at_ms(conn: sqlite3.Connection) -> int | None:
    value = conn.execute(LAST_ENDED_SQL).fetchone()[0]
    return None if value is None else int(value)
