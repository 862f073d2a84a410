"""The registry through which plugins add ``pilot`` subcommands (argparse sub-parsers)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hookspecs.manager import PluginHost


class PilotError(Exception):
    """A user-facing error: ``pilot`` prints its message on one line and exits with ``exit_code``."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class CommandRegistry:
    """Handed to ``register_commands``: ``add`` a command, get its parser.

    ``subcommand`` tells a plugin which of its commands this invocation runs, so that it may leave out the
    arguments and sub-commands of the others: every ``pilot`` process builds the command line before it
    parses it, and building all of a large plugin's parsers took a tenth of ``pilot``'s start-up."""

    def __init__(self, subparsers: Any, host: PluginHost, argv: Sequence[str] | None = None) -> None:
        self._subparsers = subparsers
        self.host = host
        """The plugin host, for commands that run executions."""
        self.current_plugin: str | None = None
        self.owners: dict[str, str | None] = {}
        self._words = _leading_words(argv) if argv is not None else None

    def subcommand(self, *path: str) -> str | None:
        """The word the command line gives after ``pilot PATH...``: ``subcommand()`` is the command
        (``"metrics"`` for ``pilot metrics summary --days 7``), ``subcommand("metrics")`` its sub-command
        (``"summary"``).

        ``None`` when the command line is not known (the parser is built for another use, e.g. documentation),
        does not go through ``pilot PATH...``, stops there, or has an option first (``pilot metrics --help``).

        The parsers of the commands it does not name are never used on this command line: a plugin may add
        those with their name and help only (they are still listed by ``--help``), checking from the top
        (``subcommand()`` is ``"run"`` for ``pilot run ...``: no ``metrics`` sub-command needs building). When
        it is ``None``, build everything."""
        words = self._words
        if words is None or len(words) <= len(path) or words[: len(path)] != path:
            return None
        return words[len(path)]

    def add(self, name: str, *, help: str, description: str | None = None) -> argparse.ArgumentParser:
        """A parser for ``pilot NAME``; set its handler with ``parser.set_defaults(handler=fn)``."""
        if name in self.owners:
            raise ValueError(f"command {name!r} is already registered by plugin {self.owners[name]!r}")
        parser = self._subparsers.add_parser(
            name,
            help=help,
            description=description or help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.owners[name] = self.current_plugin
        return parser

    def drop_plugin(self, plugin: str) -> None:
        """Remove what a plugin registered before it failed, so no half-built command is left."""
        names = [name for name, owner in self.owners.items() if owner == plugin]
        for name in names:
            del self.owners[name]
            self._subparsers._name_parser_map.pop(name, None)
            self._subparsers._choices_actions[:] = [
                action for action in self._subparsers._choices_actions if action.dest != name
            ]


def _leading_words(argv: Sequence[str]) -> tuple[str, ...]:
    """The words of ``argv`` before its first option: the command and the sub-commands it names (an
    option's value could look like one; nothing after an option is taken for a command)."""
    words = []
    for arg in argv:
        if arg.startswith("-"):
            break
        words.append(arg)
    return tuple(words)
