"""audit.dbt_results: what each model, seed and test of a night's `dbt build` did.

The nightly DAG builds the marts in one `dbt build` (one task: a task per model cost the night
more than the models' own work, see the README's figures), and the few models that read the
night's Python fits in a second one after them (salesdw/transform/), so the per-model view an
operator gets from a task per model comes from dbt's own record instead: after each build, each
node's status, time, rows and message go into audit.dbt_results, and the task log shows the
slowest and every one that did not pass.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

DBT_RESULTS_DDL = """
create schema if not exists audit;
create table if not exists audit.dbt_results (
    run_id          text        not null,
    data_interval   date        not null,
    unique_id       text        not null,
    resource_type   text        not null,
    status          text        not null,
    execution_time  numeric     not null,
    rows_affected   bigint,
    failures        bigint,
    message         text,
    finished_at     timestamptz not null default now(),
    primary key (run_id, unique_id)
);
comment on table audit.dbt_results is 'one row per dbt node (model, seed, test) of each nightly dbt build';
"""
SHOWN = 8  # the slowest nodes the log lists
# What a night's `dbt build` leaves out. Unit tests check the models' logic on fixed inputs, so a
# night's data cannot change their outcome: they run in `make test` and CI (tests/test_dbt_build.py),
# as dbt advises, not every night (46 of them cost the build about a third of its time).
NIGHTLY_EXCLUDE = "resource_type:unit_test"


def record_dbt_results(url: str, data_interval: str, target_dir: Path, *, run_id: str) -> dict:
    """Record each node of dbt's run_results.json in `target_dir`; a summary by status, with each
    failed data test: its name, what dbt saw and the view of the rows it found (store_failures_as)."""
    import psycopg

    results = json.loads((Path(target_dir) / "run_results.json").read_text())["results"]
    rows = [
        (
            run_id,
            data_interval,
            r["unique_id"],
            r["unique_id"].split(".", 1)[0],
            r["status"],
            round(r.get("execution_time") or 0, 3),
            (r.get("adapter_response") or {}).get("rows_affected"),
            r.get("failures"),
            (r.get("message") or "")[:2000] or None,
        )
        for r in results
    ]
    with psycopg.connect(url) as conn:
        if not conn.execute("select to_regclass('audit.dbt_results') is not null").fetchone()[0]:
            conn.execute(DBT_RESULTS_DDL)  # a warehouse never set up; set-up creates it as the loader
        # a retried build records once; the night's other build (after the fits, transform/) stays
        conn.execute(
            "delete from audit.dbt_results where run_id = %s and unique_id = any(%s)", [run_id, [r[2] for r in rows]]
        )
        with conn.cursor() as cur:
            cur.executemany(
                "insert into audit.dbt_results (run_id, data_interval, unique_id, resource_type, status,"
                " execution_time, rows_affected, failures, message) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row[4]] = statuses.get(row[4], 0) + 1
    lines = [f"dbt build: {len(rows)} nodes, " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))]
    for row in sorted(rows, key=lambda r: -r[5])[:SHOWN]:
        lines.append(f"  {row[5]:8.2f} s  {row[4]:<7} {row[2]}" + (f"  ({row[6]:,} rows)" if row[6] else ""))
    for row in rows:
        if row[4] not in ("success", "pass"):
            lines.append(f"  {row[4]:<7} {row[2]}: {row[8] or ''}")
    log.info("\n".join(lines))
    failed = [
        f"{r['unique_id'].split('.')[2]}: {r.get('message')}"
        + (f"; rows: select * from {r['relation_name']}" if r.get("relation_name") else "")
        for r in results
        if r["unique_id"].startswith("test.") and r["status"] == "fail"
    ]
    return {"nodes": len(rows), "statuses": statuses, "failed_tests": failed}
