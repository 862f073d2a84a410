"""``pilot metrics report --html FILE``: the insights dashboard, one self-contained HTML page.

The parser only at start-up; the handler imports the reports when it runs. ``--json`` prints the document
the page is drawn from (the documents of ``summary``, ``daily``, ``models``, ``phases``, ``failures``,
``peak``, ``projects`` and the per-day series).
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

HELP = "The insights dashboard: one self-contained HTML page of charts, each with its numbers in a table"


def add_commands(subparsers: Any, plugin: MetricsPlugin, only: str | None = None) -> None:
    if only not in (None, "report"):
        return
    report = subparsers.add_parser(
        "report",
        help=HELP,
        description=HELP + ". It needs nothing else to open (no network, no script): mail it, print it.",
        epilog=COMMON_EPILOG,
    )
    add_filter_options(report, days=30, period=None)
    report.add_argument("--html", default=None, metavar="FILE", help="write the page to FILE (mode 0600)")
    report.add_argument("--json", action="store_true", help="print the page's numbers as a JSON document")
    add_db_option(report)
    report.set_defaults(handler=lambda args: run_dashboard(plugin, args))


def run_dashboard(plugin: MetricsPlugin, args: argparse.Namespace) -> int:
    import json
    from datetime import datetime, timezone
    from pathlib import Path

    from pilot_metrics_plugin.cli_reports import _guarded, _open, build_filter
    from pilot_metrics_plugin.private_file import private_file
    from pilot_metrics_plugin.reports import dashboard, html

    if args.html is None and not args.json:
        raise PilotError("give --html FILE to write the page (or --json for its numbers)")
    flt = build_filter(plugin, args)
    store = _open(plugin, args.db)
    try:
        doc = _guarded(store, lambda: dashboard.build(store.conn, flt, datetime.now(timezone.utc)))
    finally:
        store.close()
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    if args.html is not None:
        path = Path(args.html).expanduser()
        try:
            with private_file(path) as out:  # the page holds project names, task ids and costs
                out.write(html.render_page(doc).encode("utf-8"))
        except OSError as exc:
            raise PilotError(f"cannot write {path}: {exc.strerror or exc}") from None
        executions = doc["summary"]["executions"]
        print(f"wrote {path}: {executions:,} executions {flt.describe()}", file=sys.stderr)
    return 0
