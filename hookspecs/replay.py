"""Replaying a recorded transcript through the same path as a live run.

Event times come from the lines' own ``timestamp`` fields where they have them, shifted so that the first
one falls on the execution's start; a line without one takes the time of the line before. The execution
ends at the last event, or ``duration_ms`` of the last ``result`` event after the start if that is later
(old transcripts carry no timestamps).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hookspecs.execution import READ_BUFFER_BYTES, ExecutionDriver, feed_lines, new_execution_id, utc_now
from hookspecs.manager import PluginHost
from hookspecs.payloads import Execution, ExecutionResult


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO 8601 text (``Z`` or an offset; naive means UTC) as an aware datetime, else ``None``."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


class ReplayClock:
    """Gives each replayed event its time from its ``timestamp``, shifted to the execution's start."""

    __slots__ = ("last", "offset", "start")

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.last = start
        self.offset: timedelta | None = None

    def __call__(self, raw: Mapping[str, Any]) -> datetime:
        stamp = raw.get("timestamp")
        if stamp is not None:
            moment = parse_timestamp(stamp)
            if moment is not None:
                if self.offset is None:
                    self.offset = self.start - moment
                try:
                    shifted = moment + self.offset
                except OverflowError:  # years away from the first timestamp: as if it had none
                    return self.last
                if shifted > self.last:
                    self.last = shifted
        return self.last


def replay_transcript(
    host: PluginHost,
    path: Path,
    *,
    task_id: str,
    project: str,
    started_at: datetime | None = None,
    project_path: str | None = None,
    execution_id: str | None = None,
    agent_command: tuple[str, ...] | None = None,
    clock: ReplayClock | None = None,
) -> ExecutionResult:
    """Feed a stream-json file through the hooks as one execution. ``OSError`` if it cannot be opened."""
    start = started_at or utc_now()
    # Opened before any hook runs, so a bad path records nothing.
    handle = open(path, "rb", buffering=READ_BUFFER_BYTES)  # noqa: SIM115
    execution = Execution(
        execution_id=execution_id or new_execution_id(),
        task_id=task_id,
        project=project,
        project_path=project_path,
        agent_command=agent_command or ("replay", str(path)),
        model=None,
        started_at=start,
    )
    clock = clock or ReplayClock(start)
    driver = ExecutionDriver(host, execution)
    driver.start()
    with handle:
        try:
            feed_lines(driver, handle, clock)
        except KeyboardInterrupt:
            return driver.complete(
                status="cancelled", exit_code=None, error="replay interrupted", ended_at=clock.last
            )
        except OSError as exc:
            return driver.complete(
                status="failed", exit_code=None, error=f"cannot read {path}: {exc}", ended_at=clock.last
            )
    ended_at = clock.last
    if driver.last_result is not None:
        reported = driver.last_result.get("duration_ms")
        if isinstance(reported, int) and not isinstance(reported, bool) and 0 <= reported < 10**12:
            ended_at = max(ended_at, start + timedelta(milliseconds=reported))
    status, error = driver.status_from_stream()
    return driver.complete(status=status, exit_code=None, error=error, ended_at=ended_at)
