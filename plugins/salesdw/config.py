"""The declarative feed config (sources.yml): sources, entities, keys, cursors, columns."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

import yaml

from salesdw import paths


@dataclass(frozen=True)
class Entity:
    source: str
    name: str
    connection_id: str  # the Airflow connection of the source
    delivery: str  # api | files
    format: str  # jsonl | csv
    primary_key: str
    cursor: str
    columns: tuple[str, ...]
    types: tuple[tuple[str, str], ...] = ()
    non_negative: tuple[str, ...] = ()
    currency: str | None = None
    references: tuple[tuple[str, str], ...] = ()  # (column, "source.entity")

    @property
    def raw_table(self) -> str:
        return f"{self.source}__{self.name}"

    @property
    def file_name(self) -> str:
        return f"{self.name}.{self.format}"

    def deletions(self) -> Entity:
        """The API's deleted-records listing of this entity, landed as raw.<source>__<entity>__deleted."""
        return replace(
            self,
            name=f"{self.name}__deleted",
            format="jsonl",
            cursor="deleted_at",
            columns=(self.primary_key, "deleted_at"),
            types=(("deleted_at", "timestamptz"),),
            non_negative=(),
            currency=None,
        )


@cache
def entities() -> tuple[Entity, ...]:
    spec = _settings()
    return tuple(
        Entity(
            source=source,
            name=name,
            connection_id=src["connection_id"],
            delivery=src["delivery"],
            format=src["format"],
            primary_key=ent["primary_key"],
            cursor=ent["cursor"],
            columns=tuple(ent["columns"]),
            types=tuple(ent.get("types", {}).items()),
            non_negative=tuple(ent.get("non_negative", ())),
            currency=ent.get("currency"),
            references=tuple(ent.get("references", {}).items()),
        )
        for source, src in spec["sources"].items()
        for name, ent in src["entities"].items()
    )


@cache
def currencies() -> tuple[str, ...]:
    return tuple(_settings()["currencies"])


def max_reject_rate() -> float:
    return float(_settings()["max_reject_rate"])


def freshness_warn_days() -> int:
    return int(_settings()["freshness_warn_days"])


@cache
def _settings() -> dict:
    return yaml.safe_load(paths.SOURCES_FILE.read_text())


def sources() -> list[str]:
    return list(dict.fromkeys(e.source for e in entities()))


def entities_of(source: str) -> list[Entity]:
    return [e for e in entities() if e.source == source]


def entity(source: str, name: str) -> Entity:
    for e in entities():
        if e.source == source and e.name == name:
            return e
    raise KeyError(f"no entity {source}.{name} in {paths.SOURCES_FILE}")
