"""`pilot metrics sla`: success rate and p95 duration per week or month and project against targets from the
command line and the config, on a hand-made dataset; and the ``[sla]`` config table.

The dataset, in Europe/Berlin (UTC+1 all November 2026); weeks are ISO weeks, W46 = Mon 11-09 to Sun 11-15,
W47 = Mon 11-16 to Sun 11-22:

- shop T1..T20 in W46 (four a day, Mon 11-09 to Fri 11-13): T_i lasts i minutes; T7 failed, the others
  succeeded.
- api A1 (Tue 11-10, 2 min) and A2 (Wed 11-11, 40 min) in W46, both succeeded.
- shop in W47: T21 succeeded, 10 min, Mon 11-16 00:30 in Berlin (Sun 11-15 23:30 in UTC, so W46 in UTC);
  T22 timed out after 45 min (Tue 11-17); T23 succeeded, 5 min (Wed 11-18); T24 still running (Thu 11-19).

Default targets: success >= 0.95 and p95 <= 30 min. Percentiles are nearest-rank: the k-th shortest of n
with k = ceil(95 n / 100).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from pilot_metrics_plugin.config import ConfigError, SlaConfig, SlaTargets, load_config
from pilot_metrics_plugin.store import MetricsStore
from report_dataset import execution, pilot, utc_ms

ZONE = "Europe/Berlin"
RANGE = ["--since", "2026-11-09", "--until", "2026-11-22", "--tz", ZONE]
MINUTE_MS = 60_000


def _run(number: int, start: str, project: str, status: str, minutes: int, task_id: str) -> dict[str, Any]:
    row = execution(
        number,
        start,
        project,
        status,
        minutes * MINUTE_MS,
        (1, 1, 0, 0),
        1000,
        "reported",
        category=None if status == "succeeded" else status,
        reason=None,
    )
    return {**row, "task_id": task_id}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sla") / "metrics.db"
    store = MetricsStore.open(path)
    rows = []
    for i in range(1, 21):
        day, slot = divmod(i - 1, 4)
        start = f"2026-11-{9 + day:02d} {9 + slot:02d}:00"
        rows.append(_run(i, start, "shop", "failed" if i == 7 else "succeeded", i, f"T{i}"))
    rows += [
        _run(101, "2026-11-10 10:00", "api", "succeeded", 2, "A1"),
        _run(102, "2026-11-11 10:00", "api", "succeeded", 40, "A2"),
        _run(21, "2026-11-15 23:30", "shop", "succeeded", 10, "T21"),
        _run(22, "2026-11-17 10:00", "shop", "timed_out", 45, "T22"),
        _run(23, "2026-11-18 10:00", "shop", "succeeded", 5, "T23"),
    ]
    for row in rows:
        store.finish_execution(row, [], [])
    store.begin_execution(
        {
            "execution_id": "e24",
            "task_id": "T24",
            "project": "shop",
            "project_path": "/src/shop",
            "agent_command": ["claude"],
            "model_requested": None,
            "started_at_ms": utc_ms("2026-11-19 10:00"),
        }
    )
    store.close()
    return path


def sla(db: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    code, out, err = pilot(db, ["metrics", "sla", *RANGE, "--json", "--db", str(db), *extra], capsys)
    assert (code, err) == (0, "")
    return json.loads(out)


def row_of(doc: dict[str, Any], period: str, project: str) -> dict[str, Any]:
    key = "week" if doc["period"] == "week" else "month"
    (found,) = [row for row in doc["rows"] if row[key] == period and row["project"] == project]
    return found


def tasks(executions: list[dict[str, Any]]) -> list[str]:
    return [e["task_id"] for e in executions]


# -- per week and project --------------------------------------------------------------------------------


def test_rows_are_each_period_and_project_with_executions_newest_first(db: Path, capsys) -> None:
    doc = sla(db, capsys)
    assert [(row["week"], row["project"]) for row in doc["rows"]] == [
        ("2026-W47", "shop"),
        ("2026-W46", "api"),
        ("2026-W46", "shop"),
    ]  # api ran nothing in W47


def test_a_week_at_exactly_the_success_target_and_under_the_p95_target_is_met(db: Path, capsys) -> None:
    row = row_of(sla(db, capsys), "2026-W46", "shop")
    # 19 of 20 succeeded: 0.95, at least the target. p95: k = ceil(95 * 20 / 100) = 19, the 19-minute T19.
    assert (row["finished"], row["succeeded"], row["success_rate"], row["success_met"]) == (
        20,
        19,
        0.95,
        True,
    )
    assert (row["duration_p95_ms"], row["duration_met"], row["met"]) == (19 * MINUTE_MS, True, True)
    # T7 failed: it broke the success target even in a week that met it. No run was over 30 minutes.
    assert (tasks(row["failed_executions"]), tasks(row["slow_executions"])) == (["T7"], [])


def test_a_missed_week_lists_the_executions_that_broke_each_target(db: Path, capsys) -> None:
    row = row_of(sla(db, capsys), "2026-W47", "shop")
    # T21 10 min, T22 45 min timed out, T23 5 min finished; T24 runs. 2 of 3: 0.667 < 0.95.
    # p95: k = ceil(95 * 3 / 100) = 3, the 45-minute T22 > 30 min.
    assert (row["executions"], row["finished"], row["running"]) == (4, 3, 1)
    assert (row["success_rate"], row["duration_p95_ms"]) == (2 / 3, 45 * MINUTE_MS)
    assert (row["success_met"], row["duration_met"], row["met"]) == (False, False, False)
    failed = row["failed_executions"][0]
    assert failed == {
        "task_id": "T22",
        "execution_id": failed["execution_id"],
        "status": "timed_out",
        "started_at": "2026-11-17T11:00:00+01:00",
        "duration_ms": 45 * MINUTE_MS,
    }
    assert tasks(row["slow_executions"]) == ["T22"]


def test_a_p95_over_the_target_misses_even_when_every_execution_succeeded(db: Path, capsys) -> None:
    row = row_of(sla(db, capsys), "2026-W46", "api")
    # A1 2 min, A2 40 min: p95 k = ceil(1.9) = 2, 40 min > 30 min.
    assert (row["success_rate"], row["success_met"], row["duration_p95_ms"], row["duration_met"]) == (
        1.0,
        True,
        40 * MINUTE_MS,
        False,
    )
    assert (tasks(row["failed_executions"]), tasks(row["slow_executions"])) == ([], ["A2"])


def test_a_period_with_nothing_finished_yet_is_pending(db: Path, capsys) -> None:
    doc = sla(db, capsys, "--since", "2026-11-19", "--until", "2026-11-19")
    (row,) = doc["rows"]  # only T24, still running
    assert (row["executions"], row["finished"], row["success_rate"], row["duration_p95_ms"]) == (
        1,
        0,
        None,
        None,
    )
    assert (row["met"], doc["total"]["pending"]) == (None, 1)


def test_each_project_counts_the_periods_it_met_and_missed(db: Path, capsys) -> None:
    doc = sla(db, capsys)
    assert [(p["project"], p["periods"], p["met"], p["missed"]) for p in doc["projects"]] == [
        ("api", 1, 0, 1),
        ("shop", 2, 1, 1),
    ]
    assert doc["total"] == {"projects": 2, "periods": 3, "met": 1, "missed": 2, "pending": 0}


def test_weeks_are_the_report_zones_weeks(db: Path, capsys) -> None:
    doc = sla(db, capsys, "--tz", "UTC")
    row = row_of(doc, "2026-W46", "shop")
    # In UTC, T21 (Sun 23:30) belongs to W46: 20 of 21 succeeded, p95 k = ceil(19.95) = 20 of
    # 1..20 min and 10 min sorted: the 20th is 19 min.
    assert (row["finished"], row["succeeded"], row["duration_p95_ms"]) == (21, 20, 19 * MINUTE_MS)
    assert row_of(doc, "2026-W47", "shop")["finished"] == 2  # T22 and T23


def test_a_month_gathers_its_days_of_the_range(db: Path, capsys) -> None:
    doc = sla(db, capsys, "--period", "month")
    row = row_of(doc, "2026-11", "shop")
    # T1..T23 finished, 19 + T21 + T23 = 21 succeeded: 21/23 = 0.913 < 0.95. p95: k = ceil(21.85) = 22 of
    # 1..20, 5, 10, 45 min sorted: the 22nd is 20 min (only 45 is above it).
    assert (row["finished"], row["succeeded"], row["success_met"]) == (23, 21, False)
    assert (row["duration_p95_ms"], row["duration_met"]) == (20 * MINUTE_MS, True)
    assert (row["start"], row["end"]) == ("2026-11-09", "2026-11-22")  # cut to the range


# -- targets ---------------------------------------------------------------------------------------------


def test_the_default_targets_are_95_percent_and_30_minutes(db: Path, capsys) -> None:
    targets = sla(db, capsys)["projects"][0]["targets"]
    assert targets == {
        "success_rate": 0.95,
        "duration_p95_ms": 30 * MINUTE_MS,
        "success_rate_from": "default",
        "duration_p95_from": "default",
    }


def test_command_line_targets_apply_to_every_project(db: Path, capsys) -> None:
    doc = sla(db, capsys, "--target-p95", "15m", "--target-success", "90%")
    row = row_of(doc, "2026-W46", "shop")
    # p95 19 min > 15 min; the runs over 15 minutes are T16..T20 (T15 is exactly 15: not over).
    assert (row["target_duration_p95_ms"], row["duration_met"]) == (15 * MINUTE_MS, False)
    assert tasks(row["slow_executions"]) == ["T16", "T17", "T18", "T19", "T20"]
    assert row["target_success_rate"] == 0.9
    assert {p["targets"]["duration_p95_from"] for p in doc["projects"]} == {"--target-p95"}


def write_config(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "metrics.toml").write_text(text)


SLA_CONFIG = '[sla]\ntarget_success = 0.9\n\n[sla.projects.api]\ntarget_p95 = "1h"\n'


def test_a_projects_config_targets_override_the_config_defaults(
    db: Path, capsys, _isolated_environment
) -> None:
    write_config(_isolated_environment, SLA_CONFIG)
    doc = sla(db, capsys)
    api = row_of(doc, "2026-W46", "api")
    # api: 40 min <= its own 1 h; success 100% >= the [sla] 0.9.
    assert (api["target_duration_p95_ms"], api["target_success_rate"], api["met"]) == (
        60 * MINUTE_MS,
        0.9,
        True,
    )
    assert [p["targets"] for p in doc["projects"]] == [
        {
            "success_rate": 0.9,
            "duration_p95_ms": 60 * MINUTE_MS,
            "success_rate_from": "sla",
            "duration_p95_from": "sla.projects.api",
        },
        {
            "success_rate": 0.9,
            "duration_p95_ms": 30 * MINUTE_MS,
            "success_rate_from": "sla",
            "duration_p95_from": "default",
        },
    ]


def test_command_line_targets_override_the_config(db: Path, capsys, _isolated_environment) -> None:
    write_config(_isolated_environment, SLA_CONFIG)
    doc = sla(db, capsys, "--target-p95", "45m")
    api = row_of(doc, "2026-W46", "api")
    assert (api["target_duration_p95_ms"], api["met"]) == (45 * MINUTE_MS, True)  # 40 min <= 45, not 1 h
    shop = row_of(doc, "2026-W47", "shop")
    # p95 45 min is at most 45 min: met; 2/3 is under the config's 0.9: the week is still missed.
    assert (shop["duration_met"], shop["success_met"], shop["met"]) == (True, False, False)


def test_resolving_targets_takes_each_from_the_first_level_that_sets_it() -> None:
    from pilot_metrics_plugin.reports.sla import resolve_targets

    config = SlaConfig(SlaTargets(success_rate=0.9), {"web": SlaTargets(duration_p95_ms=600_000)})
    web = resolve_targets(config, "web", success_rate=0.99)
    assert (web.success_rate, web.success_rate_from) == (0.99, "--target-success")
    assert (web.duration_p95_ms, web.duration_p95_from) == (600_000, "sla.projects.web")
    other = resolve_targets(config, "other")
    assert (other.success_rate_from, other.duration_p95_from) == ("sla", "default")


# -- the table, and what goes wrong ----------------------------------------------------------------------


def test_the_table_shows_a_row_per_period_and_project_and_a_line_per_project(db: Path, capsys) -> None:
    _, out, _ = pilot(db, ["metrics", "sla", *RANGE, "--format", "tsv", "--db", str(db)], capsys)
    lines = out.splitlines()
    cells = [[c.strip() for c in line.split("\t")] for line in lines if "\t" in line]
    assert cells[0] == [
        "week",
        "project",
        "finished",
        "success",
        "target",
        "p95",
        "target",
        "SLA",
        "failed tasks",
        "slower than target",
    ]
    assert cells[1] == [
        "2026-W47",
        "shop",
        "3 (+1 running)",
        "66.7%",
        ">= 95.0%",
        "45m00s",
        "<= 30m00s",
        "missed: success, p95",
        "T22",
        "T22",
    ]
    assert cells[3][7] == "met"
    assert "shop: 1 of 2 weeks met (success >= 95.0% from default, p95 <= 30m00s from default)" in lines


def test_a_table_cell_lists_five_task_ids_and_counts_the_rest(db: Path, capsys) -> None:
    _, out, _ = pilot(
        db, ["metrics", "sla", *RANGE, "--format", "tsv", "--target-p95", "10m", "--db", str(db)], capsys
    )
    shop_w46 = next(line for line in out.splitlines() if line.startswith("2026-W46\tshop"))
    # Over 10 minutes: T11..T20, ten runs.
    assert shop_w46.split("\t")[-1].strip() == "T11, T12, T13, T14, T15 +5 more"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target-success", "1.5"], "--target-success: expected a success rate from 0 to 1"),
        (["--target-success", "most"], "--target-success: expected a success rate"),
        (["--target-p95", "soon"], "--target-p95: expected a duration"),
        (["--target-p95", "0"], "--target-p95: must be more than 0 seconds"),
        (["--period", "day"], "--period must be week or month, not 'day'"),
        (["--periods", "0"], "--periods must be at least 1"),
    ],
    ids=["rate-over-1", "rate-word", "p95-word", "p95-zero", "period", "periods"],
)
def test_bad_options_are_one_line_and_exit_2(db: Path, capsys, argv: list[str], message: str) -> None:
    code, out, err = pilot(db, ["metrics", "sla", "--db", str(db), *argv], capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and message in err, err


def test_an_empty_range_is_one_line(db: Path, capsys) -> None:
    code, out, _ = pilot(
        db,
        ["metrics", "sla", "--since", "2025-01-01", "--until", "2025-01-31", "--tz", ZONE, "--db", str(db)],
        capsys,
    )
    assert code == 0 and out.count("\n") == 1
    assert out.startswith("no executions from 2025-01-01 to 2025-01-31 (Europe/Berlin); the latest execution")


def test_without_a_range_it_covers_the_last_12_weeks(db: Path, capsys) -> None:
    from datetime import datetime, timedelta, timezone

    code, out, _ = pilot(db, ["metrics", "sla", "--tz", "UTC", "--json", "--db", str(db)], capsys)
    assert code == 0
    doc = json.loads(out)
    today = datetime.now(timezone.utc).date()
    monday = today - timedelta(days=today.weekday())
    assert (doc["since"], doc["until"]) == ((monday - timedelta(weeks=11)).isoformat(), today.isoformat())


# -- the [sla] config table ------------------------------------------------------------------------------


def test_the_sla_config_reads_defaults_and_per_project_targets(tmp_path: Path) -> None:
    path = tmp_path / "metrics.toml"
    path.write_text(
        '[sla]\ntarget_success = "99.5%"\ntarget_p95 = 900\n[sla.projects."my shop"]\ntarget_p95 = "2h"\n'
    )
    config = load_config(path).sla
    assert config.defaults == SlaTargets(success_rate=0.995, duration_p95_ms=900_000)
    assert config.projects == {"my shop": SlaTargets(success_rate=None, duration_p95_ms=7_200_000)}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[sla]\ntarget_sucess = 0.9\n", "sla.target_sucess: unknown key"),
        ("[sla]\ntarget_success = 2\n", "sla.target_success: expected a success rate"),
        ("[sla]\ntarget_success = true\n", "sla.target_success: expected a success rate"),
        ('[sla.projects.api]\ntarget_p95 = "fast"\n', "sla.projects.api.target_p95: expected a duration"),
        ("[sla.projects.api]\ntarget_p95 = 0\n", "sla.projects.api.target_p95: must be more than 0"),
        ('[sla]\nprojects = "api"\n', "sla.projects: expected a table"),
        ("[sla.projects]\napi = 3\n", "sla.projects.api: expected a table"),
        ('sla = "strict"\n', "sla: expected a table"),
    ],
)
def test_an_sla_config_mistake_names_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "metrics.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config(path)


def test_a_bad_sla_config_is_one_line_from_the_command(db: Path, capsys, _isolated_environment) -> None:
    write_config(_isolated_environment, '[sla]\ntarget_p95 = "soon"\n')
    code, out, err = pilot(db, ["metrics", "sla", *RANGE, "--db", str(db)], capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "sla.target_p95" in err


# -- the docs --------------------------------------------------------------------------------------------


def test_the_docs_list_every_json_key_of_the_sla_document(db: Path, capsys) -> None:
    text = (ROOT / "docs" / "dashboard.md").read_text()
    match = re.search(r"JSON keys of `sla`:\n((?:- .+\n)+)", text)
    assert match, "docs/dashboard.md has no 'JSON keys of `sla`:' list"
    doc = sla(db, capsys)
    for line in match.group(1).splitlines():
        path, keys = line[2:].split(":", 1)
        node: Any = doc
        if path != "top level":
            for part in path.strip("`").split("."):
                node = node[part[:-2]][0] if part.endswith("[]") else node[part]
        assert list(node) == re.findall(r"`([^`]+)`", keys), path
