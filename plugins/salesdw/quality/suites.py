"""Expectation suites in code: each raw feed's contract, and the business invariants BI relies on.

Severity is declared next to each expectation (GX's own `severity`, and in `meta` for the results
table): `critical` fails the run before publish; `warning` is recorded but does not block.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import FailureSeverity

from salesdw import config, paths, vocabulary
from salesdw.config import Entity
from salesdw.load.checks import reject_reason
from salesdw.manifest import nodes, upstream_sources
from salesdw.publish.publications import MARTS

CRITICAL, WARNING = "critical", "warning"

# a lead's own row, then the business's stages (dbt_project/seeds/opportunity_stages.csv)
FUNNEL_STAGES = ["lead", *(stage.name for stage in vocabulary.stages())]
FUNNEL_KEY = ["entered_month", "stage", "rep_id", "team", "region", "product_line", "lead_source"]


def _suite(*entries: tuple[gxe.Expectation, str]) -> list[gxe.Expectation]:
    for expectation, severity in entries:
        expectation.meta = {**(expectation.meta or {}), "severity": severity}
        expectation.severity = FailureSeverity(severity)
    return [expectation for expectation, _ in entries]


def _at_least(a: str, b: str) -> gxe.Expectation:
    return gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A=a, column_B=b, or_equal=True)


def _share(column: str, severity: str = CRITICAL) -> tuple[gxe.Expectation, str]:
    return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1), severity


def severity_of(meta: dict | None) -> str:
    return (meta or {}).get("severity", CRITICAL)


def published_keys(manifest: Path = paths.DBT_MANIFEST) -> dict[str, list[str]]:
    """The key of every fact and dimension published into marts, as its dbt model declares it.

    Read from the primary_key constraint in the manifest `dbt parse` writes, so the gate checks what
    the models say. A published fact or dimension that declares no key is an error: none goes out
    with its key unchecked. (The reporting marts have suites of their own below.)
    """
    models = nodes("model", manifest)
    keys = {}
    for table in (t for t in MARTS if t.startswith(("fct_", "dim_"))):
        node = models[table]
        declared = [c["columns"] for c in node.get("constraints", []) if c["type"] == "primary_key"] + [
            [name]
            for name, column in node["columns"].items()
            if any(c["type"] == "primary_key" for c in column.get("constraints", []))
        ]
        if not declared:
            raise ValueError(
                f"marts.{table} is published but its dbt model ({node['original_file_path']}) declares no"
                " primary_key constraint; declare one so the marts gate checks the key"
            )
        keys[table] = declared[0]
    return keys


def _key(columns: list[str]) -> list[tuple[gxe.Expectation, str]]:
    unique = (
        gxe.ExpectColumnValuesToBeUnique(column=columns[0])
        if len(columns) == 1
        else gxe.ExpectCompoundColumnsToBeUnique(column_list=columns)
    )
    return [*((gxe.ExpectColumnValuesToNotBeNull(column=c), CRITICAL) for c in columns), (unique, CRITICAL)]


def _attainment(rate: str, actual: str) -> tuple[gxe.Expectation, str]:
    """attainment = actual / target (to the mart's four decimals), and none without a target."""
    return _rows(
        f"{rate} = {actual} / target_amount",
        f"select * from (select * from {{batch}}) m where case when target_amount = 0 then {rate} is not null"
        f" else {rate} is null or abs({rate} - {actual} / target_amount) > 0.0001 end",
        CRITICAL,
    )


# amounts already in the reporting currency need no rate: a deployment may have no FX feed (a missing
# rate for an amount that needs one fails dbt's assert_every_amount_has_an_fx_rate instead)
NOT_NEEDED_FOR_ROWS = {"finance.fx_rates"}


def mart_suites(schema: str = "marts") -> dict[str, list[gxe.Expectation]]:
    """The suites of every published table; `schema` is where the facts they reconcile with are.

    A mart is expected to have rows only when this deployment has every feed it reads (config.py):
    a CRM alone builds the finance and service marts empty, and publishes them so.
    """
    facts = {table: _suite(*_key(columns)) for table, columns in published_keys().items()}
    facts["fct_payments"] += _suite(
        (gxe.ExpectColumnValuesToBeBetween(column="amount_reporting", min_value=0), CRITICAL)  # no negative cash
    )
    have = {f"{e.source}.{e.name}" for e in config.entities()} | NOT_NEEDED_FOR_ROWS
    feeds = upstream_sources()
    return {
        table: [
            e
            for e in expectations
            if not isinstance(e, gxe.ExpectTableRowCountToBeBetween) or feeds.get(table, set()) <= have
        ]
        for table, expectations in (facts | _mart_suites(schema)).items()
    }


def _mart_suites(schema: str) -> dict[str, list[gxe.Expectation]]:
    return {
        "customer_lifetime_value": _suite(
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (gxe.ExpectColumnValuesToNotBeNull(column="customer_id"), CRITICAL),
            (gxe.ExpectColumnValuesToBeUnique(column="customer_id"), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="bookings_amount", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="cash_collected", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="order_count", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="avg_csat", min_value=1, max_value=5), WARNING),
            (
                gxe.ExpectColumnValuesToBeInSet(column="tier", value_set=["core", "potential", "regular", "at_risk"]),
                CRITICAL,
            ),
            *[
                (gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0), CRITICAL)
                for column in ("predicted_margin", "predicted_orders", "service_cost")
            ],
            _share("retention_probability"),
        ),
        "clv_backtest": _suite(
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (gxe.ExpectColumnValuesToBeUnique(column="segment"), CRITICAL),
        ),
        "clv_by_segment": _suite(
            (
                gxe.ExpectCompoundColumnsToBeUnique(column_list=["industry", "segment", "acquisition_channel"]),
                CRITICAL,
            ),
        ),
        "sales_funnel": _suite(
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (gxe.ExpectCompoundColumnsToBeUnique(column_list=FUNNEL_KEY), CRITICAL),
            (gxe.ExpectColumnValuesToBeInSet(column="stage", value_set=FUNNEL_STAGES), CRITICAL),
            # of the entries of a stage, no more can advance (or be won) than entered
            (_at_least("entered_count", "advanced_count"), CRITICAL),
            (_at_least("entered_count", "won_count"), CRITICAL),
            _share("conversion_rate"),
            _share("win_rate"),
        ),
        "sales_funnel_durations": _suite(
            (
                gxe.ExpectCompoundColumnsToBeUnique(column_list=["month", "stage", "slice_name", "slice_value"]),
                CRITICAL,
            ),
            (gxe.ExpectColumnValuesToBeBetween(column="median_days", min_value=0), WARNING),
        ),
        "channel_performance": _suite(
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (gxe.ExpectCompoundColumnsToBeUnique(column_list=["channel", "month"]), CRITICAL),
            (_at_least("leads", "converted_leads"), CRITICAL),
            _share("lead_conversion_rate"),
            (gxe.ExpectColumnValuesToBeBetween(column="bookings_amount", min_value=0), CRITICAL),
        ),
        "rep_scorecard": _suite(
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (gxe.ExpectCompoundColumnsToBeUnique(column_list=["rep_id", "month"]), CRITICAL),
            (gxe.ExpectColumnValuesToNotBeNull(column="rep_id"), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="attainment_rate", min_value=0), CRITICAL),
            _share("win_rate"),
            _share("collection_rate"),
            (gxe.ExpectColumnValuesToBeBetween(column="csat_avg", min_value=1, max_value=5), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="visits", min_value=0), CRITICAL),
        ),
        "collections": _suite(
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (gxe.ExpectCompoundColumnsToBeUnique(column_list=["owner_rep_id", "account_id", "month"]), CRITICAL),
            *[
                (gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0), CRITICAL)
                for column in (
                    "cash_received_in_month",
                    "outstanding_at_month_end",
                    "overdue_0_30",
                    "overdue_31_60",
                    "overdue_61_90",
                    "overdue_90_plus",
                )
            ],
            # what was collected on the month's due invoices never exceeds what fell due
            (
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="amount_due_in_month", column_B="amount_due_collected", or_equal=True
                ),
                CRITICAL,
            ),
            (gxe.ExpectColumnValuesToBeBetween(column="collection_rate", min_value=0, max_value=1), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="dso", min_value=0, max_value=3650), WARNING),
        ),
        "customer_service": _suite(
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (gxe.ExpectCompoundColumnsToBeUnique(column_list=["account_id", "month"]), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="nps", min_value=-100, max_value=100), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="csat_avg", min_value=1, max_value=5), CRITICAL),
            (
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="surveys", column_B="promoters", or_equal=True),
                CRITICAL,
            ),
            (gxe.ExpectColumnValuesToBeBetween(column="median_resolution_hours", min_value=0), WARNING),
            (_at_least("contracts_ending", "contracts_renewed"), CRITICAL),
            _share("renewal_rate"),
        ),
        "target_attainment": _suite(
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (
                gxe.ExpectCompoundColumnsToBeUnique(column_list=["rep_id", "team", "region", "product_line", "month"]),
                CRITICAL,
            ),
            (gxe.ExpectColumnValuesToNotBeNull(column="rep_id"), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="target_amount", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="bookings_amount", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="attainment_rate", min_value=0), CRITICAL),
            _attainment("attainment_rate", "bookings_amount"),
            _attainment("cash_attainment_rate", "cash_collected_amount"),
            _rows(
                "bookings in target_attainment total those in fct_bookings",
                "select * from (select coalesce(sum(bookings_amount), 0) as mart from (select * from {batch}) m) m,"
                f" (select coalesce(sum(booking_amount_reporting), 0) as facts from {schema}.fct_bookings) f"
                " where mart <> facts",
                CRITICAL,
            ),
            *[
                (gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0), CRITICAL)
                for column in (
                    "cash_collected_amount",
                    "bookings_run_rate_forecast",
                    "cash_run_rate_forecast",
                    "pipeline_coverage",
                )
            ],
        ),
        "target_attainment_rollup": _suite(
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (
                gxe.ExpectCompoundColumnsToBeUnique(
                    column_list=["level", "member_id", "product_line", "period_type", "period_start"]
                ),
                CRITICAL,
            ),
            (gxe.ExpectColumnValuesToBeInSet(column="level", value_set=["rep", "team", "region"]), CRITICAL),
            (
                gxe.ExpectColumnValuesToBeInSet(
                    column="period_type", value_set=["month", "quarter", "year", "fiscal_quarter", "fiscal_year"]
                ),
                CRITICAL,
            ),
            (gxe.ExpectColumnValuesToBeBetween(column="bookings_amount", min_value=0), CRITICAL),
        ),
    }


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
        entries.append(
            _rows(
                f"{name}: newest {entity.cursor} within {config.freshness_warn_days()} days of {day}",
                f"select newest from (select max(cast({entity.cursor} as timestamptz)) as newest from"
                f" (select {entity.cursor} from {{batch}} union all select {entity.cursor} from raw.{entity.raw_table})"
                f" c) f where newest is null or newest < date '{day}' + 1 - {config.freshness_warn_days()}",
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
