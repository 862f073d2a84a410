"""The metrics database: created private, migrated forward, refused when newer, and never left with a
`running` row whose host is gone."""

from __future__ import annotations

import itertools
import json
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import transcript
from hookspecs.cli import main
from hookspecs.manager import PluginHost
from hookspecs.payloads import Execution, Phase
from pilot_metrics_plugin.config import load_config
from pilot_metrics_plugin.migrations import MIGRATIONS, schema_version
from pilot_metrics_plugin.plugin import MetricsPlugin
from pilot_metrics_plugin.pricing import PriceTable
from pilot_metrics_plugin.recorder import PHASE_WRITE_INTERVAL_S, ExecutionRecorder
from pilot_metrics_plugin.store import MetricsStore, StoreError

SCHEMAS = Path(__file__).parent / "schemas"


def schema_of(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """Tables and indexes with their SQL, white space folded."""
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").fetchall()
    return [(name, " ".join(sql.split())) for name, sql in rows]


def test_a_new_database_and_its_directory_are_private(tmp_path: Path) -> None:
    db = tmp_path / "data" / "metrics.db"
    MetricsStore.open(db).close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


def test_the_default_database_lives_under_pilot_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _isolated_environment: Path
) -> None:
    host = PluginHost.create([("metrics", MetricsPlugin())], load_entrypoints=False)
    main(["replay", str(transcript("v2.1.328")), "--task-id", "T", "--project", "p"], host=host)
    assert (_isolated_environment / "data" / "metrics.db").is_file()


def test_the_config_file_can_move_the_database(tmp_path: Path, _isolated_environment: Path) -> None:
    _isolated_environment.mkdir(parents=True)
    (_isolated_environment / "metrics.toml").write_text(f'db_path = "{tmp_path / "elsewhere.db"}"\n')
    host = PluginHost.create([("metrics", MetricsPlugin())], load_entrypoints=False)
    main(["replay", str(transcript("v2.1.328")), "--task-id", "T", "--project", "p"], host=host)
    assert (tmp_path / "elsewhere.db").is_file()
    assert not (_isolated_environment / "data" / "metrics.db").exists()


def test_migrating_an_empty_file_applies_every_migration_once(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    db.touch()
    store = MetricsStore.open(db)
    assert schema_version(store.conn) == len(MIGRATIONS)
    applied = [row[0] for row in store.conn.execute("SELECT name FROM schema_migrations ORDER BY version")]
    assert applied == [fn.__name__ for fn in MIGRATIONS]
    store.close()
    again = MetricsStore.open(db)  # a second open applies nothing more
    assert again.conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)


DUMPS = sorted(SCHEMAS.glob("v*.sql"))


def migrated(dump: Path, tmp_path: Path) -> MetricsStore:
    """A database made from ``dump`` (an earlier schema with rows), opened: migrated to the current one."""
    db = tmp_path / f"{dump.stem}.db"
    conn = sqlite3.connect(db)
    conn.executescript(dump.read_text())
    conn.close()
    return MetricsStore.open(db)


@pytest.mark.parametrize("dump", DUMPS, ids=lambda p: p.stem)
def test_a_database_of_every_earlier_schema_migrates_and_keeps_its_rows(dump: Path, tmp_path: Path) -> None:
    store = migrated(dump, tmp_path)
    record = store.load_record(f"{dump.stem}-row")  # each dump's finished execution: v1-row, v2-row
    assert record is not None
    assert (record.tokens_total, record.cost_nano_usd, record.phases[0].name) == (100, 123456789, "planning")
    fresh = MetricsStore.open(tmp_path / "fresh.db")
    assert schema_of(store.conn) == schema_of(fresh.conn)
    assert store.conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


@pytest.mark.parametrize("dump", DUMPS, ids=lambda p: p.stem)
def test_a_migrated_database_exports_every_record_as_show_prints_it(
    dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = migrated(dump, tmp_path).path
    host = PluginHost.create([("metrics", MetricsPlugin())], load_entrypoints=False)
    capsys.readouterr()
    assert main(["metrics", "export", "--format", "ndjson", "--db", str(db)], host=host) == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    store = MetricsStore.open(db)
    ids = [row[0] for row in store.conn.execute("SELECT execution_id FROM executions ORDER BY started_at_ms")]
    shown = [store.load_record(execution_id).to_dict() for execution_id in ids]  # type: ignore[union-attr]
    assert exported == shown
    if dump.stem == "v2":
        # v2-row's JSON lists come out compact, as the same values; its haiku row's 5000 nano-dollars are the
        # float 5e-06; v2-running (its host long silent: now interrupted) has no stored form of its phases:
        # they come from its phase row.
        assert shown[0]["agent_command"] == ["claude", "-p", "résumé"]
        assert [m["cost_usd"] for m in shown[0]["models"]] == [5e-06, 0.123451789]
        assert [p["name"] for p in shown[1]["phases"]] == ["planning"]


@pytest.mark.parametrize("dump", DUMPS, ids=lambda p: p.stem)
def test_a_migrated_database_holds_the_hourly_totals_of_its_finished_rows(dump: Path, tmp_path: Path) -> None:
    store = migrated(dump, tmp_path)
    rollup = store.conn.execute(
        "SELECT hour, executions, tokens_total, cost_nano_usd, with_duration FROM executions_by_hour"
    ).fetchall()
    # The finished execution started at 1764000000000 ms (hour 490000) with 100 tokens, 123456789 nano-dollars
    # and a duration; a running one is not in the rollup.
    assert rollup == [(490000, 1, 100, 123456789, 1)]


def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    MetricsStore.open(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="newer than this pilot-metrics knows"):
        MetricsStore.open(db)
    assert db.read_bytes() == before


def test_a_file_that_is_not_sqlite_gives_one_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    db.write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(StoreError, match="not a usable metrics database"):
        MetricsStore.open(db)


def _execution(execution_id: str = "e1") -> Execution:
    return Execution(
        execution_id=execution_id,
        task_id="GH-7",
        project="shop",
        project_path=None,
        agent_command=("claude", "-p"),
        model=None,
        started_at=datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc),
    )


START = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


def _recording(db: Path, clock: Callable[[], float] = time.monotonic) -> ExecutionRecorder:
    return ExecutionRecorder(_execution(), lambda: MetricsStore.open(db), PriceTable.load, clock=clock)


def _running_row_written(db: Path) -> None:
    """A recorder of this process that has written its running row: it started, and a phase ended two
    seconds later by its clock (a write a second at most: the row goes with that phase)."""
    recorder = _recording(db, clock=itertools.count(0.0, 2.0).__next__)
    recorder.started()
    recorder.phase_ended(Phase("planning", 0, START, START + timedelta(seconds=2), 2000))


def test_the_running_row_is_written_with_the_phases_as_they_end(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    seconds = itertools.count(0.0, 42.005).__next__  # the phase ends 42 s after the start, as its times say
    recorder = _recording(db, clock=seconds)
    recorder.started()
    end = START + timedelta(seconds=42, milliseconds=5)
    recorder.phase_ended(Phase("exploring", 0, START, end, 42005))
    reader = MetricsStore.open(db)
    record = reader.load_record("e1")
    assert record is not None and record.status == "running"
    # 10:00:00.000 -> 10:00:42.005 is 42005 ms, stored before the execution ends.
    assert [(p.name, p.duration_ms) for p in record.phases] == [("exploring", 42005)]


def test_the_running_row_and_the_phases_of_the_first_second_are_written_a_second_after_the_start(
    tmp_path: Path,
) -> None:
    db = tmp_path / "metrics.db"
    recorder = _recording(db)
    recorder.started()
    started = time.monotonic()
    recorder.phase_ended(Phase("planning", 0, START, START + timedelta(milliseconds=300), 300))
    reader = MetricsStore.open(db)
    assert reader.load_record("e1") is None  # held back: one write a second per execution
    while reader.load_record("e1") is None and time.monotonic() - started < 5:
        time.sleep(0.02)
    record = reader.load_record("e1")
    assert record is not None and record.status == "running"
    assert [p.name for p in record.phases] == ["planning"]
    assert time.monotonic() - started < PHASE_WRITE_INTERVAL_S + 1.0


def test_a_running_row_whose_host_process_died_is_marked_interrupted_on_next_open(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    _running_row_written(db)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    conn = sqlite3.connect(db)
    conn.execute("UPDATE executions SET host_pid = ?", (int(dead.stdout),))
    conn.commit()
    conn.close()
    store = MetricsStore.open(db, stale_after_s=24 * 3600)
    record = store.load_record("e1")
    assert record is not None
    assert (record.status, record.failure_category) == ("interrupted", "host_died")


def test_a_running_row_of_a_live_host_is_left_alone_until_it_goes_stale(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    _running_row_written(db)  # recorded by this very process, which is alive
    assert MetricsStore.open(db, stale_after_s=3600).load_record("e1").status == "running"  # type: ignore[union-attr]
    conn = sqlite3.connect(db)
    conn.execute("UPDATE executions SET updated_at_ms = updated_at_ms - 7200 * 1000")  # silent for 2 hours
    conn.commit()
    conn.close()
    assert MetricsStore.open(db, stale_after_s=3600).load_record("e1").status == "interrupted"  # type: ignore[union-attr]


def test_reprice_prices_an_unknown_model_once_the_config_gives_its_price(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _isolated_environment: Path
) -> None:
    # A stream of a model the table does not know, with tokens but no reported cost:
    # 1000 input and 200 output tokens of "claude-future-9".
    lines = [
        {"type": "system", "subtype": "init", "model": "claude-future-9"},
        {
            "type": "assistant",
            "message": {
                "id": "m1",
                "model": "claude-future-9",
                "content": [{"type": "text", "text": "hi"}],
                "usage": {"input_tokens": 1000, "output_tokens": 200},
            },
        },
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "num_turns": 1,
            "usage": {"input_tokens": 1000, "output_tokens": 200},
        },
    ]
    path = tmp_path / "future.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    db = tmp_path / "metrics.db"
    host = PluginHost.create([("metrics", MetricsPlugin(db_path=db))], load_entrypoints=False)
    main(
        ["replay", str(path), "--task-id", "F-1", "--project", "p", "--started-at", "2026-11-20T10:00:00Z"],
        host=host,
    )
    record = MetricsStore.open(db).load_record(MetricsStore.open(db).last_execution_id() or "")
    assert record is not None and (record.cost_nano_usd, record.cost_source) == (None, "unknown")

    _isolated_environment.mkdir(parents=True, exist_ok=True)
    (_isolated_environment / "metrics.toml").write_text(
        '[prices."claude-future-9"]\ninput = "3"\noutput = "15"\ncache_write_5m = "3.75"\n'
        'cache_write_1h = "6"\ncache_read = "0.30"\n'
    )
    assert load_config().prices  # the override is read
    capsys.readouterr()
    host = PluginHost.create([("metrics", MetricsPlugin(db_path=db))], load_entrypoints=False)
    assert main(["metrics", "reprice", "--dry-run", "--db", str(db)], host=host) == 0
    assert "would change" in capsys.readouterr().out
    assert MetricsStore.open(db).load_record(record.execution_id).cost_source == "unknown"  # type: ignore[union-attr]
    assert main(["metrics", "reprice", "--db", str(db)], host=host) == 0
    repriced = MetricsStore.open(db).load_record(record.execution_id)
    assert repriced is not None
    # 1000 input * 3000 nano + 200 output * 15000 nano = 3_000_000 + 3_000_000 = 6_000_000 nano ($0.006).
    assert (repriced.cost_nano_usd, repriced.cost_source) == (6_000_000, "estimated")
    assert repriced.models[0].cost_nano_usd == 6_000_000
