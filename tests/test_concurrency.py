"""Concurrency: eight `pilot replay` processes record 200 executions each into one database while reports read
it. Every execution is there exactly once, the totals are the sum of the inputs, no one sees `database is
locked`, the database passes the integrity check, and every report run during the writes succeeds and sees
only whole executions.

Each execution replays the shared transcript v2.1.328: its result reports 2003 input + 83 output + 15000
cache-read + 4000 cache-write tokens = 21086 and costUSD 0.03267200000000001 = 32672000 nano-dollars, in two
phases (test_record_fixtures.EXPECTED). 8 x 200 = 1600 executions: 33_737_600 tokens, 52_275_200_000
nano-dollars, 3200 phases, 1600 model rows.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import transcript

FIXTURE = transcript("v2.1.328")
WRITERS = 8
EXECUTIONS_PER_WRITER = 200
EXECUTIONS = WRITERS * EXECUTIONS_PER_WRITER  # 1600
TOKENS_TOTAL = 21086
COST_NANO_USD = 32_672_000
STARTED_AT = "2026-11-20T10:00:00Z"
RANGE = ("--since", "2026-11-20", "--until", "2026-11-20", "--tz", "UTC")
REPORT_COMMANDS = (
    ("summary", "--json", *RANGE),
    ("daily", "--json", *RANGE),
    ("export", "--format", "ndjson", *RANGE),
)

pytestmark = pytest.mark.slow


@dataclass
class Report:
    command: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    during_writes: bool


@dataclass
class Crowd:
    db: Path
    writer_codes: list[int]
    writer_stderr: list[str]
    reports: list[Report] = field(default_factory=list)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> Crowd:
    home = tmp_path_factory.mktemp("crowd") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PILOT_")}
    env["PILOT_HOME"] = str(home)
    pilot = [sys.executable, "-m", "hookspecs"]
    files = [str(FIXTURE)] * EXECUTIONS_PER_WRITER
    writers = [
        subprocess.Popen(
            [
                *pilot,
                "replay",
                *files,
                "--task-id",
                f"W{n}",
                "--project",
                f"project-{n % 3}",
                "--started-at",
                STARTED_AT,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    db = home / "data" / "metrics.db"
    reports: list[Report] = []
    try:
        # Reports, one after another, for as long as any writer writes, and one round after.
        while True:
            writing = any(writer.poll() is None for writer in writers)
            if db.exists():
                for command in REPORT_COMMANDS:
                    done = subprocess.run(
                        [*pilot, "metrics", *command], env=env, capture_output=True, text=True, timeout=120
                    )
                    reports.append(Report(command, done.returncode, done.stdout, done.stderr, writing))
            if not writing:
                break
            time.sleep(0.01)
        stderr = [writer.communicate(timeout=300)[1] for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    crowd = Crowd(db, [writer.returncode for writer in writers], stderr, reports)
    return crowd


def test_every_writer_succeeds_with_nothing_but_its_outcome_lines_on_stderr(crowd: Crowd) -> None:
    assert crowd.writer_codes == [0] * WRITERS
    for stderr in crowd.writer_stderr:
        lines = stderr.splitlines()
        # One "pilot: FILE: execution succeeded in 0.3 s" per file; no locked database, no retry notice.
        assert len(lines) == EXECUTIONS_PER_WRITER
        assert all(line.endswith(": execution succeeded in 0.3 s") for line in lines), set(lines)


def test_every_execution_is_recorded_exactly_once(crowd: Crowd) -> None:
    ((rows, ids),) = crowd.query("SELECT COUNT(*), COUNT(DISTINCT execution_id) FROM executions")
    assert (rows, ids) == (EXECUTIONS, EXECUTIONS)
    per_writer = dict(crowd.query("SELECT task_id, COUNT(*) FROM executions GROUP BY task_id"))
    assert per_writer == {f"W{n}": EXECUTIONS_PER_WRITER for n in range(WRITERS)}
    assert crowd.query("SELECT status, COUNT(*) FROM executions GROUP BY status") == [
        ("succeeded", EXECUTIONS)
    ]


def test_the_totals_are_the_sum_of_the_inputs(crowd: Crowd) -> None:
    # 1600 x 21086 = 33_737_600 tokens; 1600 x 32_672_000 = 52_275_200_000 nano-dollars.
    assert crowd.query("SELECT SUM(tokens_total), SUM(cost_nano_usd) FROM executions") == [
        (33_737_600, 52_275_200_000)
    ]
    assert crowd.query("SELECT COUNT(*), SUM(tokens_total), SUM(cost_nano_usd) FROM execution_models") == [
        (EXECUTIONS, 33_737_600, 52_275_200_000)
    ]
    # Two phases each (planning, then executing from the Bash tool use): 3200.
    assert crowd.query("SELECT name, COUNT(*) FROM phases GROUP BY name ORDER BY name") == [
        ("executing", EXECUTIONS),
        ("planning", EXECUTIONS),
    ]


def test_the_database_passes_the_integrity_check(crowd: Crowd) -> None:
    assert crowd.query("PRAGMA integrity_check") == [("ok",)]
    assert crowd.query("PRAGMA foreign_key_check") == []


def test_reports_ran_while_the_writers_wrote_and_none_failed(crowd: Crowd) -> None:
    during = [report for report in crowd.reports if report.during_writes]
    assert len(during) >= len(REPORT_COMMANDS), "no report overlapped the writes"
    failed = [
        (report.command, report.returncode, report.stderr) for report in crowd.reports if report.returncode
    ]
    assert failed == []
    assert not [
        report.stderr for report in crowd.reports if "locked" in report.stderr or "busy" in report.stderr
    ]


def test_every_report_sees_only_whole_executions(crowd: Crowd) -> None:
    # A report reads one snapshot: each finished execution in it has all its tokens and cost, so the totals
    # are exactly the finished count times the fixture's, however far the writers had got.
    seen: dict[str, list[int]] = {"summary": [], "daily": [], "export": []}
    for report in crowd.reports:
        kind = report.command[0]
        if kind == "summary":
            doc = json.loads(report.stdout)
            finished = doc["succeeded"]
            assert (doc["tokens"]["total"], doc["cost_nano_usd"]) == (
                finished * TOKENS_TOTAL,
                finished * COST_NANO_USD,
            )
            assert doc["executions"] == finished + doc["running"]
        elif kind == "daily":
            total = json.loads(report.stdout)["total"]
            finished = total["succeeded"]
            assert (total["tokens_total"], total["cost_nano_usd"]) == (
                finished * TOKENS_TOTAL,
                finished * COST_NANO_USD,
            )
        else:
            records = [json.loads(line) for line in report.stdout.splitlines()]
            assert len({record["execution_id"] for record in records}) == len(records)
            done = [record for record in records if record["status"] == "succeeded"]
            assert all(
                (record["tokens_total"], record["cost_nano_usd"], len(record["phases"]))
                == (TOKENS_TOTAL, COST_NANO_USD, 2)
                for record in done
            )
            assert all(record["status"] == "running" for record in records if record not in done)
            finished = len(done)
        seen[kind].append(finished)
    # Later reports never see fewer executions than earlier ones of the same kind, and the last sees them all.
    for counts in seen.values():
        assert counts == sorted(counts) and counts[-1] == EXECUTIONS
