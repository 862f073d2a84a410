"""The phase table: which tool use, shell command or Navigator marker moves an execution to which phase."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import transcript
from hookspecs.phases import INITIAL_PHASE, PhaseDetector, navigator_phase, phase_of_tool


def assistant(*blocks: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
    """An assistant event as Claude Code writes it; ``parent`` is set on a sub-agent's messages."""
    return {
        "type": "assistant",
        "parent_tool_use_id": parent,
        "message": {"role": "assistant", "content": list(blocks)},
    }


def tool_use(name: str, **tool_input: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": "toolu_01", "name": name, "input": tool_input}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def bash(command: str) -> str | None:
    return phase_of_tool("Bash", {"command": command, "description": "run it"})


# -- tools -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "phase"),
    [
        ("Read", "exploring"),
        ("Glob", "exploring"),
        ("Grep", "exploring"),
        ("LS", "exploring"),
        ("NotebookRead", "exploring"),
        ("WebFetch", "exploring"),
        ("WebSearch", "exploring"),
        ("Edit", "implementing"),
        ("MultiEdit", "implementing"),
        ("Write", "implementing"),
        ("NotebookEdit", "implementing"),
        ("Task", "delegating"),
        ("Agent", "delegating"),
    ],
)
def test_each_tool_in_the_table_moves_to_its_phase(tool: str, phase: str) -> None:
    assert phase_of_tool(tool, {"file_path": "src/app.py"}) == phase


@pytest.mark.parametrize("tool", ["TodoWrite", "ExitPlanMode", "Skill", "mcp__github__create_issue"])
def test_a_tool_outside_the_table_keeps_the_current_phase(tool: str) -> None:
    assert phase_of_tool(tool, {}) is None


# -- shell commands ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        'git commit -m "Fix the date parser"',
        "git add -A && git commit -m wip",
        "git -C /repo commit --amend --no-edit",
        "git push -u origin feature/dates",
        'gh pr create --title "Fix dates" --body "..."',
    ],
)
def test_commit_push_and_pull_request_commands_are_committing(command: str) -> None:
    assert bash(command) == "committing"


@pytest.mark.parametrize(
    "command",
    [
        "pytest -q tests/test_dates.py",
        "python -m pytest -x -k dates",
        "python3 -m unittest discover -s tests",
        "uv run pytest",
        ".venv/bin/pytest -q 2>&1 | tail -20",
        "PYTHONPATH=src pytest",
        "tox -e py311",
        "npm test",
        "npm run test -- --watchAll=false",
        "cd web && yarn test",
        "npx jest src/dates.test.ts",
        "npx vitest run",
        "go test ./...",
        "cargo test --all-features",
        "make test",
        "make check",
        "./gradlew test",
        "mvn -q test",
        "bun test",
    ],
)
def test_test_runner_commands_are_testing(command: str) -> None:
    assert bash(command) == "testing"


@pytest.mark.parametrize(
    "command",
    [
        "pip install -e .",
        "pip3 install -r requirements.txt",
        "uv pip install requests",
        "poetry add httpx",
        "npm install",
        "npm ci",
        "pnpm add zod",
        "go mod tidy",
        "go get github.com/stretchr/testify",
        "cargo add serde --features derive",
        "apt-get install -y jq",
    ],
)
def test_dependency_install_commands_are_installing(command: str) -> None:
    assert bash(command) == "installing"


@pytest.mark.parametrize(
    "command",
    [
        "ls -la",
        "cat README.md",
        "head -50 src/app.py",
        "find . -name '*.py' -not -path './.venv/*'",
        "grep -rn 'def parse' src",
        "rg TODO",
        "cd src && ls",
        "tree -L 2",
        "wc -l src/*.py",
        "git status",
        "git log --oneline -5",
        "git diff HEAD~1",
    ],
)
def test_read_only_looking_around_commands_are_exploring(command: str) -> None:
    assert bash(command) == "exploring"


@pytest.mark.parametrize(
    "command",
    [
        "python scripts/migrate.py",
        "make build",
        "npm run build",
        "cargo build --release",
        "echo hello",
        "mkdir -p src",
    ],
)
def test_a_shell_command_that_matches_no_rule_is_executing(command: str) -> None:
    assert bash(command) == "executing"


def test_a_commit_that_mentions_a_test_runner_is_committing() -> None:
    # The rules are tried in order, commit first: the message's "pytest" does not make it testing.
    assert bash('git commit -m "Run pytest in CI"') == "committing"


def test_installing_then_testing_in_one_command_is_testing() -> None:
    assert bash("pip install -e . && pytest -q") == "testing"


def test_powershell_commands_follow_the_same_rules() -> None:
    assert phase_of_tool("PowerShell", {"command": "git commit -m wip"}) == "committing"


@pytest.mark.parametrize(
    "command", ["pip install pytest", "pip install -q pytest hypothesis", "npm install -D jest"]
)
def test_installing_a_test_runner_is_installing(command: str) -> None:
    assert bash(command) == "installing"


@pytest.mark.parametrize("command", ["cat pytest.ini", "cat tox.ini", "grep -n jest package.json"])
def test_reading_a_test_runners_config_is_exploring(command: str) -> None:
    assert bash(command) == "exploring"


# -- the detector ------------------------------------------------------------------------------------------


def test_an_execution_starts_in_planning() -> None:
    assert PhaseDetector().current == INITIAL_PHASE == "planning"


def test_a_main_thread_tool_use_moves_the_phase() -> None:
    detector = PhaseDetector()
    assert detector.observe(assistant(tool_use("Read", file_path="src/app.py"))) == "exploring"
    assert detector.current == "exploring"


def test_the_phase_the_execution_is_already_in_is_not_a_transition() -> None:
    detector = PhaseDetector()
    detector.observe(assistant(tool_use("Read", file_path="a.py")))
    assert detector.observe(assistant(tool_use("Grep", pattern="parse"))) is None


def test_of_several_tool_uses_in_one_message_the_last_one_the_table_knows_wins() -> None:
    message = assistant(
        tool_use("Read", file_path="a.py"), tool_use("Edit", file_path="a.py"), tool_use("TodoWrite")
    )
    assert PhaseDetector().observe(message) == "implementing"


@pytest.mark.parametrize(
    "event",
    [
        {"type": "system", "subtype": "init", "tools": ["Bash", "Edit"]},
        {"type": "user", "message": {"content": [{"type": "tool_result", "content": "ok"}]}},
        {"type": "result", "subtype": "success", "is_error": False},
    ],
    ids=["system", "user", "result"],
)
def test_events_other_than_assistant_messages_never_move_the_phase(event: dict[str, Any]) -> None:
    assert PhaseDetector().observe(event) is None


def test_a_sub_agents_tool_uses_do_not_move_the_phase() -> None:
    detector = PhaseDetector()
    detector.observe(assistant(tool_use("Agent", description="Count files", prompt="...")))
    assert detector.observe(assistant(tool_use("Edit", file_path="a.py"), parent="toolu_01")) is None
    assert detector.observe(assistant(tool_use("Bash", command="pytest"), parent="toolu_01")) is None
    assert detector.current == "delegating"


def test_a_recorded_sub_agent_running_find_keeps_the_execution_in_delegating() -> None:
    # Line 14 is the main thread's Agent tool use; line 18 is the sub-agent's Bash `find ...` (it has a
    # parent_tool_use_id), which on the main thread would be "exploring".
    detector = PhaseDetector()
    transitions = []
    lines = transcript("v2.1.178-success-explore-subagent").read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        phase = detector.observe(json.loads(line))
        if phase is not None:
            transitions.append((number, phase))
    assert transitions == [(14, "delegating")]


@pytest.mark.parametrize("arrow", ["->", "→", "=>"])
def test_a_navigator_transition_marker_moves_to_its_target_phase(arrow: str) -> None:
    message = assistant(text(f"Research done.\n\nPHASE: RESEARCH {arrow} IMPL\n\nStarting on the parser."))
    assert PhaseDetector().observe(message) == "implementing"  # Navigator IMPL, in our words


@pytest.mark.parametrize("line", ["Phase: VERIFY", "**Phase:** VERIFY", "  Phase: VERIFY"])
def test_a_navigator_phase_line_moves_to_that_phase(line: str) -> None:
    message = assistant(text(f"NAVIGATOR_STATUS\n==========\n{line}\nProgress: 80%\nIteration: 2/5"))
    assert PhaseDetector().observe(message) == "testing"  # Navigator VERIFY, in our words


def test_the_last_navigator_marker_in_a_text_wins() -> None:
    assert navigator_phase("PHASE: INIT -> RESEARCH\n...\nPHASE: RESEARCH -> IMPL") == "implementing"


@pytest.mark.parametrize(
    "prose",
    ["The next phase: verify everything.", "PHASE: RESEARCH", "phase: verify", "Phase 2: write the tests"],
)
def test_prose_that_only_mentions_a_phase_is_not_a_navigator_marker(prose: str) -> None:
    assert navigator_phase(prose) is None


def test_once_navigator_markers_appear_tool_uses_no_longer_move_the_phase() -> None:
    detector = PhaseDetector()
    assert detector.observe(assistant(tool_use("Read", file_path="a.py"))) == "exploring"
    assert detector.observe(assistant(text("PHASE: RESEARCH -> IMPL"))) == "implementing"
    assert detector.observe(assistant(tool_use("Read", file_path="a.py"))) is None
    assert detector.observe(assistant(tool_use("Bash", command="pytest -q"))) is None
    assert detector.current == "implementing"


def test_a_sub_agents_navigator_marker_is_ignored() -> None:
    detector = PhaseDetector()
    assert detector.observe(assistant(text("PHASE: RESEARCH -> IMPL"), parent="toolu_01")) is None
    # ... and so it does not switch tool-based detection off either.
    assert detector.observe(assistant(tool_use("Write", file_path="a.py"))) == "implementing"


def test_a_navigator_name_outside_the_table_is_kept_lower_cased() -> None:
    assert navigator_phase("PHASE: IMPL -> DOCUMENTING") == "documenting"
