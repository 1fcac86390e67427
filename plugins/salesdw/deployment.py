"""One deployment's own settings: the file SALESDW_CONFIG names (docs/bring-your-own-data.md).

It says which feeds the business has and how each arrives (sources: read by config.py over the
record contract in sources.yml), the folder of its vocabulary (pipeline stages, product lines,
currencies: the dbt seeds an analyst edits) and its reporting currency and fiscal year. Paths in it
are relative to the file. Without it, the deployment is the demo's: the simulated sources, the
vocabulary in dbt_project/seeds, CNY.

dbt reads the vocabulary folder, the reporting currency, what a customer's value is counted on
and the feeds the deployment has from the environment (dbt_project.yml: env_var
SALESDW_VOCABULARY_DIR, SALESDW_REPORTING_CURRENCY, SALESDW_CLV_VALUE_BASIS, ...; macro
missing_feeds: SALESDW_FEEDS), so every dbt invocation sees the same deployment: `salesdw dbt`,
cosmos's tasks, an analyst's shell.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import MutableMapping
from functools import cache
from pathlib import Path

import yaml

from salesdw import paths

# deployment key -> the environment variable dbt_project.yml reads it from
DBT_ENVIRONMENT = {
    "reporting_currency": "SALESDW_REPORTING_CURRENCY",
    "fiscal_year_start_month": "SALESDW_FISCAL_YEAR_START_MONTH",
}
KEYS = {"sources", "vocabulary", *DBT_ENVIRONMENT}
# the feed whose standard costs turn an order's bookings into its gross margin (clv_value_basis)
COST_FEED = ("finance", "product_costs")


class DeploymentError(ValueError):
    """The deployment file says something salesdw cannot honour."""


@cache
def settings() -> dict:
    """The deployment file's content; {} for the demo's deployment."""
    path = paths.DEPLOYMENT_FILE
    if path is None:
        return {}
    if not path.is_file():
        raise DeploymentError(f"SALESDW_CONFIG={path}: no such file (the deployment's salesdw.yml)")
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(spec) - KEYS)
    if unknown:
        raise DeploymentError(
            f"{path}: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(KEYS))}"
        )
    return spec


def relative(value: str) -> Path:
    """A path the deployment file gives, relative to the file."""
    assert paths.DEPLOYMENT_FILE is not None
    return (paths.DEPLOYMENT_FILE.parent / value).resolve()


def label() -> str:
    return str(paths.DEPLOYMENT_FILE or paths.SOURCES_FILE)


def vocabulary_dir() -> Path:
    folder = settings().get("vocabulary")
    return relative(folder) if folder else paths.VOCABULARY_DIR


def dbt_seed_path() -> str:
    """The vocabulary folder as dbt's seed-paths takes it: a folder inside the dbt project, relative
    to it. dbt writes what it ran for a seed to target/run/salesdw/<seed path>, which for an absolute
    path is the seed file itself, and cosmos runs each task in a copy of the project (symlinks to its
    top-level entries), where a path out of it does not resolve: so a deployment's folder is mirrored
    under dbt_project/.vocabulary/ (git-ignored), one folder per deployment."""
    folder = vocabulary_dir()
    if folder == paths.VOCABULARY_DIR:
        return "seeds"
    mirror = paths.DBT_PROJECT_DIR / ".vocabulary" / hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    mirror.mkdir(parents=True, exist_ok=True)
    for csv_file in folder.glob("*.csv"):
        shutil.copyfile(csv_file, mirror / csv_file.name)
    return str(mirror.relative_to(paths.DBT_PROJECT_DIR))


def reporting_currency() -> str:
    """The marts' reporting currency, as dbt reads it (dbt_project.yml's default is CNY)."""
    return str(settings().get("reporting_currency", "CNY"))


def clv_value_basis() -> str:
    """What a customer's value is counted on (dbt var clv_value_basis, the CLV marts' value_basis):
    'margin', an order's gross margin after its product line's standard cost, when the deployment
    has the cost feed (finance.product_costs); 'bookings', the order's amount itself, when it has
    none (a CRM alone): customer value on bookings, not a margin of 0. The one place this is decided;
    dbt_project/models/intermediate/customers/int_customer_orders_margined.sql applies it."""
    from salesdw import config  # the configured entities; config imports this module at its top

    return "margin" if COST_FEED in {(e.source, e.name) for e in config.entities()} else "bookings"


def feeds() -> str:
    """The feeds the deployment has, as dbt reads them (env SALESDW_FEEDS: `source.entity`, comma
    separated): a mart's test has_rows expects rows only when every feed the mart reads is here."""
    from salesdw import config

    return ",".join(f"{e.source}.{e.name}" for e in config.entities())


def environment() -> dict[str, str]:
    """What dbt reads of the deployment, as environment variables."""
    env = {
        "SALESDW_VOCABULARY_DIR": dbt_seed_path(),
        "SALESDW_CLV_VALUE_BASIS": clv_value_basis(),
        "SALESDW_FEEDS": feeds(),
    }
    for key, name in DBT_ENVIRONMENT.items():
        if key in settings():
            env[name] = str(settings()[key])
    return env


def export_environment(env: MutableMapping[str, str] = os.environ) -> None:
    """Into this process's environment (inherited by dbt, Airflow's task processes and cosmos's
    dbt runner), or into `env`, a child process's (runner.dbt_env: `salesdw dbt`). Always this
    process's deployment's: a variable inherited from a parent that runs another deployment (a test
    session starting `make example-maven`) must not win."""
    env.update(environment())
    for key, name in DBT_ENVIRONMENT.items():
        if key not in settings():
            env.pop(name, None)  # dbt_project.yml's default
    if paths.DEPLOYMENT_FILE is not None:  # absolute, for processes started elsewhere (Airflow's tasks)
        env["SALESDW_CONFIG"] = str(paths.DEPLOYMENT_FILE)
