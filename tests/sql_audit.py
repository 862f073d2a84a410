"""Reading the source for SQL built from values: the static half of "every SQL statement is parameterized".

Every ``execute`` / ``executemany`` / ``executescript`` call's statement is followed back through the code: an
f-string, ``+``, ``%``, ``.join`` or ``.format`` may put together only literals, UPPER_CASE constants,
integers (``{n:d}``, ``len(...)``) and pieces that are themselves built the same way, found through local and
module assignments, function returns (across the packages' imports) and, for a function's parameter, the
argument every caller passes. A value that can come from outside (a parameter nobody is seen passing, an
attribute, any other call's result) is reported with where it entered the SQL.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

EXECUTE_METHODS = frozenset({"execute", "executemany", "executescript"})
NUMBER_FUNCTIONS = frozenset({"len", "int", "abs", "round", "sum", "bool"})
"""Whatever they are given, they give a number (or raise): safe in SQL text."""

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _is_constant_name(name: str) -> bool:
    bare = name.strip("_")
    return bool(bare) and bare.upper() == bare and any(c.isalpha() for c in bare)


def _target_names(target: ast.expr) -> Iterator[tuple[tuple[int, ...], str]]:
    """``(index path, name)`` for each name a target binds: ``a`` is ``((), 'a')``, ``(a, (b, c))`` gives
    ``b`` as ``((1, 0), 'b')``."""
    if isinstance(target, ast.Name):
        yield (), target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for index, element in enumerate(target.elts):
            for path, name in _target_names(element):
                yield (index, *path), name
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


@dataclass(frozen=True)
class Bound:
    """What a name was bound to: ``value``, or element ``path`` of it (tuple unpacking)."""

    value: ast.expr
    path: tuple[int, ...] = ()
    iterated: bool = False
    """Bound by ``for`` or a comprehension: an item of ``value``."""


@dataclass
class Module:
    name: str
    label: str
    tree: ast.Module
    constants: dict[str, list[Bound]] = field(default_factory=dict)
    functions: dict[str, FunctionNode] = field(default_factory=dict)
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)

    @classmethod
    def parse(cls, name: str, source: str, label: str, packages: tuple[str, ...]) -> Module:
        module = cls(name, label, ast.parse(source))
        for node in ast.walk(module.tree):
            for child in ast.iter_child_nodes(node):
                module.parents[child] = node
        for node in module.tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for path, bound in _target_names(target):
                        module.constants.setdefault(bound, []).append(Bound(node.value, path))
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in packages:
                for alias in node.names:
                    module.imports[alias.asname or alias.name] = (node.module, alias.name)
        for node in ast.walk(module.tree):  # functions and methods, by name
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                module.functions.setdefault(node.name, node)
        return module

    def enclosing_function(self, node: ast.AST) -> FunctionNode | None:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return node
        return None


def _locals(function: FunctionNode) -> dict[str, list[Bound]]:
    found: dict[str, list[Bound]] = {}
    for node in ast.walk(function):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for path, name in _target_names(target):
                    found.setdefault(name, []).append(Bound(node.value, path))
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            found.setdefault(node.target.id, []).append(Bound(node.value))
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            for path, name in _target_names(node.target):
                found.setdefault(name, []).append(Bound(node.iter, path, iterated=True))
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    for path, name in _target_names(item.optional_vars):
                        found.setdefault(name, []).append(Bound(item.context_expr, path))
        elif (  # list.append(x), list.extend(xs), list.insert(i, x): x goes into the list
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.attr in ("append", "extend", "insert")
            and node.args
        ):
            found.setdefault(node.func.value.id, []).append(Bound(node.args[-1]))
    return found


def _parameters(function: FunctionNode) -> list[str]:
    args = function.args
    return [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]


def _element(value: ast.expr, path: tuple[int, ...]) -> ast.expr:
    """Element ``path`` of a tuple display (through conditional expressions), else the whole value."""
    for index in path:
        if isinstance(value, (ast.Tuple, ast.List)) and index < len(value.elts):
            value = value.elts[index]
        elif isinstance(value, ast.IfExp):
            return ast.IfExp(
                test=value.test, body=_element(value.body, path), orelse=_element(value.orelse, path)
            )
        else:
            return value
    return value


@dataclass
class Audit:
    """The modules of the packages, and the problems found in their SQL."""

    modules: dict[str, Module]
    problems: list[str] = field(default_factory=list)
    statements: int = 0
    _checked: set[tuple[object, ...]] = field(default_factory=set)

    @classmethod
    def of_sources(cls, sources: Iterable[tuple[str, str, str]], packages: tuple[str, ...]) -> Audit:
        """``sources``: ``(module name, source text, label for messages)``."""
        return cls({name: Module.parse(name, text, label, packages) for name, text, label in sources})

    @classmethod
    def of_packages(cls, root: Path, packages: tuple[str, ...]) -> Audit:
        sources = []
        for package in packages:
            for path in sorted((root / package).rglob("*.py")):
                parts = path.relative_to(root).with_suffix("").parts
                name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                sources.append((name, path.read_text(encoding="utf-8"), str(path.relative_to(root))))
        return cls.of_sources(sources, packages)

    def run(self) -> Audit:
        for module in self.modules.values():
            for node in ast.walk(module.tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in EXECUTE_METHODS
                    and node.args
                ):
                    self.statements += 1
                    where = f"{module.label}:{node.lineno}"
                    for problem in self._expr(node.args[0], module, module.enclosing_function(node), {}, ()):
                        self.problems.append(f"{where}: {problem}")
        return self

    # -- following values back ------------------------------------------------------------------------------

    def _expr(
        self,
        expr: ast.expr | None,
        module: Module,
        function: FunctionNode | None,
        scope: dict[str, Bound],
        path: tuple[int, ...],
    ) -> list[str]:
        """Problems of ``expr`` (element ``path`` of it) as SQL text, in ``function`` of ``module``."""
        if expr is None or isinstance(expr, ast.Constant):
            return []
        here = f"{module.label}:{getattr(expr, 'lineno', '?')}"
        if path and isinstance(expr, (ast.Tuple, ast.List, ast.IfExp)):
            element = _element(expr, path)
            if element is not expr:
                return self._expr(element, module, function, scope, ())
        again = lambda e, p=(), s=scope: self._expr(e, module, function, s, p)  # noqa: E731
        if isinstance(expr, ast.JoinedStr):
            problems = []
            for value in expr.values:
                if isinstance(value, ast.FormattedValue):
                    spec = value.format_spec
                    is_int = isinstance(spec, ast.JoinedStr) and ast.unparse(spec).strip("f'\"") == "d"
                    if not is_int:
                        problems += again(value.value)
            return problems
        if isinstance(expr, ast.Name):
            return self._name(expr.id, expr, module, function, scope, path)
        if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
            return [p for element in expr.elts for p in again(element)]
        if isinstance(expr, ast.Starred):
            return again(expr.value)
        if isinstance(expr, ast.BinOp):
            return again(expr.left) + again(expr.right)
        if isinstance(expr, ast.BoolOp):  # `a or b` is one of them
            return [p for value in expr.values for p in again(value, path)]
        if isinstance(expr, ast.UnaryOp):
            return again(expr.operand)
        if isinstance(expr, ast.IfExp):
            return again(expr.body, path) + again(expr.orelse, path)
        if isinstance(expr, ast.Subscript):
            index = expr.slice
            if isinstance(index, ast.Constant) and isinstance(index.value, int):
                return again(expr.value, (index.value, *path))
            return again(expr.value)
        if isinstance(expr, (ast.GeneratorExp, ast.ListComp, ast.SetComp)):
            inner = dict(scope)
            for generator in expr.generators:
                for name_path, name in _target_names(generator.target):
                    inner[name] = Bound(generator.iter, name_path, iterated=True)
            return again(expr.elt, (), inner)
        if isinstance(expr, ast.Call):
            return self._call(expr, module, function, scope, path)
        if isinstance(expr, ast.Attribute) and _is_constant_name(expr.attr):
            return []
        return [f"{here}: a value from {type(expr).__name__} `{ast.unparse(expr)[:80]}`"]

    def _call(
        self,
        call: ast.Call,
        module: Module,
        function: FunctionNode | None,
        scope: dict[str, Bound],
        path: tuple[int, ...],
    ) -> list[str]:
        here = f"{module.label}:{call.lineno}"
        callee = call.func
        arguments = [*call.args, *(keyword.value for keyword in call.keywords)]

        def again(e: ast.expr) -> list[str]:
            return self._expr(e, module, function, scope, ())

        if isinstance(callee, ast.Name) and callee.id in NUMBER_FUNCTIONS:
            return []
        if isinstance(callee, ast.Name) and callee.id in ("str", "tuple", "list", "sorted", "min", "max"):
            return [p for argument in arguments for p in again(argument)]
        if isinstance(callee, ast.Attribute) and callee.attr in ("join", "format", "strip", "lower", "upper"):
            return again(callee.value) + [p for argument in arguments for p in again(argument)]
        name = (
            callee.id
            if isinstance(callee, ast.Name)
            else callee.attr
            if isinstance(callee, ast.Attribute)
            else ""
        )
        found = self._function(name, module, method=isinstance(callee, ast.Attribute))
        if found is None:
            return [f"{here}: a value from the call `{ast.unparse(call)[:80]}`"]
        owner, target = found
        key = ("returns", owner.name, target.name, target.lineno, path)
        if key in self._checked:
            return []
        self._checked.add(key)
        problems = []
        for node in ast.walk(target):
            if isinstance(node, ast.Return) and owner.enclosing_function(node) is target:
                problems += self._expr(node.value, owner, target, {}, path)
        return problems

    def _function(self, name: str, module: Module, *, method: bool) -> tuple[Module, FunctionNode] | None:
        if not method:
            if name in module.imports:
                source, original = module.imports[name]
                imported = self.modules.get(source)
                return self._function(original, imported, method=False) if imported else None
            return (module, module.functions[name]) if name in module.functions else None
        owners = [(m, m.functions[name]) for m in self.modules.values() if name in m.functions]
        return owners[0] if len(owners) == 1 else None

    def _name(
        self,
        name: str,
        node: ast.expr,
        module: Module,
        function: FunctionNode | None,
        scope: dict[str, Bound],
        path: tuple[int, ...],
    ) -> list[str]:
        here = f"{module.label}:{getattr(node, 'lineno', '?')}"
        if name in scope:
            bound = scope[name]
            return self._bound(bound, module, function, scope, path)
        if function is not None:
            local = _locals(function).get(name)
            if local:
                key = ("local", module.name, function.name, function.lineno, name, path)
                if key in self._checked:
                    return []
                self._checked.add(key)
                return [p for bound in local for p in self._bound(bound, module, function, {}, path)]
            if name in _parameters(function):
                return self._parameter(name, module, function, path, here)
            outer = module.enclosing_function(function)  # a closure's free name
            if outer is not None:
                return self._name(name, node, module, outer, {}, path)
        if _is_constant_name(name):
            return []
        if name in module.constants:
            key = ("constant", module.name, name, path)
            if key in self._checked:
                return []
            self._checked.add(key)
            return [p for bound in module.constants[name] for p in self._bound(bound, module, None, {}, path)]
        if name in module.imports:
            source, original = module.imports[name]
            imported = self.modules.get(source)
            if imported is not None:
                return self._name(original, node, imported, None, {}, path)
        return [f"{here}: a value from `{name}`, which is not a constant"]

    def _bound(
        self,
        bound: Bound,
        module: Module,
        function: FunctionNode | None,
        scope: dict[str, Bound],
        path: tuple[int, ...],
    ) -> list[str]:
        if bound.iterated:  # an item of the iterable: element path applies to the item
            return self._expr(bound.value, module, function, scope, ())
        return self._expr(bound.value, module, function, scope, (*bound.path, *path))

    def _parameter(
        self, name: str, module: Module, function: FunctionNode, path: tuple[int, ...], here: str
    ) -> list[str]:
        """A parameter is as safe as what every caller passes for it (its default included)."""
        key = ("parameter", module.name, function.name, function.lineno, name, path)
        if key in self._checked:
            return []
        self._checked.add(key)
        parameters = _parameters(function)
        position = parameters.index(name)
        problems: list[str] = []
        defaults = function.args.defaults
        positional = [*function.args.posonlyargs, *function.args.args]
        if position < len(positional) and position >= len(positional) - len(defaults):
            problems += self._expr(
                defaults[position - (len(positional) - len(defaults))], module, function, {}, path
            )
        for kw, default in zip(function.args.kwonlyargs, function.args.kw_defaults, strict=True):
            if kw.arg == name and default is not None:
                problems += self._expr(default, module, function, {}, path)
        callers = 0
        for caller_module in self.modules.values():
            for call in ast.walk(caller_module.tree):
                if not isinstance(call, ast.Call):
                    continue
                callee = call.func
                called = (
                    callee.id
                    if isinstance(callee, ast.Name)
                    else callee.attr
                    if isinstance(callee, ast.Attribute)
                    else None
                )
                if called != function.name:
                    continue
                if isinstance(callee, ast.Name):
                    found = self._function(called, caller_module, method=False)
                    if found is None or found[1] is not function:
                        continue
                is_method = bool(parameters) and parameters[0] in ("self", "cls")
                offset = 1 if is_method and isinstance(callee, ast.Attribute) else 0
                argument: ast.expr | None = None
                for keyword in call.keywords:
                    if keyword.arg == name:
                        argument = keyword.value
                if argument is None and position - offset < len(call.args) and position - offset >= 0:
                    candidate = call.args[position - offset]
                    argument = None if isinstance(candidate, ast.Starred) else candidate
                callers += 1
                if argument is not None:
                    caller = caller_module.enclosing_function(call)
                    problems += self._expr(argument, caller_module, caller, {}, path)
        if callers == 0:
            problems.append(
                f"{here}: a value from the parameter {name!r} of {function.name}(), which no caller sets"
            )
        return problems
