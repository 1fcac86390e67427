"""Least privilege, against a real server: each login can do its job and no more, grants and BI
users' views survive publications, person data reaches BI masked (warehouse/roles.py, publish/)."""

import stat
import time
import uuid

import psycopg
import pytest
from psycopg import sql
from salesdw.manifest import marts, nodes
from salesdw.publish.publications import (
    PublicationError,
    build_schema_of,
    prune_versions,
    publish,
    published_table,
    swap_in,
)
from salesdw.quality.results import record_results
from salesdw.warehouse import roles

NOT_FOR_BI = ("raw", "staging", "intermediate", "marts_build_a", "marts_build_b", "audit", "marts_versions", "ml")
PERSON = "Alice Wang"


class Warehouse:
    """A database of the test server, set up; a URL per role."""

    def __init__(self, server, url: str):
        self.server, self.admin = server, url
        self.people: list[str] = []

    def url(self, role: str) -> str:
        return roles.role_url(role, self.admin, secrets_dir=self.server.state_dir)

    def set_up(self) -> None:
        roles.set_up(self.admin, secrets_dir=self.server.state_dir)

    def person(self, name: str, *groups: str) -> str:
        """A person's login, member of `groups`, with a schema of their own; their URL."""
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(sql.SQL("create role {} login password 'pw-of-a-person'").format(sql.Identifier(name)))
            for group in groups:
                conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(group), sql.Identifier(name)))
            conn.execute(sql.SQL("create schema {0} authorization {0}").format(sql.Identifier(name)))
        self.people.append(name)
        return roles._with_login(self.admin, name, "pw-of-a-person")


@pytest.fixture
def wh(warehouse, fresh_db):
    made = Warehouse(warehouse, fresh_db)
    made.set_up()  # also puts the cluster's passwords back to the session's, should a test change one
    yield made
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        for name in made.people:  # roles are the cluster's: drop them with what they own here
            conn.execute(sql.SQL("drop owned by {0}; drop role {0}").format(sql.Identifier(name)))


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _build_marts(url: str, version: int = 1) -> None:
    """What dbt (as the transformer) leaves in tonight's build schema: every published mart with the columns its model
    declares, one row; the person-data columns hold a name."""
    models = nodes("model")
    schema = build_schema_of(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for mart in marts():
            columns = models[mart]["columns"] or {"id": {"data_type": "integer"}}
            table = sql.Identifier(schema, mart)
            conn.execute(sql.SQL("drop table if exists {}").format(table))
            conn.execute(
                sql.SQL("create table {} ({}, _version integer default {})").format(
                    table,
                    sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(column.get("data_type") or "text"))
                        for name, column in columns.items()
                    ),
                    sql.Literal(version),
                )
            )
            named = [name for name in ("rep_name", "member_name") if name in columns]
            conn.execute(
                sql.SQL("insert into {} ({}) values ({})").format(
                    table,
                    sql.SQL(", ").join(sql.Identifier(n) for n in [*named, "_version"]),
                    sql.SQL(", ").join(sql.Literal(v) for v in [*([PERSON] * len(named)), version]),
                )
            )
            conn.execute(sql.SQL("comment on table {} is {}").format(table, sql.Literal(f"{mart}, the mart")))
            for name, column in columns.items():
                if column.get("description"):
                    conn.execute(
                        sql.SQL("comment on column {} is {}").format(
                            sql.Identifier(schema, mart, name), sql.Literal(column["description"])
                        )
                    )


def _refused(url: str, statement: str) -> bool:
    with psycopg.connect(url) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            return True
    return False


def _snapshot(url: str) -> list:
    """What set-up decides: roles (and their password verifiers), owners, ACLs, default ACLs, the
    roles' settings (with the xmin of their row: rewritten even when set to the same value)."""
    with psycopg.connect(url) as conn:
        return [
            conn.execute(
                "select setrole::regrole::text, setconfig::text, xmin::text from pg_db_role_setting order by 1"
            ).fetchall(),
            conn.execute(
                "select rolname, rolcanlogin, rolsuper, rolpassword from pg_authid where rolname like 'salesdw%'"
                " order by 1"
            ).fetchall(),
            conn.execute("select datacl::text from pg_database where datname = current_database()").fetchall(),
            conn.execute(
                "select nspname, nspowner::regrole::text, nspacl::text from pg_namespace order by 1"
            ).fetchall(),
            conn.execute(
                "select c.oid::regclass::text, relowner::regrole::text, relacl::text from pg_class c"
                " where relnamespace::regnamespace::text in ('raw', 'audit', 'marts') order by 1"
            ).fetchall(),
            conn.execute(
                "select defaclrole::regrole::text, defaclnamespace, defaclacl::text from pg_default_acl order by 1, 2"
            ).fetchall(),
        ]


def test_set_up_is_idempotent_and_quick(wh):
    before = _snapshot(wh.admin)
    started = time.monotonic()
    wh.set_up()
    took = time.monotonic() - started
    assert _snapshot(wh.admin) == before  # a second set-up changes nothing, passwords included
    assert took < 2, f"set-up took {took:.2f} s"
    with psycopg.connect(wh.url("transformer")) as conn:  # the transformer's own settings
        assert conn.execute("show work_mem").fetchone()[0] == roles.ROLE_SETTINGS["transformer"]["work_mem"]


def test_each_login_is_what_it_says(wh):
    with psycopg.connect(wh.admin) as conn:
        found = {
            name: (login, powers)
            for name, login, powers in conn.execute(
                "select rolname, rolcanlogin, rolsuper or rolcreaterole or rolcreatedb or rolbypassrls"
                " from pg_roles where rolname = any(%s)",
                [[*roles.LOGINS.values(), roles.PII_ROLE]],
            ).fetchall()
        }
        owners = dict(
            conn.execute(
                "select nspname, nspowner::regrole::text from pg_namespace where nspname = any(%s)",
                [list(roles.SCHEMA_OWNERS)],
            ).fetchall()
        )
    assert found == {name: (True, False) for name in roles.LOGINS.values()} | {roles.PII_ROLE: (False, False)}
    assert owners == {schema: roles.LOGINS[login] for schema, login in roles.SCHEMA_OWNERS.items()}
    for role in roles.LOGINS:
        with psycopg.connect(wh.url(role)) as conn:
            assert conn.execute("select current_user").fetchone() == (roles.LOGINS[role],)
    assert wh.url("admin") == wh.admin


def test_the_loader_lands_raw_tables_partitions_and_audit(wh):
    from salesdw.extract import windows

    loader = wh.url("loader")
    with psycopg.connect(loader, autocommit=True) as conn:
        # what the loader's code runs (load/ddl.py, load/batch.py, extract/windows.py)
        conn.execute("create schema if not exists raw; create schema if not exists audit")
        conn.execute(
            "create table if not exists raw.crm__reps (rep_id text, email text, _batch_date date not null)"
            " partition by list (_batch_date)"
        )
        conn.execute("create table raw.crm__reps__20260101 (like raw.crm__reps)")
        conn.execute("insert into raw.crm__reps__20260101 values ('R1', 'alice@example.com', '2026-01-01')")
        conn.execute("alter table raw.crm__reps attach partition raw.crm__reps__20260101 for values in ('2026-01-01')")
        conn.execute("create table if not exists audit.load_batches (batch_id text primary key, rows bigint)")
        conn.execute("insert into audit.load_batches values ('b1', 1)")
        windows.ensure_tables(conn)
        record_results(
            loader,
            "run1",
            ["raw.crm__reps"],
            [("run1", "2026-01-01", "raw.crm__reps", "crm__reps", "expect_x", "{}", "critical", True, "{}")],
        )  # the feeds gate runs as the loader
        assert _refused(loader, "create table staging.x (a int)")
        assert _refused(loader, "select * from marts_build_a.fct_bookings")
    # what the loader made later is the transformer's to read, with no new grant
    with psycopg.connect(wh.url("transformer")) as conn:
        assert conn.execute("select email from raw.crm__reps").fetchall() == [("alice@example.com",)]
        assert conn.execute("select count(*) from audit.load_batches").fetchone() == (1,)
        assert conn.execute("select count(*) from audit.extract_windows").fetchone() == (0,)
    assert _refused(wh.url("transformer"), "insert into raw.crm__reps values ('R2', 'x', '2026-01-01')")
    assert _refused(wh.url("bi"), "select email from raw.crm__reps")


def test_the_transformer_builds_checks_and_publishes(wh, dbt_manifest):
    with psycopg.connect(wh.url("loader"), autocommit=True) as conn:
        conn.execute("create table raw.crm__reps (rep_id text, full_name text)")
        conn.execute("insert into raw.crm__reps values ('R1', %s)", [PERSON])
    transformer = wh.url("transformer")
    with psycopg.connect(transformer, autocommit=True) as conn:  # as dbt does
        conn.execute("create view staging.stg_crm__reps as select rep_id, full_name as rep_name from raw.crm__reps")
        conn.execute("create table intermediate.int_x as select * from staging.stg_crm__reps")
        conn.execute("create table marts_build_a.x as select * from intermediate.int_x")
        # a failed test's rows, as dbt keeps them (store_failures_as: view)
        conn.execute("create view dbt_test__audit.x as select * from marts_build_a.x where rep_id is null")
        conn.execute("drop table marts_build_a.x cascade")
    record_results(
        transformer,
        "run1",
        ["marts.x"],
        [("run1", "2026-01-01", "marts.x", "x", "expect_x", "{}", "critical", True, "{}")],
    )  # dbt source freshness, into a table set-up made: no CREATE on audit needed
    _build_marts(wh.url("transformer"))
    published = publish(transformer, "2026-01-01", run_id="run1")
    assert set(published["mart_rows"]) == set(marts())
    with psycopg.connect(transformer) as conn:
        assert conn.execute("select count(*) from audit.publications").fetchone() == (1,)
        assert conn.execute("select count(*) from audit.dq_results").fetchone() == (1,)
    assert _refused(transformer, f"create schema {_name('anything')}")  # no CREATE on the database
    assert _refused(transformer, "drop table audit.dq_results")
    assert _refused(transformer, "delete from audit.publications")


def test_bi_reads_every_mart_and_nothing_else(wh, dbt_manifest):
    with psycopg.connect(wh.url("loader"), autocommit=True) as conn:
        conn.execute("create table raw.crm__reps (rep_id text, email text)")
    with psycopg.connect(wh.url("transformer"), autocommit=True) as conn:
        conn.execute("create view staging.stg_crm__reps as select * from raw.crm__reps")
        conn.execute("create table intermediate.int_reps as select * from staging.stg_crm__reps")
    _build_marts(wh.url("transformer"))
    publish(wh.url("transformer"), "2026-01-01", run_id="run1")
    _build_marts(wh.url("transformer"), version=2)  # the next night's build, not published
    bi = wh.url("bi")
    with psycopg.connect(bi) as conn:
        for mart in marts():
            rows = conn.execute(sql.SQL("select count(*) from marts.{}").format(sql.Identifier(mart))).fetchone()
            assert rows == (1,), mart
        assert published_table(conn, "dim_sales_rep") == "marts_build_a.dim_sales_rep"
    elsewhere = {
        "raw": "raw.crm__reps",
        "staging": "staging.stg_crm__reps",
        "intermediate": "intermediate.int_reps",
        "marts_build_a": "marts_build_a.dim_sales_rep",  # what marts' views read: only through them
        "marts_build_b": "marts_build_b.dim_sales_rep",
        "audit": "audit.publications",
        "marts_versions": "marts_versions._pseudonym_key",
        "ml": "ml.clv_btyd_fits",
    }
    assert set(elsewhere) == set(NOT_FOR_BI)
    for table in elsewhere.values():
        assert _refused(bi, f"select * from {table}"), f"salesdw_bi reads {table}"
    assert _refused(bi, "create table public.mine (a int)")
    assert _refused(bi, "create table marts.mine (a int)")
    assert _refused(bi, "drop view marts.dim_sales_rep")  # nor can it drop anything


def test_no_warehouse_login_reaches_airflows_database(warehouse, wh):
    airflow_url = roles.airflow_database_url(warehouse.url(), secrets_dir=warehouse.state_dir)
    assert roles.airflow_database_url(warehouse.url(), secrets_dir=warehouse.state_dir) == airflow_url
    with psycopg.connect(airflow_url) as conn:
        assert conn.execute("select current_user, rolsuper from pg_roles where rolname = current_user").fetchone() == (
            roles.AIRFLOW_LOGIN,
            False,
        )
        assert conn.execute(
            "select pg_get_userbyid(datdba) from pg_database where datname = current_database()"
        ).fetchone() == (roles.AIRFLOW_LOGIN,)
    for role in roles.LOGINS:
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(roles.role_url(role, warehouse.url(roles.AIRFLOW_DB), secrets_dir=warehouse.state_dir))


def test_an_airflow_database_of_an_earlier_version_is_made_again(warehouse, tmp_path):
    with psycopg.connect(warehouse.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(roles.AIRFLOW_DB)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(roles.AIRFLOW_DB)))  # the superuser's
    url = roles.airflow_database_url(warehouse.url(), secrets_dir=warehouse.state_dir)
    with psycopg.connect(url) as conn:
        owner, acl = conn.execute(
            "select pg_get_userbyid(datdba), datacl::text[] from pg_database where datname = current_database()"
        ).fetchone()
    assert owner == roles.AIRFLOW_LOGIN
    assert not [entry for entry in acl if entry.startswith("=")]  # PUBLIC may not connect


def test_grants_survive_two_publications(wh, dbt_manifest):
    reader = _name("report_reader")
    _build_marts(wh.url("transformer"))
    transformer = wh.url("transformer")
    publish(transformer, "2026-01-01", run_id="run1")
    with psycopg.connect(wh.admin, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {}").format(sql.Identifier(reader)))
        conn.execute(
            sql.SQL("grant usage on schema marts to {0}; grant select on marts.fct_bookings to {0}").format(
                sql.Identifier(reader)
            )
        )
    try:
        for day in ("2026-01-02", "2026-01-03"):
            _build_marts(wh.url("transformer"), version=2)
            publish(transformer, day, run_id=f"run-{day}")
        with psycopg.connect(wh.admin) as conn:
            assert conn.execute(
                "select has_table_privilege(%s, 'marts.fct_bookings', 'select')", [reader]
            ).fetchone() == (True,)
            assert conn.execute("select _version from marts.fct_bookings").fetchone() == (2,)
        with psycopg.connect(wh.url("bi")) as conn:
            for mart in marts():
                conn.execute(sql.SQL("select * from marts.{}").format(sql.Identifier(mart)))
            described = conn.execute("select obj_description('marts.fct_bookings'::regclass, 'pg_class')")
            assert described.fetchone() == ("fct_bookings, the mart",)  # what BI tools show
    finally:
        with psycopg.connect(wh.admin, autocommit=True) as conn:
            conn.execute(sql.SQL("drop owned by {0}; drop role {0}").format(sql.Identifier(reader)))


def test_a_bi_persons_view_survives_two_publications(wh, dbt_manifest):
    person = _name("analyst")
    analyst = wh.person(person, roles.LOGINS["bi"])
    _build_marts(wh.url("transformer"))
    transformer = wh.url("transformer")
    publish(transformer, "2026-01-01", run_id="run1")
    with psycopg.connect(analyst, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create view {}.my_bookings as select * from marts.fct_bookings").format(sql.Identifier(person))
        )
    for version, day in ((2, "2026-01-02"), (3, "2026-01-03")):
        _build_marts(wh.url("transformer"), version=version)
        publish(transformer, day, run_id=f"run-{day}")  # does not fail on the view
        with psycopg.connect(analyst) as conn:
            assert conn.execute(
                sql.SQL("select _version from {}.my_bookings").format(sql.Identifier(person))
            ).fetchone() == (version,)


def test_person_data_is_masked_for_bi_and_shown_to_the_pii_group(wh, dbt_manifest):
    transformer = wh.url("transformer")
    _build_marts(wh.url("transformer"))
    publish(transformer, "2026-01-01", run_id="run1")
    unmasked = wh.person(_name("hr"), roles.LOGINS["bi"], roles.PII_ROLE)
    queries = {
        "dim_sales_rep": "select rep_name from marts.dim_sales_rep",
        "rep_scorecard": "select rep_name from marts.rep_scorecard",
        "target_attainment": "select rep_name from marts.target_attainment",
        "target_attainment_rollup": "select member_name from marts.target_attainment_rollup",
    }

    def seen(url):
        with psycopg.connect(url) as conn:
            return {mart: conn.execute(query).fetchone()[0] for mart, query in queries.items()}

    masked = seen(wh.url("bi"))
    assert len(set(masked.values())) == 1  # one pseudonym for one person, in every mart
    pseudonym = masked["dim_sales_rep"]
    assert pseudonym.startswith("person-") and PERSON not in pseudonym
    assert set(seen(unmasked).values()) == {PERSON}
    assert set(seen(wh.admin).values()) == {PERSON}  # a superuser counts as a member
    _build_marts(wh.url("transformer"), version=2)
    publish(transformer, "2026-01-02", run_id="run2")
    assert seen(wh.url("bi"))["dim_sales_rep"] == pseudonym  # stable across publications
    with psycopg.connect(wh.url("bi")) as conn:  # the column's description comes along
        assert (
            "Person data"
            in conn.execute(
                "select col_description('marts.dim_sales_rep'::regclass, attnum) from pg_attribute"
                " where attrelid = 'marts.dim_sales_rep'::regclass and attname = 'rep_name'"
            ).fetchone()[0]
        )


def _small_mart(url: str, columns: str, values: str) -> None:
    schema = build_schema_of(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"drop table if exists {schema}.fct_small")
        conn.execute(f"create table {schema}.fct_small ({columns})")
        conn.execute(f"insert into {schema}.fct_small values {values}")


def _publish_small(url: str) -> None:
    with psycopg.connect(url) as conn:
        with conn.transaction():
            swap_in(conn, ("fct_small",), pii={})
        prune_versions(conn)


def test_an_incompatible_column_change_stops_the_publication_naming_the_views(wh):
    person = _name("analyst")
    analyst = wh.person(person, roles.LOGINS["bi"])
    transformer = wh.url("transformer")
    _small_mart(wh.url("transformer"), "id integer, amount numeric", "(1, 10)")
    _publish_small(transformer)
    with psycopg.connect(analyst, autocommit=True) as conn:
        conn.execute(f"create view {person}.big as select id from marts.fct_small where amount > 5")
    _small_mart(wh.url("transformer"), "id integer, amount numeric, note text", "(2, 20, 'x')")
    _publish_small(transformer)  # a column added at the end: the view follows
    # a deploy renamed a column
    _small_mart(wh.url("transformer"), "id integer, amount_cny numeric, note text", "(3, 30, 'y')")
    with pytest.raises(PublicationError) as raised:
        _publish_small(transformer)
    message = str(raised.value)
    assert f"{person}.big" in message and "marts.fct_small" in message and '"amount"' in message
    assert "\n" not in message and message.count(". ") == 0  # one sentence
    with psycopg.connect(analyst) as conn:  # nothing published, the view still works
        assert conn.execute(f"select * from {person}.big").fetchall() == [(2,)]
    with psycopg.connect(analyst, autocommit=True) as conn:
        conn.execute(f"drop view {person}.big")
    _publish_small(transformer)  # without dependent views the view is made again, grants and all
    with psycopg.connect(wh.url("bi")) as conn:
        assert conn.execute("select id, amount_cny from marts.fct_small").fetchall() == [(3, 30)]


def test_an_earlier_warehouse_is_taken_over(warehouse, fresh_db):
    """Everything owned by the superuser, marts as tables: set-up reassigns, the first publication
    replaces the tables by views, keeping their grants."""
    reader = _name("legacy_reader")
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("create schema raw; create table raw.crm__reps (rep_id text) partition by list (rep_id)")
        conn.execute("create table raw.crm__reps_r1 partition of raw.crm__reps for values in ('R1')")
        conn.execute("create schema audit; create table audit.dq_results (run_id text)")  # an older shape: kept
        conn.execute("create schema marts_build_a; create table marts_build_a.fct_small (id serial primary key)")
        conn.execute("insert into marts_build_a.fct_small default values")
        conn.execute("create schema marts; create table marts.fct_small as select * from marts_build_a.fct_small")
        conn.execute(
            sql.SQL(
                "create role {0}; grant usage on schema marts to {0}; grant select on marts.fct_small to {0}"
            ).format(sql.Identifier(reader))
        )
    wh = Warehouse(warehouse, fresh_db)
    try:
        wh.set_up()
        with psycopg.connect(fresh_db) as conn:
            owners = dict(
                conn.execute(
                    "select c.oid::regclass::text, relowner::regrole::text from pg_class c"
                    " where relnamespace::regnamespace::text in ('raw', 'audit', 'marts_build_a', 'marts')"
                    " and relkind in ('r', 'p', 'S')"
                ).fetchall()
            )
        assert owners == {
            "raw.crm__reps": "salesdw_loader",
            "raw.crm__reps_r1": "salesdw_loader",
            "audit.dq_results": "salesdw_loader",
            "audit.publications": "salesdw_loader",
            "audit.dbt_results": "salesdw_loader",
            "marts_build_a.fct_small": "salesdw_transformer",
            "marts_build_a.fct_small_id_seq": "salesdw_transformer",
            "marts.fct_small": "salesdw_transformer",
        }
        _publish_small(wh.url("transformer"))
        with psycopg.connect(fresh_db) as conn:
            assert conn.execute("select relkind from pg_class where oid = 'marts.fct_small'::regclass").fetchone() == (
                "v",
            )
            assert conn.execute("select has_table_privilege(%s, 'marts.fct_small', 'select')", [reader]).fetchone() == (
                True,
            )
        with psycopg.connect(wh.url("bi")) as conn:
            assert conn.execute("select count(*) from marts.fct_small").fetchone() == (1,)
    finally:
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            conn.execute(sql.SQL("drop owned by {0}; drop role {0}").format(sql.Identifier(reader)))


def test_passwords_come_from_the_environment_or_are_made_once(wh, monkeypatch, tmp_path):
    for login in roles.LOGINS:  # conftest gives the session's tests one password each: not here
        monkeypatch.delenv(roles.password_variable(login), raising=False)
    monkeypatch.setenv(roles.password_variable("bi"), "from-the-environment")
    roles.set_up(wh.admin, secrets_dir=tmp_path)
    assert not (tmp_path / "salesdw_bi.password").exists()  # an environment password is not kept
    made = (tmp_path / "salesdw_loader.password").read_text().strip()
    assert stat.S_IMODE((tmp_path / "salesdw_loader.password").stat().st_mode) == 0o600
    assert roles.role_url("loader", wh.admin, secrets_dir=tmp_path).split("@")[0].endswith(made)
    bi = roles.role_url("bi", wh.admin, secrets_dir=tmp_path)
    assert "from-the-environment" in bi
    with psycopg.connect(bi) as conn:
        assert conn.execute("select current_user").fetchone() == ("salesdw_bi",)
    roles.set_up(wh.admin, secrets_dir=tmp_path)
    assert (tmp_path / "salesdw_loader.password").read_text().strip() == made  # made once
    monkeypatch.delenv(roles.password_variable("bi"))
    with pytest.raises(roles.RolesError, match="SALESDW_BI_PASSWORD"):
        roles.role_url("bi", wh.admin, secrets_dir=tmp_path / "elsewhere")
    monkeypatch.undo()
    wh.set_up()  # the session's passwords again, for the tests after this one


def test_a_developer_builds_in_their_own_schemas_and_nowhere_else(wh):
    """`salesdw db dev NAME`: dbt's dev target writes dev_<name>_* as the developer's own login, reads
    the sources (raw, audit, ml) and can neither change nor read what the pipeline and BI use."""
    name = _name("ana")
    schemas = roles.set_up_developer(wh.admin, name, secrets_dir=wh.server.state_dir)
    wh.people.append(f"salesdw_dev_{name}")  # dropped with what it owns after the test
    assert roles.set_up_developer(wh.admin, name, secrets_dir=wh.server.state_dir) == schemas  # idempotent
    assert schemas == [
        f"dev_{name}",
        *(f"dev_{name}_{s}" for s in ("staging", "intermediate", "marts", "dbt_test__audit")),
    ]
    with psycopg.connect(wh.url("loader"), autocommit=True) as conn:
        conn.execute("create table raw.crm__reps (rep_id text)")  # landed after the developer was set up
        conn.execute("insert into raw.crm__reps values ('R1')")
    _build_marts(wh.url("transformer"))
    dev = wh.url(f"dev_{name}")
    with psycopg.connect(dev, autocommit=True) as conn:
        conn.execute(f"create table dev_{name}_staging.stg_crm__reps as select * from raw.crm__reps")
        assert conn.execute(f"select rep_id from dev_{name}_staging.stg_crm__reps").fetchall() == [("R1",)]
        assert conn.execute("select count(*) from audit.publications").fetchone() == (0,)
        assert conn.execute("select count(*) from ml.clv_btyd_predictions").fetchone() == (0,)
    for statement in (
        "create table staging.x (id int)",
        "create table marts_build_a.x (id int)",
        "select * from marts_build_a.dim_sales_rep",
        "select * from marts.dim_sales_rep",
        "insert into raw.crm__reps values ('R2')",
        "delete from ml.clv_btyd_fits",
        f"create schema dev_{name}_more",
    ):
        assert _refused(dev, statement), statement
    with pytest.raises(roles.RolesError, match="developer name"):
        roles.set_up_developer(wh.admin, "Robert'); drop", secrets_dir=wh.server.state_dir)
