"""Publish the audited marts into schema `marts`, whole, and record each publication.

Write-audit-publish: dbt writes the marts into schema `marts_build` (incremental facts keep their
state there), Great Expectations audits them there, and only then does `publish` copy every mart
into `marts` in one transaction: each copy is built beside the published table, then all of them
are swapped in by rename at once. A reader sees the previous publication or this one, never a mix;
a run that fails its checks never gets here, so `marts` stays as it was.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

BUILD_SCHEMA, PUBLISHED_SCHEMA = "marts_build", "marts"
SWAP_LOCK_TIMEOUT = "5min"  # how long a publication waits for running BI queries to finish

# What BI reads in schema marts: the reporting marts, then the conformed facts and dimensions.
MARTS = (
    "customer_lifetime_value",
    "sales_funnel",
    "target_attainment",
    "target_attainment_rollup",
    "collections",
    "customer_service",
    "fct_invoices",
    "fct_payments",
    "fct_tickets",
    "dim_date",
    "sales_funnel_durations",
    "channel_performance",
    "rep_scorecard",
    "clv_backtest",
    "clv_by_segment",
    "fct_opportunities",
    "fct_opportunity_stage_history",
    "fct_bookings",
    "fct_targets",
    "fct_activities",
    "dim_sales_rep",
    "dim_customer",
    "dim_product",
)

DDL = """
create schema if not exists audit;
create table if not exists audit.publications (
    run_id        text        not null,
    data_interval date        not null,
    published_at  timestamptz not null default now(),
    mart_rows     jsonb       not null,
    validation    jsonb       not null,
    primary key (run_id, data_interval)
);
"""


def mart_row_counts(conn: psycopg.Connection, schema: str = "marts") -> dict[str, int]:
    from psycopg import sql

    return {
        mart: conn.execute(
            sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(mart))
        ).fetchone()[0]
        for mart in MARTS
    }


def publish(url: str, data_interval: str, *, run_id: str | None, validation: dict) -> dict:
    import psycopg

    run_id = run_id or f"manual__{data_interval}"
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(DDL)
        swap_in(conn)
        counts = mart_row_counts(conn)
        conn.execute(
            "insert into audit.publications (run_id, data_interval, mart_rows, validation) values (%s, %s, %s, %s)"
            " on conflict (run_id, data_interval) do update set published_at = now(),"
            " mart_rows = excluded.mart_rows, validation = excluded.validation",
            [run_id, data_interval, json.dumps(counts), json.dumps(validation)],
        )
    return {"run_id": run_id, "data_interval": data_interval, "mart_rows": counts}


def swap_in(conn: psycopg.Connection, marts: tuple[str, ...] = MARTS) -> None:
    """Copy every mart from marts_build into marts, all at once, inside the caller's transaction."""
    from psycopg import sql

    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(PUBLISHED_SCHEMA)))
    for mart in marts:  # the copies first, while readers still read the published tables undisturbed
        ident = {
            "next": sql.Identifier(PUBLISHED_SCHEMA, f"{mart}__next"),
            "built": sql.Identifier(BUILD_SCHEMA, mart),
        }
        conn.execute(sql.SQL("drop table if exists {next}").format(**ident))
        # like ... including all: the contract's constraints, indexes and the column comments
        conn.execute(sql.SQL("create table {next} (like {built} including all)").format(**ident))
        conn.execute(sql.SQL("insert into {next} select * from {built}").format(**ident))
        described = conn.execute("select obj_description(%s::regclass, 'pg_class')", [f"{BUILD_SCHEMA}.{mart}"])
        comment = described.fetchone()[0]
        if comment:  # the table's own description (LIKE copies only the columns')
            conn.execute(sql.SQL("comment on table {next} is {}").format(sql.Literal(comment), **ident))
    conn.execute("select set_config('lock_timeout', %s, true)", [SWAP_LOCK_TIMEOUT])
    for mart in marts:  # then the swap: renames, committed together with the caller's transaction
        conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(PUBLISHED_SCHEMA, mart)))
        conn.execute(
            sql.SQL("alter table {} rename to {}").format(
                sql.Identifier(PUBLISHED_SCHEMA, f"{mart}__next"), sql.Identifier(mart)
            )
        )
