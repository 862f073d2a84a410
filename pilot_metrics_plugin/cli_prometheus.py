"""``pilot metrics serve`` and ``pilot metrics prom``: the metrics database as Prometheus metrics. Parsers
only; the handlers import prometheus_client when they run."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hookspecs.commands import PilotError
from pilot_metrics_plugin.commands import add_db_option, database_path

if TYPE_CHECKING:
    from pilot_metrics_plugin.plugin import MetricsPlugin
    from pilot_metrics_plugin.store import MetricsStore

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9464
TEXTFILE_NOTE = "pilot metrics: note: node_exporter's textfile collector reads only *.prom files"

METRIC_NAMES = (
    "pilot_executions_total{project,status,model}, pilot_tokens_total{kind,model}, "
    "pilot_cost_usd_total{model}, pilot_cost_unknown_executions_total{model}, "
    "pilot_execution_duration_seconds{project,status} (histogram), pilot_phase_duration_seconds{phase} "
    "(histogram), pilot_last_execution_timestamp_seconds"
)


def add_commands(subparsers: Any, plugin: MetricsPlugin, only: str | None = None) -> None:
    if only in (None, "serve"):
        serve = subparsers.add_parser(
            "serve",
            help="Serve the metrics to Prometheus at http://HOST:PORT/metrics",
            description="Serve the metrics database to Prometheus: GET /metrics is computed from the "
            "database at each scrape, so counters survive restarts. Binds to 127.0.0.1 unless --host says "
            "otherwise.",
            epilog=f"Metrics: {METRIC_NAMES}.",
        )
        serve.add_argument(
            "--host", default=DEFAULT_HOST, help=f"the address to listen on (default: {DEFAULT_HOST})"
        )
        serve.add_argument(
            "--port", type=_port, default=DEFAULT_PORT,
            help=f"the port (default: {DEFAULT_PORT}; 0: any free port)",
        )
        add_db_option(serve)
        serve.set_defaults(handler=lambda args: serve_command(plugin, args))

    if only in (None, "prom"):
        prom = subparsers.add_parser(
            "prom",
            help="Print the Prometheus metrics, or write them for node_exporter's textfile collector",
            description="The same metrics as `pilot metrics serve`, once: on stdout, or with --textfile "
            "written atomically (a temporary file renamed over FILE) with mode 0644 for node_exporter to "
            "read.",
            epilog=f"Metrics: {METRIC_NAMES}.",
        )
        prom.add_argument(
            "--textfile", type=Path, default=None, metavar="FILE",
            help="write FILE instead of printing: a *.prom file in node_exporter's textfile directory",
        )
        add_db_option(prom)
        prom.set_defaults(handler=lambda args: prom_command(plugin, args))


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return value


def store_opener(plugin: MetricsPlugin, db: str | None) -> tuple[Path, Callable[[], MetricsStore | None]]:
    """The database's path, and a function that opens it for one scrape (``None``: not created yet)."""
    path = database_path(plugin, db)

    def open_store() -> MetricsStore | None:
        if not path.exists():
            return None
        return plugin.open_store(path, create=False)

    return path, open_store


def serve_command(plugin: MetricsPlugin, args: argparse.Namespace) -> int:
    """Serves until Ctrl-C (exit 0) or SIGTERM."""
    from pilot_metrics_plugin.prometheus.collector import registry_for
    from pilot_metrics_plugin.prometheus.server import MetricsServer

    path, open_store = store_opener(plugin, args.db)
    try:
        server = MetricsServer(args.host, args.port, registry_for(open_store))
    except OSError as exc:
        raise PilotError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    try:
        print(f"pilot metrics: serving {server.url} from {path} (Ctrl-C stops)", file=sys.stderr, flush=True)
        if not _is_loopback(args.host):
            print(
                "pilot metrics: listening beyond this machine: whoever reaches the port can read the metrics",
                file=sys.stderr, flush=True,
            )
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def prom_command(plugin: MetricsPlugin, args: argparse.Namespace) -> int:
    from pilot_metrics_plugin.prometheus.collector import registry_for
    from pilot_metrics_plugin.prometheus.textfile import exposition, write_textfile
    from pilot_metrics_plugin.store import StoreError

    _path, open_store = store_opener(plugin, args.db)
    registry = registry_for(open_store)
    try:
        if args.textfile is None:
            sys.stdout.write(exposition(registry).decode("utf-8"))
            return 0
        if not args.textfile.name.endswith(".prom"):
            print(TEXTFILE_NOTE, file=sys.stderr)
        write_textfile(args.textfile, registry)
    except StoreError as exc:
        raise PilotError(str(exc)) from None
    except OSError as exc:
        raise PilotError(f"cannot write {args.textfile}: {exc.strerror or exc}") from None
    return 0
