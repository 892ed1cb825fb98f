"""Isotonic calibration stored as its breakpoints (JSON) and applied with ``np.interp``.

``np.interp`` over scikit-learn's ``X_thresholds_``/``y_thresholds_`` is exactly what
``IsotonicRegression(out_of_bounds="clip").predict`` computes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class IsotonicCalibrator:
    x: F64
    y: F64

    @classmethod
    def fit(cls, raw_probability: F64, outcome: npt.ArrayLike) -> IsotonicCalibrator:
        from sklearn.isotonic import IsotonicRegression  # training only: servers skip sklearn

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(raw_probability, np.asarray(outcome, dtype=np.float64))
        return cls(x=iso.X_thresholds_.astype(np.float64), y=iso.y_thresholds_.astype(np.float64))

    def __call__(self, p: F64) -> F64:
        out: F64 = np.interp(p, self.x, self.y)
        return out

    def one(self, p: float) -> float:
        return float(np.interp(p, self.x, self.y))

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps({"kind": "isotonic", "x": self.x.tolist(), "y": self.y.tolist()})
        )

    @classmethod
    def load(cls, path: Path) -> IsotonicCalibrator:
        data = json.loads(path.read_text())
        return cls(
            x=np.asarray(data["x"], dtype=np.float64), y=np.asarray(data["y"], dtype=np.float64)
        )
