"""The environment a local Airflow runs in: AIRFLOW_HOME inside the project, no examples,
cosmos cache and telemetry set, the warehouse as the `warehouse` connection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from salesdw import paths
from salesdw.orchestrate.connections import airflow_conn_uri


def airflow_env(warehouse_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(paths.AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(paths.DAGS_DIR),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(paths.ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": env.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
            "AIRFLOW__COSMOS__CACHE_DIR": str(paths.STATE_DIR / "cosmos"),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__COSMOS__PROPAGATE_LOGS": "False",
            "SCARF_ANALYTICS": "false",
            "DO_NOT_TRACK": "1",
            "GX_ANALYTICS_ENABLED": "False",
            "AIRFLOW_CONN_WAREHOUSE": airflow_conn_uri(warehouse_url),
            "SALESDW_HOME": str(paths.ROOT),
            "SALESDW_STATE_DIR": str(paths.STATE_DIR),
            "SALESDW_DATA_DIR": str(paths.DATA_DIR),
        }
    )
    # the venv's bin first: Airflow and cosmos call `airflow` / `dbt` by name
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def airflow(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "airflow"), *args], env=env, **kwargs)


def ensure_airflow_db(env: dict[str, str]) -> None:
    """Create or upgrade the metadata DB (SQLite in AIRFLOW_HOME locally; idempotent)."""
    paths.AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    marker = paths.AIRFLOW_HOME / ".migrated"
    if marker.exists():
        return
    airflow(["db", "migrate"], env, check=True, stdout=subprocess.DEVNULL)
    marker.touch()
