"""A Pilot metric sink: appends one JSON line per recorded execution to ``[sinks.jsonl] path``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hookspecs import hookimpl
from pilot_metrics_plugin.record import ExecutionRecord


@hookimpl
def on_execution_recorded(record: ExecutionRecord, settings: Mapping[str, Any]) -> None:
    """Called once per execution, after the metrics database committed it."""
    if not settings.get("path"):
        raise ValueError("no file to write to: set path in [sinks.jsonl] of metrics.toml")
    path = Path(settings["path"]).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record.to_dict(), separators=(",", ":")) + "\n"
    # A new file is the owner's alone; one O_APPEND write per line keeps concurrent Pilots' lines whole.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)
