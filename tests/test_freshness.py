"""The source freshness gate: the nightly DAG's `source_freshness` task (cosmos' `dbt source freshness`)
records one result per source table in audit.dq_results and stops the run on a stale feed."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from salesdw import config, paths
from salesdw.load.references import check_references
from salesdw.load.source import load_source
from salesdw.orchestrate.connections import TRANSFORMER_CONN_ID, airflow_conn_uri, airflow_conn_variable
from salesdw.publish.summary import FRESHNESS
from salesdw.quality.freshness import SUITE
from salesdw.warehouse import roles
from salesdw_dev.generate import generate

DAY = date(2026, 1, 1)
# sources.yml entities whose dbt source has no error_after (rows arrive monthly / half-yearly) or no
# freshness at all (reps change irregularly); every other entity warns and stops like the rest
WARN_ONLY = {"crm.targets": 35, "finance.product_costs": 190}
UNCHECKED = {"crm.reps"}
DAILY = {f"{e.source}.{e.name}" for e in config.entities()} - set(WARN_ONLY) - UNCHECKED


def _manifest_sources() -> dict:
    nodes = json.loads(paths.DBT_MANIFEST.read_text())["sources"].values()
    return {f"{n['source_name']}.{n['name']}": n for n in nodes if n["package_name"] == "salesdw"}


def test_freshness_is_declared_on_loaded_at_in_step_with_sources_yml(dbt_manifest):
    sources = _manifest_sources()
    days = config.freshness_warn_days()
    for name in DAILY:
        freshness = sources[name]["freshness"]
        assert sources[name]["loaded_at_field"] == "_loaded_at", name
        assert freshness["warn_after"] == {"count": days, "period": "day"}, name
        assert freshness["error_after"] == {"count": 7, "period": "day"}, name
    for name, warn_days in WARN_ONLY.items():
        assert sources[name]["freshness"]["warn_after"] == {"count": warn_days, "period": "day"}, name
        assert sources[name]["freshness"]["error_after"] is None, name
    # the deleted-records listings are often empty for days; reps change irregularly
    unchecked = {n for n, s in sources.items() if not (s["freshness"] or {}).get("warn_after")}
    assert unchecked == UNCHECKED | {f"{e.source}.{e.name}__deleted" for e in config.entities() if e.delivery == "api"}


@pytest.fixture(scope="module")
def landed(warehouse, dbt_manifest, tmp_path_factory):
    """One generated day loaded into its own database; its URL."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    warehouse.ensure_database(name)
    url = warehouse.url(name)
    data = tmp_path_factory.mktemp("feeds")
    generate(start=DAY, days=1, scale=0.05, seed=5, data_dir=data, landing_files=True)
    for source in config.sources():
        load_source(source, DAY, url=url, landing=data / "landing")
    check_references(url, DAY)
    yield url
    warehouse.drop_database(name)


@pytest.fixture(scope="module")
def as_transformer(landed, warehouse):
    """The landed database's URL for the login the DAG's dbt tasks run as."""
    roles.set_up(landed, secrets_dir=warehouse.state_dir)
    return roles.role_url("transformer", landed, secrets_dir=warehouse.state_dir)


@pytest.fixture(scope="module")
def freshness_task(dbt_manifest):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(paths.DAGS_DIR)).dags["sales_nightly"].get_task("source_freshness")


def _run(task, url, run_id, monkeypatch):
    """Execute the DAG's source_freshness task for DAY against `url` (the transformer's), as the worker would."""
    monkeypatch.setenv(airflow_conn_variable(TRANSFORMER_CONN_ID), airflow_conn_uri(url))
    context = {"run_id": run_id, "data_interval_start": datetime(2026, 1, 1, tzinfo=UTC)}
    task.render_template_fields(context)  # the dbt vars: {{ data_interval_start | ds }}
    task.execute(context)


def _results(url, run_id) -> dict:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select expectation, table_name, data_interval, severity, success, kwargs, observed"
            " from audit.dq_results where run_id = %s and suite = %s",
            [run_id, SUITE],
        ).fetchall()
    return {r[0].removeprefix("source_freshness "): r[1:] for r in rows}


def _newest_load(url, table) -> datetime:
    with psycopg.connect(url) as conn:
        return conn.execute(f"select max(_loaded_at) from raw.{table}").fetchone()[0]


def test_feeds_just_loaded_are_fresh(landed, as_transformer, freshness_task, monkeypatch):
    _run(freshness_task, as_transformer, "fresh", monkeypatch)
    results = _results(landed, "fresh")
    assert set(results) == DAILY | set(WARN_ONLY)  # one row per source table with a freshness rule
    for name, (table, day, severity, success, expected, observed) in results.items():
        source, entity = name.split(".")
        assert table == f"{source}__{entity}" and day == DAY, name
        assert success and observed["status"] == "pass", (name, observed)
        assert severity == ("warning" if name in WARN_ONLY else "critical"), name
        assert expected["loaded_at_field"] == "_loaded_at"
        loaded = datetime.fromisoformat(observed["max_loaded_at"])
        assert loaded == _newest_load(landed, table), name  # dbt measured the loader's stamp
        assert 0 <= observed["age_hours"] < 1, name
    assert results["crm.opportunities"][4] == {
        "loaded_at_field": "_loaded_at",
        "warn_after": {"count": 3, "period": "day"},
        "error_after": {"count": 7, "period": "day"},
    }
    assert "error_after" not in results["crm.targets"][4]


def test_a_stale_feed_stops_the_run_and_an_ageing_one_warns(landed, as_transformer, freshness_task, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    with psycopg.connect(landed) as conn:
        conn.execute("update raw.crm__opportunities set _loaded_at = now() - interval '30 days'")
        conn.execute("update raw.finance__fx_rates set _loaded_at = now() - interval '4 days'")
        conn.execute("update raw.crm__targets set _loaded_at = now() - interval '40 days'")
    with pytest.raises(AirflowFailException) as err:
        _run(freshness_task, as_transformer, "stale", monkeypatch)
    message = str(err.value)
    assert message.startswith("1 source table(s) older than their error_after at the source freshness gate")
    assert "crm.opportunities (raw.crm__opportunities): newest row loaded at" in message
    assert "30.0 days ago; error after 7 days (warn after 3 days)" in message
    assert "`select _batch_date, max(_loaded_at), count(*) from raw.crm__opportunities group by 1" in message
    assert f"where run_id = 'stale' and suite = '{SUITE}'" in message
    assert "fx_rates" not in message and "targets" not in message  # warnings do not block

    results = _results(landed, "stale")
    failed = {
        name: (severity, observed["status"]) for name, (_, _, severity, ok, _, observed) in results.items() if not ok
    }
    assert failed == {
        "crm.opportunities": ("critical", "error"),
        "finance.fx_rates": ("warning", "warn"),
        "crm.targets": ("warning", "warn"),
    }
    stale = results["crm.opportunities"][5]
    assert stale["age_hours"] == pytest.approx(30 * 24, abs=0.5)
    assert datetime.fromisoformat(stale["max_loaded_at"]) == _newest_load(landed, "crm__opportunities")
    assert datetime.fromisoformat(stale["max_loaded_at"]) < datetime.now(UTC) - timedelta(days=29)
    assert results["finance.fx_rates"][5]["age_hours"] == pytest.approx(4 * 24, abs=0.5)
    assert all(ok for name, (*_, ok, _, _) in results.items() if name not in failed)

    # `salesdw summary` reports the last run's freshness, naming the late sources
    with psycopg.connect(landed) as conn:
        by_status = conn.execute(FRESHNESS).fetchall()
    passed = sorted((DAILY | set(WARN_ONLY)) - {"crm.opportunities", "crm.targets", "finance.fx_rates"})
    assert by_status == [
        ("error", 1, "crm.opportunities"),
        ("pass", len(passed), ", ".join(passed)),
        ("warn", 2, "crm.targets, finance.fx_rates"),
    ]
