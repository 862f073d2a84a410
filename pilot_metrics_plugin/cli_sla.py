"""``pilot metrics sla``: SLA compliance per week or month and project, against targets from the command line
or the config's ``[sla]`` table.

The parser only at start-up; the handler imports the report when it runs. A bad value is one line on stderr
and exit 2, naming the option.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from hookspecs.commands import PilotError
from pilot_metrics_plugin.cli_reports import COMMON_EPILOG, add_filter_options
from pilot_metrics_plugin.commands import add_db_option

if TYPE_CHECKING:
    from pilot_metrics_plugin.plugin import MetricsPlugin

HELP = "SLA compliance per week or month and project: success rate and p95 duration against targets"
EPILOG = (
    'Targets, each on its own: the option, else [sla.projects."NAME"] in the config, else [sla], else 0.95 '
    "and 30m. Without --since/--until: the last N periods (--periods, default 12), today's included. "
    + COMMON_EPILOG
)


def add_commands(subparsers: Any, plugin: MetricsPlugin, only: str | None = None) -> None:
    if only not in (None, "sla"):
        return
    sla = subparsers.add_parser(
        "sla",
        help=HELP,
        description=HELP + ", with the executions that broke a target listed by task id.",
        epilog=EPILOG,
    )
    add_filter_options(sla, days=None, period="periods")
    sla.add_argument(
        "--period",
        default="week",
        metavar="week|month",
        help="one row per ISO week (default) or calendar month, per project",
    )
    sla.add_argument(
        "--target-success",
        default=None,
        metavar="RATE",
        help="the lowest acceptable success rate, 0 to 1 or a percentage (0.95, 95%%)",
    )
    sla.add_argument(
        "--target-p95",
        default=None,
        metavar="DURATION",
        help="the longest acceptable p95 duration (30m, 90s, 2h)",
    )
    sla.add_argument("--json", action="store_true", help="print the numbers as a JSON document")
    sla.add_argument(
        "--format",
        default="simple",
        metavar="STYLE",
        help="table style: any tabulate format (simple, github, grid, plain, tsv, ...; default simple)",
    )
    add_db_option(sla)
    sla.set_defaults(handler=lambda args: run_sla(plugin, args))


def run_sla(plugin: MetricsPlugin, args: argparse.Namespace) -> int:
    import json

    from pilot_metrics_plugin.cli_reports import _empty_message, _guarded, _open, _positive_int, build_filter
    from pilot_metrics_plugin.config import ConfigError, parse_p95_target_ms, parse_success_target
    from pilot_metrics_plugin.reports import render, sla

    if args.period not in sla.SLA_PERIODS:
        raise PilotError(f"--period must be week or month, not {args.period!r}")
    try:
        style = render.check_style(args.format)
        success = (
            None
            if args.target_success is None
            else parse_success_target(args.target_success, "--target-success")
        )
        p95_ms = None if args.target_p95 is None else parse_p95_target_ms(args.target_p95, "--target-p95")
        config = plugin.config().sla
    except (ValueError, ConfigError) as exc:
        raise PilotError(str(exc)) from None
    # build_filter reads the number of periods from --weeks or --months.
    args.weeks = args.months = str(_positive_int(args.periods, "--periods"))
    flt = build_filter(plugin, args, period=args.period)
    store = _open(plugin, args.db)
    try:
        doc = _guarded(
            store,
            lambda: sla.build(
                store.conn, flt, args.period, config, success_rate=success, duration_p95_ms=p95_ms
            ),
        )
        if args.json:
            print(json.dumps(doc, indent=2, ensure_ascii=False))
            return 0
        empty = _empty_message(store, "sla", {"total": {"executions": len(doc["rows"])}}, flt)
    finally:
        store.close()
    print(empty if empty is not None else sla.render_table(doc, style))
    sys.stdout.flush()
    return 0
