"""Prometheus: `pilot metrics serve` scraped over HTTP and `pilot metrics prom --textfile`, both parsed with
prometheus_client's own parser, give back the replayed fixtures' exact token and cost totals.

The served database holds two shared fixtures replayed with the metrics plugin: v2.1.178-success-explore
(haiku and sonnet-4-6; requested model claude-sonnet-4-6) and v2.1.328-success-bash (opus-5-5). Their
per-model numbers are `EXPECTED` of test_record_fixtures.py, read by hand from their last `result` events.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sqlite3
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import transcript
from hookspecs.cli import main
from hookspecs.manager import PluginHost
from pilot_metrics_plugin.config import Config
from pilot_metrics_plugin.plugin import MetricsPlugin
from pilot_metrics_plugin.store import MetricsStore
from test_record_fixtures import EXPECTED

EXPLORE = "v2.1.178-success-explore"
BASH = "v2.1.328"
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def metrics_host(db: Path) -> PluginHost:
    """The metrics plugin alone, with the default config (no developer's config file)."""
    metrics = MetricsPlugin(db_path=db, config=Config())
    return PluginHost.create([("metrics", metrics)], load_entrypoints=False)


def record_fixtures(db: Path, *prefixes: str) -> None:
    host = metrics_host(db)
    for prefix in prefixes:
        argv = ["replay", str(transcript(prefix)), "--task-id", f"task-{prefix}", "--project", "shop"]
        assert main(argv, host=host) == 0


def samples(text: str) -> Samples:
    """Every sample of the exposition, parsed by prometheus_client: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(parsed: Samples, name: str, **labels: str) -> float:
    return parsed[(name, frozenset(labels.items()))]


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    db: Path

    def get(self, path: str = "/metrics", method: str = "GET") -> tuple[int, dict[str, str], str]:
        base = self.url.removesuffix("/metrics")
        request = urllib.request.Request(base + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, dict(error.headers), error.read().decode()


def start_server(db: Path, env: dict[str, str]) -> Served:
    """`pilot metrics serve --port 0` as a real process; its first stderr line names its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "hookspecs", "metrics", "serve", "--port", "0", "--db", str(db)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    ready, _, _ = select.select([process.stderr], [], [], 60)
    if not ready:
        process.kill()
        pytest.fail("pilot metrics serve printed nothing within 60 s")
    line = process.stderr.readline().strip()
    # "pilot metrics: serving http://127.0.0.1:PORT/metrics from DB (Ctrl-C stops)"
    return Served(process, line.split()[3], db)


def stop(served: Served) -> int:
    served.process.send_signal(signal.SIGINT)
    return served.process.wait(timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("serve")
    db = base / "metrics.db"
    record_fixtures(db, EXPLORE, BASH)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PILOT_")}
    env["PILOT_HOME"] = str(base / "pilot-home")
    served = start_server(db, env)
    yield served
    if served.process.poll() is None:
        stop(served)


@pytest.fixture(scope="module")
def scraped(served: Served) -> Samples:
    status, headers, body = served.get()
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(body)


def test_serve_listens_on_loopback_unless_told_otherwise(served: Served) -> None:
    assert served.url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    ("prefix", "model"),
    [
        (EXPLORE, "claude-haiku-4-5-20251001"),
        (EXPLORE, "claude-sonnet-4-6"),
        (BASH, "claude-opus-5-5"),
    ],
)
def test_a_scrape_reads_back_each_models_exact_tokens_by_kind(
    prefix: str, model: str, scraped: Samples
) -> None:
    # EXPECTED models: (input, output, cache read, cache write, cost in nano-dollars) per model.
    expected = EXPECTED[prefix]["models"][model][:4]
    tokens = tuple(value(scraped, "pilot_tokens_total", kind=kind, model=model) for kind in TOKEN_KINDS)
    assert tokens == expected


@pytest.mark.parametrize(
    ("prefix", "model"),
    [
        (EXPLORE, "claude-haiku-4-5-20251001"),
        (EXPLORE, "claude-sonnet-4-6"),
        (BASH, "claude-opus-5-5"),
    ],
)
def test_a_scrape_reads_back_each_models_cost_in_dollars(prefix: str, model: str, scraped: Samples) -> None:
    # 11792900, 64523400 and 32672000 nano-dollars: $0.0117929, $0.0645234, $0.032672.
    cost_nano_usd = EXPECTED[prefix]["models"][model][4]
    assert value(scraped, "pilot_cost_usd_total", model=model) == cost_nano_usd / 1_000_000_000
    assert value(scraped, "pilot_cost_unknown_executions_total", model=model) == 0


def test_the_token_kinds_add_up_to_the_fixtures_totals(scraped: Samples) -> None:
    total = sum(v for (name, _labels), v in scraped.items() if name == "pilot_tokens_total")
    assert total == EXPECTED[EXPLORE]["tokens_total"] + EXPECTED[BASH]["tokens_total"] == 64709 + 21086


def test_executions_are_counted_by_project_status_and_requested_model(scraped: Samples) -> None:
    executions = {labels: v for (name, labels), v in scraped.items() if name == "pilot_executions_total"}
    assert executions == {
        frozenset({"project": "shop", "status": "succeeded", "model": "claude-sonnet-4-6"}.items()): 1,
        frozenset({"project": "shop", "status": "succeeded", "model": "claude-opus-5-5"}.items()): 1,
    }


def test_durations_are_histograms_in_seconds(scraped: Samples) -> None:
    assert value(scraped, "pilot_execution_duration_seconds_count", project="shop", status="succeeded") == 2
    # Both executions end within 30 s (the explore run's result reports 19 s, the bash run's 0.31 s).
    assert (
        value(
            scraped, "pilot_execution_duration_seconds_bucket", project="shop", status="succeeded", le="30.0"
        )
        == 2
    )
    # Each replay starts in "planning"; the bash run has one "executing" phase.
    assert value(scraped, "pilot_phase_duration_seconds_count", phase="planning") == 2
    assert value(scraped, "pilot_phase_duration_seconds_count", phase="executing") == 1


def test_the_last_execution_timestamp_is_when_the_last_one_ended(scraped: Samples, served: Served) -> None:
    with sqlite3.connect(served.db) as conn:
        ended_ms = [row[0] for row in conn.execute("SELECT ended_at_ms FROM executions")]
    assert len(ended_ms) == 2
    assert value(scraped, "pilot_last_execution_timestamp_seconds") == max(ended_ms) / 1000


@pytest.mark.parametrize("path", ["/", "/metrics/", "/favicon.ico"])
def test_any_other_path_is_404(path: str, served: Served) -> None:
    assert served.get(path)[0] == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "HEAD"])
def test_any_other_method_is_405_and_names_get(method: str, served: Served) -> None:
    status, headers, _body = served.get("/metrics", method)
    assert (status, headers["Allow"]) == (405, "GET")


def test_ctrl_c_stops_the_server_with_exit_0(tmp_path: Path) -> None:
    env = {**os.environ, "PILOT_HOME": str(tmp_path / "pilot-home")}
    assert stop(start_server(tmp_path / "metrics.db", env)) == 0


def test_before_anything_is_recorded_the_scrape_succeeds_with_no_samples(tmp_path: Path) -> None:
    served = start_server(tmp_path / "never-created.db", {**os.environ})
    try:
        status, _headers, body = served.get()
    finally:
        stop(served)
    assert status == 200
    assert [s for family in text_string_to_metric_families(body) for s in family.samples] == []
    assert not (tmp_path / "never-created.db").exists()


# -- what is counted ------------------------------------------------------------------------------------


def prom(db: Path, capsys: pytest.CaptureFixture[str]) -> Samples:
    capsys.readouterr()
    assert main(["metrics", "prom"], host=metrics_host(db)) == 0
    return samples(capsys.readouterr().out)


def test_a_running_execution_is_not_counted_until_it_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "metrics.db"
    record_fixtures(db, BASH)
    store = MetricsStore.open(db)
    try:
        store.begin_execution(
            {
                "execution_id": "r" * 32,
                "task_id": "RUNNING",
                "project": "shop",
                "project_path": None,
                "agent_command": ["claude"],
                "model_requested": "claude-opus-5-5",
                "started_at_ms": 1_700_000_000_000,
            }
        )
    finally:
        store.close()
    executions = {
        labels: v for (name, labels), v in prom(db, capsys).items() if name == "pilot_executions_total"
    }
    finished = {"project": "shop", "status": "succeeded", "model": "claude-opus-5-5"}
    assert executions == {frozenset(finished.items()): 1}


UNKNOWN_MODEL_TRANSCRIPT = [
    {"type": "system", "subtype": "init", "model": "claude-mystery-9", "session_id": "s"},
    {
        "type": "assistant",
        "session_id": "s",
        "parent_tool_use_id": None,
        "message": {
            "id": "msg_1",
            "model": "claude-mystery-9",
            "role": "assistant",
            "content": [{"type": "text", "text": "hi"}],
            "usage": {"input_tokens": 10, "output_tokens": 5},
        },
    },
    {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "num_turns": 1,
        "session_id": "s",
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        },
    },
]


def test_an_execution_of_a_model_without_a_price_counts_as_unknown_cost_not_as_zero_dollars(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mystery.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in UNKNOWN_MODEL_TRANSCRIPT))
    db = tmp_path / "metrics.db"
    assert main(["replay", str(path), "--task-id", "M", "--project", "shop"], host=metrics_host(db)) == 0
    parsed = prom(db, capsys)
    # The result reports 10 input and 5 output tokens and no cost; the price table has no claude-mystery-9.
    assert value(parsed, "pilot_cost_unknown_executions_total", model="claude-mystery-9") == 1
    assert value(parsed, "pilot_cost_usd_total", model="claude-mystery-9") == 0
    assert value(parsed, "pilot_tokens_total", kind="input", model="claude-mystery-9") == 10


# -- the textfile -----------------------------------------------------------------------------------------


def write_textfile(db: Path, target: Path) -> int:
    return main(["metrics", "prom", "--textfile", str(target)], host=metrics_host(db))


def test_the_textfile_holds_the_same_totals_as_a_scrape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "metrics.db"
    record_fixtures(db, EXPLORE, BASH)
    target = tmp_path / "textfile" / "pilot.prom"
    target.parent.mkdir()
    assert write_textfile(db, target) == 0
    parsed = samples(target.read_text())
    assert parsed == prom(db, capsys)
    # EXPECTED: sonnet-4-6 wrote 7281 cache tokens and cost 64523400 nano-dollars.
    assert value(parsed, "pilot_tokens_total", kind="cache_write", model="claude-sonnet-4-6") == 7281
    assert value(parsed, "pilot_cost_usd_total", model="claude-sonnet-4-6") == 0.0645234


def test_the_textfile_is_replaced_whole_and_readable_by_node_exporter(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    record_fixtures(db, BASH)
    target = tmp_path / "textfile" / "pilot.prom"
    target.parent.mkdir()
    target.write_text("old content\n")
    os.chmod(target, 0o600)
    assert write_textfile(db, target) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert "pilot_tokens_total" in target.read_text()
    assert sorted(p.name for p in target.parent.iterdir()) == ["pilot.prom"]  # no temporary file left


def test_a_textfile_that_node_exporter_would_ignore_gets_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "metrics.db"
    record_fixtures(db, BASH)
    capsys.readouterr()
    assert write_textfile(db, tmp_path / "pilot.txt") == 0
    assert capsys.readouterr().err == (
        "pilot metrics: note: node_exporter's textfile collector reads only *.prom files\n"
    )


MODELLESS_RESULT = {
    "type": "result",
    "subtype": "success",
    "is_error": False,
    "num_turns": 1,
    "total_cost_usd": 0.01,
    "usage": {"input_tokens": 7, "output_tokens": 3},
}


def test_what_no_model_row_holds_is_counted_under_model_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A stream of one result line: no init event and no assistant message name a model, so the execution
    # has its tokens (7 + 3) and its reported $0.01 but no model row.
    path = tmp_path / "modelless.jsonl"
    path.write_text(json.dumps(MODELLESS_RESULT) + "\n")
    db = tmp_path / "metrics.db"
    assert main(["replay", str(path), "--task-id", "N", "--project", "shop"], host=metrics_host(db)) == 0
    parsed = prom(db, capsys)
    tokens = [value(parsed, "pilot_tokens_total", kind=kind, model="unknown") for kind in TOKEN_KINDS]
    assert tokens == [7, 3, 0, 0]
    assert value(parsed, "pilot_cost_usd_total", model="unknown") == 0.01  # 10000000 nano-dollars
    assert value(parsed, "pilot_executions_total", project="shop", status="succeeded", model="unknown") == 1
