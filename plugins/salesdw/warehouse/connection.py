"""The warehouse URL, wherever it comes from, and connections to it."""

from __future__ import annotations

import os

from salesdw import paths
from salesdw.warehouse.embedded import EmbeddedPostgres, WarehouseError


def embedded() -> EmbeddedPostgres:
    return EmbeddedPostgres(paths.STATE_DIR / "warehouse")


def warehouse_url() -> str:
    """WAREHOUSE_URL when set (an external server); otherwise the running embedded server."""
    url = os.environ.get("WAREHOUSE_URL")
    if url:
        return url
    server = embedded()
    if not server.running():
        raise WarehouseError("the embedded warehouse is not running: start it with `salesdw db start`")
    return server.url()


def connect(url: str | None = None, **kwargs):
    import psycopg

    return psycopg.connect(url or warehouse_url(), **kwargs)
