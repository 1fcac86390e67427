"""Extraction windows and the incremental watermark, kept in the warehouse.

`audit.extract_windows` holds one row per successful extraction of (source, entity, batch_date):
the window `[window_start, window_end)` of system modstamps it asked the API for. The watermark of
an entity is the latest `window_end`. The window of a batch:

- a batch extracted before keeps its recorded window (re-running a date yields the same file);
- otherwise it ends at the data interval's end and starts at the interval's start, or earlier at
  the watermark when a gap was left (missed days are caught up), or nowhere (None: a full
  extract) when the entity was never extracted.

`audit.schema_changes` records fields an extraction saw added to or removed from the API's
records compared with the entity's columns in sources.yml.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from psycopg import Connection

DDL = """
create schema if not exists audit;
create table if not exists audit.extract_windows (
    source       text        not null,
    entity       text        not null,
    batch_date   date        not null,
    window_start timestamptz,
    window_end   timestamptz not null,
    records      bigint      not null,
    deleted      bigint      not null,
    pages        integer     not null,
    duplicates   bigint      not null default 0,
    extracted_at timestamptz not null default now(),
    primary key (source, entity, batch_date),
    constraint window_is_forward check (window_start is null or window_start < window_end)
);
comment on column audit.extract_windows.window_start is 'null: a full extract (no modified_since)';
comment on column audit.extract_windows.duplicates is 'records the API sent more than once (kept once)';
create table if not exists audit.schema_changes (
    source      text        not null,
    entity      text        not null,
    batch_date  date        not null,
    added       text[]      not null default '{}',
    removed     text[]      not null default '{}',
    detected_at timestamptz not null default now()
);
create index if not exists schema_changes_batch on audit.schema_changes (source, entity, batch_date);
"""


@dataclass(frozen=True)
class Window:
    start: datetime | None  # None: everything up to `end` (the first, full extract)
    end: datetime
    reused: bool  # the batch's recorded window (a rerun)
    catch_up: bool  # starts before the interval, at the watermark


def ensure_tables(conn: Connection) -> None:
    with conn.transaction():
        # parallel extract tasks create these at once: one at a time
        conn.execute("select pg_advisory_xact_lock(hashtext('salesdw.extract.ddl'))")
        conn.execute(DDL)


def watermark(conn: Connection, source: str, entity: str) -> datetime | None:
    row = conn.execute(
        "select max(window_end) from audit.extract_windows where source = %s and entity = %s", [source, entity]
    ).fetchone()
    return row[0]


def plan_window(
    conn: Connection, source: str, entity: str, batch_date: date, interval_start: datetime, interval_end: datetime
) -> Window:
    """The window to extract for `batch_date` (see the module docstring)."""
    recorded = conn.execute(
        "select window_start, window_end from audit.extract_windows"
        " where source = %s and entity = %s and batch_date = %s",
        [source, entity, batch_date],
    ).fetchone()
    if recorded:
        return Window(recorded[0], recorded[1], reused=True, catch_up=False)
    mark = watermark(conn, source, entity)
    if mark is None:
        return Window(None, interval_end, reused=False, catch_up=False)
    if mark < interval_start:
        return Window(mark, interval_end, reused=False, catch_up=True)
    return Window(interval_start, interval_end, reused=False, catch_up=False)


def record_window(
    conn: Connection,
    source: str,
    entity: str,
    batch_date: date,
    window: Window,
    *,
    records: int,
    deleted: int,
    pages: int,
    duplicates: int,
) -> None:
    conn.execute(
        "insert into audit.extract_windows (source, entity, batch_date, window_start, window_end, records,"
        " deleted, pages, duplicates, extracted_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, now())"
        " on conflict (source, entity, batch_date) do update set records = excluded.records,"
        " deleted = excluded.deleted, pages = excluded.pages, duplicates = excluded.duplicates,"
        " extracted_at = excluded.extracted_at",
        [source, entity, batch_date, window.start, window.end, records, deleted, pages, duplicates],
    )


def record_schema_change(
    conn: Connection, source: str, entity: str, batch_date: date, added: list[str], removed: list[str]
) -> None:
    """What this extraction of the batch saw (a rerun replaces what an earlier one recorded)."""
    conn.execute(
        "delete from audit.schema_changes where source = %s and entity = %s and batch_date = %s",
        [source, entity, batch_date],
    )
    if added or removed:
        conn.execute(
            "insert into audit.schema_changes (source, entity, batch_date, added, removed) values (%s, %s, %s, %s, %s)",
            [source, entity, batch_date, sorted(added), sorted(removed)],
        )
