"""Plugins that add hooks (``pilot_hookspecs``) and get the host (``on_host_ready``), as the metrics plugin
adds its sink hook: the added hook is checked and dispatched like the host's own, whatever order the
plugins are loaded in."""

from __future__ import annotations

import types

import pytest

from hookspecs import hookimpl, hookspec
from hookspecs.manager import LoadProblem, PluginHost


@hookspec
def on_budget_exceeded(project: str, spent_nano_usd: int) -> None:
    """A hook a plugin adds: called when a project's spending passes its budget."""


BUDGET_SPECS = types.SimpleNamespace(on_budget_exceeded=on_budget_exceeded)


class Budget:
    """Adds ``on_budget_exceeded`` and calls it through the host it is handed."""

    pilot_hookspecs = BUDGET_SPECS

    def __init__(self) -> None:
        self.host: PluginHost | None = None
        self.ready_calls = 0

    @hookimpl
    def on_host_ready(self, host: PluginHost) -> None:
        self.host = host
        self.ready_calls += 1

    def exceed(self, project: str, spent_nano_usd: int) -> None:
        assert self.host is not None
        self.host.dispatcher.call("on_budget_exceeded", project=project, spent_nano_usd=spent_nano_usd)


class Alert:
    def __init__(self) -> None:
        self.alerts: list[tuple[str, int]] = []

    @hookimpl
    def on_budget_exceeded(self, project: str, spent_nano_usd: int) -> None:
        self.alerts.append((project, spent_nano_usd))


def create(*plugins: tuple[str, object]) -> PluginHost:
    return PluginHost.create(plugins=plugins, load_entrypoints=False)


@pytest.mark.parametrize("alert_registered", ["before", "after"])
def test_a_hook_added_by_one_plugin_reaches_another_plugin_registered_before_or_after_it(
    alert_registered: str,
) -> None:
    budget, alert = Budget(), Alert()
    pairs = [("alert", alert), ("budget", budget)]
    create(*(pairs if alert_registered == "before" else pairs[::-1]))
    budget.exceed("shop", 5_000_000_000)
    assert alert.alerts == [("shop", 5_000_000_000)]


def test_an_implementation_registered_before_the_plugin_that_adds_its_hook_is_not_reported_unknown() -> None:
    host = create(("alert", Alert()), ("budget", Budget()))
    assert host.problems == []


def test_an_implementation_of_a_hook_nobody_added_is_still_reported_unknown() -> None:
    host = create(("alert", Alert()))
    assert host.problems == [
        LoadProblem("alert", None, "unknown hook 'on_budget_exceeded' (misspelled?)", loaded=True)
    ]


def test_an_implementation_with_an_argument_the_added_hook_lacks_is_refused_and_its_adder_loads() -> None:
    class WrongArgument:
        @hookimpl
        def on_budget_exceeded(self, project: str, currency: str) -> None:
            pass

    host = create(("budget", Budget()), ("wrong", WrongArgument()))
    assert [(p.plugin, p.loaded) for p in host.problems] == [("wrong", False)]
    assert "currency" in host.problems[0].message
    assert host.pm.has_plugin("budget")


def test_an_implementation_with_a_wrong_argument_registered_first_does_not_keep_its_adder_out() -> None:
    class WrongArgument:
        @hookimpl
        def on_budget_exceeded(self, project: str, currency: str) -> None:
            pass

    host = create(("wrong", WrongArgument()), ("budget", Budget()))
    assert host.pm.has_plugin("budget")
    assert [(p.plugin, p.loaded) for p in host.problems] == [("wrong", False)]


def test_on_host_ready_hands_every_plugin_the_host_once_with_all_plugins_loaded() -> None:
    budget = Budget()
    seen: list[list[str]] = []

    class Observer:
        @hookimpl
        def on_host_ready(self, host: PluginHost) -> None:
            seen.append([info.name for info in host.plugins()])

    host = create(("observer", Observer()), ("budget", budget), ("alert", Alert()))
    assert budget.host is host and budget.ready_calls == 1
    assert seen == [["alert", "budget", "observer"]]


def test_a_plugin_registered_later_gets_on_host_ready_and_the_others_do_not_get_it_again() -> None:
    first, later = Budget(), Budget()
    later.pilot_hookspecs = None  # the hook is there already
    host = create(("first", first))
    host.register("later", later)
    assert later.host is host and later.ready_calls == 1
    assert first.ready_calls == 1


def test_a_plugin_registered_later_gets_the_added_hook() -> None:
    budget, alert = Budget(), Alert()
    host = create(("budget", budget))
    host.register("alert", alert)
    budget.exceed("shop", 1)
    assert alert.alerts == [("shop", 1)]
    assert host.problems == []
