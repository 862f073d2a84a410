"""Failure classification and redaction: each category from realistic result events, no secret in a reason.

The result events are either read from the recorded transcripts or hand-made in the shapes the research note
(stream-json.md §8) documents. Fake secrets are assembled from two literals so that secret scanners do not
flag this file; the values are made up.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import transcript
from pilot_metrics_plugin import failures
from pilot_metrics_plugin.failures import CATEGORIES, classify, first_line, redact


@cache
def _recorded(prefix: str) -> tuple[Mapping[str, Any], str | None]:
    """A recorded transcript's last `result` event, and the `error` of its last assistant line with one."""
    result: Mapping[str, Any] | None = None
    agent_error: str | None = None
    for line in transcript(prefix).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        if event.get("type") == "result":
            result = event
        elif event.get("type") == "assistant" and isinstance(event.get("error"), str):
            agent_error = event["error"]
    assert result is not None
    return result, agent_error


def _result(**fields: Any) -> dict[str, Any]:
    """A `result` event shaped like Claude Code 2.1.2xx's, with `fields` set (None deletes a field)."""
    event: dict[str, Any] = {
        "type": "result",
        "subtype": "success",
        "is_error": True,
        "duration_ms": 4210,
        "duration_api_ms": 0,
        "num_turns": 1,
        "stop_reason": "stop_sequence",
        "session_id": "7a995c26-c485-4c08-aa33-071588978c49",
        "total_cost_usd": 0,
        "usage": {"input_tokens": 0, "output_tokens": 0},
        "modelUsage": {},
        "permission_denials": [],
        "terminal_reason": "api_error",
        "uuid": "4e3dab85-13f5-43da-8318-ef7cd28006c8",
    }
    for key, value in fields.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def _classify_recorded(prefix: str, exit_code: int) -> tuple[str | None, str | None]:
    result, agent_error = _recorded(prefix)
    return classify("failed", result, "claude exited with code 1", exit_code, agent_error)


MODEL_404 = "v2.1.220-error-model-not-found-api-404"
EAI_AGAIN = "v2.1.72-error-api-connection-EAI_AGAIN"

NOT_FOUND_TEXT = (
    "There's an issue with the selected model (no-such-model). It may not exist or you may not have access "
    "to it. Run --model to pick a different model."
)
RATE_LIMIT_TEXT = (
    'API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed '
    "the rate limit for your organization of 30,000 input tokens per minute. For details, refer to: "
    'https://docs.claude.com/en/api/rate-limits."},"request_id":"req_011CUa1b2c3d4e5f6g7h8i9j"}'
)
OVERLOADED_TEXT = 'API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
OAUTH_EXPIRED_TEXT = (
    'API Error: 401 {"type":"error","error":{"type":"authentication_error","message":"OAuth token has '
    'expired. Please obtain a new token or refresh your existing token."}} · Please run /login'
)
PROMPT_TOO_LONG_TEXT = (
    'API Error: 400 {"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: '
    '208923 tokens > 200000 maximum"}}'
)
MAX_TOKENS_TEXT = (
    "API Error: 400 input length and `max_tokens` exceed context limit: 188059 + 21333 > 200000, decrease "
    "input length or `max_tokens` and try again"
)
SERVER_ERROR_TEXT = (
    'API Error: 500 {"type":"error","error":{"type":"api_error","message":"Internal server error"}}'
)
REFUSAL_TEXT = (
    "Claude Code is unable to respond to this request, which appears to violate our Usage Policy "
    "(https://www.anthropic.com/legal/aup). Please double press esc to edit your last message or start a new "
    "session for Claude Code to assist with a different task."
)
NO_SESSION_TEXT = "No conversation found with session ID: 9f0c2d4e-2b1a-4c3e-9d8f-0a1b2c3d4e5f"

# (status, result_event, error, exit_code, agent_error) -> (category, reason)
# fmt: off
CLASSIFICATION_CASES = [
    pytest.param(
        "failed",
        _result(subtype="error_max_turns", terminal_reason="max_turns", stop_reason="tool_use", result=None,
                errors=["Reached maximum number of turns (40)"], num_turns=41),
        None, 1, None,
        "max_turns", "Reached maximum number of turns (40)",
        id="max_turns: error_max_turns subtype with terminal_reason max_turns",
    ),
    pytest.param(
        "failed",
        _result(subtype="error_max_turns", terminal_reason=None, stop_reason="tool_use", result=None,
                errors=["Reached maximum number of turns (3)"]),
        None, 1, None,
        "max_turns", "Reached maximum number of turns (3)",
        id="max_turns: 2.1.72-era result without terminal_reason",
    ),
    pytest.param(
        "failed",
        _result(subtype="error_max_budget_usd", terminal_reason="budget_exhausted", result=None,
                errors=["Reached maximum budget ($0.001)"], total_cost_usd=0.0088),
        None, 1, None,
        "max_budget", "Reached maximum budget ($0.001)",
        id="max_budget: error_max_budget_usd with terminal_reason budget_exhausted",
    ),
    pytest.param(
        "failed",
        _result(result="Claude AI usage limit reached|1763000000", api_error_status=429),
        None, 1, "rate_limit",
        "usage_limit", "Claude AI usage limit reached|1763000000",
        id="usage_limit: the epoch-stamped notice wins over the 429 and the rate_limit code",
    ),
    pytest.param(
        "failed",
        _result(result="You've hit your limit · resets 3pm (Europe/Berlin)"),
        None, 1, "rate_limit",
        "usage_limit", "You've hit your limit · resets 3pm (Europe/Berlin)",
        id="usage_limit: the 'hit your limit · resets' notice",
    ),
    pytest.param(
        "failed",
        _result(result="API Error: Request rejected", api_error_status=429),
        "claude exited with code 1\nClaude usage limit reached. Your limit will reset at 3pm.",
        1, "rate_limit",
        "usage_limit", "API Error: Request rejected",
        id="usage_limit: only stderr names the usage limit behind a 429",
    ),
    pytest.param(
        "failed",
        _result(result=RATE_LIMIT_TEXT, api_error_status=429),
        None, 1, "rate_limit",
        "rate_limit", RATE_LIMIT_TEXT,
        id="rate_limit: a 429 rate_limit_error",
    ),
    pytest.param(
        "failed",
        _result(result=OVERLOADED_TEXT, api_error_status=529),
        None, 1, "server_error",
        "overloaded", OVERLOADED_TEXT,
        id="overloaded: a 529 overloaded_error",
    ),
    pytest.param(
        "failed",
        _result(result="Not logged in · Please run /login", terminal_reason=None, duration_ms=8),
        None, 1, "authentication_failed",
        "auth", "Not logged in · Please run /login",
        id="auth: not logged in (authentication_failed synthetic message)",
    ),
    pytest.param(
        "failed",
        _result(result=OAUTH_EXPIRED_TEXT, api_error_status=401),
        None, 1, None,
        "auth", OAUTH_EXPIRED_TEXT,
        id="auth: an expired OAuth token (401)",
    ),
    pytest.param(
        "failed",
        _result(result="Credit balance is too low", terminal_reason=None),
        None, 1, "billing_error",
        "billing", "Credit balance is too low",
        id="billing: billing_error synthetic message",
    ),
    pytest.param(
        "failed",
        _result(result=PROMPT_TOO_LONG_TEXT, api_error_status=400),
        None, 1, "invalid_request",
        "context_overflow", PROMPT_TOO_LONG_TEXT,
        id="context_overflow: prompt is too long (400 invalid_request_error)",
    ),
    pytest.param(
        "failed",
        _result(result=MAX_TOKENS_TEXT, api_error_status=400),
        None, 1, "invalid_request",
        "context_overflow", MAX_TOKENS_TEXT,
        id="context_overflow: input length and max_tokens exceed context limit",
    ),
    pytest.param(
        "failed",
        _result(result=SERVER_ERROR_TEXT, api_error_status=500),
        None, 1, "server_error",
        "api_error", SERVER_ERROR_TEXT,
        id="api_error: a 500 internal server error",
    ),
    pytest.param(
        "failed",
        _result(result=REFUSAL_TEXT, terminal_reason="refusal", stop_reason="refusal"),
        None, 1, None,
        "refusal", REFUSAL_TEXT,
        id="refusal: terminal_reason refusal",
    ),
    pytest.param(
        "failed", None,
        "agent exited with code 1 and no result event\nError: connect ECONNREFUSED 127.0.0.1:443", 1, None,
        "network", "agent exited with code 1 and no result event",
        id="network: no result event, ECONNREFUSED on stderr",
    ),
    pytest.param(
        "timed_out", None, "timed out after 30m0s", -15, None,
        "timeout", "timed out after 30m0s",
        id="timeout: the host's time limit",
    ),
    pytest.param(
        "cancelled", None, "cancelled by the operator", -2, None,
        "cancelled", "cancelled by the operator",
        id="cancelled: the host cancelled the run",
    ),
    pytest.param(
        "failed",
        _result(subtype="error_during_execution", terminal_reason="aborted_streaming", result=None,
                errors=[]),
        "claude exited with code 143", 143, None,
        "cancelled", "claude exited with code 143",
        id="cancelled: the agent reports an aborted stream",
    ),
    pytest.param(
        "failed", None, "the agent exited without a result event", 0, None,
        "no_result", "the agent exited without a result event",
        id="no_result: exit 0 and no result event",
    ),
    pytest.param(
        "failed", None, "claude exited with code 1\nerror: unknown option '--bogus'", 1, None,
        "process_exit", "claude exited with code 1",
        id="process_exit: non-zero exit, no result event, nothing specific on stderr",
    ),
    pytest.param(
        "failed", None, "claude was killed by signal 9 (SIGKILL)", -9, None,
        "process_exit", "claude was killed by signal 9 (SIGKILL)",
        id="process_exit: killed by a signal",
    ),
    pytest.param(
        "failed",
        _result(subtype="error_during_execution", terminal_reason=None, result=None, num_turns=0, usage={},
                errors=[NO_SESSION_TEXT]),
        None, 1, None,
        "agent_error", NO_SESSION_TEXT,
        id="agent_error: error_during_execution for an unknown session",
    ),
    pytest.param(
        "interrupted", None, "the host stopped while the run was in flight", None, None,
        "host_died", "the host stopped while the run was in flight",
        id="host_died: the host went away mid-run",
    ),
]
# fmt: on


@pytest.mark.parametrize(
    ("status", "result_event", "error", "exit_code", "agent_error", "category", "reason"),
    CLASSIFICATION_CASES,
)
def test_a_failed_run_gets_the_category_and_reason_its_evidence_points_to(
    status: str,
    result_event: Mapping[str, Any] | None,
    error: str | None,
    exit_code: int | None,
    agent_error: str | None,
    category: str,
    reason: str,
) -> None:
    assert classify(status, result_event, error, exit_code, agent_error) == (category, reason)


def test_the_classification_table_covers_every_category() -> None:
    covered = {case.values[5] for case in CLASSIFICATION_CASES}
    # model_not_found and network come from the recorded transcripts in the two tests below.
    assert covered | {"model_not_found", "network"} == set(CATEGORIES)


def test_the_recorded_unknown_model_run_is_model_not_found_despite_subtype_success() -> None:
    # Its result: subtype "success", is_error true, terminal_reason "api_error", api_error_status 404;
    # its <synthetic> assistant line has error "model_not_found". The reason is the result text.
    assert _classify_recorded(MODEL_404, exit_code=1) == ("model_not_found", NOT_FOUND_TEXT)


def test_the_recorded_eai_again_run_is_a_network_failure_despite_subtype_success() -> None:
    # Its result: subtype "success", is_error true, no terminal_reason (2.1.72), result
    # "API Error: Unable to connect to API (EAI_AGAIN)"; the <synthetic> line has error "unknown".
    assert _classify_recorded(EAI_AGAIN, exit_code=1) == (
        "network",
        "API Error: Unable to connect to API (EAI_AGAIN)",
    )


def test_a_succeeded_run_has_no_category_and_no_reason() -> None:
    result, _ = _recorded("v2.1.220-success-write-tool")
    assert classify("succeeded", result, None, 0, None) == (None, None)


def test_a_failed_run_whose_result_reports_success_is_blamed_on_its_exit_code_not_on_its_answer() -> None:
    result, _ = _recorded("v2.1.220-success-write-tool")
    assert classify("failed", result, "claude exited with code 1", 1, None) == (
        "process_exit",
        "claude exited with code 1",
    )


def test_every_category_is_documented_in_the_module_docstring() -> None:
    doc = failures.__doc__ or ""
    assert [name for name in CATEGORIES if f"- ``{name}``:" not in doc] == []


# ---------------------------------------------------------------------------------------------------------
# Secrets never reach a reason
# ---------------------------------------------------------------------------------------------------------

ANTHROPIC_KEY = (
    "sk-ant-" + "api03-Xq7Lm2Pz9Rt4Vb8Nc1Kd6Hf3Jg5Ws0Ye2Ua4Io7Tp9Re1Wq3Zx5Cv8Bn0Ml2Kj4Hg6Fd8Sa-AbCdEfGh"
)
OPENAI_KEY = "sk-" + "T3BlbkFJa1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0"
OPENAI_PROJECT_KEY = "sk-proj-" + "Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90-Uv12_Wx34"
GITHUB_BODY = "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8"  # 36 characters, as in real tokens
JWT = (
    "eyJ" + "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

SECRET_TEXTS = [
    pytest.param(
        {"result": f"API Error: 401 invalid x-api-key: {ANTHROPIC_KEY}"},
        None,
        ANTHROPIC_KEY,
        "sk-ant-***",
        id="an Anthropic key in the result text",
    ),
    pytest.param(
        {
            "subtype": "error_during_execution",
            "errors": ["git push https://bob:Tr0ub4dor3@example.com/r.git"],
        },
        None,
        "Tr0ub4dor3",
        "https://***:***@example.com/r.git",
        id="URL credentials in errors[0]",
    ),
    pytest.param(
        None,
        "claude exited with code 1: Authorization: Bearer 9a8b7c6d5e4f3a2b1c0d",
        "9a8b7c6d5e4f3a2b1c0d",
        "Authorization: Bearer ***",
        id="a bearer token in the host's error",
    ),
    pytest.param(
        None,
        "claude exited with code 1: DB_PASSWORD=hunter2-staging",
        "hunter2",
        "DB_PASSWORD=***",
        id="a password assignment in the host's error",
    ),
]


@pytest.mark.parametrize(("fields", "error", "secret", "marker"), SECRET_TEXTS)
def test_a_secret_inside_an_error_text_never_reaches_the_reason(
    fields: dict[str, Any] | None, error: str | None, secret: str, marker: str
) -> None:
    event = _result(**fields) if fields is not None else None
    _, reason = classify("failed", event, error, 1, None)
    assert reason is not None and secret not in reason and marker in reason


def test_a_secret_at_the_length_limit_is_masked_whole_before_the_line_is_cut() -> None:
    # 479 "x", a space, then "ghp_" and the 36-character body. Cut first, the 500-character reason would keep
    # "ghp_" + 15 body characters, too short for the token pattern (20+), so they would escape masking.
    # Masked first, the line is 480 + len("ghp_***") = 487 characters and needs no cut.
    token = f"ghp_{GITHUB_BODY}"
    _, reason = classify("failed", _result(result="x" * 479 + " " + token), None, 1, None)
    assert reason == "x" * 479 + " ghp_***"


# ---------------------------------------------------------------------------------------------------------
# redact()
# ---------------------------------------------------------------------------------------------------------

REDACTION_CASES = [
    pytest.param(f"x-api-key: {ANTHROPIC_KEY}", "x-api-key: sk-ant-***", id="Anthropic API key"),
    pytest.param(
        "CLAUDE_CODE_OAUTH_TOKEN=sk-ant-" + "oat01-Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz2Xc4Vb6Nm8",
        "CLAUDE_CODE_OAUTH_TOKEN=sk-ant-***",
        id="Anthropic OAuth token keeps its kind inside an assignment",
    ),
    pytest.param(f"using {OPENAI_KEY} now", "using sk-*** now", id="OpenAI key"),
    pytest.param(f"key {OPENAI_PROJECT_KEY}.", "key sk-proj-***.", id="OpenAI project key"),
    pytest.param(f"push with ghp_{GITHUB_BODY}", "push with ghp_***", id="GitHub personal token"),
    pytest.param(f"gho_{GITHUB_BODY}", "gho_***", id="GitHub OAuth token"),
    pytest.param(f"gh{'u'}_{GITHUB_BODY}", "ghu_***", id="GitHub user-to-server token"),
    pytest.param(f"GITHUB_TOKEN=ghs_{GITHUB_BODY}", "GITHUB_TOKEN=ghs_***", id="GitHub server token in env"),
    pytest.param(f"ghr_{GITHUB_BODY}", "ghr_***", id="GitHub refresh token"),
    pytest.param(
        "github_pat_" + "11ABCDEFG0_" + GITHUB_BODY + GITHUB_BODY,
        "github_pat_***",
        id="GitHub fine-grained token",
    ),
    pytest.param("aws key AKIA" + "IOSFODNN7EXAMPLE here", "aws key AKIA*** here", id="AWS access key id"),
    pytest.param(
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = ***",
        id="AWS secret access key assignment",
    ),
    pytest.param("xox" + "b-1234567890-1234567890123-AbCdEfGhIjKlMnOp", "xoxb-***", id="Slack bot token"),
    pytest.param("xox" + "p-1234567890-1234567890-AbCdEf", "xoxp-***", id="Slack user token"),
    pytest.param(
        "Authorization: Bearer abc123.def456", "Authorization: Bearer ***", id="Authorization header, Bearer"
    ),
    pytest.param(
        "Authorization: Basic dXNlcjpwYXNzd29yZA==",
        "Authorization: Basic ***",
        id="Authorization header, Basic",
    ),
    pytest.param(
        f"-H 'Authorization: token ghp_{GITHUB_BODY}'",
        "-H 'Authorization: token ghp_***'",
        id="Authorization header keeps the inner token's kind",
    ),
    pytest.param("sent Bearer 4f9a8b7c6d5e4f3a", "sent Bearer ***", id="bare Bearer credential"),
    pytest.param("sent Basic dXNlcjpwYXNz", "sent Basic ***", id="bare Basic credential"),
    pytest.param(f"cookie {JWT}", "cookie eyJ***", id="JWT"),
    pytest.param(f"Authorization: Bearer {JWT}", "Authorization: Bearer eyJ***", id="JWT as a bearer token"),
    pytest.param(
        "fatal: https://oauth2:glpat-Ab12Cd34@gitlab.example.com/g/r.git",
        "fatal: https://***:***@gitlab.example.com/g/r.git",
        id="URL credentials",
    ),
    pytest.param("password=hunter2", "password=***", id="password=value"),
    pytest.param("DB_PASSWORD: hunter2", "DB_PASSWORD: ***", id="PASSWORD: value, upper case"),
    pytest.param('passwd="correct horse battery"', 'passwd="***"', id="quoted passwd with spaces"),
    pytest.param("secret: s3cr3t", "secret: ***", id="YAML secret"),
    pytest.param("MY_APP_TOKEN=abc123", "MY_APP_TOKEN=***", id="token in an environment assignment"),
    pytest.param("api_key: abc123", "api_key: ***", id="api_key"),
    pytest.param("apiKey=abc123", "apiKey=***", id="apiKey, camel case"),
    pytest.param("ACCESS_KEY = abc123", "ACCESS_KEY = ***", id="access_key with spaces around ="),
    pytest.param(
        '{"client_secret": "abc123", "user": "bob"}',
        '{"client_secret": "***", "user": "bob"}',
        id="JSON secret",
    ),
    pytest.param('{\\"token\\": \\"abc123\\"}', '{\\"token\\": \\"***\\"}', id="escaped JSON token"),
    pytest.param(
        "GET /cb?access_token=abc123&state=xyz",
        "GET /cb?access_token=***&state=xyz",
        id="token in a URL query",
    ),
    pytest.param("claude --api-key abc123 -p hi", "claude --api-key *** -p hi", id="command-line flag"),
]


@pytest.mark.parametrize(("text", "expected"), REDACTION_CASES)
def test_redact_masks_each_secret_format_and_keeps_its_kind(text: str, expected: str) -> None:
    assert redact(text) == expected


ORDINARY_TEXTS = [
    pytest.param("Reached maximum number of turns (40)", id="turn limit"),
    pytest.param("commit 3f786850e387550fdab836ed7e6dc881de23001b on main", id="git SHA"),
    pytest.param("session 550e8400-e29b-41d4-a716-446655440000", id="UUID"),
    pytest.param("task-123 failed in /home/dev/project/src/token_utils.py:42", id="task id and path"),
    pytest.param("max_tokens: 32000, input_tokens=1200, token_type: bearer", id="token counts"),
    pytest.param("Bearer tokens expire after an hour", id="the word Bearer"),
    pytest.param("Basic usage: pilot run --task-id task-123", id="the word Basic"),
    pytest.param("the password is wrong; enter a new secret", id="prose about passwords"),
    pytest.param("secrets manager: AWS", id="a plural key"),
    pytest.param("see https://github.com/anthropics/claude-code/issues/40432", id="URL without credentials"),
    pytest.param("git@github.com:owner/repo.git", id="scp-style git remote"),
    pytest.param("pip install scikit-learn risk-assessment-2026", id="words containing sk-"),
    pytest.param("Invalid API key · Please run /login", id="auth error text"),
    pytest.param(
        'API Error: 401 {"type":"error","error":{"type":"authentication_error",'
        '"message":"invalid x-api-key"}}',
        id="API error JSON",
    ),
    pytest.param("Authorization failed for user bob", id="the word Authorization"),
    pytest.param(MAX_TOKENS_TEXT, id="context overflow text"),
    pytest.param("Claude AI usage limit reached|1763000000", id="usage limit notice"),
]


@pytest.mark.parametrize("text", ORDINARY_TEXTS)
def test_redact_leaves_ordinary_text_unchanged(text: str) -> None:
    assert redact(text) == text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_redact_returns_text_for_any_text(text: str) -> None:
    assert isinstance(redact(text), str)


# ---------------------------------------------------------------------------------------------------------
# first_line()
# ---------------------------------------------------------------------------------------------------------


def test_first_line_is_the_first_non_blank_line_stripped() -> None:
    assert first_line("\n   \n  Error: boom  \nat foo.js:1\n") == "Error: boom"


def test_first_line_cuts_a_long_line_to_the_limit_ending_in_an_ellipsis() -> None:
    # 12 characters, limit 10: 9 kept + "…" = 10.
    assert first_line("abcdefghijkl", limit=10) == "abcdefghi…"


@pytest.mark.parametrize("text", [None, "", "  \n\t\n "], ids=["None", "empty", "blank lines"])
def test_first_line_of_nothing_is_none(text: str | None) -> None:
    assert first_line(text) is None


# ---------------------------------------------------------------------------------------------------------
# Totality
# ---------------------------------------------------------------------------------------------------------


class _BrokenMapping(Mapping[str, Any]):
    """A result event whose every read fails."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("broken")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("broken")

    def __len__(self) -> int:
        return 1


HOSTILE_INPUTS = [
    pytest.param("failed", [], None, None, None, id="result event is a list"),
    pytest.param("failed", "result", None, None, None, id="result event is a string"),
    pytest.param("failed", _BrokenMapping(), None, None, None, id="result event raises on every read"),
    pytest.param(
        "failed",
        {"subtype": 5, "is_error": "yes", "errors": "Reached maximum number of turns (3)"},
        None,
        1,
        None,
        id="numbers and strings where other types go",
    ),
    pytest.param(
        "failed",
        {
            "errors": [None, 3, {"a": 1}, ["x"]],
            "result": ["API Error"],
            "terminal_reason": ["max_turns"],
            "subtype": {"x": 1},
            "stop_reason": 7,
        },
        None,
        None,
        None,
        id="lists and objects where strings go",
    ),
    pytest.param("failed", {"api_error_status": float("nan")}, None, None, None, id="NaN status"),
    pytest.param("failed", {"api_error_status": float("inf")}, None, None, None, id="infinite status"),
    pytest.param("failed", {"api_error_status": 10**100}, None, None, None, id="huge status"),
    pytest.param("failed", {"api_error_status": "4O4"}, None, None, None, id="status string with a letter"),
    pytest.param(
        "failed", {"api_error_status": "²"}, None, None, None, id="status string with a unicode digit"
    ),
    pytest.param("failed", {"api_error_status": True}, None, None, None, id="boolean status"),
    pytest.param("failed", {1: 2, None: "x"}, None, None, None, id="non-string keys"),
    pytest.param(
        "failed", {"errors": ["sk-ant-" + "x" * 100_000]}, None, None, None, id="a 100k-character error"
    ),
    pytest.param(
        None, None, b"\xff\xfe broken bytes", "1", ["rate_limit"], id="wrong types in every argument"
    ),
    pytest.param(3, {"is_error": None}, 42, 1.5, 7, id="numbers in every argument"),
]


@pytest.mark.parametrize(("status", "result_event", "error", "exit_code", "agent_error"), HOSTILE_INPUTS)
def test_hostile_inputs_never_raise_and_still_give_a_known_category(
    status: Any, result_event: Any, error: Any, exit_code: Any, agent_error: Any
) -> None:
    category, reason = classify(status, result_event, error, exit_code, agent_error)
    assert category in CATEGORIES and (reason is None or isinstance(reason, str))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_FIELD_VALUES = {
    "subtype": st.sampled_from(["success", "error_max_turns", "error_during_execution", "error_new_kind"]),
    "is_error": st.booleans(),
    "terminal_reason": st.sampled_from(["completed", "api_error", "max_turns", "refusal", "aborted_tools"]),
    "api_error_status": st.sampled_from([400, 401, 404, 429, 500, 529, 999]),
    "stop_reason": st.sampled_from(["end_turn", "tool_use", "refusal"]),
    "result": st.sampled_from([RATE_LIMIT_TEXT, REFUSAL_TEXT, "", "done"]),
    "errors": st.lists(st.text(max_size=40), max_size=2),
}
_EVENTS = st.fixed_dictionaries({}, optional={key: values | _JSON for key, values in _FIELD_VALUES.items()})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    event=_EVENTS,
    error=st.none() | st.text(max_size=80),
    exit_code=st.none() | st.integers(-20, 300),
    agent_error=st.none()
    | st.sampled_from(["unknown", "rate_limit", "authentication_failed"])
    | st.text(max_size=20),
)
def test_any_failed_run_gets_exactly_one_known_category(
    event: dict[str, Any], error: str | None, exit_code: int | None, agent_error: str | None
) -> None:
    category, reason = classify("failed", event, error, exit_code, agent_error)
    assert category in CATEGORIES and (reason is None or (isinstance(reason, str) and len(reason) <= 500))
