"""sales_nightly through real Airflow (`salesdw run` -> `airflow dags test`), checked against the feeds.

The DAG extracts the CRM and service desk from the simulated REST APIs (`salesdw run` serves them)
and the ERP's exports from the drop folder. The expected numbers are computed here, independently,
from the landed feed files: if the loader, staging, or a mart computed them differently, this test
fails.
"""

import csv
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from statistics import median

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
    # (orchestrate/dbt_tasks.py): none of its dbt tasks (freshness, the build, the build after the
    # fits) parses the whole project
    log = (paths.STATE_DIR / "logs" / "sales_nightly-2026-01-02-latest.log").read_text()
    assert log.count("Running with dbt=") == 3 and "Unable to do partial parsing" not in log
    with psycopg.connect(url) as conn:
        after = _marts_snapshot(conn)
        for entity in config.entities():
            assert (
                conn.execute(f"select count(*) from raw.{entity.raw_table}").fetchone()[0] == counts[entity.raw_table]
            )
    assert after == before


def test_a_backfill_builds_once_and_publishes_what_the_day_by_day_run_did(nightly, warehouse, tmp_path):
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
        SALESDW_DASHBOARD_DIR=str(tmp_path / "dashboard"),  # its own: the night's, of the other warehouse
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


def _mf(env, tmp_path, metrics: str, group_by: str) -> dict[tuple, dict]:
    """`salesdw mf query` as a BI user runs it: {group-by values: {metric: value}}, None for an empty cell."""
    out = tmp_path / f"{metrics}-{group_by}.csv".replace(",", "+")
    args = ["mf", "query", "--metrics", metrics, "--csv", str(out)] + (["--group-by", group_by] if group_by else [])
    _salesdw(args, env)
    keys = group_by.split(",") if group_by else []
    with out.open(newline="") as f:
        return {
            tuple(row[k] for k in keys): {m: Decimal(row[m]) if row[m] else None for m in metrics.split(",")}
            for row in csv.DictReader(f)
        }


def _same(metric: Decimal | None, mart: Decimal | None) -> bool:
    """A metric (MetricFlow divides in double precision) equal to the mart's figure at its scale."""
    if metric is None or mart is None:
        return metric is mart
    return abs(metric - mart) <= Decimal(1).scaleb(mart.as_tuple().exponent) / 2 + Decimal("1e-9")


def test_each_metric_through_metricflow_equals_the_marts(nightly, tmp_path):
    """The semantic layer (dbt_project/models/semantic/) through `salesdw mf`, as BI reads it: every
    metric the issue names, at its mart's grain, equal to the mart's own figure, row for row."""
    url, _, env = nightly
    listed = _salesdw(["mf", "list", "metrics"], env)
    for metric in (
        "bookings target_attainment pipeline_coverage stage_conversion win_rate signing_cycle_days"
        " collection_rate dso clv csat nps renewal_rate"
    ).split():
        assert f"• {metric}:" in listed, metric
    month = "metric_time__month"
    checks = [  # metrics, group by, the mart's figures by the same keys (month as MetricFlow prints it)
        (  # a rep who changes team mid-month has a row per team: compared by rep, from the mart's parts
            "target_attainment,pipeline_coverage",
            f"rep,product,{month}",
            (
                "select rep_id, product_line, month || ' 00:00:00',"
                " round(sum(bookings_amount) / nullif(sum(target_amount), 0), 4),"
                " round(sum(weighted_pipeline_amount) filter (where pipeline_coverage is not null)"
                " / nullif(sum(remaining_target) filter (where pipeline_coverage is not null), 0), 4)"
                " from marts.target_attainment group by 1, 2, 3"
            ),
        ),
        (  # and by team and region as of the month's start, where the mart has one row per rep and month
            "target_attainment",
            f"rep,rep__team,rep__region,product,{month}",
            (
                "select rep_id, team, region, product_line, month || ' 00:00:00', attainment_rate"
                " from marts.target_attainment t where (select count(*) from marts.target_attainment o"
                " where o.rep_id = t.rep_id and o.product_line = t.product_line and o.month = t.month) = 1"
            ),
        ),
        ("win_rate", f"rep,{month}", "select rep_id, month || ' 00:00:00', win_rate from marts.rep_scorecard"),
        (  # the funnel's ratio at a grain above its rows: from its counts, as the mart computes each row's
            "stage_conversion",
            f"rep,product,funnel_entry__stage,funnel_entry__lead_source,{month}",
            (
                "select rep_id, product_line, stage, lead_source, entered_month || ' 00:00:00',"
                " round(sum(advanced_count)::numeric / nullif(sum(entered_count), 0), 4) from marts.sales_funnel"
                " where next_stage is not null group by 1, 2, 3, 4, 5"
            ),
        ),
        (
            "collection_rate,dso",
            f"rep,customer,{month}",
            "select owner_rep_id, account_id, month || ' 00:00:00', collection_rate, dso from marts.collections",
        ),
        (
            "csat,nps,renewal_rate",
            f"customer,{month}",
            "select account_id, month || ' 00:00:00', csat_avg, nps, renewal_rate from marts.customer_service",
        ),
        ("clv", "customer", "select customer_id, predicted_margin from marts.customer_lifetime_value"),
        ("bookings", "", "select sum(booking_amount_reporting) from marts.fct_bookings"),
        (  # a shared dimension: bookings by the customer's tier
            "bookings",
            "customer__tier",
            (
                "select c.tier, sum(b.booking_amount_reporting) from marts.fct_bookings b"
                " join marts.customer_lifetime_value c on c.customer_id = b.account_id group by 1"
            ),
        ),
    ]
    with psycopg.connect(url) as conn:
        for metrics, group_by, query in checks:
            names, width = metrics.split(","), len(group_by.split(",")) if group_by else 0
            got = _mf(env, tmp_path, metrics, group_by)
            rows = conn.execute(query).fetchall()
            assert rows, query
            for row in rows:
                key = tuple("" if v is None else str(v) for v in row[:width])
                for name, mart in zip(names, row[width:], strict=True):
                    mart = None if mart is None else Decimal(str(mart))
                    metric = got.get(key, {}).get(name)  # no row: nothing to measure (a month without closes)
                    assert _same(metric, mart), (name, key, metric, mart)
            if "rep__team" not in group_by:  # MetricFlow gives no figure the mart does not (but open deals')
                known = {tuple("" if v is None else str(v) for v in r[:width]) for r in rows}
                extra = [k for k in set(got) - known if k[-1] != "" and any(v is not None for v in got[k].values())]
                assert not extra, (metrics, extra[:5])
        cycles = [days for (days,) in conn.execute("select signing_cycle_days from marts.fct_bookings")]
    assert _mf(env, tmp_path, "signing_cycle_days", "")[()]["signing_cycle_days"] == median(cycles)


def test_a_developer_builds_in_their_own_schemas_leaving_the_pipelines_alone(nightly):
    """The analyst's loop: `salesdw db dev NAME`, then `salesdw dbt --dev NAME build --select ...`
    builds from raw into dev_NAME_* as the developer's login; the pipeline's schemas and dbt
    artifacts stay as they were, and the model comes out as the night built it."""
    url, _, env = nightly
    pipeline = (
        "select n.nspname, c.relname, c.relfilenode from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname in ('staging', 'intermediate', 'marts_build_a', 'marts_build_b', 'marts') order by 1, 2"
    )
    with psycopg.connect(url) as conn:
        before = conn.execute(pipeline).fetchall()
    manifest = paths.DBT_MANIFEST.stat().st_mtime_ns
    _salesdw(["db", "dev", "ana"], env)
    _salesdw(["dbt", "--dev", "ana", "build", "--select", "+fct_targets"], env)
    with psycopg.connect(url) as conn:
        assert conn.execute(pipeline).fetchall() == before  # not a table added, rewritten or dropped
        built = conn.execute("select * from dev_ana_marts.fct_targets except all select * from marts.fct_targets")
        assert built.fetchall() == []
        counts = conn.execute(
            "select (select count(*) from dev_ana_marts.fct_targets), (select count(*) from marts.fct_targets)"
        )
        dev_rows, rows = counts.fetchone()
    assert dev_rows == rows > 0
    assert paths.DBT_MANIFEST.stat().st_mtime_ns == manifest  # the dev target's artifacts go to target/dev_ana


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


# a table's text columns hold no numbers
TEXT_COLUMNS = {
    chart: {column: (0, 0) for column in columns}
    for chart, columns in (
        ("overdue_accounts", ("Customer",)),
        ("top_customers", ("Customer", "Tier", "Industry")),
        ("scorecard", ("Rep", "Name", "Team")),
    )
}


def _dashboard_expected(conn, as_of: date) -> dict:
    """What each chart of the dashboard must hold, computed here over the marts, mostly from marts other
    than the one the chart reads (bookings from fct_bookings, attainment and pipeline coverage from
    target_attainment's rows, customer value from customer_lifetime_value): {chart: {trace or table
    column: (sum, count)}}. A Decimal sum is money, checked to the cent; a float sum a ratio, days or
    hours; an int sum a count."""
    # the 12 months ending with as_of's
    month, start = as_of.replace(day=1), date(as_of.year - (as_of.month < 12), as_of.month % 12 + 1, 1)
    window = {"start": start, "month": month, "as_of": as_of}

    def one(sql, params=window):
        return conn.execute(sql, params).fetchone()

    def rows(sql, params=window):
        return conn.execute(sql, params).fetchall()

    def ratios(values):  # the chart's numbers when they are ratios per row: their sum and count
        found = [float(value) for value in values if value is not None]
        return (sum(found), len(found))

    def money(values):
        found = [value for value in values if value is not None]
        return (sum(found, Decimal(0)), len(found))

    fiscal = "select min(date_day), max(date_day), min(fiscal_year) from marts.dim_date where fiscal_year ="
    fy_start, fy_end, fy = one(f"{fiscal} (select fiscal_year from marts.dim_date where date_day = %(as_of)s)")
    fq_start, fq_end, _ = one(
        f"{fiscal} (select fiscal_year from marts.dim_date where date_day = %(as_of)s) and fiscal_quarter ="
        " (select fiscal_quarter from marts.dim_date where date_day = %(as_of)s)"
    )
    fy_window = {"s": fy_start, "e": fy_end, "as_of": as_of}
    in_window = "between %(start)s and %(month)s"
    fy_sums = one(
        "select sum(bookings_amount), sum(target_amount), sum(weighted_pipeline_amount)"
        " from marts.target_attainment where month between %(s)s and %(e)s",
        fy_window,
    )
    # the run-rate over the fiscal year: each region's and product line's bookings to date, per day elapsed,
    # times the year's days (target_attainment_rollup rounds each row to the cent)
    fy_run_rate = one(
        "select sum(r) from (select round(sum(bookings_amount) / (%(as_of)s::date - %(s)s::date + 1)"
        " * (%(e)s::date - %(s)s::date + 1), 2) as r from marts.target_attainment"
        " where month between %(s)s and %(e)s group by region, product_line) t",
        fy_window,
    )[0]
    bookings = one(f"select sum(booking_amount_reporting) from marts.fct_bookings where booking_month {in_window}")[0]
    by_month = one(
        f"select sum(target_amount), count(distinct month), sum(bookings_run_rate_forecast) filter"
        f" (where month = %(month)s) from marts.target_attainment where month {in_window}"
    )
    attainment = rows(
        "select round(sum(bookings_amount) / nullif(sum(target_amount), 0), 4) from marts.target_attainment"
        f" where month {in_window} and product_line <> 'unknown' group by region, product_line, month"
    )
    gap = {
        name: one(
            "select sum(target_amount - bookings_amount), count(distinct region) from marts.target_attainment"
            " where month between %(s)s and %(e)s",
            {"s": s, "e": e},
        )
        for name, s, e in ((f"This month ({month:%Y-%m})", month, month), (f"FY{fy}", fy_start, fy_end))
    }
    coverage = defaultdict(list)
    for product_line, value in rows(
        "select product_line, round(sum(weighted_pipeline_amount)"
        " / nullif(greatest(sum(target_amount) - sum(bookings_amount), 0), 0), 4) from marts.target_attainment"
        " where month between %(s)s and %(e)s and product_line <> 'unknown' group by region, product_line",
        {"s": fq_start, "e": fq_end},
    ):
        coverage[product_line].append(value)
    funnel = rows(
        "select sum(entered_count), sum(advanced_count), sum(won_count), sum(lost_count), next_stage is not null"
        f" from marts.sales_funnel where stage_order is not null and entered_month {in_window} group by stage, 5"
    )
    durations = one(
        "select sum(median_days), count(median_days) from marts.sales_funnel_durations"
        f" where slice_name = 'all' and month {in_window}"
    )
    channels = one(
        "select sum(leads), sum(converted_leads), sum(customers_acquired), count(distinct channel)"
        f" from marts.channel_performance where month {in_window}"
    )
    collections = rows(
        "select sum(amount_due_in_month), sum(amount_due_collected), sum(cash_received_in_month),"
        " sum(not_yet_due), sum(overdue_0_30), sum(overdue_31_60), sum(overdue_61_90), sum(overdue_90_plus),"
        f" sum(outstanding_at_month_end), sum(invoiced_trailing_90_days) from marts.collections where month {in_window}"
        " group by month"
    )
    overdue = rows(
        "select sum(overdue_0_30 + overdue_31_60 + overdue_61_90 + overdue_90_plus) as o, sum(overdue_90_plus),"
        " sum(outstanding_at_month_end) from marts.collections where month = %(month)s group by account_id"
        " having sum(overdue_0_30 + overdue_31_60 + overdue_61_90 + overdue_90_plus) > 0"
        " order by o desc, account_id limit 10"
    )
    service = rows(
        "select sum(tickets_opened), sum(tickets_resolved), sum(contracts_ending), sum(contracts_renewed),"
        " sum(promoters), sum(passives), sum(detractors),"
        " sum(csat_total), sum(csat_answers)"
        f" from marts.customer_service where month {in_window} group by month"
    )
    tickets = defaultdict(lambda: ([], []))  # by priority: first-response hours, resolution hours
    for priority, first_response, resolution in rows(
        "select priority, first_response_hours, resolution_hours from marts.fct_tickets"
        " where opened_at >= %(start)s::timestamp at time zone 'UTC'"
        " and opened_at < (%(month)s::timestamp + interval '1 month') at time zone 'UTC'"
    ):
        tickets[priority][0].append(first_response)
        tickets[priority][1].append(resolution)
    medians = ([], [])  # each priority's median first response, median resolution (percentile_cont 0.5)
    for hours in tickets.values():
        for found, into in zip(hours, medians, strict=True):
            known = [h for h in found if h is not None]
            into.extend([float(median(known))] if known else [])
    basis, customers, net, predicted = one(
        "select min(value_basis), count(*), sum(net_margin), sum(predicted_margin) from marts.customer_lifetime_value"
    )
    figures = "predicted_margin, repeat_predicted_margin, bgnbd_predicted_margin, actual_margin"
    backtest = rows(f"select {figures} from marts.clv_backtest where not is_total")
    backtest_total = one(f"select {figures} from marts.clv_backtest where is_total")
    top = rows(
        "select net_margin, predicted_margin, order_count from marts.customer_lifetime_value"
        " order by predicted_margin desc nulls last, customer_id limit 15"
    )
    target = one(f"select sum(target_amount) from marts.target_attainment where month {in_window}")[0]
    closed = one(
        "select count(*) filter (where is_won), count(*) filter (where is_lost) from marts.fct_opportunities"
        f" where date_trunc('month', closed_date) {in_window}"
    )
    visits = one(
        f"select count(*) from marts.fct_activities where activity_type = 'visit' and occurred_month {in_window}"
    )[0]
    reps = rows(
        "select sum(bookings_amount) / nullif(sum(target_amount), 0), sum(won_count)::numeric"
        " / nullif(sum(won_count) + sum(lost_count), 0),"
        " sum(amount_due_collected) / nullif(sum(amount_due_in_month), 0),"
        " sum(new_customers), sum(csat_total)::numeric / nullif(sum(csat_answers), 0)"
        f" from marts.rep_scorecard where month {in_window} group by rep_id"
    )
    n_reps = len(reps)
    csat = [float(c / n) for *_, c, n in service if n]
    nps = [float(100 * (p - d) / (p + pa + d)) for *_, p, pa, d, _, _ in service if p + pa + d]
    net_label, predicted_label = f"Net {basis} to date", f"Predicted {basis}, next 12 months"
    return {
        "year_to_date": {
            "Bookings to date, against the year's target": (fy_sums[0], 1),
            "Target for the year": (fy_sums[1], 1),
            "Run-rate forecast, against the target": (fy_run_rate, 1),
            "Weighted open pipeline closing this year": (fy_sums[2], 1),
        },
        "attainment": {"Attainment": ratios(a for (a,) in attainment)},
        "bookings_by_month": {
            "Bookings": (bookings, by_month[1]),
            "Target": (by_month[0], by_month[1]),
            "Run-rate forecast": (by_month[2], 1),
        },
        "gap_by_region": gap,
        "pipeline_coverage": {line: ratios(values) for line, values in coverage.items()},
        "funnel": {"Entries": (sum(f[0] for f in funnel), len(funnel))},
        "stage_conversion": {
            "Reached the next stage": ratios(f[1] / f[0] for f in funnel if f[4] and f[0]),
            "Won, of those closed": ratios(f[2] / (f[2] + f[3]) for f in funnel if f[4] and f[2] + f[3]),
        },
        "stage_durations": {"*": (float(durations[0]), durations[1])},
        "channel_leads": {"Leads": (channels[0], channels[3]), "Converted": (channels[1], channels[3])},
        "channel_value": {"Bookings": (bookings, channels[3]), "Customers acquired": (channels[2], channels[3])},
        "collections": {
            "Due in the month": money([c[0] for c in collections]),
            "Of it, collected": money([c[1] for c in collections]),
            "Cash received": money([c[2] for c in collections]),
            "Collection rate": ratios(c[1] / c[0] for c in collections if c[0]),
        },
        "aging": {
            name: money([c[3 + i] for c in collections])
            for i, name in enumerate(("Not yet due", "1–30 days overdue", "31–60 days", "61–90 days", "Over 90 days"))
        },
        "dso": {"DSO": ratios(c[8] / c[9] * 90 for c in collections if c[9])},
        "overdue_accounts": {
            **TEXT_COLUMNS["overdue_accounts"],
            "Overdue (CNY)": money([o[0] for o in overdue]),
            "Of it over 90 days (CNY)": money([o[1] for o in overdue]),
            "Outstanding (CNY)": money([o[2] for o in overdue]),
        },
        "satisfaction": {"CSAT (1–5)": (sum(csat), len(csat)), "NPS (−100 to 100)": (sum(nps), len(nps))},
        "tickets": {
            "Opened": (sum(s[0] for s in service), len(service)),
            "Resolved": (sum(s[1] for s in service), len(service)),
        },
        "response_times": {
            "First response": ratios(medians[0]),
            "Resolution": ratios(medians[1]),
        },
        "renewals": {
            "Contracts ending": (sum(s[2] for s in service), len(service)),
            "Renewed": (sum(s[3] for s in service), len(service)),
            "Renewal rate": ratios(s[3] / s[2] for s in service if s[2]),
        },
        "tiers": {net_label: (net, None), predicted_label: (predicted, None), "Customers": (customers, None)},
        "by_industry": {net_label: (net, None), predicted_label: (predicted, None)},
        "by_channel": {net_label: (net, None), predicted_label: (predicted, None)},
        "clv_backtest": {
            name: (backtest_total[i] or Decimal(0), sum(b[i] is not None for b in backtest))
            for i, name in enumerate(
                (
                    "Predicted at the cutoff",
                    "Baseline: last 12 months repeated",
                    "Baseline: BG/NBD + Gamma-Gamma",
                    "Actual",
                )
            )
        },
        "top_customers": {
            **TEXT_COLUMNS["top_customers"],
            f"{net_label} (CNY)": money([t[0] for t in top]),
            f"{predicted_label} (CNY)": money([t[1] for t in top]),
            "Orders": (sum(t[2] for t in top), len(top)),
        },
        "scorecard": {
            **TEXT_COLUMNS["scorecard"],
            "Target (CNY)": (target, n_reps),
            "Bookings (CNY)": (bookings, n_reps),
            "Attainment": ratios(r[0] for r in reps),
            "Won": (closed[0], n_reps),
            "Lost": (closed[1], n_reps),
            "Win rate": ratios(r[1] for r in reps),
            "Visits": (visits, n_reps),
            "New customers": (sum(r[3] for r in reps), n_reps),
            "Collection rate": ratios(r[2] for r in reps),
            "CSAT (1–5)": ratios(r[4] for r in reps),
        },
        "scorecard_rates": {
            "Attainment": ratios(r[0] for r in reps),
            "Win rate": ratios(r[1] for r in reps),
            "Collection rate": ratios(r[2] for r in reps),
        },
    }


def _equal(drawn: dict | None, expected: tuple) -> bool:
    """A chart's number read back from the page against the marts': money to the cent, counts exactly."""
    total, count = expected
    drawn = drawn or {"sum": 0, "count": 0}
    if count is not None and drawn["count"] != count:
        return False
    if isinstance(total, Decimal):
        return Decimal(str(drawn["sum"])).quantize(Decimal("0.01")) == total
    if isinstance(total, int):
        return drawn["sum"] == total
    return drawn["sum"] == pytest.approx(total, rel=1e-9, abs=1e-9)


def test_the_dashboard_draws_the_marts_figures_in_a_browser(nightly, browser, warehouse, tmp_path):
    """`salesdw dashboard --out DIR`: every page opens from disk in headless chromium with no network,
    every chart is drawn (an SVG mark for each of its numbers), and the numbers plotly drew equal the
    marts' (to the cent for money). The night's own dashboard task wrote the same charts, cheaply."""
    from psycopg.rows import dict_row
    from salesdw.publish.dashboard import context
    from salesdw.publish.dashboard.pages import PAGES

    url, _, env = nightly
    out = tmp_path / "dashboard"
    said = _salesdw(["dashboard", "--out", str(out)], env)
    assert f"{out / 'index.html'}: 6 pages, 25 charts of the marts as of 2026-01-02 (read as the BI login" in said
    bundle = [f.name for f in out.glob("plotly-*.min.js")]
    assert sorted(f.name for f in out.iterdir()) == sorted([*bundle, *(page.file for page in PAGES)]) and bundle
    with psycopg.connect(url) as conn:  # as the owner: person data unmasked, to show the pages hold none of it
        expected = _dashboard_expected(conn, date(2026, 1, 2))
        names = [name for (name,) in conn.execute("select distinct rep_name from marts.dim_sales_rep")]
    with psycopg.connect(url, row_factory=dict_row) as conn:
        titles = context(conn, "CNY")  # what the titles are formatted with: the window, the fiscal periods
    assert set(expected) == {chart.key for page in PAGES for chart in page.charts}
    night = paths.DASHBOARD_DIR
    for page in PAGES:
        source = (out / page.file).read_text()
        # nothing from the network: every script and link is a file beside the page
        for reference in re.findall(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]*)"', source):
            assert "//" not in reference and (out / reference).is_file(), (page.file, reference)
        assert not re.search(r'(?:src|href)="(?:https?:)?//', source), page.file
        assert all(name not in source for name in names if name), f"{page.file} shows a rep's name"
        drawn = browser.drawn(browser.dom(out / page.file))
        assert "data-chart-error" not in drawn["body"], (page.file, drawn["body"])
        assert drawn["body"]["data-as-of"] == "2026-01-02"
        assert drawn["body"]["data-charts-drawn"] == str(len(page.charts)), page.file
        for chart in page.charts:
            classes, read, want = drawn["charts"][chart.key], drawn["totals"][chart.key], expected[chart.key]
            assert classes["js-plotly-plot"] == 1 and classes["main-svg"] >= 1, (page.file, chart.key)
            assert read["title"] == chart.title.format(**titles), chart.key
            numbers = sum(trace["count"] for trace in read["traces"].values())
            if all(count == 0 for _, count in want.values()):  # nothing in the window: a note, no numbers
                assert numbers == 0, (chart.key, read)
                continue
            # each number plotly holds has its mark in the SVG: a bar, a marker, a cell, a heatmap label
            marks = classes["point"] + classes["heatmap-label"] + classes["number"] + classes["cell-text"]
            assert marks >= numbers > 0, (page.file, chart.key, numbers, dict(classes))
            if list(want) == ["*"]:  # a line per stage: their numbers together
                every = read["traces"].values()
                read["traces"] = {"*": {"sum": sum(t["sum"] for t in every), "count": sum(t["count"] for t in every)}}
            assert sorted(read["traces"]) == sorted(want), chart.key
            for name, total in want.items():
                assert _equal(read["traces"][name], total), (chart.key, name, read["traces"][name], total)
        # the night's task wrote the same charts (as the transformer, the login it has), and names the publication
        published = (night / page.file).read_text()
        charts = r'<script type="application/json" data-chart="[^"]*">.*?</script>'
        assert re.findall(charts, published, re.S) == re.findall(charts, source, re.S), page.file
        assert "Marts published " in published and "with the data of 2026-01-02" in published
    with psycopg.connect(warehouse.url("e2e_airflow")) as conn:  # Airflow's own record of each night's task
        took = [
            seconds
            for (seconds,) in conn.execute(
                "select duration from task_instance where dag_id = 'sales_nightly' and task_id = 'dashboard'"
                " and state = 'success'"
            )
        ]
    # 1.4-1.5 s a night here (2026-12-07; this test's scale 0.05): the bound catches a chart that reads whole facts
    assert took and max(took) < 30, f"the nightly dashboard task took {took} s"


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
