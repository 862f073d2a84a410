"""Pilot's plugin contract: what a plugin imports.

``from hookspecs import hookimpl`` and the payload types are all a plugin needs; importing this package is
cheap (no subprocess, sqlite or argparse).
"""

from hookspecs.markers import PROJECT_NAME, hookimpl, hookspec
from hookspecs.payloads import (
    STATUSES,
    DiffStats,
    Execution,
    ExecutionResult,
    Phase,
    PluginError,
    StreamEvent,
)

__all__ = [
    "PROJECT_NAME",
    "STATUSES",
    "DiffStats",
    "Execution",
    "ExecutionResult",
    "Phase",
    "PluginError",
    "StreamEvent",
    "hookimpl",
    "hookspec",
]
