"""Recording one execution: the running row as it starts, each phase as it ends, the accounted row at the end.

Nothing per stream event touches the disk: events are folded in memory by ``StreamFolder``. The running row
and the phases are written at most once a second per execution (wall time, ``PHASE_WRITE_INTERVAL_S``): the
running row a second after the start, with the phases that ended meanwhile, then phases as they end, those
ending within a second of the last write held back for the next one. A replay or an import goes through a
whole execution within milliseconds, and a transaction for its start and each phase would cost more than all
the rest of the work: it is one transaction, at its end. A timer makes each write that is held back at most a
second after the one before, so a crash loses nothing that happened more than a second before it. A database
that cannot be written is reported once per execution and never stops the execution; the end tries again and
writes everything, so a database that was briefly unavailable still gets the whole record.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from hookspecs.payloads import Execution, ExecutionResult, Phase
from pilot_metrics_plugin.accounting import Account, StreamFolder
from pilot_metrics_plugin.failures import classify, redact_command
from pilot_metrics_plugin.pricing import PriceTable
from pilot_metrics_plugin.record import ExecutionRecord, PhaseRecord
from pilot_metrics_plugin.store import MetricsStore, StoreError

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
PHASE_WRITE_INTERVAL_S = 1.0
"""Phases ending within this many seconds (wall time) of an execution's last phase write wait for the next."""


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds, exactly (no float rounding)."""
    return (moment - _EPOCH) // _MS


def report(line: str) -> None:
    print(line, file=sys.stderr)


@dataclass(frozen=True, slots=True)
class ImportSource:
    """Where an imported execution came from (its ``source_key``, which keeps an import idempotent), and
    what that source knew beyond the stream: the Go Pilot's metadata names the commit and the PR."""

    source_key: str
    commit_sha: str | None = None
    pr_url: str | None = None


def with_commit(seen: Sequence[str], commit_sha: str | None) -> list[str]:
    """``seen`` with ``commit_sha`` last (so it is the execution's commit), an abbreviation counted once."""
    shas = list(seen)
    if commit_sha:
        shas = [sha for sha in shas if not (sha.startswith(commit_sha) or commit_sha.startswith(sha))]
        shas.append(commit_sha)
    return shas


def _close_store(store: MetricsStore, broken: bool) -> None:
    store.close()


class _HeldBackPhases:
    """One daemon thread per process that writes the phases each recorder held back, when its interval is
    over (a thread per execution would cost more than recording a replayed one)."""

    def __init__(self) -> None:
        self._due: dict[ExecutionRecorder, float] = {}
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._sleeping_until: float | None = None

    def schedule(self, recorder: ExecutionRecorder, delay_s: float) -> None:
        """``recorder``'s held-back write, ``delay_s`` from now; one already due keeps its time."""
        at = time.monotonic() + delay_s
        with self._wake:
            if recorder in self._due:
                return
            self._due[recorder] = at
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pilot-metrics-phases", daemon=True)
                self._thread.start()
            if self._sleeping_until is None or at < self._sleeping_until:
                self._wake.notify()

    def cancel(self, recorder: ExecutionRecorder) -> None:
        with self._wake:
            self._due.pop(recorder, None)

    def _run(self) -> None:
        while True:
            with self._wake:
                recorder = None
                while recorder is None:
                    if not self._due:
                        self._sleeping_until = None
                        self._wake.wait()
                        continue
                    first, at = min(self._due.items(), key=lambda item: item[1])
                    if at > time.monotonic():
                        self._sleeping_until = at
                        self._wake.wait(at - time.monotonic())
                        continue
                    del self._due[first]
                    recorder = first
            try:
                recorder._write_held_back()
            except Exception:  # noqa: BLE001 - the end writes every phase anyway; this thread must live on
                pass


_HELD_BACK = _HeldBackPhases()


class ExecutionRecorder:
    """The metrics of one execution, from its first phase to its completion."""

    def __init__(
        self,
        execution: Execution,
        open_store: Callable[[], MetricsStore],
        prices: Callable[[], PriceTable],
        say: Callable[[str], None] = report,
        source: ImportSource | None = None,
        release_store: Callable[[MetricsStore, bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``open_store`` gives the store to write to; ``release_store(store, broken)`` is called when this
        execution is done with it (default: close it), so that a caller may keep one store open for many."""
        self.execution = execution
        self.source = source
        self.folder = StreamFolder()
        self.feed = self.folder.feed
        self.phases: list[PhaseRecord] = []
        self._open_store = open_store
        self._release_store = release_store or _close_store
        self._prices = prices
        self._say = say
        self._clock = clock
        self._store: MetricsStore | None = None
        self._last_error: str | None = None
        self._phases_written = 0
        self._phase_written_at: float | None = None
        self._running_row: dict[str, object] | None = None
        """The running row, until it is written."""
        # Phases held back by the interval are written by _HELD_BACK's thread once it is over, so that a crash
        # while the agent works in silence still finds them; the lock keeps that thread and this one apart.
        self._lock = threading.Lock()
        self._done = False
        self._started_at_ms = to_ms(execution.started_at)
        self._command = redact_command(execution.agent_command)

    def _with_store(self, action: Callable[[MetricsStore], object]) -> bool:
        try:
            if self._store is None:
                self._store = self._open_store()
            action(self._store)
            return True
        except StoreError as exc:
            message = str(exc)
            if message != self._last_error:
                self._say(f"pilot metrics: cannot record execution {self.execution.execution_id}: {message}")
                self._last_error = message
            if self._store is not None:
                self._release_store(self._store, True)
                self._store = None
            return False

    def started(self) -> None:
        """The execution started: its running row is written a second from now (or at the end, if sooner)."""
        self._running_row = {**self._identity(), "model_requested": self.execution.model}
        if self._with_store(lambda store: None):  # opened now: a database that cannot be is said at once
            with self._lock:
                self._phase_written_at = self._clock()
                _HELD_BACK.schedule(self, PHASE_WRITE_INTERVAL_S)

    def phase_ended(self, phase: Phase) -> None:
        if phase.ended_at is None:
            return
        record = PhaseRecord(
            name=phase.name,
            started_at_ms=to_ms(phase.started_at),
            ended_at_ms=to_ms(phase.ended_at),
            duration_ms=phase.duration_ms or 0,
        )
        with self._lock:
            self.phases.append(record)
            if self._store is None:
                return
            now = self._clock()
            if self._phase_written_at is not None and now - self._phase_written_at < PHASE_WRITE_INTERVAL_S:
                _HELD_BACK.schedule(self, self._phase_written_at + PHASE_WRITE_INTERVAL_S - now)  # once
                return
            self._write_phases(now)

    def _write_phases(self, now: float) -> None:
        """Write the running row, if it is not yet, and the phases not written yet (the lock held)."""
        self._phase_written_at = now
        _HELD_BACK.cancel(self)  # what was held back goes now
        first = self._phases_written
        pending = self.phases[first:]
        running = self._running_row

        def write(store: MetricsStore) -> None:
            if running is not None:
                store.begin_execution(running, pending, first)
            else:
                store.add_phases(self.execution.execution_id, pending, first, self._started_at_ms)

        if self._with_store(write):
            self._running_row = None
            self._phases_written = first + len(pending)

    def _write_held_back(self) -> None:
        with self._lock:
            unwritten = self._running_row is not None or self._phases_written < len(self.phases)
            if not self._done and self._store is not None and unwritten:
                self._write_phases(self._clock())

    def completed(self, result: ExecutionResult, *, read_back: bool = True) -> ExecutionRecord | None:
        """Write the accounted execution; returns the record as stored, or ``None`` if it could not be
        stored. ``read_back=False`` (nobody wants the record) skips reading it back and returns ``None``."""
        execution = self.execution
        prices = self._prices()
        account = self.folder.account(execution.started_at.date(), prices)
        row = self.row(result, account)
        models = account.models
        stored: list[ExecutionRecord | None] = [None]
        with self._lock:
            self._done = True
            _HELD_BACK.cancel(self)
            running_row = self._running_row is None  # written (no write can start now: _done)

        def finish(store: MetricsStore) -> None:
            store.finish_execution(row, self.phases, models, running_row=running_row)
            if read_back:
                stored[0] = store.load_record(execution.execution_id)

        if not self._with_store(finish) and self._running_row is not None:
            self._record_what_fits()
        if self._store is not None:
            self._release_store(self._store, False)
            self._store = None
        return stored[0]

    def _record_what_fits(self) -> None:
        """The end could not be written and nothing was before it (an execution shorter than a second): the
        running row and then its phases, one at a time, as far as they go (on a full disk, say), so that the
        execution is not lost without a trace: the next open marks it interrupted once its host is gone."""
        running = self._running_row
        assert running is not None
        if not self._with_store(lambda store: store.begin_execution(running)):
            return
        execution_id, started_at_ms = self.execution.execution_id, self._started_at_ms
        for seq, phase in enumerate(self.phases):

            def add(store: MetricsStore, phase: PhaseRecord = phase, seq: int = seq) -> None:
                store.add_phases(execution_id, [phase], seq, started_at_ms)

            if not self._with_store(add):
                return

    def _identity(self) -> dict[str, object]:
        """The columns an execution has from its start (``store._SET_AT_START``): its running row and its
        finished one hold the same."""
        execution = self.execution
        return {
            "execution_id": execution.execution_id,
            "task_id": execution.task_id,
            "project": execution.project,
            "project_path": execution.project_path,
            "agent_command": self._command,
            "started_at_ms": self._started_at_ms,
            "source_key": self.source.source_key if self.source else None,
        }

    def row(self, result: ExecutionResult, account: Account) -> dict[str, object]:
        execution = self.execution
        status = result.status
        category, reason = (None, None)
        if status != "succeeded":
            category, reason = classify(
                status, result.result_event, result.error, result.exit_code, account.agent_error
            )
        diff = result.diff
        source = self.source
        return {
            **self._identity(),
            "model_requested": execution.model or account.model_requested,
            "status": status,
            "failure_category": category,
            "failure_reason": reason,
            "exit_code": result.exit_code,
            "ended_at_ms": to_ms(result.ended_at),
            "duration_ms": result.duration_ms,
            "num_turns": account.num_turns,
            "tokens_input": account.tokens_input,
            "tokens_output": account.tokens_output,
            "tokens_cache_read": account.tokens_cache_read,
            "tokens_cache_write": account.tokens_cache_write,
            "tokens_cache_write_1h": account.tokens_cache_write_1h,
            "tokens_total": account.tokens_total,
            "cost_nano_usd": account.cost_nano_usd,
            "cost_source": account.cost_source,
            "reported_cost_nano_usd": account.reported_total_cost_nano_usd,
            "price_table_version": account.price_table_version,
            "tool_calls": account.tool_calls,
            "files_read": account.files_read,
            "files_written": account.files_written,
            "commit_shas": with_commit(account.commit_shas, source.commit_sha if source else None),
            "pr_url": (source.pr_url if source else None) or account.pr_url,
            "files_changed": diff.files_changed if diff else None,
            "lines_added": diff.lines_added if diff else None,
            "lines_removed": diff.lines_removed if diff else None,
            "malformed_lines": result.malformed_lines + account.malformed_usage,
            "usage_complete": account.usage_complete,
        }
