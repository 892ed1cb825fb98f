"""Artifacts: round trip, and refusal of every kind of corruption."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from personalize.ml.artifact import ArtifactError, write_artifact
from personalize.ml.model import load_artifact
from personalize.ml.synthetic import write_synthetic_model


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_model(tmp_path_factory.mktemp("art") / "v1", n_items=300, factors=8,
                                 neighbors=10, n_categories=5, seed=3)


@pytest.fixture()
def artifact(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "v1"
    shutil.copytree(pristine, copy)
    return copy


def _rewrite_with_valid_checksum(path: Path, name: str, data: bytes) -> None:
    """Replace a file and fix its manifest entry: only the deeper checks can catch it."""
    (path / name).write_bytes(data)
    manifest = json.loads((path / "manifest.json").read_text())
    entry = manifest["files"][name]
    entry["sha256"] = hashlib.sha256(data).hexdigest()
    entry["bytes"] = len(data)
    (path / "manifest.json").write_text(json.dumps(manifest))


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_round_trip_keeps_everything(artifact: Path) -> None:
    model = load_artifact(artifact)
    assert model.version == "v1"
    assert model.n_items == 300
    assert model.item_factors is not None and model.item_factors.dtype == np.float32
    assert model.item_factors.shape == (300, 8)
    assert model.config["synthetic"] is True
    assert model.category_of("item-0") is not None
    stored = np.load(artifact / "item_factors.npy", allow_pickle=False)
    np.testing.assert_array_equal(model.item_factors, stored)
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert set(manifest["files"]) == {p.name for p in artifact.iterdir()} - {"manifest.json"}


def test_flipped_byte_is_refused(artifact: Path) -> None:
    raw = bytearray((artifact / "item_factors.npy").read_bytes())
    raw[-5] ^= 0x01
    (artifact / "item_factors.npy").write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="item_factors.npy: sha256 mismatch"):
        load_artifact(artifact)


def test_truncated_file_is_refused(artifact: Path) -> None:
    raw = (artifact / "seq_scores.npy").read_bytes()
    (artifact / "seq_scores.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ArtifactError, match="seq_scores.npy: .*truncated"):
        load_artifact(artifact)


def test_missing_file_is_refused(artifact: Path) -> None:
    (artifact / "popularity.npy").unlink()
    with pytest.raises(ArtifactError, match="popularity.npy: listed in the manifest but missing"):
        load_artifact(artifact)


def test_wrong_shape_is_refused_even_with_a_matching_checksum(artifact: Path) -> None:
    _rewrite_with_valid_checksum(artifact, "item_factors.npy", _npy(np.zeros((299, 8), np.float32)))
    with pytest.raises(ArtifactError, match="item_factors.npy: shape"):
        load_artifact(artifact)


def test_rows_must_match_the_item_count(artifact: Path) -> None:
    data = _npy(np.zeros((299, 8), np.float32))
    _rewrite_with_valid_checksum(artifact, "item_factors.npy", data)
    manifest = json.loads((artifact / "manifest.json").read_text())
    manifest["files"]["item_factors.npy"]["shape"] = [299, 8]
    (artifact / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="299 rows but item_ids.json has 300 items"):
        load_artifact(artifact)


def test_wrong_dtype_is_refused(artifact: Path) -> None:
    _rewrite_with_valid_checksum(artifact, "popularity.npy", _npy(np.ones(300, np.float64)))
    with pytest.raises(ArtifactError, match="popularity.npy: dtype float64"):
        load_artifact(artifact)


def test_pickled_arrays_are_refused(artifact: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"x": 1}] * 300, dtype=object), allow_pickle=True)
    _rewrite_with_valid_checksum(artifact, "popularity.npy", buffer.getvalue())
    with pytest.raises(ArtifactError, match="popularity.npy: not a valid .npy array"):
        load_artifact(artifact)


def test_neighbor_ids_out_of_range_are_refused(artifact: Path) -> None:
    ids = np.load(artifact / "knn_ids.npy")
    ids[0, 0] = 300
    _rewrite_with_valid_checksum(artifact, "knn_ids.npy", _npy(ids))
    with pytest.raises(ArtifactError, match="knn_ids.npy: neighbor ids outside"):
        load_artifact(artifact)


def test_missing_or_foreign_manifest_is_refused(artifact: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no manifest.json"):
        load_artifact(tmp_path / "nowhere")
    (artifact / "manifest.json").write_text('{"format": "something-else", "files": {}}')
    with pytest.raises(ArtifactError, match="format is not"):
        load_artifact(artifact)
    (artifact / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="unreadable JSON"):
        load_artifact(artifact)


def test_versions_are_immutable(artifact: Path) -> None:
    with pytest.raises(ArtifactError, match="already exists"):
        write_artifact(artifact, {}, {}, "v1")
