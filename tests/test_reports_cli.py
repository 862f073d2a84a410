"""The options every report shares (range, project, model, status, time zone), what bad input and empty
ranges print, and the reports of fixtures replayed through `pilot replay --started-at`.

Counts refer to the executions E0..E11 of ``report_dataset`` (see its docstring).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, transcript
from hookspecs.cli import main
from hookspecs.manager import PluginHost
from pilot_metrics_plugin.plugin import MetricsPlugin
from pilot_metrics_plugin.store import MetricsStore
from report_dataset import RANGE, ZONE, pilot, report_json, write_dataset
from test_record_fixtures import EXPECTED

REPORTS = ("summary", "daily", "weekly", "monthly", "projects", "models", "phases", "failures", "peak")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("reports-cli") / "metrics.db")


# -- filters ---------------------------------------------------------------------------------------------


def test_since_and_until_are_inclusive_local_dates(db: Path, capsys) -> None:
    one_day = report_json(db, "summary", capsys, "--since", "2026-11-01", "--until", "2026-11-01")
    # The 25-hour 11-01 in New York holds E3 (00:30 EDT), E4 (01:30 EST) and E5 (23:30 EST), nothing else.
    assert (one_day["executions"], one_day["since"], one_day["until"]) == (3, "2026-11-01", "2026-11-01")


def test_the_time_zone_option_moves_the_day_boundaries(db: Path, capsys) -> None:
    doc = report_json(db, "daily", capsys, "--tz", "UTC")
    executions = {row["date"]: row["executions"] for row in doc["rows"]}
    # In UTC: 10-28 holds E0 (03:30) and E1; 11-01 holds E2 E3 E4; 11-02 E5 E6 E7; E8 (11-04 03:00) is out.
    assert executions == {
        "2026-11-03": 0,
        "2026-11-02": 3,
        "2026-11-01": 3,
        "2026-10-31": 0,
        "2026-10-30": 1,
        "2026-10-29": 1,
        "2026-10-28": 2,
    }
    assert doc["tz"] == "UTC"


def test_the_configured_time_zone_is_the_default(db: Path, capsys, _isolated_environment: Path) -> None:
    _isolated_environment.mkdir(parents=True)
    (_isolated_environment / "metrics.toml").write_text('timezone = "America/New_York"\n')
    argv = ["metrics", "summary", "--since", "2026-10-28", "--until", "2026-11-03", "--json"]
    code, out, _ = pilot(db, argv, capsys)
    doc = json.loads(out)
    assert (code, doc["tz"], doc["executions"]) == (0, "America/New_York", 10)


def test_project_is_repeatable(db: Path, capsys) -> None:
    doc = report_json(db, "summary", capsys, "--project", "web", "--project", "api")
    # web: E3 E4; api: E9 E6 E7 (E11 is out of range).
    assert (doc["executions"], doc["filters"]["projects"]) == (5, ["web", "api"])
    projects = report_json(db, "projects", capsys, "--project", "web", "--project", "api")
    assert [row["project"] for row in projects["rows"]] == ["api", "web"]


def test_model_keeps_executions_that_used_or_asked_for_a_matching_model(db: Path, capsys) -> None:
    doc = report_json(db, "summary", capsys, "--model", "haiku")
    # Used haiku: E2 E5 E7; asked for it without any usage: E6.
    assert doc["executions"] == 4
    models = report_json(db, "models", capsys, "--model", "haiku")
    assert [row["model"] for row in models["rows"]] == ["claude-haiku-4-5-20251001"]


def test_status_failed_means_every_finished_execution_that_did_not_succeed(db: Path, capsys) -> None:
    doc = report_json(db, "summary", capsys, "--status", "failed")
    # E2 E9 E10 failed, E4 timed out, E6 cancelled, E7 interrupted.
    assert (doc["executions"], doc["succeeded"], doc["failed"]) == (6, 0, 6)
    assert doc["filters"]["statuses"] == ["failed", "timed_out", "cancelled", "interrupted"]


def test_status_selects_one_stored_status_and_is_repeatable(db: Path, capsys) -> None:
    doc = report_json(db, "summary", capsys, "--status", "timed_out", "--status", "running")
    # E4 and E8.
    assert (doc["executions"], doc["failed_by_status"]["timed_out"], doc["running"]) == (2, 1, 1)


def test_days_counts_back_from_until(db: Path, capsys) -> None:
    argv = ["metrics", "daily", "--until", "2026-11-03", "--days", "3", "--tz", ZONE, "--json"]
    _, out, _ = pilot(db, argv, capsys)
    assert [row["date"] for row in json.loads(out)["rows"]] == ["2026-11-03", "2026-11-02", "2026-11-01"]


@pytest.mark.parametrize(("report", "rows"), [("daily", 30), ("weekly", 12), ("monthly", 12)])
def test_periodic_reports_default_to_the_periods_ending_today(
    db: Path, capsys, report: str, rows: int
) -> None:
    from datetime import datetime, timedelta, timezone

    code, out, _ = pilot(db, ["metrics", report, "--tz", "UTC", "--json"], capsys)
    doc = json.loads(out)
    today = datetime.now(timezone.utc).date()
    monday = today - timedelta(days=today.weekday())
    first_day = {"daily": today, "weekly": monday, "monthly": today.replace(day=1)}
    assert (code, len(doc["rows"]), doc["rows"][0]["date"], doc["until"]) == (
        0,
        rows,
        first_day[report].isoformat(),
        today.isoformat(),
    )


def test_building_the_command_line_imports_no_report_code() -> None:
    script = (
        "import sys\n"
        "from hookspecs.cli import build_parser\n"
        "from hookspecs.manager import PluginHost\n"
        "from pilot_metrics_plugin.plugin import MetricsPlugin\n"
        "build_parser(PluginHost.create([('metrics', MetricsPlugin())], load_entrypoints=False))\n"
        "print(sorted(m for m in sys.modules if m.startswith('pilot_metrics_plugin.reports') "
        "or m in ('tabulate', 'zoneinfo', 'sqlite3')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_table_format_picks_a_tabulate_style(db: Path, capsys) -> None:
    code, out, _ = pilot(db, ["metrics", "daily", *RANGE, "--format", "github"], capsys)
    assert code == 0
    assert out.splitlines()[0].startswith("| date")
    assert "|---" in out.splitlines()[1].replace(":", "-")


# -- bad input and empty ranges --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["summary", "--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (
            ["daily", "--since", "2026-11-05", "--until", "2026-11-01"],
            "--since 2026-11-05 is after --until 2026-11-01",
        ),
        (["projects", "--format", "fancy"], "unknown table format 'fancy'"),
        (["export", "--format", "xml"], "unknown export format 'xml'"),
        (["summary", "--since", "2026-02-30"], "--since: not a date"),
        (["summary", "--days", "0"], "--days must be at least 1"),
        (["peak", "--status", "exploded"], "unknown status 'exploded'"),
    ],
    ids=["zone", "since-after-until", "table-format", "export-format", "date", "days", "status"],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(db: Path, capsys, argv: list[str], message: str) -> None:
    code, out, err = pilot(db, ["metrics", *argv, "--db", str(db)], capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_an_unreadable_database_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    garbage = tmp_path / "metrics.db"
    garbage.write_bytes(b"not a database\n" * 200)
    for argv in (["summary"], ["export", "--format", "csv"]):
        code, out, err = pilot(garbage, ["metrics", *argv, "--db", str(garbage)], capsys)
        assert (code, out) == (2, "")
        assert err.count("\n") == 1 and "not a usable metrics database" in err


def test_an_empty_range_is_one_clear_line_and_exit_0(db: Path, capsys) -> None:
    for report in REPORTS:
        code, out, err = pilot(
            db, ["metrics", report, "--since", "2025-01-01", "--until", "2025-01-31", "--tz", ZONE], capsys
        )
        assert (code, err) == (0, "")
        # The latest execution, E11, started on 11-04 in New York.
        assert out.count("\n") == 1 and "from 2025-01-01 to 2025-01-31 (America/New_York)" in out, report
        assert "the latest execution started on 2026-11-04" in out


def test_an_empty_range_in_json_is_a_document_of_zeros(db: Path, capsys) -> None:
    doc = report_json(db, "summary", capsys, "--since", "2025-01-01", "--until", "2025-01-02")
    numbers = (doc["executions"], doc["success_rate"], doc["duration_ms"]["p50"], doc["cost_nano_usd"])
    assert numbers == (0, None, None, 0)


def test_summary_of_an_empty_database_says_how_to_record_executions(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "metrics.db"
    MetricsStore.open(empty).close()
    code, out, err = pilot(empty, ["metrics", "summary", "--db", str(empty)], capsys)
    assert (code, err) == (0, "")
    assert (
        out == f"no executions recorded yet in {empty}: `pilot run` records each execution, "
        "`pilot replay FILE` a recorded transcript\n"
    )
    assert "nan" not in out.lower()


def test_before_the_first_execution_the_default_database_is_not_an_error(
    capsys, _isolated_environment: Path
) -> None:
    host = PluginHost.create([("metrics", MetricsPlugin())], load_entrypoints=False)
    assert main(["metrics", "summary"], host=host) == 0
    assert capsys.readouterr().out.startswith("no executions recorded yet in ")
    assert not (_isolated_environment / "data" / "metrics.db").exists()


# -- end to end: replayed fixtures -----------------------------------------------------------------------


def test_replayed_fixtures_land_on_their_local_days_with_their_exact_costs(tmp_path: Path, capsys) -> None:
    db = tmp_path / "metrics.db"
    host = PluginHost.create([("metrics", MetricsPlugin(db_path=db))], load_entrypoints=False)
    replays = [
        ("v2.1.328", "2026-10-31T12:00:00Z"),  # 08:00 EDT on 10-31
        ("v2.1.72-success", "2026-11-02T04:30:00Z"),  # 23:30 EST on 11-01 (11-02 in UTC)
    ]
    for prefix, started_at in replays:
        argv = ["replay", str(transcript(prefix)), "--task-id", prefix, "--project", "shop"]
        assert main([*argv, "--started-at", started_at], host=host) == 0
    capsys.readouterr()
    window = ["--since", "2026-10-30", "--until", "2026-11-02", "--tz", ZONE, "--db", str(db)]
    assert main(["metrics", "daily", *window, "--json"], host=host) == 0
    rows = {row["date"]: row for row in json.loads(capsys.readouterr().out)["rows"]}
    opus, multi = EXPECTED["v2.1.328"], EXPECTED["v2.1.72-success"]
    assert (rows["2026-10-31"]["cost_nano_usd"], rows["2026-10-31"]["tokens_total"]) == (
        opus["cost_nano_usd"],
        opus["tokens_total"],
    )  # 32672000 nano $, 21086 tokens
    assert (rows["2026-11-01"]["cost_nano_usd"], rows["2026-11-01"]["tokens_total"]) == (
        multi["cost_nano_usd"],
        multi["tokens_total"],
    )  # 659477600 nano $, 602141 tokens
    assert rows["2026-11-02"]["executions"] == rows["2026-10-30"]["executions"] == 0
    # The table says the same: $0.0327 and $0.6595 (659477600 nano $ to four places).
    assert main(["metrics", "daily", *window, "--format", "tsv"], host=host) == 0
    table = {
        line.split("\t")[0].strip(): [c.strip() for c in line.split("\t")]
        for line in capsys.readouterr().out.splitlines()
    }
    assert table["2026-10-31 Sat"][7:9] == ["21,086", "$0.0327"]
    assert table["2026-11-01 Sun"][7:9] == ["602,141", "$0.6595"]
    models = {}
    assert main(["metrics", "models", *window, "--json"], host=host) == 0
    for row in json.loads(capsys.readouterr().out)["rows"]:
        models[row["model"]] = row["cost_nano_usd"]
    # Per model, the fixtures' modelUsage costs: opus 32672000, haiku 393332750, sonnet-4-6 266144850.
    assert models == {
        "claude-opus-5-5": 32672000,
        "claude-haiku-4-5-20251001": 393332750,
        "claude-sonnet-4-6": 266144850,
    }


def test_a_replay_started_now_is_in_the_last_day(tmp_path: Path, capsys) -> None:
    db = tmp_path / "metrics.db"
    host = PluginHost.create([("metrics", MetricsPlugin(db_path=db))], load_entrypoints=False)
    fixture = "v2.1.220-success-write"
    main(["replay", str(transcript(fixture)), "--task-id", "now", "--project", "p"], host=host)
    capsys.readouterr()
    main(["metrics", "summary", "--days", "1", "--tz", "UTC", "--json", "--db", str(db)], host=host)
    doc = json.loads(capsys.readouterr().out)
    assert (doc["executions"], doc["cost_nano_usd"]) == (1, EXPECTED[fixture]["cost_nano_usd"])


# -- the documented JSON keys ----------------------------------------------------------------------------


def _documented_keys() -> dict[str, dict[str, list[str]]]:
    """``docs/reports.md``: for each report, ``JSON keys of `REPORT`:`` then ``- PATH: `key`, ...`` lines."""
    text = (ROOT / "docs" / "reports.md").read_text()
    documented: dict[str, dict[str, list[str]]] = {}
    for match in re.finditer(r"JSON keys of `(\w+)`:\n((?:- .+\n)+)", text):
        documented[match.group(1)] = {
            path.strip(): re.findall(r"`([^`]+)`", keys)
            for path, keys in (line[2:].split(":", 1) for line in match.group(2).splitlines())
        }
    return documented


def _at(doc: object, path: str) -> object:
    if path == "top level":
        return doc
    for part in path.strip("`").split("."):
        doc = doc[part[:-2]][0] if part.endswith("[]") else doc[part]  # type: ignore[index]
    return doc


@pytest.mark.parametrize("report", [*REPORTS, "export"])
def test_the_docs_list_every_json_key_of_each_report(db: Path, capsys, report: str) -> None:
    documented = _documented_keys()[report]
    if report == "export":
        _, out, _ = pilot(db, ["metrics", "export", "--format", "json", "--db", str(db)], capsys)
        doc: object = {"records": json.loads(out)}
    else:
        doc = report_json(db, report, capsys)
    for path, keys in documented.items():
        assert list(_at(doc, path)) == keys, (report, path)  # type: ignore[arg-type]
