"""The tree's lint, run by `make test` and so by CI: ruff over the Python (its check and its format),
sqlfluff over the dbt project's SQL (dbt templater, postgres dialect; the rules the project keeps
out, and why, are in dbt_project/.sqlfluff)."""

import subprocess
import sys
from pathlib import Path

from salesdw import paths
from salesdw.orchestrate.runner import dbt_env

BIN = Path(sys.executable).parent
PYTHON = ["plugins", "dags", "tests", "bench"]


def test_python_is_ruff_clean():
    for args in (["check"], ["format", "--check"]):
        proc = subprocess.run([str(BIN / "ruff"), *args, *PYTHON], cwd=paths.ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, f"ruff {' '.join(args)}:\n{proc.stdout}{proc.stderr}"


def test_sql_is_sqlfluff_clean(warehouse, dbt_manifest):
    # the dbt templater compiles each model as dbt does, so it needs a warehouse and the deployment's settings
    proc = subprocess.run(
        [str(BIN / "sqlfluff"), "lint", "models", "tests", "--processes", "2", "--nocolor"],
        cwd=paths.DBT_PROJECT_DIR,
        env=dbt_env(warehouse.url()),
        capture_output=True,
        text=True,
        timeout=900,
    )
    found = "\n".join(line for line in proc.stdout.splitlines() if not line.startswith("=== [dbt templater]"))
    assert proc.returncode == 0, f"sqlfluff lint (fix, or `sqlfluff fix` in dbt_project/):\n{found[-8000:]}"
