"""Crashes: `kill -9` of the host mid-execution, of a writer among several, and during a migration.

What was committed survives: the running row and the phases that had ended. The next open marks a dead host's
row `interrupted` (`host_died`): at once when the host ran on this machine and its process is gone, after the
grace period (`stale_after`) when it ran elsewhere. A migration is one transaction: killed half-way, the
database is still at the previous version, and the next open applies the migration once. The database passes
SQLite's integrity check after every crash.

`pilot` runs as a real process (`python -m hookspecs`, with the installed plugins); the agent is
tests/agent_script.py; the transcript replayed is v2.1.328 (21086 tokens, 32672000 nano-dollars, phases
planning then executing: test_record_fixtures.EXPECTED).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import WAIT_S, transcript, wait_until
from pilot_metrics_plugin.migrations import MIGRATIONS
from pilot_metrics_plugin.store import MetricsStore

AGENT_SCRIPT = Path(__file__).resolve().parent / "agent_script.py"
FIXTURE = transcript("v2.1.328")
TOKENS_TOTAL = 21086  # 2003 input + 83 output + 15000 cache read + 4000 cache write
COST_NANO_USD = 32_672_000  # costUSD 0.03267200000000001 at the 9th decimal


def read_only(db: Path) -> sqlite3.Connection:
    """A plain SQLite connection that changes nothing: what is in the file, before our code opens it."""
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    conn = read_only(db)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        conn.close()


def integrity(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


def env_for(home: Path) -> dict[str, str]:
    return {**os.environ, "PILOT_HOME": str(home)}


def pilot(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hookspecs", *argv],
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=120,
    )


def kill_pid_file(path: Path) -> None:
    if path.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(path.read_text()), signal.SIGKILL)


# -- kill -9 of the host in the middle of an execution -------------------------------------------------------


def tool_use(name: str, **tool_input: Any) -> str:
    block = {"type": "tool_use", "id": f"toolu_{name}", "name": name, "input": tool_input}
    return json.dumps(
        {
            "type": "assistant",
            "message": {"role": "assistant", "content": [block]},
            "parent_tool_use_id": None,
        }
    )


INIT = json.dumps({"type": "system", "subtype": "init", "model": "claude-opus-5-5"})
PHASE_PAUSE_S = 1.2
"""Between the agent's two tool uses: longer than the recorder's one phase write a second, so that both
phase ends are written as they happen."""


@dataclass
class Killed:
    """The killed host's database, and what it held before anything opened it again."""

    home: Path
    db: Path
    other_machine_db: Path
    execution_id: str
    status: str
    started_at_ms: int
    updated_at_ms: int
    """The row's last sign of life: the second phase's write."""
    phases: list[tuple[Any, ...]]
    integrity: list[tuple[Any, ...]]


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Killed]:
    """``pilot run`` killed with SIGKILL after its agent's second phase ended, while the agent works on."""
    root = tmp_path_factory.mktemp("kill-9")
    home, project, agent_pid = root / "home", root / "project", root / "agent.pid"
    project.mkdir()
    db = home / "data" / "metrics.db"
    agent = [
        sys.executable,
        str(AGENT_SCRIPT),
        "--pid-file",
        str(agent_pid),
        "--line",
        INIT,
        "--line",
        tool_use("Read", file_path="app.py"),  # planning -> exploring
        "--sleep",
        str(PHASE_PAUSE_S),
        "--line",
        tool_use("Edit", file_path="app.py", old_string="a", new_string="b"),  # -> implementing
        "--hang",
    ]
    run_and_kill(
        home, project, agent, agent_pid, "GH-1",
        lambda: wait_until(lambda: len(query(db, "SELECT seq FROM phases")) == 2),
    )
    # Before anything opens it again: a copy, as if the dead host had been another machine.
    other = root / "other-machine.db"
    conn = read_only(db)
    conn.backup(target := sqlite3.connect(other))
    conn.close()
    target.execute("UPDATE executions SET host = 'build-agent-7'")
    target.commit()
    target.close()
    ((execution_id, status, started_at_ms, updated_at_ms),) = query(
        db, "SELECT execution_id, status, started_at_ms, updated_at_ms FROM executions"
    )
    phases = query(db, "SELECT seq, name, duration_ms FROM phases ORDER BY seq")
    conn = read_only(db)
    checked = conn.execute("PRAGMA integrity_check").fetchall()
    conn.close()
    yield Killed(home, db, other, execution_id, status, started_at_ms, updated_at_ms, phases, checked)
    shutil.rmtree(root, ignore_errors=True)


def test_a_killed_host_leaves_its_row_running_with_the_phases_that_ended(killed: Killed) -> None:
    assert killed.status == "running"
    assert [(seq, name) for seq, name, _ in killed.phases] == [(0, "planning"), (1, "exploring")]
    # Exploring lasted the agent's pause between its Read and its Edit: at least 1.2 s less 100 ms of slack.
    assert killed.phases[1][2] >= PHASE_PAUSE_S * 1000 - 100


def test_the_database_of_a_killed_host_passes_the_integrity_check(killed: Killed) -> None:
    assert killed.integrity == [("ok",)]


def test_the_next_open_marks_a_dead_local_hosts_execution_interrupted_and_keeps_its_phases(
    killed: Killed,
) -> None:
    shown = pilot(killed.home, "metrics", "show", "--json", killed.execution_id)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert (record["status"], record["failure_category"]) == ("interrupted", "host_died")
    assert [phase["name"] for phase in record["phases"]] == ["planning", "exploring"]
    # It ended at its last sign of life (the second phase's write), not when it was found.
    assert record["duration_ms"] == killed.updated_at_ms - killed.started_at_ms
    assert integrity(killed.db) == [("ok",)]


def run_and_kill(
    home: Path, project: Path, agent: list[str], agent_pid: Path, task_id: str, until: Callable[[], bool]
) -> None:
    """``pilot run`` of ``agent``, killed with SIGKILL once ``until()`` (which waits) says so; it must."""
    run = ["run", "--task-id", task_id, "--project", "shop", "--project-path", str(project), "--", *agent]
    host = subprocess.Popen(
        [sys.executable, "-m", "hookspecs", *run], env=env_for(home), stdout=subprocess.DEVNULL
    )
    try:
        kill_when(host, until, "the host never got there")
    finally:
        kill_pid_file(agent_pid)  # the agent has its own process group: the host's death does not end it


def kill_when(process: subprocess.Popen[Any], until: Callable[[], bool], never: str) -> None:
    """SIGKILL ``process`` once ``until()`` (which waits) says so; it must (else ``never``)."""
    try:
        assert until(), never
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_a_phase_that_ended_during_a_burst_is_written_while_the_agent_then_works_in_silence(
    tmp_path: Path,
) -> None:
    # A Read and an Edit in a burst end planning and exploring a moment apart; then the agent works without
    # a word (as during a long test run). The host is killed 2 s after the burst: both phases are there.
    home, project, agent_pid = tmp_path / "home", tmp_path / "project", tmp_path / "agent.pid"
    project.mkdir()
    db = home / "data" / "metrics.db"
    read = tool_use("Read", file_path="app.py")
    edit = tool_use("Edit", file_path="app.py", old_string="a", new_string="b")
    agent = [sys.executable, str(AGENT_SCRIPT), "--pid-file", str(agent_pid)]
    agent += ["--line", INIT, "--line", read, "--line", edit, "--hang"]

    def burst_then_two_seconds() -> bool:
        if not wait_until(lambda: len(query(db, "SELECT seq FROM phases")) >= 1):
            return False
        time.sleep(2.0)
        return True

    run_and_kill(home, project, agent, agent_pid, "GH-2", burst_then_two_seconds)
    assert query(db, "SELECT seq, name FROM phases ORDER BY seq") == [(0, "planning"), (1, "exploring")]


@pytest.mark.slow
def test_the_running_row_of_an_agent_silent_from_the_start_is_written_within_a_second(tmp_path: Path) -> None:
    # The running row waits up to a second (an execution over sooner is one transaction), then the timer
    # writes it although no event came: a host killed after that leaves it behind.
    home, project, agent_pid = tmp_path / "home", tmp_path / "project", tmp_path / "agent.pid"
    project.mkdir()
    db = home / "data" / "metrics.db"
    agent = [sys.executable, str(AGENT_SCRIPT), "--pid-file", str(agent_pid), "--hang"]
    run_and_kill(
        home, project, agent, agent_pid, "GH-3",
        lambda: wait_until(lambda: len(query(db, "SELECT status FROM executions")) == 1),
    )
    ((status, task_id, started_at_ms, updated_at_ms),) = query(
        db, "SELECT status, task_id, started_at_ms, updated_at_ms FROM executions"
    )
    assert (status, task_id) == ("running", "GH-3")
    # Written by the timer a second after the start (1,000 ms), give or take a loaded machine's delay.
    assert updated_at_ms - started_at_ms <= 3_000


def test_a_running_row_of_another_machine_is_marked_only_after_the_grace_period(killed: Killed) -> None:
    # Its pid cannot be checked from here: only silence longer than stale_after tells it is dead.
    store = MetricsStore.open(killed.other_machine_db, stale_after_s=3600)
    record = store.load_record(killed.execution_id)
    store.close()
    assert record is not None and record.status == "running"
    (updated_ms,) = query(killed.other_machine_db, "SELECT updated_at_ms FROM executions")[0]
    assert wait_until(lambda: time.time_ns() // 1_000_000 > updated_ms + 1100)
    store = MetricsStore.open(killed.other_machine_db, stale_after_s=1)
    record = store.load_record(killed.execution_id)
    store.close()
    assert record is not None
    assert (record.status, record.failure_category) == ("interrupted", "host_died")
    assert [phase.name for phase in record.phases] == ["planning", "exploring"]


# -- kill -9 of one writer among several ---------------------------------------------------------------------

WRITERS = 3
EXECUTIONS_PER_WRITER = 200


@pytest.mark.slow
def test_killing_one_of_several_writers_leaves_every_committed_record_whole(tmp_path: Path) -> None:
    home = tmp_path / "home"
    db = home / "data" / "metrics.db"
    pilot(home, "replay", str(FIXTURE), "--task-id", "first", "--project", "shop")  # the database exists
    # The writer to be killed has far more to do than the others: it is still at work when the kill comes.
    files = [[str(FIXTURE)] * EXECUTIONS_PER_WRITER * (5 if n == 0 else 1) for n in range(WRITERS)]
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hookspecs",
                "replay",
                *files[n],
                "--task-id",
                f"W{n}",
                "--project",
                "shop",
            ],
            env=env_for(home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    try:
        # Killed somewhere in its run, most likely inside one of its many short transactions.
        assert wait_until(
            lambda: query(db, "SELECT COUNT(*) FROM executions WHERE task_id = 'W0'")[0][0] >= 20
        )
        writers[0].send_signal(signal.SIGKILL)
        outputs = [writer.communicate(timeout=120) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    assert [writer.returncode for writer in writers] == [-signal.SIGKILL, 0, 0][:WRITERS]
    assert all("Traceback" not in stderr and "locked" not in stderr for _, stderr in outputs[1:])
    assert integrity(db) == [("ok",)]
    # The survivors recorded everything; the killed writer left at most the one execution it was in, running
    # (or already marked interrupted, if a survivor opened the database after the kill).
    counts = dict(query(db, "SELECT task_id, COUNT(*) FROM executions GROUP BY task_id"))
    assert all(counts[f"W{n}"] == EXECUTIONS_PER_WRITER for n in range(1, WRITERS))
    assert 20 <= counts["W0"] < 5 * EXECUTIONS_PER_WRITER
    unfinished = query(db, "SELECT task_id, status FROM executions WHERE status != 'succeeded'")
    assert unfinished in ([], [("W0", "running")], [("W0", "interrupted")])
    # Every finished record is whole: its exact totals, its model row, both its phases.
    finished = query(
        db,
        "SELECT e.tokens_total, e.cost_nano_usd, "
        "(SELECT COUNT(*) FROM execution_models m WHERE m.execution_id = e.execution_id), "
        "(SELECT COUNT(*) FROM phases p WHERE p.execution_id = e.execution_id) "
        "FROM executions e WHERE e.status = 'succeeded'",
    )
    assert len(finished) == sum(counts.values()) - len(unfinished)
    assert set(finished) == {(TOKENS_TOTAL, COST_NANO_USD, 1, 2)}
    # The next open finds the killed writer's execution and marks it.
    MetricsStore.open(db, stale_after_s=6 * 3600).close()
    assert query(db, "SELECT status, failure_category FROM executions WHERE status != 'succeeded'") == [
        ("interrupted", "host_died")
    ] * len(unfinished)


# -- kill -9 during a migration ------------------------------------------------------------------------------

MIGRATION_SCRIPT = '''
"""Open the metrics database with one more migration than this version ships: it adds a table, changes every
row (num_turns + 1000: applied twice, it would show) and then pauses inside its transaction."""
import sys, time
from pathlib import Path
from pilot_metrics_plugin import migrations
from pilot_metrics_plugin.store import MetricsStore

db, marker, pause_s = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])


@migrations.migration
def m999_turn_offsets(conn):
    conn.execute("CREATE TABLE turn_offsets (execution_id TEXT PRIMARY KEY, offset_turns INTEGER NOT NULL)")
    conn.execute("INSERT INTO turn_offsets SELECT execution_id, 1000 FROM executions")
    conn.execute("UPDATE executions SET num_turns = num_turns + 1000")
    marker.write_text("inside the migration")
    time.sleep(pause_s)


MetricsStore.open(db).close()
'''


def run_migration(script: Path, db: Path, marker: Path, pause_s: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), str(db), str(marker), str(pause_s)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class Migrated:
    db: Path
    turns_before: list[tuple[Any, ...]]
    after_kill: dict[str, Any]
    script: Path
    marker: Path


@pytest.fixture(scope="module")
def migration_killed(tmp_path_factory: pytest.TempPathFactory) -> Migrated:
    root = tmp_path_factory.mktemp("migration")
    home = root / "home"
    db = home / "data" / "metrics.db"
    assert (
        pilot(home, "replay", str(FIXTURE), str(FIXTURE), "--task-id", "T", "--project", "shop").returncode
        == 0
    )
    turns_before = query(db, "SELECT execution_id, num_turns FROM executions ORDER BY execution_id")
    script, marker = root / "migrate.py", root / "inside"
    script.write_text(MIGRATION_SCRIPT)
    process = run_migration(script, db, marker, pause_s=60)
    kill_when(process, lambda: wait_until(marker.exists), "the migration never started")
    after_kill = {
        "version": query(db, "PRAGMA user_version")[0][0],
        "tables": [name for (name,) in query(db, "SELECT name FROM sqlite_master WHERE type = 'table'")],
        "turns": query(db, "SELECT execution_id, num_turns FROM executions ORDER BY execution_id"),
        "integrity": integrity(db),
    }
    return Migrated(db, turns_before, after_kill, script, marker)


def test_a_migration_killed_half_way_leaves_the_previous_version_intact(migration_killed: Migrated) -> None:
    after = migration_killed.after_kill
    assert after["version"] == len(MIGRATIONS)
    assert "turn_offsets" not in after["tables"]
    assert after["turns"] == migration_killed.turns_before  # num_turns 2 each, untouched
    assert after["integrity"] == [("ok",)]


def test_the_next_open_applies_the_killed_migration_once(migration_killed: Migrated) -> None:
    for _ in range(2):  # the open after the crash applies it; one more open applies nothing
        process = run_migration(migration_killed.script, migration_killed.db, migration_killed.marker, 0)
        _, stderr = process.communicate(timeout=WAIT_S)
        assert process.returncode == 0, stderr
    db = migration_killed.db
    assert query(db, "PRAGMA user_version")[0][0] == len(MIGRATIONS) + 1
    assert query(db, "SELECT name FROM schema_migrations WHERE version = ?", (len(MIGRATIONS) + 1,)) == [
        ("m999_turn_offsets",)
    ]
    # The fixture's 2 turns, plus 1000 once.
    turns = query(db, "SELECT num_turns FROM executions")
    assert turns == [(1002,), (1002,)]
    assert query(db, "SELECT COUNT(*) FROM turn_offsets") == [(2,)]
    assert integrity(db) == [("ok",)]
