"""Non-pickle artifacts score exactly like the scikit-learn models they were exported from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from personalize.propensity.artifacts import ArtifactError, read_verified_manifest, write_manifest
from personalize.propensity.calibration import IsotonicCalibrator
from personalize.propensity.linear import LinearModel, expand_online_for_linear
from personalize.propensity.shoppers import load_shoppers
from personalize.propensity.tree_ensemble import TreeEnsemble

FIXTURE = Path(__file__).parent / "fixtures" / "propensity" / "online_shoppers_slice.csv"


@pytest.fixture(autouse=True)
def _single_threaded() -> Iterator[None]:
    with threadpool_limits(limits=1):  # OpenMP oversubscription on a shared 2-core machine
        yield


@pytest.fixture(scope="module")
def slice_xy() -> tuple[np.ndarray, np.ndarray]:
    data = load_shoppers(FIXTURE)
    return data.online_matrix(), data.y


def test_tree_export_equals_sklearn_predict_proba(
    slice_xy: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    X, y = slice_xy
    model = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15, random_state=0).fit(X, y)
    trees = TreeEnsemble.from_sklearn(model)
    trees.save(tmp_path / "t.npz")
    loaded = TreeEnsemble.load(tmp_path / "t.npz")
    expected = model.predict_proba(X)[:, 1]
    many = 1 / (1 + np.exp(-loaded.raw_many(X)))
    one = np.array([1 / (1 + np.exp(-loaded.raw_one(x))) for x in X])
    np.testing.assert_allclose(many, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(one, expected, rtol=0, atol=1e-12)


def test_tree_export_routes_missing_values_like_sklearn() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 3))
    X[rng.random(400) < 0.2, 1] = np.nan
    y = ((np.nan_to_num(X[:, 1], nan=2.0) + X[:, 0]) > 0.5).astype(int)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    trees = TreeEnsemble.from_sklearn(model)
    np.testing.assert_allclose(trees.raw_many(X), model.decision_function(X), atol=1e-12)
    np.testing.assert_allclose(
        [trees.raw_one(x) for x in X[:50]], model.decision_function(X[:50]), atol=1e-12
    )
    # A feature that had no missing values in training: NaN follows the majority child.
    Z = X[:60].copy()
    Z[:, 0] = np.nan
    np.testing.assert_allclose(
        [trees.raw_one(z) for z in Z], model.decision_function(Z), atol=1e-12
    )


def test_linear_model_equals_sklearn_pipeline(
    slice_xy: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    X, y = slice_xy
    Z = expand_online_for_linear(X)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(Z, y)
    model = LinearModel.from_sklearn_pipeline(pipe)
    model.save(tmp_path / "lr.json")
    loaded = LinearModel.load(tmp_path / "lr.json")
    np.testing.assert_allclose(loaded.raw_many(Z), pipe.decision_function(Z), atol=1e-9)


def test_isotonic_calibrator_equals_sklearn(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    p = rng.random(500)
    y = (rng.random(500) < p**2).astype(int)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, y)
    cal = IsotonicCalibrator.fit(p, y)
    cal.save(tmp_path / "c.json")
    loaded = IsotonicCalibrator.load(tmp_path / "c.json")
    grid = np.linspace(-0.5, 1.5, 301)
    np.testing.assert_allclose(loaded(grid), iso.predict(grid), atol=1e-12)
    assert loaded.one(0.5) == pytest.approx(float(iso.predict([0.5])[0]))


def test_manifest_rejects_changed_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"x": 1}))
    np.save(tmp_path / "b.npy", np.arange(3))
    write_manifest(tmp_path, {"version": "v1"})
    assert read_verified_manifest(tmp_path)["version"] == "v1"
    (tmp_path / "a.json").write_text(json.dumps({"x": 2}))
    with pytest.raises(ArtifactError, match="checksum"):
        read_verified_manifest(tmp_path)
    (tmp_path / "a.json").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        read_verified_manifest(tmp_path)
