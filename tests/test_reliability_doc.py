"""RELIABILITY.md names a test for each promise: every test it names exists, and every promise names one."""

from __future__ import annotations

import re

from conftest import ROOT

DOC = ROOT / "RELIABILITY.md"
REFERENCE = re.compile(r"`((?:tests|examples)/[\w/.-]+\.py)::(test_\w+)(?:\[[^\]]*\])?`")
BARE = re.compile(r"`(test_\w+)`")


def test_every_test_the_reliability_document_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = REFERENCE.findall(text)
    assert len(named) > 50
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not re.search(rf"^def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert missing == []


def test_every_test_named_without_its_file_exists_in_the_tests() -> None:
    defined = {
        name
        for path in (ROOT / "tests").glob("test_*.py")
        for name in re.findall(r"^def (test_\w+)\(", path.read_text(encoding="utf-8"), re.MULTILINE)
    }
    named = set(BARE.findall(DOC.read_text(encoding="utf-8")))
    assert named and named <= defined, sorted(named - defined)


def test_every_promise_in_a_table_names_its_test() -> None:
    # The two-column tables: | Promise | Test |.
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    promises = [row for row in rows if row.count("|") == 3 and not row.startswith(("| Promise", "|---"))]
    assert len(promises) > 30
    without = [row for row in promises if not REFERENCE.search(row) and "see *" not in row]
    assert without == []
