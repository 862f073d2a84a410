"""`pilot metrics report --html`: the page as a real headless Chromium renders it (its DOM, its layout in a
narrow window and in print, the requests it makes, a screenshot), and the command's own behaviour.

Counts refer to the executions E0..E11 of ``report_dataset`` (see its docstring), over its range
2026-10-28 to 2026-11-03 in America/New_York: E1..E10 are in it, E0 and E11 are not.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from chromium import Node, devtools, dump_dom, parse, pdf_pages, png_colors, png_size, screenshot
from pilot_metrics_plugin.store import MetricsStore
from report_dataset import RANGE, SONNET, execution, pilot, write_dataset

SECTIONS = ("executions", "cost", "tokens", "durations", "phases", "failures", "peak", "projects")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("dashboard") / "metrics.db")


@pytest.fixture(scope="module")
def page(db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hookspecs.cli import main
    from report_dataset import host_for

    out = tmp_path_factory.mktemp("page") / "dashboard.html"
    assert main(["metrics", "report", *RANGE, "--html", str(out), "--db", str(db)], host=host_for(db)) == 0
    return out


@pytest.fixture(scope="module")
def dom(page: Path, tmp_path_factory: pytest.TempPathFactory) -> Node:
    """The page as Chromium parsed and loaded it, once for the module."""
    return parse(dump_dom(page, tmp_path_factory.mktemp("chromium")))


def section(dom: Node, key: str) -> Node:
    return dom.find("section", id=key)


def marks(dom: Node, key: str, tag: str = "rect") -> dict[str, int]:
    """How many marks of each series a section's chart draws."""
    counts: dict[str, int] = {}
    for svg in section(dom, key).find_all("svg"):
        for node in svg.find_all(tag):
            series = node.attrs.get("data-series") or (
                node.parent.attrs.get("data-series") if node.parent else None
            )
            if series:
                counts[series] = counts.get(series, 0) + 1
    return counts


def table_rows(dom: Node, key: str) -> list[list[str]]:
    return section(dom, key).find("table").rows()


# -- what the page shows ---------------------------------------------------------------------------------


def test_the_header_gives_the_period_the_time_zone_and_the_generation_time(dom: Node) -> None:
    header = " ".join(dom.find("header").text.split())
    assert "Period 2026-10-28 to 2026-11-03" in header
    assert "time zone America/New_York" in header
    # Generated now, shown in the report's zone with its offset (-05:00 or -04:00, by the season).
    assert re.search(r"generated \d{4}-\d\d-\d\d \d\d:\d\d \(UTC-0[45]:00\)", header), header


def test_every_section_is_on_the_page_in_order(dom: Node) -> None:
    assert [s.attrs["id"] for s in dom.find_all("section")] == list(SECTIONS)


def test_every_chart_is_an_accessible_svg_image_with_its_numbers_in_a_table_under_it(dom: Node) -> None:
    charts = dom.find_all("svg", role="img")
    # Seven charts: executions, cost, tokens, durations, phases, failures, peak (projects is a table only).
    assert len(charts) == 7
    for key in SECTIONS[:-1]:
        s = section(dom, key)
        (svg,) = s.find_all("svg", role="img")
        assert len(svg.attrs["aria-label"]) > 20, key
        assert svg.find("title").parent is svg and svg.find("title").text, key
        (table,) = s.find_all("table")
        assert table.find("caption").text and table.find_all("th", scope="col"), key
        children = [c.tag for c in s.children if isinstance(c, Node)]
        assert children.index("figure") < children.index("div"), key  # the table's box comes after the chart


def test_the_executions_chart_stacks_outcomes_per_day_with_the_success_rate(dom: Node) -> None:
    # Succeeded on 10-28 (E1) and 11-01 (E3, E5): 2 bars. Failed on 10-29 (E9), 10-30 (E10), 10-31 (E2),
    # 11-01 (E4), 11-02 (E6, E7): 5 bars. Running on 11-03 (E8): 1 bar.
    assert marks(dom, "executions") == {"succeeded": 2, "failed": 5, "running": 1}
    # A success-rate marker on each day with a finished execution: 10-28 to 11-02, six days.
    assert marks(dom, "executions", "circle") == {"success rate": 6}
    rows = {row[0]: row[1:] for row in table_rows(dom, "executions")}
    assert rows["2026-11-01 Sun"] == ["3", "2", "1", "0", "66.7%"]  # E3 E5 succeeded, E4 timed out
    assert rows["total"] == ["10", "3", "6", "1", "33.3%"]


def test_the_cost_chart_stacks_each_models_known_cost_per_day(dom: Node) -> None:
    # Sonnet on 10-28 (E1) and 11-01 (E4, E5); haiku on 10-31 (E2), 11-01 (E5), 11-02 (E7); the mystery
    # model's cost is unknown, so it has no bar, and 11-01 carries the "?" of an unknown cost.
    assert marks(dom, "cost") == {"claude-sonnet-4-6": 2, "claude-haiku-4-5-20251001": 3}
    notes = [t.text for t in section(dom, "cost").find_all("text") if t.attrs.get("class") == "note"]
    assert notes == ["?"]
    rows = {row[0]: row[1:] for row in table_rows(dom, "cost")}
    # 11-01: sonnet 2e9 (E4) + 2e9 (E5) nano $, haiku 1e9 (E5); the mystery model's row is unknown.
    assert rows["2026-11-01 Sun"] == ["$4.0000", "$1.0000", "unknown", "$5.0000", "1"]
    # Over the range: sonnet 1.5e9 + 4e9, haiku 2.5e8 + 1e9 + 1e7 nano $: as `pilot metrics models` says.
    assert rows["total"] == ["$5.5000", "$1.2600", "unknown", "$6.7600", "1"]


def test_the_tokens_chart_stacks_the_four_kinds_per_day(dom: Node) -> None:
    # 10-28: E1 has all four kinds; 10-31: E2 input and output; 11-01: all four (E3 has cache tokens);
    # 11-02: E7 input and output. 4 + 2 + 4 + 2 bars.
    assert marks(dom, "tokens") == {"input": 4, "output": 4, "cache read": 2, "cache write": 2}
    rows = {row[0]: row[1:] for row in table_rows(dom, "tokens")}
    # 11-01: E3 10/20/30/40, E4 5/5/0/0, E5 1000/2000/0/0.
    assert rows["2026-11-01 Sun"] == ["1,015", "2,025", "30", "40", "3,110"]


def test_the_duration_chart_draws_p50_and_p95_on_each_day_with_finished_executions(dom: Node) -> None:
    # Six days (10-28 to 11-02) have finished executions: a marker per day and line, five segments each.
    assert marks(dom, "durations", "circle") == {"p50": 6, "p95": 6}
    assert marks(dom, "durations", "line") == {"p50": 5, "p95": 5}
    rows = {row[0]: row[1:] for row in table_rows(dom, "durations")}
    # 11-01: 90 s, 120 s, 600 s: p50 is the 2nd (k = ceil(1.5)), p95 the 3rd (k = ceil(2.85)).
    assert rows["2026-11-01 Sun"] == ["3", "2m00s", "10m00s"]
    assert rows["2026-11-03 Tue"] == ["0", "-", "-"]  # only E8, still running


def test_value_axes_are_four_round_steps_in_the_charts_units(dom: Node) -> None:
    def labels(key: str) -> list[str]:
        return [
            t.text for t in section(dom, key).find_all("text") if t.parent.attrs.get("class") == "y-labels"
        ]

    # The largest day: $5 of cost (11-01): steps of $2; 3,110 tokens: steps of 1k; 10 minutes (E4): steps of
    # 5 minutes. The executions chart: 3 on 11-01, steps of 1, and the success rate in quarters on the right.
    assert labels("cost") == ["$2.00", "$4.00", "$6.00", "$8.00"]
    assert labels("tokens") == ["1k", "2k", "3k", "4k"]
    assert labels("durations") == ["5m", "10m", "15m", "20m"]
    assert labels("executions") == ["1", "25%", "2", "50%", "3", "75%", "4", "100%"]


def test_time_per_phase_is_a_bar_per_phase_longest_first(dom: Node) -> None:
    names = [t.text for t in section(dom, "phases").find_all("text") if t.attrs.get("class") == "name"]
    assert names == ["executing", "planning", "testing"]
    values = [t.text for t in section(dom, "phases").find_all("text") if t.attrs.get("class") == "value"]
    # executing 50 + 100 + 60 s = 3m30s of the 300 s the phased executions E1 E2 E3 E5 took: 70%.
    assert values[0] == "3m30s · 70.0%"


def test_failure_categories_are_bars_with_their_reasons_and_tasks_in_the_table(dom: Node) -> None:
    names = [t.text for t in section(dom, "failures").find_all("text") if t.attrs.get("class") == "name"]
    assert names == ["rate_limit", "cancelled", "host_died", "timeout"]
    first = table_rows(dom, "failures")[1]
    # E9 and E2 "rate limited", E10 "too many requests"; the latest first: T2 (10-31), T10, T9.
    assert first == [
        "rate_limit",
        "3",
        "50.0%",
        "API Error: 429 rate limited (2); API Error: 429 too many requests (1)",
        "T2, T10, T9",
    ]


def test_the_peak_heat_map_has_a_cell_for_each_hour_of_the_week(dom: Node) -> None:
    cells = [r for r in section(dom, "peak").find_all("rect") if r.attrs.get("class") == "cell"]
    assert len(cells) == 7 * 24
    counts = [t.text for t in section(dom, "peak").find_all("text") if "count" in t.attrs.get("class", "")]
    assert counts == ["1"] * 10  # each of the ten executions in the range started in an hour of its own
    sunday = next(row for row in table_rows(dom, "peak") if row[0] == "Sunday")
    assert (
        sunday[1:3] == ["1", "1"] and sunday[24] == "1" and sunday[25] == "3"
    )  # E3 00:30, E4 01:30, E5 23:30


def test_the_projects_table_lists_every_project_busiest_first(dom: Node) -> None:
    rows = table_rows(dom, "projects")
    assert [row[0] for row in rows[1:]] == ["shop", "api", "web", "total (3 projects)"]
    assert rows[3][8] == "$2.0000 + 1 unknown"  # web: E4 2e9 nano $, E3 unknown


# -- self-contained, safe ---------------------------------------------------------------------------------


def test_the_page_makes_no_request_beyond_its_own_file(page: Path, tmp_path: Path) -> None:
    with devtools(tmp_path) as browser:
        browser.open(page, 1280, 900)
        assert browser.requested_urls() == [page.as_uri()]
    text = page.read_text()
    assert "<script" not in text and "<link" not in text and "url(" not in text and " src=" not in text


def test_names_from_the_database_are_shown_as_text_never_run(tmp_path: Path, capsys) -> None:
    db = tmp_path / "metrics.db"
    store = MetricsStore.open(db)
    hostile = "<img src=x onerror=\"document.title='owned'\">"
    reason = '</svg></table><script>document.title="owned"</script>'
    row = execution(
        1,
        "2026-10-30 12:00",
        hostile,
        "failed",
        1000,
        (1, 1, 0, 0),
        5,
        "reported",
        category="a&b <c>",
        reason=reason,
    )
    from report_dataset import model

    store.finish_execution(row, [], [model(f'{SONNET}"><em>', (1, 1, 0, 0), 5, "reported")])
    store.close()
    out = tmp_path / "page.html"
    code, _, _ = pilot(db, ["metrics", "report", *RANGE, "--html", str(out), "--db", str(db)], capsys)
    assert code == 0
    dom = parse(dump_dom(out, tmp_path))
    assert dom.find("title").text.startswith("Pilot metrics:")
    assert not dom.find_all("img") and not dom.find_all("script") and not dom.find_all("em")
    assert table_rows(dom, "projects")[1][0] == hostile
    assert reason in section(dom, "failures").find("table").text
    assert marks(dom, "cost") == {f'{SONNET}"><em>': 1}


# -- layout: narrow, printed, on screen ------------------------------------------------------------------


def test_in_a_narrow_window_nothing_overflows_the_page_and_charts_fit_it(page: Path, tmp_path: Path) -> None:
    with devtools(tmp_path) as browser:
        browser.open(page, 375, 800)
        layout = browser.evaluate(
            "JSON.stringify({page: document.documentElement.scrollWidth, charts: "
            "[...document.querySelectorAll('svg[role=img]')].map(s => s.getBoundingClientRect().right), "
            "tiles: "
            "[...document.querySelectorAll('.tile')].map(t => Math.round(t.getBoundingClientRect().top))})"
        )
    layout = json.loads(layout)
    assert layout["page"] <= 375
    assert len(layout["charts"]) == 7 and all(right <= 375 for right in layout["charts"])
    assert layout["tiles"][0] == layout["tiles"][1] != layout["tiles"][2]  # two tiles to a row


def test_printed_each_section_starts_a_page_and_nothing_is_clipped(page: Path, tmp_path: Path) -> None:
    with devtools(tmp_path) as browser:
        browser.open(page, 720, 1000, media="print")
        layout = json.loads(
            browser.evaluate(
                "JSON.stringify({width: document.documentElement.clientWidth, "
                "breaks: [...document.querySelectorAll('section')]"
                ".map(s => getComputedStyle(s).breakBefore), "
                "right: Math.max(...[...document.querySelectorAll('svg, table')]"
                ".map(e => e.getBoundingClientRect().right)), "
                "boxes: [...document.querySelectorAll('.table-scroll')]"
                ".map(b => b.scrollHeight - b.clientHeight)})"
            )
        )
        pdf = browser.print_pdf()
    assert layout["breaks"] == ["page"] * len(SECTIONS)
    assert layout["right"] <= layout["width"]
    assert set(layout["boxes"]) == {0}  # every table shows all its rows
    # The header and totals, then one page per section: each of this small range fits on its own.
    assert pdf_pages(pdf) == 1 + len(SECTIONS)


def test_a_screenshot_of_the_page_shows_it_drawn(page: Path, tmp_path: Path) -> None:
    shot = screenshot(page, tmp_path / "shot.png", (1280, 900)).read_bytes()
    assert png_size(shot) == (1280, 900)
    assert png_colors(shot) >= 16  # text, bars of several colours, rules: not a blank page


# -- the command -----------------------------------------------------------------------------------------


def test_the_page_is_written_private_and_the_command_says_where(db: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.html"
    code, stdout, err = pilot(db, ["metrics", "report", *RANGE, "--html", str(out), "--db", str(db)], capsys)
    assert (code, stdout) == (0, "")
    assert err == f"wrote {out}: 10 executions from 2026-10-28 to 2026-11-03 (America/New_York)\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_json_gives_the_numbers_of_the_reports_it_is_drawn_from(db: Path, capsys) -> None:
    _, out, _ = pilot(db, ["metrics", "report", *RANGE, "--json", "--db", str(db)], capsys)
    doc = json.loads(out)
    for key, report in (
        ("summary", "summary"),
        ("daily", "daily"),
        ("phases", "phases"),
        ("peak", "peak"),
        ("models", "models"),
    ):
        _, same, _ = pilot(db, ["metrics", report, *RANGE, "--json", "--db", str(db)], capsys)
        assert doc[key] == json.loads(same), key


def test_an_empty_range_still_writes_a_page_that_says_so(db: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "empty.html"
    argv = [
        "metrics",
        "report",
        "--since",
        "2025-01-01",
        "--until",
        "2025-01-31",
        "--tz",
        "UTC",
        "--html",
        str(out),
        "--db",
        str(db),
    ]
    code, _, err = pilot(db, argv, capsys)
    assert code == 0 and "0 executions" in err
    assert "No executions in this period." in out.read_text()


def test_without_html_or_json_it_says_what_to_give(db: Path, capsys) -> None:
    code, out, err = pilot(db, ["metrics", "report", "--db", str(db)], capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "give --html FILE" in err


def test_an_unwritable_file_is_one_line_and_exit_2(db: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "missing-dir" / "out.html"
    code, _, err = pilot(db, ["metrics", "report", *RANGE, "--html", str(out), "--db", str(db)], capsys)
    assert code == 2 and err.count("\n") == 1 and f"cannot write {out}" in err


def test_the_docs_list_every_json_key_of_the_report_document(db: Path, capsys) -> None:
    from conftest import ROOT

    text = (ROOT / "docs" / "dashboard.md").read_text()
    match = re.search(r"JSON keys of `report`:\n((?:- .+\n)+)", text)
    assert match, "docs/dashboard.md has no 'JSON keys of `report`' list"
    _, out, _ = pilot(db, ["metrics", "report", *RANGE, "--json", "--db", str(db)], capsys)
    doc = json.loads(out)
    for line in match.group(1).splitlines():
        path, keys = line[2:].split(":", 1)
        node = doc
        if path != "top level":
            for part in path.strip("`").split("."):
                node = node[part[:-2]][0] if part.endswith("[]") else node[part]
        assert list(node) == re.findall(r"`([^`]+)`", keys), path
