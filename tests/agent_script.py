"""A stand-in coding agent for the runner's tests: prints scripted stream-json lines, as Claude Code would.

The steps run in the order given on the command line, so a test can put sleeps between lines::

    python agent_script.py --line '{"type":"system"}' --sleep 0.2 --fixture FILE --stderr oops --exit-code 3

Steps: ``--line TEXT`` (TEXT and a newline), ``--fixture FILE`` (the file's bytes as they are), ``--raw HEX``
(bytes, no newline added), ``--long-line N`` (a JSON object line of N bytes plus its newline), ``--sleep S``,
``--stderr TEXT``, ``--shell CMD`` (run with ``sh -c`` in the working directory; its output goes to stderr),
``--spawn-child PIDFILE`` (start a child that sleeps ten minutes, in our process group and holding our
stdout, as a build started by an agent would; write its pid), ``--spawn-stubborn-child PIDFILE`` (the same,
but the child ignores SIGTERM), ``--hang`` (sleep until killed).

Options: ``--exit-code N`` (after the last step), ``--ignore-sigterm``, ``--pid-file PATH`` (our pid, written
first). Standard library only; stdout is flushed after every step.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CHILD_SLEEP_S = 600


class _Step(argparse.Action):
    """Appends ``(option, value)`` to ``steps`` so the steps keep the order they were given in."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        steps = getattr(namespace, "steps", None) or []
        steps.append((self.dest, values))
        namespace.steps = steps


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    steps = ("line", "fixture", "raw", "long-line", "sleep", "stderr", "shell")
    for name in (*steps, "spawn-child", "spawn-stubborn-child"):
        parser.add_argument(f"--{name}", action=_Step, dest=name.replace("-", "_"), default=None)
    parser.add_argument("--hang", action=_Step, dest="hang", nargs=0, default=None)
    parser.add_argument("--exit-code", type=int, default=0)
    parser.add_argument("--ignore-sigterm", action="store_true")
    parser.add_argument("--pid-file", type=Path, default=None)
    parser.set_defaults(steps=[])
    return parser


def _long_line(size: int) -> bytes:
    """``{"type":"padding","pad":"xxx..."}`` of exactly ``size`` bytes (at least 30)."""
    head, tail = b'{"type":"padding","pad":"', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail + b"\n"


def _spawn_child(pid_file: str, *, ignore_sigterm: bool) -> None:
    # Inherits stdout and the process group, as a build or test runner started by an agent would.
    code = f"import time; time.sleep({CHILD_SLEEP_S})"
    if ignore_sigterm:
        code = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + code
    child = subprocess.Popen([sys.executable, "-c", code])
    Path(pid_file).write_text(str(child.pid))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.pid_file is not None:
        args.pid_file.write_text(str(os.getpid()))
    out = sys.stdout.buffer
    for kind, value in args.steps:
        if kind == "line":
            out.write(value.encode("utf-8") + b"\n")
        elif kind == "fixture":
            out.write(Path(value).read_bytes())
        elif kind == "raw":
            out.write(bytes.fromhex(value))
        elif kind == "long_line":
            out.write(_long_line(int(value)))
        elif kind == "sleep":
            time.sleep(float(value))
        elif kind == "stderr":
            sys.stderr.write(value + "\n")
            sys.stderr.flush()
        elif kind == "shell":
            subprocess.run(["sh", "-c", value], check=True, stdout=sys.stderr)
        elif kind in ("spawn_child", "spawn_stubborn_child"):
            _spawn_child(value, ignore_sigterm=kind == "spawn_stubborn_child")
        elif kind == "hang":
            out.flush()
            while True:
                time.sleep(3600)
        out.flush()
    return args.exit_code


if __name__ == "__main__":
    sys.exit(main())
