"""Publish the audited marts into schema `marts`, whole, in constant time, and record each publication.

Write-audit-publish, blue/green: dbt builds the marts into one of two build schemas, the one that
`marts` does not read (`build_schema`: marts_build_a or marts_build_b), the marts' dbt data tests
audit them there (a failed error-severity test fails the build), and only then does `publish` point
every view `marts.<mart>` at its table in that schema, in one transaction. Nothing is copied: a
publication is one `create or replace view` per mart, so its cost does not grow with the marts'
size. A reader sees the previous publication or this one, never a mix; a run that fails its checks
never gets here, so `marts` stays as it was, and the next night builds into the same unpublished
schema again.

Each build schema keeps its own state of the incremental facts: a night builds them from where that
schema last left them (two nights ago), and they catch up by their own rule (rows loaded since the
newest `_loaded_at` they hold, minus the lookback: macros/incremental.sql), so both schemas hold
the same facts as a full refresh would.

Views rather than tables swapped by rename: a view replaced in place keeps its grants, its comments
and the views BI users built on it. Person-data columns (dbt `meta: {pii: true}`) reach the views
masked, a keyed hash, for readers outside the salesdw_pii group. Versioned copies left by an
earlier salesdw (schema marts_versions) are dropped once no view reads them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from salesdw import manifest

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql as psycopg_sql

PUBLISHED_SCHEMA = "marts"
BUILD_SCHEMAS = ("marts_build_a", "marts_build_b")  # blue/green: dbt builds into the one marts does not read
# the environment variable that tells dbt (dbt_project.yml) which of them tonight's marts go into
BUILD_SCHEMA_VARIABLE = "SALESDW_MARTS_BUILD_SCHEMA"
# out of BI's reach: the masks' secret, and the copies an earlier salesdw published (pruned)
VERSIONS_SCHEMA = "marts_versions"
SWAP_LOCK_TIMEOUT = "5min"  # how long a publication waits for running BI queries to finish
PSEUDONYM_KEY = "_pseudonym_key"  # in VERSIONS_SCHEMA, out of BI's reach: the masks' secret

DDL = """
create schema if not exists audit;
create table if not exists audit.publications (
    run_id        text        not null,
    data_interval date        not null,
    published_at  timestamptz not null default now(),
    mart_rows     jsonb       not null,
    validation    jsonb       not null,
    primary key (run_id, data_interval)
);
"""

# The views (in any schema) that read a relation: what a column change would break.
DEPENDENT_VIEWS = """
    select distinct format('%%I.%%I', n.nspname, c.relname)
    from pg_depend d
    join pg_rewrite r on r.oid = d.objid
    join pg_class c on c.oid = r.ev_class
    join pg_namespace n on n.oid = c.relnamespace
    where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
      and d.refobjid = %s::regclass and r.ev_class <> d.refobjid
    order by 1
"""
# Versioned tables no view reads any more.
STALE_VERSIONS = """
    select format('%%I.%%I', n.nspname, c.relname)
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = %s and c.relkind in ('r', 'p') and c.relname ~ '__v[0-9]+$'
      and not exists (select from pg_depend d join pg_rewrite r on r.oid = d.objid
                      where d.classid = 'pg_rewrite'::regclass and d.refobjid = c.oid and r.ev_class <> c.oid)
    order by 1
"""
# The privileges others hold on a relation, to give them again on the view that replaces it.
GRANTS = """
    select case when g.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(g.grantee)) end,
           g.privilege_type, g.is_grantable
    from pg_class c, aclexplode(c.relacl) g
    where c.oid = %s::regclass and g.grantee <> c.relowner
"""


# The views of marts over a build schema's table (the marts published so far), each with that schema.
VIEW_SOURCES = """
    select distinct v.relname, n.nspname
    from pg_class v
    join pg_rewrite r on r.ev_class = v.oid
    join pg_depend d on d.objid = r.oid and d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
    join pg_class c on c.oid = d.refobjid and c.oid <> v.oid
    join pg_namespace n on n.oid = c.relnamespace
    where v.relnamespace = to_regnamespace(%s) and v.relkind = 'v' and n.nspname = any(%s)
    order by 1, 2
"""


def _view_sources(conn: psycopg.Connection) -> list[tuple[str, str]]:
    return conn.execute(VIEW_SOURCES, [PUBLISHED_SCHEMA, list(BUILD_SCHEMAS)]).fetchall()


def published_schema(conn: psycopg.Connection) -> str | None:
    """The build schema marts reads now (None before the first publication)."""
    read = sorted({schema for _, schema in _view_sources(conn)})
    if len(read) > 1:  # a publication commits whole, so only a hand-made view could do this
        raise PublicationError(f"the views of {PUBLISHED_SCHEMA} read both {' and '.join(read)}; expected one")
    return read[0] if read else None


def build_schema(conn: psycopg.Connection) -> str:
    """The build schema dbt writes tonight's marts into: the one marts does not read."""
    published = published_schema(conn)
    return BUILD_SCHEMAS[1] if published == BUILD_SCHEMAS[0] else BUILD_SCHEMAS[0]


def build_schema_of(url: str) -> str:
    """build_schema, on a connection of its own to the warehouse at `url`."""
    import psycopg

    with psycopg.connect(url) as conn:
        return build_schema(conn)


class PublicationError(RuntimeError):
    """The built marts cannot be published as they are; `marts` stays as the last publication left it."""


def mart_row_counts(
    conn: psycopg.Connection, marts: Collection[str], schema: str = PUBLISHED_SCHEMA, *, exact: bool = True
) -> dict[str, int]:
    """Rows of each of `marts` in `schema`. Not `exact`: PostgreSQL's own live-row count of each table (its
    statistics, kept as rows are written), read in constant time, where count(*) reads every row:
    a publication records these, so its cost does not grow with the marts."""
    from psycopg import sql

    if not exact:
        live = dict(
            conn.execute(
                "select relname, n_live_tup from pg_stat_user_tables where schemaname = %s and relname = any(%s)",
                [schema, list(marts)],
            ).fetchall()
        )
        return {mart: live.get(mart, 0) for mart in marts}
    return {
        mart: conn.execute(
            sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(mart))
        ).fetchone()[0]
        for mart in marts
    }


def _tests_of_the_build(conn: psycopg.Connection, run_id: str) -> dict[str, int]:
    """What audited a publication: the dbt tests of its run's build by status (pass, warn), as the
    build task recorded them (orchestrate/dbt_results.py); {} when it recorded none (a cosmos task
    per model records nothing there)."""
    if not conn.execute("select to_regclass('audit.dbt_results') is not null").fetchone()[0]:
        return {}  # a warehouse never set up
    return dict(
        conn.execute(
            "select status, count(*) from audit.dbt_results where run_id = %s and resource_type = 'test'"
            " group by 1 order by 1",
            [run_id],
        ).fetchall()
    )


def publish(url: str, data_interval: str, *, run_id: str | None) -> dict:
    import psycopg

    run_id = run_id or f"manual__{data_interval}"
    with psycopg.connect(url) as conn:
        with conn.transaction():
            # set-up creates it: the transformer has no CREATE on audit, and PostgreSQL checks that
            # before it finds the table exists; only a warehouse never set up runs the DDL
            if not conn.execute("select to_regclass('audit.publications') is not null").fetchone()[0]:
                conn.execute(DDL)
            marts = manifest.marts()  # every model under models/marts/
            schema = swap_in(conn, marts)
            counts = mart_row_counts(conn, marts, schema, exact=False)
            validation = {"dbt_tests": _tests_of_the_build(conn, run_id)}
            conn.execute(
                "insert into audit.publications (run_id, data_interval, mart_rows, validation)"
                " values (%s, %s, %s, %s) on conflict (run_id, data_interval) do update set published_at = now(),"
                " mart_rows = excluded.mart_rows, validation = excluded.validation",
                [run_id, data_interval, json.dumps(counts), json.dumps(validation)],
            )
        prune_versions(conn)
    return {"run_id": run_id, "data_interval": data_interval, "schema": schema, "mart_rows": counts}


def swap_in(
    conn: psycopg.Connection,
    marts: Collection[str],
    *,
    pii: Mapping[str, Collection[str]] | None = None,
) -> str:
    """Point every view marts.<mart> at its table in tonight's build schema, all at once, inside the
    caller's transaction; returns that schema. `pii`: each mart's person-data
    columns (default: those the dbt manifest marks `meta: {pii: true}`). Raises PublicationError
    when a mart's columns changed in a way the views BI users built on it cannot follow."""
    from psycopg import sql

    if pii is None:
        pii = manifest.pii_columns(marts)
    conn.execute("select pg_advisory_xact_lock(hashtext('salesdw.publish'))")  # one publication at a time
    for name in (PUBLISHED_SCHEMA, VERSIONS_SCHEMA):
        # set-up made them, owned by the transformer, which may not create schemas; a warehouse
        # never set up (a test's database) gets them here
        if not conn.execute("select 1 from pg_namespace where nspname = %s", [name]).fetchone():
            conn.execute(sql.SQL("create schema {}").format(sql.Identifier(name)))
    _retire(conn, marts)
    schema = build_schema(conn)
    key = _pseudonym_key(conn) if any(pii.get(mart) for mart in marts) else None
    conn.execute("select set_config('lock_timeout', %s, true)", [SWAP_LOCK_TIMEOUT])
    for mart in marts:  # every view at once, committed together with the caller's transaction
        _point_view(conn, mart, sql.Identifier(schema, mart), set(pii.get(mart, ())), key)
    return schema


def _retire(conn: psycopg.Connection, marts: Collection[str]) -> None:
    """Drop the views of marts whose model left models/marts/ (deleted or moved), and their tables in
    the build schemas: left in place, such a view would go on showing the night it was last built.
    One a view of a BI user's reads stops the publication, naming it."""
    from psycopg import sql

    from salesdw.warehouse.roles import ALTER_OWNER  # the SQL word of each kind of relation

    for mart in sorted({view for view, _ in _view_sources(conn)} - set(marts)):
        name = f"{PUBLISHED_SCHEMA}.{mart}"
        dependents = [v for (v,) in conn.execute(DEPENDENT_VIEWS, [name]).fetchall()]
        if dependents:
            raise PublicationError(_blocked(name, "its model is no longer under models/marts/", dependents))
        conn.execute(sql.SQL("drop view {}").format(sql.Identifier(PUBLISHED_SCHEMA, mart)))
        for schema in BUILD_SCHEMAS:
            kind = conn.execute("select relkind from pg_class where oid = to_regclass(%s)", [f"{schema}.{mart}"])
            for (relkind,) in kind.fetchall():  # what dbt made of it: a table, an incremental one, a view
                conn.execute(sql.SQL("drop {} {}").format(sql.SQL(ALTER_OWNER[relkind]), sql.Identifier(schema, mart)))


def _pseudonym_key(conn: psycopg.Connection) -> psycopg_sql.Composable:
    """The masks' secret, made once: without it a reader could hash the names they know and compare."""
    from psycopg import sql

    table = sql.Identifier(VERSIONS_SCHEMA, PSEUDONYM_KEY)
    conn.execute(sql.SQL("create table if not exists {} (key text not null)").format(table))
    conn.execute(
        sql.SQL("insert into {0} select %s where not exists (select from {0})").format(table), [secrets.token_hex(32)]
    )
    return sql.SQL("(select key from {})").format(table)


def _masked(column: str, key: psycopg_sql.Composable) -> psycopg_sql.Composable:
    """The column for members of the pii group (superusers count); else a stable pseudonym, the same
    for the same person in every mart and publication, null staying null."""
    from psycopg import sql

    from salesdw.warehouse.roles import PII_ROLE

    return sql.SQL(
        "case when (select pg_has_role(current_user, {pii}, 'member')) then {col}::text"
        " else 'person-' || left(encode(sha256(convert_to({key} || {col}::text, 'UTF8')), 'hex'), 12) end as {col}"
    ).format(pii=sql.Literal(PII_ROLE), col=sql.Identifier(column), key=key)


def _point_view(
    conn: psycopg.Connection,
    mart: str,
    built: psycopg_sql.Identifier,
    masked: set[str],
    key: psycopg_sql.Composable | None,
) -> None:
    """(Re)define view marts.<mart> over its built table, keeping its grants and the views over it."""
    import psycopg
    from psycopg import sql

    view = sql.Identifier(PUBLISHED_SCHEMA, mart)
    columns = conn.execute(
        "select attname, col_description(attrelid, attnum) from pg_attribute"
        " where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum",
        [built.as_string(conn)],
    ).fetchall()
    unknown = sorted(masked - {name for name, _ in columns})
    if unknown:
        raise PublicationError(
            f"{built.as_string(conn)} has no column {', '.join(unknown)}, which its dbt YAML marks as person data"
            " (meta pii): fix the column name in the YAML, or the model; nothing was published"
        )
    selected = sql.SQL(", ").join(_masked(c, key) if c in masked else sql.Identifier(c) for c, _ in columns)
    create = sql.SQL("create or replace view {} as select {} from {}").format(view, selected, built)
    kind = conn.execute("select relkind from pg_class where oid = to_regclass(%s)", [view.as_string(conn)]).fetchone()
    if kind is None:
        conn.execute(create)
    elif kind[0] == "v":
        try:
            with conn.transaction():  # a savepoint: PostgreSQL says why the view cannot follow
                conn.execute(create)
        except psycopg.errors.InvalidTableDefinition as exc:  # a column renamed, dropped or retyped
            _recreate(conn, mart, "view", create, f"its columns changed ({exc.diag.message_primary})")
    else:  # marts.<mart> is still a table, from before the marts were views
        _recreate(conn, mart, "table", create, "it is still a table from an earlier salesdw")
    described = conn.execute("select obj_description(%s::regclass, 'pg_class')", [built.as_string(conn)])
    # what BI tools show: the model's description and its columns'
    conn.execute(sql.SQL("comment on view {} is {}").format(view, sql.Literal(described.fetchone()[0])))
    for column, comment in columns:
        conn.execute(
            sql.SQL("comment on column {} is {}").format(
                sql.Identifier(PUBLISHED_SCHEMA, mart, column), sql.Literal(comment)
            )
        )


def _recreate(conn: psycopg.Connection, mart: str, kind: str, create: psycopg_sql.Composable, why: str) -> None:
    """Replace marts.<mart> by the new view when no view depends on it, giving its grants again;
    else stop the publication, naming those views (they would have to be dropped with it)."""
    import psycopg
    from psycopg import sql

    name = f"{PUBLISHED_SCHEMA}.{mart}"
    dependents = [v for (v,) in conn.execute(DEPENDENT_VIEWS, [name]).fetchall()]
    if dependents:
        raise PublicationError(_blocked(name, why, dependents))
    grants = conn.execute(GRANTS, [name]).fetchall()
    try:
        with conn.transaction():
            conn.execute(sql.SQL("drop {} {}").format(sql.SQL(kind), sql.Identifier(PUBLISHED_SCHEMA, mart)))
    except psycopg.errors.DependentObjectsStillExist as exc:  # not a view: a function's body, a rule
        raise PublicationError(_blocked(name, why, [exc.diag.message_detail or "see `drop view` there"])) from None
    conn.execute(create)
    for grantee, privilege, grantable in grants:
        conn.execute(
            sql.SQL("grant {} on {} to {}{}").format(
                sql.SQL(privilege),
                sql.Identifier(PUBLISHED_SCHEMA, mart),
                sql.SQL(grantee),
                sql.SQL(" with grant option" if grantable else ""),
            )
        )


def _blocked(name: str, why: str, dependents: list[str]) -> str:
    return (
        f"{name} cannot be published because {why}; these views depend on it: {', '.join(dependents)};"
        " nothing was published (marts is as the last publication left it): drop those views or change them"
        " to the new columns, publish again, then recreate them"
    )


def published_table(conn: psycopg.Connection, mart: str) -> str:
    """The built table view marts.<mart> reads now (schema.table)."""
    (table,) = conn.execute(
        "select distinct format('%%I.%%I', n.nspname, c.relname) from pg_rewrite r join pg_depend d on d.objid = r.oid"
        " join pg_class c on c.oid = d.refobjid join pg_namespace n on n.oid = c.relnamespace"
        " where d.classid = 'pg_rewrite'::regclass and r.ev_class = %s::regclass and d.refobjid <> r.ev_class"
        " and n.nspname = any(%s)",
        [f"{PUBLISHED_SCHEMA}.{mart}", list(BUILD_SCHEMAS)],
    ).fetchone()
    return table


def prune_versions(conn: psycopg.Connection) -> list[str]:
    """Drop the versioned copies an earlier salesdw published that no view reads any more (after the
    publication commits). One a session still holds is left for the next publication, not waited for."""
    import psycopg
    from psycopg import sql

    stale = [table for (table,) in conn.execute(STALE_VERSIONS, [VERSIONS_SCHEMA]).fetchall()]
    conn.commit()  # then one transaction per drop: no lock is kept longer than its drop
    dropped = []
    for table in stale:
        try:
            with conn.transaction():
                conn.execute(sql.SQL("lock table {} in access exclusive mode nowait").format(sql.SQL(table)))
                conn.execute(sql.SQL("drop table {}").format(sql.SQL(table)))
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DependentObjectsStillExist):
            continue
        dropped.append(table)
    return dropped
