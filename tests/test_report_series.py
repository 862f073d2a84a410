"""The per-day series the dashboard draws (``reports.series``): cost by model, tokens by kind, p50 / p95 of
durations, each on the report zone's local days.

Counts refer to the executions E0..E11 of ``report_dataset`` (see its docstring), over 2026-10-28 to
2026-11-03 in America/New_York unless a test says otherwise.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from pilot_metrics_plugin.reports.query import ReportFilter
from pilot_metrics_plugin.reports.series import (
    cost_by_model_per_day,
    duration_percentiles_per_day,
    tokens_by_kind_per_day,
)
from pilot_metrics_plugin.reports.timezones import zone_named
from report_dataset import HAIKU, SONNET, ZONE, write_dataset


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    db = write_dataset(tmp_path_factory.mktemp("series") / "metrics.db")
    connection = sqlite3.connect(db)
    yield connection
    connection.close()


def span(zone: str = ZONE, **options: object) -> ReportFilter:
    return ReportFilter(zone=zone_named(zone), since=date(2026, 10, 28), until=date(2026, 11, 3), **options)


def by_date(doc: dict) -> dict[str, dict]:
    return {row["date"]: row for row in doc["rows"]}


def test_every_local_day_of_the_range_is_a_row_oldest_first(conn: sqlite3.Connection) -> None:
    for build in (cost_by_model_per_day, tokens_by_kind_per_day, duration_percentiles_per_day):
        dates = [row["date"] for row in build(conn, span())["rows"]]
        assert dates == [
            "2026-10-28",
            "2026-10-29",
            "2026-10-30",
            "2026-10-31",
            "2026-11-01",
            "2026-11-02",
            "2026-11-03",
        ], build.__name__


def test_cost_by_model_sums_each_models_known_cost_on_its_local_day(conn: sqlite3.Connection) -> None:
    doc = cost_by_model_per_day(conn, span())
    # Over the range: sonnet 1.5e9 (E1) + 2e9 (E4) + 2e9 (E5) = 5.5e9, haiku 2.5e8 + 1e9 + 1e7 = 1.26e9,
    # the mystery model nothing known: highest first.
    assert doc["models"] == [SONNET, HAIKU, "mystery-model"]
    day = by_date(doc)["2026-11-01"]
    # 11-01 in New York (25 hours): E3 mystery (unknown), E4 sonnet 2e9, E5 (23:30 EST, 11-02 in UTC)
    # sonnet 2e9 and haiku 1e9.
    assert day["cost_nano_usd_by_model"] == {
        SONNET: 4_000_000_000,
        HAIKU: 1_000_000_000,
        "mystery-model": None,
    }
    assert (day["cost_nano_usd"], day["cost_unknown_executions"]) == (5_000_000_000, 1)


def test_cost_by_model_leaves_out_executions_outside_the_local_range(conn: sqlite3.Connection) -> None:
    rows = by_date(cost_by_model_per_day(conn, span()))
    # E0 (10-27 23:30 EDT, 7 nano $) is before 10-28 in New York although UTC already says 10-28.
    assert rows["2026-10-28"]["cost_nano_usd_by_model"] == {SONNET: 1_500_000_000}
    assert sum(row["cost_nano_usd"] for row in rows.values()) == 6_760_000_000  # as `pilot metrics models`


def test_cost_by_model_keeps_only_matching_models_with_a_model_filter(conn: sqlite3.Connection) -> None:
    doc = cost_by_model_per_day(conn, span(model="haiku"))
    assert doc["models"] == [HAIKU]
    # Haiku: E2 2.5e8 on 10-31, E5 1e9 on 11-01, E7 1e7 on 11-02.
    assert [row["cost_nano_usd"] for row in doc["rows"]] == [
        0,
        0,
        0,
        250_000_000,
        1_000_000_000,
        10_000_000,
        0,
    ]


def test_tokens_by_kind_add_up_to_each_days_total(conn: sqlite3.Connection) -> None:
    rows = by_date(tokens_by_kind_per_day(conn, span()))
    # 11-01: E3 10/20/30/40, E4 5/5/0/0, E5 1000/2000/0/0.
    assert rows["2026-11-01"] == {
        "date": "2026-11-01",
        "tokens_input": 1015,
        "tokens_output": 2025,
        "tokens_cache_read": 30,
        "tokens_cache_write": 40,
        "tokens_total": 3110,
    }
    assert rows["2026-10-29"]["tokens_total"] == 0  # E9 used no tokens
    assert sum(row["tokens_total"] for row in rows.values()) == 4780  # the summary's total


def test_days_are_the_report_zones_so_a_late_execution_moves_with_the_zone(conn: sqlite3.Connection) -> None:
    in_utc = by_date(tokens_by_kind_per_day(conn, span("UTC")))
    # In UTC, E5 (04:30 on 11-02) is on 11-02 with E6 and E7; 11-01 keeps E2 (03:30), E3 and E4.
    assert in_utc["2026-11-02"]["tokens_total"] == 3000 + 0 + 10
    assert in_utc["2026-11-01"]["tokens_total"] == 60 + 100 + 10


def test_duration_percentiles_are_nearest_rank_per_day(conn: sqlite3.Connection) -> None:
    rows = by_date(duration_percentiles_per_day(conn, span()))
    # 11-01: 90 s (E5), 120 s (E3), 600 s (E4): p50 is the 2nd (ceil(1.5)), p95 the 3rd (ceil(2.85)).
    assert rows["2026-11-01"] == {
        "date": "2026-11-01",
        "finished": 3,
        "duration_p50_ms": 120_000,
        "duration_p95_ms": 600_000,
    }
    # 11-02: 5 s (E6), 45 s (E7): p50 the 1st (ceil(1.0)), p95 the 2nd (ceil(1.9)).
    assert (rows["2026-11-02"]["duration_p50_ms"], rows["2026-11-02"]["duration_p95_ms"]) == (5_000, 45_000)


def test_a_day_with_only_a_running_execution_has_no_percentiles(conn: sqlite3.Connection) -> None:
    rows = by_date(duration_percentiles_per_day(conn, span()))
    assert rows["2026-11-03"] == {
        "date": "2026-11-03",
        "finished": 0,
        "duration_p50_ms": None,
        "duration_p95_ms": None,
    }  # E8 has no duration yet


def test_the_series_follow_the_project_filter(conn: sqlite3.Connection) -> None:
    rows = by_date(duration_percentiles_per_day(conn, span(projects=("web",))))
    # web: E3 120 s and E4 600 s, both on 11-01.
    assert [row["finished"] for row in rows.values()] == [0, 0, 0, 0, 2, 0, 0]
    assert rows["2026-11-01"]["duration_p50_ms"] == 120_000


def test_an_empty_database_gives_zero_rows_not_errors(tmp_path: Path) -> None:
    from pilot_metrics_plugin.migrations import migrate

    empty = sqlite3.connect(":memory:", isolation_level=None)
    migrate(empty)
    assert by_date(cost_by_model_per_day(empty, span()))["2026-11-01"]["cost_nano_usd"] == 0
    assert by_date(duration_percentiles_per_day(empty, span()))["2026-11-01"]["duration_p95_ms"] is None
