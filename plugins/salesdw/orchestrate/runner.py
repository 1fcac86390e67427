"""Run the nightly DAG through Airflow for one date or a range, the way `salesdw run` does."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from salesdw import paths
from salesdw.orchestrate.airflow_env import airflow, airflow_env, ensure_airflow_db

DAG_ID = "sales_nightly"
# dbt commands that write models: they exclude loads (warehouse/build_lock.py)
BUILDS = {"build", "run", "snapshot"}


def dbt_env(url: str) -> dict[str, str]:
    """The WAREHOUSE_* variables dbt_project/profiles.yml reads, from a libpq URL, what dbt reads
    of this process's deployment (deployment.environment: its vocabulary, reporting currency and CLV
    value basis), as cosmos's tasks see it (`salesdw dbt` imports nothing that would export it), and
    the build schema tonight's marts go into (the one marts does not read: publish/publications.py)."""
    import psycopg

    from salesdw import deployment
    from salesdw.publish.publications import BUILD_SCHEMA_VARIABLE, build_schema_of

    parts = urlsplit(url)
    env = dict(os.environ)
    deployment.export_environment(env)
    env.update(
        {
            "WAREHOUSE_HOST": parts.hostname or "127.0.0.1",
            "WAREHOUSE_PORT": str(parts.port or 5432),
            "WAREHOUSE_USER": unquote(parts.username or ""),
            "WAREHOUSE_PASSWORD": unquote(parts.password or ""),
            "WAREHOUSE_DB": parts.path.lstrip("/") or "postgres",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        }
    )
    try:
        env[BUILD_SCHEMA_VARIABLE] = build_schema_of(url)
    except psycopg.OperationalError:
        pass  # no warehouse to build in: dbt will say so itself (parse and docs need none)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def dbt(args: list[str], url: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """dbt `args` against the warehouse at `url`, in the environment dbt_env(url) gives (or `env`,
    when the caller already has it)."""
    cmd = [
        str(Path(sys.executable).parent / "dbt"),
        *args,
        "--project-dir",
        str(paths.DBT_PROJECT_DIR),
        "--profiles-dir",
        str(paths.DBT_PROJECT_DIR),
    ]
    from salesdw.warehouse.build_lock import building

    command = next((a for a in args if not a.startswith("-")), None)
    with building(url) if command in BUILDS else nullcontext():
        return subprocess.run(cmd, env=env or dbt_env(url), cwd=paths.DBT_PROJECT_DIR, **kwargs)


def build_manifest(url: str) -> None:
    """Keep target/manifest.json current (cosmos renders a task group from it; the gates read the
    marts' keys and PII columns from it). `dbt parse` costs a night 10 s: it runs only when a file of
    the project, the deployment's settings for dbt or dbt itself changed since the last one."""
    env = dbt_env(url)
    stamp = paths.DBT_MANIFEST.parent / ".salesdw-manifest-key"
    key = _manifest_key(env)
    if paths.DBT_MANIFEST.is_file() and stamp.is_file() and stamp.read_text() == key:
        return
    proc = dbt(["parse", "--quiet"], url, env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dbt parse failed in {paths.DBT_PROJECT_DIR}:\n{proc.stdout}{proc.stderr}")
    stamp.write_text(key)


def _manifest_key(env: dict[str, str]) -> str:
    """What the manifest is made of: the project's files (path, size, mtime), the SALESDW_ and DBT_
    variables dbt reads, dbt's version. Not the build schema: it alternates every night, and nothing
    read from the manifest depends on it (a parse costs 9 s, and would also replace the partial parse
    the night's dbt tasks reuse)."""
    from importlib.metadata import version

    from salesdw.publish.publications import BUILD_SCHEMA_VARIABLE

    digest = hashlib.sha256(f"dbt-core {version('dbt-core')}\n".encode())
    for folder, subfolders, files in os.walk(paths.DBT_PROJECT_DIR):
        subfolders[:] = sorted(d for d in subfolders if d not in ("target", "logs", "dbt_packages"))
        for name in sorted(files):
            status = os.stat(os.path.join(folder, name))
            digest.update(f"{folder}/{name}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    for name in sorted(env):
        if name.startswith(("SALESDW_", "DBT_")) and name != BUILD_SCHEMA_VARIABLE:
            digest.update(f"{name}={env[name]}\n".encode())
    return digest.hexdigest()


API_CONNECTIONS = ("AIRFLOW_CONN_CRM_API", "AIRFLOW_CONN_SERVICE_DESK_API")


@contextmanager
def simulated_sources(env: dict[str, str], echo=print):
    """Serve the simulated CRM and service-desk APIs for the run, unless connections are given or
    the deployment takes no feed by API."""
    from salesdw import config

    if any(name in env for name in API_CONNECTIONS) or not any(e.delivery == "api" for e in config.entities()):
        yield
        return
    try:
        from salesdw_dev.simulate.server import start_in_thread
    except ImportError:  # a production install: the APIs are real, their connections must be given
        raise RuntimeError(
            f"no connection for the API sources ({', '.join(API_CONNECTIONS)}) and no simulated sources in this"
            " install: define the connections (see the README)"
        ) from None

    server, base_url = start_in_thread(paths.SOURCE_STATE_DIR)
    host, port = server.server_address[:2]
    for name in API_CONNECTIONS:
        env[name] = f"http://:{quote(server.token, safe='')}@{host}:{port}"
    echo(f"serving the simulated CRM and service-desk APIs at {base_url} (from {paths.SOURCE_STATE_DIR})")
    try:
        yield
    finally:
        server.stop()
        for name in API_CONNECTIONS:  # os.environ may be the mapping (salesdw land): leave it as found
            env.pop(name, None)


def run_dates(url: str, days: list[date], *, echo=print, backfill: bool = False, full_refresh: bool = False) -> bool:
    """`airflow dags test sales_nightly` per date, oldest first; stops at the first failure.

    `backfill`: every day but the last is landed with the DAG's own landing code (extract, load,
    references, the feeds gate: `land_days`), and the DAG runs once, for the last day, so dbt builds
    and the marts are checked and published once for the whole range (the incremental facts take
    every row loaded since their last build) instead of once a day.

    `full_refresh`: each run's dbt build rebuilds every model from raw (the DAG's conf full_refresh).

    `url` is the warehouse's admin URL; nothing of the run connects with it (the DAG's tasks use the
    loader and transformer logins, and so does the check below that no other run holds these dates).
    """
    from salesdw import config
    from salesdw.orchestrate.preflight import connect, run_lock
    from salesdw.warehouse.roles import role_url

    earliest = config.earliest_date()
    if days and min(days) < earliest:
        raise RuntimeError(  # Airflow would run nothing for it, and exit 0
            f"{min(days)} is before the earliest day the pipeline runs, {earliest} "
            "(plausible_dates.not_before in sources.yml): lower it there to load older data"
        )
    connect(url, "run: is the warehouse up").close()  # one sentence if not, before anything else
    env = airflow_env(url)
    with run_lock(
        role_url("loader", url), days, metadata_url=env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], dag_id=DAG_ID
    ):
        build_manifest(url)
        ensure_airflow_db(env)
        # Served once the set-up above is done (its state loads in a thread of this process, which held
        # the set-up back a second), into this process's environment (a backfill lands here) and Airflow's.
        with simulated_sources(os.environ, echo):
            env.update({name: os.environ[name] for name in API_CONNECTIONS if name in os.environ})
            if backfill and len(days) > 1:
                if not land_days(role_url("loader", url), days[:-1], echo):
                    return False
                days = days[-1:]
            return _run_dates(env, days, echo, full_refresh)


def land_days(loader_url: str, days: list[date], echo) -> bool:
    """Each day's batches of every configured entity, oldest day first, as the DAG lands a day (its
    tasks' own functions: extract and load per entity, then the references once); then the feeds gate
    over the day. False at the first refusal or gate stop."""
    from salesdw import config
    from salesdw.errors import RefusedDeliveryError
    from salesdw.load.references import check_references
    from salesdw.orchestrate.tasks import day_interval, extract, load

    # their every step, at INFO, in this process: each day's line below says what was landed
    for name in ("great_expectations", "salesdw"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for day in days:
        started = time.monotonic()
        if (landed := _already_landed(loader_url, day)) is not None:
            echo(f"backfill {day}: already landed ({landed:,} rows) and nothing new in the drop folders: kept")
            continue
        # Great Expectations takes 6 s to import: only for a day that is landed
        from salesdw.quality.feeds import QualityGateError, validate_feeds

        rows = 0
        for entity in config.entities():
            try:
                extracted = extract(entity.source, entity.name, *day_interval(day), url=loader_url)
                batches = load(entity.source, extracted, day, url=loader_url)
            except RefusedDeliveryError as exc:
                echo(f"backfill {day}: {entity.source}.{entity.name} refused: {exc}")
                return False
            rows += batches[0]["rows_read"]
        check_references(loader_url, day)
        try:
            validate_feeds(loader_url, day, run_id=f"backfill__{day}__{datetime.now(UTC):%Y%m%dT%H%M%S}")
        except QualityGateError as exc:
            echo(f"backfill {day}: the feeds gate stopped the backfill: {exc}")
            return False
        echo(
            f"backfill {day}: landed {rows:,} rows in {time.monotonic() - started:.0f} s (dbt builds once, at the end)"
        )
    return True


def _already_landed(loader_url: str, day: date) -> int | None:
    """The rows read for `day` when every configured entity has a loaded batch for it and no file
    waits in a drop folder for it (a correction): landing it again would replay the same extracts.
    None otherwise, or with --refetch (a vendor's API asked again)."""
    import psycopg

    from salesdw import config
    from salesdw.extract.files import drop_files
    from salesdw.extract.run import drop_dir

    if os.environ.get("SALESDW_REFETCH") == "1":
        return None
    entities = config.entities()
    if any(drop_files(e, day, drop_dir(e.connection_id)) for e in entities if e.delivery == "files"):
        return None
    with psycopg.connect(loader_url) as conn:
        if not conn.execute("select to_regclass('audit.load_batches') is not null").fetchone()[0]:
            return None
        landed = conn.execute(
            "select count(distinct (source, entity)), coalesce(sum(rows_read), 0) from audit.load_batches"
            " where status = 'loaded' and batch_date = %s"
            " and (source, entity) in (select * from unnest(%s::text[], %s::text[]))",
            [day, [e.source for e in entities], [e.name for e in entities]],
        ).fetchone()
    return int(landed[1]) if landed[0] == len(entities) else None


def _run_dates(env: dict[str, str], days: list[date], echo, full_refresh: bool = False) -> bool:
    conf = ["--conf", '{"full_refresh": true}'] if full_refresh else []
    log_dir = paths.STATE_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for day in days:
        # the run whose data interval is `day` is the one logically dated the day after
        logical = (day + timedelta(days=1)).isoformat()
        # each run its own log (two runs of a day never share one); `-latest` points at the newest
        log = log_dir / f"{DAG_ID}-{day.isoformat()}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}.log"
        latest = log_dir / f"{DAG_ID}-{day.isoformat()}-latest.log"
        started = time.monotonic()
        with log.open("w") as out:
            proc = airflow(["dags", "test", DAG_ID, logical, *conf], env, stdout=out, stderr=subprocess.STDOUT)
        latest.unlink(missing_ok=True)
        latest.symlink_to(log.name)
        took = time.monotonic() - started
        if proc.returncode != 0:
            tail = log.read_text(errors="replace").splitlines()[-80:]
            echo("\n".join(tail))
            echo(f"{DAG_ID} {day}: FAILED after {took:.0f} s (exit {proc.returncode}); full log: {log}")
            return False
        echo(f"{DAG_ID} {day}: ok in {took:.0f} s (log: {log})")
    return True
