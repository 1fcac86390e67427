"""Record each publication of the marts (what run, which day, how many rows, what was checked)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

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
    with psycopg.connect(url) as conn:
        conn.execute(DDL)
        counts = mart_row_counts(conn)
        conn.execute(
            "insert into audit.publications (run_id, data_interval, mart_rows, validation) values (%s, %s, %s, %s)"
            " on conflict (run_id, data_interval) do update set published_at = now(),"
            " mart_rows = excluded.mart_rows, validation = excluded.validation",
            [run_id, data_interval, json.dumps(counts), json.dumps(validation)],
        )
    return {"run_id": run_id, "data_interval": data_interval, "mart_rows": counts}
