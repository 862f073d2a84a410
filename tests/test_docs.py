"""The hook reference in docs/ is the specs themselves: it fails when a hook and its docs drift apart."""

from __future__ import annotations

import inspect

from conftest import ROOT
from hookspecs import reference, spec
from hookspecs.dispatch import ALL_HOOKS


def test_the_committed_hook_reference_equals_the_one_rendered_from_the_specs() -> None:
    committed = (ROOT / "docs" / "hooks.md").read_text()
    assert committed == reference.render(), "run: python -m hookspecs.reference > docs/hooks.md"


def test_every_hookspec_is_documented_and_dispatched() -> None:
    specs = {name for name, fn in inspect.getmembers(spec, inspect.isfunction) if hasattr(fn, "pilot_spec")}
    assert specs == set(reference.HOOKS) == set(ALL_HOOKS)
    for name in specs:
        doc = getattr(spec, name).__doc__ or ""
        assert "called" in doc.lower() and ":param" in doc and ":return:" in doc, name
