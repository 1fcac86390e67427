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
from salesdw.load.checks import (
    BLANK,
    LOCATED,
    PROOF_TYPES,
    SEPARATOR,
    broken_typed,
    duplicate_reason,
    iso_dates,
    kind_of,
    misshapen,
    provable,
    reject_reason,
    text_of,
)
from salesdw.load.ddl import business_columns, ensure_base, ensure_raw_table
from salesdw.load.readers import READERS, Blank, located, trimmed_header
from salesdw.warehouse.build_lock import hold_for_load

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
    blank_lines: int = 0  # empty lines (and rows of empty fields): not records, so not in rows_read


@dataclass
class _Batch:
    entity: Entity
    path: Path
    day: date
    batch_id: str
    started: datetime
    origin: str  # the file as delivered (its name in the drop folder), which messages and _origin name
    blank_copied: int = 0  # rows of empty fields copied in, then set aside by the check
    blank_skipped: int = 0  # empty lines never copied

    @property
    def blank(self) -> int:
        return self.blank_copied + self.blank_skipped

    @property
    def building(self) -> sql.Composable:
        return sql.SQL("raw.{}").format(sql.Identifier(f"{self.entity.raw_table}__load"))

    @property
    def partition(self) -> str:
        return partition_name(self.entity, self.day)


def partition_name(entity: Entity, day: date) -> str:
    """The raw table's partition that holds the entity's batch for `day`."""
    return f"{entity.raw_table}__{day:%Y%m%d}"


def load_file(
    conn: Connection, entity: Entity, path: Path, batch_date: date, *, origin: str | None = None
) -> BatchResult:
    """Load `path` into raw.<source>__<entity> as the batch for `batch_date`; commits on success.

    `origin` names the file as it was delivered when `path` is its landed copy (same lines).
    """
    batch = _Batch(entity, path, batch_date, str(uuid.uuid4()), datetime.now(UTC), origin or str(path))
    try:
        with conn.transaction():
            ensure_base(conn)
            ensure_raw_table(conn, entity)
            hold_for_load(conn)  # not while a dbt build reads raw (warehouse/build_lock.py)
            # one loader per table at a time; a rerun of the day replaces the old batch
            conn.execute("select pg_advisory_xact_lock(hashtext(%s))", [entity.raw_table])
            # stamped once the table is ours: a table's batches commit in the order of their _loaded_at,
            # so a build that saw one has seen every earlier one (incremental staging relies on it)
            batch.started = conn.execute("select clock_timestamp()").fetchone()[0]
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
                shaped = _dates_shaped(conn, batch)  # the one rule a typed COPY cannot prove
                broken = 0 if proof.result() and shaped else _reject_broken(conn, batch)
                duplicates = 0 if unique else _reject_duplicates(conn, batch)
            _write_iso_dates(conn, batch)
            newest = _newest_cursor(conn, batch)
            _swap_in(conn, batch)
            # rows of empty fields the check set aside are blank lines, not records
            read = copied + unparsed - batch.blank_copied
            loaded = copied - broken - duplicates - batch.blank_copied
            rejected = unparsed + broken + duplicates
            conn.execute(
                "insert into audit.load_batches (batch_id, source, entity, batch_date, origin, status, rows_read,"
                " rows_loaded, rows_rejected, blank_lines, newest_cursor, started_at, finished_at) values (%s, %s, %s,"
                " %s, %s, 'loaded', %s, %s, %s, %s, %s::timestamptz, %s, now())",
                [
                    batch.batch_id,
                    entity.source,
                    entity.name,
                    batch_date,
                    batch.origin,
                    read,
                    loaded,
                    rejected,
                    batch.blank,
                    newest,
                    batch.started,
                ],
            )
    except Exception as exc:
        _record_failure(conn, batch, exc)
        raise
    return BatchResult(
        batch.batch_id, entity.source, entity.name, batch_date, batch.origin, read, loaded, rejected, batch.blank
    )


def after_load(conn: Connection, entity: Entity) -> None:
    """ANALYZE the raw table once its day's batch is in, before anything reads it; and note the
    newest cursor of its batches that an earlier salesdw loaded without it (once: see NEWEST_OF_OLDER).

    Autovacuum analyzes partitions but never a partitioned table, and without statistics on it the
    planner misjudges every join over raw: a nested loop in fct_opportunity_stage_history took 75 s
    where, with them, a hash join takes 1.4 s. Not part of load_file, which one entity may run
    several times a day (a rerun, the deleted-records listing): once per table after loading.
    """
    with conn.transaction():
        conn.execute(sql.SQL("analyze raw.{}").format(sql.Identifier(entity.raw_table)))
        if entity.cursor:
            newest = sql.SQL(NEWEST).format(sql.Identifier(entity.cursor), sql.Identifier("raw", entity.raw_table))
            conn.execute(sql.SQL(NEWEST_OF_OLDER).format(newest=newest), [entity.source, entity.name])


# A batch's newest record by its entity's cursor, '-infinity' when none has one (null: not known).
NEWEST = "select coalesce(max(cast({} as timestamptz)), '-infinity') from {}"
# Batches loaded before load_batches kept their newest cursor: read once from their partitions.
NEWEST_OF_OLDER = """
update audit.load_batches b set newest_cursor = ({newest} r where r._batch_date = b.batch_date)
where b.status = 'loaded' and b.source = %s and b.entity = %s and b.newest_cursor is null
"""


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
            for origin, line, values, raw_text, reason in READERS[entity.format](entity, batch.path, batch.origin):
                if reason is Blank:
                    batch.blank_skipped += 1
                elif values is None:
                    rejects.append((located(origin, line), raw_text, *reason))
                else:
                    copy.write_row((*values, origin, line))
        copied = cur.rowcount
    _add_metadata(conn, batch, None)
    if rejects:  # rare by nature, so kept in memory until here
        with (
            conn.cursor() as cur,
            cur.copy(
                "copy raw._rejected (_batch_id, _batch_date, source, entity, origin, raw_text, rule, reason) from stdin"
            ) as copy,
        ):
            for origin, raw_text, rule, reason in rejects:
                copy.write_row((batch.batch_id, batch.day, entity.source, entity.name, origin, raw_text, rule, reason))
    return copied, len(rejects), None


@dataclass
class _Shape:
    """What one pass of memchr-speed tests tells about a CSV's bytes below the header."""

    quoted: bool  # a double quote somewhere: a field may span lines
    nul: bool  # a NUL byte: PostgreSQL's parser refuses the file, the reader quarantines the record
    padded: bool  # a value may start or end with a space or tab


PAD = (b" ,", b", ", b" \n", b"\n ", b" \r", b"\t,", b",\t", b"\t\n", b"\n\t", b"\t\r")


def _scan(handle: BinaryIO) -> _Shape:
    """The shape of the rest of the file; keeps the position. Most files have no space or tab at
    all, and then the two-byte padding patterns (slower to look for) are not searched."""
    start = handle.tell()
    quoted = nul = padded = False
    tail = b"\n"  # as if a line just ended: a leading space pads the first value
    try:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            quoted = quoted or b'"' in block
            nul = nul or b"\x00" in block
            if not padded and (b" " in block or b"\t" in block):
                joined = tail + block
                padded = any(p in joined for p in PAD) or (quoted and (b'" ' in joined or b' "' in joined))
            tail = block[-1:]
        padded = padded or tail in (b" ", b"\t")
        return _Shape(quoted, nul, padded)
    finally:
        handle.seek(start)


def _header(handle: BinaryIO, entity: Entity) -> tuple[list[str] | None, int]:
    """The header (trimmed when the source trims) and its line, past any blank lines before it."""
    line_no = 0
    for first in handle:
        line_no += 1
        if first.strip():
            names = next(csv.reader([first.decode("utf-8-sig", errors="replace")]))
            return (trimmed_header(names) if entity.trim else names), line_no
    return None, line_no


def _copy_csv_natively(conn: Connection, batch: _Batch) -> tuple[int, Future[bool] | None] | None:
    """The fast path for a well-formed CSV: PostgreSQL parses the file's bytes itself.

    Returns the rows copied and the proof of a large file (see _prove_clean), or None when the
    record-by-record reader must take over: a header without the expected columns (the reader
    reports it), a NUL byte (the reader quarantines its record), or a structural error (a line with
    the wrong number of fields, bad quoting, a blank line), which rolls this attempt back so the
    reader can deal with exactly those lines. Columns the file has beyond the contract are dropped.
    """
    entity = batch.entity
    with batch.path.open("rb") as handle:
        header, header_line = _header(handle, entity)
        missing = [c for c in entity.columns if c not in (header or [])]
        if header is not None and (missing or len(set(header)) != len(header)):
            return None
        shape = _scan(handle)
        if shape.nul:
            return None
        extra = [c for c in header or [] if c not in entity.columns]
        proof = None
        trim = entity.trim and shape.padded
        # a padded value could hide a contract breach the proof would miss (a key of spaces): check instead
        if header is not None and not trim and provable(entity) and batch.path.stat().st_size >= PROVE_BYTES:
            pool = ThreadPoolExecutor(1, thread_name_prefix="salesdw-proof")
            # the connection is read here: libpq connections are not to be shared between threads
            proof = pool.submit(_prove_clean, (conn.info.dsn, conn.info.password), batch, header, header_line)
            pool.shutdown(wait=False)
        try:
            with conn.transaction():  # FREEZE needs the table created in this same savepoint
                _create(conn, batch, [*entity.columns, *extra], with_origin=False)
                if header is None:
                    copied = 0  # an empty export: no rows that day
                else:
                    copied = _stream(conn, batch, header, header_line, handle, shape.quoted)
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
    _add_metadata(conn, batch, batch.origin)
    if header is not None:
        batch.blank_skipped += header_line - 1  # blank lines above the header
    if trim:
        _trim(conn, batch)
    return copied, proof


def _trim(conn: Connection, batch: _Batch) -> None:
    """Strip spaces and tabs around the values (NULL when nothing is left), in the rows that have them."""
    columns = [sql.Identifier(c) for c in batch.entity.columns]
    stripped = [sql.SQL("btrim({}, E' \\t')").format(c) for c in columns]
    conn.execute(
        sql.SQL("update {} set {} where {}").format(
            batch.building,
            sql.SQL(", ").join(sql.SQL("{} = nullif({}, '')").format(c, s) for c, s in zip(columns, stripped)),
            sql.SQL(" or ").join(sql.SQL("{} <> {}").format(c, s) for c, s in zip(columns, stripped)),
        )
    )


def _prove_clean(conninfo: tuple[str, str | None], batch: _Batch, header: list[str], header_line: int) -> bool:
    """Whether every record of the file keeps the entity's contract, by a typed COPY of its bytes.

    Runs on a second connection while the batch's own COPY does. The typed columns parse with the
    same input functions pg_input_is_valid uses, and the WHERE clause keeps rows that break the rest
    of the contract, so an empty result is proof that the SQL check would reject nothing. False (a
    value that did not parse, or a row kept) proves nothing: the check then runs and names reasons;
    so does any other failure here (say, no connection slot left), the check being always right.
    """
    types = dict(batch.entity.types)
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(PROOF_TYPES.get(types.get(c), "text"))) for c in header
    )
    statement = sql.SQL("copy proof from stdin (format csv) where {}").format(broken_typed(batch.entity, batch.day))
    dsn, password = conninfo
    try:
        with psycopg.connect(dsn, password=password, autocommit=True) as proving:
            proving.execute(sql.SQL("create temporary table proof ({})").format(columns))
            with proving.cursor() as cur, cur.copy(statement) as copy, batch.path.open("rb") as handle:
                for _ in range(header_line):
                    handle.readline()
                for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
                    copy.write(chunk)
            return not proving.execute("select exists (select from proof)").fetchone()[0]
    except psycopg.Error:
        return False


def _stream(
    conn: Connection, batch: _Batch, header: list[str], header_line: int, handle: BinaryIO, quoted: bool
) -> int:
    columns = sql.SQL(", ").join(map(sql.Identifier, header))
    numbered = None
    if not quoted:
        # one record per line: PostgreSQL numbers them from a sequence, Python only passes bytes on
        conn.execute(f"create temporary sequence {LINES} start {header_line + 1} cache {CHUNK_LINES}")
        conn.execute(sql.SQL("alter table {} alter _line set default nextval({})").format(batch.building, LINES))
        chunks: Iterator[bytes] = iter(lambda: handle.read(CHUNK_BYTES), b"")
    else:
        columns = sql.SQL("_line, {}").format(columns)
        numbered = _Numbered(handle, header_line)
        chunks = iter(numbered)
    with conn.cursor() as cur:
        with cur.copy(sql.SQL("copy {} ({}) from stdin (format csv, freeze)").format(batch.building, columns)) as copy:
            for chunk in chunks:
                copy.write(chunk)
        copied = cur.rowcount
    if numbered is not None:
        batch.blank_skipped += numbered.blank
    else:
        conn.execute(sql.SQL("alter table {} alter _line drop default").format(batch.building))
        conn.execute(f"drop sequence {LINES}")
    return copied


class _Numbered:
    """The rest of the file in chunks, each record prefixed with its line number (the `_line` field).

    A line that ends inside a quoted field continues the record, so it gets no number of its own;
    a blank line outside one is no record at all (counted in `blank`).
    """

    def __init__(self, handle: BinaryIO, header_line: int) -> None:
        self.handle, self.header_line, self.blank = handle, header_line, 0

    def __iter__(self) -> Iterator[bytes]:
        line_no, quoted, lines = self.header_line, False, []
        for line in self.handle:
            line_no += 1
            if quoted:
                lines.append(line)
            elif line.strip():
                lines.append(b"%d,%s" % (line_no, line))
            else:
                self.blank += 1
                continue
            if line.count(b'"') & 1:
                quoted = not quoted
            if len(lines) == CHUNK_LINES:
                yield b"".join(lines)
                lines = []
        if lines:
            yield b"".join(lines)


def _move_to_rejected(conn: Connection, batch: _Batch, which: sql.Composable, reason: sql.Composable) -> int:
    """Move the rows of the new partition that `which` selects to raw._rejected with `reason` (kind|text)."""
    return conn.execute(
        sql.SQL(
            "with gone as (delete from {table} where {which} returning *, {reason} as _reason)"
            " insert into raw._rejected (_batch_id, _batch_date, source, entity, origin, raw_text, rule, reason)"
            " select {keys}, {located}, (to_jsonb(gone) - {meta})::text, {kind}, {text} from gone"
        ).format(
            # literals, not parameters: the rules hold LIKE patterns, whose % a parameterised query would misread
            keys=sql.SQL(", ").join(
                map(sql.Literal, [batch.batch_id, batch.day, batch.entity.source, batch.entity.name])
            ),
            table=batch.building,
            which=which,
            reason=reason,
            located=LOCATED,
            meta=sql.Literal(["_line", "_origin", "_batch_id", "_batch_date", "_loaded_at", "_reason"]),
            kind=kind_of(sql.Identifier("_reason")),
            text=text_of(sql.Identifier("_reason")),
        ),
    ).rowcount


def _reject_broken(conn: Connection, batch: _Batch) -> int:
    reason = reject_reason(batch.entity, batch.day)
    # one (parallel) scan finds them; the move then visits those rows alone
    found = conn.execute(
        sql.SQL("select ctid, starts_with(r, {}) from (select ctid, {} as r from {}) c where r is not null").format(
            sql.Literal(BLANK + SEPARATOR), reason, batch.building
        )
    ).fetchall()
    blank = [ctid for ctid, is_blank in found if is_blank]
    if blank:  # a row of empty fields is an empty line, not a record
        conn.execute(sql.SQL("delete from {} where ctid = any({}::tid[])").format(batch.building, sql.Literal(blank)))
        batch.blank_copied += len(blank)
    return _move_rows(conn, batch, [ctid for ctid, is_blank in found if not is_blank], reason)


def _dates_shaped(conn: Connection, batch: _Batch) -> bool:
    """Whether every date of the new partition is written in its column's declared format."""
    misshaped = misshapen(batch.entity, batch.day)
    if misshaped is None:
        return True
    query = sql.SQL("select not exists (select from {} where {})").format(batch.building, misshaped)
    return conn.execute(query).fetchone()[0]


def _move_rows(conn: Connection, batch: _Batch, ctids: list[str], reason: sql.Composable) -> int:
    if not ctids:
        return 0
    rows = sql.SQL("ctid = any({}::tid[])").format(sql.Literal(ctids))
    return _move_to_rejected(conn, batch, rows, reason)


def _newest_cursor(conn: Connection, batch: _Batch) -> str | None:
    """The new partition's newest record by the entity's cursor (as text: '-infinity' is no datetime)."""
    if not batch.entity.cursor:
        return None
    query = sql.SQL(NEWEST).format(sql.Identifier(batch.entity.cursor), batch.building)
    return conn.execute(sql.SQL("select ({})::text").format(query)).fetchone()[0]


def _write_iso_dates(conn: Connection, batch: _Batch) -> None:
    """Dates the source writes in a declared format (sources.yml date_formats) are kept as ISO."""
    rewrites = iso_dates(batch.entity)
    if rewrites:
        conn.execute(
            sql.SQL("update {} set {}").format(
                batch.building,
                sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c), expr) for c, expr in rewrites),
            )
        )


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
            f"{batch.entity.source}.{batch.entity.name}: {batch.origin}: the batch for {batch.day} was not swapped in:"
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
                    batch.origin,
                    batch.started,
                    str(exc)[:2000],
                ],
            )
    except Exception:  # the original error is the one worth raising
        pass
