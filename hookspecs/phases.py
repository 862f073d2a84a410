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
from functools import lru_cache
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

# Shell commands are classified one simple command at a time (split at `&&`, `||`, `;`, `|` and new lines),
# by what the command is, not by words in its arguments: `pip install pytest` installs, `cat pytest.ini`
# explores. The strongest phase of the segments wins, in the order of SHELL_PHASE_STRENGTH.
COMMAND_PHASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"git\s+(?:-[Cc]\s+\S+\s+|-\S+\s+)*(?:commit|push)\b|gh\s+pr\s+create\b"), "committing"),
    (
        re.compile(
            r"(?:pytest|py\.test|tox|nox|jest|vitest|mocha|rspec|phpunit|ctest)\b"
            r"|python[\d.]*\s+-m\s+(?:pytest|unittest)\b"
            r"|(?:go|cargo|dotnet|swift|mix|deno|bun)\s+test\b"
            r"|(?:npm|pnpm|yarn)\s+(?:run\s+)?test\b"
            r"|make\s+(?:\S+\s+)*(?:test|check)\b|\.?/?gradlew?\s+test\b|mvn\s+(?:\S+\s+)*test\b"
        ),
        "testing",
    ),
    (
        re.compile(
            r"(?:pip[\d.]*|python[\d.]*\s+-m\s+pip|uv\s+pip|uv|poetry|npm|pnpm|yarn|bun|gem|bundle|composer)"
            r"\s+(?:install|add|ci|sync)\b"
            r"|go\s+(?:mod|get)\b|cargo\s+(?:add|fetch)\b|apt(?:-get)?\s+install\b"
        ),
        "installing",
    ),
    (
        re.compile(
            r"(?:ls|cat|head|tail|less|more|find|grep|egrep|rg|ag|tree|wc|file|stat|pwd|which|echo\s+\$|sed\s+-n"
            r"|git\s+(?:status|log|diff|show|blame|grep|ls-files|branch))\b"
        ),
        "exploring",
    ),
)
SHELL_DEFAULT_PHASE = "executing"
"""A shell command that matches no rule above: the agent is running something (a build, a script ...)."""
SHELL_PHASE_STRENGTH = ("committing", "testing", "installing", SHELL_DEFAULT_PHASE, "exploring")

_SEGMENTS = re.compile(r"&&|\|\||[;|\n]")
_PREFIXES = re.compile(
    r"^(?:(?:[A-Za-z_][A-Za-z0-9_]*=\S*|sudo|time|nice|env|command|exec|timeout\s+\S+"
    r"|(?:uv|poetry|pipenv|pdm|hatch)\s+run|npx|bunx|pnpm\s+exec|yarn\s+exec)\s+)+"
)
_CD = re.compile(r"^(?:cd|pushd|popd)\b")
_PATH = re.compile(r"^[^\s/]*/(?:[^\s/]+/)*(?=[^\s/])")
"""The directories of a command word given by path (``.venv/bin/pytest``): the command is what follows."""

_ARROW = r"(?:->|→|=>)"
_NAVIGATOR_TRANSITION = re.compile(rf"\bPHASE:\s*[\w-]+\s*{_ARROW}\s*([\w-]+)")
_NAVIGATOR_LINE = re.compile(r"^\s*\**Phase\**:\s*\**\s*([A-Za-z][\w-]*)", re.MULTILINE)


def phase_of_tool(name: str, tool_input: Any) -> str | None:
    """The phase a main-thread tool use moves to, or ``None`` to stay."""
    phase = TOOL_PHASES.get(name)
    if phase is not None:
        return phase
    if name in SHELL_TOOLS:
        command = tool_input.get("command") if isinstance(tool_input, Mapping) else None
        return phase_of_command(command) if isinstance(command, str) else SHELL_DEFAULT_PHASE
    return None


@lru_cache(maxsize=1024)
def phase_of_command(command: str) -> str:
    """The strongest phase among the simple commands of a shell command line. Cached: an agent runs the
    same few commands (its test command above all) again and again, and classifying one takes a few µs."""
    found: set[str] = set()
    for segment in _SEGMENTS.split(command):
        segment = _PATH.sub("", _PREFIXES.sub("", segment.strip().lstrip("({ ")))
        if not segment or _CD.match(segment):
            continue
        for pattern, phase in COMMAND_PHASES:
            if pattern.match(segment):
                found.add(phase)
                break
        else:
            found.add(SHELL_DEFAULT_PHASE)
    for phase in SHELL_PHASE_STRENGTH:
        if phase in found:
            return phase
    return SHELL_DEFAULT_PHASE


NAVIGATOR_PHASES: dict[str, str] = {
    "init": "planning", "plan": "planning", "planning": "planning",
    "research": "exploring", "explore": "exploring", "exploring": "exploring",
    "impl": "implementing", "implement": "implementing", "implementation": "implementing",
    "implementing": "implementing",
    "verify": "testing", "verification": "testing", "test": "testing", "testing": "testing",
    "commit": "committing", "committing": "committing",
    "complete": "completing", "completed": "completing", "completing": "completing",
}
"""Navigator's phase names, in this table's words; a name not listed is kept as it is, lower-cased."""


def navigator_phase(text: str) -> str | None:
    """The phase a Navigator marker in assistant text names (the last one in the text)."""
    if "hase" not in text and "HASE" not in text:
        return None
    found = _NAVIGATOR_TRANSITION.findall(text) or _NAVIGATOR_LINE.findall(text)
    if not found:
        return None
    name = found[-1].lower()
    return NAVIGATOR_PHASES.get(name, name)


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
        # `type(x) is dict` first: decoded JSON is always a dict, and the Mapping ABC check costs more.
        content = message.get("content") if type(message) is dict or isinstance(message, Mapping) else None
        if not isinstance(content, list):
            return None
        new = None
        for block in content:
            if not (type(block) is dict or isinstance(block, Mapping)):
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
