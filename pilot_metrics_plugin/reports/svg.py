"""The dashboard's charts as inline SVG, written as text with the standard library alone.

Why drawn here and not by a charting library: no dependency to vendor or audit, vectors that print sharply,
and a page that needs no script, so it works from a disk or an e-mail attachment.

The charts stretch to any width while their text keeps its size: an SVG has a fixed height in pixels and no
``viewBox``; horizontal positions are percentages of the width (which ``rect``, ``line``, ``circle`` and
``text`` accept) and vertical ones are pixels. Axis values sit just above their grid lines at the left
edge, so no gutter of fixed width is needed. Every mark carries a ``<title>`` (a tooltip with its number),
and every chart ``role="img"`` with an ``aria-label`` and a ``<title>``; the numbers are also in the table
the page puts under each chart. Every text that reaches the markup goes through ``esc``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise

Format = Callable[[int], str]

PLOT_TOP_PX = 20
PLOT_HEIGHT_PX = 180
AXIS_PX = 24
GRID_LINES = 4
"""Every value axis has four equal steps, so a second axis (a rate) can share its grid lines."""
_DURATION_STEPS_MS = tuple(
    seconds * 1000
    for seconds in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
)


def esc(text: object) -> str:
    """Text for element content and double-quoted attribute values."""
    return escape(str(text), quote=True)


@dataclass(frozen=True)
class Series:
    """One colour of a chart: a name for its legend and one value per x position (``None``: no value)."""

    name: str
    color: str
    values: Sequence[int | None]


def nice_top(largest: int, kind: str = "count") -> int:
    """The top of an axis of four equal steps that holds ``largest``: each step a round number (of
    durations, a round duration)."""
    if largest <= 0:
        return GRID_LINES
    if kind == "duration":
        for step in _DURATION_STEPS_MS:
            if step * GRID_LINES >= largest:
                return step * GRID_LINES
        day = _DURATION_STEPS_MS[-1]
        return -(-largest // (day * GRID_LINES)) * day * GRID_LINES
    raw = -(-largest // GRID_LINES)  # the smallest whole step that reaches ``largest``
    magnitude = 1
    while magnitude * 10 <= raw:
        magnitude *= 10
    for factor in (1, 2, 5, 10):
        step = factor * magnitude
        if step >= raw:
            return step * GRID_LINES
    return 10 * magnitude * GRID_LINES  # pragma: no cover - the loop always returns


def _pct(value: float) -> str:
    return f"{value:.3f}%"


def _y(value: int, top: int) -> float:
    return PLOT_TOP_PX + PLOT_HEIGHT_PX * (1 - value / top)


def _open(label: str, title: str, height: int) -> list[str]:
    return [
        f'<svg class="chart" role="img" aria-label="{esc(label)}" width="100%" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
    ]


def _grid(top: int) -> list[str]:
    parts = ['<g class="grid">']
    for step in range(GRID_LINES + 1):
        y = _y(top * step // GRID_LINES, top)
        css = "base" if step == 0 else "rule"
        parts.append(f'<line x1="0" x2="100%" y1="{y:.1f}" y2="{y:.1f}" class="{css}"/>')
    parts.append("</g>")
    return parts


def _axis_labels(top: int, fmt: Format, right: Callable[[int], str] | None = None) -> list[str]:
    """The values of the grid lines, drawn over the marks (with a halo, in the CSS) so a bar never hides
    them: at the left, and a second axis's at the right."""
    parts = ['<g class="y-labels">']
    for step in range(1, GRID_LINES + 1):  # the base line needs no label
        value = top * step // GRID_LINES
        y = _y(value, top) - 4
        parts.append(f'<text x="0" y="{y:.1f}" class="axis">{esc(fmt(value))}</text>')
        if right is not None:
            parts.append(
                f'<text x="100%" y="{y:.1f}" class="axis" text-anchor="end">{esc(right(step))}</text>'
            )
    parts.append("</g>")
    return parts


def _x_labels(labels: Sequence[str], every: int) -> list[str]:
    """Labels under the bands; every ``every``-th is kept in a narrow window (``minor`` ones are hidden)."""
    band = 100 / max(1, len(labels))
    y = PLOT_TOP_PX + PLOT_HEIGHT_PX + 16
    parts = ['<g class="x-labels">']
    wide_every = max(1, -(-every // 2))
    for index, label in enumerate(labels):
        if index % wide_every:
            continue
        minor = " minor" if index % every else ""
        parts.append(
            f'<text x="{_pct(band * (index + 0.5))}" y="{y}" text-anchor="middle" class="axis{minor}">'
            f"{esc(label)}</text>"
        )
    parts.append("</g>")
    return parts


def _label_every(n: int) -> int:
    """Keep a label on every k-th of n bands so that about eight show in a narrow window."""
    return max(1, -(-n // 8))


def stacked_bars(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    label: str,
    fmt: Format,
    tips: Sequence[str] | None = None,
    rate: Sequence[float | None] | None = None,
) -> str:
    """One stacked bar per label (a day), the series bottom up; with ``rate``, a line of the success rate
    (0-100%) on a right axis that shares the grid lines."""
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    top = nice_top(max(totals, default=0))
    height = PLOT_TOP_PX + PLOT_HEIGHT_PX + AXIS_PX
    right = (lambda step: f"{100 * step // GRID_LINES}%") if rate is not None else None
    parts = _open(label, title, height) + _grid(top)
    band = 100 / max(1, len(labels))
    width = band * 0.72
    parts.append('<g class="bars">')
    for index, day in enumerate(labels):
        base = 0
        x = band * index + (band - width) / 2
        for s in series:
            value = s.values[index] or 0
            if value <= 0:
                continue
            y_top, y_base = _y(base + value, top), _y(base, top)
            tip = f"{day} · {s.name}: {fmt(value)}"
            parts.append(
                f'<rect x="{_pct(x)}" y="{y_top:.1f}" width="{_pct(width)}" '
                f'height="{max(0.5, y_base - y_top):.1f}" '
                f'fill="{s.color}" data-series="{esc(s.name)}"><title>{esc(tip)}</title></rect>'
            )
            base += value
        if tips is not None and tips[index]:
            # A note above the bar (e.g. costs still unknown), so a missing figure is not read as zero.
            parts.append(
                f'<text x="{_pct(band * (index + 0.5))}" y="{_y(base, top) - 4:.1f}" text-anchor="middle" '
                f'class="note">{esc(tips[index])}</text>'
            )
    parts.append("</g>")
    if rate is not None:
        parts += _line_marks(
            Series("success rate", "#1b1f24", [None if r is None else round(r * 10_000) for r in rate]),
            labels,
            10_000,
            lambda v: f"{v / 100:.1f}%",
            css="rate",
        )
    parts += _axis_labels(top, fmt, right)
    parts += _x_labels(labels, _label_every(len(labels)))
    parts.append("</svg>")
    return "\n".join(parts)


def _line_marks(s: Series, labels: Sequence[str], top: int, fmt: Format, css: str = "line") -> list[str]:
    """Segments between neighbouring values (a gap where a day has none) and a marker on each value."""
    band = 100 / max(1, len(labels))
    points = [
        (index, band * (index + 0.5), _y(value, top), labels[index], value)
        for index, value in enumerate(s.values)
        if value is not None
    ]
    parts = [f'<g class="{css}" data-series="{esc(s.name)}">']
    for (i1, x1, y1, _, _), (i2, x2, y2, _, _) in pairwise(points):
        if i2 == i1 + 1:
            parts.append(
                f'<line x1="{_pct(x1)}" y1="{y1:.1f}" x2="{_pct(x2)}" y2="{y2:.1f}" stroke="{s.color}"/>'
            )
    radius = 4 if len(labels) <= 31 else 2.5 if len(labels) <= 92 else 1.5  # markers must not merge
    for _, x, y, day, value in points:
        parts.append(
            f'<circle cx="{_pct(x)}" cy="{y:.1f}" r="{radius}" fill="{s.color}">'
            f"<title>{esc(f'{day} · {s.name}: {fmt(value)}')}</title></circle>"
        )
    parts.append("</g>")
    return parts


def lines(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    label: str,
    fmt: Format,
    kind: str = "count",
) -> str:
    """One line per series across the labels, with a marker on each value."""
    largest = max((v for s in series for v in s.values if v is not None), default=0)
    top = nice_top(largest, kind)
    height = PLOT_TOP_PX + PLOT_HEIGHT_PX + AXIS_PX
    parts = _open(label, title, height) + _grid(top)
    for s in series:
        parts += _line_marks(s, labels, top, fmt)
    parts += _axis_labels(top, fmt)
    parts += _x_labels(labels, _label_every(len(labels)))
    parts.append("</svg>")
    return "\n".join(parts)


def hbars(items: Sequence[tuple[str, int, str]], *, title: str, label: str, color: str) -> str:
    """One horizontal bar per ``(name, value, text)``: the name above its bar, the text after its end."""
    row_px = 38
    max_width_pct = 76  # of the longest bar: its text follows it
    height = row_px * len(items) + 6
    largest = max((value for _, value, _ in items), default=0) or 1
    parts = _open(label, title, height)
    parts.append('<g class="bars">')
    for index, (name, value, text) in enumerate(items):
        y = index * row_px
        width = max_width_pct * value / largest
        parts.append(f'<text x="0" y="{y + 13}" class="name">{esc(name)}</text>')
        parts.append(
            f'<rect x="0" y="{y + 18}" width="{_pct(max(width, 0.4))}" height="14" rx="2" fill="{color}" '
            f'data-series="{esc(name)}"><title>{esc(f"{name}: {text}")}</title></rect>'
        )
        parts.append(f'<text x="{_pct(width)}" dx="6" y="{y + 30}" class="value">{esc(text)}</text>')
    parts.append("</g></svg>")
    return "\n".join(parts)


HEAT_COLORS = (
    "#f7fbff",
    "#deebf7",
    "#c6dbef",
    "#9ecae1",
    "#6baed6",
    "#4292c6",
    "#2171b5",
    "#08519c",
    "#08306b",
)
"""A single-hue sequential scale (ColorBrewer Blues): darker is busier, readable without colour vision."""


def heat_level(value: int, largest: int) -> int:
    """The index into ``HEAT_COLORS``: 0 for none, 1 for one execution ... the last for the busiest cell."""
    if value <= 0 or largest <= 0:
        return 0
    if largest == 1:
        return len(HEAT_COLORS) // 2
    return 1 + (len(HEAT_COLORS) - 2) * (value - 1) // (largest - 1)


def heatmap(grid: Sequence[Sequence[int]], rows: Sequence[str], *, title: str, label: str, tz: str) -> str:
    """A rows x 24 grid of cells (weekdays by local hour), each shaded by its count and labelled with it."""
    left, cell_px = 9.0, 26
    width = (100 - left) / 24
    largest = max((n for row in grid for n in row), default=0)
    height = 18 + cell_px * len(rows) + 4
    parts = _open(label, title, height)
    parts.append('<g class="x-labels">')
    for hour in range(24):
        minor = "" if hour % 3 == 0 else " minor"
        parts.append(
            f'<text x="{_pct(left + width * (hour + 0.5))}" y="12" text-anchor="middle" class="axis{minor}">'
            f"{hour:02d}</text>"
        )
    parts.append("</g>")
    parts.append('<g class="cells">')
    for day, (name, counts) in enumerate(zip(rows, grid, strict=True)):
        y = 18 + day * cell_px
        parts.append(f'<text x="0" y="{y + 17}" class="name">{esc(name[:3])}</text>')
        for hour, n in enumerate(counts):
            x = left + width * hour
            level = heat_level(n, largest)
            tip = f"{name} {hour:02d}:00-{hour:02d}:59 ({tz}): {n:,} executions"
            parts.append(
                f'<rect class="cell" x="{_pct(x)}" y="{y}" width="{_pct(width)}" height="{cell_px - 2}" '
                f'fill="{HEAT_COLORS[level] if n else "#ffffff"}"><title>{esc(tip)}</title></rect>'
            )
            if n:
                dark = level >= 6  # white text from here on: contrast 5.1:1 and more
                parts.append(
                    f'<text x="{_pct(x + width / 2)}" y="{y + 16}" text-anchor="middle" '
                    f'class="count{" on-dark" if dark else ""}">{n:,}</text>'
                )
    parts.append("</g></svg>")
    return "\n".join(parts)
