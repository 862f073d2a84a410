"""``pilot metrics ...``: the argument parsers, and handlers that load the code they need only when run.

Each group of subcommands lives in its own ``cli_*`` module with an ``add_commands(subparsers, plugin)``
function; those modules define parsers only, so building the command line stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import TYPE_CHECKING, Any

from hookspecs.commands import CommandRegistry, PilotError

if TYPE_CHECKING:
    from pilot_metrics_plugin.plugin import MetricsPlugin
    from pilot_metrics_plugin.store import MetricsStore


def register(commands: CommandRegistry, plugin: MetricsPlugin) -> None:
    metrics = commands.add("metrics", help="Execution metrics: what ran, how long, how many tokens, what it cost")
    sub = metrics.add_subparsers(dest="metrics_command", metavar="REPORT", title="reports")
    metrics.set_defaults(handler=lambda args: _help(metrics))

    show = sub.add_parser("show", help="One execution with its phases, models and cost source")
    show.add_argument("execution_id", nargs="?", help="an execution id or a unique prefix of one")
    show.add_argument("--last", action="store_true", help="the most recent execution")
    add_db_option(show)
    show.add_argument("--json", action="store_true", help="print the record as JSON")
    show.set_defaults(handler=lambda args: show_execution(plugin, args))

    reprice = sub.add_parser(
        "reprice", help="Recompute estimated and unknown costs with the current price table (never reported ones)"
    )
    reprice.add_argument("--since", type=parse_date, default=None, metavar="DATE", help="only executions from DATE on")
    reprice.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    add_db_option(reprice)
    reprice.set_defaults(handler=lambda args: reprice_costs(plugin, args))

    for module_name in COMMAND_MODULES:
        importlib.import_module(f"pilot_metrics_plugin.{module_name}").add_commands(sub, plugin)


COMMAND_MODULES: tuple[str, ...] = ("cli_import", "cli_reports", "cli_dashboard", "cli_sla", "cli_prometheus")
"""The ``cli_*`` modules that add more ``pilot metrics`` subcommands, in ``--help`` order."""


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
