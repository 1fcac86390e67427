"""Load every entity of a source for a day."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from salesdw import config
from salesdw.extract import stores
from salesdw.extract.landing import feed_files
from salesdw.load.batch import BatchResult, after_load, load_file
from salesdw.warehouse import connect


def load_source(
    source: str, day: date, *, url: str | None = None, landing: Path | str | None = None
) -> list[BatchResult]:
    """Load every entity of `source` already landed for `day` (offline; the DAG loads per entity)."""
    files = feed_files(source, day, landing)
    entities = {e.name: e for e in config.entities_of(source)}
    results = []
    with connect(url) as conn:
        for name, landed in files.items():
            with stores.local_copy(landed) as path:
                results.append(load_file(conn, entities[name], path, day, origin=str(landed)))
        for name in files:
            after_load(conn, entities[name])
        return results
