"""Shipping-fee sensitivity: known answers on constructed histories."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from personalize.propensity.shipping import (
    DEFAULT_STRENGTH,
    BetaPrior,
    ShippingCounts,
    ShippingModel,
    counts_from_profile,
    fit_beta_prior,
)


def population() -> list[ShippingCounts]:
    """A store where 40% of customers only buy with free shipping and 60% always pay it."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(500):
        n = int(rng.integers(1, 8))
        if i % 5 < 2:
            out.append(ShippingCounts(orders_free=n, abandoned_charged=int(rng.integers(0, 2))))
        else:
            out.append(ShippingCounts(orders_paid=n))
    return out


def test_customer_without_history_gets_the_store_prior() -> None:
    model = ShippingModel.fit(population())
    score = model.score(ShippingCounts())
    assert score.shipping_sensitivity == pytest.approx(model.sensitivity_prior.mean)
    assert score.shipping_paid_ratio == pytest.approx(model.paid_ratio_prior.mean)
    assert score.shipping_evidence == 0
    # The store average: ~40% of evidence is "sensitive" here, and the prior is weak because
    # customers differ a lot (a polarised store).
    assert 0.3 < model.sensitivity_prior.mean < 0.55
    assert model.sensitivity_prior.strength < 2.0


def test_many_orders_get_close_to_the_customer_s_own_share() -> None:
    model = ShippingModel.fit(population())
    always_paid = model.score(ShippingCounts(orders_paid=20))
    assert always_paid.shipping_sensitivity < 0.05  # raw share 0
    assert always_paid.shipping_paid_ratio > 0.95  # raw share 1
    only_free = model.score(ShippingCounts(orders_free=15, abandoned_charged=5))
    assert only_free.shipping_sensitivity > 0.95


def test_few_orders_are_shrunk_more_than_many() -> None:
    model = ShippingModel.fit(population())
    one = model.score(ShippingCounts(orders_paid=1)).shipping_sensitivity
    ten = model.score(ShippingCounts(orders_paid=10)).shipping_sensitivity
    prior = model.sensitivity_prior.mean
    assert 0.0 < ten < one < prior


def test_abandoned_charged_checkouts_raise_sensitivity() -> None:
    model = ShippingModel.fit(population())
    base = model.score(ShippingCounts(orders_paid=3)).shipping_sensitivity
    abandoned = model.score(ShippingCounts(orders_paid=3, abandoned_charged=3)).shipping_sensitivity
    assert abandoned > base + 0.3


def test_posterior_mean_is_the_beta_binomial_formula() -> None:
    prior = BetaPrior(mean=0.3, strength=10.0)
    assert prior.posterior_mean(2, 4) == pytest.approx((2 + 3) / (4 + 10))


def test_homogeneous_store_gets_a_strong_prior_and_tiny_stores_the_default() -> None:
    same = fit_beta_prior([1] * 300, [4] * 300)  # everyone at 25%: no over-dispersion
    assert same.mean == pytest.approx(0.25, abs=0.01) and same.strength > 50
    tiny = fit_beta_prior([1, 0, 2], [2, 3, 2])
    assert tiny == BetaPrior(mean=pytest.approx(3 / 7), strength=DEFAULT_STRENGTH)  # type: ignore[arg-type]
    assert fit_beta_prior([], []).mean == 0.5


def test_counts_from_profile_counters() -> None:
    profile = {
        "orders_shipping_paid": "2",
        "orders_shipping_free": "5",
        "checkouts_shipping_charged": "6",
    }
    assert counts_from_profile(profile) == ShippingCounts(
        orders_paid=2, orders_free=5, abandoned_charged=4
    )
    assert counts_from_profile({}) == ShippingCounts()


_MODEL = ShippingModel.fit(population())


@given(paid=st.integers(0, 200), free=st.integers(0, 200), abandoned=st.integers(0, 50))
def test_scores_are_probabilities_and_monotone(paid: int, free: int, abandoned: int) -> None:
    counts = ShippingCounts(orders_paid=paid, orders_free=free, abandoned_charged=abandoned)
    score = _MODEL.score(counts)
    assert 0.0 < score.shipping_sensitivity < 1.0 and 0.0 < score.shipping_paid_ratio < 1.0
    one_more_paid = _MODEL.score(ShippingCounts(paid + 1, free, abandoned))
    one_more_abandoned = _MODEL.score(ShippingCounts(paid, free, abandoned + 1))
    assert one_more_paid.shipping_sensitivity < score.shipping_sensitivity
    assert one_more_abandoned.shipping_sensitivity > score.shipping_sensitivity
    assert one_more_paid.shipping_paid_ratio > score.shipping_paid_ratio
