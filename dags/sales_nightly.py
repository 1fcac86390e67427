"""sales_nightly: land the day's CRM, finance and after-sales feeds, build and test the marts, publish."""

from __future__ import annotations

import os
from datetime import UTC, datetime, time, timedelta

from airflow.sdk import Asset, dag, task, task_group
from airflow.timetables.trigger import CronTriggerTimetable
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.airflow.graph import is_detached_test
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior, TestIndirectSelection
from cosmos.profiles import PostgresUserPasswordProfileMapping
from salesdw import config, paths
from salesdw.manifest import marts
from salesdw.orchestrate.alerts import on_failure
from salesdw.orchestrate.connections import LOADER_CONN_ID, TRANSFORMER_CONN_ID, warehouse_asset_uri
from salesdw.orchestrate.dbt_results import NIGHTLY_EXCLUDE
from salesdw.orchestrate.dbt_tasks import PARSE_CACHE, NightlyBuild, NightlySource, NightlyTest
from salesdw.orchestrate.memory import log_peak, reset_peak
from salesdw.publish.publications import BUILD_SCHEMA_VARIABLE
from salesdw.transform import READERS as FIT_READERS

DOC = """
### sales_nightly
Every night, for the day that just ended (the run's data interval):

1. **extract** each source's feed for the day (CRM, finance, after-sales in parallel; one mapped
   task per entity): the CRM and service-desk REST APIs (connections `crm_api`,
   `service_desk_api`), the ERP's CSV/XLSX exports from its drop folder (`finance_files`);
2. **load** each into `raw.<source>__<entity>` with COPY, one replaceable batch per entity and day
   (`audit.load_batches` reconciles rows read = loaded + rejected; rejects land in `raw._rejected`),
   then **check_references**: records whose parent was never delivered wait in quarantine;
3. **validate_feeds**: Great Expectations over each feed's batch of the day; a critical failure
   (e.g. too many rows rejected) stops the run here, before dbt; alongside it **source_freshness**:
   `dbt source freshness` on every raw table's `_loaded_at` (results in `audit.dq_results`, suite
   `dbt.source_freshness`): past `warn_after` a warning, past `error_after` the run stops here too;
4. **dbt_build**: one `dbt build` of staging → intermediate → marts, each model's tests after it,
   into tonight's build schema (`marts_build_a` or `marts_build_b`, the one `marts` does not read);
   the marts' invariants are their data tests (their YAML): a failed one fails the task, at once,
   naming the test and the view of its rows in `dbt_test__audit`; each node's result in
   `audit.dbt_results` and the task's log (`SALESDW_DBT_EXECUTION=per_model` renders a cosmos task
   per model instead: README, "What a night costs"). The models that read what Python fits
   (source `ml`) wait for **clv_baseline** (BG/NBD + Gamma-Gamma, the CLV backtest's baseline,
   into `ml.clv_btyd_predictions`) and are built by **dbt_build_after_fits**;
5. **publish**: point every view of schema `marts`, the one BI reads (a view per model under
   `dbt_project/models/marts/`, as dbt's manifest lists them), at the build schema's tables,
   in one transaction, and record it in `audit.publications`: no row is copied, so its cost does not
   grow with the marts. A failed check leaves `marts` as it was.
6. **dashboard**: write the static dashboard of the marts just published (`salesdw dashboard`;
   `SALESDW_DASHBOARD_DIR`, default `.salesdw/dashboard/index.html`).

A failed task logs one message naming the check, the table, what was observed and how to see the
rows, and sends it to the `salesdw_alerts` connection (webhook or SMTP) when there is one.

Rerunning a date replaces that date's batches and rebuilds the same marts.
Each task reaches the warehouse as the login it needs: connection `warehouse_loader` (extract, load,
check_references, validate_feeds) or `warehouse_transformer` (dbt, publish).
"""

# The data interval is the day before the run: the 00:00 UTC run of D+1 processes day D.
NIGHTLY = CronTriggerTimetable("0 0 * * *", timezone="UTC", interval=timedelta(days=1))
FEED_DAY = "{{ data_interval_start | ds }}"
# `salesdw run --full-refresh`, or a trigger's conf {"full_refresh": true}: every model rebuilt from
# raw (after a change of the vocabulary, the reporting currency or a contract; each blue/green build
# schema keeps its own incremental facts, so two nights)
FULL_REFRESH = "{{ (dag_run.conf or {}).get('full_refresh', False) }}"
# `salesdw run` shortens the wait between tries: it runs interactively through `airflow dags test`.
RETRY_DELAY = timedelta(seconds=int(os.environ.get("SALESDW_RETRY_DELAY_SECONDS", "300")))

# The Airflow pool of every task that works the warehouse (load, references, gates, dbt, publish):
# with several workers, a pool of a few slots caps its concurrent work (docs/scaling.md)
WAREHOUSE_POOL = os.environ.get("SALESDW_WAREHOUSE_POOL", "default_pool")
# How dbt runs: `build` (default), one `dbt build` task; `per_model`, a cosmos task per model.
# The figures behind the default, and why not cosmos's WATCHER: README, "What a night costs".
DBT_EXECUTION = os.environ.get("SALESDW_DBT_EXECUTION", "build")

DBT_PROFILE = ProfileConfig(
    profile_name="salesdw",
    target_name="airflow",
    profile_mapping=PostgresUserPasswordProfileMapping(
        conn_id=TRANSFORMER_CONN_ID, profile_args={"schema": "staging", "threads": 2}
    ),
)


def marts_build_schema() -> str:
    """Template macro: the build schema tonight's marts go into (the one marts does not read)."""
    from salesdw.orchestrate.connections import warehouse_url_from_airflow
    from salesdw.publish.publications import build_schema_of

    return build_schema_of(warehouse_url_from_airflow(TRANSFORMER_CONN_ID))


def dbt_results(project_dir: str, context=None, **_) -> None:
    """cosmos callback after `dbt build` (it runs before a failure is raised): each node's result
    into audit.dbt_results and the task log; a failed data test fails the task without a retry."""
    from pathlib import Path

    from airflow.sdk.exceptions import AirflowFailException
    from salesdw.orchestrate.connections import warehouse_url_from_airflow
    from salesdw.orchestrate.dbt_results import record_dbt_results

    target = Path(project_dir) / "target"
    if (target / "run_results.json").is_file():
        day = context["data_interval_start"].date().isoformat()
        url = warehouse_url_from_airflow(TRANSFORMER_CONN_ID)
        recorded = record_dbt_results(url, day, target, run_id=context["run_id"])
        if recorded["failed_tests"]:  # the data is wrong: a rebuild would fail the same way
            raise AirflowFailException(
                "\n  - ".join(["marts stays as it was; dbt tests failed:", *recorded["failed_tests"]])
            )


@dag(
    dag_id="sales_nightly",
    user_defined_macros={"marts_build_schema": marts_build_schema},
    schedule=NIGHTLY,
    # any day the data can hold (sources.yml plausible_dates.not_before): Airflow runs nothing, and
    # says nothing, for a logical date before start_date
    start_date=datetime.combine(config.earliest_date(), time(), tzinfo=UTC),
    catchup=False,  # backfill with `salesdw run --start/--end` or `airflow backfill create`
    max_active_runs=1,
    default_args={
        "retries": 2,
        "retry_delay": RETRY_DELAY,
        "owner": "data-engineering",
        # one clear message in the task log, and to the `salesdw_alerts` connection when it exists
        "on_failure_callback": on_failure,
        # each task's peak memory in its log (orchestrate/memory.py): what sizes a worker
        "on_execute_callback": reset_peak,
        "on_success_callback": log_peak,
    },
    tags=["salesdw", "nightly", "crm", "finance", "after_sales", "dbt", "gx"],
    doc_md=DOC,
)
def sales_nightly():
    # multiple_outputs=False on the tasks that return a dict: Airflow would otherwise also push each of
    # its keys as an XCom of its own (242 pushes a night, 3.4 s of it); the whole dict is what is read
    @task(map_index_template="{{ entity }}", multiple_outputs=False)
    def extract(source: str, entity: str, data_interval_start=None, data_interval_end=None) -> dict:
        """Land one entity's feed for the interval: from its API or from the ERP's drop folder."""
        from airflow.sdk import get_current_context
        from salesdw.orchestrate import tasks
        from salesdw.orchestrate.connections import warehouse_url_from_airflow
        from salesdw.orchestrate.gates import refusal_fails_at_once

        get_current_context()["entity"] = entity  # names the mapped task instance in the UI
        with refusal_fails_at_once():  # a refused file or a missing connection: retrying cannot help
            return tasks.extract(
                source, entity, data_interval_start, data_interval_end, url=warehouse_url_from_airflow(LOADER_CONN_ID)
            )

    @task(map_index_template="{{ entity }}", pool=WAREHOUSE_POOL)
    def load(source: str, extracted: dict, feed_day: str) -> list[dict]:
        """COPY the landed file (and an API's deleted-records listing) into raw as the entity's batch
        for the day, replacing a previous one; an identical re-sent file changes nothing."""
        from datetime import date

        from airflow.sdk import get_current_context
        from salesdw.orchestrate import tasks
        from salesdw.orchestrate.connections import warehouse_url_from_airflow
        from salesdw.orchestrate.gates import refusal_fails_at_once

        get_current_context()["entity"] = extracted["entity"]
        with refusal_fails_at_once():
            return tasks.load(
                source, extracted, date.fromisoformat(feed_day), url=warehouse_url_from_airflow(LOADER_CONN_ID)
            )

    loaded = []
    for source in config.sources():

        @task_group(group_id=source)
        def land(source: str = source):
            names = [e.name for e in config.entities_of(source)]
            extracted = extract.partial(source=source).expand(entity=names)
            tables = [e.raw_table for e in config.entities_of(source)]
            tables += [e.deletions().raw_table for e in config.entities_of(source) if e.delivery == "api" or e.snapshot]
            outlets = [Asset(warehouse_asset_uri("raw", table)) for table in tables]
            return load.override(outlets=outlets).partial(source=source, feed_day=FEED_DAY).expand(extracted=extracted)

        loaded.append(land())

    @task(pool=WAREHOUSE_POOL, multiple_outputs=False)
    def check_references(feed_day: str) -> dict:
        """Quarantine the day's records whose parent was never delivered; readmit earlier orphans
        whose parent has landed since (sources.yml `references`)."""
        from datetime import date

        from salesdw.load.references import check_references as run_checks
        from salesdw.orchestrate.connections import warehouse_url_from_airflow

        return run_checks(warehouse_url_from_airflow(LOADER_CONN_ID), date.fromisoformat(feed_day))

    @task(pool=WAREHOUSE_POOL, multiple_outputs=False)
    def validate_feeds(feed_day: str, run_id: str | None = None) -> dict:
        """Great Expectations over each feed's batch of the day (its contract, rejects, references,
        volume, freshness); a critical failure stops the run before dbt touches the marts."""
        from datetime import date

        from salesdw.orchestrate.connections import warehouse_url_from_airflow
        from salesdw.orchestrate.gates import gate_stops_the_run
        from salesdw.quality.feeds import validate_feeds as run_checkpoint

        with gate_stops_the_run():
            return run_checkpoint(
                warehouse_url_from_airflow(LOADER_CONN_ID), date.fromisoformat(feed_day), run_id=run_id
            )

    def freshness_gate(project_dir: str, context=None, **_) -> None:
        """cosmos callback after `dbt source freshness`: record each source table's freshness; a table
        past its error_after stops the run before dbt builds anything."""
        from pathlib import Path

        from salesdw.orchestrate.connections import warehouse_url_from_airflow
        from salesdw.orchestrate.gates import gate_stops_the_run
        from salesdw.quality.freshness import record_freshness

        target = Path(project_dir) / "target"
        if not (target / "sources.json").is_file():
            return  # dbt failed before measuring anything: cosmos raises its error next (and retries)
        day = context["data_interval_start"].date().isoformat()
        with gate_stops_the_run():  # a feed stopped arriving
            record_freshness(warehouse_url_from_airflow(TRANSFORMER_CONN_ID), day, target, run_id=context["run_id"])

    # Every dbt task of the night: tonight's blue/green schema (read by dbt_project.yml), the run date
    # (read by macro get_run_date when dbt executes, not as a var: a new var every night would void the
    # saved parse), and dbt's saved parse of that schema (orchestrate/dbt_tasks.py), so no task of a
    # night parses the whole project.
    dbt_env = {BUILD_SCHEMA_VARIABLE: "{{ marts_build_schema() }}", "SALESDW_RUN_DATE": FEED_DAY}
    dbt_task_args = dict(
        project_dir=paths.DBT_PROJECT_DIR,
        profile_config=DBT_PROFILE,
        invocation_mode=InvocationMode.DBT_RUNNER,
        install_deps=False,
        emit_datasets=False,
        env=dbt_env,
        cache_dir=PARSE_CACHE,
        pool=WAREHOUSE_POOL,
    )
    source_freshness = NightlySource(
        task_id="source_freshness",
        doc_md="`dbt source freshness` over the raw tables; results in audit.dq_results (dbt.source_freshness).",
        callback=freshness_gate,
        # the feeds this deployment has: an entity it does not configure has an empty raw table, never fresh
        select=" ".join(f"source:{e.source}.{e.name}" for e in config.entities()),
        **dbt_task_args,
    )

    if DBT_EXECUTION == "build":
        # one `dbt build` (dbt's own threads and ordering, tests after their models): a task per model
        # cost the night more than the models' own work on our machines (README: the figures); what
        # each model did is recorded per node (audit.dbt_results) and listed in the task's log
        dbt_build = NightlyBuild(
            task_id="dbt_build",
            doc_md="One `dbt build` of every model, seed and test; per-node results in audit.dbt_results.",
            callback=dbt_results,
            exclude=f"{NIGHTLY_EXCLUDE} {FIT_READERS}",  # built after the fits they read, below
            full_refresh=FULL_REFRESH,
            **dbt_task_args,
        )
    else:
        # a task per model (cosmos LOCAL)
        dbt_build = DbtTaskGroup(
            group_id="dbt_build",
            project_config=ProjectConfig(
                dbt_project_path=paths.DBT_PROJECT_DIR,
                manifest_path=paths.DBT_MANIFEST,
                project_name="salesdw",
            ),
            profile_config=DBT_PROFILE,
            execution_config=ExecutionConfig(
                execution_mode=ExecutionMode.LOCAL,
                invocation_mode=InvocationMode.DBT_RUNNER,
                # a model's task runs the tests of that model alone; tests over two models: see below
                test_indirect_selection=TestIndirectSelection.CAUTIOUS,
            ),
            render_config=RenderConfig(
                load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.BUILD, exclude=[FIT_READERS]
            ),
            operator_args={"install_deps": False, "env": dbt_env, "pool": WAREHOUSE_POOL},
        )
        # The tests over two or more models (relationships, reconciliations) run in one dbt invocation
        # once every model is built: as a task each, their start-up would cost more than their queries.
        # Which tests those are is cosmos's own rule, over the graph it already read from the manifest.
        cross_model_tests = sorted(
            node.resource_name.split(".")[0]
            for node in dbt_build.dbt_graph.filtered_nodes.values()
            if is_detached_test(node)
        )
        built = list(dbt_build.get_leaves())
        built >> NightlyTest(
            task_id="cross_model_tests",
            task_group=dbt_build,
            doc_md="dbt tests over two or more models (relationships, reconciliations), after every model is built.",
            select=" ".join(cross_model_tests),
            **dbt_task_args,
        )

    @task(pool=WAREHOUSE_POOL, multiple_outputs=False)
    def clv_baseline(feed_day: str) -> dict:
        """Fit BG/NBD + Gamma-Gamma on the purchases up to the CLV backtest's cutoff (the model
        int_customer_purchase_summary dbt just built) and write each customer's prediction into
        ml.clv_btyd_predictions, the baseline clv_backtest reports beside the published model. Data
        that cannot be fitted records why in ml.clv_btyd_fits, and the night goes on."""
        from datetime import date

        from salesdw.orchestrate.connections import warehouse_url_from_airflow
        from salesdw.transform.clv_baseline import fit_clv_baseline

        return fit_clv_baseline(warehouse_url_from_airflow(TRANSFORMER_CONN_ID), date.fromisoformat(feed_day))

    dbt_build_after_fits = NightlyBuild(
        task_id="dbt_build_after_fits",
        doc_md="`dbt build` of the models reading the night's Python fits (source `ml`: clv_backtest) and their tests.",
        callback=dbt_results,
        select=FIT_READERS,
        exclude=NIGHTLY_EXCLUDE,
        full_refresh=FULL_REFRESH,
        **dbt_task_args,
    )

    # what it publishes: every model under models/marts/, read from dbt's manifest (without one, the
    # DAG still loads and publish stops, saying how to write it)
    published = marts() if paths.DBT_MANIFEST.is_file() else ()

    @task(
        outlets=[Asset(warehouse_asset_uri("marts", mart)) for mart in published],
        pool=WAREHOUSE_POOL,
        multiple_outputs=False,
    )
    def publish(feed_day: str, run_id: str | None = None) -> dict:
        """Publish the marts dbt built and tested into schema marts, all at once, and record the
        publication (with the build's tests by status)."""
        from salesdw.orchestrate.connections import warehouse_url_from_airflow
        from salesdw.publish.publications import publish as record

        return record(warehouse_url_from_airflow(TRANSFORMER_CONN_ID), feed_day, run_id=run_id)

    @task(pool=WAREHOUSE_POOL, multiple_outputs=False)
    def dashboard() -> dict:
        """Write the dashboard of the marts just published (publish/dashboard/: static pages that open
        from disk) into SALESDW_DASHBOARD_DIR, default .salesdw/dashboard. It reads as the transformer,
        the login the night has, which is not in salesdw_pii: rep names are masked, as BI sees them."""
        from salesdw.orchestrate.connections import warehouse_url_from_airflow
        from salesdw.publish.dashboard import write_dashboard

        return write_dashboard(warehouse_url_from_airflow(TRANSFORMER_CONN_ID), paths.DASHBOARD_DIR)

    loaded >> check_references(FEED_DAY) >> [validate_feeds(FEED_DAY), source_freshness] >> dbt_build
    dbt_build >> clv_baseline(FEED_DAY) >> dbt_build_after_fits
    dbt_build_after_fits >> publish(FEED_DAY) >> dashboard()  # the builds' own tests are the marts' gate


sales_nightly()
