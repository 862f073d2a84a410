"""The OpenTelemetry sink: each recorded execution as OpenTelemetry metrics, named by the GenAI semantic
conventions where they apply, read back with the SDK's InMemoryMetricReader and from the OTLP requests a
real HTTP receiver on 127.0.0.1 gets.

Expected numbers are the fixtures' last `result` events, as in test_record_fixtures.py. The one most used,
v2.1.178-success-explore-subagent-haiku-multi-model (requested model claude-sonnet-4-6, from its init
event), reports:
  claude-haiku-4-5-20251001: 573 input, 134 output, 7699 cache read, 7824 cache write, $0.011792900000000002
  claude-sonnet-4-6:            4 input, 576 output, 40618 cache read, 7281 cache write, $0.06452340000000001
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData

from conftest import transcript
from hookspecs.cli import main
from hookspecs.manager import PluginHost
from pilot_metrics_plugin.config import Config
from pilot_metrics_plugin.otel.sink import OtelError, OtelOptions, OtelSink
from pilot_metrics_plugin.plugin import MetricsPlugin

EXPLORE = "v2.1.178-success-explore-subagent-haiku-multi-model"
HAIKU = "claude-haiku-4-5-20251001"
SONNET = "claude-sonnet-4-6"
GENAI = {
    "gen_ai.operation.name": "invoke_agent",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.system": "anthropic",
}


def replay(db: Path, sink: OtelSink, settings: dict[str, Any], *prefixes: str) -> None:
    metrics = MetricsPlugin(db_path=db, config=Config(sinks={"otel": settings}, sink_timeout_s=30))
    host = PluginHost.create([("otel", sink), ("metrics", metrics)], load_entrypoints=False)
    for prefix in prefixes:
        argv = ["replay", str(transcript(prefix)), "--task-id", f"task-{prefix}", "--project", "shop"]
        main(argv, host=host)


def collected(db: Path, *prefixes: str) -> MetricsData:
    """Replays ``prefixes`` through an enabled sink that exports nowhere; reads its InMemoryMetricReader."""
    sink = OtelSink()
    replay(db, sink, {"enabled": True, "exporter": "none"}, *prefixes)
    assert sink.pipeline is not None and isinstance(sink.pipeline.reader, InMemoryMetricReader)
    data = sink.pipeline.reader.get_metrics_data()
    assert data is not None
    return data


def points(data: MetricsData, name: str) -> list[tuple[dict[str, Any], Any]]:
    (metric,) = [
        m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics if m.name == name
    ]
    return [(dict(point.attributes or {}), point) for point in metric.data.data_points]


def test_token_usage_follows_the_genai_conventions_with_cache_tokens_counted_as_input(tmp_path: Path) -> None:
    usage = points(collected(tmp_path / "metrics.db", EXPLORE), "gen_ai.client.token.usage")
    by_key = {(a["gen_ai.response.model"], a["gen_ai.token.type"]): (p.sum, p.count) for a, p in usage}
    assert by_key == {
        (HAIKU, "input"): (16096, 1),  # 573 + 7699 + 7824
        (HAIKU, "output"): (134, 1),
        (SONNET, "input"): (47903, 1),  # 4 + 40618 + 7281
        (SONNET, "output"): (576, 1),
    }
    for attributes, _point in usage:
        expected = {**GENAI, "gen_ai.request.model": SONNET, "pilot.project": "shop"}
        assert attributes.items() >= expected.items()


def test_pilot_tokens_keep_the_four_kinds_apart(tmp_path: Path) -> None:
    tokens = points(collected(tmp_path / "metrics.db", EXPLORE), "pilot.tokens")
    by_key = {(a["gen_ai.response.model"], a["pilot.token.type"]): p.value for a, p in tokens}
    assert by_key == {
        (HAIKU, "input"): 573,
        (HAIKU, "output"): 134,
        (HAIKU, "cache_read"): 7699,
        (HAIKU, "cache_write"): 7824,
        (SONNET, "input"): 4,
        (SONNET, "output"): 576,
        (SONNET, "cache_read"): 40618,
        (SONNET, "cache_write"): 7281,
    }


def test_the_cost_is_pilot_cost_usd_per_model_with_its_source(tmp_path: Path) -> None:
    cost = points(collected(tmp_path / "metrics.db", EXPLORE), "pilot.cost.usd")
    # 11792900 and 64523400 nano-dollars, as dollars.
    assert {(a["gen_ai.response.model"], a["pilot.cost.source"]): p.value for a, p in cost} == {
        (HAIKU, "reported"): pytest.approx(0.0117929, abs=1e-12),
        (SONNET, "reported"): pytest.approx(0.0645234, abs=1e-12),
    }


def test_a_failed_execution_is_counted_with_its_failure_category_as_error_type(tmp_path: Path) -> None:
    executions = points(collected(tmp_path / "metrics.db", "v2.1.220-error", EXPLORE), "pilot.executions")
    assert sorted(
        (a.get("error.type", ""), a["pilot.status"], a["gen_ai.request.model"], p.value)
        for a, p in executions
    ) == [
        ("", "succeeded", SONNET, 1),
        ("model_not_found", "failed", "no-such-model", 1),  # the 404 of a model that does not exist
    ]


def test_each_phase_occurrence_is_a_duration_in_seconds(tmp_path: Path) -> None:
    phases = points(collected(tmp_path / "metrics.db", "v2.1.328"), "pilot.phase.duration")
    # The Bash tool use ends "planning" and opens "executing": one occurrence of each.
    assert sorted((a["pilot.phase.name"], p.count) for a, p in phases) == [("executing", 1), ("planning", 1)]


def test_the_execution_is_one_invoke_agent_operation_with_its_duration_in_seconds(tmp_path: Path) -> None:
    ((attributes, point),) = points(
        collected(tmp_path / "metrics.db", "v2.1.328"), "gen_ai.client.operation.duration"
    )
    # A replay lasts as long as its result event's duration_ms (310) when that is longer than the span of its
    # timestamps (07.330 to 07.437: 0.107 s).
    assert (point.count, point.sum) == (1, 0.31)
    assert attributes.items() >= {**GENAI, "pilot.status": "succeeded"}.items()
    assert "error.type" not in attributes


def test_the_sink_does_nothing_unless_enabled(tmp_path: Path) -> None:
    sink = OtelSink()
    replay(tmp_path / "metrics.db", sink, {}, EXPLORE)
    assert sink.pipeline is None


def test_a_misspelled_setting_is_an_error_that_names_it() -> None:
    with pytest.raises(OtelError, match="unknown key 'endpiont'"):
        OtelOptions.from_settings({"enabled": True, "endpiont": "http://127.0.0.1:4318/v1/metrics"})


# -- OTLP over HTTP, to a real receiver -------------------------------------------------------------------


class OtlpReceiver(ThreadingHTTPServer):
    """An OTLP/HTTP metrics receiver on a free loopback port: keeps each request, answers 200."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _OtlpHandler)
        self.requests: list[ExportMetricsServiceRequest] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/metrics"


class _OtlpHandler(BaseHTTPRequestHandler):
    server: OtlpReceiver

    def do_POST(self) -> None:
        request = ExportMetricsServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def executions_sum(request: ExportMetricsServiceRequest) -> Any:
    (metric,) = [
        m
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "pilot.executions"
    ]
    return metric.sum


def test_by_default_each_execution_is_exported_over_otlp_with_cumulative_temporality(
    tmp_path: Path, receiver: OtlpReceiver
) -> None:
    sink = OtelSink()
    settings = {"enabled": True, "endpoint": receiver.endpoint}
    replay(tmp_path / "metrics.db", sink, settings, EXPLORE, "v2.1.328")
    assert len(receiver.requests) == 2  # one export per execution, right after it is recorded
    last = executions_sum(receiver.requests[-1])
    assert last.aggregation_temporality == metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    assert sum(point.as_int for point in last.data_points) == 2  # both executions, since the process began
    resource = receiver.requests[-1].resource_metrics[0].resource
    attributes = {kv.key: kv.value.string_value for kv in resource.attributes}
    assert attributes["service.name"] == "pilot"


def test_with_delta_temporality_each_export_holds_only_its_own_execution(
    tmp_path: Path, receiver: OtlpReceiver
) -> None:
    settings = {"enabled": True, "endpoint": receiver.endpoint, "temporality": "delta"}
    replay(tmp_path / "metrics.db", OtelSink(), settings, EXPLORE, "v2.1.328")
    last = executions_sum(receiver.requests[-1])
    assert last.aggregation_temporality == metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    assert sum(point.as_int for point in last.data_points) == 1


def test_a_collector_that_is_down_is_one_reported_line_and_the_execution_still_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}/v1/metrics"
    metrics = MetricsPlugin(
        db_path=tmp_path / "metrics.db",
        config=Config(sinks={"otel": {"enabled": True, "endpoint": endpoint, "timeout": 0.3}}),
    )
    host = PluginHost.create([("otel", OtelSink()), ("metrics", metrics)], load_entrypoints=False)
    argv = ["replay", str(transcript("v2.1.328")), "--task-id", "T", "--project", "shop"]
    assert main(argv, host=host) == 0
    assert capsys.readouterr().err.splitlines() == [
        "pilot: plugin 'otel' failed in on_execution_recorded: "
        f"OtelError: the otlp export to {endpoint} failed",
        "pilot: execution succeeded in 0.3 s",
    ]


def test_what_no_model_row_holds_is_recorded_without_a_response_model(tmp_path: Path) -> None:
    # A stream of one result line: no model named anywhere; 7 input and 3 output tokens, $0.01 reported.
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "num_turns": 1,
        "total_cost_usd": 0.01,
        "usage": {"input_tokens": 7, "output_tokens": 3},
    }
    path = tmp_path / "modelless.jsonl"
    path.write_text(json.dumps(result) + "\n")
    sink = OtelSink()
    metrics = MetricsPlugin(
        db_path=tmp_path / "metrics.db", config=Config(sinks={"otel": {"enabled": True, "exporter": "none"}})
    )
    host = PluginHost.create([("otel", sink), ("metrics", metrics)], load_entrypoints=False)
    assert main(["replay", str(path), "--task-id", "N", "--project", "shop"], host=host) == 0
    assert sink.pipeline is not None
    data = sink.pipeline.reader.get_metrics_data()
    assert data is not None
    usage = {a["gen_ai.token.type"]: p.sum for a, p in points(data, "gen_ai.client.token.usage")}
    assert usage == {"input": 7, "output": 3}
    ((attributes, point),) = points(data, "pilot.cost.usd")
    assert "gen_ai.response.model" not in attributes
    assert (point.value, attributes["pilot.cost.source"]) == (0.01, "reported")
