"""What an operator sees when a run cannot start: one sentence saying what happened and what to do."""

import os
import subprocess
import sys
from datetime import UTC, date, datetime

import pytest
from salesdw.orchestrate.preflight import RunInProgressError, run_lock


def _salesdw(args, **env):
    return subprocess.run(
        [sys.executable, "-m", "salesdw.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_warehouse_that_is_down_is_one_sentence_not_a_traceback(tmp_path):
    from salesdw.warehouse.embedded import free_port

    down = f"postgresql://salesdw:secret@127.0.0.1:{free_port()}/salesdw"  # nothing listens there
    for args in (["run", "--date", "2026-01-02"], ["land", "finance", "invoices", "--date", "2026-01-02"]):
        proc = _salesdw(args, WAREHOUSE_URL=down, SALESDW_DATA_DIR=str(tmp_path))
        assert proc.returncode == 1, proc.stderr
        lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        assert any("cannot reach the warehouse at 127.0.0.1:" in line for line in lines), lines
        assert "Traceback" not in proc.stderr and "secret" not in proc.stderr + proc.stdout


def test_a_second_run_of_the_same_date_is_refused_and_names_the_first(fresh_db):
    days = [date(2026, 1, 2), date(2026, 1, 3)]
    with run_lock(fresh_db, days):
        with pytest.raises(RunInProgressError) as err, run_lock(fresh_db, [date(2026, 1, 3)]):
            pass
        message = str(err.value)
        assert message.startswith("a sales_nightly run for 2026-01-03 is already in progress (salesdw run since")
        assert f"pid {os.getpid()}" in message and "wait for it to finish" in message
        with run_lock(fresh_db, [date(2026, 1, 4)]):  # another date runs alongside
            pass
    with run_lock(fresh_db, days):  # released when the first run ended
        pass


def test_a_run_airflow_itself_is_running_is_refused(tmp_path, fresh_db):
    import sqlite3

    metadata = tmp_path / "airflow.db"
    with sqlite3.connect(metadata) as conn:
        conn.execute("create table dag_run (dag_id text, run_id text, state text, logical_date timestamp)")
        conn.execute(
            "insert into dag_run values ('sales_nightly', 'scheduled__2026-01-03T00:00:00+00:00', 'running', ?)",
            [datetime(2026, 1, 3, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")],
        )
    with (
        pytest.raises(RunInProgressError) as err,
        run_lock(fresh_db, [date(2026, 1, 2)], metadata_url=f"sqlite:///{metadata}"),
    ):
        pass
    assert "run scheduled__2026-01-03T00:00:00+00:00 is running" in str(err.value)
    with run_lock(fresh_db, [date(2026, 1, 1)], metadata_url=f"sqlite:///{metadata}"):  # another date: fine
        pass


def test_a_missing_source_connection_says_which_variable_to_set(fresh_db, monkeypatch):
    from salesdw.extract.run import MissingConnectionError
    from salesdw.orchestrate import tasks

    monkeypatch.delenv("AIRFLOW_CONN_CRM_API", raising=False)
    start, end = tasks.day_interval(date(2026, 1, 2))
    with pytest.raises(MissingConnectionError) as err:
        tasks.extract("crm", "reps", start, end, url=fresh_db)
    assert "no Airflow connection 'crm_api'" in str(err.value) and "AIRFLOW_CONN_CRM_API=" in str(err.value)


def test_a_date_before_the_earliest_is_refused_not_silently_skipped(tmp_path):
    from salesdw.warehouse.embedded import free_port

    # Airflow runs nothing for a logical date before the DAG's start_date, and exits 0: the runner
    # says so first (and the DAG starts at the earliest plausible day, so real history runs)
    down = f"postgresql://salesdw:secret@127.0.0.1:{free_port()}/salesdw"
    proc = _salesdw(["run", "--date", "1999-12-31"], WAREHOUSE_URL=down, SALESDW_DATA_DIR=str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    assert "1999-12-31 is before the earliest day the pipeline runs, 2000-01-01" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
