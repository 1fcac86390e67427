"""The marts gate: business invariants over every BI-facing mart (suites.py), before publish."""

from __future__ import annotations

from pathlib import Path

from salesdw.quality.checkpoint import QualityGateError, Suite, run_suites
from salesdw.quality.suites import mart_suites

__all__ = ["QualityGateError", "validate_marts"]


def validate_marts(
    url: str, data_interval: str, *, run_id: str | None = None, schema: str = "marts", data_docs_dir: Path | None = None
) -> dict:
    """Run the marts checkpoint; record results; raise QualityGateError on a critical failure."""
    suites = [
        Suite(schema, table, expectations, rows_hint=f"select * from {schema}.{table}", label=f"marts.{table}")
        for table, expectations in mart_suites(schema).items()
    ]
    return run_suites(
        url,
        data_interval,
        suites,
        gate=schema,
        run_id=run_id or f"manual__{data_interval}",
        data_docs_dir=data_docs_dir,
    )
