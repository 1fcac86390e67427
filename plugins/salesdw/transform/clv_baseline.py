"""The CLV backtest's second baseline: BG/NBD + Gamma-Gamma, fitted in Python between two dbt builds.

clv_backtest compares the published prediction (customer_lifetime_value, a SQL model) with what two
standard methods would have predicted at the same cutoff for the same customers. One is SQL (the
last horizon repeated); this one is the textbook "buy till you die" pair, which dbt-postgres cannot
fit: BG/NBD (Fader, Hardie & Lee 2005) for how many purchases each customer makes in the horizon,
Gamma-Gamma (Fader & Hardie 2013) for what a purchase is worth. pymc-marketing fits both, the
maintained successor of `lifetimes` (which its README points to); `lifetimes` and `btyd` are no
longer maintained.

Both are fitted by maximum likelihood, as `lifetimes` fits them: flat priors, so the MAP is the MLE
and the baseline has no setting of ours in it but one bound (R_MAX). The BG/NBD likelihood is nearly flat along a ridge
(a and b grow together when few customers drop out): from pymc's default start of 1 for every
parameter the optimiser can walk off along it, with weeks as the unit as much as with days. Started
at the data's own purchase rate (alpha = 1 / rate) it reaches the same optimum in days, weeks,
months or lifetimes' scaled unit: the same r, alpha and expected purchases (the demo: 735.7 in each).

The night: dbt builds every model but those reading schema ml (transform.READERS), among them
int_customer_purchase_summary; `fit_clv_baseline` fits on it and writes ml.clv_btyd_predictions
(the night's, whole) and its row of ml.clv_btyd_fits; a second dbt build then makes clv_backtest.
A night whose data cannot be fitted (no repeat purchase yet, a degenerate optimum) records why in
ml.clv_btyd_fits and writes no predictions: the backtest shows the baseline as null, its warn test
says so, and the night's marts are published as usual.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version

from salesdw.transform import SCHEMA

log = logging.getLogger(__name__)

SUMMARY_MODEL = "int_customer_purchase_summary"  # what the fit reads, where dbt built it (its manifest)
DDL = f"""
create table if not exists {SCHEMA}.clv_btyd_fits (
    run_date           date        primary key,
    as_of_date         date,
    horizon_days       integer,
    customers          integer     not null,
    repeat_customers   integer     not null,
    status             text        not null check (status in ('fitted', 'not fitted')),
    reason             text,
    r                  double precision,
    alpha              double precision,
    a                  double precision,
    b                  double precision,
    p                  double precision,
    q                  double precision,
    v                  double precision,
    expected_purchases double precision,
    predicted_margin   numeric(18, 2),
    library            text        not null,
    seconds            numeric(10, 2),
    fitted_at          timestamptz not null default now()
);
comment on table {SCHEMA}.clv_btyd_fits is 'one row per night: the maximum-likelihood fit of the CLV backtest''s
    baseline, BG/NBD (r, alpha in days, a, b) and Gamma-Gamma (p, q, v), or why there is none';
create table if not exists {SCHEMA}.clv_btyd_predictions (
    run_date                date             not null,
    as_of_date              date             not null,
    customer_id             text             not null,
    expected_purchases      double precision not null,
    probability_alive       double precision not null,
    expected_purchase_value numeric(18, 2)   not null,
    predicted_margin        numeric(18, 2)   not null,
    primary key (run_date, customer_id)
);
comment on table {SCHEMA}.clv_btyd_predictions is 'the last fitted night''s BG/NBD + Gamma-Gamma prediction
    per customer at the backtest''s cutoff (clv_backtest reads it)';
"""
BGNBD_PARAMETERS = ("r", "alpha", "a", "b")
# The purchase rates' Gamma shape, at most: with 1,000 their coefficient of variation is 3%. Where the
# customers' rates barely differ (as in a simulated world) the unbounded optimum runs off to r = 1e7
# with alpha = r / rate, and the conditional expectation's hypergeometric function overflows.
R_MAX = 1000.0
GAMMA_GAMMA_PARAMETERS = ("p", "q", "v")


class NotFitted(Exception):
    """The night's data cannot give a fit (the reason is recorded, not raised to the DAG)."""


@dataclass
class Fit:
    parameters: dict[str, float]
    # per customer: expected purchases, probability alive, expected purchase value
    predictions: list[tuple[str, float, float, float]]


def fit_clv_baseline(url: str, run_date: date | None = None) -> dict:
    """Fit the baseline on int_customer_purchase_summary as dbt built it for `run_date` (default: the
    date it was built for) and write its predictions and fit; the fit's summary, as the task's result."""
    import psycopg

    started = time.monotonic()
    with psycopg.connect(url) as conn:
        rows = conn.execute(_summary_query()).fetchall()
        built_for = rows[0][0] if rows else run_date
        if run_date and built_for != run_date:  # a summary of another night: fitting it would mislead
            raise ValueError(f"{SUMMARY_MODEL} was built for {built_for}, not {run_date}: run dbt for {run_date} first")
        customers = [row[2:7] for row in rows]  # customer_id, frequency, recency_days, age_days, monetary_value
        record = {
            "run_date": built_for,
            "as_of_date": rows[0][1] if rows else None,
            "horizon_days": rows[0][7] if rows else None,
            "customers": len(customers),
            "repeat_customers": sum(1 for c in customers if c[1] > 0),
            "library": f"pymc-marketing {version('pymc-marketing')}",
        }
        if built_for is None:  # nothing to fit, and no date to record it under
            log.warning("%s is empty: no customer had bought by the backtest's cutoff; no baseline", SUMMARY_MODEL)
            return record | {"status": "not fitted", "reason": "no customer had bought by the cutoff"}
        try:
            if not customers:
                raise NotFitted("no customer had bought by the backtest's cutoff (too little history before it)")
            fit = fit_btyd(customers, record["horizon_days"])
        except NotFitted as reason:
            record.update(status="not fitted", reason=str(reason))
            log.warning("CLV baseline not fitted for %s: %s", built_for, reason)
        else:
            predicted = [(c, n, alive, value, round(n * value, 2)) for c, n, alive, value in fit.predictions]
            record.update(
                status="fitted",
                **fit.parameters,
                expected_purchases=sum(p[1] for p in predicted),
                predicted_margin=round(sum(p[4] for p in predicted), 2),
            )
        record["seconds"] = round(time.monotonic() - started, 2)
        with conn.transaction():
            # the night's fit replaces the last: clv_backtest reads only its own run date's
            conn.execute(f"delete from {SCHEMA}.clv_btyd_predictions")
            if record["status"] == "fitted":
                with conn.cursor().copy(
                    f"copy {SCHEMA}.clv_btyd_predictions (run_date, as_of_date, customer_id, expected_purchases,"
                    " probability_alive, expected_purchase_value, predicted_margin) from stdin"
                ) as copy:
                    for customer, purchases, alive, value, margin in predicted:
                        copy.write_row(
                            (built_for, record["as_of_date"], customer, purchases, alive, round(value, 2), margin)
                        )
            conn.execute(f"delete from {SCHEMA}.clv_btyd_fits where run_date = %s", [built_for])
            columns, values = ", ".join(record), ", ".join(["%s"] * len(record))
            conn.execute(f"insert into {SCHEMA}.clv_btyd_fits ({columns}) values ({values})", list(record.values()))
    if record["status"] == "fitted":
        log.info(
            "CLV baseline for %s (cutoff %s, %d days ahead): %d customers, %d with a repeat purchase;"
            " BG/NBD r %.4g alpha %.4g a %.4g b %.4g, Gamma-Gamma p %.4g q %.4g v %.4g;"
            " %.1f purchases and %s predicted, in %.1f s",
            *(record[k] for k in ("run_date", "as_of_date", "horizon_days", "customers", "repeat_customers")),
            *(record[k] for k in (*BGNBD_PARAMETERS, *GAMMA_GAMMA_PARAMETERS)),
            record["expected_purchases"], f"{record['predicted_margin']:,.2f}", record["seconds"],
        )  # fmt: skip
    return {k: (str(v) if k in ("run_date", "as_of_date") else v) for k, v in record.items()}


def _summary_query():
    from psycopg import sql

    from salesdw.manifest import nodes

    node = nodes("model")[SUMMARY_MODEL]
    return sql.SQL(
        "select run_date, as_of_date, customer_id, frequency, recency_days, age_days, monetary_value, horizon_days"
        " from {} order by customer_id"
    ).format(sql.Identifier(node["schema"], node["alias"]))


def fit_btyd(customers: list[tuple], horizon_days: int) -> Fit:
    """BG/NBD and Gamma-Gamma by maximum likelihood on (customer_id, frequency, recency_days,
    age_days, monetary_value) rows; each customer's expected purchases in `horizon_days`,
    probability of being alive, and expected value of a purchase."""
    # pymc's and ArviZ's notices (ArviZ's coming refactor, at import; the optimiser's) are no news
    # for the night: what matters, a fit that did not converge, is checked below and recorded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _fit_btyd(customers, horizon_days)


def _fit_btyd(customers: list[tuple], horizon_days: int) -> Fit:
    import numpy as np
    import pandas as pd
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    data = pd.DataFrame(customers, columns=["customer_id", "frequency", "recency", "T", "monetary_value"])
    data = data.astype({"frequency": float, "recency": float, "T": float, "monetary_value": float})
    if data["T"].sum() <= 0 or data["frequency"].sum() == 0:
        raise NotFitted("no customer has a repeat purchase by the cutoff: BG/NBD has no purchase rate to learn")
    # customers with a repeat purchase of positive mean value: what Gamma-Gamma is defined on
    spenders = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
    if len(spenders) < 2:
        raise NotFitted(f"{len(spenders)} customer(s) with repeat purchases of positive value: too few for Gamma-Gamma")

    # flat: the MAP is the MLE; r bounded (R_MAX), where customers' purchase rates are all but equal
    flat = {name: Prior("HalfFlat") for name in BGNBD_PARAMETERS} | {"r": Prior("Uniform", lower=0, upper=R_MAX)}
    bgnbd = BetaGeoModel(data=data[["customer_id", "frequency", "recency", "T"]], model_config=flat)
    rate = data["frequency"].sum() / data["T"].sum()  # repeat purchases per day of observation
    bgnbd.fit(method="map", start={"r": 1.0, "alpha": 1.0 / rate, "a": 1.0, "b": 1.0}, progressbar=False)
    # Gamma-Gamma in units of the mean purchase, where its optimiser is well scaled in any currency
    scale = float(spenders["monetary_value"].mean())
    gamma_gamma = GammaGammaModel(
        data=spenders[["customer_id", "frequency"]].assign(monetary_value=spenders["monetary_value"] / scale),
        model_config={name: Prior("HalfFlat") for name in GAMMA_GAMMA_PARAMETERS},
    )
    gamma_gamma.fit(method="map", progressbar=False)

    parameters = {name: float(bgnbd.fit_result[name].mean()) for name in BGNBD_PARAMETERS}
    parameters |= {name: float(gamma_gamma.fit_result[name].mean()) for name in GAMMA_GAMMA_PARAMETERS}
    parameters["v"] *= scale
    if not all(math.isfinite(value) and value > 0 for value in parameters.values()):
        raise NotFitted(f"the maximum-likelihood fit did not converge: {parameters}")
    if parameters["q"] <= 1:
        raise NotFitted(f"Gamma-Gamma q = {parameters['q']:.4g} <= 1: a purchase's expected value is unbounded")

    purchases = _point(bgnbd.expected_purchases(data=data, future_t=horizon_days))
    alive = _point(bgnbd.expected_probability_alive(data=data))
    # a customer without a repeat purchase of positive value gets the population's mean (frequency 0)
    spends = data["customer_id"].isin(spenders["customer_id"])
    spend_input = data[["customer_id"]].assign(
        frequency=np.where(spends, data["frequency"], 0.0),
        monetary_value=np.where(spends, data["monetary_value"] / scale, 0.0),
    )
    value = _point(gamma_gamma.expected_customer_spend(data=spend_input)) * scale
    if not (np.isfinite(purchases).all() and np.isfinite(alive).all() and np.isfinite(value).all()):
        raise NotFitted(f"the fit gives non-finite predictions: {parameters}")
    return Fit(
        parameters,
        list(zip(data["customer_id"], purchases.tolist(), alive.tolist(), value.tolist(), strict=True)),
    )


def _point(result):
    """A prediction at the maximum-likelihood point (one chain, one draw), per customer."""
    return result.mean(("chain", "draw")).values
