"""``pilot metrics import``: bring in executions recorded elsewhere, the Go Pilot's recordings and stream-json
transcripts, once each. Parsers only; the handler loads the importer (and tqdm) when it runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hookspecs.commands import PilotError
from pilot_metrics_plugin.commands import _help, add_db_option, database_path

if TYPE_CHECKING:
    from hookspecs.manager import PluginHost
    from pilot_metrics_plugin.importer import ImportReport
    from pilot_metrics_plugin.plugin import MetricsPlugin
    from pilot_metrics_plugin.store import MetricsStore

EPILOG = (
    "Each source becomes one execution, accounted as a live run is and seen by every plugin (sinks too, "
    "unless --no-sinks). Importing the same source again adds nothing."
)


def add_commands(subparsers: Any, plugin: MetricsPlugin, only: str | None = None) -> None:
    if only not in (None, "import"):
        return
    parser = subparsers.add_parser(
        "import",
        help="Bring in executions recorded elsewhere: Go Pilot recordings, stream-json transcripts",
        description="Bring in executions recorded elsewhere, once each.",
        epilog=EPILOG,
    )
    sources = parser.add_subparsers(dest="import_source", metavar="SOURCE", title="sources")
    parser.set_defaults(handler=lambda args: _help(parser))

    recordings = sources.add_parser(
        "pilot-recordings",
        help="The Go Pilot's recordings (metadata.json + stream.jsonl per directory)",
        description="Import the Go Pilot's recordings: one execution per recording directory. A recording "
        "still being written (no metadata.json yet) is skipped and picked up by a later import.",
        epilog=EPILOG,
    )
    recordings.add_argument(
        "directory", nargs="?", type=Path, default=None, metavar="DIR",
        help="the recordings directory, or one recording (default: ~/.pilot/recordings)",
    )
    _add_common_options(recordings)
    recordings.set_defaults(handler=lambda args: import_command(plugin, args))

    transcripts = sources.add_parser(
        "transcripts",
        help="Claude Code stream-json transcripts (files, or directories of *.jsonl)",
        description="Import stream-json transcripts: one execution per file. Times come from the lines' "
        "timestamps, else from the file's modification time (the end of the run).",
        epilog=EPILOG,
    )
    transcripts.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="a .jsonl file or a directory"
    )
    transcripts.add_argument("--task-id", default=None, help="the task id of every file (default: its name)")
    transcripts.add_argument(
        "--project", default=None,
        help="the project name (default: the last part of the transcript's working directory)",
    )
    _add_common_options(transcripts)
    transcripts.set_defaults(handler=lambda args: import_command(plugin, args))


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print what would be imported, write nothing")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no notes")
    parser.add_argument(
        "--no-sinks", action="store_true",
        help="record into the metrics database only; other plugins see nothing",
    )
    add_db_option(parser)


def import_command(plugin: MetricsPlugin, args: argparse.Namespace) -> int:
    """Exit 0 when nothing failed, 1 when some source could not be imported (the rest still were)."""
    from pilot_metrics_plugin import importer
    from pilot_metrics_plugin.config import ConfigError

    try:
        projects = plugin.config().projects
    except ConfigError as exc:
        raise PilotError(str(exc)) from None
    if args.import_source == "pilot-recordings":
        directory = args.directory or importer.default_recordings_dir()
        if not directory.is_dir():
            raise PilotError(f"no recordings directory at {directory}")
        try:
            sources = importer.find_recordings(directory, projects)
        except OSError as exc:
            raise PilotError(f"cannot list {directory}: {exc.strerror or exc}") from None
    else:
        sources = importer.find_transcripts(
            args.paths, task_id=args.task_id, project=args.project, projects=projects
        )

    store = _open_store(plugin, args.db, dry_run=args.dry_run)
    own_host = plugin.host
    host = _import_host(plugin, no_sinks=args.no_sinks)  # --no-sinks: the plugin's host is a private one
    bar = _progress_bar(len(sources), quiet=args.quiet)
    default_db = plugin.db_path
    if args.db:
        plugin.db_path = Path(args.db).expanduser()  # where the plugin records what the host drives
    try:
        report = importer.run_import(
            host, plugin, sources, store=store, dry_run=args.dry_run,
            advance=None if bar is None else lambda: bar.update(1),
        )
    finally:
        plugin.db_path = default_db
        plugin.host = own_host
        if bar is not None:
            bar.close()
        if store is not None:
            store.close()
    _print_report(report, quiet=args.quiet)
    return 1 if report.failed else 0


def _import_host(plugin: MetricsPlugin, *, no_sinks: bool) -> PluginHost:
    """The host whose command line runs (every plugin sees the executions), or one with the metrics plugin
    alone for ``--no-sinks``."""
    from hookspecs.manager import PluginHost

    if not no_sinks and plugin.host is not None:
        return plugin.host
    return PluginHost.create([("metrics", plugin)], load_entrypoints=False)


def _open_store(plugin: MetricsPlugin, db: str | None, *, dry_run: bool) -> MetricsStore | None:
    """The database the executions go to; for a dry run, ``None`` when it does not exist (nothing imported
    yet), and it is never created."""
    from pilot_metrics_plugin.store import StoreError

    if dry_run and not database_path(plugin, db).exists():
        return None
    try:
        return plugin.open_store(db, create=not dry_run)
    except StoreError as exc:
        raise PilotError(str(exc)) from None


def _progress_bar(total: int, *, quiet: bool) -> Any:
    """A tqdm bar on stderr, only for a person watching: none with ``--quiet`` or when stderr is not a
    terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(
        total=total, file=sys.stderr, unit="source", desc="importing", leave=False, dynamic_ncols=True
    )


def _print_report(report: ImportReport, *, quiet: bool) -> None:
    lines = list(report.planned)
    if not quiet:
        lines += report.notes()
    lines += report.failure_lines()
    lines.append(report.summary())
    print("\n".join(lines))
