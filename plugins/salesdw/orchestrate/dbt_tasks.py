"""The night's dbt tasks: cosmos's local operators, each reusing dbt's saved parse of tonight's build schema.

dbt's saved parse (target/partial_parse.msgpack) is valid only for the environment variables
dbt_project.yml read and the profile and vars it was written with; the build schema is one of those
variables, and blue/green alternates it every night. With cosmos's one shared cache (which also takes
the project folder's own target/ when that is newer, as after `salesdw dbt docs generate`, written with
another profile), every night's first dbt task parsed the whole project again: 7 s of a 57 s night
at the demo's size, and it grows with the project. Here each build schema keeps a parse of its own
(two in all), which tonight's tasks find valid and update.
"""

from __future__ import annotations

import gc
from importlib.util import find_spec
from pathlib import Path

from cosmos import cache
from cosmos import settings as cosmos_settings
from cosmos.dbt.project import get_partial_parse_path
from cosmos.operators.local import DbtBuildLocalOperator, DbtSourceLocalOperator, DbtTestLocalOperator

from salesdw.publish.publications import BUILD_SCHEMA_VARIABLE

# under it, one folder per build schema (marts_build_a, marts_build_b)
PARSE_CACHE = cosmos_settings.cache_dir / "sales_nightly__dbt"
# Airflow emits OpenLineage events only with its OpenLineage provider installed (not in our lock)
LINEAGE_EMITTED = find_spec("airflow.providers.openlineage") is not None


class _NightlyDbtTask:
    """Mixin: the partial parse comes from, and goes back to, the cache of the task's build schema
    (its rendered env), never from the project folder; and no lineage events are made when nothing would emit them."""

    def _handle_partial_parse(self, tmp_dir_path: Path) -> None:
        # cosmos's own step (a private method: cosmos is pinned, and tests/test_end_to_end.py checks
        # that a night's dbt tasks parse partially); cosmos writes the parse back to self.cache_dir after dbt
        self.cache_dir = PARSE_CACHE / self.env[BUILD_SCHEMA_VARIABLE]
        saved = get_partial_parse_path(self.cache_dir)
        if saved.is_file():
            cache._copy_partial_parse_to_project(saved, tmp_dir_path)

    def run_dbt_runner(self, *args, **kwargs):
        # After each dbt command cosmos collects garbage (gc.collect, for dbt's semaphores): a walk of
        # every object of a process that holds Airflow, Great Expectations and dbt, 0.4 s a task. What
        # is alive before dbt starts outlives it anyway; frozen meanwhile, the walk covers what dbt made.
        gc.freeze()
        try:
            return super().run_dbt_runner(*args, **kwargs)
        finally:
            gc.unfreeze()

    def calculate_openlineage_events_completes(self, *args, **kwargs) -> bool:
        # cosmos makes a night's events from dbt's artifacts whenever openlineage-integration-common is
        # installed (a dependency of cosmos), whether or not anything emits them: 0.2-0.3 s a dbt task
        if not LINEAGE_EMITTED:
            return False
        return super().calculate_openlineage_events_completes(*args, **kwargs)


class NightlySource(_NightlyDbtTask, DbtSourceLocalOperator):
    pass


class NightlyBuild(_NightlyDbtTask, DbtBuildLocalOperator):
    def execute(self, context, **kwargs):
        # no load commits while the build reads (warehouse/build_lock.py)
        from salesdw.orchestrate.connections import TRANSFORMER_CONN_ID, warehouse_url_from_airflow
        from salesdw.warehouse.build_lock import building

        with building(warehouse_url_from_airflow(TRANSFORMER_CONN_ID)):
            return super().execute(context, **kwargs)


class NightlyTest(_NightlyDbtTask, DbtTestLocalOperator):
    pass
