"""The marts' gate is their dbt data tests (each mart's YAML): every published key is tested, and
planted bad rows fail the test that names the invariant, with the rows kept to look at."""

import json

import psycopg
import pytest
from salesdw.manifest import marts, nodes
from salesdw.orchestrate.dbt_results import record_dbt_results
from salesdw.orchestrate.runner import dbt, dbt_env

# Good rows of a few marts, in tables made from their dbt contracts (every column, its data type):
# enough for each kind of test (a key, a grain, a range, A >= B, a ratio, rows) to pass.
GOOD = {
    "target_attainment": [
        dict(rep_id="R1", team="East 1", region="East", product_line="software", month="2026-01-01",
             target_amount=1000, bookings_amount=750, attainment_rate=0.75, cash_collected_amount=400,
             cash_attainment_rate=0.4, days_in_period=31, elapsed_days=1, bookings_run_rate_forecast=800,
             cash_run_rate_forecast=420, open_pipeline_amount=0, weighted_pipeline_amount=300,
             remaining_target=250, pipeline_coverage=1.2),
        # no target: no attainment
        dict(rep_id="R1", team="East 1", region="East", product_line="hardware", month="2026-01-01",
             target_amount=0, bookings_amount=10, cash_collected_amount=0, days_in_period=31, elapsed_days=1,
             open_pipeline_amount=0, weighted_pipeline_amount=0, remaining_target=0),
    ],
    "collections": [
        dict(owner_rep_id="R1", account_id="A1", month="2026-01-01", as_of_date="2026-01-01",
             amount_due_in_month=100, amount_due_collected=40, cash_received_in_month=60,
             outstanding_at_month_end=60, invoiced_trailing_90_days=100, overdue_0_30=60, collection_rate=0.4,
             dso=54),
    ],
    "customer_service": [
        dict(account_id="A1", month="2026-01-01", tickets_opened=1, tickets_resolved=1, surveys=5, promoters=2,
             passives=2, detractors=1, nps=20, csat_avg=3.6, median_resolution_hours=30, contracts_ending=2,
             contracts_renewed=1, renewal_rate=0.5),
    ],
    "clv_backtest": [dict(segment="all", is_total=True, value_basis="margin")],
    "fct_payments": [dict(payment_id="P1", invoice_id="I1", paid_on="2026-01-01", amount=40, amount_reporting=40)],
    "fct_targets": [dict(rep_id="R1", product_line="software", month="2026-01-01", target_amount=1000)],
}  # fmt: skip

# Each plant breaks one invariant; the test that must fail for it.
PLANTED = {
    # attainment that is not bookings / target
    "update {s}.target_attainment set attainment_rate = 0.7600 where product_line = 'software'":
        "ratio_of_target_attainment_attainment_rate__target_amount__bookings_amount",
    # an attainment without a target
    "update {s}.target_attainment set cash_attainment_rate = 0 where target_amount = 0":
        "ratio_of_target_attainment_cash_attainment_rate__target_amount__cash_collected_amount",
    # more collected on the month's due invoices than fell due
    "update {s}.collections set amount_due_collected = 101":
        "at_least_collections_amount_due_in_month__amount_due_collected",
    "update {s}.fct_payments set amount_reporting = -40": "between_fct_payments_amount_reporting__0",
    # empty, though the deployment has every feed it reads
    "delete from {s}.clv_backtest": "has_rows_clv_backtest_",
}  # fmt: skip


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """One dbt target folder for the module: the second dbt run reuses the first one's parse."""
    return tmp_path_factory.mktemp("dbt_target")


@pytest.fixture
def marts_db(fresh_db, dbt_manifest):
    """A warehouse whose build schema holds GOOD, each table made from its model's contract (without
    its constraints: the tests, not PostgreSQL, are to find what is planted)."""
    from psycopg import sql

    models = nodes("model")
    with psycopg.connect(fresh_db) as conn:
        schema = dbt_env(fresh_db)["SALESDW_MARTS_BUILD_SCHEMA"]
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        for mart, rows in GOOD.items():
            columns = models[mart]["columns"]
            table = sql.Identifier(schema, mart)
            conn.execute(
                sql.SQL("create table {} ({})").format(
                    table,
                    sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(columns[c]["data_type"])) for c in columns
                    ),
                )
            )
            for row in rows:
                conn.execute(
                    sql.SQL("insert into {} ({}) values ({})").format(
                        table,
                        sql.SQL(", ").join(map(sql.Identifier, row)),
                        sql.SQL(", ").join([sql.Placeholder()] * len(row)),
                    ),
                    list(row.values()),
                )
    return fresh_db, schema


def _dbt_test(url: str, target, **env) -> dict[str, str]:
    """`dbt test` of GOOD's marts (the tests over these alone: no unit tests, no singular tests,
    whose other models this warehouse does not have); each test's status by name."""
    (target / "run_results.json").unlink(missing_ok=True)
    proc = dbt(
        ["test", "--select", *GOOD, "--indirect-selection", "cautious", "--exclude", "resource_type:unit_test",
         "test_type:singular", "--target-path", str(target)],
        url,
        {**dbt_env(url), **env},
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert (target / "run_results.json").is_file(), proc.stdout[-3000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["status"] for r in results}


def test_every_published_key_is_enforced_once(dbt_manifest):
    """Each mart declares one primary_key constraint in its enforced contract (PostgreSQL refuses a
    duplicate or null key as dbt writes the table: tests/test_dbt_build.py), and no data test repeats
    what a constraint enforces: no uniqueness test of the key, no not_null test of a key column or
    of a column whose contract says not_null (a test would scan the whole mart again every night)."""
    models, tests = nodes("model"), nodes("test").values()
    for mart in marts():
        node = models[mart]
        assert node["config"]["contract"]["enforced"], f"marts.{mart}: its contract must be enforced"
        key = [c["columns"] for c in node.get("constraints", []) if c["type"] == "primary_key"] + [
            [name]
            for name, column in node["columns"].items()
            if any(c["type"] == "primary_key" for c in column.get("constraints", []))
        ]
        assert len(key) == 1, f"marts.{mart} must declare one primary_key constraint ({node['original_file_path']})"
        key = key[0]
        required = set(key) | {
            name
            for name, column in node["columns"].items()
            if any(c["type"] == "not_null" for c in column.get("constraints", []))
        }
        attached = [t["test_metadata"] for t in tests if t.get("attached_node") == node["unique_id"]]
        repeated = [
            t
            for t in attached
            if (t["name"] == "unique" and [t["kwargs"]["column_name"]] == key)
            or (t["name"] == "unique_combination_of_columns" and t["kwargs"]["combination_of_columns"] == key)
            or (t["name"] == "not_null" and t["kwargs"]["column_name"] in required)
        ]
        assert not repeated, f"marts.{mart}: data tests repeat its constraints: {repeated}"


def test_good_marts_pass(marts_db, target):
    url, _ = marts_db
    statuses = _dbt_test(url, target)
    assert len(statuses) >= 25 and set(statuses.values()) == {"pass"}, statuses
    for kind in ("has_rows", "ratio_of", "at_least", "between"):
        assert any(name.startswith(f"{kind}_") for name in statuses), kind


def test_planted_bad_rows_fail_the_test_of_their_invariant(marts_db, target):
    url, schema = marts_db
    with psycopg.connect(url) as conn:
        for plant in PLANTED:
            conn.execute(plant.format(s=schema))
        conn.execute(f"update {schema}.collections set dso = 5000")  # a warning: recorded, does not block
        conn.execute(f"delete from {schema}.customer_service")
    # a deployment without the after-sales feeds: customer_service is empty, as it should be
    feeds = dbt_env(url)["SALESDW_FEEDS"].split(",")
    statuses = _dbt_test(url, target, SALESDW_FEEDS=",".join(f for f in feeds if not f.startswith("after_sales.")))
    assert {name for name, status in statuses.items() if status == "fail"} == set(PLANTED.values())
    assert {name for name, status in statuses.items() if status == "warn"} == {"between_collections_dso__3650__0"}
    assert statuses["has_rows_customer_service_"] == "pass"
    # what the nightly build task fails with: the test, what dbt saw, and the view of the rows it found
    failed = record_dbt_results(url, "2026-01-01", target, run_id="planted")["failed_tests"]
    (attainment,) = [f for f in failed if f.startswith("ratio_of_target_attainment_attainment_rate")]
    assert "Got 1 result, configured to fail if != 0; rows: select * from" in attainment
    with psycopg.connect(url) as conn:
        rows = conn.execute(attainment.split("rows: ")[1]).fetchall()
    assert len(rows) == 1 and "software" in rows[0]
