"""Every report's numbers, in JSON and in the table, against the hand-made dataset of ``report_dataset``
(its docstring lists each execution; the derivations below refer to them by id E0..E11).

In range (2026-10-28..2026-11-03, America/New_York): E1..E10, ten executions. E0 and E11 are outside.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pilot_metrics_plugin.store import MetricsStore
from report_dataset import (
    HAIKU,
    SONNET,
    execution,
    phases,
    report_json,
    report_table,
    utc_ms,
    write_dataset,
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("reports") / "metrics.db")


# -- summary ---------------------------------------------------------------------------------------------


def test_summary_counts_statuses_with_running_neither_succeeded_nor_failed(db: Path, capsys) -> None:
    doc = report_json(db, "summary", capsys)
    # succeeded: E1 E3 E5; failed: E2 E9 E10 (failed), E4 (timed_out), E6 (cancelled), E7 (interrupted);
    # running: E8. Finished 9, so the success rate is 3 / 9.
    assert (doc["executions"], doc["succeeded"], doc["failed"], doc["running"]) == (10, 3, 6, 1)
    assert doc["failed_by_status"] == {"failed": 3, "timed_out": 1, "cancelled": 1, "interrupted": 1}
    assert doc["success_rate"] == 3 / 9


def test_summary_durations_use_nearest_rank_percentiles_over_finished_executions(db: Path, capsys) -> None:
    doc = report_json(db, "summary", capsys)
    # Finished durations sorted: 5000 10000 20000 30000 45000 60000 90000 120000 600000 (n = 9, E8 has none).
    # total 980000; avg 980000 / 9 = 108888.9 -> 108889; p50 rank ceil(4.5) = 5 -> 45000;
    # p95 rank ceil(8.55) = 9 -> 600000.
    assert doc["duration_ms"] == {
        "total": 980000,
        "avg": 108889,
        "p50": 45000,
        "p95": 600000,
        "min": 5000,
        "max": 600000,
    }


def test_summary_tokens_are_exact_integer_sums(db: Path, capsys) -> None:
    doc = report_json(db, "summary", capsys)
    # input 100 + 50 + 10 + 5 + 1000 + 7 = 1172; output 200 + 10 + 20 + 5 + 2000 + 3 = 2238;
    # cache read 1000 + 30 = 1030; cache write 300 + 40 = 340 (100 of them 1h, E1); total 4780;
    # avg over the 9 finished executions: 4780 / 9 = 531.1 -> 531.
    assert doc["tokens"] == {
        "input": 1172,
        "output": 2238,
        "cache_read": 1030,
        "cache_write": 340,
        "cache_write_1h": 100,
        "total": 4780,
        "avg": 531,
    }


def test_summary_cost_sums_known_costs_and_counts_the_unknown_ones(db: Path, capsys) -> None:
    doc = report_json(db, "summary", capsys)
    # known: E1 1.5e9 + E2 2.5e8 + E4 2e9 + E5 3e9 + E7 1e7 + E6/E9/E10 0 = 6_760_000_000 over 8 executions;
    # E3's cost is unknown; E8 is running (no cost yet, not "unknown").
    # reported: 1.5e9 + 2e9 + 3e9 = 6.5e9; estimated: 2.5e8 + 1e7 = 2.6e8; avg 6.76e9 / 8 = 845_000_000.
    assert doc["cost_nano_usd"] == 6_760_000_000
    assert doc["cost_usd"] == 6.76
    assert doc["cost_unknown_executions"] == 1
    assert (doc["cost_reported_nano_usd"], doc["cost_estimated_nano_usd"]) == (6_500_000_000, 260_000_000)
    assert (doc["cost_avg_nano_usd"], doc["cost_avg_usd"]) == (845_000_000, 0.845)


def test_summary_counts_changes_and_pull_requests(db: Path, capsys) -> None:
    doc = report_json(db, "summary", capsys)
    # E1 3 files +40 -5 with a PR, E5 2 files +10 -1 with a PR; no one else has a diff.
    assert (doc["files_changed"], doc["lines_added"], doc["lines_removed"], doc["prs"]) == (5, 50, 6, 2)
    assert (doc["since"], doc["until"], doc["tz"]) == ("2026-10-28", "2026-11-03", "America/New_York")


def test_summary_table_shows_the_same_numbers(db: Path, capsys) -> None:
    table = {row[0]: row[1] for row in report_table(db, "summary", capsys)}
    assert table["executions"] == "10: 3 succeeded, 6 failed, 1 running"
    assert table["failed"] == "3 failed, 1 timed out, 1 cancelled, 1 interrupted"
    assert table["success rate"] == "33.3%"
    # 980000 ms = 16m20s; 108889 ms = 1m49s; 45 s; 600 s = 10m00s; 5 s.
    assert table["duration"] == "total 16m20s, avg 1m49s, p50 45.0s, p95 10m00s, fastest 5.0s, slowest 10m00s"
    assert table["cost"] == ("$6.7600 + 1 unknown ($6.5000 reported, $0.2600 estimated); avg $0.8450")
    assert table["changes"] == "5 files, +50 -6 lines, 2 pull requests"


# -- daily / weekly / monthly ----------------------------------------------------------------------------


def test_daily_puts_each_execution_on_its_local_day_across_the_dst_change(db: Path, capsys) -> None:
    doc = report_json(db, "daily", capsys)
    executions = {row["date"]: row["executions"] for row in doc["rows"]}
    # E2 23:30 EDT stays on 10-31 (UTC: 11-01); E3 00:30 EDT and E4 01:30 EST and E5 23:30 EST are all on
    # the 25-hour 11-01 (UTC puts E5 on 11-02); E8 22:00 EST is on 11-03 (UTC: 11-04). E0 (10-27 local) and
    # E11 (11-04 local) are outside. Empty days are zero rows, newest first.
    assert list(executions.items()) == [
        ("2026-11-03", 1),
        ("2026-11-02", 2),
        ("2026-11-01", 3),
        ("2026-10-31", 1),
        ("2026-10-30", 1),
        ("2026-10-29", 1),
        ("2026-10-28", 1),
    ]


def test_daily_rows_carry_status_duration_tokens_and_cost(db: Path, capsys) -> None:
    rows = {row["date"]: row for row in report_json(db, "daily", capsys)["rows"]}
    # 11-01: E3 (succeeded, 120000, 100 tokens, unknown cost), E4 (timed out, 600000, 10, 2e9),
    # E5 (succeeded, 90000, 3000, 3e9): 2 of 3 succeeded, 810000 ms (avg 270000), 3110 tokens,
    # 5e9 known + 1 unknown.
    assert rows["2026-11-01"] == {
        "date": "2026-11-01",
        "executions": 3,
        "succeeded": 2,
        "failed": 1,
        "running": 0,
        "success_rate": 2 / 3,
        "duration_ms": 810000,
        "duration_avg_ms": 270000,
        "tokens_total": 3110,
        "cost_nano_usd": 5_000_000_000,
        "cost_usd": 5.0,
        "cost_unknown_executions": 1,
    }
    # 11-03: only E8, running: nothing finished, so no success rate and no average.
    assert rows["2026-11-03"] == {
        "date": "2026-11-03",
        "executions": 1,
        "succeeded": 0,
        "failed": 0,
        "running": 1,
        "success_rate": None,
        "duration_ms": 0,
        "duration_avg_ms": None,
        "tokens_total": 0,
        "cost_nano_usd": 0,
        "cost_usd": 0.0,
        "cost_unknown_executions": 0,
    }


def test_daily_total_equals_the_summary(db: Path, capsys) -> None:
    total = report_json(db, "daily", capsys)["total"]
    # The same ten executions as the summary: 980000 ms / 9 finished = 108889.
    assert total == {
        "executions": 10,
        "succeeded": 3,
        "failed": 6,
        "running": 1,
        "success_rate": 3 / 9,
        "duration_ms": 980000,
        "duration_avg_ms": 108889,
        "tokens_total": 4780,
        "cost_nano_usd": 6_760_000_000,
        "cost_usd": 6.76,
        "cost_unknown_executions": 1,
    }


def test_daily_table_has_zero_rows_a_bar_and_a_total(db: Path, capsys) -> None:
    table = report_table(db, "daily", capsys)
    header, *rows, total = table
    assert header[:9] == [
        "date",
        "executions",
        "succeeded",
        "failed",
        "success",
        "duration",
        "avg",
        "tokens",
        "cost",
    ]
    by_day = {row[0]: row for row in rows}
    # 2026-11-01 was a Sunday; 810000 ms = 13m30s, 270000 ms = 4m30s; the largest cost of the range (5e9)
    # gets the full 16-character bar.
    assert by_day["2026-11-01 Sun"][1:9] == [
        "3",
        "2",
        "1",
        "66.7%",
        "13m30s",
        "4m30s",
        "3,110",
        "$5.0000 + 1 unknown",
    ]
    assert by_day["2026-11-01 Sun"][9] == "█" * 16
    assert by_day["2026-10-30 Fri"][1:9] == ["1", "0", "1", "0.0%", "20.0s", "20.0s", "0", "$0.0000"]
    assert by_day["2026-11-03 Tue"][4:7] == ["-", "-", "-"]
    assert total[:9] == ["total", "10", "3", "6", "33.3%", "16m20s", "1m49s", "4,780", "$6.7600 + 1 unknown"]


def test_weekly_rows_are_iso_weeks_cut_to_the_range(db: Path, capsys) -> None:
    doc = report_json(db, "weekly", capsys)
    # W44 is Monday 10-26..Sunday 11-01, cut to 10-28..11-01: E1 E9 E10 E2 E3 E4 E5 (7; succeeded E1 E3 E5;
    # 60000 + 10000 + 20000 + 30000 + 120000 + 600000 + 90000 = 930000 ms; tokens 1600 + 60 + 100 + 10 + 3000
    # = 4770; cost 1.5e9 + 2.5e8 + 2e9 + 3e9 = 6.75e9, E3 unknown).
    # W45 from Monday 11-02, cut at 11-03: E6 E7 E8 (2 failed, 1 running; 50000 ms; 10 tokens; 1e7).
    assert [
        (
            r["week"],
            r["date"],
            r["start"],
            r["end"],
            r["executions"],
            r["succeeded"],
            r["failed"],
            r["running"],
            r["duration_ms"],
            r["tokens_total"],
            r["cost_nano_usd"],
            r["cost_unknown_executions"],
        )
        for r in doc["rows"]
    ] == [
        ("2026-W45", "2026-11-02", "2026-11-02", "2026-11-03", 3, 0, 2, 1, 50000, 10, 10_000_000, 0),
        ("2026-W44", "2026-10-26", "2026-10-28", "2026-11-01", 7, 3, 4, 0, 930000, 4770, 6_750_000_000, 1),
    ]


def test_monthly_rows_split_at_the_local_month_boundary(db: Path, capsys) -> None:
    doc = report_json(db, "monthly", capsys)
    # October (10-28..10-31): E1 E9 E10 E2 -> 4, 1 succeeded, 3 failed;
    # 60000 + 10000 + 20000 + 30000 = 120000 ms; tokens 1600 + 60 = 1660; cost 1.5e9 + 2.5e8 = 1.75e9.
    # E2 at 23:30 EDT on 10-31 is October although it is November in UTC.
    # November (11-01..11-03): E3 E4 E5 E6 E7 E8 -> 6, 2 succeeded, 3 failed, 1 running; 120000 + 600000 +
    # 90000 + 5000 + 45000 = 860000; tokens 100 + 10 + 3000 + 10 = 3120; cost 2e9 + 3e9 + 1e7 = 5.01e9.
    assert [
        (
            r["month"],
            r["executions"],
            r["succeeded"],
            r["failed"],
            r["running"],
            r["duration_ms"],
            r["tokens_total"],
            r["cost_nano_usd"],
            r["success_rate"],
        )
        for r in doc["rows"]
    ] == [
        ("2026-11", 6, 2, 3, 1, 860000, 3120, 5_010_000_000, 2 / 5),
        ("2026-10", 4, 1, 3, 0, 120000, 1660, 1_750_000_000, 1 / 4),
    ]


# -- projects --------------------------------------------------------------------------------------------


def test_projects_rows_are_busiest_first_with_their_last_execution(db: Path, capsys) -> None:
    doc = report_json(db, "projects", capsys)
    # shop: E1 E10 E2 E5 E8 -> 5 (2 succeeded, 2 failed, 1 running; 60000 + 20000 + 30000 + 90000 = 200000
    #   over 4 = 50000; tokens 1600 + 60 + 3000 = 4660; cost 1.5e9 + 2.5e8 + 3e9 = 4.75e9), last E8 22:00 EST.
    # api: E9 E6 E7 -> 3 failed (10000 + 5000 + 45000 = 60000, avg 20000; 10 tokens; 1e7), last E7.
    # web: E3 E4 -> 2 (1 succeeded; 720000, avg 360000; 110 tokens; 2e9 + E3 unknown), last E4 01:30 EST.
    assert [
        (
            r["project"],
            r["executions"],
            r["succeeded"],
            r["failed"],
            r["running"],
            r["duration_ms"],
            r["duration_avg_ms"],
            r["tokens_total"],
            r["cost_nano_usd"],
            r["cost_unknown_executions"],
            r["last_started_at"],
        )
        for r in doc["rows"]
    ] == [
        ("shop", 5, 2, 2, 1, 200000, 50000, 4660, 4_750_000_000, 0, "2026-11-03T22:00:00-05:00"),
        ("api", 3, 0, 3, 0, 60000, 20000, 10, 10_000_000, 0, "2026-11-02T12:00:00-05:00"),
        ("web", 2, 1, 1, 0, 720000, 360000, 110, 2_000_000_000, 1, "2026-11-01T01:30:00-05:00"),
    ]
    total = doc["total"]
    assert (total["projects"], total["executions"], total["cost_nano_usd"]) == (3, 10, 6_760_000_000)


def test_projects_limit_keeps_the_busiest_and_totals_them_all(db: Path, capsys) -> None:
    doc = report_json(db, "projects", capsys, "--limit", "1")
    assert [row["project"] for row in doc["rows"]] == ["shop"]
    assert (doc["projects_not_shown"], doc["total"]["executions"]) == (2, 10)


def test_projects_table_shows_last_execution_in_local_time(db: Path, capsys) -> None:
    header, *rows = report_table(db, "projects", capsys)
    assert header[0] == "project" and header[-1] == "last started"
    assert rows[0] == [
        "shop",
        "5",
        "2",
        "2",
        "50.0%",
        "3m20s",
        "50.0s",
        "4,660",
        "$4.7500",
        "2026-11-03 22:00",
    ]
    assert rows[2][8] == "$2.0000 + 1 unknown"
    assert rows[-1][0] == "total (3 projects)"


# -- models ----------------------------------------------------------------------------------------------


def test_models_rows_sum_each_models_tokens_and_cost(db: Path, capsys) -> None:
    doc = report_json(db, "models", capsys)
    # sonnet: E1 E4 E5 -> input 100 + 5 + 1000 = 1105, output 200 + 5 + 1500 = 1705, cache read 1000,
    #   cache write 300 (100 1h), total 1600 + 10 + 2500 = 4110; cost 1.5e9 + 2e9 + 2e9 = 5.5e9, all reported.
    # haiku: E2 E5 E7 -> 50 + 0 + 7 = 57, 10 + 500 + 3 = 513, total 60 + 500 + 10 = 570;
    #   cost 2.5e8 (est) + 1e9 (rep) + 1e7 (est) = 1.26e9: mixed sources.
    # mystery-model: E3 -> 10/20/30/40 = 100, cost unknown. Highest cost first.
    assert [
        (
            r["model"],
            r["executions"],
            r["tokens_input"],
            r["tokens_output"],
            r["tokens_cache_read"],
            r["tokens_cache_write"],
            r["tokens_cache_write_1h"],
            r["tokens_total"],
            r["cost_nano_usd"],
            r["cost_reported_nano_usd"],
            r["cost_estimated_nano_usd"],
            r["cost_unknown_executions"],
            r["cost_source"],
        )
        for r in doc["rows"]
    ] == [
        (SONNET, 3, 1105, 1705, 1000, 300, 100, 4110, 5_500_000_000, 5_500_000_000, 0, 0, "reported"),
        (HAIKU, 3, 57, 513, 0, 0, 0, 570, 1_260_000_000, 1_000_000_000, 260_000_000, 0, "mixed"),
        ("mystery-model", 1, 10, 20, 30, 40, 0, 100, 0, 0, 0, 1, "unknown"),
    ]


def test_models_total_matches_the_summary(db: Path, capsys) -> None:
    total = report_json(db, "models", capsys)["total"]
    # Token and cost sums of the rows equal the executions' own (4780 tokens, 6.76e9); executions counts
    # each filtered execution once (10), unknown cost: E3.
    assert (
        total["models"],
        total["executions"],
        total["tokens_total"],
        total["tokens_input"],
        total["cost_nano_usd"],
        total["cost_unknown_executions"],
        total["cost_source"],
    ) == (3, 10, 4780, 1172, 6_760_000_000, 1, "mixed")


def test_models_table_names_the_cost_source(db: Path, capsys) -> None:
    header, *rows = report_table(db, "models", capsys)
    assert header == [
        "model",
        "executions",
        "input",
        "output",
        "cache read",
        "cache write",
        "total tokens",
        "cost",
        "cost source",
    ]
    assert rows[1] == [HAIKU, "3", "57", "513", "0", "0", "570", "$1.2600", "mixed"]
    assert rows[2][7:] == ["unknown (1)", "unknown"]


# -- phases ----------------------------------------------------------------------------------------------


def test_phases_report_totals_averages_p95_and_share(db: Path, capsys) -> None:
    doc = report_json(db, "phases", capsys)
    # executing: E1 50000, E3 100000, E5 60000 -> 210000, avg 70000, p95 rank ceil(2.85) = 3 -> 100000.
    # planning: E1 10000, E2 30000, E3 20000, E5 10000 -> 70000, avg 17500, p95 rank ceil(3.8) = 4 -> 30000.
    # testing: E5 20000. Share: over the durations of the executions with phases, E1 60000 + E2 30000 +
    # E3 120000 + E5 90000 = 300000 (E0 is out of range).
    assert doc["rows"] == [
        {
            "phase": "executing",
            "occurrences": 3,
            "executions": 3,
            "duration_ms": 210000,
            "duration_avg_ms": 70000,
            "duration_p95_ms": 100000,
            "share": 210000 / 300000,
        },
        {
            "phase": "planning",
            "occurrences": 4,
            "executions": 4,
            "duration_ms": 70000,
            "duration_avg_ms": 17500,
            "duration_p95_ms": 30000,
            "share": 70000 / 300000,
        },
        {
            "phase": "testing",
            "occurrences": 1,
            "executions": 1,
            "duration_ms": 20000,
            "duration_avg_ms": 20000,
            "duration_p95_ms": 20000,
            "share": 20000 / 300000,
        },
    ]
    assert doc["total"] == {
        "phases": 3,
        "occurrences": 8,
        "duration_ms": 300000,
        "execution_duration_ms": 300000,
        "share": 1.0,
    }


def test_phases_table_shows_share_of_time(db: Path, capsys) -> None:
    header, *rows = report_table(db, "phases", capsys)
    assert header == ["phase", "occurrences", "executions", "total", "avg", "p95", "share of time"]
    # 210000 ms = 3m30s, 70000 = 1m10s, 100000 = 1m40s; 210000 / 300000 = 70.0%.
    assert rows[0] == ["executing", "3", "3", "3m30s", "1m10s", "1m40s", "70.0%"]
    assert rows[1][6] == "23.3%"


# -- failures --------------------------------------------------------------------------------------------


def test_failures_group_by_category_with_top_reasons_and_latest_tasks(db: Path, capsys) -> None:
    doc = report_json(db, "failures", capsys)
    # rate_limit: E9 (10-29, "rate limited"), E10 (10-30, "too many requests"), E2 (10-31, "rate limited")
    # -> 3 of 6 failures; "rate limited" twice (latest T2 then T9), "too many requests" once (T10).
    # Then one each, by name: cancelled (E6), host_died (E7), timeout (E4). E11 (network) is out of range.
    rate_limit, *others = doc["rows"]
    assert rate_limit == {
        "category": "rate_limit",
        "executions": 3,
        "share": 0.5,
        "failed_by_status": {"failed": 3, "timed_out": 0, "cancelled": 0, "interrupted": 0},
        "latest_task_ids": ["T2", "T10", "T9"],
        "reasons": [
            {"reason": "API Error: 429 rate limited", "executions": 2, "latest_task_ids": ["T2", "T9"]},
            {"reason": "API Error: 429 too many requests", "executions": 1, "latest_task_ids": ["T10"]},
        ],
    }
    assert [(r["category"], r["executions"], r["latest_task_ids"]) for r in others] == [
        ("cancelled", 1, ["T6"]),
        ("host_died", 1, ["T7"]),
        ("timeout", 1, ["T4"]),
    ]
    assert others[2]["failed_by_status"]["timed_out"] == 1


def test_failures_total_is_a_share_of_finished_executions(db: Path, capsys) -> None:
    total = report_json(db, "failures", capsys)["total"]
    # 6 failures of 9 finished executions (E8 is running).
    assert total == {
        "executions": 6,
        "finished": 9,
        "failure_rate": 6 / 9,
        "failed_by_status": {"failed": 3, "timed_out": 1, "cancelled": 1, "interrupted": 1},
    }


def test_failures_limit_caps_the_reasons_per_category(db: Path, capsys) -> None:
    doc = report_json(db, "failures", capsys, "--limit", "1")
    assert [r["reason"] for r in doc["rows"][0]["reasons"]] == ["API Error: 429 rate limited"]


def test_failures_table_lists_reasons_under_their_category(db: Path, capsys) -> None:
    header, first, second, *rest = report_table(db, "failures", capsys)
    assert header == ["category", "failures", "share", "top reasons", "count", "latest tasks"]
    assert first == ["rate_limit", "3", "50.0%", "API Error: 429 rate limited", "2", "T2, T9"]
    assert second == ["", "", "", "API Error: 429 too many requests", "1", "T10"]
    assert rest[-1][:3] == ["total", "6", "66.7% of 9 finished"]


# -- peak ------------------------------------------------------------------------------------------------


def test_peak_buckets_by_local_hour_and_weekday_across_the_dst_change(db: Path, capsys) -> None:
    doc = report_json(db, "peak", capsys)
    # Local (weekday, hour): E1 Wed 10, E9 Thu 15, E10 Fri 08, E2 Sat 23, E3 Sun 00, E4 Sun 01 (06:30 UTC is
    # 01:30 EST, after the change: with EDT it would be 02), E5 Sun 23 (EST; with EDT it would be Mon 00),
    # E6 Mon 00, E7 Mon 12, E8 Tue 22.
    expected = {(2, 10), (3, 15), (4, 8), (5, 23), (6, 0), (6, 1), (6, 23), (0, 0), (0, 12), (1, 22)}
    cells = {(day, hour) for day in range(7) for hour in range(24) if doc["grid"][day][hour]}
    assert cells == expected
    assert all(doc["grid"][day][hour] == 1 for day, hour in expected)
    assert doc["by_weekday"] == [2, 1, 1, 1, 1, 1, 3]
    by_hour = {hour: n for hour, n in enumerate(doc["by_hour"]) if n}
    assert by_hour == {0: 2, 1: 1, 8: 1, 10: 1, 12: 1, 15: 1, 22: 1, 23: 2}
    # Hours 0 and 23 tie at 2: the earlier wins. Sunday has 3.
    assert (doc["executions"], doc["peak_hour"], doc["peak_weekday"]) == (10, 0, "Sunday")


def test_peak_table_is_hours_down_weekdays_across(db: Path, capsys) -> None:
    header, *rows = report_table(db, "peak", capsys)
    assert header[:9] == ["hour", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "total"]
    by_hour = {row[0]: row for row in rows}
    assert by_hour["23"][1:9] == [".", ".", ".", ".", ".", "1", "1", "2"]
    assert by_hour["total"][1:9] == ["2", "1", "1", "1", "1", "1", "3", "10"]


def test_percentiles_of_a_large_range_are_exact_nearest_rank_values(tmp_path: Path, capsys) -> None:
    db = tmp_path / "large.db"
    store = MetricsStore.open(db)
    day_ms = 86_400_000
    start = utc_ms("2026-11-10 12:00")
    # 20000 executions on 11-10 lasting 1..20000 ms, and 2000 on 11-20 lasting a million ms or more, which
    # the range leaves out. Large ranges walk the duration index (from the nearer end), small ones sort.
    rows = [(f"in-{n}", start + n, n) for n in range(1, 20001)]
    rows += [(f"out-{n}", start + 10 * day_ms + n, 1_000_000 + n) for n in range(2000)]
    store.transaction(
        lambda conn: conn.executemany(
            "INSERT INTO executions (execution_id, task_id, project, agent_command, status, started_at_ms, "
            "updated_at_ms, duration_ms) VALUES (?, 'T', 'p', '[]', 'succeeded', ?, 0, ?)",
            rows,
        )
    )
    store.close()
    doc = report_json(db, "summary", capsys, "--since", "2026-11-10", "--until", "2026-11-10", "--tz", "UTC")
    # n = 20000: p50 is the 10000th shortest (10000 ms), p95 the ceil(0.95 * 20000) = 19000th (19000 ms).
    assert (doc["executions"], doc["duration_ms"]["p50"], doc["duration_ms"]["p95"]) == (20000, 10000, 19000)
    assert (doc["duration_ms"]["min"], doc["duration_ms"]["max"]) == (1, 20000)


def test_phase_p95_of_a_short_range_in_a_long_history_counts_only_the_range(tmp_path: Path, capsys) -> None:
    db = tmp_path / "history.db"
    no_tokens = (0, 0, 0, 0)
    store = MetricsStore.open(db)
    # 40 executions in 2025 with a 1000 s planning phase each, then three on 2026-11-10 planning for 10, 20
    # and 30 s. A short range in a long history sorts its own occurrences instead of walking the index.
    for n in range(40):
        row = execution(100 + n, "2025-06-01 12:00", "old", "succeeded", 1_000_000, no_tokens, 0, "reported")
        store.finish_execution(row, phases(row["started_at_ms"], ("planning", 1_000_000)), [])
    for n, ms in enumerate((10_000, 20_000, 30_000)):
        row = execution(n, f"2026-11-10 1{n}:00", "new", "succeeded", ms, no_tokens, 0, "reported")
        store.finish_execution(row, phases(row["started_at_ms"], ("planning", ms)), [])
    store.close()
    doc = report_json(db, "phases", capsys, "--since", "2026-11-10", "--until", "2026-11-10", "--tz", "UTC")
    # n = 3: p95 is the ceil(2.85) = 3rd shortest, 30000; the 2025 phases are out of range.
    (planning,) = doc["rows"]
    numbers = (planning["occurrences"], planning["duration_ms"], planning["duration_p95_ms"])
    assert numbers == (3, 60000, 30000)
