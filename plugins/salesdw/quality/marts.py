"""Validate the marts with a Great Expectations checkpoint, in the database (SQL pushdown).

The GX project lives in .salesdw/gx (generated, git-ignored; the suites are code in suites.py),
Data Docs are written to .salesdw/data_docs, and every expectation's result is kept in
audit.dq_results. The connection string reaches GX through an environment variable, so the
password is never written into GX's config files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from salesdw import paths
from salesdw.orchestrate.airflow_env import sqlalchemy_url
from salesdw.quality.suites import CRITICAL, mart_suites, severity_of

SITE = "salesdw_data_docs"
URL_VAR = "SALESDW_GX_WAREHOUSE_URL"

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


class QualityGateError(RuntimeError):
    """Critical expectations failed: the data must not be published."""


def _context(data_docs_dir: Path):
    import great_expectations as gx

    context = gx.get_context(mode="file", project_root_dir=str(paths.GX_DIR))
    site = {
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(data_docs_dir)},
    }
    if SITE in context.get_site_names():
        context.update_data_docs_site(SITE, site)
    else:
        context.add_data_docs_site(SITE, site)
    return context


def validate_marts(
    url: str, data_interval: str, *, run_id: str | None = None, schema: str = "marts", data_docs_dir: Path | None = None
) -> dict:
    """Run the marts checkpoint; record results; raise QualityGateError on a critical failure."""
    import great_expectations as gx
    import psycopg
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    data_docs_dir = data_docs_dir or paths.DATA_DOCS_DIR
    run_id = run_id or f"manual__{data_interval}"
    os.environ[URL_VAR] = sqlalchemy_url(url)
    context = _context(data_docs_dir)
    source = context.data_sources.add_or_update_postgres(name="warehouse", connection_string="${" + URL_VAR + "}")
    definitions = []
    for table, expectations in mart_suites().items():
        asset = source.add_table_asset(name=f"{schema}.{table}", table_name=table, schema_name=schema)
        batch = asset.add_batch_definition_whole_table(name="whole_table")
        suite = context.suites.add_or_update(gx.ExpectationSuite(name=f"{schema}.{table}", expectations=expectations))
        definitions.append(
            context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=f"{schema}.{table}", data=batch, suite=suite)
            )
        )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=f"{schema}_checkpoint",
            validation_definitions=definitions,
            actions=[UpdateDataDocsAction(name="update_data_docs", site_names=[SITE])],
            result_format="SUMMARY",
        )
    )
    result = checkpoint.run(run_id=RunIdentifier(run_name=run_id))

    rows, failures = [], []
    for validation in result.run_results.values():
        suite_name = validation.suite_name
        table = suite_name.split(".", 1)[1]
        for r in validation.results:
            cfg = r.expectation_config
            kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}
            severity = severity_of(cfg.meta)
            observed = {
                k: r.result.get(k)
                for k in ("observed_value", "unexpected_count", "partial_unexpected_list")
                if r.result.get(k) is not None
            }
            rows.append(
                (
                    run_id,
                    data_interval,
                    suite_name,
                    table,
                    cfg.type,
                    json.dumps(kwargs, default=str),
                    severity,
                    bool(r.success),
                    json.dumps(observed, default=str),
                )
            )
            if not r.success:
                message = (
                    f"{schema}.{table}: {cfg.type}({_kwargs_text(kwargs)}) observed {json.dumps(observed, default=str)}"
                )
                failures.append((severity, message))
    with psycopg.connect(url) as conn:
        conn.execute(DQ_DDL)
        conn.execute("delete from audit.dq_results where run_id = %s and suite like %s", [run_id, f"{schema}.%"])
        with conn.cursor() as cur:
            cur.executemany(
                "insert into audit.dq_results (run_id, data_interval, suite, table_name, expectation,"
                " kwargs, severity, success, observed) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
    critical = [msg for sev, msg in failures if sev == CRITICAL]
    summary = {
        "run_id": run_id,
        "evaluated": len(rows),
        "failed_critical": len(critical),
        "failed_warning": len(failures) - len(critical),
        "data_docs": str(data_docs_dir / "index.html"),
    }
    if critical:
        raise QualityGateError(
            f"{len(critical)} critical expectation(s) failed on the marts; nothing is published:\n  - "
            + "\n  - ".join(critical)
            + f"\nSee Data Docs at {summary['data_docs']} and `select * from audit.dq_results where run_id = '{run_id}'"
            " and not success`."
        )
    return summary


def _kwargs_text(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
