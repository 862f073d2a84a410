"""Hostile input: whatever an agent prints, nothing raises out of the stream parser or the accounting, the bad
lines are counted, and every number stored is a non-negative integer that fits SQLite.

Property-based tests (hypothesis) drive ``decode_line``, the ``ExecutionDriver`` (with the metrics plugin
recording into a real database) and ``StreamFolder``. A corpus of nasty lines goes through ``pilot replay``
and ``pilot run``, one case per test, each with what is stored (RELIABILITY.md has the table).

The corpus builds on the shared transcript v2.1.328: init, assistant (a Bash tool use: planning -> executing),
user, assistant, result. Its result reports claude-opus-5-5 with 2003 input + 83 output + 15000 cache-read +
4000 cache-write tokens = 21086, costUSD 0.03267200000000001 = 32672000 nano-dollars (test_record_fixtures).
Without the result, the two assistant lines give 1001 + 1 + 5000 + 2000 = 8002 and 1002 + 1 + 10000 + 2000 =
13003 tokens: 21005.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import transcript
from hookspecs import cli
from hookspecs.execution import ExecutionDriver
from hookspecs.manager import PluginHost
from hookspecs.payloads import Execution
from hookspecs.streamjson import decode_line
from pilot_metrics_plugin.accounting import MAX_COST_NANO_USD, MAX_TOKENS, StreamFolder
from pilot_metrics_plugin.config import Config
from pilot_metrics_plugin.plugin import MetricsPlugin
from pilot_metrics_plugin.pricing import PriceTable
from recording import Recorder

AGENT_SCRIPT = Path(__file__).resolve().parent / "agent_script.py"
FIXTURE = transcript("v2.1.328")
FIXTURE_LINES = FIXTURE.read_bytes().splitlines(keepends=True)
RESULT_LINE = FIXTURE_LINES[-1]
SQLITE_INT_MAX = 2**63 - 1
TOKENS_TOTAL = 21086
COST_NANO_USD = 32_672_000
TOKENS_WITHOUT_RESULT = 21005
INT_DIGITS_LIMIT = getattr(sys, "get_int_max_str_digits", lambda: 0)()

INTEGER_COLUMNS = (
    "started_at_ms",
    "ended_at_ms",
    "duration_ms",
    "updated_at_ms",
    "num_turns",
    "tokens_input",
    "tokens_output",
    "tokens_cache_read",
    "tokens_cache_write",
    "tokens_cache_write_1h",
    "tokens_total",
    "cost_nano_usd",
    "reported_cost_nano_usd",
    "files_changed",
    "lines_added",
    "lines_removed",
    "malformed_lines",
    "usage_complete",
)
MODEL_INTEGER_COLUMNS = (
    "tokens_input",
    "tokens_output",
    "tokens_cache_read",
    "tokens_cache_write",
    "tokens_cache_write_1h",
    "tokens_total",
    "cost_nano_usd",
)


def stored_numbers_problems(db: Path, execution_id: str) -> list[str]:
    """Every stored number of the execution and its models that is not a non-negative 64-bit integer (or
    NULL where NULL means unknown)."""
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            f"SELECT {', '.join(INTEGER_COLUMNS)} FROM executions WHERE execution_id = ?", (execution_id,)
        ).fetchone()
        models = conn.execute(
            f"SELECT {', '.join(MODEL_INTEGER_COLUMNS)} FROM execution_models WHERE execution_id = ?",
            (execution_id,),
        ).fetchall()
    finally:
        conn.close()
    assert row is not None, "no row stored"
    problems = []
    for columns, values in [(INTEGER_COLUMNS, row), *((MODEL_INTEGER_COLUMNS, model) for model in models)]:
        for column, value in zip(columns, values, strict=True):
            nullable = column in (
                "num_turns",
                "cost_nano_usd",
                "reported_cost_nano_usd",
                "files_changed",
                "lines_added",
                "lines_removed",
                "ended_at_ms",
                "duration_ms",
            )
            if value is None and nullable:
                continue
            if type(value) is not int or not 0 <= value <= SQLITE_INT_MAX:
                problems.append(f"{column} = {value!r}")
    return problems


# -- decode_line ---------------------------------------------------------------------------------------------


def _reject(name: str) -> Any:
    raise ValueError(name)


REFERENCE = json.JSONDecoder(parse_constant=_reject)
"""The standard decoder, strict about NaN and Infinity: what decode_line must agree with."""

_json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10)
)
JSON_VALUES = st.recursive(
    _json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
JSON_TEXTS = st.one_of(
    JSON_VALUES.map(lambda value: json.dumps(value)),  # NaN and Infinity come out as bare words
    st.tuples(
        st.sampled_from(["", " ", "\t", "x", "{", "}", "]", ",", "\ufeff"]),
        JSON_VALUES.map(json.dumps),
        st.sampled_from(["", " ", "\t", "x", "{", "}", "]", ",", "\r", "\x00"]),
    ).map("".join),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),  # lone surrogates are not text to encode
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decode_line_never_raises_on_any_bytes(data: bytes) -> None:
    obj, text, reason = decode_line(data)
    if obj is None:
        assert text is None
    else:
        assert type(obj) is dict and type(text) is str and reason is None


@settings(max_examples=500, deadline=None)
@given(JSON_TEXTS)
def test_decode_line_accepts_exactly_the_lines_that_are_one_strict_json_object(text: str) -> None:
    obj, _, reason = decode_line(text.encode("utf-8", "surrogatepass") + b"\n")
    try:
        expected = REFERENCE.decode(text)
    except (ValueError, RecursionError):
        expected = None
    if text.strip() == "":
        assert (obj, reason) == (None, None)  # blank: skipped, not counted
    elif isinstance(expected, dict):
        assert obj == expected
    else:
        assert obj is None and reason is not None


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("where", ["top", "nested"])
def test_nan_and_infinity_anywhere_make_the_line_malformed(constant: str, where: str) -> None:
    value = constant if where == "top" else f'{{"usage":{{"input_tokens":[1,{constant}]}}}}'
    assert decode_line(f'{{"type":"result","x":{value}}}'.encode())[2] is not None


# -- the ExecutionDriver, with the metrics plugin recording --------------------------------------------------

_SLOT_VALUES = (
    st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
    | st.text(max_size=8)
    | st.lists(st.integers(), max_size=2)
    | st.sampled_from([10**15, 10**15 + 1, 2**63, -1, 0.5, "12", {"n": 1}])
)
"""What may stand where a token count or a cost goes."""
_USAGE = st.fixed_dictionaries(
    {},
    optional={
        "input_tokens": _SLOT_VALUES,
        "output_tokens": _SLOT_VALUES,
        "cache_read_input_tokens": _SLOT_VALUES,
        "cache_creation_input_tokens": _SLOT_VALUES,
        "cache_creation": st.fixed_dictionaries({}, optional={"ephemeral_1h_input_tokens": _SLOT_VALUES}),
    },
)
_MODEL_USAGE = st.fixed_dictionaries(
    {},
    optional={
        "inputTokens": _SLOT_VALUES,
        "outputTokens": _SLOT_VALUES,
        "cacheReadInputTokens": _SLOT_VALUES,
        "cacheCreationInputTokens": _SLOT_VALUES,
        "cacheCreationEphemeral1hInputTokens": _SLOT_VALUES,
        "costUSD": _SLOT_VALUES,
    },
)
_MODELS = st.sampled_from(
    ["claude-opus-5-5", "claude-sonnet-4-6", "claude-haiku-4-5-20251001", "no-such-model", "<synthetic>", ""]
)
_TOOLS = st.sampled_from(["Read", "Edit", "Bash", "Task", "Grep", "Unknown"])
_ASSISTANT = st.builds(
    lambda message_id, model, usage, tool, path, parent: {
        "type": "assistant",
        "parent_tool_use_id": parent,
        "message": {
            "id": message_id,
            "model": model,
            "usage": usage,
            "content": [
                {
                    "type": "tool_use",
                    "id": f"t-{message_id}",
                    "name": tool,
                    "input": {"file_path": path, "command": path},
                }
            ],
        },
    },
    st.sampled_from(["m1", "m2", "m3", None, 7]),
    _MODELS,
    _USAGE | _SLOT_VALUES,
    _TOOLS,
    st.text(max_size=12) | _SLOT_VALUES,
    st.none() | st.just("toolu_parent"),
)
_RESULT = st.builds(
    lambda subtype, is_error, usage, model_usage, total, turns: {
        "type": "result",
        "subtype": subtype,
        "is_error": is_error,
        "usage": usage,
        "modelUsage": model_usage,
        "total_cost_usd": total,
        "num_turns": turns,
        "duration_ms": turns,
    },
    st.sampled_from(["success", "error_max_turns", "error_during_execution", 3]),
    st.booleans() | _SLOT_VALUES,
    _USAGE | _SLOT_VALUES,
    st.dictionaries(_MODELS, _MODEL_USAGE | _SLOT_VALUES, max_size=3) | _SLOT_VALUES,
    _SLOT_VALUES,
    _SLOT_VALUES,
)
_OTHER = st.dictionaries(
    st.sampled_from(["type", "subtype", "timestamp", "message", "model"]), _SLOT_VALUES, max_size=4
)
_GARBAGE = st.sampled_from(
    [
        b"not json\n",
        b"[1, 2]\n",
        b"42\n",
        b'"text"\n',
        b"null\n",
        b"\n",
        b"   \n",
        b'{"type":"result"\n',
        b'{"a":NaN}\n',
        b'{"t":"caf\xe9"}\n',
        b"\xff\xfe\n",
        b'{"a":' * 3000 + b"}" * 3000 + b"\n",
    ]
)
STREAM_LINES = st.lists(
    st.one_of(
        st.one_of(_ASSISTANT, _RESULT, _OTHER).map(lambda event: json.dumps(event).encode() + b"\n"),
        _GARBAGE,
        st.binary(max_size=30),
    ),
    max_size=12,
)
START = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


@dataclass
class RecordingHost:
    host: PluginHost
    recorder: Recorder
    db: Path


@pytest.fixture(scope="module")
def recording_host(tmp_path_factory: pytest.TempPathFactory) -> RecordingHost:
    """The metrics plugin and a recorder; strict, so that any plugin's exception fails the test."""
    db = tmp_path_factory.mktemp("fuzz") / "metrics.db"
    recorder = Recorder()
    metrics = MetricsPlugin(db_path=db, config=Config())
    host = PluginHost.create(
        [("recorder", recorder), ("metrics", metrics)],
        load_entrypoints=False,
        env={"PILOT_STRICT_PLUGINS": "1"},
    )
    return RecordingHost(host, recorder, db)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=STREAM_LINES, number=st.integers(min_value=0, max_value=10**12))
def test_any_stream_is_recorded_with_bad_lines_counted_and_only_non_negative_integers_stored(
    recording_host: RecordingHost, lines: list[bytes], number: int
) -> None:
    recorder = recording_host.recorder
    recorder.calls.clear()
    execution = Execution(f"fuzz-{number}-{time.monotonic_ns()}", "T", "p", None, ("fuzz",), None, START)
    driver = ExecutionDriver(recording_host.host, execution)
    driver.start()
    for line in lines:
        driver.feed(line, lambda raw: START)
    status, error = driver.status_from_stream()
    result = driver.complete(status=status, exit_code=None, error=error, ended_at=START)
    verdicts = [decode_line(line) for line in lines]
    bad = sum(1 for obj, _, reason in verdicts if obj is None and reason is not None)
    good = sum(1 for obj, _, _ in verdicts if obj is not None)
    assert result.malformed_lines == bad
    assert len(recorder.events) == good
    assert recorder.payloads("on_execution_complete") == [result]
    assert result.plugin_errors == ()
    assert stored_numbers_problems(recording_host.db, execution.execution_id) == []


# -- StreamFolder --------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_ASSISTANT, _RESULT, _OTHER), max_size=8))
def test_the_fold_of_any_events_gives_bounded_non_negative_integers(events: list[dict[str, Any]]) -> None:
    folder = StreamFolder()
    for event in events:
        folder.feed(event, json.dumps(event))
    account = folder.account(date(2026, 11, 20), PriceTable.load())
    tokens = (
        account.tokens_input,
        account.tokens_output,
        account.tokens_cache_read,
        account.tokens_cache_write,
    )
    assert all(type(n) is int and 0 <= n <= MAX_TOKENS for n in (*tokens, account.tokens_cache_write_1h))
    assert account.tokens_total == sum(tokens) <= MAX_TOKENS
    assert account.tokens_cache_write_1h <= account.tokens_cache_write
    assert account.cost_nano_usd is None or 0 <= account.cost_nano_usd <= MAX_COST_NANO_USD
    assert (account.cost_nano_usd is None) == (account.cost_source == "unknown")
    for model in account.models:
        parts = (model.tokens_input, model.tokens_output, model.tokens_cache_read, model.tokens_cache_write)
        assert model.tokens_total == sum(parts) and all(type(n) is int and n >= 0 for n in parts)
        assert model.cost_nano_usd is None or 0 <= model.cost_nano_usd <= MAX_COST_NANO_USD
    assert type(account.malformed_usage) is int and account.malformed_usage >= 0


# -- the corpus, through pilot replay ------------------------------------------------------------------------


def result_with(old: str, new: str) -> bytes:
    """The fixture's result line with the first ``old`` (in ``modelUsage``) replaced by ``new``."""
    text = RESULT_LINE.decode()
    assert old in text
    return text.replace(old, new, 1).encode()


def before_result(*extra: bytes) -> list[bytes]:
    """The fixture with ``extra`` lines inserted before its result."""
    return [*FIXTURE_LINES[:-1], *(line.rstrip(b"\n") + b"\n" for line in extra), RESULT_LINE]


def with_result(result: bytes) -> list[bytes]:
    return [*FIXTURE_LINES[:-1], result.rstrip(b"\n") + b"\n"]


def many_models_result(models: int, tokens_each: int) -> bytes:
    usage = {
        f"claude-opus-5-5-{n}": {"inputTokens": tokens_each, "outputTokens": tokens_each, "costUSD": 0.01}
        for n in range(models)
    }
    return json.dumps(
        {"type": "result", "subtype": "success", "is_error": False, "num_turns": 1, "modelUsage": usage}
    ).encode()


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@dataclass(frozen=True)
class Case:
    lines: Callable[[], list[bytes]]
    malformed_lines: int
    """As stored: lines dropped by the parser plus values the accounting ignored."""
    tokens_total: int
    cost_nano_usd: int | None
    status: str = "succeeded"


CORPUS: dict[str, Case] = {
    # Each malformed line is one dropped line; the fixture's own numbers are untouched.
    "not JSON": Case(lambda: before_result(b"Error: the agent crashed"), 1, TOKENS_TOTAL, COST_NANO_USD),
    "JSON that is not an object": Case(
        lambda: before_result(b"[1, 2]", b'"text"', b"42", b"null", b"true"), 5, TOKENS_TOTAL, COST_NANO_USD
    ),
    "nesting 100000 deep": Case(lambda: before_result(nested(100_000)), 1, TOKENS_TOTAL, COST_NANO_USD),
    # 500 levels decode (the limit is the interpreter's recursion limit) and mean nothing to the accounting.
    "nesting 500 deep in a field": Case(
        lambda: before_result(b'{"type":"assistant","message":{"content":[' + nested(500) + b"]}}"),
        0,
        TOKENS_TOTAL,
        COST_NANO_USD,
    ),
    "NaN": Case(
        lambda: before_result(b'{"type":"result","total_cost_usd":NaN}'), 1, TOKENS_TOTAL, COST_NANO_USD
    ),
    "Infinity": Case(
        lambda: before_result(b'{"type":"result","total_cost_usd":Infinity}', b'{"x":-Infinity}'),
        2,
        TOKENS_TOTAL,
        COST_NANO_USD,
    ),
    "not UTF-8": Case(
        lambda: before_result(b'{"type":"assistant","text":"caf\xe9"}'), 1, TOKENS_TOTAL, COST_NANO_USD
    ),
    "a line of 20 MiB": Case(
        lambda: before_result(b'{"type":"assistant","pad":"' + b"x" * (20 * 1024 * 1024) + b'"}'),
        1,
        TOKENS_TOTAL,
        COST_NANO_USD,
    ),
    "unknown event types": Case(
        lambda: before_result(
            b'{"type":"telemetry_v9","payload":{"x":1}}', b'{"no_type":true}', b'{"type":42}'
        ),
        0,
        TOKENS_TOTAL,
        COST_NANO_USD,
    ),
    # The last result holds the totals: the same result twice counts once.
    "the result event twice": Case(lambda: [*FIXTURE_LINES, RESULT_LINE], 0, TOKENS_TOTAL, COST_NANO_USD),
    # ... and a different last result wins: here an error with only 1 input token, no cost given.
    "a second result that differs": Case(
        lambda: [
            *FIXTURE_LINES,
            b'{"type":"result","subtype":"error_during_execution","is_error":true,'
            b'"usage":{"input_tokens":1},"total_cost_usd":0}\n',
        ],
        0,
        1,
        0,
        "failed",
    ),
    # A bad number in the result is ignored (0) and counted; the rest of the result stands.
    "a negative token count": Case(
        lambda: with_result(result_with('"cacheReadInputTokens":15000', '"cacheReadInputTokens":-15000')),
        1,
        TOKENS_TOTAL - 15000,
        COST_NANO_USD,
    ),
    "a token count that is not an integer": Case(
        lambda: with_result(
            result_with('"cacheCreationInputTokens":4000', '"cacheCreationInputTokens":4000.5')
        ),
        1,
        TOKENS_TOTAL - 4000,
        COST_NANO_USD,
    ),
    "a string where a number goes": Case(
        lambda: with_result(result_with('"inputTokens":2003', '"inputTokens":"2003"')),
        1,
        TOKENS_TOTAL - 2003,
        COST_NANO_USD,
    ),
    "a number beyond any float (1e400)": Case(
        lambda: with_result(result_with('"outputTokens":83', '"outputTokens":1e400')),
        1,
        TOKENS_TOTAL - 83,
        COST_NANO_USD,
    ),
    "a token count above 10^15": Case(
        lambda: with_result(result_with('"outputTokens":83', '"outputTokens":10000000000000000')),
        1,
        TOKENS_TOTAL - 83,
        COST_NANO_USD,
    ),
    "a cost that is negative": Case(
        # costUSD -1 is ignored: the one model then takes the result's total_cost_usd (the same 0.032672).
        lambda: with_result(result_with('"costUSD":0.03267200000000001', '"costUSD":-1')),
        1,
        TOKENS_TOTAL,
        COST_NANO_USD,
    ),
    # 10 models of 10^15 + 10^15 tokens: each count is allowed, the sum (2 * 10^16) is not: no usage kept,
    # the cost unknown rather than a guess, one more malformed value.
    "counts that add up past 10^15": Case(lambda: with_result(many_models_result(10, 10**15)), 1, 0, None),
    # 5000 models of 2 * 10^15 tokens: 10^19 would not even fit SQLite's 64-bit integers.
    "counts that add up past 2^63": Case(lambda: with_result(many_models_result(5000, 10**15)), 1, 0, None),
    # Without its result (cut off, no newline at the end of the file) the run failed; tokens come from the
    # assistant lines, the cost is estimated per response at opus-5-5's prices of 2026-09-23 on (per token:
    # input 4000, output 20000, 5-minute cache write 5000, cache read 200 nano-dollars):
    # 1001*4000 + 1*20000 + 2000*5000 + 5000*200 = 15_024_000 and 1002*4000 + 20000 + 10_000_000 + 10000*200
    # = 16_028_000: 31_052_000.
    "the last line cut off without a newline": Case(
        lambda: [*FIXTURE_LINES[:-1], RESULT_LINE[:200]], 1, TOKENS_WITHOUT_RESULT, 31_052_000, "failed"
    ),
}
if 0 < INT_DIGITS_LIMIT < 5000:
    CORPUS["an integer of 5000 digits"] = Case(
        lambda: before_result(b'{"type":"result","num_turns":' + b"7" * 5000 + b"}"),
        1,
        TOKENS_TOTAL,
        COST_NANO_USD,
    )


@dataclass
class Replayed:
    exit_code: int
    stderr: str
    record: dict[str, Any]
    recorder: Recorder
    problems: list[str]


def replay_lines(tmp_path: Path, lines: list[bytes], capsys: pytest.CaptureFixture[str]) -> Replayed:
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"".join(lines))
    db = tmp_path / "metrics.db"
    recorder = Recorder()
    host = PluginHost.create(
        [("recorder", recorder), ("metrics", MetricsPlugin(db_path=db, config=Config()))],
        load_entrypoints=False,
    )
    capsys.readouterr()
    argv = ["replay", str(path), "--task-id", "T", "--project", "p", "--started-at", "2026-11-20T10:00:00Z"]
    exit_code = cli.main(argv, host=host)
    stderr = capsys.readouterr().err
    assert cli.main(["metrics", "show", "--last", "--json", "--db", str(db)], host=host) == 0
    record = json.loads(capsys.readouterr().out)
    return Replayed(exit_code, stderr, record, recorder, stored_numbers_problems(db, record["execution_id"]))


@pytest.mark.parametrize("case", sorted(CORPUS), ids=str)
def test_a_nasty_line_is_counted_and_the_rest_of_the_stream_is_accounted(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = CORPUS[case]
    replayed = replay_lines(tmp_path, expected.lines(), capsys)
    record = replayed.record
    assert (record["status"], record["malformed_lines"], record["tokens_total"], record["cost_nano_usd"]) == (
        expected.status,
        expected.malformed_lines,
        expected.tokens_total,
        expected.cost_nano_usd,
    )
    assert replayed.exit_code == (0 if expected.status == "succeeded" else 1)
    assert replayed.problems == []
    # Nothing raised anywhere: no plugin failed, and every other plugin saw the execution end once.
    assert "pilot: plugin" not in replayed.stderr and "Traceback" not in replayed.stderr
    assert len(replayed.recorder.payloads("on_execution_complete")) == 1


def test_an_event_of_unknown_type_still_reaches_the_plugins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replayed = replay_lines(tmp_path, CORPUS["unknown event types"].lines(), capsys)
    # Line 5 is the first inserted line (after the fixture's four); no type, or one that is not text, is "".
    kinds = [(event.line_number, event.type) for event in replayed.recorder.events]
    assert kinds[4:7] == [(5, "telemetry_v9"), (6, ""), (7, "")]


def test_timestamps_centuries_apart_do_not_stop_a_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The first event sets the clock; a later one 9998 years on cannot be placed after the start: it keeps the
    # time of the event before it, and the execution still ends.
    lines = [
        b'{"type":"system","subtype":"init","timestamp":"0001-01-01T00:00:00Z"}\n',
        b'{"type":"assistant","timestamp":"9999-12-31T23:59:59Z","message":{"content":[]}}\n',
        b'{"type":"result","subtype":"success","is_error":false,"timestamp":"not a time"}\n',
    ]
    replayed = replay_lines(tmp_path, lines, capsys)
    assert (replayed.exit_code, replayed.record["status"], replayed.record["duration_ms"]) == (
        0,
        "succeeded",
        0,
    )
    assert replayed.problems == []


# -- streams that never end a line, through pilot run --------------------------------------------------------


@dataclass
class Ran:
    exit_code: int
    record: dict[str, Any]
    elapsed_s: float
    problems: list[str]


def run_agent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], timeout_s: float | None
) -> Ran:
    db = tmp_path / "metrics.db"
    project = tmp_path / "project"
    project.mkdir()
    host = PluginHost.create(
        [("metrics", MetricsPlugin(db_path=db, config=Config()))], load_entrypoints=False
    )
    argv = ["run", "--task-id", "T", "--project", "p", "--project-path", str(project)]
    if timeout_s is not None:
        argv += ["--timeout", str(timeout_s)]
    began = time.monotonic()
    exit_code = cli.main([*argv, "--", *command], host=host)
    elapsed_s = time.monotonic() - began
    capsys.readouterr()
    assert cli.main(["metrics", "show", "--last", "--json", "--db", str(db)], host=host) == 0
    record = json.loads(capsys.readouterr().out)
    return Ran(exit_code, record, elapsed_s, stored_numbers_problems(db, record["execution_id"]))


def agent(*steps: str) -> list[str]:
    return [sys.executable, str(AGENT_SCRIPT), *steps]


CUT_RESULT_HEX = RESULT_LINE[:200].hex()


def test_an_agent_that_exits_in_the_middle_of_a_line_gets_that_line_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The fixture's first four lines, then 200 bytes of its result and no newline, then exit 0.
    head = tmp_path / "head.jsonl"
    head.write_bytes(b"".join(FIXTURE_LINES[:-1]))
    ran = run_agent(tmp_path, capsys, agent("--fixture", str(head), "--raw", CUT_RESULT_HEX), None)
    assert (ran.exit_code, ran.record["status"], ran.record["malformed_lines"]) == (1, "failed", 1)
    assert (ran.record["tokens_total"], ran.record["usage_complete"]) == (TOKENS_WITHOUT_RESULT, False)
    assert ran.problems == []


def test_an_agent_that_hangs_in_the_middle_of_a_line_is_stopped_by_the_timeout_and_the_line_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = tmp_path / "head.jsonl"
    head.write_bytes(b"".join(FIXTURE_LINES[:-1]))
    ran = run_agent(tmp_path, capsys, agent("--fixture", str(head), "--raw", CUT_RESULT_HEX, "--hang"), 0.5)
    assert (ran.exit_code, ran.record["status"], ran.record["malformed_lines"]) == (124, "timed_out", 1)
    assert ran.record["tokens_total"] == TOKENS_WITHOUT_RESULT
    assert ran.problems == []


ENDLESS_WRITER = (
    "import sys\nout = sys.stdout.buffer\nwhile True:\n    out.write(b'x' * 65536)\n    out.flush()\n"
)


@pytest.mark.slow
def test_an_agent_that_writes_without_ever_ending_a_line_is_stopped_by_the_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Gigabytes without a newline: read 16 MiB at a time and dropped, counted once as one malformed line.
    ran = run_agent(tmp_path, capsys, [sys.executable, "-c", ENDLESS_WRITER], 1.0)
    assert (ran.exit_code, ran.record["status"], ran.record["malformed_lines"]) == (124, "timed_out", 1)
    assert ran.elapsed_s < 10  # 1 s to the timeout; the writer dies of SIGTERM at once
    assert ran.problems == []
