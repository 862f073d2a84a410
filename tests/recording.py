"""A test plugin that keeps every hook call, shared by the runner, replay and real-agent tests."""

from __future__ import annotations

from typing import Any

from hookspecs import Execution, ExecutionResult, Phase, StreamEvent, hookimpl


class Recorder:
    """A plugin that keeps every hook call, in order, with its payload."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.executions: list[Execution] = []

    @hookimpl
    def on_phase_start(self, execution: Execution, phase: Phase) -> None:
        self.executions.append(execution)
        self.calls.append(("on_phase_start", phase))

    @hookimpl
    def on_phase_end(self, execution: Execution, phase: Phase) -> None:
        self.executions.append(execution)
        self.calls.append(("on_phase_end", phase))

    @hookimpl
    def on_stream_event(self, execution: Execution, event: StreamEvent) -> None:
        self.executions.append(execution)
        self.calls.append(("on_stream_event", event))

    @hookimpl
    def on_execution_complete(self, execution: Execution, result: ExecutionResult) -> None:
        self.executions.append(execution)
        self.calls.append(("on_execution_complete", result))

    def payloads(self, hook: str) -> list[Any]:
        return [payload for name, payload in self.calls if name == hook]

    @property
    def events(self) -> list[StreamEvent]:
        return self.payloads("on_stream_event")

    @property
    def printed(self) -> list[str]:
        """The text of every line the agent printed, as the plugins received it."""
        return [event.text for event in self.events]

    @property
    def ended_phases(self) -> list[Phase]:
        return self.payloads("on_phase_end")

    @property
    def result(self) -> ExecutionResult:
        (result,) = self.payloads("on_execution_complete")
        return result

    def summary(self) -> list[tuple[Any, ...]]:
        """Each call as ``(hook, phase name, index)``, ``(hook, line number, type)`` or ``(hook, status)``."""
        rows: list[tuple[Any, ...]] = []
        for hook, payload in self.calls:
            if isinstance(payload, Phase):
                rows.append((hook, payload.name, payload.index))
            elif isinstance(payload, StreamEvent):
                rows.append((hook, payload.line_number, payload.type))
            else:
                rows.append((hook, payload.status))
        return rows
