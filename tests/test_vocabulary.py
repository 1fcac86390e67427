"""The business's vocabulary is data (dbt_project/seeds/, or a deployment's folder): the loader, the
gates and dbt read one list."""

import csv

import pytest
from salesdw import config, deployment, paths, vocabulary


def _seed(name):
    with (paths.VOCABULARY_DIR / f"{name}.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def test_stages_come_from_the_seed_with_order_outcome_and_probability():
    stages = vocabulary.stages()
    assert [s.name for s in stages] == [row["stage"] for row in _seed("opportunity_stages")]
    opened = [s for s in stages if s.outcome == "open"]
    (won,) = [s for s in stages if s.outcome == "won"]
    assert [s.order for s in opened] == sorted(s.order for s in opened) and won.order > opened[-1].order
    assert all(s.order is None for s in stages if s.outcome == "lost")
    assert {s.name: s.win_probability for s in opened} == {
        "needs_analysis": 0.10,
        "proposal": 0.25,
        "negotiation": 0.50,
        "contract": 0.80,
    }


def test_the_loader_accepts_the_seeds_currencies():
    assert config.currencies() == tuple(row["currency"] for row in _seed("currencies"))
    assert "CNY" in config.currencies()


def test_a_bad_outcome_names_the_seed_and_line(tmp_path, monkeypatch):
    (tmp_path / "opportunity_stages.csv").write_text(
        "stage,stage_order,outcome,win_probability\nqualify,1,open,0.1\nsigned,2,closed,1\n"
    )
    monkeypatch.setattr(deployment, "vocabulary_dir", lambda: tmp_path)
    vocabulary.stages.cache_clear()
    try:
        with pytest.raises(vocabulary.VocabularyError, match=r"opportunity_stages.csv line 3: outcome 'closed'"):
            vocabulary.stages()
    finally:
        vocabulary.stages.cache_clear()


def test_dbt_reads_the_same_folder_and_the_reporting_currency(tmp_path, monkeypatch):
    """The demo's seeds as they are; a deployment's folder mirrored inside the dbt project (dbt writes
    what it ran to target/run/<seed path>, which for a path out of the project is the seed itself)."""
    assert deployment.dbt_seed_path() == "seeds"
    (tmp_path / "vocabulary").mkdir()
    (tmp_path / "vocabulary" / "currencies.csv").write_text("currency,currency_name\nUSD,US dollar\n")
    (tmp_path / "salesdw.yml").write_text("reporting_currency: USD\nvocabulary: vocabulary\n")
    monkeypatch.setattr(paths, "DEPLOYMENT_FILE", tmp_path / "salesdw.yml")
    deployment.settings.cache_clear()
    try:
        env = deployment.environment()
        seeds = paths.DBT_PROJECT_DIR / env["SALESDW_VOCABULARY_DIR"]
        assert seeds.parent == paths.DBT_PROJECT_DIR / ".vocabulary"
        assert (seeds / "currencies.csv").read_text() == (tmp_path / "vocabulary" / "currencies.csv").read_text()
        assert env["SALESDW_REPORTING_CURRENCY"] == "USD"
    finally:
        deployment.settings.cache_clear()


CRM_ALONE = """
sources:
  crm:
    delivery: files
    format: csv
    entities:
      opportunities: {}
"""


def test_the_clv_value_basis_is_margin_with_a_cost_feed_and_bookings_without(deployed, monkeypatch):
    """dbt's var clv_value_basis, from the feeds the deployment configures, in every dbt invocation:
    the demo (every feed) and a deployment with finance.product_costs count margin, a CRM alone its
    bookings; `salesdw dbt` (runner.dbt_env) passes this process's, not an inherited one."""
    from salesdw.orchestrate.runner import dbt_env

    assert deployment.environment()["SALESDW_CLV_VALUE_BASIS"] == "margin"
    deployed(CRM_ALONE)
    assert deployment.environment()["SALESDW_CLV_VALUE_BASIS"] == "bookings"
    monkeypatch.setenv("SALESDW_CLV_VALUE_BASIS", "margin")  # left by a parent running another deployment
    assert dbt_env("postgresql://u:p@127.0.0.1:5432/db")["SALESDW_CLV_VALUE_BASIS"] == "bookings"
    deployed(CRM_ALONE + "  finance:\n    entities:\n      product_costs: {}\n")
    assert deployment.environment()["SALESDW_CLV_VALUE_BASIS"] == "margin"


def test_dbt_knows_the_feeds_the_deployment_has(deployed):
    """env SALESDW_FEEDS: a mart's test has_rows expects rows only when every feed it reads is there
    (macro missing_feeds), so a CRM alone publishes its finance and service marts empty."""
    from salesdw.orchestrate.runner import dbt_env

    assert deployment.environment()["SALESDW_FEEDS"].split(",") == [f"{e.source}.{e.name}" for e in config.entities()]
    deployed(CRM_ALONE)
    assert dbt_env("postgresql://u:p@127.0.0.1:5432/db")["SALESDW_FEEDS"] == "crm.opportunities"


def test_an_unknown_deployment_key_is_named(tmp_path, monkeypatch):
    (tmp_path / "salesdw.yml").write_text("reporting_curency: USD\n")
    monkeypatch.setattr(paths, "DEPLOYMENT_FILE", tmp_path / "salesdw.yml")
    deployment.settings.cache_clear()
    try:
        with pytest.raises(deployment.DeploymentError, match="unknown key.* reporting_curency"):
            deployment.settings()
    finally:
        deployment.settings.cache_clear()
