"""Decoding one line of stream-json output: pure, total, and cheap.

A line is accepted when it is UTF-8, at most ``MAX_LINE_BYTES`` long, and one JSON object. Anything else is
malformed: counted and skipped by the host, never fatal. ``NaN`` and ``Infinity`` are not JSON and make a
line malformed; so do nesting too deep for the decoder and integers too long to convert.
"""

from __future__ import annotations

import json
from typing import Any

MAX_LINE_BYTES = 16 * 1024 * 1024


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_decoder = json.JSONDecoder(parse_constant=_reject_constant)
_scan_object = _decoder.scan_once
"""The decoder's own (C) scanner. Called directly for a line that is one object with nothing around it
(every line an agent writes), it skips ``JSONDecoder.decode``'s two whitespace regexes per line; anything
else takes the full ``decode``, which gives the same value or the error."""


def decode_line(data: bytes) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """``(object, text, None)`` for a good line; ``(None, None, reason)`` for a malformed one;
    ``(None, None, None)`` for a blank line (skipped, not counted)."""
    # The limit is on the line, not its terminator: a 16 MiB line read with its newline is still accepted.
    if len(data) > MAX_LINE_BYTES and len(data.rstrip(b"\r\n")) > MAX_LINE_BYTES:
        return None, None, "line longer than 16 MiB"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, None, "not UTF-8"
    text = text.rstrip("\r\n")
    if text[:1] == "{":
        try:
            value, end = _scan_object(text, 0)
        except (ValueError, RecursionError, StopIteration):
            pass  # decode() below says what is wrong
        else:
            if end == len(text):
                return value, text, None
    if not text.strip():
        return None, None, None
    try:
        value = _decoder.decode(text)
    except (ValueError, RecursionError) as exc:
        return None, None, f"not JSON: {exc}"[:200]
    if not isinstance(value, dict):
        return None, None, f"not a JSON object: {type(value).__name__}"
    return value, text, None


def event_type(value: dict[str, Any]) -> str:
    kind = value.get("type")
    return kind if isinstance(kind, str) else ""
