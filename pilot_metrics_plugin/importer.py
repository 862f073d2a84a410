"""Importing executions recorded elsewhere, once each: the Go Pilot's recordings and stream-json transcripts.

Each source becomes one execution driven through an ``ExecutionDriver`` on a plugin host, line by line with
its recorded times, so the metrics plugin accounts it with the code a live run uses and every other plugin
(sinks) sees it as an execution. Two things keep an import idempotent:

- every source has a key, ``pilot-go:<recording id>`` or ``transcript:sha256:<content hash>``, stored on its
  row (a UNIQUE column); a key whose row is finished is skipped;
- the execution id is derived from that key (UUID 5), so an import cut short and run again writes the same
  row, and a sink can tell an execution it has seen before.

A source is read whole and checked before any hook runs: one that cannot be used (a corrupt
``metadata.json``, an unreadable ``stream.jsonl``) is reported by name, records nothing, and never stops the
rest. A Go recording without ``metadata.json`` is still being written (the Go Pilot writes it last, after
closing the stream): it is skipped, and a later import picks it up.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hookspecs.execution import ExecutionDriver
from hookspecs.payloads import Execution, ExecutionResult
from hookspecs.replay import parse_timestamp
from pilot_metrics_plugin.recorder import ImportSource

if TYPE_CHECKING:
    from hookspecs.manager import PluginHost
    from pilot_metrics_plugin.plugin import MetricsPlugin
    from pilot_metrics_plugin.store import MetricsStore

RECORDING_KEY_PREFIX = "pilot-go:"
TRANSCRIPT_KEY_PREFIX = "transcript:sha256:"
EXECUTION_ID_NAMESPACE = uuid.UUID("5b0f7c52-93f1-4c1e-9a64-0d3a6f2e8b17")
"""Namespace of the UUID 5 execution ids of imported executions: fixed forever, or re-imports would differ."""

METADATA_FILE = "metadata.json"
STREAM_FILE = "stream.jsonl"
UNKNOWN_PROJECT = "unknown"

PILOT_STATUSES: Mapping[str, str] = {
    "completed": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "timed_out": "timed_out",
    "timeout": "timed_out",
}
"""The Go Pilot's status -> ours. It writes ``completed``, ``failed`` and ``cancelled``; the rest are accepted
in case a later version writes them. The stream's own ``result`` event wins over any of them."""

FINISHED_ELSEWHERE = ("running", "interrupted")
"""Row statuses that do not count as imported: an import that was cut short left them; importing again
writes the same execution id over them."""


class SourceError(Exception):
    """This source cannot be imported; the message says why, in one line."""


class NotFinished(Exception):
    """This source is still being written: skip it now, import it later."""


@dataclass(frozen=True)
class Prepared:
    """A source read whole and found usable: the execution and its lines, each with its recorded time."""

    name: str
    execution: Execution
    source: ImportSource
    lines: Sequence[tuple[bytes | None, datetime | None]]
    """The agent's lines in order; ``None`` for a recorded line that could not be decoded (counted as
    malformed). The time is the line's own, ``None`` where it has none (it takes the time before it)."""
    ended_at: datetime | None
    """When the execution ended, as the source says; ``None``: at its last line."""
    status_without_result: tuple[str, str | None] | None
    """``(status, error)`` the source gives for a stream that has no ``result`` event; ``None``: the stream
    decides alone (no result is a failure), as for a live run."""
    description: str
    """One line for ``--dry-run``."""


class Source:
    """Something that becomes one execution. ``key`` is cheap where it can be; ``prepare`` reads it all."""

    name: str

    def key(self) -> str:
        raise NotImplementedError

    def prepare(self) -> Prepared:
        raise NotImplementedError


@dataclass
class ImportReport:
    """What an import did; ``summary`` is its last line."""

    dry_run: bool = False
    imported: list[str] = field(default_factory=list)
    already_imported: list[str] = field(default_factory=list)
    still_being_written: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    """``--dry-run``: one line per execution that would be imported."""

    @property
    def skipped(self) -> int:
        return len(self.already_imported) + len(self.still_being_written)

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        count = len(self.planned) if self.dry_run else len(self.imported)
        skipped = f"skipped {self.skipped}"
        if self.skipped:
            skipped += (
                f" ({len(self.already_imported)} already imported, "
                f"{len(self.still_being_written)} still being written)"
            )
        line = f"{verb} {count}, {skipped}, failed {len(self.failed)}"
        return line + " (dry run: nothing written)" if self.dry_run else line

    def failure_lines(self) -> list[str]:
        return [f"failed {name}: {reason}" for name, reason in self.failed]

    def notes(self) -> list[str]:
        return [
            f"skipped {name}: still being written (no {METADATA_FILE} yet); a later import picks it up"
            for name in self.still_being_written
        ]


# -- naming ----------------------------------------------------------------------------------------------


def execution_id_for(source_key: str) -> str:
    return uuid.uuid5(EXECUTION_ID_NAMESPACE, source_key).hex


def project_name(project_path: str | None, projects: Mapping[str, str]) -> str:
    """The config's ``[projects]`` name for the path (or for its last part), else the path's last part."""
    if not project_path:
        return UNKNOWN_PROJECT
    trimmed = project_path.rstrip("/\\") or project_path
    last = re.split(r"[/\\]", trimmed)[-1]
    for key in (project_path, trimmed, last):
        if key in projects:
            return projects[key]
    return last or UNKNOWN_PROJECT


_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: Any) -> datetime | None:
    """A Go ``time.Time`` as JSON (RFC 3339 with up to nine fractional digits, any offset) or any ISO 8601
    text, as an aware UTC datetime; ``None`` for anything else and for Go's zero time (year 1)."""
    if not isinstance(value, str):
        return None
    # Older Pythons parse only 3 or 6 fractional digits; Go writes 0-9 (trailing zeros trimmed).
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], value.strip(), count=1)
    moment = parse_timestamp(text)
    if moment is None or moment.year <= 1:
        return None
    return moment


_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_PULL_URL = re.compile(r"https?://[^\s\"'<>|]+/pull/\d+")
_ANY_URL = re.compile(r"https?://[^\s\"'<>|]+")


def clean_commit_sha(value: Any) -> str | None:
    text = value.strip().lower() if isinstance(value, str) else ""
    return text if _SHA.match(text) else None


def clean_pr_url(value: Any) -> str | None:
    """The URL in Pilot's ``pr_url``, which can hold ``gh``'s warnings around it (its output, stderr too)."""
    if not isinstance(value, str):
        return None
    match = _PULL_URL.search(value) or _ANY_URL.search(value)
    return match.group(0) if match else None


def _describe_os_error(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


# -- Go Pilot recordings ---------------------------------------------------------------------------------


def default_recordings_dir() -> Path:
    """Where the Go Pilot keeps its recordings (it does not move them with our ``PILOT_HOME``)."""
    return Path.home() / ".pilot" / "recordings"


def find_recordings(directory: Path, projects: Mapping[str, str]) -> list[Source]:
    """The recordings in ``directory`` (or ``directory`` itself when it is one), by name: every subdirectory
    with a ``metadata.json`` or a ``stream.jsonl``, or named like the Go Pilot's ``TG-<ms>``."""
    if _looks_like_recording(directory):
        return [RecordingSource(directory, projects)]
    with os.scandir(directory) as listing:
        entries = sorted(listing, key=lambda entry: entry.name)
    sources: list[Source] = []
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        path = Path(entry.path)
        if entry.name.startswith("TG-") or _looks_like_recording(path):
            sources.append(RecordingSource(path, projects))
    return sources


def _looks_like_recording(path: Path) -> bool:
    return (path / METADATA_FILE).exists() or (path / STREAM_FILE).exists()


class RecordingSource(Source):
    """One Go Pilot recording directory: ``metadata.json`` (the ``Recording``) and ``stream.jsonl`` (one
    ``{timestamp, sequence, raw, type, parsed}`` object per agent line; ``raw`` is the agent's line)."""

    def __init__(self, path: Path, projects: Mapping[str, str]) -> None:
        self.path = path
        self.name = path.name
        self.projects = projects
        self._metadata: dict[str, Any] | None = None

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            self._metadata = self._read_metadata()
        return self._metadata

    def _read_metadata(self) -> dict[str, Any]:
        path = self.path / METADATA_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFinished(self.name) from None
        except OSError as exc:
            raise SourceError(f"cannot read {METADATA_FILE}: {_describe_os_error(exc)}") from None
        try:
            value = json.loads(data)
        except UnicodeDecodeError:
            raise SourceError(f"{METADATA_FILE} is not UTF-8 text") from None
        except ValueError as exc:
            raise SourceError(f"{METADATA_FILE} is not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise SourceError(f"{METADATA_FILE} is not a JSON object")
        task_id = value.get("task_id")
        if not isinstance(task_id, str) or not task_id.strip():
            raise SourceError(f"{METADATA_FILE} has no task_id")
        return value

    def key(self) -> str:
        recording_id = self.metadata().get("id")
        if not isinstance(recording_id, str) or not recording_id.strip():
            recording_id = self.name
        return RECORDING_KEY_PREFIX + recording_id.strip()

    def prepare(self) -> Prepared:
        meta = self.metadata()
        key = self.key()
        lines = self._read_stream()
        first_time = next((at for _, at in lines if at is not None), None)
        started_at = parse_time(meta.get("start_time")) or first_time
        if started_at is None:
            raise SourceError(f"{METADATA_FILE} has no start_time and the stream no timestamps")
        ended_at = parse_time(meta.get("end_time"))
        duration_ns = meta.get("duration")
        if ended_at is None and type(duration_ns) is int and duration_ns >= 0:
            ended_at = started_at + timedelta(microseconds=duration_ns // 1000)
        project_path = meta.get("project_path") if isinstance(meta.get("project_path"), str) else None
        details = meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {}
        model = details.get("model_name") if isinstance(details.get("model_name"), str) else None
        pilot_status = meta.get("status") if isinstance(meta.get("status"), str) else ""
        execution = Execution(
            execution_id=execution_id_for(key),
            task_id=meta["task_id"].strip(),
            project=project_name(project_path, self.projects),
            project_path=project_path or None,
            agent_command=("import", "pilot-go-recording", str(self.path)),
            model=model or None,
            started_at=started_at,
        )
        return Prepared(
            name=self.name,
            execution=execution,
            source=ImportSource(
                source_key=key,
                commit_sha=clean_commit_sha(details.get("commit_sha")),
                pr_url=clean_pr_url(details.get("pr_url")),
            ),
            lines=lines,
            ended_at=ended_at,
            status_without_result=_pilot_status(pilot_status),
            description=(
                f"{self.name}: task {execution.task_id}, project {execution.project}, "
                f"started {started_at.isoformat()}, Pilot status {pilot_status or '(none)'}"
            ),
        )

    def _read_stream(self) -> list[tuple[bytes | None, datetime | None]]:
        path = self.path / STREAM_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise SourceError(f"{METADATA_FILE} but no {STREAM_FILE}") from None
        except OSError as exc:
            raise SourceError(f"cannot read {STREAM_FILE}: {_describe_os_error(exc)}") from None
        lines: list[tuple[bytes | None, datetime | None]] = []
        usable = 0
        for text in data.splitlines():
            if not text.strip():
                continue
            try:
                event = json.loads(text)
            except ValueError:  # UnicodeDecodeError included
                lines.append((None, None))
                continue
            raw = event.get("raw") if isinstance(event, dict) else None
            if not isinstance(raw, str):
                lines.append((None, None))
                continue
            usable += 1
            lines.append((raw.encode("utf-8", "surrogatepass"), parse_time(event.get("timestamp"))))
        if lines and not usable:
            raise SourceError(f"{STREAM_FILE} holds no recorded events ({len(lines)} unreadable lines)")
        return lines


def _pilot_status(status: str) -> tuple[str, str | None] | None:
    ours = PILOT_STATUSES.get(status.strip().lower())
    if ours is None:
        return None
    if ours == "succeeded":
        return ours, None
    return ours, f"the Go Pilot recorded the run as {status.strip()}; its recording has no result event"


# -- transcripts -----------------------------------------------------------------------------------------


def find_transcripts(
    paths: Iterable[Path], *, task_id: str | None, project: str | None, projects: Mapping[str, str]
) -> list[Source]:
    """One source per file given, and per ``*.jsonl`` file of each directory given (not recursive)."""
    sources: list[Source] = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.glob("*.jsonl") if p.is_file())
        else:
            files = [path]
        sources.extend(
            TranscriptSource(file, task_id=task_id, project=project, projects=projects) for file in files
        )
    return sources


class TranscriptSource(Source):
    """A stream-json transcript file: its content hash is its key, so a copy or a renamed file is the same
    source."""

    def __init__(
        self, path: Path, *, task_id: str | None, project: str | None, projects: Mapping[str, str]
    ) -> None:
        self.path = path
        self.name = str(path)
        self.task_id = task_id
        self.project = project
        self.projects = projects
        self._data: bytes | None = None
        self._mtime: datetime | None = None
        self._key: str | None = None

    def _read(self) -> bytes:
        if self._data is None:
            try:
                with open(self.path, "rb") as handle:
                    self._mtime = datetime.fromtimestamp(os.fstat(handle.fileno()).st_mtime, timezone.utc)
                    self._data = handle.read()
            except FileNotFoundError:
                raise SourceError("no such file") from None
            except OSError as exc:
                raise SourceError(f"cannot read it: {_describe_os_error(exc)}") from None
        return self._data

    def key(self) -> str:
        if self._key is None:
            self._key = TRANSCRIPT_KEY_PREFIX + hashlib.sha256(self._read()).hexdigest()
        return self._key

    def prepare(self) -> Prepared:
        data = self._read()
        key = self.key()
        assert self._mtime is not None
        lines: list[tuple[bytes | None, datetime | None]] = []
        first_time: datetime | None = None
        last_time: datetime | None = None
        cwd: str | None = None
        duration_ms: int | None = None
        objects = 0
        for text in data.splitlines():
            if not text.strip():
                continue
            try:
                event = json.loads(text)
            except ValueError:
                event = None
            at = None
            if isinstance(event, dict):
                objects += 1
                at = parse_time(event.get("timestamp"))
                if event.get("type") == "system" and event.get("subtype") == "init" and cwd is None:
                    cwd = event.get("cwd") if isinstance(event.get("cwd"), str) else None
                if event.get("type") == "result":
                    reported = event.get("duration_ms")
                    if type(reported) is int and 0 <= reported < 10**12:
                        duration_ms = reported
            if at is not None:
                first_time = first_time or at
                last_time = at if last_time is None or at > last_time else last_time
            lines.append((text, at))  # the driver decodes and counts malformed lines itself
        if not objects:
            raise SourceError("not a stream-json transcript: no line is a JSON object")
        run_ms = timedelta(milliseconds=duration_ms or 0)
        if first_time is not None:
            # Times are the lines' own; the run lasted at least what its result event reports.
            started_at = first_time
            ended_at = max(last_time or first_time, started_at + run_ms)
        else:
            # No line has a time: the file was last written when the run ended.
            ended_at = self._mtime
            started_at = ended_at - run_ms
        task_id = self.task_id or self.path.stem
        project = self.project or project_name(cwd, self.projects)
        execution = Execution(
            execution_id=execution_id_for(key),
            task_id=task_id,
            project=project,
            project_path=cwd,
            agent_command=("import", "transcript", str(self.path)),
            model=None,
            started_at=started_at,
        )
        return Prepared(
            name=self.name,
            execution=execution,
            source=ImportSource(source_key=key),
            lines=lines,
            ended_at=ended_at,
            status_without_result=None,
            description=f"{self.name}: task {task_id}, project {project}, started {started_at.isoformat()}",
        )


# -- driving ---------------------------------------------------------------------------------------------


class _RecordedClock:
    """The time of the line being fed: the importer sets it, the driver asks for it."""

    __slots__ = ("now",)

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self, raw: Mapping[str, Any]) -> datetime:
        return self.now


def _timed_lines(
    lines: Iterable[tuple[bytes | None, datetime | None]], clock: _RecordedClock
) -> Iterator[bytes | None]:
    """Each line, with ``clock`` set to its time (never back) before the driver reads it."""
    for data, at in lines:
        if at is not None and at > clock.now:
            clock.now = at
        yield data


def drive(host: PluginHost, plugin: MetricsPlugin, prepared: Prepared) -> ExecutionResult:
    """Feed one prepared source through the hooks as one execution, as ``pilot run`` feeds a live one."""
    plugin.expect_import(prepared.execution.execution_id, prepared.source)
    driver = ExecutionDriver(host, prepared.execution)
    clock = _RecordedClock(prepared.execution.started_at)
    driver.start()
    driver.feed_all(_timed_lines(prepared.lines, clock), clock)
    if driver.last_result is None and prepared.status_without_result is not None:
        status, error = prepared.status_without_result
    else:
        status, error = driver.status_from_stream()
    ended_at = max(prepared.ended_at or clock.now, clock.now)
    return driver.complete(status=status, exit_code=None, error=error, ended_at=ended_at)


def finished_source_keys(store: MetricsStore) -> set[str]:
    """Source keys whose execution is recorded to its end."""
    rows = store.conn.execute(
        "SELECT source_key FROM executions WHERE source_key IS NOT NULL AND status NOT IN (?, ?)",
        FINISHED_ELSEWHERE,
    )
    return {row[0] for row in rows}


def _recorded(store: MetricsStore, execution_id: str, source_key: str) -> bool:
    row = store.conn.execute(
        "SELECT status FROM executions WHERE execution_id = ? AND source_key = ?", (execution_id, source_key)
    ).fetchone()
    return row is not None and row[0] not in FINISHED_ELSEWHERE


def _forget_unfinished(store: MetricsStore, execution_id: str) -> None:
    """An execution whose import stopped half-way: its running row goes, so no report shows it."""
    try:
        store.transaction(
            lambda conn: conn.execute(
                "DELETE FROM executions WHERE execution_id = ? AND status = 'running'", (execution_id,)
            )
        )
    except Exception:  # noqa: BLE001 - best effort; a later import writes the same row over it anyway
        pass


def run_import(
    host: PluginHost,
    plugin: MetricsPlugin,
    sources: Sequence[Source],
    *,
    store: MetricsStore | None,
    dry_run: bool = False,
    advance: Callable[[], object] | None = None,
) -> ImportReport:
    """Import each source not yet imported; ``store`` is the database the metrics plugin writes to (read
    here for the keys already imported; ``None`` only for a dry run when it does not exist yet).
    ``advance()`` runs after each source, for a progress bar."""
    if store is None and not dry_run:
        raise ValueError("an import needs the store the metrics plugin writes to")
    report = ImportReport(dry_run=dry_run)
    done = finished_source_keys(store) if store is not None else set()
    for source in sources:
        try:
            _import_one(host, plugin, source, store, done, report)
        finally:
            if advance is not None:
                advance()
    return report


def _import_one(
    host: PluginHost,
    plugin: MetricsPlugin,
    source: Source,
    store: MetricsStore | None,
    done: set[str],
    report: ImportReport,
) -> None:
    try:
        key = source.key()
        if key in done:
            report.already_imported.append(source.name)
            return
        prepared = source.prepare()
    except NotFinished:
        report.still_being_written.append(source.name)
        return
    except SourceError as exc:
        report.failed.append((source.name, str(exc)))
        return
    except Exception as exc:  # noqa: BLE001 - one bad source never stops the rest
        report.failed.append((source.name, f"{type(exc).__name__}: {exc}".splitlines()[0]))
        return
    if report.dry_run:
        done.add(key)  # a file named twice would be imported once
        report.planned.append(f"would import {prepared.description}")
        return
    assert store is not None
    execution_id = prepared.execution.execution_id
    try:
        drive(host, plugin, prepared)
    except KeyboardInterrupt:
        _forget_unfinished(store, execution_id)
        raise
    except Exception as exc:  # noqa: BLE001 - a bug on one source is reported, the rest still import
        _forget_unfinished(store, execution_id)
        report.failed.append((source.name, f"{type(exc).__name__}: {exc}".splitlines()[0]))
        return
    if _recorded(store, execution_id, key):
        done.add(key)
        report.imported.append(source.name)
    else:
        report.failed.append((source.name, "the metrics database did not take it (see the message above)"))
