"""``pilot replay``: every recorded transcript goes through the hooks as one execution, line for line, with
the status its own ``result`` gives, and event times taken from the transcript's timestamps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import ALL_TRANSCRIPTS, transcript
from hookspecs import cli
from hookspecs.manager import PluginHost
from recording import Recorder

STARTED_AT = "2026-11-20T10:00:00Z"
START = datetime(2026, 11, 20, 10, 0, 0, tzinfo=timezone.utc)

# What each transcript's last `result` line says (subtype, is_error), read off the files by hand: only the
# two "error" recordings have is_error true (both under subtype "success").
EXPECTED_STATUS = {
    "v1.0.x-success-long-139-turns-sonnet-4-mcp.jsonl": "succeeded",
    "v2.0.22-success-resumed-image-tool-result-zero-haiku-modelusage.jsonl": "succeeded",
    "v2.1.178-success-explore-subagent-haiku-multi-model.jsonl": "succeeded",
    "v2.1.178-success-general-purpose-subagent-multi-model.jsonl": "succeeded",
    "v2.1.220-error-model-not-found-api-404.jsonl": "failed",
    "v2.1.220-success-subagent-agent-tool-thinking.jsonl": "succeeded",
    "v2.1.220-success-write-tool.jsonl": "succeeded",
    "v2.1.328-success-bash-tool-loopback-api.jsonl": "succeeded",
    "v2.1.72-error-api-connection-EAI_AGAIN-subtype-success-is_error-true.jsonl": "failed",
    "v2.1.72-success-3-subagents-haiku-sonnet-multi-model-long.jsonl": "succeeded",
}


@dataclass
class Replay:
    path: Path
    exit_code: int
    recorder: Recorder


def pilot_replay(path: Path, *options: str) -> Replay:
    recorder = Recorder()
    host = PluginHost.create(plugins=[("recorder", recorder)], load_entrypoints=False, env={})
    argv = ["replay", str(path), "--task-id", "T-1", "--project", "demo", *options]
    return Replay(path=path, exit_code=cli.main(argv, host=host), recorder=recorder)


def non_blank_lines(path: Path) -> list[tuple[int, str]]:
    """``(1-based line number, text)`` of every line of the file that is not blank: the events to expect."""
    return [
        (number, line.decode("utf-8").rstrip("\r\n"))
        for number, line in enumerate(path.read_bytes().splitlines(keepends=True), start=1)
        if line.strip()
    ]


@pytest.fixture(scope="module", params=ALL_TRANSCRIPTS, ids=lambda path: path.name)
def replay(request: pytest.FixtureRequest) -> Replay:
    return pilot_replay(request.param, "--started-at", STARTED_AT)


def test_every_non_blank_line_reaches_on_stream_event_with_its_line_number(replay: Replay) -> None:
    expected = non_blank_lines(replay.path)
    assert [(event.line_number, event.text) for event in replay.recorder.events] == expected


def test_no_line_of_a_recorded_transcript_is_malformed(replay: Replay) -> None:
    assert replay.recorder.result.malformed_lines == 0


def test_the_status_and_exit_code_are_what_the_transcripts_result_says(replay: Replay) -> None:
    status = EXPECTED_STATUS[replay.path.name]
    assert (replay.recorder.result.status, replay.exit_code) == (status, 0 if status == "succeeded" else 1)


def test_a_replay_starts_with_phase_0_and_ends_with_one_completion(replay: Replay) -> None:
    hooks = [hook for hook, _ in replay.recorder.calls]
    assert (hooks[0], replay.recorder.calls[0][1].index) == ("on_phase_start", 0)
    assert hooks[-2:] == ["on_phase_end", "on_execution_complete"]
    assert hooks.count("on_execution_complete") == 1


def test_replayed_events_keep_their_recorded_spacing_from_the_given_start() -> None:
    # The 2.1.328 transcript: line 1 (init) and line 5 (result) carry no timestamp; lines 2-4 are stamped
    # 02:44:07.330, .404 and .437. The first stamp moves to the start, 10:00:00.000; the others keep their
    # distance to it: +74 ms and +107 ms. A line without a stamp takes the time of the line before it
    # (the start, for line 1).
    run = pilot_replay(transcript("v2.1.328"), "--started-at", STARTED_AT)
    times = [(event.line_number, event.received_at) for event in run.recorder.events]
    assert times == [
        (1, START),
        (2, datetime(2026, 11, 20, 10, 0, 0, 0, tzinfo=timezone.utc)),
        (3, datetime(2026, 11, 20, 10, 0, 0, 74_000, tzinfo=timezone.utc)),
        (4, datetime(2026, 11, 20, 10, 0, 0, 107_000, tzinfo=timezone.utc)),
        (5, datetime(2026, 11, 20, 10, 0, 0, 107_000, tzinfo=timezone.utc)),
    ]


def test_a_replay_ends_at_the_results_duration_when_that_is_after_the_last_event() -> None:
    # The 2.1.328 result says duration_ms 310: later than the last stamped event (+107 ms), so the
    # execution ends at 10:00:00.310.
    run = pilot_replay(transcript("v2.1.328"), "--started-at", STARTED_AT)
    result = run.recorder.result
    assert (result.ended_at, result.duration_ms) == (
        datetime(2026, 11, 20, 10, 0, 0, 310_000, tzinfo=timezone.utc),
        310,
    )


def test_replayed_phases_take_their_times_from_the_transcript() -> None:
    # Line 2 (stamped +0 ms) asks for Bash `echo hello-from-mock`: planning lasts 0 ms, executing runs
    # from there to the end at +310 ms.
    run = pilot_replay(transcript("v2.1.328"), "--started-at", STARTED_AT)
    ended = [(phase.name, phase.duration_ms) for phase in run.recorder.payloads("on_phase_end")]
    assert ended == [("planning", 0), ("executing", 310)]


def test_a_transcript_without_timestamps_ends_at_start_plus_the_results_duration() -> None:
    # The 1.0.x transcript has no timestamps at all; its result says duration_ms 515335 = 8 min 35.335 s.
    run = pilot_replay(transcript("v1.0.x"), "--started-at", STARTED_AT)
    assert {event.received_at for event in run.recorder.events} == {START}
    result = run.recorder.result
    assert (result.ended_at, result.duration_ms) == (
        datetime(2026, 11, 20, 10, 8, 35, 335_000, tzinfo=timezone.utc),
        515335,
    )


def test_replaying_several_files_records_one_execution_each_and_fails_if_one_failed() -> None:
    recorder = Recorder()
    host = PluginHost.create(plugins=[("recorder", recorder)], load_entrypoints=False, env={})
    files = [transcript("v2.1.328"), transcript("v2.1.220-error"), transcript("v2.1.328")]
    code = cli.main(["replay", *map(str, files), "--task-id", "T-9", "--project", "demo"], host=host)
    results = recorder.payloads("on_execution_complete")
    # 2.1.328 succeeded, the 404 transcript failed (is_error true), 2.1.328 again succeeded.
    assert [r.status for r in results] == ["succeeded", "failed", "succeeded"]
    assert len({e.execution_id for e in recorder.executions}) == 3
    assert code == 1


def test_replaying_a_missing_file_among_several_replays_none() -> None:
    recorder = Recorder()
    host = PluginHost.create(plugins=[("recorder", recorder)], load_entrypoints=False, env={})
    code = cli.main(
        ["replay", str(transcript("v2.1.328")), "no-such.jsonl", "--task-id", "T", "--project", "p"],
        host=host,
    )
    assert code == 2 and recorder.calls == []
