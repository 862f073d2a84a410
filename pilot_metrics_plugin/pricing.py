"""Token prices and exact cost arithmetic.

Owns the shipped price table (``prices.toml``), the user's price overrides, model-name normalization
and the cost of a token count in integer nano-dollars (10^-9 USD). Money never passes through a
float: amounts are read from their decimal text, a cost is ``tokens x nano-dollars per token``, and a
cost that cannot be known is ``None``, never a guess.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import functools
import hashlib
import json
import re
import sys
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

NANO_PER_USD: int = 10**9

# $1 per million tokens = 10^9 nano-dollars / 10^6 tokens = 1000 nano-dollars per token.
_NANO_PER_TOKEN_PER_USD_PER_MTOK = 1000

PRICE_KEYS: tuple[str, ...] = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
"""The five per-token prices of a row, in the order a reader expects them."""

_OVERRIDE_KEYS = frozenset(PRICE_KEYS) | {"effective_from"}
_ROW_KEYS = frozenset(PRICE_KEYS) | {
    "model",
    "effective_from",
    "source",
    "long_prompt_threshold",
    "long_prompt",
}
_TABLE_KEYS = frozenset({"version", "checked", "price"})

# Amounts are bounded so that absurd exponents ("1e999999999") cannot make giant integers.
_MAX_USD_EXPONENT = 18
# Enough precision for any bounded amount quantized to 10^-9: 19 + 9 digits, with room to spare.
_EXACT = decimal.Context(
    prec=60,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
_ONE_NANO = decimal.Decimal("1e-9")
# The decimal text of a JSON number (plus an optional leading '+'): no NaN, no '_', no hex.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

_shipped_table: PriceTable | None = None
"""The parsed shipped table, cached on first ``PriceTable.load()``: loading is per process, not per event."""


# --- money -------------------------------------------------------------------------------------


def _to_decimal(value: object) -> decimal.Decimal:
    """A finite, non-negative amount from decimal text, an int, a float (via ``repr``) or a Decimal."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not an amount")
    if isinstance(value, int):
        amount = decimal.Decimal(value)
    elif isinstance(value, decimal.Decimal):
        amount = value
    elif isinstance(value, (float, str)):
        # repr() of a float is the shortest text that reads back as it: the JSON number as written.
        text = repr(value) if isinstance(value, float) else value.strip()
        if not _DECIMAL_TEXT.fullmatch(text):
            raise ValueError(f"{value!r} is not a decimal number")
        amount = decimal.Decimal(text)
    else:
        raise ValueError(f"{value!r} is not a number")
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not a finite amount")
    if amount < 0:
        raise ValueError(f"{value!r} is negative")
    if amount and amount.adjusted() >= _MAX_USD_EXPONENT:
        raise ValueError(f"{value!r} is implausibly large")
    return amount


def usd_to_nano(value: str | int | float | decimal.Decimal) -> int:
    """Exact nano-dollars from the decimal text of a JSON number (a float goes through ``repr()``).

    Rounded half-even to the nearest nano-dollar, in one step from the full text, so
    ``"0.03267200000000001"`` (Claude Code's float sum) is 32_672_000. Raises ``ValueError`` for NaN,
    infinities, negatives and non-numbers (``bool`` included).
    """
    amount = _to_decimal(value)
    try:
        rounded = amount.quantize(_ONE_NANO, context=_EXACT)
        return int(_EXACT.multiply(rounded, decimal.Decimal(NANO_PER_USD)))
    except decimal.DecimalException as error:  # pragma: no cover - bounded above; defensive
        raise ValueError(f"{value!r} cannot be converted exactly: {error!r}") from error


def nano_to_usd(nano: int) -> decimal.Decimal:
    """Exact dollars of a nano-dollar count, with nine decimals: 32_672_000 -> ``Decimal("0.032672000")``."""
    if isinstance(nano, bool) or not isinstance(nano, int):
        raise TypeError(f"nano-dollars must be an int, not {type(nano).__name__}")
    digits = tuple(int(digit) for digit in str(abs(nano)))
    return decimal.Decimal((1 if nano < 0 else 0, digits, -9))


def _price_nano_per_token(value: object) -> int:
    """Nano-dollars per token from dollars per million tokens; only exact (whole) results are accepted."""
    per_mtok = _to_decimal(value)
    nano = _EXACT.multiply(per_mtok, decimal.Decimal(_NANO_PER_TOKEN_PER_USD_PER_MTOK))
    if nano != nano.to_integral_value(context=_EXACT):
        raise ValueError(
            f"{value!r} $/M tokens is not a whole number of nano-dollars per token "
            "(prices must be multiples of $0.001 per million tokens)"
        )
    return int(nano)


# --- model names -------------------------------------------------------------------------------

# Suffixes that name a snapshot, a provider revision or a context window, not a price family.
_NAME_SUFFIX = re.compile(r"(?:\[[^\]]*\]|-latest|-v\d+|-\d{8})$")
# 'claude-opus-4-0' and 'claude-sonnet-4-0' are Anthropic's aliases of 'claude-opus-4' / 'claude-sonnet-4'.
_MINOR_ZERO = re.compile(r"^(claude-[a-z]+-\d+)-0$")
_DOT_BETWEEN_DIGITS = re.compile(r"(?<=\d)\.(?=\d)")


@functools.lru_cache(maxsize=512)
def normalize_model(name: str | None) -> str | None:
    """The price-table family id of a model name as it appears in streams; ``None`` for no model.

    ``None``, ``""`` and ``"<synthetic>"`` (Claude Code's error placeholder) are no model. Strips
    provider prefixes and suffixes: Bedrock (``us.anthropic.claude-opus-4-6-v1``,
    ``anthropic.claude-opus-4-6-v1:0``), Vertex (``claude-sonnet-4-5@20250929``), gateway prefixes
    (``anthropic/claude-sonnet-4-5``, OpenRouter's dotted ``claude-sonnet-4.5``), date snapshots
    (``-20250929``), context windows (``[1m]``) and ``-latest``; lower-cases. Old-style names keep
    their own family (``claude-3-5-haiku-20241022`` -> ``claude-3-5-haiku``). Unknown models are
    normalized the same way; the caller then finds no price.
    """
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"a model name must be a string, not {type(name).__name__}")
    family = name.strip().lower()
    if family in ("", "<synthetic>"):
        return None
    family = family.rsplit("/", 1)[-1]  # 'anthropic/…', 'bedrock/…', an ARN's '…/inference-profile/…'
    family = family.split("@", 1)[0]  # Vertex '@20250929'
    if "anthropic." in family:  # Bedrock 'us.anthropic.…', 'global.anthropic.…', 'anthropic.…'
        family = family.rsplit("anthropic.", 1)[1]
    family = family.split(":", 1)[0]  # Bedrock ':0', OpenRouter ':beta' / ':thinking'
    family = _DOT_BETWEEN_DIGITS.sub("-", family)  # 'claude-3.5-sonnet' -> 'claude-3-5-sonnet'
    while (stripped := _NAME_SUFFIX.sub("", family)) != family:
        family = stripped
    family = _MINOR_ZERO.sub(r"\1", family)
    return family or None


# --- usage and prices --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one request, or a sum of requests (then say so: ``single_request=False``)."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0

    def __post_init__(self) -> None:
        for key, count in (
            ("input", self.input),
            ("output", self.output),
            ("cache_read", self.cache_read),
            ("cache_write_5m", self.cache_write_5m),
            ("cache_write_1h", self.cache_write_1h),
        ):
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"token count {key} must be a non-negative int, not {count!r}")

    @property
    def cache_write(self) -> int:
        """Cache writes of both lifetimes."""
        return self.cache_write_5m + self.cache_write_1h

    @property
    def prompt(self) -> int:
        """Everything the model read: input + cache reads + cache writes (what Haiku 5.5's band counts)."""
        return self.input + self.cache_read + self.cache_write

    @property
    def total(self) -> int:
        """Every token, read or written."""
        return self.prompt + self.output

    def __add__(self, other: object) -> TokenUsage:
        if not isinstance(other, TokenUsage):
            return NotImplemented
        return TokenUsage(
            input=self.input + other.input,
            output=self.output + other.output,
            cache_read=self.cache_read + other.cache_read,
            cache_write_5m=self.cache_write_5m + other.cache_write_5m,
            cache_write_1h=self.cache_write_1h + other.cache_write_1h,
        )


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One price row of a model family, in nano-dollars per token, in force from ``effective_from``."""

    family: str
    effective_from: datetime.date
    input: int
    output: int
    cache_write_5m: int
    cache_write_1h: int
    cache_read: int
    long_prompt_threshold: int | None = None
    """Prompt tokens (input + cache read + cache write) above which a request is priced ``long_prompt``."""
    long_prompt: ModelPrice | None = None
    """The band for a request whose prompt exceeds the threshold; it prices the whole request."""

    def __post_init__(self) -> None:
        for key in PRICE_KEYS:
            price = getattr(self, key)
            if isinstance(price, bool) or not isinstance(price, int) or price < 0:
                raise ValueError(f"{self.family}: price {key} must be a non-negative int, not {price!r}")
        if (self.long_prompt_threshold is None) != (self.long_prompt is None):
            raise ValueError(f"{self.family}: long_prompt_threshold and long_prompt go together")
        if self.long_prompt_threshold is not None:
            if isinstance(self.long_prompt_threshold, bool) or not isinstance(
                self.long_prompt_threshold, int
            ):
                raise ValueError(f"{self.family}: long_prompt_threshold must be an int")
            if self.long_prompt_threshold <= 0:
                raise ValueError(f"{self.family}: long_prompt_threshold must be positive")
        if self.long_prompt is not None and self.long_prompt.long_prompt is not None:
            raise ValueError(f"{self.family}: a long-prompt band cannot have a band of its own")

    def cost_nano(self, usage: TokenUsage, *, single_request: bool = False) -> int | None:
        """Exact cost in nano-dollars, or ``None`` when the band makes it unknowable.

        With a band, usage whose prompt is at most the threshold is priced low, exactly, even for a
        sum of requests (each of them was then under it too). Above it, only a single request can be
        priced (all of it at the high band); for a sum of several requests the split between bands
        is unknowable, so the cost is ``None``.
        """
        if self.long_prompt_threshold is not None and usage.prompt > self.long_prompt_threshold:
            if not single_request or self.long_prompt is None:
                return None
            return self.long_prompt._flat_cost_nano(usage)
        return self._flat_cost_nano(usage)

    def _flat_cost_nano(self, usage: TokenUsage) -> int:
        return (
            usage.input * self.input
            + usage.output * self.output
            + usage.cache_read * self.cache_read
            + usage.cache_write_5m * self.cache_write_5m
            + usage.cache_write_1h * self.cache_write_1h
        )


# --- the table ---------------------------------------------------------------------------------


class PriceTable:
    """Price rows per model family, dated; the shipped table plus any user overrides."""

    __slots__ = ("version", "checked", "_rows", "_dates")

    version: str
    """The table's version, plus ``+<hash>`` of the user's overrides when there are any."""
    checked: datetime.date
    """When the shipped prices were last checked against the published ones."""

    def __init__(
        self, version: str, checked: datetime.date, rows: Mapping[str, Sequence[ModelPrice]]
    ) -> None:
        self.version = version
        self.checked = checked
        self._rows: dict[str, tuple[ModelPrice, ...]] = {}
        self._dates: dict[str, list[datetime.date]] = {}
        for family, family_rows in rows.items():
            ordered = tuple(sorted(family_rows, key=lambda row: row.effective_from))
            if not ordered:
                continue
            dates = [row.effective_from for row in ordered]
            if len(set(dates)) != len(dates):
                raise ValueError(f'model "{family}": two price rows have the same effective_from')
            self._rows[family] = ordered
            self._dates[family] = dates

    def __repr__(self) -> str:
        return f"PriceTable(version={self.version!r}, checked={self.checked}, models={len(self._rows)})"

    @classmethod
    def load(cls, overrides: Mapping[str, Mapping[str, object]] | None = None) -> PriceTable:
        """The shipped table, with the user's overrides from the config file's ``[prices."<model>"]``.

        An override's keys are ``input``, ``output``, ``cache_write_5m``, ``cache_write_1h``,
        ``cache_read`` (decimal dollars per million tokens, string or number) and an optional
        ``effective_from`` (a date). An override adds a model or replaces/adds a price row:

        * without ``effective_from``, the keys given hold at every date: they amend every row of a
          known model (other keys and Haiku 5.5's band stay as shipped); a new model needs all five;
        * with ``effective_from``, they make the row in force from that date, replacing a row of the
          same date; keys not given are taken from the row in force on that date.

        A bad override raises ``ValueError`` naming the model and the key. The shipped table is
        parsed once per process and shared.
        """
        global _shipped_table
        if _shipped_table is None:
            text = resources.files("pilot_metrics_plugin").joinpath("prices.toml").read_text("utf-8")
            _shipped_table = PriceTable.from_toml(text, source="prices.toml")
        if not overrides:
            return _shipped_table
        return _shipped_table.with_overrides(overrides)

    @classmethod
    def from_toml(cls, text: str, *, source: str = "price table") -> PriceTable:
        """A table from the text of a file in ``prices.toml``'s format; ``ValueError`` if malformed."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{source}: not valid TOML: {error}") from error
        unknown = sorted(set(data) - _TABLE_KEYS)
        if unknown:
            raise ValueError(f'{source}: unknown key "{unknown[0]}"')
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise ValueError(f'{source}: key "version" must be a non-empty string')
        checked = data.get("checked")
        if not _is_plain_date(checked):
            raise ValueError(f'{source}: key "checked" must be a date (YYYY-MM-DD)')
        raw_rows = data.get("price", [])
        if not isinstance(raw_rows, list):
            raise ValueError(f'{source}: "price" must be an array of tables ([[price]])')
        rows: dict[str, list[ModelPrice]] = {}
        for number, raw in enumerate(raw_rows, start=1):
            row = _parse_row(raw, where=f"{source}: price row {number}")
            family_rows = rows.setdefault(row.family, [])
            if any(other.effective_from == row.effective_from for other in family_rows):
                raise ValueError(
                    f'{source}: price row {number} (model "{row.family}"): key "effective_from": '
                    f"a row from {row.effective_from} already exists"
                )
            family_rows.append(row)
        return cls(version, checked, rows)

    def with_overrides(self, overrides: Mapping[str, Mapping[str, object]]) -> PriceTable:
        """This table with the user's overrides applied (see ``load``); this table is left unchanged."""
        rows = {family: list(family_rows) for family, family_rows in self._rows.items()}
        canonical: dict[str, dict[str, object]] = {}
        spelled_as: dict[str, str] = {}
        for model, keys in overrides.items():
            family = normalize_model(model) if isinstance(model, str) else None
            if family is None:
                raise ValueError(f"price override: {model!r} is not a model name")
            where = f'price override for model "{model}"'
            if family in spelled_as:
                raise ValueError(f'{where}: the same model is also overridden as "{spelled_as[family]}"')
            spelled_as[family] = model
            if not isinstance(keys, Mapping):
                raise ValueError(f"{where}: must be a table of prices")
            unknown = sorted(str(key) for key in keys if key not in _OVERRIDE_KEYS)
            if unknown:
                raise ValueError(
                    f'{where}: key "{unknown[0]}" is unknown (expected {", ".join(PRICE_KEYS)}, '
                    "effective_from)"
                )
            prices: dict[str, int] = {}
            for key in PRICE_KEYS:
                if key in keys:
                    prices[key] = _checked_price(keys[key], where=where, key=key)
            if not prices:
                raise ValueError(f"{where}: gives no price (expected {', '.join(PRICE_KEYS)})")
            effective_from: datetime.date | None = None
            if "effective_from" in keys:
                effective_from = _checked_date(keys["effective_from"], where=where)
            canonical[family] = {
                "effective_from": effective_from.isoformat() if effective_from else None,
                **prices,
            }
            existing = rows.get(family, [])
            if effective_from is None and existing:
                rows[family] = [dataclasses.replace(row, **prices) for row in existing]
                continue
            if effective_from is not None and existing:
                base = self._in_force(family, effective_from)
                band = base.long_prompt
                if band is not None:
                    band = dataclasses.replace(band, effective_from=effective_from)
                new_row = dataclasses.replace(
                    base, effective_from=effective_from, long_prompt=band, **prices
                )
                rows[family] = [row for row in existing if row.effective_from != effective_from]
                rows[family].append(new_row)
                continue
            missing = [key for key in PRICE_KEYS if key not in prices]
            if missing:
                raise ValueError(
                    f'{where}: key "{missing[0]}" is missing (a new model needs all five prices)'
                )
            rows[family] = [
                ModelPrice(
                    family=family,
                    effective_from=effective_from or datetime.date.min,
                    **prices,
                )
            ]
        encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode("utf-8")
        digest = hashlib.sha256(encoded).hexdigest()[:8]
        return PriceTable(f"{self.version}+{digest}", self.checked, rows)

    def lookup(self, model: str | None, on: datetime.date) -> ModelPrice | None:
        """The price row of a model in force on a date (UTC), or ``None`` for an unknown or no model.

        The name is normalized first. The row in force is the latest one whose ``effective_from`` is
        on or before ``on``; a date before the first row takes the first row. A ``datetime`` counts
        by its own date.
        """
        family = normalize_model(model)
        if family is None or family not in self._rows:
            return None
        return self._in_force(family, on)

    def estimate_nano(
        self,
        model: str | None,
        on: datetime.date,
        usage: TokenUsage,
        *,
        single_request: bool = False,
    ) -> int | None:
        """Cost in nano-dollars; ``None`` when the model is unknown or the band makes it unknowable."""
        price = self.lookup(model, on)
        if price is None:
            return None
        return price.cost_nano(usage, single_request=single_request)

    def models(self) -> list[str]:
        """The model families this table prices, sorted."""
        return sorted(self._rows)

    def rows(self, model: str | None) -> tuple[ModelPrice, ...]:
        """Every price row of a model, oldest first; empty for an unknown model."""
        family = normalize_model(model)
        return self._rows.get(family, ()) if family is not None else ()

    def _in_force(self, family: str, on: datetime.date) -> ModelPrice:
        if isinstance(on, datetime.datetime):
            on = on.date()
        index = bisect_right(self._dates[family], on) - 1
        return self._rows[family][max(index, 0)]


# --- parsing helpers ---------------------------------------------------------------------------


def _is_plain_date(value: object) -> bool:
    return isinstance(value, datetime.date) and not isinstance(value, datetime.datetime)


def _checked_price(value: object, *, where: str, key: str) -> int:
    try:
        return _price_nano_per_token(value)
    except ValueError as error:
        raise ValueError(f'{where}: key "{key}": {error}') from None


def _checked_date(value: object, *, where: str) -> datetime.date:
    if _is_plain_date(value):
        return value  # type: ignore[return-value]
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f'{where}: key "effective_from": {value!r} is not a date (YYYY-MM-DD)')


def _parse_row(raw: object, *, where: str) -> ModelPrice:
    """One ``[[price]]`` row of the shipped table's format."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be a table")
    model = raw.get("model")
    if not isinstance(model, str) or normalize_model(model) != model:
        raise ValueError(f'{where}: key "model" must be a normalized model family id, not {model!r}')
    where = f'{where} (model "{model}")'
    unknown = sorted(set(raw) - _ROW_KEYS)
    if unknown:
        raise ValueError(f'{where}: key "{unknown[0]}" is unknown')
    effective_from = raw.get("effective_from")
    if not _is_plain_date(effective_from):
        raise ValueError(f'{where}: key "effective_from" must be a date (YYYY-MM-DD)')
    prices = _parse_prices(raw, where=where)
    threshold = raw.get("long_prompt_threshold")
    band = raw.get("long_prompt")
    long_prompt: ModelPrice | None = None
    if (threshold is None) != (band is None):
        raise ValueError(f'{where}: keys "long_prompt_threshold" and "long_prompt" go together')
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold <= 0:
            raise ValueError(f'{where}: key "long_prompt_threshold" must be a positive integer')
        if not isinstance(band, dict):
            raise ValueError(f'{where}: key "long_prompt" must be a table of prices')
        unknown = sorted(set(band) - set(PRICE_KEYS))
        if unknown:
            raise ValueError(f'{where}: key "long_prompt.{unknown[0]}" is unknown')
        long_prompt = ModelPrice(
            family=model,
            effective_from=effective_from,  # type: ignore[arg-type]
            **_parse_prices(band, where=where, prefix="long_prompt."),
        )
    return ModelPrice(
        family=model,
        effective_from=effective_from,  # type: ignore[arg-type]
        long_prompt_threshold=threshold,
        long_prompt=long_prompt,
        **prices,
    )


def _parse_prices(raw: Mapping[str, object], *, where: str, prefix: str = "") -> dict[str, int]:
    prices: dict[str, int] = {}
    for key in PRICE_KEYS:
        if key not in raw:
            raise ValueError(f'{where}: key "{prefix}{key}" is missing')
        prices[key] = _checked_price(raw[key], where=where, key=prefix + key)
    return prices
