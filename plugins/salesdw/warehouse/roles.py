"""Who may do what in the warehouse: the pipeline's two logins, the BI login, the person-data group.

- `salesdw_loader` owns schemas `raw` and `audit` (it creates raw tables, partitions and its audit
  tables at run time). It also has CREATE on the database: its code runs `create schema if not
  exists raw`, and PostgreSQL checks that privilege before it looks whether the schema exists.
- `salesdw_transformer` owns `staging`, `intermediate`, the two build schemas `marts_build_a` and
  `marts_build_b` whose tables `marts` shows, `marts` (publish/publications.py), `dbt_test__audit`
  (the views of the rows a failed dbt test found) and `ml` (the night's Python fits, transform/);
  dbt runs as it (the schemas exist, so dbt never needs to create one). It reads raw and audit,
  and writes audit.dq_results, audit.dbt_results and audit.publications.
- `salesdw_bi` reads `marts` and nothing else: no usage on any other schema, no CONNECT on any other
  database. A person gets BI access as a login role that is a member of it.
- `salesdw_pii` (no login) is the group whose members read person data unmasked in `marts`.
- `salesdw_dev_<name>` (`salesdw db dev NAME`): a developer's own login, owner of the schemas
  `dev_<name>` and `dev_<name>_staging|intermediate|marts|dbt_test__audit`, where dbt's `dev` target
  writes (dbt_project/profiles.yml); it reads dbt's sources (raw, audit and ml) and nothing of
  the pipeline's own schemas: a developer's build can neither change nor see what BI reads.
- `salesdw_airflow` owns the embedded server's `airflow` database (Airflow's metadata), which no
  other login but the admin may connect to.

`set_up` makes a warehouse so, idempotently, with the admin (superuser) URL: the embedded server
runs it at every start, `salesdw db init` against an external WAREHOUSE_URL. A role's password is
SALESDW_<ROLE>_PASSWORD when set, else generated once and kept 0600 in the secrets dir (beside the
embedded server's own password, or STATE_DIR/roles for an external server). Passwords go to the
server only as SCRAM verifiers, so they can reach no server log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from salesdw import paths
from salesdw.publish.publications import BUILD_SCHEMAS, PUBLISHED_SCHEMA, VERSIONS_SCHEMA
from salesdw.warehouse.embedded import WarehouseError

if TYPE_CHECKING:
    import psycopg

# The login roles the project hands out, by the name `role_url` and `salesdw db url --role` take.
LOGINS = {
    "loader": "salesdw_loader",
    "transformer": "salesdw_transformer",
    "bi": "salesdw_bi",
}
PII_ROLE = "salesdw_pii"
AIRFLOW_LOGIN, AIRFLOW_DB = "salesdw_airflow", "airflow"
ADMIN = "admin"  # role_url("admin"): the URL set-up runs with, unchanged

# Every schema of the warehouse and the login that owns it and everything in it.
SCHEMA_OWNERS = {
    "raw": "loader",
    "audit": "loader",
    "staging": "transformer",
    "intermediate": "transformer",
    **{schema: "transformer" for schema in BUILD_SCHEMAS},
    PUBLISHED_SCHEMA: "transformer",
    VERSIONS_SCHEMA: "transformer",
    "dbt_test__audit": "transformer",  # dbt's own name for it (dbt_project.yml: store_failures_as)
    "ml": "transformer",  # what the night's Python fits write for dbt to read (transform/)
}
# What a login reads in schemas another login owns (the owner's later tables included).
READS = {"transformer": ("raw", "audit"), "bi": (PUBLISHED_SCHEMA,)}
# What a developer's login reads: dbt's sources (raw, audit, and the night's fits in ml).
DEVELOPER_READS = (*READS["transformer"], "ml")
# The audit tables the transformer writes (besides reading audit): created here by their own
# modules' DDL, as the loader, so that the transformer never needs CREATE on `audit`.
TRANSFORMER_WRITES = {
    "audit.dq_results": "insert, delete",
    "audit.publications": "insert, update",
    "audit.dbt_results": "insert, delete",
}
# A developer's login is `salesdw_dev_<name>`, by the key "dev_<name>" role_url and password take.
DEVELOPER = "dev_"
DEVELOPER_NAME = r"[a-z][a-z0-9_]{0,29}"  # a part of schema names: dev_<name>_intermediate
# The schemas a developer's dbt target writes into, after dev_<name>_ (generate_schema_name.sql).
DEVELOPER_SCHEMAS = ("staging", "intermediate", PUBLISHED_SCHEMA, "dbt_test__audit")
# Session settings of a login, set on its role (a DBA may change them there). PostgreSQL's default
# work_mem, 4 MB, makes dbt's joins and sorts over a few hundred thousand rows spill to disk in many
# batches: sales_funnel took 41 s at scale 3 with it, 5.7 s with 64 MB (two dbt threads, a few
# such nodes per query: well within a warehouse machine's memory).
ROLE_SETTINGS = {"transformer": {"work_mem": "64MB"}}

RELATIONS_OWNED_BY_OTHERS = """
    select c.relkind, format('%%I.%%I', n.nspname, c.relname)
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = %s and c.relowner <> to_regrole(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
      -- a serial's or identity's sequence changes owner with its table
      and not (c.relkind = 'S' and exists (select from pg_depend d where d.classid = 'pg_class'::regclass
               and d.objid = c.oid and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')))
    order by c.relkind = 'v' desc  -- views first: their tables then have no other owner's view on them
"""
ALTER_OWNER = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table", "S": "sequence"}
RELATIONS_NOT_READABLE = """
    select format('%%I.%%I', n.nspname, c.relname)
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm', 'f') and not has_table_privilege(%s, c.oid, 'select')
"""


class RolesError(WarehouseError):
    """The warehouse's roles could not be set up, or a role's password is not known here."""


# -- passwords --------------------------------------------------------------------------------
def default_secrets_dir() -> Path:
    """Beside the embedded server's own password (also when WAREHOUSE_URL names that very server:
    two dirs would each set the passwords their own way); STATE_DIR/roles for an external server."""
    from salesdw.warehouse.connection import embedded

    server, external = embedded(), os.environ.get("WAREHOUSE_URL")
    if external:
        parts = urlsplit(external)
        local = parts.hostname in ("127.0.0.1", "localhost") and parts.port == server.port
        if not (local and server.initialized()):
            return paths.STATE_DIR / "roles"
    return server.state_dir


def password_variable(login: str) -> str:
    return f"SALESDW_{login.upper()}_PASSWORD"


def password(login: str, secrets_dir: Path | None = None, *, create: bool = False) -> str:
    """The password of a login ('loader', 'transformer', 'bi', 'airflow'): from the environment, else
    its file; `create` generates the file the first time (set-up does, nothing else)."""
    from_env = os.environ.get(password_variable(login))
    if from_env:
        return from_env
    secrets_dir = Path(secrets_dir or default_secrets_dir())
    path = secrets_dir / f"{_role_name(login)}.password"
    if path.exists():
        return path.read_text().strip()
    if not create:
        first = (
            f"`salesdw db dev {login[len(DEVELOPER) :]}`"
            if login.startswith(DEVELOPER)
            else "`salesdw db start` (embedded) or `salesdw db init` (WAREHOUSE_URL)"
        )
        raise RolesError(
            f"no password for {_role_name(login)}: {path} does not exist and {password_variable(login)} is not set;"
            f" run {first} first, or set the variable"
        )
    secrets_dir.mkdir(parents=True, exist_ok=True)
    generated = secrets.token_urlsafe(24)
    # created 0600 at once: never readable by others, not even for an instant
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(generated + "\n")
    return generated


def _role_name(login: str) -> str:
    if login == "airflow":
        return AIRFLOW_LOGIN
    if login.startswith(DEVELOPER):
        return f"salesdw_{login}"
    if login not in LOGINS:
        raise ValueError(f"unknown role {login!r}: expected one of {', '.join([*LOGINS, ADMIN])}")
    return LOGINS[login]


def _scram_matches(verifier: str | None, secret: str) -> bool:
    """Whether pg_authid's SCRAM-SHA-256 verifier was made from `secret` (RFC 5802: StoredKey =
    H(HMAC(PBKDF2(secret, salt, i), "Client Key"))), so an unchanged password is not rewritten."""
    try:
        scheme, rest = verifier.split("$", 1)
        head, keys = rest.split("$")
        iterations, salt = head.split(":")
        stored = base64.b64decode(keys.split(":")[0])
        if scheme != "SCRAM-SHA-256":
            return False
        salted = hashlib.pbkdf2_hmac("sha256", secret.encode(), base64.b64decode(salt), int(iterations))
    except (AttributeError, ValueError):  # no password, md5, or not a verifier at all
        return False
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored)


# -- URLs ---------------------------------------------------------------------------------------
def role_url(role: str, admin_url: str | None = None, *, secrets_dir: Path | None = None) -> str:
    """A libpq URL for `role` (loader, transformer, bi or admin) on the admin URL's host, port and
    database; the admin URL defaults to the warehouse's (the embedded server, or WAREHOUSE_URL)."""
    if admin_url is None:
        from salesdw.warehouse.connection import warehouse_url

        admin_url = warehouse_url()
    if role == ADMIN:
        return admin_url
    return _with_login(admin_url, _role_name(role), password(role, secrets_dir))


def _with_login(url: str, user: str, secret: str, dbname: str | None = None) -> str:
    parts = urlsplit(url)
    where = parts.netloc.rsplit("@", 1)[-1]  # host:port as given (IPv6 brackets kept)
    netloc = f"{quote(user, safe='')}:{quote(secret, safe='')}@{where}"
    return parts._replace(netloc=netloc, path=f"/{dbname}" if dbname else parts.path).geturl()


def _ensure_settings(conn, role: str, settings: dict[str, str]) -> None:
    """`alter role ... set` for each setting the role does not have yet (in every database)."""
    from psycopg import sql

    row = conn.execute(
        "select setconfig from pg_db_role_setting where setrole = to_regrole(%s) and setdatabase = 0", [role]
    ).fetchone()
    current = dict(item.split("=", 1) for item in (row[0] if row else []))
    for name, value in settings.items():
        if current.get(name) != value:
            conn.execute(
                sql.SQL("alter role {} set {} = {}").format(
                    sql.Identifier(role), sql.Identifier(name), sql.Literal(value)
                )
            )


# -- set-up -------------------------------------------------------------------------------------
def set_up(admin_url: str | None = None, *, secrets_dir: Path | None = None) -> None:
    """Create or correct the roles, schemas, ownership and privileges of the warehouse database at
    `admin_url` (a superuser's URL; default: the warehouse's). Idempotent; changes only what differs."""
    import psycopg
    from psycopg import sql

    from salesdw.orchestrate.dbt_results import DBT_RESULTS_DDL
    from salesdw.publish.publications import DDL as PUBLICATIONS_DDL
    from salesdw.quality.results import DQ_DDL
    from salesdw.transform.clv_baseline import DDL as CLV_BASELINE_DDL

    if admin_url is None:
        from salesdw.warehouse.connection import warehouse_url

        admin_url = warehouse_url()
    try:
        with psycopg.connect(admin_url) as conn, conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext('salesdw.warehouse.roles'))")
            for login in LOGINS:
                _ensure_role(conn, LOGINS[login], password(login, secrets_dir, create=True))
            _ensure_role(conn, PII_ROLE, None)
            for login, settings in ROLE_SETTINGS.items():
                _ensure_settings(conn, LOGINS[login], settings)
            db = sql.Identifier(conn.info.dbname)
            logins = sql.SQL(", ").join(sql.Identifier(name) for name in LOGINS.values())
            conn.execute(sql.SQL("revoke connect on database {} from public").format(db))
            conn.execute(sql.SQL("grant connect on database {} to {}").format(db, logins))
            conn.execute(sql.SQL("grant create on database {} to {}").format(db, sql.Identifier(LOGINS["loader"])))
            conn.execute("revoke create on schema public from public")  # PostgreSQL < 15 grants it
            for schema, login in SCHEMA_OWNERS.items():
                _own_schema(conn, schema, LOGINS[login])
            conn.execute(sql.SQL("set local role {}").format(sql.Identifier(LOGINS["loader"])))
            conn.execute(DQ_DDL)
            conn.execute(PUBLICATIONS_DDL)
            conn.execute(DBT_RESULTS_DDL)
            conn.execute(sql.SQL("set local role {}").format(sql.Identifier(LOGINS["transformer"])))
            conn.execute(CLV_BASELINE_DDL)
            conn.execute("reset role")
            for login, schemas in READS.items():
                for schema in schemas:
                    _grant_reads(conn, schema, LOGINS[SCHEMA_OWNERS[schema]], LOGINS[login])
            for table, privileges in TRANSFORMER_WRITES.items():
                conn.execute(
                    sql.SQL("grant {} on {} to {}").format(
                        sql.SQL(privileges), sql.Identifier(*table.split(".")), sql.Identifier(LOGINS["transformer"])
                    )
                )
    except psycopg.errors.InsufficientPrivilege as exc:
        user = urlsplit(admin_url).username
        raise RolesError(
            f"setting up the warehouse's roles needs a superuser; {user!r} was refused ({exc.diag.message_primary}):"
            " give `salesdw db init` the owner's URL in WAREHOUSE_URL"
        ) from None


def _ensure_role(conn: psycopg.Connection, name: str, secret: str | None) -> None:
    """A role with exactly the login it needs and no other attribute; its password when it logs in."""
    from psycopg import sql

    found = conn.execute(
        "select rolcanlogin, rolsuper or rolcreatedb or rolcreaterole or rolreplication or rolbypassrls, rolpassword"
        " from pg_authid where rolname = %s",
        [name],
    ).fetchone()
    login = sql.SQL("login" if secret else "nologin")
    attributes = sql.SQL("{} nosuperuser nocreatedb nocreaterole noreplication nobypassrls").format(login)
    if found is None:
        conn.execute(sql.SQL("create role {} {}").format(sql.Identifier(name), attributes))
    elif found[0] != bool(secret) or found[1]:
        conn.execute(sql.SQL("alter role {} {}").format(sql.Identifier(name), attributes))
    if secret and not (found and _scram_matches(found[2], secret)):
        # libpq hashes it: the server gets the verifier, never the password
        verifier = conn.pgconn.encrypt_password(secret.encode(), name.encode(), b"scram-sha-256").decode()
        conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(name), sql.Literal(verifier)))


def _own_schema(conn: psycopg.Connection, schema: str, owner: str) -> None:
    """The schema exists, `owner` owns it and everything in it (earlier warehouses: the superuser)."""
    from psycopg import sql

    current = conn.execute("select pg_get_userbyid(nspowner) from pg_namespace where nspname = %s", [schema]).fetchone()
    if current is None:
        conn.execute(sql.SQL("create schema {} authorization {}").format(sql.Identifier(schema), sql.Identifier(owner)))
        return
    if current[0] != owner:
        conn.execute(sql.SQL("alter schema {} owner to {}").format(sql.Identifier(schema), sql.Identifier(owner)))
    for kind, relation in conn.execute(RELATIONS_OWNED_BY_OTHERS, [schema, owner]).fetchall():
        conn.execute(
            sql.SQL("alter {} {} owner to {}").format(
                sql.SQL(ALTER_OWNER[kind]), sql.SQL(relation), sql.Identifier(owner)
            )
        )


def _grant_reads(conn: psycopg.Connection, schema: str, owner: str, reader: str) -> None:
    """`reader` may read every relation of `schema`, those `owner` creates later included."""
    from psycopg import sql

    ident = {"schema": sql.Identifier(schema), "owner": sql.Identifier(owner), "reader": sql.Identifier(reader)}
    conn.execute(sql.SQL("grant usage on schema {schema} to {reader}").format(**ident))
    conn.execute(
        sql.SQL(
            "alter default privileges for role {owner} in schema {schema} grant select on tables to {reader}"
        ).format(**ident)
    )
    # one by one, and only where missing: raw holds a partition per feed and day
    for (relation,) in conn.execute(RELATIONS_NOT_READABLE, [schema, reader]).fetchall():
        conn.execute(sql.SQL("grant select on {} to {reader}").format(sql.SQL(relation), **ident))


# -- a developer's own schemas ---------------------------------------------------------------------
def developer_schema(name: str) -> str:
    """dbt's `dev` target schema for a developer; the models go to dev_<name>_<schema> beside it."""
    import re

    if not re.fullmatch(DEVELOPER_NAME, name):
        raise RolesError(f"developer name {name!r}: expected lower-case letters, digits and _ ({DEVELOPER_NAME})")
    return f"{DEVELOPER}{name}"


def set_up_developer(admin_url: str, name: str, *, secrets_dir: Path | None = None) -> list[str]:
    """A developer's login and schemas (see the module's doc), made or corrected idempotently with the
    admin URL; returns the schemas."""
    import psycopg
    from psycopg import sql

    base = developer_schema(name)
    login, schemas = _role_name(base), [base, *(f"{base}_{schema}" for schema in DEVELOPER_SCHEMAS)]
    with psycopg.connect(admin_url) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('salesdw.warehouse.roles'))")
        _ensure_role(conn, login, password(base, secrets_dir, create=True))
        conn.execute(
            sql.SQL("grant connect on database {} to {}").format(
                sql.Identifier(conn.info.dbname), sql.Identifier(login)
            )
        )
        for schema in schemas:
            _own_schema(conn, schema, login)
        for schema in DEVELOPER_READS:
            _grant_reads(conn, schema, LOGINS[SCHEMA_OWNERS[schema]], login)
    return schemas


# -- Airflow's metadata database (embedded server) ------------------------------------------------
def airflow_database_url(admin_url: str, *, secrets_dir: Path | None = None) -> str:
    """The libpq URL of the `airflow` database, owned by its own login (not a superuser) and closed
    to every other login but the admin's. An `airflow` database owned by anyone else is dropped and
    made again: it holds only local `airflow dags test` state, and `ensure_airflow_db` re-migrates
    (its stamp holds the URL, which changes with the owner)."""
    import psycopg
    from psycopg import sql

    secret = password("airflow", secrets_dir, create=True)
    ident = {"db": sql.Identifier(AIRFLOW_DB), "login": sql.Identifier(AIRFLOW_LOGIN)}
    maintenance = urlsplit(admin_url)._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext('salesdw.warehouse.roles'))")
            _ensure_role(conn, AIRFLOW_LOGIN, secret)
        found = conn.execute(
            "select pg_get_userbyid(datdba), coalesce(datacl::text[], '{}') from pg_database where datname = %s",
            [AIRFLOW_DB],
        ).fetchone()
        if found and found[0] != AIRFLOW_LOGIN:
            conn.execute(sql.SQL("drop database {db} with (force)").format(**ident))
            found = None
        if found is None:
            conn.execute(sql.SQL("create database {db} owner {login}").format(**ident))
        if found is None or any(acl.startswith("=") for acl in found[1]) or not found[1]:
            # no ACL at all means PostgreSQL's default, which lets PUBLIC connect
            conn.execute(sql.SQL("revoke connect, temporary on database {db} from public").format(**ident))
    return _with_login(admin_url, AIRFLOW_LOGIN, secret, dbname=AIRFLOW_DB)
