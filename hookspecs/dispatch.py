"""Calling hook implementations one at a time, so that one failing plugin never breaks an execution.

pluggy stops at the first implementation that raises and skips the rest; this module walks pluggy's own
ordered list of implementations instead, catching each one's failure. The plan of calls is resolved once
(and again whenever the set of plugins changes), never per event.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import pluggy

from hookspecs.payloads import PluginError

EXECUTION_HOOKS = ("on_phase_start", "on_phase_end", "on_stream_event", "on_execution_complete")
ALL_HOOKS = (*EXECUTION_HOOKS, "register_commands", "on_host_ready")
"""The host's own hooks; plugins may add more (``pilot_hookspecs``), which are dispatched the same way."""
MAX_CONSECUTIVE_FAILURES = 10
"""A plugin that fails this many times in a row in one execution is not called again in it."""


@dataclass(slots=True)
class _Failures:
    first_error: str
    count: int = 0


@dataclass
class HookDispatcher:
    """Guarded calls of the hooks of one plugin manager."""

    pm: pluggy.PluginManager
    strict: bool = False
    trace: bool = False
    stderr: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr))
    _plans: dict[str, tuple[tuple[str, Callable[..., Any], tuple[str, ...], tuple[str, ...]], ...]] = field(
        default_factory=dict
    )
    _calls: dict[str, tuple[tuple[str, Callable[..., Any], Callable[[dict[str, Any]], Any], bool], ...]] = field(
        default_factory=dict
    )
    """Per hook, what ``call`` runs: ``(plugin, function, its arguments from the keywords, has keyword-only
    arguments)``."""
    _failures: dict[tuple[str, str], _Failures] = field(default_factory=dict)
    _consecutive: dict[str, int] = field(default_factory=dict)
    _disabled: set[str] = field(default_factory=set)

    @classmethod
    def for_manager(cls, pm: pluggy.PluginManager, env: dict[str, str] | None = None) -> HookDispatcher:
        env = os.environ if env is None else env
        dispatcher = cls(
            pm,
            strict=env.get("PILOT_STRICT_PLUGINS", "") not in ("", "0"),
            trace=env.get("PILOT_TRACE_PLUGINS", "") not in ("", "0"),
        )
        dispatcher.refresh()
        return dispatcher

    def refresh(self) -> None:
        """Resolve the call plans again: after any register or unregister."""
        plans = {}
        names = set(ALL_HOOKS) | {name for name, caller in vars(self.pm.hook).items() if caller.has_spec()}
        for name in sorted(names):
            caller = getattr(self.pm.hook, name, None)
            impls = caller.get_hookimpls() if caller is not None else []
            plans[name] = tuple(
                (impl.plugin_name, impl.function, tuple(impl.argnames), tuple(impl.kwargnames))
                for impl in reversed(impls)
                if not (impl.hookwrapper or impl.wrapper)
            )
        self._plans = plans
        self._calls = {
            name: tuple(
                (plugin, function, _arguments(argnames), bool(kwargnames))
                for plugin, function, argnames, kwargnames in plan
            )
            for name, plan in plans.items()
        }

    def has_impls(self, hook: str) -> bool:
        return bool(self._plans.get(hook))

    def start_execution(self) -> None:
        """Forget the failures of the previous execution: each execution starts with every plugin enabled."""
        self._failures.clear()
        self._consecutive.clear()
        self._disabled.clear()

    def call(self, hook: str, announce: Callable[[str], None] | None = None, **kwargs: Any) -> None:
        """Call every implementation of ``hook``; ``announce(plugin)`` runs before each one.

        This runs once per stream event for every plugin, so it is ``_invoke`` written out, with each
        implementation's arguments picked by a prepared ``itemgetter``."""
        for plugin, function, arguments, keyword_only in self._calls[hook]:
            if plugin in self._disabled:
                continue
            if announce is not None:
                announce(plugin)
            if keyword_only:
                self._invoke(hook, next(p for p in self._plans[hook] if p[0] == plugin), kwargs)
                continue
            try:
                function(*arguments(kwargs))
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # as in _invoke
                if self.strict:
                    raise
                self.failed(plugin, hook, exc)
            else:
                if self._consecutive:
                    self._consecutive.pop(plugin, None)

    def call_one(self, plugin: str, hook: str, **kwargs: Any) -> None:
        """Call one plugin's implementation of ``hook``, with the same failure containment."""
        for plan in self._plans.get(hook, ()):
            if plan[0] == plugin:
                self._invoke(hook, plan, kwargs)

    def plans(self, hook: str) -> tuple[tuple[str, Callable[..., Any], tuple[str, ...], tuple[str, ...]], ...]:
        """``(plugin, function, argnames, kwargnames)`` per implementation, in call order."""
        return self._plans.get(hook, ())

    def _invoke(
        self, hook: str, plan: tuple[str, Callable[..., Any], tuple[str, ...], tuple[str, ...]], kwargs: dict[str, Any]
    ) -> None:
        plugin, function, argnames, kwargnames = plan
        try:
            args = [kwargs[name] for name in argnames]
            if kwargnames:
                function(*args, **{k: kwargs[k] for k in kwargnames if k in kwargs})
            else:
                function(*args)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a plugin's SystemExit must not end the task either
            if self.strict:
                raise
            self.failed(plugin, hook, exc)
        else:
            if self._consecutive:
                self._consecutive.pop(plugin, None)

    def failed(self, plugin: str, hook: str, exc: BaseException) -> None:
        """Report a plugin's failure once per plugin and hook, and count it."""
        key = (plugin, hook)
        message = f"{type(exc).__name__}: {exc}".strip().splitlines()[0] if str(exc) else type(exc).__name__
        record = self._failures.get(key)
        if record is None:
            record = self._failures[key] = _Failures(message)
            self.stderr(f"pilot: plugin {plugin!r} failed in {hook}: {message}")
            if self.trace:
                self.stderr("".join(traceback.format_exception(exc)).rstrip())
        record.count += 1
        streak = self._consecutive.get(plugin, 0) + 1
        self._consecutive[plugin] = streak
        if streak >= MAX_CONSECUTIVE_FAILURES and plugin not in self._disabled:
            self._disabled.add(plugin)
            self.stderr(
                f"pilot: plugin {plugin!r} failed {streak} times in a row; not called again in this execution"
            )

    def errors(self) -> tuple[PluginError, ...]:
        """The failures so far in this execution, one per plugin and hook."""
        return tuple(
            PluginError(plugin=plugin, hook=hook, error=record.first_error, count=record.count)
            for (plugin, hook), record in self._failures.items()
        )


def _arguments(argnames: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function that picks ``argnames`` out of the call's keywords, as a tuple."""
    if len(argnames) >= 2:
        return itemgetter(*argnames)
    if len(argnames) == 1:
        name = argnames[0]
        return lambda kwargs: (kwargs[name],)
    return lambda kwargs: ()
