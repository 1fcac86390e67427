"""Load one feed file as one batch: atomic, idempotent, reconciled.

A batch is (source, entity, day). Loading it again replaces that day's rows in the raw table and
in raw._rejected within one transaction, so a rerun never duplicates. Records stream with COPY into
a temporary table; the entity's contract (load/checks.py) is checked there in SQL, and each row
goes either to the raw table or to raw._rejected with its reason. audit.load_batches records
rows_read = rows_loaded + rows_rejected for every batch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from psycopg import Connection, sql

from salesdw.config import Entity
from salesdw.load.checks import reject_reason
from salesdw.load.ddl import ensure_base, ensure_raw_table
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
            rejects = _copy_incoming(conn, entity, path, batch_id, batch_date)
            read = rejects + conn.execute("select count(*) from _incoming").fetchone()[0]
            ident = {"table": table, "cols": sql.SQL(", ").join(map(sql.Identifier, entity.columns)),
                     "pk": sql.Identifier(entity.primary_key), "reason": reject_reason(entity)}
            conn.execute(sql.SQL(
                "create temp table _checked on commit drop as select *, {reason} as _reason from ("
                " select *, row_number() over (partition by {pk} order by _seq) as _dup from _incoming) i"
            ).format(**ident))
            rejects += conn.execute(sql.SQL(
                "insert into raw._rejected (_batch_id, _batch_date, source, entity, origin, raw_text, reason)"
                " select %s, %s, %s, %s, _origin, row_to_json(r)::text, _reason from"
                " (select {cols}, _origin, _reason from _checked where _reason is not null) r"
            ).format(**ident), [batch_id, batch_date, entity.source, entity.name]).rowcount
            loaded = conn.execute(sql.SQL(
                "insert into raw.{table} ({cols}, _batch_id, _batch_date, _loaded_at, _origin)"
                " select {cols}, %s, %s, %s, _origin from _checked where _reason is null order by _seq"
            ).format(**ident), [batch_id, batch_date, started]).rowcount
            rejected = rejects
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


def _copy_incoming(conn: Connection, entity: Entity, path: Path, batch_id: str, batch_date: date) -> int:
    """Stream the file's records into temp table _incoming; unparseable ones straight to
    raw._rejected (rare by nature, so kept in memory until then). Returns how many were rejected."""
    columns = [sql.SQL("{} text").format(sql.Identifier(c)) for c in entity.columns]
    conn.execute(sql.SQL("create temp table _incoming ({}, _origin text, _seq bigserial) on commit drop").format(
        sql.SQL(", ").join(columns)))
    rejects: list[tuple] = []
    target = sql.SQL(", ").join(map(sql.Identifier, (*entity.columns, "_origin")))
    with conn.cursor() as cur, cur.copy(sql.SQL("copy _incoming ({}) from stdin").format(target)) as copy:
        for origin, values, raw_text, reason in READERS[entity.format](entity, path):
            if values is None:
                rejects.append((origin, raw_text, reason))
            else:
                copy.write_row((*values, origin))
    if rejects:
        with conn.cursor() as cur, cur.copy(
            "copy raw._rejected (_batch_id, _batch_date, source, entity, origin, raw_text, reason) from stdin"
        ) as copy:
            for origin, raw_text, reason in rejects:
                copy.write_row((batch_id, batch_date, entity.source, entity.name, origin, raw_text, reason))
    return len(rejects)


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
