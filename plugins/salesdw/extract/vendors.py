"""The vendor API profiles (vendors.yml): each vendor's request shapes, and its objects' fields per
contract entity. Read by config.py (a deployment's `api: <vendor>`), the extractor
(extract/api.py) and the simulator (simulate/vendors.py), so the three agree."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

VENDORS_FILE = Path(__file__).with_name("vendors.yml")


class VendorError(ValueError):
    """A vendor profile is unknown, or has no mapping for an entity."""


@cache
def profiles() -> dict[str, dict]:
    return yaml.safe_load(VENDORS_FILE.read_text())


def profile(name: str) -> dict:
    try:
        return profiles()[name]
    except KeyError:
        raise VendorError(f"no API profile {name!r}; expected one of {', '.join(profiles())}") from None


def entity_spec(name: str, entity: str) -> dict:
    """The vendor's `object` and `columns` (contract column -> the record's field path) for `source.entity`;
    a profile serving a whole contract source names the object as the entity, its fields as the contract's."""
    spec = profile(name)
    source, _, object_name = entity.partition(".")
    if spec.get("source") == source:
        return {"object": object_name, "columns": {}}
    found = spec.get("entities", {}).get(entity)
    if found is None:
        known = ", ".join(spec.get("entities", {})) or f"the entities of {spec.get('source')}"
        raise VendorError(f"API profile {name!r} maps no {entity}; it maps {known} (or deliver it another way)")
    return found


def serving(source: str) -> str | None:
    """The profile that serves every entity of the contract's `source` (the simulated APIs), if any."""
    return next((name for name, spec in profiles().items() if spec.get("source") == source), None)


def field(record: dict, path: str):
    """A record's value at a dotted path (`properties.amount`, `Owner.id`); None where any step is missing."""
    value = record
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value
