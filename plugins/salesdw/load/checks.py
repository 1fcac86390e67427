"""The record contract of an entity (sources.yml), as one SQL expression run in the database.

`reject_reason(entity)` is a CASE expression over a batch's rows (text columns) that gives the first
broken rule, or NULL for a row to load. Checks run in PostgreSQL (16+: pg_input_is_valid), not row by
row in Python; the cheap test comes first where one decides most rows (a sign, an exact currency code).
Duplicate keys are found by the batch's unique index (load/batch.py).
"""

from __future__ import annotations

from psycopg import sql

from salesdw import config
from salesdw.config import Entity


def reject_reason(entity: Entity) -> sql.Composable:
    pk = sql.Identifier(entity.primary_key)
    rules: list[tuple[sql.Composable, sql.Composable]] = [
        (sql.SQL("{} is null").format(pk), sql.Literal(f"missing primary key {entity.primary_key}")),
    ]
    for column, type_name in entity.types:
        col = sql.Identifier(column)
        rules.append(
            (
                sql.SQL("{col} is not null and not pg_input_is_valid({col}, {type})").format(
                    col=col, type=sql.Literal(type_name)
                ),
                sql.SQL("{} || quote_literal({}) || {}").format(
                    sql.Literal(f"{column}: "), col, sql.Literal(f" is not a valid {type_name}")
                ),
            )
        )
    for column in entity.non_negative:
        col = sql.Identifier(column)
        rules.append(
            (
                sql.SQL("starts_with({col}, '-') and cast({col} as numeric) < 0").format(col=col),
                sql.SQL("{} || {} || {}").format(
                    sql.Literal(f"{column}: negative amount "), col, sql.Literal(" (expected >= 0)")
                ),
            )
        )
    if entity.currency:
        col = sql.Identifier(entity.currency)
        accepted = sql.SQL(", ").join(map(sql.Literal, config.currencies()))
        rules.append(
            (
                sql.SQL("{col} is null or {col} not in ({codes}) and upper({col}) not in ({codes})").format(
                    col=col, codes=accepted
                ),
                sql.SQL("{} || coalesce(quote_literal({}), 'NULL') || {}").format(
                    sql.Literal(f"{entity.currency}: unknown currency "),
                    col,
                    sql.Literal(f" (expected one of {', '.join(config.currencies())})"),
                ),
            )
        )
    whens = sql.SQL(" ").join(sql.SQL("when {} then {}").format(cond, reason) for cond, reason in rules)
    return sql.SQL("case {} end").format(whens)


def duplicate_reason(entity: Entity) -> sql.Composable:
    return sql.SQL("{} || {} || {}").format(
        sql.Literal(f"duplicate key {entity.primary_key} = "),
        sql.Identifier(entity.primary_key),
        sql.Literal(" in this batch (the first occurrence is loaded)"),
    )


# where a raw row came from, as readers.located() says it: `file:line`, or the API's URL and page
LOCATED = sql.SQL("_origin || coalesce(':' || _line, '')")
