"""Off-policy evaluation: IPS, self-normalised IPS, direct method and doubly robust.

Everything reduces to five arrays per logged round i:
  r_i   reward observed,
  p_i   probability of the logged action under the logging policy,
  pi_i  probability of the logged action under the candidate policy,
  qa_i  reward model's prediction for the logged action,
  qpi_i reward model's expected reward under the candidate: sum_a pi(a|x_i) q(x_i, a).
With w_i = pi_i / p_i:  IPS = mean(w r);  SNIPS = sum(w r) / sum(w);
DM = mean(qpi);  DR = mean(qpi + w (r - qa)).
Intervals: percentile bootstrap over rounds (the reward model is not refitted per replicate,
which understates DR/DM uncertainty), or normal intervals once the bootstrap would resample
more than BOOTSTRAP_BUDGET rows (full-size logs). Effective sample size: (sum w)^2 / sum w^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
ESTIMATORS = ("IPS", "SNIPS", "DM", "DR")


@dataclass(frozen=True, slots=True)
class OpeInput:
    rewards: Array
    logging_prob: Array
    target_prob: Array
    q_logged: Array
    q_target: Array

    def __post_init__(self) -> None:
        n = len(self.rewards)
        for name in ("logging_prob", "target_prob", "q_logged", "q_target"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has a different length than rewards")
        if n and float(np.min(self.logging_prob)) <= 0:
            raise ValueError(
                "logging probabilities must be > 0 (a logged action had probability 0)"
            )

    @property
    def weights(self) -> Array:
        return self.target_prob / self.logging_prob


@dataclass(frozen=True, slots=True)
class Estimate:
    estimator: str
    value: float
    low: float
    high: float
    n: int
    ess: float
    interval: str = "bootstrap"

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "estimator": self.estimator,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "effective_sample_size": self.ess,
            "interval": self.interval,
        }


def _point(w: Array, r: Array, qa: Array, qpi: Array) -> tuple[float, float, float, float]:
    n = len(r)
    wsum = float(w.sum())
    ips = float((w * r).sum() / n)
    snips = float((w * r).sum() / wsum) if wsum > 0 else math.nan
    dm = float(qpi.mean())
    dr = float((qpi + w * (r - qa)).mean())
    return ips, snips, dm, dr


# Above this many resampled rows the bootstrap costs seconds; the estimators are (ratios of)
# means, so the normal approximation is accurate at such sizes and is used instead.
BOOTSTRAP_BUDGET = 20_000_000


def _normal_intervals(
    w: Array, r: Array, qa: Array, qpi: Array, points: tuple[float, float, float, float], z: float
) -> list[tuple[float, float]]:
    n = len(r)
    snips = points[1]
    mean_w = float(w.mean())
    ses = [
        float(np.std(w * r, ddof=1)) / math.sqrt(n),
        float(np.std(w * (r - snips), ddof=1)) / (mean_w * math.sqrt(n))
        if mean_w > 0
        else math.nan,
        float(np.std(qpi, ddof=1)) / math.sqrt(n),
        float(np.std(qpi + w * (r - qa), ddof=1)) / math.sqrt(n),
    ]
    return [(p - z * se, p + z * se) for p, se in zip(points, ses, strict=True)]


def estimate(
    data: OpeInput, replicates: int = 1000, level: float = 0.95, seed: int = 0
) -> list[Estimate]:
    n = len(data.rewards)
    if n == 0:
        return [Estimate(name, math.nan, math.nan, math.nan, 0, 0.0) for name in ESTIMATORS]
    w, r, qa, qpi = data.weights, data.rewards, data.q_logged, data.q_target
    points = _point(w, r, qa, qpi)
    ess = float(w.sum() ** 2 / (w * w).sum()) if float((w * w).sum()) > 0 else 0.0
    if n * replicates > BOOTSTRAP_BUDGET and n > 1:
        z = float(NormalDist().inv_cdf(0.5 + level / 2))
        bounds = _normal_intervals(w, r, qa, qpi, points, z)
        return [
            Estimate(name, points[k], bounds[k][0], bounds[k][1], n, ess, "normal")
            for k, name in enumerate(ESTIMATORS)
        ]
    rng = np.random.default_rng(seed)
    boot = np.empty((replicates, 4))
    for b in range(replicates):
        idx = rng.integers(0, n, n)
        boot[b] = _point(w[idx], r[idx], qa[idx], qpi[idx])
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    out = []
    for k, name in enumerate(ESTIMATORS):
        col = boot[:, k][np.isfinite(boot[:, k])]
        lo, hi = (
            (float(np.quantile(col, lo_q)), float(np.quantile(col, hi_q)))
            if len(col)
            else (math.nan, math.nan)
        )
        out.append(Estimate(name, points[k], lo, hi, n, ess))
    return out


def relative_error(estimated: float, truth: float) -> float:
    return abs(estimated - truth) / truth if truth else math.nan
