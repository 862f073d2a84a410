"""Handing a recorded execution to the sinks, so that no sink can fail, stop or hold up an execution.

Each sink implementation is called alone, in a daemon thread the caller waits for at most the timeout: a
sink that raises is reported through the host's dispatcher (once per sink and execution, like any plugin
failure), one that hangs is reported and left behind. A sink whose earlier call is still running gets no
new record until it returns, so a hung sink costs one thread and one timeout, not one per execution.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pilot_metrics_plugin.sinkspec import SINK_HOOK

if TYPE_CHECKING:
    from hookspecs.dispatch import HookDispatcher
    from pilot_metrics_plugin.record import ExecutionRecord


class SinkTimeout(Exception):
    """A sink did not return within the timeout; the execution went on without it."""


class SinkBusy(Exception):
    """A sink's call for an earlier execution is still running: it does not get this record."""


class _Call:
    """One sink call, run in its own thread; keeps what the sink raised."""

    __slots__ = ("args", "error", "function", "kwargs")

    def __init__(self, function: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> None:
        self.function = function
        self.args = args
        self.kwargs = kwargs
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.function(*self.args, **self.kwargs)
        except BaseException as exc:
            self.error = exc


class SinkRunner:
    """The sinks' calls of one process: remembers which sink is still busy with an earlier record."""

    def __init__(self) -> None:
        self._running: dict[str, threading.Thread] = {}

    def deliver(
        self,
        dispatcher: HookDispatcher,
        record: ExecutionRecord,
        settings: Mapping[str, Mapping[str, Any]],
        timeout_s: float,
    ) -> None:
        """Give ``record`` to every sink in call order; ``settings`` are the ``[sinks.NAME]`` tables."""
        for plugin, function, argnames, kwargnames in dispatcher.plans(SINK_HOOK):
            earlier = self._running.get(plugin)
            if earlier is not None:
                if earlier.is_alive():
                    self._failed(dispatcher, plugin, SinkBusy(
                        "its call for an earlier execution has not returned; "
                        f"execution {record.execution_id} was not given to it"
                    ))
                    continue
                del self._running[plugin]
            own = MappingProxyType(copy.deepcopy(dict(settings.get(plugin, {}))))
            values = {"record": record, "settings": own}
            call = _Call(
                function,
                [values[name] for name in argnames],
                {name: values[name] for name in kwargnames if name in values},
            )
            thread = threading.Thread(target=call.run, name=f"pilot-sink-{plugin}", daemon=True)
            thread.start()
            thread.join(timeout_s)
            if thread.is_alive():
                self._running[plugin] = thread
                self._failed(dispatcher, plugin, SinkTimeout(
                    f"no return within {timeout_s:g} s ([sinks] timeout); the execution went on without it"
                ))
            elif call.error is not None:
                self._failed(dispatcher, plugin, call.error)

    @staticmethod
    def _failed(dispatcher: HookDispatcher, plugin: str, exc: BaseException) -> None:
        if dispatcher.strict:
            raise exc
        dispatcher.failed(plugin, SINK_HOOK, exc)
