"""The dashboard's pages, declared: each chart is a title, one SQL query over schema `marts` and a
function that draws its rows as a plotly figure.

The queries aggregate on the server (a chart gets a few hundred rows at most, whatever the marts'
size) and read a mart's own figures where it has them (attainment, pipeline coverage, medians); a
ratio over several rows is the mart's own definition over their sums (the column descriptions in
the marts' YAML), e.g. collection rate = Σ amount_due_collected / Σ amount_due_in_month.

Query parameters, from the context `dashboard.context` reads: `as_of` (the marts' run date), `month`
(its month's first day), `start` (the first month of the 12-month window ending with `month`),
`timezone` (dbt var reporting_timezone). Titles are formatted with the same context plus `currency`,
`window` ("2025-02 – 2026-01"), `fiscal_year`, `fiscal_quarter` and `value_basis`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import plotly.graph_objects as go

from salesdw import vocabulary

Rows = list[dict]
MONEY = ",.2f"  # d3 format of an amount in hovers and tables
PERCENT = ".1%"


@dataclass(frozen=True)
class Chart:
    key: str  # chart-<key> in its page, unique in the dashboard
    title: str  # what it shows and in which unit, formatted with the context
    sql: str
    draw: Callable[[Rows, dict], go.Figure]
    height: int = 420  # pixels; a table's follows its rows


@dataclass(frozen=True)
class Page:
    file: str
    title: str
    about: str  # one sentence under the page's title: who it is for, what it answers
    charts: tuple[Chart, ...]

    def marts(self) -> set[str]:
        """The marts the page reads (what its dbt exposure depends on)."""
        return {name for chart in self.charts for name in re.findall(r"\bmarts\.(\w+)", chart.sql)}


def num(value) -> float | None:
    """A number as JSON carries it (psycopg gives numeric columns as Decimal)."""
    return float(value) if isinstance(value, Decimal) else value


def col(rows: Rows, name: str) -> list:
    return [num(row[name]) for row in rows]


def months(rows: Rows, name: str = "month") -> list[str]:
    return [f"{row[name]:%Y-%m}" for row in rows]


def money_axis(currency: str) -> dict:
    return {"title": {"text": currency}, "tickformat": ",.0f"}


def bars(x: list, y: list, name: str, hover: str, **kwargs) -> go.Bar:
    return go.Bar(x=x, y=y, name=name, hovertemplate=f"{name}<br>%{{x}}: {hover}<extra></extra>", **kwargs)


def money_bars(x: list, y: list, name: str, currency: str, **kwargs) -> go.Bar:
    return bars(x, y, name, f"%{{y:{MONEY}}} {currency}", **kwargs)


def line(x: list, y: list, name: str, hover: str, **kwargs) -> go.Scatter:
    return go.Scatter(
        x=x, y=y, name=name, mode="lines+markers", hovertemplate=f"{name}<br>%{{x}}: {hover}<extra></extra>", **kwargs
    )


def count_markers(x: list, y: list, name: str) -> go.Scatter:
    """Counts beside amounts: markers on a second y axis (`count_axis`)."""
    return go.Scatter(
        x=x,
        y=y,
        name=name,
        mode="markers",
        yaxis="y2",
        marker={"symbol": "diamond", "size": 13, "color": "#333"},
        hovertemplate=f"{name}<br>%{{x}}: %{{y:,}}<extra></extra>",
    )


def count_axis(title: str) -> dict:
    return {"title": {"text": title}, "overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero"}


# -- sales leader -------------------------------------------------------------------------------


def _year_to_date(rows: Rows, ctx: dict) -> go.Figure:
    row = rows[0]
    target = num(row["target"])
    shown = [
        ("Bookings to date, against the year's target", row["bookings"], target),
        ("Target for the year", row["target"], None),
        ("Run-rate forecast, against the target", row["run_rate"], target),
        ("Weighted open pipeline closing this year", row["weighted_pipeline"], None),
    ]
    figure = go.Figure()
    for i, (name, value, reference) in enumerate(shown):
        delta = {"reference": reference, "relative": True, "valueformat": ".1%"} if reference else None
        figure.add_trace(
            go.Indicator(
                name=name,
                mode="number+delta" if delta else "number",
                value=num(value),
                delta=delta,
                number={"valueformat": ",.0f", "suffix": f" {ctx['currency']}"},
                title={"text": name, "font": {"size": 14}},
                domain={"row": 0, "column": i},
            )
        )
    figure.update_layout(grid={"rows": 1, "columns": len(shown), "pattern": "independent"})
    return figure


def _attainment_heatmap(rows: Rows, ctx: dict) -> go.Figure:
    cells = {(row["region"], row["product_line"], f"{row['month']:%Y-%m}"): row for row in rows}
    x = sorted({month for _, _, month in cells})
    y = sorted({(region, product_line) for region, product_line, _ in cells})
    z, hover = [], []
    for region, product_line in y:
        found = [cells.get((region, product_line, month)) for month in x]
        z.append([num(cell["attainment_rate"]) if cell else None for cell in found])
        hover.append(
            [[num(cell["bookings_amount"]), num(cell["target_amount"])] if cell else [None, None] for cell in found]
        )
    return go.Figure(
        go.Heatmap(
            name="Attainment",
            x=x,
            y=[f"{region} · {product_line}" for region, product_line in y],
            z=z,
            customdata=hover,
            zmin=0,
            zmax=1.5,
            colorscale="RdYlGn",
            colorbar={"title": {"text": "attainment"}, "tickformat": ".0%"},
            texttemplate="%{z:.0%}",
            hovertemplate=(
                f"%{{y}}, %{{x}}<br>attainment %{{z:{PERCENT}}}<br>bookings %{{customdata[0]:{MONEY}}}"
                f" {ctx['currency']}<br>target %{{customdata[1]:{MONEY}}} {ctx['currency']}<extra></extra>"
            ),
            xgap=1,
            ygap=1,
        ),
        layout={"xaxis": {"type": "category"}, "yaxis": {"autorange": "reversed", "type": "category"}},
    )


def _bookings_by_month(rows: Rows, ctx: dict) -> go.Figure:
    x, currency = months(rows), ctx["currency"]
    return go.Figure(
        [
            money_bars(x, col(rows, "bookings"), "Bookings", currency),
            go.Scatter(
                x=x,
                y=col(rows, "target"),
                name="Target",
                mode="lines+markers",
                line={"dash": "dot"},
                hovertemplate=f"Target<br>%{{x}}: %{{y:{MONEY}}} {currency}<extra></extra>",
            ),
            go.Scatter(
                x=x,
                y=col(rows, "run_rate"),
                name="Run-rate forecast",
                mode="markers",
                marker={"symbol": "diamond", "size": 12},
                hovertemplate=f"Run-rate forecast<br>%{{x}}: %{{y:{MONEY}}} {currency}<extra></extra>",
            ),
        ],
        layout={"xaxis": {"type": "category"}, "yaxis": money_axis(currency)},
    )


def _gap_by_region(rows: Rows, ctx: dict) -> go.Figure:
    figure = go.Figure(layout={"barmode": "group", "yaxis": money_axis(ctx["currency"])})
    for period_type, name in (("month", f"This month ({ctx['month']:%Y-%m})"), ("fiscal_year", ctx["fiscal_year"])):
        chosen = [row for row in rows if row["period_type"] == period_type]
        figure.add_trace(
            money_bars([row["region"] for row in chosen], col(chosen, "gap_to_target"), name, ctx["currency"])
        )
    return figure


def _pipeline_coverage(rows: Rows, ctx: dict) -> go.Figure:
    figure = go.Figure(layout={"barmode": "group", "yaxis": {"title": {"text": "× remaining target"}}})
    for product_line in sorted({row["product_line"] for row in rows}):
        chosen = [row for row in rows if row["product_line"] == product_line]
        figure.add_trace(
            go.Bar(
                x=[row["region"] for row in chosen],
                y=col(chosen, "pipeline_coverage"),
                name=product_line,
                customdata=[[num(row["weighted_pipeline_amount"]), num(row["remaining_target"])] for row in chosen],
                hovertemplate=(
                    f"{product_line}, %{{x}}: coverage %{{y:.2f}}"
                    f"<br>weighted pipeline %{{customdata[0]:{MONEY}}} {ctx['currency']}"
                    f"<br>remaining target %{{customdata[1]:{MONEY}}} {ctx['currency']}<extra></extra>"
                ),
            )
        )
    figure.add_hline(y=1, line_dash="dot", annotation_text="covered", annotation_position="top left")
    return figure


SALES_LEADER = Page(
    file="index.html",
    title="Sales leader",
    about="Where the year stands against target, by region, product line and month; what the pipeline covers.",
    charts=(
        Chart(
            "year_to_date",
            "{fiscal_year} to {as_of}: bookings, target, run-rate forecast and weighted open pipeline ({currency})",
            """
            select sum(target_amount) as target, sum(bookings_amount) as bookings,
                   sum(bookings_run_rate_forecast) as run_rate, sum(weighted_pipeline_amount) as weighted_pipeline
            from marts.target_attainment_rollup
            where level = 'region' and period_type = 'fiscal_year' and %(as_of)s between period_start and period_end
            """,
            _year_to_date,
            height=200,
        ),
        Chart(
            "attainment",
            "Bookings attainment by region × product line and month, {window} (% of target)",
            """
            select member_id as region, product_line, period_start as month, attainment_rate,
                   bookings_amount, target_amount
            from marts.target_attainment_rollup
            where level = 'region' and period_type = 'month' and period_start between %(start)s and %(month)s
              and product_line <> 'unknown'
            order by 1, 2, 3
            """,
            _attainment_heatmap,
            height=520,
        ),
        Chart(
            "bookings_by_month",
            "Bookings against target by month, and this month's run-rate forecast, {window} ({currency})",
            """
            select month, sum(bookings_amount) as bookings, sum(target_amount) as target,
                   sum(bookings_run_rate_forecast) filter (where month = %(month)s) as run_rate
            from marts.target_attainment
            where month between %(start)s and %(month)s
            group by month order by month
            """,
            _bookings_by_month,
        ),
        Chart(
            "gap_by_region",
            "Gap to target by region (target − bookings; below 0: over target), this month and {fiscal_year}"
            " ({currency})",
            """
            select member_id as region, period_type, sum(gap_to_target) as gap_to_target
            from marts.target_attainment_rollup
            where level = 'region' and period_type in ('month', 'fiscal_year')
              and %(as_of)s between period_start and period_end
            group by 1, 2 order by 1, 2
            """,
            _gap_by_region,
        ),
        Chart(
            "pipeline_coverage",
            "Pipeline coverage by region and product line, {fiscal_quarter}"
            " (weighted open pipeline ÷ remaining target; 1.0 = covered)",
            """
            select member_id as region, product_line, pipeline_coverage, weighted_pipeline_amount, remaining_target
            from marts.target_attainment_rollup
            where level = 'region' and period_type = 'fiscal_quarter' and product_line <> 'unknown'
              and %(as_of)s between period_start and period_end
            order by 1, 2
            """,
            _pipeline_coverage,
        ),
    ),
)


# -- sales ops ----------------------------------------------------------------------------------


def _funnel(rows: Rows, ctx: dict) -> go.Figure:
    return go.Figure(
        go.Funnel(
            name="Entries",
            y=[row["stage"] for row in rows],
            x=col(rows, "entered"),
            textinfo="value+percent initial",
            hovertemplate="%{y}: %{x:,} entries<extra></extra>",
        )
    )


def _conversion(rows: Rows, ctx: dict) -> go.Figure:
    stages = [f"{row['stage']} → {row['next_stage']}" for row in rows]
    return go.Figure(
        [
            bars(stages, col(rows, "conversion_rate"), "Reached the next stage", f"%{{y:{PERCENT}}}"),
            bars(stages, col(rows, "win_rate"), "Won, of those closed", f"%{{y:{PERCENT}}}"),
        ],
        layout={"barmode": "group", "yaxis": {"tickformat": ".0%", "title": {"text": "%"}}},
    )


def _durations(rows: Rows, ctx: dict) -> go.Figure:
    order = {stage.name: stage.order or 0 for stage in vocabulary.stages()}
    figure = go.Figure(layout={"xaxis": {"type": "category"}, "yaxis": {"title": {"text": "days"}}})
    for stage in sorted({row["stage"] for row in rows}, key=lambda name: (order.get(name, 99), name)):
        chosen = [row for row in rows if row["stage"] == stage]
        name = "signing cycle (created → won)" if stage == "closed_won" else f"in {stage}"
        figure.add_trace(line(months(chosen), col(chosen, "median_days"), name, "%{y:.1f} days (median)"))
    return figure


def _channel_leads(rows: Rows, ctx: dict) -> go.Figure:
    channels = [row["channel"] for row in rows]
    return go.Figure(
        [
            bars(channels, col(rows, "leads"), "Leads", "%{y:,}"),
            bars(
                channels,
                col(rows, "converted_leads"),
                "Converted",
                "%{y:,} (%{customdata:.1%} of the leads)",
                customdata=col(rows, "lead_conversion_rate"),
            ),
        ],
        layout={"barmode": "group", "yaxis": {"title": {"text": "leads"}}},
    )


def _channel_value(rows: Rows, ctx: dict) -> go.Figure:
    channels, currency = [row["channel"] for row in rows], ctx["currency"]
    return go.Figure(
        [
            money_bars(channels, col(rows, "bookings_amount"), "Bookings", currency),
            count_markers(channels, col(rows, "customers_acquired"), "Customers acquired"),
        ],
        layout={
            "yaxis": money_axis(currency),
            "yaxis2": count_axis("customers"),
        },
    )


SALES_OPS = Page(
    file="sales_ops.html",
    title="Sales ops",
    about="How deals move through the funnel, how long each stage takes, and which channels bring revenue.",
    charts=(
        Chart(
            "funnel",
            "Funnel: leads and opportunities entering each stage, {window} (count)",
            """
            select stage, stage_order, sum(entered_count) as entered
            from marts.sales_funnel
            where stage_order is not null and entered_month between %(start)s and %(month)s
            group by 1, 2 order by 2
            """,
            _funnel,
        ),
        Chart(
            "stage_conversion",
            "Stage conversion: of the entries into each stage, the share that reached the next one"
            " and the win rate of those closed, {window} (%)",
            """
            select stage, stage_order, next_stage,
                   sum(advanced_count)::numeric / nullif(sum(entered_count), 0) as conversion_rate,
                   sum(won_count)::numeric / nullif(sum(won_count) + sum(lost_count), 0) as win_rate
            from marts.sales_funnel
            where next_stage is not null and entered_month between %(start)s and %(month)s
            group by 1, 2, 3 order by 2
            """,
            _conversion,
        ),
        Chart(
            "stage_durations",
            "Median days in each stage by month entered, and the signing cycle of the deals won, {window} (days)",
            """
            select month, stage, median_days
            from marts.sales_funnel_durations
            where slice_name = 'all' and month between %(start)s and %(month)s
            order by stage, month
            """,
            _durations,
        ),
        Chart(
            "channel_leads",
            "Leads by channel and the ones converted, {window} (count)",
            """
            select channel, sum(leads) as leads, sum(converted_leads) as converted_leads,
                   sum(converted_leads)::numeric / nullif(sum(leads), 0) as lead_conversion_rate
            from marts.channel_performance
            where month between %(start)s and %(month)s
            group by 1 order by 2 desc, 1
            """,
            _channel_leads,
        ),
        Chart(
            "channel_value",
            "Bookings of each channel's deals ({currency}) and the customers it acquired (count), {window}",
            """
            select channel, sum(bookings_amount) as bookings_amount, sum(customers_acquired) as customers_acquired
            from marts.channel_performance
            where month between %(start)s and %(month)s
            group by 1 order by 2 desc, 1
            """,
            _channel_value,
        ),
    ),
)


# -- finance ------------------------------------------------------------------------------------


def _collections(rows: Rows, ctx: dict) -> go.Figure:
    x, currency = months(rows), ctx["currency"]
    return go.Figure(
        [
            money_bars(x, col(rows, "due"), "Due in the month", currency),
            money_bars(x, col(rows, "collected"), "Of it, collected", currency),
            money_bars(x, col(rows, "received"), "Cash received", currency),
            line(x, col(rows, "collection_rate"), "Collection rate", f"%{{y:{PERCENT}}}", yaxis="y2"),
        ],
        layout={
            "barmode": "group",
            "xaxis": {"type": "category"},
            "yaxis": money_axis(currency),
            "yaxis2": {
                "tickformat": ".0%",
                "overlaying": "y",
                "side": "right",
                "showgrid": False,
                "rangemode": "tozero",
            },
        },
    )


AGING = (
    ("not_yet_due", "Not yet due"),
    ("overdue_0_30", "1–30 days overdue"),
    ("overdue_31_60", "31–60 days"),
    ("overdue_61_90", "61–90 days"),
    ("overdue_90_plus", "Over 90 days"),
)


def _aging(rows: Rows, ctx: dict) -> go.Figure:
    x = months(rows)
    return go.Figure(
        [money_bars(x, col(rows, column), name, ctx["currency"]) for column, name in AGING],
        layout={"barmode": "stack", "xaxis": {"type": "category"}, "yaxis": money_axis(ctx["currency"])},
    )


def _dso(rows: Rows, ctx: dict) -> go.Figure:
    return go.Figure(
        line(months(rows), col(rows, "dso"), "DSO", "%{y:.1f} days"),
        layout={"xaxis": {"type": "category"}, "yaxis": {"title": {"text": "days"}, "rangemode": "tozero"}},
    )


def table(rows: Rows, columns: tuple[tuple[str, str, str | None], ...]) -> go.Figure:
    """A plotly table: (column, header, d3 format or None for text) each; numbers stay numbers. As
    high as its rows (up to 30 of them; more scroll)."""
    widths = {None: 1.8, MONEY: 1.4}  # text and amounts wider than counts and rates
    return go.Figure(
        layout={"height": 170 + 22 * min(len(rows), 30)},
        data=go.Table(
            header={"values": [f"<b>{header}</b>" for _, header, _ in columns], "align": "left"},
            cells={
                "values": [col(rows, column) for column, _, _ in columns],
                "format": [fmt or "" for _, _, fmt in columns],
                "align": ["left" if fmt is None else "right" for _, _, fmt in columns],
            },
            columnwidth=[widths.get(fmt, 1) for _, _, fmt in columns],
        ),
    )


def _overdue_accounts(rows: Rows, ctx: dict) -> go.Figure:
    currency = ctx["currency"]
    return table(
        rows,
        (
            ("customer", "Customer", None),
            ("overdue", f"Overdue ({currency})", MONEY),
            ("overdue_90_plus", f"Of it over 90 days ({currency})", MONEY),
            ("outstanding", f"Outstanding ({currency})", MONEY),
        ),
    )


FINANCE = Page(
    file="finance.html",
    title="Finance",
    about="Whether bookings turn into cash: what fell due and was collected, what is overdue and for how long.",
    charts=(
        Chart(
            "collections",
            "Amount due, collected and cash received by month ({currency}), and the collection rate"
            " (collected ÷ due, %), {window}",
            """
            select month, sum(amount_due_in_month) as due, sum(amount_due_collected) as collected,
                   sum(cash_received_in_month) as received,
                   sum(amount_due_collected) / nullif(sum(amount_due_in_month), 0) as collection_rate
            from marts.collections
            where month between %(start)s and %(month)s
            group by month order by month
            """,
            _collections,
        ),
        Chart(
            "aging",
            "Receivables outstanding at each month's end by aging bucket, {window} ({currency})",
            """
            select month, sum(not_yet_due) as not_yet_due, sum(overdue_0_30) as overdue_0_30,
                   sum(overdue_31_60) as overdue_31_60, sum(overdue_61_90) as overdue_61_90,
                   sum(overdue_90_plus) as overdue_90_plus
            from marts.collections
            where month between %(start)s and %(month)s
            group by month order by month
            """,
            _aging,
        ),
        Chart(
            "dso",
            "Days sales outstanding by month (outstanding ÷ invoiced in the trailing 90 days × 90), {window} (days)",
            """
            select month,
                   sum(outstanding_at_month_end) / nullif(sum(invoiced_trailing_90_days), 0) * 90 as dso
            from marts.collections
            where month between %(start)s and %(month)s
            group by month order by month
            """,
            _dso,
        ),
        Chart(
            "overdue_accounts",
            "The 10 customers with the most overdue receivables at {as_of} ({currency})",
            """
            select coalesce(customers.customer_name, collections.account_id) as customer,
                   sum(overdue_0_30 + overdue_31_60 + overdue_61_90 + overdue_90_plus) as overdue,
                   sum(overdue_90_plus) as overdue_90_plus, sum(outstanding_at_month_end) as outstanding
            from marts.collections
            left join marts.dim_customer as customers
                on customers.customer_id = collections.account_id and customers.is_current
            where collections.month = %(month)s
            group by collections.account_id, customers.customer_name
            having sum(overdue_0_30 + overdue_31_60 + overdue_61_90 + overdue_90_plus) > 0
            order by 2 desc, collections.account_id limit 10
            """,
            _overdue_accounts,
        ),
    ),
)


# -- service ------------------------------------------------------------------------------------


def _satisfaction(rows: Rows, ctx: dict) -> go.Figure:
    x = months(rows)
    return go.Figure(
        [
            line(x, col(rows, "csat"), "CSAT (1–5)", "%{y:.2f}"),
            line(x, col(rows, "nps"), "NPS (−100 to 100)", "%{y:.1f}", yaxis="y2"),
        ],
        layout={
            "xaxis": {"type": "category"},
            "yaxis": {"title": {"text": "CSAT"}, "range": [1, 5]},
            "yaxis2": {"title": {"text": "NPS"}, "overlaying": "y", "side": "right", "range": [-100, 100]},
        },
    )


def _tickets(rows: Rows, ctx: dict) -> go.Figure:
    x = months(rows)
    return go.Figure(
        [bars(x, col(rows, "opened"), "Opened", "%{y:,}"), bars(x, col(rows, "resolved"), "Resolved", "%{y:,}")],
        layout={"barmode": "group", "xaxis": {"type": "category"}, "yaxis": {"title": {"text": "tickets"}}},
    )


def _response_times(rows: Rows, ctx: dict) -> go.Figure:
    priorities = [row["priority"] for row in rows]
    return go.Figure(
        [
            bars(priorities, col(rows, "first_response_hours"), "First response", "%{y:.1f} hours (median)"),
            bars(priorities, col(rows, "resolution_hours"), "Resolution", "%{y:.1f} hours (median)"),
        ],
        layout={"barmode": "group", "yaxis": {"title": {"text": "hours"}}},
    )


def _renewals(rows: Rows, ctx: dict) -> go.Figure:
    x = months(rows)
    return go.Figure(
        [
            bars(x, col(rows, "ending"), "Contracts ending", "%{y:,}"),
            bars(x, col(rows, "renewed"), "Renewed", "%{y:,}"),
            line(x, col(rows, "renewal_rate"), "Renewal rate", f"%{{y:{PERCENT}}}", yaxis="y2"),
        ],
        layout={
            "barmode": "group",
            "xaxis": {"type": "category"},
            "yaxis": {"title": {"text": "contracts"}},
            "yaxis2": {"tickformat": ".0%", "overlaying": "y", "side": "right", "range": [0, 1.05], "showgrid": False},
        },
    )


SERVICE = Page(
    file="service.html",
    title="Service",
    about="How satisfied customers are, how fast the service desk answers, and whether contracts renew.",
    charts=(
        # as the metrics csat and nps define them (dbt_project/models/semantic/): ratios of the sums
        Chart(
            "satisfaction",
            "CSAT (mean score 1–5) and NPS (% promoters − % detractors) by month, {window}",
            """
            select month,
                   sum(csat_total)::numeric / nullif(sum(csat_answers), 0) as csat,
                   100.0 * (sum(promoters) - sum(detractors))
                     / nullif(sum(promoters + passives + detractors), 0) as nps
            from marts.customer_service
            where month between %(start)s and %(month)s
            group by month order by month
            """,
            _satisfaction,
        ),
        Chart(
            "tickets",
            "Tickets opened and resolved by month, {window} (count)",
            """
            select month, sum(tickets_opened) as opened, sum(tickets_resolved) as resolved
            from marts.customer_service
            where month between %(start)s and %(month)s
            group by month order by month
            """,
            _tickets,
        ),
        Chart(
            "response_times",
            "Median hours to first response and to resolution by priority, tickets opened {window} (hours)",
            """
            select priority,
                   percentile_cont(0.5) within group (order by first_response_hours) as first_response_hours,
                   percentile_cont(0.5) within group (order by resolution_hours) as resolution_hours
            from marts.fct_tickets
            where opened_at >= %(start)s::timestamp at time zone %(timezone)s
              and opened_at < (%(month)s::timestamp + interval '1 month') at time zone %(timezone)s
            group by 1
            order by array_position(array['urgent', 'high', 'normal', 'low'], priority), 1
            """,
            _response_times,
        ),
        Chart(
            "renewals",
            "Service contracts ending and renewed by month (count), and the renewal rate (%), {window}",
            """
            select month, sum(contracts_ending) as ending, sum(contracts_renewed) as renewed,
                   sum(contracts_renewed)::numeric / nullif(sum(contracts_ending), 0) as renewal_rate
            from marts.customer_service
            where month between %(start)s and %(month)s
            group by month order by month
            """,
            _renewals,
        ),
    ),
)


# -- customers ----------------------------------------------------------------------------------


def _tiers(rows: Rows, ctx: dict) -> go.Figure:
    tiers, currency = [row["tier"] for row in rows], ctx["currency"]
    return go.Figure(
        [
            money_bars(tiers, col(rows, "net_margin"), f"Net {ctx['value_basis']} to date", currency),
            money_bars(
                tiers, col(rows, "predicted_margin"), f"Predicted {ctx['value_basis']}, next 12 months", currency
            ),
            count_markers(tiers, col(rows, "customers"), "Customers"),
        ],
        layout={
            "barmode": "group",
            "yaxis": money_axis(currency),
            "yaxis2": count_axis("customers"),
        },
    )


def _by_segment(key: str) -> Callable[[Rows, dict], go.Figure]:
    def draw(rows: Rows, ctx: dict) -> go.Figure:
        x, currency = [row[key] for row in rows], ctx["currency"]
        return go.Figure(
            [
                money_bars(x, col(rows, "net_margin"), f"Net {ctx['value_basis']} to date", currency),
                money_bars(
                    x, col(rows, "predicted_margin"), f"Predicted {ctx['value_basis']}, next 12 months", currency
                ),
            ],
            layout={"barmode": "group", "yaxis": money_axis(currency)},
        )

    return draw


def _backtest(rows: Rows, ctx: dict) -> go.Figure:
    """The prediction and its two baselines against what happened, by segment; the WAPE of each
    over all customers in the subtitle (clv_backtest's total row)."""
    total = next((row for row in rows if row["is_total"]), None)
    rows = [row for row in rows if not row["is_total"]]
    segments, currency = [row["segment"] for row in rows], ctx["currency"]
    errors = (("wape", "the prediction"), ("repeat_wape", "last 12 months repeated"), ("bgnbd_wape", "BG/NBD"))
    wapes = [f"{name} {num(total[key]):.1%}" for key, name in errors if total and total[key] is not None]
    return go.Figure(
        [
            money_bars(segments, col(rows, "predicted_margin"), "Predicted at the cutoff", currency),
            money_bars(segments, col(rows, "repeat_predicted_margin"), "Baseline: last 12 months repeated", currency),
            money_bars(segments, col(rows, "bgnbd_predicted_margin"), "Baseline: BG/NBD + Gamma-Gamma", currency),
            money_bars(segments, col(rows, "actual_margin"), "Actual", currency),
        ],
        layout={
            "barmode": "group",
            "yaxis": money_axis(currency),
            "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": -0.1, "yanchor": "top"},  # long subtitle
            "title": {
                "subtitle": {
                    "text": "cutoff "
                    + ", ".join(sorted({f"{row['cutoff_date']}" for row in rows}))
                    + ("; WAPE over all customers: " + ", ".join(wapes) if wapes else "")
                }
            },
        },
    )


def _top_customers(rows: Rows, ctx: dict) -> go.Figure:
    currency, value = ctx["currency"], ctx["value_basis"]
    return table(
        rows,
        (
            ("customer_name", "Customer", None),
            ("tier", "Tier", None),
            ("industry", "Industry", None),
            ("net_margin", f"Net {value} to date ({currency})", MONEY),
            ("predicted_margin", f"Predicted {value}, next 12 months ({currency})", MONEY),
            ("order_count", "Orders", ",d"),
        ),
    )


CUSTOMERS = Page(
    file="customers.html",
    title="Customers",
    about="What customers are worth, to date and predicted, by tier, industry and acquisition channel.",
    charts=(
        Chart(
            "tiers",
            "Customers by tier: net {value_basis} to date and predicted {value_basis}, next 12 months ({currency}),"
            " and customers (count)",
            """
            select tier, count(*) as customers, sum(net_margin) as net_margin, sum(predicted_margin) as predicted_margin
            from marts.customer_lifetime_value
            group by 1 order by array_position(array['core', 'potential', 'regular', 'at_risk'], tier), 1
            """,
            _tiers,
        ),
        Chart(
            "by_industry",
            "Net {value_basis} to date and predicted {value_basis}, next 12 months, by industry ({currency})",
            """
            select industry, sum(net_margin) as net_margin, sum(predicted_margin) as predicted_margin
            from marts.clv_by_segment
            group by 1 order by 2 desc, 1
            """,
            _by_segment("industry"),
        ),
        Chart(
            "by_channel",
            "Net {value_basis} to date and predicted {value_basis}, next 12 months, by acquisition channel"
            " ({currency})",
            """
            select acquisition_channel, sum(net_margin) as net_margin, sum(predicted_margin) as predicted_margin
            from marts.clv_by_segment
            group by 1 order by 2 desc, 1
            """,
            _by_segment("acquisition_channel"),
        ),
        Chart(
            "clv_backtest",
            "How far to trust the prediction: predicted, and two standard baselines, against actual"
            " {value_basis} over the 12 months after the backtest's cutoff, by segment ({currency})",
            """
            select segment, is_total, cutoff_date, predicted_margin, repeat_predicted_margin,
                   bgnbd_predicted_margin, actual_margin, wape, repeat_wape, bgnbd_wape
            from marts.clv_backtest
            order by segment
            """,
            _backtest,
        ),
        Chart(
            "top_customers",
            "The 15 customers with the highest predicted {value_basis}, next 12 months ({currency})",
            """
            select customer_name, tier, industry, net_margin, predicted_margin, order_count
            from marts.customer_lifetime_value
            order by predicted_margin desc nulls last, customer_id limit 15
            """,
            _top_customers,
        ),
    ),
)


# -- rep scorecard ------------------------------------------------------------------------------


def _scorecard_table(rows: Rows, ctx: dict) -> go.Figure:
    currency = ctx["currency"]
    return table(
        rows,
        (
            ("rep_id", "Rep", None),
            ("rep_name", "Name", None),
            ("team", "Team", None),
            ("target_amount", f"Target ({currency})", MONEY),
            ("bookings_amount", f"Bookings ({currency})", MONEY),
            ("attainment_rate", "Attainment", PERCENT),
            ("won_count", "Won", ",d"),
            ("lost_count", "Lost", ",d"),
            ("win_rate", "Win rate", PERCENT),
            ("visits", "Visits", ",d"),
            ("new_customers", "New customers", ",d"),
            ("collection_rate", "Collection rate", PERCENT),
            ("csat", "CSAT (1–5)", ".2f"),
        ),
    )


def _scorecard_rates(rows: Rows, ctx: dict) -> go.Figure:
    reps = [row["rep_id"] for row in rows]
    return go.Figure(
        [
            bars(reps, col(rows, "attainment_rate"), "Attainment", f"%{{y:{PERCENT}}}"),
            bars(reps, col(rows, "win_rate"), "Win rate", f"%{{y:{PERCENT}}}"),
            bars(reps, col(rows, "collection_rate"), "Collection rate", f"%{{y:{PERCENT}}}"),
        ],
        layout={"barmode": "group", "xaxis": {"type": "category"}, "yaxis": {"tickformat": ".0%"}},
    )


SCORECARD = """
    select rep_id, (array_agg(rep_name order by month desc))[1] as rep_name,
           (array_agg(team order by month desc))[1] as team,
           sum(target_amount) as target_amount, sum(bookings_amount) as bookings_amount,
           sum(bookings_amount) / nullif(sum(target_amount), 0) as attainment_rate,
           sum(won_count) as won_count, sum(lost_count) as lost_count,
           sum(won_count)::numeric / nullif(sum(won_count) + sum(lost_count), 0) as win_rate,
           sum(visits) as visits, sum(new_customers) as new_customers,
           sum(amount_due_collected) / nullif(sum(amount_due_in_month), 0) as collection_rate,
           sum(csat_total)::numeric / nullif(sum(csat_answers), 0) as csat
    from marts.rep_scorecard
    where month between %(start)s and %(month)s
    group by rep_id order by bookings_amount desc, rep_id
"""

REPS = Page(
    file="reps.html",
    title="Rep scorecard",
    about="Each rep over the last 12 months: attainment, win rate, visits, new customers, collection rate, CSAT.",
    charts=(
        Chart(
            "scorecard",
            "Rep scorecard, {window} (amounts in {currency}; CSAT = mean score 1–5 of all the answers)",
            SCORECARD,
            _scorecard_table,
        ),
        Chart(
            "scorecard_rates",
            "Attainment, win rate and collection rate by rep, {window} (%)",
            SCORECARD,
            _scorecard_rates,
        ),
    ),
)

PAGES = (SALES_LEADER, SALES_OPS, FINANCE, SERVICE, CUSTOMERS, REPS)
