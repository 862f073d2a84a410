"""Running the agent: spawn its process, read its stdout as stream-json, and drive the hooks.

The agent runs in its own process group so that a timeout, Ctrl-C or SIGTERM can stop it and everything it
started. Whatever happens, the last phase ends and ``on_execution_complete`` is called once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from typing import IO, Any

from hookspecs.diffstats import diff_stats, snapshot_base
from hookspecs.execution import READ_BUFFER_BYTES, ExecutionDriver, feed_lines, new_execution_id, utc_now
from hookspecs.manager import PluginHost
from hookspecs.payloads import Execution, ExecutionResult

STDERR_TAIL_BYTES = 64 * 1024
KILL_GRACE_S = 3.0
"""How long the agent's process group gets between SIGTERM and SIGKILL."""


@dataclass(frozen=True)
class RunRequest:
    """What ``pilot run`` was asked to do."""

    task_id: str
    project: str
    command: tuple[str, ...]
    project_path: str
    model: str | None = None
    timeout_s: float | None = None
    execution_id: str | None = None


class _Terminated(KeyboardInterrupt):
    """SIGTERM reached the host: stop the agent as Ctrl-C would.

    A ``KeyboardInterrupt`` so that it leaves a plugin's hook as Ctrl-C does, instead of being taken for that
    plugin's own failure and swallowed while the agent runs on."""


class _TailCollector(threading.Thread):
    """Keeps the last 64 KiB of the agent's stderr."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.chunks: deque[bytes] = deque()
        self.size = 0

    def run(self) -> None:
        while chunk := self.stream.read1(65536) if hasattr(self.stream, "read1") else self.stream.read(65536):
            self.chunks.append(chunk)
            self.size += len(chunk)
            while self.size - len(self.chunks[0]) >= STDERR_TAIL_BYTES:
                self.size -= len(self.chunks.popleft())

    def text(self) -> str:
        return b"".join(self.chunks)[-STDERR_TAIL_BYTES:].decode("utf-8", "replace")


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the agent's process group, give the agent the grace period to exit, then SIGKILL whatever
    is left of the group: children that survived the agent would hold its stdout open and the host would
    wait for them forever. A second Ctrl-C (or SIGTERM) during the grace period ends it at once."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        process.wait(timeout=KILL_GRACE_S)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def run_agent(host: PluginHost, request: RunRequest) -> ExecutionResult:
    """Run one execution of the agent to its end, calling the hooks as it goes."""
    execution = Execution(
        execution_id=request.execution_id or new_execution_id(),
        task_id=request.task_id,
        project=request.project,
        project_path=request.project_path,
        agent_command=request.command,
        model=request.model,
        started_at=utc_now(),
    )
    base = snapshot_base(request.project_path)
    driver = ExecutionDriver(host, execution)
    driver.start()
    try:
        process = subprocess.Popen(
            request.command,
            bufsize=READ_BUFFER_BYTES,
            cwd=request.project_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return driver.complete(
            status="failed", exit_code=None, error=f"cannot start the agent: {exc}", ended_at=utc_now()
        )

    stderr = _TailCollector(process.stderr)  # type: ignore[arg-type]
    stderr.start()
    timed_out = threading.Event()
    timer = None
    if request.timeout_s is not None:
        def on_timeout() -> None:
            timed_out.set()
            _stop_group(process)

        timer = threading.Timer(request.timeout_s, on_timeout)
        timer.daemon = True
        timer.start()

    cancelled = False
    previous_term = _install_sigterm()
    try:
        feed_lines(driver, process.stdout, lambda raw: utc_now())  # type: ignore[arg-type]
        process.wait()
    except (KeyboardInterrupt, _Terminated):
        cancelled = True
        _stop_group(process)
    finally:
        if timer is not None:
            timer.cancel()
        _restore_sigterm(previous_term)
    ended_at = utc_now()
    stderr.join(timeout=KILL_GRACE_S)
    stderr_tail = stderr.text()
    exit_code = process.returncode

    if cancelled:
        status, error = "cancelled", "cancelled by the operator (Ctrl-C or SIGTERM)"
    elif timed_out.is_set():
        status, error = "timed_out", f"timed out after {request.timeout_s:g} s"
    else:
        status, error = driver.status_from_stream()
        if driver.last_result is None:
            last = _last_line(stderr_tail)
            error = f"the agent exited with code {exit_code} without a result event" + (f": {last}" if last else "")
    diff = diff_stats(request.project_path, base) if base is not None else None
    return driver.complete(
        status=status, exit_code=exit_code, error=error, ended_at=ended_at, diff=diff, stderr_tail=stderr_tail
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def _install_sigterm() -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_term(signum: int, frame: Any) -> None:
        raise _Terminated()

    return signal.signal(signal.SIGTERM, on_term)


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
