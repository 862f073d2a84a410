"""The dashboard page: one self-contained HTML file drawn from the ``dashboard`` document.

Self-contained means that it opens from a disk or an e-mail attachment with nothing else: inline CSS, inline
SVG (``svg``), no script, no font, no image to fetch; a Content-Security-Policy forbids any fetch, so a page
that tried would show it. Each chart has its numbers in a table under it, its ``<title>`` and
``aria-label``; text meets WCAG AA contrast. One column in a narrow window, two on a wide screen; printed,
each section starts a page and the tables show every row. Every string from the database (project, model,
phase, category, reason, task id) goes through ``esc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pilot_metrics_plugin.reports import render
from pilot_metrics_plugin.reports.breakdowns import (
    PHASE_HEADERS,
    PROJECT_HEADERS,
    phase_cells,
    phase_total_cells,
    project_cells,
    reason_text,
)
from pilot_metrics_plugin.reports.query import filter_words
from pilot_metrics_plugin.reports.svg import Series, esc, hbars, heatmap, lines, stacked_bars

STATUS_COLORS = {"succeeded": "#0072B2", "failed": "#D55E00", "running": "#8C959F"}
"""Okabe-Ito blue and vermillion: told apart with any colour vision."""
MODEL_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
OTHER_COLOR = "#8C959F"
TOKEN_COLORS = {"input": "#0072B2", "output": "#E69F00", "cache_read": "#56B4E9", "cache_write": "#009E73"}
TOKEN_NAMES = {"input": "input", "output": "output", "cache_read": "cache read", "cache_write": "cache write"}
DURATION_COLORS = {"p50": "#0072B2", "p95": "#D55E00"}
PHASE_COLOR = "#0072B2"
FAILURE_COLOR = "#D55E00"
CSP = "default-src 'none'; style-src 'unsafe-inline'"
"""Nothing may be fetched or run: the page is what it says, wherever it is opened."""
MODELS_DRAWN = len(MODEL_COLORS)
"""The costliest models get a colour each; the others are summed as *other models*."""

CSS = """
:root { --ink: #1b1f24; --muted: #4a5560; --rule: #d0d7de; --panel: #f6f8fa; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: #fff; color: var(--ink);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 20px 40px; }
header h1 { font-size: 26px; line-height: 1.2; margin: 0 0 6px; }
.meta { color: var(--muted); margin: 0; }
.meta b { color: var(--ink); font-weight: 600; }
.tiles { list-style: none; margin: 18px 0 20px; padding: 0; display: grid; gap: 12px;
  grid-template-columns: repeat(auto-fit, minmax(165px, 1fr)); }
.tile { background: var(--panel); border: 1px solid var(--rule); border-radius: 8px; padding: 10px 14px; }
.tile .label { display: block; font-size: 13px; color: var(--muted); }
.tile .value { display: block; font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums; }
.tile .sub { display: block; font-size: 13px; color: var(--muted); }
.sections { display: grid; grid-template-columns: minmax(0, 1fr); gap: 18px; }
@media (min-width: 1100px) {
  .sections { grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); }
  .sections > .wide { grid-column: 1 / -1; }
}
section { border: 1px solid var(--rule); border-radius: 8px; padding: 14px 16px; min-width: 0; }
h2 { font-size: 18px; margin: 0 0 2px; }
.lede { margin: 0 0 8px; color: var(--muted); font-size: 14px; }
figure { margin: 0; }
.legend { list-style: none; padding: 0; margin: 0 0 4px; display: flex; flex-wrap: wrap; gap: 2px 14px;
  font-size: 13px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 5px;
  vertical-align: -1px; }
.swatch.line { height: 4px; vertical-align: 3px; }
svg.chart { display: block; overflow: visible; font-size: 12px; }
svg .axis { fill: var(--muted); font-size: 11px; paint-order: stroke; stroke: #fff; stroke-width: 3px;
  stroke-linejoin: round; }
svg .rule { stroke: #e4e8ec; stroke-width: 1; }
svg .base { stroke: #8c959f; stroke-width: 1; }
svg .line line, svg .rate line { stroke-width: 2.5; }
svg .line circle, svg .rate circle { stroke: #fff; stroke-width: 1.5; }
svg .name { fill: var(--ink); font-size: 13px; }
svg .value { fill: var(--ink); font-size: 12px; }
svg .count { fill: var(--ink); font-size: 11px; }
svg .count.on-dark { fill: #fff; }
svg .note { fill: var(--ink); font-size: 12px; font-weight: 700; }
.table-scroll { max-height: 200px; overflow: auto; margin-top: 10px; border-top: 1px solid var(--rule); }
.table-scroll:focus { outline: 2px solid #0072B2; outline-offset: 2px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-size: 12px; color: var(--muted); padding: 6px 0 2px; }
th, td { padding: 3px 6px; border-bottom: 1px solid #eaeef2; text-align: left; white-space: nowrap;
  vertical-align: top; }
th { font-weight: 600; }
thead th { white-space: normal; vertical-align: bottom; }
.num { text-align: right; }
td.wrap { white-space: normal; min-width: 14em; }
thead th { position: sticky; top: 0; background: #fff; box-shadow: inset 0 -1px 0 var(--rule); }
tfoot th, tfoot td { font-weight: 650; border-top: 1px solid var(--rule); }
.empty { color: var(--muted); font-style: italic; margin: 8px 0; }
footer { color: var(--muted); font-size: 13px; margin-top: 22px; }
@media (max-width: 640px) {
  main { padding: 14px 10px 28px; }
  header h1 { font-size: 21px; }
  .tiles { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
  .tile .value { font-size: 20px; }
  section { padding: 12px 10px; }
  svg .minor, svg .count { display: none; }
}
@media print {
  @page { margin: 12mm; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  .sections { display: block; }
  section { break-before: page; border: none; padding: 0; }
  figure, .tile, tr { break-inside: avoid; }
  .table-scroll { max-height: none; overflow: visible; border-top: none; }
  thead th { position: static; }
  thead { display: table-header-group; }
  table { font-size: 8pt; }
  th, td { padding: 2px 4px; white-space: normal; }
  td.wrap { min-width: 0; }
}
"""


# -- numbers for people --------------------------------------------------------------------------------------


def short_count(value: int) -> str:
    """``950``, ``12.5k``, ``1.27M``: three significant digits, for an axis or a tile, never a table cell."""
    if abs(value) < 1000:
        return f"{value:,}"
    for limit, suffix in ((10**3, "k"), (10**6, "M"), (10**9, "B")):
        scaled = value / limit
        if abs(scaled) < 999.5 or suffix == "B":
            digits = 2 if abs(scaled) < 9.995 else 1 if abs(scaled) < 99.95 else 0
            text = f"{scaled:.{digits}f}"
            return (text.rstrip("0").rstrip(".") if "." in text else text) + suffix
    raise AssertionError("unreachable")  # pragma: no cover


def short_usd(nano: int) -> str:
    """Dollars from nano-dollars for an axis, exactly: cents when they say it all (``$0.50``, ``$12.00``),
    more digits when a step is smaller (``$0.005``), whole dollars from $100 on."""
    value = Decimal(nano) / Decimal(10**9)
    if value == 0:
        return "$0"
    if abs(value) >= 100 and value == value.to_integral_value():
        return f"${value:,.0f}"
    if value * 100 == (value * 100).to_integral_value():
        return f"${value:,.2f}"
    return "$" + f"{value:.9f}".rstrip("0")


def short_ms(ms: int) -> str:
    """``0``, ``45s``, ``2m30s``, ``5m``, ``1h30m``: whole seconds, for axes."""
    if ms == 0:
        return "0"
    seconds = round(ms / 1000)
    if seconds < 60:
        return f"{ms / 1000:g}s" if ms < 10_000 else f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s" if seconds else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"


def _day_label(iso: str) -> str:
    return iso[5:]


def _weekday_date(iso: str) -> str:
    return f"{iso} {date.fromisoformat(iso):%a}"


# -- page parts ----------------------------------------------------------------------------------------------


def _legend(items: Sequence[tuple[str, str]], *, line: bool = False) -> str:
    swatch = "swatch line" if line else "swatch"
    entries = "".join(
        f'<li><span class="{swatch}" style="background:{color}" aria-hidden="true"></span>{esc(name)}</li>'
        for name, color in items
    )
    return f'<ul class="legend" aria-label="legend">{entries}</ul>'


def _cell(value: str, *, numeric: bool, header: bool = False, wrap: bool = False) -> str:
    classes = " ".join(c for c in ("num" if numeric else "", "wrap" if wrap else "") if c)
    attr = f' class="{classes}"' if classes else ""
    if header:
        return f'<th scope="row"{attr}>{esc(value)}</th>'
    return f"<td{attr}>{esc(value)}</td>"


def table(
    caption: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric: Sequence[bool],
    footer: Sequence[str] | None = None,
    wrap: Sequence[bool] | None = None,
) -> str:
    """A table whose first column heads its row; ``numeric`` columns are right-aligned. It scrolls in its
    own box on screen (focusable, so a keyboard can scroll it) and prints whole."""
    wrap = wrap or [False] * len(headers)
    num = ' class="num"'
    # A long model name in a heading may break after its hyphens, and nowhere else.
    head = "".join(
        f'<th scope="col"{num if numeric[i] else ""}>{esc(h).replace("-", "-<wbr>")}</th>'
        for i, h in enumerate(headers)
    )

    def line(cells: Sequence[str]) -> str:
        return (
            "<tr>"
            + "".join(
                _cell(cell, numeric=numeric[i], header=i == 0, wrap=wrap[i]) for i, cell in enumerate(cells)
            )
            + "</tr>"
        )

    body = "".join(line(row) for row in rows)
    foot = f"<tfoot>{line(footer)}</tfoot>" if footer is not None else ""
    return (
        f'<div class="table-scroll" tabindex="0" role="region" aria-label="{esc(caption)}">'
        f"<table><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody>{foot}</table></div>"
    )


def _section(key: str, heading: str, lede: str, body: str, *, wide: bool = False) -> str:
    css = ' class="wide"' if wide else ""
    return (
        f'<section id="{key}" aria-labelledby="{key}-heading"{css}>'
        f'<h2 id="{key}-heading">{esc(heading)}</h2><p class="lede">{esc(lede)}</p>{body}</section>'
    )


def _figure(legend: str, chart: str) -> str:
    return f"<figure>{legend}{chart}</figure>"


# -- sections ------------------------------------------------------------------------------------------------


def _header(doc: dict[str, Any]) -> str:
    filters = doc["summary"]["filters"]
    only = filter_words(filters["projects"], filters["model"], filters["statuses"])
    generated = datetime.fromisoformat(doc["generated_at"])
    meta = (
        f'<p class="meta">Period <b>{esc(doc["since"])}</b> to <b>{esc(doc["until"])}</b> · '
        f"time zone <b>{esc(doc['tz'])}</b> · generated <b>{esc(generated.strftime('%Y-%m-%d %H:%M'))}</b> "
        f"(UTC{esc(generated.strftime('%z')[:3] + ':' + generated.strftime('%z')[3:])})</p>"
    )
    if only:
        meta += f'<p class="meta">Only {esc(", ".join(only))}</p>'
    return f"<header><h1>Pilot metrics: insights</h1>{meta}</header>"


def _tiles(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    t = s["tokens"]
    d = s["duration_ms"]
    finished = s["executions"] - s["running"]
    cost_sub = (
        f"avg {render.usd(s['cost_avg_nano_usd'])}" if s["cost_avg_nano_usd"] is not None else "no cost known"
    )
    if s["cost_unknown_executions"]:
        cost_sub = f"+ {s['cost_unknown_executions']:,} unknown, not counted"
    projects = doc["projects"]
    busiest = projects["rows"][0]["project"] if projects["rows"] else None
    tiles = [
        (
            "Executions",
            f"{s['executions']:,}",
            f"{s['succeeded']:,} succeeded · {s['failed']:,} failed"
            + (f" · {s['running']:,} running" if s["running"] else ""),
        ),
        ("Success rate", render.rate(s["success_rate"]), f"of {finished:,} finished"),
        ("Cost", render.usd(s["cost_nano_usd"]), cost_sub),
        ("Tokens", short_count(t["total"]), f"{short_count(t['cache_read'])} of them cache reads"),
        ("Duration p50", render.ms(d["p50"]), f"p95 {render.ms(d['p95'])}"),
        ("Projects", f"{projects['total']['projects']:,}", f"busiest: {busiest}" if busiest else "none"),
    ]
    items = "".join(
        f'<li class="tile"><span class="label">{esc(label)}</span><span class="value">{esc(value)}</span>'
        f'<span class="sub">{esc(sub)}</span></li>'
        for label, value, sub in tiles
    )
    return f'<ul class="tiles" aria-label="totals">{items}</ul>'


def _executions(doc: dict[str, Any]) -> str:
    rows = list(reversed(doc["daily"]["rows"]))  # oldest first
    days = [row["date"] for row in rows]
    series = [
        Series("succeeded", STATUS_COLORS["succeeded"], [row["succeeded"] for row in rows]),
        Series("failed", STATUS_COLORS["failed"], [row["failed"] for row in rows]),
        Series("running", STATUS_COLORS["running"], [row["running"] for row in rows]),
    ]
    total = doc["daily"]["total"]
    chart = stacked_bars(
        [_day_label(d) for d in days],
        series,
        title="Executions and success rate per day",
        label="Executions per day, stacked by outcome, with the success rate as a line: "
        f"{total['executions']:,} "
        f"executions, {render.rate(total['success_rate'])} succeeded over the period.",
        fmt=lambda n: f"{n:,}",
        rate=[row["success_rate"] for row in rows],
    )
    legend = _legend(
        [(name, color) for name, color in STATUS_COLORS.items()] + [("success rate (right axis)", "#1b1f24")]
    )
    body = [
        [
            _weekday_date(row["date"]),
            f"{row['executions']:,}",
            f"{row['succeeded']:,}",
            f"{row['failed']:,}",
            f"{row['running']:,}",
            render.rate(row["success_rate"]),
        ]
        for row in rows
    ]
    footer = [
        "total",
        f"{total['executions']:,}",
        f"{total['succeeded']:,}",
        f"{total['failed']:,}",
        f"{total['running']:,}",
        render.rate(total["success_rate"]),
    ]
    numbers = table(
        "Executions per day",
        ["date", "executions", "succeeded", "failed", "running", "success rate"],
        body,
        numeric=[False, True, True, True, True, True],
        footer=footer,
    )
    return _section(
        "executions",
        "Executions and success rate per day",
        "Bars: executions by outcome. Line: succeeded over finished, on the right axis.",
        _figure(legend, chart) + numbers,
    )


def _cost(doc: dict[str, Any]) -> str:
    cost = doc["cost_by_model"]
    rows = cost["rows"]
    drawn = cost["models"][:MODELS_DRAWN]
    rest = cost["models"][MODELS_DRAWN:]
    names = drawn + (["other models"] if rest else [])
    colors = dict(zip(drawn, MODEL_COLORS, strict=False)) | {"other models": OTHER_COLOR}

    def served(name: str) -> list[str]:
        return rest if name == "other models" else [name]

    def value(row: dict[str, Any], name: str) -> int:
        return sum(row["cost_nano_usd_by_model"].get(model) or 0 for model in served(name))

    def money_cell(rows: list[dict[str, Any]], name: str) -> str:
        """Dollars when some cost is known, ``unknown`` when the model served with none known, ``-`` when it
        did not serve."""
        costs = [row["cost_nano_usd_by_model"] for row in rows]
        found = [by_model[model] for by_model in costs for model in served(name) if model in by_model]
        if any(cost is not None for cost in found):
            return render.usd(sum(cost or 0 for cost in found))
        return "unknown" if found else "-"

    series = [Series(name, colors[name], [value(row, name) for row in rows]) for name in names]
    total = sum(row["cost_nano_usd"] for row in rows)
    unknown = sum(row["cost_unknown_executions"] for row in rows)
    chart = stacked_bars(
        [_day_label(row["date"]) for row in rows],
        series,
        title="Cost per day by model",
        label=f"Cost per day, stacked by model: {render.usd(total)} over the period"
        + (f", with {unknown:,} model costs unknown and not counted." if unknown else "."),
        fmt=short_usd,
        tips=["?" if row["cost_unknown_executions"] else "" for row in rows],
    )
    legend = _legend([(name, colors[name]) for name in names])
    body = [
        [
            _weekday_date(row["date"]),
            *(money_cell([row], name) for name in names),
            render.usd(row["cost_nano_usd"]),
            f"{row['cost_unknown_executions']:,}",
        ]
        for row in rows
    ]
    footer = [
        "total",
        *(money_cell(rows, name) for name in names),
        render.usd(total),
        f"{unknown:,}",
    ]
    numbers = table(
        "Cost per day by model, known costs; unknown: how many could not be known",
        ["date", *names, "total", "unknown"],
        body,
        numeric=[False, *[True] * (len(names) + 2)],
        footer=footer,
    )
    lede = "Exact sums of the known costs per model, as the models report counts them."
    if unknown:
        lede += " A ? marks a day with a cost that is unknown (never guessed, not in the bar)."
    if not names:
        return _section(
            "cost", "Cost per day by model", lede, '<p class="empty">No model usage in this period.</p>'
        )
    return _section("cost", "Cost per day by model", lede, _figure(legend, chart) + numbers)


def _tokens(doc: dict[str, Any]) -> str:
    tokens = doc["tokens_by_kind"]
    rows = tokens["rows"]
    kinds = tokens["kinds"]
    series = [Series(TOKEN_NAMES[k], TOKEN_COLORS[k], [row[f"tokens_{k}"] for row in rows]) for k in kinds]
    total = sum(row["tokens_total"] for row in rows)
    chart = stacked_bars(
        [_day_label(row["date"]) for row in rows],
        series,
        title="Tokens per day by kind",
        label="Tokens per day, stacked by kind (input, output, cache read, cache write): "
        f"{total:,} over the period.",
        fmt=short_count,
    )
    legend = _legend([(TOKEN_NAMES[k], TOKEN_COLORS[k]) for k in kinds])
    body = [
        [_weekday_date(row["date"]), *(f"{row[f'tokens_{k}']:,}" for k in kinds), f"{row['tokens_total']:,}"]
        for row in rows
    ]
    footer = ["total", *(f"{sum(row[f'tokens_{k}'] for row in rows):,}" for k in kinds), f"{total:,}"]
    numbers = table(
        "Tokens per day by kind",
        ["date", *(TOKEN_NAMES[k] for k in kinds), "total"],
        body,
        numeric=[False, *[True] * (len(kinds) + 1)],
        footer=footer,
    )
    return _section(
        "tokens",
        "Tokens per day by kind",
        "Cache reads are cheap and usually the largest part; input and output are billed at full price.",
        _figure(legend, chart) + numbers,
    )


def _durations(doc: dict[str, Any]) -> str:
    rows = doc["durations"]["rows"]
    series = [
        Series("p50", DURATION_COLORS["p50"], [row["duration_p50_ms"] for row in rows]),
        Series("p95", DURATION_COLORS["p95"], [row["duration_p95_ms"] for row in rows]),
    ]
    d = doc["summary"]["duration_ms"]
    chart = lines(
        [_day_label(row["date"]) for row in rows],
        series,
        title="Duration per day: p50 and p95",
        label="Median (p50) and 95th percentile (p95) of the finished executions' durations per day; "
        f"over the period p50 {render.ms(d['p50'])}, p95 {render.ms(d['p95'])}.",
        fmt=short_ms,
        kind="duration",
    )
    legend = _legend([("p50 (median)", DURATION_COLORS["p50"]), ("p95", DURATION_COLORS["p95"])], line=True)
    body = [
        [
            _weekday_date(row["date"]),
            f"{row['finished']:,}",
            render.ms(row["duration_p50_ms"]),
            render.ms(row["duration_p95_ms"]),
        ]
        for row in rows
    ]
    footer = ["period", f"{sum(row['finished'] for row in rows):,}", render.ms(d["p50"]), render.ms(d["p95"])]
    numbers = table(
        "Duration per day (nearest-rank percentiles of finished executions)",
        ["date", "finished", "p50", "p95"],
        body,
        numeric=[False, True, True, True],
        footer=footer,
    )
    return _section(
        "durations",
        "Duration per day: p50 and p95",
        "Half of the executions took less than p50; all but the slowest 5% less than p95.",
        _figure(legend, chart) + numbers,
    )


def _phases(doc: dict[str, Any]) -> str:
    phases = doc["phases"]
    lede = "Total time spent in each phase by the finished executions, and its share of their duration."
    if not phases["rows"]:
        return _section(
            "phases", "Time per phase", lede, '<p class="empty">No phases recorded in this period.</p>'
        )
    items = [
        (row["phase"], row["duration_ms"], f"{render.ms(row['duration_ms'])} · {render.rate(row['share'])}")
        for row in phases["rows"]
    ]
    chart = hbars(
        items,
        title="Time per phase",
        label="Total time per phase: "
        + ", ".join(f"{name} {text}" for name, _, text in items[:5])
        + ("…" if len(items) > 5 else ""),
        color=PHASE_COLOR,
    )
    numbers = table(
        "Time per phase",
        PHASE_HEADERS,
        [phase_cells(row) for row in phases["rows"]],
        numeric=[False, True, True, True, True, True, True],
        footer=phase_total_cells(phases["total"]),
    )
    return _section("phases", "Time per phase", lede, _figure("", chart) + numbers)


def _failures(doc: dict[str, Any]) -> str:
    failures = doc["failures"]
    total = failures["total"]
    lede = (
        f"{total['executions']:,} of {total['finished']:,} finished executions did not succeed "
        f"({render.rate(total['failure_rate'])}), by category."
    )
    if not failures["rows"]:
        return _section(
            "failures",
            "Failure categories",
            lede,
            '<p class="empty">No failed executions in this period.</p>',
        )
    items = [
        (row["category"], row["executions"], f"{row['executions']:,} · {render.rate(row['share'])}")
        for row in failures["rows"]
    ]
    chart = hbars(
        items,
        title="Failure categories",
        label="Failures by category: " + ", ".join(f"{name} {text}" for name, _, text in items[:5]),
        color=FAILURE_COLOR,
    )
    body = []
    for row in failures["rows"]:
        reasons = "; ".join(f"{reason_text(r['reason'])} ({r['executions']:,})" for r in row["reasons"])
        body.append(
            [
                row["category"],
                f"{row['executions']:,}",
                render.rate(row["share"]),
                reasons,
                ", ".join(row["latest_task_ids"]),
            ]
        )
    numbers = table(
        "Failures by category, with the most frequent reasons and the latest failed tasks",
        ["category", "failures", "share", "top reasons (count)", "latest tasks"],
        body,
        numeric=[False, True, True, False, False],
        footer=["total", f"{total['executions']:,}", "", "", ""],
        wrap=[False, False, False, True, False],
    )
    return _section("failures", "Failure categories", lede, _figure("", chart) + numbers)


def _peak(doc: dict[str, Any]) -> str:
    peak = doc["peak"]
    busiest = (
        f"Busiest hour {peak['peak_hour']:02d}:00-{peak['peak_hour']:02d}:59, "
        f"busiest day {peak['peak_weekday']}."
        if peak["executions"]
        else "No executions."
    )
    chart = heatmap(
        peak["grid"],
        peak["weekdays"],
        title="Executions by weekday and local hour",
        label=f"Heat map of executions by weekday and hour ({peak['tz']}), darker is busier. {busiest}",
        tz=peak["tz"],
    )
    body = [
        [name, *(f"{n:,}" if n else "" for n in peak["grid"][day]), f"{peak['by_weekday'][day]:,}"]
        for day, name in enumerate(peak["weekdays"])
    ]
    footer = ["total", *(f"{n:,}" if n else "" for n in peak["by_hour"]), f"{peak['executions']:,}"]
    numbers = table(
        f"Executions by weekday (rows) and local hour (columns, {peak['tz']})",
        ["weekday", *(f"{hour:02d}" for hour in range(24)), "total"],
        body,
        numeric=[False, *[True] * 25],
        footer=footer,
    )
    return _section(
        "peak",
        "Peak hours",
        f"When executions start, in {peak['tz']}: weekdays down, hours across. {busiest}",
        _figure("", chart) + numbers,
        wide=True,
    )


def _projects(doc: dict[str, Any]) -> str:
    projects = doc["projects"]
    total = projects["total"]
    numbers = table(
        "Per project, busiest first",
        PROJECT_HEADERS,
        [[row["project"], *project_cells(row)] for row in projects["rows"]],
        numeric=[False, True, True, True, True, True, True, True, True, False],
        footer=[f"total ({total['projects']:,} projects)", *project_cells(total)],
    )
    return _section(
        "projects", "Projects", "Every project with executions in the period.", numbers, wide=True
    )


def render_page(doc: dict[str, Any]) -> str:
    """The whole page, as text."""
    title = f"Pilot metrics: {doc['since']} to {doc['until']} ({doc['tz']})"
    if doc["summary"]["executions"]:
        sections = "".join(
            part(doc)
            for part in (_executions, _cost, _tokens, _durations, _phases, _failures, _peak, _projects)
        )
        body = _tiles(doc) + f'<div class="sections">{sections}</div>'
    else:
        body = '<p class="empty">No executions in this period.</p>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="color-scheme" content="light">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f"<body><main>{_header(doc)}{body}"
        "<footer>Costs are exact sums of known costs in nano-dollars; a cost that could not be known is "
        "counted as unknown, never guessed. Percentiles are nearest-rank. "
        "Made by <code>pilot metrics report --html</code>."
        "</footer></main></body></html>\n"
    )
