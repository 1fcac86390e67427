"""Load one feed file as one batch: atomic, idempotent, reconciled.

A batch is (source, entity, day). Loading it again replaces that day's rows in the raw table and
in raw._rejected within one transaction, so a rerun never duplicates. Records stream with COPY into
a temporary table; the entity's contract (load/checks.py) is checked there in SQL, and each row
goes either to the raw table or to raw._rejected with its reason. audit.load_batches records
rows_read = rows_loaded + rows_rejected for every batch.
"""

from __future__ import annotations

import csv
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
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
    started = datetime.now(UTC)
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
            ident = {
                "table": table,
                "cols": sql.SQL(", ").join(map(sql.Identifier, entity.columns)),
                "pk": sql.Identifier(entity.primary_key),
                "reason": reject_reason(entity),
            }
            # only the broken rows are materialised; the good ones go straight on to raw
            conn.execute(
                sql.SQL(
                    "create temp table _bad on commit drop as select _seq, _reason from ("
                    " select _seq, {reason} as _reason from ("
                    "  select i.*, case when i._seq > d._first then 2 else 1 end as _dup from _incoming i left join ("
                    "   select {pk} as _key, min(_seq) as _first from _incoming group by {pk} having count(*) > 1"
                    "  ) d on i.{pk} = d._key) i"
                    ") c where _reason is not null"
                ).format(**ident)
            )
            rejects += conn.execute(
                sql.SQL(
                    "insert into raw._rejected (_batch_id, _batch_date, source, entity, origin, raw_text, reason)"
                    " select %s, %s, %s, %s, coalesce(r._origin, %s || ':' || (r._seq + 1)),"
                    " row_to_json(r)::text, b._reason"
                    " from (select {cols}, _origin, _seq from _incoming) r join _bad b using (_seq)"
                ).format(**ident),
                [batch_id, batch_date, entity.source, entity.name, str(path)],
            ).rowcount
            loaded = conn.execute(
                sql.SQL(
                    "insert into raw.{table} ({cols}, _batch_id, _batch_date, _loaded_at, _origin)"
                    " select {cols}, %s, %s, %s, coalesce(_origin, %s || ':' || (_seq + 1)) from _incoming i"
                    " where not exists (select from _bad b where b._seq = i._seq)"
                ).format(**ident),
                [batch_id, batch_date, started, str(path)],
            ).rowcount
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
    """Stream the file's records into temp table _incoming; returns how many were rejected as
    unparseable (those go straight to raw._rejected)."""
    columns = [sql.SQL("{} text").format(sql.Identifier(c)) for c in entity.columns]
    conn.execute(
        sql.SQL("create temp table _incoming ({}, _origin text, _seq bigserial) on commit drop").format(
            sql.SQL(", ").join(columns)
        )
    )
    if entity.format == "csv" and _copy_csv_natively(conn, entity, path):
        return 0
    rejects: list[tuple] = []
    target = sql.SQL(", ").join(map(sql.Identifier, (*entity.columns, "_origin")))
    with conn.cursor() as cur, cur.copy(sql.SQL("copy _incoming ({}) from stdin").format(target)) as copy:
        for origin, values, raw_text, reason in READERS[entity.format](entity, path):
            if values is None:
                rejects.append((origin, raw_text, reason))
            else:
                copy.write_row((*values, origin))
    if rejects:  # rare by nature, so kept in memory until here
        with (
            conn.cursor() as cur,
            cur.copy(
                "copy raw._rejected (_batch_id, _batch_date, source, entity, origin, raw_text, reason) from stdin"
            ) as copy,
        ):
            for origin, raw_text, reason in rejects:
                copy.write_row((batch_id, batch_date, entity.source, entity.name, origin, raw_text, reason))
    return len(rejects)


def _copy_csv_natively(conn: Connection, entity: Entity, path: Path) -> bool:
    """The fast path for a well-formed CSV: PostgreSQL parses the file's bytes itself.

    Origins are derived from the row order (`file:line`, _seq + 1 for the header). Extra columns in the file land in
    _incoming too and are ignored. A structural error (a line with the wrong number of fields,
    bad quoting) rolls this attempt back, and the caller falls back to the record-by-record reader,
    which rejects exactly the broken lines.
    """
    import psycopg

    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), None)
    if header is None:
        return True  # an empty export: no rows that day
    missing = [c for c in entity.columns if c not in header]
    if missing or len(set(header)) != len(header):
        return False  # the reader reports it, naming the file and the columns
    extra = [c for c in header if c not in entity.columns]
    for column in extra:
        conn.execute(sql.SQL("alter table _incoming add column {} text").format(sql.Identifier(column)))
    statement = sql.SQL("copy _incoming ({}) from stdin (format csv, header true)").format(
        sql.SQL(", ").join(map(sql.Identifier, header))
    )
    try:
        with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy, path.open("rb") as f:
            while chunk := f.read(1 << 20):
                copy.write(chunk)
    except (
        psycopg.errors.BadCopyFileFormat,
        psycopg.errors.InvalidTextRepresentation,
        psycopg.errors.CharacterNotInRepertoire,
        psycopg.errors.UntranslatableCharacter,
    ):
        for column in extra:
            conn.execute(sql.SQL("alter table _incoming drop column {}").format(sql.Identifier(column)))
        return False
    return True  # _origin stays NULL: it is `file:line`, derived from _seq when rows move on


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
