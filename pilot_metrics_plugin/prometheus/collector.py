"""The Prometheus collector: the metric families of the metrics database, read at scrape time.

SQLite is the source of truth and every counter is a ``SUM`` or ``COUNT`` over it, so counters survive
restarts of ``pilot metrics serve`` and need neither prometheus_client's multiprocess mode nor any state
here. Names follow Prometheus' conventions: a ``pilot_`` prefix, base units (seconds), ``_total`` on
counters, and labels whose every ``sum()`` makes sense (no task or execution ids).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from pilot_metrics_plugin.prometheus import queries

if TYPE_CHECKING:
    from pilot_metrics_plugin.store import MetricsStore

EXECUTION_BUCKETS_S = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
"""Executions take seconds to hours."""
PHASE_BUCKETS_S = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)
"""Phases take a second (planning a reply) to an hour (a long test run)."""
NANO_PER_USD = 1_000_000_000


def _bounds_ms(buckets_s: Sequence[float]) -> list[int]:
    return [int(bound * 1000) for bound in buckets_s]


class DatabaseCollector(Collector):
    """Reads the database each time it is collected. ``open_store()`` returns an open store, or ``None``
    when there is no database yet (nothing recorded: no samples); any other problem raises, so that the
    scrape fails and Prometheus marks the target down rather than seeing counters drop to nothing."""

    def __init__(self, open_store: Callable[[], MetricsStore | None]) -> None:
        self.open_store = open_store

    def collect(self) -> Iterator[Metric]:
        store = self.open_store()
        if store is None:
            return
        try:
            families = list(self._families(store))
        finally:
            store.close()
        yield from families

    def _families(self, store: MetricsStore) -> Iterator[Metric]:
        conn = store.conn
        executions = CounterMetricFamily(
            "pilot_executions", "Finished executions, by project, status and requested model.",
            labels=("project", "status", "model"),
        )
        for project, status, model, count in queries.executions(conn):
            executions.add_metric((project, status, model), count)
        yield executions

        usage = queries.model_usage(conn)
        tokens = CounterMetricFamily(
            "pilot_tokens", "Tokens of finished executions, by kind (input, output, cache_read, cache_write: "
            "they add up to the total; cache_write includes 1-hour writes) and model.",
            labels=("kind", "model"),
        )
        cost = CounterMetricFamily(
            "pilot_cost_usd", "Cost in US dollars of finished executions, by model; costs that are unknown "
            "are not in it (see pilot_cost_unknown_executions_total).", labels=("model",),
        )
        unknown = CounterMetricFamily(
            "pilot_cost_unknown_executions", "Finished executions in which a model's cost is unknown "
            "(a model the price table does not know), by model.", labels=("model",),
        )
        for row in usage:
            for kind, count in zip(queries.TOKEN_KINDS, row.tokens, strict=True):
                tokens.add_metric((kind, row.model), count)
            if row.model != queries.UNKNOWN_MODEL or row.cost_nano_usd or row.unknown_cost_executions:
                cost.add_metric((row.model,), row.cost_nano_usd / NANO_PER_USD)
                unknown.add_metric((row.model,), row.unknown_cost_executions)
        yield tokens
        yield cost
        yield unknown

        yield self._histogram(
            HistogramMetricFamily(
                "pilot_execution_duration_seconds", "Wall-clock time of finished executions.",
                labels=("project", "status"),
            ),
            queries.execution_durations(conn, _bounds_ms(EXECUTION_BUCKETS_S)),
            EXECUTION_BUCKETS_S,
        )
        yield self._histogram(
            HistogramMetricFamily(
                "pilot_phase_duration_seconds", "Time spent in each phase of finished executions.",
                labels=("phase",),
            ),
            queries.phase_durations(conn, _bounds_ms(PHASE_BUCKETS_S)),
            PHASE_BUCKETS_S,
        )

        last = GaugeMetricFamily(
            "pilot_last_execution_timestamp_seconds", "When the last finished execution ended (Unix time)."
        )
        ended_ms = queries.last_ended_at_ms(conn)
        if ended_ms is not None:
            last.add_metric((), ended_ms / 1000)
        yield last

    @staticmethod
    def _histogram(
        family: HistogramMetricFamily, series: list[queries.Durations], buckets_s: Sequence[float]
    ) -> HistogramMetricFamily:
        for item in series:
            buckets = [(_le(bound), count) for bound, count in zip(buckets_s, item.cumulative, strict=True)]
            buckets.append(("+Inf", item.count))
            family.add_metric(item.labels, buckets, sum_value=item.sum_ms / 1000)
        return family


def _le(bound: float) -> str:
    return str(float(bound))


def registry_for(open_store: Callable[[], MetricsStore | None]) -> CollectorRegistry:
    """A registry with the database collector alone (no process metrics: the numbers are the database's)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(open_store))
    return registry
