"""``pilot metrics summary | daily | weekly | monthly | projects | models | phases | failures | peak``, and
``export``.

Parsers only at start-up: a handler imports its report module (and tabulate, zoneinfo, sqlite3) when it
runs. Every value is checked in the handler, so bad input is one line on stderr and exit 2, never argparse's
usage block or a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hookspecs.commands import PilotError
from pilot_metrics_plugin.commands import add_db_option

if TYPE_CHECKING:
    from pilot_metrics_plugin.plugin import MetricsPlugin
    from pilot_metrics_plugin.reports.query import ReportFilter
    from pilot_metrics_plugin.store import MetricsStore

COMMON_EPILOG = (
    "Dates are local dates in the report's time zone (--tz, else the config's timezone, else this "
    "machine's), inclusive. --status failed selects every finished execution that did not succeed "
    "(failed, timed_out, cancelled, interrupted). --model TEXT keeps executions that used or asked for a "
    "model whose name contains TEXT."
)

REPORTS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    # (command, report, help, range options)
    ("summary", "summary", "Totals over a range: executions, success, durations, tokens, cost, changes",
     {"days": 7}),
    ("daily", "day", "One row per local day, newest first, empty days included", {"days": 30}),
    ("weekly", "week", "One row per ISO week (Monday to Sunday), newest first", {"period": "weeks"}),
    ("monthly", "month", "One row per calendar month, newest first", {"period": "months"}),
    ("projects", "projects", "Per project: executions, success, durations, tokens, cost, last execution",
     {"days": 30}),
    ("models", "models", "Per model: executions, tokens by kind, cost and where the cost came from",
     {"days": 30}),
    ("phases", "phases", "Per phase: occurrences, total / average / p95 duration, share of execution time",
     {"days": 30}),
    ("failures", "failures", "Failure categories, their top reasons with counts, the latest failed tasks",
     {"days": 30}),
    ("peak", "peak", "Executions by local hour and weekday: a 7 x 24 grid", {"days": 30}),
)
LIMITS = {
    "projects": ("20", "show the N busiest projects (default 20; 0: all)"),
    "failures": ("5", "reasons shown per category (default 5)"),
}


def add_commands(subparsers: Any, plugin: MetricsPlugin, only: str | None = None) -> None:
    for command, report, help, range_options in REPORTS:
        if only not in (None, command):
            continue
        parser = subparsers.add_parser(command, help=help, description=help + ".", epilog=COMMON_EPILOG)
        add_filter_options(parser, days=range_options.get("days"), period=range_options.get("period"))
        if report in LIMITS:
            default, limit_help = LIMITS[report]
            parser.add_argument("--limit", default=default, metavar="N", help=limit_help)
        parser.add_argument("--json", action="store_true", help="print the numbers as a JSON document")
        parser.add_argument(
            "--format", default="simple", metavar="STYLE",
            help="table style: any tabulate format (simple, github, grid, plain, tsv, ...; default simple)",
        )
        add_db_option(parser)
        parser.set_defaults(handler=lambda args, report=report: run_report(plugin, args, report))

    if only not in (None, "export"):
        return
    export = subparsers.add_parser(
        "export",
        help="One record per execution with every stored field, phases and models: JSON, NDJSON or CSV",
        description="Export executions (all of them unless a range or filter is given), oldest first, with "
        "the keys of `pilot metrics show --json`. CSV flattens lists and objects into JSON text cells and "
        "neutralizes cells that a spreadsheet would run as formulas.",
        epilog=COMMON_EPILOG,
    )
    add_filter_options(export, days=None, period=None)
    export.add_argument("--format", default="json", metavar="FORMAT", help="json (default), ndjson or csv")
    export.add_argument(
        "-o", "--output", default=None, metavar="FILE", help="write to FILE (mode 0600), not stdout"
    )
    add_db_option(export)
    export.set_defaults(handler=lambda args: run_export(plugin, args))


def add_filter_options(parser: argparse.ArgumentParser, *, days: int | None, period: str | None) -> None:
    parser.add_argument(
        "--since", default=None, metavar="DATE", help="from this local date (YYYY-MM-DD), inclusive"
    )
    parser.add_argument(
        "--until", default=None, metavar="DATE", help="to this local date (YYYY-MM-DD), inclusive"
    )
    if period is not None:
        parser.add_argument(
            f"--{period}", default="12", metavar="N", help=f"the last N {period} (default 12)"
        )
    else:
        parser.add_argument(
            "--days",
            default=None if days is None else str(days),
            metavar="N",
            help=f"the last N local days, today included (default {days if days else 'all'})",
        )
    parser.add_argument(
        "--project", action="append", default=[], metavar="NAME", help="only this project (repeatable)"
    )
    parser.add_argument(
        "--model", default=None, metavar="TEXT", help="only executions that used a model matching TEXT"
    )
    parser.add_argument(
        "--status",
        action="append",
        default=[],
        metavar="STATUS",
        help="only this status (repeatable): succeeded, failed, running, timed_out, cancelled, interrupted",
    )
    parser.add_argument(
        "--tz", default=None, metavar="ZONE", help="IANA time zone of the report, e.g. Europe/Berlin"
    )


# -- handlers: everything below imports what it needs when it runs -------------------------------------------


def _positive_int(text: str, option: str, *, zero_ok: bool = False) -> int:
    try:
        value = int(text)
    except ValueError:
        raise PilotError(f"{option} expects a whole number, not {text!r}") from None
    if value < (0 if zero_ok else 1):
        raise PilotError(f"{option} must be at least {0 if zero_ok else 1}, not {value}")
    return value


def _date(text: str | None, option: str) -> Any:
    if text is None:
        return None
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PilotError(f"{option}: not a date (YYYY-MM-DD): {text!r}") from None


def build_filter(
    plugin: MetricsPlugin, args: argparse.Namespace, *, period: str | None = None
) -> ReportFilter:
    """The report's filter from the command line, or ``PilotError`` with one line saying what is wrong."""
    from datetime import datetime, timedelta

    from pilot_metrics_plugin.config import ConfigError
    from pilot_metrics_plugin.reports.query import FilterError, ReportFilter, date_range, expand_statuses
    from pilot_metrics_plugin.reports.timezones import UnknownZoneError, local_zone, zone_named

    try:
        name = args.tz if args.tz is not None else plugin.config().timezone
        zone = zone_named(name) if name is not None else local_zone()
    except (ConfigError, UnknownZoneError) as exc:
        raise PilotError(str(exc)) from None
    today = datetime.now(zone).date()
    since, until = _date(args.since, "--since"), _date(args.until, "--until")
    days: int | None = None
    if period == "week":
        weeks = _positive_int(args.weeks, "--weeks")
        days = today.weekday() + 1 + 7 * (weeks - 1)  # back to the Monday of the first week
        if since is None and until is not None:
            since = until - timedelta(days=until.weekday() + 7 * (weeks - 1))
    elif period == "month":
        months = _positive_int(args.months, "--months")
        end = until or today
        first = end.replace(day=1)
        for _ in range(months - 1):
            first = (first - timedelta(days=1)).replace(day=1)
        days = (end - first).days + 1
        if since is None and until is not None:
            since = first
    elif args.days is not None:
        days = _positive_int(args.days, "--days")
    try:
        since, until = date_range(today, since=since, until=until, days=days)
        return ReportFilter(
            zone=zone,
            since=since,
            until=until,
            projects=tuple(dict.fromkeys(args.project)),
            model=args.model or None,
            statuses=expand_statuses(args.status),
        )
    except FilterError as exc:
        raise PilotError(str(exc)) from None


_BUILDERS = {
    "summary": ("summary", "build", "render_table"),
    "day": ("periods", "build", "render_table"),
    "week": ("periods", "build", "render_table"),
    "month": ("periods", "build", "render_table"),
    "projects": ("breakdowns", "build_projects", "render_projects"),
    "models": ("breakdowns", "build_models", "render_models"),
    "phases": ("breakdowns", "build_phases", "render_phases"),
    "failures": ("breakdowns", "build_failures", "render_failures"),
    "peak": ("peak", "build", "render_table"),
}


def run_report(plugin: MetricsPlugin, args: argparse.Namespace, report: str) -> int:
    import importlib
    import json

    from pilot_metrics_plugin.reports import render

    try:
        style = render.check_style(args.format)
    except ValueError as exc:
        raise PilotError(str(exc)) from None
    options: dict[str, Any] = {}
    if report in ("day", "week", "month"):
        options["period"] = report
    if report == "projects":
        options["limit"] = _positive_int(args.limit, "--limit", zero_ok=True) or None
    if report == "failures":
        options["limit"] = _positive_int(args.limit, "--limit")
    flt = build_filter(plugin, args, period=report if report in ("week", "month") else None)
    module_name, build_name, render_name = _BUILDERS[report]
    module = importlib.import_module(f"pilot_metrics_plugin.reports.{module_name}")
    store = _open(plugin, args.db)
    try:
        doc = _guarded(store, lambda: getattr(module, build_name)(store.conn, flt, **options))
        if args.json:
            print(json.dumps(doc, indent=2, ensure_ascii=False))
            return 0
        empty = _empty_message(store, report, doc, flt)
    finally:
        store.close()
    print(empty if empty is not None else getattr(module, render_name)(doc, style))
    return 0


def _open(plugin: MetricsPlugin, db: str | None) -> MetricsStore:
    """The database to report on. Before the first execution the default database does not exist yet:
    that is nothing to report, not an error, so an empty in-memory one stands in (a ``--db`` that does not
    exist still is an error)."""
    import sqlite3

    from pilot_metrics_plugin.commands import database_path, open_for_reading
    from pilot_metrics_plugin.migrations import migrate
    from pilot_metrics_plugin.store import MetricsStore

    if db is None:
        path = database_path(plugin, None)
        if not path.exists():
            conn = sqlite3.connect(":memory:", isolation_level=None)
            migrate(conn)
            return MetricsStore(conn, path)
    store = open_for_reading(plugin, db)
    # Reports only read. Mapping the file spares a read() per page on a scan of a large database.
    store.conn.execute("PRAGMA query_only = 1")
    store.conn.execute(f"PRAGMA mmap_size = {REPORT_MMAP_BYTES:d}").fetchall()
    return store


REPORT_MMAP_BYTES = 1 << 30


NOTHING_YET = "`pilot run` records each execution, `pilot replay FILE` a recorded transcript"


def _guarded(store: Any, action: Callable[[], Any]) -> Any:
    """Run a query; a database that fails under it (corrupt, locked) is one line, exit 2."""
    import sqlite3

    from pilot_metrics_plugin.store import describe_sqlite_error

    try:
        return action()
    except sqlite3.Error as exc:
        raise PilotError(describe_sqlite_error(store.path, exc)) from None


def _empty_message(store: Any, report: str, doc: dict[str, Any], flt: ReportFilter) -> str | None:
    """One line instead of a table with nothing in it; ``None`` when there is something to show."""
    if report in ("summary", "peak"):
        executions = doc["executions"]
    elif report in ("models", "phases", "failures"):
        executions = len(doc["rows"])
    else:
        executions = doc["total"]["executions"]
    if executions:
        return None
    latest = store.conn.execute("SELECT MAX(started_at_ms) FROM executions").fetchone()[0]
    if latest is None:
        return f"no executions recorded yet in {store.path}: {NOTHING_YET}"
    from pilot_metrics_plugin.reports.timezones import local_date

    what = {
        "models": "no model usage in executions",
        "phases": "no phases recorded in finished executions",
        "failures": "no failed executions",
    }.get(report, "no executions")
    return f"{what} {flt.describe()}; the latest execution started on {local_date(latest, flt.zone)}"


def run_export(plugin: MetricsPlugin, args: argparse.Namespace) -> int:
    from pathlib import Path

    from pilot_metrics_plugin.reports import export

    if args.format not in export.EXPORT_FORMATS:
        raise PilotError(
            f"unknown export format {args.format!r} (one of: {', '.join(export.EXPORT_FORMATS)})"
        )
    flt = build_filter(plugin, args)
    store = _open(plugin, args.db)
    # An export reads each page once: mapping the file (as the reports do) would only put the whole database
    # into this process's resident memory.
    store.conn.execute("PRAGMA mmap_size = 0").fetchall()
    try:
        if args.output is None:
            written = _guarded(store, lambda: export.write(store.conn, flt, args.format, sys.stdout))
            sys.stdout.flush()
        else:
            path = Path(args.output).expanduser()
            try:
                written = _guarded(store, lambda: export.write_file(store.conn, flt, args.format, path))
            except OSError as exc:
                raise PilotError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        store.close()
    if not written:
        print(f"no executions {flt.describe()}", file=sys.stderr)
    elif args.output is not None:
        print(f"exported {written:,} executions to {args.output}", file=sys.stderr)
    return 0
