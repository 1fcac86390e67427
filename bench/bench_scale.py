"""Benchmark: the whole path at a scale, each stage beside a bare baseline run in the same invocation.

Run with `make bench SCALE=S` (default 10: about 500 reps, 50,000 accounts, 200,000 opportunities a
year, three years of history). In a warehouse of its own (.salesdw-bench-scale, wiped first):

  1. generate the sources: three years of history and two days of feeds;
  2. the first night through Airflow (`salesdw run`): the initial load of the whole history, the feeds
     gate, dbt's first (full) build, publication;
  3. baselines for it: a plain `COPY` of the same landed files into bare text tables, and a bare
     `dbt build --full-refresh` in one process;
  4. the next night through Airflow: one day's changes, dbt incremental;
  5. baselines for it: a bare incremental `dbt build` of the same day and a bare full refresh;
  6. every task of the next night again, each alone in a process of its own (`airflow tasks test`), as
     an executor that runs a task per process would: each task's own peak RSS (--no-task-memory skips it).

Every stage is a child process: its wall time and peak RSS (of the largest process in its tree) are its
own. An Airflow night's task durations come from Airflow's metadata; the DAG runs under `airflow dags
test`, all its tasks in one process, so that process's peak RSS bounds every task's; step 6 measures
each task alone. The simulated
CRM and service desk are served by a process of their own (not a task: a real CRM is elsewhere). While
a stage runs a line every 30 s says how long it has taken and its memory.

Prints a per-stage table, then `incremental / full refresh: X`, `nightly wall: N s`, `peak RSS: N MB`,
the Great Expectations share of dbt's time, and the machine's load. Targets at scale 10 on 2 cores
(issue 14): the nightly day <= 180 s and <= 10% of a full refresh, every task <= 512 MB, GX <= 10%
of dbt, the initial load <= 20 min.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FIRST_DAY = date(2026, 1, 1)
HISTORY_DAYS = 1095
BENCH_DIR = ROOT / ".salesdw-bench-scale"
PORT = 54359
TICK = 30  # seconds between progress lines
LANDING = ("extract", "load", "check_references")  # task ids (or their group's suffix) of the landing
GX_TASKS = ("validate_feeds",)
TASK_MEMORY = re.compile(r"salesdw task memory: (\S+) peak RSS (\d+) MB")  # orchestrate/memory.py


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SALESDW_STATE_DIR=str(BENCH_DIR),
        SALESDW_DATA_DIR=str(BENCH_DIR / "data"),
        SALESDW_PG_PORT=str(PORT),
        AIRFLOW_HOME=str(BENCH_DIR / "airflow"),
        # salesdw run keeps a night's log to warnings; the tasks' memory lines are at INFO
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
    )
    return env


def tree_rss_mb(pid: int) -> float:
    """The resident memory of `pid` and its descendants now (MB)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Stage:
    """One child process, timed, its peak RSS read from wait4, a progress line every TICK seconds."""

    def __init__(self, label: str, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.label, self.cmd, self.env, self.log = label, cmd, env, log

    def run(self, announce: bool = True) -> tuple[float, float]:
        if announce:
            print(f"-> {self.label}", flush=True)
        started = time.monotonic()
        with self.log.open("a") as out:
            out.write(f"\n$ {' '.join(self.cmd)}\n")
            out.flush()
            proc = subprocess.Popen(self.cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT)
            done = threading.Event()

            def tick() -> None:
                while not done.wait(TICK):
                    print(
                        f"   ... {time.monotonic() - started:6.0f} s, {tree_rss_mb(proc.pid):6.0f} MB resident",
                        flush=True,
                    )

            threading.Thread(target=tick, daemon=True).start()
            _, status, usage = os.wait4(proc.pid, 0)
            done.set()
        wall = time.monotonic() - started
        if os.waitstatus_to_exitcode(status) != 0:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])
            raise SystemExit(f"{tail}\nbench: {self.label} failed after {wall:.0f} s (log: {self.log})")
        if announce:
            print(f"   done in {wall:.1f} s", flush=True)
        return wall, usage.ru_maxrss / 1024


def python(code: str) -> list[str]:
    return [str(BIN / "python"), "-c", code]


COPY_BASELINE = """
import sys
from datetime import date
import psycopg
from salesdw import paths
from salesdw.warehouse.connection import warehouse_url
day = date.fromisoformat(sys.argv[1])
files = sorted(
    p for base in (paths.LANDING_DIR, paths.ARCHIVE_DIR) for p in base.glob(f"*/{day}/*")
    if p.suffix in (".csv", ".jsonl")
)
rows = 0
with psycopg.connect(warehouse_url()) as conn:
    conn.execute("drop schema if exists bench_copy cascade; create schema bench_copy")
    for i, path in enumerate(files):
        # each line kept whole, CSV or JSON: the floor of moving the bytes in (a spoiled record, which
        # the loader quarantines, would stop a typed COPY)
        table = f"bench_copy.f{i}"
        conn.execute(f"create unlogged table {table} (line text)")
        sql = f"copy {table} from stdin (format csv, quote e'\\x01', delimiter e'\\x02')"
        with conn.cursor().copy(sql) as copy, path.open("rb") as src:
            while chunk := src.read(1 << 20):
                copy.write(chunk)
        rows += conn.execute(f"select count(*) from {table}").fetchone()[0]
    conn.execute("drop schema bench_copy cascade")
print(f"ROWS {rows}")
"""

LANDED_ROWS = """
import sys, psycopg
from salesdw.warehouse.connection import warehouse_url
with psycopg.connect(warehouse_url()) as conn:
    print(conn.execute("select coalesce(sum(rows_read), 0) from audit.load_batches"
                       " where status = 'loaded' and batch_date = %s", [sys.argv[1]]).fetchone()[0])
"""

TASKS = """
import json, psycopg
from salesdw.orchestrate.airflow_env import metadata_url
url = metadata_url().replace("+psycopg2", "").replace("+psycopg", "")
with psycopg.connect(url) as conn:
    run_id = conn.execute(
        "select run_id from dag_run where dag_id = 'sales_nightly' order by start_date desc limit 1"
    ).fetchone()[0]
    rows = conn.execute(
        "select task_id, extract(epoch from start_date), extract(epoch from end_date), map_index"
        " from task_instance where dag_id = 'sales_nightly' and run_id = %s and state = 'success'", [run_id]).fetchall()
print(json.dumps([[t, float(s), float(e), m] for t, s, e, m in rows]))
"""


def output_of(cmd: list[str], env: dict[str, str]) -> str:
    return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout


def task_spans(env: dict[str, str]) -> dict[str, float]:
    """Seconds per stage of the latest DAG run: the landing's span (first extract to last load), each
    other task's own duration."""
    spans = json.loads(output_of(python(TASKS), env))
    landing = [(s, e) for t, s, e, _ in spans if t.split(".")[-1] in LANDING]
    out = {t: e - s for t, s, e, _ in spans if t.split(".")[-1] not in LANDING}
    if landing:
        out["landing"] = max(e for _, e in landing) - min(s for s, _ in landing)
    return out


def task_peaks(day: date) -> dict[str, int]:
    """Each task's peak RSS (MB) as the night's log says it (the largest of a mapped task's)."""
    log = BENCH_DIR / "logs" / f"sales_nightly-{day}-latest.log"
    peaks: dict[str, int] = {}
    for task, mb in TASK_MEMORY.findall(log.read_text(errors="replace")):
        name = task.split("[")[0]
        peaks[name] = max(peaks.get(name, 0), int(mb))
    return peaks


def tasks_alone(day: date, env: dict[str, str], log: Path) -> tuple[float, dict[str, float]]:
    """Every task of the latest night (for `day`) run again alone, each in a process of its own
    (`airflow tasks test`, which reruns a task in the DAG run that has its upstream XComs): the seconds
    it all took, and each task's peak RSS (MB; a mapped task's largest instance). Rerunning a night's
    tasks replaces what they did with the same."""
    logical = str(day + timedelta(days=1))  # the run whose data interval is `day`
    started, peaks = time.monotonic(), {}
    instances = sorted((t, m) for t, _, _, m in json.loads(output_of(python(TASKS), env)))
    for n, (task, index) in enumerate(instances, start=1):
        cmd = [str(BIN / "salesdw"), "airflow", "tasks", "test", "sales_nightly", task, logical]
        _, rss = Stage(task, [*cmd, "--map-index", str(index)] if index >= 0 else cmd, env, log).run(announce=False)
        peaks[task] = max(peaks.get(task, 0), rss)
        print(f"   {n}/{len(instances)} {task}{f'[{index}]' if index >= 0 else ''}: {rss:.0f} MB", flush=True)
    return time.monotonic() - started, peaks


def dbt_elapsed(target: Path) -> float:
    """dbt's own time for its last invocation: the build without its parse, which a change of vars
    (run_date) makes a full one for whichever invocation comes first (~7 s, whatever the data)."""
    return json.loads((target / "run_results.json").read_text())["elapsed_time"]


def dbt_rows(target: Path) -> int:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return sum(
        (r.get("adapter_response") or {}).get("rows_affected") or 0
        for r in results
        if r["unique_id"].startswith("model.")
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--history-days", type=int, default=HISTORY_DAYS)
    parser.add_argument("--no-task-memory", action="store_true", help="skip step 6 (each task alone, its own RSS)")
    args = parser.parse_args()
    env = bench_env()
    salesdw = str(BIN / "salesdw")
    subprocess.run([salesdw, "db", "stop"], env=env, capture_output=True)
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir()
    log = BENCH_DIR / "bench.log"
    load_before = os.getloadavg()
    day0, day1 = FIRST_DAY, FIRST_DAY + timedelta(days=1)
    table: list[tuple[str, float, int | None, float]] = []  # stage, wall, rows, peak RSS

    def stage(label: str, cmd: list[str], rows=None) -> float:
        wall, rss = Stage(label, cmd, env, log).run()
        table.append((label, wall, rows() if callable(rows) else rows, rss))
        return wall

    print(f"bench at scale {args.scale:g}: {args.history_days} days of history; log {log}", flush=True)
    stage("start the warehouse", [salesdw, "db", "start"])
    gen = [salesdw, "generate", "--start", str(day0), "--days", "2", "--scale", f"{args.scale:g}", "--dirty", "0.002"]
    stage(
        "generate the sources (not a task)",
        [*gen, "--history-days", str(args.history_days)],
        rows=lambda: sum(json.loads((BENCH_DIR / "data" / "generated.json").read_text())["counts"].values()),
    )
    # the simulated APIs in a process of their own, unthrottled: the runs below use it by connection
    port, token = free_port(), secrets.token_urlsafe(16)
    server = subprocess.Popen(
        [salesdw, "serve-sources", "--port", str(port), "--token", token, "--rate-limit", "0"],
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )
    try:
        for name in ("AIRFLOW_CONN_CRM_API", "AIRFLOW_CONN_SERVICE_DESK_API"):
            env[name] = f"http://:{token}@127.0.0.1:{port}"
        deadline = time.monotonic() + 600
        while True:  # the server reads the whole source state before it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"bench: the simulated sources did not start (log: {log})") from None
                time.sleep(1)
        landed = {d: (lambda d=d: int(output_of(python(LANDED_ROWS) + [str(d)], env))) for d in (day0, day1)}
        first = stage(
            "first night through Airflow (initial load, full build)",
            [salesdw, "run", "--date", str(day0)],
            landed[day0],
        )
        first_tasks, first_peaks = task_spans(env), task_peaks(day0)
        stage(
            "  baseline: plain COPY of the same landed files",
            python(COPY_BASELINE) + [str(day0)],
            rows=landed[day0],
        )
        target = ROOT / "dbt_project" / "target"
        build = [salesdw, "dbt", "build", "--exclude", "resource_type:unit_test", "--quiet"]
        full0 = stage(
            "  baseline: bare dbt build --full-refresh",
            [*build, "--full-refresh", "--vars", json.dumps({"run_date": str(day0)})],
            rows=lambda: dbt_rows(target),
        )
        full0_dbt = dbt_elapsed(target)
        nightly = stage(
            "nightly day through Airflow (incremental)", [salesdw, "run", "--date", str(day1)], landed[day1]
        )
        night_tasks, night_peaks = task_spans(env), task_peaks(day1)
        incremental = stage(
            "  baseline: bare dbt build, incremental",
            [*build, "--vars", json.dumps({"run_date": str(day1)})],
            rows=lambda: dbt_rows(target),
        )
        incremental_dbt = dbt_elapsed(target)
        full1 = stage(
            "  baseline: bare dbt build --full-refresh",
            [*build, "--full-refresh", "--vars", json.dumps({"run_date": str(day1)})],
            rows=lambda: dbt_rows(target),
        )
        full1_dbt = dbt_elapsed(target)
        alone: dict[str, float] = {}
        if not args.no_task_memory:
            print("-> each task of the next night alone, in a process of its own (airflow tasks test)", flush=True)
            wall, alone = tasks_alone(day1, env, log)
            table.append(("each task alone, its own process (airflow tasks test)", wall, None, max(alone.values())))
    finally:
        server.terminate()
        server.wait()
        subprocess.run([salesdw, "db", "stop"], env=env, capture_output=True)

    print(
        f"\nscale {args.scale:g}, {args.history_days} days of history; load before {load_before[0]:.2f},"
        f" after {os.getloadavg()[0]:.2f} (1-min average, 2 cores)"
    )
    print(f"{'stage':<58} {'wall s':>8} {'rows':>11} {'rows/s':>9} {'peak RSS MB':>12}")
    for label, wall, rows, rss in table:
        count, rate = (f"{rows:,}", f"{rows / wall:,.0f}") if rows else ("", "")
        print(f"{label:<58} {wall:8.1f} {count:>11} {rate:>9} {rss:12.0f}")
        if label.startswith("first night"):
            _tasks(first_tasks)
        if label.startswith("nightly day"):
            _tasks(night_tasks)
    peaks = first_peaks | {t: max(mb, first_peaks.get(t, 0)) for t, mb in night_peaks.items()}
    process_rss = max(rss for label, _, _, rss in table if "through Airflow" in label)
    gx = sum(night_tasks.get(t, 0) for t in GX_TASKS)
    dbt = night_tasks.get("dbt_build", 0) + night_tasks.get("dbt_build_after_fits", 0)
    print(f"\ninitial load (the first night's landing): {first_tasks.get('landing', 0):.0f} s of its {first:.0f} s")
    print(
        f"publication: {first_tasks.get('publish', 0):.2f} s the first night,"
        f" {night_tasks.get('publish', 0):.2f} s the next"
    )
    print(f"Great Expectations / dbt (the nightly day): {gx:.1f} s / {dbt:.1f} s = {gx / dbt if dbt else 0:.2f}")
    print(
        f"bare dbt builds, wall (dbt's own time without the parse): full refresh {full0:.0f} s ({full0_dbt:.0f} s)"
        f" after the first night, {full1:.0f} s ({full1_dbt:.0f} s) after the next; incremental {incremental:.0f} s"
        f" ({incremental_dbt:.0f} s)"
    )
    print(f"incremental / full refresh: {incremental_dbt / full1_dbt:.2f}")
    print(f"nightly wall: {nightly:.0f} s")
    if peaks:
        print("peak RSS per task in `airflow dags test` (MB, both nights): " + _listed(peaks))
    print(f"(`airflow dags test` runs every task in one process: its peak is {process_rss:.0f} MB, and a task's")
    print(" figure there also holds what earlier tasks left allocated, an upper bound of its own)")
    if alone:
        print("peak RSS per task, each alone in a process of its own (MB): " + _listed(alone))
    largest = max(alone or peaks, key=(alone or peaks).get) if (alone or peaks) else None
    figure = (alone or peaks)[largest] if largest else process_rss
    print(f"peak RSS: {figure:.0f} MB" + (f" ({largest}{'' if alone else ', upper bound'})" if largest else ""))
    return 0


def _listed(peaks: dict[str, float]) -> str:
    return ", ".join(f"{t} {mb:.0f}" for t, mb in sorted(peaks.items()))


def _tasks(spans: dict[str, float]) -> None:
    for name in (
        "landing",
        *GX_TASKS,
        "source_freshness",
        "dbt_build",
        "clv_baseline",
        "dbt_build_after_fits",
        "publish",
    ):
        if name in spans:
            print(f"    {name:<54} {spans[name]:8.1f}")


if __name__ == "__main__":
    sys.exit(main())
