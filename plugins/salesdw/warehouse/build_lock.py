"""Loads and dbt builds exclude each other, so that an incremental build's cutoff is exact.

The incremental models re-derive what was loaded after the newest `_loaded_at` they already hold.
That is exact only if no batch stamped earlier commits after a build has read: a load takes this
lock shared for its transaction (loads run side by side), a build takes it exclusively for its
whole run. A load that starts during a build waits for it, then stamps its rows after everything
that build saw; a build waits for the loads in flight to commit. With it the incremental models
need no lookback window (var incremental_lookback_days, 0 by default), which re-derived every row
loaded in the last days on every night.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

KEY = "salesdw.build"


def hold_for_load(conn: psycopg.Connection) -> None:
    """Inside a load's transaction: wait for a build to finish, and keep builds out until commit."""
    conn.execute("select pg_advisory_xact_lock_shared(hashtext(%s))", [KEY])


@contextmanager
def building(url: str) -> Iterator[None]:
    """Around a dbt invocation that builds: wait for the loads in flight, keep new ones waiting."""
    with psycopg.connect(url, autocommit=True, application_name="salesdw build lock") as conn:
        conn.execute("select pg_advisory_lock(hashtext(%s))", [KEY])
        yield  # released with the session
