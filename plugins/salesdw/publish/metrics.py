"""The semantic layer: MetricFlow's `mf` over the published marts, as the BI login.

The metrics are defined once, in dbt YAML (dbt_project/models/semantic/): semantic models over the
marts, and the metrics a sales leader asks for on top of them. `dbt parse` writes them to
target/semantic_manifest.json, naming each mart by the build schema dbt was parsing for; MetricFlow
must read what BI reads instead, the views of schema marts, published whole after their tests
passed (publish/publications.py). So `salesdw mf` hands MetricFlow a project folder of its own
(under the state folder) whose semantic manifest names schema marts, and runs `mf` there with the BI
login's credentials: person data stays masked, and a metric never reads a build not yet audited.
Its table prints each number in full, as `--csv` writes it (_plain), not as 2.26443e+08.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from salesdw import paths
from salesdw.publish.publications import BUILD_SCHEMAS, PUBLISHED_SCHEMA

MF_PROJECT_DIR = paths.STATE_DIR / "metricflow"  # MetricFlow's view of the dbt project
SEMANTIC_MANIFEST = Path("target") / "semantic_manifest.json"  # where `mf` looks, under its project


def _published(node: object, database: str) -> object:
    """The semantic manifest with every relation in a build schema renamed to its view in marts, in
    `database`: the manifest names the database it was parsed for, which another deployment's
    warehouse (or a test's) need not share, and PostgreSQL reads no other database."""
    if isinstance(node, list):
        return [_published(item, database) for item in node]
    if not isinstance(node, dict):
        return node
    found = {key: _published(value, database) for key, value in node.items()}
    if found.get("schema_name") in BUILD_SCHEMAS and "alias" in found:
        found.update(database=database, schema_name=PUBLISHED_SCHEMA)
        found["relation_name"] = f'"{database}"."{PUBLISHED_SCHEMA}"."{found["alias"]}"'
    return found


def prepare_project(database: str, project_dir: Path = paths.DBT_PROJECT_DIR, into: Path = MF_PROJECT_DIR) -> Path:
    """`into`: the dbt project's files (linked, not copied) and a semantic manifest naming schema
    marts of `database`."""
    into.mkdir(parents=True, exist_ok=True)
    for entry in project_dir.iterdir():
        if entry.name in ("target", "logs", "dbt_packages"):
            continue
        link = into / entry.name
        if not (link.is_symlink() and link.resolve() == entry.resolve()):
            link.unlink(missing_ok=True)
            link.symlink_to(entry.resolve())
    source = project_dir / SEMANTIC_MANIFEST
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no semantic manifest; `salesdw dbt parse` writes it")
    target = into / SEMANTIC_MANIFEST
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(_published(json.loads(source.read_text()), database)))
    return into


def mf(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """`mf args` against the published marts, in `env`: dbt's environment for the BI login
    (orchestrate/runner.dbt_env of its URL), whose credentials the profile reads."""
    project = prepare_project(env["WAREHOUSE_DB"])
    env = dict(env, DBT_PROFILES_DIR=str(project), DBT_PROJECT_DIR=str(project))
    return subprocess.run([sys.executable, "-m", __name__, *args], env=env, cwd=project, check=False)


METRICFLOW_PATCHED = "0.213.0"  # the metricflow (requirements.lock) whose table text _plain_numbers knows
MAX_SCALE = 6  # the most decimals of a numeric a metric sums (money: 2); a float with more is a quotient


def _plain(value: object, spec: str) -> str:
    """`format(value, spec)` as `mf query` prints a number in its table, but with spec "g" (no
    `--decimals`; MetricFlow's "g" keeps six significant digits: 226442924.07 as 2.26443e+08) in
    fixed point with all its digits, as `--csv` writes it (MetricFlow reads PostgreSQL's numeric
    into a float, exact to 15 significant digits): 226442924.07. A float of more decimals than
    MAX_SCALE is a quotient's binary expansion (a ratio's 0.28252032520325204): six significant
    digits, and never fewer decimals than the cents (0.28252, 109.506, 12345678.12)."""
    if spec != "g" or not isinstance(value, float | Decimal):
        return format(value, spec)
    number = Decimal(repr(value)) if isinstance(value, float) else value
    if not number.is_finite():
        return format(value, spec)
    if isinstance(value, float) and -number.as_tuple().exponent > MAX_SCALE:
        number = round(number, max(2, 5 - number.adjusted()))
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _plain_numbers() -> None:
    """`mf query`'s table with _plain numbers. MetricFlow offers no hook: its table (metricflow's
    MetricFlowDataTable.text_format) formats each number cell itself with `format(cell, "g")`, or
    f".{N}f" under `--decimals N`, one N for every column: 2 rounds a ratio of 0.0115 to 0.01, 4
    prints 226442924.0700 (and tabulate, which it then calls with disable_numparse, formats nothing).
    So that call's `format` is ours, in that module only, for the metricflow whose code this is read
    from; another leaves MetricFlow's "g" (test_metrics.py fails, to look again)."""
    from importlib.metadata import version

    from metricflow.data_table import mf_table

    if version("metricflow") == METRICFLOW_PATCHED:
        mf_table.format = _plain  # shadows the builtin for text_format's one call of format()


def _cli() -> None:
    """MetricFlow's own CLI, without its check for a newer version: it asks pypi.org on every call
    (update_checker), and a night's machine reaches no such address; and with _plain numbers."""
    import update_checker
    from dbt_metricflow.cli.main import cli

    update_checker.UpdateChecker.check = lambda *_args, **_kwargs: None
    _plain_numbers()
    cli(prog_name="salesdw mf")


if __name__ == "__main__":
    _cli()
