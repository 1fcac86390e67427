"""The feeds gate: each feed's contract on the day's batch, and `generate --break` stopping it."""

import json
import re
from datetime import date

import pytest
from salesdw import config
from salesdw.load.references import check_references
from salesdw.load.source import load_source
from salesdw.quality.feeds import QualityGateError, validate_feeds
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
    import psycopg

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
