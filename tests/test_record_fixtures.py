"""Every shared transcript, replayed through `pilot replay` with the metrics plugin, is stored with exactly
the totals its own last `result` event reports, and `pilot metrics show --json` prints them.

Expected numbers are the fixture's last `result` line, read by hand (`modelUsage` per model: input / output /
cache read / cache creation / costUSD; the `usage` object where `modelUsage` is absent). Costs are the JSON
number's decimal text in nano-dollars, rounded half-even at the 9th decimal. tokens_total = input + output +
cache read + cache write. tokens_cache_write_1h comes from the result's `usage.cache_creation` (main
thread), or from `modelUsage`'s own 1h split where the stream gives one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import transcript
from hookspecs.cli import main
from hookspecs.manager import PluginHost
from pilot_metrics_plugin.plugin import MetricsPlugin

EXPECTED = {
    # usage (no modelUsage in 1.0.x): 193 / 35620 / 4940732 / 118318 -> total 5094863;
    # total_cost_usd 2.4637934999999995 -> 2463793499.9999995 nano -> 2463793500.
    "v1.0.x": dict(
        status="succeeded",
        tokens_input=193,
        tokens_output=35620,
        tokens_cache_read=4940732,
        tokens_cache_write=118318,
        tokens_cache_write_1h=0,
        tokens_total=5094863,
        cost_nano_usd=2463793500,
        cost_source="reported",
        num_turns=139,
        models={"claude-sonnet-4-20250514": (193, 35620, 4940732, 118318, 2463793500)},
    ),
    # sonnet-4-5: 48 / 4371 / 750196 / 14512, costUSD 0.3451878 -> 345187800; haiku row all zeros (no row).
    # total 48 + 4371 + 750196 + 14512 = 769127; 1h: usage.cache_creation says 0 of 14512.
    "v2.0.22": dict(
        status="succeeded",
        tokens_input=48,
        tokens_output=4371,
        tokens_cache_read=750196,
        tokens_cache_write=14512,
        tokens_cache_write_1h=0,
        tokens_total=769127,
        cost_nano_usd=345187800,
        cost_source="reported",
        num_turns=153,
        models={"claude-sonnet-4-5-20250929": (48, 4371, 750196, 14512, 345187800)},
    ),
    # haiku 573 / 134 / 7699 / 7824, 0.011792900000000002 -> 11792900;
    # sonnet-4-6 4 / 576 / 40618 / 7281, 0.06452340000000001 -> 64523400.
    # sums: 577 / 710 / 48317 / 15105, total 64709, cost 76316300 (= total_cost_usd 0.0763163).
    "v2.1.178-success-explore": dict(
        status="succeeded",
        tokens_input=577,
        tokens_output=710,
        tokens_cache_read=48317,
        tokens_cache_write=15105,
        tokens_cache_write_1h=7281,
        tokens_total=64709,
        cost_nano_usd=76316300,
        cost_source="reported",
        num_turns=2,
        models={
            "claude-haiku-4-5-20251001": (573, 134, 7699, 7824, 11792900),
            "claude-sonnet-4-6": (4, 576, 40618, 7281, 64523400),
        },
    ),
    # haiku 543 / 20 / 0 / 0, 0.000643 -> 643000;
    # sonnet-4-6 12 / 624 / 65110 / 18481, 0.11688075 -> 116880750.
    # sums: 555 / 644 / 65110 / 18481, total 84790, cost 117523750; 1h: main thread's 8288 (a lower bound).
    "v2.1.178-success-general": dict(
        status="succeeded",
        tokens_input=555,
        tokens_output=644,
        tokens_cache_read=65110,
        tokens_cache_write=18481,
        tokens_cache_write_1h=8288,
        tokens_total=84790,
        cost_nano_usd=117523750,
        cost_source="reported",
        num_turns=3,
        models={
            "claude-haiku-4-5-20251001": (543, 20, 0, 0, 643000),
            "claude-sonnet-4-6": (12, 624, 65110, 18481, 116880750),
        },
    ),
    # 404: modelUsage {}, usage all zeros, total_cost_usd 0 -> reported $0; is_error true -> failed.
    "v2.1.220-error": dict(
        status="failed",
        tokens_input=0,
        tokens_output=0,
        tokens_cache_read=0,
        tokens_cache_write=0,
        tokens_cache_write_1h=0,
        tokens_total=0,
        cost_nano_usd=0,
        cost_source="reported",
        num_turns=1,
        models={},
    ),
    # sonnet-5 6 / 269 / 63944 / 21022, 0.11543595000000001 -> 115435950; total 85241; 1h: main thread 5941.
    "v2.1.220-success-subagent": dict(
        status="succeeded",
        tokens_input=6,
        tokens_output=269,
        tokens_cache_read=63944,
        tokens_cache_write=21022,
        tokens_cache_write_1h=5941,
        tokens_total=85241,
        cost_nano_usd=115435950,
        cost_source="reported",
        num_turns=2,
        models={"claude-sonnet-5": (6, 269, 63944, 21022, 115435950)},
    ),
    # sonnet-5 4 / 171 / 63600 / 5424, 0.054201000000000006 -> 54201000; total 69199; 1h 5424.
    "v2.1.220-success-write": dict(
        status="succeeded",
        tokens_input=4,
        tokens_output=171,
        tokens_cache_read=63600,
        tokens_cache_write=5424,
        tokens_cache_write_1h=5424,
        tokens_total=69199,
        cost_nano_usd=54201000,
        cost_source="reported",
        num_turns=2,
        models={"claude-sonnet-5": (4, 171, 63600, 5424, 54201000)},
    ),
    # opus-5-5 2003 / 83 / 15000 / 4000, 0.03267200000000001 -> 32672000; total 21086; 1h split given: 0.
    "v2.1.328": dict(
        status="succeeded",
        tokens_input=2003,
        tokens_output=83,
        tokens_cache_read=15000,
        tokens_cache_write=4000,
        tokens_cache_write_1h=0,
        tokens_total=21086,
        cost_nano_usd=32672000,
        cost_source="reported",
        num_turns=2,
        models={"claude-opus-5-5": (2003, 83, 15000, 4000, 32672000)},
    ),
    # sonnet-4-6 6 / 6154 / 157738 / 57185, 0.35409314999999997 -> 354093150;
    # haiku 16333 / 4920 / 234127 / 109423, 0.20112445 -> 201124450.
    # sums 16339 / 11074 / 391865 / 166608, total 585886, cost 555217600 (= 0.5552176); is_error -> failed.
    "v2.1.72-error": dict(
        status="failed",
        tokens_input=16339,
        tokens_output=11074,
        tokens_cache_read=391865,
        tokens_cache_write=166608,
        tokens_cache_write_1h=57185,
        tokens_total=585886,
        cost_nano_usd=555217600,
        cost_source="reported",
        num_turns=14,
        models={
            "claude-haiku-4-5-20251001": (16333, 4920, 234127, 109423, 201124450),
            "claude-sonnet-4-6": (6, 6154, 157738, 57185, 354093150),
        },
    ),
    # sonnet-4-6 5 / 6249 / 120087 / 36365, 0.26614485 -> 266144850;
    # haiku 5216 / 16505 / 188305 / 229409, 0.39333274999999995 -> 393332750.
    # sums 5221 / 22754 / 308392 / 265774, total 602141, cost 659477600 (= 0.6594776).
    "v2.1.72-success": dict(
        status="succeeded",
        tokens_input=5221,
        tokens_output=22754,
        tokens_cache_read=308392,
        tokens_cache_write=265774,
        tokens_cache_write_1h=36365,
        tokens_total=602141,
        cost_nano_usd=659477600,
        cost_source="reported",
        num_turns=4,
        models={
            "claude-haiku-4-5-20251001": (5216, 16505, 188305, 229409, 393332750),
            "claude-sonnet-4-6": (5, 6249, 120087, 36365, 266144850),
        },
    ),
}


def replay_and_show(prefix: str, db: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    host = PluginHost.create([("metrics", MetricsPlugin(db_path=db))], load_entrypoints=False)
    main(["replay", str(transcript(prefix)), "--task-id", f"task-{prefix}", "--project", "shop"], host=host)
    capsys.readouterr()
    assert main(["metrics", "show", "--last", "--json", "--db", str(db)], host=host) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
def test_replayed_fixture_is_stored_with_the_totals_of_its_result_event(
    prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = dict(EXPECTED[prefix])
    models = expected.pop("models")
    record = replay_and_show(prefix, tmp_path / "metrics.db", capsys)
    assert {key: record[key] for key in expected} == expected
    assert {
        m["model"]: (
            m["tokens_input"],
            m["tokens_output"],
            m["tokens_cache_read"],
            m["tokens_cache_write"],
            m["cost_nano_usd"],
        )
        for m in record["models"]
    } == models
    assert record["task_id"] == f"task-{prefix}"
    assert record["usage_complete"] is True


def test_the_record_carries_every_documented_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = replay_and_show("v2.1.328", tmp_path / "metrics.db", capsys)
    documented = {
        "execution_id",
        "task_id",
        "project",
        "project_path",
        "agent_command",
        "status",
        "failure_category",
        "failure_reason",
        "exit_code",
        "started_at",
        "ended_at",
        "duration_ms",
        "num_turns",
        "tokens_input",
        "tokens_output",
        "tokens_cache_read",
        "tokens_cache_write",
        "tokens_cache_write_1h",
        "tokens_total",
        "cost_nano_usd",
        "cost_usd",
        "cost_source",
        "models",
        "phases",
        "tool_calls",
        "files_changed",
        "lines_added",
        "lines_removed",
        "commit_sha",
        "pr_url",
        "malformed_lines",
        "usage_complete",
    }
    assert documented <= set(record)
    # The Bash tool use of the fixture ("echo hello") is the one tool call, and it opened a phase.
    assert record["tool_calls"] == {"Bash": 1}
    assert [p["name"] for p in record["phases"]] == ["planning", "executing"]
    # The stream reports 0.03267200000000001 dollars: the readable number beside the exact integer.
    assert record["cost_usd"] == pytest.approx(0.032672)
    assert record["started_at"].endswith("+00:00")


def test_a_failed_fixture_is_stored_with_its_failure_category(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = replay_and_show("v2.1.220-error", tmp_path / "metrics.db", capsys)
    # result: subtype "success", is_error true, api_error_status 404, terminal_reason "api_error".
    assert record["status"] == "failed"
    assert record["failure_category"] == "model_not_found"
    assert record["failure_reason"]
