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
    sla: Mapping[str, Any] = field(default_factory=dict)


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
        sla=_table(data, "sla"),
    )


def resolve_db_path(config: Config, override: str | os.PathLike[str] | None = None) -> Path:
    """``--db``, else the config's ``db_path``, else ``$PILOT_HOME/data/metrics.db``."""
    if override:
        return Path(override).expanduser()
    return config.db_path or default_db_path()
