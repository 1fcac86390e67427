"""The declarative feed config: the record contract (sources.yml: entities, keys, cursors, columns,
types, references), and how this deployment's feeds arrive and map onto it.

Without a deployment file (SALESDW_CONFIG, see deployment.py) every entity of the contract is
configured as sources.yml delivers it (the demo's simulated sources). With one, the entities it
lists are the ones this business has, each with its own delivery (api or files: drop folder, file
name pattern, snapshot or changes) and its mapping from the export's own headers and values onto
the contract's; the others are not extracted, and their raw tables stay empty (dbt builds what
needs them empty; the gates do not ask for them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from functools import cache

import yaml

from salesdw import deployment, paths, vocabulary

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
    required: tuple[str, ...] = ()  # columns a record must fill (besides its key): dbt's not_null tests
    # how this deployment's files arrive (extract/files.py) and map onto the contract (extract/mapping.py)
    drop_dir: str | None = None  # the deployment's drop folder, else the connection's extra.path
    file_pattern: str | None = None  # e.g. sales_pipeline.csv, opportunities_{YYYYMMDD}.csv
    keep_files: bool = False  # the drop folder is read-only: copy, never move
    snapshot: bool = False  # each delivery is the entity's full state: a key it lacks was deleted
    mapping: tuple[tuple[str, str | None], ...] = ()  # (column, the export's header; None: not exported)
    constants: tuple[tuple[str, str], ...] = ()  # (column, value; "{day}" is the batch day)
    value_maps: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()  # (column, (export value, ours))
    api_profile: str | None = None  # its API's profile (extract/vendors.yml): salesforce, hubspot, ..., salesdw_crm
    api_object: str | None = None  # the API's object (Opportunity, deals, Deals, tickets; reps for salesdw_crm)
    number_format: tuple[str, str] | None = None  # (decimal mark, thousands separator) of numbers not 1234.56

    @property
    def numeric_columns(self) -> tuple[str, ...]:
        return tuple(c for c, t in self.types if t in ("numeric", "integer"))

    @property
    def mapped(self) -> bool:
        return bool(self.mapping or self.constants or self.value_maps or self.number_format)

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
            required=(),
            snapshot=False,
            mapping=(),
            constants=(),
            value_maps=(),
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


def _entity(source: str, src: dict, name: str, ent: dict, delivered: dict | None = None) -> Entity:
    """The contract's entity; `delivered`, a deployment's entry for it, says how it arrives and maps."""
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
    required = tuple(ent.get("required", ()))
    unknown = [c for c in required if c not in ent["columns"]]
    if unknown:
        raise ConfigError(f"{label}: required column(s) {', '.join(unknown)} not among its columns")
    entity = Entity(
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
        required=required,
        api_profile=src.get("api") if src["delivery"] == "api" else None,
        api_object=name if src["delivery"] == "api" else None,
    )
    return entity if delivered is None else _delivered(entity, delivered)


def _vendor_profiles() -> list[str]:
    from salesdw.extract import vendors

    return [name for name, spec in vendors.profiles().items() if not spec.get("source")]


SOURCE_KEYS = {
    "delivery",
    "format",
    "connection_id",
    "drop_folder",
    "keep_files",
    "trim",
    "date_format",
    "number_format",
    "api",
    "entities",
}
ENTITY_KEYS = {"file", "snapshot", "columns", "constants", "values", "date_formats", "number_format", "object"}
DECIMAL_MARKS, THOUSANDS = (".", ","), ("", ",", ".", " ", "'")


def _delivered(entity: Entity, where: dict) -> Entity:
    """The contract's entity as a deployment delivers it: `where` merges its source's keys and its own."""
    label = f"{deployment.label()}: {entity.source}.{entity.name}"
    columns = {str(k): (None if v is None else str(v)) for k, v in (where.get("columns") or {}).items()}
    by_api = where.get("delivery", "api" if where.get("api") else entity.delivery) == "api"
    profile, api_object = (where.get("api") or entity.api_profile) if by_api else None, None
    if profile:  # a vendor's API: its standard fields, under the deployment's own
        from salesdw.extract import vendors

        try:
            spec = vendors.entity_spec(profile, f"{entity.source}.{entity.name}")
        except vendors.VendorError as exc:
            raise ConfigError(f"{label}: {exc}") from None
        columns = {k: (None if v is None else str(v)) for k, v in spec["columns"].items()} | columns
        api_object = str(where.get("object", spec["object"]))
    elif by_api:
        raise ConfigError(
            f"{label}: arrives by API, but names no API profile: give `api:` one of"
            f" {', '.join(_vendor_profiles())} (extract/vendors.yml), or deliver it as files"
        )
    constants = {str(k): str(v) for k, v in (where.get("constants") or {}).items()}
    values = {str(k): {str(a): str(b) for a, b in v.items()} for k, v in (where.get("values") or {}).items()}
    for key, named in (("columns", columns), ("constants", constants), ("values", values)):
        unknown = [c for c in named if c not in entity.columns]
        if unknown:
            raise ConfigError(
                f"{label}: {key} names {', '.join(unknown)}, not a column of the contract;"
                f" expected some of {', '.join(entity.columns)}"
            )
    both = set(columns) & set(constants)
    if both:
        raise ConfigError(f"{label}: {', '.join(sorted(both))} both mapped (columns) and constant (constants)")
    if entity.primary_key in constants or columns.get(entity.primary_key, entity.primary_key) is None:
        raise ConfigError(f"{label}: the key {entity.primary_key} must come from the export (columns)")
    declared = dict(entity.date_formats) | {
        c: where["date_format"] for c, t in entity.types if t == "date" and "date_format" in where
    }
    declared |= where.get("date_formats") or {}
    for fmt in declared.values():
        date_pattern(fmt)
    drop = where.get("drop_folder")
    numbers = where.get("number_format")
    if numbers is not None:
        mark, group = str(numbers.get("decimal", ".")), str(numbers.get("thousands", ""))
        if mark not in DECIMAL_MARKS or group not in THOUSANDS or mark == group:
            raise ConfigError(
                f"{label}: number_format {numbers!r}: expected decimal one of {DECIMAL_MARKS} and thousands one of"
                f" {THOUSANDS}, different from it (e.g. {{decimal: ',', thousands: '.'}} for 1.234,56)"
            )
        numbers = (mark, group)
    return replace(
        entity,
        connection_id=where.get("connection_id", entity.connection_id),
        delivery="api" if profile else where.get("delivery", entity.delivery),
        format="jsonl" if profile else where.get("format", entity.format),
        trim=bool(where.get("trim", entity.trim)),
        date_formats=tuple((c, f) for c, f in declared.items() if f != ISO),
        drop_dir=str(deployment.relative(drop)) if drop else None,
        file_pattern=where.get("file"),
        keep_files=bool(where.get("keep_files", False)),
        snapshot=bool(where.get("snapshot", False)),
        mapping=tuple(columns.items()),
        constants=tuple(constants.items()),
        value_maps=tuple((c, tuple(m.items())) for c, m in values.items()),
        api_profile=profile or None,
        api_object=api_object,
        number_format=numbers,
    )


@cache
def contract() -> tuple[Entity, ...]:
    """Every entity of the record contract, as the demo delivers it: what raw and dbt's sources hold."""
    spec = _settings()
    return tuple(
        _entity(source, src, name, ent)
        for source, src in spec["sources"].items()
        for name, ent in src["entities"].items()
    )


@cache
def entities() -> tuple[Entity, ...]:
    """The entities this deployment has, as it delivers them (the whole contract without a deployment file)."""
    chosen = deployment.settings().get("sources")
    if chosen is None:
        return contract()
    spec, found = _settings()["sources"], []
    for source, given in chosen.items():
        given = given or {}
        if source not in spec:
            raise ConfigError(
                f"{deployment.label()}: source {source!r} is not in the contract; expected some of {', '.join(spec)}"
            )
        unknown = sorted(set(given) - SOURCE_KEYS)
        if unknown:
            raise ConfigError(f"{deployment.label()}: {source}: unknown key(s) {', '.join(unknown)}")
        shared = {k: v for k, v in given.items() if k != "entities"}
        for name, own in (given.get("entities") or {}).items():
            if name not in spec[source]["entities"]:
                raise ConfigError(
                    f"{deployment.label()}: {source}.{name} is not in the contract; expected some of"
                    f" {', '.join(spec[source]['entities'])}"
                )
            unknown = sorted(set(own or {}) - ENTITY_KEYS)
            if unknown:
                raise ConfigError(f"{deployment.label()}: {source}.{name}: unknown key(s) {', '.join(unknown)}")
            found.append(_entity(source, spec[source], name, spec[source]["entities"][name], shared | (own or {})))
    # a reference to an entity this deployment does not have cannot be checked: a ticket's account
    # where there is no CRM feed is just a value
    have = {f"{e.source}.{e.name}" for e in found}
    return tuple(replace(e, references=tuple((c, t) for c, t in e.references if t in have)) for e in found)


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
    raise KeyError(f"no entity {source}.{name} configured in {deployment.label()}")


deployment.export_environment()  # dbt, run from here or from a task, reads the same deployment
