"""Why an execution failed, as a category a report can group by, and a one-line reason safe to store.

Claude Code's ``result`` event does not say "failed" in one place: ``is_error`` is the flag, and API
failures (network, unknown model, not logged in, usage limits) arrive as ``subtype: "success"`` with
``is_error: true``. This module folds the host's status, the last ``result`` event, the process exit code,
the ``error`` field of the last synthetic assistant message and the error texts into one category, and
masks secrets before any text is kept: error texts and stderr carry API keys, tokens and URLs with
passwords often enough that nothing unredacted may reach the database.

Categories (``CATEGORIES``) and when each applies:

- ``max_turns``: the agent stopped at ``--max-turns`` (subtype ``error_max_turns``, terminal_reason
  ``max_turns``, "Reached maximum number of turns (N)").
- ``max_budget``: the agent stopped at ``--max-budget-usd`` (subtype ``error_max_budget_usd``,
  terminal_reason ``budget_exhausted``, "Reached maximum budget ($…)").
- ``usage_limit``: a subscription's usage window is used up; waiting for the reset helps, retrying does not
  ("Claude AI usage limit reached|<epoch>", "You've hit your limit · resets 3pm", "Your limit will reset
  at …"). Wins over ``rate_limit`` when both the text and a 429 / ``rate_limit`` code are present.
- ``rate_limit``: the API refused for request or token rate (HTTP 429, ``rate_limit_error``, assistant
  ``error: "rate_limit"``) and the text does not say it is a usage limit.
- ``overloaded``: the API had no capacity (HTTP 529, ``overloaded_error``, "Overloaded"). Kept apart from
  ``rate_limit`` on purpose: it is Anthropic's capacity, not the account's quota, so the operator's remedy
  (retry later vs. slow down or buy quota) differs.
- ``auth``: no valid credentials (HTTP 401/403, ``authentication_error``, ``permission_error``, assistant
  ``error: "authentication_failed"``, "Not logged in", "Invalid API key", an expired or revoked OAuth
  token).
- ``billing``: the account cannot pay (HTTP 402, assistant ``error: "billing_error"``, "Credit balance is
  too low", insufficient credits).
- ``context_overflow``: the request did not fit the model's context ("prompt is too long", "input length
  and `max_tokens` exceed context limit", ``context_length_exceeded``, HTTP 413 "request too large").
- ``model_not_found``: the model asked for does not exist or is not available (HTTP 404, assistant
  ``error: "model_not_found"``, "There's an issue with the selected model").
- ``network``: the API could not be reached (EAI_AGAIN, ECONNREFUSED, ETIMEDOUT, ECONNRESET, ENOTFOUND,
  "fetch failed", "Unable to connect to API", "Request timed out", certificate failures). An API request
  that timed out is ``network``; ``timeout`` is reserved for the host's own time limit.
- ``api_error``: any other API failure: HTTP 4xx/5xx without a more specific reading, terminal_reason
  ``api_error``, assistant ``error`` ``server_error`` / ``invalid_request``, "API Error: …".
- ``refusal``: the model declined (terminal_reason or stop_reason ``refusal``, "…violate our Usage
  Policy").
- ``timeout``: the host stopped the run at its time limit (host status ``timed_out``).
- ``cancelled``: the run was stopped on purpose: host status ``cancelled``, or the agent reports an abort
  (terminal_reason ``aborted_streaming`` / ``aborted_tools``, "Request was aborted").
- ``no_result``: the agent ended without a ``result`` event, exited 0 (or its exit code is unknown) and
  nothing more specific is known (truncated stream, hang cut short, crash after the last line).
- ``agent_error``: the agent reported an error nothing above explains (``error_during_execution``,
  ``error_max_structured_output_retries``, "No conversation found with session ID …", unknown error
  subtypes), or the host failed a run whose result looked fine and whose process exited 0.
- ``process_exit``: the process exited non-zero (or by a signal: negative code) and neither a failing
  ``result`` event nor stderr tells more (crash, out of memory, bad command-line flag).
- ``host_died``: the host itself went away while the run was in flight (host status ``interrupted``,
  found on restart).

Order of evidence (``classify``): the host status first (``succeeded`` gives ``(None, None)``;
``timed_out``/``cancelled``/``interrupted`` decide on their own); then the structured fields
terminal_reason, subtype, api_error_status, stop_reason, the assistant ``error`` code, in that order,
where the first *specific* answer wins. Three answers are only *coarse* (``api_error``, ``rate_limit``,
``agent_error``), and text patterns may refine them (``api_error`` and ``agent_error`` to anything,
``rate_limit`` to ``usage_limit`` or ``overloaded``). The texts are read most specific first: ``errors[0]``,
the ``result`` text, a free-text assistant error, the host's error (which may hold stderr); the first
text whose reading the coarse answer may become decides, and a text that only repeats the coarse answer
ends the search. Without any of that: no ``result`` event gives ``process_exit`` when the exit code is
non-zero, else ``no_result`` (stderr patterns are tried first, so "Not logged in" on stderr is ``auth``);
a result that reported success from a process that exited non-zero gives ``process_exit``; everything
else is ``agent_error``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["CATEGORIES", "classify", "first_line", "redact"]

CATEGORIES: tuple[str, ...] = (
    "max_turns",
    "max_budget",
    "usage_limit",
    "rate_limit",
    "overloaded",
    "auth",
    "billing",
    "context_overflow",
    "model_not_found",
    "network",
    "api_error",
    "refusal",
    "timeout",
    "cancelled",
    "no_result",
    "agent_error",
    "process_exit",
    "host_died",
)

# ----------------------------------------------------------------------------------------------------------
# Redaction
# ----------------------------------------------------------------------------------------------------------

_MARK = "***"

# Key names whose value is a secret. The name must END with one of these words, so `max_tokens`,
# `token_type`, `input_tokens` or `secret_name` stay readable; `pwd` is left out (it is a directory).
_SECRET_WORDS = r"(?:passw(?:or)?d|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|auth[_-]?key)"


def _keep_marked(replacement: str) -> Callable[[re.Match[str]], str]:
    """A substitution that leaves a match already holding a marker alone (kind markers survive)."""

    def substitute(match: re.Match[str]) -> str:
        return match.group(0) if _MARK in match.group(0) else match.expand(replacement)

    return substitute


def _looks_like_credential(value: str) -> bool:
    """Tell a credential after 'Bearer'/'Basic' from an English word ("Bearer tokens", "Basic usage")."""
    if len(value) < 8 or _MARK in value:
        return False
    if len(value) >= 20 or any(c.isdigit() or c in "+/=" for c in value):
        return True
    return any(c.islower() for c in value) and any(c.isupper() for c in value[1:])


def _mask_bearer(match: re.Match[str]) -> str:
    if not _looks_like_credential(match.group(3)):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{_MARK}"


def _mask_basic(match: re.Match[str]) -> str:
    credential = match.group(3)
    if len(credential) % 4 != 0 or not _looks_like_credential(credential):  # base64 comes in quads
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{_MARK}"


def _mask_authorization(match: re.Match[str]) -> str:
    if _MARK in match.group(4):
        return match.group(0)
    scheme = f"{match.group(3)} " if match.group(3) else ""
    return f"{match.group(1)}{match.group(2)}{scheme}{_MARK}"


def _mask_key_value(match: re.Match[str]) -> str:
    value = match.group("value")
    if _MARK in value:
        return match.group(0)
    head = f"{match.group('key')}{match.group('sep')}"
    for quote in ('\\"', '"', "'"):
        if value.startswith(quote):
            closing = quote if len(value) >= 2 * len(quote) and value.endswith(quote) else ""
            return f"{head}{quote}{_MARK}{closing}"
    return f"{head}{_MARK}"


_REDACTIONS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # Vendor token formats first: their marker keeps the kind ("sk-ant-***"), and later rules skip it.
    (re.compile(r"(?<![A-Za-z0-9_])sk-ant-[A-Za-z0-9_\-]{8,}"), "sk-ant-" + _MARK),
    (
        re.compile(r"(?<![A-Za-z0-9_])sk-(proj-)?(?=[A-Za-z0-9_\-]*[0-9])[A-Za-z0-9_\-]{20,}"),
        lambda m: ("sk-proj-" if m.group(1) else "sk-") + _MARK,
    ),
    (re.compile(r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{20,}"), "github_pat_" + _MARK),
    (re.compile(r"(?<![A-Za-z0-9_])(gh[pousr])_[A-Za-z0-9]{20,}"), r"\1_" + _MARK),
    (re.compile(r"(?<![A-Za-z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"), r"\1" + _MARK),
    (re.compile(r"(?<![A-Za-z0-9])(xox[abprs])-[A-Za-z0-9\-]{10,}"), r"\1-" + _MARK),
    (
        re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"),
        "eyJ" + _MARK,
    ),
    # https://user:pass@host: both parts go, since the user part is often the token itself.
    (
        re.compile(r"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]{0,20}://)[^\s/:@]{1,256}:[^\s/@]{1,256}@"),
        _keep_marked(r"\1" + _MARK + ":" + _MARK + "@"),
    ),
    (
        re.compile(
            r"(?<![A-Za-z0-9_\-])((?:proxy-)?authorization)(\\?[\"']?[ \t]*[:=][ \t]*\\?[\"']?)"
            r"(?:(bearer|basic|token|digest|negotiate)[ \t]+)?([^\s\"'\\,;]+)",
            re.IGNORECASE,
        ),
        _mask_authorization,
    ),
    (
        re.compile(r"(?<![A-Za-z0-9_\-])(bearer)([ \t]+)([A-Za-z0-9._~+/\-]{8,}=*)", re.IGNORECASE),
        _mask_bearer,
    ),
    (
        re.compile(r"(?<![A-Za-z0-9_\-])(Basic)([ \t]+)([A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])"),
        _mask_basic,
    ),
    # key=value, key: value, "key": "value", escaped JSON, URL query parameters.
    (
        re.compile(
            r"(?<![A-Za-z0-9_.\-])(?P<key>[A-Za-z0-9_.\-]*?" + _SECRET_WORDS + r")"
            r"(?P<sep>\\?[\"']?[ \t]*[:=][ \t]*)"
            r"(?P<value>\"(?:[^\"\\\n]|\\.){0,1000}\"|\\\"(?:(?!\\\")[^\n]){0,1000}\\\"|'[^'\n]{0,1000}'"
            r"|\\?[\"'][^\s\"'\\]+|[^\s\"'\\,;&}\])]+)",
            re.IGNORECASE,
        ),
        _mask_key_value,
    ),
    # Command-line flags: --password hunter2, --api-key abc.
    (
        re.compile(r"(?<!\S)(--?[A-Za-z0-9_\-]*?" + _SECRET_WORDS + r")([ \t]+)([^\s\-]\S*)", re.IGNORECASE),
        _keep_marked(r"\1\2" + _MARK),
    ),
)


def _as_text(value: object) -> str | None:
    """Text from a str (or undecodable bytes); anything else is no text."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return None


def redact(text: str) -> str:
    """Secrets replaced by a marker that keeps their kind, e.g. 'sk-ant-***', 'ghp_***', 'Bearer ***',
    'password=***'. Covers Anthropic keys (sk-ant-api03-..., sk-ant-oat01-...), OpenAI-style sk-...,
    sk-proj-..., GitHub ghp_/gho_/ghu_/ghs_/ghr_/github_pat_, AWS AKIA..., Slack xox[abprs]-...,
    'Authorization: Bearer x', 'Basic x', JWTs (eyJ...eyJ...), URL credentials (https://user:pass@host),
    key=value / key: value / JSON "key": "value" for keys like password, passwd, secret, token, api_key,
    apikey, access_key, client_secret (case-insensitive). Must not mangle ordinary text, paths, git SHAs,
    UUIDs or 'task-123'.

    Anything that is not text gives ''.
    """
    redacted = _as_text(text)
    if not redacted:
        return ""
    for pattern, replacement in _REDACTIONS:
        redacted = pattern.sub(replacement, redacted)
    return redacted


_SECRET_FLAG = re.compile(r"--?[A-Za-z0-9_.\-]*?" + _SECRET_WORDS, re.IGNORECASE)


def redact_command(argv: Sequence[str]) -> list[str]:
    """A command line fit to store: each argument through ``redact`` (``--token=x``, ``API_KEY=x``, keys by
    their format), and the argument after a flag that names a secret (``--password x``) masked whole."""
    masked: list[str] = []
    after_flag = False
    for argument in argv:
        masked.append(_MARK if after_flag and _MARK not in argument else redact(argument))
        after_flag = bool(_SECRET_FLAG.fullmatch(argument))
    return masked


def first_line(text: str | None, limit: int = 500) -> str | None:
    """First non-empty line, stripped, cut to `limit` characters with '…'; None for None/blank.

    A cut line is exactly `limit` characters long, the last being '…'.
    """
    value = _as_text(text)
    if value is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool):
        limit = 500
    limit = max(limit, 1)
    for line in value.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return None


# ----------------------------------------------------------------------------------------------------------
# Classification
# ----------------------------------------------------------------------------------------------------------

_HOST_STATUS: Mapping[str, str] = {
    "timed_out": "timeout",
    "cancelled": "cancelled",
    "interrupted": "host_died",
}

_TERMINAL_REASONS: Mapping[str, str] = {
    "max_turns": "max_turns",
    "budget_exhausted": "max_budget",
    "refusal": "refusal",
    "aborted_streaming": "cancelled",
    "aborted_tools": "cancelled",
    "api_error": "api_error",
    "stop_hook_prevented": "agent_error",
}

_SUBTYPES: Mapping[str, str] = {
    "error_max_turns": "max_turns",
    "error_max_budget_usd": "max_budget",
    "error_max_structured_output_retries": "agent_error",
    "error_during_execution": "agent_error",
}

_AGENT_ERRORS: Mapping[str, str] = {
    "authentication_failed": "auth",
    "billing_error": "billing",
    "rate_limit": "rate_limit",
    "invalid_request": "api_error",
    "server_error": "api_error",
    "model_not_found": "model_not_found",
    # "unknown" says nothing: the text decides (it is what a network failure carries).
}
_AGENT_ERROR_CODES = frozenset({*_AGENT_ERRORS, "unknown"})

_HTTP_STATUSES: Mapping[int, str] = {
    401: "auth",
    403: "auth",
    402: "billing",
    404: "model_not_found",
    413: "context_overflow",
    429: "rate_limit",
    529: "overloaded",
}

# Coarse answers, most specific first, and which text readings may replace each.
_COARSE: tuple[str, ...] = ("rate_limit", "api_error", "agent_error")
_REFINES: Mapping[str, frozenset[str]] = {
    "rate_limit": frozenset({"usage_limit", "overloaded"}),
    "api_error": frozenset(CATEGORIES),
    "agent_error": frozenset(CATEGORIES),
}

# An HTTP status written the ways error texts write it: "API Error: 429", "status 529", "HTTP/1.1 401",
# "Error code: 402", '"status": 404'. A bare number is not enough: stderr is full of numbers.
_STATUS_PREFIX = (
    r"(?:\bapi error|\bstatus(?:[ _]?code)?|\bhttp(?:/[0-9.]{1,3})?|\berror[ _]code)"
    r"\\?[\"']?[ \t]*[:=(]?[ \t]*"
)


def _http(codes: str) -> str:
    return rf"{_STATUS_PREFIX}(?:{codes})\b"


# Tried in this order on each text; the first text (most specific first) with a match decides.
_TEXT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (category, re.compile("|".join(alternatives), re.IGNORECASE))
    for category, alternatives in (
        ("max_turns", [r"maximum number of turns", r"\bmax[_ -]turns\b"]),
        (
            "max_budget",
            [
                r"maximum budget",
                r"\bmax[_ -]budget",
                r"\bbudget[_ ](?:exhausted|exceeded)",
                r"budget limit (?:exceeded|reached)",
            ],
        ),
        (
            "usage_limit",
            [
                r"usage[_ ]limit",
                r"\b(?:hit|reached) your (?:[\w-]+ )?limit\b",
                r"\b(?:5-hour|five-hour|weekly|daily)(?: [\w-]+)? limit (?:reached|exceeded|hit)",
                r"\b(?:session|opus|sonnet)(?: [\w-]+)? limit (?:reached|exceeded|hit)",
                r"\blimit (?:will )?resets?\b",
                r"[·∙]\s*resets\b",
            ],
        ),
        (
            "context_overflow",
            [
                r"prompt is too long",
                r"context[_ ]length[_ ]exceeded",
                r"maximum context length",
                r"input is too long",
                r"exceeds? (?:the )?(?:model'?s? )?(?:maximum )?context (?:window|limit|length)",
                r"context window (?:exceeded|limit reached|is full)",
                r"request[_ ]too[_ ]large",
                _http("413"),
            ],
        ),
        (
            "billing",
            [
                r"billing",
                r"credit balance",
                r"insufficient[_ ](?:credits?|funds|balance|quota)",
                r"payment required",
                r"out of credits",
                _http("402"),
            ],
        ),
        (
            "auth",
            [
                r"not logged in",
                r"please run /login",
                r"invalid (?:x-)?api[ _-]?key",
                r"invalid bearer token",
                r"authentication[_ ](?:error|failed)",
                r"\bunauthori[sz]ed\b",
                r"oauth.{0,40}(?:expired|revoked)",
                r"token (?:has )?expired",
                r"permission[_ ]error",
                r"invalid credentials",
                r"\b403 forbidden",
                _http("401|403"),
            ],
        ),
        (
            "model_not_found",
            [
                r"model[_ ]not[_ ]found",
                r"not_found_error.{0,80}\bmodel\b",
                r"issue with the selected model",
                r"\bmodel\b.{0,80}(?:not found|does not exist|doesn't exist|is not available)",
                r"\b(?:invalid|unknown) model\b",
                _http("404"),
            ],
        ),
        ("overloaded", [r"overloaded", _http("529")]),
        ("rate_limit", [r"rate[_ -]?limit", r"too many requests", _http("429")]),
        (
            "network",
            [
                r"\bE(?:AI_AGAIN|CONNREFUSED|CONNRESET|CONNABORTED|TIMEDOUT|NOTFOUND)\b",
                r"\bE(?:HOSTUNREACH|NETUNREACH|PIPE)\b",
                r"socket hang up",
                r"fetch failed",
                r"(?:unable|failed|could not) (?:to )?connect",
                r"connection (?:refused|reset|error|closed|timed out|aborted)",
                r"network (?:error|is unreachable)",
                r"getaddrinfo",
                r"request timed out",
                r"aborted due to timeout",
                r"\bUND_ERR_\w+",
                r"self[- ]signed certificate",
                r"unable to (?:get|verify) (?:local )?(?:issuer )?certificate",
                r"certificate has expired",
            ],
        ),
        ("refusal", [r"usage polic(?:y|ies)", r"\brefusal\b", r"declined to (?:respond|answer|help)"]),
        (
            "cancelled",
            [
                r"request was aborted",
                r"(?:aborted|interrupted|cancell?ed) by (?:the )?user",
                r"\[request interrupted",
                r"\bAbortError\b",
            ],
        ),
        (
            "api_error",
            [
                r"\bapi error\b",
                r"\bapi_error\b",
                r"\bserver_error\b",
                r"internal server error",
                r"bad gateway",
                r"service unavailable",
                r"gateway timeout",
                r"invalid_request_error",
                _http(r"[45][0-9][0-9]"),
            ],
        ),
    )
)


def _field(event: Mapping[str, Any] | None, key: str) -> object:
    """One field of the event; a broken mapping reads as a missing field."""
    if event is None:
        return None
    try:
        return event.get(key)
    except Exception:  # noqa: BLE001 - a hostile Mapping must not make classification raise
        return None


def _code(value: object) -> str | None:
    """A short enum-like string, normalized; anything else is None."""
    if isinstance(value, str) and len(value) <= 200:
        return value.strip().lower()
    return None


def _int(value: object) -> int | None:
    """An HTTP status as an int, from an int, an integral float or a digit string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        digits = value.strip()
        if digits.isascii() and digits.isdigit() and len(digits) <= 6:
            return int(digits)
    return None


def _status_category(status: int | None) -> str | None:
    if status is None:
        return None
    if status in _HTTP_STATUSES:
        return _HTTP_STATUSES[status]
    return "api_error" if 400 <= status <= 599 else None


def _reports_success(event: Mapping[str, Any]) -> bool:
    """True when the result event claims success: its `result` text is then an answer, not an error."""
    return _field(event, "is_error") is False and _field(event, "subtype") in ("success", None)


def _first_error(event: Mapping[str, Any] | None) -> str | None:
    errors = _field(event, "errors")
    if isinstance(errors, str):
        return errors
    if isinstance(errors, (list, tuple)):
        return next((item for item in errors if isinstance(item, str) and item.strip()), None)
    return None


def _structured(event: Mapping[str, Any] | None, agent_code: str | None) -> list[str]:
    """Categories the structured fields name, in order of trust: terminal_reason, subtype, status, code."""
    found: list[str | None] = []
    if event is not None:
        found.append(_TERMINAL_REASONS.get(_code(_field(event, "terminal_reason")) or ""))
        subtype = _code(_field(event, "subtype"))
        if subtype:
            found.append(_SUBTYPES.get(subtype, "agent_error" if subtype.startswith("error") else None))
        found.append(_status_category(_int(_field(event, "api_error_status"))))
        if _code(_field(event, "stop_reason")) == "refusal":
            found.append("refusal")
    if agent_code:
        found.append(_AGENT_ERRORS.get(agent_code))
    return [category for category in found if category]


def _text_category(texts: list[str | None], coarse: str | None) -> str | None:
    """What the texts say, most specific text first. With a coarse structured answer, a text that only
    repeats it ends the search (a later, vaguer text such as stderr cannot override it) and a text that
    reads as something the coarse answer cannot become is skipped."""
    for text in texts:
        if not text:
            continue
        reading = next((category for category, pattern in _TEXT_PATTERNS if pattern.search(text)), None)
        if reading is None:
            continue
        if coarse is None or reading == coarse or reading in _REFINES[coarse]:
            return reading
    return None


def _reason(*texts: str | None) -> str | None:
    """First line of the first text that has one, redacted before it is cut (no half-secret survives)."""
    for text in texts:
        line = first_line(text, limit=1 << 30)
        if line:
            return first_line(redact(line))
    return None


def classify(
    status: str,
    result_event: Mapping[str, object] | None,
    error: str | None = None,
    exit_code: int | None = None,
    agent_error: str | None = None,
) -> tuple[str | None, str | None]:
    """(failure_category, failure_reason). (None, None) for a succeeded run. The reason is the first line of
    the most specific error text (result `errors[0]`, else `result` text, else agent_error, else `error`),
    redacted. Order of evidence: host status timed_out -> 'timeout', cancelled -> 'cancelled',
    interrupted -> 'host_died'; then terminal_reason, subtype, api_error_status, stop_reason, agent_error;
    then text patterns of errors[0]/result/agent_error/error; with no result event and nothing found:
    'process_exit' when the process exited non-zero, else 'no_result'; else 'agent_error'.

    The full order, and what each category means, is in the module docstring. Two details: the `result`
    text counts as error text only when the event does not itself report success (otherwise it is the
    agent's answer); and for `timeout`, `cancelled`, `host_died`, `no_result` and `process_exit`, which
    the host's evidence decides, the host's `error` comes first in the reason. Never raises: wrong types
    anywhere read as missing.
    """
    state = status.strip().lower() if isinstance(status, str) else "failed"
    if state == "succeeded":
        return None, None

    event: Mapping[str, Any] | None = result_event if isinstance(result_event, Mapping) else None
    host_error = _as_text(error)
    agent_text = _as_text(agent_error)
    agent_code = _code(agent_text)
    first_error = _first_error(event)
    result_value = _field(event, "result")
    result_text = (
        result_value
        if event is not None and isinstance(result_value, str) and not _reports_success(event)
        else None
    )
    event_texts = (first_error, result_text, agent_text)

    host_category = _HOST_STATUS.get(state)
    if host_category is not None:
        return host_category, _reason(host_error, *event_texts)

    exited_non_zero = isinstance(exit_code, int) and not isinstance(exit_code, bool) and exit_code != 0
    structured = _structured(event, agent_code)
    specific = next((category for category in structured if category not in _COARSE), None)
    if specific is not None:
        return specific, _reason(*event_texts, host_error)

    coarse = min(structured, key=_COARSE.index, default=None)
    # A known assistant error code is already in `structured`; only free text is read for patterns.
    free_agent_text = None if agent_code in _AGENT_ERROR_CODES else agent_text
    from_text = _text_category([first_error, result_text, free_agent_text, host_error], coarse)
    if from_text is not None:
        return from_text, _reason(*event_texts, host_error)
    if coarse is not None:
        return coarse, _reason(*event_texts, host_error)
    if event is None or _reports_success(event):
        # Nothing from the agent explains the failure: the host's text does.
        if exited_non_zero:
            return "process_exit", _reason(host_error, *event_texts)
        if event is None:
            return "no_result", _reason(host_error, *event_texts)
    return "agent_error", _reason(*event_texts, host_error)
