"""The feeds gate: each raw feed's contract (suites.feed_suite) on the day's batches, before dbt.

A day's batch is its own partition of raw.<source>__<entity>, so every check reads just that day.
Volume is judged against the trailing average of the feed's earlier batches (the first one, the
initial full extract, left out).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from salesdw import config
from salesdw.load.batch import partition_name
from salesdw.quality.checkpoint import QualityGateError, Suite, run_suites
from salesdw.quality.suites import feed_suite

__all__ = ["QualityGateError", "validate_feeds"]

TRAILING_BATCHES = 7
USUAL_AFTER = 3  # earlier batches needed before volume is judged

USUAL_ROWS = """
select avg(rows_read), count(*) from (
    select rows_read from audit.load_batches b
    where status = 'loaded' and source = %(source)s and entity = %(entity)s and batch_date < %(day)s
      and batch_date > (select min(batch_date) from audit.load_batches f
                        where f.source = b.source and f.entity = b.entity and f.status = 'loaded')
    order by batch_date desc limit %(n)s
) recent
"""


def validate_feeds(
    url: str,
    day: date,
    *,
    run_id: str | None = None,
    data_docs_dir: Path | None = None,
    entities: list[config.Entity] | None = None,
) -> dict:
    """Check every feed's batch for `day` (or these entities' alone); record results; raise
    QualityGateError on a critical failure."""
    import psycopg

    suites = []
    with psycopg.connect(url, autocommit=True) as conn:
        for entity in entities or config.entities():
            partition = partition_name(entity, day)
            exists = conn.execute("select to_regclass(%s) is not null", [f"raw.{partition}"]).fetchone()[0]
            if not exists:
                continue  # nothing loaded for the day (the load task says why)
            usual, n = conn.execute(
                USUAL_ROWS, {"source": entity.source, "entity": entity.name, "day": day, "n": TRAILING_BATCHES}
            ).fetchone()
            suites.append(
                Suite(
                    "raw",
                    partition,
                    feed_suite(entity, day, float(usual) if n >= USUAL_AFTER else None),
                    rows_hint=f"select * from raw.{partition}; select * from raw._rejected where source ="
                    f" '{entity.source}' and entity = '{entity.name}' and _batch_date = '{day}'",
                    label=f"raw.{entity.raw_table}",
                )
            )
    return run_suites(
        url, day.isoformat(), suites, gate="feeds", run_id=run_id or f"manual__{day}", data_docs_dir=data_docs_dir
    )
