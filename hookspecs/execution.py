"""One execution's life as hook calls: phases, events and the end, in the order the contract promises.

Both ``pilot run`` (a live agent process) and ``pilot replay`` (a recorded transcript) feed lines through an
``ExecutionDriver``, so plugins cannot tell them apart except by ``Execution.agent_command``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import IO, Any, TypeVar

from hookspecs.manager import PluginHost
from hookspecs.payloads import DiffStats, Execution, ExecutionResult, Phase, StreamEvent
from hookspecs.phases import PhaseDetector
from hookspecs.streamjson import MAX_LINE_BYTES, decode_line

READ_BUFFER_BYTES = 1024 * 1024
"""Buffer for reading the agent's stdout (and a replayed file): stream-json lines run to tens of KB, and with
the default 8 KB buffer each ``readline`` assembles its line from several reads (about 1 µs a line more)."""

_MS = timedelta(milliseconds=1)
_T = TypeVar("_T")


def _slots_constructor(cls: type[_T]) -> Callable[..., _T]:
    """``cls(*values)`` for a frozen, slotted payload dataclass, given every field in order, made about twice
    as fast: a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, which looks the
    name up each time; this sets the slots through their descriptors. A ``StreamEvent`` is made per stream
    line (0.4 µs a line saved) and two ``Phase`` objects per phase change. Falls back to the constructor if
    ``cls`` ever gains a ``__post_init__``, a field outside ``__init__``, a field that is not a slot, or a
    number of fields other than the five both have."""
    import dataclasses

    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    attributes = vars(cls)
    if (
        len(fields) != 5
        or hasattr(cls, "__post_init__")
        or not all(f.init for f in fields)
        or not all(type(attributes.get(f.name)).__name__ == "member_descriptor" for f in fields)
    ):
        return cls
    new = object.__new__
    set_0, set_1, set_2, set_3, set_4 = (attributes[f.name].__set__ for f in fields)

    def make(value_0: Any, value_1: Any, value_2: Any, value_3: Any, value_4: Any) -> _T:
        instance = new(cls)
        set_0(instance, value_0)
        set_1(instance, value_1)
        set_2(instance, value_2)
        set_3(instance, value_3)
        set_4(instance, value_4)
        return instance

    return make


_new_event: Callable[[Mapping[str, Any], str, int, datetime, str], StreamEvent]
_new_event = _slots_constructor(StreamEvent)
"""``StreamEvent(raw, type, line_number, received_at, text)``."""
_new_phase: Callable[[str, int, datetime, datetime | None, int | None], Phase] = _slots_constructor(Phase)
"""``Phase(name, index, started_at, ended_at, duration_ms)``."""


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
        self._on_stream_event = self.dispatcher.caller("on_stream_event")
        self._on_phase_start = self.dispatcher.caller("on_phase_start")
        self._on_phase_end = self.dispatcher.caller("on_phase_end")
        self._complete = False

    def start(self) -> None:
        self.dispatcher.start_execution()
        self._on_phase_start(self.execution, self.phase)

    def feed(self, data: bytes, clock: Callable[[Mapping[str, Any]], datetime]) -> None:
        """One raw line (with or without its newline); ``clock`` gives the decoded event its time."""
        self.feed_all((data,), clock)

    def feed_decoded(self, raw: dict[str, Any], text: str, received_at: datetime) -> None:
        """One decoded line, received at ``received_at``. ``feed_all`` does the same for each line it decodes,
        written out: change both."""
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
            self._on_stream_event(self.execution, _new_event(raw, kind, self.line_number, received_at, text))

    def feed_all(self, lines: Iterable[bytes | None], clock: Callable[[Mapping[str, Any]], datetime]) -> None:
        """``feed`` each of ``lines``; ``None`` stands for a line dropped before decoding (``malformed``).

        The read loop of ``pilot run`` and ``pilot replay``: ``feed_decoded`` written out in the loop, with
        what it looks up held in locals, because it runs once per stream line (the benchmarks time this
        path)."""
        execution = self.execution
        observe = self.detector.observe
        on_event = self._on_stream_event if self._events_wanted else None
        new_event = _new_event
        line_number = self.line_number
        last_time = self.last_time
        try:
            for data in lines:
                line_number += 1
                if data is None:
                    self.malformed_lines += 1
                    continue
                raw, text, problem = decode_line(data)
                if raw is None:
                    if problem is not None:
                        self.malformed_lines += 1
                    continue
                received_at = clock(raw)
                if received_at < last_time:
                    received_at = last_time
                last_time = received_at
                kind = raw.get("type")
                if type(kind) is not str:
                    kind = ""
                elif kind == "result":
                    self.last_result = raw
                new_phase = observe(raw)
                if new_phase is not None:
                    self.line_number, self.last_time = line_number, last_time
                    self._transition(new_phase, received_at)
                if on_event is not None:
                    on_event(execution, new_event(raw, kind, line_number, received_at, text))
        finally:
            self.line_number, self.last_time = line_number, last_time

    def malformed(self) -> None:
        """A line the reader had to drop before decoding (e.g. longer than the limit)."""
        self.line_number += 1
        self.malformed_lines += 1

    def _end_phase(self, at: datetime) -> None:
        phase = self.phase
        ended = _new_phase(phase.name, phase.index, phase.started_at, at, duration_ms(phase.started_at, at))
        self._on_phase_end(self.execution, ended)

    def _transition(self, name: str, at: datetime) -> None:
        self._end_phase(at)
        self.phase = _new_phase(name, self.phase.index + 1, at, None, None)
        self._on_phase_start(self.execution, self.phase)

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


def read_lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """The stream's lines; ``None`` in place of a line longer than the limit (which is skipped whole)."""
    while True:
        data = stream.readline(MAX_LINE_BYTES + 1)
        if not data:
            return
        if len(data) > MAX_LINE_BYTES and not data.endswith(b"\n"):
            while True:
                rest = stream.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
        else:
            yield data


def feed_lines(
    driver: ExecutionDriver, stream: IO[bytes], clock: Callable[[Mapping[str, Any]], datetime]
) -> None:
    """The read loop of ``pilot run`` (the agent's stdout) and ``pilot replay`` (a transcript)."""
    driver.feed_all(read_lines(stream), clock)


def _result_error(result: Mapping[str, Any]) -> str:
    errors = result.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], str) and errors[0].strip():
        return errors[0]
    text = result.get("result")
    if isinstance(text, str) and text.strip():
        return text
    subtype = result.get("subtype")
    return f"the agent reported an error (subtype {subtype!r})"
