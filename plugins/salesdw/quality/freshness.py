"""The source freshness gate: how long ago each raw source table last received a row, per dbt.

Freshness is declared on the dbt sources (dbt_project/models/staging/*/_*__sources.yml): the age of
the newest `_loaded_at` the loader stamped on a table's rows, against `warn_after` (sources.yml
`freshness_warn_days`) and `error_after`. The nightly DAG runs `dbt source freshness` right after
the loads (cosmos' DbtSourceLocalOperator) and hands what dbt wrote in its target folder
(sources.json, manifest.json) to `record_freshness`, which keeps one row per source table in
audit.dq_results (suite `dbt.source_freshness`): a table past `warn_after` is a failed warning,
one past `error_after` a failed critical check, which raises QualityGateError so that nothing is
built or published from a feed that stopped arriving.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from salesdw.quality.results import CRITICAL, WARNING, QualityGateError, record_results

__all__ = ["SUITE", "QualityGateError", "record_freshness"]

SUITE = "dbt.source_freshness"
THRESHOLDS = ("warn_after", "error_after")
NEVER = "0001-01-01"  # dbt's max_loaded_at for a table without rows: "infinitely long ago"
log = logging.getLogger(__name__)


def record_freshness(url: str, data_interval: str, target_dir: Path, *, run_id: str) -> dict:
    """Record every source table's freshness from dbt's `target_dir`; raise QualityGateError when one
    is older than its `error_after`, RuntimeError when dbt could not measure one."""
    results = json.loads((target_dir / "sources.json").read_text())["results"]
    nodes = json.loads((target_dir / "manifest.json").read_text())["sources"]
    rows, statuses, stale, warnings, broken = [], {}, [], [], []
    for result in sorted(results, key=lambda r: r["unique_id"]):
        node = nodes[result["unique_id"]]
        name, table = f"{node['source_name']}.{node['name']}", f"{node['schema']}.{node['identifier']}"
        expected = {"loaded_at_field": node.get("loaded_at_field")} | {
            k: v for k, v in (result.get("criteria") or node.get("freshness") or {}).items() if k in THRESHOLDS and v
        }
        status = result["status"]
        observed = {"status": status} | _observed(result)
        severity = WARNING if status == "warn" or (status == "pass" and "error_after" not in expected) else CRITICAL
        rows.append(
            (
                run_id,
                data_interval,
                SUITE,
                node["identifier"],
                f"source_freshness {name}",
                json.dumps(expected),
                severity,
                status == "pass",
                json.dumps(observed),
            )
        )
        statuses[name] = status
        if status == "error":
            stale.append(
                f"{name} ({table}): {_loaded(observed)}; error after {_threshold(expected, 'error_after')}"
                f" (warn after {_threshold(expected, 'warn_after')}); see {_inspect(node, table)}"
            )
        elif status == "warn":
            warnings.append(f"{name} ({table}): {_loaded(observed)}; warn after {_threshold(expected, 'warn_after')}")
        elif status != "pass":
            broken.append(f"{name} ({table}): {result.get('error') or status}")
    record_results(url, run_id, [SUITE], rows)
    for warning in warnings:
        log.warning("stale source (a warning, the run goes on): %s", warning)
    results_query = f"select * from audit.dq_results where run_id = '{run_id}' and suite = '{SUITE}'"
    if stale:
        raise QualityGateError(
            f"{len(stale)} source table(s) older than their error_after at the source freshness gate; nothing is"
            " built or published:\n  - "
            + "\n  - ".join(stale)
            + "\nA feed that stopped delivering rows: see its extract and load task logs and audit.load_batches;"
            f" results: `{results_query}`."
        )
    if broken:
        raise RuntimeError("dbt could not measure the freshness of:\n  - " + "\n  - ".join(broken))
    return {
        "run_id": run_id,
        "evaluated": len(rows),
        "failed_critical": 0,
        "failed_warning": len(warnings),
        "warnings": warnings,
        "sources": statuses,
    }


def _observed(result: dict) -> dict:
    if "max_loaded_at" not in result:  # a runtime error: the check itself did not run
        return {"error": result.get("error")}
    age = result["max_loaded_at_time_ago_in_s"]
    empty = result["max_loaded_at"].startswith(NEVER)
    return {
        "max_loaded_at": None if empty else result["max_loaded_at"],
        "snapshotted_at": result["snapshotted_at"],
        "age_hours": None if empty else round(age / 3600, 2),
    }


def _loaded(observed: dict) -> str:
    if observed["max_loaded_at"] is None:
        return "no rows at all"
    hours = observed["age_hours"]
    age = f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"
    return f"newest row loaded at {observed['max_loaded_at'][:16].replace('T', ' ')} UTC, {age} ago"


def _threshold(expected: dict, key: str) -> str:
    spec = expected.get(key)
    return f"{spec['count']} {spec['period']}s" if spec else "none"


def _inspect(node: dict, table: str) -> str:
    return (
        f"`select _batch_date, max(_loaded_at), count(*) from {table} group by 1 order by 1 desc limit 10`,"
        f" `select * from audit.load_batches where source = '{node['source_name']}'"
        f" and entity = '{node['name']}' order by batch_date desc limit 10`"
    )
