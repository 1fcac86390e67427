"""Load every entity of a source for a day."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from salesdw import config
from salesdw.extract.landing import feed_files
from salesdw.load.batch import BatchResult, load_file, refresh_statistics
from salesdw.warehouse import connect


def load_source(source: str, day: date, *, url: str | None = None, landing: Path | None = None) -> list[BatchResult]:
    """Load every entity of `source` already landed for `day` (offline; the DAG loads per entity)."""
    files = feed_files(source, day, landing)
    entities = {e.name: e for e in config.entities_of(source)}
    with connect(url) as conn:
        results = [load_file(conn, entities[name], path, day) for name, path in files.items()]
        for name in files:
            refresh_statistics(conn, entities[name])
        return results
