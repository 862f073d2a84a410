"""The guarded dispatcher: one plugin's failure stays its own, and the call order is pluggy's."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from conftest import host_with, transcript
from hookspecs import Execution, ExecutionResult, Phase, PluginError, StreamEvent, hookimpl
from hookspecs.dispatch import MAX_CONSECUTIVE_FAILURES
from hookspecs.manager import PluginHost
from hookspecs.replay import replay_transcript

STARTED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
EXECUTION = Execution(
    execution_id="e" * 32,
    task_id="T-1",
    project="demo",
    project_path=None,
    agent_command=("claude", "-p", "hi"),
    model=None,
    started_at=STARTED_AT,
)


def event(line_number: int) -> StreamEvent:
    raw = {"type": "assistant", "n": line_number}
    return StreamEvent(raw=raw, type="assistant", line_number=line_number, received_at=STARTED_AT, text="{}")


def send_events(host: PluginHost, count: int) -> None:
    for n in range(1, count + 1):
        host.dispatcher.call("on_stream_event", execution=EXECUTION, event=event(n))


class Recorder:
    """A sink that keeps the line number of every event it receives."""

    def __init__(self) -> None:
        self.lines: list[int] = []
        self.results: list[ExecutionResult] = []

    @hookimpl
    def on_stream_event(self, execution: Execution, event: StreamEvent) -> None:
        self.lines.append(event.line_number)

    @hookimpl
    def on_execution_complete(self, execution: Execution, result: ExecutionResult) -> None:
        self.results.append(result)


class Raising:
    """A sink that raises ``error`` on every event, counting its calls."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error if error is not None else RuntimeError("sink is down")
        self.calls = 0

    @hookimpl
    def on_stream_event(self, execution: Execution, event: StreamEvent) -> None:
        self.calls += 1
        raise self.error


@pytest.mark.parametrize("broken_registered", ["first", "last"])
def test_a_plugin_raising_in_on_stream_event_does_not_keep_another_plugin_from_any_event(
    broken_registered: str,
) -> None:
    recorder = Recorder()
    pairs = [("broken", Raising()), ("recorder", recorder)]
    host = host_with(*(pairs if broken_registered == "first" else pairs[::-1]))
    # The transcript has 12 lines, each one JSON object: 12 events, numbered 1 to 12.
    replay_transcript(host, transcript("v2.1.220-success-write-tool"), task_id="T", project="p")
    assert recorder.lines == list(range(1, 13))


def test_a_failing_plugin_is_reported_in_one_stderr_line_naming_the_plugin_and_the_hook(
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = host_with(("broken", Raising()), ("recorder", Recorder()))
    send_events(host, 3)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["pilot: plugin 'broken' failed in on_stream_event: RuntimeError: sink is down"]


def test_a_plugin_failing_ten_times_in_a_row_is_not_called_again_in_that_execution() -> None:
    broken, recorder = Raising(), Recorder()
    host = host_with(("broken", broken), ("recorder", recorder))
    host.dispatcher.start_execution()
    send_events(host, 15)
    assert MAX_CONSECUTIVE_FAILURES == 10
    assert broken.calls == 10  # events 1-10 fail; 11-15 skip it
    assert recorder.lines == list(range(1, 16))


def test_disabling_a_failing_plugin_is_announced_once(capsys: pytest.CaptureFixture[str]) -> None:
    host = host_with(("broken", Raising()))
    send_events(host, 25)
    assert capsys.readouterr().err.splitlines() == [
        "pilot: plugin 'broken' failed in on_stream_event: RuntimeError: sink is down",
        "pilot: plugin 'broken' failed 10 times in a row; not called again in this execution",
    ]


def test_a_plugin_disabled_in_one_execution_is_called_again_in_the_next() -> None:
    broken = Raising()
    host = host_with(("broken", broken))
    host.dispatcher.start_execution()
    send_events(host, 12)
    host.dispatcher.start_execution()
    send_events(host, 1)
    assert broken.calls == 10 + 1


def test_failures_with_successes_between_them_never_disable_a_plugin() -> None:
    class FailsOnOddLines:
        calls = 0

        @hookimpl
        def on_stream_event(self, event: StreamEvent) -> None:
            self.calls += 1
            if event.line_number % 2:
                raise ValueError("odd line")

    flaky = FailsOnOddLines()
    host = host_with(("flaky", flaky))
    send_events(host, 30)  # 15 failures, never two in a row
    assert flaky.calls == 30


def test_keyboard_interrupt_raised_by_a_plugin_reaches_the_host() -> None:
    host = host_with(("recorder", Recorder()), ("interrupting", Raising(KeyboardInterrupt())))
    with pytest.raises(KeyboardInterrupt):
        send_events(host, 1)


def test_a_plugins_system_exit_is_contained_and_the_other_plugins_still_get_the_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    recorder = Recorder()
    # Registered last, so called first (LIFO): its SystemExit comes before the recorder's turn.
    host = host_with(("recorder", recorder), ("exiting", Raising(SystemExit(3))))
    send_events(host, 2)
    assert recorder.lines == [1, 2]
    assert capsys.readouterr().err.splitlines() == [
        "pilot: plugin 'exiting' failed in on_stream_event: SystemExit: 3"
    ]


def test_pilot_strict_plugins_re_raises_a_plugins_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PILOT_STRICT_PLUGINS", "1")
    host = host_with(("broken", Raising(RuntimeError("sink is down"))))
    with pytest.raises(RuntimeError, match="sink is down"):
        send_events(host, 1)


def test_pilot_trace_plugins_adds_the_traceback_of_a_plugin_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PILOT_TRACE_PLUGINS", "1")
    host = host_with(("broken", Raising()))
    send_events(host, 1)
    err = capsys.readouterr().err
    assert err.startswith("pilot: plugin 'broken' failed in on_stream_event: RuntimeError: sink is down\n")
    assert "Traceback (most recent call last)" in err


def test_errors_lists_each_failing_plugin_and_hook_with_its_count() -> None:
    class BrokenEverywhere:
        @hookimpl
        def on_stream_event(self, event: StreamEvent) -> None:
            raise KeyError("usage")

        @hookimpl
        def on_phase_start(self) -> None:
            raise OSError("disk full")

    host = host_with(("broken", BrokenEverywhere()))
    host.dispatcher.start_execution()
    send_events(host, 3)
    host.dispatcher.call("on_phase_start", execution=EXECUTION, phase=Phase("planning", 0, STARTED_AT))
    assert host.dispatcher.errors() == (
        PluginError(plugin="broken", hook="on_stream_event", error="KeyError: 'usage'", count=3),
        PluginError(plugin="broken", hook="on_phase_start", error="OSError: disk full", count=1),
    )


def test_the_plugin_failures_of_an_execution_reach_on_execution_complete() -> None:
    recorder = Recorder()
    host = host_with(("broken", Raising()), ("recorder", recorder))
    # 5 lines, all JSON objects: 5 failing calls, fewer than the 10 that would disable the plugin.
    replay_transcript(host, transcript("v2.1.328-success-bash-tool-loopback-api"), task_id="T", project="p")
    (result,) = recorder.results
    assert result.plugin_errors == (
        PluginError(plugin="broken", hook="on_stream_event", error="RuntimeError: sink is down", count=5),
    )


# -- parity with pluggy ------------------------------------------------------------------------------------


def parity_plugins(calls: list[tuple[str, Any]]) -> list[tuple[str, object]]:
    """Five implementations of on_stream_event that pluggy orders by tryfirst/trylast, then LIFO."""

    class Full:
        @hookimpl
        def on_stream_event(self, execution: Execution, event: StreamEvent) -> None:
            calls.append(("full", (execution.task_id, event.line_number)))

    class EventOnly:
        @hookimpl(trylast=True)
        def on_stream_event(self, event: StreamEvent) -> None:
            calls.append(("event-only", event.line_number))

    class First:
        @hookimpl(tryfirst=True)
        def on_stream_event(self, execution: Execution) -> None:
            calls.append(("first", execution.task_id))

    class Defaulted:
        @hookimpl
        def on_stream_event(self, event: StreamEvent, execution: Execution | None = None) -> None:
            calls.append(("defaulted", execution is EXECUTION))

    class ExtraDefault:
        @hookimpl
        def on_stream_event(self, event: StreamEvent, verbose: bool = False) -> None:
            calls.append(("extra-default", verbose))

    return [
        ("full", Full()),
        ("event-only", EventOnly()),
        ("first", First()),
        ("defaulted", Defaulted()),
        ("extra-default", ExtraDefault()),
    ]


def test_the_dispatcher_makes_the_same_calls_with_the_same_arguments_in_the_same_order_as_pluggy() -> None:
    through_pluggy: list[tuple[str, Any]] = []
    pluggy_host = host_with(*parity_plugins(through_pluggy))
    pluggy_host.pm.hook.on_stream_event(execution=EXECUTION, event=event(7))

    through_dispatcher: list[tuple[str, Any]] = []
    dispatcher_host = host_with(*parity_plugins(through_dispatcher))
    dispatcher_host.dispatcher.call("on_stream_event", execution=EXECUTION, event=event(7))

    assert through_dispatcher == through_pluggy
    # Spelled out: tryfirst; then the normal ones, last registered first; then trylast. A defaulted
    # argument of the spec receives the caller's value (pluggy 1.7); one not in the spec keeps its default.
    assert through_dispatcher == [
        ("first", "T-1"),
        ("extra-default", False),
        ("defaulted", True),
        ("full", ("T-1", 7)),
        ("event-only", 7),
    ]
