"""A real CRM export nobody here wrote, in by configuration alone: `make example-maven`.

examples/maven_crm/ holds the Maven Analytics export as published and a deployment file beside it;
no code knows its shape. The marts the example publishes must equal an independent computation
from the CSVs, to the cent: bookings in total, per agent, per manager x quarter and per regional
office x quarter; the win rate overall and per agent; the median signing cycle of won deals; and,
the example having no cost feed, each account's lifetime value on its bookings.
"""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from salesdw import paths
from salesdw.warehouse.embedded import EmbeddedPostgres, free_port

EXPORTS = paths.ROOT / "examples" / "maven_crm" / "exports"


def _rows(name: str) -> list[dict[str, str]]:
    with (EXPORTS / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _quarter(day: str) -> date:
    d = date.fromisoformat(day)
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


@pytest.fixture(scope="module")
def expected() -> dict:
    """The figures, computed from the CSVs alone (no salesdw code)."""
    teams = {r["sales_agent"]: r for r in _rows("sales_teams.csv")}
    accounts = [r["account"] for r in _rows("accounts.csv")]
    deals = _rows("sales_pipeline.csv")
    won = [d for d in deals if d["deal_stage"] == "Won"]
    lost = [d for d in deals if d["deal_stage"] == "Lost"]
    by_agent, by_manager, by_office = defaultdict(Decimal), defaultdict(Decimal), defaultdict(Decimal)
    by_account = dict.fromkeys(accounts, Decimal(0))  # every account a customer, with orders or not
    wins, closed = defaultdict(int), defaultdict(int)
    for d in won:
        amount, agent = Decimal(d["close_value"]), d["sales_agent"]
        by_agent[agent] += amount
        by_manager[(teams[agent]["manager"], _quarter(d["close_date"]))] += amount
        by_office[(teams[agent]["regional_office"], _quarter(d["close_date"]))] += amount
        wins[agent] += 1
        if d["account"]:  # a deal without one is no customer's
            by_account[d["account"]] += amount
    for d in won + lost:
        closed[d["sales_agent"]] += 1
    cycles = [(date.fromisoformat(d["close_date"]) - date.fromisoformat(d["engage_date"])).days for d in won]
    return {
        "bookings": sum(by_agent.values()),
        "won": len(won),
        "by_agent": dict(by_agent),
        "by_manager": dict(by_manager),
        "by_office": dict(by_office),
        "by_account": by_account,
        "win_rate": Decimal(len(won)) / Decimal(len(won) + len(lost)),
        "win_rate_by_agent": {a: Decimal(wins[a]) / Decimal(n) for a, n in closed.items()},
        "median_cycle": Decimal(str(statistics.median(cycles))),
        "without_account": sum(1 for d in deals if not d["account"]),
        "deals": len(deals),
    }


@pytest.fixture(scope="module")
def marts(tmp_path_factory):
    """`make example-maven` in a warehouse of its own; the BI login's URL it prints last."""
    state = tmp_path_factory.mktemp("maven")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESDW_STATE", "SALESDW_DATA", "AIRFLOW_"))}
    env.update({"AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False"})
    port = free_port()
    proc = subprocess.run(
        # relative, as the Makefile's default is: every path it hands on must be made absolute
        ["make", "-s", "example-maven", f"MAVEN_DIR={os.path.relpath(state, paths.ROOT)}", f"MAVEN_PORT={port}"],
        cwd=paths.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    server = EmbeddedPostgres(state / "warehouse")
    try:
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
        url = proc.stdout.strip().splitlines()[-1]
        assert url.startswith("postgresql://salesdw_bi:"), f"last line is not the BI login's URL: {url!r}"
        with psycopg.connect(url) as conn:
            yield conn, proc.stdout
    finally:
        server.stop()


def _pairs(conn, query: str) -> dict:
    return {tuple(r[:-1]) if len(r) > 2 else r[0]: r[-1] for r in conn.execute(query).fetchall()}


def test_bookings_in_total_and_per_agent(marts, expected):
    conn, _ = marts
    total, count = conn.execute("select sum(booking_amount_reporting), count(*) from marts.fct_bookings").fetchone()
    assert (total, count) == (expected["bookings"], expected["won"])
    assert (
        _pairs(conn, "select owner_rep_id, sum(booking_amount_reporting) from marts.fct_bookings group by 1")
        == (expected["by_agent"])
    )


@pytest.mark.parametrize(("level", "key"), [("team", "by_manager"), ("region", "by_office")])
def test_bookings_per_manager_and_office_by_quarter(marts, expected, level, key):
    """An agent's team is their manager's, their region the regional office (the example's columns)."""
    conn, _ = marts
    found = _pairs(
        conn,
        "select member_id, period_start, sum(bookings_amount) from marts.target_attainment_rollup"
        f" where level = '{level}' and period_type = 'quarter' group by 1, 2 having sum(bookings_amount) <> 0",
    )
    assert found == expected[key]


def test_win_rate_overall_and_per_agent(marts, expected):
    conn, _ = marts
    rows = conn.execute(
        "select rep_id, sum(won_count), sum(lost_count) from marts.rep_scorecard group by rep_id"
    ).fetchall()
    won, closed = sum(r[1] for r in rows), sum(r[1] + r[2] for r in rows)
    assert round(Decimal(won) / Decimal(closed), 10) == round(expected["win_rate"], 10)
    found = {rep: round(Decimal(w) / Decimal(w + lost), 10) for rep, w, lost in rows if w + lost}
    assert found == {a: round(r, 10) for a, r in expected["win_rate_by_agent"].items()}


def test_median_signing_cycle_of_won_deals(marts, expected):
    conn, _ = marts
    (median,) = conn.execute(
        "select percentile_cont(0.5) within group (order by days_to_close) from marts.fct_opportunities where is_won"
    ).fetchone()
    assert Decimal(str(median)) == expected["median_cycle"]


def test_deals_without_an_account_count_under_the_unknown_account(marts, expected):
    conn, _ = marts
    counts = conn.execute(
        "select count(*), count(*) filter (where account_id = '(unknown)') from marts.fct_opportunities"
    ).fetchone()
    assert counts == (expected["deals"], expected["without_account"])
    (name,) = conn.execute("select customer_name from marts.dim_customer where customer_id = '(unknown)'").fetchone()
    assert name == "Unknown account"


def test_customer_value_is_on_bookings_without_a_cost_feed(marts, expected):
    """The example has no cost feed (finance.product_costs): a customer's lifetime value is counted
    on its bookings (value_basis 'bookings'), not as a margin of 0: each account's historical value
    is the close_value of its won deals, to the cent (no service desk either: net = gross); the
    prediction is on bookings too."""
    conn, stdout = marts
    assert conn.execute("select distinct value_basis from marts.customer_lifetime_value").fetchall() == [("bookings",)]
    for column in ("gross_margin", "net_margin"):
        found = _pairs(conn, f"select customer_id, {column} from marts.customer_lifetime_value")
        assert found == expected["by_account"], column
    assert _pairs(conn, "select customer_id, product_cost from marts.customer_lifetime_value") == dict.fromkeys(
        expected["by_account"], Decimal(0)
    )
    (predicted,) = conn.execute("select sum(predicted_margin) from marts.customer_lifetime_value").fetchone()
    assert predicted > 0
    assert "predicted bookings, next 12 months (USD)" in stdout


def test_the_example_is_configuration_only():
    """Nothing under examples/ is code, and no code names the example's columns."""
    files = [p for p in (paths.ROOT / "examples" / "maven_crm").rglob("*") if p.is_file()]
    assert {p.suffix for p in files} <= {".csv", ".yml", ".md"}
    code = [*paths.PACKAGE_DIR.rglob("*.py"), *(paths.DBT_PROJECT_DIR / "models").rglob("*.sql")]
    for path in code:
        text = Path(path).read_text()
        for word in ("sales_agent", "deal_stage", "close_value", "GTXPro", "regional_office"):
            assert word not in text, f"{path} names the example's column {word}"
