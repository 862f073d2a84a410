"""The performance figures of issue 7, each against a baseline measured in the same run, as one table.

    python benchmarks/run.py            # full sizes: 10,000 recorded executions, reports on 1,000,000
    python benchmarks/run.py --quick    # a smoke run: 1,000 recorded executions, reports on 20,000
    python benchmarks/run.py --data DIR # keep the generated database in DIR and reuse it next time

Figures (the README explains each): 1 hook overhead per stream event, and no disk I/O per event; 2 ingest
(`pilot replay`) against bare `json.loads`; 3 recording rate through the hooks; 4 reports at scale against
the same aggregate run directly with sqlite3, with their query plans; 5 export rate and peak memory;
6 start-up against `python -c "import pluggy"`. In-process timings are the best of several repeats; a
process's wall time is the best of several runs. Every database and home directory is temporary.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import generate
import pluggy

from hookspecs import spec
from hookspecs.execution import ExecutionDriver
from hookspecs.manager import PluginHost
from hookspecs.markers import hookimpl
from hookspecs.payloads import Execution, StreamEvent
from hookspecs.streamjson import decode_line, event_type
from pilot_metrics_plugin import store
from pilot_metrics_plugin.plugin import MetricsPlugin
from pilot_metrics_plugin.record import ModelUsageRecord, PhaseRecord
from pilot_metrics_plugin.store import EXECUTION_COLUMNS, MetricsStore


@dataclass(frozen=True)
class Sizes:
    recorded_executions: int
    report_executions: int
    repeats: int
    process_runs: int


FULL = Sizes(recorded_executions=10_000, report_executions=1_000_000, repeats=7, process_runs=5)
QUICK = Sizes(recorded_executions=1_000, report_executions=20_000, repeats=3, process_runs=3)
TRANSCRIPT_EVENTS = 2_000
REPORT_WALL_S = 0.5
EXPORT_ROWS_PER_S = 200_000
EXPORT_PEAK_MB = 100


@dataclass
class Row:
    figure: str
    measured: str
    baseline: str
    ratio: float | None
    target: str
    ok: bool | None

    def cells(self) -> list[str]:
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        result = "-" if self.ok is None else ("pass" if self.ok else "FAIL")
        return [self.figure, self.measured, self.baseline, ratio, self.target, result]


# -- measuring ------------------------------------------------------------------------------------------------


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    """The shortest of ``repeats`` runs of ``fn``, in seconds (the least disturbed by the machine)."""
    return best_of_each([fn], repeats)[0]


def best_of_each(fns: list[Callable[[], Any]], repeats: int) -> list[float]:
    """The shortest run of each of ``fns``, run in turn ``repeats`` times: a measured figure and its
    baseline see the same moments of a shared machine. A function that returns a float has timed itself."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            started = time.perf_counter()
            value = fn()
            seconds = value if isinstance(value, float) else time.perf_counter() - started
            best[i] = min(best[i], seconds)
    return best


@dataclass(frozen=True)
class ChildRun:
    seconds: float
    max_rss_kb: int


def run_child(args: list[str], env: dict[str, str], stdout: Any = subprocess.DEVNULL) -> ChildRun:
    """Run a process to its end: its wall time and its peak memory as ``wait4`` gives it, which counts this
    process's own (see ``run_measured``)."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(args, env=env, stdout=stdout, stderr=errors, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode not in (0, 1):  # `pilot replay` of a failed execution exits 1, on purpose
            errors.seek(0)
            raise RuntimeError(
                f"{' '.join(args)} exited {process.returncode}: {errors.read().decode()[-2000:]}"
            )
    return ChildRun(seconds, usage.ru_maxrss)


MEASURER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - started
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as report:
    json.dump({"seconds": seconds, "max_rss_kb": peak_kb}, report)
sys.exit(code)
"""
"""Runs a command and reports its wall time and peak memory: started by this small process, the command's
peak is its own."""


def run_measured(args: list[str], env: dict[str, str], stdout: Any = subprocess.DEVNULL) -> ChildRun:
    """``run_child`` with the process's own peak memory. A process started straight from this one would
    report at least this process's memory (the benchmark's, hundreds of MB after the in-process reports):
    Linux keeps the high-water mark of the memory a process leaves at exec, and a child begins in a copy of
    this one's. So a small process starts it and measures."""
    with tempfile.TemporaryDirectory() as temporary:
        report = Path(temporary) / "measured.json"
        run_child([sys.executable, "-c", MEASURER, str(report), *args], env, stdout)
        measured = json.loads(report.read_text())
    return ChildRun(measured["seconds"], measured["max_rss_kb"])


def best_child(args: list[str], env: dict[str, str], runs: int) -> float:
    return best_children([args], env, runs)[0]


def best_children(commands: list[list[str]], env: dict[str, str], runs: int) -> list[float]:
    """The shortest wall time of each command, run in turn ``runs`` times (after one warm-up run each, for
    the page cache and the bytecode cache)."""
    for args in commands:
        run_child(args, env)
    return best_of_each([lambda args=args: run_child(args, env).seconds for args in commands], runs)


def installed_env(env: dict[str, str], home: Path) -> dict[str, str]:
    """``env`` for a command run as after a `pip install`, which compiles every module: bytecode is written
    (to a cache of this run's own, by the warm-up run) and read, whatever PYTHONDONTWRITEBYTECODE says here;
    ``home`` is its PILOT_HOME."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PILOT_HOME"] = str(home)
    env["PYTHONPYCACHEPREFIX"] = str(home.parent / "pycache")
    return env


def pilot_command() -> list[str]:
    script = Path(sys.executable).with_name("pilot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hookspecs"]


@contextlib.contextmanager
def traced_sql() -> Iterator[list[str]]:
    """Every SQL statement run on a connection opened inside the block (``sqlite3.connect`` is wrapped)."""
    statements: list[str] = []
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    sqlite3.connect = connect  # type: ignore[assignment]
    try:
        yield statements
    finally:
        sqlite3.connect = real_connect  # type: ignore[assignment]


def write_syscalls() -> int:
    """Write system calls made by this process so far (all kinds: write, pwrite, writev), from /proc."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise RuntimeError("no syscw in /proc/self/io")


def file_state(*paths: Path) -> list[tuple[int, int] | None]:
    return [(p.stat().st_size, p.stat().st_mtime_ns) if p.exists() else None for p in paths]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.2f} µs"


# -- the work -------------------------------------------------------------------------------------------------


def new_execution(started_at: datetime, project: str = "bench") -> Execution:
    return Execution(
        execution_id=uuid.uuid4().hex,
        task_id="BENCH-1",
        project=project,
        project_path=None,
        agent_command=("claude", "-p", "benchmark"),
        model=None,
        started_at=started_at,
    )


class EmptyPlugin:
    """The baseline: a plugin whose ``on_stream_event`` does nothing."""

    @hookimpl
    def on_stream_event(self, execution: Execution, event: StreamEvent) -> None:
        pass


def metrics_host(db: Path) -> tuple[PluginHost, MetricsPlugin]:
    plugin = MetricsPlugin(db_path=db)
    return PluginHost.create([("metrics", plugin)], load_entrypoints=False), plugin


def decoded(lines: list[bytes]) -> list[tuple[dict[str, Any], str]]:
    out = []
    for line in lines:
        raw, text, _ = decode_line(line)
        assert raw is not None and text is not None
        out.append((raw, text))
    return out


# -- 1. hook overhead -----------------------------------------------------------------------------------------


def figure_hook_overhead(work: Path, lines: list[bytes], sizes: Sizes) -> list[Row]:
    now = datetime.now(timezone.utc)
    events = [
        StreamEvent(raw=raw, type=event_type(raw), line_number=n, received_at=now, text=text)
        for n, (raw, text) in enumerate(decoded(lines), start=1)
    ]
    db = work / "hooks.db"
    host, _ = metrics_host(db)

    def through(call: Callable[..., None]) -> Callable[[], float]:
        """One execution's events through ``call``, timed (the start and the end are not)."""

        def one_pass() -> float:
            execution = new_execution(now)
            driver = ExecutionDriver(host, execution)
            driver.start()
            started = time.perf_counter()
            for event in events:
                call(execution, event)
            seconds = time.perf_counter() - started
            driver.complete(status="succeeded", exit_code=0, error=None, ended_at=now)
            return seconds

        return one_pass

    dispatch = host.dispatcher.caller("on_stream_event")  # what ExecutionDriver calls per event
    host_path = through(dispatch)
    pm_hook = host.pm.hook.on_stream_event
    pluggy_path = through(lambda execution, event: pm_hook(execution=execution, event=event))

    empty = pluggy.PluginManager("pilot")
    empty.add_hookspecs(spec)
    empty.register(EmptyPlugin(), name="empty")
    empty_hook = empty.hook.on_stream_event
    execution = new_execution(now)

    def empty_pass() -> None:
        for event in events:
            empty_hook(execution=execution, event=event)

    n = len(events)
    baseline, measured_host, measured_pluggy = (
        seconds / n for seconds in best_of_each([empty_pass, host_path, pluggy_path], max(sizes.repeats, 7))
    )

    # No disk I/O per event: the same events once more, watching SQL, write calls and the files.
    execution = new_execution(now)
    with traced_sql() as statements:
        driver = ExecutionDriver(host, execution)
        driver.start()
        before_sql = len(statements)
        files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-journal")]
        before_files = file_state(*files)
        before_writes = write_syscalls()
        for event in events:
            dispatch(execution, event)
        writes = write_syscalls() - before_writes
        sql = len(statements) - before_sql
        files_changed = file_state(*files) != before_files
        driver.complete(status="succeeded", exit_code=0, error=None, ended_at=now)
    io_free = writes == 0 and sql == 0 and not files_changed
    return [
        Row(
            "1a on_stream_event, host dispatch",
            f"{us(measured_host)}/event",
            f"{us(baseline)} empty hookimpl via pm.hook",
            measured_host / baseline,
            "<= 3x",
            measured_host / baseline <= 3,
        ),
        Row(
            "1b on_stream_event, via pm.hook",
            f"{us(measured_pluggy)}/event",
            f"{us(baseline)} empty hookimpl via pm.hook",
            measured_pluggy / baseline,
            "<= 3x",
            measured_pluggy / baseline <= 3,
        ),
        Row(
            f"1c disk I/O during {n:,} events",
            f"{sql} SQL, {writes} write calls, files {'changed' if files_changed else 'unchanged'}",
            "-",
            None,
            "none",
            io_free,
        ),
    ]


# -- 2. ingest ------------------------------------------------------------------------------------------------


def figure_ingest(
    work: Path, transcript: Path, lines: list[bytes], env: dict[str, str], sizes: Sizes
) -> list[Row]:
    one_line = work / "one-line.jsonl"
    one_line.write_bytes(lines[-1] + b"\n")  # the result line alone: the execution's whole fixed work

    def bare_decode() -> None:
        loads = json.loads
        for line in lines:
            loads(line)

    replay = [*pilot_command(), "replay", "--task-id", "BENCH-2", "--project", "bench"]
    startup_s, total_s = best_children(
        [[*replay, str(one_line)], [*replay, str(transcript)]],
        installed_env(env, work / "ingest-home"),
        max(sizes.process_runs, 7),
    )

    # The same in one process: no interpreter start, so less noise.
    from hookspecs.replay import replay_transcript

    host, _ = metrics_host(work / "ingest.db")
    replay_transcript(host, one_line, task_id="warm", project="bench")
    decode_s, one_s, all_s = best_of_each(
        [
            bare_decode,
            lambda: replay_transcript(host, one_line, task_id="B", project="bench"),
            lambda: replay_transcript(host, transcript, task_id="B", project="bench"),
        ],
        max(sizes.repeats, 7),
    )
    process_ratio = (total_s - startup_s) / decode_s
    inprocess_ratio = (all_s - one_s) / decode_s
    n = len(lines)
    return [
        Row(
            f"2a pilot replay, {n:,} events",
            f"{ms(total_s)} = start-up {ms(startup_s)} + {ms(total_s - startup_s)}",
            f"{ms(decode_s)} json.loads x {n:,}",
            process_ratio,
            "<= 1.5x + start-up",
            process_ratio <= 1.5,
        ),
        Row(
            "2b same, in one process",
            f"{ms(all_s)} = fixed {ms(one_s)} + {ms(all_s - one_s)}",
            f"{ms(decode_s)} json.loads x {n:,}",
            inprocess_ratio,
            "<= 1.5x + fixed",
            inprocess_ratio <= 1.5,
        ),
    ]


# -- 3. recording ---------------------------------------------------------------------------------------------


def short_execution_events() -> list[tuple[dict[str, Any], str, int]]:
    """A small finished execution: five phases, two models, as ``(raw, text, offset_ms)``."""
    model, sub_model = generate.MAIN_MODEL, generate.SUB_AGENT_MODEL

    def assistant(message_id: str, block: dict[str, Any], model: str = model) -> dict[str, Any]:
        return {
            "type": "assistant",
            "message": {
                "model": model,
                "id": message_id,
                "role": "assistant",
                "content": [block],
                "usage": {
                    "input_tokens": 3,
                    "output_tokens": 20,
                    "cache_read_input_tokens": 20_000,
                    "cache_creation_input_tokens": 900,
                },
            },
            "parent_tool_use_id": None,
            "session_id": "s",
        }

    def tool(n: int, name: str, tool_input: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            assistant(
                f"msg_{n}", {"type": "tool_use", "id": f"toolu_{n}", "name": name, "input": tool_input}
            ),
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": f"toolu_{n}", "content": "ok"}],
                },
                "parent_tool_use_id": None,
                "session_id": "s",
            },
        ]

    raws: list[dict[str, Any]] = [{"type": "system", "subtype": "init", "model": model, "session_id": "s"}]
    raws += tool(1, "Read", {"file_path": "src/app.py"})
    raws += tool(2, "Edit", {"file_path": "src/app.py", "old_string": "a", "new_string": "b"})
    raws += tool(3, "Bash", {"command": "python -m pytest -q"})
    raws += tool(4, "Bash", {"command": "git commit -am 'Fix it'"})
    raws.append(assistant("msg_5", {"type": "text", "text": "Done."}))
    raws.append(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "duration_ms": 300_000,
            "num_turns": 5,
            "result": "Done.",
            "total_cost_usd": 0.123456789,
            "usage": {
                "input_tokens": 15,
                "output_tokens": 100,
                "cache_read_input_tokens": 100_000,
                "cache_creation_input_tokens": 4_500,
            },
            "modelUsage": {
                model: {
                    "inputTokens": 15,
                    "outputTokens": 100,
                    "cacheReadInputTokens": 100_000,
                    "cacheCreationInputTokens": 4_500,
                    "costUSD": 0.1,
                },
                sub_model: {
                    "inputTokens": 5,
                    "outputTokens": 50,
                    "cacheReadInputTokens": 9_000,
                    "cacheCreationInputTokens": 1_000,
                    "costUSD": 0.023456789,
                },
            },
        }
    )
    return [(raw, json.dumps(raw), i * 20_000) for i, raw in enumerate(raws)]  # 20 s apart


def figure_recording(work: Path, sizes: Sizes) -> list[Row]:
    events = short_execution_events()
    n = sizes.recorded_executions
    db = work / "recording.db"
    host, _ = metrics_host(db)
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    end_offset = timedelta(milliseconds=events[-1][2] + 1000)

    def record(first: int, count: int) -> None:
        for i in range(first, first + count):
            started = base + timedelta(minutes=7 * i)
            driver = ExecutionDriver(host, new_execution(started))
            driver.start()
            for raw, text, offset_ms in events:
                driver.feed_decoded(raw, text, started + timedelta(milliseconds=offset_ms))
            driver.complete(status="succeeded", exit_code=0, error=None, ended_at=started + end_offset)

    # The floor: the same rows written straight with sqlite3, one transaction per execution, WAL.
    floor_db = work / "recording-floor.db"
    MetricsStore.open(floor_db).close()
    phases = ("planning", "exploring", "implementing", "testing", "committing")

    conn = sqlite3.connect(floor_db, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")  # and the WAL checkpointing the store uses
    conn.execute(f"PRAGMA wal_autocheckpoint = {getattr(store, 'WAL_CHECKPOINT_PAGES', 1000):d}")

    columns = generate.STORED_COLUMNS
    insert, insert_phase, insert_model = generate.INSERT_EXECUTION, generate.INSERT_PHASE, generate.INSERT_MODEL
    model_usage = [
        (m, 5, 50, 9_000, 1_000, 0, 10_055, 23_456_789, "reported")
        for m in sorted((generate.MAIN_MODEL, generate.SUB_AGENT_MODEL))
    ]
    models_json = store.models_json([ModelUsageRecord(*usage) for usage in model_usage])

    def floor(first: int, count: int) -> None:
        for i in range(first, first + count):
            execution_id = uuid.uuid4().hex
            start_ms = 1_767_225_600_000 + i * 420_000
            phase_rows = [
                (execution_id, seq, name, start_ms + 40_000 * seq, start_ms + 40_000 * (seq + 1), 40_000, start_ms)
                for seq, name in enumerate(phases)
            ]
            row = dict.fromkeys(columns)
            row.update(
                execution_id=execution_id,
                task_id="BENCH-1",
                project="bench",
                agent_command="[]",
                status="succeeded",
                started_at_ms=start_ms,
                ended_at_ms=start_ms + 201_000,
                duration_ms=201_000,
                updated_at_ms=start_ms,
                tokens_input=20,
                tokens_output=150,
                tokens_cache_read=109_000,
                tokens_cache_write=5_500,
                tokens_cache_write_1h=0,
                tokens_total=114_670,
                cost_nano_usd=123_456_789,
                cost_source="reported",
                tool_calls='{"Bash": 2, "Edit": 1, "Read": 1}',
                files_read='["src/app.py"]',
                files_written='["src/app.py"]',
                commit_shas="[]",
                malformed_lines=0,
                usage_complete=1,
                phases_json=store.phases_json([PhaseRecord(*phase[2:6]) for phase in phase_rows]),
                models_json=models_json,
            )
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(insert, list(row.values()))
            conn.executemany(insert_phase, phase_rows)
            conn.executemany(insert_model, [(execution_id, *usage, start_ms) for usage in model_usage])
            conn.execute("COMMIT")

    # In ten alternating slices, so that both see the same moments of a shared machine.
    recorded_s = floor_s = 0.0
    slice_size = max(1, n // 10)
    with one_core():
        for first in range(0, n, slice_size):
            count = min(slice_size, n - first)
            started = time.perf_counter()
            record(first, count)
            recorded_s += time.perf_counter() - started
            started = time.perf_counter()
            floor(first, count)
            floor_s += time.perf_counter() - started
    conn.close()
    rate = n / recorded_s
    return [
        Row(
            f"3  recording {n:,} executions",
            f"{rate:,.0f} executions/s ({ms(recorded_s / n)} each)",
            f"{n / floor_s:,.0f}/s sqlite3, 1 txn each",
            recorded_s / floor_s,
            ">= 2,000/s",
            rate >= 2000,
        )
    ]


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """Pin this process to one CPU for the block: the figure is a one-core figure."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(allowed)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


# -- 4. reports -----------------------------------------------------------------------------------------------

FAILED = "('failed', 'timed_out', 'cancelled', 'interrupted')"
COUNTS = (
    "COUNT(*), COUNT(*) FILTER (WHERE status = 'succeeded'), COUNT(*) FILTER (WHERE status = 'running'), "
    "SUM(duration_ms), COUNT(duration_ms), SUM(tokens_total), SUM(cost_nano_usd), COUNT(cost_nano_usd)"
)


def floor_queries(start_ms: int, end_ms: int) -> dict[str, list[str]]:
    """Per report, the aggregate a user would write by hand against this store: the floor to compare with.
    Times are UTC (the reports run with ``--tz UTC``), so a day is ``started_at_ms / 86400000``."""
    where = f"started_at_ms >= {start_ms} AND started_at_ms < {end_ms}"
    return {
        "summary": [
            f"SELECT {COUNTS}, COUNT(*) FILTER (WHERE status IN {FAILED}), SUM(tokens_input), SUM(tokens_output), "
            "SUM(tokens_cache_read), SUM(tokens_cache_write), SUM(tokens_cache_write_1h), "
            "MIN(duration_ms), MAX(duration_ms), SUM(files_changed), SUM(lines_added), SUM(lines_removed), "
            f"COUNT(pr_url) FROM executions WHERE {where}",
            f"SELECT duration_ms FROM executions WHERE {where} AND duration_ms IS NOT NULL "
            "ORDER BY duration_ms LIMIT 1 OFFSET (SELECT COUNT(duration_ms) / 2 FROM executions WHERE "
            f"{where})",
            f"SELECT duration_ms FROM executions WHERE {where} AND duration_ms IS NOT NULL "
            "ORDER BY duration_ms DESC LIMIT 1 OFFSET (SELECT COUNT(duration_ms) / 20 FROM executions WHERE "
            f"{where})",
        ],
        "daily": [
            f"SELECT started_at_ms / 86400000 AS day, {COUNTS} FROM executions WHERE {where} GROUP BY day"
        ],
        "projects": [
            f"SELECT project, {COUNTS}, MAX(started_at_ms) FROM executions WHERE {where} GROUP BY project"
        ],
        "models": [
            "SELECT model, COUNT(*), SUM(tokens_input), SUM(tokens_output), SUM(tokens_cache_read), "
            "SUM(tokens_cache_write), SUM(tokens_total), SUM(cost_nano_usd), COUNT(cost_nano_usd) "
            f"FROM execution_models WHERE execution_{where.replace(' AND ', ' AND execution_')} GROUP BY model",
        ],
        "failures": [
            "SELECT failure_category, failure_reason, COUNT(*), MAX(started_at_ms) FROM executions "
            f"WHERE status IN {FAILED} AND {where} GROUP BY failure_category, failure_reason",
            f"SELECT COUNT(*) FROM executions WHERE status <> 'running' AND {where}",
        ],
        "peak": [
            f"SELECT (started_at_ms / 3600000 + 72) % 168 AS hour_of_week, COUNT(*) FROM executions WHERE {where} "
            "GROUP BY hour_of_week"
        ],
    }


REPORTS: tuple[tuple[str, list[str], int], ...] = (
    # name, arguments, days covered
    ("summary", ["summary", "--days", "365"], 365),
    ("daily", ["daily", "--days", "365"], 365),
    ("projects", ["projects"], 30),
    ("models", ["models"], 30),
    ("failures", ["failures"], 30),
    ("peak", ["peak"], 30),
)


def day_range_ms(days: int) -> tuple[int, int]:
    """``--days N`` in UTC: from the midnight N - 1 days before today to tomorrow's midnight."""
    today = datetime.now(timezone.utc).date()
    start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), timezone.utc)
    end = datetime.combine(today + timedelta(days=1), datetime.min.time(), timezone.utc)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def normalized(sql: str) -> str:
    """A statement with its literals replaced, to list each statement shape once."""
    sql = re.sub(r"'[^']*'", "'?'", sql)
    return " ".join(re.sub(r"\b\d+\b", "?", sql).split())


def explain(conn: sqlite3.Connection, sql: str) -> list[str]:
    try:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
    except sqlite3.Error as exc:
        return [f"(no plan: {exc})"]
    depth: dict[int, int] = {0: -1}
    out = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        out.append("  " * depth[node] + detail)
    return out


def figure_reports(db: Path, env: dict[str, str], sizes: Sizes, plans: list[str]) -> list[Row]:
    from hookspecs.cli import main

    host, _ = metrics_host(db)
    floor_conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = []
    for name, arguments, days in REPORTS:
        argv = ["metrics", *arguments, "--tz", "UTC", "--db", str(db)]

        def in_process(argv: list[str] = argv) -> None:
            with contextlib.redirect_stdout(io.StringIO()):
                code = main(argv, host=host)
            if code != 0:
                raise RuntimeError(f"pilot {' '.join(argv)} exited {code}")

        with traced_sql() as statements:
            in_process()
        inprocess_s = best_of(in_process, sizes.repeats)
        wall_s = best_child([*pilot_command(), *argv], env, sizes.process_runs)
        queries = floor_queries(*day_range_ms(days))[name]

        def floor(queries: list[str] = queries) -> None:
            for sql in queries:
                floor_conn.execute(sql).fetchall()

        floor()
        floor_s = best_of(floor, sizes.repeats)
        ratio = inprocess_s / floor_s
        rows.append(
            Row(
                f"4  {' '.join(arguments)}",
                f"{ms(wall_s)} wall; {ms(inprocess_s)} in process",
                f"{ms(floor_s)} sqlite3",
                ratio,
                f"< {REPORT_WALL_S * 1000:.0f} ms, <= 2x",
                wall_s < REPORT_WALL_S and ratio <= 2,
            )
        )
        seen: dict[str, tuple[str, int]] = {}
        for sql in statements:
            if sql.lstrip().upper().startswith(("SELECT", "WITH")) and "sqlite_master" not in sql:
                key = normalized(sql)
                seen[key] = (sql, seen.get(key, (sql, 0))[1] + 1)
        plans.append(f"pilot {' '.join(argv[:-2])}: {len(seen)} statement shapes")
        for sql, count in seen.values():
            plans.append(f"  x{count}  {' '.join(sql.split())[:150]}")
            plans.extend("      " + line for line in explain(floor_conn, sql))
        plans.append("  floor (sqlite3):")
        for sql in queries:
            plans.append(f"      {' '.join(sql.split())[:150]}")
            plans.extend("        " + line for line in explain(floor_conn, sql))
    floor_conn.close()
    return rows


# -- 5. export ------------------------------------------------------------------------------------------------


def figure_export(db: Path, work: Path, env: dict[str, str], executions: int) -> list[Row]:
    floor_conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)

    def floor() -> None:
        for _ in floor_conn.execute(
            f"SELECT {', '.join(EXECUTION_COLUMNS)} FROM executions ORDER BY started_at_ms"
        ):
            pass

    floor_s = best_of(floor, 1)
    floor_conn.close()
    rows = []
    for fmt in ("csv", "ndjson"):
        out = work / f"export.{fmt}"
        with open(out, "wb") as stdout:
            run = run_measured(
                [*pilot_command(), "metrics", "export", "--format", fmt, "--db", str(db)], env, stdout
            )
        lines = sum(1 for _ in open(out, "rb"))
        exported = lines - 1 if fmt == "csv" else lines
        size_mb = out.stat().st_size / 1e6
        out.unlink()
        rate = exported / run.seconds
        peak_mb = run.max_rss_kb / 1024
        rows.append(
            Row(
                f"5  export --format {fmt}",
                f"{rate:,.0f} rows/s ({exported:,} rows, {size_mb:,.0f} MB, {run.seconds:.1f} s); peak {peak_mb:.0f} MB",
                f"{executions / floor_s:,.0f} rows/s sqlite3 read",
                run.seconds / floor_s,
                f">= {EXPORT_ROWS_PER_S:,}/s, < {EXPORT_PEAK_MB} MB",
                rate >= EXPORT_ROWS_PER_S and peak_mb < EXPORT_PEAK_MB and exported == executions,
            )
        )
    rows.append(stored_lines_floor(db, work, min(executions, STORED_LINES)))
    return rows


STORED_LINES = 200_000


def stored_lines_floor(db: Path, work: Path, count: int) -> Row:
    """What no export can beat here: the NDJSON lines of the first ``count`` executions, stored ready-made
    (one text column, in time order), read with sqlite3 and written to a file, with nothing computed. The
    export's records are the same size, so this is the rate of the reading and writing alone."""
    from zoneinfo import ZoneInfo

    from pilot_metrics_plugin.reports import export
    from pilot_metrics_plugin.reports.query import ReportFilter

    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    lines_db, out = work / "stored-lines.db", work / "stored-lines.ndjson"
    target = sqlite3.connect(lines_db)
    target.execute("CREATE TABLE lines (started_at_ms INTEGER PRIMARY KEY, line TEXT NOT NULL)")
    stored = 0
    for batch in export.lines(source, ReportFilter(zone=ZoneInfo("UTC")), "ndjson"):
        batch = batch[: count - stored]
        target.executemany(
            "INSERT INTO lines VALUES (?, ?)", [(stored + i, line[:-1].decode()) for i, line in enumerate(batch)]
        )
        stored += len(batch)
        if stored >= count:
            break
    target.commit()
    target.close()
    source.close()

    def read_and_write() -> None:
        conn = sqlite3.connect(f"file:{lines_db}?mode=ro", uri=True)
        conn.text_factory = bytes
        with open(out, "wb", buffering=1 << 16) as output:
            cursor = conn.execute("SELECT line || char(10) FROM lines ORDER BY started_at_ms")
            while batch := cursor.fetchmany(256):
                output.writelines(row[0] for row in batch)
        conn.close()

    seconds = best_of(read_and_write, 3)
    size_mb = out.stat().st_size / 1e6
    out.unlink()
    lines_db.unlink()
    return Row(
        "5c floor: stored lines",
        f"{stored / seconds:,.0f} rows/s ({stored:,} NDJSON lines, {size_mb:,.0f} MB, read and written)",
        "-",
        None,
        "-",
        None,
    )


# -- 6. start-up ----------------------------------------------------------------------------------------------


def figure_startup(env: dict[str, str], sizes: Sizes) -> list[Row]:
    # A home of its own: figure 2's replays have recorded into the run's home.
    home = Path(env["PILOT_HOME"]).with_name("startup-home")
    MetricsStore.open(home / "data" / "metrics.db").close()  # an empty database where the default is
    runs = max(sizes.process_runs, 7)
    env = installed_env(env, home)
    measured_s, baseline_s = best_children(
        [[*pilot_command(), "metrics", "summary"], [sys.executable, "-c", "import pluggy"]], env, runs
    )
    ratio = measured_s / baseline_s
    return [
        Row(
            "6  start-up: metrics summary, empty DB",
            f"{ms(measured_s)} whole process",
            f'{ms(baseline_s)} python -c "import pluggy"',
            ratio,
            "<= 3x",
            ratio <= 3,
        )
    ]


# -- the run --------------------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"pluggy {pluggy.__version__}, {platform.system()} {platform.release()}"
    )


def report_db(data: Path, executions: int) -> Path:
    """The database of ``executions`` executions in ``data``: reused when it is there, else generated."""
    db = data / f"metrics-{executions}.db"
    if db.exists():
        print(f"reusing {db}", file=sys.stderr)
        return db
    partial = data / f".{db.name}.partial"
    partial.unlink(missing_ok=True)
    made = generate.generate_db(partial, executions, progress=True)
    partial.rename(db)
    print(
        f"generated {made.executions:,} executions ({made.phases:,} phases, {made.model_rows:,} model rows, "
        f"{made.failures:,} failures), {made.size_bytes / 1e6:,.0f} MB, in {made.seconds:.1f} s",
        file=sys.stderr,
    )
    return db


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--data", type=Path, default=None, help="keep (and reuse) the generated database here"
    )
    parser.add_argument(
        "--only", default="1,2,3,4,5,6", help="comma-separated figure numbers to run (default: all)"
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    only = {part.strip() for part in args.only.split(",")}
    rows: list[Row] = []
    plans: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pilot-bench-") as temporary:
        work = Path(temporary)
        home = work / "home"
        home.mkdir()
        os.environ["PILOT_HOME"] = str(home)  # this process's own plugin instances, too
        env = {**os.environ, "PILOT_HOME": str(home)}
        transcript = generate.write_transcript(work / "transcript.jsonl", TRANSCRIPT_EVENTS)
        lines = transcript.read_bytes().splitlines()
        print(
            f"{'quick' if args.quick else 'full'} run: transcript of {len(lines):,} events "
            f"({transcript.stat().st_size / 1e6:.1f} MB), {sizes.recorded_executions:,} recorded executions, "
            f"reports and export on {sizes.report_executions:,} executions",
            file=sys.stderr,
        )
        steps: list[tuple[str, Callable[[], list[Row]]]] = [
            ("1", lambda: figure_hook_overhead(work, lines, sizes)),
            ("2", lambda: figure_ingest(work, transcript, lines, env, sizes)),
            ("3", lambda: figure_recording(work, sizes)),
        ]
        if only & {"4", "5"}:
            data = args.data or work
            data.mkdir(parents=True, exist_ok=True)
            db_holder: list[Path] = []

            def db() -> Path:
                if not db_holder:
                    db_holder.append(report_db(data, sizes.report_executions))
                return db_holder[0]

            steps.append(("4", lambda: figure_reports(db(), env, sizes, plans)))
            steps.append(("5", lambda: figure_export(db(), work, env, sizes.report_executions)))
        steps.append(("6", lambda: figure_startup(env, sizes)))
        for number, step in steps:
            if number in only:
                print(f"figure {number} ...", file=sys.stderr, flush=True)
                rows.extend(step())

    from tabulate import tabulate

    print(f"machine: {machine()}")
    print(f"sizes: {'quick' if args.quick else 'full'} {sizes}")
    print()
    print(
        tabulate(
            [row.cells() for row in rows],
            headers=("figure", "measured", "baseline", "ratio", "target", "result"),
        )
    )
    if plans:
        print("\nquery plans (EXPLAIN QUERY PLAN), each statement shape a report ran, then the floor's:")
        print("\n".join(plans))
    failed = [row.figure for row in rows if row.ok is False]
    print(
        f"\n{len(rows) - len(failed)} of {len(rows)} figures within target"
        + (f"; missed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
