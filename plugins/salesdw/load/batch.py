"""Load one feed file as one batch: atomic, idempotent, reconciled.

A batch is (source, entity, day). Loading it again replaces that day's rows in the raw table and
in raw._rejected within one transaction, so a rerun never duplicates. Every record read is either
loaded or rejected with a reason, and audit.load_batches records the counts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from psycopg import Connection, sql

from salesdw.config import Entity
from salesdw.load.ddl import LOADER_COLUMNS, ensure_base, ensure_raw_table
from salesdw.load.readers import READERS


@dataclass
class BatchResult:
    batch_id: str
    source: str
    entity: str
    batch_date: date
    origin: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int


def load_file(conn: Connection, entity: Entity, path: Path, batch_date: date) -> BatchResult:
    """Load `path` into raw.<source>__<entity> as the batch for `batch_date`; commits on success."""
    batch_id = str(uuid.uuid4())
    started = datetime.now(timezone.utc)
    table = sql.Identifier(entity.raw_table)
    read = loaded = rejected = 0
    try:
        with conn.transaction():
            ensure_base(conn)
            ensure_raw_table(conn, entity)
            # one loader per table at a time; a rerun of the day replaces the old batch
            conn.execute("select pg_advisory_xact_lock(hashtext(%s))", [entity.raw_table])
            conn.execute(sql.SQL("delete from raw.{} where _batch_date = %s").format(table), [batch_date])
            conn.execute(
                "delete from raw._rejected where source = %s and entity = %s and _batch_date = %s",
                [entity.source, entity.name, batch_date],
            )
            conn.execute(
                "update audit.load_batches set status = 'superseded' "
                "where source = %s and entity = %s and batch_date = %s and status = 'loaded'",
                [entity.source, entity.name, batch_date],
            )
            rejects: list[tuple] = []
            columns = sql.SQL(", ").join(map(sql.Identifier, (*entity.columns, *LOADER_COLUMNS)))
            with conn.cursor() as cur, cur.copy(sql.SQL("copy raw.{} ({}) from stdin").format(table, columns)) as copy:
                for origin, values, raw_text, reason in READERS[entity.format](entity, path):
                    read += 1
                    if values is None:
                        rejects.append((batch_id, batch_date, entity.source, entity.name, origin, raw_text, reason))
                        continue
                    copy.write_row((*values, batch_id, batch_date, started, origin))
                    loaded += 1
            if rejects:  # rare by nature; kept in memory only until the batch commits
                with conn.cursor() as cur, cur.copy(
                    "copy raw._rejected (_batch_id, _batch_date, source, entity, origin, raw_text, reason) from stdin"
                ) as copy:
                    for row in rejects:
                        copy.write_row(row)
                rejected = len(rejects)
            conn.execute(
                "insert into audit.load_batches (batch_id, source, entity, batch_date, origin, status, rows_read,"
                " rows_loaded, rows_rejected, started_at, finished_at) values (%s, %s, %s, %s, %s, 'loaded',"
                " %s, %s, %s, %s, now())",
                [batch_id, entity.source, entity.name, batch_date, str(path), read, loaded, rejected, started],
            )
    except Exception as exc:
        _record_failure(conn, batch_id, entity, batch_date, path, started, exc)
        raise
    return BatchResult(batch_id, entity.source, entity.name, batch_date, str(path), read, loaded, rejected)


def _record_failure(conn, batch_id, entity, batch_date, path, started, exc) -> None:
    try:
        with conn.transaction():
            ensure_base(conn)
            conn.execute(
                "insert into audit.load_batches (batch_id, source, entity, batch_date, origin, status,"
                " started_at, finished_at, error) values (%s, %s, %s, %s, %s, 'failed', %s, now(), %s)",
                [batch_id, entity.source, entity.name, batch_date, str(path), started, str(exc)[:2000]],
            )
    except Exception:  # the original error is the one worth raising
        pass
