"""The record contract of an entity (sources.yml), as one SQL expression run in the database.

`reject_reason(entity)` is a CASE expression over a batch's rows (text columns) that gives the first
broken rule, or NULL for a row to load; `broken_typed(entity)` is the same contract for rows whose
typed values already parsed (the typed COPY that proves a large file clean, load/batch.py). Checks
run in PostgreSQL (16+: pg_input_is_valid), not row by row in Python; the cheap test comes first
where one decides most rows (a sign, an exact currency code).
Duplicate keys are found by the batch's unique index (load/batch.py).
"""

from __future__ import annotations

from psycopg import sql

from salesdw import config
from salesdw.config import Entity


def _rules(entity: Entity, *, typed: bool) -> list[tuple[sql.Composable, sql.Composable]]:
    """The contract as (broken-if condition, reason) pairs, first broken rule first.

    Over text columns (`typed=False`) each typed column is checked with pg_input_is_valid. Over typed
    columns (a typed COPY, load/batch.py) the input functions themselves reject a bad value, so those
    rules drop out and amounts compare as numbers.
    """
    pk = sql.Identifier(entity.primary_key)
    rules: list[tuple[sql.Composable, sql.Composable]] = [
        (sql.SQL("{} is null").format(pk), sql.Literal(f"missing primary key {entity.primary_key}")),
    ]
    for column, type_name in [] if typed else entity.types:
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
    # over text, the sign decides most rows before a cast
    negative = "{col} < 0" if typed else "starts_with({col}, '-') and cast({col} as numeric) < 0"
    for column in entity.non_negative:
        col = sql.Identifier(column)
        rules.append(
            (
                sql.SQL(negative).format(col=col),
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
    return rules


def reject_reason(entity: Entity) -> sql.Composable:
    """Over a batch's text columns: the first broken rule's reason, or NULL for a row to load."""
    whens = sql.SQL(" ").join(
        sql.SQL("when {} then {}").format(cond, reason) for cond, reason in _rules(entity, typed=False)
    )
    return sql.SQL("case {} end").format(whens)


def broken_typed(entity: Entity) -> sql.Composable:
    """Over typed columns whose values all parsed: true for a row that breaks the rest of the contract."""
    return sql.SQL(" or ").join(sql.SQL("({})").format(cond) for cond, _ in _rules(entity, typed=True))


def duplicate_reason(entity: Entity) -> sql.Composable:
    return sql.SQL("{} || {} || {}").format(
        sql.Literal(f"duplicate key {entity.primary_key} = "),
        sql.Identifier(entity.primary_key),
        sql.Literal(" in this batch (the first occurrence is loaded)"),
    )


# where a raw row came from, as readers.located() says it: `file:line`, or the API's URL and page
LOCATED = sql.SQL("_origin || coalesce(':' || _line, '')")
