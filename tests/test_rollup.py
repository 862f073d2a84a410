"""The hourly rollup (`executions_by_hour`) is what the finished rows add up to, whatever writes them, and a
report read from it says what the same report aggregated from the rows says, in a zone whose midnights are
not on the hour too."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pilot_metrics_plugin.reports.hourly import ROW_SUMS
from pilot_metrics_plugin.store import MetricsStore
from report_dataset import HAIKU, SONNET, execution, model, phases, pilot

ROLLUP = [name for name in ROW_SUMS if name != "running"]
"""The rollup's columns: every total but the running executions (it holds the finished ones)."""
STATUSES = ("succeeded", "succeeded", "succeeded", "failed", "timed_out", "cancelled", "interrupted")


def rollup_of(store: MetricsStore) -> dict[int, tuple[int, ...]]:
    rows = store.conn.execute(f"SELECT hour, {', '.join(ROLLUP)} FROM executions_by_hour").fetchall()
    return {hour: tuple(values) for hour, *values in rows if any(values)}


def rows_of(store: MetricsStore) -> dict[int, tuple[int, ...]]:
    """The same totals aggregated from the rows, per UTC hour of start."""
    sums = ", ".join(f"ifnull({ROW_SUMS[name]}, 0)" for name in ROLLUP)
    rows = store.conn.execute(
        f"SELECT started_at_ms / 3600000 AS hour, {sums} FROM executions "
        "WHERE status <> 'running' GROUP BY hour"
    ).fetchall()
    return {hour: tuple(values) for hour, *values in rows}


def random_execution(rng: random.Random, number: int, day: int) -> dict:
    status = rng.choice(STATUSES)
    cost = rng.choice((None, 0, rng.randrange(1, 10**10)))
    row = execution(
        number,
        f"2026-11-{day:02d} {rng.randrange(24):02d}:{rng.randrange(60):02d}",
        rng.choice(("shop", "web", "api")),
        status,
        rng.randrange(1, 3_600_000),
        (rng.randrange(100), rng.randrange(1000), rng.randrange(10**6), rng.randrange(10**4)),
        cost,
        "unknown" if cost is None else rng.choice(("reported", "estimated")),
        one_hour=rng.randrange(2),
        diff=rng.choice((None, (rng.randrange(9), rng.randrange(500), rng.randrange(90)))),
        pr=rng.random() < 0.3,
    )
    row["started_at_ms"] += rng.randrange(60_000)  # any millisecond of the minute
    return row


def test_the_rollup_is_what_the_finished_rows_add_up_to_after_every_kind_of_write(tmp_path: Path) -> None:
    rng = random.Random(2026)
    store = MetricsStore.open(tmp_path / "metrics.db")
    rows = [random_execution(rng, n, 1 + n % 3) for n in range(60)]
    for row in rows[:50]:
        models = [model(SONNET, (1, 2, 3, 4), row["cost_nano_usd"], row["cost_source"])]
        store.finish_execution(row, [], models)
    started = ("execution_id", "task_id", "project", "project_path", "agent_command", "started_at_ms")
    for row in rows[50:]:  # running: not in the rollup until they end
        store.begin_execution({key: row[key] for key in started})
    assert rollup_of(store) == rows_of(store)
    for row in rows[50:55]:  # ended
        store.finish_execution(row, [], [], running_row=True)
    store.transaction(lambda conn: conn.execute(  # a host died: marked interrupted
        "UPDATE executions SET updated_at_ms = 0 WHERE execution_id = ?", (rows[55]["execution_id"],)))
    store.mark_stale_running(3600)
    store.transaction(lambda conn: conn.execute(  # repriced, as `pilot metrics reprice` writes it
        "UPDATE executions SET cost_nano_usd = 777, cost_source = 'estimated' WHERE execution_id = ?",
        (rows[3]["execution_id"],)))
    store.finish_execution({**rows[4], "status": "failed", "tokens_total": 5}, [], [])  # recorded again
    store.transaction(lambda conn: conn.execute(
        "DELETE FROM executions WHERE execution_id = ?", (rows[5]["execution_id"],)))
    store.transaction(lambda conn: conn.execute(  # a start time corrected: its part moves to another hour
        "UPDATE executions SET started_at_ms = started_at_ms + 7200000 WHERE execution_id = ?",
        (rows[6]["execution_id"],)))
    assert rollup_of(store) == rows_of(store)
    # 60 executions, one deleted, four still running.
    assert sum(values[0] for values in rollup_of(store).values()) == 55


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 executions at random minutes over four days, with models and phases, five of them running."""
    rng = random.Random(7)
    db = tmp_path_factory.mktemp("rollup") / "metrics.db"
    store = MetricsStore.open(db)
    for n in range(300):
        row = random_execution(rng, n, 2 + n % 4)
        if n % 60 == 0:
            started = ("execution_id", "task_id", "project", "project_path", "agent_command", "started_at_ms")
            store.begin_execution({key: row[key] for key in started})
            continue
        models = [model(SONNET, (1, 2, 3, 4), row["cost_nano_usd"], row["cost_source"])]
        if n % 3 == 0:
            models.append(model(HAIKU, (5, 6, 0, 0), 10, "estimated"))
        spans = phases(row["started_at_ms"], ("planning", 1000), ("testing", 2000))
        store.finish_execution(row, spans, models)
    store.close()
    return db


EVERY_STATUS = ["--status", "succeeded", "--status", "failed", "--status", "running"]
"""A status filter that keeps every execution, and sends a report to the rows instead of the rollup."""


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
@pytest.mark.parametrize("report", ["summary", "daily", "models"])
def test_a_report_from_the_rollup_says_what_the_same_report_from_the_rows_says(
    busy: Path, zone: str, report: str, capsys
) -> None:
    # Kolkata is 5:30 and St. John's 3:30 (2:30 in summer) from UTC: their days start on the half hour, so
    # half an hour at each end of a day comes from the rows.
    argv = ["metrics", report, "--since", "2026-11-02", "--until", "2026-11-05", "--tz", zone, "--json",
            "--db", str(busy)]
    code, out, err = pilot(busy, argv, capsys)
    assert (code, err) == (0, "")
    from_rollup = json.loads(out)
    code, out, err = pilot(busy, [*argv, *EVERY_STATUS], capsys)
    assert (code, err) == (0, "")
    from_rows = json.loads(out)
    from_rollup.pop("filters", None)
    from_rows.pop("filters", None)
    assert from_rollup == from_rows
    if report == "summary":
        assert from_rollup["executions"] > 200 and from_rollup["running"] > 0
