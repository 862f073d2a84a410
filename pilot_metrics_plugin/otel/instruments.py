"""A recorded execution as OpenTelemetry metrics, named by the GenAI semantic conventions where they apply.

The conventions (``gen_ai.*``, status Development) cover tokens and durations of GenAI operations; an
execution is one ``invoke_agent`` operation of the provider ``anthropic``. For Anthropic, the input tokens
of the conventions (``gen_ai.usage.input_tokens``, and ``gen_ai.token.type = input`` here) include cache
reads and cache writes. The conventions define no cost, phases or diff statistics: those are ours, under
``pilot.``, as is ``pilot.tokens``, which keeps the cache kinds apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry.util.types import AttributeValue

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

    from pilot_metrics_plugin.record import ExecutionRecord

PROVIDER = "anthropic"
OPERATION = "invoke_agent"
NANO_PER_USD = 1_000_000_000

# Semantic-convention names
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_SYSTEM = "gen_ai.system"
"""The provider's name before semantic conventions 1.37; set too, for consumers that still read it."""
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
ERROR_TYPE = "error.type"
TOKEN_USAGE = "gen_ai.client.token.usage"
OPERATION_DURATION = "gen_ai.client.operation.duration"

# Ours
PILOT_PROJECT = "pilot.project"
PILOT_STATUS = "pilot.status"
PILOT_TOKEN_TYPE = "pilot.token.type"
PILOT_COST_SOURCE = "pilot.cost.source"
PILOT_PHASE_NAME = "pilot.phase.name"
PILOT_LINES_TYPE = "pilot.lines.type"

TOKEN_USAGE_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)
"""The conventions' advice for ``gen_ai.client.token.usage``."""
EXECUTION_BUCKETS_S = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
"""An agent's run lasts minutes: the conventions' model-call buckets (up to 82 s) would be too short."""
PHASE_BUCKETS_S = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)


class ExecutionInstruments:
    """The instruments on one meter; ``record`` adds one execution's measurements."""

    def __init__(self, meter: Meter) -> None:
        self.token_usage = meter.create_histogram(
            TOKEN_USAGE, unit="{token}", description="Tokens per model and execution, input (cache reads and "
            "writes included) and output",
            explicit_bucket_boundaries_advisory=TOKEN_USAGE_BUCKETS,
        )
        self.duration = meter.create_histogram(
            OPERATION_DURATION, unit="s", description="Wall-clock time of the agent's execution",
            explicit_bucket_boundaries_advisory=EXECUTION_BUCKETS_S,
        )
        self.executions = meter.create_counter(
            "pilot.executions", unit="{execution}", description="Executions recorded"
        )
        self.tokens = meter.create_counter(
            "pilot.tokens", unit="{token}",
            description="Tokens by type: input (uncached), output, cache_read, cache_write; they add up to "
            "the total",
        )
        self.cost = meter.create_counter(
            "pilot.cost.usd", unit="USD", description="Cost in US dollars, per model, where it is known"
        )
        self.cost_unknown = meter.create_counter(
            "pilot.cost.unknown_executions", unit="{execution}",
            description="Executions in which a model's cost is unknown (a model the price table does not "
            "know)",
        )
        self.phase_duration = meter.create_histogram(
            "pilot.phase.duration", unit="s", description="Time spent in each phase",
            explicit_bucket_boundaries_advisory=PHASE_BUCKETS_S,
        )
        self.lines = meter.create_counter(
            "pilot.lines_of_code", unit="{line}", description="Lines the execution added or removed in the "
            "working tree"
        )
        self.files_changed = meter.create_counter(
            "pilot.files.changed", unit="{file}",
            description="Files the execution changed in the working tree",
        )

    def record(self, record: ExecutionRecord) -> None:
        project: dict[str, AttributeValue] = {PILOT_PROJECT: record.project}
        genai: dict[str, AttributeValue] = {
            GEN_AI_OPERATION_NAME: OPERATION, GEN_AI_PROVIDER_NAME: PROVIDER, GEN_AI_SYSTEM: PROVIDER,
        }
        if record.model_requested:
            genai[GEN_AI_REQUEST_MODEL] = record.model_requested
        outcome: dict[str, AttributeValue] = {PILOT_STATUS: record.status}
        if record.status != "succeeded":
            outcome[ERROR_TYPE] = record.failure_category or record.status

        self.executions.add(1, _join(project, outcome, _only(genai, GEN_AI_REQUEST_MODEL)))
        if record.duration_ms is not None:
            self.duration.record(record.duration_ms / 1000, _join(project, genai, outcome))
        for usage in _usages(record):
            served = _join(project, usage.served)
            input_tokens = usage.tokens_input + usage.tokens_cache_read + usage.tokens_cache_write
            self.token_usage.record(input_tokens, _join(served, genai, {GEN_AI_TOKEN_TYPE: "input"}))
            self.token_usage.record(usage.tokens_output, _join(served, genai, {GEN_AI_TOKEN_TYPE: "output"}))
            for kind, count in (
                ("input", usage.tokens_input), ("output", usage.tokens_output),
                ("cache_read", usage.tokens_cache_read), ("cache_write", usage.tokens_cache_write),
            ):
                self.tokens.add(count, _join(served, {PILOT_TOKEN_TYPE: kind}))
            if usage.cost_unknown:
                self.cost_unknown.add(1, served)
            elif usage.cost_nano_usd is not None:
                source = {PILOT_COST_SOURCE: usage.cost_source}
                self.cost.add(usage.cost_nano_usd / NANO_PER_USD, _join(served, source))
        for phase in record.phases:
            name = {PILOT_PHASE_NAME: phase.name}
            self.phase_duration.record(phase.duration_ms / 1000, _join(project, name))
        if record.lines_added is not None:
            self.lines.add(record.lines_added, _join(project, {PILOT_LINES_TYPE: "added"}))
        if record.lines_removed is not None:
            self.lines.add(record.lines_removed, _join(project, {PILOT_LINES_TYPE: "removed"}))
        if record.files_changed is not None:
            self.files_changed.add(record.files_changed, project)


@dataclass(frozen=True)
class _Usage:
    served: dict[str, AttributeValue]
    tokens_input: int
    tokens_output: int
    tokens_cache_read: int
    tokens_cache_write: int
    cost_nano_usd: int | None
    cost_source: str
    cost_unknown: bool


def _usages(record: ExecutionRecord) -> list[_Usage]:
    """One usage per model row, and one without ``gen_ai.response.model`` for what no model row holds:
    tokens of a stream that never named its model, and the cost of an execution without any model row."""
    usages = [
        _Usage(
            {GEN_AI_RESPONSE_MODEL: m.model}, m.tokens_input, m.tokens_output, m.tokens_cache_read,
            m.tokens_cache_write, m.cost_nano_usd, m.cost_source, m.cost_nano_usd is None,
        )
        for m in record.models
    ]
    rest = [
        record.tokens_input - sum(u.tokens_input for u in usages),
        record.tokens_output - sum(u.tokens_output for u in usages),
        record.tokens_cache_read - sum(u.tokens_cache_read for u in usages),
        record.tokens_cache_write - sum(u.tokens_cache_write for u in usages),
    ]
    rest = [max(0, count) for count in rest]
    cost = record.cost_nano_usd if not usages else None
    unknown = not usages and record.cost_nano_usd is None and record.tokens_total > 0
    if any(rest) or cost or unknown:
        usages.append(_Usage({}, rest[0], rest[1], rest[2], rest[3], cost, record.cost_source, unknown))
    return usages


def _join(*parts: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
    joined: dict[str, AttributeValue] = {}
    for part in parts:
        joined.update(part)
    return joined


def _only(attributes: Mapping[str, AttributeValue], *keys: str) -> dict[str, AttributeValue]:
    return {key: attributes[key] for key in keys if key in attributes}
