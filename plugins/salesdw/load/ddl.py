"""Tables the loader owns: raw feed tables, raw._rejected and audit.load_batches."""

from __future__ import annotations

from psycopg import Connection, sql

from salesdw.config import Entity

BASE_DDL = """
create schema if not exists raw;
create schema if not exists audit;
create table if not exists raw._rejected (
    _batch_id   text        not null,
    _batch_date date        not null,
    source      text        not null,
    entity      text        not null,
    origin      text        not null,
    raw_text    text,
    reason      text        not null,
    rejected_at timestamptz not null default now()
);
create index if not exists _rejected_batch on raw._rejected (source, entity, _batch_date);
create table if not exists audit.load_batches (
    batch_id      text primary key,
    source        text        not null,
    entity        text        not null,
    batch_date    date        not null,
    origin        text        not null,
    status        text        not null check (status in ('loaded', 'failed', 'superseded')),
    rows_read     bigint      not null default 0,
    rows_loaded   bigint      not null default 0,
    rows_rejected bigint      not null default 0,
    started_at    timestamptz not null,
    finished_at   timestamptz,
    error         text,
    constraint rows_reconcile check (status = 'failed' or rows_read = rows_loaded + rows_rejected)
);
"""


def ensure_base(conn: Connection) -> None:
    # Serialise DDL between parallel loaders (the per-source load tasks run at once).
    conn.execute("select pg_advisory_xact_lock(hashtext('salesdw.load.ddl'))")
    conn.execute(BASE_DDL)


def ensure_raw_table(conn: Connection, entity: Entity) -> None:
    columns = [sql.SQL("{} text").format(sql.Identifier(c)) for c in entity.columns]
    columns += [
        sql.SQL("_batch_id text not null"),
        sql.SQL("_batch_date date not null"),
        sql.SQL("_loaded_at timestamptz not null"),
        sql.SQL("_origin text not null"),
    ]
    conn.execute(
        sql.SQL("create table if not exists raw.{} ({})").format(
            sql.Identifier(entity.raw_table), sql.SQL(", ").join(columns)
        )
    )
    conn.execute(
        sql.SQL("create index if not exists {} on raw.{} (_batch_date)").format(
            sql.Identifier(f"{entity.raw_table}__batch_date"), sql.Identifier(entity.raw_table)
        )
    )


def ensure_all_raw_tables(conn: Connection) -> None:
    """Every raw table sources.yml declares (with the APIs' deleted-records tables), even before a
    feed first delivers it, so dbt's sources always resolve."""
    from salesdw import config

    ensure_base(conn)
    for entity in config.entities():
        ensure_raw_table(conn, entity)
        if entity.delivery == "api":
            ensure_raw_table(conn, entity.deletions())
