"""Benchmark: one night through Airflow against the same work run bare, in one process.

Run with `make bench-nightly`. In a warehouse and Airflow home of its own (.salesdw-bench, or
--dir), it generates the demo's world (scale 0.2 by default, three years of history), runs the
history day and the next day through Airflow to warm up, then reruns that next day, taking turns:

- **airflow**: `salesdw run --date D` — the sales_nightly DAG through `airflow dags test`, as the
  demo and an operator run it (its set-up included: roles, dbt's manifest, the metadata DB);
- **bare**: the same work in one Python process, stage after stage, with the same functions the
  DAG's tasks call: extract and load every entity and the references check (runner.land_days),
  the feeds gate, `dbt source freshness` and the freshness gate, `dbt build` (dbt's own runner,
  in process; the marts' tests, their gate, inside it) of every model but those reading the Python
  fits, the CLV baseline's fit, `dbt build` of those readers, the publication, the dashboard.

A rerun of a day is the same work each time (the rerun replaces the day's batches and rebuilds
the same marts), so the two sides do identical work; taking turns, a busy machine slows both alike.
Prints each round, both medians, the machine's load beside them and `overhead ratio: X`
(airflow / bare). Target: at most 1.3.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _env(state: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SALESDW_STATE_DIR": str(state),
            "SALESDW_DATA_DIR": str(state / "data"),
            "SALESDW_PG_PORT": str(port),
            "AIRFLOW_HOME": str(state / "airflow"),
        }
    )
    for name in ("SALESDW_CONFIG", "WAREHOUSE_URL"):  # the demo's deployment, on the bench's own server
        env.pop(name, None)
    return env


def _salesdw(args: list[str], env: dict[str, str], quiet: bool = True) -> float:
    started = time.monotonic()
    proc = subprocess.run([str(BIN / "salesdw"), *args], env=env, capture_output=quiet, text=True)
    if proc.returncode != 0:
        sys.stderr.write((proc.stdout or "") + (proc.stderr or ""))
        raise SystemExit(f"bench-nightly: salesdw {' '.join(args)} failed (exit {proc.returncode})")
    return time.monotonic() - started


def _bare(env: dict[str, str], day: date) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--bare", day.isoformat()], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit("bench-nightly: the bare night failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bare_night(day: date) -> dict:
    """The night's work for `day` in this process, stage by stage (seconds per stage)."""
    import logging

    from dbt.cli.main import dbtRunner
    from salesdw import config, paths
    from salesdw.orchestrate.dbt_results import NIGHTLY_EXCLUDE, record_dbt_results
    from salesdw.orchestrate.runner import dbt_env, land_days, simulated_sources
    from salesdw.publish.dashboard import write_dashboard
    from salesdw.publish.publications import BUILD_SCHEMA_VARIABLE, publish
    from salesdw.quality.freshness import record_freshness
    from salesdw.transform import READERS as FIT_READERS
    from salesdw.transform.clv_baseline import fit_clv_baseline
    from salesdw.warehouse.connection import warehouse_url
    from salesdw.warehouse.roles import role_url

    logging.basicConfig(level=logging.WARNING)
    url = warehouse_url()
    loader, transformer = role_url("loader", url), role_url("transformer", url)
    run_id, feed_day = f"bare__{day}__{time.time_ns()}", day.isoformat()
    stages, started = {}, time.monotonic()

    def lap(name: str) -> None:
        nonlocal started
        stages[name] = round(time.monotonic() - started, 2)
        started = time.monotonic()

    # the DAG extracts and loads the day again however it was landed before; land_days would keep a
    # landed day (what `salesdw run --backfill` wants) unless told to fetch it again
    os.environ["SALESDW_REFETCH"] = "1"
    with simulated_sources(os.environ, echo=lambda *_: None):
        if not land_days(loader, [day], echo=lambda *_: None):
            raise SystemExit("bare: landing stopped")
    lap("land + feeds gate")
    os.environ.update(dbt_env(transformer))
    dbt = dbtRunner()
    # dbt's saved parse kept per build schema, as the DAG's tasks keep it (orchestrate/dbt_tasks.py):
    # the schema alternates every night, and with one target folder each round would parse in full
    target = paths.DBT_PROJECT_DIR / "target" / f"bench_{os.environ[BUILD_SCHEMA_VARIABLE]}"
    common = ["--project-dir", str(paths.DBT_PROJECT_DIR), "--profiles-dir", str(paths.DBT_PROJECT_DIR), "--quiet",
              "--target-path", str(target)]  # fmt: skip
    selected = [f"source:{e.source}.{e.name}" for e in config.entities()]
    freshness = dbt.invoke(
        ["source", "freshness", "--select", *selected, "--vars", json.dumps({"run_date": feed_day}), *common]
    )
    if freshness.exception:
        raise freshness.exception
    record_freshness(transformer, feed_day, target, run_id=run_id)
    lap("freshness")
    day_vars = ["--vars", json.dumps({"run_date": feed_day})]
    build = dbt.invoke(["build", "--exclude", NIGHTLY_EXCLUDE, FIT_READERS, *day_vars, *common])
    if not build.success:
        raise SystemExit(f"bare: dbt build failed: {build.exception}")
    record_dbt_results(transformer, feed_day, target, run_id=run_id)
    lap("dbt build")
    fit_clv_baseline(transformer, day)
    lap("clv baseline")
    build = dbt.invoke(["build", "--select", FIT_READERS, "--exclude", NIGHTLY_EXCLUDE, *day_vars, *common])
    if not build.success:
        raise SystemExit(f"bare: dbt build after the fits failed: {build.exception}")
    record_dbt_results(transformer, feed_day, target, run_id=run_id)
    lap("dbt build after fits")
    publish(transformer, feed_day, run_id=run_id)
    lap("publish")
    write_dashboard(transformer, paths.STATE_DIR / "bench_dashboard")  # the DAG's last task writes it too
    lap("dashboard")
    return stages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=str(ROOT / ".salesdw-bench"), help="the bench's warehouse and Airflow home")
    parser.add_argument("--port", type=int, default=54349)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--history-days", type=int, default=1100)
    parser.add_argument("--no-warm-up", action="store_true", help="the bench's warehouse has run both days before")
    args = parser.parse_args()
    state = Path(args.dir).resolve()
    env = _env(state, args.port)
    start = date(2026, 1, 1)
    day = start + timedelta(days=1)
    print(f"bench-nightly: warehouse and Airflow home in {state}")
    _salesdw(["db", "start"], env)
    if not (state / "data" / "world.json").is_file():
        took = _salesdw(["generate", "--start", start.isoformat(), "--days", "2", "--scale", str(args.scale),
                         "--dirty", "0.002", "--history-days", str(args.history_days)], env)  # fmt: skip
        print(f"generated scale {args.scale} in {took:.0f} s")
    for warm in () if args.no_warm_up else (start, day):
        print(f"warm-up: {warm} through Airflow in {_salesdw(['run', '--date', warm.isoformat()], env):.0f} s")
    airflow, bare, loads = [], [], []
    for n in range(1, args.rounds + 1):
        airflow.append(_salesdw(["run", "--date", day.isoformat()], env))
        started = time.monotonic()
        stages = _bare(env, day)
        bare.append(time.monotonic() - started)
        loads.append(os.getloadavg()[0])
        shown = ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
        print(f"round {n}: airflow {airflow[-1]:.1f} s, bare {bare[-1]:.1f} s ({shown}); load {loads[-1]:.2f}")
    ratio = statistics.median(airflow) / statistics.median(bare)
    print(f"airflow (salesdw run --date {day}) median: {statistics.median(airflow):.1f} s")
    print(f"bare (one process)          median: {statistics.median(bare):.1f} s")
    print(f"machine: {os.cpu_count()} cores, load average {min(loads):.2f}..{max(loads):.2f} over the rounds")
    print(f"overhead ratio: {ratio:.2f}  (target <= 1.3)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--bare":
        print(json.dumps(bare_night(date.fromisoformat(sys.argv[2]))))
    else:
        sys.exit(main())
