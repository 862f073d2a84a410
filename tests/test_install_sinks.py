"""Installed for real: this project and the example JSONL sink pip-installed into a fresh virtual environment
from copies of their sources, then `pilot replay` of a shared fixture through that environment's `pilot`.

This proves what the in-process tests cannot: a third-party sink found through its entry point, its
`[sinks.jsonl]` table read from the config file, the `otel` entry point and the Prometheus commands as a
user's `pip install` leaves them. The environment is built once for the module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, transcript
from test_install import Venv, install_venv, pilot

pytestmark = pytest.mark.install

JSONL_SINK = ROOT / "examples" / "jsonl-sink"
FIXTURE = "v2.1.328-success-bash-tool-loopback-api"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return install_venv(tmp_path_factory.mktemp("install-sinks"), JSONL_SINK)


def configure(text: str) -> None:
    """Write the config file of the test's own PILOT_HOME (set by conftest)."""
    pilot_home = Path(os.environ["PILOT_HOME"])
    pilot_home.mkdir(parents=True, exist_ok=True)
    (pilot_home / "metrics.toml").write_text(text)


def test_a_replay_appends_the_fixtures_exact_totals_to_the_jsonl_file(venv: Venv, tmp_path: Path) -> None:
    out = tmp_path / "executions.jsonl"
    configure(f'[sinks.jsonl]\npath = "{out}"\n')
    result = pilot(venv, "replay", str(transcript(FIXTURE)), "--task-id", "GH-1", "--project", "shop")
    assert result.returncode == 0, result.stderr
    (line,) = out.read_text().splitlines()
    record = json.loads(line)
    # The fixture's last result: claude-opus-5-5, 2003 input, 83 output, 15000 cache read, 4000 cache write
    # (total 21086), costUSD 0.03267200000000001 -> 32672000 nano-dollars, reported.
    expected = {
        "task_id": "GH-1",
        "project": "shop",
        "status": "succeeded",
        "tokens_input": 2003,
        "tokens_output": 83,
        "tokens_cache_read": 15000,
        "tokens_cache_write": 4000,
        "tokens_total": 21086,
        "cost_nano_usd": 32672000,
        "cost_source": "reported",
    }
    assert {key: record[key] for key in expected} == expected


def test_pilot_plugins_lists_the_installed_sinks(venv: Venv) -> None:
    result = pilot(venv, "plugins")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\n  on_execution_recorded: jsonl, otel\n")


def test_the_installed_pilot_metrics_prom_prints_the_totals_of_the_replay(venv: Venv) -> None:
    replayed = pilot(venv, "replay", str(transcript(FIXTURE)), "--task-id", "GH-2", "--project", "shop")
    assert replayed.returncode == 0, replayed.stderr
    result = pilot(venv, "metrics", "prom")
    assert result.returncode == 0, result.stderr
    tokens = {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families(result.stdout)
        if family.name == "pilot_tokens"
        for sample in family.samples
    }
    assert tokens == {"input": 2003, "output": 83, "cache_read": 15000, "cache_write": 4000}
