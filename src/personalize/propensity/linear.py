"""Logistic regression stored as JSON coefficients (standardisation folded into them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def expand_online_for_linear(x: F64) -> F64:
    """Online feature vector(s) -> linear-model inputs: log1p of counts/dwell, one-hot month."""
    X = np.atleast_2d(np.asarray(x, dtype=np.float64))
    known = ~np.isnan(X[:, 4])
    one_hot = np.zeros((X.shape[0], 12))
    # A missing (untrained) month gets no month indicator: the intercept's average month.
    one_hot[known, np.clip(X[known, 4].astype(np.int64), 0, 11)] = 1.0
    out: F64 = np.column_stack([np.log1p(np.maximum(X[:, :4], 0.0)), one_hot, X[:, 5:7]])
    return out


@dataclass(frozen=True, slots=True)
class LinearModel:
    coef: F64
    intercept: float

    @classmethod
    def from_sklearn_pipeline(cls, pipeline: Any) -> LinearModel:
        """Fold a ``StandardScaler -> LogisticRegression`` pipeline into raw-input coefficients."""
        scaler, logreg = pipeline[0], pipeline[-1]
        scale = np.where(scaler.scale_ == 0, 1.0, scaler.scale_)
        coef = logreg.coef_.ravel() / scale
        intercept = float(logreg.intercept_[0] - np.sum(coef * scaler.mean_))
        return cls(coef=coef.astype(np.float64), intercept=intercept)

    def raw_many(self, X: F64) -> F64:
        out: F64 = np.asarray(X, dtype=np.float64) @ self.coef + self.intercept
        return out

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"coef": self.coef.tolist(), "intercept": self.intercept}))

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        data = json.loads(path.read_text())
        return cls(
            coef=np.asarray(data["coef"], dtype=np.float64), intercept=float(data["intercept"])
        )
