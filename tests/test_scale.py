"""The first night lands whole at a scale above the demo's.

At scale 1 and 3 the first night (the whole history in one delivery) once stopped at the feeds
gate: a service contract renewing one that waited in quarantine pointed at a contract that was no
longer there. The references check now moves whole chains (load/references.py), and this lands
such a night: scale 1 (about 50 reps, 5,000 accounts, 20,000 opportunities a year, three years of
history), with the loader's own functions and the feeds gate, as `salesdw run --backfill` lands a
day before its one DAG run.
"""

import os
import subprocess
import sys

import psycopg

LAND = """
import os
from datetime import date
from salesdw.orchestrate.runner import land_days, simulated_sources
from salesdw.warehouse.roles import role_url, set_up

url = os.environ["WAREHOUSE_URL"]
set_up(url)
with simulated_sources(os.environ, echo=print):
    ok = land_days(role_url("loader", url), [date(2026, 1, 1)], echo=print)
raise SystemExit(0 if ok else 1)
"""


def test_the_first_night_at_scale_1_lands_whole_and_passes_the_feeds_gate(warehouse, tmp_path):
    warehouse.ensure_database("scale_1")
    url = warehouse.url("scale_1")
    env = {
        **os.environ,
        "SALESDW_STATE_DIR": str(tmp_path / "state"),
        "SALESDW_DATA_DIR": str(tmp_path / "data"),
        "WAREHOUSE_URL": url,
    }
    salesdw = os.path.join(os.path.dirname(sys.executable), "salesdw")
    generate = [salesdw, "generate", "--start", "2026-01-01", "--days", "1", "--scale", "1"]
    generate += ["--dirty", "0.002", "--history-days", "1100"]
    subprocess.run(generate, env=env, check=True, capture_output=True, timeout=900)
    proc = subprocess.run([sys.executable, "-c", LAND], env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with psycopg.connect(url) as conn:
        batches, reconciled, rows = conn.execute(
            "select count(*), count(*) filter (where rows_read = rows_loaded + rows_rejected), sum(rows_loaded)"
            " from audit.load_batches where status = 'loaded'"
        ).fetchone()
        renewals = conn.execute(
            "select count(*) from raw.after_sales__service_contracts where renewed_from_contract_id is not null"
        ).fetchone()[0]
        dangling = conn.execute(
            "select count(*) from raw.after_sales__service_contracts c where c.renewed_from_contract_id is not null"
            " and not exists (select from raw.after_sales__service_contracts p"
            "                 where p.contract_id = c.renewed_from_contract_id)"
        ).fetchone()[0]
    assert batches == reconciled and rows > 100_000
    # renewals of renewals came in, and every one whose contract is in the warehouse points at it
    assert renewals > 100 and dangling == 0
