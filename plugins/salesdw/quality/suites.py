"""Expectation suites over the BI-facing marts: the business invariants BI relies on.

Each entry is (expectation, severity): `critical` fails the run before publish; `warning` is
recorded but does not block.
"""

from __future__ import annotations

import great_expectations.expectations as gxe

CRITICAL, WARNING = "critical", "warning"

FUNNEL_STAGES = ["needs_analysis", "proposal", "negotiation", "contract"]


def mart_suites() -> dict[str, list[tuple[gxe.Expectation, str]]]:
    return {
        "customer_lifetime_value": [
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (gxe.ExpectColumnValuesToNotBeNull(column="customer_id"), CRITICAL),
            (gxe.ExpectColumnValuesToBeUnique(column="customer_id"), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="bookings_amount", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="cash_collected", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="order_count", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="avg_csat", min_value=1, max_value=5), WARNING),
        ],
        "sales_funnel": [
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (gxe.ExpectCompoundColumnsToBeUnique(column_list=["stage", "entered_month"]), CRITICAL),
            (gxe.ExpectColumnValuesToBeInSet(column="stage", value_set=FUNNEL_STAGES), CRITICAL),
            # of the opportunities that entered a stage, no more can advance than entered
            (gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="entered_count", column_B="advanced_count", or_equal=True), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="conversion_rate", min_value=0, max_value=1), CRITICAL),
        ],
        "target_attainment": [
            (gxe.ExpectTableRowCountToBeBetween(min_value=1), CRITICAL),
            (gxe.ExpectCompoundColumnsToBeUnique(column_list=["rep_id", "product_line", "month"]), CRITICAL),
            (gxe.ExpectColumnValuesToNotBeNull(column="rep_id"), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="target_amount", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="bookings_amount", min_value=0), CRITICAL),
            (gxe.ExpectColumnValuesToBeBetween(column="attainment_rate", min_value=0), CRITICAL),
        ],
    }
