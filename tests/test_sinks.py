"""Sinks: every recorded execution reaches every sink once, after its row is committed, and no sink can fail,
stop or hold up an execution.

Most tests replay the shared transcript v2.1.328-success-bash-tool-loopback-api. Its last `result` event
reports claude-opus-5-5 with 2003 input, 83 output, 15000 cache-read and 4000 cache-write tokens (total
2003 + 83 + 15000 + 4000 = 21086) and `costUSD` 0.03267200000000001 (32672000 nano-dollars), as in
test_record_fixtures.py.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from conftest import GO_RECORDINGS, transcript
from hookspecs import hookimpl
from hookspecs.cli import main
from hookspecs.manager import PluginHost
from pilot_metrics_plugin.config import DEFAULT_SINK_TIMEOUT_S, Config, ConfigError, load_config
from pilot_metrics_plugin.plugin import MetricsPlugin
from pilot_metrics_plugin.record import ExecutionRecord

FIXTURE = "v2.1.328-success-bash-tool-loopback-api"
AGENT_SCRIPT = Path(__file__).resolve().parent / "agent_script.py"


class Received:
    """A sink that keeps every record and the settings it was given."""

    def __init__(self) -> None:
        self.records: list[ExecutionRecord] = []
        self.settings: list[Mapping[str, Any]] = []

    @hookimpl
    def on_execution_recorded(self, record: ExecutionRecord, settings: Mapping[str, Any]) -> None:
        self.records.append(record)
        self.settings.append(settings)


class Raising:
    @hookimpl
    def on_execution_recorded(self, record: ExecutionRecord) -> None:
        raise RuntimeError("the dashboard is down")


class Hanging:
    """A sink that blocks until the test releases it."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    @hookimpl
    def on_execution_recorded(self, record: ExecutionRecord) -> None:
        self.calls += 1
        self.release.wait(30)


@pytest.fixture
def hanging() -> Iterator[Hanging]:
    sink = Hanging()
    yield sink
    sink.release.set()


def host(db: Path, *sinks: tuple[str, object], config: Config | None = None) -> PluginHost:
    """The metrics plugin and ``sinks``, registered before it, as installed sinks may be: the sink hook
    arrives with the metrics plugin."""
    metrics = MetricsPlugin(db_path=db, config=config or Config())
    return PluginHost.create([*sinks, ("metrics", metrics)], load_entrypoints=False)


def replay(host: PluginHost, task_id: str = "T-1") -> int:
    return main(["replay", str(transcript(FIXTURE)), "--task-id", task_id, "--project", "shop"], host=host)


def stored_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT task_id FROM executions WHERE status = 'succeeded'")]


def test_a_sink_gets_each_replayed_execution_once_as_the_database_holds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = Received()
    pilot = host(tmp_path / "metrics.db", ("sink", sink))
    assert replay(pilot, "T-1") == 0
    assert replay(pilot, "T-2") == 0
    assert [r.task_id for r in sink.records] == ["T-1", "T-2"]
    capsys.readouterr()
    assert main(["metrics", "show", "--last", "--json"], host=pilot) == 0
    assert sink.records[-1].to_dict() == json.loads(capsys.readouterr().out)
    assert (sink.records[-1].tokens_total, sink.records[-1].cost_nano_usd) == (21086, 32672000)


def test_a_sink_is_called_after_the_row_is_committed(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    seen: list[tuple[str, int]] = []

    class ReadsTheDatabase:
        @hookimpl
        def on_execution_recorded(self, record: ExecutionRecord) -> None:
            # Another connection, as another process would open: it sees only committed rows.
            with sqlite3.connect(db) as conn:
                row = conn.execute(
                    "SELECT status, tokens_total FROM executions WHERE execution_id = ?",
                    (record.execution_id,),
                ).fetchone()
            seen.append(row)

    replay(host(db, ("reader", ReadsTheDatabase())))
    assert seen == [("succeeded", 21086)]


def test_a_sink_gets_its_own_table_of_the_config_file_read_only(tmp_path: Path) -> None:
    home = tmp_path / "pilot-home"  # conftest's PILOT_HOME
    home.mkdir()
    (home / "metrics.toml").write_text(
        '[sinks.mine]\npath = "/var/log/pilot.jsonl"\n\n[sinks.other]\nurl = "http://127.0.0.1:9"\n'
    )
    sink = Received()
    metrics = MetricsPlugin(db_path=tmp_path / "metrics.db")
    replay(PluginHost.create([("mine", sink), ("metrics", metrics)], load_entrypoints=False))
    (settings,) = sink.settings
    assert dict(settings) == {"path": "/var/log/pilot.jsonl"}
    with pytest.raises(TypeError):
        settings["path"] = "/tmp/elsewhere"  # type: ignore[index]


def test_a_sink_without_a_table_gets_empty_settings(tmp_path: Path) -> None:
    sink = Received()
    replay(host(tmp_path / "metrics.db", ("sink", sink)))
    assert [dict(s) for s in sink.settings] == [{}]


def test_a_live_run_reaches_the_sinks(tmp_path: Path) -> None:
    sink = Received()
    pilot = host(tmp_path / "metrics.db", ("sink", sink))
    agent = [sys.executable, str(AGENT_SCRIPT), "--fixture", str(transcript(FIXTURE))]
    argv = ["run", "--task-id", "LIVE-1", "--project", "shop", "--project-path", str(tmp_path), "--", *agent]
    assert main(argv, host=pilot) == 0
    records = [(r.task_id, r.tokens_total, r.cost_nano_usd) for r in sink.records]
    assert records == [("LIVE-1", 21086, 32672000)]


def test_imported_executions_reach_the_sinks_unless_no_sinks(tmp_path: Path) -> None:
    # The two Go recordings of fixtures/pilot-go-recordings: tasks GH-412 (completed) and GH-415 (failed).
    for options, expected in (([], ["GH-412", "GH-415"]), (["--no-sinks"], [])):
        sink = Received()
        db = tmp_path / f"metrics{len(options)}.db"
        pilot = host(db, ("sink", sink))
        assert (
            main(
                ["metrics", "import", "pilot-recordings", str(GO_RECORDINGS), *options, "--db", str(db)],
                host=pilot,
            )
            == 0
        )
        assert sorted(r.task_id for r in sink.records) == expected, options


def test_no_sink_is_called_for_an_execution_the_database_did_not_take(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    sink = Received()
    assert replay(host(blocker / "metrics.db", ("sink", sink))) == 0
    assert sink.records == []
    assert "cannot record execution" in capsys.readouterr().err


# -- isolation --------------------------------------------------------------------------------------------


def test_a_raising_sink_is_reported_once_and_the_other_sink_and_the_database_still_get_the_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = Received()
    db = tmp_path / "metrics.db"
    # Registered first, "good" is called after "broken" (pluggy calls the last registered first).
    assert replay(host(db, ("good", sink), ("broken", Raising()))) == 0
    failures = [line for line in capsys.readouterr().err.splitlines() if "plugin 'broken'" in line]
    assert failures == [
        "pilot: plugin 'broken' failed in on_execution_recorded: RuntimeError: the dashboard is down"
    ]
    assert [r.task_id for r in sink.records] == ["T-1"]
    assert stored_ids(db) == ["T-1"]


def test_a_hanging_sink_costs_the_execution_at_most_the_timeout_and_is_reported_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hanging: Hanging
) -> None:
    sink = Received()
    db = tmp_path / "metrics.db"
    pilot = host(db, ("good", sink), ("stuck", hanging), config=Config(sink_timeout_s=0.2))
    began = time.monotonic()
    assert replay(pilot) == 0
    assert time.monotonic() - began < 2.0  # 0.2 s of waiting; the rest is a replay of 5 lines
    failures = [line for line in capsys.readouterr().err.splitlines() if "plugin 'stuck'" in line]
    assert failures == [
        "pilot: plugin 'stuck' failed in on_execution_recorded: SinkTimeout: no return within 0.2 s "
        "([sinks] timeout); the execution went on without it"
    ]
    assert [r.task_id for r in sink.records] == ["T-1"]
    assert stored_ids(db) == ["T-1"]


def test_a_sink_still_busy_with_an_earlier_record_is_skipped_and_the_others_are_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hanging: Hanging
) -> None:
    sink = Received()
    config = Config(sink_timeout_s=0.1)
    pilot = host(tmp_path / "metrics.db", ("good", sink), ("stuck", hanging), config=config)
    replay(pilot, "T-1")
    capsys.readouterr()
    replay(pilot, "T-2")
    # One thread is left waiting for the first call; the second record was not given to it.
    assert hanging.calls == 1
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "plugin 'stuck'" in line]
    assert line.startswith(
        "pilot: plugin 'stuck' failed in on_execution_recorded: SinkBusy: its call for an "
        "earlier execution has not returned"
    )
    assert [r.task_id for r in sink.records] == ["T-1", "T-2"]


def test_with_strict_plugins_a_raising_sink_stops_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PILOT_STRICT_PLUGINS", "1")
    assert replay(host(tmp_path / "metrics.db", ("broken", Raising()))) == 1
    assert capsys.readouterr().err.splitlines()[-1] == "pilot: error: RuntimeError: the dashboard is down"


# -- pilot plugins ---------------------------------------------------------------------------------------


def test_pilot_plugins_marks_the_sink_hook_and_lists_the_active_sinks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pilot = host(tmp_path / "metrics.db", ("jsonl", Received()), ("webhook", Received()))
    assert main(["plugins"], host=pilot) == 0
    out = capsys.readouterr().out
    assert "jsonl" in out and "on_execution_recorded*" in out
    assert out.endswith("\n* added by a plugin; implemented by:\n  on_execution_recorded: jsonl, webhook\n")


def test_pilot_plugins_says_when_no_sink_is_active(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins"], host=host(tmp_path / "metrics.db")) == 0
    assert capsys.readouterr().out.endswith("  on_execution_recorded: (none)\n")


# -- [sinks] timeout -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [('"10s"', 10.0), ('"2m"', 120.0), ("0.5", 0.5), ("3", 3.0)])
def test_the_sink_timeout_is_read_from_the_sinks_table(text: str, seconds: float, tmp_path: Path) -> None:
    path = tmp_path / "metrics.toml"
    path.write_text(f'[sinks]\ntimeout = {text}\n\n[sinks.jsonl]\npath = "x.jsonl"\n')
    config = load_config(path)
    assert (config.sink_timeout_s, dict(config.sinks)) == (seconds, {"jsonl": {"path": "x.jsonl"}})


def test_without_a_sink_timeout_the_default_is_ten_seconds(tmp_path: Path) -> None:
    path = tmp_path / "metrics.toml"
    path.write_text("[sinks.jsonl]\n")
    assert load_config(path).sink_timeout_s == DEFAULT_SINK_TIMEOUT_S == 10.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timeout = 0", "sinks.timeout: must be more than 0 seconds"),
        ('timeout = "soon"', "sinks.timeout: expected a duration"),
        ("jsonl = 1", "sinks.jsonl: expected a table"),
    ],
)
def test_a_wrong_sinks_setting_is_an_error_that_names_it(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "metrics.toml"
    path.write_text(f"[sinks]\n{text}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)
