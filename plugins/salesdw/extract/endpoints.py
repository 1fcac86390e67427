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


# Path prefix and pagination per source. (Candidates for sources.yml as `api: {prefix, pagination}`.)
_STYLES = {
    "crm": ("/crm/v1", CURSOR),
    "after_sales": ("/service/v1", PAGE),
}


@cache
def _connection_ids() -> dict[str, str]:
    spec = yaml.safe_load(paths.SOURCES_FILE.read_text())
    return {name: src.get("connection_id", f"{name}_api") for name, src in spec["sources"].items()}


def api_of(source: str) -> Api:
    """The API contract of `source`; raises if the source is not delivered by an API salesdw knows."""
    if source not in _STYLES:
        known = ", ".join(sorted(_STYLES))
        raise KeyError(f"source {source!r} has no REST API contract in salesdw (known: {known})")
    prefix, pagination = _STYLES[source]
    return Api(source, prefix, pagination, _connection_ids().get(source, f"{source}_api"))


def api_entities() -> list[config.Entity]:
    """Every entity whose source is delivered by an API."""
    return [e for e in config.entities() if e.delivery == "api"]


def entity_by_name(name: str) -> config.Entity:
    """An API entity by `name` or `source.name`."""
    source, _, entity = name.rpartition(".")
    found = [e for e in api_entities() if e.name == entity and (not source or e.source == source)]
    if len(found) != 1:
        known = ", ".join(f"{e.source}.{e.name}" for e in api_entities())
        what = "ambiguous" if found else "unknown"
        raise KeyError(f"{what} API entity {name!r}; known: {known}")
    return found[0]
