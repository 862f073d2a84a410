"""Which phase an execution is in, read from the agent's stream: the phase table lives here.

Two sources, in this order of trust:

- Navigator markers in the agent's text (``PHASE: RESEARCH -> IMPL``, or a ``Phase: VERIFY`` line): once an
  execution has shown one, they alone decide its phases.
- Otherwise the main thread's tool uses, by ``TOOL_PHASES`` and, for shell commands, ``COMMAND_PHASES``
  (first match wins; no match is ``executing``).
  Sub-agent traffic (``parent_tool_use_id`` set) never moves the phase: it belongs to ``delegating``.

An execution starts in ``INITIAL_PHASE``; a tool that matches no rule keeps the current phase.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

INITIAL_PHASE = "planning"

TOOL_PHASES: dict[str, str] = {
    "Read": "exploring",
    "Glob": "exploring",
    "Grep": "exploring",
    "LS": "exploring",
    "NotebookRead": "exploring",
    "WebFetch": "exploring",
    "WebSearch": "exploring",
    "Edit": "implementing",
    "MultiEdit": "implementing",
    "Write": "implementing",
    "NotebookEdit": "implementing",
    "Task": "delegating",
    "Agent": "delegating",
}

SHELL_TOOLS = frozenset({"Bash", "PowerShell"})

COMMAND_PHASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bgit\s+(?:-[Cc]\s+\S+\s+|-\S+\s+)*(?:commit|push)\b|\bgh\s+pr\s+create\b"), "committing"),
    (
        re.compile(
            r"\b(?:pytest|py\.test|tox|nox|jest|vitest|mocha|rspec|phpunit|ctest)\b"
            r"|\bpython3?\s+-m\s+(?:pytest|unittest)\b"
            r"|\b(?:go|cargo|dotnet|swift|mix|deno|bun)\s+test\b"
            r"|\b(?:npm|pnpm|yarn)\s+(?:run\s+)?test\b"
            r"|\bmake\s+(?:test|check)\b|\bgradlew?\s+test\b|\bmvn\s+(?:\S+\s+)*test\b"
        ),
        "testing",
    ),
    (
        re.compile(
            r"\b(?:pip3?|uv\s+pip|poetry|npm|pnpm|yarn|bun|gem|bundle)\s+(?:install|add|ci)\b"
            r"|\bgo\s+(?:mod|get)\b|\bcargo\s+(?:add|fetch)\b|\bapt(?:-get)?\s+install\b"
        ),
        "installing",
    ),
    (
        re.compile(
            r"^\s*(?:cd\s+\S+\s*&&\s*)?(?:ls|cat|head|tail|less|find|grep|rg|ag|tree|wc|file|stat|pwd|which"
            r"|git\s+(?:status|log|diff|show|blame|grep|ls-files))\b"
        ),
        "exploring",
    ),
)
SHELL_DEFAULT_PHASE = "executing"
"""A shell command that matches no rule above: the agent is running something (a build, a script ...)."""

_ARROW = r"(?:->|→|=>)"
_NAVIGATOR_TRANSITION = re.compile(rf"\bPHASE:\s*[\w-]+\s*{_ARROW}\s*([\w-]+)")
_NAVIGATOR_LINE = re.compile(r"^\s*\**Phase\**:\s*\**\s*([A-Za-z][\w-]*)", re.MULTILINE)


def phase_of_tool(name: str, tool_input: Any) -> str | None:
    """The phase a main-thread tool use moves to, or ``None`` to stay."""
    phase = TOOL_PHASES.get(name)
    if phase is not None:
        return phase
    if name in SHELL_TOOLS and isinstance(tool_input, Mapping):
        command = tool_input.get("command")
        if isinstance(command, str):
            for pattern, command_phase in COMMAND_PHASES:
                if pattern.search(command):
                    return command_phase
        return SHELL_DEFAULT_PHASE
    return None


def navigator_phase(text: str) -> str | None:
    """The phase a Navigator marker in assistant text names (the last one in the text), lower-cased."""
    if "hase" not in text and "HASE" not in text:
        return None
    found = _NAVIGATOR_TRANSITION.findall(text) or _NAVIGATOR_LINE.findall(text)
    return found[-1].lower() if found else None


class PhaseDetector:
    """Reads events and says when the phase changes; the host turns that into hook calls."""

    __slots__ = ("current", "navigator")

    def __init__(self) -> None:
        self.current = INITIAL_PHASE
        self.navigator = False

    def observe(self, raw: Mapping[str, Any]) -> str | None:
        """The new phase this event moves to, or ``None``."""
        if raw.get("type") != "assistant" or raw.get("parent_tool_use_id"):
            return None
        message = raw.get("message")
        content = message.get("content") if isinstance(message, Mapping) else None
        if not isinstance(content, list):
            return None
        new = None
        for block in content:
            if not isinstance(block, Mapping):
                continue
            kind = block.get("type")
            if kind == "text":
                text = block.get("text")
                marker = navigator_phase(text) if isinstance(text, str) else None
                if marker is not None:
                    self.navigator = True
                    new = marker
            elif kind == "tool_use" and not self.navigator:
                name = block.get("name")
                if isinstance(name, str):
                    new = phase_of_tool(name, block.get("input")) or new
        if new is None or new == self.current:
            return None
        self.current = new
        return new
