"""audit.dq_results: where every quality gate keeps each check's result (GX gates, dbt source freshness).

Apart from checkpoint.py so that warehouse set-up (warehouse/roles.py) and the freshness gate can
record results and stop a run without importing Great Expectations (5 s of import for a task that
does not validate anything with it).
"""

from __future__ import annotations

# a check's severity: a failed critical one stops the run, a failed warning is recorded and logged
CRITICAL, WARNING = "critical", "warning"


class QualityGateError(RuntimeError):
    """Critical expectations failed: the data must not be published."""


DQ_DDL = """
create schema if not exists audit;
create table if not exists audit.dq_results (
    run_id        text        not null,
    data_interval date        not null,
    suite         text        not null,
    table_name    text        not null,
    expectation   text        not null,
    kwargs        jsonb       not null,
    severity      text        not null,
    success       boolean     not null,
    observed      jsonb,
    validated_at  timestamptz not null default now()
);
"""


def record_results(url: str, run_id: str, suites: list[str], rows: list[tuple]) -> None:
    """Replace the run's results of these suites in audit.dq_results (a retried task records once).

    A row: (run_id, data_interval, suite, table_name, expectation, kwargs json, severity, success,
    observed json)."""
    import psycopg

    with psycopg.connect(url) as conn:
        # set-up creates the table: the gates' logins need no CREATE on audit (PostgreSQL checks
        # it before it finds the table exists), only a warehouse never set up runs the DDL
        if not conn.execute("select to_regclass('audit.dq_results') is not null").fetchone()[0]:
            conn.execute(DQ_DDL)
        conn.execute("delete from audit.dq_results where run_id = %s and suite = any(%s)", [run_id, suites])
        with conn.cursor() as cur:
            cur.executemany(
                "insert into audit.dq_results (run_id, data_interval, suite, table_name, expectation,"
                " kwargs, severity, success, observed) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
