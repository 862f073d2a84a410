"""The registry through which plugins add ``pilot`` subcommands (argparse sub-parsers)."""

from __future__ import annotations

import argparse
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
    """Handed to ``register_commands``: ``add`` a command, get its parser."""

    def __init__(self, subparsers: Any, host: PluginHost) -> None:
        self._subparsers = subparsers
        self.host = host
        """The plugin host, for commands that run executions."""
        self.current_plugin: str | None = None
        self.owners: dict[str, str | None] = {}

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
