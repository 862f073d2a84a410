"""The report's calendar: which IANA zone, where its local days start in UTC, and local hours in SQL.

Times are stored as UTC epoch milliseconds, but days and hours are the user's. Two tools, both exact across
daylight-saving changes because they come from ``zoneinfo``, never from a fixed offset:

- ``local_midnight_ms``: the UTC instant a local date begins. Periods (days, weeks, months) are ranges of
  ``started_at_ms`` between two such instants, so a 23- or 25-hour day is simply a shorter or longer range.
- ``local_ms_sql``: a SQL expression giving the local wall-clock milliseconds of ``started_at_ms``, as
  ``started_at_ms + CASE WHEN started_at_ms < t1 THEN off0 WHEN ... END`` over the zone's offset changes
  in the range, for bucketing by local hour and weekday in one pass; ``range_local_ms_sql`` takes the
  offset changes between a range's first and last execution.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    import sqlite3

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
_SAMPLE_MS = 12 * HOUR_MS
"""Offset changes are found by sampling this often, then bisecting: no zone changes twice in 12 hours."""


class UnknownZoneError(ValueError):
    """Not an IANA time zone name this system knows."""


def zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownZoneError(
            f"unknown time zone {name!r} (an IANA name, like Europe/Berlin or UTC)"
        ) from None


def local_zone() -> ZoneInfo:
    """The machine's zone with its rules (not today's offset alone): ``TZ``, else ``/etc/localtime``, else
    UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    localtime = Path("/etc/localtime")
    try:
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            return ZoneInfo(target.split("zoneinfo/", 1)[1])
        with open(localtime, "rb") as handle:
            return ZoneInfo.from_file(handle, key="localtime")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def zone_label(zone: ZoneInfo) -> str:
    return zone.key or str(zone)


def local_midnight_ms(day: date, zone: ZoneInfo) -> int:
    """The first instant of ``day`` in ``zone``, as UTC epoch ms.

    Where DST skips midnight, ``fold=0`` reads 00:00 with the offset before the change, which lands on the
    change itself: the first instant that exists on that day."""
    return _to_ms(datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc))


def local_datetime(ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone(zone)


def local_date(ms: int, zone: ZoneInfo) -> date:
    return local_datetime(ms, zone).date()


def _to_ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)


def _offset_ms(ms: int, zone: ZoneInfo) -> int:
    offset = datetime.fromtimestamp(ms // 1000, tz=timezone.utc).astimezone(zone).utcoffset()
    return 0 if offset is None else offset // timedelta(milliseconds=1)


def offset_segments(zone: ZoneInfo, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """``[(from_ms, offset_ms), ...]``: the zone's UTC offset from each ``from_ms`` on, over
    ``[start_ms, end_ms)``.

    The first segment starts at ``start_ms``; each later one at an offset change (a whole second: tz data
    has no finer changes)."""
    segments = [(start_ms, _offset_ms(start_ms, zone))]
    at = start_ms
    while at < end_ms:
        step_end = min(at + _SAMPLE_MS, end_ms)
        if _offset_ms(step_end, zone) != segments[-1][1]:
            low, high = at // 1000, step_end // 1000 + 1  # the change lies in (low, high] seconds
            while high - low > 1:
                middle = (low + high) // 2
                if _offset_ms(middle * 1000, zone) == segments[-1][1]:
                    low = middle
                else:
                    high = middle
            change_ms = high * 1000
            if change_ms < end_ms:
                segments.append((change_ms, _offset_ms(change_ms, zone)))
        at = step_end
    return segments


def local_ms_sql(segments: list[tuple[int, int]], column: str = "started_at_ms") -> tuple[str, list[int]]:
    """SQL for the local wall-clock ms of ``column`` (an integer), with its parameters, in order."""
    if len(segments) == 1:
        return f"({column} + ?)", [segments[0][1]]
    params: list[int] = []
    whens = []
    for (_, offset), (next_from, _) in pairwise(segments):
        whens.append(f"WHEN {column} < ? THEN ?")
        params += [next_from, offset]
    params.append(segments[-1][1])
    return f"({column} + CASE {' '.join(whens)} ELSE ? END)", params


def range_local_ms_sql(
    conn: sqlite3.Connection, zone: ZoneInfo, start_ms: int, end_ms: int, column: str = "started_at_ms"
) -> tuple[str, list[int]]:
    """``local_ms_sql`` of ``column`` for the executions that started in ``[start_ms, end_ms)``.

    The zone's offset changes are looked up only between the range's first and last execution, so a long
    range with recent data stays one segment. Two subqueries, not ``MIN(...), MAX(...)`` in one: SQLite
    answers a lone ``MIN`` or ``MAX`` with one index probe, but both together by reading the whole range."""
    within = "FROM executions WHERE started_at_ms >= ?1 AND started_at_ms < ?2"
    first, last = conn.execute(
        f"SELECT (SELECT MIN(started_at_ms) {within}), (SELECT MAX(started_at_ms) {within})",
        (start_ms, end_ms),
    ).fetchone()
    segments = offset_segments(zone, first or start_ms, (last or start_ms) + 1)
    return local_ms_sql(segments, column)
