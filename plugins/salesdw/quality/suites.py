"""Expectation suites over the BI-facing marts: the business invariants BI relies on.

Severity is declared next to each expectation (kept in its `meta`): `critical` fails the run
before publish; `warning` is recorded but does not block.
"""

from __future__ import annotations

import great_expectations.expectations as gxe

CRITICAL, WARNING = "critical", "warning"

FUNNEL_STAGES = ["needs_analysis", "proposal", "negotiation", "contract"]


def _suite(*entries: tuple[gxe.Expectation, str]) -> list[gxe.Expectation]:
    for expectation, severity in entries:
        expectation.meta = {**(expectation.meta or {}), "severity": severity}
    return [expectation for expectation, _ in entries]


def severity_of(meta: dict | None) -> str:
    return (meta or {}).get("severity", CRITICAL)


def mart_suites() -> dict[str, list[gxe.Expectation]]:
    return {
        "customer_lifetime_value": _suite(
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (gxe.ExpectColumnValuesToNotBeNull(column="customer_id"), CRITICAL),
            (gxe.ExpectColumnValuesToBeUnique(column="customer_id"), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="bookings_amount", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="cash_collected", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="order_count", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="avg_csat", min_value=1, max_value=5), WARNING),
        ),
        "sales_funnel": _suite(
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (gxe.ExpectCompoundColumnsToBeUnique(column_list=["stage", "entered_month"]), CRITICAL),
            (gxe.ExpectColumnValuesToBeInSet(column="stage", value_set=FUNNEL_STAGES), CRITICAL),
            # of the opportunities that entered a stage, no more can advance than entered
            (
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="entered_count", column_B="advanced_count", or_equal=True
                ),
                CRITICAL,
            ),
            (gxe.ExpectColumnValuesToBeBetween(column="conversion_rate", min_value=0, max_value=1), CRITICAL),
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
        ),
        "target_attainment": _suite(
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (gxe.ExpectCompoundColumnsToBeUnique(column_list=["rep_id", "team", "region", "product_line", "month"]), CRITICAL),
            (gxe.ExpectColumnValuesToNotBeNull(column="rep_id"), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="target_amount", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="bookings_amount", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="attainment_rate", min_value=0), CRITICAL),
        ),
    }
