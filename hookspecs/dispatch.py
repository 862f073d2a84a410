"""Calling hook implementations one at a time, so that one failing plugin never breaks an execution.

pluggy stops at the first implementation that raises and skips the rest; this module walks pluggy's own
ordered list of implementations instead, catching each one's failure. The plan of calls is resolved once
(and again whenever the set of plugins changes), never per event.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from hookspecs.payloads import PluginError

    _Plan = tuple[str, Callable[..., Any], tuple[str, ...], tuple[str, ...]]
    """``(plugin, function, argnames, kwargnames)``."""
    _PositionalCall = tuple[str, Callable[..., Any], tuple[int, ...] | None, bool]
    """What a ``caller`` runs: ``(plugin, function, the positions of its arguments among the spec's, or None
    when they are the spec's own, has keyword-only arguments)``."""

EXECUTION_HOOKS = ("on_phase_start", "on_phase_end", "on_stream_event", "on_execution_complete")
ALL_HOOKS = (*EXECUTION_HOOKS, "register_commands", "on_host_ready")
"""The host's own hooks; plugins may add more (``pilot_hookspecs``), which are dispatched the same way."""
MAX_CONSECUTIVE_FAILURES = 10
"""A plugin that fails this many times in a row in one execution is not called again in it."""


class _Failures:
    __slots__ = ("count", "first_error")

    def __init__(self, first_error: str, count: int = 0) -> None:
        self.first_error = first_error
        self.count = count


def _print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


class HookDispatcher:
    """Guarded calls of the hooks of one plugin manager.

    A plain class, not a dataclass: one is built per process, and defining a dataclass costs a fraction of
    a millisecond at every ``pilot`` start-up."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        strict: bool = False,
        trace: bool = False,
        stderr: Callable[[str], None] = _print_to_stderr,
    ) -> None:
        self.pm = pm
        self.strict = strict
        self.trace = trace
        self.stderr = stderr
        self._plans: dict[str, tuple[_Plan, ...]] = {}
        self._positional: dict[str, tuple[_PositionalCall, ...]] = {}
        """Only for the hooks that have a spec."""
        self._spec_argnames: dict[str, tuple[str, ...]] = {}
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._consecutive: dict[str, int] = {}
        self._disabled: set[str] = set()

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
        spec_argnames = {}
        names = set(ALL_HOOKS) | {name for name, caller in vars(self.pm.hook).items() if caller.has_spec()}
        for name in sorted(names):
            caller = getattr(self.pm.hook, name, None)
            impls = caller.get_hookimpls() if caller is not None else []
            plans[name] = tuple(
                (impl.plugin_name, impl.function, tuple(impl.argnames), tuple(impl.kwargnames))
                for impl in reversed(impls)
                if not (impl.hookwrapper or impl.wrapper)
            )
            if caller is not None and caller.spec is not None:
                spec_argnames[name] = tuple(caller.spec.argnames)
        self._plans = plans
        self._spec_argnames = spec_argnames
        self._positional = {
            name: tuple(
                (plugin, function, _positions(argnames, spec_argnames[name]), bool(kwargnames))
                for plugin, function, argnames, kwargnames in plan
            )
            for name, plan in plans.items()
            if name in spec_argnames
        }

    def has_impls(self, hook: str) -> bool:
        return bool(self._plans.get(hook))

    def start_execution(self) -> None:
        """Forget the failures of the previous execution: each execution starts with every plugin enabled."""
        self._failures.clear()
        self._consecutive.clear()
        self._disabled.clear()

    def call(self, hook: str, announce: Callable[[str], None] | None = None, **kwargs: Any) -> None:
        """Call every implementation of ``hook``; ``announce(plugin)`` runs before each one. For the hooks
        called once per execution or per process; those called per line or per phase go through ``caller``."""
        for plan in self._plans[hook]:
            if plan[0] in self._disabled:
                continue
            if announce is not None:
                announce(plan[0])
            self._invoke(hook, plan, kwargs)

    def caller(self, hook: str) -> Callable[..., None]:
        """``call(hook, ...)`` as a function of the hook's arguments given by position, in the order of its
        spec (``on_stream_event(execution, event)``): for the hooks called per line or per phase, where
        building the keywords and picking each implementation's arguments out of them is most of the cost of
        a call. It follows ``refresh``; failures are contained as by ``call``."""
        names = self._spec_argnames[hook]

        def call_positional(*args: Any) -> None:
            for plugin, function, positions, keyword_only in self._positional[hook]:
                if plugin in self._disabled:
                    continue
                if keyword_only:
                    plan = next(p for p in self._plans[hook] if p[0] == plugin)
                    self._invoke(hook, plan, dict(zip(names, args, strict=True)))
                    continue
                try:
                    if positions is None:
                        function(*args)
                    else:
                        function(*[args[i] for i in positions])
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # as in _invoke
                    if self.strict:
                        raise
                    self.failed(plugin, hook, exc)
                else:
                    if self._consecutive:
                        self._consecutive.pop(plugin, None)

        return call_positional

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
                import traceback

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
        if not self._failures:
            return ()
        from hookspecs.payloads import PluginError

        return tuple(
            PluginError(plugin=plugin, hook=hook, error=record.first_error, count=record.count)
            for (plugin, hook), record in self._failures.items()
        )


def _positions(argnames: tuple[str, ...], spec_argnames: tuple[str, ...]) -> tuple[int, ...] | None:
    """Where each of an implementation's arguments sits among the spec's; ``None`` when it takes them all, in
    the spec's order (the usual case: the arguments are passed on as they are)."""
    if argnames == spec_argnames:
        return None
    return tuple(spec_argnames.index(name) for name in argnames)
