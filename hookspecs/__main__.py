"""``python -m hookspecs`` is ``pilot``."""

from hookspecs.cli import entry

entry()
