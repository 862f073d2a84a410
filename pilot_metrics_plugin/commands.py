"""``pilot metrics ...``: the argument parsers, and handlers that load the code they need only when run.

Each group of subcommands lives in its own ``cli_*`` module with an ``add_commands(subparsers, plugin, only)``
function; those modules define parsers only, so building the command line stays cheap. When the command line
names a subcommand (``pilot metrics summary ...``), only that one is built, and only its module imported:
every ``pilot`` process builds its command line, and building every ``pilot metrics`` parser was a tenth of
the start-up of ``pilot metrics summary``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING, Any

from hookspecs.commands import CommandRegistry, PilotError

if TYPE_CHECKING:
    from pathlib import Path

    from pilot_metrics_plugin.plugin import MetricsPlugin
    from pilot_metrics_plugin.store import MetricsStore


def register(commands: CommandRegistry, plugin: MetricsPlugin) -> None:
    metrics = commands.add("metrics", help="Execution metrics: what ran, how long, how many tokens, what it cost")
    metrics.set_defaults(handler=lambda args: _help(metrics))
    if commands.subcommand() not in (None, "metrics"):
        return  # another command runs: `pilot metrics` is only listed
    sub = metrics.add_subparsers(dest="metrics_command", metavar="REPORT", title="reports")
    chosen = commands.subcommand("metrics")
    for module_name, names in COMMAND_MODULES.items():
        if chosen in names:
            module = importlib.import_module(f"pilot_metrics_plugin.{module_name}")
            module.add_commands(sub, plugin, only=chosen)
            if chosen in sub.choices:
                return
            break  # the table is wrong about that module: build everything, as below
    # No subcommand, or one that does not exist: all of them, for the help or for argparse's list of choices.
    for module_name in COMMAND_MODULES:
        importlib.import_module(f"pilot_metrics_plugin.{module_name}").add_commands(sub, plugin)


def add_commands(subparsers: Any, plugin: MetricsPlugin, only: str | None = None) -> None:
    """``pilot metrics show`` and ``reprice`` (``only``: just that one)."""
    if only in (None, "show"):
        show = subparsers.add_parser("show", help="One execution with its phases, models and cost source")
        show.add_argument("execution_id", nargs="?", help="an execution id or a unique prefix of one")
        show.add_argument("--last", action="store_true", help="the most recent execution")
        add_db_option(show)
        show.add_argument("--json", action="store_true", help="print the record as JSON")
        show.set_defaults(handler=lambda args: show_execution(plugin, args))

    if only in (None, "reprice"):
        reprice = subparsers.add_parser(
            "reprice",
            help="Recompute estimated and unknown costs with the current price table (never reported ones)",
        )
        reprice.add_argument(
            "--since", type=parse_date, default=None, metavar="DATE", help="only executions from DATE on"
        )
        reprice.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
        add_db_option(reprice)
        reprice.set_defaults(handler=lambda args: reprice_costs(plugin, args))


COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "commands": ("show", "reprice"),
    "cli_import": ("import",),
    "cli_reports": (
        "summary", "daily", "weekly", "monthly", "projects", "models", "phases", "failures", "peak", "export",
    ),
    "cli_dashboard": ("report",),
    "cli_sla": ("sla",),
    "cli_prometheus": ("serve", "prom"),
}
"""The modules that add ``pilot metrics`` subcommands, in ``--help`` order, with the names each adds: a
command line that names one imports only its module. A name missing or misplaced here still works (every
module is then imported and every subcommand built), only more slowly."""


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=None, metavar="PATH", help="the metrics database (default: from the config)")


def parse_date(text: str) -> Any:
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def database_path(plugin: MetricsPlugin, db: str | None) -> Path:
    """The metrics database ``--db`` names, else the config's (``PilotError`` for a bad config)."""
    from pilot_metrics_plugin.config import ConfigError, resolve_db_path

    try:
        return resolve_db_path(plugin.config(), db or plugin.db_path)
    except ConfigError as exc:
        raise PilotError(str(exc)) from None


def open_for_reading(plugin: MetricsPlugin, db: str | None) -> MetricsStore:
    from pilot_metrics_plugin.store import StoreError

    try:
        return plugin.open_store(db, create=False)
    except StoreError as exc:
        raise PilotError(str(exc)) from None


def show_execution(plugin: MetricsPlugin, args: argparse.Namespace) -> int:
    store = open_for_reading(plugin, args.db)
    try:
        if args.last:
            execution_id = store.last_execution_id()
            if execution_id is None:
                raise PilotError("no executions recorded yet", exit_code=1)
        elif args.execution_id:
            execution_id = store.resolve_id(args.execution_id)
            if execution_id is None:
                raise PilotError(f"no execution {args.execution_id!r}", exit_code=1)
        else:
            raise PilotError("give an execution id, or --last")
        record = store.load_record(execution_id)
    finally:
        store.close()
    assert record is not None
    if args.json:
        import json

        json.dump(record.to_dict(), sys.stdout, indent=2)
        print()
        return 0
    from pilot_metrics_plugin.show import render_record

    print(render_record(record))
    return 0


def reprice_costs(plugin: MetricsPlugin, args: argparse.Namespace) -> int:
    from pilot_metrics_plugin.reprice import reprice

    store = open_for_reading(plugin, args.db)
    try:
        changes = reprice(store, plugin.price_table(), since=args.since, dry_run=args.dry_run)
    finally:
        store.close()
    from pilot_metrics_plugin.show import render_reprice

    print(render_reprice(changes, dry_run=args.dry_run))
    return 0
