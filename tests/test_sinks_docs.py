"""docs/sinks.md is checked against the code, so the two cannot drift apart: its complete sink is the example
module itself, its hook section is the hookspec's docstring, and its tables name every Prometheus metric and
every OpenTelemetry instrument and attribute that a replay produces, and nothing else."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, transcript
from hookspecs.cli import main
from hookspecs.manager import PluginHost
from pilot_metrics_plugin import sinkspec
from pilot_metrics_plugin.config import Config
from pilot_metrics_plugin.otel.sink import OtelSink
from pilot_metrics_plugin.plugin import MetricsPlugin
from pilot_metrics_plugin.prometheus.collector import registry_for
from pilot_metrics_plugin.prometheus.textfile import exposition
from pilot_metrics_plugin.store import MetricsStore

DOC = (ROOT / "docs" / "sinks.md").read_text()
JSONL_SINK = ROOT / "examples" / "jsonl-sink"


def section(title: str) -> str:
    """The text under a ``## title`` heading, up to the next ``## `` heading."""
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end != -1 else None]


def first_code_block(text: str, language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", text, re.DOTALL)
    assert match, language
    return match.group(1)


def table_names(text: str) -> set[str]:
    """The backquoted names in the first column of the markdown tables of ``text``."""
    return set(re.findall(r"^\| `([^`]+)` \|", text, re.MULTILINE))


def test_the_complete_sink_is_the_example_module_and_under_30_lines() -> None:
    shown = first_code_block(section("A complete sink"), "python")
    assert shown == (JSONL_SINK / "pilot_jsonl_sink.py").read_text()
    assert len(shown.splitlines()) < 30


def test_the_complete_sinks_entry_point_is_the_examples() -> None:
    shown = first_code_block(section("A complete sink"), "toml")
    entry_point = '[project.entry-points.pilot]\njsonl = "pilot_jsonl_sink"\n'
    assert entry_point in shown
    assert entry_point in (JSONL_SINK / "pyproject.toml").read_text()


def test_the_hook_section_is_the_hookspecs_docstring() -> None:
    doc = inspect.cleandoc(sinkspec.on_execution_recorded.__doc__ or "")
    heading = "### `on_execution_recorded(record: ExecutionRecord, settings: Mapping[str, Any]) -> None`"
    assert f"{heading}\n\n{doc}\n" in DOC


def test_the_prometheus_table_names_every_metric_a_scrape_has(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    metrics = MetricsPlugin(db_path=db, config=Config())
    host = PluginHost.create([("metrics", metrics)], load_entrypoints=False)
    main(["replay", str(transcript("v2.1.328")), "--task-id", "T", "--project", "p"], host=host)
    text = exposition(registry_for(lambda: MetricsStore.open(db, create=False))).decode()
    scraped = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in text_string_to_metric_families(text)
    }
    assert table_names(section("Prometheus")) == scraped


def test_the_opentelemetry_tables_name_every_instrument_and_attribute_of_a_replay(tmp_path: Path) -> None:
    sink = OtelSink()
    metrics = MetricsPlugin(
        db_path=tmp_path / "metrics.db",
        config=Config(sinks={"otel": {"enabled": True, "exporter": "none"}}),
    )
    host = PluginHost.create([("otel", sink), ("metrics", metrics)], load_entrypoints=False)
    for prefix in ("v2.1.328", "v2.1.220-error"):  # a success, and a failure (error.type)
        main(["replay", str(transcript(prefix)), "--task-id", "T", "--project", "p"], host=host)
    assert sink.pipeline is not None
    data = sink.pipeline.reader.get_metrics_data()
    assert data is not None
    instruments = {instrument.name for instrument in vars(sink.pipeline.instruments).values()}
    attributes = {
        key
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for point in m.data.data_points
        for key in (point.attributes or {})
    }
    # pilot.lines.type comes only with a diff, which a replay has not: documented all the same.
    assert instruments | attributes | {"pilot.lines.type"} == table_names(section("OpenTelemetry"))
