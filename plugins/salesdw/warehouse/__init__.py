"""The warehouse: an embedded PostgreSQL by default, any server when WAREHOUSE_URL is set."""

from salesdw.warehouse.embedded import EmbeddedPostgres, WarehouseError
from salesdw.warehouse.connection import warehouse_url, connect

__all__ = ["EmbeddedPostgres", "WarehouseError", "warehouse_url", "connect"]
