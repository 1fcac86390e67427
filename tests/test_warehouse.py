"""The embedded warehouse: a real PostgreSQL the project starts itself, reachable by URL."""

import shutil
import subprocess

import psycopg
import pytest
from salesdw.warehouse.embedded import EmbeddedPostgres, free_port


def test_start_stop_status_are_idempotent(tmp_path):
    server = EmbeddedPostgres(tmp_path / "wh", port=free_port())
    try:
        assert not server.running()
        assert server.start() is True
        assert server.start() is False  # already running: nothing to do
        assert server.running()
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("select current_database(), current_user").fetchone() == ("salesdw", "salesdw")
            assert int(conn.execute("show server_version_num").fetchone()[0]) >= 150000
        assert server.stop() is True
        assert server.stop() is False
        assert not server.running()
        assert server.start() is True  # restarts on the same data
    finally:
        server.destroy()


def test_url_works_for_psql_and_needs_the_password(warehouse):
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql client not installed")
    out = subprocess.run([psql, warehouse.url(), "-tAc", "select 40 + 2"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "42"
    wrong = warehouse.url().replace(warehouse.password, "not-the-password")
    denied = subprocess.run([psql, wrong, "-tAc", "select 1"], capture_output=True, text=True)
    assert denied.returncode != 0
    assert "password authentication failed" in denied.stderr


def test_cli_db_commands(tmp_path):
    env_state = tmp_path / "state"
    import os
    import sys

    env = dict(os.environ, SALESDW_STATE_DIR=str(env_state), SALESDW_PG_PORT=str(free_port()))
    salesdw = [sys.executable, "-m", "salesdw.cli"]
    try:
        assert subprocess.run([*salesdw, "db", "status"], env=env, capture_output=True).returncode == 3
        first = subprocess.run([*salesdw, "db", "start"], env=env, capture_output=True, text=True)
        assert first.returncode == 0 and "started" in first.stdout
        again = subprocess.run([*salesdw, "db", "start"], env=env, capture_output=True, text=True)
        assert "already running" in again.stdout
        url = subprocess.run([*salesdw, "db", "url"], env=env, capture_output=True, text=True).stdout.strip()
        with psycopg.connect(url) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        subprocess.run([*salesdw, "db", "stop"], env=env, capture_output=True)
