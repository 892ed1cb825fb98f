"""Classification metrics reported for every propensity model, always beside the base rate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

EPS = 1e-4  # probabilities are clipped so one isotonic 0 or 1 cannot make log loss infinite


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True, slots=True)
class ClassifierReport:
    name: str
    auc: float
    log_loss: float
    brier: float
    base_rate: float
    base_log_loss: float
    base_brier: float
    calibration: tuple[CalibrationBin, ...]

    @property
    def log_loss_skill(self) -> float:
        """1 - log loss / base-rate log loss: the share of uncertainty the model removes."""
        return 1.0 - self.log_loss / self.base_log_loss

    @property
    def expected_calibration_error(self) -> float:
        total = sum(b.count for b in self.calibration)
        return (
            sum(b.count * abs(b.mean_predicted - b.observed_rate) for b in self.calibration) / total
        )


def calibration_table(
    y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 10
) -> tuple[CalibrationBin, ...]:
    """Equal-count bins of the predicted probability (quantiles), merged where they tie."""
    y_arr = np.asarray(y, dtype=np.float64)
    p_arr = np.asarray(p, dtype=np.float64)
    edges = np.unique(np.quantile(p_arr, np.linspace(0, 1, n_bins + 1)))
    which = np.clip(np.searchsorted(edges, p_arr, side="right") - 1, 0, max(len(edges) - 2, 0))
    bins = []
    for b in range(max(len(edges) - 1, 1)):
        mask = which == b
        if not mask.any():
            continue
        bins.append(
            CalibrationBin(
                lower=float(edges[b]),
                upper=float(edges[min(b + 1, len(edges) - 1)]),
                count=int(mask.sum()),
                mean_predicted=float(p_arr[mask].mean()),
                observed_rate=float(y_arr[mask].mean()),
            )
        )
    return tuple(bins)


def evaluate(
    name: str, y_true: npt.ArrayLike, p: npt.ArrayLike, train_base_rate: float
) -> ClassifierReport:
    """Metrics of ``p`` on ``y_true``; the base rate is the training share of positives."""
    y = np.asarray(y_true, dtype=np.int64)
    prob = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    base = np.full(y.shape, train_base_rate)
    return ClassifierReport(
        name=name,
        auc=float(roc_auc_score(y, prob)),
        log_loss=float(log_loss(y, prob, labels=[0, 1])),
        brier=float(brier_score_loss(y, prob)),
        base_rate=float(train_base_rate),
        base_log_loss=float(log_loss(y, base, labels=[0, 1])),
        base_brier=float(brier_score_loss(y, base)),
        calibration=calibration_table(y, prob),
    )
