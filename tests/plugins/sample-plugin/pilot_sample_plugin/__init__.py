"""A sample Pilot plugin: ``pilot hello``, and one line per hook call appended to ``$PILOT_SAMPLE_LOG``.

The log exists so that a test in another process can see which hooks ran and in which order. It writes
per event, which a real sink must not do (see the hookspecs); this plugin only ever sees short test runs.
"""

from __future__ import annotations

import argparse
import os

from hookspecs import Execution, ExecutionResult, Phase, StreamEvent, hookimpl
from hookspecs.commands import CommandRegistry


def _log(line: str) -> None:
    """Append ``line`` to the file named by ``PILOT_SAMPLE_LOG`` (read per call); no variable, no log."""
    path = os.environ.get("PILOT_SAMPLE_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(line + "\n")


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    _log("register_commands")
    hello = commands.add("hello", help="Say hello (the sample plugin's command)")
    hello.add_argument("--name", default="world", help="whom to greet")
    hello.set_defaults(handler=_say_hello)


def _say_hello(args: argparse.Namespace) -> int:
    print(f"hello, {args.name}")
    return 0


@hookimpl
def on_phase_start(execution: Execution, phase: Phase) -> None:
    _log(f"on_phase_start {phase.name}")


@hookimpl
def on_stream_event(execution: Execution, event: StreamEvent) -> None:
    _log(f"on_stream_event {event.type}")


@hookimpl
def on_phase_end(execution: Execution, phase: Phase) -> None:
    _log(f"on_phase_end {phase.name}")


@hookimpl
def on_execution_complete(execution: Execution, result: ExecutionResult) -> None:
    _log(f"on_execution_complete {result.status}")
