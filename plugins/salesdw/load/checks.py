"""The record contract of an entity (sources.yml), as SQL run in the database.

`reject_reason(entity, day)` is a CASE expression over a batch's rows (text columns) that gives the
first broken rule as `kind|reason`, or NULL for a row to load; `broken_typed(entity, day)` is the
same contract for rows whose values a typed COPY already parsed (the proof that a large file is
clean, load/batch.py). The feeds gate runs `reject_reason` again over what was loaded
(quality/suites.py): one contract, written once. Checks run in PostgreSQL (16+: pg_input_is_valid,
min_scale), not row by row in Python; each rule's cheap test comes first. Duplicate keys are found
by the batch's unique index (load/batch.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from psycopg import sql

from salesdw import config
from salesdw.config import ISO, Entity, date_pattern

# The rule a rejected row broke (raw._rejected.rule); the loader and references.py add the rest.
BLANK = "blank"  # every field empty: an empty line, not a record (counted, not rejected)
MISSING_KEY, DATE_FORMAT, WRONG_TYPE, OUT_OF_RANGE = "missing_key", "date_format", "wrong_type", "out_of_range"
NEGATIVE_AMOUNT, UNKNOWN_CURRENCY, MISSING_VALUE = "negative_amount", "unknown_currency", "missing_value"
DUPLICATE_KEY, MALFORMED, NUL_BYTE, ORPHAN_REFERENCE = "duplicate_key", "malformed", "nul_byte", "orphan_reference"
SEPARATOR = "|"  # between a rule's kind and its reason in reject_reason's text

# what a typed COPY parses each column as (numeric without its size: the size is a rule of its own)
PROOF_TYPES = {
    "numeric": "numeric",
    "integer": "integer",
    "boolean": "boolean",
    "date": "date",
    "timestamptz": "timestamptz",
}


@dataclass(frozen=True)
class Rule:
    kind: str
    broken: sql.Composable  # true for a row that breaks the rule (earlier rules holding)
    reason: sql.Composable  # text naming the column, the value and what was expected


def _shown(col: sql.Composable) -> sql.Composable:
    return sql.SQL("coalesce(quote_literal({}), 'NULL')").format(col)


def _say(column: str, col: sql.Composable, expected: str) -> sql.Composable:
    """`column: 'value' <expected>` as a SQL text expression."""
    return sql.SQL("{} || {} || {}").format(sql.Literal(f"{column}: "), _shown(col), sql.Literal(f" {expected}"))


# The "not in the declared format" tests are written with negated operators (not like, !~, <>) rather
# than `not (...)`: PostgreSQL 16 simplifies a NOT over an operator into its negator without looking
# the function up, which fails in a COPY's WHERE ("cache lookup failed for function 0").
def _not_iso_date(expr: sql.Composable) -> sql.Composable:
    return sql.SQL("{} not like '____-__-__'").format(expr)


def _not_iso_timestamp(col: sql.Composable) -> sql.Composable:
    # the date part fixes the field order; PostgreSQL's parser then takes any ISO time and offset.
    # LIKE with a fixed prefix is the cheapest test there is: no substring is made
    shapes = ("____-__-__T%", "____-__-__ %", "____-__-__", "____-__-__t%")
    return sql.SQL("({})").format(
        sql.SQL(" and ").join(sql.SQL("{} not like {}").format(col, sql.Literal(p)) for p in shapes)
    )


def _date_rules(entity: Entity, day: date, column: str, type_name: str, *, typed: bool) -> list[Rule]:
    col = sql.Identifier(column)
    fmt = entity.date_format(column)
    if fmt == ISO:
        iso, misshapen = col, (_not_iso_date(col) if type_name == "date" else _not_iso_timestamp(col))
    else:  # a declared format: strict by regex, then read as ISO (the loader also writes it so)
        regex, replacement = date_pattern(fmt)
        iso = sql.SQL("regexp_replace({}, {}, {})").format(col, sql.Literal(regex), sql.Literal(replacement))
        misshapen = sql.SQL("{} !~ {}").format(col, sql.Literal(regex))
    plausible = dict(entity.plausible)[column]
    lo, hi = plausible.not_before, day + timedelta(days=plausible.days_ahead)
    # as a timestamp: a day's bounds in UTC, whatever the session's time zone
    earliest, latest = (
        (sql.Literal(lo), sql.Literal(hi))
        if type_name == "date"
        else (sql.Literal(f"{lo} 00:00+00"), sql.Literal(f"{hi + timedelta(days=1)} 00:00+00"))
    )
    # one cast, a containment test that is false for a value outside and NULL for none: `is false`
    # rather than NOT, and not BETWEEN, which PostgreSQL 16 cannot run in a COPY's WHERE ("cache lookup
    # failed for function 0"). Over the proof's typed column the value is already a date.
    value = col if typed else sql.SQL("cast({} as {})").format(iso, sql.SQL(type_name))
    outside = (
        sql.SQL("({v} <@ daterange({lo}::date, {hi}::date, '[]')) is false")
        if type_name == "date"
        else sql.SQL("({v} <@ tstzrange({lo}::timestamptz, {hi}::timestamptz)) is false")
    ).format(v=value, lo=earliest, hi=latest)
    # no colon right after a bracket or a space: SQLAlchemy, which GX runs the feeds gate through,
    # would take it for a bind parameter
    written = "YYYY-MM-DD" if type_name == "date" else "ISO 8601 (YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS and an offset)"
    written = fmt if fmt != ISO else written
    range_reason = _say(
        column,
        col,
        f"is outside the plausible range {lo} .. {hi} ({plausible.days_ahead} days after the batch day {day};"
        " sources.yml plausible_dates)",
    )
    shape = Rule(
        DATE_FORMAT,
        sql.SQL("{} is not null and {}").format(col, misshapen),
        _say(column, col, f"is not a {type_name} written as {written} (the column's declared format, sources.yml)"),
    )
    if typed:  # parsed by the typed COPY: only the range is left (the shape is misshapen()'s, over the text)
        return [Rule(OUT_OF_RANGE, outside, range_reason)]
    return [
        shape,
        Rule(
            WRONG_TYPE,
            sql.SQL("{} is not null and not pg_input_is_valid({}, {})").format(col, iso, sql.Literal(type_name)),
            _say(column, col, f"is not a valid {type_name}"),
        ),
        Rule(OUT_OF_RANGE, outside, range_reason),
    ]


def _numeric_rules(entity: Entity, column: str, *, typed: bool) -> list[Rule]:
    col = sql.Identifier(column)
    rules = []
    if not typed:
        rules.append(
            Rule(
                WRONG_TYPE,
                sql.SQL("{c} is not null and not pg_input_is_valid({c}, 'numeric')").format(c=col),
                _say(column, col, "is not a valid numeric"),
            )
        )
    size = dict(entity.numeric_sizes).get(column)
    if size:
        precision, scale = size
        number = col if typed else sql.SQL("cast({} as numeric)").format(col)
        rules.append(
            Rule(
                OUT_OF_RANGE,
                # min_scale: 1.50 keeps 2 decimals' worth of information as 1.5 does; NaN and Infinity do not fit
                sql.SQL("{c} is not null and (coalesce(min_scale({n}), {s} + 1) > {s} or abs({n}) >= {limit})").format(
                    c=col, n=number, s=sql.Literal(scale), limit=sql.SQL(f"1e{precision - scale}")
                ),
                _say(
                    column,
                    col,
                    f"does not fit numeric({precision},{scale}): at most {precision - scale} digits before the point"
                    f" and {scale} after (staging's cast would {'round' if scale else 'truncate'} or overflow it)",
                ),
            )
        )
    return rules


def _rules(entity: Entity, day: date, *, typed: bool) -> list[Rule]:
    """The contract as rules, first broken rule first.

    Over text columns (`typed=False`) each typed column is checked with pg_input_is_valid before any
    cast. Over a typed COPY's columns (`typed=True`) the input functions themselves reject a bad
    number, so those rules drop out and amounts compare as numbers.
    """
    pk = sql.Identifier(entity.primary_key)
    rules = []
    if not typed:
        every = sql.SQL(", ").join(map(sql.Identifier, entity.columns))
        rules.append(Rule(BLANK, sql.SQL("coalesce({}) is null").format(every), sql.Literal("every field empty")))
    rules.append(
        Rule(MISSING_KEY, sql.SQL("{} is null").format(pk), sql.Literal(f"missing primary key {entity.primary_key}"))
    )
    # what staging's not_null tests demand, refused here, so an accepted record cannot fail them later
    for column in entity.required:
        rules.append(
            Rule(
                MISSING_VALUE,
                sql.SQL("{} is null").format(sql.Identifier(column)),
                sql.Literal(f"{column}: empty (expected a value: sources.yml `required`)"),
            )
        )
    for column, type_name in entity.types:
        if type_name in ("date", "timestamptz"):
            rules += _date_rules(entity, day, column, type_name, typed=typed)
        elif type_name == "numeric":
            rules += _numeric_rules(entity, column, typed=typed)
        elif not typed:
            col = sql.Identifier(column)
            rules.append(
                Rule(
                    WRONG_TYPE,
                    sql.SQL("{c} is not null and not pg_input_is_valid({c}, {t})").format(
                        c=col, t=sql.Literal(type_name)
                    ),
                    _say(column, col, f"is not a valid {type_name}"),
                )
            )
    # over text, the sign decides most rows before a cast
    negative = "{col} < 0" if typed else "starts_with({col}, '-') and cast({col} as numeric) < 0"
    for column in entity.non_negative:
        col = sql.Identifier(column)
        rules.append(
            Rule(
                NEGATIVE_AMOUNT,
                sql.SQL(negative).format(col=col),
                sql.SQL("{} || {} || {}").format(
                    sql.Literal(f"{column}: negative amount "), col, sql.Literal(" (expected >= 0)")
                ),
            )
        )
    if entity.currency:
        col = sql.Identifier(entity.currency)
        accepted = sql.SQL(", ").join(map(sql.Literal, config.currencies()))
        rules.append(
            Rule(
                UNKNOWN_CURRENCY,
                sql.SQL("{col} is null or {col} not in ({codes}) and upper({col}) not in ({codes})").format(
                    col=col, codes=accepted
                ),
                sql.SQL("{} || coalesce(quote_literal({}), 'NULL') || {}").format(
                    sql.Literal(f"{entity.currency}: unknown currency "),
                    col,
                    sql.Literal(f" (expected one of {', '.join(config.currencies())})"),
                ),
            )
        )
    return rules


def reject_reason(entity: Entity, day: date) -> sql.Composable:
    """Over a batch's text columns: `kind|reason` of the first broken rule, or NULL for a row to load."""
    whens = sql.SQL(" ").join(
        sql.SQL("when {} then {} || {}").format(rule.broken, sql.Literal(rule.kind + SEPARATOR), rule.reason)
        for rule in _rules(entity, day, typed=False)
    )
    return sql.SQL("case {} end").format(whens)


def provable(entity: Entity) -> bool:
    """Whether a typed COPY can prove the entity's rows clean (a declared date format needs the text check)."""
    return not entity.date_formats


def misshapen(entity: Entity, day: date) -> sql.Composable | None:
    """Over text columns: true for a row with a date not written in its declared format. What a typed
    COPY cannot tell (it parses 03/15/2024 as the server's DateStyle says), checked on the text."""
    rules = [r.broken for r in _rules(entity, day, typed=False) if r.kind == DATE_FORMAT]
    return sql.SQL(" or ").join(sql.SQL("({})").format(r) for r in rules) if rules else None


def broken_typed(entity: Entity, day: date) -> sql.Composable:
    """Over typed columns whose values all parsed: true for a row that breaks the rest of the contract."""
    return sql.SQL(" or ").join(sql.SQL("({})").format(rule.broken) for rule in _rules(entity, day, typed=True))


def kind_of(reason: sql.Composable) -> sql.Composable:
    return sql.SQL("split_part({}, {}, 1)").format(reason, sql.Literal(SEPARATOR))


def text_of(reason: sql.Composable) -> sql.Composable:
    return sql.SQL("substr({r}, strpos({r}, {sep}) + 1)").format(r=reason, sep=sql.Literal(SEPARATOR))


def duplicate_reason(entity: Entity) -> sql.Composable:
    return sql.SQL("{} || {} || {}").format(
        sql.Literal(f"{DUPLICATE_KEY}{SEPARATOR}duplicate key {entity.primary_key} = "),
        sql.Identifier(entity.primary_key),
        sql.Literal(" in this batch (the first occurrence is loaded)"),
    )


def iso_dates(entity: Entity) -> list[tuple[str, sql.Composable]]:
    """(column, expression giving YYYY-MM-DD) for the date columns written in a declared format."""
    out = []
    for column, fmt in entity.date_formats:
        regex, replacement = date_pattern(fmt)
        out.append(
            (
                column,
                sql.SQL("regexp_replace({}, {}, {})").format(
                    sql.Identifier(column), sql.Literal(regex), sql.Literal(replacement)
                ),
            )
        )
    return out


# where a raw row came from, as readers.located() says it: `file:line`, or the API's URL and page
LOCATED = sql.SQL("_origin || coalesce(':' || _line, '')")
