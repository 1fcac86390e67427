"""The warehouse as Airflow connections, one per login a task needs, turned into the URLs each client wants."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

# One connection per pipeline login (warehouse/roles.py); no task connects as the admin.
LOADER_CONN_ID = "warehouse_loader"  # extract, load, check_references, validate_feeds: raw and audit
TRANSFORMER_CONN_ID = "warehouse_transformer"  # dbt (with the marts' tests), publish: staging .. marts


def airflow_conn_variable(conn_id: str) -> str:
    """The environment variable Airflow reads a connection from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def airflow_conn_uri(url: str) -> str:
    """An Airflow connection URI (`postgres://...`) for a libpq URL."""
    parts = urlsplit(url)
    return parts._replace(scheme="postgres").geturl()


def warehouse_url_from_airflow(conn_id: str, driver: str = "postgresql") -> str:
    """The libpq URL (or SQLAlchemy URL with driver='postgresql+psycopg2') of an Airflow connection:
    LOADER_CONN_ID or TRANSFORMER_CONN_ID, named by the caller (there is no default login)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    user = quote(conn.login or "", safe="")
    password = quote(conn.password or "", safe="")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"{driver}://{auth}{conn.host}:{conn.port or 5432}/{conn.schema}"


def warehouse_asset_uri(schema: str, table: str) -> str:
    """The Airflow Asset URI of a warehouse table (host `warehouse` names the warehouse, whoever connects)."""
    return f"postgres://warehouse:5432/salesdw/{schema}/{table}"
