"""The ``pilot`` command in-process: plugin commands, and errors as one line and an exit code."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from conftest import host_with, transcript
from hookspecs import Execution, ExecutionResult, Phase, StreamEvent, hookimpl
from hookspecs.cli import main
from hookspecs.commands import CommandRegistry, PilotError
from hookspecs.manager import PluginHost


class HookLog:
    """Records each execution hook call as ``"<hook> <phase or event type or status>"``."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def on_phase_start(self, phase: Phase) -> None:
        self.calls.append(f"on_phase_start {phase.name}")

    @hookimpl
    def on_stream_event(self, event: StreamEvent) -> None:
        self.calls.append(f"on_stream_event {event.type}")

    @hookimpl
    def on_phase_end(self, phase: Phase) -> None:
        self.calls.append(f"on_phase_end {phase.name}")

    @hookimpl
    def on_execution_complete(self, execution: Execution, result: ExecutionResult) -> None:
        self.calls.append(f"on_execution_complete {result.status}")


class Command:
    """A plugin adding ``pilot NAME`` whose handler raises ``error`` or returns ``code``."""

    def __init__(self, name: str, *, error: BaseException | None = None, code: int | None = None) -> None:
        self.name = name
        self.error = error
        self.code = code

    @hookimpl
    def register_commands(self, commands: CommandRegistry) -> None:
        parser = commands.add(self.name, help=f"the {self.name} command of a test plugin")
        parser.set_defaults(handler=self.handle)

    def handle(self, args: argparse.Namespace) -> int | None:
        if self.error is not None:
            raise self.error
        return self.code


def test_pilot_help_lists_the_commands_plugins_registered(capsys: pytest.CaptureFixture[str]) -> None:
    host = host_with(("greeter", Command("greet")))
    assert main(["--help"], host=host) == 0
    out = capsys.readouterr().out
    assert "the greet command of a test plugin" in out
    for builtin in ("run", "replay", "plugins"):
        assert f"\n    {builtin} " in out


def test_an_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"], host=host_with()) == 2
    assert "invalid choice: 'no-such-command'" in capsys.readouterr().err


def test_a_command_returning_a_number_exits_with_it() -> None:
    assert main(["answer"], host=host_with(("answer", Command("answer", code=5)))) == 5


def test_a_command_raising_pilot_error_prints_one_line_and_exits_with_its_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = PilotError("the budget file is missing", exit_code=3)
    host = host_with(("strict", Command("check", error=error)))
    assert main(["check"], host=host) == 3
    assert capsys.readouterr().err == "pilot: error: the budget file is missing\n"


def test_a_command_raising_another_exception_prints_one_line_and_exits_1_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = host_with(("buggy", Command("report", error=ZeroDivisionError("division by zero\nsecond line"))))
    assert main(["report"], host=host) == 1
    assert capsys.readouterr().err == "pilot: error: ZeroDivisionError: division by zero\n"


def test_pilot_trace_plugins_shows_the_traceback_of_a_failing_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PILOT_TRACE_PLUGINS", "1")
    host = host_with(("buggy", Command("report", error=ZeroDivisionError("division by zero"))))
    assert main(["report"], host=host) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.endswith("pilot: error: ZeroDivisionError: division by zero\n")


def test_a_command_interrupted_by_ctrl_c_exits_130(capsys: pytest.CaptureFixture[str]) -> None:
    host = host_with(("slow", Command("wait", error=KeyboardInterrupt())))
    assert main(["wait"], host=host) == 130
    assert capsys.readouterr().err == "pilot: interrupted\n"


def test_replay_of_a_missing_file_prints_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.jsonl"
    code = main(["replay", str(missing), "--task-id", "T", "--project", "p"], host=host_with())
    assert code == 2
    assert capsys.readouterr().err == f"pilot: error: no such transcript: {missing}\n"


def test_replay_of_a_recorded_success_exits_0_after_feeding_every_line_to_the_plugins(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = HookLog()
    path = transcript("v2.1.328-success-bash-tool-loopback-api")
    assert main(["replay", str(path), "--task-id", "T", "--project", "p"], host=host_with(("log", log))) == 0
    # 5 lines: system init, assistant (a Bash tool use: "executing"), user, assistant, result.
    assert log.calls == [
        "on_phase_start planning",
        "on_stream_event system",
        "on_phase_end planning",
        "on_phase_start executing",
        "on_stream_event assistant",
        "on_stream_event user",
        "on_stream_event assistant",
        "on_stream_event result",
        "on_phase_end executing",
        "on_execution_complete succeeded",
    ]


@pytest.mark.parametrize("after", [[], ["--"]], ids=["no --", "nothing after --"])
def test_run_without_an_agent_command_prints_one_line_and_exits_2(
    after: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "--task-id", "T", "--project", "p", "--project-path", str(tmp_path), *after]
    assert main(argv, host=host_with()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("pilot: error: give the agent's command after --")


def run_missing_binary(host: PluginHost, project_path: Path) -> int:
    argv = ["run", "--task-id", "T", "--project", "p", "--project-path", str(project_path)]
    return main([*argv, "--", "no-such-binary-xyz", "-p", "hi"], host=host)


def test_run_of_a_binary_that_does_not_exist_exits_non_zero_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_missing_binary(host_with(), tmp_path) != 0
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("pilot: execution failed in ")
    assert "cannot start the agent" in line and "no-such-binary-xyz" in line


def test_run_of_a_binary_that_does_not_exist_still_starts_ends_and_completes_the_execution(
    tmp_path: Path,
) -> None:
    log = HookLog()
    run_missing_binary(host_with(("log", log)), tmp_path)
    assert log.calls == ["on_phase_start planning", "on_phase_end planning", "on_execution_complete failed"]
