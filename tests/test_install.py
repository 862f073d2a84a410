"""Installed for real: this project and the sample plugin pip-installed into a fresh virtual environment,
driven through that environment's ``pilot`` console script.

This proves what in-process tests cannot: the entry-point group, the module paths and the packaging, as a
user's ``pip install`` leaves them. The environment is built once for the module (about 6 s).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, transcript

pytestmark = pytest.mark.install

SAMPLE_PLUGIN = Path(__file__).resolve().parent / "plugins" / "sample-plugin"
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".ci",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    ".agent-cli",
    "node_modules",
    "tests",
)
"""Left out of the copies pip builds from (pip builds in the source tree; the repo must stay clean)."""


@dataclass(frozen=True)
class Venv:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def pilot(self) -> Path:
        return self.root / "bin" / "pilot"


def _run(argv: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )
    assert result.returncode == 0, f"{argv[:4]} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _outer_pip_has_python_option() -> bool:
    """pip >= 22.3 can install into another interpreter (``pip --python``)."""
    try:
        major, minor = (int(part) for part in importlib.metadata.version("pip").split(".")[:2])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (22, 3)


def install_venv(base: Path, plugin: Path) -> Venv:
    """A fresh virtual environment under ``base`` with this project and ``plugin`` installed from copies of
    their sources, as ``pip install <project> <plugin>`` would."""
    host_source = shutil.copytree(ROOT, base / "src" / "pilot", ignore=NOT_SOURCES)
    plugin_source = shutil.copytree(plugin, base / "src" / plugin.name, ignore=NOT_SOURCES)
    env = Venv(base / "venv")
    if _outer_pip_has_python_option():
        _run([sys.executable, "-m", "venv", "--without-pip", env.root])
        pip = [sys.executable, "-m", "pip", "--python", env.python]
        _run([*pip, "install", "-q", host_source, plugin_source])
    else:
        _run([sys.executable, "-m", "venv", env.root])
        _run([env.python, "-m", "pip", "install", "-q", host_source, plugin_source])
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """This project and the sample plugin, installed into a fresh virtual environment."""
    return install_venv(tmp_path_factory.mktemp("install"), SAMPLE_PLUGIN)


def pilot(venv: Venv, *args: str, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    """Run the venv's ``pilot``; the environment is the test's (its own PILOT_HOME) plus ``env_overrides``."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env.update(env_overrides)
    return subprocess.run(
        [str(venv.pilot), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def listed(venv: Venv, **env_overrides: str) -> dict[str, dict[str, object]]:
    result = pilot(venv, "plugins", "--json", **env_overrides)
    assert result.returncode == 0, result.stderr
    return {entry["name"]: entry for entry in json.loads(result.stdout)}


def project_version() -> str:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_pilot_help_shows_the_commands_of_the_installed_plugins(venv: Venv) -> None:
    result = pilot(venv, "--help")
    assert result.returncode == 0
    assert "\n    hello " in result.stdout
    assert "\n    metrics " in result.stdout
    assert result.stderr == ""


def test_pilot_hello_runs_the_sample_plugins_command(venv: Venv) -> None:
    result = pilot(venv, "hello", "--name", "tests")
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello, tests\n", "")


def test_pilot_plugins_lists_the_sample_and_metrics_plugins_with_their_versions(venv: Venv) -> None:
    plugins = listed(venv)
    hooks = [
        "on_execution_complete",
        "on_phase_end",
        "on_phase_start",
        "on_stream_event",
        "register_commands",
    ]
    # The versions are the ones in each pyproject.toml.
    assert plugins["sample"] == {
        "name": "sample",
        "distribution": "pilot-sample-plugin",
        "version": "0.3.0",
        "hooks": hooks,
    }
    assert plugins["metrics"] == {
        "name": "metrics",
        "distribution": "pilot-metrics-plugin",
        "version": project_version(),
        "hooks": sorted([*hooks, "on_host_ready"]),
    }


def test_a_replay_calls_the_plugins_hooks_in_the_contracts_order(venv: Venv, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    path = transcript("v2.1.328-success-bash-tool-loopback-api")
    result = pilot(venv, "replay", str(path), "--task-id", "T", "--project", "p", PILOT_SAMPLE_LOG=str(log))
    assert result.returncode == 0, result.stderr
    # The transcript's 5 lines: system init; assistant with a Bash `echo` (no rule matches: "executing"),
    # which ends "planning" before its own event; user tool result; assistant text; result success.
    assert log.read_text().splitlines() == [
        "register_commands",
        "on_phase_start planning",
        "on_stream_event system",
        "on_phase_end planning",
        "on_phase_start executing",
        "on_stream_event assistant",
        "on_stream_event user",
        "on_stream_event assistant",
        "on_stream_event result",
        "on_phase_end executing",
        "on_execution_complete succeeded",
    ]


def test_pilot_load_plugins_loads_only_the_named_plugin(venv: Venv) -> None:
    assert sorted(listed(venv, PILOT_LOAD_PLUGINS="sample")) == ["pilot", "sample"]


def test_pilot_disable_plugins_hides_the_named_plugin(venv: Venv) -> None:
    # "otel" is the metrics distribution's OpenTelemetry sink (idle unless [sinks.otel] enabled = true).
    assert sorted(listed(venv, PILOT_DISABLE_PLUGINS="sample")) == ["metrics", "otel", "pilot"]


BROKEN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=70.1"]
build-backend = "setuptools.build_meta"

[project]
name = "pilot-broken-plugin"
version = "0.0.1"

[project.entry-points.pilot]
broken = "pilot_broken_plugin"

[tool.setuptools]
packages = ["pilot_broken_plugin"]
"""


def test_a_plugin_that_raises_at_import_is_reported_in_one_line_and_the_others_still_work(
    venv: Venv, tmp_path: Path
) -> None:
    source = tmp_path / "pilot-broken-plugin"
    (source / "pilot_broken_plugin").mkdir(parents=True)
    (source / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    (source / "pilot_broken_plugin" / "__init__.py").write_text('raise RuntimeError("broken on purpose")\n')
    target = tmp_path / "extra"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-build-isolation"]
    _run([*pip, "--target", target, source])

    result = pilot(venv, "--help", PYTHONPATH=str(target))
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "pilot: plugin 'broken' (pilot-broken-plugin) failed to load: RuntimeError: broken on purpose"
    ]
    assert "\n    hello " in result.stdout
    assert "\n    metrics " in result.stdout
