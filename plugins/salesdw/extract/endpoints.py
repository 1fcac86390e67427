"""The REST APIs of the `delivery: api` sources: where each entity lives and how it pages.

Both the extractor (extract/api.py) and the local simulation (simulate/) speak this contract:

- CRM (Salesforce-like): `GET /crm/v1/{entity}` and `/crm/v1/{entity}/deleted`, cursor pagination:
  `?modified_since=&modified_before=&limit=&cursor=` -> `{"records": [...], "next_cursor": str|null}`.
- Service desk (Zendesk-like): `GET /service/v1/{entity}` and `/service/v1/{entity}/deleted`, page
  pagination: `?modified_since=&modified_before=&page=&per_page=` ->
  `{"results": [...], "next_page": full URL|null, "count": total}`.

A deleted listing's items are `{"id": <primary key value>, "deleted_at": ISO}`. Windows are
half-open on the system modstamp: `modified_since <= visible_at < modified_before`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import yaml

from salesdw import config, paths

CURSOR = "cursor"
PAGE = "page"


@dataclass(frozen=True)
class Api:
    """How one source's REST API is reached: path prefix, pagination style, Airflow connection."""

    source: str
    prefix: str  # e.g. /crm/v1
    pagination: str  # cursor | page
    connection_id: str

    @property
    def items_key(self) -> str:
        return "records" if self.pagination == CURSOR else "results"

    @property
    def next_key(self) -> str:
        return "next_cursor" if self.pagination == CURSOR else "next_page"

    def path(self, entity: str, deleted: bool = False) -> str:
        return f"{self.prefix}/{entity}" + ("/deleted" if deleted else "")


# Path prefix and pagination per source, unless sources.yml gives `api: {prefix: ..., pagination: ...}`.
_DEFAULTS = {
    "crm": {"prefix": "/crm/v1", "pagination": CURSOR},
    "after_sales": {"prefix": "/service/v1", "pagination": PAGE},
}


@cache
def _apis() -> dict[str, Api]:
    spec = yaml.safe_load(paths.SOURCES_FILE.read_text())
    apis = {}
    for name, src in spec["sources"].items():
        style = src.get("api") or _DEFAULTS.get(name)
        if src.get("delivery") != "api" or not style:
            continue
        if style.get("pagination") not in (CURSOR, PAGE) or not str(style.get("prefix", "")).startswith("/"):
            raise ValueError(
                f"{paths.SOURCES_FILE}: source {name!r}: expected api: {{prefix: /path, pagination: "
                f"{CURSOR}|{PAGE}}}, got {style!r}"
            )
        apis[name] = Api(
            name, style["prefix"].rstrip("/"), style["pagination"], src.get("connection_id", f"{name}_api")
        )
    return apis


def api_of(source: str) -> Api:
    """The API contract of `source`; raises if the source is not delivered by an API salesdw knows."""
    try:
        return _apis()[source]
    except KeyError:
        known = ", ".join(sorted(_apis()))
        raise KeyError(f"source {source!r} has no REST API contract (api: in sources.yml); known: {known}") from None


def api_entities() -> list[config.Entity]:
    """Every entity whose source is delivered by an API with a known contract."""
    return [e for e in config.entities() if e.delivery == "api" and e.source in _apis()]


def entity_by_name(name: str) -> config.Entity:
    """An API entity by `name` or `source.name`."""
    source, _, entity = name.rpartition(".")
    found = [e for e in api_entities() if e.name == entity and (not source or e.source == source)]
    if len(found) != 1:
        known = ", ".join(f"{e.source}.{e.name}" for e in api_entities())
        what = "ambiguous" if found else "unknown"
        raise KeyError(f"{what} API entity {name!r}; known: {known}")
    return found[0]
