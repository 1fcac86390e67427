"""A mart in one step: its SQL and its YAML under dbt_project/models/marts/, and nothing else.

In a copy of the project (its dbt project and DAGs; the salesdw package unchanged), a new mart is
added; one night of the Maven CRM example (real data, by configuration) runs through Airflow, and
the mart is built, its data tests run in the night's build, and it is published in schema marts
for the BI login, its figures equal to the facts it sums.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import psycopg
import pytest
from salesdw import paths
from salesdw.warehouse.embedded import EmbeddedPostgres, free_port

pytestmark = pytest.mark.e2e

MART = "won_deals_by_month"
SQL = """\
select
    date_trunc('month', closed_date)::date as month,
    count(*) as won_deals,
    sum(amount_reporting) as won_amount
from {{ ref('fct_opportunities') }}
where is_won
group by 1
"""
YAML = f"""\
models:
  - name: {MART}
    description: Won deals and their amount, by month of closing.
    config:
      contract: {{enforced: true}}
    constraints:
      - type: primary_key
        columns: [month]
    columns:
      - name: month
        description: First day of the month the deals closed in.
        data_type: date
      - name: won_deals
        description: Deals won that month.
        data_type: bigint
        data_tests:
          - between:
              arguments: {{min_value: 1}}
      - name: won_amount
        description: Their amount, in the reporting currency.
        data_type: numeric(18,2)
        meta: {{format: reporting_currency}}
"""


def _salesdw(env: dict, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "salesdw.cli", *args], env=env, capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, f"salesdw {' '.join(args)}:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """The copy, with the new mart, after one night; yields (admin URL, BI URL)."""
    root, state = tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("state")
    skip = shutil.ignore_patterns("target", "logs", "__pycache__")
    for folder in ("dbt_project", "dags"):
        shutil.copytree(paths.ROOT / folder, root / folder, ignore=skip)
    marts = root / "dbt_project" / "models" / "marts" / "sales"
    (marts / f"{MART}.sql").write_text(SQL)
    (marts / f"_{MART}.yml").write_text(YAML)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESDW_", "AIRFLOW_", "WAREHOUSE_URL"))}
    env.update(
        SALESDW_HOME=str(root),
        SALESDW_CONFIG=str(paths.ROOT / "examples" / "maven_crm" / "salesdw.yml"),
        SALESDW_STATE_DIR=str(state),
        SALESDW_DATA_DIR=str(state / "data"),
        SALESDW_PG_PORT=str(free_port()),
        AIRFLOW_HOME=str(state / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__COSMOS__ENABLE_TELEMETRY="False",
    )
    server = EmbeddedPostgres(state / "warehouse")
    try:
        _salesdw(env, "db", "start")
        out = _salesdw(env, "run", "--date", "2017-12-31")
        assert ": ok in" in out, out
        yield _salesdw(env, "db", "url", "--role", "admin").strip(), _salesdw(env, "db", "url").strip()
    finally:
        server.stop()


def test_a_new_mart_is_built_checked_and_published_with_no_python_edit(night):
    admin, bi = night
    with psycopg.connect(admin) as conn:
        (run_id,) = conn.execute("select run_id from audit.publications").fetchone()
        results = dict(
            conn.execute(
                "select resource_type || ':' || split_part(unique_id, '.', 3), status from audit.dbt_results"
                " where run_id = %s and unique_id like %s",
                [run_id, f"%{MART}%"],
            ).fetchall()
        )
        published = conn.execute("select mart_rows from audit.publications where run_id = %s", [run_id]).fetchone()
    # built and audited in the night's build: the model, and its test, which passed
    assert results[f"model:{MART}"] == "success", results
    assert [status for name, status in results.items() if name.startswith("test:")] == ["pass"], results
    assert MART in published[0]
    with psycopg.connect(bi) as conn:  # what BI reads: the view, described, equal to the facts
        mart = conn.execute(f"select count(*), sum(won_deals), sum(won_amount) from marts.{MART}").fetchone()
        facts = conn.execute(
            "select count(distinct date_trunc('month', closed_date)), count(*), sum(amount_reporting)"
            " from marts.fct_opportunities where is_won"
        ).fetchone()
        described = conn.execute(f"select obj_description('marts.{MART}'::regclass, 'pg_class')").fetchone()
    assert mart == facts and mart[1] > 0, (mart, facts)
    assert described == ("Won deals and their amount, by month of closing.",)
