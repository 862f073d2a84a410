"""The metrics plugin's settings: ``$PILOT_HOME/metrics.toml`` (``PILOT_HOME`` defaults to ``~/.pilot``).

Read when needed, never at import. Unknown keys and wrong types are errors that name the key, so a typo
cannot silently fall back to a default.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


class ConfigError(ValueError):
    """The config file is unreadable or says something we cannot use: the message names the key."""


DEFAULT_STALE_AFTER_S = 6 * 3600
"""A row left ``running`` this long after its last sign of life is marked ``interrupted``."""
DEFAULT_SINK_TIMEOUT_S = 10.0
"""How long the metrics plugin waits for one sink's call (``[sinks] timeout``) before going on without it."""


@dataclass(frozen=True)
class SlaTargets:
    """SLA targets at one level of the config; ``None``: not set at this level (the next one applies)."""

    success_rate: float | None = None
    """The lowest acceptable succeeded / finished, 0 to 1."""
    duration_p95_ms: int | None = None
    """The longest acceptable nearest-rank p95 of finished executions' durations."""


@dataclass(frozen=True)
class SlaConfig:
    """``[sla]`` (``target_success``, ``target_p95``) for every project; ``[sla.projects."NAME"]``, the same
    keys, override them for one project."""

    defaults: SlaTargets = field(default_factory=SlaTargets)
    projects: Mapping[str, SlaTargets] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    db_path: Path | None = None
    timezone: str | None = None
    stale_after_s: int = DEFAULT_STALE_AFTER_S
    prices: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sinks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The ``[sinks.NAME]`` tables, by sink plugin name."""
    sink_timeout_s: float = DEFAULT_SINK_TIMEOUT_S
    """``[sinks] timeout``: the longest the metrics plugin waits for one sink's call."""
    projects: Mapping[str, str] = field(default_factory=dict)
    """Import mapping: project path (or its last part) -> project name."""
    sla: SlaConfig = field(default_factory=SlaConfig)
    """``[sla]``: the targets of ``pilot metrics sla``, for every project and per project."""


def pilot_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    value = env.get("PILOT_HOME")
    return Path(value).expanduser() if value else Path.home() / ".pilot"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    return pilot_home(env) / "metrics.toml"


def default_db_path(env: Mapping[str, str] | None = None) -> Path:
    return pilot_home(env) / "data" / "metrics.db"


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration_s(value: object, key: str) -> int:
    """``90``, ``"90s"``, ``"30m"``, ``"6h"``, ``"2d"`` -> seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a duration like '6h', got {value!r}")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return int(match.group(1)) * _UNITS[match.group(2)]
    raise ConfigError(f"{key}: expected a duration like '6h' or a number of seconds, got {value!r}")


def parse_timeout_s(value: object, key: str) -> float:
    """A positive number of seconds (``0.5``, ``10``) or a duration (``"10s"``, ``"2m"``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = float(parse_duration_s(value, key))
    else:
        raise ConfigError(f"{key}: expected a duration like '10s' or a number of seconds, got {value!r}")
    if not 0 < seconds < float("inf"):
        raise ConfigError(f"{key}: must be more than 0 seconds, got {value!r}")
    return seconds


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a table, got {type(value).__name__}")
    return value


def _string(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def parse_success_target(value: object, key: str) -> float:
    """A success rate target: a fraction from 0 to 1 (``0.95``) or a percentage (``"95%"``)."""
    rate: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        rate = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            rate = None
    if rate is None or not 0 <= rate <= 1:
        raise ConfigError(
            f"{key}: expected a success rate from 0 to 1 (0.95) or a percentage ('95%'), got {value!r}"
        )
    return rate


def parse_p95_target_ms(value: object, key: str) -> int:
    """A p95 duration target (``"30m"``, ``"90s"``, seconds) in milliseconds; more than 0."""
    seconds = parse_duration_s(value, key)
    if seconds <= 0:
        raise ConfigError(f"{key}: must be more than 0 seconds, got {value!r}")
    return seconds * 1000


SLA_TARGET_KEYS = ("target_success", "target_p95")


def _sla_targets(table: Mapping[str, Any], key: str) -> SlaTargets:
    for name in table:
        if name not in SLA_TARGET_KEYS:
            raise ConfigError(f"{key}.{name}: unknown key (known: {', '.join(SLA_TARGET_KEYS)})")
    success = table.get("target_success")
    p95 = table.get("target_p95")
    return SlaTargets(
        success_rate=None if success is None else parse_success_target(success, f"{key}.target_success"),
        duration_p95_ms=None if p95 is None else parse_p95_target_ms(p95, f"{key}.target_p95"),
    )


def _sla(data: Mapping[str, Any]) -> SlaConfig:
    table = dict(_table(data, "sla"))
    projects = table.pop("projects", {})
    if not isinstance(projects, Mapping):
        raise ConfigError(f"sla.projects: expected a table of projects, got {type(projects).__name__}")
    per_project = {}
    for name, targets in projects.items():
        if not isinstance(targets, Mapping):
            raise ConfigError(f"sla.projects.{name}: expected a table (target_success, target_p95)")
        per_project[name] = _sla_targets(targets, f"sla.projects.{name}")
    return SlaConfig(defaults=_sla_targets(table, "sla"), projects=per_project)


KNOWN_KEYS = frozenset({"db_path", "timezone", "stale_after", "prices", "sinks", "projects", "sla"})


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """The config at ``path`` (default ``$PILOT_HOME/metrics.toml``); defaults when that file is absent."""
    path = path or config_path(env)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"config {path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(KNOWN_KEYS))})")
    db_path = _string(data, "db_path")
    timezone = _string(data, "timezone")
    if timezone is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"timezone: unknown time zone {timezone!r}") from None
    stale = parse_duration_s(data["stale_after"], "stale_after") if "stale_after" in data else DEFAULT_STALE_AFTER_S
    prices = _table(data, "prices")
    for model, table in prices.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"prices.{model}: expected a table")
    if prices:
        # Checked here, not when the first execution ends: a bad price would otherwise leave that
        # execution's row `running` and fail `reprice` with a traceback-like line instead of naming the key.
        from pilot_metrics_plugin.pricing import PriceTable

        try:
            PriceTable.load(prices)
        except ValueError as exc:
            raise ConfigError(f"prices: {exc}") from None
    sinks = dict(_table(data, "sinks"))
    sink_timeout_s = DEFAULT_SINK_TIMEOUT_S
    if "timeout" in sinks:  # the one setting of [sinks] itself; every other key names a sink's table
        sink_timeout_s = parse_timeout_s(sinks.pop("timeout"), "sinks.timeout")
    for name, table in sinks.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"sinks.{name}: expected a table (the settings of the sink named {name!r})")
    projects = _table(data, "projects")
    for key, value in projects.items():
        if not isinstance(value, str):
            raise ConfigError(f"projects.{key}: expected a project name (string), got {value!r}")
    return Config(
        path=path,
        db_path=Path(db_path).expanduser() if db_path else None,
        timezone=timezone,
        stale_after_s=stale,
        prices=prices,
        sinks=sinks,
        sink_timeout_s=sink_timeout_s,
        projects=projects,
        sla=_sla(data),
    )


def resolve_db_path(config: Config, override: str | os.PathLike[str] | None = None) -> Path:
    """``--db``, else the config's ``db_path``, else ``$PILOT_HOME/data/metrics.db``."""
    if override:
        return Path(override).expanduser()
    return config.db_path or default_db_path()
