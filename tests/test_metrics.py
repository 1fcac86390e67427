"""`salesdw mf`'s view of the dbt project (publish/metrics.py); the metrics themselves are checked
against the marts through MetricFlow in test_end_to_end.py."""

import json

from salesdw.publish.metrics import SEMANTIC_MANIFEST, prepare_project


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
