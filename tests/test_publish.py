"""Write-audit-publish, blue/green: BI reads schema marts, which changes only whole, in one
transaction, by pointing its views at the build schema dbt just filled; nothing is copied."""

import threading
import time

import psycopg
import pytest
from salesdw.publish import publications
from salesdw.publish.publications import PublicationError, build_schema, prune_versions, published_table, swap_in

MARTS = ("fct_big", "dim_small")


def _build(conn, version: int, rows: int = 300_000) -> str:
    """What a dbt run leaves in tonight's build schema (the one marts does not read): every mart
    holding `version`; returns that schema."""
    schema = build_schema(conn)
    conn.execute(f"create schema if not exists {schema}")
    for mart in MARTS:
        conn.execute(f"drop table if exists {schema}.{mart}")
        conn.execute(f"create table {schema}.{mart} (id integer primary key, version integer not null)")
        conn.execute(f"comment on table {schema}.{mart} is 'version {version}'")
        conn.execute(f"insert into {schema}.{mart} select g, {version} from generate_series(1, {rows}) g")
    return schema


def _publish(url: str, marts: tuple[str, ...] = MARTS) -> list[str]:
    """As publish() does: every view at once, then the versions no view reads are pruned."""
    with psycopg.connect(url) as conn:
        with conn.transaction():
            swap_in(conn, marts, pii={})
        return prune_versions(conn)


def test_readers_see_the_old_or_the_new_publication_never_a_mix(fresh_db):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _build(conn, 1)
    _publish(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _build(conn, 2)  # the next night's build, not yet audited: BI must not see it

    seen, errors, done = [], [], threading.Event()

    def read():
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            while not done.is_set():
                try:  # one statement over both marts, as a BI query joining a fact and a dimension
                    seen.append(
                        conn.execute(
                            "select (select array[min(version), max(version), count(*)] from marts.fct_big),"
                            " (select array[min(version), max(version), count(*)] from marts.dim_small)"
                        ).fetchone()
                    )
                except psycopg.Error as exc:
                    errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        while len(seen) < 5:  # readers are busy with publication 1 when publication 2 starts
            time.sleep(0.01)
        _publish(fresh_db)
        after = len(seen)
        while len(seen) < after + 5:
            time.sleep(0.01)
    finally:
        done.set()
        reader.join()

    assert not errors
    versions = {(big[0], big[1], small[0], small[1]) for big, small in seen}
    assert versions == {(1, 1, 1, 1), (2, 2, 2, 2)}  # both publications seen, never one mart of each
    assert all(big[2] == small[2] == 300_000 for big, small in seen)  # never a half-filled table
    with psycopg.connect(fresh_db) as conn:
        comment = conn.execute("select obj_description('marts.fct_big'::regclass, 'pg_class')").fetchone()[0]
        schema, table = published_table(conn, "fct_big").split(".")
        key = conn.execute(
            "select count(*) from information_schema.table_constraints where table_schema = %s"
            " and table_name = %s and constraint_type = 'PRIMARY KEY'",
            [schema, table],
        ).fetchone()[0]
    # the docs come along on the view BI reads, the contract's key on the built table behind it
    assert comment == "version 2" and key == 1


def test_a_run_that_is_not_published_leaves_marts_byte_for_byte(fresh_db):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _build(conn, 1, rows=1000)
        _publish(fresh_db)
        before = conn.execute("select md5(string_agg(t::text, '|' order by id)) from marts.fct_big t").fetchone()
        _build(conn, 3, rows=10)  # built, then stopped at a gate: publish never runs
        after = conn.execute("select md5(string_agg(t::text, '|' order by id)) from marts.fct_big t").fetchone()
    assert before == after


def test_publication_points_at_the_built_tables_and_the_build_schemas_take_turns(fresh_db):
    built = []
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        for version in (1, 2, 3):
            built.append(_build(conn, version, rows=100))
            _publish(fresh_db)
            # the view reads dbt's own table: no copy, whatever the mart's size
            assert published_table(conn, "fct_big") == f"{built[-1]}.fct_big"
            assert build_schema(conn) != built[-1]  # the next night builds the other one
        assert built == ["marts_build_a", "marts_build_b", "marts_build_a"]
        assert conn.execute("select max(version), count(*) from marts.fct_big").fetchone() == (3, 100)
        copies = conn.execute("select count(*) from pg_tables where schemaname = 'marts_versions'").fetchone()[0]
        assert copies == 0


def test_a_mart_whose_model_is_gone_leaves_marts_unless_a_bi_view_reads_it(fresh_db):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _build(conn, 1, rows=10)
        _publish(fresh_db)
        _build(conn, 2, rows=10)
        _publish(fresh_db)  # both build schemas hold dim_small now
        conn.execute("create view public.small_report as select * from marts.dim_small")
        _build(conn, 3, rows=10)
        with pytest.raises(PublicationError, match=r"marts.dim_small .* no longer under models/marts/.*small_report"):
            _publish(fresh_db, ("fct_big",))  # dim_small's model deleted, a BI user's view still on it
        assert published_table(conn, "dim_small") == "marts_build_b.dim_small"  # nothing published
        conn.execute("drop view public.small_report")
        _publish(fresh_db, ("fct_big",))
        left = conn.execute(
            "select format('%s.%s', schemaname, tablename) from pg_tables where tablename = 'dim_small'"
            " union all select format('%s.%s', schemaname, viewname) from pg_views where viewname = 'dim_small'"
        ).fetchall()
        assert left == []  # its view and the tables dbt left for it in both build schemas
        assert conn.execute("select max(version) from marts.fct_big").fetchone() == (3,)


def test_an_earlier_salesdw_s_versioned_copies_go_once_nothing_reads_them(fresh_db, monkeypatch):
    monkeypatch.setattr(publications, "SWAP_LOCK_TIMEOUT", "10s")  # a wait would fail, not hang the test
    with psycopg.connect(fresh_db, autocommit=True) as conn:  # marts as an earlier salesdw published it
        conn.execute("create schema marts_versions; create schema marts")
        conn.execute("create table marts_versions.fct_big__v7 as select 1 as id, 0 as version")
        conn.execute("create table marts_versions.dim_small__v7 as select 1 as id, 0 as version")
        conn.execute("create view marts.fct_big as select * from marts_versions.fct_big__v7")
        conn.execute("create view marts.dim_small as select * from marts_versions.dim_small__v7")
        _build(conn, 1, rows=100)
    with psycopg.connect(fresh_db) as reader:  # a query on one old copy itself, still running
        assert reader.execute("select max(version) from marts_versions.fct_big__v7").fetchone() == (0,)
        started = time.monotonic()
        dropped = _publish(fresh_db)
        assert time.monotonic() - started < 5  # neither the swap nor the pruning waited for it
        assert dropped == ["marts_versions.dim_small__v7"]
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _build(conn, 2, rows=100)
    assert _publish(fresh_db) == ["marts_versions.fct_big__v7"]  # its reader is gone
