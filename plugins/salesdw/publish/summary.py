"""A short report of what the marts hold: what `make demo` and `salesdw summary` print."""

from __future__ import annotations

import psycopg

from salesdw import deployment, paths
from salesdw.manifest import marts
from salesdw.publish.publications import mart_row_counts

HEADLINES = {
    "bookings ({currency}, all time)": "select sum(bookings_amount) from marts.target_attainment",
    "cash collected ({currency})": "select sum(cash_collected) from marts.customer_lifetime_value",
    "attainment, latest month to date": """
        select sum(bookings_amount) / nullif(sum(target_amount), 0) from marts.target_attainment
        where month = (select max(month) from marts.target_attainment where target_amount > 0)""",
    "attainment, last 12 months": """
        select sum(bookings_amount) / nullif(sum(target_amount), 0) from marts.target_attainment
        where month > (select max(month) from marts.target_attainment) - interval '12 months'""",
    "conversion, the funnel's first stage to the next": """
        select sum(advanced_count)::numeric / nullif(sum(entered_count), 0) from marts.sales_funnel
        where stage_order = 1""",
    "customers with orders": "select count(*) from marts.customer_lifetime_value where order_count > 0",
    "receivables 90+ days overdue, latest month ({currency})": """
        select sum(overdue_90_plus) from marts.collections
        where month = (select max(month) from marts.collections)""",
    "collection rate, last 12 months": """
        select sum(amount_due_collected) / nullif(sum(amount_due_in_month), 0) from marts.collections
        where month > (select max(month) from marts.collections) - interval '12 months'""",
    "win rate, last 12 months": """
        select sum(won_count)::numeric / nullif(sum(won_count) + sum(lost_count), 0) from marts.sales_funnel
        where next_stage is null  -- the won and lost stages' rows: deals closed in the month
          and entered_month > (select max(entered_month) from marts.sales_funnel) - interval '12 months'""",
    "service contract renewal rate": """
        select sum(contracts_renewed)::numeric / nullif(sum(contracts_ending), 0) from marts.customer_service""",
    # margin, or bookings for a deployment without a cost feed (deployment.clv_value_basis)
    "predicted {value_basis}, next 12 months ({currency})": """
        select sum(predicted_margin) from marts.customer_lifetime_value""",
    "deals without an account": """
        select count(*) from marts.fct_opportunities where account_id = '(unknown)'""",
    "won deals without an amount": """
        select count(*) from marts.fct_opportunities where is_won and amount is null""",
    "NPS, all surveys": """
        select 100.0 * (sum(promoters) - sum(detractors)) / nullif(sum(promoters + passives + detractors), 0)
        from marts.customer_service""",
}


# by the rule each row broke (raw._rejected.rule, load/checks.py), as words
REJECT_KINDS = """
    select replace(coalesce(rule, 'other'), '_', ' ') as kind, count(*)
    from raw._rejected group by 1 order by 2 desc, 1
"""


# the last run's dbt source freshness (quality/freshness.py): source tables per status, the late ones named
FRESHNESS = """
    select observed->>'status', count(*),
           string_agg(substr(expectation, length('source_freshness ') + 1), ', ' order by expectation)
    from audit.dq_results
    where run_id = (select run_id from audit.dq_results where suite = 'dbt.source_freshness'
                    order by validated_at desc limit 1)
      and suite = 'dbt.source_freshness'
    group by 1 order by 1
"""


def summary(url: str) -> dict:
    with psycopg.connect(url) as conn:
        counts = mart_row_counts(conn, marts())
        currency, value_basis = deployment.reporting_currency(), deployment.clv_value_basis()
        headlines = {
            name.format(currency=currency, value_basis=value_basis): conn.execute(query).fetchone()[0]
            for name, query in HEADLINES.items()
        }
        batches = conn.execute(
            "select count(*), sum(rows_read), sum(rows_loaded), sum(rows_rejected),"
            " count(*) filter (where rows_read <> rows_loaded + rows_rejected)"
            " from audit.load_batches where status = 'loaded'"
        ).fetchone()
        rejects = conn.execute(REJECT_KINDS).fetchall()
        has_results = conn.execute("select to_regclass('audit.dq_results') is not null").fetchone()[0]
        freshness = conn.execute(FRESHNESS).fetchall() if has_results else []
        tiers = conn.execute(
            "select tier, count(*) from marts.customer_lifetime_value group by 1 order by 2 desc"
        ).fetchall()
        backtest = conn.execute(
            "select cutoff_date, horizon_months, customers, wape, total_error_pct, repeat_wape, repeat_total_error_pct,"
            " bgnbd_wape, bgnbd_total_error_pct from marts.clv_backtest where is_total"
        ).fetchone()
    return {
        "mart_rows": counts,
        "headlines": headlines,
        "batches": batches,
        "rejects": rejects,
        "freshness": freshness,
        "tiers": tiers,
        "backtest": backtest,
    }


def _backtest_line(backtest) -> str:
    if not backtest or not backtest[2]:
        return "  CLV backtest: no window yet (it needs twice the horizon of history; see dbt_project/README.md)"
    cutoff, months, customers, *errors = backtest
    wape, total, repeat_wape, repeat_total, bgnbd_wape, bgnbd_total = (
        "n/a" if e is None else f"{float(e):+.1%}" for e in errors
    )
    rows = (
        ("the published prediction", wape, total),
        (f"baseline: the last {months} months repeated", repeat_wape, repeat_total),
        ("baseline: BG/NBD + Gamma-Gamma", bgnbd_wape, bgnbd_total),
    )
    return f"  CLV backtest ({months} months after {cutoff}, {customers:,} customers), WAPE and total error:" + "".join(
        f"\n    {label:<42}{error.lstrip('+'):>8}  {bias:>8}" for label, error, bias in rows
    )


def render(report: dict, url_hint: str) -> str:
    lines = ["", "salesdw: what the marts hold", "-" * 44]
    lines += [f"  marts.{name:<28} {rows:>10,} rows" for name, rows in report["mart_rows"].items()]
    lines.append("")
    for name, value in report["headlines"].items():
        if value is None:
            text = "n/a"
        elif "attainment" in name or "conversion" in name or "rate" in name:
            text = f"{float(value):.1%}"
        else:
            text = f"{float(value):,.2f}" if not isinstance(value, int) else f"{value:,}"
        lines.append(f"  {name:<40} {text:>16}")
    lines.append("  customer tiers: " + ", ".join(f"{tier} {n:,}" for tier, n in report["tiers"]))
    lines.append(_backtest_line(report["backtest"]))
    n, read, loaded, rejected, unreconciled = report["batches"]
    lines += [
        "",
        (
            f"  load batches: {n} ({read or 0:,} rows read = {loaded or 0:,} loaded + {rejected or 0:,} rejected;"
            f" {unreconciled} unreconciled)"
        ),
        "  rejected rows (raw._rejected): "
        + (", ".join(f"{count:,} {kind}" for kind, count in report["rejects"]) or "none"),
        "  source freshness (last run): "
        + (
            ", ".join(
                f"{n} {status}" + (f" ({names})" if status != "pass" else "")
                for status, n, names in report["freshness"]
            )
            or "not measured yet"
        ),
        "",
        f"  Great Expectations Data Docs: {paths.DATA_DOCS_DIR / 'index.html'}",
        f"  dbt docs:                     {paths.DBT_PROJECT_DIR / 'target' / 'index.html'}  (also `make docs`)",
        f"  dashboard:                    {paths.DASHBOARD_DIR / 'index.html'}  (opens from disk)",
        "  metrics:                      salesdw mf list metrics",
        f"  query it:                     {url_hint}",
        "",
    ]
    return "\n".join(lines)
