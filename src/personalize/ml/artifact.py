"""Versioned model artifacts: numpy ``.npy`` + JSON files and a manifest of sha256 checksums.

Never pickles: ``.npy`` files are loaded with ``allow_pickle=False``. Loading verifies every
file's checksum, dtype and shape against ``manifest.json`` and the shapes against each other,
and raises :class:`ArtifactError` with a message naming the file at fault.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FORMAT = "personalize-recommender/1"
MANIFEST = "manifest.json"

# name -> (dtype, row count must equal n_items, number of dimensions)
ARRAY_SCHEMA: dict[str, tuple[str, bool, int]] = {
    "popularity.npy": ("float32", True, 1),
    "item_category.npy": ("int32", True, 1),
    "item_factors.npy": ("float32", True, 2),
    "bpr_item_factors.npy": ("float32", True, 2),
    "seq_ids.npy": ("int32", True, 2),
    "seq_scores.npy": ("float32", True, 2),
    "knn_ids.npy": ("int32", True, 2),
    "knn_scores.npy": ("float32", True, 2),
}
REQUIRED_FILES = ("item_ids.json", "categories.json", "config.json", "metrics.json",
                  "popularity.npy", "item_category.npy")
NEIGHBOR_PAIRS = (("seq_ids.npy", "seq_scores.npy"), ("knn_ids.npy", "knn_scores.npy"))


class ArtifactError(Exception):
    """The artifact directory is missing, corrupted or inconsistent; it must not be served."""


# A version names a directory under the artifact root and a registry entry: plain names only,
# so "../x", "/tmp/x" or "a/b" cannot write (or point) outside the root.
VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_version_name(version: str) -> str:
    """``version`` if it is a plain name (letters, digits, ``._-``, at most 100), else ArtifactError."""
    if not VERSION_NAME.fullmatch(version):
        raise ArtifactError(
            f"version {version!r} is not a plain name: use letters, digits, '.', '_' and '-' "
            "(first a letter or digit, at most 100 characters)"
        )
    return version


def versions_in(root: Path) -> list[str]:
    """The version directories (with a manifest) directly under ``root``, sorted."""
    try:
        return sorted(p.name for p in Path(root).iterdir() if (p / MANIFEST).is_file())
    except OSError:
        return []


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npy_bytes(array: npt.NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def write_artifact(
    out_dir: Path,
    arrays: Mapping[str, npt.NDArray[Any]],
    documents: Mapping[str, Any],
    version: str,
) -> Path:
    """Write arrays (``name.npy``) and JSON documents (``name.json``) plus the manifest.

    Files are written into a temporary directory renamed at the end, so a reader never sees a
    half-written version.
    """
    check_version_name(version)
    unknown = set(arrays) - set(ARRAY_SCHEMA)
    if unknown:
        raise ArtifactError(f"unknown artifact arrays: {sorted(unknown)}")
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    if out_dir.exists():
        raise ArtifactError(f"{out_dir} already exists; versions are immutable")
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    tmp.mkdir()
    files: dict[str, dict[str, Any]] = {}
    for name, array in arrays.items():
        expected = ARRAY_SCHEMA[name][0]
        if str(array.dtype) != expected:
            raise ArtifactError(f"{name}: dtype {array.dtype}, expected {expected}")
        data = _npy_bytes(array)
        (tmp / name).write_bytes(data)
        files[name] = {"sha256": _sha256(data), "bytes": len(data), "dtype": expected,
                       "shape": list(array.shape)}
    for name, document in documents.items():
        data = json.dumps(document, indent=2, sort_keys=True).encode()
        (tmp / name).write_bytes(data)
        files[name] = {"sha256": _sha256(data), "bytes": len(data)}
    manifest = {"format": FORMAT, "version": version, "files": files}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    tmp.rename(out_dir)
    return out_dir


def _read_verified(path: Path, entry: Mapping[str, Any]) -> bytes:
    if not path.is_file():
        raise ArtifactError(f"{path.name}: listed in the manifest but missing")
    data = path.read_bytes()
    if len(data) != entry.get("bytes"):
        raise ArtifactError(f"{path.name}: {len(data)} bytes, manifest says {entry.get('bytes')} (truncated?)")
    if _sha256(data) != entry.get("sha256"):
        raise ArtifactError(f"{path.name}: sha256 mismatch, the file is corrupted or was modified")
    return data


def read_manifest(path: Path) -> dict[str, Any]:
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        versions = versions_in(path)
        if versions:  # the --out root was given instead of one of its versions
            shown = ", ".join(versions[-10:]) + (f" (and {len(versions) - 10} more)" if len(versions) > 10 else "")
            raise ArtifactError(
                f"{path}: no {MANIFEST}; this is an artifact root, pick a version directory in it "
                f"(e.g. {Path(path) / versions[-1]}); versions there: {shown}"
            )
        raise ArtifactError(f"{path}: no {MANIFEST}; not a model artifact")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{manifest_path}: unreadable JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{manifest_path}: format is not {FORMAT}")
    if not isinstance(manifest.get("files"), dict):
        raise ArtifactError(f"{manifest_path}: no file list")
    return manifest


def read_artifact(path: Path) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]], dict[str, Any]]:
    """Verify and read an artifact -> (manifest, arrays, JSON documents)."""
    path = Path(path)
    manifest = read_manifest(path)
    files: dict[str, Any] = manifest["files"]
    for name in REQUIRED_FILES:
        if name not in files:
            raise ArtifactError(f"{path}: manifest lacks required file {name}")
    arrays: dict[str, npt.NDArray[Any]] = {}
    documents: dict[str, Any] = {}
    for name, entry in files.items():
        if "/" in name or name.startswith("."):
            raise ArtifactError(f"manifest names a file outside the artifact: {name!r}")
        data = _read_verified(path / name, entry)
        if name.endswith(".json"):
            try:
                documents[name] = json.loads(data)
            except ValueError as exc:
                raise ArtifactError(f"{name}: unreadable JSON ({exc})") from exc
            continue
        if name not in ARRAY_SCHEMA:
            raise ArtifactError(f"{name}: not a known artifact array")
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            raise ArtifactError(f"{name}: not a valid .npy array ({exc})") from exc
        dtype, _, ndim = ARRAY_SCHEMA[name]
        if str(array.dtype) != dtype or str(entry.get("dtype")) != dtype:
            raise ArtifactError(f"{name}: dtype {array.dtype}, expected {dtype}")
        if list(array.shape) != entry.get("shape") or array.ndim != ndim:
            raise ArtifactError(f"{name}: shape {list(array.shape)}, manifest says {entry.get('shape')}")
        arrays[name] = array
    _check_consistency(arrays, documents)
    return manifest, arrays, documents


def _check_consistency(arrays: Mapping[str, npt.NDArray[Any]], documents: Mapping[str, Any]) -> None:
    item_ids = documents["item_ids.json"]
    if not isinstance(item_ids, list) or not all(isinstance(i, str) for i in item_ids):
        raise ArtifactError("item_ids.json: must be a list of strings")
    if len(set(item_ids)) != len(item_ids):
        raise ArtifactError("item_ids.json: duplicate item ids")
    n_items = len(item_ids)
    for name, array in arrays.items():
        if ARRAY_SCHEMA[name][1] and array.shape[0] != n_items:
            raise ArtifactError(f"{name}: {array.shape[0]} rows but item_ids.json has {n_items} items")
    for ids_name, scores_name in NEIGHBOR_PAIRS:
        if (ids_name in arrays) != (scores_name in arrays):
            raise ArtifactError(f"{ids_name} and {scores_name} must come together")
        if ids_name in arrays:
            ids = arrays[ids_name]
            if ids.shape != arrays[scores_name].shape:
                raise ArtifactError(f"{ids_name} {ids.shape} and {scores_name} {arrays[scores_name].shape} differ")
            if ids.size and (ids.min() < 0 or ids.max() >= n_items):
                raise ArtifactError(f"{ids_name}: neighbor ids outside 0..{n_items - 1}")
    categories = documents["categories.json"]
    item_category = arrays["item_category.npy"]
    if not isinstance(categories, list):
        raise ArtifactError("categories.json: must be a list")
    if item_category.size and (item_category.min() < -1 or item_category.max() >= len(categories)):
        raise ArtifactError("item_category.npy: category index outside categories.json")
    for name in ("item_factors.npy", "bpr_item_factors.npy", "popularity.npy", "seq_scores.npy", "knn_scores.npy"):
        if name in arrays and not np.isfinite(arrays[name]).all():
            raise ArtifactError(f"{name}: contains NaN or infinity")
