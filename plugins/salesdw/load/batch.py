"""Load one feed file as one batch: atomic, idempotent, reconciled.

A batch is (source, entity, day) and is one partition of raw.<source>__<entity>. Within one
transaction the loader builds the new partition as a table of its own, raw.<table>__load:
  1. COPY FREEZE streams the file in (the table is new in this transaction, so rows are written
     frozen, and on a single-node warehouse with wal_level=minimal without WAL);
  2. the entity's contract (load/checks.py) is checked in SQL, and broken rows move to
     raw._rejected with their origin and reason; a large file is proven clean while it is copied,
     by a typed COPY on a second connection (the core the COPY leaves idle), and skips the check;
  3. a unique index on the key finds duplicates (they are rejected too; the first occurrence stays);
  4. the loader's metadata arrives as constant column defaults, not written row by row, and the
     table replaces the day's old partition.
Readers see the old batch or the new one, never a mix; a rerun replaces, never duplicates.
audit.load_batches records rows_read = rows_loaded + rows_rejected for every batch.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

import psycopg
from psycopg import Connection, sql

from salesdw.config import Entity
from salesdw.load.checks import LOCATED, broken_typed, duplicate_reason, reject_reason
from salesdw.load.ddl import business_columns, ensure_base, ensure_raw_table
from salesdw.load.readers import READERS, located

# What a bad CSV does to PostgreSQL's own parser; the record-by-record reader then says which lines.
CSV_PARSE_ERRORS = (
    psycopg.errors.BadCopyFileFormat,
    psycopg.errors.InvalidTextRepresentation,
    psycopg.errors.CharacterNotInRepertoire,
    psycopg.errors.UntranslatableCharacter,
)
CHUNK_LINES = 8192
CHUNK_BYTES = 1 << 20
LINES = "pg_temp.salesdw_batch_lines"  # numbers the records of an unquoted CSV
LOCK_TIMEOUT = "2min"
# From this size a file's contract is proven on a second connection while it is copied: a latency
# win for one large feed, at the price of parsing it twice (more CPU), not worth it for small ones.
PROVE_BYTES = 16 << 20


class BatchLockedError(RuntimeError):
    """A rerun could not replace the day's partition because readers held the raw table."""


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


@dataclass
class _Batch:
    entity: Entity
    path: Path
    day: date
    batch_id: str
    started: datetime

    @property
    def building(self) -> sql.Composable:
        return sql.SQL("raw.{}").format(sql.Identifier(f"{self.entity.raw_table}__load"))

    @property
    def partition(self) -> str:
        return partition_name(self.entity, self.day)


def partition_name(entity: Entity, day: date) -> str:
    """The raw table's partition that holds the entity's batch for `day`."""
    return f"{entity.raw_table}__{day:%Y%m%d}"


def load_file(conn: Connection, entity: Entity, path: Path, batch_date: date) -> BatchResult:
    """Load `path` into raw.<source>__<entity> as the batch for `batch_date`; commits on success."""
    batch = _Batch(entity, path, batch_date, str(uuid.uuid4()), datetime.now(UTC))
    try:
        with conn.transaction():
            ensure_base(conn)
            ensure_raw_table(conn, entity)
            # one loader per table at a time; a rerun of the day replaces the old batch
            conn.execute("select pg_advisory_xact_lock(hashtext(%s))", [entity.raw_table])
            conn.execute("set local maintenance_work_mem = '256MB'")
            _supersede(conn, batch)
            copied, unparsed, proof = _copy(conn, batch)
            if proof is None:
                broken = _reject_broken(conn, batch)
                duplicates = 0 if _index_key(conn, batch) else _reject_duplicates(conn, batch)
            else:
                # The keys are indexed while the proof still runs. If none repeats, the order of the
                # two rejections cannot matter (else a broken row could shadow a later good one).
                unique = _index_key(conn, batch)
                broken = 0 if proof.result() else _reject_broken(conn, batch)
                duplicates = 0 if unique else _reject_duplicates(conn, batch)
            _swap_in(conn, batch)
            read, loaded = copied + unparsed, copied - broken - duplicates
            rejected = unparsed + broken + duplicates
            conn.execute(
                "insert into audit.load_batches (batch_id, source, entity, batch_date, origin, status, rows_read,"
                " rows_loaded, rows_rejected, started_at, finished_at) values (%s, %s, %s, %s, %s, 'loaded',"
                " %s, %s, %s, %s, now())",
                [
                    batch.batch_id,
                    entity.source,
                    entity.name,
                    batch_date,
                    str(path),
                    read,
                    loaded,
                    rejected,
                    batch.started,
                ],
            )
    except Exception as exc:
        _record_failure(conn, batch, exc)
        raise
    return BatchResult(batch.batch_id, entity.source, entity.name, batch_date, str(path), read, loaded, rejected)


def refresh_statistics(conn: Connection, entity: Entity) -> None:
    """ANALYZE the raw table once its day's batch is in, before anything reads it.

    Autovacuum analyzes partitions but never a partitioned table, and without statistics on it the
    planner misjudges every join over raw: a nested loop in fct_opportunity_stage_history took 75 s
    where, with them, a hash join takes 1.4 s. Not part of load_file, which one entity may run
    several times a day (a rerun, the deleted-records listing): once per table after loading.
    """
    with conn.transaction():
        conn.execute(sql.SQL("analyze raw.{}").format(sql.Identifier(entity.raw_table)))


def _supersede(conn: Connection, batch: _Batch) -> None:
    """The day's earlier batch: its rejects go, its audit row says it was replaced."""
    keys = [batch.entity.source, batch.entity.name, batch.day]
    conn.execute("delete from raw._rejected where source = %s and entity = %s and _batch_date = %s", keys)
    conn.execute(
        "update audit.load_batches set status = 'superseded'"
        " where source = %s and entity = %s and batch_date = %s and status = 'loaded'",
        keys,
    )


def _create(conn: Connection, batch: _Batch, columns: list[str], *, with_origin: bool) -> None:
    day = sql.Literal(batch.day)
    conn.execute(
        sql.SQL(
            "create table {table} ({columns}, _line bigint, {origin}"
            " _batch_date date not null default {day} check (_batch_date = {day}))"  # attach needs no scan
        ).format(
            table=batch.building,
            columns=business_columns(columns),
            origin=sql.SQL("_origin text not null," if with_origin else ""),
            day=day,
        )
    )


def _add_metadata(conn: Connection, batch: _Batch, origin: str | None) -> None:
    """Constant per batch, so stored once as the columns' defaults (no table rewrite)."""
    columns = [
        sql.SQL("add column _batch_id text not null default {}").format(sql.Literal(batch.batch_id)),
        sql.SQL("add column _loaded_at timestamptz not null default {}").format(sql.Literal(batch.started)),
    ]
    if origin is not None:
        columns.append(sql.SQL("add column _origin text not null default {}").format(sql.Literal(origin)))
    conn.execute(sql.SQL("alter table {} {}").format(batch.building, sql.SQL(", ").join(columns)))


def _copy(conn: Connection, batch: _Batch) -> tuple[int, int, Future[bool] | None]:
    """COPY the file into the new partition.

    Returns the rows copied, the records rejected as unparseable and, for a large CSV, whether every
    record keeps the contract (a future: the proof may still be running).
    """
    entity = batch.entity
    if entity.format == "csv":
        native = _copy_csv_natively(conn, batch)
        if native is not None:
            return native[0], 0, native[1]
    _create(conn, batch, entity.columns, with_origin=True)
    rejects: list[tuple] = []
    target = sql.SQL(", ").join(map(sql.Identifier, (*entity.columns, "_origin", "_line")))
    with conn.cursor() as cur:
        with cur.copy(sql.SQL("copy {} ({}) from stdin (freeze)").format(batch.building, target)) as copy:
            for origin, line, values, raw_text, reason in READERS[entity.format](entity, batch.path):
                if values is None:
                    rejects.append((located(origin, line), raw_text, reason))
                else:
                    copy.write_row((*values, origin, line))
        copied = cur.rowcount
    _add_metadata(conn, batch, None)
    if rejects:  # rare by nature, so kept in memory until here
        with (
            conn.cursor() as cur,
            cur.copy(
                "copy raw._rejected (_batch_id, _batch_date, source, entity, origin, raw_text, reason) from stdin"
            ) as copy,
        ):
            for origin, raw_text, reason in rejects:
                copy.write_row((batch.batch_id, batch.day, entity.source, entity.name, origin, raw_text, reason))
    return copied, len(rejects), None


def _copy_csv_natively(conn: Connection, batch: _Batch) -> tuple[int, Future[bool] | None] | None:
    """The fast path for a well-formed CSV: PostgreSQL parses the file's bytes itself.

    Returns the rows copied and the proof of a large file (see _prove_clean), or None when the
    record-by-record reader must take over: a header without the expected columns (the reader
    reports it), or a structural error (a line with the wrong number of fields, bad quoting), which
    rolls this attempt back so the reader can reject exactly the broken lines. Columns the file has
    beyond the contract are dropped.
    """
    entity = batch.entity
    with batch.path.open("rb") as handle:
        first = handle.readline()
        header = next(csv.reader([first.decode("utf-8", errors="replace")])) if first.strip() else None
        missing = [c for c in entity.columns if c not in (header or [])]
        if header is not None and (missing or len(set(header)) != len(header)):
            return None
        extra = [c for c in header or [] if c not in entity.columns]
        proof = None
        if header is not None and batch.path.stat().st_size >= PROVE_BYTES:
            pool = ThreadPoolExecutor(1, thread_name_prefix="salesdw-proof")
            # the connection is read here: libpq connections are not to be shared between threads
            proof = pool.submit(_prove_clean, (conn.info.dsn, conn.info.password), batch, header)
            pool.shutdown(wait=False)
        try:
            with conn.transaction():  # FREEZE needs the table created in this same savepoint
                _create(conn, batch, [*entity.columns, *extra], with_origin=False)
                if header is None:
                    copied = 0  # an empty export: no rows that day
                else:
                    copied = _stream(conn, batch, header, handle)
                if extra:
                    conn.execute(
                        sql.SQL("alter table {} {}").format(
                            batch.building,
                            sql.SQL(", ").join(sql.SQL("drop column {}").format(sql.Identifier(c)) for c in extra),
                        )
                    )
        except CSV_PARSE_ERRORS:
            if proof is not None:
                proof.result()  # the reader takes over; the proof has nothing left to say
            return None
    _add_metadata(conn, batch, str(batch.path))
    return copied, proof


def _prove_clean(conninfo: tuple[str, str | None], batch: _Batch, header: list[str]) -> bool:
    """Whether every record of the file keeps the entity's contract, by a typed COPY of its bytes.

    Runs on a second connection while the batch's own COPY does. The typed columns parse with the
    same input functions pg_input_is_valid uses, and the WHERE clause keeps rows that break the rest
    of the contract, so an empty result is proof that the SQL check would reject nothing. False (a
    value that did not parse, or a row kept) proves nothing: the check then runs and names reasons;
    so does any other failure here (say, no connection slot left), the check being always right.
    """
    types = dict(batch.entity.types)
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(types.get(c, "text"))) for c in header
    )
    statement = sql.SQL("copy proof from stdin (format csv, header true) where {}").format(broken_typed(batch.entity))
    dsn, password = conninfo
    try:
        with psycopg.connect(dsn, password=password, autocommit=True) as proving:
            proving.execute(sql.SQL("create temporary table proof ({})").format(columns))
            with proving.cursor() as cur, cur.copy(statement) as copy, batch.path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
                    copy.write(chunk)
            return not proving.execute("select exists (select from proof)").fetchone()[0]
    except psycopg.Error:
        return False


def _stream(conn: Connection, batch: _Batch, header: list[str], handle: BinaryIO) -> int:
    columns = sql.SQL(", ").join(map(sql.Identifier, header))
    unquoted = _unquoted(handle)
    if unquoted:
        # one record per line: PostgreSQL numbers them from a sequence, Python only passes bytes on
        conn.execute(f"create temporary sequence {LINES} start 2 cache {CHUNK_LINES}")
        conn.execute(sql.SQL("alter table {} alter _line set default nextval({})").format(batch.building, LINES))
        chunks: Iterator[bytes] = iter(lambda: handle.read(CHUNK_BYTES), b"")
    else:
        columns = sql.SQL("_line, {}").format(columns)
        chunks = _numbered(handle)
    with conn.cursor() as cur:
        with cur.copy(sql.SQL("copy {} ({}) from stdin (format csv, freeze)").format(batch.building, columns)) as copy:
            for chunk in chunks:
                copy.write(chunk)
        copied = cur.rowcount
    if unquoted:
        conn.execute(sql.SQL("alter table {} alter _line drop default").format(batch.building))
        conn.execute(f"drop sequence {LINES}")
    return copied


def _unquoted(handle: BinaryIO) -> bool:
    """Whether the rest of the file has no double quote, so no field can span lines; keeps the position."""
    start = handle.tell()
    try:
        return not any(b'"' in block for block in iter(lambda: handle.read(CHUNK_BYTES), b""))
    finally:
        handle.seek(start)


def _numbered(handle: BinaryIO) -> Iterator[bytes]:
    """The rest of the file in chunks, each record prefixed with its line number (the `_line` field).

    A line that ends inside a quoted field continues the record, so it gets no number of its own.
    """
    line_no, quoted, lines = 1, False, []
    for line in handle:
        line_no += 1
        lines.append(line if quoted else b"%d,%s" % (line_no, line))
        if line.count(b'"') & 1:
            quoted = not quoted
        if len(lines) == CHUNK_LINES:
            yield b"".join(lines)
            lines = []
    if lines:
        yield b"".join(lines)


def _move_to_rejected(conn: Connection, batch: _Batch, which: sql.Composable, reason: sql.Composable) -> int:
    """Move the rows of the new partition that `which` selects to raw._rejected with `reason`."""
    return conn.execute(
        sql.SQL(
            "with gone as (delete from {table} where {which} returning *, {reason} as _reason)"
            " insert into raw._rejected (_batch_id, _batch_date, source, entity, origin, raw_text, reason)"
            " select %s, %s, %s, %s, {located}, (to_jsonb(gone) - {meta})::text, _reason from gone"
        ).format(
            table=batch.building,
            which=which,
            reason=reason,
            located=LOCATED,
            meta=sql.Literal(["_line", "_origin", "_batch_id", "_batch_date", "_loaded_at", "_reason"]),
        ),
        [batch.batch_id, batch.day, batch.entity.source, batch.entity.name],
    ).rowcount


def _reject_broken(conn: Connection, batch: _Batch) -> int:
    reason = reject_reason(batch.entity)
    # one (parallel) scan finds them; the move then visits those rows alone
    broken = conn.execute(sql.SQL("select ctid from {} where {} is not null").format(batch.building, reason))
    return _move_rows(conn, batch, [ctid for (ctid,) in broken], reason)


def _move_rows(conn: Connection, batch: _Batch, ctids: list[str], reason: sql.Composable) -> int:
    if not ctids:
        return 0
    rows = sql.SQL("ctid = any({}::tid[])").format(sql.Literal(ctids))
    return _move_to_rejected(conn, batch, rows, reason)


def _index_key(conn: Connection, batch: _Batch) -> bool:
    """Index the new partition's key; False, and no index, when a key repeats."""
    try:
        with conn.transaction():
            conn.execute(_key_index(batch))
        return True
    except psycopg.errors.UniqueViolation:
        return False


def _key_index(batch: _Batch) -> sql.Composable:
    return sql.SQL("create unique index on {} ({}, _batch_date)").format(
        batch.building, sql.Identifier(batch.entity.primary_key)
    )


def _reject_duplicates(conn: Connection, batch: _Batch) -> int:
    """Move every later occurrence of a repeated key to raw._rejected, then index the keys."""
    later = sql.SQL(
        "ctid in (select ctid from (select ctid, row_number() over (partition by {} order by ctid) as n from {}) o"
        " where n > 1)"
    ).format(sql.Identifier(batch.entity.primary_key), batch.building)
    moved = _move_to_rejected(conn, batch, later, duplicate_reason(batch.entity))
    conn.execute(_key_index(batch))
    return moved


def _swap_in(conn: Connection, batch: _Batch) -> None:
    partition = sql.Identifier(batch.partition)
    # Replacing a day's partition needs a moment alone with the raw table: wait for running readers,
    # but not forever behind a session left open in a transaction.
    conn.execute("select set_config('lock_timeout', %s, true)", [LOCK_TIMEOUT])
    try:
        with conn.transaction():
            conn.execute(sql.SQL("drop table if exists raw.{}").format(partition))
    except psycopg.errors.LockNotAvailable as exc:
        raise BatchLockedError(
            f"{batch.entity.source}.{batch.entity.name}: {batch.path}: the batch for {batch.day} was not swapped in:"
            f" raw.{batch.entity.raw_table} stayed in use by other sessions for {LOCK_TIMEOUT} (see pg_stat_activity"
            " for sessions idle in transaction); nothing was changed, run the date again"
        ) from exc
    conn.execute(sql.SQL("alter table {} rename to {}").format(batch.building, partition))
    conn.execute(
        sql.SQL("alter table raw.{} attach partition raw.{} for values in ({})").format(
            sql.Identifier(batch.entity.raw_table), partition, sql.Literal(batch.day)
        )
    )


def _record_failure(conn: Connection, batch: _Batch, exc: Exception) -> None:
    try:
        with conn.transaction():
            ensure_base(conn)
            conn.execute(
                "insert into audit.load_batches (batch_id, source, entity, batch_date, origin, status,"
                " started_at, finished_at, error) values (%s, %s, %s, %s, %s, 'failed', %s, now(), %s)",
                [
                    batch.batch_id,
                    batch.entity.source,
                    batch.entity.name,
                    batch.day,
                    str(batch.path),
                    batch.started,
                    str(exc)[:2000],
                ],
            )
    except Exception:  # the original error is the one worth raising
        pass
