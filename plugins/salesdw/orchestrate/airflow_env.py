"""The environment a local Airflow runs in: AIRFLOW_HOME inside the project, no examples,
cosmos cache and telemetry set, the warehouse as two connections, one per pipeline login
(`warehouse_loader`, `warehouse_transformer`: orchestrate/connections.py); no task gets the admin.

Airflow's metadata lives in PostgreSQL too: the `airflow` database of the embedded server (SQLite
breaks on re-runs of a date once the DAG changed), reached with its own login, which no warehouse
login shares (warehouse/roles.py). AIRFLOW__DATABASE__SQL_ALCHEMY_CONN wins when set; with an
external WAREHOUSE_URL and no metadata DB given, SQLite in AIRFLOW_HOME is the fallback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from salesdw import paths
from salesdw.orchestrate.connections import (
    LOADER_CONN_ID,
    TRANSFORMER_CONN_ID,
    airflow_conn_uri,
    airflow_conn_variable,
)


def metadata_url() -> str:
    if os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        return os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if os.environ.get("WAREHOUSE_URL"):
        return f"sqlite:///{paths.AIRFLOW_HOME / 'airflow.db'}"
    from salesdw.warehouse.connection import embedded
    from salesdw.warehouse.roles import airflow_database_url

    server = embedded()
    return sqlalchemy_url(airflow_database_url(server.url(), secrets_dir=server.state_dir))


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg2://" + url.split("://", 1)[1]


def airflow_env(warehouse_url: str) -> dict[str, str]:
    """The environment for Airflow against the warehouse whose admin URL is `warehouse_url`. The
    roles are set up first (idempotent, quick): the logins the connections carry must exist, on an
    external WAREHOUSE_URL as on the embedded server."""
    from salesdw.warehouse.roles import LOGINS, password_variable, role_url, set_up

    set_up(warehouse_url)
    # tasks get the pipeline logins' connections only: not the admin URL (WAREHOUSE_URL, or the
    # `warehouse` connection of earlier versions) nor a role's password
    hidden = {"WAREHOUSE_URL", "AIRFLOW_CONN_WAREHOUSE", *(password_variable(login) for login in LOGINS)}
    env = {name: value for name, value in os.environ.items() if name not in hidden}
    env.update(
        {
            "AIRFLOW_HOME": str(paths.AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(paths.DAGS_DIR),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(paths.ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": env.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
            "AIRFLOW__COSMOS__CACHE_DIR": str(paths.STATE_DIR / "cosmos"),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__COSMOS__PROPAGATE_LOGS": "False",
            "SCARF_ANALYTICS": "false",
            "DO_NOT_TRACK": "1",
            "GX_ANALYTICS_ENABLED": "False",
            airflow_conn_variable(LOADER_CONN_ID): airflow_conn_uri(role_url("loader", warehouse_url)),
            airflow_conn_variable(TRANSFORMER_CONN_ID): airflow_conn_uri(role_url("transformer", warehouse_url)),
            "SALESDW_RETRY_DELAY_SECONDS": env.get("SALESDW_RETRY_DELAY_SECONDS", "5"),
            "SALESDW_HOME": str(paths.ROOT),
            "SALESDW_STATE_DIR": str(paths.STATE_DIR),
            "SALESDW_DATA_DIR": str(paths.DATA_DIR),
        }
    )
    # the venv's bin first: Airflow and cosmos call `airflow` / `dbt` by name
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def airflow(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    """The airflow CLI in this venv, without Python's slow teardown at its end (airflow_cli.py)."""
    return subprocess.run([sys.executable, "-m", "salesdw.orchestrate.airflow_cli", *args], env=env, **kwargs)


def ensure_airflow_db(env: dict[str, str]) -> None:
    """Create or upgrade the metadata DB (SQLite in AIRFLOW_HOME locally; idempotent)."""
    import hashlib
    from importlib.metadata import version

    # the installed distribution's version: importing airflow for it would cost a run 3 s
    airflow_version = version("apache-airflow")
    paths.AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    stamp = hashlib.sha256(f"{airflow_version} {env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']}".encode()).hexdigest()
    marker = paths.AIRFLOW_HOME / ".migrated"
    if marker.exists() and marker.read_text() == stamp:
        return
    proc = airflow(["db", "migrate"], env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    marker.write_text(stamp)
