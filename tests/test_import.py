"""`pilot metrics import`: the Go Pilot's recordings and stream-json transcripts become executions, accounted
as a live run is, seen by the other plugins, and imported once however often the import runs.

The two recordings of `fixtures/pilot-go-recordings/` hold the v2.1.72 transcript pair of
`fixtures/claude-stream-json/` line for line (README.md there): TG-1763980000000 (task GH-412, completed) is
`v2.1.72-success-3-subagents-...`, TG-1763990000000 (task GH-415, failed) is
`v2.1.72-error-...-EAI_AGAIN-...`.
Their expected totals are those transcripts' last `result` events, read by hand as in test_record_fixtures.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import GO_RECORDINGS, transcript
from hookspecs.cli import main
from hookspecs.manager import PluginHost
from hookspecs.markers import hookimpl
from hookspecs.payloads import Execution, ExecutionResult
from pilot_metrics_plugin.importer import execution_id_for
from pilot_metrics_plugin.plugin import MetricsPlugin
from pilot_metrics_plugin.record import ExecutionRecord
from pilot_metrics_plugin.store import MetricsStore

SUCCEEDED = "TG-1763980000000"
FAILED = "TG-1763990000000"


class SeenExecutions:
    """A sink stand-in: remembers every execution that reached its end."""

    def __init__(self) -> None:
        self.completed: list[tuple[str, str]] = []

    @hookimpl
    def on_execution_complete(self, execution: Execution, result: ExecutionResult) -> None:
        self.completed.append((execution.task_id, result.status))


def pilot(args: list[str], db: Path, *plugins: tuple[str, object]) -> int:
    """`pilot ARGS --db DB` with the metrics plugin (and ``plugins``) on the host."""
    host = PluginHost.create([("metrics", MetricsPlugin()), *plugins], load_entrypoints=False)
    return main([*args, "--db", str(db)], host=host)


def import_recordings(
    directory: Path, db: Path, *options: str, plugins: tuple[tuple[str, object], ...] = ()
) -> int:
    return pilot(["metrics", "import", "pilot-recordings", str(directory), *options], db, *plugins)


def import_transcripts(paths: list[Path], db: Path, *options: str) -> int:
    return pilot(["metrics", "import", "transcripts", *map(str, paths), *options], db)


def records(db: Path) -> dict[str, ExecutionRecord]:
    """Every stored execution, by task id."""
    store = MetricsStore.open(db)
    try:
        ids = [row[0] for row in store.conn.execute("SELECT execution_id FROM executions")]
        loaded = [store.load_record(execution_id) for execution_id in ids]
    finally:
        store.close()
    return {record.task_id: record for record in loaded if record is not None}


def last_line(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out.rstrip("\n").splitlines()[-1]


def copy_recording(name: str, into: Path, new_name: str | None = None) -> Path:
    target = into / (new_name or name)
    shutil.copytree(GO_RECORDINGS / name, target, ignore=shutil.ignore_patterns("README.md"))
    if new_name:
        metadata = json.loads((target / "metadata.json").read_text())
        metadata["id"] = new_name
        (target / "metadata.json").write_text(json.dumps(metadata))
    return target


def ms(text: str) -> int:
    """UTC epoch milliseconds of an ISO 8601 time without offset, exactly."""
    moment = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    return (moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)


# -- the fixture recordings --------------------------------------------------------------------------------


def test_the_fixture_recordings_become_two_executions_with_the_tokens_and_cost_of_their_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "metrics.db"
    assert import_recordings(GO_RECORDINGS, db) == 0
    assert last_line(capsys) == "imported 2, skipped 0, failed 0"
    stored = records(db)
    assert sorted(stored) == ["GH-412", "GH-415"]
    totals = {
        task: (
            r.tokens_input,
            r.tokens_output,
            r.tokens_cache_read,
            r.tokens_cache_write,
            r.tokens_total,
            r.cost_nano_usd,
            r.cost_source,
        )
        for task, r in stored.items()
    }
    assert totals == {
        # v2.1.72-success result modelUsage: sonnet-4-6 5 / 6249 / 120087 / 36365, 0.26614485 -> 266144850;
        # haiku 5216 / 16505 / 188305 / 229409, 0.39333274999999995 -> 393332750.
        # Sums 5221 / 22754 / 308392 / 265774, total 602141, cost 659477600 (= total_cost_usd 0.6594776).
        "GH-412": (5221, 22754, 308392, 265774, 602141, 659477600, "reported"),
        # v2.1.72-error: sonnet-4-6 6 / 6154 / 157738 / 57185, 0.35409314999999997 -> 354093150;
        # haiku 16333 / 4920 / 234127 / 109423, 0.20112445 -> 201124450.
        # Sums 16339 / 11074 / 391865 / 166608, total 585886, cost 555217600 (= 0.5552176).
        "GH-415": (16339, 11074, 391865, 166608, 585886, 555217600, "reported"),
    }


def test_imported_executions_keep_the_task_project_model_and_times_of_their_metadata(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    import_recordings(GO_RECORDINGS, db)
    record = records(db)["GH-412"]
    # metadata.json: project_path /home/user/Projects/shop (no [projects] mapping: its last part),
    # start 2026-11-24T09:15:00Z, end 09:20:30Z -> 330 s; model_name claude-sonnet-4-6.
    assert (record.project, record.project_path) == ("shop", "/home/user/Projects/shop")
    assert record.started_at_ms == ms("2026-11-24T09:15:00")
    assert record.ended_at_ms == ms("2026-11-24T09:20:30")
    assert record.duration_ms == 330_000
    assert record.model_requested == "claude-sonnet-4-6"
    assert record.source_key == f"pilot-go:{SUCCEEDED}"


def test_imported_phases_last_as_long_as_the_recorded_timestamps_say(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    import_recordings(GO_RECORDINGS, db)
    phases = {
        task: [(p.name, p.started_at_ms, p.duration_ms) for p in record.phases]
        for task, record in records(db).items()
    }
    assert phases == {
        # GH-412: planning from the start (09:15:00) to sequence 3 (09:15:03), the main thread's Agent tool
        # use; delegating from there to the recording's end_time 09:20:30 (327 s).
        "GH-412": [
            ("planning", ms("2026-11-24T09:15:00"), 3_000),
            ("delegating", ms("2026-11-24T09:15:03"), 327_000),
        ],
        # GH-415: planning 13:40:00 -> sequence 3 (13:40:04, Agent); delegating -> sequence 73 (13:42:24, the
        # main thread's first Read); exploring -> end_time 13:43:24.
        "GH-415": [
            ("planning", ms("2026-11-24T13:40:00"), 4_000),
            ("delegating", ms("2026-11-24T13:40:04"), 140_000),
            ("exploring", ms("2026-11-24T13:42:24"), 60_000),
        ],
    }


def test_the_failed_recording_is_failed_with_the_category_of_its_error(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    import_recordings(GO_RECORDINGS, db)
    record = records(db)["GH-415"]
    # Its result: subtype "success", is_error true, "API Error: Unable to connect to API (EAI_AGAIN)".
    assert (record.status, record.failure_category) == ("failed", "network")
    assert record.failure_reason == "API Error: Unable to connect to API (EAI_AGAIN)"


def test_the_first_recording_keeps_the_commit_and_pull_request_of_its_metadata(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    import_recordings(GO_RECORDINGS, db)
    stored = records(db)
    assert stored["GH-412"].commit_sha == "9f1c2ab0d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9"
    assert stored["GH-412"].pr_url == "https://github.com/acme/shop/pull/77"
    # The failed one's metadata has empty commit_sha and pr_url.
    assert (stored["GH-415"].commit_sha, stored["GH-415"].pr_url) == (None, None)


def test_a_pull_request_url_is_taken_out_of_the_gh_warnings_pilot_stored_around_it(tmp_path: Path) -> None:
    recording = copy_recording(SUCCEEDED, tmp_path / "recordings")
    metadata = json.loads((recording / "metadata.json").read_text())
    metadata["metadata"]["pr_url"] = "Warning: 2 uncommitted changes\nhttps://github.com/acme/shop/pull/77"
    (recording / "metadata.json").write_text(json.dumps(metadata))
    import_recordings(tmp_path / "recordings", tmp_path / "metrics.db")
    assert records(tmp_path / "metrics.db")["GH-412"].pr_url == "https://github.com/acme/shop/pull/77"


# -- status ------------------------------------------------------------------------------------------------


def test_an_error_result_wins_over_pilots_completed(tmp_path: Path) -> None:
    recording = copy_recording(FAILED, tmp_path / "recordings")
    metadata = json.loads((recording / "metadata.json").read_text())
    metadata["status"] = "completed"  # what the Go Pilot writes when the agent exited 0 with is_error: true
    (recording / "metadata.json").write_text(json.dumps(metadata))
    import_recordings(tmp_path / "recordings", tmp_path / "metrics.db")
    record = records(tmp_path / "metrics.db")["GH-415"]
    assert (record.status, record.failure_category) == ("failed", "network")


def test_without_a_result_event_pilots_status_decides(tmp_path: Path) -> None:
    recording = copy_recording(SUCCEEDED, tmp_path / "recordings")
    stream = (recording / "stream.jsonl").read_text().splitlines()
    assert json.loads(stream[-1])["type"] == "result"
    (recording / "stream.jsonl").write_text("\n".join(stream[:-1]) + "\n")  # stopped before its result
    metadata = json.loads((recording / "metadata.json").read_text())
    metadata["status"] = "cancelled"
    (recording / "metadata.json").write_text(json.dumps(metadata))
    import_recordings(tmp_path / "recordings", tmp_path / "metrics.db")
    record = records(tmp_path / "metrics.db")["GH-412"]
    assert (record.status, record.failure_category) == ("cancelled", "cancelled")
    assert record.usage_complete is False


def test_times_in_gos_own_format_with_nanoseconds_and_an_offset_are_read(tmp_path: Path) -> None:
    recording = copy_recording(SUCCEEDED, tmp_path / "recordings")
    metadata = json.loads((recording / "metadata.json").read_text())
    # Go marshals a local time.Time as RFC 3339 with nanoseconds and the zone's offset.
    metadata["start_time"] = "2026-11-24T10:15:00.123456789+01:00"
    metadata["end_time"] = "2026-11-24T10:20:30.5+01:00"
    (recording / "metadata.json").write_text(json.dumps(metadata))
    import_recordings(tmp_path / "recordings", tmp_path / "metrics.db")
    record = records(tmp_path / "metrics.db")["GH-412"]
    # 10:15:00.123456789+01:00 is 09:15:00.123 UTC (microseconds kept, then whole ms); the end 09:20:30.500.
    assert record.started_at_ms == ms("2026-11-24T09:15:00.123")
    assert record.ended_at_ms == ms("2026-11-24T09:20:30.500")


# -- names -------------------------------------------------------------------------------------------------


def test_the_config_can_name_the_project_of_a_recorded_path(
    tmp_path: Path, _isolated_environment: Path
) -> None:
    _isolated_environment.mkdir(parents=True)
    config = '[projects]\n"/home/user/Projects/shop" = "storefront"\n'
    (_isolated_environment / "metrics.toml").write_text(config)
    import_recordings(GO_RECORDINGS, tmp_path / "metrics.db")
    assert {r.project for r in records(tmp_path / "metrics.db").values()} == {"storefront"}


# -- idempotence -------------------------------------------------------------------------------------------


def test_importing_twice_adds_nothing_and_says_how_many_were_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "metrics.db"
    import_recordings(GO_RECORDINGS, db)
    before = records(db)
    capsys.readouterr()
    assert import_recordings(GO_RECORDINGS, db) == 0
    assert last_line(capsys) == "imported 0, skipped 2 (2 already imported, 0 still being written), failed 0"
    assert records(db) == before


def test_a_recording_still_being_written_is_skipped_then_imported_once_complete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recordings = tmp_path / "recordings"
    copy_recording(SUCCEEDED, recordings)
    writing = copy_recording(FAILED, recordings)
    metadata = (writing / "metadata.json").read_bytes()
    (writing / "metadata.json").unlink()  # the Go Pilot writes metadata.json last, when the run is over
    db = tmp_path / "metrics.db"

    assert import_recordings(recordings, db) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"skipped {FAILED}: still being written (no metadata.json yet); a later import picks it up" in out
    assert out[-1] == "imported 1, skipped 1 (0 already imported, 1 still being written), failed 0"
    assert sorted(records(db)) == ["GH-412"]

    (writing / "metadata.json").write_bytes(metadata)
    assert import_recordings(recordings, db) == 0
    assert last_line(capsys) == "imported 1, skipped 1 (1 already imported, 0 still being written), failed 0"
    assert sorted(records(db)) == ["GH-412", "GH-415"]


def test_corrupt_recordings_are_named_and_the_good_ones_beside_them_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recordings = tmp_path / "recordings"
    copy_recording(SUCCEEDED, recordings)
    copy_recording(FAILED, recordings)
    bad_metadata = copy_recording(SUCCEEDED, recordings, "TG-1763970000000")
    (bad_metadata / "metadata.json").write_text('{"id": "TG-1763970000000", "task_id": "GH-4')  # cut short
    no_stream = copy_recording(SUCCEEDED, recordings, "TG-1763970000001")
    (no_stream / "stream.jsonl").unlink()
    (no_stream / "stream.jsonl").mkdir()  # cannot be read as a file, even by root
    garbage = copy_recording(SUCCEEDED, recordings, "TG-1763970000002")
    (garbage / "stream.jsonl").write_bytes(bytes(range(256)) * 4)

    assert import_recordings(recordings, tmp_path / "metrics.db") == 1  # some failed: exit 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "imported 2, skipped 0, failed 3"
    failures = [line for line in out if line.startswith("failed TG-")]
    assert [line.split(":")[0] for line in failures] == [
        "failed TG-1763970000000",
        "failed TG-1763970000001",
        "failed TG-1763970000002",
    ]
    assert failures[0].startswith("failed TG-1763970000000: metadata.json is not valid JSON (")
    assert failures[1] == "failed TG-1763970000001: cannot read stream.jsonl: Is a directory"
    # 1,024 bytes of 0x00..0xff: split at \n (0x0a), \r (0x0d) and the other line breaks Python knows.
    assert failures[2].startswith("failed TG-1763970000002: stream.jsonl holds no recorded events (")
    assert sorted(records(tmp_path / "metrics.db")) == ["GH-412", "GH-415"]


def test_a_corrupt_recording_is_imported_once_repaired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording = copy_recording(SUCCEEDED, tmp_path / "recordings")
    good = (recording / "metadata.json").read_bytes()
    (recording / "metadata.json").write_bytes(good[: len(good) // 2])
    import_recordings(tmp_path / "recordings", tmp_path / "metrics.db")
    (recording / "metadata.json").write_bytes(good)
    capsys.readouterr()
    assert import_recordings(tmp_path / "recordings", tmp_path / "metrics.db") == 0
    assert last_line(capsys) == "imported 1, skipped 0, failed 0"


def test_an_import_cut_short_is_completed_by_the_next_one(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    store = MetricsStore.open(db)
    store.pid = int(gone.stdout)  # the row of an import whose process has since ended, before it finished
    store.begin_execution(
        {
            "execution_id": execution_id_for(f"pilot-go:{SUCCEEDED}"),
            "task_id": "GH-412",
            "project": "shop",
            "agent_command": ["import"],
            "started_at_ms": ms("2026-11-24T09:15:00"),
            "source_key": f"pilot-go:{SUCCEEDED}",
        }
    )
    store.close()
    import_recordings(GO_RECORDINGS, db)
    stored = records(db)
    assert sorted(stored) == ["GH-412", "GH-415"]
    assert (stored["GH-412"].status, stored["GH-412"].cost_nano_usd) == ("succeeded", 659477600)


# -- dry run, sinks --------------------------------------------------------------------------------------


def test_a_dry_run_prints_what_it_would_import_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "metrics.db"
    assert import_recordings(GO_RECORDINGS, db, "--dry-run") == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"would import {SUCCEEDED}: task GH-412, project shop, started 2026-11-24T09:15:00+00:00, "
        "Pilot status completed",
        f"would import {FAILED}: task GH-415, project shop, started 2026-11-24T13:40:00+00:00, "
        "Pilot status failed",
        "would import 2, skipped 0, failed 0 (dry run: nothing written)",
    ]
    assert not db.exists()


def test_a_dry_run_beside_an_earlier_import_counts_it_as_skipped_and_adds_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recordings = tmp_path / "recordings"
    copy_recording(SUCCEEDED, recordings)
    db = tmp_path / "metrics.db"
    import_recordings(recordings, db)
    copy_recording(FAILED, recordings)
    capsys.readouterr()
    import_recordings(recordings, db, "--dry-run")
    assert last_line(capsys) == (
        "would import 1, skipped 1 (1 already imported, 0 still being written), failed 0 "
        "(dry run: nothing written)"
    )
    assert sorted(records(db)) == ["GH-412"]


def test_other_plugins_see_imported_executions(tmp_path: Path) -> None:
    sink = SeenExecutions()
    import_recordings(GO_RECORDINGS, tmp_path / "metrics.db", plugins=(("sink", sink),))
    assert sink.completed == [("GH-412", "succeeded"), ("GH-415", "failed")]


def test_with_no_sinks_only_the_metrics_database_sees_them(tmp_path: Path) -> None:
    sink = SeenExecutions()
    import_recordings(GO_RECORDINGS, tmp_path / "metrics.db", "--no-sinks", plugins=(("sink", sink),))
    assert sink.completed == []
    assert sorted(records(tmp_path / "metrics.db")) == ["GH-412", "GH-415"]


def test_without_a_terminal_there_is_no_progress_bar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_recordings(GO_RECORDINGS, tmp_path / "metrics.db")
    assert capsys.readouterr().err == ""


# -- transcripts -------------------------------------------------------------------------------------------


def test_a_transcript_becomes_an_execution_named_after_its_file(tmp_path: Path) -> None:
    path = tmp_path / "GH-7.jsonl"
    shutil.copy(transcript("v2.1.328"), path)
    assert import_transcripts([path], tmp_path / "metrics.db") == 0
    record = records(tmp_path / "metrics.db")["GH-7"]
    # Its init line's cwd is /home/user/project; result: total_cost_usd 0.03267200000000001 -> 32672000.
    assert (record.project, record.project_path) == ("project", "/home/user/project")
    assert (record.status, record.tokens_total, record.cost_nano_usd) == ("succeeded", 21086, 32672000)


def test_task_id_and_project_options_name_every_transcript(tmp_path: Path) -> None:
    import_transcripts(
        [transcript("v2.1.328"), transcript("v2.1.220-success-write")],
        tmp_path / "metrics.db",
        "--task-id",
        "GH-9",
        "--project",
        "shop",
    )
    store = MetricsStore.open(tmp_path / "metrics.db")
    rows = store.conn.execute("SELECT task_id, project FROM executions").fetchall()
    store.close()
    assert rows == [("GH-9", "shop"), ("GH-9", "shop")]


def test_a_transcript_takes_its_times_from_its_lines_timestamps(tmp_path: Path) -> None:
    import_transcripts([transcript("v2.1.328")], tmp_path / "metrics.db")
    (record,) = records(tmp_path / "metrics.db").values()
    # First timestamp 2026-11-25T02:44:07.330Z (line 2), last 07.437Z (line 4); the result reports
    # duration_ms 310, which ends later: 07.330 + 0.310 = 07.640.
    assert record.started_at_ms == ms("2026-11-25T02:44:07.330")
    assert (record.ended_at_ms, record.duration_ms) == (ms("2026-11-25T02:44:07.640"), 310)


def test_a_transcript_without_timestamps_ends_at_its_files_modification_time(tmp_path: Path) -> None:
    path = tmp_path / "GH-8.jsonl"
    shutil.copy(transcript("v2.1.72-error"), path)
    mtime = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc).timestamp()
    os.utime(path, (mtime, mtime))
    import_transcripts([path], tmp_path / "metrics.db")
    record = records(tmp_path / "metrics.db")["GH-8"]
    # No line has a timestamp; the result reports duration_ms 488629: it started that long before.
    assert record.ended_at_ms == ms("2026-01-05T10:00:00")
    assert record.started_at_ms == ms("2026-01-05T10:00:00") - 488_629


def test_a_transcript_is_imported_once_under_any_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "a" / "GH-7.jsonl"
    first.parent.mkdir()
    shutil.copy(transcript("v2.1.328"), first)
    db = tmp_path / "metrics.db"
    import_transcripts([first.parent], db)
    copy = tmp_path / "renamed.jsonl"
    shutil.copy(first, copy)
    capsys.readouterr()
    assert import_transcripts([first, copy], db) == 0
    assert last_line(capsys) == "imported 0, skipped 2 (2 already imported, 0 still being written), failed 0"
    (record,) = records(db).values()
    assert record.source_key == "transcript:sha256:" + hashlib.sha256(first.read_bytes()).hexdigest()


def test_a_file_that_is_not_a_transcript_is_named_and_the_others_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.jsonl"
    notes.write_text("just some text\n")
    paths = [notes, transcript("v2.1.328"), tmp_path / "missing.jsonl"]
    assert import_transcripts(paths, tmp_path / "metrics.db") == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"failed {notes}: not a stream-json transcript: no line is a JSON object",
        f"failed {tmp_path / 'missing.jsonl'}: no such file",
        "imported 1, skipped 0, failed 2",
    ]


def test_a_transcript_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import_transcripts([transcript("v2.1.328")], tmp_path / "metrics.db", "--dry-run")
    assert last_line(capsys) == "would import 1, skipped 0, failed 0 (dry run: nothing written)"
    assert not (tmp_path / "metrics.db").exists()
