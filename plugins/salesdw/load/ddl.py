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
    rule        text,  -- the rule the row broke: missing_key, wrong_type, date_format, ... (load/checks.py)
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
    blank_lines   bigint      not null default 0,  -- empty lines of the file: not records, not in rows_read
    started_at    timestamptz not null,
    finished_at   timestamptz,
    error         text,
    constraint rows_reconcile check (status = 'failed' or rows_read = rows_loaded + rows_rejected)
);
"""


# Columns added since the tables were first made: (table, column, definition). Added only where
# missing: an ALTER takes the table's strongest lock, and would queue every load behind another's.
ADDED_COLUMNS = (
    ("raw._rejected", "rule", "text"),
    ("audit.load_batches", "blank_lines", "bigint not null default 0"),
    # the batch's newest record by the entity's cursor ('-infinity': none has one), so the feeds
    # gate judges a feed's freshness from its batches' rows here, not by re-reading every batch
    ("audit.load_batches", "newest_cursor", "timestamptz"),
)


def ensure_base(conn: Connection) -> None:
    # Serialise DDL between parallel loaders (the per-source load tasks run at once).
    conn.execute("select pg_advisory_xact_lock(hashtext('salesdw.load.ddl'))")
    conn.execute(BASE_DDL)
    for table, column, definition in ADDED_COLUMNS:
        schema, name = table.split(".")
        present = conn.execute(
            "select 1 from information_schema.columns where table_schema = %s and table_name = %s and column_name = %s",
            [schema, name, column],
        ).fetchone()
        if not present:
            conn.execute(
                sql.SQL("alter table {} add column {} {}").format(
                    sql.Identifier(schema, name), sql.Identifier(column), sql.SQL(definition)
                )
            )


class LegacyRawTableError(RuntimeError):
    """A raw table from before raw tables were partitioned by batch date."""


# The loader's metadata on every raw row; a batch's partition gets them as constant defaults.
META_COLUMNS = """
    _line       bigint,
    _batch_id   text        not null,
    _batch_date date        not null,
    _loaded_at  timestamptz not null,
    _origin     text        not null
"""


def business_columns(columns) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in columns)


def ensure_raw_table(conn: Connection, entity: Entity) -> None:
    """raw.<source>__<entity>: text columns as the feed has them, plus the loader's metadata.

    One partition per batch date, so a batch is swapped in (or replaced) whole: see load/batch.py.
    `_origin` is the file, or the API's URL and page; `_line` the record's line in that file.
    """
    kind = conn.execute(
        "select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = 'raw' and c.relname = %s",
        [entity.raw_table],
    ).fetchone()
    if kind and kind[0] != "p":
        raise LegacyRawTableError(
            f"raw.{entity.raw_table} was created by an earlier salesdw, before raw tables were partitioned by"
            " batch date; start from an empty warehouse (`make clean`, or `drop schema raw cascade` and rerun the"
            " dates)"
        )
    conn.execute(
        sql.SQL("create table if not exists raw.{} ({}, {}) partition by list (_batch_date)").format(
            sql.Identifier(entity.raw_table), business_columns(entity.columns), sql.SQL(META_COLUMNS)
        )
    )
    # a key appears once per batch: each partition brings the unique index its load was checked with
    conn.execute(
        sql.SQL("create unique index if not exists {} on raw.{} ({}, _batch_date)").format(
            sql.Identifier(f"{entity.raw_table}__key"),
            sql.Identifier(entity.raw_table),
            sql.Identifier(entity.primary_key),
        )
    )


def ensure_all_raw_tables(conn: Connection) -> None:
    """Every raw table sources.yml declares (with the APIs' deleted-records tables), even before a
    feed first delivers it, and whether or not this deployment has the feed, so dbt's sources always
    resolve (a feed the deployment does not have builds its models empty)."""
    from salesdw import config

    ensure_base(conn)
    for entity in config.contract():
        ensure_raw_table(conn, entity)
        if entity.delivery == "api":
            ensure_raw_table(conn, entity.deletions())
