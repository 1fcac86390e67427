"""Shared fixtures: an isolated state folder and a real, ephemeral embedded PostgreSQL."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

# Isolate everything the package writes before it is imported (salesdw.paths reads these once).
SESSION_DIR = Path(tempfile.mkdtemp(prefix="salesdw-tests-"))
os.environ["SALESDW_STATE_DIR"] = str(SESSION_DIR / "state")
os.environ["SALESDW_DATA_DIR"] = str(SESSION_DIR / "data")
os.environ["AIRFLOW_HOME"] = str(SESSION_DIR / "state" / "airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] = "False"
os.environ["AIRFLOW__COSMOS__CACHE_DIR"] = str(SESSION_DIR / "state" / "cosmos")
os.environ.pop("WAREHOUSE_URL", None)
# A server's logins are the cluster's, and tests set them up from several secrets dirs (each test
# server's own, STATE_DIR/roles under WAREHOUSE_URL): one password per login for the whole session
# keeps every set-up and every role URL agreeing (warehouse/roles.py reads these first).
for _login in ("loader", "transformer", "bi", "airflow"):
    os.environ.setdefault(f"SALESDW_{_login.upper()}_PASSWORD", f"test-{_login}-{uuid.uuid4().hex}")

from salesdw.warehouse.embedded import EmbeddedPostgres, free_port  # noqa: E402


@pytest.fixture(scope="session")
def warehouse():
    server = EmbeddedPostgres(SESSION_DIR / "pg", port=free_port())
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def fresh_db(warehouse):
    """A new, empty database in the test server; its URL."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    warehouse.ensure_database(name)
    yield warehouse.url(name)
    warehouse.drop_database(name)


@pytest.fixture(scope="session")
def dbt_manifest(warehouse):
    from salesdw.orchestrate.runner import build_manifest

    build_manifest(warehouse.url())


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_DIR, ignore_errors=True)


@pytest.fixture
def deployed(tmp_path, monkeypatch):
    """Write a deployment file (salesdw.yml) into tmp_path and use it; returns a function giving the
    entities it configures. The demo's deployment comes back afterwards."""
    from salesdw import config, deployment, paths

    def write(text: str):
        (tmp_path / "salesdw.yml").write_text(text)
        monkeypatch.setattr(paths, "DEPLOYMENT_FILE", tmp_path / "salesdw.yml")
        deployment.settings.cache_clear()
        config.entities.cache_clear()
        return config.entities()

    yield write
    deployment.settings.cache_clear()
    config.entities.cache_clear()
