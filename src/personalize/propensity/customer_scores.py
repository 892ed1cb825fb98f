"""Per-customer batch scores (repeat purchase, dormancy, shipping sensitivity) and their
write-out to Redis hashes ``Keys.scores(cid)``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from personalize.propensity.bgnbd import BgNbd
from personalize.propensity.event_log import EventLog
from personalize.propensity.histories import DAY, summarise
from personalize.propensity.shipping import ShippingModel
from personalize.store.keys import Keys

# Used when the event file has too few repeat buyers to fit BG/NBD: the CDNOW parameters
# (weeks) — another store's behaviour, so the CLI says so when it falls back.
CDNOW_PARAMETERS = BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)
MIN_REPEAT_BUYERS_TO_FIT = 30
CHUNK = 1_000
SCORE_FIELDS = (
    "p_buy_again",
    "expected_purchases",
    "churn_risk",
    "p_alive",
    "shipping_sensitivity",
    "shipping_paid_ratio",
    "shipping_evidence",
    "version",
    "scored_at",
)


@dataclass(frozen=True, slots=True)
class CustomerScore:
    customer_id: str
    shipping_sensitivity: float | None = None  # None: the file has no shipping_fee column
    shipping_paid_ratio: float | None = None
    shipping_evidence: int | None = None
    p_buy_again: float | None = None  # None: the customer never bought (nothing to extrapolate)
    expected_purchases: float | None = None
    churn_risk: float | None = None
    p_alive: float | None = None

    def fields(self, version: str, scored_at: float) -> dict[str, str]:
        out = {"version": version, "scored_at": f"{scored_at:.3f}"}
        for name in (
            "p_buy_again",
            "expected_purchases",
            "churn_risk",
            "p_alive",
            "shipping_sensitivity",
            "shipping_paid_ratio",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = f"{value:.6f}"
        if self.shipping_evidence is not None:
            out["shipping_evidence"] = str(self.shipping_evidence)
        return out


@dataclass(frozen=True, slots=True)
class ScoringResult:
    scores: tuple[CustomerScore, ...]
    bgnbd: BgNbd
    bgnbd_fitted: bool  # False: too few repeat buyers, CDNOW parameters used
    repeat_buyers: int
    shipping: ShippingModel | None  # None: the file has no shipping_fee column
    horizon_days: float


def score_customers(log: EventLog, horizon_days: float = 90.0) -> ScoringResult:
    """Score every customer of the log as of its last event.

    churn_risk = 1 - p_buy_again: the probability of no purchase within the horizon.
    """
    as_of = int(log.last_ts // DAY)
    histories = {cid: a.purchases() for cid, a in log.customers.items()}
    summaries = summarise({c: h for c, h in histories.items() if h}, calibration_end=as_of)
    x, t_x, T = summaries.bgnbd_inputs()
    repeat_buyers = int((x > 0).sum())
    fitted = repeat_buyers >= MIN_REPEAT_BUYERS_TO_FIT
    model = BgNbd.fit(x, t_x, T) if fitted else CDNOW_PARAMETERS
    horizon_w = horizon_days / 7.0
    p_again = model.p_buy_again(horizon_w, x, t_x, T) if x.size else np.zeros(0)
    expected = model.expected_purchases(horizon_w, x, t_x, T) if x.size else np.zeros(0)
    alive = model.p_alive(x, t_x, T) if x.size else np.zeros(0)
    repeat = {
        cid: (float(p_again[i]), float(expected[i]), float(alive[i]))
        for i, cid in enumerate(summaries.customers)
    }
    shipping_counts = {cid: a.shipping_counts() for cid, a in log.customers.items()}
    shipping = ShippingModel.fit(list(shipping_counts.values())) if log.has_shipping else None
    scores = []
    for cid in sorted(log.customers):
        ship = shipping.score(shipping_counts[cid]) if shipping is not None else None
        p, e, alive_p = repeat.get(cid, (None, None, None))
        scores.append(
            CustomerScore(
                customer_id=cid,
                shipping_sensitivity=ship.shipping_sensitivity if ship else None,
                shipping_paid_ratio=ship.shipping_paid_ratio if ship else None,
                shipping_evidence=ship.shipping_evidence if ship else None,
                p_buy_again=p,
                expected_purchases=e,
                churn_risk=None if p is None else 1.0 - p,
                p_alive=alive_p,
            )
        )
    return ScoringResult(tuple(scores), model, fitted, repeat_buyers, shipping, horizon_days)


def write_scores(
    client: Any,
    keys: Keys,
    scores: Iterable[CustomerScore],
    *,
    version: str,
    scored_at: float,
    chunk: int = CHUNK,
    on_chunk: Any = None,
) -> int:
    """HSET each customer's scores (sync redis client), pipelined ``chunk`` customers at a time.

    Score fields this run does not produce for a customer (e.g. p_buy_again when they never
    bought) are deleted after the HSET, so a hash never mixes two model versions and is never
    seen empty.
    """
    written = 0
    batch: list[CustomerScore] = []

    def flush(items: Sequence[CustomerScore]) -> None:
        pipe = client.pipeline(transaction=False)
        for s in items:
            key = keys.scores(s.customer_id)
            fields = s.fields(version, scored_at)
            pipe.hset(key, mapping=fields)
            stale = [f for f in SCORE_FIELDS if f not in fields]
            if stale:
                pipe.hdel(key, *stale)
        pipe.execute()
        if on_chunk is not None:
            on_chunk(len(items))

    for score in scores:
        batch.append(score)
        if len(batch) >= chunk:
            flush(batch)
            written += len(batch)
            batch = []
    if batch:
        flush(batch)
        written += len(batch)
    return written
