"""Run expectation suites as one Great Expectations checkpoint, in the database (SQL pushdown).

The GX project lives in .salesdw/gx (generated, git-ignored; the suites are code in suites.py),
Data Docs are written to .salesdw/data_docs, and every expectation's result is kept in
audit.dq_results (results.py). The connection string reaches GX through an environment variable, so the
password is never written into GX's config files. A failed critical expectation raises
QualityGateError naming the table, the check, what was observed and how to see the rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from salesdw import paths
from salesdw.orchestrate.airflow_env import sqlalchemy_url
from salesdw.quality.results import CRITICAL, QualityGateError, record_results
from salesdw.quality.suites import severity_of

# QualityGateError and record_results live in results.py (no GX import there); the GX gates import them from here
__all__ = ["QualityGateError", "Suite", "record_results", "run_suites"]

SITE = "salesdw_data_docs"
INDEXED = 200  # validation results on the Data Docs index page
URL_VAR = "SALESDW_GX_WAREHOUSE_URL"


def _context(data_docs_dir: Path):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(paths.GX_DIR))
    bars = context.variables.progress_bars  # a dict once read back from the project's config
    if not bars or any(bars[key] for key in ("globally", "metric_calculations") if key in bars):
        # progress bars are noise in a task log or an operator's terminal: results are the record
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    site = {
        "class_name": "SiteBuilder",
        # the index lists the newest results only: built from every stored one, it cost each gate more
        # with every night (2,500 results read back: 5 s); audit.dq_results keeps the whole record
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "validation_results_limit": INDEXED},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(data_docs_dir)},
    }
    if SITE in context.get_site_names():
        context.update_data_docs_site(SITE, site)
    else:
        context.add_data_docs_site(SITE, site)
    return context


@dataclass
class Suite:
    """Expectations over one table (schema.table), named `schema.table` in GX and audit.dq_results."""

    schema: str
    table: str
    expectations: list
    # how to look at the offending rows, for the failure message
    rows_hint: str = ""
    # a name that stays the same from day to day when `table` does not (a feed's daily partition)
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or f"{self.schema}.{self.table}"


def run_suites(
    url: str, data_interval: str, suites: list[Suite], *, gate: str, run_id: str, data_docs_dir: Path | None = None
) -> dict:
    """Validate every suite in one checkpoint named after `gate` (e.g. "feeds"); record each
    expectation's result; raise QualityGateError if a critical one failed."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    data_docs_dir = data_docs_dir or paths.DATA_DOCS_DIR
    os.environ[URL_VAR] = sqlalchemy_url(url)
    context = _context(data_docs_dir)
    source = context.data_sources.add_or_update_postgres(name="warehouse", connection_string="${" + URL_VAR + "}")
    definitions = []
    by_name = {s.name: s for s in suites}
    for spec in suites:
        asset = source.add_table_asset(name=spec.name, table_name=spec.table, schema_name=spec.schema)
        batch = asset.add_batch_definition_whole_table(name="whole_table")
        suite = context.suites.add_or_update(gx.ExpectationSuite(name=spec.name, expectations=spec.expectations))
        definitions.append(
            context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=spec.name, data=batch, suite=suite)
            )
        )
    # A stored checkpoint may name assets this run does not have (a feed with no batch today, or one
    # entity's gate from `salesdw land`), and then it cannot even be read back: remove it by its key.
    store = context.checkpoint_store
    key = store.get_key(name=f"{gate}_checkpoint")
    if store.has_key(key):
        store.remove_key(key)
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=f"{gate}_checkpoint",
            validation_definitions=definitions,
            result_format="SUMMARY",
        )
    )
    result = checkpoint.run(run_id=RunIdentifier(run_name=run_id))
    # Data Docs once for the whole checkpoint, its own pages only: GX's UpdateDataDocsAction rebuilds the
    # site once per validation (14 a night), which was 19 of the feeds gate's 25 s
    context.build_data_docs(
        site_names=[SITE],
        resource_identifiers=[*result.run_results, *(ExpectationSuiteIdentifier(name) for name in by_name)],
    )

    rows, failures = [], []
    for validation in result.run_results.values():
        spec = by_name[validation.suite_name]
        for r in validation.results:
            cfg = r.expectation_config
            kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}
            severity = severity_of(cfg.meta)
            observed = {
                k: r.result.get(k)
                for k in ("observed_value", "unexpected_count", "partial_unexpected_list", "details")
                if r.result.get(k) is not None
            }
            error = _exception_message(r.exception_info)
            if error:  # the check itself could not run: say why rather than show an empty result
                observed["error"] = error
            rows.append(
                (
                    run_id,
                    data_interval,
                    spec.name,
                    spec.table,
                    cfg.type,
                    json.dumps(kwargs, default=str),
                    severity,
                    bool(r.success),
                    json.dumps(observed, default=str),
                )
            )
            if not r.success:
                what = cfg.description or f"{cfg.type}({_kwargs_text(kwargs)})"
                if cfg.type == "unexpected_rows_expectation" and not error:
                    # GX keeps the rows only in COMPLETE results, too big to keep for every check: fetch a few,
                    # and say them as column value pairs (a count alone, observed_value 1, tells nothing)
                    observed["first_rows"] = _first_rows(url, kwargs["unexpected_rows_query"], spec)
                    count = observed.get("observed_value")
                    message = f"{spec.name}: {what}; {count} row(s) break it: {_rows_text(observed['first_rows'])}"
                else:
                    message = f"{spec.name}: {what}; observed {json.dumps(observed, default=str)[:600]}"
                if spec.rows_hint:
                    message += f"; rows: {spec.rows_hint}"
                failures.append((severity, message))
    record_results(url, run_id, list(by_name), rows)
    critical = [msg for sev, msg in failures if sev == CRITICAL]
    summary = {
        "run_id": run_id,
        "evaluated": len(rows),
        "failed_critical": len(critical),
        "failed_warning": len(failures) - len(critical),
        "warnings": [msg for sev, msg in failures if sev != CRITICAL],
        "data_docs": str(data_docs_dir / "index.html"),
    }
    if critical:
        raise QualityGateError(
            f"{len(critical)} critical expectation(s) failed at the {gate} gate; nothing is published:\n  - "
            + "\n  - ".join(critical)
            + f"\nSee Data Docs at {summary['data_docs']} and `select * from audit.dq_results where run_id = '{run_id}'"
            " and not success`."
        )
    return summary


def _first_rows(url: str, query: str, spec: Suite, limit: int = 3) -> list[dict] | str:
    """The first rows an unexpected-rows query returns, as column -> value, for the failure message."""
    import psycopg
    from psycopg.rows import dict_row

    table = f'"{spec.schema}"."{spec.table}"'
    try:
        with psycopg.connect(url, row_factory=dict_row) as conn:
            return conn.execute(f"select * from ({query.format(batch=table)}) q limit {limit}").fetchall()
    except psycopg.Error as exc:  # the message must still go out: say why the rows are missing
        return f"(could not list them: {exc})"


def _rows_text(rows: list[dict] | str) -> str:
    if isinstance(rows, str):
        return rows
    return "; ".join(", ".join(f"{column} {value}" for column, value in row.items()) for row in rows)[:600]


def _kwargs_text(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k != "unexpected_rows_query")


def _exception_message(info: dict | None) -> str | None:
    """GX keeps a failed check's exception either flat or per metric; find its message."""
    if not info:
        return None
    if info.get("raised_exception"):
        return info.get("exception_message")
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return value.get("exception_message")
    return None
