"""The `salesdw` command: warehouse, sample feeds, nightly runs through Airflow, reports."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import date, timedelta
from pathlib import Path

from salesdw import paths

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
    from urllib.parse import urlsplit

    from salesdw.warehouse.connection import embedded
    from salesdw.warehouse.roles import LOGINS, PII_ROLE, role_url, set_up

    external = os.environ.get("WAREHOUSE_URL")
    if args.action == "url":
        print(role_url(args.role, _url(auto_start=False)))
        return 0
    if args.action == "dev":
        from salesdw.warehouse.roles import set_up_developer

        name = args.name or _developer()
        schemas = set_up_developer(_url(), name)
        print(f"salesdw_dev_{name} owns {', '.join(schemas)}; build there with `salesdw dbt --dev {name} ...`")
        return 0
    if args.action == "init" and external:
        set_up(external)
        where = urlsplit(external)  # no password printed
        roles = ", ".join([*LOGINS.values(), PII_ROLE])
        print(f"roles set up on {where.hostname}:{where.port or 5432}{where.path}: {roles}")
        return 0
    if external:
        print("WAREHOUSE_URL is set: salesdw uses that server and manages no embedded one.")
        return 0
    server = embedded()
    if args.action == "init":  # the embedded server sets its roles up whenever it starts
        args.action = "start"
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


DEV_ONLY = (
    "the simulated sources and the sample generator are development tools, not part of a production install:"
    " run it from a checkout of salesdw (`make install`)"
)


def _dev_tools():
    """The simulator and generator package (plugins/salesdw_dev), or None in a production install."""
    try:
        import salesdw_dev

        return salesdw_dev
    except ImportError:
        return None


def _breaks() -> list[str] | None:
    try:
        from salesdw_dev.generate.breaks import BREAKS
    except ImportError:
        return None
    return sorted(BREAKS)


def cmd_generate(args) -> int:
    if _dev_tools() is None:
        print(f"salesdw generate: {DEV_ONLY}", file=sys.stderr)
        return 2
    from salesdw_dev.generate import generate

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
    if _dev_tools() is None:
        print(f"salesdw serve-sources: {DEV_ONLY}", file=sys.stderr)
        return 2
    from salesdw_dev.simulate.server import run

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
    if args.refetch:
        os.environ["SALESDW_REFETCH"] = "1"  # read by the extract tasks (extract/api.py)
    return 0 if run_dates(_url(), days, backfill=args.backfill, full_refresh=args.full_refresh) else 1


def cmd_land(args) -> int:
    from contextlib import nullcontext, redirect_stdout

    from salesdw import config
    from salesdw.orchestrate.runner import simulated_sources
    from salesdw.orchestrate.tasks import land
    from salesdw.warehouse.roles import role_url, set_up

    try:
        entity = config.entity(args.source, args.entity)
    except KeyError:
        names = ", ".join(f"{e.source} {e.name}" for e in config.entities())
        print(
            f"salesdw land: no entity {args.source} {args.entity} in sources.yml; expected one of: {names}",
            file=sys.stderr,
        )
        return 2
    if args.file and not args.file.is_file():
        print(f"salesdw land: --file {args.file}: no such file", file=sys.stderr)
        return 2
    say = (lambda text: print(text, file=sys.stderr)) if args.json else print
    # Airflow (for connections) and Great Expectations log every step at INFO: an operator wants the report
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    try:
        admin = _url()
        set_up(admin)  # idempotent and quick, as before a run: the loader login must exist
        url = role_url("loader", admin)
        api = simulated_sources(os.environ, say) if entity.delivery == "api" and not args.file else nullcontext()
        # with --json, stdout holds the one object: what libraries print goes to stderr
        quiet = redirect_stdout(sys.stderr) if args.json else nullcontext()
        with api, quiet:
            report = land(args.source, args.entity, args.date, url=url, delivered=args.file, gate=not args.no_gate)
    except Exception as exc:  # not the delivery's fault (warehouse down, a missing connection): one sentence
        message = _operator_error(exc)
        if message is None:
            raise
        report = {"source": args.source, "entity": args.entity, "date": args.date.isoformat(), "status": "error"}
        report |= {"error": message}
    if args.json:
        print(json.dumps(report, default=str, ensure_ascii=False))
    else:
        print(_land_text(report))
    return 0 if report["status"] in ("loaded", "unchanged") else 1


def cmd_check_source(args) -> int:
    """Hold sample exports against the deployment's config; 0 when every one fits."""
    from salesdw import config
    from salesdw.extract.files import drop_files, expected_names
    from salesdw.extract.source_check import check_file

    chosen = [e for e in config.entities() if (not args.source or e.source == args.source)]
    chosen = [e for e in chosen if not args.entity or e.name == args.entity]
    if not chosen:
        print(f"salesdw check-source: no configured entity {args.source or ''} {args.entity or ''}", file=sys.stderr)
        return 2
    if args.file and len(chosen) != 1:
        print("salesdw check-source: --file needs one SOURCE ENTITY", file=sys.stderr)
        return 2
    fits = True
    for entity in chosen:
        if args.file:
            samples = [args.file]
        elif entity.delivery == "files":
            samples = drop_files(entity, args.date, paths.DROP_DIR)
            if not samples:
                print(f"{entity.source}.{entity.name}: no export for {args.date} ({expected_names(entity, args.date)})")
                fits = False
                continue
        else:
            print(
                f"{entity.source}.{entity.name}: arrives by API; give a sample of its records with --file (JSON lines)"
            )
            continue
        for sample in samples:
            report = check_file(entity, sample, args.date)
            print(report.text())
            fits = fits and report.fits
    return 0 if fits else 1


def _land_text(report: dict) -> str:
    head = f"{report['source']}.{report['entity']} {report['date']}"
    if report["status"] in ("refused", "error"):
        tail = "; the day keeps the batch it had" if report["status"] == "refused" else ""
        return f"{head}: {report['status'].upper()}: {report['error']}{tail}"
    lines = [f"{head}: {report['status']} ({report.get('note') or report.get('file')})"]
    lines.append(f"  delivered: {report.get('file')}")
    lines.append(
        f"  rows read {report['rows_read']:,} = loaded {report['rows_loaded']:,} + rejected {report['rows_rejected']:,}"
        + (f"; {report['blank_lines']:,} blank line(s) skipped" if report.get("blank_lines") else "")
    )
    if report["rejected_by_reason"]:
        reasons = ", ".join(f"{rule} {n:,}" for rule, n in report["rejected_by_reason"].items())
        lines.append(
            f"  rejected by rule: {reasons} (select * from raw._rejected where _batch_id = '{report['batch_id']}')"
        )
    lines.append(f"  quarantined until their parent arrives: {report['quarantined']:,}")
    gate = report.get("gate")
    if gate and gate.get("message"):
        lines.append(f"  feeds gate: {gate['status']}: {gate['message']}")
    elif gate:
        warnings = gate.get("warnings") or []
        lines.append(f"  feeds gate: {gate['status']} ({len(warnings)} warning{'s' * (len(warnings) != 1)})")
        lines += [f"    - {warning}" for warning in warnings]
    return "\n".join(lines)


def _operator_error(exc: Exception) -> str | None:
    """The sentence for a failure that is the set-up's, not the code's; None for anything else."""
    import psycopg

    from salesdw.extract.run import MissingConnectionError
    from salesdw.orchestrate.preflight import RunInProgressError, WarehouseUnreachableError, unreachable
    from salesdw.publish.excel import ExportError
    from salesdw.warehouse import WarehouseError

    if isinstance(exc, psycopg.OperationalError):
        from salesdw.warehouse.connection import embedded

        url = os.environ.get("WAREHOUSE_URL") or f"postgresql://127.0.0.1:{embedded().port}/salesdw"
        return str(unreachable(url, exc))
    if isinstance(
        exc,
        (
            WarehouseError,
            WarehouseUnreachableError,
            RunInProgressError,
            MissingConnectionError,
            FileNotFoundError,
            ExportError,
        ),
    ):
        return str(exc)
    return None


def cmd_summary(args) -> int:
    from salesdw.orchestrate.runner import build_manifest
    from salesdw.publish.summary import render, summary
    from salesdw.warehouse.roles import role_url

    url = _url()
    build_manifest(url)  # which models are marts; a no-op when the project is unchanged
    print(render(summary(role_url("transformer", url)), 'psql "$(salesdw db url --role bi)"'))
    return 0


def cmd_export(args) -> int:
    from salesdw import deployment
    from salesdw.orchestrate.runner import build_manifest
    from salesdw.publish.excel import export_xlsx
    from salesdw.warehouse.roles import role_url

    url = _url()
    build_manifest(url)  # the columns' formats are their dbt meta; a no-op when the project is unchanged
    rows = export_xlsx(role_url("bi", url), args.xlsx, args.mart, reporting_currency=deployment.reporting_currency())
    print(f"{args.xlsx}: {len(rows)} marts, {sum(rows.values()):,} rows (read as the BI login)")
    return 0


def cmd_dashboard(args) -> int:
    from salesdw.publish.dashboard import write_dashboard
    from salesdw.warehouse.roles import role_url

    made = write_dashboard(role_url("bi", _url()), args.out)
    print(
        f"{made['index']}: {made['pages']} pages, {made['charts']} charts of the marts as of {made['as_of']}"
        f" (read as the BI login; {made['bytes'] / 1e6:.1f} MB, {made['seconds']:.1f} s)"
    )
    return 0


def cmd_clv_baseline(args) -> int:
    from salesdw.transform import READERS
    from salesdw.transform.clv_baseline import fit_clv_baseline
    from salesdw.warehouse.roles import role_url

    fit = fit_clv_baseline(role_url("transformer", _url()))
    if fit["status"] != "fitted":
        print(f"no baseline for {fit.get('run_date', 'the run date')}: {fit.get('reason', 'no customer had bought')}")
        return 1
    print(
        f"CLV baseline (BG/NBD + Gamma-Gamma, {fit['library']}) for {fit['run_date']}, cutoff {fit['as_of_date']}:"
        f" {fit['customers']} customers, {fit['expected_purchases']:.1f} purchases and"
        f" {fit['predicted_margin']:,.2f} predicted over {fit['horizon_days']} days ({fit['seconds']:.1f} s);"
        f" `salesdw dbt build --select {READERS}` rebuilds clv_backtest with it"
    )
    return 0


def cmd_dbt(args) -> int:
    from salesdw.orchestrate.runner import dbt, dbt_env
    from salesdw.publish.publications import BUILD_SCHEMA_VARIABLE, PUBLISHED_SCHEMA
    from salesdw.warehouse.roles import developer_schema, role_url

    if not args.dev:
        return dbt(args.dbt_args, role_url("transformer", _url())).returncode
    # the dev target, as the developer's login, into dev_<name>_*; artifacts (manifest, partial
    # parse) in a target folder of its own, so the pipeline's stay as they are
    schema = developer_schema(args.dev)
    url = role_url(schema, _url())
    env = dict(dbt_env(url), SALESDW_DEV_SCHEMA=schema, **{BUILD_SCHEMA_VARIABLE: PUBLISHED_SCHEMA})
    # a selection builds part of the project there: its tests over models left out would find no table
    env.setdefault("DBT_INDIRECT_SELECTION", "cautious")
    target = ["--target", "dev", "--target-path", f"target/{schema}"]
    return dbt([*args.dbt_args, *target] if args.dbt_args else [], url, env).returncode


def _developer() -> str:
    """The developer's name for their schemas: the user's, in the letters a schema name takes."""
    import getpass
    import re

    return re.sub(r"[^a-z0-9_]", "_", getpass.getuser().lower()).lstrip("0123456789_")[:30] or "dev"


def cmd_mf(args) -> int:
    from salesdw.orchestrate.runner import build_manifest, dbt_env
    from salesdw.publish.metrics import mf
    from salesdw.warehouse.roles import role_url

    url = _url()
    build_manifest(url)  # the semantic models and metrics; a no-op when the project is unchanged
    return mf(args.mf_args, dbt_env(role_url("bi", url))).returncode


def cmd_airflow(args) -> int:
    from salesdw.orchestrate.airflow_env import airflow, airflow_env, ensure_airflow_db

    env = airflow_env(_url())
    ensure_airflow_db(env)
    return airflow(args.airflow_args, env).returncode


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="salesdw", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    check = sub.add_parser(
        "check-source",
        help="hold sample exports against the deployment's config before any run",
        description=(
            "Read a sample export (--file, or each configured entity's export for --date in its drop folder)"
            " as a night would, through the deployment's mappings (SALESDW_CONFIG), and list what does not fit:"
            " a missing header, an empty required column, a stage, product line or currency not in the"
            " vocabulary, a date or number not in its declared format. Exit 1 when something does not fit."
        ),
    )
    check.add_argument("source", nargs="?", help="a source (crm, finance, after_sales); default every one")
    check.add_argument("entity", nargs="?", help="one of its entities; default every configured one")
    check.add_argument("--file", type=Path, help="the sample export (CSV, XLSX, or JSON lines for an API entity)")
    check.add_argument("--date", type=_date, default=date.today(), help="the day of the export (default today)")
    check.set_defaults(func=cmd_check_source)

    db = sub.add_parser(
        "db",
        help="the embedded warehouse (PostgreSQL); `init` sets up the roles on WAREHOUSE_URL's server",
        description=(
            "start|stop|status: the embedded warehouse (it sets up its roles whenever it starts). init: with"
            " WAREHOUSE_URL (the owner's URL of an external server) create or correct the roles, schemas and"
            " privileges there; else start the embedded warehouse. url: a libpq URL for one role. dev [NAME]:"
            " a developer's own login and schemas (dev_NAME, dev_NAME_staging, ...), where"
            " `salesdw dbt --dev NAME` builds."
        ),
    )
    db.add_argument("action", choices=["start", "stop", "status", "url", "init", "dev"])
    db.add_argument("name", nargs="?", help="dev: the developer (default: your user name)")
    db.add_argument(
        "--role",
        choices=["bi", "loader", "transformer", "admin"],
        default="bi",
        help=(
            "whose URL `url` prints (default %(default)s: reads the published marts and nothing else, what a BI"
            " tool or a person should get; loader and transformer are the pipeline's logins; admin owns the server)"
        ),
    )
    db.set_defaults(func=cmd_db)

    gen = sub.add_parser(
        "generate",
        help="write deterministic sample feeds for the three sources",
        description=(
            "Simulate the CRM, finance and after-sales sources and write their feeds. The data dir records "
            "its world in world.json: a later generate there with the same --scale, --seed, --locale and "
            "--dirty and a --start after the world's first day extends that world (its history start is kept, "
            "--history-days is ignored) and writes only the days from --start on, so days already loaded keep "
            "matching their sources. An extension must end within the year after the world's first day (its whole "
            "years, if the first generation wrote more than 365 days): a longer simulation is another world, so "
            "generate refuses. Any other --start or parameters start a new world."
        ),
    )
    gen.add_argument(
        "--start",
        type=_date,
        default=DEMO_START,
        help="first day to write (default %(default)s); after the data dir's world's first day: an extension",
    )
    gen.add_argument("--days", type=int, default=3, help="number of daily feeds (default %(default)s)")
    gen.add_argument("--scale", type=float, default=0.2, help="1 = ~50 reps, 5,000 accounts (default %(default)s)")
    gen.add_argument(
        "--history-days",
        type=int,
        default=None,
        help="history before --start, delivered in the first day's feed (default 365; an extension keeps its world's)",
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
        choices=_breaks(),
        help="plant a critical violation in the last day's feeds (of an extension too), to watch `salesdw run` stop",
    )
    gen.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"where to write (default {paths.DATA_DIR}, where `salesdw run` reads)",
    )
    gen.set_defaults(func=cmd_generate)

    serve = sub.add_parser("serve-sources", help="serve the simulated CRM and service-desk REST APIs")
    if _dev_tools():
        from salesdw_dev.simulate.server import add_arguments

        add_arguments(serve)
    serve.set_defaults(func=cmd_serve_sources)

    run = sub.add_parser("run", help="run the sales_nightly DAG through Airflow for a date or range")
    run.add_argument("--date", type=_date)
    run.add_argument("--start", type=_date)
    run.add_argument("--end", type=_date)
    run.add_argument(
        "--refetch",
        action="store_true",
        help="ask a vendor's API again for a day already landed (by default a rerun replays that day's extract:"
        " the API holds only current versions)",
    )
    run.add_argument(
        "--backfill",
        action="store_true",
        help="a range: land every day's batches (a day already landed, with nothing new in the drop folders, is"
        " kept as it is), then run the DAG once for the last day (dbt builds once)",
    )
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild every model from raw in the night's dbt build, after a change of the vocabulary, the reporting"
        " currency or a contract (the incremental models keep what they built; each of the two blue/green build"
        " schemas has its own, so run two nights with it)",
    )
    run.set_defaults(func=cmd_run)

    land = sub.add_parser(
        "land",
        help="extract, load, check references and the feeds gate for one entity and day, outside Airflow",
        description=(
            "Land one entity's feed for one day with the same code as the nightly DAG's tasks: extract (its API,"
            " or its drop folder), load into raw, quarantine orphans, run the feeds gate on the batch. --file"
            " delivers that file for the day as if it had arrived in the drop folder (a corrected export"
            " replaces the day's batch; an identical one changes nothing). Prints the batch's reconciliation."
            " Exit 0 when the batch was loaded (with or without rejects) or was already loaded, 1 when the file"
            " was refused or the run could not start."
        ),
    )
    land.add_argument("source", help="a source of sources.yml, e.g. finance")
    land.add_argument("entity", help="one of its entities, e.g. invoices")
    land.add_argument("--date", type=_date, required=True, help="the feed day, YYYY-MM-DD")
    land.add_argument("--file", type=Path, help="a file to deliver for the day (CSV, XLSX or an .empty marker)")
    land.add_argument("--json", action="store_true", help="print one JSON object (status, rows_read, ..., error)")
    land.add_argument("--no-gate", action="store_true", help="skip the feeds gate (Great Expectations)")
    land.set_defaults(func=cmd_land)

    sub.add_parser("summary", help="print what the marts hold").set_defaults(func=cmd_summary)

    export = sub.add_parser("export", help="write the published marts to an Excel workbook, a sheet per mart")
    export.add_argument("--xlsx", type=Path, required=True, help="the workbook to write, e.g. marts.xlsx")
    export.add_argument("--mart", action="append", help="only this mart (repeat for several; default: every one)")
    export.set_defaults(func=cmd_export)

    dashboard = sub.add_parser(
        "dashboard",
        help="write the published marts as a static dashboard (DIR/index.html, opens from disk)",
        description=(
            "Write a static dashboard of the published marts, read as the BI login: DIR/index.html (the sales"
            " leader's page) and pages for sales ops, finance, service, customers and the rep scorecard, with"
            " plotly.js beside them (no network needed to open them). The nightly DAG writes it after each"
            " publication to SALESDW_DASHBOARD_DIR (default .salesdw/dashboard)."
        ),
    )
    dashboard.add_argument("--out", type=Path, required=True, help="the folder to write, e.g. dashboard/")
    dashboard.set_defaults(func=cmd_dashboard)

    sub.add_parser(
        "clv-baseline",
        help="fit the CLV backtest's BG/NBD + Gamma-Gamma baseline on what dbt last built (the night does it)",
        description=(
            "Fit BG/NBD and Gamma-Gamma by maximum likelihood (pymc-marketing) on"
            " intermediate.int_customer_purchase_summary, as the nightly DAG's clv_baseline task does between its two"
            " dbt builds, and write ml.clv_btyd_predictions and ml.clv_btyd_fits; clv_backtest reads them."
        ),
    ).set_defaults(func=cmd_clv_baseline)

    dbt = sub.add_parser("dbt", help="run dbt against the warehouse, e.g. `salesdw dbt build`")
    dbt.add_argument(
        "--dev",
        metavar="NAME",
        help="the dev target: build into the developer's own schemas (dev_NAME_*; `salesdw db dev NAME` makes them)",
    )
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER)
    dbt.set_defaults(func=cmd_dbt)

    metrics = sub.add_parser(
        "mf", help="query the metrics (MetricFlow) over the published marts, e.g. `salesdw mf list metrics`"
    )
    metrics.add_argument("mf_args", nargs=argparse.REMAINDER)
    metrics.set_defaults(func=cmd_mf)

    af = sub.add_parser("airflow", help="run the airflow CLI in the project's Airflow home")
    af.add_argument("airflow_args", nargs=argparse.REMAINDER)
    af.set_defaults(func=cmd_airflow)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # one clear line for the operator; the traceback is only noise here
        message = _operator_error(exc)
        if message is None and isinstance(exc, RuntimeError):
            message = str(exc)
        if message is None:
            raise
        print(f"salesdw {args.command}: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
