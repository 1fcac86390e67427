"""`salesdw mf`'s view of the dbt project and its table's numbers (publish/metrics.py); the metrics
themselves are checked against the marts through MetricFlow in test_end_to_end.py."""

import datetime
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from salesdw.publish.metrics import METRICFLOW_PATCHED, SEMANTIC_MANIFEST, _plain, _plain_numbers, prepare_project


def test_metricflow_reads_the_published_views_of_the_warehouse_it_is_given(tmp_path):
    project, into = tmp_path / "dbt_project", tmp_path / "metricflow"
    (project / "target").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: x\n")
    relation = {"alias": "fct_bookings", "schema_name": "marts_build_b", "database": "salesdw"}
    elsewhere = {
        "alias": "stg_x",
        "schema_name": "staging",
        "database": "salesdw",
        "relation_name": '"salesdw"."staging"."stg_x"',
    }
    manifest = {
        "semantic_models": [{"name": "bookings", "node_relation": dict(relation, relation_name="...")}],
        "project_configuration": {"time_spines": [{"node_relation": dict(relation, alias="dim_date")}]},
        "other": [{"node_relation": elsewhere}],
    }
    (project / SEMANTIC_MANIFEST).write_text(json.dumps(manifest))
    prepare_project("e2e", project, into)
    prepare_project("e2e", project, into)  # again: the links are kept, the manifest rewritten
    written = json.loads((into / SEMANTIC_MANIFEST).read_text())
    assert written["semantic_models"][0]["node_relation"] == {
        "alias": "fct_bookings",
        "schema_name": "marts",
        "database": "e2e",
        "relation_name": '"e2e"."marts"."fct_bookings"',
    }
    assert (
        written["project_configuration"]["time_spines"][0]["node_relation"]["relation_name"]
        == '"e2e"."marts"."dim_date"'
    )
    assert written["other"][0]["node_relation"] == elsewhere  # not a mart: left as dbt wrote it
    assert (into / "dbt_project.yml").resolve() == (project / "dbt_project.yml").resolve()
    assert not (into / "target").is_symlink()


def test_mf_prints_money_to_the_cent_and_ratios_as_metricflow_does(monkeypatch):
    """`salesdw mf query`'s table, through MetricFlow's own code (the rows as dbt hands them over:
    PostgreSQL's numeric and double precision as Decimal): a total in full, not 2.26443e+08; a ratio's
    quotient to six significant digits, as MetricFlow prints it; `--decimals N` as MetricFlow has it."""
    from metricflow.data_table import mf_table

    lock = (Path(__file__).resolve().parents[1] / "requirements.lock").read_text()
    assert f"\nmetricflow=={METRICFLOW_PATCHED}\n" in lock, "metricflow moved: does _plain_numbers still fit?"
    monkeypatch.setattr(mf_table, "format", format, raising=False)  # removed again after the test
    _plain_numbers()
    table = mf_table.MetricFlowDataTable.create_from_rows(
        ["metric_time__year", "bookings", "win_rate", "deals_won_count"],
        [
            (datetime.date(2024, 1, 1), Decimal("226442924.07"), Decimal("0.28252032520325204"), 292),
            (datetime.date(2025, 1, 1), Decimal("139870.00"), Decimal("0.011521739130434782"), 3),
            (datetime.date(2026, 1, 1), None, None, 0),
        ],
    )
    text = table.text_format()
    assert [line.split() for line in text.splitlines()[2:]] == [
        ["2024-01-01T00:00:00", "226442924.07", "0.28252", "292"],
        ["2025-01-01T00:00:00", "139870", "0.0115217", "3"],
        ["2026-01-01T00:00:00", "0"],
    ]
    assert not re.search(r"\de[+-]", text)
    assert table.text_format(2).splitlines()[2].split()[1:3] == ["226442924.07", "0.28"]  # `--decimals 2`


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (226442924.07, "226442924.07"),  # a sum of money: every digit, no exponent
        (-1234567890123.45, "-1234567890123.45"),
        (1e16, "10000000000000000"),
        (0.125, "0.125"),  # a quotient that ends: all of it
        (0.1 + 0.2, "0.3"),  # 0.30000000000000004: a double's tail
        (12345678.123456789, "12345678.12"),  # a quotient of money: six significant digits, but the cents
        (1.23456789e-7, "0.000000123457"),
        (Decimal("12345678901234567890.123456789"), "12345678901234567890.123456789"),  # a Decimal: kept whole
        (float("nan"), "nan"),
    ],
)
def test_a_number_in_mf_s_table(value, printed):
    assert _plain(value, "g") == printed
    assert _plain(value, ".2f") == format(value, ".2f")  # `--decimals 2`: MetricFlow's own
