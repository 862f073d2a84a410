"""``pilot metrics report``: the dashboard's numbers as one JSON document, assembled from the reports.

Every figure comes from a report builder (``summary``, ``periods``, ``breakdowns``, ``peak``) or from the
per-day series of ``series``, so the page and ``pilot metrics daily`` / ``models`` / ... cannot disagree;
this module only gathers them. ``html`` draws the page from this document.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from pilot_metrics_plugin.reports import breakdowns, peak, periods, series, summary
from pilot_metrics_plugin.reports.query import ReportFilter

FAILURE_REASONS = 3
"""Reasons listed per failure category on the page."""


def build(conn: sqlite3.Connection, flt: ReportFilter, generated_at: datetime) -> dict[str, Any]:
    """The documents of each section; ``generated_at`` (aware) is shown in the report's zone."""
    return {
        **flt.to_json(),
        "generated_at": generated_at.astimezone(flt.zone).isoformat(timespec="seconds"),
        "summary": summary.build(conn, flt),
        "daily": periods.build(conn, flt, "day"),
        "cost_by_model": series.cost_by_model_per_day(conn, flt),
        "tokens_by_kind": series.tokens_by_kind_per_day(conn, flt),
        "durations": series.duration_percentiles_per_day(conn, flt),
        "phases": breakdowns.build_phases(conn, flt),
        "failures": breakdowns.build_failures(conn, flt, FAILURE_REASONS),
        "peak": peak.build(conn, flt),
        "projects": breakdowns.build_projects(conn, flt, None),
        "models": breakdowns.build_models(conn, flt),
    }
