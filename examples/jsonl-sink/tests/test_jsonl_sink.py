"""The JSONL sink, on a real replay: the line it appends is the record the metrics database holds.

Runs from the repository's root with the main suite, or alone here after ``pip install -e .``. The
transcript is the repository's example ``examples/transcripts/hello-bash.jsonl`` (Claude Code 2.1.328): its
last ``result`` event reports claude-opus-5-5 with 2003 input, 83 output, 15000 cache-read and 4000
cache-write tokens and ``costUSD`` 0.03267200000000001.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pilot_jsonl_sink
import pytest

from hookspecs.cli import main
from hookspecs.manager import PluginHost
from pilot_metrics_plugin.config import Config
from pilot_metrics_plugin.plugin import MetricsPlugin

TRANSCRIPT = Path(__file__).resolve().parents[2] / "transcripts" / "hello-bash.jsonl"


@pytest.fixture(autouse=True)
def _own_pilot_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing of the developer's ~/.pilot or PILOT_* variables reaches these tests."""
    for name in ("LOAD", "DISABLE", "STRICT", "TRACE"):
        monkeypatch.delenv(f"PILOT_{name}_PLUGINS", raising=False)
    monkeypatch.setenv("PILOT_HOME", str(tmp_path / "pilot-home"))


def pilot(argv: list[str], db: Path, sinks: dict[str, dict[str, object]]) -> int:
    metrics = MetricsPlugin(db_path=db, config=Config(sinks=sinks))
    host = PluginHost.create([("jsonl", pilot_jsonl_sink), ("metrics", metrics)], load_entrypoints=False)
    return main(argv, host=host)


def replay(db: Path, sinks: dict[str, dict[str, object]], task_id: str = "T-1") -> int:
    return pilot(["replay", str(TRANSCRIPT), "--task-id", task_id, "--project", "demo"], db, sinks)


def test_a_replay_appends_one_line_equal_to_the_stored_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sink" / "executions.jsonl"
    assert replay(tmp_path / "metrics.db", {"jsonl": {"path": str(out)}}) == 0
    capsys.readouterr()
    assert pilot(["metrics", "show", "--last", "--json"], tmp_path / "metrics.db", {}) == 0
    stored = json.loads(capsys.readouterr().out)
    (line,) = out.read_text().splitlines()
    assert json.loads(line) == stored
    # 2003 + 83 + 15000 + 4000 = 21086 tokens; $0.03267200000000001 -> 32672000 nano-dollars.
    assert (stored["tokens_total"], stored["cost_nano_usd"], stored["task_id"]) == (21086, 32672000, "T-1")


def test_the_file_it_creates_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    out = tmp_path / "executions.jsonl"
    replay(tmp_path / "metrics.db", {"jsonl": {"path": str(out)}})
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_each_execution_adds_a_line_after_the_ones_before(tmp_path: Path) -> None:
    out = tmp_path / "executions.jsonl"
    for task_id in ("T-1", "T-2"):
        replay(tmp_path / "metrics.db", {"jsonl": {"path": str(out)}}, task_id=task_id)
    assert [json.loads(line)["task_id"] for line in out.read_text().splitlines()] == ["T-1", "T-2"]


def test_without_a_path_it_says_so_once_and_the_execution_is_still_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert replay(tmp_path / "metrics.db", {}) == 0
    assert capsys.readouterr().err.splitlines()[0] == (
        "pilot: plugin 'jsonl' failed in on_execution_recorded: "
        "ValueError: no file to write to: set path in [sinks.jsonl] of metrics.toml"
    )
    assert pilot(["metrics", "show", "--last"], tmp_path / "metrics.db", {}) == 0
