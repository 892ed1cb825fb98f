"""BG/NBD repeat-purchase model (Fader, Hardie & Lee 2005), fitted by maximum likelihood.

Inputs per customer: ``x`` repeat purchases (purchase *days* after the first), ``t_x`` time of
the last purchase and ``T`` age at the end of calibration, both since the first purchase, in
any fixed unit (weeks for CDNOW, to compare with the paper's parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float

    @staticmethod
    def neg_log_likelihood(log_params: F64, x: F64, t_x: F64, T: F64) -> float:
        r, alpha, a, b = np.exp(log_params)
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + T)
        repeat = x > 0
        a4 = np.full_like(x, -np.inf)
        a4[repeat] = (
            np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
        )
        return float(-np.sum(a1 + a2 + np.logaddexp(a3, a4)))

    @classmethod
    def fit(cls, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> BgNbd:
        xa, ta, Ta = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
        if xa.size == 0:
            raise ValueError("no customers to fit")
        result = minimize(
            cls.neg_log_likelihood,
            np.zeros(4),
            args=(xa, ta, Ta),
            method="Nelder-Mead",
            options={"maxiter": 10_000, "xatol": 1e-8, "fatol": 1e-8},
        )
        r, alpha, a, b = np.exp(result.x)
        return cls(float(r), float(alpha), float(a), float(b))

    def expected_purchases(self, t: float, x: F64, t_x: F64, T: F64) -> F64:
        """E[purchases in (T, T + t] | x, t_x, T] (the paper's conditional expectation)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        numerator = (
            (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
        )
        out: F64 = numerator / self._alive_denominator(x, t_x, T)
        return out

    def p_alive(self, x: F64, t_x: F64, T: F64) -> F64:
        """P(still a customer at T | x, t_x, T); 1 for customers without repeat purchases."""
        x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
        out: F64 = 1.0 / self._alive_denominator(x, t_x, T)
        return out

    def p_buy_again(self, t: float, x: F64, t_x: F64, T: F64) -> F64:
        """P(at least one purchase in (T, T + t]), approximated as P(alive) x P(a Poisson
        purchase with the posterior rate) — dropout during the horizon is ignored, so it is
        slightly optimistic for long horizons."""
        x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
        no_purchase_if_alive = ((self.alpha + T) / (self.alpha + T + t)) ** (self.r + x)
        out: F64 = self.p_alive(x, t_x, T) * (1.0 - no_purchase_if_alive)
        return out

    def _alive_denominator(self, x: F64, t_x: F64, T: F64) -> F64:
        has_repeat = x > 0
        ratio = ((self.alpha + T) / (self.alpha + t_x)) ** (self.r + x)
        safe_b = self.b + np.maximum(x, 1) - 1
        out: F64 = 1.0 + np.where(has_repeat, self.a / safe_b * ratio, 0.0)
        return out
