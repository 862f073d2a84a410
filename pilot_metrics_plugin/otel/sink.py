"""The ``otel`` sink plugin: each recorded execution's metrics, exported through the OpenTelemetry SDK.

Installed with the metrics plugin (entry point ``otel``) and idle until ``[sinks.otel] enabled = true``:
installing the ``otel`` extra alone never starts sending data anywhere. Loading the plugin imports no
OpenTelemetry module, so ``pilot`` starts as fast without the extra.

The SDK is set up at the first record and kept for the process: a meter provider whose one reader is
collected on demand right after each record, and an exporter called with that collection. There is no
periodic thread and no export at interpreter exit: Pilot is a short-lived command, and an export that
cannot reach its collector must not hold up the exit. The export's result is checked, so a collector
that is down is one reported line per execution (``pilot: plugin 'otel' failed in ...``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hookspecs.markers import hookimpl
from pilot_metrics_plugin import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExporter

    from pilot_metrics_plugin.otel.instruments import ExecutionInstruments
    from pilot_metrics_plugin.record import ExecutionRecord

METER_NAME = "pilot-metrics"
EXPORTERS = ("otlp", "console", "none")
TEMPORALITIES = ("cumulative", "delta")
DEFAULT_SERVICE_NAME = "pilot"
INSTALL_HINT = "pip install 'pilot-metrics-plugin[otel]'"


class OtelError(Exception):
    """The sink cannot do its work; the message says why, in one line."""


@dataclass(frozen=True)
class OtelOptions:
    """``[sinks.otel]``, checked: a typo or a wrong type is an error that names the key."""

    enabled: bool = False
    exporter: str = "otlp"
    """``otlp`` (OTLP over HTTP/protobuf), ``console`` (JSON on stderr) or ``none`` (collect only)."""
    endpoint: str | None = None
    """The OTLP metrics URL; default: ``OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT``, else
    ``http://localhost:4318/v1/metrics``."""
    headers: Mapping[str, str] = field(default_factory=dict)
    temporality: str = "cumulative"
    timeout_s: float = 5.0
    """The most one export may take, retries included; keep it below ``[sinks] timeout``."""
    service_name: str | None = None
    """The ``service.name`` resource attribute; default ``OTEL_SERVICE_NAME``, else ``pilot``."""

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> OtelOptions:
        known = {"enabled", "exporter", "endpoint", "headers", "temporality", "timeout", "service_name"}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise OtelError(f"[sinks.otel]: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
        enabled = settings.get("enabled", False)
        if not isinstance(enabled, bool):
            raise OtelError(f"[sinks.otel] enabled: expected true or false, got {enabled!r}")
        exporter = _choice(settings, "exporter", EXPORTERS, cls.exporter)
        temporality = _choice(settings, "temporality", TEMPORALITIES, cls.temporality)
        endpoint = _optional_string(settings, "endpoint")
        service_name = _optional_string(settings, "service_name")
        headers = settings.get("headers", {})
        if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
            raise OtelError("[sinks.otel] headers: expected a table of strings")
        timeout = settings.get("timeout", cls.timeout_s)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise OtelError(f"[sinks.otel] timeout: expected a number of seconds > 0, got {timeout!r}")
        return cls(
            enabled=enabled, exporter=exporter, endpoint=endpoint, headers=dict(headers),
            temporality=temporality, timeout_s=float(timeout), service_name=service_name,
        )


def _choice(settings: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
    value = settings.get(key, default)
    if value not in choices:
        raise OtelError(f"[sinks.otel] {key}: expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _optional_string(settings: Mapping[str, Any], key: str) -> str | None:
    value = settings.get(key)
    if value is not None and not (isinstance(value, str) and value):
        raise OtelError(f"[sinks.otel] {key}: expected a string, got {value!r}")
    return value


@dataclass
class Pipeline:
    """The SDK objects of one process: provider, on-demand reader, exporter (``None``: collect only)."""

    options: OtelOptions
    provider: MeterProvider
    reader: InMemoryMetricReader
    exporter: MetricExporter | None
    instruments: ExecutionInstruments

    def export(self) -> None:
        from opentelemetry.sdk.metrics.export import MetricExportResult

        data = self.reader.get_metrics_data()
        if self.exporter is None or data is None:
            return
        result = self.exporter.export(data, timeout_millis=self.options.timeout_s * 1000)
        if result is not MetricExportResult.SUCCESS:
            where = self.options.endpoint or "the OTLP endpoint of the OTEL_EXPORTER_OTLP_* variables"
            raise OtelError(f"the {self.options.exporter} export to {where} failed")


def build_pipeline(options: OtelOptions) -> Pipeline:
    try:
        from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
        from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
        from opentelemetry.sdk.resources import Resource
    except ImportError:
        raise OtelError(
            f"[sinks.otel] is enabled but the OpenTelemetry SDK is not installed: {INSTALL_HINT}"
        ) from None
    import logging

    from pilot_metrics_plugin.otel.instruments import ExecutionInstruments

    # The SDK and its exporters log failures; with no logging set up, Python would print those records on
    # stderr besides the one line Pilot reports. A handler of our own keeps them away from that last resort
    # (an application that configures logging still gets them).
    logging.getLogger("opentelemetry").addHandler(logging.NullHandler())
    temporality = (
        AggregationTemporality.DELTA if options.temporality == "delta" else AggregationTemporality.CUMULATIVE
    )
    reader = InMemoryMetricReader(preferred_temporality={Counter: temporality, Histogram: temporality})
    service_name = options.service_name or os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": service_name}),
        shutdown_on_exit=False,
    )
    meter = provider.get_meter(METER_NAME, __version__)
    return Pipeline(options, provider, reader, _exporter(options), ExecutionInstruments(meter))


def _exporter(options: OtelOptions) -> MetricExporter | None:
    if options.exporter == "none":
        return None
    if options.exporter == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        return ConsoleMetricExporter(out=sys.stderr)
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    except ImportError:
        raise OtelError(f"the OTLP exporter is not installed: {INSTALL_HINT}") from None
    return OTLPMetricExporter(
        endpoint=options.endpoint, headers=dict(options.headers) or None, timeout=options.timeout_s
    )


class OtelSink:
    """The plugin: idle unless enabled; builds the pipeline at the first record of the process."""

    def __init__(self) -> None:
        self.pipeline: Pipeline | None = None

    @hookimpl
    def on_execution_recorded(self, record: ExecutionRecord, settings: Mapping[str, Any]) -> None:
        options = OtelOptions.from_settings(settings)
        if not options.enabled:
            return
        if self.pipeline is None or self.pipeline.options != options:
            self.pipeline = build_pipeline(options)
        self.pipeline.instruments.record(record)
        self.pipeline.export()


plugin = OtelSink()
"""What the ``pilot`` entry point ``otel`` loads."""
