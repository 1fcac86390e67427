"""Write-audit-publish: BI reads schema marts, which changes only whole, in one transaction."""

import threading
import time

import psycopg
from salesdw.publish import publications
from salesdw.publish.publications import prune_versions, published_version, swap_in

MARTS = ("fct_big", "dim_small")


def _build(conn, version: int, rows: int = 300_000) -> None:
    """What a dbt run leaves in marts_build: every mart holding `version`."""
    conn.execute("create schema if not exists marts_build")
    for mart in MARTS:
        conn.execute(f"drop table if exists marts_build.{mart}")
        conn.execute(f"create table marts_build.{mart} (id integer primary key, version integer not null)")
        conn.execute(f"comment on table marts_build.{mart} is 'version {version}'")
        conn.execute(f"insert into marts_build.{mart} select g, {version} from generate_series(1, {rows}) g")


def _publish(url: str) -> list[str]:
    """As publish() does: every view at once, then the versions no view reads are pruned."""
    with psycopg.connect(url) as conn:
        with conn.transaction():
            swap_in(conn, MARTS, pii={})
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
        schema, table = published_version(conn, "fct_big").split(".")
        key = conn.execute(
            "select count(*) from information_schema.table_constraints where table_schema = %s"
            " and table_name = %s and constraint_type = 'PRIMARY KEY'",
            [schema, table],
        ).fetchone()[0]
    # the docs come along on the view BI reads, the contract's key on the versioned table behind it
    assert comment == "version 2" and key == 1


def test_a_run_that_is_not_published_leaves_marts_byte_for_byte(fresh_db):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _build(conn, 1, rows=1000)
        _publish(fresh_db)
        before = conn.execute("select md5(string_agg(t::text, '|' order by id)) from marts.fct_big t").fetchone()
        _build(conn, 3, rows=10)  # built, then stopped at a gate: publish never runs
        after = conn.execute("select md5(string_agg(t::text, '|' order by id)) from marts.fct_big t").fetchone()
    assert before == after


def test_a_version_still_read_is_left_for_the_next_publication_not_waited_for(fresh_db, monkeypatch):
    monkeypatch.setattr(publications, "SWAP_LOCK_TIMEOUT", "10s")  # a wait would fail, not hang the test
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _build(conn, 1, rows=100)
    _publish(fresh_db)
    with psycopg.connect(fresh_db) as conn:
        first = published_version(conn, "fct_big")
    with psycopg.connect(fresh_db) as reader:  # a query on version 1 itself, still running
        assert reader.execute(f"select max(version) from {first}").fetchone() == (1,)
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            _build(conn, 2, rows=100)
        started = time.monotonic()
        dropped = _publish(fresh_db)
        assert time.monotonic() - started < 5  # neither the swap nor the pruning waited for it
        assert first not in dropped and len(dropped) == 1  # dim_small's version 1 went
        assert reader.execute(f"select max(version) from {first}").fetchone() == (1,)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _build(conn, 3, rows=100)
    assert first in _publish(fresh_db)  # its reader is gone: the next publication drops it
    with psycopg.connect(fresh_db) as conn:
        versions = conn.execute(
            "select count(*) from pg_tables where schemaname = 'marts_versions' and tablename like 'fct\\_big\\_\\_v%'"
        ).fetchone()[0]
        assert versions == 1  # only the one marts.fct_big reads
        assert conn.execute("select max(version) from marts.fct_big").fetchone() == (3,)
