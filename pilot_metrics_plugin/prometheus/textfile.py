"""``pilot metrics prom --textfile FILE``: the exposition for node_exporter's textfile collector.

Written atomically: to a temporary file in the same directory, then renamed over ``FILE``, so that
node_exporter never reads half a file. The temporary name does not end in ``.prom``, which node_exporter
would pick up. The file gets mode 0644: node_exporter usually runs as a user of its own and must read it,
and it holds aggregates only (project and model names, counts, sums), nothing the database's 0600 protects
(prompts, paths, error text).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

TEXTFILE_MODE = 0o644


def exposition(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format (0.0.4), as ``/metrics`` serves it to a plain scraper."""
    return generate_latest(registry)


def write_textfile(path: Path, registry: CollectorRegistry) -> None:
    data = exposition(registry)  # before the temporary file: a database error leaves nothing behind
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), TEXTFILE_MODE)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
