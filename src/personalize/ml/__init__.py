"""Recommender training, evaluation, artifacts and the serving scorer.

Serving code needs only: ``load_artifact(path) -> RecommenderModel`` (raises ``ArtifactError``)
and ``RecommenderModel.recommend(...) -> list[Candidate]``. Training (``personalize.ml.train``)
imports ``implicit`` and is kept out of this namespace so servers do not load it.
"""

from personalize.ml.artifact import ArtifactError
from personalize.ml.events import EventLog, read_events
from personalize.ml.model import Candidate, RecommenderModel, ScoringParams, load_artifact
from personalize.ml.synthetic import write_synthetic_model

__all__ = [
    "ArtifactError",
    "Candidate",
    "EventLog",
    "RecommenderModel",
    "ScoringParams",
    "load_artifact",
    "read_events",
    "write_synthetic_model",
]
