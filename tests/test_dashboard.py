"""The dashboard's pages without a warehouse: their exposures, their window, their titles, and pages over
marts with no rows (a deployment without some feed), drawn in headless chromium.

tests/test_end_to_end.py draws the pages of a real night's marts and checks their numbers."""

from __future__ import annotations

import re
from collections import defaultdict
from contextlib import nullcontext
from datetime import date

import yaml
from salesdw import paths
from salesdw.publish.dashboard import context, draw, window, write
from salesdw.publish.dashboard.pages import PAGES

# what a chart's title names as its unit, in parentheses: the currency, a percentage, a count, ...
UNITS = ("{currency}", "%", "count", "days", "hours", "1–5", "covered")


class Result:
    def __init__(self, rows: list[dict]):
        self.rows = rows

    def fetchall(self) -> list[dict]:
        return self.rows

    def fetchone(self) -> dict:
        return defaultdict(lambda: None)  # an aggregate over no rows: every column null


class EmptyMarts:
    """Stands in for a connection to a warehouse whose marts have no rows; `answers` gives rows for the
    queries of some charts."""

    def __init__(self, answers: dict[str, list[dict]] | None = None):
        self.answers = answers or {}

    def execute(self, sql, params=None) -> Result:
        return Result(self.answers.get(sql, []))

    def transaction(self):
        return nullcontext()


def test_each_page_is_an_exposure_depending_on_the_marts_it_reads():
    exposures = {}
    for path in (paths.DBT_PROJECT_DIR / "models").rglob("*.yml"):
        for exposure in (yaml.safe_load(path.read_text()) or {}).get("exposures", []):
            exposures[exposure.get("url")] = exposure
    for page in PAGES:
        exposure = exposures.get(page.file)
        assert exposure and exposure["type"] == "dashboard", f"no dbt exposure with url {page.file}"
        refs = {re.fullmatch(r"ref\('(\w+)'\)", ref).group(1) for ref in exposure["depends_on"]}
        assert refs == page.marts(), exposure["name"]


def test_the_window_is_the_twelve_months_ending_with_the_run_dates_month():
    assert window(date(2026, 1, 2)) == (date(2025, 2, 1), date(2026, 1, 1))
    assert window(date(2025, 12, 31)) == (date(2025, 1, 1), date(2025, 12, 1))
    assert window(date(2024, 3, 1)) == (date(2023, 4, 1), date(2024, 3, 1))


def test_every_chart_is_titled_with_its_unit_and_has_a_key_of_its_own():
    keys = [chart.key for page in PAGES for chart in page.charts]
    assert len(keys) == len(set(keys))
    for page in PAGES:
        for chart in page.charts:
            units = " ".join(re.findall(r"\(([^)]*)\)", chart.title))
            assert any(unit in units for unit in UNITS), f"{chart.key}: {chart.title!r} names no unit in parentheses"


def test_marts_without_rows_give_pages_that_say_so(browser, tmp_path):
    """Every chart of a warehouse whose marts are empty says it has no data, and every page still draws;
    a customer's name that reads as HTML stays text."""
    name = "</script><script>document.title = 'injected'</script> & Co"
    top = next(chart for page in PAGES for chart in page.charts if chart.key == "top_customers")
    row = {"customer_name": name, "tier": "core", "industry": "retail", "net_margin": 12.5}
    marts = EmptyMarts({top.sql: [row | {"predicted_margin": 7.25, "order_count": 2}]})
    ctx = context(marts, "EUR")
    assert ctx["as_of"] == date.today() and ctx["value_basis"] == "margin"
    assert ctx["published"].startswith(f"Published marts as of {date.today()}")
    write(tmp_path, draw(marts, ctx), ctx)
    for page in PAGES:
        source = (tmp_path / page.file).read_text()
        drawn = browser.drawn(browser.dom(tmp_path / page.file))
        assert drawn["body"]["data-charts-drawn"] == str(len(page.charts)), (page.file, drawn["body"])
        for chart in page.charts:
            classes, read = drawn["charts"][chart.key], drawn["totals"][chart.key]
            assert classes["js-plotly-plot"] == 1 and classes["main-svg"] >= 1, chart.key
            if chart is top:
                assert read["traces"]["Orders"] == {"sum": 2, "count": 1}
                assert read["traces"]["Predicted margin, next 12 months (EUR)"] == {"sum": 7.25, "count": 1}
            else:
                assert all(trace["count"] == 0 for trace in read["traces"].values()), chart.key
        assert source.count("No data in the published marts for this period") == len(page.charts) - (top in page.charts)
    assert "injected" not in browser.dom(tmp_path / "customers.html").split("<title>")[1].split("</title>")[0]
