"""An incremental dbt run after new days of feeds gives the same marts as a full refresh.

Three days of feeds are loaded one at a time with an incremental `dbt build` after each; the
feeds are edited the way real ones misbehave: a rep moves team (day 2), a rep version is
backfilled with an updated_at months in the past (day 3, so bookings already in fct_bookings
change team) and a won deal is reopened (day 3, so it must drop out of fct_bookings); then day 2's
activities are delivered again, corrected, and a deletion is listed (_redeliver). Then every
relation in schemas staging (whose large entities are incremental tables too) and marts_build_a
(where dbt writes the marts) is fingerprinted, `dbt build --full-refresh` rebuilds them from the
same raw data, and every one must be identical. The incremental runs use no lookback window
(incremental_lookback_days 0): the days are loaded seconds apart, and a window would re-derive
every row and prove nothing.
"""

import json
from datetime import date, timedelta
from pathlib import Path

import psycopg
from psycopg import sql
from salesdw import config
from salesdw.load.batch import load_file
from salesdw.load.references import check_references
from salesdw.load.source import load_source
from salesdw.orchestrate.runner import dbt
from salesdw_dev.generate import generate

START = date(2026, 1, 1)
DAYS = 3
INCREMENTAL_FACTS = (
    "fct_opportunities",
    "fct_opportunity_stage_history",
    "fct_bookings",
    "fct_activities",
    "fct_invoices",
    "fct_payments",
    "fct_tickets",
)
INCREMENTAL_STAGING = (
    "stg_crm__activities",
    "stg_crm__leads",
    "stg_crm__opportunities",
    "stg_crm__opportunity_stage_history",
    "stg_crm__targets",
    "stg_after_sales__tickets",
    "stg_after_sales__surveys",
    "stg_after_sales__service_contracts",
    "stg_finance__invoices",
    "stg_finance__payments",
)


def _feed(landing: Path, source: str, day: date, entity: str) -> Path:
    return landing / source / day.isoformat() / f"{entity}.jsonl"


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _append(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def _plant_changes(landing: Path) -> dict[str, str]:
    """Edit the generated feeds of days 2 and 3; what was planted, for the assertions."""
    day1, day2, day3 = (START + timedelta(days=n) for n in range(3))
    reps = _records(_feed(landing, "crm", day1, "reps"))
    mover, backfilled = reps[0], reps[1]
    # day 2: a rep moves to another team and region
    _append(
        _feed(landing, "crm", day2, "reps"),
        {**mover, "team": "West Team 9", "region": "West", "updated_at": f"{day2}T08:00:00Z"},
    )
    # day 3: a version of another rep arrives late, effective three months ago
    _append(
        _feed(landing, "crm", day3, "reps"),
        {**backfilled, "team": "West Team 8", "region": "West", "updated_at": "2025-10-01T00:00:00Z"},
    )
    # day 3: a deal won last year is reopened in the CRM
    day3_opportunities = {r["opportunity_id"] for r in _records(_feed(landing, "crm", day3, "opportunities"))}
    won = next(
        r
        for r in _records(_feed(landing, "crm", day1, "opportunities"))
        if r["stage"] == "closed_won" and r["opportunity_id"] not in day3_opportunities
    )
    _append(
        _feed(landing, "crm", day3, "opportunities"),
        {**won, "stage": "negotiation", "closed_at": None, "updated_at": f"{day3}T09:00:00Z"},
    )
    return {"backfilled_rep": backfilled["rep_id"], "reopened": won["opportunity_id"]}


def _build(url: str, run_date: date, target: Path, *extra: str, lookback_days: int = 3) -> list[dict]:
    dbt_vars = f"{{run_date: '{run_date}', incremental_lookback_days: {lookback_days}}}"
    proc = dbt(
        ["build", *extra, "--vars", dbt_vars, "--target-path", str(target)],
        url,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    return json.loads((target / "run_results.json").read_text())["results"]


def _fingerprints(url: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of the ordered rows of every relation dbt built in schemas staging and
    marts_build_a, without _built_at (which build wrote a row: a full refresh writes all of them)."""
    with psycopg.connect(url) as conn:
        columns: dict[tuple[str, str], list[str]] = {}
        for schema, table, column in conn.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
            " where table_schema in ('staging', 'marts_build_a') and column_name <> '_built_at'"
            " order by table_schema, table_name, ordinal_position"
        ):
            columns.setdefault((schema, table), []).append(column)
        return {
            f"{schema}.{table}": conn.execute(
                sql.SQL(
                    "select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), ''))"
                    " from (select {} from {}) as t"
                ).format(sql.SQL(", ").join(map(sql.Identifier, names)), sql.Identifier(schema, table))
            ).fetchone()
            for (schema, table), names in columns.items()
        }


def _redeliver(url: str, landing: Path, tmp_path: Path) -> dict[str, str]:
    """After day 3: day 2's activities delivered again, corrected without an activity only day 2
    had (it must leave staging and the fact), and a deletions listing for day 3 naming an activity
    of day 1 (flagged in staging, out of the fact). Neither brings a new version of the record."""
    day1, day2, day3 = (START + timedelta(days=n) for n in range(3))
    activities = config.entity("crm", "activities")
    earlier = {r["activity_id"] for r in _records(_feed(landing, "crm", day1, "activities"))}
    later = {r["activity_id"] for r in _records(_feed(landing, "crm", day3, "activities"))}
    day2_records = _records(_feed(landing, "crm", day2, "activities"))
    dropped = next(r for r in day2_records if r["activity_id"] not in earlier | later)
    corrected = tmp_path / "activities_corrected.jsonl"
    corrected.write_text("".join(json.dumps(r) + "\n" for r in day2_records if r is not dropped))
    deleted = sorted(earlier)[0]
    listing = tmp_path / "activities__deleted.jsonl"
    listing.write_text(json.dumps({"activity_id": deleted, "deleted_at": f"{day3}T10:00:00Z"}) + "\n")
    with psycopg.connect(url) as conn:
        load_file(conn, activities, corrected, day2)
        load_file(conn, activities.deletions(), listing, day3)
    return {"dropped_activity": dropped["activity_id"], "deleted_activity": deleted}


def test_incremental_runs_match_full_refresh(set_up_db, tmp_path):
    generate(start=START, days=DAYS, scale=0.02, seed=9, data_dir=tmp_path, landing_files=True)
    landing = tmp_path / "landing"
    planted = _plant_changes(landing)
    target = tmp_path / "target"

    incremental_rows: dict[str, list[int]] = {}
    for n in range(DAYS):
        day = START + timedelta(days=n)
        for source in config.sources():
            load_source(source, day, url=set_up_db, landing=landing)
        check_references(set_up_db, day)
        # the loads of this test are seconds apart, so any lookback window would cover them all:
        # without one, the incremental runs depend on change detection alone
        results = _build(set_up_db, day, target, lookback_days=0)
        assert {r["status"] for r in results} <= {"success", "pass", "warn", "no-op"}, day
        if n:  # after the first build the facts run incrementally: only what changed is inserted
            for r in results:
                name = r["unique_id"].split(".")[-1]
                if r["unique_id"].startswith("model.") and name in INCREMENTAL_FACTS:
                    incremental_rows.setdefault(name, []).append(r["adapter_response"].get("rows_affected", -1))

    planted |= _redeliver(set_up_db, landing, tmp_path)
    staged = {
        r["unique_id"].split(".")[-1]: r["adapter_response"].get("rows_affected", -1)
        for r in _build(set_up_db, START + timedelta(days=DAYS - 1), target, lookback_days=0)
        if r["unique_id"].startswith("model.salesdw.stg_")
    }
    incremental = _fingerprints(set_up_db)
    with psycopg.connect(set_up_db) as conn:
        fact_rows = {
            fact: conn.execute(
                sql.SQL("select count(*) from marts_build_a.{}").format(sql.Identifier(fact))
            ).fetchone()[0]
            for fact in INCREMENTAL_FACTS
        }
        activities = {
            (schema, model): conn.execute(
                sql.SQL("select activity_id, {} from {} where activity_id in (%s, %s)").format(
                    sql.SQL("is_deleted" if schema == "staging" else "false"), sql.Identifier(schema, model)
                ),
                [planted["dropped_activity"], planted["deleted_activity"]],
            ).fetchall()
            for schema, model in (("staging", "stg_crm__activities"), ("marts_build_a", "fct_activities"))
        }
        # what the data tests of the redelivery's build read of staging's activities: its rows alone
        newest_build, marker = conn.execute(
            "select count(*), min(_built_at::text) from staging.stg_crm__activities"
            " where _built_at = (select max(_built_at) from staging.stg_crm__activities)"
        ).fetchone()
        compiled = target / "compiled" / "salesdw" / "models" / "staging" / "crm" / "_crm__models.yml"
        tested = [path.read_text() for path in compiled.glob("not_null_stg_crm__activities_*.sql")]
        reopened = conn.execute(
            "select count(*) from marts_build_a.fct_bookings where opportunity_id = %s", [planted["reopened"]]
        ).fetchone()[0]
        backfilled_team = conn.execute(
            "select count(*) from marts_build_a.fct_bookings b join marts_build_a.dim_sales_rep r using (sales_rep_key)"
            " where b.owner_rep_id = %s and r.team = 'West Team 8'",
            [planted["backfilled_rep"]],
        ).fetchone()[0]

    _build(set_up_db, START + timedelta(days=DAYS - 1), target, "--full-refresh")
    full_refresh = _fingerprints(set_up_db)

    assert {f"marts_build_a.{m}" for m in INCREMENTAL_FACTS} <= set(incremental)
    assert {f"marts_build_a.{m}" for m in ("fct_bookings", "dim_sales_rep", "target_attainment", "collections")} <= set(
        incremental
    )
    assert {"staging.stg_crm__activities", "staging.stg_crm__opportunities"} <= set(incremental)
    differing = {m: (incremental[m], full_refresh.get(m)) for m in incremental if incremental[m] != full_refresh.get(m)}
    assert not differing, f"incremental marts differ from a full refresh: {differing}"
    assert set(full_refresh) == set(incremental)

    # the incremental runs re-derived only a part of each large fact
    for fact in (
        "fct_opportunities",
        "fct_opportunity_stage_history",
        "fct_invoices",
        "fct_bookings",
        "fct_activities",
    ):
        assert incremental_rows.get(fact), (fact, incremental_rows)
        assert all(0 <= rows < fact_rows[fact] for rows in incremental_rows[fact]), (fact, incremental_rows, fact_rows)
    # and the planted changes came through: the reopened deal left the bookings, the
    # backfilled rep version moved bookings closed since 2025-10-01 to the rep's old team
    assert reopened == 0
    # the corrected delivery took its dropped activity out; the listed deletion stays flagged in
    # staging and leaves the fact
    assert activities[("staging", "stg_crm__activities")] == [(planted["deleted_activity"], True)]
    assert activities[("marts_build_a", "fct_activities")] == []
    # the redelivery re-derived a few keys of the incremental staging tables, not the tables
    assert 0 < staged["stg_crm__activities"] <= 5, staged
    assert all(staged[model] == 0 for model in INCREMENTAL_STAGING if model != "stg_crm__activities"), staged
    # ... and its tests read those rows, not the table (macros/latest_build.sql)
    assert newest_build == staged["stg_crm__activities"]
    assert tested and all(f"_built_at = cast('{marker}' as timestamptz)" in text for text in tested)
    assert backfilled_team > 0
