"""dbt build (models, data tests, unit tests with hand-checked numbers) against a real warehouse."""

import json
from datetime import date

import psycopg
from salesdw import config
from salesdw.load.references import check_references
from salesdw.load.source import load_source
from salesdw.orchestrate.runner import dbt
from salesdw_dev.generate import generate

DAY = date(2026, 1, 1)


def test_dbt_build_passes_with_unit_tests(set_up_db, tmp_path):
    generate(start=DAY, days=1, scale=0.02, seed=9, data_dir=tmp_path, landing_files=True)
    for source in config.sources():
        load_source(source, DAY, url=set_up_db, landing=tmp_path / "landing")
    check_references(set_up_db, DAY)  # as the nightly DAG does between loads and dbt
    target = tmp_path / "target"
    proc = dbt(
        ["build", "--vars", "{run_date: '2026-01-01'}", "--target-path", str(target)],
        set_up_db,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    by_kind: dict[str, list[str]] = {}
    for r in results:
        by_kind.setdefault(r["unique_id"].split(".")[0], []).append(r["status"])
    assert len(by_kind["unit_test"]) >= 3, "every mart has hand-checked unit tests"
    assert set(by_kind["unit_test"]) == {"pass"}
    assert set(by_kind["model"]) == {"success"}
    assert len(by_kind["test"]) > 30 and set(by_kind["test"]) <= {"pass", "warn"}
    with psycopg.connect(set_up_db) as conn:
        for mart in (
            "customer_lifetime_value",
            "sales_funnel",
            "target_attainment",
            "fct_opportunities",
            "fct_opportunity_stage_history",
            "fct_bookings",
            "fct_targets",
            "fct_activities",
            "dim_sales_rep",
            "dim_customer",
            "dim_product",
        ):
            assert conn.execute(f"select count(*) from marts_build_a.{mart}").fetchone()[0] > 0, mart
        # contracts are enforced: every mart's key is a real primary key
        tables, keyed = conn.execute(
            "select count(*), count(*) filter (where exists (select from information_schema.table_constraints c"
            " where c.table_schema = t.table_schema and c.table_name = t.table_name"
            " and c.constraint_type = 'PRIMARY KEY')) from information_schema.tables t"
            " where table_schema = 'marts_build_a'"
        ).fetchone()
        assert tables >= 3 and keyed == tables
        # ... and every column a contract requires is NOT NULL in its table: no data test repeats these
        manifest = json.loads((target / "manifest.json").read_text())
        required = {
            (node["name"], name)
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model" and node["config"]["contract"]["enforced"]
            for name, column in node["columns"].items()
            if any(c["type"] == "not_null" for c in column.get("constraints", []))
        }
        not_null = set(
            conn.execute(
                "select table_name, column_name from information_schema.columns"
                " where table_schema = 'marts_build_a' and is_nullable = 'NO'"
            ).fetchall()
        )
        assert len(required) > 100 and required <= not_null, sorted(required - not_null)
        # the large incremental staging tables' keys are unique indexes, which no data test repeats
        unique_keys = dict(
            conn.execute(
                "select c.relname, a.attname from pg_index i join pg_class c on c.oid = i.indrelid"
                " join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]"
                " where c.relnamespace = 'staging'::regnamespace and i.indisunique and i.indnatts = 1"
            ).fetchall()
        )
        incremental_staging = [
            node
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model"
            and node["config"]["materialized"] == "incremental"
            and node["schema"] == "staging"
        ]
        assert len(incremental_staging) >= 10
        for node in incremental_staging:
            (key,) = [index["columns"][0] for index in node["config"]["indexes"] if index.get("unique")]
            assert unique_keys.get(node["name"]) == key, (node["name"], unique_keys)
            tested = [
                t["test_metadata"]["name"]
                for t in manifest["nodes"].values()
                if t.get("attached_node") == node["unique_id"] and t.get("column_name") == key
            ]
            assert "unique" not in tested, node["name"]
        with conn.transaction(force_rollback=True):
            try:
                conn.execute("update marts_build_a.fct_opportunities set account_id = null")
            except psycopg.errors.NotNullViolation as refused:
                assert "account_id" in str(refused)
            else:
                raise AssertionError("an opportunity without its account was accepted")
