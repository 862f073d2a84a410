"""The real Claude Code CLI under ``pilot run``, offline against the loopback stand-in API: every line it
prints reaches the plugins, its Bash step opens a phase, the run succeeds, and the metrics plugin stores
exactly the tokens and cost of the result Claude Code printed.

One run per module (about a second once the CLI is installed) is shared by the tests below.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from agent_cli import agent_env, claude_code_binary, claude_command
from fake_anthropic_api import FakeAnthropicAPI
from hookspecs import Phase, cli
from hookspecs.manager import PluginHost
from pilot_metrics_plugin.plugin import MetricsPlugin
from pilot_metrics_plugin.pricing import usd_to_nano
from pilot_metrics_plugin.store import MetricsStore
from recording import Recorder

pytestmark = pytest.mark.agent


@dataclass(frozen=True)
class PilotRun:
    exit_code: int
    recorder: Recorder
    home: Path
    db: Path


@pytest.fixture(scope="module")
def pilot_run(tmp_path_factory: pytest.TempPathFactory) -> PilotRun:
    """``pilot run -- claude -p PROMPT ...`` with the stand-in's default script (Bash ``echo hello``, then
    text), in a fresh project directory, with exactly the isolated environment of ``agent_env``."""
    binary = claude_code_binary()
    root = tmp_path_factory.mktemp("pilot-claude")
    project = root / "project"
    project.mkdir()
    recorder = Recorder()
    db = root / "metrics.db"
    host = PluginHost.create(
        plugins=[("recorder", recorder), ("metrics", MetricsPlugin(db_path=db))],
        load_entrypoints=False,
        env={},
    )
    command = claude_command(binary)
    with FakeAnthropicAPI() as api, pytest.MonkeyPatch.context() as env:
        # The runner hands its own environment to the agent: make it exactly the isolated one.
        wanted = agent_env(api.base_url, root / "home")
        for name in list(os.environ):
            if name not in wanted:
                env.delenv(name)
        for name, value in wanted.items():
            env.setenv(name, value)
        exit_code = cli.main(
            ["run", "--task-id", "T-1", "--project", "demo", "--project-path", str(project), "--", *command],
            host=host,
        )
    return PilotRun(exit_code=exit_code, recorder=recorder, home=root / "home", db=db)


def test_the_run_succeeds_and_pilot_exits_0(pilot_run: PilotRun) -> None:
    result = pilot_run.recorder.result
    assert (result.status, result.exit_code, pilot_run.exit_code) == ("succeeded", 0, 0), result.stderr_tail


def test_every_line_claude_code_printed_reaches_on_stream_event(pilot_run: PilotRun) -> None:
    # Line numbers count every stdout line, so 1..N without a gap and no malformed line means none was lost.
    # For this script Claude Code 2.1.331 prints 5 lines: init, the Bash tool use, its result, the final
    # text, and the result (as tests/test_fake_api_claude.py sees when it runs the CLI directly).
    events = pilot_run.recorder.events
    assert [event.line_number for event in events] == [1, 2, 3, 4, 5]
    assert pilot_run.recorder.result.malformed_lines == 0
    assert [(event.type, event.subtype) for event in events] == [
        ("system", "init"), ("assistant", None), ("user", None), ("assistant", None), ("result", "success"),
    ]  # fmt: skip


def test_each_event_carries_the_exact_line_claude_code_printed(pilot_run: PilotRun) -> None:
    events = pilot_run.recorder.events
    assert [json.loads(text) for text in pilot_run.recorder.printed] == [event.raw for event in events]


def test_every_message_of_the_session_reached_the_plugins(pilot_run: PilotRun) -> None:
    # Claude Code also writes the session to HOME/.claude/projects/*/<session id>.jsonl. Its two assistant
    # messages and the tool result (the user message after the prompt) are the ones the stream carried.
    session_id = pilot_run.recorder.result.result_event["session_id"]  # type: ignore[index]
    (session_file,) = (pilot_run.home / ".claude" / "projects").glob(f"*/{session_id}.jsonl")
    records = [json.loads(line) for line in session_file.read_text().splitlines() if line.strip()]
    messages = [r for r in records if r.get("type") in ("assistant", "user")]
    session_uuids = [r["uuid"] for r in messages[1:]]  # messages[0] is the prompt, never streamed
    streamed_uuids = [e.raw["uuid"] for e in pilot_run.recorder.events if e.type in ("assistant", "user")]
    assert len(session_uuids) == 3
    assert streamed_uuids == session_uuids


def test_the_bash_step_opens_the_executing_phase(pilot_run: PilotRun) -> None:
    # `echo hello` matches no command rule in hookspecs.phases: a shell command there means "executing".
    # The transition comes right before the line that asks for it (line 2, the Bash tool use).
    summary = [
        (hook, payload.name, payload.index) if isinstance(payload, Phase) else (hook, payload.line_number)
        for hook, payload in pilot_run.recorder.calls
        if hook != "on_execution_complete"
    ]
    bash = pilot_run.recorder.events[1].raw["message"]["content"][0]
    assert (bash["name"], bash["input"]["command"]) == ("Bash", "echo hello")
    assert summary == [
        ("on_phase_start", "planning", 0),
        ("on_stream_event", 1),
        ("on_phase_end", "planning", 0),
        ("on_phase_start", "executing", 1),
        ("on_stream_event", 2),
        ("on_stream_event", 3),
        ("on_stream_event", 4),
        ("on_stream_event", 5),
        ("on_phase_end", "executing", 1),
    ]


def test_the_stored_tokens_and_cost_equal_the_result_claude_code_printed(pilot_run: PilotRun) -> None:
    (result,) = [e for e in pilot_run.recorder.events if e.type == "result"]
    printed = json.loads(result.text, parse_float=Decimal)
    ((model, usage),) = printed["modelUsage"].items()
    store = MetricsStore.open(pilot_run.db)
    record = store.load_record(store.last_execution_id() or "")
    assert record is not None and record.status == "succeeded"
    # What Claude Code printed, read from its own result line ...
    assert (
        record.tokens_input,
        record.tokens_output,
        record.tokens_cache_read,
        record.tokens_cache_write,
    ) == (
        usage["inputTokens"],
        usage["outputTokens"],
        usage["cacheReadInputTokens"],
        usage["cacheCreationInputTokens"],
    )
    assert record.cost_nano_usd == usd_to_nano(printed["total_cost_usd"]) and record.cost_source == "reported"
    # ... and by hand: the stand-in served 1001 + 1002 = 2003 input, 41 + 42 = 83 output, 2000 + 2000 = 4000
    # cache writes and 5000 + 10000 = 15000 cache reads. At Opus 5.5's 4 / 20 / 5 / 0.20 $ per million that is
    # 2003 * 4000 + 83 * 20000 + 4000 * 5000 + 15000 * 200 = 32,672,000 nano-dollars.
    assert [(m.model, m.tokens_total, m.cost_nano_usd) for m in record.models] == [
        (model, 2003 + 83 + 4000 + 15000, 32_672_000)
    ]
    assert record.tokens_total == 21_086 and record.cost_nano_usd == 32_672_000
