"""The feeds gate: each feed's contract on the day's batch, and `generate --break` stopping it."""

import json
import re
from datetime import UTC, date, datetime, time, timedelta

import psycopg
import pytest
from salesdw import config
from salesdw.load.batch import after_load, partition_name
from salesdw.load.references import check_references
from salesdw.load.source import load_source
from salesdw.quality.checkpoint import Suite, run_suites
from salesdw.quality.feeds import QualityGateError, validate_feeds
from salesdw.quality.suites import feed_suite
from salesdw.warehouse import connect
from salesdw_dev.generate import generate
from salesdw_dev.generate.breaks import BREAKS

D1, D2 = date(2026, 1, 1), date(2026, 1, 2)


def _land(tmp_path, url, scale=0.05, **kwargs):
    generate(start=D1, days=2, scale=scale, seed=5, data_dir=tmp_path, landing_files=True, **kwargs)
    for day in (D1, D2):
        for source in config.sources():
            load_source(source, day, url=url, landing=tmp_path / "landing")
        check_references(url, day)


def _results(url, run_id):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select suite, expectation, severity, success from audit.dq_results where run_id = %s", [run_id]
        ).fetchall()


def test_clean_feeds_pass_and_every_feed_is_checked(tmp_path, fresh_db):
    # A trickle of bad rows is quarantined, not a stop: 0.2% spoiled, at the demo's scale. (At tiny
    # scales a day's two-row export with one line spoiled is 50% rejected, and rightly stops the night.)
    _land(tmp_path, fresh_db, scale=0.2, dirty=0.002)
    summary = validate_feeds(fresh_db, D2, run_id="clean", data_docs_dir=tmp_path / "docs")
    assert summary["failed_critical"] == 0
    suites = {suite for suite, *_ in _results(fresh_db, "clean")}
    assert suites == {f"raw.{e.raw_table}" for e in config.entities()}
    kinds = {expectation for _, expectation, _, _ in _results(fresh_db, "clean")}
    assert {
        "expect_table_columns_to_match_set",
        "expect_column_values_to_be_unique",
        "unexpected_rows_expectation",
    } <= kinds


@pytest.mark.parametrize("kind", sorted(BREAKS))
def test_a_break_stops_the_run_at_the_feeds_gate(kind, tmp_path, fresh_db):
    _land(tmp_path, fresh_db, break_kind=kind)
    planted = json.loads((tmp_path / "planted.json").read_text())["break"]
    assert planted["kind"] == kind and planted["day"] == "2026-01-02" and planted["records"] > 0
    validate_feeds(fresh_db, D1, run_id="day1", data_docs_dir=tmp_path / "docs")  # the day before is fine
    with pytest.raises(QualityGateError) as err:
        validate_feeds(fresh_db, D2, run_id="day2", data_docs_dir=tmp_path / "docs")
    source, entity = BREAKS[kind]
    message = str(err.value)
    assert f"raw.{source}__{entity}__20260102" in message and "rejected or quarantined" in message
    # the share and the threshold, in words, not a bare count of offending rows
    assert re.search(r"1 row\(s\) break it: rejected_share \d+\.\d%, threshold 5\.0%, rows_read \d+", message), message
    assert f"select * from raw._rejected where source = '{source}' and entity = '{entity}'" in message
    failed = {(s, sev) for s, _, sev, ok in _results(fresh_db, "day2") if not ok}
    assert (f"raw.{source}__{entity}", "critical") in failed


def test_one_entitys_gate_and_the_whole_nights_take_turns(tmp_path, fresh_db):
    """`salesdw land` checks one feed, the night every feed, in the same Great Expectations project."""
    _land(tmp_path, fresh_db)
    docs = tmp_path / "docs"
    validate_feeds(fresh_db, D2, run_id="night", data_docs_dir=docs)
    one = validate_feeds(
        fresh_db, D2, run_id="land", data_docs_dir=docs, entities=[config.entity("finance", "invoices")]
    )
    again = validate_feeds(fresh_db, D2, run_id="night-again", data_docs_dir=docs)
    suites = {run: {s for s, *_ in _results(fresh_db, run)} for run in ("land", "night-again")}
    assert suites["land"] == {"raw.finance__invoices"} and one["failed_critical"] == 0
    assert (
        suites["night-again"] == {f"raw.{e.raw_table}" for e in config.entities()}
        and again["evaluated"] > one["evaluated"]
    )


def _newest_by_cursor(url) -> dict:
    """Each cursor entity's newest record over its whole raw table, computed here from the rows."""
    with psycopg.connect(url) as conn:
        return {
            e: conn.execute(f"select max(cast({e.cursor} as timestamptz)) from raw.{e.raw_table}").fetchone()[0]
            for e in config.entities()
            if e.cursor
        }


def test_a_feeds_freshness_is_judged_from_the_newest_record_of_all_its_batches(tmp_path, fresh_db):
    """The loader notes each batch's newest cursor; the gate's freshness check reads those notes, so it
    costs the same on the thousandth night as on the second, and still sees every batch's records."""
    _land(tmp_path, fresh_db)
    newest = _newest_by_cursor(fresh_db)
    noted = "select max(newest_cursor) from audit.load_batches where status = 'loaded' and source = %s and entity = %s"
    with psycopg.connect(fresh_db) as conn:
        for entity, expected in newest.items():
            assert conn.execute(noted, [entity.source, entity.name]).fetchone()[0] == expected, entity.name
        # batches an earlier salesdw loaded have no note: the next load of the table reads theirs once
        conn.execute("update audit.load_batches set newest_cursor = null")
    with connect(fresh_db) as conn:
        for entity in newest:
            after_load(conn, entity)
    with psycopg.connect(fresh_db) as conn:
        for entity, expected in newest.items():
            assert conn.execute(noted, [entity.source, entity.name]).fetchone()[0] == expected, entity.name

    # on the day: a feed passes when its newest record of any batch is within freshness_warn_days
    validate_feeds(fresh_db, D2, run_id="fresh", data_docs_dir=tmp_path / "docs")
    with psycopg.connect(fresh_db) as conn:
        checked = conn.execute(
            "select suite, success, observed from audit.dq_results where run_id = 'fresh' and kwargs::text like %s",
            ["%newest_cursor%"],
        ).fetchall()
    since = datetime.combine(D2 + timedelta(days=1 - config.freshness_warn_days()), time(), tzinfo=UTC)
    assert {suite: ok for suite, ok, _ in checked} == {f"raw.{e.raw_table}": v >= since for e, v in newest.items()}
    assert any(ok for _, ok, _ in checked) and not all(ok for _, ok, _ in checked)  # both cases seen
    # ten days on with nothing newer, each feed with a cursor warns, naming its newest record of any batch
    later = D2 + timedelta(days=10)
    suites = [
        Suite("raw", partition_name(e, D2), feed_suite(e, later, None), label=f"raw.{e.raw_table}") for e in newest
    ]
    summary = run_suites(
        fresh_db, later.isoformat(), suites, gate="later", run_id="later", data_docs_dir=tmp_path / "d"
    )
    stale = {w.split(":")[0]: w for w in summary["warnings"] if "within" in w}
    assert summary["failed_critical"] == 0 and set(stale) == {f"raw.{e.raw_table}" for e in newest}
    for entity, value in newest.items():
        assert f"break it: newest {value}" in stale[f"raw.{entity.raw_table}"], stale[f"raw.{entity.raw_table}"]
