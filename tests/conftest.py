"""Shared test fixtures: an isolated PILOT_HOME per test and the paths of the recorded transcripts."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hookspecs.manager import PluginHost

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRANSCRIPTS = FIXTURES / "claude-stream-json"
GO_RECORDINGS = FIXTURES / "pilot-go-recordings"
ALL_TRANSCRIPTS = sorted(TRANSCRIPTS.glob("*.jsonl"))
WAIT_S = 30.0
"""How long a test waits for a process to reach a state or exit; far beyond what any of them needs."""


def transcript(prefix: str) -> Path:
    """The one shared transcript whose file name starts with ``prefix``."""
    (match,) = [p for p in ALL_TRANSCRIPTS if p.name.startswith(prefix)]
    return match


def wait_until(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
    """Whether ``condition`` holds within ``timeout_s``, asked every 20 ms."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def host_with(*plugins: tuple[str, object]) -> PluginHost:
    """A host with exactly these ``(name, plugin)`` pairs and no installed plugin."""
    return PluginHost.create(plugins=plugins, load_entrypoints=False)


@pytest.fixture
def hermetic_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user or system git config, no inherited GIT_* variable, no repository above tmp_path."""
    for name in list(os.environ):
        if name.startswith("GIT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test gets its own PILOT_HOME, and the developer's PILOT_* variables never leak in
    (``PILOT_TEST_*`` variables configure the tests themselves and are kept)."""
    for name in list(os.environ):
        if name.startswith("PILOT_") and not name.startswith("PILOT_TEST_"):
            monkeypatch.delenv(name)
    home = tmp_path / "pilot-home"
    monkeypatch.setenv("PILOT_HOME", str(home))
    return home
