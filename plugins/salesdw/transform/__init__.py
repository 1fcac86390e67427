"""Transformations dbt cannot make: model fits in Python, written to schema ml for dbt to read.

The night builds in two steps around them: every model but those reading what the fits write
(READERS), then the fits, then those readers (dags/sales_nightly.py; bench/bench_nightly.py the
same, bare).
"""

SCHEMA = "ml"  # owned by the transformer (warehouse/roles.py); dbt's source `ml`
# dbt's selector of the models built after the fits. By table: cosmos's own selector (the DAG's
# task-per-model rendering) matches a source by `source.table` only, where dbt also takes `source:ml+`.
READERS = f"source:{SCHEMA}.clv_btyd_predictions+"
