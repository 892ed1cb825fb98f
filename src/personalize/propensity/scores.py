"""Reading the batch scores hash (``Keys.scores(cid)``) that ``train-propensity`` writes."""

from __future__ import annotations

from dataclasses import dataclass

from personalize.propensity.session_features import RawHash, decode_hash


@dataclass(frozen=True, slots=True)
class BatchScores:
    """A customer's batch scores; ``None`` where the batch had nothing to say (e.g. never bought)."""

    p_buy_again: float | None = None
    expected_purchases: float | None = None
    churn_risk: float | None = None
    p_alive: float | None = None
    shipping_sensitivity: float | None = None
    shipping_paid_ratio: float | None = None
    shipping_evidence: int | None = None
    version: str | None = None
    scored_at: float | None = None


_FLOATS = (
    "p_buy_again",
    "expected_purchases",
    "churn_risk",
    "p_alive",
    "shipping_sensitivity",
    "shipping_paid_ratio",
    "scored_at",
)


def parse_scores(raw: RawHash | None) -> BatchScores:
    """Parse an HGETALL result (bytes or str); malformed fields read as missing."""
    h = decode_hash(raw)
    values: dict[str, float | int | str | None] = {}
    for name in _FLOATS:
        try:
            values[name] = float(h[name]) if name in h else None
        except ValueError:
            values[name] = None
    try:
        values["shipping_evidence"] = (
            int(h["shipping_evidence"]) if "shipping_evidence" in h else None
        )
    except ValueError:
        values["shipping_evidence"] = None
    values["version"] = h.get("version")
    return BatchScores(**values)  # type: ignore[arg-type]
