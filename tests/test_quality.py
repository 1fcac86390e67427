"""The Great Expectations checkpoint over the marts: passes on good data, stops on planted bad data."""

import json

import psycopg
import pytest
from salesdw import paths
from salesdw.quality.marts import QualityGateError, validate_marts
from salesdw.quality.suites import mart_suites, published_keys


def _marts_ddl() -> str:
    return (
        """
create schema marts;
create table marts.customer_lifetime_value (customer_id text, bookings_amount numeric(18,2),
    cash_collected numeric(18,2), order_count integer, avg_csat numeric(4,2), tier text,
    predicted_margin numeric, predicted_orders numeric, service_cost numeric, retention_probability numeric);
create table marts.clv_backtest (segment text, mae numeric);
create table marts.clv_by_segment (industry text, segment text, acquisition_channel text, customers integer);
create table marts.sales_funnel (entered_month date, stage text, rep_id text, team text, region text,
    product_line text, lead_source text, entered_count integer, advanced_count integer, won_count integer,
    conversion_rate numeric(7,4), win_rate numeric(7,4));
create table marts.sales_funnel_durations (month date, stage text, slice_name text, slice_value text,
    median_days numeric);
create table marts.channel_performance (channel text, month date, leads integer, converted_leads integer,
    lead_conversion_rate numeric, bookings_amount numeric);
create table marts.rep_scorecard (rep_id text, month date, attainment_rate numeric, win_rate numeric,
    collection_rate numeric, csat_avg numeric, visits integer);
create table marts.target_attainment (rep_id text, team text, region text, product_line text, month date,
    target_amount numeric(18,2), bookings_amount numeric(18,2), attainment_rate numeric(9,4),
    cash_collected_amount numeric, bookings_run_rate_forecast numeric, cash_run_rate_forecast numeric,
    pipeline_coverage numeric, cash_attainment_rate numeric(9,4));
create table marts.target_attainment_rollup (level text, member_id text, product_line text, period_type text,
    period_start date, bookings_amount numeric);
create table marts.collections (owner_rep_id text, account_id text, month date, amount_due_in_month numeric,
    amount_due_collected numeric, cash_received_in_month numeric, outstanding_at_month_end numeric,
    overdue_0_30 numeric, overdue_31_60 numeric, overdue_61_90 numeric, overdue_90_plus numeric,
    collection_rate numeric, dso numeric);
create table marts.customer_service (account_id text, month date, surveys integer, promoters integer,
    nps numeric, csat_avg numeric, median_resolution_hours numeric, contracts_ending integer,
    contracts_renewed integer, renewal_rate numeric);
insert into marts.collections values ('R1', 'A1', '2026-01-01', 100, 40, 60, 60, 60, 0, 0, 0, 0.4000, 54.00);
insert into marts.customer_service values ('A1', '2026-01-01', 5, 2, 0.00, 3.60, 30.00, 2, 1, 0.5000);
insert into marts.customer_lifetime_value values ('A1', 1000.00, 500.00, 2, 4.50, 'core', 300, 1.2, 250, 0.6),
    ('A2', 0, 0, 0, null, 'regular', 0, 0, 0, 0.1);
insert into marts.clv_backtest values ('all', 51600), ('smb', 20000);
insert into marts.clv_by_segment values ('retail', 'smb', 'website', 3);
insert into marts.sales_funnel values
    ('2026-01-01', 'needs_analysis', 'R1', 'East 1', 'East', 'software', 'website', 4, 3, 0, 0.7500, null),
    ('2026-01-01', 'proposal', 'R1', 'East 1', 'East', 'software', 'website', 3, 1, 0, 0.3333, null),
    ('2026-01-01', 'closed_won', 'R1', 'East 1', 'East', 'software', 'website', 1, 0, 1, null, 0.5000);
insert into marts.sales_funnel_durations values ('2026-01-01', 'proposal', 'all', 'all', 6.5);
insert into marts.channel_performance values ('website', '2026-01-01', 10, 2, 0.2000, 750.00);
insert into marts.rep_scorecard values ('R1', '2026-01-01', 0.7500, 0.5000, 0.4000, 4.20, 3);
insert into marts.target_attainment values
    ('R1', 'East 1', 'East', 'software', '2026-01-01', 1000.00, 750.00, 0.7500, 400, 800, 420, 1.2, 0.4000),
    ('R1', 'East 1', 'East', 'hardware', '2026-01-01', 0, 10.00, null, 0, 12, 0, null, null);
insert into marts.target_attainment_rollup values ('team', 'East 1', 'software', 'quarter', '2026-01-01', 750.00);
"""
        + "".join(  # each published fact and dimension: its key, one row
            f"create table marts.{table} ({', '.join(f'{c} text' for c in key)});"
            f" insert into marts.{table} values ({', '.join(repr(f'{c}-1') for c in key)});"
            for table, key in published_keys().items()
        )
        + """
alter table marts.fct_bookings add booking_amount_reporting numeric(18,2);
insert into marts.fct_bookings values ('O2', 10.00);
update marts.fct_bookings set booking_amount_reporting = 750.00 where opportunity_id = 'opportunity_id-1';
alter table marts.fct_payments add amount_reporting numeric(18,2) default 40.00;
"""
    )


@pytest.fixture
def marts_db(fresh_db, dbt_manifest):
    with psycopg.connect(fresh_db) as conn:
        conn.execute(_marts_ddl())
    return fresh_db


def test_keys_come_from_the_dbt_models_and_a_published_fact_must_declare_one(dbt_manifest, tmp_path):
    keys = published_keys()
    assert keys["fct_targets"] == ["rep_id", "product_line", "month"]
    assert keys["dim_customer"] == ["customer_key"] and keys["fct_activities"] == ["activity_id"]
    manifest = json.loads(paths.DBT_MANIFEST.read_text())
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["name"] == "fct_tickets":
            node["constraints"] = []
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="marts.fct_tickets is published but its dbt model .* declares no primary_key"):
        published_keys(tmp_path / "manifest.json")


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
    assert {t for t, *_ in rows} == set(mart_suites())
    assert (tmp_path / "docs" / "index.html").is_file()


@pytest.mark.parametrize(
    "plant, table, expectation, says",
    [
        (
            "insert into marts.customer_lifetime_value values ('A1', 5.00, 5.00, 1, 4.0, 'core', 0, 0, 0, 0)",
            "customer_lifetime_value",
            "expect_column_values_to_be_unique",
            None,
        ),
        (
            "update marts.sales_funnel set advanced_count = 9 where stage = 'proposal'",
            "sales_funnel",
            "expect_column_pair_values_a_to_be_greater_than_b",
            None,
        ),
        (
            "update marts.customer_service set nps = 120",
            "customer_service",
            "expect_column_values_to_be_between",
            None,
        ),
        (
            "update marts.target_attainment set bookings_amount = -1 where product_line = 'software'",
            "target_attainment",
            "expect_column_values_to_be_between",
            None,
        ),
        (  # attainment that is not bookings / target
            "update marts.target_attainment set attainment_rate = 0.7600 where product_line = 'software'",
            "target_attainment",
            "unexpected_rows_expectation",
            "attainment_rate = bookings_amount / target_amount",
        ),
        (  # bookings that do not add up to the fact's
            "update marts.fct_bookings set booking_amount_reporting = 11.00 where opportunity_id = 'O2'",
            "target_attainment",
            "unexpected_rows_expectation",
            "bookings in target_attainment total those in fct_bookings",
        ),
        (
            "update marts.fct_payments set amount_reporting = -40",
            "fct_payments",
            "expect_column_values_to_be_between",
            None,
        ),
        (
            "insert into marts.fct_invoices values ('invoice_id-1')",
            "fct_invoices",
            "expect_column_values_to_be_unique",
            None,
        ),
        (
            "insert into marts.fct_targets values ('rep_id-1', 'product_line-1', 'month-1')",
            "fct_targets",
            "expect_compound_columns_to_be_unique",
            None,
        ),
    ],
)
def test_planted_bad_data_fails_the_gate_and_says_where(marts_db, tmp_path, plant, table, expectation, says):
    with psycopg.connect(marts_db) as conn:
        conn.execute(plant)
    with pytest.raises(QualityGateError) as err:
        validate_marts(marts_db, "2026-01-01", run_id="bad", data_docs_dir=tmp_path / "docs")
    assert f"marts.{table}: {says or expectation}" in str(err.value)
    failed = [r for r in _results(marts_db, "bad") if not r[3]]
    assert (table, expectation, "critical", False) in failed


def test_a_warning_is_recorded_but_does_not_block(marts_db, tmp_path):
    with psycopg.connect(marts_db) as conn:
        conn.execute("update marts.customer_lifetime_value set avg_csat = 7 where customer_id = 'A1'")
    summary = validate_marts(marts_db, "2026-01-01", run_id="warn", data_docs_dir=tmp_path / "docs")
    assert (summary["failed_critical"], summary["failed_warning"]) == (0, 1)
