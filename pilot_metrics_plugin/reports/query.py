"""What a report covers: local dates turned into a UTC millisecond range in the report's zone, and the
project / model / status filters, as one parameterized SQL condition on ``executions``.

Status words: ``failed`` means every finished execution that did not succeed (``failed``, ``timed_out``,
``cancelled``, ``interrupted``), as in the reports' *failed* column; the others select one stored status.
``--model TEXT`` keeps executions that used (per ``execution_models``) or asked for a model whose name
contains ``TEXT``: ``sonnet`` selects every Sonnet, ``claude-sonnet-4-6`` that one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pilot_metrics_plugin.reports.timezones import local_midnight_ms, zone_label

FAILED_STATUSES = ("failed", "timed_out", "cancelled", "interrupted")
"""Finished without succeeding: the reports' *failed*."""
STATUS_WORDS = ("succeeded", "failed", "running", "timed_out", "cancelled", "interrupted")


class FilterError(ValueError):
    """The filter cannot be built from what the user typed; the message is one line."""


@dataclass(frozen=True)
class ReportFilter:
    """The executions a report covers. ``since`` / ``until``: inclusive local dates, ``None`` for open."""

    zone: ZoneInfo
    since: date | None = None
    until: date | None = None
    projects: tuple[str, ...] = ()
    model: str | None = None
    statuses: tuple[str, ...] = ()
    """Stored status values (``failed`` already expanded)."""

    @property
    def tz(self) -> str:
        return zone_label(self.zone)

    @property
    def start_ms(self) -> int | None:
        return None if self.since is None else local_midnight_ms(self.since, self.zone)

    @property
    def end_ms(self) -> int | None:
        """Exclusive: the first instant of the day after ``until``."""
        return None if self.until is None else local_midnight_ms(self.until + timedelta(days=1), self.zone)

    def where(
        self,
        start_ms: int | None = None,
        end_ms: int | None = None,
        *,
        alias: str = "",
    ) -> tuple[str, list[Any]]:
        """The SQL condition and its parameters; ``start_ms``/``end_ms`` narrow the range (a period)."""
        col = f"{alias}." if alias else ""
        start = self.start_ms if start_ms is None else start_ms
        end = self.end_ms if end_ms is None else end_ms
        terms: list[str] = []
        params: list[Any] = []
        if start is not None:
            terms.append(f"{col}started_at_ms >= ?")
            params.append(start)
        if end is not None:
            terms.append(f"{col}started_at_ms < ?")
            params.append(end)
        if self.projects:
            terms.append(f"{col}project IN ({', '.join('?' * len(self.projects))})")
            params += self.projects
        if self.statuses:
            terms.append(f"{col}status IN ({', '.join('?' * len(self.statuses))})")
            params += self.statuses
        if self.model is not None:
            # Correlated, so that each row is one primary-key probe (an IN list would be rebuilt by every
            # statement, and a daily report runs one per day); model rows lie in execution start order.
            outer = alias or "executions"
            terms.append(
                f"(instr({col}model_requested, ?) > 0 OR EXISTS (SELECT 1 FROM execution_models used "
                f"WHERE used.execution_started_at_ms = {outer}.started_at_ms "
                f"AND used.execution_id = {outer}.execution_id AND instr(used.model, ?) > 0))"
            )
            params += [self.model, self.model]
        return (" AND ".join(terms) or "1"), params

    def without_range(self) -> ReportFilter:
        """The same project, model and status filters at any time (for a range given on another column)."""
        return replace(self, since=None, until=None)

    def describe(self) -> str:
        """The range and filters in words, for one-line messages."""
        if self.since is None and self.until is None:
            text = "at any time"
        elif self.since is None:
            text = f"up to {self.until}"
        elif self.until is None:
            text = f"since {self.since}"
        elif self.since == self.until:
            text = f"on {self.since}"
        else:
            text = f"from {self.since} to {self.until}"
        only = filter_words(self.projects, self.model, self.statuses)
        return f"{text} ({self.tz})" + "".join(f", {words}" for words in only)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "tz": self.tz,
        }


def filter_words(projects: Sequence[str], model: str | None, statuses: Sequence[str]) -> list[str]:
    """The project, model and status filters in words, one item each that is set (for a report's
    ``filters``, or a filter's own)."""
    words = []
    if projects:
        words.append(f"project {' or '.join(projects)}")
    if model:
        words.append(f"model ~ {model}")
    if statuses:
        words.append(f"status {' or '.join(statuses)}")
    return words


def expand_statuses(words: Sequence[str]) -> tuple[str, ...]:
    statuses: list[str] = []
    for word in words:
        if word not in STATUS_WORDS:
            raise FilterError(f"unknown status {word!r} (one of: {', '.join(STATUS_WORDS)})")
        for status in FAILED_STATUSES if word == "failed" else (word,):
            if status not in statuses:
                statuses.append(status)
    return tuple(statuses)


def date_range(
    today: date, *, since: date | None, until: date | None, days: int | None
) -> tuple[date | None, date | None]:
    """The inclusive local dates a report covers.

    ``--days N`` is the N days ending today (or ending ``--until``); ``--since`` alone runs to today (or to
    itself, if later). With ``days=None`` (export) a missing end stays open."""
    if days is not None and days < 1:
        raise FilterError(f"--days must be at least 1, not {days}")
    if since is not None and until is not None and since > until:
        raise FilterError(f"--since {since} is after --until {until}")
    if days is None:
        return since, until
    if since is None:
        until = until or today
        return until - timedelta(days=days - 1), until
    if until is None:
        until = max(today, since)
    return since, until
