"""Extract one entity for a data interval, the way its source delivers it (sources.yml `delivery`).

- `api`: the API extractor (extract/api.py, the API's profile in vendors.yml), with base URL and
  token (or OAuth client id and secret) from the source's Airflow connection;
- `files`: the drop-folder extractor; the drop folder is the connection's `extra.path` when the
  connection exists, else the project's data/drop. `delivered` hands it a file directly, as if it
  had arrived in the drop folder (`salesdw land --file`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from salesdw import config, paths


class MissingConnectionError(RuntimeError):
    """A source's Airflow connection is not defined."""


def _connection(conn_id: str, entity: config.Entity):
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise MissingConnectionError(
            f"{entity.source}.{entity.name}: no Airflow connection {conn_id!r}"
            f" (sources.yml {entity.source}.connection_id):"
            f" define it, e.g. AIRFLOW_CONN_{conn_id.upper()}='https://:API_TOKEN@host' in the environment or"
            f" `salesdw airflow connections add {conn_id} --conn-uri ...`"
        ) from None


def drop_dir(conn_id: str) -> Path:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        extra = BaseHook.get_connection(conn_id).extra_dejson
    except AirflowNotFoundException:
        return paths.DROP_DIR
    return Path(extra["path"]) if extra.get("path") else paths.DROP_DIR


def extract_for_interval(
    source: str,
    name: str,
    interval_start: datetime,
    interval_end: datetime,
    *,
    warehouse_url: str,
    delivered: Path | None = None,
) -> dict:
    """Land the entity's feed for the interval; returns {entity, path, ...} for the load step."""
    entity = config.entity(source, name)
    if entity.delivery == "api":
        if delivered:
            raise ValueError(
                f"{source}.{name} arrives by API ({entity.connection_id}); a file can be delivered only for an entity"
                " that arrives as files"
            )
        from salesdw.extract import vendors
        from salesdw.extract.api import connection_parts, extract_api

        _connection(entity.connection_id, entity)  # one clear sentence when it is missing
        scheme = vendors.profile(entity.api_profile).get("scheme", "https")
        base_url, login, secret = connection_parts(entity.connection_id, default_scheme=scheme)
        return extract_api(entity, base_url, login, secret, interval_start, interval_end, warehouse_url=warehouse_url)
    from salesdw.extract.files import extract_files

    result = extract_files(
        entity,
        interval_start.date(),
        warehouse_url=warehouse_url,
        drop_dir=drop_dir(entity.connection_id),
        delivered=delivered,
    )
    return {"source": source, **result.__dict__}
