"""Every DAG imports cleanly, is tagged, retries, and sales_nightly has the promised shape."""

import pytest
from salesdw import config, paths
from salesdw.manifest import marts
from salesdw.orchestrate.dbt_results import NIGHTLY_EXCLUDE
from salesdw.transform import READERS as FIT_READERS


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
    # load -> check_references -> validate_feeds + source_freshness -> dbt_build -> clv_baseline
    # -> dbt_build_after_fits -> publish -> dashboard
    for source in config.sources():
        assert dag.get_task(f"{source}.load").downstream_task_ids == {"check_references"}
    assert dag.get_task("check_references").downstream_task_ids == {"validate_feeds", "source_freshness"}
    # both gates hold back the build
    assert dag.get_task("validate_feeds").downstream_task_ids == {"dbt_build"}
    assert dag.get_task("source_freshness").downstream_task_ids == {"dbt_build"}
    assert dag.get_task("source_freshness").base_cmd == ["source", "freshness"]
    build = dag.get_task("dbt_build")
    assert build.base_cmd == ["build"]  # every model, seed and data test: no --select
    # unit tests are make test's (dbt_results.py); the models reading the Python fits come after them
    assert not build.select and build.exclude == f"{NIGHTLY_EXCLUDE} {FIT_READERS}"
    assert build.downstream_task_ids == {"clv_baseline"}
    assert dag.get_task("clv_baseline").downstream_task_ids == {"dbt_build_after_fits"}
    after_fits = dag.get_task("dbt_build_after_fits")
    assert after_fits.base_cmd == ["build"] and after_fits.select == FIT_READERS
    assert after_fits.exclude == NIGHTLY_EXCLUDE
    # the builds' own tests are the marts' gate: a failed one fails its build, nothing is published
    assert after_fits.downstream_task_ids == {"publish"}
    assert (after_fits.vars, after_fits.env, after_fits.cache_dir) == (build.vars, build.env, build.cache_dir)
    # the dashboard is written from what was just published
    assert dag.get_task("publish").downstream_task_ids == {"dashboard"}
    assert "validate_marts" not in ids
    # freshness and the build share vars, environment and parse cache: the build reuses the parse
    freshness = dag.get_task("source_freshness")
    assert freshness.vars == build.vars and freshness.env == build.env and freshness.cache_dir == build.cache_dir
    assert build.cache_dir is not None
    # any day the data can hold runs (Airflow skips a logical date before start_date, silently)
    assert dag.start_date.date() == config.earliest_date()
    outlets = {o.uri for o in dag.get_task("crm.load").outlets}
    assert "postgres://warehouse:5432/salesdw/raw/crm__opportunities" in outlets
    # publish updates an asset per model under models/marts/, as dbt's manifest lists them
    published = {o.uri.rsplit("/", 1)[1] for o in dag.get_task("publish").outlets}
    assert published == set(marts()) and "target_attainment" in published


def test_sales_nightly_renders_a_task_per_model_on_request(dbt_manifest):
    """SALESDW_DBT_EXECUTION=per_model: a cosmos task per model (README, "What a night
    costs"); the seeds and both gates still come before every model that starts the build."""
    import json
    import os
    import subprocess
    import sys

    probe = f"""
import json
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder={str(paths.DAGS_DIR)!r}).dags["sales_nightly"]
print(json.dumps({{"ids": sorted(dag.task_ids),
    "after_feeds": sorted(dag.get_task("validate_feeds").downstream_task_ids),
    "after_freshness": sorted(dag.get_task("source_freshness").downstream_task_ids),
    "before_publish": sorted(dag.get_task("publish").upstream_task_ids),
    "before_fits": sorted(dag.get_task("clv_baseline").upstream_task_ids),
    "kinds": sorted({{type(t).__name__ for t in dag.tasks if t.task_id.startswith("dbt_build.")}}),
    "pools": {{t.task_id: t.pool for t in dag.tasks}}}}))
"""
    # and with a pool for the warehouse's work (docs/scaling.md)
    env = {**os.environ, "SALESDW_DBT_EXECUTION": "per_model", "SALESDW_WAREHOUSE_POOL": "salesdw_warehouse"}
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shape = json.loads(proc.stdout.strip().splitlines()[-1])
    models = [t for t in shape["ids"] if t.startswith("dbt_build.")]
    for model in ("customer_lifetime_value", "sales_funnel", "target_attainment", "stg_crm__opportunities"):
        assert any(model in t for t in models), f"no cosmos task for {model}"
    assert "dbt_build.cross_model_tests" in models
    assert shape["after_feeds"] == shape["after_freshness"]
    assert "dbt_build.opportunity_stages_seed_build" in shape["after_feeds"]
    assert not any("clv_backtest" in t for t in models)  # it reads the fits: built after them
    assert shape["before_publish"] == ["dbt_build_after_fits"]
    assert shape["before_fits"] and all(t.startswith("dbt_build.") for t in shape["before_fits"])
    assert shape["kinds"] == ["DbtBuildLocalOperator", "NightlyTest"]
    # every task that works the warehouse takes a slot of its pool; extracting from a source does not
    pooled = {t for t, pool in shape["pools"].items() if pool == "salesdw_warehouse"}
    assert pooled == {t for t in shape["ids"] if not t.endswith(".extract")}


def test_every_task_says_its_peak_memory(dagbag):
    from salesdw.orchestrate.memory import log_peak, reset_peak

    for t in dagbag.dags["sales_nightly"].tasks:
        assert t.pool == "default_pool", t.task_id  # no pool named: Airflow's default
        for callbacks, hook in ((t.on_execute_callback, reset_peak), (t.on_success_callback, log_peak)):
            assert hook in (callbacks if isinstance(callbacks, list) else [callbacks]), t.task_id


def test_every_task_tells_people_when_it_fails(dagbag):
    from salesdw.orchestrate.alerts import on_failure

    for t in dagbag.dags["sales_nightly"].tasks:
        callbacks = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
        assert on_failure in callbacks, t.task_id


def test_a_full_refresh_is_asked_for_by_the_runs_conf(dagbag):
    """`salesdw run --full-refresh` passes conf {"full_refresh": true}; without it the build stays
    incremental."""
    from types import SimpleNamespace

    from airflow.utils.strings import to_boolean

    for task_id in ("dbt_build", "dbt_build_after_fits"):
        build = dagbag.dags["sales_nightly"].get_task(task_id)
        for conf, expected in (({"full_refresh": True}, True), ({}, False), (None, False)):
            rendered = build.render_template(build.full_refresh, {"dag_run": SimpleNamespace(conf=conf)})
            assert to_boolean(rendered) is expected, (task_id, conf, rendered)


def test_dbt_tasks_make_no_lineage_events_nothing_emits(dagbag, tmp_path):
    """Without Airflow's OpenLineage provider (not in the lock) cosmos would still read dbt's artifacts
    into events after every dbt task, and copy the task's dbt environment (the transformer's password
    among it) into the worker's os.environ on the way."""
    import os

    from salesdw.orchestrate import dbt_tasks

    assert dbt_tasks.LINEAGE_EMITTED is False
    before = dict(os.environ)
    for task_id in ("source_freshness", "dbt_build", "dbt_build_after_fits"):
        task = dagbag.dags["sales_nightly"].get_task(task_id)
        assert task.calculate_openlineage_events_completes({"WAREHOUSE_PASSWORD": "s3cret"}, tmp_path) is False
        assert task.openlineage_events_completes == []
    assert dict(os.environ) == before
