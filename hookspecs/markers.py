"""The pluggy markers of the ``pilot`` project: plugins decorate their hook functions with ``hookimpl``."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "pilot"
"""The pluggy project name and the entry-point group plugins are loaded from."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker to be imported and used in plugins: ``@hookimpl def on_stream_event(execution, event): ...``"""
