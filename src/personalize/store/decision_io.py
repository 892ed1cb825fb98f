"""Redis I/O of a decision: one pipelined read of everything a decision needs, one write.

Read: profile, session (hash + recent items), history, purchased set, cart, shown-counters,
batch scores, contact-policy hash, alias, and, when asked, live popularity lists.
Write: the decision record (stream), shown-counters, the customer's latest decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from personalize.store.keys import Keys


def _hash(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


@dataclass(frozen=True, slots=True)
class DecisionInputs:
    profile: dict[str, str]
    session: dict[str, str]
    session_items: list[str]  # newest first
    history: list[str]  # newest first
    purchased: set[str]
    cart: dict[str, str]
    shown: dict[str, int]
    scores: dict[str, str]
    contacts: dict[str, str]
    alias: str | None
    popular: list[str]
    popular_in_category: list[str]


class DecisionStore:
    def __init__(self, client: aioredis.Redis, keys: Keys, history_items: int = 50, session_items: int = 20) -> None:
        self._client = client
        self._keys = keys
        self._history_items = history_items
        self._session_items = session_items

    async def read(
        self, cid: str, session_id: str | None, popular_n: int = 0, category: str | None = None
    ) -> DecisionInputs:
        """Everything for one decision in one round trip."""
        k = self._keys
        pipe = self._client.pipeline(transaction=False)
        pipe.hgetall(k.profile(cid))
        if session_id:
            pipe.hgetall(k.session(cid, session_id))
            pipe.lrange(k.session_items(cid, session_id), 0, self._session_items - 1)
        pipe.lrange(k.history(cid), 0, self._history_items - 1)
        pipe.smembers(k.purchased(cid))
        pipe.hgetall(k.cart(cid))
        pipe.hgetall(k.shown(cid))
        pipe.hgetall(k.scores(cid))
        pipe.hgetall(k.contacts(cid))
        pipe.get(k.alias(cid))
        if popular_n:
            pipe.zrevrange(k.popularity, 0, popular_n - 1)
            if category:
                pipe.zrevrange(k.popularity_in(category), 0, popular_n - 1)
        replies = list(await pipe.execute())
        profile = replies.pop(0)
        session, items = (replies.pop(0), replies.pop(0)) if session_id else ({}, [])
        history, purchased, cart, shown, scores, contacts, alias = (replies.pop(0) for _ in range(7))
        popular = replies.pop(0) if popular_n else []
        popular_cat = replies.pop(0) if popular_n and category else []
        return DecisionInputs(
            profile=_hash(profile),
            session=_hash(session),
            session_items=[x.decode() for x in items],
            history=[x.decode() for x in history],
            purchased={x.decode() for x in purchased},
            cart=_hash(cart),
            shown={kk.decode(): int(v) for kk, v in shown.items()},
            scores=_hash(scores),
            contacts=_hash(contacts),
            alias=alias.decode() if alias else None,
            popular=[x.decode() for x in popular],
            popular_in_category=[x.decode() for x in popular_cat],
        )

    def write_pipeline(
        self,
        cid: str,
        decision_id: str,
        record_json: bytes | None,
        shown_items: Sequence[str],
        now: float,
        stream_maxlen: int,
        shown_ttl_s: int = 7 * 86_400,
    ) -> aioredis.client.Pipeline:
        """The decision's writes, as a pipeline the caller may extend and run.

        ``record_json`` None: the caller appends the record itself (with the offer reservation).
        """
        k = self._keys
        pipe = self._client.pipeline(transaction=False)
        if record_json is not None:
            pipe.xadd(k.decision_stream, {"d": record_json}, maxlen=stream_maxlen, approximate=True)
        for item in shown_items:
            pipe.hincrby(k.shown(cid), item, 1)
        if shown_items:
            pipe.expire(k.shown(cid), shown_ttl_s)
        pipe.hset(k.last_decision(cid), mapping={"id": decision_id, "ts": repr(now)})
        return pipe
