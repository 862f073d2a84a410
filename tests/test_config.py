"""The config file: the example in examples/ is valid, and a mistake names the key at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from pilot_metrics_plugin.config import ConfigError, load_config, resolve_db_path


def test_the_example_config_loads(tmp_path: Path) -> None:
    config = load_config(ROOT / "examples" / "metrics.toml")
    assert config.timezone == "Europe/Berlin"
    assert config.stale_after_s == 6 * 3600
    assert config.prices["claude-opus-5-5"]["cache_read"] == "0.20"
    assert config.projects["/home/user/Projects/shop"] == "shop"
    assert config.sinks["jsonl"]["path"] == "~/.pilot/executions.jsonl"
    assert config.sink_timeout_s == 10.0
    # 30m for every project; shop's own p95 target is 15m = 900,000 ms and it keeps the shared 0.95.
    assert config.sla.defaults.duration_p95_ms == 1_800_000
    assert config.sla.projects["shop"].duration_p95_ms == 900_000


def test_no_config_file_means_defaults_under_pilot_home(_isolated_environment: Path) -> None:
    config = load_config()
    assert config.path is None
    assert resolve_db_path(config) == _isolated_environment / "data" / "metrics.db"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('db_pth = "x.db"\n', "db_pth"),
        ("db_path = 3\n", "db_path"),
        ('timezone = "Mars/Olympus"\n', "timezone"),
        ('stale_after = "soon"\n', "stale_after"),
        ("stale_after = true\n", "stale_after"),
        ('prices = "cheap"\n', "prices"),
        ('[projects]\n"/x" = 4\n', "projects./x"),
        ("this is not toml\n", "not valid TOML"),
    ],
)
def test_a_config_mistake_is_one_error_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "metrics.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert named in message and "\n" not in message
