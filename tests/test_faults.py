"""Faults: a metrics database that cannot be written costs one clear line and nothing else.

Its directory read-only, the disk full, the file corrupt or not SQLite at all, or made by a newer version: the
execution still runs to its end and exits with its own status, every other plugin gets exactly the hook calls
it gets when the database works, and no row recorded before is lost. A database unavailable when an execution
starts gets the whole record at its end; a plugin that raises in every hook and a sink that hangs do not stop
the recording.

`pilot` runs as a real process (tests/pilot_driver.py: the metrics plugin, and a witness plugin that writes
each hook call it gets to a file). The transcript is v2.1.328 (init, two assistant lines, one user line, the
result): phases planning then executing; 21086 tokens and 32672000 nano-dollars
(test_record_fixtures.EXPECTED).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import transcript, wait_until
from pilot_metrics_plugin.migrations import MIGRATIONS
from pilot_metrics_plugin.store import MetricsStore

DRIVER = Path(__file__).resolve().parent / "pilot_driver.py"
AGENT_SCRIPT = Path(__file__).resolve().parent / "agent_script.py"
FIXTURE = transcript("v2.1.328")
TOKENS_TOTAL = 21086  # 2003 input + 83 output + 15000 cache read + 4000 cache write
COST_NANO_USD = 32_672_000  # costUSD 0.03267200000000001, half-even at the 9th decimal
NOBODY = 65534


# -- running pilot -------------------------------------------------------------------------------------------


@dataclass
class Layout:
    """Where one test's files live: a private PILOT_HOME (database under ``home/data``), the witness file and
    a copy of the transcript. All under ``root``, which the read-only test may have to open to another
    user."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def db(self) -> Path:
        return self.data / "metrics.db"

    @property
    def witness(self) -> Path:
        return self.root / "out" / "witness.jsonl"

    @property
    def transcript(self) -> Path:
        return self.root / FIXTURE.name

    def make(self) -> Layout:
        self.witness.parent.mkdir(parents=True)
        self.home.mkdir()
        shutil.copyfile(FIXTURE, self.transcript)
        return self

    def calls(self) -> list[dict[str, Any]]:
        if not self.witness.exists():
            return []
        return [json.loads(line) for line in self.witness.read_text().splitlines()]


def pilot(
    layout: Layout, *argv: str, driver_options: Sequence[str] = (), prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """``pilot ARGV`` through the driver, with the witness plugin, in ``layout``'s PILOT_HOME."""
    env = {**os.environ, "PILOT_HOME": str(layout.home)}
    command = [
        *prefix,
        sys.executable,
        str(DRIVER),
        "--witness",
        str(layout.witness),
        *driver_options,
        "--",
        *argv,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def replay(layout: Layout, task_id: str, times: int = 1, **options: Any) -> subprocess.CompletedProcess[str]:
    files = [str(layout.transcript)] * times
    return pilot(layout, "replay", *files, "--task-id", task_id, "--project", "shop", **options)


def snapshot(db: Path) -> list[tuple[Any, ...]]:
    """Every execution row with its phases and models, as stored."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        executions = conn.execute("SELECT * FROM executions ORDER BY execution_id").fetchall()
        phases = conn.execute("SELECT * FROM phases ORDER BY execution_id, seq").fetchall()
        models = conn.execute("SELECT * FROM execution_models ORDER BY execution_id, model").fetchall()
    finally:
        conn.close()
    return [*executions, *phases, *models]


def hook_sequence(calls: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The witness's calls without execution ids, which differ from run to run."""
    return [tuple(value for key, value in call.items() if key != "execution") for call in calls]


# -- making a directory read-only for the pilot process ------------------------------------------------------

UNSHARE_READ_ONLY = (
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    'mount --bind -o ro "$0" "$0" && exec "$@"',
)
"""``prefix DIR COMMAND...``: COMMAND runs in a mount namespace of its own, where DIR is a read-only bind
mount."""


def _works(command: Sequence[str], env: dict[str, str]) -> bool:
    try:
        return subprocess.run(command, env=env, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def read_only_prefix(layout: Layout) -> tuple[list[str], str]:
    """A command prefix under which ``layout.data`` cannot be written, and how that is done.

    Not root: the directory is made 0555. Root can write anywhere, so either the directory is bind-mounted
    read-only in a private mount namespace, or pilot runs as ``nobody`` (uid 65534) with the directory
    root's and mode 0755 (the database file itself is nobody's, so only creating files beside it fails).
    """
    probe_env = {**os.environ, "PILOT_HOME": str(layout.home)}
    probe = [sys.executable, str(DRIVER), "--", "plugins"]
    if os.geteuid() != 0:
        layout.data.chmod(0o555)
        return [], "directory mode 0555"
    unshare = [*UNSHARE_READ_ONLY, str(layout.data)]
    if shutil.which("unshare") and _works([*unshare, "sh", "-c", f"! touch {layout.data}/probe"], probe_env):
        return unshare, "read-only bind mount"
    setpriv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    if shutil.which("setpriv"):
        for path in (layout.root, layout.home, layout.data):
            path.chmod(0o755)
        layout.witness.parent.chmod(0o777)
        layout.transcript.chmod(0o644)
        os.chown(layout.db, NOBODY, NOBODY)
        if _works([*setpriv, *probe], probe_env):
            return setpriv, "run as nobody"
    pytest.skip(
        "cannot make a directory read-only for root here: no private mount namespace (unshare --mount) and "
        "no way to run Python as another user (setpriv, or the interpreter is not readable by nobody)"
    )


@pytest.fixture(scope="module")
def world_readable_root() -> Iterator[Path]:
    """A directory another user can reach (pytest's own temporary directories are private to root)."""
    root = Path(tempfile.mkdtemp(prefix="pilot-faults-"))
    root.chmod(0o755)
    yield root
    for path in root.rglob("*"):  # a directory made read-only by chmod would keep its files
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(root, ignore_errors=True)


# -- the faults ----------------------------------------------------------------------------------------------

EARLIER = 3
"""Executions recorded before the fault, whose rows must survive it."""


def _damage_pages(db: Path) -> None:
    """Random bytes over every page but the first (the header and the schema's root stay readable)."""
    import random

    data = bytearray(db.read_bytes())
    noise = random.Random(7)
    data[4096:] = bytes(noise.randrange(256) for _ in range(len(data) - 4096))
    db.write_bytes(bytes(data))


def _newer_schema(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1:d}")
    conn.close()


def big_transcript(path: Path, edits: int = 200) -> Path:
    """An execution that needs room: ``edits`` pairs of Read and Edit of files with 1000-character names
    (phases alternate exploring / implementing; its record lists 400 long paths), then a result."""
    model = "claude-opus-5-5"
    lines: list[dict[str, Any]] = [{"type": "system", "subtype": "init", "model": model}]
    for n in range(edits):
        for tool in ("Read", "Edit"):
            block = {
                "type": "tool_use",
                "id": f"toolu_{tool}_{n}",
                "name": tool,
                "input": {"file_path": "/src/" + "d" * 1000 + f"/{n}.py"},
            }
            message = {
                "id": f"msg_{tool}_{n}",
                "model": model,
                "content": [block],
                "usage": {"input_tokens": 1, "output_tokens": 1},
            }
            lines.append({"type": "assistant", "message": message})
    lines.append(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "num_turns": 2 * edits,
            "total_cost_usd": 0.5,
            "usage": {"input_tokens": 400, "output_tokens": 400},
        }
    )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@dataclass
class Faulted:
    """One fault: the database before, the faulty replay, and a fault-free replay to compare with."""

    fault: str
    layout: Layout
    result: subprocess.CompletedProcess[str]
    control_calls: list[dict[str, Any]]
    rows_before: list[tuple[Any, ...]]
    bytes_before: bytes
    how: str = ""

    @property
    def execution_id(self) -> str:
        return self.layout.calls()[-1]["execution"]


FAULTS = ("read-only directory", "full disk", "damaged pages", "not SQLite", "newer schema")


@pytest.fixture(scope="module", params=FAULTS)
def faulted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, world_readable_root: Path
) -> Faulted:
    fault: str = request.param
    control = Layout(tmp_path_factory.mktemp("control")).make()
    assert replay(control, "control").returncode == 0
    root = world_readable_root / fault.replace(" ", "-")
    root.mkdir()
    layout = Layout(root).make()
    assert replay(layout, "earlier", times=EARLIER).returncode == 0
    rows_before = snapshot(layout.db)
    prefix: list[str] = []
    how = ""
    driver_options: list[str] = []
    transcript_path = layout.transcript
    if fault == "read-only directory":
        prefix, how = read_only_prefix(layout)
    elif fault == "full disk":
        # Room for 4 more pages: the running row and the first phase fit; the record of 400 paths of
        # 1000 characters (about 100 pages) does not.
        driver_options = ["--spare-pages", "4"]
        transcript_path = big_transcript(layout.root / "big.jsonl")
    elif fault == "damaged pages":
        _damage_pages(layout.db)
    elif fault == "not SQLite":
        layout.db.write_bytes(b"this is not a database\n" * 200)
    elif fault == "newer schema":
        _newer_schema(layout.db)
    bytes_before = layout.db.read_bytes()
    layout.witness.unlink()
    result = pilot(
        layout,
        "replay",
        str(transcript_path),
        "--task-id",
        "faulted",
        "--project",
        "shop",
        driver_options=driver_options,
        prefix=prefix,
    )
    if fault == "full disk":  # its control: the same big execution on a disk with room
        control = Layout(tmp_path_factory.mktemp("control-big")).make()
        assert (
            pilot(control, "replay", str(transcript_path), "--task-id", "big", "--project", "p").returncode
            == 0
        )
    return Faulted(fault, layout, result, control.calls(), rows_before, bytes_before, how)


def expected_line(faulted: Faulted) -> str | re.Pattern[str]:
    db = faulted.layout.db
    head = f"pilot metrics: cannot record execution {faulted.execution_id}: "
    return {
        "read-only directory": re.compile(
            re.escape(head) + f".*{re.escape(str(db))}.*(read-only|not writable)"
        ),
        "full disk": head + f"the disk is full: cannot write the metrics database {db}",
        "damaged pages": head + f"{db} is not a usable metrics database (corrupt or not SQLite): "
        "database disk image is malformed",
        "not SQLite": head
        + f"{db} is not a usable metrics database (corrupt or not SQLite): file is not a database",
        "newer schema": head
        + f"{db}: the database has schema version {len(MIGRATIONS) + 1}, newer than this "
        f"pilot-metrics knows ({len(MIGRATIONS)}): upgrade pilot-metrics-plugin",
    }[faulted.fault]


def test_the_fault_is_one_clear_line_on_stderr(faulted: Faulted) -> None:
    lines = faulted.result.stderr.splitlines()
    # The outcome line of the execution (its replayed duration: the big one ends at its start), and the fault.
    outcome = [line for line in lines if line.startswith("pilot: execution succeeded in ")]
    faults = [line for line in lines if line not in outcome]
    assert len(outcome) == 1 and len(faults) == 1, faulted.result.stderr
    expected = expected_line(faulted)
    if isinstance(expected, str):
        assert faults[0] == expected
    else:
        assert expected.fullmatch(faults[0]), (faulted.how, faults[0])


def test_the_execution_still_runs_to_its_end_and_exits_with_its_own_status(faulted: Faulted) -> None:
    assert faulted.result.returncode == 0, faulted.result.stderr
    assert faulted.layout.calls()[-1]["status"] == "succeeded"


def test_the_other_plugins_get_every_hook_call_they_get_when_the_database_works(faulted: Faulted) -> None:
    assert hook_sequence(faulted.layout.calls()) == hook_sequence(faulted.control_calls)


def test_no_row_recorded_before_the_fault_is_lost(faulted: Faulted) -> None:
    if faulted.fault == "full disk":
        # The database took what fit (the new execution's running row); every earlier row is as it was.
        rows_after = snapshot(faulted.layout.db)
        assert [row for row in rows_after if row in faulted.rows_before] == faulted.rows_before
        conn = sqlite3.connect(faulted.layout.db)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.close()
    else:
        # Nothing was written: the file is byte for byte what it was (a corrupt one is not made worse).
        assert faulted.layout.db.read_bytes() == faulted.bytes_before


def test_an_execution_whose_end_did_not_fit_is_marked_interrupted_once_its_host_is_gone(
    tmp_path: Path,
) -> None:
    layout = Layout(tmp_path).make()
    assert replay(layout, "earlier").returncode == 0
    big = big_transcript(tmp_path / "big.jsonl")
    result = pilot(
        layout,
        "replay",
        str(big),
        "--task-id",
        "big",
        "--project",
        "shop",
        driver_options=["--spare-pages", "4"],
    )
    assert result.returncode == 0
    execution_id = layout.calls()[-1]["execution"]
    # The pilot process has exited: the next open (a report) marks its row as a dead host's.
    store = MetricsStore.open(layout.db, stale_after_s=6 * 3600)
    record = store.load_record(execution_id)
    store.close()
    assert record is not None
    assert (record.status, record.failure_category, record.tokens_total) == ("interrupted", "host_died", 0)
    # The phases written before the disk filled: the first of planning, exploring, implementing, exploring...
    names = [phase.name for phase in record.phases]
    expected = ["planning", *(["exploring", "implementing"] * 200)]
    assert names and names == expected[: len(names)]


# -- a database that comes back ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_database_unavailable_when_the_execution_starts_gets_the_whole_record_at_its_end(
    tmp_path: Path,
) -> None:
    # The database's directory is a plain file when the execution starts (nothing can be created there), and
    # is removed while the agent works: the end opens the database again and writes the whole record.
    layout = Layout(tmp_path).make()
    layout.data.write_text("in the way\n")
    init = json.dumps({"type": "system", "subtype": "init", "model": "claude-opus-5-5"})
    lines = [line for line in FIXTURE.read_text().splitlines() if line.strip()]
    agent = [sys.executable, str(AGENT_SCRIPT), "--line", init, "--sleep", "1.5"]
    for line in lines:
        agent += ["--line", line]
    process = subprocess.Popen(
        [
            sys.executable,
            str(DRIVER),
            "--witness",
            str(layout.witness),
            "--",
            "run",
            "--task-id",
            "back",
            "--project",
            "shop",
            "--project-path",
            str(tmp_path),
            "--",
            *agent,
        ],
        env={**os.environ, "PILOT_HOME": str(layout.home)},
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: bool(layout.calls()))
    layout.data.unlink()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    faults = [line for line in stderr.splitlines() if line.startswith("pilot metrics: cannot record")]
    assert len(faults) == 1, stderr
    store = MetricsStore.open(layout.db)
    record = store.load_record(layout.calls()[-1]["execution"])
    store.close()
    assert record is not None
    # The fixture's totals, both phases (planning until the Bash tool use, then executing).
    assert (record.status, record.tokens_total, record.cost_nano_usd) == (
        "succeeded",
        TOKENS_TOTAL,
        COST_NANO_USD,
    )
    assert [phase.name for phase in record.phases] == ["planning", "executing"]


# -- other plugins ------------------------------------------------------------------------------------------


def recorded_totals(db: Path) -> list[tuple[str, int, int]]:
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT status, tokens_total, cost_nano_usd FROM executions ORDER BY rowid"
    ).fetchall()
    conn.close()
    return rows


def test_a_plugin_raising_in_every_hook_does_not_stop_the_recording(tmp_path: Path) -> None:
    layout = Layout(tmp_path).make()
    result = replay(layout, "T", times=3, driver_options=["--raising"])
    assert result.returncode == 0, result.stderr
    assert recorded_totals(layout.db) == [("succeeded", TOKENS_TOTAL, COST_NANO_USD)] * 3
    # Each failure is one line naming the plugin and the hook; never a traceback.
    failures = [line for line in result.stderr.splitlines() if "plugin 'raising'" in line]
    assert failures and all(re.fullmatch(r"pilot: plugin 'raising' failed .*", line) for line in failures)
    assert "Traceback" not in result.stderr


def test_a_sink_that_hangs_does_not_stop_the_recording_nor_the_process(tmp_path: Path) -> None:
    layout = Layout(tmp_path).make()
    (layout.home / "metrics.toml").write_text("[sinks]\ntimeout = 0.2\n")
    began = time.monotonic()
    result = replay(layout, "T", times=3, driver_options=["--hanging-sink"])
    elapsed_s = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    assert recorded_totals(layout.db) == [("succeeded", TOKENS_TOTAL, COST_NANO_USD)] * 3
    # The first record waits 0.2 s for the sink; the next two find it still busy and go on at once. The rest
    # is starting Python: far below the 10 s a hung sink would cost each execution without the timeout.
    assert elapsed_s < 10
