"""The real Claude Code CLI, run offline against the loopback stand-in API, prints the stream-json we parse.

One run per module (about half a second once installed) is shared by the tests below; each checks one thing
a user of ``pilot`` relies on: the transcript is JSON lines, the tool loop happened, and the result's token
counts are exactly what the "API" billed.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent_cli import agent_env, claude_code_binary, claude_command
from fake_anthropic_api import FakeAnthropicAPI, RecordedRequest

pytestmark = pytest.mark.agent

RUN_TIMEOUT_S = 60


@dataclass(frozen=True)
class ClaudeRun:
    """What one CLI run printed and what it asked the stand-in API for."""

    returncode: int
    stdout_lines: list[str]
    stderr: str
    duration_s: float
    requests: list[RecordedRequest]
    home: Path

    @property
    def events(self) -> list[dict[str, Any]]:
        """The stdout lines that parse as JSON objects."""
        parsed = []
        for line in self.stdout_lines:
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                parsed.append(value)
        return parsed

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == event_type]

    @property
    def result(self) -> dict[str, Any]:
        (result,) = self.of_type("result")
        return result

    @property
    def served_model(self) -> str:
        """The model the CLI asked the API for (its default: no --model is given)."""
        models = {
            r.body["model"] for r in self.requests if r.known and r.path.split("?")[0] == "/v1/messages"
        }
        (model,) = models
        return model


@pytest.fixture(scope="module")
def claude_run(tmp_path_factory: pytest.TempPathFactory) -> ClaudeRun:
    """Claude Code answering PROMPT in a fresh project dir, with the default script (Bash, then text)."""
    binary = claude_code_binary()
    root = tmp_path_factory.mktemp("claude")
    project = root / "project"
    project.mkdir()
    with FakeAnthropicAPI() as api:
        started = time.monotonic()
        completed = subprocess.run(
            claude_command(binary),
            check=False,
            cwd=project,
            env=agent_env(api.base_url, root / "home"),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        duration_s = time.monotonic() - started
        requests = api.requests
    return ClaudeRun(
        returncode=completed.returncode,
        stdout_lines=completed.stdout.splitlines(),
        stderr=completed.stderr,
        duration_s=duration_s,
        requests=requests,
        home=root / "home",
    )


def test_claude_code_exits_zero(claude_run: ClaudeRun) -> None:
    assert claude_run.returncode == 0, claude_run.stderr


def test_every_stdout_line_is_a_json_object(claude_run: ClaudeRun) -> None:
    assert claude_run.stdout_lines, claude_run.stderr
    for line in claude_run.stdout_lines:
        assert isinstance(json.loads(line), dict), line


def test_the_stream_starts_with_an_init_line(claude_run: ClaudeRun) -> None:
    first = claude_run.events[0]
    assert (first["type"], first["subtype"]) == ("system", "init")


def test_an_assistant_line_asks_for_the_scripted_bash_command(claude_run: ClaudeRun) -> None:
    tool_uses = [
        block
        for event in claude_run.of_type("assistant")
        for block in event["message"]["content"]
        if block["type"] == "tool_use"
    ]
    assert [(t["name"], t["input"]["command"]) for t in tool_uses] == [("Bash", "echo hello")]


def test_the_bash_output_comes_back_as_a_tool_result_with_hello(claude_run: ClaudeRun) -> None:
    results = [
        block
        for event in claude_run.of_type("user")
        for block in event["message"]["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]
    assert len(results) == 1
    assert "hello" in json.dumps(results[0]["content"])
    assert results[0]["is_error"] is False


def test_the_result_reports_success(claude_run: ClaudeRun) -> None:
    result = claude_run.result
    assert (result["subtype"], result["is_error"], result["result"]) == ("success", False, "All done.")


# The stand-in served two replies (fake_anthropic_api.FIRST_USAGE, SECOND_USAGE):
#   input           1001 + 1002  = 2003
#   cache creation  2000 + 2000  = 4000
#   cache read      5000 + 10000 = 15000
#   output          41 + 42      = 83   (the final counts of message_delta, not message_start's placeholder 1)
def test_result_usage_equals_the_tokens_the_api_served(claude_run: ClaudeRun) -> None:
    usage = claude_run.result["usage"]
    assert {
        key: usage[key]
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
    } == {
        "input_tokens": 2003,
        "cache_creation_input_tokens": 4000,
        "cache_read_input_tokens": 15000,
        "output_tokens": 83,
    }


def test_model_usage_puts_the_same_tokens_under_the_requested_model(claude_run: ClaudeRun) -> None:
    model_usage = claude_run.result["modelUsage"]
    assert list(model_usage) == [claude_run.served_model]
    row = model_usage[claude_run.served_model]
    assert {
        key: row[key]
        for key in ("inputTokens", "cacheCreationInputTokens", "cacheReadInputTokens", "outputTokens")
    } == {
        "inputTokens": 2003,
        "cacheCreationInputTokens": 4000,
        "cacheReadInputTokens": 15000,
        "outputTokens": 83,
    }


def test_the_result_carries_a_positive_total_cost(claude_run: ClaudeRun) -> None:
    total_cost_usd = claude_run.result["total_cost_usd"]
    assert isinstance(total_cost_usd, float)
    assert total_cost_usd > 0


def test_the_cli_calls_only_the_messages_endpoint_once_per_reply(claude_run: ClaudeRun) -> None:
    assert [(r.method, r.path, r.body["stream"]) for r in claude_run.requests] == [
        ("POST", "/v1/messages?beta=true", True),
        ("POST", "/v1/messages?beta=true", True),
    ]


def test_the_session_transcript_is_kept_in_the_temporary_home(claude_run: ClaudeRun) -> None:
    session_id = claude_run.result["session_id"]
    assert len(list((claude_run.home / ".claude" / "projects").glob(f"*/{session_id}.jsonl"))) == 1
