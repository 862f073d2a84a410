"""``pilot`` in a process of its own, with the metrics plugin and the test plugins asked for: the reliability
tests kill it, run it as another user, or give it a database that fails, and read what a user would see.

    python pilot_driver.py [--witness FILE] [--raising] [--hanging-sink] [--spare-pages N] -- PILOT-ARGS...

``--witness FILE``: a plugin that appends each execution hook call it gets to FILE, one JSON line each.
``--raising``: a plugin that raises in every hook it can implement.
``--hanging-sink``: a sink that never returns.
``--spare-pages N``: the metrics database may grow by N pages only (SQLite's ``max_page_count``, set on each
connection the metrics plugin opens to record): the disk is full.

The metrics plugin reads its config from ``$PILOT_HOME/metrics.toml``, as installed. Standard library and
this repository only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from hookspecs import hookimpl
from hookspecs.cli import main
from hookspecs.manager import PluginHost
from pilot_metrics_plugin.plugin import MetricsPlugin
from pilot_metrics_plugin.store import MetricsStore


class Witness:
    """Appends each execution hook call to a file: what another plugin beside the metrics plugin got."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, **entry: Any) -> None:
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    @hookimpl
    def on_phase_start(self, execution: Any, phase: Any) -> None:
        self.write(hook="on_phase_start", execution=execution.execution_id, phase=phase.name)

    @hookimpl
    def on_phase_end(self, execution: Any, phase: Any) -> None:
        self.write(hook="on_phase_end", execution=execution.execution_id, phase=phase.name)

    @hookimpl
    def on_stream_event(self, execution: Any, event: Any) -> None:
        self.write(hook="on_stream_event", execution=execution.execution_id, line=event.line_number)

    @hookimpl
    def on_execution_complete(self, execution: Any, result: Any) -> None:
        self.write(hook="on_execution_complete", execution=execution.execution_id, status=result.status)


class Raising:
    """Raises in every hook."""

    @hookimpl
    def on_host_ready(self) -> None:
        raise RuntimeError("boom in on_host_ready")

    @hookimpl
    def register_commands(self) -> None:
        raise RuntimeError("boom in register_commands")

    @hookimpl
    def on_phase_start(self) -> None:
        raise RuntimeError("boom in on_phase_start")

    @hookimpl
    def on_phase_end(self) -> None:
        raise RuntimeError("boom in on_phase_end")

    @hookimpl
    def on_stream_event(self) -> None:
        raise RuntimeError("boom in on_stream_event")

    @hookimpl
    def on_execution_complete(self) -> None:
        raise RuntimeError("boom in on_execution_complete")

    @hookimpl
    def on_execution_recorded(self) -> None:
        raise RuntimeError("boom in on_execution_recorded")


class HangingSink:
    """A sink that never returns (an endpoint that accepts the connection and never answers)."""

    @hookimpl
    def on_execution_recorded(self) -> None:
        while True:
            time.sleep(3600)


class FullDisk(MetricsPlugin):
    """The metrics plugin on a disk with room for ``spare_pages`` more database pages."""

    def __init__(self, spare_pages: int) -> None:
        super().__init__()
        self.spare_pages = spare_pages

    def open_store(self, db: Any = None, *, create: bool = True) -> MetricsStore:
        store = super().open_store(db, create=create)
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages + self.spare_pages:d}").fetchone()
        return store


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--witness", type=Path, default=None)
    parser.add_argument("--raising", action="store_true")
    parser.add_argument("--hanging-sink", action="store_true")
    parser.add_argument("--spare-pages", type=int, default=None)
    parser.add_argument("pilot_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    pilot_args = args.pilot_args[1:] if args.pilot_args[:1] == ["--"] else args.pilot_args
    metrics = MetricsPlugin() if args.spare_pages is None else FullDisk(args.spare_pages)
    plugins: list[tuple[str, object]] = []
    if args.witness is not None:
        plugins.append(("witness", Witness(args.witness)))
    if args.raising:
        plugins.append(("raising", Raising()))
    if args.hanging_sink:
        plugins.append(("hanging-sink", HangingSink()))
    plugins.append(("metrics", metrics))
    return main(pilot_args, host=PluginHost.create(plugins, load_entrypoints=False))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
