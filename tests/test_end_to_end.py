"""sales_nightly through real Airflow (`salesdw run` -> `airflow dags test`), checked against the feeds.

The DAG extracts the CRM and service desk from the simulated REST APIs (`salesdw run` serves them)
and the ERP's exports from the drop folder. The expected numbers are computed here, independently,
from the landed feed files: if the loader, staging, or a mart computed them differently, this test
fails.
"""

import csv
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest
from salesdw import config, paths
from salesdw.manifest import marts, nodes
from salesdw.orchestrate.airflow_env import sqlalchemy_url
from salesdw_dev.generate import generate

START, DAYS = date(2026, 1, 1), 2
DAY_DIRS = ["2026-01-01", "2026-01-02"]
pytestmark = pytest.mark.e2e


def _records(source, entity):
    """Every record of an entity across the day feeds, in feed order."""
    for day in DAY_DIRS:
        path = paths.LANDING_DIR / source / day / f"{entity}.{'csv' if source == 'finance' else 'jsonl'}"
        if source == "finance":
            with path.open(newline="") as f:
                yield from csv.DictReader(f)
        else:
            yield from (json.loads(line, parse_float=Decimal) for line in path.read_text().splitlines())


def _latest(source, entity, key, cursor):
    latest = {}
    for row in _records(source, entity):
        if row[key] not in latest or row[cursor] >= latest[row[key]][cursor]:
            latest[row[key]] = row
    return latest


def _deleted(source, entity, key):
    """Keys the API listed as deleted in the source over the day feeds."""
    deleted = set()
    for day in DAY_DIRS:
        path = paths.LANDING_DIR / source / day / f"{entity}.deleted.jsonl"
        deleted |= {json.loads(line)[key] for line in path.read_text().splitlines()} if path.exists() else set()
    return deleted


def _in_cny():
    """Converts (amount, currency, date) to CNY at the rate published on or last before that date, to the cent."""
    rates = defaultdict(dict)
    for r in _latest("finance", "fx_rates", "fx_rate_id", "updated_at").values():
        rates[r["currency"]][r["rate_date"]] = Decimal(r["rate_to_cny"])

    def convert(amount, currency, day: str) -> Decimal:
        amount = Decimal(str(amount))
        if currency.upper() == "CNY":
            return amount
        published = [d for d in rates[currency.upper()] if d <= day]
        rate = rates[currency.upper()][max(published)]
        return (amount * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)

    return convert


def _salesdw(args, env, *, ok=True):
    proc = subprocess.run(
        [sys.executable, "-m", "salesdw.cli", *args], env=env, capture_output=True, text=True, timeout=1500
    )
    if not ok:
        return proc
    assert proc.returncode == 0, f"salesdw {' '.join(args)} failed:\n{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def _marts_snapshot(conn, *, whole=False):
    """Every published mart's rows, fingerprinted; the facts' _loaded_at (when the row's inputs were
    loaded, which a rerun renews) left out unless `whole`: the business content must not move."""
    row = "t::text" if whole else "(to_jsonb(t) - '_loaded_at')::text"
    return {
        mart: conn.execute(
            f"select md5(string_agg({row}, '|' order by {row})), count(*) from marts.{mart} t"
        ).fetchone()
        for mart in marts()
    }


@pytest.fixture(scope="module")
def nightly(warehouse, dbt_manifest):
    warehouse.ensure_database("e2e")
    warehouse.ensure_database("e2e_airflow")
    url = warehouse.url("e2e")
    counts = generate(start=START, days=DAYS, scale=0.05, seed=11, locale="zh_CN")  # GBK exports, 华东..
    env = dict(
        os.environ, WAREHOUSE_URL=url, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlalchemy_url(warehouse.url("e2e_airflow"))
    )
    out = _salesdw(["run", "--start", "2026-01-01", "--end", "2026-01-02"], env)
    assert out.count(": ok in") == 2, out
    return url, counts, env


def test_every_row_landed_and_batches_reconcile(nightly):
    url, counts, _ = nightly
    # the API extraction and the drop-folder pickup delivered exactly what the sources hold
    for entity in config.entities():
        landed = sum(1 for _ in _records(entity.source, entity.name))
        assert landed == counts[entity.raw_table], entity.raw_table
    with psycopg.connect(url) as conn:
        for entity in config.entities():
            assert (
                conn.execute(f"select count(*) from raw.{entity.raw_table}").fetchone()[0] == counts[entity.raw_table]
            )
        n, reconciled = conn.execute(
            "select count(*), count(*) filter (where rows_read = rows_loaded + rows_rejected)"
            " from audit.load_batches where status = 'loaded'"
        ).fetchone()
    # one batch per entity and day, plus one per API entity and day for its deleted-records listing
    api_entities = [e for e in config.entities() if e.delivery == "api"]
    assert n == reconciled == (len(config.entities()) + len(api_entities)) * DAYS


def test_known_row_counts(nightly):
    url, _, _ = nightly
    gone = _deleted("crm", "accounts", "account_id")
    accounts = {k: a for k, a in _latest("crm", "accounts", "account_id", "updated_at").items() if k not in gone}
    with psycopg.connect(url) as conn:
        clv = conn.execute("select count(*) from marts.customer_lifetime_value").fetchone()[0]
        attainment = conn.execute("select count(*) from marts.target_attainment where target_amount > 0").fetchone()[0]
    # scale 0.05, seed 11: 209 accounts exist by 2026-01-02; 4 reps x 3 product lines x 13 months
    # of targets (Jan 2025 .. Jan 2026); other rows hold cash or pipeline without a target
    assert clv == len(accounts) == 209
    assert attainment == 4 * 3 * 13
    with psycopg.connect(url) as conn:
        regions = {
            r for (r,) in conn.execute("select distinct region from marts.target_attainment where region <> 'unknown'")
        }
        encodings = {e for (e,) in conn.execute("select distinct encoding from audit.extracted_files")}
    assert regions == {"华东", "华南", "华北", "西南"}  # Chinese text survived the API and dbt
    # payments came as workbooks; the GBK invoice exports hold only ASCII (ids, dates, amounts), so
    # they read as UTF-8 too (tests/test_extract_files.py transcodes GBK text)
    assert "xlsx" in encodings and encodings <= {"gb18030", "utf-8", "xlsx"}


def test_bookings_match_the_crm_to_the_cent(nightly):
    url, _, _ = nightly
    in_cny = _in_cny()
    expected = defaultdict(Decimal)
    for opp in _latest("crm", "opportunities", "opportunity_id", "updated_at").values():
        if opp["stage"] == "closed_won":  # in CNY at the rate of the close date, as the reporting currency
            amount = in_cny(opp["amount"], opp["currency"], opp["closed_at"][:10])
            expected[(opp["owner_rep_id"], opp["product_line"], opp["closed_at"][:7])] += amount
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select rep_id, product_line, to_char(month, 'YYYY-MM'), sum(bookings_amount) from marts.target_attainment"
            " group by 1, 2, 3 having sum(bookings_amount) <> 0"
        ).fetchall()
        clv_total = conn.execute("select sum(bookings_amount) from marts.customer_lifetime_value").fetchone()[0]
    assert {(r, p, m): amount for r, p, m, amount in rows} == dict(expected)
    assert clv_total == sum(expected.values())


def test_attainment_is_bookings_over_target(nightly):
    url, _, _ = nightly
    targets = {
        (t["rep_id"], t["product_line"], t["target_month"][:7]): Decimal(t["amount"])  # landed as its decimal text
        for t in _latest("crm", "targets", "target_id", "updated_at").values()
    }
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select rep_id, product_line, to_char(month, 'YYYY-MM'), target_amount, bookings_amount, attainment_rate"
            " from marts.target_attainment where target_amount > 0"
        ).fetchall()
    assert len(rows) == len(targets)
    for rep, line, month, target, bookings, rate in rows:
        assert target == targets[(rep, line, month)]
        assert rate == (bookings / target).quantize(Decimal("0.0001"))


def test_cash_collected_and_funnel_entries_match_the_feeds(nightly):
    url, _, _ = nightly
    in_cny = _in_cny()
    cash = sum(
        in_cny(p["amount"], p["currency"], p["paid_on"])
        for p in _latest("finance", "payments", "payment_id", "updated_at").values()
    )
    gone_entries = _deleted("crm", "opportunity_stage_history", "history_id")
    gone_opportunities = _deleted("crm", "opportunities", "opportunity_id")
    entered = Counter()
    for h in _latest("crm", "opportunity_stage_history", "history_id", "entered_at").values():
        if h["stage"] == "needs_analysis" and not (
            {h["history_id"]} & gone_entries or {h["opportunity_id"]} & gone_opportunities
        ):
            entered[h["entered_at"][:7]] += 1
    with psycopg.connect(url) as conn:
        collected = conn.execute("select sum(cash_collected) from marts.customer_lifetime_value").fetchone()[0]
        funnel = dict(
            conn.execute(
                "select to_char(entered_month, 'YYYY-MM'), sum(entered_count) from marts.sales_funnel"
                " where stage = 'needs_analysis' group by 1"
            ).fetchall()
        )
    assert collected == cash
    assert funnel == dict(entered)


def test_quality_results_and_publications_recorded(nightly):
    url, _, _ = nightly
    with psycopg.connect(url) as conn:
        per_day = conn.execute(
            "select data_interval::text, count(*) filter (where suite like 'raw.%'),"
            " bool_and(success or severity <> 'critical') from audit.dq_results group by 1 order by 1"
        ).fetchall()
        suites = {s for (s,) in conn.execute("select distinct suite from audit.dq_results")}
        # each publication records the tests of its run's build by status, as audit.dbt_results has them
        published = conn.execute(
            "select p.data_interval::text, p.validation->'dbt_tests' = (select jsonb_object_agg(status, n) from"
            " (select status, count(*) as n from audit.dbt_results r where r.run_id = p.run_id"
            " and r.resource_type = 'test' group by 1) t) from audit.publications p order by 1"
        ).fetchall()
        tests_passed = conn.execute(
            "select data_interval::text, unique_id from audit.dbt_results"
            " where resource_type = 'test' and status in ('pass', 'warn')"
        ).fetchall()
        # the one dbt build task recorded each node it ran, every day (an exposure's status is no-op)
        built = conn.execute(
            "select data_interval::text, count(*) filter (where resource_type = 'model'),"
            " count(*) filter (where resource_type = 'test'), bool_and(status in ('success', 'pass', 'warn', 'no-op'))"
            " from audit.dbt_results group by 1 order by 1"
        ).fetchall()
        marts_built = {
            u.rsplit(".", 1)[1]
            for (u,) in conn.execute("select unique_id from audit.dbt_results where resource_type = 'model'")
        }
    assert [d for d, *_ in built] == DAY_DIRS and all(
        models >= 50 and tests >= 250 and ok for _, models, tests, ok in built
    )
    assert set(marts()) <= marts_built
    # the feeds gate ran every day over every feed, and no critical check failed
    assert [d for d, *_ in per_day] == DAY_DIRS and all(feeds >= 100 and ok for _, feeds, ok in per_day)
    assert {f"raw.{e.raw_table}" for e in config.entities()} <= suites
    assert not any(s.startswith("marts.") for s in suites)  # the marts' gate is their dbt tests now
    # every published mart has tests, and each of them passed (or only warned) in every day's build
    mart_names = set(marts())
    marts_tests = {
        t["unique_id"]: t["attached_node"].rsplit(".", 1)[1]
        for t in nodes("test").values()
        if (t.get("attached_node") or "").rsplit(".", 1)[-1] in mart_names
    }
    assert set(marts_tests.values()) == mart_names
    for day in DAY_DIRS:
        assert set(marts_tests) <= {u for d, u in tests_passed if d == day}, day
    assert published == [(d, True) for d in DAY_DIRS]
    assert (paths.DATA_DOCS_DIR / "index.html").is_file()


def test_rerunning_a_date_changes_nothing(nightly):
    url, counts, env = nightly
    with psycopg.connect(url) as conn:
        before = _marts_snapshot(conn)
    _salesdw(["run", "--date", "2026-01-02"], env)
    # the third night builds into the first night's schema again, and finds dbt's parse of it valid
    # (orchestrate/dbt_tasks.py): no dbt task of it parses the whole project
    log = (paths.STATE_DIR / "logs" / "sales_nightly-2026-01-02-latest.log").read_text()
    assert log.count("Running with dbt=") == 2 and "Unable to do partial parsing" not in log
    with psycopg.connect(url) as conn:
        after = _marts_snapshot(conn)
        for entity in config.entities():
            assert (
                conn.execute(f"select count(*) from raw.{entity.raw_table}").fetchone()[0] == counts[entity.raw_table]
            )
    assert after == before


def test_a_backfill_builds_once_and_publishes_what_the_day_by_day_run_did(nightly, warehouse):
    """`salesdw run --backfill`: each day landed, the DAG once for the last day (one dbt build, one
    publication), the same marts as running the days one by one."""
    url, _, env = nightly
    warehouse.ensure_database("e2e_backfill")
    warehouse.ensure_database("e2e_backfill_airflow")
    other = warehouse.url("e2e_backfill")
    backfill_env = dict(
        env,
        WAREHOUSE_URL=other,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlalchemy_url(warehouse.url("e2e_backfill_airflow")),
    )
    out = _salesdw(["run", "--start", "2026-01-01", "--end", "2026-01-02", "--backfill"], backfill_env)
    assert "backfill 2026-01-01: landed" in out and out.count(": ok in") == 1, out
    with psycopg.connect(url) as conn:
        day_by_day = _marts_snapshot(conn)
    with psycopg.connect(other) as conn:
        assert _marts_snapshot(conn) == day_by_day
        assert conn.execute("select count(*) from audit.publications").fetchone() == (1,)
        days = conn.execute("select count(distinct batch_date) from audit.load_batches where status = 'loaded'")
        assert days.fetchone() == (2,)


def test_summary_reports_the_marts(nightly):
    _, _, env = nightly
    out = _salesdw(["summary"], env)
    assert "marts.customer_lifetime_value" in out and "209 rows" in out
    assert "0 unreconciled" in out and "rejected rows (raw._rejected): none" in out
    for headline in ("bookings (CNY, all time)", "attainment, last 12 months", "NPS, all surveys", "collection rate"):
        assert headline in out
    assert "n/a" not in out.split("load batches")[0]  # every headline has a value


def test_an_excel_export_holds_the_marts_figures(nightly, tmp_path):
    """`salesdw export --xlsx`: a sheet per mart, as the BI login reads it, figures equal to the marts."""
    from openpyxl import load_workbook

    url, _, env = nightly
    book = tmp_path / "marts.xlsx"
    out = _salesdw(["export", "--xlsx", str(book)], env)
    assert f"{len(marts())} marts" in out
    workbook = load_workbook(book)
    about = {row[0]: row[1] for row in workbook["About"].iter_rows(min_row=4, values_only=True)}
    columns_of = (
        "select a.attname, format_type(a.atttypid, a.atttypmod), col_description(a.attrelid, a.attnum)"
        " from pg_attribute a where a.attrelid = %s::regclass and a.attnum > 0 order by a.attnum"
    )
    with psycopg.connect(url) as conn:
        for mart in marts():
            sheet, rows = workbook[mart[:31]], conn.execute(f"select count(*) from marts.{mart}").fetchone()[0]
            assert sheet.freeze_panes == "A2" and about[mart] == rows, mart
            values = list(sheet.iter_rows(min_row=2, values_only=True))
            assert len(values) == rows, mart
            for j, (column, kind, comment) in enumerate(conn.execute(columns_of, [f"marts.{mart}"]).fetchall()):
                header = sheet.cell(1, j + 1)
                assert header.comment.text == f"{column}: {comment or ''}".strip(), (mart, column)
                if kind.startswith("numeric"):  # numbers as numbers, every digit kept
                    total = conn.execute(f"select coalesce(sum({column}), 0) from marts.{mart}").fetchone()[0]
                    cells = [v[j] for v in values if v[j] is not None]
                    assert all(isinstance(v, int | float) for v in cells), (mart, column)
                    assert sum(Decimal(str(v)) for v in cells) == total, (mart, column)
                elif kind == "date":  # dates as dates
                    low, high = conn.execute(f"select min({column}), max({column}) from marts.{mart}").fetchone()
                    cells = [v[j].date() for v in values if v[j] is not None]
                    assert (min(cells, default=None), max(cells, default=None)) == (low, high), (mart, column)
    # the columns' dbt meta formats them: reporting currency with its code, source currency, rates
    attainment, bookings = workbook["target_attainment"], workbook["fct_bookings"]
    headers = {cell.comment.text.split(":")[0]: cell.column for cell in attainment[1]}
    assert attainment.cell(2, headers["target_amount"]).number_format == '#,##0.00 "CNY"'
    assert attainment.cell(2, headers["attainment_rate"]).number_format == "0.0%"
    assert attainment.cell(1, headers["target_amount"]).value == "Sum of the targets of the rows in the period"
    headers = {cell.comment.text.split(":")[0]: cell.column for cell in bookings[1]}
    assert bookings.cell(2, headers["booking_amount"]).number_format == "#,##0.00"
    # person data as BI reads it: masked
    reps = workbook["dim_sales_rep"]
    name = next(cell.column for cell in reps[1] if cell.comment.text.startswith("rep_name:"))
    assert all(str(row[name - 1]).startswith("person-") for row in reps.iter_rows(min_row=2, values_only=True))
    refused = _salesdw(["export", "--xlsx", str(tmp_path / "x.xlsx"), "--mart", "nope"], env, ok=False)
    assert refused.returncode == 1 and "no published mart 'nope' in schema marts" in refused.stderr


def test_a_corrected_delivery_replaces_the_day_and_one_more_day_extends_the_world(nightly, tmp_path):
    """The ERP sends a partial export for a day and the night publishes it; the full one is re-sent,
    then `salesdw generate` adds the next day of the same world and the next night publishes both."""
    url, _, env = nightly
    day2 = paths.LANDING_DIR / "finance" / "2026-01-02" / "invoices.csv"
    full = tmp_path / "invoices_20260102_full.csv"
    full.write_bytes(day2.read_bytes())
    with full.open(newline="") as f:
        rows = list(csv.DictReader(f))
    published = _fct_invoices(url)
    assert rows and {r["invoice_id"] for r in rows} <= published
    partial = tmp_path / "invoices_20260102_partial.csv"
    partial.write_text(",".join(rows[0]) + "\n", encoding="utf-8")  # the export cut off after its header

    def land(path):
        out = _salesdw(["land", "finance", "invoices", "--date", "2026-01-02", "--file", str(path), "--json"], env)
        return json.loads(out)

    cut = land(partial)
    assert (cut["status"], cut["rows_read"], cut["delivery"]) == ("loaded", 0, 2)
    _salesdw(["run", "--date", "2026-01-02"], env)
    new_on_day2 = {r["invoice_id"] for r in rows} - _day1_invoices()
    assert new_on_day2 and _fct_invoices(url) == published - new_on_day2
    again = land(full)  # the full export again: it differs from what is loaded now, so it replaces it
    assert (again["status"], again["rows_loaded"], again["delivery"]) == ("loaded", len(rows), 3)
    assert again["note"] == "delivery 3 for 2026-01-02, replacing delivery 2"
    assert land(full)["status"] == "unchanged"  # the same bytes once more: nothing to do
    with psycopg.connect(url) as conn:
        log = conn.execute(
            "select delivery, outcome from audit.extracted_files where entity = 'invoices'"
            " and batch_date = '2026-01-02' order by 1"
        ).fetchall()
    assert log == [(1, "superseded"), (2, "superseded"), (3, "loaded"), (4, "unchanged")]

    # the next day, generated as a user would: the fixture's world, one day on; its night publishes
    # it, and the marts follow the corrected day before it (its batch was loaded after the last build)
    generate(start=date(2026, 1, 3), days=1, scale=0.05, seed=11, locale="zh_CN")
    out = _salesdw(["run", "--date", "2026-01-03"], env)
    assert "sales_nightly 2026-01-03: ok" in out
    with (paths.LANDING_DIR / "finance" / "2026-01-03" / "invoices.csv").open(newline="") as f:
        day3 = {r["invoice_id"] for r in csv.DictReader(f)}
    assert _fct_invoices(url) == published | day3
    with psycopg.connect(url) as conn:
        publications = conn.execute("select data_interval::text from audit.publications order by 1").fetchall()
        batches = conn.execute(
            "select count(*) from audit.load_batches where batch_date = '2026-01-03' and status = 'loaded'"
        ).fetchone()[0]
    assert ("2026-01-03",) in publications
    api_entities = [e for e in config.entities() if e.delivery == "api"]
    assert batches == len(config.entities()) + len(api_entities)


def _fct_invoices(url):
    with psycopg.connect(url) as conn:
        return {i for (i,) in conn.execute("select invoice_id from marts.fct_invoices")}


def _day1_invoices():
    with (paths.LANDING_DIR / "finance" / "2026-01-01" / "invoices.csv").open(newline="") as f:
        return {r["invoice_id"] for r in csv.DictReader(f)}


def test_a_broken_day_stops_at_the_gate_and_leaves_marts_untouched(nightly):
    """Last in this module: it lands a fourth, broken day (`generate --break`) in the warehouse."""
    url, _, env = nightly
    with psycopg.connect(url) as conn:
        before = _marts_snapshot(conn, whole=True)
        published = conn.execute("select count(*) from audit.publications").fetchone()[0]
    generate(start=date(2026, 1, 4), days=1, scale=0.05, seed=11, locale="zh_CN", break_kind="negative_payment")
    proc = _salesdw(["run", "--date", "2026-01-04"], env, ok=False)
    assert proc.returncode != 0, proc.stdout[-4000:]
    assert "sales_nightly 2026-01-04: FAILED" in proc.stdout
    assert "raw.finance__payments__20260104" in proc.stdout  # the gate's message names the batch
    assert "rejected_share" in proc.stdout and "threshold" in proc.stdout  # and says by how much
    with psycopg.connect(url) as conn:
        after = _marts_snapshot(conn, whole=True)  # byte for byte, _loaded_at included
        failed = conn.execute(
            "select suite from audit.dq_results where data_interval = '2026-01-04'"
            " and severity = 'critical' and not success"
        ).fetchall()
        republished = conn.execute("select count(*) from audit.publications").fetchone()[0]
        mart_results = conn.execute(
            "select count(*) from audit.dq_results where data_interval = '2026-01-04' and suite like 'marts.%'"
        ).fetchone()[0]
    assert after == before
    assert ("raw.finance__payments",) in failed
    assert republished == published and mart_results == 0  # stopped before dbt, nothing published
