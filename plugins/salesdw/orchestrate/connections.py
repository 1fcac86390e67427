"""The warehouse as an Airflow connection (`warehouse`), turned into the URLs each client wants."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

WAREHOUSE_CONN_ID = "warehouse"


def airflow_conn_uri(url: str) -> str:
    """An Airflow connection URI (`postgres://...`) for a libpq URL."""
    parts = urlsplit(url)
    return parts._replace(scheme="postgres").geturl()


def warehouse_url_from_airflow(conn_id: str = WAREHOUSE_CONN_ID, driver: str = "postgresql") -> str:
    """The libpq URL (or SQLAlchemy URL with driver='postgresql+psycopg2') of an Airflow connection."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    user = quote(conn.login or "", safe="")
    password = quote(conn.password or "", safe="")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"{driver}://{auth}{conn.host}:{conn.port or 5432}/{conn.schema}"


def warehouse_asset_uri(schema: str, table: str) -> str:
    """The Airflow Asset URI of a warehouse table (host `warehouse` names the connection)."""
    return f"postgres://warehouse:5432/salesdw/{schema}/{table}"
