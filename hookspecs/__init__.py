"""Pilot's plugin contract: what a plugin imports.

``from hookspecs import hookimpl`` and the payload types are all a plugin needs; importing this package is
cheap (no subprocess, sqlite or argparse), and the payload classes load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookspecs.markers import PROJECT_NAME, hookimpl, hookspec

if TYPE_CHECKING:
    from hookspecs.payloads import (
        STATUSES,
        DiffStats,
        Execution,
        ExecutionResult,
        Phase,
        PluginError,
        StreamEvent,
    )

_PAYLOADS = frozenset(
    {"STATUSES", "DiffStats", "Execution", "ExecutionResult", "Phase", "PluginError", "StreamEvent"}
)


def __getattr__(name: str) -> Any:
    if name in _PAYLOADS:
        from hookspecs import payloads

        return getattr(payloads, name)
    raise AttributeError(f"module 'hookspecs' has no attribute {name!r}")


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
