"""The CLV backtest's BG/NBD + Gamma-Gamma baseline (transform/clv_baseline.py) against the papers.

The fit (pymc-marketing) is held to an independent one (salesdw_dev/btyd.py: the models'
log-likelihoods and conditional expectations written out from Fader, Hardie & Lee and Fader &
Hardie, maximised with scipy), on customers simulated from known parameters. Then the warehouse
side: the night's table replaced whole, a night without a fit recorded with its reason.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import psycopg
import pytest
from salesdw.transform import clv_baseline
from salesdw.transform.clv_baseline import NotFitted, fit_btyd
from salesdw_dev import btyd

HORIZON = 365
LITTLE = "(too little history before it)"
TRUTH = {"r": 0.9, "alpha": 60.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "v": 900.0}  # alpha in days


def _simulate(n: int = 1500, seed: int = 7) -> list[tuple]:
    """Customers from the BG/NBD and Gamma-Gamma processes: (id, frequency, recency, T, mean repeat value)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rate = rng.gamma(TRUTH["r"], 1 / TRUTH["alpha"])
        dropout = rng.beta(TRUTH["a"], TRUTH["b"])
        nu = rng.gamma(TRUTH["q"], 1 / TRUTH["v"])  # a purchase's value ~ Gamma(p, nu)
        age = float(rng.integers(30, 730))
        t, times = 0.0, []
        while True:
            t += rng.exponential(1 / rate)
            if t > age:
                break
            times.append(t)
            if rng.random() < dropout:
                break
        values = rng.gamma(TRUTH["p"], 1 / nu, size=len(times))
        x = len(times)
        rows.append((f"C{i}", x, round(times[-1]) if x else 0, age, float(values.mean()) if x else None))
    # whole days, as int_customer_purchase_summary counts them
    return [(c, x, min(tx, age), age, m) for c, x, tx, age, m in rows]


@pytest.fixture(scope="module")
def customers():
    return _simulate()


@pytest.fixture(scope="module")
def fitted(customers):
    return fit_btyd(customers, HORIZON)


def test_the_fit_is_the_maximum_likelihood_of_both_models(customers, fitted):
    """pymc-marketing's fit equals an independent maximisation of the papers' likelihoods, and
    recovers the parameters the customers were simulated with."""
    _, x, tx, T, m = (np.array(col, dtype=object) for col in zip(*customers, strict=True))
    x, tx, T = (col.astype(float) for col in (x, tx, T))
    bgnbd = btyd.maximise(btyd.bgnbd_loglik, [1.0, 50.0, 1.0, 1.0], x, tx, T)
    repeat = x > 0
    spend = m[repeat].astype(float)
    gamma_gamma = btyd.maximise(btyd.gamma_gamma_loglik, [1.0, 2.0, spend.mean()], x[repeat], spend)
    found = fitted.parameters
    for name, value in zip(
        (*clv_baseline.BGNBD_PARAMETERS, *clv_baseline.GAMMA_GAMMA_PARAMETERS), [*bgnbd, *gamma_gamma]
    ):
        assert found[name] == pytest.approx(value, rel=2e-3), name
    # the log-likelihood at pymc-marketing's optimum is the maximum, to the optimisers' tolerance
    ours = [found[k] for k in clv_baseline.BGNBD_PARAMETERS]
    assert btyd.bgnbd_loglik(ours, x, tx, T) == pytest.approx(btyd.bgnbd_loglik(bgnbd, x, tx, T), abs=1e-3)
    assert found["r"] / found["alpha"] == pytest.approx(TRUTH["r"] / TRUTH["alpha"], rel=0.15)  # mean purchase rate
    assert found["a"] / (found["a"] + found["b"]) == pytest.approx(TRUTH["a"] / (TRUTH["a"] + TRUTH["b"]), rel=0.2)


def test_each_customers_prediction_is_the_papers_conditional_expectation(customers, fitted):
    """Per customer: expected purchases over the horizon and P(alive) by the closed forms, the value
    of a purchase as Gamma-Gamma's conditional mean (the population's mean without a repeat purchase)."""
    found = fitted.parameters
    bgnbd = [found[k] for k in clv_baseline.BGNBD_PARAMETERS]
    gamma_gamma = [found[k] for k in clv_baseline.GAMMA_GAMMA_PARAMETERS]
    assert [c[0] for c in customers] == [f[0] for f in fitted.predictions]
    for (_, x, tx, T, m), (_, purchases, alive, value) in zip(customers, fitted.predictions, strict=True):
        expected, p_alive = btyd.bgnbd_expected(bgnbd, x, tx, T, HORIZON)
        assert purchases == pytest.approx(float(expected), rel=1e-6)
        assert alive == pytest.approx(float(p_alive), rel=1e-6)
        assert value == pytest.approx(float(btyd.gamma_gamma_spend(gamma_gamma, x, m)), rel=1e-6)


def test_data_without_a_repeat_purchase_is_not_fitted():
    with pytest.raises(NotFitted, match="no customer has a repeat purchase"):
        fit_btyd([("A", 0, 0, 100, None), ("B", 0, 0, 30, None)], HORIZON)


def test_the_night_replaces_the_last_fit_and_records_one_it_could_not_make(set_up_db, dbt_manifest):
    """fit_clv_baseline reads the summary dbt built and writes the night's predictions whole (the
    backtest reads its run date's only) and a row of ml.clv_btyd_fits; data that cannot be fitted
    leaves no predictions and says why."""
    sample = _simulate(n=300, seed=3)
    with psycopg.connect(set_up_db, autocommit=True) as conn:
        conn.execute(
            "create table intermediate.int_customer_purchase_summary (run_date date, as_of_date date, customer_id text,"
            " frequency int, recency_days int, age_days int, monetary_value numeric(18, 2), horizon_days int)"
        )
        conn.execute("insert into ml.clv_btyd_predictions values ('2025-12-30', '2024-12-30', 'OLD', 1, 1, 1, 1)")
        with conn.cursor().copy("copy intermediate.int_customer_purchase_summary from stdin") as copy:
            for c, x, tx, T, m in sample:
                copy.write_row(("2025-12-31", "2024-12-31", c, x, tx, int(T), m, HORIZON))
    fit = clv_baseline.fit_clv_baseline(set_up_db)
    assert fit["status"] == "fitted" and fit["customers"] == 300 and fit["run_date"] == "2025-12-31"
    with psycopg.connect(set_up_db) as conn:
        run_dates, customers, total = conn.execute(
            "select array_agg(distinct run_date::text), count(*), sum(predicted_margin) from ml.clv_btyd_predictions"
        ).fetchone()
        fits = conn.execute(
            "select run_date::text, status, customers, predicted_margin from ml.clv_btyd_fits"
        ).fetchall()
    assert run_dates == ["2025-12-31"] and customers == 300
    assert fits == [("2025-12-31", "fitted", 300, total)]

    with psycopg.connect(set_up_db, autocommit=True) as conn:  # the same night again, with no repeat purchase
        conn.execute("update intermediate.int_customer_purchase_summary set frequency = 0, recency_days = 0")
    assert clv_baseline.fit_clv_baseline(set_up_db)["status"] == "not fitted"
    with psycopg.connect(set_up_db) as conn:
        assert conn.execute("select count(*) from ml.clv_btyd_predictions").fetchone() == (0,)
        assert conn.execute(
            "select run_date::text, status, reason like 'no customer has a repeat%' from ml.clv_btyd_fits"
        ).fetchall() == [("2025-12-31", "not fitted", True)]

    # the night's date is checked: a summary dbt built for another night is not fitted as tonight's
    with pytest.raises(ValueError, match="built for 2025-12-31, not 2026-01-01"):
        clv_baseline.fit_clv_baseline(set_up_db, date(2026, 1, 1))
    with psycopg.connect(set_up_db, autocommit=True) as conn:  # too little history: nobody had bought
        conn.execute("delete from intermediate.int_customer_purchase_summary")
    assert clv_baseline.fit_clv_baseline(set_up_db, date(2026, 1, 1))["status"] == "not fitted"
    with psycopg.connect(set_up_db) as conn:
        assert conn.execute(
            "select run_date::text, status, customers, reason from ml.clv_btyd_fits order by 1"
        ).fetchall()[1] == (
            "2026-01-01",
            "not fitted",
            0,
            "no customer had bought by the backtest's cutoff (too little history before it)",
        )


def test_the_backtest_shows_the_model_beside_both_baselines(set_up_db, tmp_path, dbt_manifest):
    """A night's build on a world with two years of history, as the DAG runs it: dbt builds every
    model but the fits' readers, the baseline is fitted, then clv_backtest. Its BG/NBD figures equal
    the papers' (salesdw_dev/btyd.py) on the purchases summarised here, in Python, from the orders
    dbt valued (int_customer_orders_margined) of the customers the backtest scores: the fit is the
    likelihood's maximum, and the mart sums each customer's conditional expectation at it."""
    from collections import defaultdict

    from salesdw import config
    from salesdw.load.references import check_references
    from salesdw.load.source import load_source
    from salesdw.orchestrate.dbt_results import NIGHTLY_EXCLUDE
    from salesdw.orchestrate.runner import dbt, dbt_env
    from salesdw.publish.publications import BUILD_SCHEMA_VARIABLE
    from salesdw.transform import READERS
    from salesdw_dev.generate import generate

    day, cutoff = date(2026, 1, 1), date(2025, 1, 1)
    generate(start=day, days=1, scale=0.03, seed=5, data_dir=tmp_path, landing_files=True, history_days=800)
    for source in config.sources():
        load_source(source, day, url=set_up_db, landing=tmp_path / "landing")
    check_references(set_up_db, day)
    common = ["--vars", f"{{run_date: '{day}'}}", "--target-path", str(tmp_path / "target"), "--quiet"]
    assert dbt(["build", "--exclude", NIGHTLY_EXCLUDE, READERS, *common], set_up_db).returncode == 0
    fit = clv_baseline.fit_clv_baseline(set_up_db, day)
    assert fit["status"] == "fitted" and fit["as_of_date"] == str(cutoff) and fit["horizon_days"] == 365
    assert dbt(["build", "--select", READERS, "--exclude", NIGHTLY_EXCLUDE, *common], set_up_db).returncode == 0

    schema = dbt_env(set_up_db)[BUILD_SCHEMA_VARIABLE]
    with psycopg.connect(set_up_db) as conn:
        actual = dict(
            conn.execute(
                "select customer_id, coalesce(actual_margin, 0) from intermediate.int_customer_value_predicted"
                " where has_outcome and as_of_date = %s",
                [cutoff],
            ).fetchall()
        )
        orders = conn.execute(
            "select account_id, booking_date, gross_margin from intermediate.int_customer_orders_margined"
            " where booking_date <= %s order by booking_date",
            [cutoff],
        ).fetchall()
        mart = conn.execute(
            f"select customers, wape, repeat_wape, bgnbd_predicted_margin, bgnbd_wape, bgnbd_total_error_pct"
            f" from {schema}.clv_backtest where is_total"
        ).fetchone()
    days = defaultdict(lambda: defaultdict(float))  # customer -> day -> value (a day's orders are one purchase)
    for account, booked, margin in orders:
        if account in actual:
            days[account][booked] += float(margin or 0)
    customers = []
    for account, values in days.items():
        dated = sorted(values)
        repeat = [values[d] for d in dated[1:]]
        customers.append(
            (account, len(repeat), (dated[-1] - dated[0]).days, (cutoff - dated[0]).days,
             sum(repeat) / len(repeat) if repeat else None)
        )  # fmt: skip
    assert len(customers) == fit["customers"] and sum(1 for c in customers if c[1]) == fit["repeat_customers"]
    # the maximum of the likelihood: this world's purchase rates barely differ, so r runs towards its
    # bound along a ridge where the likelihood hardly changes; held to the likelihood, not to r
    reference = btyd.fit(customers, clv_baseline.R_MAX)
    x, tx, T = (np.array([c[i] for c in customers], dtype=float) for i in (1, 2, 3))
    ours, theirs = ([found[k] for k in clv_baseline.BGNBD_PARAMETERS] for found in (fit, reference))
    assert btyd.bgnbd_loglik(ours, x, tx, T) == pytest.approx(btyd.bgnbd_loglik(theirs, x, tx, T), abs=0.01)
    for name in clv_baseline.GAMMA_GAMMA_PARAMETERS:
        assert fit[name] == pytest.approx(reference[name], rel=2e-3), name
    # and the mart: the papers' prediction at the fitted parameters, summed over the backtest's customers
    predicted = btyd.predict(fit, customers, 365)
    baseline = {customer: predicted.get(customer, 0.0) for customer in actual}  # 0 for one who had not bought
    total = sum(actual.values())
    assert mart[0] == len(actual)
    assert float(mart[3]) == pytest.approx(sum(baseline.values()), abs=0.01 * len(baseline))  # cents per customer
    assert float(mart[4]) == pytest.approx(
        sum(abs(baseline[c] - float(actual[c])) for c in actual) / float(total), abs=1e-4
    )
    assert float(mart[5]) == pytest.approx((sum(baseline.values()) - float(total)) / float(total), abs=1e-4)
    # the published model, and both baselines beside it
    assert None not in mart
    print(f"backtest of {mart[0]} customers: WAPE model {mart[1]}, repeat {mart[2]}, BG/NBD {mart[4]}")
