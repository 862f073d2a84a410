"""Synthetic data for the benchmarks: a metrics database of N executions, and stream-json transcripts.

The database has the shape a busy team's would after a year: executions over 365 days (more on weekdays
and in working hours, growing through the year), 50 projects of very different sizes, 4 models (a third of
the executions also used a sub-agent model, so ~1.35 model rows each), 5% failures (failed, timed out,
cancelled, interrupted, with categories and reasons), 3-8 phases each, the JSON lists of tools and files a
real row carries, and a few executions still running. It is written straight with SQL into the real schema
(``MetricsStore.open`` runs the migrations): rows in time order (so rowid order is time order, as in a real
database) with the phases and models JSON the store keeps for the export, the secondary indexes dropped
during the load and rebuilt from their own SQL afterwards (the triggers stay: they keep the hourly rollup),
``executemany`` inside transactions of 50,000 executions. 1,000,000 executions take about a minute and a half.

Transcripts are shaped like the recorded ones in ``tests/fixtures/claude-stream-json``: an ``init`` line;
assistant lines one per content block (thinking, text, tool_use) sharing their message id and usage; a
``user`` tool_result line per tool use, carrying the tool's output (a file, a grep, a test run, a commit) of
200 B to 20 KB; sub-agents (``Agent``) whose lines carry ``parent_tool_use_id``, with ``task_progress``
lines; a ``rate_limit_event`` now and then; and a final ``result`` with ``modelUsage`` for two models.

    python benchmarks/generate.py db PATH [--executions N] [--seed S]
    python benchmarks/generate.py transcript PATH [--events N] [--seed S]
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pilot_metrics_plugin.record import ModelUsageRecord, PhaseRecord
from pilot_metrics_plugin.store import (
    EXECUTION_COLUMNS,
    EXPORT_FORM_COLUMNS,
    MODEL_COLUMNS,
    MetricsStore,
    models_json,
    phases_json,
)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
BATCH_EXECUTIONS = 50_000
"""Executions per transaction while loading."""

PROJECTS = tuple(
    f"{name}-{kind}"
    for name, kind in itertools.islice(
        itertools.product(
            ("shop", "billing", "search", "mobile", "infra", "auth", "ledger", "docs", "portal", "data"),
            ("api", "web", "worker", "cli", "sdk"),
        ),
        50,
    )
)
PROJECT_WEIGHTS = tuple(1 / (rank + 1) ** 0.9 for rank in range(len(PROJECTS)))
"""Zipf-like: the busiest project has ~30x the executions of the quietest."""

# model -> nano-USD per token: input, output, cache read, cache write (5 min), cache write (1 h)
MODEL_PRICES: dict[str, tuple[int, int, int, int, int]] = {
    "claude-sonnet-4-6": (3_000, 15_000, 300, 3_750, 6_000),
    "claude-opus-4-6": (5_000, 25_000, 500, 6_250, 10_000),
    "claude-sonnet-4-5-20250929": (3_000, 15_000, 300, 3_750, 6_000),
    "claude-haiku-4-5-20251001": (1_000, 5_000, 100, 1_250, 2_000),
}
MAIN_MODELS = (
    "claude-sonnet-4-6",
    "claude-opus-4-6",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5-20251001",
)
MAIN_MODEL_WEIGHTS = (55, 20, 15, 10)
SUB_AGENT_MODEL = "claude-haiku-4-5-20251001"
SUB_AGENT_SHARE = 0.35

FAILURE_SHARE = 0.05
FAILURES: tuple[tuple[str, str, str, int], ...] = (
    # status, category, reason, weight
    ("failed", "rate_limit", "API Error: 429 rate limited", 14),
    ("failed", "overloaded", "API Error: 529 Overloaded", 8),
    ("failed", "api_error", "API Error: 500 Internal server error", 8),
    ("failed", "network", "API Error: Unable to connect to API (ECONNRESET)", 6),
    ("failed", "max_turns", "Reached maximum number of turns (100)", 6),
    ("failed", "context_overflow", "Prompt is too long", 4),
    ("failed", "usage_limit", "Claude AI usage limit reached|1760000000", 4),
    ("failed", "agent_error", "error_during_execution", 5),
    ("failed", "process_exit", "the agent exited with code 1 without a result event", 5),
    ("failed", "auth", "Invalid API key · Please run /login", 2),
    ("timed_out", "timeout", "timed out after 1800 s", 20),
    ("cancelled", "cancelled", "cancelled by the operator (Ctrl-C or SIGTERM)", 12),
    ("interrupted", "host_died", "the recording host stopped before the execution ended", 6),
)
RUNNING = 3
"""The newest executions are still running (no end, no account yet)."""

NEXT_PHASES = {
    "planning": ("exploring", "exploring", "implementing", "delegating"),
    "exploring": ("implementing", "implementing", "planning", "executing", "delegating"),
    "implementing": ("testing", "testing", "exploring", "executing", "installing"),
    "testing": ("implementing", "implementing", "committing", "committing", "exploring"),
    "executing": ("implementing", "testing", "exploring"),
    "installing": ("testing", "implementing"),
    "delegating": ("implementing", "exploring"),
    "committing": ("testing", "exploring", "implementing"),
}
TOOLS = ("Read", "Grep", "Glob", "Edit", "Write", "Bash", "TodoWrite", "Agent", "WebFetch", "MultiEdit")
SOURCE_FILES = tuple(
    f"{top}/{sub}/{name}.{ext}"
    for top, sub, name, ext in itertools.islice(
        itertools.product(
            ("src", "lib", "tests", "internal", "app"),
            ("core", "api", "models", "handlers", "util", "db"),
            ("client", "server", "orders", "invoice", "user", "session", "config", "cache", "routes"),
            ("py", "go", "ts"),
        ),
        600,
    )
)


# -- the database ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedDb:
    path: Path
    executions: int
    phases: int
    model_rows: int
    failures: int
    seconds: float
    size_bytes: int


def _day_weights(days: int) -> list[float]:
    """Growth through the year (the newest day ~3x the oldest); weekends at a quarter."""
    weights = []
    end_weekday = time.gmtime().tm_wday
    for day in range(days):  # day 0 is the oldest
        weekday = (end_weekday - (days - 1 - day)) % 7
        weights.append((1 + 2 * day / max(1, days - 1)) * (0.25 if weekday >= 5 else 1.0))
    return weights


HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 18, 16, 12, 16, 18, 18, 16, 12, 8, 6, 4, 3, 2, 1)
"""Executions per UTC hour of the day: a working day, with a lunch dip."""


def start_times(rng: random.Random, n: int, days: int, end_ms: int) -> list[int]:
    """``n`` start times over the ``days`` days ending at ``end_ms``, sorted."""
    first_day_ms = (end_ms // DAY_MS - (days - 1)) * DAY_MS
    day_cum = list(itertools.accumulate(_day_weights(days)))
    hour_cum = list(itertools.accumulate(HOUR_WEIGHTS))
    day_of = rng.choices(range(days), cum_weights=day_cum, k=n)
    hour_of = rng.choices(range(24), cum_weights=hour_cum, k=n)
    rand = rng.random
    starts = [
        first_day_ms + day * DAY_MS + hour * HOUR_MS + int(rand() * HOUR_MS)
        for day, hour in zip(day_of, hour_of, strict=True)
    ]
    # Nothing in the future: a start later today than now moves to the same time yesterday.
    starts = [start - DAY_MS if start >= end_ms else start for start in starts]
    starts.sort()
    return starts


def _stored_json(value: Any) -> str:
    """JSON text as the store writes it: compact, non-ASCII as it is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=isinstance(value, dict))


def _json_pools(rng: random.Random) -> dict[str, list[str]]:
    """Pre-made JSON texts for the list and object columns: choosing one is cheaper than building one."""

    def files(k_min: int, k_max: int) -> str:
        return _stored_json(rng.sample(SOURCE_FILES, rng.randint(k_min, k_max)))

    def tool_calls() -> str:
        tools = rng.sample(TOOLS, rng.randint(2, 7))
        return _stored_json({tool: rng.randint(1, 40) for tool in sorted(tools)})

    def shas() -> str:
        return _stored_json([f"{rng.getrandbits(160):040x}" for _ in range(rng.choice((0, 1, 1, 1, 2)))])

    prompts = (
        "Fix issue {n}",
        "Implement the feature in ticket {n}",
        "Refactor module {n}",
        "Add tests for {n}",
    )
    return {
        "files_read": [files(1, 25) for _ in range(997)],
        "files_written": [files(0, 6) for _ in range(991)],
        "tool_calls": [tool_calls() for _ in range(983)],
        "commit_shas": [shas() for _ in range(977)],
        "agent_command": [
            _stored_json(
                [
                    "claude",
                    "-p",
                    rng.choice(prompts).format(n=i),
                    "--output-format",
                    "stream-json",
                    "--verbose",
                    "--model",
                    model,
                ]
            )
            for i in range(200)
            for model in MAIN_MODELS[:2]
        ],
    }


def _model_row(rng: random.Random, model: str, scale: float, cost_mode: str) -> tuple[Any, ...]:
    """``MODEL_COLUMNS`` of one model's usage; ``cost_mode``: reported, estimated or unknown."""
    tokens_input = int(rng.expovariate(1 / 400) * scale) + 3
    tokens_output = int(rng.expovariate(1 / 9_000) * scale) + 50
    cache_read = int(rng.expovariate(1 / 900_000) * scale)
    cache_write = int(rng.expovariate(1 / 60_000) * scale)
    cache_write_1h = cache_write if rng.random() < 0.5 else 0
    total = tokens_input + tokens_output + cache_read + cache_write
    price_in, price_out, price_read, price_5m, price_1h = MODEL_PRICES[model]
    cost = (
        tokens_input * price_in
        + tokens_output * price_out
        + cache_read * price_read
        + (cache_write - cache_write_1h) * price_5m
        + cache_write_1h * price_1h
    )
    if cost_mode == "unknown":
        cost = None
    return (
        model,
        tokens_input,
        tokens_output,
        cache_read,
        cache_write,
        cache_write_1h,
        total,
        cost,
        cost_mode,
    )


def _phases(rng: random.Random, started_ms: int, duration_ms: int) -> list[tuple[str, int, int, int]]:
    """3-8 phases from ``planning`` on, splitting the execution's time: ``(name, start, end, duration)``."""
    count = rng.randint(3, 8)
    names = ["planning"]
    for _ in range(count - 1):
        names.append(rng.choice(NEXT_PHASES[names[-1]]))
    weights = [rng.random() + 0.05 for _ in names]
    scale = duration_ms / sum(weights)
    cuts = [started_ms]
    acc = 0.0
    for weight in weights[:-1]:
        acc += weight * scale
        cuts.append(started_ms + int(acc))
    cuts.append(started_ms + duration_ms)
    return [(name, cuts[i], cuts[i + 1], cuts[i + 1] - cuts[i]) for i, name in enumerate(names)]


def _execution_rows(
    rng: random.Random, starts: list[int], pools: dict[str, list[str]]
) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Per execution, in time order: its ``EXECUTION_COLUMNS`` values, phase rows and model rows."""
    rand, randint, choice, getrandbits = rng.random, rng.randint, rng.choice, rng.getrandbits
    lognormvariate = rng.lognormvariate
    project_cum = list(itertools.accumulate(PROJECT_WEIGHTS))
    model_cum = list(itertools.accumulate(MAIN_MODEL_WEIGHTS))
    failure_cum = list(itertools.accumulate(weight for *_, weight in FAILURES))
    index = {column: i for i, column in enumerate(EXECUTION_COLUMNS)}
    width = len(EXECUTION_COLUMNS)
    n = len(starts)
    hosts = ("build-01", "build-02", "laptop-anna", "laptop-ben")
    for number, started_ms in enumerate(starts):
        execution_id = f"{getrandbits(128):032x}"
        project = PROJECTS[bisect.bisect(project_cum, rand() * project_cum[-1])]
        main_model = MAIN_MODELS[bisect.bisect(model_cum, rand() * model_cum[-1])]
        running = number >= n - RUNNING
        row: list[Any] = [None] * width
        row[index["execution_id"]] = execution_id
        row[index["task_id"]] = f"{project.split('-')[0].upper()}-{1000 + number}"
        row[index["project"]] = project
        row[index["project_path"]] = f"/home/pilot/projects/{project}"
        row[index["agent_command"]] = choice(pools["agent_command"])
        row[index["model_requested"]] = main_model
        row[index["started_at_ms"]] = started_ms
        row[index["host"]] = choice(hosts)
        row[index["host_pid"]] = randint(1000, 400_000)
        row[index["tool_calls"]] = "{}"
        row[index["files_read"]] = row[index["files_written"]] = row[index["commit_shas"]] = "[]"
        row[index["malformed_lines"]] = 0
        row[index["usage_complete"]] = 1
        for column in (
            "tokens_input",
            "tokens_output",
            "tokens_cache_read",
            "tokens_cache_write",
            "tokens_cache_write_1h",
            "tokens_total",
        ):
            row[index[column]] = 0
        if running:
            row[index["status"]] = "running"
            row[index["updated_at_ms"]] = started_ms
            row[index["cost_source"]] = "unknown"
            yield (*row, None, None), [], []
            continue
        duration_ms = min(int(lognormvariate(12.8, 0.8)), 2 * HOUR_MS)  # median ~6 min
        status = "succeeded"
        if rand() < FAILURE_SHARE:
            status, category, reason, _ = FAILURES[bisect.bisect(failure_cum, rand() * failure_cum[-1])]
            row[index["failure_category"]] = category
            row[index["failure_reason"]] = reason
            if status == "timed_out":
                duration_ms = 1_800_000
            elif status != "interrupted":
                row[index["exit_code"]] = 1 if status == "failed" else 130
        else:
            row[index["exit_code"]] = 0
        row[index["status"]] = status
        row[index["ended_at_ms"]] = started_ms + duration_ms
        row[index["updated_at_ms"]] = started_ms + duration_ms
        row[index["duration_ms"]] = duration_ms
        row[index["num_turns"]] = randint(3, 120)
        cost_roll = rand()
        cost_mode = "reported" if cost_roll < 0.9 else ("estimated" if cost_roll < 0.995 else "unknown")
        scale = duration_ms / 360_000
        models = [_model_row(rng, main_model, scale, cost_mode)]
        if rand() < SUB_AGENT_SHARE and main_model != SUB_AGENT_MODEL:
            models.append(_model_row(rng, SUB_AGENT_MODEL, scale * 0.5, cost_mode))
        models.sort()
        for offset, column in enumerate(
            (
                "tokens_input",
                "tokens_output",
                "tokens_cache_read",
                "tokens_cache_write",
                "tokens_cache_write_1h",
                "tokens_total",
            ),
            start=1,
        ):
            row[index[column]] = sum(model[offset] for model in models)
        row[index["cost_nano_usd"]] = None if cost_mode == "unknown" else sum(m[7] for m in models)
        row[index["cost_source"]] = cost_mode
        row[index["reported_cost_nano_usd"]] = (
            row[index["cost_nano_usd"]] if cost_mode == "reported" else None
        )
        row[index["price_table_version"]] = None if cost_mode == "reported" else "2026-11-01"
        row[index["tool_calls"]] = choice(pools["tool_calls"])
        row[index["files_read"]] = choice(pools["files_read"])
        row[index["files_written"]] = choice(pools["files_written"])
        if status == "succeeded":
            row[index["commit_shas"]] = choice(pools["commit_shas"])
            if rand() < 0.3:
                row[index["pr_url"]] = f"https://github.com/acme/{project}/pull/{randint(1, 9000)}"
            row[index["files_changed"]] = randint(0, 30)
            row[index["lines_added"]] = randint(0, 1500)
            row[index["lines_removed"]] = randint(0, 600)
        if number % 20 == 7:  # imported from the Go Pilot's recordings
            row[index["source_key"]] = f"pilot-go:TG-{started_ms}-{number}"
        phases = [
            (execution_id, seq, name, start, end, duration, started_ms)
            for seq, (name, start, end, duration) in enumerate(_phases(rng, started_ms, duration_ms))
        ]
        # The record's phases and models as the store keeps them for the export.
        export_forms = (
            phases_json([PhaseRecord(*phase[2:6]) for phase in phases]),
            models_json([ModelUsageRecord(*model) for model in models]),
        )
        yield (*row, *export_forms), phases, [(execution_id, *model, started_ms) for model in models]


STORED_COLUMNS = EXECUTION_COLUMNS + EXPORT_FORM_COLUMNS
INSERT_EXECUTION = (
    f"INSERT INTO executions ({', '.join(STORED_COLUMNS)}) VALUES ({', '.join('?' * len(STORED_COLUMNS))})"
)
INSERT_PHASE = (
    "INSERT INTO phases (execution_id, seq, name, started_at_ms, ended_at_ms, duration_ms, "
    "execution_started_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
INSERT_MODEL = (
    f"INSERT INTO execution_models (execution_id, {', '.join(MODEL_COLUMNS)}, execution_started_at_ms) "
    f"VALUES (?, {', '.join('?' * len(MODEL_COLUMNS))}, ?)"
)
"""The rows of an execution as the store writes them, straight with SQL (an execution's columns then its
stored phases and models JSON; a phase or model row with its execution's start last)."""


def generate_db(
    path: Path,
    executions: int,
    *,
    seed: int = 2026,
    days: int = 365,
    end_ms: int | None = None,
    progress: bool = False,
) -> GeneratedDb:
    """A new metrics database at ``path`` (which must not exist) with ``executions`` executions."""
    started = time.perf_counter()
    path = Path(path)
    if path.exists():
        raise FileExistsError(path)
    MetricsStore.open(path).close()  # the real schema, every migration applied
    end_ms = end_ms if end_ms is not None else time.time_ns() // 1_000_000
    rng = random.Random(seed)
    starts = start_times(rng, executions, days, end_ms)
    pools = _json_pools(rng)

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")  # a bulk load into a new file: nothing to roll back to
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")  # 256 MiB
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('executions', 'phases', 'execution_models') ORDER BY rowid"
    ).fetchall()
    for name, _sql in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    insert_execution, insert_phase, insert_model = INSERT_EXECUTION, INSERT_PHASE, INSERT_MODEL
    status_at = EXECUTION_COLUMNS.index("status")
    counts = {"phases": 0, "models": 0, "failures": 0}
    rows = _execution_rows(rng, starts, pools)
    done = 0
    while done < executions:
        batch = list(itertools.islice(rows, BATCH_EXECUTIONS))
        execution_rows = [row for row, _, _ in batch]
        phase_rows = [phase for _, phases, _ in batch for phase in phases]
        model_rows = [model for _, _, models in batch for model in models]
        conn.execute("BEGIN")
        conn.executemany(insert_execution, execution_rows)
        conn.executemany(insert_phase, phase_rows)
        conn.executemany(insert_model, model_rows)
        conn.execute("COMMIT")
        counts["phases"] += len(phase_rows)
        counts["models"] += len(model_rows)
        counts["failures"] += sum(row[status_at] not in ("succeeded", "running") for row in execution_rows)
        done += len(batch)
        if progress:
            print(f"\r  {done:,} / {executions:,} executions", end="", file=sys.stderr, flush=True)
    if progress:
        print(f"\r  {done:,} executions; rebuilding {len(indexes)} indexes", file=sys.stderr, flush=True)
    for _name, sql in indexes:
        conn.execute(sql)
    conn.execute("PRAGMA journal_mode = WAL")  # as MetricsStore leaves it
    conn.close()
    return GeneratedDb(
        path=path,
        executions=executions,
        phases=counts["phases"],
        model_rows=counts["models"],
        failures=counts["failures"],
        seconds=time.perf_counter() - started,
        size_bytes=path.stat().st_size,
    )


# -- transcripts ----------------------------------------------------------------------------------------------

MAIN_MODEL = "claude-sonnet-4-6"
MIN_LINE_BYTES = 200
MAX_LINE_BYTES = 20 * 1024

_WORDS = (
    "the",
    "order",
    "invoice",
    "returns",
    "client",
    "request",
    "handler",
    "value",
    "error",
    "config",
    "test",
    "cache",
    "session",
    "user",
    "total",
    "line",
    "module",
    "function",
    "retry",
    "timeout",
    "parse",
    "build",
)
_CODE = (
    "def {w}_{v}(self, {w}: int) -> None:",
    "    return self.{w}.{v}({w}, timeout=30)",
    "    if {w} is None:",
    '        raise ValueError(f"{w} {v} missing")',
    "class {W}{V}:",
    '    """The {w} of one {v}."""',
    "import {w}",
    "from {w}.{v} import {W}",
    "    {w}_{v} = [x for x in {w} if x.{v}]",
    "",
)


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    return int(low * (high / low) ** rng.random())


class TranscriptWriter:
    """Builds one stream-json transcript line by line; ``lines()`` gives it as compact JSON lines."""

    def __init__(self, events: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.events = events
        self.session = self._uuid()
        self.out: list[bytes] = []
        self.usage = {MAIN_MODEL: [0, 0, 0, 0], SUB_AGENT_MODEL: [0, 0, 0, 0]}
        self.stage = 0
        """0 exploring, 1 implementing, 2 testing: which tools and shell commands the agent uses."""

    def _uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _id(self, prefix: str) -> str:
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789"
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(24))

    def _emit(self, obj: dict[str, Any]) -> None:
        obj.setdefault("session_id", self.session)
        obj.setdefault("uuid", self._uuid())
        line = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        assert MIN_LINE_BYTES <= len(line) <= MAX_LINE_BYTES, len(line)
        self.out.append(line)

    def _text(self, size: int) -> str:
        rng = self.rng
        parts: list[str] = []
        length = 0
        while length < size:
            w, v = rng.choice(_WORDS), rng.choice(_WORDS)
            part = rng.choice(_CODE).format(w=w, v=v, W=w.title(), V=v.title())
            parts.append(part)
            length += len(part) + 1
        return "\n".join(parts)[:size]

    def _file_listing(self, size: int) -> str:
        """A Read result: numbered lines, as Claude Code shows a file."""
        lines = self._text(size).split("\n")
        return "\n".join(f"{n:6d}\u2192{line}" for n, line in enumerate(lines, start=1))[:size]

    def _usage(self, model: str) -> dict[str, Any]:
        rng = self.rng
        usage = {
            "input_tokens": rng.randint(1, 8),
            "cache_creation_input_tokens": rng.randint(0, 4000),
            "cache_read_input_tokens": rng.randint(10_000, 90_000),
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": rng.randint(1, 30),
            "service_tier": "standard",
            "inference_geo": "not_available",
        }
        usage["cache_creation"]["ephemeral_1h_input_tokens"] = usage["cache_creation_input_tokens"]
        totals = self.usage[model]
        totals[0] += usage["input_tokens"]
        totals[1] += rng.randint(50, 900)
        totals[2] += usage["cache_read_input_tokens"]
        totals[3] += usage["cache_creation_input_tokens"]
        return usage

    def _assistant(
        self, model: str, message_id: str, usage: dict[str, Any], block: dict[str, Any], parent: str | None
    ) -> None:
        self._emit(
            {
                "type": "assistant",
                "message": {
                    "model": model,
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "content": [block],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage,
                    "context_management": None,
                },
                "parent_tool_use_id": parent,
            }
        )

    def _tool_result(self, tool_id: str, content: str, parent: str | None, extra: dict[str, Any]) -> None:
        """The result line; an output too long for ``MAX_LINE_BYTES`` (once escaped, and repeated in the
        sidecar as Bash's is) is cut, as Claude Code cuts long tool output."""
        uuid = self._uuid()
        while True:
            obj = {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {"tool_use_id": tool_id, "type": "tool_result", "content": content, "is_error": False}
                    ],
                },
                "parent_tool_use_id": parent,
                "session_id": self.session,
                "uuid": uuid,
                "tool_use_result": extra,
            }
            size = len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())
            if size <= MAX_LINE_BYTES:
                break
            content = content[: int(len(content) * MAX_LINE_BYTES / size * 0.97)]
            if "stdout" in extra:
                extra = {**extra, "stdout": content}
        self._emit(obj)

    def _tool_call(
        self, tool: str, parent: str | None, model: str
    ) -> tuple[dict[str, Any], str, dict[str, Any]]:
        """A tool_use block, its result text (200 B to ~19 KB) and the result's sidecar."""
        rng = self.rng
        path = "/home/pilot/projects/shop-api/" + rng.choice(SOURCE_FILES)
        size = _log_uniform(rng, 150, 19_000)
        if tool == "Read":
            text = self._file_listing(size)
            return {"file_path": path}, text, {"type": "text", "file": {"filePath": path, "numLines": 40}}
        if tool == "Grep":
            text = "\n".join(
                f"{rng.choice(SOURCE_FILES)}:{rng.randint(1, 400)}: {self._text(60)}"
                for _ in range(max(1, size // 120))
            )[:size]
            return {"pattern": rng.choice(_WORDS), "path": "src"}, text, {"mode": "content", "numFiles": 3}
        if tool == "Edit":
            old, new = self._text(rng.randint(40, 600)), self._text(rng.randint(40, 900))
            text = f"The file {path} has been updated."
            return {"file_path": path, "old_string": old, "new_string": new}, text, {"filePath": path}
        if tool == "Write":
            content = self._text(rng.randint(200, 6000))
            return (
                {"file_path": path, "content": content},
                f"File created successfully at: {path}",
                {"type": "create"},
            )
        # Bash: a status while exploring; builds and test runs while implementing; tests, then a commit.
        roll = rng.random()
        kind = ("status", "build", "test", "commit")[
            bisect.bisect(((0.9, 0.95, 1.0), (0.0, 0.3, 1.0), (0.0, 0.02, 0.97))[self.stage], roll)
        ]
        if kind == "test":
            command = "python -m pytest -q tests/"
            stdout = self._text(size) + f"\n{rng.randint(10, 400)} passed in {rng.random() * 30:.2f}s"
        elif kind == "status":
            command = "git status --short && git diff --stat"
            stdout = "\n".join(f" M {rng.choice(SOURCE_FILES)}" for _ in range(max(1, size // 40)))
        elif kind == "build":
            command = "make build"
            stdout = self._text(size)
        else:
            command = "git add -A && git commit -m 'Fix the order totals'"
            stdout = (
                f"[main {rng.getrandbits(28):07x}] Fix the order totals\n 3 files changed, 40 insertions(+)"
            )
        return (
            {"command": command, "description": "run it"},
            stdout,
            {"stdout": stdout, "stderr": "", "interrupted": False},
        )

    def _turn(self, tools: list[str], parent: str | None, model: str) -> None:
        rng = self.rng
        message_id = self._id("msg_01")
        usage = self._usage(model)
        if rng.random() < 0.3:
            self._assistant(
                model,
                message_id,
                usage,
                {
                    "type": "thinking",
                    "thinking": self._text(rng.randint(100, 1500)),
                    "signature": self._id("Eq") * 8,
                },
                parent,
            )
        if rng.random() < 0.5:
            self._assistant(
                model, message_id, usage, {"type": "text", "text": self._text(rng.randint(40, 800))}, parent
            )
        calls = []
        for tool in tools:
            tool_id = self._id("toolu_01")
            tool_input, result, extra = self._tool_call(tool, parent, model)
            self._assistant(
                model,
                message_id,
                usage,
                {
                    "type": "tool_use",
                    "id": tool_id,
                    "name": tool,
                    "input": tool_input,
                    "caller": {"type": "direct"},
                },
                parent,
            )
            calls.append((tool_id, result, extra))
        for tool_id, result, extra in calls:
            self._tool_result(tool_id, result, parent, extra)

    def _sub_agent(self) -> None:
        """An Agent tool use whose sub-agent works with its own model, then reports back."""
        rng = self.rng
        message_id = self._id("msg_01")
        tool_id = self._id("toolu_01")
        self._assistant(
            MAIN_MODEL,
            message_id,
            self._usage(MAIN_MODEL),
            {
                "type": "tool_use",
                "id": tool_id,
                "name": "Agent",
                "input": {
                    "description": "Explore the code",
                    "subagent_type": "Explore",
                    "prompt": self._text(rng.randint(200, 1200)),
                },
                "caller": {"type": "direct"},
            },
            None,
        )
        task_id = f"{rng.getrandbits(68):017x}"
        self._emit(
            {
                "type": "system",
                "subtype": "task_started",
                "task_id": task_id,
                "tool_use_id": tool_id,
                "description": "Explore the code",
                "task_type": "local_agent",
            }
        )
        for step in range(rng.randint(2, 6)):
            if len(self.out) >= self.events - 6:
                break
            self._turn([rng.choice(("Read", "Grep", "Read"))], tool_id, SUB_AGENT_MODEL)
            self._emit(
                {
                    "type": "system",
                    "subtype": "task_progress",
                    "task_id": task_id,
                    "tool_use_id": tool_id,
                    "description": f"Reading step {step}",
                    "usage": {
                        "total_tokens": 20_000 + step,
                        "tool_uses": step + 1,
                        "duration_ms": 2000 * (step + 1),
                    },
                    "last_tool_name": "Read",
                }
            )
        self._emit(
            {
                "type": "system",
                "subtype": "task_notification",
                "task_id": task_id,
                "tool_use_id": tool_id,
                "status": "completed",
                "output_file": "",
                "summary": "Explore the code",
            }
        )
        self._tool_result(
            tool_id, self._text(rng.randint(500, 12_000)), None, {"status": "completed", "agentId": task_id}
        )

    def lines(self) -> list[bytes]:
        rng = self.rng
        self._emit(
            {
                "type": "system",
                "subtype": "init",
                "cwd": "/home/pilot/projects/shop-api",
                "tools": ["Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write", "WebFetch", "TodoWrite"],
                "mcp_servers": [],
                "model": MAIN_MODEL,
                "permissionMode": "bypassPermissions",
                "slash_commands": ["compact", "context", "cost", "init", "review"],
                "apiKeySource": "none",
                "claude_code_version": "2.1.72",
                "output_style": "default",
                "agents": ["general-purpose", "Explore"],
                "skills": [],
                "plugins": [],
                "fast_mode_state": "off",
            }
        )
        # The work moves on as a real task does: read first, then edit and test, commit at the end.
        stages = (
            ("Read", "Grep", "Read", "Glob", "Bash"),
            ("Edit",) * 6 + ("Write", "Bash", "Bash", "Read"),
            ("Bash", "Bash", "Bash", "Edit"),
        )
        while len(self.out) < self.events - 1:
            left = self.events - 1 - len(self.out)
            progress = len(self.out) / self.events
            if left > 30 and rng.random() < 0.015:
                self._sub_agent()
                continue
            if rng.random() < 0.01:
                self._emit(
                    {
                        "type": "rate_limit_event",
                        "rate_limit_info": {
                            "status": "allowed_warning",
                            "resetsAt": 1773828000,
                            "rateLimitType": "seven_day",
                            "utilization": 0.88,
                            "isUsingOverage": False,
                            "surpassedThreshold": 0.75,
                        },
                    }
                )
                continue
            self.stage = min(2, int(progress * 3))
            stage = stages[self.stage]
            # each tool costs 2 lines (use, result), plus up to 2 for thinking and text
            count = max(1, min(rng.choice((1, 1, 1, 2, 3)), (left - 2) // 2))
            if left < 4:
                self._emit(
                    {
                        "type": "system",
                        "subtype": "task_progress",
                        "task_id": "0",
                        "tool_use_id": "x",
                        "description": "Finishing",
                        "usage": {"total_tokens": 1, "tool_uses": 1, "duration_ms": 1},
                        "last_tool_name": "Bash",
                    }
                )
                continue
            self._turn([rng.choice(stage) for _ in range(count)], None, MAIN_MODEL)
        del self.out[self.events - 1 :]
        self._result()
        return self.out

    def _result(self) -> None:
        model_usage = {}
        total_nano = 0
        for model, (tokens_in, tokens_out, cache_read, cache_write) in self.usage.items():
            price_in, price_out, price_read, _, price_1h = MODEL_PRICES[model]
            nano = (
                tokens_in * price_in
                + tokens_out * price_out
                + cache_read * price_read
                + cache_write * price_1h
            )
            total_nano += nano
            model_usage[model] = {
                "inputTokens": tokens_in,
                "outputTokens": tokens_out,
                "cacheReadInputTokens": cache_read,
                "cacheCreationInputTokens": cache_write,
                "webSearchRequests": 0,
                "costUSD": nano / 1e9,
                "contextWindow": 200000,
                "maxOutputTokens": 32000,
            }
        main = self.usage[MAIN_MODEL]
        self._emit(
            {
                "type": "result",
                "subtype": "success",
                "is_error": False,
                "duration_ms": 274651,
                "duration_api_ms": 274303,
                "num_turns": len(self.out) // 4,
                "result": self._text(600),
                "stop_reason": "end_turn",
                "total_cost_usd": total_nano / 1e9,
                "usage": {
                    "input_tokens": main[0],
                    "cache_creation_input_tokens": main[3],
                    "cache_read_input_tokens": main[2],
                    "output_tokens": main[1],
                    "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                    "service_tier": "standard",
                    "cache_creation": {"ephemeral_1h_input_tokens": main[3], "ephemeral_5m_input_tokens": 0},
                },
                "modelUsage": model_usage,
                "permission_denials": [],
                "fast_mode_state": "off",
            }
        )


def transcript_lines(events: int, seed: int = 7) -> list[bytes]:
    """A transcript of exactly ``events`` lines (at least 2), each 200 B to 20 KB, without newlines."""
    if events < 2:
        raise ValueError("a transcript needs at least an init and a result line")
    return TranscriptWriter(events, seed).lines()


def write_transcript(path: Path, events: int, seed: int = 7) -> Path:
    Path(path).write_bytes(b"".join(line + b"\n" for line in transcript_lines(events, seed)))
    return Path(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    db = sub.add_parser("db", help="a metrics database of N executions")
    db.add_argument("path", type=Path)
    db.add_argument("--executions", type=int, default=1_000_000)
    db.add_argument("--seed", type=int, default=2026)
    transcript = sub.add_parser("transcript", help="a stream-json transcript of N events")
    transcript.add_argument("path", type=Path)
    transcript.add_argument("--events", type=int, default=2000)
    transcript.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.what == "db":
        made = generate_db(args.path, args.executions, seed=args.seed, progress=True)
        print(
            f"{made.path}: {made.executions:,} executions, {made.phases:,} phases, {made.model_rows:,} model rows, "
            f"{made.failures:,} failures; {made.size_bytes / 1e6:,.0f} MB in {made.seconds:.1f} s"
        )
    else:
        lines = transcript_lines(args.events, args.seed)
        args.path.write_bytes(b"".join(line + b"\n" for line in lines))
        sizes = sorted(len(line) for line in lines)
        print(
            f"{args.path}: {len(lines):,} events, {sum(sizes) / 1e6:.1f} MB, lines {sizes[0]:,} B to "
            f"{sizes[-1]:,} B (median {sizes[len(sizes) // 2]:,} B)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
