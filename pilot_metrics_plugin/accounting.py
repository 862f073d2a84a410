"""Folding one execution's stream-json events into an exact account of tokens, cost and work done.

``StreamFolder.feed`` runs once per stream line on Pilot's hot path, so it only remembers what it will
need: the last ``result`` line, one entry per assistant ``message.id``, tool calls and the few strings
worth keeping. ``StreamFolder.account`` does the arithmetic once, at the end. Neither ever raises on
odd input: a field of the wrong type is ignored, and a token count or cost that is not a plausible
non-negative number is ignored and counted in ``Account.malformed_usage``.

Where the numbers come from (see the stream-json research note, sections 4-8):

- With a ``result`` event, the LAST one holds the process's running totals. Its ``modelUsage`` (every
  model, sub-agents and background calls included) gives one row per model; the top-level ``usage``
  covers the main model's main thread only and is used alone when ``modelUsage`` is absent (1.0.x) or
  ``{}``, attributed to the main model.
- 1-hour cache writes come from a model's ``cacheCreationEphemeral1hInputTokens`` when the stream gives
  it; otherwise the result's ``usage.cache_creation.ephemeral_1h_input_tokens`` is attributed to the
  main model (capped at that model's cache writes) and other models get 0. So without the per-model
  split, the 1-hour count is a lower bound: a same-model sub-agent or a second model writing 1-hour
  cache is counted as 5-minute.
- Without any ``result`` (killed, crashed, truncated) tokens come from the assistant lines, each
  ``message.id`` counted once (its last line's usage, the largest ``output_tokens`` of its lines).
  Output counts on those lines are placeholders and sub-agents are mostly invisible, so such an
  account has ``usage_complete=False`` and only estimated costs.
- Costs the stream reports (``costUSD``, ``total_cost_usd``, legacy ``cost_usd``) are converted to
  nano-dollars from the JSON number's decimal text (the result line is re-parsed with ``Decimal``
  floats). A model's cost is its ``costUSD``; else, when it is the only model, the result's total;
  else an estimate from the price table (per response when there is no result, so per-request price
  bands apply). A model the table does not know makes the cost ``None`` ("unknown"), never a guess.
  The execution's cost is the sum over models, or the reported total when no model reported its own.
- A model with no tokens and no cost (e.g. the all-zero haiku entry of some 2.0 results) gets no row;
  ``<synthetic>`` never does.
- Tool results are searched for ``git commit`` lines and pull-request URLs, except those of tools that
  only show files (``FILE_VIEWING_TOOLS``): a commit line in a file read back is not this run's work.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from pilot_metrics_plugin.pricing import PriceTable, TokenUsage, normalize_model, usd_to_nano
from pilot_metrics_plugin.record import ModelUsageRecord as ModelAccount

SYNTHETIC_MODEL = "<synthetic>"
"""Model id of the CLI's own placeholder messages (API errors): never billed, never a row."""
MAX_TOKENS = 10**15
"""Larger token counts are corrupt, not real: ignored and counted as malformed."""
MAX_COST_NANO_USD = 10**15
"""A reported cost above $1,000,000 for one execution is corrupt: ignored and counted as malformed.
It also keeps sums of a few models far inside SQLite's 64-bit integers."""

READ_TOOLS = frozenset({"Read", "NotebookRead"})
WRITE_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
FILE_VIEWING_TOOLS = frozenset({"Read", "NotebookRead", "Grep", "Glob", "LS"})
"""Their results show files as they are, not what the run did: a commit line or pull-request URL in a
file read back is history, so these results are not searched (they are also most of a stream's bytes)."""

# `git commit` prints "[<branch> <sha>] subject" or "[<branch> (root-commit) <sha>] subject" at the start
# of a line; a detached HEAD prints "[detached HEAD <sha>] subject". Matched only where a line starts
# with "[", found with str.find: a regex anchored with re.MULTILINE would be tried at every position.
_COMMIT_LINE = re.compile(r"\[(?:detached HEAD|[^\[\]\s]+)(?: \(root-commit\))? ([0-9a-f]{7,40})\] ")
_PR_URL = re.compile(r"https://github\.com/[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+/pull/[0-9]+")
_PR_URL_START = "https://github.com/"
"""How every ``_PR_URL`` match starts: looked for first, as the longer text is found faster than the domain
alone (fewer of its characters are common in tool output)."""

_ABSENT: Any = object()
_MALFORMED: Any = object()
"""In a response's kept usage: a value that was there but of the wrong shape (counted as malformed)."""
_KEPT: Any = object()
"""The first item of a kept usage (see ``_kept_usage``)."""


@dataclass(frozen=True, slots=True)
class Account:
    """What one execution used, cost and did, as folded from its stream."""

    tokens_input: int
    tokens_output: int
    tokens_cache_read: int
    tokens_cache_write: int
    tokens_cache_write_1h: int
    tokens_total: int
    cost_nano_usd: int | None
    """``None`` when any part of the cost is unknown."""
    cost_source: str
    """``reported``, ``estimated`` (any part estimated) or ``unknown`` (any part unknown)."""
    price_table_version: str | None
    """The price table's version when it was consulted (a cost estimated, or found unknown)."""
    reported_total_cost_nano_usd: int | None
    """The last result's ``total_cost_usd`` (or legacy ``cost_usd``) as reported, to flag drift from
    the sum over ``modelUsage``."""
    models: tuple[ModelAccount, ...]
    """Sorted by model id. No ``<synthetic>`` row, and no row for a model with no tokens and no cost."""
    num_turns: int | None
    tool_calls: dict[str, int]
    """Tool name -> number of distinct ``tool_use`` ids, main thread and sub-agents, first-seen order."""
    files_read: tuple[str, ...]
    files_written: tuple[str, ...]
    commit_shas: tuple[str, ...]
    pr_url: str | None
    usage_complete: bool
    """False when no ``result`` event came: tokens are from assistant lines, outputs are placeholders."""
    result_count: int
    is_error: bool | None
    subtype: str | None
    terminal_reason: str | None
    agent_error: str | None
    model_requested: str | None
    malformed_usage: int
    """Token counts and costs that were consulted but ignored as implausible (negative, not an int,
    NaN, huge, wrong type)."""


@dataclass(slots=True)
class _Row:
    """One model's tokens and cost while the account is being built."""

    model: str | None
    """``None``: tokens whose model could not be named; they count in the totals but get no row."""
    tokens_input: int = 0
    tokens_output: int = 0
    tokens_cache_read: int = 0
    tokens_cache_write: int = 0
    tokens_cache_write_1h: int = 0
    cost_nano_usd: int | None = None
    cost_source: str = "unknown"
    has_1h_split: bool = False

    @property
    def tokens_total(self) -> int:
        return self.tokens_input + self.tokens_output + self.tokens_cache_read + self.tokens_cache_write

    def usage(self) -> TokenUsage:
        return TokenUsage(
            input=self.tokens_input,
            output=self.tokens_output,
            cache_read=self.tokens_cache_read,
            cache_write_5m=self.tokens_cache_write - self.tokens_cache_write_1h,
            cache_write_1h=self.tokens_cache_write_1h,
        )


@dataclass(slots=True)
class _Counts:
    """Reads token counts and costs out of untrusted mappings, counting what it had to ignore."""

    malformed: int = 0

    def tokens(self, source: Any, key: str) -> int:
        """A plausible count, or 0 (an absent key is 0 and not malformed)."""
        return self.token(source.get(key, _ABSENT))

    def token(self, value: Any) -> int:
        """``tokens`` of a value already looked up (``_ABSENT`` when it was not there)."""
        if type(value) is int and 0 <= value <= MAX_TOKENS:
            return value
        if value is not _ABSENT:
            self.malformed += 1
        return 0

    def cost(self, source: Any, key: str) -> int | None:
        """A plausible cost in nano-USD, or ``None`` when absent or implausible."""
        value = source.get(key, _ABSENT)
        if value is _ABSENT:
            return None
        nano = _usd_nano(value)
        if nano is None:
            self.malformed += 1
        return nano


def _usd_nano(value: Any) -> int | None:
    if type(value) is bool or not isinstance(value, (int, float, Decimal)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Decimal) and not value.is_finite():
        return None
    try:
        nano = usd_to_nano(value)
    except (ValueError, ArithmeticError):
        return None
    return nano if 0 <= nano <= MAX_COST_NANO_USD else None


def _is_mapping(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


class StreamFolder:
    """Accumulates one execution's stream-json events; ``account()`` turns them into an ``Account``."""

    __slots__ = (
        "_agent_error",
        "_commit_shas",
        "_files_read",
        "_files_written",
        "_last_result",
        "_last_result_text",
        "_messages",
        "_model_requested",
        "_open_message",
        "_pr_url",
        "_result_count",
        "_tool_calls",
        "_tool_names",
        "_unnamed_messages",
    )

    def __init__(self) -> None:
        # message key -> [model, usage (the last line's; kept by _kept_usage once the message's lines are
        # over), parent_tool_use_id, max valid output_tokens over its lines]
        self._messages: dict[Any, list[Any]] = {}
        self._open_message: list[Any] | None = None
        self._unnamed_messages = 0
        self._last_result: Mapping[str, Any] | None = None
        self._last_result_text: str | None = None
        self._result_count = 0
        self._model_requested: str | None = None
        self._agent_error: str | None = None
        self._tool_names: dict[str, str | None] = {}  # tool_use id -> tool name
        self._tool_calls: dict[str, int] = {}
        self._files_read: dict[str, None] = {}
        self._files_written: dict[str, None] = {}
        self._commit_shas: dict[str, None] = {}
        self._pr_url: str | None = None

    # -- per line -------------------------------------------------------------------------------

    def feed(self, raw: Mapping[str, Any], text: str) -> None:
        """Take one decoded stream line (``raw``) and its exact text. Cheap, no I/O, never raises
        on odd content; the text is only re-read for ``result`` lines, at ``account()`` time."""
        kind = raw.get("type")
        if kind == "assistant":
            self._assistant(raw)
        elif kind == "user":
            self._user(raw)
        elif kind == "result":
            self._result_count += 1
            self._last_result = raw
            self._last_result_text = text if isinstance(text, str) else None
        elif kind == "system" and self._model_requested is None and raw.get("subtype") == "init":
            model = raw.get("model")
            if isinstance(model, str):
                self._model_requested = model

    def _assistant(self, raw: Mapping[str, Any]) -> None:
        error = raw.get("error")
        if error is not None and isinstance(error, str):
            self._agent_error = error
        message = raw.get("message")
        if not (type(message) is dict or _is_mapping(message)):
            return
        usage = message.get("usage")
        output = usage.get("output_tokens") if type(usage) is dict or _is_mapping(usage) else None
        if not (type(output) is int and 0 <= output <= MAX_TOKENS):
            output = 0
        key = message.get("id")
        if type(key) is not str and not isinstance(key, str):
            # Without an id, lines cannot be matched up: each counts as its own response.
            self._unnamed_messages += 1
            key = self._unnamed_messages
        entry = self._messages.get(key)
        if entry is None:
            entry = self._messages[key] = [message.get("model"), usage, raw.get("parent_tool_use_id"), output]
        else:
            entry[0] = message.get("model")
            entry[1] = usage
            entry[2] = raw.get("parent_tool_use_id")
            if output > entry[3]:
                entry[3] = output
        if entry is not self._open_message:
            # Another message: the lines of the one before are over (a message's lines come together).
            # Only what the account reads of its usage is kept: keeping each message's decoded usage, nested
            # objects and all, alive to the end of the stream made the decoding of every later line slower.
            if self._open_message is not None:
                self._open_message[1] = _kept_usage(self._open_message[1])
            self._open_message = entry
        content = message.get("content")
        if type(content) is not list:
            return
        for block in content:
            if type(block) is not dict:
                continue
            block_type = block.get("type")
            if block_type == "tool_use":
                self._tool_use(block)
            elif block_type == "text":
                block_text = block.get("text")
                if type(block_text) is str and _PR_URL_START in block_text:
                    self._find_pr_url(block_text)

    def _tool_use(self, block: Mapping[str, Any]) -> None:
        tool_id = block.get("id")
        name = block.get("name")
        if not isinstance(name, str):
            name = None
        if isinstance(tool_id, str):
            if tool_id in self._tool_names:
                return
            self._tool_names[tool_id] = name
        if name is None:
            return
        self._tool_calls[name] = self._tool_calls.get(name, 0) + 1
        if name in READ_TOOLS:
            target = self._files_read
        elif name in WRITE_TOOLS:
            target = self._files_written
        else:
            return
        tool_input = block.get("input")
        if _is_mapping(tool_input):
            path = tool_input.get("file_path")
            if not isinstance(path, str):
                path = tool_input.get("notebook_path")
            if isinstance(path, str) and path:
                target[path] = None

    def _user(self, raw: Mapping[str, Any]) -> None:
        viewed_files = False
        scanned: Any = None
        message = raw.get("message")
        if type(message) is dict or _is_mapping(message):
            content = message.get("content")
            if type(content) is list:
                for block in content:
                    if type(block) is dict and block.get("type") == "tool_result":
                        tool_id = block.get("tool_use_id")
                        if type(tool_id) is str and self._tool_names.get(tool_id) in FILE_VIEWING_TOOLS:
                            viewed_files = True
                        else:
                            scanned = block.get("content")
                            if type(scanned) is str:
                                self._scan_text(scanned)
                            else:
                                self._scan_tool_output(scanned)
        if viewed_files:
            return
        # The sidecar repeats the line's tool result in the tool's own shape. A shell command's ``stdout``
        # is most often the very text just scanned (tool output is most of a stream's bytes): not twice.
        sidecar = raw.get("tool_use_result")
        if type(scanned) is str and type(sidecar) is dict and sidecar.get("stdout") == scanned:
            return
        if type(scanned) is str and sidecar == scanned:
            return
        self._scan_tool_output(sidecar)

    def _scan_tool_output(self, output: Any) -> None:
        if type(output) is str:
            self._scan_text(output)
        elif type(output) is list:
            for part in output:
                if type(part) is dict and part.get("type") == "text":
                    part_text = part.get("text")
                    if type(part_text) is str:
                        self._scan_text(part_text)
        elif type(output) is dict:
            stdout = output.get("stdout")
            if type(stdout) is str:
                self._scan_text(stdout)

    def _scan_text(self, text: str) -> None:
        # Each "[" that starts a line. Looked for one character at a time: finding a single character is a
        # memchr, and tool output holds few "[" but a newline every few dozen characters, which makes a
        # search for "\n[" stop at each one (two to four times slower on the fixtures' tool results).
        find = text.find
        start = find("[")
        while start >= 0:
            if start == 0 or text[start - 1] == "\n":
                self._match_commit(text, start)
            start = find("[", start + 1)
        if _PR_URL_START in text:
            self._find_pr_url(text)

    def _match_commit(self, text: str, start: int) -> None:
        match = _COMMIT_LINE.match(text, start)
        if match is not None:
            self._commit_shas[match.group(1)] = None

    def _find_pr_url(self, text: str) -> None:
        last = None
        for last in _PR_URL.finditer(text):
            pass
        if last is not None:
            self._pr_url = last.group(0)

    # -- at the end -----------------------------------------------------------------------------

    def account(self, on: date, prices: PriceTable) -> Account:
        """The execution's account, costs estimated with ``prices`` as of day ``on`` where the stream
        reported none. Can be called any number of times; it does not change the folder."""
        counts = _Counts()
        main_model = self._main_model()
        result = self._result_fields()
        reported_total: int | None = None
        if result is None:
            rows, consulted = _price_responses(self._responses(main_model, counts), on, prices)
            cost_nano_usd, cost_source = _sum_costs(rows)
        else:
            reported_total = counts.cost(result, "total_cost_usd")
            if reported_total is None and "total_cost_usd" not in result:
                reported_total = counts.cost(result, "cost_usd")
            # A model without tokens or a cost of its own has nothing to account (and gets no row).
            rows = [
                row
                for row in self._rows_from_result(result, main_model, reported_total, counts)
                if row.tokens_total or row.cost_source == "reported"
            ]
            consulted = False
            for row in rows:
                if row.cost_source != "reported":
                    consulted = True
                    _estimate(row, on, prices)
            if reported_total is not None and not any(row.cost_source == "reported" for row in rows):
                # No model reported its own cost: the stream's total is still better than estimates.
                cost_nano_usd, cost_source = reported_total, "reported"
            else:
                cost_nano_usd, cost_source = _sum_costs(rows)
        return _bounded(
            self._build(
                rows,
                counts,
                result,
                cost_nano_usd=cost_nano_usd,
                cost_source=cost_source,
                price_table_version=prices.version if consulted else None,
                reported_total_cost_nano_usd=reported_total,
            )
        )

    def _rows_from_result(
        self, result: Mapping[str, Any], main_model: str | None, reported_total: int | None, counts: _Counts
    ) -> list[_Row]:
        """Per-model rows from ``modelUsage``, else one main-model row from ``usage``. When one row
        stands for the whole execution and has no cost of its own, the reported total is its cost."""
        rows = self._rows_from_model_usage(result, main_model, counts)
        if not rows:
            row = self._row_from_usage(result, main_model, counts)
            rows = [row] if row is not None else []
        if len(rows) == 1 and rows[0].cost_source != "reported" and reported_total is not None:
            rows[0].cost_nano_usd, rows[0].cost_source = reported_total, "reported"
        return rows

    def _result_fields(self) -> Mapping[str, Any] | None:
        """The last result, re-read from its text so costs keep their exact decimal digits."""
        if self._last_result is None:
            return None
        text = self._last_result_text
        if text:
            try:
                exact = json.loads(text, parse_float=Decimal)
            except (ValueError, RecursionError):
                exact = None
            if type(exact) is dict and exact.get("type") == "result":
                return exact
        return self._last_result

    def _main_model(self) -> str | None:
        """The model of most main-thread responses (first seen wins a tie), else the requested one."""
        seen: dict[str, int] = {}
        for model, _usage, parent, _output in self._messages.values():
            if parent is None and isinstance(model, str) and model and model != SYNTHETIC_MODEL:
                seen[model] = seen.get(model, 0) + 1
        if seen:
            return max(seen, key=seen.__getitem__)
        return self._model_requested

    def _rows_from_model_usage(
        self, result: Mapping[str, Any], main_model: str | None, counts: _Counts
    ) -> list[_Row]:
        model_usage = result.get("modelUsage")
        if not _is_mapping(model_usage):
            return []
        rows: list[_Row] = []
        for model, entry in model_usage.items():
            if not isinstance(model, str) or not model or model == SYNTHETIC_MODEL:
                continue
            if not _is_mapping(entry):
                counts.malformed += 1
                continue
            row = _Row(
                model=model,
                tokens_input=counts.tokens(entry, "inputTokens"),
                tokens_output=counts.tokens(entry, "outputTokens"),
                tokens_cache_read=counts.tokens(entry, "cacheReadInputTokens"),
                tokens_cache_write=counts.tokens(entry, "cacheCreationInputTokens"),
            )
            if "cacheCreationEphemeral1hInputTokens" in entry:
                row.has_1h_split = True
                row.tokens_cache_write_1h = min(
                    counts.tokens(entry, "cacheCreationEphemeral1hInputTokens"), row.tokens_cache_write
                )
            cost = counts.cost(entry, "costUSD")
            if cost is not None:
                row.cost_nano_usd, row.cost_source = cost, "reported"
            rows.append(row)
        main_row = _match_model(rows, main_model)
        if main_row is not None and not main_row.has_1h_split:
            main_row.tokens_cache_write_1h = min(_usage_1h(result, counts), main_row.tokens_cache_write)
        return rows

    def _row_from_usage(
        self, result: Mapping[str, Any], main_model: str | None, counts: _Counts
    ) -> _Row | None:
        """The top-level ``usage`` (main model, main thread), for results without ``modelUsage``."""
        usage = result.get("usage")
        if not _is_mapping(usage):
            if usage is not None:
                counts.malformed += 1
            return _Row(model=main_model) if main_model is not None else None
        row = _Row(
            model=main_model,
            tokens_input=counts.tokens(usage, "input_tokens"),
            tokens_output=counts.tokens(usage, "output_tokens"),
            tokens_cache_read=counts.tokens(usage, "cache_read_input_tokens"),
            tokens_cache_write=counts.tokens(usage, "cache_creation_input_tokens"),
        )
        row.tokens_cache_write_1h = min(_usage_1h(result, counts), row.tokens_cache_write)
        return row

    def _responses(self, main_model: str | None, counts: _Counts) -> list[_Row]:
        """One row per assistant response (``message.id``), for when no result came."""
        responses: list[_Row] = []
        for model, usage, _parent, max_output in self._messages.values():
            if model == SYNTHETIC_MODEL:
                continue
            if not isinstance(model, str) or not model:
                model = main_model
            if not (type(usage) is tuple and usage and usage[0] is _KEPT):
                usage = _kept_usage(usage)
            if usage is None or usage is _MALFORMED:
                if usage is _MALFORMED:
                    counts.malformed += 1
                continue
            _, tokens_input, tokens_output, tokens_cache_read, tokens_cache_write, value_1h = usage
            counts.token(tokens_output)  # only to count a malformed value once per response
            cache_write = counts.token(tokens_cache_write)
            if value_1h is _MALFORMED:
                counts.malformed += 1
                cache_write_1h = 0
            else:
                cache_write_1h = counts.token(value_1h)
            responses.append(
                _Row(
                    model=model,
                    tokens_input=counts.token(tokens_input),
                    tokens_output=max_output,
                    tokens_cache_read=counts.token(tokens_cache_read),
                    tokens_cache_write=cache_write,
                    tokens_cache_write_1h=min(cache_write_1h, cache_write),
                )
            )
        return responses

    def _build(
        self,
        rows: list[_Row],
        counts: _Counts,
        result: Mapping[str, Any] | None,
        *,
        cost_nano_usd: int | None,
        cost_source: str,
        price_table_version: str | None,
        reported_total_cost_nano_usd: int | None,
    ) -> Account:
        models = tuple(
            ModelAccount(
                model=row.model,
                tokens_input=row.tokens_input,
                tokens_output=row.tokens_output,
                tokens_cache_read=row.tokens_cache_read,
                tokens_cache_write=row.tokens_cache_write,
                tokens_cache_write_1h=row.tokens_cache_write_1h,
                tokens_total=row.tokens_total,
                cost_nano_usd=row.cost_nano_usd,
                cost_source=row.cost_source,
            )
            for row in sorted(rows, key=lambda r: r.model or "")
            if row.model is not None and (row.tokens_total or row.cost_nano_usd)
        )
        tokens = [sum(getattr(row, name) for row in rows) for name in _TOKEN_FIELDS]
        is_error = subtype = terminal_reason = None
        num_turns = None
        if result is not None:
            value = result.get("is_error")
            is_error = value if type(value) is bool else None
            value = result.get("subtype")
            subtype = value if isinstance(value, str) else None
            value = result.get("terminal_reason")
            terminal_reason = value if isinstance(value, str) else None
            value = result.get("num_turns")
            num_turns = value if type(value) is int and 0 <= value <= MAX_TOKENS else None
        return Account(
            tokens_input=tokens[0],
            tokens_output=tokens[1],
            tokens_cache_read=tokens[2],
            tokens_cache_write=tokens[3],
            tokens_cache_write_1h=tokens[4],
            tokens_total=tokens[0] + tokens[1] + tokens[2] + tokens[3],
            cost_nano_usd=cost_nano_usd,
            cost_source=cost_source,
            price_table_version=price_table_version,
            reported_total_cost_nano_usd=reported_total_cost_nano_usd,
            models=models,
            num_turns=num_turns,
            tool_calls=dict(self._tool_calls),
            files_read=tuple(self._files_read),
            files_written=tuple(self._files_written),
            commit_shas=tuple(self._commit_shas),
            pr_url=self._pr_url,
            usage_complete=result is not None,
            result_count=self._result_count,
            is_error=is_error,
            subtype=subtype,
            terminal_reason=terminal_reason,
            agent_error=self._agent_error,
            model_requested=self._model_requested,
            malformed_usage=counts.malformed,
        )


_TOKEN_FIELDS = (
    "tokens_input",
    "tokens_output",
    "tokens_cache_read",
    "tokens_cache_write",
    "tokens_cache_write_1h",
)


def _match_model(rows: list[_Row], model: str | None) -> _Row | None:
    """The row of ``model``: same id, else the one row with the same normalised id (``[1m]``
    suffixes, provider prefixes), else the only row there is."""
    if model is not None:
        for row in rows:
            if row.model == model:
                return row
        wanted = normalize_model(model)
        if wanted is not None:
            same = [row for row in rows if row.model is not None and normalize_model(row.model) == wanted]
            if len(same) == 1:
                return same[0]
    return rows[0] if len(rows) == 1 else None


def _kept_usage(usage: Any) -> Any:
    """What ``_responses`` reads of a response's ``usage``, looked up but not checked yet:
    ``(_KEPT, input, output, cache read, cache write, 1-hour cache write)``, each ``_ABSENT`` when missing,
    the last ``_MALFORMED`` when ``cache_creation`` is not an object (as ``_cache_creation_1h`` reads it).
    ``None`` for no usage, ``_MALFORMED`` for one that is not an object."""
    if not (type(usage) is dict or _is_mapping(usage)):
        return None if usage is None else _MALFORMED
    split = usage.get("cache_creation")
    if split is None:
        cache_write_1h = _ABSENT
    elif type(split) is dict or _is_mapping(split):
        cache_write_1h = split.get("ephemeral_1h_input_tokens", _ABSENT)
    else:
        cache_write_1h = _MALFORMED
    return (
        _KEPT,
        usage.get("input_tokens", _ABSENT),
        usage.get("output_tokens", _ABSENT),
        usage.get("cache_read_input_tokens", _ABSENT),
        usage.get("cache_creation_input_tokens", _ABSENT),
        cache_write_1h,
    )


def _cache_creation_1h(usage: Mapping[str, Any], counts: _Counts) -> int:
    split = usage.get("cache_creation")
    if split is None:
        return 0
    if not _is_mapping(split):
        counts.malformed += 1
        return 0
    return counts.tokens(split, "ephemeral_1h_input_tokens")


def _usage_1h(result: Mapping[str, Any], counts: _Counts) -> int:
    usage = result.get("usage")
    return _cache_creation_1h(usage, counts) if _is_mapping(usage) else 0


def _estimate(row: _Row, on: date, prices: PriceTable) -> None:
    """Price a row the stream gave no cost for."""
    nano = prices.estimate_nano(row.model, on, row.usage()) if row.model is not None else None
    row.cost_nano_usd, row.cost_source = (nano, "estimated") if nano is not None else (None, "unknown")


def _price_responses(responses: list[_Row], on: date, prices: PriceTable) -> tuple[list[_Row], bool]:
    """Per-model rows from per-response rows, each response priced on its own (``single_request``)
    so that per-request price bands (long context) apply as billed. Also says whether the price
    table was consulted."""
    rows: dict[str | None, _Row] = {}
    consulted = False
    for response in responses:
        row = rows.get(response.model)
        if row is None:
            row = rows[response.model] = _Row(model=response.model, cost_nano_usd=0, cost_source="estimated")
        for name in _TOKEN_FIELDS:
            setattr(row, name, getattr(row, name) + getattr(response, name))
        if response.tokens_total == 0:
            continue
        consulted = True
        nano = (
            prices.estimate_nano(response.model, on, response.usage(), single_request=True)
            if response.model is not None
            else None
        )
        if nano is None or row.cost_nano_usd is None:
            row.cost_nano_usd, row.cost_source = None, "unknown"
        else:
            row.cost_nano_usd += nano
    return list(rows.values()), consulted


def _bounded(account: Account) -> Account:
    """``account``, unless its sums pass what one execution can use: more than ``MAX_TOKENS`` tokens, or a
    cost above ``MAX_COST_NANO_USD`` (thousands of responses or models each claiming a huge but allowed
    count). Such sums are corrupt and would not fit SQLite's 64-bit integers: the usage is dropped, the cost
    is unknown (never a guess), and the account counts one more malformed value."""
    costs = (account.cost_nano_usd, *(model.cost_nano_usd for model in account.models))
    if account.tokens_total <= MAX_TOKENS and all(c is None or c <= MAX_COST_NANO_USD for c in costs):
        return account
    return replace(
        account,
        tokens_input=0,
        tokens_output=0,
        tokens_cache_read=0,
        tokens_cache_write=0,
        tokens_cache_write_1h=0,
        tokens_total=0,
        cost_nano_usd=None,
        cost_source="unknown",
        models=(),
        usage_complete=False,
        malformed_usage=account.malformed_usage + 1,
    )


def _sum_costs(rows: list[_Row]) -> tuple[int | None, str]:
    """The execution's cost: unknown if any row is, estimated if any row is, else reported.
    No rows at all (nothing was used) cost 0."""
    if any(row.cost_nano_usd is None for row in rows):
        return None, "unknown"
    total = sum(row.cost_nano_usd or 0 for row in rows)
    if all(row.cost_source == "reported" for row in rows) and rows:
        return total, "reported"
    return total, "estimated"
