"""Orphan references: quarantined until their parent arrives.

A record whose reference (sources.yml `references`) points at a key its parent entity has never
delivered moves from raw to raw._rejected with the reason. Parents can arrive late (another source
system, or a parent the loader itself rejected and the source later corrects), so each night the
quarantine is checked again first: an orphan whose parents have all landed since moves back into
raw, under its original batch. Both run to a fixed point: a record whose parent is itself an orphan
(a renewal of a quarantined contract, a chain of them in one delivery) is quarantined too, and
readmitted with it. Row moves update audit.load_batches, so rows_read = rows_loaded +
rows_rejected keeps holding for every batch. Runs after all of a day's loads, before dbt.
"""

from __future__ import annotations

from datetime import date

from psycopg import Connection, sql

from salesdw import config
from salesdw.config import Entity
from salesdw.load.checks import LOCATED, ORPHAN_REFERENCE
from salesdw.load.ddl import ensure_all_raw_tables

ORPHAN = "orphan reference: "


def _parent_exists(entity: Entity, column: str, target: str, alias: str) -> sql.Composable:
    parent = config.entity(*target.split("."))
    return sql.SQL("exists (select from raw.{parent} p where p.{pk} = {alias}.{col})").format(
        parent=sql.Identifier(parent.raw_table),
        pk=sql.Identifier(parent.primary_key),
        alias=sql.Identifier(alias),
        col=sql.Identifier(column),
    )


def _recount(conn: Connection, moved: list[tuple[str, int]], sign: int) -> None:
    """Rows moved raw -> rejected (sign +1) or back (sign -1), per batch."""
    for batch_id, n in moved:
        conn.execute(
            "update audit.load_batches set rows_loaded = rows_loaded - %s, rows_rejected = rows_rejected + %s"
            " where batch_id = %s",
            [sign * n, sign * n, batch_id],
        )


def readmit(conn: Connection, entity: Entity) -> int:
    """Move back into raw the entity's quarantined orphans whose parents have all landed."""
    table = sql.Identifier(entity.raw_table)
    resolved = sql.SQL(" and ").join(
        sql.SQL("(rec.{col} is null or {exists})").format(
            col=sql.Identifier(column), exists=_parent_exists(entity, column, target, "rec")
        )
        for column, target in entity.references
    )
    moved = conn.execute(
        sql.SQL(
            "with back as (delete from raw._rejected r where r.source = %s and r.entity = %s and r.reason like %s"
            " and (select {resolved} from json_populate_record(null::raw.{table}, r.raw_text::json) rec)"
            " returning r.raw_text),"
            " ins as (insert into raw.{table} select (json_populate_record(null::raw.{table}, raw_text::json)).*"
            " from back returning _batch_id)"
            " select _batch_id, count(*) from ins group by _batch_id"
        ).format(resolved=resolved, table=table),
        [entity.source, entity.name, ORPHAN + "%"],
    ).fetchall()
    _recount(conn, moved, -1)
    return sum(n for _, n in moved)


def quarantine(conn: Connection, entity: Entity, day: date) -> int:
    """Move the day's records of `entity` whose parent was never delivered to raw._rejected."""
    total = 0
    table = sql.Identifier(entity.raw_table)
    for column, target in entity.references:
        col = sql.Identifier(column)
        moved = conn.execute(
            sql.SQL(
                "with gone as (delete from raw.{table} c where c._batch_date = %s and c.{col} is not null"
                " and not {exists} returning c.*), ins as (insert into raw._rejected"
                " (_batch_id, _batch_date, source, entity, origin, raw_text, rule, reason)"
                " select _batch_id, _batch_date, %s, %s, {located}, row_to_json(gone)::text, %s,"
                " %s || quote_literal(gone.{col}) || %s from gone returning _batch_id)"
                " select _batch_id, count(*) from ins group by _batch_id"
            ).format(table=table, col=col, exists=_parent_exists(entity, column, target, "c"), located=LOCATED),
            [
                day,
                entity.source,
                entity.name,
                ORPHAN_REFERENCE,
                f"{ORPHAN}{column} = ",
                f" was never delivered by {target}",
            ],
        ).fetchall()
        _recount(conn, moved, +1)
        total += sum(n for _, n in moved)
    return total


def check_references(url: str, day: date) -> dict[str, dict[str, int]]:
    """Readmit resolved orphans, then quarantine the day's new ones; per raw table, what moved."""
    import psycopg

    with psycopg.connect(url) as conn, conn.transaction():
        # the loads of the day are done; hold off a concurrent rerun of one while rows move
        conn.execute("select pg_advisory_xact_lock(hashtext('salesdw.load.references'))")
        ensure_all_raw_tables(conn)
        referring = [e for e in config.entities() if e.references]
        report = {e.raw_table: {"readmitted": 0, "quarantined": 0} for e in referring}
        # to a fixed point: a parent readmitted or quarantined can readmit or orphan its children,
        # and a chain (a renewal of a renewal of a contract) moves one link per pass
        for step, move in (("readmitted", readmit), ("quarantined", lambda c, e: quarantine(c, e, day))):
            moved = True
            while moved:
                moved = False
                for entity in referring:
                    n = move(conn, entity)
                    report[entity.raw_table][step] += n
                    moved = moved or n > 0
    return report
