"""Shipping-fee sensitivity per customer, shrunk toward the store (empirical Bayes, beta prior).

Evidence per customer:
  * orders with paid shipping           -> the customer accepts a fee (insensitive outcome)
  * orders with free shipping           -> bought only when shipping was free (sensitive outcome)
  * sessions where a checkout with a fee was started and no purchase followed
                                        -> abandoned because of (or despite) the fee (sensitive)
``shipping_sensitivity`` = posterior mean of P(sensitive outcome) under a Beta prior fitted to
all customers by maximum marginal likelihood (beta-binomial), so a customer with no history
gets the store average and one with many orders gets close to their own share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import betaln

F64 = npt.NDArray[np.float64]

MIN_CUSTOMERS_TO_FIT = 20
DEFAULT_STRENGTH = 4.0  # prior worth four orders when there is too little data to fit one
STRENGTH_BOUNDS = (0.5, 200.0)


@dataclass(frozen=True, slots=True)
class ShippingCounts:
    orders_paid: int = 0
    orders_free: int = 0
    abandoned_charged: int = 0  # sessions with a charged checkout and no purchase after it

    @property
    def sensitive(self) -> int:
        return self.orders_free + self.abandoned_charged

    @property
    def trials(self) -> int:
        return self.orders_paid + self.orders_free + self.abandoned_charged


@dataclass(frozen=True, slots=True)
class BetaPrior:
    mean: float
    strength: float  # alpha + beta: how many observations the prior is worth

    @property
    def alpha(self) -> float:
        return self.mean * self.strength

    @property
    def beta(self) -> float:
        return (1.0 - self.mean) * self.strength

    def posterior_mean(self, successes: float, trials: float) -> float:
        return (successes + self.alpha) / (trials + self.strength)


def fit_beta_prior(successes: Sequence[float], trials: Sequence[float]) -> BetaPrior:
    """Beta prior by maximum beta-binomial marginal likelihood over customers with trials.

    Too few customers: the pooled rate with :data:`DEFAULT_STRENGTH`. No data at all: 0.5.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    keep = n > 0
    k, n = k[keep], n[keep]
    if n.size == 0:
        return BetaPrior(mean=0.5, strength=DEFAULT_STRENGTH)
    pooled = float(np.clip(k.sum() / n.sum(), 1e-3, 1 - 1e-3))
    if n.size < MIN_CUSTOMERS_TO_FIT:
        return BetaPrior(mean=pooled, strength=DEFAULT_STRENGTH)

    def nll(params: F64) -> float:
        mean = 1.0 / (1.0 + np.exp(-params[0]))
        strength = float(np.exp(params[1]))
        a, b = mean * strength, (1 - mean) * strength
        return float(-np.sum(betaln(k + a, n - k + b) - betaln(a, b)))

    # Bounded: when every customer has the same rate the likelihood keeps improving as the
    # prior gets stronger (no over-dispersion), and a rate of exactly 0 or 1 has no finite logit.
    start = np.array([np.log(pooled / (1 - pooled)), np.log(DEFAULT_STRENGTH)])
    bounds = [(-7.0, 7.0), (float(np.log(STRENGTH_BOUNDS[0])), float(np.log(STRENGTH_BOUNDS[1])))]
    with np.errstate(all="ignore"):
        result = minimize(nll, start, method="L-BFGS-B", bounds=bounds)
    mean = float(1.0 / (1.0 + np.exp(-result.x[0])))
    strength = float(np.exp(result.x[1]))
    return BetaPrior(mean=mean, strength=strength)


@dataclass(frozen=True, slots=True)
class ShippingScores:
    shipping_sensitivity: float
    shipping_paid_ratio: float  # shrunk share of orders with paid shipping
    shipping_evidence: int  # orders + abandoned charged checkouts behind the estimate


@dataclass(frozen=True, slots=True)
class ShippingModel:
    sensitivity_prior: BetaPrior
    paid_ratio_prior: BetaPrior

    @classmethod
    def fit(cls, counts: Sequence[ShippingCounts]) -> ShippingModel:
        return cls(
            sensitivity_prior=fit_beta_prior(
                [c.sensitive for c in counts], [c.trials for c in counts]
            ),
            paid_ratio_prior=fit_beta_prior(
                [c.orders_paid for c in counts], [c.orders_paid + c.orders_free for c in counts]
            ),
        )

    def score(self, counts: ShippingCounts) -> ShippingScores:
        return ShippingScores(
            shipping_sensitivity=self.sensitivity_prior.posterior_mean(
                counts.sensitive, counts.trials
            ),
            shipping_paid_ratio=self.paid_ratio_prior.posterior_mean(
                counts.orders_paid, counts.orders_paid + counts.orders_free
            ),
            shipping_evidence=counts.trials,
        )


def counts_from_profile(profile: Mapping[str, str]) -> ShippingCounts:
    """Online approximation from the profile counters the ingest keeps (decoded hash).

    The profile counts charged checkouts, not abandoned ones; a charged checkout that did not
    become a paid order is counted as abandoned (checkouts re-started in one session overcount).
    """

    def num(key: str) -> int:
        try:
            return int(float(profile.get(key, "0") or 0))
        except ValueError:
            return 0

    paid = num("orders_shipping_paid")
    return ShippingCounts(
        orders_paid=paid,
        orders_free=num("orders_shipping_free"),
        abandoned_charged=max(num("checkouts_shipping_charged") - paid, 0),
    )
