"""From events to weighted interactions: event-type weights, dwell weighting and time decay."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from personalize.domain.events import ITEM_EVENT_WEIGHTS
from personalize.ml.events import EventLog, canonical_event_type

DEFAULT_WEIGHTS: dict[str, float] = dict(ITEM_EVENT_WEIGHTS)
# A view this long counts as one plain view; shorter/longer views count less/more (clipped).
DWELL_REFERENCE_MS = 20_000.0
DWELL_CLIP = (0.5, 2.0)


# Type weights are relative; far beyond this they overflow float32 confidences (NaN factors).
MAX_WEIGHT = 1_000.0


def parse_weights(text: str) -> dict[str, float]:
    """``"product_view=1,add_to_cart=4"`` -> mapping; raises ValueError on bad input."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"weight {part!r} must look like event_type=number")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"weight {part!r}: {value.strip()!r} is not a number") from None
        if not 0.0 <= number <= MAX_WEIGHT:  # also refuses nan and inf
            raise ValueError(f"weight {part!r}: must be between 0 (switched off) and {MAX_WEIGHT:g}")
        weights[canonical_event_type(name)] = number
    if not weights:
        raise ValueError("no event weights given")
    return weights


def weights_option(text: str | None) -> dict[str, float]:
    """``--weights``: the defaults, with the named types set (0 switches a type off), so
    ``--weights fav=2`` adds favourites instead of dropping views, carts and purchases."""
    return {**DEFAULT_WEIGHTS, **(parse_weights(text) if text else {})}


def absent_weighted_types(log: EventLog, named: Mapping[str, float]) -> list[str]:
    """Types given a positive weight that no item event of the log has (a typo, often)."""
    present = set(np.unique(log.event_type[log.item_id != ""].astype(str)).tolist())
    return sorted(t for t, w in named.items() if w > 0 and t not in present)


@dataclass(frozen=True, slots=True)
class Interactions:
    """Item events of a log mapped to integer ids, with their training weight."""

    item_ids: list[str]  # index -> item id
    item_index: npt.NDArray[np.int32]  # per event
    session_index: npt.NDArray[np.int32]  # per event, sessions numbered in log order
    owner_index: npt.NDArray[np.int32]  # per event: the user when known, else the session
    n_owners: int
    weight: npt.NDArray[np.float32]  # per event, after type weight, dwell and decay
    timestamp: npt.NDArray[np.float64]
    category: npt.NDArray[np.object_]  # per event

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def owner_item_matrix(self) -> sp.csr_matrix:
        """Owners x items, summed weights (the matrix implicit's ALS/BPR train on)."""
        matrix = sp.csr_matrix(
            (self.weight, (self.owner_index, self.item_index)),
            shape=(self.n_owners, self.n_items),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        return matrix


def _nothing_to_train_on(log: EventLog, weights: Mapping[str, float]) -> str:
    with_item = log.event_type[log.item_id != ""]
    names, counts = np.unique(with_item.astype(str), return_counts=True)
    common = sorted(zip(names.tolist(), counts.tolist(), strict=True), key=lambda nc: (-nc[1], nc[0]))
    found = ", ".join(f"{n} ({c:,})" for n, c in common[:8])
    weighted = ",".join(f"{k}={v:g}" for k, v in weights.items() if v > 0)
    example = f" (e.g. --weights {common[0][0]}=1)" if common else ""
    return (
        "no item events with a positive weight in the event file: its event types with an item are "
        f"{found or 'none (every item_id is empty)'}; weighted types: {weighted or 'none'}. "
        f"Give them weights with --weights{example}"
    )


def build_interactions(
    log: EventLog,
    weights: Mapping[str, float] | None = None,
    half_life_days: float | None = 30.0,
    now: float | None = None,
) -> Interactions:
    """Keep item events whose type has a positive weight; weight = type x dwell x decay."""
    weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
    type_weight = np.asarray([weights.get(t, 0.0) for t in log.event_type], dtype=np.float64)
    keep = (type_weight > 0) & (log.item_id != "")
    rows = np.flatnonzero(keep)
    if rows.size == 0:
        raise ValueError(_nothing_to_train_on(log, weights))
    sub = log.take(rows)
    type_weight = type_weight[rows]
    dwell = np.where(np.isnan(sub.dwell_ms), DWELL_REFERENCE_MS, sub.dwell_ms)
    dwell_factor = np.clip(dwell / DWELL_REFERENCE_MS, *DWELL_CLIP)
    is_view = sub.event_type == "product_view"
    weight = type_weight * np.where(is_view, dwell_factor, 1.0)
    # Purchases of several units count more, with diminishing returns.
    weight *= np.where(sub.event_type == "purchase", 1.0 + np.log(np.maximum(sub.quantity, 1.0)), 1.0)
    if half_life_days and half_life_days > 0:
        reference = float(sub.timestamp.max()) if now is None else now
        age_days = np.maximum(reference - sub.timestamp, 0.0) / 86_400.0
        weight *= np.power(0.5, age_days / half_life_days)

    item_ids, item_index = np.unique(sub.item_id.astype(str), return_inverse=True)
    _, session_index = np.unique(sub.session_id.astype(str), return_inverse=True)
    owner_key = np.where(sub.user_id != "", "u:" + sub.user_id.astype(str), "s:" + sub.session_id.astype(str))
    owners, owner_index = np.unique(owner_key.astype(str), return_inverse=True)
    return Interactions(
        item_ids=[str(i) for i in item_ids.tolist()],
        item_index=item_index.astype(np.int32),
        session_index=session_index.astype(np.int32),
        owner_index=owner_index.astype(np.int32),
        n_owners=int(owners.shape[0]),
        weight=weight.astype(np.float32),
        timestamp=sub.timestamp,
        category=sub.category,
    )


def item_popularity(inter: Interactions) -> npt.NDArray[np.float32]:
    """Decayed, weighted popularity per item."""
    return np.bincount(inter.item_index, weights=inter.weight, minlength=inter.n_items).astype(np.float32)


def item_categories(inter: Interactions) -> tuple[list[str], npt.NDArray[np.int32]]:
    """Each item's most recent non-empty category -> (category names, index per item, -1 = unknown)."""
    known = np.flatnonzero(inter.category != "")
    per_item = np.full(inter.n_items, -1, dtype=np.int32)
    if known.size == 0:
        return [], per_item
    order = known[np.argsort(inter.timestamp[known], kind="stable")]
    names, codes = np.unique(inter.category[order].astype(str), return_inverse=True)
    per_item[inter.item_index[order]] = codes.astype(np.int32)  # last (most recent) write wins
    return [str(n) for n in names.tolist()], per_item
