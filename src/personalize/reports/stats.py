"""Interval estimates and tests used by experiment results and reports (pure numpy/scipy).

Rates use Wilson score intervals and Newcombe's hybrid score interval for a difference
(both keep sensible coverage at the small conversion rates shops see); means use Welch's t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats as sps

Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Interval:
    estimate: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def wilson(successes: int, trials: int, z: float = Z95) -> Interval:
    """Wilson score interval of a binomial proportion."""
    if trials <= 0:
        return Interval(0.0, 0.0, 1.0)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def newcombe_difference(x1: int, n1: int, x0: int, n0: int, z: float = Z95) -> Interval:
    """Newcombe (1998, method 10) interval for p1 - p0 from two Wilson intervals."""
    a = wilson(x1, n1, z)
    b = wilson(x0, n0, z)
    d = a.estimate - b.estimate
    low = d - math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    high = d + math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return Interval(d, max(-1.0, low), min(1.0, high))


def relative_lift_rates(x1: int, n1: int, x0: int, n0: int, z: float = Z95) -> Interval:
    """p1/p0 - 1 with a log risk-ratio (Katz) interval; 0.5 continuity when a cell is empty."""
    if n1 <= 0 or n0 <= 0:
        return Interval(math.nan, math.nan, math.nan)
    if x0 == 0 or x1 == 0:
        x1c, x0c, n1c, n0c = x1 + 0.5, x0 + 0.5, n1 + 0.5, n0 + 0.5
    else:
        x1c, x0c, n1c, n0c = float(x1), float(x0), float(n1), float(n0)
    ratio = (x1c / n1c) / (x0c / n0c)
    se = math.sqrt(max(1 / x1c - 1 / n1c + 1 / x0c - 1 / n0c, 0.0))
    point = (x1 / n1) / (x0 / n0) - 1 if x0 > 0 else math.nan
    return Interval(point, ratio * math.exp(-z * se) - 1, ratio * math.exp(z * se) - 1)


@dataclass(frozen=True, slots=True)
class WelchResult:
    difference: Interval
    relative: Interval  # mean1/mean0 - 1, delta-method interval
    p_value: float


def welch(
    values1: NDArray[np.float64], values0: NDArray[np.float64], level: float = 0.95
) -> WelchResult:
    """Welch's t interval for mean1 - mean0 (revenue per visitor), plus a relative lift."""
    n1, n0 = len(values1), len(values0)
    if n1 < 2 or n0 < 2:
        nan = Interval(math.nan, math.nan, math.nan)
        return WelchResult(nan, nan, math.nan)
    m1, m0 = float(np.mean(values1)), float(np.mean(values0))
    v1, v0 = float(np.var(values1, ddof=1)) / n1, float(np.var(values0, ddof=1)) / n0
    se = math.sqrt(v1 + v0)
    d = m1 - m0
    if se == 0:
        same = Interval(d, d, d)
        return WelchResult(
            same, Interval(m1 / m0 - 1 if m0 else math.nan, math.nan, math.nan), math.nan
        )
    dof = (
        (v1 + v0) ** 2 / ((v1 * v1) / (n1 - 1) + (v0 * v0) / (n0 - 1))
        if (v1 > 0 or v0 > 0)
        else n1 + n0 - 2
    )
    t = float(sps.t.ppf(0.5 + level / 2, dof))
    p_value = float(2 * sps.t.sf(abs(d / se), dof))
    if m0 > 0:
        ratio = m1 / m0
        # Delta method on the ratio of two independent means.
        se_r = ratio * math.sqrt(v1 / (m1 * m1) + v0 / (m0 * m0)) if m1 > 0 else math.sqrt(v1) / m0
        rel = Interval(ratio - 1, ratio - 1 - t * se_r, ratio - 1 + t * se_r)
    else:
        rel = Interval(math.nan, math.nan, math.nan)
    return WelchResult(Interval(d, d - t * se, d + t * se), rel, p_value)


def two_proportion_p_value(x1: int, n1: int, x0: int, n0: int) -> float:
    """Two-sided pooled z-test p-value for p1 == p0."""
    if n1 == 0 or n0 == 0:
        return math.nan
    pooled = (x1 + x0) / (n1 + n0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    if se == 0:
        return 1.0
    z = (x1 / n1 - x0 / n0) / se
    return float(2 * sps.norm.sf(abs(z)))


@dataclass(frozen=True, slots=True)
class SrmCheck:
    chi_square: float
    dof: int
    p_value: float
    mismatch: bool  # p below the threshold: assignment or logging is broken, do not trust lift

    def as_dict(self) -> dict[str, float | int | bool]:
        return {
            "chi_square": self.chi_square,
            "dof": self.dof,
            "p_value": self.p_value,
            "mismatch": self.mismatch,
        }


def sample_ratio_mismatch(
    observed: list[int], expected_weights: list[float], threshold: float = 0.001
) -> SrmCheck:
    """Chi-square goodness of fit of visitor counts to the configured split.

    The 0.001 threshold is the usual SRM convention: at p < 0.001 the split is
    almost surely broken (bots, redirects, logging loss), not unlucky.
    """
    total = sum(observed)
    wsum = sum(expected_weights)
    if total == 0 or len(observed) < 2 or wsum <= 0:
        return SrmCheck(0.0, max(len(observed) - 1, 0), 1.0, False)
    expected = [total * w / wsum for w in expected_weights]
    chi = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True) if e > 0)
    dof = len(observed) - 1
    p = float(sps.chi2.sf(chi, dof))
    return SrmCheck(float(chi), dof, p, p < threshold)
