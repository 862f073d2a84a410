"""A hand-made metrics database for the report tests, written row by row through ``MetricsStore``.

The report zone is America/New_York. Clocks go back on Sunday 2026-11-01 at 02:00 EDT (06:00 UTC) to 01:00
EST: before it local = UTC - 4 h, after it local = UTC - 5 h, and 2026-11-01 lasts 25 hours. The reports
run over ``--since 2026-10-28 --until 2026-11-03`` unless a test says otherwise.

id   local start (New York)  UTC start    project status          ms  in/out/cache read/write  cost (nano $)
E0   Tue 10-27 23:30 EDT     10-28 03:30  shop    succeeded     1000  1/1/0/0 = 2                   7 rep
E1   Wed 10-28 10:00 EDT     10-28 14:00  shop    succeeded    60000  100/200/1000/300 = 1600   1.5e9 rep
E9   Thu 10-29 15:00 EDT     10-29 19:00  api     failed       10000  0                             0 rep
E10  Fri 10-30 08:00 EDT     10-30 12:00  shop    failed       20000  0                             0 rep
E2   Sat 10-31 23:30 EDT     11-01 03:30  shop    failed       30000  50/10/0/0 = 60           2.5e8 est
E3   Sun 11-01 00:30 EDT     11-01 04:30  web     succeeded   120000  10/20/30/40 = 100       unknown
E4   Sun 11-01 01:30 EST     11-01 06:30  web     timed_out   600000  5/5/0/0 = 10              2e9 rep
E5   Sun 11-01 23:30 EST     11-02 04:30  shop    succeeded    90000  1000/2000/0/0 = 3000      3e9 rep
E6   Mon 11-02 00:30 EST     11-02 05:30  api     cancelled     5000  0                             0 rep
E7   Mon 11-02 12:00 EST     11-02 17:00  api     interrupted  45000  7/3/0/0 = 10              1e7 est
E8   Tue 11-03 22:00 EST     11-04 03:00  shop    running          -  0                             -
E11  Wed 11-04 00:30 EST     11-04 05:30  api     failed        1000  0                             0 rep

E0 is before ``--since`` (UTC says 10-28), E8 on the last day (UTC says 11-04), E11 after ``--until``.
E4 started at the second 01:30 of the night, after the change (EST). E8 is still running (no cost yet).
Failures (category, reason): E9 and E2 rate_limit "API Error: 429 rate limited", E10 rate_limit "API Error:
429 too many requests", E4 timeout "stopped after 600 s", E6 cancelled "cancelled by the user", E7 host_died
"the recording host stopped", E11 network "ECONNRESET". Diffs: E1 3 files +40 -5 with a PR, E5 2 files
+10 -1 with a PR. E6 asked for claude-haiku-4-5 and used nothing.

Model rows: E1 sonnet 100/200/1000/300 (1h 100) 1.5e9 reported; E2 haiku 50/10/0/0 2.5e8 estimated; E3 mystery
10/20/30/40 unknown; E4 sonnet 5/5/0/0 2e9 reported; E5 sonnet 1000/1500/0/0 2e9 reported and haiku 0/500/0/0
1e9 reported; E7 haiku 7/3/0/0 1e7 estimated; E0 sonnet 1/1/0/0 7 reported.
Phases: E0 planning 1000; E1 planning 10000, executing 50000; E2 planning 30000; E3 planning 20000, executing
100000; E5 planning 10000, executing 60000, testing 20000.

Task ids are ``T`` + the number (E2 -> T2). "sonnet" is claude-sonnet-4-6, "haiku" claude-haiku-4-5-20251001.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from hookspecs.cli import main
from hookspecs.manager import PluginHost
from pilot_metrics_plugin.plugin import MetricsPlugin
from pilot_metrics_plugin.record import ModelUsageRecord, PhaseRecord
from pilot_metrics_plugin.store import MetricsStore

ZONE = "America/New_York"
RANGE = ["--since", "2026-10-28", "--until", "2026-11-03", "--tz", ZONE]
SONNET = "claude-sonnet-4-6"
HAIKU = "claude-haiku-4-5-20251001"


def utc_ms(text: str) -> int:
    """``"2026-11-01 06:30"`` (UTC) as epoch milliseconds."""
    moment = datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)
    return int(moment.timestamp()) * 1000


def model(
    name: str, tokens: tuple[int, int, int, int], cost: int | None, source: str, one_hour: int = 0
) -> ModelUsageRecord:
    return ModelUsageRecord(name, *tokens, one_hour, sum(tokens), cost, source)


def phases(start_ms: int, *spans: tuple[str, int]) -> list[PhaseRecord]:
    records = []
    at = start_ms
    for name, duration_ms in spans:
        records.append(PhaseRecord(name, at, at + duration_ms, duration_ms))
        at += duration_ms
    return records


def execution(
    number: int,
    start: str,
    project: str,
    status: str,
    duration_ms: int,
    tokens: tuple[int, int, int, int],
    cost: int | None,
    source: str,
    *,
    one_hour: int = 0,
    category: str | None = None,
    reason: str | None = None,
    model_requested: str | None = None,
    diff: tuple[int, int, int] | None = None,
    pr: bool = False,
) -> dict[str, Any]:
    started = utc_ms(start)
    return {
        "execution_id": f"e{number:02d}-{started}",
        "task_id": f"T{number}",
        "project": project,
        "project_path": f"/src/{project}",
        "agent_command": ["claude", "-p"],
        "model_requested": model_requested,
        "status": status,
        "failure_category": category,
        "failure_reason": reason,
        "exit_code": 0 if status == "succeeded" else 1,
        "started_at_ms": started,
        "ended_at_ms": started + duration_ms,
        "duration_ms": duration_ms,
        "num_turns": 3,
        "tokens_input": tokens[0],
        "tokens_output": tokens[1],
        "tokens_cache_read": tokens[2],
        "tokens_cache_write": tokens[3],
        "tokens_cache_write_1h": one_hour,
        "tokens_total": sum(tokens),
        "cost_nano_usd": cost,
        "cost_source": source,
        "reported_cost_nano_usd": cost if source == "reported" else None,
        "tool_calls": {"Bash": 1},
        "files_changed": diff[0] if diff else None,
        "lines_added": diff[1] if diff else None,
        "lines_removed": diff[2] if diff else None,
        "pr_url": f"https://github.com/acme/{project}/pull/{number}" if pr else None,
        "usage_complete": True,
    }


def write_dataset(path: Path) -> Path:
    store = MetricsStore.open(path)
    rows = [
        (
            execution(0, "2026-10-28 03:30", "shop", "succeeded", 1000, (1, 1, 0, 0), 7, "reported"),
            phases(utc_ms("2026-10-28 03:30"), ("planning", 1000)),
            [model(SONNET, (1, 1, 0, 0), 7, "reported")],
        ),
        (
            execution(
                1,
                "2026-10-28 14:00",
                "shop",
                "succeeded",
                60000,
                (100, 200, 1000, 300),
                1_500_000_000,
                "reported",
                one_hour=100,
                diff=(3, 40, 5),
                pr=True,
            ),
            phases(utc_ms("2026-10-28 14:00"), ("planning", 10000), ("executing", 50000)),
            [model(SONNET, (100, 200, 1000, 300), 1_500_000_000, "reported", one_hour=100)],
        ),
        (
            execution(
                9,
                "2026-10-29 19:00",
                "api",
                "failed",
                10000,
                (0, 0, 0, 0),
                0,
                "reported",
                category="rate_limit",
                reason="API Error: 429 rate limited",
            ),
            [],
            [],
        ),
        (
            execution(
                10,
                "2026-10-30 12:00",
                "shop",
                "failed",
                20000,
                (0, 0, 0, 0),
                0,
                "reported",
                category="rate_limit",
                reason="API Error: 429 too many requests",
            ),
            [],
            [],
        ),
        (
            execution(
                2,
                "2026-11-01 03:30",
                "shop",
                "failed",
                30000,
                (50, 10, 0, 0),
                250_000_000,
                "estimated",
                category="rate_limit",
                reason="API Error: 429 rate limited",
            ),
            phases(utc_ms("2026-11-01 03:30"), ("planning", 30000)),
            [model(HAIKU, (50, 10, 0, 0), 250_000_000, "estimated")],
        ),
        (
            execution(3, "2026-11-01 04:30", "web", "succeeded", 120000, (10, 20, 30, 40), None, "unknown"),
            phases(utc_ms("2026-11-01 04:30"), ("planning", 20000), ("executing", 100000)),
            [model("mystery-model", (10, 20, 30, 40), None, "unknown")],
        ),
        (
            execution(
                4,
                "2026-11-01 06:30",
                "web",
                "timed_out",
                600000,
                (5, 5, 0, 0),
                2_000_000_000,
                "reported",
                category="timeout",
                reason="stopped after 600 s",
            ),
            [],
            [model(SONNET, (5, 5, 0, 0), 2_000_000_000, "reported")],
        ),
        (
            execution(
                5,
                "2026-11-02 04:30",
                "shop",
                "succeeded",
                90000,
                (1000, 2000, 0, 0),
                3_000_000_000,
                "reported",
                diff=(2, 10, 1),
                pr=True,
            ),
            phases(utc_ms("2026-11-02 04:30"), ("planning", 10000), ("executing", 60000), ("testing", 20000)),
            [
                model(SONNET, (1000, 1500, 0, 0), 2_000_000_000, "reported"),
                model(HAIKU, (0, 500, 0, 0), 1_000_000_000, "reported"),
            ],
        ),
        (
            execution(
                6,
                "2026-11-02 05:30",
                "api",
                "cancelled",
                5000,
                (0, 0, 0, 0),
                0,
                "reported",
                category="cancelled",
                reason="cancelled by the user",
                model_requested="claude-haiku-4-5",
            ),
            [],
            [],
        ),
        (
            execution(
                7,
                "2026-11-02 17:00",
                "api",
                "interrupted",
                45000,
                (7, 3, 0, 0),
                10_000_000,
                "estimated",
                category="host_died",
                reason="the recording host stopped",
            ),
            [],
            [model(HAIKU, (7, 3, 0, 0), 10_000_000, "estimated")],
        ),
        (
            execution(
                11,
                "2026-11-04 05:30",
                "api",
                "failed",
                1000,
                (0, 0, 0, 0),
                0,
                "reported",
                category="network",
                reason="ECONNRESET",
            ),
            [],
            [],
        ),
    ]
    for row, phase_records, models in rows:
        store.finish_execution(row, phase_records, models)
    running = execution(8, "2026-11-04 03:00", "shop", "running", 0, (0, 0, 0, 0), None, "unknown")
    started = (
        "execution_id",
        "task_id",
        "project",
        "project_path",
        "agent_command",
        "model_requested",
        "started_at_ms",
    )
    store.begin_execution({key: running[key] for key in started})
    store.close()
    return path


def host_for(db: Path) -> PluginHost:
    return PluginHost.create([("metrics", MetricsPlugin(db_path=db))], load_entrypoints=False)


def pilot(db: Path, argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``pilot ARGV`` in-process against ``db``: exit code, stdout, stderr."""
    capsys.readouterr()
    code = main(list(argv), host=host_for(db))
    out, err = capsys.readouterr()
    return code, out, err


def report_json(db: Path, report: str, capsys: pytest.CaptureFixture[str], *extra: str) -> Any:
    code, out, err = pilot(db, ["metrics", report, *RANGE, "--json", *extra], capsys)
    assert (code, err) == (0, "")
    return json.loads(out)


def report_table(db: Path, report: str, capsys: pytest.CaptureFixture[str], *extra: str) -> list[list[str]]:
    """The table in tab-separated style, as rows of stripped cells (the header row first)."""
    code, out, err = pilot(db, ["metrics", report, *RANGE, "--format", "tsv", *extra], capsys)
    assert (code, err) == (0, "")
    return [[cell.strip() for cell in line.split("\t")] for line in out.splitlines() if "\t" in line]
