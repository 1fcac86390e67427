"""The business's own vocabulary, read from the dbt seeds an analyst edits (dbt_project/seeds/, or
the folder a deployment names: deployment.vocabulary_dir):
pipeline stages with their order, outcome and win probability, and the accepted currencies
(product_lines.csv has no reader in Python: only dbt's tests use it).
dbt reads the same files as tables (ref('opportunity_stages'), ...); Python reads them here, so no
list is written twice."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from salesdw import deployment

OUTCOMES = ("open", "won", "lost")


class VocabularyError(ValueError):
    """A seed file says something the warehouse cannot use."""


@dataclass(frozen=True)
class Stage:
    name: str
    order: int | None  # funnel order; none for a stage that can follow any open one (lost)
    outcome: str  # open, won or lost
    win_probability: float


def _rows(name: str) -> list[dict[str, str]]:
    path: Path = deployment.vocabulary_dir() / f"{name}.csv"
    if not path.is_file():
        raise VocabularyError(f"{path}: no such file; the vocabulary folder holds {name}.csv (see dbt_project/seeds/)")
    with path.open(newline="", encoding="utf-8") as file:
        return [{key: (value or "").strip() for key, value in row.items()} for row in csv.DictReader(file)]


@cache
def stages() -> tuple[Stage, ...]:
    found = []
    for line, row in enumerate(_rows("opportunity_stages"), start=2):
        if row["outcome"] not in OUTCOMES:
            raise VocabularyError(
                f"{deployment.vocabulary_dir() / 'opportunity_stages.csv'} line {line}: outcome {row['outcome']!r},"
                f" expected one of {OUTCOMES}"
            )
        order = int(row["stage_order"]) if row["stage_order"] else None
        found.append(Stage(row["stage"], order, row["outcome"], float(row["win_probability"] or 0)))
    return tuple(found)


@cache
def currencies() -> tuple[str, ...]:
    return tuple(row["currency"] for row in _rows("currencies"))
