"""The Great Expectations checkpoint over the marts: passes on good data, stops on planted bad data."""

import psycopg
import pytest
from salesdw.quality.marts import QualityGateError, validate_marts

MARTS_DDL = """
create schema marts;
create table marts.customer_lifetime_value (customer_id text, bookings_amount numeric(18,2),
    cash_collected numeric(18,2), order_count integer, avg_csat numeric(4,2));
create table marts.sales_funnel (stage text, entered_month date, entered_count integer,
    advanced_count integer, conversion_rate numeric(7,4));
create table marts.target_attainment (rep_id text, product_line text, month date,
    target_amount numeric(18,2), bookings_amount numeric(18,2), attainment_rate numeric(9,4));
create table marts.collections (owner_rep_id text, account_id text, month date, amount_due_in_month numeric,
    amount_due_collected numeric, cash_received_in_month numeric, outstanding_at_month_end numeric,
    overdue_0_30 numeric, overdue_31_60 numeric, overdue_61_90 numeric, overdue_90_plus numeric,
    collection_rate numeric, dso numeric);
create table marts.customer_service (account_id text, month date, surveys integer, promoters integer,
    nps numeric, csat_avg numeric, median_resolution_hours numeric);
insert into marts.collections values ('R1', 'A1', '2026-01-01', 100, 40, 60, 60, 60, 0, 0, 0, 0.4000, 54.00);
insert into marts.customer_service values ('A1', '2026-01-01', 5, 2, 0.00, 3.60, 30.00);
insert into marts.customer_lifetime_value values ('A1', 1000.00, 500.00, 2, 4.50), ('A2', 0, 0, 0, null);
insert into marts.sales_funnel values ('needs_analysis', '2026-01-01', 4, 3, 0.7500),
    ('proposal', '2026-01-01', 3, 1, 0.3333);
insert into marts.target_attainment values ('R1', 'software', '2026-01-01', 1000.00, 750.00, 0.7500),
    ('R1', 'hardware', '2026-01-01', 0, 10.00, null);
"""


@pytest.fixture
def marts_db(fresh_db):
    with psycopg.connect(fresh_db) as conn:
        conn.execute(MARTS_DDL)
    return fresh_db


def _results(url, run_id):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select table_name, expectation, severity, success from audit.dq_results where run_id = %s", [run_id]
        ).fetchall()


def test_good_marts_pass_and_results_are_kept(marts_db, tmp_path):
    summary = validate_marts(marts_db, "2026-01-01", run_id="good", data_docs_dir=tmp_path / "docs")
    assert summary["failed_critical"] == 0
    rows = _results(marts_db, "good")
    assert len(rows) == summary["evaluated"] >= 15
    assert all(success for *_, success in rows)
    assert {t for t, *_ in rows} == {
        "customer_lifetime_value",
        "sales_funnel",
        "target_attainment",
        "collections",
        "customer_service",
    }
    assert (tmp_path / "docs" / "index.html").is_file()


@pytest.mark.parametrize(
    "plant, table, expectation",
    [
        (
            "insert into marts.customer_lifetime_value values ('A1', 5.00, 5.00, 1, 4.0)",
            "customer_lifetime_value",
            "expect_column_values_to_be_unique",
        ),
        (
            "update marts.sales_funnel set advanced_count = 9 where stage = 'proposal'",
            "sales_funnel",
            "expect_column_pair_values_a_to_be_greater_than_b",
        ),
        (
            "update marts.customer_service set nps = 120",
            "customer_service",
            "expect_column_values_to_be_between",
        ),
        (
            "update marts.target_attainment set bookings_amount = -1 where product_line = 'software'",
            "target_attainment",
            "expect_column_values_to_be_between",
        ),
    ],
)
def test_planted_bad_data_fails_the_gate_and_says_where(marts_db, tmp_path, plant, table, expectation):
    with psycopg.connect(marts_db) as conn:
        conn.execute(plant)
    with pytest.raises(QualityGateError) as err:
        validate_marts(marts_db, "2026-01-01", run_id="bad", data_docs_dir=tmp_path / "docs")
    assert f"marts.{table}: {expectation}" in str(err.value)
    failed = [r for r in _results(marts_db, "bad") if not r[3]]
    assert (table, expectation, "critical", False) in failed


def test_a_warning_is_recorded_but_does_not_block(marts_db, tmp_path):
    with psycopg.connect(marts_db) as conn:
        conn.execute("update marts.customer_lifetime_value set avg_csat = 7 where customer_id = 'A1'")
    summary = validate_marts(marts_db, "2026-01-01", run_id="warn", data_docs_dir=tmp_path / "docs")
    assert (summary["failed_critical"], summary["failed_warning"]) == (0, 1)
