"""The built-in dashboard: the published marts as static HTML pages (`salesdw dashboard --out DIR`, and
the nightly DAG's `dashboard` task after each publication).

`DIR/index.html` is the sales leader's page; sales ops, finance, service, customers and the rep
scorecard are pages beside it, linked by a nav bar. Each chart is one SQL query over schema `marts`,
aggregated on the server, and a plotly figure (pages.py). The pages open from disk with no network:
plotly.js is written once into DIR, as `plotly-<version>.min.js` (written only when missing: a
version of its own name, so an upgrade of plotly never leaves pages on an older bundle), and every
page loads it by a relative path. Inlined, the 4.8 MB bundle would be in each of the six pages
(29 MB a night instead of 5) and a browser would parse it again on every page it opens.

Everything is read in one read-only, repeatable-read transaction: a publication that happens while
the dashboard is made cannot mix two nights in it. The CLI reads as the BI login, as `salesdw
export` does; the night's task as the transformer, the login it has (publish's own), which is not
in salesdw_pii either, so person data (rep names) reaches the pages masked just as BI sees it. The
header says when the marts were published: from audit.publications when the login can read it (the
transformer), else the run date the marts were built for, read from the marts themselves.
"""

from __future__ import annotations

import html
import os
import shutil
import time
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from salesdw import paths
from salesdw.publish.dashboard.pages import PAGES, Chart, Page

WINDOW_MONTHS = 12

# The marts' run date: collections' as-of date is the run date in the run date's month; in
# target_attainment a month's elapsed_days count its days up to and including the run date.
AS_OF = """
select greatest(
    (select max(as_of_date) from marts.collections),
    (select max(month + elapsed_days - 1) from marts.target_attainment where elapsed_days > 0)
) as as_of
"""
# The fiscal periods around the run date, as the rollup names them (FY2026, FY2026-Q1).
FISCAL_LABELS = """
select period_type, min(period_label) as label from marts.target_attainment_rollup
where period_type in ('fiscal_year', 'fiscal_quarter') and %s between period_start and period_end
group by 1
"""
LAST_PUBLICATION = "select published_at, data_interval from audit.publications order by published_at desc limit 1"


def write_dashboard(url: str, out: Path, *, reporting_currency: str | None = None) -> dict:
    """Write the dashboard of the marts published at `url` into `out`; what it wrote, as a dict."""
    from salesdw import deployment

    started = time.perf_counter()
    currency = reporting_currency or deployment.reporting_currency()
    with psycopg.connect(url, row_factory=dict_row) as conn:
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            ctx = context(conn, currency)
            drawn = draw(conn, ctx)
    written = write(out, drawn, ctx)
    return {
        "out": str(out),
        "index": str(out / PAGES[0].file),
        "as_of": ctx["as_of"].isoformat(),
        "pages": len(drawn),
        "charts": sum(len(charts) for _, charts in drawn),
        "bytes": written,
        "seconds": round(time.perf_counter() - started, 2),
    }


def context(conn: psycopg.Connection, currency: str) -> dict:
    """What every chart's query and title is given: the run date, the 12-month window ending with its
    month, the fiscal periods, the reporting currency, what customer value is counted on."""
    as_of = conn.execute(AS_OF).fetchone()["as_of"] or date.today()
    start, month = window(as_of)
    fiscal = {row["period_type"]: row["label"] for row in conn.execute(FISCAL_LABELS, [as_of]).fetchall()}
    basis = conn.execute("select min(value_basis) as basis from marts.customer_lifetime_value").fetchone()["basis"]
    return {
        "as_of": as_of,
        "month": month,
        "start": start,
        "window": f"{start:%Y-%m} – {month:%Y-%m}",
        "fiscal_year": fiscal.get("fiscal_year") or f"the fiscal year of {as_of}",
        "fiscal_quarter": fiscal.get("fiscal_quarter") or f"the fiscal quarter of {as_of}",
        "currency": currency,
        "value_basis": basis or "margin",
        "timezone": reporting_timezone(),
        "published": _published(conn, as_of),
    }


def window(as_of: date) -> tuple[date, date]:
    """The first and the last month (their first days) of the 12 months ending with as_of's month."""
    month = as_of.replace(day=1)
    first = month.year * 12 + month.month - WINDOW_MONTHS  # in months since year 0, counted from 0
    return date(first // 12, first % 12 + 1, 1), month


def draw(conn: psycopg.Connection, ctx: dict) -> list[tuple[Page, list]]:
    """Every page with its charts' figures."""
    return [(page, [(chart, figure(conn, chart, ctx)) for chart in page.charts]) for page in PAGES]


def write(out: Path, drawn: list[tuple[Page, list]], ctx: dict) -> int:
    """Write the pages and the plotly.js they load into `out`; the bytes the folder's dashboard takes."""
    bundle = _plotly_bundle(out)
    pages = sum(_write(out / page.file, render(page, charts, ctx, bundle.name)) for page, charts in drawn)
    return pages + bundle.stat().st_size


def reporting_timezone() -> str:
    """dbt var reporting_timezone (dbt_project.yml): the time zone the marts' months are in."""
    import yaml

    project = yaml.safe_load((paths.DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    return str(project.get("vars", {}).get("reporting_timezone") or "UTC")


def _published(conn: psycopg.Connection, as_of: date) -> str:
    made = f"made {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    try:
        with conn.transaction():  # a savepoint: the BI login may not read schema audit
            last = conn.execute(LAST_PUBLICATION).fetchone()
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedTable):
        last = None
    if last:
        return (
            f"Marts published {last['published_at'].astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            f" with the data of {last['data_interval']} · {made}"
        )
    return f"Published marts as of {as_of} (the run date they were built for) · {made}"


def figure(conn: psycopg.Connection, chart: Chart, ctx: dict):
    """The chart's figure over its query's rows, titled; a note instead of axes when there are none."""
    import plotly.graph_objects as go

    rows = conn.execute(chart.sql, ctx).fetchall()
    if any(value is not None for row in rows for value in row.values()):
        drawn = chart.draw(rows, ctx)
    else:  # a deployment without that feed, or nothing in the window yet
        drawn = go.Figure(layout={"xaxis": {"visible": False}, "yaxis": {"visible": False}})
        drawn.add_annotation(text="No data in the published marts for this period", showarrow=False, font_size=16)
    drawn.update_layout(
        title={"text": chart.title.format(**ctx), "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        template="plotly_white",
        height=drawn.layout.height or chart.height,
        margin={"t": 70, "l": 70, "r": 70, "b": 40},
        # above the plot, right: unless the chart places its own
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1}
        | drawn.layout.legend.to_plotly_json(),
        separators=".,",
    )
    return drawn


def render(page: Page, charts: list, ctx: dict, bundle: str) -> str:
    """One page: the nav bar, the header line, a div and the figure's JSON for each chart."""
    import plotly.io as pio

    current = ' aria-current="page"'
    nav = "".join(
        f'<a href="{other.file}"{current if other is page else ""}>{html.escape(other.title)}</a>' for other in PAGES
    )
    sections = []
    for chart, drawn in charts:
        # plotly writes <, / and > in strings as \u003c, \u002f, \u003e: no text of the marts ends the script
        spec = pio.to_json(drawn, validate=False)
        sections.append(
            f'<section><div id="chart-{chart.key}" class="chart"></div>'
            f'<script type="application/json" data-chart="{chart.key}">{spec}</script></section>'
        )
    script = resources.files(__package__).joinpath("page.js").read_text()
    return PAGE.format(
        title=html.escape(page.title),
        about=html.escape(page.about),
        nav=nav,
        published=html.escape(ctx["published"]),
        as_of=ctx["as_of"].isoformat(),
        currency=html.escape(ctx["currency"]),
        bundle=bundle,
        charts="\n".join(sections),
        script=script,
    )


def _plotly_bundle(out: Path) -> Path:
    from plotly.offline import get_plotlyjs_version

    out.mkdir(parents=True, exist_ok=True)
    bundle = out / f"plotly-{get_plotlyjs_version()}.min.js"
    if not bundle.is_file():
        source = resources.files("plotly").joinpath("package_data", "plotly.min.js")
        with resources.as_file(source) as path:
            shutil.copyfile(path, bundle.with_suffix(".tmp"))
        os.replace(bundle.with_suffix(".tmp"), bundle)
    return bundle


def _write(path: Path, text: str) -> int:
    """Replace the file whole: a reader never opens half a page."""
    data = text.encode()
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_bytes(data)
    os.replace(partial, path)
    return len(data)


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · salesdw</title>
<style>
body {{ margin: 0; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; background: #f6f7f9; }}
nav {{ display: flex; gap: 0.25rem; padding: 0.5rem 1rem; background: #1f2a44; }}
nav a {{ color: #dfe6f3; text-decoration: none; padding: 0.35rem 0.75rem; border-radius: 4px; }}
nav a[aria-current] {{ background: #ffffff; color: #1f2a44; font-weight: 600; }}
header, main {{ max-width: 1320px; margin: 0 auto; padding: 0 1rem; }}
header h1 {{ margin: 1rem 0 0.2rem; font-size: 1.5rem; }}
header p {{ margin: 0.2rem 0; color: #555; }}
section {{ background: #fff; margin: 1rem 0; padding: 0.5rem; border-radius: 6px; box-shadow: 0 1px 2px #0002; }}
</style>
<script src="{bundle}"></script>
</head>
<body data-as-of="{as_of}">
<nav>{nav}</nav>
<header>
<h1>{title}</h1>
<p>{about}</p>
<p class="published">{published} · amounts in {currency}</p>
</header>
<main>
{charts}
</main>
<pre id="chart-totals" hidden></pre>
<script>
{script}
</script>
</body>
</html>
"""
