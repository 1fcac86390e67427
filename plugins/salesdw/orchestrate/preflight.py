"""Before a run starts: the warehouse answers, and no other run of the same date is going on.

Both failures are the operator's to fix, so each is one sentence saying what happened and what to
do, raised before Airflow starts (whose own errors would be a traceback, or a duplicate-key error
from its metadata database when two runs of one date race).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from urllib.parse import urlsplit


class WarehouseUnreachableError(RuntimeError):
    """The warehouse did not accept a connection."""


class RunInProgressError(RuntimeError):
    """Another run of the same date holds it."""


RUN_LOCK = 0x5A1E5D  # the advisory lock's first key: "a salesdw run of this date" (second key: the day)


def where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


def unreachable(url: str, exc: Exception) -> WarehouseUnreachableError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    hint = (
        "check WAREHOUSE_URL and that the server is up"
        if os.environ.get("WAREHOUSE_URL")
        else "start it with `salesdw db start` (see `salesdw db status`)"
    )
    return WarehouseUnreachableError(f"cannot reach the warehouse at {where(url)} ({first}): {hint}, then run again")


def connect(url: str, purpose: str):
    """A connection named for what it is doing (pg_stat_activity shows it), or one clear error."""
    import psycopg

    try:
        return psycopg.connect(
            url,
            connect_timeout=10,
            autocommit=True,
            application_name=f"salesdw {purpose} pid {os.getpid()} on {socket.gethostname()}"[:63],
        )
    except psycopg.OperationalError as exc:
        raise unreachable(url, exc) from None


@contextmanager
def run_lock(
    url: str, days: list[date], *, metadata_url: str | None = None, dag_id: str = "sales_nightly"
) -> Iterator[None]:
    """Hold each date for the run's whole length (a session advisory lock, released when it ends)."""
    started = datetime.now(UTC).strftime("%H:%M UTC")
    conn = connect(url, f"run since {started}")
    try:
        for day in days:
            if not conn.execute("select pg_try_advisory_lock(%s, %s)", [RUN_LOCK, day.toordinal()]).fetchone()[0]:
                holder = conn.execute(
                    "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid"
                    " where l.locktype = 'advisory' and l.classid = %s and l.objid = %s and l.granted",
                    [RUN_LOCK, day.toordinal()],
                ).fetchone()
                by = f" ({holder[0]})" if holder and holder[0] else ""
                raise RunInProgressError(
                    f"a {dag_id} run for {day} is already in progress{by}: wait for it to finish (or stop it),"
                    " then run the date again"
                )
        if metadata_url:
            _airflow_run_in_progress(metadata_url, dag_id, days)
        yield
    finally:
        conn.close()


def _airflow_run_in_progress(metadata_url: str, dag_id: str, days: list[date]) -> None:
    """A run of one of `days` that Airflow itself is running (the scheduler, a trigger): not ours to race."""
    from datetime import timedelta

    logical = [datetime.combine(d + timedelta(days=1), datetime.min.time(), UTC) for d in days]
    query = (
        "select run_id, state, logical_date from dag_run where dag_id = {p} and state in ('running', 'queued')"
        " and logical_date in ({dates})"
    )
    try:
        if metadata_url.startswith("sqlite"):
            import sqlite3

            path = metadata_url.split("///", 1)[1]
            if not os.path.exists(path):
                return
            with sqlite3.connect(path) as conn:
                stamps = [d.strftime("%Y-%m-%d %H:%M:%S.%f") for d in logical]
                rows = conn.execute(
                    query.format(p="?", dates=", ".join("?" * len(stamps))), [dag_id, *stamps]
                ).fetchall()
        else:
            import psycopg

            libpq = "postgresql://" + metadata_url.split("://", 1)[1]
            with psycopg.connect(libpq, connect_timeout=10) as conn:
                exists = conn.execute("select to_regclass('dag_run') is not null").fetchone()[0]
                rows = (
                    conn.execute(
                        query.format(p="%s", dates=", ".join(["%s"] * len(logical))), [dag_id, *logical]
                    ).fetchall()
                    if exists
                    else []
                )
    except Exception:  # noqa: BLE001 - the metadata DB is checked by Airflow itself next; this is a courtesy
        return
    if rows:
        run_id, state, _ = rows[0]
        raise RunInProgressError(
            f"Airflow is already running {dag_id} for that date: run {run_id} is {state} (started by the scheduler or"
            " a trigger); wait for it to finish, or mark it failed in the UI, then run the date again"
        )
