"""One execution's life as hook calls: phases, events and the end, in the order the contract promises.

Both ``pilot run`` (a live agent process) and ``pilot replay`` (a recorded transcript) feed lines through an
``ExecutionDriver``, so plugins cannot tell them apart except by ``Execution.agent_command``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from hookspecs.manager import PluginHost
from hookspecs.payloads import DiffStats, Execution, ExecutionResult, Phase, StreamEvent
from hookspecs.phases import PhaseDetector
from hookspecs.streamjson import decode_line

_MS = timedelta(milliseconds=1)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def new_execution_id() -> str:
    return uuid.uuid4().hex


def duration_ms(start: datetime, end: datetime) -> int:
    return max(0, (end - start) // _MS)



class ExecutionDriver:
    """Turns lines into hook calls for one execution. Not thread-safe: one reader feeds it."""

    def __init__(self, host: PluginHost, execution: Execution) -> None:
        self.host = host
        self.execution = execution
        self.dispatcher = host.dispatcher
        self.detector = PhaseDetector()
        self.phase = Phase(name=self.detector.current, index=0, started_at=execution.started_at)
        self.line_number = 0
        self.malformed_lines = 0
        self.last_result: Mapping[str, Any] | None = None
        self.last_time = execution.started_at
        self._events_wanted = self.dispatcher.has_impls("on_stream_event")
        self._complete = False

    def start(self) -> None:
        self.dispatcher.start_execution()
        self.dispatcher.call("on_phase_start", execution=self.execution, phase=self.phase)

    def feed(self, data: bytes, clock: Callable[[Mapping[str, Any]], datetime]) -> None:
        """One raw line (with or without its newline); ``clock`` gives the decoded event its time."""
        self.line_number += 1
        raw, text, problem = decode_line(data)
        if raw is None:
            if problem is not None:
                self.malformed_lines += 1
            return
        self.feed_decoded(raw, text, clock(raw))  # type: ignore[arg-type] - a decoded line has its text

    def feed_decoded(self, raw: dict[str, Any], text: str, received_at: datetime) -> None:
        # Once per stream line: kept to what each line needs (the benchmarks time this path).
        if received_at < self.last_time:
            received_at = self.last_time
        self.last_time = received_at
        kind = raw.get("type")
        if type(kind) is not str:
            kind = ""
        elif kind == "result":
            self.last_result = raw
        new_phase = self.detector.observe(raw)
        if new_phase is not None:
            self._transition(new_phase, received_at)
        if self._events_wanted:
            event = StreamEvent(raw, kind, self.line_number, received_at, text)
            self.dispatcher.call("on_stream_event", execution=self.execution, event=event)

    def malformed(self) -> None:
        """A line the reader had to drop before decoding (e.g. longer than the limit)."""
        self.line_number += 1
        self.malformed_lines += 1

    def _end_phase(self, at: datetime) -> None:
        ended = Phase(
            name=self.phase.name,
            index=self.phase.index,
            started_at=self.phase.started_at,
            ended_at=at,
            duration_ms=duration_ms(self.phase.started_at, at),
        )
        self.dispatcher.call("on_phase_end", execution=self.execution, phase=ended)

    def _transition(self, name: str, at: datetime) -> None:
        self._end_phase(at)
        self.phase = Phase(name=name, index=self.phase.index + 1, started_at=at)
        self.dispatcher.call("on_phase_start", execution=self.execution, phase=self.phase)

    def status_from_stream(self) -> tuple[str, str | None]:
        """``(status, error)`` as the last ``result`` event says; a stream without one failed."""
        result = self.last_result
        if result is None:
            return "failed", "the agent ended without a result event"
        if result.get("is_error") is False and result.get("subtype") == "success":
            return "succeeded", None
        return "failed", _result_error(result)

    def complete(
        self,
        *,
        status: str,
        exit_code: int | None,
        error: str | None,
        ended_at: datetime,
        diff: DiffStats | None = None,
        stderr_tail: str = "",
    ) -> ExecutionResult:
        """End the last phase and report the end: exactly once."""
        if self._complete:
            raise RuntimeError("execution already complete")
        self._complete = True
        ended_at = max(ended_at, self.last_time)
        self._end_phase(ended_at)
        result = ExecutionResult(
            status=status,  # type: ignore[arg-type]
            exit_code=exit_code,
            error=error,
            ended_at=ended_at,
            duration_ms=duration_ms(self.execution.started_at, ended_at),
            diff=diff,
            result_event=self.last_result,
            malformed_lines=self.malformed_lines,
            stderr_tail=stderr_tail,
            plugin_errors=self.dispatcher.errors(),
        )
        self.dispatcher.call("on_execution_complete", execution=self.execution, result=result)
        return result


def _result_error(result: Mapping[str, Any]) -> str:
    errors = result.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], str) and errors[0].strip():
        return errors[0]
    text = result.get("result")
    if isinstance(text, str) and text.strip():
        return text
    subtype = result.get("subtype")
    return f"the agent reported an error (subtype {subtype!r})"
