"""BG/NBD and Gamma-Gamma written out from the papers, for tests to hold salesdw's fit to.

The log-likelihoods and conditional expectations of Fader, Hardie & Lee (2005, "Counting your
customers the easy way"; 2008, "Computing P(alive) using the BG/NBD model") and Fader & Hardie
(2013, "The Gamma-Gamma model of monetary value"), maximised with scipy: nothing of pymc-marketing,
which salesdw's own fit (salesdw/transform/clv_baseline.py) uses.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special


def bgnbd_loglik(params, x, tx, T) -> float:
    """Σ log L(r, alpha, a, b | x, t_x, T) over customers (FHL 2005, eq. 6)."""
    r, alpha, a, b = params
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    first = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * np.log(alpha + T)
    second = np.where(
        x > 0,
        special.betaln(a + 1, b + np.maximum(x, 1) - 1) - special.betaln(a, b) - (r + x) * np.log(alpha + tx),
        -np.inf,
    )
    return float(np.sum(common + np.logaddexp(first, second)))


def bgnbd_expected(params, x, tx, T, t):
    """E[Y(t) | x, t_x, T], the purchases expected in the next t (FHL 2005, eq. 10), and P(alive)."""
    r, alpha, a, b = params
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    head = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    odds = np.where(x > 0, a / (b + np.maximum(x, 1) - 1) * ((alpha + T) / (alpha + tx)) ** (r + x), 0.0)
    return head / (1 + odds), 1 / (1 + odds)


def gamma_gamma_loglik(params, x, m) -> float:
    """Σ log L(p, q, v | x, m̄) over customers with x > 0 repeat purchases of mean value m̄ (FH 2013, eq. 3)."""
    p, q, v = params
    return float(
        np.sum(
            special.gammaln(p * x + q) - special.gammaln(p * x) - special.gammaln(q) + q * np.log(v)
            + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(x * m + v)
        )
    )  # fmt: skip


def gamma_gamma_spend(params, x, m):
    """E[M | p, q, v, x, m̄], a purchase's expected value (FH 2013, eq. 5); the population's mean when x = 0."""
    p, q, v = params
    m = np.nan_to_num(np.asarray(m, dtype=float))  # None or nan: no repeat purchase
    return np.where(x > 0, p * (v + x * m) / (p * x + q - 1), p * v / (q - 1))


def maximise(loglik, start, *data, upper=None) -> np.ndarray:
    """The parameters (all positive, each at most its `upper` bound) maximising `loglik`, over their
    logarithms: L-BFGS-B, then Nelder-Mead from where it stopped (slow along a ridge, but exact)."""
    bounds = [(None, None if u is None else np.log(u)) for u in (upper or [None] * len(start))]

    def loss(log_params):
        return -loglik(np.exp(log_params), *data)

    found = optimize.minimize(loss, np.log(start), method="L-BFGS-B", bounds=bounds, options={"maxiter": 20000})
    polished = optimize.minimize(
        loss, found.x, method="Nelder-Mead", bounds=bounds,
        options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 50000, "maxfev": 50000},
    )  # fmt: skip
    best = min((found, polished), key=lambda result: result.fun)
    if not np.isfinite(best.fun):
        raise RuntimeError(f"{found.message}; {polished.message}")
    return np.exp(best.x)


def _columns(customers):
    x, tx, T = (np.array([c[i] for c in customers], dtype=float) for i in (1, 2, 3))
    m = np.array([c[4] if c[4] is not None else np.nan for c in customers], dtype=float)
    return x, tx, T, m, (x > 0) & (m > 0)  # the last: the customers Gamma-Gamma is fitted on


def fit(customers, r_max: float) -> dict[str, float]:
    """Both models' maximum-likelihood parameters on (id, frequency, recency, T, mean repeat value)
    rows, r at most `r_max`."""
    x, tx, T, m, spenders = _columns(customers)
    bgnbd = maximise(
        bgnbd_loglik, [1.0, T.sum() / max(x.sum(), 1), 1.0, 1.0], x, tx, T, upper=[r_max, None, None, None]
    )
    gamma_gamma = maximise(gamma_gamma_loglik, [1.0, 2.0, np.mean(m[spenders])], x[spenders], m[spenders])
    return dict(zip(("r", "alpha", "a", "b", "p", "q", "v"), [*bgnbd, *gamma_gamma], strict=True))


def predict(parameters: dict[str, float], customers, horizon: float) -> dict[str, float]:
    """Each customer's expected purchases in `horizon` × expected value of a purchase (the
    population's mean for one without a repeat purchase of positive value)."""
    x, tx, T, m, spenders = _columns(customers)
    purchases, _ = bgnbd_expected([parameters[k] for k in ("r", "alpha", "a", "b")], x, tx, T, horizon)
    value = gamma_gamma_spend(
        [parameters[k] for k in ("p", "q", "v")], np.where(spenders, x, 0), np.where(spenders, m, 0)
    )
    return dict(zip([c[0] for c in customers], (purchases * value).tolist(), strict=True))
