"""The host's own commands, registered through the same hook as any plugin's: ``run``, ``replay``, ``plugins``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hookspecs.commands import CommandRegistry, PilotError
from hookspecs.markers import hookimpl

if TYPE_CHECKING:
    from datetime import datetime

    from hookspecs.payloads import ExecutionResult

EXIT_CODES = {"succeeded": 0, "failed": 1, "timed_out": 124, "cancelled": 130}
"""``pilot run`` / ``pilot replay`` exit with these codes (124 and 130 as ``timeout(1)`` and shells do)."""


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    host = commands.host
    chosen = commands.subcommand()  # the arguments of the other commands are not needed (None: all are)

    run = commands.add("run", help="Run the coding agent for one task and record it through the plugins")
    if chosen in (None, "run"):
        run.add_argument("--task-id", required=True, help="the task's id")
        run.add_argument("--project", required=True, help="the project's name")
        run.add_argument(
            "--project-path", default=None, help="the project's directory (default: current directory)"
        )
        run.add_argument(
            "--model", default=None, help="the model asked for (recorded; pass it to the agent too)"
        )
        run.add_argument(
            "--timeout", type=_positive_seconds, default=None, metavar="S", help="stop the agent after S s"
        )
        run.add_argument("command", nargs=argparse.REMAINDER, help="-- the agent's command line")

    def do_run(args: argparse.Namespace) -> int:
        from hookspecs.runner import RunRequest, run_agent

        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            raise PilotError("give the agent's command after --, e.g. pilot run ... -- claude -p ...")
        path = os.path.abspath(args.project_path or os.getcwd())
        if not os.path.isdir(path):
            raise PilotError(f"project path is not a directory: {path}")
        request = RunRequest(
            task_id=args.task_id,
            project=args.project,
            command=tuple(command),
            project_path=path,
            model=args.model,
            timeout_s=args.timeout,
        )
        result = run_agent(host, request)
        _print_outcome(result)
        return EXIT_CODES[result.status]

    run.set_defaults(handler=do_run)

    replay = commands.add(
        "replay", help="Feed recorded stream-json transcripts through the plugins, one execution per file"
    )
    if chosen in (None, "replay"):
        replay.add_argument("files", type=Path, nargs="+", metavar="FILE", help="a transcript (.jsonl)")
        replay.add_argument("--task-id", required=True, help="the task id of every execution replayed")
        replay.add_argument("--project", required=True)
        replay.add_argument("--project-path", default=None)
        replay.add_argument(
            "--started-at", type=_iso_datetime, default=None, metavar="ISO8601",
            help="when each execution started (default: now); event times keep their recorded spacing",
        )

    def do_replay(args: argparse.Namespace) -> int:
        from hookspecs.replay import replay_transcript

        missing = [str(path) for path in args.files if not path.is_file()]
        if missing:
            raise PilotError(f"no such transcript: {missing[0]}")
        code = 0
        for path in args.files:
            try:
                result = replay_transcript(
                    host, path, task_id=args.task_id, project=args.project,
                    started_at=args.started_at, project_path=args.project_path,
                )
            except OSError as exc:
                raise PilotError(f"cannot read {path}: {exc.strerror or exc}") from None
            _print_outcome(result, path if len(args.files) > 1 else None)
            code = code or EXIT_CODES[result.status]
        return code

    replay.set_defaults(handler=do_replay)

    plugins = commands.add("plugins", help="List the loaded plugins, their versions and hooks")
    if chosen in (None, "plugins"):
        plugins.add_argument("--json", action="store_true", help="print JSON")

    def do_plugins(args: argparse.Namespace) -> int:
        infos = host.plugins()
        if args.json:
            import json

            print(json.dumps([
                {"name": i.name, "distribution": i.distribution, "version": i.version, "hooks": list(i.hooks)}
                for i in infos
            ], indent=2))
            return 0
        from tabulate import tabulate

        from hookspecs.dispatch import ALL_HOOKS

        # Hooks that a plugin added (pilot_hookspecs), e.g. the metrics plugin's sink hook: marked with *,
        # and each listed under the table with the plugins that implement it.
        added = sorted(
            name for name, caller in vars(host.pm.hook).items() if caller.has_spec() and name not in ALL_HOOKS
        )
        rows = [
            (i.name, i.distribution or "", i.version or "", ", ".join(_mark(hook, added) for hook in i.hooks))
            for i in infos
        ]
        print(tabulate(rows, headers=("plugin", "distribution", "version", "hooks")))
        if added:
            print("\n* added by a plugin; implemented by:")
        for hook in added:
            print(f"  {hook}: {', '.join(i.name for i in infos if hook in i.hooks) or '(none)'}")
        return 0

    plugins.set_defaults(handler=do_plugins)


def _mark(hook: str, added: list[str]) -> str:
    return f"{hook}*" if hook in added else hook


def _print_outcome(result: ExecutionResult, path: Path | None = None) -> None:
    status = result.status
    error = result.error
    line = f"pilot: {path}: " if path is not None else "pilot: "
    line += f"execution {status} in {result.duration_ms / 1000:.1f} s"
    if error and status != "succeeded":
        line += f": {error.splitlines()[0][:300] if error.strip() else error}"
    print(line, file=sys.stderr)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def _iso_datetime(text: str) -> datetime:
    from hookspecs.replay import parse_timestamp

    moment = parse_timestamp(text)
    if moment is None:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date and time: {text!r}")
    return moment
