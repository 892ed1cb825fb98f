"""Reads of customer state: profile, cart, scores, session (one pipelined round trip)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis

from personalize.store.keys import Keys
from personalize.store.sessions import live_session, split_profile


def decode_hash(raw: Mapping[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


@dataclass(frozen=True, slots=True)
class CustomerState:
    profile: dict[str, str]
    cart: dict[str, str]
    scores: dict[str, str]
    alias: str | None


@dataclass(frozen=True, slots=True)
class SessionState:
    fields: dict[str, str]
    items: list[str]  # newest first
    expires_in_s: float  # seconds until the session ends (0 when it is over or unknown)


class ProfileStore:
    def __init__(self, client: aioredis.Redis, keys: Keys, session_ttl_s: int = 1800) -> None:
        self._client = client
        self._keys = keys
        self._session_ttl_s = session_ttl_s

    async def customer(self, cid: str) -> CustomerState:
        k = self._keys
        pipe = self._client.pipeline(transaction=False)
        pipe.hgetall(k.profile(cid))
        pipe.hgetall(k.cart(cid))
        pipe.hgetall(k.scores(cid))
        pipe.get(k.alias(cid))
        profile, cart, scores, alias = await pipe.execute()
        return CustomerState(
            profile=split_profile(decode_hash(profile))[0],  # the item history is not part of the view
            cart=decode_hash(cart),
            scores=decode_hash(scores),
            alias=alias.decode() if alias else None,
        )

    async def session(self, cid: str, session_id: str, now: float) -> SessionState:
        """The session as a sliding TTL would have left it: empty once it has ended."""
        k = self._keys
        raw: Mapping[bytes, bytes] = await self._client.hgetall(k.session(cid, session_id))  # type: ignore[assignment]
        fields, items, left = live_session(decode_hash(raw), now, self._session_ttl_s)
        return SessionState(fields=fields, items=items, expires_in_s=left)

    async def set_traits(self, cid: str, traits: Mapping[str, str], now: float) -> None:
        mapping: dict[str, str] = {}
        for name, value in traits.items():
            mapping[f"trait:{name}"] = value
            mapping[f"trait_ts:{name}"] = repr(now)
        pipe = self._client.pipeline(transaction=False)
        pipe.hset(self._keys.profile(cid), mapping=mapping)  # type: ignore[arg-type]
        pipe.hsetnx(self._keys.profile(cid), "first_ts", repr(now))
        await pipe.execute()

    async def delete_traits(self, cid: str, names: list[str]) -> None:
        if names:
            fields = [f"trait:{n}" for n in names] + [f"trait_ts:{n}" for n in names]
            await self._client.hdel(self._keys.profile(cid), *fields)
