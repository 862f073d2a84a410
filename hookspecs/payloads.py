"""The typed, immutable payloads the hooks receive.

Each payload is built once by the host and shared by every plugin; being frozen, one plugin cannot
change what the next one sees. Times are timezone-aware UTC datetimes; durations are integer
milliseconds (``*_ms``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Status = Literal["succeeded", "failed", "timed_out", "cancelled"]
STATUSES: tuple[str, ...] = ("succeeded", "failed", "timed_out", "cancelled")


@dataclass(frozen=True, slots=True)
class Execution:
    """Who and what one execution is: passed to every hook of that execution."""

    execution_id: str
    """Unique id of this execution: a UUID4 hex string for a run or replay; an import derives a stable one
    from its source so that importing again rewrites the same execution."""
    task_id: str
    """The task the execution works on, as the operator named it (``--task-id``)."""
    project: str
    """Project name (``--project``)."""
    project_path: str | None
    """Absolute path of the project's working directory; ``None`` for a replay without one."""
    agent_command: tuple[str, ...]
    """The agent's argv; for a replay, ``("replay", FILE)``."""
    model: str | None
    """The model asked for (``--model``), or ``None`` for the agent's default."""
    started_at: datetime
    """When the execution started (UTC)."""


@dataclass(frozen=True, slots=True)
class Phase:
    """One occurrence of a phase: a phase entered twice is two ``Phase`` objects."""

    name: str
    """Phase name, e.g. ``exploring``, ``implementing``, ``testing`` (see ``hookspecs.phases``)."""
    index: int
    """0-based position of this occurrence within the execution."""
    started_at: datetime
    ended_at: datetime | None = None
    """``None`` in ``on_phase_start``; set in ``on_phase_end``."""
    duration_ms: int | None = None
    """``ended_at - started_at`` in whole milliseconds; ``None`` until the phase ends."""


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One decoded line of the agent's stream-json output."""

    raw: Mapping[str, Any]
    """The decoded JSON object, as the agent wrote it. Treat it as read-only."""
    type: str
    """Its ``type`` field (``system``, ``assistant``, ``user``, ``result`` ...), ``""`` if absent."""
    line_number: int
    """1-based line number in the agent's stdout (or the replayed file)."""
    received_at: datetime
    """When the line arrived (a replay: the line's own ``timestamp``, shifted; see ``pilot replay``)."""
    text: str
    """The line as text, without its newline: exact decimal numbers can be re-read from it."""

    @property
    def subtype(self) -> str | None:
        value = self.raw.get("subtype")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class DiffStats:
    """What the execution changed in the project's git working tree (``git diff --numstat``): from the
    commit at HEAD when it started to the working tree when it ended, committed or not, untracked files
    included. Binary files count as changed with 0 lines added or removed."""

    files_changed: int
    lines_added: int
    lines_removed: int


@dataclass(frozen=True, slots=True)
class PluginError:
    """One plugin failure seen during the execution (the first of its plugin and hook)."""

    plugin: str
    hook: str
    error: str
    count: int


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """How the execution ended."""

    status: Status
    """``succeeded``, ``failed``, ``timed_out`` or ``cancelled``."""
    exit_code: int | None
    """The agent's exit code; negative for a signal; ``None`` for a replay or a process never started."""
    error: str | None
    """Why it did not succeed: the agent's error text, or the host's reason (no result event,
    timeout, ...); ``None`` on success."""
    ended_at: datetime
    duration_ms: int
    diff: DiffStats | None
    """``None`` when the project path is not a git repository (or for a replay)."""
    result_event: Mapping[str, Any] | None = None
    """The last ``result`` event of the stream, or ``None`` when there was none."""
    malformed_lines: int = 0
    """Lines that were skipped: not JSON, not an object, not UTF-8, or too long."""
    stderr_tail: str = ""
    """The last 64 KiB of the agent's stderr."""
    plugin_errors: tuple[PluginError, ...] = ()
    """Plugin failures during this execution, up to ``on_execution_complete``."""
