"""The warehouse: an embedded PostgreSQL by default, any server when WAREHOUSE_URL is set."""

from salesdw.warehouse.connection import connect, warehouse_url
from salesdw.warehouse.embedded import EmbeddedPostgres, WarehouseError

__all__ = ["EmbeddedPostgres", "WarehouseError", "warehouse_url", "connect"]
