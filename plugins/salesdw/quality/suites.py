"""Expectation suites in code: each raw feed's contract, checked over the day's batch before dbt.

Severity is declared next to each expectation (GX's own `severity`, and in `meta` for the results
table): `critical` stops the run before dbt; `warning` is recorded but does not block. The marts'
invariants are not here: they are dbt data tests in each mart's YAML, which `dbt build` runs.
"""

from __future__ import annotations

from datetime import date

import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import FailureSeverity

from salesdw import config
from salesdw.config import Entity
from salesdw.load.checks import reject_reason
from salesdw.quality.results import CRITICAL, WARNING


def _suite(*entries: tuple[gxe.Expectation, str]) -> list[gxe.Expectation]:
    for expectation, severity in entries:
        expectation.meta = {**(expectation.meta or {}), "severity": severity}
        expectation.severity = FailureSeverity(severity)
    return [expectation for expectation, _ in entries]


def severity_of(meta: dict | None) -> str:
    return (meta or {}).get("severity", CRITICAL)


LOADER_COLUMNS = ["_line", "_batch_id", "_batch_date", "_loaded_at", "_origin"]


def _rows(description: str, query: str, severity: str) -> tuple[gxe.Expectation, str]:
    """An expectation that `query` (over `{batch}`, the day's partition) returns no rows."""
    return gxe.UnexpectedRowsExpectation(unexpected_rows_query=query, description=description), severity


def _reject_share(entity: Entity, day: date) -> list[tuple[gxe.Expectation, str]]:
    """More than max_reject_rate of the day's rows rejected or quarantined stops the run (marts built
    without them would be wrong), once at least min_rejected_rows are; fewer is a warning."""
    rate, least, name = config.max_reject_rate(), config.min_rejected_rows(), f"{entity.source}.{entity.name}"
    # the row it returns says the share and the threshold, which the gate's message then shows
    over = (
        "select round(100.0 * l.rows_rejected / l.rows_read, 1) || '%' as rejected_share,"
        f" '{rate:.1%}' as threshold, l.rows_read, l.rows_rejected,"
        " (select count(*) from {batch}) as rows_in_raw, l.batch_id"
        f" from audit.load_batches l where l.status = 'loaded' and l.source = '{entity.source}'"
        f" and l.entity = '{entity.name}' and l.batch_date = '{day}' and l.rows_rejected > {rate} * l.rows_read"
    )
    return [
        _rows(
            f"{name}: at most {rate:.1%} of the day's rows rejected or quarantined (when {least} or more are)",
            f"{over} and l.rows_rejected >= {least}",
            CRITICAL,
        ),
        _rows(
            f"{name}: at most {rate:.1%} of the day's rows rejected or quarantined (fewer than {least}: a warning)",
            f"{over} and l.rows_rejected < {least}",
            WARNING,
        ),
    ]


def feed_suite(entity: Entity, day: date, usual_rows: float | None) -> list[gxe.Expectation]:
    """The contract of one day's batch of a feed (its partition of raw.<source>__<entity>).

    The record contract is the loader's own (load/checks.py), run again over what was loaded: one
    rule, written once. `usual_rows` is the trailing average batch size, for the volume check (None:
    too little history).
    """
    pk, name = entity.primary_key, f"{entity.source}.{entity.name}"
    contract = reject_reason(entity, day).as_string(None)
    entries = [
        (gxe.ExpectTableColumnsToMatchSet(column_set=[*entity.columns, *LOADER_COLUMNS], exact_match=True), CRITICAL),
        (gxe.ExpectColumnValuesToNotBeNull(column=pk), CRITICAL),
        (gxe.ExpectColumnValuesToBeUnique(column=pk), CRITICAL),
        *_reject_share(entity, day),
        _rows(
            f"{name}: every row keeps the record contract (sources.yml, load/checks.py)",
            f"select broken_rule, {pk} from (select {contract} as broken_rule, {pk} from {{batch}}) c"
            " where broken_rule is not null",
            CRITICAL,
        ),
    ]
    for column, target in entity.references:
        parent = config.entity(*target.split("."))
        entries.append(
            _rows(
                f"{name}.{column} refers to a delivered {target}",
                # GX puts the batch in as `(...) AS subselect`: wrap it to give it a name of our own
                f"select * from (select * from {{batch}}) c where c.{column} is not null and not exists"
                f" (select from raw.{parent.raw_table} p where p.{parent.primary_key} = c.{column})",
                CRITICAL,
            )
        )
    if entity.cursor:
        # the newest record of today's batch and of every earlier one, as the loader noted it per batch
        # (load/batch.py): reading every batch again made this check grow with the feed's history
        newest = (
            f"select max(newest) as newest from (select max(cast({entity.cursor} as timestamptz)) as newest"
            " from {batch} union all select newest_cursor from audit.load_batches where status = 'loaded'"
            f" and source = '{entity.source}' and entity = '{entity.name}') n"
        )
        entries.append(
            _rows(
                f"{name}: newest {entity.cursor} within {config.freshness_warn_days()} days of {day}",
                f"select nullif(newest, '-infinity') as newest from ({newest}) f"
                f" where newest is null or newest < date '{day}' + 1 - {config.freshness_warn_days()}",
                WARNING,
            )
        )
    if usual_rows:
        entries.append(
            (
                gxe.ExpectTableRowCountToBeBetween(min_value=int(usual_rows * 0.2), max_value=int(usual_rows * 5) + 10),
                WARNING,
            )
        )
    return _suite(*entries)
