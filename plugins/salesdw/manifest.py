"""What the dbt project declares, read from the manifest `dbt parse` writes (target/manifest.json)."""

from __future__ import annotations

import json
from pathlib import Path

from salesdw import paths


def nodes(resource_type: str, manifest: Path = paths.DBT_MANIFEST) -> dict[str, dict]:
    """The project's nodes of one type (model, test, ...) by name."""
    found = json.loads(manifest.read_text())["nodes"].values()
    return {node["name"]: node for node in found if node["resource_type"] == resource_type}


def cross_model_tests(manifest: Path = paths.DBT_MANIFEST) -> list[str]:
    """The data tests over more than one model or source: relationships, reconciliations.

    A model's own task builds that model alone, and cautious selection leaves out a test whose other
    parents it does not build; these tests run together once every model is built.
    """
    tests = nodes("test", manifest)
    return sorted(name for name, node in tests.items() if len(node["depends_on"]["nodes"]) > 1)
