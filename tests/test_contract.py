"""The record contract in sources.yml and staging's casts say the same thing.

The loader rejects a value staging's cast would round, overflow or misread (load/checks.py), so a
numeric's precision and scale, and each column's date or timestamp type, must be what staging casts
it to: a staging change that widens or narrows a cast without the contract would let values through
that staging then silently changes, or reject ones it would keep.
"""

import re

import pytest
from salesdw import config, paths

CAST = re.compile(
    r"cast\(\s*(?:coalesce\()?(?P<column>\w+)(?:,\s*'[^']*'\))?\s+as\s+(?P<type>numeric\(\d+,\s*\d+\)|date|timestamptz|integer|boolean)\s*\)",
    re.IGNORECASE,
)


def _staging_casts(entity) -> dict[str, str]:
    """raw column -> the type staging casts it to (versions models included: the same columns)."""
    folder = paths.DBT_PROJECT_DIR / "models" / "staging" / entity.source
    casts: dict[str, set[str]] = {}
    for model in folder.glob(f"stg_{entity.source}__{entity.name.rstrip('s')}*.sql"):
        for match in CAST.finditer(model.read_text()):
            if match["column"] in entity.columns:
                casts.setdefault(match["column"], set()).add(re.sub(r"\s+", "", match["type"].lower()))
    return casts


@pytest.mark.parametrize("entity", config.entities(), ids=lambda e: e.raw_table)
def test_staging_casts_are_the_contracts_types(entity):
    casts = _staging_casts(entity)
    assert casts, f"found no staging model casting {entity.raw_table}'s columns"
    sizes = dict(entity.numeric_sizes)
    declared = {
        column: f"numeric({sizes[column][0]},{sizes[column][1]})" if type_name == "numeric" else type_name
        for column, type_name in entity.types
    }
    for column, types in casts.items():
        assert types == {declared.get(column)}, (
            f"{entity.raw_table}.{column}: staging casts it to {sorted(types)},"
            f" sources.yml declares {declared.get(column)}"
        )
    for column, type_name in declared.items():
        assert column in casts, f"{entity.raw_table}.{column} is declared {type_name} but staging never casts it"


def test_the_calendar_spans_every_date_the_loader_accepts():
    import yaml

    project_vars = yaml.safe_load((paths.DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    ranges = [r for entity in config.entities() for _, r in entity.plausible]
    assert str(project_vars["calendar_first_day"]) == min(r.not_before for r in ranges).isoformat()
    assert int(project_vars["calendar_days_ahead"]) == max(r.days_ahead for r in ranges)


def _not_null_tested(model: str) -> set[str]:
    """The columns a staging model's YAML tests not_null unconditionally, as errors."""
    import yaml

    found = set()
    for path in (paths.DBT_PROJECT_DIR / "models" / "staging").glob("*/_*__models.yml"):
        for node in yaml.safe_load(path.read_text())["models"]:
            if node["name"] != model:
                continue
            for column in node.get("columns", []):
                for test in column.get("data_tests", []):
                    if test == "not_null":
                        found.add(column["name"])
                    elif isinstance(test, dict) and "not_null" in test:
                        options = (test["not_null"] or {}).get("config", {})
                        if "where" not in options and options.get("severity", "error") == "error":
                            found.add(column["name"])
    return found


@pytest.mark.parametrize("entity", config.entities(), ids=lambda e: e.raw_table)
def test_what_staging_demands_the_loader_refuses_without(entity):
    """A record the loader accepts cannot fail staging's not_null tests: each raw column they test is
    the key or `required` (the loader rejects the record as missing_value), or staging fills it
    (a deal's empty account_id becomes the unknown account)."""
    filled_by_staging = {("crm", "opportunities"): {"account_id"}}
    tested = _not_null_tested(f"stg_{entity.source}__{entity.name}") & set(entity.columns)
    allowed = {entity.primary_key, *entity.required, *filled_by_staging.get((entity.source, entity.name), set())}
    assert tested <= allowed, (
        f"{entity.raw_table}: staging tests {sorted(tested - allowed)} not_null, but sources.yml does not"
        " declare them `required`"
    )
