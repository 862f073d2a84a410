"""Loading plugins: each in isolation, defects reported per plugin, and the environment read when called.

The entry-point tests write real ``*.dist-info`` directories into a temporary directory put on ``sys.path``:
that is how ``importlib.metadata`` finds installed distributions, without pip.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import host_with
from hookspecs import Execution, StreamEvent, hookimpl
from hookspecs.cli import build_parser, main
from hookspecs.commands import CommandRegistry
from hookspecs.manager import LoadProblem, PluginHost

GOOD_MODULE = """
from hookspecs import hookimpl

@hookimpl
def on_stream_event(event):
    pass
"""


class Recorder:
    __version__ = "2.0"

    def __init__(self) -> None:
        self.events: list[StreamEvent] = []

    @hookimpl
    def on_stream_event(self, execution: Execution, event: StreamEvent) -> None:
        self.events.append(event)

    @hookimpl
    def on_phase_start(self) -> None:
        pass


def test_create_with_explicit_plugins_and_no_entry_points_loads_exactly_those_plugins() -> None:
    # The metrics plugin is installed in the test environment, yet not loaded.
    host = host_with(("recorder", Recorder()))
    assert [info.name for info in host.plugins()] == ["recorder"]
    assert host.problems == []


def test_a_hookimpl_with_an_argument_not_in_the_spec_is_rejected_and_nothing_of_its_plugin_stays() -> None:
    class ExtraArgument:
        @hookimpl
        def on_phase_start(self, execution: Execution) -> None:
            pass

        @hookimpl
        def on_stream_event(self, event: StreamEvent, session: object) -> None:
            pass

    host = host_with(("extra", ExtraArgument()))
    (problem,) = host.problems
    assert (problem.plugin, problem.loaded) == ("extra", False)
    assert "session" in problem.message
    assert not host.pm.has_plugin("extra")
    # Its valid on_phase_start is not live either.
    assert not host.dispatcher.has_impls("on_phase_start")
    assert host.pm.hook.on_phase_start.get_hookimpls() == []


def test_a_misspelled_hook_name_is_reported_and_the_plugin_still_loads() -> None:
    class Typo(Recorder):
        @hookimpl
        def on_stream_events(self, execution: Execution, event: StreamEvent) -> None:
            pass

    host = host_with(("typo", Typo()))
    assert host.problems == [
        LoadProblem("typo", None, "unknown hook 'on_stream_events' (misspelled?)", loaded=True)
    ]
    assert host.problems[0].line() == (
        "pilot: plugin 'typo' loaded with a problem: unknown hook 'on_stream_events' (misspelled?)"
    )
    assert host.dispatcher.has_impls("on_stream_event")


@pytest.mark.parametrize("style", ["wrapper", "hookwrapper"])
def test_a_wrapper_on_an_execution_hook_is_refused(style: str) -> None:
    class Wrapping:
        @hookimpl(**{style: True})
        def on_stream_event(self, event: StreamEvent) -> object:
            return (yield)

    host = host_with(("wrapping", Wrapping()))
    assert host.problems == [
        LoadProblem("wrapping", None, "on_stream_event may not be a wrapper", loaded=False)
    ]
    assert not host.pm.has_plugin("wrapping")


def test_a_wrapper_on_register_commands_is_refused_rather_than_silently_never_called() -> None:
    class WrappingCommands:
        @hookimpl(wrapper=True)
        def register_commands(self, commands: CommandRegistry) -> object:
            return (yield)

    host = host_with(("wrapping", WrappingCommands()))
    assert host.problems == [
        LoadProblem("wrapping", None, "register_commands may not be a wrapper", loaded=False)
    ]


def test_a_refused_plugin_is_reported_once_even_with_a_misspelled_hook_too() -> None:
    class TypoAndWrapper:
        @hookimpl
        def on_phase_strat(self) -> None:
            pass

        @hookimpl(wrapper=True)
        def on_stream_event(self, event: StreamEvent) -> object:
            return (yield)

    host = host_with(("both", TypoAndWrapper()))
    assert [(p.plugin, p.loaded) for p in host.problems] == [("both", False)]


def command_plugin(command: str, output: str) -> object:
    class Commands:
        @hookimpl
        def register_commands(self, commands: CommandRegistry) -> None:
            parser = commands.add(command, help=f"the {command} command")
            parser.set_defaults(handler=lambda args: print(output))

    return Commands()


def test_a_command_name_already_taken_is_refused_to_the_next_plugin_and_the_first_keeps_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Registered a then b: pluggy calls the last registered first, so b takes "hello" and a is refused.
    host = host_with(
        ("a", command_plugin("hello", "hello from a")), ("b", command_plugin("hello", "hello from b"))
    )
    assert main(["hello"], host=host) == 0
    captured = capsys.readouterr()
    assert captured.out == "hello from b\n"
    assert captured.err.splitlines() == [
        "pilot: plugin 'a' failed in register_commands: "
        "ValueError: command 'hello' is already registered by plugin 'b'"
    ]


def test_a_plugin_raising_in_register_commands_loses_its_own_commands_only() -> None:
    class HalfDone:
        @hookimpl
        def register_commands(self, commands: CommandRegistry) -> None:
            commands.add("alpha", help="the alpha command")
            raise RuntimeError("forgot an import")

    host = host_with(("half", HalfDone()), ("whole", command_plugin("beta", "beta ran")))
    parser = build_parser(host)
    usage = parser.format_help()
    assert "beta" in usage
    assert "alpha" not in usage
    with pytest.raises(SystemExit):
        parser.parse_args(["alpha"])
    assert parser.parse_args(["beta"]).command == "beta"


def test_pilot_plugins_json_lists_each_plugin_with_its_version_and_hooks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = host_with(("recorder", Recorder()))
    assert main(["plugins", "--json"], host=host) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"name": "pilot", "distribution": None, "version": None, "hooks": ["register_commands"]},
        {
            "name": "recorder",
            "distribution": None,
            "version": "2.0",
            "hooks": ["on_phase_start", "on_stream_event"],
        },
    ]


# -- installed plugins: the entry-point loop ----------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for this test's distributions; the modules imported from it are forgotten
    afterwards, so the next test's same-named modules are imported afresh."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(root)):
            del sys.modules[name]


def install(
    site: Path,
    distribution: str,
    version: str,
    entry_points: dict[str, str],
    modules: dict[str, str],
    *,
    metadata: bool = True,
) -> None:
    """What pip leaves behind for a distribution: its modules and a ``*.dist-info`` directory."""
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    if metadata:
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    lines = ["[pilot]", *(f"{name} = {target}" for name, target in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)


def install_three(site: Path) -> None:
    """alpha and omega load; broken raises at import, between them or wherever the file system puts it."""
    install(site, "pilot-alpha", "1.0", {"alpha": "pilot_alpha"}, {"pilot_alpha": GOOD_MODULE})
    install(
        site,
        "pilot-broken",
        "0.1",
        {"broken": "pilot_broken"},
        {"pilot_broken": "import pilot_test_dependency_not_installed\n"},
    )
    install(
        site,
        "pilot-omega",
        "2.5.1",
        {"omega": "pilot_omega:Plugin"},
        {
            "pilot_omega": "from hookspecs import hookimpl\n\nclass Plugin:\n"
            "    @staticmethod\n    @hookimpl\n    def on_phase_end(phase):\n        pass\n",
        },
    )


def entry_point_names(host: PluginHost) -> set[str]:
    """The plugins of the test's distributions: those of this project (installed in the test environment)
    left out."""
    return {info.name for info in host.plugins()} - {"metrics", "otel"}


def test_a_plugin_that_raises_at_import_is_reported_in_one_line_and_the_others_load(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install_three(site)
    host = PluginHost.create()
    assert entry_point_names(host) == {"alpha", "omega"}
    host.report_problems()
    assert capsys.readouterr().err.splitlines() == [
        "pilot: plugin 'broken' (pilot-broken) failed to load: "
        "ModuleNotFoundError: No module named 'pilot_test_dependency_not_installed'"
    ]


def test_an_installed_plugin_is_listed_with_its_distribution_and_version(site: Path) -> None:
    install_three(site)
    infos = {info.name: info for info in PluginHost.create().plugins()}
    omega = infos["omega"]
    assert (omega.distribution, omega.version, omega.hooks) == ("pilot-omega", "2.5.1", ("on_phase_end",))


def test_pilot_load_plugins_names_the_entry_points_to_load(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_three(site)
    monkeypatch.setenv("PILOT_LOAD_PLUGINS", "alpha")
    host = PluginHost.create()
    # Only alpha: neither omega nor the installed metrics plugin, and broken is never imported.
    assert [info.name for info in host.plugins()] == ["alpha"]
    assert host.problems == []


def test_pilot_load_plugins_accepts_a_distribution_name_in_any_spelling(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_three(site)
    monkeypatch.setenv("PILOT_LOAD_PLUGINS", "Pilot_Omega, alpha")
    assert [info.name for info in PluginHost.create().plugins()] == ["alpha", "omega"]


def test_pilot_load_plugins_set_but_empty_loads_no_installed_plugin(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_three(site)
    monkeypatch.setenv("PILOT_LOAD_PLUGINS", "")
    host = PluginHost.create()
    assert host.plugins() == []
    assert host.problems == []


def test_pilot_disable_plugins_keeps_the_named_plugins_from_loading(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_three(site)
    monkeypatch.setenv("PILOT_DISABLE_PLUGINS", "broken,pilot-omega")
    host = PluginHost.create()
    assert entry_point_names(host) == {"alpha"}
    assert host.problems == []


def test_a_second_distribution_with_a_taken_entry_point_name_is_reported_and_the_first_stays(
    site: Path,
) -> None:
    install(site, "pilot-dup-one", "1.0", {"dup": "pilot_dup_one"}, {"pilot_dup_one": GOOD_MODULE})
    install(site, "pilot-dup-two", "1.0", {"dup": "pilot_dup_two"}, {"pilot_dup_two": GOOD_MODULE})
    host = PluginHost.create()
    assert entry_point_names(host) == {"dup"}
    (problem,) = host.problems
    assert problem.plugin == "dup"
    assert problem.message == "another plugin already has this name"
    assert {problem.distribution, host.plugins()[0].distribution} <= {"pilot-dup-one", "pilot-dup-two"}


def test_a_distribution_without_metadata_still_loads_its_plugin(site: Path) -> None:
    install(site, "pilot-bare", "1.0", {"bare": "pilot_bare"}, {"pilot_bare": GOOD_MODULE}, metadata=False)
    host = PluginHost.create()
    assert entry_point_names(host) == {"bare"}
    assert host.problems == []
