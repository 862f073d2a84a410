"""The sink contract: the hook the metrics plugin adds to Pilot's, for plugins that want the finished,
accounted record of each execution rather than its raw events.

The metrics plugin declares it through ``MetricsPlugin.pilot_hookspecs``, as pytest's ``pytest_addhooks``
adds hooks; a sink implements it with the host's marker (``from hookspecs import hookimpl``). The calls are
made by ``pilot_metrics_plugin.sinks``, one sink at a time, each bounded by ``[sinks] timeout``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hookspecs.markers import hookspec

if TYPE_CHECKING:
    from pilot_metrics_plugin.record import ExecutionRecord

SINK_HOOK = "on_execution_recorded"


@hookspec
def on_execution_recorded(record: ExecutionRecord, settings: Mapping[str, Any]) -> None:
    """An execution has been recorded: its row is committed to the metrics database.

    Called exactly once per execution that the database holds to its end, after ``on_execution_complete``
    wrote it: live runs (``pilot run``), replays (``pilot replay``) and imports (``pilot metrics import``,
    unless ``--no-sinks``). An execution that could not be written to the database is given to no sink, so
    a sink never counts what the database does not hold.

    The sinks are called one at a time, in pluggy's order (``tryfirst``/``trylast``, then last registered
    first), each in a thread of its own that the metrics plugin waits for at most ``[sinks] timeout``
    (default 10 s). A sink that raises is reported once on stderr with its name and the other sinks still
    get the record; one that has not returned by the timeout is reported once, left running, and the
    execution ends without it; while that call still runs, the sink gets no further records (each skipped
    record is reported). The execution's status and exit code never depend on a sink, and the record stays
    in the database whatever a sink does. ``PILOT_STRICT_PLUGINS=1`` re-raises instead of reporting.

    :param record: the execution as the database holds it, frozen: identity, status and failure category,
        times, tokens by kind and per model, cost in integer nano-dollars with its source, phases, tool
        calls, diff statistics, commits and pull request. ``record.to_dict()`` is its JSON shape, the one
        ``pilot metrics show --json`` prints.
    :param settings: this sink's own table of the config file, ``[sinks.NAME]`` where ``NAME`` is the
        sink's plugin name (its entry-point name, as ``pilot plugins`` lists it); empty when there is none.
        Read-only.
    :return: ignored.
    """
