"""What the dbt project declares, read from the manifest `dbt parse` writes (target/manifest.json)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from salesdw import paths


def nodes(resource_type: str, manifest: Path = paths.DBT_MANIFEST) -> dict[str, dict]:
    """The project's nodes of one type (model, test, ...) by name."""
    found = _read(manifest, manifest.stat().st_mtime_ns)["nodes"].values()
    return {node["name"]: node for node in found if node["resource_type"] == resource_type}


@lru_cache(maxsize=2)
def _read(manifest: Path, _modified: int) -> dict:
    """The manifest (2 MB at this project's size), read once per version of the file: a publication
    asks it for the marts and then their person data, the export for the marts and their formats."""
    return json.loads(manifest.read_text())


MARTS_DIR = "models/marts/"  # every model under it is published: built, audited by its tests, then read by BI


def marts(manifest: Path = paths.DBT_MANIFEST) -> tuple[str, ...]:
    """The marts: the project's models under models/marts/, by area folder and name (their file path).
    What is published is read here, so a new mart needs its SQL and YAML and nothing else."""
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: no dbt manifest; `salesdw dbt parse` writes it")
    found = [node for node in nodes("model", manifest).values() if node["original_file_path"].startswith(MARTS_DIR)]
    return tuple(node["name"] for node in sorted(found, key=lambda node: node["original_file_path"]))


def column_meta(column: dict) -> dict:
    """A column's `meta` as its YAML gives it (dbt keeps a column's meta both at the top and under its config)."""
    return {**(column.get("config") or {}).get("meta", {}), **(column.get("meta") or {})}


def pii_columns(models, manifest: Path = paths.DBT_MANIFEST) -> dict[str, list[str]]:
    """Each model's person-data columns: those its YAML marks `meta: {pii: true}`."""
    found = nodes("model", manifest)
    return {
        model: [name for name, column in found[model]["columns"].items() if column_meta(column).get("pii")]
        for model in models
        if model in found
    }
