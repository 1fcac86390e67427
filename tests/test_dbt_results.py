"""audit.dbt_results: each node of a night's `dbt build` recorded once per run, failures named."""

import json
import logging

import psycopg
from salesdw.orchestrate.dbt_results import record_dbt_results


def _run_results(tmp_path, results):
    (tmp_path / "run_results.json").write_text(json.dumps({"results": results}))
    return tmp_path


def _node(unique_id, status, seconds, rows=None, failures=None, message=None, relation=None):
    return {
        "unique_id": unique_id,
        "status": status,
        "execution_time": seconds,
        "adapter_response": {"rows_affected": rows} if rows is not None else {},
        "failures": failures,
        "message": message,
        "relation_name": relation,
    }


def test_each_node_is_recorded_once_per_run_and_failures_are_listed(fresh_db, tmp_path, caplog):
    target = _run_results(
        tmp_path,
        [
            _node("model.salesdw.fct_bookings", "success", 2.5, rows=1234),
            _node("test.salesdw.unique_fct_bookings_booking_id.abc", "pass", 0.1, failures=0),
            _node(
                "test.salesdw.assert_bookings_total.def",
                "fail",
                0.3,
                failures=2,
                message="Got 2 results",
                relation='"db"."dbt_test__audit"."assert_bookings_total"',
            ),
        ],
    )
    with caplog.at_level(logging.INFO, logger="salesdw.orchestrate.dbt_results"):
        summary = record_dbt_results(fresh_db, "2026-01-02", target, run_id="r1")
    assert summary == {
        "nodes": 3,
        "statuses": {"success": 1, "pass": 1, "fail": 1},
        # what the DAG's build task fails with: the test, what dbt saw, where its rows are
        "failed_tests": [
            'assert_bookings_total: Got 2 results; rows: select * from "db"."dbt_test__audit"."assert_bookings_total"'
        ],
    }
    assert "fail    test.salesdw.assert_bookings_total.def: Got 2 results" in caplog.text
    # a retried build of the same run records each node once, its latest result; the night's other
    # build (the models reading the Python fits, after them) adds its own nodes to the run
    retried = [
        _node("model.salesdw.fct_bookings", "success", 1.0, rows=1300),
        _node("test.salesdw.unique_fct_bookings_booking_id.abc", "pass", 0.1, failures=0),
        _node("test.salesdw.assert_bookings_total.def", "pass", 0.2, failures=0),
    ]
    record_dbt_results(fresh_db, "2026-01-02", _run_results(tmp_path, retried), run_id="r1")
    after_fits = _run_results(tmp_path, [_node("model.salesdw.clv_backtest", "success", 0.2, rows=4)])
    record_dbt_results(fresh_db, "2026-01-02", after_fits, run_id="r1")
    record_dbt_results(fresh_db, "2026-01-03", after_fits, run_id="r2")
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute(
            "select run_id, data_interval::text, unique_id, status, rows_affected from audit.dbt_results order by 1, 3"
        ).fetchall()
    assert rows == [
        ("r1", "2026-01-02", "model.salesdw.clv_backtest", "success", 4),
        ("r1", "2026-01-02", "model.salesdw.fct_bookings", "success", 1300),
        ("r1", "2026-01-02", "test.salesdw.assert_bookings_total.def", "pass", None),
        ("r1", "2026-01-02", "test.salesdw.unique_fct_bookings_booking_id.abc", "pass", None),
        ("r2", "2026-01-03", "model.salesdw.clv_backtest", "success", 4),
    ]
