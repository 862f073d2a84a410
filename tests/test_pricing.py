"""The price table and exact cost arithmetic, checked against Claude Code's own costs in real transcripts."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from conftest import ALL_TRANSCRIPTS, transcript
from pilot_metrics_plugin.pricing import (
    NANO_PER_USD,
    ModelPrice,
    PriceTable,
    TokenUsage,
    nano_to_usd,
    normalize_model,
    usd_to_nano,
)

CHECKED = date(2026, 11, 25)


def last_result(path: Path) -> dict[str, Any]:
    """The last ``result`` event of a transcript, with every JSON float kept as its decimal text."""
    results = [
        event
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
        for event in [json.loads(line, parse_float=str)]
        if event.get("type") == "result"
    ]
    return results[-1]


def model_usage(path: Path, model: str) -> tuple[TokenUsage, str]:
    """``modelUsage[model]`` of a transcript's last result as a ``TokenUsage``, and its costUSD text.

    ``modelUsage`` has no 5m/1h split before 2.1.328 and a 0/0 split in 2.1.328: all its cache writes
    are returned as 5-minute writes; callers that know better re-split them.
    """
    usage = last_result(path)["modelUsage"][model]
    return (
        TokenUsage(
            input=usage["inputTokens"],
            output=usage["outputTokens"],
            cache_read=usage["cacheReadInputTokens"],
            cache_write_5m=usage["cacheCreationInputTokens"],
        ),
        usage["costUSD"],
    )


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


# --- Claude Code's own costs are reproduced to the nano-dollar ----------------------------------


def test_opus_5_5_prices_reproduce_claude_code_2_1_328_cost_to_the_nano_dollar(table: PriceTable) -> None:
    path = transcript("v2.1.328-success-bash-tool-loopback-api")
    result = last_result(path)
    usage = result["modelUsage"]["claude-opus-5-5"]
    # The numbers in the file, written down so a change to the fixture cannot pass silently.
    assert (usage["inputTokens"], usage["outputTokens"]) == (2003, 83)
    assert (usage["cacheReadInputTokens"], usage["cacheCreationInputTokens"]) == (15000, 4000)
    split = (usage["cacheCreationEphemeral5mInputTokens"], usage["cacheCreationEphemeral1hInputTokens"])
    assert split == (0, 0)
    assert usage["costUSD"] == "0.03267200000000001"
    # The 5m/1h split is 0/0, so the 4000 cache writes are priced as 5-minute writes.
    tokens = TokenUsage(input=2003, output=83, cache_read=15000, cache_write_5m=4000)

    cost_nano = table.estimate_nano("claude-opus-5-5", CHECKED, tokens)

    # Opus 5.5 = $4 / $20 / $5 (5m write) / $0.20 (read) per M = 4000 / 20000 / 5000 / 200 nano per token:
    # 2003*4000 + 83*20000 + 4000*5000 + 15000*200 = 8_012_000 + 1_660_000 + 20_000_000 + 3_000_000
    assert cost_nano == 32_672_000
    assert cost_nano == usd_to_nano(usage["costUSD"])
    assert cost_nano == usd_to_nano(result["total_cost_usd"])


@pytest.mark.parametrize(
    ("prefix", "model", "cache_write_1h", "expected_nano"),
    [
        # Sonnet 4.5, main thread wrote 5m cache (usage.cache_creation: 5m 14512, 1h 0); 3/15/3.75/0.30 $/M:
        # 48*3000 + 4371*15000 + 750196*300 + 14512*3750 = 144_000 + 65_565_000 + 225_058_800 + 54_420_000
        ("v2.0.22-", "claude-sonnet-4-5-20250929", False, 345_187_800),
        # Sonnet 4.6, main thread wrote only 1h cache (usage.cache_creation: 1h 7281); 3/15/6/0.30 $/M:
        # 4*3000 + 576*15000 + 40618*300 + 7281*6000 = 12_000 + 8_640_000 + 12_185_400 + 43_686_000
        ("v2.1.178-success-explore", "claude-sonnet-4-6", True, 64_523_400),
        # Haiku 4.5 Explore sub-agent, which writes 5m cache; 1/5/1.25/0.10 $/M:
        # 573*1000 + 134*5000 + 7699*100 + 7824*1250 = 573_000 + 670_000 + 769_900 + 9_780_000
        ("v2.1.178-success-explore", "claude-haiku-4-5-20251001", False, 11_792_900),
        # Haiku 4.5 background call, no cache: 543*1000 + 20*5000 = 543_000 + 100_000
        ("v2.1.178-success-general", "claude-haiku-4-5-20251001", False, 643_000),
    ],
)
def test_shipped_prices_reproduce_claude_codes_per_model_cost_in_real_transcripts(
    table: PriceTable, prefix: str, model: str, cache_write_1h: bool, expected_nano: int
) -> None:
    tokens, cost_usd_text = model_usage(transcript(prefix), model)
    if cache_write_1h:
        tokens = TokenUsage(
            input=tokens.input,
            output=tokens.output,
            cache_read=tokens.cache_read,
            cache_write_1h=tokens.cache_write_5m,
        )

    cost_nano = table.estimate_nano(model, CHECKED, tokens)

    assert cost_nano == expected_nano
    assert cost_nano == usd_to_nano(cost_usd_text)


# --- dollars <-> nano-dollars ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected_nano"),
    [
        # Every distinct costUSD / total_cost_usd text in the recorded transcripts (grep -o '"costUSD":…').
        ("0.011792900000000002", 11_792_900),  # float noise after the 9th decimal is dropped
        ("0.03267200000000001", 32_672_000),
        ("0.054201000000000006", 54_201_000),
        ("0.06452340000000001", 64_523_400),
        ("0.11543595000000001", 115_435_950),
        ("0.11688075", 116_880_750),
        ("0.20112445", 201_124_450),
        ("0.26614485", 266_144_850),
        ("0.3451878", 345_187_800),
        ("0.35409314999999997", 354_093_150),  # 354_093_149.99999997 rounds up
        ("0.39333274999999995", 393_332_750),  # 393_332_749.99999995 rounds up
        ("0.000643", 643_000),
        ("0.0763163", 76_316_300),
        ("0.11752375000000001", 117_523_750),
        ("0.5552176", 555_217_600),
        ("0.6594776", 659_477_600),
        ("2.4637934999999995", 2_463_793_500),  # 2_463_793_499.9999995 rounds up
    ],
)
def test_claude_code_cost_texts_convert_to_exact_nano_dollars(text: str, expected_nano: int) -> None:
    assert usd_to_nano(text) == expected_nano


def test_every_cost_text_in_the_recorded_transcripts_is_in_the_conversion_table() -> None:
    texts = {
        match
        for path in ALL_TRANSCRIPTS
        for match in re.findall(r'"(?:costUSD|total_cost_usd)":([0-9.eE+-]+)', path.read_text("utf-8"))
    }
    # The ones listed above, plus the integer 0 of an API error run.
    listed = {
        "0.011792900000000002", "0.03267200000000001", "0.054201000000000006", "0.06452340000000001",
        "0.11543595000000001", "0.11688075", "0.20112445", "0.26614485", "0.3451878",
        "0.35409314999999997", "0.39333274999999995", "0.000643", "0.0763163", "0.11752375000000001",
        "0.5552176", "0.6594776", "2.4637934999999995", "0",
    }  # fmt: skip
    assert texts == listed


@pytest.mark.parametrize(
    "path",
    [path for path in ALL_TRANSCRIPTS if "modelUsage" in path.read_text("utf-8")],
    ids=lambda path: path.name[:30],
)
def test_per_model_costs_in_nano_dollars_add_up_exactly_to_the_reported_total(path: Path) -> None:
    result = last_result(path)
    per_model_nano = [usd_to_nano(usage["costUSD"]) for usage in result["modelUsage"].values()]
    assert sum(per_model_nano) == usd_to_nano(result["total_cost_usd"])


@pytest.mark.parametrize(
    ("value", "expected_nano"),
    [
        ("0.0000000005", 0),  # exactly half a nano-dollar: to the even neighbour, 0
        ("0.0000000015", 2),  # 1.5 -> 2 (even)
        ("0.0000000025", 2),  # 2.5 -> 2 (even)
        ("0.00000000250000001", 3),  # just above half: up
        ("0.00000000349999999", 3),  # just below half: down
        ("1e-9", 1),
        ("2.5E-7", 250),
        (" 0.5 ", 500_000_000),  # surrounding whitespace of a JSON token is ignored
        (0, 0),
        (3, 3_000_000_000),
        (0.1, 100_000_000),  # a float is read as its repr, "0.1", not as 0.1000000000000000055…
        (Decimal("0.032672"), 32_672_000),
    ],
)
def test_usd_to_nano_rounds_half_even_at_the_tenth_decimal_and_accepts_every_numeric_form(
    value: object, expected_nano: int
) -> None:
    assert usd_to_nano(value) == expected_nano  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        *("NaN", float("nan"), float("inf"), "Infinity", Decimal("NaN")),
        *(-1, "-1", "-0.5"),
        *(True, False, "abc", "", None, "1_000", "0x10"),
    ],
)
def test_usd_to_nano_rejects_what_is_not_a_finite_non_negative_amount(value: object) -> None:
    with pytest.raises(ValueError):
        usd_to_nano(value)  # type: ignore[arg-type]


def test_nano_to_usd_is_exact_with_nine_decimals() -> None:
    assert nano_to_usd(32_672_000) == Decimal("0.032672000")
    assert str(nano_to_usd(32_672_000)) == "0.032672000"
    assert str(nano_to_usd(2_463_793_500)) == "2.463793500"


def test_a_nano_dollar_amount_survives_the_round_trip_through_dollars() -> None:
    # 123_456_789_012_345_678_901 nano-dollars has 21 digits, beyond a float's 17: still exact.
    for nano in (0, 1, 643_000, 32_672_000, NANO_PER_USD, 123_456_789_012_345_678_901):
        assert usd_to_nano(nano_to_usd(nano)) == nano


# --- model names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("claude-opus-5-5", "claude-opus-5-5"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),  # date snapshot
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-opus-4-7[1m]", "claude-opus-4-7"),  # Claude Code context suffix
        ("claude-opus-5[1M]", "claude-opus-5"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),  # old-style names keep their own family
        ("claude-3-haiku-20240307", "claude-3-haiku"),
        ("us.anthropic.claude-opus-4-6-v1", "claude-opus-4-6"),  # Bedrock cross-region profile
        ("anthropic.claude-opus-4-6-v1:0", "claude-opus-4-6"),  # Bedrock model id
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),  # Vertex
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
        ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"),  # LiteLLM
        ("bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"),
        ("anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),  # OpenRouter writes versions with dots
        ("openrouter/anthropic/claude-3.7-sonnet:thinking", "claude-3-7-sonnet"),
        ("claude-opus-4-0", "claude-opus-4"),  # Anthropic's alias of claude-opus-4-20250514
        ("Claude-Opus-4-6", "claude-opus-4-6"),  # mixed case
        ("  CLAUDE-SONNET-5  ", "claude-sonnet-5"),
        ("no-such-model", "no-such-model"),  # unknown models are normalized too
        ("<synthetic>", None),  # Claude Code's placeholder for an error message: no model
        ("<SYNTHETIC>", None),
        ("", None),
        (None, None),
    ],
)
def test_model_names_from_every_provider_normalize_to_their_price_family(
    name: str | None, family: str | None
) -> None:
    assert normalize_model(name) == family


def test_every_model_name_in_the_recorded_transcripts_has_a_price_or_is_no_model(table: PriceTable) -> None:
    names = {
        match
        for path in ALL_TRANSCRIPTS
        for match in re.findall(r'"model":"([^"]*)"', path.read_text("utf-8"))
    }
    unpriced = {
        name for name in names if normalize_model(name) is not None and table.lookup(name, CHECKED) is None
    }
    # The only one is the bogus --model of the 404 run.
    assert unpriced == {"no-such-model"}


# --- the shipped table -------------------------------------------------------------------------

# Section 4 of the peers research, typed in a second time: $ per million tokens,
# (input, output, 5m write, 1h write, cache read).
PUBLISHED = {
    "claude-fable-5-2": ("8", "40", "10", "16", "0.20"),
    "claude-fable-5-1": ("10", "50", "12.50", "20", "0.25"),
    "claude-mythos-5-1": ("10", "50", "12.50", "20", "0.25"),
    "claude-fable-5": ("10", "50", "12.50", "20", "1"),
    "claude-mythos-5": ("10", "50", "12.50", "20", "1"),
    "claude-opus-5-5": ("4", "20", "5", "8", "0.20"),
    "claude-opus-5": ("5", "25", "6.25", "10", "0.50"),
    "claude-opus-4-8": ("5", "25", "6.25", "10", "0.50"),
    "claude-opus-4-7": ("5", "25", "6.25", "10", "0.50"),
    "claude-opus-4-6": ("5", "25", "6.25", "10", "0.50"),
    "claude-opus-4-5": ("5", "25", "6.25", "10", "0.50"),
    "claude-opus-4-1": ("15", "75", "18.75", "30", "1.50"),
    "claude-opus-4": ("15", "75", "18.75", "30", "1.50"),
    "claude-sonnet-5-5": ("2", "10", "2.50", "4", "0.10"),  # from 2026-10-07
    "claude-sonnet-5": ("2", "10", "2.50", "4", "0.20"),
    "claude-sonnet-4-6": ("3", "15", "3.75", "6", "0.30"),
    "claude-sonnet-4-5": ("3", "15", "3.75", "6", "0.30"),
    "claude-sonnet-4": ("3", "15", "3.75", "6", "0.30"),
    "claude-3-7-sonnet": ("3", "15", "3.75", "6", "0.30"),
    "claude-3-5-sonnet": ("3", "15", "3.75", "6", "0.30"),
    "claude-haiku-5-5": ("0.10", "0.50", "0.125", "0.20", "0.01"),  # prompt <= 100k
    "claude-haiku-4-5": ("1", "5", "1.25", "2", "0.10"),
    "claude-3-5-haiku": ("0.80", "4", "1", "1.60", "0.08"),
    "claude-3-haiku": ("0.25", "1.25", "0.30", "0.50", "0.03"),
}


def test_the_shipped_table_prices_exactly_the_published_models(table: PriceTable) -> None:
    assert table.models() == sorted(PUBLISHED)


@pytest.mark.parametrize("family", sorted(PUBLISHED))
def test_the_shipped_table_holds_the_published_price_of_each_model(table: PriceTable, family: str) -> None:
    price = table.lookup(family, CHECKED)
    assert price is not None
    # $ per million tokens x 1000 = nano-dollars per token
    expected = tuple(int(Decimal(usd) * 1000) for usd in PUBLISHED[family])
    actual = (price.input, price.output, price.cache_write_5m, price.cache_write_1h, price.cache_read)
    assert actual == expected


def test_the_shipped_table_records_when_it_was_checked_and_its_version(table: PriceTable) -> None:
    assert table.checked == date(2026, 11, 25)
    assert table.version == "2026-11-25.1"


def test_the_shipped_table_is_parsed_once_per_process() -> None:
    assert PriceTable.load() is PriceTable.load()


def test_haiku_3_cache_writes_cost_the_published_0_30_not_1_25_times_input(table: PriceTable) -> None:
    # Haiku 3 input is $0.25/M; a 1.25x multiplier would give $0.3125/M, the published price is $0.30/M.
    cost_nano = table.estimate_nano("claude-3-haiku-20240307", CHECKED, TokenUsage(cache_write_5m=1_000_000))
    assert cost_nano == 300_000_000  # 1_000_000 * 300 nano


def test_one_hour_cache_writes_are_priced_at_the_one_hour_rate(table: PriceTable) -> None:
    # Opus 4.6: 5m write $6.25/M, 1h write $10/M -> 1_000 tokens of each cost 6_250_000 and 10_000_000 nano.
    five_minutes = table.estimate_nano("claude-opus-4-6", CHECKED, TokenUsage(cache_write_5m=1_000))
    one_hour = table.estimate_nano("claude-opus-4-6", CHECKED, TokenUsage(cache_write_1h=1_000))
    assert (five_minutes, one_hour) == (6_250_000, 10_000_000)


# --- dated rows --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "cache_read_nano"),
    [
        (date(2026, 9, 28), 200),  # launch: $0.20/M
        (date(2026, 10, 6), 200),  # last day before the cut
        (date(2026, 10, 7), 100),  # the cut to $0.10/M takes effect
        (date(2026, 11, 25), 100),
        (date(2026, 1, 1), 200),  # before the first row: the first row
        (datetime(2026, 10, 7, 0, 0, 1, tzinfo=timezone.utc), 100),  # a datetime counts by its date
    ],
)
def test_sonnet_5_5_cache_reads_cost_0_20_before_2026_10_07_and_0_10_from_then(
    table: PriceTable, on: date, cache_read_nano: int
) -> None:
    price = table.lookup("claude-sonnet-5-5", on)
    assert price is not None
    assert price.cache_read == cache_read_nano
    # 1_000_000 cache-read tokens: $0.20 or $0.10
    cost_nano = table.estimate_nano("claude-sonnet-5-5", on, TokenUsage(cache_read=1_000_000))
    assert cost_nano == cache_read_nano * 1_000_000


# --- Haiku 5.5's per-request band --------------------------------------------------------------

HAIKU_5_5 = "claude-haiku-5-5"
LAUNCHED = date(2026, 10, 7)
# A prompt of exactly 100_000 tokens: 40_000 input + 50_000 cache read + 6_000 5m write + 4_000 1h write.
AT_THRESHOLD = TokenUsage(
    input=40_000, output=1_000, cache_read=50_000, cache_write_5m=6_000, cache_write_1h=4_000
)
ONE_OVER = TokenUsage(
    input=40_001, output=1_000, cache_read=50_000, cache_write_5m=6_000, cache_write_1h=4_000
)


def test_a_haiku_5_5_request_with_a_100_000_token_prompt_is_priced_at_the_low_band(table: PriceTable) -> None:
    assert AT_THRESHOLD.prompt == 100_000
    # low band 0.10 / 0.50 / 0.125 / 0.20 / 0.01 $/M = 100 / 500 / 125 / 200 / 10 nano per token:
    # 40_000*100 + 1_000*500 + 50_000*10 + 6_000*125 + 4_000*200
    # = 4_000_000 + 500_000 + 500_000 + 750_000 + 800_000 = 6_550_000
    assert table.estimate_nano(HAIKU_5_5, LAUNCHED, AT_THRESHOLD, single_request=True) == 6_550_000


def test_a_haiku_5_5_request_with_a_100_001_token_prompt_is_priced_entirely_at_the_high_band(
    table: PriceTable,
) -> None:
    assert ONE_OVER.prompt == 100_001
    # high band 0.50 / 2.50 / 0.625 / 1.00 / 0.05 $/M = 500 / 2500 / 625 / 1000 / 50 nano per token,
    # output included: 40_001*500 + 1_000*2500 + 50_000*50 + 6_000*625 + 4_000*1000
    # = 20_000_500 + 2_500_000 + 2_500_000 + 3_750_000 + 4_000_000 = 32_750_500
    assert table.estimate_nano(HAIKU_5_5, LAUNCHED, ONE_OVER, single_request=True) == 32_750_500


def test_a_sum_of_haiku_5_5_requests_above_the_threshold_has_no_knowable_cost(table: PriceTable) -> None:
    # Two requests of 60_000 prompt tokens each, or one of 120_000: the sum cannot tell which.
    two_requests = TokenUsage(input=60_000) + TokenUsage(input=60_000)
    assert table.estimate_nano(HAIKU_5_5, LAUNCHED, two_requests) is None
    assert table.estimate_nano(HAIKU_5_5, LAUNCHED, ONE_OVER) is None


def test_a_sum_of_haiku_5_5_requests_within_the_threshold_is_priced_exactly_at_the_low_band(
    table: PriceTable,
) -> None:
    # Every request of a sum of 100_000 prompt tokens was under the threshold too: same 6_550_000 as above.
    assert table.estimate_nano(HAIKU_5_5, LAUNCHED, AT_THRESHOLD, single_request=False) == 6_550_000


def test_models_without_a_band_price_sums_of_requests_of_any_size(table: PriceTable) -> None:
    # Haiku 4.5 has no band: 1_000_000 input tokens in one sum cost 1_000_000 * 1000 nano = $1.
    assert table.estimate_nano("claude-haiku-4-5", CHECKED, TokenUsage(input=1_000_000)) == NANO_PER_USD


# --- unknown models ----------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["no-such-model", "gpt-4o", "claude-opus-9", "<synthetic>", "", None])
def test_an_unknown_model_or_no_model_has_no_price_and_no_cost(table: PriceTable, model: str | None) -> None:
    assert table.lookup(model, CHECKED) is None
    assert table.estimate_nano(model, CHECKED, TokenUsage(input=10, output=10)) is None


# --- user overrides ----------------------------------------------------------------------------

PROXY_PRICES = {
    "input": "1.5",
    "output": "7.5",
    "cache_write_5m": "1.875",
    "cache_write_1h": "3",
    "cache_read": "0.15",
}


def test_an_override_adds_a_model_the_table_did_not_know() -> None:
    table = PriceTable.load({"my-proxy/Team-Model-20260101": PROXY_PRICES})
    # 1_000 input * 1500 + 100 output * 7500 + 2_000 read * 150 = 1_500_000 + 750_000 + 300_000
    usage = TokenUsage(input=1_000, output=100, cache_read=2_000)
    assert table.estimate_nano("team-model", CHECKED, usage) == 2_550_000
    assert "team-model" in table.models()
    assert "team-model" not in PriceTable.load().models()  # the shipped table is untouched


def test_an_override_accepts_prices_as_numbers_as_well_as_strings() -> None:
    numbers = {"input": 1.5, "output": 7.5, "cache_write_5m": 1.875, "cache_write_1h": 3, "cache_read": 0.15}
    as_numbers = PriceTable.load({"team-model": numbers})
    as_strings = PriceTable.load({"team-model": PROXY_PRICES})
    assert as_numbers.lookup("team-model", CHECKED) == as_strings.lookup("team-model", CHECKED)
    assert as_numbers.version == as_strings.version


def test_an_override_without_a_date_amends_every_row_of_a_known_model() -> None:
    table = PriceTable.load({"claude-sonnet-5-5": {"input": "2.5"}})
    before_cut = table.lookup("claude-sonnet-5-5", date(2026, 10, 1))
    after_cut = table.lookup("claude-sonnet-5-5", date(2026, 10, 7))
    assert before_cut is not None and after_cut is not None
    assert (before_cut.input, after_cut.input) == (2500, 2500)
    assert (before_cut.cache_read, after_cut.cache_read) == (200, 100)  # the dated cut is kept


def test_an_override_with_a_date_adds_a_price_row_from_that_date() -> None:
    # As if the cancelled Sonnet 5 rise to $3/$15 on 2026-09-01 had happened.
    rise = {"effective_from": "2026-09-01", "input": "3", "output": "15"}
    table = PriceTable.load({"claude-sonnet-5": rise})
    before = table.lookup("claude-sonnet-5", date(2026, 8, 31))
    after = table.lookup("claude-sonnet-5", date(2026, 9, 1))
    assert before is not None and after is not None
    assert (before.input, before.output) == (2000, 10000)
    assert (after.input, after.output, after.cache_read) == (3000, 15000, 200)  # cache read as before


def test_an_override_changes_the_table_version_by_a_hash_of_the_overrides() -> None:
    shipped = PriceTable.load()
    once = PriceTable.load({"claude-opus-5-5": {"cache_read": "0.2"}})
    again = PriceTable.load({"claude-opus-5-5": {"cache_read": "0.20"}})  # same price, other spelling
    other = PriceTable.load({"claude-opus-5-5": {"cache_read": "0.10"}})
    assert once.version.startswith(shipped.version + "+")
    assert once.version == again.version
    assert once.version != other.version


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"input": "0.0001"}, "input"),  # 0.1 nano-dollar per token
        ({"output": "-1"}, "output"),
        ({"cache_read": "abc"}, "cache_read"),
        ({"cache_write_1h": True}, "cache_write_1h"),
        ({"cache_write_5m": float("nan")}, "cache_write_5m"),
        ({"input": "1", "cached_input": "1"}, "cached_input"),  # unknown key
        ({"input": "1", "effective_from": "next week"}, "effective_from"),
    ],
)
def test_a_bad_override_is_refused_naming_the_model_and_the_key(
    override: dict[str, object], key: str
) -> None:
    with pytest.raises(ValueError, match=rf'"claude-opus-5-5".*"{key}"'):
        PriceTable.load({"claude-opus-5-5": override})


def test_an_override_adding_a_model_must_give_all_five_prices() -> None:
    with pytest.raises(ValueError, match=r'"team-model".*"cache_read"'):
        PriceTable.load({"team-model": {k: v for k, v in PROXY_PRICES.items() if k != "cache_read"}})


# --- the table file's own checks ---------------------------------------------------------------

ROW = """
version = "test"
checked = 2026-11-25
[[price]]
model = "claude-test-1"
effective_from = 2026-01-01
input = "{input}"
output = "5"
cache_write_5m = "1.25"
cache_write_1h = "2"
cache_read = "0.10"
"""


def test_a_table_file_with_a_price_that_is_not_whole_nano_dollars_per_token_is_refused() -> None:
    with pytest.raises(ValueError, match=r'"claude-test-1".*"input"'):
        PriceTable.from_toml(ROW.format(input="0.0005"))


def test_a_table_file_price_of_one_nano_dollar_per_token_is_accepted() -> None:
    price = PriceTable.from_toml(ROW.format(input="0.001")).lookup("claude-test-1", CHECKED)
    assert price is not None and price.input == 1


def test_a_model_price_rejects_a_band_without_its_threshold() -> None:
    band = ModelPrice("claude-test-1", CHECKED, 1, 1, 1, 1, 1)
    with pytest.raises(ValueError):
        ModelPrice("claude-test-1", CHECKED, 1, 1, 1, 1, 1, long_prompt=band)


def test_token_usage_adds_up_and_counts_its_prompt() -> None:
    total = TokenUsage(input=1, output=2, cache_read=3, cache_write_5m=4) + TokenUsage(cache_write_1h=5)
    assert (total.cache_write, total.prompt, total.total) == (9, 13, 15)  # 4+5 ; 1+3+9 ; 13+2


def test_token_usage_refuses_negative_or_fractional_counts() -> None:
    with pytest.raises(ValueError):
        TokenUsage(input=-1)
    with pytest.raises(ValueError):
        TokenUsage(output=1.5)  # type: ignore[arg-type]
