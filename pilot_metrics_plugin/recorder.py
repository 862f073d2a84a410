"""Recording one execution: the running row at start, each phase as it ends, the accounted row at the end.

Nothing per stream event touches the disk: events are folded in memory by ``StreamFolder``. A database that
cannot be written is reported once per execution and never stops the execution; the end tries again and
writes everything, so a database that was briefly unavailable still gets the whole record.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from hookspecs.payloads import Execution, ExecutionResult, Phase
from pilot_metrics_plugin.accounting import Account, StreamFolder
from pilot_metrics_plugin.config import Config
from pilot_metrics_plugin.failures import classify
from pilot_metrics_plugin.pricing import PriceTable
from pilot_metrics_plugin.record import ExecutionRecord, PhaseRecord
from pilot_metrics_plugin.store import MetricsStore, StoreError


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


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


class ExecutionRecorder:
    """The metrics of one execution, from its first phase to its completion."""

    def __init__(
        self,
        execution: Execution,
        open_store: Callable[[], MetricsStore],
        prices: Callable[[], PriceTable],
        say: Callable[[str], None] = report,
        source: ImportSource | None = None,
    ) -> None:
        self.execution = execution
        self.source = source
        self.folder = StreamFolder()
        self.feed = self.folder.feed
        self.phases: list[PhaseRecord] = []
        self._open_store = open_store
        self._prices = prices
        self._say = say
        self._store: MetricsStore | None = None
        self._last_error: str | None = None

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
                self._store.close()
                self._store = None
            return False

    def started(self) -> None:
        execution = self.execution
        row = {
            "execution_id": execution.execution_id,
            "task_id": execution.task_id,
            "project": execution.project,
            "project_path": execution.project_path,
            "agent_command": list(execution.agent_command),
            "model_requested": execution.model,
            "started_at_ms": to_ms(execution.started_at),
            "source_key": self.source.source_key if self.source else None,
        }
        self._with_store(lambda store: store.begin_execution(row))

    def phase_ended(self, phase: Phase) -> None:
        if phase.ended_at is None:
            return
        record = PhaseRecord(
            name=phase.name,
            started_at_ms=to_ms(phase.started_at),
            ended_at_ms=to_ms(phase.ended_at),
            duration_ms=phase.duration_ms or 0,
        )
        self.phases.append(record)
        seq = len(self.phases) - 1
        if self._store is not None:
            self._with_store(lambda store: store.add_phase(self.execution.execution_id, record, seq))

    def completed(self, result: ExecutionResult) -> ExecutionRecord | None:
        """Write the accounted execution; returns the record as stored, or ``None`` if it could not be."""
        execution = self.execution
        prices = self._prices()
        account = self.folder.account(execution.started_at.date(), prices)
        row = self.row(result, account)
        models = account.models
        stored: list[ExecutionRecord | None] = [None]

        def finish(store: MetricsStore) -> None:
            store.finish_execution(row, self.phases, models)
            stored[0] = store.load_record(execution.execution_id)

        self._with_store(finish)
        if self._store is not None:
            self._store.close()
            self._store = None
        return stored[0]

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
            "execution_id": execution.execution_id,
            "task_id": execution.task_id,
            "project": execution.project,
            "project_path": execution.project_path,
            "agent_command": list(execution.agent_command),
            "model_requested": execution.model or account.model_requested,
            "status": status,
            "failure_category": category,
            "failure_reason": reason,
            "exit_code": result.exit_code,
            "started_at_ms": to_ms(execution.started_at),
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
            "source_key": source.source_key if source else None,
        }
