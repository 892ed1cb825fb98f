"""The served in-session purchase model. Imports numpy only (no scikit-learn): servers load it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

from personalize.propensity.artifacts import ArtifactError, read_verified_manifest
from personalize.propensity.calibration import IsotonicCalibrator
from personalize.propensity.linear import LinearModel, expand_online_for_linear
from personalize.propensity.session_features import ONLINE_FEATURES, RawHash, session_features
from personalize.propensity.tree_ensemble import TreeEnsemble

F64 = npt.NDArray[np.float64]
KIND = "purchase_propensity"
MONTH = ONLINE_FEATURES.index("month")
# Calibrated isotonic steps can be exactly 0 or 1; downstream multiplies and logs propensities.
FLOOR, CEILING = 0.001, 0.999


class PurchasePropensity:
    """The served in-session purchase model: session hash (+ profile hash) -> probability."""

    def __init__(
        self,
        version: str,
        model: TreeEnsemble | LinearModel,
        calibrator: IsotonicCalibrator,
        known_months: frozenset[int] = frozenset(range(12)),
    ) -> None:
        self.version = version
        self._model = model
        self._calibrator = calibrator
        # Months without training sessions (online-shoppers has no January or April) are fed
        # as missing: the trees send them down the majority branch instead of treating
        # January like February just because 0 sorts next to 1.
        self._unknown_months = frozenset(range(12)) - known_months

    @classmethod
    def load(cls, directory: Path | str) -> PurchasePropensity:
        path = Path(directory)
        manifest = read_verified_manifest(path)
        if manifest.get("kind") != KIND:
            raise ArtifactError(f"{path}: not a {KIND} artifact")
        if list(manifest.get("features", [])) != list(ONLINE_FEATURES):
            raise ArtifactError(
                f"{path}: trained on features {manifest.get('features')}, code has {ONLINE_FEATURES}"
            )
        serving = str(manifest["serving"])
        model: TreeEnsemble | LinearModel
        if serving == "online_hgb":
            model = TreeEnsemble.load(path / "online_hgb.npz")
        elif serving == "online_lr":
            model = LinearModel.load(path / "online_lr.json")
        else:
            raise ArtifactError(f"{path}: unknown serving model {serving!r}")
        calibrator = IsotonicCalibrator.load(path / f"{serving}.calibration.json")
        known = frozenset(int(m) for m in manifest.get("known_months", range(12)))
        return cls(str(manifest["version"]), model, calibrator, known)

    def predict_features(self, x: F64) -> float:
        month = x[MONTH]
        if self._unknown_months and not math.isnan(month) and int(month) in self._unknown_months:
            x = x.copy()
            x[MONTH] = np.nan
        if isinstance(self._model, TreeEnsemble):
            raw = self._model.raw_one(x)
        else:
            raw = float(self._model.raw_many(expand_online_for_linear(x))[0])
        p = self._calibrator.one(1.0 / (1.0 + math.exp(-raw)))
        return min(max(p, FLOOR), CEILING)

    def predict_from_session(
        self, session_hash: RawHash, profile_hash: RawHash | None = None
    ) -> float:
        """Calibrated probability that this session ends in a purchase."""
        return self.predict_features(session_features(session_hash, profile_hash))
