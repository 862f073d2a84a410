"""The hook reference (``docs/hooks.md``), rendered from the hookspecs and payload classes themselves so the
two cannot drift apart: ``python -m hookspecs.reference > docs/hooks.md``; a test checks the committed file."""

from __future__ import annotations

import dataclasses
import inspect
import typing

from hookspecs import payloads, spec
from hookspecs.dispatch import ALL_HOOKS as HOOKS

PAYLOADS = (
    payloads.Execution, payloads.Phase, payloads.StreamEvent, payloads.ExecutionResult,
    payloads.DiffStats, payloads.PluginError,
)


def _field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (the string literal right under a field), read from the class source."""
    docs: dict[str, str] = {}
    lines = inspect.getsource(cls).splitlines()
    names = {f.name for f in dataclasses.fields(cls)}
    current = None
    for line in lines:
        stripped = line.strip()
        head = stripped.split(":", 1)[0]
        if head in names and ":" in stripped and not stripped.startswith(('"', "'")):
            current = head
        elif current and stripped.startswith('"""'):
            text = [stripped.strip('"')]
            if not (stripped.endswith('"""') and len(stripped) > 3):
                index = lines.index(line)
                for more in lines[index + 1:]:
                    text.append(more.strip().strip('"'))
                    if more.strip().endswith('"""'):
                        break
            docs[current] = " ".join(part for part in text if part)
            current = None
        else:
            current = current if stripped == "" else None
    return docs


def render() -> str:
    out = ["# Hook reference", "", "<!-- Rendered by `python -m hookspecs.reference`; do not edit by hand. -->", ""]
    out += [inspect.cleandoc(spec.__doc__ or ""), ""]
    for name in HOOKS:
        function = getattr(spec, name)
        signature = inspect.signature(function)
        params = ", ".join(f"{p}: {signature.parameters[p].annotation}" for p in signature.parameters)
        out += [f"## `{name}({params}) -> None`", "", inspect.cleandoc(function.__doc__ or ""), ""]
    out += ["# Payloads", "", inspect.cleandoc(payloads.__doc__ or ""), ""]
    for cls in PAYLOADS:
        out += [f"## `{cls.__name__}`", "", inspect.cleandoc(cls.__doc__ or ""), ""]
        docs = _field_docs(cls)
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            annotation = hints[field.name]
            shown = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
            type_text = shown or str(annotation)
            for prefix in ("typing.", "hookspecs.payloads.", "collections.abc.", "datetime."):
                type_text = type_text.replace(prefix, "")
            line = f"- `{field.name}: {type_text}`"
            if field.name in docs:
                line += f": {docs[field.name]}"
            out.append(line)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
