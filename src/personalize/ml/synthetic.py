"""A synthetic model artifact for the serving benchmark (no real data; says so in config.json)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from personalize.ml.artifact import write_artifact
from personalize.ml.model import ScoringParams

SYNTHETIC_NOTE = "SYNTHETIC model: random factors and neighbors, for benchmarks only"


def write_synthetic_model(
    out_dir: Path | str,
    n_items: int = 50_000,
    factors: int = 64,
    seed: int = 0,
    neighbors: int = 100,
    n_categories: int = 50,
    version: str | None = None,
) -> Path:
    """Write a valid, verifiable artifact with random data to ``out_dir`` (must not exist).

    Item ids are ``item-0 .. item-{n-1}``; categories ``cat-0 ..``; popularity is Zipf-like.
    """
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    version = version or out_dir.name
    item_factors = (rng.standard_normal((n_items, factors)) / np.sqrt(factors)).astype(np.float32)
    popularity = (1.0 / np.arange(1, n_items + 1, dtype=np.float64)).astype(np.float32)
    rng.shuffle(popularity)
    width = min(neighbors, max(n_items - 1, 1))
    seq_ids = rng.integers(0, n_items, size=(n_items, width), dtype=np.int32)
    knn_ids = rng.integers(0, n_items, size=(n_items, width), dtype=np.int32)
    seq_scores = np.sort(rng.random((n_items, width), dtype=np.float32), axis=1)[:, ::-1].copy()
    knn_scores = np.sort(rng.random((n_items, width), dtype=np.float32), axis=1)[:, ::-1].copy()
    item_category = rng.integers(0, n_categories, size=n_items, dtype=np.int32)
    arrays = {
        "popularity.npy": popularity,
        "item_category.npy": item_category,
        "item_factors.npy": item_factors,
        "seq_ids.npy": seq_ids,
        "seq_scores.npy": seq_scores,
        "knn_ids.npy": knn_ids,
        "knn_scores.npy": knn_scores,
    }
    documents = {
        "item_ids.json": [f"item-{i}" for i in range(n_items)],
        "categories.json": [f"cat-{c}" for c in range(n_categories)],
        "config.json": {"version": version, "synthetic": True, "note": SYNTHETIC_NOTE,
                        "seed": seed, "factors": factors, "scoring": ScoringParams().to_dict(),
                        "sequence_verb": "viewed", "factor_model": "als"},
        "metrics.json": {"synthetic": True, "note": SYNTHETIC_NOTE},
    }
    return write_artifact(out_dir, arrays, documents, version)
