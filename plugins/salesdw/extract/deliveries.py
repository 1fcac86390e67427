"""The log of file deliveries: audit.extracted_files, one row per file a source delivered.

A delivery is (source, entity, day, number): the n-th file delivered for that entity and day, with
its name, where it came from, its hash, where it is archived (under its own name: nothing is
overwritten) and its outcome:
  extracted   landed, its load not finished yet (a retried or rerun load picks it up)
  loaded      its batch is the day's batch
  superseded  loaded once, replaced by a later delivery for the same day
  unchanged   byte-identical to the delivery loaded for that day: nothing to do
  refused     not loadable as delivered (`error` says why); the day keeps its batch
So a corrected file for a day replaces that day's batch whenever its content differs from what is
loaded now; the same bytes delivered for another day are that day's own delivery (an unchanged
snapshot); and a refused file never blocks the corrected one after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from psycopg import Connection

from salesdw.config import Entity

DDL = """
create schema if not exists audit;
create table if not exists audit.extracted_files (
    source         text        not null,
    entity         text        not null,
    batch_date     date        not null,
    delivery       integer     not null,
    file_name      text        not null,
    delivered_from text        not null,
    sha256         text        not null,
    bytes          bigint      not null,
    encoding       text,
    archived_to    text        not null,
    extracted_at   timestamptz not null default now(),
    outcome        text        not null
        check (outcome in ('extracted', 'loaded', 'superseded', 'unchanged', 'refused')),
    batch_id       text,
    error          text,
    decided_at     timestamptz,
    primary key (source, entity, batch_date, delivery)
);
comment on table audit.extracted_files is 'every file a source delivered, its hash, archive copy and outcome';
"""

# audit.extracted_files before deliveries were numbered: one row per content hash, all loaded
V1_COLUMNS = "source, entity, batch_date, file_name, sha256, bytes, encoding, archived_to, extracted_at"


@dataclass(frozen=True)
class Delivery:
    number: int
    sha256: str
    archived_to: str
    outcome: str


def ensure_tables(conn: Connection) -> None:
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('salesdw.extract.deliveries.ddl'))")
        v1 = conn.execute(
            "select 1 from information_schema.tables t where table_schema = 'audit' and table_name = 'extracted_files'"
            " and not exists (select from information_schema.columns c where c.table_schema = 'audit'"
            " and c.table_name = 'extracted_files' and c.column_name = 'delivery')"
        ).fetchone()
        if v1:
            conn.execute("alter table audit.extracted_files rename to extracted_files_v1")
            conn.execute("alter index audit.extracted_files_pkey rename to extracted_files_v1_pkey")
        conn.execute(DDL)
        if v1:
            conn.execute(
                f"insert into audit.extracted_files ({V1_COLUMNS}, delivery, delivered_from, outcome, decided_at)"
                f" select {V1_COLUMNS}, row_number() over (partition by source, entity, batch_date order by"
                " extracted_at), file_name, 'loaded', extracted_at from audit.extracted_files_v1"
            )
            conn.execute("drop table audit.extracted_files_v1")


def lock_day(conn: Connection, entity: Entity, day: date) -> None:
    """One delivery of an entity and day at a time (inside the caller's transaction)."""
    conn.execute("select pg_advisory_xact_lock(hashtext(%s))", [f"salesdw.delivery.{entity.raw_table}.{day}"])


def next_number(conn: Connection, entity: Entity, day: date) -> int:
    return conn.execute(
        "select coalesce(max(delivery), 0) + 1 from audit.extracted_files"
        " where source = %s and entity = %s and batch_date = %s",
        [entity.source, entity.name, day],
    ).fetchone()[0]


def latest(conn: Connection, entity: Entity, day: date, outcome: str) -> Delivery | None:
    row = conn.execute(
        "select delivery, sha256, archived_to, outcome from audit.extracted_files"
        " where source = %s and entity = %s and batch_date = %s and outcome = %s order by delivery desc limit 1",
        [entity.source, entity.name, day, outcome],
    ).fetchone()
    return Delivery(*row) if row else None


def record(
    conn: Connection,
    entity: Entity,
    day: date,
    number: int,
    *,
    file_name: str,
    delivered_from: str,
    sha256: str,
    size: int,
    archived_to: str,
    outcome: str,
    encoding: str | None = None,
    error: str | None = None,
) -> None:
    conn.execute(
        "insert into audit.extracted_files (source, entity, batch_date, delivery, file_name, delivered_from, sha256,"
        " bytes, encoding, archived_to, outcome, error, decided_at) values"
        " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, case when %s <> 'extracted' then now() end)",
        [
            entity.source,
            entity.name,
            day,
            number,
            file_name,
            delivered_from,
            sha256,
            size,
            encoding,
            archived_to,
            outcome,
            error,
            outcome,
        ],
    )


def settle(
    conn: Connection,
    entity: Entity,
    day: date,
    number: int,
    outcome: str,
    *,
    batch_id: str | None = None,
    error: str | None = None,
) -> None:
    """A delivery's load is decided: loaded (the day's earlier loaded delivery is then superseded) or refused."""
    keys = [entity.source, entity.name, day]
    if outcome == "loaded":
        conn.execute(
            "update audit.extracted_files set outcome = 'superseded', decided_at = now()"
            " where source = %s and entity = %s and batch_date = %s and outcome = 'loaded' and delivery <> %s",
            [*keys, number],
        )
    conn.execute(
        "update audit.extracted_files set outcome = %s, batch_id = %s, error = %s, decided_at = now()"
        " where source = %s and entity = %s and batch_date = %s and delivery = %s",
        [outcome, batch_id, error and error[:4000], *keys, number],
    )
