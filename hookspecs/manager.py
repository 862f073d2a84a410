"""Building the plugin manager: the specs, the installed plugins of the ``pilot`` entry-point group, each
loaded in isolation, and the environment variables that choose them (read when called, never at import).

- ``PILOT_LOAD_PLUGINS``: comma-separated entry-point or distribution names; only these load. Set but
  empty: none load.
- ``PILOT_DISABLE_PLUGINS``: comma-separated names that do not load.
- ``PILOT_STRICT_PLUGINS=1``: plugin errors are raised instead of reported (for plugin authors and tests).
- ``PILOT_TRACE_PLUGINS=1``: reported plugin errors come with their traceback.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from hookspecs import spec
from hookspecs.dispatch import HookDispatcher
from hookspecs.markers import PROJECT_NAME


@dataclass(frozen=True)
class LoadProblem:
    """A plugin that did not load, or loaded with a defect worth telling its author."""

    plugin: str
    distribution: str | None
    message: str
    loaded: bool

    def line(self) -> str:
        source = f" ({self.distribution})" if self.distribution else ""
        verb = "loaded with a problem" if self.loaded else "failed to load"
        return f"pilot: plugin {self.plugin!r}{source} {verb}: {self.message}"


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin, as ``pilot plugins`` lists it."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


RESERVED_NAME = "pilot"
"""The host's built-in commands are registered as a plugin of this name."""


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).strip().lower()


def _names(value: str) -> set[str]:
    return {_normalize(part) for part in value.split(",") if part.strip()}


@dataclass
class PluginHost:
    """The plugin manager with its dispatcher and what loading it found."""

    pm: pluggy.PluginManager
    dispatcher: HookDispatcher
    problems: list[LoadProblem] = field(default_factory=list)
    distributions: dict[str, importlib.metadata.Distribution] = field(default_factory=dict)
    _dist_names: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        plugins: Iterable[tuple[str, object]] = (),
        *,
        load_entrypoints: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> PluginHost:
        """A fresh manager: the hookspecs, the given ``(name, plugin)`` pairs, then the installed plugins."""
        env = dict(os.environ if env is None else env)
        pm = pluggy.PluginManager(PROJECT_NAME)
        pm.add_hookspecs(spec)
        host = cls(pm, HookDispatcher.for_manager(pm, env))
        pending: list[tuple[str, object, importlib.metadata.Distribution | None]] = [
            (name, plugin, None) for name, plugin in plugins
        ]
        if load_entrypoints:
            pending += host._load_entrypoints(env, taken={name for name, _, _ in pending})
        # Every plugin's own hookspecs first: an implementation of a hook that another plugin adds must be
        # checked against that spec whichever order the environment lists the plugins in.
        pending = [entry for entry in pending if host._add_specs(entry[0], entry[1], entry[2])]
        for name, plugin, dist in pending:
            if host._register(name, plugin, _metadata(dist, "Name")) and dist is not None:
                host.distributions[name] = dist
        host._check_unknown_hooks()
        host.dispatcher.refresh()
        host.dispatcher.call("on_host_ready", host=host)
        return host

    def _load_entrypoints(
        self, env: Mapping[str, str], taken: set[str]
    ) -> list[tuple[str, object, importlib.metadata.Distribution | None]]:
        """Import the chosen plugins of the entry-point group, each on its own: a broken one is reported."""
        loaded: list[tuple[str, object, importlib.metadata.Distribution | None]] = []
        allow = _names(env["PILOT_LOAD_PLUGINS"]) if "PILOT_LOAD_PLUGINS" in env else None
        deny = _names(env.get("PILOT_DISABLE_PLUGINS", ""))
        for ep in importlib.metadata.entry_points(group=PROJECT_NAME):
            dist = ep.dist
            dist_name = _metadata(dist, "Name")
            names = {_normalize(ep.name)} | ({_normalize(dist_name)} if dist_name else set())
            if (allow is not None and not names & allow) or names & deny:
                continue
            if ep.name == RESERVED_NAME:
                self.problems.append(LoadProblem(ep.name, dist_name, "the name 'pilot' is the host's own", loaded=False))
                continue
            if ep.name in taken:
                self.problems.append(
                    LoadProblem(ep.name, dist_name, "another plugin already has this name", loaded=False)
                )
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the others
                self.problems.append(LoadProblem(ep.name, dist_name, _describe(exc), loaded=False))
                continue
            taken.add(ep.name)
            loaded.append((ep.name, plugin, dist))
        return loaded

    def _add_specs(self, name: str, plugin: object, dist: importlib.metadata.Distribution | None) -> bool:
        """Add the hookspecs a plugin declares (``pilot_hookspecs``); ``False`` if they are broken."""
        specs = getattr(plugin, "pilot_hookspecs", None)
        if specs is None:
            return True
        try:
            self.pm.add_hookspecs(specs)
        except Exception as exc:  # noqa: BLE001 - a broken spec module is that plugin's problem only
            self.problems.append(LoadProblem(name, _metadata(dist, "Name"), _describe(exc), loaded=False))
            return False
        return True

    def _register(self, name: str, plugin: object, dist_name: str | None) -> bool:
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 - pluggy >= 1.7 validates before it changes any state
            self.problems.append(LoadProblem(name, dist_name, _describe(exc), loaded=False))
            return False
        self._dist_names[name] = dist_name
        for caller in self.pm.get_hookcallers(plugin) or []:
            impls = [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]
            # The dispatcher never runs wrappers, register_commands included: refuse rather than ignore them.
            if caller.has_spec() and any(i.hookwrapper or i.wrapper for i in impls):
                self.pm.unregister(plugin)
                self.problems.append(
                    LoadProblem(name, dist_name, f"{caller.name} may not be a wrapper", loaded=False)
                )
                return False
        return True

    def _check_unknown_hooks(self, only: object | None = None) -> None:
        """Report implementations that match no spec: checked once every plugin could add its specs."""
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None or (only is not None and plugin is not only):
                continue
            for caller in self.pm.get_hookcallers(plugin) or []:
                if caller.has_spec():
                    continue
                impls = [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]
                if not any(impl.opts.get("optionalhook") for impl in impls):
                    self.problems.append(
                        LoadProblem(name, self._dist_names.get(name), f"unknown hook {caller.name!r} (misspelled?)",
                                    loaded=True)
                    )

    def register(self, name: str, plugin: object) -> None:
        """Register one more plugin (a plugin's own helper, or a test's)."""
        if self._add_specs(name, plugin, None) and self._register(name, plugin, None):
            self._check_unknown_hooks(only=plugin)
            self.dispatcher.refresh()
            for impl in self.pm.hook.on_host_ready.get_hookimpls():
                if impl.plugin is plugin:
                    self.dispatcher.call_one(impl.plugin_name, "on_host_ready", host=self)

    def plugins(self) -> list[PluginInfo]:
        infos = []
        for name, plugin in sorted(self.pm.list_name_plugin(), key=lambda pair: pair[0]):
            if plugin is None:
                continue
            dist = self.distributions.get(name)
            hooks = tuple(sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or []))
            infos.append(
                PluginInfo(
                    name=name,
                    distribution=_metadata(dist, "Name"),
                    version=_metadata(dist, "Version") if dist is not None else _module_version(plugin),
                    hooks=hooks,
                )
            )
        return infos

    def report_problems(self, stream: Any = None) -> None:
        stream = sys.stderr if stream is None else stream
        for problem in self.problems:
            print(problem.line(), file=stream)


def _describe(exc: BaseException) -> str:
    """The error on one line. All of its lines, joined: pluggy gives the reason after the first one
    (``Plugin 'x' for hook 'y'`` / ``Argument(s) {'z'} are declared in the hookimpl but ...``)."""
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    if len(text) > 500:
        text = text[:497] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _metadata(dist: importlib.metadata.Distribution | None, key: str) -> str | None:
    """A metadata field, ``None`` when missing: a ``*.dist-info`` without ``METADATA`` must not stop the loop
    (newer Pythons raise ``KeyError`` from ``metadata[key]`` for a missing field)."""
    metadata = dist.metadata if dist is not None else None  # newer Pythons: None when the file is missing
    value = metadata.get(key) if metadata is not None else None
    return value if isinstance(value, str) else None


def _module_version(plugin: object) -> str | None:
    version = getattr(plugin, "__version__", None)
    return version if isinstance(version, str) else None
