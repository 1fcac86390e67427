"""What the dbt project declares, read from the manifest `dbt parse` writes (target/manifest.json)."""

from __future__ import annotations

import json
from pathlib import Path

from salesdw import paths


def nodes(resource_type: str, manifest: Path = paths.DBT_MANIFEST) -> dict[str, dict]:
    """The project's nodes of one type (model, test, ...) by name."""
    found = json.loads(manifest.read_text())["nodes"].values()
    return {node["name"]: node for node in found if node["resource_type"] == resource_type}


def pii_columns(models, manifest: Path = paths.DBT_MANIFEST) -> dict[str, list[str]]:
    """Each model's person-data columns: those its YAML marks `meta: {pii: true}` (dbt keeps a column's
    meta both at the top and under its config)."""
    found = nodes("model", manifest)
    return {
        model: [
            name
            for name, column in found[model]["columns"].items()
            if {**(column.get("config") or {}).get("meta", {}), **(column.get("meta") or {})}.get("pii")
        ]
        for model in models
        if model in found
    }


def upstream_sources(manifest: Path = paths.DBT_MANIFEST) -> dict[str, set[str]]:
    """Each model's feeds: the `source.entity` of every dbt source it reads, directly or through
    other models (a feed's deleted-records table counts as the feed)."""
    spec = json.loads(manifest.read_text())
    parents = spec["parent_map"]
    named = {uid: f"{s['source_name']}.{s['name'].removesuffix('__deleted')}" for uid, s in spec["sources"].items()}
    found: dict[str, set[str]] = {}

    def walk(uid: str) -> set[str]:
        if uid in named:
            return {named[uid]}
        if uid not in found:
            found[uid] = set()
            found[uid] = set().union(*(walk(p) for p in parents.get(uid, ())))
        return found[uid]

    return {node["name"]: walk(uid) for uid, node in spec["nodes"].items() if node["resource_type"] == "model"}
