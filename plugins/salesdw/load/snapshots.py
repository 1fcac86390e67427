"""A full-snapshot export's deletions, by comparison with the snapshot before it.

An entity a deployment delivers as `snapshot: true` (config.py) holds every live record in each
export: a key in the last snapshot loaded before the day and not in the day's is a record the
source deleted. Those keys become the day's deleted-records listing, landed and loaded as
raw.<source>__<entity>__deleted exactly as an API's listing is (deleted_at: the day), so staging
flags them as it flags an API's deletions. Computed in SQL over the two batches: nothing is held in
memory beyond a row, and re-running the day rewrites the same listing.
"""

from __future__ import annotations

import json
from datetime import date

from psycopg import Connection, sql

from salesdw.config import Entity
from salesdw.extract import stores
from salesdw.extract.stores import Location


def write_deletions(conn: Connection, entity: Entity, day: date, batch_id: str, path: Location) -> int:
    """Write the keys the day's snapshot (`batch_id`) dropped to `path` (in the landing store) as the
    deletions JSON lines."""
    previous = conn.execute(
        "select batch_id from audit.load_batches where source = %s and entity = %s and status = 'loaded'"
        " and batch_date < %s order by batch_date desc, finished_at desc limit 1",
        [entity.source, entity.name, day],
    ).fetchone()
    table, key = sql.Identifier("raw", entity.raw_table), sql.Identifier(entity.primary_key)
    query = sql.SQL(
        "select {key} from {table} where _batch_id = %s except select {key} from {table} where _batch_id = %s"
        " order by 1"
    ).format(key=key, table=table)
    part = stores.working_copy(path)
    count = 0
    try:
        with part.open("w", encoding="utf-8") as out, conn.cursor() as cur:
            for (gone,) in cur.stream(query, [previous[0], batch_id]) if previous else ():
                out.write(json.dumps({entity.primary_key: gone, "deleted_at": day.isoformat()}) + "\n")
                count += 1
    except BaseException:
        stores.discard(part, path)
        raise
    stores.publish(part, path)
    return count
