"""The ``pilot`` command: load the plugins, let them add their subcommands, run the one asked for.

A command's error is one line on stderr and a non-zero exit, never a traceback
(``PILOT_TRACE_PLUGINS=1`` shows it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from hookspecs import builtin
from hookspecs.commands import CommandRegistry, PilotError
from hookspecs.manager import RESERVED_NAME as BUILTIN_PLUGIN
from hookspecs.manager import PluginHost


def build_parser(host: PluginHost, argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``pilot`` command line of ``host``'s plugins. Given the ``argv`` it will parse, the plugins may
    leave out what that command line cannot use (``CommandRegistry.subcommand``): parse only that ``argv``
    with it."""
    parser = argparse.ArgumentParser(
        prog="pilot",
        description="Pilot: run a coding agent per task and report on it through plugins.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    registry = CommandRegistry(subparsers, host, argv)

    def announce(plugin: str) -> None:
        registry.current_plugin = plugin

    host.dispatcher.call("register_commands", announce=announce, commands=registry)
    for error in host.dispatcher.errors():
        if error.hook == "register_commands":
            registry.drop_plugin(error.plugin)
    return parser


def main(argv: Sequence[str] | None = None, host: PluginHost | None = None) -> int:
    try:
        if host is None:
            host = PluginHost.create()
        if not host.pm.has_plugin(BUILTIN_PLUGIN):
            host.register(BUILTIN_PLUGIN, builtin)
        host.report_problems()
        argv = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser(host, argv)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:  # --help, or a usage error argparse has already printed
            return exit_.code if isinstance(exit_.code, int) else 2
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return 0 if args.command is None else 2
        code = handler(args)
        return 0 if code is None else int(code)
    except PilotError as exc:
        print(f"pilot: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pilot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except Exception as exc:  # noqa: BLE001 - a user sees one line, never a traceback
        if os.environ.get("PILOT_TRACE_PLUGINS", "") not in ("", "0"):
            import traceback

            traceback.print_exc()
        first = str(exc).strip().splitlines()
        print(f"pilot: error: {type(exc).__name__}: {first[0] if first else ''}".rstrip(": "), file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    """After a closed pipe (``pilot ... | head``), keep Python from complaining at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
