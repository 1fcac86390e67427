"""`salesdw export --xlsx`: what makes a header, and that every amount of the marts says its currency.
(The workbook itself, from a night's real marts, is checked in test_end_to_end.py.)"""

from salesdw.manifest import column_meta, marts, nodes
from salesdw.publish.excel import column_formats, header_of


def test_a_header_is_the_descriptions_first_clause():
    assert header_of("amount", "Deal amount as in the source, in currency.") == "Deal amount as in the source"
    assert header_of("line", "Product line (software, hardware, services); 'unknown' else") == (
        "Product line (software, hardware, services)"
    )
    # too long with its aside: the aside goes, then words
    assert header_of("t", "Sum of the targets (fct_targets.target_amount_reporting, reporting currency) of the rows"
                     " in the period; 0 when none") == "Sum of the targets of the rows in the period"  # fmt: skip
    assert header_of("rate", "Bookings attainment (达成率): bookings / target") == "Bookings attainment (达成率)"
    assert header_of("x", "A ratio of 1.5 or more") == "A ratio of 1.5 or more"  # a decimal point ends nothing
    assert header_of("month_end", None) == "month_end" and header_of("c", "  ") == "c"


def test_every_amount_of_the_marts_says_its_currency(dbt_manifest):
    """A mart's money column (numeric(18,2)) declares `meta: {format: reporting_currency}` or, in a
    source currency, `amount`; every declared format is one the export knows."""
    models = nodes("model")
    amounts = {
        (mart, column["name"]): column_meta(column).get("format")
        for mart in marts()
        for column in models[mart]["columns"].values()
        if column.get("data_type") == "numeric(18,2)"
    }
    assert len(amounts) >= 70
    assert {key for key, fmt in amounts.items() if fmt not in ("reporting_currency", "amount")} == set()
    assert amounts[("fct_bookings", "booking_amount")] == "amount"
    assert amounts[("fct_bookings", "booking_amount_reporting")] == "reporting_currency"
    formats = column_formats("EUR")  # raises on a format it does not know
    assert formats["collections"]["amount_due_in_month"] == '#,##0.00 "EUR"'
    assert formats["sales_funnel"]["win_rate"] == "0.0%"
