"""Recomputing estimated and unknown costs with the current price table. Reported costs are the agent's
own figures and are never touched; a known estimate is never replaced by an unknown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from pilot_metrics_plugin.pricing import PriceTable, TokenUsage
from pilot_metrics_plugin.store import MetricsStore


@dataclass(frozen=True)
class CostChange:
    execution_id: str
    task_id: str
    old_nano: int | None
    new_nano: int | None
    new_source: str


def reprice(store: MetricsStore, prices: PriceTable, *, since: date | None, dry_run: bool) -> list[CostChange]:
    since_ms = 0
    if since is not None:
        since_ms = int(datetime(since.year, since.month, since.day, tzinfo=timezone.utc).timestamp() * 1000)
    rows = store.conn.execute(
        "SELECT e.execution_id, e.task_id, e.started_at_ms, e.cost_nano_usd, m.model, m.tokens_input, "
        "m.tokens_output, m.tokens_cache_read, m.tokens_cache_write, m.tokens_cache_write_1h, m.cost_nano_usd, "
        "m.cost_source FROM executions e JOIN execution_models m USING (execution_id) "
        "WHERE e.cost_source != 'reported' AND e.started_at_ms >= ? ORDER BY e.started_at_ms, e.execution_id",
        (since_ms,),
    ).fetchall()
    by_execution: dict[str, list[tuple]] = {}
    for row in rows:
        by_execution.setdefault(row[0], []).append(row)
    changes: list[CostChange] = []
    updates: list[tuple[str, str, int | None, str]] = []
    for execution_id, models in by_execution.items():
        task_id, started_ms, old_total = models[0][1], models[0][2], models[0][3]
        on = datetime.fromtimestamp(started_ms / 1000, timezone.utc).date()
        total: int | None = 0
        sources = set()
        for (_, _, _, _, model, t_in, t_out, t_read, t_write, t_1h, old_cost, old_source) in models:
            cost, source = old_cost, old_source
            if old_source != "reported":
                usage = TokenUsage(input=t_in, output=t_out, cache_read=t_read,
                                   cache_write_5m=t_write - t_1h, cache_write_1h=t_1h)
                estimate = prices.estimate_nano(model, on, usage)
                if estimate is not None:
                    cost, source = estimate, "estimated"
                    updates.append((execution_id, model, cost, source))
            sources.add(source)
            total = None if total is None or cost is None else total + cost
        new_source = "unknown" if total is None else ("estimated" if "estimated" in sources else "reported")
        if total != old_total:
            changes.append(CostChange(execution_id, task_id, old_total, total, new_source))
    if not dry_run and changes:
        changed = {c.execution_id: c for c in changes}

        def write(conn):  # type: ignore[no-untyped-def]
            for execution_id, model, cost, source in updates:
                if execution_id in changed:
                    conn.execute(
                        "UPDATE execution_models SET cost_nano_usd = ?, cost_source = ? "
                        "WHERE execution_id = ? AND model = ?",
                        (cost, source, execution_id, model),
                    )
            for change in changes:
                conn.execute(
                    "UPDATE executions SET cost_nano_usd = ?, cost_source = ?, price_table_version = ? "
                    "WHERE execution_id = ?",
                    (change.new_nano, change.new_source, prices.version, change.execution_id),
                )

        store.transaction(write)
    return changes
