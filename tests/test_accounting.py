"""The fold of one execution's stream-json events into its account: tokens, cost, tools, files, commits.

Expected numbers are derived by hand from the recorded transcripts (their last ``result`` event, or their
assistant lines) and the shipped price table; each derivation is in the comment beside it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ALL_TRANSCRIPTS, transcript
from pilot_metrics_plugin.accounting import Account, ModelAccount, StreamFolder
from pilot_metrics_plugin.pricing import PriceTable

ON = date(2026, 11, 25)
SONNET_46 = "claude-sonnet-4-6"
HAIKU_45 = "claude-haiku-4-5-20251001"


@pytest.fixture(scope="module")
def prices() -> PriceTable:
    return PriceTable.load()


def fold(lines: Iterable[str]) -> StreamFolder:
    """Feed every non-blank line, decoded, with its text: what the metrics plugin does per stream line."""
    folder = StreamFolder()
    for text in lines:
        if text.strip():
            folder.feed(json.loads(text), text)
    return folder


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def account_of(lines: Iterable[str], prices: PriceTable) -> Account:
    return fold(lines).account(ON, prices)


def event(**fields: Any) -> str:
    """One hand-made stream line."""
    return json.dumps(fields)


def assistant(
    message_id: str,
    model: str,
    usage: dict[str, Any],
    content: list[dict[str, Any]] | None = None,
    parent: str | None = None,
    **extra: Any,
) -> str:
    message = {"id": message_id, "model": model, "role": "assistant", "usage": usage}
    message["content"] = content if content is not None else [{"type": "text", "text": "ok"}]
    return event(type="assistant", message=message, parent_tool_use_id=parent, **extra)


def tool_result(content: Any, tool_use_result: Any = None) -> str:
    block = {"type": "tool_result", "tool_use_id": "toolu_x", "content": content}
    return event(type="user", message={"role": "user", "content": [block]}, tool_use_result=tool_use_result)


def result(**fields: Any) -> str:
    return event(**{"type": "result", "subtype": "success", "is_error": False, **fields})


# --- every recorded transcript: the account equals what its last result event reports --------------------

# (input, output, cache read, cache write, 1-hour cache write, total tokens, cost in nano-USD).
# Totals are sums over the last result's modelUsage; the 1-hour count is the result's
# usage.cache_creation.ephemeral_1h_input_tokens, which belongs to the main model (modelUsage has no split
# before 2.1.328). Each costUSD is converted from its decimal text, half-even to the nano, then summed.
EXPECTED_TOTALS: dict[str, tuple[int, int, int, int, int, int, int]] = {
    # No modelUsage (1.0.x): result.usage 193/35620/4940732/118318, no cache_creation split -> 1h 0;
    # total 193+35620+4940732+118318 = 5094863; total_cost_usd 2.4637934999999995 -> 2463793500 nano.
    "v1.0.x": (193, 35620, 4940732, 118318, 0, 5094863, 2463793500),
    # modelUsage sonnet-4-5 48/4371/750196/14512 + haiku 0/0/0/0; usage 1h 0 (all 5m);
    # total 769127; cost 0.3451878 + 0 = 345187800 nano.
    "v2.0.22": (48, 4371, 750196, 14512, 0, 769127, 345187800),
    # modelUsage haiku 573/134/7699/7824 + sonnet-4-6 4/576/40618/7281 = 577/710/48317/15105;
    # 1h 7281 (usage); total 64709; cost 0.011792900000000002 -> 11792900 + 0.06452340000000001 -> 64523400
    # = 76316300 nano.
    "v2.1.178-success-explore": (577, 710, 48317, 15105, 7281, 64709, 76316300),
    # modelUsage haiku 543/20/0/0 + sonnet-4-6 12/624/65110/18481 = 555/644/65110/18481; 1h 8288 (usage);
    # total 84790; cost 0.000643 -> 643000 + 0.11688075 -> 116880750 = 117523750 nano.
    "v2.1.178-success-general": (555, 644, 65110, 18481, 8288, 84790, 117523750),
    # modelUsage {} and usage all zeros; total_cost_usd 0 -> 0 nano.
    "v2.1.220-error": (0, 0, 0, 0, 0, 0, 0),
    # modelUsage sonnet-5 6/269/63944/21022; 1h 5941 (usage); total 85241;
    # cost 0.11543595000000001 -> 115435950 nano.
    "v2.1.220-success-subagent": (6, 269, 63944, 21022, 5941, 85241, 115435950),
    # modelUsage sonnet-5 4/171/63600/5424; 1h 5424; total 69199; cost 0.054201000000000006 -> 54201000.
    "v2.1.220-success-write": (4, 171, 63600, 5424, 5424, 69199, 54201000),
    # modelUsage opus-5-5 2003/83/15000/4000 with its own split cacheCreationEphemeral1hInputTokens 0;
    # total 21086; cost 0.03267200000000001 -> 32672000 nano.
    "v2.1.328": (2003, 83, 15000, 4000, 0, 21086, 32672000),
    # modelUsage sonnet-4-6 6/6154/157738/57185 + haiku 16333/4920/234127/109423 = 16339/11074/391865/166608;
    # 1h 57185 (usage); total 585886; cost 0.35409314999999997 -> 354093150 + 0.20112445 -> 201124450
    # = 555217600 nano.
    "v2.1.72-error": (16339, 11074, 391865, 166608, 57185, 585886, 555217600),
    # modelUsage sonnet-4-6 5/6249/120087/36365 + haiku 5216/16505/188305/229409 = 5221/22754/308392/265774;
    # 1h 36365 (usage); total 602141; cost 0.26614485 -> 266144850 + 0.39333274999999995 -> 393332750
    # = 659477600 nano.
    "v2.1.72-success": (5221, 22754, 308392, 265774, 36365, 602141, 659477600),
}


def test_every_recorded_transcript_has_hand_derived_totals() -> None:
    named = {prefix: transcript(prefix).name for prefix in EXPECTED_TOTALS}
    assert sorted(named.values()) == sorted(path.name for path in ALL_TRANSCRIPTS)


@pytest.mark.parametrize("prefix", sorted(EXPECTED_TOTALS))
def test_a_transcript_is_accounted_as_its_last_result_reports(prefix: str, prices: PriceTable) -> None:
    account = account_of(lines_of(transcript(prefix)), prices)
    assert (
        account.tokens_input,
        account.tokens_output,
        account.tokens_cache_read,
        account.tokens_cache_write,
        account.tokens_cache_write_1h,
        account.tokens_total,
        account.cost_nano_usd,
    ) == EXPECTED_TOTALS[prefix]
    assert (account.cost_source, account.usage_complete, account.result_count) == ("reported", True, 1)
    assert account.price_table_version is None  # nothing was estimated
    assert account.malformed_usage == 0


def test_per_model_rows_of_a_general_purpose_subagent_run() -> None:
    account = account_of(lines_of(transcript("v2.1.178-success-general")), PriceTable.load())
    # modelUsage rows; sonnet (the main model) gets the result's 1h cache writes (8288), the same-model
    # sub-agent's 18481 - 8288 = 10193 are 5m (check: 12*3 + 624*15 + 65110*0.3 + 8288*6 + 10193*3.75
    # = 116880.75 micro-USD = costUSD 0.11688075). Totals: 543+20 = 563; 12+624+65110+18481 = 84227.
    assert account.models == (
        ModelAccount(HAIKU_45, 543, 20, 0, 0, 0, 563, 643000, "reported"),
        ModelAccount(SONNET_46, 12, 624, 65110, 18481, 8288, 84227, 116880750, "reported"),
    )


def test_per_model_rows_of_an_explore_subagent_run() -> None:
    account = account_of(lines_of(transcript("v2.1.178-success-explore")), PriceTable.load())
    # haiku 573+134+7699+7824 = 16230, 0.011792900000000002 USD; sonnet 4+576+40618+7281 = 48479,
    # 1h 7281, 0.06452340000000001 USD.
    assert account.models == (
        ModelAccount(HAIKU_45, 573, 134, 7699, 7824, 0, 16230, 11792900, "reported"),
        ModelAccount(SONNET_46, 4, 576, 40618, 7281, 7281, 48479, 64523400, "reported"),
    )


def test_per_model_rows_of_a_run_that_died_on_a_network_error() -> None:
    account = account_of(lines_of(transcript("v2.1.72-error")), PriceTable.load())
    # haiku 16333+4920+234127+109423 = 364803, 0.20112445 USD; sonnet 6+6154+157738+57185 = 221083,
    # 1h 57185, 0.35409314999999997 USD.
    assert account.models == (
        ModelAccount(HAIKU_45, 16333, 4920, 234127, 109423, 0, 364803, 201124450, "reported"),
        ModelAccount(SONNET_46, 6, 6154, 157738, 57185, 57185, 221083, 354093150, "reported"),
    )


def test_per_model_rows_of_a_three_subagent_run() -> None:
    account = account_of(lines_of(transcript("v2.1.72-success")), PriceTable.load())
    # haiku 5216+16505+188305+229409 = 439435, 0.39333274999999995 USD; sonnet 5+6249+120087+36365 = 162706,
    # 1h 36365, 0.26614485 USD. The reported total 0.6594776 equals the sum (no drift).
    assert account.models == (
        ModelAccount(HAIKU_45, 5216, 16505, 188305, 229409, 0, 439435, 393332750, "reported"),
        ModelAccount(SONNET_46, 5, 6249, 120087, 36365, 36365, 162706, 266144850, "reported"),
    )
    assert account.reported_total_cost_nano_usd == 659477600


def test_a_model_with_no_tokens_and_no_cost_gets_no_row() -> None:
    account = account_of(lines_of(transcript("v2.0.22")), PriceTable.load())
    # modelUsage lists claude-haiku-4-5-20251001 with all-zero counters and costUSD 0.
    assert [row.model for row in account.models] == ["claude-sonnet-4-5-20250929"]


def test_an_idle_model_without_a_cost_leaves_the_cost_reported(prices: PriceTable) -> None:
    model_usage = {SONNET_46: {"inputTokens": 10, "costUSD": 0.00003}, HAIKU_45: {"inputTokens": 0}}
    account = account_of([result(total_cost_usd=0.00003, modelUsage=model_usage)], prices)
    # haiku used nothing and reported no cost: nothing to estimate. 0.00003 USD = 30000 nano.
    assert (account.cost_nano_usd, account.cost_source, account.price_table_version) == (
        30000,
        "reported",
        None,
    )
    assert [row.model for row in account.models] == [SONNET_46]


def test_a_result_without_model_usage_is_attributed_to_the_main_model() -> None:
    account = account_of(lines_of(transcript("v1.0.x")), PriceTable.load())
    # 1.0.x: only result.usage and total_cost_usd, attributed to the model of the assistant messages.
    assert account.models == (
        ModelAccount(
            "claude-sonnet-4-20250514", 193, 35620, 4940732, 118318, 0, 5094863, 2463793500, "reported"
        ),
    )


def test_the_result_fields_describe_the_run() -> None:
    account = account_of(lines_of(transcript("v2.1.178-success-general")), PriceTable.load())
    assert (account.num_turns, account.is_error, account.subtype, account.terminal_reason) == (
        3,
        False,
        "success",
        "completed",
    )
    assert account.model_requested == SONNET_46


# --- tools, files, commits, pull requests ---------------------------------------------------------------


def test_tool_calls_are_counted_by_name_in_a_long_run() -> None:
    account = account_of(lines_of(transcript("v1.0.x")), PriceTable.load())
    # Distinct tool_use ids per name in the file (53 tool_use blocks, 53 ids):
    # Bash 8, Edit 18, Grep 6, LS 1, Read 11, TodoWrite 7, Write 2.
    assert account.tool_calls == {
        "Bash": 8,
        "Edit": 18,
        "Grep": 6,
        "LS": 1,
        "Read": 11,
        "TodoWrite": 7,
        "Write": 2,
    }


def test_files_read_and_written_are_listed_once_in_first_seen_order() -> None:
    account = account_of(lines_of(transcript("v1.0.x")), PriceTable.load())
    root = "/Users/pmihaylov/prg/ccpg/cc1/ccbackend/"  # the recorded run's project directory
    # 11 Reads of 9 files (jobs_test.go and agents_test.go read twice); 2 Writes + 18 Edits of 6 files.
    assert [path.removeprefix(root) for path in account.files_read] == [
        "services/jobs.go",
        "services/slack_integrations/slack_integrations.go",
        "services/services.go",
        "services/jobs_test.go",
        "usecases/core.go",
        "cmd/main.go",
        "services/agents_test.go",
        "services/jobs/jobs.go",
        "db/jobs.go",
    ]
    assert [path.removeprefix(root) for path in account.files_written] == [
        "services/services.go",
        "services/jobs/jobs.go",
        "services/jobs/jobs_test.go",
        "usecases/core.go",
        "cmd/main.go",
        "services/agents_test.go",
    ]


def test_a_tool_use_seen_twice_is_counted_once_and_agent_and_task_count_apart(prices: PriceTable) -> None:
    usage = {"input_tokens": 1, "output_tokens": 1}
    agent = {"type": "tool_use", "id": "toolu_1", "name": "Agent", "input": {"prompt": "p"}}
    task = {"type": "tool_use", "id": "toolu_2", "name": "Task", "input": {"prompt": "p"}}
    notebook = {
        "type": "tool_use",
        "id": "toolu_3",
        "name": "NotebookEdit",
        "input": {"notebook_path": "a.ipynb"},
    }
    account = account_of(
        [
            assistant("msg_1", SONNET_46, usage, [agent]),
            assistant("msg_1", SONNET_46, usage, [agent]),  # the same block again
            assistant("msg_1", SONNET_46, usage, [task]),
            assistant("msg_2", HAIKU_45, usage, [notebook], parent="toolu_1"),
        ],
        prices,
    )
    assert account.tool_calls == {"Agent": 1, "Task": 1, "NotebookEdit": 1}
    assert account.files_written == ("a.ipynb",)


def test_commit_shas_are_read_from_git_commit_output_in_tool_results(prices: PriceTable) -> None:
    account = account_of(
        [
            tool_result("[main abc1234] Add the widget\n 2 files changed, 10 insertions(+)"),
            tool_result(
                [{"type": "text", "text": "x = [1, 2]\n[pilot/GH-1 (root-commit) 9f1c2ab0] Initial commit"}],
                tool_use_result={"stdout": "[main abc1234] Add the widget", "stderr": ""},
            ),
            tool_result("[detached HEAD 0123456789abcdef0123456789abcdef01234567] Fix"),
            tool_result("[main] not a commit\n[main zzzzzzz] not hex either"),
        ],
        prices,
    )
    assert account.commit_shas == ("abc1234", "9f1c2ab0", "0123456789abcdef0123456789abcdef01234567")


def test_a_commit_line_in_a_file_read_back_is_not_a_commit_of_the_run(prices: PriceTable) -> None:
    read = {"type": "tool_use", "id": "toolu_read", "name": "Read", "input": {"file_path": "NOTES.md"}}
    file_text = "[main 1234567] An old commit\nhttps://github.com/acme/widgets/pull/1"
    block = {"type": "tool_result", "tool_use_id": "toolu_read", "content": file_text}
    account = account_of(
        [
            assistant("msg_1", SONNET_46, {"input_tokens": 1}, [read]),
            event(type="user", message={"role": "user", "content": [block]}),
        ],
        prices,
    )
    assert (account.commit_shas, account.pr_url) == ((), None)


def test_the_pr_url_is_the_last_one_seen_in_tool_results_or_assistant_text(prices: PriceTable) -> None:
    text = {"type": "text", "text": "Opened https://github.com/acme/widgets/pull/13 for review."}
    account = account_of(
        [
            tool_result("https://github.com/acme/widgets/pull/12\n"),
            assistant("msg_1", SONNET_46, {"input_tokens": 1}, [text]),
            tool_result("see https://github.com/acme/widgets/issues/14"),  # an issue, not a PR
        ],
        prices,
    )
    assert account.pr_url == "https://github.com/acme/widgets/pull/13"


# --- no result event: the assistant lines, each message once, estimated ------------------------------------


def test_a_stream_without_result_is_accounted_from_its_messages_and_estimated(prices: PriceTable) -> None:
    lines = [
        line for line in lines_of(transcript("v2.1.178-success-explore")) if '"type":"result"' not in line
    ]
    account = account_of(lines, prices)
    # Three message ids (5 assistant lines): sonnet msg_01Qo 3/7/16945/6728 (all 1h), sonnet msg_01Sw
    # 1/1/23673/553 (1h), haiku sub-agent msg_019E 3/70/0/7699 (5m).
    # Tokens 7/78/40618/14980, 1h 6728+553 = 7281, total 55683.
    # Priced per message (USD per million: sonnet-4-6 3/15/0.30 read/6 1h; haiku-4-5 1/5/1.25 5m):
    #   msg_01Qo 3*3 + 7*15 + 16945*0.3 + 6728*6 = 45565.5 micro-USD = 45565500 nano
    #   msg_01Sw 1*3 + 1*15 + 23673*0.3 + 553*6   = 10437.9 micro-USD = 10437900 nano
    #   msg_019E 3*1 + 70*5 + 7699*1.25           =  9976.75 micro-USD = 9976750 nano
    # total 65980150 nano.
    assert (
        account.tokens_input,
        account.tokens_output,
        account.tokens_cache_read,
        account.tokens_cache_write,
        account.tokens_cache_write_1h,
        account.tokens_total,
    ) == (7, 78, 40618, 14980, 7281, 55683)
    assert (account.cost_nano_usd, account.cost_source) == (65980150, "estimated")
    assert (account.usage_complete, account.result_count, account.price_table_version) == (
        False,
        0,
        prices.version,
    )


def test_a_subagent_message_counts_under_its_own_model_without_a_result(prices: PriceTable) -> None:
    lines = [
        line for line in lines_of(transcript("v2.1.178-success-explore")) if '"type":"result"' not in line
    ]
    account = account_of(lines, prices)
    # The haiku message has parent_tool_use_id = the Agent call: 3/70/0/7699 (5m), 9976750 nano (see above);
    # sonnet 4/8/40618/7281 = 47911 tokens, 45565500 + 10437900 = 56003400 nano.
    assert account.models == (
        ModelAccount(HAIKU_45, 3, 70, 0, 7699, 0, 7772, 9976750, "estimated"),
        ModelAccount(SONNET_46, 4, 8, 40618, 7281, 7281, 47911, 56003400, "estimated"),
    )


def test_a_message_repeated_on_several_lines_counts_once_with_its_largest_output(prices: PriceTable) -> None:
    def line(output_tokens: int) -> str:
        usage = {"input_tokens": 10, "cache_read_input_tokens": 100, "output_tokens": output_tokens}
        return assistant("msg_dup", SONNET_46, usage)

    account = account_of([line(5), line(305), line(40)], prices)
    # Once: input 10, cache read 100, output max(5, 305, 40) = 305.
    assert (account.tokens_input, account.tokens_cache_read, account.tokens_output) == (10, 100, 305)


def test_the_last_line_of_a_message_gives_its_prompt_counts(prices: PriceTable) -> None:
    first = assistant("msg_1", SONNET_46, {"input_tokens": 10, "cache_read_input_tokens": 100})
    last = assistant("msg_1", SONNET_46, {"input_tokens": 12, "cache_read_input_tokens": 90})
    account = account_of([first, last], prices)
    assert (account.tokens_input, account.tokens_cache_read) == (12, 90)


def test_synthetic_error_messages_are_not_accounted(prices: PriceTable) -> None:
    lines = lines_of(transcript("v2.1.220-error"))[:-1]  # no result
    account = account_of(lines, prices)
    assert (account.models, account.tokens_total, account.cost_nano_usd) == ((), 0, 0)
    assert account.agent_error == "model_not_found"


def test_an_unknown_model_makes_the_cost_unknown(prices: PriceTable) -> None:
    account = account_of(
        [
            assistant("msg_1", SONNET_46, {"input_tokens": 1000}),
            assistant("msg_2", "claude-fable-9", {"input_tokens": 1000}),
        ],
        prices,
    )
    # sonnet-4-6 1000 input * $3/M = 3000000 nano; claude-fable-9 is not in the table.
    assert account.models == (
        ModelAccount("claude-fable-9", 1000, 0, 0, 0, 0, 1000, None, "unknown"),
        ModelAccount(SONNET_46, 1000, 0, 0, 0, 0, 1000, 3000000, "estimated"),
    )
    assert (account.cost_nano_usd, account.cost_source) == (None, "unknown")


def test_an_unknown_model_in_model_usage_without_cost_makes_the_cost_unknown(prices: PriceTable) -> None:
    model_usage = {
        SONNET_46: {"inputTokens": 10, "costUSD": 0.00003},
        "claude-fable-9": {"inputTokens": 10},
    }
    account = account_of([result(total_cost_usd=0.00003, modelUsage=model_usage)], prices)
    assert (account.cost_nano_usd, account.cost_source) == (None, "unknown")
    assert account.reported_total_cost_nano_usd == 30000


def test_bedrock_and_vertex_model_names_are_priced_as_their_anthropic_model(prices: PriceTable) -> None:
    usage = {"input_tokens": 1000, "output_tokens": 500}
    account = account_of(
        [
            assistant("msg_1", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", usage),
            assistant("msg_2", "claude-sonnet-4-5@20250929", usage),
        ],
        prices,
    )
    # claude-sonnet-4-5 at $3/M input, $15/M output: 1000*3 + 500*15 = 10500 micro-USD = 10500000 nano each.
    assert [(row.model, row.cost_nano_usd, row.cost_source) for row in account.models] == [
        ("claude-sonnet-4-5@20250929", 10500000, "estimated"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 10500000, "estimated"),
    ]


def test_each_response_is_priced_on_its_own_so_per_request_bands_apply(prices: PriceTable) -> None:
    usage = {"input_tokens": 60000}
    account = account_of(
        [assistant("msg_1", "claude-haiku-5-5", usage), assistant("msg_2", "claude-haiku-5-5", usage)],
        prices,
    )
    # Haiku 5.5: a request whose prompt exceeds 100000 tokens is priced at the long band. Each request
    # has 60000 < 100000: 60000 * $0.10/M = 6000000 nano, twice = 12000000 (their 120000 sum is not one
    # request).
    assert (account.cost_nano_usd, account.cost_source) == (12000000, "estimated")


# --- one-hour cache writes -----------------------------------------------------------------------------


def test_one_hour_cache_writes_are_priced_at_the_one_hour_rate(prices: PriceTable) -> None:
    one_hour = {"cache_creation_input_tokens": 1000, "cache_creation": {"ephemeral_1h_input_tokens": 1000}}
    five_minutes = {
        "cache_creation_input_tokens": 1000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000},
    }
    account = account_of(
        [assistant("msg_1", SONNET_46, one_hour), assistant("msg_2", SONNET_46, five_minutes)], prices
    )
    # sonnet-4-6: 1000 * $6/M (1h) + 1000 * $3.75/M (5m) = 6000 + 3750 micro-USD = 9750000 nano.
    assert (account.tokens_cache_write, account.tokens_cache_write_1h) == (2000, 1000)
    assert account.cost_nano_usd == 9750000


def test_the_result_s_one_hour_writes_go_to_the_main_model_when_estimating(prices: PriceTable) -> None:
    model_usage = {
        SONNET_46: {"inputTokens": 0, "cacheCreationInputTokens": 1000},
        HAIKU_45: {"inputTokens": 0, "cacheCreationInputTokens": 1000},
    }
    usage = {"cache_creation_input_tokens": 400, "cache_creation": {"ephemeral_1h_input_tokens": 400}}
    account = account_of(
        [
            assistant("msg_1", SONNET_46, {"input_tokens": 0}),  # makes sonnet the main model
            result(modelUsage=model_usage, usage=usage),
        ],
        prices,
    )
    # No costUSD: estimated. sonnet: 400 1h * $6/M + 600 5m * $3.75/M = 2400 + 2250 = 4650 micro-USD;
    # haiku: 1000 5m * $1.25/M = 1250 micro-USD. Total 5900000 nano.
    assert [(row.model, row.tokens_cache_write_1h, row.cost_nano_usd) for row in account.models] == [
        (HAIKU_45, 0, 1250000),
        (SONNET_46, 400, 4650000),
    ]
    assert (account.cost_nano_usd, account.cost_source) == (5900000, "estimated")


def test_a_per_model_one_hour_split_in_model_usage_is_used_as_given(prices: PriceTable) -> None:
    model_usage = {
        HAIKU_45: {
            "cacheCreationInputTokens": 1000,
            "cacheCreationEphemeral5mInputTokens": 700,
            "cacheCreationEphemeral1hInputTokens": 300,
        },
    }
    account = account_of([result(modelUsage=model_usage)], prices)
    # haiku-4-5: 300 * $2/M + 700 * $1.25/M = 600 + 875 = 1475 micro-USD.
    assert account.models == (ModelAccount(HAIKU_45, 0, 0, 0, 1000, 300, 1000, 1475000, "estimated"),)


# --- errors and odd streams -------------------------------------------------------------------------------


def test_a_model_not_found_error_is_accounted_as_zero_usage() -> None:
    account = account_of(lines_of(transcript("v2.1.220-error")), PriceTable.load())
    # modelUsage {}, all-zero usage, total_cost_usd 0; the init asked for "no-such-model".
    assert (account.models, account.tokens_total, account.cost_nano_usd, account.cost_source) == (
        (),
        0,
        0,
        "reported",
    )
    assert (account.is_error, account.subtype, account.terminal_reason) == (True, "success", "api_error")
    assert (account.agent_error, account.model_requested) == ("model_not_found", "no-such-model")


def test_a_usage_limit_result_is_an_error_though_its_subtype_says_success(prices: PriceTable) -> None:
    usage = {"input_tokens": 0, "output_tokens": 0}
    account = account_of(
        [
            result(
                is_error=True,
                result="Claude AI usage limit reached|1767225600",
                total_cost_usd=0,
                usage=usage,
                modelUsage={},
            )
        ],
        prices,
    )
    assert (account.is_error, account.subtype, account.cost_nano_usd) == (True, "success", 0)


def test_with_several_results_the_last_one_holds_the_totals(prices: PriceTable) -> None:
    first = result(
        num_turns=1, total_cost_usd=0.01, modelUsage={SONNET_46: {"inputTokens": 100, "costUSD": 0.01}}
    )
    last = result(
        num_turns=3,
        total_cost_usd=0.025,
        modelUsage={SONNET_46: {"inputTokens": 250, "outputTokens": 7, "costUSD": 0.025}},
    )
    account = account_of([first, last], prices)
    # Running totals: the second result restates the first turn; 0.025 USD = 25000000 nano.
    assert (account.tokens_input, account.tokens_output, account.cost_nano_usd) == (250, 7, 25000000)
    assert (account.result_count, account.num_turns) == (2, 3)


def test_a_total_that_drifts_from_the_model_costs_is_kept_beside_their_sum(prices: PriceTable) -> None:
    model_usage = {
        "claude-opus-4-7[1m]": {"inputTokens": 1, "costUSD": 1.3},
        HAIKU_45: {"inputTokens": 1, "costUSD": 0.1014955},
    }
    account = account_of([result(total_cost_usd=1.4020935, modelUsage=model_usage)], prices)
    # Sum of costUSD 1.3 + 0.1014955 = 1.4014955 USD; total_cost_usd says 1.4020935.
    assert (account.cost_nano_usd, account.reported_total_cost_nano_usd) == (1401495500, 1402093500)


def test_a_legacy_cost_usd_is_the_reported_cost(prices: PriceTable) -> None:
    usage = {"input_tokens": 10, "output_tokens": 20}
    account = account_of([assistant("msg_1", SONNET_46, usage), result(cost_usd=0.0123, usage=usage)], prices)
    # Mid-2025 results named the total cost_usd: 0.0123 USD = 12300000 nano, all on the main model.
    assert account.models == (ModelAccount(SONNET_46, 10, 20, 0, 0, 0, 30, 12300000, "reported"),)
    assert (account.cost_nano_usd, account.reported_total_cost_nano_usd) == (12300000, 12300000)


def test_costs_keep_the_decimal_digits_of_the_json_text(prices: PriceTable) -> None:
    text = '{"type":"result","is_error":false,"total_cost_usd":0.1000000005,"modelUsage":{}}'
    folder = StreamFolder()
    folder.feed({"type": "result", "is_error": False, "total_cost_usd": 0.1, "modelUsage": {}}, text)
    # 0.1000000005 USD = 100000000.5 nano, half-even -> 100000000; the decoded float is not consulted.
    assert folder.account(ON, prices).reported_total_cost_nano_usd == 100000000


def test_hostile_usage_values_are_ignored_and_counted(prices: PriceTable) -> None:
    model_usage = {
        SONNET_46: {
            "inputTokens": -5,
            "outputTokens": 1.5,
            "cacheReadInputTokens": "100",
            "cacheCreationInputTokens": float("nan"),
            "costUSD": 0.002,
        },
        HAIKU_45: {
            "inputTokens": 10**30,
            "outputTokens": True,
            "cacheReadInputTokens": None,
            "cacheCreationInputTokens": 7,
            "costUSD": -1,
        },
    }
    account = account_of([result(total_cost_usd=0.002, modelUsage=model_usage)], prices)
    # Ignored: sonnet's 4 counts; haiku's input, output, cache read and its negative costUSD: 8 in all.
    # haiku keeps 7 cache-write tokens, estimated 7 * $1.25/M = 8.75 micro-USD = 8750 nano;
    # sonnet keeps its reported 0.002 USD; total 2000000 + 8750 = 2008750 nano, estimated in part.
    assert account.malformed_usage == 8
    assert account.models == (
        ModelAccount(HAIKU_45, 0, 0, 0, 7, 0, 7, 8750, "estimated"),
        ModelAccount(SONNET_46, 0, 0, 0, 0, 0, 0, 2000000, "reported"),
    )
    assert (account.cost_nano_usd, account.cost_source) == (2008750, "estimated")


def test_hostile_message_usage_is_ignored_and_counted_once_per_message(prices: PriceTable) -> None:
    usage = {
        "input_tokens": "12",
        "output_tokens": -1,
        "cache_read_input_tokens": 10**16,
        "cache_creation_input_tokens": 4,
    }
    line = assistant("msg_1", SONNET_46, usage)
    account = account_of([line, line], prices)
    # One message (two lines): input, output and cache read are malformed: 3.
    # Cache write 4 * $3.75/M = 15000 nano.
    assert (account.malformed_usage, account.tokens_total, account.cost_nano_usd) == (3, 4, 15000)


_KEYS = st.sampled_from(
    [
        "type",
        "subtype",
        "message",
        "id",
        "model",
        "usage",
        "content",
        "name",
        "input",
        "text",
        "parent_tool_use_id",
        "error",
        "modelUsage",
        "total_cost_usd",
        "cost_usd",
        "costUSD",
        "is_error",
        "num_turns",
        "tool_use_result",
        "stdout",
        "input_tokens",
        "output_tokens",
        "cache_creation",
        "inputTokens",
        "cacheCreationInputTokens",
        "cacheCreationEphemeral1hInputTokens",
        "file_path",
        "ephemeral_1h_input_tokens",
        "cache_creation_input_tokens",
        SONNET_46,
        "<synthetic>",
    ]
)
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(
        ["assistant", "user", "result", "system", "init", "tool_use", "tool_result", "text", "Read"]
    )
    | st.text(max_size=12)
)
_VALUES = st.recursive(
    _LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=5),
    max_leaves=25,
)
_EVENTS = st.builds(
    lambda kind, fields: {**fields, "type": kind},
    st.sampled_from(["assistant", "user", "result", "system", "other"]),
    st.dictionaries(_KEYS, _VALUES, max_size=6),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_EVENTS, max_size=6))
def test_no_stream_content_makes_the_fold_raise(events: list[dict[str, Any]]) -> None:
    folder = StreamFolder()
    for raw in events:
        folder.feed(raw, json.dumps(raw))
    account = folder.account(ON, PriceTable.load())
    assert account.tokens_total >= 0 and account.malformed_usage >= 0


def test_feed_cost_per_line_compared_with_json_decoding(
    prices: PriceTable, capsys: pytest.CaptureFixture[str]
) -> None:
    """Measured, not asserted: the fold must stay cheap next to decoding the line it is given."""
    for path in (
        max(ALL_TRANSCRIPTS, key=lambda p: p.stat().st_size),
        max(ALL_TRANSCRIPTS, key=lambda p: len(lines_of(p))),
    ):
        texts = [text for text in lines_of(path) if text.strip()]
        decoded = [json.loads(text) for text in texts]
        rounds = 20
        start = time.perf_counter()
        for _ in range(rounds):
            for text in texts:
                json.loads(text)
        decode_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(rounds):
            folder = StreamFolder()
            for raw, text in zip(decoded, texts, strict=True):
                folder.feed(raw, text)
        feed_s = time.perf_counter() - start
        per_line_us = feed_s / (rounds * len(texts)) * 1e6
        with capsys.disabled():
            print(
                f"\n{path.name}: {len(texts)} lines, feed {per_line_us:.2f} us/line, "
                f"json.loads {decode_s / (rounds * len(texts)) * 1e6:.2f} us/line, "
                f"feed/json.loads = {feed_s / decode_s:.3f}"
            )
