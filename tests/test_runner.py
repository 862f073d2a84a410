"""``pilot run`` with a real agent process: the order of the hooks, phases and their times, how the run's
status is decided, timeouts, Ctrl-C and SIGTERM, malformed output, a failing plugin, and diff statistics.

The agent is ``tests/agent_script.py``, a real subprocess that prints scripted stream-json lines. Runs that
need a signal sent to ``pilot`` itself go through a small driver program in its own process.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import WAIT_S, transcript, wait_until
from hookspecs import DiffStats, ExecutionResult, cli, hookimpl
from hookspecs.manager import PluginHost
from hookspecs.streamjson import MAX_LINE_BYTES
from recording import Recorder

pytestmark = pytest.mark.usefixtures("hermetic_git")

AGENT_SCRIPT = Path(__file__).resolve().parent / "agent_script.py"


# --- stream-json lines, shaped as Claude Code prints them --------------------------------------------------

INIT = json.dumps({"type": "system", "subtype": "init", "session_id": "s-1", "model": "claude-sonnet-4-5"})
RESULT_OK = json.dumps(
    {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "duration_ms": 1200,
        "num_turns": 3,
        "result": "Done.",
        "session_id": "s-1",
    }
)


def assistant_text(text: str) -> str:
    content = [{"type": "text", "text": text}]
    return json.dumps({"type": "assistant", "message": {"role": "assistant", "content": content},
                       "parent_tool_use_id": None, "session_id": "s-1"})  # fmt: skip


def tool_use(name: str, **tool_input: Any) -> str:
    content = [{"type": "tool_use", "id": f"toolu_{name}", "name": name, "input": tool_input}]
    return json.dumps({"type": "assistant", "message": {"role": "assistant", "content": content},
                       "parent_tool_use_id": None, "session_id": "s-1"})  # fmt: skip


def tool_result(name: str) -> str:
    content = [{"type": "tool_result", "tool_use_id": f"toolu_{name}", "content": "ok", "is_error": False}]
    return json.dumps({"type": "user", "message": {"role": "user", "content": content},
                       "parent_tool_use_id": None, "session_id": "s-1"})  # fmt: skip


def lines(*texts: str) -> list[str]:
    """Agent-script arguments that print each text as one line."""
    return [arg for text in texts for arg in ("--line", text)]


# --- recording what the plugins see -------------------------------------------------------------------------


class Exploding:
    """A plugin that raises in every hook."""

    @hookimpl
    def on_phase_start(self) -> None:
        raise RuntimeError("boom in on_phase_start")

    @hookimpl
    def on_phase_end(self) -> None:
        raise RuntimeError("boom in on_phase_end")

    @hookimpl
    def on_stream_event(self) -> None:
        raise RuntimeError("boom in on_stream_event")

    @hookimpl
    def on_execution_complete(self) -> None:
        raise RuntimeError("boom in on_execution_complete")


@dataclass
class Run:
    """One ``pilot run``: its exit code and what the recording plugin saw."""

    exit_code: int
    recorder: Recorder
    elapsed_s: float

    @property
    def result(self) -> ExecutionResult:
        return self.recorder.result


def pilot_run(
    project: Path,
    *agent_args: str,
    timeout_s: float | None = None,
    extra_plugins: Sequence[tuple[str, object]] = (),
) -> Run:
    """``pilot run`` in this process, with the agent script as the agent and a fresh recorder."""
    project.mkdir(parents=True, exist_ok=True)
    recorder = Recorder()
    # Later registered is called first: extra plugins run before the recorder for every hook.
    host = PluginHost.create(plugins=[("recorder", recorder), *extra_plugins], load_entrypoints=False, env={})
    argv = ["run", "--task-id", "T-1", "--project", "demo", "--project-path", str(project)]
    if timeout_s is not None:
        argv += ["--timeout", str(timeout_s)]
    started = time.monotonic()
    exit_code = cli.main([*argv, "--", sys.executable, str(AGENT_SCRIPT), *agent_args], host=host)
    return Run(exit_code=exit_code, recorder=recorder, elapsed_s=time.monotonic() - started)


# --- processes ----------------------------------------------------------------------------------------------


def is_running(pid: int) -> bool:
    """Whether the process exists and is not a zombie (an orphan's zombie may linger unreaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in ("Z", "X")


def read_pid(path: Path) -> int:
    assert wait_until(path.exists), f"{path.name} was never written"
    return int(path.read_text())


@pytest.fixture
def pid_files(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Paths for the agent script's pid files; whatever they name is killed after the test, if still there."""
    made: list[Path] = []

    def pid_file(name: str) -> Path:
        path = tmp_path / "pids" / name
        path.parent.mkdir(exist_ok=True)
        made.append(path)
        return path

    yield pid_file
    for path in made:
        if path.exists() and is_running(pid := int(path.read_text())):
            os.kill(pid, signal.SIGKILL)


# --- the order of the hooks ---------------------------------------------------------------------------------

# Line 3 is blank: not an event, but it is still a line of stdout, so line numbers skip it.
ORDER_LINES = (
    INIT,                                           # 1
    assistant_text("Let me look at the code."),     # 2  no tool: stays in planning
    "",                                             # 3  blank
    tool_use("Read", file_path="app.py"),           # 4  planning -> exploring
    tool_result("Read"),                            # 5
    tool_use("Edit", file_path="app.py", old_string="a", new_string="b"),  # 6  exploring -> implementing
    tool_result("Edit"),                            # 7
    RESULT_OK,                                      # 8
)  # fmt: skip

ORDER_EXPECTED = [
    ("on_phase_start", "planning", 0),
    ("on_stream_event", 1, "system"),
    ("on_stream_event", 2, "assistant"),
    ("on_phase_end", "planning", 0),
    ("on_phase_start", "exploring", 1),
    ("on_stream_event", 4, "assistant"),
    ("on_stream_event", 5, "user"),
    ("on_phase_end", "exploring", 1),
    ("on_phase_start", "implementing", 2),
    ("on_stream_event", 6, "assistant"),
    ("on_stream_event", 7, "user"),
    ("on_stream_event", 8, "result"),
    ("on_phase_end", "implementing", 2),
    ("on_execution_complete", "succeeded"),
]


@pytest.fixture(scope="module")
def order_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return pilot_run(tmp_path_factory.mktemp("order") / "project", *lines(*ORDER_LINES))


def test_hooks_arrive_in_the_contract_order_with_the_agents_line_numbers(order_run: Run) -> None:
    assert order_run.recorder.summary() == ORDER_EXPECTED


def test_a_transition_ends_and_starts_at_the_instant_of_the_line_that_caused_it(order_run: Run) -> None:
    calls = order_run.recorder.calls
    transitions = [  # (ended phase, started phase, the event after them), leaving out the final end
        (payload, calls[position + 1][1], calls[position + 2][1])
        for position, (hook, payload) in enumerate(calls[:-2])
        if hook == "on_phase_end"
    ]
    assert [(ended.name, started.name, trigger.line_number) for ended, started, trigger in transitions] == [
        ("planning", "exploring", 4),
        ("exploring", "implementing", 6),
    ]
    for ended, started, trigger in transitions:
        assert ended.ended_at == started.started_at == trigger.received_at


def test_the_last_phase_ends_when_the_execution_ends(order_run: Run) -> None:
    last_phase = order_run.recorder.ended_phases[-1]
    last_event = order_run.recorder.events[-1]
    assert last_phase.ended_at == order_run.result.ended_at
    assert last_phase.ended_at >= last_event.received_at


def test_every_hook_gets_the_same_execution_object(order_run: Run) -> None:
    first = order_run.recorder.executions[0]
    assert all(execution is first for execution in order_run.recorder.executions)
    assert (first.task_id, first.project) == ("T-1", "demo")


def test_a_run_without_tool_use_has_exactly_one_phase(tmp_path: Path) -> None:
    run = pilot_run(tmp_path / "project", *lines(INIT, assistant_text("Hello!"), RESULT_OK))
    assert run.recorder.summary() == [
        ("on_phase_start", "planning", 0),
        ("on_stream_event", 1, "system"),
        ("on_stream_event", 2, "assistant"),
        ("on_stream_event", 3, "result"),
        ("on_phase_end", "planning", 0),
        ("on_execution_complete", "succeeded"),
    ]


# --- phases and their times ---------------------------------------------------------------------------------

PAUSE_S = 0.3
SLACK_MS = 100
"""The host reads a line a little after it is written; a pause can look that much shorter, never longer."""


@pytest.fixture(scope="module")
def paced_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    pause = ["--sleep", str(PAUSE_S)]
    agent_args = [
        *lines(INIT), *pause,
        *lines(tool_use("Read", file_path="app.py")), *pause,
        *lines(tool_use("Edit", file_path="app.py", old_string="a", new_string="b")), *pause,
        *lines(tool_use("Bash", command="python -m pytest -q")), *pause,
        *lines(tool_use("Bash", command="git commit -am 'Fix the bug'")), *pause,
        *lines(RESULT_OK),
    ]  # fmt: skip
    return pilot_run(tmp_path_factory.mktemp("paced") / "project", *agent_args)


def test_phases_follow_the_tool_uses_in_order(paced_run: Run) -> None:
    # Read -> exploring, Edit -> implementing, Bash pytest -> testing, Bash git commit -> committing.
    names = [(phase.name, phase.index) for phase in paced_run.recorder.ended_phases]
    assert names == [
        ("planning", 0), ("exploring", 1), ("implementing", 2), ("testing", 3), ("committing", 4),
    ]  # fmt: skip


def test_each_phase_lasts_at_least_the_agents_pause_in_it(paced_run: Run) -> None:
    # Every phase holds one 0.3 s pause of the agent (planning also its start-up): at least 300 - 100 ms.
    durations_ms = [phase.duration_ms for phase in paced_run.recorder.ended_phases]
    assert all(duration_ms >= PAUSE_S * 1000 - SLACK_MS for duration_ms in durations_ms), durations_ms


def test_phases_cover_the_execution_without_gaps(paced_run: Run) -> None:
    phases = paced_run.recorder.ended_phases
    assert phases[0].started_at == paced_run.recorder.executions[0].started_at
    assert all(before.ended_at == after.started_at for before, after in itertools.pairwise(phases))
    assert phases[-1].ended_at == paced_run.result.ended_at


def test_the_execution_lasts_at_least_the_agents_five_pauses(paced_run: Run) -> None:
    # 5 pauses of 0.3 s between the execution's start (before the spawn) and its end (after the exit).
    assert paced_run.result.duration_ms >= 1500


# --- status and exit code -----------------------------------------------------------------------------------


def test_a_success_result_makes_the_run_succeed_and_pilot_exit_0(tmp_path: Path) -> None:
    run = pilot_run(tmp_path / "project", *lines(INIT, RESULT_OK))
    assert (run.result.status, run.result.error, run.exit_code) == ("succeeded", None, 0)


def test_is_error_true_under_subtype_success_fails_the_run_with_the_agents_message(tmp_path: Path) -> None:
    # The recorded `--model no-such-model` run: result subtype "success" but is_error true; Claude Code
    # itself exits 1 then, while the stand-in here exits 0: the result line alone decides.
    fixture = transcript("v2.1.220-error-model-not-found-api-404")
    run = pilot_run(tmp_path / "project", "--fixture", str(fixture))
    assert (run.result.status, run.exit_code) == ("failed", 1)
    assert run.result.error == (
        "There's an issue with the selected model (no-such-model). It may not exist or you may not have "
        "access to it. Run --model to pick a different model."
    )


def test_an_agent_exiting_0_without_a_result_event_fails_and_says_so(tmp_path: Path) -> None:
    run = pilot_run(tmp_path / "project", *lines(INIT, assistant_text("Working on it...")))
    assert (run.result.status, run.result.exit_code, run.exit_code) == ("failed", 0, 1)
    assert run.result.error == "the agent exited with code 0 without a result event"


def test_a_crash_without_a_result_reports_the_last_stderr_line(tmp_path: Path) -> None:
    agent_args = [*lines(INIT), "--stderr", "loading config", "--stderr", "fatal: out of memory"]
    run = pilot_run(tmp_path / "project", *agent_args, "--exit-code", "3")
    assert (run.result.status, run.result.exit_code, run.exit_code) == ("failed", 3, 1)
    assert run.result.error == "the agent exited with code 3 without a result event: fatal: out of memory"
    assert run.result.stderr_tail == "loading config\nfatal: out of memory\n"


def test_an_agent_that_cannot_start_fails_the_run_and_still_completes(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    recorder = Recorder()
    host = PluginHost.create(plugins=[("recorder", recorder)], load_entrypoints=False, env={})
    missing = str(tmp_path / "no-such-agent")
    exit_code = cli.main(["run", "--task-id", "T-1", "--project", "demo", "--project-path", str(project),
                          "--", missing], host=host)  # fmt: skip
    assert (exit_code, recorder.result.status, recorder.result.exit_code) == (1, "failed", None)
    assert recorder.result.error is not None and recorder.result.error.startswith("cannot start the agent")
    assert recorder.summary() == [
        ("on_phase_start", "planning", 0),
        ("on_phase_end", "planning", 0),
        ("on_execution_complete", "failed"),
    ]


# --- timeouts -----------------------------------------------------------------------------------------------

TIMEOUT_S = 0.5


@pytest.fixture
def hung_run(tmp_path: Path, pid_files: Callable[[str], Path]) -> tuple[Run, int, int]:
    """An agent that prints its init line, starts a child, then hangs; ``pilot run --timeout 0.5``."""
    agent_pid, child_pid = pid_files("agent.pid"), pid_files("child.pid")
    agent_args = ["--pid-file", str(agent_pid), *lines(INIT), "--spawn-child", str(child_pid), "--hang"]
    run = pilot_run(tmp_path / "project", *agent_args, timeout_s=TIMEOUT_S)
    return run, read_pid(agent_pid), read_pid(child_pid)


def test_a_hanging_agent_is_timed_out_and_pilot_exits_124(hung_run: tuple[Run, int, int]) -> None:
    run, _, _ = hung_run
    assert (run.result.status, run.result.error, run.exit_code) == ("timed_out", "timed out after 0.5 s", 124)
    assert run.result.exit_code == -signal.SIGTERM


def test_a_timed_out_run_still_ends_its_phase_and_completes_once(hung_run: tuple[Run, int, int]) -> None:
    run, _, _ = hung_run
    assert run.recorder.summary() == [
        ("on_phase_start", "planning", 0),
        ("on_stream_event", 1, "system"),
        ("on_phase_end", "planning", 0),
        ("on_execution_complete", "timed_out"),
    ]


def test_the_timeout_kills_the_agents_whole_process_group(hung_run: tuple[Run, int, int]) -> None:
    _, agent_pid, child_pid = hung_run
    assert wait_until(lambda: not is_running(agent_pid) and not is_running(child_pid))


def test_an_agent_ignoring_sigterm_is_killed_after_the_grace_period(
    tmp_path: Path, pid_files: Callable[[str], Path]
) -> None:
    child_pid = pid_files("child.pid")
    agent_args = ["--ignore-sigterm", *lines(INIT), "--spawn-child", str(child_pid), "--hang"]
    run = pilot_run(tmp_path / "project", *agent_args, timeout_s=TIMEOUT_S)
    assert (run.result.status, run.result.exit_code, run.exit_code) == ("timed_out", -signal.SIGKILL, 124)
    # 0.5 s to the timeout, then the 3 s grace between SIGTERM and SIGKILL.
    assert run.result.duration_ms >= 3500
    assert wait_until(lambda: not is_running(read_pid(child_pid)))


# --- signals to pilot itself, through a driver process ------------------------------------------------------

DRIVER_SOURCE = '''
"""pilot run with a plugin that writes each hook call to a file, so that a test can signal this process."""
import json, signal, sys, time
from hookspecs import hookimpl
from hookspecs.cli import main
from hookspecs.manager import PluginHost


class FileRecorder:
    def __init__(self, path, slow_event_s):
        self.path, self.slow_event_s = path, slow_event_s

    def write(self, **record):
        with open(self.path, "a") as out:
            out.write(json.dumps(record) + "\\n")

    @hookimpl
    def on_phase_start(self, phase):
        self.write(hook="on_phase_start", phase=phase.name)

    @hookimpl
    def on_phase_end(self, phase):
        self.write(hook="on_phase_end", phase=phase.name)

    @hookimpl
    def on_stream_event(self, event):
        self.write(hook="on_stream_event", line=event.line_number)
        time.sleep(self.slow_event_s)

    @hookimpl
    def on_execution_complete(self, result):
        self.write(hook="on_execution_complete", status=result.status, exit_code=result.exit_code)


# As in a terminal, even when the tests themselves were started in the background (where SIGINT is ignored).
signal.signal(signal.SIGINT, signal.default_int_handler)
record_path, slow_event_s, *argv = sys.argv[1:]
recorder = FileRecorder(record_path, float(slow_event_s))
host = PluginHost.create(plugins=[("file-recorder", recorder)], load_entrypoints=False, env={})
sys.exit(main(argv, host=host))
'''


@dataclass
class DrivenRun:
    """A ``pilot run`` in a driver process that was sent signals."""

    returncode: int
    records: list[dict[str, Any]]
    stderr: str
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def completions(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["hook"] == "on_execution_complete"]


def drive(
    root: Path,
    agent_args: Sequence[str],
    signals: Sequence[signal.Signals],
    *,
    pilot_options: Sequence[str] = (),
    slow_event_s: float = 0.0,
    pid_names: Sequence[str] = ("agent", "child"),
) -> DrivenRun:
    """Start the driver, wait until the agent's first line reached the plugin, send ``signals`` 0.3 s
    apart, and wait for the driver to exit. The agent script is given ``--pid-file`` for ``agent``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "project").mkdir(exist_ok=True)
    driver, record = root / "driver.py", root / "hooks.jsonl"
    driver.write_text(DRIVER_SOURCE)
    pid_paths = {name: root / f"{name}.pid" for name in pid_names}
    argv = [
        sys.executable, str(driver), str(record), str(slow_event_s),
        "run", "--task-id", "T-1", "--project", "demo", "--project-path", str(root / "project"),
        *pilot_options,
        "--", sys.executable, str(AGENT_SCRIPT), "--pid-file", str(pid_paths["agent"]), *agent_args,
    ]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = wait_until(lambda: record.exists() and '"on_stream_event"' in record.read_text())
        started = started and all(wait_until(path.exists) for path in pid_paths.values())
        assert started, "the agent never started"
        for sig in signals:
            process.send_signal(sig)
            time.sleep(0.3)
        _, stderr = process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        for path in pid_paths.values():
            if path.exists() and is_running(pid := int(path.read_text())):
                os.kill(pid, signal.SIGKILL)
    records = [json.loads(line) for line in record.read_text().splitlines()]
    pids = {name: int(path.read_text()) for name, path in pid_paths.items()}
    return DrivenRun(returncode=process.returncode, records=records, stderr=stderr, pids=pids)


def child_args(root: Path) -> list[str]:
    return [*lines(INIT), "--spawn-child", str(root / "child.pid"), "--hang"]


@pytest.fixture(scope="module")
def ctrl_c_run(tmp_path_factory: pytest.TempPathFactory) -> DrivenRun:
    root = tmp_path_factory.mktemp("ctrl-c")
    return drive(root, child_args(root), [signal.SIGINT])


@pytest.fixture(scope="module")
def sigterm_run(tmp_path_factory: pytest.TempPathFactory) -> DrivenRun:
    root = tmp_path_factory.mktemp("sigterm")
    return drive(root, child_args(root), [signal.SIGTERM])


def test_ctrl_c_cancels_the_run_and_pilot_exits_130(ctrl_c_run: DrivenRun) -> None:
    assert ctrl_c_run.returncode == 130, ctrl_c_run.stderr
    assert [(r["status"], r["exit_code"]) for r in ctrl_c_run.completions] == [("cancelled", -signal.SIGTERM)]


def test_ctrl_c_still_ends_the_phase_and_completes_once_and_last(ctrl_c_run: DrivenRun) -> None:
    assert [r["hook"] for r in ctrl_c_run.records] == [
        "on_phase_start", "on_stream_event", "on_phase_end", "on_execution_complete",
    ]  # fmt: skip


def test_ctrl_c_stops_the_agent_and_its_children(ctrl_c_run: DrivenRun) -> None:
    assert wait_until(lambda: not any(is_running(pid) for pid in ctrl_c_run.pids.values()))


def test_sigterm_cancels_the_run_and_pilot_exits_130(sigterm_run: DrivenRun) -> None:
    assert sigterm_run.returncode == 130, sigterm_run.stderr
    assert [r["status"] for r in sigterm_run.completions] == ["cancelled"]


def test_sigterm_stops_the_agent_and_its_children(sigterm_run: DrivenRun) -> None:
    assert wait_until(lambda: not any(is_running(pid) for pid in sigterm_run.pids.values()))


def test_sigterm_while_a_plugin_is_busy_in_a_hook_still_cancels_the_run(tmp_path: Path) -> None:
    # The plugin takes 2 s per event; SIGTERM arrives during the first one. It must not pass for that
    # plugin's own failure (and be swallowed) while the agent runs on.
    run = drive(tmp_path, [*lines(INIT), "--hang"], [signal.SIGTERM], slow_event_s=2.0, pid_names=("agent",))
    assert run.returncode == 130, run.stderr
    assert [r["status"] for r in run.completions] == ["cancelled"]


def test_a_second_ctrl_c_kills_an_agent_ignoring_sigterm_and_still_completes(tmp_path: Path) -> None:
    # The first Ctrl-C sends SIGTERM and waits up to 3 s; the agent ignores it; the second one, 0.3 s
    # later, must not abandon the agent or skip on_execution_complete.
    agent_args = ["--ignore-sigterm", *lines(INIT), "--hang"]
    run = drive(tmp_path, agent_args, [signal.SIGINT, signal.SIGINT], pid_names=("agent",))
    assert run.returncode == 130, run.stderr
    assert [(r["status"], r["exit_code"]) for r in run.completions] == [("cancelled", -signal.SIGKILL)]
    assert not is_running(run.pids["agent"])


def test_a_child_ignoring_sigterm_is_killed_when_the_agent_stops(tmp_path: Path) -> None:
    # The agent dies of SIGTERM at the timeout, but its child ignores SIGTERM and holds the agent's stdout
    # open: it must be killed too, or pilot would wait for that stdout to close forever.
    agent_args = [*lines(INIT), "--spawn-stubborn-child", str(tmp_path / "child.pid"), "--hang"]
    run = drive(tmp_path, agent_args, [], pilot_options=["--timeout", str(TIMEOUT_S)])
    assert run.returncode == 124, run.stderr
    assert [(r["status"], r["exit_code"]) for r in run.completions] == [("timed_out", -signal.SIGTERM)]
    assert wait_until(lambda: not is_running(run.pids["child"]))


# --- malformed output ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def malformed_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    agent_args = [
        *lines(INIT),                                   # 1
        *lines("this is not JSON"),                     # 2  malformed
        *lines("[1, 2, 3]"),                            # 3  malformed: an array, not an object
        "--raw", "7b22ff223a317d0a",                    # 4  malformed: {"\xff":1} is not UTF-8
        "--long-line", str(MAX_LINE_BYTES + 1),         # 5  malformed: one byte over 16 MiB
        *lines(assistant_text("Still here.")),          # 6
        "--raw", RESULT_OK.encode().hex(),              # 7  the result, without a final newline
    ]  # fmt: skip
    return pilot_run(tmp_path_factory.mktemp("malformed") / "project", *agent_args)


def test_malformed_lines_are_counted_and_skipped(malformed_run: Run) -> None:
    # Lines 2 to 5: not JSON, an array, not UTF-8, too long.
    assert malformed_run.result.malformed_lines == 4
    assert [event.line_number for event in malformed_run.recorder.events] == [1, 6, 7]


def test_an_unterminated_last_line_is_still_decoded(malformed_run: Run) -> None:
    last = malformed_run.recorder.events[-1]
    assert (last.type, last.text) == ("result", RESULT_OK)
    assert (malformed_run.result.status, malformed_run.exit_code) == ("succeeded", 0)


def test_a_line_of_exactly_16_mib_is_still_decoded(tmp_path: Path) -> None:
    run = pilot_run(tmp_path / "project", "--long-line", str(MAX_LINE_BYTES), *lines(RESULT_OK))
    assert run.result.malformed_lines == 0
    sizes = [(event.type, len(event.text)) for event in run.recorder.events]
    assert sizes == [("padding", MAX_LINE_BYTES), ("result", len(RESULT_OK))]


# --- a failing plugin ---------------------------------------------------------------------------------------


@pytest.fixture
def run_beside_a_failing_plugin(tmp_path: Path) -> Run:
    return pilot_run(tmp_path / "project", *lines(*ORDER_LINES), extra_plugins=[("exploding", Exploding())])


def test_a_plugin_raising_in_every_hook_does_not_stop_another_from_seeing_every_call(
    run_beside_a_failing_plugin: Run,
) -> None:
    assert run_beside_a_failing_plugin.recorder.summary() == ORDER_EXPECTED


def test_a_plugin_raising_in_every_hook_changes_neither_status_nor_exit_code(
    run_beside_a_failing_plugin: Run,
) -> None:
    run = run_beside_a_failing_plugin
    assert (run.result.status, run.result.error, run.exit_code) == ("succeeded", None, 0)


# --- diff statistics ----------------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_the_diff_counts_what_the_agent_changed_committed_or_not(tmp_path: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.name", "Test User")
    git(repo, "config", "user.email", "test@example.com")
    (repo / "a.txt").write_text("1\n2\n3\n")
    (repo / "b.txt").write_text("x\ny\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    agent_args = [
        *lines(INIT),
        "--shell", "printf '1\\nTWO\\n3\\n4\\n' > a.txt",                 # modified, not committed
        "--shell", "printf 'new\\nfile\\n' > c.txt && git add c.txt",      # added ...
        "--shell", "git commit -qm add-c",                                 # ... and committed
        "--shell", "git rm -q b.txt && git commit -qm drop-b",             # deleted and committed
        "--shell", "printf 'u\\n' > d.txt",                                # new, untracked
        *lines(RESULT_OK),
    ]  # fmt: skip
    run = pilot_run(repo, *agent_args)
    # Against the base commit: a.txt +2 -1 ("2" became "TWO", "4" appended), c.txt +2, b.txt -2, d.txt +1:
    # 4 files, 2 + 2 + 1 = 5 lines added, 1 + 2 = 3 removed.
    assert run.result.diff == DiffStats(files_changed=4, lines_added=5, lines_removed=3)


def test_a_project_that_is_not_a_git_repository_has_no_diff(tmp_path: Path) -> None:
    run = pilot_run(tmp_path / "project", *lines(INIT), "--shell", "echo x > f.txt", *lines(RESULT_OK))
    assert run.result.status == "succeeded"
    assert run.result.diff is None
