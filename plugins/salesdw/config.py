"""The declarative feed config (sources.yml): sources, entities, keys, cursors, columns, contracts."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from functools import cache

import yaml

from salesdw import paths, vocabulary

ISO = "YYYY-MM-DD"
# a declared date format: these fields in any order, with any separators between them
DATE_FIELDS = {"YYYY": r"(\d{4})", "MM": r"(\d{2})", "DD": r"(\d{2})"}
TYPED = re.compile(r"^(numeric)\((\d+),\s*(\d+)\)$|^(numeric|integer|date|timestamptz|boolean)$")


class ConfigError(ValueError):
    """sources.yml says something the loader cannot honour."""


@dataclass(frozen=True)
class Plausible:
    """A date column's plausible range: not before `not_before`, nor over `days_ahead` days after the batch day."""

    not_before: date
    days_ahead: int


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
    types: tuple[tuple[str, str], ...] = ()  # (column, base type: numeric | integer | date | timestamptz | boolean)
    numeric_sizes: tuple[tuple[str, tuple[int, int]], ...] = ()  # (column, (precision, scale)) as staging casts
    date_formats: tuple[tuple[str, str], ...] = ()  # (column, format) of date columns not written as ISO
    plausible: tuple[tuple[str, Plausible], ...] = ()  # every date and timestamptz column's range
    non_negative: tuple[str, ...] = ()
    currency: str | None = None
    references: tuple[tuple[str, str], ...] = ()  # (column, "source.entity")
    trim: bool = True  # strip spaces and tabs around headers and values

    @property
    def raw_table(self) -> str:
        return f"{self.source}__{self.name}"

    @property
    def file_name(self) -> str:
        return f"{self.name}.{self.format}"

    def date_format(self, column: str) -> str:
        return dict(self.date_formats).get(column, ISO)

    def deletions(self) -> Entity:
        """The API's deleted-records listing of this entity, landed as raw.<source>__<entity>__deleted."""
        return replace(
            self,
            name=f"{self.name}__deleted",
            format="jsonl",
            cursor="deleted_at",
            columns=(self.primary_key, "deleted_at"),
            types=(("deleted_at", "timestamptz"),),
            numeric_sizes=(),
            date_formats=(),
            plausible=(("deleted_at", _default()),),
            non_negative=(),
            currency=None,
        )


def date_pattern(fmt: str) -> tuple[str, str]:
    """A declared date format as (strict regex, replacement giving YYYY-MM-DD), e.g. DD/MM/YYYY."""
    tokens = re.findall(r"YYYY|MM|DD|[^YMD]+", fmt)
    fields = [t for t in tokens if t in DATE_FIELDS]
    if "".join(tokens) != fmt or sorted(fields) != ["DD", "MM", "YYYY"]:
        raise ConfigError(f"date format {fmt!r}: expected YYYY, MM and DD once each with separators, e.g. DD/MM/YYYY")
    regex = "^" + "".join(DATE_FIELDS.get(t, re.escape(t)) for t in tokens) + "$"
    group = {name: i + 1 for i, name in enumerate(fields)}
    return regex, f"\\{group['YYYY']}-\\{group['MM']}-\\{group['DD']}"


def earliest_date() -> date:
    """The first day the business's data can hold (plausible_dates.not_before): the DAG's start_date,
    so any day of a real history can be run."""
    return _default().not_before


def _default() -> Plausible:
    spec = _settings()["plausible_dates"]
    return Plausible(date.fromisoformat(str(spec["not_before"])), int(spec["days_ahead"]))


def _entity(source: str, src: dict, name: str, ent: dict) -> Entity:
    label = f"{paths.SOURCES_FILE}: {source}.{name}"
    types, sizes = [], []
    for column, declared in ent.get("types", {}).items():
        match = TYPED.match(str(declared).replace(" ", ""))
        if not match:
            raise ConfigError(f"{label}: type {declared!r} of {column}: expected numeric(P,S), integer, date, ...")
        types.append((column, match.group(1) or match.group(4)))
        if match.group(1):
            sizes.append((column, (int(match.group(2)), int(match.group(3)))))
    dated = [c for c, t in types if t in ("date", "timestamptz")]
    # the source's date format for its date columns, an entity's `date_formats` per column over it
    declared = {c: src.get("date_format", ISO) for c, t in types if t == "date"} | ent.get("date_formats", {})
    formats = tuple((c, f) for c, f in declared.items() if f != ISO)
    for column, fmt in formats:
        if dict(types).get(column) != "date":
            raise ConfigError(f"{label}: date_formats.{column}: only date columns take a declared format")
        date_pattern(fmt)  # fails here, at config time, not at night
    default, overrides = _default(), ent.get("plausible_dates", {})
    plausible = tuple(
        (
            c,
            replace(
                default,
                **{
                    k: date.fromisoformat(str(v)) if k == "not_before" else int(v)
                    for k, v in overrides.get(c, {}).items()
                },
            ),
        )
        for c in dated
    )
    return Entity(
        source=source,
        name=name,
        connection_id=src["connection_id"],
        delivery=src["delivery"],
        format=src["format"],
        primary_key=ent["primary_key"],
        cursor=ent["cursor"],
        columns=tuple(ent["columns"]),
        types=tuple(types),
        numeric_sizes=tuple(sizes),
        date_formats=formats,
        plausible=plausible,
        non_negative=tuple(ent.get("non_negative", ())),
        currency=ent.get("currency"),
        references=tuple(ent.get("references", {}).items()),
        trim=bool(src.get("trim", True)),
    )


@cache
def entities() -> tuple[Entity, ...]:
    spec = _settings()
    return tuple(
        _entity(source, src, name, ent)
        for source, src in spec["sources"].items()
        for name, ent in src["entities"].items()
    )


def currencies() -> tuple[str, ...]:
    """The currencies a record may carry: the analyst's seed (vocabulary.py), not a second list here."""
    return vocabulary.currencies()


def max_reject_rate() -> float:
    return float(_settings()["max_reject_rate"])


def min_rejected_rows() -> int:
    return int(_settings()["min_rejected_rows"])


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
