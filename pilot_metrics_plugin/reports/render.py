"""Tables for people: tabulate in the chosen ``--format`` style, money from exact Decimal, bars for trends.

Every table is drawn from the report's JSON document, so the table and ``--json`` cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pilot_metrics_plugin.show import duration, usd

DEFAULT_STYLE = "simple"
_EIGHTHS = " ▏▎▍▌▋▊▉█"


def check_style(style: str) -> str:
    """``style`` if tabulate knows it; ``ValueError`` naming the known ones otherwise. Tabulate is imported
    only for a style other than the default, or for a table: importing it costs a report that prints none
    (an empty database) a fifth of its start-up."""
    if style == DEFAULT_STYLE:
        return style
    from tabulate import tabulate_formats

    if style not in tabulate_formats:
        raise ValueError(f"unknown table format {style!r} (one of: {', '.join(sorted(tabulate_formats))})")
    return style


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], style: str, **options: Any) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt=style, disable_numparse=True, **options)


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def rate(value: float | None) -> str:
    """A success rate as a percentage; ``-`` when nothing finished."""
    return "-" if value is None else f"{value * 100:.1f}%"


def ms(value: int | None) -> str:
    return duration(value)


def cost(nano: int, unknown: int) -> str:
    """Known cost, and how many executions' costs are missing from it."""
    if unknown and not nano:
        return f"unknown ({unknown})"
    return usd(nano) + (f" + {unknown} unknown" if unknown else "")


def bar(value: int, largest: int, width: int = 16) -> str:
    """A horizontal bar, in eighths of a character, of ``value`` against ``largest``."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value * width * 8 / largest))
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")
