"""decode_line: a good line is one JSON object; anything else is malformed (counted), never an exception."""

from __future__ import annotations

import sys

import pytest

from conftest import ALL_TRANSCRIPTS
from hookspecs.streamjson import MAX_LINE_BYTES, decode_line, event_type

INT_DIGITS_LIMIT = getattr(sys, "get_int_max_str_digits", lambda: 0)()
"""Python's limit on converting decimal text to int (4300 by default since 3.11 and 3.10.7; 0 = none)."""


def test_a_json_object_line_decodes_to_the_object_and_its_text_without_the_newline() -> None:
    line = b'{"type":"result","total_cost_usd":0.0123}\r\n'
    assert decode_line(line) == (
        {"type": "result", "total_cost_usd": 0.0123},
        '{"type":"result","total_cost_usd":0.0123}',
        None,
    )


@pytest.mark.parametrize("line", [b"\n", b"", b"   \t\r\n"], ids=["newline", "empty", "whitespace"])
def test_a_blank_line_is_skipped_without_being_counted_as_malformed(line: bytes) -> None:
    # No object and no reason: the host neither emits an event nor counts a malformed line.
    assert decode_line(line) == (None, None, None)


def test_a_line_that_is_not_json_is_malformed() -> None:
    obj, text, reason = decode_line(b"Error: Claude Code exited unexpectedly\n")
    assert (obj, text) == (None, None)
    assert reason is not None and reason.startswith("not JSON: ")


def test_an_object_cut_off_mid_line_is_malformed() -> None:
    assert decode_line(b'{"type":"assistant","message":{"content":[\n')[2] is not None


@pytest.mark.parametrize(
    ("line", "kind"),
    [(b'[{"type":"system"}]\n', "list"), (b"42\n", "int"), (b'"result"\n', "str"), (b"null\n", "NoneType")],
)
def test_json_that_is_not_an_object_is_malformed(line: bytes, kind: str) -> None:
    assert decode_line(line) == (None, None, f"not a JSON object: {kind}")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_which_python_would_accept_are_malformed(constant: str) -> None:
    obj, _, reason = decode_line(f'{{"type":"result","total_cost_usd":{constant}}}\n'.encode())
    assert obj is None
    assert reason == f"not JSON: {constant} is not JSON"


def test_a_line_that_is_not_utf8_is_malformed() -> None:
    assert decode_line(b'{"type":"assistant","text":"caf\xe9"}\n') == (None, None, "not UTF-8")


def padded_object(size_bytes: int) -> bytes:
    """A JSON object of exactly ``size_bytes`` bytes: ``{"pad":"xxx...x"}`` (10 bytes around the x's)."""
    return b'{"pad":"' + b"x" * (size_bytes - 10) + b'"}'


def test_a_line_one_byte_over_16_mib_is_malformed() -> None:
    line = padded_object(MAX_LINE_BYTES + 1)
    assert len(line) == 16 * 1024 * 1024 + 1
    assert decode_line(line) == (None, None, "line longer than 16 MiB")


def test_a_line_of_exactly_16_mib_is_accepted_with_its_newline() -> None:
    # 16 MiB of JSON plus the newline the reader keeps: the newline is not part of the line's length.
    obj, _, reason = decode_line(padded_object(MAX_LINE_BYTES) + b"\n")
    assert reason is None
    assert obj is not None and len(obj["pad"]) == MAX_LINE_BYTES - 10


def test_nesting_100000_levels_deep_is_malformed_instead_of_overflowing_the_stack() -> None:
    depth = 100_000
    line = b'{"a":' * depth + b"1" + b"}" * depth
    obj, _, reason = decode_line(line)
    assert obj is None
    assert reason is not None and reason.startswith("not JSON: ")


@pytest.mark.skipif(
    not 0 < INT_DIGITS_LIMIT < 5000,
    reason="this Python converts a 5000-digit integer (no digit limit, or a higher one)",
)
def test_an_integer_of_5000_digits_is_malformed_instead_of_raising() -> None:
    obj, _, reason = decode_line(b'{"type":"result","num_turns":' + b"7" * 5000 + b"}")
    assert obj is None
    assert reason is not None and reason.startswith("not JSON: ")


def test_every_line_of_every_recorded_transcript_decodes_to_an_object_or_is_blank() -> None:
    for path in ALL_TRANSCRIPTS:
        for number, line in enumerate(path.read_bytes().splitlines(keepends=True), start=1):
            _, _, reason = decode_line(line)
            assert reason is None, f"{path.name}:{number}: {reason}"


@pytest.mark.parametrize(("value", "kind"), [({"type": "result"}, "result"), ({}, ""), ({"type": 7}, "")])
def test_event_type_is_the_type_field_or_empty(value: dict[str, object], kind: str) -> None:
    assert event_type(value) == kind
