"""The accounted record of one execution: what the store holds, ``show --json`` prints, export writes and
sinks receive. ``to_dict`` gives the stable JSON shape (snake_case keys; times ISO 8601 with offset)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any


def ms_to_iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds")


def nano_to_usd_number(nano: int | None) -> float | None:
    """Dollars as a JSON number, for reading; the exact figure is always the integer beside it."""
    return None if nano is None else nano / 1_000_000_000


@dataclass(frozen=True, slots=True)
class ModelUsageRecord:
    """Tokens and cost of one model within one execution."""

    model: str
    """The model id as the stream names it (``modelUsage`` key or ``message.model``), e.g.
    ``claude-haiku-4-5-20251001`` or ``claude-opus-4-7[1m]``."""
    tokens_input: int
    tokens_output: int
    tokens_cache_read: int
    tokens_cache_write: int
    """All cache writes, 5-minute and 1-hour."""
    tokens_cache_write_1h: int
    """The 1-hour part of ``tokens_cache_write`` (a lower bound when the stream has no per-model split)."""
    tokens_total: int
    """``input + output + cache_read + cache_write``."""
    cost_nano_usd: int | None
    """``None`` when the price table does not know the model."""
    cost_source: str
    """``reported`` (the stream's own figure), ``estimated`` (price table) or ``unknown``."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "tokens_input": self.tokens_input,
            "tokens_output": self.tokens_output,
            "tokens_cache_read": self.tokens_cache_read,
            "tokens_cache_write": self.tokens_cache_write,
            "tokens_cache_write_1h": self.tokens_cache_write_1h,
            "tokens_total": self.tokens_total,
            "cost_nano_usd": self.cost_nano_usd,
            "cost_usd": nano_to_usd_number(self.cost_nano_usd),
            "cost_source": self.cost_source,
        }


@dataclass(frozen=True, slots=True)
class PhaseRecord:
    name: str
    started_at_ms: int
    ended_at_ms: int
    duration_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "started_at": ms_to_iso(self.started_at_ms),
            "ended_at": ms_to_iso(self.ended_at_ms),
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    execution_id: str
    task_id: str
    project: str
    project_path: str | None
    agent_command: tuple[str, ...]
    model_requested: str | None
    status: str
    failure_category: str | None
    failure_reason: str | None
    exit_code: int | None
    started_at_ms: int
    ended_at_ms: int | None
    duration_ms: int | None
    num_turns: int | None
    tokens_input: int
    tokens_output: int
    tokens_cache_read: int
    tokens_cache_write: int
    tokens_cache_write_1h: int
    tokens_total: int
    cost_nano_usd: int | None
    cost_source: str
    reported_cost_nano_usd: int | None
    price_table_version: str | None
    models: tuple[ModelUsageRecord, ...]
    phases: tuple[PhaseRecord, ...]
    tool_calls: Mapping[str, int]
    """Tool name -> calls; read-only, since every sink shares the record."""
    files_read: tuple[str, ...]
    files_written: tuple[str, ...]
    commit_shas: tuple[str, ...]
    pr_url: str | None
    files_changed: int | None
    lines_added: int | None
    lines_removed: int | None
    malformed_lines: int
    usage_complete: bool
    source_key: str | None = None

    @property
    def commit_sha(self) -> str | None:
        """The last commit seen."""
        return self.commit_shas[-1] if self.commit_shas else None

    @property
    def cost_usd(self) -> float | None:
        return nano_to_usd_number(self.cost_nano_usd)

    def to_dict(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "task_id": self.task_id,
            "project": self.project,
            "project_path": self.project_path,
            "agent_command": list(self.agent_command),
            "model_requested": self.model_requested,
            "status": self.status,
            "failure_category": self.failure_category,
            "failure_reason": self.failure_reason,
            "exit_code": self.exit_code,
            "started_at": ms_to_iso(self.started_at_ms),
            "ended_at": ms_to_iso(self.ended_at_ms),
            "duration_ms": self.duration_ms,
            "num_turns": self.num_turns,
            "tokens_input": self.tokens_input,
            "tokens_output": self.tokens_output,
            "tokens_cache_read": self.tokens_cache_read,
            "tokens_cache_write": self.tokens_cache_write,
            "tokens_cache_write_1h": self.tokens_cache_write_1h,
            "tokens_total": self.tokens_total,
            "cost_nano_usd": self.cost_nano_usd,
            "cost_usd": self.cost_usd,
            "cost_source": self.cost_source,
            "reported_cost_nano_usd": self.reported_cost_nano_usd,
            "price_table_version": self.price_table_version,
            "models": [model.to_dict() for model in self.models],
            "phases": [phase.to_dict() for phase in self.phases],
            "tool_calls": dict(self.tool_calls),
            "files_read": list(self.files_read),
            "files_written": list(self.files_written),
            "files_changed": self.files_changed,
            "lines_added": self.lines_added,
            "lines_removed": self.lines_removed,
            "commit_sha": self.commit_sha,
            "commit_shas": list(self.commit_shas),
            "pr_url": self.pr_url,
            "malformed_lines": self.malformed_lines,
            "usage_complete": self.usage_complete,
            "source_key": self.source_key,
        }
