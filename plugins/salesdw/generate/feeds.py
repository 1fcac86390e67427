"""Write a simulated world as the daily feeds each source system would deliver.

`<landing>/<source>/<YYYY-MM-DD>/<entity>.<jsonl|csv>`: the CRM and service-desk feeds are the
records their REST APIs return (one JSON object a line), finance is an ERP's CSV export. The first
day's feed is the initial full extract (everything changed up to that day); each later day holds
what changed that day. A file is written for every entity and day, empty or not.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from salesdw import config, paths
from salesdw.generate.world import Simulation, Version


def _json_default(value):
    if isinstance(value, Decimal):
        return float(value)  # APIs send numbers; repr keeps the cents exact for these sizes
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _by_day(records: list[list[Version]], start: date, days: int) -> list[list[dict]]:
    """Each record's latest version per feed day (day 0 also takes everything before it)."""
    buckets: list[list[dict]] = [[] for _ in range(days)]
    for versions in records:
        latest: dict[int, dict] = {}
        for ts, fields in versions:
            latest[max(0, (ts.date() - start).days)] = fields
        for day, fields in latest.items():
            buckets[day].append(fields)
    return buckets


def generate(
    *,
    start: date,
    days: int,
    scale: float = 1.0,
    history_days: int = 365,
    locale: str = "en_US",
    seed: int = 42,
    landing: Path | None = None,
) -> dict[str, int]:
    """Simulate and write the feeds; returns rows written per raw table."""
    landing = landing or paths.LANDING_DIR
    world = Simulation(scale=scale, start=start, days=days, history_days=history_days, locale=locale, seed=seed).run()
    counts: dict[str, int] = {}
    for entity in config.entities():
        buckets = _by_day(world.records.get(entity.name, []), start, days)
        counts[entity.raw_table] = sum(len(b) for b in buckets)
        for offset, rows in enumerate(buckets):
            folder = landing / entity.source / (start + timedelta(days=offset)).isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / entity.file_name
            tmp = target.with_suffix(target.suffix + ".part")
            with tmp.open("w", encoding="utf-8", newline="") as out:
                if entity.format == "csv":
                    writer = csv.writer(out)
                    writer.writerow(entity.columns)
                    writer.writerows([_csv_value(row.get(c)) for c in entity.columns] for row in rows)
                else:
                    for row in rows:
                        out.write(json.dumps({c: row.get(c) for c in entity.columns}, ensure_ascii=False, default=_json_default) + "\n")
            shutil.move(tmp, target)  # a feed file appears whole or not at all
    return counts
