"""Building the plugin manager: the specs, the installed plugins of the ``pilot`` entry-point group, each
loaded in isolation, and the environment variables that choose them (read when called, never at import).

The entry points are found the way ``importlib.metadata.entry_points`` finds them (every ``*.dist-info``
and ``*.egg-info`` directory of each ``sys.path`` entry, the first distribution of a name winning; editable
installs leave theirs there too), but without importing ``importlib.metadata``: that import, with the
``email`` and ``zipfile`` packages it pulls in, took about 20 ms of every ``pilot`` start-up. When
``sys.path`` holds a file (a zip or an egg) or ``sys.meta_path`` a finder that finds distributions of its
own, ``importlib.metadata`` finds them all instead.

- ``PILOT_LOAD_PLUGINS``: comma-separated entry-point or distribution names; only these load. Set but
  empty: none load.
- ``PILOT_DISABLE_PLUGINS``: comma-separated names that do not load.
- ``PILOT_STRICT_PLUGINS=1``: plugin errors are raised instead of reported (for plugin authors and tests).
- ``PILOT_TRACE_PLUGINS=1``: reported plugin errors come with their traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import pluggy

from hookspecs import spec
from hookspecs.dispatch import HookDispatcher
from hookspecs.markers import PROJECT_NAME

if TYPE_CHECKING:
    import importlib.metadata


class LoadProblem(NamedTuple):
    """A plugin that did not load, or loaded with a defect worth telling its author.

    Named tuples, this and ``PluginInfo``, rather than frozen dataclasses: defining a dataclass costs half a
    millisecond at every ``pilot`` start-up."""

    plugin: str
    distribution: str | None
    message: str
    loaded: bool

    def line(self) -> str:
        source = f" ({self.distribution})" if self.distribution else ""
        verb = "loaded with a problem" if self.loaded else "failed to load"
        return f"pilot: plugin {self.plugin!r}{source} {verb}: {self.message}"


class PluginInfo(NamedTuple):
    """One loaded plugin, as ``pilot plugins`` lists it."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


RESERVED_NAME = "pilot"
"""The host's built-in commands are registered as a plugin of this name."""


def _normalize(name: str) -> str:
    return _dashed(name).strip().lower()


def _dashed(name: str) -> str:
    """``name`` with each run of ``-``, ``_`` and ``.`` made one ``-`` (as ``re.sub(r"[-_.]+", "-", name)``,
    without compiling a pattern at every start-up)."""
    name = name.replace("_", "-").replace(".", "-")
    while "--" in name:
        name = name.replace("--", "-")
    return name


def _names(value: str) -> set[str]:
    return {_normalize(part) for part in value.split(",") if part.strip()}


class PluginHost:
    """The plugin manager with its dispatcher and what loading it found.

    A plain class, not a dataclass: it is built once per process, and a dataclass costs a fraction of a
    millisecond to define at every ``pilot`` start-up."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        dispatcher: HookDispatcher,
        problems: list[LoadProblem] | None = None,
        distributions: dict[str, PluginDistribution] | None = None,
    ) -> None:
        self.pm = pm
        self.dispatcher = dispatcher
        self.problems: list[LoadProblem] = [] if problems is None else problems
        self.distributions: dict[str, PluginDistribution] = {} if distributions is None else distributions
        self._dist_names: dict[str, str | None] = {}

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
        pending: list[tuple[str, object, PluginDistribution | None]] = [
            (name, plugin, None) for name, plugin in plugins
        ]
        if load_entrypoints:
            pending += host._load_entrypoints(env, taken={name for name, _, _ in pending})
        # Every plugin's own hookspecs first: an implementation of a hook that another plugin adds must be
        # checked against that spec whichever order the environment lists the plugins in.
        pending = [entry for entry in pending if host._add_specs(entry[0], entry[1], entry[2])]
        for name, plugin, dist in pending:
            if host._register(name, plugin, dist.name if dist is not None else None) and dist is not None:
                host.distributions[name] = dist
        host._check_unknown_hooks()
        host.dispatcher.refresh()
        host.dispatcher.call("on_host_ready", host=host)
        return host

    def _load_entrypoints(
        self, env: Mapping[str, str], taken: set[str]
    ) -> list[tuple[str, object, PluginDistribution | None]]:
        """Import the chosen plugins of the entry-point group, each on its own: a broken one is reported."""
        loaded: list[tuple[str, object, PluginDistribution | None]] = []
        allow = _names(env["PILOT_LOAD_PLUGINS"]) if "PILOT_LOAD_PLUGINS" in env else None
        deny = _names(env.get("PILOT_DISABLE_PLUGINS", ""))
        for ep_name, target, dist in entry_points(PROJECT_NAME):
            dist_name = dist.name
            names = {_normalize(ep_name)} | ({_normalize(dist_name)} if dist_name else set())
            if (allow is not None and not names & allow) or names & deny:
                continue
            if ep_name == RESERVED_NAME:
                self.problems.append(LoadProblem(ep_name, dist_name, "the name 'pilot' is the host's own", loaded=False))
                continue
            if ep_name in taken:
                self.problems.append(
                    LoadProblem(ep_name, dist_name, "another plugin already has this name", loaded=False)
                )
                continue
            try:
                plugin = load_entry_point(target)
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the others
                self.problems.append(LoadProblem(ep_name, dist_name, _describe(exc), loaded=False))
                continue
            taken.add(ep_name)
            loaded.append((ep_name, plugin, dist))
        return loaded

    def _add_specs(self, name: str, plugin: object, dist: PluginDistribution | None) -> bool:
        """Add the hookspecs a plugin declares (``pilot_hookspecs``); ``False`` if they are broken."""
        specs = getattr(plugin, "pilot_hookspecs", None)
        if specs is None:
            return True
        try:
            self.pm.add_hookspecs(specs)
        except Exception as exc:  # noqa: BLE001 - a broken spec module is that plugin's problem only
            self.problems.append(LoadProblem(name, dist.name if dist else None, _describe(exc), loaded=False))
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
            self.dispatcher.call_one(name, "on_host_ready", host=self)

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
                    distribution=dist.name if dist is not None else None,
                    version=dist.version if dist is not None else _module_version(plugin),
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


# -- installed distributions and their entry points ----------------------------------------------------------


class PluginDistribution:
    """The installed distribution that provides a plugin, as found on ``sys.path``: its metadata directory;
    ``name`` and ``version`` are read from its ``METADATA`` (``PKG-INFO`` for an ``*.egg-info``) when first
    asked, each ``None`` when the file or the field is missing."""

    __slots__ = ("_fields", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fields: dict[str, str] | None = None

    @property
    def name(self) -> str | None:
        return self._field("name")

    @property
    def version(self) -> str | None:
        return self._field("version")

    def _field(self, key: str) -> str | None:
        if self._fields is None:
            self._fields = _read_headers(self.path)
        return self._fields.get(key)

    def __repr__(self) -> str:
        return f"PluginDistribution({self.path!r})"


class _FoundByImportlib(PluginDistribution):
    """A distribution that ``importlib.metadata`` found, when the scan of ``sys.path`` could not."""

    __slots__ = ("dist",)

    def __init__(self, dist: importlib.metadata.Distribution) -> None:
        super().__init__(str(getattr(dist, "_path", "")))
        self.dist = dist

    def _field(self, key: str) -> str | None:
        return _metadata(self.dist, key.capitalize())


def entry_points(group: str) -> list[tuple[str, str, PluginDistribution]]:
    """``(name, target, distribution)`` of each entry point of ``group``, in the order and with the duplicates
    resolved as ``importlib.metadata.entry_points(group=group)`` gives them."""
    found = _scan_sys_path(group)
    if found is None:
        import importlib.metadata

        return [
            (ep.name, ep.value, _FoundByImportlib(ep.dist))  # type: ignore[arg-type]
            for ep in importlib.metadata.entry_points(group=group)
        ]
    return found


def _scan_sys_path(group: str) -> list[tuple[str, str, PluginDistribution]] | None:
    """The entry points of ``group`` in the metadata directories of ``sys.path``; ``None`` when
    ``importlib.metadata`` could see distributions this cannot (see the module's docstring)."""
    from importlib.machinery import PathFinder

    if any(getattr(f, "find_distributions", None) is not None and f is not PathFinder for f in sys.meta_path):
        return None
    found: list[tuple[str, str, PluginDistribution]] = []
    seen: set[str] = set()
    for entry in sys.path:
        if not isinstance(entry, str) or entry.lower().endswith(".egg"):
            return None
        root = entry or "."
        try:
            children = os.listdir(root)
        except NotADirectoryError:  # a zip archive: importlib.metadata reads those
            return None
        except OSError:
            continue
        # As importlib.metadata: per entry, the directories grouped by normalized name, first seen first.
        by_name: dict[str, str] = {}
        for child in children:
            lowered = child.lower()
            if lowered.endswith((".dist-info", ".egg-info")):
                by_name.setdefault(_distribution_key(lowered.rpartition(".")[0].partition("-")[0]), child)
        for key, child in by_name.items():
            if key in seen:
                continue  # a distribution of that name was found earlier on sys.path: it is the one installed
            seen.add(key)
            path = os.path.join(root, child) if entry else child
            targets = _read_entry_points(path, group)
            if targets:
                dist = PluginDistribution(path)
                found.extend((name, target, dist) for name, target in targets)
    return found


def _distribution_key(name: str) -> str:
    """A distribution name as ``importlib.metadata`` compares them (its ``Prepared.normalize``)."""
    return _dashed(name).lower().replace("-", "_")


def _read_entry_points(path: str, group: str) -> list[tuple[str, str]]:
    """The ``name = target`` lines of the ``[group]`` section of ``path/entry_points.txt``."""
    try:
        with open(os.path.join(path, "entry_points.txt"), encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError):
        return []
    if f"[{group}]" not in text:  # most distributions: no pilot plugin
        return []
    section = None
    targets = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
        elif section == group:
            name, equals, target = line.partition("=")
            if equals:
                targets.append((name.strip(), target.strip()))
    return targets


def _read_headers(path: str) -> dict[str, str]:
    """``name`` and ``version`` from the headers of ``path/METADATA`` (else ``path/PKG-INFO``, as
    ``importlib.metadata`` reads them: a missing or empty file is skipped)."""
    for file_name in ("METADATA", "PKG-INFO"):
        fields: dict[str, str] = {}
        try:
            with open(os.path.join(path, file_name), encoding="utf-8") as file:
                lines = iter(file)
                first = next(lines, "")
                if not first:
                    continue
                for line in (first, *lines):
                    if not line.strip():
                        break  # the end of the headers
                    key, colon, value = line.partition(":")
                    key = key.strip().lower()
                    if colon and key in ("name", "version") and key not in fields:
                        fields[key] = value.strip()
        except (OSError, UnicodeDecodeError):
            continue
        return fields
    return {}


def load_entry_point(target: str) -> object:
    """Import the module of an entry point's target, ``module:attribute [extras]``, and return the object it
    names (``importlib.metadata.EntryPoint.load``; a name that is not a module's is left to the import to
    refuse)."""
    module, colon, attributes = target.partition("[")[0].partition(":")
    module, attributes = module.strip(), attributes.strip()
    if not module or (colon and not attributes):
        raise ValueError(f"not a module or module:attribute: {target!r}")
    value: Any = importlib.import_module(module)
    for attribute in filter(None, attributes.split(".")):
        value = getattr(value, attribute)
    return value


def _module_version(plugin: object) -> str | None:
    version = getattr(plugin, "__version__", None)
    return version if isinstance(version, str) else None
