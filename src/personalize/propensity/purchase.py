"""In-session purchase propensity: training on online-shoppers, serving from the session hash.

Four models are trained and reported on the reference split (stratified 70/30, seed 42):
full-feature logistic regression and gradient boosting (they use Google Analytics columns the
service cannot compute, so they are reference only) and the same two on the online-computable
features. The better online model, isotonic-calibrated on out-of-fold training predictions,
is what :class:`PurchasePropensity` serves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from personalize.propensity.artifacts import write_manifest
from personalize.propensity.calibration import IsotonicCalibrator
from personalize.propensity.linear import LinearModel, expand_online_for_linear
from personalize.propensity.metrics import ClassifierReport, evaluate
from personalize.propensity.serving import KIND, PurchasePropensity
from personalize.propensity.session_features import ONLINE_FEATURES
from personalize.propensity.shoppers import ShoppersData
from personalize.propensity.threads import single_threaded
from personalize.propensity.tree_ensemble import TreeEnsemble

F64 = npt.NDArray[np.float64]
REFERENCE = {
    "lr_auc": 0.889,
    "hgb_auc": 0.922,
    "hgb_auc_no_page_values": 0.773,
    "base_log_loss": 0.431,
}

# Small trees, slow learning: the online features are few and noisy; depth is capped so the
# numpy walk stays a handful of vector ops per call.
ONLINE_HGB_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "max_iter": 200,
    "max_leaf_nodes": 15,
    "max_depth": 6,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "random_state": 42,
}


def _sigmoid(z: F64) -> F64:
    out: F64 = 1.0 / (1.0 + np.exp(-z))
    return out


def _logreg() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))


@dataclass(frozen=True, slots=True)
class PurchaseTraining:
    reports: tuple[ClassifierReport, ...]
    serving: str
    version: str
    out_dir: Path | None


def _oof_calibrator(model: Any, X: F64, y: npt.NDArray[np.int64]) -> IsotonicCalibrator:
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=42)
    oof = cross_val_predict(model, X, y, cv=folds, method="predict_proba")[:, 1]
    return IsotonicCalibrator.fit(oof, y)


@single_threaded
def train_purchase(data: ShoppersData, out_dir: Path | None, version: str) -> PurchaseTraining:
    tr, te, y = data.train, data.test, data.y
    base_rate = float(y[tr].mean())
    reports: list[ClassifierReport] = []

    full_lin = data.full_linear_matrix()
    lr_full = _logreg().fit(full_lin[tr], y[tr])
    reports.append(
        evaluate(
            "LR, all columns (reference)",
            y[te],
            lr_full.predict_proba(full_lin[te])[:, 1],
            base_rate,
        )
    )

    full_tree = data.full_tree_matrix()
    hgb_full = HistGradientBoostingClassifier(random_state=42).fit(full_tree[tr], y[tr])
    reports.append(
        evaluate(
            "HGB, all columns (reference)",
            y[te],
            hgb_full.predict_proba(full_tree[te])[:, 1],
            base_rate,
        )
    )

    no_pv = data.full_tree_matrix(with_page_values=False)
    hgb_no_pv = HistGradientBoostingClassifier(random_state=42).fit(no_pv[tr], y[tr])
    reports.append(
        evaluate(
            "HGB, all but PageValues (reference)",
            y[te],
            hgb_no_pv.predict_proba(no_pv[te])[:, 1],
            base_rate,
        )
    )

    online = data.online_matrix()
    lin_X = expand_online_for_linear(online)
    lr_online = _logreg().fit(lin_X[tr], y[tr])
    lr_cal = _oof_calibrator(_logreg(), lin_X[tr], y[tr])
    lr_model = LinearModel.from_sklearn_pipeline(lr_online)
    lr_p = lr_cal(_sigmoid(lr_model.raw_many(lin_X[te])))
    reports.append(evaluate("LR, online features, calibrated", y[te], lr_p, base_rate))

    hgb_online = HistGradientBoostingClassifier(**ONLINE_HGB_PARAMS).fit(online[tr], y[tr])
    hgb_cal = _oof_calibrator(
        HistGradientBoostingClassifier(**ONLINE_HGB_PARAMS), online[tr], y[tr]
    )
    trees = TreeEnsemble.from_sklearn(hgb_online)
    hgb_raw = _sigmoid(trees.raw_many(online[te]))
    reports.append(evaluate("HGB, online features, uncalibrated", y[te], hgb_raw, base_rate))
    reports.append(evaluate("HGB, online features, calibrated", y[te], hgb_cal(hgb_raw), base_rate))

    serving = "online_hgb" if reports[-1].auc >= reports[-3].auc else "online_lr"
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        trees.save(out_dir / "online_hgb.npz")
        hgb_cal.save(out_dir / "online_hgb.calibration.json")
        lr_model.save(out_dir / "online_lr.json")
        lr_cal.save(out_dir / "online_lr.calibration.json")
        summary = {
            r.name: {"auc": r.auc, "log_loss": r.log_loss, "brier": r.brier} for r in reports
        }
        write_manifest(
            out_dir,
            {
                "kind": KIND,
                "version": version,
                "serving": serving,
                "features": list(ONLINE_FEATURES),
                "known_months": sorted(
                    {int(m) for m in online[tr, ONLINE_FEATURES.index("month")]}
                ),
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "train_base_rate": base_rate,
                "metrics": summary,
                "reference": REFERENCE,
                "data": "online-shoppers (UCI, Sakar et al. 2019), stratified 70/30 split, seed 42",
            },
        )
    return PurchaseTraining(tuple(reports), serving, version, out_dir)


__all__ = ["PurchasePropensity", "PurchaseTraining", "train_purchase"]
