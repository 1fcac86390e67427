"""Every DAG imports cleanly, is tagged, retries, and sales_nightly has the promised shape."""

import pytest
from salesdw import config, paths


@pytest.fixture(scope="module")
def dagbag(dbt_manifest):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(paths.DAGS_DIR))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert dagbag.dag_ids, "no DAG found"


def test_every_dag_has_tags_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        for t in dag.tasks:
            assert t.retries >= 1, f"{dag_id}.{t.task_id} has no retries"


def test_sales_nightly_shape(dagbag):
    dag = dagbag.dags["sales_nightly"]
    ids = set(dag.task_ids)
    for source in config.sources():
        assert {f"{source}.extract", f"{source}.load"} <= ids
        # the three feeds land in parallel: no source's tasks depend on another source's
        upstream = dag.get_task(f"{source}.extract").upstream_task_ids
        assert upstream == set()
    models = {t for t in ids if t.startswith("dbt_build.")}
    for mart in ("customer_lifetime_value", "sales_funnel", "target_attainment"):
        assert any(mart in t for t in models), f"no cosmos task for {mart}"
    assert any("stg_crm__opportunities" in t for t in models)
    # load -> check_references -> validate_feeds + source_freshness -> dbt roots; dbt -> validate_marts -> publish
    assert dag.get_task("validate_marts").downstream_task_ids == {"publish"}
    assert all(t.startswith("dbt_build.") for t in dag.get_task("validate_marts").upstream_task_ids)
    for source in config.sources():
        assert dag.get_task(f"{source}.load").downstream_task_ids == {"check_references"}
    assert dag.get_task("check_references").downstream_task_ids == {"validate_feeds", "source_freshness"}
    downstream = dag.get_task("validate_feeds").downstream_task_ids
    assert downstream and all(t.startswith("dbt_build.") for t in downstream)
    # both gates hold back every dbt task that starts the build
    assert dag.get_task("source_freshness").downstream_task_ids == downstream
    assert dag.get_task("source_freshness").base_cmd == ["source", "freshness"]
    # the business's vocabulary is seeded before the models that read it
    assert "dbt_build.opportunity_stages_seed_build" in downstream
    # any day the data can hold runs (Airflow skips a logical date before start_date, silently)
    assert dag.start_date.date() == config.earliest_date()
    outlets = {o.uri for o in dag.get_task("crm.load").outlets}
    assert "postgres://warehouse:5432/salesdw/raw/crm__opportunities" in outlets


def test_every_task_tells_people_when_it_fails(dagbag):
    from salesdw.orchestrate.alerts import on_failure

    for t in dagbag.dags["sales_nightly"].tasks:
        callbacks = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
        assert on_failure in callbacks, t.task_id
