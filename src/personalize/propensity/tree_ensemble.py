"""Gradient-boosted trees exported from scikit-learn to flat numpy arrays, scored in numpy.

All trees' nodes live in one set of arrays; a leaf points to itself on both sides, so the
vectorised walk needs no leaf test: after ``max_depth`` steps every tree sits on its leaf.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TreeEnsemble:
    feature: npt.NDArray[np.int64]
    threshold: F64
    left: npt.NDArray[np.int64]
    right: npt.NDArray[np.int64]
    missing_left: npt.NDArray[np.bool_]
    value: F64
    roots: npt.NDArray[np.int64]
    max_depth: int
    baseline: float

    @classmethod
    def from_sklearn(cls, model: Any) -> TreeEnsemble:
        """Export a fitted binary ``HistGradientBoostingClassifier`` (numeric features only)."""
        if getattr(model, "n_trees_per_iteration_", 1) != 1:
            raise ValueError("only binary classifiers / regressors are supported")
        if getattr(model, "is_categorical_", None) is not None and np.any(model.is_categorical_):
            raise ValueError("categorical splits are not supported; encode features as numbers")
        parts: dict[str, list[Any]] = {k: [] for k in ("f", "t", "l", "r", "m", "v")}
        roots: list[int] = []
        offset = 0
        max_depth = 0
        for predictors in model._predictors:  # one list per boosting iteration
            nodes = predictors[0].nodes
            n = len(nodes)
            idx = np.arange(n, dtype=np.int64) + offset
            leaf = nodes["is_leaf"].astype(bool)
            parts["f"].append(np.where(leaf, 0, nodes["feature_idx"]).astype(np.int64))
            parts["t"].append(np.where(leaf, np.inf, nodes["num_threshold"]).astype(np.float64))
            parts["l"].append(np.where(leaf, idx, nodes["left"].astype(np.int64) + offset))
            parts["r"].append(np.where(leaf, idx, nodes["right"].astype(np.int64) + offset))
            parts["m"].append(np.where(leaf, True, nodes["missing_go_to_left"].astype(bool)))
            parts["v"].append(np.where(leaf, nodes["value"], 0.0).astype(np.float64))
            roots.append(offset)
            max_depth = max(max_depth, int(nodes["depth"].max()))
            offset += n
        baseline = float(np.ravel(model._baseline_prediction)[0])
        return cls(
            feature=np.concatenate(parts["f"]),
            threshold=np.concatenate(parts["t"]),
            left=np.concatenate(parts["l"]),
            right=np.concatenate(parts["r"]),
            missing_left=np.concatenate(parts["m"]),
            value=np.concatenate(parts["v"]),
            roots=np.asarray(roots, dtype=np.int64),
            max_depth=max_depth,
            baseline=baseline,
        )

    def raw_one(self, x: F64) -> float:
        """Log-odds for one feature vector (the hot path).

        Every split of the ensemble is decided up front (a few thousand comparisons in three
        vector ops); the walk is then one ``take`` per tree level. ~5x faster than walking
        with per-level gathers and comparisons, because the cost is numpy call overhead.
        """
        xv = x.take(self.feature)
        go_left = xv <= self.threshold
        if np.isnan(x).any():
            go_left |= np.isnan(xv) & self.missing_left
        following = np.where(go_left, self.left, self.right)
        idx = self.roots
        for _ in range(self.max_depth):
            idx = following.take(idx)
        return self.baseline + float(self.value.take(idx).sum())

    def raw_many(self, X: F64) -> F64:
        """Log-odds for a matrix of feature vectors (batch scoring, tests)."""
        X = np.asarray(X, dtype=np.float64)
        rows = np.arange(X.shape[0])[:, None]
        idx = np.broadcast_to(self.roots, (X.shape[0], self.roots.size)).copy()
        for _ in range(self.max_depth):
            xv = X[rows, self.feature[idx]]
            go_left = (xv <= self.threshold[idx]) | (np.isnan(xv) & self.missing_left[idx])
            idx = np.where(go_left, self.left[idx], self.right[idx])
        out: F64 = self.baseline + self.value[idx].sum(axis=1)
        return out

    def save(self, path: Path) -> None:
        np.savez(
            path,
            feature=self.feature,
            threshold=self.threshold,
            left=self.left,
            right=self.right,
            missing_left=self.missing_left,
            value=self.value,
            roots=self.roots,
            meta=np.asarray([self.max_depth, self.baseline], dtype=np.float64),
        )

    @classmethod
    def load(cls, path: Path) -> TreeEnsemble:
        with np.load(path, allow_pickle=False) as data:
            meta = data["meta"]
            return cls(
                feature=data["feature"].astype(np.int64),
                threshold=data["threshold"].astype(np.float64),
                left=data["left"].astype(np.int64),
                right=data["right"].astype(np.int64),
                missing_left=data["missing_left"].astype(bool),
                value=data["value"].astype(np.float64),
                roots=data["roots"].astype(np.int64),
                max_depth=int(meta[0]),
                baseline=float(meta[1]),
            )
