"""The `salesdw` command: warehouse, sample feeds, nightly runs through Airflow, reports."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path

from salesdw import paths
from salesdw.generate.breaks import BREAKS

DEMO_START = date(2026, 1, 1)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _url(auto_start: bool = True) -> str:
    """The warehouse URL; the embedded server is started when needed (and no WAREHOUSE_URL)."""
    from salesdw.warehouse.connection import embedded, warehouse_url

    if auto_start and not os.environ.get("WAREHOUSE_URL"):
        embedded().start()
    return warehouse_url()


def cmd_db(args) -> int:
    from salesdw.warehouse.connection import embedded

    if os.environ.get("WAREHOUSE_URL") and args.action != "url":
        print("WAREHOUSE_URL is set: salesdw uses that server and manages no embedded one.")
        return 0
    server = embedded()
    if args.action == "start":
        started = server.start()
        print(f"warehouse {'started' if started else 'already running'} on 127.0.0.1:{server.port} ({server.data_dir})")
    elif args.action == "stop":
        print("warehouse stopped" if server.stop() else "warehouse was not running")
    elif args.action == "status":
        running = server.running()
        print(f"warehouse {'running' if running else 'stopped'} (127.0.0.1:{server.port}, {server.data_dir})")
        return 0 if running else 3
    elif args.action == "url":
        print(_url(auto_start=False))
    return 0


def cmd_generate(args) -> int:
    from salesdw.generate import generate

    data_dir = args.data_dir or paths.DATA_DIR
    counts = generate(
        start=args.start,
        days=args.days,
        scale=args.scale,
        history_days=args.history_days,
        locale=args.locale,
        seed=args.seed,
        data_dir=data_dir,
        dirty=args.dirty,
        break_kind=args.break_kind,
    )
    end = args.start + timedelta(days=args.days - 1)
    print(f"feeds for {args.start} .. {end} written under {data_dir}")
    for table, rows in counts.items():
        print(f"  {table:<40} {rows:>9,} rows")
    if args.break_kind:
        print(json.loads((data_dir / "planted.json").read_text())["break"]["message"])
    return 0


def cmd_serve_sources(args) -> int:
    from salesdw.simulate.server import run

    return run(args)


def cmd_run(args) -> int:
    from salesdw.orchestrate.runner import run_dates

    if args.date:
        days = [args.date]
    elif args.start:
        end = args.end or args.start
        if end < args.start:
            print(f"--end {end} is before --start {args.start}", file=sys.stderr)
            return 2
        days = [args.start + timedelta(days=i) for i in range((end - args.start).days + 1)]
    else:
        print("give --date YYYY-MM-DD or --start YYYY-MM-DD [--end YYYY-MM-DD]", file=sys.stderr)
        return 2
    return 0 if run_dates(_url(), days) else 1


def cmd_summary(args) -> int:
    from salesdw.publish.summary import render, summary

    url = _url()
    hint = 'psql "$(salesdw db url)"' if not os.environ.get("WAREHOUSE_URL") else 'psql "$WAREHOUSE_URL"'
    print(render(summary(url), hint))
    return 0


def cmd_dbt(args) -> int:
    from salesdw.orchestrate.runner import dbt

    return dbt(args.dbt_args, _url()).returncode


def cmd_airflow(args) -> int:
    from salesdw.orchestrate.airflow_env import airflow, airflow_env, ensure_airflow_db

    env = airflow_env(_url())
    ensure_airflow_db(env)
    return airflow(args.airflow_args, env).returncode


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="salesdw", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the embedded warehouse (PostgreSQL)")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    db.set_defaults(func=cmd_db)

    gen = sub.add_parser("generate", help="write deterministic sample feeds for the three sources")
    gen.add_argument("--start", type=_date, default=DEMO_START, help="first feed day (default %(default)s)")
    gen.add_argument("--days", type=int, default=3, help="number of daily feeds (default %(default)s)")
    gen.add_argument("--scale", type=float, default=0.2, help="1 = ~50 reps, 5,000 accounts (default %(default)s)")
    gen.add_argument(
        "--history-days",
        type=int,
        default=365,
        help="history before --start, delivered in the first day's feed (default %(default)s)",
    )
    gen.add_argument("--locale", choices=["en_US", "zh_CN"], default="en_US")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument(
        "--dirty",
        type=float,
        default=0.0,
        help="share of records to spoil with realistic defects, e.g. 0.01 (default %(default)s)",
    )
    gen.add_argument(
        "--break",
        dest="break_kind",
        choices=sorted(BREAKS),
        help="plant a critical violation in the last day's feeds, to watch `salesdw run` stop at the gate",
    )
    gen.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"where to write (default {paths.DATA_DIR}, where `salesdw run` reads)",
    )
    gen.set_defaults(func=cmd_generate)

    serve = sub.add_parser("serve-sources", help="serve the simulated CRM and service-desk REST APIs")
    from salesdw.simulate.server import add_arguments

    add_arguments(serve)
    serve.set_defaults(func=cmd_serve_sources)

    run = sub.add_parser("run", help="run the sales_nightly DAG through Airflow for a date or range")
    run.add_argument("--date", type=_date)
    run.add_argument("--start", type=_date)
    run.add_argument("--end", type=_date)
    run.set_defaults(func=cmd_run)

    sub.add_parser("summary", help="print what the marts hold").set_defaults(func=cmd_summary)

    dbt = sub.add_parser("dbt", help="run dbt against the warehouse, e.g. `salesdw dbt build`")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER)
    dbt.set_defaults(func=cmd_dbt)

    af = sub.add_parser("airflow", help="run the airflow CLI in the project's Airflow home")
    af.add_argument("airflow_args", nargs=argparse.REMAINDER)
    af.set_defaults(func=cmd_airflow)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # one clear line for the operator; the traceback is only noise here
        from salesdw.warehouse import WarehouseError

        if isinstance(exc, (WarehouseError, FileNotFoundError, RuntimeError)):
            print(f"salesdw {args.command}: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
