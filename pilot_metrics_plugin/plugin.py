"""The entry-point target: thin hook implementations that hand the work to a recorder per execution.

``plugin`` is what the ``pilot`` entry point ``metrics`` loads. Constructing a ``MetricsPlugin`` does no
work; the config is read and the database opened when an execution starts.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from hookspecs.markers import hookimpl
from pilot_metrics_plugin import sinkspec

if TYPE_CHECKING:
    from hookspecs.manager import PluginHost
    from hookspecs.payloads import Execution, ExecutionResult, Phase, StreamEvent
    from pilot_metrics_plugin.config import Config
    from pilot_metrics_plugin.pricing import PriceTable
    from pilot_metrics_plugin.record import ExecutionRecord
    from pilot_metrics_plugin.recorder import ExecutionRecorder, ImportSource
    from pilot_metrics_plugin.sinks import SinkRunner
    from pilot_metrics_plugin.store import MetricsStore

# The recording code (accounting, pricing, SQLite) is imported when the first execution starts, not when
# `pilot` loads its plugins: `pilot metrics ...` and `pilot --help` stay quick.


class MetricsPlugin:
    """Records every execution into the metrics database, hands the record to the sinks, and adds
    ``pilot metrics ...``."""

    pilot_hookspecs: ClassVar[ModuleType] = sinkspec
    """The sink hook (``on_execution_recorded``), added to the host's hooks when this plugin registers."""

    def __init__(self, db_path: Path | None = None, config: Config | None = None) -> None:
        self.db_path = db_path
        self._config = config
        self._prices: PriceTable | None = None
        self._recorders: dict[str, ExecutionRecorder] = {}
        self._current: tuple[Execution | None, Any] = (None, None)
        self._import_sources: dict[str, ImportSource] = {}
        self._sinks: SinkRunner | None = None
        self._store: MetricsStore | None = None
        self.host: PluginHost | None = None
        """The host that loaded this plugin (``on_host_ready``): ``pilot metrics import`` drives executions
        through it, so that every plugin sees them."""

    def expect_import(self, execution_id: str, source: ImportSource) -> None:
        """Name the source of an execution the importer is about to drive; its record keeps the key."""
        self._import_sources[execution_id] = source

    def config(self) -> Config:
        if self._config is None:
            from pilot_metrics_plugin.config import load_config

            self._config = load_config()
        return self._config

    def price_table(self) -> PriceTable:
        if self._prices is None:
            from pilot_metrics_plugin.config import ConfigError
            from pilot_metrics_plugin.pricing import PriceTable

            overrides = {}
            try:
                overrides = dict(self.config().prices)
            except ConfigError:
                pass
            self._prices = PriceTable.load(overrides)
        return self._prices

    def open_store(self, db: str | Path | None = None, *, create: bool = True) -> MetricsStore:
        from pilot_metrics_plugin.config import ConfigError, resolve_db_path
        from pilot_metrics_plugin.store import MetricsStore, StoreError

        try:
            config = self.config()
        except ConfigError as exc:
            raise StoreError(str(exc)) from None
        path = resolve_db_path(config, db or self.db_path)
        return MetricsStore.open(path, stale_after_s=config.stale_after_s, create=create)

    def _recording_store(self) -> MetricsStore:
        """The store executions are recorded into: opened once and kept open from one execution to the next
        (opening runs the migration check, and closing SQLite's last connection checkpoints the WAL: about
        1 ms each, more than recording a whole execution), closed when the process exits."""
        if self._store is None:
            import atexit

            self._store = self.open_store()
            atexit.register(self._store.close)
        return self._store

    def _release_store(self, store: MetricsStore, broken: bool) -> None:
        """An execution is done with ``store``: keep it open for the next one, unless it failed."""
        if broken or store is not self._store:
            if store is self._store:
                self._store = None
            store.close()

    @hookimpl
    def on_host_ready(self, host: PluginHost) -> None:
        self.host = host

    # -- execution hooks -------------------------------------------------------------------------------------

    @hookimpl
    def on_phase_start(self, execution: Execution, phase: Phase) -> None:
        if phase.index != 0:
            return
        from pilot_metrics_plugin.recorder import ExecutionRecorder

        recorder = ExecutionRecorder(
            execution, self._recording_store, self.price_table,
            source=self._import_sources.pop(execution.execution_id, None),
            release_store=self._release_store,
        )
        self._recorders[execution.execution_id] = recorder
        self._current = (execution, recorder.feed)
        recorder.started()

    @hookimpl
    def on_stream_event(self, execution: Execution, event: StreamEvent) -> None:
        current, feed = self._current
        if execution is not current:
            feed = self._recorders[execution.execution_id].feed
            self._current = (execution, feed)
        feed(event.raw, event.text)

    @hookimpl
    def on_phase_end(self, execution: Execution, phase: Phase) -> None:
        self._recorders[execution.execution_id].phase_ended(phase)

    @hookimpl
    def on_execution_complete(self, execution: Execution, result: ExecutionResult) -> None:
        recorder = self._recorders.pop(execution.execution_id)
        if self._current[0] is execution:
            self._current = (None, None)
        # The record is read back from the database only for the sinks: without any, that read is wasted.
        record = recorder.completed(result, read_back=self._has_sinks())
        if record is not None:
            self.deliver(record)

    def _has_sinks(self) -> bool:
        host = self.host
        return host is not None and host.dispatcher.has_impls(sinkspec.SINK_HOOK)

    def deliver(self, record: ExecutionRecord) -> None:
        """Give the committed ``record`` to the sinks of the host that drives the executions."""
        host = self.host
        if host is None or not host.dispatcher.has_impls(sinkspec.SINK_HOOK):
            return
        if self._sinks is None:
            from pilot_metrics_plugin.sinks import SinkRunner

            self._sinks = SinkRunner()
        config = self.config()  # already read and valid: the record could not be stored otherwise
        self._sinks.deliver(host.dispatcher, record, config.sinks, config.sink_timeout_s)

    # -- commands --------------------------------------------------------------------------------------------

    @hookimpl
    def register_commands(self, commands: Any) -> None:
        from pilot_metrics_plugin.commands import register

        register(commands, self)


plugin = MetricsPlugin()
